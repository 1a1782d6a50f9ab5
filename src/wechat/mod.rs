//! The WeChat Official Account (公众号) callback: an axum [`Router`] that verifies, decrypts and
//! parses what WeChat posts, asks a [`Handler`] for the reply and renders it as a passive reply.
//!
//! Independent of the bot's core: the core plugs in through [`Handler`]. Mount the router where
//! the account's server URL points, e.g. `Router::new().nest("/wechat", wechat::router(..))`.
//!
//! WeChat waits 5 s for a reply and then retries the same message (up to three times), so the
//! adapter runs the handler once per message in the background, answers `success` ("no reply")
//! when it is not done in time, and gives the finished reply to a later retry.
//!
//! What a request must carry to reach the handler:
//! - a signature by the account's token over a non-empty timestamp and nonce, the timestamp
//!   within [`protocol::FRESHNESS_SECS`] of now;
//! - a (timestamp, nonce) pair never seen with another body ([`Nonces`], shared by replicas);
//! - with an EncodingAESKey configured, the message inside the `Encrypt` element, covered by
//!   `msg_signature`. Plain fields next to it (兼容模式) are ignored, and a body without it is
//!   refused: only the encrypted copy is signed. Without a key (plain mode) the signature
//!   covers only the timestamp and nonce, never the body, so anyone who sees a request can
//!   send another body under its signature within the window, once.

pub mod api;
pub mod bot;
pub mod menu;
pub mod protocol;

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rand::Rng as _;
use rand::distributions::Alphanumeric;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::store::{NonceSeen, Store};
use protocol::{AesKey, Message};

/// Larger bodies are refused with 413; real messages are a few KB at most.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// WeChat gives up after 5 s; answer before then whatever the handler is doing.
const REPLY_DEADLINE: Duration = Duration::from_millis(4500);
/// WeChat's retries span about 15 s; keep replies well beyond that.
const DEDUP_TTL: Duration = Duration::from_secs(300);
/// Bounds memory under a flood of distinct messages; the oldest entries go first.
const DEDUP_CAPACITY: usize = 10_000;
/// Appended when the router has to cut a reply the handler did not fit itself.
const CUT_TAIL: &str = "…";
/// WeChat's body for "no reply".
const NO_REPLY: &str = "success";

/// The account's callback settings, from the WeChat console (基本配置).
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub token: String,
    pub appid: String,
    /// The 43-character EncodingAESKey; `None` for plain mode only.
    pub aes_key: Option<String>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("token", &"<redacted>")
            .field("appid", &self.appid)
            .field("aes_key", &self.aes_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why the WeChat settings in the environment are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} must be set when any of WECHAT_TOKEN, WECHAT_APPID, WECHAT_AES_KEY is")]
    Missing(&'static str),
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

impl Config {
    /// Reads `WECHAT_TOKEN`, `WECHAT_APPID` and the optional `WECHAT_AES_KEY`. `Ok(None)` when
    /// none is set (the channel is off); an error naming the variable when the set is
    /// incomplete or the key is malformed. Empty values count as unset.
    pub fn from_env() -> Result<Option<Config>, ConfigError> {
        Config::from_lookup(|name| std::env::var_os(name))
    }

    fn from_lookup(get: impl Fn(&str) -> Option<OsString>) -> Result<Option<Config>, ConfigError> {
        let var = |name: &'static str| -> Result<Option<String>, ConfigError> {
            match get(name) {
                None => Ok(None),
                Some(v) if v.is_empty() => Ok(None),
                Some(v) => v
                    .into_string()
                    .map(|s| Some(s.trim().to_owned()))
                    .map_err(|_| ConfigError::Invalid {
                        var: name,
                        reason: "not valid Unicode".into(),
                    }),
            }
        };
        let (token, appid, aes_key) = (
            var("WECHAT_TOKEN")?,
            var("WECHAT_APPID")?,
            var("WECHAT_AES_KEY")?,
        );
        let Some(token) = token else {
            return match (&appid, &aes_key) {
                (None, None) => Ok(None),
                _ => Err(ConfigError::Missing("WECHAT_TOKEN")),
            };
        };
        let appid = appid.ok_or(ConfigError::Missing("WECHAT_APPID"))?;
        let config = Config {
            token,
            appid,
            aes_key,
        };
        config.decoded_key()?;
        Ok(Some(config))
    }

    /// The decoded EncodingAESKey, if one is configured.
    pub fn decoded_key(&self) -> Result<Option<AesKey>, ConfigError> {
        self.aes_key
            .as_deref()
            .map(AesKey::from_encoding_aes_key)
            .transpose()
            .map_err(|e| ConfigError::Invalid {
                var: "WECHAT_AES_KEY",
                reason: e.to_string(),
            })
    }
}

