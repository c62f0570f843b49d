//! `paperboy send-now` end to end: the release binary as a child process, against a local
//! stand-in for Hugging Face's daily papers API and the counting SMTP sink.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use paperboy::deliver::Take;

use super::{CONNECTIONS, Sink, median};

const PAPERS: usize = 1_000;
const TOPICS_PER_SUBSCRIBER: usize = 3;
const FIXTURE: &str = include_str!("../../tests/fixtures/hf_daily_papers.json");

/// Words and phrases a reader might follow; those that match 5–15 % of the generated papers
/// are used (see `vocabulary`).
const CANDIDATES: &[&str] = &[
    "diffusion",
    "retrieval",
    "vision",
    "attention",
    "sparse",
    "distillation",
    "transformer",
    "safety",
    "dataset",
    "editing",
    "robustness",
    "adversarial",
    "tools",
    "reward",
    "embedding",
    "world",
    "kernel",
    "robotic",
    "medical",
    "detection",
    "prompt",
    "sampling",
    "inference",
    "search",
    "annotation",
    "generation",
    "reinforcement learning",
    "language model",
    "large language model",
    "sparse attention",
    "chain of thought",
    "multi agent",
];

/// Title openings that make the generated papers' titles differ.
const OPENINGS: &[&str] = &[
    "Revisiting",
    "Towards",
    "Scaling",
    "Efficient",
    "Rethinking",
    "Beyond",
    "Understanding",
    "Learning",
    "On",
    "Improving",
    "Benchmarking",
    "Unifying",
    "Probing",
    "Accelerating",
    "Grounding",
    "Steering",
    "Measuring",
    "Aligning",
    "Compressing",
    "Adapting",
    "Evaluating",
    "Exploring",
    "Simplifying",
    "Stabilizing",
    "Generalizing",
    "Teaching",
    "Bootstrapping",
    "Decoding",
    "Routing",
    "Calibrating",
    "Sharpening",
    "Distilling",
    "Composing",
    "Verifying",
];

struct Run {
    wall: Duration,
    delivered: usize,
    /// `None` where the run is this process's (the backlog's).
    peak_rss_kib: Option<i64>,
    most_open: usize,
    state_bytes: u64,
    papers_per_digest: f64,
}

pub async fn run_all(sizes: &[usize], measured: Measured, reps: usize, state_days: usize) {
    let binary = paperboy_binary();
    let papers = generate_papers();
    let vocabulary = vocabulary(&papers);
    let server = PaperServer::start(&papers).await;
    let what = match measured {
        Measured::EndToEnd => "end to end",
        Measured::Backlog => {
            "the outbox worker alone (digests composed while the relay was down, then sent from the state in this process)"
        }
    };
    println!(
        "\n{what}: {} send-now, {PAPERS} papers, {TOPICS_PER_SUBSCRIBER} topics a subscriber from {} words and phrases each matching 5-15 % of the papers, max_connections = {CONNECTIONS}",
        binary.display(),
        vocabulary.len()
    );
    let mut rows = Vec::new();
    for &size in sizes {
        let mut runs = Vec::new();
        for rep in 0..reps {
            let last = rep == reps - 1;
            let analyse = last && measured == Measured::EndToEnd;
            let run = run_once(
                &binary,
                &server,
                &vocabulary,
                size,
                measured,
                analyse,
                state_days,
            )
            .await;
            println!(
                "  {size} subscribers: {:.1} s, {:.0} digests/s, peak RSS {}, state {} MiB, {:.1} papers a digest",
                run.wall.as_secs_f64(),
                run.delivered as f64 / run.wall.as_secs_f64(),
                mebibytes(run.peak_rss_kib),
                run.state_bytes / (1024 * 1024),
                run.papers_per_digest
            );
            runs.push(run);
        }
        rows.push((size, runs));
    }
    println!(
        "\n| subscribers | runs | wall time (s) | digests/s | peak RSS | state (MiB) | most connections | delivered |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (size, runs) in &rows {
        let mut walls: Vec<f64> = runs.iter().map(|r| r.wall.as_secs_f64()).collect();
        let mut rates: Vec<f64> = runs
            .iter()
            .map(|r| r.delivered as f64 / r.wall.as_secs_f64())
            .collect();
        let mut rss: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.peak_rss_kib)
            .map(|kib| kib as f64)
            .collect();
        let mut state: Vec<f64> = runs
            .iter()
            .map(|r| r.state_bytes as f64 / (1024.0 * 1024.0))
            .collect();
        println!(
            "| {size} | {} | {:.1} | {:.0} | {} | {:.0} | {} | {} |",
            runs.len(),
            median(&mut walls),
            median(&mut rates),
            mebibytes((!rss.is_empty()).then(|| median(&mut rss) as i64)),
            median(&mut state),
            runs.iter().map(|r| r.most_open).max().unwrap_or(0),
            runs.iter().map(|r| r.delivered).min().unwrap_or(0),
        );
    }
}

