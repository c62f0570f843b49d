//! The state database (SQLite): papers, each subscriber's cursor, and the digests composed for
//! them (the outbox and its history). The schema lives in `migrations`.
//!
//! A paper's `seq` (its row id, AUTOINCREMENT so never reused) is the fetch sequence: a
//! subscriber's cursor records the highest `seq` their last period covered, so the next window
//! starts exactly after it whatever the wall clock does.
//!
//! [`Store`] is synchronous; [`SharedStore`] runs it off the async worker threads.

mod holder;
mod migrations;
mod outbox;
mod packed;
mod shared;
mod unsubscribed;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::backup::Backup;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

pub use outbox::{ClaimedBatch, Due, SendOutcome};
pub use packed::{Packed, unpack};
pub use shared::SharedStore;
pub use unsubscribed::{Unsubscribe, Unsubscribed};

use crate::paper::Paper;
use crate::source::http::Validators;

/// How long a write waits for another process's (a daemon and a one-shot command may share
/// the database).
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the folder {path}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open {path}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error(
        "the state database was written by a newer paperboy (schema {found}, this one knows {known})"
    )]
    TooNew { found: i64, known: i64 },
    #[error("cannot upgrade the state database: {0}")]
    Migration(String),
    #[error("state database")]
    Sql(#[from] rusqlite::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A paper as stored, with its fetch sequence.
#[derive(Debug, Clone)]
pub struct StoredPaper {
    pub seq: i64,
    pub paper: Paper,
    /// Whether it moved to the end of the sequence since it was first seen, and so may have
    /// been in an earlier window of a subscriber's.
    pub moved: bool,
}

/// What one source's fetch changed.
#[derive(Debug, Default)]
pub struct UpsertReport {
    /// arXiv ids seen for the first time.
    pub new: Vec<String>,
    pub updated: usize,
    /// Known papers that gained categories or upvotes, and so moved to the end of the fetch
    /// sequence.
    pub resurfaced: usize,
}

/// Where a subscriber's next window starts, and the period that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub window_end_seq: i64,
    pub last_slot: DateTime<Utc>,
}

/// A digest's place in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestStatus {
    /// Waiting to be sent.
    Pending,
    Sent,
    /// Given up on: a permanent SMTP failure, or its subscriber left.
    Failed,
    /// Withdrawn unsent: its subscriber unsubscribed.
    Unsubscribed,
    /// Not sent: a newer digest of its subscriber carries its papers.
    Superseded,
}

impl DigestStatus {
    fn as_str(self) -> &'static str {
        match self {
            DigestStatus::Pending => "pending",
            DigestStatus::Sent => "sent",
            DigestStatus::Failed => "failed",
            DigestStatus::Unsubscribed => "unsubscribed",
            DigestStatus::Superseded => "superseded",
        }
    }
}

impl fmt::Display for DigestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ToSql for DigestStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for DigestStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value.as_str()? {
            "pending" => Ok(DigestStatus::Pending),
            "sent" => Ok(DigestStatus::Sent),
            "failed" => Ok(DigestStatus::Failed),
            "unsubscribed" => Ok(DigestStatus::Unsubscribed),
            "superseded" => Ok(DigestStatus::Superseded),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

/// One subscriber's period to record: their new cursor and, unless there was nothing to send,
/// the message for the outbox.
#[derive(Debug)]
pub struct NewDigest {
    pub subscriber: String,
    pub slot: DateTime<Utc>,
    /// The cursor this period was composed from. Recording is refused if it moved since:
    /// another process composed for the subscriber meanwhile.
    pub based_on: Option<Cursor>,
    pub window_end_seq: i64,
    pub composed_at: DateTime<Utc>,
    pub content: DigestContent,
    /// Unsent digests of the subscriber's whose papers this one carries: they leave the
    /// outbox as it enters. Recording is refused if one of them is no longer waiting (it was
    /// sent meanwhile, or is being sent), since its papers would then arrive twice.
    pub supersedes: Vec<i64>,
}

#[derive(Debug)]
pub enum DigestContent {
    /// Nothing to send, and why.
    Nothing { reason: String },
    /// A message for the outbox and the papers it carries, in order.
    Message {
        message_id: String,
        message: Packed,
        papers: Vec<String>,
    },
}

/// What became of one [`NewDigest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// In the outbox, with this id.
    Queued(i64),
    /// The cursor moved on; nothing to send.
    Nothing,
    /// Another process composed for this subscriber since their cursor was read; nothing was
    /// recorded.
    Conflict,
}

/// What came of claiming a digest for sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This process may send it.
    Claimed,
    /// Another process is sending it.
    HeldElsewhere,
    /// It left the outbox since it was listed: another process sent it or gave up on it, or
    /// its subscriber unsubscribed.
    Gone,
}

/// A subscriber's digests waiting unsent: what a newer digest of theirs carries on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Waiting {
    pub digests: Vec<i64>,
    /// The arXiv ids they carry, in order.
    pub papers: Vec<String>,
    /// The lowest sequence number among those papers: the candidates must reach back to it.
    pub lowest_seq: Option<i64>,
}

/// A digest waiting in the outbox.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    pub subscriber: String,
    pub slot: DateTime<Utc>,
    pub message: Vec<u8>,
    /// Attempts made so far, by any process.
    pub attempts: u32,
}

