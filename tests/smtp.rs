//! The SMTP connection layer against real servers on loopback: one connection carries many
//! messages, is renewed when the server closes it or after `max_messages_per_connection`,
//! each step has its own timeout, and failures of TLS and login say what to set.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use paperboy::config::{Config, TransportConfig};
use paperboy::deliver::{SendError, SmtpTransport};
use support::smtp::{ServerTls, SmtpServer, tls_config};

/// The transport a config with this `[smtp]` section builds (host, port and the rest given).
fn transport(smtp: &str) -> SmtpTransport {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    std::fs::copy(fixtures.join("ca.pem"), dir.path().join("ca.pem")).unwrap();
    let path = dir.path().join("paperboy.toml");
    let toml = format!(
        "[mail]\nfrom = \"Paperboy <papers@example.org>\"\nunsubscribe = \"mailto:admin@example.org\"\n\
         [delivery]\ntransport = \"smtp\"\n[smtp]\n{smtp}\n[state]\npath = \"state/paperboy.db\"\n\
         [[subscribers]]\nemail = \"a@example.org\"\n"
    );
    std::fs::write(&path, toml).unwrap();
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let TransportConfig::Smtp(smtp) = &config.delivery.transport else {
        panic!("an smtp transport")
    };
    SmtpTransport::new(smtp).unwrap()
}

fn plain(server: &SmtpServer, extra: &str) -> SmtpTransport {
    transport(&format!(
        "host = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\ntimeout = \"2s\"\n{extra}",
        server.port()
    ))
}

fn envelope(i: usize) -> Envelope {
    Envelope::new(
        Some("papers@example.org".parse().unwrap()),
        vec![format!("reader{i}@example.org").parse().unwrap()],
    )
    .unwrap()
}

fn message(i: usize) -> Vec<u8> {
    format!("Subject: digest {i}\r\n\r\nHello {i}.\r\n.leading dot\r\n").into_bytes()
}

