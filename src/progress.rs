//! Progress of the 20 tasks: reading officers' `/update` arguments (task, metric, quantity with
//! unit, stage, note) and rendering live status. Pure functions over the task catalogue and the
//! store's [`MetricState`]s; the core decides who may do what and writes through the store.

use std::fmt;

use crate::Lang;
use crate::knowledge::{Knowledge, Metric, Milestone, Task};
use crate::matcher::normalize::fold;
use crate::matcher::ordinal::small_number;
use crate::store::Stage;
use crate::units::Unit;

pub mod model;
mod render;

pub use render::{
    bar, comparator_sign, fmt_number, fmt_pct, fmt_time, goal_stage, item_list, number_in,
    overview, percent, reading, render_status, status_label, summary, target_text, unit_name,
    updater_name, with_unit,
};

/// A value is refused when it exceeds its target this many times: a slip of units or digits.
pub const MAX_TARGET_FACTOR: f64 = 10.0;

/// A number as an officer typed it, with its unit if one was written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantity {
    pub value: f64,
    pub unit: Option<Unit>,
}

/// At most this many significant digits: every decimal number that short reads as a distinct
/// `f64` and prints back unchanged, so the stored value is exactly the number typed.
pub const MAX_SIGNIFICANT_DIGITS: usize = 15;

/// What is wrong with a number that is not in the one accepted form (`12.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberProblem {
    /// `1,5km`, `1,300个`: a decimal comma or a thousands separator; they cannot be told apart.
    Comma,
    /// `2_500m`, `2'500m`.
    Separator,
    /// `1e3km`.
    Exponent,
    /// `0x10km`.
    Hex,
    /// `.5km`.
    LeadingPoint,
    /// `5.km`.
    TrailingPoint,
    /// `12.5.3km`.
    SecondPoint,
    /// More than [`MAX_SIGNIFICANT_DIGITS`].
    TooManyDigits,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("not a number")]
    NotANumber,
    #[error("negative")]
    Negative,
    #[error("unknown unit `{0}`")]
    UnknownUnit(String),
    /// `example` is the accepted form of what was typed, where one can be told (`1300个`).
    #[error("malformed number ({problem:?}); write e.g. {example}")]
    Malformed {
        problem: NumberProblem,
        example: String,
    },
    /// Text right after the quantity, without a space (`12.5km西永`).
    #[error("`{rest}` is glued to `{quantity}`")]
    Glued { quantity: String, rest: String },
}

/// The accepted form, for messages where nothing better can be derived from the input.
pub const EXAMPLE_VALUE: &str = "12.5km";

impl Quantity {
    /// Parses `12.5km`, `12.5 公里`, `1.5万平方米`, `3万人次`, `35%`, `860`. Returns the
    /// quantity and the text after it, which is empty or begins with whitespace. Full-width
    /// forms are folded by the caller ([`parse_update`]).
    ///
    /// A value is one number (ASCII digits, at most one decimal point with digits on both
    /// sides, at most [`MAX_SIGNIFICANT_DIGITS`]) and an optional unit. Commas, separators,
    /// exponents, hex, stray points and text glued on are refused rather than read as some
    /// other number, and `NaN` or `inf` are not numbers, so a value is always finite.
    pub fn parse_prefix(text: &str) -> Result<(Quantity, &str), QuantityError> {
        let s = text.trim_start();
        let negative = s.starts_with(['-', '−', '－']);
        let body = if negative {
            s.trim_start_matches(['-', '−', '－'])
        } else {
            s.trim_start_matches('+')
        };
        let (value, rest) = read_number(body).map_err(|problem| match problem {
            Some(problem) => QuantityError::Malformed {
                problem,
                example: accepted_form(problem, body),
            },
            None => QuantityError::NotANumber,
        })?;
        if negative && value != 0.0 {
            return Err(QuantityError::Negative);
        }
        // A lone 万 multiplies (3万人次), unless it begins a unit of its own (万平方米).
        let after_space = rest.trim_start();
        let (value, after_wan) = match after_space.strip_prefix('万') {
            Some(tail) if unit_prefix(after_space).is_none() => (shift(value, 4), tail),
            _ => (value, rest),
        };
        let typed = |tail: &str| s[..s.len() - tail.len()].to_string();
        let glued = |tail: &str| QuantityError::Glued {
            quantity: typed(tail),
            rest: tail.to_string(),
        };
        if let Some((unit, tail)) = unit_prefix(after_wan.trim_start()) {
            // Only what follows after a space is a note: `12.5km西永` is refused, not split.
            if !tail.is_empty() && !tail.starts_with(char::is_whitespace) {
                return Err(glued(tail));
            }
            let unit = Some(unit);
            return Ok((Quantity { value, unit }, tail));
        }
        if after_wan.is_empty() || after_wan.starts_with(char::is_whitespace) {
            return Ok((Quantity { value, unit: None }, after_wan));
        }
        // Letters glued to the number are a unit we do not know (`5kg`, `5斤`); a longer
        // Chinese run is more likely a note missing its space.
        let word: String = after_wan
            .chars()
            .take_while(|c| c.is_alphabetic())
            .collect();
        if !word.is_empty() && (word.is_ascii() || word.chars().count() <= 2) {
            return Err(QuantityError::UnknownUnit(word.chars().take(8).collect()));
        }
        Err(glued(after_wan))
    }

