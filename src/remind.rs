//! Reminders: a figure nobody has updated for [`Settings::after_days`] within the list's period
//! nudges the officers granted its task, and admins get a weekly digest (what changed, what
//! has gone quiet, what is behind).
//!
//! - Telegram and console officers get a message through the outbox; a WeChat account cannot
//!   message first, so WeChat officers see the same list in `/pending`.
//! - Each reminder is claimed in the store under a key naming the item, its last update, the
//!   reminder window (one every `after_days` while it stays quiet) and the recipient, in the
//!   same transaction as its outbox row: sent once, across restarts and replicas.
//! - Nothing is sent in quiet hours (Chongqing time); what was due goes out when they end.
//! - Time is the core's clock, so tests set it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use tokio_util::sync::CancellationToken;

use crate::Lang;
use crate::core::Core;
use crate::knowledge::{Knowledge, Period, Task};
use crate::progress::model::{self, ItemStatus, TaskStatus};
use crate::progress::{Item, fmt_time, items};
use crate::store::{MetricState, Queued, StoreError};

/// How often the reminder loop looks.
const CHECK_EVERY: Duration = Duration::from_secs(300);
const DAY_MS: i64 = 24 * 3600 * 1000;

/// When to remind, from `REMIND_AFTER_DAYS` and `QUIET_HOURS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Days without an update before a figure is waiting for its officers.
    pub after_days: i64,
    /// Quiet from this hour (Chongqing time, 0–23)…
    pub quiet_from: u32,
    /// …until this hour. Equal hours mean never quiet.
    pub quiet_until: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            after_days: 14,
            quiet_from: 22,
            quiet_until: 8,
        }
    }
}

impl Settings {
    /// Reads `QUIET_HOURS` written `22-8` (from 22:00 until 08:00).
    pub fn parse_quiet_hours(text: &str) -> Result<(u32, u32), String> {
        let bad = || format!("QUIET_HOURS `{text}` should be two hours such as 22-8");
        let (a, b) = text.trim().split_once('-').ok_or_else(bad)?;
        let hour = |s: &str| s.trim().parse::<u32>().ok().filter(|h| *h < 24);
        Ok((hour(a).ok_or_else(bad)?, hour(b).ok_or_else(bad)?))
    }

    /// Whether `at` falls in the quiet hours.
    pub fn quiet(&self, at: DateTime<Utc>) -> bool {
        let h = at.with_timezone(&model::chongqing()).hour();
        match self.quiet_from.cmp(&self.quiet_until) {
            std::cmp::Ordering::Equal => false,
            std::cmp::Ordering::Less => (self.quiet_from..self.quiet_until).contains(&h),
            std::cmp::Ordering::Greater => h >= self.quiet_from || h < self.quiet_until,
        }
    }
}

/// An item waiting for its officers: no update for at least `after_days`.
#[derive(Debug, Clone)]
pub struct Waiting<'k> {
    pub task: &'k Task,
    pub item: Item<'k>,
    /// The last update (Unix ms), if any.
    pub last: Option<i64>,
    /// Whole days since the last update, or since the period began.
    pub days: i64,
    /// Which reminder this is for the same quiet spell (1, 2, … every `after_days`).
    window: i64,
    /// The quiet spell's start (Unix ms): the last update, or the period's start.
    since: i64,
}

impl Waiting<'_> {
    fn id(&self) -> &str {
        match self.item {
            Item::Metric(m) => &m.id,
            Item::Milestone(g) => &g.id,
        }
    }

    /// `14.1 管网改造（21 天未更新，上次 2024-03-01 10:00）`
    pub fn line(&self, lang: Lang) -> String {
        let at = format!("{}.{}", self.task.number, self.item.number());
        let name = self.item.name(lang);
        match (lang, self.last) {
            (Lang::Zh, Some(t)) => format!(
                "{at} {name}（{} 天未更新，上次 {}）",
                self.days,
                fmt_time(t)
            ),
            (Lang::Zh, None) => format!("{at} {name}（报告期开始 {} 天以来未报告）", self.days),
            (Lang::En, Some(t)) => format!(
                "{at} {name} (no update for {} days, last {})",
                self.days,
                fmt_time(t)
            ),
            (Lang::En, None) => format!(
                "{at} {name} (not reported in the {} days since the period began)",
                self.days
            ),
        }
    }
}

