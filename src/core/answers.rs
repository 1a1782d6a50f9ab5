//! Answers to free-text questions: the matcher's decision rendered as a reply.

use crate::Lang;
use crate::knowledge::{Entry, EntryKind, Knowledge};
use crate::matcher::{Decision, Kind, Matcher};

use super::{Button, Reply};

/// The matcher over the knowledge base, built once and shared by every channel.
pub struct Answers {
    matcher: Matcher,
}

/// What a free-text question turned out to be.
pub enum Outcome<'k> {
    /// One entry, confidently; `progress` when the question asks how far a task is.
    Entry {
        entry: &'k Entry,
        progress: bool,
    },
    Suggest(Vec<&'k Entry>),
    Unknown,
}

impl Answers {
    pub fn new(knowledge: &Knowledge) -> Answers {
        Answers {
            matcher: Matcher::new(knowledge),
        }
    }

    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    pub fn decide(&self, text: &str) -> Decision {
        self.matcher.decide(text)
    }

    pub fn outcome<'k>(&self, knowledge: &'k Knowledge, d: &Decision) -> Outcome<'k> {
        match d.kind {
            Kind::Answer => match d.id.as_deref().and_then(|id| knowledge.entry(id)) {
                Some(entry) => Outcome::Entry {
                    entry,
                    progress: d.intent == crate::matcher::Intent::Progress,
                },
                None => Outcome::Unknown,
            },
            Kind::Suggest => {
                let entries: Vec<&Entry> = d
                    .candidates
                    .iter()
                    .filter_map(|c| knowledge.entry(&c.id))
                    .collect();
                if entries.is_empty() {
                    Outcome::Unknown
                } else {
                    Outcome::Suggest(entries)
                }
            }
            Kind::None => Outcome::Unknown,
        }
    }
}

/// "Did you mean": the likely entries as numbered lines and as buttons. A button carries the
/// question's language, so the pressed entry is shown in it.
pub fn suggestions(entries: &[&Entry], lang: Lang) -> Reply {
    // A single candidate is a yes/no question, not a list of one.
    if let [only] = entries {
        return Reply {
            text: match lang {
                Lang::Zh => format!(
                    "是不是想问：{}？",
                    label(only, lang).trim_end_matches(['？', '?'])
                ),
                Lang::En => format!("Did you mean: {}?", label(only, lang).trim_end_matches('?')),
            },
            buttons: vec![Button {
                label: match lang {
                    Lang::Zh => "是的".to_string(),
                    Lang::En => "Yes".to_string(),
                },
                data: format!("entry:{}:{}", only.id, lang.code()),
            }],
            ..Reply::default()
        };
    }
    let mut text = match lang {
        Lang::Zh => "我不太确定您问的是哪一项，您是不是想问：".to_string(),
        Lang::En => "I'm not sure which topic you mean. Did you mean:".to_string(),
    };
    for (i, e) in entries.iter().enumerate() {
        text.push_str(&format!("\n{}. {}", i + 1, label(e, lang)));
    }
    Reply {
        text,
        buttons: entries
            .iter()
            .map(|e| Button {
                label: label(e, lang),
                data: format!("entry:{}:{}", e.id, lang.code()),
            })
            .collect(),
        ..Reply::default()
    }
}

/// One entry: its official text, a task's live status (rendered by the caller from the store),
/// and where the topic continues.
pub fn entry(knowledge: &Knowledge, e: &Entry, lang: Lang, status: Option<&str>) -> Reply {
    let mut text = format!("【{}】\n{}", label(e, lang), e.answer.get(lang));
    if let Some(status) = status {
        text.push_str(match lang {
            Lang::Zh => "\n\n当前进度：\n",
            Lang::En => "\n\nProgress so far:\n",
        });
        text.push_str(status);
    }
    if let Some(related) = e.related.as_deref().and_then(|r| knowledge.entry(r)) {
        text.push_str("\n\n");
        text.push_str(&match (lang, related.task) {
            (Lang::Zh, Some(n)) => format!("想了解进度？发送 /status {n}"),
            (Lang::En, Some(n)) => format!("Progress: send /status {n}"),
            (Lang::Zh, None) => format!("相关问答：{}", related.title.zh),
            (Lang::En, None) => format!("Related: {}", related.title.en),
        });
    }
    Reply {
        text,
        buttons: feedback_buttons(&e.id),
        ..Reply::default()
    }
}

/// 👍/👎 under an answer; presses are stored per user and entry.
pub fn feedback_buttons(id: &str) -> Vec<Button> {
    vec![
        Button {
            label: "👍".into(),
            data: format!("fb:up:{id}"),
        },
        Button {
            label: "👎".into(),
            data: format!("fb:down:{id}"),
        },
    ]
}

pub fn unknown(lang: Lang) -> Reply {
    Reply::text(match lang {
        Lang::Zh => {
            "抱歉，这个问题我还回答不了。我可以解答重庆高新区2024年20件重点民生实事的相关问题，例如：\n· 什么是错时共享停车泊位？\n· 老旧供水管网改造的目标是多少？\n· 每千人口托位数怎么计算？\n发送 /tasks 查看全部20项任务的进度。其他事项请咨询相关部门。"
        }
        Lang::En => {
            "Sorry, I can't answer that one. I can help with Chongqing High-tech Zone's 20 key livelihood projects for 2024, for example:\n· What is staggered-time shared parking?\n· What is the target for old water pipe renovation?\n· How is the number of childcare places per 1,000 people calculated?\nSend /tasks to see the progress of all 20 tasks. For other matters, please contact the relevant department."
        }
    })
}

/// A short label for an entry: the task number and title, or the question.
pub fn label(e: &Entry, lang: Lang) -> String {
    match (e.kind, e.task, lang) {
        (EntryKind::Task, Some(n), Lang::Zh) => format!("第{n}项 {}", e.title.zh),
        (EntryKind::Task, Some(n), Lang::En) => format!("Task {n}: {}", e.title.en),
        _ => e.title.get(lang).to_string(),
    }
}
