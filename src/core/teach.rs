//! The knowledge base learns: `/unanswered` (the queue, numbered, with the nearest entries),
//! `/teach`, `/unteach`, `/taught`, "did you mean" picks and 👎 feeding the queue, and keeping
//! every replica's matchers in step with the phrasings in the store.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::Lang;
use crate::knowledge::Knowledge;
use crate::learn::{self, RegressionCase};
use crate::matcher::normalize::is_han;
use crate::matcher::{Decision, Kind};
use crate::store::{QueuedQuestion, StoreError, Taught, TeachOutcome, now_ms, stored_key};
use crate::text::clip;

use super::answers::label;
use super::{Answers, Button, Core, MAX_BUTTON_DATA, Message, Reply};

type Replies = Result<Vec<Reply>, StoreError>;

/// How often a replica asks the store whether phrasings changed: a taught phrasing reaches
/// every replica within this (plus a rebuild).
const POLL: Duration = Duration::from_secs(2);
/// A pick counts for the asker's question only this soon after they asked it.
const PICK_WINDOW_MS: i64 = 30 * 60 * 1000;
/// How long an answered question is remembered for a 👎 on it.
const ANSWER_MEMORY: Duration = Duration::from_secs(30 * 60);
/// Most answered questions remembered before the memory starts over.
const MAX_REMEMBERED: usize = 100_000;
/// Questions shown by `/unanswered`, and candidate entries under each.
const QUEUE_SHOWN: usize = 10;
const CANDIDATES_SHOWN: usize = 3;
/// Rows read for the queue: some turn out settled (answered now) and are skipped.
const QUEUE_READ: u32 = 60;
/// A phrasing is a question, not a document.
const MAX_PHRASING_CHARS: usize = 80;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn tr(lang: Lang, zh: impl Into<String>, en: impl Into<String>) -> String {
    match lang {
        Lang::Zh => zh.into(),
        Lang::En => en.into(),
    }
}

fn one(text: impl Into<String>) -> Replies {
    Ok(vec![Reply::text(text)])
}

/// What the matchers were built from.
pub(super) struct Learned {
    /// The store's phrasings version the matchers reflect.
    version: Mutex<Option<i64>>,
    checked: Mutex<Option<Instant>>,
    /// Per list: the ids of the taught phrasings in its matcher.
    built: Mutex<Vec<Vec<i64>>>,
    /// One rebuild at a time; the others keep answering with the matchers they have.
    rebuilding: tokio::sync::Mutex<()>,
    /// One teach at a time, so each guard compares against the phrasings before it.
    teaching: tokio::sync::Mutex<()>,
    cases: OnceLock<Arc<Vec<RegressionCase>>>,
}

impl Learned {
    pub(super) fn new(lists: usize) -> Learned {
        Learned {
            version: Mutex::new(None),
            checked: Mutex::new(None),
            built: Mutex::new(vec![Vec::new(); lists]),
            rebuilding: tokio::sync::Mutex::new(()),
            teaching: tokio::sync::Mutex::new(()),
            cases: OnceLock::new(),
        }
    }
}

/// A user's last answered question (masked) and the entry it got.
pub(super) struct LastAnswer {
    question: String,
    entry: String,
    at: Instant,
}

/// The entry a decision answers outright, if any.
fn answered(d: &Decision) -> Option<&str> {
    match d.kind {
        Kind::Answer => d.id.as_deref(),
        _ => None,
    }
}

/// Whether a queued question no longer needs an editor: it is answered now, with an entry
/// its askers picked (or with any entry, when nobody picked), and not with one they 👎'd.
fn settled(q: &QueuedQuestion, d: &Decision) -> bool {
    let Some(id) = answered(d) else {
        return false;
    };
    if q.disliked.iter().any(|(e, _)| e == id) {
        return false;
    }
    q.picked.is_empty() || q.picked.iter().any(|(e, _)| e == id)
}

/// Builds a list's matcher with its taught phrasings, off the async threads.
async fn build(kb: Arc<Knowledge>, taught: Vec<Taught>) -> Result<Answers, StoreError> {
    tokio::task::spawn_blocking(move || Answers::new(&learn::with_phrasings(&kb, &taught)))
        .await
        .map_err(|e| StoreError::Other(format!("building a matcher failed: {e}")))
}

