//! Several years' lists in one store: the 2024 list from `faq/` and a 2025 list made from it
//! (new item ids, a lower target for task 14), with the clock set to each year. Bare task
//! numbers mean the current list; `/status 2024 14` reads the earlier one; a list is frozen
//! once its grace period is over. On SQLite and PostgreSQL.

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use minsheng::Lang;
use minsheng::core::{Admins, Core, Input, Message, Sender};
use minsheng::knowledge::{Lists, TASKS_FILE};
use minsheng::store::Store;

#[path = "common/db.rs"]
mod db;
use db::Db;

on_both_backends!(
    each_year_keeps_its_own_figures,
    a_closed_list_is_frozen_after_its_grace_period,
    the_latest_list_stays_open_until_an_editor_closes_it
);

/// The real faq/ alone, its tasks.toml edited by `edit`.
fn one_list(edit: impl Fn(String) -> String) -> Lists {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("faq");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect("faq/ file");
    let files = [
        ("policy.toml", read("policy.toml")),
        ("synonyms.toml", read("synonyms.toml")),
        (TASKS_FILE, edit(read(TASKS_FILE))),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    Lists::from_files(&dir, &files).expect("the list loads")
}

/// The real faq/ plus `tasks-2025.toml`: the same tasks a year later, with item ids of their
/// own and task 14's target lowered from 20 to 15 km.
fn two_lists() -> Lists {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("faq");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect("faq/ file");
    let tasks = read(TASKS_FILE);
    let next = tasks
        .replace("year = 2024", "year = 2025")
        .replace("\"2024-01-01\"", "\"2025-01-01\"")
        .replace("\"2024-12-31\"", "\"2025-12-31\"")
        .replace("id = \"t", "id = \"y2025-t")
        .replace("part_of = \"t", "part_of = \"y2025-t")
        .replace("完成老旧供水管网改造20公里", "完成老旧供水管网改造15公里");
    // Task ids ("task14") name a task within its list; only item ids had to change.
    let next = next.replace("id = \"y2025-task", "id = \"task");
    let next = set_target(&next, "y2025-t14-", 15.0);
    let files = [
        ("policy.toml", read("policy.toml")),
        ("synonyms.toml", read("synonyms.toml")),
        (TASKS_FILE, tasks),
        ("tasks-2025.toml", next),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    Lists::from_files(&dir, &files).expect("both lists load")
}

/// `target = …` of the first metric whose id starts with `prefix`.
fn set_target(text: &str, prefix: &str, target: f64) -> String {
    let at = text.find(&format!("id = \"{prefix}")).expect("the metric");
    let (head, tail) = text.split_at(at);
    let t = tail.find("target = ").expect("its target");
    let end = t + tail[t..].find('\n').expect("end of line");
    format!("{head}{}target = {target}{}", &tail[..t], &tail[end..])
}

#[derive(Clone)]
struct Clock(Arc<Mutex<DateTime<Utc>>>);

impl Clock {
    fn set(&self, y: i32, m: u32, d: u32) {
        *self.0.lock().expect("clock") = Utc
            .with_ymd_and_hms(y, m, d, 4, 0, 0)
            .single()
            .expect("a date");
    }
}

async fn core(store: Store, clock: &Clock) -> Core {
    core_with(two_lists(), store, clock).await
}

async fn core_with(lists: Lists, store: Store, clock: &Clock) -> Core {
    let c = clock.0.clone();
    Core::start(lists, store, Admins::parse("1").expect("admins"))
        .await
        .expect("core starts")
        .with_clock(Arc::new(move || *c.lock().expect("clock")))
}

fn clock_at(y: i32, m: u32, d: u32) -> Clock {
    let clock = Clock(Arc::new(Mutex::new(Utc::now())));
    clock.set(y, m, d);
    clock
}

/// A page of the web router over `core`, as text (a 404 says so).
async fn get(core: &Arc<Core>, uri: &str) -> String {
    use tower::ServiceExt as _;
    let router = minsheng::web::router(core.clone());
    let req = axum::http::Request::builder()
        .uri(uri)
        .body(axum::body::Body::empty())
        .expect("request");
    let resp = router.oneshot(req).await.expect("response");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    // minijinja writes `/` as `&#x2f;` in attributes; read it back as a browser would.
    let text = String::from_utf8_lossy(&body).replace("&#x2f;", "/");
    format!("{} {text}", status.as_u16())
}

async fn say(core: &Core, text: &str) -> String {
    core.handle(&Message {
        sender: Sender {
            channel: "console",
            user_id: "1".into(),
            name: "officer".into(),
            lang: Some(Lang::Zh),
        },
        chat_id: "c".into(),
        input: Input::Text(text.into()),
    })
    .await
    .into_iter()
    .map(|r| r.text)
    .collect::<Vec<_>>()
    .join("\n")
}

async fn each_year_keeps_its_own_figures(db: Db) {
    let clock = clock_at(2024, 6, 1);
    let core = core(db.store.clone(), &clock).await;

    // 2024: bare numbers are the 2024 list.
    let reply = say(&core, "/update 14 12km").await;
    assert!(reply.contains("已更新"), "{reply}");
    let status = say(&core, "/status 14").await;
    assert!(status.contains("12") && status.contains("20"), "{status}");

    // 2025: the same words are about the 2025 list, which starts from nothing.
    clock.set(2025, 3, 1);
    let status = say(&core, "/status 14").await;
    assert!(status.contains("15"), "2025's target: {status}");
    assert!(
        !status.contains("12"),
        "2024's figure is not 2025's: {status}"
    );
    let reply = say(&core, "/update 14 3km").await;
    assert!(reply.contains("已更新"), "{reply}");

    // 2024 is still there, by name, headed so nobody mistakes it for this year's.
    let old = say(&core, "/status 2024 14").await;
    assert!(old.contains("2024 年清单"), "{old}");
    assert!(old.contains("12") && old.contains("20"), "{old}");
    assert!(!old.contains("3 公里"), "{old}");
    let history = say(&core, "/history 2024 14").await;
    assert!(history.contains("12"), "{history}");
    assert!(!history.contains("3 公里"), "{history}");
    let history = say(&core, "/history 14").await;
    assert!(
        history.contains('3') && !history.contains("12 公里"),
        "{history}"
    );
    let list = say(&core, "/tasks 2024").await;
    assert!(list.contains("/status 2024 14"), "{list}");

    // The page: the current list at /, the earlier one under /lists/2024, each with its own
    // figures and links that stay in its year.
    let core = Arc::new(core);
    let page = get(&core, "/tasks/14").await;
    assert!(page.contains("2025") && !page.contains("12 公里"), "{page}");
    let page = get(&core, "/lists/2024/tasks/14").await;
    assert!(page.contains("2024年") && page.contains("12"), "{page}");
    let index = get(&core, "/lists/2024").await;
    assert!(index.contains("href=\"/lists/2024/tasks/14\""), "{index}");
    assert!(get(&core, "/lists/2023").await.contains("404"));
    let core = Arc::into_inner(core).expect("the router is gone");

    // A year with no list says which there are.
    let none = say(&core, "/status 2023 14").await;
    assert!(
        none.contains("没有 2023 年的清单") && none.contains("2024、2025"),
        "{none}"
    );

    // Both years live side by side in the store, each keyed on its own items.
    let states = core.store().states(2024, Some(14)).await.expect("states");
    assert_eq!(states[0].current, Some(12.0));
    let states = core.store().states(2025, Some(14)).await.expect("states");
    assert_eq!(states[0].current, Some(3.0));

    // A restart (a new core on the same store) keeps both.
    drop(core);
    let core = self::core(db.store.clone(), &clock).await;
    let old = say(&core, "/status 2024 14").await;
    assert!(old.contains("12"), "{old}");
    assert_eq!(
        core.store().verify_audit().await.expect("verify"),
        None,
        "the audit chain holds across both lists"
    );
}

async fn a_closed_list_is_frozen_after_its_grace_period(db: Db) {
    // January 2025: the 2025 list is current, 2024's final figures may still come in.
    let clock = clock_at(2025, 1, 20);
    let core = core(db.store.clone(), &clock).await;
    let reply = say(&core, "/update 2024 14 19.5km").await;
    assert!(reply.contains("已更新"), "within the grace period: {reply}");
    let undo = say(&core, "/undo").await;
    assert!(undo.contains("已撤销"), "{undo}");
    let reply = say(&core, "/update 2024 14 20km").await;
    assert!(reply.contains("已更新"), "{reply}");

    // After 31 January the 2024 list is the record as it stands.
    clock.set(2025, 2, 2);
    let before = core.store().states(2024, None).await.expect("states");
    let reply = say(&core, "/update 2024 14 21km").await;
    assert!(
        reply.contains("2024 年清单已于 2025-01-31 截止更新") && reply.contains("没有改动"),
        "{reply}"
    );
    assert_eq!(
        core.store().states(2024, None).await.expect("states"),
        before
    );
    let old = say(&core, "/status 2024 14").await;
    assert!(old.contains("已截止更新") && old.contains("20"), "{old}");
    // The current list takes updates as ever.
    let reply = say(&core, "/update 14 1km").await;
    assert!(reply.contains("已更新"), "{reply}");
}

async fn the_latest_list_stays_open_until_an_editor_closes_it(db: Db) {
    // Nothing has taken the 2024 list's place: two years on, it still takes figures.
    let clock = clock_at(2026, 12, 2);
    let core = core_with(one_list(|t| t), db.store.clone(), &clock).await;
    let reply = say(&core, "/update 14 20km").await;
    assert!(reply.contains("已更新"), "{reply}");
    let status = say(&core, "/status 14").await;
    assert!(
        !status.contains("清单"),
        "the current list needs no heading: {status}"
    );
    drop(core);

    // An editor closes it.
    let closed = one_list(|t| {
        t.replacen(
            "period_end = \"2024-12-31\"",
            "period_end = \"2024-12-31\"\nupdates_until = \"2025-03-31\"",
            1,
        )
    });
    let core = core_with(closed, db.store.clone(), &clock).await;
    let reply = say(&core, "/update 14 21km").await;
    assert!(
        reply.contains("2024 年清单已于 2025-03-31 截止更新"),
        "{reply}"
    );
    let states = core.store().states(2024, Some(14)).await.expect("states");
    assert_eq!(states[0].current, Some(20.0), "nothing changed");
}