/// The items of `tasks` (all when `None`) waiting at `now`: within the list's period, not
/// retired, not met (a met figure needs no nudge), and without an update for `after_days`.
pub fn waiting<'k>(
    knowledge: &'k Knowledge,
    states: &[MetricState],
    now: DateTime<Utc>,
    after_days: i64,
    tasks: Option<&[u32]>,
) -> Vec<Waiting<'k>> {
    let period = &knowledge.period;
    let start = period_start_ms(period);
    let elapsed = model::elapsed(period, now);
    if elapsed <= 0.0 || elapsed >= 1.0 || after_days <= 0 {
        return Vec::new();
    }
    let now_ms = now.timestamp_millis();
    let mut out = Vec::new();
    for task in &knowledge.tasks {
        if tasks.is_some_and(|t| !t.is_empty() && !t.contains(&task.number)) {
            continue;
        }
        for item in items(task) {
            let retired = match item {
                Item::Metric(m) => m.retired,
                Item::Milestone(g) => g.retired,
            };
            if retired {
                continue;
            }
            let state = states
                .iter()
                .find(|s| s.task == task.number && s.number == item.number());
            if model::assess(item, state, now) == ItemStatus::Met {
                continue;
            }
            let last = state.and_then(|s| s.updated_at);
            let since = last.unwrap_or(start).max(start);
            let days = (now_ms - since) / DAY_MS;
            if days >= after_days {
                out.push(Waiting {
                    task,
                    item,
                    last,
                    days,
                    window: days / after_days,
                    since,
                });
            }
        }
    }
    out
}

fn period_start_ms(period: &Period) -> i64 {
    period
        .start
        .and_hms_opt(0, 0, 0)
        .and_then(|d| model::chongqing().from_local_datetime(&d).single())
        .map_or(0, |d| d.timestamp_millis())
}

/// Channels whose officers and admins can be messaged first.
const PUSH_CHANNELS: &[&str] = &["telegram", "console"];

/// One pass: queues the reminders and digests due at the core's `now`. Returns how many
/// messages were queued.
pub async fn run_once(core: &Core) -> Result<usize, StoreError> {
    let settings = core.reminder_settings();
    let now = core.now();
    if settings.quiet(now) {
        return Ok(0);
    }
    let knowledge = core.knowledge();
    let store = core.store();
    let states = store.states(knowledge.period.year, None).await?;
    let all = waiting(knowledge, &states, now, settings.after_days, None);
    let mut queued = 0;
    if !all.is_empty() {
        for officer in store.officers().await? {
            if !PUSH_CHANNELS.contains(&officer.channel.as_str()) {
                continue;
            }
            let mine: Vec<&Waiting<'_>> = all
                .iter()
                .filter(|w| officer.tasks.is_empty() || officer.tasks.contains(&w.task.number))
                .collect();
            if mine.is_empty() {
                continue;
            }
            let keys: Vec<String> = mine
                .iter()
                .map(|w| {
                    format!(
                        "stale:{}:{}:{}:{}:{}",
                        w.id(),
                        w.since,
                        w.window,
                        officer.channel,
                        officer.user_id
                    )
                })
                .collect();
            let claimed = store
                .claim_reminders(&keys, |claimed| {
                    let lines: Vec<&Waiting<'_>> = claimed.iter().map(|i| mine[*i]).collect();
                    Some(Queued {
                        channel: officer.channel.clone(),
                        // A Telegram user's private chat has the user's id.
                        chat_id: officer.user_id.clone(),
                        text: reminder_text(&lines, settings.after_days),
                    })
                })
                .await?;
            if !claimed.is_empty() {
                queued += 1;
            }
        }
    }
    queued += digest(core, &states, now, &all).await?;
    core.metrics().reminders(queued as u64);
    Ok(queued)
}

