//! How far along is this? The one model of progress that every reply, notification and page
//! uses, so each rule is written once:
//!
//! - a **cumulative** figure is work done towards its target (12.5 of 20 km is 62.5%);
//! - a **level** or **share** is where things stand (3.5 per thousand, target ≥ 3.9: not yet
//!   reached), never a percentage of work done;
//! - a **recurring** figure counts only in its current cycle (this school year);
//! - a **milestone** is not started, in progress or done; **ongoing** work is active or not and
//!   never "done"; an **outcome** is an officer's assessment;
//! - a target is met as its comparator says (≥, ≈ within 5%, exactly, ≤);
//! - a part of a total (底质改良 within 水生态系统) is shown, and must be met for the task to be
//!   done, but its figure is never counted beside its total's;
//! - nothing reported is "not reported", never zero; a task is done only when every item is;
//!   a task is behind when its progress trails the share of the reporting period that has passed.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Offset, TimeZone, Utc};

use crate::knowledge::{
    Comparator, Cycle, GoalKind, Knowledge, Metric, MetricKind, Milestone, Period, Task,
};
use crate::store::{MetricState, Stage};
use crate::units::Dimension;

use super::{Item, items, state_of};

/// "About" a target means within this share of it.
pub const ABOUT_TOLERANCE: f64 = 0.05;

/// A task is behind when its progress trails the elapsed share of the period by more than this.
pub const BEHIND_MARGIN: f64 = 0.10;

/// Where one metric or goal stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ItemStatus {
    /// Nothing reported (in this cycle, for a recurring figure).
    NotReported,
    /// The target is reached as its comparator says; a milestone done; an outcome achieved.
    Met,
    /// Ongoing work reported as going on.
    Active,
    /// Reported, not there yet. `fraction` (0–1) is how far along, for the calendar check
    /// only: for a level or share it is not shown as a share of work done.
    Open { fraction: f64 },
}

impl ItemStatus {
    /// Counts as fulfilled for "is the task done?".
    pub fn fulfilled(self) -> bool {
        matches!(self, ItemStatus::Met | ItemStatus::Active)
    }

    pub fn reported(self) -> bool {
        self != ItemStatus::NotReported
    }

    fn fraction(self) -> Option<f64> {
        match self {
            ItemStatus::NotReported => None,
            ItemStatus::Met | ItemStatus::Active => Some(1.0),
            ItemStatus::Open { fraction } => Some(fraction.clamp(0.0, 1.0)),
        }
    }
}

/// Whether `value` reaches `target` as `comparator` says.
pub fn meets(comparator: Comparator, value: f64, target: f64) -> bool {
    match comparator {
        Comparator::AtLeast | Comparator::Exactly => value >= target,
        Comparator::About => value >= target * (1.0 - ABOUT_TOLERANCE),
        Comparator::AtMost => value <= target,
    }
}

/// The moment progress is judged at: now, or the period's last day for a list already closed
/// (what was achieved within the period is what the list promised).
pub fn reference_time(period: &Period, now: DateTime<Utc>) -> DateTime<Utc> {
    let end = end_of(period);
    if now > end { end } else { now }
}

/// The start of the cycle of a recurring figure that contains `at`.
pub fn cycle_start(cycle: Cycle, at: DateTime<Utc>) -> DateTime<Utc> {
    let local = at.with_timezone(&chongqing());
    let (year, month) = match cycle {
        Cycle::Year => (local.year(), 1),
        Cycle::SchoolYear if local.month() >= 9 => (local.year(), 9),
        Cycle::SchoolYear => (local.year() - 1, 9),
    };
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|d| chongqing().from_local_datetime(&d).single())
        .map_or(at, |d| d.with_timezone(&Utc))
}

/// One metric's status from its state, judged at `at` (see [`reference_time`]).
pub fn assess_metric(m: &Metric, state: Option<&MetricState>, at: DateTime<Utc>) -> ItemStatus {
    let Some(value) = state.and_then(|s| s.current) else {
        return ItemStatus::NotReported;
    };
    if let (MetricKind::Recurring, Some(cycle)) = (m.kind, m.every) {
        let since = cycle_start(cycle, at).timestamp_millis();
        // A reading from before this cycle began was for an earlier one.
        let in_cycle = state.and_then(|s| s.updated_at).is_some_and(|t| t >= since);
        if !in_cycle {
            return ItemStatus::NotReported;
        }
    }
    if meets(m.comparator, value, m.target) {
        return ItemStatus::Met;
    }
    let fraction = match m.comparator {
        // Less is better: how far along has no meaning before the end; count it as half.
        Comparator::AtMost => 0.5,
        _ if m.target > 0.0 => value / m.target,
        _ => 0.0,
    };
    ItemStatus::Open { fraction }
}

