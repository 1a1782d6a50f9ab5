//! Per-user rate limit on messages, so one person (or a script) cannot keep the bot busy.
//! Channel-agnostic: Telegram keys it by user id, WeChat by OpenID.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

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

impl RateLimit {
    /// The window's length in whole seconds (at least one).
    pub fn window_secs(&self) -> i64 {
        i64::try_from(self.window.as_secs())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// The window a message sent at `unix_secs` counts in. Windows are fixed and aligned to
    /// the clock, so every replica (and the store) puts a message in the same one.
    pub fn bucket(&self, unix_secs: i64) -> i64 {
        unix_secs.div_euclid(self.window_secs())
    }

    /// What to do with a user's `n`th message (1 = first) in a window.
    pub fn verdict(&self, n: i64) -> Verdict {
        match n.checked_sub(i64::from(self.max)) {
            None => Verdict::Allow,
            Some(over) if over <= 0 => Verdict::Allow,
            Some(1) => Verdict::Warn,
            Some(_) => Verdict::Drop,
        }
    }
}

/// Counts per user in the current window only: a check costs one hash lookup whatever the
/// number of users seen, and when the window turns the old counts are dropped whole, so the
/// memory of a spike goes with it. Per process; the channels keep the authoritative count
/// in the store (the inbox), across replicas, and use this as a cheap first filter.
pub struct Limiter<K = u64> {
    limit: RateLimit,
    current: Mutex<Window<K>>,
}

struct Window<K> {
    bucket: i64,
    counts: HashMap<K, u32>,
}

impl<K: Hash + Eq> Limiter<K> {
    pub fn new(limit: RateLimit) -> Limiter<K> {
        Limiter {
            limit,
            current: Mutex::new(Window {
                bucket: i64::MIN,
                counts: HashMap::new(),
            }),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    pub fn check(&self, user: K) -> Verdict {
        self.check_at(user, unix_secs())
    }

    pub fn check_at(&self, user: K, unix_secs: i64) -> Verdict {
        self.limit
            .verdict(i64::from(self.count_at(user, unix_secs)))
    }

    /// Counts a message of `user` at `unix_secs` and returns how many they sent in its window.
    pub fn count_at(&self, user: K, unix_secs: i64) -> u32 {
        let bucket = self.limit.bucket(unix_secs);
        // A poisoned lock only means another handler panicked mid-check; the map is still sound.
        let mut w = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if w.bucket != bucket {
            // A fresh map, not `clear()`: a cleared map keeps its capacity.
            *w = Window {
                bucket,
                counts: HashMap::new(),
            };
        }
        let n = w.counts.entry(user).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    /// Users counted in the current window.
    pub fn tracked(&self) -> usize {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .counts
            .len()
    }
}

/// Unix seconds now (0 for a clock before 1970).
pub fn unix_secs() -> i64 {
    crate::store::now_ms().div_euclid(1000)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_once_then_drops_until_the_window_turns() {
        let l: Limiter<u64> = Limiter::new(RateLimit {
            max: 3,
            window: Duration::from_secs(60),
        });
        let t = 6_000; // the start of a window
        let got: Vec<Verdict> = (0..6).map(|i| l.check_at(1, t + i)).collect();
        use Verdict::*;
        assert_eq!(got, [Allow, Allow, Allow, Warn, Drop, Drop]);
        assert_eq!(l.check_at(2, t + 1), Allow, "others are not affected");
        assert_eq!(l.check_at(1, t + 60), Allow, "a new window");
    }

    #[test]
    fn a_spike_is_forgotten_when_the_window_turns() {
        let l: Limiter<u64> = Limiter::new(RateLimit::default());
        for user in 0..50_000 {
            l.check_at(user, 120);
        }
        assert_eq!(l.tracked(), 50_000);
        l.check_at(1, 180);
        assert_eq!(l.tracked(), 1);
    }
}
