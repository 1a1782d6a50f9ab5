//! Backup, restore and moving a store between SQLite and PostgreSQL. A child of `db`.
//!
//! Every table the migrations created is copied whole (found by asking the database, so tables
//! added by later migrations come along), row by row in primary-key order, with its ids, so
//! undo links and the audit hash chain survive. Values cross as JSON: integers, floats (which
//! serde_json writes so they read back exactly), text and null.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

use serde_json::Value;
use sqlx::{AssertSqlSafe, Row};

use super::{Dialect, POSTGRES, SQLITE, Store, StoreError};

/// One table's rows, each a map from column to value.
pub type TableRows = Vec<BTreeMap<String, Value>>;
/// Every table of a store (bar sqlx's own bookkeeping), by name.
pub type Dump = BTreeMap<String, TableRows>;

/// The first line of a JSON-lines dump.
const DUMP_HEADER: &str = "minsheng-dump";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Int8,
    Int4,
    Bool,
    Real,
    Text,
}

fn ty(declared: &str) -> Ty {
    let d = declared.to_ascii_lowercase();
    // SQLite's INTEGER is 64-bit; PostgreSQL's `integer` is 32-bit (the caller tells them
    // apart).
    if d == "integer" || d.contains("bigint") || d.contains("int8") {
        Ty::Int8
    } else if d.contains("int") {
        Ty::Int4
    } else if d.contains("bool") {
        Ty::Bool
    } else if d.contains("real") || d.contains("double") || d.contains("float") {
        Ty::Real
    } else {
        Ty::Text
    }
}

const SQLITE_TABLES: &str = "SELECT name FROM sqlite_master WHERE type = 'table' \
     AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name";
const SQLITE_COLUMNS: &str = "SELECT name, type FROM pragma_table_info($1) ORDER BY cid";
const PG_TABLES: &str = "SELECT table_name::text FROM information_schema.tables \
     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
     AND table_name <> '_sqlx_migrations' ORDER BY table_name";
const PG_COLUMNS: &str = "SELECT column_name::text, data_type::text FROM information_schema.columns \
     WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position";

/// Table names come only from the database's own catalogue; refuse anything else before it is
/// put into a statement.
fn plain_name(name: &str) -> Result<&str, StoreError> {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        Ok(name)
    } else {
        Err(StoreError::Other(format!(
            "unexpected table or column name `{name}`"
        )))
    }
}

/// Parents first (metrics refer to tasks); then by name.
fn table_order(mut tables: Vec<String>) -> Vec<String> {
    tables.sort_by_key(|t| (t != "tasks", t.clone()));
    tables
}

impl Store {
    /// The tables and their columns with types.
    async fn schema(&self) -> Result<Vec<(String, Vec<(String, Ty)>)>, StoreError> {
        let mut out = Vec::new();
        match self {
            Store::Sqlite(pool) => {
                let tables: Vec<String> = sqlx::query_scalar(SQLITE_TABLES).fetch_all(pool).await?;
                for t in table_order(tables) {
                    let cols: Vec<(String, String)> = sqlx::query_as(SQLITE_COLUMNS)
                        .bind(t.as_str())
                        .fetch_all(pool)
                        .await?;
                    let cols = cols
                        .into_iter()
                        .map(|(c, d)| (c, ty(&d)))
                        .collect::<Vec<_>>();
                    out.push((t, cols));
                }
            }
            Store::Postgres(pool) => {
                let tables: Vec<String> = sqlx::query_scalar(PG_TABLES).fetch_all(pool).await?;
                for t in table_order(tables) {
                    let cols: Vec<(String, String)> = sqlx::query_as(PG_COLUMNS)
                        .bind(t.as_str())
                        .fetch_all(pool)
                        .await?;
                    let cols = cols
                        .into_iter()
                        .map(|(c, d)| {
                            let ty = if d == "integer" { Ty::Int4 } else { ty(&d) };
                            (c, ty)
                        })
                        .collect::<Vec<_>>();
                    out.push((t, cols));
                }
            }
        }
        Ok(out)
    }

