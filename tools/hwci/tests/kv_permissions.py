"""Storage permissions with two apps: kv_perm_owner (write id 101) stores
items; kv_perm_reader (no write id, reads 101) reads them and is refused
every modification. Each app's own checks must all pass."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lines import expect_match  # noqa: E402
from utils.test_helpers import OneshotTest  # noqa: E402

NEEDS = []


class Permissions(OneshotTest):
    def oneshot_test(self, board):
        for app in ("kv_perm_owner", "kv_perm_reader"):
            m = expect_match(board, app + r": (\d+) checks of (\d+), (\d+) failed", timeout=20)
            ran, declared, failed = (int(g) for g in m.groups())
            if ran != declared or declared == 0 or failed != 0:
                raise Exception(f"{app}: {ran} checks of {declared}, {failed} failed")


test = Permissions(["ours/kv_perm_owner", "ours/kv_perm_reader"])
