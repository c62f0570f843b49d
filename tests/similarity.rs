//! The quality benchmark of `like` topics, on 433 real arXiv papers (`fixtures/arxiv_papers.json`,
//! origin in `fixtures/arxiv_papers.md`).
//!
//! For each field (primary archive) with at least 15 papers, and several random draws: a topic
//! likes 10 papers of the field, the other 423 are a day's papers, and the topic sends those
//! whose score passes `min_score`. Reported per field: the precision of what is sent (a paper
//! counts when its primary archive is the field) and how many are sent, for the default scorer
//! and for the baseline (cosine to the centroid of the liked papers), both at
//! `DEFAULT_MIN_SCORE`.
//!
//! Run with `cargo test --release --test similarity -- --nocapture` for the table;
//! `-- --ignored --nocapture` adds a sweep over methods and thresholds.

use paperboy::paper::Paper;
use paperboy::similar::{DEFAULT_MIN_SCORE, Method, Scorer, Similarity, Terms};

const LIKED: usize = 10;
const MIN_FIELD_PAPERS: usize = 15;
const DRAWS: u64 = 8;

struct Fixture {
    papers: Vec<Paper>,
    /// Primary archive of each paper: `hep-th`, `math`, `cond-mat`.
    fields: Vec<String>,
    /// Every archive each paper is listed in, primary or cross-list.
    listed: Vec<Vec<String>>,
}

/// A category's archive; `math.MP` is arXiv's alias of `math-ph`.
fn archive(category: &str) -> &str {
    if category == "math.MP" {
        return "math-ph";
    }
    category.split('.').next().unwrap()
}

fn fixture() -> Fixture {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/arxiv_papers.json"
    ))
    .unwrap();
    let raw: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let mut papers = Vec::new();
    let mut fields = Vec::new();
    let mut listed = Vec::new();
    for item in raw {
        let categories: Vec<String> = item["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        fields.push(archive(&categories[0]).to_string());
        listed.push(categories.iter().map(|c| archive(c).to_string()).collect());
        papers.push(Paper {
            summary: item["abstract"].as_str().unwrap().to_string(),
            categories,
            ..Paper::new(
                item["id"].as_str().unwrap(),
                item["title"].as_str().unwrap(),
            )
        });
    }
    Fixture {
        papers,
        fields,
        listed,
    }
}

/// The fields with enough papers, largest first.
fn fields(fixture: &Fixture) -> Vec<(String, usize)> {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for f in &fixture.fields {
        *counts.entry(f).or_default() += 1;
    }
    let mut out: Vec<(String, usize)> = counts
        .into_iter()
        .filter(|&(_, n)| n >= MIN_FIELD_PAPERS)
        .map(|(f, n)| (f.to_string(), n))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }
}

/// One topic's outcome.
#[derive(Clone, Copy)]
struct Sent {
    /// Sent papers whose primary archive is the field.
    primary: usize,
    /// Sent papers listed in the field, primary or cross-list.
    relevant: usize,
    sent: usize,
}

/// For each draw of each field, for each threshold: what the topic sends.
fn run(
    fixture: &Fixture,
    similarity: &Similarity,
    method: Method,
    thresholds: &[f32],
) -> Vec<(String, Vec<Vec<Sent>>)> {
    let all: Vec<&Paper> = fixture.papers.iter().collect();
    fields(fixture)
        .into_iter()
        .map(|(field, _)| {
            let members: Vec<usize> = (0..all.len())
                .filter(|&i| fixture.fields[i] == field)
                .collect();
            let draws = (0..DRAWS)
                .map(|draw| {
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (draw + 1).wrapping_mul(0x1234_5677));
                    let mut pool = members.clone();
                    for i in (1..pool.len()).rev() {
                        pool.swap(i, rng.below(i + 1));
                    }
                    let liked: Vec<&Paper> = pool[..LIKED].iter().map(|&i| all[i]).collect();
                    let day: Vec<usize> = (0..all.len())
                        .filter(|i| !pool[..LIKED].contains(i))
                        .collect();
                    let batch = similarity.batch(day.iter().map(|&i| all[i]));
                    let topic = similarity.topic_with(method, &liked, &[]);
                    let scores = topic.scores(&batch);
                    thresholds
                        .iter()
                        .map(|&t| {
                            let mut s = Sent {
                                primary: 0,
                                relevant: 0,
                                sent: 0,
                            };
                            for (k, score) in scores.iter().enumerate() {
                                if score.is_some_and(|s| s.value >= t) {
                                    s.sent += 1;
                                    s.primary += usize::from(fixture.fields[day[k]] == field);
                                    s.relevant +=
                                        usize::from(fixture.listed[day[k]].contains(&field));
                                }
                            }
                            s
                        })
                        .collect::<Vec<Sent>>()
                })
                .collect::<Vec<_>>();
            // Transpose to per threshold, per draw.
            let per_threshold = (0..thresholds.len())
                .map(|t| draws.iter().map(|d| d[t]).collect())
                .collect();
            (field, per_threshold)
        })
        .collect()
}

fn precision(draws: &[Sent]) -> f64 {
    ratio(draws, |s| s.relevant)
}

fn primary_precision(draws: &[Sent]) -> f64 {
    ratio(draws, |s| s.primary)
}

fn ratio(draws: &[Sent], count: impl Fn(&Sent) -> usize) -> f64 {
    draws
        .iter()
        .map(|s| {
            if s.sent == 0 {
                0.0
            } else {
                count(s) as f64 / s.sent as f64
            }
        })
        .sum::<f64>()
        / draws.len() as f64
}

