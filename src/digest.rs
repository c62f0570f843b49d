//! Chooses each subscriber's papers for one period and turns them into a message. Pure:
//! `pipeline` loads the papers and the subscriber's history and records what comes out.
//!
//! A digest covers the papers first seen after the subscriber's previous period (by fetch
//! sequence, not wall clock), or in the 24 hours before for their first one; those that match
//! any of their topics, have at least `min_upvotes` and were never given to them before;
//! ranked by upvotes, then topics matched, then newest; capped at `max_papers`. Papers cut by
//! the cap are not carried over: the next digest starts after this window.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, Duration, Utc};

use crate::config::{Config, Subscriber};
use crate::message::{self, MessageError};
use crate::render::{
    DigestEntry, DigestInput, RenderError, Rendered, RunRenderer, Section, TRENDING,
};
use crate::store::{Cursor, StoredPaper};
use crate::topics::{Matches, PaperSet, QueryId};
use crate::unsubscribe;

/// The heading of the papers carried from an unsent digest that none of the subscriber's
/// topics matches any more.
const OTHERS: &str = "Other papers";

/// How far back a subscriber's first digest reaches.
pub const FIRST_WINDOW: Duration = Duration::hours(24);

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
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
    Queued(Box<Queued>),
    Nothing(NothingReason),
    /// This period was composed before: by a run that was interrupted, or by another process.
    AlreadyComposed,
    /// They unsubscribed with their one-click link: nothing is composed for them.
    Unsubscribed,
}

/// A digest in the outbox, as the command that composed it reports it.
#[derive(Debug)]
pub struct Queued {
    pub subject: String,
    pub papers: usize,
    /// Titles of the papers it carries, in order, if [`Keep::Titles`] or more.
    pub titles: Vec<String>,
    /// The rendered parts, if [`Keep::Rendered`].
    pub rendered: Option<Rendered>,
}

/// How much of each composed digest a run keeps for its report, beyond what goes to the
/// outbox: a run for 100,000 subscribers must not hold 100,000 rendered emails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Keep {
    Summary,
    Titles,
    Rendered,
}

/// The exclusive lower bound of a subscriber's window: their cursor, or `first_lower` (the
/// papers of the last [`FIRST_WINDOW`]) for their first period.
pub fn lower_bound(cursor: Option<&Cursor>, first_lower: i64) -> i64 {
    cursor.map_or(first_lower, |c| c.window_end_seq)
}

/// What one "more like these papers" topic matched among the candidates: those scoring at
/// least its `min_score`, each with its score and the title of the liked paper it is
/// closest to.
#[derive(Debug, Clone)]
pub struct LikeMatches {
    pub papers: PaperSet,
    pub scores: HashMap<usize, (f32, String)>,
    /// At most this many of a digest's papers may come from this topic alone.
    pub max_papers: Option<usize>,
}

/// One topic's matches among the candidates.
#[derive(Debug, Clone, Copy)]
pub enum TopicSet<'m> {
    Query(&'m PaperSet),
    Like(&'m LikeMatches),
}

impl<'m> TopicSet<'m> {
    fn papers(self) -> &'m PaperSet {
        match self {
            TopicSet::Query(papers) => papers,
            TopicSet::Like(like) => &like.papers,
        }
    }

    /// A query topic's set from the run's query matches.
    pub fn query(matches: &'m Matches, id: QueryId) -> TopicSet<'m> {
        TopicSet::Query(matches.papers(id))
    }
}

/// What one subscriber's topics matched among the candidates.
pub struct TopicMatches<'m> {
    /// Per topic, in config order.
    topics: Vec<TopicSet<'m>>,
    /// The candidates any topic matched; `None` for a subscriber without topics, who wants
    /// every paper.
    any: Option<PaperSet>,
}

impl<'m> TopicMatches<'m> {
    pub fn new(topics: Vec<TopicSet<'m>>) -> Self {
        let any = topics.split_first().map(|(first, rest)| {
            let mut any = first.papers().clone();
            for topic in rest {
                any.union_with(topic.papers());
            }
            any
        });
        TopicMatches { topics, any }
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
            .filter(|&t| self.topics[t].papers().contains(i))
            .collect()
    }

    /// How many topics candidate `i` matched.
    fn topic_count(&self, i: usize) -> usize {
        self.topics
            .iter()
            .filter(|topic| topic.papers().contains(i))
            .count()
    }

