//! The console channel through the real binary: piped sessions, and durability of an
//! acknowledged update across `kill -9`.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[path = "common/process.rs"]
mod process;
use process::{minsheng, sqlite_url};

/// Runs `minsheng console` with `input` piped in; returns stdout.
async fn session(db: &str, user: &str, input: &str) -> String {
    session_bytes(db, user, input.as_bytes()).await
}

/// [`session`] with any bytes as input, UTF-8 or not.
async fn session_bytes(db: &str, user: &str, input: &[u8]) -> String {
    let mut child = minsheng(db)
        .args(["console", "--user", user, "--name", "李四"])
        .env("ADMIN_IDS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the console");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).await.expect("write");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the console exits at EOF")
        .expect("output");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test]
async fn piped_session_answers_line_by_line_and_exits_at_eof() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(&dir);
    let out = session(
        &db,
        "1",
        "什么是错时共享停车？\n/update 14 12.5km 西永片区完工\n/status 14\nwhat is staggered-time shared parking?\n",
    )
    .await;
    // One block per line, in order.
    assert!(out.starts_with("【什么是“错时共享”停车泊位"), "{out}");
    assert!(out.contains("✅ 已更新"), "{out}");
    assert!(out.contains("12.5 / 20公里"), "{out}");
    assert!(out.contains("更新 · 李四"), "{out}");
    assert!(out.contains("staggered"), "{out}");
    let order = [
        "【什么是",
        "✅ 已更新",
        "第14项 城市老旧供水管网改造",
        "staggered",
    ]
    .map(|needle| out.find(needle).unwrap_or(usize::MAX));
    assert!(order.windows(2).all(|w| w[0] < w[1]), "out of order: {out}");
    // Not an admin: refused, in a second session on the same file.
    let out = session(&db, "2", "/update 14 1km\n/status 14\n").await;
    assert!(out.contains("只有经授权的工作人员"), "{out}");
    assert!(out.contains("12.5 / 20公里"), "{out}");
}

#[tokio::test]
async fn a_line_that_is_not_utf8_is_answered_and_the_rest_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut input = b"/update 14 12.5km\n".to_vec();
    input.extend_from_slice(b"\xff\xfe caf\xe9 latin-1\n");
    input.extend_from_slice("/status 14\n".as_bytes());
    let out = session_bytes(&sqlite_url(&dir), "1", &input).await;
    assert!(out.contains("这一行不是 UTF-8 文本"), "{out}");
    assert!(
        out.contains("12.5 / 20公里"),
        "the next line was answered: {out}"
    );
}

/// Whatever an old store holds, the console prints escape sequences as visible text, never
/// raw: a note written before notes were cleaned cannot repaint the officer's terminal.
#[tokio::test]
async fn stored_escape_sequences_are_not_sent_to_the_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(&dir);
    session(&db, "1", "/update 14 12.5km 完工\n").await;
    let store = minsheng::store::Store::connect(&db).await.expect("open");
    let minsheng::store::Store::Sqlite(pool) = &store else {
        panic!("SQLite")
    };
    sqlx::query("UPDATE metrics SET note = $1 WHERE task = 14 AND number = 1")
        .bind("完工\u{1b}[2J\u{7}\u{202e}")
        .execute(pool)
        .await
        .expect("plant a raw note");
    store.close().await;
    let out = session(&db, "2", "/status 14\n").await;
    assert!(out.contains("完工\\u{1b}[2J\\u{7}\\u{202e}"), "{out}");
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
}

#[tokio::test]
async fn suggestions_are_picked_by_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = session(&sqlite_url(&dir), "1", "/update 19 3.2km\n1\n/status 19\n").await;
    assert!(out.contains("[1] 19.7"), "{out}");
    assert!(
        out.contains("19.7 生态缓冲带构建全长：— → 3.2 / ≈ 12.4公里"),
        "{out}"
    );
}

#[tokio::test]
async fn an_acknowledged_update_survives_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(&dir);
    let mut child = minsheng(&db)
        .args(["console", "--user", "1"])
        .env("ADMIN_IDS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the console");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    stdin
        .write_all("/update 14 12.5km 西永片区完工\n".as_bytes())
        .await
        .expect("write");
    stdin.flush().await.expect("flush");
    // Wait for the acknowledgement, then kill without any chance to clean up.
    let acknowledged = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if line.contains("✅") {
                return true;
            }
        }
        false
    })
    .await
    .expect("an acknowledgement within a minute");
    assert!(acknowledged);
    child.start_kill().expect("SIGKILL");
    let status = child.wait().await.expect("wait");
    assert!(!status.success(), "killed, not exited: {status:?}");

    let out = session(&db, "2", "/status 14\n/history 14\n").await;
    assert!(out.contains("12.5 / 20公里"), "{out}");
    assert!(out.contains("西永片区完工"), "{out}");
    // A resident sees who by name, never by id; an officer sees the id too.
    assert!(
        out.contains("更新 · console user") && !out.contains("console:1"),
        "{out}"
    );
    let out = session(&db, "1", "/history 14\n").await;
    assert!(out.contains("console user (console:1)"), "{out}");
}
