//! Turns a digest's papers into a subject, an HTML part and a text part with tera.
//!
//! Pure: papers in, strings out. The templates are compiled in and can be overridden one by
//! one by files of the same name in `[mail] templates_dir`. They are named `*.html` / `*.txt`
//! because tera autoescapes by suffix: paper text is untrusted and must be escaped in HTML,
//! and carried verbatim in text. The one piece of HTML built here, the `<mark>` around matched
//! words, escapes every piece of paper text it wraps (`title_html`, `snippet_html`).

mod block;
mod memo;
mod snippet;
mod template_error;

use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

use chrono::NaiveDate;
use tera::{Context, Kwargs, State, Tera};

use crate::paper::{Paper, collapse_whitespace};
use crate::topics::TopicQuery;
use block::Blocks;
use memo::Memo;

const HTML: &str = "digest.html";
const TEXT: &str = "digest.txt";
/// No suffix: the subject is a header, not HTML, so it must not be escaped.
const SUBJECT: &str = "subject";
const BUILT_IN: &[(&str, &str)] = &[
    (HTML, include_str!("../../templates/digest.html")),
    (TEXT, include_str!("../../templates/digest.txt")),
];

/// How many authors are named before "et al.".
const AUTHORS_SHOWN: usize = 3;
/// How matched words are marked in HTML. Inline, like every style of the email: Gmail and
/// Outlook drop most `<style>` rules. The dark-mode rule in `digest.html` overrides it.
const MARK_OPEN: &str = "<mark style=\"background-color:#fde68a; color:inherit; padding:0 1px;\">";
/// The heading of the one section of a subscriber without topics.
pub const TRENDING: &str = "Trending";
/// The preheader (the inbox's preview line) names papers up to about this many characters.
const PREHEADER_CHARS: usize = 140;

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
    /// The names of the subscriber's topics it matched, in config order; the first heads the
    /// section it is in.
    pub topics: Vec<&'a str>,
    /// The queries of the topics it matched: their words are marked in its title and snippet.
    pub queries: Vec<&'a TopicQuery>,
    /// For a paper a "more like these" topic matched: the liked paper it is closest to.
    pub like: Option<&'a str>,
}

/// The papers under one heading: a topic's, or [`TRENDING`] for a subscriber without topics.
pub struct Section<'a> {
    pub heading: &'a str,
    pub entries: Vec<DigestEntry<'a>>,
}

/// What a digest says, independent of how it is sent.
pub struct DigestInput<'a> {
    pub name: Option<&'a str>,
    pub email: &'a str,
    /// The digest's date in the subscriber's time zone.
    pub date: NaiveDate,
    /// In order: the sections of the subscriber's topics in config order, papers ranked.
    pub sections: &'a [Section<'a>],
    /// The names of all the subscriber's topics, for the footer. One without topics gets
    /// every paper, so an empty digest is not "nothing matched".
    pub topics: &'a [&'a str],
    pub unsubscribe: Option<&'a str>,
    /// Where to write to change one's topics: the sender's address.
    pub contact: &'a str,
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
    /// Paper texts cut into words and sentences, shared by every digest of a run.
    memo: Memo,
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
                .map_err(|e| template_error::describe(name, &source, &e))?;
        }
        tera.add_raw_template(SUBJECT, subject)
            .map_err(|e| template_error::describe("mail.subject", subject, &e))?;
        let renderer = Renderer {
            tera,
            memo: Memo::default(),
        };
        // Render samples so that a template using an unknown variable fails at load, in
        // `check`, rather than at 7 a.m. for every subscriber: a full digest, and an empty one
        // (send_empty) for someone without a name and with no unsubscribe link.
        for sample in samples() {
            renderer.render(&sample)?;
        }
        Ok(renderer)
    }

    /// A renderer for one run of many digests, which makes what each paper shows once.
    pub fn for_run(&self) -> RunRenderer<'_> {
        RunRenderer {
            renderer: self,
            blocks: Blocks::default(),
        }
    }

    /// Renders one digest on its own; a run renders through [`Renderer::for_run`].
    pub fn render(&self, input: &DigestInput<'_>) -> Result<Rendered, RenderError> {
        self.render_in(input, &Blocks::default())
    }

    fn render_in(&self, input: &DigestInput<'_>, blocks: &Blocks) -> Result<Rendered, RenderError> {
        let entries = || input.sections.iter().flat_map(|section| &section.entries);
        // Each paper becomes a template value once, shared (tera's values are reference
        // counted) by `papers` and its section, and made mostly of its block's values.
        let mut links = 0;
        let values: Vec<tera::Value> = entries()
            .enumerate()
            .map(|(i, entry)| {
                blocks
                    .get(entry, &self.memo)
                    .value(entry, i + 1, &mut links)
            })
            .collect();
        let mut rest = values.as_slice();
        let sections: Vec<tera::Value> = input
            .sections
            .iter()
            .map(|section| {
                let (mine, others) = rest.split_at(section.entries.len());
                rest = others;
                let rule = "-".repeat(section.heading.chars().count().min(72));
                tera::Value::from(std::collections::BTreeMap::from([
                    ("heading", tera::Value::from(section.heading)),
                    ("rule", tera::Value::from(rule)),
                    ("papers", tera::Value::from(mine)),
                ]))
            })
            .collect();
        // The text part's list of links shares the papers' link values too.
        let all_links: Vec<tera::Value> = values
            .iter()
            .filter_map(|paper| paper.get_from_path("links")?.as_array())
            .flatten()
            .cloned()
            .collect();
        let mut context = Context::new();
        context.insert("name", &input.name);
        context.insert("email", input.email);
        context.insert("date", &input.date.format("%a %-d %b %Y").to_string());
        context.insert("count", &values.len());
        context.insert_value("sections", tera::Value::from(sections));
        context.insert_value("papers", tera::Value::from(values));
        context.insert_value("links", tera::Value::from(all_links));
        context.insert("topics", input.topics);
        context.insert("has_topics", &!input.topics.is_empty());
        context.insert("unsubscribe", &input.unsubscribe);
        context.insert("contact", input.contact);
        context.insert(
            "preheader",
            &preheader(entries().map(|e| e.paper.title.as_str())),
        );
        let subject = self.render_one(SUBJECT, "mail.subject", &context)?;
        // A header cannot carry line breaks: fold any the template produced into spaces.
        let subject = collapse_whitespace(&subject);
        context.insert("subject", &subject);
        Ok(Rendered {
            html: ascii_html(self.render_one(HTML, HTML, &context)?),
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
            .map_err(|e| template_error::describe(label, "", &e))
    }
}

/// The renderer of one run: the templates, and what the run's papers show, made once each
/// for every set of topics that marks them. Dropped with the run: see [`Blocks`].
pub struct RunRenderer<'r> {
    renderer: &'r Renderer,
    blocks: Blocks,
}