    /// Candidate `i`'s best score among the like topics that matched it, with the liked
    /// paper it is closest to.
    fn like_of(&self, i: usize) -> Option<(f32, &'m str)> {
        self.topics
            .iter()
            .filter_map(|topic| match topic {
                TopicSet::Like(like) => like.scores.get(&i).map(|(s, t)| (*s, t.as_str())),
                TopicSet::Query(_) => None,
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
    }

    /// Per topic, how many papers it may bring on its own.
    fn caps(&self) -> Vec<Option<usize>> {
        self.topics
            .iter()
            .map(|topic| match topic {
                TopicSet::Like(like) => like.max_papers,
                TopicSet::Query(_) => None,
            })
            .collect()
    }
}

/// The first step of the choice: the candidates of a subscriber's window that their topics
/// matched and that have enough upvotes. Whether each was given before is the history's to
/// answer, for these papers only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eligible {
    /// Candidate indexes, oldest first.
    papers: Vec<usize>,
    /// Why there is nothing, should nothing be left.
    reason: NothingReason,
}

/// Which upvotes are enough: at least `min`; a paper whose upvotes are unknown (announced on
/// arXiv, not listed on Hugging Face, so never offered to vote on) passes unless `require`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpvoteRule {
    pub min: u32,
    pub require: bool,
}

impl UpvoteRule {
    fn passes(self, upvotes: Option<u32>) -> bool {
        match upvotes {
            Some(n) => n >= self.min,
            None => self.min == 0 || !self.require,
        }
    }
}

impl Eligible {
    /// `candidates` are oldest first; the window is those after `lower`.
    pub fn new(
        candidates: &[StoredPaper],
        lower: i64,
        wanted: &TopicMatches<'_>,
        upvotes: UpvoteRule,
    ) -> Eligible {
        // The window is a suffix of the candidates.
        let start = candidates.partition_point(|c| c.seq <= lower);
        let in_window = start..candidates.len();
        let mut reason = if in_window.is_empty() {
            NothingReason::NoNewPapers
        } else {
            NothingReason::NoneMatched
        };
        let mut papers = Vec::new();
        for i in wanted.wanted(in_window) {
            if !upvotes.passes(candidates[i].paper.upvotes) {
                reason = reason.max(NothingReason::BelowMinUpvotes);
            } else {
                papers.push(i);
            }
        }
        Eligible { papers, reason }
    }

    /// The arXiv ids to ask the subscriber's history about: those of the eligible papers
    /// that moved in the sequence, and so may have been in one of their earlier windows.
    pub fn moved_ids(&self, candidates: &[StoredPaper]) -> Vec<String> {
        self.papers
            .iter()
            .filter(|&&i| candidates[i].moved)
            .map(|&i| candidates[i].paper.arxiv_id.clone())
            .collect()
    }

    /// The second step: without the papers `given` before, ranked, capped at `max_papers`;
    /// and all the `carried` ones (those of unsent digests this one supersedes, which must
    /// not be lost), ranked among them.
    pub fn choose(
        self,
        candidates: &[StoredPaper],
        wanted: &TopicMatches<'_>,
        given: &HashSet<String>,
        max_papers: usize,
        carried: &[usize],
    ) -> Result<Vec<Pick>, NothingReason> {
        let mut reason = self.reason;
        // Every eligible paper is ranked, but only `max_papers` are kept: rank small keys and
        // build a `Pick`, with its topics and liked title, only for those kept. Building one
        // for each of ~300 eligible papers was most of choosing.
        let mut ranked: Vec<RankKey> = Vec::with_capacity(self.papers.len());
        for i in self.papers {
            if carried.contains(&i) {
                continue;
            }
            if given.contains(&candidates[i].paper.arxiv_id) {
                reason = reason.max(NothingReason::AlreadySent);
            } else {
                ranked.push(RankKey {
                    candidate: i,
                    topics: wanted.topic_count(i),
                    like_score: wanted.like_of(i).map(|(score, _)| score),
                });
            }
        }
        let caps = wanted.caps();
        let by_rank = |a: &RankKey, b: &RankKey| compare(a, b, candidates);
        if caps.iter().all(Option::is_none) && ranked.len() > max_papers {
            // Without a cap the first `max_papers` are kept: find them, sort only those.
            ranked.select_nth_unstable_by(max_papers, by_rank);
            ranked.truncate(max_papers);
        }
        ranked.sort_unstable_by(by_rank);
        // A like topic's own cap: past it, a paper only that topic matched stays out.
        let mut brought = vec![0usize; caps.len()];
        let mut picks = Vec::with_capacity(max_papers.min(ranked.len()));
        for key in ranked {
            if picks.len() == max_papers {
                break;
            }
            let topics = wanted.topics_of(key.candidate);
            let open = topics
                .iter()
                .any(|&t| caps[t].is_none_or(|cap| brought[t] < cap));
            if open {
                topics.iter().for_each(|&t| brought[t] += 1);
            }
            if open || topics.is_empty() {
                picks.push(Pick {
                    candidate: key.candidate,
                    topics,
                    like_score: key.like_score,
                    like: wanted
                        .like_of(key.candidate)
                        .map(|(_, title)| title.to_string()),
                });
            }
        }
        if !carried.is_empty() {
            picks.extend(carried.iter().map(|&i| {
                let like = wanted.like_of(i);
                Pick {
                    candidate: i,
                    topics: wanted.topics_of(i),
                    like_score: like.map(|(score, _)| score),
                    like: like.map(|(_, title)| title.to_string()),
                }
            }));
            rank(&mut picks, candidates);
        }
        if picks.is_empty() {
            Err(reason)
        } else {
            Ok(picks)
        }
    }
}

