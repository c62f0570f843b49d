//! A real SMTP server on loopback for the tests: it speaks enough ESMTP for lettre (EHLO,
//! AUTH, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT), keeps what it accepted,
//! and can be told to answer the end of DATA with chosen replies (4xx, 5xx).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

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
}

#[derive(Clone)]
pub struct SmtpServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &state);
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
}

fn serve(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    out.write_all(b"220 localhost ESMTP paperboy-test\r\n")?;
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
            "250-localhost\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN".into()
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            "250 OK".into()
        } else if upper.starts_with("AUTH") {
            "235 2.7.0 Authentication successful".into()
        } else if upper.starts_with("MAIL FROM:") {
            from = command[10..].trim().trim_matches(['<', '>']).to_string();
            to.clear();
            "250 OK".into()
        } else if upper.starts_with("RCPT TO:") {
            to.push(command[8..].trim().trim_matches(['<', '>']).to_string());
            "250 OK".into()
        } else if upper == "RSET" {
            to.clear();
            "250 OK".into()
        } else if upper == "DATA" {
            out.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")?;
            let mut data = Vec::new();
            loop {
                let mut raw = Vec::new();
                if lines.read_until(b'\n', &mut raw)? == 0 {
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
            out.write_all(b"221 Bye\r\n")?;
            return Ok(());
        } else {
            "502 5.5.2 Command not recognized".into()
        };
        out.write_all(reply.as_bytes())?;
        out.write_all(b"\r\n")?;
    }
}
