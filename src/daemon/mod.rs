//! `paperboy run`: the service. Fetches on `[schedule] fetch`, composes and delivers each
//! group of subscribers' digests on their schedule in their time zone, reloads the config on
//! SIGHUP, and stops cleanly on SIGTERM or SIGINT. Talks to systemd (`Type=notify`).
//!
//! `plan` decides what fires when; `serve` waits for it, runs it and hears signals;
//! `Service` is what a run does, through the pipeline.

mod lock;
mod notify;
mod plan;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::app::App;
use crate::config::Config;
use crate::deliver::Take;
use crate::digest::{Keep, Outcome};
use crate::error::{Error, Exit, SetupError};
use crate::pipeline;
use crate::schedule::next_fire;
use crate::stop::Stop;
use crate::store::SharedStore;
use crate::web::WebServer;

use lock::StateLock;
use notify::Notifier;
use plan::{Job, JobKind, Plan};

/// How long the status line may wait for the state database.
const STATUS_WAIT: StdDuration = StdDuration::from_secs(1);
/// How long digests being sent may take to finish after SIGTERM; the rest stay pending.
const STOP_DEADLINE: StdDuration = StdDuration::from_secs(8);

pub async fn run(config_path: PathBuf, app: App) -> Result<Exit, Error> {
    let _lock = StateLock::acquire(&app.config.state_path)?;
    let store = app.open_store()?;
    let notify = Notifier::from_env();
    let mut events = signals()?;
    let web = match &app.config.web {
        Some(config) => Some(WebServer::start(config, store.clone()).map_err(SetupError::from)?),
        None => None,
    };
    let last_periods = store
        .run(|s| s.cursors())
        .await?
        .into_iter()
        .map(|(key, cursor)| (key, cursor.last_slot))
        .collect();
    let now = Utc::now();
    let mut plan = Plan::new(&app.config, now, Some(&last_periods));
    // Fetch first thing, before any digest that is caught up, so they have papers.
    plan.fetch_now(&app.config, now);
    tracing::info!(
        config = %config_path.display(),
        subscribers = app.config.subscribers.len(),
        skipped = app.config.skipped.len(),
        "paperboy is running"
    );
    let mut service = Service {
        config_path,
        app,
        store,
        last_fetch: None,
        web,
    };
    serve(&mut service, plan, &mut events, Clock::System, &notify).await;
    if let Some(web) = service.web.take() {
        web.stop().await;
    }
    Ok(Exit::Success)
}

/// What the loop hears from outside: SIGHUP, and SIGTERM or SIGINT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Reload,
    Stop,
}

/// The signals as events. A task forwards them, so the loop has one place to hear from.
fn signals() -> Result<mpsc::UnboundedReceiver<Event>, Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind| {
        signal(kind).map_err(|e| Error::Runtime(anyhow::Error::from(e).context("signals")))
    };
    let (mut hangup, mut terminate, mut interrupt) = (
        listen(SignalKind::hangup())?,
        listen(SignalKind::terminate())?,
        listen(SignalKind::interrupt())?,
    );
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                _ = hangup.recv() => Event::Reload,
                _ = terminate.recv() => Event::Stop,
                _ = interrupt.recv() => Event::Stop,
            };
            if sender.send(event).is_err() {
                break;
            }
        }
    });
    Ok(receiver)
}

/// The time the loop plans by: the system's, or in tests one that moves with paused tokio
/// time, so a day of schedule runs in milliseconds.
#[derive(Debug, Clone, Copy)]
enum Clock {
    System,
    #[cfg_attr(not(test), allow(dead_code))]
    Tokio {
        start: DateTime<Utc>,
        at: tokio::time::Instant,
    },
}

impl Clock {
    fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Tokio { start, at } => {
                *start + chrono::Duration::from_std(at.elapsed()).unwrap_or_default()
            }
        }
    }
}

/// What the loop runs: jobs, reloads and the status line.
trait Jobs {
    fn config(&self) -> &Config;
    /// Takes the job by value: a run cut short by a stop outlives the loop iteration it
    /// began in.
    fn run(
        &mut self,
        job: Job,
        slot: DateTime<Utc>,
        stop: &Stop,
    ) -> impl Future<Output = anyhow::Result<()>>;
    /// Loads the config again; on a mistake the old one stays and the error says why.
    fn reload(&mut self) -> Result<(), Error>;
    fn status(&self, plan: &Plan) -> impl Future<Output = String>;
}

