//! The `smtp` transport: connections of our own (TCP_NODELAY), each driven by lettre's
//! `AsyncSmtpConnection`, one per sender. lettre's pool leaves Nagle on and asks NOOP before
//! every message: ~23 messages a second per connection against ~4,000 here (measured,
//! `examples/throughput.rs`).
//!
//! [`SmtpTransport`] is built once per config load and holds what all connections share;
//! each worker takes a [`SmtpSender`] from it, which holds at most one connection.

mod data;
mod failure;
mod pace;
mod session;

use std::sync::Arc;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};

use super::SendError;
use crate::config::{SmtpConfig, SmtpSecurity};
use data::DataSection;
use failure::Failure;
use pace::{Outcome, Pacer};
use session::{Session, step};

/// What every connection of one config shares.
struct Shared {
    host: String,
    port: u16,
    /// `host:port`, for messages.
    address: String,
    security: SmtpSecurity,
    /// `None` for `security = "none"`.
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
    max_messages_per_connection: u32,
    max_connections: usize,
    pacer: Pacer,
}

/// The SMTP settings made ready to connect: TLS configured, the pace shared.
pub struct SmtpTransport {
    shared: Arc<Shared>,
}

impl SmtpTransport {
    pub fn new(config: &SmtpConfig) -> Result<Self, SendError> {
        crate::tls::install_crypto_provider();
        let tls = match config.security {
            SmtpSecurity::None => None,
            SmtpSecurity::StartTls | SmtpSecurity::Tls => Some(tls_parameters(config)?),
        };
        let address = format!("{}:{}", config.host, config.port);
        let credentials = config
            .credentials
            .as_ref()
            .map(|(user, password)| Credentials::new(user.clone(), password.expose().to_string()));
        Ok(SmtpTransport {
            shared: Arc::new(Shared {
                host: config.host.clone(),
                port: config.port,
                address: address.clone(),
                security: config.security,
                tls,
                credentials,
                hello: ClientId::default(),
                timeout: config.timeout,
                max_messages_per_connection: config.max_messages_per_connection,
                max_connections: config.max_connections as usize,
                pacer: Pacer::new(address, config.max_per_second),
            }),
        })
    }

    /// A sender for one worker: it opens its connection when it first sends.
    pub fn sender(&self) -> SmtpSender {
        SmtpSender {
            shared: self.shared.clone(),
            session: None,
        }
    }

    /// Connects, says hello, encrypts and logs in as configured, and says goodbye: what
    /// `check --smtp` verifies, on the path every digest takes.
    pub async fn test_connection(&self) -> Result<(), SendError> {
        let session = Session::open(&self.shared).await.map_err(|f| f.error)?;
        session.quit(&self.shared).await;
        Ok(())
    }

    pub fn address(&self) -> &str {
        &self.shared.address
    }

    /// Whether the connection logs in (credentials are configured).
    pub fn logs_in(&self) -> bool {
        self.shared.credentials.is_some()
    }

    /// How many senders may be open at once: one connection each.
    pub fn max_connections(&self) -> usize {
        self.shared.max_connections
    }

    /// The configured timeout for one step of the conversation.
    pub fn timeout(&self) -> Duration {
        self.shared.timeout
    }

    /// The longest one [`SmtpSender::send`] can take once its turn came: each step of a
    /// fresh connection and of the transaction within the timeout.
    pub fn send_budget(&self) -> Duration {
        session::worst_case(self.shared.timeout)
    }
}

