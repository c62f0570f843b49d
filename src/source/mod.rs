//! Paper sources: each fetches papers from one service and knows nothing of digests.

pub mod arxiv;
pub mod http;
mod huggingface;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

pub use huggingface::HuggingFace;

use crate::config::SourcesConfig;
use crate::paper::Paper;
use http::{Fetcher, Validators};

/// Sent with every request, so that services can see who is asking and how to reach us.
pub const USER_AGENT: &str = concat!(
    "paperboy/",
    env!("CARGO_PKG_VERSION"),
    " (+",
    env!("CARGO_PKG_REPOSITORY"),
    ")"
);

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What one fetch asks of a source.
pub struct FetchRequest<'a> {
    pub now: DateTime<Utc>,
    /// Also everything announced since this day: a backfill (`fetch --since`).
    pub since: Option<NaiveDate>,
    /// What each URL's last answer came with, for conditional GET.
    pub validators: &'a HashMap<String, Validators>,
}

impl FetchRequest<'_> {
    /// The validators to send for `url`, if its last answer had any.
    pub fn validators_for(&self, url: &str) -> Option<&Validators> {
        self.validators.get(url)
    }
}

/// What one fetch of a source brought.
#[derive(Debug, Default)]
pub struct SourceFetch {
    pub papers: Vec<Paper>,
    /// The validators of each URL answered with a body, to be sent next time.
    pub validators: Vec<(String, Validators)>,
}

/// A service that papers come from.
pub trait PaperSource: Send + Sync {
    /// A short name for logs, `status` and the papers table (`huggingface`).
    fn name(&self) -> &'static str;

    /// Fetches the papers the source currently lists, politely (through `fetcher`,
    /// conditionally where the service allows it: a list unchanged since the last fetch
    /// brings nothing). Items that cannot be read are skipped with a warning; an error means
    /// the source as a whole gave nothing.
    fn fetch<'a>(
        &'a self,
        fetcher: &'a Fetcher,
        request: &'a FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<SourceFetch, SourceError>>;
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("GET {url}")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("GET {url}: HTTP {status}")]
    Status {
        url: String,
        status: reqwest::StatusCode,
    },
    /// A 429 or 503 whose `Retry-After` is later than we wait within one fetch, or that is
    /// still answered after the retries we allow.
    #[error(
        "GET {url}: HTTP {status}{}; the server asks to be asked again at {retry_at}",
        after_retries(.retries)
    )]
    Throttled {
        url: String,
        status: reqwest::StatusCode,
        retries: u32,
        retry_at: DateTime<Utc>,
    },
    #[error(
        "GET {url}: the response is larger than {} MiB, the most a list of papers may be; skipped",
        limit >> 20
    )]
    TooLarge { url: String, limit: usize },
    #[error("GET {url}: the response is not the list of papers {source_name} returns")]
    Malformed {
        source_name: &'static str,
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn after_retries(retries: &u32) -> String {
    match retries {
        0 => String::new(),
        1 => " after 1 retry".to_string(),
        n => format!(" after {n} retries"),
    }
}

/// The enabled sources, in a fixed order: Hugging Face first, so that on a fresh state its
/// papers are stored under its name with their upvotes, and arXiv adds the categories.
pub fn from_config(config: &SourcesConfig) -> Vec<Box<dyn PaperSource>> {
    let mut sources: Vec<Box<dyn PaperSource>> = Vec::new();
    if let Some(hf) = &config.huggingface {
        sources.push(Box::new(HuggingFace::new(hf.clone())));
    }
    if let Some(arxiv) = &config.arxiv {
        sources.push(Box::new(arxiv::Arxiv::new(arxiv.clone())));
    }
    sources
}

/// The HTTP client every source shares: our User-Agent and a bound on connecting. Each source
/// sets its own per-request timeout.
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    crate::tls::install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(Duration::from_secs(15))
        .build()
}
