//! The durable inbox (a child of `db`): updates committed before they are acknowledged,
//! claimed by one replica at a time under a short lease, handled in each sender's order, and
//! fenced by a claim token so that a replica that lost its claim commits nothing.

use super::{Dialect, POSTGRES, SQLITE, Store, StoreError, now_ms};
use crate::inbox::Claim;
use crate::store::{Claimed, Handled, InboxItem, Take};

const PUT: &str = "INSERT INTO inbox (channel, update_key, sender, sent_at, seq, bucket, body, \
     received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (channel, update_key) DO NOTHING";

/// Marks a handled row done, only under the claim that handled it.
const DONE: &str = "UPDATE inbox SET done_at = $4, reply = $5, leased_until = NULL \
     WHERE channel = $1 AND update_key = $2 AND token = $3 AND done_at IS NULL";

/// `inbox` ordered before `c` among its sender's rows.
macro_rules! earlier {
    ($e:literal, $c:literal) => {
        concat!(
            $e,
            ".channel = ",
            $c,
            ".channel AND ",
            $e,
            ".sender = ",
            $c,
            ".sender AND (",
            $e,
            ".sent_at < ",
            $c,
            ".sent_at OR (",
            $e,
            ".sent_at = ",
            $c,
            ".sent_at AND ",
            $e,
            ".seq < ",
            $c,
            ".seq))"
        )
    };
}

/// The claim statement: binds owner, token, lease end, channel, now, limit. A row is
/// claimable when nobody holds a live lease on it and no earlier row of its sender is still
/// open, so a sender's updates run one at a time, in order, across all replicas. Its rank
/// counts the sender's rows in its rate-limit window up to itself; they are all done by then.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE inbox SET owner = $1, token = $2, leased_until = $3, attempts = attempts + 1 ",
            "WHERE id IN (SELECT c.id FROM inbox c WHERE c.channel = $4 AND c.done_at IS NULL ",
            "AND (c.leased_until IS NULL OR c.leased_until <= $5) ",
            "AND NOT EXISTS (SELECT 1 FROM inbox e WHERE e.done_at IS NULL AND ",
            earlier!("e", "c"),
            ") ORDER BY c.id LIMIT $6",
            $lock,
            ") RETURNING update_key, body, token, attempts, ",
            "(SELECT COUNT(*) FROM inbox e WHERE e.bucket = inbox.bucket AND ",
            earlier!("e", "inbox"),
            ") + 1 AS rank"
        )
    };
}

pub(super) const SQLITE_CLAIM_INBOX: &str = claim_sql!("");
// SKIP LOCKED: replicas pass over rows another one is claiming right now; the re-check after
// locking excludes rows a transaction that committed meanwhile has claimed.
pub(super) const POSTGRES_CLAIM_INBOX: &str = claim_sql!(" FOR UPDATE SKIP LOCKED");

const RANK: &str = concat!(
    "SELECT (SELECT COUNT(*) FROM inbox e WHERE e.bucket = c.bucket AND ",
    earlier!("e", "c"),
    ") + 1 FROM inbox c WHERE c.channel = $1 AND c.update_key = $2"
);

type ClaimRow = (String, String, i64, i64, i64);

fn claimed(rows: Vec<ClaimRow>) -> Vec<Claimed> {
    rows.into_iter()
        .map(|(key, body, token, attempts, rank)| Claimed {
            key,
            body,
            token,
            attempts,
            rank,
        })
        .collect()
}

