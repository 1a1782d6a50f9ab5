//! The teach loop through the real binary: a resident's question in one console session, an
//! admin teaching it in another, a third answered by it, and `export-phrasings` writing it
//! into a copy of faq/.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

#[path = "common/process.rs"]
mod process;
use process::{minsheng, sqlite_url};

const QUESTION: &str = "单位的车位晚上给居民用吗";

async fn run(db: &str, args: &[&str], faq: &Path, input: &str) -> String {
    let mut child = minsheng(db)
        .args(args)
        .env("ADMIN_IDS", "1")
        .env("FAQ_DIR", faq)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start minsheng");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).await.expect("write");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("minsheng exits")
        .expect("output");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test]
async fn a_question_taught_in_the_console_is_answered_and_exported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(&dir);
    let faq = dir.path().join("faq");
    std::fs::create_dir(&faq).expect("mkdir");
    for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("faq")).expect("faq/") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), faq.join(e.file_name())).expect("copy");
    }
    let console = |user: &'static str| ["console", "--user", user];

    let asked = run(&db, &console("7"), &faq, &format!("{QUESTION}\n")).await;
    assert!(asked.contains("是不是想问"), "{asked}");

    let taught = run(&db, &console("1"), &faq, "/unanswered\n/teach 1 qa3\n").await;
    assert!(taught.contains(&format!("1. 1× {QUESTION}")), "{taught}");
    assert!(taught.contains("已教会"), "{taught}");

    let answered = run(&db, &console("8"), &faq, &format!("{QUESTION}\n")).await;
    assert!(
        answered.starts_with("【什么是“错时共享”停车泊位"),
        "{answered}"
    );

    let exported = run(&db, &["export-phrasings"], &faq, "").await;
    assert!(exported.contains("qa3.questions_zh"), "{exported}");
    assert!(exported.contains("1 phrasing(s) written"), "{exported}");
    let policy = std::fs::read_to_string(faq.join("policy.toml")).expect("read");
    assert!(policy.contains(&format!("  \"{QUESTION}\",")), "exported");
}