    /// The whole of `text` as one quantity (nothing after it).
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let (q, rest) = Quantity::parse_prefix(text)?;
        if rest.trim().is_empty() {
            Ok(q)
        } else {
            Err(QuantityError::UnknownUnit(
                rest.trim().chars().take(8).collect(),
            ))
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.unit {
            Some(u) => write!(f, "{}{}", fmt_num(self.value), u.symbol),
            None => f.write_str(&fmt_num(self.value)),
        }
    }
}

/// The longest known unit at the start of `s`; an ASCII spelling must end its word, so
/// `12.5 m` is metres but `12 monitors` is a number followed by a note.
fn unit_prefix(s: &str) -> Option<(Unit, &str)> {
    let (unit, tail) = Unit::parse_prefix(s)?;
    let ascii = s[..s.len() - tail.len()].is_ascii();
    let ends_word = tail
        .chars()
        .next()
        .is_none_or(|c| !ascii || !c.is_ascii_alphanumeric());
    ends_word.then_some((unit, tail))
}

/// `value × 10^places`, by moving the decimal point rather than multiplying in binary.
fn shift(value: f64, places: i32) -> f64 {
    if places == 0 {
        return value;
    }
    // A finite f64 prints as the shortest decimal that reads back as itself; for numbers of
    // at most 15 significant digits that is the number as typed.
    format!("{value}e{places}")
        .parse()
        .unwrap_or(value * 10f64.powi(places))
}

/// Reads the number at the start of `s` (after any sign) in the one accepted form; returns
/// its value and the text after its digits, or what is wrong (`None`: no number at all).
fn read_number(s: &str) -> Result<(f64, &str), Option<NumberProblem>> {
    let digits_end = |t: &str| t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let int = &s[..digits_end(s)];
    let mut rest = &s[int.len()..];
    if int.is_empty() {
        let leading_point = rest.strip_prefix('.').is_some_and(starts_with_digit);
        return Err(leading_point.then_some(NumberProblem::LeadingPoint));
    }
    if int == "0"
        && rest
            .strip_prefix(['x', 'X'])
            .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_hexdigit()))
    {
        return Err(Some(NumberProblem::Hex));
    }
    let mut frac = "";
    if let Some(after) = rest.strip_prefix('.') {
        frac = &after[..digits_end(after)];
        if frac.is_empty() {
            return Err(Some(NumberProblem::TrailingPoint));
        }
        rest = &after[frac.len()..];
        if rest.starts_with('.') {
            return Err(Some(NumberProblem::SecondPoint));
        }
    }
    // A separator or an exponent directly between digits: never the start of a unit or note.
    let mut chars = rest.chars();
    let next = chars.next();
    let after = chars.as_str();
    let problem = match next {
        Some(',' | '，') if starts_with_digit(after) => Some(NumberProblem::Comma),
        Some('_' | '\'' | '’') if starts_with_digit(after) => Some(NumberProblem::Separator),
        Some('e' | 'E') if starts_with_digit(after.trim_start_matches(['+', '-'])) => {
            Some(NumberProblem::Exponent)
        }
        _ => None,
    };
    if problem.is_some() {
        return Err(problem);
    }
    let significant = match int.trim_start_matches('0') {
        "" => frac.trim_matches('0').len(),
        whole => whole.len() + frac.trim_end_matches('0').len(),
    };
    if significant > MAX_SIGNIFICANT_DIGITS {
        return Err(Some(NumberProblem::TooManyDigits));
    }
    let number = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    let value: f64 = number.parse().map_err(|_| None)?;
    Ok((value, rest))
}

