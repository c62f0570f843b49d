//! The config file: raw TOML structs, layered with environment overrides, validated into a
//! typed [`Config`] in which nothing can fail to parse any more.
//!
//! Every problem is collected and reported together, each naming its key path and value, so a
//! user fixes a config in one round instead of one error per restart. `raw` holds the TOML as
//! written, `problems` the collection of what is wrong with it, `cron` the schedules,
//! `subscriber` one subscriber's keys, from `[[subscribers]]` or from a file of
//! `subscribers_dir`, which reads that folder.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use lettre::message::Mailbox;

use crate::dkim::DkimSigner;

pub mod bibtex;
mod cron;
mod dkim;
mod problems;
mod raw;
mod subscriber;
mod subscribers_dir;
mod topic;
mod web;

pub use cron::CronSchedule;
use problems::{Problems, env_key};
use subscriber::{Addresses, Place, SubscriberDefaults, add_subscriber, validate_subscriber};
use topic::TopicContext;
pub use topic::{LikeTopic, LikedText, Topic, TopicKind};
pub use web::WebConfig;

/// Where the config file is looked for when neither `--config` nor `$PAPERBOY_CONFIG` names one.
pub const DEFAULT_CONFIG_PATH: &str = "config/paperboy.toml";
/// Environment variables `PAPERBOY__SECTION__KEY` override the file.
const ENV_PREFIX: &str = "PAPERBOY";
const ENV_SEPARATOR: &str = "__";

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was loaded from; relative paths in it were resolved against its folder.
    pub path: PathBuf,
    pub mail: MailConfig,
    pub delivery: DeliveryConfig,
    pub state_path: PathBuf,
    /// How long the bodies of sent digests are kept; zero drops each once it is sent.
    pub keep_messages: Duration,
    /// How long which papers went to whom is kept, and so how long after it was first seen
    /// a paper that changed (it gained categories or upvotes) may be offered again.
    pub keep_history: Duration,
    pub schedule: ScheduleConfig,
    pub sources: SourcesConfig,
    pub subscribers: Vec<Subscriber>,
    /// Subscribers left out for problems of their own, in a serving load (see
    /// [`SubscriberProblems`]); the others are in `subscribers`.
    pub skipped: Vec<SkippedSubscriber>,
    /// The one-click unsubscribe listener; `None` without `[web]`.
    pub web: Option<WebConfig>,
    /// Settings that are valid but probably not what was meant, each naming its key.
    pub warnings: Vec<String>,
}

/// A subscriber whose own settings have problems (their address, a topic, their time zone
/// or schedule, their file): left out, so that one typo holds back nobody else's digest.
#[derive(Debug, Clone)]
pub struct SkippedSubscriber {
    /// Where they are written: `subscribers[2]`, or a file of `subscribers_dir`.
    pub place: String,
    /// Their address in lower case, when it could be read.
    pub key: Option<String>,
    /// Each problem, naming its key.
    pub problems: Vec<String>,
}

/// What a problem confined to one subscriber does to a load. A problem anywhere else (a
/// global section) always fails it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriberProblems {
    /// Fails the load with every other problem: for `check`, which lists them all.
    Reject,
    /// Leaves that subscriber out, in [`Config::skipped`]: for the commands and the daemon,
    /// which serve the others.
    Skip,
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    pub from: Mailbox,
    /// A tera template for the Subject header, compiled by `render`.
    pub subject: String,
    /// The List-Unsubscribe target: a `mailto:` or `https:` URI.
    pub unsubscribe: Option<String>,
    /// A folder whose `digest.html` / `digest.txt` override the built-in templates.
    pub templates_dir: Option<PathBuf>,
    /// Signs every digest, when `[mail.dkim]` is set.
    pub dkim: Option<DkimSigner>,
}

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub transport: TransportConfig,
    /// Extra attempts within one run after a transient failure.
    pub retries: u32,
    /// The wait before the first retry; it doubles for each further one.
    pub retry_delay: Duration,
}

#[derive(Debug, Clone)]
pub enum TransportConfig {
    /// Write each digest as an `.eml` file into this folder.
    File {
        outbox_dir: PathBuf,
    },
    Smtp(SmtpConfig),
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<(String, Secret)>,
    pub max_connections: u32,
    pub timeout: Duration,
    /// After this many messages a connection is closed and a fresh one opened.
    pub max_messages_per_connection: u32,
    /// The relay's quota, shared by all connections; `None`: as fast as it answers.
    pub max_per_second: Option<f64>,
    /// Certificates trusted in addition to the platform's roots, from `ca_file`.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    StartTls,
    Tls,
    None,
}

