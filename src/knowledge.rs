//! The knowledge base: `faq/*.toml` loaded into validated, typed entries, tasks and word lists.
//!
//! Loading never half-succeeds: any mistake is reported as a [`KnowledgeError`] naming the
//! file, the entry and the field, so a policy officer editing the TOML can fix it alone.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::units::{Dimension, Unit};

/// Text in both languages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bilingual {
    pub zh: String,
    pub en: String,
}

impl Bilingual {
    pub fn get(&self, lang: crate::Lang) -> &str {
        match lang {
            crate::Lang::Zh => &self.zh,
            crate::Lang::En => &self.en,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// Background, drafting and other explanatory text.
    Info,
    /// One of the policy questions and answers.
    Policy,
    /// One of the numbered tasks; progress can be asked of it.
    Task,
}

/// Something the bot can answer: a policy text or a task.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub kind: EntryKind,
    pub title: Bilingual,
    /// The official text (verbatim in Chinese) shown as the answer.
    pub answer: Bilingual,
    /// The entry on the same topic with the other intent (policy ↔ task).
    pub related: Option<String>,
    pub questions_zh: Vec<String>,
    pub questions_en: Vec<String>,
    pub keywords_zh: Vec<String>,
    pub keywords_en: Vec<String>,
    /// For task entries: the task's number.
    pub task: Option<u32>,
}

/// What a figure measures, which decides what "reached" means and how far along a reading is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Work done so far, counted from zero towards the target (km renovated, sites built).
    Cumulative,
    /// A level to reach (每千人口托位数达到3.9个): a reading is where things stand, not a share
    /// of work done.
    Level,
    /// A share or rate in percent (占比, 知晓率): a level between 0 and 100.
    Share,
    /// Done again every cycle (每学年至少开展1次): a count that starts afresh each cycle.
    Recurring,
}

/// How a target is qualified in the official text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    /// 以上, 不少于, 至少, 余, 达到: the target or more.
    AtLeast,
    /// 约: about the target.
    About,
    /// A plain figure: reach it.
    Exactly,
    /// 不超过, 以下: the target or less.
    AtMost,
}

/// The cycle of a recurring metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cycle {
    /// The calendar year.
    Year,
    /// The school year, from 1 September.
    SchoolYear,
}

/// A numeric target of a task.
#[derive(Debug, Clone)]
pub struct Metric {
    /// Stable id, unique in the base (`t19-buffer-length`): what a metric is, whatever its
    /// position.
    pub id: String,
    /// 1-based position within the task, as officers address it (`/update 19.9 3.2km`).
    pub number: u32,
    pub name: Bilingual,
    pub kind: MetricKind,
    pub comparator: Comparator,
    pub target: f64,
    pub unit: Unit,
    /// For a part of a total (底质改良 within 水生态系统构建): the total's number in the task.
    /// Parts are shown under their total and never counted beside it.
    pub part_of: Option<u32>,
    /// For [`MetricKind::Recurring`]: how often it starts afresh.
    pub every: Option<Cycle>,
    pub keywords: Vec<String>,
    /// `retired = true` in faq/: kept in history and on the page, refuses updates, and may
    /// carry recorded progress that the catalogue no longer tracks.
    pub retired: bool,
}

/// What a goal without a figure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoalKind {
    /// Something that gets done once (成立领导小组): not started, in progress, done.
    Milestone,
    /// Work that goes on (持续开展…, 加快推进…): active or not, never "done".
    Ongoing,
    /// A result to be judged (…得到明显改观): an officer's assessment.
    Outcome,
}

/// A qualitative goal of a task, tracked by stage rather than by number.
#[derive(Debug, Clone)]
pub struct Milestone {
    /// Stable id, unique in the base.
    pub id: String,
    /// 1-based, numbered after the task's metrics.
    pub number: u32,
    pub name: Bilingual,
    pub kind: GoalKind,
    pub keywords: Vec<String>,
    /// `retired = true` in faq/: kept in history and on the page, refuses updates.
    pub retired: bool,
}

/// The period a list reports on: its year, and the dates "behind" is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub year: i32,
    pub start: chrono::NaiveDate,
    /// The last day of the period (inclusive).
    pub end: chrono::NaiveDate,
    /// The last day officers may record progress (inclusive), when `tasks.toml` says
    /// (`updates_until`). See [`Lists::closed_since`].
    pub updates_until: Option<chrono::NaiveDate>,
}

/// Days after a list's period during which its final figures may still be recorded once a
/// later list has taken over, when `tasks.toml` gives no `updates_until`.
pub const DEFAULT_GRACE_DAYS: u64 = 31;

#[derive(Debug, Clone)]
pub struct Task {
    pub number: u32,
    pub id: String,
    pub title: Bilingual,
    pub text: Bilingual,
    pub metrics: Vec<Metric>,
    pub milestones: Vec<Milestone>,
}

