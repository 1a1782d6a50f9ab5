//! A fake Telegram Bot API server on loopback, faithful enough for teloxide 0.17.
//!
//! Include it from a test file with
//! `#[path = "support/bot_api.rs"] mod bot_api;` and point the bot at it with
//! `Bot::new(api.token()).set_api_url(api.url())` (or `TELOXIDE_TOKEN`/`TELOXIDE_API_URL` for a
//! child process). The server lives on the tokio runtime that called [`BotApi::start`] and stops
//! when the handle is dropped.
//!
//! The server runs as tasks of the calling runtime: a test that blocks a thread (e.g. waiting on
//! a `std::process::Child` inside a current-thread runtime) starves it; use `tokio::process` or a
//! multi-thread runtime for tests that run the bot as a child process.
//!
//! Updates sit in one queue until a `getUpdates` call confirms them with a higher `offset`, as
//! on Telegram, so a bot process that dies mid-poll and restarts gets them again.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{self, Path};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::serve::{IncomingStream, Listener};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub const TOKEN: &str = "123456:TEST-TOKEN";
pub const BOT_ID: i64 = 123456;
pub const BOT_USERNAME: &str = "minsheng_test_bot";
const BOT_FIRST_NAME: &str = "Minsheng Test";

const TERMINATED: &str = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";
const WEBHOOK_ACTIVE: &str = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first";
const NOT_MODIFIED: &str = "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message";

/// What a faulty request is answered with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 429 with `parameters.retry_after` → `RequestError::RetryAfter`.
    RetryAfter(u32),
    /// That HTTP status with its canonical reason as description. Beware: teloxide sleeps 10 s
    /// before reading any 5xx answer.
    Status(u16),
    /// HTTP 403 "Forbidden: bot was blocked by the user" → `ApiError::BotBlocked`.
    Blocked,
    /// Close the connection without answering → `RequestError::Network`.
    Drop,
    /// Any other error answer, e.g. `(400, "Bad Request: chat not found")`.
    Api(u16, String),
}

/// How concurrent `getUpdates` calls interact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollMode {
    /// Like Telegram: a new call answers the one still held with 409 "terminated by other
    /// getUpdates request". The default.
    Exclusive,
    /// Every poller sees every unconfirmed update (no 409s), e.g. to observe double handling.
    Shared,
}

/// A message-producing request the server accepted.
#[derive(Clone, Debug)]
pub struct Sent {
    /// Canonical spelling: `sendMessage`, `editMessageText`, `editMessageReplyMarkup`.
    pub method: String,
    pub chat_id: i64,
    /// The new message's id, or the edited one's.
    pub message_id: i64,
    /// As sent (HTML markup included); for `editMessageReplyMarkup`, the message's current text.
    pub text: String,
    pub parse_mode: Option<String>,
    pub reply_markup: Option<Value>,
    /// The whole request body.
    pub body: Value,
    pub at: Instant,
}

/// What Telegram shows for an HTML message (tags dropped, entities decoded), for asserts.
pub fn shown(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// A Telegram user who writes to the bot.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: i64,
    pub first_name: String,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub language_code: Option<String>,
}

impl TestUser {
    /// First name `User<id>`, no username, no language code.
    pub fn new(id: i64) -> Self {
        TestUser {
            id,
            first_name: format!("User{id}"),
            last_name: None,
            username: None,
            language_code: None,
        }
    }

    pub fn first_name(mut self, name: &str) -> Self {
        self.first_name = name.to_owned();
        self
    }

    pub fn last_name(mut self, name: &str) -> Self {
        self.last_name = Some(name.to_owned());
        self
    }

    pub fn username(mut self, name: &str) -> Self {
        self.username = Some(name.to_owned());
        self
    }

    pub fn language_code(mut self, code: &str) -> Self {
        self.language_code = Some(code.to_owned());
        self
    }

    fn json(&self) -> Value {
        let mut user = Map::new();
        user.insert("id".into(), self.id.into());
        user.insert("is_bot".into(), false.into());
        user.insert("first_name".into(), self.first_name.clone().into());
        insert_opt(&mut user, "last_name", &self.last_name);
        insert_opt(&mut user, "username", &self.username);
        insert_opt(&mut user, "language_code", &self.language_code);
        Value::Object(user)
    }

