//! Sends what the outbox holds, through one transport seam (SMTP or `.eml` files), retrying
//! transient failures with backoff within a run and leaving them pending for the next.

mod file;
mod smtp;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use lettre::address::Envelope;
use tokio::sync::mpsc;

use crate::config::{DeliveryConfig, TransportConfig};
use crate::progress::Progress;
use crate::stop::Stop;
use crate::store::{Due, OutboxItem, SendOutcome, SharedStore, StoreError};

pub use file::FileTransport;
pub use smtp::{SmtpSender, SmtpTransport};

/// How long a sender holds a batch it is sending: twice the longest a send may take (see
/// `Mailer::send_budget`), so a claim only runs out when its holder died.
const CLAIM: chrono::Duration = chrono::Duration::minutes(5);

/// Why one message was not delivered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Worth trying again: a 4xx reply, a refused or dropped connection, a timeout.
    #[error("{0}")]
    Transient(String),
    /// Trying again would give the same answer: a 5xx reply.
    #[error("{0}")]
    Permanent(String),
}

/// The transport seam: every way a digest can leave.
pub struct Mailer {
    pub transport: Transport,
    /// Kept across runs, so that a daemon logs an outage once, not at every tick.
    outage: std::sync::Mutex<Outage>,
}

pub enum Transport {
    File(FileTransport),
    Smtp(SmtpTransport),
}

impl Mailer {
    pub fn new(config: &TransportConfig) -> Result<Mailer, SendError> {
        let transport = match config {
            TransportConfig::File { outbox_dir } => Transport::File(FileTransport::new(outbox_dir)),
            TransportConfig::Smtp(smtp) => Transport::Smtp(SmtpTransport::new(smtp)?),
        };
        Ok(Mailer {
            transport,
            outage: std::sync::Mutex::default(),
        })
    }

    /// The outage tracker; a panic elsewhere while it was held leaves it usable.
    fn outage(&self) -> std::sync::MutexGuard<'_, Outage> {
        self.outage.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A worker's own way out.
    fn sender(&self) -> Sender<'_> {
        match &self.transport {
            Transport::File(file) => Sender::File(file),
            Transport::Smtp(smtp) => Sender::Smtp(smtp.sender()),
        }
    }

    /// How long one send may take in all, well under [`CLAIM`] so a batch never outlives its
    /// claims.
    fn send_budget(&self) -> Duration {
        let budget = match &self.transport {
            Transport::File(_) => Duration::from_secs(30),
            // Each step of the conversation is bounded by the timeout.
            Transport::Smtp(smtp) => smtp.send_budget(),
        };
        budget.min(CLAIM.to_std().unwrap_or_default() / 2)
    }

    /// How many workers send at once: for SMTP, one per connection allowed.
    fn concurrency(&self) -> usize {
        match &self.transport {
            Transport::File(_) => 1,
            Transport::Smtp(smtp) => smtp.max_connections().max(1),
        }
    }
}

/// What a delivery run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: usize,
    /// Still in the outbox after this run's retries; the next run tries again.
    pub pending: usize,
    /// Of `pending`: claimed by another paperboy process when this one came to them.
    pub claimed_elsewhere: usize,
    pub failed: usize,
}

/// Which pending digests a run takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Those whose next attempt has come: the daemon, which runs often, backs off.
    Due,
    /// All of them: someone asked for a run now (`send-now`).
    All,
}

