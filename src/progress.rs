//! How far a long run has got. On a terminal, for a command that asks for it (`send-now`), a
//! progress bar; otherwise, for whoever watches the log, a line every few seconds while it
//! lasts (with the rate) and one at the end.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a running count is logged.
const EVERY: Duration = Duration::from_secs(3);

/// Whether bars may be drawn: set by the commands a person watches.
static BARS: AtomicBool = AtomicBool::new(false);

/// The bar being drawn, if any, which log lines must step around.
static SHOWN: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Lets the progress of this process show as bars when stderr is a terminal.
pub fn show_bars() {
    BARS.store(std::io::stderr().is_terminal(), Ordering::Relaxed);
}

pub struct Progress {
    what: &'static str,
    total: usize,
    done: usize,
    /// What the count is made of ("sent 10 · failed 1"), where there is more than one kind.
    detail: String,
    started: Instant,
    last_logged: Instant,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// `what` names the items ("digests composed"), `doing` what a bar says ("composing").
    pub fn new(what: &'static str, doing: &'static str, total: usize) -> Self {
        let now = Instant::now();
        let bar = BARS.load(Ordering::Relaxed).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr())
                    .with_style(
                        ProgressStyle::with_template("{prefix} [{bar:20}] {pos}/{len} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    )
                    .with_prefix(doing);
            *SHOWN.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
            bar
        });
        Progress {
            what,
            total,
            done: 0,
            detail: String::new(),
            started: now,
            last_logged: now,
            bar,
        }
    }

    /// Counts `n` more done, and logs the count if a while has passed since the last line.
    pub fn add(&mut self, n: usize) {
        self.done += n;
        if let Some(bar) = &self.bar {
            bar.set_position(self.done as u64);
            bar.set_message(format!("{}/s{}", self.rate(), self.detail_suffix(", ")));
        } else if self.last_logged.elapsed() >= EVERY {
            self.last_logged = Instant::now();
            tracing::info!(
                "{} of {} {} ({}/s){}",
                self.done,
                self.total,
                self.what,
                self.rate(),
                self.detail_suffix(": ")
            );
        }
    }

    /// Counts `n` more to do.
    pub fn grow(&mut self, n: usize) {
        self.total += n;
        if let Some(bar) = &self.bar {
            bar.set_length(self.total as u64);
        }
    }

    /// What the count is made of, shown from the next [`Progress::add`] on.
    pub fn detail(&mut self, detail: String) {
        self.detail = detail;
    }

    /// Logs the final count, if the run was long enough to have shown one along the way or
    /// covered many items; takes the bar down.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            SHOWN.lock().unwrap_or_else(PoisonError::into_inner).take();
        }
        if self.started.elapsed() >= EVERY || self.done >= 1000 {
            tracing::info!(
                "{} {} in {:.1} s ({}/s){}",
                self.done,
                self.what,
                self.started.elapsed().as_secs_f64(),
                self.rate(),
                self.detail_suffix(": ")
            );
        }
    }

    /// The detail after `separator`, or nothing without one.
    fn detail_suffix(&self, separator: &str) -> String {
        if self.detail.is_empty() {
            String::new()
        } else {
            format!("{separator}{}", self.detail)
        }
    }

    fn rate(&self) -> u64 {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        (self.done as f64 / seconds) as u64
    }
}

/// Where log lines go: stderr, around the bar being drawn so that neither garbles the other.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let shown = SHOWN.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match shown {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf)),
            None => std::io::stderr().write_all(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_details_add_up_without_a_terminal() {
        let mut progress = Progress::new("digests composed", "composing", 3);
        assert!(progress.bar.is_none());
        progress.detail("sent 1 · failed 1".into());
        progress.add(2);
        assert_eq!(progress.done, 2);
        assert_eq!(progress.detail_suffix(": "), ": sent 1 · failed 1");
        progress.finish();
    }
}
