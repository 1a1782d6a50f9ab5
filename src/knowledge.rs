//! The knowledge base: `faq/*.toml` loaded into validated, typed entries, tasks and word lists.
//!
//! Loading never half-succeeds: any mistake is reported as a [`KnowledgeError`] naming the
//! file, the entry and the field, so a policy officer editing the TOML can fix it alone.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::units::Unit;

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

/// A numeric target of a task.
#[derive(Debug, Clone)]
pub struct Metric {
    /// 1-based position within the task, as officers address it (`/update 19.9 3.2km`).
    pub number: u32,
    pub name: Bilingual,
    pub target: f64,
    pub unit: Unit,
    pub keywords: Vec<String>,
}

/// A qualitative goal of a task, tracked by stage rather than by number.
#[derive(Debug, Clone)]
pub struct Milestone {
    /// 1-based, numbered after the task's metrics.
    pub number: u32,
    pub name: Bilingual,
    pub keywords: Vec<String>,
}

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
}

/// The whole validated knowledge base.
#[derive(Debug, Clone)]
pub struct Knowledge {
    pub entries: Vec<Entry>,
    pub tasks: Vec<Task>,
    pub lexicon: Lexicon,
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    name_zh: Option<String>,
    name_en: Option<String>,
    target: Option<f64>,
    unit: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMilestone {
    name_zh: Option<String>,
    name_en: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
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
            tasks: &tasks,
            synonyms: &synonyms,
        })
    }

    /// Parses and validates the three files' texts.
    pub fn from_sources(src: &Sources<'_>) -> Result<Knowledge, KnowledgeError> {
        let policy_path = src.dir.join(POLICY_FILE);
        let tasks_path = src.dir.join(TASKS_FILE);
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

        let mut task_list = Vec::new();
        let mut numbers = HashSet::new();
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
            for (m, rm) in raw.metric.into_iter().enumerate() {
                let field = |f: &str| format!("metric[{}].{f}", m + 1);
                let name = at.bilingual(&field("name"), rm.name_zh, rm.name_en)?;
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
                metrics.push(Metric {
                    number: m as u32 + 1,
                    name,
                    target,
                    unit,
                    keywords: at.list(&field("keywords"), rm.keywords)?,
                });
            }
            let mut milestones = Vec::new();
            for (k, rm) in raw.milestone.into_iter().enumerate() {
                let field = |f: &str| format!("milestone[{}].{f}", k + 1);
                milestones.push(Milestone {
                    number: (metrics.len() + k) as u32 + 1,
                    name: at.bilingual(&field("name"), rm.name_zh, rm.name_en)?,
                    keywords: at.list(&field("keywords"), rm.keywords)?,
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
            },
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
