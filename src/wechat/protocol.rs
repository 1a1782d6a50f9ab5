//! The WeChat Official Account callback protocol: signatures, safe-mode crypto and XML.
//!
//! Pure functions, no I/O, so every piece can be checked against the published protocol in
//! isolation. Nothing here panics on input from the network.

use std::fmt;

use aes::Aes256;
use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::{DecodePaddingMode, general_purpose};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use rand::RngCore;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// The most UTF-8 bytes WeChat shows in one text message.
pub const MAX_TEXT_BYTES: usize = 2048;

/// PKCS#7 block size WeChat pads to: 32 bytes, not AES's 16.
const PAD_BLOCK: usize = 32;
/// Random prefix + big-endian length before the XML in the plaintext.
const FRAME_HEAD: usize = 20;

// --- signatures ---------------------------------------------------------------------------

/// The plain-mode `signature`: SHA-1 hex of token, timestamp and nonce, sorted and joined.
pub fn signature(token: &str, timestamp: &str, nonce: &str) -> String {
    sorted_sha1(&mut [token, timestamp, nonce])
}

/// The safe-mode `msg_signature`: as [`signature`], with the `Encrypt` field as a fourth part.
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    sorted_sha1(&mut [token, timestamp, nonce, encrypt])
}

fn sorted_sha1(parts: &mut [&str]) -> String {
    parts.sort_unstable();
    let mut sha = Sha1::new();
    for p in parts.iter() {
        sha.update(p.as_bytes());
    }
    sha.finalize()
        .iter()
        .fold(String::with_capacity(40), |mut s, b| {
            use fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Compares a signature from a request with the expected one in constant time, so response
/// timing does not reveal how many leading characters of a forgery were right. WeChat sends
/// lowercase hex; uppercase is accepted too.
pub fn verify_signature(given: &str, expected: &str) -> bool {
    let given = given.to_ascii_lowercase();
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

// --- freshness ----------------------------------------------------------------------------

/// How far (seconds) a callback's timestamp may be from now, either way.
pub const FRESHNESS_SECS: i64 = crate::store::REPLAY_WINDOW_SECS;
/// WeChat's nonces are ~10 digits; anything much longer is not WeChat and would only bloat
/// the replay memory.
const MAX_NONCE_BYTES: usize = 64;

/// Why a callback's timestamp or nonce was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FreshnessError {
    #[error("timestamp or nonce missing or empty")]
    Missing,
    #[error("timestamp is not a number of seconds")]
    Malformed,
    #[error("nonce longer than {MAX_NONCE_BYTES} bytes")]
    NonceTooLong,
    #[error("timestamp is {0} s from now, more than the {FRESHNESS_SECS} s allowed")]
    Stale(i64),
}

/// Checks a callback's `timestamp` and `nonce` at `now` (Unix seconds): both present and
/// non-empty (a signature over empty ones is just the hash of the token), the timestamp within
/// [`FRESHNESS_SECS`] of now. Returns the timestamp in seconds. Pure, for testing at any `now`.
pub fn check_fresh(timestamp: &str, nonce: &str, now: i64) -> Result<i64, FreshnessError> {
    if timestamp.is_empty() || nonce.is_empty() {
        return Err(FreshnessError::Missing);
    }
    if nonce.len() > MAX_NONCE_BYTES {
        return Err(FreshnessError::NonceTooLong);
    }
    // Digits only: `+5` or ` 5` would parse or compare differently from what was signed.
    if timestamp.len() > 12 || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FreshnessError::Malformed);
    }
    let ts: i64 = timestamp.parse().map_err(|_| FreshnessError::Malformed)?;
    let skew = ts.saturating_sub(now);
    if skew.saturating_abs() > FRESHNESS_SECS {
        return Err(FreshnessError::Stale(skew));
    }
    Ok(ts)
}

/// SHA-1 hex of a request body, to tell WeChat's retry (same body) from a replay (another).
pub fn body_digest(body: &[u8]) -> String {
    Sha1::digest(body)
        .iter()
        .fold(String::with_capacity(40), |mut s, b| {
            use fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        })
}

// --- safe-mode crypto ---------------------------------------------------------------------

/// The AES-256 key decoded from an EncodingAESKey. `Debug` never shows the key.
#[derive(Clone)]
pub struct AesKey([u8; 32]);

impl fmt::Debug for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AesKey(<redacted>)")
    }
}

