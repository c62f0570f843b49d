//! One run's stages over the application core, shared by every command and the daemon: fetch
//! the sources into the store, compose each subscriber's digest into the outbox, deliver the
//! outbox. The decisions live in the stages (`digest`, `deliver`); this is the I/O around them.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::config::Subscriber;
use crate::deliver::{self, DeliveryReport};
use crate::digest::{self, DigestError, Eligible, Outcome, TopicMatches};
use crate::paper::Paper;
use crate::stop::Stop;
use crate::store::{DigestContent, NewDigest, Recorded, SharedStore, StoreError, StoredPaper};
use crate::topics::{PaperIndex, QueryId, QuerySet};

/// What one fetch of every source brought.
#[derive(Debug, Default)]
pub struct FetchSummary {
    /// Papers first seen in this fetch, in the order the sources listed them.
    pub new: Vec<Paper>,
    /// Known papers whose upvotes and links were refreshed.
    pub updated: usize,
    pub sources: usize,
    /// Each failed source with what went wrong.
    pub failures: Vec<(&'static str, String)>,
}

impl FetchSummary {
    /// Every enabled source failed, so this run saw nothing new.
    pub fn all_failed(&self) -> bool {
        self.sources > 0 && self.failures.len() == self.sources
    }
}

/// Fetches every source and stores what each returned. A failing source is logged and
/// reported; the others go on.
pub async fn fetch(
    app: &App,
    store: &SharedStore,
    now: DateTime<Utc>,
) -> Result<FetchSummary, StoreError> {
    let mut summary = FetchSummary {
        sources: app.sources.len(),
        ..FetchSummary::default()
    };
    for source in &app.sources {
        let name = source.name();
        let papers = match source.fetch(&app.http, now).await {
            Ok(papers) => papers,
            Err(e) => {
                tracing::error!(source = name, "fetch failed: {e}");
                summary.failures.push((name, e.to_string()));
                continue;
            }
        };
        let (papers, report) = store
            .run(move |s| {
                let report = s.upsert_papers(name, &papers, now)?;
                Ok::<_, StoreError>((papers, report))
            })
            .await?;
        tracing::info!(
            source = name,
            "fetched {} papers, {} new",
            papers.len(),
            report.new.len()
        );
        let new: HashSet<String> = report.new.into_iter().collect();
        summary
            .new
            .extend(papers.into_iter().filter(|p| new.contains(&p.arxiv_id)));
        summary.updated += report.updated;
    }
    if summary.all_failed() {
        tracing::error!("every source failed; composing from the papers already stored");
    }
    Ok(summary)
}

/// Each subscriber with what their digest came to.
pub type Composed<'s> = Vec<(&'s Subscriber, Result<Outcome, DigestError>)>;

/// How many subscribers are composed per round trip to the store: their history is read in
/// one call and their periods recorded in one transaction, and between two chunks a daemon
/// composing for many answers signals and feeds the watchdog.
const CHUNK: usize = 256;

