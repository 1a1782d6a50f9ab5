//! The store against real databases: a fresh SQLite file per test, and — when
//! `MINSHENG_PG_URL` is set — a fresh schema on a real PostgreSQL server per test, so tests run
//! in parallel. Each scenario is written once and run on both backends (`<name>::sqlite`,
//! `<name>::pg`).

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use minsheng::Lang;
use minsheng::knowledge::{
    Bilingual, Comparator, GoalKind, Knowledge, Lists, Metric, MetricKind, Milestone, Period, Task,
};
use minsheng::store::{
    Actor, AuditKind, Change, MAX_UNANSWERED_PER_USER_DAY, MAX_UNANSWERED_ROWS, NonceSeen,
    REPLAY_WINDOW_SECS, Stage, Store, StoreError, UndoOutcome,
};
use minsheng::units::Unit;

#[path = "common/db.rs"]
mod db;
use db::{Backend, Db, count, run};

on_both_backends!(
    migrations_are_idempotent,
    sync_keeps_progress,
    apply_audits_old_and_new,
    concurrent_applies_are_serialised,
    undo,
    concurrent_undos_revert_different_updates,
    refusals_change_nothing,
    officers,
    subscriptions_queue_notifications,
    concurrent_claimers_never_share_rows,
    retry_complete_and_lease_expiry,
    unanswered_top,
    unanswered_log_is_bounded,
    wechat_tokens_expire_and_drop,
    feedback,
    first_seen_dedups,
    pruning_keeps_everything_inside_the_replay_window,
    wechat_nonces_tell_retries_from_replays,
    persists_across_reopening,
    a_chat_hears_its_notifications_in_order,
    an_inserted_metric_moves_nothing,
    dropping_recorded_progress_is_refused,
    an_older_store_is_mapped_once,
    verify_audit_names_tampered_rows,
    a_backup_during_a_burst_restores,
    copy_store_keeps_every_row,
);

// ---- fixtures ---------------------------------------------------------------------------------

fn bi(zh: &str, en: &str) -> Bilingual {
    Bilingual {
        zh: zh.into(),
        en: en.into(),
    }
}

/// Task 19 (two metrics and a milestone) and task 5 (one metric).
fn catalogue(road_target: f64, road_name_en: &str) -> Vec<Task> {
    let km = Unit::parse("公里").expect("unit 公里");
    let sites = Unit::parse("处").expect("unit 处");
    vec![
        Task {
            number: 5,
            id: "task-5".into(),
            title: bi("养老服务", "Elderly care"),
            text: bi("……", "…"),
            metrics: vec![Metric {
                id: "t5-care-stations".into(),
                number: 1,
                name: bi("养老服务站", "Care stations"),
                target: 12.0,
                kind: MetricKind::Cumulative,
                comparator: Comparator::Exactly,
                part_of: None,
                every: None,
                unit: sites,
                keywords: vec![],
                retired: false,
            }],
            milestones: vec![],
        },
        Task {
            number: 19,
            id: "task-19".into(),
            title: bi("道路建设", "Roads"),
            text: bi("……", "…"),
            metrics: vec![
                Metric {
                    id: "t19-roads".into(),
                    number: 1,
                    name: bi("新建道路", road_name_en),
                    target: road_target,
                    kind: MetricKind::Cumulative,
                    comparator: Comparator::Exactly,
                    part_of: None,
                    every: None,
                    unit: km,
                    keywords: vec![],
                    retired: false,
                },
                Metric {
                    id: "t19-parking".into(),
                    number: 2,
                    name: bi("停车位", "Parking sites"),
                    target: 8.0,
                    kind: MetricKind::Cumulative,
                    comparator: Comparator::Exactly,
                    part_of: None,
                    every: None,
                    unit: sites,
                    keywords: vec![],
                    retired: false,
                },
            ],
            milestones: vec![Milestone {
                id: "m-acceptance".into(),
                kind: GoalKind::Milestone,
                number: 3,
                name: bi("完成验收", "Acceptance"),
                keywords: vec![],
                retired: false,
            }],
        },
    ]
}

/// `tasks` as the 2024 list, the only one.
fn lists(tasks: Vec<Task>) -> Lists {
    Lists::from(list_of(2024, tasks))
}

fn list_of(year: i32, tasks: Vec<Task>) -> Knowledge {
    let day = |m, d| chrono::NaiveDate::from_ymd_opt(year, m, d).expect("date");
    Knowledge {
        entries: Vec::new(),
        tasks,
        lexicon: Default::default(),
        period: Period {
            year,
            start: day(1, 1),
            end: day(12, 31),
            updates_until: None,
        },
        contacts: Default::default(),
    }
}

fn actor(user: &str) -> Actor {
    Actor {
        channel: "telegram".into(),
        user_id: user.into(),
        name: format!("Officer {user}"),
    }
}

fn change(task: u32, number: u32, value: f64, by: &str) -> Change {
    Change {
        year: 2024,
        task,
        number,
        value: Some(value),
        stage: None,
        note: None,
        actor: actor(by),
        notification: None,
    }
}

async fn synced(db: &Db) {
    db.store
        .sync_catalogue(&lists(catalogue(100.0, "New roads")))
        .await
        .expect("sync");
}

async fn current(store: &Store, task: u32, number: u32) -> Option<f64> {
    state(store, task, number).await.current
}

async fn state(store: &Store, task: u32, number: u32) -> minsheng::store::MetricState {
    store
        .states(2024, Some(task))
        .await
        .expect("states")
        .into_iter()
        .find(|s| s.number == number)
        .expect("metric in the store")
}

// ---- scenarios --------------------------------------------------------------------------------

async fn migrations_are_idempotent(db: Db) {
    synced(&db).await;
    db.store
        .apply(&change(19, 1, 3.5, "a"))
        .await
        .expect("apply");
    // Connecting again runs the migrator again: a no-op, nothing lost.
    let again = db.open().await;
    let third = db.open().await;
    assert_eq!(current(&third, 19, 1).await, Some(3.5));
    // Each migration once, whichever backend.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let files = std::fs::read_dir(dir).expect("migrations").count();
    assert_eq!(
        count(&again, "SELECT COUNT(*) FROM _sqlx_migrations").await,
        i64::try_from(files).expect("a few files")
    );
    assert_eq!(db.store.states(2024, None).await.expect("states").len(), 4);
}

async fn sync_keeps_progress(db: Db) {
    synced(&db).await;
    let mut road = change(19, 1, 42.5, "a");
    road.note = Some("东段已通车".into());
    db.store.apply(&road).await.expect("apply value");
    let milestone = Change {
        value: None,
        stage: Some(Stage::InProgress),
        ..change(19, 3, 0.0, "a")
    };
    db.store.apply(&milestone).await.expect("apply stage");

    // faq/ edited: target and name changed, task 5 removed.
    let mut tasks = catalogue(120.0, "Roads built");
    tasks.retain(|t| t.number == 19);
    db.store
        .sync_catalogue(&lists(tasks.clone()))
        .await
        .expect("re-sync");
    db.store
        .sync_catalogue(&lists(tasks.clone()))
        .await
        .expect("re-sync twice");

    let road = state(&db.store, 19, 1).await;
    assert_eq!(road.current, Some(42.5));
    assert_eq!(road.note.as_deref(), Some("东段已通车"));
    assert_eq!(road.updated_by, Some(actor("a")));
    assert!(road.updated_at.is_some());
    assert_eq!(state(&db.store, 19, 3).await.stage, Some(Stage::InProgress));
    let (target, name_en): (f64, String) = match &db.store {
        Store::Sqlite(p) => {
            sqlx::query_as("SELECT target, name_en FROM metrics WHERE task = 19 AND number = 1")
                .fetch_one(p)
                .await
        }
        Store::Postgres(p) => {
            sqlx::query_as("SELECT target, name_en FROM metrics WHERE task = 19 AND number = 1")
                .fetch_one(p)
                .await
        }
    }
    .expect("catalogue row");
    assert_eq!(target, 120.0);
    assert_eq!(name_en, "Roads built");
    // Task 5 left faq/ but stays in the store.
    let all = db.store.states(2024, None).await.expect("states");
    let keys: Vec<(u32, u32)> = all.iter().map(|s| (s.task, s.number)).collect();
    assert_eq!(keys, vec![(5, 1), (19, 1), (19, 2), (19, 3)]);
    // The two updates, and the target and name change as one catalogue row (once, although
    // synced twice).
    let history = db.store.history(2024, 19, 10).await.expect("history");
    assert_eq!(history.len(), 3);
    assert_eq!(history[0].kind, AuditKind::Catalogue);
    assert_eq!(history[0].number, Some(1));
    assert_eq!(
        (history[0].old_value, history[0].new_value),
        (Some(100.0), Some(120.0))
    );
    let note = history[0].note.as_deref().unwrap_or("");
    assert!(note.contains("target 100 → 120"), "{note}");
    assert!(note.contains("name_en New roads → Roads built"), "{note}");
}

