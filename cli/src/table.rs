//! Plain aligned text tables for the terminal.

/// Renders `rows` under `header`, each column as wide as its widest cell; columns listed in
/// `right_aligned` (numbers) are aligned right.
pub(crate) fn render(header: &[&str], rows: &[Vec<String>], right_aligned: &[usize]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if i > 0 {
                out.push_str("  ");
            }
            if right_aligned.contains(&i) {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                if i + 1 < cells.len() {
                    out.push_str(&" ".repeat(pad));
                }
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let rows = vec![vec!["web-01".to_string(), "5.0".to_string()], vec!["a".to_string(), "12.5".to_string()]];
        assert_eq!(render(&["HOST", "CPU%"], &rows, &[1]), "HOST    CPU%\nweb-01   5.0\na       12.5\n");
    }
}
