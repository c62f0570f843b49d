//! How fast a batch of papers is matched against every subscriber's topics.
//!
//! The data is synthetic but shaped like the real thing: 1,000 papers whose titles and
//! abstracts mix a few focus words and phrases with function words, Zipf-weighted field words
//! and a long tail, from a vocabulary of about 3,000 words; and 100,000
//! subscribers with three topics each, drawn from the same vocabulary so that terms repeat a
//! lot across subscribers. Everything comes from a small seeded PRNG, so runs are comparable.
//!
//! Run with `cargo bench --bench matching`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use paperboy::paper::Paper;
use paperboy::topics::{PaperIndex, QueryId, QuerySet, TopicQuery};

const PAPERS: usize = 1_000;
const SUBSCRIBERS: usize = 100_000;
const TOPICS_PER_SUBSCRIBER: usize = 3;

/// The most frequent words of any abstract.
const FUNCTION_WORDS: &str = "the of and a to in we for is on that with this by our are as \
    from an which be can it its at these such";

/// Words a machine-learning paper uses; the first ones are the most frequent.
const ML_WORDS: &str = "model models learning language large neural network networks data \
    training diffusion transformer transformers attention image images generation generative \
    reinforcement policy agent agents reasoning benchmark benchmarks evaluation dataset datasets \
    fine tuning instruction alignment preference reward robot robotic robotics control vision \
    video text speech audio multimodal embedding embeddings representation representations \
    retrieval augmented knowledge graph graphs node classification segmentation detection \
    object objects scene 3d reconstruction rendering radiance field fields gaussian splatting \
    point cloud clouds depth estimation pose motion tracking optical flow sparse dense mixture \
    experts routing scaling law laws compute efficient efficiency inference latency quantization \
    pruning distillation compression memory cache kv context window long sequence sequences \
    token tokens tokenizer tokenization decoding sampling speculative parallel distributed \
    federated privacy differential secure security adversarial robustness attack attacks defense \
    jailbreak safety harmful toxicity bias fairness interpretability mechanistic circuits \
    features probing steering activation activations sparse autoencoder autoencoders latent \
    variational bayesian uncertainty calibration conformal prediction forecasting time series \
    anomaly causal causality inference counterfactual intervention theory theoretical convergence \
    optimization gradient descent stochastic adaptive optimizer loss landscape generalization \
    overfitting regularization contrastive self supervised unsupervised semi pretraining \
    pretrained foundation zero shot few prompt prompting chain thought planning search tree \
    monte carlo tool use code generation program synthesis mathematical math theorem proving \
    formal verification question answering summarization translation multilingual low resource \
    dialogue conversational chatbot assistant human feedback rlhf dpo sft lora adapter adapters \
    parameter efficient mixture medical clinical biomedical protein molecule molecular drug \
    discovery chemistry materials physics simulation climate weather earth satellite remote \
    sensing autonomous driving navigation manipulation grasping locomotion humanoid embodied \
    world simulator sim2real imitation demonstration offline online exploration bandit \
    multiagent cooperative game games equilibrium economic recommendation recommender ranking \
    click user users personalization social media misinformation detection hallucination \
    factuality faithfulness grounding grounded citation verifier critique self reflection \
    agentic workflow web browser gui screen mobile os hardware accelerator gpu kernel kernels \
    compiler sparse attention linear state space mamba recurrent rnn lstm convolution \
    convolutional cnn vit clip captioning vqa visual instruction editing inpainting super \
    resolution denoising restoration style transfer animation avatar face facial expression \
    emotion music singing voice cloning synthesis tts asr speaker diarization keyword spotting \
    signal processing wireless communication channel semantic";

/// Two- and three-word phrases, planted in abstracts so phrase topics find something.
const PHRASES: [&str; 24] = [
    "large language model",
    "large language models",
    "reinforcement learning",
    "diffusion model",
    "diffusion models",
    "vision language model",
    "neural radiance field",
    "gaussian splatting",
    "chain of thought",
    "retrieval augmented generation",
    "mixture of experts",
    "state space model",
    "in context learning",
    "human feedback",
    "text-to-image",
    "zero-shot",
    "few-shot",
    "sparse autoencoder",
    "question answering",
    "knowledge graph",
    "time series",
    "autonomous driving",
    "point cloud",
    "graph neural network",
];

const FIRST_NAMES: &str = "Wei Li Ming Yan Jun Hao Xin Jie Ana Maria Jose Luis Carlos Anna \
    Peter John David Michael Sarah Emily Laura Thomas Daniel Alex Chen Kai Yuki Hiroshi Priya \
    Rahul Amit Fatima Omar Ahmed Olga Ivan Sofia Lucas Noah Emma Mia Lena Jonas Elena";
