//! The state after a year: 500 subscribers × 365 daily digests × 10 papers (1.8 M given
//! papers). How long "which of these 50 papers was this subscriber given before" takes, and
//! how long recording one chunk of periods takes: neither may grow with history.
//!
//! `cargo bench --bench state`

use std::hint::black_box;

use chrono::{Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use paperboy::store::{DigestContent, NewDigest, Packed, Store};

const SUBSCRIBERS: usize = 500;
const DAYS: usize = 365;
const PAPERS_PER_DIGEST: usize = 10;

fn subscriber(i: usize) -> String {
    format!("subscriber{i}@example.org")
}

fn paper_id(day: usize, i: usize) -> String {
    format!("25{:02}.{:05}", 1 + day % 12, (day * 50 + i) % 100_000)
}

/// One period per subscriber on `day`, each carrying ten of that day's papers.
fn periods(store: &Store, day: usize) -> Vec<NewDigest> {
    let cursors = store.cursors().unwrap();
    let slot = Utc::now() - Duration::days((DAYS - day) as i64);
    (0..SUBSCRIBERS)
        .map(|s| {
            let key = subscriber(s);
            NewDigest {
                based_on: cursors.get(&key).cloned(),
                subscriber: key,
                slot,
                window_end_seq: day as i64,
                composed_at: slot,
                content: DigestContent::Message {
                    message_id: format!("<{s}.{day}@example.org>"),
                    message: Packed::new(b""),
                    papers: (0..PAPERS_PER_DIGEST)
                        .map(|i| paper_id(day, (s + i) % 50))
                        .collect(),
                },
                supersedes: Vec::new(),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("state.db")).unwrap();
    for day in 0..DAYS {
        let periods = periods(&store, day);
        store.record_digests(&periods).unwrap();
    }
    let candidates: Vec<String> = (0..50).map(|i| paper_id(DAYS / 2, i)).collect();
    c.bench_function("given_among: 50 papers, a year of history", |b| {
        b.iter(|| {
            black_box(
                store
                    .given_among(&subscriber(SUBSCRIBERS / 2), &candidates)
                    .unwrap(),
            )
        })
    });
    let mut day = DAYS;
    c.bench_function("record_digests: 256 periods, a year of history", |b| {
        // Each round is a new day, so every period is recorded (none conflicts).
        b.iter_custom(|rounds| {
            let mut spent = std::time::Duration::ZERO;
            for _ in 0..rounds {
                day += 1;
                let mut chunk = periods(&store, day);
                chunk.truncate(256);
                let start = std::time::Instant::now();
                black_box(store.record_digests(&chunk).unwrap());
                spent += start.elapsed();
            }
            spent
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
