//! Which words of a paper's title or abstract a subscriber's queries matched, so that a
//! reader sees at a glance why a paper is in their digest.
//!
//! Only terms that speak for a paper are shown: words, phrases and prefixes outside any
//! `NOT`, in the field they search. Authors and categories are not marked in text.

use std::ops::Range;

use super::query::{Expr, Term, TextField};
use super::{TopicQuery, text};

/// The highlightable terms of some queries.
#[derive(Debug, Clone, Default)]
pub struct Highlighter {
    terms: Vec<(TextField, Pattern)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Pattern {
    /// Consecutive stems; one stem is a word.
    Stems(Vec<String>),
    /// The start of a lowercased, unstemmed word.
    Prefix(String),
}

/// The field a piece of paper text comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Title,
    Abstract,
}

impl Highlighter {
    pub fn new<'q>(queries: impl IntoIterator<Item = &'q TopicQuery>) -> Self {
        let mut terms = Vec::new();
        for query in queries {
            collect(&query.expr, false, &mut terms);
        }
        terms.dedup();
        Highlighter { terms }
    }

    /// Whether there is nothing to mark: no words need cutting.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The byte ranges of the text cut into `words` that the terms match, in order and not
    /// overlapping.
    pub fn spans(&self, words: &Words, field: Field) -> Vec<Range<usize>> {
        let mut found: Vec<Range<usize>> = Vec::new();
        for (searched, pattern) in &self.terms {
            let applies = matches!(
                (searched, field),
                (TextField::Either, _)
                    | (TextField::Title, Field::Title)
                    | (TextField::Abstract, Field::Abstract)
            );
            if !applies {
                continue;
            }
            match pattern {
                Pattern::Stems(run) => {
                    for at in 0..words.stems.len().saturating_sub(run.len() - 1) {
                        if run
                            .iter()
                            .zip(&words.stems[at..])
                            .all(|(want, stem)| stem == want)
                        {
                            found
                                .push(words.ranges[at].start..words.ranges[at + run.len() - 1].end);
                        }
                    }
                }
                Pattern::Prefix(prefix) => {
                    for (range, lower) in words.ranges.iter().zip(&words.lower) {
                        if lower.starts_with(prefix.as_str()) {
                            found.push(range.clone());
                        }
                    }
                }
            }
        }
        merge(found)
    }
}

/// A piece of paper text cut into its words, each lowercased and stemmed: the shape the
/// terms are matched in.
#[derive(Debug)]
pub struct Words {
    ranges: Vec<Range<usize>>,
    lower: Vec<String>,
    stems: Vec<String>,
}

impl Words {
    pub fn new(text: &str) -> Words {
        let ranges = text::token_ranges(text);
        let lower: Vec<String> = ranges
            .iter()
            .map(|range| text::lowercase(&text[range.clone()]))
            .collect();
        let stemmer = text::stemmer();
        let stems = lower
            .iter()
            .map(|word| text::stem(&stemmer, word))
            .collect();
        Words {
            ranges,
            lower,
            stems,
        }
    }
}

/// Gathers the text terms of `expr` that count for a paper (an even number of NOTs above).
fn collect(expr: &Expr, negated: bool, out: &mut Vec<(TextField, Pattern)>) {
    match expr {
        Expr::Term(Term::Stems { field, stems }) if !negated && !stems.is_empty() => {
            out.push((*field, Pattern::Stems(stems.clone())));
        }
        Expr::Term(Term::TextPrefix { field, prefix }) if !negated => {
            out.push((*field, Pattern::Prefix(prefix.clone())));
        }
        Expr::Term(_) => {}
        Expr::Not(inner) => collect(inner, !negated, out),
        Expr::And(children) | Expr::Or(children) => {
            children
                .iter()
                .for_each(|child| collect(child, negated, out));
        }
    }
}

/// Sorted, with overlapping ranges joined.
fn merge(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(queries: &[&str], text: &str, field: Field) -> Vec<String> {
        let queries: Vec<TopicQuery> = queries
            .iter()
            .map(|q| TopicQuery::parse(q).unwrap())
            .collect();
        Highlighter::new(&queries)
            .spans(&Words::new(text), field)
            .into_iter()
            .map(|r| text[r].to_string())
            .collect()
    }

    #[test]
    fn marks_words_by_their_stem_whatever_their_case() {
        assert_eq!(
            marked(
                &["unlearning"],
                "Unlearning to unlearn: machine unlearns",
                Field::Title
            ),
            ["Unlearning", "unlearn", "unlearns"]
        );
        assert_eq!(
            marked(&["LLM"], "LLMs and an LLM", Field::Abstract),
            ["LLMs", "LLM"]
        );
    }

    #[test]
    fn marks_a_phrase_whole_and_prefixes_by_their_start() {
        assert_eq!(
            marked(
                &["\"large language model\" OR embed*"],
                "Large  Language Models embed embeddings; a large model",
                Field::Title
            ),
            ["Large  Language Models", "embed", "embeddings"]
        );
    }

    #[test]
    fn leaves_out_negated_terms_other_fields_and_authors() {
        let queries = &["agents AND NOT survey", "title:robot", "author:agent"];
        assert_eq!(
            marked(queries, "A survey of agents and robots", Field::Title),
            ["agents", "robots"]
        );
        assert_eq!(
            marked(queries, "A survey of agents and robots", Field::Abstract),
            ["agents"]
        );
        // NOT NOT speaks for the paper again.
        assert_eq!(
            marked(&["NOT (NOT survey)"], "a survey", Field::Title),
            ["survey"]
        );
    }

    #[test]
    fn overlapping_matches_become_one() {
        assert_eq!(
            marked(
                &["\"diffusion model\" model"],
                "diffusion models",
                Field::Title
            ),
            ["diffusion models"]
        );
        assert!(marked(&["category:cs.CL"], "cs CL", Field::Title).is_empty());
    }

    #[test]
    fn stemming_never_lengthens_a_word() {
        // `spans` skips words shorter than a stem on this ground: every word of the
        // fixture's papers, and the stemmer's exceptional forms.
        let stemmer = text::stemmer();
        let corpus = concat!(
            include_str!("../../tests/fixtures/hf_daily_papers.json"),
            " skis skies dying lying tying idly gently ugly early only singly sky news howe",
            " atlas cosmos bias andes generously hoped hopping sized agreed feed LLMs CNNs ΣΟΦΟΣ",
        );
        text::for_each_token(corpus, |word| {
            let stem = text::stem(&stemmer, word);
            assert!(stem.len() <= word.len(), "{word} stems to {stem}");
        });
    }
}
