"""Persistence across a reset: our kv_demo counts its boots in the store
and keeps a greeting and a message there; after the board is reset, the
next boot counts on from the last one and reads back what it left (on a
fresh store: boot 1, then boot 2; a lab board's store may hold more)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lines import expect_lines, expect_match  # noqa: E402
from utils.test_helpers import OneshotTest  # noqa: E402

NEEDS = []


class Persistence(OneshotTest):
    def oneshot_test(self, board):
        first = int(expect_match(board, r"kv_demo: boot (\d+)\r?\n").group(1))
        expect_lines(board, ["kv_demo: done"])
        board.reset()
        expect_lines(
            board,
            [
                f"kv_demo: boot {first + 1}",
                'kv_demo: greeting = "hello from boot 1"',
                f'kv_demo: last message = "written by boot {first}", now "written by boot {first + 1}"',
                "kv_demo: done",
            ],
        )


test = Persistence(["ours/kv_demo"])
