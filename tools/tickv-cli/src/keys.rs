//! Keys, values and the owner header: how the tool names keys, how it shows
//! values, and how Tock's per-value owner header is built and recognised.

use crate::error::CliError;

/// Hashes a string key the way the Tock kernel does: SipHash-2-4 with a
/// 16-byte all-zero key, the 8-byte digest read as a big-endian number.
/// It is the kernel's own implementation (`capsules_core::siphash`), so the
/// tool and the kernel cannot disagree.
pub fn hash_key(name: &[u8]) -> u64 {
    siphash::tickv_key(name)
}

/// A key as the user named it: the 64-bit hash plus the string it was
/// hashed from, when there was one.
#[derive(Clone, Debug)]
pub struct KeyArg {
    /// The 64-bit key the store sees.
    pub hash: u64,
    /// The string that was hashed, if the key was given as a string.
    pub name: Option<String>,
}

impl KeyArg {
    /// Resolves the KEY positional and the `--hash` option into one key;
    /// with `kernel`, a KEY names one of the kernel's keys (its namespace,
    /// `siphash::tickv_kernel_key`).
    pub fn resolve(
        name: Option<String>,
        hash: Option<String>,
        kernel: bool,
    ) -> Result<KeyArg, CliError> {
        match (name, hash) {
            (Some(_), Some(_)) => Err(CliError::usage(
                "give the key either as KEY or as --hash, not both",
            )),
            (None, None) => Err(CliError::usage(
                "missing key: give KEY (a string, hashed with SipHash-2-4) or --hash 0x...",
            )),
            (Some(name), None) => Ok(KeyArg {
                hash: if kernel {
                    siphash::tickv_kernel_key(name.as_bytes())
                } else {
                    hash_key(name.as_bytes())
                },
                name: Some(name),
            }),
            (None, Some(h)) => Ok(KeyArg {
                hash: parse_u64(&h).map_err(|e| CliError::usage(format!("--hash {h:?}: {e}")))?,
                name: None,
            }),
        }
    }

    /// `0x219e0c9528eb4392 ("mykey")`, or just the hash.
    pub fn describe(&self) -> String {
        match &self.name {
            Some(n) => format!("{} ({n:?})", hex_key(self.hash)),
            None => hex_key(self.hash),
        }
    }
}

/// A key in the fixed-width hexadecimal form used everywhere in the output.
pub fn hex_key(key: u64) -> String {
    format!("{key:#018x}")
}

/// Parses a number given in decimal, in hexadecimal with `0x`, or with a
/// binary size suffix `K`, `M` or `G` (KiB, MiB, GiB). Underscores are
/// ignored.
pub fn parse_u64(text: &str) -> Result<u64, String> {
    let t: String = text.trim().chars().filter(|&c| c != '_').collect();
    let (digits, radix) = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => (hex.to_string(), 16),
        None => (t.clone(), 10),
    };
    let (digits, scale) = if radix == 10 {
        match digits.chars().last() {
            Some('k' | 'K') => (&digits[..digits.len() - 1], 1u64 << 10),
            Some('m' | 'M') => (&digits[..digits.len() - 1], 1 << 20),
            Some('g' | 'G') => (&digits[..digits.len() - 1], 1 << 30),
            _ => (&digits[..], 1),
        }
    } else {
        (&digits[..], 1)
    };
    if digits.is_empty() {
        return Err("not a number".into());
    }
    let n = u64::from_str_radix(digits, radix)
        .map_err(|_| format!("not a number (use decimal, 0x hex, or a K/M/G suffix): {text}"))?;
    n.checked_mul(scale)
        .ok_or_else(|| format!("number too large: {text}"))
}

/// Size of Tock's owner header at the start of a stored value.
pub const OWNER_HEADER: usize = 9;

/// Prepends Tock's owner header (version 0, payload length u32 LE, write id
/// u32 LE) to `payload`.
pub fn with_owner(owner: u32, payload: &[u8]) -> Result<Vec<u8>, CliError> {
    let len = u32::try_from(payload.len())
        .map_err(|_| CliError::new("too_large", format!("value is {} bytes", payload.len())))?;
    let mut v = Vec::with_capacity(OWNER_HEADER + payload.len());
    v.push(0);
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(&owner.to_le_bytes());
    v.extend_from_slice(payload);
    Ok(v)
}

