//! The database harness shared by test files: a fresh SQLite file per test, and — when
//! `MINSHENG_PG_URL` is set — a fresh schema on a real PostgreSQL server per test, so tests run
//! in parallel. Each scenario is written once and run on both backends (`<name>::sqlite`,
//! `<name>::pg`) with [`on_both_backends!`].
#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use minsheng::store::Store;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

pub const PG_ENV: &str = "MINSHENG_PG_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Pg,
}

/// One test's private database, and the URL to open more pools on it.
pub struct Db {
    pub backend: Backend,
    pub url: String,
    pub store: Store,
    /// Keeps the SQLite file alive for the test.
    pub dir: Option<tempfile::TempDir>,
}

impl Db {
    /// Another, independent pool on the same database (as a second replica would have).
    pub async fn open(&self) -> Store {
        Store::connect(&self.url).await.expect("reconnect")
    }
}

/// Runs `test` on a fresh database of `backend`. PostgreSQL tests are skipped (with a note)
/// unless `MINSHENG_PG_URL` is set, and fail if it is set but the server is unreachable.
pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temporary directory");
            let url = format!("sqlite://{}", dir.path().join("minsheng.db").display());
            let store = Store::connect(&url).await.expect("open SQLite");
            test(Db {
                backend,
                url,
                store,
                dir: Some(dir),
            })
            .await;
        }
        Backend::Pg => {
            let Ok(base) = std::env::var(PG_ENV) else {
                note_pg_skipped();
                return;
            };
            let schema = unique_name();
            let mut admin = PgConnection::connect(&base)
                .await
                .unwrap_or_else(|e| panic!("{PG_ENV} is set but PostgreSQL is unreachable: {e}"));
            sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&mut admin)
                .await
                .expect("create test schema");
            let separator = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
            let store = Store::connect(&url).await.expect("open PostgreSQL");
            // Spawned so that a failing test still gets its schema dropped.
            let outcome = tokio::spawn(test(Db {
                backend,
                url,
                store,
                dir: None,
            }))
            .await;
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut admin)
                .await
                .expect("drop test schema");
            if let Err(e) = outcome {
                match e.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    Err(e) => panic!("test task failed: {e}"),
                }
            }
        }
    }
}

pub fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "minsheng_test_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Generates `<name>::sqlite` and `<name>::pg` for each scenario `async fn <name>(Db)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $crate::db::run($crate::db::Backend::Sqlite, super::$name).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn pg() {
                    $crate::db::run($crate::db::Backend::Pg, super::$name).await
                }
            }
        )*
    };
}

/// A count from a query, on either backend.
pub async fn count(store: &Store, sql: &'static str) -> i64 {
    match store {
        Store::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
    }
    .expect("count")
}

/// Says once per test binary that the PostgreSQL tests were skipped, and how to run them.
/// Written to stderr directly: the test harness hides `eprintln!` output of passing tests.
fn note_pg_skipped() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "note: PostgreSQL tests skipped; to run them: {PG_ENV}=postgres://postgres@127.0.0.1:5432/test cargo test"
        );
    });
}
