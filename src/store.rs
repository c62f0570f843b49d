//! The state database (SQLite): papers, digests (the outbox) and which papers each subscriber
//! was sent. Migrations are numbered by `PRAGMA user_version`.
//!
//! A paper's `seq` (its row id, AUTOINCREMENT so never reused) is the fetch sequence: digests
//! record the highest `seq` they covered, so the next window starts exactly after it whatever
//! the wall clock does.

use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

use crate::paper::Paper;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the state folder {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("state database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error(
        "state database was written by a newer paperboy (schema {found}, this one knows {known})"
    )]
    TooNew { found: i64, known: i64 },
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Each entry upgrades the schema by one version.
const MIGRATIONS: &[&str] = &[r#"
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
"#];

/// A paper as stored, with the fetch sequence and the time Paperboy first saw it.
#[derive(Debug, Clone)]
pub struct StoredPaper {
    pub seq: i64,
    pub first_seen_at: DateTime<Utc>,
    pub paper: Paper,
}

/// What one source's fetch changed.
#[derive(Debug, Default)]
pub struct UpsertReport {
    /// arXiv ids seen for the first time.
    pub new: Vec<String>,
    pub updated: usize,
}

/// A digest to record: the period it covers and, unless it is empty, the message to send.
#[derive(Debug)]
pub struct NewDigest {
    pub window_end_seq: i64,
    pub composed_at: DateTime<Utc>,
    pub content: DigestContent,
}

#[derive(Debug)]
pub enum DigestContent {
    /// Nothing to send, and why.
    Empty { reason: String },
    /// A message for the outbox and the papers it carries, in order.
    Message {
        message_id: String,
        message: Vec<u8>,
        papers: Vec<String>,
    },
}

/// A digest waiting in the outbox.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    pub subscriber: String,
    pub slot: DateTime<Utc>,
    pub attempts: u32,
    pub message: Vec<u8>,
}

/// One row of `status`.
#[derive(Debug, Clone)]
pub struct DigestRecord {
    pub id: i64,
    pub subscriber: String,
    pub slot: DateTime<Utc>,
    pub status: String,
    pub reason: Option<String>,
    pub papers: u32,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

pub struct Store {
    conn: Connection,
    /// Names this process in the outbox claims it takes, so that only the holder of a claim
    /// records a failed attempt.
    owner: String,
}

impl Store {
    /// Opens (creating if needed) the state database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        Self::setup(conn)
    }

    /// Opens the state for a run that must record nothing: a copy in memory of the database
    /// at `path` (or an empty one if there is none). The file is only read, and briefly, so
    /// a dry run neither migrates it nor holds a lock a running daemon would wait on.
    pub fn open_dry_run(path: &Path) -> Result<Store> {
        let mut memory = Connection::open_in_memory()?;
        if path.exists() {
            let open = |source| StoreError::Open {
                path: path.display().to_string(),
                source,
            };
            let file = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(open)?;
            file.busy_timeout(std::time::Duration::from_secs(10))?;
            Backup::new(&file, &mut memory)?
                .run_to_completion(i32::MAX, std::time::Duration::ZERO, None)
                .map_err(open)?;
        }
        Self::setup(memory)
    }

    pub fn open_in_memory() -> Result<Store> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Store> {
        // A daemon and a one-shot command may share the database: wait for each other's writes.
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let owner = format!("{}.{nanos}", std::process::id());
        Ok(Store { conn, owner })
    }

