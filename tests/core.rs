//! The channel-agnostic core end to end: commands, authorization, updates, undo, subscriptions
//! and free-text progress questions, over the real `faq/` and a real store (a SQLite file, and
//! PostgreSQL when `MINSHENG_PG_URL` is set).

use std::path::Path;
use std::sync::Arc;

use minsheng::Lang;
use minsheng::core::{Admins, Core, Input, Message, Reply, Sender};
use minsheng::knowledge::Knowledge;
use minsheng::store::{MetricState, Store};

#[path = "common/db.rs"]
mod db;
use db::{Db, count};

async fn core(store: Store) -> Core {
    let knowledge =
        Knowledge::load_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("faq").as_path())
            .expect("faq/ loads");
    let admins = Admins::parse("1,telegram:900,wechat:oAdmin").expect("admins");
    Core::start(Arc::new(knowledge), store, admins)
        .await
        .expect("core starts")
}

fn from(channel: &'static str, user: &str) -> Sender {
    Sender {
        channel,
        user_id: user.into(),
        name: format!("user {user}"),
        lang: None,
    }
}

async fn say(core: &Core, sender: &Sender, text: &str) -> Vec<Reply> {
    core.handle(&Message {
        sender: sender.clone(),
        chat_id: format!("chat-{}", sender.user_id),
        input: Input::Text(text.into()),
    })
    .await
}

