//! Replicas that lose nothing: the real `minsheng telegram` binary, as several webhook replicas
//! on one PostgreSQL store or one polling process on SQLite, killed without warning in the
//! middle of a burst, stopped with SIGTERM again and again, and an officer's updates sent to
//! different replicas. The PostgreSQL scenarios run only when `MINSHENG_PG_URL` is set.
//!
//! Every update in a burst is an officer's `/update 14 <value>` with a value used once, so its
//! reply (`→ value / 20`) and its audit row tell exactly how often it was answered and applied.

#[path = "support/bot_api.rs"]
mod bot_api;
#[path = "common/db.rs"]
mod db;
#[path = "common/process.rs"]
mod process;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bot_api::{BotApi, PollMode, TestUser, shown};
use minsheng::store::Store;
use process::Captured;
use serde_json::{Value, json};
use tokio::time::Instant;

const SECRET: &str = "replica-test-secret";
const PUBLIC_URL: &str = "https://bot.example.invalid/telegram";
const WAIT: Duration = Duration::from_secs(10);
/// Long enough for a duplicate (a takeover, a redelivery) to have shown up.
const QUIET: Duration = Duration::from_secs(2);
const ADMIN: i64 = 900;
/// Officers sending a burst, and updates each.
const OFFICERS: i64 = 30;
const PER_OFFICER: usize = 6;

/// One `minsheng telegram` process, its stderr collected for failure messages.
struct Replica {
    name: String,
    /// The webhook listener's port (webhook mode).
    port: u16,
    child: tokio::process::Child,
    log: Captured,
}

impl Replica {
    fn spawn(name: &str, api: &BotApi, db_url: &str, admins: &str, webhook: bool) -> Replica {
        let port = process::free_port();
        let mut cmd = process::minsheng(db_url);
        cmd.arg("telegram")
            .env("TELOXIDE_TOKEN", api.token())
            .env("TELOXIDE_API_URL", api.url().as_str())
            .env("ADMIN_IDS", admins)
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if webhook {
            cmd.env("WEBHOOK_URL", PUBLIC_URL)
                .env("WEBHOOK_LISTEN", format!("127.0.0.1:{port}"))
                .env("WEBHOOK_SECRET", SECRET);
        }
        let mut child = cmd.spawn().expect("run minsheng telegram");
        let log = Captured::start(child.stderr.take().expect("stderr pipe"));
        Replica {
            name: name.to_owned(),
            port,
            child,
            log,
        }
    }

    fn log(&self) -> String {
        format!("--- replica {} ---\n{}\n", self.name, self.log.text())
    }

