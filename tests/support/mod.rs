//! What the integration tests share: a Hugging Face stand-in (wiremock serving recorded
//! responses), a loopback SMTP server, a config written from scratch, and the real binary.

#![allow(dead_code)] // each test file uses its own part of this

pub mod smtp;

use std::path::{Path, PathBuf};
use std::process::Output;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub use smtp::{Received, SmtpServer};

pub const FIXTURE: &str = include_str!("../fixtures/hf_daily_papers.json");

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub hf: MockServer,
    pub smtp: SmtpServer,
    pub config: PathBuf,
}

impl TestEnv {
    /// A config with `subscribers` (TOML `[[subscribers]]` blocks) delivering over SMTP, and
    /// Hugging Face serving the recorded daily papers for every date.
    pub async fn new(subscribers: &str) -> TestEnv {
        let env = TestEnv::empty(subscribers).await;
        env.serve_papers(FIXTURE).await;
        env
    }

    /// Like `new`, with nothing mounted on the Hugging Face stand-in.
    pub async fn empty(subscribers: &str) -> TestEnv {
        let dir = tempfile::tempdir().unwrap();
        let hf = MockServer::start().await;
        let smtp = SmtpServer::start();
        let config = dir.path().join("paperboy.toml");
        std::fs::write(&config, config_toml(&hf.uri(), smtp.port(), subscribers)).unwrap();
        TestEnv {
            dir,
            hf,
            smtp,
            config,
        }
    }

    /// Serves `json` as every daily papers list from now on.
    pub async fn serve_papers(&self, json: &str) {
        self.hf.reset().await;
        Mock::given(method("GET"))
            .and(path("/api/daily_papers"))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(json.to_string(), "application/json"),
            )
            .mount(&self.hf)
            .await;
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        paperboy(&self.config, args).await
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("state/paperboy.db")
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.smtp.accepted().iter().map(Mail::parse).collect()
    }
}

pub fn config_toml(hf_url: &str, smtp_port: u16, subscribers: &str) -> String {
    format!(
        r#"
[mail]
from = "Paperboy <papers@example.org>"
unsubscribe = "mailto:admin@example.org?subject=unsubscribe"

[delivery]
transport = "smtp"
retries = 2
retry_delay = "50ms"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
timeout = "5s"

[state]
path = "state/paperboy.db"

[sources.huggingface]
base_url = "{hf_url}"
timeout = "5s"

{subscribers}
"#
    )
}

/// Runs the real binary with `config`, isolated from the caller's environment.
pub async fn paperboy(config: &Path, args: &[&str]) -> Output {
    let binary = Path::new(env!("CARGO_BIN_EXE_paperboy"));
    output_shown(paperboy_command(binary, config, args), args).await
}

/// `binary` (the real one, or a copy of it) with `config` and `args`, isolated from the
/// caller's environment, for a test that must set up the process further.
pub fn paperboy_command(binary: &Path, config: &Path, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary);
    command.arg("--config").arg(config).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("PAPERBOY") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "info").env_remove("JOURNAL_STREAM");
    command
}

/// Runs `command` (paperboy with `args`) and shows what it printed in the test's output.
pub async fn output_shown(mut command: tokio::process::Command, args: &[&str]) -> Output {
    let output = command.output().await.expect("run paperboy");
    eprintln!(
        "$ paperboy {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A delivered email, decoded.
#[derive(Debug)]
pub struct Mail {
    pub envelope_to: Vec<String>,
    pub raw: String,
    pub subject: String,
    pub to: String,
    pub content_type: String,
    pub text: String,
    pub html: String,
    pub headers: Vec<(String, String)>,
}

impl Mail {
    pub fn parse(received: &Received) -> Mail {
        let parsed = mailparse::parse_mail(&received.data).expect("a parsable message");
        let header = |name: &str| {
            parsed
                .headers
                .iter()
                .find(|h| h.get_key().eq_ignore_ascii_case(name))
                .map(|h| h.get_value())
                .unwrap_or_default()
        };
        let part = |mime: &str| {
            parsed
                .subparts
                .iter()
                .find(|p| p.ctype.mimetype == mime)
                .map(|p| p.get_body().unwrap())
                .unwrap_or_default()
        };
        Mail {
            envelope_to: received.to.clone(),
            raw: String::from_utf8_lossy(&received.data).into_owned(),
            subject: header("Subject"),
            to: header("To"),
            content_type: parsed.ctype.mimetype.clone(),
            text: part("text/plain"),
            html: part("text/html"),
            headers: parsed
                .headers
                .iter()
                .map(|h| (h.get_key(), h.get_value()))
                .collect(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The arXiv ids of the papers in the text part, in order: from its list of links,
    /// `[2] https://arxiv.org/abs/2606.00467`.
    pub fn arxiv_ids(&self) -> Vec<String> {
        self.text
            .lines()
            .filter_map(|l| l.strip_prefix('[')?.split_once("] ").map(|(_, url)| url))
            .filter_map(|url| url.trim().strip_prefix("https://arxiv.org/abs/"))
            .map(str::to_string)
            .collect()
    }
}

/// The mails to `address`.
pub fn mails_to<'a>(mails: &'a [Mail], address: &str) -> Vec<&'a Mail> {
    mails
        .iter()
        .filter(|m| m.envelope_to.iter().any(|t| t == address))
        .collect()
}

/// A daily papers item, shaped like the service's.
pub fn hf_item(
    id: &str,
    title: &str,
    summary: &str,
    authors: &[&str],
    upvotes: u32,
) -> serde_json::Value {
    serde_json::json!({
        "paper": {
            "id": id,
            "title": title,
            "summary": summary,
            "authors": authors.iter().map(|a| serde_json::json!({"name": a})).collect::<Vec<_>>(),
            "upvotes": upvotes,
            "publishedAt": "2026-06-12T00:00:00.000Z"
        },
        "numComments": 0,
        "title": title
    })
}
