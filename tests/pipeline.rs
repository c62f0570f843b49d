//! The whole pipeline through the real binary: Hugging Face served by wiremock from the
//! recorded fixture, mail delivered to a real SMTP server on loopback.

mod support;

use support::*;

/// Subscribers whose expected papers can be read off the fixture's titles, authors and
/// upvotes (see tests/fixtures/hf_daily_papers.json).
const SUBSCRIBERS: &str = r#"
[[subscribers]]
email = "alice@example.org"
name = "Alice"
topics = ["title:agents"]

[[subscribers]]
email = "bob@example.org"
topics = ["title:distillation", { name = "Sparse attention", query = 'title:"sparse attention"' }]

[[subscribers]]
email = "carol@example.org"
min_upvotes = 20
max_papers = 3

[[subscribers]]
email = "dave@example.org"
topics = ["title:robust AND NOT title:agents"]

[[subscribers]]
email = "erin@example.org"
topics = ['author:"Haoran Xu"']
min_upvotes = 7

[[subscribers]]
email = "frank@example.org"
topics = ["title:quantum"]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn each_subscriber_gets_exactly_their_papers_in_rank_order() {
    let env = TestEnv::new(SUBSCRIBERS).await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let mails = env.mails();
    let ids = |address: &str| {
        let to = mails_to(&mails, address);
        assert!(to.len() <= 1, "{address} got {} mails", to.len());
        to.first().map(|m| m.arxiv_ids()).unwrap_or_default()
    };
    // "Agents", "Agent", "Multi-Agent" all stem to agent; ranked by upvotes, then newest
    // (13572 and 13174 were both published on 06-11: the arXiv id breaks the tie).
    assert_eq!(
        ids("alice@example.org"),
        [
            "2606.13681",
            "2606.09290",
            "2606.13120",
            "2606.13594",
            "2606.13572",
            "2606.13174",
            "2606.10423",
            "2606.07867"
        ]
    );
    // Grouped by topic in config order (distillation, then sparse attention), ranked within.
    assert_eq!(
        ids("bob@example.org"),
        ["2606.12575", "2606.09304", "2606.13392"]
    );
    // No topics: the most upvoted papers, at least 20 upvotes, at most 3.
    assert_eq!(
        ids("carol@example.org"),
        ["2606.13681", "2606.13392", "2606.08063"]
    );
    // "Robustness" stems to robust; the robust LLM agents paper is excluded by NOT.
    assert_eq!(ids("dave@example.org"), ["2606.08063", "2606.11409"]);
    // Two papers by Haoran Xu; only one has 7 upvotes.
    assert_eq!(ids("erin@example.org"), ["2606.09290"]);
    assert!(mails_to(&mails, "frank@example.org").is_empty());
    assert_eq!(mails.len(), 5);

    let stdout = stdout(&out);
    assert!(stdout.contains("sent 5, pending 0, failed 0"), "{stdout}");
    assert!(
        stdout.contains("frank@example.org: nothing to send: no new paper matched their topics"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_email_is_multipart_alternative_with_the_headers_a_mail_client_needs() {
    let env = TestEnv::new(SUBSCRIBERS).await;
    let out = env
        .run(&["send-now", "--subscriber", "bob@example.org"])
        .await;
    assert_eq!(out.status.code(), Some(0));
    let mails = env.mails();
    assert_eq!(mails.len(), 1, "only the named subscriber");
    let mail = &mails[0];
    assert_eq!(mail.content_type, "multipart/alternative");
    assert_eq!(mail.envelope_to, ["bob@example.org"]);
    assert_eq!(mail.to, "bob@example.org");
    assert!(
        mail.subject.starts_with("3 new papers for you · "),
        "{}",
        mail.subject
    );
    assert_eq!(mail.header("From"), Some("Paperboy <papers@example.org>"));
    assert!(mail.header("Date").is_some());
    assert!(
        mail.header("Message-ID")
            .is_some_and(|id| id.ends_with("@example.org>"))
    );
    assert_eq!(
        mail.header("List-Unsubscribe"),
        Some("<mailto:admin@example.org?subject=unsubscribe>")
    );
    // Each paper: title, Hugging Face and arXiv links, authors, upvotes, summary, code link.
    assert!(mail.text.contains("MiniMax Sparse Attention"));
    assert!(
        mail.text
            .contains("https://huggingface.co/papers/2606.13392")
    );
    assert!(mail.text.contains("103 upvotes"));
    // Under the heading of its topic, numbered across the digest.
    let text = mail.text.replace("\r\n", "\n");
    assert!(
        text.contains("Sparse attention\n----------------\n\n3. MiniMax Sparse Attention"),
        "{text}"
    );
    assert!(mail.html.contains("MiniMax Sparse Attention"));
    assert!(mail.html.contains("arXiv:2606.13392"));
}

#[tokio::test(flavor = "multi_thread")]
async fn paper_text_is_escaped_in_html() {
    let env = TestEnv::empty(
        r#"
[[subscribers]]
email = "alice@example.org"
name = "Alice"
"#,
    )
    .await;
    let evil = serde_json::json!([hf_item(
        "2606.00001",
        "<img src=x onerror=alert(1)> Attention & \"you\"\r\nBcc: victim@example.org",
        "<script>steal()</script>",
        &["Mallory <mallory@evil.example>"],
        3,
    )]);
    env.serve_papers(&evil.to_string()).await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mails = env.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(!mail.html.contains("<img src=x"), "{}", mail.html);
    assert!(!mail.html.contains("<script>"));
    assert!(
        mail.html
            .contains("&lt;img src=x onerror=alert(1)&gt; Attention &amp; &quot;you&quot;")
    );
    assert!(mail.html.contains("Mallory &lt;mallory@evil.example&gt;"));
    // The text part carries the text verbatim (whitespace folded, lines wrapped).
    let text = mail.text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        text.contains("<img src=x onerror=alert(1)> Attention & \"you\" Bcc: victim@example.org"),
        "{}",
        mail.text
    );
    assert_eq!(mails[0].envelope_to, ["alice@example.org"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_with_nothing_new_sends_nothing_and_a_new_paper_is_sent_alone() {
    let env = TestEnv::new(SUBSCRIBERS).await;
    assert_eq!(env.run(&["send-now"]).await.status.code(), Some(0));
    assert_eq!(env.smtp.accepted().len(), 5);

    let again = env.run(&["send-now"]).await;
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(env.smtp.accepted().len(), 5, "nothing new, nothing sent");
    assert!(
        stdout(&again)
            .contains("alice@example.org: nothing to send: no new papers since their last digest")
    );

    // The next day one new paper appears among the known ones.
    let mut items: Vec<serde_json::Value> = serde_json::from_str(FIXTURE).unwrap();
    items.push(hf_item(
        "2606.20000",
        "Agents All the Way Down",
        "A new paper.",
        &["Ada Lovelace"],
        1,
    ));
    env.serve_papers(&serde_json::Value::Array(items).to_string())
        .await;
    let next = env.run(&["send-now"]).await;
    assert_eq!(next.status.code(), Some(0));
    let mails = env.mails();
    assert_eq!(mails.len(), 6, "{}", stdout(&next));
    let latest = mails.last().unwrap();
    assert_eq!(latest.envelope_to, ["alice@example.org"]);
    assert_eq!(latest.arxiv_ids(), ["2606.20000"]);

    // `status` shows the last digest delivered, not the empty periods since.
    let status = stdout(&env.run(&["status"]).await);
    let line = |who: &str| {
        status
            .lines()
            .find(|l| l.starts_with(who))
            .unwrap_or_else(|| panic!("{who} in {status}"))
            .to_string()
    };
    let alice = line("alice@example.org");
    assert!(
        alice.contains(" 1  "),
        "one paper in her last digest: {alice}"
    );
    assert!(alice.ends_with("digest composed"), "{alice}");
    let bob = line("bob@example.org");
    assert!(
        bob.contains(" 3  ") && bob.ends_with("nothing to send: no new paper matched their topics"),
        "{bob}"
    );
    assert!(line("frank@example.org").contains("never"), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_goes_to_the_address_as_configured() {
    let env = TestEnv::new("[[subscribers]]\nemail = \"Alice.Smith@Example.org\"\n").await;
    assert_eq!(env.run(&["send-now"]).await.status.code(), Some(0));
    let mails = env.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].envelope_to, ["Alice.Smith@Example.org"]);
    assert_eq!(mails[0].to, "Alice.Smith@Example.org");
    // The state still knows her by the lower-cased key, so a change of case is no new
    // subscriber.
    let status = stdout(&env.run(&["status"]).await);
    assert!(status.contains("alice.smith@example.org"), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_4xx_reply_is_retried_and_the_digest_is_delivered_once() {
    let env = TestEnv::new(SUBSCRIBERS).await;
    env.smtp
        .reply_to_next_data(&["451 4.3.0 Try again later", "421 4.7.0 Busy"]);
    let out = env
        .run(&["send-now", "--subscriber", "bob@example.org"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(env.smtp.data_attempts(), 3);
    assert_eq!(env.smtp.accepted().len(), 1);
    assert!(stdout(&out).contains("sent 1, pending 0, failed 0"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_5xx_reply_fails_the_digest_with_the_servers_words() {
    let env = TestEnv::new(SUBSCRIBERS).await;
    env.smtp
        .always_reply_to_data("550 5.1.1 Mailbox does not exist");
    let out = env
        .run(&["send-now", "--subscriber", "bob@example.org"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        env.smtp.data_attempts(),
        1,
        "a permanent failure is not retried"
    );
    assert!(
        stdout(&out).contains("sent 0, pending 0, failed 1"),
        "{}",
        stdout(&out)
    );

    let status = env.run(&["status"]).await;
    let status = stdout(&status);
    assert!(status.contains("1 failed"), "{status}");
    assert!(status.contains("Mailbox does not exist"), "{status}");

    // A failed digest is not sent again by the next run.
    let again = env
        .run(&["send-now", "--subscriber", "bob@example.org"])
        .await;
    assert_eq!(env.smtp.data_attempts(), 1, "{}", stdout(&again));
}

/// Points the config's SMTP server at a port nobody listens on; returns the config as it was,
/// to write back when the relay is up again.
fn relay_down(env: &TestEnv) -> String {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let text = std::fs::read_to_string(&env.config).unwrap();
    let down = text.replace(
        &format!("port = {}", env.smtp.port()),
        &format!("port = {closed_port}"),
    );
    std::fs::write(&env.config, down).unwrap();
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn a_digest_stays_pending_while_the_server_is_down_and_goes_out_once_it_is_back() {
    let env = TestEnv::new(SUBSCRIBERS).await;
    let text = relay_down(&env);

    let out = env
        .run(&["send-now", "--subscriber", "bob@example.org"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("sent 0, pending 1, failed 0"),
        "{}",
        stdout(&out)
    );
    let status = stdout(&env.run(&["status"]).await);
    assert!(status.contains("1 pending"), "{status}");

    std::fs::write(&env.config, &text).unwrap();
    let out = env
        .run(&["send-now", "--subscriber", "bob@example.org"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let mails = env.mails();
    assert_eq!(mails.len(), 1, "the pending digest, and no second one");
    assert_eq!(
        mails[0].arxiv_ids(),
        ["2606.12575", "2606.09304", "2606.13392"]
    );
}

/// With the relay down across two digest runs, the second digest supersedes the first and
/// carries its papers: once the relay is back each subscriber gets one email with the papers
/// of both runs, and none twice.
#[tokio::test(flavor = "multi_thread")]
async fn after_an_outage_across_two_runs_each_subscriber_gets_one_email_with_both() {
    let env = TestEnv::empty(
        "[[subscribers]]\nemail = \"alice@example.org\"\n\
         [[subscribers]]\nemail = \"bob@example.org\"\n",
    )
    .await;
    let day = |ids: &[&str]| {
        let items: Vec<serde_json::Value> = ids
            .iter()
            .map(|id| hf_item(id, &format!("Paper {id}"), "An abstract.", &["A"], 10))
            .collect();
        serde_json::Value::Array(items).to_string()
    };
    let text = relay_down(&env);
    for papers in [["2612.00001", "2612.00002"], ["2612.00003", "2612.00004"]] {
        env.serve_papers(&day(&papers)).await;
        let out = env.run(&["send-now"]).await;
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        assert!(
            stdout(&out).contains("sent 0, pending 2, failed 0"),
            "one waiting digest each, not two: {}",
            stdout(&out)
        );
    }

    std::fs::write(&env.config, &text).unwrap();
    env.serve_papers(&day(&[])).await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let mails = env.mails();
    assert_eq!(mails.len(), 2, "{}", stdout(&out));
    for who in ["alice@example.org", "bob@example.org"] {
        let theirs = mails_to(&mails, who);
        assert_eq!(theirs.len(), 1, "{who}");
        let mut ids = theirs[0].arxiv_ids();
        ids.sort();
        assert_eq!(
            ids,
            ["2612.00001", "2612.00002", "2612.00003", "2612.00004"],
            "{who}"
        );
    }
    let again = env.run(&["send-now"]).await;
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(env.mails().len(), 2, "nothing twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_and_preview_send_and_record_nothing() {
    let env = TestEnv::new(SUBSCRIBERS).await;
    let dry = env.run(&["send-now", "--dry-run"]).await;
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));
    let printed = stdout(&dry);
    assert!(
        printed.contains("bob@example.org: would send 3 papers"),
        "{printed}"
    );
    assert!(printed.contains("MiniMax Sparse Attention"), "{printed}");
    assert!(env.smtp.accepted().is_empty());
    assert!(
        !env.state_path().exists(),
        "a dry run on a fresh state creates nothing"
    );

    let html = env.dir.path().join("preview.html");
    let preview = env
        .run(&[
            "preview",
            "--subscriber",
            "bob@example.org",
            "--out",
            html.to_str().unwrap(),
        ])
        .await;
    assert_eq!(preview.status.code(), Some(0), "{}", stderr(&preview));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("MiniMax Sparse Attention") && page.contains("<html"));
    assert!(env.smtp.accepted().is_empty());
    assert!(!env.state_path().exists());

    // With real state, a dry run changes nothing either: the real run still sends everything.
    assert_eq!(env.run(&["fetch"]).await.status.code(), Some(0));
    assert_eq!(
        env.run(&["send-now", "--dry-run"]).await.status.code(),
        Some(0)
    );
    assert_eq!(
        env.run(&["preview", "--subscriber", "alice@example.org"])
            .await
            .status
            .code(),
        Some(0)
    );
    let real = env.run(&["send-now"]).await;
    assert_eq!(real.status.code(), Some(0));
    assert_eq!(env.smtp.accepted().len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn when_every_source_fails_the_run_says_so_and_exits_1() {
    let env = TestEnv::empty(SUBSCRIBERS).await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(503))
        .mount(&env.hf)
        .await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("503"), "{}", stderr(&out));
    assert!(env.smtp.accepted().is_empty());
    // Not "no new papers": the fetch is why.
    assert!(
        stdout(&out).contains(
            "alice@example.org: nothing to send: fetching failed (huggingface) and no stored \
             paper is new to them"
        ),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_item_is_skipped_and_the_rest_delivered() {
    let env = TestEnv::empty(
        r#"
[[subscribers]]
email = "alice@example.org"
"#,
    )
    .await;
    let items = serde_json::json!([
        {"paper": {"id": "2606.00002", "summary": "no title", "authors": []}},
        hf_item("2606.00003", "A Good Paper", "Fine.", &["A. Author"], 1),
    ]);
    env.serve_papers(&items.to_string()).await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("skipping paper 2606.00002"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.mails()[0].arxiv_ids(), ["2606.00003"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_source_asks_for_each_day_of_the_window_and_pages_through_long_lists() {
    let env = TestEnv::empty("").await;
    let today = chrono::Utc::now().date_naive();
    let page: Vec<serde_json::Value> = (0..100)
        .map(|i| {
            hf_item(
                &format!("2606.{:05}", 10000 + i),
                &format!("Paper {i}"),
                "x",
                &["A"],
                0,
            )
        })
        .collect();
    env.serve_papers("[]").await;
    // Today's list has a full first page and one more paper on the second.
    wiremock::Mock::given(wiremock::matchers::path("/api/daily_papers"))
        .and(wiremock::matchers::query_param(
            "date",
            today.format("%Y-%m-%d").to_string(),
        ))
        .and(wiremock::matchers::query_param("p", "0"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(&page))
        .with_priority(1)
        .mount(&env.hf)
        .await;
    wiremock::Mock::given(wiremock::matchers::path("/api/daily_papers"))
        .and(wiremock::matchers::query_param(
            "date",
            today.format("%Y-%m-%d").to_string(),
        ))
        .and(wiremock::matchers::query_param("p", "1"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!([hf_item(
                "2606.20001",
                "The last one",
                "x",
                &["A"],
                0
            )])),
        )
        .with_priority(1)
        .mount(&env.hf)
        .await;
    let out = env.run(&["fetch"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("101 new"), "{}", stdout(&out));

    let requests = env.hf.received_requests().await.unwrap();
    let queries: Vec<String> = requests
        .iter()
        .map(|r| r.url.query().unwrap_or("").to_string())
        .collect();
    for back in 0..3 {
        let date = (today - chrono::Duration::days(back))
            .format("%Y-%m-%d")
            .to_string();
        assert!(
            queries.iter().any(|q| q.contains(&format!("date={date}"))),
            "{queries:?}"
        );
    }
    assert!(
        queries.iter().any(|q| !q.contains("date=")),
        "the latest list: {queries:?}"
    );
    let agent = requests[0]
        .headers
        .get("user-agent")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(agent.starts_with("paperboy/"), "{agent}");
}

#[tokio::test(flavor = "multi_thread")]
async fn under_systemd_log_lines_carry_no_timestamp() {
    let env = TestEnv::new("").await;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_paperboy"));
    command
        .arg("--config")
        .arg(&env.config)
        .arg("fetch")
        .env("RUST_LOG", "info")
        .env("JOURNAL_STREAM", "8:12345");
    let journal = command.output().await.unwrap();
    let line = stderr(&journal)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        line.starts_with(" INFO") || line.starts_with("INFO"),
        "{line:?}"
    );

    let plain = env.run(&["fetch"]).await;
    let line = stderr(&plain)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(line.starts_with("20"), "a timestamp first: {line:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_periods_add_no_rows_and_sent_message_bodies_are_dropped() {
    let env = TestEnv::new(SUBSCRIBERS).await;
    // Bodies are kept no time at all, so the run after a send drops them: what a month does
    // with the default of 7 days.
    let config = std::fs::read_to_string(&env.config).unwrap();
    let config = config.replace(
        "[state]\npath = \"state/paperboy.db\"",
        "[state]\npath = \"state/paperboy.db\"\nkeep_messages = \"0s\"",
    );
    std::fs::write(&env.config, config).unwrap();
    assert_eq!(env.run(&["send-now"]).await.status.code(), Some(0));
    let count = |sql: &str| -> i64 {
        let conn = rusqlite::Connection::open(env.state_path()).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    };
    assert_eq!(count("SELECT count(*) FROM digests"), 5);
    assert_eq!(count("SELECT count(*) FROM messages"), 5);

    for _ in 0..20 {
        assert_eq!(env.run(&["send-now"]).await.status.code(), Some(0));
    }
    // Twenty periods with nothing new: the five digests and one cursor per subscriber.
    assert_eq!(count("SELECT count(*) FROM digests"), 5);
    assert_eq!(count("SELECT count(*) FROM cursors"), 6);
    assert_eq!(count("SELECT count(*) FROM messages"), 0);
    // What never-twice rests on stays.
    assert_eq!(
        count("SELECT count(*) FROM digest_papers"),
        8 + 3 + 3 + 2 + 1
    );
    assert_eq!(env.mails().len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_digest_that_cannot_be_rendered_fails_alone_and_is_composed_again_next_time() {
    let env = TestEnv::new(SUBSCRIBERS).await;
    // A template override that breaks only for bob (the samples `check` renders pass).
    let templates = env.dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    let text = include_str!("../templates/digest.txt");
    std::fs::write(
        templates.join("digest.txt"),
        format!(
            "{{% if email == \"bob@example.org\" %}}{{{{ no_such_value }}}}{{% endif %}}{text}"
        ),
    )
    .unwrap();
    let config = std::fs::read_to_string(&env.config).unwrap();
    let config = config.replace("[mail]\n", "[mail]\ntemplates_dir = \"templates\"\n");
    std::fs::write(&env.config, config).unwrap();

    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(1), "a failed digest");
    let stdout = stdout(&out);
    assert!(
        stdout.contains("bob@example.org: cannot compose the digest: template digest.txt"),
        "{stdout}"
    );
    assert!(stdout.contains("sent 4, pending 0, failed 1"), "{stdout}");
    // The others got exactly their papers: the periods recorded line up with their owners.
    let mails = env.mails();
    let ids = |address: &str| mails_to(&mails, address)[0].arxiv_ids();
    assert_eq!(ids("erin@example.org"), ["2606.09290"]);
    assert_eq!(ids("dave@example.org"), ["2606.08063", "2606.11409"]);
    assert_eq!(
        ids("carol@example.org"),
        ["2606.13681", "2606.13392", "2606.08063"]
    );
    assert!(mails_to(&mails, "bob@example.org").is_empty());

    // Bob's period was not recorded: with the template fixed, his papers come next time.
    std::fs::remove_file(templates.join("digest.txt")).unwrap();
    let again = env.run(&["send-now"]).await;
    assert_eq!(again.status.code(), Some(0), "{}", support::stdout(&again));
    let mails = env.mails();
    assert_eq!(
        mails_to(&mails, "bob@example.org")[0].arxiv_ids(),
        ["2606.12575", "2606.09304", "2606.13392"]
    );
    assert_eq!(mails.len(), 5, "nobody else again");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_digest_says_so_in_subject_and_body_and_preview_shows_every_view() {
    let env = TestEnv::new(
        "[[subscribers]]\nemail = \"carol@example.org\"\nsend_empty = true\nmax_papers = 1\n",
    )
    .await;
    assert_eq!(env.run(&["send-now"]).await.status.code(), Some(0));
    assert_eq!(env.run(&["send-now"]).await.status.code(), Some(0));
    let mails = env.mails();
    assert_eq!(mails.len(), 2);
    let empty = &mails[1];
    assert!(
        empty.subject.starts_with("No new papers for you · "),
        "{}",
        empty.subject
    );
    // No topics: nothing "matched", there was nothing new.
    assert!(
        empty.text.contains("No new papers since your last digest."),
        "{}",
        empty.text
    );
    assert!(
        !empty.text.contains("matched your topics"),
        "{}",
        empty.text
    );

    let text = env
        .run(&[
            "preview",
            "--subscriber",
            "carol@example.org",
            "--format",
            "text",
        ])
        .await;
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    assert!(
        stdout(&text).starts_with("No new papers for you · "),
        "{}",
        stdout(&text)
    );
    let eml = env
        .run(&[
            "preview",
            "--subscriber",
            "carol@example.org",
            "--format",
            "eml",
        ])
        .await;
    assert_eq!(eml.status.code(), Some(0), "{}", stderr(&eml));
    let message = stdout(&eml);
    assert!(
        message.contains("Subject: No new papers for you"),
        "{message}"
    );
    assert!(
        message.contains("Content-Type: multipart/alternative"),
        "{message}"
    );
    assert_eq!(env.mails().len(), 2, "previews send nothing");
}
