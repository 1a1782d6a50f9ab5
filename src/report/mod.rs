//! The record as published: every task and item with where it stands (from the one progress
//! model), and the audit trail, as rows for the JSON API, CSV and xlsx exports. Pure
//! functions over the catalogue, the store's states and the trail; the page and the core's
//! `/export` both build on them.
//!
//! The public trail names who acted by department or display name only; grants, revokes,
//! admin changes and refused attempts keep their time, kind and hash but not their text,
//! which holds ids. An admin's export (`full`) has everything.

mod csv;
mod xlsx;

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;

use crate::Lang;
use crate::knowledge::{Comparator, Cycle, GoalKind, Knowledge, MetricKind, Task};
use crate::progress::model::{self, ItemStatus, TaskStatus};
use crate::progress::{Item, items, updater_name};
use crate::store::{AuditKind, MetricState, Stage, TrailRow};

pub use csv::{items_csv, trail_csv};
pub use xlsx::{XlsxError, workbook};

/// One task with its items, as the API and exports give it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRow {
    pub number: u32,
    pub id: String,
    pub title_zh: String,
    pub title_en: String,
    /// `done`, `on_track`, `behind` or `not_reported`.
    pub status: &'static str,
    pub reported: usize,
    pub fulfilled: usize,
    pub total: usize,
    pub items: Vec<ItemRow>,
}

/// One metric or goal.
#[derive(Debug, Clone, Serialize)]
pub struct ItemRow {
    pub number: u32,
    pub id: String,
    /// `metric` or `goal`.
    pub kind: &'static str,
    /// cumulative, level, share, recurring; milestone, ongoing, outcome.
    pub measure: &'static str,
    pub name_zh: String,
    pub name_en: String,
    /// For a part of a total: the total's number.
    pub part_of: Option<u32>,
    /// at_least, about, exactly, at_most (metrics only).
    pub comparator: Option<&'static str>,
    pub target: Option<f64>,
    /// The unit as the official text writes it (公里, 万平方米, %).
    pub unit: Option<&'static str>,
    /// For a recurring figure: `year` or `school_year`.
    pub every: Option<&'static str>,
    pub value: Option<f64>,
    /// not_started, in_progress, done (goals).
    pub stage: Option<&'static str>,
    /// `not_reported`, `met`, `active` or `open`.
    pub status: &'static str,
    pub note: Option<String>,
    /// RFC 3339, Chongqing time.
    pub updated_at: Option<String>,
    /// As residents see it: a department or display name, never an id.
    pub updated_by: Option<String>,
    pub retired: bool,
}

pub fn task_status_code(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::Done => "done",
        TaskStatus::OnTrack => "on_track",
        TaskStatus::Behind => "behind",
        TaskStatus::NotReported => "not_reported",
    }
}

pub fn item_status_code(s: ItemStatus) -> &'static str {
    match s {
        ItemStatus::NotReported => "not_reported",
        ItemStatus::Met => "met",
        ItemStatus::Active => "active",
        ItemStatus::Open { .. } => "open",
    }
}

fn comparator_code(c: Comparator) -> &'static str {
    match c {
        Comparator::AtLeast => "at_least",
        Comparator::About => "about",
        Comparator::Exactly => "exactly",
        Comparator::AtMost => "at_most",
    }
}

fn stage_code(s: Stage) -> &'static str {
    s.as_str()
}

/// Unix ms as RFC 3339 in Chongqing time (`2024-05-01T10:00:00+08:00`).
pub fn rfc3339(ms: i64) -> String {
    model::chongqing()
        .timestamp_millis_opt(ms)
        .single()
        .map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
}

/// Every task of the list as it stands at `now`.
pub fn tasks(knowledge: &Knowledge, states: &[MetricState], now: DateTime<Utc>) -> Vec<TaskRow> {
    knowledge
        .tasks
        .iter()
        .map(|t| task_row(knowledge, t, states, now))
        .collect()
}

