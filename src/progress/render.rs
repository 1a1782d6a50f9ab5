//! Progress as people read it: figures with their units and qualifiers, `/status`, the lines
//! of `/tasks` and the overview above them. Every judgement comes from [`super::model`].

use chrono::{DateTime, TimeZone, Utc};

use crate::Lang;
use crate::knowledge::{Comparator, Cycle, GoalKind, Knowledge, Metric, MetricKind, Period, Task};
use crate::store::{MetricState, Stage};
use crate::units::Unit;

use super::model::{self, ItemStatus, Overview, TaskProgress, TaskStatus};
use super::{Item, fmt_num, items, state_of};

fn tr<'a>(lang: Lang, zh: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

// ---- numbers and units ------------------------------------------------------------------------

/// A number as the language writes it: `1300` in Chinese, `1,300` in English.
pub fn fmt_number(value: f64, lang: Lang) -> String {
    let plain = fmt_num(value);
    if lang == Lang::Zh {
        return plain;
    }
    let (int, frac) = plain
        .split_once('.')
        .map_or((plain.as_str(), None), |(i, f)| (i, Some(f)));
    let digits: Vec<char> = int.chars().collect();
    let mut out = String::with_capacity(plain.len() + digits.len() / 3);
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) && c.is_ascii_digit() {
            out.push(',');
        }
        out.push(*c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// The value and unit name an English reader expects: 万平方米 becomes m², counts take the
/// singular for one. `个`/`项` have no English word (the metric's name says what is counted).
fn english(value: f64, unit: Unit) -> (f64, &'static str) {
    let one = value == 1.0;
    let pick = |singular, plural| if one { singular } else { plural };
    match unit.symbol {
        "万平方米" => (value * 10_000.0, "m²"),
        "平方公里" => (value, "km²"),
        "平方米" => (value, "m²"),
        "公里" => (value, "km"),
        "米" => (value, "m"),
        "%" => (value, "%"),
        "人次" => (value, pick("person-time", "person-times")),
        "批次" => (value, pick("batch", "batches")),
        "场次" => (value, pick("event", "events")),
        "次" => (value, pick("time", "times")),
        "处" => (value, pick("site", "sites")),
        "家" | "所" => (value, pick("institution", "institutions")),
        "台" => (value, pick("unit", "units")),
        "户" => (value, pick("household", "households")),
        "人" | "名" => (value, pick("person", "people")),
        _ => (value, ""),
    }
}

/// The number alone, in the unit [`with_unit`] would print it in: `1.15` of 万平方米 is
/// `11,500` in English (m²).
pub fn number_in(value: f64, unit: Unit, lang: Lang) -> String {
    match lang {
        Lang::Zh => fmt_num(value),
        Lang::En => fmt_number(english(value, unit).0, lang),
    }
}

/// `20公里`, `20 km`, `40%`, `22,700 m²`, `1 site`, `2 sites`.
pub fn with_unit(value: f64, unit: Unit, lang: Lang) -> String {
    match lang {
        Lang::Zh => format!("{}{}", fmt_num(value), unit.symbol),
        Lang::En => {
            let (v, name) = english(value, unit);
            match name {
                "" => fmt_number(v, lang),
                "%" => format!("{}%", fmt_number(v, lang)),
                _ => format!("{} {name}", fmt_number(v, lang)),
            }
        }
    }
}

/// The unit's name in `lang` (for lists of units and error messages).
pub fn unit_name(unit: Unit, lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => unit.symbol,
        Lang::En => english(2.0, unit).1,
    }
}

/// `≥ `, `≈ `, nothing, `≤ `: how the text qualifies its target.
pub fn comparator_sign(c: Comparator) -> &'static str {
    match c {
        Comparator::AtLeast => "≥ ",
        Comparator::About => "≈ ",
        Comparator::Exactly => "",
        Comparator::AtMost => "≤ ",
    }
}

/// The target with its qualifier: `≥ 860台`, `≈ 8.36万平方米`, `20 km`.
pub fn target_text(m: &Metric, lang: Lang) -> String {
    format!(
        "{}{}",
        comparator_sign(m.comparator),
        with_unit(m.target, m.unit, lang)
    )
}