/// What a follower sent, reduced to what the bot acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Text {
        content: String,
    },
    /// A voice message with WeChat's transcript: answered as the typed question it says.
    Voice {
        recognition: String,
    },
    Subscribe,
    Unsubscribe,
    /// A tap on a `click` item of the account's menu, with its key.
    Click {
        key: String,
    },
    /// Any other message type (`image`, `voice`, `location`, …); other events appear as
    /// `event:<Event>`, e.g. `event:VIEW`.
    Other {
        msg_type: String,
    },
}

/// One inbound message for the [`Handler`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The follower's OpenID (`FromUserName`).
    pub openid: String,
    pub inbound: Inbound,
    /// `MsgId`, or `FromUserName#CreateTime` for events: the same for WeChat's retries.
    pub dedup_key: String,
    /// `CreateTime` (Unix seconds; 0 if absent) and `MsgId` as a number (0 for events): a
    /// follower's messages take effect in this order, whichever replica receives them.
    pub sent_at: i64,
    pub seq: i64,
}

/// The bot behind the callback.
pub trait Handler: Send + Sync + 'static {
    /// Returns the reply text (plain text; may be empty for "no reply").
    fn handle(&self, msg: Incoming) -> impl std::future::Future<Output = String> + Send;

    /// Whether this message goes to the account's customer-service staff instead of the bot
    /// (WeChat's `transfer_customer_service` reply: staff take over in their client).
    fn transfer_to_staff(&self, _msg: &Incoming) -> bool {
        false
    }
}

/// Where the callback remembers signed (timestamp, nonce) pairs. [`Store`] implements it, so
/// every replica sharing a database refuses a pair another replica saw with another body.
pub trait Nonces: Send + Sync + 'static {
    /// Records the pair with its body's digest and says whether it was seen before. An error
    /// (store unreachable) makes the callback refuse with 503: it cannot rule out a replay.
    fn remember(
        &self,
        timestamp: &str,
        nonce: &str,
        ts_secs: i64,
        body_sha1: &str,
    ) -> impl std::future::Future<Output = Result<NonceSeen, String>> + Send;
}

impl Nonces for Store {
    async fn remember(
        &self,
        timestamp: &str,
        nonce: &str,
        ts_secs: i64,
        body_sha1: &str,
    ) -> Result<NonceSeen, String> {
        self.remember_wechat_nonce(timestamp, nonce, ts_secs, body_sha1)
            .await
            .map_err(|e| e.to_string())
    }
}

/// What plain mode exposes, for the start-up log (and the README says the same).
pub const PLAIN_MODE_WARNING: &str = "WeChat plain mode (no WECHAT_AES_KEY): messages cross \
     the network readable, and the signature covers only the timestamp and nonce, not the \
     body, so anyone who can see or capture a request (a proxy log is enough) can read it and \
     send one forged message (any sender, e.g. an admin's OpenID) under its signature within \
     5 minutes. Use safe mode (安全模式) with WECHAT_AES_KEY.";

