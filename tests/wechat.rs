//! The WeChat callback over real HTTP, with this test playing WeChat's servers.
//!
//! Signatures and safe-mode crypto are re-implemented here from the published protocol rather
//! than taken from `minsheng::wechat::protocol`, so a bug mirrored on both sides still fails.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aes::Aes256;
use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use minsheng::core::{Admins, Core};
use minsheng::http::Limits;
use minsheng::knowledge::Knowledge;
use minsheng::store::{NonceSeen, Store};
use minsheng::wechat::bot::CoreHandler;
use minsheng::wechat::{self, Config, Handler, Inbound, Incoming, Nonces};
use proptest::prelude::*;
use reqwest::StatusCode;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt as _;

const TOKEN: &str = "minshengToken2024";
const APPID: &str = "wx5823bf96d3bd56c7";
/// The account's original ID, WeChat's `ToUserName`.
const ACCOUNT: &str = "gh_0123456789ab";
const OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
/// Like a key from the WeChat console: alphanumeric, so the last char has spare bits set.
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

// --- the bot side ---------------------------------------------------------------------------

#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<Incoming>>,
}

impl Recorder {
    fn calls(&self) -> Vec<Incoming> {
        self.calls.lock().unwrap().clone()
    }
}

impl Handler for Recorder {
    fn handle(&self, msg: Incoming) -> impl Future<Output = String> + Send {
        self.calls.lock().unwrap().push(msg.clone());
        async move {
            match msg.inbound {
                Inbound::Text { content } => {
                    if content.starts_with("slow") {
                        tokio::time::sleep(Duration::from_secs(6)).await;
                    }
                    format!("echo: {content}")
                }
                Inbound::Voice { recognition } => format!("heard: {recognition}"),
                Inbound::Click { key } => format!("menu: {key}"),
                Inbound::Subscribe => "欢迎关注".to_owned(),
                Inbound::Unsubscribe => String::new(),
                Inbound::Other { msg_type } => format!("unsupported: {msg_type}"),
            }
        }
    }
}

struct Server {
    url: String,
    handler: Arc<Recorder>,
    http: reqwest::Client,
    /// The replay memory (an in-memory SQLite store).
    store: Store,
}

fn config(safe: bool) -> Config {
    Config {
        token: TOKEN.to_owned(),
        appid: APPID.to_owned(),
        aes_key: safe.then(|| AES_KEY.to_owned()),
    }
}

async fn memory_store() -> Store {
    Store::connect("sqlite::memory:").await.unwrap()
}

/// Serves `app` on a loopback port through the hardened listener; returns its address.
async fn serve(app: axum::Router, limits: Limits) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(minsheng::http::serve(
        listener,
        app,
        limits,
        std::future::pending(),
    ));
    addr
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn start(safe: bool) -> Server {
    let handler = Arc::new(Recorder::default());
    let store = memory_store().await;
    let app = wechat::router(config(safe), Arc::clone(&handler), store.clone());
    let addr = serve(app, Limits::default()).await;
    Server {
        url: format!("http://{addr}/"),
        handler,
        http: client(),
        store,
    }
}

/// A nonce never used before in this process, as WeChat sends a fresh one per request.
fn fresh_nonce() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}{n}", std::process::id())
}

// --- WeChat's side, from the published protocol ----------------------------------------------

fn sha1_sorted(parts: &[&str]) -> String {
    let mut parts = parts.to_vec();
    parts.sort();
    Sha1::digest(parts.concat().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn now() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string()
}

fn key() -> [u8; 32] {
    // The console's keys need a decoder that ignores spare bits, as WeChat's PHP sample does.
    let lenient = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    lenient
        .decode(format!("{AES_KEY}="))
        .unwrap()
        .try_into()
        .unwrap()
}

/// Encrypts as WeChat does; returns the base64 and the PKCS#7 pad length used.
fn wechat_encrypt(xml: &str, appid: &str) -> (String, usize) {
    let k = key();
    let mut buf = b"0123456789abcdef".to_vec();
    buf.extend_from_slice(&(xml.len() as u32).to_be_bytes());
    buf.extend_from_slice(xml.as_bytes());
    buf.extend_from_slice(appid.as_bytes());
    let pad = 32 - buf.len() % 32;
    buf.extend(std::iter::repeat_n(pad as u8, pad));
    let len = buf.len();
    let ct = cbc::Encryptor::<Aes256>::new(&k.into(), (&k[..16]).into())
        .encrypt_padded_mut::<NoPadding>(&mut buf, len)
        .unwrap()
        .to_vec();
    (STANDARD.encode(ct), pad)
}

/// Decrypts a reply as WeChat does; returns the XML and the AppID.
fn wechat_decrypt(b64: &str) -> (String, String) {
    let k = key();
    let mut buf = STANDARD.decode(b64).unwrap();
    assert_eq!(buf.len() % 32, 0, "WeChat pads to 32-byte blocks");
    let plain = cbc::Decryptor::<Aes256>::new(&k.into(), (&k[..16]).into())
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .unwrap()
        .to_vec();
    let pad = *plain.last().unwrap() as usize;
    assert!((1..=32).contains(&pad));
    assert!(
        plain[plain.len() - pad..]
            .iter()
            .all(|&b| b as usize == pad)
    );
    let body = &plain[16..plain.len() - pad];
    let n = u32::from_be_bytes(body[..4].try_into().unwrap()) as usize;
    let xml = String::from_utf8(body[4..4 + n].to_vec()).unwrap();
    let appid = String::from_utf8(body[4 + n..].to_vec()).unwrap();
    (xml, appid)
}

/// The text of `<tag>` in flat WeChat XML, joining CDATA sections (so `]]>` splits come back
/// together). Deliberately not the crate's parser.
fn field(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    let mut raw = &xml[start..end];
    let mut out = String::new();
    while let Some(i) = raw.find("<![CDATA[") {
        out.push_str(&raw[..i]);
        let rest = &raw[i + 9..];
        let j = rest.find("]]>")?;
        out.push_str(&rest[..j]);
        raw = &rest[j + 3..];
    }
    out.push_str(raw);
    Some(out)
}

fn text_xml(content: &str, msg_id: u64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>\
         <FromUserName><![CDATA[{OPENID}]]></FromUserName>\
         <CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>\
         <Content><![CDATA[{}]]></Content><MsgId>{msg_id}</MsgId></xml>",
        content.replace("]]>", "]]]]><![CDATA[>")
    )
}

