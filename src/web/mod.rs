//! The public progress page and what is published beside it, as an axum [`Router`] over the
//! core: `/` (the twenty tasks, what is behind or not reported first), `/tasks/{n}` (each
//! item with target, reading, last update and an SVG chart), `/api/tasks.json`,
//! `/export.csv` (`?view=audit` for the trail), `/export.xlsx`, `/feed.atom`, `/healthz` and
//! `/metrics`.
//!
//! - Server-rendered HTML through minijinja with auto-escaping: everything from the store is
//!   escaped. No script, no external resources: one stylesheet from this server, and a
//!   Content-Security-Policy that allows nothing else.
//! - Chinese or English from `?lang=` or `Accept-Language`, with a link to the other.
//! - Cached briefly (`Cache-Control`, a strong `ETag` of the body, `304` on a match).
//! - A request never panics: a store error is a 503 page, a missing task a 404.

mod chart;
mod feed;
mod view;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::Environment;
use sha2::{Digest, Sha256};
use tower::ServiceExt as _;

use crate::Lang;
use crate::core::Core;
use crate::knowledge::Knowledge;
use crate::store::StoreError;

/// How long browsers and proxies may reuse a page or export.
const MAX_AGE_SECS: u32 = 60;
/// Days of audit chain heads in the feed.
const FEED_HEADS: usize = 14;
/// Updates in the feed.
const FEED_ENTRIES: u32 = 50;

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const STYLE: &str = include_str!("templates/style.css");

#[derive(Clone)]
struct App {
    core: Arc<Core>,
    env: Arc<Environment<'static>>,
}

/// Why a page could not be made.
#[derive(Debug, thiserror::Error)]
enum PageError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("template: {0}")]
    Template(#[from] minijinja::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self, "serving a page failed");
        let (status, text) = match self {
            PageError::Store(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "暂时无法读取进度数据，请稍后再试。\nProgress data cannot be read right now; please try again shortly.\n",
            ),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "页面出错了。\nSomething went wrong with this page.\n",
            ),
        };
        let mut r = (status, text).into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    // The templates are part of the binary; a broken one fails the tests, not a request.
    for (name, text) in [
        ("base.html", include_str!("templates/base.html")),
        ("index.html", include_str!("templates/index.html")),
        ("task.html", include_str!("templates/task.html")),
        ("not_found.html", include_str!("templates/not_found.html")),
        ("feed.xml", include_str!("templates/feed.xml")),
    ] {
        if let Err(e) = env.add_template(name, text) {
            tracing::error!(template = name, error = %e, "a page template does not parse");
        }
    }
    env
}

/// The page's routes (no fallback: the caller adds one, see [`fallback`]).
pub fn router(core: Arc<Core>) -> Router {
    let app = App {
        core,
        env: Arc::new(templates()),
    };
    Router::new()
        .route("/", get(index))
        .route("/tasks/{n}", get(task))
        .route("/lists/{year}", get(year_index))
        .route("/lists/{year}/tasks/{n}", get(year_task))
        .route("/style.css", get(style))
        .route("/api/tasks.json", get(api))
        .route("/export.csv", get(csv))
        .route("/export.xlsx", get(xlsx))
        .route("/feed.atom", get(feed::feed))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(app)
}

/// The router with a fallback: requests no route took go to `late` once something has been
/// mounted there (the Telegram webhook, which is set up after the listener starts), and are
/// a bilingual 404 page otherwise.
pub fn with_fallback(router: Router, late: Arc<OnceLock<Router>>, core: Arc<Core>) -> Router {
    let env = Arc::new(templates());
    router.fallback(move |req: Request| {
        let late = late.get().cloned();
        let app = App {
            core: core.clone(),
            env: env.clone(),
        };
        async move {
            match late {
                Some(r) => match r.oneshot(req).await {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                },
                None => not_found(&app, req.headers(), None),
            }
        }
    })
}