fn cycle_name(cycle: Option<Cycle>, lang: Lang) -> &'static str {
    match (cycle, lang) {
        (Some(Cycle::SchoolYear), Lang::Zh) => "本学年",
        (Some(Cycle::SchoolYear), Lang::En) => "this school year",
        (_, Lang::Zh) => "本年度",
        (_, Lang::En) => "this year",
    }
}

fn per_cycle(cycle: Option<Cycle>, lang: Lang) -> &'static str {
    match (cycle, lang) {
        (Some(Cycle::SchoolYear), Lang::Zh) => "每学年",
        (Some(Cycle::SchoolYear), Lang::En) => "per school year",
        (_, Lang::Zh) => "每年",
        (_, Lang::En) => "per year",
    }
}

/// A reading of `m` in words, as every reply and notification shows it:
/// - cumulative: `12.5 / 20公里（62.5%）`, `870 / ≥ 860台 ✓`;
/// - level or share: `3.5个（目标 ≥ 3.9个，尚未达到）`, `42%（目标 ≥ 40%）✓`;
/// - recurring: `本学年 1次（目标 每学年 ≥ 1次）✓`.
pub fn reading(m: &Metric, value: f64, status: ItemStatus, lang: Lang) -> String {
    let met = status == ItemStatus::Met;
    let (open, close, sep) = match lang {
        Lang::Zh => ("（", "）", "，"),
        Lang::En => (" (", ")", ", "),
    };
    let target = target_text(m, lang);
    match m.kind {
        MetricKind::Cumulative if met => {
            format!("{} / {target} ✓", number_in(value, m.unit, lang))
        }
        MetricKind::Cumulative => format!(
            "{} / {target}{open}{}{close}",
            number_in(value, m.unit, lang),
            fmt_pct(percent(value, m.target))
        ),
        MetricKind::Level | MetricKind::Share => {
            let head = format!(
                "{}{open}{}{target}",
                with_unit(value, m.unit, lang),
                tr(lang, "目标 ", "target ")
            );
            if met {
                format!("{head}{close} ✓")
            } else {
                format!(
                    "{head}{sep}{}{close}",
                    tr(lang, "尚未达到", "not yet reached")
                )
            }
        }
        MetricKind::Recurring => {
            let head = match lang {
                Lang::Zh => format!(
                    "{} {}",
                    cycle_name(m.every, lang),
                    with_unit(value, m.unit, lang)
                ),
                Lang::En => format!(
                    "{} {}",
                    with_unit(value, m.unit, lang),
                    cycle_name(m.every, lang)
                ),
            };
            let goal = match lang {
                Lang::Zh => format!("目标 {} {target}", per_cycle(m.every, lang)),
                Lang::En => format!("target {target} {}", per_cycle(m.every, lang)),
            };
            if met {
                format!("{head}{open}{goal}{close} ✓")
            } else {
                format!(
                    "{head}{open}{goal}{sep}{}{close}",
                    tr(lang, "尚未完成", "not yet done")
                )
            }
        }
    }
}

/// A goal's stage in words, by its kind.
pub fn goal_stage(kind: GoalKind, stage: Stage, lang: Lang) -> &'static str {
    match (kind, stage) {
        (GoalKind::Ongoing, Stage::InProgress | Stage::Done) => tr(lang, "持续推进中", "under way"),
        (GoalKind::Ongoing, Stage::NotStarted) => tr(lang, "尚未开展", "not started"),
        (GoalKind::Outcome, Stage::Done) => tr(
            lang,
            "已明显改观（工作人员评估）",
            "clearly improved (officers' assessment)",
        ),
        (GoalKind::Outcome, Stage::InProgress) => tr(
            lang,
            "正在改善（工作人员评估）",
            "improving (officers' assessment)",
        ),
        (GoalKind::Outcome, Stage::NotStarted) => tr(
            lang,
            "尚未改观（工作人员评估）",
            "no improvement yet (officers' assessment)",
        ),
        (GoalKind::Milestone, s) => super::stage_name(s, lang),
    }
}

