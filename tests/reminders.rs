//! Reminders with a clock the test sets: a figure gone quiet nudges its Telegram officers
//! once per window (not again on the next pass, nor after a restart, nor by a second replica
//! sharing the store), never in quiet hours; admins get one weekly digest; a WeChat officer
//! sees the same in `/pending`. On SQLite, and on PostgreSQL when `MINSHENG_PG_URL` is set.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use minsheng::core::{Admins, Core, Input, Message, Sender};
use minsheng::knowledge::Knowledge;
use minsheng::store::Store;

#[path = "common/db.rs"]
mod db;
use db::{Db, count};

/// A Chongqing local time in 2024.
fn at(month: u32, day: u32, hour: u32) -> DateTime<Utc> {
    chrono::FixedOffset::east_opt(8 * 3600)
        .and_then(|tz| tz.with_ymd_and_hms(2024, month, day, hour, 0, 0).single())
        .map(|t| t.with_timezone(&Utc))
        .expect("a date")
}

async fn core(store: Store, clock: Arc<AtomicI64>) -> Core {
    let knowledge =
        Knowledge::load_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("faq").as_path())
            .expect("faq/ loads");
    let admins = Admins::parse("console:1,telegram:900").expect("admins");
    Core::start(Arc::new(knowledge), store, admins)
        .await
        .expect("core starts")
        .with_clock(Arc::new(move || {
            Utc.timestamp_millis_opt(clock.load(Ordering::SeqCst))
                .single()
                .unwrap_or_default()
        }))
}

async fn say(core: &Core, channel: &'static str, user: &str, text: &str) -> String {
    let replies = core
        .handle(&Message {
            sender: Sender {
                channel,
                user_id: user.into(),
                name: String::new(),
                lang: None,
            },
            chat_id: user.into(),
            input: Input::Text(text.into()),
        })
        .await;
    replies
        .iter()
        .map(|r| r.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn queued(store: &Store, chat: &str) -> Vec<String> {
    let sql = "SELECT body FROM outbox WHERE chat_id = $1 ORDER BY id";
    match store {
        Store::Sqlite(pool) => sqlx::query_scalar(sql).bind(chat).fetch_all(pool).await,
        Store::Postgres(pool) => sqlx::query_scalar(sql).bind(chat).fetch_all(pool).await,
    }
    .expect("outbox")
}

async fn quiet_figures_remind_their_officers_once(db: Db) {
    let clock = Arc::new(AtomicI64::new(at(1, 3, 10).timestamp_millis()));
    let a = core(db.store.clone(), clock.clone()).await;
    say(&a, "console", "1", "/grant telegram:55 14 住建局").await;
    say(&a, "console", "1", "/grant wechat:oOfficer14 14").await;

    // Two days into the year nothing is overdue yet.
    assert_eq!(
        minsheng::remind::run_once(&a).await.expect("run"),
        2,
        "digests only"
    );
    assert!(queued(&db.store, "55").await.is_empty());

    // 20 days in, at 10:00: task 14's figure has been quiet for 14 days (and a new week
    // brings the admins' digest).
    clock.store(at(1, 21, 10).timestamp_millis(), Ordering::SeqCst);
    assert_eq!(minsheng::remind::run_once(&a).await.expect("run"), 3);
    let sent = queued(&db.store, "55").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("14.1"), "{}", sent[0]);
    assert!(sent[0].contains("/update"));
    // The officer of other tasks, the resident and the WeChat officer get nothing pushed.
    assert!(queued(&db.store, "oOfficer14").await.is_empty());

    // The next pass, and a restart, send nothing new.
    assert_eq!(minsheng::remind::run_once(&a).await.expect("run"), 0);
    let restarted = core(db.open().await, clock.clone()).await;
    assert_eq!(
        minsheng::remind::run_once(&restarted).await.expect("run"),
        0
    );

    // Two replicas on one store at the next window (another 14 days): one reminder.
    clock.store(at(2, 4, 10).timestamp_millis(), Ordering::SeqCst);
    let (x, y) = tokio::join!(
        minsheng::remind::run_once(&a),
        minsheng::remind::run_once(&restarted)
    );
    let officer_sent = queued(&db.store, "55").await;
    assert_eq!(officer_sent.len(), 2, "one more, not two: {officer_sent:?}");
    // Plus one digest each for the two admins (a new ISO week), once in all.
    assert_eq!(x.expect("run") + y.expect("run"), 3);
    assert_eq!(
        queued(&db.store, "900").await.len(),
        3,
        "three weekly digests so far"
    );

    // Quiet hours: at 23:00 nothing is sent, even at a new window.
    clock.store(at(2, 18, 23).timestamp_millis(), Ordering::SeqCst);
    assert_eq!(minsheng::remind::run_once(&a).await.expect("run"), 0);
    clock.store(at(2, 19, 8).timestamp_millis(), Ordering::SeqCst);
    assert!(minsheng::remind::run_once(&a).await.expect("run") >= 1);

    // WeChat cannot push: the officer reads the same list with /pending.
    let pending = say(&a, "wechat", "oOfficer14", "/pending").await;
    assert!(pending.contains("14.1"), "{pending}");
    assert!(
        !pending.contains("1.1 "),
        "only the granted task: {pending}"
    );
    let resident = say(&a, "wechat", "oResident", "/pending").await;
    assert!(!resident.contains("14.1"));

    // Once reported, the figure is no longer waiting.
    say(&a, "telegram", "55", "/update 14 3km").await;
    let pending = say(&a, "telegram", "55", "/pending").await;
    assert!(!pending.contains("14.1"), "{pending}");

    // The digest names what is behind and what has gone quiet.
    let digest = queued(&db.store, "900").await;
    assert!(digest[0].contains("每周进度摘要") && digest[0].contains("Weekly digest"));
    assert!(count(&db.store, "SELECT COUNT(*) FROM reminders").await > 0);

    // After the list's period nothing is sent.
    clock.store(
        Utc.with_ymd_and_hms(2025, 3, 3, 4, 0, 0)
            .single()
            .expect("date")
            .timestamp_millis(),
        Ordering::SeqCst,
    );
    assert_eq!(minsheng::remind::run_once(&a).await.expect("run"), 0);
}

on_both_backends!(quiet_figures_remind_their_officers_once);
