//! `paperboy check` builds what `run` builds: a state folder that cannot be written and a
//! mail server that refuses are caught before the service starts, each named; and the
//! output is closed quietly when its reader goes away.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn check_names_a_state_path_that_cannot_be_created_and_creates_nothing() {
    let env = TestEnv::new("[[subscribers]]\nemail = \"a@example.org\"\n").await;
    let config = std::fs::read_to_string(&env.config).unwrap();
    // Not even root may create files in /proc.
    let config = config.replace(
        "path = \"state/paperboy.db\"",
        "path = \"/proc/paperboy/state.db\"",
    );
    std::fs::write(&env.config, config).unwrap();
    let out = env.run(&["check"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("state.path \"/proc/paperboy/state.db\": cannot create the folder /proc/paperboy: /proc is not writable"),
        "{err}"
    );
    // The one-shot commands fail the same way, naming the key once.
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("state.path \"/proc/paperboy/state.db\""),
        "{err}"
    );
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");

    // A good path: checked without creating the database or its folder.
    let fresh = TestEnv::new("[[subscribers]]\nemail = \"a@example.org\"\n").await;
    let out = fresh.run(&["check"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!fresh.state_path().parent().unwrap().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn check_smtp_gives_a_verdict_line_for_the_config_and_one_for_the_server() {
    let env = TestEnv::new("[[subscribers]]\nemail = \"a@example.org\"\n").await;
    let out = env.run(&["check", "--smtp"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0]
            .ends_with("OK (1 subscriber, 0 topics, templates compiled, state folder writable)"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with(&format!("SMTP server 127.0.0.1:{}: OK", env.smtp.port())),
        "{lines:?}"
    );

    // A server that is not there: the config line still says OK, the SMTP line says what
    // failed, and the exit code is not 0.
    let config = std::fs::read_to_string(&env.config).unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let config = config.replace(
        &format!("port = {}", env.smtp.port()),
        &format!("port = {dead_port}"),
    );
    std::fs::write(&env.config, config).unwrap();
    let out = env.run(&["check", "--smtp"]).await;
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains(": OK ("), "{lines:?}");
    assert!(
        lines[1].starts_with(&format!("SMTP server 127.0.0.1:{dead_port}: FAILED: ")),
        "{lines:?}"
    );
    assert!(lines[1].contains("refused"), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_into_a_closed_pipe_ends_quietly_with_exit_0() {
    // More than a pipe holds (64 KiB), so that writing goes on after the reader has gone.
    let items: Vec<serde_json::Value> = (0..3000)
        .map(|i| {
            hf_item(
                &format!("2606.{:05}", 20000 + i),
                &format!("A paper with a title long enough to fill the pipe soon, number {i}"),
                "An abstract.",
                &["Ada Lovelace"],
                1,
            )
        })
        .collect();
    let env = TestEnv::empty("").await;
    env.serve_papers(&serde_json::Value::Array(items).to_string())
        .await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_paperboy"))
        .arg("--config")
        .arg(&env.config)
        .arg("fetch")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Like `head -1`: read a line, then close the pipe.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("2606.20000  "), "{first}");
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(
        !err.contains("ERROR") && !err.contains("Broken pipe"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn send_now_into_a_closed_pipe_still_delivers_every_digest() {
    let env = TestEnv::new("[[subscribers]]\nemail = \"a@example.org\"\n").await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_paperboy"))
        .arg("--config")
        .arg(&env.config)
        .arg("send-now")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before the first line is written.
    drop(child.stdout.take());
    let output = child.wait_with_output().await.unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert_eq!(env.mails().len(), 1, "{err}");
    assert!(!err.contains("Broken pipe"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_prints_the_dkim_record_to_publish_for_the_key_it_loaded() {
    let env = TestEnv::new(
        "[mail.dkim]\ndomain = \"example.org\"\nselector = \"paperboy\"\nprivate_key_file = \"dkim.pem\"\n",
    )
    .await;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dkim");
    // Beside the config, named by a relative path.
    std::fs::copy(
        fixtures.join("ed25519.pem"),
        env.dir.path().join("dkim.pem"),
    )
    .unwrap();
    let out = env.run(&["check"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    // The record as OpenSSL works it out from the key (tests/fixtures/dkim/README.md).
    let record = std::fs::read_to_string(fixtures.join("ed25519.txt")).unwrap();
    assert_eq!(
        lines[1..],
        [
            "DKIM: signing as example.org (Ed25519 key); publish the DNS TXT record paperboy._domainkey.example.org:".to_string(),
            format!("  {}", record.trim_end()),
        ],
        "{lines:?}"
    );
}
