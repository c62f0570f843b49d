//! The fault matrix (issue 11): one test per row, each through the real binary against
//! loopback servers that misbehave on purpose, each asserting the outcome: who got exactly
//! one digest, what `status` shows, the exit code, and that the message names the thing.
//!
//! | row | fault | outcome |
//! |---|---|---|
//! | smtp_421_at_greeting | the relay greets with 421 and hangs up | pending, exit 1, status shows the 421; next run delivers once |
//! | smtp_451_at_data | "try later" at the end of DATA | retried in the run, delivered once, exit 0 |
//! | smtp_452_too_many_recipients | 452 at RCPT | retried, delivered once, exit 0 |
//! | smtp_550_unknown_user | one recipient refused at RCPT | that digest failed with the reply, the others delivered, exit 1 |
//! | smtp_554_after_data | 554 at the end of DATA | failed with the reply, not tried again, exit 1 |
//! | smtp_connection_dropped_mid_data | the relay hangs up halfway through a message | retried, delivered once each |
//! | smtp_server_down_at_start | nothing listens on the port | all pending, exit 1; next run delivers each once |
//! | smtp_slower_than_the_timeout | no reply to DATA within the timeout | pending ("may or may not"), exit 1 |
//! | smtp_tls_required_but_not_offered | security = "starttls", no STARTTLS | `check --smtp` and send-now say so, nothing sent in clear |
//! | smtp_authentication_rejected | 535 to AUTH | `check --smtp` exits 1 saying the login was refused; digests stay pending |
//! | source_http_500 | Hugging Face answers 500 | the source named with HTTP 500, exit 1, nothing composed from nothing |
//! | source_429_with_retry_after | 429 with Retry-After: 1, then 200 | waited, asked again, delivered, exit 0 |
//! | source_503 | 503 without Retry-After | the source named with HTTP 503, exit 1 |
//! | source_timeout | no answer within the source's timeout | the source named, "timed out", exit 1 |
//! | source_connection_refused | nothing listens at base_url | the source named, "Connection refused", exit 1 |
//! | source_truncated_json | half a JSON list | "not the list of papers huggingface returns", exit 1 |
//! | source_html_error_page_with_200 | an HTML page served as 200 | the same, exit 1 |
//! | source_50_mb_body | a 50 MB answer | refused at the size cap, naming the source and the cap, exit 1 |
//! | source_items_with_missing_extra_wrong_typed_fields | bad items among good ones | bad items skipped by id with a warning, the rest delivered, exit 0 |
//! | source_duplicate_ids | one paper listed twice and on two days | stored and sent once |
//! | source_non_utf8_bytes | invalid UTF-8 inside a title | the byte replaced, the paper delivered, exit 0 |
//! | source_empty_list_on_a_weekday | `[]` for every day | nothing to send, no mail, exit 0 |
//! | arxiv_feed_fails_hugging_face_delivers | arXiv's feed answers 500 | arXiv named, Hugging Face's papers delivered, exit 0 |
//! | sigkill_during_sending_then_restart | send-now killed with SIGKILL mid-send | restart delivers the rest at once, nobody twice but the in-flight |
//! | sigkill_during_state_writes | send-now killed again and again while writing the state | integrity_check ok, one digest per subscriber in the end |
//! | read_only_state_folder | the state folder cannot be written | a clear error naming state.path, nothing sent, nothing written |
//! | full_state_folder | the state cannot grow (a file size limit, as a full disk) | an error naming the state, exit 1, nothing sent; the database intact, the next run delivers once |
//! | locked_database | another process holds the write lock | busy timeout, then an error naming the state, exit 1, nothing sent |
//! | one_subscribers_problem_skips_only_them | a bad topic, time zone, address, subscriber file | those skipped and listed, the others delivered, exit 1; status and check show them |
//! | a_problem_in_a_global_section_rejects_the_whole_config | `[digest] max_papers = 0` besides | exit 2 listing both kinds, nothing sent or created |
//! | a_skipped_subscribers_waiting_digest_waits_for_the_fix | a typo while a digest of theirs waits | it stays pending, goes out once fixed |
//! | a_reload_with_one_subscribers_problem_keeps_serving_the_others | SIGHUP with one broken, one new subscriber | the new one served, the broken one logged as an error |
//! | broken_configs | 30+ broken configs | see tests/config.rs, `each_broken_config_exits_2_naming_its_key` |
//!
//! Rows tested elsewhere as well: SIGTERM during a stalled send (tests/daemon.rs),
//! send-now beside run (tests/daemon.rs), a paper from both sources sent once
//! (tests/sources.rs), 30 subscribers over 4 connections with mixed faults
//! (tests/delivery.rs).

mod support;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";
const CAROL: &str = "carol@example.org";

/// Subscribers without topics: each gets the day's most upvoted papers.
fn subscribers(addresses: &[&str]) -> String {
    addresses
        .iter()
        .map(|a| format!("[[subscribers]]\nemail = \"{a}\"\n"))
        .collect()
}

