//! The knowledge base learns: the editors' queue, `/teach` and `/unteach`, the regression
//! guard, picks and 👎 as evidence, privacy of the queue, two replicas on one database, and
//! `export-phrasings` — over the real `faq/` and a real store on both backends.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use minsheng::core::{Admins, Core, Input, MAX_BUTTON_DATA, Message, Reply, Sender};
use minsheng::knowledge::{Knowledge, Lists};
use minsheng::matcher::Kind;
use minsheng::store::Store;

#[path = "common/db.rs"]
mod db;
use db::{Db, count};

fn faq() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("faq")
}

async fn core(store: Store) -> Core {
    let knowledge = Knowledge::load_dir(&faq()).expect("faq/ loads");
    let admins = Admins::parse("1").expect("admins");
    Core::start(Arc::new(knowledge), store, admins)
        .await
        .expect("core starts")
}

fn from(channel: &'static str, user: &str) -> Sender {
    Sender {
        channel,
        user_id: user.into(),
        name: format!("user {user}"),
        lang: None,
    }
}

async fn send(core: &Core, sender: &Sender, input: Input) -> Vec<Reply> {
    core.handle(&Message {
        sender: sender.clone(),
        chat_id: format!("chat-{}", sender.user_id),
        input,
    })
    .await
}

async fn say(core: &Core, sender: &Sender, text: &str) -> Reply {
    let mut r = send(core, sender, Input::Text(text.into())).await;
    assert_eq!(r.len(), 1, "{text}: {r:?}");
    r.remove(0)
}

async fn press(core: &Core, sender: &Sender, data: &str) -> Reply {
    let mut r = send(core, sender, Input::Button(data.into())).await;
    assert_eq!(r.len(), 1, "{data}: {r:?}");
    r.remove(0)
}

/// The entry a question is answered with outright, if any.
fn answered(core: &Core, q: &str) -> Option<String> {
    let d = core.answers().decide(q);
    (d.kind == Kind::Answer).then(|| d.id.unwrap_or_default())
}

/// What a refused command could have changed.
async fn snapshot(store: &Store) -> (i64, i64, i64) {
    (
        count(store, "SELECT COUNT(*) FROM taught_phrasings").await,
        count(
            store,
            "SELECT COUNT(*) FROM taught_phrasings WHERE removed_at IS NULL",
        )
        .await,
        count(
            store,
            "SELECT COALESCE(MAX(version), 0) FROM phrasings_version",
        )
        .await,
    )
}

const PARKING: &str = "单位的车位晚上给居民用吗";

