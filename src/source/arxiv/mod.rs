//! arXiv: the daily announcement from rss.arxiv.org (`rss`) and backfill from the
//! export.arxiv.org API (`atom`). Both parsers are pure: bytes in, entries out; [`Arxiv`]
//! is the source that asks for them.
//!
//! arXiv asks for at most one request every 3 seconds and announces Sunday to Thursday
//! evenings, US Eastern time. The calendar is not predicted: every fetch asks for the feed,
//! conditionally, and a day without an announcement costs one 304 (or an empty feed).

pub mod atom;
pub mod rss;
mod xml;

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use super::http::{Fetched, Fetcher, Get, Spacing};
use super::{BoxFuture, FetchRequest, PaperSource, SourceError, SourceFetch};
use crate::config::ArxivConfig;
use crate::paper::{Paper, normalize_arxiv_id};

const NAME: &str = "arxiv";
/// arXiv's rule for automated access, across its hosts (rss., export.) and every job.
const SPACING: Spacing = Spacing {
    group: "arxiv",
    interval: Duration::from_secs(3),
};
/// Results per API page: arXiv suggests asking for no more than 2000 at once; smaller pages
/// stop sooner once the backfill has gone past its first day.
const PAGE_SIZE: u64 = 200;
/// A bound on paging, should the API keep returning pages: 60,000 papers.
const MAX_PAGES: u64 = 300;

/// The arXiv source: the daily announcement of the configured categories, and with
/// `fetch --since` the API's listing back to that day.
pub struct Arxiv {
    config: ArxivConfig,
}

impl Arxiv {
    pub fn new(config: ArxivConfig) -> Arxiv {
        Arxiv { config }
    }

    /// The feed of every configured category, in one request.
    fn rss_url(&self) -> String {
        format!(
            "{}/{}",
            self.config.rss_url,
            self.config.categories.join("+")
        )
    }

    async fn fetch_all(
        &self,
        fetcher: &Fetcher,
        request: &FetchRequest<'_>,
    ) -> Result<SourceFetch, SourceError> {
        let mut fetched = SourceFetch::default();
        let announcement = self.announcement(fetcher, request, &mut fetched).await;
        let Some(since) = request.since else {
            return announcement.map(|()| fetched);
        };
        // A backfill is worth having even when today's feed failed, and the reverse.
        let known: HashSet<String> = fetched.papers.iter().map(|p| p.arxiv_id.clone()).collect();
        let (listed, backfill) = self.backfill(fetcher, since).await;
        fetched
            .papers
            .extend(listed.into_iter().filter(|p| !known.contains(&p.arxiv_id)));
        match (announcement, backfill) {
            (Err(e), Err(_)) => Err(e),
            (Err(e), Ok(())) | (Ok(()), Err(e)) => {
                tracing::warn!(source = NAME, "keeping what came: {e}");
                Ok(fetched)
            }
            (Ok(()), Ok(())) => Ok(fetched),
        }
    }

    /// Today's announcement, into `fetched`: new papers and cross-lists, and replacements
    /// if configured.
    async fn announcement(
        &self,
        fetcher: &Fetcher,
        request: &FetchRequest<'_>,
        fetched: &mut SourceFetch,
    ) -> Result<(), SourceError> {
        let url = self.rss_url();
        let get = Get {
            validators: request.validators_for(&url),
            spacing: Some(SPACING),
            ..Get::new(&url, self.config.timeout)
        };
        let (body, validators) = match fetcher.get(get).await? {
            Fetched::NotModified => {
                tracing::debug!(source = NAME, "no new announcement");
                return Ok(());
            }
            Fetched::Body { body, validators } => (body, validators),
        };
        let feed = rss::parse(&body).map_err(|e| malformed(&url, e))?;
        for skipped in &feed.skipped {
            tracing::warn!(source = NAME, %url, "skipping {skipped}");
        }
        let wanted = |entry: &Entry| {
            self.config.include_replacements
                || !entry
                    .announce_type
                    .is_some_and(AnnounceType::is_replacement)
        };
        fetched.papers = feed
            .entries
            .into_iter()
            .filter(wanted)
            .map(Entry::into_paper)
            .collect();
        fetched.validators.push((url, validators));
        Ok(())
    }