async fn text(core: &Core, sender: &Sender, text: &str) -> String {
    let replies = say(core, sender, text).await;
    assert!(!replies.is_empty(), "no reply to {text:?}");
    replies
        .iter()
        .map(|r| r.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn press(core: &Core, sender: &Sender, data: &str) -> Vec<Reply> {
    core.handle(&Message {
        sender: sender.clone(),
        chat_id: format!("chat-{}", sender.user_id),
        input: Input::Button(data.into()),
    })
    .await
}

/// Everything a bad input could have touched: progress, the audit trail, the outbox.
async fn snapshot(store: &Store) -> (Vec<MetricState>, i64, i64) {
    (
        store.states(2024, None).await.expect("states"),
        count(store, "SELECT COUNT(*) FROM audit WHERE kind <> 'refused'").await,
        count(store, "SELECT COUNT(*) FROM outbox").await,
    )
}

// ---- scenarios --------------------------------------------------------------------------------

async fn bad_updates_are_refused_and_change_nothing(db: Db) {
    let core = core(db.store).await;
    let admin = from("console", "1");
    // A subscriber, so that a wrongly applied update would also show in the outbox.
    text(&core, &from("telegram", "7"), "/subscribe all").await;
    let before = snapshot(core.store()).await;
    let long_note = "很".repeat(1_001);
    let cases: &[(&str, &[&str])] = &[
        ("/update", &["请写上任务编号"]),
        ("/update 99 5km", &["没有找到任务", "99"]),
        ("/update 0 5km", &["没有找到任务"]),
        ("/update 供暖 5km", &["没有找到任务"]),
        ("/update 14", &["请写上数值和单位", "14.1"]),
        ("/update 14 abc", &["不是有效的数值", "abc"]),
        ("/update 14 NaN", &["不是有效的数值"]),
        ("/update 14 inf", &["不是有效的数值"]),
        ("/update 14 -5km", &["不能为负数"]),
        ("/update 14 5kg", &["不认识单位", "kg"]),
        ("/update 14 5个", &["单位“个”与第14项的指标不符", "14.1"]),
        ("/update 14 300km", &["超过", "10倍"]),
        ("/update 14 200001米", &["超过", "10倍"]),
        (
            "/update 19 3.2km",
            &["多个指标符合", "19.7", "19.9", "19.10"],
        ),
        ("/update 19 河马 3.2km", &["没有“河马”这个指标"]),
        ("/update 19.99 3.2km", &["没有“19.99”这个指标"]),
        ("/update 10 5个", &["按阶段统计"]),
        ("/update 14 已完成", &["按数值统计"]),
        ("/update 10 进行中", &["多个指标符合", "10.1", "10.4"]),
        // A value is one number in one form: nothing is read as some other number.
        (
            "/update 14 1,5km",
            &[
                "“1,5km”",
                "数值里不能有逗号（千位分隔符或小数逗号）",
                "写成 1.5km",
            ],
        ),
        ("/update 14 1，5km", &["不能有逗号", "写成 1.5km"]),
        ("/update 14 １,５km", &["不能有逗号", "写成 1.5km"]),
        ("/update 14 １，５ｋｍ", &["不能有逗号", "写成 1.5km"]),
        ("/update 4 1,300个", &["不能有逗号", "写成 1300个"]),
        ("/update 4 1，300", &["不能有逗号", "写成 1300 "]),
        (
            "/update 14 2_500m",
            &["“2_500m”", "不能有分隔符", "写成 2500m"],
        ),
        ("/update 14 12.5.3km", &["只能有一个小数点", "写成 12.5km"]),
        ("/update 14 5.km", &["小数点后要有数字", "写成 5km"]),
        ("/update 14 .5km", &["小数点前要有数字", "写成 0.5km"]),
        ("/update 14 1e308km", &["“1e308km”", "科学计数法"]),
        ("/update 14 1e3km", &["科学计数法", "12.5km"]),
        ("/update 14 1E3km", &["科学计数法"]),
        ("/update 14 １ｅ３ｋｍ", &["科学计数法"]),
        ("/update 14 0x10km", &["“0x10km”", "十六进制", "12.5km"]),
        (
            "/update 14 999999999999999999999999999999km",
            &["位数太多", "最多15位有效数字", "“99999999999999999999…”"],
        ),
        ("/update 14 1.0000000000000001km", &["位数太多"]),
        (
            "/update 14 ９９９９９９９９９９９９９９９９ｋｍ",
            &["位数太多"],
        ),
        // Only what follows after a space is a note.
        (
            "/update 14 12.5km西永",
            &["“12.5km西永”", "空格隔开", "/update 14 12.5km 西永"],
        ),
        (
            "/update 14 12.5公里西永片区完工",
            &["空格隔开", "/update 14 12.5公里 西永片区完工"],
        ),
        (
            "/update 19 缓冲带 3.2km，已完工",
            &["空格隔开", "/update 19 缓冲带 3.2km 已完工"],
        ),
        (
            "/update 14 12西永片区完工",
            &["空格隔开", "/update 14 12 西永片区完工"],
        ),
        ("/update 14 1km 500m", &["“1km 500m”", "两个数值", "1.5km"]),
        ("/update 14 12 公里 3 米", &["“12 公里 3 米”", "两个数值"]),
        ("/update 14 12.5km 3处完工", &["两个数值"]),
        ("/update 4 1 300个", &["两个数值"]),
        ("/update 4 1 300", &["两个数值"]),
    ];
    for (input, expected) in cases {
        let reply = text(&core, &admin, input).await;
        for e in *expected {
            assert!(reply.contains(e), "{input:?}: expected {e:?} in\n{reply}");
        }
        assert!(
            reply.contains("没有改动"),
            "{input:?}: the reply must say nothing changed:\n{reply}"
        );
        assert_eq!(
            snapshot(core.store()).await,
            before,
            "{input:?} changed the store"
        );
    }
    let reply = text(&core, &admin, &format!("/update 14 12.5km {long_note}")).await;
    assert!(reply.contains("太长"), "{reply}");
    assert_eq!(snapshot(core.store()).await, before);

    // The same refusals in English for an English speaker.
    let english = Sender {
        lang: Some(Lang::En),
        ..admin.clone()
    };
    let reply = text(&core, &english, "/update 14 5kg").await;
    assert!(reply.contains("don't know the unit"), "{reply}");
    assert!(reply.contains("Nothing was changed"), "{reply}");
    let reply = text(&core, &english, "/update 14 5个").await;
    assert!(reply.contains("does not fit"), "{reply}");
    let english_cases: &[(&str, &[&str])] = &[
        (
            "/update 14 1,5km",
            &["\"1,5km\"", "cannot contain a comma", "like 1.5km"],
        ),
        (
            "/update 4 1,300个",
            &["cannot contain a comma", "like 1300个"],
        ),
        (
            "/update 14 2_500m",
            &["cannot contain separators", "like 2500m"],
        ),
        ("/update 14 1e3km", &["exponent", "like 12.5km"]),
        ("/update 14 0x10km", &["hexadecimal"]),
        ("/update 14 .5km", &["digit before it", "like 0.5km"]),
        ("/update 14 5.km", &["digit after it", "like 5km"]),
        ("/update 14 12.5.3km", &["at most one decimal point"]),
        ("/update 14 1234567890123456km", &["too many digits"]),
        (
            "/update 14 12.5km西永",
            &["put a space", "/update 14 12.5km 西永"],
        ),
        ("/update 14 1km 500m", &["two quantities", "1.5km"]),
    ];
    for (input, expected) in english_cases {
        let reply = text(&core, &english, input).await;
        for e in expected.iter().chain(&["Nothing was changed"]) {
            assert!(reply.contains(e), "{input:?}: expected {e:?} in\n{reply}");
        }
    }
    // What is echoed back is clipped and never carries control or direction characters.
    for input in [
        "/update 14 1,5km\u{7}\u{202e}",
        "/update 14 1e3\u{1b}[2Jkm",
        &format!("/update 14 12.5km{}", "西".repeat(200)),
    ] {
        let reply = text(&core, &admin, input).await;
        assert!(reply.contains("没有改动"), "{input:?}: {reply}");
        assert!(
            !reply.contains(|c: char| c.is_control() && c != '\n' || c == '\u{202e}'),
            "{input:?}: {reply:?}"
        );
        assert!(!reply.contains(&"西".repeat(30)), "{input:?}: {reply}");
    }
    assert_eq!(snapshot(core.store()).await, before);
}

async fn updates_convert_units_and_notify(db: Db) {
    let core = core(db.store).await;
    let admin = from("console", "1");
    let resident = from("telegram", "7");
    assert!(
        text(&core, &resident, "/subscribe 14")
            .await
            .contains("已订阅第14项")
    );
    assert!(
        text(&core, &from("telegram", "8"), "/subscribe 4")
            .await
            .contains("已订阅")
    );

    let reply = text(&core, &admin, "/update 14 12.5公里 西永片区完工").await;
    assert!(reply.contains("✅"), "{reply}");
    assert!(reply.contains("12.5 / 20公里"), "{reply}");
    assert!(reply.contains("62.5%"), "{reply}");
    // Only the task-14 subscriber hears of it, once.
    let sent = core
        .store()
        .claim_outbox("telegram", 10, 60_000)
        .await
        .expect("claim");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].chat_id, "chat-7");
    assert!(sent[0].text.contains("12.5 / 20公里"), "{}", sent[0].text);
    assert!(sent[0].text.contains("西永片区完工"));

    // Metres convert to the metric's kilometres; the value is absolute, not added.
    text(&core, &admin, "/update 14 13000米").await;
    let status = text(&core, &resident, "/status 14").await;
    assert!(status.contains("13 / 20公里"), "{status}");
    assert!(status.contains("65%"), "{status}");
    assert!(status.contains("user 1"), "who updated it: {status}");

    for (input, needle) in [
        ("/update 1 1.5万平方米", "1.2"), // 万平方米 fits only the area metric
        ("/update 7 35%", "35%（目标 ≥ 40%，尚未达到）"),
        ("/update 4 860个", "860 / 1300个"),
        ("/update 19 缓冲带 3.2km", "19.7"),
        ("/update 19.9 1.2km", "19.9"),
        ("/update 9 7户", "7 / 7户"),
        ("/update 12 1500人次", "1500 / 1500人次 ✓"),
        ("/update 10.1 进行中 场地已选定", "进行中"),
        ("/update 6 黑臭水体清零 已完成", "已完成"),
        ("/update 第十六项 430台", "430 / ≥ 860台"),
        ("/update 15号 40批次", "40 / ≥ 100批次"),
        ("/update 12 0.15万人次", "1500 / 1500人次 ✓"),
        ("/update 1 1.5 万平方米", "1.5 / 2.27万平方米"),
        ("/update 7 ３５％", "35%（目标 ≥ 40%"),
    ] {
        let reply = text(&core, &admin, input).await;
        assert!(reply.contains("✅"), "{input}: {reply}");
        assert!(
            reply.contains(needle),
            "{input}: expected {needle:?} in {reply}"
        );
    }
    // The one accepted form, in full width or with a space before the unit, and a note after
    // a space.
    for (input, needle) in [
        ("/update 14 １２．５ｋｍ", "12.5 / 20公里"),
        ("/update 14 12.6 公里", "12.6 / 20公里"),
        ("/update 14 12.5km 西永片区完工", "12.5 / 20公里"),
    ] {
        let reply = text(&core, &admin, input).await;
        assert!(reply.contains("✅"), "{input}: {reply}");
        assert!(reply.contains(needle), "{input}: {reply}");
    }
    let states = core.store().states(2024, Some(14)).await.expect("states");
    assert_eq!(states[0].current, Some(12.5));
    assert_eq!(states[0].note.as_deref(), Some("西永片区完工"));
    assert!(text(&core, &admin, "/update 14 13km").await.contains("✅"));
    let status = text(&core, &resident, "/status 1").await;
    assert!(status.contains("1.5 / 2.27万平方米"), "{status}");
    let status = text(&core, &resident, "/status 19").await;
    assert!(status.contains("3.2 / ≈ 12.4公里"), "{status}");
    assert!(status.contains("1.2 / ≈ 1.8公里"), "{status}");

    // The task list shows each task's status and what it rests on.
    let tasks = text(&core, &resident, "/tasks").await;
    assert!(tasks.contains("14. 城市老旧供水管网改造"), "{tasks}");
    assert!(tasks.contains("13 / 20公里（65%）"), "{tasks}");
    assert!(tasks.contains("⚪ 尚未报告"), "{tasks}");
    assert!(
        tasks.contains("6. 推进农村黑臭水体治理攻坚 — 🔴 落后于进度 · 达标 1/2 · 1 项未报告"),
        "{tasks}"
    );
}

