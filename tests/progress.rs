//! The quantity and task-reference parsers under arbitrary input, and `/update` argument
//! reading over the real task catalogue.

use std::path::Path;

use minsheng::knowledge::Knowledge;
use minsheng::progress::{self, NumberProblem, Quantity, TaskRef, UpdateError};
use minsheng::units::Unit;
use proptest::prelude::*;

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
