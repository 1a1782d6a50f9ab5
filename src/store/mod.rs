//! The store: the only place that writes SQL. SQLite (default, embedded) or PostgreSQL.
//!
//! This module holds the SQL-free domain types the rest of the bot speaks; the queries live in
//! [`db`] (the [`Store`] and its methods) and [`rows`] (decoding rows into these types), so a
//! reader of the core never needs to know which database is behind it.
//!
//! Guarantees the core relies on:
//! - every progress change, its audit row and its notifications commit together or not at
//!   all ([`Store::apply`], [`Store::undo_last`]);
//! - concurrent changes to one metric are serialised: each audit row's old value is the value
//!   it really replaced, and the last writer wins;
//! - nothing recorded is ever deleted by a catalogue sync, and audit rows are never deleted;
//! - notifications are delivered at least once, by whichever replica leases them first.

mod db;
mod rows;

pub use db::{ChainBreak, Dump, MAX_UNANSWERED_PER_USER_DAY, MAX_UNANSWERED_ROWS, Store, now_ms};
pub use db::{Editor, QueuedQuestion, Taught, TeachOutcome, stored_key};
pub use db::{OutboxDepth, Queued, TrailRow};

/// How far (seconds) a signed request's timestamp may be from now before a channel refuses
/// it (WeChat's callback). The store never forgets a dedup key or a nonce while a replay of
/// it could still pass that check, whatever the caller asks.
pub const REPLAY_WINDOW_SECS: i64 = 300;

/// What [`Store::remember_wechat_nonce`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceSeen {
    /// First sighting of the pair.
    New,
    /// Seen before with the same body: the sender retrying.
    SameBody,
    /// Seen before with a different body: a replay of a captured signature.
    OtherBody,
}

/// An incoming update for [`Store::inbox_put`]: committed before the channel acknowledges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    /// Unique per channel: Telegram's `update_id`, WeChat's `MsgId` (or its event key).
    pub key: String,
    /// Whose order it keeps and whose rate limit it counts against.
    pub sender: String,
    /// When it was sent (Unix seconds) and its number then: a sender's updates are handled
    /// in (sent_at, seq) order.
    pub sent_at: i64,
    pub seq: i64,
    /// The rate-limit window it counts in (`sent_at` divided by the window's length).
    pub bucket: i64,
    /// What the channel needs to handle it later (Telegram: the update's JSON).
    pub body: String,
}

/// An inbox row claimed by [`Store::inbox_round`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub key: String,
    pub body: String,
    pub token: i64,
    /// How many times it has been claimed, this time included.
    pub attempts: i64,
    /// Its place among its sender's updates in its rate-limit window (1 = first).
    pub rank: i64,
}

/// A handled row for [`Store::inbox_round`] to mark done, fenced by its claim token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub key: String,
    pub token: i64,
}

/// What [`Store::inbox_take`] found for one update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Take {
    /// Claimed by the caller: handle it, then [`Store::inbox_finish`].
    Mine { token: i64, rank: i64 },
    /// Already handled; the reply it got, if one was stored.
    Done(Option<String>),
    /// Another replica holds a live claim on it.
    Busy,
}

/// Message keys are kept this long (redeliveries come within minutes; far beyond the window).
const SEEN_TTL_MS: i64 = 24 * 3600 * 1000;
/// How often [`sweep`] prunes.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Prunes old message keys and WeChat nonces, and deletes residents' questions and feedback
/// older than `retention_days`, now and every ten minutes until `stop`. Every
/// channel process runs it, so the tables stay bounded whichever channels are deployed; the
/// store's own floors keep it from forgetting anything a replay could still use.
pub async fn sweep(store: Store, retention_days: i64, stop: tokio_util::sync::CancellationToken) {
    loop {
        let now_ms = now_ms();
        if let Err(e) = store.forget_seen_before(now_ms - SEEN_TTL_MS).await {
            tracing::warn!(error = %e, "forgetting old message keys failed");
        }
        if let Err(e) = store.forget_inbox_before(now_ms - SEEN_TTL_MS).await {
            tracing::warn!(error = %e, "forgetting handled inbox rows failed");
        }
        let stale = now_ms / 1000 - REPLAY_WINDOW_SECS;
        if let Err(e) = store.forget_wechat_nonces_before(stale).await {
            tracing::warn!(error = %e, "forgetting old WeChat nonces failed");
        }
        // Residents' questions and feedback past the retention period.
        if let Err(e) = store
            .forget_older_than(retention_cutoff(now_ms, retention_days))
            .await
        {
            tracing::warn!(error = %e, "deleting questions past the retention period failed");
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(SWEEP_EVERY) => {}
        }
    }
}

/// What [`Store::forget_user`] deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Forgotten {
    pub questions: u64,
    pub feedback: u64,
    pub subscriptions: u64,
}

/// How long residents' questions and feedback are kept unless `RETENTION_DAYS` says otherwise.
pub const DEFAULT_RETENTION_DAYS: i64 = 180;

/// The cutoff (Unix ms) before which questions and feedback are deleted at `now_ms`.
pub fn retention_cutoff(now_ms: i64, days: i64) -> i64 {
    now_ms.saturating_sub(days.saturating_mul(24 * 3600 * 1000))
}