    /// Runs `f` in a write transaction: BEGIN IMMEDIATE so that reads inside it see the state
    /// the writes are based on, even with another process writing.
    fn write<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let sql = |e: rusqlite::Error| E::from(StoreError::Sql(e));
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let value = f(&tx)?;
        tx.commit().map_err(sql)?;
        Ok(value)
    }

    /// Inserts new papers and refreshes the changing fields (upvotes, comments, stars, links)
    /// of known ones, in one transaction.
    pub fn upsert_papers(
        &mut self,
        source: &str,
        papers: &[Paper],
        now: DateTime<Utc>,
    ) -> Result<UpsertReport> {
        let now = time_key(now);
        self.write(|conn| {
            let mut report = UpsertReport::default();
            let mut exists = conn.prepare_cached("SELECT 1 FROM papers WHERE arxiv_id = ?1")?;
            let mut insert = conn.prepare_cached(
                "INSERT INTO papers (arxiv_id, title, summary, authors, categories, published_at,
                    upvotes, num_comments, github_repo, github_stars, project_page, ai_summary,
                    ai_keywords, organization, source, first_seen_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16)",
            )?;
            // Categories only grow: a source that does not know them must not erase them.
            let mut update = conn.prepare_cached(
                "UPDATE papers SET upvotes = ?2, num_comments = ?3,
                    github_repo = coalesce(?4, github_repo),
                    github_stars = coalesce(?5, github_stars),
                    project_page = coalesce(?6, project_page),
                    ai_summary = coalesce(?7, ai_summary),
                    categories = CASE WHEN ?8 = '[]' THEN categories ELSE ?8 END,
                    updated_at = ?9
                 WHERE arxiv_id = ?1",
            )?;
            for p in papers {
                let categories = json(&p.categories);
                if exists.exists([&p.arxiv_id])? {
                    update.execute(params![
                        p.arxiv_id,
                        p.upvotes,
                        p.num_comments,
                        p.github_repo,
                        p.github_stars,
                        p.project_page,
                        p.ai_summary,
                        categories,
                        now,
                    ])?;
                    report.updated += 1;
                } else {
                    insert.execute(params![
                        p.arxiv_id,
                        p.title,
                        p.summary,
                        json(&p.authors),
                        categories,
                        p.published_at.map(time_key),
                        p.upvotes,
                        p.num_comments,
                        p.github_repo,
                        p.github_stars,
                        p.project_page,
                        p.ai_summary,
                        json(&p.ai_keywords),
                        p.organization,
                        source,
                        now,
                    ])?;
                    report.new.push(p.arxiv_id.clone());
                }
            }
            Ok(report)
        })
    }

    /// The highest fetch sequence so far (0 for an empty database).
    pub fn latest_seq(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT coalesce(max(seq), 0) FROM papers", [], |r| r.get(0))?)
    }

    /// Papers with `after_seq < seq <= up_to_seq`, oldest first.
    pub fn papers_in_range(&self, after_seq: i64, up_to_seq: i64) -> Result<Vec<StoredPaper>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, first_seen_at, arxiv_id, title, summary, authors, categories,
                    published_at, upvotes, num_comments, github_repo, github_stars, project_page,
                    ai_summary, ai_keywords, organization
             FROM papers WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
        )?;
        let papers = stmt.query_map([after_seq, up_to_seq], |r| {
            Ok(StoredPaper {
                seq: r.get(0)?,
                first_seen_at: r.get(1)?,
                paper: Paper {
                    arxiv_id: r.get(2)?,
                    title: r.get(3)?,
                    summary: r.get(4)?,
                    authors: list(r, 5)?,
                    categories: list(r, 6)?,
                    published_at: r.get(7)?,
                    upvotes: r.get(8)?,
                    num_comments: r.get(9)?,
                    github_repo: r.get(10)?,
                    github_stars: r.get(11)?,
                    project_page: r.get(12)?,
                    ai_summary: r.get(13)?,
                    ai_keywords: list(r, 14)?,
                    organization: r.get(15)?,
                },
            })
        })?;
        Ok(papers.collect::<rusqlite::Result<_>>()?)
    }

    /// The smallest `seq` among papers first seen at or after `since`, minus one: the
    /// exclusive lower bound of a first digest's window.
    pub fn seq_before(&self, since: DateTime<Utc>) -> Result<i64> {
        let first: Option<i64> = self.conn.query_row(
            "SELECT min(seq) FROM papers WHERE first_seen_at >= ?1",
            [time_key(since)],
            |r| r.get(0),
        )?;
        match first {
            Some(seq) => Ok(seq - 1),
            None => self.latest_seq(),
        }
    }

    /// The end of the window that the subscriber's last digest covered, `None` for one who
    /// never had a digest.
    pub fn window_end(&self, subscriber: &str) -> Result<Option<i64>> {
        Ok(window_end(&self.conn, subscriber)?)
    }

    /// Records a digest unless one exists for this subscriber and slot. `compose` runs inside
    /// the same write transaction and decides the content from the subscriber's history as it
    /// is now: that is how composition stays exact when two processes compose at once.
    /// Returns the new digest's id with what `compose` returned, or `None` when the slot was
    /// already composed.
    pub fn record_digest<T, E: From<StoreError>>(
        &mut self,
        subscriber: &str,
        slot: DateTime<Utc>,
        compose: impl FnOnce(&DigestGuard<'_>) -> Result<(NewDigest, T), E>,
    ) -> Result<Option<(i64, T)>, E> {
        self.write(|conn| {
            let sql = |e: rusqlite::Error| E::from(StoreError::Sql(e));
            let exists = conn
                .prepare_cached("SELECT 1 FROM digests WHERE subscriber = ?1 AND slot = ?2")
                .and_then(|mut s| s.exists(params![subscriber, time_key(slot)]))
                .map_err(sql)?;
            if exists {
                return Ok(None);
            }
            let (digest, extra) = compose(&DigestGuard { conn, subscriber })?;
            let id = insert_digest(conn, subscriber, slot, &digest).map_err(sql)?;
            Ok(Some((id, extra)))
        })
    }

    /// Digests waiting in the outbox, oldest first; only those of `subscribers` when given.
    pub fn pending(&self, subscribers: Option<&[String]>) -> Result<Vec<OutboxItem>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, subscriber, slot, attempts, message FROM digests
             WHERE status = 'pending' ORDER BY id",
        )?;
        let items = stmt.query_map([], |r| {
            Ok(OutboxItem {
                id: r.get(0)?,
                subscriber: r.get(1)?,
                slot: r.get(2)?,
                attempts: r.get(3)?,
                message: r.get(4)?,
            })
        })?;
        let only: Option<HashSet<&str>> =
            subscribers.map(|list| list.iter().map(String::as_str).collect());
        let mut pending = Vec::new();
        for item in items {
            let item = item?;
            if only
                .as_ref()
                .is_none_or(|only| only.contains(item.subscriber.as_str()))
            {
                pending.push(item);
            }
        }
        Ok(pending)
    }

    /// Claims a pending digest for sending until `until`. False when it is no longer pending
    /// or another sender holds an unexpired claim (this process's own claims it may renew).
    pub fn claim(&mut self, id: i64, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool> {
        let owner = self.owner.clone();
        self.write(|conn| {
            let changed = conn.execute(
                "UPDATE digests SET claimed_until = ?3, claimed_by = ?4
                 WHERE id = ?1 AND status = 'pending'
                   AND (claimed_until IS NULL OR claimed_until < ?2 OR claimed_by = ?4)",
                params![id, time_key(now), time_key(until), owner],
            )?;
            Ok(changed == 1)
        })
    }

    /// Takes out of the outbox the pending digests of anyone not in `subscribers` (removed
    /// from the config since): they are marked failed rather than sent to someone who left.
    /// Only digests composed before `config_loaded_at` and not being sent count: a process
    /// with an older config must not fail the digest of a subscriber added since.
    pub fn fail_unsubscribed(
        &mut self,
        subscribers: &[String],
        config_loaded_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let subscribers: HashSet<&str> = subscribers.iter().map(String::as_str).collect();
        self.write(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, subscriber FROM digests
                 WHERE status = 'pending' AND composed_at < ?1
                   AND (claimed_until IS NULL OR claimed_until < ?2)",
            )?;
            let orphans: Vec<i64> = stmt
                .query_map(params![time_key(config_loaded_at), time_key(now)], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })?
                .filter_map(|row| match row {
                    Ok((id, subscriber)) if !subscribers.contains(subscriber.as_str()) => {
                        Some(Ok(id))
                    }
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<rusqlite::Result<_>>()?;
            for id in &orphans {
                conn.execute(
                    "UPDATE digests SET status = 'failed', last_error = 'no longer a subscriber',
                        last_attempt_at = ?2, claimed_until = NULL, claimed_by = NULL
                     WHERE id = ?1",
                    params![id, time_key(now)],
                )?;
            }
            Ok(orphans.len())
        })
    }

    /// How many digests wait in the outbox, and how many failed for good.
    pub fn outbox_counts(&self) -> Result<(usize, usize)> {
        Ok(self.conn.query_row(
            "SELECT count(*) FILTER (WHERE status = 'pending'),
                    count(*) FILTER (WHERE status = 'failed')
             FROM digests",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    /// Marks a digest delivered, whoever holds its claim: the mail is out. Its papers count as
    /// sent to its subscriber from now on.
    pub fn mark_sent(&mut self, id: i64, now: DateTime<Utc>) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                "UPDATE digests SET status = 'sent', sent_at = ?2, attempts = attempts + 1,
                    last_attempt_at = ?2, last_error = NULL, claimed_until = NULL, claimed_by = NULL
                 WHERE id = ?1 AND status = 'pending'",
                params![id, time_key(now)],
            )?;
            Ok(())
        })
    }

    /// Records a failed attempt, if this process still holds the digest's claim (otherwise
    /// another sender has taken it over and its result counts). A permanent failure takes the
    /// digest out of the outbox.
    pub fn mark_attempt_failed(
        &mut self,
        id: i64,
        error: &str,
        permanent: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let status = if permanent { "failed" } else { "pending" };
        let owner = self.owner.clone();
        self.write(|conn| {
            conn.execute(
                "UPDATE digests SET status = ?2, attempts = attempts + 1, last_error = ?3,
                    last_attempt_at = ?4, claimed_until = NULL, claimed_by = NULL
                 WHERE id = ?1 AND status = 'pending' AND claimed_by = ?5",
                params![id, status, error, time_key(now), owner],
            )?;
            Ok(())
        })
    }

    /// The latest digest of each subscriber, newest first, plus every pending or failed one.
    pub fn digest_records(&self) -> Result<Vec<DigestRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT d.id, d.subscriber, d.slot, d.status, d.reason, d.attempts, d.last_error,
                    d.sent_at, (SELECT count(*) FROM digest_papers p WHERE p.digest_id = d.id)
             FROM digests d
             WHERE d.status IN ('pending', 'failed')
                OR d.id = (SELECT max(id) FROM digests l WHERE l.subscriber = d.subscriber)
             ORDER BY d.subscriber, d.id DESC",
        )?;
        let records = stmt.query_map([], |r| {
            Ok(DigestRecord {
                id: r.get(0)?,
                subscriber: r.get(1)?,
                slot: r.get(2)?,
                status: r.get(3)?,
                reason: r.get(4)?,
                attempts: r.get(5)?,
                last_error: r.get(6)?,
                sent_at: r.get(7)?,
                papers: r.get(8)?,
            })
        })?;
        Ok(records.collect::<rusqlite::Result<_>>()?)
    }
}