fn starts_with_digit(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_digit())
}

/// What the officer should have typed instead of `s`, where it can be told: `1300个` for
/// `1,300个`, `1.5km` for `1,5km`, `2500m` for `2_500m`, `0.5km` for `.5km`, `5km` for `5.km`.
fn accepted_form(problem: NumberProblem, s: &str) -> String {
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | ',' | '，' | '_' | '\'' | '’')))
        .unwrap_or(s.len());
    let (number, rest) = s.split_at(number_end);
    let unit = unit_as_typed(rest);
    let number = number.replace('，', ",");
    let fixed = match problem {
        NumberProblem::Comma => {
            let (whole, frac) = number.split_once('.').unwrap_or((&number, ""));
            let groups: Vec<&str> = whole.split(',').collect();
            let thousands = groups.iter().skip(1).all(|g| g.len() == 3) && !groups[0].is_empty();
            if thousands && !frac.contains(',') {
                Some(number.replace(',', ""))
            } else if groups.len() == 2 && !number.contains('.') {
                Some(number.replace(',', "."))
            } else {
                None
            }
        }
        NumberProblem::Separator => Some(number.replace(['_', '\'', '’'], "")),
        NumberProblem::LeadingPoint => Some(format!("0{number}")),
        NumberProblem::TrailingPoint => Some(number.trim_end_matches('.').to_string()),
        _ => None,
    };
    match fixed {
        // Only a form that is itself accepted; otherwise the general example.
        Some(n) if read_number(&n).is_ok_and(|(_, rest)| rest.is_empty()) => format!("{n}{unit}"),
        _ => EXAMPLE_VALUE.to_string(),
    }
}

/// The unit (with a 万 before it) at the start of `s` as typed, or nothing.
fn unit_as_typed(s: &str) -> &str {
    let t = s.trim_start();
    let after = match unit_prefix(t) {
        Some((_, tail)) => tail,
        None => match t.strip_prefix('万').and_then(unit_prefix) {
            Some((_, tail)) => tail,
            None => return "",
        },
    };
    &t[..t.len() - after.len()]
}

/// The length of the number-like run at the start of `s`, malformed or not: digits, points,
/// separators, an exponent (`1e3`) or a hex form (`0x1f`).
fn loose_number_len(s: &str) -> usize {
    let mut hex = false;
    let mut prev = None;
    for (i, c) in s.char_indices() {
        let next = &s[i + c.len_utf8()..];
        let part = match c {
            '0'..='9' | '.' | ',' | '，' | '_' | '\'' | '’' => true,
            'e' | 'E' => starts_with_digit(next.trim_start_matches(['+', '-'])),
            '+' | '-' => matches!(prev, Some('e' | 'E')),
            'x' | 'X' => {
                hex = prev == Some('0');
                hex
            }
            _ => hex && c.is_ascii_hexdigit(),
        };
        if !part {
            return i;
        }
        prev = Some(c);
    }
    s.len()
}

