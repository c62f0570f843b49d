//! `paperboy run` as a sysadmin runs it: a seconds-level schedule, reload by SIGHUP (a new
//! subscriber, a broken config, a good one again), a second instance refused, and SIGTERM.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;

const SCHEDULE: &str = r#"
[schedule]
fetch = "0 */30 * * * *"
digest = "*/2 * * * * *"
"#;

fn subscriber(email: &str, topics: &str) -> String {
    format!("\n[[subscribers]]\nemail = \"{email}\"\ntopics = {topics}\n")
}

fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits until `address` has received a mail, up to 15 seconds.
async fn wait_for_mail(env: &TestEnv, address: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if !mails_to(&env.mails(), address).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(env.dir.path().join("run.log")).unwrap_or_default();
    panic!("{address} got no digest within 15 s; the daemon's log:\n{log}");
}

/// Sends SIGTERM and asserts the daemon exits 0 within 10 seconds.
async fn terminate_within_10_seconds(daemon: &mut tokio::process::Child) {
    signal(daemon.id().unwrap(), "TERM");
    let stopping = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(10), daemon.wait())
        .await
        .expect("exits within 10 s of SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(stopping.elapsed() < Duration::from_secs(10));
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// Starts `paperboy run` on the env's config, logging to run.log, with `NOTIFY_SOCKET` set
/// when given.
fn start_daemon(env: &TestEnv, notify_socket: Option<&Path>) -> tokio::process::Child {
    let log = std::fs::File::create(env.dir.path().join("run.log")).unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_paperboy"));
    command
        .arg("--config")
        .arg(&env.config)
        .arg("run")
        .env("RUST_LOG", "info")
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    if let Some(socket) = notify_socket {
        command.env("NOTIFY_SOCKET", socket);
    }
    command.spawn().unwrap()
}

/// Plays systemd's side of `NOTIFY_SOCKET`: collects every message the daemon sends.
fn listen_as_systemd(path: &Path) -> Arc<Mutex<Vec<String>>> {
    let socket = std::os::unix::net::UnixDatagram::bind(path).unwrap();
    let told = Arc::new(Mutex::new(Vec::new()));
    let collected = told.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = socket.recv(&mut buffer) {
            let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
            collected.lock().unwrap().push(message);
        }
    });
    told
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_serves_everyone_reloads_on_sighup_and_stops_on_sigterm() {
    let alice = subscriber("alice@example.org", r#"["title:agents"]"#);
    let bob = subscriber("bob@example.org", "[]");
    let env = TestEnv::new(&format!("{SCHEDULE}{alice}{bob}")).await;
    let good = std::fs::read_to_string(&env.config).unwrap();
    let socket_path = env.dir.path().join("notify.sock");
    let systemd = listen_as_systemd(&socket_path);
    let mut daemon = start_daemon(&env, Some(&socket_path));
    let pid = daemon.id().unwrap();

    wait_for_mail(&env, "alice@example.org").await;
    wait_for_mail(&env, "bob@example.org").await;

    // A second instance on the same state is refused, naming the running one.
    let second = env.run(&["run"]).await;
    assert_eq!(second.status.code(), Some(2));
    assert!(
        stderr(&second).contains(&format!("pid {pid}")),
        "{}",
        stderr(&second)
    );

    // A subscriber added to the file gets a digest after SIGHUP.
    let carol = subscriber("carol@example.org", r#"["title:distillation"]"#);
    write(&env.config, &format!("{good}{carol}"));
    signal(pid, "HUP");
    wait_for_mail(&env, "carol@example.org").await;

    // A config broken in a global section is refused and the daemon keeps running on the
    // previous one (one subscriber's own problem only skips them: tests/faults.rs).
    write(
        &env.config,
        &format!("{good}{carol}\n[digest]\nmax_papers = 0\n"),
    );
    signal(pid, "HUP");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "the daemon must survive a bad reload"
    );

    // A good config after the broken one still applies.
    let dave = subscriber("dave@example.org", r#"["title:robust"]"#);
    write(&env.config, &format!("{good}{carol}{dave}"));
    signal(pid, "HUP");
    wait_for_mail(&env, "dave@example.org").await;
    // Several more digest fires with nothing new.
    tokio::time::sleep(Duration::from_secs(4)).await;

    terminate_within_10_seconds(&mut daemon).await;

    let mails = env.mails();
    for address in [
        "alice@example.org",
        "bob@example.org",
        "carol@example.org",
        "dave@example.org",
    ] {
        assert_eq!(
            mails_to(&mails, address).len(),
            1,
            "{address}: one digest, never a second"
        );
    }
    // What systemd was told: ready, a status line, each reload bracketed by RELOADING and
    // READY (three reloads), and the stop.
    let told = systemd.lock().unwrap().clone();
    assert_eq!(
        told.first().map(String::as_str),
        Some("READY=1"),
        "{told:?}"
    );
    assert!(
        told.iter().any(|m| m.starts_with("STATUS=next digest ")),
        "{told:?}"
    );
    assert_eq!(
        told.iter().filter(|m| *m == "RELOADING=1").count(),
        3,
        "{told:?}"
    );
    assert_eq!(
        told.iter().filter(|m| *m == "READY=1").count(),
        4,
        "{told:?}"
    );
    assert_eq!(
        told.last().map(String::as_str),
        Some("STOPPING=1"),
        "{told:?}"
    );

    let log = std::fs::read_to_string(env.dir.path().join("run.log")).unwrap();
    assert!(log.contains("config not reloaded"), "{log}");
    assert!(log.contains("digest.max_papers \"0\""), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn send_now_beside_a_running_daemon_sends_nobody_a_digest_twice() {
    let everyone: String = ["alice", "bob", "carol", "dave", "erin"]
        .iter()
        .map(|name| subscriber(&format!("{name}@example.org"), "[]"))
        .collect();
    let env = TestEnv::new(&format!("{SCHEDULE}{everyone}")).await;
    // The SMTP server is slow to answer and defers the first two, so that the processes
    // overlap while composing and sending.
    env.smtp.delay_data_reply(Duration::from_millis(300));
    env.smtp
        .reply_to_next_data(&["451 4.3.0 try again", "451 4.3.0 try again"]);
    let mut daemon = start_daemon(&env, None);
    let (a, b) = tokio::join!(env.run(&["send-now"]), env.run(&["send-now"]));
    for name in ["alice", "bob", "carol", "dave", "erin"] {
        wait_for_mail(&env, &format!("{name}@example.org")).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    signal(daemon.id().unwrap(), "TERM");
    assert_eq!(daemon.wait().await.unwrap().code(), Some(0));

    let mails = env.mails();
    for name in ["alice", "bob", "carol", "dave", "erin"] {
        let address = format!("{name}@example.org");
        assert_eq!(
            mails_to(&mails, &address).len(),
            1,
            "{address}\n{}\n{}",
            stdout(&a),
            stdout(&b)
        );
    }
    // Both one-shot runs worked: each accounted for every subscriber (queued here, or found
    // composed by another process) and failed nobody; a digest still being sent elsewhere
    // makes them exit 1, nothing worse.
    let mut queued = 0;
    for run in [&a, &b] {
        let out = stdout(run);
        assert!(
            matches!(run.status.code(), Some(0 | 1)),
            "{out}{}",
            stderr(run)
        );
        assert!(out.contains(", failed 0\n"), "{out}");
        for name in ["alice", "bob", "carol", "dave", "erin"] {
            let line = out
                .lines()
                .find(|l| l.starts_with(&format!("{name}@example.org: ")))
                .unwrap_or_else(|| panic!("{name} in {out}"));
            assert!(
                line.contains(": queued 1")
                    || line.contains("composed before")
                    || line.ends_with("nothing to send: no new papers since their last digest"),
                "{line}"
            );
            queued += usize::from(line.contains(": queued 1"));
        }
    }
    assert!(queued <= 5, "a subscriber's period composed twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_stalled_send_exits_0_within_10_seconds_and_loses_nothing() {
    let env = TestEnv::new(&format!(
        "{SCHEDULE}{}",
        subscriber("alice@example.org", "[]")
    ))
    .await;
    // The server takes the message and then thinks for a minute before answering; the
    // timeout for that reply outlasts the SIGTERM, so the send is still in flight then.
    env.smtp.delay_data_reply(Duration::from_secs(60));
    let config = std::fs::read_to_string(&env.config).unwrap();
    let config = config.replace(
        "security = \"none\"\ntimeout = \"5s\"",
        "security = \"none\"\ntimeout = \"30s\"",
    );
    assert!(config.contains("timeout = \"30s\""));
    std::fs::write(&env.config, config).unwrap();
    let mut daemon = start_daemon(&env, None);
    let start = Instant::now();
    while env.smtp.data_attempts() == 0 {
        assert!(start.elapsed() < Duration::from_secs(15), "no send started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    terminate_within_10_seconds(&mut daemon).await;

    // The digest is neither sent nor failed: it waits in the outbox, its claim gone with the
    // daemon, so the next run sends it at once (the server may have taken the first attempt:
    // SMTP cannot rule out a second copy then).
    let status = stdout(&env.run(&["status"]).await);
    assert!(status.contains("1 pending, 0 failed"), "{status}");
    env.smtp.delay_data_reply(Duration::ZERO);
    let again = env.run(&["send-now"]).await;
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    assert!(stdout(&again).contains("sent 1"), "{}", stdout(&again));
    assert_eq!(env.smtp.data_attempts(), 2);
}

/// A claim dies with its holder: `send-now` killed with SIGKILL mid-send (as a systemd
/// restart, a reboot or an OOM kill would) leaves its digest pending, and the next run sends
/// it at once instead of waiting for the claim to run out.
#[tokio::test(flavor = "multi_thread")]
async fn after_a_sigkill_mid_send_the_next_run_sends_at_once() {
    let env = TestEnv::new(&subscriber("alice@example.org", "[]")).await;
    env.smtp.delay_data_reply(Duration::from_secs(60));
    let config = std::fs::read_to_string(&env.config).unwrap();
    let config = config.replace(
        "security = \"none\"\ntimeout = \"5s\"",
        "security = \"none\"\ntimeout = \"30s\"",
    );
    std::fs::write(&env.config, config).unwrap();
    let mut sending = tokio::process::Command::new(env!("CARGO_BIN_EXE_paperboy"))
        .arg("--config")
        .arg(&env.config)
        .arg("send-now")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while env.smtp.data_attempts() == 0 {
        assert!(start.elapsed() < Duration::from_secs(15), "no send started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signal(sending.id().unwrap(), "KILL");
    sending.wait().await.unwrap();

    env.smtp.delay_data_reply(Duration::ZERO);
    let again = env.run(&["send-now"]).await;
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    assert!(stdout(&again).contains("sent 1"), "{}", stdout(&again));
    assert_eq!(env.smtp.data_attempts(), 2);
    let status = stdout(&env.run(&["status"]).await);
    assert!(status.contains("0 pending, 0 failed"), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_unit_file_passes_systemd_analyze_verify() {
    let Ok(found) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        panic!("systemd-analyze is not installed: .ci/run installs systemd");
    };
    assert!(found.status.success());
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/paperboy.service"
    ))
    .unwrap();
    for directive in [
        "Type=notify",
        "ExecReload=",
        "StateDirectory=",
        "ConfigurationDirectory=",
        "User=paperboy",
        "ProtectSystem=strict",
        "ProtectHome=",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "LoadCredential=",
        "Restart=on-failure",
        "WatchdogSec=",
    ] {
        assert!(unit.contains(directive), "{directive} missing");
    }
    // verify needs ExecStart's binary to exist: point it at the one under test.
    let dir = tempfile::tempdir().unwrap();
    let unit = unit.replace("/usr/local/bin/paperboy", env!("CARGO_BIN_EXE_paperboy"));
    let path = dir.path().join("paperboy.service");
    std::fs::write(&path, unit).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let messages = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{messages}");
    assert!(
        !messages.contains("paperboy.service:"),
        "warnings about the unit: {messages}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_fetch_where_every_source_failed_the_next_digest_fetches_again() {
    let env = TestEnv::empty(&format!(
        "{SCHEDULE}{}",
        subscriber("alice@example.org", "[]")
    ))
    .await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(503))
        .mount(&env.hf)
        .await;
    let mut daemon = start_daemon(&env, None);
    // The start-up fetch fails; the next fetch on schedule is up to 30 minutes away.
    let start = Instant::now();
    while env
        .hf
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty()
    {
        assert!(start.elapsed() < Duration::from_secs(10), "no fetch");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    env.serve_papers(FIXTURE).await;
    // A digest two seconds later fetches again rather than trusting the failed fetch.
    wait_for_mail(&env, "alice@example.org").await;
    terminate_within_10_seconds(&mut daemon).await;
}