    /// Every row of every table, read in one consistent snapshot (a read transaction; on
    /// PostgreSQL repeatable read), so it can run while the bot writes.
    pub async fn dump(&self) -> Result<Dump, StoreError> {
        let schema = self.schema().await?;
        let mut dump = Dump::new();
        macro_rules! read_all {
            ($tx:ident) => {
                for (table, cols) in &schema {
                    let names: Vec<&str> = cols
                        .iter()
                        .map(|(c, _)| plain_name(c))
                        .collect::<Result<_, _>>()?;
                    let sql = format!(
                        "SELECT {} FROM {} ORDER BY 1",
                        names.join(", "),
                        plain_name(table)?
                    );
                    let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut *$tx).await?;
                    let mut out = TableRows::new();
                    for row in &rows {
                        let mut map = BTreeMap::new();
                        for (i, (name, ty)) in cols.iter().enumerate() {
                            let v = match ty {
                                Ty::Int8 => row.try_get::<Option<i64>, _>(i)?.map(Value::from),
                                Ty::Int4 => row.try_get::<Option<i32>, _>(i)?.map(Value::from),
                                Ty::Bool => row
                                    .try_get::<Option<bool>, _>(i)?
                                    .map(|b| Value::from(i64::from(b))),
                                Ty::Real => row.try_get::<Option<f64>, _>(i)?.map(Value::from),
                                Ty::Text => row.try_get::<Option<String>, _>(i)?.map(Value::from),
                            };
                            map.insert(name.clone(), v.unwrap_or(Value::Null));
                        }
                        out.push(map);
                    }
                    dump.insert(table.clone(), out);
                }
            };
        }
        match self {
            Store::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                read_all!(tx);
                tx.commit().await?;
            }
            Store::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                read_all!(tx);
                tx.commit().await?;
            }
        }
        Ok(dump)
    }

    /// Whether the store holds nothing but what a fresh migration creates.
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        let dump = self.dump().await?;
        Ok(dump
            .iter()
            .all(|(table, rows)| rows.is_empty() || table == "audit_head"))
    }

    /// Writes `dump` into this store, which must be empty, in one transaction; returns the
    /// number of rows written.
    pub async fn load(&self, dump: &Dump) -> Result<u64, StoreError> {
        if !self.is_empty().await? {
            return Err(StoreError::Other(
                "the target store is not empty: restore only into a new database".into(),
            ));
        }
        let schema = self.schema().await?;
        for table in dump.keys() {
            if !schema.iter().any(|(t, _)| t == table) {
                return Err(StoreError::Other(format!(
                    "the target store has no table `{table}`: is it an older version?"
                )));
            }
        }
        let pg = matches!(self, Store::Postgres(_));
        let mut written = 0_u64;
        in_tx!(self, |tx, _sql| {
            sqlx::query("DELETE FROM audit_head")
                .execute(&mut *tx)
                .await?;
            for (table, cols) in &schema {
                let Some(rows) = dump.get(table) else {
                    continue;
                };
                // Only the columns the backup has: one from an older version leaves newer
                // columns to their defaults.
                let cols: Vec<&(String, Ty)> = match rows.first() {
                    Some(first) => cols.iter().filter(|(c, _)| first.contains_key(c)).collect(),
                    None => continue,
                };
                let names: Vec<&str> = cols
                    .iter()
                    .map(|(c, _)| plain_name(c))
                    .collect::<Result<_, _>>()?;
                let params: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
                let sql = format!(
                    "INSERT INTO {} ({}) {}VALUES ({})",
                    plain_name(table)?,
                    names.join(", "),
                    if pg { "OVERRIDING SYSTEM VALUE " } else { "" },
                    params.join(", ")
                );
                for row in rows {
                    let mut q = sqlx::query(AssertSqlSafe(sql.clone()));
                    for (name, ty) in cols.iter().copied() {
                        let v = row.get(name).unwrap_or(&Value::Null);
                        let bad =
                            || StoreError::Other(format!("{table}.{name}: unexpected value {v}"));
                        q = match ty {
                            Ty::Int8 => q.bind(match v {
                                Value::Null => None,
                                v => Some(v.as_i64().ok_or_else(bad)?),
                            }),
                            Ty::Int4 => q.bind(match v {
                                Value::Null => None,
                                v => Some(
                                    v.as_i64()
                                        .and_then(|n| i32::try_from(n).ok())
                                        .ok_or_else(bad)?,
                                ),
                            }),
                            Ty::Bool => q.bind(match v {
                                Value::Null => None,
                                Value::Bool(b) => Some(*b),
                                v => Some(v.as_i64().ok_or_else(bad)? != 0),
                            }),
                            Ty::Real => q.bind(match v {
                                Value::Null => None,
                                v => Some(v.as_f64().ok_or_else(bad)?),
                            }),
                            Ty::Text => q.bind(match v {
                                Value::Null => None,
                                v => Some(v.as_str().ok_or_else(bad)?.to_string()),
                            }),
                        };
                    }
                    q.execute(&mut *tx).await?;
                    written += 1;
                }
                if pg && cols.iter().any(|(c, ty)| c == "id" && *ty != Ty::Text) {
                    let sql = format!(
                        "SELECT setval(s, (SELECT COALESCE(MAX(id), 0) + 1 FROM {t}), false) \
                         FROM (SELECT pg_get_serial_sequence('{t}', 'id') AS s) AS x \
                         WHERE s IS NOT NULL",
                        t = plain_name(table)?
                    );
                    sqlx::query(AssertSqlSafe(sql)).execute(&mut *tx).await?;
                }
            }
            // A dump from before the chain existed: start it afresh.
            sqlx::query(
                "INSERT INTO audit_head (one, last_id, hash, legacy_max) \
                 SELECT 1, 0, '', (SELECT COALESCE(MAX(id), 0) FROM audit) \
                 WHERE NOT EXISTS (SELECT 1 FROM audit_head)",
            )
            .execute(&mut *tx)
            .await?;
        });
        Ok(written)
    }

    /// Copies every row of this store into `target` (empty; either backend).
    pub async fn copy_into(&self, target: &Store) -> Result<u64, StoreError> {
        target.load(&self.dump().await?).await
    }

    /// A consistent copy at `path` while the bot runs. SQLite: `VACUUM INTO` (a complete
    /// database file). PostgreSQL: a JSON-lines dump of every table, which [`Store::restore`]
    /// reads back into either backend. Refuses to overwrite an existing file.
    pub async fn backup(&self, path: &Path) -> Result<(), StoreError> {
        if path.exists() {
            return Err(StoreError::Other(format!(
                "{} already exists; a backup never overwrites",
                path.display()
            )));
        }
        match self {
            Store::Sqlite(pool) => {
                let target = path.to_str().ok_or_else(|| {
                    StoreError::Other("the backup path is not valid UTF-8".into())
                })?;
                sqlx::query("VACUUM INTO $1")
                    .bind(target)
                    .execute(pool)
                    .await?;
            }
            Store::Postgres(_) => {
                let dump = self.dump().await?;
                write_dump(&dump, path)?;
            }
        }
        Ok(())
    }

    /// Fills this store (empty) from a backup: a SQLite file made by [`Store::backup`] or a
    /// JSON-lines dump. Returns the number of rows restored.
    pub async fn restore(&self, path: &Path) -> Result<u64, StoreError> {
        let io = |e: std::io::Error| StoreError::Other(format!("{}: {e}", path.display()));
        let mut head = [0_u8; 16];
        let is_sqlite = {
            use std::io::Read as _;
            let mut f = std::fs::File::open(path).map_err(io)?;
            f.read(&mut head).map_err(io)? == 16 && &head == b"SQLite format 3\0"
        };
        if is_sqlite {
            let url = format!("sqlite://{}", path.display());
            let source = Store::connect(&url).await?;
            let n = source.copy_into(self).await;
            source.close().await;
            return n;
        }
        let dump = read_dump(path)?;
        self.load(&dump).await
    }
}

