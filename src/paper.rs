//! The one model every stage shares: a research paper as Paperboy knows it.
//!
//! This module depends on nothing else in the crate. Sources build `Paper`s, the store keeps
//! them, topics match them, render shows them.

use chrono::{DateTime, Utc};

/// A paper, keyed by its arXiv id without version (`2606.00467`, `hep-th/9901001`).
#[derive(Debug, Clone, PartialEq)]
pub struct Paper {
    pub arxiv_id: String,
    pub title: String,
    /// The abstract.
    pub summary: String,
    /// Author names in paper order.
    pub authors: Vec<String>,
    /// arXiv categories (`cs.CL`); empty when the source does not know them.
    pub categories: Vec<String>,
    pub published_at: Option<DateTime<Utc>>,
    /// Hugging Face upvotes; `None` for a paper no source with upvotes has listed (arXiv
    /// alone), which is not the same as none given.
    pub upvotes: Option<u32>,
    /// Comments on Hugging Face; refreshed together with `upvotes`.
    pub num_comments: u32,
    pub github_repo: Option<String>,
    pub github_stars: Option<u32>,
    pub project_page: Option<String>,
    /// A one-sentence summary written by a model (Hugging Face provides one).
    pub ai_summary: Option<String>,
    pub ai_keywords: Vec<String>,
    /// The organisation the paper was submitted under, by display name.
    pub organization: Option<String>,
}

impl Paper {
    /// The paper's page on Hugging Face, for a paper listed there (one with upvotes).
    pub fn huggingface_url(&self) -> Option<String> {
        self.upvotes
            .map(|_| format!("https://huggingface.co/papers/{}", self.arxiv_id))
    }

    /// The paper's abstract page on arXiv.
    pub fn arxiv_url(&self) -> String {
        format!("https://arxiv.org/abs/{}", self.arxiv_id)
    }

    /// The paper's PDF on arXiv.
    pub fn pdf_url(&self) -> String {
        format!("https://arxiv.org/pdf/{}", self.arxiv_id)
    }

    /// A paper with an id and a title and nothing else known, to build samples and tests on
    /// with struct update syntax.
    pub fn new(arxiv_id: &str, title: &str) -> Paper {
        Paper {
            arxiv_id: arxiv_id.to_string(),
            title: title.to_string(),
            summary: String::new(),
            authors: Vec::new(),
            categories: Vec::new(),
            published_at: None,
            upvotes: None,
            num_comments: 0,
            github_repo: None,
            github_stars: None,
            project_page: None,
            ai_summary: None,
            ai_keywords: Vec::new(),
            organization: None,
        }
    }
}

/// Normalises an arXiv identifier: strips an `arXiv:` prefix, an `abs/` URL and the version
/// suffix, so that `http://arxiv.org/abs/2606.13677v2` and `2606.13677` are the same paper.
/// Returns `None` for text that is not an arXiv id.
pub fn normalize_arxiv_id(raw: &str) -> Option<String> {
    let mut id = raw.trim();
    if let Some(pos) = id.find("/abs/") {
        id = &id[pos + "/abs/".len()..];
    }
    id = id
        .strip_prefix("arXiv:")
        .or_else(|| id.strip_prefix("arxiv:"))
        .unwrap_or(id);
    // Drop a version suffix: `v` followed by digits at the end.
    if let Some(pos) = id.rfind('v') {
        let (base, version) = id.split_at(pos);
        if version.len() > 1 && version[1..].bytes().all(|b| b.is_ascii_digit()) {
            id = base;
        }
    }
    is_arxiv_id(id).then(|| id.to_string())
}

/// New style `YYMM.NNNNN` (4 or 5 digits after the dot) or old style `archive(.SUB)/YYMMNNN`.
fn is_arxiv_id(id: &str) -> bool {
    let new_style = || {
        let Some((yymm, number)) = id.split_once('.') else {
            return false;
        };
        yymm.len() == 4
            && (4..=5).contains(&number.len())
            && yymm
                .bytes()
                .chain(number.bytes())
                .all(|b| b.is_ascii_digit())
    };
    let old_style = || {
        let Some((archive, number)) = id.split_once('/') else {
            return false;
        };
        !archive.is_empty()
            && archive
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'.')
            && number.len() == 7
            && number.bytes().all(|b| b.is_ascii_digit())
    };
    new_style() || old_style()
}

/// `text` on one line with single spaces: titles and abstracts arrive with hard line breaks
/// and runs of spaces, and a subject template may produce them.
pub fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_ids_from_every_shape_sources_use() {
        assert_eq!(
            normalize_arxiv_id("2606.00467").as_deref(),
            Some("2606.00467")
        );
        assert_eq!(
            normalize_arxiv_id("2606.13677v12").as_deref(),
            Some("2606.13677")
        );
        assert_eq!(
            normalize_arxiv_id("http://arxiv.org/abs/2606.13677v1").as_deref(),
            Some("2606.13677")
        );
        assert_eq!(
            normalize_arxiv_id("arXiv:1706.03762").as_deref(),
            Some("1706.03762")
        );
        assert_eq!(
            normalize_arxiv_id("hep-th/9901001v3").as_deref(),
            Some("hep-th/9901001")
        );
        assert_eq!(
            normalize_arxiv_id("math.AG/0101001").as_deref(),
            Some("math.AG/0101001")
        );
    }

    #[test]
    fn rejects_text_that_is_not_an_id() {
        for bad in [
            "",
            "v2",
            "2606",
            "2606.1",
            "abc.defgh",
            "2606.00467; rm",
            "../etc/passwd",
        ] {
            assert_eq!(normalize_arxiv_id(bad), None, "{bad:?}");
        }
    }
}