/// A password: never printed, not even by `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    pub fetch: CronSchedule,
    pub digest: CronSchedule,
    pub timezone: Tz,
}

#[derive(Debug, Clone)]
pub struct SourcesConfig {
    /// `None` when the source is disabled.
    pub huggingface: Option<HuggingFaceConfig>,
    pub arxiv: Option<ArxivConfig>,
    /// The arXiv API, whether or not the arXiv source is enabled: liked papers are looked up
    /// there.
    pub arxiv_api: ArxivApi,
}

#[derive(Debug, Clone)]
pub struct ArxivApi {
    pub url: String,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ArxivConfig {
    /// As arXiv writes them (`cs.LG`, `astro-ph.GA`), each checked against its taxonomy.
    pub categories: Vec<String>,
    /// The daily announcement: `{rss_url}/{cat1}+{cat2}`.
    pub rss_url: String,
    /// The API, for backfill.
    pub api_url: String,
    /// Whether new versions of papers announced before come too.
    pub include_replacements: bool,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct HuggingFaceConfig {
    pub base_url: String,
    /// How many days back (today included) to ask for by date.
    pub lookback_days: u32,
    pub timeout: Duration,
    /// A Hugging Face access token, which raises the rate limit.
    pub token: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct Subscriber {
    pub email: lettre::Address,
    /// The address in lower case: how the state knows this subscriber.
    pub key: String,
    pub name: Option<String>,
    pub topics: Vec<Topic>,
    pub timezone: Tz,
    /// Shared with `[schedule] digest` when the subscriber has none of their own: a parsed
    /// schedule is ~250 bytes, 25 MB for 100,000 subscribers if each held a copy.
    pub schedule: Arc<CronSchedule>,
    pub max_papers: usize,
    pub min_upvotes: u32,
    /// Whether papers whose upvotes are unknown (arXiv alone) fail `min_upvotes`.
    pub require_upvotes: bool,
    pub send_empty: bool,
}

impl Subscriber {
    pub fn mailbox(&self) -> Mailbox {
        Mailbox::new(self.name.clone(), self.email.clone())
    }
}

/// Why a config could not be loaded: every problem found, each naming its key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{}", Invalid { path, problems })]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
    /// Only subscribers' own problems: what `check` says of a config that `send-now` and
    /// `run` serve without them.
    #[error("{}\n{}", Invalid { path, problems }, skipped_note(*subscribers))]
    SubscribersSkipped {
        path: PathBuf,
        problems: Vec<String>,
        subscribers: usize,
    },
}

/// What `check` adds when only subscribers' own problems were found.
fn skipped_note(subscribers: usize) -> String {
    let them = match subscribers {
        1 => "that subscriber".to_string(),
        n => format!("those {n} subscribers"),
    };
    format!(
        "only the subscribers named are affected: send-now and run skip {them} and serve the others"
    )
}

struct Invalid<'a> {
    path: &'a Path,
    problems: &'a [String],
}

impl fmt::Display for Invalid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        let s = if n == 1 { "" } else { "s" };
        write!(f, "{} has {n} problem{s}:", self.path.display())?;
        for problem in self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

/// The config file path to use: `--config`, else `$PAPERBOY_CONFIG`, else the default.
pub fn resolve_path(cli: Option<PathBuf>) -> PathBuf {
    cli.or_else(|| std::env::var_os("PAPERBOY_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
}

impl Config {
    /// Loads the file at `path`, applies `PAPERBOY__SECTION__KEY` overrides from the process
    /// environment, and validates the result: any problem fails it.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with(path, std::env::vars(), SubscriberProblems::Reject)
    }

    /// Like [`Config::load`], but a subscriber with problems of their own is left out (in
    /// `skipped`) rather than failing the load: what serving the others needs.
    pub fn load_serving(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with(path, std::env::vars(), SubscriberProblems::Skip)
    }

    /// Like [`Config::load`] with the environment given explicitly (for tests).
    pub fn load_with_env(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        Self::load_with(path, env, SubscriberProblems::Reject)
    }

    /// Loads with the environment given, and subscribers' own problems treated as `mode`
    /// says.
    pub fn load_with(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
        mode: SubscriberProblems,
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file_table = toml::from_str::<toml::Table>(&text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: syntax_message(&text, &e),
        })?;
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(key, _)| key.starts_with(&format!("{ENV_PREFIX}{ENV_SEPARATOR}")))
            .collect();
        let mut problems = Problems {
            list: Vec::new(),
            warnings: Vec::new(),
            set_by_env: env.keys().map(|var| (env_key(var), var.clone())).collect(),
            confined: Vec::new(),
        };
        let layered = config::Config::builder()
            .add_source(config::File::from_str(&text, config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator(ENV_SEPARATOR)
                    .separator(ENV_SEPARATOR)
                    // No `try_parsing`: it would turn a password "007" into "7". Values stay
                    // strings and serde converts those that fill number or bool keys.
                    .source(Some(env)),
            )
            .build()
            .map_err(|e| ConfigError::Syntax {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let mut unknown = Vec::new();
        let raw: raw::RawConfig = layered
            .try_deserialize::<raw::WithUnknownKeys>()
            .map(|w| {
                unknown = w.unknown;
                w.config
            })
            .map_err(|e| ConfigError::Syntax {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let base = path.parent().unwrap_or(Path::new("."));
        // A subscriber's unknown keys are theirs, reported with their other problems.
        let mut of_subscribers: Vec<(usize, String)> = Vec::new();
        for key in unknown {
            match subscriber_index(&key) {
                Some(i) => of_subscribers.push((i, key)),
                None => problems.unknown_key(&key, &file_table),
            }
        }
        let unknown = UnknownKeys {
            of_subscribers,
            file: &file_table,
        };
        let config = validate(raw, path, base, &unknown, &mut problems);
        let serve = problems.list.is_empty()
            || (mode == SubscriberProblems::Skip && problems.global() == 0);
        match config {
            Some(mut config) if serve => {
                config.skipped = std::mem::take(&mut problems.confined)
                    .into_iter()
                    .map(|c| SkippedSubscriber {
                        problems: problems.list[c.range].to_vec(),
                        place: c.place,
                        key: c.key,
                    })
                    .collect();
                Ok(config)
            }
            _ => Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems: problems.list,
            }),
        }
    }

    /// Logs each warning, and each skipped subscriber's problems as errors, with the file
    /// they are about.
    pub fn log_problems(&self) {
        self.log_warnings();
        for skipped in &self.skipped {
            for problem in &skipped.problems {
                tracing::error!(
                    "{}: {problem}; {} is skipped until this is fixed",
                    self.path.display(),
                    skipped.key.as_deref().unwrap_or(&skipped.place)
                );
            }
        }
    }

    /// Logs each warning, with the file it is about.
    pub fn log_warnings(&self) {
        for warning in &self.warnings {
            tracing::warn!("{}: {warning}", self.path.display());
        }
    }

    /// The problems of the skipped subscribers, as the error `check` reports; `None` when
    /// nobody is skipped.
    pub fn skipped_error(&self) -> Option<ConfigError> {
        (!self.skipped.is_empty()).then(|| ConfigError::SubscribersSkipped {
            path: self.path.clone(),
            problems: self
                .skipped
                .iter()
                .flat_map(|s| s.problems.iter().cloned())
                .collect(),
            subscribers: self.skipped.len(),
        })
    }

    /// The skipped subscriber with the address `email`, if one is.
    pub fn skipped_subscriber(&self, email: &str) -> Option<&SkippedSubscriber> {
        self.skipped.iter().find(|s| {
            s.key
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case(email))
        })
    }

    pub fn subscriber(&self, email: &str) -> Option<&Subscriber> {
        self.subscribers
            .iter()
            .find(|s| s.key.eq_ignore_ascii_case(email))
    }
}

/// The index `N` of a key `subscribers[N]...`.
fn subscriber_index(key: &str) -> Option<usize> {
    let rest = key.strip_prefix("subscribers[")?;
    rest[..rest.find(']')?].parse().ok()
}

/// The unknown keys of the main file's `[[subscribers]]`, by index, to be reported with each
/// subscriber's other problems.
struct UnknownKeys<'a> {
    of_subscribers: Vec<(usize, String)>,
    file: &'a toml::Table,
}

/// Where and what the TOML syntax error is, without quoting the line: toml's own message
/// shows the line, and that line may hold the SMTP password.
fn syntax_message(text: &str, error: &toml::de::Error) -> String {
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(
                "line {line}, column {column}: {}",
                error.message().trim_end()
            )
        }
        None => error.message().trim_end().to_string(),
    }
}

