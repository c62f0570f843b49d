//! Chooses each subscriber's papers for one period, renders them and puts the digest in the
//! outbox.
//!
//! A digest covers the papers first seen after the subscriber's previous digest was composed
//! (by fetch sequence, not wall clock), or in the 24 hours before for their first one; those
//! that match any of their topics, have at least `min_upvotes` and were never given to them
//! before; ranked by upvotes, then topics matched, then newest; capped at `max_papers`.
//! Papers cut by the cap are not carried over: the next digest starts after this window.

use std::cmp::Reverse;
use std::fmt;

use chrono::{DateTime, Duration, Utc};

use crate::config::{Config, Subscriber};
use crate::message::{self, MessageError};
use crate::render::{DigestEntry, DigestInput, RenderError, Rendered, Renderer};
use crate::stop::Stop;
use crate::store::{DigestContent, NewDigest, Store, StoreError, StoredPaper};
use crate::topics::{Matches, PaperIndex, PaperSet, QueryId, QuerySet};

/// How far back a subscriber's first digest reaches.
const FIRST_WINDOW: Duration = Duration::hours(24);

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Message(#[from] MessageError),
}

/// Why a subscriber gets no email this period. Ordered by how far the papers got through
/// the filters (new → matched → enough upvotes → not sent before): the furthest explains most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NothingReason {
    NoNewPapers,
    NoneMatched,
    BelowMinUpvotes,
    AlreadySent,
}

impl fmt::Display for NothingReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NothingReason::NoNewPapers => "no new papers since their last digest",
            NothingReason::NoneMatched => "no new paper matched their topics",
            NothingReason::BelowMinUpvotes => "every matching paper is below their min_upvotes",
            NothingReason::AlreadySent => "every matching paper was sent to them before",
        })
    }
}

/// What one subscriber's digest came to.
#[derive(Debug)]
pub enum Outcome {
    /// A message is in the outbox (or, in a dry run, would be).
    Queued {
        rendered: Box<Rendered>,
        /// Titles of the papers it carries, in order.
        titles: Vec<String>,
    },
    Nothing(NothingReason),
    /// This slot was composed before (e.g. by a run that was interrupted).
    AlreadyComposed,
}

/// Each subscriber with what their digest came to.
pub type Composed<'s> = Vec<(&'s Subscriber, Result<Outcome, DigestError>)>;

/// How many subscribers are composed between two yields to the runtime, so a daemon composing
/// for many keeps answering signals and feeding the watchdog.
const YIELD_EVERY: usize = 64;

/// Composes this period's digest for each of `subscribers`. A failure affects only its own
/// subscriber. After `stop`, the subscribers not reached yet are left out.
pub async fn compose_all<'s>(
    store: &mut Store,
    config: &Config,
    renderer: &Renderer,
    subscribers: &[&'s Subscriber],
    slot: DateTime<Utc>,
    stop: &Stop,
) -> Result<Composed<'s>, StoreError> {
    let now = Utc::now();
    let up_to = store.latest_seq()?;
    let first_lower = store.seq_before(now - FIRST_WINDOW)?;
    // One index over the widest window; each subscriber then filters by their own bounds.
    let mut widest = up_to;
    for subscriber in subscribers {
        widest = widest.min(store.window_end(&subscriber.key)?.unwrap_or(first_lower));
    }
    let candidates = store.papers_in_range(widest, up_to)?;
    let index = PaperIndex::new(candidates.iter().map(|c| &c.paper));
    let mut queries = QuerySet::new();
    let topic_ids: Vec<Vec<QueryId>> = subscribers
        .iter()
        .map(|s| s.topics.iter().map(|t| queries.add(&t.query)).collect())
        .collect();
    let matches = queries.evaluate(&index);
    let window = Window {
        candidates: &candidates,
        first_lower,
        up_to,
        slot,
        now,
    };

    let mut outcomes = Vec::with_capacity(subscribers.len());
    for (i, subscriber) in subscribers.iter().enumerate() {
        if i % YIELD_EVERY == YIELD_EVERY - 1 {
            tokio::task::yield_now().await;
        }
        if stop.requested() {
            tracing::info!("stopping: {} digest(s) not composed", subscribers.len() - i);
            break;
        }
        let wanted = TopicMatches::new(&matches, &topic_ids[i]);
        let outcome = compose_one(store, config, renderer, subscriber, &window, &wanted);
        if let Err(e) = &outcome {
            tracing::error!(subscriber = %subscriber.email, "cannot compose the digest: {e}");
        }
        outcomes.push((*subscriber, outcome));
    }
    Ok(outcomes)
}

