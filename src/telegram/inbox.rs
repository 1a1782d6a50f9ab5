//! Telegram's side of the durable inbox (see `crate::inbox`).
//!
//! Intake: a webhook delivery is answered 200 only once its update is committed to the store,
//! and long polling asks for the next offset (which confirms a batch to Telegram) only once
//! the batch is committed, so an acknowledged update survives any crash. Concurrent webhook
//! deliveries are committed together, a polled batch in one transaction.
//!
//! The drain: any replica claims open rows (the oldest open row of each sender, under a short
//! lease it renews) and runs the handler tree on each; a row is marked done in the next round's
//! transaction, after its replies went out. A replica that dies leaves its claims to expire;
//! another takes them over within [`LEASE_MS`] and the store replays what the dead one had
//! committed. One sender's updates run one at a time in the order they were sent, different
//! senders concurrently.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use subtle::ConstantTimeEq as _;
use teloxide::dispatching::UpdateHandler;
use teloxide::prelude::*;
use teloxide::types::{Me, UpdateKind};
use teloxide::{ApiError, RequestError};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{CHANNEL, POLL_TIMEOUT, Redactor, TelegramError, handler};
use crate::inbox::{Claim, LEASE_MS, RENEW_EVERY};
use crate::limit::{Limiter, RateLimit, unix_secs};
use crate::store::{Claimed, Handled, InboxItem, Store, now_ms};

/// Updates one replica handles at once (each a different sender).
const IN_FLIGHT: usize = 64;
/// How often an idle drain looks for work a dead replica left behind (an expired lease);
/// new local work wakes it at once.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// After a store error, the pause before the next round.
const ERROR_PAUSE: Duration = Duration::from_millis(500);
/// Claims of one update before it is given up (a handler that keeps failing).
const MAX_ATTEMPTS: i64 = 5;
/// Webhook deliveries committed in one transaction at most.
const PUT_BATCH: usize = 256;
/// First and longest pause after a failed getUpdates.
const POLL_RETRY_FIRST: Duration = Duration::from_millis(500);
const POLL_RETRY_MAX: Duration = Duration::from_secs(30);

/// How an update enters the inbox: keyed by its id, ordered and rate-limited per sender.
fn inbound(update: &Update, body: String, limit: &RateLimit) -> InboxItem {
    let sent_at = match &update.kind {
        UpdateKind::Message(m)
        | UpdateKind::EditedMessage(m)
        | UpdateKind::ChannelPost(m)
        | UpdateKind::EditedChannelPost(m) => m.date.timestamp(),
        // Button presses and inline queries carry no date: when they arrived.
        _ => unix_secs(),
    };
    let sender = match (update.from(), update.chat()) {
        (Some(user), _) => user.id.0.to_string(),
        (None, Some(chat)) => format!("chat:{}", chat.id.0),
        (None, None) => format!("update:{}", update.id.0),
    };
    InboxItem {
        key: update.id.0.to_string(),
        sender,
        sent_at,
        seq: i64::from(update.id.0),
        bucket: limit.bucket(sent_at),
        body,
    }
}

/// A sender far over the limit in this process alone is far over it everywhere: such updates
/// are acknowledged without being stored, so a flood costs next to nothing. Well below this,
/// the count in the store decides (one "slow down", then silence).
fn flooding(prefilter: &Limiter<String>, item: &InboxItem) -> bool {
    let max = prefilter.limit().max;
    let n = prefilter.count_at(item.sender.clone(), unix_secs());
    n > max.saturating_mul(2).saturating_add(1)
}

/// Logs an update teloxide cannot read by id and kind only: its content is personal.
fn log_unparsed(key: &str, body: &str) {
    let kind = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.as_object()?
                .keys()
                .find(|k| k.as_str() != "update_id")
                .cloned()
        })
        .unwrap_or_else(|| "unknown".into());
    tracing::warn!(
        "Cannot parse an update (update_id {key}, kind {kind}); its content is not logged"
    );
}

// ---- intake: webhook ---------------------------------------------------------------------------

/// What the webhook route shares.
pub(super) struct Webhook {
    secret: String,
    limit: RateLimit,
    prefilter: Limiter<String>,
    queue: mpsc::Sender<(InboxItem, oneshot::Sender<bool>)>,
}

/// The webhook route at `path` and the task committing its deliveries; the task ends once
/// the router (the server) is gone.
pub(super) fn webhook(
    path: &str,
    secret: String,
    limit: RateLimit,
    store: Store,
    wake: Arc<Notify>,
) -> Router {
    let (queue, mut deliveries) =
        mpsc::channel::<(InboxItem, oneshot::Sender<bool>)>(4 * PUT_BATCH);
    tokio::spawn(async move {
        // Deliveries arriving while a commit runs go into the next one together.
        while let Some(first) = deliveries.recv().await {
            let mut batch = vec![first];
            while batch.len() < PUT_BATCH {
                match deliveries.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let (items, replies): (Vec<InboxItem>, Vec<oneshot::Sender<bool>>) =
                batch.into_iter().unzip();
            let committed = match store.inbox_put(CHANNEL, &items).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "committing webhook updates failed; Telegram will redeliver them");
                    false
                }
            };
            if committed {
                wake.notify_one();
            }
            for reply in replies {
                let _ = reply.send(committed);
            }
        }
    });
    let state = Arc::new(Webhook {
        secret,
        limit,
        prefilter: Limiter::new(limit),
        queue,
    });
    let path = if path.is_empty() { "/" } else { path };
    Router::new().route(path, post(delivery)).with_state(state)
}

