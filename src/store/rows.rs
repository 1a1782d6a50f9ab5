//! Rows as the database returns them, and their checked conversion into domain types.
//!
//! The derives are generic over the row type, so one struct decodes both SQLite and
//! PostgreSQL rows. Integers are stored as 64-bit on both backends; anything out of range or
//! an unknown enum spelling is reported as [`StoreError::Other`] rather than trusted, since a
//! hand-edited database must not crash the bot.

use super::{Actor, AuditEntry, AuditKind, MetricState, Officer, Stage, StoreError};

/// The audit columns, in the order [`AuditRow`] expects; every audit query selects these.
macro_rules! audit_columns {
    () => {
        "id, kind, task, number, actor_channel, actor_user, actor_name, old_value, new_value, \
         old_stage, new_stage, old_note, note, reverts, created_at, item_id"
    };
}
pub(super) use audit_columns;

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    pub id: i64,
    pub kind: String,
    pub task: i64,
    pub number: Option<i64>,
    pub actor_channel: String,
    pub actor_user: String,
    pub actor_name: String,
    pub old_value: Option<f64>,
    pub new_value: Option<f64>,
    pub old_stage: Option<String>,
    pub new_stage: Option<String>,
    /// Not part of [`AuditEntry`]: only an undo needs the note an update replaced.
    pub old_note: Option<String>,
    pub note: Option<String>,
    pub reverts: Option<i64>,
    pub created_at: i64,
    /// The stable faq/ id of the item (None for rows about no item, or written before ids).
    pub item_id: Option<String>,
}

impl AuditRow {
    pub fn entry(&self) -> Result<AuditEntry, StoreError> {
        Ok(AuditEntry {
            id: self.id,
            kind: AuditKind::parse_db(&self.kind)
                .ok_or_else(|| bad(format!("unknown audit kind `{}`", self.kind)))?,
            task: to_u32(self.task)?,
            number: self.number.map(to_u32).transpose()?,
            actor: Actor {
                channel: self.actor_channel.clone(),
                user_id: self.actor_user.clone(),
                name: self.actor_name.clone(),
            },
            old_value: self.old_value,
            new_value: self.new_value,
            old_stage: stage(self.old_stage.as_deref())?,
            new_stage: stage(self.new_stage.as_deref())?,
            note: self.note.clone(),
            reverts: self.reverts,
            at: self.created_at,
            item_id: self.item_id.clone(),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct StateRow {
    pub task: i64,
    pub number: i64,
    pub current_value: Option<f64>,
    pub stage: Option<String>,
    pub note: Option<String>,
    pub updated_at: Option<i64>,
    pub updated_by_channel: Option<String>,
    pub updated_by_user: Option<String>,
    pub updated_by_name: Option<String>,
}

impl StateRow {
    pub fn state(self) -> Result<MetricState, StoreError> {
        let updated_by = match (
            self.updated_by_channel,
            self.updated_by_user,
            self.updated_by_name,
        ) {
            (Some(channel), Some(user_id), name) => Some(Actor {
                channel,
                user_id,
                name: name.unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(MetricState {
            task: to_u32(self.task)?,
            number: to_u32(self.number)?,
            current: self.current_value,
            stage: stage(self.stage.as_deref())?,
            note: self.note,
            updated_at: self.updated_at,
            updated_by,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct OfficerRow {
    pub channel: String,
    pub user_id: String,
    pub tasks: String,
    pub granted_by_channel: String,
    pub granted_by_user: String,
    pub granted_by_name: String,
    pub granted_at: i64,
    pub department: Option<String>,
}

impl OfficerRow {
    pub fn officer(self) -> Result<Officer, StoreError> {
        let granted_by = if self.granted_by_name.is_empty() {
            format!("{}:{}", self.granted_by_channel, self.granted_by_user)
        } else {
            format!(
                "{} ({}:{})",
                self.granted_by_name, self.granted_by_channel, self.granted_by_user
            )
        };
        Ok(Officer {
            tasks: parse_tasks(&self.tasks)?,
            channel: self.channel,
            user_id: self.user_id,
            granted_by,
            granted_at: self.granted_at,
            department: self.department.filter(|d| !d.is_empty()),
        })
    }
}

/// Officer task lists are stored as `1,5,19` (sorted, deduplicated); empty = all tasks.
pub(super) fn format_tasks(tasks: &[u32]) -> String {
    let mut tasks = tasks.to_vec();
    tasks.sort_unstable();
    tasks.dedup();
    tasks
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn parse_tasks(s: &str) -> Result<Vec<u32>, StoreError> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<u32>()
                .map_err(|_| bad(format!("bad task number `{t}` in an officer's task list")))
        })
        .collect()
}

pub(super) fn stage(s: Option<&str>) -> Result<Option<Stage>, StoreError> {
    s.map(|s| Stage::parse_db(s).ok_or_else(|| bad(format!("unknown stage `{s}`"))))
        .transpose()
}

pub(super) fn to_u32(n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| bad(format!("number {n} out of range")))
}

fn bad(message: String) -> StoreError {
    StoreError::Other(format!("unexpected data in the store: {message}"))
}
