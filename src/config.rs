//! The config file: raw TOML structs, layered with environment overrides, validated into a
//! typed [`Config`] in which nothing can fail to parse any more.
//!
//! Every problem is collected and reported together, each naming its key path and value, so a
//! user fixes a config in one round instead of one error per restart.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use lettre::message::Mailbox;

use crate::topics::TopicQuery;

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
    pub schedule: ScheduleConfig,
    pub sources: SourcesConfig,
    pub subscribers: Vec<Subscriber>,
    /// Settings that are valid but probably not what was meant, each naming its key.
    pub warnings: Vec<String>,
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

/// A six-field cron expression (with seconds), kept with its text for messages.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    pub text: String,
    pub cron: croner::Cron,
}

impl CronSchedule {
    pub fn parse(text: &str) -> Result<Self, String> {
        let fields = text.split_whitespace().count();
        if fields != 6 {
            return Err(format!(
                "needs 6 fields (sec min hour day month weekday), found {fields}"
            ));
        }
        croner::Cron::new(text)
            .with_seconds_required()
            .parse()
            .map(|cron| CronSchedule {
                text: text.to_string(),
                cron,
            })
            .map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone)]
pub struct SourcesConfig {
    /// `None` when the source is disabled.
    pub huggingface: Option<HuggingFaceConfig>,
}

#[derive(Debug, Clone)]
pub struct HuggingFaceConfig {
    pub base_url: String,
    /// How many days back (today included) to ask for by date.
    pub lookback_days: u32,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Subscriber {
    pub email: lettre::Address,
    /// The address in lower case: how the state knows this subscriber.
    pub key: String,
    pub name: Option<String>,
    pub topics: Vec<Topic>,
    pub timezone: Tz,
    pub schedule: CronSchedule,
    pub max_papers: usize,
    pub min_upvotes: u32,
    pub send_empty: bool,
}

impl Subscriber {
    pub fn mailbox(&self) -> Mailbox {
        Mailbox::new(self.name.clone(), self.email.clone())
    }
}

#[derive(Debug, Clone)]
pub struct Topic {
    /// The heading of its group in the email: the table's `name`, else the query text.
    pub name: String,
    pub query: TopicQuery,
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
    /// environment, and validates the result.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// Like [`Config::load`] with the environment given explicitly (for tests).
    pub fn load_with_env(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if let Err(e) = toml::from_str::<toml::Table>(&text) {
            return Err(ConfigError::Syntax {
                path: path.to_path_buf(),
                message: syntax_message(&text, &e),
            });
        }
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(key, _)| key.starts_with(&format!("{ENV_PREFIX}{ENV_SEPARATOR}")))
            .collect();
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
        let mut problems: Vec<String> = unknown
            .into_iter()
            .map(|key| format!("{key}: unknown key (check its spelling and section)"))
            .collect();
        let config = validate(raw, path, base, &mut problems);
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            }),
        }
    }

    /// Logs each warning, with the file it is about.
    pub fn log_warnings(&self) {
        for warning in &self.warnings {
            tracing::warn!("{}: {warning}", self.path.display());
        }
    }

    pub fn subscriber(&self, email: &str) -> Option<&Subscriber> {
        self.subscribers
            .iter()
            .find(|s| s.key.eq_ignore_ascii_case(email))
    }
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

/// Parses `500ms`, `2s`, `5m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| "needs a unit: ms, s, m or h".to_string())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| "must start with a whole number, e.g. 30s".to_string())?;
    let millis = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("unknown unit {unit:?}; use ms, s, m or h")),
    };
    Ok(Duration::from_millis(number.saturating_mul(millis)))
}