    fn private_chat(&self, chat_id: i64) -> Value {
        let mut chat = Map::new();
        chat.insert("id".into(), chat_id.into());
        chat.insert("type".into(), "private".into());
        chat.insert("first_name".into(), self.first_name.clone().into());
        insert_opt(&mut chat, "last_name", &self.last_name);
        insert_opt(&mut chat, "username", &self.username);
        Value::Object(chat)
    }
}

fn insert_opt(map: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        map.insert(key.into(), v.clone().into());
    }
}

/// Handle on a running fake server.
pub struct BotApi {
    shared: Arc<Shared>,
    url: reqwest::Url,
    server: JoinHandle<()>,
}

struct Shared {
    state: Mutex<State>,
    /// Bumped on every state change; waiters (long polls, `wait_*`) re-check on each bump.
    changed: watch::Sender<u64>,
}

struct State {
    poll_mode: PollMode,
    /// Unconfirmed updates, ascending `update_id`.
    updates: VecDeque<Value>,
    next_update_id: i64,
    /// Shared by users and the bot so ids never collide across chats.
    next_message_id: i64,
    /// Sequence number of the newest `getUpdates` call, for 409 conflicts.
    poll_seq: u64,
    webhook: Option<String>,
    /// Chat objects learned from pushed updates, to answer sends realistically.
    chats: HashMap<i64, Value>,
    /// Current state of messages the bot may edit, by (chat, message id).
    messages: HashMap<(i64, i64), Value>,
    sent: Vec<Sent>,
    /// Every request body by lower-case method name (unknown and failed ones included).
    requests: HashMap<String, Vec<Value>>,
    send_plan: VecDeque<Fault>,
    chat_faults: HashMap<i64, Fault>,
    /// `sendMessage` to these chats waits this long before it is handled (a slow Telegram).
    send_delays: HashMap<i64, Duration>,
    commands: Vec<Value>,
    /// Current command lists by (scope, language_code).
    command_sets: HashMap<String, Value>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the server's state from the others.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    /// Applies `change`, then wakes waiters.
    fn update<R>(&self, change: impl FnOnce(&mut State) -> R) -> R {
        let r = change(&mut self.lock());
        self.bump();
        r
    }

    /// Until `check` yields something or `timeout` passes (then `None`).
    async fn wait_for<R>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&State) -> Option<R>,
    ) -> Option<R> {
        let deadline = Instant::now() + timeout;
        // Subscribing before checking means no change can slip between check and wait.
        let mut rx = self.changed.subscribe();
        loop {
            if let Some(r) = check(&self.lock()) {
                return Some(r);
            }
            if Instant::now() >= deadline {
                return None;
            }
            let _ = tokio::time::timeout_at(deadline, rx.changed()).await;
        }
    }
}

impl BotApi {
    /// Binds 127.0.0.1:0 and serves token [`TOKEN`] for bot [`BOT_ID`] @[`BOT_USERNAME`].
    pub async fn start() -> BotApi {
        BotApi::start_on("127.0.0.1:0").await
    }

