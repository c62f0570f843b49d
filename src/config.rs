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
    /// How long the bodies of sent digests are kept; zero drops each once it is sent. Which
    /// papers went to whom is kept regardless.
    pub keep_messages: Duration,
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
        check_cron_numbers(text)?;
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

/// The six cron fields as messages name them, with the numbers each allows (weekday 7 is
/// Sunday again).
const CRON_FIELDS: [(&str, u32, u32); 6] = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("weekday", 0, 7),
];

/// Checks every number in a list, range or step against its field, because croner says only
/// "Number out of bounds" without saying which field. Names (MON, JAN) and L, W, # are left to
/// croner.
fn check_cron_numbers(text: &str) -> Result<(), String> {
    let mut wrong = Vec::new();
    for (field, (name, min, max)) in text.split_whitespace().zip(CRON_FIELDS) {
        for part in field.split(',') {
            let (base, step) = match part.split_once('/') {
                Some((base, step)) => (base, Some(step)),
                None => (part, None),
            };
            if step.and_then(|s| s.parse::<u64>().ok()) == Some(0) {
                wrong.push(format!("{name} {part}: the step must be at least 1"));
            }
            for number in base.split('-') {
                if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                let in_range = number
                    .parse::<u32>()
                    .is_ok_and(|n| (min..=max).contains(&n));
                if !in_range {
                    wrong.push(format!("{name} {number}: must be {min}-{max}"));
                }
            }
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("; "))
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
        for key in unknown {
            problems.unknown_key(&key, &file_table);
        }
        let config = validate(raw, path, base, &mut problems);
        match config {
            Some(config) if problems.list.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems: problems.list,
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

/// The key path a variable sets: `PAPERBOY__SMTP__PASSWORD_FILE` → `smtp.password_file`, as the
/// `config` crate reads it (lower case, `__` between levels).
fn env_key(var: &str) -> String {
    let lower = var.to_lowercase();
    let prefix = format!("{ENV_PREFIX}{ENV_SEPARATOR}").to_lowercase();
    lower
        .strip_prefix(&prefix)
        .unwrap_or(&lower)
        .replace(ENV_SEPARATOR, ".")
}

/// Whether the file itself sets the key at `path` (`subscribers[1].topic`).
fn file_has(file: &toml::Table, path: &str) -> bool {
    let mut table = file;
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        let (name, indices) = segment.split_once('[').unwrap_or((segment, ""));
        let Some(mut value) = table.get(name) else {
            return false;
        };
        for index in indices.split('[').filter(|i| !i.is_empty()) {
            let item = index
                .trim_end_matches(']')
                .parse::<usize>()
                .ok()
                .and_then(|i| value.as_array()?.get(i));
            match item {
                Some(item) => value = item,
                None => return false,
            }
        }
        if segments.peek().is_none() {
            return true;
        }
        match value.as_table() {
            Some(next) => table = next,
            None => return false,
        }
    }
    false
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

/// Every problem found so far, each as `key "value": message`, or
/// `key "value" (set by PAPERBOY__SECTION__KEY): message` when the environment set the key: a
/// value nobody can find in the file would otherwise send the reader looking in vain.
struct Problems {
    list: Vec<String>,
    /// Settings that are valid but probably not what was meant, in the same form.
    warnings: Vec<String>,
    /// Key path (`smtp.password`) → the variable that set it.
    set_by_env: HashMap<String, String>,
}

impl Problems {
    fn report(&mut self, key: &str, value: &str, message: impl fmt::Display) {
        let problem = self.describe(key, value, message);
        self.list.push(problem);
    }

    fn warn(&mut self, key: &str, value: &str, message: impl fmt::Display) {
        let warning = self.describe(key, value, message);
        self.warnings.push(warning);
    }

    fn describe(&self, key: &str, value: &str, message: impl fmt::Display) -> String {
        match self.set_by_env.get(key) {
            Some(var) => format!("{key} {value:?} (set by {var}): {message}"),
            None => format!("{key} {value:?}: {message}"),
        }
    }

    fn is_set_by_env(&self, key: &str) -> bool {
        self.set_by_env.contains_key(key)
    }

    /// Reports a key serde did not know, by the variable that set it when that was the
    /// environment (a misspelt variable has no line in the file), and by its path when the
    /// file has it; both when both do.
    fn unknown_key(&mut self, key: &str, file: &toml::Table) {
        const UNKNOWN: &str = "unknown key (check its spelling and section)";
        // An unknown section is ignored whole, so its variables are the ones below it.
        let mut vars: Vec<&String> = self
            .set_by_env
            .iter()
            .filter(|(env_key, _)| {
                env_key.as_str() == key
                    || env_key
                        .strip_prefix(key)
                        .is_some_and(|rest| rest.starts_with('.'))
            })
            .map(|(_, var)| var)
            .collect();
        vars.sort();
        let from_env: Vec<String> = vars
            .into_iter()
            .map(|var| format!("{var} (environment): {UNKNOWN}"))
            .collect();
        if from_env.is_empty() || file_has(file, key) {
            self.list.push(format!("{key}: {UNKNOWN}"));
        }
        self.list.extend(from_env);
    }

    /// The field's value, or `None` once it is reported as having the wrong type.
    fn valid<T: raw::Scalar>(&mut self, key: &str, field: &raw::Lenient<T>) -> Option<T> {
        match field {
            raw::Lenient::Valid(value) => Some(value.clone()),
            raw::Lenient::Invalid(text) => {
                self.report(key, text, T::must_be(text));
                None
            }
        }
    }

    /// Reports a table or list written as something else; its keys then take their defaults,
    /// which are never used since the load fails.
    fn section<T>(&mut self, key: &str, section: &raw::Section<T>, message: impl fmt::Display) {
        if let Some(text) = &section.invalid {
            self.report(key, text, message);
        }
    }

    /// Like [`Problems::valid`] for a field that may be left out: `None` when it is absent or
    /// reported.
    fn valid_opt<T: raw::Scalar>(
        &mut self,
        key: &str,
        field: &Option<raw::Lenient<T>>,
    ) -> Option<T> {
        field.as_ref().and_then(|field| self.valid(key, field))
    }
}

// Each field below that is reported as invalid comes out as `None`, and any problem makes
// `load_with_env` fail, so the `Config` built from the rest is never seen in that case.
fn validate(
    raw: raw::RawConfig,
    path: &Path,
    base: &Path,
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
    let retries = problems.valid("delivery.retries", &raw.delivery.retries);
    let retry_delay = problems
        .valid("delivery.retry_delay", &raw.delivery.retry_delay)
        .and_then(|text| {
            parse_duration(&text)
                .map_err(|e| problems.report("delivery.retry_delay", &text, e))
                .ok()
        });
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
    let keep_messages = problems
        .valid("state.keep_messages", &raw.state.keep_messages)
        .and_then(|text| {
            parse_duration(&text)
                .map_err(|e| problems.report("state.keep_messages", &text, e))
                .ok()
        });

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

    let huggingface = validate_huggingface(&raw.sources.huggingface, problems);
    if problems.valid("sources.arxiv.enabled", &raw.sources.arxiv.enabled) == Some(true) {
        problems.report(
            "sources.arxiv.enabled",
            "true",
            "the arXiv source is not available in this version yet; set enabled = false",
        );
    }
    for (i, category) in raw.sources.arxiv.categories.iter().enumerate() {
        problems.valid(&format!("sources.arxiv.categories[{i}]"), category);
    }

    let max_papers = problems.valid("digest.max_papers", &raw.digest.max_papers);
    if max_papers == Some(0) {
        problems.report("digest.max_papers", "0", "must be at least 1");
    }
    let min_upvotes = problems.valid("digest.min_upvotes", &raw.digest.min_upvotes);
    let send_empty = problems.valid("digest.send_empty", &raw.digest.send_empty);

    // Only the arXiv source, still to come, reports categories.
    let sources_know_categories = false;
    let mut subscribers = Vec::with_capacity(raw.subscribers.len());
    // Subscriber key → its index: a set, since configs may list many thousands.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, sub) in raw.subscribers.value.into_iter().enumerate() {
        problems.section(
            &format!("subscribers[{i}]"),
            &sub,
            "must be a table ([[subscribers]])",
        );
        if sub.invalid.is_some() {
            continue;
        }
        let sub = sub.value;
        let key = |field: &str| format!("subscribers[{i}].{field}");
        problems.section(
            &key("topics"),
            &sub.topics,
            "must be a list, e.g. topics = ['diffusion', '\"language model\"']",
        );
        let email = match problems.valid_opt(&key("email"), &sub.email) {
            None if sub.email.is_none() => {
                problems.report(&key("email"), "", "is required");
                None
            }
            None => None,
            Some(text) => match text.parse::<lettre::Address>() {
                Ok(address) => {
                    let lower = address.to_string().to_lowercase();
                    if let Some(first) = seen.get(&lower) {
                        problems.report(
                            &key("email"),
                            &text,
                            format!("is already used by subscribers[{first}]"),
                        );
                    } else {
                        seen.insert(lower.clone(), i);
                    }
                    Some((address, lower))
                }
                Err(e) => {
                    problems.report(&key("email"), &text, format!("not an email address ({e})"));
                    None
                }
            },
        };
        let mut topics = Vec::with_capacity(sub.topics.len());
        for (j, topic) in sub.topics.iter().enumerate() {
            let topic_key = key(&format!("topics[{j}]"));
            let (name, query) = match topic {
                raw::RawTopic::Query(q) => (None, q.clone()),
                raw::RawTopic::Named { name, query } => {
                    let name_key = format!("{topic_key}.name");
                    let query_key = format!("{topic_key}.query");
                    let name = match problems.valid_opt(&name_key, name) {
                        None if name.is_none() => {
                            problems.report(&name_key, "", "is required in a topic table");
                            continue;
                        }
                        None => continue,
                        Some(name) => name,
                    };
                    let query = match problems.valid_opt(&query_key, query) {
                        None if query.is_none() => {
                            problems.report(&query_key, "", "is required in a topic table");
                            continue;
                        }
                        None => continue,
                        Some(query) => query,
                    };
                    (Some(name), query)
                }
                raw::RawTopic::Invalid(text) => {
                    problems.report(
                        &topic_key,
                        text,
                        "must be a query string or a table { name = \"...\", query = \"...\" }",
                    );
                    continue;
                }
            };
            if let Some(name) = &name
                && name.trim().is_empty()
            {
                problems.report(&format!("{topic_key}.name"), name, "must not be empty");
            }
            match TopicQuery::parse(&query) {
                Ok(parsed) => {
                    if parsed.uses_categories() && !sources_know_categories {
                        problems.warn(
                            &topic_key,
                            &query,
                            "category: terms never match, since no enabled source reports \
                             arXiv categories (Hugging Face does not)",
                        );
                    }
                    let operators = parsed.lowercase_operators();
                    if !operators.is_empty() {
                        let words = operators
                            .iter()
                            .map(|op| format!("{op:?}"))
                            .collect::<Vec<_>>()
                            .join(", ");
                        let verb = if operators.len() == 1 {
                            "is searched as a word"
                        } else {
                            "are searched as words"
                        };
                        problems.warn(
                            &topic_key,
                            &query,
                            format!(
                                "{words} {verb}; write AND, OR, NOT in upper case for the operators"
                            ),
                        );
                    }
                    topics.push(Topic {
                        name: name.unwrap_or_else(|| query.clone()),
                        query: parsed,
                    });
                }
                Err(e) => problems.report(&topic_key, &query, e),
            }
        }
        let sub_timezone = match &sub.timezone {
            Some(field) => problems.valid(&key("timezone"), field).and_then(|tz| {
                parse_timezone(&tz)
                    .map_err(|e| problems.report(&key("timezone"), &tz, e))
                    .ok()
            }),
            None => timezone,
        };
        let schedule = match &sub.schedule {
            Some(field) => problems.valid(&key("schedule"), field).and_then(|text| {
                CronSchedule::parse(&text)
                    .map_err(|e| problems.report(&key("schedule"), &text, e))
                    .ok()
            }),
            None => digest.clone(),
        };
        let sub_max_papers = match &sub.max_papers {
            Some(field) => problems.valid(&key("max_papers"), field),
            None => max_papers,
        };
        // A zero inherited from [digest] is reported there, once.
        if sub.max_papers.is_some() && sub_max_papers == Some(0) {
            problems.report(&key("max_papers"), "0", "must be at least 1");
        }
        let sub_min_upvotes = match &sub.min_upvotes {
            Some(field) => problems.valid(&key("min_upvotes"), field),
            None => min_upvotes,
        };
        let sub_send_empty = match &sub.send_empty {
            Some(field) => problems.valid(&key("send_empty"), field),
            None => send_empty,
        };
        let name = problems.valid_opt(&key("name"), &sub.name);
        if let Some(name) = &name
            && name.contains(char::is_control)
        {
            problems.report(&key("name"), name, "must not contain control characters");
        }
        if let (
            Some((email, lower)),
            Some(timezone),
            Some(schedule),
            Some(max_papers),
            Some(min_upvotes),
            Some(send_empty),
        ) = (
            email,
            sub_timezone,
            schedule,
            sub_max_papers,
            sub_min_upvotes,
            sub_send_empty,
        ) {
            subscribers.push(Subscriber {
                email,
                key: lower,
                name: name.filter(|n| !n.trim().is_empty()),
                topics,
                timezone,
                schedule,
                max_papers: max_papers as usize,
                min_upvotes,
                send_empty,
            });
        }
    }

    Some(Config {
        path: path.to_path_buf(),
        mail: MailConfig {
            from: from?,
            subject: subject?,
            unsubscribe,
            templates_dir: templates_dir.map(|dir| resolve(base, &dir)),
        },
        delivery: DeliveryConfig {
            transport: transport?,
            retries: retries?,
            retry_delay: retry_delay?,
        },
        state_path: resolve(base, &state_path?),
        keep_messages: keep_messages?,
        schedule: ScheduleConfig {
            fetch: fetch?,
            digest: digest?,
            timezone: timezone?,
        },
        sources: SourcesConfig {
            huggingface: huggingface?,
        },
        subscribers,
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
    let timeout = problems
        .valid("smtp.timeout", &raw.timeout)
        .and_then(|text| {
            parse_duration(&text)
                .map_err(|e| problems.report("smtp.timeout", &text, e))
                .ok()
        });
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
            match std::fs::read_to_string(&file) {
                // A trailing newline from `echo secret > file` is not part of the password.
                Ok(text) => match text.trim_end_matches(['\n', '\r']) {
                    // The install steps create the file empty, for relays without login.
                    "" => {
                        empty_password_file = Some(file);
                        None
                    }
                    password => Some(Secret(password.to_string())),
                },
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
    problems: &mut Problems,
) -> Option<Option<HuggingFaceConfig>> {
    let key = |field: &str| format!("sources.huggingface.{field}");
    if !problems.valid(&key("enabled"), &raw.enabled)? {
        return Some(None);
    }
    let base_url = problems
        .valid(&key("base_url"), &raw.base_url)
        .and_then(|text| {
            let trimmed = text.trim_end_matches('/').to_string();
            let url_ok = reqwest::Url::parse(&trimmed)
                .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .unwrap_or(false);
            if !url_ok {
                problems.report(
                    &key("base_url"),
                    &text,
                    "must be an http(s) URL such as https://huggingface.co",
                );
            }
            url_ok.then_some(trimmed)
        });
    let lookback_days = problems.valid(&key("lookback_days"), &raw.lookback_days);
    if lookback_days == Some(0) {
        problems.report(&key("lookback_days"), "0", "must be at least 1 (today)");
    }
    let timeout = problems
        .valid(&key("timeout"), &raw.timeout)
        .and_then(|text| {
            parse_duration(&text)
                .map_err(|e| problems.report(&key("timeout"), &text, e))
                .ok()
        });
    Some(Some(HuggingFaceConfig {
        base_url: base_url?,
        lookback_days: lookback_days.filter(|&days| days > 0)?,
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

    use config::ValueKind;
    use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
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

    /// A scalar as written, or the text of a value of the wrong type for it.
    ///
    /// A plain `u32` field would make serde stop at the first value of the wrong type, and the
    /// user would learn about one mistake per run; this keeps going so `validate` can report
    /// each one with its key, alongside every other problem.
    #[derive(Clone, Debug)]
    pub enum Lenient<T> {
        Valid(T),
        Invalid(String),
    }

    impl<T> From<T> for Lenient<T> {
        fn from(value: T) -> Self {
            Lenient::Valid(value)
        }
    }

    impl<'de, T: Scalar> Deserialize<'de> for Lenient<T> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            // Any value at all fits `config::Value`, and converting from it keeps the `config`
            // crate's reading of environment strings: "25" fills a number key.
            let value = config::Value::deserialize(deserializer)?;
            if T::accepts(&value.kind)
                && let Ok(valid) = T::deserialize(value.clone())
            {
                return Ok(Lenient::Valid(valid));
            }
            Ok(Lenient::Invalid(describe(&value.kind)))
        }
    }

    /// A value as it is quoted in a problem.
    fn describe(kind: &ValueKind) -> String {
        match kind {
            ValueKind::Table(_) => "{...}".into(),
            ValueKind::Array(_) => "[...]".into(),
            ValueKind::Nil => String::new(),
            other => other.to_string(),
        }
    }

    /// A type a [`Lenient`] field can hold.
    pub trait Scalar: DeserializeOwned + Clone {
        /// Whether a value of this kind may be converted at all. The `config` crate converts
        /// freely (`true` to 1, 2.5 to 3); what a TOML file writes must already be the type.
        fn accepts(kind: &ValueKind) -> bool;
        /// What the value `text`, which did not convert, should have been.
        fn must_be(text: &str) -> String;
    }

    fn is_integer(kind: &ValueKind) -> bool {
        match kind {
            ValueKind::I64(_) | ValueKind::I128(_) | ValueKind::U64(_) | ValueKind::U128(_) => true,
            // From the environment every value is a string.
            ValueKind::String(s) => s.parse::<i128>().is_ok(),
            _ => false,
        }
    }

    impl Scalar for u32 {
        fn accepts(kind: &ValueKind) -> bool {
            is_integer(kind)
        }
        fn must_be(text: &str) -> String {
            match text.parse::<i128>() {
                Ok(n) if n < 0 => "must be a whole number, 0 or more".into(),
                Ok(_) => format!("must be a whole number up to {}", u32::MAX),
                Err(_) => "must be a whole number".into(),
            }
        }
    }

    /// Only the SMTP port is a `u16`.
    impl Scalar for u16 {
        fn accepts(kind: &ValueKind) -> bool {
            is_integer(kind)
        }
        fn must_be(_: &str) -> String {
            "must be a whole number from 1 to 65535".into()
        }
    }

    impl Scalar for bool {
        fn accepts(kind: &ValueKind) -> bool {
            matches!(kind, ValueKind::Boolean(_) | ValueKind::String(_))
        }
        fn must_be(_: &str) -> String {
            "must be true or false".into()
        }
    }

    impl Scalar for String {
        // A number or bool reads as its text, so `password = 1234` works unquoted.
        fn accepts(kind: &ValueKind) -> bool {
            !matches!(
                kind,
                ValueKind::Table(_) | ValueKind::Array(_) | ValueKind::Nil
            )
        }
        fn must_be(_: &str) -> String {
            "must be a string".into()
        }
    }

    impl Scalar for PathBuf {
        fn accepts(kind: &ValueKind) -> bool {
            String::accepts(kind)
        }
        fn must_be(_: &str) -> String {
            "must be a string (a path)".into()
        }
    }

    /// A table or list as written, or the text of a value of another shape in its place (then
    /// `value` is the default).
    ///
    /// Like [`Lenient`] for scalars: `[subscribers]` for `[[subscribers]]`, or
    /// `PAPERBOY__SMTP=x`, is one problem among the others rather than the end of the load.
    #[derive(Default)]
    pub struct Section<T> {
        pub value: T,
        pub invalid: Option<String>,
    }

    impl<T> std::ops::Deref for Section<T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.value
        }
    }

    /// Whether a [`Section`] holds a table (a struct) or a list.
    pub trait Shape {
        const TABLE: bool;
    }

    macro_rules! tables {
        ($($t:ty),*) => { $(impl Shape for $t { const TABLE: bool = true; })* };
    }
    tables!(
        RawMail,
        RawDelivery,
        RawSmtp,
        RawState,
        RawSchedule,
        RawSources,
        RawHuggingFace,
        RawArxiv,
        RawDigest,
        RawSubscriber
    );

    impl<T> Shape for Vec<T> {
        const TABLE: bool = false;
    }

    impl<'de, T: Deserialize<'de> + Default + Shape> Deserialize<'de> for Section<T> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct SectionVisitor<T>(std::marker::PhantomData<T>);
            fn invalid<T: Default>(text: impl fmt::Display) -> Section<T> {
                Section {
                    value: T::default(),
                    invalid: Some(text.to_string()),
                }
            }
            impl<'de, T: Deserialize<'de> + Default + Shape> Visitor<'de> for SectionVisitor<T> {
                type Value = Section<T>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a table or a list")
                }
                // The access is handed on, not copied into a value: serde_ignored wraps it,
                // and so still sees every key inside.
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Section<T>, A::Error> {
                    if T::TABLE {
                        let value = T::deserialize(de::value::MapAccessDeserializer::new(map))?;
                        return Ok(Section {
                            value,
                            invalid: None,
                        });
                    }
                    while map.next_entry::<config::Value, config::Value>()?.is_some() {}
                    Ok(invalid("{...}"))
                }
                fn visit_seq<A: de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<Section<T>, A::Error> {
                    if !T::TABLE {
                        let value = T::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                        return Ok(Section {
                            value,
                            invalid: None,
                        });
                    }
                    while seq.next_element::<config::Value>()?.is_some() {}
                    Ok(invalid("[...]"))
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Section<T>, E> {
                    Ok(invalid(v))
                }
                fn visit_bool<E: de::Error>(self, v: bool) -> Result<Section<T>, E> {
                    Ok(invalid(v))
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<Section<T>, E> {
                    Ok(invalid(v))
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Section<T>, E> {
                    Ok(invalid(v))
                }
                fn visit_f64<E: de::Error>(self, v: f64) -> Result<Section<T>, E> {
                    Ok(invalid(v))
                }
                fn visit_unit<E: de::Error>(self) -> Result<Section<T>, E> {
                    Ok(invalid(""))
                }
            }
            deserializer.deserialize_any(SectionVisitor(std::marker::PhantomData))
        }
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub struct RawConfig {
        pub mail: Section<RawMail>,
        pub delivery: Section<RawDelivery>,
        pub smtp: Section<RawSmtp>,
        pub state: Section<RawState>,
        pub schedule: Section<RawSchedule>,
        pub sources: Section<RawSources>,
        pub digest: Section<RawDigest>,
        pub subscribers: Section<Vec<Section<RawSubscriber>>>,
    }

    #[derive(Deserialize)]
    #[serde(default)]
    pub struct RawMail {
        pub from: Option<Lenient<String>>,
        pub subject: Lenient<String>,
        pub unsubscribe: Option<Lenient<String>>,
        pub templates_dir: Option<Lenient<PathBuf>>,
    }

    impl Default for RawMail {
        fn default() -> Self {
            RawMail {
                from: None,
                subject: String::from(
                    "{{ count | plural(noun=\"new paper\") }} for you · {{ date }}",
                )
                .into(),
                unsubscribe: None,
                templates_dir: None,
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(default)]
    pub struct RawDelivery {
        pub transport: Lenient<String>,
        pub outbox_dir: Lenient<PathBuf>,
        pub retries: Lenient<u32>,
        pub retry_delay: Lenient<String>,
    }

    impl Default for RawDelivery {
        fn default() -> Self {
            RawDelivery {
                transport: String::from("file").into(),
                outbox_dir: PathBuf::from("outbox").into(),
                retries: 2.into(),
                retry_delay: String::from("2s").into(),
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(default)]
    pub struct RawSmtp {
        pub host: Option<Lenient<String>>,
        pub port: Option<Lenient<u16>>,
        pub security: Lenient<String>,
        pub username: Option<Lenient<String>>,
        pub password: Option<Lenient<String>>,
        pub password_file: Option<Lenient<PathBuf>>,
        pub max_connections: Lenient<u32>,
        pub timeout: Lenient<String>,
    }

    impl Default for RawSmtp {
        fn default() -> Self {
            RawSmtp {
                host: None,
                port: None,
                security: String::from("starttls").into(),
                username: None,
                password: None,
                password_file: None,
                max_connections: 8.into(),
                timeout: String::from("30s").into(),
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(default)]
    pub struct RawState {
        pub path: Lenient<PathBuf>,
        pub keep_messages: Lenient<String>,
    }

    impl Default for RawState {
        fn default() -> Self {
            RawState {
                path: PathBuf::from("state/paperboy.db").into(),
                keep_messages: String::from("7d").into(),
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(default)]
    pub struct RawSchedule {
        pub fetch: Lenient<String>,
        pub digest: Lenient<String>,
        pub timezone: Lenient<String>,
    }

    impl Default for RawSchedule {
        fn default() -> Self {
            RawSchedule {
                fetch: String::from("0 */30 * * * *").into(),
                digest: String::from("0 0 7 * * *").into(),
                timezone: String::from("UTC").into(),
            }
        }
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub struct RawSources {
        pub huggingface: Section<RawHuggingFace>,
        pub arxiv: Section<RawArxiv>,
    }

    #[derive(Deserialize)]
    #[serde(default)]
    pub struct RawHuggingFace {
        pub enabled: Lenient<bool>,
        pub base_url: Lenient<String>,
        pub lookback_days: Lenient<u32>,
        pub timeout: Lenient<String>,
    }

    impl Default for RawHuggingFace {
        fn default() -> Self {
            RawHuggingFace {
                enabled: true.into(),
                base_url: String::from("https://huggingface.co").into(),
                lookback_days: 3.into(),
                timeout: String::from("30s").into(),
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(default)]
    pub struct RawArxiv {
        pub enabled: Lenient<bool>,
        pub categories: Section<Vec<Lenient<String>>>,
    }

    impl Default for RawArxiv {
        fn default() -> Self {
            RawArxiv {
                enabled: false.into(),
                categories: Section::default(),
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(default)]
    pub struct RawDigest {
        pub max_papers: Lenient<u32>,
        pub min_upvotes: Lenient<u32>,
        pub send_empty: Lenient<bool>,
    }

    impl Default for RawDigest {
        fn default() -> Self {
            RawDigest {
                max_papers: 10.into(),
                min_upvotes: 0.into(),
                send_empty: false.into(),
            }
        }
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub struct RawSubscriber {
        /// Required, but checked in `validate` so that a missing one is one problem among all.
        pub email: Option<Lenient<String>>,
        pub name: Option<Lenient<String>>,
        pub topics: Section<Vec<RawTopic>>,
        pub timezone: Option<Lenient<String>>,
        pub schedule: Option<Lenient<String>>,
        pub max_papers: Option<Lenient<u32>>,
        pub min_upvotes: Option<Lenient<u32>>,
        pub send_empty: Option<Lenient<bool>>,
    }

    /// A topic is a query string or a table `{ name = "...", query = "..." }`.
    pub enum RawTopic {
        Query(String),
        Named {
            name: Option<Lenient<String>>,
            query: Option<Lenient<String>>,
        },
        /// Neither: the value as quoted in a problem.
        Invalid(String),
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
                fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawTopic, E> {
                    Ok(RawTopic::Invalid(v.to_string()))
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawTopic, E> {
                    Ok(RawTopic::Invalid(v.to_string()))
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawTopic, E> {
                    Ok(RawTopic::Invalid(v.to_string()))
                }
                fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawTopic, E> {
                    Ok(RawTopic::Invalid(v.to_string()))
                }
                fn visit_seq<A: de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<RawTopic, A::Error> {
                    // Consumed as values, not `IgnoredAny`, which serde_ignored would report
                    // as unknown keys.
                    while seq.next_element::<config::Value>()?.is_some() {}
                    Ok(RawTopic::Invalid("[...]".into()))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawTopic, A::Error> {
                    let (mut name, mut query) = (None, None);
                    while let Some(key) = map.next_key::<String>()? {
                        match key.as_str() {
                            "name" => name = Some(map.next_value()?),
                            "query" => query = Some(map.next_value()?),
                            // Skipped through serde_ignored, which reports it with its path.
                            _ => {
                                map.next_value::<de::IgnoredAny>()?;
                            }
                        }
                    }
                    Ok(RawTopic::Named { name, query })
                }
            }
            deserializer.deserialize_any(TopicVisitor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_sets_the_key_the_config_crate_reads_from_it() {
        assert_eq!(
            env_key("PAPERBOY__SMTP__PASSWORD_FILE"),
            "smtp.password_file"
        );
        assert_eq!(
            env_key("PAPERBOY__SOURCES__HUGGINGFACE__BASE_URL"),
            "sources.huggingface.base_url"
        );
    }

    #[test]
    fn a_cron_number_out_of_range_names_its_field() {
        let cases = [
            ("0 0 25 * * *", "hour 25: must be 0-23"),
            ("60 * * * * *", "second 60: must be 0-59"),
            ("0 61 * * * *", "minute 61: must be 0-59"),
            ("0 0 0 0 * *", "day of month 0: must be 1-31"),
            ("0 0 0 32 * *", "day of month 32: must be 1-31"),
            ("0 0 0 * 13 *", "month 13: must be 1-12"),
            ("0 0 0 * * 8", "weekday 8: must be 0-7"),
            ("0 0 1-25 * * *", "hour 25: must be 0-23"),
            ("0 0 7,24 * * *", "hour 24: must be 0-23"),
            ("0 0 30/2 * * *", "hour 30: must be 0-23"),
            ("0 */0 * * * *", "minute */0: the step must be at least 1"),
            (
                "0 99 25 * * *",
                "minute 99: must be 0-59; hour 25: must be 0-23",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(CronSchedule::parse(text).unwrap_err(), expected, "{text}");
        }
        for fine in [
            "0 0 7 * * *",
            "0 */30 * * * *",
            "59 59 23 31 12 7",
            "0 0 0 1-31/2 JAN-DEC MON-FRI",
            "0 0 0 L * 5#2",
        ] {
            assert!(CronSchedule::parse(fine).is_ok(), "{fine}");
        }
    }

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

    #[test]
    fn file_has_follows_tables_and_array_indices() {
        let file: toml::Table = toml::from_str(
            "[smtp]\nhost = \"h\"\n[[subscribers]]\nemail = \"a\"\n[[subscribers]]\ntopic = []\n",
        )
        .unwrap();
        assert!(file_has(&file, "smtp"));
        assert!(file_has(&file, "smtp.host"));
        assert!(file_has(&file, "subscribers[1].topic"));
        assert!(!file_has(&file, "subscribers[0].topic"));
        assert!(!file_has(&file, "subscribers[2].topic"));
        assert!(!file_has(&file, "smtp.port"));
        assert!(!file_has(&file, "smtp.host.deeper"));
        assert!(!file_has(&file, "mail"));
    }
}