/// One webhook delivery: 200 once the update is committed, 503 (Telegram retries) if it
/// could not be.
async fn delivery(State(s): State<Arc<Webhook>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let given = headers
        .get("x-telegram-bot-api-secret-token")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(s.secret.as_bytes())) {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let update: Update = match serde_json::from_str(text) {
        Ok(update) => update,
        Err(_) => {
            log_unparsed("unknown", text);
            return StatusCode::BAD_REQUEST;
        }
    };
    let item = inbound(&update, text.to_owned(), &s.limit);
    if flooding(&s.prefilter, &item) {
        return StatusCode::OK;
    }
    let (tx, rx) = oneshot::channel();
    if s.queue.send((item, tx)).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match rx.await {
        Ok(true) => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

// ---- intake: long polling ----------------------------------------------------------------------

/// Long polling until `stop`: each batch is committed before the next `getUpdates` confirms
/// it. A refused token ends it with an error; other failures are retried with backoff.
pub(super) async fn poll(
    bot: Bot,
    store: Store,
    limit: RateLimit,
    wake: Arc<Notify>,
    redactor: Redactor,
    stop: CancellationToken,
) -> Result<(), TelegramError> {
    let prefilter: Limiter<String> = Limiter::new(limit);
    let mut offset: Option<i32> = None;
    let mut delay = POLL_RETRY_FIRST;
    let timeout = u32::try_from(POLL_TIMEOUT.as_secs()).unwrap_or(10);
    loop {
        let mut request = bot.get_updates().timeout(timeout);
        if let Some(offset) = offset {
            request = request.offset(offset);
        }
        let got = tokio::select! {
            got = request.send() => got,
            () = stop.cancelled() => return Ok(()),
        };
        let updates = match got {
            Ok(updates) => {
                delay = POLL_RETRY_FIRST;
                updates
            }
            Err(RequestError::Api(ApiError::InvalidToken)) => {
                return Err(TelegramError::InvalidToken);
            }
            Err(e) => {
                tracing::warn!(error = %redactor.describe(&e), retry_in_ms = delay.as_millis() as u64, "getUpdates failed");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stop.cancelled() => return Ok(()),
                }
                delay = (delay * 2).min(POLL_RETRY_MAX);
                continue;
            }
        };
        let Some(last) = updates.iter().map(|u| u.id.0).max() else {
            continue;
        };
        let batch: Vec<InboxItem> = updates
            .iter()
            .map(|u| inbound(u, body_of(u), &limit))
            .filter(|item| !flooding(&prefilter, item))
            .collect();
        loop {
            match store.inbox_put(CHANNEL, &batch).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "committing polled updates failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(ERROR_PAUSE) => {}
                        // Not confirmed: Telegram sends them again after a restart.
                        () = stop.cancelled() => return Ok(()),
                    }
                }
            }
        }
        wake.notify_one();
        offset = Some(i32::try_from(i64::from(last) + 1).unwrap_or(i32::MAX));
    }
}

/// An update as stored: its JSON, or for one teloxide could not read, the JSON it came as.
fn body_of(update: &Update) -> String {
    match &update.kind {
        UpdateKind::Error(raw) => raw.to_string(),
        _ => serde_json::to_string(update).unwrap_or_default(),
    }
}

// ---- the drain ---------------------------------------------------------------------------------

/// Claims in progress, for the renewer.
type Claims = Arc<Mutex<HashMap<tokio::task::Id, Arc<Claim>>>>;

fn lock(claims: &Claims) -> std::sync::MutexGuard<'_, HashMap<tokio::task::Id, Arc<Claim>>> {
    claims.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Handles the inbox until stopped.
pub(super) struct Drain {
    pub store: Store,
    pub owner: String,
    pub bot: Bot,
    pub me: Me,
    pub shared: Arc<handler::Shared>,
    pub limit: RateLimit,
    pub wake: Arc<Notify>,
}

