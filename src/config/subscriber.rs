//! One subscriber's keys validated into a [`Subscriber`]: the same for a `[[subscribers]]`
//! table of the main file and for a file of `subscribers_dir`, which differ only in how their
//! problems name the place.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use chrono_tz::Tz;

use super::problems::Problems;
use super::topic::{TopicContext, validate_topic};
use super::{CronSchedule, Subscriber, Topic, parse_timezone, raw};

/// Where a subscriber is written, as its problems name it.
#[derive(Debug, Clone)]
pub(super) enum Place {
    /// The `[[subscribers]]` table at this index (from 0) of the main file.
    Listed(usize),
    /// A file of `subscribers_dir`, named as the config names the folder
    /// (`subscribers.d/alice.toml`), so the reader finds it from where they wrote the key.
    File(String),
}

impl Place {
    /// The key path of `field` here: `subscribers[3].topics[1]`, or
    /// `subscribers.d/alice.toml: topics[1]`.
    pub(super) fn key(&self, field: &str) -> String {
        match self {
            Place::Listed(i) => format!("subscribers[{i}].{field}"),
            Place::File(file) => format!("{file}: {field}"),
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Listed(i) => write!(f, "subscribers[{i}]"),
            Place::File(file) => f.write_str(file),
        }
    }
}

/// What a subscriber leaves out comes from `[schedule]` and `[digest]`. Each is `None` when
/// that key has a problem of its own, reported there; then no subscriber inheriting it is
/// built, but each is still checked.
pub(super) struct SubscriberDefaults<'a> {
    pub timezone: Option<Tz>,
    pub schedule: Option<Arc<CronSchedule>>,
    pub max_papers: Option<u32>,
    pub min_upvotes: Option<u32>,
    pub require_upvotes: Option<bool>,
    pub send_empty: Option<bool>,
    pub topics: TopicContext<'a>,
}

/// Every address seen so far, in lower case, with where it was first written: an address
/// twice is reported naming both places.
#[derive(Default)]
pub(super) struct Addresses(HashMap<String, Place>);

/// Adds `built`, the subscriber written at `place`, to `subscribers`, unless problems were
/// reported since `mark`: those are confined to it, and it is left out, so that a serving
/// load skips it alone. `raw` gives its address, when it could be read.
pub(super) fn add_subscriber(
    built: Option<Subscriber>,
    raw: Option<&raw::RawSubscriber>,
    place: &Place,
    mark: usize,
    problems: &mut Problems,
    subscribers: &mut Vec<Subscriber>,
) {
    let key = raw
        .and_then(|sub| match &sub.email {
            Some(raw::Lenient::Valid(text)) => text.parse::<lettre::Address>().ok(),
            _ => None,
        })
        .map(|address| address.to_string().to_lowercase());
    if !problems.confine(mark, place.to_string(), key) {
        subscribers.extend(built);
    }
}

/// The subscriber written at `place`, or `None` with its problems reported.
pub(super) fn validate_subscriber(
    sub: &raw::RawSubscriber,
    place: &Place,
    defaults: &SubscriberDefaults<'_>,
    addresses: &mut Addresses,
    problems: &mut Problems,
) -> Option<Subscriber> {
    let key = |field: &str| place.key(field);
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
                if let Some(first) = addresses.0.get(&lower) {
                    problems.report(&key("email"), &text, format!("is already used by {first}"));
                } else {
                    addresses.0.insert(lower.clone(), place.clone());
                }
                Some((address, lower))
            }
            Err(e) => {
                problems.report(&key("email"), &text, format!("not an email address ({e})"));
                None
            }
        },
    };
    // Sized exactly: collecting from `filter_map` starts at room for 4, a topic's worth of
    // waste per subscriber with the usual 3 (13 MB for 100,000).
    let mut topics: Vec<Topic> = Vec::with_capacity(sub.topics.len());
    for (j, topic) in sub.topics.iter().enumerate() {
        let key = key(&format!("topics[{j}]"));
        topics.extend(validate_topic(topic, &key, &defaults.topics, problems));
    }
    let timezone = match &sub.timezone {
        Some(field) => problems.valid(&key("timezone"), field).and_then(|tz| {
            parse_timezone(&tz)
                .map_err(|e| problems.report(&key("timezone"), &tz, e))
                .ok()
        }),
        None => defaults.timezone,
    };
    let schedule = match &sub.schedule {
        Some(field) => problems.valid(&key("schedule"), field).and_then(|text| {
            CronSchedule::parse(&text)
                .map(Arc::new)
                .map_err(|e| problems.report(&key("schedule"), &text, e))
                .ok()
        }),
        None => defaults.schedule.clone(),
    };
    let max_papers = match &sub.max_papers {
        Some(field) => problems.valid(&key("max_papers"), field),
        None => defaults.max_papers,
    };
    // A zero inherited from [digest] is reported there, once.
    if sub.max_papers.is_some() && max_papers == Some(0) {
        problems.report(&key("max_papers"), "0", "must be at least 1");
    }
    let min_upvotes = match &sub.min_upvotes {
        Some(field) => problems.valid(&key("min_upvotes"), field),
        None => defaults.min_upvotes,
    };
    let require_upvotes = match &sub.require_upvotes {
        Some(field) => problems.valid(&key("require_upvotes"), field),
        None => defaults.require_upvotes,
    };
    let send_empty = match &sub.send_empty {
        Some(field) => problems.valid(&key("send_empty"), field),
        None => defaults.send_empty,
    };
    let name = problems.valid_opt(&key("name"), &sub.name);
    if let Some(name) = &name
        && name.contains(char::is_control)
    {
        problems.report(&key("name"), name, "must not contain control characters");
    }
    let (email, key) = email?;
    Some(Subscriber {
        email,
        key,
        name: name.filter(|n| !n.trim().is_empty()),
        topics,
        timezone: timezone?,
        schedule: schedule?,
        max_papers: max_papers? as usize,
        min_upvotes: min_upvotes?,
        require_upvotes: require_upvotes?,
        send_empty: send_empty?,
    })
}
