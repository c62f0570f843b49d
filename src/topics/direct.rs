//! Matching one query against one paper without an index.
//!
//! This is the plain reading of the language, kept deliberately simple: it backs
//! [`TopicQuery::matches`](super::TopicQuery::matches) and serves the tests as the reference
//! that the bitset evaluation in [`QuerySet`](super::QuerySet) must agree with.

use super::query::{Expr, Term, TextField};
use super::text;
use crate::paper::Paper;

/// The tokens of one paper, in the shapes the terms compare against.
pub(crate) struct PaperTokens {
    title: FieldTokens,
    abstract_: FieldTokens,
    /// Each author's name tokens, lowercased, not stemmed.
    authors: Vec<Vec<String>>,
    /// Lowercased.
    categories: Vec<String>,
}

struct FieldTokens {
    /// Lowercased, unstemmed: what prefix terms look at.
    words: Vec<String>,
    stems: Vec<String>,
}

impl FieldTokens {
    fn new(text: &str, stemmer: &rust_stemmers::Stemmer) -> Self {
        let words = text::tokens(text);
        let stems = words.iter().map(|w| text::stem(stemmer, w)).collect();
        FieldTokens { words, stems }
    }
}

impl PaperTokens {
    pub(crate) fn new(paper: &Paper) -> Self {
        let stemmer = text::stemmer();
        PaperTokens {
            title: FieldTokens::new(&paper.title, &stemmer),
            abstract_: FieldTokens::new(&paper.summary, &stemmer),
            authors: paper.authors.iter().map(|a| text::tokens(a)).collect(),
            categories: paper
                .categories
                .iter()
                .map(|c| c.trim().to_lowercase())
                .collect(),
        }
    }

    pub(crate) fn matches(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Term(term) => self.matches_term(term),
            Expr::Not(inner) => !self.matches(inner),
            Expr::And(items) => items.iter().all(|e| self.matches(e)),
            Expr::Or(items) => items.iter().any(|e| self.matches(e)),
        }
    }

    fn fields(&self, field: TextField) -> impl Iterator<Item = &FieldTokens> {
        let (title, abstract_) = match field {
            TextField::Title => (Some(&self.title), None),
            TextField::Abstract => (None, Some(&self.abstract_)),
            TextField::Either => (Some(&self.title), Some(&self.abstract_)),
        };
        title.into_iter().chain(abstract_)
    }

    fn matches_term(&self, term: &Term) -> bool {
        match term {
            Term::Stems { field, stems } => {
                self.fields(*field).any(|f| contains_run(&f.stems, stems))
            }
            Term::TextPrefix { field, prefix } => self
                .fields(*field)
                .any(|f| f.words.iter().any(|w| w.starts_with(prefix.as_str()))),
            Term::Author { tokens } => self.authors.iter().any(|a| contains_run(a, tokens)),
            Term::AuthorPrefix { prefix } => self
                .authors
                .iter()
                .flatten()
                .any(|t| t.starts_with(prefix.as_str())),
            Term::Category { name } => self.categories.iter().any(|c| c == name),
            Term::CategoryPrefix { prefix } => self
                .categories
                .iter()
                .any(|c| c.starts_with(prefix.as_str())),
        }
    }
}

/// Whether `needle` occurs as consecutive items of `haystack`.
fn contains_run(haystack: &[String], needle: &[String]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
