//! Printing strings from untrusted sources (a process's package name, read
//! from its TBF header) so that they cannot move the cursor, clear the
//! screen or fake console lines: [`Escaped`] and [`Quoted`].
//!
//! They replace `{:?}` for such strings: `str`'s `Debug` pulls in Unicode
//! tables and the general escaper, about 6 KB of kernel ROM, for the same
//! protection.

use core::fmt;

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
        // Runs of plain bytes go out in one write. They are cut from the
        // bytes, not the `str` (whose slicing has a panic path that would
        // pull the Unicode escaper back in); a run of printable ASCII is
        // always valid UTF-8.
        let bytes = self.0.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if (b' '..=b'~').contains(&b) && !matches!(b, b'"' | b'\'' | b'\\') {
                continue;
            }
            f.write_str(plain(&bytes[start..i]))?;
            write!(f, "\\x{b:02x}")?;
            start = i + 1;
        }
        f.write_str(plain(&bytes[start..]))?;
        Ok(())
    }
}

/// A run of printable ASCII as a `str`.
fn plain(run: &[u8]) -> &str {
    core::str::from_utf8(run).unwrap_or_default()
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
