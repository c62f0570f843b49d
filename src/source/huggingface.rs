//! Hugging Face Daily Papers: `GET {base_url}/api/daily_papers?date=YYYY-MM-DD&limit=100&p=N`.
//!
//! The look-back window asks for today and the days before by date (weekends return `[]`),
//! plus the latest list that has papers (the same path without `date`), so that a Monday
//! morning or a holiday still has papers for a first digest. A backfill asks for every day
//! since. Each page is asked conditionally; a page unchanged since the last fetch brings
//! nothing (its papers and upvotes are stored already) and ends its list.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;

use super::http::{Fetched, Fetcher, Get, Validators};
use super::{BoxFuture, FetchRequest, PaperSource, SourceError, SourceFetch};
use crate::config::HuggingFaceConfig;
use crate::paper::{Paper, collapse_whitespace, normalize_arxiv_id};

const NAME: &str = "huggingface";
const PAGE_SIZE: usize = 100;
/// A bound on paging, should the service ever keep returning full pages.
const MAX_PAGES: usize = 20;

pub struct HuggingFace {
    config: HuggingFaceConfig,
}

impl HuggingFace {
    pub fn new(config: HuggingFaceConfig) -> Self {
        HuggingFace { config }
    }

    async fn fetch_all(
        &self,
        fetcher: &Fetcher,
        request: &FetchRequest<'_>,
    ) -> Result<SourceFetch, SourceError> {
        let today = request.now.date_naive();
        let days_back = match request.since {
            Some(since) => (today - since).num_days().max(0) + 1,
            None => i64::from(self.config.lookback_days),
        };
        let mut lists: Vec<Option<NaiveDate>> = (0..days_back)
            .map(|back| Some(today - Duration::days(back)))
            .collect();
        lists.push(None);

        // Keyed by arXiv id: the same paper is often listed on two days. Later lists win, but
        // the order of first appearance is kept so results are stable.
        let mut papers: HashMap<String, usize> = HashMap::new();
        let mut ordered: Vec<Paper> = Vec::new();
        let mut first_error = None;
        let mut any_ok = false;
        let mut validators = Vec::new();
        for date in lists {
            match self.fetch_list(fetcher, request, date).await {
                Ok((list, list_validators)) => {
                    any_ok = true;
                    validators.extend(list_validators);
                    for paper in list {
                        match papers.get(&paper.arxiv_id) {
                            Some(&i) => ordered[i] = paper,
                            None => {
                                papers.insert(paper.arxiv_id.clone(), ordered.len());
                                ordered.push(paper);
                            }
                        }
                    }
                }
                // Asked to wait: the other lists would only be refused too.
                Err(e @ SourceError::Throttled { .. }) => {
                    tracing::warn!(source = NAME, "{e}");
                    first_error.get_or_insert(e);
                    break;
                }
                Err(e) => {
                    tracing::warn!(source = NAME, "{e}");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if !any_ok => Err(e),
            _ => Ok(SourceFetch {
                papers: ordered,
                validators,
            }),
        }
    }

    /// One list (a date, or the latest), page by page until a short page or one unchanged
    /// since the last fetch, with the validators of the pages answered: kept only if the
    /// whole list is, so that a page is never skipped as unchanged when its papers were lost.
    /// A list unchanged on its first page is taken as unchanged: a day's list is one page
    /// (under 100 papers) in practice.
    async fn fetch_list(
        &self,
        fetcher: &Fetcher,
        request: &FetchRequest<'_>,
        date: Option<NaiveDate>,
    ) -> Result<(Vec<Paper>, Vec<(String, Validators)>), SourceError> {
        let mut validators = Vec::new();
        let mut papers = Vec::new();
        let mut seen = HashSet::new();
        for page in 0..MAX_PAGES {
            let mut url = format!(
                "{}/api/daily_papers?limit={PAGE_SIZE}&p={page}",
                self.config.base_url
            );
            if let Some(date) = date {
                url.push_str(&format!("&date={}", date.format("%Y-%m-%d")));
            }
            let Some(items) = self
                .get_page(fetcher, request, &url, &mut validators)
                .await?
            else {
                break;
            };
            let count = items.len();
            let before = papers.len();
            for paper in items.into_iter().filter_map(|item| parse_item(item, &url)) {
                if seen.insert(paper.arxiv_id.clone()) {
                    papers.push(paper);
                }
            }
            // A short page ends the list; so does a page with nothing new, from a server that
            // ignores `p` and returns the same page every time.
            if count < PAGE_SIZE || papers.len() == before {
                break;
            }
        }
        Ok((papers, validators))
    }

    /// One page's items; `None` when it is unchanged since the last fetch.
    async fn get_page(
        &self,
        fetcher: &Fetcher,
        request: &FetchRequest<'_>,
        url: &str,
        validators: &mut Vec<(String, Validators)>,
    ) -> Result<Option<Vec<serde_json::Value>>, SourceError> {
        let get = Get {
            validators: request.validators_for(url),
            bearer_token: self.config.token.as_ref().map(|t| t.expose()),
            ..Get::new(url, self.config.timeout)
        };
        let (body, page_validators) = match fetcher.get(get).await? {
            Fetched::NotModified => return Ok(None),
            Fetched::Body { body, validators } => (body, validators),
        };
        let items = parse_page(&body, url)?;
        validators.push((url.to_string(), page_validators));
        Ok(Some(items))
    }
}

impl PaperSource for HuggingFace {
    fn name(&self) -> &'static str {
        NAME
    }

    fn fetch<'a>(
        &'a self,
        fetcher: &'a Fetcher,
        request: &'a FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<SourceFetch, SourceError>> {
        Box::pin(self.fetch_all(fetcher, request))
    }
}

