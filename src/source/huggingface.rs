//! Hugging Face Daily Papers: `GET {base_url}/api/daily_papers?date=YYYY-MM-DD&limit=100&p=N`.
//!
//! The look-back window asks for today and the days before by date (weekends return `[]`),
//! plus the latest list that has papers (the same path without `date`), so that a Monday
//! morning or a holiday still has papers for a first digest.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;

use super::{BoxFuture, PaperSource, SourceError};
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
        http: &reqwest::Client,
        now: DateTime<Utc>,
    ) -> Result<Vec<Paper>, SourceError> {
        let today = now.date_naive();
        let mut lists: Vec<Option<NaiveDate>> = (0..self.config.lookback_days)
            .map(|back| Some(today - Duration::days(back.into())))
            .collect();
        lists.push(None);

        // Keyed by arXiv id: the same paper is often listed on two days. Later lists win, but
        // the order of first appearance is kept so results are stable.
        let mut papers: HashMap<String, usize> = HashMap::new();
        let mut ordered: Vec<Paper> = Vec::new();
        let mut first_error = None;
        let mut any_ok = false;
        for date in lists {
            match self.fetch_list(http, date).await {
                Ok(list) => {
                    any_ok = true;
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
                Err(e) => {
                    tracing::warn!(source = NAME, "{e}");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if !any_ok => Err(e),
            _ => Ok(ordered),
        }
    }

    /// One list (a date, or the latest), page by page until a short page.
    async fn fetch_list(
        &self,
        http: &reqwest::Client,
        date: Option<NaiveDate>,
    ) -> Result<Vec<Paper>, SourceError> {
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
            let items = self.get_page(http, &url).await?;
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
        Ok(papers)
    }

    async fn get_page(
        &self,
        http: &reqwest::Client,
        url: &str,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        let request = |source| SourceError::Request {
            url: url.to_string(),
            source,
        };
        let response = http
            .get(url)
            .timeout(self.config.timeout)
            .send()
            .await
            .map_err(request)?;
        let status = response.status();
        if !status.is_success() {
            return Err(SourceError::Status {
                url: url.to_string(),
                status,
            });
        }
        let body = response.bytes().await.map_err(request)?;
        serde_json::from_slice::<Vec<serde_json::Value>>(&body).map_err(|e| {
            SourceError::Malformed {
                source_name: NAME,
                url: url.to_string(),
                source: Box::new(e),
            }
        })
    }
}

impl PaperSource for HuggingFace {
    fn name(&self) -> &'static str {
        NAME
    }

    fn fetch<'a>(
        &'a self,
        http: &'a reqwest::Client,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<Paper>, SourceError>> {
        Box::pin(self.fetch_all(http, now))
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
