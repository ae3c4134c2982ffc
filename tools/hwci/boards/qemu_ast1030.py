"""tock-hardware-ci board module: our kernel on qemu-system-arm -M ast1030-evb."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from qemu_board import QemuBoard  # noqa: E402

board = QemuBoard("qemu_ast1030", "cortex-m4")
