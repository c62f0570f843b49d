//! Delivery through the real binary against a loopback SMTP server that misbehaves the way
//! real relays do, over several connections at once: "try later" at the end of DATA,
//! connections dropped halfway through a message, and one recipient refused for good.

mod support;

use std::collections::{HashMap, HashSet};

use support::*;

const SUBSCRIBERS: usize = 30;
const CONNECTIONS: usize = 4;
const REFUSED: &str = "reader17@example.org";
const REFUSAL: &str = "550 5.1.1 <reader17@example.org>: Recipient address rejected: User unknown";

fn address(i: usize) -> String {
    format!("reader{i}@example.org")
}

/// Subscribers without topics: each gets the day's most upvoted papers, so each has a digest.
fn subscribers() -> String {
    (0..SUBSCRIBERS)
        .map(|i| format!("[[subscribers]]\nemail = \"{}\"\n", address(i)))
        .collect()
}

/// "sent S, pending P, failed F" from send-now's summary.
fn summary(stdout: &str) -> (usize, usize, usize) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("sent "))
        .unwrap_or_else(|| panic!("no summary line in {stdout}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(numbers.len(), 3, "{line}");
    (numbers[0], numbers[1], numbers[2])
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_on_several_connections_lose_no_digest_and_send_none_twice() {
    let env = TestEnv::new(&subscribers()).await;
    let config = std::fs::read_to_string(&env.config).unwrap();
    let config = config.replace(
        "security = \"none\"",
        &format!("security = \"none\"\nmax_connections = {CONNECTIONS}"),
    );
    std::fs::write(&env.config, config).unwrap();

    env.smtp.reject_recipient(REFUSED, REFUSAL);
    env.smtp.reply_to_next_data(&[
        "451 4.3.0 Try again later",
        "451 4.7.1 Greylisted, come back later",
        "451 4.3.0 Try again later",
        "452 4.3.1 Insufficient system storage",
        "451 4.3.0 Try again later",
    ]);
    env.smtp.drop_connections_mid_data(3);

    let out = env.run(&["send-now"]).await;
    let stdout_text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "one digest failed: {stdout_text}"
    );

    // Every fault was met: the test is about a run that had them.
    assert_eq!(env.smtp.dropped_mid_data(), 3);
    assert_eq!(env.smtp.mid_data_drops_left(), 0);
    assert_eq!(env.smtp.data_replies_left(), 0);
    assert_eq!(env.smtp.rcpt_rejections(), 1, "a 550 is not tried again");
    assert!(
        (2..=CONNECTIONS).contains(&env.smtp.most_open()),
        "{} connections at once",
        env.smtp.most_open()
    );

    // Every other subscriber got exactly one digest, addressed to them.
    let mails = env.mails();
    let mut by_recipient: HashMap<&str, usize> = HashMap::new();
    for mail in &mails {
        assert_eq!(mail.envelope_to.len(), 1, "{:?}", mail.envelope_to);
        assert!(
            mail.to.contains(&mail.envelope_to[0]),
            "To {} for {}",
            mail.to,
            mail.envelope_to[0]
        );
        *by_recipient
            .entry(mail.envelope_to[0].as_str())
            .or_default() += 1;
    }
    for i in (0..SUBSCRIBERS).filter(|&i| address(i) != REFUSED) {
        assert_eq!(
            by_recipient.get(address(i).as_str()),
            Some(&1),
            "{} got {:?} digests",
            address(i),
            by_recipient.get(address(i).as_str())
        );
    }
    assert!(!by_recipient.contains_key(REFUSED));
    assert_eq!(mails.len(), SUBSCRIBERS - 1);
    let message_ids: HashSet<&str> = mails
        .iter()
        .map(|m| m.header("Message-ID").expect("a Message-ID"))
        .collect();
    assert_eq!(
        message_ids.len(),
        SUBSCRIBERS - 1,
        "a Message-ID per digest"
    );

    // The counts add up: in the run's summary, in `status`, and in the state.
    let (sent, pending, failed) = summary(&stdout_text);
    assert_eq!((sent, pending, failed), (SUBSCRIBERS - 1, 0, 1));
    let conn = rusqlite::Connection::open(env.state_path()).unwrap();
    let count =
        |sql: &str| -> usize { conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as usize };
    let digests = count("SELECT count(*) FROM digests");
    assert_eq!(digests, SUBSCRIBERS);
    assert_eq!(sent + pending + failed, digests);
    assert_eq!(
        count("SELECT count(*) FROM digests WHERE status = 'sent'"),
        sent
    );

    let status = stdout(&env.run(&["status"]).await);
    assert!(status.contains("outbox: 0 pending, 1 failed"), "{status}");
    let failed_line = status
        .lines()
        .find(|l| l.contains(" failed (") && l.contains(REFUSED))
        .unwrap_or_else(|| panic!("no failed digest of {REFUSED} in {status}"));
    assert!(failed_line.contains(REFUSAL), "{failed_line}");

    // A second run sends nothing more: not the failed one, not any sent one again.
    let attempts = env.smtp.data_attempts();
    let again = env.run(&["send-now"]).await;
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    assert_eq!(summary(&stdout(&again)), (0, 0, 0));
    assert_eq!(env.smtp.accepted().len(), SUBSCRIBERS - 1);
    assert_eq!(env.smtp.data_attempts(), attempts);
    assert_eq!(env.smtp.rcpt_rejections(), 1);
    assert_eq!(count("SELECT count(*) FROM digests"), SUBSCRIBERS);

    // The address is fixed at the relay: `retry --failed` puts the digest back, and the next
    // run sends it, once.
    env.smtp.accept_every_recipient();
    let retry = env.run(&["retry", "--failed"]).await;
    assert_eq!(retry.status.code(), Some(0), "{}", stderr(&retry));
    assert!(
        stdout(&retry).contains("1 failed digest put back in the outbox"),
        "{}",
        stdout(&retry)
    );
    let after = env.run(&["send-now"]).await;
    assert_eq!(summary(&stdout(&after)), (1, 0, 0), "{}", stdout(&after));
    assert_eq!(env.smtp.accepted().len(), SUBSCRIBERS);
    let status = stdout(&env.run(&["status"]).await);
    assert!(status.contains("outbox: 0 pending, 0 failed"), "{status}");
}