    /// [`BotApi::start`] on a given address (a server that comes up after its client).
    pub async fn start_on(addr: &str) -> BotApi {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                poll_mode: PollMode::Exclusive,
                updates: VecDeque::new(),
                next_update_id: 1,
                next_message_id: 1,
                poll_seq: 0,
                webhook: None,
                chats: HashMap::new(),
                messages: HashMap::new(),
                sent: Vec::new(),
                requests: HashMap::new(),
                send_plan: VecDeque::new(),
                chat_faults: HashMap::new(),
                send_delays: HashMap::new(),
                commands: Vec::new(),
                command_sets: HashMap::new(),
            }),
            changed: watch::Sender::new(0),
        });
        let listener = TcpListener::bind(addr).await.expect("bind fake Bot API");
        let addr = listener.local_addr().expect("local addr");
        let app = Router::new()
            .route("/{bot_token}/{method}", any(handle))
            .with_state(shared.clone())
            .into_make_service_with_connect_info::<Killer>();
        let server = tokio::spawn(async move {
            axum::serve(KillableListener(listener), app)
                .await
                .expect("fake Bot API server");
        });
        let url = reqwest::Url::parse(&format!("http://{addr}/")).expect("server url");
        BotApi {
            shared,
            url,
            server,
        }
    }

    /// Base URL for `Bot::set_api_url` or `TELOXIDE_API_URL`.
    pub fn url(&self) -> reqwest::Url {
        self.url.clone()
    }

    pub fn token(&self) -> &str {
        TOKEN
    }

    pub fn bot_id(&self) -> i64 {
        BOT_ID
    }

    pub fn set_poll_mode(&self, mode: PollMode) {
        self.shared.update(|st| st.poll_mode = mode);
    }

    /// A private-chat text message from user `user_id` (see [`TestUser::new`]).
    pub fn push_text(&self, chat_id: i64, user_id: i64, text: &str) -> i64 {
        self.push_text_from(chat_id, &TestUser::new(user_id), text)
    }

    /// A private-chat text message from `user`. Returns the update id.
    pub fn push_text_from(&self, chat_id: i64, user: &TestUser, text: &str) -> i64 {
        self.push_message(user, user.private_chat(chat_id), text)
    }

    /// A text message in a group (`chat_id` ≤ -10¹² makes it a supergroup).
    pub fn push_group_text(&self, chat_id: i64, title: &str, user: &TestUser, text: &str) -> i64 {
        let kind = if chat_id <= -1_000_000_000_000 {
            "supergroup"
        } else {
            "group"
        };
        self.push_message(
            user,
            json!({"id": chat_id, "type": kind, "title": title}),
            text,
        )
    }

    fn push_message(&self, user: &TestUser, chat: Value, text: &str) -> i64 {
        self.shared.update(|st| {
            let message_id = st.take_message_id();
            let mut message = json!({
                "message_id": message_id,
                "from": user.json(),
                "chat": chat,
                "date": unix_now(),
                "text": text,
            });
            // Telegram marks a leading command; teloxide does not need it but bots may look.
            if let Some(command) = text
                .split_whitespace()
                .next()
                .filter(|t| t.starts_with('/'))
            {
                message["entities"] = json!([{
                    "type": "bot_command", "offset": 0, "length": utf16_len(command),
                }]);
            }
            st.push_update(json!({ "message": message }))
        })
    }

    /// Any raw update; its `update_id` is assigned (overwritten) and returned. Chats in it are
    /// remembered so later sends to them answer with the same chat object.
    pub fn push_update(&self, update: Value) -> i64 {
        self.shared.update(|st| st.push_update(update))
    }

    /// A button press by user `user_id` on message `message_id` in `chat_id`.
    pub fn push_callback(&self, chat_id: i64, user_id: i64, message_id: i64, data: &str) -> i64 {
        self.push_callback_from(chat_id, &TestUser::new(user_id), message_id, data)
    }

    /// A button press; the update carries the message as the bot last left it (or an empty
    /// bot message if the server never saw it, which is then editable).
    pub fn push_callback_from(
        &self,
        chat_id: i64,
        user: &TestUser,
        message_id: i64,
        data: &str,
    ) -> i64 {
        self.shared.update(|st| {
            let message = st.messages.get(&(chat_id, message_id)).cloned();
            let message = message.unwrap_or_else(|| {
                let chat = match st.chats.get(&chat_id) {
                    Some(chat) => chat.clone(),
                    None if chat_id > 0 => user.private_chat(chat_id),
                    None => fallback_chat(chat_id),
                };
                let message = json!({
                    "message_id": message_id,
                    "from": bot_user(),
                    "chat": chat,
                    "date": unix_now(),
                    "text": "",
                });
                st.messages.insert((chat_id, message_id), message.clone());
                message
            });
            let id = st.next_update_id;
            st.push_update(json!({
                "callback_query": {
                    "id": format!("cbq{id}"),
                    "from": user.json(),
                    "message": message,
                    "chat_instance": format!("ci{chat_id}"),
                    "data": data,
                }
            }))
        })
    }

    /// Every accepted send/edit so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.lock().sent.clone()
    }

    /// Waits until at least `n` sends/edits were accepted; panics with those seen otherwise.
    pub async fn wait_sent(&self, n: usize, timeout: Duration) -> Vec<Sent> {
        let got = self
            .shared
            .wait_for(timeout, |st| (st.sent.len() >= n).then(|| st.sent.clone()))
            .await;
        got.unwrap_or_else(|| {
            panic!(
                "expected {n} sends within {timeout:?}, got {:#?}",
                self.sent()
            )
        })
    }

    /// Waits for the first accepted send/edit matching `pred` (earlier ones count too).
    pub async fn wait_sent_matching(
        &self,
        mut pred: impl FnMut(&Sent) -> bool,
        timeout: Duration,
    ) -> Sent {
        let got = self
            .shared
            .wait_for(timeout, |st| st.sent.iter().find(|s| pred(s)).cloned())
            .await;
        got.unwrap_or_else(|| {
            panic!(
                "no matching send within {timeout:?}; got {:#?}",
                self.sent()
            )
        })
    }

    /// How many requests of `method` arrived (any case; failed ones included).
    pub fn calls(&self, method: &str) -> usize {
        let st = self.shared.lock();
        st.requests
            .get(&method.to_ascii_lowercase())
            .map_or(0, Vec::len)
    }

    /// Waits until at least `n` requests of `method` arrived; panics otherwise.
    pub async fn wait_calls(&self, method: &str, n: usize, timeout: Duration) {
        let key = method.to_ascii_lowercase();
        let got = self
            .shared
            .wait_for(timeout, |st| {
                (st.requests.get(&key).map_or(0, Vec::len) >= n).then_some(())
            })
            .await;
        if got.is_none() {
            panic!(
                "expected {n} {method} calls within {timeout:?}, got {}",
                self.calls(method)
            );
        }
    }

    /// The bodies of every `method` request so far (e.g. `answerCallbackQuery`).
    pub fn requests(&self, method: &str) -> Vec<Value> {
        let st = self.shared.lock();
        st.requests
            .get(&method.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    /// The next `sendMessage` requests answer with these faults, in order.
    pub fn fail_sends(&self, plan: Vec<Fault>) {
        self.shared.update(|st| st.send_plan.extend(plan));
    }

    /// Every send, edit and chat action to `chat_id` fails with `fault` until cleared.
    pub fn fail_sends_to(&self, chat_id: i64, fault: Fault) {
        self.shared
            .update(|st| st.chat_faults.insert(chat_id, fault));
    }

    /// `sendMessage` to `chat_id` waits `delay` before it is handled (and is not handled at
    /// all if the client goes away meanwhile); `None` makes it prompt again.
    pub fn delay_sends_to(&self, chat_id: i64, delay: Option<Duration>) {
        self.shared.update(|st| match delay {
            Some(d) => st.send_delays.insert(chat_id, d),
            None => st.send_delays.remove(&chat_id),
        });
    }

    pub fn clear_faults(&self) {
        self.shared.update(|st| {
            st.send_plan.clear();
            st.chat_faults.clear();
        });
    }

    /// Bodies of every `setMyCommands` call (`commands`, optional `scope`, `language_code`).
    pub fn commands(&self) -> Vec<Value> {
        self.shared.lock().commands.clone()
    }

    /// Updates not yet confirmed by a `getUpdates` offset.
    pub fn pending_updates(&self) -> usize {
        self.shared.lock().updates.len()
    }

    pub fn webhook(&self) -> Option<String> {
        self.shared.lock().webhook.clone()
    }

    /// A bot message as it currently stands (after edits).
    pub fn message(&self, chat_id: i64, message_id: i64) -> Option<Value> {
        self.shared
            .lock()
            .messages
            .get(&(chat_id, message_id))
            .cloned()
    }
}

impl Drop for BotApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl State {
    fn take_message_id(&mut self) -> i64 {
        let id = self.next_message_id;
        self.next_message_id += 1;
        id
    }

    fn push_update(&mut self, mut update: Value) -> i64 {
        let id = self.next_update_id;
        self.next_update_id += 1;
        update["update_id"] = id.into();
        self.learn_chats(&update);
        self.updates.push_back(update);
        id
    }

    fn learn_chats(&mut self, update: &Value) {
        let Some(body) = update.as_object() else {
            return;
        };
        for value in body.values() {
            let chat = value.get("chat").or_else(|| value.pointer("/message/chat"));
            if let Some(id) = chat.and_then(|c| c.get("id")).and_then(Value::as_i64) {
                self.chats.insert(id, chat.cloned().unwrap_or_default());
            }
        }
    }

    /// `offset` > 0 forgets updates below it; < 0 keeps only the last `-offset` ones.
    fn confirm(&mut self, offset: i64) {
        if offset > 0 {
            while self
                .updates
                .front()
                .is_some_and(|u| u["update_id"].as_i64() < Some(offset))
            {
                self.updates.pop_front();
            }
        } else if offset < 0 {
            let keep = offset.unsigned_abs() as usize;
            while self.updates.len() > keep {
                self.updates.pop_front();
            }
        }
    }

    fn chat(&self, id: i64) -> Value {
        self.chats
            .get(&id)
            .cloned()
            .unwrap_or_else(|| fallback_chat(id))
    }

    /// The fault for a message-producing request to `chat_id`, if any.
    fn fault_for(&mut self, method: &str, chat_id: i64) -> Option<Fault> {
        if let Some(fault) = self.chat_faults.get(&chat_id) {
            return Some(fault.clone());
        }
        if method == "sendmessage" {
            return self.send_plan.pop_front();
        }
        None
    }
}

fn fallback_chat(id: i64) -> Value {
    if id > 0 {
        json!({"id": id, "type": "private", "first_name": format!("User{id}")})
    } else if id <= -1_000_000_000_000 {
        json!({"id": id, "type": "supergroup", "title": "Supergroup"})
    } else {
        json!({"id": id, "type": "group", "title": "Group"})
    }
}

fn bot_user() -> Value {
    json!({"id": BOT_ID, "is_bot": true, "first_name": BOT_FIRST_NAME, "username": BOT_USERNAME})
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

// ---------------------------------------------------------------------------------------------
// HTTP side

/// Teloxide spells methods in PascalCase; Telegram itself is case-insensitive.
const METHODS: &[&str] = &[
    "getMe",
    "getUpdates",
    "getWebhookInfo",
    "setWebhook",
    "deleteWebhook",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "deleteMessage",
    "answerCallbackQuery",
    "answerInlineQuery",
    "sendChatAction",
    "close",
    "logOut",
];

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(result: Value) -> Response {
    reply(StatusCode::OK, json!({"ok": true, "result": result}))
}

fn error(code: u16, description: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    reply(
        status,
        json!({"ok": false, "error_code": code, "description": description}),
    )
}

fn bad_request(description: &str) -> Response {
    error(400, &format!("Bad Request: {description}"))
}

fn fault_response(fault: &Fault, killer: &Killer) -> Response {
    match fault {
        Fault::RetryAfter(secs) => reply(
            StatusCode::TOO_MANY_REQUESTS,
            json!({
                "ok": false,
                "error_code": 429,
                "description": format!("Too Many Requests: retry after {secs}"),
                "parameters": {"retry_after": secs},
            }),
        ),
        Fault::Status(code) => {
            let reason = StatusCode::from_u16(*code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error");
            error(*code, reason)
        }
        Fault::Blocked => error(403, "Forbidden: bot was blocked by the user"),
        Fault::Api(code, description) => error(*code, description),
        Fault::Drop => {
            // The response below is never written: the connection fails first.
            killer.0.store(true, Ordering::SeqCst);
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn handle(
    extract::State(shared): extract::State<Arc<Shared>>,
    ConnectInfo(killer): ConnectInfo<Killer>,
    Path((bot_token, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = method.to_ascii_lowercase();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let params = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else if let Some(multipart) = content_type.and_then(|ct| parse_multipart(ct, &body)) {
        multipart
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    shared.update(|st| {
        st.requests
            .entry(key.clone())
            .or_default()
            .push(params.clone())
    });

    if bot_token.strip_prefix("bot") != Some(TOKEN) {
        return error(401, "Unauthorized");
    }
    if !params.is_object() {
        return bad_request(&format!(
            "the fake Bot API takes JSON objects or multipart forms only (got {})",
            content_type.unwrap_or("no content type")
        ));
    }
    let canonical = METHODS.iter().find(|m| m.eq_ignore_ascii_case(&key));
    let Some(&method) = canonical else {
        return error(404, "Not Found: method not found");
    };
    match method {
        "getMe" => ok(json!({
            "id": BOT_ID,
            "is_bot": true,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
            "can_join_groups": true,
            "can_read_all_group_messages": false,
            "supports_inline_queries": false,
            "can_connect_to_business": false,
            // Required by teloxide 0.17's `Me`: without it `get_me` fails to parse.
            "has_main_web_app": false,
        })),
        "getUpdates" => get_updates(&shared, &params).await,
        "getWebhookInfo" => {
            let st = shared.lock();
            ok(json!({
                "url": st.webhook.clone().unwrap_or_default(),
                "has_custom_certificate": false,
                "pending_update_count": st.updates.len(),
            }))
        }
        "setWebhook" => match params["url"].as_str() {
            Some(url) => {
                let url = (!url.is_empty()).then(|| url.to_owned());
                shared.update(|st| st.webhook = url);
                ok(json!(true))
            }
            None => bad_request("parameter \"url\" is required"),
        },
        "deleteWebhook" => {
            shared.update(|st| {
                st.webhook = None;
                if truthy(&params["drop_pending_updates"]) {
                    st.updates.clear();
                }
            });
            ok(json!(true))
        }
        "setMyCommands" => {
            shared.update(|st| {
                st.commands.push(params.clone());
                st.command_sets
                    .insert(commands_key(&params), params["commands"].clone());
            });
            ok(json!(true))
        }
        "getMyCommands" => {
            let st = shared.lock();
            ok(st
                .command_sets
                .get(&commands_key(&params))
                .cloned()
                .unwrap_or(json!([])))
        }
        "deleteMyCommands" => {
            shared.update(|st| st.command_sets.remove(&commands_key(&params)));
            ok(json!(true))
        }
        "sendMessage" => {
            let delay = int(&params["chat_id"])
                .and_then(|chat| shared.lock().send_delays.get(&chat).copied());
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            send_message(&shared, &params, &killer)
        }
        "editMessageText" | "editMessageReplyMarkup" => {
            edit_message(&shared, method, &params, &killer)
        }
        "sendChatAction" => {
            let Some(chat_id) = int(&params["chat_id"]) else {
                return bad_request("chat not found");
            };
            match shared.lock().fault_for("sendchataction", chat_id) {
                Some(fault) => fault_response(&fault, &killer),
                None => ok(json!(true)),
            }
        }
        "deleteMessage" => {
            let (chat_id, message_id) = (int(&params["chat_id"]), int(&params["message_id"]));
            let removed = shared.update(|st| match (chat_id, message_id) {
                (Some(c), Some(m)) => st.messages.remove(&(c, m)).is_some(),
                _ => false,
            });
            if removed {
                ok(json!(true))
            } else {
                bad_request("message to delete not found")
            }
        }
        // answerCallbackQuery, close, logOut: recorded above, nothing else to do.
        _ => ok(json!(true)),
    }
}

/// `chat_id` and friends arrive as numbers from teloxide but may be strings from elsewhere.
fn int(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_str()?.parse().ok())
}

/// Multipart fields arrive as strings.
fn truthy(value: &Value) -> bool {
    value
        .as_bool()
        .unwrap_or_else(|| value.as_str() == Some("true"))
}

/// The fields of a `multipart/form-data` body, which teloxide uses for every method that
/// may carry a file (even `setWebhook` without a certificate). Text fields holding JSON
/// objects or arrays are parsed; files become `{"file_name", "bytes"}`.
fn parse_multipart(content_type: &str, body: &[u8]) -> Option<Value> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let mut fields = Map::new();
    let mut rest = &body[find(body, delimiter.as_bytes())? + delimiter.len()..];
    while let Some(end) = find(rest, delimiter.as_bytes()) {
        let part = rest[..end].strip_prefix(b"\r\n")?;
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        rest = &rest[end + delimiter.len()..];
        let split = find(part, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&part[..split]);
        let value = &part[split + 4..];
        let param = |key: &str| {
            let start = head.find(&format!("{key}=\""))? + key.len() + 2;
            Some(head[start..].split('"').next()?.to_owned())
        };
        let name = param("name")?;
        let value = match param("filename") {
            Some(file_name) => json!({"file_name": file_name, "bytes": value.len()}),
            None => {
                let text = String::from_utf8_lossy(value).into_owned();
                serde_json::from_str::<Value>(&text)
                    .ok()
                    .filter(|v| v.is_object() || v.is_array())
                    .unwrap_or(Value::String(text))
            }
        };
        fields.insert(name, value);
    }
    Some(Value::Object(fields))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn commands_key(params: &Value) -> String {
    format!(
        "{}|{}",
        params["scope"],
        params["language_code"].as_str().unwrap_or("")
    )
}

async fn get_updates(shared: &Shared, params: &Value) -> Response {
    let offset = int(&params["offset"]).unwrap_or(0);
    let limit = int(&params["limit"]).unwrap_or(100).clamp(1, 100) as usize;
    let timeout = Duration::from_secs(int(&params["timeout"]).unwrap_or(0).max(0) as u64);
    let seq = {
        let mut st = shared.lock();
        if st.webhook.is_some() {
            return error(409, WEBHOOK_ACTIVE);
        }
        st.confirm(offset);
        st.poll_seq += 1;
        st.poll_seq
    };
    // Wakes an older held poll so it can step aside (Exclusive mode).
    shared.bump();
    let answer = shared
        .wait_for(timeout, |st| {
            if st.poll_mode == PollMode::Exclusive && st.poll_seq != seq {
                return Some(Err(()));
            }
            let batch: Vec<Value> = st
                .updates
                .iter()
                .filter(|u| u["update_id"].as_i64() >= Some(offset))
                .take(limit)
                .cloned()
                .collect();
            (!batch.is_empty()).then_some(Ok(batch))
        })
        .await;
    match answer {
        Some(Ok(batch)) => ok(Value::Array(batch)),
        Some(Err(())) => error(409, TERMINATED),
        None => ok(json!([])),
    }
}

fn send_message(shared: &Shared, params: &Value, killer: &Killer) -> Response {
    let Some(chat_id) = int(&params["chat_id"]) else {
        return bad_request("chat not found");
    };
    // Faults come first so a planned fault is used by the very next send, valid or not.
    if let Some(fault) = shared.lock().fault_for("sendmessage", chat_id) {
        return fault_response(&fault, killer);
    }
    let Some(text) = params["text"].as_str() else {
        return bad_request("message text is empty");
    };
    let parse_mode = params["parse_mode"].as_str().map(str::to_owned);
    let rendered = match render(text, parse_mode.as_deref()) {
        Ok(rendered) => rendered,
        Err(response) => return response,
    };
    let mut st = shared.lock();
    let message_id = st.take_message_id();
    let mut message = json!({
        "message_id": message_id,
        "from": bot_user(),
        "chat": st.chat(chat_id),
        "date": unix_now(),
        "text": rendered,
    });
    let reply_markup = params.get("reply_markup").cloned();
    // Only inline keyboards stay attached to the message.
    if let Some(markup) = reply_markup
        .as_ref()
        .filter(|m| m.get("inline_keyboard").is_some())
    {
        message["reply_markup"] = markup.clone();
    }
    st.messages.insert((chat_id, message_id), message.clone());
    st.sent.push(Sent {
        method: "sendMessage".into(),
        chat_id,
        message_id,
        text: text.to_owned(),
        parse_mode,
        reply_markup,
        body: params.clone(),
        at: Instant::now(),
    });
    drop(st);
    shared.bump();
    ok(message)
}

fn edit_message(shared: &Shared, method: &str, params: &Value, killer: &Killer) -> Response {
    let edits_text = method == "editMessageText";
    let parse_mode = params["parse_mode"].as_str().map(str::to_owned);
    let reply_markup = params.get("reply_markup").cloned();
    let new_text = match params["text"].as_str() {
        Some(text) => Some((text, render(text, parse_mode.as_deref()))),
        None if edits_text => return bad_request("message text is empty"),
        None => None,
    };
    let new_text = match new_text {
        Some((raw, Ok(rendered))) => Some((raw.to_owned(), rendered)),
        Some((_, Err(response))) => return response,
        None => None,
    };
    if params.get("inline_message_id").is_some() {
        // Inline messages live elsewhere: nothing to check, nothing to return but `true`.
        return ok(json!(true));
    }
    let (Some(chat_id), Some(message_id)) = (int(&params["chat_id"]), int(&params["message_id"]))
    else {
        return bad_request("message to edit not found");
    };
    let mut st = shared.lock();
    if let Some(fault) = st.fault_for(&method.to_ascii_lowercase(), chat_id) {
        return fault_response(&fault, killer);
    }
    let Some(old) = st.messages.get(&(chat_id, message_id)).cloned() else {
        return bad_request("message to edit not found");
    };
    let mut message = old.clone();
    if let Some((_, rendered)) = &new_text {
        message["text"] = rendered.clone().into();
    }
    let object = message
        .as_object_mut()
        .expect("stored messages are objects");
    match reply_markup
        .as_ref()
        .filter(|m| m.get("inline_keyboard").is_some())
    {
        Some(markup) => object.insert("reply_markup".into(), markup.clone()),
        // Telegram drops the keyboard when an edit comes without one.
        None => object.remove("reply_markup"),
    };
    if message == old {
        return error(400, NOT_MODIFIED);
    }
    message["edit_date"] = unix_now().into();
    st.messages.insert((chat_id, message_id), message.clone());
    let text = match new_text {
        Some((raw, _)) => raw,
        None => message["text"].as_str().unwrap_or_default().to_owned(),
    };
    st.sent.push(Sent {
        method: method.to_owned(),
        chat_id,
        message_id,
        text,
        parse_mode,
        reply_markup,
        body: params.clone(),
        at: Instant::now(),
    });
    drop(st);
    shared.bump();
    ok(message)
}

/// The text as the user would see it, or Telegram's error for it. Only HTML is checked
/// (tags and entities); other parse modes pass through unchanged.
#[allow(clippy::result_large_err)]
fn render(text: &str, parse_mode: Option<&str>) -> Result<String, Response> {
    let rendered = match parse_mode {
        Some(mode) if mode.eq_ignore_ascii_case("html") => {
            render_html(text).map_err(|e| bad_request(&format!("can't parse entities: {e}")))?
        }
        _ => text.to_owned(),
    };
    if rendered.trim().is_empty() {
        return Err(bad_request("message text is empty"));
    }
    if utf16_len(&rendered) > 4096 {
        return Err(bad_request("message is too long"));
    }
    Ok(rendered)
}

/// Telegram's HTML subset: known tags, properly nested; `&lt; &gt; &amp; &quot;` and numeric
/// entities decoded.
fn render_html(text: &str) -> Result<String, String> {
    const TAGS: &[&str] = &[
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    ];
    let mut out = String::with_capacity(text.len());
    let mut open: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find(['<', '&']) {
        out.push_str(&rest[..pos]);
        let offset = text.len() - rest.len() + pos;
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix('&') {
            match html_entity(after) {
                Some((c, len)) => {
                    out.push(c);
                    rest = &after[len..];
                }
                // Telegram keeps a stray `&` as text.
                None => {
                    out.push('&');
                    rest = after;
                }
            }
            continue;
        }
        let Some(end) = tail.find('>') else {
            return Err(format!("Unclosed start tag at byte offset {offset}"));
        };
        let inner = &tail[1..end];
        if let Some(name) = inner.strip_prefix('/') {
            let name = name.trim().to_ascii_lowercase();
            match open.pop() {
                Some(top) if top == name => {}
                Some(top) => {
                    return Err(format!(
                        "Unmatched end tag at byte offset {offset}, expected \"</{top}>\", found \"</{name}>\""
                    ));
                }
                None => {
                    return Err(format!("Unexpected end tag at byte offset {offset}"));
                }
            }
        } else {
            let name = inner
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if !TAGS.contains(&name.as_str()) {
                return Err(format!(
                    "Unsupported start tag \"{name}\" at byte offset {offset}"
                ));
            }
            open.push(name);
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    match open.pop() {
        Some(top) => Err(format!(
            "Can't find end tag corresponding to start tag \"{top}\""
        )),
        None => Ok(out),
    }
}

/// The entity at the start of `after` (the text following `&`): its character and length
/// including the `;`.
fn html_entity(after: &str) -> Option<(char, usize)> {
    let end = after.find(';').filter(|&end| end <= 10)?;
    let c = match &after[..end] {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        name => {
            let code = name.strip_prefix('#')?;
            let n = match code.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => code.parse().ok()?,
            };
            char::from_u32(n)?
        }
    };
    Some((c, end + 1))
}

// ---------------------------------------------------------------------------------------------
// Connections the handler can cut, for `Fault::Drop`. Axum cannot close a connection from a
// handler, so each accepted stream carries a flag the handler sets through `ConnectInfo`;
// once set, every write fails and hyper drops the connection unanswered.

struct KillableListener(TcpListener);

struct KillableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

#[derive(Clone)]
struct Killer(Arc<AtomicBool>);

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((inner, addr)) => {
                    let _ = inner.set_nodelay(true);
                    let killed = Arc::new(AtomicBool::new(false));
                    return (KillableStream { inner, killed }, addr);
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for Killer {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        Killer(stream.io().killed.clone())
    }
}

impl KillableStream {
    fn killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

fn cut() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "fault: drop connection")
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