impl Server {
    async fn get(&self, query: &[(&str, &str)]) -> reqwest::Response {
        self.http.get(&self.url).query(query).send().await.unwrap()
    }

    /// Posts `xml` in plain mode, signed (or with `signature` overriding the real one).
    async fn post_plain_signed(&self, xml: &str, signature: Option<&str>) -> reqwest::Response {
        let ts = now();
        let nonce = &fresh_nonce();
        let good = sha1_sorted(&[TOKEN, &ts, nonce]);
        let sig = signature.unwrap_or(&good);
        self.http
            .post(&self.url)
            .query(&[
                ("signature", sig),
                ("timestamp", &ts),
                ("nonce", nonce),
                ("openid", OPENID),
            ])
            .body(xml.to_owned())
            .send()
            .await
            .unwrap()
    }

    async fn post_plain(&self, xml: &str) -> (StatusCode, String) {
        let r = self.post_plain_signed(xml, None).await;
        (r.status(), r.text().await.unwrap())
    }

    /// Posts `xml` in safe mode, encrypted for `appid`; returns the status, the body and the
    /// pad length used.
    async fn post_safe(&self, xml: &str, appid: &str) -> (StatusCode, String, usize) {
        let (encrypt, pad) = wechat_encrypt(xml, appid);
        let ts = now();
        let nonce = &fresh_nonce();
        let msg_sig = sha1_sorted(&[TOKEN, &ts, nonce, &encrypt]);
        let envelope = format!(
            "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>\
             <Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        );
        let r = self
            .http
            .post(&self.url)
            .query(&[
                ("signature", sha1_sorted(&[TOKEN, &ts, nonce]).as_str()),
                ("timestamp", &ts),
                ("nonce", nonce),
                ("openid", OPENID),
                ("encrypt_type", "aes"),
                ("msg_signature", &msg_sig),
            ])
            .body(envelope)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap(), pad)
    }
}

/// Checks a plain passive text reply and returns its content.
fn reply_content(xml: &str) -> String {
    assert_eq!(field(xml, "ToUserName").as_deref(), Some(OPENID));
    assert_eq!(field(xml, "FromUserName").as_deref(), Some(ACCOUNT));
    assert_eq!(field(xml, "MsgType").as_deref(), Some("text"));
    let time: u64 = field(xml, "CreateTime").unwrap().parse().unwrap();
    assert!(time > 1_700_000_000);
    field(xml, "Content").unwrap()
}

/// Checks a safe-mode envelope (signature, AppID) and returns the decrypted reply's content.
fn open_envelope(xml: &str) -> String {
    let encrypt = field(xml, "Encrypt").unwrap();
    let sig = field(xml, "MsgSignature").unwrap();
    let ts = field(xml, "TimeStamp").unwrap();
    let nonce = field(xml, "Nonce").unwrap();
    assert!(!nonce.is_empty());
    assert_eq!(sig, sha1_sorted(&[TOKEN, &ts, &nonce, &encrypt]));
    let (inner, appid) = wechat_decrypt(&encrypt);
    assert_eq!(appid, APPID);
    reply_content(&inner)
}

// --- tests ------------------------------------------------------------------------------------

