//! The channel-agnostic bot: a [`Message`] in, [`Reply`]s out. Knows nothing of Telegram,
//! WeChat or terminals; every channel is a thin adapter over [`Core::handle`], so the bot
//! behaves the same everywhere and is tested once.

pub mod answers;
mod commands;
pub mod identity;
mod teach;
mod texts;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use crate::Lang;
use crate::knowledge::{Knowledge, Lists};
use crate::matcher::normalize::is_han;
use crate::store::{Actor, Store, StoreError};

pub use answers::Answers;
pub use commands::asks_for_a_person;

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
    /// A file to send with the text as its caption (`/export`); channels that cannot send
    /// files are never given one.
    pub document: Option<Document>,
}

/// A file a reply carries.
#[derive(Clone, PartialEq, Eq)]
pub struct Document {
    pub file_name: String,
    pub mime: &'static str,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Document")
            .field("file_name", &self.file_name)
            .field("mime", &self.mime)
            .field("bytes", &self.bytes.len())
            .finish()
    }
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

    /// (channel, id) pairs, sorted: whom the weekly digest goes to.
    pub fn members(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self.0.iter().cloned().collect();
        v.sort();
        v
    }

    /// `channel:id`, sorted, for `/officers`.
    pub fn list(&self) -> Vec<String> {
        let mut v: Vec<String> = self.0.iter().map(|(c, id)| format!("{c}:{id}")).collect();
        v.sort();
        v
    }
}

/// Something to share into another chat: a title and a line to choose it by, and the text
/// that is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub title: String,
    pub description: String,
    pub text: String,
}

/// Longest text a shared card carries (Telegram's message limit, with room for markup).
pub const MAX_CARD_CHARS: usize = 3_500;

impl Card {
    fn clipped(mut self) -> Card {
        if self.text.chars().count() > MAX_CARD_CHARS {
            self.text = self
                .text
                .chars()
                .take(MAX_CARD_CHARS - 1)
                .collect::<String>()
                + "…";
        }
        self.title = self.title.chars().take(100).collect();
        self
    }
}

/// What time it is, for judging progress against the calendar; tests set their own.
pub type Clock = Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>;

/// The bot: knowledge, matcher, store and the administrators, shared by every channel.
pub struct Core {
    /// Every year's list; which one a message is about is decided by the clock or a year the
    /// person names.
    lists: Lists,
    /// A matcher per list, in the order of `lists`, with the phrasings editors taught; a
    /// rebuilt matcher is swapped in whole, so a message never waits for a build.
    answers: Vec<RwLock<Arc<Answers>>>,
    /// What the matchers were built from, and when the store was last asked.
    learned: teach::Learned,
    /// Each user's last answered question and the entry it got (for a 👎 on it); in memory,
    /// bounded, forgotten by `/forget`.
    answered: std::sync::Mutex<HashMap<(String, String), teach::LastAnswer>>,
    store: Store,
    admins: Admins,
    clock: Clock,
    /// Days residents' questions and feedback are kept (`RETENTION_DAYS`).
    retention_days: i64,
    /// Users known to have had the privacy notice (a cache of `users_seen`, so most messages
    /// cost no write); bounded, cleared when full.
    noticed: std::sync::Mutex<HashSet<(String, String)>>,
    /// `HELP_CONTACT`: where a person who asks for a human is sent, besides 12345.
    help_contact: Option<String>,
    /// `PUBLIC_URL`: where the progress page is published, for links in replies.
    public_url: Option<String>,
    /// When figures gone quiet nudge their officers (`REMIND_AFTER_DAYS`, `QUIET_HOURS`).
    reminders: crate::remind::Settings,
    metrics: Arc<crate::metrics::Metrics>,
}

/// Most users remembered in [`Core`]'s notice cache before it starts over.
const MAX_NOTICED: usize = 100_000;

impl Core {
    /// Builds the matcher and brings the store's task catalogue up to date with `faq/`.
    pub async fn start(
        lists: impl Into<Lists>,
        store: Store,
        admins: Admins,
    ) -> Result<Core, StoreError> {
        let lists = lists.into();
        store.sync_catalogue(&lists).await?;
        let mut admin_ids: Vec<(String, String)> = admins.0.iter().cloned().collect();
        admin_ids.sort();
        store.sync_admins(&admin_ids).await?;
        let answers = lists
            .iter()
            .map(|k| RwLock::new(Arc::new(Answers::new(k))))
            .collect::<Vec<_>>();
        let learned = teach::Learned::new(lists.iter().count());
        let core = Core {
            lists,
            answers,
            learned,
            answered: std::sync::Mutex::new(HashMap::new()),
            store,
            admins,
            clock: Arc::new(chrono::Utc::now),
            retention_days: crate::store::DEFAULT_RETENTION_DAYS,
            noticed: std::sync::Mutex::new(HashSet::new()),
            help_contact: None,
            public_url: None,
            reminders: crate::remind::Settings::default(),
            metrics: Arc::default(),
        };
        // Phrasings taught before this start apply from the first message.
        core.refresh_phrasings(true).await?;
        Ok(core)
    }

