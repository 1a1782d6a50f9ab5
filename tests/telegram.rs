//! The Telegram channel through the real teloxide dispatcher (`telegram::serve`) and the real
//! `minsheng telegram` binary, against the fake Bot API server on loopback.

#[path = "support/bot_api.rs"]
mod bot_api;
#[path = "common/process.rs"]
mod process;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bot_api::{BOT_ID, BOT_USERNAME, BotApi, Fault, Sent, TOKEN, TestUser, shown};
use minsheng::core::{Admins, Core};
use minsheng::knowledge::Knowledge;
use minsheng::store::Store;
use minsheng::telegram::{self, Config, Mode, RateLimit, Redactor, TelegramError, render};
use process::Captured;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);
const ADMIN: i64 = 900;
/// Long enough for anything the bot was going to send to have been sent.
const QUIET: Duration = Duration::from_millis(600);

fn faq_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("faq")
}

fn knowledge() -> Arc<Knowledge> {
    static K: OnceLock<Arc<Knowledge>> = OnceLock::new();
    K.get_or_init(|| Arc::new(Knowledge::load_dir(&faq_dir()).expect("faq/ loads")))
        .clone()
}

fn zh(id: i64) -> TestUser {
    TestUser::new(id)
        .first_name("小明")
        .language_code("zh-hans")
}

fn en(id: i64) -> TestUser {
    TestUser::new(id).first_name("Alex").language_code("en")
}

