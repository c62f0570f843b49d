//! "More like these papers" topics in one run: the liked papers looked up (in the state
//! first, then on arXiv's API, and kept), and each topic's matches among the candidates.

use std::collections::{HashMap, HashSet};

use chrono::Utc;

use crate::app::App;
use crate::config::{LikeTopic, Subscriber, TopicKind};
use crate::digest::LikeMatches;
use crate::paper::Paper;
use crate::similar::{DEFAULT_MIN_SCORE, Scorer, Similarity, TopicCache};
use crate::source::arxiv;
use crate::store::{SharedStore, StoreError, StoredPaper};
use crate::topics::PaperSet;

/// How many of the latest papers the scores are calibrated against: the background a topic's
/// papers must stand out from.
const BACKGROUND: usize = 2_000;
/// Every paper that `subscribers`' like topics name (liked or unliked), by arXiv id, as far as
/// they can be found. A paper not found is a warning: its topic goes by the others.
pub(super) async fn look_up(
    app: &App,
    store: &SharedStore,
    subscribers: &[&Subscriber],
) -> Result<HashMap<String, Paper>, StoreError> {
    let mut ids: Vec<String> = like_topics(subscribers)
        .flat_map(|(_, _, topic)| topic.liked.iter().chain(&topic.unliked).cloned())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    ids.sort();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let asked = ids.clone();
    let mut known: HashMap<String, Paper> = store
        .run(move |s| s.known_papers(&asked))
        .await?
        .into_iter()
        .map(|p| (p.arxiv_id.clone(), p))
        .collect();
    let missing: Vec<String> = ids
        .into_iter()
        .filter(|id| !known.contains_key(id))
        .collect();
    if missing.is_empty() {
        return Ok(known);
    }
    let api = &app.config.sources.arxiv_api;
    match arxiv::look_up(&app.fetcher, &api.url, api.timeout, &missing).await {
        Ok(found) => {
            let kept = found.clone();
            store
                .run(move |s| s.save_looked_up(&kept, Utc::now()))
                .await?;
            known.extend(found.into_iter().map(|p| (p.arxiv_id.clone(), p)));
        }
        Err(e) => tracing::warn!(
            "cannot look liked papers up on arXiv, trying again next run: {}",
            crate::error_chain(&e)
        ),
    }
    for id in missing.iter().filter(|id| !known.contains_key(*id)) {
        tracing::warn!("liked paper {id} was not found on arXiv; its topics go by the others");
    }
    Ok(known)
}

/// Each like topic's matches among `candidates`, by (subscriber, topic) index.
pub(super) async fn score(
    cache: &TopicCache,
    store: &SharedStore,
    subscribers: &[&Subscriber],
    known: &HashMap<String, Paper>,
    candidates: &[StoredPaper],
) -> Result<HashMap<(usize, usize), LikeMatches>, StoreError> {
    let mut matched = HashMap::new();
    if like_topics(subscribers).next().is_none() {
        return Ok(matched);
    }
    let background = store.run(|s| s.recent_papers(BACKGROUND)).await?;
    let similarity = Similarity::new(background.iter().chain(known.values()));
    let batch = similarity.batch(candidates.iter().map(|c| &c.paper));
    for (i, j, topic) in like_topics(subscribers) {
        let name = &subscribers[i].topics[j].name;
        let texts: Vec<Paper> = topic
            .liked_texts
            .iter()
            .enumerate()
            .map(|(n, text)| Paper {
                summary: text.abstract_text.clone(),
                ..Paper::new(&format!("bibtex:{n}"), &text.title)
            })
            .collect();
        let liked: Vec<&Paper> = topic
            .liked
            .iter()
            .filter_map(|id| known.get(id))
            .chain(&texts)
            .collect();
        let unliked: Vec<&Paper> = topic
            .unliked
            .iter()
            .filter_map(|id| known.get(id))
            .collect();
        if liked.len() < 2 {
            tracing::warn!(
                subscriber = %subscribers[i].email,
                "topic {name:?}: only {} of its liked papers could be found, too few to go by",
                liked.len()
            );
            continue;
        }
        let model = cache.get_or_train(&similarity, &liked, &unliked, Utc::now());
        let min_score = topic.min_score.map_or(DEFAULT_MIN_SCORE, |s| s as f32);
        let scores: HashMap<usize, (f32, String)> = model
            .matches(&batch, min_score)
            .into_iter()
            .map(|(k, score)| (k, (score.value, liked[score.closest].title.clone())))
            .collect();
        let papers = PaperSet::of(candidates.len(), scores.keys().copied());
        matched.insert(
            (i, j),
            LikeMatches {
                papers,
                scores,
                max_papers: topic.max_papers,
            },
        );
    }
    Ok(matched)
}

/// The arXiv ids `subscriber` listed as liked: never sent to them, they know those.
pub(super) fn liked_by(subscriber: &Subscriber) -> impl Iterator<Item = &String> {
    subscriber
        .topics
        .iter()
        .flat_map(|topic| match &topic.kind {
            TopicKind::Like(like) => like.liked.iter(),
            TopicKind::Query(_) => [].iter(),
        })
}

/// Every like topic, with its subscriber's and its own index.
fn like_topics<'s>(
    subscribers: &'s [&'s Subscriber],
) -> impl Iterator<Item = (usize, usize, &'s LikeTopic)> + 's {
    subscribers.iter().enumerate().flat_map(|(i, subscriber)| {
        subscriber
            .topics
            .iter()
            .enumerate()
            .filter_map(move |(j, topic)| match &topic.kind {
                TopicKind::Like(like) => Some((i, j, &**like)),
                TopicKind::Query(_) => None,
            })
    })
}