impl Drain {
    /// Runs until `stop`, then finishes the updates in hand (at most `grace`), records them
    /// and returns; rows not yet claimed stay for the other replicas or the next start.
    pub async fn run(self, stop: CancellationToken, grace: Duration) {
        let claims: Claims = Arc::default();
        let renew_stop = CancellationToken::new();
        let renewer = tokio::spawn(renew(
            self.store.clone(),
            claims.clone(),
            renew_stop.clone(),
        ));
        let schema = Arc::new(handler::schema());
        let mut tasks: JoinSet<bool> = JoinSet::new();
        let mut handled: Vec<Handled> = Vec::new();
        while !stop.is_cancelled() {
            let room = IN_FLIGHT.saturating_sub(tasks.len());
            let mut idle = IDLE_POLL;
            if room > 0 || !handled.is_empty() {
                let started = now_ms();
                match self
                    .store
                    .inbox_round(CHANNEL, &self.owner, &handled, room, LEASE_MS)
                    .await
                {
                    Ok(rows) => {
                        handled.clear();
                        for row in rows {
                            self.start(row, started, &claims, &schema, &mut tasks);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the inbox failed");
                        idle = ERROR_PAUSE;
                    }
                }
            }
            tokio::select! {
                Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    finished(done, &claims, &mut handled);
                    while let Some(done) = tasks.try_join_next_with_id() {
                        finished(done, &claims, &mut handled);
                    }
                }
                () = self.wake.notified() => {}
                () = tokio::time::sleep(idle) => {}
                () = stop.cancelled() => {}
            }
        }
        let deadline = Instant::now() + grace;
        loop {
            tokio::select! {
                done = tasks.join_next_with_id() => match done {
                    Some(done) => finished(done, &claims, &mut handled),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(
                        updates = tasks.len(),
                        "stopping with updates unfinished; another replica or the next start takes them over"
                    );
                    tasks.abort_all();
                    break;
                }
            }
        }
        renew_stop.cancel();
        if !handled.is_empty() {
            let recorded = tokio::time::timeout_at(
                deadline.max(Instant::now() + Duration::from_millis(500)),
                self.store
                    .inbox_round(CHANNEL, &self.owner, &handled, 0, LEASE_MS),
            )
            .await;
            if !matches!(recorded, Ok(Ok(_))) {
                tracing::warn!(
                    "recording the last handled updates failed; they may be answered again"
                );
            }
        }
        let _ = renewer.await;
    }

    fn start(
        &self,
        row: Claimed,
        claimed_at: i64,
        claims: &Claims,
        schema: &Arc<UpdateHandler<std::convert::Infallible>>,
        tasks: &mut JoinSet<bool>,
    ) {
        let claim = Claim::new(
            CHANNEL,
            row.key.clone(),
            row.token,
            claimed_at.saturating_add(LEASE_MS),
        );
        let deps = dptree::deps![
            self.bot.clone(),
            self.me.clone(),
            self.shared.clone(),
            self.limit.verdict(row.rank)
        ];
        let work = handle(row, claim.clone(), deps, schema.clone());
        // The map is filled before the task can finish: the lock is held across the spawn.
        let mut map = lock(claims);
        let id = tasks.spawn(work).id();
        map.insert(id, claim);
    }
}

/// A finished task: its row is recorded as handled unless it was left to another replica.
fn finished(
    done: Result<(tokio::task::Id, bool), tokio::task::JoinError>,
    claims: &Claims,
    handled: &mut Vec<Handled>,
) {
    let (id, record) = match done {
        Ok((id, record)) => (id, record),
        Err(e) => {
            // A bug, not a reason to answer it again and again.
            if e.is_panic() {
                tracing::error!("handling an update panicked; it is not retried");
            }
            (e.id(), e.is_panic())
        }
    };
    let Some(claim) = lock(claims).remove(&id) else {
        return;
    };
    if record && !claim.abandoned() {
        handled.push(Handled {
            key: claim.key.clone(),
            token: claim.token,
        });
    }
}

/// Handles one claimed row; false if it must be left to a takeover (the lease may have run
/// out before a reply went out).
async fn handle(
    row: Claimed,
    claim: Arc<Claim>,
    mut deps: dptree::di::DependencyMap,
    schema: Arc<UpdateHandler<std::convert::Infallible>>,
) -> bool {
    if row.attempts > MAX_ATTEMPTS {
        tracing::error!(update = %row.key, attempts = row.attempts, "an update kept failing; given up");
        return true;
    }
    let update: Update = match serde_json::from_str(&row.body) {
        Ok(update) => update,
        Err(_) => {
            log_unparsed(&row.key, &row.body);
            return true;
        }
    };
    if matches!(update.kind, UpdateKind::Error(_)) {
        log_unparsed(&row.key, &row.body);
        return true;
    }
    deps.insert(update);
    let outcome = crate::inbox::under(claim.clone(), schema.dispatch(deps)).await;
    match outcome {
        ControlFlow::Break(Ok(())) | ControlFlow::Continue(_) => {}
        ControlFlow::Break(Err(never)) => match never {},
    }
    !claim.abandoned()
}

/// Renews the claims in progress every [`RENEW_EVERY`] until `stop`.
async fn renew(store: Store, claims: Claims, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(RENEW_EVERY) => {}
            () = stop.cancelled() => return,
        }
        let live: Vec<Arc<Claim>> = lock(&claims)
            .values()
            .filter(|c| !c.abandoned())
            .cloned()
            .collect();
        if let Err(e) = store.inbox_renew(&live, now_ms(), LEASE_MS).await {
            tracing::warn!(error = %e, "renewing inbox claims failed");
        }
    }
}
