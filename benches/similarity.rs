//! How fast a day's papers are scored against every subscriber's `like` topics.
//!
//! Synthetic data shaped like arXiv abstracts: words drawn Zipf-wise from a 4,000-word
//! vocabulary, each paper leaning on one of 40 subjects (a subject is 60 words it uses often)
//! and carrying one to three of 40 categories. A background of 5,000 papers (the store), a batch
//! of 1,000 new papers, and 10,000 topics of 20 liked papers each, the liked papers drawn from
//! one subject out of a pool of 20,000. Everything comes from a seeded PRNG, so runs compare.
//!
//! Run with `cargo bench --bench similarity`. Scoring runs on two threads, as the digest would
//! on the 2-core machine the budget is set for.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use paperboy::paper::Paper;
use paperboy::similar::{DEFAULT_MIN_SCORE, LikeTopic, PaperBatch, Scorer, Similarity};

const BACKGROUND: usize = 5_000;
const NEW_PAPERS: usize = 1_000;
const TOPICS: usize = 10_000;
const LIKED: usize = 20;
const POOL: usize = 20_000;
const SUBJECTS: usize = 40;
const WORDS: usize = 4_000;
const THREADS: usize = 2;

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Zipf-like: rank r with probability about 1/(r+1).
    fn zipf(&mut self, n: usize) -> usize {
        let x = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        (((n as f64 + 1.0).powf(x)) as usize)
            .saturating_sub(1)
            .min(n - 1)
    }
}

struct World {
    words: Vec<String>,
    subjects: Vec<Vec<usize>>,
}

impl World {
    fn new(rng: &mut Rng) -> World {
        const SYLLABLES: [&str; 24] = [
            "ba", "ce", "di", "fo", "gu", "la", "me", "ni", "po", "ru", "sa", "te", "vi", "qua",
            "tron", "lex", "mor", "phi", "zen", "dra", "sto", "ple", "gri", "nol",
        ];
        let words = (0..WORDS)
            .map(|i| {
                let mut w = String::new();
                let mut k = i + 7;
                for _ in 0..3 {
                    w.push_str(SYLLABLES[k % SYLLABLES.len()]);
                    k /= SYLLABLES.len();
                }
                w.push_str(["tion", "al", "ity", "on", "ic"][i % 5]);
                w
            })
            .collect();
        let subjects = (0..SUBJECTS)
            .map(|_| (0..60).map(|_| 200 + rng.below(WORDS - 200)).collect())
            .collect();
        World { words, subjects }
    }

    fn paper(&self, rng: &mut Rng, id: usize, subject: usize) -> Paper {
        let text = |rng: &mut Rng, count: usize| {
            (0..count)
                .map(|_| {
                    if rng.below(100) < 30 {
                        let s = &self.subjects[subject];
                        &self.words[s[rng.zipf(s.len())]]
                    } else {
                        &self.words[rng.zipf(WORDS)]
                    }
                })
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let title_words = 6 + rng.below(8);
        let title = text(rng, title_words);
        let summary_words = 120 + rng.below(120);
        let summary = text(rng, summary_words);
        let categories = (0..1 + rng.below(3))
            .map(|k| {
                let c = if k == 0 { subject } else { rng.below(SUBJECTS) };
                format!("sub{}.C{}", c / 4, c % 4)
            })
            .collect();
        Paper {
            summary,
            categories,
            ..Paper::new(&format!("2606.{id:05}"), &title)
        }
    }
}

struct Fixture {
    similarity: Similarity,
    batch: PaperBatch,
    topics: Vec<LikeTopic>,
}

fn fixture() -> Fixture {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let world = World::new(&mut rng);
    let mut next_id = 0;
    let mut papers = |rng: &mut Rng, n: usize| -> Vec<Paper> {
        (0..n)
            .map(|_| {
                next_id += 1;
                let subject = rng.below(SUBJECTS);
                world.paper(rng, next_id, subject)
            })
            .collect()
    };
    let background = papers(&mut rng, BACKGROUND);
    let new = papers(&mut rng, NEW_PAPERS);
    let pool = papers(&mut rng, POOL);
    let started = Instant::now();
    let similarity = Similarity::new(background.iter().chain(&new));
    eprintln!(
        "background of {} papers: {:.1?}",
        BACKGROUND + NEW_PAPERS,
        started.elapsed()
    );

    let mut by_subject: Vec<Vec<&Paper>> = vec![Vec::new(); SUBJECTS];
    for p in &pool {
        let subject: usize = p.categories[0][3..]
            .split_once(".C")
            .map(|(a, b)| a.parse::<usize>().unwrap() * 4 + b.parse::<usize>().unwrap())
            .unwrap();
        by_subject[subject].push(p);
    }
    let likes: Vec<Vec<&Paper>> = (0..TOPICS)
        .map(|_| {
            let s = &by_subject[rng.below(SUBJECTS)];
            (0..LIKED).map(|_| s[rng.below(s.len())]).collect()
        })
        .collect();
    let started = Instant::now();
    let topics: Vec<LikeTopic> = std::thread::scope(|scope| {
        let handles: Vec<_> = likes
            .chunks(TOPICS.div_ceil(THREADS))
            .map(|chunk| {
                let similarity = &similarity;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|liked| similarity.topic(liked, &[]))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    eprintln!(
        "{TOPICS} topics prepared on {THREADS} threads: {:.1?}, {:.0} MB kept",
        started.elapsed(),
        topics.iter().map(LikeTopic::memory).sum::<usize>() as f64 / 1e6
    );
    let batch = similarity.batch(&new);
    Fixture {
        similarity,
        batch,
        topics,
    }
}

/// Every topic's matches, on `THREADS` threads; returns how many there are.
fn score_all(topics: &[LikeTopic], batch: &PaperBatch) -> usize {
    std::thread::scope(|scope| {
        let handles: Vec<_> = topics
            .chunks(topics.len().div_ceil(THREADS))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|t| t.matches(batch, DEFAULT_MIN_SCORE).len())
                        .sum::<usize>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

fn bench(c: &mut Criterion) {
    let Fixture {
        similarity,
        batch,
        topics,
    } = fixture();
    let matched = score_all(&topics, &batch);
    eprintln!(
        "{:.1} papers matched per topic on average",
        matched as f64 / TOPICS as f64
    );
    let mut rng = Rng(7);
    let world = World::new(&mut rng);
    let new: Vec<Paper> = (0..NEW_PAPERS)
        .map(|i| world.paper(&mut rng, i, i % SUBJECTS))
        .collect();
    c.bench_function("vectorise_1k_papers", |b| {
        b.iter(|| similarity.batch(black_box(&new)))
    });
    c.bench_function("score_1k_papers_10k_topics_20_liked", |b| {
        b.iter(|| score_all(black_box(&topics), black_box(&batch)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    targets = bench
}
criterion_main!(benches);
