//! The application core: what a config turns into (templates, mail transport, sources, one
//! HTTP client, the state), built in one place. Every command and the daemon use it, and
//! `check` builds exactly this, so "check passed" means "run will set up".

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::{Config, Subscriber};
use crate::deliver::Mailer;
use crate::error::{Error, SetupError};
use crate::render::Renderer;
use crate::similar::TopicCache;
use crate::source::http::Fetcher;
use crate::source::{self, PaperSource};
use crate::store::{SharedStore, Store, StoreError};

pub struct App {
    pub config: Config,
    pub renderer: Renderer,
    /// Shared with a delivery that runs beside composing (`send-now`).
    pub mailer: Arc<Mailer>,
    pub sources: Vec<Box<dyn PaperSource>>,
    /// Every source's HTTP: one client, one politeness (spacing, Retry-After).
    pub fetcher: Fetcher,
    /// Every subscriber's address by their key in the state.
    pub recipients: HashMap<String, lettre::Address>,
    /// Like topics trained in this process, reused by its later runs.
    pub likes: TopicCache,
    /// When this config was loaded. A pending digest composed earlier for someone it does
    /// not list belongs to a removed subscriber; one composed later, to a subscriber added
    /// by a newer config in another process.
    pub loaded_at: DateTime<Utc>,
}

impl App {
    /// Loads the config at `path`, logs its warnings and the subscribers it skips for their
    /// own problems, and builds the app: what start-up and every reload do.
    pub fn load(path: &Path) -> Result<App, Error> {
        let config = Config::load_serving(path)?;
        config.log_problems();
        Ok(App::build(config)?)
    }

    pub fn build(config: Config) -> Result<App, SetupError> {
        let renderer = Renderer::new(&config.mail.subject, config.mail.templates_dir.as_deref())?;
        let mailer = Arc::new(Mailer::new(&config.delivery.transport).map_err(SetupError::Mailer)?);
        let fetcher = Fetcher::new().map_err(SetupError::Http)?;
        Ok(App {
            renderer,
            mailer,
            sources: source::from_config(&config.sources),
            fetcher,
            recipients: recipients(&config.subscribers),
            likes: TopicCache::default(),
            loaded_at: Utc::now(),
            config,
        })
    }

    /// How long the message bodies of sent digests are kept (`[state] keep_messages`).
    pub fn keep_messages(&self) -> chrono::Duration {
        // Beyond chrono's range is "for ever" for any practical purpose.
        chrono::Duration::from_std(self.config.keep_messages).unwrap_or(chrono::TimeDelta::MAX)
    }

    /// How long which papers went to whom is kept (`[state] keep_history`).
    pub fn keep_history(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.keep_history).unwrap_or(chrono::TimeDelta::MAX)
    }

    /// The state database, opened (created if needed) and migrated.
    pub fn open_store(&self) -> Result<SharedStore, Error> {
        Ok(SharedStore::new(open_state(&self.config.state_path)?))
    }

    /// A copy in memory of the state, for runs that must record nothing.
    pub fn open_dry_run_store(&self) -> Result<SharedStore, SetupError> {
        let path = &self.config.state_path;
        let store = Store::open_dry_run(path).map_err(|source| SetupError::Store {
            path: path.clone(),
            source,
        })?;
        Ok(SharedStore::new(store))
    }
}

/// The state database at `path` (`[state] path`), opened and migrated; a failure names the key.
/// A database that cannot be made is a setup error (exit 2, as `check` would have said); one
/// that was there and can no longer be written (a folder made read-only, a disk remounted)
/// is a failure of the run (exit 1), said with what is wrong.
pub fn open_state(path: &Path) -> Result<Store, Error> {
    let existed = path.is_file();
    Store::open(path).map_err(|source| {
        let broke_while_running =
            existed && !matches!(source, StoreError::TooNew { .. } | StoreError::Migration(_));
        let error = SetupError::Store {
            path: path.to_path_buf(),
            source,
        };
        if !broke_while_running {
            return Error::Setup(error);
        }
        // The file or its folder, said plainly, rather than SQLite's code for it.
        let error = match check_state_path(path) {
            Err(plain @ SetupError::StatePath { .. }) => plain,
            _ => error,
        };
        Error::Runtime(error.into())
    })
}

/// The recipients of `subscribers`, by key.
pub fn recipients<'s>(
    subscribers: impl IntoIterator<Item = &'s Subscriber>,
) -> HashMap<String, lettre::Address> {
    subscribers
        .into_iter()
        .map(|s| (s.key.clone(), s.email.clone()))
        .collect()
}

/// Whether the state database at `path` can be opened, or created with its folder, and
/// written by this user, without creating anything: the check that `check` adds for what
/// `run` will open.
pub fn check_state_path(path: &Path) -> Result<(), SetupError> {
    let problem = |problem: String| SetupError::StatePath {
        path: path.to_path_buf(),
        problem,
    };
    if path.is_dir() {
        return Err(problem("is a folder; name the database file in it".into()));
    }
    if path.exists() {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| problem(format!("cannot be opened for writing: {e}")))?;
        Store::check_version(path).map_err(|source| SetupError::Store {
            path: path.to_path_buf(),
            source,
        })?;
    }
    // SQLite writes its journal beside the database, so the folder must be writable too; a
    // folder still to be made needs its nearest existing ancestor to be.
    let folder = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut existing = folder;
    while !existing.exists() {
        existing = match existing.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
    }
    if !existing.is_dir() {
        return Err(problem(format!(
            "cannot create the folder {}: {} is not a folder",
            folder.display(),
            existing.display()
        )));
    }
    let what = if existing == folder {
        format!("the folder {} is not writable", folder.display())
    } else {
        format!(
            "cannot create the folder {}: {} is not writable",
            folder.display(),
            existing.display()
        )
    };
    probe_writable(existing).map_err(|e| problem(format!("{what} by this user ({e})")))
}

/// Creates and removes a file in `dir`: the only sure test of writing there (permissions,
/// ACLs, read-only mounts, systemd sandboxing all count).
fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let probe: PathBuf = dir.join(format!(".paperboy-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_path_check_creates_nothing_and_names_the_folder_it_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/paperboy.db");
        check_state_path(&deep).unwrap();
        assert!(!dir.path().join("a").exists(), "nothing was created");

        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let err = check_state_path(&file.join("paperboy.db")).unwrap_err();
        assert!(err.to_string().contains("is not a folder"), "{err}");
        let err = check_state_path(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is a folder"), "{err}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_folder_nobody_may_write_fails_the_state_path_check() {
        // Not even root may create files in /proc, so this holds whoever runs the tests.
        let err = check_state_path(Path::new("/proc/paperboy-test/state/paperboy.db")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("state.path \"/proc/paperboy-test/state/paperboy.db\": cannot create the folder /proc/paperboy-test/state: /proc is not writable by this user"),
            "{text}"
        );
    }
}