#[tokio::test]
async fn get_verification() {
    let s = start(false).await;
    let ts = now();
    let sig = sha1_sorted(&[TOKEN, &ts, "42"]);
    let q = [
        ("signature", sig.as_str()),
        ("timestamp", &ts),
        ("nonce", "42"),
        ("echostr", "8237482374823"),
    ];
    let r = s.get(&q).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "8237482374823");

    let bad = sha1_sorted(&["wrong", &ts, "42"]);
    let r = s
        .get(&[
            ("signature", bad.as_str()),
            ("timestamp", &ts),
            ("nonce", "42"),
            ("echostr", "8237482374823"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_ne!(r.text().await.unwrap(), "8237482374823");
    assert_eq!(
        s.get(&[("echostr", "1")]).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn plain_text_message() {
    let s = start(false).await;
    let (status, body) = s.post_plain(&text_xml("高新区 民生实事", 1001)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply_content(&body), "echo: 高新区 民生实事");
    let calls = s.handler.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].openid, OPENID);
    assert_eq!(calls[0].dedup_key, "1001");
    assert_eq!(
        calls[0].inbound,
        Inbound::Text {
            content: "高新区 民生实事".into()
        }
    );
}

#[tokio::test]
async fn safe_mode_round_trip_with_every_kind_of_padding() {
    let s = start(true).await;
    // Plaintext = 16 + 4 + XML + AppID; choose fillers so the pad runs over 1..=32, including
    // the 17..=32 range a 16-byte PKCS#7 implementation rejects.
    let mut pads = Vec::new();
    for filler in 0..32 {
        let content = format!("pad{}", "x".repeat(filler));
        let xml = text_xml(&content, 2000 + filler as u64);
        let (status, body, pad) = s.post_safe(&xml, APPID).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(open_envelope(&body), format!("echo: {content}"));
        pads.push(pad);
    }
    pads.sort_unstable();
    assert_eq!(pads, (1..=32).collect::<Vec<_>>());
    assert!(pads.iter().any(|&p| p > 16));
    assert_eq!(s.handler.calls().len(), 32);
}

#[tokio::test]
async fn safe_mode_pad_of_exactly_32() {
    let s = start(true).await;
    let content = (0..64)
        .map(|n| {
            let xml = text_xml(&format!("p{}", "y".repeat(n)), 3000);
            (n, 20 + xml.len() + APPID.len())
        })
        .find(|&(_, len)| len % 32 == 0)
        .map(|(n, _)| format!("p{}", "y".repeat(n)))
        .unwrap();
    let (status, body, pad) = s.post_safe(&text_xml(&content, 3000), APPID).await;
    assert_eq!(pad, 32);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(open_envelope(&body), format!("echo: {content}"));
}

#[tokio::test]
async fn replayed_msg_id_calls_handler_once() {
    let s = start(false).await;
    let xml = text_xml("重复", 4242);
    let (_, first) = s.post_plain(&xml).await;
    for _ in 0..3 {
        let (status, again) = s.post_plain(&xml).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(reply_content(&again), reply_content(&first));
    }
    assert_eq!(s.handler.calls().len(), 1);
    // A different MsgId is a different message.
    s.post_plain(&text_xml("重复", 4243)).await;
    assert_eq!(s.handler.calls().len(), 2);
}

#[tokio::test]
async fn replayed_safe_mode_message_calls_handler_once() {
    let s = start(true).await;
    let xml = text_xml("again", 5151);
    let (_, first, _) = s.post_safe(&xml, APPID).await;
    let (_, second, _) = s.post_safe(&xml, APPID).await;
    assert_eq!(open_envelope(&first), open_envelope(&second));
    // Fresh encryption each time, same content.
    assert_ne!(field(&first, "Encrypt"), field(&second, "Encrypt"));
    assert_eq!(s.handler.calls().len(), 1);
}

#[tokio::test]
async fn subscribe_and_unsubscribe_events() {
    let s = start(false).await;
    let event = |e: &str, time: u32| {
        format!(
            "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>\
             <FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>{time}</CreateTime>\
             <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{e}]]></Event></xml>"
        )
    };
    let (status, body) = s.post_plain(&event("subscribe", 1700000001)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply_content(&body), "欢迎关注");
    // Retried event: same FromUserName + CreateTime.
    s.post_plain(&event("subscribe", 1700000001)).await;
    let (status, body) = s.post_plain(&event("unsubscribe", 1700000002)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "success"));
    let calls = s.handler.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].inbound, Inbound::Subscribe);
    assert_eq!(
        calls[0].dedup_key,
        format!("{OPENID}#1700000001#subscribe#")
    );
    assert_eq!(calls[1].inbound, Inbound::Unsubscribe);
}

#[tokio::test]
async fn image_message_is_other() {
    let s = start(false).await;
    let xml = format!(
        "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>\
         <FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>1348831860</CreateTime>\
         <MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://example.invalid/p.jpg]]></PicUrl>\
         <MediaId><![CDATA[media_id]]></MediaId><MsgId>1234567890123456</MsgId></xml>"
    );
    let (status, body) = s.post_plain(&xml).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply_content(&body), "unsupported: image");
    assert_eq!(
        s.handler.calls()[0].inbound,
        Inbound::Other {
            msg_type: "image".into()
        }
    );
}