/// A paper chosen for a digest.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    /// Its index among the candidates.
    pub candidate: usize,
    /// The indexes of the subscriber's topics it matched.
    pub topics: Vec<usize>,
    /// Its best score among the like topics that matched it.
    pub like_score: Option<f32>,
    /// The title of the liked paper it is closest to.
    pub like: Option<String>,
}

/// What a paper is ranked by, besides the candidate's own upvotes, date and id.
struct RankKey {
    candidate: usize,
    /// How many of the subscriber's topics it matched.
    topics: usize,
    like_score: Option<f32>,
}

/// Papers a like topic matched first, by score (those say best what the subscriber wants);
/// then upvotes (highest first), then how many topics matched, then newest, then arXiv id so
/// the order is total; then candidate order, as a stable sort would leave equals, so that
/// `choose` may sort unstably.
fn compare(a: &RankKey, b: &RankKey, candidates: &[StoredPaper]) -> std::cmp::Ordering {
    let like = |k: &RankKey| k.like_score.unwrap_or(f32::NEG_INFINITY);
    like(b)
        .total_cmp(&like(a))
        .then_with(|| {
            let key = |k: &RankKey| {
                let p = &candidates[k.candidate].paper;
                (
                    Reverse(p.upvotes),
                    Reverse(k.topics),
                    Reverse(p.published_at),
                    Reverse(p.arxiv_id.as_str()),
                )
            };
            key(a).cmp(&key(b))
        })
        .then(a.candidate.cmp(&b.candidate))
}

/// The picks in the order `choose` ranks them: for the carried papers joining the chosen.
fn rank(picks: &mut [Pick], candidates: &[StoredPaper]) {
    let key = |p: &Pick| RankKey {
        candidate: p.candidate,
        topics: p.topics.len(),
        like_score: p.like_score,
    };
    picks.sort_by(|a, b| compare(&key(a), &key(b), candidates));
}

/// A digest ready for the outbox.
pub struct OutboxMessage {
    pub rendered: Rendered,
    pub message_id: String,
    pub message: Vec<u8>,
    /// The arXiv ids it carries, in order.
    pub papers: Vec<String>,
    pub titles: Vec<String>,
}

