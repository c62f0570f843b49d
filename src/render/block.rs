//! What a paper shows, made once per run for each set of topics that marks it, however many
//! digests it enters: in a large run a paper goes to thousands of subscribers, most of them
//! through a topic others follow too, and marking its title and abstract, cutting the
//! snippet, escaping both and spelling out its links was a fifth of rendering a digest.
//! Only what differs from one digest to the next (its number, the numbers of its links, the
//! topics it is listed under) is left to each digest.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use super::memo::Memo;
use super::{DigestEntry, mark_html, plural, short_authors, snippet};
use crate::paper::Paper;
use crate::topics::{Field, Highlighter};

/// A paper as every digest that marks it with the same topics shows it.
#[derive(Debug)]
pub(super) struct Block {
    /// The texts of the queries that mark it, in order: checked on every use, so that a hash
    /// that two sets share cannot mix them up.
    queries: Vec<String>,
    pub title_html: String,
    pub url: String,
    pub huggingface_url: Option<String>,
    pub arxiv_url: String,
    pub pdf_url: String,
    pub authors: String,
    pub snippet: String,
    pub snippet_html: String,
    /// Its links in the order the text part lists them, each as its label, its label with
    /// no-break spaces, and its address.
    pub links: Vec<Link>,
}

#[derive(Debug)]
pub(super) struct Link {
    pub label: String,
    /// The label with no-break spaces, for the "[10] code (251 stars)" that must not part.
    pub unbroken: String,
    pub url: String,
}

/// The blocks of one run. Papers are told apart by where they are: a run's papers stay put
/// until it ends, and the blocks go with it, so an address never means two papers. A paper
/// changed between runs (more upvotes, a new summary) gets a block afresh in the next.
#[derive(Debug, Default)]
pub struct Blocks {
    made: Mutex<HashMap<(usize, u64), Arc<Block>>>,
}

/// Blocks kept before the cache starts afresh: a run's papers times the topic sets that
/// mark them, bounded even for the largest runs.
const KEPT: usize = 65_536;

impl Blocks {
    /// The block of `entry`'s paper with `entry`'s marks, made now if it was not before.
    pub(super) fn get(&self, entry: &DigestEntry<'_>, memo: &Memo) -> Arc<Block> {
        let mut hasher = DefaultHasher::new();
        for query in &entry.queries {
            query.text().hash(&mut hasher);
        }
        let key = (
            std::ptr::from_ref::<Paper>(entry.paper) as usize,
            hasher.finish(),
        );
        let same_queries = |block: &Block| {
            block.queries.len() == entry.queries.len()
                && block
                    .queries
                    .iter()
                    .zip(&entry.queries)
                    .all(|(a, b)| a == b.text())
        };
        let made = || self.made.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(block) = made().get(&key).filter(|b| same_queries(b)) {
            return Arc::clone(block);
        }
        // Made outside the lock: two threads may both make a new block, which is harmless.
        let block = Arc::new(Block::new(entry, memo));
        let mut made = made();
        if made.len() >= KEPT {
            made.clear();
        }
        made.insert(key, Arc::clone(&block));
        block
    }
}

impl Block {
    fn new(entry: &DigestEntry<'_>, memo: &Memo) -> Block {
        let p = entry.paper;
        let highlighter = Highlighter::new(entry.queries.iter().copied());
        let summary = memo.get(&p.summary);
        let abstract_spans = highlighter.spans(&summary.words, Field::Abstract);
        let title_spans = if highlighter.is_empty() {
            Vec::new()
        } else {
            highlighter.spans(&memo.get(&p.title).words, Field::Title)
        };
        let (snippet, snippet_spans) = match (abstract_spans.first(), &p.ai_summary) {
            (None, Some(summary)) => (summary.clone(), Vec::new()),
            (first, _) => {
                let cut = snippet::around(&p.summary, &summary.sentences, first.map(|s| s.start));
                (cut.text(&p.summary), cut.spans(&abstract_spans))
            }
        };
        let huggingface_url = p.huggingface_url();
        let arxiv_url = p.arxiv_url();
        let pdf_url = p.pdf_url();
        let mut links = Vec::new();
        let mut link = |label: String, url: &str| {
            links.push(Link {
                unbroken: label.replace(' ', "\u{a0}"),
                label,
                url: url.to_owned(),
            });
        };
        if let Some(url) = &huggingface_url {
            link("Hugging Face".into(), url);
        }
        link(format!("arXiv:{}", p.arxiv_id), &arxiv_url);
        link("PDF".into(), &pdf_url);
        if let Some(repo) = &p.github_repo {
            let label = match p.github_stars {
                Some(stars) if stars > 0 => format!("code ({})", plural(stars as usize, "star")),
                _ => "code".into(),
            };
            link(label, repo);
        }
        if let Some(page) = &p.project_page {
            link("project page".into(), page);
        }
        Block {
            queries: entry.queries.iter().map(|q| q.text().to_owned()).collect(),
            title_html: mark_html(&p.title, &title_spans),
            url: huggingface_url.clone().unwrap_or_else(|| arxiv_url.clone()),
            huggingface_url,
            arxiv_url,
            pdf_url,
            authors: short_authors(&p.authors),
            snippet_html: mark_html(&snippet, &snippet_spans),
            snippet,
            links,
        }
    }
}
