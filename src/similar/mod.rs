//! "More like these papers": scoring new papers by how close they are to the papers a
//! subscriber likes.
//!
//! # Use
//!
//! Once per digest run, build a [`Similarity`] from the papers in the store (the background:
//! it gives the idf and the papers a topic is told apart from). Turn the day's papers into one
//! [`PaperBatch`] with [`Similarity::batch`]. Prepare each `like` topic once with
//! [`Similarity::topic`] (the liked papers' vectors are computed there, not per paper), then
//! [`Scorer::matches`] gives the batch's papers whose [`Score`] passes the topic's `min_score`
//! ([`DEFAULT_MIN_SCORE`] unless the config says otherwise), with the liked paper each is
//! closest to.
//!
//! # Vectors
//!
//! Title and abstract become tf-idf vectors: the query language's tokens and Porter 2 stems
//! (so a liked paper and a query word see text alike), minus common English stop words,
//! unigrams and the bigrams of consecutive stems within a field, sublinear tf, idf from the
//! background, l2-normalised and sparse.
//!
//! # The seam
//!
//! The digest sees only [`Scorer`], [`Score`] and [`PaperBatch`]: another way of scoring (a
//! static embedding model loaded from a file, say) is another `Scorer`, and its vectors join
//! the batch.

mod cache;
mod topic;
mod vector;

use std::collections::HashMap;

use crate::paper::Paper;

pub use cache::TopicCache;
pub use topic::{DEFAULT_MIN_SCORE, LikeTopic, Method};
pub use vector::{Idf, SparseVector, TermId, Terms};

/// How much a paper looks like a topic's liked papers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Calibrated against the background: how many standard deviations above the topic's
    /// average score over the store's papers. Comparable across topics, so one `min_score`
    /// serves all of them.
    pub value: f32,
    /// Index, among the liked papers as given, of the one this paper is closest to.
    pub closest: usize,
}

/// One topic's way of scoring papers.
pub trait Scorer {
    /// The score of every paper of the batch, in batch order; `None` for a paper the topic
    /// lists as liked (the subscriber knows it already) or one with no words.
    fn scores(&self, batch: &PaperBatch) -> Vec<Option<Score>>;

    /// The batch's papers whose score is at least `min_score`, as (batch index, score), best
    /// first.
    fn matches(&self, batch: &PaperBatch, min_score: f32) -> Vec<(usize, Score)> {
        let mut out: Vec<(usize, Score)> = self
            .scores(batch)
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| s.filter(|s| s.value >= min_score).map(|s| (i, s)))
            .collect();
        out.sort_by(|a, b| b.1.value.total_cmp(&a.1.value));
        out
    }
}

/// Papers turned into vectors once, to be scored by many topics.
#[derive(Debug, Clone, Default)]
pub struct PaperBatch {
    ids: Vec<String>,
    vectors: Vec<SparseVector>,
    /// For each term, the papers that have it with their weight: a topic visits only the
    /// papers sharing one of its terms.
    postings: HashMap<TermId, Vec<(u32, f32)>>,
}

impl PaperBatch {
    fn new(ids: Vec<String>, vectors: Vec<SparseVector>) -> PaperBatch {
        let mut postings: HashMap<TermId, Vec<(u32, f32)>> = HashMap::new();
        for (i, v) in vectors.iter().enumerate() {
            for (&t, &w) in v.terms.iter().zip(&v.weights) {
                postings.entry(t).or_default().push((i as u32, w));
            }
        }
        PaperBatch {
            ids,
            vectors,
            postings,
        }
    }

    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    pub fn vector(&self, index: usize) -> &SparseVector {
        &self.vectors[index]
    }

    /// `scores[p] += scale * (v · paper p)` for every paper of the batch.
    fn accumulate(&self, v: &SparseVector, scale: f32, scores: &mut [f32]) {
        for (t, &w) in v.terms.iter().zip(&v.weights) {
            if let Some(list) = self.postings.get(t) {
                let w = w * scale;
                for &(p, x) in list {
                    scores[p as usize] += w * x;
                }
            }
        }
    }
}

/// The vector space of one digest run: idf from the store's papers, and a sample of them to
/// train and calibrate topics against.
pub struct Similarity {
    terms: Terms,
    idf: Idf,
    background: PaperBatch,
}

/// How many of the store's papers a topic is trained and calibrated against. Preparing a
/// topic costs time in proportion, and a thousand papers already hold most fields' words.
const BACKGROUND_SAMPLE: usize = 1_000;

