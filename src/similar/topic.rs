//! One `like` topic: what it learned from its liked papers, and how it scores a batch.

use std::collections::{HashMap, HashSet};

use super::{PaperBatch, Score, Scorer, Similarity, SparseVector, TermId};
use crate::paper::Paper;

/// The `min_score` a `like` topic uses unless its config sets one: two standard deviations
/// above the topic's mean score over the background.
///
/// Chosen with the sweep in `tests/similarity.rs` (`cargo test --release --test similarity --
/// --ignored --nocapture`): for the default method every field's precision was 1.00 from 1.75
/// to 2.0 and at least 0.98 at 1.5, while at 2.5 some topics of large fields (astro-ph, whose
/// liked papers are a fifth of the background, so its deviation is wide) sent nothing. 2.0 sends
/// 14 to 64 papers of 423 per topic, which is the least and keeps the most margin on precision.
pub const DEFAULT_MIN_SCORE: f32 = 2.0;

/// Terms kept of a topic's linear weights: 10,000 topics must fit in a few tens of MB, and
/// on the benchmark precision did not change from 1,000 terms to 500.
pub const WEIGHT_TERMS: usize = 500;

/// Terms kept of each liked paper's vector, to name the closest liked paper (and for the
/// hybrid's nearest-paper part); a paper's heaviest terms carry most of its cosine.
pub const LIKED_TERMS: usize = 24;

/// How a topic turns its liked papers into a score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// Cosine to the centroid of the liked papers: the baseline.
    Centroid,
    /// `(1 - nearest)` × cosine to the centroid + `nearest` × the best cosine to one liked
    /// paper.
    Hybrid { nearest: f32 },
    /// Logistic regression (or a linear SVM, `hinge`) by SGD, liked papers against the
    /// background and the unliked ones, plus `nearest` × the best cosine to one liked paper.
    Linear {
        epochs: u32,
        lambda: f32,
        hinge: bool,
        nearest: f32,
    },
}

impl Default for Method {
    /// Logistic regression: on the benchmark it had the best precision of all methods, with
    /// categories and without, and the flattest precision across thresholds.
    fn default() -> Self {
        Method::Linear {
            epochs: 5,
            lambda: 1e-4,
            hinge: false,
            nearest: 0.0,
        }
    }
}

/// A `like` topic, prepared once per digest run.
#[derive(Debug, Clone)]
pub struct LikeTopic {
    /// Papers never scored: the liked and unliked ones.
    excluded: HashSet<String>,
    /// The linear part of the score.
    weights: SparseVector,
    /// The weight of the sum of the cosines to each liked paper: the centroid part of a
    /// hybrid, computed from the liked vectors so that the topic keeps no centroid of its own.
    centroid: f32,
    /// Each liked paper's strongest terms, in the order given.
    liked: Vec<SparseVector>,
    nearest: f32,
    /// The raw score's mean and standard deviation over the background.
    mean: f32,
    deviation: f32,
}

impl LikeTopic {
    pub(super) fn new(
        similarity: &Similarity,
        method: Method,
        liked: &[&Paper],
        unliked: &[&Paper],
    ) -> LikeTopic {
        let liked_vectors: Vec<SparseVector> = liked.iter().map(|p| similarity.vector(p)).collect();
        let excluded: HashSet<String> = liked
            .iter()
            .chain(unliked)
            .map(|p| p.arxiv_id.clone())
            .collect();
        let liked_kept: Vec<SparseVector> = liked_vectors
            .iter()
            .map(|v| v.strongest(LIKED_TERMS))
            .collect();
        let mut centroid_weight = 0.0;
        let (weights, nearest) = match method {
            Method::Centroid => (centroid(&liked_vectors).strongest(WEIGHT_TERMS), 0.0),
            Method::Hybrid { nearest } => {
                let norm = SparseVector::sum(&liked_kept, 1.0).norm();
                if norm > 0.0 {
                    centroid_weight = (1.0 - nearest) / norm;
                }
                (SparseVector::default(), nearest)
            }
            Method::Linear {
                epochs,
                lambda,
                hinge,
                nearest,
            } => {
                let unliked_vectors: Vec<SparseVector> =
                    unliked.iter().map(|p| similarity.vector(p)).collect();
                let w = train(
                    similarity,
                    &liked_vectors,
                    &unliked_vectors,
                    &excluded,
                    epochs,
                    lambda,
                    hinge,
                );
                (w.strongest(WEIGHT_TERMS), nearest)
            }
        };
        let mut topic = LikeTopic {
            excluded,
            weights,
            centroid: centroid_weight,
            liked: liked_kept,
            nearest,
            mean: 0.0,
            deviation: 1.0,
        };
        let background = &similarity.background;
        let raw = topic.raw(background);
        let sample: Vec<f32> = raw
            .iter()
            .enumerate()
            .filter(|&(i, _)| {
                !topic.excluded.contains(&background.ids[i]) && !background.vectors[i].is_empty()
            })
            .map(|(_, &(s, _))| s)
            .collect();
        if !sample.is_empty() {
            let n = sample.len() as f32;
            let mean = sample.iter().sum::<f32>() / n;
            let variance = sample.iter().map(|s| (s - mean).powi(2)).sum::<f32>() / n;
            topic.mean = mean;
            topic.deviation = variance.sqrt().max(1e-6);
        }
        topic
    }

