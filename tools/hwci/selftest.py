#!/usr/bin/env python3
"""The nRF52840-DK board module in its dry-run mode: the exact command
lines a lab would run for one OneshotTest (erase, kernel, libtock-rs's
`kv`, a reset), checked without a board; and our own apps refused (none is
linked for the DK's layout yet). Run by tools/hwci/run.py (make hwci).
Needs the harness (for `core.board_harness`); exit status 77 with the
reason when it is absent."""

import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from apps import ROOT, fixtures_dir  # noqa: E402


def main():
    harness = os.path.join(fixtures_dir(), "tock-hardware-ci", "hwci")
    if not os.path.isdir(os.path.join(harness, "core")):
        print(f"the harness is absent: {harness}")
        return 77
    sys.path.append(harness)
    os.environ["HWCI_DRY_RUN"] = "1"
    spec = importlib.util.spec_from_file_location("nrf", os.path.join(HERE, "boards", "nrf52840dk.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    board = module.board

    board.erase_board()
    board.flash_kernel()
    kv = os.path.join(fixtures_dir(), "libtock-rs", "nrf52840", "kv.tab")
    have_kv = os.path.isfile(kv)
    if have_kv:
        board.flash_app("libtock-rs/kv")
    try:
        board.flash_app("ours/kv_writer")
        print("our apps installed on the DK although none is linked for its layout")
        return 1
    except NotImplementedError:
        pass
    board.reset()
    assert board.serial.expect("anything", timeout=0) is None, "a dry run sees no console"

    jlink = "adapter driver jlink; transport select swd; source [find target/nrf52.cfg]; init; "
    want = [
        ["openocd", "-c", jlink + "nrf52_recover; exit"],
        ["make", "-C", os.path.join(ROOT, "boards", "nrf52840dk"), "flash", "OPENOCD=1", "FEATURES=nvmc-store"],
    ]
    if have_kv:
        want.append(["tockloader", "install", "--board", "nrf52dk", "--openocd", kv])
    want.append(["openocd", "-c", jlink + "reset; exit"])
    if board.commands != want:
        for got, w in zip(board.commands + [None] * len(want), want + [None] * len(board.commands)):
            print(("   " if got == w else "!! ") + f"{got}\n   want {w}")
        return 1
    # The make target the module relies on exists, with those variables.
    makefile = open(os.path.join(ROOT, "boards", "nrf52840dk", "Makefile")).read()
    for needle in ("flash:", "OPENOCD", "FEATURES", "tockloader flash --board $(TOCKLOADER_BOARD)"):
        if needle not in makefile:
            print(f"boards/nrf52840dk/Makefile lacks {needle!r}")
            return 1
    print(f"nrf52840dk dry run: {len(want)} commands as expected"
          + ("" if have_kv else " (the libtock-rs nrf52840 fixtures are absent: kv.tab not installed)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