/// The weekly digest to every admin who can be messaged, once per ISO week.
async fn digest(
    core: &Core,
    states: &[MetricState],
    now: DateTime<Utc>,
    waiting: &[Waiting<'_>],
) -> Result<usize, StoreError> {
    let knowledge = core.knowledge();
    let elapsed = model::elapsed(&knowledge.period, now);
    if elapsed <= 0.0 || elapsed >= 1.0 {
        return Ok(0);
    }
    let local = now.with_timezone(&model::chongqing());
    let week = local.iso_week();
    let since = now.timestamp_millis() - 7 * DAY_MS;
    let changed = core.store().updates_since(since, 10_000).await?;
    let mut text = None;
    let mut queued = 0;
    for (channel, user_id) in core.admins().members() {
        if !PUSH_CHANNELS.contains(&channel.as_str()) {
            continue;
        }
        let key = format!(
            "digest:{}-W{:02}:{channel}:{user_id}",
            week.year(),
            week.week()
        );
        let text = text
            .get_or_insert_with(|| digest_text(knowledge, states, now, &changed, waiting))
            .clone();
        let claimed = core
            .store()
            .claim_reminders(&[key], |_| {
                Some(Queued {
                    channel: channel.clone(),
                    chat_id: user_id.clone(),
                    text,
                })
            })
            .await?;
        if !claimed.is_empty() {
            queued += 1;
        }
    }
    Ok(queued)
}

fn reminder_text(lines: &[&Waiting<'_>], after_days: i64) -> String {
    let mut zh = format!("⏰ 以下指标已超过 {after_days} 天没有更新：");
    let mut en = format!("⏰ These figures have had no update for {after_days} days or more:");
    for w in lines {
        zh.push_str(&format!("\n· {}", w.line(Lang::Zh)));
        en.push_str(&format!("\n· {}", w.line(Lang::En)));
    }
    zh.push_str("\n请用 /update 报告最新进展（没有变化也可以报告当前值），/pending 查看全部待办。");
    en.push_str(
        "\nPlease report with /update (the current value, even if unchanged); /pending lists everything waiting.",
    );
    format!("{zh}\n\n{en}")
}

fn digest_text(
    knowledge: &Knowledge,
    states: &[MetricState],
    now: DateTime<Utc>,
    changed: &[crate::store::AuditEntry],
    waiting: &[Waiting<'_>],
) -> String {
    let mut counts: std::collections::BTreeMap<u32, usize> = Default::default();
    for e in changed {
        *counts.entry(e.task).or_default() += 1;
    }
    let behind: Vec<u32> = knowledge
        .tasks
        .iter()
        .filter(|t| {
            model::task_progress(t, states, &knowledge.period, now).status == TaskStatus::Behind
        })
        .map(|t| t.number)
        .collect();
    let mut quiet: Vec<u32> = waiting.iter().map(|w| w.task.number).collect();
    quiet.dedup();
    let list = |v: &[u32], sep: &str| v.iter().map(u32::to_string).collect::<Vec<_>>().join(sep);
    let changed_zh = counts
        .iter()
        .map(|(t, n)| format!("第{t}项（{n}次）"))
        .collect::<Vec<_>>()
        .join("、");
    let changed_en = counts
        .iter()
        .map(|(t, n)| format!("task {t} ({n})"))
        .collect::<Vec<_>>()
        .join(", ");
    let day = now
        .with_timezone(&model::chongqing())
        .date_naive()
        .format("%Y-%m-%d");
    let none_zh = "无";
    let none_en = "none";
    let or = |s: String, none: &str| if s.is_empty() { none.to_string() } else { s };
    format!(
        "📋 每周进度摘要（截至 {day}）\n本周有更新：{}\n超过期限未更新：{} 个指标，涉及第{}项\n落后于进度：{}\n\n\
         📋 Weekly digest (as of {day})\nUpdated this week: {}\nGone quiet: {} figures, in tasks {}\nBehind: {}",
        or(changed_zh, none_zh),
        waiting.len(),
        or(list(&quiet, "、"), none_zh),
        or(
            if behind.is_empty() {
                String::new()
            } else {
                format!("第{}项", list(&behind, "、"))
            },
            none_zh
        ),
        or(changed_en, none_en),
        waiting.len(),
        or(list(&quiet, ", "), none_en),
        or(
            if behind.is_empty() {
                String::new()
            } else {
                format!("tasks {}", list(&behind, ", "))
            },
            none_en
        ),
    )
}

/// Runs [`run_once`] now and every five minutes until `stop`.
pub async fn run(core: Arc<Core>, stop: CancellationToken) {
    loop {
        match run_once(&core).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(queued = n, "reminders queued"),
            Err(e) => tracing::warn!(error = %e, "sending reminders failed"),
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_wrap_midnight() {
        let s = Settings::default();
        let at = |h| {
            model::chongqing()
                .with_ymd_and_hms(2024, 5, 1, h, 30, 0)
                .single()
                .map(|d| d.with_timezone(&Utc))
                .expect("time")
        };
        assert!(s.quiet(at(23)));
        assert!(s.quiet(at(3)));
        assert!(!s.quiet(at(8)));
        assert!(!s.quiet(at(21)));
        assert_eq!(Settings::parse_quiet_hours("22-8"), Ok((22, 8)));
        assert!(Settings::parse_quiet_hours("25-8").is_err());
        assert!(Settings::parse_quiet_hours("night").is_err());
    }
}
