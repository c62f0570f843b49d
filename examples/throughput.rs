//! How many digests a second leave through SMTP, on this machine, to a loopback sink:
//! lettre's stock pooled `AsyncSmtpTransport` against our `SmtpSender`s, the same number of
//! connections each, the same ~20 KB messages, each transport with a sink of its own.
//!
//! Then the whole of `paperboy send-now` end to end, the release binary as a child process:
//! a generated config of N subscribers with 3 topics each, 1,000 papers from a local stand-in
//! for the Hugging Face daily papers API, `[smtp]` at a sink of its own with 8 connections.
//! It reports the wall time (fetch, compose, render, store, send), digests a second, the
//! child's peak RSS, the sink's count of distinct recipients (must be N), the most
//! connections open at once (must be at most 8), and the state database's size.
//!
//! With `--backlog`, the outbox worker alone: `send-now` composes every digest with the relay
//! down, then paperboy's delivery (`pipeline::deliver`, in this process) sends the outbox,
//! timed: claims, bodies read and unpacked, SMTP, results recorded by group commit.
//!
//! ```sh
//! cargo build --release && cargo run --release --example throughput            # defaults
//! cargo run --release --example throughput -- --reps 5 --stock 2000 --ours 50000
//! cargo run --release --example throughput -- --e2e 20000,100000 --e2e-reps 3
//! cargo run --release --example throughput -- --e2e 0                           # SMTP only
//! cargo run --release --example throughput -- --e2e 100000 --state-days 30     # the state
//! cargo run --release --example throughput -- --e2e 0 --backlog 20000,100000    # the outbox
//! ```
//!
//! The sink answers 250 to everything (DATA with dot-termination, pipelined commands in
//! order), counts the messages, and notes the most connections open at once.

// The end-to-end run, in a file of its own (a folder without main.rs is no example of its own).
#[path = "throughput/e2e.rs"]
mod e2e;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lettre::address::Envelope;
use lettre::message::{Mailbox, Message, MultiPart};
use lettre::transport::smtp::{AsyncSmtpTransport, PoolConfig};
use lettre::{AsyncTransport, Tokio1Executor};
use paperboy::config::{SmtpConfig, SmtpSecurity};
use paperboy::deliver::SmtpTransport;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpListener;

/// Connections (and workers) for both transports: the `[smtp] max_connections` default.
const CONNECTIONS: usize = 8;

struct Options {
    reps: usize,
    /// Messages per repetition for the stock transport (slow: ~20 a second per connection).
    stock: usize,
    /// Messages per repetition for ours.
    ours: usize,
    /// Subscriber counts for the end-to-end runs; none with `--e2e 0`.
    e2e: Vec<usize>,
    /// Subscriber counts for the backlog runs (the outbox worker alone); none by default.
    backlog: Vec<usize>,
    /// End-to-end runs per subscriber count.
    e2e_reps: usize,
    /// Daily runs to simulate on the state of the last end-to-end run of each size; 0: none.
    state_days: usize,
}

impl Options {
    fn from_args() -> Options {
        let mut options = Options {
            reps: 3,
            stock: 1_000,
            ours: 20_000,
            e2e: vec![20_000],
            backlog: Vec::new(),
            e2e_reps: 1,
            state_days: 0,
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let value = args.next().unwrap_or_else(|| usage(&flag));
            let number = |v: &str| v.trim().parse::<usize>().unwrap_or_else(|_| usage(&flag));
            let sizes = |v: &str| v.split(',').map(number).filter(|&n| n > 0).collect();
            match flag.as_str() {
                "--reps" => options.reps = number(&value),
                "--stock" => options.stock = number(&value),
                "--ours" => options.ours = number(&value),
                "--e2e-reps" => options.e2e_reps = number(&value).max(1),
                "--state-days" => options.state_days = number(&value),
                "--e2e" => options.e2e = sizes(&value),
                "--backlog" => options.backlog = sizes(&value),
                _ => usage(&flag),
            }
        }
        options
    }
}

