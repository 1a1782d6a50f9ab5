//! What the pages show, built from the one progress model and its renderer: the same
//! statuses, readings and targets as `/tasks` and `/status`, arranged for the templates.

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;

use crate::Lang;
use crate::knowledge::{GoalKind, Knowledge, MetricKind, Task};
use crate::progress::model::{self, ItemStatus, TaskStatus};
use crate::progress::{
    Item, counts, fmt_pct, fmt_time, goal_stage, items, reading, stage_name, status_label,
    summary_detail, target_text, updater_name, with_unit,
};
use crate::store::{AuditEntry, AuditKind, MetricState};

use super::chart::{self, Chart};

pub fn tr<'a>(lang: Lang, zh: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

/// What every page has: language, the switch to the other one, the list's title.
#[derive(Debug, Clone, Serialize)]
pub struct Frame {
    pub lang: &'static str,
    pub html_lang: &'static str,
    pub switch_href: String,
    pub switch_label: &'static str,
    pub switch_lang: &'static str,
    pub site: String,
    pub home: &'static str,
    pub exports: &'static str,
    pub head_label: &'static str,
    pub head: Option<Head>,
    /// Where this list's pages live: "" for the current list, `/lists/2024` for another.
    pub base: String,
}

/// The audit chain's head at the end of the latest day with changes.
#[derive(Debug, Clone, Serialize)]
pub struct Head {
    pub day: String,
    pub hash: String,
}

/// The frame of a page about `knowledge`'s list; `base` is where that list's pages live ("" for
/// the current list, `/lists/2024` for an earlier one) and `path` the page within it.
pub fn frame(
    knowledge: &Knowledge,
    lang: Lang,
    base: &str,
    path: &str,
    head: Option<Head>,
) -> Frame {
    let other = match lang {
        Lang::Zh => Lang::En,
        Lang::En => Lang::Zh,
    };
    Frame {
        lang: lang.code(),
        html_lang: tr(lang, "zh-Hans", "en"),
        switch_href: format!("{base}{path}?lang={}", other.code()),
        switch_label: tr(lang, "English", "中文"),
        switch_lang: tr(lang, "en", "zh-Hans"),
        site: match lang {
            Lang::Zh => format!("{}年重庆高新区重点民生实事进度", knowledge.period.year),
            Lang::En => format!(
                "Chongqing High-tech Zone: key livelihood projects {}",
                knowledge.period.year
            ),
        },
        home: tr(lang, "全部任务", "All tasks"),
        exports: tr(lang, "下载与订阅", "Downloads and feeds"),
        head_label: tr(lang, "审计记录链日终哈希", "Audit chain head at day end"),
        head,
        base: base.to_string(),
    }
}

/// A status as a word without its emoji (the page colours it instead) and a class.
fn status_word(s: TaskStatus, lang: Lang) -> String {
    let label = status_label(s, lang);
    label
        .split_once(' ')
        .map_or(label, |(_, word)| word)
        .to_string()
}

