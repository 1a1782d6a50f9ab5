//! The quantity and task-reference parsers under arbitrary input, and `/update` argument
//! reading over the real task catalogue.

use std::path::Path;

use minsheng::knowledge::Knowledge;
use minsheng::progress::{self, NumberProblem, Quantity, TaskRef, UpdateError};
use minsheng::units::Unit;
use proptest::prelude::*;
use unicode_normalization::UnicodeNormalization;

fn knowledge() -> Knowledge {
    Knowledge::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("faq")).expect("faq/ loads")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn parsers_never_panic(s in "\\PC{0,40}") {
        let _ = Quantity::parse_prefix(&s);
        let _ = Quantity::parse(&s);
        let _ = TaskRef::parse(&s);
        let _ = progress::parse_stage(&s);
    }

    #[test]
    fn numbers_with_units_round_trip(
        whole in 0u32..1_000_000,
        frac in 0u32..100,
        unit in prop::sample::select(Unit::known_spellings().collect::<Vec<_>>()),
        space in any::<bool>(),
    ) {
        let value = f64::from(whole) + f64::from(frac) / 100.0;
        let text = format!("{whole}.{frac:02}{}{unit}", if space { " " } else { "" });
        let q = Quantity::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert!((q.value - value).abs() < 1e-9, "{text} read as {}", q.value);
        let parsed = q.unit.ok_or_else(|| TestCaseError::fail(format!("{text}: no unit")))?;
        prop_assert_eq!(Some(parsed), Unit::parse(unit));
        // And back: the displayed form reads as the same quantity.
        let again = Quantity::parse(&q.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again.unit.map(|u| u.to_base(again.value)), Some(parsed.to_base(value)));
    }

    #[test]
    fn parsed_values_are_finite_and_not_negative(s in "[-+0-9.,万eE infNa]{0,20}(km|个|%|)") {
        if let Ok(q) = Quantity::parse(&s) {
            prop_assert!(q.value.is_finite() && q.value >= 0.0, "{s} gave {}", q.value);
        }
    }

    #[test]
    fn update_arguments_never_panic_and_plans_fit_their_metric(s in "\\PC{0,30}", task in 0u32..25) {
        let k = knowledge_cached();
        if let Ok(plan) = progress::parse_update(k, &format!("{task} {s}")) {
            let t = k.task(plan.task).expect("a planned task exists");
            let item = progress::item(t, plan.item).expect("a planned item exists");
            if let (Some(v), progress::Item::Metric(m)) = (plan.value, item) {
                prop_assert!(v.is_finite() && v >= 0.0 && v <= m.target * progress::MAX_TARGET_FACTOR);
            }
            prop_assert!(plan.value.is_some() || plan.stage.is_some());
        }
    }
}

/// The power of ten a unit stands for (every unit in the list is one).
fn exponent(unit: Unit) -> i32 {
    unit.factor.log10().round() as i32
}

