//! One run's stages over the application core, shared by every command and the daemon: fetch
//! the sources into the store, compose each subscriber's digest into the outbox, deliver the
//! outbox. The decisions live in the stages (`digest`, `deliver`); this is the I/O around them.
//! `likes` brings in the "more like these papers" topics.

mod likes;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use crate::app::App;
use crate::config::DeliveryConfig;
use crate::config::Subscriber;
use crate::deliver::{self, DeliveryReport, Incoming, Mailer, Take, ToSend};
use crate::digest::{
    self, DigestError, Eligible, Keep, Outcome, Queued, TopicMatches, TopicSet, UpvoteRule,
};
use crate::paper::Paper;
use crate::progress::Progress;
use crate::render::RunRenderer;
use crate::source::FetchRequest;
use crate::stop::Stop;
use crate::store::{
    Cursor, DigestContent, Due, NewDigest, Packed, Recorded, SharedStore, StoreError, StoredPaper,
};
use crate::topics::{PaperIndex, PaperSet, QueryId, QuerySet};

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

/// How long a URL's validators are kept after its last answer with a body.
const VALIDATORS_KEPT: chrono::Duration = chrono::Duration::days(30);

/// Fetches every source and stores what each returned. A failing source is logged and
/// reported; the others go on. Then drops the bodies of messages sent longer ago than
/// `[state] keep_messages`, and the digests composed longer ago than `[state] keep_history`:
/// every command that writes the state fetches first, and the daemon fetches on its schedule.
pub async fn fetch(
    app: &App,
    store: &SharedStore,
    now: DateTime<Utc>,
    since: Option<NaiveDate>,
) -> Result<FetchSummary, StoreError> {
    let mut summary = FetchSummary {
        sources: app.sources.len(),
        ..FetchSummary::default()
    };
    let validators = store.run(|s| s.http_validators()).await?;
    let request = FetchRequest {
        now,
        since,
        validators: &validators,
    };
    for source in &app.sources {
        let name = source.name();
        let fetched = match source.fetch(&app.fetcher, &request).await {
            Ok(fetched) => fetched,
            Err(e) => {
                let error = crate::error_chain(&e);
                tracing::error!(source = name, "fetch failed: {error}");
                summary.failures.push((name, error));
                continue;
            }
        };
        // The papers first: validators saved without them would make the next fetch skip
        // what was never stored.
        let keep_history = app.keep_history();
        let (papers, report) = store
            .run(move |s| {
                let report = s.upsert_papers(name, &fetched.papers, now, keep_history)?;
                s.save_http_validators(&fetched.validators, now)?;
                Ok::<_, StoreError>((fetched.papers, report))
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
    // A keep beyond chrono's range keeps everything.
    if let Some(before) = now.checked_sub_signed(app.keep_messages()) {
        let pruned = store.run(move |s| s.prune_messages(before)).await?;
        if pruned > 0 {
            tracing::debug!("dropped the message bodies of {pruned} sent digest(s)");
        }
    }
    if let Some(before) = now.checked_sub_signed(app.keep_history()) {
        let pruned = store.run(move |s| s.prune_history(before)).await?;
        if pruned > 0 {
            tracing::debug!("forgot {pruned} digest(s) composed before {before}");
        }
    }
    store
        .run(move |s| s.prune_http_validators(now - VALIDATORS_KEPT))
        .await?;
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
/// `stop`, the subscribers not reached yet are left out. Those who unsubscribed are not
/// composed for, and come last. Each digest queued is handed to `to_send` as soon as it is
/// recorded, if a delivery runs beside ([`deliver_while_composing`]).
pub async fn compose<'s>(
    app: &App,
    store: &SharedStore,
    subscribers: &[&'s Subscriber],
    (slot, keep): (DateTime<Utc>, Keep),
    stop: &Stop,
    to_send: Option<&ToSend>,
) -> Result<Composed<'s>, StoreError> {
    let unsubscribed = store.run(|s| s.unsubscribed_keys()).await?;
    let (gone, subscribed): (Vec<&Subscriber>, Vec<&Subscriber>) = subscribers
        .iter()
        .partition(|s| unsubscribed.contains(&s.key));
    let mut outcomes =
        compose_subscribed(app, store, &subscribed, (slot, keep), stop, to_send).await?;
    outcomes.extend(gone.into_iter().map(|s| (s, Ok(Outcome::Unsubscribed))));
    Ok(outcomes)
}

async fn compose_subscribed<'s>(
    app: &App,
    store: &SharedStore,
    subscribers: &[&'s Subscriber],
    (slot, keep): (DateTime<Utc>, Keep),
    stop: &Stop,
    to_send: Option<&ToSend>,
) -> Result<Composed<'s>, StoreError> {
    let now = Utc::now();
    let (up_to, first_lower, cursors) = store
        .run(move |s| {
            let up_to = s.latest_seq()?;
            let first_lower = s.seq_before(now - digest::FIRST_WINDOW)?;
            Ok::<_, StoreError>((up_to, first_lower, s.cursors()?))
        })
        .await?;
    // Digests still waiting (the relay was down): the new digest carries their papers and
    // supersedes them, so that each subscriber gets one email with everything.
    let keys: HashSet<&str> = subscribers.iter().map(|s| s.key.as_str()).collect();
    let mut waiting = store.run(move |s| s.waiting_papers(now)).await?;
    waiting.retain(|key, _| keys.contains(key.as_str()));
    let lowest_carried = waiting.values().filter_map(|w| w.lowest_seq).min();
    // One index over the widest window (and the papers carried); each subscriber then
    // filters by their own bounds.
    let widest = subscribers
        .iter()
        .map(|s| digest::lower_bound(cursors.get(&s.key), first_lower))
        .chain(lowest_carried.map(|seq| seq - 1))
        .fold(up_to, i64::min);
    let candidates: Vec<StoredPaper> = store.run(move |s| s.papers_in_range(widest, up_to)).await?;
    let by_id: HashMap<&str, usize> = if waiting.is_empty() {
        HashMap::new()
    } else {
        candidates
            .iter()
            .enumerate()
            .map(|(i, c)| (c.paper.arxiv_id.as_str(), i))
            .collect()
    };
    let index = PaperIndex::new(candidates.iter().map(|c| &c.paper));
    let mut queries = QuerySet::new();
    // Per subscriber and topic: the query's id, or `None` for a like topic.
    let query_ids: Vec<Vec<Option<QueryId>>> = subscribers
        .iter()
        .map(|s| {
            s.topics
                .iter()
                .map(|t| t.query().map(|q| queries.add(q)))
                .collect()
        })
        .collect();
    let matches = queries.evaluate(&index);
    let known = likes::look_up(app, store, subscribers).await?;
    let like_matches = likes::score(&app.likes, store, subscribers, &known, &candidates).await?;
    // Each topic's matches; a like topic whose papers could not be found matches nothing.
    let no_papers = PaperSet::empty(candidates.len());
    let topic_sets = |i: usize| -> Vec<TopicSet<'_>> {
        query_ids[i]
            .iter()
            .enumerate()
            .map(|(j, id)| match (id, like_matches.get(&(i, j))) {
                (Some(id), _) => TopicSet::query(&matches, *id),
                (None, Some(like)) => TopicSet::Like(like),
                (None, None) => TopicSet::Query(&no_papers),
            })
            .collect()
    };

    let mut outcomes: Composed<'s> = Vec::with_capacity(subscribers.len());
    // The chunk being written, with its results.
    let mut writing: Option<Writing<'_, 's>> = None;
    let mut progress = Progress::new("digests composed", "composing", subscribers.len());
    // For this run's candidates, which stay put until it ends.
    let renderer = app.renderer.for_run();
    for (n, chunk) in subscribers.chunks(CHUNK).enumerate() {
        let chunk_start = n * CHUNK;
        if stop.requested() {
            tracing::info!(
                "stopping: {} digest(s) not composed",
                subscribers.len() - chunk_start
            );
            break;
        }
        // Each subscriber's window and eligible papers; `None` for one whose period this
        // slot was composed before.
        let planned: Vec<Option<Planned<'_>>> = chunk
            .iter()
            .enumerate()
            .map(|(offset, subscriber)| {
                let cursor = cursors.get(&subscriber.key);
                if cursor.is_some_and(|c| c.last_slot >= slot) {
                    return None;
                }
                let wanted = TopicMatches::new(topic_sets(chunk_start + offset));
                let lower = digest::lower_bound(cursor, first_lower);
                let upvotes = UpvoteRule {
                    min: subscriber.min_upvotes,
                    require: subscriber.require_upvotes,
                };
                let eligible = Eligible::new(&candidates, lower, &wanted, upvotes);
                let (supersedes, carried) = match waiting.get(&subscriber.key) {
                    Some(theirs) => (
                        theirs.digests.clone(),
                        theirs
                            .papers
                            .iter()
                            .filter_map(|id| by_id.get(id.as_str()).copied())
                            .collect(),
                    ),
                    None => (Vec::new(), Vec::new()),
                };
                Some(Planned {
                    wanted,
                    eligible,
                    carried,
                    supersedes,
                    based_on: cursor.cloned(),
                    window_end_seq: lower.max(up_to),
                })
            })
            .collect();
        // What their history must answer: which of their eligible papers they were given. A
        // paper enters a subscriber's window once, unless it moved since (it gained
        // categories or upvotes): only those are asked about.
        let asks: Vec<(String, Vec<String>)> = chunk
            .iter()
            .zip(&planned)
            .filter_map(|(subscriber, planned)| {
                let ids = planned.as_ref()?.eligible.moved_ids(&candidates);
                (!ids.is_empty()).then(|| (subscriber.key.clone(), ids))
            })
            .collect();
        // Asked only when there is something to ask: the last chunk may still be being
        // written, and the store answers one call at a time.
        let given: HashMap<String, HashSet<String>> = if asks.is_empty() {
            HashMap::new()
        } else {
            store
                .run(move |s| {
                    let mut given = HashMap::with_capacity(asks.len());
                    for (key, ids) in asks {
                        let of_key = s.given_among(&key, &ids)?;
                        given.insert(key, of_key);
                    }
                    Ok::<_, StoreError>(given)
                })
                .await?
        };

        // Choosing and rendering is the CPU work of a run: spread over every core.
        let finished = par_map(
            chunk.iter().zip(planned).collect(),
            |(subscriber, planned)| {
                let planned = planned?;
                // What they were given, and what they listed as liked: they know those. Copied
                // only for the few with liked papers.
                let none = HashSet::new();
                let mut given = Cow::Borrowed(given.get(&subscriber.key).unwrap_or(&none));
                let mut liked = likes::liked_by(subscriber).peekable();
                if liked.peek().is_some() {
                    given.to_mut().extend(liked.cloned());
                }
                let run = (&renderer, slot, now);
                Some(planned.finish(app, run, subscriber, &candidates, &given, keep))
            },
        );
        let mut periods = Vec::new();
        let mut results = Vec::with_capacity(chunk.len());
        for (subscriber, finished) in chunk.iter().zip(finished) {
            match finished {
                None => results.push(Ok(Outcome::AlreadyComposed)),
                Some(Ok((period, outcome))) => {
                    periods.push(period);
                    results.push(Ok(outcome));
                }
                Some(Err(e)) => {
                    tracing::error!(subscriber = %subscriber.email, "cannot compose the digest: {e}");
                    results.push(Err(e));
                }
            }
        }

        // Written while the next chunk is composed; this chunk's outcomes are settled then.
        let recording = store.start(move |s| s.record_digests(&periods));
        if let Some(last) = writing.replace((chunk, results, Box::pin(recording))) {
            let count = last.0.len();
            settle(last, &mut outcomes, to_send).await?;
            progress.add(count);
        }
        tokio::task::yield_now().await;
    }
    if let Some(last) = writing.take() {
        let count = last.0.len();
        settle(last, &mut outcomes, to_send).await?;
        progress.add(count);
    }
    progress.finish();
    Ok(outcomes)
}

/// A chunk of subscribers, what composing each came to, and the transaction recording their
/// periods, under way.
type Writing<'c, 's> = (
    &'c [&'s Subscriber],
    Vec<Result<Outcome, DigestError>>,
    std::pin::Pin<Box<dyn Future<Output = Result<Vec<Recorded>, StoreError>> + Send>>,
);