/// Whether `text` begins with something read as a quantity: numbers (even malformed ones)
/// up to a known unit or the end. Such a note is a second value (`1km 500m`, `12 公里 3 米`,
/// `1 300`), not a remark like `2024年底完工` or `西永片区 3 处完工`.
fn begins_with_quantity(text: &str) -> bool {
    let mut s = text.trim_start();
    loop {
        s = s.trim_start_matches(['-', '+']);
        let (number, rest) = s.split_at(loose_number_len(s));
        if !number.contains(|c: char| c.is_ascii_digit()) {
            return false;
        }
        if rest.trim().is_empty() || !unit_as_typed(rest).is_empty() {
            return true;
        }
        // `1 2 5km`: numbers in a row, as when digits were grouped with spaces.
        if !rest.starts_with(char::is_whitespace) {
            return false;
        }
        s = rest.trim_start();
    }
}

/// A number without trailing zeros: 20, 12.5, 2.27.
pub fn fmt_num(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

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

// ---- /update arguments ------------------------------------------------------------------------

/// A validated `/update`: what to record, with the value already in the metric's own unit.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdatePlan {
    pub task: u32,
    pub item: u32,
    pub value: Option<f64>,
    pub stage: Option<Stage>,
    pub note: Option<String>,
    /// The value as typed, for the confirmation.
    pub given: Option<Quantity>,
}

/// Why an `/update` was refused; the core words it for the user.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateError {
    MissingTask,
    UnknownTask(String),
    /// No value or stage after the task.
    MissingValue {
        task: u32,
    },
    NotANumber {
        task: u32,
        text: String,
    },
    Negative {
        task: u32,
    },
    UnknownUnit {
        task: u32,
        unit: String,
    },
    /// The value is not in the accepted form (`12.5km`). `text` is the word as typed, clipped
    /// for echoing; `example` the accepted form to write instead.
    Malformed {
        task: u32,
        problem: NumberProblem,
        text: String,
        example: String,
    },
    /// Text glued to the quantity (`12.5km西永`); `example` is the command with a space.
    Glued {
        task: u32,
        text: String,
        example: String,
    },
    /// The note begins with another quantity (`1km 500m`, `12 公里 3 米`).
    TwoQuantities {
        task: u32,
        text: String,
    },
    /// The unit fits none of the metrics meant (`/update 14 5个`).
    UnitMismatch {
        task: u32,
        unit: String,
    },
    /// No metric or milestone of the task has that number or those words.
    UnknownItem {
        task: u32,
        words: String,
    },
    /// Several items fit: the user must pick one (`rest` is the value/stage and note as typed).
    Ambiguous {
        task: u32,
        items: Vec<u32>,
        rest: String,
    },
    TooLarge {
        task: u32,
        item: u32,
        value: f64,
        target: f64,
        unit: Unit,
    },
    /// A stage for a task tracked only by numbers.
    NeedsValue {
        task: u32,
    },
    /// A number for milestones, which take a stage.
    NeedsStage {
        task: u32,
    },
}

