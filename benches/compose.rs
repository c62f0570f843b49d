//! Composing one subscriber's digest, as `send-now` does for each of them: out of 1,000
//! candidate papers, three one-word topics match about 350 (each topic about 12%, like a
//! real field word in titles); `choose` ranks them and keeps 10, and `digest::compose`
//! renders them and builds the message. The per-digest CPU of a large run.
//!
//! The papers are the Hugging Face fixture's, given synthetic titles from a 30-word vocabulary
//! by a small seeded PRNG, so runs are comparable.
//!
//! `cargo bench --bench compose`

use std::collections::HashSet;
use std::hint::black_box;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use paperboy::config::Config;
use paperboy::digest::{self, Eligible, TopicMatches, TopicSet, UpvoteRule};
use paperboy::paper::Paper;
use paperboy::render::Renderer;
use paperboy::store::StoredPaper;
use paperboy::topics::{PaperIndex, QueryId, QuerySet};

const CANDIDATES: usize = 1_000;
const WORDS: &str = "agents diffusion transformer attention retrieval memory reasoning \
    robotics vision language speech graph quantum sparse distillation alignment safety benchmark \
    video audio planning search compression federated privacy causal bayesian kernel \
    optimization protein molecule";

/// xorshift64*: enough to spread words, and the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

/// The fixture's papers, as many as asked for, each with its own id, title and upvotes.
fn candidates() -> Vec<StoredPaper> {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../tests/fixtures/hf_daily_papers.json")).unwrap();
    let fixture = fixture.as_array().unwrap();
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    let mut rng = Rng(7);
    let published = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    (0..CANDIDATES)
        .map(|i| {
            let item = &fixture[i % fixture.len()];
            let p = &item["paper"];
            let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
            let mut picked: Vec<&str> = Vec::new();
            while picked.len() < 4 {
                let w = words[rng.below(words.len())];
                if !picked.contains(&w) {
                    picked.push(w);
                }
            }
            let title = format!(
                "{}{} {} for {} with {} number {i}",
                picked[0][..1].to_uppercase(),
                &picked[0][1..],
                picked[1],
                picked[2],
                picked[3]
            );
            let paper = Paper {
                summary: text(&p["summary"]).unwrap_or_default(),
                authors: (p["authors"].as_array().unwrap().iter())
                    .filter_map(|a| text(&a["name"]))
                    .collect(),
                published_at: Some(published + chrono::Duration::minutes(i as i64)),
                upvotes: Some(rng.below(201) as u32),
                num_comments: item["numComments"].as_u64().unwrap_or(0) as u32,
                github_repo: text(&p["githubRepo"]),
                github_stars: p["githubStars"].as_u64().map(|s| s as u32),
                project_page: text(&p["projectPage"]),
                ai_summary: text(&p["ai_summary"]),
                organization: text(&item["organization"]["fullname"]),
                ..Paper::new(&format!("2612.{i:05}"), &title)
            };
            StoredPaper {
                seq: i as i64 + 1,
                paper,
                moved: false,
            }
        })
        .collect()
}

fn config(dir: &std::path::Path) -> Config {
    let path = dir.join("paperboy.toml");
    std::fs::write(
        &path,
        r#"[mail]
from = "Paperboy <papers@example.org>"
unsubscribe = "mailto:papers-admin@example.org?subject=unsubscribe"
[delivery]
transport = "file"
outbox_dir = "outbox"
[state]
path = "state/paperboy.db"
[[subscribers]]
email = "alice@example.org"
name = "Alice"
topics = ["agents", "diffusion", "memory"]
"#,
    )
    .unwrap();
    Config::load_with_env(&path, []).unwrap()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let renderer = Renderer::new(&config.mail.subject, None).unwrap();
    let subscriber = &config.subscribers[0];
    let candidates = candidates();
    let index = PaperIndex::new(candidates.iter().map(|c| &c.paper));
    let mut queries = QuerySet::new();
    let ids: Vec<QueryId> = (subscriber.topics.iter())
        .map(|t| queries.add(t.query().unwrap()))
        .collect();
    let matches = queries.evaluate(&index);
    let wanted = TopicMatches::new(
        ids.iter()
            .map(|&id| TopicSet::query(&matches, id))
            .collect(),
    );
    let upvotes = UpvoteRule {
        min: 0,
        require: false,
    };
    let given = HashSet::new();
    let slot: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 12, 2, 7, 0, 0).unwrap();
    let eligible = Eligible::new(&candidates, 0, &wanted, upvotes);
    let picks = eligible
        .clone()
        .choose(&candidates, &wanted, &given, subscriber.max_papers, &[])
        .unwrap();
    assert_eq!(picks.len(), 10);

    let mut group = c.benchmark_group("compose");
    group.bench_function("choose 10 of ~350 eligible", |b| {
        b.iter(|| {
            Eligible::new(&candidates, 0, &wanted, upvotes)
                .choose(&candidates, &wanted, &given, subscriber.max_papers, &[])
                .unwrap()
        })
    });
    group.bench_function("render and build a 10-paper message", |b| {
        b.iter(|| {
            digest::compose(
                &config,
                &renderer.for_run(),
                subscriber,
                &candidates,
                black_box(&picks),
                slot,
                slot,
            )
            .unwrap()
        })
    });
    group.bench_function("one subscriber's digest", |b| {
        b.iter(|| {
            let picks = Eligible::new(&candidates, 0, &wanted, upvotes)
                .choose(&candidates, &wanted, &given, subscriber.max_papers, &[])
                .unwrap();
            digest::compose(
                &config,
                &renderer.for_run(),
                subscriber,
                &candidates,
                &picks,
                slot,
                slot,
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