/// Resolves a configured path against the config file's folder.
fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// Parses `500ms`, `2s`, `5m`, `1h`, `7d`.
/// A duration key's value, parsed, or `None` with the problem reported under `key`.
fn valid_duration(
    problems: &mut Problems,
    key: &str,
    value: &raw::Lenient<String>,
) -> Option<Duration> {
    let text = problems.valid(key, value)?;
    parse_duration(&text)
        .map_err(|e| problems.report(key, &text, e))
        .ok()
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| "needs a unit: ms, s, m, h or d".to_string())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| "must start with a whole number, e.g. 30s".to_string())?;
    let millis = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("unknown unit {unit:?}; use ms, s, m, h or d")),
    };
    Ok(Duration::from_millis(number.saturating_mul(millis)))
}

fn validate(
    raw: raw::RawConfig,
    path: &Path,
    base: &Path,
    unknown: &UnknownKeys<'_>,
    problems: &mut Problems,
) -> Option<Config> {
    for (key, section) in [
        ("mail", raw.mail.invalid.as_ref()),
        ("delivery", raw.delivery.invalid.as_ref()),
        ("smtp", raw.smtp.invalid.as_ref()),
        ("state", raw.state.invalid.as_ref()),
        ("schedule", raw.schedule.invalid.as_ref()),
        ("sources", raw.sources.invalid.as_ref()),
        (
            "sources.huggingface",
            raw.sources.huggingface.invalid.as_ref(),
        ),
        ("sources.arxiv", raw.sources.arxiv.invalid.as_ref()),
        ("digest", raw.digest.invalid.as_ref()),
    ] {
        if let Some(text) = section {
            problems.report(key, text, format!("must be a table ([{key}])"));
        }
    }
    if let Some(web) = &raw.web {
        problems.section("web", web, "must be a table ([web])");
    }
    problems.section(
        "sources.arxiv.categories",
        &raw.sources.arxiv.categories,
        "must be a list, e.g. [\"cs.LG\", \"cs.CL\"]",
    );
    problems.section(
        "subscribers",
        &raw.subscribers,
        "must be a list of tables: write [[subscribers]], with two brackets",
    );
    let from = match problems.valid_opt("mail.from", &raw.mail.from) {
        None if raw.mail.from.is_none() => {
            problems.report(
                "mail.from",
                "",
                "is required, e.g. \"Paperboy <papers@example.org>\"",
            );
            None
        }
        None => None,
        Some(text) => text
            .parse::<Mailbox>()
            .map_err(|e| problems.report("mail.from", &text, format!("not an email address ({e})")))
            .ok(),
    };
    let subject = problems.valid("mail.subject", &raw.mail.subject);
    // Rendering folds whitespace, so a line break could not add a header; but a config that
    // holds one was not written as meant.
    if let Some(subject) = &subject
        && subject.contains(char::is_control)
    {
        problems.report(
            "mail.subject",
            subject,
            "must not contain control characters (a subject is one line)",
        );
    }
    let unsubscribe = problems.valid_opt("mail.unsubscribe", &raw.mail.unsubscribe);
    if let Some(unsubscribe) = &unsubscribe
        && !(unsubscribe.starts_with("mailto:")
            || unsubscribe.starts_with("https://")
            || unsubscribe.starts_with("http://"))
    {
        problems.report(
            "mail.unsubscribe",
            unsubscribe,
            "must be a mailto: or https:// address",
        );
    }
    if let Some(unsubscribe) = &unsubscribe
        && unsubscribe
            .contains(|c: char| c.is_control() || c == '<' || c == '>' || c.is_whitespace())
    {
        problems.report(
            "mail.unsubscribe",
            unsubscribe,
            "must not contain spaces, control characters or angle brackets",
        );
    }

    // `None` inside: no [web]; `None` outside: [web] has problems, reported.
    let web = match &raw.web {
        None => Some(None),
        Some(section) if section.invalid.is_some() => None,
        Some(section) => {
            web::validate_web(section, base, unsubscribe.as_deref(), problems).map(Some)
        }
    };

    let templates_dir = problems.valid_opt("mail.templates_dir", &raw.mail.templates_dir);
    if let Some(dir) = &templates_dir {
        let resolved = resolve(base, dir);
        if !resolved.is_dir() {
            problems.report(
                "mail.templates_dir",
                &dir.display().to_string(),
                format!("{} is not a folder", resolved.display()),
            );
        }
    }
    let dkim = dkim::validate_dkim(raw.mail.dkim.as_ref(), from.as_ref(), base, problems);
    let retries = problems.valid("delivery.retries", &raw.delivery.retries);
    let retry_delay = valid_duration(problems, "delivery.retry_delay", &raw.delivery.retry_delay);
    let outbox_dir = problems.valid("delivery.outbox_dir", &raw.delivery.outbox_dir);
    let transport = problems.valid("delivery.transport", &raw.delivery.transport);
    // Checked with any transport, so that switching to "smtp" later finds no surprise; only the
    // host is needed just for sending.
    let smtp = validate_smtp(
        &raw.smtp,
        base,
        transport.as_deref() == Some("smtp"),
        problems,
    );
    let transport = match transport.as_deref() {
        None => None,
        Some("file") => outbox_dir.map(|dir| TransportConfig::File {
            outbox_dir: resolve(base, &dir),
        }),
        Some("smtp") => smtp.map(TransportConfig::Smtp),
        Some(other) => {
            problems.report("delivery.transport", other, "must be \"smtp\" or \"file\"");
            None
        }
    };
    let state_path = problems.valid("state.path", &raw.state.path);
    let keep_messages = valid_duration(problems, "state.keep_messages", &raw.state.keep_messages);
    let keep_history = valid_duration(problems, "state.keep_history", &raw.state.keep_history);

    let timezone = problems
        .valid("schedule.timezone", &raw.schedule.timezone)
        .and_then(|text| {
            parse_timezone(&text)
                .map_err(|e| problems.report("schedule.timezone", &text, e))
                .ok()
        });
    let fetch = problems
        .valid("schedule.fetch", &raw.schedule.fetch)
        .and_then(|text| {
            CronSchedule::parse(&text)
                .map_err(|e| problems.report("schedule.fetch", &text, e))
                .ok()
        });
    let digest = problems
        .valid("schedule.digest", &raw.schedule.digest)
        .and_then(|text| {
            CronSchedule::parse(&text)
                .map_err(|e| problems.report("schedule.digest", &text, e))
                .ok()
        });

    let huggingface = validate_huggingface(&raw.sources.huggingface, base, problems);
    let arxiv = validate_arxiv(&raw.sources.arxiv, problems);
    let arxiv_api = arxiv.as_ref().map(|(_, api)| api.clone());
    let arxiv = arxiv.map(|(source, _)| source);

    let max_papers = problems.valid("digest.max_papers", &raw.digest.max_papers);
    if max_papers == Some(0) {
        problems.report("digest.max_papers", "0", "must be at least 1");
    }
    let min_upvotes = problems.valid("digest.min_upvotes", &raw.digest.min_upvotes);
    let require_upvotes = problems.valid("digest.require_upvotes", &raw.digest.require_upvotes);
    let send_empty = problems.valid("digest.send_empty", &raw.digest.send_empty);

    // Only arXiv reports categories; a paper from Hugging Face has them once arXiv brings it
    // too. The outer `None`: [sources.arxiv] has problems of its own, reported there.
    let followed_categories: Option<Option<Vec<String>>> = arxiv
        .as_ref()
        .map(|a| a.as_ref().map(|a| a.categories.clone()));
    let defaults = SubscriberDefaults {
        timezone,
        schedule: digest.as_ref().map(|d| Arc::new(d.clone())),
        max_papers,
        min_upvotes,
        require_upvotes,
        send_empty,
        topics: TopicContext {
            base,
            followed_categories: &followed_categories,
        },
    };
    let mut subscribers = Vec::with_capacity(raw.subscribers.len());
    let mut addresses = Addresses::default();
    for (i, sub) in raw.subscribers.value.into_iter().enumerate() {
        let place = Place::Listed(i);
        let mark = problems.mark();
        for (_, key) in unknown.of_subscribers.iter().filter(|(j, _)| *j == i) {
            problems.unknown_key(key, unknown.file);
        }
        problems.section(
            &format!("subscribers[{i}]"),
            &sub,
            "must be a table ([[subscribers]])",
        );
        let built = match sub.invalid {
            Some(_) => None,
            None => validate_subscriber(&sub.value, &place, &defaults, &mut addresses, problems),
        };
        let raw = sub.invalid.is_none().then_some(&sub.value);
        add_subscriber(built, raw, &place, mark, problems, &mut subscribers);
    }
    if let Some(dir) = problems.valid_opt("subscribers_dir", &raw.subscribers_dir) {
        subscribers_dir::load(
            &dir,
            base,
            &defaults,
            &mut addresses,
            &mut subscribers,
            problems,
        );
    }

    Some(Config {
        path: path.to_path_buf(),
        mail: MailConfig {
            from: from?,
            subject: subject?,
            unsubscribe,
            templates_dir: templates_dir.map(|dir| resolve(base, &dir)),
            dkim: dkim?,
        },
        delivery: DeliveryConfig {
            transport: transport?,
            retries: retries?,
            retry_delay: retry_delay?,
        },
        state_path: resolve(base, &state_path?),
        keep_messages: keep_messages?,
        keep_history: keep_history?,
        schedule: ScheduleConfig {
            fetch: fetch?,
            digest: digest?,
            timezone: timezone?,
        },
        sources: SourcesConfig {
            huggingface: huggingface?,
            arxiv: arxiv?,
            arxiv_api: arxiv_api?,
        },
        subscribers,
        skipped: Vec::new(),
        web: web?,
        warnings: std::mem::take(&mut problems.warnings),
    })
}

