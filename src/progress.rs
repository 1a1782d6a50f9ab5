//! Progress of the 20 tasks, one concept a file: `quantity` (numbers and units as typed),
//! `update` (reading `/update` arguments), `model` (how far along an item and a task are) and
//! `render` (how people read it); this root holds what they share: task references, items and
//! stages. Pure functions over the task catalogue and the store's states; the core decides who
//! may do what and writes through the store.

use crate::Lang;
use crate::knowledge::{Knowledge, Metric, Milestone, Task};
use crate::matcher::normalize::fold;
use crate::matcher::ordinal::small_number;
use crate::store::Stage;

pub mod model;
mod quantity;
mod render;
mod update;

pub use quantity::{
    EXAMPLE_VALUE, MAX_SIGNIFICANT_DIGITS, NumberProblem, Quantity, QuantityError, fmt_num,
};
pub use update::{MAX_TARGET_FACTOR, UpdateError, UpdatePlan, parse_update};

pub use render::{
    bar, comparator_sign, counts, fmt_number, fmt_pct, fmt_time, goal_stage, item_list, number_in,
    overview, percent, reading, render_part, render_status, status_label, summary, summary_detail,
    target_text, unit_name, updater_name, with_unit,
};

// ---- tasks and metrics ------------------------------------------------------------------------

/// A task as an officer or resident names it: `14`, `14号`, `第十四项`, `task 14`, with an
/// optional metric number (`19.9`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskRef {
    pub task: u32,
    pub item: Option<u32>,
}

impl TaskRef {
    /// Reads a reference written as one word; `None` if it is not one (a name, say).
    pub fn parse(word: &str) -> Option<TaskRef> {
        let w = fold(word.trim());
        let w = w.trim_start_matches('#');
        let w = w
            .strip_prefix("task")
            .or_else(|| w.strip_prefix("no."))
            .unwrap_or(w);
        let w = w.strip_prefix('第').unwrap_or(w);
        let w = w
            .strip_suffix("号")
            .or_else(|| w.strip_suffix("项"))
            .or_else(|| w.strip_suffix("件"))
            .unwrap_or(w);
        if let Some((t, m)) = w.split_once('.') {
            let task = small_number(t)?;
            let item = small_number(m)?;
            return Some(TaskRef {
                task,
                item: Some(item),
            });
        }
        Some(TaskRef {
            task: small_number(w)?,
            item: None,
        })
    }
}

/// One thing a task tracks: a numeric metric or a qualitative milestone.
#[derive(Debug, Clone, Copy)]
pub enum Item<'k> {
    Metric(&'k Metric),
    Milestone(&'k Milestone),
}

impl<'k> Item<'k> {
    pub fn number(&self) -> u32 {
        match self {
            Item::Metric(m) => m.number,
            Item::Milestone(m) => m.number,
        }
    }

    pub fn name(&self, lang: Lang) -> &'k str {
        match self {
            Item::Metric(m) => m.name.get(lang),
            Item::Milestone(m) => m.name.get(lang),
        }
    }

    fn keywords(&self) -> &'k [String] {
        match self {
            Item::Metric(m) => &m.keywords,
            Item::Milestone(m) => &m.keywords,
        }
    }
}

/// The recorded state of item `number` of `task`, if it was ever updated.
fn state_of(
    states: &[crate::store::MetricState],
    task: u32,
    number: u32,
) -> Option<&crate::store::MetricState> {
    states.iter().find(|s| s.task == task && s.number == number)
}

pub fn items(task: &Task) -> impl Iterator<Item = Item<'_>> {
    task.metrics
        .iter()
        .map(Item::Metric)
        .chain(task.milestones.iter().map(Item::Milestone))
}

pub fn item(task: &Task, number: u32) -> Option<Item<'_>> {
    items(task).find(|i| i.number() == number)
}

/// Items of `task` that the words `selector` name: every word must appear in the item's name
/// or keywords (or a keyword in the word). Folded, so width, case and script do not matter.
pub fn select_items<'k>(task: &'k Task, selector: &str) -> Vec<Item<'k>> {
    let words: Vec<String> = selector.split_whitespace().map(fold).collect();
    if words.is_empty() {
        return items(task).collect();
    }
    items(task)
        .filter(|item| {
            let names = [fold(item.name(Lang::Zh)), fold(item.name(Lang::En))];
            let keywords: Vec<String> = item.keywords().iter().map(|k| fold(k)).collect();
            words.iter().all(|w| {
                names.iter().any(|n| n.contains(w.as_str()))
                    || keywords
                        .iter()
                        .any(|k| k == w || k.contains(w.as_str()) || w.contains(k.as_str()))
            })
        })
        .collect()
}