fn write_dump(dump: &Dump, path: &Path) -> Result<(), StoreError> {
    let io = |e: std::io::Error| StoreError::Other(format!("{}: {e}", path.display()));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io)?;
    let mut w = std::io::BufWriter::new(file);
    writeln!(w, "{}", serde_json::json!({ DUMP_HEADER: 1 })).map_err(io)?;
    for (table, rows) in dump {
        for row in rows {
            writeln!(w, "{}", serde_json::json!({ "table": table, "row": row })).map_err(io)?;
        }
        if rows.is_empty() {
            writeln!(w, "{}", serde_json::json!({ "table": table })).map_err(io)?;
        }
    }
    w.flush().map_err(io)?;
    w.get_ref().sync_all().map_err(io)?;
    Ok(())
}

fn read_dump(path: &Path) -> Result<Dump, StoreError> {
    let io = |e: std::io::Error| StoreError::Other(format!("{}: {e}", path.display()));
    let bad = |line: usize, why: &str| {
        StoreError::Other(format!("{} line {line}: {why}", path.display()))
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut dump = Dump::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io)?;
        let v: Value = serde_json::from_str(&line).map_err(|e| bad(i + 1, &e.to_string()))?;
        if i == 0 {
            if v.get(DUMP_HEADER).is_none() {
                return Err(bad(1, "not a minsheng backup"));
            }
            continue;
        }
        let table = v
            .get("table")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(i + 1, "no table"))?;
        let rows = dump.entry(table.to_string()).or_default();
        if let Some(row) = v.get("row") {
            let row = row
                .as_object()
                .ok_or_else(|| bad(i + 1, "row is not an object"))?;
            rows.push(row.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        }
    }
    Ok(dump)
}