/// Trusts the platform's roots and, in addition, the certificates of `ca_file`: a relay with
/// a private CA works without `SSL_CERT_FILE`, and a public one keeps working.
fn tls_parameters(config: &SmtpConfig) -> Result<TlsParameters, SendError> {
    let mut builder = TlsParameters::builder(config.host.clone());
    for der in &config.extra_roots {
        let certificate = Certificate::from_der(der.to_vec())
            .map_err(|e| SendError::Permanent(format!("smtp.ca_file: {e}")))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build_rustls()
        .map_err(|e| SendError::Permanent(format!("TLS setup for {}: {e}", config.host)))
}

/// One worker's way to the server: at most one connection, opened when first needed, reused
/// for the next message, renewed after `max_messages_per_connection` or when the server
/// closed it.
pub struct SmtpSender {
    shared: Arc<Shared>,
    /// Boxed: a connection is large, and a sender is moved around by its worker.
    session: Option<Box<Session>>,
}

impl SmtpSender {
    pub async fn send(&mut self, envelope: &Envelope, message: &[u8]) -> Result<(), SendError> {
        let shared = self.shared.clone();
        shared.pacer.wait().await;
        let max = shared.max_messages_per_connection;
        let reused = self.session.as_ref().is_some_and(|s| s.transactions < max);
        let mut result = self.transaction(envelope, message).await;
        // A connection that sat idle may have been closed by the server (or told 421) before
        // it took anything: that says nothing about this message, so once more on a fresh one.
        if reused && matches!(&result, Err(f) if f.connection_lost) {
            result = self.transaction(envelope, message).await;
        }
        shared.pacer.record(match &result {
            Ok(()) => Outcome::Accepted,
            Err(f) if f.throttled => Outcome::Throttled,
            Err(_) => Outcome::Other,
        });
        result.map_err(|f| f.error)
    }

    /// Says goodbye on the open connection, if any.
    pub async fn close(mut self) {
        if let Some(session) = self.session.take() {
            session.quit(&self.shared).await;
        }
    }

    /// One message, on the open connection or a fresh one.
    async fn transaction(&mut self, envelope: &Envelope, message: &[u8]) -> Result<(), Failure> {
        let shared = &*self.shared;
        if let Some(session) = self
            .session
            .take_if(|s| s.transactions >= shared.max_messages_per_connection)
        {
            session.quit(shared).await;
        }
        let session = match &mut self.session {
            Some(session) => session,
            None => self.session.insert(Box::new(Session::open(shared).await?)),
        };
        session.transactions += 1;
        let result = exchange(shared, session, envelope, message).await;
        match &result {
            Ok(()) => {}
            // Ended by the server's reply to the message itself: nothing to undo.
            Err((Stage::Body, failure)) if failure.connection_usable => {}
            Err((_, failure)) if failure.connection_usable => {
                // MAIL or RCPT may have been taken: start the next transaction afresh.
                let reset = step(shared, "RSET", session.connection.command(Rset)).await;
                if reset.is_err() {
                    self.session = None;
                }
            }
            Err(_) => self.session = None,
        }
        result.map_err(|(_, failure)| failure)
    }
}

/// How far a transaction got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Envelope,
    Body,
}

/// MAIL, RCPT, DATA and the message, each step within the timeout.
async fn exchange(
    shared: &Shared,
    session: &mut Session,
    envelope: &Envelope,
    message: &[u8],
) -> Result<(), (Stage, Failure)> {
    let envelope_failure = |f: Failure| (Stage::Envelope, f);
    let info = session.connection.server_info();
    let mut options = Vec::new();
    let non_ascii = |a: &lettre::Address| !AsRef::<str>::as_ref(a).is_ascii();
    if envelope.from().is_some_and(non_ascii) || envelope.to().iter().any(non_ascii) {
        if !info.supports_feature(Extension::SmtpUtfEight) {
            return Err(envelope_failure(Failure::permanent(format!(
                "{}: an address is not ASCII and the server does not take SMTPUTF8",
                shared.address
            ))));
        }
        options.push(MailParameter::SmtpUtfEight);
    }
    if !message.is_ascii() {
        if !info.supports_feature(Extension::EightBitMime) {
            return Err(envelope_failure(Failure::permanent(format!(
                "{}: the message is 8-bit and the server does not take 8BITMIME",
                shared.address
            ))));
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let connection = &mut session.connection;
    let mail = Mail::new(envelope.from().cloned(), options);
    step(shared, "MAIL FROM", connection.command(mail))
        .await
        .map_err(envelope_failure)?;
    for to in envelope.to() {
        let rcpt = Rcpt::new(to.clone(), Vec::new());
        step(shared, &format!("RCPT TO <{to}>"), connection.command(rcpt))
            .await
            .map_err(envelope_failure)?;
    }
    // From here on, a connection that fails is not worth a silent second try: the server
    // accepted the envelope and may be processing.
    let not_retried = |mut f: Failure| {
        f.connection_lost = false;
        f
    };
    step(shared, "DATA", connection.command(Data))
        .await
        .map_err(|f| (Stage::Envelope, not_retried(f)))?;
    session
        .reading
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let sent = match DataSection::new(message) {
        Some(section) => tokio::time::timeout(shared.timeout, connection.command(section)).await,
        None => tokio::time::timeout(shared.timeout, connection.message(message)).await,
    };
    match sent {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err((
            Stage::Body,
            not_retried(Failure::from_smtp(&shared.address, "the message", &e)),
        )),
        Err(_) => {
            let timeout = failure::humantime(shared.timeout);
            // Only once the whole message and its final dot went out can the server have
            // taken it without saying so.
            let text = if session.reading.load(std::sync::atomic::Ordering::Relaxed) {
                format!(
                    "{}: the message was sent but the server gave no final reply within {timeout}; the server may or may not have taken it",
                    shared.address
                )
            } else {
                format!(
                    "{}: the server stopped reading the message for {timeout}, before its end: it was not delivered",
                    shared.address
                )
            };
            Err((Stage::Body, not_retried(Failure::connection(text))))
        }
    }
}