/// Why an EncodingAESKey was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("EncodingAESKey must be 43 characters, got {0}")]
    Length(usize),
    #[error("EncodingAESKey is not valid base64")]
    Base64,
}

/// WeChat's console draws EncodingAESKeys from `[A-Za-z0-9]`, so the last character may carry
/// non-zero spare bits that a strict decoder rejects; WeChat's own samples (PHP) ignore them.
const LENIENT_KEY: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl AesKey {
    /// Decodes the 43-character EncodingAESKey from the WeChat console.
    pub fn from_encoding_aes_key(encoding_aes_key: &str) -> Result<AesKey, KeyError> {
        let n = encoding_aes_key.chars().count();
        if n != 43 {
            return Err(KeyError::Length(n));
        }
        let bytes = LENIENT_KEY
            .decode(format!("{encoding_aes_key}="))
            .map_err(|_| KeyError::Base64)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Base64)?;
        Ok(AesKey(key))
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }
}

/// Why a safe-mode `Encrypt` field could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("ciphertext is not valid base64")]
    Base64,
    #[error("ciphertext length {0} is not a positive multiple of the AES block")]
    Length(usize),
    #[error("bad PKCS#7 padding")]
    Padding,
    #[error("plaintext frame is too short or its length field is out of range")]
    Frame,
    #[error("plaintext is not UTF-8")]
    Utf8,
}

/// Encrypts `xml` for `appid` exactly as WeChat does: 16 random bytes, the XML length as a
/// 4-byte big-endian integer, the XML, the AppID; PKCS#7-padded to 32 bytes; AES-256-CBC with
/// the key's first 16 bytes as IV; base64.
pub fn encrypt(key: &AesKey, appid: &str, xml: &str) -> String {
    let mut random = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut random);
    encrypt_with_random(key, appid, xml, random)
}

/// [`encrypt`] with a chosen random prefix, for reproducible tests.
pub fn encrypt_with_random(key: &AesKey, appid: &str, xml: &str, random: [u8; 16]) -> String {
    let mut buf = Vec::with_capacity(FRAME_HEAD + xml.len() + appid.len() + PAD_BLOCK);
    buf.extend_from_slice(&random);
    // WeChat messages are far below 4 GiB; saturate rather than wrap if one ever is not.
    buf.extend_from_slice(&u32::try_from(xml.len()).unwrap_or(u32::MAX).to_be_bytes());
    buf.extend_from_slice(xml.as_bytes());
    buf.extend_from_slice(appid.as_bytes());
    let pad = PAD_BLOCK - buf.len() % PAD_BLOCK; // 1..=32
    buf.resize(buf.len() + pad, pad as u8);
    let len = buf.len();
    let cipher = cbc::Encryptor::<Aes256>::new(&key.0.into(), &key.iv().into());
    // The buffer is block-aligned by construction, so this cannot fail; fall back to the
    // unencrypted length only to avoid a panic path.
    let ct = cipher
        .encrypt_padded_mut::<NoPadding>(&mut buf, len)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    STANDARD.encode(ct)
}

/// Decrypts a safe-mode `Encrypt` field into `(xml, appid)`. The caller checks the AppID.
///
/// Padding errors are not an oracle: the router checks `msg_signature` before decrypting,
/// and a forger cannot produce one without the token.
pub fn decrypt(key: &AesKey, b64: &str) -> Result<(String, String), CryptoError> {
    let mut buf = general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| CryptoError::Base64)?;
    let n = buf.len();
    if n == 0 || n % 16 != 0 {
        return Err(CryptoError::Length(n));
    }
    let cipher = cbc::Decryptor::<Aes256>::new(&key.0.into(), &key.iv().into());
    let plain = cipher
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .map_err(|_| CryptoError::Length(n))?;
    let pad = usize::from(*plain.last().ok_or(CryptoError::Padding)?);
    // 1..=32, not 1..=16: WeChat pads to 32-byte blocks.
    if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
        return Err(CryptoError::Padding);
    }
    let (body, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|&b| usize::from(b) != pad) {
        return Err(CryptoError::Padding);
    }
    if body.len() < FRAME_HEAD {
        return Err(CryptoError::Frame);
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&body[16..FRAME_HEAD]);
    let xml_len = usize::try_from(u32::from_be_bytes(len)).map_err(|_| CryptoError::Frame)?;
    let rest = &body[FRAME_HEAD..];
    if xml_len > rest.len() {
        return Err(CryptoError::Frame);
    }
    let (xml, appid) = rest.split_at(xml_len);
    let xml = std::str::from_utf8(xml).map_err(|_| CryptoError::Utf8)?;
    let appid = std::str::from_utf8(appid).map_err(|_| CryptoError::Utf8)?;
    Ok((xml.to_owned(), appid.to_owned()))
}