async fn status_by_number_name_and_question(db: Db) {
    let core = core(db.store).await;
    let admin = from("console", "1");
    text(&core, &admin, "/update 14 12.5km").await;
    let resident = from("telegram", "7");
    for input in [
        "/status 14",
        "/status 14号",
        "/status 第十四项",
        "/status 供水",
        "/status task 14",
        "/status@minsheng_bot 14",
        "供水管网改造完成了吗",
        "老旧供水管网改造进度怎么样",
        "14号任务进度",
        "第十四项进展如何",
        "task 14 progress",
    ] {
        let reply = text(&core, &resident, input).await;
        assert!(
            reply.contains("12.5 / 20") && reply.contains("62.5%"),
            "{input}: {reply}"
        );
    }
    let reply = text(&core, &resident, "how far is the Huxi River restoration?").await;
    assert!(reply.contains("Task 19"), "{reply}");
    assert!(reply.contains("no update yet"), "{reply}");
    // Asking what a numbered task is gives its official text, with the live figures.
    let reply = text(&core, &resident, "第14项是什么").await;
    assert!(reply.contains("【第14项"), "{reply}");
    assert!(reply.contains("12.5 / 20公里"), "{reply}");
    let reply = text(&core, &resident, "/status 42").await;
    assert!(reply.contains("没有找到任务"), "{reply}");
    // A definition question still gets the policy answer, not the status.
    let reply = text(&core, &resident, "什么是错时共享停车").await;
    assert!(reply.contains("错时共享"), "{reply}");
    assert!(reply.contains("/status 4"), "{reply}");
}