/// The status a value just reported would have (in its cycle, by definition).
pub fn status_of_value(m: &Metric, value: f64) -> ItemStatus {
    if meets(m.comparator, value, m.target) {
        ItemStatus::Met
    } else {
        ItemStatus::Open {
            fraction: if m.target > 0.0 {
                value / m.target
            } else {
                0.0
            },
        }
    }
}

/// One goal's status from its stage.
pub fn assess_goal(g: &Milestone, state: Option<&MetricState>) -> ItemStatus {
    let Some(stage) = state.and_then(|s| s.stage) else {
        return ItemStatus::NotReported;
    };
    match (g.kind, stage) {
        (GoalKind::Ongoing, Stage::InProgress | Stage::Done) => ItemStatus::Active,
        (_, Stage::Done) => ItemStatus::Met,
        (_, Stage::InProgress) => ItemStatus::Open { fraction: 0.5 },
        (_, Stage::NotStarted) => ItemStatus::Open { fraction: 0.0 },
    }
}

pub fn assess(item: Item<'_>, state: Option<&MetricState>, at: DateTime<Utc>) -> ItemStatus {
    match item {
        Item::Metric(m) => assess_metric(m, state, at),
        Item::Milestone(g) => assess_goal(g, state),
    }
}

/// Where a task stands as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// Every metric and goal met (ongoing work active).
    Done,
    /// Progress keeps pace with the calendar.
    OnTrack,
    /// Progress trails the calendar, or the period ended before the task was done.
    Behind,
    /// Nothing reported yet.
    NotReported,
}

/// A task's progress: its status, and the counts behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskProgress {
    pub status: TaskStatus,
    /// Items (metrics, parts and goals) with a report.
    pub reported: usize,
    /// Items fulfilled (met, or ongoing and active).
    pub fulfilled: usize,
    pub total: usize,
    /// Mean progress (0–1) of the reported items that are not parts of another; what is
    /// compared with the calendar. Not shown as a percentage: levels are not work done.
    pub fraction: f64,
}

/// The task's progress at `now` over `period`.
pub fn task_progress(
    task: &Task,
    states: &[MetricState],
    period: &Period,
    now: DateTime<Utc>,
) -> TaskProgress {
    let at = reference_time(period, now);
    let assessed: Vec<(Item<'_>, ItemStatus)> = items(task)
        .map(|i| (i, assess(i, state_of(states, task.number, i.number()), at)))
        .collect();
    let total = assessed.len();
    let reported = assessed.iter().filter(|(_, s)| s.reported()).count();
    let fulfilled = assessed.iter().filter(|(_, s)| s.fulfilled()).count();
    let is_part = |i: &Item<'_>| matches!(i, Item::Metric(m) if m.part_of.is_some());
    let mean = |parts: bool| {
        let fractions: Vec<f64> = assessed
            .iter()
            .filter(|(i, _)| is_part(i) == parts)
            .filter_map(|(_, s)| s.fraction())
            .collect();
        (!fractions.is_empty()).then(|| fractions.iter().sum::<f64>() / fractions.len() as f64)
    };
    // Parts are inside their totals: counted only when no total or goal is reported.
    let fraction = mean(false).or_else(|| mean(true)).unwrap_or(0.0);
    let status = if reported == 0 {
        TaskStatus::NotReported
    } else if fulfilled == total {
        TaskStatus::Done
    } else if now > end_of(period) || fraction + BEHIND_MARGIN < elapsed(period, now) {
        TaskStatus::Behind
    } else {
        TaskStatus::OnTrack
    };
    TaskProgress {
        status,
        reported,
        fulfilled,
        total,
        fraction,
    }
}

/// The share (0–1) of the reporting period that has passed at `now`.
pub fn elapsed(period: &Period, now: DateTime<Utc>) -> f64 {
    let start = start_of(period).timestamp_millis() as f64;
    let end = end_of(period).timestamp_millis() as f64;
    ((now.timestamp_millis() as f64 - start) / (end - start)).clamp(0.0, 1.0)
}

/// The whole list at a glance: which tasks are done, on track, behind, not reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    pub done: Vec<u32>,
    pub on_track: Vec<u32>,
    pub behind: Vec<u32>,
    pub not_reported: Vec<u32>,
    /// Share of the reporting period passed (0–1).
    pub elapsed: f64,
    /// Whether the period is over.
    pub closed: bool,
}

