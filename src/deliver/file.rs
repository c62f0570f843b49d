//! The `file` transport: one `.eml` file per digest, for trying Paperboy without a mail
//! server and for piping into other tools.

use std::path::{Path, PathBuf};

use super::SendError;
use crate::store::OutboxItem;

pub struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    pub fn new(dir: &Path) -> Self {
        FileTransport {
            dir: dir.to_path_buf(),
        }
    }

    /// Writes `<slot>-<digest id>-<recipient>.eml`. The name is the same on every attempt and
    /// the file appears whole (written aside, then renamed), so a retry after a crash
    /// replaces rather than duplicates.
    pub async fn send(&self, item: &OutboxItem) -> Result<(), SendError> {
        let io = |e: std::io::Error| SendError::Transient(format!("{}: {e}", self.dir.display()));
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let recipient: String = item
            .subscriber
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "@.-_+".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let name = format!(
            "{}-{}-{recipient}.eml",
            item.slot.format("%Y%m%dT%H%M%S%.3fZ"),
            item.id
        );
        let path = self.dir.join(&name);
        let partial = self.dir.join(format!(".{name}.partial"));
        std::fs::write(&partial, &item.message).map_err(io)?;
        std::fs::rename(&partial, &path).map_err(io)?;
        tracing::debug!(path = %path.display(), "wrote digest");
        Ok(())
    }
}
