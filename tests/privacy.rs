//! The personal-information filter: each kind is found (full-width digits too), and the
//! figures, dates, task numbers and place names that fill officers' notes are not.

use minsheng::Lang;
use minsheng::privacy::{Kind, find_personal, mask};

#[test]
fn each_kind_is_found() {
    let cases: &[(&str, Kind)] = &[
        ("张某某家 13812345678 已改造", Kind::Mobile),
        ("联系人13912345678", Kind::Mobile),
        ("电话 138 1234 5678", Kind::Mobile),
        ("电话 138-1234-5678", Kind::Mobile),
        ("+86 13812345678", Kind::Mobile),
        ("8613812345678", Kind::Mobile),
        ("张某某家 １３８１２３４５６７８ 已改造", Kind::Mobile),
        ("tel:19912345678.", Kind::Mobile),
        ("社区电话 023-68681234", Kind::Landline),
        ("社区电话 (023)68681234", Kind::Landline),
        ("社区电话（０２３）６８６８１２３４", Kind::Landline),
        ("0755 12345678", Kind::Landline),
        ("02368681234", Kind::Landline),
        ("０２３－６８６８１２３４", Kind::Landline),
        ("户主 500107199003071234 已登记", Kind::IdCard),
        ("户主11010519491231002X", Kind::IdCard),
        ("户主11010519491231002x已登记", Kind::IdCard),
        ("户主 １１０１０５１９４９１２３１００２Ｘ", Kind::IdCard),
        ("补贴打入 6222021234567890128", Kind::BankCard),
        ("卡号 6228 4800 1234 5671", Kind::BankCard),
        ("卡号６２２８４８００１２３４５６７１", Kind::BankCard),
        ("请联系 zhang.san@example.com 核实", Kind::Email),
        ("邮箱：li_si+x@mail.cq.gov.cn。", Kind::Email),
        ("ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", Kind::Email),
    ];
    for (text, kind) in cases {
        assert_eq!(find_personal(text), Some(*kind), "{text}");
    }
}

#[test]
fn look_alikes_pass() {
    let cases = [
        "西永片区完工",
        "西永片区 3 处完工",
        "12.5km",
        "完成 12.5km，剩余 7.5km",
        "2024年",
        "2024年3月15日验收",
        "2024-03-15 验收",
        "20240315 验收",
        "1300个",
        "已完成1300户，2500人受益",
        "19.9 缓冲带",
        "第14项 14.1 指标",
        "地块 A-12 与 B-7",
        "地块编号 2024-0312",
        "曾家镇",
        "杨家坪",
        "张家湾社区 45 户",
        "家家户户",
        "投资 1.38 亿元",
        "共 13812 平方米",
        "138.12345678",
        "13812345678.5km",
        "户主 500107199003071235",
        "6222021234567890127",
        "100%",
        "3 5 8 12 15 20 21 22",
        "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",
        "@所有人 注意",
        "邮件@后台",
        "",
    ];
    for text in cases {
        assert_eq!(find_personal(text), None, "{text}");
    }
}

#[test]
fn masking_keeps_the_ends_and_the_rest_of_the_text() {
    let cases = [
        ("我的电话13812345678怎么报名", "我的电话138****5678怎么报名"),
        ("我的电话１３８１２３４５６７８", "我的电话138****5678"),
        ("138 1234 5678 和 02368681234", "138****5678 和 023****1234"),
        ("身份证500107199003071234", "身份证500***********1234"),
        ("卡 6222021234567890128 ok", "卡 622************0128 ok"),
        (
            "mail zhang.san@example.com please",
            "mail z***@example.com please",
        ),
        ("错时共享停车是什么", "错时共享停车是什么"),
        ("12.5km 2024年", "12.5km 2024年"),
    ];
    for (text, want) in cases {
        assert_eq!(mask(text), want, "{text}");
        assert_eq!(find_personal(&mask(text)), None, "{text}");
    }
}

#[test]
fn kinds_are_named_in_both_languages() {
    assert_eq!(Kind::Mobile.name(Lang::Zh), "手机号");
    assert_eq!(Kind::IdCard.name(Lang::Zh), "身份证号");
    assert!(Kind::BankCard.name(Lang::En).contains("bank card"));
}

// ---- the core and the store, on SQLite and PostgreSQL ------------------------------------------

use std::path::Path;
use std::sync::Arc;

use minsheng::core::{Admins, Core, Input, Message, Sender};
use minsheng::knowledge::Knowledge;
use minsheng::store::{MetricState, Store, retention_cutoff};

#[path = "common/db.rs"]
mod db;
use db::{Db, count};

async fn core(store: Store) -> Core {
    let knowledge =
        Knowledge::load_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("faq").as_path())
            .expect("faq/ loads");
    let admins = Admins::parse("1").expect("admins");
    Core::start(Arc::new(knowledge), store, admins)
        .await
        .expect("core starts")
        .with_retention_days(180)
}

