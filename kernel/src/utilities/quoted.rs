//! Printing strings from untrusted sources (a process's package name, read
//! from its TBF header) so that they cannot move the cursor, clear the
//! screen or fake console lines: [`Escaped`] and [`Quoted`].
//!
//! They replace `{:?}` for such strings: `str`'s `Debug` pulls in Unicode
//! tables and the general escaper, about 6 KB of kernel ROM, for the same
//! protection.

use core::fmt::{self, Write};

/// Displays the string with every byte outside printable ASCII, and the
/// quote characters `"` and `'` and the backslash, as a `\xNN` escape of
/// its UTF-8 bytes.
///
/// ```
/// use kernel::utilities::Escaped;
/// assert_eq!(format!("{}", Escaped("kv-app")), "kv-app");
/// assert_eq!(format!("{}", Escaped("a'b\u{1b}[2J")), "a\\x27b\\x1b[2J");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Byte by byte: no string slicing, whose failure path would pull
        // the Unicode escaper back in.
        for &b in self.0.as_bytes() {
            if (b' '..=b'~').contains(&b) && !matches!(b, b'"' | b'\'' | b'\\') {
                f.write_char(char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// Displays the string [`Escaped`], in double quotes.
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
        write!(f, "\"{}\"", Escaped(self.0))
    }
}