/// A peak RSS for the log and the table; one measured in this process is not the run's own.
fn mebibytes(kib: Option<i64>) -> String {
    kib.map_or("in process".into(), |kib| format!("{} MiB", kib / 1024))
}

/// `target/release/paperboy`, beside the example's own folder (`target/release/examples/`).
fn paperboy_binary() -> PathBuf {
    let example = std::env::current_exe().expect("the example's path");
    let release = example
        .parent()
        .and_then(Path::parent)
        .expect("target/release/examples/throughput");
    let binary = release.join("paperboy");
    if !binary.exists() {
        eprintln!(
            "{} is missing: run `cargo build --release` first",
            binary.display()
        );
        std::process::exit(2);
    }
    binary
}

/// What one run of the child left.
struct Finished {
    wall: Duration,
    status: i32,
    peak_rss_kib: i64,
    stdout: String,
    stderr: PathBuf,
}

impl Finished {
    fn exited_ok(&self) -> bool {
        libc::WIFEXITED(self.status) && libc::WEXITSTATUS(self.status) == 0
    }

    /// Stops the benchmark with what paperboy said.
    fn fail(&self, what: &str) -> ! {
        let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        panic!(
            "{what} ({}):\n{}\n{}",
            self.status,
            self.stdout,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
}

/// `paperboy --config CONFIG send-now`, its output kept beside the config as `NAME.stdout`
/// and `NAME.stderr`, timed from start to exit.
async fn send_now(binary: &Path, config: &Path, name: &str) -> Finished {
    let dir = config.parent().expect("the config's folder");
    let stdout_path = dir.join(format!("{name}.stdout"));
    let stderr = dir.join(format!("{name}.stderr"));
    let mut command = std::process::Command::new(binary);
    command
        .arg("--config")
        .arg(config)
        .arg("send-now")
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .env_remove("RUST_LOG")
        .env_remove("JOURNAL_STREAM");
    for (key, _) in std::env::vars() {
        if key.starts_with("PAPERBOY") {
            command.env_remove(key);
        }
    }
    let start = Instant::now();
    let child = command.spawn().expect("start paperboy");
    let pid = child.id() as libc::pid_t;
    // wait4 gives this child's own peak RSS (RUSAGE_CHILDREN would be the most of all so far).
    let (status, peak_rss_kib) = tokio::task::spawn_blocking(move || {
        let mut status = 0;
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our child, not yet waited for; both pointers are to live locals.
        let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
        (status, usage.ru_maxrss)
    })
    .await
    .unwrap();
    let wall = start.elapsed();
    drop(child);
    Finished {
        wall,
        status,
        peak_rss_kib,
        stdout: std::fs::read_to_string(&stdout_path).unwrap_or_default(),
        stderr,
    }
}

/// What is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measured {
    /// One `send-now` in a fresh folder: fetch, compose, render, store and send.
    EndToEnd,
    /// The outbox worker alone: `send-now` composes and stores every digest while the relay
    /// is down (nothing listens; no retries), then the outbox is sent to the sink, timed, by
    /// paperboy's own delivery (`pipeline::deliver`) in this process, as after an outage.
    Backlog,
}

/// One measured run in a fresh folder; checks that every subscriber got exactly one digest.
async fn run_once(
    binary: &Path,
    server: &PaperServer,
    vocabulary: &[String],
    subscribers: usize,
    measured: Measured,
    analyse_state: bool,
    state_days: usize,
) -> Run {
    let dir = tempfile::tempdir().expect("a temp dir");
    let sink = Sink::start(true).await;
    write_subscribers(dir.path(), vocabulary, subscribers);
    if measured == Measured::Backlog {
        // A port nothing listens on: taken from the system, then let go.
        let down = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = write_config(dir.path(), server.port, down, "retries = 0\n");
        let outage = send_now(binary, &config, "outage").await;
        if outage.exited_ok() {
            outage.fail("paperboy send-now sent with the relay down");
        }
        let pending = {
            let conn = rusqlite::Connection::open(dir.path().join("state/paperboy.db")).unwrap();
            conn.query_row(
                "SELECT count(*) FROM digests WHERE status = 'pending'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
        };
        if pending != subscribers as i64 {
            outage.fail(&format!(
                "{pending} digests pending after the outage, not {subscribers}"
            ));
        }
    }
    let config = write_config(dir.path(), server.port, sink.addr.port(), "");
    let (wall, peak_rss_kib, stdout) = match measured {
        Measured::EndToEnd => {
            let finished = send_now(binary, &config, "send-now").await;
            if !finished.exited_ok() {
                finished.fail("paperboy send-now failed");
            }
            (finished.wall, Some(finished.peak_rss_kib), finished.stdout)
        }
        // In this process, through the library: the config (20,000 files and more) is
        // loaded and the state opened before the clock starts.
        Measured::Backlog => {
            let app = paperboy::app::App::load(&config).expect("the config loads");
            let store = app.open_store().expect("the state opens");
            let stop = paperboy::stop::Stop::never();
            let start = Instant::now();
            let delivered = paperboy::pipeline::deliver(&app, &store, None, Take::All, &stop).await;
            let wall = start.elapsed();
            let report = delivered.expect("the outbox is sent").report;
            assert_eq!(report.sent, subscribers, "{report:?}");
            (wall, None, format!("{report:?}"))
        }
    };
    let (distinct, most_to_one) = sink.recipients();
    assert_eq!(
        distinct, subscribers,
        "every subscriber gets a digest: {stdout}"
    );
    assert_eq!(most_to_one, 1, "no subscriber gets two");
    assert_eq!(sink.accepted(), subscribers as u64);
    assert!(sink.most_open() <= CONNECTIONS, "{} open", sink.most_open());

    let state = dir.path().join("state");
    let state_bytes = folder_size(&state);
    let db = state.join("paperboy.db");
    let papers_per_digest = {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let count =
            |sql: &str| -> f64 { conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as f64 };
        let digests = count("SELECT count(*) FROM digests");
        // After an outage, the second run sends what the first composed, and no more.
        assert_eq!(digests, subscribers as f64, "one digest a subscriber");
        count("SELECT count(*) FROM digest_papers") / digests
    };
    if analyse_state && state_days > 0 {
        daily_runs(&db, subscribers, state_days);
    }
    if analyse_state {
        state_growth(&db, subscribers);
    }
    // To profile or read paperboy's log afterwards: the folder holds the config, the
    // subscribers, the state and paperboy's stdout and stderr.
    if std::env::var_os("THROUGHPUT_KEEP").is_some() {
        println!("  kept {}", dir.keep().display());
    }
    Run {
        wall,
        delivered: distinct,
        peak_rss_kib,
        most_open: sink.most_open(),
        state_bytes,
        papers_per_digest,
    }
}

/// What each kind of row costs in the state database, from one run, and what 30 daily runs
/// at this many subscribers leave with the defaults: the bodies of sent digests are kept a
/// day (`keep_messages`), so while a run writes its own the last run's are still there; the
/// digests with their papers 14 days (`keep_history`), plus the day being written; the
/// papers, 1,000 new a day, for good.
fn state_growth(db: &Path, subscribers: usize) {
    const DAYS: f64 = 30.0;
    const HISTORY_DAYS: f64 = 14.0;
    let size = || std::fs::metadata(db).map(|m| m.len()).unwrap_or(0) as f64;
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("VACUUM").unwrap();
    let whole = size();
    conn.execute_batch("DELETE FROM messages; VACUUM").unwrap();
    let without_bodies = size();
    conn.execute_batch("DELETE FROM digest_papers; DELETE FROM digests; VACUUM")
        .unwrap();
    let without_digests = size();
    let digests = subscribers as f64;
    let body = (whole - without_bodies) / digests;
    let digest = (without_bodies - without_digests) / digests;
    let paper = without_digests / PAPERS as f64;
    let month = DAYS * PAPERS as f64 * paper
        + (HISTORY_DAYS + 1.0) * digests * digest
        + 2.0 * digests * body;
    println!(
        "  state after one run (vacuumed): {:.0} MiB = bodies {body:.0} B/digest + digest rows with their papers {digest:.0} B/digest + papers, cursors and the rest {paper:.0} B/paper",
        whole / 1048576.0
    );
    println!(
        "  estimate after {DAYS} daily runs of {subscribers} subscribers (two runs of bodies, {} days of digests, every paper): {:.0} MiB",
        HISTORY_DAYS + 1.0,
        month / 1048576.0
    );
}

/// The state after `days` daily runs, simulated on a copy of one run's state: each day
/// prunes through paperboy's own code, as a run's fetch does (bodies sent more than
/// `keep_messages` ago, digests composed more than `keep_history` ago, the defaults), then
/// adds what a run adds: 1,000 papers and one sent digest per subscriber, with the last
/// day's message bodies and papers under new ids. The database file is measured as it is,
/// free pages and all.
fn daily_runs(db: &Path, subscribers: usize, days: usize) {
    use chrono::SecondsFormat;
    let key = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, false);
    let copy = db.with_file_name("days.db");
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    drop(conn);
    std::fs::copy(db, &copy).unwrap();
    let size = || std::fs::metadata(&copy).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0;
    let n = subscribers as i64;
    // Day 0 is the run: its first send is the moment each later day repeats, so that, as in
    // a run, yesterday's bodies are still there when today's are written.
    let start: String = rusqlite::Connection::open(&copy)
        .unwrap()
        .query_row("SELECT min(sent_at) FROM digests", [], |r| r.get(0))
        .unwrap();
    let start = chrono::DateTime::parse_from_rfc3339(&start)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let began = Instant::now();
    let mut largest: f64 = 0.0;
    for day in 1..days as i64 {
        let now = start + chrono::Duration::days(day);
        let mut store = paperboy::store::Store::open(&copy).unwrap();
        store
            .prune_messages(now - chrono::Duration::days(1))
            .unwrap();
        store
            .prune_history(now - chrono::Duration::days(14))
            .unwrap();
        drop(store);
        let mut conn = rusqlite::Connection::open(&copy).unwrap();
        let tx = conn.transaction().unwrap();
        tx.execute(
            "INSERT INTO papers (arxiv_id, title, summary, authors, categories, published_at,
                upvotes, num_comments, github_repo, github_stars, project_page, ai_summary,
                ai_keywords, organization, source, first_seen_at, updated_at)
             SELECT arxiv_id || '.' || ?1, title, summary, authors, categories, published_at,
                upvotes, num_comments, github_repo, github_stars, project_page, ai_summary,
                ai_keywords, organization, source, ?2, ?2
             FROM papers WHERE arxiv_id NOT LIKE '%.%.%'",
            rusqlite::params![day, key(now)],
        )
        .unwrap();
        // Yesterday's digests are ids (day - 1) * n + 1 ..= day * n.
        tx.execute(
            "INSERT INTO digests (id, subscriber, slot, window_end_seq, composed_at, status,
                attempts, last_attempt_at, sent_at, message_id)
             SELECT id + ?1, subscriber, ?2, window_end_seq, ?2, 'sent', 1, ?2, ?2,
                printf('<digest.%d.%s>', ?3, subscriber)
             FROM digests WHERE id > ?4 AND id <= ?5",
            rusqlite::params![n, key(now), day, (day - 1) * n, day * n],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO messages (digest_id, message)
             SELECT digest_id + ?1, message FROM messages
             WHERE digest_id > ?2 AND digest_id <= ?3",
            rusqlite::params![n, (day - 1) * n, day * n],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO digest_papers (digest_id, arxiv_id, position)
             SELECT digest_id + ?1, substr(arxiv_id, 1, 10) || '.' || ?2, position
             FROM digest_papers WHERE digest_id > ?3 AND digest_id <= ?4",
            rusqlite::params![n, day, (day - 1) * n, day * n],
        )
        .unwrap();
        tx.commit().unwrap();
        drop(conn);
        largest = largest.max(size());
    }
    println!(
        "  state after {days} simulated daily runs of {subscribers} subscribers: {:.0} MiB (the largest along the way), simulated in {:.0} s",
        largest,
        began.elapsed().as_secs_f64()
    );
    if std::env::var_os("THROUGHPUT_KEEP").is_none() {
        let _ = std::fs::remove_file(&copy);
    }
}