/// The run's period and the papers loaded for it, with the bounds they were loaded with.
struct Window<'a> {
    /// Oldest first.
    candidates: &'a [StoredPaper],
    first_lower: i64,
    up_to: i64,
    slot: DateTime<Utc>,
    now: DateTime<Utc>,
}

/// What one subscriber's topics matched among the candidates.
struct TopicMatches<'m> {
    /// Per topic, the candidates it matched.
    topics: Vec<&'m PaperSet>,
    /// The candidates any topic matched; `None` for a subscriber without topics, who wants
    /// every paper.
    any: Option<PaperSet>,
}

impl<'m> TopicMatches<'m> {
    fn new(matches: &'m Matches, ids: &[QueryId]) -> Self {
        TopicMatches {
            topics: ids.iter().map(|&id| matches.papers(id)).collect(),
            any: (!ids.is_empty()).then(|| matches.union_of(ids.iter().copied())),
        }
    }

    /// The wanted candidates among `range`, in index order.
    fn wanted(&self, range: std::ops::Range<usize>) -> Vec<usize> {
        match &self.any {
            None => range.collect(),
            Some(any) => any.iter().filter(|i| range.contains(i)).collect(),
        }
    }

    /// The indexes of the topics that candidate `i` matched.
    fn topics_of(&self, i: usize) -> Vec<usize> {
        (0..self.topics.len())
            .filter(|&t| self.topics[t].contains(i))
            .collect()
    }
}

fn compose_one(
    store: &mut Store,
    config: &Config,
    renderer: &Renderer,
    subscriber: &Subscriber,
    window: &Window<'_>,
    wanted: &TopicMatches<'_>,
) -> Result<Outcome, DigestError> {
    let (slot, now) = (window.slot, window.now);
    let key = &subscriber.key;
    let recorded = store.record_digest(key, slot, |guard| {
        // Read again inside the transaction: another process may have composed meanwhile.
        let lower = guard.window_end()?.unwrap_or(window.first_lower);
        let window_end_seq = lower.max(window.up_to);
        // Candidates are oldest first: the window is a suffix of them.
        let start = window.candidates.partition_point(|c| c.seq <= lower);
        let in_window = start..window.candidates.len();
        let mut reason = if in_window.is_empty() {
            NothingReason::NoNewPapers
        } else {
            NothingReason::NoneMatched
        };
        let mut chosen: Vec<(usize, Vec<usize>)> = Vec::new();
        for i in wanted.wanted(in_window) {
            let paper = &window.candidates[i].paper;
            if paper.upvotes < subscriber.min_upvotes {
                reason = reason.max(NothingReason::BelowMinUpvotes);
                continue;
            }
            if guard.already_given(&paper.arxiv_id)? {
                reason = reason.max(NothingReason::AlreadySent);
                continue;
            }
            chosen.push((i, wanted.topics_of(i)));
        }
        rank(&mut chosen, window.candidates);
        chosen.truncate(subscriber.max_papers);

        if chosen.is_empty() && !subscriber.send_empty {
            let digest = NewDigest {
                window_end_seq,
                composed_at: now,
                content: DigestContent::Empty {
                    reason: reason.to_string(),
                },
            };
            return Ok::<_, DigestError>((digest, Err(reason)));
        }

        let entries: Vec<DigestEntry<'_>> = chosen
            .iter()
            .map(|(i, topics)| DigestEntry {
                paper: &window.candidates[*i].paper,
                topics: topics
                    .iter()
                    .map(|&t| subscriber.topics[t].name.as_str())
                    .collect(),
            })
            .collect();
        let rendered = renderer.render(&DigestInput {
            name: subscriber.name.as_deref(),
            email: key,
            date: slot.with_timezone(&subscriber.timezone).date_naive(),
            entries: &entries,
            unsubscribe: config.mail.unsubscribe.as_deref(),
        })?;
        let message_id = message::message_id(key, slot.timestamp_millis(), &config.mail.from);
        let bytes = message::build(
            &message::Headers {
                from: &config.mail.from,
                to: subscriber.mailbox(),
                message_id: &message_id,
                date: now.into(),
                unsubscribe: config.mail.unsubscribe.as_deref(),
            },
            &rendered,
        )?;
        let digest = NewDigest {
            window_end_seq,
            composed_at: now,
            content: DigestContent::Message {
                message_id,
                message: bytes,
                papers: entries.iter().map(|e| e.paper.arxiv_id.clone()).collect(),
            },
        };
        let titles: Vec<String> = entries.iter().map(|e| e.paper.title.clone()).collect();
        Ok((digest, Ok((rendered, titles))))
    })?;
    Ok(match recorded {
        None => Outcome::AlreadyComposed,
        Some((_, Err(reason))) => Outcome::Nothing(reason),
        Some((_, Ok((rendered, titles)))) => Outcome::Queued {
            rendered: Box::new(rendered),
            titles,
        },
    })
}

