//! The progress page and what is published beside it, through the real router over a real
//! core and SQLite store: the pages (escaping, languages, caching, 404), the JSON API, the CSV
//! and xlsx exports read back, the Atom feed parsed, `/healthz`, `/metrics`, and the bot's
//! links and `/export`.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{TimeZone, Utc};
use minsheng::core::{Admins, Core, Input, Message, Reply, Sender};
use minsheng::knowledge::Knowledge;
use minsheng::store::Store;
use tower::ServiceExt as _;

struct Site {
    core: Arc<Core>,
    router: axum::Router,
    _dir: tempfile::TempDir,
}

async fn site() -> Site {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("minsheng.db").display());
    let store = Store::connect(&url).await.expect("store");
    let knowledge =
        Knowledge::load_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("faq").as_path())
            .expect("faq/ loads");
    let admins = Admins::parse("1,wechat:oAdmin").expect("admins");
    // Mid-July 2024: half the list's year has passed.
    let now = Utc
        .with_ymd_and_hms(2024, 7, 2, 4, 0, 0)
        .single()
        .expect("date");
    let core = Core::start(Arc::new(knowledge), store, admins)
        .await
        .expect("core")
        .with_clock(Arc::new(move || now))
        .with_public_url(Some("https://ms.example.cn/".into()));
    let core = Arc::new(core);
    let router = minsheng::web::with_fallback(
        minsheng::web::router(core.clone()),
        Arc::new(std::sync::OnceLock::new()),
        core.clone(),
    );
    Site {
        core,
        router,
        _dir: dir,
    }
}

fn sender(channel: &'static str, id: &str) -> Sender {
    Sender {
        channel,
        user_id: id.into(),
        name: "住建局".into(),
        lang: None,
    }
}

async fn say(core: &Core, from: Sender, text: &str) -> Vec<Reply> {
    core.handle(&Message {
        chat_id: from.user_id.clone(),
        sender: from,
        input: Input::Text(text.into()),
    })
    .await
}

struct Got {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8")
    }
}

