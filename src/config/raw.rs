//! The TOML as written: every field optional or defaulted, no validation yet.

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
pub(super) fn key_path(path: &serde_ignored::Path) -> String {
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

impl Scalar for f64 {
    fn accepts(kind: &ValueKind) -> bool {
        match kind {
            ValueKind::Float(_) => true,
            ValueKind::String(s) => s.parse::<f64>().is_ok(),
            other => is_integer(other),
        }
    }
    fn must_be(_: &str) -> String {
        "must be a number".into()
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
    RawDkim,
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
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Section<T>, A::Error> {
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
    /// A folder of more subscribers, one per file, read by `subscribers_dir`.
    pub subscribers_dir: Option<Lenient<PathBuf>>,
    /// `None` without a `[web]` section: no listener.
    pub web: Option<Section<super::web::RawWeb>>,
}

#[derive(Deserialize)]
#[serde(default)]
pub struct RawMail {
    pub from: Option<Lenient<String>>,
    pub subject: Lenient<String>,
    pub unsubscribe: Option<Lenient<String>>,
    pub templates_dir: Option<Lenient<PathBuf>>,
    pub dkim: Option<Section<RawDkim>>,
}

impl Default for RawMail {
    fn default() -> Self {
        RawMail {
            from: None,
            subject: String::from(
                "{% if count == 0 %}No new papers{% else %}{{ count | plural(noun=\"new paper\") }}{% endif %} for you · {{ date }}",
            )
                .into(),
            unsubscribe: None,
            templates_dir: None,
            dkim: None,
        }
    }
}

/// `[mail.dkim]`: all three keys are required once the table is there; checked in `validate_dkim`
/// so that each missing one is a problem among all.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RawDkim {
    pub domain: Option<Lenient<String>>,
    pub selector: Option<Lenient<String>>,
    pub private_key_file: Option<Lenient<PathBuf>>,
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
    pub max_messages_per_connection: Lenient<u32>,
    pub max_per_second: Option<Lenient<f64>>,
    pub ca_file: Option<Lenient<PathBuf>>,
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
            max_messages_per_connection: 1000.into(),
            max_per_second: None,
            ca_file: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
pub struct RawState {
    pub path: Lenient<PathBuf>,
    pub keep_messages: Lenient<String>,
    pub keep_history: Lenient<String>,
}

impl Default for RawState {
    fn default() -> Self {
        RawState {
            path: PathBuf::from("state/paperboy.db").into(),
            keep_messages: String::from("1d").into(),
            keep_history: String::from("14d").into(),
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
    pub token_file: Option<Lenient<PathBuf>>,
}

impl Default for RawHuggingFace {
    fn default() -> Self {
        RawHuggingFace {
            enabled: true.into(),
            base_url: String::from("https://huggingface.co").into(),
            lookback_days: 3.into(),
            timeout: String::from("30s").into(),
            token_file: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
pub struct RawArxiv {
    pub enabled: Lenient<bool>,
    pub categories: Section<Vec<Lenient<String>>>,
    pub rss_url: Lenient<String>,
    pub api_url: Lenient<String>,
    pub include_replacements: Lenient<bool>,
    pub timeout: Lenient<String>,
}

impl Default for RawArxiv {
    fn default() -> Self {
        RawArxiv {
            enabled: false.into(),
            categories: Section::default(),
            rss_url: String::from("https://rss.arxiv.org/rss").into(),
            api_url: String::from("https://export.arxiv.org/api/query").into(),
            include_replacements: false.into(),
            timeout: String::from("60s").into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
pub struct RawDigest {
    pub max_papers: Lenient<u32>,
    pub min_upvotes: Lenient<u32>,
    pub require_upvotes: Lenient<bool>,
    pub send_empty: Lenient<bool>,
}

impl Default for RawDigest {
    fn default() -> Self {
        RawDigest {
            max_papers: 10.into(),
            min_upvotes: 0.into(),
            require_upvotes: false.into(),
            send_empty: false.into(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RawSubscriber {
    /// Required, but checked in `validate_subscriber` so that a missing one is one problem among all.
    pub email: Option<Lenient<String>>,
    pub name: Option<Lenient<String>>,
    pub topics: Section<Vec<RawTopic>>,
    pub timezone: Option<Lenient<String>>,
    pub schedule: Option<Lenient<String>>,
    pub max_papers: Option<Lenient<u32>>,
    pub min_upvotes: Option<Lenient<u32>>,
    pub require_upvotes: Option<Lenient<bool>>,
    pub send_empty: Option<Lenient<bool>>,
}

/// A topic table's keys.
pub struct RawTopicTable {
    pub name: Option<Lenient<String>>,
    pub query: Option<Lenient<String>>,
    pub like: Option<Section<Vec<Lenient<String>>>>,
    pub like_file: Option<Lenient<PathBuf>>,
    pub unlike: Option<Section<Vec<Lenient<String>>>>,
    pub min_score: Option<Lenient<f64>>,
    pub max_papers: Option<Lenient<u32>>,
}

/// A topic is a query string or a table: `{ name = "...", query = "..." }`, or a "more like
/// these papers" one with `like` / `like_file` instead of `query`.
pub enum RawTopic {
    Query(String),
    Named(Box<RawTopicTable>),
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
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawTopic, A::Error> {
                // Consumed as values, not `IgnoredAny`, which serde_ignored would report
                // as unknown keys.
                while seq.next_element::<config::Value>()?.is_some() {}
                Ok(RawTopic::Invalid("[...]".into()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawTopic, A::Error> {
                let (mut name, mut query, mut like, mut like_file) = (None, None, None, None);
                let (mut unlike, mut min_score, mut max_papers) = (None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "name" => name = Some(map.next_value()?),
                        "query" => query = Some(map.next_value()?),
                        "like" => like = Some(map.next_value()?),
                        "like_file" => like_file = Some(map.next_value()?),
                        "unlike" => unlike = Some(map.next_value()?),
                        "min_score" => min_score = Some(map.next_value()?),
                        "max_papers" => max_papers = Some(map.next_value()?),
                        // Skipped through serde_ignored, which reports it with its path.
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(RawTopic::Named(Box::new(RawTopicTable {
                    name,
                    query,
                    like,
                    like_file,
                    unlike,
                    min_score,
                    max_papers,
                })))
            }
        }
        deserializer.deserialize_any(TopicVisitor)
    }
}