#[tokio::test]
async fn bad_signatures_are_forbidden() {
    let s = start(true).await;
    let xml = text_xml("hi", 6000);
    let bad = sha1_sorted(&["not the token", "1", "2"]);
    let r = s.post_plain_signed(&xml, Some(&bad)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = s.http.post(&s.url).body(xml.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Safe mode with a msg_signature over a different Encrypt.
    let (encrypt, _) = wechat_encrypt(&xml, APPID);
    let ts = now();
    let envelope = format!("<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>");
    let wrong = sha1_sorted(&[TOKEN, &ts, "n", "other"]);
    let r = s
        .http
        .post(&s.url)
        .query(&[
            ("signature", sha1_sorted(&[TOKEN, &ts, "n"]).as_str()),
            ("timestamp", &ts),
            ("nonce", "n"),
            ("encrypt_type", "aes"),
            ("msg_signature", &wrong),
        ])
        .body(envelope)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(s.handler.calls().is_empty());
}

#[tokio::test]
async fn broken_xml_is_bad_request() {
    let s = start(false).await;
    for broken in [
        "<xml><ToUserName>gh</xml>",
        "not xml at all",
        "",
        "<xml><FromUserName>u</FromUserName></xml>", // no MsgType
        "<!DOCTYPE xml [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><xml>&e;</xml>",
    ] {
        let (status, _) = s.post_plain(broken).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{broken:?}");
    }
    assert!(s.handler.calls().is_empty());
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let s = start(false).await;
    let xml = text_xml(&"大".repeat(30_000), 7000);
    assert!(xml.len() > 64 * 1024);
    let (status, _) = s.post_plain(&xml).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(s.handler.calls().is_empty());
}

#[tokio::test]
async fn wrong_appid_is_refused() {
    let s = start(true).await;
    let (status, _, _) = s
        .post_safe(&text_xml("hi", 8000), "wxSomeoneElse00000")
        .await;
    assert!(status.is_client_error(), "{status}");
    assert!(s.handler.calls().is_empty());
}

#[tokio::test]
async fn safe_mode_without_key_is_refused() {
    let s = start(false).await;
    let (status, _, _) = s.post_safe(&text_xml("hi", 8100), APPID).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(s.handler.calls().is_empty());
}

#[tokio::test]
async fn cdata_terminator_round_trips() {
    let tricky = "a]]>b ]]]]> <![CDATA[ & <xml> ]]";
    let s = start(false).await;
    let (status, body) = s.post_plain(&text_xml(tricky, 9000)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply_content(&body), format!("echo: {tricky}"));
    assert_eq!(
        s.handler.calls()[0].inbound,
        Inbound::Text {
            content: tricky.into()
        }
    );

    let s = start(true).await;
    let (status, body, _) = s.post_safe(&text_xml(tricky, 9001), APPID).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(open_envelope(&body), format!("echo: {tricky}"));
}

#[tokio::test]
async fn long_reply_is_cut_to_wechat_limit() {
    let s = start(false).await;
    let long = "民生".repeat(600); // 3600 bytes
    let (status, body) = s.post_plain(&text_xml(&long, 9100)).await;
    assert_eq!(status, StatusCode::OK);
    let content = reply_content(&body);
    assert!(content.len() <= 2048, "{}", content.len());
    assert!(content.starts_with("echo: 民生民生"));
}

#[tokio::test]
async fn slow_handler_answers_success_then_retry_gets_reply() {
    let s = Arc::new(start(false).await);
    let xml = text_xml("slow question", 9200);
    let t0 = Instant::now();

    // WeChat's first try: no reply in time, so `success` before WeChat's 5 s timeout.
    let first = {
        let (s, xml) = (Arc::clone(&s), xml.clone());
        tokio::spawn(async move { s.post_plain(&xml).await })
    };
    // A retry while the handler is still running waits for the same reply.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = {
        let (s, xml) = (Arc::clone(&s), xml.clone());
        tokio::spawn(async move { s.post_plain(&xml).await })
    };

    let (status, body) = first.await.unwrap();
    let elapsed = t0.elapsed();
    assert_eq!((status, body.as_str()), (StatusCode::OK, "success"));
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(elapsed >= Duration::from_secs(4), "{elapsed:?}");

    let (status, body) = second.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply_content(&body), "echo: slow question");
    assert!(t0.elapsed() >= Duration::from_secs(6));

    // A retry after completion gets the stored reply at once.
    let t1 = Instant::now();
    let (_, body) = s.post_plain(&xml).await;
    assert_eq!(reply_content(&body), "echo: slow question");
    assert!(t1.elapsed() < Duration::from_secs(1));
    assert_eq!(s.handler.calls().len(), 1);
}

// --- forged and replayed requests ---------------------------------------------------------------

