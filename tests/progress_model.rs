//! Progress that tells the truth, end to end through the core over the real `faq/` and a real
//! store (SQLite, and PostgreSQL when `MINSHENG_PG_URL` is set), with a clock the test sets:
//! qualifiers, levels and shares, whole counts, totals and their parts, recurring, ongoing and
//! outcome goals, and an overview that never reads "not reported" as zero.

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use minsheng::Lang;
use minsheng::core::{Admins, Core, Input, Message, Sender};
use minsheng::knowledge::Knowledge;
use minsheng::store::{MetricState, Store};

#[path = "common/db.rs"]
mod db;
use db::{Db, count};

/// A clock the test moves.
#[derive(Clone)]
struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    fn at(y: i32, m: u32, d: u32) -> TestClock {
        TestClock(Arc::new(Mutex::new(day(y, m, d))))
    }
    fn set(&self, y: i32, m: u32, d: u32) {
        *self.0.lock().expect("clock") = day(y, m, d);
    }
}

/// Noon in Chongqing on that day.
fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 4, 0, 0)
        .single()
        .expect("a date")
}

async fn core(store: Store, clock: &TestClock) -> Core {
    let knowledge =
        Knowledge::load_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("faq").as_path())
            .expect("faq/ loads");
    let admins = Admins::parse("1").expect("admins");
    let c = clock.0.clone();
    Core::start(Arc::new(knowledge), store, admins)
        .await
        .expect("core starts")
        .with_clock(Arc::new(move || *c.lock().expect("clock")))
}

fn officer(lang: Lang) -> Sender {
    Sender {
        channel: "console",
        user_id: "1".into(),
        name: "officer".into(),
        lang: Some(lang),
    }
}

async fn say(core: &Core, lang: Lang, text: &str) -> String {
    core.handle(&Message {
        sender: officer(lang),
        chat_id: "chat-1".into(),
        input: Input::Text(text.into()),
    })
    .await
    .iter()
    .map(|r| r.text.as_str())
    .collect::<Vec<_>>()
    .join("\n")
}

async fn zh(core: &Core, text: &str) -> String {
    say(core, Lang::Zh, text).await
}

async fn ok(core: &Core, text: &str) -> String {
    let reply = zh(core, text).await;
    assert!(reply.contains("✅ 已更新"), "{text}: {reply}");
    reply
}

/// The `/tasks` line of task `n`.
async fn line(core: &Core, n: u32) -> String {
    let tasks = zh(core, "/tasks").await;
    tasks
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{n}. ")))
        .unwrap_or_else(|| panic!("no line for task {n} in {tasks}"))
        .to_string()
}

async fn snapshot(store: &Store) -> (Vec<MetricState>, i64, i64) {
    (
        store.states(2024, None).await.expect("states"),
        count(store, "SELECT COUNT(*) FROM audit WHERE kind <> 'refused'").await,
        count(store, "SELECT COUNT(*) FROM outbox").await,
    )
}

// ---- scenarios --------------------------------------------------------------------------------

/// Task 16: 870 of "860余台" is met and says so; the unreported institutions metric is "not
/// reported", not zero, so the task reads neither 50% nor done.
async fn task_16_met_target_and_unreported_metric(db: Db) {
    let clock = TestClock::at(2024, 6, 1);
    let core = core(db.store, &clock).await;
    ok(&core, "/update 16.2 870台").await;
    let status = zh(&core, "/status 16").await;
    assert!(status.contains("870 / ≥ 860台 ✓"), "{status}");
    assert!(status.contains("目标 10家 · 暂无进度更新"), "{status}");
    assert!(
        !status.contains("50%") && !status.contains("已完成 ·"),
        "{status}"
    );
    let l = line(&core, 16).await;
    assert!(l.contains("达标 1/2 · 1 项未报告"), "{l}");
    assert!(!l.contains('%'), "{l}");
    ok(&core, "/update 16.1 10家").await;
    assert!(line(&core, 16).await.contains("✅ 已完成"));
    let en = say(&core, Lang::En, "/status 16").await;
    assert!(en.contains("870 / ≥ 860 units ✓"), "{en}");
    assert!(en.contains("10 / 10 institutions ✓"), "{en}");
}

/// Task 12: one of ten metrics above its target is one of ten met, not "10%".
async fn task_12_one_of_ten(db: Db) {
    let clock = TestClock::at(2024, 6, 1);
    let core = core(db.store, &clock).await;
    ok(&core, "/update 12.4 106个").await;
    let l = line(&core, 12).await;
    assert!(l.contains("达标 1/10 · 9 项未报告"), "{l}");
    assert!(!l.contains("10%"), "{l}");
    let status = zh(&core, "/status 12").await;
    assert!(status.contains("106 / ≥ 100个 ✓"), "{status}");
    assert!(status.contains("目标 ≥ 80名"), "不少于80名: {status}");
    assert!(status.contains("目标 ≥ 10人"), "10人以上: {status}");
}

