//! Backfill: one page of `https://export.arxiv.org/api/query` (Atom 1.0 with arXiv and
//! OpenSearch extensions).

use chrono::{DateTime, Utc};

use super::xml::{self, Element};
use super::{Entry, FeedError, Skipped, id_and_version};

/// One page of API results.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// Entries that could not be read; the others are in `entries`.
    pub skipped: Vec<Skipped>,
    /// Results the query has in all, over every page.
    pub total_results: u64,
}

/// Reads one API page. The API reports a bad query as a feed with a single error entry; that is
/// [`FeedError::Api`] with its message.
pub fn parse(body: &[u8]) -> Result<Page, FeedError> {
    let feed = xml::parse(body)?.ok_or(FeedError::Empty { expected: "Atom" })?;
    if feed.name != "feed" {
        return Err(FeedError::WrongRoot {
            expected: "Atom",
            found: feed.name,
        });
    }
    if let Some(message) = feed.children("entry").find_map(api_error) {
        return Err(FeedError::Api { message });
    }
    let number = |element: &'static str| {
        feed.child_text(element)
            .and_then(|n| n.parse().ok())
            .ok_or(FeedError::Paging { element })
    };
    let mut page = Page {
        entries: Vec::new(),
        skipped: Vec::new(),
        total_results: number("totalResults")?,
    };
    for (i, entry) in feed.children("entry").enumerate() {
        match parse_entry(entry) {
            Ok(parsed) => page.entries.push(parsed),
            Err(reason) => page.skipped.push(Skipped {
                position: i + 1,
                id: entry.child_text("id"),
                reason,
            }),
        }
    }
    Ok(page)
}

/// The message of an error entry: its id is `http://arxiv.org/api/errors#<slug>`.
fn api_error(entry: &Element) -> Option<String> {
    let id = entry.child_text("id")?;
    if !id.contains("arxiv.org/api/errors") {
        return None;
    }
    Some(
        entry
            .child_text("summary")
            .unwrap_or_else(|| id.rsplit('#').next().unwrap_or(&id).replace('_', " ")),
    )
}

