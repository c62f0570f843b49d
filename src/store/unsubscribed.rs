//! Who unsubscribed with their one-click link. While an address is recorded here nothing is
//! composed for it, and its digests still waiting in the outbox are withdrawn: at once when
//! the unsubscribe is recorded, or, for one being sent at that moment whose send then fails,
//! when it is next claimed.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::{DigestStatus, Result, Store, time_key};

/// An address that unsubscribed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribed {
    pub subscriber: String,
    pub at: DateTime<Utc>,
    /// `one-click` (the mail client's own button) or `page` (the button on the link's page).
    pub how: String,
    /// Their digests withdrawn from the outbox unsent.
    pub withdrawn: usize,
}

/// What recording an unsubscribe did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsubscribe {
    /// False when the address had unsubscribed before (a second click changes nothing).
    pub new: bool,
    /// Pending digests withdrawn by it.
    pub withdrawn: usize,
}

impl Store {
    /// Records that `subscriber` (a key: the address in lower case) unsubscribed, and
    /// withdraws their pending digests but one another sender is sending right now.
    pub fn unsubscribe(
        &mut self,
        subscriber: &str,
        how: &str,
        now: DateTime<Utc>,
    ) -> Result<Unsubscribe> {
        let owner = self.owner.clone();
        self.write(|conn| {
            let new = conn.execute(
                "INSERT INTO unsubscribed (subscriber, unsubscribed_at, how) VALUES (?1, ?2, ?3)
                 ON CONFLICT (subscriber) DO NOTHING",
                params![subscriber, time_key(now), how],
            )? == 1;
            let withdrawn = conn.execute(
                &format!("{WITHDRAW} AND subscriber = ?4"),
                params![DigestStatus::Unsubscribed, time_key(now), owner, subscriber],
            )?;
            conn.execute(
                "DELETE FROM messages WHERE digest_id IN
                     (SELECT id FROM digests WHERE subscriber = ?1 AND status = 'unsubscribed')",
                [subscriber],
            )?;
            Ok(Unsubscribe { new, withdrawn })
        })
    }

    /// Undoes an unsubscribe: their next period is composed and sent as before. Returns what
    /// was recorded, or `None` if `subscriber` had not unsubscribed. Withdrawn digests stay
    /// withdrawn; the next digest starts where the last composed one ended.
    pub fn resubscribe(&mut self, subscriber: &str) -> Result<Option<Unsubscribed>> {
        self.write(|conn| {
            let Some(record) = unsubscribed_where(conn, "u.subscriber = ?1", [subscriber])?
                .into_iter()
                .next()
            else {
                return Ok(None);
            };
            conn.execute(
                "DELETE FROM unsubscribed WHERE subscriber = ?1",
                [subscriber],
            )?;
            Ok(Some(record))
        })
    }

    /// Every address that unsubscribed, by key.
    pub fn unsubscribed_keys(&self) -> Result<HashSet<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT subscriber FROM unsubscribed")?;
        let keys = stmt.query_map([], |r| r.get(0))?;
        Ok(keys.collect::<rusqlite::Result<_>>()?)
    }

    /// Every address that unsubscribed, the latest first, as `status` lists them.
    pub fn unsubscribed(&self) -> Result<Vec<Unsubscribed>> {
        unsubscribed_where(&self.conn, "1", rusqlite::params![])
    }

    /// Whether `subscriber` unsubscribed, and when.
    pub fn unsubscribed_record(&self, subscriber: &str) -> Result<Option<Unsubscribed>> {
        Ok(
            unsubscribed_where(&self.conn, "u.subscriber = ?1", [subscriber])?
                .into_iter()
                .next(),
        )
    }
}

/// Withdraws pending digests of unsubscribed addresses, but not one under a live claim of
/// another sender (who may be handing it to the server this moment: if it goes out it is
/// marked sent, as it should be; if not, it is back without a claim, and withdrawn when next
/// claimed). Its message is dropped: nothing will send it. Parameters: the status, now, this
/// process's claim owner.
const WITHDRAW: &str = "UPDATE digests SET status = ?1, claimed_until = NULL,
        claimed_by = NULL, last_attempt_at = ?2
    WHERE status = 'pending' AND (claimed_until IS NULL OR claimed_until < ?2 OR claimed_by = ?3)
      AND subscriber IN (SELECT subscriber FROM unsubscribed)";

/// Withdraws digest `id` if its subscriber unsubscribed; true if it did.
pub(super) fn withdraw_digest(
    conn: &Connection,
    id: i64,
    now: DateTime<Utc>,
    owner: &str,
) -> rusqlite::Result<bool> {
    // Asked for every digest claimed: compiled once.
    let changed = conn
        .prepare_cached(&format!("{WITHDRAW} AND id = ?4"))?
        .execute(params![
            DigestStatus::Unsubscribed,
            time_key(now),
            owner,
            id
        ])?;
    if changed == 1 {
        conn.prepare_cached("DELETE FROM messages WHERE digest_id = ?1")?
            .execute([id])?;
    }
    Ok(changed == 1)
}

