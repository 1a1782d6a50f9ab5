//! The channel-agnostic bot: a [`Message`] in, [`Reply`]s out. Knows nothing of Telegram,
//! WeChat or terminals; every channel is a thin adapter over [`Core::handle`], so the bot
//! behaves the same everywhere and is tested once.

pub mod answers;
mod commands;
pub mod identity;
mod texts;

use std::collections::HashSet;
use std::sync::Arc;

use crate::Lang;
use crate::knowledge::Knowledge;
use crate::matcher::normalize::is_han;
use crate::store::{Actor, Store, StoreError};

pub use answers::Answers;

/// Longest message handled; longer ones are refused politely (and never reach the store).
pub const MAX_TEXT_CHARS: usize = 1_000;

/// Telegram limits callback data to 64 bytes; buttons whose data would not fit are left off.
pub const MAX_BUTTON_DATA: usize = 64;

/// Who sent a message, as the channel authenticated them. Never taken from message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// `console`, `telegram`, `wechat`: ids of different channels never mix.
    pub channel: &'static str,
    pub user_id: String,
    /// A display name, for the audit trail and status lines (not an identity).
    pub name: String,
    /// The user's interface language, when the channel knows it.
    pub lang: Option<Lang>,
}

impl Sender {
    pub fn actor(&self) -> Actor {
        Actor {
            channel: self.channel.to_string(),
            user_id: self.user_id.clone(),
            name: self.name.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A typed message: a question or a `/command`.
    Text(String),
    /// A pressed button's [`Button::data`].
    Button(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub sender: Sender,
    /// Where replies and notifications go (a private chat, a group).
    pub chat_id: String,
    pub input: Input,
}

/// A button under a reply; `data` comes back as [`Input::Button`] when pressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    pub data: String,
}

/// One reply message, as plain text; channels add their own markup and escaping.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    pub text: String,
    pub buttons: Vec<Button>,
    /// A short acknowledgement of a button press (Telegram shows it as a toast).
    pub transient: bool,
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            ..Reply::default()
        }
    }
}

/// The administrators named by `ADMIN_IDS`: `channel:id` entries bind to that channel; a bare
/// id (a number) stands for the console and Telegram, whose ids are numbers. WeChat OpenIDs
/// must be written `wechat:OPENID`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admins(HashSet<(String, String)>);

impl Admins {
    pub fn parse(list: &str) -> Result<Admins, String> {
        let mut set = HashSet::new();
        for raw in list.split([',', ' ', ';']).map(str::trim) {
            if raw.is_empty() {
                continue;
            }
            if raw.contains(':') {
                let who = identity::parse(raw, "console")
                    .map_err(|e| format!("ADMIN_IDS: `{raw}`: {e}"))?;
                set.insert((who.channel.to_string(), who.user_id));
            } else if raw.chars().all(|c| c.is_ascii_digit()) {
                set.insert(("console".into(), raw.to_string()));
                set.insert(("telegram".into(), raw.to_string()));
            } else {
                return Err(format!(
                    "ADMIN_IDS: `{raw}` is not a numeric id; write WeChat OpenIDs as wechat:{raw}"
                ));
            }
        }
        Ok(Admins(set))
    }

    pub fn contains(&self, channel: &str, user_id: &str) -> bool {
        self.0.contains(&(channel.to_string(), user_id.to_string()))
    }

    /// `channel:id`, sorted, for `/officers`.
    pub fn list(&self) -> Vec<String> {
        let mut v: Vec<String> = self.0.iter().map(|(c, id)| format!("{c}:{id}")).collect();
        v.sort();
        v
    }
}

/// What time it is, for judging progress against the calendar; tests set their own.
pub type Clock = Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>;

/// The bot: knowledge, matcher, store and the administrators, shared by every channel.
pub struct Core {
    knowledge: Arc<Knowledge>,
    answers: Answers,
    store: Store,
    admins: Admins,
    clock: Clock,
}