fn admin() -> TestUser {
    TestUser::new(ADMIN)
        .first_name("王")
        .last_name("科长")
        .language_code("zh")
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The bot (`telegram::serve`) on a fresh SQLite store, talking to a fresh fake server.
struct Running {
    api: BotApi,
    core: Arc<Core>,
    stop: CancellationToken,
    task: JoinHandle<Result<(), TelegramError>>,
    _dir: tempfile::TempDir,
}

async fn start() -> Running {
    start_with(|_| {}).await
}

async fn start_with(tweak: impl FnOnce(&mut Config)) -> Running {
    let api = BotApi::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bot.db").display());
    let store = Store::connect(&url).await.expect("store");
    let admins = Admins::parse(&ADMIN.to_string()).expect("admins");
    let core = Arc::new(Core::start(knowledge(), store, admins).await.expect("core"));
    let mut config = Config::new(api.token());
    config.api_url = Some(api.url());
    config.outbox_poll = Duration::from_millis(100);
    tweak(&mut config);
    let stop = CancellationToken::new();
    let task = tokio::spawn(telegram::serve(core.clone(), config, stop.clone()));
    api.wait_calls("getUpdates", 1, WAIT).await;
    Running {
        api,
        core,
        stop,
        task,
        _dir: dir,
    }
}

impl Running {
    /// Stops the bot the way a signal does; it must finish cleanly.
    async fn stop(self) -> BotApi {
        self.stop.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the bot stops")
            .expect("no panic")
            .expect("no error");
        self.api
    }

    fn sent_to(&self, chat: i64) -> Vec<Sent> {
        sent_to(&self.api, chat)
    }

    /// Pushes a private message and returns the first reply sent to that chat after it.
    async fn ask(&self, chat: i64, user: &TestUser, text: &str) -> Sent {
        let t0 = Instant::now();
        self.api.push_text_from(chat, user, text);
        self.next_to(chat, t0).await
    }

    /// The first message to `chat` sent at or after `t0`.
    async fn next_to(&self, chat: i64, t0: Instant) -> Sent {
        self.api
            .wait_sent_matching(|s| s.chat_id == chat && s.at >= t0, WAIT)
            .await
    }

    /// Presses a button and returns the first message to `chat` after it.
    async fn press(&self, chat: i64, user: &TestUser, message_id: i64, data: &str) -> Sent {
        let t0 = Instant::now();
        self.api.push_callback_from(chat, user, message_id, data);
        self.next_to(chat, t0).await
    }
}

fn sent_to(api: &BotApi, chat: i64) -> Vec<Sent> {
    api.sent()
        .into_iter()
        .filter(|s| s.chat_id == chat)
        .collect()
}

/// The inline keyboard's buttons as (label, data), row by row.
fn buttons(s: &Sent) -> Vec<Vec<(String, String)>> {
    let Some(markup) = &s.reply_markup else {
        return Vec::new();
    };
    markup["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| {
            row.as_array()
                .into_iter()
                .flatten()
                .map(|b| {
                    (
                        b["text"].as_str().unwrap_or_default().to_string(),
                        b["callback_data"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .collect()
}

fn all_data(s: &Sent) -> Vec<String> {
    buttons(s).into_iter().flatten().map(|(_, d)| d).collect()
}

// ---- commands, questions and buttons ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_help_tasks_status_and_the_command_menu() {
    let bot = start().await;
    let user = zh(101);
    let welcome = bot.ask(101, &user, "/start").await;
    assert!(
        shown(&welcome.text).contains("民生实事助手"),
        "{}",
        welcome.text
    );
    assert_eq!(welcome.parse_mode.as_deref(), Some("HTML"));
    assert!(
        welcome.text.starts_with("<b>"),
        "first line bold: {}",
        welcome.text
    );

    // A deep link (t.me/<bot>?start=task14) opens the task's status.
    let linked = bot.ask(101, &user, "/start task14").await;
    assert!(
        shown(&linked.text).starts_with("第14项 城市老旧供水管网改造"),
        "{}",
        linked.text
    );

    let help = bot.ask(101, &user, "/help").await;
    assert!(
        shown(&help.text).contains("/status <任务>"),
        "{}",
        help.text
    );
    let tasks = bot.ask(101, &user, "/tasks").await;
    assert!(
        shown(&tasks.text).contains("20件重点民生实事"),
        "{}",
        tasks.text
    );
    let status = bot.ask(101, &user, "/status 14").await;
    assert!(
        shown(&status.text).contains("目标 20公里"),
        "{}",
        status.text
    );

    let english = bot.ask(102, &en(102), "/help").await;
    assert!(
        shown(&english.text).contains("Commands:"),
        "{}",
        english.text
    );

    // The menu, from Core::command_menu, in Chinese, English and a default.
    bot.api.wait_calls("setMyCommands", 3, WAIT).await;
    let sets = bot.api.commands();
    let by_lang = |code: Option<&str>| -> Vec<(String, String)> {
        let set = sets
            .iter()
            .find(|s| s.get("language_code").and_then(Value::as_str) == code)
            .unwrap_or_else(|| panic!("no setMyCommands for {code:?}: {sets:?}"));
        set["commands"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["command"].as_str().unwrap_or_default().to_string(),
                    c["description"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let menu = |lang| {
        Core::command_menu(lang)
            .into_iter()
            .map(|(c, d)| (c.to_string(), d.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(by_lang(Some("zh")), menu(minsheng::Lang::Zh));
    assert_eq!(by_lang(Some("en")), menu(minsheng::Lang::En));
    assert_eq!(by_lang(None), menu(minsheng::Lang::Zh));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn questions_feedback_and_did_you_mean() {
    let bot = start().await;
    let answer = bot.ask(201, &zh(201), "什么是错时共享停车？").await;
    assert!(shown(&answer.text).contains("错时"), "{}", answer.text);
    // 👍/👎 side by side in one row.
    let rows = buttons(&answer);
    let feedback = rows.last().expect("feedback buttons");
    assert_eq!(feedback.len(), 2, "{rows:?}");
    assert!(feedback[0].1.starts_with("fb:up:"), "{rows:?}");
    assert!(feedback[1].1.starts_with("fb:down:"), "{rows:?}");

    let english = bot
        .ask(202, &en(202), "What is staggered-time shared parking?")
        .await;
    assert!(shown(&english.text).contains("parking"), "{}", english.text);

    // 👍: acknowledged as a toast, no new message.
    let before = bot.sent_to(201).len();
    bot.api
        .push_callback_from(201, &zh(201), answer.message_id, &feedback[0].1);
    bot.api.wait_calls("answerCallbackQuery", 1, WAIT).await;
    let answers = bot.api.requests("answerCallbackQuery");
    assert_eq!(answers[0]["text"], "谢谢您的反馈！", "{answers:?}");
    tokio::time::sleep(QUIET).await;
    assert_eq!(bot.sent_to(201).len(), before);

    // "Did you mean": one button per row; pressing one answers with that entry.
    let suggestion = bot.ask(203, &zh(203), "停车").await;
    let rows = buttons(&suggestion);
    assert!(rows.len() >= 2, "{}: {rows:?}", suggestion.text);
    assert!(rows.iter().all(|r| r.len() == 1), "{rows:?}");
    let (label, data) = rows[0][0].clone();
    assert!(data.starts_with("entry:"), "{data}");
    let entry = bot.press(203, &zh(203), suggestion.message_id, &data).await;
    assert!(!entry.text.is_empty(), "{label}");
    assert_ne!(entry.message_id, suggestion.message_id);
    assert_eq!(bot.api.calls("answerCallbackQuery"), 2);

    // Forged or stale data: answered politely, never a crash.
    let stale = bot
        .press(203, &zh(203), suggestion.message_id, "forged:<b>&")
        .await;
    assert!(shown(&stale.text).contains("按钮已失效"), "{}", stale.text);
    assert_eq!(bot.api.calls("answerCallbackQuery"), 3);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officer_updates_undo_history_and_refusals() {
    let bot = start().await;
    let resident = zh(301);
    let refused = bot.ask(301, &resident, "/update 14 12.5km").await;
    assert!(
        shown(&refused.text).contains("只有经授权的工作人员"),
        "{}",
        refused.text
    );
    let status = bot.ask(301, &resident, "/status 14").await;
    assert!(
        shown(&status.text).contains("目标 20公里"),
        "{}",
        status.text
    );

    let admin = admin();
    let landed = bot.ask(ADMIN, &admin, "/update 14 12.5km").await;
    assert!(shown(&landed.text).contains("12.5"), "{}", landed.text);
    let status = bot.ask(301, &resident, "/status 14").await;
    let status = shown(&status.text);
    assert!(status.contains("12.5 / 20公里"), "{status}");
    assert!(status.contains("62.5%"), "{status}");

    // Ambiguous: a button per candidate metric; pressing one applies it as the presser.
    let ambiguous = bot.ask(ADMIN, &admin, "/update 19 3.2km").await;
    let data = all_data(&ambiguous);
    assert!(
        data.iter().any(|d| d == "cmd:/update 19.7 3.2km"),
        "{}: {data:?}",
        ambiguous.text
    );
    let applied = bot
        .press(
            ADMIN,
            &admin,
            ambiguous.message_id,
            "cmd:/update 19.7 3.2km",
        )
        .await;
    assert!(shown(&applied.text).contains("3.2"), "{}", applied.text);
    let status = bot.ask(301, &resident, "/status 19").await;
    assert!(shown(&status.text).contains("3.2"), "{}", status.text);
    // The same button pressed by a resident is refused: their rights apply.
    let forged = bot
        .press(301, &resident, ambiguous.message_id, "cmd:/update 19.7 9km")
        .await;
    assert!(
        shown(&forged.text).contains("只有经授权的工作人员"),
        "{}",
        forged.text
    );

    let undone = bot.ask(ADMIN, &admin, "/undo").await;
    assert!(shown(&undone.text).contains("已撤销"), "{}", undone.text);
    let history = bot.ask(ADMIN, &admin, "/history 14").await;
    let history = shown(&history.text);
    assert!(history.contains("第14项"), "{history}");
    assert!(history.contains("12.5"), "{history}");

    let bad = bot.ask(ADMIN, &admin, "/update 14 abc").await;
    assert!(shown(&bad.text).contains("不是有效的数值"), "{}", bad.text);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_are_notified_once() {
    let bot = start().await;
    let sub = bot.ask(401, &zh(401), "/subscribe 14").await;
    assert!(shown(&sub.text).contains("已订阅"), "{}", sub.text);
    let other = bot.ask(402, &en(402), "/subscribe all").await;
    assert!(shown(&other.text).contains("Subscribed"), "{}", other.text);

    bot.ask(ADMIN, &admin(), "/update 14 12.5km 西永片区<完工> & 验收")
        .await;
    let note = bot
        .api
        .wait_sent_matching(|s| s.chat_id == 401 && s.text.contains("🔔"), WAIT)
        .await;
    // Escaped, and the note intact once rendered.
    assert!(
        note.text.contains("&lt;完工&gt; &amp; 验收"),
        "{}",
        note.text
    );
    assert!(shown(&note.text).contains("12.5 / 20公里"), "{}", note.text);
    let english = bot
        .api
        .wait_sent_matching(|s| s.chat_id == 402 && s.text.contains("🔔"), WAIT)
        .await;
    assert!(shown(&english.text).contains("task 14"), "{}", english.text);
    tokio::time::sleep(QUIET).await;
    let count = |chat| {
        bot.sent_to(chat)
            .iter()
            .filter(|s| s.text.contains("🔔"))
            .count()
    };
    assert_eq!((count(401), count(402)), (1, 1));
    assert_eq!(bot.core.store().outbox_len("telegram").await.unwrap(), 0);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifier_retries_429_and_network_errors_and_forgets_blocked_chats() {
    let bot = start().await;
    bot.ask(411, &zh(411), "/subscribe 14").await;
    bot.ask(412, &zh(412), "/subscribe 14").await;
    bot.api.fail_sends_to(411, Fault::Drop);
    bot.api.fail_sends_to(412, Fault::Blocked);
    bot.ask(ADMIN, &admin(), "/update 14 3km").await;

    // 412 blocked the bot: its subscription and notification are forgotten.
    let store = bot.core.store().clone();
    let deadline = Instant::now() + WAIT;
    while !store
        .subscriptions("telegram", "412")
        .await
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "412 still subscribed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        store.subscriptions("telegram", "411").await.unwrap(),
        [Some(14)]
    );

    // 411's connection dropped: retried after a backoff, then a 429, then delivered once.
    let attempts_to = |chat: i64| {
        bot.api
            .requests("sendMessage")
            .iter()
            .filter(|r| r["chat_id"] == json!(chat))
            .count()
    };
    let before = attempts_to(411);
    let deadline = Instant::now() + WAIT;
    while attempts_to(411) <= before {
        assert!(Instant::now() < deadline, "no send attempt to 411");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bot.api.clear_faults();
    bot.api.fail_sends(vec![Fault::RetryAfter(1)]);
    let note = bot
        .api
        .wait_sent_matching(|s| s.chat_id == 411 && s.text.contains("🔔"), WAIT)
        .await;
    assert!(shown(&note.text).contains("3 / 20公里"), "{}", note.text);
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        bot.sent_to(411)
            .iter()
            .filter(|s| s.text.contains("🔔"))
            .count(),
        1
    );
    assert!(attempts_to(411) >= before + 3, "drop, 429, success");
    assert_eq!(store.outbox_len("telegram").await.unwrap(), 0);
    bot.stop().await;
}

// ---- groups and odd updates ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_groups_only_messages_for_the_bot_are_answered() {
    let bot = start().await;
    let group = -1_000_000_000_500;
    let officer = zh(501);
    let api = &bot.api;

    api.push_group_text(group, "Officers", &officer, "什么是错时共享停车？");
    api.push_group_text(group, "Officers", &officer, "/start@some_other_bot");
    api.push_group_text(group, "Officers", &officer, "/frobnicate");
    let t0 = Instant::now();
    api.push_group_text(
        group,
        "Officers",
        &officer,
        &format!("@{BOT_USERNAME} 什么是错时共享停车？"),
    );
    let mention = bot.next_to(group, t0).await;
    assert!(shown(&mention.text).contains("错时"), "{}", mention.text);
    // Updates of one chat are handled in order: the three before were ignored.
    assert_eq!(bot.sent_to(group).len(), 1);

    let t0 = Instant::now();
    api.push_group_text(group, "Officers", &officer, "/status 14");
    let command = bot.next_to(group, t0).await;
    assert!(shown(&command.text).contains("20公里"), "{}", command.text);
    let t0 = Instant::now();
    api.push_group_text(
        group,
        "Officers",
        &officer,
        &format!("/tasks@{BOT_USERNAME}"),
    );
    let command = bot.next_to(group, t0).await;
    assert!(
        shown(&command.text).contains("民生实事"),
        "{}",
        command.text
    );

    // A reply to one of the bot's messages is addressed to it.
    let t0 = Instant::now();
    api.push_update(json!({"message": {
        "message_id": 990_001,
        "from": {"id": 501, "is_bot": false, "first_name": "小明", "language_code": "zh"},
        "chat": {"id": group, "type": "supergroup", "title": "Officers"},
        "date": unix_now(),
        "text": "托位数怎么算？",
        "reply_to_message": {
            "message_id": mention.message_id,
            "from": {"id": BOT_ID, "is_bot": true, "first_name": "Minsheng Test", "username": BOT_USERNAME},
            "chat": {"id": group, "type": "supergroup", "title": "Officers"},
            "date": unix_now(),
            "text": "…",
        },
    }}));
    let replied = bot.next_to(group, t0).await;
    assert!(!replied.text.is_empty());
    // A reply to someone else is not.
    api.push_update(json!({"message": {
        "message_id": 990_002,
        "from": {"id": 502, "is_bot": false, "first_name": "B"},
        "chat": {"id": group, "type": "supergroup", "title": "Officers"},
        "date": unix_now(),
        "text": "托位数怎么算？",
        "reply_to_message": {
            "message_id": 990_001,
            "from": {"id": 501, "is_bot": false, "first_name": "小明"},
            "chat": {"id": group, "type": "supergroup", "title": "Officers"},
            "date": unix_now(),
            "text": "托位数怎么算？",
        },
    }}));
    tokio::time::sleep(QUIET).await;
    assert_eq!(bot.sent_to(group).len(), 4);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_updates_neither_crash_nor_stall_the_bot() {
    let bot = start().await;
    let user = json!({"id": 601, "is_bot": false, "first_name": "Ann", "language_code": "en"});
    let chat = json!({"id": 601, "type": "private", "first_name": "Ann"});
    let group = json!({"id": -600, "type": "group", "title": "G"});
    let sticker = json!({
        "file_id": "s1", "file_unique_id": "u1", "type": "regular",
        "width": 512, "height": 512, "is_animated": false, "is_video": false,
    });
    let t0 = Instant::now();
    let api = &bot.api;
    api.push_update(json!({"edited_message": {
        "message_id": 990_100, "from": user, "chat": chat, "date": unix_now(),
        "edit_date": unix_now(), "text": "/status 14",
    }}));
    api.push_update(json!({"message": {
        "message_id": 990_101, "from": user, "chat": group, "date": unix_now(), "sticker": sticker,
    }}));
    api.push_update(json!({"channel_post": {
        "message_id": 990_102, "date": unix_now(), "text": "/status 14",
        "chat": {"id": -1_000_000_000_601i64, "type": "channel", "title": "News"},
        "sender_chat": {"id": -1_000_000_000_601i64, "type": "channel", "title": "News"},
    }}));
    api.push_update(json!({"my_chat_member": {
        "chat": chat, "from": user, "date": unix_now(),
        "old_chat_member": {"user": {"id": BOT_ID, "is_bot": true, "first_name": "M"}, "status": "member"},
        "new_chat_member": {"user": {"id": BOT_ID, "is_bot": true, "first_name": "M"}, "status": "kicked", "until_date": 0},
    }}));
    api.push_update(json!({"callback_query": {
        "id": "cbq-nodata", "from": user, "chat_instance": "ci", "data": null,
    }}));
    api.push_update(json!({"inline_query": {
        "id": "iq1", "from": user, "query": "hi", "offset": "",
    }}));
    api.push_update(json!({"message": {
        "message_id": 990_103, "from": user, "chat": chat, "date": unix_now(), "sticker": sticker,
    }}));
    api.push_update(json!({"message": {
        "message_id": 990_104, "from": user, "chat": chat, "date": unix_now(),
        "photo": [{"file_id": "p1", "file_unique_id": "pu1", "width": 90, "height": 90}],
        "caption": "what is this?",
    }}));
    let text_only = bot.next_to(601, t0).await;
    assert!(
        text_only.text.contains("I can only read text messages"),
        "{}",
        text_only.text
    );
    let deadline = Instant::now() + WAIT;
    while bot.sent_to(601).len() < 2 {
        assert!(Instant::now() < deadline, "the photo got no note");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Still answering afterwards.
    let answer = bot.ask(601, &en(601), "/status 14").await;
    assert!(shown(&answer.text).contains("20"), "{}", answer.text);
    tokio::time::sleep(QUIET).await;
    let texts: Vec<String> = bot.sent_to(601).into_iter().map(|s| s.text).collect();
    assert_eq!(
        texts.len(),
        3,
        "two text-only notes and the status: {texts:?}"
    );
    assert!(bot.sent_to(-600).is_empty());
    assert_eq!(bot.api.calls("answerCallbackQuery"), 1);
    bot.stop().await;
}

// ---- rendering -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_are_escaped_html() {
    let bot = start().await;
    let help = bot.ask(701, &zh(701), "/help").await;
    // The core's `<任务>` arrives escaped; the fake server would have refused a bare `<`.
    assert!(help.text.contains("/status &lt;任务&gt;"), "{}", help.text);
    assert!(!help.text.contains("<任务>"));
    let unknown = bot.ask(701, &zh(701), "/x<b>&amp;").await;
    assert!(
        unknown.text.contains("&lt;b&gt;&amp;amp;"),
        "{}",
        unknown.text
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_replies_are_split_at_line_breaks() {
    let bot = start().await;
    let admin = admin();
    // Five long notes make a history of well over 4,096 characters.
    for i in 1..=5 {
        let note = format!("N{i}{}", "进&<".repeat(300));
        let reply = bot
            .ask(ADMIN, &admin, &format!("/update 14 {i}km {note}"))
            .await;
        assert!(
            shown(&reply.text).contains(&format!("N{i}")),
            "{}",
            reply.text
        );
    }
    let t0 = Instant::now();
    bot.api.push_text_from(ADMIN, &admin, "/history 14");
    bot.next_to(ADMIN, t0).await;
    tokio::time::sleep(QUIET).await;
    let parts: Vec<Sent> = bot
        .sent_to(ADMIN)
        .into_iter()
        .filter(|s| s.at >= t0)
        .collect();
    assert!(parts.len() >= 2, "{} parts", parts.len());
    for p in &parts {
        assert!(p.text.encode_utf16().count() <= 4096);
        assert!(!p.text.ends_with('&'));
    }
    let whole = parts
        .iter()
        .map(|p| shown(&p.text))
        .collect::<Vec<_>>()
        .join("\n");
    for i in 1..=5 {
        assert!(whole.contains(&format!("N{i}")), "note {i} missing");
    }
    assert!(whole.contains(&"进&<".repeat(300)));
    bot.stop().await;
}

#[test]
fn splitting_respects_escapes_tags_and_lines() {
    // Short text: one part, first line bold.
    assert_eq!(render::html_parts("a<b\nc&d"), ["<b>a&lt;b</b>\nc&amp;d"]);
    // Lines are kept whole when they fit; parts never exceed the limit.
    let text = (0..50)
        .map(|i| format!("line {i} & <{i}>"))
        .collect::<Vec<_>>()
        .join("\n");
    let parts = render::html_parts_within(&text, 100);
    assert!(parts.len() > 5);
    let mut lines = Vec::new();
    for p in &parts {
        assert!(p.encode_utf16().count() <= 100, "{p}");
        lines.extend(p.lines().map(shown));
    }
    assert_eq!(lines.join("\n"), text);
    // One huge line of escapes: cut between characters, never inside `&amp;`.
    let amp = "&".repeat(1000);
    let parts = render::html_parts_within(&amp, 64);
    for p in &parts {
        assert!(p.encode_utf16().count() <= 64, "{p}");
        let plain = p.replace("<b>", "").replace("</b>", "");
        assert_eq!(plain.replace("&amp;", ""), "", "{p}");
    }
    let joined: String = parts.iter().map(|p| shown(p)).collect();
    assert_eq!(joined, amp);
    // Emoji count as two UTF-16 units, as Telegram counts them.
    let parts = render::html_parts(&"🔔".repeat(3000));
    assert!(parts.len() >= 2);
    assert!(parts.iter().all(|p| p.encode_utf16().count() <= 4096));
}

#[test]
fn mentions_are_stripped_whole_words_only() {
    let bot = "Minsheng_Test_Bot";
    assert_eq!(
        telegram::strip_mention("@minsheng_test_bot 托位数？", bot).as_deref(),
        Some("托位数？")
    );
    assert_eq!(
        telegram::strip_mention("托位数 @MINSHENG_TEST_BOT", bot).as_deref(),
        Some("托位数")
    );
    assert_eq!(
        telegram::strip_mention("@minsheng_test_bot，托位数", bot).as_deref(),
        Some("托位数")
    );
    assert_eq!(telegram::strip_mention("@minsheng_test_bot2 hi", bot), None);
    assert_eq!(telegram::strip_mention("no mention", bot), None);
}

#[test]
fn the_token_is_redacted() {
    let r = Redactor::new(TOKEN);
    let err = format!("error sending request for url (http://127.0.0.1:1/bot{TOKEN}/getMe)");
    let out = r.redact_str(&err);
    assert!(!out.contains("TEST-TOKEN"), "{out}");
    assert!(out.contains("bot<token>/getMe"), "{out}");
    let encoded = err.replace(':', "%3A");
    assert!(!r.redact_str(&encoded).contains("TEST-TOKEN"));
    let debug = format!("{:?}", Config::new(TOKEN));
    assert!(!debug.contains("TEST-TOKEN"), "{debug}");
}

// ---- load ------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_warns_once_then_stays_silent() {
    let bot = start_with(|c| {
        c.rate_limit = RateLimit {
            max: 5,
            window: Duration::from_secs(60),
        }
    })
    .await;
    let user = zh(801);
    for i in 0..9 {
        bot.api
            .push_text_from(801, &user, &format!("/status {}", i % 3 + 1));
    }
    let slow = bot
        .api
        .wait_sent_matching(|s| s.chat_id == 801 && s.text.contains("太快"), WAIT)
        .await;
    assert!(shown(&slow.text).contains("请稍等"), "{}", slow.text);
    tokio::time::sleep(QUIET).await;
    let sent = bot.sent_to(801);
    assert_eq!(sent.len(), 6, "five answers and one warning");
    assert!(sent[5].text.contains("太快"));
    // Button presses count too: still acknowledged, but nothing is done or sent.
    bot.api
        .push_callback_from(801, &user, sent[0].message_id, "entry:qa3:zh");
    bot.api.wait_calls("answerCallbackQuery", 1, WAIT).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(bot.sent_to(801).len(), 6);
    // Others are not affected.
    let other = bot.ask(802, &zh(802), "/status 14").await;
    assert!(shown(&other.text).contains("20公里"));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_chat_does_not_stall_the_others() {
    let bot = start().await;
    let flooder = zh(901);
    for i in 0..2000 {
        bot.api
            .push_text_from(901, &flooder, &format!("问题{i} 托位数怎么算？"));
    }
    // Forty other chats ask meanwhile, whichever dispatcher worker they share with it.
    let t0 = Instant::now();
    for chat in 902..942 {
        bot.api
            .push_text_from(chat, &zh(chat), "什么是错时共享停车？");
    }
    for chat in 902..942 {
        let answer = bot.next_to(chat, t0).await;
        assert!(shown(&answer.text).contains("错时"), "{}", answer.text);
        let waited = answer.at - t0;
        assert!(
            waited < Duration::from_secs(2),
            "chat {chat} waited {waited:?}"
        );
    }
    // The flood cost the flooder 20 answers and one warning, nothing more.
    let deadline = Instant::now() + WAIT;
    while bot.api.pending_updates() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(QUIET).await;
    assert_eq!(bot.sent_to(901).len(), 21);
    bot.stop().await;
}

// ---- webhook mode ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_mode_checks_the_secret_and_answers_redeliveries_once() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let listen = format!("127.0.0.1:{port}").parse().expect("addr");
    let url: url::Url = format!("http://127.0.0.1:{port}/telegram")
        .parse()
        .expect("url");
    let secret = "s3cret_for-tests".to_string();
    let api = BotApi::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("bot.db").display());
    let store = Store::connect(&db).await.expect("store");
    let core = Arc::new(
        Core::start(knowledge(), store, Admins::default())
            .await
            .expect("core"),
    );
    let mut config = Config::new(api.token());
    config.api_url = Some(api.url());
    config.mode = Mode::Webhook {
        url: url.clone(),
        listen,
        secret: secret.clone(),
    };
    let stop = CancellationToken::new();
    let task = tokio::spawn(telegram::serve(core, config, stop.clone()));
    // Recorded when the call arrives; registered once it has been answered.
    api.wait_calls("setWebhook", 1, WAIT).await;
    let deadline = Instant::now() + WAIT;
    while api.webhook().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(api.webhook().as_deref(), Some(url.as_str()));

    let update = json!({"update_id": 4242, "message": {
        "message_id": 1, "date": unix_now(), "text": "/status 14",
        "from": {"id": 77, "is_bot": false, "first_name": "W"},
        "chat": {"id": 77, "type": "private", "first_name": "W"},
    }});
    let client = reqwest::Client::new();
    let post = |secret: &str| {
        client
            .post(url.clone())
            .header("X-Telegram-Bot-Api-Secret-Token", secret)
            .json(&update)
            .send()
    };
    // The webhook server may take a moment to accept after setWebhook.
    let deadline = Instant::now() + WAIT;
    let wrong = loop {
        match post("wrong").await {
            Ok(r) => break r,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("webhook not listening: {e}"),
        }
    };
    assert_eq!(wrong.status().as_u16(), 401);
    for _ in 0..3 {
        assert_eq!(post(&secret).await.expect("post").status().as_u16(), 200);
    }
    let answer = api.wait_sent_matching(|s| s.chat_id == 77, WAIT).await;
    assert!(shown(&answer.text).contains("20公里"), "{}", answer.text);
    tokio::time::sleep(QUIET).await;
    assert_eq!(sent_to(&api, 77).len(), 1, "redeliveries answered once");

    stop.cancel();
    tokio::time::timeout(WAIT, task)
        .await
        .expect("stops")
        .expect("no panic")
        .expect("no error");
    // Left in place for the other replicas.
    assert_eq!(api.calls("deleteWebhook"), 0);
}

// ---- the real binary ---------------------------------------------------------------------------

/// `minsheng telegram` as a child process, its stderr collected.
struct Process {
    child: tokio::process::Child,
    stderr: Captured,
}

fn spawn_bot(api: &BotApi, db_url: &str, dir: &Path) -> Process {
    spawn_bot_at(api.url().as_str(), db_url, dir)
}

/// [`spawn_bot`] against a Bot API server at `api_url`, which need not be up yet.
fn spawn_bot_at(api_url: &str, db_url: &str, dir: &Path) -> Process {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_minsheng"))
        .arg("telegram")
        .current_dir(dir)
        .env("TELOXIDE_TOKEN", TOKEN)
        .env("TELOXIDE_API_URL", api_url)
        .env("DATABASE_URL", db_url)
        .env("ADMIN_IDS", ADMIN.to_string())
        .env("FAQ_DIR", faq_dir())
        .env("RUST_LOG", "info")
        .env_remove("WEBHOOK_URL")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run minsheng telegram");
    let stderr = Captured::start(child.stderr.take().expect("stderr"));
    Process { child, stderr }
}

impl Process {
    async fn stderr(self) -> String {
        self.stderr.finish(WAIT).await
    }
}

async fn ask_via(api: &BotApi, chat: i64, user: &TestUser, text: &str) -> String {
    let t0 = Instant::now();
    api.push_text_from(chat, user, text);
    let s = api
        .wait_sent_matching(|s| s.chat_id == chat && s.at >= t0, WAIT)
        .await;
    shown(&s.text)
}

fn notifications_to(api: &BotApi, chat: i64) -> usize {
    sent_to(api, chat)
        .iter()
        .filter(|s| s.text.contains("🔔"))
        .count()
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Drives one resident/officer session against a running binary: questions, refusals, an
/// update, a status check, and a subscriber's notification (faults, if any, are the caller's).
async fn session(api: &BotApi) {
    let zh_reply = ask_via(api, 11, &zh(11), "什么是错时共享停车？").await;
    assert!(zh_reply.contains("错时"), "{zh_reply}");
    let en_reply = ask_via(api, 12, &en(12), "What is staggered-time shared parking?").await;
    assert!(en_reply.contains("parking"), "{en_reply}");
    let sub = ask_via(api, 13, &zh(13), "/subscribe 14").await;
    assert!(sub.contains("已订阅"), "{sub}");
    let refused = ask_via(api, 11, &zh(11), "/update 14 12.5km").await;
    assert!(refused.contains("只有经授权的工作人员"), "{refused}");
    for bad in [
        "/update 14 abc",
        "/update 99 5km",
        "/update 14 -5km",
        "/update 14 5kg",
    ] {
        let reply = ask_via(api, ADMIN, &admin(), bad).await;
        assert!(
            reply.contains("没有改动") || reply.contains("没有找到"),
            "{bad}: {reply}"
        );
    }
    let landed = ask_via(api, ADMIN, &admin(), "/update 14 12.5km").await;
    assert!(landed.contains("12.5"), "{landed}");
    let status = ask_via(api, 11, &zh(11), "/status 14").await;
    assert!(status.contains("12.5 / 20公里"), "{status}");
    assert!(status.contains("62.5%"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_answers_survives_sigkill_and_stops_on_sigterm() {
    let api = BotApi::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}", dir.path().join("bot.db").display());
    let mut bot = spawn_bot(&api, &db_url, dir.path());
    session(&api).await;
    api.wait_sent_matching(|s| s.chat_id == 13 && s.text.contains("🔔"), WAIT)
        .await;
    // Delivered and completed, every update confirmed: now die without warning.
    let store = Store::connect(&db_url).await.expect("store");
    wait_until("an empty outbox", async || {
        store.outbox_len("telegram").await.unwrap_or(-1) == 0
    })
    .await;
    wait_until("confirmed updates", async || api.pending_updates() == 0).await;
    bot.child.start_kill().expect("SIGKILL");
    bot.child.wait().await.expect("killed");
    let first_log = bot.stderr().await;

    let mut bot = spawn_bot(&api, &db_url, dir.path());
    let status = ask_via(&api, 11, &zh(11), "/status 14").await;
    assert!(status.contains("12.5 / 20公里"), "{status}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        notifications_to(&api, 13),
        1,
        "not resent after the restart"
    );

    let pid = bot.child.id().expect("pid");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill -TERM");
    assert!(killed.success());
    let status = tokio::time::timeout(WAIT, bot.child.wait())
        .await
        .expect("stops promptly on SIGTERM")
        .expect("exit status");
    assert_eq!(status.code(), Some(0), "clean exit");
    let log = format!("{first_log}{}", bot.stderr().await);
    assert!(!log.contains("TEST-TOKEN"), "token in the log:\n{log}");
    assert!(log.contains("Telegram bot stopped"), "{log}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_delivers_once_through_429_and_500() {
    let api = BotApi::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}", dir.path().join("bot.db").display());
    // The subscriber's chat first drops the connection, later answers 500, then 429.
    api.fail_sends_to(13, Fault::Drop);
    let mut bot = spawn_bot(&api, &db_url, dir.path());
    // This reply is lost to the fault (and logged); `session` subscribes again.
    let t0 = Instant::now();
    api.push_text_from(13, &zh(13), "/subscribe 14");
    let attempts_to_13 = || {
        api.requests("sendMessage")
            .iter()
            .filter(|r| r["chat_id"] == json!(13))
            .count()
    };
    wait_until("the subscription reply attempt", async || {
        attempts_to_13() >= 1
    })
    .await;
    api.clear_faults();
    assert!(t0.elapsed() < WAIT);
    session(&api).await;
    wait_until("the notification", async || notifications_to(&api, 13) == 1).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(notifications_to(&api, 13), 1);

    // Second round, with faults on the notification itself.
    api.fail_sends_to(13, Fault::Status(500));
    let before = attempts_to_13();
    let landed = ask_via(&api, ADMIN, &admin(), "/update 14 15km").await;
    assert!(landed.contains("15"), "{landed}");
    wait_until("a failed attempt", async || attempts_to_13() > before).await;
    api.clear_faults();
    api.fail_sends(vec![Fault::RetryAfter(1)]);
    wait_until("the retried notification", async || {
        notifications_to(&api, 13) == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(notifications_to(&api, 13), 2, "each notification once");
    assert!(attempts_to_13() >= before + 3, "500, 429, success");

    let pid = bot.child.id().expect("pid");
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill -TERM");
    let status = tokio::time::timeout(WAIT, bot.child.wait())
        .await
        .expect("stops")
        .expect("exit status");
    assert_eq!(status.code(), Some(0));
    let log = bot.stderr().await;
    assert!(!log.contains("TEST-TOKEN"), "token in the log:\n{log}");
    // The dropped connection and the 500 were logged (without the token, as checked above).
    assert!(log.contains("connection closed"), "{log}");
    assert!(log.contains("Internal Server Error"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_without_a_token_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_minsheng"))
        .arg("telegram")
        .current_dir(dir.path())
        .env_remove("TELOXIDE_TOKEN")
        .env("DATABASE_URL", "sqlite::memory:")
        .env("FAQ_DIR", faq_dir())
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TELOXIDE_TOKEN"), "{err}");
    assert!(err.contains(".env.example"), "{err}");

    // A token Telegram refuses: a clear error, and the token is not repeated.
    let api = BotApi::start().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_minsheng"))
        .arg("telegram")
        .current_dir(dir.path())
        .env("TELOXIDE_TOKEN", "42:WRONG-SECRET-TOKEN")
        .env("TELOXIDE_API_URL", api.url().as_str())
        .env("DATABASE_URL", "sqlite::memory:")
        .env("FAQ_DIR", faq_dir())
        .env("RUST_LOG", "debug")
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused the bot token"), "{err}");
    assert!(!err.contains("WRONG-SECRET-TOKEN"), "{err}");
}

/// Deployments start before their network: a bot whose Bot API server is not up yet waits for
/// it (without the token in its log) and answers as soon as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_started_before_its_api_server_comes_up_with_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("minsheng.db").display());
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let mut bot = spawn_bot_at(&format!("http://{addr}/"), &db, dir.path());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        bot.child.try_wait().expect("status").is_none(),
        "still running while the server is down"
    );
    let api = BotApi::start_on(&addr.to_string()).await;
    let reply = ask_via(&api, 301, &zh(301), "/tasks").await;
    assert!(reply.contains("20件重点民生实事"), "{reply}");
    bot.child.start_kill().expect("kill");
    let _ = bot.child.wait().await;
    let log = bot.stderr().await;
    assert!(log.contains("not reachable yet"), "{log}");
    assert!(!log.contains(TOKEN), "the token never appears: {log}");
}

/// An update teloxide cannot parse is logged by its id and kind only: the sender's name and
/// words never reach the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparseable_update_leaves_no_name_in_the_log() {
    let api = BotApi::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}", dir.path().join("bot.db").display());
    let mut bot = spawn_bot(&api, &db_url, dir.path());
    // Up and answering first.
    ask_via(&api, 21, &zh(21), "/tasks").await;
    let user = json!({"id": 987_654_321, "is_bot": false, "first_name": "张秘密", "username": "secret_user"});
    let chat = json!({"id": 987_654_321, "type": "private", "first_name": "张秘密"});
    api.push_update(json!({"message": {
        "message_id": 5, "from": user, "chat": chat, "date": "yesterday",
        "text": "我的电话是13812345678",
    }}));
    wait_until("the broken update confirmed", async || {
        api.pending_updates() == 0
    })
    .await;
    // Still answering afterwards.
    let reply = ask_via(&api, 22, &zh(22), "/tasks").await;
    assert!(reply.contains("20件重点民生实事"), "{reply}");
    bot.child.start_kill().expect("kill");
    let _ = bot.child.wait().await;
    let log = bot.stderr().await;
    assert!(
        log.contains("Cannot parse an update"),
        "the failure is logged: {log}"
    );
    for secret in ["张秘密", "secret_user", "13812345678", "987654321"] {
        assert!(!log.contains(secret), "{secret} in the log: {log}");
    }
}

/// Inline mode: `@bot 14` or `@bot 托位` in any chat offers cards to share — the task's live
/// status or the answer, in the user's language, fresh (short cache); nothing for a question
/// the bot cannot answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_queries_offer_cards_to_share() {
    let bot = start().await;
    let api = &bot.api;
    let zh_user =
        json!({"id": 701, "is_bot": false, "first_name": "Li", "language_code": "zh-hans"});
    let en_user = json!({"id": 702, "is_bot": false, "first_name": "Ann", "language_code": "en"});
    let queries = [
        (&zh_user, "14"),
        (&zh_user, "托位数怎么算"),
        (&en_user, "what is staggered-time shared parking"),
        (&en_user, "how do I renew my passport"),
    ];
    for (i, (user, query)) in queries.iter().enumerate() {
        api.push_update(json!({"inline_query": {
            "id": format!("iq-{i}"), "from": user, "query": query, "offset": "",
        }}));
        api.wait_calls("answerInlineQuery", i + 1, WAIT).await;
    }
    let answers = api.requests("answerInlineQuery");
    let by_id = |id: &str| {
        answers
            .iter()
            .find(|a| a["inline_query_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no answer to {id}: {answers:?}"))
    };
    let first = by_id("iq-0");
    assert_eq!(first["cache_time"], 30, "{first}");
    let card = &first["results"][0];
    assert_eq!(card["type"], "article");
    assert_eq!(card["title"], "第14项 城市老旧供水管网改造", "{card}");
    let text = card["input_message_content"]["message_text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("14.1 老旧供水管网改造长度"), "{text}");
    assert!(
        card["description"]
            .as_str()
            .unwrap_or_default()
            .contains("尚未报告"),
        "{card}"
    );
    let childcare = by_id("iq-1");
    let titles: Vec<&str> = childcare["results"]
        .as_array()
        .map(|r| r.iter().filter_map(|c| c["title"].as_str()).collect())
        .unwrap_or_default();
    assert!(titles.iter().any(|t| t.contains("托")), "{titles:?}");
    let parking = by_id("iq-2");
    let title = parking["results"][0]["title"].as_str().unwrap_or_default();
    assert!(title.contains("staggered"), "in English: {parking}");
    let passport = by_id("iq-3");
    assert_eq!(passport["results"], json!([]), "{passport}");
    bot.stop().await;
}