async fn apply_audits_old_and_new(db: Db) {
    synced(&db).await;
    let first = db
        .store
        .apply(&change(19, 1, 10.0, "a"))
        .await
        .expect("first");
    assert_eq!(first.kind, AuditKind::Update);
    assert_eq!((first.old_value, first.new_value), (None, Some(10.0)));
    let mut second = change(19, 1, 12.25, "b");
    second.note = Some("note".into());
    let second = db.store.apply(&second).await.expect("second");
    assert_eq!(
        (second.old_value, second.new_value),
        (Some(10.0), Some(12.25))
    );
    assert!(second.id > first.id);

    // A stage-only change keeps the value; a value-only change keeps the stage.
    let staged = Change {
        value: None,
        stage: Some(Stage::Done),
        ..change(19, 1, 0.0, "a")
    };
    let staged = db.store.apply(&staged).await.expect("stage");
    assert_eq!(
        (staged.old_value, staged.new_value),
        (Some(12.25), Some(12.25))
    );
    assert_eq!(
        (staged.old_stage, staged.new_stage),
        (None, Some(Stage::Done))
    );
    let valued = db
        .store
        .apply(&change(19, 1, 13.0, "a"))
        .await
        .expect("value");
    assert_eq!(valued.new_stage, Some(Stage::Done));
    let now = state(&db.store, 19, 1).await;
    assert_eq!((now.current, now.stage), (Some(13.0), Some(Stage::Done)));
    // The note belongs to the update that wrote it.
    assert_eq!(now.note, None);

    let history = db.store.history(2024, 19, 10).await.expect("history");
    assert_eq!(history.len(), 4);
    assert_eq!(history[0], valued);
    assert_eq!(history[2], second);
    assert_eq!(history[3], first);
    assert_eq!(history[2].actor, actor("b"));
    assert_eq!(history[2].note.as_deref(), Some("note"));
    assert_eq!(
        db.store.history(2024, 19, 1).await.expect("history").len(),
        1
    );
    assert!(
        db.store
            .history(2024, 5, 10)
            .await
            .expect("history")
            .is_empty()
    );

    // An unknown metric is an error and leaves no trace.
    assert!(matches!(
        db.store.apply(&change(19, 9, 1.0, "a")).await,
        Err(StoreError::Other(_))
    ));
    assert_eq!(count(&db.store, "SELECT COUNT(*) FROM audit").await, 4);
}

async fn concurrent_applies_are_serialised(db: Db) {
    synced(&db).await;
    let stores = [db.open().await, db.open().await];
    const WRITERS: usize = 12;
    let spawn_writers = |range: std::ops::Range<usize>| {
        range
            .map(|i| {
                let store = stores[i % 2].clone();
                tokio::spawn(async move {
                    store
                        .apply(&change(19, 1, i as f64, &format!("officer{i}")))
                        .await
                })
            })
            .collect::<Vec<_>>()
    };
    // Half start while the metric is locked, so they certainly contend; half race freely.
    let mut handles = while_metric_locked(&db.store, async {
        let handles = spawn_writers(0..WRITERS / 2);
        tokio::time::sleep(Duration::from_millis(200)).await;
        handles
    })
    .await;
    handles.extend(spawn_writers(WRITERS / 2..WRITERS));
    for handle in handles {
        handle.await.expect("join").expect("apply");
    }
    let mut audit = db.store.history(2024, 19, 100).await.expect("history");
    audit.reverse();
    assert_eq!(audit.len(), WRITERS);
    // Each audit replaced exactly what the previous one wrote.
    assert_eq!(audit[0].old_value, None);
    for pair in audit.windows(2) {
        assert_eq!(pair[1].old_value, pair[0].new_value, "{pair:?}");
        assert!(pair[1].at >= pair[0].at);
    }
    let written: HashSet<u64> = audit
        .iter()
        .map(|a| a.new_value.expect("value") as u64)
        .collect();
    assert_eq!(written.len(), WRITERS);
    let last = audit.last().expect("an audit row");
    assert_eq!(current(&db.store, 19, 1).await, last.new_value);
}

async fn undo(db: Db) {
    synced(&db).await;
    let (a, b) = (actor("a"), actor("b"));
    let first = db
        .store
        .apply(&change(19, 1, 10.0, "a"))
        .await
        .expect("apply");
    let mut second = change(19, 1, 20.0, "a");
    second.note = Some("second".into());
    db.store.apply(&second).await.expect("apply");
    let third = db
        .store
        .apply(&change(19, 2, 5.0, "a"))
        .await
        .expect("apply");

    // The latest update goes first.
    let UndoOutcome::Undone(undo1, reverted) = db
        .store
        .undo_last("telegram", "a", &a, |_| None)
        .await
        .expect("undo")
    else {
        panic!("expected an undo");
    };
    assert_eq!(reverted, third);
    assert_eq!(undo1.kind, AuditKind::Undo);
    assert_eq!(undo1.reverts, Some(third.id));
    assert_eq!((undo1.old_value, undo1.new_value), (Some(5.0), None));
    let parking = state(&db.store, 19, 2).await;
    assert_eq!(parking.current, None);
    assert_eq!(parking.updated_by, Some(a.clone()));

    // Then the one before (the undo row itself is not undone); the old note comes back.
    let UndoOutcome::Undone(undo2, reverted) = db
        .store
        .undo_last("telegram", "a", &a, |_| None)
        .await
        .expect("undo")
    else {
        panic!("expected an undo");
    };
    assert_eq!(reverted.new_value, Some(20.0));
    assert_eq!((undo2.old_value, undo2.new_value), (Some(20.0), Some(10.0)));
    assert_eq!(current(&db.store, 19, 1).await, Some(10.0));
    assert_eq!(state(&db.store, 19, 1).await.note, None);

    // Someone else changed the metric since: refuse, change nothing.
    db.store
        .apply(&change(19, 1, 30.0, "b"))
        .await
        .expect("apply");
    let outcome = db
        .store
        .undo_last("telegram", "a", &a, |_| None)
        .await
        .expect("undo");
    assert_eq!(outcome, UndoOutcome::ChangedSince(first.clone()));
    assert_eq!(current(&db.store, 19, 1).await, Some(30.0));

    // Once b undoes theirs, a's first update is current again and can be undone.
    assert!(matches!(
        db.store.undo_last("telegram", "b", &b, |_| None).await,
        Ok(UndoOutcome::Undone(..))
    ));
    let UndoOutcome::Undone(_, reverted) = db
        .store
        .undo_last("telegram", "a", &a, |_| None)
        .await
        .expect("undo")
    else {
        panic!("expected an undo");
    };
    assert_eq!(reverted, first);
    assert_eq!(current(&db.store, 19, 1).await, None);
    assert_eq!(
        db.store
            .undo_last("telegram", "a", &a, |_| None)
            .await
            .expect("undo"),
        UndoOutcome::NothingToUndo
    );
    // Ids are per channel.
    assert_eq!(
        db.store
            .undo_last("wechat", "b", &b, |_| None)
            .await
            .expect("undo"),
        UndoOutcome::NothingToUndo
    );

    // Nothing was deleted: 4 updates and 4 undos.
    let history = db.store.history(2024, 19, 100).await.expect("history");
    let undos = history.iter().filter(|e| e.kind == AuditKind::Undo).count();
    assert_eq!((history.len(), undos), (8, 4));
    assert_eq!(history[history.len() - 1 - 3], undo1);
}

