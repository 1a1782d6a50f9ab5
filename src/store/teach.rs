//! What the knowledge base learns from its users: phrasings editors taught (soft-deleted by
//! `/unteach`, so the record stays), the version replicas poll to pick them up, editor grants,
//! the queue of questions to teach from, and the evidence beside them ("did you mean" picks,
//! 👎). A child of `db` so it shares its transaction macros and dialects.

use super::{Dialect, INSERT_AUDIT, POSTGRES, SQLITE, Store, StoreError, now_ms};
use super::{chain_columns, lock_chain, seal_chain};
use crate::Lang;
use crate::store::Actor;

/// A phrasing an editor taught.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taught {
    pub id: i64,
    /// The year of the list whose entry it was taught to.
    pub year: i32,
    pub entry_id: String,
    pub lang: Lang,
    pub phrasing: String,
    pub by: Actor,
    pub at: i64,
    /// Who removed it and when (`/unteach`); `None` while it is in use.
    pub removed: Option<(Actor, i64)>,
}

/// One question of the editors' queue: unanswered questions grouped by their key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedQuestion {
    /// A row holding the question, which a `teach:` button names (stable across replicas).
    pub row_id: i64,
    /// The question as one resident typed it (masked).
    pub question: String,
    pub key: String,
    /// How many people asked it.
    pub asked: i64,
    pub last_at: i64,
    /// Entries people picked from "did you mean" after asking it, with how many picked each.
    pub picked: Vec<(String, i64)>,
    /// Entries whose answer to it people marked 👎, with how many.
    pub disliked: Vec<(String, i64)>,
}

/// An editor grant, for `/officers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Editor {
    pub channel: String,
    pub user_id: String,
    pub granted_by: String,
    pub granted_at: i64,
}

/// Why a phrasing was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeachOutcome {
    Taught(i64),
    /// The same text is already a live phrasing of this entry.
    AlreadyTaught(i64),
}

type TaughtRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

const BUMP_VERSION: &str = "INSERT INTO phrasings_version (one, version) VALUES (1, 1) \
     ON CONFLICT (one) DO UPDATE SET version = phrasings_version.version + 1";

const TAUGHT_COLUMNS: &str = "id, year, entry_id, lang, phrasing, taught_by_channel, \
     taught_by_user, taught_by_name, taught_at, removed_by_channel, removed_by_user, \
     removed_by_name, removed_at";

fn taught(row: TaughtRow) -> Taught {
    let (id, year, entry_id, lang, phrasing, bc, bu, bn, at, rc, ru, rn, rat) = row;
    Taught {
        id,
        year: i32::try_from(year).unwrap_or_default(),
        entry_id,
        lang: Lang::from_code(&lang).unwrap_or(Lang::Zh),
        phrasing,
        by: Actor {
            channel: bc,
            user_id: bu,
            name: bn,
        },
        at,
        removed: rat.map(|at| {
            (
                Actor {
                    channel: rc.unwrap_or_default(),
                    user_id: ru.unwrap_or_default(),
                    name: rn.unwrap_or_default(),
                },
                at,
            )
        }),
    }
}

/// The key a question is stored and grouped under, exactly as `record_unanswered` computes it
/// (masked, trimmed, cut, whitespace collapsed, lowercased).
pub fn stored_key(question: &str) -> String {
    let masked = crate::privacy::mask(question.trim());
    let cut: String = masked.chars().take(super::MAX_QUESTION_CHARS).collect();
    super::question_key(&cut)
}

impl Store {
    // ---- taught phrasings ----------------------------------------------------------------------

    /// Stores `phrasing` as another way to ask `entry_id` of the list of `year`, and bumps the
    /// version every replica polls.
    pub async fn teach(
        &self,
        year: i32,
        entry_id: &str,
        lang: Lang,
        phrasing: &str,
        by: &Actor,
    ) -> Result<TeachOutcome, StoreError> {
        let key = super::question_key(phrasing);
        let outcome = in_tx!(self, |tx, _sql| {
            let existing: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM taught_phrasings WHERE year = $1 AND entry_id = $2 \
                 AND phrasing_key = $3 AND removed_at IS NULL",
            )
            .bind(i64::from(year))
            .bind(entry_id)
            .bind(key.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            match existing {
                Some(id) => TeachOutcome::AlreadyTaught(id),
                None => {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO taught_phrasings (year, entry_id, lang, phrasing, \
                         phrasing_key, taught_by_channel, taught_by_user, taught_by_name, \
                         taught_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                    )
                    .bind(i64::from(year))
                    .bind(entry_id)
                    .bind(lang.code())
                    .bind(phrasing)
                    .bind(key.as_str())
                    .bind(by.channel.as_str())
                    .bind(by.user_id.as_str())
                    .bind(by.name.as_str())
                    .bind(now_ms())
                    .fetch_one(&mut *tx)
                    .await?;
                    sqlx::query(BUMP_VERSION).execute(&mut *tx).await?;
                    TeachOutcome::Taught(id)
                }
            }
        });
        Ok(outcome)
    }

