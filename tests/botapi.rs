//! The fake Bot API server (`tests/support/bot_api.rs`) against the real teloxide 0.17 client:
//! if these pass, bot tests can trust what the fake records and answers.

#[path = "support/bot_api.rs"]
mod bot_api;

use std::collections::BTreeSet;
use std::time::Duration;

use bot_api::{BOT_ID, BOT_USERNAME, BotApi, Fault, PollMode, TestUser};
use serde_json::{Value, json};
use teloxide::adaptors::throttle::Limits;
use teloxide::dispatching::{ShutdownToken, UpdateHandler};
use teloxide::prelude::*;
use teloxide::types::{BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, ParseMode};
use teloxide::{ApiError, RequestError};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(10);

fn bot(api: &BotApi) -> Bot {
    Bot::new(api.token()).set_api_url(api.url())
}

/// A raw call, for what teloxide cannot show (HTTP status, 5xx without its 10 s sleep).
async fn raw(api: &BotApi, method: &str, body: Value) -> (u16, Value) {
    let url = format!("{}bot{}/{method}", api.url(), api.token());
    let response = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Echoes text messages; answers button presses and edits the pressed message.
fn handler() -> UpdateHandler<RequestError> {
    dptree::entry()
        .branch(
            Update::filter_message().endpoint(|bot: Bot, msg: Message| async move {
                bot.send_message(msg.chat.id, msg.text().unwrap_or_default())
                    .await?;
                respond(())
            }),
        )
        .branch(
            Update::filter_callback_query().endpoint(|bot: Bot, q: CallbackQuery| async move {
                bot.answer_callback_query(q.id.clone())
                    .text("noted")
                    .await?;
                if let (Some(data), Some(message)) = (q.data.as_deref(), q.regular_message()) {
                    bot.edit_message_text(message.chat.id, message.id, format!("chose {data}"))
                        .await?;
                }
                respond(())
            }),
        )
}

/// A dispatcher running on its own task, like a bot process.
struct Running {
    token: ShutdownToken,
    task: JoinHandle<()>,
}

fn run(bot: Bot) -> Running {
    let mut dispatcher = Dispatcher::builder(bot, handler()).build();
    let token = dispatcher.shutdown_token();
    let task = tokio::spawn(async move { dispatcher.dispatch().await });
    Running { token, task }
}

impl Running {
    async fn stop(self) {
        // `shutdown` refuses while the dispatcher is still starting up.
        let deadline = Instant::now() + WAIT;
        let stopping = loop {
            match self.token.shutdown() {
                Ok(stopping) => break stopping,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                Err(e) => panic!("dispatcher never started: {e}"),
            }
        };
        tokio::time::timeout(WAIT, stopping)
            .await
            .expect("shutdown hangs");
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("dispatch hangs")
            .unwrap();
    }
}

#[tokio::test]
async fn get_me_parses_as_teloxide_me() {
    let api = BotApi::start().await;
    let me = bot(&api).get_me().await.unwrap();
    assert_eq!(me.id.0, BOT_ID as u64);
    assert!(me.is_bot);
    assert_eq!(me.username(), BOT_USERNAME);
    assert!(me.can_join_groups);
    assert_eq!(api.calls("getMe"), 1);
}

#[tokio::test]
async fn html_message_with_inline_keyboard_is_recorded() {
    let api = BotApi::start().await;
    let keyboard = InlineKeyboardMarkup::new([[
        InlineKeyboardButton::callback("进度", "progress:1"),
        InlineKeyboardButton::url("Site", "https://example.com".parse().unwrap()),
    ]]);
    let message = bot(&api)
        .send_message(
            ChatId(42),
            "<b>Bold</b> &amp; <a href=\"https://x.y\">link</a>",
        )
        .parse_mode(ParseMode::Html)
        .reply_markup(keyboard.clone())
        .await
        .unwrap();
    // Telegram answers with the text as rendered, the keyboard attached, from the bot.
    assert_eq!(message.text(), Some("Bold & link"));
    assert_eq!(message.chat.id, ChatId(42));
    assert_eq!(message.from.as_ref().map(|u| u.id.0), Some(BOT_ID as u64));
    assert_eq!(message.reply_markup(), Some(&keyboard));

    let sent = api.sent();
    assert_eq!(sent.len(), 1);
    let s = &sent[0];
    assert_eq!(
        (s.method.as_str(), s.chat_id, s.message_id),
        ("sendMessage", 42, message.id.0 as i64)
    );
    assert_eq!(s.text, "<b>Bold</b> &amp; <a href=\"https://x.y\">link</a>");
    assert_eq!(s.parse_mode.as_deref(), Some("HTML"));
    let markup = s.reply_markup.as_ref().unwrap();
    assert_eq!(
        markup["inline_keyboard"][0][0],
        json!({"text": "进度", "callback_data": "progress:1"})
    );
    assert_eq!(
        markup["inline_keyboard"][0][1]["url"],
        "https://example.com/"
    );

    // Message ids increase.
    let next = bot(&api).send_message(ChatId(42), "again").await.unwrap();
    assert!(next.id.0 > message.id.0);
}

#[tokio::test]
async fn html_that_telegram_rejects_is_rejected() {
    let api = BotApi::start().await;
    let bot = bot(&api);
    for bad in ["a <br> b", "<b>unclosed", "<b><i>x</b></i>", "1 < 2"] {
        let err = bot
            .send_message(ChatId(1), bad)
            .parse_mode(ParseMode::Html)
            .await
            .unwrap_err();
        assert!(
            matches!(err, RequestError::Api(ApiError::CantParseEntities(_))),
            "{bad:?}: {err:?}"
        );
    }
    let err = bot
        .send_message(ChatId(1), "x".repeat(4097))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RequestError::Api(ApiError::MessageIsTooLong)),
        "{err:?}"
    );
    assert!(api.sent().is_empty());
    assert_eq!(api.calls("sendMessage"), 5);
}