fn from(channel: &'static str, user: &str) -> Sender {
    Sender {
        channel,
        user_id: user.into(),
        name: format!("user {user}"),
        lang: None,
    }
}

async fn text(core: &Core, sender: &Sender, text: &str) -> String {
    core.handle(&Message {
        sender: sender.clone(),
        chat_id: sender.user_id.clone(),
        input: Input::Text(text.into()),
    })
    .await
    .iter()
    .map(|r| r.text.as_str())
    .collect::<Vec<_>>()
    .join("\n")
}

async fn snapshot(store: &Store) -> (Vec<MetricState>, i64, i64) {
    (
        store.states(2024, None).await.expect("states"),
        count(store, "SELECT COUNT(*) FROM audit").await,
        count(store, "SELECT COUNT(*) FROM outbox").await,
    )
}

/// Every stored text column that could carry a note or a question, joined.
async fn stored_text(store: &Store) -> String {
    let sql = "SELECT COALESCE(note, '') FROM audit UNION ALL SELECT COALESCE(note, '') FROM metrics \
               UNION ALL SELECT body FROM outbox UNION ALL SELECT question FROM unanswered \
               UNION ALL SELECT question_key FROM unanswered";
    let rows: Vec<String> = match store {
        Store::Sqlite(p) => sqlx::query_scalar(sql).fetch_all(p).await,
        Store::Postgres(p) => sqlx::query_scalar(sql).fetch_all(p).await,
    }
    .expect("stored text");
    rows.join("\n")
}

async fn personal_notes_are_refused(db: Db) {
    let core = core(db.store).await;
    let admin = from("console", "1");
    text(&core, &from("telegram", "7"), "/subscribe all").await;
    let before = snapshot(core.store()).await;
    let cases = [
        ("/update 9 3户 张某某家 13812345678 已改造", "手机号"),
        ("/update 9 3户 张某某家 １３８１２３４５６７８", "手机号"),
        ("/update 9 3户 联系 023-68681234", "电话号码"),
        ("/update 9 3户 户主500107199003071234", "身份证号"),
        ("/update 9 3户 卡号6222021234567890128", "银行卡号"),
        ("/update 9 3户 zhang@example.com", "电子邮箱"),
    ];
    for (input, kind) in cases {
        let reply = text(&core, &admin, input).await;
        assert!(
            reply.contains(&format!("备注里不能包含个人信息：{kind}")),
            "{input}: {reply}"
        );
        assert!(reply.contains("没有改动"), "{input}: {reply}");
        assert_eq!(
            snapshot(core.store()).await,
            before,
            "{input} changed the store"
        );
    }
    // Someone without rights trying it: the refusal is audited, masked.
    text(
        &core,
        &from("console", "55"),
        "/update 9 3户 张某某家 13812345678",
    )
    .await;
    let stored = stored_text(core.store()).await;
    assert!(stored.contains("138****5678"), "{stored}");
    for secret in ["13812345678", "68681234", "500107199003071234", "zhang@"] {
        assert!(!stored.contains(secret), "{secret} stored:\n{stored}");
    }
    // Place names, figures and dates pass.
    let reply = text(
        &core,
        &admin,
        "/update 9 3户 曾家镇、杨家坪、张家湾 2024年完工",
    )
    .await;
    assert!(reply.contains("已更新"), "{reply}");
    let reply = text(
        &core,
        &from("console", "1"),
        "/update 9 3户 西永片区 3 处完工",
    )
    .await;
    assert!(reply.contains("已更新"), "{reply}");
}

async fn stored_questions_are_masked(db: Db) {
    let core = core(db.store).await;
    let resident = from("wechat", "oResident1");
    text(
        &core,
        &resident,
        "我的电话13812345678，身份证500107199003071234，怎么办低保卡",
    )
    .await;
    let stored = stored_text(core.store()).await;
    assert!(stored.contains("138****5678"), "{stored}");
    assert!(stored.contains("500***********1234"), "{stored}");
    assert!(!stored.contains("13812345678"), "{stored}");
    assert!(!stored.contains("500107199003071234"), "{stored}");
}

