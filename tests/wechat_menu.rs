//! `minsheng wechat-menu` through the real binary against a WeChat API server this test runs
//! on loopback: the menu of `faq/wechat_menu.toml` is published with an access token fetched
//! once and shared through the store, refreshed once when WeChat calls it stale, and WeChat's
//! refusals are shown without the secret.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use serde_json::{Value, json};

#[path = "common/process.rs"]
mod process;
use process::{minsheng, sqlite_url};

const APPID: &str = "wx5823bf96d3bd56c7";
const SECRET: &str = "s3cr3t-app-secret-0123456789";

#[derive(Default)]
struct Fake {
    tokens_issued: u32,
    /// Answers the next menu/create with this errcode instead of 0.
    next_errcode: Option<i64>,
    /// The token endpoint refuses with this errcode.
    refuse_token: Option<i64>,
    menus: Vec<(String, Value)>,
}

type Shared = Arc<Mutex<Fake>>;

async fn token(
    State(s): State<Shared>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Json<Value> {
    let mut f = s.lock().expect("fake");
    if let Some(code) = f.refuse_token {
        return Json(json!({"errcode": code, "errmsg": "invalid appsecret"}));
    }
    assert_eq!(q.get("appid").map(String::as_str), Some(APPID));
    assert_eq!(q.get("secret").map(String::as_str), Some(SECRET));
    f.tokens_issued += 1;
    Json(json!({"access_token": format!("TOKEN{}", f.tokens_issued), "expires_in": 7200}))
}

async fn create(
    State(s): State<Shared>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let mut f = s.lock().expect("fake");
    let token = q.get("access_token").cloned().unwrap_or_default();
    if let Some(code) = f.next_errcode.take() {
        return Json(json!({"errcode": code, "errmsg": "access_token is invalid"}));
    }
    f.menus.push((token, body));
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

async fn serve() -> (String, Shared) {
    let shared: Shared = Arc::default();
    let app = Router::new()
        .route("/cgi-bin/token", get(token))
        .route("/cgi-bin/menu/create", post(create))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), shared)
}

async fn publish(db: &str, api: &str) -> (bool, String, String) {
    let out = minsheng(db)
        .arg("wechat-menu")
        .env("WECHAT_APPID", APPID)
        .env("WECHAT_APPSECRET", SECRET)
        .env("WECHAT_API_URL", api)
        .output()
        .await
        .expect("run");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_menu_is_published_with_a_shared_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(&dir);
    let (api, fake) = serve().await;

    let (ok, out, err) = publish(&db, &api).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("WeChat menu published: 7 items"), "{out}");
    {
        let f = fake.lock().expect("fake");
        assert_eq!(f.tokens_issued, 1);
        let (token, menu) = &f.menus[0];
        assert_eq!(token, "TOKEN1");
        let buttons = menu["button"].as_array().expect("buttons");
        assert_eq!(buttons.len(), 3);
        assert_eq!(
            buttons[0],
            json!({"type": "click", "name": "任务进度", "key": "TASKS"})
        );
        assert_eq!(buttons[1]["sub_button"][0]["key"], "STATUS_14");
        assert_eq!(buttons[2]["sub_button"].as_array().map(Vec::len), Some(2));
    }
    // A second run (another replica) uses the stored token: none is fetched.
    let (ok, out, err) = publish(&db, &api).await;
    assert!(ok, "{out}{err}");
    assert_eq!(fake.lock().expect("fake").tokens_issued, 1);
    assert_eq!(fake.lock().expect("fake").menus[1].0, "TOKEN1");

    // WeChat calls the token stale (40001): a new one is fetched once and the menu goes out.
    fake.lock().expect("fake").next_errcode = Some(40001);
    let (ok, out, err) = publish(&db, &api).await;
    assert!(ok, "{out}{err}");
    let f = fake.lock().expect("fake");
    assert_eq!(f.tokens_issued, 2);
    assert_eq!(f.menus.last().map(|m| m.0.as_str()), Some("TOKEN2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_shown_without_the_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(&dir);
    let (api, fake) = serve().await;
    fake.lock().expect("fake").refuse_token = Some(40125);
    let (ok, out, err) = publish(&db, &api).await;
    assert!(!ok, "{out}");
    assert!(err.contains("errcode 40125"), "{err}");
    assert!(
        err.contains("WECHAT_APPSECRET is wrong"),
        "explained: {err}"
    );
    assert!(!err.contains(SECRET) && !out.contains(SECRET), "{err}");
    // Nothing listening: a clear error, still without the secret.
    let (ok, _, err) = publish(&db, "http://127.0.0.1:1").await;
    assert!(!ok);
    assert!(err.contains("could not be reached"), "{err}");
    assert!(!err.contains(SECRET), "{err}");
}
