//! Human output: aligned tables for lists, `key: value` blocks for single entries, and the
//! pretty JSON of `--json`.
//!
//! Small on purpose: columns are padded by character count, which is right for the names and
//! times this CLI shows; a table crate would buy width rules for scripts nobody here prints.

use serde_json::Value;

/// Columns separated by two spaces, the last one not padded, so output has no trailing blanks.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<const N: usize>(headers: [&str; N]) -> Self {
        Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells print empty and extra cells are dropped.
    pub fn row<const N: usize>(&mut self, cells: [String; N]) {
        let mut cells: Vec<String> = cells.into_iter().map(|c| one_line(&c)).collect();
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for line in std::iter::once(&self.headers).chain(&self.rows) {
            let last = line.len().saturating_sub(1);
            let mut text = String::new();
            for (i, (cell, w)) in line.iter().zip(&widths).enumerate() {
                text.push_str(cell);
                if i < last {
                    let pad = w.saturating_sub(cell.chars().count()) + 2;
                    text.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `key: value` lines with the values aligned; an empty value list prints `-`.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        let v = if v.is_empty() { "-" } else { v.as_str() };
        let pad = width.saturating_sub(k.chars().count());
        out.push_str(&format!("{k}:{} {v}\n", " ".repeat(pad)));
    }
    out
}

/// The `--json` form: the server's body, pretty-printed.
pub fn json(v: &Value) -> String {
    // Printing a `Value` cannot fail; fall back to the compact form all the same.
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// Cells stay on one line whatever a summary or comment contains.
fn one_line(s: &str) -> String {
    if s.contains(['\n', '\r', '\t']) {
        s.replace(['\n', '\r', '\t'], " ")
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_without_trailing_blanks() {
        let mut t = Table::new(["NAME", "DISPLAY NAME", "MAIL"]);
        t.row([
            "alice".into(),
            "Alice Liddell".into(),
            "alice@example.com".into(),
        ]);
        t.row(["bob".into(), "Bob".into(), String::new()]);
        t.row([
            "zoë".into(),
            "Zoë\nTwo lines".into(),
            "z@example.com".into(),
        ]);
        assert_eq!(
            t.render(),
            "NAME   DISPLAY NAME   MAIL\n\
             alice  Alice Liddell  alice@example.com\n\
             bob    Bob\n\
             zoë    Zoë Two lines  z@example.com\n"
        );
    }

    #[test]
    fn empty_table_is_its_header() {
        let t = Table::new(["LABEL", "ALGORITHM"]);
        assert_eq!(t.render(), "LABEL  ALGORITHM\n");
    }

    #[test]
    fn fields_align_values() {
        let out = fields(&[("name", "alice".into()), ("display name", String::new())]);
        assert_eq!(out, "name:         alice\ndisplay name: -\n");
    }

    #[test]
    fn json_is_pretty() {
        let v = serde_json::json!({"token": "x"});
        assert_eq!(json(&v), "{\n  \"token\": \"x\"\n}");
    }
}
