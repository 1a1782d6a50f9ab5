//! Issue 4: "With several replicas on PostgreSQL, a notification is still sent once". Two real
//! `minsheng telegram` processes in webhook mode share one PostgreSQL schema and one fake Bot
//! API server; updates are posted to either replica's webhook listener, as a load balancer
//! would. Runs only when `MINSHENG_PG_URL` is set (otherwise it notes the skip and passes).

#[path = "support/bot_api.rs"]
mod bot_api;
#[path = "common/db.rs"]
mod db;
#[path = "common/process.rs"]
mod process;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bot_api::{BotApi, Sent, shown};
use process::Captured;
use serde_json::{Value, json};
use tokio::time::Instant;

const ADMIN: i64 = 900;
const ZH_SUB: i64 = 501;
const EN_SUB: i64 = 502;
const SECRET: &str = "replica-test-secret";
/// The public URL every replica registers (the load balancer's); each listens on its own port.
const PUBLIC_URL: &str = "https://bot.example.invalid/telegram";
const WAIT: Duration = Duration::from_secs(10);
/// Long enough for a duplicate (another replica's lease, a retry) to have shown up.
const QUIET: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_notify_once() {
    db::run(db::Backend::Pg, scenario).await;
}

/// One `minsheng telegram` process in webhook mode, its stderr collected for failure messages.
struct Replica {
    name: &'static str,
    port: u16,
    child: tokio::process::Child,
    log: Captured,
}

impl Replica {
    fn spawn(name: &'static str, api: &BotApi, db_url: &str) -> Replica {
        let port = process::free_port();
        let mut cmd = process::minsheng(db_url);
        cmd.arg("telegram")
            .env("TELOXIDE_TOKEN", api.token())
            .env("TELOXIDE_API_URL", api.url().as_str())
            .env("WEBHOOK_URL", PUBLIC_URL)
            .env("WEBHOOK_LISTEN", format!("127.0.0.1:{port}"))
            .env("WEBHOOK_SECRET", SECRET)
            .env("ADMIN_IDS", ADMIN.to_string())
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("run minsheng telegram");
        let log = Captured::start(child.stderr.take().expect("stderr pipe"));
        Replica {
            name,
            port,
            child,
            log,
        }
    }

    fn log(&self) -> String {
        self.log.text()
    }

    fn assert_alive(&mut self) {
        let status = self.child.try_wait().expect("query the replica");
        assert!(
            status.is_none(),
            "replica {} exited ({status:?}):\n{}",
            self.name,
            self.log()
        );
    }

