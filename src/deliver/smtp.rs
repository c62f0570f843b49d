//! The `smtp` transport: lettre's pooled async SMTP client.

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransport, PoolConfig};
use lettre::{AsyncTransport, Tokio1Executor};

use super::SendError;
use crate::config::{SmtpConfig, SmtpSecurity};

pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
    /// `host:port`, for messages.
    address: String,
    logs_in: bool,
    max_connections: usize,
    timeout: std::time::Duration,
}

impl SmtpTransport {
    pub fn new(config: &SmtpConfig) -> Result<Self, SendError> {
        crate::tls::install_crypto_provider();
        let tls_parameters = || {
            TlsParameters::new(config.host.clone())
                .map_err(|e| SendError::Permanent(format!("TLS setup for {}: {e}", config.host)))
        };
        let tls = match config.security {
            SmtpSecurity::StartTls => Tls::Required(tls_parameters()?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters()?),
            SmtpSecurity::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout))
            .pool_config(PoolConfig::new().max_size(config.max_connections));
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        Ok(SmtpTransport {
            inner: builder.build(),
            address: format!("{}:{}", config.host, config.port),
            logs_in: config.credentials.is_some(),
            max_connections: config.max_connections as usize,
            timeout: config.timeout,
        })
    }

    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), SendError> {
        self.inner
            .send_raw(envelope, message)
            .await
            .map(|_| ())
            .map_err(classify)
    }

    /// Connects, says hello and logs in if configured: what `check --smtp` verifies.
    pub async fn test_connection(&self) -> Result<(), SendError> {
        let budget = self.timeout.saturating_mul(3);
        match tokio::time::timeout(budget, self.inner.test_connection()).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(SendError::Transient(
                "the server did not answer NOOP".into(),
            )),
            Ok(Err(e)) => Err(classify(e)),
            Err(_) => Err(SendError::Transient(format!("no answer within {budget:?}"))),
        }
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// Whether the connection logs in (credentials are configured).
    pub fn logs_in(&self) -> bool {
        self.logs_in
    }

    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// The configured timeout for one step of the conversation.
    pub fn timeout(&self) -> std::time::Duration {
        self.timeout
    }
}

/// Only a 5xx reply is permanent; a 4xx, a refused or dropped connection, a timeout or a TLS
/// hiccup may pass.
///
/// A 53x reply (authentication required or refused) is a problem of the config, not of this
/// message: it stays pending, to go out once the password is fixed, instead of failing every
/// digest of the run for good.
fn classify(error: lettre::transport::smtp::Error) -> SendError {
    let text = crate::error_chain(&error);
    let authentication = error
        .status()
        .is_some_and(|code| code.to_string().starts_with("53"));
    if error.is_permanent() && !authentication {
        SendError::Permanent(text)
    } else {
        SendError::Transient(text)
    }
}