/// `?lang=en` or `?lang=zh`, else the first of zh/en in `Accept-Language` by quality, else
/// Chinese.
pub fn negotiate(query: Option<&str>, headers: &HeaderMap) -> Lang {
    if let Some(q) = query {
        for pair in q.split('&') {
            if let Some(code) = pair.strip_prefix("lang=")
                && let Some(lang) = Lang::from_code(&code.to_ascii_lowercase())
            {
                return lang;
            }
        }
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut best: Option<(f32, Lang)> = None;
    for part in accept.split(',').take(20) {
        let mut bits = part.split(';');
        let tag = bits.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = bits
            .find_map(|b| {
                b.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
            })
            .unwrap_or(1.0);
        let lang = match tag.split('-').next() {
            Some("zh") => Lang::Zh,
            Some("en") => Lang::En,
            _ => continue,
        };
        if best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, lang));
        }
    }
    best.map_or(Lang::Zh, |(_, l)| l)
}

/// A response with caching headers: a strong ETag of the body (304 when the client has it)
/// and a short max-age; `Vary: Accept-Language` since pages follow it.
fn cached(headers: &HeaderMap, content_type: &'static str, body: Vec<u8>) -> Response {
    let digest = Sha256::digest(&body);
    let etag = format!(
        "\"{}\"",
        digest
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut r = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Response::new(Body::from(body));
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    };
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={MAX_AGE_SECS}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept-Language"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

fn download(mut r: Response, file_name: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

const HTML: &str = "text/html; charset=utf-8";

/// The latest day's audit chain head, for the footer.
async fn head(core: &Core) -> Result<Option<view::Head>, StoreError> {
    Ok(core
        .store()
        .audit_day_heads(1, day_of)
        .await?
        .into_iter()
        .next()
        .map(|(day, _, hash)| view::Head { day, hash }))
}

/// The Chongqing day of a Unix ms time.
fn day_of(ms: i64) -> String {
    use chrono::TimeZone as _;
    crate::progress::model::chongqing()
        .timestamp_millis_opt(ms)
        .single()
        .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string())
}

async fn index(
    State(app): State<App>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let core = app.core.clone();
    list_index(&app, core.knowledge(), "", query, &headers).await
}

/// An earlier (or later) year's list, frozen as the record stands: `/lists/2024`.
async fn year_index(
    State(app): State<App>,
    Path(year): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let core = app.core.clone();
    let Some(kb) = year.parse::<i32>().ok().and_then(|y| core.lists().year(y)) else {
        return Ok(not_found(&app, &headers, query.as_deref()));
    };
    let base = format!("/lists/{}", kb.period.year);
    list_index(&app, kb, &base, query, &headers).await
}

async fn list_index(
    app: &App,
    kb: &Knowledge,
    base: &str,
    query: Option<String>,
    headers: &HeaderMap,
) -> Result<Response, PageError> {
    let lang = negotiate(query.as_deref(), headers);
    let core = &app.core;
    let states = core.store().states(kb.period.year, None).await?;
    let frame = view::frame(kb, lang, base, "/", head(core).await?);
    let page = view::index(kb, &states, core.now(), lang, frame);
    let html = app
        .env
        .get_template("index.html")?
        .render(minijinja::value::Serde(&page))?;
    Ok(cached(headers, HTML, html.into_bytes()))
}

async fn task(
    State(app): State<App>,
    Path(n): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let core = app.core.clone();
    list_task(&app, core.knowledge(), "", &n, query, &headers).await
}

async fn year_task(
    State(app): State<App>,
    Path((year, n)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let core = app.core.clone();
    let Some(kb) = year.parse::<i32>().ok().and_then(|y| core.lists().year(y)) else {
        return Ok(not_found(&app, &headers, query.as_deref()));
    };
    let base = format!("/lists/{}", kb.period.year);
    list_task(&app, kb, &base, &n, query, &headers).await
}

async fn list_task(
    app: &App,
    kb: &Knowledge,
    base: &str,
    n: &str,
    query: Option<String>,
    headers: &HeaderMap,
) -> Result<Response, PageError> {
    let lang = negotiate(query.as_deref(), headers);
    let core = &app.core;
    let Some(task) = n.parse::<u32>().ok().and_then(|n| kb.task(n)) else {
        return Ok(not_found(app, headers, query.as_deref()));
    };
    let year = kb.period.year;
    let states = core.store().states(year, Some(task.number)).await?;
    let history = core.store().history(year, task.number, 1_000).await?;
    let path = format!("/tasks/{}", task.number);
    let frame = view::frame(kb, lang, base, &path, head(core).await?);
    let page = view::task_page(kb, task, &states, &history, core.now(), lang, frame);
    let html = app
        .env
        .get_template("task.html")?
        .render(minijinja::value::Serde(&page))?;
    Ok(cached(headers, HTML, html.into_bytes()))
}

fn not_found(app: &App, headers: &HeaderMap, query: Option<&str>) -> Response {
    let lang = negotiate(query, headers);
    let frame = view::frame(app.core.knowledge(), lang, "", "/", None);
    let ctx = minijinja::context! {
        frame => minijinja::value::Serde(&frame),
        heading => view::tr(lang, "没有这个页面", "No such page"),
        text => view::tr(
            lang,
            "任务编号是 1 到 20。请从全部任务列表进入。",
            "Tasks are numbered 1 to 20; start from the list of all tasks.",
        ),
    };
    let body = app
        .env
        .get_template("not_found.html")
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|_| "Not found".to_string());
    let mut r = (StatusCode::NOT_FOUND, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(HTML));
    r
}

async fn style(headers: HeaderMap) -> Response {
    cached(
        &headers,
        "text/css; charset=utf-8",
        STYLE.as_bytes().to_vec(),
    )
}

async fn api(State(app): State<App>, headers: HeaderMap) -> Result<Response, PageError> {
    let core = &app.core;
    let states = core
        .store()
        .states(core.knowledge().period.year, None)
        .await?;
    let doc = crate::report::api(core.knowledge(), &states, core.now());
    let body = serde_json::to_vec_pretty(&doc)?;
    Ok(cached(&headers, "application/json", body))
}

async fn csv(
    State(app): State<App>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let core = &app.core;
    let audit = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|p| p == "view=audit"));
    let (body, name) = if audit {
        let rows = core.store().audit_trail().await?;
        (
            crate::report::trail_csv(&crate::report::trail(&rows, false)),
            "minsheng-audit.csv",
        )
    } else {
        let states = core
            .store()
            .states(core.knowledge().period.year, None)
            .await?;
        let tasks = crate::report::tasks(core.knowledge(), &states, core.now());
        (crate::report::items_csv(&tasks), "minsheng-metrics.csv")
    };
    Ok(download(
        cached(&headers, "text/csv; charset=utf-8", body.into_bytes()),
        name,
    ))
}

