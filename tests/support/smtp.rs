//! A real SMTP server on loopback for the tests: it speaks enough ESMTP for lettre (EHLO,
//! AUTH, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT), keeps what it accepted,
//! and can be told to answer the end of DATA with chosen replies (4xx, 5xx). It counts the
//! connections and EHLOs it saw, and can speak TLS (implicit or STARTTLS) with a given
//! certificate, offer no AUTH, drop a connection instead of answering or halfway through a
//! message, refuse one recipient at RCPT, answer the next RCPTs with chosen replies, greet
//! with a refusal (421) and hang up, or refuse every login.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// How the server speaks TLS.
#[derive(Clone)]
pub enum ServerTls {
    /// TLS from the first byte (port 465 style).
    Implicit(Arc<rustls::ServerConfig>),
    /// Plain, offering STARTTLS.
    StartTls(Arc<rustls::ServerConfig>),
}

/// A rustls server config from PEM files: the certificate chain and its key.
pub fn tls_config(
    chain_pem: &std::path::Path,
    key_pem: &std::path::Path,
) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(chain_pem)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key_pem).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    Arc::new(config)
}

/// What a connection reads from and writes to: plain TCP or TLS over it.
trait Conn: std::io::Read + Write + Send {}
impl<T: std::io::Read + Write + Send> Conn for T {}

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

#[derive(Default)]
struct State {
    accepted: Vec<Received>,
    /// Replies for the next DATA ends; 250 when empty.
    data_replies: VecDeque<String>,
    /// Answer every DATA end with this reply.
    always: Option<String>,
    data_attempts: usize,
    /// How long to think before answering the end of DATA.
    data_delay: std::time::Duration,
    connections: usize,
    /// Connections open right now, and the most at once.
    open: usize,
    most_open: usize,
    ehlos: usize,
    /// Drop the connection instead of answering the next DATA end.
    drop_next_data: bool,
    /// Drop the connection this many more times in the middle of a message, after its first
    /// lines (the client is still sending).
    drop_mid_data: usize,
    /// Connections dropped in the middle of a message so far.
    dropped_mid_data: usize,
    /// Recipients answered at RCPT with the reply given, and how often each was.
    rejected_rcpt: Vec<(String, String)>,
    rcpt_rejections: usize,
    /// Leave AUTH out of the EHLO reply.
    no_auth: bool,
    /// Answer AUTH with this reply instead of 235.
    auth_reply: Option<String>,
    /// Replies for the next RCPT commands, whoever the recipient; the usual ones when empty.
    rcpt_replies: VecDeque<String>,
    /// Greet with this reply instead of 220 and hang up, like a relay refusing service.
    greeting: Option<String>,
    tls: Option<ServerTls>,
}

