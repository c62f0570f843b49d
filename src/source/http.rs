//! Polite HTTP for every source: conditional GET, `Retry-After`, and spacing between the
//! requests to one group of hosts (STYLE.md item 8).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SubsecRound, TimeDelta, Utc};
use reqwest::StatusCode;
use reqwest::header::{
    ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER,
};
use tokio::time::Instant;

use super::SourceError;

/// How many times one GET is retried after a 429 or 503 with `Retry-After`.
pub const MAX_RETRIES: u32 = 2;
/// The most one GET waits in all on `Retry-After`: beyond it a fetch cycle would stall every
/// other source and digest behind it, so we give up and the next cycle asks again.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(5 * 60);

/// The most a response body may be. The largest lists the sources send (arXiv's API pages
/// of 200 papers, an RSS feed of several busy categories) are a few MB; anything far beyond
/// is a broken proxy or a hostile server, and would be held in memory whole.
pub const MAX_BODY: usize = 16 << 20;

/// What a conditional GET remembers of a URL's last 200, to send back on the next request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }

    fn from_headers(headers: &HeaderMap) -> Validators {
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        Validators {
            etag: text(ETAG),
            last_modified: text(LAST_MODIFIED),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// A 304: what the validators stand for is still current.
    NotModified,
    Body {
        body: Vec<u8>,
        /// Empty when the server sent none.
        validators: Validators,
    },
}

/// Requests of one group of hosts (`"arxiv"` for rss.arxiv.org and export.arxiv.org) start at
/// least `interval` apart, across every caller of the same [`Fetcher`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spacing {
    pub group: &'static str,
    pub interval: Duration,
}

#[derive(Clone, Copy, Debug)]
pub struct Get<'a> {
    pub url: &'a str,
    /// For each attempt, from connecting until the body is read.
    pub timeout: Duration,
    /// From the last 200 of this URL: makes the GET conditional.
    pub validators: Option<&'a Validators>,
    pub spacing: Option<Spacing>,
    /// Sent as `Authorization: Bearer …` (Hugging Face tokens).
    pub bearer_token: Option<&'a str>,
}

impl<'a> Get<'a> {
    /// A plain GET; set the other fields with `Get { validators, ..Get::new(url, timeout) }`.
    pub fn new(url: &'a str, timeout: Duration) -> Get<'a> {
        Get {
            url,
            timeout,
            validators: None,
            spacing: None,
            bearer_token: None,
        }
    }
}

/// The HTTP client every source shares, with the spacing state that makes it polite.
#[derive(Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    spacer: Spacer,
}

impl Fetcher {
    pub fn new() -> Result<Fetcher, reqwest::Error> {
        Ok(Fetcher {
            client: super::http_client()?,
            spacer: Spacer::new(),
        })
    }

    pub async fn get(&self, request: Get<'_>) -> Result<Fetched, SourceError> {
        let url = request.url;
        let transport = |source| SourceError::Request {
            url: url.to_string(),
            source,
        };
        let mut retries = 0;
        let mut waited = Duration::ZERO;
        loop {
            // A retry is a request like any other to the server, so it is spaced too.
            if let Some(spacing) = request.spacing {
                self.spacer.wait(spacing.group, spacing.interval).await;
            }
            let response = self.send(&request).await.map_err(transport)?;
            let status = response.status();
            let conditional = request.validators.is_some_and(|v| !v.is_empty());
            // Without validators there is no earlier body for a 304 to stand for.
            if status == StatusCode::NOT_MODIFIED && conditional {
                return Ok(Fetched::NotModified);
            }
            if status.is_success() {
                let validators = Validators::from_headers(response.headers());
                let body = read_body(response, url, MAX_BODY).await?;
                return Ok(Fetched::Body { body, validators });
            }
            let asked = if status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::SERVICE_UNAVAILABLE
            {
                response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, Utc::now()))
            } else {
                None
            };
            let Some(asked) = asked else {
                return Err(SourceError::Status {
                    url: url.to_string(),
                    status,
                });
            };
            let Some(wait) = retry_wait(asked, retries, waited) else {
                return Err(SourceError::Throttled {
                    url: url.to_string(),
                    status,
                    retries,
                    retry_at: retry_at(Utc::now(), asked),
                });
            };
            tracing::info!(
                %url,
                %status,
                "the server asks to be asked again in {} s; waiting",
                wait.as_secs_f64()
            );
            tokio::time::sleep(wait).await;
            retries += 1;
            waited += wait;
        }
    }

    async fn send(&self, request: &Get<'_>) -> Result<reqwest::Response, reqwest::Error> {
        let mut builder = self.client.get(request.url).timeout(request.timeout);
        if let Some(validators) = request.validators {
            // A validator that is no longer a valid header (a damaged state) only costs an
            // unconditional GET.
            let header =
                |v: &Option<String>| v.as_deref().and_then(|v| HeaderValue::from_str(v).ok());
            if let Some(etag) = header(&validators.etag) {
                builder = builder.header(IF_NONE_MATCH, etag);
            }
            if let Some(date) = header(&validators.last_modified) {
                builder = builder.header(IF_MODIFIED_SINCE, date);
            }
        }
        if let Some(token) = request.bearer_token {
            // Marked sensitive by reqwest: kept out of Debug output and dropped on a redirect to
            // another host.
            builder = builder.bearer_auth(token);
        }
        builder.send().await
    }
}

