//! The real `minsheng wechat` server over loopback, in safe (AES) mode, with the real core and
//! a SQLite file: WeChat's side is played with the protocol functions (their agreement with
//! WeChat's published algorithm is tested independently in `tests/wechat.rs`).

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use minsheng::wechat::protocol::{self, AesKey};

#[path = "common/db.rs"]
mod db;
#[path = "common/process.rs"]
mod process;
use process::{free_port, minsheng, sqlite_url, wait_listening};

const TOKEN: &str = "minshengToken2024";
const APPID: &str = "wx5823bf96d3bd56c7";
const ACCOUNT: &str = "gh_0123456789ab";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const RESIDENT: &str = "oResident000000000000000001";
const OFFICER: &str = "oOfficer0000000000000000001";

struct Wechat {
    url: String,
    key: AesKey,
    http: reqwest::Client,
    _child: tokio::process::Child,
}

async fn start(dir: &tempfile::TempDir) -> Wechat {
    start_with(dir, &[]).await
}

async fn start_with(dir: &tempfile::TempDir, env: &[(&str, &str)]) -> Wechat {
    start_on(&sqlite_url(dir), env).await
}

/// A `minsheng wechat` on the store at `db_url` (several may share one).
async fn start_on(db_url: &str, env: &[(&str, &str)]) -> Wechat {
    let port = free_port();
    let child = minsheng(db_url)
        .arg("wechat")
        .env("WECHAT_TOKEN", TOKEN)
        .env("WECHAT_APPID", APPID)
        .env("WECHAT_AES_KEY", AES_KEY)
        // Last, so a test can override: WECHAT_AES_KEY="" switches safe mode off.
        .envs(env.iter().copied())
        .env("WECHAT_LISTEN", format!("127.0.0.1:{port}"))
        .env("ADMIN_IDS", format!("wechat:{OFFICER}"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start minsheng wechat");
    wait_listening(port, Duration::from_secs(30)).await;
    Wechat {
        url: format!("http://127.0.0.1:{port}/wechat"),
        key: AesKey::from_encoding_aes_key(AES_KEY).expect("key"),
        http: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client"),
        _child: child,
    }
}

fn now() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string()
}

fn fresh_nonce() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn text_xml(from: &str, content: &str, msg_id: u64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>\
         <FromUserName><![CDATA[{from}]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
         <Content>{}</Content><MsgId>{msg_id}</MsgId></xml>",
        now(),
        protocol::cdata(content)
    )
}

impl Wechat {
    /// Sends `xml` encrypted and signed as WeChat does; returns the status and the decrypted
    /// reply text (empty for `success` or an error).
    async fn send(&self, xml: &str, good_signature: bool) -> (u16, String) {
        let (status, reply) = self.exchange(xml, good_signature).await;
        (status, reply.and_then(|r| r.content).unwrap_or_default())
    }

    /// [`Wechat::send`], returning the whole decrypted reply message (`None` for `success` or
    /// an error).
    async fn exchange(&self, xml: &str, good_signature: bool) -> (u16, Option<protocol::Message>) {
        let encrypt = protocol::encrypt(&self.key, APPID, xml);
        // WeChat sends a fresh nonce with every request; a reused one with another body is
        // refused as a replay.
        let (ts, nonce) = (now(), &fresh_nonce());
        let mut msg_sig = protocol::msg_signature(TOKEN, &ts, nonce, &encrypt);
        if !good_signature {
            msg_sig = msg_sig.replace(|c: char| c.is_ascii_digit(), "0");
        }
        let envelope = format!(
            "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt>{}</Encrypt></xml>",
            protocol::cdata(&encrypt)
        );
        let r = self
            .http
            .post(&self.url)
            .query(&[
                ("signature", protocol::signature(TOKEN, &ts, nonce).as_str()),
                ("timestamp", &ts),
                ("nonce", nonce),
                ("encrypt_type", "aes"),
                ("msg_signature", &msg_sig),
            ])
            .body(envelope)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let body = r.text().await.expect("body");
        if status != 200 || body == "success" {
            return (status, None);
        }
        let envelope = protocol::parse_message(&body).expect("reply envelope");
        let encrypted = envelope.encrypt.expect("Encrypt");
        let (xml, appid) = protocol::decrypt(&self.key, &encrypted).expect("decrypt reply");
        assert_eq!(appid, APPID);
        let reply = protocol::parse_message(&xml).expect("reply xml");
        assert_eq!(reply.from_user_name, ACCOUNT);
        (status, Some(reply))
    }

    async fn ask(&self, from: &str, text: &str, msg_id: u64) -> String {
        let (status, reply) = self.send(&text_xml(from, text, msg_id), true).await;
        assert_eq!(status, 200);
        reply
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_and_officers_over_the_callback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wx = start(&dir).await;

    let reply = wx.ask(RESIDENT, "什么是错时共享停车？", 1).await;
    assert!(reply.contains("错时共享"), "{reply}");
    assert!(!reply.contains('<'), "plain text, no markup: {reply}");

    let reply = wx.ask(RESIDENT, "/update 14 12.5km", 2).await;
    assert!(reply.contains("只有经授权"), "{reply}");

    let update = text_xml(OFFICER, "/update 14 12.5km 西永片区完工", 3);
    let (_, reply) = wx.send(&update, true).await;
    assert!(reply.contains("✅"), "{reply}");
    // WeChat's retry of the same MsgId gets the same reply and is applied once.
    let (_, again) = wx.send(&update, true).await;
    assert_eq!(again, reply);
    let history = wx.ask(OFFICER, "/history 14", 4).await;
    assert_eq!(history.matches("西永片区完工").count(), 1, "{history}");

    let status = wx.ask(RESIDENT, "/status 14", 5).await;
    assert!(status.contains("12.5 / 20公里"), "{status}");
    assert!(status.contains("62.5%"), "{status}");

    // Choices are numbered; a reply with the number picks one.
    let reply = wx.ask(OFFICER, "/update 19 3.2km", 6).await;
    assert!(reply.contains("回复数字"), "{reply}");
    let reply = wx.ask(OFFICER, "1", 7).await;
    assert!(reply.contains("19.7"), "{reply}");
    assert!(reply.contains("✅"), "{reply}");

    // A subscription could never be delivered on a passive channel: said so, not stored.
    let reply = wx.ask(RESIDENT, "/subscribe 14", 8).await;
    assert!(reply.contains("不能主动推送"), "{reply}");

    // The long task list fits WeChat's limit.
    let tasks = wx.ask(RESIDENT, "/tasks", 9).await;
    assert!(
        tasks.len() <= protocol::MAX_TEXT_BYTES,
        "{} bytes",
        tasks.len()
    );

    // A new follower is welcomed; a photo gets a polite text.
    let follow = format!(
        "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>\
         <FromUserName><![CDATA[{RESIDENT}]]></FromUserName><CreateTime>{}</CreateTime>\
         <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event></xml>",
        now()
    );
    let (_, welcome) = wx.send(&follow, true).await;
    assert!(welcome.contains("民生实事"), "{welcome}");
    let image = format!(
        "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>\
         <FromUserName><![CDATA[{RESIDENT}]]></FromUserName><CreateTime>{}</CreateTime>\
         <MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://x/y.jpg]]></PicUrl>\
         <MsgId>12</MsgId></xml>",
        now()
    );
    let (_, polite) = wx.send(&image, true).await;
    assert!(polite.contains("文字"), "{polite}");

    // A bad signature and broken XML are refused and change nothing.
    let (status, _) = wx
        .send(&text_xml(OFFICER, "/update 14 20km", 10), false)
        .await;
    assert_eq!(status, 403);
    let (status, _) = wx.send("<xml><MsgType>text", true).await;
    assert_eq!(status, 400);
    let status = wx.ask(RESIDENT, "/status 14", 11).await;
    assert!(status.contains("12.5 / 20公里"), "{status}");
}

/// With customer-service staff (`WECHAT_KF=1`), "转人工" hands the conversation to them with
/// WeChat's `transfer_customer_service` reply; without, it gets the hotline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_a_person_transfers_to_staff() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wx = start_with(&dir, &[("WECHAT_KF", "1")]).await;
    for (i, words) in ["转人工", "人工客服！"].into_iter().enumerate() {
        let (status, reply) = wx
            .exchange(&text_xml(RESIDENT, words, 100 + i as u64), true)
            .await;
        assert_eq!(status, 200);
        let reply = reply.expect("a reply");
        assert_eq!(reply.msg_type, "transfer_customer_service", "{words}");
        assert_eq!(reply.to_user_name, RESIDENT);
        assert_eq!(reply.content, None);
    }
    // Anything else is still the bot's.
    let reply = wx.ask(RESIDENT, "什么是错时共享停车？", 110).await;
    assert!(reply.contains("错时共享"), "{reply}");
    drop(wx);

    let dir = tempfile::tempdir().expect("tempdir");
    let wx = start(&dir).await;
    let (_, reply) = wx.exchange(&text_xml(RESIDENT, "转人工", 1), true).await;
    let reply = reply.expect("a reply");
    assert_eq!(reply.msg_type, "text");
    assert!(reply.content.unwrap_or_default().contains("12345"));
}

/// Unfollowing the account deletes what the bot kept about the follower: their unanswered
/// questions and the record that they were seen (the officers' audit trail is not theirs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfollowing_forgets_the_follower() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wx = start(&dir).await;
    let reply = wx
        .ask(RESIDENT, "明天天气怎么样 我的电话13812345678", 1)
        .await;
    assert!(!reply.is_empty());
    wx.ask("oOtherResident00000000000001", "明天天气怎么样", 2)
        .await;
    let store = minsheng::store::Store::connect(&sqlite_url(&dir))
        .await
        .expect("open");
    let rows = |who: &'static str| {
        let store = store.clone();
        async move {
            let minsheng::store::Store::Sqlite(pool) = &store else {
                panic!("SQLite")
            };
            let n: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM unanswered WHERE user_id = $1) \
                 + (SELECT COUNT(*) FROM users_seen WHERE user_id = $1)",
            )
            .bind(who)
            .fetch_one(pool)
            .await
            .expect("count");
            n
        }
    };
    assert!(rows(RESIDENT).await >= 1, "the question was kept");
    let minsheng::store::Store::Sqlite(pool) = &store else {
        panic!("SQLite")
    };
    let kept: String = sqlx::query_scalar("SELECT question FROM unanswered WHERE user_id = $1")
        .bind(RESIDENT)
        .fetch_one(pool)
        .await
        .expect("question");
    assert!(
        kept.contains("138****5678") && !kept.contains("13812345678"),
        "{kept}"
    );

    let unfollow = format!(
        "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>\
         <FromUserName><![CDATA[{RESIDENT}]]></FromUserName><CreateTime>{}</CreateTime>\
         <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[unsubscribe]]></Event></xml>",
        now()
    );
    let (status, _) = wx.send(&unfollow, true).await;
    assert_eq!(status, 200);
    // The handler runs in the background of the reply: give it a moment.
    for _ in 0..50 {
        if rows(RESIDENT).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(rows(RESIDENT).await, 0, "nothing of the follower is left");
    assert!(
        rows("oOtherResident00000000000001").await >= 1,
        "others are kept"
    );
}

