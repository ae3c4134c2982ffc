//! Errors the tool reports, each with a machine-readable kind and an exit
//! status.

use std::fmt;

/// Exit status: the command succeeded.
pub const EXIT_OK: i32 = 0;
/// Exit status: the command failed (message on standard error).
pub const EXIT_ERROR: i32 = 1;
/// Exit status: the command line is invalid.
pub const EXIT_USAGE: i32 = 2;
/// Exit status: `fsck` found damage.
pub const EXIT_DAMAGED: i32 = 3;
/// Exit status: the key has no value (`get`, `delete`).
pub const EXIT_NOT_FOUND: i32 = 4;

/// A failed command.
#[derive(Debug, Clone)]
pub struct CliError {
    /// Short machine-readable name (`not_found`, `v1_store`, ...), shown in
    /// the JSON output.
    pub kind: &'static str,
    /// What went wrong and, where possible, what to do about it.
    pub message: String,
}

impl CliError {
    /// An error of `kind`.
    pub fn new(kind: &'static str, message: impl Into<String>) -> CliError {
        CliError {
            kind,
            message: message.into(),
        }
    }

    /// An invalid command line.
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::new("usage", message)
    }

    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            "usage" => EXIT_USAGE,
            "not_found" => EXIT_NOT_FOUND,
            _ => EXIT_ERROR,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
