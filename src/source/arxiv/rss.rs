//! The daily announcement: `https://rss.arxiv.org/rss/{cat1}+{cat2}` (RSS 2.0, after
//! https://info.arxiv.org/help/rss_specifications.html). On days without an announcement the
//! channel has no items.

use chrono::{DateTime, Utc};

use super::xml::{self, Element};
use super::{AnnounceType, Entry, FeedError, Skipped, id_and_version};

/// One announcement as the feed lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    pub entries: Vec<Entry>,
    /// Items that could not be read; the others are in `entries`.
    pub skipped: Vec<Skipped>,
    /// The channel's `<pubDate>`: the day of the announcement.
    pub published: Option<DateTime<Utc>>,
}

/// Reads an rss.arxiv.org feed. Only a body that is not an RSS feed is an error; an item that
/// cannot be read is listed in `skipped`.
pub fn parse(body: &[u8]) -> Result<Feed, FeedError> {
    let rss = xml::parse(body)?.ok_or(FeedError::Empty { expected: "RSS" })?;
    if rss.name != "rss" {
        return Err(FeedError::WrongRoot {
            expected: "RSS",
            found: rss.name,
        });
    }
    let channel = rss.child("channel").ok_or(FeedError::NoChannel)?;
    let published = channel.child_text("pubDate").and_then(|d| rfc2822(&d));
    let mut feed = Feed {
        entries: Vec::new(),
        skipped: Vec::new(),
        published,
    };
    for (i, item) in channel.children("item").enumerate() {
        match parse_item(item, published) {
            Ok(entry) => feed.entries.push(entry),
            Err(reason) => feed.skipped.push(Skipped {
                position: i + 1,
                id: item.child_text("guid").or_else(|| item.child_text("link")),
                reason,
            }),
        }
    }
    Ok(feed)
}

fn parse_item(item: &Element, channel_date: Option<DateTime<Utc>>) -> Result<Entry, String> {
    let description = item
        .child("description")
        .map(|d| d.text.as_str())
        .unwrap_or("");
    let head = description_head(description);

    // The guid is the one place that always carries the version; the description repeats it.
    let (arxiv_id, version) = item
        .child_text("guid")
        .and_then(|guid| {
            let id = guid.strip_prefix("oai:arXiv.org:").unwrap_or(&guid);
            id_and_version(id)
        })
        .or_else(|| head.id.and_then(id_and_version))
        .or_else(|| item.child_text("link").and_then(|l| id_and_version(&l)))
        .ok_or("no arXiv id in <guid>, <description> or <link>")?;

    let title = item.child_text("title").ok_or("no <title>")?;

    let announce_type = match item
        .child_text("announce_type")
        .or_else(|| head.announce_type.map(str::to_string))
    {
        None => None,
        // An unknown kind might be a replacement, which must not reach subscribers unasked.
        Some(text) => Some(AnnounceType::parse(&text).ok_or_else(|| {
            format!("announce type `{text}` is not new, cross, replace or replace-cross")
        })?),
    };

    let mut categories: Vec<String> = Vec::new();
    for category in item.children("category").map(Element::collapsed) {
        if !category.is_empty() && !categories.contains(&category) {
            categories.push(category);
        }
    }

    Ok(Entry {
        arxiv_id,
        version,
        title,
        summary: crate::paper::collapse_whitespace(head.abstract_text),
        authors: item
            .child("creator")
            .map(|c| split_authors(&c.collapsed()))
            .unwrap_or_default(),
        categories,
        announce_type,
        published: item
            .child_text("pubDate")
            .and_then(|d| rfc2822(&d))
            .or(channel_date),
        comment: None,
    })
}

/// The parts of `arXiv:<id>v<N> Announce Type: <type> Abstract: <text>`.
struct DescriptionHead<'a> {
    id: Option<&'a str>,
    announce_type: Option<&'a str>,
    abstract_text: &'a str,
}

fn description_head(description: &str) -> DescriptionHead<'_> {
    let trimmed = description.trim_start();
    let Some(rest) = trimmed.strip_prefix("arXiv:") else {
        // Not the announcement's layout: the whole description is the abstract.
        return DescriptionHead {
            id: None,
            announce_type: None,
            abstract_text: description,
        };
    };
    let id_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let (header, abstract_text) = match rest.find("Abstract:") {
        Some(at) => (&rest[..at], &rest[at + "Abstract:".len()..]),
        None => (rest, ""),
    };
    let announce_type = header
        .find("Announce Type:")
        .map(|at| header[at + "Announce Type:".len()..].trim())
        .filter(|t| !t.is_empty());
    DescriptionHead {
        id: Some(&rest[..id_end]),
        announce_type,
        abstract_text,
    }
}