/// How many digests are claimed (and their bodies read) per round trip to the store: enough
/// to keep the workers busy, few enough that memory stays flat whatever the outbox holds.
const CLAIM_BATCH: usize = 64;
/// Most results recorded in one transaction.
const COMMIT_BATCH: usize = 1024;
/// The longest a failing digest waits for its next attempt.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Sends the pending digests of `recipients` (each subscriber's address by their key in the
/// state), to the address as configured. `[smtp] max_connections` workers each hold one
/// connection and take digests from a bounded queue that is fed a claimed batch at a time;
/// their results are recorded in batches as they come (a group commit), so a crash re-sends
/// at most the digests in flight. A transient failure is retried up to `retries` times in the
/// run, waiting `retry_delay` and doubling, and then waits in the outbox for its next attempt
/// (exponential backoff with jitter, at most an hour); a permanent one marks the digest failed
/// with the server's words. After `stop`, nothing new is handed to the workers. With
/// `incoming`, the digests it brings are sent first, as they come, and the rest of what is
/// pending once it is closed.
#[allow(clippy::too_many_arguments)]
pub async fn deliver_pending(
    store: &SharedStore,
    mailer: &Mailer,
    config: &DeliveryConfig,
    from: &lettre::Address,
    recipients: &HashMap<String, lettre::Address>,
    take: Take,
    stop: &Stop,
    incoming: Option<Incoming>,
) -> Result<DeliveryReport, StoreError> {
    let mut report = DeliveryReport::default();
    let mut progress = Progress::new("digests delivered or given up on", "sending", 0);
    let round = Round {
        store,
        mailer,
        from,
        recipients,
        base_delay: config.retry_delay,
        stop,
    };
    // First the digests being composed, as they come: waiting ones of the same subscribers
    // are superseded meanwhile, and are not to be sent under the composer's feet.
    let mut retry = match incoming {
        Some(incoming) => {
            round
                .run(Feed::Incoming(incoming.0), &mut report, &mut progress)
                .await?
        }
        None => Vec::new(),
    };
    let keys: HashSet<String> = recipients.keys().cloned().collect();
    let due_at = (take == Take::Due).then(Utc::now);
    let tried: HashSet<i64> = retry.iter().map(|d| d.id).collect();
    let mut queue = store.run(move |s| s.due(Some(&keys), due_at)).await?;
    // Those tried already wait for the next round, like any other failed this round.
    queue.retain(|due| !tried.contains(&due.id));
    progress.grow(queue.len());
    let mut delay = config.retry_delay;
    for attempt in 0..=config.retries {
        if stop.requested() {
            break;
        }
        if attempt > 0 {
            if retry.is_empty() {
                break;
            }
            tracing::info!("retrying {} digest(s) in {delay:?}", retry.len());
            if !stop.sleep(delay).await {
                break;
            }
            delay = delay.saturating_mul(2).min(Duration::from_secs(300));
            queue = std::mem::take(&mut retry);
        }
        if !queue.is_empty() {
            let failed = round
                .run(
                    Feed::Queue(std::mem::take(&mut queue)),
                    &mut report,
                    &mut progress,
                )
                .await?;
            retry.extend(failed);
        }
    }
    progress.finish();
    report.pending = queue.len() + retry.len() + report.claimed_elsewhere;
    mailer.outage().end_of_run(report.pending);
    Ok(report)
}

/// Digests queued while delivery runs (by `pipeline::compose`), to send as they come.
pub struct Incoming(mpsc::UnboundedReceiver<Vec<Due>>);

/// The composing side of [`Incoming`]; dropping it says nothing more will come.
#[derive(Clone)]
pub struct ToSend(mpsc::UnboundedSender<Vec<Due>>);

impl ToSend {
    /// Hands freshly queued digests to the delivery under way; they are sent by the next run
    /// if it has stopped.
    pub fn send(&self, digests: Vec<Due>) {
        if !digests.is_empty() {
            let _ = self.0.send(digests);
        }
    }
}

/// A way to hand digests to a delivery as they are queued.
pub fn incoming() -> (ToSend, Incoming) {
    let (to_send, incoming) = mpsc::unbounded_channel();
    (ToSend(to_send), Incoming(incoming))
}

/// What a round sends: a list, or what comes until the sender is dropped.
enum Feed {
    Queue(Vec<Due>),
    Incoming(mpsc::UnboundedReceiver<Vec<Due>>),
}

/// One pass over a list of pending digests.
struct Round<'r> {
    store: &'r SharedStore,
    mailer: &'r Mailer,
    from: &'r lettre::Address,
    recipients: &'r HashMap<String, lettre::Address>,
    base_delay: Duration,
    stop: &'r Stop,
}

/// One send's result, on its way to the store.
struct Attempt {
    id: i64,
    subscriber: String,
    attempts: u32,
    result: Result<(), SendError>,
}

