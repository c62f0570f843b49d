//! Topic queries: what a subscriber writes to say which papers they want.
//!
//! # The language
//!
//! - **Words** match a title or abstract word, after English stemming: `model` matches
//!   "Models", `diffusion` matches "diffusions", and `LLM` matches "LLMs" (acronym plurals,
//!   which the stemmer keeps, lose their s). Matching is case-insensitive throughout.
//! - **Phrases** in double quotes match consecutive words within one field, also stemmed:
//!   `"large language model"` matches "Large Language Models" but never the last word of a
//!   title followed by the first words of the abstract.
//! - **Text is tokenised** by splitting on every character that is not a letter or digit, the
//!   same way for papers and queries, so the query word `text-to-image` or `GPT-4` is the phrase
//!   of its pieces.
//! - **Prefixes** `embed*` match unstemmed words that start with `embed` (embedding, embedded);
//!   at least 2 letters or digits must come before the `*`, and `*` is allowed only at the end.
//! - **Fields** restrict a word, phrase or prefix: `title:`, `abstract:`, `author:` (a word or
//!   consecutive words of one author's name: `author:lovelace`, `author:"Ada Lovelace"`, never
//!   across two authors; not stemmed) and `category:` (an arXiv category compared whole,
//!   `category:cs.CL`, or a prefix, `category:cs.*`; papers whose categories are unknown never
//!   match). The value must follow the colon directly: `title: x` is an error rather than a
//!   guess, so that a stray space cannot silently widen a query. Only `name:` where `name` is
//!   all letters is a field; `10:30` is just text. Field names are case-insensitive.
//! - **Operators** `AND`, `OR`, `NOT` count only in upper case (`and`, `or`, `not` are words),
//!   with parentheses for grouping. `NOT` binds tightest, then `AND` (written or implied by
//!   juxtaposition), then `OR`: `a OR b c` is `a OR (b AND c)`. `NOT a` on its own is every
//!   paper without `a`.
//!
//! # Use
//!
//! Parse each topic with [`TopicQuery::parse`] (errors carry a column, see [`QueryError`]), add
//! them all to a [`QuerySet`], build a [`PaperIndex`] per batch of papers, and
//! [`QuerySet::evaluate`] to get every query's [`PaperSet`] at once.

mod direct;
mod error;
mod highlight;
mod index;
mod paper_set;
mod parse;
mod query;
mod set;
mod text;

#[cfg(test)]
mod tests;

pub use error::QueryError;
pub use highlight::{Field, Highlighter, Words};
pub use index::PaperIndex;
pub use paper_set::PaperSet;
pub use query::TopicQuery;
pub use set::{Matches, QueryId, QuerySet};
// `similar` vectorises papers with the query language's tokens and stems, so that a liked paper
// and a query word see text the same way.
pub(crate) use text::{for_each_token, stem, stemmer};