/// Waits for a chunk's periods to be recorded and adds its subscribers' outcomes: a period
/// another process recorded first is one composed meanwhile. The digests queued go to
/// `to_send`, if a delivery is under way.
async fn settle<'s>(
    (chunk, results, recording): Writing<'_, 's>,
    outcomes: &mut Composed<'s>,
    to_send: Option<&ToSend>,
) -> Result<(), StoreError> {
    let mut recorded = recording.await?.into_iter();
    let mut queued = Vec::new();
    for (subscriber, result) in chunk.iter().zip(results) {
        // The recorded periods are those of the results that made one, in order.
        let outcome = match result {
            Ok(Outcome::AlreadyComposed) | Err(_) => result,
            Ok(outcome) => match recorded.next() {
                Some(Recorded::Conflict) => {
                    tracing::info!(subscriber = %subscriber.email, "composed meanwhile by another paperboy process");
                    Ok(Outcome::AlreadyComposed)
                }
                Some(Recorded::Queued(id)) => {
                    queued.push(Due {
                        id,
                        subscriber: subscriber.key.clone(),
                    });
                    Ok(outcome)
                }
                _ => Ok(outcome),
            },
        };
        outcomes.push((*subscriber, outcome));
    }
    if let Some(to_send) = to_send {
        to_send.send(queued);
    }
    Ok(())
}