async fn get(router: &axum::Router, uri: &str, headers: &[(&str, &str)]) -> Got {
    let mut req = Request::builder().uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = router
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body")
        .to_vec();
    Got {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn pages_show_every_task_escape_the_store_and_cache() {
    let s = site().await;
    let admin = sender("console", "1");
    // 5.5 of 20 km at mid-year: behind.
    let reply = say(
        &s.core,
        admin.clone(),
        "/update 14 5.5km 西永<script>x</script>",
    )
    .await;
    assert!(reply[0].text.contains("已更新"), "{:?}", reply[0].text);

    let home = get(&s.router, "/", &[]).await;
    assert_eq!(home.status, StatusCode::OK);
    let html = home.text();
    assert!(html.contains("<html lang=\"zh-Hans\">"));
    for task in &s.core.knowledge().tasks {
        assert!(
            html.contains(&task.title.zh),
            "task {} missing",
            task.number
        );
    }
    // Behind and not reported come before on track and done.
    let behind = html.find("id=\"behind\"").expect("a behind group");
    let not_reported = html
        .find("id=\"not-reported\"")
        .expect("a not-reported group");
    assert!(behind < not_reported);
    assert!(html.contains("5.5"), "task 14's figure on the list");
    assert!(!html.contains("<script"), "no script at all");

    let task = get(&s.router, "/tasks/14", &[]).await.text();
    assert!(task.contains("&lt;script&gt;"), "the note is escaped");
    assert!(!task.contains("<script>x"));
    assert!(task.contains("<svg"), "a chart");
    assert!(task.contains("20公里"), "the target");
    assert!(task.contains("截至 2024-07-02"));

    // English by the switch and by Accept-Language.
    let en = get(&s.router, "/tasks/14?lang=en", &[]).await.text();
    assert!(en.contains("<html lang=\"en\">"));
    assert!(en.contains("Renovation of old urban water supply pipes"));
    let en = get(&s.router, "/", &[("accept-language", "en-US,en;q=0.9")]).await;
    assert!(
        en.text()
            .contains("Renovation of old urban water supply pipes")
    );

    // Caching: a strong ETag, 304 when the client has it.
    let etag = home.headers[header::ETAG]
        .to_str()
        .expect("etag")
        .to_string();
    assert!(
        home.headers[header::CACHE_CONTROL]
            .to_str()
            .expect("cache-control")
            .contains("max-age")
    );
    let again = get(&s.router, "/", &[("if-none-match", etag.as_str())]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());

    // The stylesheet is ours; nothing else is loaded.
    let css = get(&s.router, "/style.css", &[]).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external resource"
    );

    for missing in ["/tasks/99", "/tasks/abc", "/nothing"] {
        let got = get(&s.router, missing, &[]).await;
        assert_eq!(got.status, StatusCode::NOT_FOUND, "{missing}");
        assert!(got.text().contains("没有这个页面"));
    }
}

#[tokio::test]
async fn json_csv_and_xlsx_carry_every_metric_and_the_trail() {
    let s = site().await;
    let admin = sender("console", "1");
    say(&s.core, admin.clone(), "/grant telegram:55 14 住建局").await;
    say(&s.core, admin.clone(), "/update 14 12.5km 西永,\"片区\"").await;
    let items: usize = s
        .core
        .knowledge()
        .tasks
        .iter()
        .map(|t| t.metrics.len() + t.milestones.len())
        .sum();

    let json = get(&s.router, "/api/tasks.json", &[]).await;
    assert_eq!(json.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&json.body).expect("JSON");
    let tasks = v["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 20);
    let t14 = &tasks[13];
    assert_eq!(t14["number"], 14);
    assert_eq!(t14["items"][0]["value"], 12.5);
    assert_eq!(t14["items"][0]["target"], 20.0);
    assert_eq!(t14["items"][0]["comparator"], "exactly");
    assert_eq!(t14["items"][0]["updated_by"], "住建局");

    let csv = get(&s.router, "/export.csv", &[]).await;
    let text = csv.text();
    assert!(text.starts_with('\u{feff}'), "a BOM for Excel");
    let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), items + 1, "a header and a row per item");
    assert!(
        lines.iter().any(|l| l.starts_with("14,")
            && l.contains(",12.5,")
            && l.contains("\"西永,\"\"片区\"\"\"")),
        "task 14's row, the note quoted"
    );
    let audit = get(&s.router, "/export.csv?view=audit", &[]).await.text();
    assert!(audit.contains(",update,14,"));
    assert!(audit.contains(",grant,"));
    assert!(
        !audit.contains("telegram:55"),
        "the public trail holds no ids"
    );

    let xlsx = get(&s.router, "/export.xlsx", &[]).await;
    assert_eq!(xlsx.status, StatusCode::OK);
    let (metrics, trail) = read_xlsx(&xlsx.body);
    assert_eq!(metrics.len(), items + 1);
    assert!(
        metrics
            .iter()
            .any(|r| r.first().map(String::as_str) == Some("14") && r.iter().any(|c| c == "12.5"))
    );
    assert!(trail.iter().any(|r| r.iter().any(|c| c == "update")));
    assert!(!trail.iter().flatten().any(|c| c.contains("telegram:55")));

    // An admin's /export in chat has everything, ids included; others are refused.
    let replies = say(&s.core, admin, "/export").await;
    let doc = replies[0].document.as_ref().expect("a document");
    assert!(doc.file_name.ends_with(".xlsx"));
    let (_, full) = read_xlsx(&doc.bytes);
    assert!(full.iter().flatten().any(|c| c.contains("telegram:55")));
    let resident = say(&s.core, sender("telegram", "77"), "/export").await;
    assert!(resident[0].document.is_none());
    let wechat = say(&s.core, sender("wechat", "oAdmin"), "/export").await;
    assert!(wechat[0].document.is_none());
    assert!(wechat[0].text.contains("https://ms.example.cn/export.xlsx"));
}