pub fn overview(knowledge: &Knowledge, states: &[MetricState], now: DateTime<Utc>) -> Overview {
    let mut o = Overview {
        done: Vec::new(),
        on_track: Vec::new(),
        behind: Vec::new(),
        not_reported: Vec::new(),
        elapsed: elapsed(&knowledge.period, now),
        closed: now > end_of(&knowledge.period),
    };
    for task in &knowledge.tasks {
        let list = match task_progress(task, states, &knowledge.period, now).status {
            TaskStatus::Done => &mut o.done,
            TaskStatus::OnTrack => &mut o.on_track,
            TaskStatus::Behind => &mut o.behind,
            TaskStatus::NotReported => &mut o.not_reported,
        };
        list.push(task.number);
    }
    o
}

/// Why a value cannot be recorded against a metric of its kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KindError {
    /// A count of discrete things (个 处 家 户 人 …) with a fraction: 0.6 of a community.
    NotWhole { value: f64 },
    /// A share or rate over 100%.
    OverHundred { value: f64 },
    /// A bare number below 1 for a percentage: 0.4 may mean 0.4% or 40%.
    AmbiguousFraction { value: f64 },
    /// "Done" for work that goes on.
    OngoingNeverDone,
}

/// Checks a value (in the metric's unit) against the metric's kind. `unit_typed` says whether
/// the officer wrote a unit (`0.4%`) or a bare number (`0.4`).
pub fn check_value(m: &Metric, value: f64, unit_typed: bool) -> Result<(), KindError> {
    let discrete = matches!(m.unit.dimension, Dimension::Count(_)) && m.kind != MetricKind::Level;
    if discrete && value.fract() != 0.0 {
        return Err(KindError::NotWhole { value });
    }
    if m.unit.dimension == Dimension::Percent {
        if value > 100.0 {
            return Err(KindError::OverHundred { value });
        }
        if !unit_typed && value > 0.0 && value < 1.0 {
            return Err(KindError::AmbiguousFraction { value });
        }
    }
    Ok(())
}

/// Checks a stage against the goal's kind.
pub fn check_stage(g: &Milestone, stage: Stage) -> Result<(), KindError> {
    if g.kind == GoalKind::Ongoing && stage == Stage::Done {
        return Err(KindError::OngoingNeverDone);
    }
    Ok(())
}

/// Chongqing's offset (UTC+8), which the list's dates are in.
pub fn chongqing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or(Utc.fix())
}

fn start_of(period: &Period) -> DateTime<Utc> {
    local_midnight(period.start)
}

/// The end of the period's last day.
fn end_of(period: &Period) -> DateTime<Utc> {
    local_midnight(period.end.succ_opt().unwrap_or(period.end)) - chrono::Duration::milliseconds(1)
}

fn local_midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0)
        .and_then(|d| chongqing().from_local_datetime(&d).single())
        .map_or_else(DateTime::<Utc>::default, |d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period() -> Period {
        Period {
            year: 2024,
            start: NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"),
            end: NaiveDate::from_ymd_opt(2024, 12, 31).expect("date"),
            updates_until: None,
        }
    }

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 4, 0, 0)
            .single()
            .expect("date")
    }

    #[test]
    fn comparators() {
        assert!(meets(Comparator::AtLeast, 870.0, 860.0));
        assert!(!meets(Comparator::AtLeast, 859.0, 860.0));
        assert!(meets(Comparator::About, 8.0, 8.36), "within 5%");
        assert!(!meets(Comparator::About, 7.9, 8.36));
        assert!(meets(Comparator::Exactly, 20.0, 20.0));
        assert!(meets(Comparator::AtMost, 3.0, 4.0));
        assert!(!meets(Comparator::AtMost, 5.0, 4.0));
    }

    #[test]
    fn the_calendar() {
        let p = period();
        assert_eq!(elapsed(&p, at(2023, 6, 1)), 0.0);
        assert!((elapsed(&p, at(2024, 7, 2)) - 0.5).abs() < 0.01);
        assert_eq!(elapsed(&p, at(2025, 3, 1)), 1.0);
        // A closed list is judged at its last day.
        assert_eq!(reference_time(&p, at(2026, 12, 2)), end_of(&p));
        assert_eq!(reference_time(&p, at(2024, 5, 1)), at(2024, 5, 1));
    }

    #[test]
    fn cycles_start_in_chongqing_time() {
        let sept = |y| {
            chongqing()
                .with_ymd_and_hms(y, 9, 1, 0, 0, 0)
                .single()
                .expect("date")
                .with_timezone(&Utc)
        };
        assert_eq!(cycle_start(Cycle::SchoolYear, at(2024, 10, 15)), sept(2024));
        assert_eq!(cycle_start(Cycle::SchoolYear, at(2024, 6, 1)), sept(2023));
        let jan = chongqing()
            .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
            .single()
            .expect("date")
            .with_timezone(&Utc);
        assert_eq!(cycle_start(Cycle::Year, at(2024, 6, 1)), jan);
    }
}