/// The body of `response`, refused once it is larger than `limit`: at once when it says so
/// in its Content-Length, else as soon as that much has come.
async fn read_body(
    mut response: reqwest::Response,
    url: &str,
    limit: usize,
) -> Result<Vec<u8>, SourceError> {
    let too_large = || SourceError::TooLarge {
        url: url.to_string(),
        limit,
    };
    let declared = response.content_length().unwrap_or(0);
    if declared > limit as u64 {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared as usize);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|source| SourceError::Request {
            url: url.to_string(),
            source,
        })?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// How long to wait before retrying, when the server asked for `asked` after `retries`
/// retries that waited `waited` in all; `None` to give up now rather than wait past the
/// bounds.
fn retry_wait(asked: Duration, retries: u32, waited: Duration) -> Option<Duration> {
    let within = waited
        .checked_add(asked)
        .is_some_and(|total| total <= MAX_RETRY_WAIT);
    (retries < MAX_RETRIES && within).then_some(asked)
}

/// When a wait of `asked` from `now` ends, to the second, for an error message.
fn retry_at(now: DateTime<Utc>, asked: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(asked)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
        .trunc_subsecs(0)
}

/// Keeps requests to each group of hosts at least an interval apart, across every caller
/// that shares it.
#[derive(Debug, Default)]
pub struct Spacer {
    /// When the latest request of each group starts (or started): the slot it reserved.
    next_free: Mutex<HashMap<&'static str, Instant>>,
}

impl Spacer {
    pub fn new() -> Spacer {
        Spacer::default()
    }

