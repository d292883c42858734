//! Escaping of user text (budget names, tags, account names end up in titles and summaries) for
//! each target format.

/// HTML text and attribute values: `& < > " '`.
pub(crate) fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Slack `mrkdwn`: Slack's own three escapes (`& < >`), which also stop `<!channel>` mentions and
/// `<url|label>` links; formatting characters are neutralised with a zero-width space after them so
/// `*`, `_`, `~` and `` ` `` in a budget name do not turn the rest of the line bold.
pub(crate) fn slack(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '*' | '_' | '~' | '`' => {
                out.push(c);
                out.push('\u{200B}');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Adaptive Card `TextBlock` text, which is always read as (a subset of) Markdown: backslash
/// escapes for every character that could start emphasis, a link, a list or a heading.
pub(crate) fn card(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*'
                | '_'
                | '['
                | ']'
                | '('
                | ')'
                | '#'
                | '`'
                | '~'
                | '>'
                | '-'
                | '+'
                | '!'
                | '|'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A header or subject line: control characters (a newline would start a new header) become
/// spaces; at most `max` characters, with an ellipsis when cut.
pub(crate) fn line(s: &str, max: usize) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() > max {
        clean
            .chars()
            .take(max.saturating_sub(1))
            .collect::<String>()
            + "…"
    } else {
        clean
    }
}

/// At most `max` characters, newlines kept, with an ellipsis when cut.
pub(crate) fn line_keep_newlines(s: &str, max: usize) -> String {
    if s.chars().count() > max {
        s.chars().take(max.saturating_sub(1)).collect::<String>() + "…"
    } else {
        s.to_string()
    }
}

/// A spreadsheet cell from user text: a leading `= + - @` (or tab/CR) would make Excel or Sheets
/// evaluate it as a formula, so it gets a leading apostrophe (OWASP "CSV injection").
pub(crate) fn csv_cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_markup() {
        assert_eq!(
            html(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn slack_escapes_mentions_links_and_formatting() {
        assert_eq!(
            slack("<!channel> & <http://x|y>"),
            "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
        );
        assert_eq!(slack("*bold*"), "*\u{200B}bold*\u{200B}");
    }

    #[test]
    fn card_escapes_markdown_links() {
        assert_eq!(card("[x](http://evil)"), r"\[x\]\(http://evil\)");
        assert_eq!(card("a_b*c"), r"a\_b\*c");
    }

    #[test]
    fn lines_lose_newlines_and_are_cut() {
        assert_eq!(line("a\r\nBcc: x", 100), "a  Bcc: x");
        assert_eq!(line("abcdef", 4), "abc…");
        assert_eq!(line("abcd", 4), "abcd");
    }

    #[test]
    fn csv_cells_never_start_a_formula() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("prod"), "prod");
    }
}