pub fn percent(value: f64, target: f64) -> f64 {
    if target > 0.0 {
        value / target * 100.0
    } else {
        0.0
    }
}

/// A ten-cell bar; full at 100% and beyond.
pub fn bar(pct: f64) -> String {
    let filled = (pct.clamp(0.0, 100.0) / 10.0).round() as usize;
    format!("{}{}", "▓".repeat(filled), "░".repeat(10 - filled))
}

pub fn fmt_pct(pct: f64) -> String {
    format!("{}%", fmt_num((pct * 10.0).round() / 10.0))
}

/// Unix milliseconds as Chongqing local time (UTC+8), to the minute.
pub fn fmt_time(ms: i64) -> String {
    match model::chongqing().timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%Y-%m-%d %H:%M").to_string(),
        None => ms.to_string(),
    }
}

fn fmt_day(at: DateTime<Utc>) -> String {
    at.with_timezone(&model::chongqing())
        .format("%Y-%m-%d")
        .to_string()
}

/// Who made a change, as residents see it: the recorded name (a department, or the display
/// name a channel reports), never an id; "an officer" when there is none (WeChat reports no
/// names).
pub fn updater_name(name: &str, lang: Lang) -> &str {
    match name.trim() {
        "" => tr(lang, "工作人员", "an officer"),
        name => name,
    }
}

fn no_update(lang: Lang) -> &'static str {
    tr(lang, "暂无进度更新", "no update yet")
}

// ---- tasks --------------------------------------------------------------------------------------

pub fn status_label(status: TaskStatus, lang: Lang) -> &'static str {
    match status {
        TaskStatus::Done => tr(lang, "✅ 已完成", "✅ done"),
        TaskStatus::OnTrack => tr(lang, "🟢 按计划推进", "🟢 on track"),
        TaskStatus::Behind => tr(lang, "🔴 落后于进度", "🔴 behind"),
        TaskStatus::NotReported => tr(lang, "⚪ 尚未报告", "⚪ not reported"),
    }
}

/// `达标 1/2 · 1 项未报告`: what the task's status rests on.
pub fn counts(p: &TaskProgress, lang: Lang) -> String {
    let mut s = match lang {
        Lang::Zh => format!("达标 {}/{}", p.fulfilled, p.total),
        Lang::En => format!("{} of {} met", p.fulfilled, p.total),
    };
    let unreported = p.total - p.reported;
    if unreported > 0 && p.reported > 0 {
        s.push_str(&match lang {
            Lang::Zh => format!(" · {unreported} 项未报告"),
            Lang::En => format!(" · {unreported} not reported"),
        });
    }
    s
}

/// Every metric and goal of `task` with its live state, as `/status` shows it.
pub fn render_status(
    task: &Task,
    states: &[MetricState],
    period: &Period,
    now: DateTime<Utc>,
    lang: Lang,
) -> String {
    render_items(task, None, states, period, now, lang)
}

/// The task's heading and only the items numbered `only`, each as `/status` shows it: the
/// part a question asked about.
pub fn render_part(
    task: &Task,
    only: &[u32],
    states: &[MetricState],
    period: &Period,
    now: DateTime<Utc>,
    lang: Lang,
) -> String {
    render_items(task, Some(only), states, period, now, lang)
}