    /// Waits until `interval` has passed since the previous request of `group` started, and
    /// counts the caller's request as started then.
    pub async fn wait(&self, group: &'static str, interval: Duration) {
        // Each caller reserves its slot under the lock and sleeps outside it: concurrent callers
        // get slots in the order they asked, and nobody holds the lock across a sleep.
        let start = {
            let mut last = self
                .next_free
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let start = match last.get(group) {
                Some(&previous) => (previous + interval).max(now),
                None => now,
            };
            last.insert(group, start);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

/// How long a `Retry-After` value (RFC 9110 §10.2.3) asks us to wait from `now`: delay
/// seconds or an HTTP date; a date in the past means now. `None` when it is neither.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still a request to wait, longer than anyone will.
        return Some(value.parse().map_or(Duration::MAX, Duration::from_secs));
    }
    let at = parse_http_date(value)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// The three forms RFC 9110 §5.6.7 obliges a recipient to accept: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form and asctime.
fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc2822(value) {
        return Some(at.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(|at| at.and_utc())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = at("1994-11-06T08:49:00Z");
        let table = [
            ("120", Some(120)),
            (" 0 ", Some(0)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(37)),
            ("Sunday, 06-Nov-94 08:49:37 GMT", Some(37)),
            ("Sun Nov  6 08:49:37 1994", Some(37)),
            ("Sun, 06 Nov 1994 08:48:00 GMT", Some(0)),
            ("Sat, 05 Nov 1994 08:49:37 GMT", Some(0)),
            ("", None),
            ("-5", None),
            ("1.5", None),
            ("soon", None),
        ];
        for (value, seconds) in table {
            assert_eq!(
                parse_retry_after(value, now),
                seconds.map(Duration::from_secs),
                "{value:?}"
            );
        }
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::MAX)
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Utc.with_ymd_and_hms(1994, 11, 6, 8, 49, 37).unwrap())
        );
    }

    /// Seconds since `start`, which the paused clock keeps exact.
    fn since(start: Instant) -> u64 {
        let elapsed = start.elapsed();
        assert_eq!(elapsed.subsec_nanos(), 0, "{elapsed:?}");
        elapsed.as_secs()
    }

    #[test]
    fn retries_stay_within_their_bounds() {
        let s = Duration::from_secs;
        let table = [
            // asked, retries so far, waited so far, wait
            (s(1), 0, s(0), Some(s(1))),
            (s(1), 1, s(1), Some(s(1))),
            (s(1), MAX_RETRIES, s(2), None),
            (s(0), 0, s(0), Some(s(0))),
            (MAX_RETRY_WAIT, 0, s(0), Some(MAX_RETRY_WAIT)),
            (MAX_RETRY_WAIT, 1, s(1), None),
            (s(3600), 0, s(0), None),
            (Duration::MAX, 0, s(1), None),
        ];
        for (asked, retries, waited, wait) in table {
            assert_eq!(
                retry_wait(asked, retries, waited),
                wait,
                "{asked:?} {retries} {waited:?}"
            );
        }
    }

    #[test]
    fn a_throttled_error_says_when_to_ask_again() {
        let now = at("2026-03-01T12:00:00.75Z");
        let error = SourceError::Throttled {
            url: "https://rss.arxiv.org/rss/cs.CL".into(),
            status: StatusCode::TOO_MANY_REQUESTS,
            retries: 2,
            retry_at: retry_at(now, Duration::from_secs(90)),
        };
        assert_eq!(
            error.to_string(),
            "GET https://rss.arxiv.org/rss/cs.CL: HTTP 429 Too Many Requests after 2 retries; \
             the server asks to be asked again at 2026-03-01 12:01:30 UTC"
        );
        assert_eq!(
            retry_at(now, Duration::MAX),
            DateTime::<Utc>::MAX_UTC.trunc_subsecs(0)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn requests_of_a_group_start_an_interval_apart() {
        let spacer = Spacer::new();
        let start = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..3 {
            spacer.wait("arxiv", Duration::from_secs(3)).await;
            starts.push(since(start));
        }
        assert_eq!(starts, [0, 3, 6]);
    }

    #[tokio::test(start_paused = true)]
    async fn other_groups_are_not_delayed() {
        let spacer = Spacer::new();
        let start = Instant::now();
        spacer.wait("arxiv", Duration::from_secs(3)).await;
        spacer.wait("huggingface", Duration::from_secs(3)).await;
        spacer.wait("other", Duration::ZERO).await;
        assert_eq!(since(start), 0);
        spacer.wait("arxiv", Duration::from_secs(3)).await;
        assert_eq!(since(start), 3);
        spacer.wait("huggingface", Duration::from_secs(3)).await;
        assert_eq!(since(start), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_interval_counts_from_the_previous_start_not_from_now() {
        let spacer = Spacer::new();
        let start = Instant::now();
        spacer.wait("arxiv", Duration::from_secs(3)).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        spacer.wait("arxiv", Duration::from_secs(3)).await;
        assert_eq!(since(start), 3);
        tokio::time::sleep(Duration::from_secs(10)).await;
        spacer.wait("arxiv", Duration::from_secs(3)).await;
        assert_eq!(since(start), 13);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_queue() {
        let spacer = Arc::new(Spacer::new());
        let start = Instant::now();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let spacer = Arc::clone(&spacer);
                tokio::spawn(async move {
                    spacer.wait("arxiv", Duration::from_secs(3)).await;
                    since(start)
                })
            })
            .collect();
        let mut starts = Vec::new();
        for task in tasks {
            starts.push(task.await.unwrap());
        }
        starts.sort_unstable();
        assert_eq!(starts, [0, 3, 6, 9]);
    }

    /// Against a real server on loopback, in real time: the paused clock would skip ahead
    /// while the runtime waits on the network.
    mod network {
        use std::time::Instant;

        use wiremock::matchers::{header, method, path};
        use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

        use super::*;

        const TIMEOUT: Duration = Duration::from_secs(10);
        const LAST_MODIFIED_AT: &str = "Sun, 01 Mar 2026 20:00:00 GMT";

        /// Answers with `replies` in order (the last one again and again), noting when each
        /// request came.
        #[derive(Clone)]
        struct Script {
            replies: Arc<Vec<ResponseTemplate>>,
            times: Arc<Mutex<Vec<Instant>>>,
        }

        impl Script {
            fn new(replies: Vec<ResponseTemplate>) -> Script {
                Script {
                    replies: Arc::new(replies),
                    times: Arc::default(),
                }
            }

            fn gaps(&self) -> Vec<Duration> {
                let times = self.times.lock().unwrap();
                times.windows(2).map(|w| w[1] - w[0]).collect()
            }
        }

        impl Respond for Script {
            fn respond(&self, _: &Request) -> ResponseTemplate {
                let mut times = self.times.lock().unwrap();
                times.push(Instant::now());
                self.replies[(times.len() - 1).min(self.replies.len() - 1)].clone()
            }
        }

        async fn serve(script: &Script) -> MockServer {
            let server = MockServer::start().await;
            Mock::given(method("GET"))
                .respond_with(script.clone())
                .mount(&server)
                .await;
            server
        }

        fn throttled(status: u16, retry_after: &str) -> ResponseTemplate {
            ResponseTemplate::new(status).insert_header("Retry-After", retry_after)
        }

        /// Every request the server saw, checking on the way that each named us.
        async fn requests(server: &MockServer) -> Vec<Request> {
            let requests = server.received_requests().await.unwrap();
            for request in &requests {
                let agent = request.headers.get("user-agent").unwrap().to_str().unwrap();
                assert!(agent.starts_with("paperboy/"), "{agent}");
                assert!(agent.contains("(+https://"), "{agent}");
            }
            requests
        }

        #[tokio::test]
        async fn a_second_get_is_conditional_and_a_304_means_not_modified() {
            let server = MockServer::start().await;
            Mock::given(method("GET"))
                .and(path("/rss/cs.CL"))
                // Not `header("if-modified-since", …)` too: wiremock splits the date at its comma.
                .and(header("if-none-match", "\"v1\""))
                .respond_with(ResponseTemplate::new(304))
                .with_priority(1)
                .mount(&server)
                .await;
            Mock::given(method("GET"))
                .and(path("/rss/cs.CL"))
                .respond_with(
                    ResponseTemplate::new(200)
                        .insert_header("ETag", "\"v1\"")
                        .insert_header("Last-Modified", LAST_MODIFIED_AT)
                        .set_body_string("<rss/>"),
                )
                .mount(&server)
                .await;
            let fetcher = Fetcher::new().unwrap();
            let url = format!("{}/rss/cs.CL", server.uri());

            let first = fetcher.get(Get::new(&url, TIMEOUT)).await.unwrap();
            let validators = Validators {
                etag: Some("\"v1\"".into()),
                last_modified: Some(LAST_MODIFIED_AT.into()),
            };
            assert_eq!(
                first,
                Fetched::Body {
                    body: b"<rss/>".to_vec(),
                    validators: validators.clone(),
                }
            );
            let second = Get {
                validators: Some(&validators),
                ..Get::new(&url, TIMEOUT)
            };
            assert_eq!(fetcher.get(second).await.unwrap(), Fetched::NotModified);

            let requests = requests(&server).await;
            assert_eq!(requests.len(), 2);
            assert!(requests[0].headers.get("if-none-match").is_none());
            assert!(requests[0].headers.get("if-modified-since").is_none());
            let since = requests[1].headers.get("if-modified-since").unwrap();
            assert_eq!(since.to_str().unwrap(), LAST_MODIFIED_AT);
        }

        #[tokio::test]
        async fn a_body_without_validators_has_empty_ones() {
            let script = Script::new(vec![ResponseTemplate::new(200).set_body_string("[]")]);
            let server = serve(&script).await;
            let fetcher = Fetcher::new().unwrap();
            let got = fetcher.get(Get::new(&server.uri(), TIMEOUT)).await.unwrap();
            let Fetched::Body { body, validators } = got else {
                panic!("{got:?}");
            };
            assert_eq!((body.as_slice(), validators.is_empty()), (&b"[]"[..], true));
        }

        #[tokio::test]
        async fn a_304_to_an_unconditional_get_is_an_error() {
            let script = Script::new(vec![ResponseTemplate::new(304)]);
            let server = serve(&script).await;
            let uri = server.uri();
            let fetcher = Fetcher::new().unwrap();
            let empty = Validators::default();
            let get = Get {
                validators: Some(&empty),
                ..Get::new(&uri, TIMEOUT)
            };
            let error = fetcher.get(get).await.unwrap_err();
            assert!(
                matches!(error, SourceError::Status { status, .. } if status == 304),
                "{error}"
            );
        }

        #[tokio::test]
        async fn retry_after_is_waited_for() {
            let script = Script::new(vec![
                throttled(429, "1"),
                ResponseTemplate::new(200).set_body_string("ok"),
            ]);
            let server = serve(&script).await;
            let fetcher = Fetcher::new().unwrap();
            let got = fetcher.get(Get::new(&server.uri(), TIMEOUT)).await.unwrap();
            assert!(
                matches!(got, Fetched::Body { ref body, .. } if body == b"ok"),
                "{got:?}"
            );
            let gaps = script.gaps();
            assert_eq!(gaps.len(), 1);
            assert!(gaps[0] >= Duration::from_secs(1), "{gaps:?}");
            requests(&server).await;
        }

        #[tokio::test]
        async fn a_third_429_gives_up_saying_when_to_ask_again() {
            let script = Script::new(vec![throttled(429, "1")]);
            let server = serve(&script).await;
            let fetcher = Fetcher::new().unwrap();
            let error = fetcher
                .get(Get::new(&server.uri(), TIMEOUT))
                .await
                .unwrap_err();
            let SourceError::Throttled {
                status, retries, ..
            } = &error
            else {
                panic!("{error}");
            };
            assert_eq!(
                (*status, *retries),
                (StatusCode::TOO_MANY_REQUESTS, MAX_RETRIES)
            );
            let message = error.to_string();
            assert!(
                message.contains("HTTP 429 Too Many Requests after 2 retries; the server asks to be asked again at "),
                "{message}"
            );
            let gaps = script.gaps();
            assert_eq!(gaps.len(), 2);
            assert!(
                gaps.iter().all(|gap| *gap >= Duration::from_secs(1)),
                "{gaps:?}"
            );
            requests(&server).await;
        }

        #[tokio::test]
        async fn a_retry_after_beyond_the_bound_gives_up_at_once() {
            let script = Script::new(vec![throttled(503, "3600")]);
            let server = serve(&script).await;
            let fetcher = Fetcher::new().unwrap();
            let before = Utc::now();
            let error = fetcher
                .get(Get::new(&server.uri(), TIMEOUT))
                .await
                .unwrap_err();
            let SourceError::Throttled {
                status,
                retries,
                retry_at,
                ..
            } = error
            else {
                panic!("{error}");
            };
            assert_eq!((status, retries), (StatusCode::SERVICE_UNAVAILABLE, 0));
            let asked = (retry_at - before).num_seconds();
            assert!((3598..=3601).contains(&asked), "{asked}");
            assert!(Utc::now() - before < TimeDelta::seconds(2));
            assert_eq!(requests(&server).await.len(), 1);
        }

        #[tokio::test]
        async fn throttling_without_retry_after_is_an_error_at_once() {
            for status in [429, 503] {
                let script = Script::new(vec![ResponseTemplate::new(status)]);
                let server = serve(&script).await;
                let fetcher = Fetcher::new().unwrap();
                let error = fetcher
                    .get(Get::new(&server.uri(), TIMEOUT))
                    .await
                    .unwrap_err();
                assert!(
                    matches!(error, SourceError::Status { status: s, .. } if s == status),
                    "{error}"
                );
                assert_eq!(requests(&server).await.len(), 1);
            }
        }

        #[tokio::test]
        async fn a_404_is_a_status_error() {
            let script = Script::new(vec![ResponseTemplate::new(404)]);
            let server = serve(&script).await;
            let fetcher = Fetcher::new().unwrap();
            let url = format!("{}/api/daily_papers", server.uri());
            let error = fetcher.get(Get::new(&url, TIMEOUT)).await.unwrap_err();
            assert!(
                matches!(error, SourceError::Status { status, .. } if status == 404),
                "{error}"
            );
            assert_eq!(error.to_string(), format!("GET {url}: HTTP 404 Not Found"));
        }

        /// A server that answers one request with a chunked body of `size` bytes: no
        /// Content-Length to refuse it by.
        async fn chunked_server(size: usize) -> String {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/feed", listener.local_addr().unwrap());
            tokio::spawn(async move {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request).await;
                let mut reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                for _ in 0..size / 100 {
                    reply.extend_from_slice(b"64\r\n");
                    reply.extend_from_slice(&[b'x'; 100]);
                    reply.extend_from_slice(b"\r\n");
                }
                reply.extend_from_slice(b"0\r\n\r\n");
                let _ = stream.write_all(&reply).await;
            });
            url
        }

        #[tokio::test]
        async fn a_body_beyond_the_cap_is_refused_even_without_a_content_length() {
            let client = reqwest::Client::new();
            let url = chunked_server(5_000).await;
            let response = client.get(&url).send().await.unwrap();
            assert_eq!(response.content_length(), None);
            let error = read_body(response, &url, 1 << 20).await.unwrap();
            assert_eq!(error.len(), 5_000, "within the cap: read whole");

            let url = chunked_server(5_000).await;
            let response = client.get(&url).send().await.unwrap();
            let error = read_body(response, &url, 4_000).await.unwrap_err();
            assert!(
                matches!(error, SourceError::TooLarge { limit: 4_000, .. }),
                "{error}"
            );
        }

        #[tokio::test]
        async fn a_declared_length_beyond_the_cap_is_refused_before_reading() {
            let script = Script::new(vec![
                ResponseTemplate::new(200).set_body_bytes(vec![b' '; 3 << 20]),
            ]);
            let server = serve(&script).await;
            let client = reqwest::Client::new();
            let url = format!("{}/api/daily_papers", server.uri());
            let response = client.get(&url).send().await.unwrap();
            let error = read_body(response, &url, 2 << 20).await.unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "GET {url}: the response is larger than 2 MiB, the most a list of papers may be; skipped"
                )
            );
        }

        #[tokio::test]
        async fn a_refused_connection_is_a_request_error() {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}/", listener.local_addr().unwrap());
            drop(listener);
            let fetcher = Fetcher::new().unwrap();
            let error = fetcher.get(Get::new(&url, TIMEOUT)).await.unwrap_err();
            assert!(matches!(error, SourceError::Request { .. }), "{error}");
            assert!(std::error::Error::source(&error).is_some());
        }

        #[tokio::test]
        async fn the_bearer_token_is_sent_only_when_given() {
            let script = Script::new(vec![ResponseTemplate::new(200)]);
            let server = serve(&script).await;
            let uri = server.uri();
            let fetcher = Fetcher::new().unwrap();
            let with_token = Get {
                bearer_token: Some("hf_secret"),
                ..Get::new(&uri, TIMEOUT)
            };
            fetcher.get(with_token).await.unwrap();
            fetcher.get(Get::new(&uri, TIMEOUT)).await.unwrap();
            let requests = requests(&server).await;
            let authorization: Vec<_> = requests
                .iter()
                .map(|r| r.headers.get("authorization").map(|v| v.to_str().unwrap()))
                .collect();
            assert_eq!(authorization, [Some("Bearer hf_secret"), None]);
        }

        #[tokio::test]
        async fn the_fetcher_spaces_a_group_and_its_retries() {
            let script = Script::new(vec![
                throttled(503, "0"),
                ResponseTemplate::new(200),
                ResponseTemplate::new(200),
            ]);
            let server = serve(&script).await;
            let uri = server.uri();
            let fetcher = Fetcher::new().unwrap();
            let interval = Duration::from_millis(500);
            let spaced = Get {
                spacing: Some(Spacing {
                    group: "arxiv",
                    interval,
                }),
                ..Get::new(&uri, TIMEOUT)
            };
            fetcher.get(spaced).await.unwrap();
            fetcher.get(spaced).await.unwrap();
            let gaps = script.gaps();
            assert_eq!(gaps.len(), 2);
            // Spacing counts from when the client sends; the server sees each request a little
            // later, by a transit time that varies.
            let transit = Duration::from_millis(100);
            assert!(
                gaps.iter().all(|gap| *gap >= interval - transit),
                "{gaps:?}"
            );
        }
    }
}