impl Core {
    /// Builds the matcher and brings the store's task catalogue up to date with `faq/`.
    pub async fn start(
        knowledge: Arc<Knowledge>,
        store: Store,
        admins: Admins,
    ) -> Result<Core, StoreError> {
        store.sync_catalogue(&knowledge.tasks).await?;
        let mut admin_ids: Vec<(String, String)> = admins.0.iter().cloned().collect();
        admin_ids.sort();
        store.sync_admins(&admin_ids).await?;
        let answers = Answers::new(&knowledge);
        Ok(Core {
            knowledge,
            answers,
            store,
            admins,
            clock: Arc::new(chrono::Utc::now),
        })
    }

    /// The same core judging progress at the times `clock` gives (tests, replays).
    pub fn with_clock(mut self, clock: Clock) -> Core {
        self.clock = clock;
        self
    }

    /// Now, by the core's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        (self.clock)()
    }

    pub fn knowledge(&self) -> &Knowledge {
        &self.knowledge
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn answers(&self) -> &Answers {
        &self.answers
    }

    /// Everything a channel needs: the replies to one message, in the sender's language.
    /// Never fails: a store error becomes a polite apology (and a log line).
    pub async fn handle(&self, msg: &Message) -> Vec<Reply> {
        let msg = &cleaned(msg);
        let lang = guess_lang(msg);
        match self.dispatch(msg, lang).await {
            Ok(replies) => replies,
            Err(e) => {
                tracing::error!(error = %e, channel = msg.sender.channel, "handling a message failed");
                vec![Reply::text(texts::sorry(lang))]
            }
        }
    }

    /// The greeting for `/start` and new followers: what the bot does, with examples.
    pub fn welcome(&self, lang: Lang) -> Reply {
        Reply::text(texts::welcome(lang))
    }

    /// The commands to advertise in a channel's menu, in `lang`.
    pub fn command_menu(lang: Lang) -> Vec<(&'static str, &'static str)> {
        texts::command_menu(lang)
    }
}

/// Longest display name kept from a channel's profile.
const MAX_NAME_CHARS: usize = 64;

/// The message with every control and bidirectional-override character removed from what the
/// user typed and what the channel reported (see [`crate::text`]): nothing past this point —
/// store, audit trail, notifications, replies — ever sees one.
fn cleaned(msg: &Message) -> Message {
    use crate::text::{clean, clean_line};
    Message {
        sender: Sender {
            channel: msg.sender.channel,
            user_id: clean(&msg.sender.user_id).into_owned(),
            name: clean_line(&msg.sender.name, MAX_NAME_CHARS),
            lang: msg.sender.lang,
        },
        chat_id: clean(&msg.chat_id).into_owned(),
        input: match &msg.input {
            Input::Text(t) => Input::Text(clean(t).into_owned()),
            Input::Button(d) => Input::Button(clean(d).into_owned()),
        },
    }
}

/// The language to answer a command or button in: the channel's hint for commands; Chinese
/// text means Chinese; otherwise the hint; otherwise English words mean English; otherwise Chinese. Command arguments
/// are mostly numbers and units, so one stray Latin word there (`/update 14 abc`) is not
/// taken for English.
fn guess_lang(msg: &Message) -> Lang {
    let text = match &msg.input {
        Input::Text(t) => t.as_str(),
        Input::Button(_) => "",
    };
    let t = text.trim_start();
    // In a command the user's own setting beats a Chinese unit such as 个 in the arguments.
    let command = t.starts_with('/');
    match msg.sender.lang {
        Some(lang) if command => return lang,
        _ if text.chars().any(is_han) => return Lang::Zh,
        Some(lang) => return lang,
        None => {}
    }
    let (words, needed) = match t.strip_prefix('/') {
        Some(command) => (
            command
                .split_once(char::is_whitespace)
                .map_or("", |(_, a)| a),
            2,
        ),
        None => (t, 1),
    };
    let english = words
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 3 && crate::units::Unit::parse(w).is_none())
        .take(needed)
        .count();
    let cue = words.split(|c: char| !c.is_ascii_alphabetic()).any(|w| {
        ["done", "progress", "started", "completed", "ongoing"]
            .contains(&w.to_ascii_lowercase().as_str())
    });
    if english >= needed || cue {
        Lang::En
    } else {
        Lang::Zh
    }
}