fn insert_digest(
    conn: &Connection,
    subscriber: &str,
    slot: DateTime<Utc>,
    digest: &NewDigest,
) -> rusqlite::Result<i64> {
    let (status, reason, message_id, message, papers): (_, _, _, _, &[String]) =
        match &digest.content {
            DigestContent::Empty { reason } => ("empty", Some(reason), None, None, &[]),
            DigestContent::Message {
                message_id,
                message,
                papers,
            } => ("pending", None, Some(message_id), Some(message), papers),
        };
    conn.prepare_cached(
        "INSERT INTO digests (subscriber, slot, window_end_seq, composed_at, status, reason,
            message_id, message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        subscriber,
        time_key(slot),
        digest.window_end_seq,
        time_key(digest.composed_at),
        status,
        reason,
        message_id,
        message,
    ])?;
    let id = conn.last_insert_rowid();
    let mut insert_paper = conn.prepare_cached(
        "INSERT INTO digest_papers (digest_id, arxiv_id, position) VALUES (?1, ?2, ?3)",
    )?;
    for (position, arxiv_id) in papers.iter().enumerate() {
        insert_paper.execute(params![id, arxiv_id, position as i64])?;
    }
    Ok(id)
}

fn window_end(conn: &Connection, subscriber: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT max(window_end_seq) FROM digests WHERE subscriber = ?1")?
        .query_row([subscriber], |r| r.get(0))
}