/// The callback router: `GET /` answers WeChat's server verification, `POST /` takes messages.
/// `nonces` is the replay memory (the [`Store`] in production).
pub fn router<H: Handler, N: Nonces>(config: Config, handler: Arc<H>, nonces: N) -> Router {
    let key = match config.decoded_key() {
        Ok(None) => SafeMode::Off,
        Ok(Some(key)) => SafeMode::On(key),
        Err(e) => {
            error!(error = %e, "WeChat safe mode disabled: bad key");
            SafeMode::Broken
        }
    };
    let shared = Arc::new(Shared {
        token: config.token,
        appid: config.appid,
        key,
        handler,
        nonces,
        dedup: Dedup::default(),
    });
    Router::new()
        .route("/", get(verify::<H, N>).post(callback::<H, N>))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

enum SafeMode {
    Off,
    On(AesKey),
    /// A key was configured but is malformed: refuse encrypted messages rather than guess.
    Broken,
}

struct Shared<H, N> {
    token: String,
    appid: String,
    key: SafeMode,
    handler: Arc<H>,
    nonces: N,
    dedup: Dedup,
}

/// The query WeChat adds to every callback; all optional so a bad request gets our status
/// codes rather than the extractor's.
#[derive(Debug, Default, Deserialize)]
struct CallbackQuery {
    signature: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    echostr: Option<String>,
    encrypt_type: Option<String>,
    msg_signature: Option<String>,
}

/// A refused request: logged with its reason (never with secrets) when turned into the
/// response, which carries only the status.
#[derive(Debug)]
struct Reject {
    status: StatusCode,
    reason: String,
}

fn reject(status: StatusCode, reason: impl fmt::Display) -> Reject {
    Reject {
        status,
        reason: reason.to_string(),
    }
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        let status = self.status;
        warn!(status = status.as_u16(), reason = %self.reason, "WeChat callback refused");
        (status, status.canonical_reason().unwrap_or("refused")).into_response()
    }
}

fn plain_text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn verify<H: Handler, N: Nonces>(
    State(s): State<Arc<Shared<H, N>>>,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let Some(echo) = q.echostr.as_deref() else {
        return reject(StatusCode::BAD_REQUEST, "verification without echostr").into_response();
    };
    // The echo is what a replayed verification could change, so it is the "body" here.
    let checked = match s.check_signed(&q, None) {
        Ok(checked) => checked,
        Err(refused) => return refused.into_response(),
    };
    if let Err(refused) = s.check_nonce(&checked, echo.as_bytes()).await {
        return refused.into_response();
    }
    info!("WeChat server verification passed");
    plain_text(echo.to_owned())
}

async fn callback<H: Handler, N: Nonces>(
    State(s): State<Arc<Shared<H, N>>>,
    Query(q): Query<CallbackQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let deadline = Instant::now() + REPLY_DEADLINE;
    let body = match body {
        Ok(body) => body,
        Err(e) => return reject(e.status(), e.body_text()).into_response(),
    };
    let opened = match &s.key {
        SafeMode::On(key) => s.open_safe(key, &q, &body).await,
        SafeMode::Off => s.open_plain(&q, &body).await,
        // A key was meant to be used: fail closed rather than fall back to plain mode.
        SafeMode::Broken => Err(reject(
            StatusCode::INTERNAL_SERVER_ERROR,
            "WECHAT_AES_KEY is malformed; refusing every message",
        )),
    };
    let msg = match opened {
        Ok(msg) => msg,
        Err(refused) => return refused.into_response(),
    };
    let incoming = match incoming(&msg) {
        Ok(incoming) => incoming,
        Err(refused) => return refused.into_response(),
    };
    if s.handler.transfer_to_staff(&incoming) {
        // Nothing is stored or acted on: a retry transfers again, which is what WeChat wants.
        let now = unix_now();
        let xml = protocol::render_transfer_reply(&msg.from_user_name, &msg.to_user_name, now);
        return xml_response(&s, xml, now);
    }
    let reply = s.reply_for(incoming, deadline).await;
    // Last resort: the handler should already have fitted its text with `fit_text`.
    let reply = protocol::fit_text(&reply, protocol::MAX_TEXT_BYTES, CUT_TAIL);
    if reply.is_empty() {
        return plain_text(NO_REPLY.to_owned());
    }
    let now = unix_now();
    let xml = protocol::render_text_reply(&msg.from_user_name, &msg.to_user_name, now, &reply);
    xml_response(&s, xml, now)
}