    async fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL");
        self.child.wait().await.expect("killed");
    }

    /// SIGTERM, then how long it took to exit and with what code.
    async fn terminate(&mut self) -> (Duration, Option<i32>) {
        let pid = self.child.id().expect("pid");
        let t0 = Instant::now();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill -TERM");
        assert!(sent.success());
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(status) => (t0.elapsed(), status.expect("exit status").code()),
            Err(_) => {
                let _ = self.child.start_kill();
                (t0.elapsed(), None)
            }
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A private text message from `user`, as Telegram posts it to a webhook.
fn message(update_id: i64, user: i64, text: &str) -> Value {
    let from = json!({"id": user, "is_bot": false, "first_name": format!("Officer{user}"),
        "language_code": "zh"});
    json!({"update_id": update_id, "message": {
        "message_id": update_id, "date": unix_now(), "text": text, "from": from,
        "chat": {"id": user, "type": "private", "first_name": format!("Officer{user}")},
    }})
}

/// Posts `update` to the first replica (from `first`, in turn) that takes it with a 200, as
/// Telegram redelivers what was not acknowledged; the port that acknowledged it.
async fn deliver(client: &reqwest::Client, ports: &[u16], first: usize, update: &Value) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(30);
    for attempt in 0.. {
        let port = ports[(first + attempt) % ports.len()];
        let sent = client
            .post(format!("http://127.0.0.1:{port}/telegram"))
            .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
            .json(update)
            .send()
            .await;
        if sent.is_ok_and(|r| r.status().as_u16() == 200) {
            return port;
        }
        assert!(
            Instant::now() < deadline,
            "no replica acknowledged {update}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    unreachable!()
}

/// The burst: (officer, value) pairs, each value used once ("0.017" … "1.807").
fn burst() -> Vec<(i64, String)> {
    let mut plan = Vec::new();
    for _ in 0..PER_OFFICER {
        for o in 0..OFFICERS {
            let n = plan.len() + 1;
            plan.push((3001 + o, format!("{}.{:02}7", n / 100, n % 100)));
        }
    }
    plan
}

fn officers() -> String {
    (3001..3001 + OFFICERS)
        .map(|o| o.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// How many replies each update got (by its value), among all messages sent so far.
fn replies(api: &BotApi, plan: &[(i64, String)]) -> BTreeMap<String, usize> {
    let sent = api.sent();
    plan.iter()
        .map(|(officer, value)| {
            let mark = format!("→ {value} / 20");
            let n = sent
                .iter()
                .filter(|s| s.chat_id == *officer && shown(&s.text).contains(&mark))
                .count();
            (value.clone(), n)
        })
        .collect()
}

/// How many audit rows each update left (by officer and value).
async fn applied(store: &Store, plan: &[(i64, String)]) -> BTreeMap<String, usize> {
    let rows: Vec<(String, Option<f64>)> = match store {
        Store::Sqlite(pool) => {
            sqlx::query_as("SELECT actor_user, new_value FROM audit WHERE kind = 'update'")
                .fetch_all(pool)
                .await
        }
        Store::Postgres(pool) => {
            sqlx::query_as("SELECT actor_user, new_value FROM audit WHERE kind = 'update'")
                .fetch_all(pool)
                .await
        }
    }
    .expect("audit rows");
    plan.iter()
        .map(|(officer, value)| {
            let v: f64 = value.parse().expect("a number");
            let n = rows
                .iter()
                .filter(|(who, nv)| *who == officer.to_string() && *nv == Some(v))
                .count();
            (value.clone(), n)
        })
        .collect()
}

/// How long before its death a replica's reply may have gone out unrecorded.
const CRASH_WINDOW: Duration = Duration::from_millis(500);

/// Waits until every update of `plan` was answered, then a little longer for duplicates, and
/// asserts each was applied exactly once and answered once (twice only if its first reply
/// went out in the instant before the replica that sent it was `killed`).
async fn assert_each_once(
    api: &BotApi,
    store: &Store,
    plan: &[(i64, String)],
    killed: Option<Instant>,
    logs: &(dyn Fn() -> String + Sync),
) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let got = replies(api, plan);
        if got.values().all(|n| *n >= 1) {
            break;
        }
        if Instant::now() >= deadline {
            let lost: Vec<&String> = got
                .iter()
                .filter(|(_, n)| **n == 0)
                .map(|(v, _)| v)
                .collect();
            panic!(
                "{} acknowledged updates never answered: {lost:?}\n{}",
                lost.len(),
                logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(QUIET).await;
    let twice: Vec<(String, usize)> = replies(api, plan)
        .into_iter()
        .filter(|(_, n)| *n != 1)
        .collect();
    let effects: Vec<(String, usize)> = applied(store, plan)
        .await
        .into_iter()
        .filter(|(_, n)| *n != 1)
        .collect();
    assert!(
        effects.is_empty(),
        "updates not applied exactly once (value, times): {effects:?}\n{}",
        logs()
    );
    // Telegram cannot tell us whether a send went through, so an update whose reply was
    // accepted by Telegram in the instant before its replica died, before the replica could
    // record it, is answered again by the replica that takes it over. Any other double is a bug.
    let sent = api.sent();
    let outside: Vec<&(String, usize)> = twice
        .iter()
        .filter(|(value, _)| {
            let mark = format!("→ {value} / 20");
            let first = sent.iter().find(|s| shown(&s.text).contains(&mark));
            !first.is_some_and(|s| {
                killed.is_some_and(|k| s.at <= k && k.duration_since(s.at) < CRASH_WINDOW)
            })
        })
        .collect();
    assert!(
        outside.is_empty(),
        "updates answered more than once (value, replies): {twice:?}\n{}",
        logs()
    );
    if !twice.is_empty() {
        eprintln!(
            "note: {} of {} updates answered twice, each sent in the instant before its replica died",
            twice.len(),
            plan.len()
        );
    }
    assert_eq!(
        store.inbox_open("telegram").await.expect("inbox"),
        0,
        "inbox drained"
    );
}

// ---- kill -9 in the middle of a burst ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_replicas_killed_mid_burst_lose_nothing() {
    db::run(db::Backend::Pg, webhook_kill).await;
}

async fn webhook_kill(db: db::Db) {
    let api = BotApi::start().await;
    let admins = officers();
    let mut replicas: Vec<Replica> = ["A", "B", "C"]
        .iter()
        .map(|n| Replica::spawn(n, &api, &db.url, &admins, true))
        .collect();
    api.wait_calls("setWebhook", 3, Duration::from_secs(30))
        .await;
    for r in &replicas {
        process::wait_listening(r.port, Duration::from_secs(30)).await;
    }
    let ports: Arc<Vec<u16>> = Arc::new(replicas.iter().map(|r| r.port).collect());
    let plan = burst();
    let acked = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::new();
    // One sender per officer, each posting its updates in turn to the replicas in turn.
    let mut senders = Vec::new();
    for o in 0..OFFICERS {
        let mine: Vec<(usize, i64, String)> = plan
            .iter()
            .enumerate()
            .filter(|(_, (officer, _))| *officer == 3001 + o)
            .map(|(i, (officer, value))| (i, *officer, value.clone()))
            .collect();
        let (ports, acked, client) = (ports.clone(), acked.clone(), client.clone());
        senders.push(tokio::spawn(async move {
            for (i, officer, value) in mine {
                let update = message(50_000 + i as i64, officer, &format!("/update 14 {value}km"));
                deliver(&client, &ports, i, &update).await;
                acked.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Replica A dies without warning a third of the way through.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.load(Ordering::Relaxed) < plan.len() / 3 {
        assert!(Instant::now() < deadline, "the burst stalled");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let killed = Instant::now();
    replicas[0].kill().await;
    for s in senders {
        s.await.expect("sender");
    }
    let logs = || replicas.iter().map(Replica::log).collect::<String>();
    assert_each_once(&api, &db.store, &plan, Some(killed), &logs).await;
    for r in replicas.iter_mut().skip(1) {
        let (took, code) = r.terminate().await;
        assert_eq!(code, Some(0), "{} took {took:?}\n{}", r.name, r.log());
    }
    db.store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_bot_killed_mid_burst_and_restarted_loses_nothing() {
    db::run(db::Backend::Sqlite, polling_kill).await;
}

async fn polling_kill(db: db::Db) {
    let api = BotApi::start().await;
    let admins = officers();
    let mut first = Replica::spawn("first", &api, &db.url, &admins, false);
    api.wait_calls("getUpdates", 1, Duration::from_secs(30))
        .await;
    let plan = burst();
    for (officer, value) in &plan {
        let who = TestUser::new(*officer).language_code("zh");
        api.push_text_from(*officer, &who, &format!("/update 14 {value}km"));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while replies(&api, &plan).values().filter(|n| **n > 0).count() < plan.len() / 3 {
        assert!(
            Instant::now() < deadline,
            "the burst stalled\n{}",
            first.log()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let killed = Instant::now();
    first.kill().await;
    let mut second = Replica::spawn("second", &api, &db.url, &admins, false);
    let logs = || format!("{}{}", first.log(), second.log());
    assert_each_once(&api, &db.store, &plan, Some(killed), &logs).await;
    let (took, code) = second.terminate().await;
    assert_eq!(code, Some(0), "took {took:?}\n{}", second.log());
}

// ---- order across replicas ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officers_updates_and_undos_keep_their_order_across_replicas() {
    db::run(db::Backend::Pg, order_across_replicas).await;
}

async fn current_14_1(store: &Store) -> Option<f64> {
    store
        .states(2024, Some(14))
        .await
        .expect("states")
        .into_iter()
        .find(|s| s.number == 1)
        .and_then(|s| s.current)
}

async fn order_across_replicas(db: db::Db) {
    let api = BotApi::start().await;
    // One officer per pair and round: the limit of 20 messages a minute holds across replicas.
    let admins = (1..=20)
        .map(|i| (ADMIN + i).to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut a = Replica::spawn("A", &api, &db.url, &admins, true);
    let mut b = Replica::spawn("B", &api, &db.url, &admins, true);
    api.wait_calls("setWebhook", 2, Duration::from_secs(30))
        .await;
    process::wait_listening(a.port, Duration::from_secs(30)).await;
    process::wait_listening(b.port, Duration::from_secs(30)).await;
    let client = reqwest::Client::new();
    let mut next_id = 70_000;
    let mut post = async |port: u16, officer: i64, text: &str| {
        next_id += 1;
        deliver(&client, &[port], 0, &message(next_id, officer, text)).await;
    };
    let logs = |a: &Replica, b: &Replica| format!("{}{}", a.log(), b.log());
    let answered = async |officer: i64, mark: &str, t0: Instant| {
        api.wait_sent_matching(
            |s| s.chat_id == officer && s.at >= t0 && shown(&s.text).contains(mark),
            WAIT,
        )
        .await
    };
    // An update to A and, once A has acknowledged it, the next one to B: B's takes effect last.
    for pair in 1..=8 {
        let (first, second) = (format!("{pair}.1"), format!("{pair}.2"));
        let officer = ADMIN + pair;
        let t0 = Instant::now();
        post(a.port, officer, &format!("/update 14 {first}km")).await;
        post(b.port, officer, &format!("/update 14 {second}km")).await;
        answered(officer, &format!("→ {first} / 20"), t0).await;
        answered(officer, &format!("→ {second} / 20"), t0).await;
        assert_eq!(
            current_14_1(&db.store).await,
            Some(second.parse().expect("number")),
            "pair {pair} ended out of order\n{}",
            logs(&a, &b)
        );
    }
    // An update to A and /undo right after it to B: the undo reverts that update.
    for round in 1..=12 {
        let before = current_14_1(&db.store).await;
        let value = format!("{}.{}3", round / 10 + 9, round % 10);
        let officer = ADMIN + 8 + round;
        let t0 = Instant::now();
        post(a.port, officer, &format!("/update 14 {value}km")).await;
        post(b.port, officer, "/undo").await;
        answered(officer, &format!("→ {value} / 20"), t0).await;
        let undo = answered(officer, "已撤销", t0).await;
        assert!(
            shown(&undo.text).contains(&format!("{value} →")),
            "round {round}: the undo reverted something else: {}\n{}",
            undo.text,
            logs(&a, &b)
        );
        assert_eq!(current_14_1(&db.store).await, before, "round {round}");
    }
    for r in [&mut a, &mut b] {
        let (took, code) = r.terminate().await;
        assert_eq!(code, Some(0), "took {took:?}\n{}", r.log());
    }
    db.store.close().await;
}

// ---- notifications ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replicas_notifications_go_out_from_another_within_15_s() {
    db::run(db::Backend::Pg, outbox_takeover).await;
}

async fn outbox_takeover(db: db::Db) {
    const SUBSCRIBER: i64 = 501;
    let api = BotApi::start().await;
    let admins = ADMIN.to_string();
    let client = reqwest::Client::new();
    let mut a = Replica::spawn("A", &api, &db.url, &admins, true);
    api.wait_calls("setWebhook", 1, Duration::from_secs(30))
        .await;
    process::wait_listening(a.port, Duration::from_secs(30)).await;
    let t0 = Instant::now();
    deliver(
        &client,
        &[a.port],
        0,
        &message(80_001, SUBSCRIBER, "/subscribe all"),
    )
    .await;
    api.wait_sent_matching(|s| s.chat_id == SUBSCRIBER && s.at >= t0, WAIT)
        .await;
    // A takes the notification and is still sending it (Telegram is slow) when it dies.
    api.delay_sends_to(SUBSCRIBER, Some(Duration::from_secs(120)));
    let before = api.requests("sendMessage").len();
    deliver(
        &client,
        &[a.port],
        0,
        &message(80_002, ADMIN, "/update 14 7.5km"),
    )
    .await;
    let deadline = Instant::now() + WAIT;
    while !api.requests("sendMessage")[before..]
        .iter()
        .any(|r| r["chat_id"].as_i64() == Some(SUBSCRIBER))
    {
        assert!(
            Instant::now() < deadline,
            "A never sent the notification\n{}",
            a.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut b = Replica::spawn("B", &api, &db.url, &admins, true);
    api.wait_calls("setWebhook", 2, Duration::from_secs(30))
        .await;
    api.delay_sends_to(SUBSCRIBER, None);
    let killed = Instant::now();
    a.kill().await;
    let notice = api
        .wait_sent_matching(
            |s| s.chat_id == SUBSCRIBER && s.text.contains("🔔"),
            Duration::from_secs(20),
        )
        .await;
    let took = notice.at.saturating_duration_since(killed);
    assert!(
        took <= Duration::from_secs(15),
        "taken over after {took:?}\n{}{}",
        a.log(),
        b.log()
    );
    let (_, code) = b.terminate().await;
    assert_eq!(code, Some(0), "{}", b.log());
    db.store.close().await;
}

// ---- a clean stop, every time ---------------------------------------------------------------------

/// Fifty `minsheng telegram` processes, ten at a time, each sent SIGTERM at a different moment
/// (idle in a long poll, just after starting to poll, while answering): each exits 0 within
/// 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sigterms_all_exit_cleanly_within_ten_seconds() {
    let api = BotApi::start().await;
    // Every poller sees every update, as if each had its own bot.
    api.set_poll_mode(PollMode::Shared);
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = process::sqlite_url(&dir);
    // Created and migrated once, so the processes start quickly.
    Store::connect(&db_url).await.expect("store").close().await;
    let mut slow = Vec::new();
    for wave in 0..5 {
        let mut bots: Vec<Replica> = (0..10)
            .map(|i| Replica::spawn(&format!("{wave}.{i}"), &api, &db_url, "1", false))
            .collect();
        for bot in &bots {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !bot.log.text().contains("Telegram bot started") {
                assert!(Instant::now() < deadline, "did not start\n{}", bot.log());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        if wave % 2 == 1 {
            // Work in hand when the signal comes.
            for chat in 0..20 {
                api.push_text(7_000 + chat, 7_000 + chat, "什么是错时共享停车？");
            }
        }
        let stops = bots.iter_mut().enumerate().map(|(i, bot)| async move {
            tokio::time::sleep(Duration::from_millis((i as u64 * 47) % 400)).await;
            let (took, code) = bot.terminate().await;
            (bot.name.clone(), took, code, bot.log())
        });
        for (name, took, code, log) in futures_join_all(stops).await {
            if code != Some(0) || took > Duration::from_secs(10) {
                slow.push(format!("{name}: exit {code:?} after {took:?}\n{log}"));
            }
        }
    }
    assert!(
        slow.is_empty(),
        "{} of 50 did not stop cleanly in 10 s:\n{}",
        slow.len(),
        slow.join("\n")
    );
}

/// Runs the futures concurrently and returns their outputs in order.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.expect("finished")).collect()
}
