//! How far a long run has got, for whoever watches the log: a line every few seconds while
//! it lasts (with the rate), and one at the end.

use std::time::{Duration, Instant};

/// How often a running count is logged.
const EVERY: Duration = Duration::from_secs(3);

pub struct Progress {
    what: &'static str,
    total: usize,
    done: usize,
    started: Instant,
    last_logged: Instant,
}

impl Progress {
    /// `what` names the items: "digests composed".
    pub fn new(what: &'static str, total: usize) -> Self {
        let now = Instant::now();
        Progress {
            what,
            total,
            done: 0,
            started: now,
            last_logged: now,
        }
    }

    /// Counts `n` more done, and logs the count if a while has passed since the last line.
    pub fn add(&mut self, n: usize) {
        self.done += n;
        if self.last_logged.elapsed() >= EVERY {
            self.last_logged = Instant::now();
            tracing::info!(
                "{} of {} {} ({}/s)",
                self.done,
                self.total,
                self.what,
                self.rate()
            );
        }
    }

    /// Logs the final count, if the run was long enough to have shown one along the way or
    /// covered many items.
    pub fn finish(&self) {
        if self.started.elapsed() >= EVERY || self.done >= 1000 {
            tracing::info!(
                "{} {} in {:.1} s ({}/s)",
                self.done,
                self.what,
                self.started.elapsed().as_secs_f64(),
                self.rate()
            );
        }
    }

    fn rate(&self) -> u64 {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        (self.done as f64 / seconds) as u64
    }
}