#[derive(Clone)]
pub struct SmtpServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        SmtpServer::start_with(None)
    }

    /// A server speaking TLS as `tls` says.
    pub fn start_tls(tls: ServerTls) -> SmtpServer {
        SmtpServer::start_with(Some(tls))
    }

    /// A server on `port` of loopback: one that was down comes back where the config
    /// points.
    pub fn start_on(port: u16) -> SmtpServer {
        SmtpServer::listen(
            TcpListener::bind(("127.0.0.1", port)).expect("bind the port again"),
            None,
        )
    }

    fn start_with(tls: Option<ServerTls>) -> SmtpServer {
        SmtpServer::listen(
            TcpListener::bind("127.0.0.1:0").expect("bind loopback"),
            tls,
        )
    }

    fn listen(listener: TcpListener, tls: Option<ServerTls>) -> SmtpServer {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            tls,
            ..State::default()
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || {
                    {
                        let mut s = state.lock().unwrap();
                        s.connections += 1;
                        s.open += 1;
                        s.most_open = s.most_open.max(s.open);
                    }
                    let mut counted_closed = false;
                    let _ = serve(stream, &state, &mut counted_closed);
                    if !counted_closed {
                        state.lock().unwrap().open -= 1;
                    }
                });
            }
        });
        SmtpServer { addr, state }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Answer the next DATA ends with these replies (e.g. "451 4.3.0 try again later").
    pub fn reply_to_next_data(&self, replies: &[&str]) {
        self.state
            .lock()
            .unwrap()
            .data_replies
            .extend(replies.iter().map(|r| r.to_string()));
    }

    pub fn always_reply_to_data(&self, reply: &str) {
        self.state.lock().unwrap().always = Some(reply.to_string());
    }

    /// Wait this long before answering the end of each DATA, like a server scanning content.
    pub fn delay_data_reply(&self, delay: std::time::Duration) {
        self.state.lock().unwrap().data_delay = delay;
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.state.lock().unwrap().accepted.clone()
    }

    pub fn data_attempts(&self) -> usize {
        self.state.lock().unwrap().data_attempts
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// Connections open right now.
    pub fn open(&self) -> usize {
        self.state.lock().unwrap().open
    }

    /// The most connections that were open at once.
    pub fn most_open(&self) -> usize {
        self.state.lock().unwrap().most_open
    }

    /// EHLO commands received so far (two per STARTTLS connection).
    pub fn ehlos(&self) -> usize {
        self.state.lock().unwrap().ehlos
    }

    /// Close the connection, without a word, when the next DATA ends.
    pub fn drop_connection_at_next_data(&self) {
        self.state.lock().unwrap().drop_next_data = true;
    }

    /// Close the connection, without a word, in the middle of each of the next `count`
    /// messages: after their first lines, while the client is still sending.
    pub fn drop_connections_mid_data(&self, count: usize) {
        self.state.lock().unwrap().drop_mid_data += count;
    }

    /// Connections dropped in the middle of a message so far.
    pub fn dropped_mid_data(&self) -> usize {
        self.state.lock().unwrap().dropped_mid_data
    }

    /// Drops still to come in the middle of a message.
    pub fn mid_data_drops_left(&self) -> usize {
        self.state.lock().unwrap().drop_mid_data
    }

    /// Replies still queued for the ends of DATA.
    pub fn data_replies_left(&self) -> usize {
        self.state.lock().unwrap().data_replies.len()
    }

    /// Answer `RCPT TO:<address>` with `reply` (e.g. "550 5.1.1 No such user") from now on.
    pub fn reject_recipient(&self, address: &str, reply: &str) {
        self.state
            .lock()
            .unwrap()
            .rejected_rcpt
            .push((address.to_string(), reply.to_string()));
    }

    /// Takes back every `reject_recipient`: the addresses are fixed.
    pub fn accept_every_recipient(&self) {
        self.state.lock().unwrap().rejected_rcpt.clear();
    }

    /// How many RCPT commands were answered by `reject_recipient`'s reply.
    pub fn rcpt_rejections(&self) -> usize {
        self.state.lock().unwrap().rcpt_rejections
    }

    /// Offer no AUTH, like a relay that takes mail from its network without a login.
    pub fn without_auth(&self) {
        self.state.lock().unwrap().no_auth = true;
    }

    /// Answer every AUTH with `reply` (e.g. "535 5.7.8 Authentication credentials invalid").
    pub fn reject_logins(&self, reply: &str) {
        self.state.lock().unwrap().auth_reply = Some(reply.to_string());
    }

    /// Answer the next RCPT commands with these replies, whoever they name.
    pub fn reply_to_next_rcpt(&self, replies: &[&str]) {
        self.state
            .lock()
            .unwrap()
            .rcpt_replies
            .extend(replies.iter().map(|r| r.to_string()));
    }

    /// Replies still queued for RCPT commands.
    pub fn rcpt_replies_left(&self) -> usize {
        self.state.lock().unwrap().rcpt_replies.len()
    }

    /// Greet every connection with `reply` (e.g. "421 4.3.2 Service not available") and
    /// hang up; `None` greets again as usual.
    pub fn greet_with(&self, reply: Option<&str>) {
        self.state.lock().unwrap().greeting = reply.map(str::to_string);
    }
}