async fn authorization(db: Db) {
    let core = core(db.store).await;
    let admin = from("console", "1");
    let stranger = from("telegram", "55");
    let refusals = "SELECT COUNT(*) FROM audit WHERE kind = 'refused'";

    let reply = text(&core, &stranger, "/update 14 12.5km").await;
    assert!(reply.contains("只有经授权的工作人员"), "{reply}");
    assert!(reply.contains("55"), "tells them their id: {reply}");
    assert_eq!(count(core.store(), refusals).await, 1);
    assert!(
        text(&core, &stranger, "/grant 55")
            .await
            .contains("只有管理员")
    );
    assert!(text(&core, &stranger, "/undo").await.contains("只有经授权"));

    // A grant is per channel: console user 55 is not telegram user 55.
    let reply = text(&core, &admin, "/grant telegram:55 14 19").await;
    assert!(
        reply.contains("已授权 Telegram 用户 telegram:55"),
        "{reply}"
    );
    assert!(
        text(&core, &from("console", "55"), "/update 14 1km")
            .await
            .contains("只有经授权")
    );
    assert!(
        text(&core, &stranger, "/update 14 12.5km")
            .await
            .contains("✅")
    );
    let reply = text(&core, &stranger, "/update 4 100个").await;
    assert!(reply.contains("没有更新第4项的权限"), "{reply}");
    assert_eq!(count(core.store(), refusals).await, 4);
    let officers = text(&core, &admin, "/officers").await;
    assert!(officers.contains("telegram:55 — 14,19"), "{officers}");
    assert!(text(&core, &stranger, "/help").await.contains("/update"));
    assert!(
        !text(&core, &from("telegram", "56"), "/help")
            .await
            .contains("/update")
    );

    // Identity is the authenticated sender, never text in the message.
    let reply = text(&core, &from("telegram", "56"), "/update 14 20km user 1").await;
    assert!(reply.contains("只有经授权"), "{reply}");

    assert!(
        text(&core, &admin, "/revoke telegram:55")
            .await
            .contains("已收回")
    );
    // The officer row is gone; the record of the grant and the revoke is not.
    let officers = text(&core, &admin, "/officers").await;
    assert!(officers.contains("revoke telegram:55"), "{officers}");
    assert!(
        officers.contains("grant telegram:55 tasks 14,19"),
        "{officers}"
    );
    assert!(
        text(&core, &stranger, "/update 14 13km")
            .await
            .contains("只有经授权")
    );
    let status = text(&core, &admin, "/status 14").await;
    assert!(status.contains("12.5 / 20公里"), "{status}");
    // Admins from ADMIN_IDS by channel.
    assert!(
        text(&core, &from("telegram", "900"), "/update 4 10个")
            .await
            .contains("✅")
    );
    assert!(
        text(&core, &from("wechat", "oAdmin"), "/update 4 11个")
            .await
            .contains("✅")
    );
    assert!(
        text(&core, &from("wechat", "1"), "/update 4 12个")
            .await
            .contains("只有经授权")
    );
}