fn render_items(
    task: &Task,
    only: Option<&[u32]>,
    states: &[MetricState],
    period: &Period,
    now: DateTime<Utc>,
    lang: Lang,
) -> String {
    let p = model::task_progress(task, states, period, now);
    let at = model::reference_time(period, now);
    let mut out = match lang {
        Lang::Zh => format!("第{}项 {}", task.number, task.title.zh),
        Lang::En => format!("Task {}: {}", task.number, task.title.en),
    };
    out.push_str(&format!(
        "\n{} · {}",
        status_label(p.status, lang),
        counts(&p, lang)
    ));
    for item in items(task).filter(|i| only.is_none_or(|o| o.contains(&i.number()))) {
        let state = state_of(states, task.number, item.number());
        let status = model::assess(item, state, at);
        out.push_str(&format!(
            "\n\n{}.{} {}",
            task.number,
            item.number(),
            item.name(lang)
        ));
        match item {
            Item::Metric(m) => {
                if let Some(total) = m.part_of {
                    out.push_str(&match lang {
                        Lang::Zh => format!("（属于 {}.{total}）", task.number),
                        Lang::En => format!(" (part of {}.{total})", task.number),
                    });
                }
                match (status, state.and_then(|s| s.current)) {
                    (ItemStatus::NotReported, last) => {
                        out.push_str(&format!(
                            "\n{} {} · {}",
                            tr(lang, "目标", "target"),
                            target_text(m, lang),
                            no_update(lang)
                        ));
                        // A recurring figure of an earlier cycle: say so, it is not this one's.
                        if let (MetricKind::Recurring, Some(v)) = (m.kind, last) {
                            out.push_str(&match lang {
                                Lang::Zh => {
                                    format!("（上一周期报告 {}）", with_unit(v, m.unit, lang))
                                }
                                Lang::En => {
                                    format!(" (last cycle: {})", with_unit(v, m.unit, lang))
                                }
                            });
                        }
                    }
                    (status, Some(v)) => {
                        out.push('\n');
                        if m.kind == MetricKind::Cumulative {
                            out.push_str(&format!("{}  ", bar(percent(v, m.target))));
                        }
                        out.push_str(&reading(m, v, status, lang));
                    }
                    (_, None) => out.push_str(&format!("\n{}", no_update(lang))),
                }
            }
            Item::Milestone(g) => {
                let kind = match g.kind {
                    GoalKind::Ongoing => tr(lang, "（持续性工作）", " (ongoing work)"),
                    GoalKind::Outcome => tr(lang, "（成效目标）", " (outcome)"),
                    GoalKind::Milestone => "",
                };
                out.push_str(kind);
                match state.and_then(|s| s.stage) {
                    Some(stage) => out.push_str(&format!("\n{}", goal_stage(g.kind, stage, lang))),
                    None => out.push_str(&format!("\n{}", no_update(lang))),
                }
            }
        }
        if let Some(s) = state {
            if let Some(note) = s.note.as_deref().filter(|n| !n.is_empty()) {
                out.push_str(&format!("\n“{note}”"));
            }
            if let (Some(at), Some(by)) = (s.updated_at, &s.updated_by) {
                out.push_str(&match lang {
                    Lang::Zh => {
                        format!("\n{} 更新 · {}", fmt_time(at), updater_name(&by.name, lang))
                    }
                    Lang::En => format!(
                        "\nupdated {} by {}",
                        fmt_time(at),
                        updater_name(&by.name, lang)
                    ),
                });
            }
        }
    }
    out
}

/// One line of `/tasks`: the task's status and what it rests on; for a task tracked by one
/// figure, the figure itself.
pub fn summary(
    task: &Task,
    states: &[MetricState],
    period: &Period,
    now: DateTime<Utc>,
    lang: Lang,
) -> String {
    let p = model::task_progress(task, states, period, now);
    let mut line = format!(
        "{:>2}. {} — {}",
        task.number,
        task.title.get(lang),
        status_label(p.status, lang)
    );
    if let Some(detail) = summary_detail(task, states, period, now, lang) {
        line.push_str(&format!(" · {detail}"));
    }
    line
}

/// What a task's one-line summary says after its status: the figure of a task tracked by one
/// figure, else the counts; nothing for a task not reported.
pub fn summary_detail(
    task: &Task,
    states: &[MetricState],
    period: &Period,
    now: DateTime<Utc>,
    lang: Lang,
) -> Option<String> {
    let p = model::task_progress(task, states, period, now);
    if p.status == TaskStatus::NotReported {
        return None;
    }
    let top: Vec<&Metric> = task
        .metrics
        .iter()
        .filter(|m| m.part_of.is_none())
        .collect();
    match (top.as_slice(), task.milestones.is_empty()) {
        ([only], true) => {
            let at = model::reference_time(period, now);
            let state = state_of(states, task.number, only.number);
            let v = state.and_then(|s| s.current)?;
            let status = model::assess_metric(only, state, at);
            Some(reading(only, v, status, lang))
        }
        _ => Some(counts(&p, lang)),
    }
}