fn folder_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// 1,000 daily papers items shaped like the fixture's: each takes one item's authors and
/// metadata with an opening added to its title, and another item's abstract, a fresh arXiv
/// id and upvotes of its own.
fn generate_papers() -> Vec<Value> {
    let fixture: Vec<Value> = serde_json::from_str(FIXTURE).expect("the fixture");
    (0..PAPERS)
        .map(|i| {
            let base = &fixture[i % fixture.len()];
            let other = &fixture[(i * 7 + 3) % fixture.len()];
            let mut item = base.clone();
            let opening = OPENINGS[(i / fixture.len()) % OPENINGS.len()];
            let title = format!("{opening} {}", base["paper"]["title"].as_str().unwrap());
            let summary = other["paper"]["summary"].clone();
            let id = format!("2606.{:05}", 20_000 + i);
            let upvotes = (i * 37 + 11) % 160;
            let paper = &mut item["paper"];
            paper["id"] = id.into();
            paper["title"] = title.clone().into();
            paper["summary"] = summary.clone();
            paper["upvotes"] = upvotes.into();
            item["title"] = title.into();
            item["summary"] = summary;
            item
        })
        .collect()
}

/// The candidates that match 5–15 % of `papers`, by a plain word test (a word, or the word
/// with an s; a phrase as consecutive words): near enough to Paperboy's stemmed matching.
fn vocabulary(papers: &[Value]) -> Vec<String> {
    let words: Vec<Vec<String>> = papers
        .iter()
        .map(|p| {
            let text = format!(
                "{} {}",
                p["paper"]["title"].as_str().unwrap(),
                p["paper"]["summary"].as_str().unwrap()
            )
            .to_lowercase();
            text.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect();
    let matches = |doc: &[String], term: &[&str]| {
        doc.windows(term.len()).any(|window| {
            window
                .iter()
                .zip(term)
                .all(|(w, t)| w == t || w.strip_suffix('s') == Some(t))
        })
    };
    let vocabulary: Vec<String> = CANDIDATES
        .iter()
        .filter(|candidate| {
            let term: Vec<&str> = candidate.split(' ').collect();
            let share = words.iter().filter(|d| matches(d, &term)).count() as f64 / PAPERS as f64;
            (0.05..=0.15).contains(&share)
        })
        .map(|c| c.to_string())
        .collect();
    assert!(vocabulary.len() >= 8, "too few topics: {vocabulary:?}");
    vocabulary
}

/// One file per subscriber in `dir/subscribers.d`, each with three topics of `vocabulary`.
fn write_subscribers(dir: &Path, vocabulary: &[String], subscribers: usize) {
    let folder = dir.join("subscribers.d");
    std::fs::create_dir(&folder).unwrap();
    // A fixed sequence (xorshift), so each size gets the same subscribers every time.
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for n in 0..subscribers {
        let mut topics: Vec<&str> = Vec::new();
        while topics.len() < TOPICS_PER_SUBSCRIBER {
            let topic = &vocabulary[(next() % vocabulary.len() as u64) as usize];
            if !topics.contains(&topic.as_str()) {
                topics.push(topic);
            }
        }
        let topics: Vec<String> = topics
            .iter()
            .map(|t| {
                if t.contains(' ') {
                    format!("'\"{t}\"'")
                } else {
                    format!("'{t}'")
                }
            })
            .collect();
        std::fs::write(
            folder.join(format!("{n:06}.toml")),
            format!(
                "email = \"reader{n}@example.org\"\nname = \"Reader {n}\"\ntopics = [{}]\n",
                topics.join(", ")
            ),
        )
        .unwrap();
    }
}

/// `dir/paperboy.toml`: the subscribers of `dir/subscribers.d`, papers from the stand-in at
/// `hf_port`, the relay at `smtp_port`, and `delivery`'s lines in `[delivery]`.
fn write_config(dir: &Path, hf_port: u16, smtp_port: u16, delivery: &str) -> PathBuf {
    let config = dir.join("paperboy.toml");
    std::fs::write(
        &config,
        format!(
            r#"subscribers_dir = "subscribers.d"

[mail]
from = "Paperboy <papers@example.org>"
unsubscribe = "mailto:papers-admin@example.org?subject=unsubscribe"

[delivery]
transport = "smtp"
{delivery}
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
max_connections = {CONNECTIONS}

[state]
path = "state/paperboy.db"

[sources.huggingface]
base_url = "http://127.0.0.1:{hf_port}"
"#
        ),
    )
    .unwrap();
    config
}

/// Answers `GET /api/daily_papers?limit=L&p=N[&date=...]`: the latest list (no date) holds
/// the 1,000 papers, a page of L at a time; each dated list is empty, as on a weekend.
struct PaperServer {
    port: u16,
}

impl PaperServer {
    async fn start(papers: &[Value]) -> PaperServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let papers = std::sync::Arc::new(papers.to_vec());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let papers = papers.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    let target = head.split(' ').nth(1).unwrap_or("/");
                    let body = answer(target, &papers);
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.write_all(body.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        PaperServer { port }
    }
}

fn answer(target: &str, papers: &[Value]) -> String {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/api/daily_papers" {
        return "[]".into();
    }
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    if param("date").is_some() {
        return "[]".into();
    }
    let limit: usize = param("limit").and_then(|v| v.parse().ok()).unwrap_or(100);
    let page: usize = param("p").and_then(|v| v.parse().ok()).unwrap_or(0);
    let start = (page * limit).min(papers.len());
    let end = (start + limit).min(papers.len());
    serde_json::to_string(&papers[start..end]).unwrap()
}