impl RunRenderer<'_> {
    pub fn render(&self, input: &DigestInput<'_>) -> Result<Rendered, RenderError> {
        self.renderer.render_in(input, &self.blocks)
    }
}

/// `html` with every character outside ASCII written as a character reference (`·` as
/// `&#183;`), which browsers and mail clients read back as the character. An ASCII part with
/// short lines goes out as it is (7bit); with names and abstracts full of accents, dashes and
/// symbols, the HTML went out quoted-printable, a third larger and the costliest step of
/// building a message. Inside `<style>` a reference would not be read back, so a style
/// sheet is left as written.
fn ascii_html(html: String) -> String {
    if html.is_ascii() {
        return html;
    }
    let mut out = String::with_capacity(html.len() + html.len() / 16);
    let mut rest = html.as_str();
    while !rest.is_empty() {
        let (before, style, after) = match memchr::memmem::find(rest.as_bytes(), b"<style") {
            Some(start) => {
                let end = memchr::memmem::find(&rest.as_bytes()[start..], b"</style>")
                    .map_or(rest.len(), |end| start + end + "</style>".len());
                (&rest[..start], &rest[start..end], &rest[end..])
            }
            None => (rest, "", ""),
        };
        let mut text = before;
        while let Some(at) = first_non_ascii(text.as_bytes()) {
            out.push_str(&text[..at]);
            let c = text[at..].chars().next().unwrap_or_default();
            // Writing into a String cannot fail.
            let _ = write!(out, "&#{};", u32::from(c));
            text = &text[at + c.len_utf8()..];
        }
        out.push_str(text);
        out.push_str(style);
        rest = after;
    }
    out
}