fn parse_entry(entry: &Element) -> Result<Entry, String> {
    let id = entry.child_text("id").ok_or("no <id>")?;
    let (arxiv_id, version) =
        id_and_version(&id).ok_or_else(|| format!("<id> `{id}` is not an arXiv abstract URL"))?;
    let title = entry.child_text("title").ok_or("no <title>")?;

    let mut categories: Vec<String> = Vec::new();
    let primary = entry
        .child("primary_category")
        .and_then(|p| p.attribute("term"));
    let terms = entry
        .children("category")
        .filter_map(|c| c.attribute("term"));
    for term in primary.into_iter().chain(terms) {
        let term = crate::paper::collapse_whitespace(term);
        if !term.is_empty() && !categories.contains(&term) {
            categories.push(term);
        }
    }

    Ok(Entry {
        arxiv_id,
        version,
        title,
        summary: entry.child_text("summary").unwrap_or_default(),
        authors: entry
            .children("author")
            .filter_map(|a| a.child_text("name"))
            .collect(),
        categories,
        announce_type: None,
        published: entry.child_text("published").and_then(|p| {
            DateTime::parse_from_rfc3339(&p)
                .ok()
                .map(|d| d.with_timezone(&Utc))
        }),
        comment: entry.child_text("comment"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const FIXTURE: &[u8] = include_bytes!("../../../tests/fixtures/arxiv_api.xml");

    /// From the API's user manual: what `id_list=1234.12345` returns.
    const ERROR_FEED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">
  <link xmlns="http://www.w3.org/2005/Atom" href="http://arxiv.org/api/query?search_query=&amp;id_list=1234.12345&amp;start=0&amp;max_results=10" rel="self" type="application/atom+xml"/>
  <title xmlns="http://www.w3.org/2005/Atom">ArXiv Query: search_query=&amp;id_list=1234.12345&amp;start=0&amp;max_results=10</title>
  <id xmlns="http://www.w3.org/2005/Atom">http://arxiv.org/api/kvuntZ8c9a4Eq5CF7KY03nMug+Q</id>
  <updated xmlns="http://www.w3.org/2005/Atom">2007-10-12T00:00:00-04:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1</opensearch:itemsPerPage>
  <entry xmlns="http://www.w3.org/2005/Atom">
    <id xmlns="http://www.w3.org/2005/Atom">http://arxiv.org/api/errors#incorrect_id_format_for_1234.12345</id>
    <title xmlns="http://www.w3.org/2005/Atom">Error</title>
    <summary xmlns="http://www.w3.org/2005/Atom">incorrect id format for 1234.12345</summary>
    <updated xmlns="http://www.w3.org/2005/Atom">2007-10-12T00:00:00-04:00</updated>
    <link xmlns="http://www.w3.org/2005/Atom" href="http://arxiv.org/api/errors#incorrect_id_format_for_1234.12345" rel="alternate" type="text/html"/>
    <author xmlns="http://www.w3.org/2005/Atom">
      <name xmlns="http://www.w3.org/2005/Atom">arXiv api core</name>
    </author>
  </entry>
</feed>"#;

    fn page_of(paging: &str, entries: &str) -> String {
        format!(
            r#"<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom">{paging}{entries}</feed>"#
        )
    }

    const PAGING: &str = "<opensearch:itemsPerPage>100</opensearch:itemsPerPage>\
        <opensearch:totalResults>250</opensearch:totalResults>\
        <opensearch:startIndex>200</opensearch:startIndex>";

    #[test]
    fn reads_the_sample_page() {
        let page = parse(FIXTURE).unwrap();
        assert_eq!(page.skipped, vec![]);
        assert_eq!(page.total_results, 28946);
        let ids: Vec<_> = page
            .entries
            .iter()
            .map(|e| (e.arxiv_id.as_str(), e.version))
            .collect();
        assert_eq!(
            ids,
            [
                ("2606.13677", Some(1)),
                ("2606.13591", Some(1)),
                ("2606.13568", Some(1)),
                ("2606.13515", Some(1)),
                ("2606.13501", Some(1)),
            ]
        );

        let mana = &page.entries[0];
        assert_eq!(
            mana.title,
            "Mana: Dexterous Manipulation of Articulated Tools"
        );
        assert_eq!(
            mana.authors,
            [
                "Zhao-Heng Yin",
                "Guanya Shi",
                "Pieter Abbeel",
                "C. Karen Liu"
            ]
        );
        assert_eq!(
            mana.published,
            Some(Utc.with_ymd_and_hms(2026, 6, 11, 17, 59, 49).unwrap())
        );
        assert_eq!(
            mana.comment.as_deref(),
            Some("Project Page: https://zhaohengyin.github.io/mana")
        );
        assert_eq!(mana.announce_type, None);
        assert!(
            mana.summary
                .contains("functional affordances (<1 minute per tool)."),
            "{}",
            mana.summary
        );
    }

    #[test]
    fn puts_the_primary_category_first_once() {
        let page = parse(FIXTURE).unwrap();
        let categories: Vec<_> = page.entries.iter().map(|e| e.categories.clone()).collect();
        assert_eq!(
            categories,
            [
                vec!["cs.RO", "cs.AI", "cs.CV", "cs.LG"],
                vec!["cs.AI", "cs.LG", "cs.MA"],
                vec!["cs.LG", "math-ph"],
                vec!["cs.CV", "cs.LG", "cs.RO"],
                vec!["cs.DC", "cs.LG", "cs.PF"],
            ]
        );
        let body = page_of(
            PAGING,
            r#"<entry><id>http://arxiv.org/abs/2606.00001v1</id><title>T</title>
                <category term="cs.LG"/><category term="stat.ML"/>
                <arxiv:primary_category term="stat.ML"/></entry>"#,
        );
        let page = parse(body.as_bytes()).unwrap();
        assert_eq!(page.entries[0].categories, ["stat.ML", "cs.LG"]);
    }

    #[test]
    fn collapses_the_abstracts_line_breaks() {
        let page = parse(FIXTURE).unwrap();
        let dit = &page.entries[4];
        assert!(
            dit.summary
                .contains("degraded service quality. This paper argues"),
            "{}",
            dit.summary
        );
        assert!(dit.summary.ends_with("approximately 60 $μ$s."));
    }

    #[test]
    fn reads_paging_comments_and_old_style_ids() {
        let body = page_of(
            PAGING,
            r#"<entry><id>http://arxiv.org/abs/hep-th/9901001v3</id>
                <title>Old
                   style</title><arxiv:doi>10.1103/PhysRevD.59.1</arxiv:doi>
                <arxiv:comment>12 pages, &lt;b&gt;LaTeX&lt;/b&gt;</arxiv:comment></entry>"#,
        );
        let page = parse(body.as_bytes()).unwrap();
        assert_eq!(page.total_results, 250);
        let e = &page.entries[0];
        assert_eq!(
            (e.arxiv_id.as_str(), e.version),
            ("hep-th/9901001", Some(3))
        );
        assert_eq!(e.title, "Old style");
        assert_eq!(e.comment.as_deref(), Some("12 pages, <b>LaTeX</b>"));
        assert_eq!(e.categories, Vec::<String>::new());
    }

    #[test]
    fn a_page_past_the_end_has_no_entries() {
        let page = parse(page_of(PAGING, "").as_bytes()).unwrap();
        assert_eq!(page.entries, vec![]);
        assert_eq!(page.total_results, 250);
    }

    #[test]
    fn skips_an_unreadable_entry_and_keeps_the_others() {
        let body = page_of(
            PAGING,
            r#"<entry><id>http://arxiv.org/abs/2606.00001v1</id><title>One</title></entry>
               <entry><id>http://example.org/nope</id><title>Two</title></entry>
               <entry><title>Three</title></entry>
               <entry><id>http://arxiv.org/abs/2606.00004v2</id><title> </title></entry>
               <entry><id>http://arxiv.org/abs/2606.00005v1</id><title>Five</title></entry>"#,
        );
        let page = parse(body.as_bytes()).unwrap();
        let kept: Vec<_> = page.entries.iter().map(|e| e.title.as_str()).collect();
        assert_eq!(kept, ["One", "Five"]);
        let skipped: Vec<_> = page.skipped.iter().map(ToString::to_string).collect();
        assert_eq!(
            skipped,
            [
                "item 2 (http://example.org/nope): <id> `http://example.org/nope` is not an arXiv \
                 abstract URL",
                "item 3: no <id>",
                "item 4 (http://arxiv.org/abs/2606.00004v2): no <title>",
            ]
        );
    }

    #[test]
    fn returns_the_apis_error_message() {
        let err = parse(ERROR_FEED.as_bytes()).unwrap_err();
        assert!(
            matches!(&err, FeedError::Api { message } if message == "incorrect id format for 1234.12345"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "the API reported: incorrect id format for 1234.12345"
        );
    }

    #[test]
    fn refuses_what_is_not_an_api_page() {
        let err = parse(include_bytes!("../../../tests/fixtures/arxiv_rss.xml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not an Atom feed: the root element is <rss>"
        );
        let err = parse(page_of("", "").as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not an arXiv API page: <opensearch:totalResults> is missing or not a number"
        );
        let err = parse(b"").unwrap_err();
        assert_eq!(
            err.to_string(),
            "not an Atom feed: the body holds no XML element"
        );
    }
}
