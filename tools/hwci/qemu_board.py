"""A QEMU board for upstream's tock-hardware-ci harness.

The harness (hwci/core/main.py, unmodified) drives a `BoardHarness`: it
erases the board, flashes the kernel, flashes each app, then reads the
console through `board.serial`. `QemuBoard` does the same to files:

* erase_board: a fresh blank store image (the board's whole store) and
  no flash file: the app area is empty again;
* flash_kernel: our kernel (built if needed) written to a new flash file
  (`qemu-runner hwci kernel`);
* flash_app: `tockloader install --flash-file` of a TAB into that file
  (`qemu-runner hwci install`): ours, or an unmodified fixture;
* serial: QEMU's console through pexpect; QEMU starts at the first read;
* reset: the machine is stopped (QMP `stop`, so every store write it made
  is on the image: a power cut at that instant) and killed; the next read
  boots the same flash file on the same store.

Every step that builds or installs runs the repository's qemu-runner, so
the command lines are the ones `make test` checks elsewhere.
"""

import json
import logging
import os
import socket
import subprocess
import time

import pexpect

from core.board_harness import BoardHarness

from apps import ROOT, resolve_tab

def runner(board, *args, capture=False):
    """Runs `qemu-runner --board BOARD ARGS` (built once by run.py)."""
    exe = os.environ.get("HWCI_QEMU_RUNNER") or os.path.join(ROOT, "target", "release", "qemu-runner")
    cmd = [exe, "--board", board, *args]
    logging.info("running %s", " ".join(cmd))
    done = subprocess.run(cmd, check=True, text=True, stdout=subprocess.PIPE if capture else None)
    return done.stdout if capture else None


class QemuConsole:
    """`board.serial`: the pexpect-like console the harness reads."""

    def __init__(self, board):
        self.board = board
        self.child = None

    def _running(self):
        if self.child is None or not self.child.isalive():
            self.child = self.board.boot()
        return self.child

    def expect(self, pattern, timeout=10, timeout_error=True):
        child = self._running()
        try:
            child.expect(pattern, timeout=timeout)
            return child.after
        except (pexpect.TIMEOUT, pexpect.EOF) as e:
            if timeout_error:
                seen = (child.before or b"").decode("utf-8", errors="replace")
                logging.error("no %r on the console (%s); seen:\n%s", pattern, type(e).__name__, seen)
            return None

    def flush_buffer(self):
        """Drops what the console printed so far (nothing before a boot)."""
        if self.child is None or not self.child.isalive():
            return
        try:
            while self.child.read_nonblocking(size=4096, timeout=0.2):
                pass
        except (pexpect.TIMEOUT, pexpect.EOF):
            pass

    def write(self, data):
        self._running().send(data)

    def close(self):
        self.board.power_off()


class QemuBoard(BoardHarness):
    """One of our QEMU boards (boards/<name>/board.toml with a [qemu] table)."""

    def __init__(self, name, arch):
        super().__init__()
        self.name = name
        self.arch = arch
        self.kernel_board_path = os.path.join(ROOT, "boards", name)
        self.work = os.path.join(ROOT, "target", "hwci", name)
        os.makedirs(self.work, exist_ok=True)
        self.flash = os.path.join(self.work, "flash.bin")
        self.store = os.path.join(self.work, "store.img")
        self.qmp = os.path.join(self.work, "qmp.sock")
        self.console_log = os.path.join(self.work, "console.log")
        self.serial = QemuConsole(self)
        self.gpio = None
        self.qemu = None
        self.boots = 0

    # --- what a lab does to a board -------------------------------------

    def erase_board(self):
        self.power_off()
        runner(self.name, "hwci", "erase", self.store)
        open(self.console_log, "wb").close()
        if os.path.exists(self.flash):
            os.remove(self.flash)

    def flash_kernel(self):
        self.power_off()
        runner(self.name, "hwci", "kernel", "--out", self.flash)

    def flash_app(self, app):
        self.power_off()
        runner(self.name, "hwci", "install", self.flash, self.tab(app))

    def reset(self):
        """A power cycle: the next console read boots again on the same store."""
        self.power_off()

    def cleanup(self):
        self.power_off()

    def get_uart_port(self):
        return "QEMU -serial stdio"

    def get_uart_baudrate(self):
        return 115200

    def tab(self, app):
        """The TAB of `app` (see `apps.resolve_tab`); this board's fixtures
        are built for its own name."""
        return resolve_tab(app, self.name)

    # --- QEMU -------------------------------------------------------------

    def boot(self):
        if not os.path.exists(self.flash):
            raise RuntimeError("nothing flashed: flash_kernel() first")
        if os.path.exists(self.qmp):
            os.remove(self.qmp)
        cmd = runner(self.name, "hwci", "command", self.flash, self.store, "--qmp", self.qmp, capture=True)
        argv = cmd.splitlines()
        self.boots += 1
        logging.info("boot %d of %s: %s", self.boots, self.name, " ".join(argv))
        log = open(self.console_log, "ab")
        self.qemu = pexpect.spawn(argv[0], argv[1:], timeout=30)
        self.qemu.logfile_read = log
        return self.qemu

    def power_off(self):
        """Stops the machine (QMP `stop`: the store image then holds every
        write the machine made), then kills QEMU."""
        child, self.qemu = self.qemu, None
        self.serial.child = None
        if child is None or not child.isalive():
            return
        stopped = False
        for _ in range(50):
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(2)
                    s.connect(self.qmp)
                    f = s.makefile("rw")
                    f.readline()  # greeting
                    for command in ("qmp_capabilities", "stop"):
                        f.write(json.dumps({"execute": command}) + "\n")
                        f.flush()
                        while True:
                            reply = json.loads(f.readline())
                            if "return" in reply or "error" in reply:
                                break
                    stopped = True
                break
            except (OSError, ValueError):
                time.sleep(0.05)
        if not stopped:
            logging.warning("QMP stop failed; killing QEMU anyway")
        child.terminate(force=True)
        child.close()
