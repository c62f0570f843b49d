//! When scheduled work fires: cron expressions evaluated in a time zone, fresh for every fire.
//!
//! tokio-cron-scheduler's `_tz` jobs compute the UTC offset once, when the job is created,
//! and so drift by an hour across a daylight-saving change. Here every next fire time is
//! computed in the zone from the current instant, so 07:00 Europe/Berlin stays 07:00 local
//! on both sides of a change.

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;

use crate::config::CronSchedule;

/// The first fire strictly after `after`, in UTC.
pub fn next_fire(schedule: &CronSchedule, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut from = after.with_timezone(&tz);
    // croner searches local wall-clock time and maps a time that occurs twice (the hour
    // repeated when clocks fall back) to its first instance, which can lie before `after`.
    // Then, as cron does, a schedule over several hours fires again in the repeated hour
    // (its second instance), and one at a fixed hour does not: it fired on the first pass.
    // Bounded: one step per fire inside the repeated hour (3,600 for a per-second cron).
    let repeats_in_second_pass = !fixed_hour(schedule);
    for _ in 0..4_000 {
        let fire = schedule.cron.find_next_occurrence(&from, false).ok()?;
        if fire.with_timezone(&Utc) > after {
            return Some(fire.with_timezone(&Utc));
        }
        let second = tz.from_local_datetime(&fire.naive_local()).latest()?;
        if repeats_in_second_pass && second.with_timezone(&Utc) > after {
            return Some(second.with_timezone(&Utc));
        }
        from = second;
    }
    None
}

/// Whether the hour field names one hour (`7`), not several (`*`, `*/2`, `8-18`, `7,19`).
fn fixed_hour(schedule: &CronSchedule) -> bool {
    schedule
        .text
        .split_whitespace()
        .nth(2)
        .is_some_and(|hour| hour.bytes().all(|b| b.is_ascii_digit()))
}

/// The last fire at or before `now`, looking back at most `within`.
pub fn previous_fire(
    schedule: &CronSchedule,
    tz: Tz,
    now: DateTime<Utc>,
    within: Duration,
) -> Option<DateTime<Utc>> {
    // croner only searches forwards: walk from the start of the look-back window. The step
    // bound keeps a per-second schedule over 12 hours cheap (43,200 steps at most).
    let mut cursor = now - within - Duration::seconds(1);
    let mut last = None;
    for _ in 0..100_000 {
        match next_fire(schedule, tz, cursor) {
            Some(fire) if fire <= now => {
                last = Some(fire);
                cursor = fire;
            }
            _ => break,
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cron(text: &str) -> CronSchedule {
        CronSchedule::parse(text).unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn seven_oclock_in_berlin_stays_seven_oclock_across_spring_forward() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let daily = cron("0 0 7 * * *");
        // 2026-03-29: clocks go from 02:00 CET to 03:00 CEST.
        let before = next_fire(&daily, berlin, utc("2026-03-28T00:00:00Z")).unwrap();
        assert_eq!(before, utc("2026-03-28T06:00:00Z")); // 07:00 CET
        let after = next_fire(&daily, berlin, before).unwrap();
        assert_eq!(after, utc("2026-03-29T05:00:00Z")); // 07:00 CEST
        assert_eq!(
            after.with_timezone(&berlin).format("%H:%M").to_string(),
            "07:00"
        );
    }

    #[test]
    fn seven_oclock_in_berlin_stays_seven_oclock_across_fall_back() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let daily = cron("0 0 7 * * *");
        // 2026-10-25: clocks go from 03:00 CEST back to 02:00 CET.
        let before = next_fire(&daily, berlin, utc("2026-10-24T00:00:00Z")).unwrap();
        assert_eq!(before, utc("2026-10-24T05:00:00Z"));
        let after = next_fire(&daily, berlin, before).unwrap();
        assert_eq!(after, utc("2026-10-25T06:00:00Z"));
    }

    #[test]
    fn a_time_inside_the_skipped_hour_fires_once_that_day() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let at_230 = cron("0 30 2 * * *");
        let fire = next_fire(&at_230, berlin, utc("2026-03-28T12:00:00Z")).unwrap();
        // 02:30 does not exist on 2026-03-29; it must fire once around the change, not skip
        // to the 30th nor fire twice.
        let next = next_fire(&at_230, berlin, fire).unwrap();
        assert!(fire < utc("2026-03-29T12:00:00Z"), "{fire}");
        assert_eq!(next, utc("2026-03-30T00:30:00Z"));
    }

    #[test]
    fn inside_the_repeated_hour_the_next_fire_is_after_now() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let half_hourly = cron("0 */30 * * * *");
        // 2026-10-25 01:10Z is 02:10 CET, the second pass through 02:xx. The next fire is
        // 02:30 CET (01:30Z), not 02:30 CEST (00:30Z), which has passed.
        let after = utc("2026-10-25T01:10:00Z");
        assert_eq!(
            next_fire(&half_hourly, berlin, after),
            Some(utc("2026-10-25T01:30:00Z"))
        );
        // And during the first pass, the first instance.
        let first_pass = utc("2026-10-25T00:10:00Z"); // 02:10 CEST
        assert_eq!(
            next_fire(&half_hourly, berlin, first_pass),
            Some(utc("2026-10-25T00:30:00Z"))
        );
        // Every fire across the night is strictly later than the one before.
        let mut at = utc("2026-10-24T23:00:00Z");
        for _ in 0..8 {
            let next = next_fire(&half_hourly, berlin, at).unwrap();
            assert!(next > at, "{next} after {at}");
            at = next;
        }
    }

    #[test]
    fn a_fixed_hour_in_the_repeated_hour_fires_once() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let at_230 = cron("0 30 2 * * *");
        // 02:30 comes twice on 2026-10-25: 00:30Z (CEST) and 01:30Z (CET).
        let fire = next_fire(&at_230, berlin, utc("2026-10-25T00:00:00Z")).unwrap();
        assert_eq!(fire, utc("2026-10-25T00:30:00Z"));
        // Asked again from inside the second pass (a restart at 01:05Z), it does not fire
        // the second 02:30: the next one is the day after.
        let restart = utc("2026-10-25T01:05:00Z");
        assert_eq!(
            next_fire(&at_230, berlin, restart),
            Some(utc("2026-10-26T01:30:00Z"))
        );
    }

    #[test]
    fn half_hour_offsets_are_kept() {
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        let fire = next_fire(&cron("0 0 7 * * *"), kolkata, utc("2026-06-01T00:00:00Z")).unwrap();
        assert_eq!(fire, utc("2026-06-01T01:30:00Z"));
    }

    #[test]
    fn finds_the_previous_fire_within_the_look_back() {
        let daily = cron("0 0 7 * * *");
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap();
        assert_eq!(
            previous_fire(&daily, Tz::UTC, now, Duration::hours(12)),
            Some(Utc.with_ymd_and_hms(2026, 6, 1, 7, 0, 0).unwrap())
        );
        let early = Utc.with_ymd_and_hms(2026, 6, 1, 6, 0, 0).unwrap();
        assert_eq!(
            previous_fire(&daily, Tz::UTC, early, Duration::hours(12)),
            None
        );
        let every_two = cron("*/2 * * * * *");
        assert_eq!(
            previous_fire(
                &every_two,
                Tz::UTC,
                now + Duration::seconds(3),
                Duration::hours(12)
            ),
            Some(now + Duration::seconds(2))
        );
    }
}