impl Round<'_> {
    /// Sends what `feed` brings; returns the digests that failed for now, to retry.
    async fn run(
        &self,
        feed: Feed,
        report: &mut DeliveryReport,
        progress: &mut Progress,
    ) -> Result<Vec<Due>, StoreError> {
        // The feeder grows the count as digests come, the writer counts them done.
        let progress = tokio::sync::Mutex::new(progress);
        let workers = self.mailer.concurrency();
        let (to_workers, from_feeder) = mpsc::channel::<OutboxItem>(workers * 2);
        let from_feeder = tokio::sync::Mutex::new(from_feeder);
        let (to_writer, mut from_workers) = mpsc::unbounded_channel::<Attempt>();
        let mut held_elsewhere = 0;

        let feed = async {
            // Dropping the sender at the end tells the workers there is no more.
            let to_workers = to_workers;
            let claim_and_hand_out = async |batch: Vec<Due>| {
                let now = Utc::now();
                let claimed = self
                    .store
                    .run(move |s| s.claim_batch(&batch, now, now + CLAIM))
                    .await?;
                for due in &claimed.held_elsewhere {
                    tracing::info!(subscriber = %due.subscriber, digest = due.id, "being sent by another paperboy process");
                }
                let held = claimed.held_elsewhere.len();
                for item in claimed.items {
                    if to_workers.send(item).await.is_err() {
                        break;
                    }
                }
                Ok::<_, StoreError>(held)
            };
            match feed {
                Feed::Queue(queue) => {
                    for batch in queue.chunks(CLAIM_BATCH) {
                        if self.stop.requested() {
                            break;
                        }
                        held_elsewhere += claim_and_hand_out(batch.to_vec()).await?;
                    }
                }
                Feed::Incoming(mut incoming) => {
                    while let Some(queued) = incoming.recv().await {
                        if self.stop.requested() {
                            break;
                        }
                        progress.lock().await.grow(queued.len());
                        for batch in queued.chunks(CLAIM_BATCH) {
                            held_elsewhere += claim_and_hand_out(batch.to_vec()).await?;
                        }
                    }
                }
            }
            Ok::<_, StoreError>(())
        };
        let work = futures_util::future::join_all((0..workers).map(|_| {
            let to_writer = to_writer.clone();
            let from_feeder = &from_feeder;
            async move {
                let mut sender = self.mailer.sender();
                loop {
                    let Some(item) = from_feeder.lock().await.recv().await else {
                        break;
                    };
                    let result = self.send(&mut sender, &item).await;
                    let attempt = Attempt {
                        id: item.id,
                        subscriber: item.subscriber,
                        attempts: item.attempts,
                        result,
                    };
                    if to_writer.send(attempt).is_err() {
                        break;
                    }
                }
                sender.close().await;
            }
        }));
        drop(to_writer);
        let write = async {
            let mut retry = Vec::new();
            let mut first_error = None;
            while let Some(first) = from_workers.recv().await {
                // Whatever else has come while the last batch was written goes in this one.
                let mut attempts = vec![first];
                while attempts.len() < COMMIT_BATCH {
                    match from_workers.try_recv() {
                        Ok(attempt) => attempts.push(attempt),
                        Err(_) => break,
                    }
                }
                let done_before = report.sent + report.failed;
                let recorded = self.record(attempts, report, &mut retry).await;
                let mut progress = progress.lock().await;
                progress.detail(format!(
                    "sent {}, failed {}, retrying {}",
                    report.sent,
                    report.failed,
                    retry.len()
                ));
                progress.add(report.sent + report.failed - done_before);
                if let Err(e) = recorded {
                    tracing::error!("cannot record the results of sends: {e}");
                    first_error.get_or_insert(e);
                }
            }
            match first_error {
                Some(e) => Err(e),
                None => Ok(retry),
            }
        };
        let (fed, _, retry) = tokio::join!(feed, work, write);
        fed?;
        report.claimed_elsewhere += held_elsewhere;
        retry
    }

    async fn send(&self, sender: &mut Sender<'_>, item: &OutboxItem) -> Result<(), SendError> {
        let budget = self.mailer.send_budget();
        let send = async {
            let envelope = envelope(self.from, &self.recipients[&item.subscriber])?;
            sender.send(&envelope, item).await
        };
        // A server that stops answering mid-session must not hold the worker (and the
        // claims) forever.
        tokio::time::timeout(budget, send)
            .await
            .unwrap_or_else(|_| {
                Err(SendError::Transient(format!(
                    "no answer within {budget:?}; the server may or may not have taken it"
                )))
            })
    }

    /// Writes a batch of results to the outbox in one transaction, then to the report and
    /// the log.
    async fn record(
        &self,
        attempts: Vec<Attempt>,
        report: &mut DeliveryReport,
        retry: &mut Vec<Due>,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        let outcomes: Vec<(i64, SendOutcome)> = attempts
            .iter()
            .map(|a| {
                let outcome = match &a.result {
                    Ok(()) => SendOutcome::Sent,
                    Err(SendError::Permanent(e)) => SendOutcome::Failed { error: e.clone() },
                    Err(SendError::Transient(e)) => SendOutcome::Retry {
                        error: e.clone(),
                        next_attempt_at: now + backoff(self.base_delay, a.id, a.attempts),
                    },
                };
                (a.id, outcome)
            })
            .collect();
        self.store
            .run(move |s| s.record_outcomes(&outcomes, now))
            .await?;
        let mut outage = self.mailer.outage();
        for Attempt {
            id,
            subscriber,
            result,
            ..
        } in attempts
        {
            match result {
                Ok(()) => {
                    tracing::info!(%subscriber, digest = id, "digest sent");
                    outage.sent();
                    report.sent += 1;
                }
                Err(SendError::Permanent(e)) => {
                    tracing::error!(%subscriber, digest = id, "digest failed: {e}");
                    outage.sent();
                    report.failed += 1;
                }
                Err(SendError::Transient(e)) => {
                    outage.failed(&subscriber, id, &e);
                    retry.push(Due { id, subscriber });
                }
            }
        }
        Ok(())
    }
}

