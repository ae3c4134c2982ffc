"""Persistence across a reset: our kv_demo stores a greeting and a message
on its first boot; after the board is reset it reads both back."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lines import expect_lines  # noqa: E402
from utils.test_helpers import OneshotTest  # noqa: E402

NEEDS = []


class Persistence(OneshotTest):
    def oneshot_test(self, board):
        expect_lines(
            board,
            [
                "kv_demo: boot 1",
                'kv_demo: greeting = "hello from boot 1" (stored now)',
                'kv_demo: last message = (none), now "written by boot 1"',
                "kv_demo: done",
            ],
        )
        board.reset()
        expect_lines(
            board,
            [
                "kv_demo: boot 2",
                'kv_demo: greeting = "hello from boot 1"',
                'kv_demo: last message = "written by boot 1", now "written by boot 2"',
                "kv_demo: done",
            ],
        )


test = Persistence(["ours/kv_demo"])
