//! The daemon's plan: which job fires next, for which slot, and what follows a run. Pure:
//! times in, times out.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::config::{Config, CronSchedule, Subscriber};
use crate::schedule::{next_fire, previous_fire};

/// A digest missed while the machine was off is still sent at start-up if it is this recent.
const CATCH_UP: Duration = Duration::hours(12);
/// A digest run that failed (say, the database was locked) is tried again this much later,
/// for the same slot, unless the next slot comes first.
pub const RETRY_FAILED_RUN: Duration = Duration::minutes(1);

/// What fires: the fetch, or the digests of the subscribers who share a schedule and zone
/// (one job serves them all). The schedule is part of the job, so a reload that changes it
/// makes a new job.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Job {
    pub kind: JobKind,
    pub schedule: String,
    pub timezone: Tz,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    Fetch,
    Digest,
}

impl Job {
    /// Whether this is the digest job of `subscriber`'s schedule and zone.
    fn serves(&self, subscriber: &Subscriber) -> bool {
        self.kind == JobKind::Digest
            && subscriber.schedule.text == self.schedule
            && subscriber.timezone == self.timezone
    }

    pub fn fetch(config: &Config) -> Job {
        Job {
            kind: JobKind::Fetch,
            schedule: config.schedule.fetch.text.clone(),
            timezone: config.schedule.timezone,
        }
    }
}

/// A job's next run: the slot it is for, and when to run it (later than the slot when a
/// failed run is retried).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fire {
    pub slot: DateTime<Utc>,
    pub run_at: DateTime<Utc>,
}

impl Fire {
    pub fn at(slot: DateTime<Utc>) -> Fire {
        Fire { slot, run_at: slot }
    }
}

/// The next run of every job.
pub struct Plan {
    pub next: HashMap<Job, Fire>,
}

impl Plan {
    /// Every job's next fire after `now`. With `catch_up` (each subscriber's last period, at
    /// start-up), a digest whose last fire was missed by less than [`CATCH_UP`] fires at
    /// once, for that missed slot, if one of its subscribers has had a period before it: a
    /// slot from before Paperboy ever served them was never missed.
    pub fn new(
        config: &Config,
        now: DateTime<Utc>,
        catch_up: Option<&HashMap<String, DateTime<Utc>>>,
    ) -> Plan {
        let mut next = HashMap::new();
        if let Some(at) = next_fire(&config.schedule.fetch, config.schedule.timezone, now) {
            next.insert(Job::fetch(config), Fire::at(at));
        }
        for subscriber in &config.subscribers {
            let job = Job {
                kind: JobKind::Digest,
                schedule: subscriber.schedule.text.clone(),
                timezone: subscriber.timezone,
            };
            if next.contains_key(&job) {
                continue;
            }
            let (cron, tz) = (&subscriber.schedule, subscriber.timezone);
            let missed = catch_up.and_then(|last_periods| {
                let missed = previous_fire(cron, tz, now, CATCH_UP)?;
                Plan::group(&job, config)
                    .into_iter()
                    .filter_map(|s| last_periods.get(&s.key))
                    .any(|&last| last < missed)
                    .then_some(missed)
            });
            if let Some(at) = missed.or_else(|| next_fire(cron, tz, now)) {
                next.insert(job, Fire::at(at));
            }
        }
        Plan { next }
    }

    /// Adds a fetch for `now`, run no later than any fire already due (so, on a tie, before
    /// the digests caught up at start-up, which then have the papers).
    pub fn fetch_now(&mut self, config: &Config, now: DateTime<Utc>) {
        let run_at = self
            .earliest()
            .map_or(now, |(_, fire)| fire.run_at.min(now));
        self.next
            .insert(Job::fetch(config), Fire { slot: now, run_at });
    }

    /// Keeps the fires of `old` for the jobs both plans have: a reload must not skip a slot
    /// that is due, nor postpone one that is being retried.
    pub fn keep_from(&mut self, old: &Plan) {
        for (job, fire) in &mut self.next {
            if let Some(kept) = old.next.get(job) {
                *fire = *kept;
            }
        }
    }

    pub fn earliest(&self) -> Option<(Job, Fire)> {
        self.next
            .iter()
            // On a tie the fetch goes first, so the digests see its papers.
            .min_by_key(|(job, fire)| (fire.run_at, job.kind != JobKind::Fetch))
            .map(|(job, fire)| (job.clone(), *fire))
    }

    /// When the next digest goes out, for the status line.
    pub fn next_digest(&self) -> Option<DateTime<Utc>> {
        self.next
            .iter()
            .filter(|(job, _)| job.kind == JobKind::Digest)
            .map(|(_, fire)| fire.run_at)
            .min()
    }