fn validate(
    raw: raw::RawConfig,
    path: &Path,
    base: &Path,
    problems: &mut Vec<String>,
) -> Option<Config> {
    let mut report = |key: &str, value: &str, message: String| {
        problems.push(format!("{key} {value:?}: {message}"));
    };

    let from = match raw.mail.from.as_deref() {
        None => {
            report(
                "mail.from",
                "",
                "is required, e.g. \"Paperboy <papers@example.org>\"".into(),
            );
            None
        }
        Some(text) => text
            .parse::<Mailbox>()
            .map_err(|e| report("mail.from", text, format!("not an email address ({e})")))
            .ok(),
    };
    if let Some(unsubscribe) = &raw.mail.unsubscribe
        && !(unsubscribe.starts_with("mailto:")
            || unsubscribe.starts_with("https://")
            || unsubscribe.starts_with("http://"))
    {
        report(
            "mail.unsubscribe",
            unsubscribe,
            "must be a mailto: or https:// address".into(),
        );
    }
    if let Some(unsubscribe) = &raw.mail.unsubscribe
        && unsubscribe
            .contains(|c: char| c.is_control() || c == '<' || c == '>' || c.is_whitespace())
    {
        report(
            "mail.unsubscribe",
            unsubscribe,
            "must not contain spaces, control characters or angle brackets".into(),
        );
    }

    if let Some(dir) = &raw.mail.templates_dir {
        let resolved = resolve(base, dir);
        if !resolved.is_dir() {
            report(
                "mail.templates_dir",
                &dir.display().to_string(),
                format!("{} is not a folder", resolved.display()),
            );
        }
    }
    let retry_delay = parse_duration(&raw.delivery.retry_delay)
        .map_err(|e| report("delivery.retry_delay", &raw.delivery.retry_delay, e))
        .ok();
    let transport = match raw.delivery.transport.as_str() {
        "file" => Some(TransportConfig::File {
            outbox_dir: resolve(base, &raw.delivery.outbox_dir),
        }),
        "smtp" => validate_smtp(&raw.smtp, base, &mut report).map(TransportConfig::Smtp),
        other => {
            report(
                "delivery.transport",
                other,
                "must be \"smtp\" or \"file\"".into(),
            );
            None
        }
    };

    let timezone = parse_timezone(&raw.schedule.timezone)
        .map_err(|e| report("schedule.timezone", &raw.schedule.timezone, e))
        .ok();
    let fetch = CronSchedule::parse(&raw.schedule.fetch)
        .map_err(|e| report("schedule.fetch", &raw.schedule.fetch, e))
        .ok();
    let digest = CronSchedule::parse(&raw.schedule.digest)
        .map_err(|e| report("schedule.digest", &raw.schedule.digest, e))
        .ok();

    let huggingface = validate_huggingface(&raw.sources.huggingface, &mut report);
    if raw.sources.arxiv.enabled {
        report(
            "sources.arxiv.enabled",
            "true",
            "the arXiv source is not available in this version yet; set enabled = false".into(),
        );
    }

    if raw.digest.max_papers == 0 {
        report("digest.max_papers", "0", "must be at least 1".into());
    }

    // Only the arXiv source, still to come, reports categories.
    let sources_know_categories = false;
    let mut warnings = Vec::new();
    let mut subscribers = Vec::with_capacity(raw.subscribers.len());
    // Subscriber key → its index: a set, since configs may list many thousands.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, sub) in raw.subscribers.into_iter().enumerate() {
        let key = |field: &str| format!("subscribers[{i}].{field}");
        let email = match sub.email.parse::<lettre::Address>() {
            Ok(address) => {
                let lower = address.to_string().to_lowercase();
                if let Some(first) = seen.get(&lower) {
                    report(
                        &key("email"),
                        &sub.email,
                        format!("is already used by subscribers[{first}]"),
                    );
                } else {
                    seen.insert(lower.clone(), i);
                }
                Some((address, lower))
            }
            Err(e) => {
                report(
                    &key("email"),
                    &sub.email,
                    format!("not an email address ({e})"),
                );
                None
            }
        };
        let mut topics = Vec::with_capacity(sub.topics.len());
        for (j, topic) in sub.topics.iter().enumerate() {
            let topic_key = key(&format!("topics[{j}]"));
            let (name, query) = match topic {
                raw::RawTopic::Query(q) => (None, q),
                raw::RawTopic::Named { name, query } => (Some(name), query),
            };
            if let Some(name) = name
                && name.trim().is_empty()
            {
                report(
                    &format!("{topic_key}.name"),
                    name,
                    "must not be empty".into(),
                );
            }
            match TopicQuery::parse(query) {
                Ok(parsed) => {
                    if parsed.uses_categories() && !sources_know_categories {
                        warnings.push(format!(
                            "{topic_key} {query:?}: category: terms never match, since no \
                             enabled source reports arXiv categories (Hugging Face does not)"
                        ));
                    }
                    topics.push(Topic {
                        name: name.cloned().unwrap_or_else(|| query.clone()),
                        query: parsed,
                    });
                }
                Err(e) => report(&topic_key, query, e.to_string()),
            }
        }
        let sub_timezone = match &sub.timezone {
            Some(tz) => parse_timezone(tz)
                .map_err(|e| report(&key("timezone"), tz, e))
                .ok(),
            None => timezone,
        };
        let schedule = match &sub.schedule {
            Some(text) => CronSchedule::parse(text)
                .map_err(|e| report(&key("schedule"), text, e))
                .ok(),
            None => digest.clone(),
        };
        let max_papers = sub.max_papers.unwrap_or(raw.digest.max_papers);
        // A zero inherited from [digest] is reported there, once.
        if sub.max_papers == Some(0) {
            report(&key("max_papers"), "0", "must be at least 1".into());
        }
        if let Some(name) = &sub.name
            && name.contains(char::is_control)
        {
            report(
                &key("name"),
                name,
                "must not contain control characters".into(),
            );
        }
        if let (Some((email, lower)), Some(timezone), Some(schedule)) =
            (email, sub_timezone, schedule)
        {
            subscribers.push(Subscriber {
                email,
                key: lower,
                name: sub.name.filter(|n| !n.trim().is_empty()),
                topics,
                timezone,
                schedule,
                max_papers: max_papers as usize,
                min_upvotes: sub.min_upvotes.unwrap_or(raw.digest.min_upvotes),
                send_empty: sub.send_empty.unwrap_or(raw.digest.send_empty),
            });
        }
    }

    Some(Config {
        path: path.to_path_buf(),
        mail: MailConfig {
            from: from?,
            subject: raw.mail.subject,
            unsubscribe: raw.mail.unsubscribe,
            templates_dir: raw.mail.templates_dir.map(|dir| resolve(base, &dir)),
        },
        delivery: DeliveryConfig {
            transport: transport?,
            retries: raw.delivery.retries,
            retry_delay: retry_delay?,
        },
        state_path: resolve(base, &raw.state.path),
        schedule: ScheduleConfig {
            fetch: fetch?,
            digest: digest?,
            timezone: timezone?,
        },
        sources: SourcesConfig {
            huggingface: huggingface?,
        },
        subscribers,
        warnings,
    })
}