async fn concurrent_undos_revert_different_updates(db: Db) {
    synced(&db).await;
    for value in [1.0, 2.0, 3.0] {
        db.store
            .apply(&change(19, 1, value, "a"))
            .await
            .expect("apply");
    }
    let stores = [db.open().await, db.open().await];
    // Both undos start while the metric is locked, so both first pick the latest update and
    // queue behind the lock: the one that goes second must notice and take the next one.
    let handles = while_metric_locked(&db.store, async {
        let handles: Vec<_> = stores
            .iter()
            .cloned()
            .map(|store| {
                tokio::spawn(async move {
                    store
                        .undo_last("telegram", "a", &actor("a"), |_| None)
                        .await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        handles
    })
    .await;
    let mut reverted = HashSet::new();
    for handle in handles {
        match handle.await.expect("join").expect("undo") {
            UndoOutcome::Undone(undo, update) => {
                assert_eq!(undo.reverts, Some(update.id));
                reverted.insert(update.id);
            }
            other => panic!("expected an undo, got {other:?}"),
        }
    }
    assert_eq!(reverted.len(), 2, "both undos reverted the same update");
    assert_eq!(current(&db.store, 19, 1).await, Some(1.0));
}

/// Runs `during` while another connection holds metric 19.1 for writing (on SQLite: the
/// database's write lock).
async fn while_metric_locked<F: Future>(store: &Store, during: F) -> F::Output {
    match store {
        Store::Sqlite(pool) => {
            let tx = pool.begin_with("BEGIN IMMEDIATE").await.expect("lock");
            let out = during.await;
            tx.commit().await.expect("unlock");
            out
        }
        Store::Postgres(pool) => {
            let mut tx = pool.begin().await.expect("begin");
            sqlx::query("SELECT 1 FROM metrics WHERE task = 19 AND number = 1 FOR UPDATE")
                .execute(&mut *tx)
                .await
                .expect("lock");
            let out = during.await;
            tx.commit().await.expect("unlock");
            out
        }
    }
}

async fn refusals_change_nothing(db: Db) {
    synced(&db).await;
    db.store
        .apply(&change(19, 1, 7.0, "a"))
        .await
        .expect("apply");
    let stranger = actor("stranger");
    db.store
        .record_refusal(19, Some(1), &stranger, "/update 19.1 999")
        .await
        .expect("refusal");
    db.store
        .record_refusal(99, None, &stranger, "/update 99 1")
        .await
        .expect("refusal of an unknown task");
    assert_eq!(current(&db.store, 19, 1).await, Some(7.0));
    assert_eq!(
        db.store.history(2024, 19, 10).await.expect("history").len(),
        1
    );
    assert_eq!(
        count(
            &db.store,
            "SELECT COUNT(*) FROM audit WHERE kind = 'refused'"
        )
        .await,
        2
    );
    // Refusals are not undoable updates.
    assert_eq!(
        db.store
            .undo_last("telegram", "stranger", &stranger, |_| None)
            .await
            .expect("undo"),
        UndoOutcome::NothingToUndo
    );
}

async fn officers(db: Db) {
    let admin = Actor {
        channel: "console".into(),
        user_id: "root".into(),
        name: "Admin".into(),
    };
    db.store
        .grant("telegram", "42", &[19, 5, 19], None, &admin)
        .await
        .expect("grant");
    db.store
        .grant("wechat", "o_abc", &[], Some("住建局"), &admin)
        .await
        .expect("grant");
    let officer = db
        .store
        .officer("telegram", "42")
        .await
        .expect("officer")
        .expect("granted");
    assert_eq!(officer.tasks, vec![5, 19]);
    assert_eq!(officer.granted_by, "Admin (console:root)");
    assert!(officer.granted_at > 0);
    assert_eq!(officer.department, None);
    let wechat = db.store.officer("wechat", "o_abc").await.expect("officer");
    assert_eq!(wechat.and_then(|o| o.department).as_deref(), Some("住建局"));
    // Same id on another channel is someone else.
    assert_eq!(
        db.store.officer("wechat", "42").await.expect("officer"),
        None
    );

    // A new grant replaces the old one.
    db.store
        .grant("telegram", "42", &[], None, &admin)
        .await
        .expect("grant");
    let all = db.store.officers().await.expect("officers");
    let ids: Vec<(&str, &str, &[u32])> = all
        .iter()
        .map(|o| (o.channel.as_str(), o.user_id.as_str(), o.tasks.as_slice()))
        .collect();
    assert_eq!(
        ids,
        vec![("telegram", "42", &[][..]), ("wechat", "o_abc", &[][..])]
    );

    assert!(db.store.revoke("telegram", "42").await.expect("revoke"));
    assert!(!db.store.revoke("telegram", "42").await.expect("revoke"));
    assert_eq!(
        db.store.officer("telegram", "42").await.expect("officer"),
        None
    );
    assert_eq!(db.store.officers().await.expect("officers").len(), 1);
}

async fn subscriptions_queue_notifications(db: Db) {
    synced(&db).await;
    let s = &db.store;
    assert!(
        s.subscribe("telegram", "c1", Some(19), Lang::Zh)
            .await
            .expect("sub")
    );
    assert!(
        !s.subscribe("telegram", "c1", Some(19), Lang::Zh)
            .await
            .expect("sub")
    );
    assert!(
        s.subscribe("telegram", "c2", None, Lang::En)
            .await
            .expect("sub")
    );
    assert!(
        s.subscribe("wechat", "c3", Some(5), Lang::Zh)
            .await
            .expect("sub")
    );
    // Subscribed to task 19 and to everything: notified once.
    assert!(
        s.subscribe("telegram", "c4", Some(19), Lang::Zh)
            .await
            .expect("sub")
    );
    assert!(
        s.subscribe("telegram", "c4", None, Lang::En)
            .await
            .expect("sub")
    );
    assert_eq!(
        s.subscriptions("telegram", "c4").await.expect("subs"),
        vec![None, Some(19)]
    );
    assert!(
        s.subscriptions("telegram", "nobody")
            .await
            .expect("subs")
            .is_empty()
    );

    let mut update = change(19, 1, 3.0, "a");
    update.notification = Some(("道路进展：3公里".into(), "Roads: 3 km".into()));
    s.apply(&update).await.expect("apply");
    s.apply(&change(19, 1, 4.0, "a"))
        .await
        .expect("apply, no notification");
    assert_eq!(s.outbox_len("telegram").await.expect("len"), 3);
    assert_eq!(s.outbox_len("wechat").await.expect("len"), 0);
    let items = s.claim_outbox("telegram", 10, 60_000).await.expect("claim");
    let mut got: Vec<(String, String)> = items
        .iter()
        .map(|i| (i.chat_id.clone(), i.text.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("c1".to_string(), "道路进展：3公里".to_string()),
            ("c2".to_string(), "Roads: 3 km".to_string()),
            ("c4".to_string(), "Roads: 3 km".to_string()),
        ]
    );
    assert!(
        items
            .iter()
            .all(|i| i.channel == "telegram" && i.attempts == 0)
    );
    assert!(items.windows(2).all(|w| w[0].id < w[1].id));

    // An undo notifies too; task 5 subscribers hear only about task 5.
    let undone = s
        .undo_last("telegram", "a", &actor("a"), |_| {
            Some(("撤销".into(), "Undone".into()))
        })
        .await
        .expect("undo");
    assert!(matches!(undone, UndoOutcome::Undone(..)));
    assert_eq!(s.outbox_len("telegram").await.expect("len"), 6);
    assert_eq!(s.outbox_len("wechat").await.expect("len"), 0);
    let mut five = change(5, 1, 2.0, "a");
    five.notification = Some(("养老".into(), "Care".into()));
    s.apply(&five).await.expect("apply");
    let wechat = s.claim_outbox("wechat", 10, 60_000).await.expect("claim");
    assert_eq!(wechat.len(), 1);
    assert_eq!(
        (wechat[0].chat_id.as_str(), wechat[0].text.as_str()),
        ("c3", "养老")
    );
    assert_eq!(s.outbox_len("telegram").await.expect("len"), 8);

    // Unsubscribing.
    assert!(
        s.unsubscribe("telegram", "c4", Some(19))
            .await
            .expect("unsub")
    );
    assert!(
        !s.unsubscribe("telegram", "c4", Some(19))
            .await
            .expect("unsub")
    );
    assert!(
        s.subscribe("telegram", "c4", Some(5), Lang::En)
            .await
            .expect("sub")
    );
    assert!(
        s.unsubscribe("telegram", "c4", None)
            .await
            .expect("unsub all")
    );
    assert!(
        s.subscriptions("telegram", "c4")
            .await
            .expect("subs")
            .is_empty()
    );
    assert!(
        !s.unsubscribe("telegram", "c4", None)
            .await
            .expect("unsub all")
    );
    // A chat that blocked the bot: subscriptions and queued messages go.
    let queued_c1 = 2; // the apply and the undo
    assert_eq!(
        s.unsubscribe_chat("telegram", "c1").await.expect("forget"),
        1
    );
    assert_eq!(s.outbox_len("telegram").await.expect("len"), 8 - queued_c1);
    assert!(
        s.subscriptions("telegram", "c1")
            .await
            .expect("subs")
            .is_empty()
    );
}

async fn concurrent_claimers_never_share_rows(db: Db) {
    synced(&db).await;
    const CHATS: usize = 40;
    for i in 0..CHATS {
        db.store
            .subscribe("telegram", &format!("chat{i}"), None, Lang::Zh)
            .await
            .expect("sub");
    }
    let mut update = change(19, 1, 1.0, "a");
    update.notification = Some(("进展".into(), "Progress".into()));
    db.store.apply(&update).await.expect("apply");
    assert_eq!(
        db.store.outbox_len("telegram").await.expect("len"),
        CHATS as i64
    );

    let stores = [db.store.clone(), db.open().await, db.store.clone()];
    let mut handles = Vec::new();
    for store in stores {
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store
                    .claim_outbox("telegram", 3, 60_000)
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|i| i.id));
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for handle in handles {
        let ids = handle.await.expect("join");
        total += ids.len();
        seen.extend(ids);
    }
    assert_eq!(total, CHATS, "a row was claimed twice");
    assert_eq!(seen.len(), CHATS);
}

async fn retry_complete_and_lease_expiry(db: Db) {
    synced(&db).await;
    let s = &db.store;
    s.subscribe("telegram", "c1", None, Lang::En)
        .await
        .expect("sub");
    s.subscribe("telegram", "c2", None, Lang::En)
        .await
        .expect("sub");
    let mut update = change(19, 1, 1.0, "a");
    update.notification = Some(("进展".into(), "Progress".into()));
    s.apply(&update).await.expect("apply");

    let items = s.claim_outbox("telegram", 1, 60_000).await.expect("claim");
    assert_eq!(items.len(), 1);
    let first = items[0].clone();
    // Leased: the next claim gets the other row, then nothing.
    let other = s.claim_outbox("telegram", 5, 60_000).await.expect("claim");
    assert_eq!(other.len(), 1);
    assert!(other[0].id > first.id);
    assert!(
        s.claim_outbox("telegram", 5, 60_000)
            .await
            .expect("claim")
            .is_empty()
    );

    // Retry now: due again, with the attempt counted.
    s.retry_outbox(first.id, 0).await.expect("retry");
    let again = s.claim_outbox("telegram", 5, 60_000).await.expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (first.id, 1));
    // Retry later: not due yet, still queued.
    s.retry_outbox(first.id, 60_000).await.expect("retry");
    assert!(
        s.claim_outbox("telegram", 5, 60_000)
            .await
            .expect("claim")
            .is_empty()
    );
    assert_eq!(s.outbox_len("telegram").await.expect("len"), 2);

    // A short lease that expires (its sender died) makes the row claimable again.
    s.retry_outbox(first.id, 0).await.expect("retry");
    // A second long enough that a busy machine does not expire it before the next claim.
    let leased = s.claim_outbox("telegram", 5, 1_000).await.expect("claim");
    assert_eq!(leased.len(), 1);
    assert!(
        s.claim_outbox("telegram", 5, 1_000)
            .await
            .expect("claim")
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let reclaimed = s.claim_outbox("telegram", 5, 60_000).await.expect("claim");
    assert_eq!(reclaimed.len(), 1);
    assert_eq!((reclaimed[0].id, reclaimed[0].attempts), (first.id, 3));

    s.complete_outbox(first.id).await.expect("complete");
    s.drop_outbox(other[0].id).await.expect("drop");
    assert_eq!(s.outbox_len("telegram").await.expect("len"), 0);
    // Completing twice is harmless.
    s.complete_outbox(first.id).await.expect("complete again");
}

async fn unanswered_top(db: Db) {
    let s = &db.store;
    for q in [
        "How are the roads?",
        "  how are the ROADS?  ",
        "how  are the roads?",
    ] {
        s.record_unanswered("telegram", "u1", q)
            .await
            .expect("record");
    }
    s.record_unanswered("telegram", "u3", "how are the roads?")
        .await
        .expect("record");
    for q in ["什么时候完工", "什么时候完工", "other", "   "] {
        s.record_unanswered("wechat", "u2", q)
            .await
            .expect("record");
    }
    s.record_unanswered("wechat", "u4", "什么时候完工")
        .await
        .expect("record");
    // Asked later than "other", by as many: listed before it.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let long = "长".repeat(600);
    s.record_unanswered("wechat", "u2", &long)
        .await
        .expect("record");
    let top = s.top_unanswered(10).await.expect("top");
    // Counted by people: one user repeating a question is one.
    let summary: Vec<(&str, i64)> = top.iter().map(|(q, n, _)| (q.as_str(), *n)).collect();
    assert_eq!(summary[0].1, 2);
    assert_eq!(summary[1].1, 2);
    assert!(
        summary[..2].contains(&("how are the roads?", 2)),
        "{summary:?}"
    );
    assert!(summary[..2].contains(&("什么时候完工", 2)), "{summary:?}");
    assert_eq!(summary.len(), 4, "blank questions are not recorded");
    assert_eq!(summary[2].0.chars().count(), 500, "cut to 500 characters");
    assert_eq!(summary[3], ("other", 1));
    assert!(top.iter().all(|(_, _, at)| *at > 0));
    assert_eq!(s.top_unanswered(1).await.expect("top").len(), 1);
}

/// A flood cannot grow the unanswered log: repeats are one row, a user's new questions are
/// capped per day, and the whole log is trimmed to its bound.
async fn unanswered_log_is_bounded(db: Db) {
    let s = &db.store;
    for _ in 0..300 {
        s.record_unanswered("wechat", "flooder", "same question")
            .await
            .expect("record");
    }
    assert_eq!(count(s, "SELECT COUNT(*) FROM unanswered").await, 1);
    for i in 0..MAX_UNANSWERED_PER_USER_DAY + 20 {
        s.record_unanswered("wechat", "script", &format!("question {i}"))
            .await
            .expect("record");
    }
    assert_eq!(
        count(
            s,
            "SELECT COUNT(*) FROM unanswered WHERE user_id = 'script'"
        )
        .await,
        MAX_UNANSWERED_PER_USER_DAY
    );
    // Another user is not held back by the script.
    s.record_unanswered("wechat", "resident", "question 1")
        .await
        .expect("record");
    assert_eq!(
        count(
            s,
            "SELECT COUNT(*) FROM unanswered WHERE user_id = 'resident'"
        )
        .await,
        1
    );

    // Fill the log past its bound (as many users over many days would), then keep asking:
    // within a few hundred questions it is trimmed back to the newest MAX_UNANSWERED_ROWS.
    let fill = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50400) \
                INSERT INTO unanswered (channel, user_id, question, question_key, created_at, \
                last_at) SELECT 'telegram', 'u' || i, 'q', 'q', 1, 1 FROM n";
    match s {
        Store::Sqlite(pool) => sqlx::query(fill).execute(pool).await.map(|_| ()),
        Store::Postgres(pool) => sqlx::query(fill).execute(pool).await.map(|_| ()),
    }
    .expect("fill");
    for i in 0..300 {
        s.record_unanswered("telegram", &format!("late{i}"), "late question")
            .await
            .expect("record");
    }
    let rows = count(s, "SELECT COUNT(*) FROM unanswered").await;
    assert!(
        (MAX_UNANSWERED_ROWS..=MAX_UNANSWERED_ROWS + 300).contains(&rows),
        "{rows} rows"
    );
    // The newest survive.
    assert!(
        count(
            s,
            "SELECT COUNT(*) FROM unanswered WHERE question_key = 'late question'"
        )
        .await
            >= 1
    );
}

async fn feedback(db: Db) {
    let s = &db.store;
    s.record_feedback("telegram", "u1", "policy-1", true)
        .await
        .expect("vote");
    s.record_feedback("telegram", "u1", "policy-1", true)
        .await
        .expect("vote again");
    s.record_feedback("telegram", "u2", "policy-1", false)
        .await
        .expect("vote");
    s.record_feedback("wechat", "u1", "policy-1", true)
        .await
        .expect("vote");
    s.record_feedback("telegram", "u1", "task-19", true)
        .await
        .expect("vote");
    s.record_feedback("telegram", "u1", "task-19", false)
        .await
        .expect("change vote");
    assert_eq!(
        s.feedback_counts().await.expect("counts"),
        vec![
            ("policy-1".to_string(), 2, 1),
            ("task-19".to_string(), 0, 1)
        ]
    );
}

async fn first_seen_dedups(db: Db) {
    let s = &db.store;
    assert!(s.first_seen("wechat", "msg-1").await.expect("seen"));
    assert!(!s.first_seen("wechat", "msg-1").await.expect("seen"));
    assert!(s.first_seen("telegram", "msg-1").await.expect("seen"));
    // Concurrent redeliveries: exactly one is new.
    let other = db.open().await;
    let (x, y) = tokio::join!(
        s.first_seen("wechat", "msg-2"),
        other.first_seen("wechat", "msg-2")
    );
    assert!(x.expect("seen") ^ y.expect("seen"));
    // Keys this young are never forgotten, however far ahead the caller's cut-off is.
    assert_eq!(s.forget_seen_before(i64::MAX).await.expect("forget"), 0);
    assert!(!s.first_seen("wechat", "msg-1").await.expect("seen"));
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Backdates a seen message key, as if it had been first seen `age_secs` ago.
async fn age_seen(store: &Store, key: &str, age_secs: i64) {
    let at = (now_secs() - age_secs) * 1000;
    let sql = "UPDATE seen_messages SET created_at = $1 WHERE message_key = $2";
    match store {
        Store::Sqlite(pool) => sqlx::query(sql)
            .bind(at)
            .bind(key)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
        Store::Postgres(pool) => sqlx::query(sql)
            .bind(at)
            .bind(key)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
    }
    .expect("backdate");
}

async fn pruning_keeps_everything_inside_the_replay_window(db: Db) {
    let s = &db.store;
    let w = REPLAY_WINDOW_SECS;
    // Message keys: a replay is accepted up to 2 × the window after first sight.
    for (key, age) in [
        ("fresh", 0),
        ("edge", 2 * w),
        ("old", 2 * w + 120),
        ("ancient", 86_400 * 2),
    ] {
        assert!(s.first_seen("wechat", key).await.expect("seen"));
        age_seen(s, key, age).await;
    }
    assert_eq!(s.forget_seen_before(i64::MAX).await.expect("forget"), 2);
    for (key, kept) in [
        ("fresh", true),
        ("edge", true),
        ("old", false),
        ("ancient", false),
    ] {
        assert_eq!(
            !s.first_seen("wechat", key).await.expect("seen"),
            kept,
            "{key}"
        );
    }
    // Nonces: kept while their timestamp could still pass the freshness check.
    let now = now_secs();
    for (nonce, ts) in [
        ("future", now + w),
        ("now", now),
        ("edge", now - w),
        ("stale", now - w - 120),
        ("ancient", now - 86_400),
    ] {
        let seen = s
            .remember_wechat_nonce(&ts.to_string(), nonce, ts, "d1")
            .await
            .expect("remember");
        assert_eq!(seen, NonceSeen::New, "{nonce}");
    }
    assert_eq!(
        s.forget_wechat_nonces_before(i64::MAX)
            .await
            .expect("forget"),
        2
    );
    for (nonce, ts, kept) in [
        ("future", now + w, true),
        ("now", now, true),
        ("edge", now - w, true),
        ("stale", now - w - 120, false),
        ("ancient", now - 86_400, false),
    ] {
        let seen = s
            .remember_wechat_nonce(&ts.to_string(), nonce, ts, "d2")
            .await
            .expect("remember");
        let want = if kept {
            NonceSeen::OtherBody
        } else {
            NonceSeen::New
        };
        assert_eq!(seen, want, "{nonce}");
    }
}

async fn wechat_nonces_tell_retries_from_replays(db: Db) {
    let s = &db.store;
    let ts = now_secs();
    let stamp = ts.to_string();
    let remember = |store: &Store, nonce: &'static str, digest: &'static str| {
        let (store, stamp) = (store.clone(), stamp.clone());
        async move {
            store
                .remember_wechat_nonce(&stamp, nonce, ts, digest)
                .await
                .expect("remember")
        }
    };
    assert_eq!(remember(s, "n1", "aaa").await, NonceSeen::New);
    assert_eq!(remember(s, "n1", "aaa").await, NonceSeen::SameBody);
    assert_eq!(remember(s, "n1", "bbb").await, NonceSeen::OtherBody);
    assert_eq!(remember(s, "n2", "bbb").await, NonceSeen::New);
    // Another replica sees what this one saw; concurrent first sightings: exactly one is new.
    let other = db.open().await;
    assert_eq!(remember(&other, "n1", "ccc").await, NonceSeen::OtherBody);
    let (x, y) = tokio::join!(remember(s, "n3", "x"), remember(&other, "n3", "y"));
    let mut got = [x, y];
    got.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(got, [NonceSeen::New, NonceSeen::OtherBody]);
}

async fn persists_across_reopening(db: Db) {
    synced(&db).await;
    let admin = actor("admin");
    db.store
        .apply(&change(19, 1, 8.5, "a"))
        .await
        .expect("apply");
    db.store
        .grant("telegram", "a", &[19], None, &admin)
        .await
        .expect("grant");
    db.store
        .subscribe("telegram", "c1", Some(19), Lang::En)
        .await
        .expect("sub");
    db.store.close().await;

    let reopened = db.open().await;
    assert_eq!(current(&reopened, 19, 1).await, Some(8.5));
    assert_eq!(
        reopened.history(2024, 19, 10).await.expect("history").len(),
        1
    );
    assert_eq!(
        reopened
            .officer("telegram", "a")
            .await
            .expect("officer")
            .map(|o| o.tasks),
        Some(vec![19])
    );
    assert_eq!(
        reopened
            .subscriptions("telegram", "c1")
            .await
            .expect("subs"),
        vec![Some(19)]
    );
    // The reopened store keeps working, undo included.
    assert!(matches!(
        reopened
            .undo_last("telegram", "a", &actor("a"), |_| None)
            .await,
        Ok(UndoOutcome::Undone(..))
    ));
    if db.backend == Backend::Sqlite {
        assert!(db.url.starts_with("sqlite://"));
    }
}

// ---- SQLite only ------------------------------------------------------------------------------

/// The durability settings: WAL with synchronous=FULL (a commit that returned survives power
/// loss), foreign keys on, and a busy timeout so writers queue instead of failing.
#[tokio::test]
async fn sqlite_pragmas() {
    run(Backend::Sqlite, |db: Db| async move {
        // The whole `db`, not just the store: its temporary directory must outlive the test.
        let db = db;
        let Store::Sqlite(pool) = &db.store else {
            panic!("expected SQLite");
        };
        let mut conn = pool.acquire().await.expect("connection");
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .expect("journal_mode");
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .expect("synchronous");
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await
            .expect("foreign_keys");
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await
            .expect("busy_timeout");
        assert_eq!(journal, "wal");
        assert_eq!(synchronous, 2, "FULL");
        assert_eq!(foreign_keys, 1);
        assert_eq!(busy, 5000);
    })
    .await
}

#[tokio::test]
async fn sqlite_url_forms() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("plain.db");
    let store = Store::connect(&format!("sqlite:{}", path.display()))
        .await
        .expect("sqlite:PATH");
    assert!(path.exists(), "the file is created");
    store.close().await;

    let memory = Store::connect("sqlite::memory:").await.expect("in memory");
    memory
        .sync_catalogue(&lists(catalogue(1.0, "Roads")))
        .await
        .expect("sync");
    memory.apply(&change(19, 1, 0.5, "a")).await.expect("apply");
    assert_eq!(current(&memory, 19, 1).await, Some(0.5));
    assert_eq!(memory.backend(), "sqlite");
}

#[tokio::test]
async fn unsupported_urls_are_refused_without_leaking_passwords() {
    for url in ["mysql://user:secret@db/minsheng", "minsheng.db", ""] {
        match Store::connect(url).await {
            Err(StoreError::Url(shown)) => assert!(!shown.contains("secret"), "{shown}"),
            other => panic!("{url}: expected StoreError::Url, got {other:?}"),
        }
    }
}

/// Only the head of each chat's queue is claimable: replicas cannot deliver a chat's
/// notifications out of order, and a notification waiting for a retry holds back the rest.
async fn a_chat_hears_its_notifications_in_order(db: Db) {
    synced(&db).await;
    let s = &db.store;
    s.subscribe("telegram", "c1", None, Lang::En)
        .await
        .expect("subscribe");
    s.subscribe("telegram", "c2", None, Lang::En)
        .await
        .expect("subscribe");
    for km in 1..=3 {
        let mut update = change(19, 1, f64::from(km), "a");
        update.notification = Some((format!("{km}公里"), format!("{km} km")));
        s.apply(&update).await.expect("apply");
    }
    let texts = |items: &[minsheng::store::OutboxItem]| {
        let mut v: Vec<(String, String)> = items
            .iter()
            .map(|i| (i.chat_id.clone(), i.text.clone()))
            .collect();
        v.sort();
        v
    };
    // A second replica claiming at the same time gets nothing of these two chats.
    let first = s.claim_outbox("telegram", 10, 60_000).await.expect("claim");
    let other = db.open().await;
    assert!(
        other
            .claim_outbox("telegram", 10, 60_000)
            .await
            .expect("claim")
            .is_empty()
    );
    assert_eq!(
        texts(&first),
        vec![("c1".into(), "1 km".into()), ("c2".into(), "1 km".into())]
    );
    // c1's first is retried later: its second must wait; c2 moves on.
    let c1 = first.iter().find(|i| i.chat_id == "c1").expect("c1");
    let c2 = first.iter().find(|i| i.chat_id == "c2").expect("c2");
    s.retry_outbox(c1.id, 60_000).await.expect("retry");
    s.complete_outbox(c2.id).await.expect("complete");
    let next = other
        .claim_outbox("telegram", 10, 60_000)
        .await
        .expect("claim");
    assert_eq!(texts(&next), vec![("c2".into(), "2 km".into())]);
}

// ---- the record: stable ids, refused catalogues, the hash chain -------------------------------

/// The catalogue with a new metric inserted first in task 19: roads 19.2, parking 19.3, the
/// milestone 19.4.
fn catalogue_with_insert() -> Vec<Task> {
    let mut tasks = catalogue(100.0, "New roads");
    let t19 = &mut tasks[1];
    let mut new = t19.metrics[0].clone();
    new.id = "t19-bridges".into();
    new.name = bi("新建桥梁", "New bridges");
    t19.metrics.insert(0, new);
    for (i, m) in t19.metrics.iter_mut().enumerate() {
        m.number = i as u32 + 1;
    }
    t19.milestones[0].number = 4;
    tasks
}

async fn exec(store: &Store, sql: &'static str, bind: i64) {
    match store {
        Store::Sqlite(p) => sqlx::query(sql).bind(bind).execute(p).await.map(|_| ()),
        Store::Postgres(p) => sqlx::query(sql).bind(bind).execute(p).await.map(|_| ()),
    }
    .expect("plain SQL");
}

async fn an_inserted_metric_moves_nothing(db: Db) {
    synced(&db).await;
    db.store
        .apply(&change(19, 2, 3.0, "b"))
        .await
        .expect("parking");
    let milestone = Change {
        value: None,
        stage: Some(Stage::InProgress),
        ..change(19, 3, 0.0, "b")
    };
    db.store.apply(&milestone).await.expect("milestone");
    db.store
        .apply(&change(19, 1, 42.5, "a"))
        .await
        .expect("roads");

    db.store
        .sync_catalogue(&lists(catalogue_with_insert()))
        .await
        .expect("sync with an inserted metric");
    assert_eq!(
        current(&db.store, 19, 1).await,
        None,
        "the new metric is empty"
    );
    assert_eq!(current(&db.store, 19, 2).await, Some(42.5));
    assert_eq!(current(&db.store, 19, 3).await, Some(3.0));
    assert_eq!(state(&db.store, 19, 4).await.stage, Some(Stage::InProgress));
    // The audit trail shows each row at its item's current position.
    let history = db.store.history(2024, 19, 10).await.expect("history");
    let numbers: Vec<Option<u32>> = history.iter().map(|e| e.number).collect();
    assert_eq!(numbers, vec![Some(2), Some(4), Some(3)]);
    // Undo follows the item, not the position.
    let outcome = db
        .store
        .undo_last("telegram", "a", &actor("a"), |_| None)
        .await
        .expect("undo");
    match outcome {
        UndoOutcome::Undone(undo, reverted) => {
            assert_eq!(undo.number, Some(2));
            assert_eq!(reverted.number, Some(2));
        }
        other => panic!("expected an undo, got {other:?}"),
    }
    assert_eq!(current(&db.store, 19, 2).await, None);
    assert_eq!(current(&db.store, 19, 3).await, Some(3.0));
    db.store
        .apply(&change(19, 1, 1.0, "a"))
        .await
        .expect("new metric");
    assert_eq!(current(&db.store, 19, 1).await, Some(1.0));
    assert_eq!(current(&db.store, 19, 3).await, Some(3.0));
    assert_eq!(db.store.verify_audit().await.expect("verify"), None);
}

async fn dropping_recorded_progress_is_refused(db: Db) {
    synced(&db).await;
    db.store
        .apply(&change(19, 2, 3.0, "b"))
        .await
        .expect("parking");

    let mut dropped = catalogue(100.0, "New roads");
    dropped[1].metrics.remove(1);
    dropped[1].milestones[0].number = 2;
    match db.store.sync_catalogue(&lists(dropped.clone())).await {
        Err(StoreError::Catalogue { task, item, .. }) => {
            assert_eq!((task, item.as_str()), (19, "t19-parking"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    match db.store.check_catalogue(&lists(dropped.clone())).await {
        Err(StoreError::Catalogue { item, .. }) => assert_eq!(item, "t19-parking"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        current(&db.store, 19, 2).await,
        Some(3.0),
        "nothing changed"
    );

    // Another dimension for a metric with progress: refused too.
    let mut metres = catalogue(100.0, "New roads");
    metres[1].metrics[1].unit = Unit::parse("公里").expect("unit");
    assert!(matches!(
        db.store.sync_catalogue(&lists(metres.clone())).await,
        Err(StoreError::Catalogue { task: 19, .. })
    ));

    // Retired: kept, shown, no longer updated.
    let mut retired = catalogue(100.0, "New roads");
    retired[1].metrics[1].retired = true;
    db.store
        .sync_catalogue(&lists(retired.clone()))
        .await
        .expect("retired is fine");
    assert_eq!(current(&db.store, 19, 2).await, Some(3.0));
    assert!(db.store.apply(&change(19, 2, 4.0, "b")).await.is_err());
    assert_eq!(current(&db.store, 19, 2).await, Some(3.0));

    // A metric without progress may leave.
    let mut no_roads = retired.clone();
    no_roads[1].metrics.remove(0);
    no_roads[1].metrics[0].number = 1;
    no_roads[1].milestones[0].number = 2;
    db.store
        .sync_catalogue(&lists(no_roads.clone()))
        .await
        .expect("roads had no progress");
    assert_eq!(current(&db.store, 19, 1).await, Some(3.0));
}

async fn an_older_store_is_mapped_once(db: Db) {
    synced(&db).await;
    db.store
        .apply(&change(19, 2, 3.0, "b"))
        .await
        .expect("parking");
    // As the migration leaves a store written before ids: no item ids.
    exec(
        &db.store,
        "UPDATE metrics SET item_id = NULL WHERE task > $1",
        0,
    )
    .await;
    synced(&db).await;
    assert_eq!(
        count(
            &db.store,
            "SELECT COUNT(*) FROM metrics WHERE item_id IS NULL"
        )
        .await,
        0
    );
    db.store
        .sync_catalogue(&lists(catalogue_with_insert()))
        .await
        .expect("sync with an inserted metric");
    assert_eq!(current(&db.store, 19, 3).await, Some(3.0));
}

async fn verify_audit_names_tampered_rows(db: Db) {
    synced(&db).await;
    let admin = actor("root");
    let mut ids = Vec::new();
    for (i, v) in [1.0, 2.0, 3.0, 4.0].into_iter().enumerate() {
        let e = db
            .store
            .apply(&change(19, 1, v, &format!("u{i}")))
            .await
            .expect("apply");
        ids.push(e.id);
    }
    db.store
        .grant("telegram", "42", &[19], None, &admin)
        .await
        .expect("grant");
    assert!(
        db.store
            .revoke_by("telegram", "42", &admin)
            .await
            .expect("revoke")
    );
    assert_eq!(
        count(
            &db.store,
            "SELECT COUNT(*) FROM audit WHERE kind IN ('grant', 'revoke')"
        )
        .await,
        2
    );
    assert_eq!(db.store.verify_audit().await.expect("verify"), None);

    // A value changed by hand, then put back.
    exec(
        &db.store,
        "UPDATE audit SET new_value = 99 WHERE id = $1",
        ids[1],
    )
    .await;
    let bad = db.store.verify_audit().await.expect("verify");
    assert_eq!(bad.map(|b| b.id), Some(ids[1]));
    exec(
        &db.store,
        "UPDATE audit SET new_value = 2 WHERE id = $1",
        ids[1],
    )
    .await;
    assert_eq!(db.store.verify_audit().await.expect("verify"), None);

    // The last row removed.
    let last = count(&db.store, "SELECT MAX(id) FROM audit").await;
    exec(&db.store, "DELETE FROM audit WHERE id = $1", last).await;
    let bad = db.store.verify_audit().await.expect("verify");
    assert_eq!(bad.map(|b| b.id), Some(last));

    // A row in the middle removed: the row after it is named.
    exec(&db.store, "DELETE FROM audit WHERE id = $1", ids[1]).await;
    let bad = db.store.verify_audit().await.expect("verify");
    assert_eq!(bad.map(|b| b.id), Some(ids[2]));
}

// ---- backup, restore, copy-store --------------------------------------------------------------

async fn fresh_sqlite() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("other.db").display());
    let store = Store::connect(&url).await.expect("open SQLite");
    (dir, store)
}

/// Something in every table.
async fn populate(store: &Store) {
    store
        .sync_catalogue(&lists(catalogue(100.0, "New roads")))
        .await
        .expect("sync");
    let mut c = change(19, 1, 3.25, "a");
    c.note = Some("东段".into());
    store.apply(&c).await.expect("apply");
    store.apply(&change(19, 2, 2.0, "b")).await.expect("apply");
    store
        .undo_last("telegram", "b", &actor("b"), |_| None)
        .await
        .expect("undo");
    store
        .record_refusal(5, Some(1), &actor("x"), "/update 5.1 3")
        .await
        .expect("refusal");
    store
        .grant("telegram", "42", &[19], Some("住建局"), &actor("root"))
        .await
        .expect("grant");
    store
        .subscribe("telegram", "7", Some(19), Lang::En)
        .await
        .expect("subscribe");
    let mut noisy = change(19, 1, 4.0, "a");
    noisy.notification = Some(("中".into(), "en".into()));
    store.apply(&noisy).await.expect("apply with notification");
    store
        .record_unanswered("telegram", "9", "where is the library")
        .await
        .expect("unanswered");
    store
        .record_feedback("telegram", "9", "qa1", true)
        .await
        .expect("feedback");
    assert!(store.first_seen("telegram", "m1").await.expect("seen"));
    store
        .remember_wechat_nonce("1700000000", "n1", 1_700_000_000, "abc")
        .await
        .expect("nonce");
    store
        .sync_admins(&[("telegram".into(), "1".into())])
        .await
        .expect("admins");
    assert!(
        store
            .first_contact("telegram", "9")
            .await
            .expect("first contact")
    );
    store
        .save_wechat_token("wx1", "token-1", 1_900_000_000_000)
        .await
        .expect("token");
    store
        .claim_reminders(&["stale:t19-roads:0:1:telegram:42".into()], |_| None)
        .await
        .expect("reminder");
    // What editors taught, one phrasing removed again, and an editor's numbered list.
    store
        .grant_editor("telegram", "55", &actor("root"))
        .await
        .expect("editor");
    store
        .teach(
            2024,
            "qa3",
            Lang::Zh,
            "单位车位晚上给居民用吗",
            &actor("55"),
        )
        .await
        .expect("teach");
    store
        .teach(2024, "qa1", Lang::En, "why this list", &actor("55"))
        .await
        .expect("teach");
    store.unteach(2, &actor("55")).await.expect("unteach");
    store
        .save_editor_view("telegram", "55", &[1])
        .await
        .expect("view");
    let update = |key: &str| minsheng::store::InboxItem {
        key: key.into(),
        sender: "9".into(),
        sent_at: 1_700_000_000,
        seq: key.parse().unwrap_or(0),
        bucket: 28_333_333,
        body: format!("{{\"update_id\":{key}}}"),
    };
    store
        .inbox_put("telegram", &[update("1"), update("2")])
        .await
        .expect("inbox");
    let claimed = store
        .inbox_round("telegram", "replica", &[], 10, 5_000)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1, "a sender's updates one at a time");
}

/// WeChat's access token is shared through the store until it expires or is dropped.
async fn wechat_tokens_expire_and_drop(db: Db) {
    let s = &db.store;
    assert_eq!(s.wechat_token("wx1", 1_000).await.expect("read"), None);
    s.save_wechat_token("wx1", "T1", 5_000).await.expect("save");
    assert_eq!(
        s.wechat_token("wx1", 4_999).await.expect("read").as_deref(),
        Some("T1")
    );
    assert_eq!(
        s.wechat_token("wx1", 5_000).await.expect("read"),
        None,
        "expired"
    );
    s.save_wechat_token("wx1", "T2", 9_000)
        .await
        .expect("replace");
    assert_eq!(
        s.wechat_token("wx1", 5_000).await.expect("read").as_deref(),
        Some("T2")
    );
    assert_eq!(
        s.wechat_token("wx2", 5_000).await.expect("read"),
        None,
        "per AppID"
    );
    s.drop_wechat_token("wx1").await.expect("drop");
    assert_eq!(s.wechat_token("wx1", 5_000).await.expect("read"), None);
}

async fn copy_store_keeps_every_row(db: Db) {
    let (_a, source) = fresh_sqlite().await;
    populate(&source).await;
    let original = source.dump().await.expect("dump");
    assert!(
        original.values().all(|rows| !rows.is_empty()),
        "{original:?}"
    );

    // SQLite → this backend → SQLite.
    source.copy_into(&db.store).await.expect("copy there");
    let (_b, back) = fresh_sqlite().await;
    db.store.copy_into(&back).await.expect("copy back");
    assert_eq!(db.store.dump().await.expect("dump"), original);
    assert_eq!(back.dump().await.expect("dump"), original);
    assert_eq!(db.store.verify_audit().await.expect("verify"), None);
    assert_eq!(back.verify_audit().await.expect("verify"), None);
    assert_eq!(
        db.store.history(2024, 19, 100).await.expect("history"),
        source.history(2024, 19, 100).await.expect("history")
    );

    // The copy carries on where the source stopped: fresh ids, an unbroken chain.
    db.store
        .apply(&change(19, 1, 5.0, "a"))
        .await
        .expect("apply after copy");
    assert_eq!(db.store.verify_audit().await.expect("verify"), None);
    // Never into a store that holds anything.
    assert!(source.copy_into(&db.store).await.is_err());
}

async fn a_backup_during_a_burst_restores(db: Db) {
    synced(&db).await;
    let writer = db.open().await;
    let burst = tokio::spawn(async move {
        for i in 0..60 {
            writer
                .apply(&change(19, 1 + (i % 2), f64::from(i), "a"))
                .await
                .expect("apply in the burst");
        }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let during = dir.path().join("during.backup");
    db.store
        .backup(&during)
        .await
        .expect("backup during the burst");
    burst.await.expect("burst");
    assert!(db.store.backup(&during).await.is_err(), "never overwrites");

    if db.backend == Backend::Sqlite {
        use sqlx::Connection as _;
        let url = format!("sqlite://{}", during.display());
        let mut conn = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("open backup");
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .expect("integrity_check");
        assert_eq!(check, "ok");
        conn.close().await.expect("close");
    }
    // The backup taken mid-burst restores to the history as it stood then.
    let (_r, restored) = fresh_sqlite().await;
    restored.restore(&during).await.expect("restore");
    assert_eq!(restored.verify_audit().await.expect("verify"), None);
    let then = restored.history(2024, 19, 1000).await.expect("history");
    let now = db.store.history(2024, 19, 1000).await.expect("history");
    let last = then.first().map_or(0, |e| e.id);
    let expected: Vec<_> = now.into_iter().filter(|e| e.id <= last).collect();
    assert_eq!(then, expected);

    // A backup after the burst restores to an identical /history.
    let after = dir.path().join("after.backup");
    db.store.backup(&after).await.expect("backup after");
    let (_s, restored) = fresh_sqlite().await;
    restored.restore(&after).await.expect("restore");
    assert_eq!(
        restored.history(2024, 19, 1000).await.expect("history"),
        db.store.history(2024, 19, 1000).await.expect("history")
    );
    assert!(
        restored.restore(&after).await.is_err(),
        "only into an empty store"
    );
}

// ---- a store written before item ids ------------------------------------------------------------

/// A store at migration 0004 with progress and audit rows, as deployments hold today: the
/// first start of this version maps every value and audit row to its item's id, then a metric
/// inserted before them moves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_sqlite_store_keeps_every_value_and_audit_row() {
    use sqlx::Connection as _;
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    let old = old_migrations(dir.path(), "sqlite");
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
    let migrator = sqlx::migrate::Migrator::new(old.as_path())
        .await
        .expect("old migrations");
    migrator.run(&mut conn).await.expect("migrate to 0004");
    for sql in LEGACY_ROWS {
        sqlx::query(sql)
            .execute(&mut conn)
            .await
            .expect("legacy row");
    }
    conn.close().await.expect("close");
    read_only_checks(&url).await;
    older_store_checks(Store::connect(&url).await.expect("migrate to this version")).await;
}

/// `check-faq --against` on a store of the previous version: the same verdicts, nothing written.
async fn read_only_checks(url: &str) {
    let store = Store::open_read_only(url).await.expect("open read-only");
    let changes = store
        .check_catalogue(&lists(catalogue(120.0, "New roads")))
        .await
        .expect("an unchanged catalogue passes");
    assert_eq!(
        changes,
        vec!["2024 19.1 t19-roads: target 100 → 120".to_string()]
    );
    let mut dropped = catalogue(100.0, "New roads");
    dropped[1].metrics.remove(1);
    dropped[1].milestones[0].number = 2;
    // Before ids, rows are mapped by position: the milestone now at 19.2 cannot take the
    // parking figures recorded there.
    match store.check_catalogue(&lists(dropped.clone())).await {
        Err(StoreError::Catalogue { task, item, .. }) => {
            assert_eq!((task, item.as_str()), (19, "19.2 (mapped to m-acceptance)"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM _sqlx_migrations").await,
        4
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_postgres_store_keeps_every_value_and_audit_row() {
    use sqlx::{AssertSqlSafe, Connection as _};
    let Ok(base) = std::env::var(db::PG_ENV) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let old = old_migrations(dir.path(), "postgres");
    let schema = db::unique_name();
    let mut admin = sqlx::PgConnection::connect(&base)
        .await
        .expect("PostgreSQL");
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    {
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("open");
        let migrator = sqlx::migrate::Migrator::new(old.as_path())
            .await
            .expect("old migrations");
        migrator.run(&mut conn).await.expect("migrate to 0004");
        for sql in LEGACY_ROWS {
            sqlx::query(sql)
                .execute(&mut conn)
                .await
                .expect("legacy row");
        }
        conn.close().await.expect("close");
    }
    // Spawned so that a failing check still gets its schema dropped.
    let outcome = tokio::spawn(async move {
        read_only_checks(&url).await;
        older_store_checks(Store::connect(&url).await.expect("migrate to this version")).await;
    })
    .await;
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut admin)
        .await
        .expect("drop schema");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// A copy of the migrations before 0005 of `backend`, in `dir`.
fn old_migrations(dir: &std::path::Path, backend: &str) -> std::path::PathBuf {
    let old = dir.join("migrations");
    std::fs::create_dir(&old).expect("mkdir");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    for entry in std::fs::read_dir(&src).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        if name.as_str() < "0005" {
            std::fs::copy(&path, old.join(&name)).expect("copy");
        }
    }
    old
}

const LEGACY_ROWS: [&str; 8] = [
    "INSERT INTO tasks VALUES (19, 'task-19', '道路建设', 'Roads', 0)",
    "INSERT INTO tasks VALUES (5, 'task-5', '养老服务', 'Elderly care', 0)",
    "INSERT INTO metrics (task, number, kind, name_zh, name_en, target, unit) \
     VALUES (5, 1, 'metric', '养老服务站', 'Care stations', 12, '处')",
    "INSERT INTO metrics (task, number, kind, name_zh, name_en, target, unit, \
     current_value, updated_at, updated_by_channel, updated_by_user, updated_by_name) \
     VALUES (19, 1, 'metric', '新建道路', 'New roads', 100, '公里', 42.5, 5, \
     'telegram', 'a', 'Officer a')",
    "INSERT INTO metrics (task, number, kind, name_zh, name_en, target, unit, \
     current_value, updated_at, updated_by_channel, updated_by_user, updated_by_name) \
     VALUES (19, 2, 'metric', '停车位', 'Parking sites', 8, '处', 3, 6, \
     'telegram', 'b', 'Officer b')",
    "INSERT INTO metrics (task, number, kind, name_zh, name_en) \
     VALUES (19, 3, 'milestone', '完成验收', 'Acceptance')",
    "INSERT INTO audit (kind, task, number, actor_channel, actor_user, actor_name, \
     old_value, new_value, created_at) \
     VALUES ('update', 19, 1, 'telegram', 'a', 'Officer a', NULL, 42.5, 5)",
    "INSERT INTO audit (kind, task, number, actor_channel, actor_user, actor_name, \
     old_value, new_value, created_at) \
     VALUES ('update', 19, 2, 'telegram', 'b', 'Officer b', NULL, 3, 6)",
];

async fn older_store_checks(store: Store) {
    // Before the first start the legacy rows are not sealed yet, and that is not a break.
    assert_eq!(store.verify_audit().await.expect("verify"), None);
    store
        .sync_catalogue(&lists(catalogue(100.0, "New roads")))
        .await
        .expect("first sync maps the ids");
    assert_eq!(store.verify_audit().await.expect("verify"), None);
    store
        .sync_catalogue(&lists(catalogue_with_insert()))
        .await
        .expect("sync with an inserted metric");
    assert_eq!(current(&store, 19, 1).await, None);
    assert_eq!(current(&store, 19, 2).await, Some(42.5));
    assert_eq!(current(&store, 19, 3).await, Some(3.0));
    let numbers: Vec<Option<u32>> = store
        .history(2024, 19, 10)
        .await
        .expect("history")
        .iter()
        .map(|e| e.number)
        .collect();
    assert_eq!(numbers, vec![Some(3), Some(2)]);
    // The legacy update can still be undone, on the metric it was made to.
    store
        .undo_last("telegram", "b", &actor("b"), |_| None)
        .await
        .expect("undo");
    assert_eq!(current(&store, 19, 3).await, None);
    assert_eq!(current(&store, 19, 2).await, Some(42.5));
    assert_eq!(store.verify_audit().await.expect("verify"), None);
}
