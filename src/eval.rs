//! Scoring the matcher on a question set in the `expected<TAB>question` format of
//! `tests/data/dev.tsv`: `expected` is an id, several ids joined by `|` (any is right), or
//! `none` (out of scope: must not be answered confidently).

use std::fmt;

use crate::matcher::{Decision, Kind, Matcher};

#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub line: usize,
    /// Acceptable ids; empty means out of scope.
    pub expected: Vec<String>,
    pub question: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Reads a question set; `#` lines and blank lines are skipped.
pub fn parse(text: &str) -> Result<Vec<Case>, ParseError> {
    let mut cases = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((expected, question)) = line.split_once('\t') else {
            return Err(ParseError {
                line: line_no,
                message: "expected `id<TAB>question`".into(),
            });
        };
        let expected = expected.trim();
        if expected.is_empty() {
            return Err(ParseError {
                line: line_no,
                message: "the expected id is empty".into(),
            });
        }
        let expected = if expected == "none" {
            Vec::new()
        } else {
            expected.split('|').map(|s| s.trim().to_string()).collect()
        };
        cases.push(Case {
            line: line_no,
            expected,
            question: question.to_string(),
        });
    }
    Ok(cases)
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub case: Case,
    pub decision: Decision,
    /// A confident wrong answer (the worst outcome), as opposed to a miss.
    pub wrong: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub cases: usize,
    pub in_scope: usize,
    pub out_of_scope: usize,
    pub correct: usize,
    pub wrong: usize,
    pub refused: usize,
    pub failures: Vec<Failure>,
}

impl Report {
    /// Answered right, over in-scope cases.
    pub fn correct_pct(&self) -> f64 {
        pct(self.correct, self.in_scope)
    }
    /// Confident wrong answers plus answered out-of-scope cases, over all cases.
    pub fn wrong_pct(&self) -> f64 {
        pct(self.wrong, self.cases)
    }
    /// Out-of-scope cases not answered, over out-of-scope cases.
    pub fn refused_pct(&self) -> f64 {
        pct(self.refused, self.out_of_scope)
    }
}

fn pct(n: usize, d: usize) -> f64 {
    if d == 0 {
        100.0
    } else {
        100.0 * n as f64 / d as f64
    }
}

pub fn run(matcher: &Matcher, cases: &[Case]) -> Report {
    let mut r = Report {
        cases: cases.len(),
        ..Report::default()
    };
    for case in cases {
        let d = matcher.decide(&case.question);
        let answered = d.kind == Kind::Answer;
        if case.expected.is_empty() {
            r.out_of_scope += 1;
            if answered {
                r.wrong += 1;
                r.failures.push(Failure {
                    case: case.clone(),
                    decision: d,
                    wrong: true,
                });
            } else {
                r.refused += 1;
            }
            continue;
        }
        r.in_scope += 1;
        let right = answered && d.id.as_ref().is_some_and(|id| case.expected.contains(id));
        if right {
            r.correct += 1;
        } else {
            if answered {
                r.wrong += 1;
            }
            r.failures.push(Failure {
                case: case.clone(),
                decision: d,
                wrong: answered,
            });
        }
    }
    r
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "cases: {} ({} in scope, {} out of scope)",
            self.cases, self.in_scope, self.out_of_scope
        )?;
        writeln!(
            f,
            "correct: {:.1}%  ({}/{})",
            self.correct_pct(),
            self.correct,
            self.in_scope
        )?;
        writeln!(
            f,
            "wrong:   {:.1}%  ({}/{})",
            self.wrong_pct(),
            self.wrong,
            self.cases
        )?;
        writeln!(
            f,
            "refused: {:.1}%  ({}/{} out of scope)",
            self.refused_pct(),
            self.refused,
            self.out_of_scope
        )?;
        if !self.failures.is_empty() {
            writeln!(f, "failures:")?;
        }
        for x in &self.failures {
            let expected = if x.case.expected.is_empty() {
                "none".to_string()
            } else {
                x.case.expected.join("|")
            };
            let got = match (&x.decision.kind, &x.decision.id) {
                (Kind::Answer, Some(id)) => format!("answer {id}"),
                (k, _) => {
                    let c: Vec<String> = x
                        .decision
                        .candidates
                        .iter()
                        .map(|c| format!("{} {:.2}", c.id, c.score))
                        .collect();
                    format!(
                        "{} [{}]",
                        serde_json::to_string(k)
                            .unwrap_or_default()
                            .trim_matches('"'),
                        c.join(", ")
                    )
                }
            };
            let mark = if x.wrong { "WRONG" } else { "miss " };
            writeln!(
                f,
                "  {mark} line {:>3}  expected {expected:<12} got {got:<40} {}",
                x.case.line, x.case.question
            )?;
        }
        Ok(())
    }
}
