//! `paperboy run`: the service. Fetches on `[schedule] fetch`, composes and delivers each
//! group of subscribers' digests on their schedule in their time zone, reloads the config on
//! SIGHUP, and stops cleanly on SIGTERM or SIGINT. Talks to systemd (`Type=notify`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use tokio::signal::unix::{SignalKind, signal};

use crate::commands::{self, Exit, UsageError};
use crate::config::{Config, CronSchedule};
use crate::deliver::{self, Mailer};
use crate::digest::{self, Outcome};
use crate::render::Renderer;
use crate::schedule::{next_fire, previous_fire};
use crate::source::{self, PaperSource};
use crate::stop::Stop;
use crate::store::Store;

/// A digest missed while the machine was off is still sent at start-up if it is this recent.
const CATCH_UP: Duration = Duration::hours(12);
/// How long digests being sent may take to finish after SIGTERM; the rest stay pending.
const STOP_DEADLINE: StdDuration = StdDuration::from_secs(8);
/// A digest run that failed (say, the database was locked) is tried again this much later,
/// for the same slot, unless the next slot comes first.
const RETRY_FAILED_RUN: Duration = Duration::minutes(1);

/// The config with everything derived from it; replaced whole on reload.
struct Loaded {
    config: Config,
    renderer: Renderer,
    mailer: Mailer,
    sources: Vec<Box<dyn PaperSource>>,
    /// Every subscriber's key in the state.
    subscriber_keys: Vec<String>,
    loaded_at: DateTime<Utc>,
}

impl Loaded {
    fn new(config: Config) -> anyhow::Result<Loaded> {
        Ok(Loaded {
            renderer: commands::renderer(&config)?,
            mailer: commands::mailer(&config)?,
            sources: source::from_config(&config.sources),
            subscriber_keys: config.subscribers.iter().map(|s| s.key.clone()).collect(),
            loaded_at: Utc::now(),
            config,
        })
    }
}

/// What fires: the fetch, or the digests of the subscribers who share a schedule and zone
/// (one job serves them all). The schedule is part of the job, so a reload that changes it
/// makes a new job.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Job {
    kind: JobKind,
    schedule: String,
    timezone: Tz,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum JobKind {
    Fetch,
    Digest,
}

