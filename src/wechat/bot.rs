//! The core behind the WeChat callback: turns an [`Incoming`] into a core [`Message`] and the
//! replies into the plain text a passive reply carries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::core::{Button, Core, Input, Message, Reply, Sender};
use crate::limit::{Limiter, RateLimit, Verdict, slow_down};
use crate::matcher::normalize::is_han;

use super::protocol::{MAX_TEXT_BYTES, fit_text};
use super::{Handler, Inbound, Incoming};

pub const CHANNEL: &str = "wechat";

/// How many users' last choices are remembered for "reply with a number" (oldest forgotten).
const MAX_REMEMBERED: usize = 10_000;

/// WeChat shows no buttons: choices are numbered in the text and a reply of just that number
/// picks one, so each user's last choices are kept here.
pub struct CoreHandler {
    core: Arc<Core>,
    /// `WECHAT_KF=1`: the account has customer-service staff, and "转人工" goes to them.
    staff: bool,
    /// The account's menu (`faq/wechat_menu.toml`): what each `click` key runs.
    menu: Option<super::menu::Menu>,
    choices: Mutex<HashMap<String, Vec<Button>>>,
    /// Per OpenID, as on Telegram: a script must not keep the core busy.
    limiter: Limiter<String>,
}

impl CoreHandler {
    /// With the default rate limit (20 messages a minute per OpenID).
    pub fn new(core: Arc<Core>) -> CoreHandler {
        CoreHandler::with_rate_limit(core, RateLimit::default())
    }

    pub fn with_rate_limit(core: Arc<Core>, limit: RateLimit) -> CoreHandler {
        CoreHandler {
            core,
            staff: false,
            menu: None,
            choices: Mutex::new(HashMap::new()),
            limiter: Limiter::new(limit),
        }
    }

    /// Answers taps on the account's menu with the commands it declares.
    pub fn with_menu(mut self, menu: Option<super::menu::Menu>) -> CoreHandler {
        self.menu = menu;
        self
    }

    /// Hands "转人工" / "人工客服" to the account's customer-service staff (`WECHAT_KF=1`).
    pub fn with_staff_transfer(mut self, on: bool) -> CoreHandler {
        self.staff = on;
        self
    }

    fn pick(&self, openid: &str, text: &str) -> Option<String> {
        let n: usize = text.trim().parse().ok()?;
        let choices = self.choices.lock().unwrap_or_else(PoisonError::into_inner);
        choices
            .get(openid)?
            .get(n.checked_sub(1)?)
            .map(|b| b.data.clone())
    }

    fn remember(&self, openid: &str, buttons: Vec<Button>) {
        let mut choices = self.choices.lock().unwrap_or_else(PoisonError::into_inner);
        if buttons.is_empty() {
            choices.remove(openid);
            return;
        }
        if choices.len() >= MAX_REMEMBERED {
            choices.clear();
        }
        choices.insert(openid.to_string(), buttons);
    }

    async fn text(&self, openid: &str, text: &str) -> String {
        let input = match self.pick(openid, text) {
            Some(data) => Input::Button(data),
            None => Input::Text(text.to_string()),
        };
        let msg = Message {
            sender: Sender {
                channel: CHANNEL,
                user_id: openid.to_string(),
                // WeChat tells a passive reply no names; residents never see an OpenID, so
                // the core shows a granted officer's department or "工作人员".
                name: String::new(),
                lang: None,
            },
            chat_id: openid.to_string(),
            input,
        };
        let replies = self.core.handle(&msg).await;
        let (text, buttons) = render(&replies);
        self.remember(openid, buttons);
        text
    }
}

impl Handler for CoreHandler {
    fn transfer_to_staff(&self, msg: &Incoming) -> bool {
        self.staff
            && matches!(&msg.inbound,
                Inbound::Text { content: words } | Inbound::Voice { recognition: words }
                if crate::core::asks_for_a_person(&crate::text::clean(words)))
    }

