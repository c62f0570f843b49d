//! A parsed topic query: the original text plus its expression tree.

use std::fmt;
use std::str::FromStr;

use super::QueryError;
use crate::paper::Paper;

/// Which text field a title/abstract term searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TextField {
    Title,
    Abstract,
    /// A bare term: matches when the title or the abstract matches (each on its own; a phrase
    /// never runs from the title into the abstract).
    Either,
}

/// One searchable condition on a paper. Terms are normalised when parsed (tokenised, lowercased,
/// stemmed where the field is stemmed), so equal terms from different queries compare equal
/// and a [`QuerySet`](super::QuerySet) resolves them once.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Term {
    /// Consecutive stemmed tokens in one text field; a single stem is a plain word.
    Stems {
        field: TextField,
        stems: Vec<String>,
    },
    /// A lowercased, unstemmed token prefix in a text field (`embed*`).
    TextPrefix { field: TextField, prefix: String },
    /// Consecutive lowercased tokens inside one author's name; a single token is a plain word.
    Author { tokens: Vec<String> },
    /// A lowercased token prefix of any author name token (`author:lov*`).
    AuthorPrefix { prefix: String },
    /// An arXiv category, lowercased, compared whole (`cs.cl`).
    Category { name: String },
    /// A lowercased category prefix (`category:cs.*`).
    CategoryPrefix { prefix: String },
}

/// The expression tree of a query. `And`/`Or` hold two or more children.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Term(Term),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// A parsed topic query.
///
/// See the [module documentation](super) for the language. Parse with [`TopicQuery::parse`] or
/// `text.parse::<TopicQuery>()`; displays as the original text.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicQuery {
    text: String,
    pub(crate) expr: Expr,
}

impl TopicQuery {
    /// Parses a topic query.
    pub fn parse(text: &str) -> Result<TopicQuery, QueryError> {
        let expr = super::parse::parse(text)?;
        Ok(TopicQuery {
            text: text.to_owned(),
            expr,
        })
    }

    /// The text the query was parsed from, unchanged.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The query's `category:` terms, lowercased, as arXiv category patterns: `cs.cl` for a
    /// whole category, `cs.*` for a prefix. Those match only papers whose source reports arXiv
    /// categories.
    pub fn categories(&self) -> Vec<String> {
        fn walk(expr: &Expr, found: &mut Vec<String>) {
            match expr {
                Expr::Term(Term::Category { name }) => found.push(name.clone()),
                Expr::Term(Term::CategoryPrefix { prefix }) => found.push(format!("{prefix}*")),
                Expr::Term(_) => {}
                Expr::Not(inner) => walk(inner, found),
                Expr::And(children) | Expr::Or(children) => {
                    children.iter().for_each(|child| walk(child, found))
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.expr, &mut found);
        found
    }

    /// The operators written as bare words in another case than upper (`and`, `or`, `not`, in
    /// that order, each once): they are searched as words, which is rarely what was meant.
    pub fn lowercase_operators(&self) -> Vec<&'static str> {
        super::parse::lowercase_operators(&self.text)
    }

    /// Whether `paper` matches. This tokenises the paper on every call, so it suits one-off
    /// checks (tests, previews); to match many queries against many papers use
    /// [`QuerySet`](super::QuerySet) with a [`PaperIndex`](super::PaperIndex).
    pub fn matches(&self, paper: &Paper) -> bool {
        super::direct::PaperTokens::new(paper).matches(&self.expr)
    }
}

impl FromStr for TopicQuery {
    type Err = QueryError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        TopicQuery::parse(text)
    }
}

impl fmt::Display for TopicQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
