//! The dispatcher's handler tree: Telegram updates in, core replies out.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use teloxide::RequestError;
use teloxide::dispatching::UpdateHandler;
use teloxide::prelude::*;
use teloxide::types::{
    CallbackQuery, InlineQuery, InlineQueryResult, InlineQueryResultArticle, InputMessageContent,
    InputMessageContentText, Me, ParseMode, User,
};
use teloxide::utils::command::BotCommands;

use super::{CHANNEL, Redactor, render};
use crate::Lang;
use crate::core::{self, Core, Input, Reply, Sender};
use crate::limit::{Verdict, slow_down};

/// The commands the bot knows, for telling in a group whether a `/word` is meant for us.
/// Arguments are left to the core, which parses them itself.
#[derive(BotCommands, Clone, Debug)]
#[command(rename_rule = "lowercase")]
pub enum Command {
    Start(String),
    Help(String),
    Tasks(String),
    Status(String),
    Subscribe(String),
    Unsubscribe(String),
    Whoami(String),
    Update(String),
    Undo(String),
    History(String),
    Grant(String),
    Revoke(String),
    Officers(String),
    Unanswered(String),
}

/// What every handler shares.
pub(super) struct Shared {
    pub core: Arc<Core>,
    pub redactor: Redactor,
}

/// Telegram's limit for a document's caption.
const MAX_CAPTION: usize = 1_024;
/// Telegram's limit for the text of a callback answer.
const MAX_CALLBACK_TEXT: usize = 200;
/// How often a reply is retried after Telegram says "too many requests".
const REPLY_RETRIES: u32 = 2;

/// The handler tree. The inbox drain runs it once per update with the update, the bot, `Me`,
/// [`Shared`] and the sender's [`Verdict`] (counted in the store, across replicas).
pub(super) fn schema() -> UpdateHandler<Infallible> {
    dptree::entry()
        .branch(Update::filter_message().endpoint(on_message))
        .branch(Update::filter_callback_query().endpoint(on_callback))
        .branch(Update::filter_inline_query().endpoint(on_inline_query))
        // Edits, channel posts, membership changes and the rest: nothing to answer.
        .endpoint(|upd: Update| async move {
            tracing::debug!(update = upd.id.0, "ignoring an update of another kind");
            Ok(())
        })
}

fn lang_of(user: &User) -> Option<Lang> {
    let code = user.language_code.as_deref()?.to_ascii_lowercase();
    if code.starts_with("zh") {
        Some(Lang::Zh)
    } else if code.starts_with("en") {
        Some(Lang::En)
    } else {
        None
    }
}

fn sender(user: &User) -> Sender {
    Sender {
        channel: CHANNEL,
        user_id: user.id.0.to_string(),
        name: user.full_name(),
        lang: lang_of(user),
    }
}

async fn on_message(
    bot: Bot,
    msg: Message,
    me: Me,
    shared: Arc<Shared>,
    verdict: Verdict,
) -> Result<(), Infallible> {
    // Anonymous admins and other bots have no person behind them to answer.
    let Some(user) = msg.from.as_ref().filter(|u| !u.is_bot) else {
        return Ok(());
    };
    let private = msg.chat.is_private();
    // None: a sticker, photo, voice… in a private chat, where we say what we can read.
    let text = match (msg.text(), private) {
        (Some(text), true) => Some(text.to_string()),
        (Some(text), false) => match addressed(&msg, text, &me) {
            Some(text) => Some(text),
            None => return Ok(()),
        },
        (None, true) => None,
        (None, false) => return Ok(()),
    };
    match verdict {
        Verdict::Allow => {}
        Verdict::Warn => {
            let reply = Reply::text(slow_down(lang_of(user)));
            send_replies(&bot, &shared.redactor, msg.chat.id, vec![reply]).await;
            return Ok(());
        }
        Verdict::Drop => return Ok(()),
    }
    let Some(text) = text else {
        let reply = Reply::text(text_only(lang_of(user)));
        send_replies(&bot, &shared.redactor, msg.chat.id, vec![reply]).await;
        return Ok(());
    };
    let sender = sender(user);
    let replies = match Command::parse(&text, me.username()) {
        // A deep link's payload (`/start task14`) is the core's to read.
        Ok(Command::Start(payload)) if payload.trim().is_empty() => {
            vec![shared.core.welcome(sender.lang.unwrap_or(Lang::Zh))]
        }
        _ => {
            let message = core::Message {
                sender,
                chat_id: msg.chat.id.0.to_string(),
                input: Input::Text(text),
            };
            shared.core.handle(&message).await
        }
    };
    send_replies(&bot, &shared.redactor, msg.chat.id, replies).await;
    Ok(())
}

