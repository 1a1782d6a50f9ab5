//! The knowledge base in `faq/`: it loads, it is faithful to the official document, and every
//! mistake an editor can make is reported with its file, entry and field.

use std::path::Path;

use minsheng::knowledge::{Knowledge, KnowledgeError, Sources};

fn real() -> Knowledge {
    Knowledge::load_dir(Path::new("faq")).expect("faq/ loads")
}

/// The official document, as published.
fn source() -> String {
    std::fs::read_to_string("tests/data/source.txt").expect("tests/data/source.txt")
}

#[test]
fn the_real_knowledge_base_has_every_required_entry() {
    let k = real();
    let mut ids = vec!["background".to_string(), "drafting".to_string()];
    ids.extend((1..=5).map(|i| format!("qa{i}")));
    ids.extend((1..=20).map(|i| format!("task{i}")));
    for id in &ids {
        let e = k
            .entry(id)
            .unwrap_or_else(|| panic!("entry {id} is missing"));
        assert!(!e.questions_zh.is_empty(), "{id} has no Chinese phrasings");
        assert!(!e.questions_en.is_empty(), "{id} has no English phrasings");
        assert!(
            !e.keywords_zh.is_empty() && !e.keywords_en.is_empty(),
            "{id} lacks keywords"
        );
    }
    assert_eq!(k.tasks.len(), 20);
    assert!(
        k.tasks
            .iter()
            .enumerate()
            .all(|(i, t)| t.number == i as u32 + 1)
    );
}

#[test]
fn official_chinese_texts_are_quoted_verbatim() {
    let src = source();
    let k = real();
    for e in &k.entries {
        for para in e.answer.zh.lines() {
            assert!(
                src.contains(para),
                "{}: answer_zh is not verbatim: {para}",
                e.id
            );
        }
    }
    for t in &k.tasks {
        let line = format!("{}.{}:{}", t.number, t.title.zh, t.text.zh);
        assert!(
            src.contains(&line),
            "task{} title/text not verbatim: {line}",
            t.number
        );
    }
}