    /// The subscribers a digest job serves.
    pub fn group<'c>(job: &Job, config: &'c Config) -> Vec<&'c Subscriber> {
        config
            .subscribers
            .iter()
            .filter(|s| job.serves(s))
            .collect()
    }

    /// Schedules what follows a run of `job` for `fire`, finished at `now`: the next fire; or
    /// the same slot a minute later if a digest run failed (unless the next fire comes
    /// first); or, if the run overran fires, one run at once for the newest of them.
    pub fn finished(
        &mut self,
        job: &Job,
        fire: Fire,
        succeeded: bool,
        config: &Config,
        now: DateTime<Utc>,
    ) {
        let following = schedule_of(job, config).and_then(|(cron, tz)| {
            let following = next_fire(cron, tz, fire.slot)?;
            Some((cron, tz, following))
        });
        let Some((cron, tz, following)) = following else {
            self.next.remove(job);
            return;
        };
        let retry_at = now + RETRY_FAILED_RUN;
        let next = if !succeeded && job.kind == JobKind::Digest && retry_at < following {
            Fire {
                slot: fire.slot,
                run_at: retry_at,
            }
        } else if following > now {
            Fire::at(following)
        } else {
            let newest = previous_fire(cron, tz, now, CATCH_UP).unwrap_or(following);
            tracing::warn!(
                ?job,
                "the run for {} overran the fires up to {newest}; running once for that one now",
                fire.slot
            );
            Fire {
                slot: newest,
                run_at: now,
            }
        };
        self.next.insert(job.clone(), next);
    }
}

