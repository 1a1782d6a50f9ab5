//! Counters for `/metrics`, kept by the core (so every channel is counted the same way) and
//! written in Prometheus's text format. Small enough to hand-roll: a few counters and one
//! histogram, no labels beyond channel, outcome and decision.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::store::OutboxDepth;

/// Upper bounds (seconds) of the reply latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// What the core decided for a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Answer,
    Suggest,
    None,
}

/// The bot's counters since the process started.
#[derive(Debug, Default)]
pub struct Metrics {
    /// (channel, outcome) → messages handled; outcome is `ok` or `error`.
    messages: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    answers: AtomicU64,
    suggestions: AtomicU64,
    unanswered: AtomicU64,
    updates: AtomicU64,
    reminders: AtomicU64,
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS`], then +Inf.
    latency: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_us: AtomicU64,
}

impl Metrics {
    /// One message handled on `channel`, in `took`; `ok` false when it ended in an apology.
    pub fn message(&self, channel: &'static str, ok: bool, took: Duration) {
        let outcome = if ok { "ok" } else { "error" };
        {
            let mut m = self
                .messages
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *m.entry((channel, outcome)).or_insert(0) += 1;
        }
        let secs = took.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    pub fn decision(&self, d: Decision) {
        let counter = match d {
            Decision::Answer => &self.answers,
            Decision::Suggest => &self.suggestions,
            Decision::None => &self.unanswered,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn update(&self) {
        self.updates.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reminders(&self, n: u64) {
        self.reminders.fetch_add(n, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of the counters, with the outbox as the store has it
    /// at `now_ms`.
    pub fn render(&self, outbox: &[OutboxDepth], now_ms: i64) -> String {
        let mut out = String::new();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        out.push_str(
            "# HELP minsheng_messages_total Messages handled by the core, by channel and outcome.\n\
             # TYPE minsheng_messages_total counter\n",
        );
        let messages = self
            .messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for ((channel, outcome), n) in &messages {
            let _ = writeln!(
                out,
                "minsheng_messages_total{{channel=\"{channel}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP minsheng_questions_total Questions by what the bot decided.\n\
             # TYPE minsheng_questions_total counter\n",
        );
        for (kind, c) in [
            ("answer", &self.answers),
            ("suggest", &self.suggestions),
            ("none", &self.unanswered),
        ] {
            let _ = writeln!(
                out,
                "minsheng_questions_total{{decision=\"{kind}\"}} {}",
                get(c)
            );
        }
        let _ = write!(
            out,
            "# HELP minsheng_updates_total Progress updates recorded.\n\
             # TYPE minsheng_updates_total counter\n\
             minsheng_updates_total {}\n\
             # HELP minsheng_reminders_total Reminders and digests queued by this process.\n\
             # TYPE minsheng_reminders_total counter\n\
             minsheng_reminders_total {}\n",
            get(&self.updates),
            get(&self.reminders)
        );
        out.push_str(
            "# HELP minsheng_outbox_depth Notifications waiting in the outbox, by channel.\n\
             # TYPE minsheng_outbox_depth gauge\n",
        );
        for d in outbox {
            let _ = writeln!(
                out,
                "minsheng_outbox_depth{{channel=\"{}\"}} {}",
                label(&d.channel),
                d.depth
            );
        }
        out.push_str(
            "# HELP minsheng_outbox_oldest_seconds Age of the oldest waiting notification, by channel.\n\
             # TYPE minsheng_outbox_oldest_seconds gauge\n",
        );
        for d in outbox {
            let age = (now_ms - d.oldest_at).max(0) as f64 / 1000.0;
            let _ = writeln!(
                out,
                "minsheng_outbox_oldest_seconds{{channel=\"{}\"}} {age}",
                label(&d.channel)
            );
        }
        out.push_str(
            "# HELP minsheng_reply_seconds Time the core took to reply to a message.\n\
             # TYPE minsheng_reply_seconds histogram\n",
        );
        let mut cumulative = 0;
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += get(&self.latency[i]);
            let _ = writeln!(
                out,
                "minsheng_reply_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += get(&self.latency[LATENCY_BUCKETS.len()]);
        let _ = write!(
            out,
            "minsheng_reply_seconds_bucket{{le=\"+Inf\"}} {cumulative}\n\
             minsheng_reply_seconds_sum {}\n\
             minsheng_reply_seconds_count {cumulative}\n",
            get(&self.latency_sum_us) as f64 / 1_000_000.0
        );
        out
    }
}

/// A label value as the text format needs it (channels are ours, but the store is not
/// trusted blindly).
fn label(v: &str) -> String {
    v.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.message("telegram", true, Duration::from_millis(3));
        m.message("telegram", false, Duration::from_secs(2));
        m.decision(Decision::Answer);
        m.update();
        let text = m.render(
            &[OutboxDepth {
                channel: "telegram".into(),
                depth: 2,
                oldest_at: 1_000,
            }],
            11_000,
        );
        assert!(text.contains("minsheng_messages_total{channel=\"telegram\",outcome=\"ok\"} 1"));
        assert!(text.contains("minsheng_questions_total{decision=\"answer\"} 1"));
        assert!(text.contains("minsheng_updates_total 1"));
        assert!(text.contains("minsheng_outbox_depth{channel=\"telegram\"} 2"));
        assert!(text.contains("minsheng_outbox_oldest_seconds{channel=\"telegram\"} 10"));
        assert!(text.contains("minsheng_reply_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("minsheng_reply_seconds_bucket{le=\"+Inf\"} 2"));
        assert!(text.contains("minsheng_reply_seconds_count 2"));
    }
}
