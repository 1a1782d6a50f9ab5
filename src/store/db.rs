//! [`Store`]: one enum over the two backends, with the same SQL for both wherever the dialects
//! agree (`$n` placeholders, `ON CONFLICT`, `RETURNING` all work on SQLite ≥ 3.35 and
//! PostgreSQL). The few statements that must differ — row locks, which SQLite neither has nor
//! needs — live in a [`Dialect`].
//!
//! Every query is a runtime query over a `'static` SQL string: no compile-time checking
//! against a live database (the build must not need one), and no SQL is ever built from
//! user text.
//!
//! Concurrency model:
//! - SQLite: every multi-statement write runs in `BEGIN IMMEDIATE`, which takes the single
//!   write lock up front. Writers therefore queue (for up to the busy timeout) instead of
//!   starting as readers and failing with `SQLITE_BUSY` when they try to upgrade, and what a
//!   transaction reads cannot change before it writes.
//! - PostgreSQL: read committed, plus `SELECT … FOR UPDATE` on the metric row being changed
//!   and `FOR UPDATE SKIP LOCKED` when leasing outbox rows.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::rows::{self, AuditRow, OfficerRow, StateRow, audit_columns};
use super::{Actor, AuditEntry, AuditKind, Change, MetricState, Officer, OutboxItem, Stage};
use super::{Forgotten, NonceSeen, REPLAY_WINDOW_SECS, StoreError, UndoOutcome};
use crate::Lang;

/// How long a SQLite writer waits for the write lock before giving up. Writes are short, so
/// five seconds means something is badly wrong rather than merely busy.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Questions longer than this are cut before being recorded as unanswered: the report is for
/// reading, and a pasted document must not bloat the database.
const MAX_QUESTION_CHARS: usize = 500;

/// New unanswered questions kept per user in 24 hours: far more than a person asks, and a
/// script's flood stops here.
pub const MAX_UNANSWERED_PER_USER_DAY: i64 = 30;

/// The unanswered log keeps at most this many rows (the newest).
pub const MAX_UNANSWERED_ROWS: i64 = 50_000;

/// How often (in inserted rows) the unanswered log is trimmed to [`MAX_UNANSWERED_ROWS`].
const UNANSWERED_PRUNE_EVERY: i64 = 256;

/// The persistent store. Cheap to clone (the pools are reference-counted); all methods take
/// `&self` and may be called concurrently from many tasks or processes.
#[derive(Debug, Clone)]
///
/// The pools are public so tests and one-off maintenance can run their own queries; the bot
/// itself goes through the methods.
pub enum Store {
    /// One file (or `:memory:`), for a single replica.
    Sqlite(SqlitePool),
    /// A server, for several replicas sharing one database.
    Postgres(PgPool),
}

/// The statements whose text differs between the backends.
struct Dialect {
    /// Reads a metric's progress (value, stage, note) for a change, locking the row until
    /// commit where the backend needs it.
    lock_metric: &'static str,
    /// Leases due outbox rows: binds lease end, channel, now, limit.
    claim_outbox: &'static str,
    /// Takes the audit chain head, held until commit, so audit rows are chained in id order.
    lock_head: &'static str,
    /// Claims inbox rows (see `inbox.rs`).
    claim_inbox: &'static str,
}

const SQLITE: Dialect = Dialect {
    claim_inbox: inbox::SQLITE_CLAIM_INBOX,
    // BEGIN IMMEDIATE already holds the database's only write lock.
    lock_metric: "SELECT current_value, stage, note, item_id, retired FROM metrics \
                  WHERE item_id = $1",
    lock_head: "SELECT last_id FROM audit_head WHERE one = 1",
    claim_outbox: concat!(
        "UPDATE outbox SET leased_until = $1 WHERE id IN (",
        "SELECT id FROM outbox WHERE channel = $2 ",
        "AND (leased_until IS NULL OR leased_until <= $3) AND next_attempt_at <= $3 ",
        "AND NOT EXISTS (SELECT 1 FROM outbox AS earlier WHERE earlier.channel = outbox.channel ",
        "AND earlier.chat_id = outbox.chat_id AND earlier.id < outbox.id) ",
        "ORDER BY id LIMIT $4) ",
        "RETURNING id, channel, chat_id, body, attempts"
    ),
};

const POSTGRES: Dialect = Dialect {
    claim_inbox: inbox::POSTGRES_CLAIM_INBOX,
    lock_metric: "SELECT current_value, stage, note, item_id, retired FROM metrics \
                  WHERE item_id = $1 FOR UPDATE",
    lock_head: "SELECT last_id FROM audit_head WHERE one = 1 FOR UPDATE",
    // SKIP LOCKED: a replica passes over rows another replica is leasing right now instead of
    // waiting for them; the re-check of the WHERE clause after locking excludes rows whose
    // lease was taken by a transaction that committed meanwhile.
    claim_outbox: concat!(
        "UPDATE outbox SET leased_until = $1 WHERE id IN (",
        "SELECT id FROM outbox WHERE channel = $2 ",
        "AND (leased_until IS NULL OR leased_until <= $3) AND next_attempt_at <= $3 ",
        "AND NOT EXISTS (SELECT 1 FROM outbox AS earlier WHERE earlier.channel = outbox.channel ",
        "AND earlier.chat_id = outbox.chat_id AND earlier.id < outbox.id) ",
        "ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) ",
        "RETURNING id, channel, chat_id, body, attempts"
    ),
};

