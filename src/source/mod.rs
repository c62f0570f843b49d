//! Paper sources: each fetches papers from one service and knows nothing of digests.

mod huggingface;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use huggingface::HuggingFace;

use crate::config::SourcesConfig;
use crate::paper::Paper;

/// Sent with every request, so that services can see who is asking and how to reach us.
pub const USER_AGENT: &str = concat!(
    "paperboy/",
    env!("CARGO_PKG_VERSION"),
    " (+",
    env!("CARGO_PKG_REPOSITORY"),
    ")"
);

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A service that papers come from.
pub trait PaperSource: Send + Sync {
    /// A short name for logs, `status` and the papers table (`huggingface`).
    fn name(&self) -> &'static str;

    /// Fetches the papers the source currently lists. Items that cannot be read are skipped
    /// with a warning; an error means the source as a whole gave nothing.
    fn fetch<'a>(
        &'a self,
        http: &'a reqwest::Client,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<Paper>, SourceError>>;
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("GET {url}: {message}")]
    Http { url: String, message: String },
    #[error("GET {url}: the response is not what {source_name} returns: {message}")]
    Malformed {
        source_name: &'static str,
        url: String,
        message: String,
    },
}

/// The enabled sources, in a fixed order.
pub fn from_config(config: &SourcesConfig) -> Vec<Box<dyn PaperSource>> {
    let mut sources: Vec<Box<dyn PaperSource>> = Vec::new();
    if let Some(hf) = &config.huggingface {
        sources.push(Box::new(HuggingFace::new(hf.clone())));
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

/// What one fetch of every source brought.
#[derive(Debug, Default)]
pub struct FetchSummary {
    /// Papers first seen in this fetch, in the order the sources listed them.
    pub new: Vec<Paper>,
    /// Known papers whose upvotes and links were refreshed.
    pub updated: usize,
    pub sources: usize,
    /// Each failed source with what went wrong.
    pub failures: Vec<(&'static str, String)>,
}

impl FetchSummary {
    /// Every enabled source failed, so this run saw nothing new.
    pub fn all_failed(&self) -> bool {
        self.sources > 0 && self.failures.len() == self.sources
    }
}

/// Fetches every source and stores what each returned. A failing source is logged and
/// reported; the others go on.
pub async fn fetch_into(
    store: &mut crate::store::Store,
    sources: &[Box<dyn PaperSource>],
    http: &reqwest::Client,
    now: DateTime<Utc>,
) -> Result<FetchSummary, crate::store::StoreError> {
    let mut summary = FetchSummary {
        sources: sources.len(),
        ..FetchSummary::default()
    };
    for source in sources {
        match source.fetch(http, now).await {
            Ok(papers) => {
                let report = store.upsert_papers(source.name(), &papers, now)?;
                tracing::info!(
                    source = source.name(),
                    "fetched {} papers, {} new",
                    papers.len(),
                    report.new.len()
                );
                let new: std::collections::HashSet<&str> =
                    report.new.iter().map(String::as_str).collect();
                summary.new.extend(
                    papers
                        .iter()
                        .filter(|p| new.contains(p.arxiv_id.as_str()))
                        .cloned(),
                );
                summary.updated += report.updated;
            }
            Err(e) => {
                tracing::error!(source = source.name(), "fetch failed: {e}");
                summary.failures.push((source.name(), e.to_string()));
            }
        }
    }
    Ok(summary)
}
