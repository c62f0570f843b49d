//! Paper sources: each fetches papers from one service and knows nothing of digests.

pub mod arxiv;
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
    #[error("GET {url}: the response is not the list of papers {source_name} returns")]
    Malformed {
        source_name: &'static str,
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
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