fn usage(flag: &str) -> ! {
    eprintln!(
        "unknown or incomplete option {flag}; use --reps N, --stock N, --ours N, \
         --e2e N[,N...] (0: none), --backlog N[,N...], --e2e-reps N, --state-days N"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let options = Options::from_args();
    paperboy::tls::install_crypto_provider();
    let messages = Messages::new(CONNECTIONS * 4);
    println!(
        "{} connections, messages of {} bytes, {} repetitions; {} cores",
        CONNECTIONS,
        messages.bodies[0].len(),
        options.reps,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let stock_sink = Sink::start(false).await;
    let stock = stock_transport(stock_sink.addr);
    let mut stock_rates = Vec::new();
    for _ in 0..options.reps {
        let rate = measure(&stock_sink, options.stock, || {
            send_stock(&stock, &messages, options.stock)
        })
        .await;
        stock_rates.push(rate);
    }

    let ours_sink = Sink::start(false).await;
    let ours = our_transport(ours_sink.addr);
    let mut our_rates = Vec::new();
    for _ in 0..options.reps {
        let rate = measure(&ours_sink, options.ours, || {
            send_ours(&ours, &messages, options.ours)
        })
        .await;
        our_rates.push(rate);
    }

    let (stock_median, ours_median) = (median(&mut stock_rates), median(&mut our_rates));
    println!(
        "lettre AsyncSmtpTransport, pool of {CONNECTIONS}: {stock_median:>9.0} msg/s (median of {:?}), most connections open at once: {}",
        rounded(&stock_rates),
        stock_sink.most_open()
    );
    println!(
        "paperboy SmtpSender x {CONNECTIONS} workers:     {ours_median:>9.0} msg/s (median of {:?}), most connections open at once: {}",
        rounded(&our_rates),
        ours_sink.most_open()
    );
    println!("ratio: {:.1}x", ours_median / stock_median);

    if !options.e2e.is_empty() {
        e2e::run_all(
            &options.e2e,
            e2e::Measured::EndToEnd,
            options.e2e_reps,
            options.state_days,
        )
        .await;
    }
    if !options.backlog.is_empty() {
        e2e::run_all(
            &options.backlog,
            e2e::Measured::Backlog,
            options.e2e_reps,
            0,
        )
        .await;
    }
}

/// Runs one repetition and checks the sink got every message.
async fn measure<F, Fut>(sink: &Sink, count: usize, run: F) -> f64
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let before = sink.accepted();
    let start = Instant::now();
    run().await;
    let elapsed = start.elapsed();
    let accepted = sink.accepted() - before;
    assert_eq!(accepted, count as u64, "the sink did not get every message");
    count as f64 / elapsed.as_secs_f64()
}

fn stock_transport(addr: SocketAddr) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .timeout(Some(Duration::from_secs(30)))
        .pool_config(PoolConfig::new().max_size(CONNECTIONS as u32))
        .build()
}

async fn send_stock(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    messages: &Messages,
    count: usize,
) {
    futures_util::stream::iter(0..count)
        .map(|i| {
            let (envelope, body) = messages.get(i);
            async move {
                transport
                    .send_raw(envelope, body)
                    .await
                    .expect("stock send")
            }
        })
        .buffer_unordered(CONNECTIONS)
        .for_each(|_| async {})
        .await;
}

fn our_transport(addr: SocketAddr) -> SmtpTransport {
    SmtpTransport::new(&SmtpConfig {
        host: addr.ip().to_string(),
        port: addr.port(),
        security: SmtpSecurity::None,
        credentials: None,
        max_connections: CONNECTIONS as u32,
        timeout: Duration::from_secs(30),
        max_messages_per_connection: 1000,
        max_per_second: None,
        extra_roots: Vec::new(),
    })
    .expect("our transport")
}

/// Like the delivery workers: each a task with its own sender, pulling from a bounded queue.
async fn send_ours(transport: &SmtpTransport, messages: &Arc<Messages>, count: usize) {
    let (queue, receiver) = tokio::sync::mpsc::channel::<usize>(CONNECTIONS * 16);
    let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let mut sender = transport.sender();
            let (receiver, messages) = (receiver.clone(), messages.clone());
            tokio::spawn(async move {
                loop {
                    let next = receiver.lock().await.recv().await;
                    let Some(i) = next else { break };
                    let (envelope, body) = messages.get(i);
                    sender.send(envelope, body).await.expect("our send");
                }
                sender.close().await;
            })
        })
        .collect();
    for i in 0..count {
        queue.send(i).await.expect("workers alive");
    }
    drop(queue);
    for worker in workers {
        worker.await.expect("worker");
    }
}

