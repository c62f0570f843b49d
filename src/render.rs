//! Turns a digest's papers into a subject, an HTML part and a text part with tera.
//!
//! Pure: papers in, strings out. The templates are compiled in and can be overridden one by
//! one by files of the same name in `[mail] templates_dir`. They are named `*.html` / `*.txt`
//! because tera autoescapes by suffix: paper text is untrusted and must be escaped in HTML,
//! and carried verbatim in text.

use std::path::Path;

use chrono::NaiveDate;
use serde::Serialize;
use tera::{Context, Tera};

use crate::paper::{Paper, collapse_whitespace};

const HTML: &str = "digest.html";
const TEXT: &str = "digest.txt";
/// No suffix: the subject is a header, not HTML, so it must not be escaped.
const SUBJECT: &str = "subject";
const BUILT_IN: &[(&str, &str)] = &[
    (HTML, include_str!("../templates/digest.html")),
    (TEXT, include_str!("../templates/digest.txt")),
];

/// How many authors are named before "et al.".
const AUTHORS_SHOWN: usize = 3;
/// Abstracts are cut to about this many characters when there is no short summary.
const SUMMARY_CHARS: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {path}: cannot be read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
}

/// One paper of a digest and the topics it matched.
pub struct DigestEntry<'a> {
    pub paper: &'a Paper,
    pub topics: Vec<&'a str>,
    /// For a paper a "more like these" topic matched: the liked paper it is closest to.
    pub like: Option<&'a str>,
}

/// What a digest says, independent of how it is sent.
pub struct DigestInput<'a> {
    pub name: Option<&'a str>,
    pub email: &'a str,
    /// The digest's date in the subscriber's time zone.
    pub date: NaiveDate,
    pub entries: &'a [DigestEntry<'a>],
    pub unsubscribe: Option<&'a str>,
    /// Whether the subscriber has topics: one without gets every paper, so an empty digest
    /// is not "nothing matched".
    pub has_topics: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// Compiled templates, built once per config load and reused for every digest.
pub struct Renderer {
    tera: Tera,
}

impl Renderer {
    /// Compiles the built-in templates, each replaced by the file of the same name in
    /// `templates_dir` if there is one, and the subject template.
    pub fn new(subject: &str, templates_dir: Option<&Path>) -> Result<Renderer, RenderError> {
        let mut tera = Tera::default();
        tera.register_filter("plural", plural_filter);
        tera.register_filter("wrap", wrap_filter);
        for (name, built_in) in BUILT_IN {
            let source = match templates_dir.map(|dir| dir.join(name)) {
                Some(path) if path.exists() => {
                    std::fs::read_to_string(&path).map_err(|source| RenderError::Read {
                        path: path.display().to_string(),
                        source,
                    })?
                }
                _ => built_in.to_string(),
            };
            tera.add_raw_template(name, &source)
                .map_err(|e| template_error(name, &e))?;
        }
        tera.add_raw_template(SUBJECT, subject)
            .map_err(|e| template_error("mail.subject", &e))?;
        let renderer = Renderer { tera };
        // Render samples so that a template using an unknown variable fails at load, in
        // `check`, rather than at 7 a.m. for every subscriber: a full digest, and an empty one
        // (send_empty) for someone without a name and with no unsubscribe link.
        for sample in samples() {
            renderer.render(&sample)?;
        }
        Ok(renderer)
    }

    pub fn render(&self, input: &DigestInput<'_>) -> Result<Rendered, RenderError> {
        let papers: Vec<PaperView> = input.entries.iter().map(PaperView::new).collect();
        let mut context = Context::new();
        context.insert("name", &input.name);
        context.insert("email", input.email);
        context.insert("date", &input.date.format("%a %-d %b %Y").to_string());
        context.insert("count", &papers.len());
        context.insert("papers", &papers);
        context.insert("unsubscribe", &input.unsubscribe);
        context.insert("has_topics", &input.has_topics);
        let subject = self.render_one(SUBJECT, "mail.subject", &context)?;
        // A header cannot carry line breaks: fold any the template produced into spaces.
        let subject = collapse_whitespace(&subject);
        context.insert("subject", &subject);
        Ok(Rendered {
            html: self.render_one(HTML, HTML, &context)?,
            text: self.render_one(TEXT, TEXT, &context)?,
            subject,
        })
    }

