//! Reading the record for publication (the progress page, exports, the feed) and for health
//! checks, and claiming reminders so each goes out once. A child of `db` so it shares its
//! macros.

use super::rows::{AuditRow, audit_columns};
use super::{AuditEntry, Dialect, POSTGRES, SQLITE, Store, StoreError, now_ms};

/// One row of the audit trail with its place in the hash chain.
#[derive(Debug, Clone, PartialEq)]
pub struct TrailRow {
    pub entry: AuditEntry,
    /// The row's hash (None for a row not sealed yet).
    pub hash: Option<String>,
}

#[derive(sqlx::FromRow)]
struct TrailDbRow {
    #[sqlx(flatten)]
    row: AuditRow,
    hash: Option<String>,
}

/// Outbox rows of one channel: how many, and when the oldest was queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxDepth {
    pub channel: String,
    pub depth: i64,
    /// Unix ms of the oldest row.
    pub oldest_at: i64,
}

/// A notification to queue with a reminder's claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub channel: String,
    pub chat_id: String,
    pub text: String,
}

/// The number shown is the item's current position (it may have moved since the row).
const TRAIL: &str = "SELECT a.id, a.kind, a.task, COALESCE(m.number, a.number) AS number, \
     a.actor_channel, a.actor_user, a.actor_name, a.old_value, a.new_value, a.old_stage, \
     a.new_stage, a.old_note, a.note, a.reverts, a.created_at, a.item_id, a.hash \
     FROM audit a LEFT JOIN metrics m ON m.item_id = a.item_id \
     WHERE a.id > $1 ORDER BY a.id LIMIT $2";

const UPDATES_SINCE: &str = concat!(
    "SELECT ",
    audit_columns!(),
    " FROM audit WHERE kind IN ('update', 'undo') AND created_at >= $1 ORDER BY id DESC LIMIT $2"
);

const LATEST_UPDATES: &str = "SELECT a.id, a.kind, a.task, COALESCE(m.number, a.number) AS number, \
     a.actor_channel, a.actor_user, a.actor_name, a.old_value, a.new_value, a.old_stage, \
     a.new_stage, a.old_note, a.note, a.reverts, a.created_at, a.item_id \
     FROM audit a LEFT JOIN metrics m ON m.item_id = a.item_id \
     WHERE a.kind IN ('update', 'undo') ORDER BY a.id DESC LIMIT $1";

/// Rows read per query when walking the whole trail.
const TRAIL_PAGE: i64 = 5_000;

impl Store {
    /// Whether the database answers (`/healthz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: i64 = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT CAST(1 AS BIGINT)").fetch_one(pool).await?
        });
        Ok(())
    }

    /// The whole audit trail, oldest first, with each row's hash.
    pub async fn audit_trail(&self) -> Result<Vec<TrailRow>, StoreError> {
        let mut out = Vec::new();
        let mut after = 0_i64;
        loop {
            let rows: Vec<TrailDbRow> = on_pool!(self, pool => {
                sqlx::query_as(TRAIL).bind(after).bind(TRAIL_PAGE).fetch_all(pool).await?
            });
            let n = rows.len();
            for r in rows {
                after = r.row.id;
                out.push(TrailRow {
                    entry: r.row.entry()?,
                    hash: r.hash,
                });
            }
            if (n as i64) < TRAIL_PAGE {
                return Ok(out);
            }
        }
    }

    /// The latest `limit` updates and undos of any task, newest first.
    pub async fn latest_updates(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<AuditRow> = on_pool!(self, pool => {
            sqlx::query_as(LATEST_UPDATES).bind(i64::from(limit)).fetch_all(pool).await?
        });
        rows.iter().map(AuditRow::entry).collect()
    }

    /// Updates and undos at or after `since_ms` (at most `limit`, newest first).
    pub async fn updates_since(
        &self,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<AuditRow> = on_pool!(self, pool => {
            sqlx::query_as(UPDATES_SINCE)
                .bind(since_ms)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.iter().map(AuditRow::entry).collect()
    }

    /// The chain's head as sealed at the end of each day that had audit rows: `(day's last
    /// row time, hash)`, newest first, at most `days`. Days are cut at `day_of`'s boundaries.
    pub async fn audit_day_heads(
        &self,
        days: usize,
        day_of: impl Fn(i64) -> String,
    ) -> Result<Vec<(String, i64, String)>, StoreError> {
        let rows: Vec<(i64, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT created_at, hash FROM audit WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 20000",
            )
            .fetch_all(pool)
            .await?
        });
        let mut out: Vec<(String, i64, String)> = Vec::new();
        for (at, hash) in rows {
            let day = day_of(at);
            if out.last().is_some_and(|(d, _, _)| *d == day) {
                continue;
            }
            if out.len() == days {
                break;
            }
            out.push((day, at, hash));
        }
        Ok(out)
    }

    /// Queued notifications by channel: how many and how old the oldest is (`/metrics`).
    pub async fn outbox_depths(&self) -> Result<Vec<OutboxDepth>, StoreError> {
        let rows: Vec<(String, i64, i64)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT channel, COUNT(*), MIN(created_at) FROM outbox GROUP BY channel ORDER BY channel",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(channel, depth, oldest_at)| OutboxDepth {
                channel,
                depth,
                oldest_at,
            })
            .collect())
    }

    /// Claims reminder `keys` and, in the same transaction, queues what `message` makes of
    /// the ones this call claimed (their indices in `keys`). A key claimed before — by this
    /// process, an earlier run or another replica — is never claimed again, so a reminder is
    /// queued once; on PostgreSQL a concurrent claimer of the same key waits for the first
    /// to commit and then finds it taken. Returns the indices claimed.
    pub async fn claim_reminders(
        &self,
        keys: &[String],
        message: impl FnOnce(&[usize]) -> Option<Queued>,
    ) -> Result<Vec<usize>, StoreError> {
        let now = now_ms();
        let claimed = in_tx!(self, |tx, _sql| {
            let mut claimed = Vec::new();
            for (i, key) in keys.iter().enumerate() {
                let done = sqlx::query(
                    "INSERT INTO reminders (key, created_at) VALUES ($1, $2) \
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(key.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done > 0 {
                    claimed.push(i);
                }
            }
            if !claimed.is_empty()
                && let Some(q) = message(&claimed)
            {
                sqlx::query(
                    "INSERT INTO outbox (channel, chat_id, body, next_attempt_at, created_at) \
                     VALUES ($1, $2, $3, $4, $4)",
                )
                .bind(q.channel.as_str())
                .bind(q.chat_id.as_str())
                .bind(q.text.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            claimed
        });
        Ok(claimed)
    }
}