// --- XML ----------------------------------------------------------------------------------

/// The fields of an inbound message (or of a safe-mode envelope, which has only
/// `ToUserName` and `Encrypt`) that the adapter uses. Absent fields are empty / `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub to_user_name: String,
    pub from_user_name: String,
    pub create_time: String,
    pub msg_type: String,
    pub content: Option<String>,
    pub msg_id: Option<String>,
    pub event: Option<String>,
    /// `EventKey` of an event (a menu item's key, a QR scene): part of what tells two events
    /// of one second apart.
    pub event_key: Option<String>,
    /// `Recognition`: WeChat's transcript of a voice message, when the account has
    /// speech recognition switched on.
    pub recognition: Option<String>,
    pub encrypt: Option<String>,
}

/// Why inbound XML was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("malformed XML: {0}")]
    Syntax(String),
    #[error("XML has no root element")]
    NoRoot,
    #[error("XML has content after the root element")]
    TrailingContent,
    #[error("unknown entity &{0};")]
    UnknownEntity(String),
}

/// Parses the flat `<xml><Field>value</Field>…</xml>` WeChat sends. Fields may be text or
/// CDATA (or both); unknown and nested fields (e.g. `ScanCodeInfo`) are skipped.
pub fn parse_message(xml: &str) -> Result<Message, XmlError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut msg = Message::default();
    let mut depth = 0usize;
    let mut seen_root = false;
    // The depth-1 field being read and its text so far.
    let mut field: Option<(Vec<u8>, String)> = None;
    let syntax = |e: &dyn fmt::Display| XmlError::Syntax(e.to_string());
    loop {
        let ev = reader.read_event().map_err(|e| syntax(&e))?;
        match ev {
            Event::Start(start) => {
                check_attributes(&start)?;
                match depth {
                    0 if seen_root => return Err(XmlError::TrailingContent),
                    0 => seen_root = true,
                    1 => field = Some((start.name().as_ref().to_vec(), String::new())),
                    _ => {}
                }
                depth += 1;
            }
            Event::Empty(empty) => {
                check_attributes(&empty)?;
                match depth {
                    0 if seen_root => return Err(XmlError::TrailingContent),
                    0 => seen_root = true,
                    1 => set_field(&mut msg, empty.name().as_ref(), String::new()),
                    _ => {}
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 1
                    && let Some((name, value)) = field.take()
                {
                    set_field(&mut msg, &name, value);
                }
            }
            Event::Text(t) => {
                let text = t.xml10_content().map_err(|e| syntax(&e))?;
                if depth == 0 && !text.trim().is_empty() {
                    return Err(XmlError::Syntax("text outside the root element".into()));
                }
                if depth == 2
                    && let Some((_, value)) = field.as_mut()
                {
                    value.push_str(&text);
                }
            }
            Event::CData(c) => {
                if depth == 0 {
                    return Err(XmlError::Syntax("CDATA outside the root element".into()));
                }
                let text = c.xml10_content().map_err(|e| syntax(&e))?;
                if depth == 2
                    && let Some((_, value)) = field.as_mut()
                {
                    value.push_str(&text);
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| syntax(&e))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| syntax(&e))?;
                        resolve_predefined_entity(&name)
                            .ok_or_else(|| XmlError::UnknownEntity(name.clone().into_owned()))?
                            .to_owned()
                    }
                };
                if depth == 0 {
                    return Err(XmlError::Syntax(
                        "reference outside the root element".into(),
                    ));
                }
                if depth == 2
                    && let Some((_, value)) = field.as_mut()
                {
                    value.push_str(&resolved);
                }
            }
            // A DOCTYPE could declare entities; WeChat never sends one, so refuse it outright.
            Event::DocType(_) => return Err(XmlError::Syntax("DOCTYPE not allowed".into())),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !seen_root {
        return Err(XmlError::NoRoot);
    }
    if depth != 0 {
        return Err(XmlError::Syntax("unclosed element".into()));
    }
    Ok(msg)
}