async fn xlsx(State(app): State<App>, headers: HeaderMap) -> Result<Response, PageError> {
    let bytes = app.core.export_xlsx(false).await?;
    Ok(download(
        cached(
            &headers,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            bytes,
        ),
        "minsheng.xlsx",
    ))
}

/// 200 when the store answers, 503 otherwise; never cached.
async fn healthz(State(app): State<App>) -> Response {
    let mut r = match app.core.store().ping().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: the store does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
    };
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn metrics(State(app): State<App>) -> Result<Response, PageError> {
    let outbox = app.core.store().outbox_depths().await?;
    let text = app.core.metrics().render(&outbox, crate::store::now_ms());
    let mut r = text.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_from_query_then_header() {
        let mut h = HeaderMap::new();
        assert_eq!(negotiate(None, &h), Lang::Zh);
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("fr;q=1, en-GB;q=0.8, zh-CN;q=0.5"),
        );
        assert_eq!(negotiate(None, &h), Lang::En);
        assert_eq!(negotiate(Some("x=1&lang=zh"), &h), Lang::Zh);
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("zh-Hant-TW,en;q=0.9"),
        );
        assert_eq!(negotiate(None, &h), Lang::Zh);
        assert_eq!(negotiate(Some("lang=EN"), &h), Lang::En);
    }

    #[test]
    fn every_template_parses() {
        let env = templates();
        for name in [
            "base.html",
            "index.html",
            "task.html",
            "not_found.html",
            "feed.xml",
        ] {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }
}