/// A resident asks, gets "did you mean", picks; an editor sees it numbered with its
/// candidates and buttons, teaches it; the bot answers it; /unteach takes it back.
async fn teach_and_unteach(db: Db) {
    let core = core(db.store).await;
    let admin = from("console", "1");
    let editor = from("telegram", "55");
    let resident = from("telegram", "7");
    assert_eq!(answered(&core, PARKING), None);

    let r = say(&core, &resident, PARKING).await;
    assert!(
        r.buttons.iter().any(|b| b.data.starts_with("entry:qa3")),
        "{r:?}"
    );
    press(&core, &resident, "entry:qa3:zh").await;
    say(&core, &from("telegram", "8"), PARKING).await;
    press(&core, &from("telegram", "8"), "entry:qa3:zh").await;

    // Not yet an editor.
    let before = snapshot(core.store()).await;
    let r = say(&core, &editor, "/teach 1 qa3").await;
    assert!(r.text.contains("只有管理员和编辑"), "{}", r.text);
    assert!(
        press(&core, &editor, "teach:1:qa3")
            .await
            .text
            .contains("只有管理员和编辑")
    );
    assert!(
        say(&core, &resident, "/unanswered")
            .await
            .text
            .contains("只有经授权")
    );

    let r = say(&core, &admin, "/grant telegram:55 editor").await;
    assert!(r.text.contains("is now an editor"), "{}", r.text);
    let officers = say(&core, &admin, "/officers").await.text;
    assert!(officers.contains("telegram:55"), "{officers}");
    assert!(officers.contains("grant editor telegram:55"), "{officers}");
    assert!(say(&core, &editor, "/help").await.text.contains("/teach"));
    assert!(!say(&core, &resident, "/help").await.text.contains("/teach"));

    // Bad inputs: each a polite refusal that changes nothing.
    for bad in [
        "/teach",
        "/teach 1",
        "/teach one qa3",
        "/teach 0 qa3",
        "/teach 1 qa3 extra",
    ] {
        let r = say(&core, &editor, bad).await;
        assert!(r.text.contains("本次没有改动"), "{bad}: {}", r.text);
    }
    // Numbers refer to the list the editor was shown.
    let r = say(&core, &editor, "/teach 1 qa3").await;
    assert!(r.text.contains("请先发送 /unanswered"), "{}", r.text);

    let list = say(&core, &editor, "/unanswered").await;
    assert!(
        list.text.contains(&format!("1. 2× {PARKING}")),
        "{}",
        list.text
    );
    assert!(list.text.contains("选了 qa3 ×2"), "{}", list.text);
    assert!(list.text.contains("→ qa3"), "{}", list.text);
    assert!(!list.buttons.is_empty());
    assert!(
        list.buttons
            .iter()
            .all(|b| b.data.starts_with("teach:") && b.data.len() <= MAX_BUTTON_DATA)
    );
    for bad in [
        "/teach 9 qa3",
        "/teach 1 qa99",
        "/unteach 12345",
        "/unteach 没教过的问法",
        "/unteach",
    ] {
        let r = say(&core, &editor, bad).await;
        assert!(r.text.contains("本次没有改动"), "{bad}: {}", r.text);
    }
    let r = say(&core, &editor, "/teach 1 QA9").await;
    assert!(r.text.contains("没有“QA9”这个条目"), "{}", r.text);
    assert!(
        press(&core, &editor, "teach:x:qa3")
            .await
            .text
            .contains("失效")
    );
    assert_eq!(snapshot(core.store()).await, before);

    // Taught: answered at once.
    let r = say(&core, &editor, "/teach 1 qa3").await;
    assert!(r.text.contains("已教会"), "{}", r.text);
    assert_eq!(answered(&core, PARKING).as_deref(), Some("qa3"));
    let reply = say(&core, &resident, PARKING).await;
    assert!(reply.text.contains("错时共享"), "{}", reply.text);
    // Taught questions leave the queue; teaching it again changes nothing.
    assert!(
        !say(&core, &editor, "/unanswered")
            .await
            .text
            .contains(PARKING)
    );
    let again = say(&core, &editor, "/teach 1 qa3").await;
    assert!(again.text.contains("本次没有改动"), "{}", again.text);
    let taught = say(&core, &editor, "/taught").await.text;
    assert!(
        taught.contains(PARKING) && taught.contains("qa3"),
        "{taught}"
    );
    let (id, entry, by): (i64, String, String) = match core.store() {
        Store::Sqlite(p) => {
            sqlx::query_as("SELECT id, entry_id, taught_by_user FROM taught_phrasings")
                .fetch_one(p)
                .await
                .expect("row")
        }
        Store::Postgres(p) => {
            sqlx::query_as("SELECT id, entry_id, taught_by_user FROM taught_phrasings")
                .fetch_one(p)
                .await
                .expect("row")
        }
    };
    assert_eq!((entry.as_str(), by.as_str()), ("qa3", "55"));

    // Undone by its number: soft-deleted, recorded, and no longer answered.
    let r = say(&core, &editor, &format!("/unteach {id}")).await;
    assert!(r.text.contains("已撤销"), "{}", r.text);
    assert_eq!(answered(&core, PARKING), None);
    assert_eq!(
        count(
            core.store(),
            "SELECT COUNT(*) FROM taught_phrasings WHERE removed_at IS NOT NULL AND removed_by_user = '55'"
        )
        .await,
        1
    );
    assert!(
        say(&core, &editor, "/unanswered")
            .await
            .text
            .contains(PARKING)
    );

    // Taught again by the button, then undone by its text.
    let list = say(&core, &editor, "/unanswered").await;
    let button = list
        .buttons
        .iter()
        .find(|b| b.data.ends_with(":qa3"))
        .expect("a qa3 button");
    assert!(
        press(&core, &editor, &button.data)
            .await
            .text
            .contains("已教会")
    );
    assert_eq!(answered(&core, PARKING).as_deref(), Some("qa3"));
    let r = say(&core, &editor, &format!("/unteach {PARKING}")).await;
    assert!(r.text.contains("已撤销"), "{}", r.text);
    assert_eq!(answered(&core, PARKING), None);

    // A revoked editor is refused.
    assert!(
        say(&core, &admin, "/revoke telegram:55 editor")
            .await
            .text
            .contains("may no longer teach")
    );
    assert!(
        say(&core, &editor, "/teach 1 qa3")
            .await
            .text
            .contains("只有管理员和编辑")
    );
}