    /// The same core keeping questions and feedback for `days` (tests; `RETENTION_DAYS`).
    pub fn with_retention_days(mut self, days: i64) -> Core {
        self.retention_days = days;
        self
    }

    /// Days residents' questions and feedback are kept, for the sweep that deletes them.
    pub fn retention_days(&self) -> i64 {
        self.retention_days
    }

    /// The same core offering `contact` to whoever asks for a human (`HELP_CONTACT`).
    pub fn with_help_contact(mut self, contact: Option<String>) -> Core {
        self.help_contact = contact
            .map(|c| crate::text::clean_line(&c, 200))
            .filter(|c| !c.is_empty());
        self
    }

    /// The same core linking to the progress page at `url` (`PUBLIC_URL`, e.g.
    /// `https://minsheng.example.cn`).
    pub fn with_public_url(mut self, url: Option<String>) -> Core {
        self.public_url = url
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"));
        self
    }

    /// `PUBLIC_URL` without a trailing slash, when set.
    pub fn public_url(&self) -> Option<&str> {
        self.public_url.as_deref()
    }

    /// The same core reminding officers as `settings` say.
    pub fn with_reminders(mut self, settings: crate::remind::Settings) -> Core {
        self.reminders = settings;
        self
    }

    pub fn reminder_settings(&self) -> crate::remind::Settings {
        self.reminders
    }

