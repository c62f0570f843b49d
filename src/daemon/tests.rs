//! The loop under paused tokio time: a day of schedule in milliseconds, with jobs that only
//! record when they ran.

use super::*;
use chrono::{Duration, TimeZone};

fn config(schedules: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paperboy.toml");
    let text = format!(
        "[mail]\nfrom = \"p@example.org\"\n{schedules}\n[[subscribers]]\nemail = \"a@example.org\"\n"
    );
    std::fs::write(&path, text).unwrap();
    Config::load_with_env(&path, std::iter::empty()).unwrap()
}

/// A run as the recorder saw it: what, for which slot, when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ran {
    kind: JobKind,
    slot: DateTime<Utc>,
    at: DateTime<Utc>,
}

struct Recorder {
    config: Config,
    clock: Clock,
    runs: Vec<Ran>,
    /// Digest runs that fail, counted from the first.
    failing_digests: usize,
    /// How long each run takes.
    takes: StdDuration,
    finished: usize,
    reloads: Vec<DateTime<Utc>>,
}

impl Recorder {
    fn new(config: Config, clock: Clock) -> Recorder {
        Recorder {
            config,
            clock,
            runs: Vec::new(),
            failing_digests: 0,
            takes: StdDuration::ZERO,
            finished: 0,
            reloads: Vec::new(),
        }
    }
}

impl Jobs for Recorder {
    fn config(&self) -> &Config {
        &self.config
    }

    async fn run(&mut self, job: Job, slot: DateTime<Utc>, stop: &Stop) -> anyhow::Result<()> {
        self.runs.push(Ran {
            kind: job.kind,
            slot,
            at: self.clock.now(),
        });
        // Like the pipeline: work under way goes on after a stop request.
        let _ = stop;
        tokio::time::sleep(self.takes).await;
        self.finished += 1;
        if job.kind == JobKind::Digest && self.failing_digests > 0 {
            self.failing_digests -= 1;
            anyhow::bail!("the database is locked");
        }
        Ok(())
    }

    fn reload(&mut self) -> Result<(), Error> {
        self.reloads.push(self.clock.now());
        Ok(())
    }

    async fn status(&self, _plan: &Plan) -> String {
        String::new()
    }
}

fn utc(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, day, hour, minute, 0).unwrap()
}

fn ran(kind: JobKind, slot: DateTime<Utc>, at: DateTime<Utc>) -> Ran {
    Ran { kind, slot, at }
}

/// Runs the loop from `start` until `stop_after` of paused time has passed, then stops it.
async fn serve_for(recorder: &mut Recorder, start: DateTime<Utc>, stop_after: StdDuration) {
    let mut plan = Plan::new(&recorder.config, start, None);
    plan.fetch_now(&recorder.config, start);
    let (sender, mut events) = mpsc::unbounded_channel();
    let clock = recorder.clock;
    let stopper = async move {
        tokio::time::sleep(stop_after).await;
        sender.send(Event::Stop).unwrap();
        sender
    };
    let notify = Notifier::from_env();
    let (_, _sender) = tokio::join!(serve(recorder, plan, &mut events, clock, &notify), stopper);
}

fn paused_clock(start: DateTime<Utc>) -> Clock {
    Clock::Tokio {
        start,
        at: tokio::time::Instant::now(),
    }
}