/// A group of words that mean the same; the first is canonical.
#[derive(Debug, Clone)]
pub struct SynonymGroup {
    pub terms: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    pub synonyms: Vec<SynonymGroup>,
    pub fillers_zh: Vec<String>,
    pub fillers_en: Vec<String>,
    /// Cues that a question asks what something is, why, or how it works.
    pub intent_definition: Vec<String>,
    /// Cues that a question asks about a target or how far along a task is.
    pub intent_progress: Vec<String>,
    /// Cues that a question asks for a number; weaker than the other two.
    pub intent_quantity: Vec<String>,
    /// Cues that a question asks how to do something with the administration (apply, sign
    /// up, where, when open): the official texts never say, so such a question is not
    /// answered outright, only offered the nearest topics.
    pub intent_procedure: Vec<String>,
    /// English words matched as typed, because their stem is another topic's word.
    pub unstemmed: Vec<String>,
    /// The list as a whole (`[list]`): a question made only of these words asks about the
    /// list itself, and is answered with `list_entry` followed by every task's progress.
    pub list: ListCue,
    /// Official terms with the everyday and broader words residents use for them
    /// (`[[concept]]`): each word is read as the term.
    pub concepts: Vec<Concept>,
}

/// An official term and what residents call it (水管子 → 供水管网, scales → 计量器具).
#[derive(Debug, Clone, Default)]
pub struct Concept {
    /// As an official text writes it.
    pub term: String,
    /// Everyday names and broader words, Chinese then English.
    pub names: Vec<String>,
}

/// A question about the list as a whole ("今年有哪些民生实事", "what are the 20 projects").
#[derive(Debug, Clone, Default)]
pub struct ListCue {
    /// The entry that introduces the list (it counts the tasks).
    pub entry: Option<String>,
    /// Words naming the list or its items; a question must use at least one.
    pub topic: Vec<String>,
    /// Other words such a question may use (一共, 全部, 20, in total).
    pub words: Vec<String>,
}

/// The whole validated knowledge base.
#[derive(Debug, Clone)]
pub struct Knowledge {
    pub entries: Vec<Entry>,
    pub tasks: Vec<Task>,
    pub lexicon: Lexicon,
    pub period: Period,
    /// Each task's responsible unit and public contact, by task number, where faq/ gives them.
    pub contacts: std::collections::BTreeMap<u32, Contact>,
}

/// Who answers for a task and how the public reaches them, exactly as an editor entered them
/// in `faq/tasks.toml` (`unit_zh`, `unit_en`, `contact`): never made up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub unit_zh: String,
    pub unit_en: String,
    pub contact: String,
}

