//! The outbox as the delivery workers use it: which digests are due, claiming them with their
//! bodies a batch at a time, and recording a batch of results in one transaction (a group
//! commit: one fsync for many sends, written within milliseconds of the server's answers).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::holder::Holder;
use super::{
    Claim, DigestStatus, OutboxItem, Result, Store, packed, time_key, unsubscribed, write,
};

/// A pending digest, without its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub id: i64,
    pub subscriber: String,
}

/// What claiming a batch came to.
#[derive(Debug, Default)]
pub struct ClaimedBatch {
    /// Claimed by this process, with their messages, in the order asked.
    pub items: Vec<OutboxItem>,
    /// Being sent by another process.
    pub held_elsewhere: Vec<Due>,
}

/// What became of one attempt to send a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The server took it (its 250 to DATA).
    Sent,
    /// Not sent, worth trying again, not before `next_attempt_at`.
    Retry {
        error: String,
        next_attempt_at: DateTime<Utc>,
    },
    /// Given up on, with the server's words.
    Failed { error: String },
}

impl Store {
    /// The pending digests of `subscribers` (everyone's when `None`), oldest first: those
    /// whose next attempt has come at `due_at`, or all of them without it.
    pub fn due(
        &self,
        subscribers: Option<&HashSet<String>>,
        due_at: Option<DateTime<Utc>>,
    ) -> Result<Vec<Due>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, subscriber, next_attempt_at FROM digests
             WHERE status = 'pending' ORDER BY id",
        )?;
        let due_at = due_at.map(time_key);
        let rows = stmt.query_map([], |r| {
            Ok((
                Due {
                    id: r.get(0)?,
                    subscriber: r.get(1)?,
                },
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        let mut due = Vec::new();
        for row in rows {
            let (item, next) = row?;
            let wanted = subscribers.is_none_or(|only| only.contains(&item.subscriber));
            // Times are stored as fixed-width RFC 3339 in UTC, which sort as text.
            let come = match (&due_at, &next) {
                (Some(at), Some(next)) => next <= at,
                _ => true,
            };
            if wanted && come {
                due.push(item);
            }
        }
        Ok(due)
    }

    /// Claims a pending digest for sending until `until` (this process may renew its own
    /// claims). The digest of a subscriber who unsubscribed since it was composed is withdrawn
    /// instead, in the same transaction, so none is sent after the unsubscribe is recorded.
    /// [`Store::claim_batch`] of one, for the tests of claiming.
    #[cfg(test)]
    pub fn claim(&mut self, id: i64, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<Claim> {
        let owner = self.owner.clone();
        let holder = &self.holder;
        write(&mut self.conn, |conn| {
            claim_one(conn, holder, id, now, until, &owner)
        })
    }

    /// [`Store::claim`] for each of `batch` in one transaction, with the claimed digests'
    /// messages. Those gone meanwhile (sent or given up on by another process, withdrawn)
    /// are left out.
    pub fn claim_batch(
        &mut self,
        batch: &[Due],
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<ClaimedBatch> {
        let owner = self.owner.clone();
        let holder = &self.holder;
        write(&mut self.conn, |conn| {
            let mut claimed = ClaimedBatch::default();
            let mut body = conn.prepare_cached(
                "SELECT d.slot, m.message, d.attempts
                     FROM digests d LEFT JOIN messages m ON m.digest_id = d.id WHERE d.id = ?1",
            )?;
            for due in batch {
                match claim_one(conn, holder, due.id, now, until, &owner)? {
                    Claim::Claimed => {
                        let (slot, message, attempts) = body.query_row([due.id], |r| {
                            Ok((r.get(0)?, r.get::<_, Option<Vec<u8>>>(1)?, r.get(2)?))
                        })?;
                        let message = match packed::unpack(message.unwrap_or_default()) {
                            Ok(message) => message,
                            Err(e) => {
                                // Nothing can send it: given up on, with the reason.
                                tracing::error!(digest = due.id, subscriber = %due.subscriber, "its stored message is {e}");
                                conn.prepare_cached(
                                    "UPDATE digests SET status = 'failed', last_error = ?2,
                                        claimed_until = NULL, claimed_by = NULL
                                     WHERE id = ?1",
                                )?
                                .execute(params![due.id, format!("its stored message is {e}")])?;
                                continue;
                            }
                        };
                        claimed.items.push(OutboxItem {
                            id: due.id,
                            subscriber: due.subscriber.clone(),
                            slot,
                            message,
                            attempts,
                        });
                    }
                    Claim::HeldElsewhere => claimed.held_elsewhere.push(due.clone()),
                    Claim::Gone => {}
                }
            }
            Ok(claimed)
        })
    }

    /// Records the outcomes of a batch of sends in one transaction. A digest sent counts as
    /// sent whoever holds its claim (the mail is out); a failure counts only while this
    /// process holds the claim (otherwise another sender has taken it over).
    pub fn record_outcomes(
        &mut self,
        outcomes: &[(i64, SendOutcome)],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let owner = self.owner.clone();
        self.write(|conn| {
            for (id, outcome) in outcomes {
                record_one(conn, *id, outcome, now, &owner)?;
            }
            Ok(())
        })
    }

    /// Makes every waiting digest due at once, and with `failed` puts the failed ones back in
    /// the outbox (with their attempts counted afresh). Returns how many of each.
    pub fn requeue(&mut self, failed: bool, now: DateTime<Utc>) -> Result<(usize, usize)> {
        self.write(|conn| {
            let due = conn.execute(
                "UPDATE digests SET next_attempt_at = NULL
                 WHERE status = 'pending' AND next_attempt_at IS NOT NULL",
                [],
            )?;
            let requeued = if failed {
                // A failed digest whose body was pruned cannot be sent again: it stays failed.
                conn.execute(
                    "UPDATE digests SET status = 'pending', attempts = 0, next_attempt_at = NULL,
                        last_attempt_at = ?1, claimed_until = NULL, claimed_by = NULL
                     WHERE status = 'failed' AND id IN (SELECT digest_id FROM messages)",
                    [time_key(now)],
                )?
            } else {
                0
            };
            Ok((due, requeued))
        })
    }

    /// Marks a digest delivered: [`Store::record_outcomes`] of one, for tests.
    #[cfg(test)]
    pub fn mark_sent(&mut self, id: i64, now: DateTime<Utc>) -> Result<()> {
        self.record_outcomes(&[(id, SendOutcome::Sent)], now)
    }

    /// Records a failed attempt: [`Store::record_outcomes`] of one, to be tried again at once
    /// unless `permanent`; for tests.
    #[cfg(test)]
    pub fn mark_attempt_failed(
        &mut self,
        id: i64,
        error: &str,
        permanent: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let error = error.to_string();
        let outcome = if permanent {
            SendOutcome::Failed { error }
        } else {
            SendOutcome::Retry {
                error,
                next_attempt_at: now,
            }
        };
        self.record_outcomes(&[(id, outcome)], now)
    }
}

fn claim_one(
    conn: &Connection,
    holder: &Holder,
    id: i64,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    owner: &str,
) -> Result<Claim> {
    if unsubscribed::withdraw_digest(conn, id, now, owner)? {
        return Ok(Claim::Gone);
    }
    let changed = conn
        .prepare_cached(
            "UPDATE digests SET claimed_until = ?3, claimed_by = ?4
             WHERE id = ?1 AND status = 'pending'
               AND (claimed_until IS NULL OR claimed_until < ?2 OR claimed_by = ?4)",
        )?
        .execute(params![id, time_key(now), time_key(until), owner])?;
    if changed == 1 {
        return Ok(Claim::Claimed);
    }
    let held_by: Option<Option<String>> = conn
        .prepare_cached("SELECT claimed_by FROM digests WHERE id = ?1 AND status = 'pending'")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    let Some(held_by) = held_by else {
        return Ok(Claim::Gone);
    };
    // A claim dies with its holder: a process that is gone (killed mid-send) sends nothing
    // more, so its digests are taken over at once. Those in flight at its death may arrive
    // twice, which SMTP cannot rule out anyway.
    if let Some(dead) = held_by.filter(|h| holder.is_gone(h)) {
        let taken = conn
            .prepare_cached(
                "UPDATE digests SET claimed_until = ?2, claimed_by = ?3
                 WHERE id = ?1 AND status = 'pending' AND claimed_by = ?4",
            )?
            .execute(params![id, time_key(until), owner, dead])?;
        if taken == 1 {
            tracing::info!(
                digest = id,
                "taking over a digest claimed by a paperboy process that is gone"
            );
            return Ok(Claim::Claimed);
        }
    }
    Ok(Claim::HeldElsewhere)
}

fn record_one(
    conn: &Connection,
    id: i64,
    outcome: &SendOutcome,
    now: DateTime<Utc>,
    owner: &str,
) -> Result<()> {
    let now = time_key(now);
    match outcome {
        SendOutcome::Sent => {
            conn.prepare_cached(
                "UPDATE digests SET status = ?3, sent_at = ?2, attempts = attempts + 1,
                    last_attempt_at = ?2, last_error = NULL, next_attempt_at = NULL,
                    claimed_until = NULL, claimed_by = NULL
                 WHERE id = ?1 AND status = 'pending'",
            )?
            .execute(params![id, now, DigestStatus::Sent])?;
        }
        SendOutcome::Retry {
            error,
            next_attempt_at,
        } => {
            conn.prepare_cached(
                "UPDATE digests SET attempts = attempts + 1, last_error = ?2,
                    last_attempt_at = ?3, next_attempt_at = ?4,
                    claimed_until = NULL, claimed_by = NULL
                 WHERE id = ?1 AND status = 'pending' AND claimed_by = ?5",
            )?
            .execute(params![id, error, now, time_key(*next_attempt_at), owner])?;
        }
        SendOutcome::Failed { error } => {
            conn.prepare_cached(
                "UPDATE digests SET status = ?2, attempts = attempts + 1, last_error = ?3,
                    last_attempt_at = ?4, next_attempt_at = NULL,
                    claimed_until = NULL, claimed_by = NULL
                 WHERE id = ?1 AND status = 'pending' AND claimed_by = ?5",
            )?
            .execute(params![id, DigestStatus::Failed, error, now, owner])?;
        }
    }
    Ok(())
}
