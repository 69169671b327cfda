//! Plain-text tables for the commands that list things (`lab key list`, `portal user list`, `keys list`):
//! one header line, columns as wide as their widest cell, two spaces between them.

/// Renders `rows` under `headers`, each line ending in a newline; the last column is not padded.
pub(crate) fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, (cell, width)) in cells.zip(&widths).enumerate() {
            if i + 1 == widths.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(&mut headers.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn columns_fit_their_widest_cell() {
        let rows = vec![
            vec!["a-long-name".to_owned(), "x".to_owned(), "last".to_owned()],
            vec!["b".to_owned(), "yyyy".to_owned(), String::new()],
        ];
        assert_eq!(
            render(&["NAME", "V", "END"], &rows),
            "NAME         V     END\na-long-name  x     last\nb            yyyy\n"
        );
    }
}