impl Core {
    /// Brings the matchers in step with the phrasings in the store: at most every [`POLL`]
    /// a one-row version read; on a change, each list whose phrasings differ is rebuilt off
    /// the lock and swapped in. `force` checks now (start, after this replica's own change).
    pub(super) async fn refresh_phrasings(&self, force: bool) -> Result<(), StoreError> {
        if !force {
            let mut checked = lock(&self.learned.checked);
            if checked.is_some_and(|t| t.elapsed() < POLL) {
                return Ok(());
            }
            *checked = Some(Instant::now());
        }
        let _one = if force {
            self.learned.rebuilding.lock().await
        } else {
            match self.learned.rebuilding.try_lock() {
                Ok(g) => g,
                Err(_) => return Ok(()),
            }
        };
        let version = self.store.phrasings_version().await?;
        if !force && *lock(&self.learned.version) == Some(version) {
            return Ok(());
        }
        let taught = self.store.taught_phrasings().await?;
        for (i, kb) in self.lists.iter().enumerate() {
            let mine: Vec<Taught> = taught
                .iter()
                .filter(|t| t.year == kb.period.year)
                .cloned()
                .collect();
            let ids: Vec<i64> = mine.iter().map(|t| t.id).collect();
            if lock(&self.learned.built).get(i) == Some(&ids) {
                continue;
            }
            let answers = build(kb.clone(), mine).await?;
            self.swap(i, answers, ids);
        }
        *lock(&self.learned.version) = Some(version);
        Ok(())
    }

    fn swap(&self, index: usize, answers: Answers, ids: Vec<i64>) {
        if let Some(slot) = self.answers.get(index) {
            *slot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(answers);
        }
        if let Some(built) = lock(&self.learned.built).get_mut(index) {
            *built = ids;
        }
    }

    fn regression_cases(&self) -> Arc<Vec<RegressionCase>> {
        self.learned
            .cases
            .get_or_init(|| Arc::new(learn::regression_cases()))
            .clone()
    }

    // ---- evidence from residents -----------------------------------------------------------

    /// Remembers (masked) the question a user was just answered with `entry`, for a 👎.
    pub(super) fn remember_answer(&self, msg: &Message, question: &str, entry: &str) {
        let mut answered = lock(&self.answered);
        if answered.len() >= MAX_REMEMBERED {
            answered.clear();
        }
        answered.insert(
            (msg.sender.channel.to_string(), msg.sender.user_id.clone()),
            LastAnswer {
                question: crate::privacy::mask(question),
                entry: entry.to_string(),
                at: Instant::now(),
            },
        );
    }

    /// A 👎 on `entry`'s answer: the question that got it goes to the editors' queue.
    pub(super) async fn note_dislike(&self, msg: &Message, entry: &str) -> Result<(), StoreError> {
        let key = (msg.sender.channel.to_string(), msg.sender.user_id.clone());
        let question = lock(&self.answered)
            .get(&key)
            .filter(|a| a.entry == entry && a.at.elapsed() < ANSWER_MEMORY)
            .map(|a| a.question.clone());
        if let Some(q) = question {
            self.store
                .record_disliked(msg.sender.channel, &msg.sender.user_id, &q, entry)
                .await?;
        }
        Ok(())
    }

    /// An entry pressed after "did you mean": when it was one of the suggestions for the
    /// user's latest unanswered question, it is what they meant.
    pub(super) async fn note_pick(&self, msg: &Message, entry: &str) -> Result<(), StoreError> {
        let since = now_ms() - PICK_WINDOW_MS;
        let Some((row, question)) = self
            .store
            .latest_unanswered(msg.sender.channel, &msg.sender.user_id, since)
            .await?
        else {
            return Ok(());
        };
        let d = self.answers().decide(&question);
        if d.kind == Kind::Suggest && d.candidates.iter().any(|c| c.id == entry) {
            self.store.record_pick(row, entry).await?;
        }
        Ok(())
    }

    // ---- the queue ---------------------------------------------------------------------------

