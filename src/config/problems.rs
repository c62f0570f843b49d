//! Collecting problems: each names its key and value, and says when the environment, not the
//! file, set the key.

use std::collections::HashMap;
use std::fmt;

use super::raw;
use super::{ENV_PREFIX, ENV_SEPARATOR};

/// The key path a variable sets: `PAPERBOY__SMTP__PASSWORD_FILE` → `smtp.password_file`, as the
/// `config` crate reads it (lower case, `__` between levels).
pub(super) fn env_key(var: &str) -> String {
    let lower = var.to_lowercase();
    let prefix = format!("{ENV_PREFIX}{ENV_SEPARATOR}").to_lowercase();
    lower
        .strip_prefix(&prefix)
        .unwrap_or(&lower)
        .replace(ENV_SEPARATOR, ".")
}

/// Whether the file itself sets the key at `path` (`subscribers[1].topic`).
pub(super) fn file_has(file: &toml::Table, path: &str) -> bool {
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

/// Every problem found so far, each as `key "value": message`, or
/// `key "value" (set by PAPERBOY__SECTION__KEY): message` when the environment set the key: a
/// value nobody can find in the file would otherwise send the reader looking in vain.
pub(super) struct Problems {
    pub(super) list: Vec<String>,
    /// Settings that are valid but probably not what was meant, in the same form.
    pub(super) warnings: Vec<String>,
    /// Key path (`smtp.password`) → the variable that set it.
    pub(super) set_by_env: HashMap<String, String>,
    /// The problems of `list` confined to one subscriber each: the rest are global.
    pub(super) confined: Vec<Confined>,
}

/// A run of `list` that is one subscriber's own problems.
pub(super) struct Confined {
    pub range: std::ops::Range<usize>,
    /// Where the subscriber is written: `subscribers[2]`, or a file of `subscribers_dir`.
    pub place: String,
    /// Their address in lower case, when it could be read.
    pub key: Option<String>,
}

impl Problems {
    pub(super) fn report(&mut self, key: &str, value: &str, message: impl fmt::Display) {
        let problem = self.describe(key, value, message);
        self.list.push(problem);
    }

    pub(super) fn warn(&mut self, key: &str, value: &str, message: impl fmt::Display) {
        let warning = self.describe(key, value, message);
        self.warnings.push(warning);
    }

    pub(super) fn describe(&self, key: &str, value: &str, message: impl fmt::Display) -> String {
        match self.set_by_env.get(key) {
            Some(var) => format!("{key} {value:?} (set by {var}): {message}"),
            None => format!("{key} {value:?}: {message}"),
        }
    }

    /// Where the next problem goes: give it to [`Problems::confine`] after one subscriber.
    pub(super) fn mark(&self) -> usize {
        self.list.len()
    }

    /// Confines the problems reported since `mark` to the subscriber at `place`; whether
    /// there were any.
    pub(super) fn confine(&mut self, mark: usize, place: String, key: Option<String>) -> bool {
        let range = mark..self.list.len();
        if range.is_empty() {
            return false;
        }
        self.confined.push(Confined { range, place, key });
        true
    }

    /// How many problems are not confined to one subscriber.
    pub(super) fn global(&self) -> usize {
        self.list.len() - self.confined.iter().map(|c| c.range.len()).sum::<usize>()
    }

    pub(super) fn is_set_by_env(&self, key: &str) -> bool {
        self.set_by_env.contains_key(key)
    }

    /// Reports a key serde did not know, by the variable that set it when that was the
    /// environment (a misspelt variable has no line in the file), and by its path when the
    /// file has it; both when both do.
    pub(super) fn unknown_key(&mut self, key: &str, file: &toml::Table) {
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
    pub(super) fn valid<T: raw::Scalar>(
        &mut self,
        key: &str,
        field: &raw::Lenient<T>,
    ) -> Option<T> {
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
    pub(super) fn section<T>(
        &mut self,
        key: &str,
        section: &raw::Section<T>,
        message: impl fmt::Display,
    ) {
        if let Some(text) = &section.invalid {
            self.report(key, text, message);
        }
    }

    /// Like [`Problems::valid`] for a field that may be left out: `None` when it is absent or
    /// reported.
    pub(super) fn valid_opt<T: raw::Scalar>(
        &mut self,
        key: &str,
        field: &Option<raw::Lenient<T>>,
    ) -> Option<T> {
        field.as_ref().and_then(|field| self.valid(key, field))
    }
}

// Each field below that is reported as invalid comes out as `None`, and any problem makes
// `load_with_env` fail, so the `Config` built from the rest is never seen in that case.

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