/// A mistake in `faq/`, located as precisely as the data allows.
#[derive(Debug, Clone, PartialEq)]
pub struct KnowledgeError {
    pub file: PathBuf,
    pub entry: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for KnowledgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(entry) = &self.entry {
            write!(f, ", entry `{entry}`")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for KnowledgeError {}

// ---- the TOML shape ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    entry: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: Option<String>,
    title_zh: Option<String>,
    title_en: Option<String>,
    answer_zh: Option<String>,
    answer_en: Option<String>,
    related: Option<String>,
    #[serde(default)]
    questions_zh: Vec<String>,
    #[serde(default)]
    questions_en: Vec<String>,
    #[serde(default)]
    keywords_zh: Vec<String>,
    #[serde(default)]
    keywords_en: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TasksFile {
    year: Option<i64>,
    period_start: Option<String>,
    period_end: Option<String>,
    updates_until: Option<String>,
    #[serde(default)]
    task: Vec<RawTask>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    id: Option<String>,
    number: Option<i64>,
    title_zh: Option<String>,
    title_en: Option<String>,
    text_zh: Option<String>,
    text_en: Option<String>,
    related: Option<String>,
    #[serde(default)]
    questions_zh: Vec<String>,
    #[serde(default)]
    questions_en: Vec<String>,
    #[serde(default)]
    keywords_zh: Vec<String>,
    #[serde(default)]
    keywords_en: Vec<String>,
    #[serde(default)]
    metric: Vec<RawMetric>,
    #[serde(default)]
    milestone: Vec<RawMilestone>,
    /// The responsible unit and its public contact, only as an editor enters them.
    unit_zh: Option<String>,
    unit_en: Option<String>,
    contact: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    id: Option<String>,
    name_zh: Option<String>,
    name_en: Option<String>,
    kind: Option<String>,
    comparator: Option<String>,
    target: Option<f64>,
    unit: Option<String>,
    part_of: Option<String>,
    every: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    /// Kept in history and on the page, no longer updated.
    #[serde(default)]
    retired: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMilestone {
    id: Option<String>,
    name_zh: Option<String>,
    name_en: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    retired: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SynonymsFile {
    #[serde(default)]
    group: Vec<RawGroup>,
    #[serde(default)]
    fillers: RawFillers,
    #[serde(default)]
    intent: RawIntent,
    #[serde(default)]
    words: RawWords,
    #[serde(default)]
    list: RawList,
    #[serde(default)]
    concept: Vec<RawConcept>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConcept {
    #[serde(default)]
    term: String,
    #[serde(default)]
    names_zh: Vec<String>,
    #[serde(default)]
    names_en: Vec<String>,
    #[serde(default)]
    broader_zh: Vec<String>,
    #[serde(default)]
    broader_en: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawList {
    entry: Option<String>,
    #[serde(default)]
    topic: Vec<String>,
    #[serde(default)]
    words: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWords {
    #[serde(default)]
    unstemmed: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    terms: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFillers {
    #[serde(default)]
    zh: Vec<String>,
    #[serde(default)]
    en: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawIntent {
    #[serde(default)]
    definition: Vec<String>,
    #[serde(default)]
    progress: Vec<String>,
    #[serde(default)]
    quantity: Vec<String>,
    #[serde(default)]
    procedure: Vec<String>,
}

pub const POLICY_FILE: &str = "policy.toml";
pub const TASKS_FILE: &str = "tasks.toml";
pub const SYNONYMS_FILE: &str = "synonyms.toml";

/// The sources of a knowledge base: each file's name (for messages) and its text.
pub struct Sources<'a> {
    pub dir: &'a Path,
    pub policy: &'a str,
    /// The list's file name in `dir` (`tasks.toml`, `tasks-2025.toml`), for messages.
    pub tasks_file: &'a str,
    pub tasks: &'a str,
    pub synonyms: &'a str,
}

impl Knowledge {
    /// Loads and validates `dir/policy.toml`, `dir/tasks.toml` and `dir/synonyms.toml`.
    pub fn load_dir(dir: &Path) -> Result<Knowledge, KnowledgeError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|e| KnowledgeError {
                file: path,
                entry: None,
                field: None,
                message: format!("cannot read the file: {e}"),
            })
        };
        let (policy, tasks, synonyms) =
            (read(POLICY_FILE)?, read(TASKS_FILE)?, read(SYNONYMS_FILE)?);
        Knowledge::from_sources(&Sources {
            dir,
            policy: &policy,
            tasks_file: TASKS_FILE,
            tasks: &tasks,
            synonyms: &synonyms,
        })
    }

    /// Parses and validates the three files' texts.
    pub fn from_sources(src: &Sources<'_>) -> Result<Knowledge, KnowledgeError> {
        let policy_path = src.dir.join(POLICY_FILE);
        let tasks_path = src.dir.join(src.tasks_file);
        let synonyms_path = src.dir.join(SYNONYMS_FILE);

        let policy: PolicyFile = parse_toml(&policy_path, src.policy)?;
        let tasks: TasksFile = parse_toml(&tasks_path, src.tasks)?;
        let synonyms: SynonymsFile = parse_toml(&synonyms_path, src.synonyms)?;

        let mut entries = Vec::new();
        let mut seen = HashSet::new();

        for (i, raw) in policy.entry.into_iter().enumerate() {
            let at = Locator::new(&policy_path, raw.id.clone(), i, "entry");
            let id = at.id(raw.id.as_deref())?;
            if !seen.insert(id.clone()) {
                return Err(at.err("id", format!("duplicate id `{id}`")));
            }
            let kind = if id.starts_with("qa") {
                EntryKind::Policy
            } else {
                EntryKind::Info
            };
            entries.push(Entry {
                kind,
                title: at.bilingual("title", raw.title_zh, raw.title_en)?,
                answer: at.bilingual("answer", raw.answer_zh, raw.answer_en)?,
                related: raw.related,
                questions_zh: at.list("questions_zh", raw.questions_zh)?,
                questions_en: at.list("questions_en", raw.questions_en)?,
                keywords_zh: at.list("keywords_zh", raw.keywords_zh)?,
                keywords_en: at.list("keywords_en", raw.keywords_en)?,
                task: None,
                id,
            });
        }

        let period = read_period(&tasks_path, &tasks)?;
        let mut task_list = Vec::new();
        let mut contacts = std::collections::BTreeMap::new();
        let mut numbers = HashSet::new();
        let mut item_ids = HashSet::new();
        for (i, raw) in tasks.task.into_iter().enumerate() {
            let at = Locator::new(&tasks_path, raw.id.clone(), i, "task");
            let id = at.id(raw.id.as_deref())?;
            if !seen.insert(id.clone()) {
                return Err(at.err("id", format!("duplicate id `{id}`")));
            }
            let number = match raw.number {
                Some(n) if (1..=9999).contains(&n) => n as u32,
                Some(n) => return Err(at.err("number", format!("must be 1 or more, not {n}"))),
                None => return Err(at.err("number", "missing: every task needs its number")),
            };
            if !numbers.insert(number) {
                return Err(at.err("number", format!("duplicate task number {number}")));
            }
            let title = at.bilingual("title", raw.title_zh, raw.title_en)?;
            let text = at.bilingual("text", raw.text_zh, raw.text_en)?;

            let mut metrics = Vec::new();
            let mut parts = Vec::new();
            for (m, rm) in raw.metric.into_iter().enumerate() {
                let field = |f: &str| format!("metric[{}].{f}", m + 1);
                let item_id = at.item_id(&field("id"), rm.id.as_deref(), &mut item_ids)?;
                let name = at.bilingual(&field("name"), rm.name_zh, rm.name_en)?;
                let kind = match rm.kind.as_deref().map(str::trim) {
                    Some("cumulative") => MetricKind::Cumulative,
                    Some("level") => MetricKind::Level,
                    Some("share") => MetricKind::Share,
                    Some("recurring") => MetricKind::Recurring,
                    Some(other) => {
                        return Err(at.err(
                            &field("kind"),
                            format!(
                                "unknown kind `{other}` for a metric (cumulative, level, share or recurring; goals without a figure are [[task.milestone]])"
                            ),
                        ));
                    }
                    None => {
                        return Err(at.err(
                            &field("kind"),
                            "missing: cumulative, level, share or recurring",
                        ));
                    }
                };
                let comparator = match rm.comparator.as_deref().map(str::trim) {
                    Some("at_least") => Comparator::AtLeast,
                    Some("about") => Comparator::About,
                    Some("exactly") => Comparator::Exactly,
                    Some("at_most") => Comparator::AtMost,
                    Some(other) => {
                        return Err(at.err(
                            &field("comparator"),
                            format!(
                                "unknown comparator `{other}` (at_least, about, exactly or at_most)"
                            ),
                        ));
                    }
                    None => {
                        return Err(at.err(
                            &field("comparator"),
                            "missing: at_least (以上/不少于/达到), about (约), exactly or at_most",
                        ));
                    }
                };
                let every = match (kind, rm.every.as_deref().map(str::trim)) {
                    (MetricKind::Recurring, Some("year")) => Some(Cycle::Year),
                    (MetricKind::Recurring, Some("school_year")) => Some(Cycle::SchoolYear),
                    (MetricKind::Recurring, Some(other)) => {
                        return Err(at.err(
                            &field("every"),
                            format!("unknown cycle `{other}` (year or school_year)"),
                        ));
                    }
                    (MetricKind::Recurring, None) => {
                        return Err(at.err(
                            &field("every"),
                            "missing: a recurring metric says how often (year or school_year)",
                        ));
                    }
                    (_, Some(_)) => {
                        return Err(at.err(&field("every"), "only a recurring metric has a cycle"));
                    }
                    (_, None) => None,
                };
                let unit = match rm.unit.as_deref().map(str::trim) {
                    None | Some("") => {
                        return Err(at.err(&field("unit"), "missing: a target needs a unit"));
                    }
                    Some(u) => Unit::parse(u).ok_or_else(|| {
                        let known: Vec<_> = Unit::known_spellings().collect();
                        at.err(
                            &field("unit"),
                            format!("unknown unit `{u}` (known: {})", known.join(" ")),
                        )
                    })?,
                };
                let target = match rm.target {
                    Some(t) if t.is_finite() && t > 0.0 => t,
                    Some(t) => {
                        return Err(at.err(
                            &field("target"),
                            format!("must be a positive number, not {t}"),
                        ));
                    }
                    None => return Err(at.err(&field("target"), "missing")),
                };
                if kind == MetricKind::Share
                    && (unit.dimension != Dimension::Percent || target > 100.0)
                {
                    return Err(at.err(&field("unit"), "a share is in % and at most 100"));
                }
                if let Some(total) = rm.part_of.as_deref().map(str::trim) {
                    parts.push((m, total.to_string()));
                }
                metrics.push(Metric {
                    id: item_id,
                    number: m as u32 + 1,
                    name,
                    kind,
                    comparator,
                    target,
                    unit,
                    part_of: None,
                    every,
                    keywords: at.list(&field("keywords"), rm.keywords)?,
                    retired: rm.retired,
                });
            }
            // A part names its total by id: a metric of the same task and dimension that is
            // not itself a part, so the same work is never counted twice.
            for (m, total) in parts {
                let field = format!("metric[{}].part_of", m + 1);
                let Some(t) = metrics.iter().position(|x| x.id == total) else {
                    return Err(at.err(
                        &field,
                        format!("no metric of this task has the id `{total}`"),
                    ));
                };
                if t == m {
                    return Err(at.err(&field, "a metric cannot be part of itself"));
                }
                if !metrics[m].unit.fits(metrics[t].unit) {
                    return Err(at.err(
                        &field,
                        format!(
                            "`{total}` is measured in {}, not {}",
                            metrics[t].unit, metrics[m].unit
                        ),
                    ));
                }
                metrics[m].part_of = Some(metrics[t].number);
            }
            for m in &metrics {
                if let Some(total) = m.part_of
                    && metrics
                        .iter()
                        .any(|x| x.number == total && x.part_of.is_some())
                {
                    return Err(at.err(
                        &format!("metric[{}].part_of", m.number),
                        "its total is itself a part: name the outermost total",
                    ));
                }
            }
            let mut milestones = Vec::new();
            for (k, rm) in raw.milestone.into_iter().enumerate() {
                let field = |f: &str| format!("milestone[{}].{f}", k + 1);
                let item_id = at.item_id(&field("id"), rm.id.as_deref(), &mut item_ids)?;
                let kind = match rm.kind.as_deref().map(str::trim) {
                    Some("milestone") => GoalKind::Milestone,
                    Some("ongoing") => GoalKind::Ongoing,
                    Some("outcome") => GoalKind::Outcome,
                    Some(other) => {
                        return Err(at.err(
                            &field("kind"),
                            format!(
                                "unknown kind `{other}` for a goal (milestone, ongoing or outcome; figures are [[task.metric]])"
                            ),
                        ));
                    }
                    None => {
                        return Err(
                            at.err(&field("kind"), "missing: milestone, ongoing or outcome")
                        );
                    }
                };
                milestones.push(Milestone {
                    id: item_id,
                    number: (metrics.len() + k) as u32 + 1,
                    name: at.bilingual(&field("name"), rm.name_zh, rm.name_en)?,
                    kind,
                    keywords: at.list(&field("keywords"), rm.keywords)?,
                    retired: rm.retired,
                });
            }
            if metrics.is_empty() && milestones.is_empty() {
                return Err(at.err(
                    "metric",
                    "a task needs at least one [[task.metric]] or [[task.milestone]]",
                ));
            }

            entries.push(Entry {
                id: id.clone(),
                kind: EntryKind::Task,
                title: title.clone(),
                answer: text.clone(),
                related: raw.related,
                questions_zh: at.list("questions_zh", raw.questions_zh)?,
                questions_en: at.list("questions_en", raw.questions_en)?,
                keywords_zh: at.list("keywords_zh", raw.keywords_zh)?,
                keywords_en: at.list("keywords_en", raw.keywords_en)?,
                task: Some(number),
            });
            let given =
                |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
            match (given(raw.unit_zh), given(raw.unit_en), given(raw.contact)) {
                (Some(unit_zh), Some(unit_en), Some(contact)) => {
                    contacts.insert(
                        number,
                        Contact {
                            unit_zh,
                            unit_en,
                            contact,
                        },
                    );
                }
                (None, None, None) => {}
                (zh, en, contact) => {
                    let missing = if zh.is_none() {
                        "unit_zh"
                    } else if en.is_none() {
                        "unit_en"
                    } else {
                        "contact"
                    };
                    let _ = contact;
                    return Err(at.err(
                        missing,
                        "a task's unit_zh, unit_en and contact are given together or not at all",
                    ));
                }
            }
            task_list.push(Task {
                number,
                id,
                title,
                text,
                metrics,
                milestones,
            });
        }
        task_list.sort_by_key(|t| t.number);

        // `related` must point at an entry that exists, in either file.
        for e in &entries {
            if let Some(r) = &e.related
                && !seen.contains(r)
            {
                let file = if e.kind == EntryKind::Task {
                    &tasks_path
                } else {
                    &policy_path
                };
                return Err(KnowledgeError {
                    file: file.clone(),
                    entry: Some(e.id.clone()),
                    field: Some("related".into()),
                    message: format!("no entry has the id `{r}`"),
                });
            }
        }

        let mut groups = Vec::new();
        for (i, g) in synonyms.group.into_iter().enumerate() {
            let at = Locator::new(&synonyms_path, None, i, "group");
            let terms = at.list("terms", g.terms)?;
            if terms.len() < 2 {
                return Err(at.err("terms", "a synonym group needs at least two terms"));
            }
            groups.push(SynonymGroup { terms });
        }
        let at = Locator::new(&synonyms_path, Some("fillers".into()), 0, "fillers");
        let fillers_zh = at.list("zh", synonyms.fillers.zh)?;
        let fillers_en = at.list("en", synonyms.fillers.en)?;
        let at = Locator::new(&synonyms_path, Some("intent".into()), 0, "intent");
        let intent_definition = at.list("definition", synonyms.intent.definition)?;
        let intent_progress = at.list("progress", synonyms.intent.progress)?;
        let intent_quantity = at.list("quantity", synonyms.intent.quantity)?;
        let intent_procedure = at.list("procedure", synonyms.intent.procedure)?;
        // A cue in two lists would mean two things; which one won would depend on load order.
        let cue_lists = [
            ("definition", &intent_definition),
            ("progress", &intent_progress),
            ("quantity", &intent_quantity),
            ("procedure", &intent_procedure),
        ];
        let mut seen: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
        for (field, list) in cue_lists {
            for cue in list.iter() {
                if let Some(other) = seen.insert(cue.as_str(), field)
                    && other != field
                {
                    return Err(at.err(
                        field,
                        format!("`{cue}` is also listed under `{other}`; keep it in one list"),
                    ));
                }
            }
        }
        let at = Locator::new(&synonyms_path, Some("words".into()), 0, "words");
        let unstemmed = at.list("unstemmed", synonyms.words.unstemmed)?;
        let at = Locator::new(&synonyms_path, Some("list".into()), 0, "list");
        let list = ListCue {
            topic: at.list("topic", synonyms.list.topic)?,
            words: at.list("words", synonyms.list.words)?,
            entry: match synonyms.list.entry {
                Some(id) if !entries.iter().any(|e| e.id == id) => {
                    return Err(at.err("entry", format!("no entry has the id `{id}`")));
                }
                other => other,
            },
        };
        if list.entry.is_some() && list.topic.is_empty() {
            return Err(at.err("topic", "an entry for the list needs topic words"));
        }
        let mut concepts: Vec<Concept> = Vec::new();
        let mut named: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        for (i, c) in synonyms.concept.into_iter().enumerate() {
            let term = c.term.trim().to_string();
            let at = Locator::new(&synonyms_path, Some(term.clone()), i, "concept");
            if term.is_empty() {
                return Err(at.err("term", "empty text"));
            }
            // An official term is one the official texts use.
            if !entries
                .iter()
                .any(|e| e.answer.zh.contains(&term) || e.title.zh.contains(&term))
            {
                return Err(at.err("term", format!("`{term}` is in no official text")));
            }
            let mut names = Vec::new();
            for (field, list) in [
                ("names_zh", c.names_zh),
                ("names_en", c.names_en),
                ("broader_zh", c.broader_zh),
                ("broader_en", c.broader_en),
            ] {
                for name in at.list(field, list)? {
                    if name == term {
                        return Err(at.err(field, format!("`{name}` is the term itself")));
                    }
                    if let Some(other) = named.insert(name.clone(), term.clone())
                        && other != term
                    {
                        return Err(at.err(
                            field,
                            format!("`{name}` is also a name of `{other}`; keep it in one concept"),
                        ));
                    }
                    names.push(name);
                }
            }
            if names.is_empty() {
                return Err(at.err("names_zh", "a concept needs at least one name"));
            }
            concepts.push(Concept { term, names });
        }

        Ok(Knowledge {
            entries,
            tasks: task_list,
            lexicon: Lexicon {
                synonyms: groups,
                fillers_zh,
                fillers_en,
                intent_definition,
                intent_progress,
                intent_quantity,
                intent_procedure,
                unstemmed,
                list,
                concepts,
            },
            period,
            contacts,
        })
    }

    /// The responsible unit and public contact of task `number`, if faq/ gives them.
    pub fn contact(&self, number: u32) -> Option<&Contact> {
        self.contacts.get(&number)
    }

    /// The tasks whose responsible unit and contact faq/ does not give yet.
    pub fn tasks_without_contact(&self) -> Vec<u32> {
        self.tasks
            .iter()
            .map(|t| t.number)
            .filter(|n| !self.contacts.contains_key(n))
            .collect()
    }

    /// Every metric and milestone id, with its task: what the store's records are about.
    pub fn item_ids(&self) -> impl Iterator<Item = (&Task, &str)> {
        self.tasks.iter().flat_map(|t| {
            t.metrics
                .iter()
                .map(move |m| (t, m.id.as_str()))
                .chain(t.milestones.iter().map(move |m| (t, m.id.as_str())))
        })
    }

    pub fn entry(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }

    pub fn task(&self, number: u32) -> Option<&Task> {
        self.tasks.iter().find(|t| t.number == number)
    }

    pub fn task_by_id(&self, id: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.id == id)
    }
}

/// The list's year and reporting period from the top of `tasks.toml`.
fn read_period(path: &Path, file: &TasksFile) -> Result<Period, KnowledgeError> {
    let err = |field: &str, message: String| KnowledgeError {
        file: path.to_path_buf(),
        entry: None,
        field: Some(field.to_string()),
        message,
    };
    let year = match file.year {
        Some(y) if (2000..=2100).contains(&y) => y as i32,
        Some(y) => return Err(err("year", format!("`{y}` is not a plausible year"))),
        None => {
            return Err(err(
                "year",
                "missing: the year of the list, e.g. year = 2024".into(),
            ));
        }
    };
    let date = |field: &str, value: &Option<String>| match value.as_deref().map(str::trim) {
        Some(v) => chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map_err(|_| err(field, format!("`{v}` is not a date written YYYY-MM-DD"))),
        None => Err(err(field, "missing: a date written \"YYYY-MM-DD\"".into())),
    };
    let start = date("period_start", &file.period_start)?;
    let end = date("period_end", &file.period_end)?;
    if end <= start {
        return Err(err("period_end", "must come after period_start".into()));
    }
    let updates_until = match &file.updates_until {
        Some(_) => Some(date("updates_until", &file.updates_until)?),
        None => None,
    };
    if updates_until.is_some_and(|u| u < end) {
        return Err(err(
            "updates_until",
            "must not come before period_end: the last figures are recorded after the period"
                .into(),
        ));
    }
    Ok(Period {
        year,
        start,
        end,
        updates_until,
    })
}

fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, KnowledgeError> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
        KnowledgeError {
            file: path.to_path_buf(),
            entry: None,
            field: None,
            message: match line {
                Some(l) => format!("line {l}: {}", e.message()),
                None => e.message().to_string(),
            },
        }
    })
}

/// Builds errors that point at one entry of one file.
struct Locator<'a> {
    file: &'a Path,
    entry: String,
}

