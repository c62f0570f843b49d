//! One-click unsubscribe: the `[web]` config, the links in the email, the listener over real
//! HTTP on loopback (its route, its refusals, its limits), what an unsubscribe does to the
//! next runs, `resubscribe`, and the whole loop through `paperboy run`.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use paperboy::config::{Config, ConfigError};
use paperboy::stop::Stop;
use paperboy::store::{SharedStore, Store};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "5f0c1b0e4e8a9d2c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const BASE_URL: &str = "https://papers.example.org";

const TWO: &str = r#"
[[subscribers]]
email = "alice@example.org"
name = "Alice"

[[subscribers]]
email = "Bob@Example.org"
"#;

/// A `[web]` section whose secret file is written into `dir`.
fn web_section(dir: &Path, listen: &str, base_url: &str) -> String {
    std::fs::write(dir.join("web-secret"), format!("{SECRET}\n")).unwrap();
    format!(
        "\n[web]\nlisten = \"{listen}\"\nbase_url = \"{base_url}\"\nsecret_file = \"web-secret\"\n"
    )
}

/// A TestEnv whose config has `[web]` (the listener at `listen`, links to `base_url`).
async fn env_with_web(listen: &str, base_url: &str, subscribers: &str) -> TestEnv {
    let env = TestEnv::new(subscribers).await;
    let web = web_section(env.dir.path(), listen, base_url);
    let config = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(&env.config, format!("{config}{web}")).unwrap();
    env
}

/// The https (or http) target of a List-Unsubscribe header.
fn one_click_url(list_unsubscribe: &str) -> String {
    list_unsubscribe
        .split(',')
        .map(|t| t.trim().trim_start_matches('<').trim_end_matches('>'))
        .find(|t| t.starts_with("http"))
        .unwrap_or_else(|| panic!("no web link in {list_unsubscribe:?}"))
        .to_string()
}

/// What the listener answered: the status (0 when it closed without answering) and the rest.
struct Answer {
    status: u16,
    text: String,
}

/// Sends `bytes` on a fresh connection and reads until the server closes it, which must be
/// within 10 seconds.
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may close before taking everything (a body too large): what it answered
    // still counts.
    let _ = stream.write_all(bytes).await;
    let mut received = Vec::new();
    let read = async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the listener answers and closes the connection within 10 s");
    let text = String::from_utf8_lossy(&received).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Answer { status, text }
}

