//! Rendering one digest of 10 papers, two topics with marked words, into its subject, HTML
//! and text: the per-subscriber cost of the templates (tera 2) and the highlighting.
//!
//! `cargo bench --bench render`

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use paperboy::paper::Paper;
use paperboy::render::{DigestEntry, DigestInput, Renderer, Section};
use paperboy::topics::TopicQuery;

fn paper(i: usize) -> Paper {
    Paper {
        summary: format!(
            "Large language models are everywhere. We study agents that plan with memory, \
             number {i}. Our agents beat strong baselines by 12.5 points on five benchmarks. \
             They also run faster and use less memory. Code and data are released."
        ),
        authors: vec![
            "Ada Lovelace".into(),
            "Grace Hopper".into(),
            "Alan Turing".into(),
        ],
        upvotes: Some(100 - i as u32),
        num_comments: 3,
        github_repo: Some("https://github.com/example/agents".into()),
        github_stars: Some(120),
        organization: Some("Example Lab".into()),
        ..Paper::new(
            &format!("2606.{i:05}"),
            &format!("Planning agents with long-term memory, part {i}"),
        )
    }
}

fn bench(c: &mut Criterion) {
    let papers: Vec<Paper> = (0..10).map(paper).collect();
    let agents = TopicQuery::parse("agents OR \"language model\"").unwrap();
    let memory = TopicQuery::parse("memory").unwrap();
    let entry = |p| DigestEntry {
        paper: p,
        topics: vec!["Agents", "Memory"],
        queries: vec![&agents, &memory],
        like: None,
    };
    let sections = [
        Section {
            heading: "Agents",
            entries: papers[..6].iter().map(entry).collect(),
        },
        Section {
            heading: "Memory",
            entries: papers[6..].iter().map(entry).collect(),
        },
    ];
    let input = DigestInput {
        name: Some("Alice"),
        email: "alice@example.org",
        date: NaiveDate::from_ymd_opt(2026, 12, 2).unwrap(),
        sections: &sections,
        topics: &["Agents", "Memory"],
        unsubscribe: Some("mailto:papers-admin@example.org?subject=unsubscribe"),
        contact: "papers@example.org",
    };
    let renderer = Renderer::new("{{ count }} new papers for you · {{ date }}", None).unwrap();
    c.bench_function("render a 10-paper digest", |b| {
        b.iter(|| black_box(renderer.render(black_box(&input)).unwrap()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
