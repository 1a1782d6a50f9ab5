//! Reading `/update` arguments: `<task>[.<item>] [item words] <value>[unit] [note]` or a stage,
//! into an [`UpdatePlan`] or a typed [`UpdateError`]. Only reads: the core decides who may
//! record what, and [`super::model`] what a kind of item may take.

use crate::knowledge::{Knowledge, Metric};
use crate::matcher::normalize::fold;
use crate::store::Stage;
use crate::units::Unit;

use super::quantity::{
    NumberProblem, Quantity, QuantityError, begins_with_quantity, starts_with_digit,
};
use super::{Item, TaskRef, item, items, parse_stage, select_items, tasks_named};

/// A value is refused when it exceeds its target this many times: a slip of units or digits.
pub const MAX_TARGET_FACTOR: f64 = 10.0;

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
    let shown: String = text
        .chars()
        .filter(|c| !c.is_control() && !crate::text::is_forbidden(*c))
        .collect();
    crate::text::clip(&shown, ECHO_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_are_clipped_and_clean() {
        assert_eq!(echo("12.5km"), "12.5km");
        assert_eq!(echo("a\u{7}b\u{202e}c\n"), "abc");
        assert_eq!(echo(&"9".repeat(30)), format!("{}…", "9".repeat(20)));
    }
}