pub fn task_row(
    knowledge: &Knowledge,
    task: &Task,
    states: &[MetricState],
    now: DateTime<Utc>,
) -> TaskRow {
    let p = model::task_progress(task, states, &knowledge.period, now);
    let at = model::reference_time(&knowledge.period, now);
    let items = items(task)
        .map(|item| {
            let state = states
                .iter()
                .find(|s| s.task == task.number && s.number == item.number());
            let status = model::assess(item, state, at);
            let mut row = ItemRow {
                number: item.number(),
                id: String::new(),
                kind: "metric",
                measure: "",
                name_zh: item.name(Lang::Zh).to_string(),
                name_en: item.name(Lang::En).to_string(),
                part_of: None,
                comparator: None,
                target: None,
                unit: None,
                every: None,
                value: state.and_then(|s| s.current),
                stage: state.and_then(|s| s.stage).map(stage_code),
                status: item_status_code(status),
                note: state.and_then(|s| s.note.clone()).filter(|n| !n.is_empty()),
                updated_at: state.and_then(|s| s.updated_at).map(rfc3339),
                updated_by: state
                    .and_then(|s| s.updated_by.as_ref())
                    .map(|a| updater_name(&a.name, Lang::Zh).to_string()),
                retired: false,
            };
            match item {
                Item::Metric(m) => {
                    row.id = m.id.clone();
                    row.measure = match m.kind {
                        MetricKind::Cumulative => "cumulative",
                        MetricKind::Level => "level",
                        MetricKind::Share => "share",
                        MetricKind::Recurring => "recurring",
                    };
                    row.part_of = m.part_of;
                    row.comparator = Some(comparator_code(m.comparator));
                    row.target = Some(m.target);
                    row.unit = Some(m.unit.symbol);
                    row.every = m.every.map(|c| match c {
                        Cycle::Year => "year",
                        Cycle::SchoolYear => "school_year",
                    });
                    row.retired = m.retired;
                }
                Item::Milestone(g) => {
                    row.id = g.id.clone();
                    row.kind = "goal";
                    row.measure = match g.kind {
                        GoalKind::Milestone => "milestone",
                        GoalKind::Ongoing => "ongoing",
                        GoalKind::Outcome => "outcome",
                    };
                    row.value = None;
                    row.retired = g.retired;
                }
            }
            row
        })
        .collect();
    TaskRow {
        number: task.number,
        id: task.id.clone(),
        title_zh: task.title.zh.clone(),
        title_en: task.title.en.clone(),
        status: task_status_code(p.status),
        reported: p.reported,
        fulfilled: p.fulfilled,
        total: p.total,
        items,
    }
}

/// One row of the audit trail, as published.
#[derive(Debug, Clone, Serialize)]
pub struct TrailEntry {
    pub id: i64,
    pub at: String,
    pub kind: &'static str,
    pub task: u32,
    pub item: Option<u32>,
    pub old_value: Option<f64>,
    pub new_value: Option<f64>,
    pub old_stage: Option<&'static str>,
    pub new_stage: Option<&'static str>,
    pub note: Option<String>,
    /// A department or display name; with `full`, `name (channel:id)`.
    pub by: String,
    pub reverts: Option<i64>,
    pub hash: Option<String>,
}

/// Kinds whose text and actor are published: changes of the figures and of the catalogue.
fn public_kind(kind: &AuditKind) -> bool {
    matches!(
        kind,
        AuditKind::Update | AuditKind::Undo | AuditKind::Catalogue
    )
}

/// The trail as published; `full` (admins) keeps ids and the text of every row.
pub fn trail(rows: &[TrailRow], full: bool) -> Vec<TrailEntry> {
    rows.iter()
        .map(|r| {
            let e = &r.entry;
            let shown = full || public_kind(&e.kind);
            let by = if full {
                format!("{} ({}:{})", e.actor.name, e.actor.channel, e.actor.user_id)
            } else if shown {
                updater_name(&e.actor.name, Lang::Zh).to_string()
            } else {
                String::new()
            };
            TrailEntry {
                id: e.id,
                at: rfc3339(e.at),
                kind: e.kind.as_str(),
                task: e.task,
                item: e.number,
                old_value: e.old_value,
                new_value: e.new_value,
                old_stage: e.old_stage.map(stage_code),
                new_stage: e.new_stage.map(stage_code),
                note: if shown { e.note.clone() } else { None },
                by,
                reverts: e.reverts,
                hash: r.hash.clone(),
            }
        })
        .collect()
}

/// The JSON document of `/api/tasks.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Api {
    pub generated_at: String,
    pub year: i32,
    pub period_start: String,
    pub period_end: String,
    /// Share of the reporting period passed (0–1).
    pub elapsed: f64,
    pub tasks: Vec<TaskRow>,
}

pub fn api(knowledge: &Knowledge, states: &[MetricState], now: DateTime<Utc>) -> Api {
    Api {
        generated_at: rfc3339(now.timestamp_millis()),
        year: knowledge.period.year,
        period_start: knowledge.period.start.to_string(),
        period_end: knowledge.period.end.to_string(),
        elapsed: model::elapsed(&knowledge.period, now),
        tasks: tasks(knowledge, states, now),
    }
}