/// A request as WeChat would sign it at `ts` with `nonce`: the query and the body. In safe mode
/// the body is the envelope around `xml` encrypted; `plain_extra` is put next to the `Encrypt`
/// element, as compatible mode (兼容模式) sends a plaintext copy.
fn signed(
    safe: bool,
    ts: &str,
    nonce: &str,
    xml: &str,
    plain_extra: &str,
) -> (Vec<(String, String)>, String) {
    let mut query = vec![
        ("signature".to_owned(), sha1_sorted(&[TOKEN, ts, nonce])),
        ("timestamp".to_owned(), ts.to_owned()),
        ("nonce".to_owned(), nonce.to_owned()),
        ("openid".to_owned(), OPENID.to_owned()),
    ];
    if !safe {
        return (query, xml.to_owned());
    }
    let (encrypt, _) = wechat_encrypt(xml, APPID);
    query.push(("encrypt_type".to_owned(), "aes".to_owned()));
    query.push((
        "msg_signature".to_owned(),
        sha1_sorted(&[TOKEN, ts, nonce, &encrypt]),
    ));
    let body = format!(
        "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>{plain_extra}\
         <Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    );
    (query, body)
}

async fn post_raw(
    http: &reqwest::Client,
    url: &str,
    query: &[(String, String)],
    body: &str,
) -> (StatusCode, String) {
    let r = http
        .post(url)
        .query(query)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// The plain fields of a text message from `from`, without the `<xml>` wrapper.
fn plain_fields(from: &str, content: &str, msg_id: u64) -> String {
    format!(
        "<FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>{}</CreateTime>\
         <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>\
         <MsgId>{msg_id}</MsgId>",
        now()
    )
}

fn text_xml_from(from: &str, content: &str, msg_id: u64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>{}</xml>",
        plain_fields(from, content, msg_id)
    )
}

fn secs(ts: &str) -> i64 {
    ts.parse().unwrap()
}

#[tokio::test]
async fn with_a_key_a_plain_body_is_forbidden() {
    let s = start(true).await;
    // Correctly signed in plain mode: the signature anyone can lift from a proxy log.
    let forged = text_xml_from("oEVILxyz123", "/grant wechat:oEVILxyz123 14", 10_001);
    let (status, _) = s.post_plain(&forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Claiming safe mode, with a msg_signature over an empty Encrypt, but no Encrypt element.
    let (ts, nonce) = (now(), fresh_nonce());
    let (mut query, _) = signed(false, &ts, &nonce, "", "");
    query.push(("encrypt_type".into(), "aes".into()));
    query.push((
        "msg_signature".into(),
        sha1_sorted(&[TOKEN, &ts, &nonce, ""]),
    ));
    let (status, _) = post_raw(&s.http, &s.url, &query, &forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(s.handler.calls().is_empty());
}

#[tokio::test]
async fn compatible_mode_reads_only_the_encrypted_copy() {
    let s = start(true).await;
    let real = text_xml("real question", 10_100);
    let forged = plain_fields("oEVILxyz123", "/grant wechat:oEVILxyz123 14", 999);
    for encrypt_type in [true, false] {
        let (mut query, body) = signed(true, &now(), &fresh_nonce(), &real, &forged);
        if !encrypt_type {
            query.retain(|(k, _)| k != "encrypt_type");
        }
        let (status, reply) = post_raw(&s.http, &s.url, &query, &body).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(open_envelope(&reply), "echo: real question");
    }
    // Once (the second is the same MsgId), as the encrypted copy says.
    let calls = s.handler.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].openid, OPENID);
    assert_eq!(calls[0].dedup_key, "10100");
    assert_eq!(
        calls[0].inbound,
        Inbound::Text {
            content: "real question".into()
        }
    );
}

#[tokio::test]
async fn stale_timestamps_are_refused() {
    for safe in [false, true] {
        let s = start(safe).await;
        let now = secs(&now());
        for ts in [now - 301, now + 301, now - 86_400, 0] {
            let ts = ts.to_string();
            let nonce = fresh_nonce();
            let xml = text_xml("old news", 10_200);
            let (query, body) = signed(safe, &ts, &nonce, &xml, "");
            let (status, _) = post_raw(&s.http, &s.url, &query, &body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "POST at {ts}, safe: {safe}");
            let sig = sha1_sorted(&[TOKEN, &ts, &nonce]);
            let r = s
                .get(&[
                    ("signature", sig.as_str()),
                    ("timestamp", &ts),
                    ("nonce", &nonce),
                    ("echostr", "4242"),
                ])
                .await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "GET at {ts}");
        }
        assert!(s.handler.calls().is_empty());
        // Inside the window, either way (clocks differ), is fine.
        for (ts, id) in [(now - 240, 10_201), (now + 240, 10_202)] {
            let xml = text_xml("news", id);
            let (query, body) = signed(safe, &ts.to_string(), &fresh_nonce(), &xml, "");
            let (status, _) = post_raw(&s.http, &s.url, &query, &body).await;
            assert_eq!(status, StatusCode::OK);
        }
        assert_eq!(s.handler.calls().len(), 2);
    }
}

#[tokio::test]
async fn reused_nonce_with_another_body_is_refused_but_a_retry_is_answered() {
    for safe in [false, true] {
        let s = start(safe).await;
        let (ts, nonce) = (now(), fresh_nonce());
        let (query, body) = signed(safe, &ts, &nonce, &text_xml("first", 11_000), "");
        let (status, first) = post_raw(&s.http, &s.url, &query, &body).await;
        assert_eq!(status, StatusCode::OK);

        // The captured query string with another body: in plain mode any body, in safe mode
        // the same Encrypt with forged plain fields next to it (both keep the signature valid).
        let forged = if safe {
            body.replacen(
                "<Encrypt>",
                &format!(
                    "{}<Encrypt>",
                    plain_fields("oEVILxyz123", "/grant wechat:oEVILxyz123 14", 1)
                ),
                1,
            )
        } else {
            text_xml_from("oEVILxyz123", "/grant wechat:oEVILxyz123 14", 11_001)
        };
        let (status, _) = post_raw(&s.http, &s.url, &query, &forged).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "safe: {safe}");
        // Even a correctly signed new message may not reuse the pair.
        let (query2, body2) = signed(safe, &ts, &nonce, &text_xml("second", 11_002), "");
        let (status, _) = post_raw(&s.http, &s.url, &query2, &body2).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "safe: {safe}");

        // WeChat's retry (same query, same body) still gets the reply, and the handler ran once.
        let (status, again) = post_raw(&s.http, &s.url, &query, &body).await;
        assert_eq!(status, StatusCode::OK);
        let content = |xml: &str| {
            if safe {
                open_envelope(xml)
            } else {
                reply_content(xml)
            }
        };
        assert_eq!(content(&again), content(&first));
        assert_eq!(content(&first), "echo: first");
        assert_eq!(s.handler.calls().len(), 1);
    }
}

