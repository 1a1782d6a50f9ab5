//! The knowledge base learns: phrasings editors taught, applied to a list's [`Knowledge`]; the
//! guard that refuses a phrasing changing the answer to a case of the regression sets
//! (`tests/data/*.tsv`, built in); and writing taught phrasings back into `faq/` TOML for
//! review (`minsheng export-phrasings`), keeping the files' layout and comments.

use std::path::{Path, PathBuf};

use crate::Lang;
use crate::eval::{self, Case};
use crate::knowledge::Knowledge;
use crate::matcher::{Decision, Kind, Matcher};
use crate::store::Taught;

mod regression {
    include!(concat!(env!("OUT_DIR"), "/regression.rs"));
}

/// One case of a regression set, with the set's file name.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressionCase {
    pub set: &'static str,
    pub case: Case,
}

/// Every case of the built-in regression sets (a set that does not parse is skipped: the
/// matcher's own tests report it).
pub fn regression_cases() -> Vec<RegressionCase> {
    let mut out = Vec::new();
    for (set, text) in regression::SETS {
        if let Ok(cases) = eval::parse(text) {
            out.extend(cases.into_iter().map(|case| RegressionCase { set, case }));
        }
    }
    out
}

/// What a decision amounts to for the guard: the entry answered, or none. Which entries a
/// "did you mean" offers is not an answer, so it may shift freely.
fn answered(d: &Decision) -> Option<&str> {
    match d.kind {
        Kind::Answer => d.id.as_deref(),
        _ => None,
    }
}

/// A case whose answer a phrasing would change for the worse.
#[derive(Debug, Clone, PartialEq)]
pub struct Broken {
    pub set: &'static str,
    pub case: Case,
    /// The entry answered now, if any.
    pub before: Option<String>,
    /// The entry the candidate would answer, if any.
    pub after: Option<String>,
}

/// The first case (in set order) whose outcome differs between `current` and `candidate`
/// where the new outcome is not right: an in-scope case must be answered with an expected
/// entry, an out-of-scope one not answered. A change for the better passes.
pub fn guard(cases: &[RegressionCase], current: &Matcher, candidate: &Matcher) -> Option<Broken> {
    for c in cases {
        let after = candidate.decide(&c.case.question);
        let before = current.decide(&c.case.question);
        let (a, b) = (answered(&after), answered(&before));
        if a == b {
            continue;
        }
        let right = match a {
            Some(id) => c.case.expected.iter().any(|e| e == id),
            None => c.case.expected.is_empty(),
        };
        if !right {
            return Some(Broken {
                set: c.set,
                case: c.case.clone(),
                before: b.map(str::to_string),
                after: a.map(str::to_string),
            });
        }
    }
    None
}

/// `kb` with the phrasings taught for its year added to their entries' questions (phrasings
/// of entries it does not hold are left out).
pub fn with_phrasings<'t>(
    kb: &Knowledge,
    taught: impl IntoIterator<Item = &'t Taught>,
) -> Knowledge {
    let mut kb = kb.clone();
    for t in taught {
        if t.year != kb.period.year {
            continue;
        }
        if let Some(e) = kb.entries.iter_mut().find(|e| e.id == t.entry_id) {
            match t.lang {
                Lang::Zh => e.questions_zh.push(t.phrasing.clone()),
                Lang::En => e.questions_en.push(t.phrasing.clone()),
            }
        }
    }
    kb
}

// ---- export-phrasings ---------------------------------------------------------------------------

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not valid TOML: {source}", path.display())]
    Toml {
        path: PathBuf,
        source: toml_edit::TomlError,
    },
}

/// What [`export`] did with one taught phrasing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exported {
    /// Added to `field` of `entry` in `file`.
    Written {
        file: String,
        entry: String,
        field: &'static str,
        phrasing: String,
    },
    /// The entry already lists it.
    Present {
        file: String,
        entry: String,
        phrasing: String,
    },
    /// No file of `faq/` holds the entry (for the phrasing's year).
    NoEntry {
        entry: String,
        year: i32,
        phrasing: String,
    },
}