/// Task 8: a recurring assessment counts in its school year only; an ongoing activity is active,
/// never done; the task is done only when every part is.
async fn task_8_recurring_and_ongoing(db: Db) {
    let clock = TestClock::at(2024, 6, 1);
    let core = core(db.store, &clock).await;
    ok(&core, "/update 8.1 1次").await;
    ok(&core, "/update 8.2 85%").await;
    let l = line(&core, 8).await;
    assert!(l.contains("达标 2/3 · 1 项未报告"), "{l}");
    assert!(
        !l.contains("已完成"),
        "the ongoing activity is not reported: {l}"
    );

    let before = snapshot(core.store()).await;
    let reply = zh(&core, "/update 8.3 已完成").await;
    assert!(
        reply.contains("持续性工作") && reply.contains("没有改动"),
        "{reply}"
    );
    assert_eq!(snapshot(core.store()).await, before);
    ok(&core, "/update 8.3 进行中 本学期已开展12场").await;
    let status = zh(&core, "/status 8").await;
    assert!(status.contains("持续推进中"), "{status}");
    assert!(
        status.contains("本学年 1次（目标 每学年 ≥ 1次） ✓"),
        "{status}"
    );
    assert!(line(&core, 8).await.contains("✅ 已完成"));

    // The assessment was recorded in the school year 2023–24; in October 2024 a new school year
    // has begun and it has to be done again.
    let sept_2023 = day(2023, 10, 1).timestamp_millis();
    match core.store() {
        Store::Sqlite(p) => {
            sqlx::query("UPDATE metrics SET updated_at = $1 WHERE task = 8 AND number = 1")
                .bind(sept_2023)
                .execute(p)
                .await
                .map(|_| ())
        }
        Store::Postgres(p) => {
            sqlx::query("UPDATE metrics SET updated_at = $1 WHERE task = 8 AND number = 1")
                .bind(sept_2023)
                .execute(p)
                .await
                .map(|_| ())
        }
    }
    .expect("backdate");
    clock.set(2024, 10, 15);
    let status = zh(&core, "/status 8").await;
    assert!(
        status.contains("暂无进度更新（上一周期报告 1次）"),
        "{status}"
    );
    assert!(!line(&core, 8).await.contains("✅"));
    clock.set(2024, 6, 1);
    assert!(line(&core, 8).await.contains("✅ 已完成"));
}

/// Task 7: a level and a share are where things stand, not work done; shares stay within
/// 0–100%, and a bare fraction for a percentage is refused as ambiguous.
async fn task_7_levels_and_shares(db: Db) {
    let clock = TestClock::at(2024, 6, 1);
    let core = core(db.store, &clock).await;
    let reply = ok(&core, "/update 7.1 3.5个").await;
    assert!(reply.contains("3.5个（目标 ≥ 3.9个，尚未达到）"), "{reply}");
    assert!(!reply.contains("89.7"), "{reply}");
    let before = snapshot(core.store()).await;
    for (input, says) in [
        ("/update 7.2 0.4", "是 0.4% 还是 40%"),
        ("/update 7.2 120%", "不能超过 100%"),
        ("/update 7.2 100.5%", "不能超过 100%"),
    ] {
        let reply = zh(&core, input).await;
        assert!(
            reply.contains(says) && reply.contains("没有改动"),
            "{input}: {reply}"
        );
    }
    assert_eq!(snapshot(core.store()).await, before);
    let reply = ok(&core, "/update 7.2 40").await;
    assert!(
        reply.contains("（记为 40%）"),
        "how the value was read: {reply}"
    );
    assert!(reply.contains("40%（目标 ≥ 40%） ✓"), "{reply}");
    // A level per thousand people may have a fraction.
    ok(&core, "/update 7.1 3.95个").await;
    assert!(line(&core, 7).await.contains("✅ 已完成"));
    let en = say(&core, Lang::En, "/status 7").await;
    assert!(en.contains("3.95 (target ≥ 3.9) ✓"), "{en}");
}

