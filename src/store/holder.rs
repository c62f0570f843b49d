//! Claims that die with their holder. Each process that opens the state for writing holds an
//! advisory lock on a file named for it (its claim owner) beside the database, for as long as
//! it lives. The kernel drops the lock however the process ends (SIGKILL, an OOM kill, a
//! reboot), so another process can tell at once that a claim's holder is gone and take its
//! digests over, instead of waiting for the claim to run out.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

pub struct Holder {
    /// `<state>.holders`, or `None` for a database in memory (no other process to ask).
    dir: Option<PathBuf>,
    /// The locked file naming this process, while it lives.
    own: Option<(PathBuf, File)>,
    /// Holders found gone, whose files were cleared: a dead process held a batch of claims,
    /// and each of them must still be seen as dead once its file is no longer there.
    gone: Mutex<HashSet<String>>,
}

impl Holder {
    /// Locks `<state>.holders/<owner>.lock`. If that cannot be done, claims of this process
    /// still run out after their time, as before: a warning, not an error.
    pub fn new(state: &Path, owner: &str) -> Holder {
        let mut dir = state.as_os_str().to_owned();
        dir.push(".holders");
        let dir = PathBuf::from(dir);
        let path = dir.join(format!("{owner}.lock"));
        let own = std::fs::create_dir_all(&dir)
            .and_then(|()| File::create(&path))
            .and_then(|file| {
                file.try_lock()
                    .map(|()| file)
                    .map_err(std::io::Error::other)
            });
        let own = match own {
            Ok(file) => Some((path, file)),
            Err(e) => {
                tracing::warn!(
                    "cannot lock {}: {e}; digests this process claims stay claimed for five minutes if it dies",
                    path.display()
                );
                None
            }
        };
        Holder {
            dir: Some(dir),
            own,
            gone: Mutex::default(),
        }
    }

    pub fn in_memory() -> Holder {
        Holder {
            dir: None,
            own: None,
            gone: Mutex::default(),
        }
    }

    /// Whether the process that took claims as `owner` is gone: its file is there and nobody
    /// holds its lock. A holder without a file (an older release) counts as alive, until its
    /// claims run out.
    pub fn is_gone(&self, owner: &str) -> bool {
        let Some(dir) = &self.dir else {
            return false;
        };
        // Owners are "<pid>.<nanos>": anything else is not a name this code gave out.
        if owner.is_empty() || !owner.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return false;
        }
        let mut gone = self.gone.lock().unwrap_or_else(PoisonError::into_inner);
        if gone.contains(owner) {
            return true;
        }
        let path = dir.join(format!("{owner}.lock"));
        let Ok(file) = File::open(&path) else {
            return false;
        };
        match file.try_lock() {
            Ok(()) => {
                let _ = std::fs::remove_file(&path);
                gone.insert(owner.to_string());
                true
            }
            Err(_) => false,
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        if let Some((path, _file)) = self.own.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_alive_while_its_lock_is_held_and_gone_after() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("paperboy.db");
        let alive = Holder::new(&state, "1.1");
        let asking = Holder::new(&state, "2.2");
        assert!(!asking.is_gone("1.1"), "its lock is held");
        assert!(
            !asking.is_gone("3.3"),
            "no file: an older release, alive till it runs out"
        );
        assert!(!asking.is_gone("../x"), "not a name of ours");
        // A process killed without dropping anything: its file stays, its lock does not.
        let (path, file) = {
            let mut alive = alive;
            alive.own.take().unwrap()
        };
        drop(file);
        assert!(path.exists());
        assert!(asking.is_gone("1.1"));
        assert!(!path.exists(), "the dead holder's file is cleared");
        // It held more than one claim: each of them is still seen as the dead one's.
        assert!(asking.is_gone("1.1"));
        assert!(!asking.is_gone("3.3"));
    }
}