impl<'a> Locator<'a> {
    fn new(file: &'a Path, id: Option<String>, index: usize, table: &str) -> Self {
        let entry = match id {
            Some(id) if !id.trim().is_empty() => id,
            _ => format!("[[{table}]] #{}", index + 1),
        };
        Locator { file, entry }
    }

    fn err(&self, field: &str, message: impl Into<String>) -> KnowledgeError {
        KnowledgeError {
            file: self.file.to_path_buf(),
            entry: Some(self.entry.clone()),
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    fn id(&self, id: Option<&str>) -> Result<String, KnowledgeError> {
        let id = id.map(str::trim).unwrap_or_default();
        if id.is_empty() {
            return Err(self.err("id", "missing: every entry needs an id"));
        }
        if !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            return Err(self.err(
                "id",
                format!("`{id}` may use only lower-case letters, digits, `_` and `-`"),
            ));
        }
        Ok(id.to_string())
    }

    /// A metric's or milestone's id: well formed and unique across the base.
    fn item_id(
        &self,
        field: &str,
        id: Option<&str>,
        seen: &mut HashSet<String>,
    ) -> Result<String, KnowledgeError> {
        let id = id.map(str::trim).unwrap_or_default();
        if id.is_empty() {
            return Err(self.err(
                field,
                "missing: every metric and milestone needs a stable id, e.g. `t14-water-pipes`",
            ));
        }
        if !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(self.err(
                field,
                format!("`{id}` may use only lower-case letters, digits and `-`"),
            ));
        }
        if !seen.insert(id.to_string()) {
            return Err(self.err(field, format!("duplicate id `{id}`")));
        }
        Ok(id.to_string())
    }

