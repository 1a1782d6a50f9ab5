//! The record: stable item ids and the catalogue sync's checks, the audit hash chain and its
//! verification. A child of `db` so it shares its transaction macros and dialects.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::{Dialect, POSTGRES, SQLITE, Store, StoreError, now_ms};
use crate::knowledge::{Lists, Task};
use crate::units::Unit;

/// Every column the hash covers, in the order of [`ChainRow`].
macro_rules! chain_columns {
    () => {
        "id, kind, task, number, item_id, actor_channel, actor_user, actor_name, old_value, \
         new_value, old_stage, new_stage, old_note, note, reverts, created_at, prev_hash, hash"
    };
}
pub(super) use chain_columns;

#[derive(sqlx::FromRow, serde::Serialize)]
pub(super) struct ChainRow {
    pub id: i64,
    pub kind: String,
    pub task: i64,
    pub number: Option<i64>,
    pub item_id: Option<String>,
    pub actor_channel: String,
    pub actor_user: String,
    pub actor_name: String,
    pub old_value: Option<f64>,
    pub new_value: Option<f64>,
    pub old_stage: Option<String>,
    pub new_stage: Option<String>,
    pub old_note: Option<String>,
    pub note: Option<String>,
    pub reverts: Option<i64>,
    pub created_at: i64,
    #[serde(skip)]
    pub prev_hash: Option<String>,
    #[serde(skip)]
    pub hash: Option<String>,
}

