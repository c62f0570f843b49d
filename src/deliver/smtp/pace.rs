//! The pace of sending, shared by every connection of one transport: the relay's quota
//! (`max_per_second`), and a slow-down while the relay answers "try later" (421, 450, 451)
//! again and again, so that Paperboy eases off instead of getting the sender blocked.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Replies "try later" in a row (across all connections) that slow sending down one step.
const SLOW_DOWN_AFTER: u32 = 3;
/// Messages accepted in a row that speed sending up one step again.
const SPEED_UP_AFTER: u32 = 20;
/// The spacing of the first step down; each further step doubles it.
const FIRST_STEP: Duration = Duration::from_millis(100);
/// The slowest pace: one message every this long.
const SLOWEST: Duration = Duration::from_secs(10);

pub(super) struct Pacer {
    /// `host:port`, for the log.
    address: String,
    /// The least time between two messages at full speed; `None`: no quota.
    quota: Option<Duration>,
    /// Whether any spacing applies now, read without the lock on the fast path.
    slowed: AtomicBool,
    /// Whether a "try later" streak is being counted, likewise.
    counting: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// When the next message may start.
    next: Option<Instant>,
    /// Steps down from full speed (0: full speed).
    level: u32,
    throttled_in_a_row: u32,
    accepted_in_a_row: u32,
}

/// How one send ended, as far as the pace is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Accepted,
    /// The server said to try later (421, 450, 451).
    Throttled,
    /// Anything else: says nothing about the relay's load.
    Other,
}

impl Pacer {
    pub fn new(address: String, max_per_second: Option<f64>) -> Pacer {
        let quota = max_per_second.map(|rate| Duration::from_secs_f64(1.0 / rate));
        Pacer {
            address,
            quota,
            slowed: AtomicBool::new(quota.is_some()),
            counting: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        }
    }

    /// Waits for this sender's turn.
    pub async fn wait(&self) {
        if !self.slowed.load(Ordering::Relaxed) {
            return;
        }
        let turn = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let Some(spacing) = self.spacing(state.level) else {
                return;
            };
            let now = Instant::now();
            // No credit for idle time: the quota is a rate at every moment, not on average.
            let turn = state.next.map_or(now, |next| next.max(now));
            state.next = Some(turn + spacing);
            turn
        };
        tokio::time::sleep_until(turn).await;
    }

    pub fn record(&self, outcome: Outcome) {
        if outcome == Outcome::Other
            || (outcome == Outcome::Accepted
                && !self.slowed.load(Ordering::Relaxed)
                && !self.counting.load(Ordering::Relaxed))
        {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Outcome::Throttled => {
                state.accepted_in_a_row = 0;
                state.throttled_in_a_row += 1;
                self.counting.store(true, Ordering::Relaxed);
                if state.throttled_in_a_row >= SLOW_DOWN_AFTER && self.step(state.level) < SLOWEST {
                    state.throttled_in_a_row = 0;
                    state.level += 1;
                    self.slowed.store(true, Ordering::Relaxed);
                    tracing::warn!(
                        "the SMTP server {} keeps answering \"try later\" ({SLOW_DOWN_AFTER} times in a row): slowing down to one message every {:?}",
                        self.address,
                        self.spacing(state.level).unwrap_or(SLOWEST)
                    );
                }
            }
            Outcome::Accepted => {
                state.throttled_in_a_row = 0;
                self.counting.store(false, Ordering::Relaxed);
                if state.level == 0 {
                    return;
                }
                state.accepted_in_a_row += 1;
                if state.accepted_in_a_row >= SPEED_UP_AFTER {
                    state.accepted_in_a_row = 0;
                    state.level -= 1;
                    if state.level == 0 {
                        self.slowed.store(self.quota.is_some(), Ordering::Relaxed);
                        tracing::info!(
                            "the SMTP server {} accepts again: back to full speed",
                            self.address
                        );
                    }
                }
            }
            Outcome::Other => {}
        }
    }

    /// The spacing a slow-down of `level` steps imposes, quota included.
    fn spacing(&self, level: u32) -> Option<Duration> {
        let slow_down = (level > 0).then(|| self.step(level));
        match (self.quota, slow_down) {
            (Some(quota), Some(slow)) => Some(quota.max(slow)),
            (quota, slow) => quota.or(slow),
        }
    }

    fn step(&self, level: u32) -> Duration {
        match level {
            0 => Duration::ZERO,
            _ => FIRST_STEP
                .saturating_mul(1 << (level - 1).min(16))
                .min(SLOWEST),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn elapsed_for(pacer: &Pacer, sends: usize) -> Duration {
        let start = Instant::now();
        for _ in 0..sends {
            pacer.wait().await;
        }
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_quota_or_throttling_nothing_waits() {
        let pacer = Pacer::new("relay:587".into(), None);
        assert_eq!(elapsed_for(&pacer, 100).await, Duration::ZERO);
        // Throttling below the threshold does not slow down.
        pacer.record(Outcome::Throttled);
        pacer.record(Outcome::Throttled);
        pacer.record(Outcome::Accepted);
        pacer.record(Outcome::Throttled);
        assert_eq!(elapsed_for(&pacer, 100).await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quota_spaces_messages_across_all_senders() {
        let pacer = std::sync::Arc::new(Pacer::new("relay:587".into(), Some(10.0)));
        let start = Instant::now();
        let senders: Vec<_> = (0..4)
            .map(|_| {
                let pacer = pacer.clone();
                tokio::spawn(async move {
                    for _ in 0..5 {
                        pacer.wait().await;
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.await.unwrap();
        }
        // 20 messages at 10 a second: the first at once, the last 1.9 s later.
        assert_eq!(start.elapsed(), Duration::from_millis(1900));
    }

    #[tokio::test(start_paused = true)]
    async fn repeated_try_later_slows_down_doubling_and_success_recovers() {
        let pacer = Pacer::new("relay:587".into(), None);
        for _ in 0..SLOW_DOWN_AFTER {
            pacer.record(Outcome::Throttled);
        }
        assert_eq!(elapsed_for(&pacer, 11).await, Duration::from_millis(1000));
        for _ in 0..SLOW_DOWN_AFTER {
            pacer.record(Outcome::Throttled);
        }
        // The step after waits for the one before; then 200 ms apart.
        assert_eq!(elapsed_for(&pacer, 6).await, Duration::from_millis(1100));
        for _ in 0..100 {
            pacer.record(Outcome::Throttled);
        }
        assert_eq!(
            pacer.spacing(pacer.state.lock().unwrap().level),
            Some(SLOWEST)
        );

        // Accepted again: one step up per SPEED_UP_AFTER, back to no waiting at all.
        for _ in 0..SPEED_UP_AFTER * 20 {
            pacer.record(Outcome::Accepted);
        }
        assert_eq!(pacer.state.lock().unwrap().level, 0);
        tokio::time::advance(SLOWEST).await;
        assert_eq!(elapsed_for(&pacer, 100).await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_down_never_speeds_up_past_the_quota() {
        let pacer = Pacer::new("relay:587".into(), Some(2.0));
        for _ in 0..SLOW_DOWN_AFTER {
            pacer.record(Outcome::Throttled);
        }
        // 100 ms of slow-down is faster than the quota's 500 ms: the quota holds.
        assert_eq!(elapsed_for(&pacer, 3).await, Duration::from_millis(1000));
    }
}