fn text(error: SendError) -> String {
    match error {
        SendError::Transient(t) => {
            eprintln!("{t}");
            t
        }
        SendError::Permanent(t) => panic!("expected a transient error, got permanent: {t}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_sender_sends_many_messages_over_one_connection_and_quits() {
    let server = SmtpServer::start();
    let transport = plain(&server, "");
    let mut sender = transport.sender();
    for i in 0..50 {
        sender.send(&envelope(i), &message(i)).await.unwrap();
    }
    assert_eq!(server.connections(), 1);
    assert_eq!(server.ehlos(), 1);
    let accepted = server.accepted();
    assert_eq!(accepted.len(), 50);
    assert_eq!(accepted[7].to, ["reader7@example.org"]);
    assert!(
        String::from_utf8_lossy(&accepted[7].data).contains("\r\n.leading dot\r\n"),
        "dot-stuffed and unstuffed"
    );
    assert_eq!(server.open(), 1);
    sender.close().await;
    // The server ends the connection on QUIT.
    for _ in 0..100 {
        if server.open() == 0 {
            assert_eq!(server.connections(), 1);
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the connection was not closed after close()");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_connection_after_max_messages_per_connection() {
    let server = SmtpServer::start();
    let transport = plain(&server, "max_messages_per_connection = 4");
    let mut sender = transport.sender();
    for i in 0..10 {
        sender.send(&envelope(i), &message(i)).await.unwrap();
    }
    assert_eq!(server.accepted().len(), 10);
    assert_eq!(server.connections(), 3, "4 + 4 + 2");
    assert_eq!(
        server.most_open(),
        1,
        "the old one closed before the new one opened"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_421_or_a_dropped_connection_the_next_message_goes_on_a_new_one() {
    let server = SmtpServer::start();
    let transport = plain(&server, "");
    let mut sender = transport.sender();
    sender.send(&envelope(0), &message(0)).await.unwrap();

    server.reply_to_next_data(&["421 4.7.0 Closing, too busy"]);
    let e = text(sender.send(&envelope(1), &message(1)).await.unwrap_err());
    assert!(e.contains("421 4.7.0 Closing, too busy"), "{e}");
    sender.send(&envelope(2), &message(2)).await.unwrap();
    assert_eq!(server.connections(), 2);

    server.drop_connection_at_next_data();
    let e = text(sender.send(&envelope(3), &message(3)).await.unwrap_err());
    assert!(e.contains("closed the connection"), "{e}");
    assert!(!e.contains("may or may not"), "{e}");
    sender.send(&envelope(4), &message(4)).await.unwrap();
    assert_eq!(server.connections(), 3);
    let to: Vec<String> = server.accepted().iter().map(|r| r.to[0].clone()).collect();
    assert_eq!(
        to,
        [
            "reader0@example.org",
            "reader2@example.org",
            "reader4@example.org"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_negative_reply_keeps_the_connection() {
    let server = SmtpServer::start();
    let transport = plain(&server, "");
    let mut sender = transport.sender();
    server.reply_to_next_data(&["550 5.1.1 Mailbox does not exist", "451 4.3.0 Later"]);
    match sender.send(&envelope(0), &message(0)).await {
        Err(SendError::Permanent(e)) => {
            assert!(e.contains("550 5.1.1 Mailbox does not exist"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    let e = text(sender.send(&envelope(1), &message(1)).await.unwrap_err());
    assert!(e.contains("451 4.3.0 Later"), "{e}");
    sender.send(&envelope(2), &message(2)).await.unwrap();
    assert_eq!(server.connections(), 1);
}

/// A port that accepts and then says nothing, like an implicit-TLS port waiting for a
/// ClientHello.
fn silent_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_greets_fails_within_one_timeout_and_suggests_tls() {
    let port = silent_server();
    let transport = transport(&format!(
        "host = \"127.0.0.1\"\nport = {port}\nsecurity = \"starttls\"\ntimeout = \"1s\""
    ));
    let start = Instant::now();
    let e = text(
        transport
            .sender()
            .send(&envelope(0), &message(0))
            .await
            .unwrap_err(),
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_millis(1800),
        "{took:?}"
    );
    assert!(e.contains("no greeting within 1s"), "{e}");
    assert!(e.contains("set security = \"tls\""), "{e}");
    assert!(!e.contains("may or may not"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_stalls_after_the_message_may_or_may_not_have_taken_it() {
    let server = SmtpServer::start();
    server.delay_data_reply(Duration::from_secs(3));
    let transport = transport(&format!(
        "host = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\ntimeout = \"1s\"",
        server.port()
    ));
    let start = Instant::now();
    let e = text(
        transport
            .sender()
            .send(&envelope(0), &message(0))
            .await
            .unwrap_err(),
    );
    let took = start.elapsed();
    assert!(took < Duration::from_millis(1800), "{took:?}");
    assert!(e.contains("no final reply within 1s"), "{e}");
    assert!(e.contains("may or may not have taken it"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_against_a_server_without_auth_says_to_remove_the_credentials() {
    let server = SmtpServer::start();
    server.without_auth();
    let transport = plain(&server, "username = \"papers\"\npassword = \"secret\"");
    let e = text(transport.test_connection().await.unwrap_err());
    assert!(e.contains("offers no login (AUTH"), "{e}");
    assert!(e.contains("remove smtp.username and the password"), "{e}");
    assert!(!e.contains("No compatible authentication mechanism"), "{e}");
}

fn tls_server(implicit: bool) -> SmtpServer {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let config = tls_config(&fixtures.join("server.pem"), &fixtures.join("server.key"));
    SmtpServer::start_tls(if implicit {
        ServerTls::Implicit(config)
    } else {
        ServerTls::StartTls(config)
    })
}

fn tls_transport(server: &SmtpServer, security: &str, extra: &str) -> SmtpTransport {
    transport(&format!(
        "host = \"localhost\"\nport = {}\nsecurity = \"{security}\"\ntimeout = \"2s\"\n\
         username = \"papers\"\npassword = \"secret\"\n{extra}",
        server.port()
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_ca_in_ca_file_is_trusted_for_starttls_and_implicit_tls() {
    for implicit in [false, true] {
        let server = tls_server(implicit);
        let security = if implicit { "tls" } else { "starttls" };
        let transport = tls_transport(&server, security, "ca_file = \"ca.pem\"");
        transport.test_connection().await.unwrap();
        let mut sender = transport.sender();
        for i in 0..3 {
            sender.send(&envelope(i), &message(i)).await.unwrap();
        }
        sender.close().await;
        assert_eq!(server.accepted().len(), 3, "{security}");
        // test_connection's, then the sender's one.
        assert_eq!(server.connections(), 2, "{security}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_certificate_says_to_set_ca_file() {
    let server = tls_server(false);
    let transport = tls_transport(&server, "starttls", "");
    let e = text(transport.test_connection().await.unwrap_err());
    assert!(
        e.contains("the server's certificate is not signed by a trusted authority"),
        "{e}"
    );
    assert!(e.contains("set smtp.ca_file"), "{e}");
    assert!(!e.contains("Connection error"), "{e}");
    assert!(server.accepted().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_against_a_starttls_port_says_to_set_starttls() {
    let server = tls_server(false);
    let transport = tls_transport(&server, "tls", "ca_file = \"ca.pem\"");
    let e = text(transport.test_connection().await.unwrap_err());
    assert!(e.contains("did not answer TLS on port"), "{e}");
    assert!(e.contains("set security = \"starttls\""), "{e}");
    assert!(!e.contains("Connection error"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_against_an_implicit_tls_port_says_to_set_tls() {
    let server = tls_server(true);
    let transport = transport(&format!(
        "host = \"localhost\"\nport = {}\nsecurity = \"starttls\"\ntimeout = \"1s\"\nca_file = \"ca.pem\"",
        server.port()
    ));
    let e = text(transport.test_connection().await.unwrap_err());
    assert!(e.contains("no greeting within 1s"), "{e}");
    assert!(e.contains("set security = \"tls\""), "{e}");
}
