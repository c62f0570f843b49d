//! Trained topics kept between runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

use super::{LikeTopic, Similarity};
use crate::paper::Paper;

/// How long a trained topic serves before it is trained again against the papers of the day.
/// Training costs ~15 ms a topic (10,000 topics: minutes), so a daemon trains each once a day.
const RETRAIN: Duration = Duration::hours(24);

/// Trained like topics, kept between the runs of one process (the daemon's app), by what
/// they were trained from: the same liked and unliked papers give the same topic. Scoring a
/// later run's papers with it is sound: terms are hashed, not numbered per run.
#[derive(Default)]
pub struct TopicCache(Mutex<HashMap<String, Trained>>);

/// A topic and when it was trained.
type Trained = (Arc<LikeTopic>, DateTime<Utc>);

impl TopicCache {
    /// The topic trained from `liked` and `unliked`, from the cache while it is fresh.
    pub fn get_or_train(
        &self,
        similarity: &Similarity,
        liked: &[&Paper],
        unliked: &[&Paper],
        now: DateTime<Utc>,
    ) -> Arc<LikeTopic> {
        let key = cache_key(liked, unliked);
        let mut cache = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((topic, trained_at)) = cache.get(&key)
            && now - *trained_at < RETRAIN
        {
            return Arc::clone(topic);
        }
        let topic = Arc::new(similarity.topic(liked, unliked));
        cache.insert(key, (Arc::clone(&topic), now));
        topic
    }
}

/// What a topic is trained from, as one string: the liked papers' ids and titles (a BibTeX
/// entry may have no id), then the unliked ones'.
fn cache_key(liked: &[&Paper], unliked: &[&Paper]) -> String {
    let part = |papers: &[&Paper]| {
        papers
            .iter()
            .map(|p| format!("{}\u{1f}{}", p.arxiv_id, p.title))
            .collect::<Vec<_>>()
            .join("\u{1e}")
    };
    format!("{}\u{1d}{}", part(liked), part(unliked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_is_trained_once_a_day_for_the_same_papers() {
        let papers: Vec<Paper> = (0..6)
            .map(|i| Paper {
                summary: format!("Sparse attention for long contexts, part {i}."),
                ..Paper::new(&format!("2606.0000{i}"), "Sparse attention")
            })
            .collect();
        let similarity = Similarity::new(papers.iter());
        let liked: Vec<&Paper> = papers[..2].iter().collect();
        let cache = TopicCache::default();
        let now = Utc::now();
        let first = cache.get_or_train(&similarity, &liked, &[], now);
        let again = cache.get_or_train(&similarity, &liked, &[], now + Duration::hours(23));
        assert!(Arc::ptr_eq(&first, &again), "reused within the day");
        let other: Vec<&Paper> = papers[2..4].iter().collect();
        let different = cache.get_or_train(&similarity, &other, &[], now);
        assert!(
            !Arc::ptr_eq(&first, &different),
            "other papers, another topic"
        );
        let later = cache.get_or_train(&similarity, &liked, &[], now + Duration::hours(25));
        assert!(!Arc::ptr_eq(&first, &later), "trained again the next day");
    }
}