/// Upvotes (highest first), then how many topics matched, then newest, then arXiv id so the
/// order is total.
fn rank(chosen: &mut [(usize, Vec<usize>)], candidates: &[StoredPaper]) {
    chosen.sort_by_key(|(i, topics)| {
        let p = &candidates[*i].paper;
        (
            Reverse(p.upvotes),
            Reverse(topics.len()),
            Reverse(p.published_at),
            Reverse(p.arxiv_id.clone()),
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paper::Paper;

    fn stored(seq: i64, id: &str, upvotes: u32, day: u32) -> StoredPaper {
        let published = format!("2026-06-{day:02}T00:00:00Z");
        StoredPaper {
            seq,
            first_seen_at: Utc::now(),
            paper: Paper {
                upvotes,
                published_at: Some(DateTime::parse_from_rfc3339(&published).unwrap().into()),
                ..Paper::new(id, id)
            },
        }
    }

    #[test]
    fn ranks_by_upvotes_then_topics_matched_then_newest() {
        let candidates = vec![
            stored(1, "2606.00001", 5, 1),
            stored(2, "2606.00002", 9, 1),
            stored(3, "2606.00003", 5, 2),
            stored(4, "2606.00004", 5, 3),
        ];
        let mut chosen = vec![(0, vec![0, 1]), (1, vec![0]), (2, vec![0]), (3, vec![1])];
        rank(&mut chosen, &candidates);
        let order: Vec<usize> = chosen.iter().map(|(i, _)| *i).collect();
        // 9 upvotes first; among the 5s, two topics beat one; then the newer of the rest.
        assert_eq!(order, [1, 0, 3, 2]);
    }

    #[test]
    fn the_reason_names_the_furthest_filter_reached() {
        let r = NothingReason::NoNewPapers.max(NothingReason::NoneMatched);
        assert_eq!(r, NothingReason::NoneMatched);
        assert_eq!(
            r.max(NothingReason::BelowMinUpvotes),
            NothingReason::BelowMinUpvotes
        );
        assert_eq!(
            NothingReason::AlreadySent.max(NothingReason::NoneMatched),
            NothingReason::AlreadySent
        );
    }
}