async fn undo_and_history(db: Db) {
    let core = core(db.store).await;
    let admin = from("console", "1");
    text(&core, &admin, "/grant telegram:55").await;
    let officer = from("telegram", "55");
    text(&core, &officer, "/update 14 10km 第一段").await;
    text(&core, &officer, "/update 14 12.5km 第二段").await;
    let reply = text(&core, &officer, "/undo").await;
    assert!(reply.contains("↩️"), "{reply}");
    assert!(reply.contains("10"), "{reply}");
    let status = text(&core, &officer, "/status 14").await;
    assert!(status.contains("10 / 20公里"), "{status}");
    assert!(
        status.contains("第一段"),
        "the note comes back too: {status}"
    );

    // Someone else's later figure is never overwritten by an undo.
    text(&core, &admin, "/update 14 11km").await;
    let reply = text(&core, &officer, "/undo").await;
    assert!(reply.contains("又被他人修改过"), "{reply}");
    assert!(
        text(&core, &officer, "/status 14")
            .await
            .contains("11 / 20公里")
    );

    let history = text(&core, &officer, "/history 14").await;
    assert!(history.contains("撤销"), "{history}");
    assert!(history.contains("第二段"), "{history}");
    assert!(history.contains("user 55 (telegram:55)"), "{history}");
    assert!(history.contains("10 → 11"), "{history}");
    assert!(
        text(&core, &from("telegram", "77"), "/undo")
            .await
            .contains("只有经授权")
    );
    assert!(text(&core, &admin, "/undo").await.contains("↩️"));
    assert!(text(&core, &admin, "/undo").await.contains("没有可以撤销"));
}

async fn concurrent_officers_lose_nothing(db: Db) {
    let core = Arc::new(core(db.store).await);
    text(&core, &from("console", "1"), "/grant console:2").await;
    let mut handles = Vec::new();
    for (user, km) in [("1", "5km"), ("2", "6km")] {
        for i in 0..5 {
            let core = Arc::clone(&core);
            let input = format!("/update 14 {km} 第{i}次");
            handles.push(tokio::spawn(async move {
                text(&core, &from("console", user), &input).await
            }));
        }
    }
    for h in handles {
        assert!(h.await.expect("task").contains("✅"));
    }
    let audited = count(
        core.store(),
        "SELECT COUNT(*) FROM audit WHERE kind = 'update'",
    )
    .await;
    assert_eq!(audited, 10);
    let states = core.store().states(2024, Some(14)).await.expect("states");
    let last = core.store().history(2024, 14, 1).await.expect("history");
    assert_eq!(
        states[0].current, last[0].new_value,
        "the last write wins, visibly"
    );
}

async fn buttons_feedback_and_questions(db: Db) {
    let core = core(db.store).await;
    let resident = from("telegram", "7");
    // A confident answer carries feedback buttons; a press is stored once per user.
    let replies = say(&core, &resident, "什么是错时共享停车").await;
    let up = replies[0]
        .buttons
        .iter()
        .find(|b| b.label == "👍")
        .expect("feedback button");
    let ack = press(&core, &resident, &up.data).await;
    assert!(ack[0].transient);
    press(&core, &resident, &up.data).await;
    assert_eq!(
        core.store().feedback_counts().await.expect("counts"),
        vec![("qa3".to_string(), 1, 0)]
    );
    // Unknown and forged buttons get a polite reply and change nothing.
    for data in [
        "",
        "entry:nope",
        "fb:sideways:qa3",
        "fb:up:nope",
        "cmd:",
        "zzz",
    ] {
        let r = press(&core, &resident, data).await;
        assert!(r[0].text.contains("按钮已失效"), "{data}: {}", r[0].text);
    }
    assert_eq!(
        core.store().feedback_counts().await.expect("counts").len(),
        1
    );
    // An out-of-scope question is recorded for /unanswered.
    let reply = text(&core, &resident, "明天天气怎么样").await;
    assert!(reply.contains("抱歉"), "{reply}");
    // Asked again by the same person, then by another: two people asked it.
    text(&core, &resident, "明天天气怎么样").await;
    text(&core, &from("telegram", "8"), "明天天气怎么样").await;
    let top = text(&core, &from("console", "1"), "/unanswered").await;
    assert!(top.contains("2× 明天天气怎么样"), "{top}");
    assert!(
        text(&core, &resident, "/unanswered")
            .await
            .contains("只有经授权")
    );
    // Unknown commands, greetings and over-long questions.
    assert!(
        text(&core, &resident, "/frobnicate")
            .await
            .contains("没有 /frobnicate")
    );
    assert!(
        text(&core, &resident, "/start")
            .await
            .contains("/status 14")
    );
    let long = "问".repeat(1_001);
    assert!(text(&core, &resident, &long).await.contains("太长"));
    let english = text(&core, &resident, "What is staggered-time shared parking?").await;
    assert!(english.contains("shared"), "{english}");
}

