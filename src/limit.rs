//! Per-user rate limit on messages, so one person (or a script) cannot keep the bot busy.
//! Channel-agnostic: Telegram keys it by user id, WeChat by OpenID.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Lang;

/// How many messages a user may send per window. The default, 20 per 60 s, is far above what
/// a person types yet low enough that a flood costs the bot next to nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub window: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            max: 20,
            window: Duration::from_secs(60),
        }
    }
}

/// What to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// The first message over the limit: say "slow down", once.
    Warn,
    /// Over the limit and already warned: stay silent until the window passes.
    Drop,
}

struct Window {
    start: Instant,
    count: u32,
}

/// Fixed windows per user, starting at the user's first message.
pub struct Limiter<K = u64> {
    limit: RateLimit,
    users: Mutex<HashMap<K, Window>>,
}

/// Above this many tracked users, expired windows are swept on the next check.
const SWEEP_AT: usize = 10_000;

impl<K: Hash + Eq> Limiter<K> {
    pub fn new(limit: RateLimit) -> Limiter<K> {
        Limiter {
            limit,
            users: Mutex::new(HashMap::new()),
        }
    }

    pub fn check(&self, user: K) -> Verdict {
        self.check_at(user, Instant::now())
    }

    pub fn check_at(&self, user: K, now: Instant) -> Verdict {
        // A poisoned lock only means another handler panicked mid-check; the map is still sound.
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if users.len() > SWEEP_AT {
            let window = self.limit.window;
            users.retain(|_, w| now.duration_since(w.start) < window);
        }
        let w = users.entry(user).or_insert(Window {
            start: now,
            count: 0,
        });
        if now.duration_since(w.start) >= self.limit.window {
            *w = Window {
                start: now,
                count: 0,
            };
        }
        w.count = w.count.saturating_add(1);
        match w.count.checked_sub(self.limit.max) {
            None | Some(0) => Verdict::Allow,
            Some(1) => Verdict::Warn,
            Some(_) => Verdict::Drop,
        }
    }
}

/// The one "slow down" a user over the limit gets, in the reply language (both when unknown).
pub fn slow_down(lang: Option<Lang>) -> &'static str {
    match lang {
        Some(Lang::En) => {
            "You're sending messages faster than I can answer. Please wait a minute, then ask again."
        }
        Some(Lang::Zh) => "您发送消息太快了，请稍等一分钟再提问。",
        None => {
            "您发送消息太快了，请稍等一分钟再提问。\nYou're sending messages faster than I can answer. Please wait a minute, then ask again."
        }
    }
}
