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
[[task]]
id = "task1"
number = 1
title_zh = "供水管网改造"
title_en = "Water pipes"
text_zh = "完成改造20公里。"
text_en = "Renovate 20 km."
[[task.metric]]
name_zh = "长度"
name_en = "Length"
target = 20
unit = "公里"
"#;

fn load(policy: &str, tasks: &str, synonyms: &str) -> Result<Knowledge, KnowledgeError> {
    Knowledge::from_sources(&Sources {
        dir: Path::new("faq"),
        policy,
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