    /// `/unanswered`: recent questions the bot could not answer, only guessed at, or got a 👎
    /// for, deduplicated and numbered, each with the entries nearest to it; editors get a
    /// button per entry, and the numbers are kept for `/teach N`.
    pub(super) async fn unanswered(&self, msg: &Message, lang: Lang) -> Replies {
        let rights = self.rights(msg).await?;
        if !rights.any() && !rights.may_edit() {
            return one(not_allowed(lang, &msg.sender.user_id));
        }
        let kb = self.knowledge();
        let answers = self.answers();
        let mut shown: Vec<(QueuedQuestion, Decision)> = Vec::new();
        for q in self.store.teach_queue(QUEUE_READ).await? {
            let d = answers.decide(&q.question);
            if !settled(&q, &d) {
                shown.push((q, d));
            }
            if shown.len() >= QUEUE_SHOWN {
                break;
            }
        }
        let mut reply = Reply::text(tr(
            lang,
            "最常见的未能回答的问题（n× 为提问人数）：",
            "Most frequent questions the bot could not answer (n× = how many people asked):",
        ));
        if shown.is_empty() {
            reply.text.push_str(&tr(lang, "\n暂无。", "\nNone so far."));
        }
        for (n, (q, d)) in shown.iter().enumerate() {
            let n = n + 1;
            reply.text.push_str(&format!(
                "\n{n}. {}× {} ({})",
                q.asked,
                clip(&q.question, 120),
                crate::progress::fmt_time(q.last_at)
            ));
            for (id, count) in &q.picked {
                reply.text.push_str(&tr(
                    lang,
                    format!(" · 选了 {id} ×{count}"),
                    format!(" · picked {id} ×{count}"),
                ));
            }
            for (id, count) in &q.disliked {
                reply.text.push_str(&format!(" · 👎 {id} ×{count}"));
            }
            let mut ids: Vec<&str> = q.picked.iter().map(|(e, _)| e.as_str()).collect();
            ids.extend(d.id.as_deref().filter(|_| d.kind == Kind::Answer));
            ids.extend(d.candidates.iter().map(|c| c.id.as_str()));
            let mut candidates: Vec<&str> = Vec::new();
            for id in ids {
                if !candidates.contains(&id)
                    && !q.disliked.iter().any(|(e, _)| e == id)
                    && kb.entry(id).is_some()
                {
                    candidates.push(id);
                }
            }
            candidates.truncate(CANDIDATES_SHOWN);
            if !candidates.is_empty() {
                let names: Vec<String> = candidates
                    .iter()
                    .filter_map(|id| kb.entry(id))
                    .map(|e| format!("{} {}", e.id, clip(&label(e, lang), 24)))
                    .collect();
                reply
                    .text
                    .push_str(&format!("\n   → {}", names.join(" · ")));
            }
            if rights.may_edit() {
                for id in candidates {
                    let data = format!("teach:{}:{id}", q.row_id);
                    if data.len() <= MAX_BUTTON_DATA {
                        reply.buttons.push(Button {
                            label: format!("{n} → {id}"),
                            data,
                        });
                    }
                }
            }
        }
        if rights.may_edit() && !shown.is_empty() {
            reply.text.push_str(&tr(
                lang,
                "\n\n把问题教给条目：/teach 编号 条目，如 /teach 1 qa3（或点按钮）；撤销：/unteach，已教的问法：/taught",
                "\n\nTeach a question to an entry: /teach <number> <entry>, e.g. /teach 1 qa3 (or press a button); undo: /unteach; taught phrasings: /taught",
            ));
            let rows: Vec<i64> = shown.iter().map(|(q, _)| q.row_id).collect();
            self.store
                .save_editor_view(msg.sender.channel, &msg.sender.user_id, &rows)
                .await?;
        }
        Ok(vec![reply])
    }

    // ---- teaching ----------------------------------------------------------------------------