/// Splits a stored value into (owner id, payload) when it starts with a
/// well-formed owner header: version 0 and a length field equal to the
/// number of bytes after the header.
pub fn split_owner(value: &[u8]) -> Option<(u32, &[u8])> {
    if value.len() < OWNER_HEADER || value[0] != 0 {
        return None;
    }
    let len = u32::from_le_bytes([value[1], value[2], value[3], value[4]]);
    if len as usize != value.len() - OWNER_HEADER {
        return None;
    }
    let owner = u32::from_le_bytes([value[5], value[6], value[7], value[8]]);
    Some((owner, &value[OWNER_HEADER..]))
}

/// Lower-case hexadecimal, two digits per byte, no separators.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Parses hexadecimal digits (whitespace, `:` and an optional `0x` prefix are
/// allowed) into bytes.
pub fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let digits: Vec<u8> = t
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b':')
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).map_err(|_| "not hex".to_string())?;
            u8::from_str_radix(s, 16).map_err(|_| format!("not hex: {s:?}"))
        })
        .collect()
}

/// How a value is shown: as text when it is printable UTF-8, else as hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shown {
    /// Printable UTF-8 text.
    Text(String),
    /// Anything else, as lower-case hex.
    Hex(String),
}

impl Shown {
    /// Chooses the representation of `bytes`. Text may contain any
    /// character except control characters other than tab and newline.
    pub fn of(bytes: &[u8]) -> Shown {
        match std::str::from_utf8(bytes) {
            Ok(s) if s.chars().all(|c| !c.is_control() || c == '\n' || c == '\t') => {
                Shown::Text(s.to_string())
            }
            _ => Shown::Hex(to_hex(bytes)),
        }
    }

    /// `"utf8"` or `"hex"`, the `encoding` field of the JSON output.
    pub fn encoding(&self) -> &'static str {
        match self {
            Shown::Text(_) => "utf8",
            Shown::Hex(_) => "hex",
        }
    }

    /// The text or the hex digits.
    pub fn raw(&self) -> &str {
        match self {
            Shown::Text(s) | Shown::Hex(s) => s,
        }
    }

    /// For tables: text quoted with escapes, hex prefixed with `hex:`.
    pub fn human(&self) -> String {
        match self {
            Shown::Text(s) => format!("{s:?}"),
            Shown::Hex(h) => format!("hex:{h}"),
        }
    }

    /// Like [`Shown::human`], cut to about `max` characters with `...`.
    pub fn preview(&self, max: usize) -> String {
        let full = self.human();
        if full.chars().count() <= max {
            return full;
        }
        let cut: String = full.chars().take(max.saturating_sub(3)).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mykey_vector() {
        assert_eq!(hash_key(b"mykey"), 0x219e_0c95_28eb_4392);
    }

    #[test]
    fn owner_header_round_trip() {
        let v = with_owner(0x1234, b"hello").unwrap();
        assert_eq!(
            v,
            [0, 5, 0, 0, 0, 0x34, 0x12, 0, 0, b'h', b'e', b'l', b'l', b'o']
        );
        assert_eq!(split_owner(&v), Some((0x1234, &b"hello"[..])));
        assert_eq!(split_owner(b"hello, world"), None);
        let mut bad = v.clone();
        bad[1] = 6;
        assert_eq!(split_owner(&bad), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u64("0x40000"), Ok(0x40000));
        assert_eq!(parse_u64("256K"), Ok(256 << 10));
        assert_eq!(parse_u64("32M"), Ok(32 << 20));
        assert_eq!(parse_u64("4096"), Ok(4096));
        assert!(parse_u64("x").is_err());
        assert!(parse_u64("").is_err());
        assert_eq!(from_hex("0x68 65"), Ok(b"he".to_vec()));
    }

    #[test]
    fn shown() {
        assert_eq!(Shown::of(b"hi\n"), Shown::Text("hi\n".into()));
        assert_eq!(Shown::of(&[0, 1]), Shown::Hex("0001".into()));
    }
}
