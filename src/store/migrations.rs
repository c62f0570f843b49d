//! The schema, as numbered migrations (`PRAGMA user_version`). Each entry upgrades the schema
//! by one version and is never edited once released: a fresh database runs them all, so the
//! upgrade path is the one every install takes.

use rusqlite::{Connection, TransactionBehavior};

use super::{Result, StoreError};

const MIGRATIONS: &[&str] = &[
    SCHEMA_1, SCHEMA_2, SCHEMA_3, SCHEMA_4, SCHEMA_5, SCHEMA_6, SCHEMA_7,
];

/// The first release's schema.
const SCHEMA_1: &str = r#"
CREATE TABLE papers (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    arxiv_id      TEXT NOT NULL UNIQUE,
    title         TEXT NOT NULL,
    summary       TEXT NOT NULL,
    authors       TEXT NOT NULL,      -- JSON array of names
    categories    TEXT NOT NULL,      -- JSON array
    published_at  TEXT,
    upvotes       INTEGER NOT NULL,
    num_comments  INTEGER NOT NULL,
    github_repo   TEXT,
    github_stars  INTEGER,
    project_page  TEXT,
    ai_summary    TEXT,
    ai_keywords   TEXT NOT NULL,      -- JSON array
    organization  TEXT,
    source        TEXT NOT NULL,      -- the source that first reported it
    first_seen_at TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- One row per subscriber and period. `status` is 'pending' (in the outbox), 'sent', 'failed',
-- or 'empty' (nothing to send; kept so the next window starts after this one).
CREATE TABLE digests (
    id              INTEGER PRIMARY KEY,
    subscriber      TEXT NOT NULL,
    slot            TEXT NOT NULL,
    window_end_seq  INTEGER NOT NULL,
    composed_at     TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'empty')),
    reason          TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_attempt_at TEXT,
    sent_at         TEXT,
    -- A sender claims a pending digest until this time, so that a daemon and a one-shot
    -- command never send the same digest at once; a crashed sender's claim runs out.
    claimed_until   TEXT,
    claimed_by      TEXT,
    message_id      TEXT,
    message         BLOB,
    UNIQUE (subscriber, slot)
);
CREATE INDEX digests_pending ON digests (status) WHERE status = 'pending';

CREATE TABLE digest_papers (
    digest_id INTEGER NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
    arxiv_id  TEXT NOT NULL,
    position  INTEGER NOT NULL,
    PRIMARY KEY (digest_id, arxiv_id)
);

-- A paper counts as sent once the digest carrying it is: marking the digest sent records its
-- papers in the same transaction by construction.
CREATE VIEW sent_papers AS
    SELECT d.subscriber, p.arxiv_id, d.id AS digest_id, d.sent_at
    FROM digests d JOIN digest_papers p ON p.digest_id = d.id
    WHERE d.status = 'sent';
"#;

/// A cursor per subscriber instead of an `empty` digest row per period, so that periods with
/// nothing to send add nothing; a digest row only for a composed message; the papers of a
/// digest indexed by subscriber, so "was this given to them" is a lookup, not a scan.
const SCHEMA_2: &str = r#"
DROP VIEW sent_papers;
ALTER TABLE digests RENAME TO digests_v1;
ALTER TABLE digest_papers RENAME TO digest_papers_v1;

-- Where each subscriber's next window starts, and their last period.
CREATE TABLE cursors (
    subscriber     TEXT PRIMARY KEY,
    window_end_seq INTEGER NOT NULL,
    last_slot      TEXT NOT NULL,
    composed_at    TEXT NOT NULL,
    -- Why the last period had nothing to send; NULL when it composed a message.
    nothing_reason TEXT
) WITHOUT ROWID;
INSERT INTO cursors (subscriber, window_end_seq, last_slot, composed_at, nothing_reason)
    SELECT d.subscriber, max(d.window_end_seq), max(d.slot), max(d.composed_at),
           (SELECT l.reason FROM digests_v1 l WHERE l.subscriber = d.subscriber
            ORDER BY l.slot DESC LIMIT 1)
    FROM digests_v1 d GROUP BY d.subscriber;

