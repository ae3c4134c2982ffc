"""tock-hardware-ci board module: our kernel on a real nRF52840-DK.

What a lab host (upstream's: a Raspberry Pi with the DK on USB) runs:

    python3 hwci/core/main.py --board <repo>/tools/hwci/boards/nrf52840dk.py \\
        --test <repo>/tools/hwci/tests/kv_power_loss.py

* erase_board: OpenOCD over the DK's J-Link, `nrf52_recover` (a mass
  erase of the internal flash: kernel, apps, and the key-value store,
  which this module builds into internal flash: `nvmc-store`);
* flash_kernel: `make -C boards/nrf52840dk flash OPENOCD=1
  FEATURES=nvmc-store` (tockloader writes the kernel at 0);
* flash_app: `tockloader install --board nrf52dk --openocd TAB`: a
  libtock-rs `nrf52840` fixture, or one of our apps of the DK's slot
  table (`userland/layout-nrf52840dk.toml`; its TAB from `make userland`
  carries the DK's TBF beside qemu_ast1030's, and tockloader installs the
  one whose RAM is the board's, read from our kernel's attributes);
* reset: OpenOCD `reset` (a mid-write reset for the power-loss test);
* serial: the J-Link's virtual serial port at 115200, through the
  harness's own `SerialPort`.

With HWCI_DRY_RUN=1 nothing runs: every command is printed and recorded
in `board.commands` and the console is a stand-in that sees nothing
(`tools/hwci/selftest.py` checks the command lines that way).
"""

import logging
import os
import subprocess
import sys
import tomllib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from apps import ROOT, resolve_tab  # noqa: E402
from core.board_harness import BoardHarness  # noqa: E402

OPENOCD_PREFIX = "adapter driver jlink; transport select swd; source [find target/nrf52.cfg]; init; "
LAYOUT = os.path.join(ROOT, "userland", "layout-nrf52840dk.toml")


def dk_apps():
    """Our apps linked for the DK: the slots of its table."""
    with open(LAYOUT, "rb") as f:
        return [slot["name"] for slot in tomllib.load(f).get("app", [])]


class DryConsole:
    """The console of a dry run: nothing ever arrives."""

    def expect(self, pattern, timeout=10, timeout_error=True):
        logging.info("dry run: would wait for %r", pattern)
        return None

    def flush_buffer(self):
        pass

    def write(self, data):
        logging.info("dry run: would send %r", data)

    def close(self):
        pass


class Nrf52840dk(BoardHarness):
    def __init__(self):
        super().__init__()
        self.arch = "cortex-m4"
        self.kernel_board_path = os.path.join(ROOT, "boards", "nrf52840dk")
        self.dry_run = os.environ.get("HWCI_DRY_RUN") == "1"
        self.commands = []
        self.gpio = None
        self.uart_port = None if self.dry_run else self.get_uart_port()
        self.serial = DryConsole() if self.dry_run else self.get_serial_port()

    def run(self, cmd, cwd=None):
        self.commands.append(cmd)
        logging.info("%s%s", "dry run: " if self.dry_run else "running: ", " ".join(cmd))
        if not self.dry_run:
            subprocess.run(cmd, cwd=cwd, check=True)

    def get_uart_port(self):
        """The J-Link's virtual serial port (HWCI_SERIAL overrides)."""
        if os.environ.get("HWCI_SERIAL"):
            return os.environ["HWCI_SERIAL"]
        import serial.tools.list_ports

        ports = list(serial.tools.list_ports.comports())
        for port in ports:
            if "J-Link" in (port.description or ""):
                return port.device
        raise Exception(f"no J-Link serial port among {[p.device for p in ports]} (set HWCI_SERIAL)")

    def get_uart_baudrate(self):
        return 115200

    def get_serial_port(self):
        from utils.serial_port import SerialPort

        return SerialPort(self.uart_port, self.get_uart_baudrate())

    def erase_board(self):
        self.run(["openocd", "-c", OPENOCD_PREFIX + "nrf52_recover; exit"])

    def flash_kernel(self):
        self.run(["make", "-C", self.kernel_board_path, "flash", "OPENOCD=1", "FEATURES=nvmc-store"])

    def flash_app(self, app):
        name = app.get("name", "") if isinstance(app, dict) else app
        kind, _, short = name.rpartition("/")
        if kind == "ours":
            if short not in dk_apps():
                raise ValueError(
                    f"{name}: not in the DK's slot table (userland/layout-nrf52840dk.toml has {dk_apps()}); "
                    "our apps run only where a table links them"
                )
            tab = os.path.join(ROOT, "target", "userland", "tabs", short + ".tab")
            if not self.dry_run and not os.path.isfile(tab):
                raise FileNotFoundError(f"{tab} is not built (run `make userland` in the repository)")
        else:
            tab = resolve_tab(app, "nrf52840")
        self.run(["tockloader", "install", "--board", "nrf52dk", "--openocd", tab])

    def reset(self):
        self.run(["openocd", "-c", OPENOCD_PREFIX + "reset; exit"])

    def cleanup(self):
        if self.serial:
            self.serial.close()


board = Nrf52840dk()