/// Counts of discrete things take whole numbers.
async fn whole_things_are_whole(db: Db) {
    let clock = TestClock::at(2024, 6, 1);
    let core = core(db.store, &clock).await;
    let before = snapshot(core.store()).await;
    for input in [
        "/update 1.1 0.6个",
        "/update 9.1 1.8家",
        "/update 3.1 0.5处",
        "/update 12.9 2.5场次",
    ] {
        let reply = zh(&core, input).await;
        assert!(
            reply.contains("不是整数") && reply.contains("没有改动"),
            "{input}: {reply}"
        );
    }
    assert_eq!(snapshot(core.store()).await, before);
    ok(&core, "/update 1.1 1个").await;
    // Areas and lengths are not counts.
    ok(&core, "/update 1.2 1.15万平方米").await;
    let en = say(&core, Lang::En, "/status 1").await;
    assert!(en.contains("11,500 / 22,700 m²"), "{en}");
    assert!(en.contains("1 / 1 ✓"), "{en}");
}

/// Task 19: parts are shown under their total and never counted beside it; the task is done
/// only when the parts are too.
async fn task_19_totals_and_parts(db: Db) {
    // Three quarters of the year gone.
    let clock = TestClock::at(2024, 10, 1);
    let core = core(db.store, &clock).await;
    ok(&core, "/update 19.1 4.65万平方米").await;
    ok(&core, "/update 19.2 8.4万平方米").await;
    let status = zh(&core, "/status 19").await;
    assert!(
        status.contains("19.2 底质改良面积（属于 19.1）"),
        "{status}"
    );
    assert!(status.contains("8.4 / ≈ 8.36万平方米 ✓"), "约: {status}");
    assert!(
        status.contains("19.9 硬质护岸生态修复长度（属于 19.7）"),
        "{status}"
    );
    // Half the total is behind three quarters of the year; counting the finished part beside
    // its total would have read 75% and "on track".
    assert!(
        line(&core, 19).await.contains("🔴 落后于进度"),
        "{}",
        line(&core, 19).await
    );
    assert!(
        status.contains("🔴 落后于进度 · 达标 1/10 · 8 项未报告"),
        "{status}"
    );
}

/// "Behind" is behind the calendar of the list's reporting period.
async fn behind_means_behind_the_calendar(db: Db) {
    let clock = TestClock::at(2024, 2, 1);
    let core = core(db.store, &clock).await;
    ok(&core, "/update 14 5km").await;
    assert!(line(&core, 14).await.contains("🟢 按计划推进"));
    let tasks = zh(&core, "/tasks").await;
    assert!(tasks.contains("截至 2024-02-01"), "{tasks}");
    assert!(
        tasks.contains("已完成 0 项 · 按计划 1 项 · 落后 0 项 · 尚未报告 19 项"),
        "{tasks}"
    );
    clock.set(2024, 7, 1);
    assert!(line(&core, 14).await.contains("🔴 落后于进度"));
    ok(&core, "/update 14 12.5km").await;
    assert!(line(&core, 14).await.contains("🟢 按计划推进"));
    clock.set(2024, 11, 15);
    let tasks = zh(&core, "/tasks").await;
    assert!(tasks.contains("落后：第14项"), "{tasks}");
    // After the period, unfinished is behind; finished is done.
    clock.set(2025, 2, 1);
    assert!(zh(&core, "/tasks").await.contains("报告期已结束"));
    assert!(line(&core, 14).await.contains("🔴 落后于进度"));
    ok(&core, "/update 14 20km").await;
    assert!(line(&core, 14).await.contains("✅ 已完成"));
    let en = say(&core, Lang::En, "/tasks").await;
    assert!(
        en.contains("1 done · 0 on track · 0 behind · 19 not reported"),
        "{en}"
    );
}

/// Outcomes are an officer's assessment; milestones in progress count for something.
async fn outcomes_and_milestones(db: Db) {
    let clock = TestClock::at(2024, 3, 1);
    let core = core(db.store, &clock).await;
    ok(&core, "/update 18.5 进行中 早晚高峰拥堵减少").await;
    let status = zh(&core, "/status 18").await;
    assert!(status.contains("（成效目标）"), "{status}");
    assert!(status.contains("正在改善（工作人员评估）"), "{status}");
    ok(&core, "/update 6.2 进行中").await;
    ok(&core, "/update 6.1 16处").await;
    let l = line(&core, 6).await;
    assert!(l.contains("达标 1/2") && !l.contains("✅"), "{l}");
    ok(&core, "/update 6.2 已完成").await;
    assert!(line(&core, 6).await.contains("✅ 已完成"));
}

on_both_backends!(
    task_16_met_target_and_unreported_metric,
    task_12_one_of_ten,
    task_8_recurring_and_ongoing,
    task_7_levels_and_shares,
    whole_things_are_whole,
    task_19_totals_and_parts,
    behind_means_behind_the_calendar,
    outcomes_and_milestones,
);