    /// Uncalibrated scores and the closest liked paper, for every paper of the batch.
    fn raw(&self, batch: &PaperBatch) -> Vec<(f32, usize)> {
        let n = batch.len();
        let mut linear = vec![0.0; n];
        batch.accumulate(&self.weights, 1.0, &mut linear);
        let mut best = vec![(f32::NEG_INFINITY, 0); n];
        let mut scratch = vec![0.0; n];
        for (i, liked) in self.liked.iter().enumerate() {
            scratch.fill(0.0);
            batch.accumulate(liked, 1.0, &mut scratch);
            for ((b, l), &s) in best.iter_mut().zip(linear.iter_mut()).zip(&scratch) {
                *l += self.centroid * s;
                if s > b.0 {
                    *b = (s, i);
                }
            }
        }
        linear
            .iter()
            .zip(&best)
            .map(|(&l, &(b, i))| (l + self.nearest * b.max(0.0), i))
            .collect()
    }
}

impl LikeTopic {
    /// Bytes the topic keeps, to check the memory budget at scale.
    pub fn memory(&self) -> usize {
        let vector = |v: &SparseVector| v.len() * 8 + std::mem::size_of::<SparseVector>();
        std::mem::size_of::<Self>()
            + vector(&self.weights)
            + self.liked.iter().map(vector).sum::<usize>()
            + self
                .excluded
                .iter()
                .map(|id| id.capacity() + 32)
                .sum::<usize>()
    }
}

impl Scorer for LikeTopic {
    fn scores(&self, batch: &PaperBatch) -> Vec<Option<Score>> {
        self.raw(batch)
            .into_iter()
            .enumerate()
            .map(|(i, (raw, closest))| {
                (!self.excluded.contains(&batch.ids[i]) && !batch.vectors[i].is_empty()).then(
                    || Score {
                        value: (raw - self.mean) / self.deviation,
                        closest,
                    },
                )
            })
            .collect()
    }
}

fn centroid(vectors: &[SparseVector]) -> SparseVector {
    let mut c = SparseVector::sum(vectors, 1.0);
    c.normalize();
    c
}

/// A small seeded PRNG (xorshift64*), so training is the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }
}

/// A training example: (local term index, weight) pairs, the label (1 liked, 0 not) and the
/// example's weight in the loss.
type Example = (Vec<(u32, f32)>, f32, f32);

fn train(
    similarity: &Similarity,
    liked: &[SparseVector],
    unliked: &[SparseVector],
    excluded: &HashSet<String>,
    epochs: u32,
    lambda: f32,
    hinge: bool,
) -> SparseVector {
    // Dense weights over the training terms, indexed locally.
    let mut index: HashMap<TermId, u32> = HashMap::new();
    let mut local = |v: &SparseVector| -> Vec<(u32, f32)> {
        v.terms
            .iter()
            .zip(&v.weights)
            .map(|(&t, &w)| {
                let next = index.len() as u32;
                (*index.entry(t).or_insert(next), w)
            })
            .collect()
    };
    let background = &similarity.background;
    let mut examples: Vec<Example> = Vec::new();
    let negatives = background
        .ids
        .iter()
        .filter(|id| !excluded.contains(*id))
        .count()
        + unliked.len();
    let positive_weight = negatives as f32 / liked.len().max(1) as f32;
    for v in liked {
        examples.push((local(v), 1.0, positive_weight));
    }
    for v in unliked {
        examples.push((local(v), 0.0, 1.0));
    }
    for (id, v) in background.ids.iter().zip(&background.vectors) {
        if !excluded.contains(id) {
            examples.push((local(v), 0.0, 1.0));
        }
    }
    let mut terms: Vec<TermId> = vec![0; index.len()];
    for (&t, &i) in &index {
        terms[i as usize] = t;
    }
    let mut v = vec![0.0f32; terms.len()];
    let mut scale = 1.0f32;
    let mut bias = 0.0f32;
    let eta = 0.1f32;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut order: Vec<usize> = (0..examples.len()).collect();
    for _ in 0..epochs {
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        for &k in &order {
            let (x, y, c) = &examples[k];
            let f = scale * x.iter().map(|&(j, w)| v[j as usize] * w).sum::<f32>() + bias;
            let g = if hinge {
                let sign = if *y > 0.5 { 1.0 } else { -1.0 };
                if sign * f < 1.0 { -sign * c } else { 0.0 }
            } else {
                c * (1.0 / (1.0 + (-f).exp()) - y)
            };
            scale *= 1.0 - eta * lambda;
            if scale < 1e-3 {
                v.iter_mut().for_each(|w| *w *= scale);
                scale = 1.0;
            }
            if g != 0.0 {
                let step = eta * g / scale;
                for &(j, w) in x {
                    v[j as usize] -= step * w;
                }
                bias -= eta * g * 0.1;
            }
        }
    }
    let mut pairs: Vec<(TermId, f32)> = terms
        .into_iter()
        .zip(v)
        .map(|(t, w)| (t, w * scale))
        .filter(|&(_, w)| w != 0.0)
        .collect();
    pairs.sort_unstable_by_key(|&(t, _)| t);
    SparseVector {
        terms: pairs.iter().map(|&(t, _)| t).collect(),
        weights: pairs.iter().map(|&(_, w)| w).collect(),
    }
}