/// The SMTP settings, checked in full; `None` if any is wrong or, unless `host_required`, the
/// host is missing.
fn validate_smtp(
    raw: &raw::RawSmtp,
    base: &Path,
    host_required: bool,
    problems: &mut Problems,
) -> Option<SmtpConfig> {
    let security = match problems.valid("smtp.security", &raw.security).as_deref() {
        None => None,
        Some("starttls") => Some(SmtpSecurity::StartTls),
        Some("tls") => Some(SmtpSecurity::Tls),
        Some("none") => Some(SmtpSecurity::None),
        Some(other) => {
            problems.report(
                "smtp.security",
                other,
                "must be \"starttls\", \"tls\" or \"none\"",
            );
            None
        }
    };
    let host = match problems.valid_opt("smtp.host", &raw.host) {
        None if raw.host.is_some() => None,
        host => {
            let host = host.filter(|h| !h.trim().is_empty());
            if host.is_none() && host_required {
                problems.report(
                    "smtp.host",
                    "",
                    "is required when delivery.transport = \"smtp\"",
                );
            }
            host
        }
    };
    let port = match problems.valid_opt("smtp.port", &raw.port) {
        Some(0) => {
            problems.report("smtp.port", "0", <u16 as raw::Scalar>::must_be("0"));
            None
        }
        None if raw.port.is_some() => None,
        port => Some(port),
    };
    let max_connections = problems.valid("smtp.max_connections", &raw.max_connections);
    if max_connections == Some(0) {
        problems.report("smtp.max_connections", "0", "must be at least 1");
    }
    let timeout = valid_duration(problems, "smtp.timeout", &raw.timeout);
    let max_messages_per_connection = problems.valid(
        "smtp.max_messages_per_connection",
        &raw.max_messages_per_connection,
    );
    if max_messages_per_connection == Some(0) {
        problems.report(
            "smtp.max_messages_per_connection",
            "0",
            "must be at least 1",
        );
    }
    let max_per_second = match problems.valid_opt("smtp.max_per_second", &raw.max_per_second) {
        Some(rate) if !(rate.is_finite() && rate > 0.0) => {
            problems.report(
                "smtp.max_per_second",
                &rate.to_string(),
                "must be more than 0 (leave it out for no limit)",
            );
            None
        }
        None if raw.max_per_second.is_some() => None,
        rate => Some(rate),
    };
    let extra_roots = match problems.valid_opt("smtp.ca_file", &raw.ca_file) {
        Some(file) => {
            let file = resolve(base, &file);
            read_ca_file(&file)
                .map_err(|e| problems.report("smtp.ca_file", &file.display().to_string(), e))
                .ok()
        }
        None if raw.ca_file.is_some() => None,
        None => Some(Vec::new()),
    };
    let username = problems.valid_opt("smtp.username", &raw.username);
    // The password's value is never echoed: the key alone says what is wrong.
    let password_set = match &raw.password {
        Some(raw::Lenient::Invalid(_)) => {
            problems.report("smtp.password", "***", "must be a string");
            None
        }
        Some(raw::Lenient::Valid(p)) => Some(Some(p.clone())),
        None => Some(None),
    };
    let password_file = problems.valid_opt("smtp.password_file", &raw.password_file);
    let mut empty_password_file = None;
    let password = match (password_set.flatten(), &password_file) {
        (Some(_), Some(file)) => {
            // Named by the key the environment set, if one: that is the one to look for.
            if problems.is_set_by_env("smtp.password_file") {
                problems.report(
                    "smtp.password_file",
                    &file.display().to_string(),
                    "set either password or password_file, not both",
                );
            } else {
                problems.report(
                    "smtp.password",
                    "***",
                    "set either password or password_file, not both",
                );
            }
            None
        }
        (Some(p), None) => Some(Secret(p)),
        (None, Some(file)) => {
            let file = resolve(base, file);
            match read_secret_file(&file) {
                Ok(Some(password)) => Some(password),
                // The install steps create the file empty, for relays without login.
                Ok(None) => {
                    empty_password_file = Some(file);
                    None
                }
                Err(e) => {
                    problems.report(
                        "smtp.password_file",
                        &file.display().to_string(),
                        format!("cannot be read: {e}"),
                    );
                    None
                }
            }
        }
        (None, None) => None,
    };
    let credentials = match (&username, password) {
        (Some(user), Some(password)) => Some((user.clone(), password)),
        (Some(user), None) if raw.password_file.is_none() && raw.password.is_none() => {
            problems.report(
                "smtp.username",
                user,
                "has no password: set smtp.password, smtp.password_file or PAPERBOY__SMTP__PASSWORD",
            );
            None
        }
        // Reported apart from a missing password: the file is there, only still empty.
        (Some(user), None) if empty_password_file.is_some() => {
            let file = empty_password_file.as_deref().unwrap_or(Path::new(""));
            problems.report(
                "smtp.username",
                user,
                format!(
                    "has no password: smtp.password_file {} is empty",
                    file.display()
                ),
            );
            None
        }
        (None, Some(_)) if raw.username.is_none() => {
            match &password_file {
                Some(file) => problems.report(
                    "smtp.password_file",
                    &file.display().to_string(),
                    "is set but smtp.username is not",
                ),
                None => problems.report("smtp.password", "***", "is set but smtp.username is not"),
            }
            None
        }
        (None, None) => {
            if let Some(file) = &empty_password_file {
                problems.warn(
                    "smtp.password_file",
                    &file.display().to_string(),
                    "is empty, so no password is sent (right for a relay without login)",
                );
            }
            None
        }
        _ => None,
    };
    let security = security?;
    if security == SmtpSecurity::None
        && credentials.is_some()
        && let Some(host) = &host
        && !is_loopback(host)
    {
        problems.report(
            "smtp.security",
            "none",
            format!("would send the password to {host} unencrypted; use \"starttls\" or \"tls\""),
        );
    }
    let port = port?.unwrap_or(match security {
        SmtpSecurity::StartTls => 587,
        SmtpSecurity::Tls => 465,
        SmtpSecurity::None => 25,
    });
    Some(SmtpConfig {
        host: host?,
        port,
        security,
        credentials,
        max_connections: max_connections?,
        timeout: timeout?,
        max_messages_per_connection: max_messages_per_connection?,
        max_per_second: max_per_second?,
        extra_roots: extra_roots?,
    })
}