fn request(method: &str, target: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {target} HTTP/1.1\r\nHost: papers.example.org\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The path and query of `url`, which the listener sees behind the reverse proxy.
fn target(url: &str) -> &str {
    let after_scheme = url.split_once("://").unwrap().1;
    &after_scheme[after_scheme.find('/').unwrap()..]
}

fn unsubscribed(state: &Path) -> Vec<String> {
    let store = Store::open(state).unwrap();
    store
        .unsubscribed()
        .unwrap()
        .into_iter()
        .map(|u| u.subscriber)
        .collect()
}

/// A new paper every subscriber without topics gets first (most upvoted).
async fn serve_a_new_paper(env: &TestEnv, id: &str) {
    let mut items: Vec<serde_json::Value> = serde_json::from_str(FIXTURE).unwrap();
    items.push(hf_item(id, &format!("Paper {id}"), "New.", &["Ada"], 9999));
    env.serve_papers(&serde_json::Value::Array(items).to_string())
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_web_section_is_checked_with_every_problem_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("short"), "too short\n").unwrap();
    let path = dir.path().join("paperboy.toml");
    let problems = |web: &str| {
        std::fs::write(
            &path,
            format!("[mail]\nfrom = \"p@example.org\"\n[web]\n{web}"),
        )
        .unwrap();
        match Config::load_with_env(&path, std::iter::empty()) {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    };
    let empty = problems("");
    assert_eq!(empty.len(), 3, "{empty:?}");
    for key in ["web.listen", "web.base_url", "web.secret_file"] {
        assert!(
            empty
                .iter()
                .any(|p| p.starts_with(&format!("{key} \"\": is required in [web]"))),
            "{key}: {empty:?}"
        );
    }
    let found = problems(
        "listen = \"localhost:8080\"\nbase_url = \"ftp://papers.example.org\"\nsecret_file = \"short\"\n",
    );
    let short = dir.path().join("short").display().to_string();
    let expected = [
        "web.listen \"localhost:8080\": must be an IP address and a port".to_string(),
        "web.base_url \"ftp://papers.example.org\": must be an http(s) URL".to_string(),
        format!(
            "web.secret_file {short:?}: holds 9 characters, needs at least 32; make one with `openssl rand -hex 32 > {short}`"
        ),
    ];
    assert_eq!(found.len(), 3, "{found:?}");
    for want in &expected {
        assert!(
            found.iter().any(|p| p.starts_with(want)),
            "{want} in {found:?}"
        );
    }
    let missing = problems(
        "listen = \"127.0.0.1:8080\"\nbase_url = \"https://x.example.org/?a=b\"\nsecret_file = \"nope\"\n",
    );
    assert!(
        missing[0]
            .starts_with("web.base_url \"https://x.example.org/?a=b\": must not have a query"),
        "{missing:?}"
    );
    assert!(
        missing[1].contains("nope\": cannot be read (")
            && missing[1].contains("openssl rand -hex 32 >"),
        "{missing:?}"
    );

    // A good section: check says where the links point and where run listens.
    let good = format!(
        "[mail]\nfrom = \"p@example.org\"\nunsubscribe = \"https://example.org/leave\"\n{}",
        web_section(
            dir.path(),
            "127.0.0.1:8080",
            "http://papers.example.org/digests/"
        )
    );
    std::fs::write(&path, good).unwrap();
    let config = Config::load_with_env(&path, std::iter::empty()).unwrap();
    let web = config.web.as_ref().unwrap();
    assert_eq!(web.base_url, "http://papers.example.org/digests");
    assert_eq!(web.base_path, "/digests");
    let warnings = config.warnings.join("\n");
    assert!(
        warnings.contains("web.base_url \"http://papers.example.org/digests/\": is not https"),
        "{warnings}"
    );
    assert!(
        warnings.contains(
            "mail.unsubscribe \"https://example.org/leave\": is not used while [web] is set"
        ),
        "{warnings}"
    );
    let out = paperboy(&path, &["check"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("web: one-click unsubscribe links to http://papers.example.org/digests/unsubscribe, answered by `run` on 127.0.0.1:8080"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_web_the_email_carries_the_mailto_alone() {
    let env = TestEnv::new(TWO).await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mails = env.mails();
    let mail = mails_to(&mails, "alice@example.org")[0];
    assert_eq!(
        mail.header("List-Unsubscribe"),
        Some("<mailto:admin@example.org?subject=unsubscribe>")
    );
    assert_eq!(mail.header("List-Unsubscribe-Post"), None);
    assert!(
        mail.text
            .contains("Unsubscribe: mailto:admin@example.org?subject=unsubscribe")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_listener_unsubscribes_only_with_the_right_token_and_the_next_runs_skip_them() {
    let env = env_with_web("127.0.0.1:0", BASE_URL, TWO).await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Each email: the subscriber's own one-click link first, then the mailto, and the header
    // that says a POST unsubscribes; the footers link the page.
    let mails = env.mails();
    let header = |address: &str| {
        let mail = mails_to(&mails, address)[0];
        mail.header("List-Unsubscribe").unwrap().to_string()
    };
    let alice_header = header("alice@example.org");
    let alice_url = one_click_url(&alice_header);
    let bob_url = one_click_url(&header("Bob@Example.org"));
    assert!(
        alice_url.starts_with(&format!("{BASE_URL}/unsubscribe?u=alice%40example.org&t=")),
        "{alice_url}"
    );
    assert!(bob_url.contains("?u=bob%40example.org&t="), "{bob_url}");
    assert_eq!(
        alice_header,
        format!("<{alice_url}>, <mailto:admin@example.org?subject=unsubscribe>")
    );
    let alice_mail = mails_to(&mails, "alice@example.org")[0];
    assert_eq!(
        alice_mail.header("List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(
        alice_mail
            .text
            .contains(&format!("Unsubscribe: {alice_url}")),
        "{}",
        alice_mail.text
    );
    let in_html = alice_url.replace('&', "&amp;");
    assert!(
        alice_mail.html.contains(&format!("href=\"{in_html}\"")),
        "{}",
        alice_mail.html
    );

    // Both digests of the next period wait in the outbox: the server defers them.
    serve_a_new_paper(&env, "2612.00001").await;
    env.smtp.reply_to_next_data(&["451 4.3.0 try again"; 6]);
    let deferred = env.run(&["send-now"]).await;
    assert_eq!(deferred.status.code(), Some(1));
    assert!(
        stdout(&deferred).contains("sent 0, pending 2"),
        "{}",
        stdout(&deferred)
    );
    assert_eq!(env.smtp.data_attempts(), 8);

    // The listener, as the daemon runs it, in this process.
    let config = Config::load(&env.config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_site_sender, site) = tokio::sync::watch::channel(Arc::new(config.web.unwrap()));
    let store = SharedStore::new(Store::open(&env.state_path()).unwrap());
    let (stop_handle, stop) = Stop::new();
    let server = tokio::spawn(paperboy::web::serve(listener, site, store, stop));

    // GET shows a page whose form POSTs back to the link.
    let page = exchange(addr, &request("GET", target(&alice_url), "")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("text/html; charset=utf-8"),
        "{}",
        page.text
    );
    assert!(page.text.contains("<form method=\"post\""), "{}", page.text);
    assert!(
        page.text
            .contains(&format!("action=\"{}\"", alice_url.replace('&', "&amp;"))),
        "{}",
        page.text
    );
    assert!(page.text.contains("alice@example.org"), "{}", page.text);
    assert!(
        unsubscribed(&env.state_path()).is_empty(),
        "a GET changes nothing"
    );

    // A forged token, a token of another address, none at all: 403, nothing recorded.
    let (without_token, token) = alice_url.split_once("&t=").unwrap();
    let flipped = if token.starts_with('0') { '1' } else { '0' };
    let forged = format!("{without_token}&t={flipped}{}", &token[1..]);
    let (_, bobs_token) = bob_url.split_once("&t=").unwrap();
    let bobs_for_alice = format!("{BASE_URL}/unsubscribe?u=alice%40example.org&t={bobs_token}");
    for url in [
        forged.as_str(),
        &bobs_for_alice,
        &format!("{BASE_URL}/unsubscribe?u=alice%40example.org"),
        &format!("{BASE_URL}/unsubscribe"),
    ] {
        for method in ["GET", "POST"] {
            let refused = exchange(
                addr,
                &request(method, target(url), "List-Unsubscribe=One-Click"),
            )
            .await;
            assert_eq!(refused.status, 403, "{method} {url}: {}", refused.text);
        }
    }
    assert!(unsubscribed(&env.state_path()).is_empty());

    // Only its own route, and only GET and POST on it.
    assert_eq!(exchange(addr, &request("GET", "/", "")).await.status, 404);
    assert_eq!(
        exchange(addr, &request("POST", "/unsubscribe/x", ""))
            .await
            .status,
        404
    );
    let put = exchange(addr, &request("PUT", target(&alice_url), "")).await;
    assert_eq!(put.status, 405);
    assert!(
        put.text.to_lowercase().contains("allow: get, post"),
        "{}",
        put.text
    );

    // A body past the cap is refused before it is read.
    let mut big = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000\r\n\r\n",
        target(&alice_url)
    )
    .into_bytes();
    big.extend(std::iter::repeat_n(b'x', 100));
    let started = Instant::now();
    assert_eq!(exchange(addr, &big).await.status, 413);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "refused on its length, at once"
    );
    let mut chunked = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n",
        target(&alice_url)
    )
    .into_bytes();
    chunked.extend(std::iter::repeat_n(b'x', 0x2000));
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    assert_eq!(exchange(addr, &chunked).await.status, 413);

    // Garbage, a head past 8 KiB, a head that never ends: answered or closed, never a hang.
    let garbage = exchange(
        addr,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xff\xfe\r\n\r\n",
    )
    .await;
    assert_eq!(garbage.status, 400, "{}", garbage.text);
    let huge = format!(
        "GET /unsubscribe HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(10_000)
    );
    assert!(matches!(
        exchange(addr, huge.as_bytes()).await.status,
        0 | 431
    ));
    let started = Instant::now();
    let slow = exchange(addr, b"GET /unsubscribe HTTP/1.1\r\nHost: x\r\n").await;
    // hyper closes a head that does not come within the timeout without an answer.
    assert_eq!(slow.status, 0, "{}", slow.text);
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(unsubscribed(&env.state_path()).is_empty());

    // The good token, as a mail client sends it: 200, recorded, alice's pending digest
    // withdrawn. A second click changes nothing.
    for _ in 0..2 {
        let done = exchange(
            addr,
            &request("POST", target(&alice_url), "List-Unsubscribe=One-Click"),
        )
        .await;
        assert_eq!(done.status, 200, "{}", done.text);
        assert!(done.text.contains("gets no more digests"), "{}", done.text);
    }
    assert_eq!(unsubscribed(&env.state_path()), ["alice@example.org"]);
    stop_handle.request();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the listener stops when asked")
        .unwrap();

    // The next run: bob's pending digest goes out, alice's does not, and nothing is composed
    // for her though the config still lists her.
    let next = env.run(&["send-now"]).await;
    assert_eq!(next.status.code(), Some(0), "{}", stderr(&next));
    let next_out = stdout(&next);
    assert!(
        next_out.contains("alice@example.org: unsubscribed, nothing composed (`paperboy resubscribe alice@example.org` undoes it)"),
        "{next_out}"
    );
    assert!(
        next_out.contains("sent 1, pending 0, failed 0"),
        "{next_out}"
    );
    let mails = env.mails();
    assert_eq!(mails_to(&mails, "alice@example.org").len(), 1);
    assert_eq!(mails_to(&mails, "Bob@Example.org").len(), 2);
    let status = stdout(&env.run(&["status"]).await);
    assert!(status.contains("outbox: 0 pending, 0 failed"), "{status}");
    assert!(
        status.contains("unsubscribed: 1\n  alice@example.org since "),
        "{status}"
    );
    assert!(
        status.contains("(one-click), 1 digest withdrawn unsent"),
        "{status}"
    );
    let alice_line = status
        .lines()
        .find(|l| l.starts_with("alice@example.org "))
        .unwrap();
    assert!(alice_line.contains("unsubscribed "), "{status}");

    // resubscribe undoes it, says so, and refuses what it cannot undo.
    let undone = env.run(&["resubscribe", "Alice@Example.org"]).await;
    assert_eq!(undone.status.code(), Some(0), "{}", stderr(&undone));
    assert!(
        stdout(&undone).starts_with("alice@example.org is subscribed again (unsubscribed "),
        "{}",
        stdout(&undone)
    );
    let again = env.run(&["resubscribe", "alice@example.org"]).await;
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(
        stdout(&again),
        "alice@example.org has not unsubscribed: nothing to undo\n"
    );
    let unknown = env.run(&["resubscribe", "mallory@example.org"]).await;
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown)
            .contains("mallory@example.org has not unsubscribed and is not a subscriber in"),
        "{}",
        stderr(&unknown)
    );

    // And her next digest goes out again.
    serve_a_new_paper(&env, "2612.00002").await;
    let back = env.run(&["send-now"]).await;
    assert_eq!(back.status.code(), Some(0), "{}", stderr(&back));
    let mails = env.mails();
    let alices = mails_to(&mails, "alice@example.org");
    assert_eq!(alices.len(), 2);
    assert!(alices[1].arxiv_ids().contains(&"2612.00002".to_string()));
    assert!(stdout(&env.run(&["status"]).await).contains("unsubscribed: 0"));
}

/// A port free a moment ago, for a daemon whose base_url must name it before it starts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `.eml` files written for `address` so far, oldest first.
fn emls_to(outbox: &Path, address: &str) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(outbox) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(&format!("-{address}.eml")))
        })
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Waits up to 15 seconds for the `n`th `.eml` to `address`, and returns it.
async fn wait_for_eml(env: &TestEnv, address: &str, n: usize) -> Vec<u8> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if let Some(eml) = emls_to(&env.dir.path().join("outbox"), address)
            .into_iter()
            .nth(n - 1)
        {
            return eml;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(env.dir.path().join("run.log")).unwrap_or_default();
    panic!("no digest #{n} for {address} within 15 s; the daemon's log:\n{log}");
}