/// `f` of each of `items`, in order, the work spread over the machine's cores in contiguous
/// parts (a chunk of subscribers is a few hundred; threads are cheap beside rendering them).
fn par_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || items.len() < 2 {
        return items.into_iter().map(f).collect();
    }
    let per_thread = items.len().div_ceil(threads);
    let mut parts: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut items = items.into_iter();
    loop {
        let part: Vec<T> = items.by_ref().take(per_thread).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || part.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// One subscriber's period between reading their history and recording it.
struct Planned<'m> {
    wanted: TopicMatches<'m>,
    eligible: Eligible,
    /// The candidates that unsent digests of theirs carry, to carry on.
    carried: Vec<usize>,
    /// Those unsent digests.
    supersedes: Vec<i64>,
    /// The cursor it was planned from.
    based_on: Option<Cursor>,
    window_end_seq: i64,
}

impl Planned<'_> {
    /// The period to record, from what the subscriber was `given` before: nothing to send,
    /// or a message rendered by the run's renderer for its `slot`, composed `now`.
    fn finish(
        self,
        app: &App,
        (renderer, slot, now): (&RunRenderer<'_>, DateTime<Utc>, DateTime<Utc>),
        subscriber: &Subscriber,
        candidates: &[StoredPaper],
        given: &HashSet<String>,
        keep: Keep,
    ) -> Result<(NewDigest, Outcome), DigestError> {
        let chosen = self.eligible.choose(
            candidates,
            &self.wanted,
            given,
            subscriber.max_papers,
            &self.carried,
        );
        let (content, outcome) = match chosen {
            Err(reason) if !subscriber.send_empty => {
                let reason_text = reason.to_string();
                let content = DigestContent::Nothing {
                    reason: reason_text,
                };
                (content, Outcome::Nothing(reason))
            }
            picks => {
                let picks = picks.unwrap_or_default();
                let message = digest::compose(
                    &app.config,
                    renderer,
                    subscriber,
                    candidates,
                    &picks,
                    slot,
                    now,
                )?;
                let content = DigestContent::Message {
                    message_id: message.message_id,
                    message: Packed::new(&message.message),
                    papers: message.papers,
                };
                let outcome = Outcome::Queued(Box::new(Queued {
                    subject: message.rendered.subject.clone(),
                    papers: message.titles.len(),
                    titles: if keep >= Keep::Titles {
                        message.titles
                    } else {
                        Vec::new()
                    },
                    rendered: (keep >= Keep::Rendered).then_some(message.rendered),
                }));
                (content, outcome)
            }
        };
        let period = NewDigest {
            subscriber: subscriber.key.clone(),
            slot,
            based_on: self.based_on,
            window_end_seq: self.window_end_seq,
            composed_at: now,
            supersedes: match content {
                DigestContent::Message { .. } => self.supersedes,
                DigestContent::Nothing { .. } => Vec::new(),
            },
            content,
        };
        Ok((period, outcome))
    }
}

