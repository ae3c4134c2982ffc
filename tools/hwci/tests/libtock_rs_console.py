"""libtock-rs's unmodified `console` example prints its line."""

from utils.test_helpers import WaitForConsoleMessageTest

NEEDS = ["libtock-rs"]

test = WaitForConsoleMessageTest(["libtock-rs/console"], "Hello world!")