-- One row per composed message: the outbox and its history.
CREATE TABLE digests (
    id              INTEGER PRIMARY KEY,
    subscriber      TEXT NOT NULL,
    slot            TEXT NOT NULL,
    window_end_seq  INTEGER NOT NULL,
    composed_at     TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_attempt_at TEXT,
    sent_at         TEXT,
    -- A sender claims a pending digest until this time, so that a daemon and a one-shot
    -- command never send the same digest at once; a crashed sender's claim runs out.
    claimed_until   TEXT,
    claimed_by      TEXT,
    message_id      TEXT NOT NULL,
    -- Dropped once the digest is sent or failed and older than [state] keep_messages.
    message         BLOB,
    UNIQUE (subscriber, slot)
);
INSERT INTO digests (id, subscriber, slot, window_end_seq, composed_at, status, attempts,
        last_error, last_attempt_at, sent_at, claimed_until, claimed_by, message_id, message)
    SELECT id, subscriber, slot, window_end_seq, composed_at, status, attempts, last_error,
           last_attempt_at, sent_at, claimed_until, claimed_by, message_id, message
    FROM digests_v1 WHERE status <> 'empty';

-- A paper counts as given to a subscriber while a pending or sent digest carries it.
CREATE TABLE digest_papers (
    digest_id  INTEGER NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
    subscriber TEXT NOT NULL,
    arxiv_id   TEXT NOT NULL,
    position   INTEGER NOT NULL,
    PRIMARY KEY (digest_id, arxiv_id)
);
INSERT INTO digest_papers (digest_id, subscriber, arxiv_id, position)
    SELECT p.digest_id, d.subscriber, p.arxiv_id, p.position
    FROM digest_papers_v1 p JOIN digests_v1 d ON d.id = p.digest_id
    WHERE d.status <> 'empty';

DROP TABLE digest_papers_v1;
DROP TABLE digests_v1;
CREATE INDEX digests_pending ON digests (status) WHERE status = 'pending';
CREATE INDEX digests_failed ON digests (status) WHERE status = 'failed';
CREATE INDEX digests_by_subscriber ON digests (subscriber, status, id);
CREATE INDEX digests_with_message ON digests (status) WHERE message IS NOT NULL;
CREATE INDEX digest_papers_given ON digest_papers (subscriber, arxiv_id);
"#;

