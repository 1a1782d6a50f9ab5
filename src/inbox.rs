//! The claim an incoming update is handled under, shared by the channels and the store.
//!
//! Every update is committed to the store's inbox before it is acknowledged; a replica then
//! claims it with a short lease and handles it inside [`under`]. While it runs:
//! - the store commits an `/update` or `/undo` only if the claim still holds, in the same
//!   transaction that records it on the inbox row, and a replica that takes the update over
//!   replays that effect instead of applying it again;
//! - a channel asks [`may_reply`] before each message it sends: once the lease may have run
//!   out, another replica may be answering, so this one stays silent and leaves the row to it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use crate::store::now_ms;

/// How long a claim holds without renewal. A dead replica's updates wait at most this long.
pub const LEASE_MS: i64 = 5_000;
/// How often a live replica renews the claims it is working on.
pub const RENEW_EVERY: std::time::Duration = std::time::Duration::from_millis(1_000);
/// A reply is sent only while the lease has at least this long to run, so a takeover (which
/// waits for the whole lease) cannot overlap it.
const REPLY_MARGIN_MS: i64 = 1_000;

/// One claimed inbox row.
#[derive(Debug)]
pub struct Claim {
    pub channel: &'static str,
    pub key: String,
    /// Changes with every claim: what fences a replica that lost the row.
    pub token: i64,
    /// Unix ms until which this replica knows the lease holds.
    held_until: AtomicI64,
    /// The store saw another claim on the row.
    lost: AtomicBool,
    /// A reply was held back because the lease might have run out.
    withheld: AtomicBool,
}

impl Claim {
    pub fn new(channel: &'static str, key: String, token: i64, held_until_ms: i64) -> Arc<Claim> {
        Arc::new(Claim {
            channel,
            key,
            token,
            held_until: AtomicI64::new(held_until_ms),
            lost: AtomicBool::new(false),
            withheld: AtomicBool::new(false),
        })
    }

    /// A renewal succeeded: the row still carried this claim's token and a live lease, so
    /// nobody took it over, and the lease now holds until `until_ms`.
    pub fn renewed(&self, until_ms: i64) {
        self.held_until.fetch_max(until_ms, Ordering::AcqRel);
    }

    /// The store found the row claimed by someone else.
    pub fn lose(&self) {
        self.lost.store(true, Ordering::Release);
    }

    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }

    /// Whether a reply sent now cannot overlap another replica's; false also marks the reply
    /// as held back, so the row is left for a takeover instead of being marked done.
    pub fn may_reply(&self) -> bool {
        let ok =
            !self.is_lost() && now_ms() + REPLY_MARGIN_MS < self.held_until.load(Ordering::Acquire);
        if !ok {
            self.withheld.store(true, Ordering::Release);
        }
        ok
    }

    /// Whether this replica must leave the row to another (lost, or a reply held back).
    pub fn abandoned(&self) -> bool {
        self.is_lost() || self.withheld.load(Ordering::Acquire)
    }
}

tokio::task_local! {
    static CLAIM: Arc<Claim>;
}

/// Runs `work` (the handling of one update) under `claim`.
pub async fn under<F: Future>(claim: Arc<Claim>, work: F) -> F::Output {
    CLAIM.scope(claim, work).await
}

/// The claim the current task handles its update under, if any (none on the console).
pub fn current() -> Option<Arc<Claim>> {
    CLAIM.try_with(Arc::clone).ok()
}

/// Whether the current task may send a reply now: always outside a claim.
pub fn may_reply() -> bool {
    current().is_none_or(|c| c.may_reply())
}

/// A fresh claim token.
pub fn new_token() -> i64 {
    use rand::Rng as _;
    rand::thread_rng().gen_range(1..i64::MAX)
}

/// This process's name as a claim owner: unique per process start.
pub fn owner_id() -> String {
    use rand::Rng as _;
    format!(
        "{}-{:016x}",
        std::process::id(),
        rand::thread_rng().r#gen::<u64>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_past_its_lease_withholds_replies() {
        let now = now_ms();
        let claim = Claim::new("telegram", "1".into(), 7, now + 4_000);
        assert!(claim.may_reply() && !claim.abandoned());
        let late = Claim::new("telegram", "2".into(), 7, now + 500);
        assert!(!late.may_reply() && late.abandoned());
        // Once a reply was held back the row is left to a takeover, renewed or not.
        late.renewed(now + 10_000);
        assert!(late.abandoned());
        let lost = Claim::new("telegram", "3".into(), 7, now + 4_000);
        lost.lose();
        assert!(!lost.may_reply() && lost.abandoned());
    }
}