/// A `faq/` file open for editing.
struct Doc {
    name: String,
    path: PathBuf,
    doc: toml_edit::DocumentMut,
    /// The array of tables holding its entries: `entry` (policy) or `task` (a year's list).
    table: &'static str,
    /// A list's year (`None` for `policy.toml`, whose entries every list shares).
    year: Option<i64>,
    changed: bool,
}

fn same(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    norm(a) == norm(b)
}

/// Writes every phrasing in `taught` into its entry's `questions_zh` / `questions_en` in the
/// TOML files of `dir` (`policy.toml`, `tasks.toml`, `tasks-YEAR.toml`), leaving layout and
/// comments as they were; files are written only when something was added.
pub fn export(dir: &Path, taught: &[Taught]) -> Result<Vec<Exported>, ExportError> {
    let mut docs: Vec<Doc> = Vec::new();
    let listing = std::fs::read_dir(dir).map_err(|source| ExportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut names: Vec<String> = listing
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n == "policy.toml" || (n.starts_with("tasks") && n.ends_with(".toml")))
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let text = std::fs::read_to_string(&path).map_err(|source| ExportError::Io {
            path: path.clone(),
            source,
        })?;
        let doc: toml_edit::DocumentMut = text.parse().map_err(|source| ExportError::Toml {
            path: path.clone(),
            source,
        })?;
        let (table, year) = if name == "policy.toml" {
            ("entry", None)
        } else {
            ("task", doc.get("year").and_then(|y| y.as_integer()))
        };
        docs.push(Doc {
            name,
            path,
            doc,
            table,
            year,
            changed: false,
        });
    }
    let mut out = Vec::new();
    for t in taught {
        let field = match t.lang {
            Lang::Zh => "questions_zh",
            Lang::En => "questions_en",
        };
        let mut done = None;
        for d in docs.iter_mut() {
            if d.year.is_some_and(|y| y != i64::from(t.year)) {
                continue;
            }
            let Some(tables) = d
                .doc
                .get_mut(d.table)
                .and_then(|i| i.as_array_of_tables_mut())
            else {
                continue;
            };
            let Some(entry) = tables
                .iter_mut()
                .find(|e| e.get("id").and_then(|v| v.as_str()) == Some(t.entry_id.as_str()))
            else {
                continue;
            };
            if !entry.contains_key(field) {
                entry.insert(field, toml_edit::value(toml_edit::Array::new()));
            }
            let Some(array) = entry.get_mut(field).and_then(|i| i.as_array_mut()) else {
                continue;
            };
            if array
                .iter()
                .any(|v| v.as_str().is_some_and(|s| same(s, &t.phrasing)))
            {
                done = Some(Exported::Present {
                    file: d.name.clone(),
                    entry: t.entry_id.clone(),
                    phrasing: t.phrasing.clone(),
                });
                break;
            }
            // A list written one item a line gets the new item on a line of its own.
            let multiline = array.trailing().as_str().is_some_and(|s| s.contains('\n'))
                || array.iter().any(|v| {
                    v.decor()
                        .prefix()
                        .and_then(|p| p.as_str())
                        .is_some_and(|p| p.contains('\n'))
                });
            if multiline {
                let mut v = toml_edit::Value::from(t.phrasing.as_str());
                v.decor_mut().set_prefix("\n  ");
                array.push_formatted(v);
                array.set_trailing_comma(true);
                array.set_trailing("\n");
            } else {
                array.push(t.phrasing.as_str());
            }
            d.changed = true;
            done = Some(Exported::Written {
                file: d.name.clone(),
                entry: t.entry_id.clone(),
                field,
                phrasing: t.phrasing.clone(),
            });
            break;
        }
        out.push(done.unwrap_or_else(|| Exported::NoEntry {
            entry: t.entry_id.clone(),
            year: t.year,
            phrasing: t.phrasing.clone(),
        }));
    }
    for d in docs.iter().filter(|d| d.changed) {
        std::fs::write(&d.path, d.doc.to_string()).map_err(|source| ExportError::Io {
            path: d.path.clone(),
            source,
        })?;
    }
    Ok(out)
}