    /// `/teach N ENTRY`: question N of the editor's last `/unanswered` becomes a phrasing of
    /// ENTRY.
    pub(super) async fn teach(&self, msg: &Message, args: &str, lang: Lang) -> Replies {
        if !self.rights(msg).await?.may_edit() {
            return one(not_editor(lang));
        }
        let usage = tr(
            lang,
            "格式：/teach 编号 条目，如 /teach 3 qa3（编号见 /unanswered）",
            "Format: /teach <number> <entry>, e.g. /teach 3 qa3 (numbers as /unanswered shows them)",
        );
        let words: Vec<&str> = args.split_whitespace().collect();
        let [number, entry] = words.as_slice() else {
            return one(refused(lang, &usage));
        };
        let n = match number.trim_start_matches('#').parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return one(refused(
                    lang,
                    &tr(
                        lang,
                        format!(
                            "“{}”不是 /unanswered 列表里的编号。\n{usage}",
                            clip(number, 20)
                        ),
                        format!(
                            "\"{}\" is not a number from the /unanswered list.\n{usage}",
                            clip(number, 20)
                        ),
                    ),
                ));
            }
        };
        let Some(view) = self
            .store
            .editor_view(msg.sender.channel, &msg.sender.user_id)
            .await?
        else {
            return one(refused(
                lang,
                &tr(
                    lang,
                    "请先发送 /unanswered：编号指的是它给您列出的问题。",
                    "Send /unanswered first: the numbers are those of the list it shows you.",
                ),
            ));
        };
        let Some(&row) = view.get(n - 1) else {
            return one(refused(
                lang,
                &tr(
                    lang,
                    format!(
                        "您上次的 /unanswered 列表里没有第 {n} 个问题（共 {} 个）。",
                        view.len()
                    ),
                    format!(
                        "Your last /unanswered list has no question {n} (it had {}).",
                        view.len()
                    ),
                ),
            ));
        };
        self.teach_row(msg, row, entry, lang).await
    }

    /// A `teach:ROW:ENTRY` button under `/unanswered`: the presser's own rights apply.
    pub(super) async fn teach_button(&self, msg: &Message, rest: &str, lang: Lang) -> Replies {
        if !self.rights(msg).await?.may_edit() {
            return one(not_editor(lang));
        }
        let parsed = rest
            .split_once(':')
            .and_then(|(row, entry)| Some((row.parse::<i64>().ok()?, entry)));
        match parsed {
            Some((row, entry)) => self.teach_row(msg, row, entry, lang).await,
            None => one(tr(
                lang,
                "这个按钮已失效，请重新发送 /unanswered。",
                "That button is no longer valid; send /unanswered again.",
            )),
        }
    }

    async fn teach_row(&self, msg: &Message, row: i64, entry: &str, lang: Lang) -> Replies {
        let Some(question) = self.store.unanswered_question(row).await? else {
            return one(refused(
                lang,
                &tr(
                    lang,
                    "这个问题已不再保存（提问人要求删除或已过保存期限）。请重新发送 /unanswered。",
                    "That question is no longer kept (deleted at the asker's request or after the retention period). Send /unanswered again.",
                ),
            ));
        };
        let kb = self.knowledge();
        let entry_id = entry.trim().to_lowercase();
        let Some(entry) = kb.entry(&entry_id) else {
            let ids: Vec<&str> = kb.entries.iter().map(|e| e.id.as_str()).collect();
            return one(refused(
                lang,
                &tr(
                    lang,
                    format!(
                        "没有“{}”这个条目。可用的条目：{}",
                        clip(entry, 30),
                        ids.join(" ")
                    ),
                    format!(
                        "There is no entry \"{}\". Entries: {}",
                        clip(entry, 30),
                        ids.join(" ")
                    ),
                ),
            ));
        };
        let phrasing = question.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(problem) = unfit(&phrasing, lang) {
            return one(refused(lang, &problem));
        }
        let _one = self.learned.teaching.lock().await;
        self.refresh_phrasings(true).await?;
        let index = self
            .lists
            .iter()
            .position(|k| std::ptr::eq(&**k, kb))
            .unwrap_or_default();
        let current = self.answers_at(index);
        let shown = format!("“{}”", clip(&phrasing, 60));
        let name = format!("{} {}", entry.id, label(entry, lang));
        if answered(&current.decide(&phrasing)) == Some(entry.id.as_str()) {
            return one(tr(
                lang,
                format!("{shown} 已经会回答为 {name}，不用再教。本次没有改动。"),
                format!(
                    "{shown} is already answered with {name}; nothing to teach. Nothing was changed."
                ),
            ));
        }
        let year = kb.period.year;
        let mut taught: Vec<Taught> = self
            .store
            .taught_phrasings()
            .await?
            .into_iter()
            .filter(|t| t.year == year)
            .collect();
        let key = stored_key(&phrasing);
        if let Some(t) = taught
            .iter()
            .find(|t| t.entry_id == entry.id && stored_key(&t.phrasing) == key)
        {
            return one(already_taught(lang, t.id, &shown, &name));
        }
        let ids: Vec<i64> = taught.iter().map(|t| t.id).collect();
        let by = msg.sender.actor();
        let phrasing_lang = if phrasing.chars().any(is_han) {
            Lang::Zh
        } else {
            Lang::En
        };
        taught.push(Taught {
            id: 0,
            year,
            entry_id: entry.id.clone(),
            lang: phrasing_lang,
            phrasing: phrasing.clone(),
            by: by.clone(),
            at: now_ms(),
            removed: None,
        });
        let cases = self.regression_cases();
        let base = self.lists.iter().nth(index).cloned();
        let Some(base) = base else {
            return Err(StoreError::Other("the list being taught is gone".into()));
        };
        let (candidate, broken) = tokio::task::spawn_blocking(move || {
            let candidate = Answers::new(&learn::with_phrasings(&base, &taught));
            let broken = learn::guard(&cases, current.matcher(), candidate.matcher());
            (candidate, broken)
        })
        .await
        .map_err(|e| StoreError::Other(format!("checking a phrasing failed: {e}")))?;
        if let Some(b) = broken {
            let what = |id: &Option<String>| match id.as_deref().and_then(|id| kb.entry(id)) {
                Some(e) => tr(
                    lang,
                    format!("回答 {} {}", e.id, label(e, lang)),
                    format!("the answer {} {}", e.id, label(e, lang)),
                ),
                None => tr(lang, "不直接回答", "no direct answer"),
            };
            return one(tr(
                lang,
                format!(
                    "没有教：{shown} → {name} 会改变测试集中一个问题的回答。\n{} 第 {} 行：“{}”\n现在：{}；教了以后：{}。\n本次没有改动。",
                    b.set,
                    b.case.line,
                    clip(&b.case.question, 80),
                    what(&b.before),
                    what(&b.after)
                ),
                format!(
                    "Not taught: {shown} → {name} would change the answer to a test case.\n{} line {}: \"{}\"\nNow: {}; after teaching: {}.\nNothing was changed.",
                    b.set,
                    b.case.line,
                    clip(&b.case.question, 80),
                    what(&b.before),
                    what(&b.after)
                ),
            ));
        }
        match self
            .store
            .teach(year, &entry.id, phrasing_lang, &phrasing, &by)
            .await?
        {
            TeachOutcome::AlreadyTaught(id) => one(already_taught(lang, id, &shown, &name)),
            TeachOutcome::Taught(id) => {
                let mut ids = ids;
                ids.push(id);
                self.swap(index, candidate, ids);
                one(tr(
                    lang,
                    format!(
                        "✅ 已教会（#{id}）：{shown} → {name}\n本实例立即生效，其他实例几秒内生效。撤销：/unteach {id}"
                    ),
                    format!(
                        "✅ Taught (#{id}): {shown} → {name}\nIn effect here now, and on every other replica within seconds. Undo: /unteach {id}"
                    ),
                ))
            }
        }
    }

    /// `/unteach N` or `/unteach <phrasing>`: takes a taught phrasing out of use; the record
    /// keeps who taught it and who removed it.
    pub(super) async fn unteach(&self, msg: &Message, args: &str, lang: Lang) -> Replies {
        if !self.rights(msg).await?.may_edit() {
            return one(not_editor(lang));
        }
        let arg = args.trim();
        if arg.is_empty() {
            return one(refused(
                lang,
                &tr(
                    lang,
                    "格式：/unteach 编号 或 /unteach 问法（编号见 /taught）",
                    "Format: /unteach <number> or /unteach <phrasing> (numbers as /taught shows them)",
                ),
            ));
        }
        let number = arg.trim_start_matches('#');
        let targets: Vec<i64> = if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
        {
            number.parse().into_iter().collect()
        } else {
            let key = stored_key(arg);
            self.store
                .taught_phrasings()
                .await?
                .into_iter()
                .filter(|t| stored_key(&t.phrasing) == key)
                .map(|t| t.id)
                .collect()
        };
        let mut removed = Vec::new();
        for id in targets {
            if let Some(t) = self.store.unteach(id, &msg.sender.actor()).await? {
                removed.push(t);
            }
        }
        if removed.is_empty() {
            return one(refused(
                lang,
                &tr(
                    lang,
                    format!(
                        "没有正在使用的已教问法“{}”。发送 /taught 查看。",
                        clip(arg, 40)
                    ),
                    format!(
                        "No taught phrasing \"{}\" is in use. Send /taught to see them.",
                        clip(arg, 40)
                    ),
                ),
            ));
        }
        self.refresh_phrasings(true).await?;
        let mut text = tr(lang, "↩️ 已撤销：", "↩️ Removed:");
        for t in &removed {
            text.push_str(&format!(
                "\n#{} “{}” → {}",
                t.id,
                clip(&t.phrasing, 60),
                t.entry_id
            ));
        }
        text.push_str(&tr(
            lang,
            "\n记录保留了谁教的、谁撤销的。",
            "\nThe record keeps who taught and who removed it.",
        ));
        one(text)
    }

    /// `/taught`: the phrasings in use, newest first.
    pub(super) async fn taught(&self, msg: &Message, lang: Lang) -> Replies {
        if !self.rights(msg).await?.may_edit() {
            return one(not_editor(lang));
        }
        let mut taught = self.store.taught_phrasings().await?;
        taught.reverse();
        let mut text = tr(lang, "正在使用的已教问法：", "Taught phrasings in use:");
        if taught.is_empty() {
            text.push_str(&tr(lang, "暂无。", " none."));
        }
        for t in taught.iter().take(30) {
            text.push_str(&format!(
                "\n#{} “{}” → {} ({}, {})",
                t.id,
                clip(&t.phrasing, 60),
                t.entry_id,
                crate::progress::updater_name(&t.by.name, lang),
                crate::progress::fmt_time(t.at)
            ));
        }
        text.push_str(&tr(
            lang,
            "\n撤销：/unteach 编号",
            "\nTo remove one: /unteach <number>",
        ));
        one(text)
    }
}