/// The certificates of a PEM file, each checked to be one rustls can trust, so a bad file is
/// a config error now rather than a TLS failure at the first digest.
fn read_ca_file(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("is not a PEM file of certificates: {e}"))?;
    if certificates.is_empty() {
        return Err("holds no certificate (no -----BEGIN CERTIFICATE----- block)".into());
    }
    for (i, certificate) in certificates.iter().enumerate() {
        let mut store = rustls::RootCertStore::empty();
        store.add(certificate.clone()).map_err(|e| {
            format!(
                "certificate {} of {} cannot be trusted: {e}",
                i + 1,
                certificates.len()
            )
        })?;
    }
    Ok(certificates)
}

/// A secret kept in a file of its own; `None` when the file is empty. A trailing newline
/// from `echo secret > file` is not part of it.
fn read_secret_file(path: &Path) -> std::io::Result<Option<Secret>> {
    let text = std::fs::read_to_string(path)?;
    Ok(match text.trim_end_matches(['\n', '\r']) {
        "" => None,
        secret => Some(Secret(secret.to_string())),
    })
}

/// A host on this machine, where an unencrypted login crosses no network.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn validate_huggingface(
    raw: &raw::RawHuggingFace,
    base: &Path,
    problems: &mut Problems,
) -> Option<Option<HuggingFaceConfig>> {
    let key = |field: &str| format!("sources.huggingface.{field}");
    if !problems.valid(&key("enabled"), &raw.enabled)? {
        return Some(None);
    }
    let base_url = problems
        .valid(&key("base_url"), &raw.base_url)
        .and_then(|text| http_url(problems, &key("base_url"), &text, "https://huggingface.co"));
    let lookback_days = problems.valid(&key("lookback_days"), &raw.lookback_days);
    if lookback_days == Some(0) {
        problems.report(&key("lookback_days"), "0", "must be at least 1 (today)");
    }
    let timeout = valid_duration(problems, &key("timeout"), &raw.timeout);
    let token_file = problems.valid_opt(&key("token_file"), &raw.token_file);
    let token = match token_file.map(|file| resolve(base, &file)) {
        None => Some(None),
        Some(file) => {
            let shown = file.display().to_string();
            match read_secret_file(&file) {
                Ok(None) => {
                    problems.warn(&key("token_file"), &shown, "is empty, so no token is sent");
                    Some(None)
                }
                Ok(token) => Some(token),
                Err(e) => {
                    problems.report(&key("token_file"), &shown, format!("cannot be read: {e}"));
                    None
                }
            }
        }
    };
    Some(Some(HuggingFaceConfig {
        base_url: base_url?,
        lookback_days: lookback_days.filter(|&days| days > 0)?,
        timeout: timeout?,
        token: token?,
    }))
}