fn voice_xml(from: &str, recognition: Option<&str>, msg_id: u64) -> String {
    let heard = recognition.map_or(String::new(), |r| {
        format!("<Recognition>{}</Recognition>", protocol::cdata(r))
    });
    format!(
        "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>\
         <FromUserName><![CDATA[{from}]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[voice]]></MsgType>\
         <MediaId><![CDATA[media_{msg_id}]]></MediaId><Format><![CDATA[amr]]></Format>\
         {heard}<MsgId>{msg_id}</MsgId></xml>",
        now()
    )
}

/// A voice message is answered as the question WeChat heard, which is shown first; speech
/// recognition's homophones and Chongqing dialect are read as typed questions are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_messages_are_answered_as_heard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wx = start(&dir).await;
    for (i, (heard, expected)) in [
        ("错时共享停车是啥子", "错时共享"),
        ("老旧供水管网改造搞得咋样了", "供水管网"),
        ("托育的托位数达到好多", "托位"),
        ("what is staggered time shared parking", "staggered"),
    ]
    .into_iter()
    .enumerate()
    {
        let (status, reply) = wx
            .send(&voice_xml(RESIDENT, Some(heard), 200 + i as u64), true)
            .await;
        assert_eq!(status, 200);
        let first = reply.lines().next().unwrap_or_default();
        assert!(first.starts_with("🎙") && first.contains(heard), "{reply}");
        assert!(reply.contains(expected), "{heard}: {reply}");
    }
    // No transcript (recognition off), or an empty one: the polite text reply.
    for (i, heard) in [None, Some("")].into_iter().enumerate() {
        let (_, reply) = wx
            .send(&voice_xml(RESIDENT, heard, 300 + i as u64), true)
            .await;
        assert!(reply.contains("文字"), "{reply}");
    }
}