/// A digest as `status` shows it.
#[derive(Debug, Clone)]
pub struct DigestRecord {
    pub id: i64,
    pub subscriber: String,
    pub slot: DateTime<Utc>,
    pub status: DigestStatus,
    pub papers: u32,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// What `status` shows of one subscriber.
#[derive(Debug, Clone, Default)]
pub struct SubscriberRecord {
    /// Their last delivered digest.
    pub last_sent: Option<DigestRecord>,
    /// Their last period, and why it had nothing to send if it had not.
    pub last_period: Option<(DateTime<Utc>, Option<String>)>,
}

pub struct Store {
    conn: Connection,
    /// Names this process in the outbox claims it takes, so that only the holder of a claim
    /// records a failed attempt.
    owner: String,
    /// Keeps this process's claims alive while it lives, and tells others' apart.
    holder: holder::Holder,
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
        let mut store = Self::setup(conn)?;
        store.holder = holder::Holder::new(path, &store.owner);
        Ok(store)
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
            file.busy_timeout(BUSY_TIMEOUT)?;
            Backup::new(&file, &mut memory)?
                .run_to_completion(i32::MAX, std::time::Duration::ZERO, None)
                .map_err(open)?;
        }
        Self::setup(memory)
    }

    /// Whether this release can use the existing database at `path`, read without changing
    /// or locking it for writing.
    pub fn check_version(path: &Path) -> Result<()> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(
            |source| StoreError::Open {
                path: path.display().to_string(),
                source,
            },
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        migrations::check_version(&conn)
    }

    pub fn open_in_memory() -> Result<Store> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Store> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // 32 MiB of pages rather than SQLite's 2: a large run's messages are read back to be
        // sent moments after they were written, and would be read from the file again.
        conn.pragma_update(None, "cache_size", -32768)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        migrations::migrate(&mut conn)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let owner = format!("{}.{nanos}", std::process::id());
        Ok(Store {
            conn,
            owner,
            holder: holder::Holder::in_memory(),
        })
    }

    /// Runs `f` in a write transaction: BEGIN IMMEDIATE so that reads inside it see the state
    /// the writes are based on, even with another process writing.
    fn write<T>(&mut self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        write(&mut self.conn, f)
    }

    /// Inserts new papers and refreshes the changing fields of known ones, in one
    /// transaction. One paper per arXiv id, whichever source saw it first: a second source
    /// adds what it knows and the first did not, and never erases. So a paper from both keeps
    /// arXiv's categories and Hugging Face's upvotes, comments, summary and links, whatever the
    /// order they came in.
    ///
    /// A paper moves to the end of the sequence (and may enter windows again) only within
    /// `keep_history` of being first seen: the history that says whom it was given is kept
    /// that long ([`Store::prune_history`]).
    pub fn upsert_papers(
        &mut self,
        source: &str,
        papers: &[Paper],
        now: DateTime<Utc>,
        keep_history: chrono::Duration,
    ) -> Result<UpsertReport> {
        // Before every time: no horizon.
        let moves_since = now
            .checked_sub_signed(keep_history)
            .map_or(String::new(), time_key);
        let now = time_key(now);
        self.write(|conn| {
            let mut report = UpsertReport::default();
            // What a known paper lacks that a source may bring: categories, upvotes.
            let mut known = conn.prepare_cached(
                "SELECT categories = '[]', upvotes IS NULL FROM papers WHERE arxiv_id = ?1",
            )?;
            let mut insert = conn.prepare_cached(
                "INSERT INTO papers (arxiv_id, title, summary, authors, categories, published_at,
                    upvotes, num_comments, github_repo, github_stars, project_page, ai_summary,
                    ai_keywords, organization, source, first_seen_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16)",
            )?;
            // Upvotes, comments, the abstract and the links come together from a source that
            // reports upvotes (Hugging Face's win over arXiv's, whichever came first; arXiv's
            // links only fill a gap); an empty list is a source that does not know the field.
            let mut update = conn.prepare_cached(
                "UPDATE papers SET upvotes = coalesce(?2, upvotes),
                    num_comments = CASE WHEN ?2 IS NULL THEN num_comments ELSE ?3 END,
                    summary = CASE WHEN ?2 IS NULL OR ?13 = '' THEN summary ELSE ?13 END,
                    github_repo = CASE WHEN ?2 IS NULL THEN coalesce(github_repo, ?4)
                        ELSE coalesce(?4, github_repo) END,
                    github_stars = coalesce(?5, github_stars),
                    project_page = CASE WHEN ?2 IS NULL THEN coalesce(project_page, ?6)
                        ELSE coalesce(?6, project_page) END,
                    ai_summary = coalesce(?7, ai_summary),
                    categories = CASE WHEN ?8 = '[]' THEN categories ELSE ?8 END,
                    organization = coalesce(?10, organization),
                    ai_keywords = CASE WHEN ?11 = '[]' THEN ai_keywords ELSE ?11 END,
                    published_at = coalesce(published_at, ?12),
                    updated_at = ?9
                 WHERE arxiv_id = ?1",
            )?;
            // Moves a paper to the end of the fetch sequence.
            let mut resequence = conn.prepare_cached(
                "UPDATE papers SET seq = (SELECT max(seq) + 1 FROM papers), moved = 1
                 WHERE arxiv_id = ?1 AND first_seen_at >= ?2",
            )?;
            for p in papers {
                let categories = json(&p.categories);
                let lacking: Option<(bool, bool)> = known
                    .query_row([&p.arxiv_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                if let Some((no_categories, no_upvotes)) = lacking {
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
                        p.organization,
                        json(&p.ai_keywords),
                        p.published_at.map(time_key),
                        p.summary,
                    ])?;
                    report.updated += 1;
                    // A paper that can now match what it could not (a `category:` topic, a
                    // `require_upvotes` subscriber) is new again to the windows past it; whoever
                    // was given it already is not given it twice.
                    let matchable = (no_categories && !p.categories.is_empty())
                        || (no_upvotes && p.upvotes.is_some());
                    if matchable && resequence.execute([&p.arxiv_id, &moves_since])? == 1 {
                        report.resurfaced += 1;
                    }
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

    /// What conditional GETs remember of each URL: its last `ETag` and `Last-Modified`.
    pub fn http_validators(&self) -> Result<HashMap<String, Validators>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT url, etag, last_modified FROM http_validators")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                Validators {
                    etag: r.get(1)?,
                    last_modified: r.get(2)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Forgets the validators of URLs not answered with a body since `before`: a dated list
    /// is asked for a few days, then never again.
    pub fn prune_http_validators(&mut self, before: DateTime<Utc>) -> Result<usize> {
        let before = time_key(before);
        self.write(|conn| {
            Ok(conn.execute(
                "DELETE FROM http_validators WHERE updated_at < ?1",
                [before],
            )?)
        })
    }

    /// Remembers the validators of URLs just fetched; a URL whose response had none is
    /// forgotten, so that it is asked unconditionally next time.
    pub fn save_http_validators(
        &mut self,
        fetched: &[(String, Validators)],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = time_key(now);
        self.write(|conn| {
            let mut upsert = conn.prepare_cached(
                "INSERT INTO http_validators (url, etag, last_modified, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (url) DO UPDATE SET etag = ?2, last_modified = ?3, updated_at = ?4",
            )?;
            let mut forget = conn.prepare_cached("DELETE FROM http_validators WHERE url = ?1")?;
            for (url, v) in fetched {
                if v.is_empty() {
                    forget.execute([url])?;
                } else {
                    upsert.execute(params![url, v.etag, v.last_modified, now])?;
                }
            }
            Ok(())
        })
    }

    /// What the state knows of each of `arxiv_ids`: from the papers fetched, else from the
    /// ones looked up before. Ids it does not know are absent.
    pub fn known_papers(&self, arxiv_ids: &[String]) -> Result<Vec<Paper>> {
        let mut fetched = self.conn.prepare_cached(
            "SELECT arxiv_id, title, summary, authors, categories FROM papers WHERE arxiv_id = ?1",
        )?;
        let mut looked_up = self.conn.prepare_cached(
            "SELECT arxiv_id, title, summary, authors, categories FROM looked_up
             WHERE arxiv_id = ?1",
        )?;
        let read = |r: &rusqlite::Row<'_>| {
            Ok(Paper {
                summary: r.get(2)?,
                authors: list(r, 3)?,
                categories: list(r, 4)?,
                ..Paper::new(&r.get::<_, String>(0)?, &r.get::<_, String>(1)?)
            })
        };
        let mut papers = Vec::with_capacity(arxiv_ids.len());
        for id in arxiv_ids {
            let paper = match fetched.query_row([id], read).optional()? {
                Some(paper) => Some(paper),
                None => looked_up.query_row([id], read).optional()?,
            };
            papers.extend(paper);
        }
        Ok(papers)
    }

    /// The `limit` papers fetched last, newest first: the background a "more like these"
    /// topic is told apart from.
    pub fn recent_papers(&self, limit: usize) -> Result<Vec<Paper>> {
        let latest = self.latest_seq()?;
        let floor = latest.saturating_sub(i64::try_from(limit).unwrap_or(i64::MAX));
        let mut papers: Vec<Paper> = self
            .papers_in_range(floor, latest)?
            .into_iter()
            .map(|p| p.paper)
            .collect();
        papers.reverse();
        papers.truncate(limit);
        Ok(papers)
    }

    /// Keeps papers looked up by id, so that each is fetched once.
    pub fn save_looked_up(&mut self, papers: &[Paper], now: DateTime<Utc>) -> Result<()> {
        let now = time_key(now);
        self.write(|conn| {
            let mut insert = conn.prepare_cached(
                "INSERT OR REPLACE INTO looked_up
                    (arxiv_id, title, summary, authors, categories, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for p in papers {
                insert.execute(params![
                    p.arxiv_id,
                    p.title,
                    p.summary,
                    json(&p.authors),
                    json(&p.categories),
                    now
                ])?;
            }
            Ok(())
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
            "SELECT seq, arxiv_id, title, summary, authors, categories,
                    published_at, upvotes, num_comments, github_repo, github_stars, project_page,
                    ai_summary, ai_keywords, organization, moved
             FROM papers WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
        )?;
        let papers = stmt.query_map([after_seq, up_to_seq], |r| {
            Ok(StoredPaper {
                seq: r.get(0)?,
                paper: Paper {
                    arxiv_id: r.get(1)?,
                    title: r.get(2)?,
                    summary: r.get(3)?,
                    authors: list(r, 4)?,
                    categories: list(r, 5)?,
                    published_at: r.get(6)?,
                    upvotes: r.get(7)?,
                    num_comments: r.get(8)?,
                    github_repo: r.get(9)?,
                    github_stars: r.get(10)?,
                    project_page: r.get(11)?,
                    ai_summary: r.get(12)?,
                    ai_keywords: list(r, 13)?,
                    organization: r.get(14)?,
                },
                moved: r.get(15)?,
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

    /// The cursors of every subscriber who has had a period.
    pub fn cursors(&self) -> Result<HashMap<String, Cursor>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT subscriber, window_end_seq, last_slot FROM cursors")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                Cursor {
                    window_end_seq: r.get(1)?,
                    last_slot: r.get(2)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Which of `arxiv_ids` were given to the subscriber: carried by a digest of theirs that
    /// was sent or waits in the outbox. Per id, one lookup in each of their digests kept (see
    /// [`Store::prune_history`]).
    pub fn given_among(&self, subscriber: &str, arxiv_ids: &[String]) -> Result<HashSet<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT 1 FROM digests d JOIN digest_papers p ON p.digest_id = d.id
             WHERE d.subscriber = ?1 AND d.status IN ('pending', 'sent') AND p.arxiv_id = ?2",
        )?;
        let mut given = HashSet::new();
        for id in arxiv_ids {
            if stmt.exists(params![subscriber, id])? {
                given.insert(id.clone());
            }
        }
        Ok(given)
    }

    /// Records each subscriber's period in one transaction: moves their cursor and puts their
    /// message, if any, in the outbox. A period whose cursor moved since it was read is not
    /// recorded ([`Recorded::Conflict`]): that is how two processes composing at once stay
    /// exact, since each decided from a history the other changed.
    pub fn record_digests(&mut self, digests: &[NewDigest]) -> Result<Vec<Recorded>> {
        self.write(|conn| {
            let mut recorded = Vec::with_capacity(digests.len());
            let now = time_key(Utc::now());
            for digest in digests {
                if cursor(conn, &digest.subscriber)? != digest.based_on {
                    recorded.push(Recorded::Conflict);
                    continue;
                }
                if digest.supersedes.is_empty() {
                    recorded.push(insert_digest(conn, digest)?);
                    continue;
                }
                // A savepoint, so that a refused supersede rolls back this subscriber alone.
                // Only then: a savepoint journals every page the period changes.
                conn.execute_batch("SAVEPOINT period")?;
                let outcome = insert_digest(conn, digest)?;
                if let Recorded::Queued(id) = outcome
                    && !supersede(conn, &digest.supersedes, id, &now)?
                {
                    conn.execute_batch("ROLLBACK TO period; RELEASE period")?;
                    recorded.push(Recorded::Conflict);
                    continue;
                }
                conn.execute_batch("RELEASE period")?;
                recorded.push(outcome);
            }
            Ok(recorded)
        })
    }

    /// The digests waiting in the outbox and not being sent, by subscriber, each with the
    /// arXiv ids it carries in order, oldest digest first: a newer digest carries them.
    pub fn waiting_papers(&self, now: DateTime<Utc>) -> Result<HashMap<String, Waiting>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.id, d.subscriber, p.arxiv_id, s.seq FROM digests d
             JOIN digest_papers p ON p.digest_id = d.id
             LEFT JOIN papers s ON s.arxiv_id = p.arxiv_id
             WHERE d.status = 'pending' AND (d.claimed_until IS NULL OR d.claimed_until < ?1)
             ORDER BY d.id, p.position",
        )?;
        let rows = stmt.query_map([time_key(now)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })?;
        let mut waiting: HashMap<String, Waiting> = HashMap::new();
        for row in rows {
            let (id, subscriber, arxiv_id, seq) = row?;
            let theirs = waiting.entry(subscriber).or_default();
            if theirs.digests.last() != Some(&id) {
                theirs.digests.push(id);
            }
            theirs.papers.push(arxiv_id);
            theirs.lowest_seq = match (theirs.lowest_seq, seq) {
                (Some(low), Some(seq)) => Some(low.min(seq)),
                (low, seq) => low.or(seq),
            };
        }
        Ok(waiting)
    }

    /// Digests waiting in the outbox, oldest first; only those of `subscribers` when given.
    pub fn pending(&self, subscribers: Option<&[String]>) -> Result<Vec<OutboxItem>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.id, d.subscriber, d.slot, m.message, d.attempts
             FROM digests d LEFT JOIN messages m ON m.digest_id = d.id
             WHERE d.status = 'pending' ORDER BY d.id",
        )?;
        let items = stmt.query_map([], |r| {
            Ok(OutboxItem {
                id: r.get(0)?,
                subscriber: r.get(1)?,
                slot: r.get(2)?,
                message: r.get::<_, Option<Vec<u8>>>(3)?.unwrap_or_default(),
                attempts: r.get(4)?,
            })
        })?;
        let only: Option<HashSet<&str>> =
            subscribers.map(|list| list.iter().map(String::as_str).collect());
        let mut pending = Vec::new();
        for item in items {
            let mut item = item?;
            if only
                .as_ref()
                .is_none_or(|only| only.contains(item.subscriber.as_str()))
            {
                match packed::unpack(std::mem::take(&mut item.message)) {
                    Ok(message) => item.message = message,
                    Err(e) => {
                        tracing::error!(digest = item.id, "its stored message is {e}");
                        continue;
                    }
                }
                pending.push(item);
            }
        }
        Ok(pending)
    }

    /// Takes out of the outbox the pending digests of anyone not in `subscribers` (removed
    /// from the config since): they are marked failed rather than sent to someone who left.
    /// Only digests composed before `config_loaded_at` and not being sent count: a process
    /// with an older config must not fail the digest of a subscriber added since.
    pub fn fail_unsubscribed(
        &mut self,
        subscribers: &HashSet<String>,
        config_loaded_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<usize> {
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
                    Ok((id, subscriber)) if !subscribers.contains(&subscriber) => Some(Ok(id)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<rusqlite::Result<_>>()?;
            for id in &orphans {
                conn.execute(
                    "UPDATE digests SET status = ?3, last_error = 'no longer a subscriber',
                        last_attempt_at = ?2, claimed_until = NULL, claimed_by = NULL
                     WHERE id = ?1",
                    params![id, time_key(now), DigestStatus::Failed],
                )?;
            }
            Ok(orphans.len())
        })
    }

    /// How many digests wait in the outbox, and how many failed for good.
    pub fn outbox_counts(&self) -> Result<(usize, usize)> {
        // Each count reads its partial index, not the table of every digest ever composed.
        Ok(self.conn.query_row(
            "SELECT (SELECT count(*) FROM digests WHERE status = 'pending'),
                    (SELECT count(*) FROM digests WHERE status = 'failed')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    /// Drops the message bodies of digests sent before `before`: a 10-paper digest is ~20 KB,
    /// and nothing reads it once it is out. The rows and their papers stay, since "never
    /// twice" rests on them. Failed digests keep theirs, to be put back in the outbox.
    pub fn prune_messages(&mut self, before: DateTime<Utc>) -> Result<usize> {
        let before = time_key(before);
        self.write(|conn| {
            Ok(conn.execute(
                // Only digests from the oldest with a body on can have one.
                "DELETE FROM messages WHERE digest_id IN (
                     SELECT id FROM digests
                     WHERE id >= (SELECT min(digest_id) FROM messages)
                       AND status = 'sent' AND sent_at < ?1)",
                [before],
            )?)
        })
    }

    /// Forgets the digests composed before `before` that are done with (sent, superseded,
    /// withdrawn), with which papers they carried, but for each subscriber's last sent one,
    /// which `status` shows. A paper only enters a window again within `[state]
    /// keep_history` of being first seen ([`Store::upsert_papers`]), so what went to whom
    /// before then can never be asked. Failed digests stay for `retry --failed`.
    pub fn prune_history(&mut self, before: DateTime<Utc>) -> Result<usize> {
        let before = time_key(before);
        self.write(|conn| {
            Ok(conn.execute(
                "DELETE FROM digests
                 WHERE composed_at < ?1 AND status IN ('sent', 'superseded', 'unsubscribed')
                   AND id NOT IN (SELECT max(id) FROM digests WHERE status = 'sent'
                                  GROUP BY subscriber)",
                [before],
            )?)
        })
    }

    /// What `status` shows of `subscriber`.
    pub fn subscriber_record(&self, subscriber: &str) -> Result<SubscriberRecord> {
        let last_sent = self
            .conn
            .prepare_cached(&format!(
                "{DIGEST_RECORD} WHERE d.subscriber = ?1 AND d.status = 'sent'
                 ORDER BY d.id DESC LIMIT 1"
            ))?
            .query_row([subscriber], digest_record)
            .optional()?;
        let last_period = self
            .conn
            .prepare_cached("SELECT last_slot, nothing_reason FROM cursors WHERE subscriber = ?1")?
            .query_row([subscriber], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(SubscriberRecord {
            last_sent,
            last_period,
        })
    }

    /// The digests with `status`, newest first, at most `limit`.
    pub fn outbox(&self, status: DigestStatus, limit: usize) -> Result<Vec<DigestRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "{DIGEST_RECORD} WHERE d.status = ?1 ORDER BY d.id DESC LIMIT ?2"
        ))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let records = stmt.query_map(params![status, limit], digest_record)?;
        Ok(records.collect::<rusqlite::Result<_>>()?)
    }
}

const DIGEST_RECORD: &str = "SELECT d.id, d.subscriber, d.slot, d.status, d.attempts,
        d.last_error, d.sent_at, (SELECT count(*) FROM digest_papers p WHERE p.digest_id = d.id)
    FROM digests d";

fn digest_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<DigestRecord> {
    Ok(DigestRecord {
        id: r.get(0)?,
        subscriber: r.get(1)?,
        slot: r.get(2)?,
        status: r.get(3)?,
        attempts: r.get(4)?,
        last_error: r.get(5)?,
        sent_at: r.get(6)?,
        papers: r.get(7)?,
    })
}

fn cursor(conn: &Connection, subscriber: &str) -> rusqlite::Result<Option<Cursor>> {
    conn.prepare_cached("SELECT window_end_seq, last_slot FROM cursors WHERE subscriber = ?1")?
        .query_row([subscriber], |r| {
            Ok(Cursor {
                window_end_seq: r.get(0)?,
                last_slot: r.get(1)?,
            })
        })
        .optional()
}

/// Moves the subscriber's cursor and, for a message, puts it in the outbox with its papers.
/// Marks `older` superseded by `by`, if every one of them is still waiting and not being sent.
fn supersede(conn: &Connection, older: &[i64], by: i64, now: &str) -> rusqlite::Result<bool> {
    let mut mark = conn.prepare_cached(
        "UPDATE digests SET status = ?3, superseded_by = ?2,
            claimed_until = NULL, claimed_by = NULL, next_attempt_at = NULL
         WHERE id = ?1 AND status = 'pending' AND (claimed_until IS NULL OR claimed_until < ?4)",
    )?;
    let mut drop_message = conn.prepare_cached("DELETE FROM messages WHERE digest_id = ?1")?;
    for id in older {
        if mark.execute(params![id, by, DigestStatus::Superseded, now])? != 1 {
            return Ok(false);
        }
        drop_message.execute([id])?;
    }
    Ok(true)
}

fn insert_digest(conn: &Connection, digest: &NewDigest) -> rusqlite::Result<Recorded> {
    let reason = match &digest.content {
        DigestContent::Nothing { reason } => Some(reason.as_str()),
        DigestContent::Message { .. } => None,
    };
    conn.prepare_cached(
        "INSERT INTO cursors (subscriber, window_end_seq, last_slot, composed_at, nothing_reason)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (subscriber) DO UPDATE SET window_end_seq = ?2, last_slot = ?3,
             composed_at = ?4, nothing_reason = ?5",
    )?
    .execute(params![
        digest.subscriber,
        digest.window_end_seq,
        time_key(digest.slot),
        time_key(digest.composed_at),
        reason,
    ])?;
    let DigestContent::Message {
        message_id,
        message,
        papers,
    } = &digest.content
    else {
        return Ok(Recorded::Nothing);
    };
    conn.prepare_cached(
        "INSERT INTO digests (subscriber, slot, window_end_seq, composed_at, status,
            message_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        digest.subscriber,
        time_key(digest.slot),
        digest.window_end_seq,
        time_key(digest.composed_at),
        DigestStatus::Pending,
        message_id,
    ])?;
    let id = conn.last_insert_rowid();
    conn.prepare_cached("INSERT INTO messages (digest_id, message) VALUES (?1, ?2)")?
        .execute(params![id, message.as_bytes()])?;
    let mut insert_paper = conn.prepare_cached(
        "INSERT INTO digest_papers (digest_id, arxiv_id, position) VALUES (?1, ?2, ?3)",
    )?;
    for (position, arxiv_id) in papers.iter().enumerate() {
        insert_paper.execute(params![id, arxiv_id, position as i64])?;
    }
    Ok(Recorded::Queued(id))
}

/// Every time is stored in one fixed-width UTC form with milliseconds, so that comparing
/// them as text (slots, claims, first-seen windows) is comparing them as times.
impl Drop for Store {
    /// A claim dies with its holder, on the way out too: digests this process claimed and did
    /// not finish (a send cut short by a stop) are free for the next process at once.
    fn drop(&mut self) {
        let released = self.conn.execute(
            "UPDATE digests SET claimed_until = NULL, claimed_by = NULL
             WHERE claimed_by = ?1 AND status = 'pending'",
            [&self.owner],
        );
        if let Err(e) = released {
            tracing::warn!("cannot release this process's claims: {e}");
        }
    }
}

/// [`Store::write`] on a connection, for a write that also borrows another field of the store.
fn write<T>(conn: &mut Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let value = f(&tx)?;
    tx.commit()?;
    Ok(value)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// No horizon: every paper may move.
    const FOREVER: chrono::Duration = chrono::TimeDelta::MAX;

    fn paper(id: &str, upvotes: u32) -> Paper {
        Paper {
            upvotes: Some(upvotes),
            authors: vec!["Ada Lovelace".into()],
            ..Paper::new(id, &format!("Paper {id}"))
        }
    }

    #[test]
    fn upsert_keeps_sequence_and_first_seen_but_refreshes_upvotes() {
        let mut store = Store::open_in_memory().unwrap();
        let t0 = Utc::now();
        let r = store
            .upsert_papers(
                "hf",
                &[paper("2601.00001", 1), paper("2601.00002", 2)],
                t0,
                FOREVER,
            )
            .unwrap();
        assert_eq!(r.new, ["2601.00001", "2601.00002"]);
        let t1 = t0 + chrono::Duration::hours(1);
        let r = store
            .upsert_papers(
                "hf",
                &[paper("2601.00002", 9), paper("2601.00003", 3)],
                t1,
                FOREVER,
            )
            .unwrap();
        assert_eq!(r.new, ["2601.00003"]);
        assert_eq!(r.updated, 1);
        let all = store
            .papers_in_range(0, store.latest_seq().unwrap())
            .unwrap();
        let ids: Vec<_> = all
            .iter()
            .map(|p| (p.seq, p.paper.arxiv_id.as_str(), p.paper.upvotes.unwrap()))
            .collect();
        assert_eq!(
            ids,
            [
                (1, "2601.00001", 1),
                (2, "2601.00002", 9),
                (3, "2601.00003", 3)
            ]
        );
        assert_eq!(store.seq_before(t1).unwrap(), 2);
    }

    fn period(
        who: &str,
        slot: DateTime<Utc>,
        based_on: Option<Cursor>,
        papers: &[&str],
    ) -> NewDigest {
        NewDigest {
            subscriber: who.into(),
            slot,
            based_on,
            window_end_seq: 1,
            composed_at: slot,
            content: DigestContent::Message {
                message_id: format!("<{who}.{}>", slot.timestamp_millis()),
                message: Packed::new(b"m"),
                papers: papers.iter().map(|p| p.to_string()).collect(),
            },
            supersedes: Vec::new(),
        }
    }

    /// Puts a message for `who` in the outbox, composed at `now`.
    fn queue(store: &mut Store, who: &str, now: DateTime<Utc>) -> i64 {
        let based_on = store.cursors().unwrap().remove(who);
        match store
            .record_digests(&[period(who, now, based_on, &[])])
            .unwrap()[..]
        {
            [Recorded::Queued(id)] => id,
            ref other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_period_moves_the_cursor_and_given_papers_follow_the_digest_status() {
        let mut store = Store::open_in_memory().unwrap();
        let now = Utc::now();
        let who = "a@example.org";
        let ids = ["2601.00001".to_string(), "2601.00002".to_string()];
        let Recorded::Queued(id) = store
            .record_digests(&[period(who, now, None, &["2601.00001"])])
            .unwrap()[0]
        else {
            panic!("not queued")
        };
        let cursor = store.cursors().unwrap().remove(who).unwrap();
        assert_eq!(cursor.window_end_seq, 1);
        assert_eq!(cursor.last_slot.timestamp_millis(), now.timestamp_millis());
        // Composed from the cursor before this period: another process got there first.
        let later = now + chrono::Duration::hours(1);
        assert_eq!(
            store
                .record_digests(&[period(who, later, None, &[])])
                .unwrap(),
            [Recorded::Conflict]
        );
        let given = |store: &Store| store.given_among(who, &ids).unwrap();
        assert_eq!(
            given(&store),
            HashSet::from([ids[0].clone()]),
            "pending counts"
        );
        assert!(store.given_among("b@example.org", &ids).unwrap().is_empty());

        assert_eq!(
            store
                .claim(id, now, now + chrono::Duration::minutes(5))
                .unwrap(),
            Claim::Claimed
        );
        store
            .mark_attempt_failed(id, "451 try later", false, now)
            .unwrap();
        assert_eq!(
            store.outbox(DigestStatus::Pending, 1).unwrap()[0].attempts,
            1
        );
        store.mark_sent(id, now).unwrap();
        assert!(store.pending(None).unwrap().is_empty());
        assert_eq!(given(&store).len(), 1, "sent counts");

        // A period with nothing to send moves the cursor and adds no digest.
        let nothing = NewDigest {
            content: DigestContent::Nothing {
                reason: "no new papers".into(),
            },
            ..period(who, later, Some(cursor), &[])
        };
        assert_eq!(
            store.record_digests(&[nothing]).unwrap(),
            [Recorded::Nothing]
        );
        assert_eq!(store.outbox_counts().unwrap(), (0, 0));
        let record = store.subscriber_record(who).unwrap();
        assert_eq!(record.last_sent.unwrap().id, id);
        assert_eq!(
            record.last_period.unwrap().1.as_deref(),
            Some("no new papers")
        );

        // A failed digest no longer counts as given.
        let cursor = store.cursors().unwrap().remove(who);
        let next = later + chrono::Duration::hours(1);
        let Recorded::Queued(failed) = store
            .record_digests(&[period(who, next, cursor, &["2601.00002"])])
            .unwrap()[0]
        else {
            panic!("not queued")
        };
        assert_eq!(given(&store).len(), 2);
        store
            .claim(failed, next, next + chrono::Duration::minutes(5))
            .unwrap();
        store
            .mark_attempt_failed(failed, "550 no such user", true, next)
            .unwrap();
        assert_eq!(given(&store), HashSet::from([ids[0].clone()]));
    }

    #[test]
    fn message_bodies_are_dropped_once_sent_and_old() {
        let mut store = Store::open_in_memory().unwrap();
        let day = chrono::Duration::days(1);
        let t0 = Utc::now() - day * 30;
        let old = queue(&mut store, "a@example.org", t0);
        let recent = queue(&mut store, "b@example.org", t0);
        let waiting = queue(&mut store, "c@example.org", t0);
        store.mark_sent(old, t0).unwrap();
        store.mark_sent(recent, t0 + day * 25).unwrap();
        assert_eq!(store.prune_messages(t0 + day * 23).unwrap(), 1);
        let bodies: Vec<(i64, bool)> = store
            .conn
            .prepare(
                "SELECT d.id, m.digest_id IS NOT NULL FROM digests d
                 LEFT JOIN messages m ON m.digest_id = d.id ORDER BY d.id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        // The pending one keeps its body however old: it is still to be sent.
        assert_eq!(bodies, [(old, false), (recent, true), (waiting, true)]);
    }

    #[test]
    fn history_is_forgotten_past_its_horizon_but_for_the_last_sent_digest_and_the_failed() {
        let mut store = Store::open_in_memory().unwrap();
        let day = chrono::Duration::days(1);
        let t0 = Utc::now() - day * 30;
        let ids = |store: &Store| -> Vec<i64> {
            store
                .conn
                .prepare("SELECT DISTINCT digest_id FROM digest_papers ORDER BY digest_id")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        let mut record = |who: &str, at| {
            let based_on = store.cursors().unwrap().remove(who);
            match store
                .record_digests(&[period(who, at, based_on, &["2601.00001"])])
                .unwrap()[..]
            {
                [Recorded::Queued(id)] => id,
                ref other => panic!("{other:?}"),
            }
        };
        let a_old = record("a@example.org", t0);
        let a_last = record("a@example.org", t0 + day);
        let b_failed = record("b@example.org", t0);
        let c_pending = record("c@example.org", t0);
        let a_recent = record("a@example.org", t0 + day * 25);
        for id in [a_old, a_last, a_recent] {
            store.mark_sent(id, t0 + day * 26).unwrap();
        }
        store
            .conn
            .execute(
                "UPDATE digests SET status = 'failed' WHERE id = ?1",
                [b_failed],
            )
            .unwrap();
        // Fourteen days back from day 30: a's first digest goes, with its papers. Their
        // last sent one stays (it is the most recent), and so do the failed and the pending.
        assert_eq!(store.prune_history(t0 + day * 16).unwrap(), 2);
        assert_eq!(ids(&store), [b_failed, c_pending, a_recent]);
        assert_eq!(
            store
                .subscriber_record("a@example.org")
                .unwrap()
                .last_sent
                .map(|d| d.id),
            Some(a_recent)
        );
    }

    #[test]
    fn a_paper_moves_only_within_the_history_kept() {
        let mut store = Store::open_in_memory().unwrap();
        let day = chrono::Duration::days(1);
        let t0 = Utc::now() - day * 30;
        let from_arxiv = |id| Paper::new(id, "From arXiv");
        store
            .upsert_papers("arxiv", &[from_arxiv("2601.00001")], t0, FOREVER)
            .unwrap();
        store
            .upsert_papers("arxiv", &[from_arxiv("2601.00002")], t0 + day * 20, FOREVER)
            .unwrap();
        // Hugging Face lists both with upvotes on day 30: only the one first seen within the
        // last 14 days moves.
        let report = store
            .upsert_papers(
                "huggingface",
                &[paper("2601.00001", 5), paper("2601.00002", 5)],
                t0 + day * 30,
                day * 14,
            )
            .unwrap();
        assert_eq!(report.resurfaced, 1);
        let moved: Vec<(String, bool)> = store
            .papers_in_range(0, i64::MAX)
            .unwrap()
            .into_iter()
            .map(|p| (p.paper.arxiv_id, p.moved))
            .collect();
        assert_eq!(
            moved,
            [("2601.00001".into(), false), ("2601.00002".into(), true)]
        );
    }

    #[test]
    fn a_schema_1_database_upgrades_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        std::fs::copy("tests/fixtures/state_v1.db", &path).unwrap();
        let store = Store::open(&path).unwrap();
        Store::check_version(&path).unwrap();
        let version: i64 = store
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 7);
        // The rebuilt digests table keeps digest_papers's foreign key, and knows the status
        // of a withdrawn digest.
        let parent: String = store
            .conn
            .query_row(
                "SELECT \"table\" FROM pragma_foreign_key_list('digest_papers')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(parent, "digests");
        let indexes: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'digests'
                 AND name LIKE 'digests_%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 3);
        // The empty periods became cursors, past the last window of each subscriber.
        let cursors = store.cursors().unwrap();
        let ends: Vec<(&str, i64)> = ["alice@example.org", "bob@example.org", "carol@example.org"]
            .iter()
            .map(|k| (*k, cursors[*k].window_end_seq))
            .collect();
        assert_eq!(
            ends,
            [
                ("alice@example.org", 30),
                ("bob@example.org", 30),
                ("carol@example.org", 30)
            ]
        );
        let rows: Vec<(i64, DigestStatus)> = store
            .conn
            .prepare("SELECT id, status FROM digests ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        use DigestStatus::{Pending, Sent};
        assert_eq!(rows, [(1, Sent), (3, Sent), (10, Pending), (12, Pending)]);
        let pending: Vec<i64> = store.pending(None).unwrap().iter().map(|p| p.id).collect();
        assert_eq!(pending, [10, 12]);
        let withdraw = "UPDATE digests SET status = 'unsubscribed' WHERE id = 12";
        store.conn.execute(withdraw, []).unwrap();
        let bogus = store
            .conn
            .execute("UPDATE digests SET status = 'lost' WHERE id = 12", []);
        assert!(bogus.is_err(), "the CHECK still holds");
        store
            .conn
            .execute("UPDATE digests SET status = 'pending' WHERE id = 12", [])
            .unwrap();
        // What alice was sent and what waits for her both count as given.
        let alices: Vec<String> = store
            .conn
            .prepare(
                "SELECT p.arxiv_id FROM digest_papers p JOIN digests d ON d.id = p.digest_id
                 WHERE d.subscriber = 'alice@example.org'",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(alices.len(), 8);
        assert_eq!(
            store
                .given_among("alice@example.org", &alices)
                .unwrap()
                .len(),
            8
        );
        let bob = store.subscriber_record("bob@example.org").unwrap();
        assert_eq!(
            bob.last_period.unwrap().1.as_deref(),
            Some("no new paper matched their topics")
        );
        // The papers kept their fetch sequence, and the next one follows it.
        let mut store = store;
        assert_eq!(store.latest_seq().unwrap(), 30);
        let report = store
            .upsert_papers(
                "arxiv",
                &[Paper::new("2612.00001", "New")],
                Utc::now(),
                FOREVER,
            )
            .unwrap();
        assert_eq!(report.new.len(), 1);
        assert_eq!(store.latest_seq().unwrap(), 31);
        let kept = store.papers_in_range(0, 30).unwrap();
        assert!(
            kept.iter().all(|p| p.paper.upvotes.is_some()),
            "upvotes kept"
        );
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
        assert_eq!(a.claim(id, now, until).unwrap(), Claim::Claimed);
        assert_eq!(
            a.claim(id, now, until).unwrap(),
            Claim::Claimed,
            "its own claim it may renew"
        );
        assert_eq!(
            b.claim(id, now, until).unwrap(),
            Claim::HeldElsewhere,
            "claimed by another sender"
        );
        let expired = until + chrono::Duration::seconds(1);
        let renewed = expired + chrono::Duration::minutes(5);
        assert_eq!(b.claim(id, expired, renewed).unwrap(), Claim::Claimed);
        // The first sender's late failure does not count: the new holder's result does.
        a.mark_attempt_failed(id, "451 late", false, expired)
            .unwrap();
        assert_eq!(a.outbox(DigestStatus::Pending, 1).unwrap()[0].attempts, 0);
        b.mark_attempt_failed(id, "451 busy", false, expired)
            .unwrap();
        assert_eq!(a.outbox(DigestStatus::Pending, 1).unwrap()[0].attempts, 1);
        // A mail that went out is recorded whoever holds the claim.
        b.claim(id, expired, renewed).unwrap();
        a.mark_sent(id, expired).unwrap();
        assert!(b.pending(None).unwrap().is_empty());
        // Sent meanwhile: not another process's to send, but gone.
        assert_eq!(a.claim(id, expired, renewed).unwrap(), Claim::Gone);
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
        let only_a = HashSet::from(["a@example.org".to_string()]);
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
    fn a_paper_from_both_sources_keeps_arxiv_categories_and_hugging_face_upvotes() {
        let from_arxiv = Paper {
            summary: "The abstract.".into(),
            github_repo: Some("https://github.com/someone/else".into()),
            project_page: Some("https://msa.example.org".into()),
            categories: vec!["cs.CL".into(), "cs.LG".into()],
            ..Paper::new("2606.13392", "MiniMax Sparse Attention")
        };
        let from_hf = Paper {
            summary: "Hugging Face's abstract.".into(),
            upvotes: Some(103),
            num_comments: 4,
            ai_summary: Some("A short summary.".into()),
            github_repo: Some("https://github.com/example/msa".into()),
            ..Paper::new("2606.13392", "MiniMax Sparse Attention")
        };
        let merged = |first: &Paper, second: &Paper| {
            let mut store = Store::open_in_memory().unwrap();
            let now = Utc::now();
            let a = store
                .upsert_papers("first", std::slice::from_ref(first), now, FOREVER)
                .unwrap();
            let b = store
                .upsert_papers("second", std::slice::from_ref(second), now, FOREVER)
                .unwrap();
            assert_eq!((a.new.len(), b.new.len(), b.updated), (1, 0, 1));
            let mut papers = store.papers_in_range(0, 10).unwrap();
            assert_eq!(papers.len(), 1, "one paper per arXiv id");
            papers.remove(0).paper
        };
        for paper in [merged(&from_arxiv, &from_hf), merged(&from_hf, &from_arxiv)] {
            assert_eq!(paper.categories, ["cs.CL", "cs.LG"]);
            assert_eq!(paper.summary, "Hugging Face's abstract.");
            assert_eq!((paper.upvotes, paper.num_comments), (Some(103), 4));
            assert_eq!(paper.ai_summary.as_deref(), Some("A short summary."));
            assert_eq!(
                paper.github_repo.as_deref(),
                Some("https://github.com/example/msa")
            );
            assert_eq!(
                paper.project_page.as_deref(),
                Some("https://msa.example.org")
            );
        }
    }

    #[test]
    fn http_validators_are_kept_per_url_and_forgotten_when_a_response_has_none() {
        let mut store = Store::open_in_memory().unwrap();
        let now = Utc::now();
        let tagged = Validators {
            etag: Some("\"abc\"".into()),
            last_modified: None,
        };
        let url = |u: &str| u.to_string();
        store
            .save_http_validators(
                &[(url("a"), tagged.clone()), (url("b"), tagged.clone())],
                now,
            )
            .unwrap();
        store
            .save_http_validators(&[(url("b"), Validators::default())], now)
            .unwrap();
        let kept = store.http_validators().unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept["a"], tagged);
        let month = chrono::Duration::days(30);
        assert_eq!(store.prune_http_validators(now - month).unwrap(), 0);
        assert_eq!(store.prune_http_validators(now + month).unwrap(), 1);
        assert!(store.http_validators().unwrap().is_empty());
    }

    #[test]
    fn a_paper_that_gains_categories_or_upvotes_moves_to_the_end_of_the_sequence() {
        let mut store = Store::open_in_memory().unwrap();
        let now = Utc::now();
        let papers = [
            paper("2606.00001", 1),
            paper("2606.00002", 2),
            paper("2606.00003", 3),
        ];
        store
            .upsert_papers("huggingface", &papers, now, FOREVER)
            .unwrap();
        let seqs = |store: &Store| -> Vec<(String, i64)> {
            let mut all: Vec<_> = store
                .papers_in_range(0, 100)
                .unwrap()
                .into_iter()
                .map(|p| (p.paper.arxiv_id, p.seq))
                .collect();
            all.sort();
            all
        };
        // Refreshed upvotes change nothing; categories newly known move the paper.
        store
            .upsert_papers("huggingface", &[paper("2606.00001", 9)], now, FOREVER)
            .unwrap();
        let with_categories = Paper {
            categories: vec!["cs.CL".into()],
            ..Paper::new("2606.00001", "Paper 2606.00001")
        };
        let report = store
            .upsert_papers(
                "arxiv",
                std::slice::from_ref(&with_categories),
                now,
                FOREVER,
            )
            .unwrap();
        assert_eq!(report.resurfaced, 1);
        // Known already: no second move.
        let again = store
            .upsert_papers(
                "arxiv",
                std::slice::from_ref(&with_categories),
                now,
                FOREVER,
            )
            .unwrap();
        assert_eq!(again.resurfaced, 0);
        let fresh = store
            .upsert_papers(
                "arxiv",
                &[Paper::new("2606.00004", "From arXiv")],
                now,
                FOREVER,
            )
            .unwrap();
        assert_eq!(fresh.new.len(), 1);
        // Upvotes newly known move an arXiv paper too.
        let report = store
            .upsert_papers("huggingface", &[paper("2606.00004", 5)], now, FOREVER)
            .unwrap();
        assert_eq!(report.resurfaced, 1);
        // The papers that moved are known as such: only they need the history asked.
        let moved: Vec<(String, bool)> = {
            let mut all: Vec<_> = store
                .papers_in_range(0, 100)
                .unwrap()
                .into_iter()
                .map(|p| (p.paper.arxiv_id, p.moved))
                .collect();
            all.sort();
            all
        };
        assert_eq!(
            moved,
            [
                ("2606.00001".to_string(), true),
                ("2606.00002".to_string(), false),
                ("2606.00003".to_string(), false),
                ("2606.00004".to_string(), true),
            ]
        );
        assert_eq!(
            seqs(&store),
            [
                ("2606.00001".to_string(), 4),
                ("2606.00002".to_string(), 2),
                ("2606.00003".to_string(), 3),
                ("2606.00004".to_string(), 6)
            ]
        );
        // A sequence number is never handed out twice.
        store
            .upsert_papers("arxiv", &[Paper::new("2606.00005", "Later")], now, FOREVER)
            .unwrap();
        assert_eq!(store.latest_seq().unwrap(), 7);
    }

    #[test]
    fn papers_looked_up_are_known_without_entering_any_window() {
        let mut store = Store::open_in_memory().unwrap();
        let now = Utc::now();
        store
            .upsert_papers("huggingface", &[paper("2606.00001", 1)], now, FOREVER)
            .unwrap();
        let liked = Paper {
            summary: "An abstract.".into(),
            categories: vec!["hep-th".into()],
            ..Paper::new("hep-th/9901001", "Liked long ago")
        };
        store
            .save_looked_up(std::slice::from_ref(&liked), now)
            .unwrap();
        let ids = ["2606.00001", "hep-th/9901001", "2606.99999"].map(String::from);
        let known = store.known_papers(&ids).unwrap();
        let titles: Vec<&str> = known.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["Paper 2606.00001", "Liked long ago"]);
        assert_eq!(known[1].categories, ["hep-th"]);
        assert_eq!(
            store.latest_seq().unwrap(),
            1,
            "no new paper in the windows"
        );
    }

    #[test]
    fn a_dry_run_records_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        Store::open(&path).unwrap();
        {
            let mut dry = Store::open_dry_run(&path).unwrap();
            dry.upsert_papers("hf", &[paper("2601.00001", 1)], Utc::now(), FOREVER)
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
        assert!(matches!(
            Store::check_version(&path),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
