//! Opening one SMTP connection on a TCP stream of our own: connect, greeting, TLS (implicit or
//! STARTTLS), EHLO, AUTH, each step bounded by the timeout, each failure saying what was
//! tried and which key to change.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::io::{AsyncRead as FuturesRead, AsyncWrite as FuturesWrite};
use lettre::transport::smtp::authentication::Mechanism;
#[allow(deprecated)] // the stream lettre upgrades to TLS; the only way to TLS our own socket
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::extension::Extension;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::Shared;
use super::failure::{Failure, cause, humantime, rustls_cause};
use crate::config::SmtpSecurity;

/// An open, greeted, encrypted as configured, logged-in connection.
pub(super) struct Session {
    pub connection: AsyncSmtpConnection,
    /// Whether the stream's last use was a read: after the message body, that means all of
    /// it (and the final dot) went out and only the server's reply is missing.
    pub reading: Arc<AtomicBool>,
    /// Transactions started on this connection.
    pub transactions: u32,
}

/// Runs one step of the conversation within the timeout.
pub(super) async fn step<T>(
    shared: &Shared,
    what: &str,
    future: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(shared.timeout, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Failure::from_smtp(&shared.address, what, &e)),
        Err(_) => Err(Failure::timeout(&shared.address, what, shared.timeout)),
    }
}

impl Session {
    pub async fn open(shared: &Shared) -> Result<Session, Failure> {
        let (address, timeout) = (&shared.address, shared.timeout);
        let connect = TcpStream::connect((shared.host.as_str(), shared.port));
        let tcp = match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => {
                return Err(Failure::connection(format!(
                    "{address}: cannot connect: {e}"
                )));
            }
            Err(_) => {
                return Err(Failure::connection(format!(
                    "{address}: no connection within {}: check smtp.host and smtp.port, and that no firewall drops the way there",
                    humantime(timeout)
                )));
            }
        };
        // lettre's own sockets leave Nagle on: each message then waits ~40 ms for a delayed
        // ACK, 23 messages a second per connection instead of thousands (measured).
        tcp.set_nodelay(true)
            .map_err(|e| Failure::connection(format!("{address}: {e}")))?;
        let reading = Arc::new(AtomicBool::new(false));
        let mut connection = match shared.security {
            SmtpSecurity::Tls => {
                let stream = Watched {
                    tcp,
                    reading: reading.clone(),
                };
                #[allow(deprecated)]
                let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(stream));
                let tls = shared
                    .tls
                    .clone()
                    .expect("TLS parameters for security = \"tls\"");
                match tokio::time::timeout(timeout, stream.upgrade_tls(tls)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(Failure::connection(tls_failure(shared, &e))),
                    Err(_) => {
                        return Err(Failure::connection(format!(
                            "{address}: no TLS handshake within {}: if port {} expects STARTTLS, set security = \"starttls\"",
                            humantime(timeout),
                            shared.port
                        )));
                    }
                }
                let stream = Box::new(ImplicitTls(stream));
                step(
                    shared,
                    "the greeting and EHLO",
                    AsyncSmtpConnection::connect_with_transport(stream, &shared.hello),
                )
                .await?
            }
            SmtpSecurity::StartTls | SmtpSecurity::None => {
                await_greeting(shared, &tcp).await?;
                let stream = Box::new(Watched {
                    tcp,
                    reading: reading.clone(),
                });
                let mut connection = step(
                    shared,
                    "EHLO",
                    AsyncSmtpConnection::connect_with_transport(stream, &shared.hello),
                )
                .await?;
                if shared.security == SmtpSecurity::StartTls {
                    if !connection.can_starttls() {
                        return Err(Failure::connection(format!(
                            "{address}: the server does not offer STARTTLS on port {}: check smtp.port (587 usually does), or set security = \"tls\" if the port speaks TLS from the first byte",
                            shared.port
                        )));
                    }
                    let tls = shared.tls.clone().expect("TLS parameters for STARTTLS");
                    let upgrade = connection.starttls(tls, &shared.hello);
                    match tokio::time::timeout(timeout, upgrade).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) if rustls_cause(&e).is_some() => {
                            return Err(Failure::connection(tls_failure(shared, &e)));
                        }
                        Ok(Err(e)) => return Err(Failure::from_smtp(address, "STARTTLS", &e)),
                        Err(_) => return Err(Failure::timeout(address, "STARTTLS", timeout)),
                    }
                }
                connection
            }
        };
        if let Some(credentials) = &shared.credentials {
            let info = connection.server_info();
            if !MECHANISMS.iter().any(|&m| info.supports_auth_mechanism(m)) {
                let offers_oauth =
                    info.supports_feature(Extension::Authentication(Mechanism::Xoauth2));
                let what = if offers_oauth {
                    "offers only an OAuth login (XOAUTH2), not a password one (PLAIN or LOGIN)"
                } else {
                    "offers no login (AUTH PLAIN or LOGIN)"
                };
                let after = if connection.is_encrypted() {
                    ""
                } else {
                    " before TLS"
                };
                return Err(Failure::connection(format!(
                    "{address}: the server {what}{after} on port {}; if it needs none, remove smtp.username and the password, or check smtp.port and smtp.security",
                    shared.port
                )));
            }
            let login = connection.auth(MECHANISMS, credentials);
            step(shared, "AUTH (login)", login).await.map_err(|mut f| {
                if let crate::deliver::SendError::Transient(text) = &mut f.error
                    && text.contains(" answered 53")
                {
                    text.push_str("; check smtp.username and the password");
                }
                f
            })?;
        }
        Ok(Session {
            connection,
            reading,
            transactions: 0,
        })
    }

    /// Says goodbye; a server that does not answer is left, the socket closes anyway.
    pub async fn quit(mut self, shared: &Shared) {
        let _ = tokio::time::timeout(shared.timeout, self.connection.quit()).await;
    }
}

