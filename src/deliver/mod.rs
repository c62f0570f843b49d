//! Sends what the outbox holds, through one transport seam (SMTP or `.eml` files), retrying
//! transient failures with backoff within a run and leaving them pending for the next.

mod file;
mod smtp;

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use lettre::address::Envelope;

use crate::config::{DeliveryConfig, TransportConfig};
use crate::stop::Stop;
use crate::store::{Claim, OutboxItem, SharedStore, StoreError};

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
pub enum Mailer {
    File(FileTransport),
    Smtp(SmtpTransport),
}

impl Mailer {
    pub fn new(config: &TransportConfig) -> Result<Mailer, SendError> {
        Ok(match config {
            TransportConfig::File { outbox_dir } => Mailer::File(FileTransport::new(outbox_dir)),
            TransportConfig::Smtp(smtp) => Mailer::Smtp(SmtpTransport::new(smtp)?),
        })
    }

    /// One worker's sender: for SMTP, its own connection.
    pub fn sender(&self) -> MailSender<'_> {
        match self {
            Mailer::File(file) => MailSender::File(file),
            Mailer::Smtp(smtp) => MailSender::Smtp(smtp.sender()),
        }
    }

    /// How long one send may take in all, well under [`CLAIM`] so a batch never outlives its
    /// claims.
    fn send_budget(&self) -> Duration {
        let budget = match self {
            Mailer::File(_) => Duration::from_secs(30),
            // Each step of the conversation is bounded by the timeout.
            Mailer::Smtp(smtp) => smtp.send_budget(),
        };
        budget.min(CLAIM.to_std().unwrap_or_default() / 2)
    }

    /// How many messages may be in flight at once.
    fn concurrency(&self) -> usize {
        match self {
            Mailer::File(_) => 1,
            Mailer::Smtp(smtp) => smtp.max_connections(),
        }
    }
}

/// What one worker sends through.
pub enum MailSender<'a> {
    File(&'a FileTransport),
    Smtp(SmtpSender),
}