fn unsubscribed_where(
    conn: &Connection,
    condition: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Unsubscribed>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT u.subscriber, u.unsubscribed_at, u.how,
                (SELECT count(*) FROM digests d
                 WHERE d.subscriber = u.subscriber AND d.status = 'unsubscribed')
         FROM unsubscribed u WHERE {condition} ORDER BY u.unsubscribed_at DESC, u.subscriber"
    ))?;
    let rows = stmt.query_map(params, |r| {
        Ok(Unsubscribed {
            subscriber: r.get(0)?,
            at: r.get(1)?,
            how: r.get(2)?,
            withdrawn: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Claim, DigestContent, NewDigest, Packed, Recorded};

    fn queue(store: &mut Store, subscriber: &str, slot: DateTime<Utc>) -> i64 {
        let recorded = store
            .record_digests(&[NewDigest {
                subscriber: subscriber.into(),
                slot,
                based_on: store.cursors().unwrap().get(subscriber).cloned(),
                window_end_seq: 0,
                composed_at: slot,
                content: DigestContent::Message {
                    message_id: format!("<{subscriber}.{}>", slot.timestamp()),
                    message: Packed::new(b"body"),
                    papers: vec!["2606.00001".into()],
                },
                supersedes: Vec::new(),
            }])
            .unwrap();
        match recorded[..] {
            [Recorded::Queued(id)] => id,
            _ => panic!("{recorded:?}"),
        }
    }

    #[test]
    fn an_unsubscribe_withdraws_pending_digests_and_a_resubscribe_undoes_it() {
        let mut store = Store::open_in_memory().unwrap();
        let now = Utc::now();
        let alice = queue(&mut store, "alice@example.org", now);
        let bob = queue(&mut store, "bob@example.org", now);

        let done = store
            .unsubscribe("alice@example.org", "one-click", now)
            .unwrap();
        assert_eq!(
            done,
            Unsubscribe {
                new: true,
                withdrawn: 1
            }
        );
        let again = store.unsubscribe("alice@example.org", "page", now).unwrap();
        assert_eq!(
            again,
            Unsubscribe {
                new: false,
                withdrawn: 0
            }
        );

        let later = now + chrono::Duration::seconds(1);
        assert_eq!(store.claim(alice, later, later).unwrap(), Claim::Gone);
        assert_eq!(store.claim(bob, later, later).unwrap(), Claim::Claimed);
        let pending: Vec<String> = store
            .pending(None)
            .unwrap()
            .into_iter()
            .map(|item| item.subscriber)
            .collect();
        assert_eq!(pending, ["bob@example.org"]);
        assert_eq!(
            store.outbox(DigestStatus::Unsubscribed, 10).unwrap()[0].id,
            alice
        );
        // Its papers are not given: they were never sent.
        let given = store
            .given_among("alice@example.org", &["2606.00001".into()])
            .unwrap();
        assert!(given.is_empty());

        let listed = store.unsubscribed().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].subscriber.as_str(), listed[0].how.as_str()),
            ("alice@example.org", "one-click")
        );
        assert_eq!(listed[0].withdrawn, 1);
        assert_eq!(
            store.unsubscribed_keys().unwrap(),
            HashSet::from(["alice@example.org".to_string()])
        );

        assert_eq!(
            store.resubscribe("alice@example.org").unwrap(),
            Some(listed[0].clone())
        );
        assert_eq!(store.resubscribe("alice@example.org").unwrap(), None);
        assert!(store.unsubscribed().unwrap().is_empty());
        assert_eq!(
            store.unsubscribed_record("alice@example.org").unwrap(),
            None
        );
    }

    #[test]
    fn a_digest_being_sent_at_the_unsubscribe_is_withdrawn_if_its_send_fails() {
        let mut sender = Store::open_in_memory().unwrap();
        let now = Utc::now();
        let id = queue(&mut sender, "alice@example.org", now);
        let until = now + chrono::Duration::minutes(5);
        assert_eq!(sender.claim(id, now, until).unwrap(), Claim::Claimed);

        // Another process's claim is live: the unsubscribe leaves that digest to its sender.
        let owner = std::mem::replace(&mut sender.owner, "the web listener".into());
        let done = sender
            .unsubscribe("alice@example.org", "one-click", now)
            .unwrap();
        assert_eq!(done.withdrawn, 0);
        sender.owner = owner;

        // The send failed for now: back in the outbox, and withdrawn when claimed again.
        sender
            .mark_attempt_failed(id, "421 try later", false, now)
            .unwrap();
        assert_eq!(sender.claim(id, now, until).unwrap(), Claim::Gone);
        assert!(sender.pending(None).unwrap().is_empty());
        let record = sender.unsubscribed_record("alice@example.org").unwrap();
        assert_eq!(record.map(|r| r.withdrawn), Some(1));
    }
}
