//! A state database written by the previous release (schema 1, `tests/fixtures/state_v1.db`,
//! made as `tests/fixtures/state_v1.md` tells) upgraded in place by this one: the digests it
//! left pending go out once, and nobody gets a paper twice across the upgrade.

mod support;

use std::collections::HashSet;

use support::*;

/// The subscribers the fixture was written with.
const SUBSCRIBERS: &str = r#"
[[subscribers]]
email = "alice@example.org"
topics = ["title:agents"]

[[subscribers]]
email = "Bob@Example.org"
topics = ["title:quantum"]

[[subscribers]]
email = "carol@example.org"
max_papers = 3
"#;

/// The arXiv ids of each subscriber's digests that the old release left with `status`.
fn papers_before(state: &std::path::Path, subscriber: &str, status: &str) -> HashSet<String> {
    let conn = rusqlite::Connection::open(state).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT p.arxiv_id FROM digest_papers p JOIN digests d ON d.id = p.digest_id
             WHERE d.subscriber = ?1 AND d.status = ?2",
        )
        .unwrap();
    stmt.query_map([subscriber, status], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_digests_go_out_once_and_no_paper_comes_twice() {
    let env = TestEnv::new(SUBSCRIBERS).await;
    let state = env.state_path();
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    std::fs::copy("tests/fixtures/state_v1.db", &state).unwrap();
    let before: Vec<HashSet<String>> = ["alice@example.org", "carol@example.org"]
        .iter()
        .map(|who| papers_before(&state, who, "sent"))
        .collect();
    assert!(before.iter().all(|ids| !ids.is_empty()));
    let waiting: Vec<HashSet<String>> = ["alice@example.org", "carol@example.org"]
        .iter()
        .map(|who| papers_before(&state, who, "pending"))
        .collect();
    assert!(waiting.iter().all(|ids| !ids.is_empty()));

    // New papers since: one for alice's topic, one for carol's most upvoted.
    let mut items: Vec<serde_json::Value> = serde_json::from_str(FIXTURE).unwrap();
    items.push(hf_item(
        "2612.00001",
        "Agents That Upgrade Themselves",
        "A new paper.",
        &["Ada Lovelace"],
        500,
    ));
    env.serve_papers(&serde_json::Value::Array(items).to_string())
        .await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let mails = env.mails();
    for ((who, sent), waiting) in ["alice@example.org", "carol@example.org"]
        .iter()
        .zip(&before)
        .zip(&waiting)
    {
        let theirs = mails_to(&mails, who);
        // One email: this run's digest, carrying the papers of the one the old release left
        // pending (which it supersedes) beside the new paper.
        assert_eq!(theirs.len(), 1, "{who}: {}", stdout(&out));
        let ids: HashSet<String> = theirs[0].arxiv_ids().into_iter().collect();
        assert!(
            ids.is_superset(waiting),
            "{who}: {ids:?} carries {waiting:?}"
        );
        let mut seen = sent.clone();
        for mail in &theirs {
            for id in mail.arxiv_ids() {
                assert!(seen.insert(id.clone()), "{who} got {id} twice");
            }
        }
        assert!(seen.contains("2612.00001"), "{who} got the new paper");
    }
    assert!(mails_to(&mails, "Bob@Example.org").is_empty());

    // Nothing is left to send, and the next run sends nothing again.
    let again = env.run(&["send-now"]).await;
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(env.mails().len(), mails.len());
    let status = stdout(&env.run(&["status"]).await);
    assert!(status.contains("outbox: 0 pending, 0 failed"), "{status}");
}