impl Job {
    fn fetch(config: &Config) -> Job {
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
struct Fire {
    slot: DateTime<Utc>,
    run_at: DateTime<Utc>,
}

impl Fire {
    fn at(slot: DateTime<Utc>) -> Fire {
        Fire { slot, run_at: slot }
    }
}

/// The next run of every job.
struct Plan {
    next: HashMap<Job, Fire>,
}

impl Plan {
    /// Every job's next fire after `now`. With `catch_up`, a digest whose last fire was
    /// missed by less than [`CATCH_UP`] fires at once, for that missed slot.
    fn new(config: &Config, now: DateTime<Utc>, catch_up: bool) -> Plan {
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
            let missed = catch_up
                .then(|| previous_fire(cron, tz, now, CATCH_UP))
                .flatten();
            if let Some(at) = missed.or_else(|| next_fire(cron, tz, now)) {
                next.insert(job, Fire::at(at));
            }
        }
        Plan { next }
    }

    /// Keeps the fires of `old` for the jobs both plans have: a reload must not skip a slot
    /// that is due, nor postpone one that is being retried.
    fn keep_from(&mut self, old: &Plan) {
        for (job, fire) in &mut self.next {
            if let Some(kept) = old.next.get(job) {
                *fire = *kept;
            }
        }
    }

    fn earliest(&self) -> Option<(Job, Fire)> {
        self.next
            .iter()
            // On a tie the fetch goes first, so the digests see its papers.
            .min_by_key(|(job, fire)| (fire.run_at, job.kind != JobKind::Fetch))
            .map(|(job, fire)| (job.clone(), *fire))
    }

    /// Schedules what follows a run of `job` for `fire`, finished at `now`: the next fire; or
    /// the same slot a minute later if a digest run failed (unless the next fire comes
    /// first); or, if the run overran fires, one run at once for the newest of them.
    fn finished(
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
            .find(|s| s.schedule.text == job.schedule && s.timezone == job.timezone)
            .map(|s| (&s.schedule, s.timezone)),
    }
}

pub async fn run(config_path: PathBuf, config: Config) -> anyhow::Result<Exit> {
    let _lock = StateLock::acquire(&config.state_path)?;
    let mut loaded = Loaded::new(config)?;
    let mut store = Store::open(&loaded.config.state_path)?;
    let http = source::http_client().context("cannot set up the HTTP client")?;
    let notify = Notifier::from_env();
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut watchdog = tokio::time::interval(
        notify
            .watchdog_interval()
            .unwrap_or(StdDuration::from_secs(3600)),
    );
    let (stop_handle, stop) = Stop::new();

    let mut plan = Plan::new(&loaded.config, Utc::now(), true);
    // Fetch first thing, before any digest that is caught up, so they have papers.
    let first = plan
        .earliest()
        .map_or(Utc::now(), |(_, fire)| fire.run_at.min(Utc::now()));
    plan.next
        .insert(Job::fetch(&loaded.config), Fire::at(first));
    let mut last_fetch: Option<DateTime<Utc>> = None;
    tracing::info!(
        config = %config_path.display(),
        subscribers = loaded.config.subscribers.len(),
        "paperboy is running"
    );
    notify.send("READY=1");

    // Ends on a stop signal, with the run that was under way then, if any.
    let in_flight = loop {
        notify.send(&format!("STATUS={}", status_line(&plan, &store)));
        let next = plan.earliest();
        let wait = next
            .as_ref()
            .map_or(StdDuration::from_secs(3600), |(_, fire)| {
                (fire.run_at - Utc::now()).to_std().unwrap_or_default()
            });
        // Biased: a stop signal wins over a job that is due, so no new work starts after it.
        tokio::select! {
            biased;
            _ = terminate.recv() => break None,
            _ = interrupt.recv() => break None,
            _ = tokio::time::sleep(wait), if next.is_some() => {
                let Some((job, fire)) = next else { continue };
                let mut work = Box::pin(run_job(
                    job.clone(),
                    fire.slot, &loaded, &mut store, &http, &mut last_fetch, &stop,
                ));
                // A long run must keep the watchdog fed; a reload waits for it to end.
                let result = loop {
                    tokio::select! {
                        biased;
                        result = &mut work => break Some(result),
                        _ = terminate.recv() => break None,
                        _ = interrupt.recv() => break None,
                        _ = watchdog.tick() => notify.send("WATCHDOG=1"),
                    }
                };
                let Some(result) = result else {
                    break Some(work);
                };
                if let Err(e) = &result {
                    tracing::error!("{job:?} for {}: {e:#}", fire.slot);
                }
                plan.finished(&job, fire, result.is_ok(), &loaded.config, Utc::now());
            }
            _ = hangup.recv() => reload(&config_path, &mut loaded, &mut plan, &notify),
            _ = watchdog.tick() => notify.send("WATCHDOG=1"),
        }
    };
    notify.send("STOPPING=1");
    if let Some(work) = in_flight {
        // Nothing new starts; what is being sent may finish up to the deadline. Sends cut
        // off keep their claims: the server may have taken them, so they are not offered
        // again until the claims run out.
        stop_handle.request();
        tracing::info!("stopping: letting the digests being sent finish");
        if tokio::time::timeout(STOP_DEADLINE, work).await.is_err() {
            tracing::warn!(
                "stopped before every digest was sent; the rest stay pending in the outbox"
            );
        }
    }
    tracing::info!("stopped");
    Ok(Exit::Success)
}

fn reload(path: &Path, loaded: &mut Loaded, plan: &mut Plan, notify: &Notifier) {
    notify.send("RELOADING=1");
    match Config::load(path)
        .map_err(anyhow::Error::from)
        .and_then(Loaded::new)
    {
        Ok(new) => {
            if new.config.state_path != loaded.config.state_path {
                tracing::warn!("state.path changed: it takes effect on restart");
            }
            // New subscribers wait for their schedule; nobody is caught up twice.
            let mut fresh = Plan::new(&new.config, Utc::now(), false);
            fresh.keep_from(plan);
            *plan = fresh;
            *loaded = new;
            tracing::info!(
                subscribers = loaded.config.subscribers.len(),
                "config reloaded"
            );
        }
        Err(e) => tracing::error!("config not reloaded, keeping the previous one: {e:#}"),
    }
    notify.send("READY=1");
}

/// Takes the job by value: a run cut short by a stop outlives the loop iteration it began in.
async fn run_job(
    job: Job,
    slot: DateTime<Utc>,
    loaded: &Loaded,
    store: &mut Store,
    http: &reqwest::Client,
    last_fetch: &mut Option<DateTime<Utc>>,
    stop: &Stop,
) -> anyhow::Result<()> {
    let config = &loaded.config;
    let sources = &loaded.sources;
    let unrecorded = match job.kind {
        JobKind::Fetch => {
            source::fetch_into(store, sources, http, Utc::now()).await?;
            *last_fetch = Some(Utc::now());
            false
        }
        JobKind::Digest => {
            // Papers are refreshed first when a fetch was due since the last one.
            let stale = last_fetch.is_none_or(|at| {
                next_fire(&config.schedule.fetch, config.schedule.timezone, at)
                    .is_some_and(|due| due <= Utc::now())
            });
            if stale {
                source::fetch_into(store, sources, http, Utc::now()).await?;
                *last_fetch = Some(Utc::now());
            }
            let group: Vec<_> = config
                .subscribers
                .iter()
                .filter(|s| s.schedule.text == job.schedule && s.timezone == job.timezone)
                .collect();
            let composed =
                digest::compose_all(store, config, &loaded.renderer, &group, slot, stop).await?;
            let queued = composed
                .iter()
                .filter(|(_, o)| matches!(o, Ok(Outcome::Queued { .. })))
                .count();
            tracing::info!(slot = %slot, subscribers = group.len(), queued, "digests composed");
            composed
                .iter()
                .any(|(_, o)| matches!(o, Err(digest::DigestError::Store(_))))
        }
    };
    // Every run also drains the outbox, so a digest left pending by an outage goes out at
    // the next fetch rather than the next day's digest.
    deliver_outbox(loaded, store, stop).await?;
    // A database error (say, locked too long) fails the run so that the slot is retried;
    // the subscribers already composed then come back as composed before.
    if unrecorded {
        anyhow::bail!("some digests of this slot could not be recorded");
    }
    Ok(())
}

async fn deliver_outbox(loaded: &Loaded, store: &mut Store, stop: &Stop) -> anyhow::Result<()> {
    let config = &loaded.config;
    let subscribers = &loaded.subscriber_keys;
    let removed = store.fail_unsubscribed(subscribers, loaded.loaded_at, Utc::now())?;
    if removed > 0 {
        tracing::info!("{removed} pending digest(s) of removed subscribers left the outbox");
    }
    let report = deliver::deliver_pending(
        store,
        &loaded.mailer,
        &config.delivery,
        &config.mail.from.email,
        subscribers,
        stop,
    )
    .await?;
    if report != deliver::DeliveryReport::default() {
        tracing::info!(
            sent = report.sent,
            pending = report.pending,
            failed = report.failed,
            "delivery done"
        );
    }
    Ok(())
}

fn status_line(plan: &Plan, store: &Store) -> String {
    let next = plan
        .next
        .iter()
        .filter(|(job, _)| job.kind == JobKind::Digest)
        .map(|(_, fire)| fire.run_at)
        .min();
    let pending = store
        .outbox_counts()
        .map(|(pending, _)| pending)
        .unwrap_or(0);
    match next {
        Some(at) => format!(
            "next digest {}; {pending} pending",
            at.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        None => format!("no digest scheduled; {pending} pending"),
    }
}

/// One `run` per state database: an advisory lock on `<state>.lock`, holding the pid.
struct StateLock {
    _file: File,
}

impl StateLock {
    fn acquire(state_path: &Path) -> anyhow::Result<StateLock> {
        let mut path = state_path.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the state folder {}", dir.display()))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
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
                Err(UsageError(format!(
                    "another `paperboy run` (pid {}) is already using the state database {}",
                    pid.trim(),
                    state_path.display()
                ))
                .into())
            }
            Err(std::fs::TryLockError::Error(e)) => {
                Err(anyhow::Error::from(e).context(format!("cannot lock {}", path.display())))
            }
        }
    }
}

