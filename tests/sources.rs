//! The sources as a service sees them: every request names Paperboy, a second fetch is
//! conditional, a token goes where it is configured.

mod support;

use support::*;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

/// Every request carries a User-Agent naming Paperboy.
fn assert_all_name_paperboy(requests: &[wiremock::Request]) {
    for request in requests {
        let agent = request.headers.get("user-agent").unwrap().to_str().unwrap();
        assert!(agent.starts_with("paperboy/"), "{agent}");
    }
}

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
    assert_all_name_paperboy(&requests);
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

const RSS: &str = include_str!("fixtures/arxiv_rss.xml");

/// `[sources.arxiv]` following cs.LG and cs.CL on the stand-in server, then `subscribers`.
fn with_arxiv(env_uri: &str, subscribers: &str) -> String {
    format!(
        "[sources.arxiv]\nenabled = true\ncategories = [\"cs.LG\", \"cs.CL\"]\n\
         rss_url = \"{env_uri}/rss\"\napi_url = \"{env_uri}/api/query\"\ntimeout = \"5s\"\n\
         {subscribers}"
    )
}

async fn serve_rss(env: &TestEnv, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path("/rss/cs.LG+cs.CL"))
        .respond_with(response)
        .mount(&env.hf)
        .await;
}

/// Serves the recorded announcement.
async fn serve_feed(env: &TestEnv) {
    serve_rss(
        env,
        ResponseTemplate::new(200).set_body_raw(RSS, "application/rss+xml"),
    )
    .await;
}