/// The items of `task` a question names by their own words — a keyword or the item's name
/// that is not also the task's ("虎溪河缓冲带多长" names 19.7 alone) — in order. Empty when
/// it names none of them, or all: then the question is about the whole task.
pub fn items_asked(task: &Task, question: &str) -> Vec<u32> {
    let question = fold(question);
    let title = format!("{} {}", fold(&task.title.zh), fold(&task.title.en));
    // Words of one letter or character name nothing on their own.
    let names = |word: &String| word.chars().count() >= 2 && question.contains(word.as_str());
    let asked: Vec<u32> = items(task)
        .filter(|item| {
            let own = [fold(item.name(Lang::Zh)), fold(item.name(Lang::En))];
            own.iter().any(names)
                || item
                    .keywords()
                    .iter()
                    .map(|k| fold(k))
                    .any(|k| names(&k) && !title.contains(k.as_str()))
        })
        .map(|item| item.number())
        .collect();
    if asked.len() == items(task).count() {
        Vec::new()
    } else {
        asked
    }
}

/// Finds a task by name words (`供水`, `huxi river`): tasks whose title or keywords contain
/// every word. The caller falls back to the matcher when this finds none.
pub fn tasks_named<'k>(knowledge: &'k Knowledge, name: &str) -> Vec<&'k Task> {
    let words: Vec<String> = name.split_whitespace().map(fold).collect();
    if words.is_empty() {
        return Vec::new();
    }
    knowledge
        .tasks
        .iter()
        .filter(|task| {
            let entry = knowledge.entry(&task.id);
            let mut hay = vec![fold(&task.title.zh), fold(&task.title.en)];
            if let Some(e) = entry {
                hay.extend(e.keywords_zh.iter().chain(&e.keywords_en).map(|k| fold(k)));
            }
            words
                .iter()
                .all(|w| hay.iter().any(|h| h.contains(w.as_str())))
        })
        .collect()
}

// ---- stages ---------------------------------------------------------------------------------

/// Reads a stage word at the start of `text`; returns it and the rest.
pub fn parse_stage(text: &str) -> Option<(Stage, &str)> {
    const WORDS: &[(&str, Stage)] = &[
        ("未开始", Stage::NotStarted),
        ("尚未开始", Stage::NotStarted),
        ("not started", Stage::NotStarted),
        ("not_started", Stage::NotStarted),
        ("进行中", Stage::InProgress),
        ("推进中", Stage::InProgress),
        ("实施中", Stage::InProgress),
        ("in progress", Stage::InProgress),
        ("in_progress", Stage::InProgress),
        ("ongoing", Stage::InProgress),
        ("已完成", Stage::Done),
        ("完成", Stage::Done),
        ("已完工", Stage::Done),
        ("done", Stage::Done),
        ("completed", Stage::Done),
        ("complete", Stage::Done),
        // Traditional spellings: the rest of the text is not folded, to keep the note as typed.
        ("未開始", Stage::NotStarted),
        ("進行中", Stage::InProgress),
    ];
    let t = text.trim_start();
    WORDS.iter().find_map(|(word, stage)| {
        let head = t.get(..word.len())?;
        if !head.eq_ignore_ascii_case(word) {
            return None;
        }
        let rest = &t[word.len()..];
        // An English word must end there: `done` but not `doneness`.
        let whole = !word.is_ascii() || rest.chars().next().is_none_or(|c| !c.is_alphanumeric());
        whole.then_some((*stage, rest))
    })
}

pub fn stage_name(stage: Stage, lang: Lang) -> &'static str {
    match (stage, lang) {
        (Stage::NotStarted, Lang::Zh) => "未开始",
        (Stage::InProgress, Lang::Zh) => "进行中",
        (Stage::Done, Lang::Zh) => "已完成",
        (Stage::NotStarted, Lang::En) => "not started",
        (Stage::InProgress, Lang::En) => "in progress",
        (Stage::Done, Lang::En) => "done",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_refs() {
        let t = |s| TaskRef::parse(s).map(|r| (r.task, r.item));
        assert_eq!(t("14"), Some((14, None)));
        assert_eq!(t("14号"), Some((14, None)));
        assert_eq!(t("第十四项"), Some((14, None)));
        assert_eq!(t("第二十项"), Some((20, None)));
        assert_eq!(t("19.9"), Some((19, Some(9))));
        assert_eq!(t("１４"), Some((14, None)));
        assert_eq!(t("#3"), Some((3, None)));
        assert_eq!(t("供水"), None);
        assert_eq!(t("0"), None);
        assert_eq!(t(""), None);
    }

    #[test]
    fn stages() {
        assert_eq!(
            parse_stage("已完成 验收通过"),
            Some((Stage::Done, " 验收通过"))
        );
        assert_eq!(parse_stage("In progress"), Some((Stage::InProgress, "")));
        assert_eq!(parse_stage("doneness"), None);
    }
}
