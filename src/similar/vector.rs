//! tf-idf vectors of papers: what the scorers compare.

use std::collections::HashMap;

use rust_stemmers::Stemmer;

use crate::paper::Paper;
use crate::topics::{for_each_token, stem, stemmer};

/// A term: a stem or two consecutive stems of one field, as a 32-bit hash.
///
/// Hashing instead of numbering keeps no string per term: a store of tens of thousands of
/// papers has millions of distinct bigrams. With a few million terms among 2^32 ids a handful
/// collide, which merges two rare terms' document frequencies and nothing worse.
pub type TermId = u32;

/// A sparse vector: term ids strictly increasing, weights alongside.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVector {
    pub terms: Vec<TermId>,
    pub weights: Vec<f32>,
}

impl SparseVector {
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The dot product, by merging the two sorted term lists.
    pub fn dot(&self, other: &SparseVector) -> f32 {
        let (mut i, mut j, mut sum) = (0, 0, 0.0);
        while i < self.terms.len() && j < other.terms.len() {
            match self.terms[i].cmp(&other.terms[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    sum += self.weights[i] * other.weights[j];
                    i += 1;
                    j += 1;
                }
            }
        }
        sum
    }

    pub fn norm(&self) -> f32 {
        self.weights.iter().map(|w| w * w).sum::<f32>().sqrt()
    }

    /// Scales to unit length; the zero vector stays zero.
    pub fn normalize(&mut self) {
        let norm = self.norm();
        if norm > 0.0 {
            self.weights.iter_mut().for_each(|w| *w /= norm);
        }
    }

    /// The `n` heaviest terms, renormalised, still sorted by term.
    pub fn strongest(&self, n: usize) -> SparseVector {
        if self.len() <= n {
            return self.clone();
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.select_nth_unstable_by(n - 1, |&a, &b| {
            self.weights[b].abs().total_cmp(&self.weights[a].abs())
        });
        order.truncate(n);
        order.sort_unstable_by_key(|&i| self.terms[i]);
        let mut out = SparseVector {
            terms: order.iter().map(|&i| self.terms[i]).collect(),
            weights: order.iter().map(|&i| self.weights[i]).collect(),
        };
        out.normalize();
        out
    }

    /// Sum of the vectors, each scaled by `scale`.
    pub fn sum<'a>(vectors: impl IntoIterator<Item = &'a SparseVector>, scale: f32) -> Self {
        let mut acc: HashMap<TermId, f32> = HashMap::new();
        for v in vectors {
            for (&t, &w) in v.terms.iter().zip(&v.weights) {
                *acc.entry(t).or_default() += w * scale;
            }
        }
        let mut pairs: Vec<(TermId, f32)> = acc.into_iter().collect();
        pairs.sort_unstable_by_key(|&(t, _)| t);
        SparseVector {
            terms: pairs.iter().map(|&(t, _)| t).collect(),
            weights: pairs.iter().map(|&(_, w)| w).collect(),
        }
    }
}

/// FNV-1a, 64 bits, folded to 32: stable across Rust releases (unlike `DefaultHasher`), so
/// term ids could be kept between runs.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    const START: Fnv = Fnv(0xcbf2_9ce4_8422_2325);

    fn feed(self, bytes: &[u8]) -> Fnv {
        let mut h = self.0;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Fnv(h)
    }

    fn id(self) -> TermId {
        (self.0 ^ (self.0 >> 32)) as TermId
    }
}

/// The id of a single stem.
pub fn unigram(stem: &str) -> TermId {
    Fnv::START.feed(stem.as_bytes()).id()
}

/// The id of two consecutive stems.
pub fn bigram(first: &str, second: &str) -> TermId {
    // Stems never contain a space, so "a b" is not any unigram.
    Fnv::START
        .feed(first.as_bytes())
        .feed(b" ")
        .feed(second.as_bytes())
        .id()
}

/// Common English words that carry no topic.
///
/// Measured on the benchmark in `tests/similarity.rs`: dropping them (and so also the bigrams
/// they form, such as "of the") raised precision, as idf alone leaves "of the" a weight in
/// every vector and makes short abstracts look alike.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "however",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "may",
    "me",
    "might",
    "more",
    "most",
    "must",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "shall",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "thus",
    "to",
    "too",
    "under",
    "until",
    "up",
    "us",
    "very",
    "via",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "within",
    "without",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

fn is_stop_word(token: &str) -> bool {
    STOP_WORDS.binary_search(&token).is_ok()
}

/// The id of an arXiv category or archive (`hep-th`, `cond-mat.str-el`, `cond-mat`).
pub fn category(name: &str) -> TermId {
    // No stem holds a colon: `for_each_token` splits on it.
    Fnv::START.feed(b"category:").feed(name.as_bytes()).id()
}

