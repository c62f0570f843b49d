//! DKIM: digests composed through the real binary carry a signature that an independent
//! verifier (cfdkim, its own canonicalization) accepts against the DNS record `check` prints,
//! for Ed25519 and RSA keys, over SMTP and in `.eml` files; a changed header or body fails
//! it; a key that cannot sign is a config problem that names the key and file.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use cfdkim::DKIMError;
use cfdkim::dns::Lookup;
use futures_util::future::BoxFuture;
use lettre::message::header::{HeaderName, HeaderValue};
use paperboy::config::{Config, ConfigError};
use paperboy::dkim::{DkimKey, DkimSigner};
use support::*;

const SELECTOR: &str = "paperboy";
const DNS_NAME: &str = "paperboy._domainkey.example.org";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dkim");
    std::fs::read_to_string(path.join(name)).unwrap()
}

/// The record OpenSSL worked out for `key` (tests/fixtures/dkim/README.md): not Paperboy's
/// own answer, which `check` must agree with.
fn record(key: &str) -> String {
    fixture(&format!("{key}.txt")).trim_end().to_string()
}

/// A DNS with one TXT record.
struct OneRecord {
    name: String,
    value: String,
}

impl Lookup for OneRecord {
    fn lookup_txt<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Vec<String>, DKIMError>> {
        let answer = if name == self.name {
            Ok(vec![self.value.clone()])
        } else {
            Err(DKIMError::NoKeyForSignature)
        };
        Box::pin(std::future::ready(answer))
    }
}

/// cfdkim's verdict on the signature of example.org in `message`, with the key published as
/// `record`: "pass", or "fail (reason)", or "neutral" when there is no signature.
async fn verify(message: &[u8], record: &str) -> String {
    let parsed = cfdkim_mailparse::parse_mail(message).expect("a parsable message");
    let dns = Arc::new(OneRecord {
        name: DNS_NAME.to_string(),
        value: record.to_string(),
    });
    let logger = slog::Logger::root(slog::Discard, slog::o!());
    match cfdkim::verify_email_with_resolver(&logger, "example.org", &parsed, dns).await {
        Ok(result) => result.with_detail(),
        Err(e) => format!("error: {e}"),
    }
}

/// The head of `message`, up to the blank line.
fn head(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    text[..text.find("\r\n\r\n").expect("a blank line after the head")].to_string()
}

/// A subscriber whose name and the default subject ("·") need encoded words, so that the
/// signed headers are not plain ASCII.
const SUBSCRIBER: &str = r#"
[[subscribers]]
email = "zoe@example.org"
name = "Zoë Ångström, Labs & Co."
"#;

/// A test env whose config signs with the fixture `key`, copied beside the config and named
/// by a relative path.
async fn signing_env(key: &str) -> TestEnv {
    signing_env_with(key, "").await
}

/// `signing_env` with more of the config before the subscribers.
async fn signing_env_with(key: &str, more: &str) -> TestEnv {
    let dkim = format!(
        "[mail.dkim]\ndomain = \"example.org\"\nselector = \"{SELECTOR}\"\nprivate_key_file = \"keys/dkim.pem\"\n"
    );
    let env = TestEnv::new(&format!("{dkim}{more}{SUBSCRIBER}")).await;
    std::fs::create_dir(env.dir.path().join("keys")).unwrap();
    std::fs::write(
        env.dir.path().join("keys/dkim.pem"),
        fixture(&format!("{key}.pem")),
    )
    .unwrap();
    env
}

/// The signed message as the outbox holds it.
fn outbox_message(env: &TestEnv) -> Vec<u8> {
    let conn = rusqlite::Connection::open(env.state_path()).unwrap();
    let stored: Vec<u8> = conn
        .query_row("SELECT message FROM messages", [], |r| r.get(0))
        .unwrap();
    paperboy::store::unpack(stored).unwrap()
}