#[tokio::test]
async fn empty_timestamp_or_nonce_is_refused() {
    let s = start(false).await;
    let ts = now();
    // With both empty, the signature is just sha1(token): valid forever for anyone who saw it.
    let token_only = sha1_sorted(&[TOKEN, "", ""]);
    let no_nonce = sha1_sorted(&[TOKEN, &ts, ""]);
    let no_ts = sha1_sorted(&[TOKEN, "", "123"]);
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("signature", &token_only), ("timestamp", ""), ("nonce", "")],
        vec![("signature", &token_only)],
        vec![("signature", &no_nonce), ("timestamp", &ts), ("nonce", "")],
        vec![("signature", &no_nonce), ("timestamp", &ts)],
        vec![("signature", &no_ts), ("timestamp", ""), ("nonce", "123")],
    ];
    let xml = text_xml("hi", 12_000);
    for query in &cases {
        let r = s
            .http
            .post(&s.url)
            .query(query)
            .body(xml.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "POST {query:?}");
        let mut get = query.clone();
        get.push(("echostr", "777"));
        assert_eq!(
            s.get(&get).await.status(),
            StatusCode::FORBIDDEN,
            "GET {query:?}"
        );
    }
    // Safe mode: a msg_signature over empty timestamp and nonce.
    let s = start(true).await;
    let (encrypt, _) = wechat_encrypt(&xml, APPID);
    let sig = sha1_sorted(&[TOKEN, "", "", &encrypt]);
    let body = format!("<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>");
    let r = s
        .http
        .post(&s.url)
        .query(&[
            ("timestamp", ""),
            ("nonce", ""),
            ("encrypt_type", "aes"),
            ("msg_signature", &sig),
        ])
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(s.handler.calls().is_empty());
}

#[tokio::test]
async fn replay_memory_unreachable_fails_closed() {
    let s = start(true).await;
    s.store.close().await;
    let (status, _, _) = s.post_safe(&text_xml("hi", 13_000), APPID).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(s.handler.calls().is_empty());
}

// --- through the real core ----------------------------------------------------------------------

/// The callback with the real core on a SQLite file, `OPENID` an administrator.
async fn start_core(safe: bool, dir: &tempfile::TempDir) -> (String, Store) {
    let url = format!("sqlite://{}", dir.path().join("minsheng.db").display());
    let store = Store::connect(&url).await.unwrap();
    let knowledge = Arc::new(Knowledge::load_dir(Path::new("faq")).unwrap());
    let admins = Admins::parse(&format!("wechat:{OPENID}")).unwrap();
    let core = Arc::new(Core::start(knowledge, store.clone(), admins).await.unwrap());
    let handler = Arc::new(CoreHandler::new(core));
    let app = wechat::router(config(safe), handler, store.clone());
    let addr = serve(app, Limits::default()).await;
    (format!("http://{addr}/"), store)
}

#[tokio::test]
async fn forged_grant_from_an_admin_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = start_core(true, &dir).await;
    let http = client();

    // The administrator's genuine message, as a proxy log would capture it.
    let (ts, nonce) = (now(), fresh_nonce());
    let genuine = text_xml_from(OPENID, "/status 14", 20_001);
    let (query, body) = signed(true, &ts, &nonce, &genuine, "");
    let (status, _) = post_raw(&http, &url, &query, &body).await;
    assert_eq!(status, StatusCode::OK);

    let grant = plain_fields(OPENID, "/grant wechat:oEVILxyz123 14", 20_002);
    // 1. Its query string over a plain body "from" the administrator.
    let plain = format!("<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>{grant}</xml>");
    let (status, _) = post_raw(&http, &url, &query, &plain).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // 2. The same without encrypt_type, as the attack sent it.
    let mut bare = query.clone();
    bare.retain(|(k, _)| k != "encrypt_type" && k != "msg_signature");
    let (status, _) = post_raw(&http, &url, &bare, &plain).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // 3. Its genuine Encrypt with the grant as the compatible-mode plaintext copy.
    let compat = body.replacen("<Encrypt>", &format!("{grant}<Encrypt>"), 1);
    let (status, _) = post_raw(&http, &url, &query, &compat).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    assert!(store.officers().await.unwrap().is_empty());
    assert_eq!(store.officer("wechat", "oEVILxyz123").await.unwrap(), None);

    // The channel itself works: the administrator's real grant is applied.
    let real = text_xml_from(OPENID, "/grant wechat:oGOODxyz123 14", 20_003);
    let (query, body) = signed(true, &now(), &fresh_nonce(), &real, "");
    let (status, _) = post_raw(&http, &url, &query, &body).await;
    assert_eq!(status, StatusCode::OK);
    let officers = store.officers().await.unwrap();
    assert_eq!(officers.len(), 1);
    assert_eq!(officers[0].user_id, "oGOODxyz123");
}