/// The share of a vector's weight its arXiv categories get, when the paper has any.
///
/// Measured on the benchmark in `tests/similarity.rs`: with text alone, topics of fields whose
/// abstracts read alike (math-ph next to math, hep-th next to hep-ph and gr-qc, the many
/// physics.* subjects) send one paper of theirs in three; categories are what tells them apart.
pub const CATEGORY_SHARE: f32 = 0.35;

/// Turns papers into term lists: the part of vectorising that needs no idf.
pub struct Terms {
    stemmer: Stemmer,
    /// Whether to drop [`STOP_WORDS`]; kept switchable so the benchmark can show the effect.
    pub drop_stop_words: bool,
    /// The share of the vector the categories get (0 for text alone).
    pub category_share: f32,
}

impl Default for Terms {
    fn default() -> Self {
        Terms::new(true, CATEGORY_SHARE)
    }
}

impl Terms {
    pub fn new(drop_stop_words: bool, category_share: f32) -> Terms {
        Terms {
            stemmer: stemmer(),
            drop_stop_words,
            category_share,
        }
    }

    /// The paper's category terms with their counts: each category and its archive, the
    /// primary one counting twice.
    pub fn categories(&self, paper: &Paper) -> Vec<(TermId, u32)> {
        let mut out: Vec<(TermId, u32)> = Vec::new();
        for (i, name) in paper.categories.iter().enumerate() {
            let n = if i == 0 { 2 } else { 1 };
            let archive = name.split('.').next().unwrap_or(name);
            for id in [category(name), category(archive)] {
                match out.iter_mut().find(|(t, _)| *t == id) {
                    Some((_, count)) => *count = (*count).max(n),
                    None => out.push((id, n)),
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// Every term occurrence of the paper's title and abstract, unsorted: each stem, and each
    /// pair of consecutive stems within one field (a title's last word and the abstract's
    /// first are not a phrase).
    pub fn of(&self, paper: &Paper) -> Vec<TermId> {
        let mut out = Vec::new();
        for field in [&paper.title, &paper.summary] {
            let mut previous: Option<String> = None;
            for_each_token(field, |token| {
                if self.drop_stop_words && is_stop_word(token) {
                    return;
                }
                let stem = stem(&self.stemmer, token);
                out.push(unigram(&stem));
                if let Some(previous) = &previous {
                    out.push(bigram(previous, &stem));
                }
                previous = Some(stem);
            });
        }
        out
    }

    /// Term frequencies: distinct terms in increasing order, each with its count.
    pub fn counts(&self, paper: &Paper) -> Vec<(TermId, u32)> {
        let mut terms = self.of(paper);
        terms.sort_unstable();
        let mut out: Vec<(TermId, u32)> = Vec::with_capacity(terms.len());
        for t in terms {
            match out.last_mut() {
                Some((last, n)) if *last == t => *n += 1,
                _ => out.push((t, 1)),
            }
        }
        out
    }
}

/// Document frequencies of a background corpus, turned into inverse document frequencies.
#[derive(Debug, Clone, Default)]
pub struct Idf {
    document_frequency: HashMap<TermId, u32>,
    documents: u32,
}

impl Idf {
    pub fn new<'a>(terms: &Terms, background: impl IntoIterator<Item = &'a Paper>) -> Idf {
        let mut idf = Idf::default();
        for paper in background {
            idf.documents += 1;
            for (term, _) in terms
                .counts(paper)
                .into_iter()
                .chain(terms.categories(paper))
            {
                *idf.document_frequency.entry(term).or_default() += 1;
            }
        }
        idf
    }

    /// Smoothed idf, `ln((1 + N) / (1 + df)) + 1`: a term the background never saw gets the
    /// highest weight rather than an infinite one, and a term in every paper still counts a
    /// little.
    pub fn of(&self, term: TermId) -> f32 {
        let df = self.document_frequency.get(&term).copied().unwrap_or(0);
        ((1.0 + self.documents as f32) / (1.0 + df as f32)).ln() + 1.0
    }

    pub fn documents(&self) -> u32 {
        self.documents
    }

    /// The paper's l2-normalised tf-idf vector, with sublinear tf `1 + ln tf`: a word said
    /// five times is more of a sign than a word said once, but not five times more.
    ///
    /// The categories, when the paper has any and `terms` gives them a share, are a unit
    /// vector of their own, joined so that the cosine of two papers is
    /// `(1 - share) × text cosine + share × category cosine`.
    pub fn vector(&self, terms: &Terms, paper: &Paper) -> SparseVector {
        let weigh = |counts: Vec<(TermId, u32)>| {
            let mut v = SparseVector {
                terms: counts.iter().map(|&(t, _)| t).collect(),
                weights: counts
                    .iter()
                    .map(|&(t, n)| (1.0 + (n as f32).ln()) * self.of(t))
                    .collect(),
            };
            v.normalize();
            v
        };
        let text = weigh(terms.counts(paper));
        if terms.category_share <= 0.0 || paper.categories.is_empty() {
            return text;
        }
        let categories = weigh(terms.categories(paper));
        let (a, b) = (
            (1.0 - terms.category_share).sqrt(),
            terms.category_share.sqrt(),
        );
        let mut joined = SparseVector::sum([&text, &categories], 1.0);
        for (t, w) in joined.terms.iter().zip(joined.weights.iter_mut()) {
            let in_text = text.terms.binary_search(t).is_ok();
            *w *= if in_text { a } else { b };
        }
        joined.normalize();
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper(title: &str, summary: &str) -> Paper {
        Paper {
            summary: summary.to_string(),
            ..Paper::new("2606.00001", title)
        }
    }

    fn plain() -> Terms {
        Terms::new(false, 0.0)
    }

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn terms_are_stems_and_bigrams_within_a_field() {
        let terms = plain().of(&paper("Black Holes", "Entropy"));
        // "black", "hole", "black hole" from the title; "entropi" alone, no "hole entropi".
        assert_eq!(
            terms,
            [
                unigram("black"),
                unigram("hole"),
                bigram("black", "hole"),
                unigram("entropi")
            ]
        );
        assert_ne!(bigram("black", "hole"), bigram("hole", "black"));
        assert_ne!(bigram("ab", "c"), bigram("a", "bc"));
    }

    #[test]
    fn stop_words_go_and_bigrams_join_across_them() {
        let terms = Terms::default().of(&paper("The entropy of black holes", ""));
        assert_eq!(
            terms,
            [
                unigram("entropi"),
                unigram("black"),
                bigram("entropi", "black"),
                unigram("hole"),
                bigram("black", "hole"),
            ]
        );
    }

    #[test]
    fn tokens_and_stems_are_the_query_languages() {
        // `GPT-4` is two tokens and "Models" stems to "model", as in a topic query.
        let terms = plain().of(&paper("GPT-4 Models", ""));
        assert_eq!(terms[0], unigram("gpt"));
        assert_eq!(terms[1], unigram("4"));
        assert_eq!(terms[3], unigram("model"));
    }

    #[test]
    fn counts_are_sorted_and_summed() {
        let counts = plain().counts(&paper("spin spin spin", "glass"));
        assert!(counts.windows(2).all(|w| w[0].0 < w[1].0));
        let count = |t| counts.iter().find(|&&(id, _)| id == t).map(|&(_, n)| n);
        assert_eq!(count(unigram("spin")), Some(3));
        assert_eq!(count(bigram("spin", "spin")), Some(2));
        assert_eq!(count(unigram("glass")), Some(1));
        assert_eq!(count(bigram("spin", "glass")), None);
    }

    #[test]
    fn vectors_are_sublinear_idf_weighted_and_unit_length() {
        let background = [
            paper("spin glass", ""),
            paper("spin chain", ""),
            paper("quark", ""),
        ];
        let terms = plain();
        let idf = Idf::new(&terms, &background);
        // "spin" is in 2 of 3 papers, "glass" in 1, "gluon" in none.
        assert!((idf.of(unigram("spin")) - ((4.0f32 / 3.0).ln() + 1.0)).abs() < 1e-6);
        assert!((idf.of(unigram("glass")) - (2.0f32.ln() + 1.0)).abs() < 1e-6);
        assert!((idf.of(unigram("gluon")) - (4.0f32.ln() + 1.0)).abs() < 1e-6);

        let v = idf.vector(&terms, &paper("spin spin spin spin glass", ""));
        assert!((v.norm() - 1.0).abs() < 1e-6);
        let weight = |t| v.weights[v.terms.iter().position(|&x| x == t).unwrap()];
        let ratio = weight(unigram("spin")) / weight(unigram("glass"));
        let expected = (1.0 + 4.0f32.ln()) * idf.of(unigram("spin")) / idf.of(unigram("glass"));
        assert!((ratio - expected).abs() < 1e-5, "{ratio} vs {expected}");

        assert!(idf.vector(&terms, &paper("", "")).is_empty());
    }

    #[test]
    fn dot_merges_sorted_terms() {
        let a = SparseVector {
            terms: vec![1, 3, 5],
            weights: vec![1.0, 2.0, 3.0],
        };
        let b = SparseVector {
            terms: vec![2, 3, 5, 7],
            weights: vec![1.0, 1.0, 2.0, 9.0],
        };
        assert_eq!(a.dot(&b), 2.0 + 6.0);
        let strongest = b.strongest(2);
        assert_eq!(strongest.terms, [5, 7]);
        assert!((strongest.norm() - 1.0).abs() < 1e-6);
    }
}