    fn bilingual(
        &self,
        field: &str,
        zh: Option<String>,
        en: Option<String>,
    ) -> Result<Bilingual, KnowledgeError> {
        let zh = self.text(&format!("{field}_zh"), zh, "the Chinese text")?;
        let en = self.text(&format!("{field}_en"), en, "the English text")?;
        Ok(Bilingual { zh, en })
    }

    fn text(&self, field: &str, v: Option<String>, what: &str) -> Result<String, KnowledgeError> {
        match v.map(|s| s.trim().to_string()) {
            Some(s) if !s.is_empty() => Ok(s),
            Some(_) => Err(self.err(field, format!("{what} is empty"))),
            None => Err(self.err(field, format!("missing: {what} is required"))),
        }
    }

    fn list(&self, field: &str, items: Vec<String>) -> Result<Vec<String>, KnowledgeError> {
        items
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let t = s.trim();
                if t.is_empty() {
                    Err(self.err(&format!("{field}[{}]", i + 1), "empty text"))
                } else {
                    Ok(t.to_string())
                }
            })
            .collect()
    }
}

/// The `faq/` files this binary was built with: file name and text.
mod builtin {
    include!(concat!(env!("OUT_DIR"), "/faq.rs"));
}

/// The text of a `faq/` file as built into the binary, if it was there at build time.
pub fn builtin_file(name: &str) -> Option<&'static str> {
    builtin::FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// Whether `name` is a list's file: `tasks.toml`, or `tasks-<anything>.toml` for further years.