/// Renders the picks (none for an empty digest with `send_empty`) into the message of
/// `subscriber` for `slot`.
pub fn compose(
    config: &Config,
    renderer: &RunRenderer<'_>,
    subscriber: &Subscriber,
    candidates: &[StoredPaper],
    picks: &[Pick],
    slot: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<OutboxMessage, DigestError> {
    let sections = sections(subscriber, candidates, picks);
    let topics: Vec<&str> = subscriber.topics.iter().map(|t| t.name.as_str()).collect();
    let email = subscriber.email.to_string();
    let unsubscribe = UnsubscribeTargets::new(config, subscriber);
    let rendered = renderer.render(&DigestInput {
        name: subscriber.name.as_deref(),
        email: &email,
        date: slot.with_timezone(&subscriber.timezone).date_naive(),
        sections: &sections,
        topics: &topics,
        unsubscribe: unsubscribe.link(),
        contact: config.mail.from.email.as_ref(),
    })?;
    let entries = || sections.iter().flat_map(|s| &s.entries);
    let message_id =
        message::message_id(&subscriber.key, slot.timestamp_millis(), &config.mail.from);
    let message = message::build(
        &message::Headers {
            from: &config.mail.from,
            to: subscriber.mailbox(),
            message_id: &message_id,
            date: now.into(),
            unsubscribe: unsubscribe.listed,
            one_click: unsubscribe.one_click.as_deref(),
        },
        &rendered,
        config.mail.dkim.as_ref(),
    )?;
    Ok(OutboxMessage {
        rendered,
        message_id,
        message,
        papers: entries().map(|e| e.paper.arxiv_id.clone()).collect(),
        titles: entries().map(|e| e.paper.title.clone()).collect(),
    })
}

/// The picks, ranked, under the heading of the first of the subscriber's topics each matched,
/// in config order; a paper that matched several appears once, and names the others. A
/// subscriber without topics gets one section, [`TRENDING`].
fn sections<'a>(
    subscriber: &'a Subscriber,
    candidates: &'a [StoredPaper],
    picks: &'a [Pick],
) -> Vec<Section<'a>> {
    let entry = |pick: &'a Pick| DigestEntry {
        paper: &candidates[pick.candidate].paper,
        topics: pick
            .topics
            .iter()
            .map(|&t| subscriber.topics[t].name.as_str())
            .collect(),
        queries: pick
            .topics
            .iter()
            .filter_map(|&t| subscriber.topics[t].query())
            .collect(),
        like: pick.like.as_deref(),
    };
    if subscriber.topics.is_empty() {
        let entries: Vec<DigestEntry<'a>> = picks.iter().map(entry).collect();
        return match entries.is_empty() {
            true => Vec::new(),
            false => vec![Section {
                heading: TRENDING,
                entries,
            }],
        };
    }
    let mut sections: Vec<Section<'a>> = subscriber
        .topics
        .iter()
        .enumerate()
        .filter_map(|(t, topic)| {
            let entries: Vec<DigestEntry<'a>> = picks
                .iter()
                .filter(|pick| pick.topics.first() == Some(&t))
                .map(entry)
                .collect();
            (!entries.is_empty()).then_some(Section {
                heading: &topic.name,
                entries,
            })
        })
        .collect();
    // A paper carried from an unsent digest that no topic matches any more (the topics
    // changed since) still goes out, last.
    let unmatched: Vec<DigestEntry<'a>> = picks
        .iter()
        .filter(|pick| pick.topics.is_empty())
        .map(entry)
        .collect();
    if !unmatched.is_empty() {
        sections.push(Section {
            heading: OTHERS,
            entries: unmatched,
        });
    }
    sections
}

/// How a subscriber unsubscribes from one digest.
struct UnsubscribeTargets<'c> {
    /// Their own one-click page, with `[web]`.
    one_click: Option<String>,
    /// `[mail] unsubscribe` as the header lists it: beside a one-click link, only a mailto.
    listed: Option<&'c str>,
}

impl<'c> UnsubscribeTargets<'c> {
    fn new(config: &'c Config, subscriber: &Subscriber) -> Self {
        let configured = config.mail.unsubscribe.as_deref();
        match &config.web {
            Some(web) => UnsubscribeTargets {
                one_click: Some(unsubscribe::page_url(
                    &web.base_url,
                    &web.key,
                    &subscriber.key,
                )),
                listed: configured.filter(|target| target.starts_with("mailto:")),
            },
            None => UnsubscribeTargets {
                one_click: None,
                listed: configured,
            },
        }
    }