/// Where the first byte outside ASCII is: a block at a time, as `[u8]::is_ascii` checks a
/// word at a time, since nearly every byte of a digest is ASCII.
fn first_non_ascii(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    for block in bytes.chunks(64) {
        if !block.is_ascii() {
            return block.iter().position(|b| !b.is_ascii()).map(|i| at + i);
        }
        at += block.len();
    }
    None
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

fn plural_filter(n: usize, kwargs: Kwargs, _: &State) -> tera::TeraResult<String> {
    let noun: &str = kwargs.must_get("noun")?;
    Ok(plural(n, noun))
}

/// `text` wrapped at word boundaries into lines that, starting at column `indent`, end by
/// column `width`; the lines after the first are indented by `indent` spaces. A word longer
/// than a line (a URL) keeps a line of its own; words joined by no-break spaces stay together. Line breaks in `text` are kept: each line is
/// wrapped on its own.
pub fn wrap(text: &str, width: usize, indent: usize) -> String {
    let room = width.saturating_sub(indent).max(1);
    let mut out = String::with_capacity(text.len() + text.len() / 16 * (indent + 1));
    let mut first_line = true;
    let mut break_line = |out: &mut String| {
        if !std::mem::take(&mut first_line) {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', indent));
        }
    };
    for paragraph in text.lines() {
        break_line(&mut out);
        // The current line's length in characters, kept as it grows: counting the line
        // again for every word made wrapping an abstract quadratic.
        let mut line = 0;
        // ASCII whitespace only: a no-break space holds its words together.
        for word in paragraph.split_ascii_whitespace() {
            let chars = word.chars().count();
            if line > 0 && line + 1 + chars > room {
                break_line(&mut out);
                line = 0;
            }
            if line > 0 {
                out.push(' ');
                line += 1;
            }
            out.push_str(word);
            line += chars;
        }
    }
    out
}

/// `{{ text | wrap(width=72, indent=3) }}`, or `{% filter wrap(indent=3) %}…{% endfilter %}`:
/// the text part's lines, for mail readers at 80 columns (RFC 3676 suggests 72 and under).
fn wrap_filter(text: &str, kwargs: Kwargs, _: &State) -> tera::TeraResult<String> {
    let width: usize = kwargs.get("width")?.unwrap_or(72);
    let indent: usize = kwargs.get("indent")?.unwrap_or(0);
    Ok(wrap(text, width, indent))
}

/// `text` escaped for HTML, with the `spans` (sorted, not overlapping) in `<mark>`.
fn mark_html(text: &str, spans: &[Range<usize>]) -> String {
    let mut out = Vec::with_capacity(text.len() + spans.len() * (MARK_OPEN.len() + 7));
    let mut at = 0;
    for span in spans {
        escape(&text[at..span.start], &mut out);
        out.extend_from_slice(MARK_OPEN.as_bytes());
        escape(&text[span.clone()], &mut out);
        out.extend_from_slice(b"</mark>");
        at = span.end;
    }
    escape(&text[at..], &mut out);
    // Escaping keeps UTF-8 whole: it only replaces ASCII bytes with ASCII.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// tera's own HTML escaping, so that marked text is escaped exactly as `{{ }}` would.
fn escape(text: &str, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = tera::escape_html(text, out);
}

/// The inbox's preview line: the first papers' titles.
fn preheader<'t>(titles: impl Iterator<Item = &'t str>) -> String {
    let mut line = String::new();
    for title in titles {
        if line.chars().count() >= PREHEADER_CHARS {
            break;
        }
        if !line.is_empty() {
            line.push_str(" · ");
        }
        line.push_str(title);
    }
    truncate_words(&line, PREHEADER_CHARS)
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
    use std::sync::LazyLock;
    static PAPER: LazyLock<Paper> = LazyLock::new(|| Paper {
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
    static ARXIV_PAPER: LazyLock<Paper> = LazyLock::new(|| Paper {
        summary: "Another sample abstract.".into(),
        authors: vec!["Grace Hopper".into()],
        categories: vec!["cs.CL".into()],
        ..Paper::new("2601.00002", "A sample paper from arXiv")
    });
    static QUERY: LazyLock<TopicQuery> =
        LazyLock::new(|| TopicQuery::parse("sample").expect("a valid query"));
    static SECTIONS: LazyLock<Vec<Section<'static>>> = LazyLock::new(|| {
        vec![
            Section {
                heading: "Samples",
                entries: vec![DigestEntry {
                    paper: &PAPER,
                    topics: vec!["Samples", "More like these"],
                    queries: vec![&QUERY],
                    like: None,
                }],
            },
            Section {
                heading: "More like these",
                entries: vec![DigestEntry {
                    paper: &ARXIV_PAPER,
                    topics: vec!["More like these"],
                    queries: vec![],
                    like: Some("A liked sample paper"),
                }],
            },
        ]
    });
    let date = NaiveDate::from_ymd_opt(2026, 1, 1).expect("a valid date");
    [
        DigestInput {
            name: Some("Sample"),
            email: "sample@example.org",
            date,
            sections: &SECTIONS,
            topics: &["Samples", "More like these"],
            unsubscribe: Some("mailto:unsubscribe@example.org"),
            contact: "papers@example.org",
        },
        DigestInput {
            name: None,
            email: "sample@example.org",
            date,
            sections: &[],
            topics: &[],
            unsubscribe: None,
            contact: "papers@example.org",
        },
    ]
}

#[cfg(test)]
mod tests;