/// systemd's notification protocol (sd_notify): a datagram to `$NOTIFY_SOCKET`. Without
/// systemd, every call does nothing.
struct Notifier {
    target: Option<(
        std::os::unix::net::UnixDatagram,
        std::os::unix::net::SocketAddr,
    )>,
}

impl Notifier {
    fn from_env() -> Notifier {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|socket| {
            let bytes = socket.as_encoded_bytes();
            let addr = match bytes.strip_prefix(b"@") {
                // A leading @ names a socket in the abstract namespace.
                Some(name) => SocketAddr::from_abstract_name(name).ok()?,
                None => SocketAddr::from_pathname(Path::new(&socket)).ok()?,
            };
            let socket = UnixDatagram::unbound().ok()?;
            // Never wait on systemd: a full queue costs a status line, not the daemon.
            socket.set_nonblocking(true).ok()?;
            Some((socket, addr))
        });
        Notifier { target }
    }

    fn send(&self, message: &str) {
        if let Some((socket, addr)) = &self.target
            && let Err(e) = socket.send_to_addr(message.as_bytes(), addr)
        {
            tracing::debug!("sd_notify {message:?}: {e}");
        }
    }

    /// Half of `WatchdogSec=`, when systemd asks for pings.
    fn watchdog_interval(&self) -> Option<StdDuration> {
        self.target.as_ref()?;
        if let Some(pid) = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            && pid != std::process::id()
        {
            return None;
        }
        let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
        Some(StdDuration::from_micros(usec / 2))
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
        let plan = Plan::new(&config, now, false);
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
        assert_eq!(
            digest_times(&Plan::new(&config, three_hours_late, true)),
            [Utc.with_ymd_and_hms(2026, 6, 1, 7, 0, 0).unwrap()],
            "fires at once, for the missed slot"
        );
        // Not on reload, and not when the miss is older than 12 hours.
        assert_eq!(
            digest_times(&Plan::new(&config, three_hours_late, false)),
            [Utc.with_ymd_and_hms(2026, 6, 2, 7, 0, 0).unwrap()]
        );
        let thirteen_hours_late = Utc.with_ymd_and_hms(2026, 6, 1, 20, 0, 0).unwrap();
        assert_eq!(
            digest_times(&Plan::new(&config, thirteen_hours_late, true)),
            [Utc.with_ymd_and_hms(2026, 6, 2, 7, 0, 0).unwrap()]
        );
    }

    #[test]
    fn a_reload_keeps_a_due_fire_and_a_failed_run_is_retried_for_its_slot() {
        let config = config("[[subscribers]]\nemail = \"a@example.org\"\n");
        let seven = Utc.with_ymd_and_hms(2026, 6, 1, 7, 0, 0).unwrap();
        let mut plan = Plan::new(&config, seven - Duration::hours(1), false);
        let job = digest_job(&plan);
        assert_eq!(plan.next[&job], Fire::at(seven));

        // Reloaded just after 07:00, before the fire ran: the fire is kept, not moved to
        // tomorrow.
        let mut reloaded = Plan::new(&config, seven + Duration::seconds(1), false);
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
        let mut plan = Plan::new(&hourly, seven - Duration::minutes(1), false);
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
    fn the_state_lock_admits_one_holder_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/paperboy.db");
        let held = StateLock::acquire(&state).unwrap();
        let err = StateLock::acquire(&state).err().unwrap();
        assert!(err.is::<UsageError>());
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(held);
        StateLock::acquire(&state).unwrap();
    }
}