/// What delivering the outbox did.
#[derive(Debug, Default)]
pub struct Delivered {
    pub report: DeliveryReport,
    /// Pending digests of subscribers no longer in the config, taken out of the outbox.
    pub removed: usize,
}

/// Drains the outbox for `only` those subscribers, or everyone: first takes out the digests
/// of subscribers who left, then sends what `take` says of what is pending.
pub async fn deliver(
    app: &App,
    store: &SharedStore,
    only: Option<&[&Subscriber]>,
    take: Take,
    stop: &Stop,
) -> Result<Delivered, StoreError> {
    Delivery::new(app, store, only, take, stop).run(None).await
}

/// Starts delivering, on the runtime's workers, the digests [`compose`] hands to the returned
/// [`ToSend`] as it records them, and once it has dropped it, everything else pending, as
/// [`deliver`] with [`Take::All`] does: so that sending overlaps composing (`send-now`).
pub fn deliver_while_composing(
    app: &App,
    store: &SharedStore,
    only: Option<&[&Subscriber]>,
    stop: &Stop,
) -> (
    ToSend,
    tokio::task::JoinHandle<Result<Delivered, StoreError>>,
) {
    let (to_send, incoming) = deliver::incoming();
    let delivery = Delivery::new(app, store, only, Take::All, stop);
    (to_send, tokio::spawn(delivery.run(Some(incoming))))
}