#[tokio::test]
async fn retry_after_fault_surfaces_as_retry_after() {
    let api = BotApi::start().await;
    api.fail_sends(vec![Fault::RetryAfter(7)]);
    let bot = bot(&api);
    match bot.send_message(ChatId(5), "hi").await {
        Err(RequestError::RetryAfter(secs)) => assert_eq!(secs.seconds(), 7),
        other => panic!("expected RetryAfter, got {other:?}"),
    }
    // The plan is used up: the next send goes through.
    bot.send_message(ChatId(5), "hi").await.unwrap();
    assert_eq!(api.calls("SendMessage"), 2);
    assert_eq!(api.sent().len(), 1);
}

#[tokio::test]
async fn blocked_chat_surfaces_as_bot_blocked() {
    let api = BotApi::start().await;
    api.fail_sends_to(7, Fault::Blocked);
    let bot = bot(&api);
    let err = bot.send_message(ChatId(7), "hi").await.unwrap_err();
    assert!(
        matches!(err, RequestError::Api(ApiError::BotBlocked)),
        "{err:?}"
    );
    // Only that chat is blocked.
    bot.send_message(ChatId(8), "hi").await.unwrap();
    assert_eq!(
        api.sent().iter().map(|s| s.chat_id).collect::<Vec<_>>(),
        [8]
    );
}

#[tokio::test]
async fn dropped_connection_surfaces_as_network_error() {
    let api = BotApi::start().await;
    api.fail_sends(vec![Fault::Drop]);
    let bot = bot(&api);
    let err = bot.send_message(ChatId(1), "hi").await.unwrap_err();
    assert!(matches!(err, RequestError::Network(_)), "{err:?}");
    // The client recovers on a fresh connection.
    bot.send_message(ChatId(1), "hi").await.unwrap();
}

#[tokio::test]
async fn server_errors_unknown_methods_and_bad_tokens() {
    let api = BotApi::start().await;
    api.fail_sends(vec![Fault::Status(500)]);
    let (status, body) = raw(&api, "sendMessage", json!({"chat_id": 1, "text": "x"})).await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 500, "description": "Internal Server Error"})
    );

    let (status, body) = raw(&api, "sendSticker", json!({"chat_id": 1})).await;
    assert_eq!(status, 404);
    assert_eq!(body["description"], "Not Found: method not found");
    assert_eq!(api.calls("sendSticker"), 1);
    assert_eq!(api.requests("sendsticker"), [json!({"chat_id": 1})]);

    let err = Bot::new("1:WRONG")
        .set_api_url(api.url())
        .get_me()
        .await
        .unwrap_err();
    assert!(
        matches!(err, RequestError::Api(ApiError::InvalidToken)),
        "{err:?}"
    );
}

