//! Template errors in words a person editing an override can act on: the line and column,
//! and for a block left open, the line it was opened on.

use super::RenderError;

/// `source` is the template's text, or empty when unknown (a rendering error carries its own).
pub fn describe(name: &str, source: &str, error: &tera::Error) -> RenderError {
    let message = match error.kind() {
        tera::ErrorKind::SyntaxError(report) | tera::ErrorKind::RenderingError(report) => {
            let span = report.span();
            // tera's parser notices an unclosed block only at the end of the file; the line
            // that opened it is the one to fix.
            match unclosed_block(source) {
                Some((tag, line)) if report.message().contains("end of input") => {
                    format!("line {line}: {{% {tag} %}} is never closed")
                }
                _ => format!(
                    "line {}, column {}: {}",
                    span.start_line,
                    span.start_col + 1,
                    report.message()
                ),
            }
        }
        // Checks made after parsing (unknown filters, tests, functions) come as text only,
        // in the same report shape: read the place back out of it.
        tera::ErrorKind::Msg(report) => {
            from_report(report).unwrap_or_else(|| crate::error_chain(error))
        }
        _ => crate::error_chain(error),
    };
    RenderError::Template {
        name: name.to_string(),
        message,
    }
}

/// "line 2, column 13: Unknown filter `x`" from tera's report of the first problem:
/// "error: Unknown filter `x`\n --> digest.txt:2:13\n  |…".
fn from_report(report: &str) -> Option<String> {
    let mut lines = report.lines();
    let message = lines.next()?.strip_prefix("error: ")?;
    let place = lines.next()?.trim().strip_prefix("--> ")?;
    let mut parts = place.rsplitn(3, ':');
    let column: usize = parts.next()?.parse().ok()?;
    let line: usize = parts.next()?.parse().ok()?;
    Some(format!("line {line}, column {column}: {message}"))
}

/// The innermost block tag of `source` without its end tag, and its line (from 1).
fn unclosed_block(source: &str) -> Option<(String, usize)> {
    const BLOCKS: &[&str] = &["for", "if", "block", "macro", "filter", "raw", "component"];
    let mut open: Vec<(String, &str, usize)> = Vec::new();
    let mut rest = source;
    let mut offset = 0;
    while let Some(start) = rest.find("{%") {
        let Some(len) = rest[start..].find("%}") else {
            break;
        };
        let inner =
            rest[start + 2..start + len].trim_matches(|c: char| c == '-' || c.is_whitespace());
        let keyword = inner.split_whitespace().next().unwrap_or("");
        let line = source[..offset + start].matches('\n').count() + 1;
        let in_raw = open.last().is_some_and(|(_, k, _)| *k == "raw");
        if let Some(closed) = keyword.strip_prefix("end") {
            if open.last().is_some_and(|(_, k, _)| *k == closed) {
                open.pop();
            }
        } else if !in_raw && let Some(kw) = BLOCKS.iter().find(|&&b| b == keyword) {
            open.push((inner.to_string(), kw, line));
        }
        offset += start + len + 2;
        rest = &source[offset..];
    }
    open.pop().map(|(tag, _, line)| (tag, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_innermost_unclosed_block() {
        let source = "a\n{% for p in papers %}\n{% if p.title %}x{% endif %}\n{%- if y -%}\n";
        assert_eq!(unclosed_block(source), Some(("if y".to_string(), 4)));
        assert_eq!(
            unclosed_block("{% raw %}{% for %}{% endraw %}{% for x in y %}"),
            Some(("for x in y".to_string(), 1))
        );
        assert_eq!(unclosed_block("{% for x in y %}{% endfor %}"), None);
    }

    #[test]
    fn reads_the_place_out_of_a_report() {
        let report = "error: Unknown filter `x`\n --> digest.txt:2:13\n  |\n2 | {{ a | x }}";
        assert_eq!(
            from_report(report).as_deref(),
            Some("line 2, column 13: Unknown filter `x`")
        );
        assert_eq!(from_report("something else"), None);
    }
}