/// Whether `number` is in the one accepted form, with at most 15 significant digits.
fn accepted(number: &str) -> bool {
    let number = number.trim();
    let (int, frac) = number.split_once('.').unwrap_or((number, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) {
        return false;
    }
    let all = format!("{int}{}", frac.trim_end_matches('0'));
    all.trim_start_matches('0').len() <= 15
}

/// The quantity in full-width forms (`１２．５ｋｍ`), as a Chinese input method types it.
fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    /// Whatever an officer types, the value stored is exactly the number typed, converted by
    /// the units' factors (powers of ten, so the decimal point moves), or nothing is stored.
    #[test]
    fn stored_values_are_exactly_the_number_typed(
        task in 1u32..=20,
        int in prop_oneof![3 => "[0-9]{0,3}", 1 => "[0-9]{0,18}"],
        frac in proptest::option::of(prop_oneof![3 => "[0-9]{0,3}", 1 => "[0-9]{0,18}"]),
        noise in prop_oneof![
            2 => Just(Vec::new()),
            1 => proptest::collection::vec(
                (any::<prop::sample::Index>(), prop::sample::select(
                    vec![',', '，', '_', ' ', 'e', 'E', '\'', 'x', '.', '-', '西'],
                )),
                1..3,
            ),
        ],
        wan in proptest::bool::weighted(0.1),
        unit in any::<prop::sample::Index>(),
        any_unit in proptest::bool::weighted(0.3),
        space in any::<bool>(),
        wide in any::<bool>(),
        note in proptest::option::of(prop_oneof![
            "[西永片区完工段第期]{1,6}",
            "[0-9]{1,4}[ ]?(m|km|个|处|年|月|号|万人次|次)?",
            "\\PC{0,12}",
        ]),
    ) {
        let mut number = match &frac {
            Some(f) => format!("{int}.{f}"),
            None => int.clone(),
        };
        for (at, c) in &noise {
            let chars: Vec<char> = number.chars().collect();
            let at = at.index(chars.len() + 1);
            number = chars[..at].iter().chain([c]).chain(&chars[at..]).collect();
        }
        // Words before the number are item words, and a number after them is the value.
        let start = number.trim_start();
        prop_assume!(start.trim_start_matches('.').starts_with(|c: char| c.is_ascii_digit()));
        let k = knowledge_cached();
        // Mostly a unit that fits one of the task's metrics, so that many inputs are recorded.
        let all: Vec<&str> = Unit::known_spellings().collect();
        let fitting: Vec<&str> = all
            .iter()
            .copied()
            .filter(|s| {
                let (Some(u), Some(t)) = (Unit::parse(s), k.task(task)) else { return false };
                t.metrics.iter().any(|m| u.fits(m.unit))
            })
            .collect();
        let unit = if any_unit || fitting.is_empty() {
            *unit.get(&all)
        } else {
            *unit.get(&fitting)
        };
        let mut quantity = format!(
            "{number}{}{}{unit}",
            if space { " " } else { "" },
            if wan { "万" } else { "" },
        );
        if wide {
            quantity = full_width(&quantity);
        }
        let args = match &note {
            Some(n) => format!("{task} {quantity} {n}"),
            None => format!("{task} {quantity}"),
        };
        let Ok(plan) = progress::parse_update(k, &args) else {
            return Ok(());
        };
        // Either the whole number was read, or (`12 e5km 西永`) the number before a space
        // with the rest as a note that does not begin with a number.
        let (read, shift) = if accepted(&number) {
            let given = Unit::parse(unit).ok_or_else(|| TestCaseError::fail("unit"))?;
            (number.trim(), exponent(given) + if wan { 4 } else { 0 })
        } else {
            let (head, tail) = number.trim().split_once(' ').unwrap_or((&number, ""));
            let tail = tail.trim_start();
            // The note must not begin with a quantity in the accepted form (`12 5km`).
            let second = Quantity::parse_prefix(tail).is_ok_and(|(q, _)| q.unit.is_some());
            prop_assert!(
                accepted(head) && !tail.is_empty() && !second,
                "{args:?} was accepted: {plan:?}"
            );
            prop_assert_eq!(plan.given.and_then(|q| q.unit), None);
            // Notes are kept as typed but for width (`，` → `,`).
            let tail: String = tail.nfkc().collect();
            prop_assert!(
                plan.note.as_deref().is_some_and(|n| n.starts_with(&tail)),
                "{args:?}: {plan:?}"
            );
            (head, 0)
        };
        let item = k
            .task(plan.task)
            .and_then(|t| progress::item(t, plan.item))
            .ok_or_else(|| TestCaseError::fail(format!("{args:?}: no such item")))?;
        let progress::Item::Metric(metric) = item else {
            return Err(TestCaseError::fail(format!("{args:?}: a value for a milestone")));
        };
        let metric_shift = if shift == 0 && plan.given.and_then(|q| q.unit).is_none() {
            0
        } else {
            exponent(metric.unit)
        };
        let expected: f64 = format!("{read}e{}", shift - metric_shift)
            .parse()
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(plan.value, Some(expected), "{:?}", args);
    }

    /// Anything glued to a good quantity is refused or left out of the number, never read
    /// into it.
    #[test]
    fn glued_text_never_changes_the_number(s in "(?s).{0,20}") {
        let k = knowledge_cached();
        if let Ok(plan) = progress::parse_update(k, &format!("14 12.5km{s}")) {
            prop_assert_eq!(plan.value, Some(12.5), "{:?}", s);
        }
        let _ = progress::parse_update(k, &format!("14 {s}12.5km"));
        let _ = progress::parse_update(k, &format!("4 1{s}300个"));
    }
}

fn knowledge_cached() -> &'static Knowledge {
    static K: std::sync::OnceLock<Knowledge> = std::sync::OnceLock::new();
    K.get_or_init(knowledge)
}

#[test]
fn update_arguments_over_the_catalogue() {
    let k = knowledge();
    let plan = |s: &str| progress::parse_update(&k, s);
    let ok = |s: &str| plan(s).unwrap_or_else(|e| panic!("{s}: {e:?}"));

    let p = ok("14 12.5km 西永片区完工");
    assert_eq!((p.task, p.item, p.value), (14, 1, Some(12.5)));
    assert_eq!(p.note.as_deref(), Some("西永片区完工"));
    assert_eq!(ok("14 12500米").value, Some(12.5));
    assert_eq!(ok("１４ １２．５ｋｍ").value, Some(12.5), "full-width");
    assert_eq!(
        ok("1 15000平方米").value,
        Some(1.5),
        "converted to 万平方米"
    );
    assert_eq!(ok("1 15000平方米").item, 2);
    assert_eq!(ok("19 缓冲带 3.2km").item, 7);
    assert_eq!(ok("19 buffer zone 3.2 km").item, 7);
    assert_eq!(ok("19.9 1.2km").item, 9);
    assert_eq!(ok("task 14 3km").task, 14);
    assert_eq!(ok("第十四项 3km").task, 14);
    assert_eq!(
        ok("9 7户").item,
        3,
        "households pick the one household metric"
    );
    assert_eq!(
        ok("9 渝馨家园 2").item,
        1,
        "no unit: the named metric's own"
    );
    let p = ok("17 曾家镇 已完成 通水");
    assert_eq!(
        (p.item, p.stage, p.note.as_deref()),
        (1, Some(minsheng::store::Stage::Done), Some("通水"))
    );
    assert_eq!(
        ok("11.2 in progress").stage,
        Some(minsheng::store::Stage::InProgress)
    );

    assert!(
        matches!(plan("19 3.2km"), Err(UpdateError::Ambiguous { items, .. }) if items == vec![7, 9, 10])
    );
    assert!(matches!(plan("9 3人"), Err(UpdateError::Ambiguous { .. })));
    assert!(matches!(
        plan("14 5个"),
        Err(UpdateError::UnitMismatch { .. })
    ));
    assert!(matches!(
        plan("14 5kg"),
        Err(UpdateError::UnknownUnit { .. })
    ));
    assert!(matches!(plan("21 5km"), Err(UpdateError::UnknownTask(_))));
    assert!(matches!(
        plan("14 1e5km"),
        Err(UpdateError::Malformed {
            problem: NumberProblem::Exponent,
            ..
        })
    ));
}
