//! Plain aligned tables for the CLI's listings (`--json` is the form for scripts).

/// Prints `head` and `rows` as left-aligned columns two spaces apart. Control characters in
/// cells are shown escaped, so a stored value cannot rewrite the terminal.
pub fn print<const N: usize>(head: [&str; N], rows: &[[String; N]]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clean(c)).collect())
        .collect();
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, cell) in width.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let parts: Vec<String> = cells.zip(&width).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(&mut head.iter().copied());
    for r in &rows {
        line(&mut r.iter().map(String::as_str));
    }
}

/// `\n`, `\u{1b}` and other control characters escaped; everything else as is.
fn clean(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