/// The password mechanisms lettre speaks, in its order of preference.
const MECHANISMS: &[Mechanism] = &[Mechanism::Plain, Mechanism::Login];

/// Waits for the first bytes of the greeting (without taking them: lettre reads the greeting
/// itself), to tell a silent or TLS-speaking port from an SMTP one.
async fn await_greeting(shared: &Shared, tcp: &TcpStream) -> Result<(), Failure> {
    let (address, port) = (&shared.address, shared.port);
    let mut first = [0u8; 1];
    match tokio::time::timeout(shared.timeout, tcp.peek(&mut first)).await {
        Err(_) if port == 465 => Err(Failure::connection(format!(
            "{address}: no greeting within {}: port 465 speaks TLS from the first byte: set security = \"tls\"",
            humantime(shared.timeout)
        ))),
        Err(_) => Err(Failure::connection(format!(
            "{address}: the server sent no greeting within {}; if port {port} speaks TLS from the first byte (as 465 does), set security = \"tls\"",
            humantime(shared.timeout)
        ))),
        Ok(Err(e)) => Err(Failure::connection(format!(
            "{address}: reading the greeting: {e}"
        ))),
        Ok(Ok(0)) => Err(Failure::connection(format!(
            "{address}: the server closed the connection before its greeting"
        ))),
        // 0x15, 0x16: a TLS alert or handshake record, from a server that speaks TLS at once.
        Ok(Ok(_)) if matches!(first[0], 0x15 | 0x16) => Err(Failure::connection(format!(
            "{address}: port {port} speaks TLS from the first byte: set security = \"tls\""
        ))),
        Ok(Ok(_)) if !first[0].is_ascii_digit() => Err(Failure::connection(format!(
            "{address}: the server's greeting is not SMTP (it starts with byte {:#04x}): check smtp.port",
            first[0]
        ))),
        Ok(Ok(_)) => Ok(()),
    }
}

/// A TLS handshake failure, said as what to change.
fn tls_failure(shared: &Shared, error: &lettre::transport::smtp::Error) -> String {
    use rustls::CertificateError as Cert;
    let (address, port) = (&shared.address, shared.port);
    let Some(tls) = rustls_cause(error) else {
        return format!("{address}: TLS: {}", cause(error));
    };
    match tls {
        rustls::Error::InvalidCertificate(certificate) => match certificate {
            // The platform verifier reports an unknown issuer as a bad signature: the
            // signature is fine, the one who made it is not trusted.
            Cert::UnknownIssuer | Cert::BadSignature => format!(
                "{address}: the server's certificate is not signed by a trusted authority ({tls}); if your relay uses a private CA, set smtp.ca_file to its certificate (PEM)"
            ),
            Cert::NotValidForName | Cert::NotValidForNameContext { .. } => format!(
                "{address}: the server's certificate is not for {} ({tls}); set smtp.host to a name the certificate holds",
                shared.host
            ),
            Cert::Expired
            | Cert::ExpiredContext { .. }
            | Cert::NotValidYet
            | Cert::NotValidYetContext { .. } => format!(
                "{address}: the server's certificate is out of its validity period ({tls}); the relay's operator must renew it, or this machine's clock is wrong"
            ),
            _ => format!("{address}: the server's certificate was refused: {tls}"),
        },
        rustls::Error::InvalidMessage(_) if shared.security == SmtpSecurity::Tls => format!(
            "{address}: the server did not answer TLS on port {port}: it may expect STARTTLS: set security = \"starttls\" ({tls})"
        ),
        _ => format!("{address}: TLS: {tls}"),
    }
}

/// Our TCP stream, as lettre takes it, noting whether it was last read or written.
#[derive(Debug)]
struct Watched {
    tcp: TcpStream,
    reading: Arc<AtomicBool>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.reading.store(true, Ordering::Relaxed);
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.reading.store(false, Ordering::Relaxed);
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for Watched {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.peer_addr()
    }
}

/// A stream lettre made TLS (futures-io), handed back to lettre as a tokio stream: lettre can
/// only open implicit TLS on a socket of its own, which would leave Nagle on.
#[allow(deprecated)]
#[derive(Debug)]
struct ImplicitTls(AsyncNetworkStream);

impl AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        match Pin::new(&mut self.0).poll_read(cx, unfilled) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}

/// How long a whole send may take at most: every step of a fresh connection and a
/// transaction, each within the timeout.
pub(super) fn worst_case(timeout: Duration) -> Duration {
    // connect, greeting, EHLO, STARTTLS (+ handshake + EHLO), AUTH, MAIL, RCPT, DATA, body.
    timeout.saturating_mul(9)
}