/// Ids as admins type them: channel names in any case, each channel's id shape checked, and
/// the reply names exactly whom it granted; a refused grant changes nothing.
async fn grants_name_exactly_whom(db: Db) {
    let core = core(db.store).await;
    let admin = Sender {
        lang: Some(Lang::Zh),
        ..from("console", "1")
    };
    let officers = "SELECT COUNT(*) FROM officers";
    for (args, expected) in [
        ("/grant wechat: 14", "缺少用户ID"),
        ("/grant WECHAT 14", "是渠道名，请写成 wechat:用户ID"),
        ("/grant console:a/b 14", "不是有效的控制台用户ID"),
        ("/grant telegram:abc 14", "Telegram 用户ID是数字"),
        ("/grant telegram:-5 14", "Telegram 用户ID是数字"),
        ("/grant weixin:oAbcdef 14", "不是渠道名"),
        ("/grant wechat:o<b>x</b> 14", "不是微信 OpenID"),
        ("/grant wechat:oUPabcdef 99", "没有找到任务"),
        ("/grant wechat:oUPabcdef 14 1o", "没有找到任务"),
    ] {
        let reply = text(&core, &admin, args).await;
        assert!(reply.contains(expected), "{args}: {reply}");
        assert!(reply.contains("没有改动"), "{args}: {reply}");
        assert_eq!(count(core.store(), officers).await, 0, "{args}");
    }
    let english = Sender {
        lang: Some(Lang::En),
        ..admin.clone()
    };
    let reply = text(&core, &english, "/grant telegram:abc").await;
    assert!(reply.contains("Telegram ids are whole numbers"), "{reply}");

    let reply = text(&core, &admin, "/grant WECHAT:oUPabcdef 14 高新区 住建局").await;
    assert!(
        reply.contains("已授权 微信 用户 wechat:oUPabcdef"),
        "{reply}"
    );
    assert!(reply.contains("高新区 住建局"), "{reply}");
    let officer = from("wechat", "oUPabcdef");
    assert!(text(&core, &officer, "/update 14 3km").await.contains("✅"));
    let listed = text(&core, &admin, "/officers").await;
    assert!(
        listed.contains("wechat:oUPabcdef (高新区 住建局) — 14"),
        "{listed}"
    );

    // Residents see the department, never the OpenID; officers see both in /history.
    let resident = from("telegram", "7");
    let status = text(&core, &resident, "/status 14").await;
    assert!(status.contains("更新 · 高新区 住建局"), "{status}");
    assert!(!status.contains("oUP"), "{status}");
    let history = text(&core, &resident, "/history 14").await;
    assert!(
        history.contains("高新区 住建局") && !history.contains("oUP"),
        "{history}"
    );
    let history = text(&core, &admin, "/history 14").await;
    assert!(
        history.contains("高新区 住建局 (wechat:oUPabcdef)"),
        "{history}"
    );

    // A WeChat officer with no department shows as 工作人员: WeChat gives no names.
    text(&core, &admin, "/grant wechat:oOFFabcdef 19").await;
    let wechat_officer = Sender {
        name: String::new(),
        ..from("wechat", "oOFFabcdef")
    };
    assert!(
        text(&core, &wechat_officer, "/update 19.9 1km")
            .await
            .contains("✅")
    );
    let status = text(&core, &resident, "/status 19").await;
    assert!(status.contains("更新 · 工作人员"), "{status}");
    assert!(!status.contains("oOFF"), "{status}");
}

/// Control characters, escape sequences and bidi overrides never reach the store or a reply,
/// and a NUL is treated alike on SQLite and PostgreSQL.
async fn control_characters_never_stored(db: Db) {
    let core = core(db.store).await;
    let admin = Sender {
        name: "\u{202e}李四\u{1b}[2J\u{7}".into(),
        ..from("console", "1")
    };
    let reply = text(
        &core,
        &admin,
        "/update 14 12.5km 西永\u{0}片区\u{1b}[31m完工\u{202e}\u{2066}\r",
    )
    .await;
    assert!(reply.contains("✅"), "{reply}");
    let resident = from("telegram", "7");
    let mut shown = String::new();
    for command in ["/status 14", "/history 14"] {
        shown.push_str(&text(&core, &resident, command).await);
        shown.push_str(&text(&core, &admin, command).await);
    }
    assert!(shown.contains("“西永片区[31m完工”"), "{shown}");
    assert!(shown.contains("李四[2J"), "{shown}");
    let bad = |c: char| {
        (c.is_control() && c != '\n')
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    };
    assert!(!shown.chars().any(bad), "{shown:?}");
    let states = core.store().states(2024, Some(14)).await.expect("states");
    let note = states[0].note.clone().unwrap_or_default();
    assert_eq!(note, "西永片区[31m完工");
    let name = states[0]
        .updated_by
        .clone()
        .map(|a| a.name)
        .unwrap_or_default();
    assert_eq!(name, "李四[2J");
    // A question with a NUL is answered, and logged clean if unanswered.
    let reply = text(&core, &resident, "明天\u{0}天气怎么样").await;
    assert!(reply.contains("抱歉"), "{reply}");
    let top = core.store().top_unanswered(5).await.expect("top");
    assert_eq!(top[0].0, "明天天气怎么样");
    // Emoji sequences keep their joiners.
    let reply = text(&core, &admin, "/update 14 13km 👨\u{200d}👩\u{200d}👧 done").await;
    assert!(reply.contains("👨\u{200d}👩\u{200d}👧"), "{reply}");
}