fn median(rates: &mut [f64]) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn rounded(rates: &[f64]) -> Vec<u64> {
    rates.iter().map(|r| r.round() as u64).collect()
}

/// A set of prepared digests, handed out round robin: building them is not what is measured.
struct Messages {
    envelopes: Vec<Envelope>,
    bodies: Vec<Vec<u8>>,
}

impl Messages {
    fn new(count: usize) -> Arc<Messages> {
        let (envelopes, bodies) = (0..count).map(digest).unzip();
        Arc::new(Messages { envelopes, bodies })
    }

    fn get(&self, i: usize) -> (&Envelope, &[u8]) {
        let i = i % self.bodies.len();
        (&self.envelopes[i], &self.bodies[i])
    }
}

/// A digest like Paperboy's: multipart/alternative, ten papers with title, authors and an
/// abstract in both parts, ~20 KB in all.
fn digest(n: usize) -> (Envelope, Vec<u8>) {
    let from: Mailbox = "Paperboy <papers@example.org>".parse().unwrap();
    let to: Mailbox = format!("Reader {n} <reader{n}@example.org>")
        .parse()
        .unwrap();
    let abstract_text = "We study how large language models trained on scientific text can retrieve, \
        rank and summarise new research for individual readers. Our method combines sparse \
        lexical matching with dense similarity, and we show on three benchmarks that it \
        improves recall at ten by a wide margin while staying cheap enough to run daily. ";
    let mut text = String::from("Your papers for today\n\n");
    let mut html = String::from(
        "<!doctype html><html><body style=\"font-family:sans-serif;margin:0;padding:16px\">\
         <h1 style=\"font-size:20px\">Your papers for today</h1>",
    );
    for paper in 0..10 {
        let title = format!("Paper {paper} on retrieval-augmented digests, part {n}");
        text.push_str(&format!(
            "{title}\nAda Lovelace, Alan Turing, Grace Hopper\nhttps://arxiv.org/abs/2606.{paper:05}\n{abstract_text}{abstract_text}\n\n"
        ));
        html.push_str(&format!(
            "<div style=\"margin:0 0 24px 0;border-bottom:1px solid #ddd\">\
             <h2 style=\"font-size:16px;margin:0 0 4px 0\"><a href=\"https://arxiv.org/abs/2606.{paper:05}\" \
             style=\"color:#1a0dab;text-decoration:none\">{title}</a></h2>\
             <p style=\"color:#555;font-size:13px;margin:0 0 8px 0\">Ada Lovelace, Alan Turing, Grace Hopper</p>\
             <p style=\"font-size:14px;line-height:1.4;margin:0\">{abstract_text}{abstract_text}</p></div>"
        ));
    }
    html.push_str("</body></html>");
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(format!("10 new papers for you · digest {n}"))
        .multipart(MultiPart::alternative_plain_html(text, html))
        .expect("a message");
    (message.envelope().clone(), message.formatted())
}

/// A fast counting SMTP sink on loopback.
struct Sink {
    addr: SocketAddr,
    stats: Arc<SinkStats>,
}

#[derive(Default)]
struct SinkStats {
    accepted: AtomicU64,
    open: AtomicUsize,
    most_open: AtomicUsize,
    /// The RCPT TO addresses of accepted messages, when asked to keep them (the end-to-end
    /// runs: each subscriber exactly once); `None` keeps the SMTP comparison lean.
    recipients: Option<std::sync::Mutex<HashMap<String, u32>>>,
}