    /// Posts `update` to this replica's webhook listener, as Telegram (or a load balancer)
    /// would; retries while the listener is still starting.
    async fn post(&self, client: &reqwest::Client, update: &Value) {
        let url = format!("http://127.0.0.1:{}/telegram", self.port);
        let deadline = Instant::now() + WAIT;
        loop {
            match client
                .post(&url)
                .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
                .json(update)
                .send()
                .await
            {
                Ok(r) => {
                    assert_eq!(
                        r.status().as_u16(),
                        200,
                        "replica {} refused an update:\n{}",
                        self.name,
                        self.log()
                    );
                    return;
                }
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "replica {}'s webhook is not listening: {e}\n{}",
                        self.name,
                        self.log()
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

/// A private-chat text message from `user` with a fresh update id (ids are the webhook dedup
/// key, shared by the replicas through the store).
fn message(user: i64, lang: &str, text: &str) -> Value {
    static NEXT: AtomicI64 = AtomicI64::new(10_000);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let date = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let from = json!({"id": user, "is_bot": false, "first_name": format!("User{user}"),
        "language_code": lang});
    json!({"update_id": id, "message": {
        "message_id": id, "date": date, "text": text, "from": from,
        "chat": {"id": user, "type": "private", "first_name": format!("User{user}")},
    }})
}

/// Posts `update` to `replica` and waits for the bot's first reply to `chat` after it.
async fn ask(
    api: &BotApi,
    client: &reqwest::Client,
    replica: &Replica,
    chat: i64,
    update: &Value,
) -> Sent {
    let t0 = Instant::now();
    replica.post(client, update).await;
    api.wait_sent_matching(
        |s| s.chat_id == chat && s.at >= t0 && !s.text.contains("🔔"),
        WAIT,
    )
    .await
}

/// Notifications (🔔) sent to `chat` so far.
fn notifications(api: &BotApi, chat: i64) -> Vec<Sent> {
    api.sent()
        .into_iter()
        .filter(|s| s.chat_id == chat && s.text.contains("🔔"))
        .collect()
}

/// The kilometres a notification reports: the number before " / 20" (both languages).
fn km(html: &str) -> Option<String> {
    let text = shown(html);
    let head = &text[..text.find(" / 20")?];
    head.split_whitespace().last().map(str::to_owned)
}

/// Asserts `chat` got exactly one notification for each of 1..=`last` km, and nothing else.
fn assert_once_each(api: &BotApi, chat: i64, last: u32, replicas: &[&Replica]) {
    let sent = notifications(api, chat);
    let mut by_km: BTreeMap<String, usize> = BTreeMap::new();
    for s in &sent {
        let k = km(&s.text).unwrap_or_else(|| panic!("no kilometres in {:?}", s.text));
        *by_km.entry(k).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = (1..=last).map(|k| (k.to_string(), 1)).collect();
    if by_km != expected {
        let logs: String = replicas
            .iter()
            .map(|r| format!("--- replica {} ---\n{}\n", r.name, r.log()))
            .collect();
        let texts: Vec<&str> = sent.iter().map(|s| s.text.as_str()).collect();
        panic!(
            "chat {chat}: expected one notification per update 1..={last} km, got counts \
             {by_km:?}\ntexts: {texts:#?}\n{logs}"
        );
    }
    // And in the order the updates were made, whichever replica sent each.
    let order: Vec<u32> = sent
        .iter()
        .filter_map(|s| km(&s.text)?.parse().ok())
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "chat {chat}: notifications out of order: {order:?}"
    );
}

async fn wait_for_notifications(api: &BotApi, n: usize, replicas: &[&Replica]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (zh, en) = (
            notifications(api, ZH_SUB).len(),
            notifications(api, EN_SUB).len(),
        );
        if zh >= n && en >= n {
            return;
        }
        if Instant::now() >= deadline {
            let logs: String = replicas
                .iter()
                .map(|r| format!("--- replica {} ---\n{}\n", r.name, r.log()))
                .collect();
            panic!("expected {n} notifications per subscriber, got {zh} and {en}\n{logs}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn update(
    api: &BotApi,
    client: &reqwest::Client,
    replica: &Replica,
    k: u32,
) -> (Value, Sent) {
    let upd = message(ADMIN, "zh", &format!("/update 14 {k}km"));
    let reply = ask(api, client, replica, ADMIN, &upd).await;
    assert!(
        shown(&reply.text).contains(&format!("{k} / 20")),
        "update {k} via replica {}: {}",
        replica.name,
        reply.text
    );
    (upd, reply)
}

async fn scenario(db: db::Db) {
    let api = BotApi::start().await;
    let client = reqwest::Client::new();
    let mut a = Replica::spawn("A", &api, &db.url);
    let mut b = Replica::spawn("B", &api, &db.url);
    // Both registered the same webhook (idempotent) and are serving.
    api.wait_calls("setWebhook", 2, WAIT).await;
    let deadline = Instant::now() + WAIT;
    while api.webhook().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(api.webhook().as_deref(), Some(PUBLIC_URL));

    let sub = ask(
        &api,
        &client,
        &a,
        ZH_SUB,
        &message(ZH_SUB, "zh-hans", "/subscribe all"),
    )
    .await;
    assert!(sub.text.contains("订阅"), "{}", sub.text);
    let sub = ask(
        &api,
        &client,
        &b,
        EN_SUB,
        &message(EN_SUB, "en", "/subscribe all"),
    )
    .await;
    assert!(sub.text.contains("ubscribed"), "{}", sub.text);

    // Ten updates, alternating replicas; each answered before the next is posted.
    let mut last = None;
    for k in 1..=10 {
        let via = if k % 2 == 1 { &a } else { &b };
        last = Some(update(&api, &client, via, k).await);
    }
    // Telegram redelivers the last one to the other replica: handled once across replicas.
    let (redelivered, _) = last.expect("ten updates");
    a.post(&client, &redelivered).await;

    wait_for_notifications(&api, 10, &[&a, &b]).await;
    tokio::time::sleep(QUIET).await;
    assert_once_each(&api, ZH_SUB, 10, &[&a, &b]);
    assert_once_each(&api, EN_SUB, 10, &[&a, &b]);
    let replies = api.sent().iter().filter(|s| s.chat_id == ADMIN).count();
    assert_eq!(replies, 10, "the redelivered update was answered again");
    assert_eq!(
        db.store
            .outbox_len("telegram")
            .await
            .expect("outbox length"),
        0,
        "outbox drained"
    );
    // Both notifiers were running the whole time.
    a.assert_alive();
    b.assert_alive();

    // Replica A dies without warning (its outbox leases, if any, are all completed).
    a.child.start_kill().expect("SIGKILL replica A");
    a.child.wait().await.expect("replica A killed");
    for k in 11..=13 {
        update(&api, &client, &b, k).await;
    }
    wait_for_notifications(&api, 13, &[&b]).await;
    tokio::time::sleep(QUIET).await;
    assert_once_each(&api, ZH_SUB, 13, &[&a, &b]);
    assert_once_each(&api, EN_SUB, 13, &[&a, &b]);
    b.assert_alive();

    // B stops cleanly on SIGTERM, releasing its connections before the schema is dropped.
    let pid = b.child.id().expect("replica B's pid");
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let status = tokio::time::timeout(WAIT, b.child.wait())
        .await
        .expect("replica B stops on SIGTERM")
        .expect("exit status");
    assert_eq!(status.code(), Some(0), "replica B:\n{}", b.log());
    let log = format!("{}{}", a.log(), b.log());
    assert!(!log.contains("TEST-TOKEN"), "token in the log:\n{log}");
    db.store.close().await;
}
