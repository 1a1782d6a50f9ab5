//! User ids as admins write them (`/grant wechat:oAbc… 14`, `ADMIN_IDS=1,telegram:42`):
//! `channel:id` or a bare id of an implied channel, checked against the shape each channel's
//! ids really have, so a typo can never grant rights to an id nobody has.

use crate::Lang;

/// The channels whose users can hold rights, as stored.
pub const CHANNELS: [&str; 3] = ["console", "telegram", "wechat"];

/// A validated identity: the channel (one of [`CHANNELS`]) and the id on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub channel: &'static str,
    pub user_id: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.channel, self.user_id)
    }
}

/// Why a written id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("`{0}` is not a channel (console, telegram or wechat)")]
    UnknownChannel(String),
    #[error("no id after `{0}:`")]
    Empty(&'static str),
    /// A channel name where an id belongs: `/grant wechat oAbc` for `wechat:oAbc`.
    #[error("`{0}` is a channel; write {0}:<id>")]
    ChannelOnly(&'static str),
    #[error("Telegram ids are whole numbers, not `{0}`")]
    Telegram(String),
    #[error("`{0}` is not a WeChat OpenID (6–64 letters, digits, - and _)")]
    Wechat(String),
    #[error("`{0}` is not a console id (1–64 letters, digits, - _ .)")]
    Console(String),
}

impl IdentityError {
    /// The refusal in the admin's language.
    pub fn message(&self, lang: Lang) -> String {
        match lang {
            Lang::En => format!("{self}."),
            Lang::Zh => match self {
                IdentityError::UnknownChannel(c) => {
                    format!("“{c}”不是渠道名，渠道只有 console、telegram、wechat。")
                }
                IdentityError::Empty(c) => format!("“{c}:”后面缺少用户ID。"),
                IdentityError::ChannelOnly(c) => {
                    format!("“{c}”是渠道名，请写成 {c}:用户ID。")
                }
                IdentityError::Telegram(id) => format!("Telegram 用户ID是数字，“{id}”不是。"),
                IdentityError::Wechat(id) => {
                    format!("“{id}”不是微信 OpenID（应为 6–64 位字母、数字、- 或 _）。")
                }
                IdentityError::Console(id) => {
                    format!("“{id}”不是有效的控制台用户ID（1–64 位字母、数字、- _ .）。")
                }
            },
        }
    }
}

/// Reads `channel:id` (channel names in any case) or a bare id, which belongs to `default`.
pub fn parse(written: &str, default: &'static str) -> Result<Identity, IdentityError> {
    let written = written.trim();
    let (channel, id) = match written.split_once(':') {
        Some((c, id)) => {
            let channel = CHANNELS
                .into_iter()
                .find(|k| k.eq_ignore_ascii_case(c.trim()))
                .ok_or_else(|| IdentityError::UnknownChannel(shown(c)))?;
            if id.trim().is_empty() {
                return Err(IdentityError::Empty(channel));
            }
            (channel, id.trim())
        }
        None => {
            if let Some(channel) = CHANNELS
                .into_iter()
                .find(|k| k.eq_ignore_ascii_case(written))
            {
                return Err(IdentityError::ChannelOnly(channel));
            }
            (default, written)
        }
    };
    check(channel, id)?;
    Ok(Identity {
        channel,
        user_id: id.to_string(),
    })
}

/// Whether `id` has the shape of an id on `channel`.
pub fn check(channel: &str, id: &str) -> Result<(), IdentityError> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    match channel {
        // Users are positive integers (chats may be negative, but only users hold rights).
        "telegram" => {
            let numeric = (1..=20).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_digit())
                && !id.starts_with('0');
            numeric
                .then_some(())
                .ok_or_else(|| IdentityError::Telegram(shown(id)))
        }
        // OpenIDs are 28 URL-safe base64 characters today; allow some room, nothing else.
        "wechat" => ((6..=64).contains(&id.len()) && id.chars().all(word))
            .then_some(())
            .ok_or_else(|| IdentityError::Wechat(shown(id))),
        "console" => ((1..=64).contains(&id.len()) && id.chars().all(|c| word(c) || c == '.'))
            .then_some(())
            .ok_or_else(|| IdentityError::Console(shown(id))),
        other => Err(IdentityError::UnknownChannel(shown(other))),
    }
}

/// A refused id as echoed back: short, so a pasted paragraph does not fill the reply.
fn shown(s: &str) -> String {
    crate::text::clip(s, 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(w: &str, d: &'static str) -> String {
        parse(w, d).expect(w).to_string()
    }

    #[test]
    fn channels_are_case_insensitive_and_ids_checked() {
        assert_eq!(ok("WECHAT:oUPxyz1234", "console"), "wechat:oUPxyz1234");
        assert_eq!(ok("Telegram:42", "console"), "telegram:42");
        assert_eq!(ok("42", "telegram"), "telegram:42");
        assert_eq!(ok("ops.desk-1", "console"), "console:ops.desk-1");
        assert_eq!(
            parse("wechat:", "console"),
            Err(IdentityError::Empty("wechat"))
        );
        assert!(matches!(
            parse("telegram:abc", "console"),
            Err(IdentityError::Telegram(_))
        ));
        assert!(matches!(
            parse("telegram:007", "console"),
            Err(IdentityError::Telegram(_))
        ));
        assert!(matches!(
            parse("wechat:o<script>", "console"),
            Err(IdentityError::Wechat(_))
        ));
        assert!(matches!(
            parse("weixin:oAbcdef", "console"),
            Err(IdentityError::UnknownChannel(_))
        ));
        assert!(matches!(
            parse("abc", "telegram"),
            Err(IdentityError::Telegram(_))
        ));
        let long = format!("wechat:{}", "o".repeat(100));
        let Err(e) = parse(&long, "console") else {
            panic!("too long")
        };
        assert!(e.to_string().len() < 100, "{e}");
    }
}
