//! How a command ends: the exit code, and the one error type every command returns, whose
//! kind decides the code. Below it, each module has its own typed error; this is where they
//! meet.

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::deliver::SendError;
use crate::render::RenderError;
use crate::store::StoreError;

/// How a command ended, as the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    /// Some digests failed or are still pending, every source failed, or something broke
    /// while running.
    Failure = 1,
    /// A usage or config error, or another `run` holds the state.
    Usage = 2,
}

/// Why a command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file is missing, unreadable or has mistakes.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The command line asks for something the config does not have.
    #[error("{0}")]
    Usage(String),
    /// What the config describes cannot be set up.
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("another `paperboy run` (pid {pid}) is already using the state database {}", path.display())]
    AlreadyRunning { pid: String, path: PathBuf },
    /// Something went wrong while running.
    #[error(transparent)]
    Runtime(#[from] anyhow::Error),
}

impl Error {
    /// A state database error met while running, said with the file it is about: SQLite's
    /// words alone ("disk I/O error", "database is locked") do not say where.
    pub fn naming_state(self, path: &std::path::Path) -> Error {
        match self {
            Error::Runtime(e)
                if matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Sql(_))) =>
            {
                Error::Runtime(e.context(format!("state.path \"{}\"", path.display())))
            }
            other => other,
        }
    }

    pub fn exit(&self) -> Exit {
        match self {
            Error::Config(_) | Error::Usage(_) | Error::Setup(_) | Error::AlreadyRunning { .. } => {
                Exit::Usage
            }
            Error::Runtime(_) => Exit::Failure,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Runtime(e.into())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Runtime(e.into())
    }
}

/// A part of what the config describes that cannot be built: what `check` must catch before
/// `run` meets it.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Templates(#[from] RenderError),
    #[error("delivery.transport: cannot set up the mail transport")]
    Mailer(#[source] SendError),
    #[error("cannot set up the HTTP client")]
    Http(#[source] reqwest::Error),
    #[error("state.path {:?}: {problem}", path.display().to_string())]
    StatePath { path: PathBuf, problem: String },
    #[error(transparent)]
    Web(#[from] crate::web::BindError),
    #[error("state.path {:?}", path.display().to_string())]
    Store {
        path: PathBuf,
        #[source]
        source: StoreError,
    },
}
