//! The small subset of TOML the slot table uses.
//!
//! Supported: `# comments`, `[table]` and `[[array-of-tables]]` headers
//! with bare names, and `key = value` lines whose value is an integer
//! (decimal, or `0x` hexadecimal, `_` separators allowed), a basic string
//! (`"..."` with `\"` and `\\` escapes), `true`/`false`, or a one-line
//! array of strings. Anything else is an error with its line number, so a
//! table that a full TOML parser would read differently is never silently
//! misread.

use std::fmt;

/// One value of a `key = value` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// An integer (kept wide: range checks happen where it is used).
    Int(i64),
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// A one-line array of strings.
    StrArray(Vec<String>),
}

impl Value {
    /// What kind of value this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Int(_) => "an integer",
            Value::Str(_) => "a string",
            Value::Bool(_) => "a boolean",
            Value::StrArray(_) => "an array of strings",
        }
    }
}

/// A `key = value` entry and the line it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Value,
    /// 1-based line number.
    pub line: usize,
}

/// A table: the entries under one header (or before any header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// The header name (`""` for the entries before the first header).
    pub name: String,
    /// Whether the header was `[[name]]`.
    pub array: bool,
    /// 1-based line number of the header (0 for the implicit root table).
    pub line: usize,
    /// The entries, in file order.
    pub entries: Vec<Entry>,
}

impl Table {
    /// The entry for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// A syntax error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Parses `text` into its tables, in file order. The root table (entries
/// before the first header) is always first, possibly empty.
pub fn parse(text: &str) -> Result<Vec<Table>, SyntaxError> {
    let mut tables = vec![Table {
        name: String::new(),
        array: false,
        line: 0,
        entries: Vec::new(),
    }];
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |message: String| SyntaxError { line, message };
        let content = strip_comment(raw).map_err(err)?.trim();
        if content.is_empty() {
            continue;
        }
        if let Some(rest) = content.strip_prefix("[[") {
            let name = rest
                .strip_suffix("]]")
                .ok_or_else(|| err("unterminated [[table]] header".into()))?
                .trim();
            check_bare(name).map_err(err)?;
            tables.push(Table {
                name: name.into(),
                array: true,
                line,
                entries: Vec::new(),
            });
        } else if let Some(rest) = content.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| err("unterminated [table] header".into()))?
                .trim();
            check_bare(name).map_err(err)?;
            if tables.iter().any(|t| !t.array && t.name == name) {
                return Err(err(format!("table [{name}] defined twice")));
            }
            tables.push(Table {
                name: name.into(),
                array: false,
                line,
                entries: Vec::new(),
            });
        } else {
            let (key, value) = content
                .split_once('=')
                .ok_or_else(|| err(format!("expected `key = value`, found `{content}`")))?;
            let key = key.trim();
            check_bare(key).map_err(err)?;
            let value = parse_value(value.trim()).map_err(err)?;
            let table = tables.last_mut().expect("the root table is always there");
            if table.get(key).is_some() {
                return Err(err(format!("key `{key}` given twice")));
            }
            table.entries.push(Entry {
                key: key.into(),
                value,
                line,
            });
        }
    }
    Ok(tables)
}

/// The line without its comment; `#` inside a string is kept.
fn strip_comment(line: &str) -> Result<&str, String> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '#' if !in_string => return Ok(&line[..i]),
            _ => {}
        }
    }
    if in_string {
        return Err("unterminated string".into());
    }
    Ok(line)
}

fn check_bare(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a bare key (letters, digits, _ and -)"
        ))
    }
}

fn parse_value(text: &str) -> Result<Value, String> {
    match text {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        _ => {}
    }
    if text.starts_with('"') {
        let (s, rest) = parse_string(text)?;
        if !rest.trim().is_empty() {
            return Err(format!("unexpected `{}` after a string", rest.trim()));
        }
        return Ok(Value::Str(s));
    }
    if let Some(inner) = text.strip_prefix('[') {
        let mut rest = inner
            .trim_end()
            .strip_suffix(']')
            .ok_or("arrays must be on one line and end with `]`")?
            .trim();
        let mut items = Vec::new();
        while !rest.is_empty() {
            if !rest.starts_with('"') {
                return Err("only arrays of strings are supported".into());
            }
            let (s, after) = parse_string(rest)?;
            items.push(s);
            let after = after.trim_start();
            rest = match after.strip_prefix(',') {
                Some(r) => r.trim_start(),
                None if after.is_empty() => after,
                None => return Err(format!("expected `,` or `]`, found `{after}`")),
            };
        }
        return Ok(Value::StrArray(items));
    }
    parse_int(text).map(Value::Int)
}

/// A basic string at the start of `text`; returns it and what follows.
fn parse_string(text: &str) -> Result<(String, &str), String> {
    let body = text.strip_prefix('"').ok_or("expected a string")?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &body[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                _ => return Err("only \\\" and \\\\ escapes are supported".into()),
            },
            c => out.push(c),
        }
    }
    Err("unterminated string".into())
}

fn parse_int(text: &str) -> Result<i64, String> {
    let bad = || format!("`{text}` is not an integer, string, boolean or array of strings");
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (radix, digits) = match digits.strip_prefix("0x") {
        Some(hex) => (16, hex),
        None => (10, digits),
    };
    // TOML: underscores only between digits.
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return Err(bad());
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    let magnitude = i64::from_str_radix(&clean, radix).map_err(|_| bad())?;
    Ok(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_supported_subset() {
        let text = r#"
            # comment
            top = 1
            [board]
            name = "qemu # not a comment" # a comment
            flash = 0x8010_0000
            on = true
            [[app]]
            name = "a"
            list = ["x", "y\"z"]
            [[app]]
            name = "b"
            empty = []
        "#;
        let t = parse(text).unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(t[0].get("top").unwrap().value, Value::Int(1));
        assert_eq!(
            t[1].get("name").unwrap().value,
            Value::Str("qemu # not a comment".into())
        );
        assert_eq!(t[1].get("flash").unwrap().value, Value::Int(0x8010_0000));
        assert_eq!(t[1].get("on").unwrap().value, Value::Bool(true));
        assert!(t[2].array && t[3].array);
        assert_eq!(
            t[2].get("list").unwrap().value,
            Value::StrArray(vec!["x".into(), "y\"z".into()])
        );
        assert_eq!(t[3].get("empty").unwrap().value, Value::StrArray(vec![]));
    }

    #[test]
    fn rejects_what_it_does_not_understand() {
        for (text, line) in [
            ("a = 0x", 1),
            ("a = 1_", 1),
            ("\n\na = {x = 1}", 3),
            ("a = \"open", 1),
            ("a = [1, 2]", 1),
            ("[t]\n[t]", 2),
            ("a = 1\na = 2", 2),
            ("a.b = 1", 1),
            ("[x", 1),
            ("just words", 1),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
        }
    }
}