    /// The counters `/metrics` shows.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    pub fn admins(&self) -> &Admins {
        &self.admins
    }

    /// What is kept, for how long, and how to delete it: two sentences, in `lang`.
    pub fn privacy_notice(&self, lang: Lang) -> String {
        texts::privacy(lang, self.retention_days)
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

    /// Today in Chongqing, by the core's clock: the day that decides which list is current.
    pub fn today(&self) -> chrono::NaiveDate {
        self.now()
            .with_timezone(&crate::progress::model::chongqing())
            .date_naive()
    }

    /// The current list (by the clock) with the policy entries and lexicon: what questions,
    /// bare task numbers and "this year" are about.
    pub fn knowledge(&self) -> &Knowledge {
        self.lists.at(self.today())
    }

    /// Every year's list.
    pub fn lists(&self) -> &Lists {
        &self.lists
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The matcher over the current list (a snapshot: a taught phrasing swaps in a new one).
    pub fn answers(&self) -> Arc<Answers> {
        self.answers_at(self.lists.index_at(self.today()))
    }

    /// The matcher over the list at `index` of `lists`.
    fn answers_at(&self, index: usize) -> Arc<Answers> {
        match self.answers.get(index) {
            Some(slot) => slot.read().unwrap_or_else(|e| e.into_inner()).clone(),
            None => self.answers_at(0),
        }
    }

    /// Everything a channel needs: the replies to one message, in the sender's language.
    /// Never fails: a store error becomes a polite apology (and a log line).
    pub async fn handle(&self, msg: &Message) -> Vec<Reply> {
        let started = std::time::Instant::now();
        let msg = &cleaned(msg);
        let lang = guess_lang(msg);
        // Phrasings taught on another replica: a cheap version check every few seconds.
        if let Err(e) = self.refresh_phrasings(false).await {
            tracing::warn!(error = %e, "reloading taught phrasings failed");
        }
        let (ok, replies) = match self.dispatch(msg, lang).await {
            Ok(mut replies) => {
                self.notice_new_user(msg, lang, &mut replies).await;
                (true, replies)
            }
            Err(e) => {
                tracing::error!(error = %e, channel = msg.sender.channel, "handling a message failed");
                (false, vec![Reply::text(texts::sorry(lang))])
            }
        };
        self.metrics
            .message(msg.sender.channel, ok, started.elapsed());
        replies
    }

    /// Adds the privacy notice to the last reply of a user's first message (unless the
    /// message was `/privacy` or `/forget`, which say it themselves).
    async fn notice_new_user(&self, msg: &Message, lang: Lang, replies: &mut [Reply]) {
        let about_privacy = matches!(&msg.input, Input::Text(t)
            if commands::is_privacy_command(t));
        // After /forget the user is unknown again, and stays so until their next message.
        if matches!(&msg.input, Input::Text(t) if commands::is_forget_command(t)) {
            return;
        }
        let key = (msg.sender.channel.to_string(), msg.sender.user_id.clone());
        {
            let noticed = self.noticed.lock().unwrap_or_else(|e| e.into_inner());
            if noticed.contains(&key) {
                return;
            }
        }
        let first = match self
            .store
            .first_contact(msg.sender.channel, &msg.sender.user_id)
            .await
        {
            Ok(first) => first,
            Err(e) => {
                tracing::warn!(error = %e, "recording a first contact failed");
                return;
            }
        };
        {
            let mut noticed = self.noticed.lock().unwrap_or_else(|e| e.into_inner());
            if noticed.len() >= MAX_NOTICED {
                noticed.clear();
            }
            noticed.insert(key);
        }
        if first
            && !about_privacy
            && let Some(last) = replies.last_mut()
            && !last.transient
        {
            last.text.push_str("\n\n");
            last.text.push_str(&self.privacy_notice(lang));
        }
    }

    /// Forgets that `user_id` was noticed, after their data was deleted.
    fn unnotice(&self, channel: &str, user_id: &str) {
        let key = (channel.to_string(), user_id.to_string());
        let mut noticed = self.noticed.lock().unwrap_or_else(|e| e.into_inner());
        noticed.remove(&key);
        drop(noticed);
        let mut answered = self.answered.lock().unwrap_or_else(|e| e.into_inner());
        answered.remove(&key);
    }

    /// Deletes what the bot keeps about a user (a WeChat unsubscribe, `/forget`).
    pub async fn forget(
        &self,
        channel: &str,
        user_id: &str,
    ) -> Result<crate::store::Forgotten, StoreError> {
        let forgotten = self.store.forget_user(channel, user_id).await?;
        self.unnotice(channel, user_id);
        Ok(forgotten)
    }

    /// What a resident can share into another chat for `query` (Telegram's inline mode,
    /// `@bot 14`, `@bot 托位`): a task's live status or the answer the bot is sure of; nothing
    /// for a question it cannot answer with confidence.
    pub async fn share_cards(&self, query: &str, lang: Lang) -> Result<Vec<Card>, StoreError> {
        let query = crate::text::clean(query);
        let query = query.trim();
        let mut ids: Vec<String> = Vec::new();
        let mut lang = lang;
        let named_task = crate::progress::TaskRef::parse(query)
            .filter(|r| r.item.is_none())
            .and_then(|r| self.knowledge().task(r.task));
        if let Some(task) = named_task {
            ids.push(task.id.clone());
        } else if !query.is_empty() && query.chars().count() <= MAX_TEXT_CHARS {
            let d = self.answers().decide(query);
            lang = d.lang;
            // A card is posted into someone else's chat as the bot's word: only an answer the
            // bot is sure of, never a "did you mean" guess.
            if d.kind == crate::matcher::Kind::Answer {
                ids.extend(d.id);
            }
        }
        let mut cards = Vec::new();
        for id in ids {
            let Some(entry) = self.knowledge().entry(&id) else {
                continue;
            };
            let title = answers::label(entry, lang);
            let card = match entry.task.and_then(|n| self.knowledge().task(n)) {
                Some(task) => {
                    let states = self
                        .store
                        .states(self.knowledge().period.year, Some(task.number))
                        .await?;
                    let text = crate::progress::render_status(
                        task,
                        &states,
                        &self.knowledge().period,
                        self.now(),
                        lang,
                    );
                    // The status line under the title: where the task stands.
                    let description = text.lines().nth(1).unwrap_or_default().to_string();
                    Card {
                        title,
                        description,
                        text,
                    }
                }
                None => {
                    let answer = entry.answer.get(lang);
                    Card {
                        description: answer.chars().take(80).collect(),
                        text: format!("【{title}】\n{answer}"),
                        title,
                    }
                }
            };
            cards.push(card.clipped());
        }
        Ok(cards)
    }

    /// The workbook of every task, metric and the audit trail (`/export.xlsx`, `/export`);
    /// `full` (admins only) keeps the ids and text of every audit row.
    pub async fn export_xlsx(&self, full: bool) -> Result<Vec<u8>, StoreError> {
        let kb = self.knowledge();
        let states = self.store.states(kb.period.year, None).await?;
        let trail = self.store.audit_trail().await?;
        let tasks = crate::report::tasks(kb, &states, self.now());
        crate::report::workbook(&tasks, &crate::report::trail(&trail, full))
            .map_err(|e| StoreError::Other(e.to_string()))
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