/// When a digest that failed for now is tried again: `base` doubled for each attempt made,
/// at most [`MAX_BACKOFF`], give or take a fifth so that an outage's backlog does not come
/// back all at once.
fn backoff(base: Duration, id: i64, attempts: u32) -> chrono::Duration {
    let doubled = base.saturating_mul(2u32.saturating_pow(attempts.min(20)));
    let capped = doubled.min(MAX_BACKOFF);
    // A spread from the digest and attempt, stable and without a random source: 80–120 %.
    let spread = (id as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(u64::from(attempts))
        % 41;
    let jittered = capped.mul_f64(0.8 + spread as f64 / 100.0);
    chrono::Duration::from_std(jittered).unwrap_or(chrono::Duration::hours(1))
}

/// The relay's trouble as the log tells it: once when sends start failing, once when they
/// go through again, instead of a warning for every digest at every attempt.
#[derive(Debug, Default)]
pub struct Outage {
    /// Failed attempts since the last success, while the trouble lasts.
    failures: Option<usize>,
}

impl Outage {
    fn failed(&mut self, subscriber: &str, digest: i64, error: &str) {
        match &mut self.failures {
            Some(n) => {
                *n += 1;
                tracing::debug!(%subscriber, digest, "digest not sent yet: {error}");
            }
            None => {
                self.failures = Some(1);
                tracing::warn!(%subscriber, digest, "digest not sent yet: {error}; the digests that cannot be sent wait in the outbox and are tried again with backoff (logged once, until sending works again)");
            }
        }
    }

    fn sent(&mut self) {
        if let Some(n) = self.failures.take() {
            tracing::info!("sending works again after {n} failed attempt(s)");
        }
    }

    fn end_of_run(&mut self, pending: usize) {
        if self.failures.is_some() && pending > 0 {
            tracing::warn!("{pending} digest(s) wait in the outbox for their next attempt");
        }
    }
}

/// One worker's way out: for SMTP, a connection of its own, kept from message to message.
pub enum Sender<'m> {
    File(&'m FileTransport),
    Smtp(SmtpSender),
}

impl Sender<'_> {
    async fn send(&mut self, envelope: &Envelope, item: &OutboxItem) -> Result<(), SendError> {
        match self {
            Sender::File(file) => file.send(item).await,
            Sender::Smtp(smtp) => smtp.send(envelope, &item.message).await,
        }
    }

    /// Ends the connection politely (QUIT), if there is one.
    async fn close(self) {
        if let Sender::Smtp(smtp) = self {
            smtp.close().await;
        }
    }
}

fn envelope(from: &lettre::Address, to: &lettre::Address) -> Result<Envelope, SendError> {
    Envelope::new(Some(from.clone()), vec![to.clone()])
        .map_err(|e| SendError::Permanent(format!("envelope: {e}")))
}