    /// What the footer links to: the page with the button, which works in every mail
    /// client and browser, else the configured address.
    fn link(&self) -> Option<&str> {
        self.one_click.as_deref().or(self.listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paper::Paper;

    fn stored(seq: i64, id: &str, upvotes: u32, day: u32) -> StoredPaper {
        let published = format!("2026-06-{day:02}T00:00:00Z");
        StoredPaper {
            seq,
            paper: Paper {
                upvotes: Some(upvotes),
                published_at: Some(DateTime::parse_from_rfc3339(&published).unwrap().into()),
                ..Paper::new(id, id)
            },
            moved: false,
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
        let pick = |candidate, topics: &[usize]| Pick {
            candidate,
            topics: topics.to_vec(),
            like_score: None,
            like: None,
        };
        let mut picks = vec![
            pick(0, &[0, 1]),
            pick(1, &[0]),
            pick(2, &[0]),
            pick(3, &[1]),
        ];
        rank(&mut picks, &candidates);
        let order: Vec<usize> = picks.iter().map(|p| p.candidate).collect();
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

    /// Seven papers, seq 1 to 7, titled so that `agents` matches 1, 2, 4, 6 and 7; the 7th is
    /// from arXiv alone, its upvotes unknown.
    fn window_papers() -> Vec<StoredPaper> {
        let titled = |seq: i64, title: &str, upvotes: Option<u32>| StoredPaper {
            seq,
            paper: Paper {
                upvotes,
                ..Paper::new(&format!("2606.0000{seq}"), title)
            },
            moved: false,
        };
        vec![
            titled(1, "Agents one", Some(50)),
            titled(2, "Agents two", Some(3)),
            titled(3, "Diffusion three", Some(40)),
            titled(4, "Agents four", Some(20)),
            titled(5, "Diffusion five", Some(1)),
            titled(6, "Agents six", Some(10)),
            titled(7, "Agents seven", None),
        ]
    }

    type Choice = Result<Vec<String>, NothingReason>;

    /// The arXiv ids `choose` picks, in order, or why there are none.
    fn choice(
        topics: &[&str],
        lower: i64,
        upvotes: UpvoteRule,
        given: &[&str],
        max_papers: usize,
    ) -> Choice {
        let candidates = window_papers();
        let index = crate::topics::PaperIndex::new(candidates.iter().map(|c| &c.paper));
        let mut queries = crate::topics::QuerySet::new();
        let ids: Vec<QueryId> = topics
            .iter()
            .map(|t| queries.add(&crate::topics::TopicQuery::parse(t).unwrap()))
            .collect();
        let matches = queries.evaluate(&index);
        let wanted = TopicMatches::new(
            ids.iter()
                .map(|&id| TopicSet::query(&matches, id))
                .collect(),
        );
        let given: HashSet<String> = given.iter().map(|g| g.to_string()).collect();
        let picks = Eligible::new(&candidates, lower, &wanted, upvotes).choose(
            &candidates,
            &wanted,
            &given,
            max_papers,
            &[],
        )?;
        Ok(picks
            .iter()
            .map(|p| candidates[p.candidate].paper.arxiv_id.clone())
            .collect())
    }

    #[test]
    fn the_choice_takes_the_window_matched_upvoted_and_new_ranked_and_capped() {
        use NothingReason::*;
        let ids = |ids: &[&str]| Ok(ids.iter().map(|i| format!("2606.0000{i}")).collect());
        // Topics, window after seq, upvotes rule, given before, max_papers: the choice.
        type Case<'a> = (&'a [&'a str], i64, UpvoteRule, &'a [&'a str], usize, Choice);
        let any = UpvoteRule {
            min: 0,
            require: false,
        };
        let at_least = |min| UpvoteRule {
            min,
            require: false,
        };
        let known_at_least = |min| UpvoteRule { min, require: true };
        let cases: &[Case] = &[
            // Every matching paper after the cursor, by upvotes (unknown last).
            (
                &["agents"],
                0,
                any,
                &[],
                10,
                ids(&["1", "4", "6", "2", "7"]),
            ),
            // The window starts after the cursor: 1 and 2 were covered before.
            (&["agents"], 2, any, &[], 10, ids(&["4", "6", "7"])),
            (&["agents"], 7, any, &[], 10, Err(NoNewPapers)),
            // No topics: every paper of the window.
            (&[], 4, any, &[], 10, ids(&["6", "5", "7"])),
            // Two topics: a paper matching either; the cap keeps the best.
            (
                &["agents", "diffusion"],
                0,
                any,
                &[],
                3,
                ids(&["1", "3", "4"]),
            ),
            (&["quantum"], 0, any, &[], 10, Err(NoneMatched)),
            // Unknown upvotes pass min_upvotes, unless upvotes are required.
            (&["agents"], 0, at_least(15), &[], 10, ids(&["1", "4", "7"])),
            (
                &["agents"],
                0,
                known_at_least(15),
                &[],
                10,
                ids(&["1", "4"]),
            ),
            (
                &["agents"],
                4,
                known_at_least(15),
                &[],
                10,
                Err(BelowMinUpvotes),
            ),
            // Given before (sent, or waiting in the outbox): never again.
            (
                &["agents"],
                0,
                any,
                &["2606.00001", "2606.00004", "2606.00007"],
                10,
                ids(&["6", "2"]),
            ),
            (
                &["agents"],
                5,
                any,
                &["2606.00006", "2606.00007"],
                10,
                Err(AlreadySent),
            ),
        ];
        for (topics, lower, upvotes, given, max, expected) in cases {
            assert_eq!(
                &choice(topics, *lower, *upvotes, given, *max),
                expected,
                "topics {topics:?}, after seq {lower}, {upvotes:?}, given {given:?}, max {max}"
            );
        }
    }
}