impl Similarity {
    pub fn new<'a>(background: impl IntoIterator<Item = &'a Paper>) -> Similarity {
        Self::with_terms(Terms::default(), background)
    }

    /// As [`Similarity::new`], with another way of cutting papers into terms (for the
    /// benchmark's comparisons).
    pub fn with_terms<'a>(
        terms: Terms,
        background: impl IntoIterator<Item = &'a Paper>,
    ) -> Similarity {
        let papers: Vec<&Paper> = background.into_iter().collect();
        let idf = Idf::new(&terms, papers.iter().copied());
        // Evenly spaced, so a store sorted by date gives a sample of every period.
        let step = papers.len().div_ceil(BACKGROUND_SAMPLE).max(1);
        let sample: Vec<&Paper> = papers.iter().copied().step_by(step).collect();
        let background = PaperBatch::new(
            sample.iter().map(|p| p.arxiv_id.clone()).collect(),
            sample.iter().map(|p| idf.vector(&terms, p)).collect(),
        );
        Similarity {
            terms,
            idf,
            background,
        }
    }

    /// The paper's tf-idf vector.
    pub fn vector(&self, paper: &Paper) -> SparseVector {
        self.idf.vector(&self.terms, paper)
    }

    /// The papers' vectors, to be scored by every topic.
    pub fn batch<'a>(&self, papers: impl IntoIterator<Item = &'a Paper>) -> PaperBatch {
        let (ids, vectors) = papers
            .into_iter()
            .map(|p| (p.arxiv_id.clone(), self.vector(p)))
            .unzip();
        PaperBatch::new(ids, vectors)
    }

    /// Prepares a `like` topic with the default method.
    pub fn topic(&self, liked: &[&Paper], unliked: &[&Paper]) -> LikeTopic {
        self.topic_with(Method::default(), liked, unliked)
    }

    /// Prepares a `like` topic with a chosen method (for the benchmark's comparisons).
    pub fn topic_with(&self, method: Method, liked: &[&Paper], unliked: &[&Paper]) -> LikeTopic {
        LikeTopic::new(self, method, liked, unliked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper(id: &str, title: &str, summary: &str) -> Paper {
        Paper {
            summary: summary.to_string(),
            ..Paper::new(id, title)
        }
    }

    fn store() -> Vec<Paper> {
        vec![
            paper(
                "1",
                "Spin glass dynamics",
                "Aging in the spin glass phase of disordered magnets.",
            ),
            paper(
                "2",
                "Black hole entropy",
                "Counting microstates of an extremal black hole in string theory.",
            ),
            paper(
                "3",
                "Graph colouring",
                "A bound on the chromatic number of sparse graphs.",
            ),
            paper(
                "4",
                "Galaxy clusters",
                "X-ray observations of the intracluster medium.",
            ),
            paper(
                "5",
                "Quantum error correction",
                "Surface codes with lower qubit overhead.",
            ),
            paper(
                "6",
                "Hawking radiation",
                "Black hole evaporation and the information paradox.",
            ),
            paper(
                "7",
                "Disordered magnets",
                "Replica symmetry breaking in a spin glass model.",
            ),
            paper(
                "8",
                "Prime gaps",
                "New bounds on gaps between consecutive primes.",
            ),
        ]
    }

    #[test]
    fn scores_name_the_closest_liked_paper_and_skip_liked_ones() {
        let store = store();
        let similarity = Similarity::new(&store);
        for method in [
            Method::default(),
            Method::Centroid,
            Method::Hybrid { nearest: 0.5 },
        ] {
            let topic = similarity.topic_with(method, &[&store[0], &store[1]], &[]);
            let batch = similarity.batch(&store);
            let scores = topic.scores(&batch);
            assert_eq!(scores[0], None, "{method:?}: a liked paper is never scored");
            assert_eq!(scores[1], None);
            let hawking = scores[5].unwrap();
            let magnets = scores[6].unwrap();
            let primes = scores[7].unwrap();
            assert_eq!(hawking.closest, 1, "{method:?}");
            assert_eq!(magnets.closest, 0, "{method:?}");
            assert!(hawking.value > primes.value, "{method:?}");
            assert!(magnets.value > primes.value, "{method:?}");
        }
    }

    #[test]
    fn matches_are_those_passing_min_score_best_first() {
        let store = store();
        let similarity = Similarity::new(&store);
        let topic = similarity.topic(&[&store[0], &store[6]], &[]);
        let batch = similarity.batch(&store);
        let all = topic.matches(&batch, f32::NEG_INFINITY);
        assert_eq!(all.len(), store.len() - 2);
        assert!(all.windows(2).all(|w| w[0].1.value >= w[1].1.value));
        let strict = topic.matches(&batch, all[0].1.value);
        assert_eq!(strict.len(), 1);
        assert_eq!(strict[0].0, all[0].0);
    }

    #[test]
    fn an_unliked_paper_is_never_scored() {
        let store = store();
        let similarity = Similarity::new(&store);
        let topic = similarity.topic(&[&store[1]], &[&store[5]]);
        let scores = topic.scores(&similarity.batch(&store));
        assert_eq!(scores[5], None);
    }
}