/// Reads `<task>[.<item>] [item words] <value>[unit] [note]` or `<task>[.<item>] [item words]
/// <stage> [note]`. Only reads: nothing is recorded here.
pub fn parse_update(knowledge: &Knowledge, args: &str) -> Result<UpdatePlan, UpdateError> {
    use unicode_normalization::UnicodeNormalization;
    // Width only (full-width digits, ％, ㎡); the note keeps its script as typed.
    let args: String = args.nfkc().collect();
    let args = args.trim();
    let Some(first) = args.split_whitespace().next() else {
        return Err(UpdateError::MissingTask);
    };
    let mut rest = args[first.len()..].trim_start();
    let reference = match TaskRef::parse(first) {
        Some(r) => r,
        None if fold(first) == "task" => {
            let Some(second) = rest.split_whitespace().next() else {
                return Err(UpdateError::MissingTask);
            };
            let r =
                TaskRef::parse(second).ok_or_else(|| UpdateError::UnknownTask(second.into()))?;
            rest = rest[second.len()..].trim_start();
            r
        }
        None => match tasks_named(knowledge, first).as_slice() {
            [one] => TaskRef {
                task: one.number,
                item: None,
            },
            _ => return Err(UpdateError::UnknownTask(first.into())),
        },
    };
    let Some(task) = knowledge.task(reference.task) else {
        return Err(UpdateError::UnknownTask(first.into()));
    };
    let t = task.number;
    if rest.is_empty() {
        return Err(UpdateError::MissingValue { task: t });
    }

    // Item words run until the first word that is a number or a stage.
    let mut selector_end = rest.len();
    let mut found: Option<(Option<Quantity>, Option<Stage>, &str)> = None;
    let mut offset = 0;
    for word in rest.split_whitespace() {
        let at = offset + rest[offset..].find(word).unwrap_or(0);
        let here = &rest[at..];
        offset = at + word.len();
        let unsigned = word.trim_start_matches(['-', '+', '−']);
        let starts_number = starts_with_digit(unsigned)
            || unsigned.strip_prefix('.').is_some_and(starts_with_digit);
        if starts_number {
            selector_end = at;
            let (q, tail) = Quantity::parse_prefix(here).map_err(|e| match e {
                QuantityError::NotANumber => UpdateError::NotANumber {
                    task: t,
                    text: echo(word),
                },
                QuantityError::Negative => UpdateError::Negative { task: t },
                QuantityError::UnknownUnit(unit) => UpdateError::UnknownUnit {
                    task: t,
                    unit: echo(&unit),
                },
                QuantityError::Malformed { problem, example } => UpdateError::Malformed {
                    task: t,
                    problem,
                    text: echo(word),
                    example: echo(&example),
                },
                QuantityError::Glued { quantity, rest } => {
                    // The command as it should have been: the same words, a space before the note.
                    let head = args[..args.len() - here.len()].trim_end();
                    let note = rest.trim_start_matches(|c: char| !c.is_alphanumeric());
                    let example = format!(
                        "/update {} {} {}",
                        echo(head),
                        echo(quantity.trim()),
                        echo(note)
                    );
                    UpdateError::Glued {
                        task: t,
                        text: echo(word),
                        example: example.trim_end().to_string(),
                    }
                }
            })?;
            if begins_with_quantity(tail) {
                return Err(UpdateError::TwoQuantities {
                    task: t,
                    text: echo(here.trim_end()),
                });
            }
            found = Some((Some(q), None, tail));
            break;
        }
        if let Some((stage, tail)) = parse_stage(here) {
            selector_end = at;
            found = Some((None, Some(stage), tail));
            break;
        }
    }
    let selector = rest[..selector_end].trim();
    let Some((quantity, stage, tail)) = found else {
        // Nothing readable: say which word is not a number, if the words name no item.
        if reference.item.is_none() && select_items(task, selector).is_empty() {
            let word = selector.split_whitespace().last().unwrap_or(selector);
            return Err(UpdateError::NotANumber {
                task: t,
                text: echo(word),
            });
        }
        return Err(UpdateError::MissingValue { task: t });
    };
    let note = Some(tail.trim())
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let value_and_note = rest[selector_end..].trim().to_string();

    // The items meant by number or words; all of the task's when neither was given.
    let named: Option<Vec<Item<'_>>> = if let Some(n) = reference.item {
        let found = item(task, n).ok_or_else(|| UpdateError::UnknownItem {
            task: t,
            words: format!("{t}.{n}"),
        })?;
        Some(vec![found])
    } else if !selector.is_empty() {
        let found = select_items(task, selector);
        if found.is_empty() {
            return Err(UpdateError::UnknownItem {
                task: t,
                words: selector.chars().take(40).collect(),
            });
        }
        Some(found)
    } else {
        None
    };
    let pool: Vec<Item<'_>> = named.clone().unwrap_or_else(|| items(task).collect());

    let chosen = if let Some(q) = quantity {
        let metrics: Vec<&Metric> = pool
            .iter()
            .filter_map(|i| match i {
                Item::Metric(m) => Some(*m),
                Item::Milestone(_) => None,
            })
            .collect();
        if metrics.is_empty() {
            return Err(UpdateError::NeedsStage { task: t });
        }
        let fitting: Vec<&Metric> = match q.unit {
            Some(u) => metrics.into_iter().filter(|m| u.fits(m.unit)).collect(),
            None => metrics,
        };
        let metric = match fitting.as_slice() {
            [] => {
                return Err(UpdateError::UnitMismatch {
                    task: t,
                    unit: q.unit.map(|u| u.symbol.to_string()).unwrap_or_default(),
                });
            }
            [one] => *one,
            many => {
                return Err(UpdateError::Ambiguous {
                    task: t,
                    items: many.iter().map(|m| m.number).collect(),
                    rest: value_and_note,
                });
            }
        };
        let value = match q.unit {
            Some(u) => u.convert(q.value, metric.unit),
            None => q.value,
        };
        if !value.is_finite() || value > metric.target * MAX_TARGET_FACTOR {
            return Err(UpdateError::TooLarge {
                task: t,
                item: metric.number,
                value,
                target: metric.target,
                unit: metric.unit,
            });
        }
        UpdatePlan {
            task: t,
            item: metric.number,
            value: Some(value),
            stage: None,
            note,
            given: Some(q),
        }
    } else {
        // A stage: for milestones, or for a metric named explicitly.
        let candidates: Vec<Item<'_>> = match &named {
            // Words that name a milestone and a metric alike mean the milestone: only
            // milestones are tracked by stage as a rule.
            Some(named) if named.iter().any(|i| matches!(i, Item::Milestone(_))) => named
                .iter()
                .filter(|i| matches!(i, Item::Milestone(_)))
                .copied()
                .collect(),
            Some(named) => named.clone(),
            None => task.milestones.iter().map(Item::Milestone).collect(),
        };
        let chosen = match candidates.as_slice() {
            [] => return Err(UpdateError::NeedsValue { task: t }),
            [one] => one.number(),
            many => {
                return Err(UpdateError::Ambiguous {
                    task: t,
                    items: many.iter().map(Item::number).collect(),
                    rest: value_and_note,
                });
            }
        };
        UpdatePlan {
            task: t,
            item: chosen,
            value: None,
            stage,
            note,
            given: None,
        }
    };
    Ok(chosen)
}

