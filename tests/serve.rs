//! `minsheng serve` as deployed: one process, one listener carrying the page, `/healthz`,
//! `/metrics` and the WeChat callback, stopped cleanly by SIGTERM.

use std::process::Stdio;
use std::time::Duration;

#[path = "common/process.rs"]
mod process;
use process::{free_port, minsheng, sqlite_url, wait_listening};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_listener_for_the_page_and_the_wechat_callback() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let port = free_port();
    let mut server = minsheng(&sqlite_url(&dir))
        .env("HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .env("WECHAT_TOKEN", "serve-test-token")
        .env("WECHAT_APPID", "wx-serve-test")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    wait_listening(port, Duration::from_secs(30)).await;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{base}{path}")).send();

    let health = get("/healthz").await.expect("healthz");
    assert_eq!(health.status(), 200);
    let page = get("/tasks/14").await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .expect("body")
            .contains("城市老旧供水管网改造")
    );
    let metrics = get("/metrics")
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    assert!(metrics.contains("# TYPE minsheng_reply_seconds histogram"));

    // WeChat's server verification reaches the callback on the same listener.
    let ts = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs())
    .to_string();
    let sig = minsheng::wechat::protocol::signature("serve-test-token", &ts, "n-serve");
    let echo = get(&format!(
        "/wechat?signature={sig}&timestamp={ts}&nonce=n-serve&echostr=hello-serve"
    ))
    .await
    .expect("verification");
    assert_eq!(echo.status(), 200);
    assert_eq!(echo.text().await.expect("body"), "hello-serve");
    assert_eq!(get("/nowhere").await.expect("404").status(), 404);

    // SIGTERM: the listener stops and the process exits cleanly.
    let pid = server.id().expect("pid");
    // SAFETY: signalling the child this test started.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let status = tokio::time::timeout(Duration::from_secs(20), server.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("status");
    assert!(status.success(), "{status:?}");
}