#[tokio::test]
async fn dispatcher_echoes_then_shuts_down_cleanly() {
    let api = BotApi::start().await;
    let running = run(bot(&api));
    api.push_text(101, 101, "hello");
    api.push_text_from(
        102,
        &TestUser::new(102)
            .first_name("小明")
            .language_code("zh-hans"),
        "你好",
    );
    api.push_group_text(
        -200,
        "Residents",
        &TestUser::new(103),
        "/start@minsheng_test_bot",
    );

    let sent = api.wait_sent(3, WAIT).await;
    let got: BTreeSet<(i64, &str)> = sent.iter().map(|s| (s.chat_id, s.text.as_str())).collect();
    let want = BTreeSet::from([
        (101, "hello"),
        (102, "你好"),
        (-200, "/start@minsheng_test_bot"),
    ]);
    assert_eq!(got, want);

    running.stop().await;
    // The final poll confirmed everything handled, so a restarted bot starts clean.
    assert_eq!(api.pending_updates(), 0);
    assert_eq!(api.calls("getMe"), 1);
    assert_eq!(api.calls("getWebhookInfo"), 1);
}

#[tokio::test]
async fn callback_query_reaches_its_branch() {
    let api = BotApi::start().await;
    let keyboard = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("A", "a")]]);
    let menu = bot(&api)
        .send_message(ChatId(9), "Pick")
        .reply_markup(keyboard)
        .await
        .unwrap();
    let running = run(bot(&api));
    api.push_callback(9, 9, menu.id.0 as i64, "a");

    let edit = api
        .wait_sent_matching(|s| s.method == "editMessageText", WAIT)
        .await;
    assert_eq!((edit.chat_id, edit.message_id), (9, menu.id.0 as i64));
    assert_eq!(edit.text, "chose a");
    let answers = api.requests("answerCallbackQuery");
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0]["text"], "noted");
    // The edit without a keyboard removed it, as on Telegram.
    let now = api.message(9, menu.id.0 as i64).unwrap();
    assert_eq!(now["text"], "chose a");
    assert!(now.get("reply_markup").is_none());
    running.stop().await;

    // Editing to the same content is refused the way Telegram does.
    let err = bot(&api)
        .edit_message_text(ChatId(9), menu.id, "chose a")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RequestError::Api(ApiError::MessageNotModified)),
        "{err:?}"
    );
}

#[tokio::test]
async fn restarted_bot_gets_only_new_updates() {
    let api = BotApi::start().await;
    let first = run(bot(&api));
    api.push_text(1, 1, "one");
    api.wait_sent(1, WAIT).await;
    first.stop().await;

    api.push_text(1, 1, "two");
    assert_eq!(api.pending_updates(), 1);
    let second = run(bot(&api));
    api.wait_sent(2, WAIT).await;
    second.stop().await;
    let texts: Vec<String> = api.sent().into_iter().map(|s| s.text).collect();
    assert_eq!(texts, ["one", "two"]);
}

#[tokio::test]
async fn throttle_delivers_and_retries_after_429() {
    let api = BotApi::start().await;
    let bot = bot(&api).throttle(Limits::default());
    api.fail_sends(vec![Fault::RetryAfter(1)]);
    let started = Instant::now();
    bot.send_message(ChatId(1), "first").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Throttle waited out retry_after"
    );
    let (a, b, c) = tokio::join!(
        bot.send_message(ChatId(1), "second"),
        bot.send_message(ChatId(2), "x"),
        bot.send_message(ChatId(3), "y"),
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    assert_eq!(api.calls("sendMessage"), 5);
    let chat1: Vec<String> = api
        .sent()
        .into_iter()
        .filter(|s| s.chat_id == 1)
        .map(|s| s.text)
        .collect();
    assert_eq!(chat1, ["first", "second"]);
}