/// Runs the plan until a stop event: each job when it is due, reloads in between, the
/// watchdog fed throughout. A run under way at the stop may finish up to [`STOP_DEADLINE`].
async fn serve<J: Jobs>(
    jobs: &mut J,
    mut plan: Plan,
    events: &mut mpsc::UnboundedReceiver<Event>,
    clock: Clock,
    notify: &Notifier,
) {
    let mut watchdog = tokio::time::interval(
        notify
            .watchdog_interval()
            .unwrap_or(StdDuration::from_secs(3600)),
    );
    let (stop_handle, stop) = Stop::new();
    notify.send("READY=1");
    // A reload heard during a run waits for the run to end.
    let mut reload_due = false;
    // Ends on a stop, with the run that was under way then, if any.
    let in_flight = loop {
        if std::mem::take(&mut reload_due) {
            reload(jobs, &mut plan, clock, notify);
        }
        // Bounded: a database locked by another process must not hold up signals and the
        // watchdog; the status line can wait for the next turn.
        if let Ok(status) = tokio::time::timeout(STATUS_WAIT, jobs.status(&plan)).await {
            notify.send(&format!("STATUS={status}"));
        }
        let next = plan.earliest();
        let wait = next
            .as_ref()
            .map_or(StdDuration::from_secs(3600), |(_, fire)| {
                (fire.run_at - clock.now()).to_std().unwrap_or_default()
            });
        // Biased: a stop wins over a job that is due, so no new work starts after it.
        tokio::select! {
            biased;
            event = events.recv() => match event {
                Some(Event::Reload) => reload_due = true,
                Some(Event::Stop) | None => break None,
            },
            _ = tokio::time::sleep(wait), if next.is_some() => {
                let Some((job, fire)) = next else { continue };
                let mut work = Box::pin(jobs.run(job.clone(), fire.slot, &stop));
                let result = loop {
                    tokio::select! {
                        biased;
                        result = &mut work => break Some(result),
                        event = events.recv() => match event {
                            Some(Event::Reload) => reload_due = true,
                            Some(Event::Stop) | None => break None,
                        },
                        _ = watchdog.tick() => notify.send("WATCHDOG=1"),
                    }
                };
                let Some(result) = result else {
                    break Some(work);
                };
                drop(work);
                if let Err(e) = &result {
                    tracing::error!("{job:?} for {}: {e:#}", fire.slot);
                }
                plan.finished(&job, fire, result.is_ok(), jobs.config(), clock.now());
            }
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
}

fn reload<J: Jobs>(jobs: &mut J, plan: &mut Plan, clock: Clock, notify: &Notifier) {
    notify.send("RELOADING=1");
    match jobs.reload() {
        Ok(()) => {
            // New subscribers wait for their schedule; nobody is caught up twice.
            let mut fresh = Plan::new(jobs.config(), clock.now(), None);
            fresh.keep_from(plan);
            *plan = fresh;
            tracing::info!(
                subscribers = jobs.config().subscribers.len(),
                skipped = jobs.config().skipped.len(),
                "config reloaded"
            );
        }
        Err(e) => tracing::error!(
            "config not reloaded, keeping the previous one: {}",
            crate::error_chain(&e)
        ),
    }
    notify.send("READY=1");
}

/// The daemon's jobs, run through the pipeline on the app of the config last loaded.
struct Service {
    config_path: PathBuf,
    app: App,
    store: SharedStore,
    /// When the sources were last fetched with at least one answering.
    last_fetch: Option<DateTime<Utc>>,
    /// The unsubscribe listener, with `[web]`.
    web: Option<WebServer>,
}

impl Service {
    async fn fetch(&mut self) -> anyhow::Result<()> {
        let summary = pipeline::fetch(&self.app, &self.store, Utc::now(), None).await?;
        // After a fetch that brought nothing, the next digest tries again.
        if !summary.all_failed() {
            self.last_fetch = Some(Utc::now());
        }
        Ok(())
    }

    /// Whether a fetch was due since the last one that worked.
    fn papers_stale(&self) -> bool {
        let schedule = &self.app.config.schedule;
        self.last_fetch.is_none_or(|at| {
            next_fire(&schedule.fetch, schedule.timezone, at).is_some_and(|due| due <= Utc::now())
        })
    }

    /// Serves the reloaded `[web]`: in place on the same address, else bound anew before
    /// the old listener stops, so a new address that cannot be bound fails the reload and
    /// leaves the old config (whose digests carry links the old listener answers) in force.
    fn reload_web(&mut self, config: Option<&crate::config::WebConfig>) -> Result<(), Error> {
        if let (Some(server), Some(config)) = (&self.web, config)
            && server.listen() == config.listen
        {
            server.update(config);
            return Ok(());
        }
        let started = match config {
            Some(config) => {
                Some(WebServer::start(config, self.store.clone()).map_err(SetupError::from)?)
            }
            None => None,
        };
        if let Some(old) = std::mem::replace(&mut self.web, started) {
            tokio::spawn(old.stop());
        }
        Ok(())
    }
}

impl Jobs for Service {
    fn config(&self) -> &Config {
        &self.app.config
    }

    async fn run(&mut self, job: Job, slot: DateTime<Utc>, stop: &Stop) -> anyhow::Result<()> {
        if job.kind == JobKind::Fetch || self.papers_stale() {
            self.fetch().await?;
        }
        if job.kind == JobKind::Digest {
            let group = Plan::group(&job, &self.app.config);
            let composed = pipeline::compose(
                &self.app,
                &self.store,
                &group,
                (slot, Keep::Summary),
                stop,
                None,
            )
            .await?;
            let queued = composed
                .iter()
                .filter(|(_, o)| matches!(o, Ok(Outcome::Queued(_))))
                .count();
            tracing::info!(slot = %slot, subscribers = group.len(), queued, "digests composed");
        }
        // Every run also drains the outbox, so a digest left pending by an outage goes out at
        // the next fetch rather than the next day's digest.
        pipeline::deliver(&self.app, &self.store, None, Take::Due, stop).await?;
        Ok(())
    }

    fn reload(&mut self) -> Result<(), Error> {
        let app = App::load(&self.config_path)?;
        if app.config.state_path != self.app.config.state_path {
            tracing::warn!("state.path changed: it takes effect on restart");
        }
        self.reload_web(app.config.web.as_ref())?;
        self.app = app;
        Ok(())
    }

    async fn status(&self, plan: &Plan) -> String {
        let pending = self
            .store
            .run(|s| s.outbox_counts())
            .await
            .map_or(0, |(pending, _)| pending);
        let skipped = match self.app.config.skipped.len() {
            0 => String::new(),
            n => format!("; {n} subscriber(s) skipped for config problems"),
        };
        match plan.next_digest() {
            Some(at) => format!(
                "next digest {}; {pending} pending{skipped}",
                at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            None => format!("no digest scheduled; {pending} pending{skipped}"),
        }
    }
}

#[cfg(test)]
mod tests;