impl ChainRow {
    /// SHA-256 (hex) of `prev` and the row's canonical serialisation: a JSON array of every
    /// column in a fixed order (numbers as serde_json writes them, which round-trips).
    pub fn hash_after(&self, prev: &str) -> String {
        let canonical = serde_json::json!([
            self.id,
            self.kind,
            self.task,
            self.number,
            self.item_id,
            self.actor_channel,
            self.actor_user,
            self.actor_name,
            self.old_value,
            self.new_value,
            self.old_stage,
            self.new_stage,
            self.old_note,
            self.note,
            self.reverts,
            self.created_at,
        ]);
        let mut h = Sha256::new();
        h.update(prev.as_bytes());
        h.update(b"\n");
        h.update(canonical.to_string().as_bytes());
        hex(&h.finalize())
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Takes the chain head (the lock every audited write holds first) in transaction `$tx`.
macro_rules! lock_chain {
    ($tx:ident, $sql:ident) => {{
        let _head: (i64,) = sqlx::query_as($sql.lock_head).fetch_one(&mut *$tx).await?;
    }};
}
pub(super) use lock_chain;

/// Seals the audit rows `$ids` (inserted by this transaction, ascending) onto the chain, after
/// any rows written before the chain existed (so the first write after the migration, the
/// start-up catalogue sync, seals them once it has given them their item ids). Requires [`lock_chain!`] earlier in `$tx`.
macro_rules! seal_chain {
    ($tx:ident, $ids:expr) => {{
        let (mut last_id, mut prev, legacy_max): (i64, String, i64) =
            sqlx::query_as("SELECT last_id, hash, legacy_max FROM audit_head WHERE one = 1")
                .fetch_one(&mut *$tx)
                .await?;
        let mut rows: Vec<$crate::store::db::record::ChainRow> = Vec::new();
        if last_id < legacy_max {
            rows = sqlx::query_as(concat!(
                "SELECT ",
                chain_columns!(),
                " FROM audit WHERE id > $1 AND id <= $2 ORDER BY id"
            ))
            .bind(last_id)
            .bind(legacy_max)
            .fetch_all(&mut *$tx)
            .await?;
        }
        for id in $ids {
            let row: $crate::store::db::record::ChainRow = sqlx::query_as(concat!(
                "SELECT ",
                chain_columns!(),
                " FROM audit WHERE id = $1"
            ))
            .bind(id)
            .fetch_one(&mut *$tx)
            .await?;
            rows.push(row);
        }
        for row in &rows {
            let hash = row.hash_after(&prev);
            sqlx::query("UPDATE audit SET prev_hash = $1, hash = $2 WHERE id = $3")
                .bind(prev.as_str())
                .bind(hash.as_str())
                .bind(row.id)
                .execute(&mut *$tx)
                .await?;
            prev = hash;
            last_id = row.id;
        }
        if !rows.is_empty() {
            sqlx::query("UPDATE audit_head SET last_id = $1, hash = $2 WHERE one = 1")
                .bind(last_id)
                .bind(prev.as_str())
                .execute(&mut *$tx)
                .await?;
        }
    }};
}
pub(super) use seal_chain;

const INSERT_AUDIT_ROW: &str = "INSERT INTO audit (kind, task, number, item_id, actor_channel, \
     actor_user, actor_name, old_value, new_value, note, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";

/// A catalogue item as stored.
#[derive(sqlx::FromRow)]
struct StoredItem {
    year: i64,
    task: i64,
    number: i64,
    item_id: Option<String>,
    kind: String,
    name_zh: String,
    name_en: String,
    target: Option<f64>,
    unit: Option<String>,
    current_value: Option<f64>,
    stage: Option<String>,
    updated_at: Option<i64>,
}

impl StoredItem {
    fn has_progress(&self) -> bool {
        self.current_value.is_some() || self.stage.is_some() || self.updated_at.is_some()
    }
}

const STORED_ITEMS: &str = "SELECT year, task, number, item_id, kind, name_zh, name_en, target, \
     unit, current_value, stage, updated_at FROM metrics ORDER BY year, task, number";

/// The same from a store before migration 0005 (no item ids yet: the sync maps them).
const STORED_ITEMS_BEFORE_IDS: &str = "SELECT CAST(0 AS BIGINT) AS year, task, number, CAST(NULL AS TEXT) AS item_id, kind, \
     name_zh, name_en, target, unit, current_value, stage, updated_at FROM metrics \
     ORDER BY task, number";

/// The same from a store before migration 0010 (one list, no years: the sync gives them).
const STORED_ITEMS_BEFORE_YEARS: &str = "SELECT CAST(0 AS BIGINT) AS year, task, number, item_id, kind, name_zh, \
     name_en, target, unit, current_value, stage, updated_at FROM metrics ORDER BY task, number";

/// The migration that added item ids.
const ITEM_ID_MIGRATION: i64 = 5;
/// The migration that added years.
const YEARS_MIGRATION: i64 = 10;

/// A catalogue item as faq/ has it.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct FaqItem {
    year: i32,
    task: u32,
    number: u32,
    id: String,
    kind: &'static str,
    name_zh: String,
    name_en: String,
    target: Option<f64>,
    unit: Option<String>,
    retired: bool,
}

/// Every item of every list, oldest list first.
fn faq_items(lists: &Lists) -> Vec<FaqItem> {
    let mut items = Vec::new();
    for (year, t) in lists
        .iter()
        .flat_map(|k| k.tasks.iter().map(|t| (k.period.year, t)))
    {
        for m in &t.metrics {
            items.push(FaqItem {
                year,
                task: t.number,
                number: m.number,
                id: m.id.clone(),
                kind: "metric",
                name_zh: m.name.zh.clone(),
                name_en: m.name.en.clone(),
                target: Some(m.target),
                unit: Some(m.unit.to_string()),
                retired: m.retired,
            });
        }
        for g in &t.milestones {
            items.push(FaqItem {
                year,
                task: t.number,
                number: g.number,
                id: g.id.clone(),
                kind: "milestone",
                name_zh: g.name.zh.clone(),
                name_en: g.name.en.clone(),
                target: None,
                unit: None,
                retired: g.retired,
            });
        }
    }
    items
}

/// The faq/ revision a catalogue change came from: a digest of the catalogue itself.
fn revision(items: &[FaqItem]) -> String {
    let text = serde_json::to_string(items).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(text.as_bytes());
    let full = hex(&h.finalize());
    full.chars().take(12).collect()
}

/// A change of target, unit or name, to be audited.
struct CatalogueChange {
    year: i32,
    task: u32,
    number: u32,
    item_id: String,
    old_target: Option<f64>,
    new_target: Option<f64>,
    note: String,
}

/// What a sync will do, decided before anything is written.
#[derive(Default)]
struct SyncPlan {
    /// Rows of an older store given their item id, at their old (year, task, number).
    map_ids: Vec<(i64, i64, i64, String)>,
    /// Rows without progress whose item left faq/ (their task still in faq/), by
    /// (year, task, number).
    deletes: Vec<(i64, i64, i64)>,
    /// Items already stored, to be moved to their faq/ position and refreshed.
    updates: Vec<FaqItem>,
    inserts: Vec<FaqItem>,
    changes: Vec<CatalogueChange>,
}

fn fmt_opt(v: Option<&str>) -> &str {
    v.unwrap_or("—")
}

fn fmt_target(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |v| v.to_string())
}

