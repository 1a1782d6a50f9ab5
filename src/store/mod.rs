//! The store: the only place that writes SQL. SQLite (default, embedded) or PostgreSQL.
//!
//! INTERFACE SKETCH — to be implemented (helper): keep these types and signatures.

use crate::knowledge::Task;

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
    #[error("{0}")]
    Other(String),
}

/// A qualitative stage of a milestone (or a metric an officer describes in words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage { NotStarted, InProgress, Done }

impl Stage {
    pub fn as_str(self) -> &'static str { match self { Stage::NotStarted => "not_started", Stage::InProgress => "in_progress", Stage::Done => "done" } }
    pub fn parse_db(s: &str) -> Option<Stage> { match s { "not_started" => Some(Stage::NotStarted), "in_progress" => Some(Stage::InProgress), "done" => Some(Stage::Done), _ => None } }
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
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
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
pub enum AuditKind { Update, Undo, Refused }

/// One row of the audit trail.
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
}
