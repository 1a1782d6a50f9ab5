//! The channel-agnostic bot: a message in, replies out. Knows nothing of Telegram or consoles.

use std::sync::Arc;

use crate::Lang;
use crate::knowledge::{Entry, EntryKind, Knowledge};
use crate::matcher::{Decision, Kind, Matcher};

/// A button under a reply; `data` comes back as [`Input::Button`] when pressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    pub data: String,
}

/// One reply message, as plain text; channels add their own markup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    pub text: String,
    pub buttons: Vec<Button>,
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            buttons: Vec::new(),
        }
    }
}

/// The knowledge base and the matcher over it, built once and shared by every channel.
pub struct Bot {
    knowledge: Arc<Knowledge>,
    matcher: Matcher,
}

impl Bot {
    pub fn new(knowledge: Arc<Knowledge>) -> Bot {
        let matcher = Matcher::new(&knowledge);
        Bot { knowledge, matcher }
    }

    pub fn knowledge(&self) -> &Knowledge {
        &self.knowledge
    }

    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// Replies to a free-text question.
    pub fn ask(&self, text: &str) -> Reply {
        let d = self.matcher.decide(text);
        self.render_decision(&d)
    }

    fn render_decision(&self, d: &Decision) -> Reply {
        let lang = d.lang;
        match d.kind {
            Kind::Answer => match d.id.as_deref().and_then(|id| self.knowledge.entry(id)) {
                Some(e) => self.render_entry(e, lang),
                None => self.render_unknown(lang),
            },
            Kind::Suggest => {
                let entries: Vec<&Entry> = d
                    .candidates
                    .iter()
                    .filter_map(|c| self.knowledge.entry(&c.id))
                    .collect();
                if entries.is_empty() {
                    return self.render_unknown(lang);
                }
                let mut text = match lang {
                    Lang::Zh => "我不太确定您问的是哪一项，您是不是想问：".to_string(),
                    Lang::En => "I'm not sure which topic you mean. Did you mean:".to_string(),
                };
                for (i, e) in entries.iter().enumerate() {
                    text.push_str(&format!("\n{}. {}", i + 1, self.label(e, lang)));
                }
                Reply {
                    text,
                    buttons: entries
                        .iter()
                        .map(|e| Button {
                            label: self.label(e, lang),
                            data: format!("entry:{}", e.id),
                        })
                        .collect(),
                }
            }
            Kind::None => self.render_unknown(lang),
        }
    }

    /// Shows one entry: its official text, and where the topic continues.
    pub fn render_entry(&self, e: &Entry, lang: Lang) -> Reply {
        let mut text = format!("【{}】\n{}", self.label(e, lang), e.answer.get(lang));
        if let Some(task) = e.task.and_then(|n| self.knowledge.task(n))
            && !task.metrics.is_empty()
        {
            text.push_str(match lang {
                Lang::Zh => "\n\n目标：",
                Lang::En => "\n\nTargets:",
            });
            for m in &task.metrics {
                let unit = match lang {
                    Lang::Zh => m.unit.symbol.to_string(),
                    Lang::En => m.unit.english().to_string(),
                };
                text.push_str(&format!(
                    "\n· {}: {} {}",
                    m.name.get(lang),
                    fmt_num(m.target),
                    unit
                ));
            }
        }
        if let Some(related) = e.related.as_deref().and_then(|r| self.knowledge.entry(r)) {
            text.push_str("\n\n");
            text.push_str(&match (lang, related.task) {
                (Lang::Zh, Some(n)) => format!("想了解进度？发送 /status {n}"),
                (Lang::En, Some(n)) => format!("Progress: send /status {n}"),
                (Lang::Zh, None) => format!("相关问答：{}", related.title.zh),
                (Lang::En, None) => format!("Related: {}", related.title.en),
            });
        }
        Reply::text(text)
    }

    fn render_unknown(&self, lang: Lang) -> Reply {
        Reply::text(match lang {
            Lang::Zh => {
                "抱歉，这个问题我还回答不了。我可以解答重庆高新区2024年20件重点民生实事的相关问题，例如：\n· 什么是错时共享停车泊位？\n· 老旧供水管网改造的目标是多少？\n· 每千人口托位数怎么计算？\n其他事项请咨询相关部门。"
            }
            Lang::En => {
                "Sorry, I can't answer that one. I can help with Chongqing High-tech Zone's 20 key livelihood projects for 2024, for example:\n· What is staggered-time shared parking?\n· What is the target for old water pipe renovation?\n· How is the number of childcare places per 1,000 people calculated?\nFor other matters, please contact the relevant department."
            }
        })
    }

    /// A short label for an entry: the task number and title, or the question.
    pub fn label(&self, e: &Entry, lang: Lang) -> String {
        match (e.kind, e.task, lang) {
            (EntryKind::Task, Some(n), Lang::Zh) => format!("第{n}项 {}", e.title.zh),
            (EntryKind::Task, Some(n), Lang::En) => format!("Task {n}: {}", e.title.en),
            _ => e.title.get(lang).to_string(),
        }
    }
}

/// A number without trailing zeros: 20, 12.5, 2.27.
pub fn fmt_num(v: f64) -> String {
    let s = format!("{:.4}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}