    async fn handle(&self, msg: Incoming) -> String {
        // WeChat may deliver one message to two replicas; only the first acts on it.
        match self.core.store().first_seen(CHANNEL, &msg.dedup_key).await {
            Ok(true) => {}
            Ok(false) => return String::new(),
            Err(e) => tracing::warn!(error = %e, "wechat dedup check failed; answering anyway"),
        }
        // After the dedup check: WeChat's retries of one message count once.
        match self.limiter.check(msg.openid.clone()) {
            Verdict::Allow => {}
            Verdict::Warn => return slow_down(reply_lang(&msg.inbound)).to_string(),
            Verdict::Drop => return String::new(),
        }
        let chinese_default = crate::Lang::Zh;
        let text = match msg.inbound {
            Inbound::Text { content } => self.text(&msg.openid, &content).await,
            // What was heard comes first, so a misheard question is seen for what it is.
            Inbound::Voice { recognition } => {
                let heard = crate::text::clean_line(&recognition, 200);
                let answer = self.text(&msg.openid, &recognition).await;
                let prefix = if heard.chars().any(is_han) {
                    "🎙 听到："
                } else {
                    "🎙 Heard: "
                };
                format!("{prefix}{heard}\n\n{answer}")
            }
            Inbound::Subscribe => format!(
                "{}\n\n{}",
                self.core.welcome(chinese_default).text,
                self.core.privacy_notice(chinese_default)
            ),
            // Unfollowing the account deletes what the bot keeps about the follower.
            Inbound::Unsubscribe => {
                if let Err(e) = self.core.forget(CHANNEL, &msg.openid).await {
                    tracing::error!(error = %e, "forgetting an unsubscribed follower failed");
                }
                String::new()
            }
            // A menu tap runs the command its key names, as if it had been typed.
            Inbound::Click { key } => match self.menu.as_ref().and_then(|m| m.command_for(&key)) {
                Some(command) => self.text(&msg.openid, command).await,
                None => {
                    tracing::warn!(%key, "a menu key that faq/wechat_menu.toml does not declare");
                    String::new()
                }
            },
            Inbound::Other { msg_type } if msg_type.starts_with("event:") => String::new(),
            Inbound::Other { .. } => {
                "目前我只能读懂文字消息，请用文字提问。\nI can only read text messages for now."
                    .to_string()
            }
        };
        fit(&text)
    }
}

/// The language to say "slow down" in: Chinese for Chinese text, English for English words,
/// both when there is no telling (events, numbers, images).
fn reply_lang(inbound: &Inbound) -> Option<crate::Lang> {
    let (Inbound::Text { content }
    | Inbound::Voice {
        recognition: content,
    }) = inbound
    else {
        return None;
    };
    if content.chars().any(is_han) {
        Some(crate::Lang::Zh)
    } else if content
        .split(|c: char| !c.is_ascii_alphabetic())
        .any(|w| w.len() >= 3)
    {
        Some(crate::Lang::En)
    } else {
        None
    }
}

/// The replies as one plain text; choices become numbered lines to answer with a number.
fn render(replies: &[Reply]) -> (String, Vec<Button>) {
    let mut text = String::new();
    let mut choices = Vec::new();
    for reply in replies {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&reply.text);
        let options: Vec<&Button> = reply
            .buttons
            .iter()
            .filter(|b| !b.data.starts_with("fb:"))
            .collect();
        // "Did you mean" lists are numbered in the text already; others get numbered here.
        let numbered = options
            .iter()
            .enumerate()
            .all(|(i, b)| reply.text.contains(&format!("{}. {}", i + 1, b.label)));
        if !options.is_empty() {
            if !numbered {
                for (i, b) in options.iter().enumerate() {
                    text.push_str(&format!("\n{}. {}", i + 1, b.label));
                }
            }
            text.push_str(if reply.text.chars().any(is_han) {
                "\n（回复数字即可选择）"
            } else {
                "\n(Reply with a number to choose.)"
            });
            choices = options.into_iter().cloned().collect();
        }
    }
    (text, choices)
}

/// Cuts a long reply to WeChat's limit, keeping whole lines and pointing at the full status.
fn fit(text: &str) -> String {
    let tail = if text.chars().any(is_han) {
        "\n……（内容较长，已截断。发送 /status 任务编号 查看单项详情）"
    } else {
        "\n… (cut short: send /status and a task number for one task in full)"
    };
    fit_text(text, MAX_TEXT_BYTES, tail)
}