/// A tap on a `click` item of the account's menu (`faq/wechat_menu.toml`) is answered like the
/// command it names; an undeclared key gets no reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn menu_taps_run_their_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wx = start(&dir).await;
    let click = |key: &str| {
        format!(
            "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>\
             <FromUserName><![CDATA[{RESIDENT}]]></FromUserName><CreateTime>{}</CreateTime>\
             <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event>\
             <EventKey><![CDATA[{key}]]></EventKey></xml>",
            now()
        )
    };
    let (status, reply) = wx.send(&click("STATUS_14"), true).await;
    assert_eq!(status, 200);
    assert!(reply.starts_with("第14项 城市老旧供水管网改造"), "{reply}");
    let (_, reply) = wx.send(&click("TASKS"), true).await;
    assert!(reply.contains("20件重点民生实事"), "{reply}");
    let (status, reply) = wx.send(&click("NO_SUCH_KEY"), true).await;
    assert_eq!((status, reply.as_str()), (200, ""));
}

impl Wechat {
    /// Sends `xml` in plain mode (signature over token, timestamp and nonce); returns the
    /// reply's text.
    async fn send_plain(&self, xml: &str) -> String {
        let (ts, nonce) = (now(), fresh_nonce());
        let r = self
            .http
            .post(&self.url)
            .query(&[
                (
                    "signature",
                    protocol::signature(TOKEN, &ts, &nonce).as_str(),
                ),
                ("timestamp", &ts),
                ("nonce", &nonce),
            ])
            .body(xml.to_owned())
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 200);
        let body = r.text().await.expect("body");
        if body == "success" {
            return String::new();
        }
        let reply = protocol::parse_message(&body).expect("reply xml");
        reply.content.unwrap_or_default()
    }
}