/// A deep link (`t.me/<bot>?start=task14`) opens the task it names; anything else welcomes.
async fn deep_links_open_a_task(db: Db) {
    let core = core(db.store).await;
    let resident = from("telegram", "7");
    for payload in ["task14", "t14", "14", "TASK_14"] {
        let reply = text(&core, &resident, &format!("/start {payload}")).await;
        assert!(
            reply.starts_with("第14项 城市老旧供水管网改造"),
            "{payload}: {reply}"
        );
    }
    let welcome = text(&core, &resident, "/start").await;
    for payload in [
        "task99",
        "task0",
        "hello",
        "task14x",
        "x".repeat(80).as_str(),
    ] {
        let reply = text(&core, &resident, &format!("/start {payload}")).await;
        assert_eq!(reply, welcome, "{payload}");
    }
}

/// "今年有哪些民生实事": the entry that counts the tasks, then all twenty with their progress.
async fn the_list_as_a_whole_shows_every_task(db: Db) {
    let core = core(db.store).await;
    let resident = from("telegram", "8");
    for (q, heading, last) in [
        ("今年都有哪些民生实事", "【起草过程】", "20. "),
        ("what are the 20 projects?", "【Drafting process】", "20. "),
    ] {
        let reply = text(&core, &resident, q).await;
        assert!(reply.starts_with(heading), "{q}: {reply}");
        assert!(
            reply.contains(" 1. ") && reply.contains(last),
            "{q}: {reply}"
        );
        assert!(reply.contains("/status"), "{q}: {reply}");
    }
}

/// A single surviving candidate is asked as a yes/no question, with one button.
async fn a_single_candidate_is_a_yes_no_question(db: Db) {
    let core = core(db.store).await;
    let resident = from("telegram", "9");
    let replies = say(&core, &resident, "小区改造完以后有啥不一样").await;
    assert!(
        replies[0]
            .text
            .starts_with("是不是想问：城镇老旧小区改造能带来什么变化？"),
        "{}",
        replies[0].text
    );
    assert!(!replies[0].text.contains("1."), "{}", replies[0].text);
    assert_eq!(replies[0].buttons.len(), 1, "{:?}", replies[0].buttons);
    assert_eq!(replies[0].buttons[0].data, "entry:qa2:zh");
}

on_both_backends!(
    deep_links_open_a_task,
    a_single_candidate_is_a_yes_no_question,
    the_list_as_a_whole_shows_every_task,
    grants_name_exactly_whom,
    control_characters_never_stored,
    bad_updates_are_refused_and_change_nothing,
    updates_convert_units_and_notify,
    status_by_number_name_and_question,
    authorization,
    undo_and_history,
    concurrent_officers_lose_nothing,
    buttons_feedback_and_questions,
    catalogue_changes_show_in_history,
    retired_items_refuse_updates,
    a_question_about_one_figure_gets_that_figure,
);