impl MailSender<'_> {
    async fn send(&mut self, envelope: &Envelope, item: &OutboxItem) -> Result<(), SendError> {
        match self {
            MailSender::File(file) => file.send(item).await,
            MailSender::Smtp(smtp) => smtp.send(envelope, &item.message).await,
        }
    }

    /// Ends the connection politely (QUIT), if there is one.
    async fn close(self) {
        if let MailSender::Smtp(smtp) = self {
            smtp.close().await;
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

/// Sends the pending digests of `recipients` (each subscriber's address by their key in the
/// state), to the address as configured. Each transient failure is retried up to
/// `retries` times, waiting `retry_delay` and doubling; a permanent one marks the digest
/// failed with the server's words. Digests are claimed a batch at a time, right before they
/// are sent, so another process draining the same outbox never sends one of them too. After
/// `stop`, no new batch starts; what is left stays pending.
pub async fn deliver_pending(
    store: &SharedStore,
    mailer: &Mailer,
    config: &DeliveryConfig,
    from: &lettre::Address,
    recipients: &HashMap<String, lettre::Address>,
    stop: &Stop,
) -> Result<DeliveryReport, StoreError> {
    let mut report = DeliveryReport::default();
    let keys: Vec<String> = recipients.keys().cloned().collect();
    let mut queue = store.run(move |s| s.pending(Some(&keys))).await?;
    let mut delay = config.retry_delay;
    // One sender per message in flight, each holding its connection across batches.
    // (Interim: the worker rewrite gives each worker its own sender.)
    let senders = std::sync::Mutex::new(
        (0..mailer.concurrency())
            .map(|_| mailer.sender())
            .collect::<Vec<_>>(),
    );
    for round in 0..=config.retries {
        if queue.is_empty() || stop.requested() {
            break;
        }
        if round > 0 {
            tracing::info!("retrying {} digest(s) in {delay:?}", queue.len());
            if !stop.sleep(delay).await {
                break;
            }
            delay = delay.saturating_mul(2).min(Duration::from_secs(300));
        }
        let mut retry = Vec::new();
        let mut items = queue.into_iter();
        loop {
            if stop.requested() {
                retry.extend(items);
                break;
            }
            let mut batch = Vec::with_capacity(mailer.concurrency());
            for item in items.by_ref() {
                let now = Utc::now();
                let id = item.id;
                match store.run(move |s| s.claim(id, now, now + CLAIM)).await? {
                    Claim::Claimed => {
                        batch.push(item);
                        if batch.len() == mailer.concurrency() {
                            break;
                        }
                    }
                    Claim::HeldElsewhere => {
                        tracing::info!(subscriber = %item.subscriber, digest = id, "being sent by another paperboy process");
                        report.claimed_elsewhere += 1;
                    }
                    // Sent or given up on by another process since the outbox was read.
                    Claim::Gone => {}
                }
            }
            if batch.is_empty() {
                break;
            }
            let budget = mailer.send_budget();
            let mut results = futures_util::stream::iter(batch)
                .map(|item| {
                    let senders = &senders;
                    async move {
                        let mut sender = senders
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .pop()
                            .unwrap_or_else(|| mailer.sender());
                        let send = async {
                            let envelope = envelope(from, &recipients[&item.subscriber])?;
                            sender.send(&envelope, &item).await
                        };
                        // Each SMTP step has its own timeout; this guards the claims against
                        // anything else that could hang.
                        let result =
                            tokio::time::timeout(budget, send)
                                .await
                                .unwrap_or_else(|_| {
                                    Err(SendError::Transient(format!(
                                        "the send did not finish within {budget:?}"
                                    )))
                                });
                        senders
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(sender);
                        (item, result)
                    }
                })
                .buffer_unordered(mailer.concurrency());
            // Record each result as it comes, so a crash mid-batch cannot send one twice. A
            // failed write does not stop the rest of the batch being recorded.
            let mut first_error = None;
            while let Some((item, result)) = results.next().await {
                let recorded = record(store, &item, result, &mut report, &mut retry).await;
                if let Err(e) = recorded {
                    tracing::error!(subscriber = %item.subscriber, digest = item.id, "cannot record the result: {e}");
                    first_error.get_or_insert(e);
                }
            }
            if let Some(e) = first_error {
                return Err(e);
            }
        }
        queue = retry;
    }
    let senders = senders.into_inner().unwrap_or_else(|e| e.into_inner());
    futures_util::future::join_all(senders.into_iter().map(MailSender::close)).await;
    report.pending = queue.len() + report.claimed_elsewhere;
    Ok(report)
}

/// Writes one send's result to the outbox and the report.
async fn record(
    store: &SharedStore,
    item: &OutboxItem,
    result: Result<(), SendError>,
    report: &mut DeliveryReport,
    retry: &mut Vec<OutboxItem>,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let (subscriber, digest) = (&item.subscriber, item.id);
    match result {
        Ok(()) => {
            store.run(move |s| s.mark_sent(digest, now)).await?;
            tracing::info!(%subscriber, digest, "digest sent");
            report.sent += 1;
        }
        Err(SendError::Permanent(e)) => {
            let error = e.clone();
            store
                .run(move |s| s.mark_attempt_failed(digest, &error, true, now))
                .await?;
            tracing::error!(%subscriber, digest, "digest failed: {e}");
            report.failed += 1;
        }
        Err(SendError::Transient(e)) => {
            let error = e.clone();
            store
                .run(move |s| s.mark_attempt_failed(digest, &error, false, now))
                .await?;
            tracing::warn!(%subscriber, digest, "digest not sent yet: {e}");
            retry.push(item.clone());
        }
    }
    Ok(())
}

fn envelope(from: &lettre::Address, to: &lettre::Address) -> Result<Envelope, SendError> {
    Envelope::new(Some(from.clone()), vec![to.clone()])
        .map_err(|e| SendError::Permanent(format!("envelope: {e}")))
}
