"""libtock-rs's unmodified `kv` example, with its exact lines: it finds
the key-value driver (0x50003), misses, sets, reads back and deletes its
key through the whole KV stack on the board's flash."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lines import expect_lines  # noqa: E402
from utils.test_helpers import OneshotTest  # noqa: E402

NEEDS = ["libtock-rs"]


class Kv(OneshotTest):
    def oneshot_test(self, board):
        expect_lines(
            board,
            [
                "KV available!",
                "error KV::get()",
                "Successfully set the key-value",
                "Got value len: 11",
                "Value: kv test app",
                "Successfully deleted the key-value",
                "error KV::get()",
            ],
        )


test = Kv(["libtock-rs/kv"])
