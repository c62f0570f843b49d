//! What went wrong in one step of an SMTP conversation, said so that a user can act on it,
//! and what it means for the connection and for the pace of sending.

use std::error::Error as _;
use std::time::Duration;

use lettre::transport::smtp::Error as SmtpError;

use crate::deliver::SendError;

/// A failed step.
#[derive(Debug)]
pub(super) struct Failure {
    pub error: SendError,
    /// The server asked us to slow down (421, 450, 451).
    pub throttled: bool,
    /// The connection can carry the next transaction (after an RSET): the server answered,
    /// and did not say it is closing.
    pub connection_usable: bool,
    /// Nothing was handed over and the connection is gone: on a connection that sat idle,
    /// the server most likely closed it, and a fresh one may well succeed at once.
    pub connection_lost: bool,
}

impl Failure {
    /// A failure of the connection itself (not a reply): transient, and the connection is lost.
    pub fn connection(text: String) -> Failure {
        Failure {
            error: SendError::Transient(text),
            throttled: false,
            connection_usable: false,
            connection_lost: true,
        }
    }

    /// A step that had no answer within the timeout: the connection is in an unknown state.
    pub fn timeout(address: &str, step: &str, timeout: Duration) -> Failure {
        Failure {
            connection_lost: false,
            ..Failure::connection(format!(
                "{address}: no answer to {step} within {}",
                humantime(timeout)
            ))
        }
    }

    /// A problem that is ours, not the server's or the network's: it fails the same every
    /// time (e.g. a non-ASCII address for a server without SMTPUTF8).
    pub fn permanent(text: String) -> Failure {
        Failure {
            error: SendError::Permanent(text),
            throttled: false,
            connection_usable: true,
            connection_lost: false,
        }
    }

    /// `step` failed with `error`; a negative reply keeps the connection, anything else
    /// loses it.
    pub fn from_smtp(address: &str, step: &str, error: &SmtpError) -> Failure {
        let Some(code) = error.status() else {
            return Failure::connection(format!("{address}: {step}: {}", cause(error)));
        };
        let code = code.to_string();
        let words = error.source().map(|s| s.to_string()).unwrap_or_default();
        let text = format!("{address}: {step}: the server answered {code} {words}");
        // A 53x reply (authentication required or refused) is a problem of the config, not of
        // this message: it stays pending, to go out once the password is fixed, instead of
        // failing every digest of the run for good.
        let error = if error.is_permanent() && !code.starts_with("53") {
            SendError::Permanent(text)
        } else {
            SendError::Transient(text)
        };
        Failure {
            error,
            throttled: matches!(code.as_str(), "421" | "450" | "451"),
            // 421: the server is closing the connection.
            connection_usable: code != "421",
            connection_lost: code == "421",
        }
    }
}

/// The cause at the bottom of a lettre error, once: lettre wraps a TLS failure in "Connection
/// error" twice, which says nothing.
pub(super) fn cause(error: &SmtpError) -> String {
    let mut innermost: &(dyn std::error::Error + 'static) = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    let text = match innermost.downcast_ref::<std::io::Error>() {
        Some(io) => match io.get_ref() {
            Some(inner) => inner.to_string(),
            None => io.to_string(),
        },
        None => innermost.to_string(),
    };
    match text.as_str() {
        // lettre's words for the end of the stream before a whole reply.
        "incomplete response" => "the server closed the connection".to_string(),
        _ => text,
    }
}

/// The rustls error under a lettre error, if the failure was TLS's.
pub(super) fn rustls_cause(error: &SmtpError) -> Option<&rustls::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        current = e.source();
    }
    None
}

/// `30s`, `500ms`: a timeout as the config writes it.
pub(super) fn humantime(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}