/// The head of `/tasks`: the list's year, the date, and how many tasks are done, on track,
/// behind and not reported, naming the ones that need attention.
pub fn overview(
    knowledge: &Knowledge,
    states: &[MetricState],
    now: DateTime<Utc>,
    lang: Lang,
) -> String {
    let o: Overview = model::overview(knowledge, states, now);
    let year = knowledge.period.year;
    let n = knowledge.tasks.len();
    let when = if o.closed {
        tr(lang, "报告期已结束", "reporting period over").to_string()
    } else {
        match lang {
            Lang::Zh => format!("报告期已过 {}", fmt_pct(o.elapsed * 100.0)),
            Lang::En => format!(
                "{} of the reporting period passed",
                fmt_pct(o.elapsed * 100.0)
            ),
        }
    };
    let mut text = match lang {
        Lang::Zh => format!(
            "{year}年重庆高新区{n}件重点民生实事进度（截至 {}，{when}）\n已完成 {} 项 · 按计划 {} 项 · 落后 {} 项 · 尚未报告 {} 项",
            fmt_day(now),
            o.done.len(),
            o.on_track.len(),
            o.behind.len(),
            o.not_reported.len()
        ),
        Lang::En => format!(
            "Progress of the {n} key livelihood projects of {year} (as of {}, {when})\n{} done · {} on track · {} behind · {} not reported",
            fmt_day(now),
            o.done.len(),
            o.on_track.len(),
            o.behind.len(),
            o.not_reported.len()
        ),
    };
    let list = |v: &[u32]| {
        v.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(lang_sep(lang))
    };
    for (tasks, zh, en) in [
        (&o.behind, "落后", "Behind"),
        (&o.not_reported, "尚未报告", "Not reported"),
    ] {
        if !tasks.is_empty() {
            text.push_str(&match lang {
                Lang::Zh => format!("\n{zh}：第{}项", list(tasks)),
                Lang::En => format!("\n{en}: tasks {}", list(tasks)),
            });
        }
    }
    text
}

fn lang_sep(lang: Lang) -> &'static str {
    tr(lang, "、", ", ")
}

/// The task's items with numbers and targets: what an officer picks from when a metric is
/// unclear.
pub fn item_list(task: &Task, lang: Lang) -> String {
    items(task)
        .map(|item| match item {
            Item::Metric(m) => format!(
                "{}.{} {} ({})",
                task.number,
                m.number,
                m.name.get(lang),
                target_text(m, lang)
            ),
            Item::Milestone(m) => format!(
                "{}.{} {} ({})",
                task.number,
                m.number,
                m.name.get(lang),
                tr(lang, "阶段", "stage")
            ),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_numbers_read_naturally() {
        assert_eq!(fmt_number(1300.0, Lang::En), "1,300");
        assert_eq!(fmt_number(1300.0, Lang::Zh), "1300");
        assert_eq!(fmt_number(1234567.25, Lang::En), "1,234,567.25");
        assert_eq!(fmt_number(999.0, Lang::En), "999");
        let u = |s| Unit::parse(s).expect(s);
        assert_eq!(with_unit(2.27, u("万平方米"), Lang::En), "22,700 m²");
        assert_eq!(with_unit(4555.0, u("平方米"), Lang::En), "4,555 m²");
        assert_eq!(with_unit(1.0, u("处"), Lang::En), "1 site");
        assert_eq!(with_unit(2.0, u("处"), Lang::En), "2 sites");
        assert_eq!(with_unit(40.0, u("%"), Lang::En), "40%");
        assert_eq!(with_unit(20.0, u("公里"), Lang::Zh), "20公里");
    }

    #[test]
    fn bars_and_percents() {
        assert_eq!(bar(62.5), "▓▓▓▓▓▓░░░░");
        assert_eq!(bar(250.0), "▓▓▓▓▓▓▓▓▓▓");
        assert_eq!(fmt_pct(percent(12.5, 20.0)), "62.5%");
        assert_eq!(fmt_time(0), "1970-01-01 08:00");
    }
}