fn list_unsubscribe(eml: &[u8]) -> String {
    use mailparse::MailHeaderMap;
    let parsed = mailparse::parse_mail(eml).unwrap();
    assert_eq!(
        parsed
            .headers
            .get_first_value("List-Unsubscribe-Post")
            .as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    parsed.headers.get_first_value("List-Unsubscribe").unwrap()
}

fn signal(daemon: &tokio::process::Child, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &daemon.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn through_paperboy_run_a_post_to_the_link_of_a_delivered_eml_unsubscribes() {
    let port = free_port();
    let base_url = format!("http://127.0.0.1:{port}");
    let schedule = "\n[schedule]\nfetch = \"*/2 * * * * *\"\ndigest = \"*/2 * * * * *\"\n";
    let env = env_with_web(
        &format!("127.0.0.1:{port}"),
        &base_url,
        &format!("{schedule}{TWO}"),
    )
    .await;
    let config = std::fs::read_to_string(&env.config).unwrap().replace(
        "transport = \"smtp\"",
        "transport = \"file\"\noutbox_dir = \"outbox\"",
    );
    std::fs::write(&env.config, config).unwrap();
    let log = std::fs::File::create(env.dir.path().join("run.log")).unwrap();
    let mut daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_paperboy"))
        .arg("--config")
        .arg(&env.config)
        .arg("run")
        .env("RUST_LOG", "info")
        .env_remove("NOTIFY_SOCKET")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    let first = wait_for_eml(&env, "alice@example.org", 1).await;
    wait_for_eml(&env, "bob@example.org", 1).await;
    let url = one_click_url(&list_unsubscribe(&first));
    assert!(
        url.starts_with(&format!("{base_url}/unsubscribe?u=alice%40example.org&t=")),
        "{url}"
    );

    // What a mail client's button does.
    let done = exchange(
        addr,
        &request("POST", target(&url), "List-Unsubscribe=One-Click"),
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.text);
    let status = stdout(&env.run(&["status"]).await);
    assert!(
        status.contains("unsubscribed: 1\n  alice@example.org since "),
        "{status}"
    );

    // A new paper reaches bob and not alice.
    serve_a_new_paper(&env, "2612.00001").await;
    wait_for_eml(&env, "bob@example.org", 2).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        emls_to(&env.dir.path().join("outbox"), "alice@example.org").len(),
        1
    );

    // resubscribe beside the running daemon.
    let undone = env.run(&["resubscribe", "alice@example.org"]).await;
    assert_eq!(undone.status.code(), Some(0), "{}", stderr(&undone));

    // A new secret on SIGHUP: the listener keeps serving, with it.
    std::fs::write(
        env.dir.path().join("web-secret"),
        "a-new-secret-that-is-long-enough-for-the-check\n",
    )
    .unwrap();
    signal(&daemon, "HUP");
    let start = Instant::now();
    loop {
        let answer = exchange(addr, &request("GET", target(&url), "")).await;
        if answer.status == 403 {
            break;
        }
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the reload did not take the new secret"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Alice's next digest carries a link made with the new secret, which works.
    serve_a_new_paper(&env, "2612.00002").await;
    let second = wait_for_eml(&env, "alice@example.org", 2).await;
    let new_url = one_click_url(&list_unsubscribe(&second));
    assert_ne!(new_url, url);
    assert_eq!(
        exchange(addr, &request("GET", target(&new_url), ""))
            .await
            .status,
        200
    );

    signal(&daemon, "TERM");
    let exit = tokio::time::timeout(Duration::from_secs(10), daemon.wait())
        .await
        .expect("exits within 10 s of SIGTERM")
        .unwrap();
    assert_eq!(exit.code(), Some(0));
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener stopped with the daemon"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_names_web_listen_when_it_cannot_bind() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let env = env_with_web(&listen, BASE_URL, TWO).await;
    let out = tokio::time::timeout(Duration::from_secs(20), env.run(&["run"]))
        .await
        .expect("run exits at once");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!(
            "paperboy: web.listen {listen}: cannot listen there: "
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_documented_web_block_loads_once_uncommented() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/paperboy.toml"))
            .unwrap();
    let mut in_web = false;
    let uncommented: Vec<String> = example
        .lines()
        .map(|line| {
            in_web = (in_web && line.starts_with("# ")) || line == "# [web]";
            match line.strip_prefix("# ") {
                Some(rest) if in_web => rest.to_string(),
                _ => line.to_string(),
            }
        })
        .collect();
    let uncommented = uncommented.join("\n");
    assert!(uncommented.contains("\n[web]\nlisten = "), "{uncommented}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("web-secret"), SECRET).unwrap();
    let path = dir.path().join("paperboy.toml");
    std::fs::write(
        &path,
        uncommented.replace("\"/etc/paperboy/web-secret\"", "\"web-secret\""),
    )
    .unwrap();
    let config = Config::load_with_env(&path, std::iter::empty()).unwrap();
    let web = config.web.unwrap();
    assert_eq!(web.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(web.base_url, "https://papers.example.org");
}
