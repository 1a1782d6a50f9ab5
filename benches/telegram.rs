//! The Telegram channel under load: the real `minsheng telegram` binary (release build)
//! against the fake Bot API server on loopback, in this process.
//!
//! Prints medians of: answered messages per second through the whole stack (getUpdates →
//! dispatcher → core → sendMessage), the bot's peak RSS (VmHWM), the time from process start
//! to its first getUpdates on an existing database, and as a baseline the fake server's raw
//! sendMessage round trips per second with plain reqwest.
//!
//! `cargo bench --bench telegram` (`-- --quick` for fewer rounds).

#[path = "../tests/support/bot_api.rs"]
mod bot_api;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bot_api::{BotApi, TestUser};
use serde_json::json;
use tokio::process::{Child, Command};
use tokio::time::Instant;

const MESSAGES: usize = 10_000;
/// Under the bot's 20 messages per minute per user, so nothing is rate-limited.
const PER_USER: usize = 10;
const BASELINE_REQUESTS: usize = 20_000;
const CONCURRENCY: usize = 64;

/// Questions a resident might ask, all answered (unanswered ones are also written to the
/// store, which is a different benchmark).
const QUESTIONS: [&str; 6] = [
    "什么是错时共享停车？",
    "What is staggered-time shared parking?",
    "托位数怎么算？",
    "/status 14",
    "/tasks",
    "老旧供水管网改造完成多少了？",
];

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn spawn(api: &BotApi, db_url: &str, dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_minsheng"))
        .arg("telegram")
        .current_dir(dir)
        .env("TELOXIDE_TOKEN", api.token())
        .env("TELOXIDE_API_URL", api.url().as_str())
        .env("DATABASE_URL", db_url)
        .env("FAQ_DIR", Path::new(env!("CARGO_MANIFEST_DIR")).join("faq"))
        .env("RUST_LOG", "error")
        .env_remove("WEBHOOK_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("run minsheng telegram")
}

async fn terminate(mut child: Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the bot stops on SIGTERM")
        .expect("exit status");
    assert!(status.success(), "{status}");
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Raw sendMessage round trips per second: CONCURRENCY clients in a loop.
async fn baseline(api: &BotApi) -> f64 {
    let client = reqwest::Client::new();
    let url = format!("{}bot{}/sendMessage", api.url(), api.token());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CONCURRENCY {
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..BASELINE_REQUESTS / CONCURRENCY {
                let body = json!({"chat_id": 10_000 + c, "text": format!("round trip {i}")});
                let r = client.post(&url).json(&body).send().await.expect("send");
                assert!(r.status().is_success());
                r.bytes().await.expect("body");
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    (BASELINE_REQUESTS / CONCURRENCY * CONCURRENCY) as f64 / started.elapsed().as_secs_f64()
}

/// Pushes MESSAGES messages from fresh users and times until every one is answered.
async fn answered_per_second(api: &BotApi, first_user: i64) -> f64 {
    let before = api.sent().len();
    let users = MESSAGES / PER_USER;
    let started = Instant::now();
    for i in 0..MESSAGES {
        let user = first_user + (i % users) as i64;
        let who = TestUser::new(user).language_code("zh");
        api.push_text_from(user, &who, QUESTIONS[i % QUESTIONS.len()]);
    }
    api.wait_sent(before + MESSAGES, Duration::from_secs(120))
        .await;
    MESSAGES as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 3 } else { 5 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("temp dir");
        let db_url = format!("sqlite://{}", dir.path().join("bench.db").display());

        let mut raw = Vec::new();
        for _ in 0..rounds {
            let api = BotApi::start().await;
            raw.push(baseline(&api).await);
        }

        // Throughput and memory, one process across the rounds.
        let api = BotApi::start().await;
        let bot = spawn(&api, &db_url, dir.path());
        let pid = bot.id().expect("pid");
        api.wait_calls("getUpdates", 1, Duration::from_secs(30)).await;
        let idle = vm_hwm_kib(pid).unwrap_or(0);
        // Warm up: first connections, SQLite cache, allocator.
        answered_per_second(&api, 1_000_000).await;
        let mut rates = Vec::new();
        for round in 0..rounds {
            rates.push(answered_per_second(&api, 2_000_000 + round as i64 * 10_000).await);
        }
        let hwm = vm_hwm_kib(pid).unwrap_or(0);
        terminate(bot).await;

        // Start-up on the now existing database.
        let mut ready = Vec::new();
        for _ in 0..rounds.max(5) {
            let api = BotApi::start().await;
            let started = Instant::now();
            let bot = spawn(&api, &db_url, dir.path());
            api.wait_calls("getUpdates", 1, Duration::from_secs(30)).await;
            ready.push(started.elapsed().as_secs_f64() * 1000.0);
            terminate(bot).await;
        }

        println!("telegram bench ({rounds} rounds, medians; {MESSAGES} messages per round)");
        println!(
            "  fake server raw sendMessage round trips (reqwest, {CONCURRENCY} concurrent): {:>8.0} /s",
            median(&mut raw)
        );
        println!(
            "  answered messages through minsheng telegram:                    {:>8.0} /s  (target >= 2000)",
            median(&mut rates)
        );
        println!(
            "  peak RSS of the bot (VmHWM):                                    {:>8.1} MB  (target <= 40)",
            hwm as f64 / 1024.0
        );
        println!(
            "  peak RSS of the bot before any message:                         {:>8.1} MB",
            idle as f64 / 1024.0
        );
        println!(
            "  start to first getUpdates, existing database:                   {:>8.0} ms  (target <= 200)",
            median(&mut ready)
        );
        println!(
            "  all rounds: raw {:?} /s, answered {:?} /s, ready {:?} ms",
            raw.iter().map(|r| r.round()).collect::<Vec<_>>(),
            rates.iter().map(|r| r.round()).collect::<Vec<_>>(),
            ready.iter().map(|r| r.round()).collect::<Vec<_>>()
        );
    });
}