/// The checks on one delivered, signed digest: it verifies; the signature covers what it
/// should; changing a signed header or the body breaks it.
async fn assert_signed(message: &[u8], key: &str, algorithm: &str) {
    let published = record(key);
    assert_eq!(verify(message, &published).await, "pass", "{key}");
    let head = head(message);
    assert_eq!(head.matches("DKIM-Signature: ").count(), 1, "{head}");
    // The DKIM-Signature header, unfolded.
    let mut lines = head
        .split("\r\n")
        .skip_while(|l| !l.starts_with("DKIM-Signature: "));
    let first = lines.next().unwrap();
    let signature = std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with([' ', '\t'])))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    for tag in [
        &format!("a={algorithm}-sha256;"),
        "d=example.org;",
        "s=paperboy;",
        "c=relaxed/relaxed;",
        "h=from:to:subject:date:message-id:list-id:list-unsubscribe:list-unsubscribe-post;",
    ] {
        assert!(signature.contains(tag), "{tag} in {signature}");
    }

    // The verifier can say no: to another key, a changed header, a changed body.
    let other = if key == "ed25519" { "rsa" } else { "ed25519" };
    assert_ne!(verify(message, &record(other)).await, "pass");
    let text = String::from_utf8(message.to_vec()).unwrap();
    let subject = text.find("\r\nSubject: ").unwrap() + 11;
    let mut changed = text.clone();
    changed.insert_str(subject, "Re: ");
    assert!(
        verify(changed.as_bytes(), &published)
            .await
            .starts_with("fail")
    );
    let changed = text.replacen(
        "List-Unsubscribe: <mailto:admin",
        "List-Unsubscribe: <mailto:evil",
        1,
    );
    assert_ne!(changed, text);
    assert!(
        verify(changed.as_bytes(), &published)
            .await
            .starts_with("fail")
    );
    let body = text.find("\r\n\r\n").unwrap();
    let changed = format!("{}\r\n\r\nP.S. click here{}", &text[..body], &text[body..]);
    assert!(
        verify(changed.as_bytes(), &published)
            .await
            .starts_with("fail")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ed25519_signed_digest_sent_over_smtp_verifies_and_is_the_outbox_s_bytes() {
    let env = signing_env("ed25519").await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let accepted = env.smtp.accepted();
    assert_eq!(accepted.len(), 1);
    let sent = &accepted[0].data;
    // What went out is what was signed when the digest was composed: a retry sends the same.
    // lettre ends DATA with CRLF.CRLF after a message that already ends in CRLF, so one
    // empty line more arrives; both body canonicalizations drop trailing empty lines.
    let stored = outbox_message(&env);
    assert_eq!(sent.strip_suffix(b"\r\n"), Some(&stored[..]));
    assert_signed(sent, "ed25519", "ed25519").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rsa_signed_digests_verify_from_either_pem_form_and_from_an_eml_file() {
    for key in ["rsa", "rsa-pkcs1"] {
        let env = signing_env(key).await;
        let config = std::fs::read_to_string(&env.config).unwrap();
        let config = config.replace(
            "transport = \"smtp\"",
            "transport = \"file\"\noutbox_dir = \"outbox\"",
        );
        std::fs::write(&env.config, config).unwrap();
        let out = env.run(&["send-now"]).await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let files: Vec<_> = std::fs::read_dir(env.dir.path().join("outbox"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let eml = std::fs::read(&files[0]).unwrap();
        assert!(
            !eml.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'),
            "CRLF only"
        );
        assert_signed(&eml, key, "rsa").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_list_unsubscribe_header_the_signature_still_verifies() {
    let env = signing_env("ed25519").await;
    let config = std::fs::read_to_string(&env.config).unwrap();
    let config = config.replace(
        "unsubscribe = \"mailto:admin@example.org?subject=unsubscribe\"",
        "",
    );
    std::fs::write(&env.config, config).unwrap();
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let sent = &env.smtp.accepted()[0].data;
    assert!(!head(sent).contains("List-Unsubscribe"), "{}", head(sent));
    assert_eq!(verify(sent, &record("ed25519")).await, "pass");
}

/// With `[web]`, the digest carries its one-click headers, and the signature covers them, as
/// RFC 8058 requires: a relay cannot turn the one-click link into another.
#[tokio::test(flavor = "multi_thread")]
async fn a_one_click_digest_verifies_with_its_list_unsubscribe_post_signed() {
    let web = "[web]\nlisten = \"127.0.0.1:9\"\nbase_url = \"https://papers.example.org\"\n\
               secret_file = \"web-secret\"\n";
    let env = signing_env_with("ed25519", web).await;
    std::fs::write(
        env.dir.path().join("web-secret"),
        "0123456789abcdef".repeat(4),
    )
    .unwrap();
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let received = env.smtp.accepted();
    assert_eq!(received.len(), 1);
    let message = &received[0].data;
    let text = String::from_utf8(message.clone()).unwrap();
    assert!(
        text.contains("\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"),
        "{text}"
    );
    assert!(
        text.contains("List-Unsubscribe: <https://papers.example.org/unsubscribe?u="),
        "{text}"
    );
    let published = record("ed25519");
    assert_eq!(verify(message, &published).await, "pass");
    let changed = text.replacen("https://papers.example.org/", "https://evil.example/", 1);
    assert!(
        verify(changed.as_bytes(), &published)
            .await
            .starts_with("fail")
    );
}

/// The List-Unsubscribe-Post header of one-click unsubscribe (RFC 8058), whoever adds it,
/// is covered when present and cannot be added when absent.
#[tokio::test]
async fn list_unsubscribe_post_is_covered_whether_present_or_not() {
    let key = DkimKey::from_pem(&fixture("ed25519.pem")).unwrap();
    let signer = DkimSigner::new("example.org", SELECTOR, key).unwrap();
    let message = |post: bool| {
        let mut builder = lettre::Message::builder()
            .from("Paperboy <papers@example.org>".parse().unwrap())
            .to("zoe@example.org".parse().unwrap())
            .subject("Papers")
            .date(SystemTime::now())
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                "<https://papers.example.org/u/abc>".into(),
            ));
        if post {
            builder = builder.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".into(),
            ));
        }
        let mut message = builder.body("Hello\r\n".to_string()).unwrap();
        signer.sign(&mut message);
        String::from_utf8(message.formatted()).unwrap()
    };
    let record = record("ed25519");
    let with_post = message(true);
    assert_eq!(verify(with_post.as_bytes(), &record).await, "pass");
    let changed = with_post.replace("List-Unsubscribe=One-Click", "List-Unsubscribe=Later");
    assert!(
        verify(changed.as_bytes(), &record)
            .await
            .starts_with("fail")
    );

    let without = message(false);
    assert_eq!(verify(without.as_bytes(), &record).await, "pass");
    let added = without.replacen(
        "\r\n",
        "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
        1,
    );
    assert!(verify(added.as_bytes(), &record).await.starts_with("fail"));
}

fn problems(config: &str, dir: &Path) -> Vec<String> {
    let path = dir.join("paperboy.toml");
    std::fs::write(&path, config).unwrap();
    match Config::load_with_env(&path, std::iter::empty()) {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

const MAIL: &str = "[mail]\nfrom = \"Paperboy <papers@example.org>\"\n";

#[test]
fn every_dkim_problem_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let found = problems(
        &format!(
            "{MAIL}[mail.dkim]\ndomain = \"example\"\nselector = \"s_1\"\nprivate_key_file = \"missing.pem\"\nalgorithm = \"rsa\"\n"
        ),
        dir.path(),
    );
    let missing = dir.path().join("missing.pem");
    let expected = [
        "mail.dkim.algorithm: unknown key".to_string(),
        "mail.dkim.domain \"example\": must be a domain name such as example.org".to_string(),
        "mail.dkim.selector \"s_1\": may hold only letters, digits, hyphens and dots".to_string(),
        format!(
            "mail.dkim.private_key_file {:?}: cannot be read: No such file or directory",
            missing.display().to_string()
        ),
    ];
    for want in &expected {
        assert!(
            found.iter().any(|p| p.starts_with(want.as_str())),
            "{want:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");

    let found = problems(&format!("{MAIL}[mail.dkim]\n"), dir.path());
    for key in ["domain", "selector", "private_key_file"] {
        let want = format!("mail.dkim.{key} \"\": is required in [mail.dkim]");
        assert!(found.iter().any(|p| p.starts_with(&want)), "{found:#?}");
    }
    let found = problems("[mail]\nfrom = \"a@example.org\"\ndkim = 1\n", dir.path());
    assert_eq!(found, ["mail.dkim \"1\": must be a table ([mail.dkim])"]);
}

#[tokio::test]
async fn check_exits_2_naming_a_key_file_that_cannot_sign() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("paperboy.toml");
    std::fs::write(dir.path().join("dkim.pem"), fixture("encrypted.pem")).unwrap();
    std::fs::write(
        &config,
        format!(
            "{MAIL}[mail.dkim]\ndomain = \"example.org\"\nselector = \"paperboy\"\nprivate_key_file = \"dkim.pem\"\n"
        ),
    )
    .unwrap();
    let out = paperboy(&config, &["check"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let file = dir.path().join("dkim.pem").display().to_string();
    assert!(
        err.contains(&format!(
            "mail.dkim.private_key_file {file:?}: is encrypted; paperboy needs it unencrypted"
        )),
        "{err}"
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[test]
fn a_signing_domain_unrelated_to_the_sender_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dkim.pem"), fixture("ed25519.pem")).unwrap();
    let path = dir.path().join("paperboy.toml");
    let config = |domain: &str| {
        format!(
            "{MAIL}[mail.dkim]\ndomain = \"{domain}\"\nselector = \"paperboy\"\nprivate_key_file = \"dkim.pem\"\n"
        )
    };
    std::fs::write(&path, config("example.net")).unwrap();
    let loaded = Config::load_with_env(&path, std::iter::empty()).unwrap();
    assert_eq!(
        loaded.warnings,
        [
            "mail.dkim.domain \"example.net\": is not the domain of mail.from (example.org) nor a parent or subdomain of it: receivers applying DMARC may not count the signature"
        ]
    );
    std::fs::write(&path, config("Example.ORG")).unwrap();
    let loaded = Config::load_with_env(&path, std::iter::empty()).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(
        loaded.mail.dkim.unwrap().dns_name(),
        "paperboy._domainkey.example.org"
    );
}

#[test]
fn the_example_config_s_dkim_block_is_valid_once_uncommented() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/paperboy.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dkim/ed25519.pem");
    let mut uncommented = String::new();
    let mut in_block = false;
    for line in text.lines() {
        in_block = line == "# [mail.dkim]" || (in_block && line.starts_with("# "));
        let line = if in_block { &line[2..] } else { line };
        uncommented.push_str(&line.replace("/etc/paperboy/dkim.pem", &key.display().to_string()));
        uncommented.push('\n');
    }
    assert!(
        uncommented.contains("\n[mail.dkim]\ndomain = "),
        "{uncommented}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paperboy.toml");
    std::fs::write(&path, uncommented).unwrap();
    let config = Config::load_with_env(&path, std::iter::empty()).unwrap();
    let dkim = config.mail.dkim.expect("[mail.dkim] read");
    assert_eq!(dkim.dns_name(), "paperboy._domainkey.example.org");
    assert_eq!(dkim.dns_record(), record("ed25519"));
}

#[test]
fn the_key_file_can_come_from_the_environment_and_a_problem_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dkim.pem"), fixture("rsa.pem")).unwrap();
    let path = dir.path().join("paperboy.toml");
    std::fs::write(
        &path,
        format!("{MAIL}[mail.dkim]\ndomain = \"example.org\"\nselector = \"paperboy\"\n"),
    )
    .unwrap();
    let env = |file: &str| {
        [(
            "PAPERBOY__MAIL__DKIM__PRIVATE_KEY_FILE".to_string(),
            file.to_string(),
        )]
    };
    let config = Config::load_with_env(&path, env("dkim.pem")).unwrap();
    assert_eq!(config.mail.dkim.unwrap().dns_record(), record("rsa"));
    match Config::load_with_env(&path, env("nope.pem")) {
        Err(ConfigError::Invalid { problems, .. }) => {
            let file = dir.path().join("nope.pem").display().to_string();
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(
                problems[0].starts_with(&format!(
                    "mail.dkim.private_key_file {file:?} (set by PAPERBOY__MAIL__DKIM__PRIVATE_KEY_FILE): cannot be read"
                )),
                "{problems:?}"
            );
        }
        other => panic!("expected a problem, got {other:?}"),
    }
}