async fn three() -> TestEnv {
    TestEnv::new(&subscribers(&[ALICE, BOB, CAROL])).await
}

/// Replaces `from` (which must be there) with `to` in the env's config.
fn edit(env: &TestEnv, from: &str, to: &str) {
    let text = std::fs::read_to_string(&env.config).unwrap();
    assert!(text.contains(from), "{from:?} not in the config");
    std::fs::write(&env.config, text.replacen(from, to, 1)).unwrap();
}

/// "sent S, pending P, failed F" from send-now's summary.
fn summary(out: &std::process::Output) -> (usize, usize, usize) {
    let text = stdout(out);
    let line = text
        .lines()
        .find(|l| l.starts_with("sent "))
        .unwrap_or_else(|| panic!("no summary line in {text}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (numbers[0], numbers[1], numbers[2])
}

/// How many digests each address received.
fn received(env: &TestEnv) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for mail in env.mails() {
        for to in mail.envelope_to {
            *counts.entry(to).or_default() += 1;
        }
    }
    counts
}

fn assert_each_got_one(env: &TestEnv, addresses: &[&str]) {
    let counts = received(env);
    for address in addresses {
        assert_eq!(
            counts.get(*address),
            Some(&1),
            "{address} got {:?} digests: {counts:?}",
            counts.get(*address)
        );
    }
}

async fn status(env: &TestEnv) -> String {
    let out = env.run(&["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
}

/// A port on loopback with nothing listening.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------
// SMTP

#[tokio::test(flavor = "multi_thread")]
async fn smtp_421_at_greeting() {
    let env = three().await;
    env.smtp
        .greet_with(Some("421 4.3.2 Service not available, closing channel"));
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(summary(&out), (0, 3, 0));
    assert!(env.smtp.accepted().is_empty());
    let shown = status(&env).await;
    assert!(shown.contains("outbox: 3 pending, 0 failed"), "{shown}");
    assert!(shown.contains("421 4.3.2 Service not available"), "{shown}");

    env.smtp.greet_with(None);
    let again = env.run(&["send-now"]).await;
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    assert_eq!(summary(&again), (3, 0, 0));
    assert_each_got_one(&env, &[ALICE, BOB, CAROL]);
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_451_at_data() {
    let env = three().await;
    env.smtp.reply_to_next_data(&[
        "451 4.3.0 Try again later",
        "451 4.7.1 Greylisted, come back later",
    ]);
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(summary(&out), (3, 0, 0));
    assert_eq!(env.smtp.data_replies_left(), 0);
    assert_eq!(env.smtp.data_attempts(), 5, "two refused, three taken");
    assert_each_got_one(&env, &[ALICE, BOB, CAROL]);
    assert_eq!(env.mails().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_452_too_many_recipients() {
    let env = three().await;
    env.smtp
        .reply_to_next_rcpt(&["452 4.5.3 Too many recipients"]);
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(summary(&out), (3, 0, 0));
    assert_eq!(env.smtp.rcpt_replies_left(), 0);
    assert_each_got_one(&env, &[ALICE, BOB, CAROL]);
    assert_eq!(env.mails().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_550_unknown_user() {
    let env = three().await;
    let refusal = "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown";
    env.smtp.reject_recipient(BOB, refusal);
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(summary(&out), (2, 0, 1));
    assert_eq!(env.smtp.rcpt_rejections(), 1, "a 550 is not tried again");
    assert_each_got_one(&env, &[ALICE, CAROL]);
    assert!(!received(&env).contains_key(BOB));
    let shown = status(&env).await;
    assert!(shown.contains("outbox: 0 pending, 1 failed"), "{shown}");
    let line = shown
        .lines()
        .find(|l| l.contains(BOB) && l.contains("failed ("))
        .unwrap_or_else(|| panic!("no failed digest of bob in {shown}"));
    assert!(line.contains(refusal), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_554_after_data() {
    let env = TestEnv::new(&subscribers(&[ALICE])).await;
    env.smtp
        .always_reply_to_data("554 5.7.1 Message rejected as spam");
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(summary(&out), (0, 0, 1));
    assert_eq!(env.smtp.data_attempts(), 1, "a 554 is not retried");
    let shown = status(&env).await;
    assert!(shown.contains("outbox: 0 pending, 1 failed"), "{shown}");
    assert!(
        shown.contains("554 5.7.1 Message rejected as spam"),
        "{shown}"
    );
    // Nothing is tried again by the next run.
    let again = env.run(&["send-now"]).await;
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(env.smtp.data_attempts(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_connection_dropped_mid_data() {
    let env = three().await;
    env.smtp.drop_connections_mid_data(2);
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(summary(&out), (3, 0, 0));
    assert_eq!(env.smtp.dropped_mid_data(), 2);
    assert_each_got_one(&env, &[ALICE, BOB, CAROL]);
    assert_eq!(env.mails().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_server_down_at_start() {
    let env = three().await;
    let port = closed_port();
    edit(
        &env,
        &format!("port = {}", env.smtp.port()),
        &format!("port = {port}"),
    );
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(summary(&out), (0, 3, 0));
    assert!(
        stdout(&out).contains("pending digests stay in the outbox"),
        "{}",
        stdout(&out)
    );
    let shown = status(&env).await;
    assert!(shown.contains("outbox: 3 pending, 0 failed"), "{shown}");
    assert!(shown.contains("refused"), "{shown}");

    // The relay comes back on its port: the next run sends each digest once.
    let relay = SmtpServer::start_on(port);
    let again = env.run(&["send-now"]).await;
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    assert_eq!(summary(&again), (3, 0, 0));
    let mut counts: HashMap<String, usize> = HashMap::new();
    for mail in relay.accepted() {
        *counts.entry(mail.to[0].clone()).or_default() += 1;
    }
    for address in [ALICE, BOB, CAROL] {
        assert_eq!(counts.get(address), Some(&1), "{counts:?}");
    }
    assert!(status(&env).await.contains("outbox: 0 pending, 0 failed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_slower_than_the_timeout() {
    let env = TestEnv::new(&subscribers(&[ALICE])).await;
    edit(&env, "timeout = \"5s\"", "timeout = \"300ms\"");
    edit(&env, "retries = 2", "retries = 0");
    env.smtp.delay_data_reply(Duration::from_secs(2));
    let start = Instant::now();
    let out = env.run(&["send-now"]).await;
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "bounded by the timeout"
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(summary(&out), (0, 1, 0));
    let shown = status(&env).await;
    assert!(shown.contains("outbox: 1 pending, 0 failed"), "{shown}");
    assert!(shown.contains("no final reply within 300ms"), "{shown}");
    assert!(shown.contains("may or may not have taken it"), "{shown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_tls_required_but_not_offered() {
    let env = TestEnv::new(&subscribers(&[ALICE])).await;
    edit(&env, "security = \"none\"", "security = \"starttls\"");
    let check = env.run(&["check", "--smtp"]).await;
    assert_eq!(check.status.code(), Some(1));
    assert!(
        stdout(&check).contains("FAILED")
            && stdout(&check).contains("the server does not offer STARTTLS"),
        "{}",
        stdout(&check)
    );
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(summary(&out), (0, 1, 0));
    assert_eq!(env.smtp.data_attempts(), 0, "nothing is sent in the clear");
    assert!(status(&env).await.contains("does not offer STARTTLS"));
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_authentication_rejected() {
    let env = TestEnv::new(&subscribers(&[ALICE])).await;
    edit(
        &env,
        "timeout = \"5s\"",
        "timeout = \"5s\"\nusername = \"papers\"\npassword = \"wrong\"",
    );
    env.smtp
        .reject_logins("535 5.7.8 Authentication credentials invalid");
    let check = env.run(&["check", "--smtp"]).await;
    assert_eq!(check.status.code(), Some(1));
    let verdict = stdout(&check);
    let line = verdict
        .lines()
        .find(|l| l.starts_with("SMTP server"))
        .unwrap_or_else(|| panic!("no SMTP verdict in {verdict}"));
    assert!(line.contains("FAILED"), "{line}");
    assert!(line.contains("AUTH"), "{line}");
    assert!(
        line.contains("535 5.7.8 Authentication credentials invalid"),
        "{line}"
    );
    assert!(
        line.contains("check smtp.username and the password"),
        "{line}"
    );
    assert!(!verdict.contains("wrong"), "the password is never shown");
    // A refused login is the config's problem, not the digest's: it waits for the fix.
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(summary(&out), (0, 1, 0));
    assert!(env.smtp.accepted().is_empty());
}

// ---------------------------------------------------------------------------------------
// Sources

/// A single subscriber with Hugging Face answering `response` to everything.
async fn source_env(response: ResponseTemplate) -> TestEnv {
    let env = TestEnv::empty(&subscribers(&[ALICE])).await;
    Mock::given(method("GET"))
        .and(path("/api/daily_papers"))
        .respond_with(response)
        .mount(&env.hf)
        .await;
    env
}

/// A send-now whose one source failed: exit 1, nothing sent, the source and `words` named.
async fn assert_source_failed(env: &TestEnv, words: &[&str]) {
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(1), "every source failed");
    let (log, said) = (stderr(&out), stdout(&out));
    let line = log
        .lines()
        .find(|l| l.contains("fetch failed"))
        .unwrap_or_else(|| panic!("no failed fetch logged in {log}"));
    assert!(line.contains("huggingface"), "{line}");
    for word in words {
        assert!(line.contains(word), "{word:?} not in {line}");
    }
    assert!(
        said.contains("alice@example.org: nothing to send: fetching failed (huggingface)"),
        "{said}"
    );
    assert!(env.smtp.accepted().is_empty());
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn source_http_500() {
    let env = source_env(ResponseTemplate::new(500).set_body_string("oops")).await;
    assert_source_failed(&env, &["HTTP 500"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn source_429_with_retry_after() {
    let env = TestEnv::empty(&subscribers(&[ALICE])).await;
    Mock::given(method("GET"))
        .and(path("/api/daily_papers"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&env.hf)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/daily_papers"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(FIXTURE, "application/json"))
        .with_priority(2)
        .mount(&env.hf)
        .await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(summary(&out), (1, 0, 0));
    assert!(
        stderr(&out).contains("the server asks to be asked again in 1 s"),
        "{}",
        stderr(&out)
    );
    let requests = env.hf.received_requests().await.unwrap();
    assert_eq!(
        requests[0].url, requests[1].url,
        "the throttled request is asked again"
    );
    assert_each_got_one(&env, &[ALICE]);
}

#[tokio::test(flavor = "multi_thread")]
async fn source_503() {
    let env = source_env(ResponseTemplate::new(503)).await;
    assert_source_failed(&env, &["HTTP 503"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn source_timeout() {
    let env = source_env(
        ResponseTemplate::new(200)
            .set_body_raw(FIXTURE, "application/json")
            .set_delay(Duration::from_secs(3)),
    )
    .await;
    let text = std::fs::read_to_string(&env.config).unwrap();
    let text = text.replacen(
        "base_url = ",
        "lookback_days = 1\ntimeout = \"300ms\"\nbase_url = ",
        1,
    );
    std::fs::write(&env.config, text.replace("timeout = \"5s\"\n\n", "\n")).unwrap();
    let start = Instant::now();
    assert_source_failed(&env, &["timed out"]).await;
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "bounded by the timeout"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn source_connection_refused() {
    let env = TestEnv::empty(&subscribers(&[ALICE])).await;
    edit(
        &env,
        &env.hf.uri(),
        &format!("http://127.0.0.1:{}", closed_port()),
    );
    assert_source_failed(&env, &["Connection refused"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn source_truncated_json() {
    let half = &FIXTURE[..FIXTURE.len() / 2];
    let env = source_env(ResponseTemplate::new(200).set_body_raw(half, "application/json")).await;
    assert_source_failed(&env, &["not the list of papers huggingface returns", "EOF"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn source_html_error_page_with_200() {
    let page = "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>";
    let env = source_env(ResponseTemplate::new(200).set_body_raw(page, "text/html")).await;
    assert_source_failed(&env, &["not the list of papers huggingface returns"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn source_50_mb_body() {
    // A list that never ends, as a broken proxy or a hostile server might send.
    let mut body = Vec::with_capacity(50 << 20);
    body.push(b'[');
    while body.len() < 50 << 20 {
        body.extend_from_slice(b"{\"paper\":{\"id\":\"2606.00001\"}},");
    }
    let env = source_env(ResponseTemplate::new(200).set_body_raw(body, "application/json")).await;
    assert_source_failed(
        &env,
        &["larger than 16 MiB", "the most a list of papers may be"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn source_items_with_missing_extra_wrong_typed_fields() {
    let env = TestEnv::empty(&subscribers(&[ALICE])).await;
    let mut extra = hf_item("2606.00002", "Extra Fields Are Ignored", "s.", &["B"], 9);
    extra["paper"]["somethingNew"] = serde_json::json!({"nested": [1, 2]});
    extra["surprise"] = serde_json::json!(true);
    let mut wrong_upvotes = hf_item("2606.00003", "Upvotes As Text", "s.", &["C"], 1);
    wrong_upvotes["paper"]["upvotes"] = serde_json::json!("many");
    let mut wrong_authors = hf_item("2606.00004", "Authors As Text", "s.", &["D"], 1);
    wrong_authors["paper"]["authors"] = serde_json::json!("D. Author");
    let mut no_title = hf_item("2606.00005", "No Title", "s.", &["E"], 1);
    no_title["paper"].as_object_mut().unwrap().remove("title");
    let mut numeric_id = hf_item("2606.00006", "Numeric Id", "s.", &["F"], 1);
    numeric_id["paper"]["id"] = serde_json::json!(2606.00006);
    let items = serde_json::json!([
        hf_item("2606.00001", "A Good Paper", "s.", &["A"], 10),
        extra,
        wrong_upvotes,
        wrong_authors,
        no_title,
        numeric_id,
        "not even an object",
        null,
    ]);
    env.serve_papers(&items.to_string()).await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(summary(&out), (1, 0, 0));
    let log = stderr(&out);
    for id in ["2606.00003", "2606.00004", "2606.00005"] {
        assert!(log.contains(&format!("skipping paper {id}")), "{id}: {log}");
    }
    assert!(log.contains("skipping paper (no id)"), "{log}");
    let mails = env.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].arxiv_ids(), ["2606.00001", "2606.00002"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn source_duplicate_ids() {
    let env = TestEnv::empty(&subscribers(&[ALICE])).await;
    let items = serde_json::json!([
        hf_item("2606.00001", "Twice In One List", "s.", &["A"], 5),
        hf_item("2606.00002", "Once", "s.", &["B"], 3),
        hf_item("2606.00001v2", "Twice In One List", "s.", &["A"], 7),
    ]);
    // Every day's list holds them again.
    env.serve_papers(&items.to_string()).await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mails = env.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].arxiv_ids(), ["2606.00001", "2606.00002"]);
    let conn = rusqlite::Connection::open(env.state_path()).unwrap();
    let papers: i64 = conn
        .query_row("SELECT count(*) FROM papers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(papers, 2);
    // And not again the next day.
    let again = env.run(&["send-now"]).await;
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(env.mails().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn source_non_utf8_bytes() {
    let json = serde_json::json!([
        hf_item("2606.00001", "Broken TITLE_HERE Bytes", "s.", &["A"], 5),
        hf_item("2606.00002", "Fine", "s.", &["B"], 3),
    ])
    .to_string();
    let (before, after) = json.split_once("TITLE_HERE").unwrap();
    let mut body = before.as_bytes().to_vec();
    body.extend_from_slice(b"\xff\xfe\xc3");
    body.extend_from_slice(after.as_bytes());
    let env = source_env(ResponseTemplate::new(200).set_body_raw(body, "application/json")).await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(summary(&out), (1, 0, 0));
    assert!(stderr(&out).contains("not valid UTF-8"), "{}", stderr(&out));
    let mails = env.mails();
    assert_eq!(mails[0].arxiv_ids(), ["2606.00001", "2606.00002"]);
    assert!(
        mails[0].text.contains("Broken \u{FFFD}"),
        "{}",
        mails[0].text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn source_empty_list_on_a_weekday() {
    let env = source_env(ResponseTemplate::new(200).set_body_raw("[]", "application/json")).await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "a quiet day is no failure");
    assert!(
        stdout(&out).contains("alice@example.org: nothing to send: no new papers"),
        "{}",
        stdout(&out)
    );
    assert_eq!(summary(&out), (0, 0, 0));
    assert!(env.smtp.accepted().is_empty());
    assert!(!stderr(&out).contains("fetch failed"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn arxiv_feed_fails_hugging_face_delivers() {
    let env = TestEnv::new(&subscribers(&[ALICE])).await;
    let arxiv = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&arxiv)
        .await;
    edit(
        &env,
        "[state]",
        &format!(
            "[sources.arxiv]\nenabled = true\ncategories = [\"cs.LG\"]\nrss_url = \"{0}/rss\"\napi_url = \"{0}/api/query\"\ntimeout = \"5s\"\n\n[state]",
            arxiv.uri()
        ),
    );
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(summary(&out), (1, 0, 0));
    let log = stderr(&out);
    assert!(
        log.lines()
            .any(|l| l.contains("fetch failed") && l.contains("arxiv") && l.contains("HTTP 500")),
        "{log}"
    );
    assert_each_got_one(&env, &[ALICE]);
}

// ---------------------------------------------------------------------------------------
// The process

fn spawn_send_now(env: &TestEnv) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_paperboy"))
        .arg("--config")
        .arg(&env.config)
        .arg("send-now")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

fn kill(child: &tokio::process::Child) {
    let pid = child.id().expect("still running") as i32;
    // SAFETY: a plain kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
}

fn count(env: &TestEnv, sql: &str) -> usize {
    let conn = rusqlite::Connection::open(env.state_path()).unwrap();
    conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as usize
}

fn integrity(env: &TestEnv) -> String {
    let conn = rusqlite::Connection::open(env.state_path()).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

fn many(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("reader{i}@example.org")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_sending_then_restart() {
    let readers = many(12);
    let refs: Vec<&str> = readers.iter().map(String::as_str).collect();
    let env = TestEnv::new(&subscribers(&refs)).await;
    edit(
        &env,
        "timeout = \"5s\"",
        "timeout = \"30s\"\nmax_connections = 2",
    );
    // Each message takes a while to be answered: the kill comes with some sent, two in
    // flight and the rest waiting.
    env.smtp.delay_data_reply(Duration::from_millis(150));
    let mut sending = spawn_send_now(&env);
    let start = Instant::now();
    while env.smtp.accepted().len() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "sending never got going"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    kill(&sending);
    sending.wait().await.unwrap();
    let before = env.smtp.accepted().len();
    assert!(before < readers.len(), "killed before the end");

    env.smtp.delay_data_reply(Duration::ZERO);
    // Let the server finish what it was thinking about when the client died.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    let again = env.run(&["send-now"]).await;
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "sent at once, no claim waited out"
    );
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    let counts = received(&env);
    let twice = counts.values().filter(|&&n| n == 2).count();
    for reader in &readers {
        let n = counts.get(reader).copied().unwrap_or(0);
        assert!((1..=2).contains(&n), "{reader} got {n}: {counts:?}");
    }
    assert!(
        twice <= 2,
        "only the two in flight may arrive twice: {counts:?}"
    );
    assert!(status(&env).await.contains("outbox: 0 pending, 0 failed"));
    assert_eq!(integrity(&env), "ok");
}

/// When each run of `sigkill_during_state_writes` is killed, after its start.
const KILL_DELAYS_MS: [u64; 9] = [5, 40, 80, 120, 160, 200, 260, 330, 420];
const KILLS: usize = KILL_DELAYS_MS.len();

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_state_writes() {
    let readers = many(60);
    let refs: Vec<&str> = readers.iter().map(String::as_str).collect();
    let env = TestEnv::new(&subscribers(&refs)).await;
    // Killed at ever later moments: while migrating, storing papers, composing, recording.
    for delay_ms in KILL_DELAYS_MS {
        let mut run = spawn_send_now(&env);
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        if run.try_wait().unwrap().is_none() {
            kill(&run);
        }
        run.wait().await.unwrap();
        if env.state_path().exists() {
            assert_eq!(integrity(&env), "ok", "after a kill at {delay_ms} ms");
        }
    }
    let last = env.run(&["send-now"]).await;
    assert_eq!(last.status.code(), Some(0), "{}", stdout(&last));
    assert_eq!(integrity(&env), "ok");
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM digests WHERE status IN ('pending', 'failed')"
        ),
        0,
        "every digest composed was sent or carried by a newer one"
    );
    // Everyone got their digest; what the state records as sent was received, and a copy
    // more only for a digest in flight at a kill (at most max_connections at a time).
    let conn = rusqlite::Connection::open(env.state_path()).unwrap();
    let counts = received(&env);
    let mut extra = 0;
    for reader in &readers {
        let sent: usize = conn
            .query_row(
                "SELECT count(*) FROM digests WHERE subscriber = ?1 AND status = 'sent'",
                [reader],
                |r| r.get::<_, i64>(0),
            )
            .unwrap() as usize;
        let got = counts.get(reader).copied().unwrap_or(0);
        assert!(sent >= 1, "{reader} has no sent digest");
        assert!(
            got >= sent,
            "{reader}: {sent} recorded as sent, {got} received"
        );
        extra += got - sent;
    }
    assert!(extra <= KILLS * 8, "{extra} copies more than recorded");
}

/// The user and group `nobody`.
const NOBODY: u32 = 65534;

/// Runs paperboy as a user who cannot write where root can: as root, the tests would write
/// anywhere, so the child runs as nobody.
async fn paperboy_unprivileged(env: &TestEnv, args: &[&str]) -> std::process::Output {
    let mut binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_paperboy"));
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        // A copy nobody can run wherever the build lives (a home folder only root enters).
        let copy = env.dir.path().join("paperboy");
        if !copy.exists() {
            std::fs::copy(&binary, &copy).unwrap();
            chmod(&copy, 0o755);
        }
        binary = copy;
    }
    let mut command = paperboy_command(&binary, &env.config, args);
    if root {
        command.uid(NOBODY).gid(NOBODY);
    }
    output_shown(command, args).await
}

fn chmod(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn read_only_state_folder() {
    let env = three().await;
    // Everything readable by the unprivileged user, the state folder theirs.
    chmod(env.dir.path(), 0o755);
    chmod(&env.config, 0o644);
    let state = env.state_path().parent().unwrap().to_path_buf();
    std::fs::create_dir(&state).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&state, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let first = paperboy_unprivileged(&env, &["send-now"]).await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_each_got_one(&env, &[ALICE, BOB, CAROL]);
    let listing = |dir: &std::path::Path| {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let files_before = listing(&state);
    let db_before = std::fs::read(env.state_path()).unwrap();

    // The next day brings a new paper, and the state folder has become read-only (a disk
    // remounted, a permission changed).
    let mut items: Vec<serde_json::Value> = serde_json::from_str(FIXTURE).unwrap();
    items.push(hf_item("2606.20000", "A New Paper", "s.", &["A"], 500));
    env.serve_papers(&serde_json::Value::Array(items).to_string())
        .await;
    chmod(&state, 0o555);
    chmod(&env.state_path(), 0o444);
    let out = paperboy_unprivileged(&env, &["send-now"]).await;
    chmod(&state, 0o755);
    chmod(&env.state_path(), 0o644);
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("state.path"), "{log}");
    assert!(
        log.contains(&env.state_path().display().to_string()),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(env.mails().len(), 3, "nothing sent that is not recorded");
    assert_eq!(listing(&state), files_before, "nothing written beside it");
    assert_eq!(std::fs::read(env.state_path()).unwrap(), db_before);
}

/// A full disk, as near as a test can make one: the child may not write any file past 32 KiB
/// (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored so that the write fails rather than the process):
/// the database opens (its shared-memory file is 32 KiB) and its write-ahead log fills up
/// while the run writes.
#[tokio::test(flavor = "multi_thread")]
async fn full_state_folder() {
    let env = three().await;
    let first = env.run(&["send-now"]).await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_each_got_one(&env, &[ALICE, BOB, CAROL]);

    let mut items: Vec<serde_json::Value> = serde_json::from_str(FIXTURE).unwrap();
    items.push(hf_item(
        "2606.20001",
        "A Paper For A Full Disk",
        "s.",
        &["A"],
        500,
    ));
    env.serve_papers(&serde_json::Value::Array(items).to_string())
        .await;
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_paperboy"));
    let mut command = paperboy_command(binary, &env.config, &["send-now"]);
    // SAFETY: between fork and exec only async-signal-safe calls: setrlimit and signal.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 32768,
                rlim_max: 32768,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let full = output_shown(command, &["send-now"]).await;
    let log = stderr(&full);
    assert_eq!(full.status.code(), Some(1), "{log}");
    assert!(log.contains("state database: disk I/O error"), "{log}");
    assert!(
        log.contains(&format!("state.path \"{}\"", env.state_path().display())),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(env.mails().len(), 3, "nothing sent that is not recorded");

    let conn = rusqlite::Connection::open(env.state_path()).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(conn);
    // Room again: the new paper goes out, once to each.
    let next = env.run(&["send-now"]).await;
    assert_eq!(next.status.code(), Some(0), "{}", stderr(&next));
    let counts = received(&env);
    for address in [ALICE, BOB, CAROL] {
        assert_eq!(counts.get(address), Some(&2), "{counts:?}");
    }
    let last: Vec<_> = env.mails().into_iter().skip(3).collect();
    assert!(
        last.iter()
            .all(|m| m.text.contains("A Paper For A Full Disk")),
        "the new paper in each new digest"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn locked_database() {
    let env = three().await;
    let first = env.run(&["fetch"]).await;
    assert_eq!(first.status.code(), Some(0));
    // Another process holds the write lock for longer than the busy timeout.
    let mut holder = rusqlite::Connection::open(env.state_path()).unwrap();
    let lock = holder
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .unwrap();
    let start = Instant::now();
    let out = env.run(&["send-now"]).await;
    let waited = start.elapsed();
    lock.rollback().unwrap();
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        waited >= Duration::from_secs(5),
        "waited {waited:?} for the lock"
    );
    assert!(log.contains("database is locked"), "{log}");
    assert!(log.contains("state"), "{log}");
    assert!(env.smtp.accepted().is_empty());
    // Once the lock is let go, all is well.
    let again = env.run(&["send-now"]).await;
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_each_got_one(&env, &[ALICE, BOB, CAROL]);
}

// ---------------------------------------------------------------------------------------
// A subscriber's own problem skips them alone (promise 3)

/// Alice and a file's Erin are fine; Bob's topic, Carol's time zone, Dave's address and a
/// file that is not TOML are each one subscriber's problem.
async fn some_broken_subscribers() -> TestEnv {
    let env = TestEnv::new(
        r#"
subscribers_dir = "subscribers.d"

[[subscribers]]
email = "alice@example.org"

[[subscribers]]
email = "bob@example.org"
topics = ["diffusion AND"]

[[subscribers]]
email = "carol@example.org"
timezone = "Mars/Olympus"

[[subscribers]]
email = "dave@"
"#,
    )
    .await;
    // `subscribers_dir` is a top-level key: it must come before the first section.
    let text = std::fs::read_to_string(&env.config).unwrap();
    let text = format!(
        "subscribers_dir = \"subscribers.d\"\n{}",
        text.replacen("subscribers_dir = \"subscribers.d\"\n", "", 1)
    );
    std::fs::write(&env.config, text).unwrap();
    let dir = env.dir.path().join("subscribers.d");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("erin.toml"), "email = \"erin@example.org\"\n").unwrap();
    std::fs::write(
        dir.join("frank.toml"),
        "email = \"frank@example.org\"\ntopics = [\n",
    )
    .unwrap();
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn one_subscribers_problem_skips_only_them() {
    let env = some_broken_subscribers().await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(1), "some subscribers were skipped");
    assert_eq!(summary(&out), (2, 0, 0));
    assert_each_got_one(&env, &["alice@example.org", "erin@example.org"]);
    assert_eq!(env.mails().len(), 2);
    let said = stdout(&out);
    for line in [
        "bob@example.org: skipped, nothing composed: the config has 1 problem of theirs:",
        "  - subscribers[1].topics[0] \"diffusion AND\": query ends after AND",
        "carol@example.org: skipped",
        "  - subscribers[2].timezone \"Mars/Olympus\": not an IANA time zone name",
        "subscribers[3]: skipped",
        "  - subscribers[3].email \"dave@\": not an email address",
        "subscribers.d/frank.toml: skipped",
        "  - subscribers.d/frank.toml: is not valid TOML",
        "4 subscribers skipped for problems in the config",
    ] {
        assert!(
            said.lines().any(|l| l.starts_with(line)),
            "{line:?} not in\n{said}"
        );
    }
    let log = stderr(&out);
    assert!(
        log.lines().any(|l| l.contains("ERROR")
            && l.contains("subscribers[1].topics[0]")
            && l.contains("bob@example.org is skipped")),
        "{log}"
    );

    // `status` shows them; `check` lists every problem and exits 2.
    let shown = status(&env).await;
    assert!(
        shown.contains("skipped for problems in the config: 4"),
        "{shown}"
    );
    assert!(
        shown.contains("bob@example.org (subscribers[1]): subscribers[1].topics[0]"),
        "{shown}"
    );
    assert!(
        shown.contains("subscribers.d/frank.toml: subscribers.d/frank.toml: is not valid TOML"),
        "{shown}"
    );
    let check = env.run(&["check"]).await;
    assert_eq!(check.status.code(), Some(2));
    let err = stderr(&check);
    assert!(err.contains("has 4 problems:"), "{err}");
    assert!(
        err.contains("send-now and run skip those 4 subscribers and serve the others"),
        "{err}"
    );

    // Naming a skipped subscriber sends nothing and says why; a good one is served.
    let named = env.run(&["send-now", "--subscriber", BOB]).await;
    assert_eq!(named.status.code(), Some(1));
    assert!(
        stdout(&named).contains("bob@example.org: skipped"),
        "{}",
        stdout(&named)
    );
    let preview = env.run(&["preview", "--subscriber", BOB]).await;
    assert_eq!(preview.status.code(), Some(2));
    assert!(
        stderr(&preview).contains("bob@example.org is skipped"),
        "{}",
        stderr(&preview)
    );
    assert_eq!(env.mails().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_problem_in_a_global_section_rejects_the_whole_config() {
    let env = some_broken_subscribers().await;
    edit(&env, "[state]", "[digest]\nmax_papers = 0\n\n[state]");
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("has 5 problems:"), "{err}");
    assert!(
        err.contains("digest.max_papers \"0\": must be at least 1"),
        "{err}"
    );
    assert!(err.contains("subscribers[1].topics[0]"), "{err}");
    assert!(env.smtp.accepted().is_empty());
    assert!(!env.state_path().exists(), "nothing was started");
    let check = env.run(&["check"]).await;
    assert_eq!(check.status.code(), Some(2));
    assert!(stderr(&check).contains("has 5 problems:"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_skipped_subscribers_waiting_digest_waits_for_the_fix() {
    let env = TestEnv::new(&subscribers(&[ALICE, BOB])).await;
    env.smtp
        .reject_recipient(BOB, "451 4.3.0 mailbox busy, try later");
    let first = env.run(&["send-now"]).await;
    assert_eq!(summary(&first), (1, 1, 0));
    // Bob's entry gets a typo while his digest waits: it is neither sent nor dropped.
    edit(
        &env,
        "email = \"bob@example.org\"",
        "email = \"bob@example.org\"\ntimezone = \"Europe/Berln\"",
    );
    env.smtp.accept_every_recipient();
    let skipped = env.run(&["send-now"]).await;
    assert_eq!(skipped.status.code(), Some(1));
    assert!(
        !stdout(&skipped).contains("removed subscribers"),
        "{}",
        stdout(&skipped)
    );
    assert!(status(&env).await.contains("outbox: 1 pending, 0 failed"));
    assert!(!received(&env).contains_key(BOB));
    // Fixed: it goes out, once.
    edit(&env, "\ntimezone = \"Europe/Berln\"", "");
    let fixed = env.run(&["send-now"]).await;
    assert_eq!(fixed.status.code(), Some(0), "{}", stdout(&fixed));
    assert_each_got_one(&env, &[ALICE, BOB]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_with_one_subscribers_problem_keeps_serving_the_others() {
    let env = TestEnv::new(&format!(
        "[schedule]\ndigest = \"*/2 * * * * *\"\n\n{}",
        subscribers(&[ALICE])
    ))
    .await;
    let log = env.dir.path().join("run.log");
    let mut daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_paperboy"))
        .arg("--config")
        .arg(&env.config)
        .arg("run")
        .env("RUST_LOG", "info")
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let wait_for = |address: &'static str| {
        let env = &env;
        async move {
            let start = Instant::now();
            while !received(env).contains_key(address) {
                assert!(
                    start.elapsed() < Duration::from_secs(15),
                    "{address} got nothing"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_for(ALICE).await;
    // Bob arrives with a typo, Carol without: the reload takes Carol and skips Bob.
    let text = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        format!(
            "{text}\n[[subscribers]]\nemail = \"{BOB}\"\ntopics = ['(agents']\n{}",
            subscribers(&[CAROL])
        ),
    )
    .unwrap();
    let pid = daemon.id().unwrap() as i32;
    // SAFETY: a plain kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    wait_for(CAROL).await;
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::time::timeout(Duration::from_secs(10), daemon.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("config reloaded"), "{log}");
    assert!(
        log.lines().any(|l| l.contains("ERROR")
            && l.contains("subscribers[1].topics[0] \"(agents\"")
            && l.contains("bob@example.org is skipped")),
        "{log}"
    );
    assert!(!received(&env).contains_key(BOB));
    assert_each_got_one(&env, &[ALICE, CAROL]);
}