/// "How long is the buffer zone": that figure's line, target and progress, with buttons for
/// the whole task and its official text — not every line of task 19. The same in English.
async fn a_question_about_one_figure_gets_that_figure(db: Db) {
    let core = core(db.store).await;
    let admin = from("console", "1");
    text(&core, &admin, "/update 19 缓冲带 6.2km").await;
    let resident = from("telegram", "50");
    for (question, figure, all) in [
        ("虎溪河缓冲带多长", "19.7 生态缓冲带构建全长", "全部进度"),
        (
            "虎溪河的緩衝帶建了多少了",
            "19.7 生态缓冲带构建全长",
            "全部进度",
        ),
        (
            "how long is the buffer zone along the Huxi River",
            "19.7 Total length of ecological buffer zone",
            "All figures",
        ),
    ] {
        let replies = say(&core, &resident, question).await;
        let reply = replies.last().expect("a reply");
        assert!(reply.text.contains(figure), "{question}: {}", reply.text);
        assert!(
            reply.text.contains("6.2"),
            "the live figure: {}",
            reply.text
        );
        for other in ["19.1 ", "19.6 ", "19.9 "] {
            assert!(
                !reply.text.contains(other),
                "{question}: only what was asked: {}",
                reply.text
            );
        }
        assert!(reply.text.lines().count() <= 10, "short: {}", reply.text);
        let more = reply
            .buttons
            .iter()
            .find(|b| b.label == all)
            .expect("a button for the whole task");
        assert_eq!(more.data, "cmd:/status 19");
        assert!(
            reply
                .buttons
                .iter()
                .any(|b| b.data.starts_with("entry:task19"))
        );
        // The button shows the whole task.
        let whole = press(&core, &resident, &more.data).await;
        assert!(whole[0].text.contains("19.1 ") && whole[0].text.contains("19.10 "));
    }
    // A question about the whole task still gets the whole task.
    let whole = text(&core, &resident, "虎溪河生态修复进度怎么样了").await;
    assert!(
        whole.contains("19.1 ") && whole.contains("19.7 "),
        "{whole}"
    );
}

fn edited_faq(edit: impl FnOnce(&mut Knowledge)) -> Arc<Knowledge> {
    let mut knowledge =
        Knowledge::load_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("faq").as_path())
            .expect("faq/ loads");
    edit(&mut knowledge);
    Arc::new(knowledge)
}

fn admins() -> Admins {
    Admins::parse("1,telegram:900,wechat:oAdmin").expect("admins")
}

async fn catalogue_changes_show_in_history(db: Db) {
    let store = db.store.clone();
    let first = core(db.store).await;
    let admin = from("console", "1");
    text(&first, &admin, "/update 14.1 5").await;
    // faq/ edited: the pipe target raised from 20 to 25 km.
    let knowledge = edited_faq(|k| {
        let t14 = k
            .tasks
            .iter_mut()
            .find(|t| t.number == 14)
            .expect("task 14");
        t14.metrics[0].target = 25.0;
    });
    let second = Core::start(knowledge, store.clone(), admins())
        .await
        .expect("restart with the new target");
    let history = text(&second, &admin, "/history 14").await;
    assert!(history.contains("目录变更"), "{history}");
    assert!(history.contains("目标 20 → 25"), "in Chinese: {history}");
    let english = Sender {
        lang: Some(Lang::En),
        ..admin.clone()
    };
    let history = text(&second, &english, "/history 14").await;
    assert!(history.contains("catalogue change"), "{history}");
    assert!(history.contains("target 20 → 25"), "{history}");
    // Starting again with the same faq/ records nothing more.
    let knowledge = edited_faq(|k| {
        let t14 = k
            .tasks
            .iter_mut()
            .find(|t| t.number == 14)
            .expect("task 14");
        t14.metrics[0].target = 25.0;
    });
    Core::start(knowledge, store.clone(), admins())
        .await
        .expect("restart");
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM audit WHERE kind = 'catalogue'"
        )
        .await,
        1
    );
    // The admins seen at the first start are audited once.
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM audit WHERE kind = 'admin'").await,
        4
    );
    assert_eq!(store.verify_audit().await.expect("verify"), None);

    // Dropping the metric that has progress refuses to start, naming it.
    let knowledge = edited_faq(|k| {
        let t14 = k
            .tasks
            .iter_mut()
            .find(|t| t.number == 14)
            .expect("task 14");
        t14.metrics.remove(0);
        for (i, m) in t14.metrics.iter_mut().enumerate() {
            m.number = i as u32 + 1;
        }
        let n = t14.metrics.len();
        for (i, g) in t14.milestones.iter_mut().enumerate() {
            g.number = (n + i) as u32 + 1;
        }
    });
    let refused = Core::start(knowledge, store.clone(), admins()).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("t14-water-pipes"), "{message}");
}

async fn retired_items_refuse_updates(db: Db) {
    let store = db.store.clone();
    let first = core(db.store).await;
    let admin = from("console", "1");
    text(&first, &admin, "/update 14.1 5").await;
    let knowledge = edited_faq(|k| {
        let t14 = k
            .tasks
            .iter_mut()
            .find(|t| t.number == 14)
            .expect("task 14");
        t14.metrics[0].retired = true;
    });
    let second = Core::start(knowledge, store.clone(), admins())
        .await
        .expect("a retired item may keep its progress");
    let before = snapshot(&store).await;
    let reply = text(&second, &admin, "/update 14.1 6").await;
    assert!(
        reply.contains("retired") || reply.contains("停用"),
        "{reply}"
    );
    assert_eq!(snapshot(&store).await, before);
}