    /// The papers of the configured categories submitted since the day before `since` (the
    /// announcement of a day holds what was submitted from the afternoon before, US Eastern
    /// time), from the API, newest first, page by page until the listing passes that. A
    /// failing page ends the backfill with the papers listed so far.
    async fn backfill(
        &self,
        fetcher: &Fetcher,
        since: NaiveDate,
    ) -> (Vec<Paper>, Result<(), SourceError>) {
        let from = since - chrono::Duration::days(1);
        let query = self
            .config
            .categories
            .iter()
            .map(|c| format!("cat:{c}"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let mut papers = Vec::new();
        let mut seen = HashSet::new();
        for page in 0..MAX_PAGES {
            let start = page * PAGE_SIZE;
            let listing = match self.listing_page(fetcher, &query, start).await {
                Ok(listing) => listing,
                Err(e) => return (papers, Err(e)),
            };
            let count = listing.entries.len() as u64;
            let before = papers.len();
            let mut passed = false;
            for entry in listing.entries {
                if entry.published.is_some_and(|p| p.date_naive() < from) {
                    passed = true;
                    continue;
                }
                if seen.insert(entry.arxiv_id.clone()) {
                    papers.push(entry.into_paper());
                }
            }
            tracing::info!(source = NAME, start, listed = count, "backfill page");
            let total = listing.total_results;
            // The listing is newest first: past `from` it is done. A short page is the last
            // (the API is known to answer one now and then mid-listing: say so), and so is one
            // with nothing new, from a server that ignores `start`.
            if !passed && count < PAGE_SIZE && start + count < total {
                tracing::warn!(
                    source = NAME,
                    "the API's listing ended at {} of {total}; the rest stays unfilled",
                    start + count
                );
            }
            if passed || count < PAGE_SIZE || papers.len() == before || start + count >= total {
                break;
            }
        }
        (papers, Ok(()))
    }

    /// One page of the API's listing of `query`, from `start`.
    async fn listing_page(
        &self,
        fetcher: &Fetcher,
        query: &str,
        start: u64,
    ) -> Result<atom::Page, SourceError> {
        let mut url = reqwest::Url::parse(&self.config.api_url)
            .map_err(|e| malformed(&self.config.api_url, e))?;
        url.query_pairs_mut()
            .append_pair("search_query", query)
            .append_pair("sortBy", "submittedDate")
            .append_pair("sortOrder", "descending")
            .append_pair("start", &start.to_string())
            .append_pair("max_results", &PAGE_SIZE.to_string());
        let url = url.to_string();
        let get = Get {
            spacing: Some(SPACING),
            ..Get::new(&url, self.config.timeout)
        };
        // Listings are not asked conditionally (they change with every submission), so
        // there is no 304 to expect.
        let Fetched::Body { body, .. } = fetcher.get(get).await? else {
            return Ok(atom::Page::default());
        };
        let listing = atom::parse(&body).map_err(|e| malformed(&url, e))?;
        for skipped in &listing.skipped {
            tracing::warn!(source = NAME, %url, "skipping {skipped}");
        }
        Ok(listing)
    }
}

/// How many ids one API request looks up; arXiv's `id_list` takes many, a URL does not.
const LOOKUP_BATCH: usize = 100;

/// Looks papers up by arXiv id through the API at `api_url` (`id_list=`), a batch per request,
/// spaced as every arXiv request is. Ids the API does not know are simply absent from the
/// answer; the caller says which are missing.
pub async fn look_up(
    fetcher: &Fetcher,
    api_url: &str,
    timeout: Duration,
    ids: &[String],
) -> Result<Vec<Paper>, SourceError> {
    let mut papers = Vec::with_capacity(ids.len());
    for batch in ids.chunks(LOOKUP_BATCH) {
        let mut url = reqwest::Url::parse(api_url).map_err(|e| malformed(api_url, e))?;
        url.query_pairs_mut()
            .append_pair("id_list", &batch.join(","))
            .append_pair("max_results", &batch.len().to_string());
        let url = url.to_string();
        let get = Get {
            spacing: Some(SPACING),
            ..Get::new(&url, timeout)
        };
        let Fetched::Body { body, .. } = fetcher.get(get).await? else {
            continue;
        };
        let page = atom::parse(&body).map_err(|e| malformed(&url, e))?;
        for skipped in &page.skipped {
            tracing::warn!(source = NAME, %url, "skipping {skipped}");
        }
        papers.extend(page.entries.into_iter().map(Entry::into_paper));
    }
    Ok(papers)
}

impl PaperSource for Arxiv {
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

/// The code and project links an arXiv comment names ("Code: https://github.com/…",
/// "Project page: https://…"): the first GitHub link, and the first other web link.
fn links(comment: &str) -> (Option<String>, Option<String>) {
    let urls = comment
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '(' || c == ')')
        .filter(|w| w.starts_with("https://") || w.starts_with("http://"))
        .map(|w| w.trim_end_matches(['.', ':']).to_string());
    let (github, other): (Vec<String>, Vec<String>) =
        urls.partition(|u| u.contains("://github.com/"));
    (github.into_iter().next(), other.into_iter().next())
}

fn malformed(url: &str, error: impl std::error::Error + Send + Sync + 'static) -> SourceError {
    SourceError::Malformed {
        source_name: NAME,
        url: url.to_string(),
        source: Box::new(error),
    }
}

impl Entry {
    /// The paper as the rest of Paperboy knows it: no upvotes known (arXiv has none), so
    /// Hugging Face's, should it list the paper, fill them in.
    pub fn into_paper(self) -> Paper {
        let (github_repo, project_page) = links(self.comment.as_deref().unwrap_or(""));
        Paper {
            github_repo,
            project_page,
            summary: self.summary,
            authors: self.authors,
            categories: self.categories,
            published_at: self.published,
            ..Paper::new(&self.arxiv_id, &self.title)
        }
    }
}

/// One paper as an arXiv feed lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Without version: `2606.13677`, `hep-th/9901001`.
    pub arxiv_id: String,
    pub version: Option<u32>,
    pub title: String,
    /// The abstract.
    pub summary: String,
    pub authors: Vec<String>,
    /// The primary category first where the feed says which it is (the API does; RSS lists
    /// them in arXiv's order, which starts with the primary one).
    pub categories: Vec<String>,
    /// Only the RSS feed says why a paper is in today's announcement.
    pub announce_type: Option<AnnounceType>,
    /// Atom: first version submitted. RSS: the announcement day.
    pub published: Option<DateTime<Utc>>,
    /// The authors' comment (pages, venue, project page); only the API carries it.
    pub comment: Option<String>,
}

/// Why a paper is in an announcement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnounceType {
    /// First announced today in one of the feed's categories.
    New,
    /// New today, listed in one of the feed's categories from another primary category.
    Cross,
    /// A new version of a paper announced before.
    Replace,
    /// A new version of a paper cross-listed before.
    ReplaceCross,
}

