#!/usr/bin/env python3
"""Runs every test module of tools/hwci/tests (and upstream's own
`c_hello` where its libtock-c app exists) on every QEMU board module of
tools/hwci/boards, through upstream's tock-hardware-ci harness, unmodified:

    python3 <fixtures>/tock-hardware-ci/hwci/core/main.py \\
        --board tools/hwci/boards/<board>.py --test <test>.py

Logs in target/hwci/<board>/<test>.log. First, the nRF52840-DK board
module's dry run (selftest.py) checks the command lines a lab would run. A test whose fixtures are absent
is reported SKIP with the reason, never as a pass; so is everything when
the harness itself is absent. Exit status 1 if any test failed.

    python3 tools/hwci/run.py [--board B]... [TEST]...
"""

import argparse
import ast
import concurrent.futures
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

QEMU_BOARDS = ["qemu_rv32_virt", "qemu_ast1030"]


def fixtures():
    return os.environ.get("TOCK_FIXTURES") or os.path.join(ROOT, "..", "shared", "fixtures")


def needs(test_path):
    """The fixture families a test module declares in NEEDS (default: none)."""
    with open(test_path) as f:
        for line in f:
            if line.startswith("NEEDS = "):
                return ast.literal_eval(line.split("=", 1)[1].strip())
    return []


def tests_for(board, names):
    found = []
    for name in sorted(os.listdir(os.path.join(HERE, "tests"))):
        if name.endswith(".py"):
            found.append((name[:-3], os.path.join(HERE, "tests", name)))
    upstream = os.path.join(fixtures(), "tock-hardware-ci", "hwci", "tests", "c_hello.py")
    found.append(("upstream-c_hello", upstream))
    if names:
        found = [t for t in found if t[0] in names]
    return found


def run_one(board, name, path):
    harness = os.path.join(fixtures(), "tock-hardware-ci", "hwci", "core", "main.py")
    if not os.path.isfile(harness):
        return ("SKIP", f"the harness is absent: {harness} (set TOCK_FIXTURES)")
    wants = ["libtock-c"] if name.startswith("upstream-") else needs(path)
    for family in wants:
        folder = os.path.join(fixtures(), family, board)
        if not os.path.isdir(folder):
            return ("SKIP", f"fixtures folder {folder} is absent")
    log = os.path.join(ROOT, "target", "hwci", board, name + ".log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    board_module = os.path.join(HERE, "boards", board + ".py")
    with open(log, "w") as out:
        done = subprocess.run(
            [sys.executable, harness, "--board", board_module, "--test", path],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            timeout=600,
        )
    if done.returncode == 0:
        return ("ok", "")
    return ("FAIL", f"see {os.path.relpath(log, ROOT)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--board", action="append", help="a QEMU board (default: all)")
    parser.add_argument("names", nargs="*", help="test modules to run (default: all)")
    args = parser.parse_args()
    boards = args.board or QEMU_BOARDS

    # The qemu-runner the board modules call, built once.
    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "qemu-runner"], cwd=ROOT, check=True)
    os.environ["HWCI_QEMU_RUNNER"] = os.path.join(ROOT, "target", "release", "qemu-runner")
    # Everything the modules flash, built before the boards run in parallel.
    for board in boards:
        subprocess.run([os.environ["HWCI_QEMU_RUNNER"], "--board", board, "build"], cwd=ROOT, check=True)

    def board_run(board):
        return [(board, name, *run_one(board, name, path)) for name, path in tests_for(board, args.names)]

    results = []
    # The nRF52840-DK module, in its dry-run mode: its command lines.
    selftest = subprocess.run([sys.executable, os.path.join(HERE, "selftest.py")], capture_output=True, text=True, cwd=ROOT)
    line = (selftest.stdout.strip().splitlines() or [""])[-1]
    verdict = {0: "ok", 77: "SKIP"}.get(selftest.returncode, "FAIL")
    if verdict == "FAIL":
        line = (selftest.stdout + selftest.stderr).strip().replace("\n", "\n     ")
    results.append(("nrf52840dk", "dry-run (selftest.py)", verdict, line if verdict != "ok" else ""))
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(boards)) as pool:
        for rows in pool.map(board_run, boards):
            results.extend(rows)
    failed = 0
    counts = {"ok": 0, "FAIL": 0, "SKIP": 0}
    for board, name, verdict, why in results:
        counts[verdict] += 1
        failed += verdict == "FAIL"
        print(f"{verdict:<4} {board:<15} {name:<28} {why}".rstrip())
    print(f"hwci: {len(results)} runs, {counts['ok']} ok, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
