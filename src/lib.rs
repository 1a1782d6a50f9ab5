//! minsheng — a bilingual chat bot for Chongqing High-tech Zone's key livelihood projects.
//!
//! Data flows one way: a channel (console, Telegram, WeChat) turns a message into a
//! [`core::Message`], the [`core::Core`] decides the replies using the [`knowledge`] base, the
//! [`matcher`], [`progress`] and the [`store`], and the channel renders them. See
//! `ARCHITECTURE.md`.

pub mod console;
pub mod core;
pub mod eval;
pub mod http;
pub mod inbox;
pub mod knowledge;
pub mod learn;
pub mod limit;
pub mod matcher;
pub mod metrics;
pub mod privacy;
pub mod progress;
pub mod remind;
pub mod report;
pub mod signals;
pub mod store;
pub mod telegram;
pub mod text;
pub mod units;
pub mod web;
pub mod wechat;

use serde::Serialize;

/// The language of a message and of its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// `zh` or `en`, as stored and as carried in button data.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        match code {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}
