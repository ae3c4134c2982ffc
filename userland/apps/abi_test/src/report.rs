//! Counting and printing check results.

use core::fmt::Display;

use tockrt::println;

/// The results so far.
pub struct Report {
    checks: u32,
    failed: u32,
}

impl Report {
    /// No checks yet.
    pub fn new() -> Report {
        Report {
            checks: 0,
            failed: 0,
        }
    }

    /// Checks run.
    pub fn checks(&self) -> u32 {
        self.checks
    }

    /// Checks failed.
    pub fn failed(&self) -> u32 {
        self.failed
    }

    /// `got` must equal `want`.
    pub fn eq<T: PartialEq + Display>(&mut self, name: &str, got: T, want: T) {
        if got == want {
            self.pass(name);
        } else {
            self.fail(name, &got, &want);
        }
    }

    /// `ok` must hold; `got` and `want` describe the values for the report.
    pub fn that(&mut self, name: &str, ok: bool, got: impl Display, want: impl Display) {
        if ok {
            self.pass(name);
        } else {
            self.fail(name, &got, &want);
        }
    }

    fn pass(&mut self, name: &str) {
        self.checks += 1;
        println!("ok {name}");
    }

    fn fail(&mut self, name: &str, got: &dyn Display, want: &dyn Display) {
        self.checks += 1;
        self.failed += 1;
        println!("FAIL {name}: got {got}, want {want}");
    }
}

/// Three upcall arguments, printed in hex.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Args(pub u32, pub u32, pub u32);

impl Display for Args {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "({:#x}, {:#x}, {:#x})", self.0, self.1, self.2)
    }
}

/// A number printed in hex.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Hex(pub u32);

impl Display for Hex {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}