/// Runs `$body` once per backend with `$pool` bound to that backend's pool.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` in a write transaction (`$tx`) and commits it; `$sql` is the backend's
/// [`Dialect`]. An early `return` or `?` in the body drops the transaction, which rolls it back.
macro_rules! in_tx {
    ($store:expr, |$tx:ident, $sql:ident| $body:expr) => {
        match $store {
            Store::Sqlite(pool) => {
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let $sql: &Dialect = &SQLITE;
                let out = $body;
                $tx.commit().await?;
                out
            }
            Store::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let $sql: &Dialect = &POSTGRES;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

/// Queues a notification (zh, en) in transaction `$tx` to every chat subscribed to task
/// `$task` or to all tasks, once per chat, in the chat's language.
macro_rules! queue_notification {
    ($tx:ident, $task:expr, $notification:expr, $at:expr) => {
        if let Some((zh, en)) = $notification {
            sqlx::query(QUEUE_NOTIFICATION)
                .bind(zh.as_str())
                .bind(en.as_str())
                .bind($at)
                .bind($task)
                .execute(&mut *$tx)
                .await?;
        }
    };
}

/// Inserts a `grant`/`revoke` audit row (task 0: about no task) in `$tx`; evaluates to its id.
macro_rules! insert_officer_audit {
    ($tx:ident, $kind:expr, $by:expr, $note:expr, $at:expr) => {{
        let id: i64 = sqlx::query_scalar(INSERT_AUDIT)
            .bind($kind)
            .bind(0_i64)
            .bind(None::<i64>)
            .bind($by.channel.as_str())
            .bind($by.user_id.as_str())
            .bind($by.name.as_str())
            .bind(None::<f64>)
            .bind(None::<f64>)
            .bind(None::<&str>)
            .bind(None::<&str>)
            .bind(None::<&str>)
            .bind(Some($note))
            .bind(None::<i64>)
            .bind($at)
            .bind(None::<&str>)
            .fetch_one(&mut *$tx)
            .await?;
        id
    }};
}

#[path = "record.rs"]
pub(super) mod record;
pub use record::ChainBreak;
#[path = "backup.rs"]
mod backup;
#[path = "inbox.rs"]
mod inbox;
pub use backup::Dump;
#[path = "reports.rs"]
mod reports;
use inbox::{claimed_effect, record_effect};
use record::{chain_columns, lock_chain, seal_chain};
pub use reports::{OutboxDepth, Queued, TrailRow};
#[path = "teach.rs"]
mod teach;
pub use teach::{Editor, QueuedQuestion, Taught, TeachOutcome, stored_key};

const STATES: &str = "SELECT task, number, current_value, stage, note, updated_at, \
     updated_by_channel, updated_by_user, updated_by_name \
     FROM metrics WHERE year = $1 AND ($2 IS NULL OR task = $2) ORDER BY task, number";

/// The item at a list's (year, task, number), as officers address it.
const FIND_ITEM: &str = "SELECT item_id FROM metrics WHERE year = $1 AND task = $2 AND number = $3";

const SET_PROGRESS: &str = "UPDATE metrics SET current_value = $2, stage = $3, note = $4, \
     updated_at = $5, updated_by_channel = $6, updated_by_user = $7, updated_by_name = $8 \
     WHERE item_id = $1";

const INSERT_AUDIT: &str = "INSERT INTO audit (kind, task, number, actor_channel, actor_user, \
     actor_name, old_value, new_value, old_stage, new_stage, old_note, note, reverts, created_at, \
     item_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id";

/// DISTINCT: a chat subscribed both to this task and to all tasks hears about it once.
const QUEUE_NOTIFICATION: &str = "INSERT INTO outbox (channel, chat_id, body, next_attempt_at, created_at) \
     SELECT DISTINCT channel, chat_id, CASE WHEN lang = 'en' THEN $2 ELSE $1 END, $3, $3 \
     FROM subscriptions WHERE task = $4 OR task = 0";

/// The user's latest update that no undo row points at.
const LAST_UNDOABLE: &str = concat!(
    "SELECT ",
    audit_columns!(),
    " FROM audit a WHERE kind = 'update' AND actor_channel = $1 AND actor_user = $2 ",
    "AND NOT EXISTS (SELECT 1 FROM audit r WHERE r.reverts = a.id) ",
    "ORDER BY id DESC LIMIT 1"
);

const AUDIT_BY_ID: &str = concat!("SELECT ", audit_columns!(), " FROM audit WHERE id = $1");

/// The number shown is the item's current position (it may have moved since the row).
const HISTORY: &str = "SELECT a.id, a.kind, a.task, COALESCE(m.number, a.number) AS number, \
     a.actor_channel, a.actor_user, a.actor_name, a.old_value, a.new_value, a.old_stage, \
     a.new_stage, a.old_note, a.note, a.reverts, a.created_at, a.item_id \
     FROM audit a JOIN metrics m ON m.item_id = a.item_id \
     WHERE m.year = $1 AND a.task = $2 AND a.kind IN ('update', 'undo', 'catalogue') \
     ORDER BY a.id DESC LIMIT $3";

macro_rules! select_officers {
    ($rest:literal) => {
        concat!(
            "SELECT channel, user_id, tasks, granted_by_channel, granted_by_user, ",
            "granted_by_name, granted_at, department FROM officers ",
            $rest
        )
    };
}

/// A metric's progress and identity, read (and locked) for a change.
type MetricLock = (
    Option<f64>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
);

/// Bounds the re-reads in [`Store::undo_last`] when concurrent undos by the same user keep
/// reverting its candidate first (PostgreSQL only; SQLite's write lock rules it out).
const UNDO_ATTEMPTS: usize = 8;

impl Store {
    /// Opens the database named by `url` and brings its schema up to date.
    ///
    /// - `sqlite://FILE`, `sqlite:FILE`, `sqlite::memory:`: the file is created if missing.
    ///   WAL journal with `synchronous=FULL`, so a commit that returned survives `kill -9` and
    ///   power loss; a 5 s busy timeout; foreign keys enforced.
    /// - `postgres://…`, `postgresql://…`: a pool of up to 10 connections; fails now if the
    ///   server cannot be reached, rather than at the first message.
    ///
    /// Migrations are embedded in the binary and applied on every connect; applying them again
    /// is a no-op, and concurrent replicas starting together take turns (sqlx locks).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let url = url.trim();
        let scheme = url
            .split_once(':')
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("sqlite") => Self::connect_sqlite(url).await,
            Some("postgres" | "postgresql") => Self::connect_postgres(url).await,
            _ => Err(StoreError::Url(redact(url))),
        }
    }

    async fn connect_sqlite(url: &str) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true);
        // An in-memory database lives only as long as a connection to it: keep exactly one,
        // forever (one connection also serialises writers, which a shared-cache database
        // would otherwise reject with SQLITE_LOCKED rather than wait).
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool_options = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(4)
        };
        let pool = pool_options.connect_with(options).await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Store::Sqlite(pool))
    }

    async fn connect_postgres(url: &str) -> Result<Store, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Store::Postgres(pool))
    }

    /// `"sqlite"` or `"postgres"`, for logs.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool, waiting for connections in use to be returned; for a clean shutdown.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    // ---- the task catalogue and progress ---------------------------------------------------

    /// The live state of every metric and milestone of `task` in the list of `year` (of all its
    /// tasks when `None`), ordered by task then number. Items removed from `faq/` are included:
    /// the caller decides what to show.
    pub async fn states(
        &self,
        year: i32,
        task: Option<u32>,
    ) -> Result<Vec<MetricState>, StoreError> {
        let task = task.map(i64::from);
        let rows: Vec<StateRow> = on_pool!(self, pool => {
            sqlx::query_as(STATES).bind(i64::from(year)).bind(task).fetch_all(pool).await?
        });
        rows.into_iter().map(StateRow::state).collect()
    }

    /// Records an officer's change in one transaction: the metric's new value/stage/note, an
    /// `update` audit row holding the value it really replaced, and the notifications. Two
    /// concurrent changes to one metric are serialised (the row is locked while read), so
    /// both are audited, each audit's old value is the other's new one, and the later wins.
    ///
    /// Fails with [`StoreError::Other`] and changes nothing if the metric is not in the store
    /// (the catalogue was not synced).
    pub async fn apply(&self, change: &Change) -> Result<AuditEntry, StoreError> {
        let task = i64::from(change.task);
        let number = i64::from(change.number);
        let claim = crate::inbox::current();
        let entry = in_tx!(self, |tx, sql| {
            lock_chain!(tx, sql);
            if let Some(claim) = claim.as_deref()
                && let Some(done) = claimed_effect!(tx, claim)
            {
                // Taken over after the replica that claimed it first had committed this
                // change: the same result, applied once.
                let row: AuditRow = sqlx::query_as(AUDIT_BY_ID)
                    .bind(done)
                    .fetch_one(&mut *tx)
                    .await?;
                return row.entry();
            }
            // Items move only in a catalogue sync, which holds the chain too.
            let found: Option<Option<String>> = sqlx::query_scalar(FIND_ITEM)
                .bind(i64::from(change.year))
                .bind(task)
                .bind(number)
                .fetch_optional(&mut *tx)
                .await?;
            let current: Option<MetricLock> = match found.flatten() {
                Some(id) => {
                    sqlx::query_as(sql.lock_metric)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?
                }
                None => None,
            };
            let Some((old_value, old_stage, old_note, item_id, retired)) = current else {
                return Err(StoreError::Other(format!(
                    "task {} has no metric {} in the store; was the catalogue synced?",
                    change.task, change.number
                )));
            };
            if retired != 0 {
                return Err(StoreError::Other(format!(
                    "metric {}.{} is retired: kept in the record, no longer updated",
                    change.task, change.number
                )));
            }
            let old_stage = rows::stage(old_stage.as_deref())?;
            let new_value = change.value.or(old_value);
            let new_stage = change.stage.or(old_stage);
            // Taken after the lock, so audit times never go backwards along one metric.
            let at = now_ms();
            sqlx::query(SET_PROGRESS)
                .bind(item_id.as_deref())
                .bind(new_value)
                .bind(new_stage.map(Stage::as_str))
                .bind(change.note.as_deref())
                .bind(at)
                .bind(change.actor.channel.as_str())
                .bind(change.actor.user_id.as_str())
                .bind(change.actor.name.as_str())
                .execute(&mut *tx)
                .await?;
            let id: i64 = sqlx::query_scalar(INSERT_AUDIT)
                .bind(AuditKind::Update.as_str())
                .bind(task)
                .bind(Some(number))
                .bind(change.actor.channel.as_str())
                .bind(change.actor.user_id.as_str())
                .bind(change.actor.name.as_str())
                .bind(old_value)
                .bind(new_value)
                .bind(old_stage.map(Stage::as_str))
                .bind(new_stage.map(Stage::as_str))
                .bind(old_note.as_deref())
                .bind(change.note.as_deref())
                .bind(None::<i64>)
                .bind(at)
                .bind(item_id.as_deref())
                .fetch_one(&mut *tx)
                .await?;
            seal_chain!(tx, [id]);
            queue_notification!(tx, task, &change.notification, at);
            if let Some(claim) = claim.as_deref() {
                record_effect!(tx, claim, id);
            }
            AuditEntry {
                id,
                kind: AuditKind::Update,
                task: change.task,
                number: Some(change.number),
                actor: change.actor.clone(),
                old_value,
                new_value,
                old_stage,
                new_stage,
                note: change.note.clone(),
                reverts: None,
                at,
                item_id: item_id.clone(),
            }
        });
        Ok(entry)
    }

    /// Reverts the latest update made by (`channel`, `user_id`) that is not yet reverted, as a
    /// new `undo` audit row by `actor` (nothing is deleted). The metric gets back the value,
    /// stage and note it had before that update; `updated_at`/`updated_by` record the undo.
    ///
    /// Refuses with [`UndoOutcome::ChangedSince`], changing nothing, if the metric no longer
    /// shows that update's value and stage: someone else's later figure must not be silently
    /// thrown away. Calling it again reverts the user's previous update; undo rows themselves
    /// are never undone. `notification`, given the update being reverted, makes the text queued
    /// as for [`Store::apply`]; it is called only if the undo happens.
    pub async fn undo_last(
        &self,
        channel: &str,
        user_id: &str,
        actor: &Actor,
        notification: impl Fn(&AuditEntry) -> Option<(String, String)>,
    ) -> Result<UndoOutcome, StoreError> {
        let claim = crate::inbox::current();
        let outcome = in_tx!(self, |tx, sql| {
            lock_chain!(tx, sql);
            if let Some(claim) = claim.as_deref()
                && let Some(done) = claimed_effect!(tx, claim)
            {
                // Taken over after the first claimer's undo committed: report that undo.
                let undo: AuditRow = sqlx::query_as(AUDIT_BY_ID)
                    .bind(done)
                    .fetch_one(&mut *tx)
                    .await?;
                let reverted: AuditRow = sqlx::query_as(AUDIT_BY_ID)
                    .bind(undo.reverts)
                    .fetch_one(&mut *tx)
                    .await?;
                return Ok(UndoOutcome::Undone(undo.entry()?, reverted.entry()?));
            }
            let mut outcome = None;
            for _ in 0..UNDO_ATTEMPTS {
                let candidate: Option<AuditRow> = sqlx::query_as(LAST_UNDOABLE)
                    .bind(channel)
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(candidate) = candidate else {
                    outcome = Some(UndoOutcome::NothingToUndo);
                    break;
                };
                let mut reverted = candidate.entry()?;
                let Some(mut number) = candidate.number else {
                    return Err(StoreError::Other(format!(
                        "audit row {} is an update without a metric number",
                        candidate.id
                    )));
                };
                // The item may have moved within its task since: follow its stable id.
                let Some(item_id) = candidate.item_id.as_deref() else {
                    return Err(StoreError::Other(format!(
                        "audit row {} is an update of no known item",
                        candidate.id
                    )));
                };
                let now_at: Option<i64> =
                    sqlx::query_scalar("SELECT number FROM metrics WHERE item_id = $1")
                        .bind(item_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if let Some(n) = now_at {
                    number = n;
                    reverted.number = Some(rows::to_u32(n)?);
                }
                let current: Option<MetricLock> = sqlx::query_as(sql.lock_metric)
                    .bind(item_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((cur_value, cur_stage, cur_note, _, _)) = current else {
                    return Err(StoreError::Other(format!(
                        "audit row {} names metric {}.{}, which is not in the store",
                        candidate.id, candidate.task, number
                    )));
                };
                // While this transaction waited for the row lock (PostgreSQL), a concurrent
                // undo by the same user may have reverted the candidate: look again.
                let reverts: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM audit WHERE reverts = $1")
                        .bind(candidate.id)
                        .fetch_one(&mut *tx)
                        .await?;
                if reverts > 0 {
                    continue;
                }
                // Exact comparison on purpose: the values were stored and read back unchanged.
                if cur_value != candidate.new_value || cur_stage != candidate.new_stage {
                    outcome = Some(UndoOutcome::ChangedSince(reverted));
                    break;
                }
                let at = now_ms();
                sqlx::query(SET_PROGRESS)
                    .bind(item_id)
                    .bind(candidate.old_value)
                    .bind(candidate.old_stage.as_deref())
                    .bind(candidate.old_note.as_deref())
                    .bind(at)
                    .bind(actor.channel.as_str())
                    .bind(actor.user_id.as_str())
                    .bind(actor.name.as_str())
                    .execute(&mut *tx)
                    .await?;
                let id: i64 = sqlx::query_scalar(INSERT_AUDIT)
                    .bind(AuditKind::Undo.as_str())
                    .bind(candidate.task)
                    .bind(Some(number))
                    .bind(actor.channel.as_str())
                    .bind(actor.user_id.as_str())
                    .bind(actor.name.as_str())
                    .bind(cur_value)
                    .bind(candidate.old_value)
                    .bind(cur_stage.as_deref())
                    .bind(candidate.old_stage.as_deref())
                    .bind(cur_note.as_deref())
                    .bind(candidate.old_note.as_deref())
                    .bind(Some(candidate.id))
                    .bind(at)
                    .bind(candidate.item_id.as_deref())
                    .fetch_one(&mut *tx)
                    .await?;
                seal_chain!(tx, [id]);
                let notification = notification(&reverted);
                queue_notification!(tx, candidate.task, &notification, at);
                if let Some(claim) = claim.as_deref() {
                    record_effect!(tx, claim, id);
                }
                let undo = AuditEntry {
                    id,
                    kind: AuditKind::Undo,
                    task: reverted.task,
                    number: reverted.number,
                    actor: actor.clone(),
                    old_value: reverted.new_value,
                    new_value: reverted.old_value,
                    old_stage: reverted.new_stage,
                    new_stage: reverted.old_stage,
                    note: candidate.old_note.clone(),
                    reverts: Some(reverted.id),
                    at,
                    item_id: candidate.item_id.clone(),
                };
                outcome = Some(UndoOutcome::Undone(undo, reverted));
                break;
            }
            match outcome {
                Some(outcome) => outcome,
                None => {
                    return Err(StoreError::Other(
                        "undo kept racing with other undos by the same user; try again".into(),
                    ));
                }
            }
        });
        Ok(outcome)
    }

    /// Audits a change that was not allowed (`note` says what was attempted), so attempts by
    /// people who are not officers, or outside their tasks, can be reviewed. Changes nothing
    /// else, and is not part of [`Store::history`].
    pub async fn record_refusal(
        &self,
        task: u32,
        number: Option<u32>,
        actor: &Actor,
        note: &str,
    ) -> Result<(), StoreError> {
        in_tx!(self, |tx, sql| {
            lock_chain!(tx, sql);
            let id: i64 = sqlx::query_scalar(INSERT_AUDIT)
                .bind(AuditKind::Refused.as_str())
                .bind(i64::from(task))
                .bind(number.map(i64::from))
                .bind(actor.channel.as_str())
                .bind(actor.user_id.as_str())
                .bind(actor.name.as_str())
                .bind(None::<f64>)
                .bind(None::<f64>)
                .bind(None::<&str>)
                .bind(None::<&str>)
                .bind(None::<&str>)
                .bind(Some(note))
                .bind(None::<i64>)
                .bind(now_ms())
                .bind(None::<&str>)
                .fetch_one(&mut *tx)
                .await?;
            seal_chain!(tx, [id]);
        });
        Ok(())
    }

    /// The latest `limit` updates, undos and catalogue changes of `task` in the list of `year`,
    /// newest first (refusals excluded).
    pub async fn history(
        &self,
        year: i32,
        task: u32,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<AuditRow> = on_pool!(self, pool => {
            sqlx::query_as(HISTORY)
                .bind(i64::from(year))
                .bind(i64::from(task))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.iter().map(AuditRow::entry).collect()
    }

    /// The latest `limit` changes of rights — grants, revokes, and admins added or removed in
    /// `ADMIN_IDS` — newest first: who may change the figures, as the record shows it.
    pub async fn rights_history(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<AuditRow> = on_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ",
                audit_columns!(),
                " FROM audit WHERE kind IN ('grant', 'revoke', 'admin') ORDER BY id DESC LIMIT $1"
            ))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.iter().map(AuditRow::entry).collect()
    }

    // ---- officers ----------------------------------------------------------------------------

    /// Lets (`channel`, `user_id`) update progress of `tasks` (empty = all tasks), replacing
    /// any previous grant. `department` is what residents see as the updater.
    pub async fn grant(
        &self,
        channel: &str,
        user_id: &str,
        tasks: &[u32],
        department: Option<&str>,
        by: &Actor,
    ) -> Result<(), StoreError> {
        let tasks_text = rows::format_tasks(tasks);
        let at = now_ms();
        let note = format!(
            "grant {channel}:{user_id} tasks {}{}",
            if tasks_text.is_empty() {
                "all"
            } else {
                tasks_text.as_str()
            },
            department.map_or(String::new(), |d| format!(" department {d}"))
        );
        in_tx!(self, |tx, sql| {
            lock_chain!(tx, sql);
            sqlx::query(
                "INSERT INTO officers (channel, user_id, tasks, granted_by_channel, \
                 granted_by_user, granted_by_name, granted_at, department) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (channel, user_id) DO UPDATE SET tasks = excluded.tasks, \
                 granted_by_channel = excluded.granted_by_channel, \
                 granted_by_user = excluded.granted_by_user, \
                 granted_by_name = excluded.granted_by_name, granted_at = excluded.granted_at, \
                 department = excluded.department",
            )
            .bind(channel)
            .bind(user_id)
            .bind(tasks_text.as_str())
            .bind(by.channel.as_str())
            .bind(by.user_id.as_str())
            .bind(by.name.as_str())
            .bind(at)
            .bind(department)
            .execute(&mut *tx)
            .await?;
            let id = insert_officer_audit!(tx, "grant", by, note.as_str(), at);
            seal_chain!(tx, [id]);
        });
        Ok(())
    }

    /// Withdraws an officer's rights; true if there were any. Not audited: prefer
    /// [`Store::revoke_by`], which records who revoked.
    pub async fn revoke(&self, channel: &str, user_id: &str) -> Result<bool, StoreError> {
        let nobody = Actor {
            channel: "system".into(),
            user_id: String::new(),
            name: String::new(),
        };
        self.revoke_by(channel, user_id, &nobody).await
    }

    /// Withdraws an officer's rights, as a `revoke` audit row by `by`; true if there were any
    /// (nothing is audited otherwise).
    pub async fn revoke_by(
        &self,
        channel: &str,
        user_id: &str,
        by: &Actor,
    ) -> Result<bool, StoreError> {
        self.revoke_row(
            "DELETE FROM officers WHERE channel = $1 AND user_id = $2",
            format!("revoke {channel}:{user_id}"),
            channel,
            user_id,
            by,
        )
        .await
    }

    /// Deletes one person's grant with `delete` (binds channel, user id) and, if there was
    /// one, audits it as a `revoke` row by `by` saying `note`, in one transaction.
    pub(super) async fn revoke_row(
        &self,
        delete: &'static str,
        note: String,
        channel: &str,
        user_id: &str,
        by: &Actor,
    ) -> Result<bool, StoreError> {
        let at = now_ms();
        let done = in_tx!(self, |tx, sql| {
            lock_chain!(tx, sql);
            let done = sqlx::query(delete)
                .bind(channel)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if done > 0 {
                let id = insert_officer_audit!(tx, "revoke", by, note.as_str(), at);
                seal_chain!(tx, [id]);
            }
            done
        });
        Ok(done > 0)
    }

    pub async fn officer(
        &self,
        channel: &str,
        user_id: &str,
    ) -> Result<Option<Officer>, StoreError> {
        let row: Option<OfficerRow> = on_pool!(self, pool => {
            sqlx::query_as(select_officers!("WHERE channel = $1 AND user_id = $2"))
                .bind(channel)
                .bind(user_id)
                .fetch_optional(pool)
                .await?
        });
        row.map(OfficerRow::officer).transpose()
    }

    /// All officers, ordered by channel then user id.
    pub async fn officers(&self) -> Result<Vec<Officer>, StoreError> {
        let rows: Vec<OfficerRow> = on_pool!(self, pool => {
            sqlx::query_as(select_officers!("ORDER BY channel, user_id")).fetch_all(pool).await?
        });
        rows.into_iter().map(OfficerRow::officer).collect()
    }

    // ---- subscriptions ------------------------------------------------------------------------

    /// Subscribes a chat to progress notifications of `task` (`None` = all tasks); true if the
    /// subscription is new. `lang` becomes the language of all of this chat's notifications.
    /// Task number 0 means "all tasks".
    pub async fn subscribe(
        &self,
        channel: &str,
        chat_id: &str,
        task: Option<u32>,
        lang: Lang,
    ) -> Result<bool, StoreError> {
        let task = i64::from(task.unwrap_or(0));
        let lang = lang.code();
        let now = now_ms();
        let new = in_tx!(self, |tx, _sql| {
            let inserted = sqlx::query(
                "INSERT INTO subscriptions (channel, chat_id, task, lang, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (channel, chat_id, task) DO NOTHING",
            )
            .bind(channel)
            .bind(chat_id)
            .bind(task)
            .bind(lang)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("UPDATE subscriptions SET lang = $3 WHERE channel = $1 AND chat_id = $2")
                .bind(channel)
                .bind(chat_id)
                .bind(lang)
                .execute(&mut *tx)
                .await?;
            inserted > 0
        });
        Ok(new)
    }

    /// Removes the chat's subscription to `task`; with `None` ("unsubscribe all") removes
    /// every subscription of the chat, per-task ones included — what someone typing it means.
    /// True if anything was removed.
    pub async fn unsubscribe(
        &self,
        channel: &str,
        chat_id: &str,
        task: Option<u32>,
    ) -> Result<bool, StoreError> {
        let removed = match task {
            None => self.delete_subscriptions(channel, chat_id).await?,
            Some(task) => on_pool!(self, pool => {
                sqlx::query(
                    "DELETE FROM subscriptions WHERE channel = $1 AND chat_id = $2 AND task = $3",
                )
                .bind(channel)
                .bind(chat_id)
                .bind(i64::from(task))
                .execute(pool)
                .await?
                .rows_affected()
            }),
        };
        Ok(removed > 0)
    }

    async fn delete_subscriptions(&self, channel: &str, chat_id: &str) -> Result<u64, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query("DELETE FROM subscriptions WHERE channel = $1 AND chat_id = $2")
                .bind(channel)
                .bind(chat_id)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }

    /// The chat's subscriptions, `None` (all tasks) first, then task numbers ascending.
    pub async fn subscriptions(
        &self,
        channel: &str,
        chat_id: &str,
    ) -> Result<Vec<Option<u32>>, StoreError> {
        let tasks: Vec<i64> = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT task FROM subscriptions WHERE channel = $1 AND chat_id = $2 ORDER BY task",
            )
            .bind(channel)
            .bind(chat_id)
            .fetch_all(pool)
            .await?
        });
        tasks
            .into_iter()
            .map(|t| {
                if t == 0 {
                    Ok(None)
                } else {
                    rows::to_u32(t).map(Some)
                }
            })
            .collect()
    }

    /// Forgets a chat that blocked the bot or was deleted: removes all its subscriptions and
    /// its queued notifications (they could never be delivered). Returns the number of
    /// subscriptions removed.
    pub async fn unsubscribe_chat(&self, channel: &str, chat_id: &str) -> Result<u64, StoreError> {
        let removed = in_tx!(self, |tx, _sql| {
            let removed =
                sqlx::query("DELETE FROM subscriptions WHERE channel = $1 AND chat_id = $2")
                    .bind(channel)
                    .bind(chat_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            sqlx::query("DELETE FROM outbox WHERE channel = $1 AND chat_id = $2")
                .bind(channel)
                .bind(chat_id)
                .execute(&mut *tx)
                .await?;
            removed
        });
        Ok(removed)
    }

    // ---- the outbox ---------------------------------------------------------------------------

    /// Leases up to `limit` due notifications of `channel` for `lease_ms`, oldest first. Due
    /// means not leased (or the lease expired: its sender died) and not waiting for a retry.
    /// Only the oldest notification of each chat is ever claimable, so a chat hears them in
    /// the order they were queued even when several replicas send, and a retried one holds
    /// back the chat's later ones rather than being overtaken by them.
    /// Concurrent claimers — tasks or replicas — never receive the same row while its lease
    /// holds. Delivery is at least once: a sender slower than its lease may overlap the next.
    pub async fn claim_outbox(
        &self,
        channel: &str,
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let now = now_ms();
        let until = now.saturating_add(lease_ms);
        let mut rows: Vec<(i64, String, String, String, i32)> = in_tx!(self, |tx, sql| {
            sqlx::query_as(sql.claim_outbox)
                .bind(until)
                .bind(channel)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?
        });
        // RETURNING gives no order guarantee.
        rows.sort_by_key(|row| row.0);
        Ok(rows
            .into_iter()
            .map(|(id, channel, chat_id, text, attempts)| OutboxItem {
                id,
                channel,
                chat_id,
                text,
                attempts,
            })
            .collect())
    }

    /// Extends the leases of notifications still being sent (a send waiting out a 429 or a
    /// retry pause) to `lease_ms` from now, so that only a dead sender's rows become due.
    pub async fn renew_outbox(&self, ids: &[i64], lease_ms: i64) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let until = now_ms().saturating_add(lease_ms);
        in_tx!(self, |tx, _sql| {
            for id in ids {
                sqlx::query(
                    "UPDATE outbox SET leased_until = $2 WHERE id = $1 AND leased_until IS NOT NULL",
                )
                    .bind(id)
                    .bind(until)
                    .execute(&mut *tx)
                    .await?;
            }
        });
        Ok(())
    }

    /// The notification was delivered: forget it.
    pub async fn complete_outbox(&self, id: i64) -> Result<(), StoreError> {
        self.delete_outbox(id).await
    }

    /// Delivery failed but may work later: release the lease, count the attempt, and make the
    /// row due again `after_ms` from now.
    pub async fn retry_outbox(&self, id: i64, after_ms: i64) -> Result<(), StoreError> {
        let next = now_ms().saturating_add(after_ms);
        on_pool!(self, pool => {
            sqlx::query(
                "UPDATE outbox SET leased_until = NULL, attempts = attempts + 1, \
                 next_attempt_at = $2 WHERE id = $1",
            )
            .bind(id)
            .bind(next)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Delivery can never succeed (or was tried too often): give up on the notification.
    pub async fn drop_outbox(&self, id: i64) -> Result<(), StoreError> {
        self.delete_outbox(id).await
    }

    async fn delete_outbox(&self, id: i64) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM outbox WHERE id = $1").bind(id).execute(pool).await?;
        });
        Ok(())
    }

    /// Notifications of `channel` still queued, leased or not: for health checks.
    pub async fn outbox_len(&self, channel: &str) -> Result<i64, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE channel = $1")
                .bind(channel)
                .fetch_one(pool)
                .await?
        }))
    }

    // ---- questions, feedback, dedup -----------------------------------------------------------

    /// Records a question the bot could not answer, for the faq editors (trimmed and cut to
    /// 500 characters; an empty question is not recorded). The log stays bounded whatever a
    /// user or a script sends: the same question from the same user is one row (a repeat
    /// refreshes when it was last asked), a user adds at most [`MAX_UNANSWERED_PER_USER_DAY`]
    /// new questions in 24 hours, and beyond [`MAX_UNANSWERED_ROWS`] the oldest go first.
    pub async fn record_unanswered(
        &self,
        channel: &str,
        user_id: &str,
        question: &str,
    ) -> Result<(), StoreError> {
        // Phone, ID, bank card numbers and e-mail addresses are masked before anything is kept.
        let question = crate::privacy::mask(question.trim());
        let question: String = question.chars().take(MAX_QUESTION_CHARS).collect();
        if question.is_empty() {
            return Ok(());
        }
        let key = question_key(&question);
        let now = now_ms();
        let day_ago = now - 24 * 60 * 60 * 1000;
        let prune = on_pool!(self, pool => {
            let repeated = sqlx::query(
                "UPDATE unanswered SET last_at = $4 \
                 WHERE channel = $1 AND user_id = $2 AND question_key = $3",
            )
            .bind(channel)
            .bind(user_id)
            .bind(key.as_str())
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected();
            if repeated > 0 {
                return Ok(());
            }
            let today: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM unanswered \
                 WHERE channel = $1 AND user_id = $2 AND created_at >= $3",
            )
            .bind(channel)
            .bind(user_id)
            .bind(day_ago)
            .fetch_one(pool)
            .await?;
            if today >= MAX_UNANSWERED_PER_USER_DAY {
                return Ok(());
            }
            // A concurrent copy of the same question (another replica) is the same row.
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO unanswered (channel, user_id, question, question_key, created_at, \
                 last_at) VALUES ($1, $2, $3, $4, $5, $5) \
                 ON CONFLICT (channel, user_id, question_key) DO NOTHING RETURNING id",
            )
            .bind(channel)
            .bind(user_id)
            .bind(question.as_str())
            .bind(key.as_str())
            .bind(now)
            .fetch_optional(pool)
            .await?;
            // Trimming the oldest costs an index walk, so it runs once every few hundred rows.
            id.is_some_and(|id| id % UNANSWERED_PRUNE_EVERY == 0)
        });
        if prune {
            on_pool!(self, pool => {
                sqlx::query(
                    "DELETE FROM unanswered WHERE id <= \
                     (SELECT id FROM unanswered ORDER BY id DESC LIMIT 1 OFFSET $1)",
                )
                .bind(MAX_UNANSWERED_ROWS)
                .execute(pool)
                .await?;
            });
        }
        Ok(())
    }

    /// The most frequent unanswered questions: (question trimmed, lowercased and with runs of
    /// whitespace collapsed; how many users asked it; last asked at), most frequent first,
    /// then most recent.
    pub async fn top_unanswered(&self, limit: u32) -> Result<Vec<(String, i64, i64)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT question_key, COUNT(*) AS asked, MAX(last_at) AS last_at \
                 FROM unanswered GROUP BY question_key \
                 ORDER BY asked DESC, last_at DESC, question_key LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        }))
    }

    /// Records whether an answer (`entry_id`) helped. One vote per user and entry: voting
    /// again replaces the vote, so pressing 👍 repeatedly counts once.
    pub async fn record_feedback(
        &self,
        channel: &str,
        user_id: &str,
        entry_id: &str,
        useful: bool,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO feedback (channel, user_id, entry_id, useful, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (channel, user_id, entry_id) \
                 DO UPDATE SET useful = excluded.useful, created_at = excluded.created_at",
            )
            .bind(channel)
            .bind(user_id)
            .bind(entry_id)
            .bind(useful)
            .bind(now_ms())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// (entry id, useful votes, not-useful votes) per entry, by entry id.
    pub async fn feedback_counts(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT entry_id, SUM(CASE WHEN useful THEN 1 ELSE 0 END) AS up, \
                 SUM(CASE WHEN useful THEN 0 ELSE 1 END) AS down \
                 FROM feedback GROUP BY entry_id ORDER BY entry_id",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    // ---- personal data: retention and deletion ------------------------------------------------

    /// Deletes stored questions and feedback last touched before `cutoff_ms` (Unix ms), and
    /// forgets who was first seen before it (they hear the privacy notice again). Idempotent,
    /// so any replica may run it at any time. Returns how many rows went.
    pub async fn forget_older_than(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let removed = in_tx!(self, |tx, _sql| {
            let mut removed = 0;
            for sql in [
                "DELETE FROM unanswered WHERE last_at < $1 AND created_at < $1",
                "DELETE FROM feedback WHERE created_at < $1",
                "DELETE FROM users_seen WHERE first_seen < $1",
            ] {
                removed += sqlx::query(sql)
                    .bind(cutoff_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            removed
        });
        Ok(removed)
    }

    /// Deletes everything kept about one user of a channel: their stored questions, feedback,
    /// the subscriptions and queued notifications of their private chat (whose id is the
    /// user id), and the record of having seen them. Officers' audit rows and grants stay:
    /// they are the public record of a duty. Says what was deleted.
    pub async fn forget_user(&self, channel: &str, user_id: &str) -> Result<Forgotten, StoreError> {
        let forgotten = in_tx!(self, |tx, _sql| {
            let mut counts = [0u64; 3];
            for (i, sql) in [
                "DELETE FROM unanswered WHERE channel = $1 AND user_id = $2",
                "DELETE FROM feedback WHERE channel = $1 AND user_id = $2",
                "DELETE FROM subscriptions WHERE channel = $1 AND chat_id = $2",
                "DELETE FROM outbox WHERE channel = $1 AND chat_id = $2",
                "DELETE FROM users_seen WHERE channel = $1 AND user_id = $2",
            ]
            .into_iter()
            .enumerate()
            {
                let n = sqlx::query(sql)
                    .bind(channel)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if let Some(c) = counts.get_mut(i) {
                    *c = n;
                }
            }
            Forgotten {
                questions: counts[0],
                feedback: counts[1],
                subscriptions: counts[2],
            }
        });
        Ok(forgotten)
    }

    /// Records that `user_id` has talked to the bot on `channel`; true the first time (or the
    /// first time since they were forgotten). Atomic across replicas.
    pub async fn first_contact(&self, channel: &str, user_id: &str) -> Result<bool, StoreError> {
        let inserted = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO users_seen (channel, user_id, first_seen) VALUES ($1, $2, $3) \
                 ON CONFLICT (channel, user_id) DO NOTHING",
            )
            .bind(channel)
            .bind(user_id)
            .bind(now_ms())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(inserted > 0)
    }

    /// Whether this message is new: true the first time `message_key` is seen on `channel`,
    /// false for a redelivery (WeChat retries, webhook redelivery), which must not be answered
    /// or acted on twice. Atomic, so two replicas receiving the same delivery agree.
    pub async fn first_seen(&self, channel: &str, message_key: &str) -> Result<bool, StoreError> {
        let inserted = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO seen_messages (channel, message_key, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (channel, message_key) DO NOTHING",
            )
            .bind(channel)
            .bind(message_key)
            .bind(now_ms())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(inserted > 0)
    }

    /// Forgets message keys first seen before `before_ms` (redeliveries come within minutes),
    /// so the table does not grow forever. Returns how many were removed.
    ///
    /// Never forgets a key younger than twice [`REPLAY_WINDOW_SECS`] (plus a minute for clock
    /// skew between replicas), whatever `before_ms` says: a message with a timestamp at the
    /// window's far edge is accepted up to 2 × the window after it was first seen, and its
    /// key must still be here then, or a replay would be acted on again.
    pub async fn forget_seen_before(&self, before_ms: i64) -> Result<u64, StoreError> {
        let floor = now_ms() - (2 * REPLAY_WINDOW_SECS + 60) * 1000;
        let before_ms = before_ms.min(floor);
        Ok(on_pool!(self, pool => {
            sqlx::query("DELETE FROM seen_messages WHERE created_at < $1")
                .bind(before_ms)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }

    /// The cached WeChat API access token of `appid`, if it is still valid at `now_ms`.
    pub async fn wechat_token(
        &self,
        appid: &str,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT token FROM wechat_tokens WHERE appid = $1 AND expires_at > $2",
            )
            .bind(appid)
            .bind(now_ms)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Stores `appid`'s access token until `expires_at_ms`, for every replica.
    pub async fn save_wechat_token(
        &self,
        appid: &str,
        token: &str,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO wechat_tokens (appid, token, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (appid) DO UPDATE SET token = excluded.token, \
                 expires_at = excluded.expires_at",
            )
            .bind(appid)
            .bind(token)
            .bind(expires_at_ms)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Forgets `appid`'s token (WeChat said it is no longer valid).
    pub async fn drop_wechat_token(&self, appid: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM wechat_tokens WHERE appid = $1")
                .bind(appid)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Records a signed WeChat callback's (timestamp, nonce) pair with a digest of its body,
    /// atomically across replicas: [`NonceSeen::New`] the first time, [`NonceSeen::SameBody`]
    /// for WeChat's retry of the same request, [`NonceSeen::OtherBody`] for a replay with a
    /// different body. `ts_secs` is the timestamp as a number, for pruning.
    pub async fn remember_wechat_nonce(
        &self,
        timestamp: &str,
        nonce: &str,
        ts_secs: i64,
        body_sha1: &str,
    ) -> Result<NonceSeen, StoreError> {
        let (inserted, stored): (u64, Option<String>) = on_pool!(self, pool => {
            let inserted = sqlx::query(
                "INSERT INTO wechat_nonces (stamp, nonce, ts_secs, body_sha1, seen_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (stamp, nonce) DO NOTHING",
            )
            .bind(timestamp)
            .bind(nonce)
            .bind(ts_secs)
            .bind(body_sha1)
            .bind(now_ms())
            .execute(pool)
            .await?
            .rows_affected();
            let stored = if inserted > 0 {
                None
            } else {
                sqlx::query_scalar(
                    "SELECT body_sha1 FROM wechat_nonces WHERE stamp = $1 AND nonce = $2",
                )
                .bind(timestamp)
                .bind(nonce)
                .fetch_optional(pool)
                .await?
            };
            (inserted, stored)
        });
        Ok(match (inserted, stored) {
            (n, _) if n > 0 => NonceSeen::New,
            (_, Some(digest)) if digest == body_sha1 => NonceSeen::SameBody,
            // Gone between the insert and the read (pruned as stale): not provably a retry.
            _ => NonceSeen::OtherBody,
        })
    }

    /// Forgets nonce pairs whose timestamp is before `ts_secs` (Unix seconds). Never one whose
    /// timestamp is still inside [`REPLAY_WINDOW_SECS`] of now (plus a minute for clock skew):
    /// only once the timestamp alone refuses a pair may the pair be forgotten.
    pub async fn forget_wechat_nonces_before(&self, ts_secs: i64) -> Result<u64, StoreError> {
        let floor = now_ms() / 1000 - REPLAY_WINDOW_SECS - 60;
        let ts_secs = ts_secs.min(floor);
        Ok(on_pool!(self, pool => {
            sqlx::query("DELETE FROM wechat_nonces WHERE ts_secs < $1")
                .bind(ts_secs)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}

/// How unanswered questions are grouped: case and spacing differences are the same question.
fn question_key(question: &str) -> String {
    question
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970, which only a broken
/// clock is).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The URL without its password, for error messages that end up in logs.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://…@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}
