//! One `run` per state database: an advisory lock on `<state>.lock`, holding the pid.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::error::{Error, SetupError};

/// One `run` per state database: an advisory lock on `<state>.lock`, holding the pid.
pub struct StateLock {
    _file: File,
}

impl StateLock {
    pub fn acquire(state_path: &Path) -> Result<StateLock, Error> {
        let mut path = state_path.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| SetupError::StatePath {
                path: state_path.to_path_buf(),
                problem: format!("cannot create the folder {}: {e}", dir.display()),
            })?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))
            .map_err(Error::Runtime)?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0)?;
                file.rewind()?;
                write!(file, "{}", std::process::id())?;
                file.flush()?;
                Ok(StateLock { _file: file })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                Err(Error::AlreadyRunning {
                    pid: pid.trim().to_string(),
                    path: state_path.to_path_buf(),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => Err(Error::Runtime(
                anyhow::Error::from(e).context(format!("cannot lock {}", path.display())),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_lock_admits_one_holder_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/paperboy.db");
        let held = StateLock::acquire(&state).unwrap();
        let err = StateLock::acquire(&state).err().unwrap();
        assert!(matches!(err, Error::AlreadyRunning { .. }));
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(held);
        StateLock::acquire(&state).unwrap();
    }
}