impl Sink {
    async fn start(keep_recipients: bool) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(SinkStats {
            recipients: keep_recipients.then(Default::default),
            ..SinkStats::default()
        });
        let shared = stats.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let stats = shared.clone();
                tokio::spawn(async move {
                    let open = stats.open.fetch_add(1, Ordering::SeqCst) + 1;
                    stats.most_open.fetch_max(open, Ordering::SeqCst);
                    let quit = serve_sink(stream, &stats).await;
                    if !matches!(quit, Ok(true)) {
                        stats.open.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        Sink { addr, stats }
    }

    fn accepted(&self) -> u64 {
        self.stats.accepted.load(Ordering::SeqCst)
    }

    fn most_open(&self) -> usize {
        self.stats.most_open.load(Ordering::SeqCst)
    }

    /// Distinct recipients of accepted messages, and the most messages any one of them got.
    fn recipients(&self) -> (usize, u32) {
        let recipients = self
            .stats
            .recipients
            .as_ref()
            .expect("kept")
            .lock()
            .unwrap();
        let most = recipients.values().copied().max().unwrap_or(0);
        (recipients.len(), most)
    }
}

/// Reads a message up to and with the line that is a lone dot, a buffer at a time (memchr),
/// not a line at a time: the sink shares the machine's two cores with what it measures, and
/// reading ~400 lines a message one by one cost it more than paperboy's sending did. False
/// when the connection ended first.
async fn skip_message(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<bool> {
    const END: &[u8] = b"\r\n.\r\n";
    // The last bytes of what was read before, for an end split between two reads; at first
    // a line break, since the message starts a line.
    let mut tail: Vec<u8> = b"\r\n".to_vec();
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(false);
        }
        let mut joined = tail.clone();
        joined.extend_from_slice(&buf[..buf.len().min(END.len() - 1)]);
        let end = memchr::memmem::find(&joined, END)
            .map(|at| at + END.len() - tail.len())
            .or_else(|| memchr::memmem::find(buf, END).map(|at| at + END.len()));
        if let Some(end) = end {
            reader.consume(end);
            return Ok(true);
        }
        tail.extend_from_slice(&buf[buf.len().saturating_sub(END.len() - 1)..]);
        tail.drain(..tail.len().saturating_sub(END.len() - 1));
        let read = buf.len();
        reader.consume(read);
    }
}

/// Serves one connection; true when it ended with QUIT (and was counted closed then).
async fn serve_sink(stream: tokio::net::TcpStream, stats: &SinkStats) -> std::io::Result<bool> {
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    let mut lines = BufReader::with_capacity(64 * 1024, read);
    let mut out = BufWriter::new(write);
    out.write_all(b"220 sink ESMTP\r\n").await?;
    out.flush().await?;
    let mut line = Vec::with_capacity(1024);
    let mut rcpt: Vec<String> = Vec::new();
    loop {
        // Pipelined commands are answered in order; the answers go out together once the
        // client has nothing more for us to read.
        if lines.buffer().is_empty() {
            out.flush().await?;
        }
        line.clear();
        if lines.read_until(b'\n', &mut line).await? == 0 {
            return Ok(false);
        }
        let command = line.get(..4).unwrap_or(&line).to_ascii_uppercase();
        match &command[..] {
            b"EHLO" => {
                out.write_all(b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                    .await?
            }
            b"DATA" => {
                out.write_all(b"354 go ahead\r\n").await?;
                // The client sends the message only once it has the 354.
                out.flush().await?;
                if !skip_message(&mut lines).await? {
                    return Ok(false);
                }
                stats.accepted.fetch_add(1, Ordering::Relaxed);
                if let Some(recipients) = &stats.recipients {
                    let mut recipients = recipients.lock().unwrap();
                    for to in rcpt.drain(..) {
                        *recipients.entry(to).or_default() += 1;
                    }
                }
                out.write_all(b"250 2.0.0 queued\r\n").await?;
            }
            b"RCPT" if stats.recipients.is_some() => {
                let text = String::from_utf8_lossy(&line);
                let address = text.split_once(':').map_or("", |(_, a)| a);
                let address = address.trim().trim_start_matches('<');
                let address = address.split('>').next().unwrap_or("");
                rcpt.push(address.to_ascii_lowercase());
                out.write_all(b"250 OK\r\n").await?
            }
            b"MAIL" | b"RSET" => {
                rcpt.clear();
                out.write_all(b"250 OK\r\n").await?
            }
            b"QUIT" => {
                // Closed for the count before the reply: a client that reads the 221 and
                // opens its next connection must not find this one still counted as open.
                stats.open.fetch_sub(1, Ordering::SeqCst);
                let _ = out.write_all(b"221 bye\r\n").await;
                let _ = out.flush().await;
                return Ok(true);
            }
            _ => out.write_all(b"250 OK\r\n").await?,
        }
    }
}
