"""libtock-rs's unmodified `low_level_debug` example: both lines, in order."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lines import expect_lines  # noqa: E402
from utils.test_helpers import OneshotTest  # noqa: E402

NEEDS = ["libtock-rs"]


class LowLevelDebug(OneshotTest):
    def oneshot_test(self, board):
        expect_lines(
            board,
            [
                "LowLevelDebug: App low_level_debug prints 0x1",
                "LowLevelDebug: App low_level_debug prints 0x2 0x3",
            ],
        )


test = LowLevelDebug(["libtock-rs/low_level_debug"])