/// The schedule a job runs on, from the config it belongs to.
fn schedule_of<'c>(job: &Job, config: &'c Config) -> Option<(&'c CronSchedule, Tz)> {
    match job.kind {
        JobKind::Fetch => Some((&config.schedule.fetch, config.schedule.timezone)),
        JobKind::Digest => config
            .subscribers
            .iter()
            .find(|s| job.serves(s))
            .map(|s| (&*s.schedule, s.timezone)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn config(subscribers: &str) -> Config {
        load(&format!(
            "[schedule]\ndigest = \"0 0 7 * * *\"\n{subscribers}"
        ))
    }

    fn config_with_digest(cron: &str) -> Config {
        load(&format!(
            "[schedule]\ndigest = \"{cron}\"\n[[subscribers]]\nemail = \"a@example.org\"\n"
        ))
    }

    fn load(rest: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("paperboy.toml");
        let text = format!("[mail]\nfrom = \"p@example.org\"\n{rest}");
        std::fs::write(&path, text).unwrap();
        Config::load_with_env(&path, std::iter::empty()).unwrap()
    }

    /// The plan's one digest job.
    fn digest_job(plan: &Plan) -> Job {
        let mut jobs = plan.next.keys().filter(|j| j.kind == JobKind::Digest);
        let job = jobs.next().unwrap().clone();
        assert!(jobs.next().is_none());
        job
    }

    fn digest_times(plan: &Plan) -> Vec<DateTime<Utc>> {
        let mut times: Vec<_> = plan
            .next
            .iter()
            .filter(|(job, _)| job.kind == JobKind::Digest)
            .map(|(_, fire)| fire.run_at)
            .collect();
        times.sort();
        times
    }

    #[test]
    fn subscribers_sharing_a_schedule_and_zone_share_one_job() {
        let config = config(
            "[[subscribers]]\nemail = \"a@example.org\"\n[[subscribers]]\nemail = \"b@example.org\"\n\
             [[subscribers]]\nemail = \"c@example.org\"\ntimezone = \"Europe/Berlin\"\n",
        );
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 3, 0, 0).unwrap();
        let plan = Plan::new(&config, now, None);
        assert_eq!(
            digest_times(&plan),
            [
                Utc.with_ymd_and_hms(2026, 6, 1, 5, 0, 0).unwrap(), // 07:00 CEST
                Utc.with_ymd_and_hms(2026, 6, 1, 7, 0, 0).unwrap(), // 07:00 UTC
            ]
        );
    }

    #[test]
    fn a_digest_missed_by_less_than_twelve_hours_is_caught_up_at_start() {
        let config = config("[[subscribers]]\nemail = \"a@example.org\"\n");
        let three_hours_late = Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap();
        let yesterday = Utc.with_ymd_and_hms(2026, 5, 31, 7, 0, 0).unwrap();
        let served_before = HashMap::from([("a@example.org".to_string(), yesterday)]);
        assert_eq!(
            digest_times(&Plan::new(&config, three_hours_late, Some(&served_before))),
            [Utc.with_ymd_and_hms(2026, 6, 1, 7, 0, 0).unwrap()],
            "fires at once, for the missed slot"
        );
        // Not on reload, and not when the miss is older than 12 hours.
        assert_eq!(
            digest_times(&Plan::new(&config, three_hours_late, None)),
            [Utc.with_ymd_and_hms(2026, 6, 2, 7, 0, 0).unwrap()]
        );
        let thirteen_hours_late = Utc.with_ymd_and_hms(2026, 6, 1, 20, 0, 0).unwrap();
        assert_eq!(
            digest_times(&Plan::new(
                &config,
                thirteen_hours_late,
                Some(&served_before)
            )),
            [Utc.with_ymd_and_hms(2026, 6, 2, 7, 0, 0).unwrap()]
        );
    }

    #[test]
    fn a_reload_keeps_a_due_fire_and_a_failed_run_is_retried_for_its_slot() {
        let config = config("[[subscribers]]\nemail = \"a@example.org\"\n");
        let seven = Utc.with_ymd_and_hms(2026, 6, 1, 7, 0, 0).unwrap();
        let mut plan = Plan::new(&config, seven - Duration::hours(1), None);
        let job = digest_job(&plan);
        assert_eq!(plan.next[&job], Fire::at(seven));

        // Reloaded just after 07:00, before the fire ran: the fire is kept, not moved to
        // tomorrow.
        let mut reloaded = Plan::new(&config, seven + Duration::seconds(1), None);
        reloaded.keep_from(&plan);
        assert_eq!(reloaded.next[&job], Fire::at(seven));

        // A failed run is retried a minute later for the same slot; a good one moves on to
        // the next day's.
        let ran = seven + Duration::seconds(30);
        plan.finished(&job, Fire::at(seven), false, &config, ran);
        let retry = plan.next[&job];
        assert_eq!(
            retry,
            Fire {
                slot: seven,
                run_at: ran + RETRY_FAILED_RUN
            }
        );
        plan.finished(&job, retry, true, &config, retry.run_at);
        assert_eq!(plan.next[&job], Fire::at(seven + Duration::days(1)));

        // A run that overran the next fires runs once, now, for the newest of them.
        let hourly = config_with_digest("0 0 * * * *");
        let mut plan = Plan::new(&hourly, seven - Duration::minutes(1), None);
        let job = digest_job(&plan);
        let late = seven + Duration::minutes(150);
        plan.finished(&job, Fire::at(seven), true, &hourly, late);
        assert_eq!(
            plan.next[&job],
            Fire {
                slot: seven + Duration::hours(2),
                run_at: late
            }
        );
    }

    #[test]
    fn a_fresh_state_catches_nothing_up_and_the_start_up_fetch_does_not_overrun() {
        let config = config("[[subscribers]]\nemail = \"a@example.org\"\n");
        let three_hours_late = Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap();
        // Nobody has had a period: 07:00 was before Paperboy served anyone.
        let plan = Plan::new(&config, three_hours_late, Some(&HashMap::new()));
        assert_eq!(
            digest_times(&plan),
            [Utc.with_ymd_and_hms(2026, 6, 2, 7, 0, 0).unwrap()]
        );
        // Nor when the last period came after the missed fire (a send-now at 08:00).
        let after = HashMap::from([(
            "a@example.org".to_string(),
            Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0).unwrap(),
        )]);
        let caught = Plan::new(&config, three_hours_late, Some(&after));
        assert_eq!(digest_times(&caught), digest_times(&plan));

        // Caught up (served yesterday), the start-up fetch runs first, for its own moment.
        let yesterday = HashMap::from([(
            "a@example.org".to_string(),
            Utc.with_ymd_and_hms(2026, 5, 31, 7, 0, 0).unwrap(),
        )]);
        let mut plan = Plan::new(&config, three_hours_late, Some(&yesterday));
        plan.fetch_now(&config, three_hours_late);
        let fetch = Job::fetch(&config);
        let seven = Utc.with_ymd_and_hms(2026, 6, 1, 7, 0, 0).unwrap();
        assert_eq!(
            plan.next[&fetch],
            Fire {
                slot: three_hours_late,
                run_at: seven
            }
        );
        assert_eq!(plan.earliest().unwrap().0, fetch);
        let done = three_hours_late + Duration::seconds(5);
        plan.finished(&fetch, plan.next[&fetch], true, &config, done);
        // The next fetch is the schedule's next one (every 30 minutes), not a catch-up.
        assert_eq!(
            plan.next[&fetch],
            Fire::at(Utc.with_ymd_and_hms(2026, 6, 1, 10, 30, 0).unwrap())
        );
    }
}