/// WeChat sends no attributes, but quick-xml only checks them when asked; refuse broken ones
/// so every malformed document is an error.
fn check_attributes(start: &quick_xml::events::BytesStart<'_>) -> Result<(), XmlError> {
    for attr in start.attributes() {
        attr.map_err(|e| XmlError::Syntax(e.to_string()))?;
    }
    Ok(())
}

fn set_field(msg: &mut Message, name: &[u8], value: String) {
    match name {
        b"ToUserName" => msg.to_user_name = value,
        b"FromUserName" => msg.from_user_name = value,
        b"CreateTime" => msg.create_time = value.trim().to_owned(),
        b"MsgType" => msg.msg_type = value.trim().to_owned(),
        b"Content" => msg.content = Some(value),
        b"MsgId" | b"MsgID" => msg.msg_id = Some(value.trim().to_owned()),
        b"Event" => msg.event = Some(value.trim().to_owned()),
        b"EventKey" => msg.event_key = Some(value.trim().to_owned()),
        b"Recognition" => msg.recognition = Some(value),
        b"Encrypt" => msg.encrypt = Some(value),
        _ => {}
    }
}

/// Wraps `text` in CDATA. A `]]>` inside would end the section early, so it is split across
/// two sections; characters XML 1.0 forbids even in CDATA are dropped.
pub fn cdata(text: &str) -> String {
    let clean: String = text.chars().filter(|&c| is_xml_char(c)).collect();
    format!("<![CDATA[{}]]>", clean.replace("]]>", "]]]]><![CDATA[>"))
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// A passive text reply. `to_user` is the inbound `FromUserName` (the follower's OpenID) and
/// `from_user` the inbound `ToUserName` (the account) — the caller swaps them.
pub fn render_text_reply(
    to_user: &str,
    from_user: &str,
    create_time: u64,
    content: &str,
) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
         <Content>{}</Content></xml>",
        cdata(to_user),
        cdata(from_user),
        cdata(content),
    )
}

/// The passive reply that hands the conversation to the account's customer-service staff
/// (多客服): WeChat routes the message to them instead of showing a bot reply.
pub fn render_transfer_reply(to_user: &str, from_user: &str, create_time: u64) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName>\
         <CreateTime>{create_time}</CreateTime>\
         <MsgType><![CDATA[transfer_customer_service]]></MsgType></xml>",
        cdata(to_user),
        cdata(from_user),
    )
}

/// The safe-mode reply envelope around an encrypted reply.
pub fn render_envelope(encrypt: &str, msg_signature: &str, timestamp: u64, nonce: &str) -> String {
    format!(
        "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature>\
         <TimeStamp>{timestamp}</TimeStamp><Nonce>{}</Nonce></xml>",
        cdata(encrypt),
        cdata(msg_signature),
        cdata(nonce),
    )
}

// --- text ---------------------------------------------------------------------------------

