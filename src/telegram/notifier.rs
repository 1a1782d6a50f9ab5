//! Delivers the store's outbox (progress notifications for subscribers) to Telegram.
//!
//! Each notification is leased, sent through teloxide's `Throttle` (Telegram's broadcast
//! limits), and completed right after Telegram accepted it, so a restart neither loses nor
//! repeats one (short of a crash between the send and the completion, which at-least-once
//! delivery has to accept). Replicas sharing a PostgreSQL store never lease the same row.
//! Leases are short and renewed while a batch is being sent, so a dead replica's
//! notifications go out from another within [`LEASE_MS`] plus one poll.

use std::time::Duration;

use teloxide::adaptors::Throttle;
use teloxide::prelude::*;
use teloxide::types::ParseMode;
use teloxide::{ApiError, RequestError};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{CHANNEL, Redactor, render};
use crate::store::{OutboxItem, Store};

/// Notifications leased per round.
const BATCH: u32 = 50;
/// How long a claim on a notification holds without renewal: how long a dead replica's
/// notifications wait for another replica.
pub const LEASE_MS: i64 = 10_000;
/// Renewed this often while sending (a send may wait out a 429 or a 5xx pause).
const RENEW_EVERY: Duration = Duration::from_secs(3);
/// Attempts before a notification is given up.
pub const MAX_ATTEMPTS: i32 = 10;
/// First retry delay after a server or network error; doubles per attempt, up to the cap.
const BACKOFF_BASE_MS: i64 = 1_000;
const BACKOFF_CAP_MS: i64 = 600_000;

pub(super) struct Notifier {
    pub bot: Throttle<Bot>,
    pub store: Store,
    pub redactor: Redactor,
    /// How often to look for new notifications when the outbox was empty.
    pub poll: Duration,
}

impl Notifier {
    /// Runs until `stop`; a round in flight (sends and their bookkeeping) always finishes.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            let busy = match self.store.claim_outbox(CHANNEL, BATCH, LEASE_MS).await {
                Ok(items) if items.is_empty() => false,
                Ok(items) => {
                    self.deliver(items).await;
                    true
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading the outbox failed");
                    false
                }
            };
            if stop.is_cancelled() {
                break;
            }
            if !busy {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(self.poll) => {}
                }
            }
        }
    }

    /// Sends a batch concurrently (Throttle spaces them out), one outcome per item, renewing
    /// the leases of those not yet done.
    async fn deliver(&self, items: Vec<OutboxItem>) {
        let mut sends = JoinSet::new();
        let mut pending = std::collections::HashMap::new();
        for item in items {
            let bot = self.bot.clone();
            let store = self.store.clone();
            let redactor = self.redactor.clone();
            let id = item.id;
            let task = sends.spawn(async move { deliver_one(&bot, &store, &redactor, item).await });
            pending.insert(task.id(), id);
        }
        let mut renew =
            tokio::time::interval_at(tokio::time::Instant::now() + RENEW_EVERY, RENEW_EVERY);
        loop {
            tokio::select! {
                done = sends.join_next_with_id() => match done {
                    None => break,
                    Some(Ok((task, ()))) => {
                        pending.remove(&task);
                    }
                    Some(Err(e)) => {
                        pending.remove(&e.id());
                        tracing::error!(error = %e, "a notification task failed");
                    }
                },
                _ = renew.tick() => {
                    let ids: Vec<i64> = pending.values().copied().collect();
                    if let Err(e) = self.store.renew_outbox(&ids, LEASE_MS).await {
                        tracing::warn!(error = %e, "renewing notification leases failed");
                    }
                }
            }
        }
    }
}

/// What to do with a notification after a failed send.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// Try again after this many milliseconds.
    Retry(i64),
    /// The chat is gone or blocked the bot: forget its subscriptions.
    Unsubscribe,
    /// Telegram will never accept it.
    Drop,
    /// Not this notification's fault (the token was revoked): leave it leased, uncounted, to
    /// be tried again when the lease runs out.
    Later,
}

