//! The email as a reader meets it, through the real binary: grouped by topic, matched words
//! marked, styles inline, HTML that parses cleanly, a text part wrapped for 80-column readers.
//! Snapshots (tests/snapshots/) hold the whole of both parts; dates are normalised.

mod support;

use support::*;

/// Two named topics that one paper (EvoArena: "Tracking Memory Evolution for Robust LLM
/// Agents…") both match.
const TWO_TOPICS: &str = r#"
[[subscribers]]
email = "alice@example.org"
name = "Alice"
max_papers = 6
topics = [{ name = "LLM agents", query = "title:agents" }, { name = "Memory", query = "memory" }]
"#;

async fn digest() -> Mail {
    let env = TestEnv::new(TWO_TOPICS).await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut mails = env.mails();
    assert_eq!(mails.len(), 1);
    mails.remove(0)
}

/// Today's date, wherever the digest names it, as a fixed word.
fn normalise(text: &str) -> String {
    let today = chrono::Utc::now().format("%a %-d %b %Y").to_string();
    text.replace("\r\n", "\n").replace(&today, "DATE")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_with_two_named_topics_gets_a_section_for_each_and_a_paper_once() {
    let mail = digest().await;
    let html = &mail.html;
    let text = normalise(&mail.text);
    let evo = "EvoArena: Tracking";
    assert!(html.contains(">LLM agents</h2>") && html.contains(">Memory</h2>"));
    assert!(html.find(">LLM agents</h2>") < html.find(">Memory</h2>"));
    assert_eq!(text.matches(evo).count(), 1, "{text}");
    let evo_at = text.find(evo).unwrap();
    let memory_at = text.find("Memory\n------").unwrap();
    assert!(
        evo_at < memory_at,
        "EvoArena heads under its first topic:\n{text}"
    );
    assert!(text[evo_at..memory_at].contains("also: Memory"), "{text}");
    // Matched words are marked in the title, as the query's stems: "agents" marks "Agents".
    assert!(
        html.contains("Robust LLM <mark style=\"background-color:#fde68a; color:inherit; padding:0 1px;\">Agents</mark>"),
        "{html}"
    );
    for line in text.lines() {
        assert!(
            line.chars().count() <= 72 || line.starts_with('['),
            "{line:?} is over 72 columns"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_html_parses_cleanly_and_carries_its_styles_inline() {
    let mail = digest().await;
    let document = scraper::Html::parse_document(&mail.html);
    assert!(
        document.errors.is_empty(),
        "{:?}\n{}",
        document.errors,
        mail.html
    );
    let count = |css: &str| {
        document
            .select(&scraper::Selector::parse(css).unwrap())
            .count()
    };
    assert_eq!(count("script"), 0);
    assert_eq!(count("link"), 0);
    assert_eq!(count("[class]"), 0);
    assert_eq!(count("img"), count("img[alt][width][height]"));
    assert!(count("[style]") > 50, "styles are written on the elements");
    // The one style block only darkens colours; the layout does not depend on it.
    let style: String = document
        .select(&scraper::Selector::parse("style").unwrap())
        .map(|s| s.inner_html())
        .collect();
    assert!(
        style.contains("@media (prefers-color-scheme: dark)"),
        "{style}"
    );
    assert!(!style.contains("width"), "{style}");
    // A preheader for the inbox's preview line, hidden in the body.
    assert!(
        mail.html
            .contains("mso-hide:all; font-size:1px; line-height:1px; color:#f4f4f5;\">EvoArena"),
        "{}",
        mail.html
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_digest_reads_as_before() {
    let mail = digest().await;
    insta::assert_snapshot!("digest_text", normalise(&mail.text));
    insta::assert_snapshot!("digest_html", normalise(&mail.html));
}