/// A passive reply, sealed in safe mode.
fn xml_response<H: Handler, N: Nonces>(s: &Shared<H, N>, xml: String, now: u64) -> Response {
    let xml = match &s.key {
        SafeMode::On(key) => s.seal(key, &xml, now),
        _ => xml,
    };
    (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        xml,
    )
        .into_response()
}

/// A request whose signature and timestamp passed: what the replay memory needs.
struct Signed<'q> {
    timestamp: &'q str,
    nonce: &'q str,
    ts_secs: i64,
}

impl<H: Handler, N: Nonces> Shared<H, N> {
    /// Checks the signature (`msg_signature` over `encrypt` when given, else the plain
    /// `signature`) and that the timestamp and nonce are present, non-empty and fresh.
    fn check_signed<'q>(
        &self,
        q: &'q CallbackQuery,
        encrypt: Option<&str>,
    ) -> Result<Signed<'q>, Reject> {
        let (Some(timestamp), Some(nonce)) = (q.timestamp.as_deref(), q.nonce.as_deref()) else {
            return Err(reject(StatusCode::FORBIDDEN, "missing timestamp or nonce"));
        };
        let good = match encrypt {
            Some(encrypt) => q.msg_signature.as_deref().is_some_and(|sig| {
                protocol::verify_signature(
                    sig,
                    &protocol::msg_signature(&self.token, timestamp, nonce, encrypt),
                )
            }),
            None => q.signature.as_deref().is_some_and(|sig| {
                protocol::verify_signature(sig, &protocol::signature(&self.token, timestamp, nonce))
            }),
        };
        if !good {
            return Err(reject(StatusCode::FORBIDDEN, "bad signature"));
        }
        let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
        let ts_secs = protocol::check_fresh(timestamp, nonce, now)
            .map_err(|e| reject(StatusCode::FORBIDDEN, e))?;
        Ok(Signed {
            timestamp,
            nonce,
            ts_secs,
        })
    }

    /// Refuses a signed pair already seen with a different body; fails closed (503) when the
    /// replay memory cannot be reached.
    async fn check_nonce(&self, signed: &Signed<'_>, body: &[u8]) -> Result<(), Reject> {
        let digest = protocol::body_digest(body);
        match self
            .nonces
            .remember(signed.timestamp, signed.nonce, signed.ts_secs, &digest)
            .await
        {
            Ok(NonceSeen::New | NonceSeen::SameBody) => Ok(()),
            Ok(NonceSeen::OtherBody) => Err(reject(
                StatusCode::FORBIDDEN,
                "timestamp and nonce reused with another body (replay)",
            )),
            Err(e) => Err(reject(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("replay check unavailable: {e}"),
            )),
        }
    }

    async fn open_plain(&self, q: &CallbackQuery, body: &[u8]) -> Result<Message, Reject> {
        if q.encrypt_type.as_deref() == Some("aes") {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "encrypted message but WECHAT_AES_KEY is not set",
            ));
        }
        let signed = self.check_signed(q, None)?;
        self.check_nonce(&signed, body).await?;
        let xml = std::str::from_utf8(body)
            .map_err(|_| reject(StatusCode::BAD_REQUEST, "body is not UTF-8"))?;
        protocol::parse_message(xml).map_err(|e| reject(StatusCode::BAD_REQUEST, e))
    }

    /// With a key, the message is only ever the decrypted `Encrypt` element, whatever
    /// `encrypt_type` says and whatever plain fields travel next to it.
    async fn open_safe(
        &self,
        key: &AesKey,
        q: &CallbackQuery,
        body: &[u8],
    ) -> Result<Message, Reject> {
        let xml = std::str::from_utf8(body)
            .map_err(|_| reject(StatusCode::BAD_REQUEST, "body is not UTF-8"))?;
        let envelope =
            protocol::parse_message(xml).map_err(|e| reject(StatusCode::BAD_REQUEST, e))?;
        let Some(encrypt) = envelope.encrypt else {
            return Err(reject(
                StatusCode::FORBIDDEN,
                "no Encrypt element: plain messages are refused while WECHAT_AES_KEY is set \
                 (is the account still in safe or compatible mode?)",
            ));
        };
        let signed = self.check_signed(q, Some(&encrypt))?;
        self.check_nonce(&signed, body).await?;
        let (inner, appid) =
            protocol::decrypt(key, &encrypt).map_err(|e| reject(StatusCode::BAD_REQUEST, e))?;
        if appid != self.appid {
            return Err(reject(StatusCode::FORBIDDEN, "message for another AppID"));
        }
        protocol::parse_message(&inner).map_err(|e| reject(StatusCode::BAD_REQUEST, e))
    }

    /// Encrypts a reply into the safe-mode envelope with a fresh nonce and timestamp.
    fn seal(&self, key: &AesKey, xml: &str, now: u64) -> String {
        let nonce: String = rand::thread_rng()
            .sample_iter(Alphanumeric)
            .take(16)
            .map(char::from)
            .collect();
        let encrypt = protocol::encrypt(key, &self.appid, xml);
        let timestamp = now.to_string();
        let sig = protocol::msg_signature(&self.token, &timestamp, &nonce, &encrypt);
        protocol::render_envelope(&encrypt, &sig, now, &nonce)
    }

    /// The handler's reply to `incoming`, running the handler only for the first copy of a
    /// message; empty if it is not ready by `deadline` (it keeps running for the retry).
    async fn reply_for(&self, incoming: Incoming, deadline: Instant) -> String {
        let (mut rx, first) = self.dedup.claim(&incoming.dedup_key);
        match first {
            Some(tx) => {
                debug!(openid = %incoming.openid, key = %incoming.dedup_key, "WeChat message");
                let handler = Arc::clone(&self.handler);
                tokio::spawn(async move {
                    let reply = handler.handle(incoming).await;
                    // Stores the reply even if every waiter has gone, for a later retry.
                    tx.send_replace(Some(reply));
                });
            }
            None => debug!(key = %incoming.dedup_key, "WeChat retry; reusing the reply"),
        }
        match tokio::time::timeout_at(deadline, rx.wait_for(Option::is_some)).await {
            Ok(Ok(reply)) => reply.clone().unwrap_or_default(),
            Ok(Err(_)) => {
                error!("WeChat handler ended without a reply");
                String::new()
            }
            Err(_) => {
                info!("WeChat handler too slow; answered `success`, reply kept for the retry");
                String::new()
            }
        }
    }
}