async fn retention_deletes_old_questions_and_feedback(db: Db) {
    let store = db.store;
    store
        .record_unanswered("telegram", "5", "旧问题")
        .await
        .expect("record");
    store
        .record_unanswered("telegram", "5", "新问题")
        .await
        .expect("record");
    store
        .record_feedback("telegram", "5", "qa1", true)
        .await
        .expect("feedback");
    store
        .record_feedback("telegram", "6", "qa1", false)
        .await
        .expect("feedback");
    let day = 24 * 3600 * 1000_i64;
    let now = 1_800_000_000_000_i64;
    // Set the clock: the old question and one vote were last touched 181 days ago.
    let set = |sql: &'static str, at: i64| {
        let store = store.clone();
        async move {
            match &store {
                Store::Sqlite(p) => sqlx::query(sql).bind(at).execute(p).await.map(|_| ()),
                Store::Postgres(p) => sqlx::query(sql).bind(at).execute(p).await.map(|_| ()),
            }
            .expect("set time")
        }
    };
    set(
        "UPDATE unanswered SET created_at = $1, last_at = $1",
        now - day,
    )
    .await;
    set("UPDATE feedback SET created_at = $1", now - day).await;
    set(
        "UPDATE unanswered SET created_at = $1, last_at = $1 WHERE question = '旧问题'",
        now - 181 * day,
    )
    .await;
    set(
        "UPDATE feedback SET created_at = $1 WHERE user_id = '6'",
        now - 181 * day,
    )
    .await;
    let cutoff = retention_cutoff(now, 180);
    assert_eq!(cutoff, now - 180 * day);
    assert_eq!(store.forget_older_than(cutoff).await.expect("retention"), 2);
    // Idempotent: a second replica running it finds nothing more.
    assert_eq!(store.forget_older_than(cutoff).await.expect("retention"), 0);
    let top = store.top_unanswered(10).await.expect("top");
    assert_eq!(
        top.iter().map(|t| t.0.as_str()).collect::<Vec<_>>(),
        ["新问题"]
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM feedback").await, 1);
}

async fn forget_and_unsubscribe_leave_no_row_outside_the_audit(db: Db) {
    let core = core(db.store).await;
    let user = from("telegram", "4242");
    let first = text(&core, &user, "/subscribe 14").await;
    assert!(
        first.contains("/forget"),
        "first reply has the notice: {first}"
    );
    let again = text(&core, &user, "/tasks").await;
    assert!(
        !again.contains("/forget"),
        "the notice is said once: {again}"
    );
    text(&core, &user, "火星移民怎么报名").await;
    core.handle(&Message {
        sender: user.clone(),
        chat_id: user.user_id.clone(),
        input: Input::Button("fb:up:qa1".into()),
    })
    .await;
    // An officer's update is the public record and stays.
    text(&core, &from("console", "1"), "/grant telegram:4242 14").await;
    text(&core, &user, "/update 14 1km").await;
    let reply = text(&core, &user, "/forget").await;
    assert!(
        reply.contains("已删除") || reply.contains("Deleted"),
        "{reply}"
    );
    assert!(
        reply.contains("1 项订阅") || reply.contains("1 subscription"),
        "{reply}"
    );
    let store = core.store();
    for sql in [
        "SELECT COUNT(*) FROM unanswered WHERE user_id = '4242'",
        "SELECT COUNT(*) FROM feedback WHERE user_id = '4242'",
        "SELECT COUNT(*) FROM subscriptions WHERE chat_id = '4242'",
        "SELECT COUNT(*) FROM outbox WHERE chat_id = '4242'",
        "SELECT COUNT(*) FROM users_seen WHERE user_id = '4242'",
    ] {
        assert_eq!(count(store, sql).await, 0, "{sql}");
    }
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) FROM audit WHERE actor_user = '4242' AND kind = 'update'"
        )
        .await,
        1
    );
    // After /forget the user is new again.
    let next = text(&core, &user, "/tasks").await;
    assert!(next.contains("/forget"), "{next}");

    // A WeChat follower who unfollows is forgotten the same way.
    let follower = from("wechat", "oFollower9");
    text(&core, &follower, "火星移民怎么报名").await;
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) FROM unanswered WHERE user_id = 'oFollower9'"
        )
        .await,
        1
    );
    core.forget("wechat", "oFollower9").await.expect("forget");
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) FROM unanswered WHERE user_id = 'oFollower9'"
        )
        .await
            + count(
                store,
                "SELECT COUNT(*) FROM users_seen WHERE user_id = 'oFollower9'"
            )
            .await,
        0
    );
}

async fn a_way_to_a_person(db: Db) {
    let core = core(db.store)
        .await
        .with_help_contact(Some("@minsheng_help".into()));
    let user = from("telegram", "77");
    let reply = text(&core, &user, "明天天气怎么样").await;
    assert!(reply.contains("12345"), "{reply}");
    let reply = text(&core, &user, "转人工").await;
    assert!(
        reply.contains("@minsheng_help") && reply.contains("12345"),
        "{reply}"
    );
    let reply = text(&core, &user, "/privacy").await;
    assert!(
        reply.contains("180天") && reply.contains("/forget"),
        "{reply}"
    );
}

on_both_backends!(
    personal_notes_are_refused,
    stored_questions_are_masked,
    retention_deletes_old_questions_and_feedback,
    forget_and_unsubscribe_leave_no_row_outside_the_audit,
    a_way_to_a_person,
);