    fn render_one(
        &self,
        name: &str,
        label: &str,
        context: &Context,
    ) -> Result<String, RenderError> {
        self.tera
            .render(name, context)
            .map_err(|e| template_error(label, &e))
    }
}

/// "1 paper", "3 papers": the one place a count meets its noun, for the command line and,
/// as the `plural` filter (`{{ count | plural(noun="paper") }}`), for templates.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn plural_filter(
    value: &tera::Value,
    args: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let n = value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| tera::Error::msg("plural: the value must be a whole number"))?;
    let noun = args
        .get("noun")
        .and_then(tera::Value::as_str)
        .ok_or_else(|| tera::Error::msg("plural: needs noun=\"...\""))?;
    Ok(tera::Value::String(plural(n, noun)))
}

/// `text` wrapped at word boundaries into lines that, starting at column `indent`, end by
/// column `width`; the lines after the first are indented by `indent` spaces. A word longer
/// than a line (a URL) keeps a line of its own.
pub fn wrap(text: &str, width: usize, indent: usize) -> String {
    let room = width.saturating_sub(indent).max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let needed = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if !line.is_empty() && needed > room {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines.join(&format!("\n{}", " ".repeat(indent)))
}

/// `{{ text | wrap(width=72, indent=3) }}`: the text part's lines, for mail readers at 80
/// columns (RFC 3676 suggests 72 and under).
fn wrap_filter(
    value: &tera::Value,
    args: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let text = value
        .as_str()
        .ok_or_else(|| tera::Error::msg("wrap: the value must be text"))?;
    let number = |name: &str, default: u64| {
        args.get(name)
            .map_or(Some(default), tera::Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| tera::Error::msg(format!("wrap: {name} must be a whole number")))
    };
    Ok(tera::Value::String(wrap(
        text,
        number("width", 72)?,
        number("indent", 0)?,
    )))
}

/// tera's own Display is only the outermost message; the cause names the variable or line.
fn template_error(name: &str, error: &tera::Error) -> RenderError {
    RenderError::Template {
        name: name.to_string(),
        message: crate::error_chain(error),
    }
}

/// A paper as the templates see it: display-ready strings.
#[derive(Serialize)]
struct PaperView<'a> {
    arxiv_id: &'a str,
    title: &'a str,
    /// Where the title links: the Hugging Face page where there is one, else arXiv's.
    url: String,
    /// `None` for a paper Hugging Face has not listed.
    huggingface_url: Option<String>,
    arxiv_url: String,
    authors: String,
    summary: String,
    /// `None` where unknown (arXiv alone): templates show upvotes only where they help.
    upvotes: Option<u32>,
    num_comments: u32,
    github_repo: Option<&'a str>,
    github_stars: Option<u32>,
    project_page: Option<&'a str>,
    organization: Option<&'a str>,
    topics: &'a [&'a str],
    /// The title of the liked paper it is closest to.
    like: Option<&'a str>,
}

impl<'a> PaperView<'a> {
    fn new(entry: &'a DigestEntry<'a>) -> Self {
        let p = entry.paper;
        let huggingface_url = p.huggingface_url();
        PaperView {
            arxiv_id: &p.arxiv_id,
            title: &p.title,
            url: huggingface_url.clone().unwrap_or_else(|| p.arxiv_url()),
            huggingface_url,
            arxiv_url: p.arxiv_url(),
            authors: short_authors(&p.authors),
            summary: match &p.ai_summary {
                Some(summary) => summary.clone(),
                None => truncate_words(&p.summary, SUMMARY_CHARS),
            },
            upvotes: p.upvotes,
            num_comments: p.num_comments,
            github_repo: p.github_repo.as_deref(),
            github_stars: p.github_stars,
            project_page: p.project_page.as_deref(),
            organization: p.organization.as_deref(),
            topics: &entry.topics,
            like: entry.like,
        }
    }
}