/// Why a stored question cannot be a phrasing, if it cannot.
fn unfit(phrasing: &str, lang: Lang) -> Option<String> {
    // Masked personal information (138****5678, a***@mail) would teach the bot stars.
    if phrasing.contains("***") {
        return Some(tr(
            lang,
            "这个问题含有已遮盖的个人信息，不能作为问法。",
            "That question held personal information (masked), so it cannot be a phrasing.",
        ));
    }
    if phrasing.chars().count() > MAX_PHRASING_CHARS {
        return Some(tr(
            lang,
            format!("这个问题太长（超过 {MAX_PHRASING_CHARS} 字），不适合作为问法。"),
            format!(
                "That question is too long for a phrasing (over {MAX_PHRASING_CHARS} characters)."
            ),
        ));
    }
    let meaningful = phrasing
        .chars()
        .filter(|c| c.is_alphanumeric() || is_han(*c))
        .count();
    if meaningful < 2 {
        return Some(tr(
            lang,
            "这个问题没有可以学习的文字。",
            "That question has no words to learn from.",
        ));
    }
    None
}

fn refused(lang: Lang, reason: &str) -> String {
    tr(
        lang,
        format!("{reason}\n本次没有改动。"),
        format!("{reason}\nNothing was changed."),
    )
}

fn already_taught(lang: Lang, id: i64, shown: &str, name: &str) -> String {
    tr(
        lang,
        format!("{shown} 已经教给 {name}（#{id}）。本次没有改动。"),
        format!("{shown} is already taught to {name} (#{id}). Nothing was changed."),
    )
}

fn not_editor(lang: Lang) -> String {
    tr(
        lang,
        "只有管理员和编辑可以教机器人新的问法，本次没有改动。如需编辑权限请联系管理员。",
        "Only admins and editors may teach the bot phrasings; nothing was changed. Ask an admin for editor rights.",
    )
}

fn not_allowed(lang: Lang, user_id: &str) -> String {
    tr(
        lang,
        format!(
            "只有经授权的工作人员和编辑可以查看未能回答的问题。您的用户ID是 {user_id}，如需授权请联系管理员。"
        ),
        format!(
            "Only authorised officers and editors can see unanswered questions. Your user id is {user_id}: give it to an admin to be granted rights."
        ),
    )
}