    /// Takes a live phrasing out of use (the row stays, with who removed it and when); the
    /// phrasing as it was, or `None` when there is no live phrasing `id`.
    pub async fn unteach(&self, id: i64, by: &Actor) -> Result<Option<Taught>, StoreError> {
        let row: Option<TaughtRow> = in_tx!(self, |tx, _sql| {
            let row: Option<TaughtRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE taught_phrasings SET removed_by_channel = $2, removed_by_user = $3, \
                 removed_by_name = $4, removed_at = $5 WHERE id = $1 AND removed_at IS NULL \
                 RETURNING {TAUGHT_COLUMNS}"
            )))
            .bind(id)
            .bind(by.channel.as_str())
            .bind(by.user_id.as_str())
            .bind(by.name.as_str())
            .bind(now_ms())
            .fetch_optional(&mut *tx)
            .await?;
            if row.is_some() {
                sqlx::query(BUMP_VERSION).execute(&mut *tx).await?;
            }
            row
        });
        Ok(row.map(taught))
    }

    /// Every phrasing in use, oldest first.
    pub async fn taught_phrasings(&self) -> Result<Vec<Taught>, StoreError> {
        let rows: Vec<TaughtRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {TAUGHT_COLUMNS} FROM taught_phrasings WHERE removed_at IS NULL ORDER BY id"
            )))
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(taught).collect())
    }

    /// Every phrasing ever taught, removed ones included, newest first: the record.
    pub async fn teaching_record(&self, limit: u32) -> Result<Vec<Taught>, StoreError> {
        let rows: Vec<TaughtRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {TAUGHT_COLUMNS} FROM taught_phrasings ORDER BY id DESC LIMIT $1"
            )))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(taught).collect())
    }

    /// A number that changes whenever a phrasing is taught or removed: cheap to poll.
    pub async fn phrasings_version(&self) -> Result<i64, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar("SELECT version FROM phrasings_version WHERE one = 1")
                .fetch_optional(pool)
                .await?
                .unwrap_or(0)
        }))
    }

    // ---- the queue -----------------------------------------------------------------------------

    /// Unanswered questions grouped by key, those with picks and 👎 first, then the most asked
    /// and most recent; questions already taught as a live phrasing are left out.
    pub async fn teach_queue(&self, limit: u32) -> Result<Vec<QueuedQuestion>, StoreError> {
        let rows: Vec<(String, i64, String, i64, i64, i64)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT question_key, MIN(id), MIN(question), COUNT(*), MAX(last_at), \
                 COUNT(picked) + COUNT(disliked) AS evidence \
                 FROM unanswered u WHERE NOT EXISTS (SELECT 1 FROM taught_phrasings t \
                 WHERE t.phrasing_key = u.question_key AND t.removed_at IS NULL) \
                 GROUP BY question_key \
                 ORDER BY evidence DESC, COUNT(*) DESC, MAX(last_at) DESC, question_key LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        let mut out = Vec::with_capacity(rows.len());
        for (key, row_id, question, asked, last_at, evidence) in rows {
            let (mut picked, mut disliked) = (Vec::new(), Vec::new());
            if evidence > 0 {
                let marks: Vec<(Option<String>, Option<String>, i64)> = on_pool!(self, pool => {
                    sqlx::query_as(
                        "SELECT picked, disliked, COUNT(*) FROM unanswered \
                         WHERE question_key = $1 AND (picked IS NOT NULL OR disliked IS NOT NULL) \
                         GROUP BY picked, disliked ORDER BY COUNT(*) DESC, picked, disliked",
                    )
                    .bind(key.as_str())
                    .fetch_all(pool)
                    .await?
                });
                for (p, d, n) in marks {
                    let add = |v: &mut Vec<(String, i64)>, id: String| match v
                        .iter_mut()
                        .find(|(x, _)| *x == id)
                    {
                        Some((_, c)) => *c += n,
                        None => v.push((id, n)),
                    };
                    if let Some(p) = p {
                        add(&mut picked, p);
                    }
                    if let Some(d) = d {
                        add(&mut disliked, d);
                    }
                }
            }
            out.push(QueuedQuestion {
                row_id,
                question,
                key,
                asked,
                last_at,
                picked,
                disliked,
            });
        }
        Ok(out)
    }

    /// The question of unanswered row `id`, if it is still kept.
    pub async fn unanswered_question(&self, id: i64) -> Result<Option<String>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar("SELECT question FROM unanswered WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// The user's latest unanswered question asked (or repeated) at or after `since_ms`.
    pub async fn latest_unanswered(
        &self,
        channel: &str,
        user_id: &str,
        since_ms: i64,
    ) -> Result<Option<(i64, String)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, question FROM unanswered WHERE channel = $1 AND user_id = $2 \
                 AND last_at >= $3 ORDER BY last_at DESC, id DESC LIMIT 1",
            )
            .bind(channel)
            .bind(user_id)
            .bind(since_ms)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Notes that the asker of unanswered row `id` picked `entry_id` from "did you mean".
    pub async fn record_pick(&self, id: i64, entry_id: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE unanswered SET picked = $2 WHERE id = $1")
                .bind(id)
                .bind(entry_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Puts a question whose answer (`entry_id`) the asker marked 👎 in the queue, masked and
    /// bounded like any unanswered question.
    pub async fn record_disliked(
        &self,
        channel: &str,
        user_id: &str,
        question: &str,
        entry_id: &str,
    ) -> Result<(), StoreError> {
        self.record_unanswered(channel, user_id, question).await?;
        on_pool!(self, pool => {
            sqlx::query(
                "UPDATE unanswered SET disliked = $4 \
                 WHERE channel = $1 AND user_id = $2 AND question_key = $3",
            )
            .bind(channel)
            .bind(user_id)
            .bind(stored_key(question).as_str())
            .bind(entry_id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Remembers which unanswered rows an editor's `/unanswered` numbered, in order.
    pub async fn save_editor_view(
        &self,
        channel: &str,
        user_id: &str,
        row_ids: &[i64],
    ) -> Result<(), StoreError> {
        let ids = row_ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO editor_views (channel, user_id, row_ids, shown_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (channel, user_id) \
                 DO UPDATE SET row_ids = excluded.row_ids, shown_at = excluded.shown_at",
            )
            .bind(channel)
            .bind(user_id)
            .bind(ids.as_str())
            .bind(now_ms())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The unanswered row ids an editor's last `/unanswered` numbered 1, 2, …
    pub async fn editor_view(
        &self,
        channel: &str,
        user_id: &str,
    ) -> Result<Option<Vec<i64>>, StoreError> {
        let ids: Option<String> = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT row_ids FROM editor_views WHERE channel = $1 AND user_id = $2",
            )
            .bind(channel)
            .bind(user_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(ids.map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect()))
    }

    // ---- editors -------------------------------------------------------------------------------

    /// Lets (`channel`, `user_id`) teach phrasings; audited as a grant by `by`.
    pub async fn grant_editor(
        &self,
        channel: &str,
        user_id: &str,
        by: &Actor,
    ) -> Result<(), StoreError> {
        let at = now_ms();
        let note = format!("grant editor {channel}:{user_id}");
        in_tx!(self, |tx, sql| {
            lock_chain!(tx, sql);
            sqlx::query(
                "INSERT INTO editors (channel, user_id, granted_by_channel, granted_by_user, \
                 granted_by_name, granted_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (channel, user_id) DO UPDATE SET \
                 granted_by_channel = excluded.granted_by_channel, \
                 granted_by_user = excluded.granted_by_user, \
                 granted_by_name = excluded.granted_by_name, granted_at = excluded.granted_at",
            )
            .bind(channel)
            .bind(user_id)
            .bind(by.channel.as_str())
            .bind(by.user_id.as_str())
            .bind(by.name.as_str())
            .bind(at)
            .execute(&mut *tx)
            .await?;
            let id = insert_officer_audit!(tx, "grant", by, note.as_str(), at);
            seal_chain!(tx, [id]);
        });
        Ok(())
    }

    /// Withdraws an editor grant, audited as a revoke by `by`; true if there was one.
    pub async fn revoke_editor(
        &self,
        channel: &str,
        user_id: &str,
        by: &Actor,
    ) -> Result<bool, StoreError> {
        self.revoke_row(
            "DELETE FROM editors WHERE channel = $1 AND user_id = $2",
            format!("revoke editor {channel}:{user_id}"),
            channel,
            user_id,
            by,
        )
        .await
    }

    pub async fn is_editor(&self, channel: &str, user_id: &str) -> Result<bool, StoreError> {
        let n: i64 = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM editors WHERE channel = $1 AND user_id = $2")
                .bind(channel)
                .bind(user_id)
                .fetch_one(pool)
                .await?
        });
        Ok(n > 0)
    }

    /// Every editor grant, by channel then user id.
    pub async fn editors(&self) -> Result<Vec<Editor>, StoreError> {
        let rows: Vec<(String, String, String, String, i64)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT channel, user_id, granted_by_channel || ':' || granted_by_user, \
                 granted_by_name, granted_at FROM editors ORDER BY channel, user_id",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(channel, user_id, by, name, granted_at)| Editor {
                channel,
                user_id,
                granted_by: if name.is_empty() { by } else { name },
                granted_at,
            })
            .collect())
    }
}
