"""Helpers for our test modules (the harness's own helpers do the rest)."""

import re


def expect_lines(board, lines, timeout=10):
    """Each of `lines`, in order, as a whole console line."""
    for line in lines:
        if board.serial.expect(re.escape(line) + r"\r?\n", timeout=timeout) is None:
            raise Exception(f"missing console line {line!r}")


def expect_match(board, pattern, timeout=10):
    """The first match of `pattern` (a regex with groups) on the console."""
    if board.serial.expect(pattern, timeout=timeout) is None:
        raise Exception(f"nothing matching {pattern!r} on the console")
    return re.search(pattern.encode(), board.serial.child.after)
