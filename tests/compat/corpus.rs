//! The expression corpus (`tests/promql_corpus.txt`): one PromQL expression per line.
//!
//! - Blank lines and lines starting with `#` are ignored.
//! - A line may start with markers in brackets, comma-separated: `[instant]` (evaluate only as
//!   instant queries), `[range]` (only as range queries), `[ordered]` (an instant vector's
//!   order of values must agree too, for `sort` and `sort_desc`). No PromQL expression
//!   starts with `[`, so markers are never ambiguous.
//! - `${START}`, `${MID}` and `${END}` are replaced by the data span's first sample time, its
//!   middle and its last sample time, in seconds (for `@` with absolute times).

use std::path::Path;

/// One expression of the corpus.
#[derive(Clone, Debug)]
pub struct Entry {
    /// 1-based line in the corpus file.
    pub line: usize,
    pub expr: String,
    pub instant: bool,
    pub range: bool,
    pub ordered: bool,
}

impl Entry {
    /// The expression with `${START}`, `${MID}` and `${END}` replaced.
    pub fn expand(&self, start: &str, mid: &str, end: &str) -> String {
        self.expr.replace("${START}", start).replace("${MID}", mid).replace("${END}", end)
    }
}

/// Reads and parses the corpus; panics naming the line of a bad marker.
pub fn load(path: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut entry = Entry { line: i + 1, expr: line.to_string(), instant: true, range: true, ordered: false };
        if let Some(rest) = line.strip_prefix('[') {
            let (markers, expr) = rest.split_once(']').ok_or_else(|| format!("line {}: unclosed marker", i + 1))?;
            for marker in markers.split(',').map(str::trim) {
                match marker {
                    "instant" => entry.range = false,
                    "range" => entry.instant = false,
                    "ordered" => entry.ordered = true,
                    other => return Err(format!("line {}: unknown marker [{other}]", i + 1)),
                }
            }
            entry.expr = expr.trim().to_string();
            if entry.expr.is_empty() || !(entry.instant || entry.range) {
                return Err(format!("line {}: markers leave nothing to evaluate", i + 1));
            }
        }
        entries.push(entry);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_and_comments() {
        let entries = parse("# c\n\nup\n[instant] up[1m]\n[range, ordered] sort(up)\n").unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!((entries[0].line, entries[0].instant, entries[0].range), (3, true, true));
        assert_eq!((entries[1].expr.as_str(), entries[1].instant, entries[1].range), ("up[1m]", true, false));
        assert!(entries[2].ordered && !entries[2].instant);
        assert_eq!(parse("[sometimes] up").unwrap_err(), "line 1: unknown marker [sometimes]");
    }
}