/// A group message meant for the bot, as the core should read it: a command for us, a
/// message mentioning @us (mention removed), or a reply to one of our messages.
fn addressed(msg: &Message, text: &str, me: &Me) -> Option<String> {
    let username = me.username();
    if text.trim_start().starts_with('/') {
        // Ours when teloxide parses it as one of our commands (bare, or @us), or when it is
        // an unknown command explicitly @us (the core explains it does not exist).
        let head = text.split_whitespace().next().unwrap_or("");
        let at_us = head
            .split_once('@')
            .is_some_and(|(_, bot)| bot.eq_ignore_ascii_case(username));
        return (Command::parse(text, username).is_ok() || at_us).then(|| text.to_string());
    }
    if let Some(stripped) = strip_mention(text, username) {
        return Some(stripped);
    }
    let replied_to_us = msg
        .reply_to_message()
        .and_then(|m| m.from.as_ref())
        .is_some_and(|u| u.id == me.user.id);
    replied_to_us.then(|| text.to_string())
}

/// `text` without its `@username` mentions, if it has one (a whole word, any case).
pub fn strip_mention(text: &str, username: &str) -> Option<String> {
    let mention = format!("@{}", username.to_ascii_lowercase());
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut found = false;
    let mut rest = 0;
    let mut from = 0;
    while let Some(i) = lower[from..].find(&mention).map(|i| i + from) {
        let end = i + mention.len();
        let whole = !lower[end..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if whole {
            out.push_str(&text[rest..i]);
            rest = end;
            found = true;
        }
        from = end;
    }
    if !found {
        return None;
    }
    out.push_str(&text[rest..]);
    // "@bot, what is…" → "what is…"
    let cleaned = out
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_matches(|c: char| c == ',' || c == '，' || c == ':' || c == '：' || c.is_whitespace())
        .to_string();
    Some(cleaned)
}

/// Progress stays fresh in shared cards: Telegram may reuse an answer only this long.
const INLINE_CACHE_SECS: u32 = 30;

/// `@bot 14` or `@bot 托位` typed in any chat: cards of the task's status or the answer, to
/// share into that chat. A query the bot cannot answer gets no cards.
async fn on_inline_query(
    bot: Bot,
    q: InlineQuery,
    shared: Arc<Shared>,
    verdict: Verdict,
) -> Result<(), Infallible> {
    if verdict != Verdict::Allow {
        return Ok(());
    }
    let lang = lang_of(&q.from).unwrap_or(Lang::Zh);
    let cards = match shared.core.share_cards(&q.query, lang).await {
        Ok(cards) => cards,
        Err(e) => {
            tracing::error!(error = %e, "building inline answers failed");
            Vec::new()
        }
    };
    let results: Vec<InlineQueryResult> = cards
        .into_iter()
        .enumerate()
        .map(|(i, card)| {
            // Cards are clipped by the core to fit one message: the first part is all of it.
            let html = render::html_parts(&card.text)
                .into_iter()
                .next()
                .unwrap_or_default();
            let content = InputMessageContentText::new(html).parse_mode(ParseMode::Html);
            InlineQueryResult::Article(
                InlineQueryResultArticle::new(
                    i.to_string(),
                    card.title,
                    InputMessageContent::Text(content),
                )
                .description(card.description),
            )
        })
        .collect();
    if !crate::inbox::may_reply() {
        return Ok(());
    }
    if let Err(e) = bot
        .answer_inline_query(q.id, results)
        .cache_time(INLINE_CACHE_SECS)
        .is_personal(false)
        .await
    {
        tracing::warn!(error = %shared.redactor.describe(&e), "answering an inline query failed");
    }
    Ok(())
}

async fn on_callback(
    bot: Bot,
    q: CallbackQuery,
    shared: Arc<Shared>,
    verdict: Verdict,
) -> Result<(), Infallible> {
    // Buttons under a message in a chat answer there; an inline message's answer goes to
    // the presser's private chat.
    let chat = q
        .message
        .as_ref()
        .map_or(ChatId(q.from.id.0 as i64), |m| m.chat().id);
    // Presses count against the same limit as messages: forged presses are cheap to send.
    if verdict != Verdict::Allow {
        let mut answer = bot.answer_callback_query(q.id.clone());
        if verdict == Verdict::Warn {
            answer = answer.text(slow_down(lang_of(&q.from)));
        }
        if !crate::inbox::may_reply() {
            return Ok(());
        }
        if let Err(e) = answer.await {
            tracing::warn!(error = %shared.redactor.describe(&e), "answering a button press failed");
        }
        return Ok(());
    }
    let replies = match q.data.as_deref() {
        Some(data) => {
            let message = core::Message {
                sender: sender(&q.from),
                chat_id: chat.0.to_string(),
                input: Input::Button(data.to_string()),
            };
            shared.core.handle(&message).await
        }
        None => Vec::new(),
    };
    let (transient, replies): (Vec<Reply>, Vec<Reply>) =
        replies.into_iter().partition(|r| r.transient);
    // Always answered, or the user's client shows a spinner on the button.
    let mut answer = bot.answer_callback_query(q.id.clone());
    if let Some(t) = transient.first() {
        answer = answer.text(t.text.chars().take(MAX_CALLBACK_TEXT).collect::<String>());
    }
    if !crate::inbox::may_reply() {
        return Ok(());
    }
    if let Err(e) = answer.await {
        tracing::warn!(error = %shared.redactor.describe(&e), "answering a button press failed");
    }
    send_replies(&bot, &shared.redactor, chat, replies).await;
    Ok(())
}

/// Sends each reply as HTML, split if long, buttons under its last part.
async fn send_replies(bot: &Bot, redactor: &Redactor, chat: ChatId, replies: Vec<Reply>) {
    for reply in replies {
        if let Some(doc) = reply.document {
            // A file (`/export`) goes as a document, its text as the caption.
            let file = teloxide::types::InputFile::memory(doc.bytes).file_name(doc.file_name);
            let caption: String = reply.text.chars().take(MAX_CAPTION).collect();
            if let Err(e) = bot.send_document(chat, file).caption(caption).await {
                tracing::warn!(chat = chat.0, error = %redactor.describe(&e), "sending a document failed");
                return;
            }
            continue;
        }
        // Telegram refuses empty messages; the core has no reason to send one.
        if reply.text.trim().is_empty() {
            continue;
        }
        let parts = render::html_parts(&reply.text);
        let last = parts.len().saturating_sub(1);
        for (i, part) in parts.into_iter().enumerate() {
            let keyboard = if i == last {
                render::keyboard(&reply.buttons)
            } else {
                None
            };
            // The lease may have run out: another replica may be answering this update.
            if !crate::inbox::may_reply() {
                return;
            }
            if let Err(e) = send_part(bot, chat, part, keyboard).await {
                tracing::warn!(chat = chat.0, error = %redactor.describe(&e), "sending a reply failed");
                // The rest would read out of context.
                return;
            }
        }
    }
}

async fn send_part(
    bot: &Bot,
    chat: ChatId,
    html: String,
    keyboard: Option<teloxide::types::InlineKeyboardMarkup>,
) -> Result<(), RequestError> {
    let mut tries = 0;
    loop {
        let mut request = bot
            .send_message(chat, html.clone())
            .parse_mode(ParseMode::Html);
        if let Some(k) = &keyboard {
            request = request.reply_markup(k.clone());
        }
        match request.await {
            Ok(_) => return Ok(()),
            // Telegram asked us to wait: this chat's replies are queued behind this one, so
            // waiting here keeps them in order without holding up other chats.
            Err(RequestError::RetryAfter(after)) if tries < REPLY_RETRIES => {
                tries += 1;
                tokio::time::sleep(after.duration().min(Duration::from_secs(60))).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn text_only(lang: Option<Lang>) -> &'static str {
    match lang {
        Some(Lang::En) => "Sorry, I can only read text messages. Please type your question.",
        Some(Lang::Zh) => "抱歉，我只能读取文字消息，请用文字提问。",
        None => {
            "抱歉，我只能读取文字消息，请用文字提问。\nSorry, I can only read text messages. Please type your question."
        }
    }
}
