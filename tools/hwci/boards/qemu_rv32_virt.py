"""tock-hardware-ci board module: our kernel on qemu-system-riscv32 -M virt."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from qemu_board import QemuBoard  # noqa: E402

board = QemuBoard("qemu_rv32_virt", "rv32imac")
