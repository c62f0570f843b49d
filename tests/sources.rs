//! The sources as a service sees them: every request names Paperboy, a second fetch is
//! conditional, a token goes where it is configured.

mod support;

use support::*;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

#[tokio::test(flavor = "multi_thread")]
async fn a_second_fetch_is_conditional_and_every_request_names_paperboy() {
    let env = TestEnv::empty("").await;
    // Unchanged lists answer 304 to a request that carries their ETag.
    Mock::given(method("GET"))
        .and(path("/api/daily_papers"))
        .and(header("if-none-match", "\"daily-1\""))
        .respond_with(ResponseTemplate::new(304))
        .with_priority(1)
        .mount(&env.hf)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/daily_papers"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", "\"daily-1\"")
                .set_body_raw(FIXTURE, "application/json"),
        )
        .with_priority(2)
        .mount(&env.hf)
        .await;

    let first = env.run(&["fetch"]).await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(stdout(&first).contains("30 new"), "{}", stdout(&first));
    let asked_first = env.hf.received_requests().await.unwrap().len();

    let second = env.run(&["fetch"]).await;
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(
        stdout(&second).contains("0 new, 0 refreshed, 0 of 1 sources failed"),
        "{}",
        stdout(&second)
    );
    let requests = env.hf.received_requests().await.unwrap();
    let (before, after) = requests.split_at(asked_first);
    assert!(
        before
            .iter()
            .all(|r| !r.headers.contains_key("if-none-match")),
        "a first fetch has nothing to be conditional on"
    );
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|r| r
            .headers
            .get("if-none-match")
            .is_some_and(|v| v == "\"daily-1\"")),
        "every request of the second fetch is conditional"
    );
    for request in &requests {
        let agent = request.headers.get("user-agent").unwrap().to_str().unwrap();
        assert!(agent.starts_with("paperboy/"), "{agent}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hugging_face_token_is_sent_as_a_bearer_token() {
    let env = TestEnv::empty("").await;
    let token = env.dir.path().join("hf-token");
    std::fs::write(&token, "hf_secret\n").unwrap();
    let config = std::fs::read_to_string(&env.config).unwrap();
    let config = config.replace(
        "[sources.huggingface]\n",
        &format!(
            "[sources.huggingface]\ntoken_file = {:?}\n",
            token.display().to_string()
        ),
    );
    std::fs::write(&env.config, config).unwrap();
    env.serve_papers(FIXTURE).await;
    let out = env.run(&["fetch"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let requests = env.hf.received_requests().await.unwrap();
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(
            request.headers.get("authorization").unwrap(),
            "Bearer hf_secret"
        );
    }
    assert!(!stderr(&out).contains("hf_secret"), "never logged");
}
