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

/// A paper as every digest that marks it with the same topics shows it: the template values
/// that do not change from one digest to the next, made once.
#[derive(Debug)]
pub(super) struct Block {
    /// The texts of the queries that mark it, in order: checked on every use, so that a hash
    /// that two sets share cannot mix them up.
    queries: Vec<String>,
    /// Its fields as the templates see them (see [`Block::value`]), but for those of a digest.
    fixed: tera::Map,
    /// Its links in the order the text part lists them.
    links: Vec<Link>,
}

#[derive(Debug)]
struct Link {
    label: tera::Value,
    url: tera::Value,
    /// The label with no-break spaces, for the "[10] code (251 stars)" that must not part.
    unbroken: String,
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
                label: label.into(),
                url: url.into(),
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
        let url = huggingface_url.as_deref().unwrap_or(&arxiv_url);
        let fields: [(&'static str, tera::Value); 16] = [
            ("arxiv_id", p.arxiv_id.as_str().into()),
            ("title", p.title.as_str().into()),
            // The title, escaped, with matched words in `<mark>`.
            ("title_html", mark_html(&p.title, &title_spans).into()),
            // Where the title links: the Hugging Face page where there is one, else arXiv's.
            ("url", url.into()),
            // None for a paper Hugging Face has not listed.
            ("huggingface_url", optional(huggingface_url.as_deref())),
            ("arxiv_url", arxiv_url.as_str().into()),
            ("pdf_url", pdf_url.as_str().into()),
            ("authors", short_authors(&p.authors).into()),
            // The sentences around the first matched word, or the short summary, or the
            // opening; and the same escaped, with matched words in `<mark>`.
            ("snippet_html", mark_html(&snippet, &snippet_spans).into()),
            ("snippet", snippet.into()),
            // None where unknown (arXiv alone): templates show upvotes only where they help.
            ("upvotes", optional(p.upvotes)),
            ("num_comments", p.num_comments.into()),
            ("github_repo", optional(p.github_repo.as_deref())),
            ("github_stars", optional(p.github_stars)),
            ("project_page", optional(p.project_page.as_deref())),
            ("organization", optional(p.organization.as_deref())),
        ];
        let mut fixed = tera::Map::with_capacity(fields.len() + DIGEST_FIELDS);
        for (key, value) in fields {
            fixed.insert(key.into(), value);
        }
        Block {
            queries: entry.queries.iter().map(|q| q.text().to_owned()).collect(),
            fixed,
            links,
        }
    }

    /// `entry`'s paper as the templates see it, the `number`th of its digest, after `links`
    /// links were handed out. Besides the block's fields: `number`; `topics`, the topics it
    /// matched, the first heading its section; `also`, the others; `like`, the title of the
    /// liked paper it is closest to; and `links`, each with its `number` across the digest,
    /// `label`, `url` and `text` ("[10] code (251 stars)", with no-break spaces).
    pub fn value(&self, entry: &DigestEntry<'_>, number: usize, links: &mut usize) -> tera::Value {
        let links: Vec<tera::Value> = self
            .links
            .iter()
            .map(|link| {
                *links += 1;
                let text = format!("[{}]\u{a0}{}", *links, link.unbroken);
                tera::Value::from(std::collections::BTreeMap::from([
                    ("number", tera::Value::from(*links)),
                    ("label", link.label.clone()),
                    ("url", link.url.clone()),
                    ("text", text.into()),
                ]))
            })
            .collect();
        let digest_fields: [(&'static str, tera::Value); DIGEST_FIELDS] = [
            ("number", number.into()),
            ("topics", entry.topics.clone().into()),
            (
                "also",
                entry.topics.get(1..).unwrap_or_default().to_vec().into(),
            ),
            ("like", optional(entry.like)),
            ("links", links.into()),
        ];
        let mut map = self.fixed.clone();
        for (key, value) in digest_fields {
            map.insert(key.into(), value);
        }
        tera::Value::from(map)
    }
}

/// The fields [`Block::value`] adds for each digest.
const DIGEST_FIELDS: usize = 5;

/// The value, or none: as serde gives an `Option` to tera.
fn optional<T: Into<tera::Value>>(value: Option<T>) -> tera::Value {
    value.map_or_else(tera::Value::none, Into::into)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Blocks, Memo};
    use crate::paper::Paper;
    use crate::render::DigestEntry;
    use crate::topics::TopicQuery;

    fn entry<'a>(paper: &'a Paper, queries: Vec<&'a TopicQuery>) -> DigestEntry<'a> {
        DigestEntry {
            paper,
            topics: vec!["Diffusion", "Vision"],
            queries,
            like: None,
        }
    }

    /// The fields README's "Templates" names, each there for every paper.
    #[test]
    fn a_paper_has_every_field_the_readme_names() {
        let paper = Paper::new("2601.00001", "Diffusion for vision");
        let entry = entry(&paper, Vec::new());
        let value = Blocks::default()
            .get(&entry, &Memo::default())
            .value(&entry, 1, &mut 0);
        let mut keys: Vec<&str> = value
            .as_map()
            .unwrap()
            .keys()
            .filter_map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        let mut documented = [
            "number",
            "title",
            "title_html",
            "url",
            "huggingface_url",
            "arxiv_url",
            "pdf_url",
            "arxiv_id",
            "authors",
            "organization",
            "snippet",
            "snippet_html",
            "upvotes",
            "num_comments",
            "github_repo",
            "github_stars",
            "project_page",
            "topics",
            "also",
            "like",
            "links",
        ];
        documented.sort_unstable();
        assert_eq!(keys, documented);
    }

    #[test]
    fn one_block_serves_every_digest_with_the_same_marks_and_links_are_numbered_per_digest() {
        let paper = Paper::new("2601.00001", "Diffusion for vision");
        let (diffusion, vision) = (
            TopicQuery::parse("diffusion").unwrap(),
            TopicQuery::parse("vision").unwrap(),
        );
        // Parsed again: another subscriber's topic of the same text.
        let diffusion_again = TopicQuery::parse("diffusion").unwrap();
        let (blocks, memo) = (Blocks::default(), Memo::default());
        let first = blocks.get(&entry(&paper, vec![&diffusion]), &memo);
        let again = blocks.get(&entry(&paper, vec![&diffusion_again]), &memo);
        let other = blocks.get(&entry(&paper, vec![&vision]), &memo);
        assert!(Arc::ptr_eq(&first, &again));
        assert!(!Arc::ptr_eq(&first, &other));
        let title = |block: &super::Block| {
            let value = block.value(&entry(&paper, vec![]), 1, &mut 0);
            value
                .get_from_path("title_html")
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert!(
            title(&first).contains(">Diffusion</mark>"),
            "{}",
            title(&first)
        );
        assert!(
            title(&other).contains(">vision</mark>"),
            "{}",
            title(&other)
        );

        let mut links = 7;
        let value = first.value(&entry(&paper, vec![]), 3, &mut links);
        let numbers: Vec<u64> = value
            .get_from_path("links")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|link| link.get_from_path("number").unwrap().as_u64().unwrap())
            .collect();
        // arXiv and PDF for a paper Hugging Face has not listed.
        assert_eq!(numbers, [8, 9]);
        assert_eq!(links, 9);
        assert_eq!(value.get_from_path("number").unwrap().as_u64(), Some(3));
    }
}
