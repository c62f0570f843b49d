//! `[web]`: the one-click unsubscribe listener inside `run`, as written and validated.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::problems::Problems;
use super::raw::{Lenient, Shape};
use super::{http_url, is_loopback, resolve};
use crate::unsubscribe::UnsubscribeKey;

/// The shortest secret accepted: 32 characters is what `openssl rand -hex 16` gives, and far
/// beyond guessing; the suggested `-hex 32` gives 64.
const MIN_SECRET_CHARS: usize = 32;

#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Where the listener binds; usually loopback, behind a reverse proxy.
    pub listen: SocketAddr,
    /// How recipients reach the listener, without a trailing slash: the links in the digests
    /// start with it.
    pub base_url: String,
    /// The path part of `base_url` ("" or "/paperboy"), which a reverse proxy may or may not
    /// strip before passing a request on.
    pub base_path: String,
    /// Signs and checks the links, from `secret_file`.
    pub key: UnsubscribeKey,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RawWeb {
    /// All three are required once `[web]` is there; checked in `validate` so that each
    /// missing one is a problem among all.
    pub listen: Option<Lenient<String>>,
    pub base_url: Option<Lenient<String>>,
    pub secret_file: Option<Lenient<PathBuf>>,
}

impl Shape for RawWeb {
    const TABLE: bool = true;
}

/// The `[web]` section checked in full, reading the secret; `None` if anything is wrong.
pub(super) fn validate_web(
    raw: &RawWeb,
    base: &Path,
    mail_unsubscribe: Option<&str>,
    problems: &mut Problems,
) -> Option<WebConfig> {
    let listen = match problems.valid_opt("web.listen", &raw.listen) {
        None => {
            if raw.listen.is_none() {
                required(problems, "web.listen", "\"127.0.0.1:8080\"");
            }
            None
        }
        Some(text) => text
            .parse::<SocketAddr>()
            .map_err(|_| {
                problems.report(
                    "web.listen",
                    &text,
                    "must be an IP address and a port, e.g. \"127.0.0.1:8080\" or \"[::1]:8080\"",
                )
            })
            .ok(),
    };
    let base_url = match problems.valid_opt("web.base_url", &raw.base_url) {
        None => {
            if raw.base_url.is_none() {
                required(problems, "web.base_url", "\"https://papers.example.org\"");
            }
            None
        }
        Some(text) => check_base_url(problems, &text),
    };
    let key = match problems.valid_opt("web.secret_file", &raw.secret_file) {
        None => {
            if raw.secret_file.is_none() {
                required(problems, "web.secret_file", "\"/etc/paperboy/web-secret\"");
            }
            None
        }
        Some(file) => read_key(problems, &resolve(base, &file)),
    };
    if let (Some(_), Some(unsubscribe)) = (&base_url, mail_unsubscribe)
        && !unsubscribe.starts_with("mailto:")
    {
        problems.warn(
            "mail.unsubscribe",
            unsubscribe,
            "is not used while [web] is set: the one-click link takes its place (a mailto: address would be sent beside it)",
        );
    }
    let (base_url, base_path) = base_url?;
    Some(WebConfig {
        listen: listen?,
        base_url,
        base_path,
        key: key?,
    })
}

fn required(problems: &mut Problems, key: &str, example: &str) {
    problems.report(key, "", format!("is required in [web], e.g. {example}"));
}

/// The URL and its path, if `text` is an http(s) URL without query or fragment.
fn check_base_url(problems: &mut Problems, text: &str) -> Option<(String, String)> {
    const KEY: &str = "web.base_url";
    let url = http_url(problems, KEY, text, "https://papers.example.org")?;
    let parsed = reqwest::Url::parse(&url).ok()?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        problems.report(KEY, text, "must not have a query (?) or a fragment (#)");
        return None;
    }
    if parsed.scheme() == "http" && !parsed.host_str().is_some_and(is_loopback) {
        problems.warn(
            KEY,
            text,
            "is not https: mail clients offer one-click unsubscribe only for https links",
        );
    }
    let path = parsed.path().trim_end_matches('/').to_string();
    Some((url, path))
}

/// The key from the secret in `file`; a problem naming the file and how to make one if it
/// cannot be read or is too short.
fn read_key(problems: &mut Problems, file: &Path) -> Option<UnsubscribeKey> {
    const KEY: &str = "web.secret_file";
    let shown = file.display().to_string();
    let make = format!("make one with `openssl rand -hex 32 > {shown}`");
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            problems.report(KEY, &shown, format!("cannot be read ({e}); {make}"));
            return None;
        }
    };
    // Trimmed, so the newline `openssl ... > file` writes is not part of the secret.
    let secret = text.trim();
    let chars = secret.chars().count();
    if chars < MIN_SECRET_CHARS {
        problems.report(
            KEY,
            &shown,
            format!("holds {chars} characters, needs at least {MIN_SECRET_CHARS}; {make}"),
        );
        return None;
    }
    Some(UnsubscribeKey::new(secret.as_bytes()))
}