#[test]
fn every_figure_in_a_task_text_is_a_metric() {
    let k = real();
    for t in &k.tasks {
        let text: Vec<char> = t.text.zh.chars().collect();
        let mut i = 0;
        while i < text.len() {
            if !text[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            let start = i;
            while i < text.len() && (text[i].is_ascii_digit() || text[i] == '.') {
                i += 1;
            }
            let figure: String = text[start..i].iter().collect();
            if text.get(i) == Some(&'年') {
                continue; // a year, not a target
            }
            let value: f64 = figure.parse().expect("a number");
            assert!(
                t.metrics.iter().any(|m| (m.target - value).abs() < 1e-9),
                "task{}: the figure {figure} has no metric",
                t.number
            );
        }
    }
    let count = |n: u32| k.task(n).map(|t| t.metrics.len());
    assert_eq!(count(19), Some(10));
    assert_eq!(count(12), Some(10));
    assert_eq!(count(9), Some(5));
    for n in [10, 11, 18, 20] {
        let t = k.task(n).expect("task");
        assert!(
            t.metrics.is_empty() && !t.milestones.is_empty(),
            "task{n} is qualitative"
        );
    }
    for n in [6, 8] {
        assert!(
            !k.task(n).expect("task").milestones.is_empty(),
            "task{n} has a milestone"
        );
    }
}

const POLICY: &str = r#"
[[entry]]
id = "qa1"
title_zh = "问题"
title_en = "Question"
answer_zh = "答案"
answer_en = "Answer"
"#;

const TASKS: &str = r#"
year = 2024
period_start = "2024-01-01"
period_end = "2024-12-31"
[[task]]
id = "task1"
number = 1
title_zh = "供水管网改造"
title_en = "Water pipes"
text_zh = "完成改造20公里。"
text_en = "Renovate 20 km."
[[task.metric]]
id = "t1-length"
name_zh = "长度"
name_en = "Length"
kind = "cumulative"
comparator = "exactly"
target = 20
unit = "公里"
[[task.metric]]
id = "t1-part"
name_zh = "其中一段"
name_en = "One stretch"
kind = "cumulative"
comparator = "about"
part_of = "t1-length"
target = 5
unit = "公里"
[[task.milestone]]
id = "t1-acceptance"
name_zh = "验收"
name_en = "Acceptance"
kind = "milestone"
"#;

fn load(policy: &str, tasks: &str, synonyms: &str) -> Result<Knowledge, KnowledgeError> {
    Knowledge::from_sources(&Sources {
        dir: Path::new("faq"),
        policy,
        tasks_file: "tasks.toml",
        tasks,
        synonyms,
    })
}

fn located(err: KnowledgeError, file: &str, entry: &str, field: &str) -> String {
    assert_eq!(err.file, Path::new("faq").join(file), "{err}");
    assert_eq!(err.entry.as_deref(), Some(entry), "{err}");
    assert_eq!(err.field.as_deref(), Some(field), "{err}");
    err.to_string()
}

#[test]
fn a_minimal_base_loads() {
    let k = load(POLICY, TASKS, "").expect("valid");
    assert_eq!(k.entries.len(), 2);
    assert_eq!(k.tasks[0].metrics[0].unit.symbol, "公里");
    assert_eq!(k.tasks[0].metrics[1].part_of, Some(1));
    assert_eq!(k.period.year, 2024);
}

/// Each mistake in the progress model's fields names its entry and field.
#[test]
fn kinds_comparators_parts_and_periods_are_validated() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "kind = \"cumulative\"",
            "kind = \"running\"",
            "metric[1].kind",
            "unknown kind `running`",
        ),
        ("kind = \"cumulative\"\n", "", "metric[1].kind", "missing"),
        (
            "comparator = \"exactly\"",
            "comparator = \"roughly\"",
            "metric[1].comparator",
            "unknown comparator",
        ),
        (
            "part_of = \"t1-length\"",
            "part_of = \"t1-nothing\"",
            "metric[2].part_of",
            "no metric of this task has the id `t1-nothing`",
        ),
        (
            "part_of = \"t1-length\"",
            "part_of = \"t1-part\"",
            "metric[2].part_of",
            "part of itself",
        ),
        (
            "kind = \"milestone\"",
            "kind = \"cumulative\"",
            "milestone[1].kind",
            "unknown kind `cumulative` for a goal",
        ),
        (
            "id = \"t1-part\"",
            "id = \"t1-length\"",
            "metric[2].id",
            "duplicate id `t1-length`",
        ),
        (
            "id = \"t1-acceptance\"\n",
            "",
            "milestone[1].id",
            "stable id",
        ),
        (
            "kind = \"cumulative\"\ncomparator = \"exactly\"",
            "kind = \"recurring\"\ncomparator = \"exactly\"",
            "metric[1].every",
            "how often",
        ),
        (
            "kind = \"cumulative\"\ncomparator = \"exactly\"",
            "kind = \"share\"\ncomparator = \"exactly\"",
            "metric[1].unit",
            "a share is in %",
        ),
    ];
    for (from, to, field, says) in cases {
        let t = TASKS.replacen(from, to, 1);
        assert_ne!(t, TASKS, "{from}");
        let msg = located(
            load(POLICY, &t, "").unwrap_err(),
            "tasks.toml",
            "task1",
            field,
        );
        assert!(msg.contains(says), "{from} -> {to}: {msg}");
    }
    // A part's total must measure the same thing.
    let t = TASKS.replacen(
        "target = 5\nunit = \"公里\"",
        "target = 5\nunit = \"处\"",
        1,
    );
    let msg = located(
        load(POLICY, &t, "").unwrap_err(),
        "tasks.toml",
        "task1",
        "metric[2].part_of",
    );
    assert!(msg.contains("measured in 公里"), "{msg}");
    for (from, to, field) in [
        ("year = 2024\n", "", "year"),
        (
            "period_start = \"2024-01-01\"",
            "period_start = \"2024-13-01\"",
            "period_start",
        ),
        (
            "period_end = \"2024-12-31\"",
            "period_end = \"2023-12-31\"",
            "period_end",
        ),
    ] {
        let err = load(POLICY, &TASKS.replacen(from, to, 1), "").unwrap_err();
        assert_eq!(err.field.as_deref(), Some(field), "{err}");
    }
}