/// Maps a parsed message to what the handler sees; 400 if WeChat's required fields are absent.
fn incoming(msg: &Message) -> Result<Incoming, Reject> {
    if msg.from_user_name.is_empty() || msg.msg_type.is_empty() {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "message without FromUserName or MsgType",
        ));
    }
    let inbound = match msg.msg_type.as_str() {
        "text" => Inbound::Text {
            content: msg.content.clone().unwrap_or_default(),
        },
        // Without a transcript (recognition off, or nothing heard) a voice message is one the
        // bot cannot read.
        "voice" => match msg.recognition.as_deref().map(str::trim) {
            Some(heard) if !heard.is_empty() => Inbound::Voice {
                recognition: heard.to_owned(),
            },
            _ => Inbound::Other {
                msg_type: "voice".into(),
            },
        },
        "event" => match msg.event.as_deref().unwrap_or_default() {
            e if e.eq_ignore_ascii_case("subscribe") => Inbound::Subscribe,
            e if e.eq_ignore_ascii_case("unsubscribe") => Inbound::Unsubscribe,
            e if e.eq_ignore_ascii_case("CLICK") => Inbound::Click {
                key: msg.event_key.clone().unwrap_or_default(),
            },
            e => Inbound::Other {
                msg_type: format!("event:{e}"),
            },
        },
        other => Inbound::Other {
            msg_type: other.to_owned(),
        },
    };
    // Events carry no MsgId; WeChat's retries repeat sender, time, event and key, while a
    // LOCATION and a subscribe in the same second differ in the event.
    let dedup_key = match msg.msg_id.as_deref() {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => format!(
            "{}#{}#{}#{}",
            msg.from_user_name,
            msg.create_time,
            msg.event.as_deref().unwrap_or_default(),
            msg.event_key.as_deref().unwrap_or_default()
        ),
    };
    Ok(Incoming {
        openid: msg.from_user_name.clone(),
        inbound,
        dedup_key,
        sent_at: msg.create_time.trim().parse().unwrap_or(0),
        seq: msg
            .msg_id
            .as_deref()
            .and_then(|id| id.trim().parse().ok())
            .unwrap_or(0),
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

type ReplySlot = watch::Receiver<Option<String>>;

/// Replies in flight (`None`) and recently finished (`Some`), by dedup key.
#[derive(Default)]
struct Dedup {
    inner: Mutex<DedupInner>,
}

#[derive(Default)]
struct DedupInner {
    slots: HashMap<String, ReplySlot>,
    /// Insertion order, for expiry and the capacity bound.
    order: VecDeque<(std::time::Instant, String)>,
}

impl Dedup {
    /// The slot for `key`, and the sender to fill it if this is the key's first sighting.
    fn claim(&self, key: &str) -> (ReplySlot, Option<watch::Sender<Option<String>>>) {
        self.claim_at(key, std::time::Instant::now())
    }

    fn claim_at(
        &self,
        key: &str,
        now: std::time::Instant,
    ) -> (ReplySlot, Option<watch::Sender<Option<String>>>) {
        // Nothing panics while the lock is held, but a poisoned map is still a valid map.
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some((at, _)) = inner.order.front() {
            if now.duration_since(*at) < DEDUP_TTL && inner.order.len() < DEDUP_CAPACITY {
                break;
            }
            if let Some((_, old)) = inner.order.pop_front() {
                inner.slots.remove(&old);
            }
        }
        if let Some(rx) = inner.slots.get(key) {
            return (rx.clone(), None);
        }
        let (tx, rx) = watch::channel(None);
        inner.slots.insert(key.to_owned(), rx.clone());
        inner.order.push_back((now, key.to_owned()));
        (rx, Some(tx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.into())
    }

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    #[test]
    fn config_from_env() {
        assert_eq!(Config::from_lookup(lookup(&[])), Ok(None));
        let c = Config::from_lookup(lookup(&[("WECHAT_TOKEN", "t"), ("WECHAT_APPID", "wx1")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.token.as_str(), c.appid.as_str(), c.aes_key),
            ("t", "wx1", None)
        );
        let c = Config::from_lookup(lookup(&[
            ("WECHAT_TOKEN", "t"),
            ("WECHAT_APPID", "wx1"),
            ("WECHAT_AES_KEY", KEY),
        ]))
        .unwrap()
        .unwrap();
        assert!(c.decoded_key().unwrap().is_some());
        let debug = format!("{c:?}");
        assert!(!debug.contains(KEY) && debug.contains("wx1"));
    }

    #[test]
    fn config_errors_name_the_variable() {
        let err =
            |vars: &[(&str, &str)]| Config::from_lookup(lookup(vars)).unwrap_err().to_string();
        assert!(err(&[("WECHAT_APPID", "wx")]).starts_with("WECHAT_TOKEN"));
        assert!(err(&[("WECHAT_AES_KEY", KEY)]).starts_with("WECHAT_TOKEN"));
        assert!(err(&[("WECHAT_TOKEN", "t")]).starts_with("WECHAT_APPID"));
        let e = err(&[
            ("WECHAT_TOKEN", "t"),
            ("WECHAT_APPID", "wx"),
            ("WECHAT_AES_KEY", "tooshort"),
        ]);
        assert!(
            e.starts_with("WECHAT_AES_KEY") && !e.contains("tooshort"),
            "{e}"
        );
    }

    fn message(msg_type: &str, event: Option<&str>, msg_id: Option<&str>) -> Message {
        Message {
            from_user_name: "oUser".into(),
            to_user_name: "gh".into(),
            create_time: "123".into(),
            msg_type: msg_type.into(),
            content: Some("hi".into()),
            msg_id: msg_id.map(Into::into),
            event: event.map(Into::into),
            event_key: None,
            recognition: None,
            encrypt: None,
        }
    }

    #[test]
    fn events_of_one_second_are_told_apart() {
        let mut location = message("event", Some("LOCATION"), None);
        let subscribe = message("event", Some("subscribe"), None);
        let a = incoming(&location).unwrap().dedup_key;
        assert_ne!(a, incoming(&subscribe).unwrap().dedup_key);
        // A retry repeats all four, so it is the same message.
        assert_eq!(a, incoming(&location.clone()).unwrap().dedup_key);
        let mut menu_a = message("event", Some("CLICK"), None);
        menu_a.event_key = Some("TASKS".into());
        let mut menu_b = menu_a.clone();
        menu_b.event_key = Some("HELP".into());
        assert_ne!(
            incoming(&menu_a).unwrap().dedup_key,
            incoming(&menu_b).unwrap().dedup_key
        );
        location.event_key = Some(String::new());
        assert_eq!(incoming(&location).unwrap().dedup_key, a);
    }

    #[test]
    fn voice_is_read_only_with_a_transcript() {
        let mut voice = message("voice", None, Some("9"));
        voice.content = None;
        assert_eq!(
            incoming(&voice).unwrap().inbound,
            Inbound::Other {
                msg_type: "voice".into()
            }
        );
        voice.recognition = Some("  ".into());
        assert!(matches!(
            incoming(&voice).unwrap().inbound,
            Inbound::Other { .. }
        ));
        voice.recognition = Some("错时共享停车是啥子".into());
        assert_eq!(
            incoming(&voice).unwrap().inbound,
            Inbound::Voice {
                recognition: "错时共享停车是啥子".into()
            }
        );
    }

    #[test]
    fn incoming_mapping() {
        let i = incoming(&message("text", None, Some("42"))).unwrap();
        assert_eq!(
            i.inbound,
            Inbound::Text {
                content: "hi".into()
            }
        );
        assert_eq!((i.openid.as_str(), i.dedup_key.as_str()), ("oUser", "42"));
        let i = incoming(&message("event", Some("subscribe"), None)).unwrap();
        assert_eq!(
            (i.inbound, i.dedup_key.as_str()),
            (Inbound::Subscribe, "oUser#123#subscribe#")
        );
        let i = incoming(&message("event", Some("unsubscribe"), None)).unwrap();
        assert_eq!(i.inbound, Inbound::Unsubscribe);
        let mut click = message("event", Some("CLICK"), None);
        click.event_key = Some("TASKS".into());
        let i = incoming(&click).unwrap();
        assert_eq!(
            i.inbound,
            Inbound::Click {
                key: "TASKS".into()
            }
        );
        let i = incoming(&message("event", Some("VIEW"), None)).unwrap();
        assert_eq!(
            i.inbound,
            Inbound::Other {
                msg_type: "event:VIEW".into()
            }
        );
        let i = incoming(&message("image", None, Some("7"))).unwrap();
        assert_eq!(
            i.inbound,
            Inbound::Other {
                msg_type: "image".into()
            }
        );
        assert!(incoming(&message("", None, None)).is_err());
    }

    #[test]
    fn dedup_is_bounded() {
        let d = Dedup::default();
        for i in 0..DEDUP_CAPACITY + 10 {
            assert!(d.claim(&i.to_string()).1.is_some());
        }
        assert!(d.claim(&(DEDUP_CAPACITY + 9).to_string()).1.is_none());
        let inner = d.inner.lock().unwrap();
        assert!(inner.slots.len() <= DEDUP_CAPACITY);
        assert_eq!(inner.slots.len(), inner.order.len());
    }

    #[test]
    fn dedup_expires() {
        let d = Dedup::default();
        let t0 = std::time::Instant::now();
        assert!(d.claim_at("a", t0).1.is_some());
        assert!(d.claim_at("a", t0 + DEDUP_TTL / 2).1.is_none());
        assert!(d.claim_at("a", t0 + DEDUP_TTL).1.is_some());
    }
}
