//! Polite HTTP for every source: conditional GET, `Retry-After`, and spacing between the
//! requests to one group of hosts (STYLE.md item 8).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use tokio::time::Instant;

/// Keeps requests to each group of hosts at least an interval apart, across every caller
/// that shares it.
#[derive(Debug, Default)]
pub struct Spacer {
    /// When the latest request of each group starts (or started): the slot it reserved.
    next_free: Mutex<HashMap<&'static str, Instant>>,
}

impl Spacer {
    pub fn new() -> Spacer {
        Spacer::default()
    }

    /// Waits until `interval` has passed since the previous request of `group` started, and
    /// counts the caller's request as started then.
    pub async fn wait(&self, group: &'static str, interval: Duration) {
        // Each caller reserves its slot under the lock and sleeps outside it: concurrent callers
        // get slots in the order they asked, and nobody holds the lock across a sleep.
        let start = {
            let mut last = self
                .next_free
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let start = match last.get(group) {
                Some(&previous) => (previous + interval).max(now),
                None => now,
            };
            last.insert(group, start);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

/// How long a `Retry-After` value (RFC 9110 §10.2.3) asks us to wait from `now`: delay
/// seconds or an HTTP date; a date in the past means now. `None` when it is neither.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still a request to wait, longer than anyone will.
        return Some(value.parse().map_or(Duration::MAX, Duration::from_secs));
    }
    let at = parse_http_date(value)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// The three forms RFC 9110 §5.6.7 obliges a recipient to accept: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form and asctime.
fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc2822(value) {
        return Some(at.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(|at| at.and_utc())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = at("1994-11-06T08:49:00Z");
        let table = [
            ("120", Some(120)),
            (" 0 ", Some(0)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(37)),
            ("Sunday, 06-Nov-94 08:49:37 GMT", Some(37)),
            ("Sun Nov  6 08:49:37 1994", Some(37)),
            ("Sun, 06 Nov 1994 08:48:00 GMT", Some(0)),
            ("Sat, 05 Nov 1994 08:49:37 GMT", Some(0)),
            ("", None),
            ("-5", None),
            ("1.5", None),
            ("soon", None),
        ];
        for (value, seconds) in table {
            assert_eq!(
                parse_retry_after(value, now),
                seconds.map(Duration::from_secs),
                "{value:?}"
            );
        }
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::MAX)
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Utc.with_ymd_and_hms(1994, 11, 6, 8, 49, 37).unwrap())
        );
    }

    /// Seconds since `start`, which the paused clock keeps exact.
    fn since(start: Instant) -> u64 {
        let elapsed = start.elapsed();
        assert_eq!(elapsed.subsec_nanos(), 0, "{elapsed:?}");
        elapsed.as_secs()
    }

    #[tokio::test(start_paused = true)]
    async fn requests_of_a_group_start_an_interval_apart() {
        let spacer = Spacer::new();
        let start = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..3 {
            spacer.wait("arxiv", Duration::from_secs(3)).await;
            starts.push(since(start));
        }
        assert_eq!(starts, [0, 3, 6]);
    }

    #[tokio::test(start_paused = true)]
    async fn other_groups_are_not_delayed() {
        let spacer = Spacer::new();
        let start = Instant::now();
        spacer.wait("arxiv", Duration::from_secs(3)).await;
        spacer.wait("huggingface", Duration::from_secs(3)).await;
        spacer.wait("other", Duration::ZERO).await;
        assert_eq!(since(start), 0);
        spacer.wait("arxiv", Duration::from_secs(3)).await;
        assert_eq!(since(start), 3);
        spacer.wait("huggingface", Duration::from_secs(3)).await;
        assert_eq!(since(start), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_interval_counts_from_the_previous_start_not_from_now() {
        let spacer = Spacer::new();
        let start = Instant::now();
        spacer.wait("arxiv", Duration::from_secs(3)).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        spacer.wait("arxiv", Duration::from_secs(3)).await;
        assert_eq!(since(start), 3);
        tokio::time::sleep(Duration::from_secs(10)).await;
        spacer.wait("arxiv", Duration::from_secs(3)).await;
        assert_eq!(since(start), 13);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_queue() {
        let spacer = Arc::new(Spacer::new());
        let start = Instant::now();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let spacer = Arc::clone(&spacer);
                tokio::spawn(async move {
                    spacer.wait("arxiv", Duration::from_secs(3)).await;
                    since(start)
                })
            })
            .collect();
        let mut starts = Vec::new();
        for task in tasks {
            starts.push(task.await.unwrap());
        }
        starts.sort_unstable();
        assert_eq!(starts, [0, 3, 6, 9]);
    }
}