impl AnnounceType {
    /// The value of `<arxiv:announce_type>`.
    pub fn parse(text: &str) -> Option<AnnounceType> {
        match text {
            "new" => Some(AnnounceType::New),
            "cross" => Some(AnnounceType::Cross),
            "replace" => Some(AnnounceType::Replace),
            "replace-cross" => Some(AnnounceType::ReplaceCross),
            _ => None,
        }
    }

    pub fn is_replacement(self) -> bool {
        matches!(self, AnnounceType::Replace | AnnounceType::ReplaceCross)
    }
}

/// An item or entry that was left out, so the caller can warn and go on.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// 1-based, in document order.
    pub position: usize,
    /// The item's guid or entry's id, when it has one.
    pub id: Option<String>,
    pub reason: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "item {} ({id}): {}", self.position, self.reason),
            None => write!(f, "item {}: {}", self.position, self.reason),
        }
    }
}

/// Why a body yielded no entries at all.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("not valid XML at byte {position}")]
    Xml {
        position: u64,
        #[source]
        source: quick_xml::Error,
    },
    #[error("the document ends inside <{element}>: the download was cut off")]
    Truncated { element: String },
    #[error("not an arXiv feed: elements nest more than {depth} deep at byte {position}")]
    TooDeep { position: u64, depth: usize },
    #[error("not an {expected} feed: the body holds no XML element")]
    Empty { expected: &'static str },
    #[error("not an {expected} feed: the root element is <{found}>")]
    WrongRoot {
        expected: &'static str,
        found: String,
    },
    #[error("not an RSS feed: <rss> holds no <channel>")]
    NoChannel,
    #[error("not an arXiv API page: <opensearch:{element}> is missing or not a number")]
    Paging { element: &'static str },
    #[error("the API reported: {message}")]
    Api { message: String },
}

/// The id without version and the version, from any shape the feeds write an id in
/// (`http://arxiv.org/abs/2606.13677v1`, `arXiv:2606.13677v1`, `hep-th/9901001v2`).
fn id_and_version(raw: &str) -> Option<(String, Option<u32>)> {
    let raw = raw.trim();
    let id = normalize_arxiv_id(raw)?;
    let after = &raw[raw.rfind(id.as_str())? + id.len()..];
    let version = match after.strip_prefix('v') {
        Some(digits) => Some(digits.parse().ok()?),
        None if after.is_empty() => None,
        None => return None,
    };
    Some((id, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comment_gives_the_code_and_project_links() {
        assert_eq!(
            links("Project Page: https://zhaohengyin.github.io/mana"),
            (None, Some("https://zhaohengyin.github.io/mana".into()))
        );
        assert_eq!(
            links("12 pages. Code: https://github.com/a/b. Demo (https://a.org/x);"),
            (
                Some("https://github.com/a/b".into()),
                Some("https://a.org/x".into())
            )
        );
        assert_eq!(links("Accepted at ICML 2026"), (None, None));
    }

    #[test]
    fn splits_ids_from_versions() {
        let cases = [
            (
                "http://arxiv.org/abs/2606.13677v1",
                Some(("2606.13677", Some(1))),
            ),
            ("arXiv:2606.13392v12", Some(("2606.13392", Some(12)))),
            ("2606.13392", Some(("2606.13392", None))),
            (
                "http://arxiv.org/abs/hep-th/9901001v2",
                Some(("hep-th/9901001", Some(2))),
            ),
            ("math/0601001v1", Some(("math/0601001", Some(1)))),
            ("solv-int/9901001", Some(("solv-int/9901001", None))),
            ("2606.13392vx", None),
            ("2606.13392v99999999999", None),
            ("not an id", None),
        ];
        for (raw, want) in cases {
            let want = want.map(|(id, v)| (id.to_string(), v));
            assert_eq!(id_and_version(raw), want, "{raw:?}");
        }
    }
}