/// A phrasing that would change the answer to a case of the regression sets is refused with
/// the case; a 👎 puts the answered question in the queue.
async fn the_guard_refuses_a_phrasing_that_breaks_a_case(db: Db) {
    let core = core(db.store).await;
    let admin = from("console", "1");
    let resident = from("telegram", "7");
    // A development case, answered right; the resident says it did not help.
    let q = "错时停车啥意思";
    let r = say(&core, &resident, q).await;
    assert!(r.buttons.iter().any(|b| b.data == "fb:down:qa3"), "{r:?}");
    press(&core, &resident, "fb:down:qa3").await;
    let list = say(&core, &admin, "/unanswered").await.text;
    assert!(list.contains(q) && list.contains("👎 qa3 ×1"), "{list}");
    let before = snapshot(core.store()).await;
    let r = say(&core, &admin, "/teach 1 qa1").await;
    assert!(r.text.contains("没有教"), "{}", r.text);
    assert!(r.text.contains("dev.tsv"), "{}", r.text);
    assert!(r.text.contains("本次没有改动"), "{}", r.text);
    assert_eq!(snapshot(core.store()).await, before);
    assert_eq!(answered(&core, q).as_deref(), Some("qa3"));
    // In English for an English-speaking editor.
    let mut english = from("console", "1");
    english.lang = Some(minsheng::Lang::En);
    let r = say(&core, &english, "/teach 1 qa1").await;
    assert!(
        r.text.contains("Not taught") && r.text.contains("Nothing was changed"),
        "{}",
        r.text
    );

    // /forget deletes the resident's queued question and its evidence.
    say(&core, &resident, "/forget").await;
    assert!(!say(&core, &admin, "/unanswered").await.text.contains(q));
}