#[tokio::test]
async fn rate_limit_per_openid() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _store) = start_core(false, &dir).await;
    let http = client();
    let ask = |from: &'static str, text: &'static str, id: u64| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let xml = text_xml_from(from, text, id);
            let (query, body) = signed(false, &now(), &fresh_nonce(), &xml, "");
            let (status, reply) = post_raw(&http, &url, &query, &body).await;
            assert_eq!(status, StatusCode::OK);
            if reply == "success" {
                String::new()
            } else {
                field(&reply, "Content").unwrap()
            }
        }
    };
    let slow_down_zh = minsheng::limit::slow_down(Some(minsheng::Lang::Zh));
    for id in 1..=20 {
        let reply = ask(OPENID, "什么是错时共享停车？", 30_000 + id).await;
        assert!(!reply.is_empty() && reply != slow_down_zh, "{id}: {reply}");
    }
    assert_eq!(
        ask(OPENID, "什么是错时共享停车？", 30_021).await,
        slow_down_zh
    );
    assert_eq!(ask(OPENID, "什么是错时共享停车？", 30_022).await, "");
    assert_eq!(ask(OPENID, "/status 14", 30_023).await, "");
    // Other followers are not held back.
    let other = ask(
        "oOther0000000000000000000001",
        "什么是错时共享停车？",
        30_024,
    )
    .await;
    assert!(other.contains("错时共享"), "{other}");
    // In the language of the message.
    for id in 1..=20 {
        ask("oEnglish00000000000000000001", "hello", 31_000 + id).await;
    }
    let en = ask(
        "oEnglish00000000000000000001",
        "what is shared parking",
        31_021,
    )
    .await;
    assert_eq!(en, minsheng::limit::slow_down(Some(minsheng::Lang::En)));
}

// --- slow and half-open clients ------------------------------------------------------------------

/// Raises this process's soft limit on open files towards `want` (never above the hard limit)
/// and returns the limit in force.
fn raise_fd_limit(want: libc::rlim_t) -> libc::rlim_t {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    lim.rlim_cur
}

/// Waits (until `deadline`) for the server to close `conn`, reading and discarding anything it
/// sends first (e.g. a 408). True if it was closed in time.
async fn closed_by(conn: &mut TcpStream, deadline: tokio::time::Instant) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_do_not_delay_a_valid_request() {
    const HALF_HEADERS: usize = 950;
    const DRIBBLERS: usize = 50;
    let limit = raise_fd_limit(4096);
    assert!(
        limit >= 1400,
        "this test needs ~1,300 open files; the limit is {limit}"
    );
    let limits = Limits {
        max_connections: 200,
        header_read_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(3),
        shutdown_grace: Duration::from_secs(1),
    };
    let handler = Arc::new(Recorder::default());
    let store = memory_store().await;
    let app = wechat::router(config(true), Arc::clone(&handler), store.clone());
    let addr = serve(app, limits).await;
    let started = tokio::time::Instant::now();

    // Many more sockets than the server keeps open, each stopping halfway through a header.
    let mut half = Vec::with_capacity(HALF_HEADERS);
    for _ in 0..HALF_HEADERS {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
            .await
            .unwrap();
        half.push(c);
    }
    // Whole headers, then the body a byte at a time, each byte well inside the body timeout.
    let mut dribblers = tokio::task::JoinSet::new();
    for _ in 0..DRIBBLERS {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n<")
            .await
            .unwrap();
        dribblers.spawn(async move {
            let t0 = tokio::time::Instant::now();
            for _ in 0..40 {
                if c.write_all(b"x").await.is_err() {
                    return Some(t0.elapsed());
                }
                let soon = tokio::time::Instant::now() + Duration::from_millis(300);
                if closed_by(&mut c, soon).await {
                    return Some(t0.elapsed());
                }
            }
            None
        });
    }

    // A real WeChat request gets through at once.
    let s = Server {
        url: format!("http://{addr}/"),
        handler: Arc::clone(&handler),
        http: client(),
        store,
    };
    let t = Instant::now();
    let (status, body, _) = tokio::time::timeout(
        Duration::from_secs(5),
        s.post_safe(&text_xml("still here", 40_000), APPID),
    )
    .await
    .expect("the valid request was answered");
    let waited = t.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(open_envelope(&body), "echo: still here");
    assert!(
        waited < Duration::from_secs(2),
        "valid request waited {waited:?}"
    );

    // Every half-header socket is closed: to make room, or after the header timeout.
    let deadline = started + limits.header_read_timeout + Duration::from_secs(4);
    for (i, c) in half.iter_mut().enumerate() {
        assert!(
            closed_by(c, deadline).await,
            "half-header socket {i} still open"
        );
    }
    // Every dribbler is cut off by the request timeout, not served for as long as it likes.
    while let Some(done) = dribblers.join_next().await {
        let lasted = done.unwrap().expect("a dribbling client was never cut off");
        assert!(
            lasted <= limits.request_timeout + Duration::from_secs(2),
            "{lasted:?}"
        );
    }
    assert_eq!(handler.calls().len(), 1);
}