/// The arXiv source if enabled, and the API in any case (liked papers are looked up there).
fn validate_arxiv(
    raw: &raw::RawArxiv,
    problems: &mut Problems,
) -> Option<(Option<ArxivConfig>, ArxivApi)> {
    let key = |field: &str| format!("sources.arxiv.{field}");
    let mut categories = Vec::with_capacity(raw.categories.len());
    for (i, category) in raw.categories.iter().enumerate() {
        let category_key = key(&format!("categories[{i}]"));
        if let Some(text) = problems.valid(&category_key, category) {
            match crate::category::check_category(&text) {
                Ok(()) => categories.push(text),
                Err(e) => problems.report(&category_key, &text, e),
            }
        }
    }
    let url = |problems: &mut Problems, field: &str, value: &raw::Lenient<String>, example| {
        let text = problems.valid(&key(field), value)?;
        http_url(problems, &key(field), &text, example)
    };
    let rss_url = url(
        problems,
        "rss_url",
        &raw.rss_url,
        "https://rss.arxiv.org/rss",
    );
    let api_url = url(
        problems,
        "api_url",
        &raw.api_url,
        "https://export.arxiv.org/api/query",
    );
    let include_replacements =
        problems.valid(&key("include_replacements"), &raw.include_replacements);
    let timeout = valid_duration(problems, &key("timeout"), &raw.timeout);
    let api = match (&api_url, timeout) {
        (Some(url), Some(timeout)) => Some(ArxivApi {
            url: url.clone(),
            timeout,
        }),
        _ => None,
    };
    if !problems.valid(&key("enabled"), &raw.enabled)? {
        return Some((None, api?));
    }
    if raw.categories.is_empty() {
        problems.report(
            &key("categories"),
            "[]",
            "must name at least one category to follow, e.g. [\"cs.LG\", \"cs.CL\"]",
        );
        return None;
    }
    (categories.len() == raw.categories.len()).then_some(())?;
    let source = ArxivConfig {
        categories,
        rss_url: rss_url?,
        api_url: api_url?,
        include_replacements: include_replacements?,
        timeout: timeout?,
    };
    Some((Some(source), api?))
}