/// Two replicas on one database: a phrasing taught on one answers on the other within a few
/// seconds, and removing it there is seen here.
async fn a_phrasing_reaches_the_other_replica(db: Db) {
    let a = core(db.store.clone()).await;
    let b = core(db.open().await).await;
    let admin = from("console", "1");
    say(&a, &from("telegram", "7"), PARKING).await;
    say(&b, &admin, "/unanswered").await;
    // The editor's list is kept in the store: the number means the same on either replica.
    let r = say(&a, &admin, "/teach 1 qa3").await;
    assert!(r.text.contains("已教会"), "{}", r.text);
    let started = Instant::now();
    loop {
        let reply = say(&b, &from("telegram", "9"), PARKING).await;
        if reply.text.contains("错时共享") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "not answered on the other replica: {}",
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = started.elapsed();
    eprintln!("taught phrasing reached the other replica in {took:?}");
    let r = say(&b, &admin, &format!("/unteach {PARKING}")).await;
    assert!(r.text.contains("已撤销"), "{}", r.text);
    let started = Instant::now();
    while answered(&a, PARKING).is_some() {
        say(&a, &from("telegram", "9"), "/tasks").await;
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "still taught on a"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Taught phrasings survive a restart (read from the store at start).
async fn a_restart_keeps_what_was_taught(db: Db) {
    let core1 = core(db.store.clone()).await;
    say(&core1, &from("telegram", "7"), PARKING).await;
    say(&core1, &from("console", "1"), "/unanswered").await;
    say(&core1, &from("console", "1"), "/teach 1 qa3").await;
    drop(core1);
    let core2 = core(db.open().await).await;
    assert_eq!(answered(&core2, PARKING).as_deref(), Some("qa3"));
}

on_both_backends!(
    teach_and_unteach,
    the_guard_refuses_a_phrasing_that_breaks_a_case,
    a_phrasing_reaches_the_other_replica,
    a_restart_keeps_what_was_taught,
);

/// `export-phrasings` adds taught phrasings to their entries in a copy of faq/, keeping every
/// other line (comments included), and the result loads with the phrasing in place.
#[tokio::test]
async fn export_writes_phrasings_into_faq() {
    let dir = tempfile::tempdir().expect("temporary directory");
    for e in std::fs::read_dir(faq()).expect("faq/") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), dir.path().join(e.file_name())).expect("copy");
    }
    let store = Store::connect("sqlite::memory:").await.expect("store");
    let by = minsheng::store::Actor {
        channel: "telegram".into(),
        user_id: "55".into(),
        name: "editor".into(),
    };
    let year = Lists::load_dir(dir.path())
        .expect("loads")
        .main()
        .period
        .year;
    store
        .teach(year, "qa3", minsheng::Lang::Zh, PARKING, &by)
        .await
        .expect("teach");
    store
        .teach(
            year,
            "task14",
            minsheng::Lang::En,
            "are the old water mains being replaced",
            &by,
        )
        .await
        .expect("teach");
    store
        .teach(
            year,
            "gone",
            minsheng::Lang::En,
            "an entry no longer in faq",
            &by,
        )
        .await
        .expect("teach");
    let taught = store.taught_phrasings().await.expect("taught");
    let before_policy = std::fs::read_to_string(dir.path().join("policy.toml")).expect("read");
    let done = minsheng::learn::export(dir.path(), &taught).expect("export");
    use minsheng::learn::Exported;
    assert!(
        matches!(&done[0], Exported::Written { file, field: "questions_zh", .. } if file == "policy.toml"),
        "{done:?}"
    );
    assert!(
        matches!(&done[1], Exported::Written { file, field: "questions_en", .. } if file == "tasks.toml"),
        "{done:?}"
    );
    assert!(matches!(&done[2], Exported::NoEntry { .. }), "{done:?}");
    let after_policy = std::fs::read_to_string(dir.path().join("policy.toml")).expect("read");
    // Only the new line: every line before is still there, in order.
    let added: Vec<&str> = after_policy
        .lines()
        .filter(|l| !before_policy.lines().any(|b| b == *l))
        .collect();
    assert_eq!(added, vec![format!("  \"{PARKING}\",").as_str()]);
    assert_eq!(
        after_policy.lines().count(),
        before_policy.lines().count() + 1
    );
    let lists = Lists::load_dir(dir.path()).expect("the exported faq/ loads");
    let kb = lists.main();
    assert!(
        kb.entry("qa3")
            .expect("qa3")
            .questions_zh
            .iter()
            .any(|q| q == PARKING)
    );
    assert!(
        kb.entry("task14")
            .expect("task14")
            .questions_en
            .iter()
            .any(|q| q == "are the old water mains being replaced")
    );
    // Twice is once.
    let again = minsheng::learn::export(dir.path(), &taught).expect("export");
    assert!(matches!(&again[0], Exported::Present { .. }), "{again:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("policy.toml")).expect("read"),
        after_policy
    );
}