fn status_class(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::Done => "done",
        TaskStatus::OnTrack => "on-track",
        TaskStatus::Behind => "behind",
        TaskStatus::NotReported => "not-reported",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Card {
    pub number: u32,
    pub title: String,
    pub href: String,
    pub status: String,
    pub class: &'static str,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub id: &'static str,
    pub heading: String,
    pub note: &'static str,
    pub class: &'static str,
    pub cards: Vec<Card>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Index {
    pub frame: Frame,
    pub title: String,
    pub as_of: String,
    pub tally: Vec<Tally>,
    pub groups: Vec<Group>,
    pub how: &'static str,
    pub how_text: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tally {
    pub label: String,
    pub n: usize,
    pub class: &'static str,
    pub href: &'static str,
}

fn day(at: DateTime<Utc>) -> String {
    at.with_timezone(&model::chongqing())
        .format("%Y-%m-%d")
        .to_string()
}

pub fn index(
    knowledge: &Knowledge,
    states: &[MetricState],
    now: DateTime<Utc>,
    lang: Lang,
    frame: Frame,
) -> Index {
    let o = model::overview(knowledge, states, now);
    let when = if o.closed {
        tr(lang, "报告期已结束", "the reporting period is over").to_string()
    } else {
        match lang {
            Lang::Zh => format!("报告期已过 {}", fmt_pct(o.elapsed * 100.0)),
            Lang::En => format!(
                "{} of the reporting period has passed",
                fmt_pct(o.elapsed * 100.0)
            ),
        }
    };
    let as_of = match lang {
        Lang::Zh => format!("截至 {}，{when}", day(now)),
        Lang::En => format!("As of {}, {when}", day(now)),
    };
    // What needs attention first: behind, then not reported; done last.
    let order = [
        (
            TaskStatus::Behind,
            "behind",
            tr(
                lang,
                "进度落后于时间进度，或报告期结束时仍未完成。",
                "Progress trails the calendar, or the period ended before the task was done.",
            ),
        ),
        (
            TaskStatus::NotReported,
            "not-reported",
            tr(
                lang,
                "还没有任何进度报告。",
                "Nothing has been reported yet.",
            ),
        ),
        (TaskStatus::OnTrack, "on-track", ""),
        (TaskStatus::Done, "done", ""),
    ];
    let mut groups = Vec::new();
    let mut tally = Vec::new();
    for (status, id, note) in order {
        let numbers = match status {
            TaskStatus::Done => &o.done,
            TaskStatus::OnTrack => &o.on_track,
            TaskStatus::Behind => &o.behind,
            TaskStatus::NotReported => &o.not_reported,
        };
        let word = status_word(status, lang);
        tally.push(Tally {
            label: word.clone(),
            n: numbers.len(),
            class: status_class(status),
            href: match status {
                TaskStatus::Done => "#done",
                TaskStatus::OnTrack => "#on-track",
                TaskStatus::Behind => "#behind",
                TaskStatus::NotReported => "#not-reported",
            },
        });
        if numbers.is_empty() {
            continue;
        }
        let cards = numbers
            .iter()
            .filter_map(|n| knowledge.task(*n))
            .map(|t| Card {
                number: t.number,
                title: t.title.get(lang).to_string(),
                href: task_href(&frame.base, t.number, lang),
                status: word.clone(),
                class: status_class(status),
                detail: summary_detail(t, states, &knowledge.period, now, lang),
            })
            .collect();
        groups.push(Group {
            id,
            heading: match lang {
                Lang::Zh => format!("{word}（{} 项）", numbers.len()),
                Lang::En => format!("{} ({})", capitalise(&word), numbers.len()),
            },
            note,
            class: status_class(status),
            cards,
        });
    }
    Index {
        title: frame.site.clone(),
        frame,
        as_of,
        tally,
        groups,
        how: tr(lang, "进度怎么算", "How progress is counted"),
        how_text: tr(
            lang,
            "累计完成量按目标计算完成比例；托位数、占比等水平类指标只说“已达到”或“尚未达到”，不折算为完成比例。一项任务的所有指标和目标都达到才算完成；没有报告的指标显示“尚未报告”，不按零计。任务进度明显落后于报告期已过去的时间比例时，标为“落后”。",
            "A figure of work done counts towards its target; a level or a share (places per thousand, a percentage) is only “reached” or “not yet reached”, never a share of work. A task is done when every figure and goal is; a figure nobody has reported reads “not reported”, never zero; a task is “behind” when its progress trails the share of the reporting period that has passed.",
        ),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

pub fn task_href(base: &str, n: u32, lang: Lang) -> String {
    match lang {
        Lang::Zh => format!("{base}/tasks/{n}"),
        Lang::En => format!("{base}/tasks/{n}?lang=en"),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ItemView {
    pub anchor: String,
    pub heading: String,
    pub tag: Option<String>,
    pub target: Option<String>,
    pub current: String,
    pub class: &'static str,
    pub updated: Option<String>,
    pub note: Option<String>,
    pub chart: Option<Chart>,
    pub chart_title: String,
    pub chart_desc: String,
    pub retired: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryRow {
    pub at: String,
    pub item: String,
    pub change: String,
    pub by: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Labels {
    pub target: &'static str,
    pub current: &'static str,
    pub updated: &'static str,
    pub note: &'static str,
    pub history: &'static str,
    pub when: &'static str,
    pub item: &'static str,
    pub change: &'static str,
    pub by: &'static str,
    pub no_history: &'static str,
    pub official: &'static str,
    pub retired: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskPage {
    pub frame: Frame,
    pub title: String,
    pub status: String,
    pub class: &'static str,
    pub counts: String,
    pub as_of: String,
    pub text: String,
    pub items: Vec<ItemView>,
    pub history: Vec<HistoryRow>,
    pub labels: Labels,
    pub prev: Option<(u32, String)>,
    pub next: Option<(u32, String)>,
}

fn item_class(s: ItemStatus) -> &'static str {
    match s {
        ItemStatus::NotReported => "not-reported",
        ItemStatus::Met => "done",
        ItemStatus::Active => "on-track",
        ItemStatus::Open { .. } => "open",
    }
}

/// The task page: every item with its target, reading, last update and chart, then the
/// latest changes. `history` is the task's trail, newest first.
pub fn task_page(
    knowledge: &Knowledge,
    task: &Task,
    states: &[MetricState],
    history: &[AuditEntry],
    now: DateTime<Utc>,
    lang: Lang,
    frame: Frame,
) -> TaskPage {
    let period = &knowledge.period;
    let p = model::task_progress(task, states, period, now);
    let at = model::reference_time(period, now);
    let start = period_start_ms(knowledge);
    let end = at.timestamp_millis();
    let not_reported = tr(lang, "尚未报告", "not reported");
    let mut views = Vec::new();
    for item in items(task) {
        let state = states
            .iter()
            .find(|s| s.task == task.number && s.number == item.number());
        let status = model::assess(item, state, at);
        let heading = format!("{}.{} {}", task.number, item.number(), item.name(lang));
        let mut view = ItemView {
            anchor: format!("item-{}", item.number()),
            heading,
            tag: None,
            target: None,
            current: not_reported.to_string(),
            class: item_class(status),
            updated: None,
            note: state
                .and_then(|s| s.note.clone())
                .filter(|n| !n.trim().is_empty()),
            chart: None,
            chart_title: String::new(),
            chart_desc: String::new(),
            retired: false,
        };
        if let Some(s) = state
            && let (Some(t), Some(by)) = (s.updated_at, &s.updated_by)
        {
            view.updated = Some(format!(
                "{} · {}",
                fmt_time(t),
                updater_name(&by.name, lang)
            ));
        }
        match item {
            Item::Metric(m) => {
                view.retired = m.retired;
                view.target = Some(target_text(m, lang));
                view.tag = m.part_of.map(|total| match lang {
                    Lang::Zh => format!("属于 {}.{total}", task.number),
                    Lang::En => format!("part of {}.{total}", task.number),
                });
                if m.kind == MetricKind::Recurring {
                    view.tag = Some(tr(lang, "每周期重新计数", "counted afresh each cycle").into());
                }
                if let (s, Some(v)) = (status, state.and_then(|s| s.current))
                    && s != ItemStatus::NotReported
                {
                    view.current = reading(m, v, s, lang);
                }
                // Every recorded value of this metric, oldest first.
                let points: Vec<(i64, f64, String)> = history
                    .iter()
                    .rev()
                    .filter(|e| matches!(e.kind, AuditKind::Update | AuditKind::Undo))
                    .filter(|e| e.number == Some(m.number))
                    .filter_map(|e| {
                        let v = e.new_value?;
                        Some((
                            e.at,
                            v,
                            format!("{}: {}", fmt_time(e.at), with_unit(v, m.unit, lang)),
                        ))
                    })
                    .collect();
                view.chart = chart::chart(
                    &points,
                    start,
                    end.max(start + 1),
                    m.target,
                    target_text(m, lang),
                    fmt_day_ms(start),
                    fmt_day_ms(end),
                );
                view.chart_title = match lang {
                    Lang::Zh => format!("{} 历次报告值", item.name(lang)),
                    Lang::En => format!("{}: values reported", item.name(lang)),
                };
                view.chart_desc = points
                    .iter()
                    .map(|p| p.2.clone())
                    .chain(std::iter::once(format!(
                        "{} {}",
                        tr(lang, "目标", "target"),
                        target_text(m, lang)
                    )))
                    .collect::<Vec<_>>()
                    .join(tr(lang, "；", "; "));
            }
            Item::Milestone(g) => {
                view.retired = g.retired;
                view.tag = match g.kind {
                    GoalKind::Ongoing => Some(tr(lang, "持续性工作", "ongoing work").into()),
                    GoalKind::Outcome => Some(tr(lang, "成效目标", "outcome").into()),
                    GoalKind::Milestone => None,
                };
                if let Some(stage) = state.and_then(|s| s.stage) {
                    view.current = goal_stage(g.kind, stage, lang).to_string();
                }
            }
        }
        views.push(view);
    }
    let rows = history
        .iter()
        .filter(|e| matches!(e.kind, AuditKind::Update | AuditKind::Undo))
        .take(30)
        .map(|e| history_row(task, e, lang))
        .collect();
    let neighbour = |n: u32| {
        knowledge
            .task(n)
            .map(|t| (t.number, task_href(&frame.base, t.number, lang)))
    };
    TaskPage {
        title: match lang {
            Lang::Zh => format!("第{}项 {}", task.number, task.title.zh),
            Lang::En => format!("Task {}: {}", task.number, task.title.en),
        },
        status: status_word(p.status, lang),
        class: status_class(p.status),
        counts: counts(&p, lang),
        as_of: match lang {
            Lang::Zh => format!("截至 {}", day(now)),
            Lang::En => format!("As of {}", day(now)),
        },
        text: task.text.get(lang).to_string(),
        items: views,
        history: rows,
        labels: Labels {
            target: tr(lang, "目标", "Target"),
            current: tr(lang, "当前", "Now"),
            updated: tr(lang, "最近更新", "Last update"),
            note: tr(lang, "备注", "Note"),
            history: tr(lang, "更新记录", "Changes"),
            when: tr(lang, "时间", "When"),
            item: tr(lang, "指标", "Item"),
            change: tr(lang, "变化", "Change"),
            by: tr(lang, "更新人", "By"),
            no_history: tr(lang, "暂无进度更新。", "No updates yet."),
            official: tr(lang, "任务原文", "The task as published"),
            retired: tr(lang, "已停用", "retired"),
        },
        prev: task.number.checked_sub(1).and_then(neighbour),
        next: neighbour(task.number + 1),
        frame,
    }
}

fn history_row(task: &Task, e: &AuditEntry, lang: Lang) -> HistoryRow {
    let item = e.number.and_then(|n| crate::progress::item(task, n));
    let value = |v: Option<f64>, s: Option<crate::store::Stage>| match (item, v, s) {
        (Some(Item::Metric(m)), Some(v), _) => with_unit(v, m.unit, lang),
        (Some(Item::Milestone(g)), _, Some(s)) => goal_stage(g.kind, s, lang).to_string(),
        (_, _, Some(s)) => stage_name(s, lang).to_string(),
        (_, Some(v), None) => crate::progress::fmt_num(v),
        _ => "—".to_string(),
    };
    let mut change = format!(
        "{} → {}",
        value(e.old_value, e.old_stage),
        value(e.new_value, e.new_stage)
    );
    if e.kind == AuditKind::Undo {
        change.push_str(tr(lang, "（撤销）", " (undone)"));
    }
    HistoryRow {
        at: fmt_time(e.at),
        item: match (e.number, item) {
            (Some(n), Some(i)) => format!("{}.{n} {}", task.number, i.name(lang)),
            (Some(n), None) => format!("{}.{n}", task.number),
            _ => String::new(),
        },
        change,
        by: updater_name(&e.actor.name, lang).to_string(),
        note: e.note.clone().filter(|n| !n.trim().is_empty()),
    }
}

pub fn period_start_ms(knowledge: &Knowledge) -> i64 {
    knowledge
        .period
        .start
        .and_hms_opt(0, 0, 0)
        .and_then(|d| model::chongqing().from_local_datetime(&d).single())
        .map_or(0, |d| d.timestamp_millis())
}

fn fmt_day_ms(ms: i64) -> String {
    model::chongqing()
        .timestamp_millis_opt(ms)
        .single()
        .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string())
}