impl Store {
    /// Commits a batch of incoming updates in one transaction, before the channel acknowledges
    /// them. An update already in the inbox (a redelivery) is left as it is.
    pub async fn inbox_put(&self, channel: &str, batch: &[InboxItem]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        in_tx!(self, |tx, _sql| {
            for item in batch {
                sqlx::query(PUT)
                    .bind(channel)
                    .bind(item.key.as_str())
                    .bind(item.sender.as_str())
                    .bind(item.sent_at)
                    .bind(item.seq)
                    .bind(item.bucket)
                    .bind(item.body.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
        });
        Ok(())
    }

    /// One drain round in one transaction: marks `handled` rows done (each only under the
    /// claim that handled it), then claims up to `limit` rows for `owner` for `lease_ms`:
    /// the oldest open row of as many senders as it can, none of whose earlier rows is open.
    pub async fn inbox_round(
        &self,
        channel: &str,
        owner: &str,
        handled: &[Handled],
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        let now = now_ms();
        let token = crate::inbox::new_token();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<ClaimRow> = in_tx!(self, |tx, sql| {
            for done in handled {
                sqlx::query(DONE)
                    .bind(channel)
                    .bind(done.key.as_str())
                    .bind(done.token)
                    .bind(now)
                    .bind(None::<&str>)
                    .execute(&mut *tx)
                    .await?;
            }
            if limit > 0 {
                sqlx::query_as(sql.claim_inbox)
                    .bind(owner)
                    .bind(token)
                    .bind(now.saturating_add(lease_ms))
                    .bind(channel)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?
            } else {
                Vec::new()
            }
        });
        Ok(claimed(rows))
    }

    /// Extends the leases of `claims` (rows this replica is still working on) by `lease_ms`
    /// from `now_ms`. A row is renewed only while it carries the claim's token and a live
    /// lease; a claim whose row was not renewed is marked lost.
    pub async fn inbox_renew(
        &self,
        claims: &[std::sync::Arc<Claim>],
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<(), StoreError> {
        if claims.is_empty() {
            return Ok(());
        }
        let until = now_ms.saturating_add(lease_ms);
        let renewed: Vec<bool> = in_tx!(self, |tx, _sql| {
            let mut renewed = Vec::with_capacity(claims.len());
            for claim in claims {
                let n = sqlx::query(
                    "UPDATE inbox SET leased_until = $4 WHERE channel = $1 AND update_key = $2 \
                     AND token = $3 AND done_at IS NULL AND leased_until > $5",
                )
                .bind(claim.channel)
                .bind(claim.key.as_str())
                .bind(claim.token)
                .bind(until)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                renewed.push(n > 0);
            }
            renewed
        });
        for (claim, ok) in claims.iter().zip(renewed) {
            if ok {
                claim.renewed(until);
            } else {
                claim.lose();
            }
        }
        Ok(())
    }

    /// Commits `item` to the inbox if it is not there yet and claims it for `owner`, in one
    /// transaction: for a channel that handles each update in the request that brought it
    /// (WeChat). A retry finds it done (with the reply stored) or busy elsewhere; a row whose
    /// claimer died is taken over once its lease has run out.
    pub async fn inbox_take(
        &self,
        channel: &str,
        item: &InboxItem,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Take, StoreError> {
        let now = now_ms();
        let token = crate::inbox::new_token();
        let take = in_tx!(self, |tx, _sql| {
            sqlx::query(PUT)
                .bind(channel)
                .bind(item.key.as_str())
                .bind(item.sender.as_str())
                .bind(item.sent_at)
                .bind(item.seq)
                .bind(item.bucket)
                .bind(item.body.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let mine = sqlx::query(
                "UPDATE inbox SET owner = $3, token = $4, leased_until = $5, \
                 attempts = attempts + 1 WHERE channel = $1 AND update_key = $2 \
                 AND done_at IS NULL AND (leased_until IS NULL OR leased_until <= $6)",
            )
            .bind(channel)
            .bind(item.key.as_str())
            .bind(owner)
            .bind(token)
            .bind(now.saturating_add(lease_ms))
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if mine > 0 {
                let rank: i64 = sqlx::query_scalar(RANK)
                    .bind(channel)
                    .bind(item.key.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                Take::Mine { token, rank }
            } else {
                let row: Option<(Option<i64>, Option<String>)> = sqlx::query_as(
                    "SELECT done_at, reply FROM inbox WHERE channel = $1 AND update_key = $2",
                )
                .bind(channel)
                .bind(item.key.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                match row {
                    Some((Some(_), reply)) => Take::Done(reply),
                    _ => Take::Busy,
                }
            }
        });
        Ok(take)
    }

    /// Whether an update of `sender` ordered before (`sent_at`, `seq`) is still open and
    /// someone is on it (claimed under a live lease, or not yet claimed): the caller waits
    /// for it so that the sender's updates take effect in order.
    pub async fn inbox_earlier_open(
        &self,
        channel: &str,
        sender: &str,
        sent_at: i64,
        seq: i64,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let open: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM inbox WHERE channel = $1 AND sender = $2 \
                 AND done_at IS NULL AND (sent_at < $3 OR (sent_at = $3 AND seq < $4)) \
                 AND (leased_until IS NULL OR leased_until > $5)",
            )
            .bind(channel)
            .bind(sender)
            .bind(sent_at)
            .bind(seq)
            .bind(now)
            .fetch_one(pool)
            .await?
        });
        Ok(open > 0)
    }

    /// Marks a row taken with [`Store::inbox_take`] done with its `reply`; false (nothing
    /// stored) if the claim was lost meanwhile.
    pub async fn inbox_finish(
        &self,
        channel: &str,
        handled: &Handled,
        reply: &str,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, pool => {
            sqlx::query(DONE)
                .bind(channel)
                .bind(handled.key.as_str())
                .bind(handled.token)
                .bind(now_ms())
                .bind(reply)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Open rows of `channel` (claimed or not): for tests and health checks.
    pub async fn inbox_open(&self, channel: &str) -> Result<i64, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM inbox WHERE channel = $1 AND done_at IS NULL")
                .bind(channel)
                .fetch_one(pool)
                .await?
        }))
    }

    /// Forgets rows received before `before_ms`: handled ones, whose keys a redelivery can no
    /// longer use, and open ones nobody will handle any more (a WeChat message whose retries
    /// all ended). Never a row younger than the replay floor of [`Store::forget_seen_before`].
    pub async fn forget_inbox_before(&self, before_ms: i64) -> Result<u64, StoreError> {
        let floor = now_ms() - (2 * super::REPLAY_WINDOW_SECS + 60) * 1000;
        let before_ms = before_ms.min(floor);
        Ok(on_pool!(self, pool => {
            sqlx::query("DELETE FROM inbox WHERE received_at < $1")
                .bind(before_ms)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}

/// Inside a write transaction under `$claim`: the effect (audit id) the claimed update
/// already committed, if any; fails with [`StoreError::Superseded`] if another replica holds
/// the row now. Rows not in the inbox (the console) are not fenced.
macro_rules! claimed_effect {
    ($tx:ident, $claim:expr) => {{
        let claim: &crate::inbox::Claim = $claim;
        let row: Option<(Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT token, effect FROM inbox WHERE channel = $1 AND update_key = $2",
        )
        .bind(claim.channel)
        .bind(claim.key.as_str())
        .fetch_optional(&mut *$tx)
        .await?;
        match row {
            None => None,
            Some((token, effect)) if token == Some(claim.token) => effect,
            Some(_) => {
                claim.lose();
                return Err(StoreError::Superseded);
            }
        }
    }};
}
pub(super) use claimed_effect;

/// Inside the same transaction: records audit row `$id` as the claimed update's effect, or
/// fails (rolling everything back) if the claim was lost meanwhile.
macro_rules! record_effect {
    ($tx:ident, $claim:expr, $id:expr) => {{
        let claim: &crate::inbox::Claim = $claim;
        let n = sqlx::query(
            "UPDATE inbox SET effect = $4 WHERE channel = $1 AND update_key = $2 AND token = $3",
        )
        .bind(claim.channel)
        .bind(claim.key.as_str())
        .bind(claim.token)
        .bind($id)
        .execute(&mut *$tx)
        .await?
        .rows_affected();
        if n == 0 {
            let present: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM inbox WHERE channel = $1 AND update_key = $2")
                    .bind(claim.channel)
                    .bind(claim.key.as_str())
                    .fetch_optional(&mut *$tx)
                    .await?;
            if present.is_some() {
                claim.lose();
                return Err(StoreError::Superseded);
            }
        }
    }};
}
pub(super) use record_effect;
