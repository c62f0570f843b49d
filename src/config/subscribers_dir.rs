//! `subscribers_dir`: more subscribers, one TOML file each, with the keys of one
//! `[[subscribers]]` table.
//!
//! The files are read, parsed and validated one at a time, each file's text dropped before the
//! next is read: a main file of 100,000 `[[subscribers]]` peaks at ~300 MB while the `config`
//! crate and `toml` hold it parsed whole. They are read in the order of their names, so the
//! subscribers' order (and which of two files with one address is reported) never depends on
//! the file system. The environment overrides only the main file.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use super::problems::Problems;
use super::raw::{self, RawSubscriber};
use super::subscriber::{
    Addresses, Place, SubscriberDefaults, add_subscriber, validate_subscriber,
};
use super::{Subscriber, resolve, syntax_message};

const KEY: &str = "subscribers_dir";

/// The keys a subscriber file takes, as an unknown key's problem lists them.
const SUBSCRIBER_KEYS: &str = "email, name, topics, timezone, schedule, max_papers, min_upvotes, \
                               require_upvotes, send_empty";

/// Validates every subscriber file in `dir` (as the config writes it, relative to `base`)
/// into `subscribers`, reporting each problem with the file's name.
pub(super) fn load(
    dir: &Path,
    base: &Path,
    defaults: &SubscriberDefaults<'_>,
    addresses: &mut Addresses,
    subscribers: &mut Vec<Subscriber>,
    problems: &mut Problems,
) {
    let shown = dir.display().to_string();
    let folder = resolve(base, dir);
    let Some(files) = subscriber_files(&folder, &shown, problems) else {
        return;
    };
    if files.is_empty() && subscribers.is_empty() {
        problems.warn(
            KEY,
            &shown,
            "holds no *.toml files and there are no [[subscribers]]: nobody gets a digest",
        );
    }
    subscribers.reserve(files.len());
    for name in files {
        let place = Place::File(dir.join(&name).display().to_string());
        let mark = problems.mark();
        let raw = read_subscriber(&folder.join(&name), &place, problems);
        let built = raw
            .as_ref()
            .and_then(|raw| validate_subscriber(raw, &place, defaults, addresses, problems));
        add_subscriber(built, raw.as_ref(), &place, mark, problems, subscribers);
    }
}

/// The names of the subscriber files in `folder`, sorted; `None` once a folder that cannot be
/// listed is reported. Names, not paths: a path sorts component by component, and holds the
/// folder again for each file.
fn subscriber_files(folder: &Path, shown: &str, problems: &mut Problems) -> Option<Vec<OsString>> {
    let cannot = |problems: &mut Problems, e: std::io::Error| {
        let message = match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "{} does not exist: create it, or remove {KEY}",
                folder.display()
            ),
            std::io::ErrorKind::NotADirectory => format!("{} is not a folder", folder.display()),
            _ => format!("{} cannot be read: {e}", folder.display()),
        };
        problems.report(KEY, shown, message);
    };
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) => {
            cannot(problems, e);
            return None;
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                cannot(problems, e);
                return None;
            }
        };
        let name = entry.file_name();
        if is_subscriber_file(&name) {
            files.push(name);
        } else {
            tracing::debug!(
                "{KEY}: skipping {}: not a *.toml file",
                entry.path().display()
            );
        }
    }
    files.sort();
    Some(files)
}

/// Whether a file of the folder is a subscriber: `*.toml`, but not a dotfile, which is what
/// editors make beside the file they edit (`.alice.toml.swp`, emacs' `.#alice.toml`), like
/// `alice.toml~`.
fn is_subscriber_file(name: &OsStr) -> bool {
    let path = Path::new(name);
    path.extension() == Some(OsStr::new("toml")) && !name.as_encoded_bytes().starts_with(b".")
}

/// The subscriber in the file at `path`, or `None` if it cannot be read or parsed. Unknown
/// keys are reported, and the rest of the file is still validated.
fn read_subscriber(path: &Path, place: &Place, problems: &mut Problems) -> Option<RawSubscriber> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            problems.list.push(format!("{place}: cannot be read: {e}"));
            return None;
        }
    };
    let mut unknown = Vec::new();
    let parsed = toml::de::Deserializer::parse(&text).and_then(|deserializer| {
        serde_ignored::deserialize(deserializer, |key| unknown.push(raw::key_path(&key)))
    });
    let sub: RawSubscriber = match parsed {
        Ok(sub) => sub,
        Err(e) => {
            let message = syntax_message(&text, &e);
            problems
                .list
                .push(format!("{place}: is not valid TOML: {message}"));
            return None;
        }
    };
    for key in unknown {
        let hint = if key == "subscribers" {
            "write the keys at the top of the file, without [[subscribers]]".to_string()
        } else if key.contains(['.', '[']) {
            "check its spelling".to_string()
        } else {
            format!("a subscriber file takes {SUBSCRIBER_KEYS}")
        };
        problems
            .list
            .push(format!("{place}: {key}: unknown key ({hint})"));
    }
    Some(sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_toml_files_that_are_not_dotfiles_are_subscribers() {
        for name in ["alice.toml", "alice.smith.toml"] {
            assert!(is_subscriber_file(OsStr::new(name)), "{name}");
        }
        for name in [
            "alice.toml~",
            ".alice.toml.swp",
            ".#alice.toml",
            ".hidden.toml",
            ".toml",
            "alice.TOML",
            "alice.json",
            "README",
        ] {
            assert!(!is_subscriber_file(OsStr::new(name)), "{name}");
        }
    }
}