/// `A, B, C and D` (also `A and B`, `A, B, and C`) into names. Commas inside parentheses
/// belong to an affiliation, not between authors.
fn split_authors(text: &str) -> Vec<String> {
    let mut parts: Vec<&str> = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = &text[start..];
    let last = last.trim_start().strip_prefix("and ").unwrap_or(last);
    match last_and_outside_parentheses(last) {
        Some(at) => {
            parts.push(&last[..at]);
            parts.push(&last[at + " and ".len()..]);
        }
        None => parts.push(last),
    }
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn last_and_outside_parentheses(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut found = None;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ' ' if depth == 0 && text[i..].starts_with(" and ") => found = Some(i),
            _ => {}
        }
    }
    found
}

fn rfc2822(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(text)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const FIXTURE: &[u8] = include_bytes!("../../../tests/fixtures/arxiv_rss.xml");
    const EMPTY: &[u8] = include_bytes!("../../../tests/fixtures/arxiv_rss_empty.xml");

    fn fixture() -> Feed {
        parse(FIXTURE).unwrap()
    }

    fn entry<'a>(feed: &'a Feed, id: &str) -> &'a Entry {
        feed.entries
            .iter()
            .find(|e| e.arxiv_id == id)
            .unwrap_or_else(|| panic!("{id} not in the feed"))
    }

    /// A feed around `items`, as the real one wraps them.
    fn feed_of(items: &str) -> String {
        format!(
            r#"<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">
  <channel><title>cs.LG updates on arXiv.org</title>{items}</channel>
</rss>"#
        )
    }

    #[test]
    fn reads_every_item_of_the_fixture() {
        let feed = fixture();
        assert_eq!(feed.skipped, vec![]);
        let ids: Vec<_> = feed
            .entries
            .iter()
            .map(|e| (e.arxiv_id.as_str(), e.version))
            .collect();
        assert_eq!(
            ids,
            [
                ("2606.13392", Some(1)),
                ("2606.13681", Some(1)),
                ("2606.14012", Some(1)),
                ("2606.14107", Some(1)),
                ("2606.13955", Some(1)),
                ("2606.14230", Some(1)),
                ("2509.08817", Some(3)),
                ("math/0601001", Some(4)),
            ]
        );
        assert_eq!(
            feed.published,
            Some(Utc.with_ymd_and_hms(2026, 6, 12, 4, 0, 0).unwrap())
        );
    }

    #[test]
    fn reads_a_paper_hugging_face_lists_too() {
        let feed = fixture();
        let minimax = entry(&feed, "2606.13392");
        assert_eq!(minimax.title, "MiniMax Sparse Attention");
        assert_eq!(minimax.announce_type, Some(AnnounceType::New));
        assert_eq!(minimax.categories, ["cs.CL", "cs.AI", "cs.LG"]);
        assert!(
            minimax
                .summary
                .starts_with("Ultra-long-context capability is becoming indispensable"),
            "{}",
            minimax.summary
        );
        assert_eq!(minimax.authors.len(), 11);
        assert_eq!(minimax.authors[0], "Xunhao Lai");
        assert_eq!(minimax.authors[10], "Pengyu Zhao");
        assert_eq!(
            minimax.published,
            Some(Utc.with_ymd_and_hms(2026, 6, 12, 4, 0, 0).unwrap())
        );
        assert_eq!(minimax.comment, None);
        assert_eq!(
            entry(&feed, "2606.13681").title,
            "EvoArena: Tracking Memory Evolution for Robust LLM Agents in Dynamic Environments"
        );
    }

    #[test]
    fn tells_announce_types_apart() {
        let feed = fixture();
        let types: Vec<_> = feed.entries.iter().map(|e| e.announce_type).collect();
        use AnnounceType::*;
        assert_eq!(
            types,
            [
                Some(New),
                Some(New),
                Some(New),
                Some(New),
                Some(Cross),
                Some(Cross),
                Some(Replace),
                Some(ReplaceCross),
            ]
        );
        assert!(Replace.is_replacement() && ReplaceCross.is_replacement());
        assert!(!New.is_replacement() && !Cross.is_replacement());
    }

    #[test]
    fn keeps_categories_in_the_feeds_order() {
        let feed = fixture();
        // A cross-list: its primary category is outside cs.LG and cs.CL, and comes first.
        assert_eq!(
            entry(&feed, "2606.13955").categories,
            ["stat.ML", "cs.LG", "math.ST", "stat.TH"]
        );
        assert_eq!(
            entry(&feed, "math/0601001").categories,
            ["math.ST", "cs.LG", "stat.TH"]
        );
    }

    #[test]
    fn unescapes_entities_and_collapses_whitespace() {
        let feed = fixture();
        let e = entry(&feed, "2606.14012");
        assert_eq!(
            e.title,
            "Q&A over Tables: When <50 Tokens Are Enough for Language Models' Reasoning"
        );
        assert!(
            e.summary
                .contains("question & answer pairs with fewer than 50 tokens (<50)"),
            "{}",
            e.summary
        );
        assert!(!e.summary.contains("  ") && !e.summary.contains('\n'));
        let wrapped = entry(&feed, "2606.14107");
        assert_eq!(
            wrapped.title,
            "Sparse Mixtures of Experts Are Domain-Robust Learners: A Study of Routing Under Shift"
        );
    }

    #[test]
    fn splits_authors_on_commas_and_the_last_and() {
        let feed = fixture();
        assert_eq!(
            entry(&feed, "2606.14012").authors,
            [
                "Zoë Müller",
                "José Ángel Núñez",
                "Søren Kierkegård",
                "Łukasz Wróbel"
            ]
        );
        assert_eq!(
            entry(&feed, "math/0601001").authors,
            ["Hélène Dubois", "François Lefèvre"]
        );

        let cases: [(&str, &[&str]); 6] = [
            ("A. Author", &["A. Author"]),
            ("A. Author and B. Author", &["A. Author", "B. Author"]),
            ("A, B, C and D", &["A", "B", "C", "D"]),
            ("A, B, and C", &["A", "B", "C"]),
            (
                "A (MIT, Cambridge), B and C",
                &["A (MIT, Cambridge)", "B", "C"],
            ),
            (
                "Alexander Sand, Fernando Andrade",
                &["Alexander Sand", "Fernando Andrade"],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(split_authors(text), want, "{text}");
        }
    }

    #[test]
    fn an_empty_announcement_is_a_feed_without_entries() {
        let feed = parse(EMPTY).unwrap();
        assert_eq!(feed.entries, vec![]);
        assert_eq!(feed.skipped, vec![]);
        assert_eq!(
            feed.published,
            Some(Utc.with_ymd_and_hms(2026, 6, 13, 4, 0, 0).unwrap())
        );
    }

    #[test]
    fn skips_an_unreadable_item_and_keeps_the_others() {
        let body = feed_of(
            r#"
<item><title>Good one</title><guid isPermaLink="false">oai:arXiv.org:2606.00001v2</guid>
  <description>arXiv:2606.00001v2 Announce Type: new
Abstract: Fine.</description><arxiv:announce_type>new</arxiv:announce_type></item>
<item><title>No id</title><guid isPermaLink="false">oai:arXiv.org:garbage</guid>
  <description>Nothing to see.</description></item>
<item><guid isPermaLink="false">oai:arXiv.org:2606.00003v1</guid>
  <description>arXiv:2606.00003v1 Announce Type: new Abstract: No title.</description></item>
<item><title>Odd kind</title><guid>oai:arXiv.org:2606.00004v1</guid>
  <arxiv:announce_type>replace-new</arxiv:announce_type></item>
<item><title>Also good</title><link>https://arxiv.org/abs/2606.00005</link>
  <description>arXiv:2606.00005v3 Announce Type: cross
Abstract: From the description alone.</description></item>
"#,
        );
        let feed = parse(body.as_bytes()).unwrap();
        let kept: Vec<_> = feed
            .entries
            .iter()
            .map(|e| (e.arxiv_id.as_str(), e.version, e.announce_type))
            .collect();
        assert_eq!(
            kept,
            [
                ("2606.00001", Some(2), Some(AnnounceType::New)),
                ("2606.00005", Some(3), Some(AnnounceType::Cross)),
            ]
        );
        assert_eq!(feed.entries[1].summary, "From the description alone.");
        let skipped: Vec<_> = feed.skipped.iter().map(ToString::to_string).collect();
        assert_eq!(
            skipped,
            [
                "item 2 (oai:arXiv.org:garbage): no arXiv id in <guid>, <description> or <link>",
                "item 3 (oai:arXiv.org:2606.00003v1): no <title>",
                "item 4 (oai:arXiv.org:2606.00004v1): announce type `replace-new` is not new, \
                 cross, replace or replace-cross",
            ]
        );
    }

    #[test]
    fn refuses_a_body_that_is_not_an_rss_feed() {
        let cases: [(&[u8], &str); 5] = [
            (b"", "not an RSS feed: the body holds no XML element"),
            (
                b"<!DOCTYPE html><html><body>Service Unavailable</body></html>",
                "not an RSS feed: the root element is <html>",
            ),
            (
                include_bytes!("../../../tests/fixtures/arxiv_api.xml"),
                "not an RSS feed: the root element is <feed>",
            ),
            (
                b"<rss version=\"2.0\"></rss>",
                "not an RSS feed: <rss> holds no <channel>",
            ),
            (
                b"<rss><channel><item></channel></rss>",
                "not valid XML at byte 20",
            ),
        ];
        for (body, want) in cases {
            let err = parse(body).unwrap_err();
            assert_eq!(err.to_string(), want, "{}", String::from_utf8_lossy(body));
        }
        let err = parse(b"<rss><channel><item></channel></rss>").unwrap_err();
        assert!(std::error::Error::source(&err).is_some());
    }
}