#[derive(Deserialize)]
struct Item {
    paper: ItemPaper,
    #[serde(rename = "numComments", default)]
    num_comments: u32,
}

#[derive(Deserialize)]
struct ItemPaper {
    id: String,
    title: String,
    summary: String,
    authors: Vec<Author>,
    #[serde(default)]
    upvotes: u32,
    #[serde(rename = "publishedAt", default)]
    published_at: Option<DateTime<Utc>>,
    #[serde(rename = "githubRepo", default)]
    github_repo: Option<String>,
    #[serde(rename = "githubStars", default)]
    github_stars: Option<u32>,
    #[serde(rename = "projectPage", default)]
    project_page: Option<String>,
    #[serde(default)]
    ai_summary: Option<String>,
    #[serde(default)]
    ai_keywords: Vec<String>,
    #[serde(default)]
    organization: Option<Organization>,
}

#[derive(Deserialize)]
struct Author {
    name: String,
}

#[derive(Deserialize)]
struct Organization {
    #[serde(default)]
    fullname: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// A page's items. Bytes that are not UTF-8 (a title mangled upstream) are replaced, with a
/// warning, rather than losing the whole page to one character.
fn parse_page(body: &[u8], url: &str) -> Result<Vec<serde_json::Value>, SourceError> {
    let text = String::from_utf8_lossy(body);
    if matches!(text, std::borrow::Cow::Owned(_)) {
        tracing::warn!(
            source = NAME,
            %url,
            "the response is not valid UTF-8; the bytes that are not were replaced"
        );
    }
    serde_json::from_str::<Vec<serde_json::Value>>(&text).map_err(|e| SourceError::Malformed {
        source_name: NAME,
        url: url.to_string(),
        source: Box::new(e),
    })
}

/// One item of a list; `None` (with a warning naming it) when it lacks what a digest needs.
fn parse_item(value: serde_json::Value, url: &str) -> Option<Paper> {
    let id = value
        .pointer("/paper/id")
        .and_then(|v| v.as_str())
        .unwrap_or("(no id)")
        .to_string();
    let item: Item = match serde_json::from_value(value) {
        Ok(item) => item,
        Err(e) => {
            tracing::warn!(source = NAME, %url, "skipping paper {id}: {e}");
            return None;
        }
    };
    let p = item.paper;
    let Some(arxiv_id) = normalize_arxiv_id(&p.id) else {
        tracing::warn!(source = NAME, %url, "skipping paper {id}: not an arXiv id");
        return None;
    };
    let title = collapse_whitespace(&p.title);
    if title.is_empty() {
        tracing::warn!(source = NAME, %url, "skipping paper {id}: empty title");
        return None;
    }
    Some(Paper {
        arxiv_id,
        title,
        summary: collapse_whitespace(&p.summary),
        authors: p
            .authors
            .into_iter()
            .map(|a| collapse_whitespace(&a.name))
            .filter(|name| !name.is_empty())
            .collect(),
        categories: Vec::new(),
        published_at: p.published_at,
        upvotes: Some(p.upvotes),
        num_comments: item.num_comments,
        github_repo: p.github_repo.filter(|s| is_web_link(s)),
        github_stars: p.github_stars,
        project_page: p.project_page.filter(|s| is_web_link(s)),
        ai_summary: p
            .ai_summary
            .map(|s| collapse_whitespace(&s))
            .filter(|s| !s.is_empty()),
        ai_keywords: p.ai_keywords,
        organization: p.organization.and_then(|o| o.fullname.or(o.name)),
    })
}

/// Links go into emails: only plain web links, never `javascript:` or the like.
fn is_web_link(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_field_of_a_recorded_item() {
        let items: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../../tests/fixtures/hf_daily_papers.json"))
                .unwrap();
        let papers: Vec<Paper> = items
            .into_iter()
            .filter_map(|i| parse_item(i, "test"))
            .collect();
        assert_eq!(papers.len(), 30);
        let first = &papers[0];
        assert_eq!(first.arxiv_id, "2606.00467");
        assert!(first.title.starts_with("On the Limits of LLM Adaptability"));
        assert_eq!(first.authors[..2], ["Etienne Casanova", "Rafal Kocielnik"]);
        assert_eq!(first.num_comments, 2);
        assert_eq!(
            first.organization.as_deref(),
            Some("California institute of technology")
        );
        assert!(
            first
                .ai_summary
                .as_deref()
                .unwrap()
                .starts_with("Large language models")
        );
        assert!(
            papers
                .iter()
                .any(|p| p.github_repo.is_some() && p.github_stars.is_some())
        );
        assert!(papers.iter().any(|p| p.project_page.is_some()));
    }

    mod fuzz {
        //! The page parser never panics (issue 11, promise 4): on arbitrary bytes, on the
        //! recorded list mutated, and on items whose fields hold any JSON value.
        use super::*;
        use proptest::prelude::*;

        const PAGE: &[u8] = include_bytes!("../../tests/fixtures/hf_daily_papers.json");

        /// What a page comes to, as `fetch_list` reads it.
        fn read(body: &[u8]) -> usize {
            match parse_page(body, "fuzz") {
                Ok(items) => items
                    .into_iter()
                    .filter_map(|item| parse_item(item, "fuzz"))
                    .count(),
                Err(_) => 0,
            }
        }

        fn json_value() -> impl Strategy<Value = serde_json::Value> {
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<f64>().prop_map(serde_json::Value::from),
                any::<String>().prop_map(serde_json::Value::from),
                prop::sample::select(vec![
                    "2606.00001",
                    "2606.00001v3",
                    "arXiv:2606.00001",
                    "",
                    " ",
                    "https://x",
                    "javascript:alert(1)",
                    "2026-06-12T00:00:00.000Z",
                    "0000.00000",
                ])
                .prop_map(serde_json::Value::from),
            ];
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                    prop::collection::vec((any::<String>(), inner), 0..4)
                        .prop_map(|fields| serde_json::Value::Object(fields.into_iter().collect())),
                ]
            })
        }

        /// The fields of an item, each replaced by any value or left out.
        fn item() -> impl Strategy<Value = serde_json::Value> {
            let field = || prop::option::of(json_value());
            (
                field(),
                field(),
                field(),
                field(),
                field(),
                field(),
                field(),
                field(),
            )
                .prop_map(
                    |(id, title, summary, authors, upvotes, published, repo, organization)| {
                        let mut paper = serde_json::Map::new();
                        for (key, value) in [
                            ("id", id),
                            ("title", title),
                            ("summary", summary),
                            ("authors", authors),
                            ("upvotes", upvotes),
                            ("publishedAt", published),
                            ("githubRepo", repo),
                            ("organization", organization),
                        ] {
                            if let Some(value) = value {
                                paper.insert(key.to_string(), value);
                            }
                        }
                        serde_json::json!({ "paper": paper, "numComments": 1 })
                    },
                )
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

            #[test]
            fn any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
                read(&bytes);
            }

            #[test]
            fn the_recorded_page_mutated(
                edits in prop::collection::vec((any::<usize>(), any::<u8>(), 0usize..4), 1..6)
            ) {
                let mut body = PAGE.to_vec();
                for (at, byte, kind) in edits {
                    let at = at % body.len().max(1);
                    match kind {
                        0 => body[at] = byte,
                        1 => { body.remove(at); }
                        2 => body.insert(at, byte),
                        _ => body.truncate(at),
                    }
                    if body.is_empty() {
                        break;
                    }
                }
                read(&body);
            }

            #[test]
            fn items_with_any_values_in_their_fields(items in prop::collection::vec(item(), 0..8)) {
                let body = serde_json::Value::from(items).to_string();
                read(body.as_bytes());
            }
        }

        #[test]
        fn the_generated_items_are_sometimes_papers() {
            use proptest::strategy::ValueTree;
            use proptest::test_runner::TestRunner;
            let mut runner = TestRunner::deterministic();
            let mut good = serde_json::json!({"paper": {"id": "2606.00001", "title": "t",
                "summary": "s", "authors": []}});
            assert_eq!(
                read(
                    serde_json::Value::from(vec![good.clone()])
                        .to_string()
                        .as_bytes()
                ),
                1
            );
            let mut kept = 0;
            for _ in 0..300 {
                let mut item = item().new_tree(&mut runner).unwrap().current();
                // Keep the required fields valid, one field at a time left random.
                for key in ["id", "title", "summary", "authors"] {
                    if item["paper"].get(key).is_none() {
                        item["paper"][key] = good["paper"][key].clone();
                    }
                }
                kept += read(serde_json::Value::from(vec![item]).to_string().as_bytes());
            }
            good["paper"]["upvotes"] = serde_json::json!(-1);
            assert_eq!(
                read(serde_json::Value::from(vec![good]).to_string().as_bytes()),
                0
            );
            assert!(kept > 0, "no generated item was a paper");
        }
    }

    #[test]
    fn skips_an_item_missing_a_required_field() {
        let item =
            serde_json::json!({"paper": {"id": "2601.00001", "summary": "s", "authors": []}});
        assert!(parse_item(item, "test").is_none());
        let item = serde_json::json!({"paper": {"id": "not-an-id", "title": "t", "summary": "s", "authors": []}});
        assert!(parse_item(item, "test").is_none());
        let item = serde_json::json!({"paper": {"id": "2601.00001v2", "title": " A\n title ", "summary": "s", "authors": [{"name": "X"}], "upvotes": 4}, "unknown": 1});
        let paper = parse_item(item, "test").unwrap();
        assert_eq!(
            (
                paper.arxiv_id.as_str(),
                paper.title.as_str(),
                paper.upvotes.unwrap_or_default()
            ),
            ("2601.00001", "A title", 4)
        );
    }
}