#[tokio::test]
async fn long_polling_holds_confirms_and_limits() {
    let api = BotApi::start().await;
    // Nothing queued: the call is held for the whole timeout.
    let started = Instant::now();
    let (_, body) = raw(&api, "getUpdates", json!({"timeout": 1})).await;
    assert_eq!(body, json!({"ok": true, "result": []}));
    assert!(started.elapsed() >= Duration::from_millis(950));

    // A held call returns as soon as an update arrives.
    let started = Instant::now();
    let poll = raw(&api, "getUpdates", json!({"timeout": 30}));
    let push = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        api.push_text(5, 5, "wake")
    };
    let ((_, body), id) = tokio::join!(poll, push);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(body["result"][0]["update_id"], id);
    assert_eq!(body["result"][0]["message"]["text"], "wake");

    // Unconfirmed updates come again; `limit` caps the batch; `offset` confirms.
    let id2 = api.push_text(5, 5, "second");
    let (_, body) = raw(&api, "getUpdates", json!({"limit": 1})).await;
    assert_eq!(body["result"].as_array().unwrap().len(), 1);
    assert_eq!(body["result"][0]["update_id"], id);
    let (_, body) = raw(&api, "getUpdates", json!({"offset": id + 1})).await;
    assert_eq!(body["result"][0]["update_id"], id2);
    assert_eq!(api.pending_updates(), 1);
    // A negative offset keeps only the newest updates, as `drop_pending_updates` relies on.
    api.push_text(5, 5, "third");
    let (_, body) = raw(&api, "getUpdates", json!({"offset": -1})).await;
    assert_eq!(body["result"][0]["message"]["text"], "third");
    assert_eq!(api.pending_updates(), 1);
}

#[tokio::test]
async fn concurrent_pollers_conflict_like_telegram_or_share() {
    let api = BotApi::start().await;
    let older = raw(&api, "getUpdates", json!({"timeout": 30}));
    let newer = async {
        api.wait_calls("getUpdates", 1, WAIT).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        raw(&api, "getUpdates", json!({"timeout": 0})).await
    };
    let ((status, body), (_, newer)) = tokio::join!(older, newer);
    assert_eq!(status, 409);
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("terminated by other getUpdates")
    );
    assert_eq!(newer["result"], json!([]));

    api.set_poll_mode(PollMode::Shared);
    let polls = async {
        tokio::join!(
            raw(&api, "getUpdates", json!({"timeout": 30})),
            raw(&api, "getUpdates", json!({"timeout": 30})),
        )
    };
    let push = async {
        api.wait_calls("getUpdates", 4, WAIT).await;
        api.push_text(1, 1, "both")
    };
    let (((_, a), (_, b)), id) = tokio::join!(polls, push);
    assert_eq!(a["result"][0]["update_id"], id);
    assert_eq!(b["result"][0]["update_id"], id);
}

#[tokio::test]
async fn commands_webhook_and_small_methods() {
    let api = BotApi::start().await;
    let bot = bot(&api);
    let zh = [BotCommand::new("start", "开始")];
    bot.set_my_commands(zh.clone())
        .language_code("zh")
        .await
        .unwrap();
    bot.set_my_commands([BotCommand::new("start", "Start")])
        .await
        .unwrap();
    assert_eq!(bot.get_my_commands().language_code("zh").await.unwrap(), zh);
    let recorded = api.commands();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0]["language_code"], "zh");
    assert_eq!(recorded[0]["commands"][0]["description"], "开始");

    bot.set_webhook("https://example.com/hook".parse().unwrap())
        .await
        .unwrap();
    let info = bot.get_webhook_info().await.unwrap();
    assert_eq!(
        info.url.map(String::from).as_deref(),
        Some("https://example.com/hook")
    );
    assert!(
        bot.get_updates().await.is_err(),
        "getUpdates refused while a webhook is set"
    );
    bot.delete_webhook().await.unwrap();
    assert!(bot.get_webhook_info().await.unwrap().url.is_none());
    assert!(bot.get_updates().await.unwrap().is_empty());

    bot.send_chat_action(ChatId(1), teloxide::types::ChatAction::Typing)
        .await
        .unwrap();
    bot.close().await.unwrap();
    bot.log_out().await.unwrap();
    assert_eq!(
        api.calls("sendChatAction") + api.calls("close") + api.calls("logOut"),
        3
    );
}
