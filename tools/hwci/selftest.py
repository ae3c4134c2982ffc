#!/usr/bin/env python3
"""The nRF52840-DK board module in its dry-run mode: the exact command
lines a lab would run for one OneshotTest (erase, kernel, libtock-rs's
`kv`, our own apps of every test module, a reset), checked without a
board; and an app of ours that the DK's slot table does not link refused.
Run by tools/hwci/run.py (make hwci). Needs the harness (for
`core.board_harness`); exit status 77 with the reason when it is
absent."""

import importlib.util
import os
import re
import sys
import tarfile
import tomllib

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
    # Our apps, as our test modules name them (kv_persistence,
    # kv_permissions, kv_power_loss): each must be in the DK's table.
    ours = []
    for test in ("kv_persistence", "kv_permissions", "kv_power_loss"):
        text = open(os.path.join(HERE, "tests", test + ".py")).read()
        ours += re.findall(r'"ours/(\w+)"', text)
    if not ours:
        print("no `ours/` app found in our test modules")
        return 1
    for app in ours:
        board.flash_app("ours/" + app)
    try:
        board.flash_app("ours/abi_test")
        print("ours/abi_test installed on the DK although its slot table does not link it")
        return 1
    except ValueError:
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
    tabs = os.path.join(ROOT, "target", "userland", "tabs")
    for app in ours:
        want.append(["tockloader", "install", "--board", "nrf52dk", "--openocd", os.path.join(tabs, app + ".tab")])
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
    # Where they are built (make userland), the TABs hold a TBF linked
    # for the DK's process RAM (`cortex-m4.<flash>.<ram>.tbf`).
    with open(os.path.join(ROOT, "boards", "nrf52840dk", "board.toml"), "rb") as f:
        ram = tomllib.load(f)["app_ram"]
    for app in ours:
        tab = os.path.join(tabs, app + ".tab")
        if os.path.isfile(tab):
            with tarfile.open(tab) as t:
                names = t.getnames()
            parts = [n.split(".") for n in names if n.startswith("cortex-m4.")]
            rams = [int(p[2], 16) for p in parts if len(p) == 4]
            if not any(ram["start"] <= r < ram["start"] + ram["size"] for r in rams):
                print(f"{tab} has no TBF linked for the DK's process RAM (it has {names})")
                return 1
    print(f"nrf52840dk dry run: {len(want)} commands as expected"
          + ("" if have_kv else " (the libtock-rs nrf52840 fixtures are absent: kv.tab not installed)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