/// The Metrics and Audit sheets, as strings.
fn read_xlsx(bytes: &[u8]) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    use calamine::{Reader, Xlsx};
    let mut wb: Xlsx<_> =
        Xlsx::new(std::io::Cursor::new(bytes.to_vec())).expect("an xlsx workbook");
    assert_eq!(wb.sheet_names(), vec!["Tasks", "Metrics", "Audit"]);
    let mut sheet = |name: &str| -> Vec<Vec<String>> {
        let range = wb.worksheet_range(name).expect("sheet");
        range
            .rows()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect()
    };
    (sheet("Metrics"), sheet("Audit"))
}

#[tokio::test]
async fn the_feed_is_well_formed_atom_with_updates_and_chain_heads() {
    use quick_xml::events::Event;
    let s = site().await;
    say(
        &s.core,
        sender("console", "1"),
        "/update 14 12.5km 西永&<片区>",
    )
    .await;
    let feed = get(&s.router, "/feed.atom", &[]).await;
    assert_eq!(feed.status, StatusCode::OK);
    assert!(
        feed.headers[header::CONTENT_TYPE]
            .to_str()
            .expect("type")
            .starts_with("application/atom+xml")
    );
    let xml = feed.text();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut entries, mut titles, mut in_title, mut root) = (0, Vec::new(), false, None);
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if root.is_none() {
                    root = Some(name.clone());
                }
                entries += usize::from(name == "entry");
                in_title = name == "title";
            }
            Event::Text(t) if in_title => {
                titles.push(t.decode().expect("text").into_owned());
            }
            Event::GeneralRef(_) => {}
            Event::End(_) => in_title = false,
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(root.as_deref(), Some("feed"));
    assert_eq!(entries, 2, "the update and today's chain head:\n{xml}");
    assert!(titles.iter().any(|t| t.contains("第14项")), "{titles:?}");
    assert!(xml.contains("xmlns=\"http://www.w3.org/2005/Atom\""));
    assert!(xml.contains("&amp;&lt;片区&gt;"), "the note escaped");
    // minijinja escapes `/` too (`&#x2f;`), which XML reads back as `/`.
    assert!(
        xml.replace("&#x2f;", "/")
            .contains("https://ms.example.cn/feed.atom"),
        "links under PUBLIC_URL"
    );
    let en = get(&s.router, "/feed.atom?lang=en", &[]).await.text();
    assert!(en.contains("Task 14"));
}

#[tokio::test]
async fn health_metrics_and_status_links() {
    let s = site().await;
    let health = get(&s.router, "/healthz", &[]).await;
    assert_eq!(health.status, StatusCode::OK);
    say(&s.core, sender("telegram", "7"), "/subscribe all").await;
    say(&s.core, sender("console", "1"), "/update 14 12.5km").await;
    say(&s.core, sender("telegram", "7"), "什么是错时共享停车").await;
    let status = say(&s.core, sender("telegram", "7"), "/status 14").await;
    assert!(
        status[0].text.contains("https://ms.example.cn/tasks/14"),
        "{}",
        status[0].text
    );
    let metrics = get(&s.router, "/metrics", &[]).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = metrics.text();
    for line in [
        "minsheng_messages_total{channel=\"telegram\",outcome=\"ok\"} 3",
        "minsheng_messages_total{channel=\"console\",outcome=\"ok\"} 1",
        "minsheng_questions_total{decision=\"answer\"} 1",
        "minsheng_updates_total 1",
        "minsheng_outbox_depth{channel=\"telegram\"} 1",
        "minsheng_reply_seconds_count 4",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert!(text.contains("minsheng_outbox_oldest_seconds{channel=\"telegram\"}"));

    // A store that no longer answers: /healthz says so.
    s.core.store().close().await;
    let health = get(&s.router, "/healthz", &[]).await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
}