/// Read access to one subscriber's history inside the transaction that records their digest.
pub struct DigestGuard<'a> {
    conn: &'a Connection,
    subscriber: &'a str,
}

impl DigestGuard<'_> {
    /// The end of the window the subscriber's last digest covered.
    pub fn window_end(&self) -> Result<Option<i64>> {
        Ok(window_end(self.conn, self.subscriber)?)
    }

    /// Whether the paper was sent to the subscriber, or waits in their outbox.
    pub fn already_given(&self, arxiv_id: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT 1 FROM digest_papers p JOIN digests d ON d.id = p.digest_id
                 WHERE d.subscriber = ?1 AND p.arxiv_id = ?2 AND d.status IN ('pending', 'sent')",
            )?
            .exists(params![self.subscriber, arxiv_id])?)
    }
}

/// Every time is stored in one fixed-width UTC form with milliseconds, so that comparing
/// them as text (slots, claims, first-seen windows) is comparing them as times.
fn time_key(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

fn json(values: &[String]) -> String {
    serde_json::to_string(values).expect("a list of strings always serialises")
}

/// A JSON list of strings stored in one column.
fn list(row: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<Vec<String>> {
    let text: String = row.get(column)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let known = MIGRATIONS.len() as i64;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > known {
        return Err(StoreError::TooNew {
            found: version,
            known,
        });
    }
    for migration in &MIGRATIONS[version as usize..] {
        tx.execute_batch(migration)?;
    }
    tx.pragma_update(None, "user_version", known)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper(id: &str, upvotes: u32) -> Paper {
        Paper {
            upvotes,
            authors: vec!["Ada Lovelace".into()],
            ..Paper::new(id, &format!("Paper {id}"))
        }
    }

    #[test]
    fn upsert_keeps_sequence_and_first_seen_but_refreshes_upvotes() {
        let mut store = Store::open_in_memory().unwrap();
        let t0 = Utc::now();
        let r = store
            .upsert_papers("hf", &[paper("2601.00001", 1), paper("2601.00002", 2)], t0)
            .unwrap();
        assert_eq!(r.new, ["2601.00001", "2601.00002"]);
        let t1 = t0 + chrono::Duration::hours(1);
        let r = store
            .upsert_papers("hf", &[paper("2601.00002", 9), paper("2601.00003", 3)], t1)
            .unwrap();
        assert_eq!(r.new, ["2601.00003"]);
        assert_eq!(r.updated, 1);
        let all = store
            .papers_in_range(0, store.latest_seq().unwrap())
            .unwrap();
        let ids: Vec<_> = all
            .iter()
            .map(|p| (p.seq, p.paper.arxiv_id.as_str(), p.paper.upvotes))
            .collect();
        assert_eq!(
            ids,
            [
                (1, "2601.00001", 1),
                (2, "2601.00002", 9),
                (3, "2601.00003", 3)
            ]
        );
        assert_eq!(all[1].first_seen_at.timestamp(), t0.timestamp());
        assert_eq!(store.seq_before(t1).unwrap(), 2);
    }

    #[test]
    fn a_slot_is_recorded_once_and_sent_papers_follow_the_digest_status() {
        let mut store = Store::open_in_memory().unwrap();
        let now = Utc::now();
        store
            .upsert_papers("hf", &[paper("2601.00001", 1)], now)
            .unwrap();
        let record = |store: &mut Store| {
            store
                .record_digest("a@example.org", now, |guard| {
                    assert!(!guard.already_given("2601.00001")?);
                    Ok::<_, StoreError>((
                        NewDigest {
                            window_end_seq: 1,
                            composed_at: now,
                            content: DigestContent::Message {
                                message_id: "<x@example.org>".into(),
                                message: b"hello".to_vec(),
                                papers: vec!["2601.00001".into()],
                            },
                        },
                        (),
                    ))
                })
                .unwrap()
        };
        let (id, ()) = record(&mut store).unwrap();
        assert!(record(&mut store).is_none(), "the same slot twice");
        assert!(
            store
                .claim(id, now, now + chrono::Duration::minutes(5))
                .unwrap()
        );
        assert_eq!(store.outbox_counts().unwrap(), (1, 0));
        assert_eq!(store.window_end("a@example.org").unwrap(), Some(1));
        assert_eq!(store.pending(None).unwrap().len(), 1);
        assert!(
            store
                .pending(Some(&["b@example.org".into()]))
                .unwrap()
                .is_empty()
        );
        store
            .mark_attempt_failed(id, "451 try later", false, now)
            .unwrap();
        assert_eq!(store.pending(None).unwrap()[0].attempts, 1);
        store.mark_sent(id, now).unwrap();
        assert!(store.pending(None).unwrap().is_empty());
        let sent: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM sent_papers WHERE subscriber = 'a@example.org'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(sent, 1);
    }

    /// Puts a message for `who` in the outbox, composed at `now`.
    fn queue(store: &mut Store, who: &str, now: DateTime<Utc>) -> i64 {
        let digest = NewDigest {
            window_end_seq: 0,
            composed_at: now,
            content: DigestContent::Message {
                message_id: format!("<{who}>"),
                message: b"m".to_vec(),
                papers: vec![],
            },
        };
        let recorded = store.record_digest(who, now, |_| Ok::<_, StoreError>((digest, ())));
        recorded.unwrap().unwrap().0
    }

    #[test]
    fn a_claim_keeps_other_senders_off_until_it_runs_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut a = Store::open(&path).unwrap();
        let mut b = Store::open(&path).unwrap();
        b.owner = "another process".into();
        let now = Utc::now();
        let id = queue(&mut a, "x@example.org", now);
        let until = now + chrono::Duration::minutes(5);
        assert!(a.claim(id, now, until).unwrap());
        assert!(
            a.claim(id, now, until).unwrap(),
            "its own claim it may renew"
        );
        assert!(
            !b.claim(id, now, until).unwrap(),
            "claimed by another sender"
        );
        let expired = until + chrono::Duration::seconds(1);
        assert!(
            b.claim(id, expired, expired + chrono::Duration::minutes(5))
                .unwrap()
        );
        // The first sender's late failure does not count: the new holder's result does.
        a.mark_attempt_failed(id, "451 late", false, expired)
            .unwrap();
        assert_eq!(a.pending(None).unwrap()[0].attempts, 0);
        b.mark_attempt_failed(id, "451 busy", false, expired)
            .unwrap();
        assert_eq!(a.pending(None).unwrap()[0].attempts, 1);
        // A mail that went out is recorded whoever holds the claim.
        b.claim(id, expired, expired + chrono::Duration::minutes(5))
            .unwrap();
        a.mark_sent(id, expired).unwrap();
        assert!(b.pending(None).unwrap().is_empty());
    }

    #[test]
    fn pending_digests_of_removed_subscribers_leave_the_outbox() {
        let mut store = Store::open_in_memory().unwrap();
        let before = Utc::now();
        let now = before + chrono::Duration::seconds(1);
        queue(&mut store, "a@example.org", before);
        queue(&mut store, "b@example.org", before);
        let claimed = queue(&mut store, "c@example.org", before);
        store
            .claim(claimed, now, now + chrono::Duration::minutes(5))
            .unwrap();
        // Composed after the config was loaded: a subscriber that config does not know yet.
        queue(&mut store, "d@example.org", now);
        let only_a = ["a@example.org".to_string()];
        assert_eq!(store.fail_unsubscribed(&only_a, now, now).unwrap(), 1);
        let mut pending: Vec<_> = store
            .pending(None)
            .unwrap()
            .into_iter()
            .map(|p| p.subscriber)
            .collect();
        pending.sort();
        assert_eq!(pending, ["a@example.org", "c@example.org", "d@example.org"]);
        assert_eq!(store.outbox_counts().unwrap(), (3, 1));
    }

    #[test]
    fn a_dry_run_records_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        Store::open(&path).unwrap();
        {
            let mut dry = Store::open_dry_run(&path).unwrap();
            dry.upsert_papers("hf", &[paper("2601.00001", 1)], Utc::now())
                .unwrap();
            assert_eq!(dry.latest_seq().unwrap(), 1);
        }
        assert_eq!(Store::open(&path).unwrap().latest_seq().unwrap(), 0);
        let missing = dir.path().join("missing.db");
        Store::open_dry_run(&missing).unwrap();
        assert!(!missing.exists());
    }

    #[test]
    fn refuses_a_schema_from_the_future() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