fn validate_smtp(
    raw: &raw::RawSmtp,
    base: &Path,
    report: &mut impl FnMut(&str, &str, String),
) -> Option<SmtpConfig> {
    let security = match raw.security.as_str() {
        "starttls" => Some(SmtpSecurity::StartTls),
        "tls" => Some(SmtpSecurity::Tls),
        "none" => Some(SmtpSecurity::None),
        other => {
            report(
                "smtp.security",
                other,
                "must be \"starttls\", \"tls\" or \"none\"".into(),
            );
            None
        }
    };
    let host = raw.host.clone().filter(|h| !h.trim().is_empty());
    if host.is_none() {
        report(
            "smtp.host",
            "",
            "is required when delivery.transport = \"smtp\"".into(),
        );
    }
    if raw.max_connections == 0 {
        report("smtp.max_connections", "0", "must be at least 1".into());
    }
    let timeout = parse_duration(&raw.timeout)
        .map_err(|e| report("smtp.timeout", &raw.timeout, e))
        .ok();
    // The password's value is never echoed: the key alone says what is wrong.
    let password = match (&raw.password, &raw.password_file) {
        (Some(_), Some(_)) => {
            report(
                "smtp.password",
                "***",
                "set either password or password_file, not both".into(),
            );
            None
        }
        (Some(p), None) => Some(Secret(p.clone())),
        (None, Some(file)) => {
            let file = resolve(base, file);
            match std::fs::read_to_string(&file) {
                // A trailing newline from `echo secret > file` is not part of the password.
                Ok(text) => Some(Secret(text.trim_end_matches(['\n', '\r']).to_string())),
                Err(e) => {
                    report(
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
    let credentials = match (&raw.username, password) {
        (Some(user), Some(password)) => Some((user.clone(), password)),
        (Some(_), None) if raw.password_file.is_none() && raw.password.is_none() => {
            report(
                "smtp.username",
                raw.username.as_deref().unwrap_or_default(),
                "has no password: set smtp.password, smtp.password_file or PAPERBOY__SMTP__PASSWORD".into(),
            );
            None
        }
        (None, Some(_)) => {
            report(
                "smtp.password",
                "***",
                "is set but smtp.username is not".into(),
            );
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
        report(
            "smtp.security",
            "none",
            format!("would send the password to {host} unencrypted; use \"starttls\" or \"tls\""),
        );
    }
    let port = raw.port.unwrap_or(match security {
        SmtpSecurity::StartTls => 587,
        SmtpSecurity::Tls => 465,
        SmtpSecurity::None => 25,
    });
    Some(SmtpConfig {
        host: host?,
        port,
        security,
        credentials,
        max_connections: raw.max_connections,
        timeout: timeout?,
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
    report: &mut impl FnMut(&str, &str, String),
) -> Option<Option<HuggingFaceConfig>> {
    if !raw.enabled {
        return Some(None);
    }
    let base_url = raw.base_url.trim_end_matches('/').to_string();
    let url_ok = reqwest::Url::parse(&base_url)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .unwrap_or(false);
    if !url_ok {
        report(
            "sources.huggingface.base_url",
            &raw.base_url,
            "must be an http(s) URL such as https://huggingface.co".into(),
        );
    }
    if raw.lookback_days == 0 {
        report(
            "sources.huggingface.lookback_days",
            "0",
            "must be at least 1 (today)".into(),
        );
    }
    let timeout = parse_duration(&raw.timeout)
        .map_err(|e| report("sources.huggingface.timeout", &raw.timeout, e))
        .ok();
    (url_ok && raw.lookback_days > 0).then_some(())?;
    Some(Some(HuggingFaceConfig {
        base_url,
        lookback_days: raw.lookback_days,
        timeout: timeout?,
    }))
}

fn parse_timezone(text: &str) -> Result<Tz, String> {
    text.parse::<Tz>()
        .map_err(|_| "not an IANA time zone name, e.g. \"Europe/Berlin\" or \"UTC\"".to_string())
}

/// The TOML as written: every field optional or defaulted, no validation yet.
mod raw {
    use std::fmt;
    use std::path::PathBuf;

    use serde::de::{self, MapAccess, Visitor};
    use serde::{Deserialize, Deserializer};

    /// The raw config plus every key serde did not recognise, with its full path.
    ///
    /// `serde_ignored` instead of `deny_unknown_fields`: the latter stops at the first unknown
    /// key, and we want to name all of them in one report.
    pub struct WithUnknownKeys {
        pub config: RawConfig,
        pub unknown: Vec<String>,
    }

    impl<'de> Deserialize<'de> for WithUnknownKeys {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let mut unknown = Vec::new();
            let config =
                serde_ignored::deserialize(deserializer, |path| unknown.push(key_path(&path)))?;
            Ok(WithUnknownKeys { config, unknown })
        }
    }

    /// `subscribers.2.topcs` → `subscribers[2].topcs`.
    fn key_path(path: &serde_ignored::Path) -> String {
        use serde_ignored::Path;
        match path {
            Path::Root => String::new(),
            Path::Seq { parent, index } => format!("{}[{index}]", key_path(parent)),
            Path::Map { parent, key } => match key_path(parent) {
                p if p.is_empty() => key.clone(),
                p => format!("{p}.{key}"),
            },
            Path::Some { parent }
            | Path::NewtypeStruct { parent }
            | Path::NewtypeVariant { parent } => key_path(parent),
        }
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub struct RawConfig {
        pub mail: RawMail,
        pub delivery: RawDelivery,
        pub smtp: RawSmtp,
        pub state: RawState,
        pub schedule: RawSchedule,
        pub sources: RawSources,
        pub digest: RawDigest,
        pub subscribers: Vec<RawSubscriber>,
    }

    #[derive(Deserialize)]
    #[serde(default)]
    pub struct RawMail {
        pub from: Option<String>,
        pub subject: String,
        pub unsubscribe: Option<String>,
        pub templates_dir: Option<PathBuf>,
    }

    impl Default for RawMail {
        fn default() -> Self {
            RawMail {
                from: None,
                subject:
                    "{{ count }} new paper{% if count != 1 %}s{% endif %} for you · {{ date }}"
                        .into(),
                unsubscribe: None,
                templates_dir: None,
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(default)]
    pub struct RawDelivery {
        pub transport: String,
        pub outbox_dir: PathBuf,
        pub retries: u32,
        pub retry_delay: String,
    }

    impl Default for RawDelivery {
        fn default() -> Self {
            RawDelivery {
                transport: "file".into(),
                outbox_dir: "outbox".into(),
                retries: 2,
                retry_delay: "2s".into(),
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(default)]
    pub struct RawSmtp {
        pub host: Option<String>,
        pub port: Option<u16>,
        pub security: String,
        pub username: Option<String>,
        pub password: Option<String>,
        pub password_file: Option<PathBuf>,
        pub max_connections: u32,
        pub timeout: String,
    }

    impl Default for RawSmtp {
        fn default() -> Self {
            RawSmtp {
                host: None,
                port: None,
                security: "starttls".into(),
                username: None,
                password: None,
                password_file: None,
                max_connections: 8,
                timeout: "30s".into(),
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(default)]
    pub struct RawState {
        pub path: PathBuf,
    }

    impl Default for RawState {
        fn default() -> Self {
            RawState {
                path: "state/paperboy.db".into(),
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(default)]
    pub struct RawSchedule {
        pub fetch: String,
        pub digest: String,
        pub timezone: String,
    }

    impl Default for RawSchedule {
        fn default() -> Self {
            RawSchedule {
                fetch: "0 */30 * * * *".into(),
                digest: "0 0 7 * * *".into(),
                timezone: "UTC".into(),
            }
        }
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub struct RawSources {
        pub huggingface: RawHuggingFace,
        pub arxiv: RawArxiv,
    }

    #[derive(Deserialize)]
    #[serde(default)]
    pub struct RawHuggingFace {
        pub enabled: bool,
        pub base_url: String,
        pub lookback_days: u32,
        pub timeout: String,
    }

    impl Default for RawHuggingFace {
        fn default() -> Self {
            RawHuggingFace {
                enabled: true,
                base_url: "https://huggingface.co".into(),
                lookback_days: 3,
                timeout: "30s".into(),
            }
        }
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub struct RawArxiv {
        pub enabled: bool,
        pub categories: Vec<String>,
    }

    #[derive(Deserialize)]
    #[serde(default)]
    pub struct RawDigest {
        pub max_papers: u32,
        pub min_upvotes: u32,
        pub send_empty: bool,
    }

    impl Default for RawDigest {
        fn default() -> Self {
            RawDigest {
                max_papers: 10,
                min_upvotes: 0,
                send_empty: false,
            }
        }
    }

    #[derive(Deserialize)]
    pub struct RawSubscriber {
        pub email: String,
        #[serde(default)]
        pub name: Option<String>,
        #[serde(default)]
        pub topics: Vec<RawTopic>,
        #[serde(default)]
        pub timezone: Option<String>,
        #[serde(default)]
        pub schedule: Option<String>,
        #[serde(default)]
        pub max_papers: Option<u32>,
        #[serde(default)]
        pub min_upvotes: Option<u32>,
        #[serde(default)]
        pub send_empty: Option<bool>,
    }

    /// A topic is a query string or a table `{ name = "...", query = "..." }`.
    pub enum RawTopic {
        Query(String),
        Named { name: String, query: String },
    }

    impl<'de> Deserialize<'de> for RawTopic {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct TopicVisitor;
            impl<'de> Visitor<'de> for TopicVisitor {
                type Value = RawTopic;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a query string or a table { name = \"...\", query = \"...\" }")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<RawTopic, E> {
                    Ok(RawTopic::Query(v.to_string()))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawTopic, A::Error> {
                    let (mut name, mut query) = (None, None);
                    while let Some(key) = map.next_key::<String>()? {
                        match key.as_str() {
                            "name" => name = Some(map.next_value::<String>()?),
                            "query" => query = Some(map.next_value::<String>()?),
                            other => {
                                return Err(de::Error::unknown_field(other, &["name", "query"]));
                            }
                        }
                    }
                    let query = query.ok_or_else(|| de::Error::missing_field("query"))?;
                    let name = name.ok_or_else(|| de::Error::missing_field("name"))?;
                    Ok(RawTopic::Named { name, query })
                }
            }
            deserializer.deserialize_any(TopicVisitor)
        }
    }
}