/// `text` without a trailing slash if it is an http(s) URL with a host; else a problem naming
/// `key` and an `example`.
fn http_url(problems: &mut Problems, key: &str, text: &str, example: &str) -> Option<String> {
    let trimmed = text.trim_end_matches('/').to_string();
    let url_ok = reqwest::Url::parse(&trimmed)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .unwrap_or(false);
    if !url_ok {
        problems.report(
            key,
            text,
            format!("must be an http(s) URL such as {example}"),
        );
    }
    url_ok.then_some(trimmed)
}

fn parse_timezone(text: &str) -> Result<Tz, String> {
    text.parse::<Tz>()
        .map_err(|_| "not an IANA time zone name, e.g. \"Europe/Berlin\" or \"UTC\"".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_ms_s_m_h_and_d() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("2s", Duration::from_secs(2)),
            ("5m", Duration::from_secs(300)),
            ("1h", Duration::from_secs(3600)),
            ("7d", Duration::from_secs(7 * 86_400)),
            ("0s", Duration::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
        assert_eq!(
            parse_duration("7"),
            Err("needs a unit: ms, s, m, h or d".into())
        );
        assert_eq!(
            parse_duration("1w"),
            Err("unknown unit \"w\"; use ms, s, m, h or d".into())
        );
    }
}
