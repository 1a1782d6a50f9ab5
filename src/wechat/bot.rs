//! The core behind the WeChat callback: turns an [`Incoming`] into a core [`Message`] and the
//! replies into the plain text a passive reply carries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use std::time::Duration;

use tokio::time::Instant;

use crate::core::{Button, Core, Input, Message, Reply, Sender};
use crate::inbox::{Claim, LEASE_MS, RENEW_EVERY};
use crate::limit::{Limiter, RateLimit, Verdict, slow_down, unix_secs};
use crate::matcher::normalize::is_han;
use crate::store::{Handled, InboxItem, Take, now_ms};

use super::protocol::{MAX_TEXT_BYTES, fit_text};
use super::{Handler, Inbound, Incoming};

pub const CHANNEL: &str = "wechat";

/// How long a retry waits for the replica handling its message (longer than a lease, so a
/// dead replica's message is taken over).
const BUSY_WAIT: Duration = Duration::from_millis(LEASE_MS.unsigned_abs() + 2_000);
/// How long a message waits for the same follower's earlier ones, handled elsewhere.
const ORDER_WAIT: Duration = Duration::from_secs(3);
const RETRY_POLL: Duration = Duration::from_millis(50);

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
    /// Per OpenID, a first filter against floods; the count in the store (across replicas)
    /// decides the "slow down".
    limiter: Limiter<String>,
    /// This process as the claimer of inbox rows.
    owner: String,
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
            owner: crate::inbox::owner_id(),
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

    /// Each message is committed to the store's inbox and handled by one replica at a time;
    /// its reply is stored with it, so WeChat's retry gets the same answer from any replica.
    async fn handle(&self, msg: Incoming) -> String {
        // A follower far over the limit in this process alone is over it everywhere.
        let n = self.limiter.count_at(msg.openid.clone(), unix_secs());
        let limit = self.limiter.limit();
        if n > limit.max.saturating_mul(2).saturating_add(1) {
            return String::new();
        }
        let store = self.core.store().clone();
        let sent_at = if msg.sent_at > 0 {
            msg.sent_at
        } else {
            unix_secs()
        };
        let item = InboxItem {
            key: msg.dedup_key.clone(),
            sender: msg.openid.clone(),
            sent_at,
            seq: msg.seq,
            bucket: limit.bucket(sent_at),
            body: String::new(),
        };
        let patience = Instant::now() + BUSY_WAIT;
        let (token, rank) = loop {
            match store
                .inbox_take(CHANNEL, &item, &self.owner, LEASE_MS)
                .await
            {
                Ok(Take::Mine { token, rank }) => break (token, rank),
                Ok(Take::Done(reply)) => return reply.unwrap_or_default(),
                // Another replica is on it: its reply will be stored for us, or its lease
                // runs out (it died) and we take the message over.
                Ok(Take::Busy) if Instant::now() < patience => {
                    tokio::time::sleep(RETRY_POLL).await;
                }
                Ok(Take::Busy) => return String::new(),
                Err(e) => {
                    // Better answered (and perhaps twice) than never.
                    tracing::warn!(error = %e, "the WeChat inbox is unavailable; answering without it");
                    return self.respond(msg, Verdict::Allow).await;
                }
            }
        };
        let claim = Claim::new(
            CHANNEL,
            item.key.clone(),
            token,
            now_ms().saturating_add(LEASE_MS),
        );
        let work = async {
            // The follower's earlier messages, still being handled elsewhere, go first.
            let order_until = Instant::now() + ORDER_WAIT;
            while Instant::now() < order_until {
                match store
                    .inbox_earlier_open(CHANNEL, &item.sender, item.sent_at, item.seq)
                    .await
                {
                    Ok(true) => tokio::time::sleep(RETRY_POLL).await,
                    _ => break,
                }
            }
            crate::inbox::under(claim.clone(), self.respond(msg, limit.verdict(rank))).await
        };
        tokio::pin!(work);
        let reply = loop {
            tokio::select! {
                reply = &mut work => break reply,
                () = tokio::time::sleep(RENEW_EVERY) => {
                    if let Err(e) = store.inbox_renew(std::slice::from_ref(&claim), now_ms(), LEASE_MS).await {
                        tracing::warn!(error = %e, "renewing a WeChat claim failed");
                    }
                }
            }
        };
        if claim.is_lost() {
            // Taken over: the other replica stores the reply (its effects replayed, not redone).
            return String::new();
        }
        let handled = Handled {
            key: item.key.clone(),
            token,
        };
        if let Err(e) = store.inbox_finish(CHANNEL, &handled, &reply).await {
            tracing::warn!(error = %e, "storing a WeChat reply failed; a retry is answered again");
        }
        reply
    }
}

impl CoreHandler {
    /// The reply to one message, given the follower's rate-limit verdict.
    async fn respond(&self, msg: Incoming, verdict: Verdict) -> String {
        match verdict {
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