const SURNAMES: &str = "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo \
    Smith Johnson Brown Garcia Miller Davis Rodriguez Martinez Lopez Gonzalez Kim Lee Park \
    Choi Tanaka Suzuki Sato Kumar Singh Sharma Patel Gupta Müller Schmidt Schneider Fischer \
    Weber Rossi Russo Dubois Martin Bernard Ivanov Petrov Novak Silva Santos Costa Cohen Levi";
const CATEGORIES: [&str; 20] = [
    "cs.CL",
    "cs.LG",
    "cs.CV",
    "cs.AI",
    "cs.RO",
    "stat.ML",
    "cs.IR",
    "cs.CR",
    "cs.SD",
    "eess.AS",
    "eess.IV",
    "cs.NE",
    "cs.HC",
    "cs.SE",
    "cs.DC",
    "q-bio.QM",
    "physics.comp-ph",
    "math.OC",
    "cs.MA",
    "cs.GR",
];

/// xorshift64*: small, fast and good enough to spread synthetic data.
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

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Picks items with probability falling as 1/(rank+1)^1.1, like word frequencies.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Self {
        let mut total = 0.0;
        let cumulative = (0..n)
            .map(|rank| {
                total += (rank as f64 + 1.0).powf(-1.1);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    fn pick(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * total;
        self.cumulative
            .partition_point(|&c| c < x)
            .min(self.cumulative.len() - 1)
    }
}

/// The words papers and topics are made of.
struct Vocabulary {
    function: Vec<String>,
    /// Real machine-learning words, most common first.
    ml: Vec<String>,
    /// Invented but word-like (`morvalent`, `trisectoral`): the long tail of rare words.
    tail: Vec<String>,
    function_zipf: Zipf,
    ml_zipf: Zipf,
}

impl Vocabulary {
    fn new(rng: &mut Rng) -> Self {
        const ONSETS: [&str; 16] = [
            "b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "tr", "pl", "st",
        ];
        const VOWELS: [&str; 6] = ["a", "e", "i", "o", "u", "io"];
        const ENDINGS: [&str; 12] = [
            "tion", "ment", "al", "ive", "er", "ing", "ity", "ics", "ent", "ous", "ator", "ism",
        ];
        let function: Vec<String> = FUNCTION_WORDS
            .split_whitespace()
            .map(String::from)
            .collect();
        let ml: Vec<String> = ML_WORDS.split_whitespace().map(String::from).collect();
        let mut tail = std::collections::BTreeSet::new();
        while tail.len() < 2_500 {
            let mut word = String::new();
            for _ in 0..2 + rng.below(2) {
                word.push_str(ONSETS[rng.below(ONSETS.len())]);
                word.push_str(VOWELS[rng.below(VOWELS.len())]);
            }
            word.push_str(ENDINGS[rng.below(ENDINGS.len())]);
            if !ml.contains(&word) {
                tail.insert(word);
            }
        }
        Vocabulary {
            function_zipf: Zipf::new(function.len()),
            ml_zipf: Zipf::new(ml.len()),
            function,
            ml,
            tail: tail.into_iter().collect(),
        }
    }

    /// A machine-learning word as a paper's focus or a subscriber's topic: half the time one
    /// of the 100 most common, otherwise any.
    fn subject(&self, rng: &mut Rng) -> &str {
        let rank = if rng.chance(50) {
            rng.below(100)
        } else {
            rng.below(self.ml.len())
        };
        &self.ml[rank]
    }

    fn tail_word(&self, rng: &mut Rng) -> &str {
        &self.tail[rng.below(self.tail.len())]
    }
}

fn papers(rng: &mut Rng, words: &Vocabulary) -> Vec<Paper> {
    let first: Vec<&str> = FIRST_NAMES.split_whitespace().collect();
    let last: Vec<&str> = SURNAMES.split_whitespace().collect();
    (0..PAPERS)
        .map(|i| {
            // Each paper is about a few things: its focus words and phrases recur, the rest is
            // function words, common field words and the long tail.
            let focus: Vec<&str> = (0..6).map(|_| words.subject(rng)).collect();
            let phrases: Vec<&str> = (0..2).map(|_| PHRASES[rng.below(PHRASES.len())]).collect();
            let text = |rng: &mut Rng, count: usize, focus_percent: usize| {
                let mut out = Vec::with_capacity(count);
                while out.len() < count {
                    let roll = rng.below(100);
                    out.push(if roll < focus_percent {
                        focus[rng.below(focus.len())]
                    } else if roll < focus_percent + 4 {
                        phrases[rng.below(phrases.len())]
                    } else if roll < focus_percent + 44 {
                        &words.function[words.function_zipf.pick(rng)]
                    } else if roll < focus_percent + 54 {
                        &words.ml[words.ml_zipf.pick(rng)]
                    } else {
                        words.tail_word(rng)
                    });
                }
                out.join(" ")
            };
            let title_words = 6 + rng.below(10);
            let title = text(rng, title_words, 40);
            let summary_words = 120 + rng.below(140);
            let summary = text(rng, summary_words, 15) + ".";
            let authors = (0..1 + rng.below(8))
                .map(|_| {
                    format!(
                        "{} {}",
                        first[rng.below(first.len())],
                        last[rng.below(last.len())]
                    )
                })
                .collect();
            // Hugging Face papers come without categories.
            let categories = if rng.chance(15) {
                Vec::new()
            } else {
                (0..1 + rng.below(3))
                    .map(|_| CATEGORIES[rng.below(CATEGORIES.len())].to_string())
                    .collect()
            };
            Paper {
                summary,
                authors,
                categories,
                upvotes: Some(rng.below(100) as u32),
                ..Paper::new(&format!("2606.{i:05}"), &title)
            }
        })
        .collect()
}

/// One topic in the mix people actually write: mostly single words and short ANDs, then
/// phrases, exclusions, field restrictions, prefixes and ORs.
fn topic(rng: &mut Rng, words: &Vocabulary) -> String {
    // Mostly field words, sometimes a rare word from the tail.
    let word = |rng: &mut Rng| {
        if rng.chance(10) {
            words.tail_word(rng).to_string()
        } else {
            words.subject(rng).to_string()
        }
    };
    let surnames: Vec<&str> = SURNAMES.split_whitespace().collect();
    match rng.below(100) {
        0..=29 => word(rng),
        30..=44 => format!("{} {}", word(rng), word(rng)),
        45..=56 => format!("\"{}\"", PHRASES[rng.below(PHRASES.len())]),
        57..=64 => format!("{} AND NOT {}", word(rng), word(rng)),
        65..=71 => format!("title:{}", word(rng)),
        72..=75 => format!("author:{}", surnames[rng.below(surnames.len())]),
        76..=82 => {
            let w = word(rng);
            let cut = (4 + rng.below(3)).min(w.len());
            format!("{}*", &w[..cut])
        }
        83..=91 => format!("{} OR {}", word(rng), word(rng)),
        92..=95 => format!("({} OR {}) {}", word(rng), word(rng), word(rng)),
        _ => format!(
            "category:{} {}",
            CATEGORIES[rng.below(CATEGORIES.len())],
            word(rng)
        ),
    }
}

struct Fixture {
    papers: Vec<Paper>,
    set: QuerySet,
    subscribers: Vec<[QueryId; TOPICS_PER_SUBSCRIBER]>,
}

fn fixture() -> Fixture {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let words = Vocabulary::new(&mut rng);
    let papers = papers(&mut rng, &words);
    let mut set = QuerySet::new();
    let subscribers = (0..SUBSCRIBERS)
        .map(|_| {
            std::array::from_fn(|_| {
                let text = topic(&mut rng, &words);
                let query = TopicQuery::parse(&text)
                    .unwrap_or_else(|e| panic!("generated topic {text:?}: {e}"));
                set.add(&query)
            })
        })
        .collect();
    Fixture {
        papers,
        set,
        subscribers,
    }
}

fn bench(c: &mut Criterion) {
    let Fixture {
        papers,
        set,
        subscribers,
    } = fixture();
    let index = PaperIndex::new(&papers);
    let matches = set.evaluate(&index);
    let matched: usize = subscribers
        .iter()
        .map(|ids| matches.union_of(ids.iter().copied()).len())
        .sum();
    eprintln!(
        "{} queries, {} distinct, {} distinct terms; {:.1} papers per subscriber on average",
        set.len(),
        set.distinct_query_count(),
        set.term_count(),
        matched as f64 / SUBSCRIBERS as f64
    );
    drop(matches);

    c.bench_function("index_1k_papers", |b| {
        b.iter(|| PaperIndex::new(black_box(&papers)))
    });
    // The same work without the per-subscriber unions, to show how the time splits.
    c.bench_function("evaluate_300k_queries_1k_papers", |b| {
        b.iter(|| set.evaluate(black_box(&index)))
    });
    c.bench_function("match_100k_subscribers_x3_topics_1k_papers", |b| {
        b.iter(|| {
            let matches = set.evaluate(black_box(&index));
            let mut total = 0;
            for ids in &subscribers {
                total += matches.union_of(ids.iter().copied()).len();
            }
            black_box(total)
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
