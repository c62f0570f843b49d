//! Answers one request: the unsubscribe route, GET for a page with a button, POST to
//! unsubscribe (what a mail client's own button sends, RFC 8058, and what the page's button
//! sends). Anything else is 404, another method 405.

use chrono::Utc;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::config::WebConfig;
use crate::store::SharedStore;
use crate::unsubscribe::{self, PATH};

/// A POST body holds `List-Unsubscribe=One-Click` (RFC 8058) or the page's few fields.
const MAX_BODY: usize = 4 * 1024;
/// How much of an address that fails its check is logged: it is whatever the client sent.
const LOGGED_CHARS: usize = 80;

pub(super) async fn handle(
    request: Request<Incoming>,
    site: &WebConfig,
    store: &SharedStore,
) -> Response<Full<Bytes>> {
    if !is_route(request.uri().path(), &site.base_path) {
        return page(
            StatusCode::NOT_FOUND,
            "Not found",
            "<p>There is nothing here.</p>",
        );
    }
    match *request.method() {
        Method::GET => show(&request, site),
        Method::POST => unsubscribe(request, site, store).await,
        _ => {
            let mut response = page(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                "<p>Open the unsubscribe link from your digest in a browser.</p>",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
            response
        }
    }
}

/// The route, below the host whether or not a reverse proxy strips `base_url`'s path.
fn is_route(path: &str, base_path: &str) -> bool {
    path == PATH || (!base_path.is_empty() && path.strip_prefix(base_path) == Some(PATH))
}

/// What a request says about whom to unsubscribe.
#[derive(Default)]
struct Fields {
    address: Option<String>,
    token: Option<String>,
    /// Sent by the button on our page rather than by a mail client.
    from_page: bool,
}

impl Fields {
    /// Reads `u`, `t` and `via` from a query or form body; a field already read stays.
    fn read(&mut self, encoded: &[u8]) {
        for (name, value) in form_urlencoded::parse(encoded) {
            match &*name {
                "u" if self.address.is_none() => self.address = Some(value.into_owned()),
                "t" if self.token.is_none() => self.token = Some(value.into_owned()),
                "via" => self.from_page = value == "page",
                _ => {}
            }
        }
    }

    fn from_query(request: &Request<Incoming>) -> Fields {
        let mut fields = Fields::default();
        fields.read(request.uri().query().unwrap_or("").as_bytes());
        fields
    }

    /// The address, normalised, if the token is its own.
    fn signed_address(&self, site: &WebConfig) -> Option<String> {
        let address = unsubscribe::normalize(self.address.as_deref()?);
        let token = self.token.as_deref()?;
        site.key.verify(&address, token).then_some(address)
    }

    /// Logs a refused link without echoing more than a little of what the client sent.
    fn log_refused(&self) {
        let address: String = self
            .address
            .as_deref()
            .unwrap_or("")
            .chars()
            .take(LOGGED_CHARS)
            .collect();
        let why = if self.address.is_none() || self.token.is_none() {
            "the link lacks its address or token"
        } else {
            "the token is not that address's"
        };
        tracing::warn!(address = ?address, "unsubscribe refused: {why}");
    }
}

fn show(request: &Request<Incoming>, site: &WebConfig) -> Response<Full<Bytes>> {
    let fields = Fields::from_query(request);
    let Some(address) = fields.signed_address(site) else {
        fields.log_refused();
        return refused();
    };
    let action = unsubscribe::page_url(&site.base_url, &site.key, &address);
    page(
        StatusCode::OK,
        "Unsubscribe",
        &format!(
            "<p>Stop sending Paperboy's paper digests to <strong>{}</strong>?</p>\
             <form method=\"post\" action=\"{}\">\
             <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
             <input type=\"hidden\" name=\"via\" value=\"page\">\
             <button type=\"submit\">Unsubscribe</button></form>",
            escape(&address),
            escape(&action)
        ),
    )
}

async fn unsubscribe(
    request: Request<Incoming>,
    site: &WebConfig,
    store: &SharedStore,
) -> Response<Full<Bytes>> {
    let mut fields = Fields::from_query(&request);
    let form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|value| {
            value
                .as_bytes()
                .starts_with(b"application/x-www-form-urlencoded")
        });
    let too_large = || {
        page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too large",
            "<p>That request is too large.</p>",
        )
    };
    let body = request.into_body();
    // Refused on its Content-Length, before waiting for a body that may never come whole.
    if body.size_hint().lower() > MAX_BODY as u64 {
        return too_large();
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Err(e) => {
            tracing::debug!("unsubscribe listener: cannot read a request body: {e}");
            return page(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "<p>That request could not be read.</p>",
            );
        }
    };
    // Mail clients send the address and token in the URL; a form may send them in the body.
    if form {
        fields.read(&body);
    }
    let Some(address) = fields.signed_address(site) else {
        fields.log_refused();
        return refused();
    };
    let how = if fields.from_page {
        "page"
    } else {
        "one-click"
    };
    let key = address.clone();
    match store
        .run(move |s| s.unsubscribe(&key, how, Utc::now()))
        .await
    {
        Ok(done) => {
            if done.new {
                tracing::info!(%address, how, withdrawn = done.withdrawn, "unsubscribed");
            }
            page(
                StatusCode::OK,
                "Unsubscribed",
                &format!(
                    "<p><strong>{}</strong> gets no more digests from Paperboy.</p>",
                    escape(&address)
                ),
            )
        }
        Err(e) => {
            tracing::error!(%address, "cannot record an unsubscribe: {}", crate::error_chain(&e));
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again later",
                "<p>Your unsubscribe could not be recorded just now. Please try again in a few minutes.</p>",
            )
        }
    }
}

fn refused() -> Response<Full<Bytes>> {
    page(
        StatusCode::FORBIDDEN,
        "Link not valid",
        "<p>This unsubscribe link is not valid. Use the link in your latest digest as it is: \
         a mail program that cuts a link short breaks it.</p>",
    )
}

/// A small HTML page, not cached (it is about one address), not framed, not sending the
/// link (which unsubscribes) on as a referrer.
fn page(status: StatusCode, title: &str, body: &str) -> Response<Full<Bytes>> {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Paperboy</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;\
         padding:0 1rem;color:#18181b}}button{{font-size:1rem;padding:.5rem 1rem}}</style>\
         </head><body><h1>{title}</h1>{body}</body></html>\n"
    );
    let mut response = Response::new(Full::new(Bytes::from(html)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Text for HTML, attribute values included.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_is_served_with_or_without_the_base_path() {
        assert!(is_route("/unsubscribe", ""));
        assert!(is_route("/unsubscribe", "/paperboy"));
        assert!(is_route("/paperboy/unsubscribe", "/paperboy"));
        assert!(!is_route("/paperboy/unsubscribe", ""));
        assert!(!is_route("/unsubscribe/", ""));
        assert!(!is_route("/", ""));
    }

    #[test]
    fn html_special_characters_are_escaped() {
        assert_eq!(
            escape(r#"<a href="x?u=1&t=2">'</a>"#),
            "&lt;a href=&quot;x?u=1&amp;t=2&quot;&gt;&#39;&lt;/a&gt;"
        );
    }
}
