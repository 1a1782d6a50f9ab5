//! minsheng — a bilingual chat bot for Chongqing High-tech Zone's key livelihood projects.
//!
//! Data flows one way: a channel (console, Telegram, …) turns a message into an
//! [`core::Incoming`], the [`core::Bot`] decides the replies using the [`knowledge`] base, the
//! [`matcher`] and progress records, and the channel renders them. See `ARCHITECTURE.md`.

pub mod core;
pub mod eval;
pub mod knowledge;
pub mod matcher;
pub mod store;
pub mod units;
pub mod wechat;

use serde::Serialize;

/// The language of a message and of its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Zh,
    En,
}