/// A TestEnv whose config is written once the stand-in server's address is known.
async fn arxiv_env(subscribers: &str) -> TestEnv {
    let env = TestEnv::new("").await;
    let config = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        format!("{config}\n{}", with_arxiv(&env.hf.uri(), subscribers)),
    )
    .unwrap();
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn arxiv_papers_reach_their_subscribers_once_merged_with_hugging_face() {
    let env = arxiv_env(
        r#"
[[subscribers]]
email = "cl@example.org"
topics = ["category:cs.CL"]

[[subscribers]]
email = "stat@example.org"
topics = ["category:stat.*"]

[[subscribers]]
email = "sparse@example.org"
topics = ['title:"sparse attention"']

[[subscribers]]
email = "robust@example.org"
topics = ["title:robust"]
"#,
    )
    .await;
    serve_feed(&env).await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mails = env.mails();
    let ids = |address: &str| {
        let to = mails_to(&mails, address);
        assert_eq!(to.len(), 1, "{address}: {}", stdout(&out));
        to[0].arxiv_ids()
    };
    // The two papers Hugging Face lists too rank by their upvotes (118, 103), the arXiv-only
    // ones after them; the replacement (2509.08817, cs.CL) does not come.
    assert_eq!(
        ids("cl@example.org"),
        ["2606.13681", "2606.13392", "2606.14230", "2606.14012"]
    );
    // Cross-listed from stat.ML; the replace-cross math/0601001 (stat.TH) does not come.
    assert_eq!(ids("stat@example.org"), ["2606.13955"]);
    assert_eq!(ids("sparse@example.org"), ["2606.13392"]);
    assert_eq!(
        ids("robust@example.org"),
        ["2606.13681", "2606.08063", "2606.11409", "2606.14107"]
    );

    // On both sources, one paper: with its upvotes and its Hugging Face page.
    let sparse = mails_to(&mails, "sparse@example.org")[0];
    assert!(sparse.text.contains("103 upvotes"), "{}", sparse.text);
    assert!(
        sparse
            .text
            .contains("https://huggingface.co/papers/2606.13392")
    );
    // From arXiv alone: no upvotes to show, and the title links to arXiv.
    let stat = mails_to(&mails, "stat@example.org")[0];
    assert!(!stat.text.contains("upvote"), "{}", stat.text);
    assert!(
        !stat.text.contains("huggingface.co/papers"),
        "{}",
        stat.text
    );
    let title_link = "<a href=\"https://arxiv.org/abs/2606.13955\" data-color=\"link\" style=\"color:#1d4ed8; text-decoration:none;\">Conformal";
    assert!(stat.html.contains(title_link), "{}", stat.html);

    let conn = rusqlite::Connection::open(env.state_path()).unwrap();
    let (count, categories, upvotes): (i64, String, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM papers WHERE arxiv_id = '2606.13392'), categories, upvotes
             FROM papers WHERE arxiv_id = '2606.13392'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (count, categories.as_str(), upvotes),
        (1, r#"["cs.CL","cs.AI","cs.LG"]"#, 103)
    );

    // Sent from one source, never again from the other: Hugging Face lists it again
    // tomorrow, arXiv's feed is unchanged.
    let again = env.run(&["send-now"]).await;
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(env.mails().len(), mails.len(), "{}", stdout(&again));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_feed_is_asked_for_conditionally_and_a_304_is_a_quiet_day() {
    let env = arxiv_env("").await;
    Mock::given(method("GET"))
        .and(path("/rss/cs.LG+cs.CL"))
        .and(header("if-modified-since", "Fri, 12 Jun 2026 04:31:17 GMT"))
        .respond_with(ResponseTemplate::new(304))
        .with_priority(1)
        .mount(&env.hf)
        .await;
    serve_rss(
        &env,
        ResponseTemplate::new(200)
            .insert_header("last-modified", "Fri, 12 Jun 2026 04:31:17 GMT")
            .set_body_raw(RSS, "application/rss+xml"),
    )
    .await;
    let first = env.run(&["fetch"]).await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let second = env.run(&["fetch"]).await;
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(
        stdout(&second).contains("0 new,") && stdout(&second).contains("0 of 2 sources failed"),
        "{}",
        stdout(&second)
    );
    let feeds: Vec<_> = env
        .hf
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path().starts_with("/rss/"))
        .collect();
    assert_eq!(feeds.len(), 2);
    assert!(!feeds[0].headers.contains_key("if-modified-since"));
    assert_eq!(
        feeds[1].headers.get("if-modified-since").unwrap(),
        "Fri, 12 Jun 2026 04:31:17 GMT"
    );
    assert_all_name_paperboy(&feeds);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_feed_is_logged_and_hugging_face_still_delivers() {
    let env = arxiv_env("[[subscribers]]\nemail = \"a@example.org\"\n").await;
    serve_rss(
        &env,
        ResponseTemplate::new(200).set_body_raw("<html><body>Oops</body></html>", "text/html"),
    )
    .await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "one source of two failed: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains(
            "not the list of papers arxiv returns: not an RSS feed: the root element is <html>"
        ),
        "{err}"
    );
    assert_eq!(env.mails().len(), 1, "Hugging Face's papers went out");
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_since_fills_in_from_the_api_for_the_configured_categories() {
    let env = arxiv_env("").await;
    serve_rss(
        &env,
        ResponseTemplate::new(200).set_body_raw(
            include_str!("fixtures/arxiv_rss_empty.xml"),
            "application/rss+xml",
        ),
    )
    .await;
    // The recorded page, as if submitted yesterday and today.
    let today = chrono::Utc::now().date_naive();
    let yesterday = today - chrono::Duration::days(1);
    let page = include_str!("fixtures/arxiv_api.xml")
        .replacen("2026-06-11T17:59:49Z", &format!("{today}T01:00:00Z"), 2)
        .replace("2026-06-11T", &format!("{yesterday}T"));
    Mock::given(method("GET"))
        .and(path("/api/query"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(page, "application/atom+xml"))
        .mount(&env.hf)
        .await;
    let since = yesterday.to_string();
    let started = std::time::Instant::now();
    let out = env.run(&["fetch", "--since", &since]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The feed, then the API page, 3 seconds apart as arXiv asks (the spacing itself is
    // tested under paused time in source::http).
    assert!(started.elapsed() >= std::time::Duration::from_secs(3));
    let listed = stdout(&out);
    for id in [
        "2606.13677",
        "2606.13591",
        "2606.13568",
        "2606.13515",
        "2606.13501",
    ] {
        assert!(listed.contains(id), "{id} in {listed}");
    }
    let requests = env.hf.received_requests().await.unwrap();
    let api: Vec<_> = requests
        .iter()
        .filter(|r| r.url.path() == "/api/query")
        .collect();
    // A page shorter than asked for is the last, whatever totalResults says.
    assert_eq!(api.len(), 1);
    let query: std::collections::HashMap<_, _> = api[0].url.query_pairs().into_owned().collect();
    assert_eq!(query["search_query"], "cat:cs.LG OR cat:cs.CL");
    assert_eq!(query["sortBy"], "submittedDate");
    assert_eq!(query["start"], "0");

    let too_far = (today - chrono::Duration::days(31)).to_string();
    let refused = env.run(&["fetch", "--since", &too_far]).await;
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("--since"), "{}", stderr(&refused));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paper_sent_from_arxiv_is_not_sent_again_when_hugging_face_lists_it() {
    let env = arxiv_env("[[subscribers]]\nemail = \"sparse@example.org\"\ntopics = ['title:\"sparse attention\"']\n").await;
    // Hugging Face has not listed MiniMax Sparse Attention yet; arXiv announces it.
    let mut items: Vec<serde_json::Value> = serde_json::from_str(FIXTURE).unwrap();
    items.retain(|item| item["paper"]["id"] != "2606.13392");
    env.serve_papers(&serde_json::Value::Array(items).to_string())
        .await;
    serve_feed(&env).await;
    assert_eq!(env.run(&["send-now"]).await.status.code(), Some(0));
    let mails = env.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].arxiv_ids(), ["2606.13392"]);
    assert!(!mails[0].text.contains("upvote"), "{}", mails[0].text);

    // The next day Hugging Face lists it, with 103 upvotes.
    env.serve_papers(FIXTURE).await;
    serve_feed(&env).await;
    let next = env.run(&["send-now"]).await;
    assert_eq!(next.status.code(), Some(0), "{}", stderr(&next));
    assert_eq!(env.mails().len(), 1, "not again: {}", stdout(&next));
    let conn = rusqlite::Connection::open(env.state_path()).unwrap();
    let upvotes: i64 = conn
        .query_row(
            "SELECT upvotes FROM papers WHERE arxiv_id = '2606.13392'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(upvotes, 103, "the upvotes arrived all the same");
}

#[tokio::test(flavor = "multi_thread")]
async fn categories_that_arrive_after_a_digest_still_reach_category_topics() {
    let env = arxiv_env(
        "[[subscribers]]\nemail = \"cl@example.org\"\ntopics = [\"category:cs.CL\"]\n\
         [[subscribers]]\nemail = \"sparse@example.org\"\ntopics = ['title:\"sparse attention\"']\n",
    )
    .await;
    // Hugging Face lists the papers before arXiv's evening announcement.
    serve_rss(
        &env,
        ResponseTemplate::new(200).set_body_raw(
            include_str!("fixtures/arxiv_rss_empty.xml"),
            "application/rss+xml",
        ),
    )
    .await;
    let first = env.run(&["send-now"]).await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let mails = env.mails();
    assert!(
        mails_to(&mails, "cl@example.org").is_empty(),
        "no categories yet"
    );
    assert_eq!(
        mails_to(&mails, "sparse@example.org")[0].arxiv_ids(),
        ["2606.13392"]
    );

    env.serve_papers(FIXTURE).await;
    serve_feed(&env).await;
    let next = env.run(&["send-now"]).await;
    assert_eq!(next.status.code(), Some(0), "{}", stderr(&next));
    let mails = env.mails();
    // The papers Hugging Face brought earlier match cs.CL now that arXiv names it.
    assert_eq!(
        mails_to(&mails, "cl@example.org")[0].arxiv_ids(),
        ["2606.13681", "2606.13392", "2606.14230", "2606.14012"]
    );
    // And the one sparse@ was sent does not come to them again, though it is back in the
    // window: the history of what they were given holds across sources.
    assert_eq!(
        mails_to(&mails, "sparse@example.org").len(),
        1,
        "{}",
        stdout(&next)
    );
    assert!(
        stdout(&next).contains(
            "sparse@example.org: nothing to send: every matching paper was sent to them before"
        ),
        "{}",
        stdout(&next)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replacements_come_only_when_asked_for() {
    let env =
        arxiv_env("[[subscribers]]\nemail = \"cl@example.org\"\ntopics = [\"category:cs.CL\"]\n")
            .await;
    let config = std::fs::read_to_string(&env.config).unwrap();
    let config = config.replace(
        "[sources.arxiv]\nenabled = true\n",
        "[sources.arxiv]\nenabled = true\ninclude_replacements = true\n",
    );
    std::fs::write(&env.config, config).unwrap();
    serve_feed(&env).await;
    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mails = env.mails();
    let ids = mails_to(&mails, "cl@example.org")[0].arxiv_ids();
    assert!(ids.contains(&"2509.08817".to_string()), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn liked_papers_are_looked_up_by_id_in_one_request_per_batch() {
    let server = wiremock::MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/query"))
        .and(wiremock::matchers::query_param(
            "id_list",
            "2606.13677,2606.13591",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            include_str!("fixtures/arxiv_api.xml"),
            "application/atom+xml",
        ))
        .mount(&server)
        .await;
    let fetcher = paperboy::source::http::Fetcher::new().unwrap();
    let ids = ["2606.13677".to_string(), "2606.13591".to_string()];
    let papers = paperboy::source::arxiv::look_up(
        &fetcher,
        &format!("{}/api/query", server.uri()),
        std::time::Duration::from_secs(5),
        &ids,
    )
    .await
    .unwrap();
    assert_eq!(papers[0].arxiv_id, "2606.13677");
    assert_eq!(
        papers[0].title,
        "Mana: Dexterous Manipulation of Articulated Tools"
    );
    assert_eq!(
        papers[0].categories[0], "cs.RO",
        "the primary category first"
    );
    assert!(papers.iter().all(|p| p.upvotes.is_none()));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}