/// Fits `text` into `limit_bytes` of UTF-8. Text that fits is returned as is; otherwise it is
/// cut on a char boundary — at the last line break if that keeps at least half of the room —
/// and `tail` (e.g. "…更多见官网") is appended. If `tail` alone does not fit, it is left out.
pub fn fit_text(text: &str, limit_bytes: usize, tail: &str) -> String {
    if text.len() <= limit_bytes {
        return text.to_owned();
    }
    let (room, tail) = match limit_bytes.checked_sub(tail.len()) {
        Some(room) => (room, tail),
        None => (limit_bytes, ""),
    };
    let mut cut = room;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut head = &text[..cut];
    if let Some(nl) = head.rfind('\n')
        && nl >= room / 2
    {
        head = &head[..nl];
    }
    let mut out = head.trim_end().to_owned();
    out.push_str(tail);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The sample from WeChat's message-encryption documentation.
    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    fn key() -> AesKey {
        AesKey::from_encoding_aes_key(KEY).unwrap()
    }

    #[test]
    fn signature_matches_documented_algorithm() {
        // sha1("1409304348" + "nonce" + "token"), computed independently.
        let mut parts = ["token", "1409304348", "nonce"];
        parts.sort();
        let mut sha = Sha1::new();
        sha.update(parts.concat());
        let want: String = sha.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(signature("token", "1409304348", "nonce"), want);
        assert!(verify_signature(
            &want,
            &signature("token", "1409304348", "nonce")
        ));
        assert!(verify_signature(&want.to_uppercase(), &want));
        assert!(!verify_signature(&want[1..], &want));
        assert!(!verify_signature("", &want));
        assert_ne!(
            msg_signature("token", "1", "n", "a"),
            msg_signature("token", "1", "n", "b")
        );
    }

    #[test]
    fn freshness() {
        let now = 1_700_000_000;
        assert_eq!(check_fresh("1700000000", "n", now), Ok(now));
        assert_eq!(check_fresh("1699999700", "n", now), Ok(now - 300));
        assert_eq!(check_fresh("1700000300", "n", now), Ok(now + 300));
        assert_eq!(
            check_fresh("1699999699", "n", now),
            Err(FreshnessError::Stale(-301))
        );
        assert_eq!(
            check_fresh("1700000301", "n", now),
            Err(FreshnessError::Stale(301))
        );
        assert_eq!(check_fresh("", "n", now), Err(FreshnessError::Missing));
        assert_eq!(
            check_fresh("1700000000", "", now),
            Err(FreshnessError::Missing)
        );
        for bad in [
            "+1700000000",
            " 1700000000",
            "1.7e9",
            "-1",
            "99999999999999999999",
        ] {
            assert_eq!(
                check_fresh(bad, "n", now),
                Err(FreshnessError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            check_fresh("1700000000", &"n".repeat(65), now),
            Err(FreshnessError::NonceTooLong)
        );
        assert_eq!(check_fresh("0", "n", 0), Ok(0));
        assert!(check_fresh("999999999999", "n", i64::MIN).is_err());
    }

    #[test]
    fn key_decoding() {
        assert!(AesKey::from_encoding_aes_key(KEY).is_ok());
        assert_eq!(
            AesKey::from_encoding_aes_key("short").unwrap_err(),
            KeyError::Length(5)
        );
        let bad = format!("{}!", &KEY[..42]);
        assert_eq!(
            AesKey::from_encoding_aes_key(&bad).unwrap_err(),
            KeyError::Base64
        );
        // Last char 'G' has non-zero spare bits; a strict decoder would refuse it.
        assert!(STANDARD.decode(format!("{KEY}=")).is_err());
        assert_eq!(format!("{:?}", key()), "AesKey(<redacted>)");
    }

    #[test]
    fn round_trip_and_all_pad_lengths() {
        let k = key();
        for extra in 0..64 {
            let xml = format!("<xml>{}</xml>", "x".repeat(extra));
            let ct = encrypt(&k, "wxappid", &xml);
            let raw = STANDARD.decode(&ct).unwrap();
            assert_eq!(raw.len() % 32, 0);
            assert_eq!(decrypt(&k, &ct).unwrap(), (xml, "wxappid".to_owned()));
        }
    }

    #[test]
    fn decrypt_rejects() {
        let k = key();
        assert_eq!(decrypt(&k, "not base64!").unwrap_err(), CryptoError::Base64);
        assert_eq!(decrypt(&k, "").unwrap_err(), CryptoError::Length(0));
        assert_eq!(
            decrypt(&k, &STANDARD.encode([0u8; 15])).unwrap_err(),
            CryptoError::Length(15)
        );
        let other = AesKey::from_encoding_aes_key(&"A".repeat(43)).unwrap();
        let ct = encrypt(&other, "wx", "<xml/>");
        assert!(decrypt(&k, &ct).is_err());
    }

    #[test]
    fn parses_text_message() {
        let xml = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>\
            <FromUserName><![CDATA[oUser]]></FromUserName><CreateTime>1348831860</CreateTime>\
            <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[a ]]]]><![CDATA[> b &amp;]]></Content>\
            <MsgId>1234567890123456</MsgId></xml>";
        let m = parse_message(xml).unwrap();
        assert_eq!(m.to_user_name, "gh_1");
        assert_eq!(m.from_user_name, "oUser");
        assert_eq!(m.create_time, "1348831860");
        assert_eq!(m.msg_type, "text");
        assert_eq!(m.content.as_deref(), Some("a ]]> b &amp;"));
        assert_eq!(m.msg_id.as_deref(), Some("1234567890123456"));
        let m = parse_message("<xml><Content>a &lt;&#x4e2d;&#25991;</Content></xml>").unwrap();
        assert_eq!(m.content.as_deref(), Some("a <中文"));
    }

    #[test]
    fn parses_event_with_nested_fields() {
        let xml = "<xml><FromUserName>u</FromUserName><MsgType>event</MsgType>\
            <Event>scancode_push</Event><ScanCodeInfo><ScanType>qrcode</ScanType></ScanCodeInfo></xml>";
        let m = parse_message(xml).unwrap();
        assert_eq!(m.event.as_deref(), Some("scancode_push"));
        assert_eq!(m.msg_type, "event");
    }

    #[test]
    fn malformed_xml_is_an_error() {
        for bad in [
            "",
            "plain text",
            "<xml><Content>x</xml>",
            "<xml><Content>x</Content>",
            "<xml></xml><xml></xml>",
            "<xml>&bogus;</xml>",
            "<!DOCTYPE x [<!ENTITY a 'b'>]><xml>&a;</xml>",
            "<xml><a b=></a></xml>",
            "<xml><Content>&#0;</Content></xml>",
        ] {
            assert!(parse_message(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reply_xml_round_trips_through_parser() {
        let content = "x ]]> y ]]]]> <b>&amp;\u{1}";
        let xml = render_text_reply("oUser", "gh_1", 42, content);
        let m = parse_message(&xml).unwrap();
        assert_eq!(m.to_user_name, "oUser");
        assert_eq!(m.from_user_name, "gh_1");
        assert_eq!(m.create_time, "42");
        assert_eq!(m.msg_type, "text");
        assert_eq!(m.content.as_deref(), Some("x ]]> y ]]]]> <b>&amp;"));
    }

    #[test]
    fn fit_text_cuts_on_boundaries() {
        assert_eq!(fit_text("short", 10, "…"), "short");
        // 3-byte chars: 10 - 3 (tail) = 7 bytes of room, 2 whole chars.
        assert_eq!(fit_text("中文字符串", 10, "…"), "中文…");
        let text = format!("{}\n{}", "a".repeat(60), "b".repeat(60));
        assert_eq!(fit_text(&text, 100, "…"), format!("{}…", "a".repeat(60)));
        // A line break too early is not worth losing most of the room.
        let text = format!("a\n{}", "b".repeat(200));
        assert_eq!(fit_text(&text, 100, "").len(), 100);
        assert_eq!(fit_text("abcdef", 2, "long tail"), "ab");
    }

    proptest! {
        #[test]
        fn encrypt_decrypt_round_trip(xml in ".*", appid in "[a-z0-9]{0,20}") {
            let k = key();
            let ct = encrypt(&k, &appid, &xml);
            prop_assert_eq!(decrypt(&k, &ct).unwrap(), (xml, appid));
        }

        #[test]
        fn decrypt_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let k = key();
            let _ = decrypt(&k, &STANDARD.encode(&bytes));
            let _ = decrypt(&k, &String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = parse_message(&s);
            let _ = parse_message(&format!("<xml><Content>{s}</Content></xml>"));
        }

        #[test]
        fn fit_text_respects_limit(s in ".*", limit in 0usize..64, tail in ".{0,4}") {
            let out = fit_text(&s, limit, &tail);
            prop_assert!(out.len() <= limit || out == s);
            prop_assert!(s.len() > limit || out == s);
        }

        #[test]
        fn cdata_round_trips(s in ".*") {
            let xml = format!("<xml><Content>{}</Content></xml>", cdata(&s));
            let want: String = s.chars().filter(|&c| is_xml_char(c)).collect::<String>()
                .replace("\r\n", "\n").replace('\r', "\n");
            prop_assert_eq!(parse_message(&xml).unwrap().content.unwrap_or_default(), want);
        }
    }
}