/// Voice in plain mode too: what was heard first, then the answer, in Chinese and English.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_messages_in_plain_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wx = start_with(&dir, &[("WECHAT_AES_KEY", "")]).await;
    for (i, (heard, expected)) in [
        ("虎溪河生态修复搞得怎么样了嘛", "虎溪河"),
        ("how far is the water pipe renovation", "water"),
    ]
    .into_iter()
    .enumerate()
    {
        let reply = wx
            .send_plain(&voice_xml(RESIDENT, Some(heard), 400 + i as u64))
            .await;
        assert!(reply.starts_with("🎙") && reply.contains(heard), "{reply}");
        assert!(reply.contains(expected), "{heard}: {reply}");
    }
}

/// WeChat retried a message (its reply was lost) and the load balancer sent the retry to
/// another replica: the same reply, from the store, and the message acted on once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_to_another_replica_gets_the_same_reply() {
    db::run(db::Backend::Pg, retry_to_another_replica).await;
}

async fn retry_to_another_replica(db: db::Db) {
    let a = start_on(&db.url, &[]).await;
    let b = start_on(&db.url, &[]).await;
    let question = text_xml(RESIDENT, "什么是错时共享停车？", 40_001);
    let (status, first) = a.send(&question, true).await;
    assert_eq!(status, 200);
    assert!(first.contains("错时"), "{first}");
    let (status, retried) = b.send(&question, true).await;
    assert_eq!(status, 200);
    assert_eq!(retried, first, "the retry got another reply");
    // An officer's update retried through the other replica: applied once, same answer.
    let update = text_xml(OFFICER, "/update 14 6.5km", 40_002);
    let (_, applied) = b.send(&update, true).await;
    assert!(applied.contains("6.5"), "{applied}");
    let (_, again) = a.send(&update, true).await;
    assert_eq!(again, applied);
    let updates = db::count(
        &db.store,
        "SELECT COUNT(*) FROM audit WHERE kind = 'update'",
    )
    .await;
    assert_eq!(updates, 1, "applied once");
    db.store.close().await;
}