/// What delivering needs of the app, owned, so that it can run as a task of its own.
struct Delivery {
    store: SharedStore,
    mailer: Arc<Mailer>,
    config: DeliveryConfig,
    from: lettre::Address,
    recipients: HashMap<String, lettre::Address>,
    /// Everyone the config lists, skipped or not: the digests of others leave the outbox.
    everyone: HashSet<String>,
    loaded_at: DateTime<Utc>,
    take: Take,
    stop: Stop,
}

impl Delivery {
    fn new(
        app: &App,
        store: &SharedStore,
        only: Option<&[&Subscriber]>,
        take: Take,
        stop: &Stop,
    ) -> Delivery {
        // A subscriber skipped for a problem in the config is still one: their digests wait.
        let skipped = app.config.skipped.iter().filter_map(|s| s.key.clone());
        Delivery {
            store: store.clone(),
            mailer: Arc::clone(&app.mailer),
            config: app.config.delivery.clone(),
            from: app.config.mail.from.email.clone(),
            recipients: match only {
                Some(subscribers) => crate::app::recipients(subscribers.iter().copied()),
                None => app.recipients.clone(),
            },
            everyone: app.recipients.keys().cloned().chain(skipped).collect(),
            loaded_at: app.loaded_at,
            take,
            stop: stop.clone(),
        }
    }

    async fn run(self, incoming: Option<Incoming>) -> Result<Delivered, StoreError> {
        let now = Utc::now();
        let (everyone, loaded_at) = (self.everyone, self.loaded_at);
        let removed = self
            .store
            .run(move |s| s.fail_unsubscribed(&everyone, loaded_at, now))
            .await?;
        if removed > 0 {
            tracing::info!("{removed} pending digest(s) of removed subscribers left the outbox");
        }
        let report = deliver::deliver_pending(
            &self.store,
            &self.mailer,
            &self.config,
            &self.from,
            &self.recipients,
            self.take,
            &self.stop,
            incoming,
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
}