fn is_list_file(name: &str) -> bool {
    name == TASKS_FILE || (name.starts_with("tasks-") && name.ends_with(".toml"))
}

/// Every list `faq/` holds (`tasks.toml`, and `tasks-2025.toml` … for other years), each seen
/// with the same policy entries and lexicon: one [`Knowledge`] per list, in year order.
/// Which list a message is about is decided by the clock ([`Lists::at`]) or by a year the
/// person names ([`Lists::year`]).
#[derive(Debug, Clone)]
pub struct Lists {
    lists: Vec<Arc<Knowledge>>,
    /// The position of `tasks.toml`'s list.
    main: usize,
}

impl From<Arc<Knowledge>> for Lists {
    fn from(knowledge: Arc<Knowledge>) -> Lists {
        Lists {
            lists: vec![knowledge],
            main: 0,
        }
    }
}

impl From<Knowledge> for Lists {
    fn from(knowledge: Knowledge) -> Lists {
        Lists::from(Arc::new(knowledge))
    }
}

impl Lists {
    /// Loads and validates every list in `dir` (an editor's copy of `faq/`, `FAQ_DIR`).
    pub fn load_dir(dir: &Path) -> Result<Lists, KnowledgeError> {
        let unreadable = |path: PathBuf, e: std::io::Error| KnowledgeError {
            file: path,
            entry: None,
            field: None,
            message: format!("cannot read: {e}"),
        };
        let mut files = Vec::new();
        let listing = std::fs::read_dir(dir).map_err(|e| unreadable(dir.to_path_buf(), e))?;
        for item in listing {
            let item = item.map_err(|e| unreadable(dir.to_path_buf(), e))?;
            let name = item.file_name().to_string_lossy().into_owned();
            if name.ends_with(".toml") {
                let text =
                    std::fs::read_to_string(item.path()).map_err(|e| unreadable(item.path(), e))?;
                files.push((name, text));
            }
        }
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        Lists::from_files(dir, &files)
    }