fn plan_sync(stored: &[StoredItem], items: &[FaqItem]) -> Result<SyncPlan, StoreError> {
    // Rows from before years were kept (year 0) belong to the one list a store held then: the
    // oldest in faq/. Rows from before item ids are mapped by their position in it.
    let oldest = items.iter().map(|i| i64::from(i.year)).min().unwrap_or(0);
    let by_pos: HashMap<(i64, i64, i64), &FaqItem> = items
        .iter()
        .map(|i| {
            (
                (i64::from(i.year), i64::from(i.task), i64::from(i.number)),
                i,
            )
        })
        .collect();
    let by_id: HashMap<&str, &FaqItem> = items.iter().map(|i| (i.id.as_str(), i)).collect();
    let faq_tasks: HashSet<(i64, i64)> = items
        .iter()
        .map(|i| (i64::from(i.year), i64::from(i.task)))
        .collect();
    let mut taken: HashSet<String> = stored.iter().filter_map(|s| s.item_id.clone()).collect();
    let mut plan = SyncPlan::default();
    let mut seen: HashSet<String> = HashSet::new();
    for s in stored {
        let id = match &s.item_id {
            Some(id) => Some(id.clone()),
            None => {
                match by_pos.get(&(if s.year == 0 { oldest } else { s.year }, s.task, s.number)) {
                    Some(item) if !taken.contains(&item.id) => {
                        taken.insert(item.id.clone());
                        plan.map_ids
                            .push((s.year, s.task, s.number, item.id.clone()));
                        Some(item.id.clone())
                    }
                    _ => None,
                }
            }
        };
        let task = u32::try_from(s.task).unwrap_or(0);
        // A row mapped by this sync is named by its stored position too: that is what the
        // store knows it as.
        let label = match (&id, &s.item_id) {
            (Some(id), Some(_)) => id.clone(),
            (Some(id), None) => format!("{}.{} (mapped to {id})", s.task, s.number),
            (None, _) => format!("{}.{}", s.task, s.number),
        };
        let Some(item) = id.as_deref().and_then(|id| by_id.get(id)) else {
            if s.has_progress() {
                return Err(StoreError::Catalogue {
                    task,
                    item: label,
                    reason: "has recorded progress but is no longer in faq/; keep it there \
                             with `retired = true`"
                        .into(),
                });
            }
            let year = if s.year == 0 { oldest } else { s.year };
            if faq_tasks.contains(&(year, s.task)) {
                plan.deletes.push((s.year, s.task, s.number));
            }
            continue;
        };
        seen.insert(item.id.clone());
        if s.has_progress() {
            let same_dimension = match (s.kind.as_str(), item.kind) {
                ("milestone", "milestone") => true,
                ("metric", "metric") => {
                    let old = s.unit.as_deref().and_then(Unit::parse);
                    let new = item.unit.as_deref().and_then(Unit::parse);
                    matches!((old, new), (Some(a), Some(b)) if a.dimension == b.dimension)
                }
                _ => false,
            };
            if !same_dimension {
                return Err(StoreError::Catalogue {
                    task,
                    item: label,
                    reason: format!(
                        "has recorded progress in {} ({}) but faq/ makes it {} ({}): a \
                         different dimension would misread every recorded value",
                        fmt_opt(s.unit.as_deref()),
                        s.kind,
                        fmt_opt(item.unit.as_deref()),
                        item.kind
                    ),
                });
            }
        }
        let mut notes = Vec::new();
        if s.target != item.target {
            notes.push(format!(
                "target {} → {}",
                fmt_target(s.target),
                fmt_target(item.target)
            ));
        }
        if s.unit != item.unit {
            notes.push(format!(
                "unit {} → {}",
                fmt_opt(s.unit.as_deref()),
                fmt_opt(item.unit.as_deref())
            ));
        }
        if s.name_zh != item.name_zh {
            notes.push(format!("name_zh {} → {}", s.name_zh, item.name_zh));
        }
        if s.name_en != item.name_en {
            notes.push(format!("name_en {} → {}", s.name_en, item.name_en));
        }
        if !notes.is_empty() {
            plan.changes.push(CatalogueChange {
                year: item.year,
                task: item.task,
                number: item.number,
                item_id: item.id.clone(),
                old_target: s.target,
                new_target: item.target,
                note: notes.join("; "),
            });
        }
        plan.updates.push((*item).clone());
    }
    plan.inserts = items
        .iter()
        .filter(|i| !seen.contains(&i.id))
        .cloned()
        .collect();
    Ok(plan)
}