/// Composes this period's digest for each of `subscribers` and puts it in the outbox. A
/// render failure affects only its own subscriber, who is composed again next time. After
/// `stop`, the subscribers not reached yet are left out.
pub async fn compose<'s>(
    app: &App,
    store: &SharedStore,
    subscribers: &[&'s Subscriber],
    slot: DateTime<Utc>,
    stop: &Stop,
) -> Result<Composed<'s>, StoreError> {
    let now = Utc::now();
    let (up_to, first_lower, cursors) = store
        .run(move |s| {
            let up_to = s.latest_seq()?;
            let first_lower = s.seq_before(now - digest::FIRST_WINDOW)?;
            Ok::<_, StoreError>((up_to, first_lower, s.cursors()?))
        })
        .await?;
    // One index over the widest window; each subscriber then filters by their own bounds.
    let widest = subscribers
        .iter()
        .map(|s| digest::lower_bound(cursors.get(&s.key), first_lower))
        .fold(up_to, i64::min);
    let candidates: Vec<StoredPaper> = store.run(move |s| s.papers_in_range(widest, up_to)).await?;
    let index = PaperIndex::new(candidates.iter().map(|c| &c.paper));
    let mut queries = QuerySet::new();
    let topic_ids: Vec<Vec<QueryId>> = subscribers
        .iter()
        .map(|s| s.topics.iter().map(|t| queries.add(&t.query)).collect())
        .collect();
    let matches = queries.evaluate(&index);

    let mut outcomes: Composed<'s> = Vec::with_capacity(subscribers.len());
    for (chunk_start, chunk) in (0..subscribers.len()).step_by(CHUNK).map(|start| {
        (
            start,
            &subscribers[start..(start + CHUNK).min(subscribers.len())],
        )
    }) {
        if stop.requested() {
            tracing::info!(
                "stopping: {} digest(s) not composed",
                subscribers.len() - chunk_start
            );
            break;
        }
        // What each subscriber's history must answer: which of their eligible papers they
        // were given before.
        let mut eligible: Vec<Option<Eligible>> = Vec::with_capacity(chunk.len());
        let mut asks: Vec<(String, Vec<String>)> = Vec::new();
        for (offset, subscriber) in chunk.iter().enumerate() {
            let cursor = cursors.get(&subscriber.key);
            if cursor.is_some_and(|c| c.last_slot >= slot) {
                eligible.push(None);
                continue;
            }
            let wanted = TopicMatches::new(&matches, &topic_ids[chunk_start + offset]);
            let lower = digest::lower_bound(cursor, first_lower);
            let chosen = Eligible::new(&candidates, lower, &wanted, subscriber.min_upvotes);
            asks.push((subscriber.key.clone(), chosen.arxiv_ids(&candidates)));
            eligible.push(Some(chosen));
        }
        let given: HashMap<String, HashSet<String>> = store
            .run(move |s| {
                let mut given = HashMap::with_capacity(asks.len());
                for (key, ids) in asks {
                    let of_key = s.given_among(&key, &ids)?;
                    given.insert(key, of_key);
                }
                Ok::<_, StoreError>(given)
            })
            .await?;

        let mut digests = Vec::new();
        let mut results = Vec::with_capacity(chunk.len());
        for (offset, (subscriber, eligible)) in chunk.iter().zip(eligible).enumerate() {
            let Some(eligible) = eligible else {
                results.push(Ok(Outcome::AlreadyComposed));
                continue;
            };
            let wanted = TopicMatches::new(&matches, &topic_ids[chunk_start + offset]);
            let none = HashSet::new();
            let given = given.get(&subscriber.key).unwrap_or(&none);
            let picks = eligible.choose(&candidates, &wanted, given, subscriber.max_papers);
            let cursor = cursors.get(&subscriber.key);
            let period = |content| NewDigest {
                subscriber: subscriber.key.clone(),
                slot,
                based_on: cursor.cloned(),
                window_end_seq: digest::lower_bound(cursor, first_lower).max(up_to),
                composed_at: now,
                content,
            };
            let picks = match picks {
                Ok(picks) => picks,
                Err(reason) if !subscriber.send_empty => {
                    digests.push(period(DigestContent::Nothing {
                        reason: reason.to_string(),
                    }));
                    results.push(Ok(Outcome::Nothing(reason)));
                    continue;
                }
                Err(_) => Vec::new(),
            };
            let composed = digest::compose(
                &app.config,
                &app.renderer,
                subscriber,
                &candidates,
                &picks,
                slot,
                now,
            );
            match composed {
                Ok(composed) => {
                    digests.push(period(DigestContent::Message {
                        message_id: composed.message_id,
                        message: composed.message,
                        papers: composed.papers,
                    }));
                    results.push(Ok(Outcome::Queued {
                        rendered: Box::new(composed.rendered),
                        titles: composed.titles,
                    }));
                }
                Err(e) => {
                    tracing::error!(subscriber = %subscriber.email, "cannot compose the digest: {e}");
                    results.push(Err(e));
                }
            }
        }

        let recorded = store.run(move |s| s.record_digests(&digests)).await?;
        let mut recorded = recorded.into_iter();
        for (subscriber, result) in chunk.iter().zip(results) {
            // Each recorded period belongs to the next result that made one, in order.
            let outcome = match result {
                Ok(Outcome::AlreadyComposed) | Err(_) => result,
                Ok(outcome) => match recorded.next() {
                    Some(Recorded::Conflict) => {
                        tracing::info!(subscriber = %subscriber.email, "composed meanwhile by another paperboy process");
                        Ok(Outcome::AlreadyComposed)
                    }
                    _ => Ok(outcome),
                },
            };
            outcomes.push((*subscriber, outcome));
        }
        tokio::task::yield_now().await;
    }
    Ok(outcomes)
}

/// What delivering the outbox did.
#[derive(Debug, Default)]
pub struct Delivered {
    pub report: DeliveryReport,
    /// Pending digests of subscribers no longer in the config, taken out of the outbox.
    pub removed: usize,
}

/// Drains the outbox for `only` those subscribers, or everyone: first takes out the digests
/// of subscribers who left and drops the message bodies older than `[state] keep_messages`,
/// then sends what is pending.
pub async fn deliver(
    app: &App,
    store: &SharedStore,
    only: Option<&[&Subscriber]>,
    stop: &Stop,
) -> Result<Delivered, StoreError> {
    let now = Utc::now();
    let everyone: HashSet<String> = app.recipients.keys().cloned().collect();
    let (loaded_at, keep) = (app.loaded_at, app.keep_messages());
    let removed = store
        .run(move |s| {
            let removed = s.fail_unsubscribed(&everyone, loaded_at, now)?;
            if let Some(before) = now.checked_sub_signed(keep) {
                let pruned = s.prune_messages(before)?;
                if pruned > 0 {
                    tracing::debug!("dropped the message bodies of {pruned} old digest(s)");
                }
            }
            Ok::<_, StoreError>(removed)
        })
        .await?;
    if removed > 0 {
        tracing::info!("{removed} pending digest(s) of removed subscribers left the outbox");
    }
    let selected;
    let recipients = match only {
        Some(subscribers) => {
            selected = crate::app::recipients(subscribers.iter().copied());
            &selected
        }
        None => &app.recipients,
    };
    let report = deliver::deliver_pending(
        store,
        &app.mailer,
        &app.config.delivery,
        &app.config.mail.from.email,
        recipients,
        stop,
    )
    .await?;
    if report != DeliveryReport::default() {
        tracing::info!(
            sent = report.sent,
            pending = report.pending,
            failed = report.failed,
            "delivery done"
        );
    }
    Ok(Delivered { report, removed })
}
