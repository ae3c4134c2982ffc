//! [`Quoted`]: prints a string from an untrusted source (a process name
//! from its TBF header) in quotes, with everything but printable ASCII
//! escaped, so it cannot move the cursor or fake console lines.
//!
//! It replaces `{:?}` for such strings: `str`'s `Debug` pulls in Unicode
//! tables and the general escaper, about 3 KB of kernel ROM, for the same
//! protection.

use core::fmt::{self, Write};

/// Displays the string in double quotes; bytes outside printable ASCII,
/// and `"` and `\`, become `\xNN` escapes of their UTF-8 bytes.
///
/// ```
/// use kernel::utilities::Quoted;
/// assert_eq!(format!("{}", Quoted("kv-app")), "\"kv-app\"");
/// assert_eq!(format!("{}", Quoted("a\"b\n\u{e9}")), "\"a\\x22b\\x0a\\xc3\\xa9\"");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        // Byte by byte: no string slicing, whose failure path would pull
        // the Unicode escaper back in.
        for &b in self.0.as_bytes() {
            if (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\' {
                f.write_char(char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_str("\"")
    }
}