/// Upvotes that may be unknown (a paper announced on arXiv that Hugging Face has not listed),
/// and what conditional GETs remember of each URL.
const SCHEMA_3: &str = r#"
ALTER TABLE papers RENAME TO papers_v2;
CREATE TABLE papers (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    arxiv_id      TEXT NOT NULL UNIQUE,
    title         TEXT NOT NULL,
    summary       TEXT NOT NULL,
    authors       TEXT NOT NULL,      -- JSON array of names
    categories    TEXT NOT NULL,      -- JSON array
    published_at  TEXT,
    upvotes       INTEGER,            -- NULL: no source with upvotes listed it
    num_comments  INTEGER NOT NULL,
    github_repo   TEXT,
    github_stars  INTEGER,
    project_page  TEXT,
    ai_summary    TEXT,
    ai_keywords   TEXT NOT NULL,      -- JSON array
    organization  TEXT,
    source        TEXT NOT NULL,      -- the source that first reported it
    first_seen_at TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
-- The same seq: digests and cursors refer to it.
INSERT INTO papers (seq, arxiv_id, title, summary, authors, categories, published_at, upvotes,
        num_comments, github_repo, github_stars, project_page, ai_summary, ai_keywords,
        organization, source, first_seen_at, updated_at)
    SELECT seq, arxiv_id, title, summary, authors, categories, published_at, upvotes,
           num_comments, github_repo, github_stars, project_page, ai_summary, ai_keywords,
           organization, source, first_seen_at, updated_at
    FROM papers_v2;
DROP TABLE papers_v2;
CREATE INDEX papers_first_seen ON papers (first_seen_at);

CREATE TABLE http_validators (
    url           TEXT PRIMARY KEY,
    etag          TEXT,
    last_modified TEXT,
    updated_at    TEXT NOT NULL
) WITHOUT ROWID;
"#;

/// Papers looked up by id (the ones subscribers like), kept apart from `papers` so that they
/// never enter a digest's window: each is fetched once.
const SCHEMA_4: &str = r#"
CREATE TABLE looked_up (
    arxiv_id   TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    summary    TEXT NOT NULL,
    authors    TEXT NOT NULL,      -- JSON array
    categories TEXT NOT NULL,      -- JSON array
    fetched_at TEXT NOT NULL
) WITHOUT ROWID;
"#;

/// Addresses that unsubscribed with their one-click link, and a digest status for those
/// taken out of the outbox unsent because of it. SQLite cannot change a CHECK in place, so
/// `digests` is rebuilt the way its documentation gives: a new table, a copy, the old one
/// dropped, the new one renamed (a rename of the old one would carry `digest_papers`'s foreign
/// key along with it).
const SCHEMA_5: &str = r#"
CREATE TABLE unsubscribed (
    subscriber      TEXT PRIMARY KEY,
    unsubscribed_at TEXT NOT NULL,
    how             TEXT NOT NULL      -- 'one-click' (the mail client's button) or 'page'
) WITHOUT ROWID;

CREATE TABLE digests_v5 (
    id              INTEGER PRIMARY KEY,
    subscriber      TEXT NOT NULL,
    slot            TEXT NOT NULL,
    window_end_seq  INTEGER NOT NULL,
    composed_at     TEXT NOT NULL,
    -- 'unsubscribed': withdrawn unsent, its subscriber having unsubscribed; its message dropped.
    status          TEXT NOT NULL
                    CHECK (status IN ('pending', 'sent', 'failed', 'unsubscribed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_attempt_at TEXT,
    sent_at         TEXT,
    claimed_until   TEXT,
    claimed_by      TEXT,
    message_id      TEXT NOT NULL,
    message         BLOB,
    UNIQUE (subscriber, slot)
);
INSERT INTO digests_v5 (id, subscriber, slot, window_end_seq, composed_at, status, attempts,
        last_error, last_attempt_at, sent_at, claimed_until, claimed_by, message_id, message)
    SELECT id, subscriber, slot, window_end_seq, composed_at, status, attempts, last_error,
           last_attempt_at, sent_at, claimed_until, claimed_by, message_id, message
    FROM digests;
DROP TABLE digests;
ALTER TABLE digests_v5 RENAME TO digests;
CREATE INDEX digests_pending ON digests (status) WHERE status = 'pending';
CREATE INDEX digests_failed ON digests (status) WHERE status = 'failed';
CREATE INDEX digests_by_subscriber ON digests (subscriber, status, id);
CREATE INDEX digests_with_message ON digests (status) WHERE message IS NOT NULL;
"#;

/// Each pending digest's own next attempt (so an outage is not retried digest by digest at
/// every tick), digests superseded by a newer one of their subscriber's that carries their
/// papers (so after an outage each subscriber gets one email), and which papers moved.
const SCHEMA_6: &str = r#"
CREATE TABLE digests_v6 (
    id              INTEGER PRIMARY KEY,
    subscriber      TEXT NOT NULL,
    slot            TEXT NOT NULL,
    window_end_seq  INTEGER NOT NULL,
    composed_at     TEXT NOT NULL,
    -- 'superseded': unsent, its papers carried into the newer digest `superseded_by`.
    status          TEXT NOT NULL
                    CHECK (status IN ('pending', 'sent', 'failed', 'unsubscribed', 'superseded')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_attempt_at TEXT,
    -- A pending digest that failed is not tried again before this time (backoff).
    next_attempt_at TEXT,
    sent_at         TEXT,
    claimed_until   TEXT,
    claimed_by      TEXT,
    superseded_by   INTEGER,
    message_id      TEXT NOT NULL,
    message         BLOB,
    UNIQUE (subscriber, slot)
);
INSERT INTO digests_v6 (id, subscriber, slot, window_end_seq, composed_at, status, attempts,
        last_error, last_attempt_at, sent_at, claimed_until, claimed_by, message_id, message)
    SELECT id, subscriber, slot, window_end_seq, composed_at, status, attempts, last_error,
           last_attempt_at, sent_at, claimed_until, claimed_by, message_id, message
    FROM digests;
DROP TABLE digests;
ALTER TABLE digests_v6 RENAME TO digests;
CREATE INDEX digests_pending ON digests (status) WHERE status = 'pending';
CREATE INDEX digests_failed ON digests (status) WHERE status = 'failed';
CREATE INDEX digests_by_subscriber ON digests (subscriber, status, id);
CREATE INDEX digests_with_message ON digests (status) WHERE message IS NOT NULL;

-- A paper that moved to the end of the sequence (it gained categories or upvotes) can enter
-- a subscriber's window a second time; one that never moved cannot, so only the papers that
-- moved need the history asked whether they were given before. Those of an older schema
-- may have moved.
ALTER TABLE papers ADD COLUMN moved INTEGER NOT NULL DEFAULT 0;
UPDATE papers SET moved = 1;
"#;

/// Which papers a digest carried, a fifth of the size: 100,000 subscribers add a million rows
/// a day; and the message bodies apart from the digests. The rows live in their key (no rowid table beside an index), and the subscriber,
/// which the digest names, is no longer copied into each row with an index of its own: the
/// history is asked by subscriber through their digests.
const SCHEMA_7: &str = r#"
CREATE TABLE digest_papers_v7 (
    digest_id  INTEGER NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
    arxiv_id   TEXT NOT NULL,
    position   INTEGER NOT NULL,
    PRIMARY KEY (digest_id, arxiv_id)
) WITHOUT ROWID;
INSERT INTO digest_papers_v7 (digest_id, arxiv_id, position)
    SELECT digest_id, arxiv_id, position FROM digest_papers;
DROP TABLE digest_papers;
ALTER TABLE digest_papers_v7 RENAME TO digest_papers;

-- Message bodies in a table of their own: a digest row that held one kept a leaf page's worth
-- of it in place after the body was dropped (new rows only ever go at the end), so the
-- digests table grew by ~4 KB a digest for as long as the digest was kept.
CREATE TABLE messages (
    digest_id  INTEGER PRIMARY KEY REFERENCES digests (id) ON DELETE CASCADE,
    message    BLOB NOT NULL
);
INSERT INTO messages (digest_id, message)
    SELECT id, message FROM digests WHERE message IS NOT NULL;
DROP INDEX digests_with_message;
ALTER TABLE digests DROP COLUMN message;
"#;

/// Brings the schema up to date in one transaction. Foreign keys must be off meanwhile (and
/// `PRAGMA foreign_keys` cannot change inside a transaction): rebuilding a table drops the old
/// one, which with them on would cascade into the rows being copied.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let known = MIGRATIONS.len() as i64;
    // Read first, outside a write transaction: a database that is up to date is opened
    // without writing, so a reader neither waits for a writer nor needs write access.
    match version(conn)? {
        current if current == known => {
            conn.pragma_update(None, "foreign_keys", "ON")?;
            return Ok(());
        }
        found if found > known => return Err(StoreError::TooNew { found, known }),
        _ => {}
    }
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Again inside the transaction: another process may have migrated meanwhile.
    let version = version(&tx)?;
    if version > known {
        return Err(StoreError::TooNew {
            found: version,
            known,
        });
    }
    for migration in &MIGRATIONS[version as usize..] {
        tx.execute_batch(migration)?;
    }
    if version < known {
        let broken: Option<String> = tx
            .prepare("PRAGMA foreign_key_check")?
            .query_map([], |r| r.get(0))?
            .next()
            .transpose()?;
        if let Some(table) = broken {
            return Err(StoreError::Migration(format!(
                "a row of {table} refers to a row that does not exist"
            )));
        }
    }
    tx.pragma_update(None, "user_version", known)?;
    tx.commit()?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

fn version(conn: &Connection) -> Result<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Whether this release can use the database at `path`, read without changing it: the check
/// `check` makes of an existing state.
pub(super) fn check_version(conn: &Connection) -> Result<()> {
    let (found, known) = (version(conn)?, MIGRATIONS.len() as i64);
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database at schema 4, as the previous release left it: a sent, a pending and a
    /// failed digest with their papers.
    fn schema_4() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        for migration in &MIGRATIONS[..4] {
            conn.execute_batch(migration).unwrap();
        }
        conn.pragma_update(None, "user_version", 4).unwrap();
        conn.execute_batch(
            "INSERT INTO digests (id, subscriber, slot, window_end_seq, composed_at, status,
                 attempts, last_error, sent_at, message_id, message) VALUES
               (1, 'a@example.org', '2026-06-01T07:00:00.000Z', 5, '2026-06-01T07:00:00.000Z',
                'sent', 1, NULL, '2026-06-01T07:00:01.000Z', '<1@x>', NULL),
               (2, 'a@example.org', '2026-06-02T07:00:00.000Z', 9, '2026-06-02T07:00:00.000Z',
                'pending', 2, '451 later', NULL, '<2@x>', x'6d657373616765'),
               (3, 'b@example.org', '2026-06-02T07:00:00.000Z', 9, '2026-06-02T07:00:00.000Z',
                'failed', 1, '550 no such user', NULL, '<3@x>', x'6d');
             INSERT INTO digest_papers (digest_id, subscriber, arxiv_id, position) VALUES
               (1, 'a@example.org', '2606.00001', 0), (2, 'a@example.org', '2606.00002', 0),
               (3, 'b@example.org', '2606.00003', 0);",
        )
        .unwrap();
        conn
    }

    /// A digest's id, status, attempts, last error and message.
    type DigestRow = (i64, String, i64, Option<String>, Option<Vec<u8>>);

    #[test]
    fn the_rebuilt_digests_keep_every_digest_and_the_foreign_key_of_their_papers() {
        let mut conn = schema_4();
        let rows = |conn: &Connection| -> Vec<DigestRow> {
            conn.prepare(
                "SELECT id, status, attempts, last_error, message FROM digests ORDER BY id",
            )
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
        };
        let before = rows(&conn);
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), MIGRATIONS.len() as i64);
        // The bodies moved to a table of their own.
        let after: Vec<DigestRow> = conn
            .prepare(
                "SELECT d.id, d.status, d.attempts, d.last_error, m.message
                 FROM digests d LEFT JOIN messages m ON m.digest_id = d.id ORDER BY d.id",
            )
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(after, before);
        // Schema 6 knows superseded digests and each pending one's next attempt.
        conn.execute(
            "UPDATE digests SET status = 'superseded', superseded_by = 2,
                 next_attempt_at = '2026-06-02T08:00:00.000Z' WHERE id = 3",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO unsubscribed (subscriber, unsubscribed_at, how)
             VALUES ('a@example.org', '2026-06-02T08:00:00.000Z', 'one-click')",
            [],
        )
        .unwrap();
        conn.execute(
            "UPDATE digests SET status = 'unsubscribed' WHERE id = 2",
            [],
        )
        .unwrap();
        // Deleting a digest still takes its papers with it: the key points at the new table.
        conn.execute("DELETE FROM digests WHERE id = 3", [])
            .unwrap();
        let papers: Vec<i64> = conn
            .prepare("SELECT digest_id FROM digest_papers ORDER BY digest_id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(papers, [1, 2]);
        let inserted = conn.execute(
            "INSERT INTO digest_papers (digest_id, subscriber, arxiv_id, position)
             VALUES (99, 'a@example.org', '2606.00009', 0)",
            [],
        );
        assert!(inserted.is_err(), "a paper of no digest is refused");
    }
}
