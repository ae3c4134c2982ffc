"""Where the TAB of an app named in a test module is."""

import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def fixtures_dir():
    """The third-party fixtures (TOCK_FIXTURES, else ../shared/fixtures)."""
    return os.environ.get("TOCK_FIXTURES") or os.path.join(ROOT, "..", "shared", "fixtures")


def resolve_tab(app, platform):
    """The TAB of `app`: a path; `ours/NAME` (target/userland/tabs, one
    TAB for every board); `libtock-rs/NAME` or `libtock-c/NAME` (the
    fixtures built for `platform`); or a bare name, as upstream's test
    modules give (libtock-c's examples, then ours)."""
    if isinstance(app, dict):
        app = app.get("name", "")
    if app.endswith(".tab"):
        return app
    ours = os.path.join(ROOT, "target", "userland", "tabs")
    kind, _, name = app.rpartition("/")
    if kind == "ours":
        candidates = [os.path.join(ours, name + ".tab")]
    elif kind in ("libtock-rs", "libtock-c"):
        candidates = [os.path.join(fixtures_dir(), kind, platform, name + ".tab")]
    else:
        candidates = [
            os.path.join(fixtures_dir(), "libtock-c", platform, name + ".tab"),
            os.path.join(ours, name + ".tab"),
        ]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"no TAB for app {app!r} on {platform} (looked at {candidates})")