const UPSERT_TASK: &str = "INSERT INTO tasks (year, number, id, title_zh, title_en, synced_at) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (year, number) DO UPDATE SET id = excluded.id, title_zh = excluded.title_zh, \
     title_en = excluded.title_en, synced_at = excluded.synced_at";

const REFRESH_ITEM: &str = "UPDATE metrics SET task = $2, number = $3, kind = $4, name_zh = $5, \
     name_en = $6, target = $7, unit = $8, retired = $9, year = $10 WHERE item_id = $1";

const INSERT_ITEM: &str = "INSERT INTO metrics (item_id, task, number, kind, name_zh, name_en, \
     target, unit, retired, year) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// The first row of the audit trail that fails the hash chain, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The row named: changed, inserted by hand, or the first row after a removed one.
    pub id: i64,
    pub reason: String,
}

impl Store {
    /// Makes the stored catalogue match `faq/`, keyed on each item's stable id: new items are
    /// inserted, known ones moved to their faq/ position and refreshed (a change of target,
    /// unit or name is audited as a `catalogue` row), and rows of an older store get their id
    /// once from the faq/ item at their (task, number). Recorded progress is never touched.
    ///
    /// Refuses with [`StoreError::Catalogue`], changing nothing, a faq/ that drops an item with
    /// recorded progress (unless it stays, `retired = true`) or changes the dimension of one.
    pub async fn sync_catalogue(&self, lists: &Lists) -> Result<(), StoreError> {
        let items = faq_items(lists);
        let rev = revision(&items);
        let now = now_ms();
        // Collected first: an iterator chain held across the awaits below would not be Send.
        let tasks: Vec<(i32, &Task)> = lists
            .iter()
            .flat_map(|k| k.tasks.iter().map(|t| (k.period.year, t)))
            .collect();
        in_tx!(self, |tx, sql| {
            lock_chain!(tx, sql);
            let stored: Vec<StoredItem> = sqlx::query_as(STORED_ITEMS).fetch_all(&mut *tx).await?;
            let plan = plan_sync(&stored, &items)?;
            for (year, task) in &tasks {
                sqlx::query(UPSERT_TASK)
                    .bind(i64::from(*year))
                    .bind(i64::from(task.number))
                    .bind(task.id.as_str())
                    .bind(task.title.zh.as_str())
                    .bind(task.title.en.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            // Tasks of a store from before years: their rows are now under their year.
            sqlx::query("DELETE FROM tasks WHERE year = 0")
                .execute(&mut *tx)
                .await?;
            for (year, task, number, id) in &plan.map_ids {
                sqlx::query(
                    "UPDATE metrics SET item_id = $3 WHERE year = $4 AND task = $1 AND number = $2",
                )
                .bind(task)
                .bind(number)
                .bind(id.as_str())
                .bind(year)
                .execute(&mut *tx)
                .await?;
                // Audit rows written before ids existed, not yet sealed into the chain.
                sqlx::query(
                    "UPDATE audit SET item_id = $3 WHERE task = $1 AND number = $2 \
                     AND item_id IS NULL AND id > (SELECT last_id FROM audit_head) \
                     AND id <= (SELECT legacy_max FROM audit_head)",
                )
                .bind(task)
                .bind(number)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            }
            for (year, task, number) in &plan.deletes {
                sqlx::query("DELETE FROM metrics WHERE year = $1 AND task = $2 AND number = $3")
                    .bind(year)
                    .bind(task)
                    .bind(number)
                    .execute(&mut *tx)
                    .await?;
            }
            // Out of the way first, so no two items ever share a position mid-move.
            for item in &plan.updates {
                sqlx::query("UPDATE metrics SET number = -1 - number WHERE item_id = $1")
                    .bind(item.id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            // Known items get their new position and catalogue columns, then new ones are
            // added: both statements take the same parameters.
            for (sql, items) in [(REFRESH_ITEM, &plan.updates), (INSERT_ITEM, &plan.inserts)] {
                for item in items {
                    sqlx::query(sql)
                        .bind(item.id.as_str())
                        .bind(i64::from(item.task))
                        .bind(i64::from(item.number))
                        .bind(item.kind)
                        .bind(item.name_zh.as_str())
                        .bind(item.name_en.as_str())
                        .bind(item.target)
                        .bind(item.unit.as_deref())
                        .bind(i64::from(item.retired))
                        .bind(i64::from(item.year))
                        .execute(&mut *tx)
                        .await?;
                }
            }
            let mut ids = Vec::new();
            for c in &plan.changes {
                let id: i64 = sqlx::query_scalar(INSERT_AUDIT_ROW)
                    .bind("catalogue")
                    .bind(i64::from(c.task))
                    .bind(Some(i64::from(c.number)))
                    .bind(Some(c.item_id.as_str()))
                    .bind("faq")
                    .bind(rev.as_str())
                    .bind("faq/")
                    .bind(c.old_target)
                    .bind(c.new_target)
                    .bind(Some(c.note.as_str()))
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                ids.push(id);
            }
            seal_chain!(tx, ids);
        });
        Ok(())
    }

    /// Opens an existing store to read it only: no migrations, nothing written (SQLite opens
    /// the file read-only). For `minsheng check-faq --against`.
    pub async fn open_read_only(url: &str) -> Result<Store, StoreError> {
        use std::str::FromStr as _;
        let url = url.trim();
        let scheme = url
            .split_once(':')
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("sqlite") => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                    .read_only(true)
                    .create_if_missing(false);
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await?;
                Ok(Store::Sqlite(pool))
            }
            Some("postgres" | "postgresql") => {
                let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await?;
                Ok(Store::Postgres(pool))
            }
            _ => Err(StoreError::Url(super::redact(url))),
        }
    }

    /// The checks of [`Store::sync_catalogue`] without writing anything (`minsheng check-faq
    /// --against`): the catalogue changes it would record, or the refusal. Works on a store
    /// of an older version too, as its first sync would see it.
    pub async fn check_catalogue(&self, lists: &Lists) -> Result<Vec<String>, StoreError> {
        let items = faq_items(lists);
        let stored: Vec<StoredItem> = on_pool!(self, pool => {
            let version: Option<i64> =
                sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                    .fetch_one(pool)
                    .await?;
            let sql = match version.unwrap_or(0) {
                v if v >= YEARS_MIGRATION => STORED_ITEMS,
                v if v >= ITEM_ID_MIGRATION => STORED_ITEMS_BEFORE_YEARS,
                _ => STORED_ITEMS_BEFORE_IDS,
            };
            sqlx::query_as(sql).fetch_all(pool).await?
        });
        let plan = plan_sync(&stored, &items)?;
        let mut out: Vec<String> = plan
            .changes
            .iter()
            .map(|c| {
                format!(
                    "{} {}.{} {}: {}",
                    c.year, c.task, c.number, c.item_id, c.note
                )
            })
            .collect();
        out.extend(
            plan.inserts
                .iter()
                .map(|i| format!("{} {}.{} {}: new", i.year, i.task, i.number, i.id)),
        );
        Ok(out)
    }

    /// Audits a change of the administrators (`ADMIN_IDS`, as `channel:user_id`) since the
    /// last start: one `admin` row per id added or removed.
    pub async fn sync_admins(&self, admins: &[(String, String)]) -> Result<(), StoreError> {
        let now = now_ms();
        in_tx!(self, |tx, sql| {
            lock_chain!(tx, sql);
            let stored: Vec<(String, String)> =
                sqlx::query_as("SELECT channel, user_id FROM admins ORDER BY channel, user_id")
                    .fetch_all(&mut *tx)
                    .await?;
            let now_set: HashSet<&(String, String)> = admins.iter().collect();
            let old_set: HashSet<&(String, String)> = stored.iter().collect();
            let mut ids = Vec::new();
            for (who, added) in admins
                .iter()
                .filter(|a| !old_set.contains(a))
                .map(|a| (a, true))
                .chain(
                    stored
                        .iter()
                        .filter(|a| !now_set.contains(a))
                        .map(|a| (a, false)),
                )
            {
                if added {
                    sqlx::query(
                        "INSERT INTO admins (channel, user_id) VALUES ($1, $2) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(who.0.as_str())
                    .bind(who.1.as_str())
                    .execute(&mut *tx)
                    .await?;
                } else {
                    sqlx::query("DELETE FROM admins WHERE channel = $1 AND user_id = $2")
                        .bind(who.0.as_str())
                        .bind(who.1.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                let note = format!(
                    "{} admin {}:{}",
                    if added { "added" } else { "removed" },
                    who.0,
                    who.1
                );
                let id: i64 = sqlx::query_scalar(INSERT_AUDIT_ROW)
                    .bind("admin")
                    .bind(0_i64)
                    .bind(None::<i64>)
                    .bind(None::<&str>)
                    .bind("config")
                    .bind("ADMIN_IDS")
                    .bind("ADMIN_IDS")
                    .bind(None::<f64>)
                    .bind(None::<f64>)
                    .bind(Some(note.as_str()))
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                ids.push(id);
            }
            seal_chain!(tx, ids);
        });
        Ok(())
    }

    /// Walks the audit trail's hash chain: `None` if every row is as written, otherwise the
    /// first row that was changed, inserted by hand or follows a removed row.
    pub async fn verify_audit(&self) -> Result<Option<ChainBreak>, StoreError> {
        let (rows, head): (Vec<ChainRow>, (i64, String, i64)) = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let rows =
                sqlx::query_as(concat!("SELECT ", chain_columns!(), " FROM audit ORDER BY id"))
                    .fetch_all(&mut *tx)
                    .await?;
            let head = sqlx::query_as("SELECT last_id, hash, legacy_max FROM audit_head WHERE one = 1")
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            (rows, head)
        });
        let mut prev = String::new();
        let mut prev_id = 0;
        for row in &rows {
            let Some(stored) = row.hash.as_deref() else {
                if row.id > head.0 && row.id <= head.2 {
                    // Written before the chain existed; sealed by the next start (after its
                    // item ids are mapped), nothing to check yet.
                    continue;
                }
                return Ok(Some(ChainBreak {
                    id: row.id,
                    reason: "not sealed: inserted or altered outside minsheng".into(),
                }));
            };
            if row.prev_hash.as_deref() != Some(prev.as_str()) {
                return Ok(Some(ChainBreak {
                    id: row.id,
                    reason: format!(
                        "does not follow row {prev_id}: a row between them was removed, or \
                         this row's chain link was edited"
                    ),
                }));
            }
            if row.hash_after(&prev) != stored {
                return Ok(Some(ChainBreak {
                    id: row.id,
                    reason: "changed after it was written".into(),
                }));
            }
            prev = stored.to_string();
            prev_id = row.id;
        }
        if head.0 > prev_id {
            return Ok(Some(ChainBreak {
                id: head.0,
                reason: format!("removed: the trail ends at row {prev_id}"),
            }));
        }
        if head.1 != prev {
            return Ok(Some(ChainBreak {
                id: prev_id,
                reason: "does not match the chain head: changed after it was written".into(),
            }));
        }
        Ok(None)
    }
}