#[tokio::test(start_paused = true)]
async fn jobs_run_when_due_and_a_failed_digest_is_retried_for_its_slot() {
    let start = utc(1, 5, 0);
    let config = config("[schedule]\nfetch = \"0 0 */6 * * *\"\ndigest = \"0 0 7 * * *\"\n");
    let mut recorder = Recorder::new(config, paused_clock(start));
    recorder.failing_digests = 1;
    serve_for(
        &mut recorder,
        start,
        StdDuration::from_secs(27 * 3600 + 30 * 60),
    )
    .await;
    use JobKind::{Digest, Fetch};
    assert_eq!(
        recorder.runs,
        [
            ran(Fetch, start, start), // at start-up, for its own moment
            ran(Fetch, utc(1, 6, 0), utc(1, 6, 0)),
            ran(Digest, utc(1, 7, 0), utc(1, 7, 0)), // fails
            ran(Digest, utc(1, 7, 0), utc(1, 7, 1)), // retried a minute later, same slot
            ran(Fetch, utc(1, 12, 0), utc(1, 12, 0)),
            ran(Fetch, utc(1, 18, 0), utc(1, 18, 0)),
            ran(Fetch, utc(2, 0, 0), utc(2, 0, 0)),
            ran(Fetch, utc(2, 6, 0), utc(2, 6, 0)),
            ran(Digest, utc(2, 7, 0), utc(2, 7, 0)),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_longer_than_the_next_fires_runs_once_for_the_newest() {
    let start = utc(1, 6, 59);
    let config = config("[schedule]\nfetch = \"0 0 0 1 1 *\"\ndigest = \"0 0 * * * *\"\n");
    let mut recorder = Recorder::new(config, paused_clock(start));
    recorder.takes = StdDuration::from_secs(150 * 60);
    serve_for(&mut recorder, start, StdDuration::from_secs(5 * 3600)).await;
    let digests: Vec<_> = recorder
        .runs
        .iter()
        .filter(|r| r.kind == JobKind::Digest)
        .map(|r| (r.slot, r.at))
        .collect();
    // The start-up fetch takes until 09:29, so the 07:00 digest runs late; it ends at 11:59,
    // past the 08:00 to 11:00 fires, which are one run, for 11:00.
    assert_eq!(
        digests[..2],
        [
            (utc(1, 7, 0), utc(1, 9, 29)),
            (utc(1, 11, 0), utc(1, 11, 59)),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_lets_the_run_under_way_finish_within_the_deadline() {
    let start = utc(1, 6, 0);
    let config = config("[schedule]\ndigest = \"0 0 7 * * *\"\n");
    let mut recorder = Recorder::new(config.clone(), paused_clock(start));
    recorder.takes = StdDuration::from_secs(5);
    // Stopped 2 s into the start-up fetch: it finishes, nothing else starts.
    serve_for(&mut recorder, start, StdDuration::from_secs(2)).await;
    assert_eq!((recorder.runs.len(), recorder.finished), (1, 1));

    let mut slow = Recorder::new(config, paused_clock(start));
    slow.takes = StdDuration::from_secs(60);
    let began = tokio::time::Instant::now();
    serve_for(&mut slow, start, StdDuration::from_secs(2)).await;
    assert_eq!((slow.runs.len(), slow.finished), (1, 0), "cut off");
    assert_eq!(began.elapsed(), StdDuration::from_secs(2) + STOP_DEADLINE);
}

#[tokio::test(start_paused = true)]
async fn a_reload_during_a_run_waits_for_it_and_keeps_the_due_fire() {
    let start = utc(1, 6, 59);
    let config = config("[schedule]\nfetch = \"0 0 0 1 1 *\"\ndigest = \"0 0 7 * * *\"\n");
    let mut recorder = Recorder::new(config, paused_clock(start));
    recorder.takes = StdDuration::from_secs(120);
    let mut plan = Plan::new(&recorder.config, start, None);
    plan.fetch_now(&recorder.config, start);
    let (sender, mut events) = mpsc::unbounded_channel();
    let clock = recorder.clock;
    let driver = async move {
        // 30 s into the start-up fetch, which runs until 07:01.
        tokio::time::sleep(StdDuration::from_secs(30)).await;
        sender.send(Event::Reload).unwrap();
        tokio::time::sleep(StdDuration::from_secs(3600)).await;
        sender.send(Event::Stop).unwrap();
    };
    let notify = Notifier::from_env();
    tokio::join!(
        serve(&mut recorder, plan, &mut events, clock, &notify),
        driver
    );
    assert_eq!(recorder.reloads, [start + Duration::seconds(120)]);
    // The 07:00 fire came due during the run; the reload kept it.
    assert_eq!(
        recorder.runs[1],
        ran(
            JobKind::Digest,
            utc(1, 7, 0),
            start + Duration::seconds(120)
        )
    );
}