/// At most this many characters of what was typed are echoed in a refusal.
const ECHO_CHARS: usize = 20;

/// Typed text for echoing in a refusal: clipped, without control or bidirectional-override
/// characters (which could hide or reorder the rest of the message).
fn echo(text: &str) -> String {
    let shown: Vec<char> = text
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        .collect();
    let mut out: String = shown.iter().take(ECHO_CHARS).collect();
    if shown.len() > ECHO_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> (f64, Option<&'static str>, String) {
        let (q, rest) = Quantity::parse_prefix(s).expect(s);
        (q.value, q.unit.map(|u| u.symbol), rest.trim().to_string())
    }

    #[test]
    fn quantities_with_units_and_notes() {
        assert_eq!(q("12.5km"), (12.5, Some("公里"), String::new()));
        assert_eq!(
            q("12.5公里 西永片区完工"),
            (12.5, Some("公里"), "西永片区完工".into())
        );
        assert_eq!(q("1.5万平方米"), (1.5, Some("万平方米"), String::new()));
        assert_eq!(q("3万人次"), (30_000.0, Some("人次"), String::new()));
        assert_eq!(q("35%"), (35.0, Some("%"), String::new()));
        assert_eq!(q("860"), (860.0, None, String::new()));
        assert_eq!(q("12.5 m"), (12.5, Some("米"), String::new()));
        assert_eq!(
            q("12 monitors fitted"),
            (12.0, None, "monitors fitted".into())
        );
        assert_eq!(q("7户 已完工"), (7.0, Some("户"), "已完工".into()));
        assert_eq!(q("0.000000000000001km").0, 1e-15);
        assert_eq!(q("000123456789012345.000m").0, 123_456_789_012_345.0);
    }

    #[test]
    fn bad_quantities() {
        use QuantityError::*;
        assert_eq!(Quantity::parse_prefix("abc"), Err(NotANumber));
        assert_eq!(Quantity::parse_prefix("NaN"), Err(NotANumber));
        assert_eq!(Quantity::parse_prefix("inf"), Err(NotANumber));
        assert_eq!(Quantity::parse_prefix("-5km"), Err(Negative));
        assert_eq!(Quantity::parse_prefix("5kg"), Err(UnknownUnit("kg".into())));
        let malformed = |s: &str| match Quantity::parse_prefix(s) {
            Err(Malformed { problem, example }) => (problem, example),
            other => panic!("{s}: {other:?}"),
        };
        use NumberProblem as P;
        assert_eq!(malformed("1,5km"), (P::Comma, "1.5km".into()));
        assert_eq!(malformed("1,300个"), (P::Comma, "1300个".into()));
        assert_eq!(malformed("1，300"), (P::Comma, "1300".into()));
        assert_eq!(
            malformed("1,300,000.5 万人次"),
            (P::Comma, "1300000.5万人次".into())
        );
        assert_eq!(malformed("1,5,3km"), (P::Comma, EXAMPLE_VALUE.into()));
        assert_eq!(malformed("2_500m"), (P::Separator, "2500m".into()));
        assert_eq!(malformed("1e308km"), (P::Exponent, EXAMPLE_VALUE.into()));
        assert_eq!(malformed("1E-3km").0, P::Exponent);
        assert_eq!(malformed("0x10km"), (P::Hex, EXAMPLE_VALUE.into()));
        assert_eq!(malformed(".5km"), (P::LeadingPoint, "0.5km".into()));
        assert_eq!(malformed(".5"), (P::LeadingPoint, "0.5".into()));
        assert_eq!(malformed("5.km"), (P::TrailingPoint, "5km".into()));
        assert_eq!(malformed("5."), (P::TrailingPoint, "5".into()));
        assert_eq!(
            malformed("12.5.3km"),
            (P::SecondPoint, EXAMPLE_VALUE.into())
        );
        assert_eq!(malformed("1234567890123456km").0, P::TooManyDigits);
        assert_eq!(malformed("0.1234567890123456km").0, P::TooManyDigits);
        assert_eq!(
            Quantity::parse_prefix("12.5km西永"),
            Err(Glued {
                quantity: "12.5km".into(),
                rest: "西永".into()
            })
        );
        assert!(matches!(
            Quantity::parse_prefix("12西永片区完工"),
            Err(Glued { .. })
        ));
        assert!(matches!(Quantity::parse_prefix("35%,"), Err(Glued { .. })));
        assert_eq!(Quantity::parse_prefix("5斤"), Err(UnknownUnit("斤".into())));
        assert_eq!(
            Quantity::parse_prefix("5kmh"),
            Err(UnknownUnit("kmh".into()))
        );
        assert_eq!(
            Quantity::parse_prefix("0xkm"),
            Err(UnknownUnit("xkm".into()))
        );
    }

    #[test]
    fn notes_that_begin_with_a_quantity() {
        for note in [
            "500m",
            "3 米",
            " 1,500m",
            ".5km",
            "3万人次",
            "300",
            "1 2",
            "2 5km",
        ] {
            assert!(begins_with_quantity(note), "{note}");
        }
        for note in [
            "西永片区 3 处完工",
            "2024年底完工",
            "3 monitors",
            "",
            "第3段",
            "3 2024年",
        ] {
            assert!(!begins_with_quantity(note), "{note}");
        }
    }

    #[test]
    fn echoes_are_clipped_and_clean() {
        assert_eq!(echo("12.5km"), "12.5km");
        assert_eq!(echo("a\u{7}b\u{202e}c\n"), "abc");
        assert_eq!(echo(&"9".repeat(30)), format!("{}…", "9".repeat(20)));
    }

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