fn classify(e: &RequestError, attempts: i32) -> Failure {
    let backoff = || {
        if attempts + 1 >= MAX_ATTEMPTS {
            return Failure::Drop;
        }
        let exp = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
        Failure::Retry((BACKOFF_BASE_MS.saturating_mul(1 << exp)).min(BACKOFF_CAP_MS))
    };
    match e {
        RequestError::RetryAfter(s) => {
            if attempts + 1 >= MAX_ATTEMPTS {
                Failure::Drop
            } else {
                Failure::Retry(i64::from(s.seconds()) * 1000)
            }
        }
        RequestError::Api(
            ApiError::BotBlocked
            | ApiError::BotKicked
            | ApiError::BotKickedFromSupergroup
            | ApiError::BotKickedFromChannel
            | ApiError::UserDeactivated
            | ApiError::ChatNotFound
            | ApiError::CantInitiateConversation
            | ApiError::CantTalkWithBots,
        ) => Failure::Unsubscribe,
        // 5xx answers and anything Telegram did not describe: transient as far as we know.
        RequestError::Api(ApiError::Unknown(_))
        | RequestError::Network(_)
        | RequestError::Io(_)
        | RequestError::InvalidJson { .. } => backoff(),
        RequestError::Api(ApiError::InvalidToken) => Failure::Later,
        RequestError::Api(_) | RequestError::MigrateToChatId(_) => Failure::Drop,
    }
}

async fn deliver_one(bot: &Throttle<Bot>, store: &Store, redactor: &Redactor, item: OutboxItem) {
    let Ok(chat) = item.chat_id.parse::<i64>() else {
        tracing::warn!(
            id = item.id,
            "dropping a notification for a non-Telegram chat id"
        );
        log_store(store.drop_outbox(item.id).await);
        return;
    };
    let mut sent = Ok(());
    for part in render::html_parts(&item.text) {
        sent = bot
            .send_message(ChatId(chat), part)
            .parse_mode(ParseMode::Html)
            .await
            .map(drop);
        if sent.is_err() {
            break;
        }
    }
    let Err(e) = sent else {
        log_store(store.complete_outbox(item.id).await);
        return;
    };
    let failure = classify(&e, item.attempts);
    tracing::warn!(
        id = item.id,
        chat,
        attempts = item.attempts + 1,
        error = %redactor.describe(&e),
        outcome = ?failure,
        "a notification was not delivered"
    );
    match failure {
        Failure::Retry(after) => log_store(store.retry_outbox(item.id, after).await),
        Failure::Unsubscribe => match store.unsubscribe_chat(CHANNEL, &item.chat_id).await {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "unsubscribing a blocked chat failed");
                // Still free the row, or it would be leased and refused forever.
                log_store(store.drop_outbox(item.id).await);
            }
        },
        Failure::Drop => log_store(store.drop_outbox(item.id).await),
        Failure::Later => {}
    }
}

fn log_store(r: Result<(), crate::store::StoreError>) {
    if let Err(e) = r {
        tracing::warn!(error = %e, "updating the outbox failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified() {
        let blocked = RequestError::Api(ApiError::BotBlocked);
        assert_eq!(classify(&blocked, 0), Failure::Unsubscribe);
        let server = RequestError::Api(ApiError::Unknown("Internal Server Error".into()));
        assert_eq!(classify(&server, 0), Failure::Retry(1_000));
        assert_eq!(classify(&server, 3), Failure::Retry(8_000));
        assert_eq!(classify(&server, MAX_ATTEMPTS - 1), Failure::Drop);
        let bad = RequestError::Api(ApiError::CantParseEntities("x".into()));
        assert_eq!(classify(&bad, 0), Failure::Drop);
        let revoked = RequestError::Api(ApiError::InvalidToken);
        assert_eq!(classify(&revoked, MAX_ATTEMPTS), Failure::Later);
    }
}