fn mean_sent(draws: &[Sent]) -> f64 {
    draws.iter().map(|s| s.sent as f64).sum::<f64>() / draws.len() as f64
}

fn min_sent(draws: &[Sent]) -> usize {
    draws.iter().map(|s| s.sent).min().unwrap_or(0)
}

/// (average precision over fields, lowest field precision, fewest sent by any topic)
fn summary(results: &[(String, Vec<Vec<Sent>>)], t: usize) -> (f64, f64, usize) {
    let precisions: Vec<f64> = results.iter().map(|(_, r)| precision(&r[t])).collect();
    (
        precisions.iter().sum::<f64>() / precisions.len() as f64,
        precisions.iter().copied().fold(1.0, f64::min),
        results.iter().map(|(_, r)| min_sent(&r[t])).min().unwrap(),
    )
}

#[test]
fn like_topics_send_mostly_their_own_field() {
    let fixture = fixture();
    let similarity = Similarity::new(&fixture.papers);
    let ours = run(
        &fixture,
        &similarity,
        Method::default(),
        &[DEFAULT_MIN_SCORE],
    );
    // The baseline: cosine to the centroid of the liked papers' text vectors.
    let text_only = Similarity::with_terms(Terms::new(true, 0.0), &fixture.papers);
    let baseline = run(&fixture, &text_only, Method::Centroid, &[DEFAULT_MIN_SCORE]);
    let centroid = run(
        &fixture,
        &similarity,
        Method::Centroid,
        &[DEFAULT_MIN_SCORE],
    );
    println!(
        "\n{} draws of {LIKED} liked papers per field, min_score {DEFAULT_MIN_SCORE}",
        DRAWS
    );
    println!(
        "precision: of papers listed in the field (primary/cross-list); in brackets, of papers whose primary archive it is"
    );
    println!(
        "| field | papers | precision | sent (min) | baseline: text centroid | sent (min) | centroid with categories | sent (min) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let cell = |r: &[Sent]| {
        format!(
            "{:.2} ({:.2}) | {:.1} ({})",
            precision(r),
            primary_precision(r),
            mean_sent(r),
            min_sent(r)
        )
    };
    for ((((field, r), (_, b)), (_, c)), (_, n)) in ours
        .iter()
        .zip(&baseline)
        .zip(&centroid)
        .zip(fields(&fixture))
    {
        println!(
            "| {field} | {n} | {} | {} | {} |",
            cell(&r[0]),
            cell(&b[0]),
            cell(&c[0])
        );
    }
    let (avg, worst, fewest) = summary(&ours, 0);
    let (base_avg, _, _) = summary(&baseline, 0);
    let sent = |r: &[(String, Vec<Vec<Sent>>)]| {
        r.iter().map(|(_, r)| mean_sent(&r[0])).sum::<f64>() / r.len() as f64
    };
    let (centroid_avg, _, _) = summary(&centroid, 0);
    println!(
        "| average | | {avg:.2} | {:.1} | {base_avg:.2} | {:.1} | {centroid_avg:.2} | {:.1} |",
        sent(&ours),
        sent(&baseline),
        sent(&centroid)
    );
    assert!(avg >= 0.9, "average precision {avg:.3} below 0.9");
    assert!(worst >= 0.5, "a field's precision {worst:.3} below 0.5");
    assert!(fewest >= 5, "a topic sent only {fewest} papers");
    assert!(
        avg > base_avg,
        "{avg:.3} does not beat the baseline's {base_avg:.3}"
    );
}

#[test]
#[ignore = "a sweep for choosing methods and thresholds; slow"]
fn sweep() {
    let fixture = fixture();
    let thresholds: Vec<f32> = (4..=12).map(|t| t as f32 * 0.25).collect();
    for (stop, share) in [(true, 0.0), (true, 0.2), (true, 0.35), (false, 0.35)] {
        let similarity = Similarity::with_terms(Terms::new(stop, share), &fixture.papers);
        let mut methods = vec![Method::Centroid];
        for nearest in [0.25, 0.5, 0.75] {
            methods.push(Method::Hybrid { nearest });
        }
        for (epochs, lambda, hinge, nearest) in [
            (5, 1e-4, false, 0.0),
            (5, 1e-4, true, 0.0),
            (5, 1e-4, false, 0.5),
        ] {
            methods.push(Method::Linear {
                epochs,
                lambda,
                hinge,
                nearest,
            });
        }
        for method in methods {
            let started = std::time::Instant::now();
            let results = run(&fixture, &similarity, method, &thresholds);
            println!(
                "stop words dropped: {stop}, category share {share}; {method:?} ({:.1?})",
                started.elapsed()
            );
            for (t, threshold) in thresholds.iter().enumerate() {
                let (avg, worst, fewest) = summary(&results, t);
                let sent: f64 = results.iter().map(|(_, r)| mean_sent(&r[t])).sum::<f64>()
                    / results.len() as f64;
                let per_field: Vec<String> = results
                    .iter()
                    .map(|(f, r)| {
                        format!(
                            "{f} {:.2}/{:.2}/{:.0}",
                            precision(&r[t]),
                            primary_precision(&r[t]),
                            mean_sent(&r[t])
                        )
                    })
                    .collect();
                println!(
                    "  {threshold:>4}: avg {avg:.3} worst {worst:.2} fewest {fewest:>2} sent {sent:>5.1} | {}",
                    per_field.join(", ")
                );
            }
        }
    }
}
