"""Power loss in the middle of writes: our kv_writer updates 8 keys in
turn and prints `ack <seq>` after each write the kernel confirmed. The
board is reset (QEMU: the machine stopped and killed; hardware: a reset)
while it writes, three times. After each cut every acknowledged write
must be there and nothing else may have changed: each key holds exactly
the latest sequence number of its own that is not beyond the highest
found, and the writer resumes after every ack seen."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lines import expect_match  # noqa: E402
from utils.test_helpers import OneshotTest  # noqa: E402

NEEDS = []
CUTS = 3


class PowerLoss(OneshotTest):
    def oneshot_test(self, board):
        last_ack = 0
        for cut in range(CUTS + 1):
            m = expect_match(board, r"writer: resuming at seq (\d+)\r?\n", timeout=30)
            resumed = int(m.group(1))
            report = board.serial.child.before.decode("utf-8", errors="replace")
            keys = re.findall(r"writer: key (\d+) (seq (\d+)|missing|.*)", report)
            if not keys:
                raise Exception("the writer reported no keys")
            if resumed <= last_ack:
                raise Exception(f"cut {cut}: ack {last_ack} was seen, the store resumes at {resumed}")
            top = resumed - 1
            k = len(keys)
            for i, what, seq in keys:
                i = int(i)
                want = top - ((top - i) % k) if top >= i else None
                if want is not None and want < 1:
                    want = None
                got = int(seq) if seq else None
                if what != "missing" and got is None:
                    raise Exception(f"cut {cut}: key {i}: {what}")
                if got != want:
                    raise Exception(f"cut {cut}: key {i} holds seq {got}, want {want} (highest {top})")
            if cut == CUTS:
                break
            # Let some writes through, then cut in the middle of the next.
            target = resumed + 5 + 7 * cut
            expect_match(board, rf"ack {target}\r?\n", timeout=30)
            last_ack = target
            board.reset()


test = PowerLoss(["ours/kv_writer"])