/// Which channel an identity belongs to: ids are never shared between channels, so a Telegram
/// user id can never act as a WeChat user or the reverse.
pub type Channel = &'static str; // "console" | "telegram" | "wechat"

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported DATABASE_URL `{0}`: use sqlite://FILE or postgres://…")]
    Url(String),
    /// A faq/ the store refuses: it would drop an item with recorded progress, or change the
    /// dimension of one.
    #[error("faq/ refused: task {task}, item `{item}` {reason}")]
    Catalogue {
        task: u32,
        item: String,
        reason: String,
    },
    /// The update being handled was claimed by another replica meanwhile: nothing was
    /// committed, and that replica answers it.
    #[error("the update was taken over by another replica")]
    Superseded,
    #[error("{0}")]
    Other(String),
}

/// A qualitative stage of a milestone (or a metric an officer describes in words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    NotStarted,
    InProgress,
    Done,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::NotStarted => "not_started",
            Stage::InProgress => "in_progress",
            Stage::Done => "done",
        }
    }
    pub fn parse_db(s: &str) -> Option<Stage> {
        match s {
            "not_started" => Some(Stage::NotStarted),
            "in_progress" => Some(Stage::InProgress),
            "done" => Some(Stage::Done),
            _ => None,
        }
    }
}

/// The live state of one metric or milestone of a task.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricState {
    pub task: u32,
    /// The metric's or milestone's number within the task (metrics first, then milestones).
    pub number: u32,
    /// Current value in the metric's own unit (as in faq/), None if never updated or a milestone.
    pub current: Option<f64>,
    pub stage: Option<Stage>,
    pub note: Option<String>,
    /// Unix milliseconds of the last change.
    pub updated_at: Option<i64>,
    pub updated_by: Option<Actor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub channel: String,
    pub user_id: String,
    pub name: String,
}

/// A requested change (already validated by the core).
///
/// `value` and `stage` set when `Some` and keep the current value when `None` (so a milestone
/// update need not know the value, nor a number update the stage). `note` belongs to this
/// update: it replaces the previous note, and `None` clears it, so an old remark is never shown
/// next to a new figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The list's year: task numbers name a task within one list.
    pub year: i32,
    pub task: u32,
    pub number: u32,
    pub value: Option<f64>,
    pub stage: Option<Stage>,
    pub note: Option<String>,
    pub actor: Actor,
    /// Notification (zh, en), queued in the same transaction to every subscriber of this task
    /// and of all tasks, in the subscriber's language. None = notify nobody.
    pub notification: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AuditKind {
    Update,
    Undo,
    Refused,
    /// A change of an item's target, unit or name in faq/ (actor `faq`, user = faq/ revision).
    Catalogue,
    Grant,
    Revoke,
    /// An administrator added to or removed from `ADMIN_IDS`, as seen at start.
    Admin,
}

impl AuditKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            AuditKind::Update => "update",
            AuditKind::Undo => "undo",
            AuditKind::Refused => "refused",
            AuditKind::Catalogue => "catalogue",
            AuditKind::Grant => "grant",
            AuditKind::Revoke => "revoke",
            AuditKind::Admin => "admin",
        }
    }
    pub fn parse_db(s: &str) -> Option<AuditKind> {
        match s {
            "update" => Some(AuditKind::Update),
            "undo" => Some(AuditKind::Undo),
            "refused" => Some(AuditKind::Refused),
            "catalogue" => Some(AuditKind::Catalogue),
            "grant" => Some(AuditKind::Grant),
            "revoke" => Some(AuditKind::Revoke),
            "admin" => Some(AuditKind::Admin),
            _ => None,
        }
    }
}

/// One row of the audit trail.
///
/// For an update or undo, old/new are the metric's value and stage before and after the row,
/// and `note` is the note the metric carries after it. For a refusal, `note` says what was
/// attempted and old/new are None.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub kind: AuditKind,
    pub task: u32,
    pub number: Option<u32>,
    pub actor: Actor,
    pub old_value: Option<f64>,
    pub new_value: Option<f64>,
    pub old_stage: Option<Stage>,
    pub new_stage: Option<Stage>,
    pub note: Option<String>,
    /// For an undo: the audit id it reverts.
    pub reverts: Option<i64>,
    pub at: i64,
    /// The stable id of the item changed, which also tells its year's list.
    pub item_id: Option<String>,
}

/// What [`Store::undo_last`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum UndoOutcome {
    /// The update was reverted: the new `undo` audit row, then the update it reverted.
    Undone(AuditEntry, AuditEntry),
    /// The user has no update left that has not been undone.
    NothingToUndo,
    /// Someone changed the metric after this update (given), so undoing it would silently
    /// overwrite their figure; nothing was changed.
    ChangedSince(AuditEntry),
}

/// Someone allowed to update progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Officer {
    pub channel: String,
    pub user_id: String,
    /// The tasks this officer may update, ascending; empty = all tasks.
    pub tasks: Vec<u32>,
    /// Who granted it, as `name (channel:user_id)` — the ids, because display names can be
    /// chosen by anyone.
    pub granted_by: String,
    pub granted_at: i64,
    /// The department residents see as the updater, instead of any id.
    pub department: Option<String>,
}

/// A notification leased for sending by [`Store::claim_outbox`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: i64,
    pub channel: String,
    pub chat_id: String,
    pub text: String,
    /// Failed attempts so far (each [`Store::retry_outbox`] adds one).
    pub attempts: i32,
}