// --- property: a refusal, or exactly what was sent ------------------------------------------------

/// Records what reached it and echoes it; never sleeps (unlike [`Recorder`]).
#[derive(Default)]
struct Echo {
    calls: Mutex<Vec<Incoming>>,
}

impl Handler for Echo {
    fn handle(&self, msg: Incoming) -> impl Future<Output = String> + Send {
        self.calls.lock().unwrap().push(msg);
        async { String::new() }
    }
}

/// Replay memory in a map, so the property runs without a database.
#[derive(Default, Clone)]
struct MapNonces(Arc<Mutex<HashMap<(String, String), String>>>);

impl Nonces for MapNonces {
    async fn remember(
        &self,
        timestamp: &str,
        nonce: &str,
        _ts_secs: i64,
        body_sha1: &str,
    ) -> Result<NonceSeen, String> {
        let mut seen = self.0.lock().unwrap();
        let key = (timestamp.to_owned(), nonce.to_owned());
        Ok(match seen.get(&key) {
            None => {
                seen.insert(key, body_sha1.to_owned());
                NonceSeen::New
            }
            Some(d) if d == body_sha1 => NonceSeen::SameBody,
            Some(_) => NonceSeen::OtherBody,
        })
    }
}

/// Sends one request to `app` in process; returns the status.
fn call(
    rt: &tokio::runtime::Runtime,
    app: &axum::Router,
    method: &str,
    query: &[(String, String)],
    body: Vec<u8>,
) -> u16 {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    let request = axum::http::Request::builder()
        .method(method)
        .uri(format!("/?{query}"))
        .body(axum::body::Body::from(body))
        .unwrap();
    rt.block_on(async {
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        // Reading the body drives any part of the handler still pending.
        let _ = axum::body::to_bytes(response.into_body(), 1 << 20).await;
        status
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Arbitrary queries and bodies, in either mode: never a panic, never the handler.
    #[test]
    fn arbitrary_requests_are_refused(
        safe in any::<bool>(),
        get in any::<bool>(),
        query in proptest::collection::vec(
            (prop_oneof![
                Just("signature".to_owned()), Just("msg_signature".to_owned()),
                Just("timestamp".to_owned()), Just("nonce".to_owned()),
                Just("encrypt_type".to_owned()), Just("echostr".to_owned()), ".{0,8}",
            ], ".{0,48}"),
            0..7,
        ),
        body in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let rt = runtime();
        let echo = Arc::new(Echo::default());
        let app = wechat::router(config(safe), Arc::clone(&echo), MapNonces::default());
        let status = call(&rt, &app, if get { "GET" } else { "POST" }, &query, body);
        prop_assert!((400..600).contains(&status), "{status}");
        prop_assert!(echo.calls.lock().unwrap().is_empty());
    }

    /// A correctly signed and encrypted message with arbitrary content and sender, then the
    /// same request with one byte of the body changed: each is refused, or the handler sees
    /// exactly what was encrypted.
    #[test]
    fn accepted_means_exactly_what_was_encrypted(
        // XML normalises line ends, as WeChat's own parser does; everything else must survive.
        content in "[^\r]{0,300}",
        from in "[^\r]{1,40}",
        msg_id in any::<u64>(),
        flip in any::<(usize, u8)>(),
    ) {
        let rt = runtime();
        let echo = Arc::new(Echo::default());
        let app = wechat::router(config(true), Arc::clone(&echo), MapNonces::default());
        let xml = format!(
            "<xml><ToUserName>{ACCOUNT}</ToUserName><FromUserName>{}</FromUserName>\
             <CreateTime>1</CreateTime><MsgType>text</MsgType><Content>{}</Content>\
             <MsgId>{msg_id}</MsgId></xml>",
            cdata(&from),
            cdata(&content),
        );
        let (query, body) = signed(true, &now(), &fresh_nonce(), &xml, "");
        let mut bodies = vec![body.clone().into_bytes()];
        let mut mutated = body.into_bytes();
        let at = flip.0 % mutated.len();
        mutated[at] = flip.1;
        bodies.push(mutated);
        let xml_chars = |s: &str| s.chars().all(|c| {
            matches!(c, '\t' | '\n' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        });
        let must_accept = xml_chars(&content) && xml_chars(&from);
        for (i, body) in bodies.into_iter().enumerate() {
            let before = echo.calls.lock().unwrap().len();
            let status = call(&rt, &app, "POST", &query, body);
            if i == 0 && must_accept {
                // Not vacuous: the untouched request of representable text is always taken.
                prop_assert_eq!(status, 200);
            }
            let calls = echo.calls.lock().unwrap().clone();
            if status == 200 {
                // Accepted: the handler saw the encrypted message (at most once: same MsgId).
                prop_assert_eq!(calls.len(), 1);
                prop_assert_eq!(&calls[0].openid, &from);
                prop_assert_eq!(&calls[0].inbound, &Inbound::Text { content: content.clone() });
            } else {
                prop_assert!((400..600).contains(&status), "{}", status);
                prop_assert_eq!(calls.len(), before);
            }
        }
    }
}

/// CDATA as WeChat writes it (a `]]>` inside is split across two sections).
fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}