/// The qualifier of every figure in the official text is the comparator of its metric:
/// 以上/不少于/至少/达到/余 are "at least", 约 is "about", a bare figure is "exactly".
#[test]
fn every_qualifier_in_the_source_is_a_comparator() {
    use minsheng::knowledge::Comparator;
    let k = real();
    let mut checked = 0;
    for t in &k.tasks {
        let text: Vec<char> = t.text.zh.chars().collect();
        let before =
            |i: usize, n: usize| -> String { text[i.saturating_sub(n)..i].iter().collect() };
        let mut found: Vec<(f64, Comparator)> = Vec::new();
        let mut i = 0;
        while i < text.len() {
            if !text[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            let start = i;
            while i < text.len() && (text[i].is_ascii_digit() || text[i] == '.') {
                i += 1;
            }
            let figure: String = text[start..i].iter().collect();
            if text.get(i) == Some(&'年') {
                continue;
            }
            let after: String = text[i..(i + 8).min(text.len())].iter().collect();
            // The unit ends at the first punctuation; 以上 follows it.
            let after = after
                .split([',', '、', '。', ';', '，'])
                .next()
                .unwrap_or("")
                .to_string();
            // The clause before the figure, back to the last punctuation.
            let lead = before(start, start);
            let lead = lead
                .rsplit([',', '、', '。', ';', '，'])
                .next()
                .unwrap_or("");
            let comparator = if lead.ends_with('约') {
                Comparator::About
            } else if lead.contains("不少于")
                || lead.contains("至少")
                || lead.ends_with("达到")
                || after.starts_with('余')
                || after.contains("以上")
            {
                Comparator::AtLeast
            } else {
                Comparator::Exactly
            };
            found.push((figure.parse().expect("a number"), comparator));
        }
        for m in &t.metrics {
            let at: Vec<Comparator> = found
                .iter()
                .filter(|(v, _)| (v - m.target).abs() < 1e-9)
                .map(|(_, c)| *c)
                .collect();
            assert!(
                at.contains(&m.comparator),
                "{}: the text qualifies {} as {at:?}, faq says {:?}",
                m.id,
                m.target,
                m.comparator
            );
            checked += 1;
        }
        // And no qualified figure is left without a metric that says so.
        for (v, c) in &found {
            assert!(
                t.metrics
                    .iter()
                    .any(|m| (m.target - v).abs() < 1e-9 && m.comparator == *c),
                "task{}: {v} is {c:?} in the text but no metric says so",
                t.number
            );
        }
    }
    assert_eq!(checked, 45);
    // Goals worded as going on (持续…, 加快推进…) are ongoing; results to judge are outcomes.
    use minsheng::knowledge::GoalKind;
    for g in k.tasks.iter().flat_map(|t| &t.milestones) {
        let name = &g.name.zh;
        if name.starts_with("持续") || name.starts_with("加快推进") {
            assert_eq!(g.kind, GoalKind::Ongoing, "{}", g.id);
        }
        if name.contains("明显改观") {
            assert_eq!(g.kind, GoalKind::Outcome, "{}", g.id);
        }
    }
    let m = |id: &str| {
        k.tasks
            .iter()
            .flat_map(|t| &t.metrics)
            .find(|m| m.id == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    assert_eq!(m("t16-instruments").comparator, Comparator::AtLeast); // 860余台
    assert_eq!(m("t12-lecturers").comparator, Comparator::AtLeast); // 10人以上
    assert_eq!(m("t19-sediment").comparator, Comparator::About); // 约8.36万平方米
    assert_eq!(m("t19-water-ecosystem").comparator, Comparator::Exactly); // 共计9.3万平方米
    assert_eq!(m("t19-sediment").part_of, Some(1));
    assert_eq!(m("t19-hard-revetment").part_of, Some(7));
}

#[test]
fn a_duplicate_id_is_reported_with_its_file_and_entry() {
    let twice = format!("{POLICY}{POLICY}");
    let msg = located(
        load(&twice, TASKS, "").unwrap_err(),
        "policy.toml",
        "qa1",
        "id",
    );
    assert!(msg.contains("duplicate id `qa1`"), "{msg}");
}

#[test]
fn missing_chinese_text_is_reported() {
    let p = POLICY.replace("answer_zh = \"答案\"\n", "");
    let msg = located(
        load(&p, TASKS, "").unwrap_err(),
        "policy.toml",
        "qa1",
        "answer_zh",
    );
    assert!(msg.contains("Chinese"), "{msg}");
}

#[test]
fn a_target_without_a_unit_is_reported() {
    let t = TASKS.replace("unit = \"公里\"\n", "");
    let msg = located(
        load(POLICY, &t, "").unwrap_err(),
        "tasks.toml",
        "task1",
        "metric[1].unit",
    );
    assert!(msg.contains("needs a unit"), "{msg}");
}

#[test]
fn an_unknown_unit_is_reported() {
    let t = TASKS.replace("unit = \"公里\"", "unit = \"kg\"");
    let msg = located(
        load(POLICY, &t, "").unwrap_err(),
        "tasks.toml",
        "task1",
        "metric[1].unit",
    );
    assert!(msg.contains("unknown unit `kg`"), "{msg}");
}

#[test]
fn a_misspelt_field_and_broken_toml_name_the_file_and_line() {
    let t = TASKS.replace("text_en", "txet_en");
    let err = load(POLICY, &t, "").unwrap_err();
    assert_eq!(err.file, Path::new("faq/tasks.toml"));
    assert!(
        err.message.contains("txet_en") && err.message.contains("line"),
        "{err}"
    );
    let err = load("[[entry]\nid=", TASKS, "").unwrap_err();
    assert_eq!(err.file, Path::new("faq/policy.toml"));
}

#[test]
fn a_related_id_must_exist() {
    let p = POLICY.replace(
        "answer_en = \"Answer\"",
        "answer_en = \"Answer\"\nrelated = \"task9\"",
    );
    let msg = located(
        load(&p, TASKS, "").unwrap_err(),
        "policy.toml",
        "qa1",
        "related",
    );
    assert!(msg.contains("task9"), "{msg}");
}

#[test]
fn a_synonym_group_needs_two_terms() {
    let err = load(POLICY, TASKS, "[[group]]\nterms = [\"车位\"]\n").unwrap_err();
    assert_eq!(err.file, Path::new("faq/synonyms.toml"));
    assert_eq!(err.field.as_deref(), Some("terms"));
}

#[test]
fn an_intent_cue_in_two_lists_is_reported() {
    let synonyms =
        "[intent]\ndefinition = [\"怎么申请\"]\nprocedure = [\"怎么申请\", \"怎么报名\"]\n";
    let err = load(POLICY, TASKS, synonyms).unwrap_err();
    assert_eq!(err.file, Path::new("faq/synonyms.toml"));
    assert_eq!(err.field.as_deref(), Some("procedure"));
    assert!(err.message.contains("怎么申请"), "{}", err.message);
    let ok = "[intent]\ndefinition = [\"是什么\"]\nprocedure = [\"怎么报名\"]\n";
    assert!(load(POLICY, TASKS, ok).is_ok());
}

#[test]
fn a_concept_names_an_official_term_and_its_names_once() {
    let ok = "[[concept]]\nterm = \"答案\"\nnames_zh = [\"回答\"]\nbroader_en = [\"reply\"]\n";
    let k = load(POLICY, TASKS, ok).expect("valid");
    assert_eq!(k.lexicon.concepts[0].names, ["回答", "reply"]);
    // A term no official text uses is not an official term.
    let err = load(
        POLICY,
        TASKS,
        "[[concept]]\nterm = \"自来水\"\nnames_zh = [\"管子\"]\n",
    )
    .unwrap_err();
    let msg = located(err, "synonyms.toml", "自来水", "term");
    assert!(msg.contains("no official text"), "{msg}");
    // A concept without names, and a name given to two concepts, are reported where they are.
    let err = load(POLICY, TASKS, "[[concept]]\nterm = \"答案\"\n").unwrap_err();
    located(err, "synonyms.toml", "答案", "names_zh");
    let two = "[[concept]]\nterm = \"答案\"\nnames_zh = [\"回答\"]\n\
               [[concept]]\nterm = \"问题\"\nnames_en = [\"x\"]\nbroader_zh = [\"回答\"]\n";
    let err = load(POLICY, TASKS, two).unwrap_err();
    let msg = located(err, "synonyms.toml", "问题", "broader_zh");
    assert!(msg.contains("回答"), "{msg}");
}

#[test]
fn the_list_entry_must_exist() {
    let err = load(
        POLICY,
        TASKS,
        "[list]\nentry = \"nope\"\ntopic = [\"件\"]\n",
    )
    .unwrap_err();
    located(err, "synonyms.toml", "list", "entry");
    assert!(load(POLICY, TASKS, "[list]\nentry = \"qa1\"\ntopic = [\"件\"]\n").is_ok());
}
