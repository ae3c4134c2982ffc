//! Output: aligned text tables for people, JSON for scripts.

use serde_json::Value;

/// What a successful (or, for `fsck`, completed) command prints.
pub struct Outcome {
    /// Text for people.
    pub human: String,
    /// The same information for scripts.
    pub json: Value,
    /// Exit status (0, or 3 when `fsck` finds damage).
    pub code: i32,
    /// Bytes to write to standard output instead of `human` (`get --raw`).
    pub raw: Option<Vec<u8>>,
}

impl Outcome {
    /// A successful outcome.
    pub fn ok(human: String, json: Value) -> Outcome {
        Outcome {
            human,
            json,
            code: crate::error::EXIT_OK,
            raw: None,
        }
    }
}

/// A text table with a header row; columns are separated by two spaces and
/// padded to the widest cell. Columns marked numeric are right-aligned.
pub struct Table {
    header: Vec<&'static str>,
    numeric: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles. A title ending in `>` is a
    /// right-aligned column (the `>` is not shown).
    pub fn new(columns: &[&'static str]) -> Table {
        Table {
            header: columns.iter().map(|c| c.trim_end_matches('>')).collect(),
            numeric: columns.iter().map(|c| c.ends_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (one cell per column).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, with a trailing newline.
    pub fn render(&self) -> String {
        let mut width: Vec<usize> = self.header.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (w, cell) in width.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.header.iter().map(|h| h.to_string()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = width[i].saturating_sub(cell.chars().count());
                if self.numeric[i] {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    if i + 1 < row.len() {
                        line.push_str(&" ".repeat(pad));
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Two-column "name  value" lines, names padded to the same width.
pub fn pairs(items: &[(&str, String)]) -> String {
    let w = items.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in items {
        out.push_str(&format!("{k:<w$}  {v}\n"));
    }
    out
}