    /// The knowledge base built into this binary.
    pub fn builtin() -> Result<Lists, KnowledgeError> {
        Lists::from_files(Path::new("faq"), builtin::FILES)
    }

    /// Validates the lists among `files` (name, text), each with `policy.toml` and
    /// `synonyms.toml`; lists must have different years and periods that do not overlap, and
    /// an item id names one item in all of them (the store keys progress on it).
    pub fn from_files(dir: &Path, files: &[(&str, &str)]) -> Result<Lists, KnowledgeError> {
        let file = |name: &str| -> Result<&str, KnowledgeError> {
            files
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| *t)
                .ok_or_else(|| KnowledgeError {
                    file: dir.join(name),
                    entry: None,
                    field: None,
                    message: "cannot read the file: it is missing".into(),
                })
        };
        let (policy, synonyms) = (file(POLICY_FILE)?, file(SYNONYMS_FILE)?);
        file(TASKS_FILE)?;
        let mut names: Vec<&str> = files
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| is_list_file(n))
            .collect();
        names.sort_unstable();
        let mut lists = Vec::new();
        let mut main_year = None;
        for name in names {
            let knowledge = Knowledge::from_sources(&Sources {
                dir,
                policy,
                tasks_file: name,
                tasks: file(name)?,
                synonyms,
            })?;
            if name == TASKS_FILE {
                main_year = Some(knowledge.period.year);
            }
            lists.push((dir.join(name), knowledge));
        }
        let mut lists = Lists::named(lists)?;
        if let Some(main) = lists
            .lists
            .iter()
            .position(|k| Some(k.period.year) == main_year)
        {
            lists.main = main;
        }
        Ok(lists)
    }

    /// Lists validated together (each named by its file, for messages): different years,
    /// periods that do not overlap, and every item id in one list only. The newest is the
    /// main list.
    pub fn new(lists: Vec<Knowledge>) -> Result<Lists, KnowledgeError> {
        Lists::named(
            lists
                .into_iter()
                .map(|k| (PathBuf::from(format!("the {} list", k.period.year)), k))
                .collect(),
        )
    }

    fn named(mut lists: Vec<(PathBuf, Knowledge)>) -> Result<Lists, KnowledgeError> {
        let mut owner: HashMap<String, PathBuf> = HashMap::new();
        for (i, (path, knowledge)) in lists.iter().enumerate() {
            let err = |field: &str, message: String| KnowledgeError {
                file: path.clone(),
                entry: None,
                field: Some(field.into()),
                message,
            };
            for (task, id) in knowledge.item_ids() {
                if let Some(other) = owner.insert(id.to_string(), path.clone()) {
                    return Err(KnowledgeError {
                        file: path.clone(),
                        entry: Some(task.id.clone()),
                        field: Some("id".into()),
                        message: format!(
                            "item id `{id}` is also used in {}: every list's items need ids \
                             of their own (e.g. prefixed with the year)",
                            other.display()
                        ),
                    });
                }
            }
            for (other, k) in &lists[..i] {
                let (a, b) = (&k.period, &knowledge.period);
                if a.year == b.year {
                    return Err(err(
                        "year",
                        format!("{} is the list of {} too", other.display(), a.year),
                    ));
                }
                if a.start <= b.end && b.start <= a.end {
                    return Err(err(
                        "period_start",
                        format!(
                            "the period overlaps that of {} ({} to {})",
                            other.display(),
                            a.start,
                            a.end
                        ),
                    ));
                }
            }
        }
        if lists.is_empty() {
            return Err(KnowledgeError {
                file: PathBuf::from(TASKS_FILE),
                entry: None,
                field: None,
                message: "there is no list of tasks".into(),
            });
        }
        lists.sort_by_key(|(_, k)| k.period.start);
        let main = lists.len() - 1;
        Ok(Lists {
            lists: lists.into_iter().map(|(_, k)| Arc::new(k)).collect(),
            main,
        })
    }

    /// `tasks.toml`'s list: the one editors and the matcher's tests work on.
    pub fn main(&self) -> &Arc<Knowledge> {
        &self.lists[self.main]
    }

    /// The list a message on `today` is about: the one whose period holds the day; between
    /// or after periods the latest that has begun (its final figures may still come in);
    /// before any, the first.
    pub fn at(&self, today: chrono::NaiveDate) -> &Arc<Knowledge> {
        &self.lists[self.index_at(today)]
    }

    /// The position of [`Lists::at`]'s list in [`Lists::iter`].
    pub fn index_at(&self, today: chrono::NaiveDate) -> usize {
        self.lists
            .iter()
            .rposition(|k| k.period.start <= today)
            .unwrap_or(0)
    }

    /// The list holding the item `item_id` (ids are unique across lists).
    pub fn of_item(&self, item_id: &str) -> Option<&Arc<Knowledge>> {
        self.lists
            .iter()
            .find(|k| k.item_ids().any(|(_, id)| id == item_id))
    }

    /// The last day `list` took updates, if it is closed on `today`: after its `updates_until`
    /// day, or — without one — 31 days after its period once a later list exists. The latest
    /// list with no `updates_until` stays open: nothing has taken its place.
    pub fn closed_since(
        &self,
        list: &Knowledge,
        today: chrono::NaiveDate,
    ) -> Option<chrono::NaiveDate> {
        let p = &list.period;
        let superseded = self.lists.iter().any(|k| k.period.start > p.start);
        let until = p
            .updates_until
            .or_else(|| superseded.then(|| p.end + chrono::Days::new(DEFAULT_GRACE_DAYS)))?;
        (today > until).then_some(until)
    }

    /// The list of `year`, if faq/ holds one.
    pub fn year(&self, year: i32) -> Option<&Arc<Knowledge>> {
        self.lists.iter().find(|k| k.period.year == year)
    }

    /// Every list, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Knowledge>> {
        self.lists.iter()
    }

    /// The years of the lists, oldest first.
    pub fn years(&self) -> Vec<i32> {
        self.lists.iter().map(|k| k.period.year).collect()
    }
}