/// "A, B, C et al." once there are more authors than are shown.
fn short_authors(authors: &[String]) -> String {
    match authors.len() {
        0 => "Unknown authors".to_string(),
        n if n <= AUTHORS_SHOWN + 1 => authors.join(", "),
        _ => format!("{} et al.", authors[..AUTHORS_SHOWN].join(", ")),
    }
}

/// Cuts at a word boundary at or before `max` characters and marks the cut.
fn truncate_words(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    let cut = match cut.rfind(char::is_whitespace) {
        Some(pos) if pos > max / 2 => &cut[..pos],
        _ => &cut,
    };
    format!(
        "{}…",
        cut.trim_end_matches(|c: char| c.is_whitespace() || c == ',' || c == '.')
    )
}

fn samples() -> [DigestInput<'static>; 2] {
    static PAPER: std::sync::LazyLock<Paper> = std::sync::LazyLock::new(|| Paper {
        summary: "A sample abstract.".into(),
        authors: vec!["Ada Lovelace".into()],
        upvotes: Some(1),
        num_comments: 1,
        github_repo: Some("https://github.com/example/sample".into()),
        github_stars: Some(1),
        project_page: Some("https://example.org".into()),
        organization: Some("Sample Lab".into()),
        ..Paper::new("2601.00001", "A sample paper")
    });
    // Announced on arXiv, not listed on Hugging Face: no upvotes, no Hugging Face page.
    static ARXIV_PAPER: std::sync::LazyLock<Paper> = std::sync::LazyLock::new(|| Paper {
        summary: "Another sample abstract.".into(),
        authors: vec!["Grace Hopper".into()],
        categories: vec!["cs.CL".into()],
        ..Paper::new("2601.00002", "A sample paper from arXiv")
    });
    static ENTRIES: std::sync::LazyLock<Vec<DigestEntry<'static>>> =
        std::sync::LazyLock::new(|| {
            vec![
                DigestEntry {
                    paper: &PAPER,
                    topics: vec!["sample"],
                    like: None,
                },
                DigestEntry {
                    paper: &ARXIV_PAPER,
                    topics: vec!["sample"],
                    like: Some("A liked sample paper"),
                },
            ]
        });
    let date = NaiveDate::from_ymd_opt(2026, 1, 1).expect("a valid date");
    [
        DigestInput {
            name: Some("Sample"),
            email: "sample@example.org",
            date,
            entries: &ENTRIES,
            unsubscribe: Some("mailto:unsubscribe@example.org"),
            has_topics: true,
        },
        DigestInput {
            name: None,
            email: "sample@example.org",
            date,
            entries: &[],
            unsubscribe: None,
            has_topics: false,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBJECT_TEMPLATE: &str = "{{ count }} new papers for you · {{ date }}";

    fn paper(title: &str, authors: &[&str]) -> Paper {
        Paper {
            summary: "An abstract with <b>markup</b> & ampersands.".into(),
            authors: authors.iter().map(|a| a.to_string()).collect(),
            upvotes: Some(7),
            ..Paper::new("2606.00467", title)
        }
    }

    fn render(paper: &Paper) -> Rendered {
        let entries = [DigestEntry {
            paper,
            topics: vec!["diffusion"],
            like: None,
        }];
        Renderer::new(SUBJECT_TEMPLATE, None)
            .unwrap()
            .render(&DigestInput {
                name: Some("Alice"),
                email: "alice@example.org",
                date: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
                entries: &entries,
                unsubscribe: Some("mailto:admin@example.org?subject=unsubscribe"),
                has_topics: true,
            })
            .unwrap()
    }

    #[test]
    fn escapes_paper_text_in_html_and_keeps_it_verbatim_in_text() {
        let p = paper(
            "<script>alert(1)</script> & \"quotes\"",
            &["Eve <eve@evil>"],
        );
        let r = render(&p);
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(
            r.html
                .contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt; &amp; &quot;quotes&quot;")
        );
        assert!(r.html.contains("Eve &lt;eve@evil&gt;"));
        assert!(r.html.contains("&lt;b&gt;markup&lt;&#x2F;b&gt;"));
        assert!(r.text.contains("<script>alert(1)</script> & \"quotes\""));
        assert!(
            r.text
                .contains("An abstract with <b>markup</b> & ampersands.")
        );
    }

    #[test]
    fn shows_links_authors_and_the_subject() {
        let p = paper("Title", &["A", "B", "C", "D", "E"]);
        let r = render(&p);
        assert_eq!(r.subject, "1 new papers for you · Thu 26 Nov 2026");
        assert!(
            r.html
                .contains("href=\"https:&#x2F;&#x2F;huggingface.co&#x2F;papers&#x2F;2606.00467\"")
        );
        assert!(r.text.contains("https://huggingface.co/papers/2606.00467"));
        assert!(r.text.contains("https://arxiv.org/abs/2606.00467"));
        assert!(r.text.contains("A, B, C et al."));
        assert!(r.text.contains("matched: diffusion"));
    }

    #[test]
    fn the_subject_is_one_line_whatever_the_template_puts_in_it() {
        let p = paper("Title\r\nBcc: victim@example.org", &["A"]);
        let entries = [DigestEntry {
            paper: &p,
            topics: vec![],
            like: None,
        }];
        let rendered = Renderer::new("{% for p in papers %}{{ p.title }}{% endfor %}", None)
            .unwrap()
            .render(&DigestInput {
                name: None,
                email: "a@example.org",
                date: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
                entries: &entries,
                unsubscribe: None,
                has_topics: false,
            })
            .unwrap();
        assert_eq!(rendered.subject, "Title Bcc: victim@example.org");
    }

    #[test]
    fn shortens_authors_and_abstracts() {
        let names = |n: usize| (0..n).map(|i| format!("N{i}")).collect::<Vec<_>>();
        assert_eq!(short_authors(&names(4)), "N0, N1, N2, N3");
        assert_eq!(short_authors(&names(5)), "N0, N1, N2 et al.");
        let long = "word ".repeat(100);
        let cut = truncate_words(&long, 50);
        assert!(cut.ends_with("word…") && cut.chars().count() <= 51, "{cut}");
        assert_eq!(truncate_words("short", 50), "short");
    }

    #[test]
    fn a_broken_override_is_reported_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("digest.txt"), "{{ papers | nosuchfilter }}").unwrap();
        let err = Renderer::new(SUBJECT_TEMPLATE, Some(dir.path()))
            .err()
            .unwrap();
        assert!(err.to_string().starts_with("template digest.txt:"), "{err}");
        let err = Renderer::new("{{ count", None).err().unwrap();
        assert!(
            err.to_string().starts_with("template mail.subject:"),
            "{err}"
        );
        let err = Renderer::new("{{ nosuchvariable }}", None).err().unwrap();
        assert!(err.to_string().contains("nosuchvariable"), "{err}");
        // A template that only breaks on an empty digest is caught too.
        let err = Renderer::new("{{ papers[0].title }}", None).err().unwrap();
        assert!(
            err.to_string().starts_with("template mail.subject:"),
            "{err}"
        );
    }

    #[test]
    fn one_star_is_a_star() {
        let p = Paper {
            github_repo: Some("https://github.com/example/one".into()),
            github_stars: Some(1),
            ..paper("A paper", &["A"])
        };
        let rendered = render(&p);
        assert!(rendered.text.contains("(1 star)"), "{}", rendered.text);
        assert!(!rendered.text.contains("stars"), "{}", rendered.text);
    }

    #[test]
    fn the_text_part_is_wrapped_at_72_columns() {
        let p = Paper {
            summary: "word ".repeat(120),
            authors: (0..3)
                .map(|i| format!("Author Number{i} Withalongname"))
                .collect(),
            organization: Some("An Organisation With A Rather Long Name Indeed".into()),
            ..paper(
                &"A Title That Goes On and On About Sparse Attention ".repeat(3),
                &[],
            )
        };
        let rendered = render(&Paper {
            authors: p.authors.clone(),
            ..p
        });
        for line in rendered.text.lines() {
            if !line.contains("http") {
                assert!(line.chars().count() <= 72, "{line:?} in\n{}", rendered.text);
            }
        }
        assert_eq!(wrap("a bb ccc", 5, 2), "a\n  bb\n  ccc");
        assert_eq!(
            wrap("https://example.org/a/long/link", 10, 3),
            "https://example.org/a/long/link"
        );
    }
}
