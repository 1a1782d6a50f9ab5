//! The progress page in a real browser: the real binary records an update through the console,
//! `minsheng serve` serves the same SQLite store, and headless Chromium (Debian's `chromium`;
//! `.ci/run` installs it) renders the pages. The DOM must show all twenty tasks and the update
//! just made, in Chinese and English, with no console message (the page has no script, and a
//! CSP violation would be one). Screenshots at 375×812 (a phone, in WeChat's browser) and
//! 1280×800 are kept in `target/page-screenshots/`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

#[path = "common/process.rs"]
mod process;
use process::{free_port, minsheng, sqlite_url, wait_listening};

const BROWSER: &str = "chromium";
const NOTE: &str = "西永片区完工";

fn shots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/page-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// Runs Chromium headless with `args` and `url`; returns (stdout, stderr).
async fn chromium(profile: &Path, args: &[String], url: &str) -> (String, String) {
    let mut cmd = tokio::process::Command::new(BROWSER);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    // Chinese unless a page asks for English by `?lang=en`: Accept-Language is followed.
    .arg("--accept-lang=zh-CN,zh")
    .args(args)
    .arg(url)
    .stdin(Stdio::null())
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("chromium finishes within 2 minutes")
        .unwrap_or_else(|e| {
            panic!("`{BROWSER}` could not run ({e}): apt-get install -y chromium fonts-noto-cjk")
        });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed:\n{stderr}");
    (stdout, stderr)
}

/// Console messages and script errors in Chromium's log.
fn console_errors(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.contains("CONSOLE")
                || l.contains("Uncaught")
                || l.contains("Refused to")
                || l.contains("Content Security Policy")
        })
        .collect()
}

/// The DOM's text with the entities a title could hold decoded.
fn decoded(dom: &str) -> String {
    dom.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_a_real_browser() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = sqlite_url(&dir);
    let faq = Path::new(env!("CARGO_MANIFEST_DIR")).join("faq");
    let knowledge = minsheng::knowledge::Knowledge::load_dir(&faq).expect("faq/ loads");

    // An officer's update through the console, on the store the server will read.
    let mut console = minsheng(&db)
        .env("ADMIN_IDS", "1")
        .args(["console", "--user", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("console starts");
    let mut stdin = console.stdin.take().expect("stdin");
    stdin
        .write_all(format!("/update 14 5.5km {NOTE}\n").as_bytes())
        .await
        .expect("write");
    drop(stdin);
    let out = console.wait_with_output().await.expect("console ends");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("已更新"), "{said}");

    let port = free_port();
    let mut server = minsheng(&db)
        .env("HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    wait_listening(port, Duration::from_secs(30)).await;
    let base = format!("http://127.0.0.1:{port}");
    let profile = tempfile::tempdir().expect("browser profile");
    let shots = shots_dir();

    for (lang, path) in [
        ("zh", "/"),
        ("en", "/?lang=en"),
        ("zh", "/tasks/14"),
        ("en", "/tasks/14?lang=en"),
    ] {
        let url = format!("{base}{path}");
        let (dom, log) = chromium(profile.path(), &["--dump-dom".to_string()], &url).await;
        let errors = console_errors(&log);
        assert!(errors.is_empty(), "{url}: console says {errors:#?}");
        let dom = decoded(&dom);
        let html_lang = if lang == "zh" { "zh-Hans" } else { "en" };
        assert!(
            dom.contains(&format!("<html lang=\"{html_lang}\"")),
            "{url}: lang attribute"
        );
        if path.starts_with("/tasks/14") {
            assert!(dom.contains(NOTE), "{url}: the note of the update");
            assert!(dom.contains("5.5"), "{url}: the figure of the update");
            assert!(dom.contains("<svg"), "{url}: the chart");
        } else {
            for task in &knowledge.tasks {
                let title = if lang == "zh" {
                    &task.title.zh
                } else {
                    &task.title.en
                };
                assert!(
                    dom.contains(title.as_str()),
                    "{url}: task {} missing",
                    task.number
                );
            }
            assert!(dom.contains("5.5"), "{url}: task 14's new figure");
        }
    }

    for (name, path, size) in [
        ("home-zh-375x812.png", "/", "375,812"),
        ("home-zh-1280x800.png", "/", "1280,800"),
        ("home-en-375x812.png", "/?lang=en", "375,812"),
        ("task14-zh-375x812.png", "/tasks/14", "375,812"),
        ("task14-en-1280x800.png", "/tasks/14?lang=en", "1280,800"),
    ] {
        let file = shots.join(name);
        let _ = std::fs::remove_file(&file);
        let (_, log) = chromium(
            profile.path(),
            &[
                format!("--screenshot={}", file.display()),
                format!("--window-size={size}"),
            ],
            &format!("{base}{path}"),
        )
        .await;
        let errors = console_errors(&log);
        assert!(errors.is_empty(), "{path}: console says {errors:#?}");
        let bytes = std::fs::read(&file).expect("a screenshot");
        assert!(bytes.starts_with(b"\x89PNG"), "{name} is a PNG");
        assert!(bytes.len() > 5_000, "{name} is not blank");
    }

    let _ = server.start_kill();
    let _ = server.wait().await;
}