/// `counted_closed` is set once the connection no longer counts as open: at QUIT, before
/// the reply, so that a client that waits for it and then connects again is never counted
/// with two connections open.
fn serve(
    stream: TcpStream,
    state: &Mutex<State>,
    counted_closed: &mut bool,
) -> std::io::Result<()> {
    let tls = state.lock().unwrap().tls.clone();
    let tcp = stream.try_clone()?;
    let mut encrypted = false;
    let mut lines: BufReader<Box<dyn Conn>> = match &tls {
        Some(ServerTls::Implicit(config)) => {
            encrypted = true;
            BufReader::new(Box::new(tls_stream(config, stream)?))
        }
        _ => BufReader::new(Box::new(stream)),
    };
    let refusal = state.lock().unwrap().greeting.clone();
    if let Some(refusal) = refusal {
        lines
            .get_mut()
            .write_all(format!("{refusal}\r\n").as_bytes())?;
        lines.get_mut().flush()?;
        return Ok(());
    }
    lines
        .get_mut()
        .write_all(b"220 localhost ESMTP paperboy-test\r\n")?;
    lines.get_mut().flush()?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            let mut s = state.lock().unwrap();
            s.ehlos += 1;
            let mut reply = String::from("250-localhost\r\n250-8BITMIME\r\n");
            if matches!(tls, Some(ServerTls::StartTls(_))) && !encrypted {
                reply.push_str("250-STARTTLS\r\n");
            }
            if !s.no_auth {
                reply.push_str("250-AUTH PLAIN LOGIN\r\n");
            }
            reply.push_str("250 SMTPUTF8");
            reply
        } else if upper == "STARTTLS"
            && let Some(ServerTls::StartTls(config)) = &tls
            && !encrypted
        {
            lines
                .get_mut()
                .write_all(b"220 2.0.0 Ready to start TLS\r\n")?;
            lines.get_mut().flush()?;
            encrypted = true;
            lines = BufReader::new(Box::new(tls_stream(config, tcp.try_clone()?)?));
            continue;
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            "250 OK".into()
        } else if upper.starts_with("AUTH") {
            let refusal = state.lock().unwrap().auth_reply.clone();
            refusal.unwrap_or_else(|| "235 2.7.0 Authentication successful".into())
        } else if upper.starts_with("MAIL FROM:") {
            from = command[10..].trim().trim_matches(['<', '>']).to_string();
            to.clear();
            "250 OK".into()
        } else if upper.starts_with("RCPT TO:") {
            let address = command[8..].trim().trim_matches(['<', '>']).to_string();
            let mut s = state.lock().unwrap();
            let rejection = s
                .rejected_rcpt
                .iter()
                .find(|(a, _)| a.eq_ignore_ascii_case(&address))
                .map(|(_, reply)| reply.clone());
            match s.rcpt_replies.pop_front() {
                Some(reply) if !reply.starts_with('2') => reply,
                _ => match rejection {
                    Some(reply) => {
                        s.rcpt_rejections += 1;
                        reply
                    }
                    None => {
                        to.push(address);
                        "250 OK".into()
                    }
                },
            }
        } else if upper == "RSET" {
            to.clear();
            "250 OK".into()
        } else if upper == "DATA" {
            lines
                .get_mut()
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")?;
            lines.get_mut().flush()?;
            let drop_mid_data = {
                let mut s = state.lock().unwrap();
                let drop = s.drop_mid_data > 0;
                if drop {
                    s.drop_mid_data -= 1;
                    s.dropped_mid_data += 1;
                }
                drop
            };
            let mut data = Vec::new();
            loop {
                let mut raw = Vec::new();
                if lines.read_until(b'\n', &mut raw)? == 0 {
                    return Ok(());
                }
                // The headers are in; the body is still on its way.
                if drop_mid_data && data.len() > 200 {
                    let _ = tcp.shutdown(std::net::Shutdown::Both);
                    return Ok(());
                }
                if raw == b".\r\n" {
                    break;
                }
                let unstuffed = if raw.starts_with(b"..") {
                    &raw[1..]
                } else {
                    &raw[..]
                };
                data.extend_from_slice(unstuffed);
            }
            let delay = {
                let mut s = state.lock().unwrap();
                s.data_attempts += 1;
                if std::mem::take(&mut s.drop_next_data) {
                    return Ok(());
                }
                s.data_delay
            };
            std::thread::sleep(delay);
            let mut s = state.lock().unwrap();
            let reply = s
                .always
                .clone()
                .or_else(|| s.data_replies.pop_front())
                .unwrap_or_else(|| "250 2.0.0 queued".into());
            if reply.starts_with('2') {
                s.accepted.push(Received {
                    from: from.clone(),
                    to: to.clone(),
                    data,
                });
            }
            reply
        } else if upper == "QUIT" {
            state.lock().unwrap().open -= 1;
            *counted_closed = true;
            lines.get_mut().write_all(b"221 Bye\r\n")?;
            lines.get_mut().flush()?;
            return Ok(());
        } else {
            "502 5.5.2 Command not recognized".into()
        };
        let out = lines.get_mut();
        out.write_all(reply.as_bytes())?;
        out.write_all(b"\r\n")?;
        out.flush()?;
    }
}

/// The server side of TLS on `stream`, handshaken.
fn tls_stream(
    config: &Arc<rustls::ServerConfig>,
    stream: TcpStream,
) -> std::io::Result<rustls::StreamOwned<rustls::ServerConnection, TcpStream>> {
    let connection =
        rustls::ServerConnection::new(config.clone()).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(connection, stream);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}
