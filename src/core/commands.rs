//! What each command and button does. Every path returns replies; none panics, and a refused
//! input changes nothing.

use crate::Lang;
use crate::knowledge::{Entry, EntryKind, Knowledge, Task};
use crate::progress::model;
use crate::progress::{
    self, NumberProblem, TaskRef, UpdateError, UpdatePlan, fmt_num, fmt_time, item, stage_name,
    with_unit,
};
use crate::store::{Actor, AuditEntry, AuditKind, Change, Officer, Stage, StoreError, UndoOutcome};
use crate::text::clip;

use super::answers::{self, Outcome};
use super::identity::{self, Identity};
use super::{Button, Core, Input, MAX_BUTTON_DATA, MAX_TEXT_CHARS, Message, Reply, texts};

type Replies = Result<Vec<Reply>, StoreError>;

/// Channels that can only answer (a WeChat Official Account may not message a user first), so
/// a subscription there could never be delivered.
const PASSIVE_CHANNELS: &[&str] = &["wechat"];

fn one(text: impl Into<String>) -> Replies {
    Ok(vec![Reply::text(text)])
}

fn tr(lang: Lang, zh: impl Into<String>, en: impl Into<String>) -> String {
    match lang {
        Lang::Zh => zh.into(),
        Lang::En => en.into(),
    }
}

/// A command's name without `/` and `@botname`, lowercased, and its arguments.
fn split_command(text: &str) -> Option<(String, &str)> {
    let t = text.trim_start();
    let body = t.strip_prefix('/').or_else(|| t.strip_prefix('／'))?;
    let (head, args) = match body.find(char::is_whitespace) {
        Some(i) => (&body[..i], body[i..].trim()),
        None => (body, ""),
    };
    let name = head.split('@').next().unwrap_or(head).to_lowercase();
    Some((name, args))
}

/// What the sender may do, from `ADMIN_IDS` and the store's grants.
pub(super) struct Rights {
    pub(super) admin: bool,
    pub(super) officer: Option<Officer>,
    /// May teach the bot phrasings (`/grant ID editor`).
    pub(super) editor: bool,
}

impl Rights {
    /// Who a change is recorded as: the sender's ids for the audit trail, and as the name
    /// residents see, the officer's department when the grant gave one.
    fn actor(&self, msg: &Message) -> Actor {
        let mut actor = msg.sender.actor();
        if let Some(department) = self.officer.as_ref().and_then(|o| o.department.clone()) {
            actor.name = department;
        }
        actor
    }

    pub(super) fn any(&self) -> bool {
        self.admin || self.officer.is_some()
    }

    /// Admins and editors may teach and unteach phrasings.
    pub(super) fn may_edit(&self) -> bool {
        self.admin || self.editor
    }

    fn may_update(&self, task: u32) -> bool {
        self.admin
            || self
                .officer
                .as_ref()
                .is_some_and(|o| o.tasks.is_empty() || o.tasks.contains(&task))
    }
}

impl Core {
    /// `lang` is the language to answer commands and buttons in; a question is answered in
    /// its own, as the matcher reads it.
    pub(super) async fn dispatch(&self, msg: &Message, lang: Lang) -> Replies {
        match &msg.input {
            Input::Button(data) => self.button(msg, data, lang).await,
            Input::Text(text) => {
                if text.chars().count() > MAX_TEXT_CHARS {
                    return one(texts::too_long(lang, MAX_TEXT_CHARS));
                }
                match split_command(text) {
                    Some((name, args)) => self.command(msg, &name, args, lang).await,
                    None => self.question(msg, text, lang).await,
                }
            }
        }
    }

    pub(super) async fn rights(&self, msg: &Message) -> Result<Rights, StoreError> {
        let s = &msg.sender;
        Ok(Rights {
            admin: self.admins.contains(s.channel, &s.user_id),
            officer: self.store.officer(s.channel, &s.user_id).await?,
            editor: self.store.is_editor(s.channel, &s.user_id).await?,
        })
    }

    async fn command(&self, msg: &Message, name: &str, args: &str, lang: Lang) -> Replies {
        match name {
            // A deep link (`t.me/<bot>?start=task14`) arrives as `/start task14` and opens
            // that task; any other payload falls back to the welcome.
            "start" => match deep_link_task(args).filter(|n| self.knowledge().task(*n).is_some()) {
                Some(n) => self.status(self.knowledge(), &n.to_string(), lang).await,
                None => Ok(vec![self.welcome(lang)]),
            },
            "help" | "帮助" => {
                let rights = self.rights(msg).await?;
                let mut help = texts::help(lang, rights.officer.is_some(), rights.admin);
                if rights.may_edit() {
                    help.push_str(texts::editor_help(lang));
                }
                one(help)
            }
            "tasks" | "任务" => match self.list_named(args, lang) {
                Ok((kb, _)) => self.tasks(kb, lang).await,
                Err(reply) => Ok(vec![reply]),
            },
            "status" | "进度" => match self.list_named(args, lang) {
                Ok((kb, args)) => self.status(kb, args, lang).await,
                Err(reply) => Ok(vec![reply]),
            },
            "update" | "更新" => match self.list_named(args, lang) {
                Ok((kb, args)) => self.update(kb, msg, args, lang).await,
                Err(reply) => Ok(vec![reply]),
            },
            "undo" | "撤销" => self.undo(msg, lang).await,
            "history" | "记录" => match self.list_named(args, lang) {
                Ok((kb, args)) => self.history(kb, msg, args, lang).await,
                Err(reply) => Ok(vec![reply]),
            },
            "grant" => self.grant(msg, args, lang).await,
            "revoke" => self.revoke(msg, args, lang).await,
            "officers" => self.officers(msg, lang).await,
            "subscribe" | "订阅" => self.subscribe(msg, args, lang, true).await,
            "unsubscribe" | "取消订阅" => self.subscribe(msg, args, lang, false).await,
            "pending" | "待办" => self.pending(msg, lang).await,
            "export" | "导出" => self.export(msg, lang).await,
            "unanswered" | "未回答" => self.unanswered(msg, lang).await,
            "teach" | "教" => self.teach(msg, args, lang).await,
            "unteach" | "取消教" => self.unteach(msg, args, lang).await,
            "taught" | "已教" => self.taught(msg, lang).await,
            "privacy" | "隐私" => one(self.privacy_notice(lang)),
            "forget" | "删除我的信息" => self.forget_me(msg, lang).await,
            "whoami" | "id" | "myid" => one(tr(
                lang,
                format!(
                    "您在 {} 上的用户ID：{}\n申请更新权限时，请把它告诉管理员。",
                    msg.sender.channel, msg.sender.user_id
                ),
                format!(
                    "Your user id on {}: {}\nGive it to an admin to be granted update rights.",
                    msg.sender.channel, msg.sender.user_id
                ),
            )),
            _ => one(tr(
                lang,
                format!(
                    "没有 /{} 这个命令。发送 /help 查看可用命令。",
                    clip(name, 30)
                ),
                format!(
                    "There is no /{} command. Send /help to see what I can do.",
                    clip(name, 30)
                ),
            )),
        }
    }

    // ---- privacy and a way to a person -------------------------------------------------------

    async fn forget_me(&self, msg: &Message, lang: Lang) -> Replies {
        let f = self.forget(msg.sender.channel, &msg.sender.user_id).await?;
        one(tr(
            lang,
            format!(
                "已删除我们保存的有关您的信息：{} 条未能回答的提问、{} 条对回答的评价、{} 项订阅。工作人员的进度更新记录作为公开履职记录保留。",
                f.questions, f.feedback, f.subscriptions
            ),
            format!(
                "Deleted what we kept about you: {} unanswered question(s), {} rating(s) of answers, {} subscription(s). Officers' update records stay as the public record of their duty.",
                f.questions, f.feedback, f.subscriptions
            ),
        ))
    }

    /// Where a person can be reached about `task` (its unit and contact when faq/ names one),
    /// else the 12345 hotline.
    fn contact_line(&self, task: Option<u32>, lang: Lang) -> String {
        let contact = task.and_then(|n| Some((n, self.knowledge().contact(n)?)));
        match contact {
            Some((n, c)) => tr(
                lang,
                format!(
                    "第{n}项的责任单位：{}，联系方式：{}。也可拨打12345政务服务便民热线。",
                    c.unit_zh, c.contact
                ),
                format!(
                    "Task {n} is the responsibility of {}: {}. You can also call the 12345 government service hotline.",
                    c.unit_en, c.contact
                ),
            ),
            None => texts::hotline(lang).to_string(),
        }
    }

    /// The one task a question names by number or title words, if exactly one.
    fn task_named_in(&self, text: &str, entries: &[&Entry]) -> Option<u32> {
        let mut tasks: Vec<u32> = progress::tasks_named(self.knowledge(), text)
            .iter()
            .map(|t| t.number)
            .collect();
        if tasks.is_empty() {
            tasks = entries
                .iter()
                .filter_map(|e| self.task_of(self.knowledge(), e).map(|t| t.number))
                .collect();
        }
        tasks.dedup();
        match tasks.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// "转人工", "人工客服", "talk to a person": where to find one.
    fn human(&self, lang: Lang) -> Replies {
        let mut text = match &self.help_contact {
            Some(c) => tr(
                lang,
                format!("需要人工帮助，请联系：{c}"),
                format!("To reach a person: {c}"),
            ),
            None => String::new(),
        };
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(texts::hotline(lang));
        one(text)
    }

    // ---- questions --------------------------------------------------------------------------

    async fn question(&self, msg: &Message, text: &str, lang: Lang) -> Replies {
        if text.trim().is_empty() {
            return Ok(vec![self.welcome(lang)]);
        }
        if asks_for_a_person(text) {
            return self.human(lang);
        }
        let d = self.answers().decide(text);
        let lang = d.lang;
        let outcome = self.answers().outcome(self.knowledge(), &d);
        self.metrics().decision(match &outcome {
            Outcome::Entry { .. } => crate::metrics::Decision::Answer,
            Outcome::Suggest(_) => crate::metrics::Decision::Suggest,
            Outcome::Unknown => crate::metrics::Decision::None,
        });
        match outcome {
            Outcome::Entry { entry, progress } => {
                self.remember_answer(msg, text, &entry.id);
                let mut reply = match self.part_reply(entry, text, lang).await? {
                    Some(part) => part,
                    None => self.entry_reply(entry, lang, progress).await?,
                };
                // The list as a whole: the entry that counts the tasks, then each task's status.
                if d.list {
                    reply.text.push_str("\n\n");
                    reply
                        .text
                        .push_str(&self.task_list(self.knowledge(), lang).await?);
                }
                if d.procedure {
                    let task = self.task_of(self.knowledge(), entry).map(|t| t.number);
                    reply.text.push_str("\n\n");
                    reply.text.push_str(&self.contact_line(task, lang));
                }
                Ok(vec![reply])
            }
            Outcome::Suggest(entries) => {
                self.store
                    .record_unanswered(msg.sender.channel, &msg.sender.user_id, text)
                    .await?;
                let mut reply = answers::suggestions(&entries, lang);
                // How to apply or sign up is never in the texts: say who can tell.
                if d.procedure {
                    let task = self.task_named_in(text, &entries);
                    reply.text.push_str("\n\n");
                    reply.text.push_str(&self.contact_line(task, lang));
                }
                Ok(vec![reply])
            }
            Outcome::Unknown => {
                self.store
                    .record_unanswered(msg.sender.channel, &msg.sender.user_id, text)
                    .await?;
                let mut reply = answers::unknown(lang);
                let task = self.task_named_in(text, &[]);
                reply.text.push('\n');
                reply.text.push_str(&self.contact_line(task, lang));
                Ok(vec![reply])
            }
        }
    }

    /// The part of a task a question asked about ("虎溪河缓冲带多长": the buffer zone's line,
    /// target and figure), with buttons for the whole task and its official text; `None` when
    /// the question names no particular item of it. Keeps a phone's screen to what was asked.
    async fn part_reply(
        &self,
        entry: &Entry,
        question: &str,
        lang: Lang,
    ) -> Result<Option<Reply>, StoreError> {
        let kb = self.knowledge();
        let Some(task) = entry.task.and_then(|n| kb.task(n)) else {
            return Ok(None);
        };
        let asked = progress::items_asked(task, question);
        if asked.is_empty() {
            return Ok(None);
        }
        let states = self.store.states(kb.period.year, Some(task.number)).await?;
        let part = progress::render_part(task, &asked, &states, &kb.period, self.now(), lang);
        let all = progress::items(task).count();
        let mut reply = Reply::text(format!(
            "{part}\n\n{}",
            tr(
                lang,
                format!("第{}项共 {all} 个指标和目标。", task.number),
                format!("Task {} has {all} figures and goals.", task.number),
            )
        ));
        reply.buttons = vec![
            Button {
                label: tr(lang, "全部进度", "All figures"),
                data: format!("cmd:/status {}", task.number),
            },
            Button {
                label: tr(lang, "任务原文", "Official text"),
                data: format!("entry:{}:{}", entry.id, lang.code()),
            },
        ];
        reply.buttons.extend(answers::feedback_buttons(&entry.id));
        Ok(Some(reply))
    }

    /// One entry as an answer. A task comes with its live status: status first when the
    /// question asked how far along it is, else after the official text.
    async fn entry_reply(
        &self,
        entry: &Entry,
        lang: Lang,
        progress: bool,
    ) -> Result<Reply, StoreError> {
        let Some(task) = entry.task.and_then(|n| self.knowledge().task(n)) else {
            return Ok(answers::entry(self.knowledge(), entry, lang, None));
        };
        let states = self
            .store
            .states(self.knowledge().period.year, Some(task.number))
            .await?;
        let status =
            progress::render_status(task, &states, &self.knowledge().period, self.now(), lang);
        if progress {
            // Asked how far along: the live figures first, the official text on request.
            let mut reply = Reply::text(format!(
                "{status}\n\n{}",
                tr(
                    lang,
                    format!("任务原文：发送“第{}项是什么”", task.number),
                    format!("The official text: ask \"what is task {}\"", task.number)
                )
            ));
            reply.buttons = answers::feedback_buttons(&entry.id);
            return Ok(reply);
        }
        // The status already names the task; drop its heading line.
        let body = status.split_once('\n').map_or("", |(_, b)| b.trim_start());
        Ok(answers::entry(self.knowledge(), entry, lang, Some(body)))
    }

    async fn button(&self, msg: &Message, data: &str, lang: Lang) -> Replies {
        if let Some(rest) = data.strip_prefix("entry:") {
            let (id, lang) = match rest.rsplit_once(':') {
                Some((id, code)) => (id, Lang::from_code(code).unwrap_or(lang)),
                None => (rest, lang),
            };
            let Some(entry) = self.knowledge().entry(id) else {
                return one(stale_button(lang));
            };
            // A pick after "did you mean" is the asker saying what they meant.
            self.note_pick(msg, &entry.id).await?;
            return Ok(vec![self.entry_reply(entry, lang, false).await?]);
        }
        if let Some(rest) = data.strip_prefix("fb:") {
            let (vote, id) = rest.split_once(':').unwrap_or(("", ""));
            let useful = match vote {
                "up" => true,
                "down" => false,
                _ => return one(stale_button(lang)),
            };
            if self.knowledge().entry(id).is_none() {
                return one(stale_button(lang));
            }
            self.store
                .record_feedback(msg.sender.channel, &msg.sender.user_id, id, useful)
                .await?;
            if !useful {
                // The question that got this answer goes to the editors' queue.
                self.note_dislike(msg, id).await?;
            }
            let mut reply = Reply::text(if useful {
                tr(lang, "谢谢您的反馈！", "Thanks for your feedback!")
            } else {
                tr(
                    lang,
                    "谢谢反馈，我们会改进这条回答。",
                    "Thanks — we'll improve this answer.",
                )
            });
            reply.transient = true;
            return Ok(vec![reply]);
        }
        if let Some(rest) = data.strip_prefix("teach:") {
            return self.teach_button(msg, rest, lang).await;
        }
        if let Some(command) = data.strip_prefix("cmd:")
            && let Some((name, args)) = split_command(command)
        {
            // Runs as if the presser typed it: their own identity and rights apply.
            return self.command(msg, &name, args, lang).await;
        }
        one(stale_button(lang))
    }

    // ---- status -------------------------------------------------------------------------------

    async fn tasks(&self, kb: &Knowledge, lang: Lang) -> Replies {
        one(self.task_list(kb, lang).await?)
    }

    /// The list a command's arguments name by a leading year (`/status 2024 14`,
    /// `/tasks 2024年`) and the rest of the arguments; else the current list and all of them.
    fn list_named<'a>(&self, args: &'a str, lang: Lang) -> Result<(&Knowledge, &'a str), Reply> {
        let (first, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
        let digits = first.strip_suffix('年').unwrap_or(first);
        let year = (digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse::<i32>().ok())
            .flatten()
            .filter(|y| (2000..=2100).contains(y));
        let Some(year) = year else {
            return Ok((self.knowledge(), args));
        };
        match self.lists.year(year) {
            Some(kb) => Ok((kb, rest.trim())),
            None => {
                let years: Vec<String> = self.lists.years().iter().map(i32::to_string).collect();
                Err(Reply::text(tr(
                    lang,
                    format!("没有 {year} 年的清单。现有：{}。", years.join("、")),
                    format!(
                        "There is no list for {year}. Lists kept: {}.",
                        years.join(", ")
                    ),
                )))
            }
        }
    }

    /// The matcher over `kb`'s list.
    fn answers_for(&self, kb: &Knowledge) -> std::sync::Arc<crate::core::Answers> {
        let i = self
            .lists
            .iter()
            .position(|k| k.period.year == kb.period.year)
            .unwrap_or_default();
        self.answers_at(i)
    }

    /// How a list other than the current one is headed, so nobody mistakes it for this
    /// year's: "【2024 年清单，已截止更新】".
    fn list_heading(&self, kb: &Knowledge, lang: Lang) -> Option<String> {
        if std::ptr::eq(kb, self.knowledge()) {
            return None;
        }
        let year = kb.period.year;
        Some(if self.lists.closed_since(kb, self.today()).is_some() {
            tr(
                lang,
                format!("【{year} 年清单，已截止更新】"),
                format!("[The {year} list, closed to updates]"),
            )
        } else {
            tr(
                lang,
                format!("【{year} 年清单】"),
                format!("[The {year} list]"),
            )
        })
    }

    /// The overview and every task's one-line status, as `/tasks` shows them.
    async fn task_list(&self, kb: &Knowledge, lang: Lang) -> Result<String, StoreError> {
        let states = self.store.states(kb.period.year, None).await?;
        let now = self.now();
        let mut text = self
            .list_heading(kb, lang)
            .map(|h| h + "\n")
            .unwrap_or_default();
        text.push_str(&progress::overview(kb, &states, now, lang));
        text.push('\n');
        for task in &kb.tasks {
            text.push('\n');
            text.push_str(&progress::summary(task, &states, &kb.period, now, lang));
        }
        let year = kb.period.year;
        text.push_str(&if std::ptr::eq(kb, self.knowledge()) {
            tr(
                lang,
                "\n\n发送 /status 编号 查看详情，如 /status 14".to_string(),
                "\n\nSend /status and a number for details, e.g. /status 14".to_string(),
            )
        } else {
            tr(
                lang,
                format!("\n\n发送 /status {year} 编号 查看详情，如 /status {year} 14"),
                format!("\n\nSend /status {year} and a number for details, e.g. /status {year} 14"),
            )
        });
        Ok(text)
    }

    /// The task an argument names, or the reply explaining why there is none.
    fn find_task<'k>(
        &self,
        kb: &'k Knowledge,
        args: &str,
        lang: Lang,
        command: &str,
    ) -> Result<&'k Task, Reply> {
        let words: Vec<&str> = args.split_whitespace().collect();
        let reference = match words.as_slice() {
            [one] => TaskRef::parse(one),
            [first, second] if first.eq_ignore_ascii_case("task") => TaskRef::parse(second),
            _ => None,
        };
        if let Some(r) = reference {
            return kb
                .task(r.task)
                .ok_or_else(|| Reply::text(unknown_task(lang, &r.task.to_string())));
        }
        let named = progress::tasks_named(kb, args);
        let candidates: Vec<&Task> = if named.is_empty() {
            // Not a title word: let the matcher read it as a question about a task.
            let answers = self.answers_for(kb);
            let d = answers.decide(args);
            match answers.outcome(kb, &d) {
                Outcome::Entry { entry, .. } => self.task_of(kb, entry).into_iter().collect(),
                Outcome::Suggest(entries) => {
                    let mut v: Vec<&Task> = Vec::new();
                    for e in entries {
                        if let Some(t) = self.task_of(kb, e)
                            && !v.iter().any(|x| x.number == t.number)
                        {
                            v.push(t);
                        }
                    }
                    v
                }
                Outcome::Unknown => Vec::new(),
            }
        } else {
            named
        };
        match candidates.as_slice() {
            [] => Err(Reply::text(unknown_task(lang, args))),
            [one] => Ok(one),
            many => {
                let mut reply = Reply::text(tr(
                    lang,
                    "有几项任务都符合，请选择：",
                    "Several tasks match; which one?",
                ));
                for t in many.iter().take(5) {
                    let label = task_label(t, lang);
                    reply.text.push_str(&format!("\n{label}"));
                    let year = if std::ptr::eq(kb, self.knowledge()) {
                        String::new()
                    } else {
                        format!("{} ", kb.period.year)
                    };
                    reply.buttons.push(Button {
                        label,
                        data: format!("cmd:/{command} {year}{}", t.number),
                    });
                }
                Err(reply)
            }
        }
    }

    fn task_of<'k>(&self, kb: &'k Knowledge, entry: &Entry) -> Option<&'k Task> {
        let n = entry.task.or_else(|| {
            let related = kb.entry(entry.related.as_deref()?)?;
            (related.kind == EntryKind::Task).then_some(related.task?)
        })?;
        kb.task(n)
    }

    async fn status(&self, kb: &Knowledge, args: &str, lang: Lang) -> Replies {
        if args.is_empty() {
            return self.tasks(kb, lang).await;
        }
        let task = match self.find_task(kb, args, lang, "status") {
            Ok(t) => t,
            Err(reply) => return Ok(vec![reply]),
        };
        let states = self.store.states(kb.period.year, Some(task.number)).await?;
        let status = progress::render_status(task, &states, &kb.period, self.now(), lang);
        let mut text = match self.list_heading(kb, lang) {
            Some(heading) => format!("{heading}\n{status}"),
            None => status,
        };
        if let Some(url) = self.public_url() {
            let query = if lang == Lang::En { "?lang=en" } else { "" };
            // Another year's list has its pages under /lists/YEAR.
            let base = if std::ptr::eq(kb, self.knowledge()) {
                String::new()
            } else {
                format!("/lists/{}", kb.period.year)
            };
            text.push_str(&format!("\n\n🔗 {url}{base}/tasks/{}{query}", task.number));
        }
        one(text)
    }

    /// `/pending`: the figures waiting for this officer (every task's for an admin): no
    /// update for the reminder period. What reminders push on Telegram; on WeChat, which
    /// cannot push, the only way to see them.
    async fn pending(&self, msg: &Message, lang: Lang) -> Replies {
        let rights = self.rights(msg).await?;
        if !rights.any() {
            return one(not_officer(lang, &msg.sender.user_id));
        }
        let tasks: Vec<u32> = match (&rights.officer, rights.admin) {
            (_, true) | (None, _) => Vec::new(),
            (Some(o), false) => o.tasks.clone(),
        };
        let kb = self.knowledge();
        let states = self.store.states(kb.period.year, None).await?;
        let days = self.reminder_settings().after_days;
        let waiting = crate::remind::waiting(kb, &states, self.now(), days, Some(&tasks));
        if waiting.is_empty() {
            return one(tr(
                lang,
                format!("没有等待更新的指标：您负责的指标在 {days} 天内都有更新，或已达标。"),
                format!(
                    "Nothing is waiting: every figure you look after was updated within {days} days, or is met."
                ),
            ));
        }
        let mut text = tr(
            lang,
            format!("以下指标已超过 {days} 天没有更新："),
            format!("These figures have had no update for {days} days or more:"),
        );
        for w in waiting.iter().take(40) {
            text.push_str(&format!("\n· {}", w.line(lang)));
        }
        if waiting.len() > 40 {
            text.push_str(&format!("\n… ({})", waiting.len()));
        }
        text.push_str(&tr(
            lang,
            "\n请用 /update 报告当前值（没有变化也可以报告）。",
            "\nReport the current value with /update (even if unchanged).",
        ));
        one(text)
    }

    /// `/export` (admins): the workbook with the full audit trail. A channel that cannot send
    /// files (WeChat answers in text only) gets the public link instead.
    async fn export(&self, msg: &Message, lang: Lang) -> Replies {
        if !self.rights(msg).await?.admin {
            return one(admins_only(lang));
        }
        if PASSIVE_CHANNELS.contains(&msg.sender.channel) {
            return one(match self.public_url() {
                Some(url) => tr(
                    lang,
                    format!(
                        "微信里无法发送文件，请在浏览器打开：{url}/export.xlsx（公开版，不含用户ID）"
                    ),
                    format!(
                        "WeChat cannot carry files here; open {url}/export.xlsx in a browser (the public copy, without user ids)."
                    ),
                ),
                None => tr(
                    lang,
                    "微信里无法发送文件。请在 Telegram 或控制台使用 /export，或打开进度网页上的 Excel 下载。",
                    "WeChat cannot carry files here. Use /export on Telegram or the console, or the Excel download on the progress page.",
                ),
            });
        }
        let bytes = self.export_xlsx(true).await?;
        let day = self
            .now()
            .with_timezone(&model::chongqing())
            .format("%Y%m%d-%H%M");
        let mut reply = Reply::text(tr(
            lang,
            "全部任务、指标和完整审计记录（含用户ID，请勿公开转发）。",
            "Every task, metric and the full audit trail (with user ids: do not share publicly).",
        ));
        reply.document = Some(super::Document {
            file_name: format!("minsheng-{day}.xlsx"),
            mime: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            bytes,
        });
        Ok(vec![reply])
    }

    async fn history(&self, kb: &Knowledge, msg: &Message, args: &str, lang: Lang) -> Replies {
        if args.is_empty() {
            return one(tr(
                lang,
                "请写上任务编号，例如 /history 14",
                "Which task? For example /history 14",
            ));
        }
        let task = match self.find_task(kb, args, lang, "history") {
            Ok(t) => t,
            Err(reply) => return Ok(vec![reply]),
        };
        let entries = self.store.history(kb.period.year, task.number, 20).await?;
        // Residents see who changed a figure by name or department; officers see the ids too.
        let full = self.rights(msg).await?.any();
        let mut text = tr(
            lang,
            format!("第{}项 {} 的更新记录：", task.number, task.title.zh),
            format!("Audit trail of task {}: {}", task.number, task.title.en),
        );
        if entries.is_empty() {
            text.push_str(&tr(lang, "\n暂无记录。", "\nNo updates yet."));
        }
        for e in &entries {
            text.push('\n');
            text.push_str(&audit_line(task, e, lang, full));
        }
        one(text)
    }

    // ---- updates ------------------------------------------------------------------------------

    async fn update(&self, kb: &Knowledge, msg: &Message, args: &str, lang: Lang) -> Replies {
        let rights = self.rights(msg).await?;
        let attempted_task = args
            .split_whitespace()
            .next()
            .and_then(TaskRef::parse)
            .map_or(0, |r| r.task);
        if !rights.any() {
            self.store
                .record_refusal(
                    attempted_task,
                    None,
                    &msg.sender.actor(),
                    &crate::privacy::mask(&format!("/update {}", clip(args, 200))),
                )
                .await?;
            return one(not_officer(lang, &msg.sender.user_id));
        }
        // A list whose period and grace period are over is the record as it stands.
        if let Some(until) = self.lists.closed_since(kb, self.today()) {
            let year = kb.period.year;
            return one(tr(
                lang,
                format!("{year} 年清单已于 {until} 截止更新，本次没有改动。"),
                format!("The {year} list closed to updates on {until}; nothing was changed."),
            ));
        }
        let plan = match progress::parse_update(kb, args) {
            Ok(plan) => plan,
            Err(e) => return Ok(vec![self.update_error(&e, lang)]),
        };
        // Notes are published (status, notifications, exports): no personal information.
        if let Some(kind) = plan.note.as_deref().and_then(crate::privacy::find_personal) {
            return one(personal_note(lang, kind));
        }
        if let Some(refusal) = self.kind_refusal(kb, &plan, lang) {
            return one(refusal);
        }
        if !rights.may_update(plan.task) {
            self.store
                .record_refusal(
                    plan.task,
                    Some(plan.item),
                    &msg.sender.actor(),
                    &crate::privacy::mask(&format!("/update {}", clip(args, 200))),
                )
                .await?;
            return one(tr(
                lang,
                format!(
                    "您没有更新第{}项的权限，本次没有改动。如需授权请联系管理员。",
                    plan.task
                ),
                format!(
                    "You are not authorised to update task {}; nothing was changed. Ask an admin to grant it.",
                    plan.task
                ),
            ));
        }
        let Some(task) = kb.task(plan.task) else {
            return one(unknown_task(lang, &plan.task.to_string()));
        };
        let change = Change {
            year: kb.period.year,
            task: plan.task,
            number: plan.item,
            value: plan.value,
            stage: plan.stage,
            note: plan.note.clone(),
            actor: rights.actor(msg),
            notification: Some((
                notification(task, &plan, Lang::Zh),
                notification(task, &plan, Lang::En),
            )),
        };
        let audit = self.store.apply(&change).await?;
        self.metrics().update();
        let mut text = tr(lang, "✅ 已更新\n", "✅ Updated\n");
        text.push_str(&change_line(task, &audit, lang));
        // Say how the value was read when it was not typed in the metric's own unit.
        if let (Some(progress::Item::Metric(m)), Some(v)) = (item(task, plan.item), plan.value)
            && plan.given.and_then(|q| q.unit).map(|u| u.symbol) != Some(m.unit.symbol)
        {
            text.push_str(&tr(
                lang,
                format!("\n（记为 {}）", with_unit(v, m.unit, lang)),
                format!("\n(recorded as {})", with_unit(v, m.unit, lang)),
            ));
        }
        text.push_str(&tr(
            lang,
            "\n发送 /undo 可撤销这次更新。",
            "\nSend /undo to revert it.",
        ));
        one(text)
    }

    /// A value or stage that the item's kind cannot take (0.6 of a community, 120% of a
    /// share, a bare 0.4 for a percentage, "done" for ongoing work), worded for the officer.
    fn kind_refusal(&self, kb: &Knowledge, plan: &UpdatePlan, lang: Lang) -> Option<String> {
        let task = kb.task(plan.task)?;
        let nothing = tr(lang, "本次没有改动。", "Nothing was changed.");
        let retired = match item(task, plan.item)? {
            progress::Item::Metric(m) => m.retired,
            progress::Item::Milestone(g) => g.retired,
        };
        if retired {
            let at = format!("{}.{}", plan.task, plan.item);
            return Some(tr(
                lang,
                format!("{at} 已停用：保留在记录中，不再更新。{nothing}"),
                format!("{at} is retired: kept in the record, no longer updated. {nothing}"),
            ));
        }
        let error = match (item(task, plan.item)?, plan.value, plan.stage) {
            (progress::Item::Metric(m), Some(v), _) => {
                let typed = plan.given.is_some_and(|q| q.unit.is_some());
                model::check_value(m, v, typed).err()?
            }
            (progress::Item::Milestone(g), _, Some(stage)) => model::check_stage(g, stage).err()?,
            _ => return None,
        };
        let name = item(task, plan.item).map_or("", |i| i.name(lang));
        let at = format!("{}.{}", plan.task, plan.item);
        Some(match error {
            model::KindError::NotWhole { value } => {
                let unit = item(task, plan.item).and_then(|i| match i {
                    progress::Item::Metric(m) => Some(m.unit),
                    progress::Item::Milestone(_) => None,
                });
                let shown = unit.map_or(fmt_num(value), |u| with_unit(value, u, lang));
                tr(
                    lang,
                    format!("{at} {name}按整数计，“{shown}”不是整数。{nothing}"),
                    format!(
                        "{at} {name} counts whole things: {shown} is not a whole number. {nothing}"
                    ),
                )
            }
            model::KindError::OverHundred { value } => tr(
                lang,
                format!(
                    "{at} {name}是占比，不能超过 100%（收到 {}%）。{nothing}",
                    fmt_num(value)
                ),
                format!(
                    "{at} {name} is a share and cannot exceed 100% (got {}%). {nothing}",
                    fmt_num(value)
                ),
            ),
            model::KindError::AmbiguousFraction { value } => {
                let v = fmt_num(value);
                let pct = fmt_num(value * 100.0);
                tr(
                    lang,
                    format!(
                        "“{v}”不明确：是 {v}% 还是 {pct}%？请带上 %，例如 /update {at} {pct}%。{nothing}"
                    ),
                    format!(
                        "\"{v}\" is unclear: {v}% or {pct}%? Write the %, e.g. /update {at} {pct}%. {nothing}"
                    ),
                )
            }
            model::KindError::OngoingNeverDone => tr(
                lang,
                format!(
                    "{at} {name}是持续性工作，不会“已完成”。请报告“进行中”并在备注写明进展，例如 /update {at} 进行中 本月开展12场。{nothing}"
                ),
                format!(
                    "{at} {name} is ongoing work and is never \"done\". Report it in progress with a note, e.g. /update {at} in progress 12 sessions this month. {nothing}"
                ),
            ),
        })
    }

    fn update_error(&self, e: &UpdateError, lang: Lang) -> Reply {
        let example = tr(
            lang,
            "格式：/update 任务编号 [指标] 数值单位 [备注]，例如 /update 14 12.5km 西永片区完工",
            "Format: /update <task> [metric] <value><unit> [note], e.g. /update 14 12.5km",
        );
        let nothing = tr(lang, "本次没有改动。", "Nothing was changed.");
        let list = |task: u32| {
            self.knowledge()
                .task(task)
                .map(|t| progress::item_list(t, lang))
                .unwrap_or_default()
        };
        let text = match e {
            UpdateError::MissingTask => tr(
                lang,
                format!("请写上任务编号。{nothing}\n{example}"),
                format!("Which task? {nothing}\n{example}"),
            ),
            UpdateError::UnknownTask(t) => {
                format!("{} {nothing}", unknown_task(lang, t))
            }
            UpdateError::MissingValue { task } => tr(
                lang,
                format!(
                    "请写上数值和单位（或阶段：未开始/进行中/已完成）。{nothing}\n{example}\n第{task}项的指标：\n{}",
                    list(*task)
                ),
                format!(
                    "Please give a value with its unit (or a stage: not started / in progress / done). {nothing}\n{example}\nTask {task} tracks:\n{}",
                    list(*task)
                ),
            ),
            UpdateError::NotANumber { text, .. } => tr(
                lang,
                format!("“{text}”不是有效的数值。{nothing}\n{example}"),
                format!("\"{text}\" is not a number I can record. {nothing}\n{example}"),
            ),
            UpdateError::Negative { .. } => tr(
                lang,
                format!("数值不能为负数。{nothing}"),
                format!("The value cannot be negative. {nothing}"),
            ),
            UpdateError::UnknownUnit { task, unit } => tr(
                lang,
                format!(
                    "不认识单位“{unit}”。{nothing}\n可用单位：公里 km 米 m 万平方米 平方米 ㎡ 个 处 家 台 户 人 名 批次 场次 人次 所 项 %\n第{task}项的指标：\n{}",
                    list(*task)
                ),
                format!(
                    "I don't know the unit \"{unit}\". {nothing}\nUnits: km m 万平方米 m² 个 处 家 台 户 人 名 批次 场次 人次 所 项 %\nTask {task} tracks:\n{}",
                    list(*task)
                ),
            ),
            UpdateError::Malformed {
                problem,
                text,
                example: form,
                ..
            } => {
                let (zh, en) = match problem {
                    NumberProblem::Comma => (
                        "数值里不能有逗号（千位分隔符或小数逗号）",
                        "a number cannot contain a comma (thousands separator or decimal comma): no separators, and a point for decimals",
                    ),
                    NumberProblem::Separator => {
                        ("数值里不能有分隔符", "a number cannot contain separators")
                    }
                    NumberProblem::Exponent => (
                        "数值不能用科学计数法（e）",
                        "a number cannot have an exponent (e): write it out in full",
                    ),
                    NumberProblem::Hex => (
                        "数值只能是十进制，不能用十六进制（0x）",
                        "a number must be decimal, not hexadecimal (0x)",
                    ),
                    NumberProblem::LeadingPoint => (
                        "小数点前要有数字",
                        "a decimal point needs a digit before it",
                    ),
                    NumberProblem::TrailingPoint => {
                        ("小数点后要有数字", "a decimal point needs a digit after it")
                    }
                    NumberProblem::SecondPoint => (
                        "数值里只能有一个小数点",
                        "a number has at most one decimal point",
                    ),
                    NumberProblem::TooManyDigits => (
                        "数字位数太多（最多15位有效数字）",
                        "too many digits (at most 15 significant digits)",
                    ),
                };
                tr(
                    lang,
                    format!("“{text}”：{zh}。请写成 {form} 这样的形式。{nothing}\n{example}"),
                    format!("\"{text}\": {en}. Write it like {form}. {nothing}\n{example}"),
                )
            }
            UpdateError::Glued {
                text,
                example: form,
                ..
            } => tr(
                lang,
                format!("“{text}”：备注要和数值单位用空格隔开。请写成：{form}\n{nothing}"),
                format!(
                    "\"{text}\": put a space between the value and the note. Write: {form}\n{nothing}"
                ),
            ),
            UpdateError::TwoQuantities { text, .. } => tr(
                lang,
                format!(
                    "“{text}”：这是两个数值，请只写一个数值，例如 1.5km（而不是 1km 500m）。备注写在数值后面、用空格隔开，不能以数值和单位开头。{nothing}\n{example}"
                ),
                format!(
                    "\"{text}\": that is two quantities; give one value, e.g. 1.5km (not 1km 500m). A note follows the value after a space and cannot begin with a quantity. {nothing}\n{example}"
                ),
            ),
            UpdateError::UnitMismatch { task, unit } => tr(
                lang,
                format!(
                    "单位“{unit}”与第{task}项的指标不符。{nothing}\n第{task}项的指标：\n{}",
                    list(*task)
                ),
                format!(
                    "The unit \"{unit}\" does not fit task {task}'s metrics. {nothing}\nTask {task} tracks:\n{}",
                    list(*task)
                ),
            ),
            UpdateError::UnknownItem { task, words } => tr(
                lang,
                format!(
                    "第{task}项没有“{words}”这个指标。{nothing}\n请用编号或名称指定：\n{}",
                    list(*task)
                ),
                format!(
                    "Task {task} has no metric \"{words}\". {nothing}\nName one by number or words:\n{}",
                    list(*task)
                ),
            ),
            UpdateError::Ambiguous { task, items, rest } => {
                let mut reply = Reply::text(tr(
                    lang,
                    format!("第{task}项有多个指标符合，请指定是哪一个。{nothing}"),
                    format!("Several of task {task}'s metrics fit; which one? {nothing}"),
                ));
                if let Some(t) = self.knowledge().task(*task) {
                    let mut buttons = Vec::new();
                    for n in items {
                        let Some(it) = item(t, *n) else { continue };
                        let label = format!("{task}.{n} {}", it.name(lang));
                        reply.text.push_str(&format!("\n{label}"));
                        buttons.push(Button {
                            label,
                            data: format!("cmd:/update {task}.{n} {rest}"),
                        });
                    }
                    reply.text.push_str(&tr(
                        lang,
                        format!(
                            "\n例如：/update {task}.{} {rest}",
                            items.first().unwrap_or(&1)
                        ),
                        format!(
                            "\nFor example: /update {task}.{} {rest}",
                            items.first().unwrap_or(&1)
                        ),
                    ));
                    // Buttons only when every one carries the whole command.
                    if buttons.iter().all(|b| b.data.len() <= MAX_BUTTON_DATA) {
                        reply.buttons = buttons;
                    }
                }
                return reply;
            }
            UpdateError::TooLarge {
                task,
                item,
                value,
                target,
                unit,
            } => tr(
                lang,
                format!(
                    "{} 超过第{task}.{item}项目标（{}）的10倍，可能是单位或位数写错了。{nothing}",
                    with_unit(*value, *unit, lang),
                    with_unit(*target, *unit, lang)
                ),
                format!(
                    "{} is more than ten times the target of {task}.{item} ({}): probably a slip of unit or digits. {nothing}",
                    with_unit(*value, *unit, lang),
                    with_unit(*target, *unit, lang)
                ),
            ),
            UpdateError::NeedsValue { task } => tr(
                lang,
                format!(
                    "第{task}项按数值统计，请给出数值和单位。{nothing}\n{}",
                    list(*task)
                ),
                format!(
                    "Task {task} is tracked by numbers: give a value with its unit. {nothing}\n{}",
                    list(*task)
                ),
            ),
            UpdateError::NeedsStage { task } => {
                let first = self
                    .knowledge()
                    .task(*task)
                    .and_then(|t| t.milestones.first())
                    .map_or(1, |m| m.number);
                tr(
                    lang,
                    format!(
                        "这里按阶段统计，请写 未开始、进行中 或 已完成，例如 /update {task}.{first} 进行中。{nothing}\n{}",
                        list(*task)
                    ),
                    format!(
                        "This is tracked by stage: write not started, in progress or done, e.g. /update {task}.{first} in progress. {nothing}\n{}",
                        list(*task)
                    ),
                )
            }
        };
        Reply::text(text)
    }

    async fn undo(&self, msg: &Message, lang: Lang) -> Replies {
        let rights = self.rights(msg).await?;
        if !rights.any() {
            self.store
                .record_refusal(0, None, &msg.sender.actor(), "/undo")
                .await?;
            return one(not_officer(lang, &msg.sender.user_id));
        }
        // The update undone may be of another year's list (its final figures): name it from
        // the list that holds the item.
        let list_of = |e: &AuditEntry| -> &Knowledge {
            e.item_id
                .as_deref()
                .and_then(|id| self.lists.of_item(id))
                .map_or(self.knowledge(), |k| &**k)
        };
        let outcome = self
            .store
            .undo_last(
                msg.sender.channel,
                &msg.sender.user_id,
                &rights.actor(msg),
                |reverted| {
                    let task = list_of(reverted).task(reverted.task)?;
                    Some((
                        undo_notification(task, reverted, Lang::Zh),
                        undo_notification(task, reverted, Lang::En),
                    ))
                },
            )
            .await?;
        match outcome {
            UndoOutcome::Undone(undo, _) => {
                let line = match list_of(&undo).task(undo.task) {
                    Some(task) => change_line(task, &undo, lang),
                    None => String::new(),
                };
                one(format!(
                    "{}{line}",
                    tr(lang, "↩️ 已撤销\n", "↩️ Reverted\n")
                ))
            }
            UndoOutcome::NothingToUndo => one(tr(
                lang,
                "您没有可以撤销的更新。",
                "You have no update to revert.",
            )),
            UndoOutcome::ChangedSince(e) => one(tr(
                lang,
                format!(
                    "第{}.{}项在您更新之后又被他人修改过，为免覆盖他人的数据，没有撤销。请发送 /history {} 查看。",
                    e.task,
                    e.number.unwrap_or(0),
                    e.task
                ),
                format!(
                    "Someone changed {}.{} after your update, so it was not reverted (that would overwrite their figure). See /history {}.",
                    e.task,
                    e.number.unwrap_or(0),
                    e.task
                ),
            )),
        }
    }

    // ---- officers -----------------------------------------------------------------------------

    /// `/grant <id> [task…] [department]`: words that start with a digit (or 第) must be
    /// tasks; the first word that does not begins the department residents will see.
    async fn grant(&self, msg: &Message, args: &str, lang: Lang) -> Replies {
        if !self.rights(msg).await?.admin {
            return one(admins_only(lang));
        }
        let usage = tr(
            lang,
            "格式：/grant 用户ID [任务编号…] [部门]，例如 /grant 12345 14 19 高新区住房城乡建设局",
            "Format: /grant <user id> [task numbers…] [department], e.g. /grant 12345 14 19 Housing Bureau",
        );
        let mut words = args.split([' ', ',', '，']).filter(|w| !w.is_empty());
        let Some(who) = words.next() else {
            return one(usage);
        };
        let who = match identity::parse(who, msg.sender.channel) {
            Ok(who) => who,
            Err(e) => return one(refused(lang, e.message(lang), &usage)),
        };
        // `/grant ID editor`: may teach the bot phrasings; no update rights.
        if let [word] = words.clone().collect::<Vec<_>>().as_slice()
            && is_editor_word(word)
        {
            self.store
                .grant_editor(who.channel, &who.user_id, &msg.sender.actor())
                .await?;
            return one(tr(
                lang,
                format!(
                    "已授权 {} 用户 {} 为编辑：可以用 /teach 教机器人新的问法、用 /unteach 撤销。",
                    channel_name(who.channel, lang),
                    who
                ),
                format!(
                    "{} user {} is now an editor: they may teach the bot phrasings (/teach) and remove them (/unteach).",
                    channel_name(who.channel, lang),
                    who
                ),
            ));
        }
        let mut tasks = Vec::new();
        let mut department = None;
        for w in words.by_ref() {
            let looks_like_task = w.starts_with(|c: char| c.is_ascii_digit() || c == '第')
                || w.to_ascii_lowercase().starts_with("task");
            if !looks_like_task {
                // The rest of the line, as typed, is the department.
                let at = w.as_ptr() as usize - args.as_ptr() as usize;
                department = Some(crate::text::clean_line(&args[at..], MAX_DEPARTMENT_CHARS));
                break;
            }
            match TaskRef::parse(w).filter(|r| self.knowledge().task(r.task).is_some()) {
                Some(r) if r.item.is_none() => tasks.push(r.task),
                _ => {
                    return one(format!(
                        "{} {}",
                        unknown_task(lang, w),
                        tr(lang, "本次没有改动。", "Nothing was changed.")
                    ));
                }
            }
        }
        tasks.sort_unstable();
        tasks.dedup();
        self.store
            .grant(
                who.channel,
                &who.user_id,
                &tasks,
                department.as_deref(),
                &msg.sender.actor(),
            )
            .await?;
        let scope = if tasks.is_empty() {
            tr(lang, "全部任务", "all tasks")
        } else {
            let list = tasks
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            tr(lang, format!("第 {list} 项"), format!("tasks {list}"))
        };
        let shown_as = match &department {
            Some(d) => tr(
                lang,
                format!("居民看到的更新人：{d}。"),
                format!("Residents will see updates as from {d}."),
            ),
            None => tr(
                lang,
                "居民看到的更新人：其显示名称或“工作人员”（可在命令末尾写上部门）。",
                "Residents will see updates as from their display name or \"an officer\" (add a department at the end of the command).",
            ),
        };
        one(tr(
            lang,
            format!(
                "已授权 {} 用户 {} 更新{scope}的进度。{shown_as}",
                channel_name(who.channel, lang),
                who
            ),
            format!(
                "{} user {} may now update {scope}. {shown_as}",
                channel_name(who.channel, lang),
                who
            ),
        ))
    }

    async fn revoke(&self, msg: &Message, args: &str, lang: Lang) -> Replies {
        if !self.rights(msg).await?.admin {
            return one(admins_only(lang));
        }
        let usage = tr(lang, "格式：/revoke 用户ID", "Format: /revoke <user id>");
        let Some(who) = args.split_whitespace().next() else {
            return one(usage);
        };
        let Identity { channel, user_id } = match identity::parse(who, msg.sender.channel) {
            Ok(who) => who,
            Err(e) => return one(refused(lang, e.message(lang), &usage)),
        };
        let user = user_id.as_str();
        // `/revoke ID editor` withdraws the editor grant only; a bare `/revoke ID` withdraws
        // every right.
        let editor_only = args.split_whitespace().nth(1).is_some_and(is_editor_word);
        let was_editor = self
            .store
            .revoke_editor(channel, user, &msg.sender.actor())
            .await?;
        if editor_only || (was_editor && self.store.officer(channel, user).await?.is_none()) {
            return one(if was_editor {
                tr(
                    lang,
                    format!("已收回 {channel}:{user} 的编辑权限。"),
                    format!("{channel}:{user} may no longer teach the bot."),
                )
            } else {
                tr(
                    lang,
                    format!("{channel}:{user} 本来就不是编辑。"),
                    format!("{channel}:{user} was not an editor."),
                )
            });
        }
        if self
            .store
            .revoke_by(channel, user, &msg.sender.actor())
            .await?
        {
            one(tr(
                lang,
                format!("已收回 {channel}:{user} 的更新权限。"),
                format!("{channel}:{user} may no longer update progress."),
            ))
        } else {
            one(tr(
                lang,
                format!("{channel}:{user} 本来就没有更新权限。"),
                format!("{channel}:{user} had no update rights."),
            ))
        }
    }

    async fn officers(&self, msg: &Message, lang: Lang) -> Replies {
        if !self.rights(msg).await?.admin {
            return one(admins_only(lang));
        }
        let officers = self.store.officers().await?;
        let mut text = tr(lang, "管理员（ADMIN_IDS）：", "Admins (ADMIN_IDS): ");
        text.push_str(&self.admins.list().join(", "));
        text.push_str(&tr(lang, "\n已授权人员：", "\nOfficers:"));
        if officers.is_empty() {
            text.push_str(&tr(lang, "暂无", " none"));
        }
        for o in &officers {
            let scope = if o.tasks.is_empty() {
                tr(lang, "全部任务", "all tasks")
            } else {
                o.tasks
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let department = o
                .department
                .as_deref()
                .map_or(String::new(), |d| format!(" ({d})"));
            text.push_str(&format!(
                "\n· {}:{}{department} — {scope} — {} {}",
                o.channel,
                o.user_id,
                o.granted_by,
                fmt_time(o.granted_at)
            ));
        }
        let editors = self.store.editors().await?;
        text.push_str(&tr(
            lang,
            "\n编辑（可教机器人新问法）：",
            "\nEditors (may teach phrasings):",
        ));
        if editors.is_empty() {
            text.push_str(&tr(lang, "暂无", " none"));
        }
        for e in &editors {
            text.push_str(&format!(
                "\n· {}:{} — {} {}",
                e.channel,
                e.user_id,
                e.granted_by,
                fmt_time(e.granted_at)
            ));
        }
        // Revoked rights leave no officer row: the audit trail keeps who had them, and when.
        let changes = self.store.rights_history(10).await?;
        if !changes.is_empty() {
            text.push_str(&tr(
                lang,
                "\n最近的权限变更：",
                "\nRecent changes of rights:",
            ));
        }
        for e in &changes {
            text.push_str(&format!(
                "\n· {} {} ({}:{}) {}",
                fmt_time(e.at),
                progress::updater_name(&e.actor.name, lang),
                e.actor.channel,
                e.actor.user_id,
                e.note.as_deref().unwrap_or("")
            ));
        }
        one(text)
    }

    // ---- subscriptions ------------------------------------------------------------------------

    async fn subscribe(&self, msg: &Message, args: &str, lang: Lang, on: bool) -> Replies {
        let channel = msg.sender.channel;
        if on && PASSIVE_CHANNELS.contains(&channel) {
            return one(tr(
                lang,
                "公众号只能回复您发来的消息，不能主动推送进度更新。请随时发送 /status 任务编号 或 /tasks 查看最新进度。",
                "This channel can only answer your messages, not send updates on its own. Send /status and a task number, or /tasks, whenever you like.",
            ));
        }
        let all = matches!(
            args.trim().to_lowercase().as_str(),
            "all" | "全部" | "所有" | "*"
        );
        if args.trim().is_empty() {
            let subs = self.store.subscriptions(channel, &msg.chat_id).await?;
            let list = subs
                .iter()
                .map(|s| match s {
                    None => tr(lang, "全部", "all"),
                    Some(n) => n.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let current = if subs.is_empty() {
                tr(lang, "您还没有订阅。", "You have no subscriptions.")
            } else {
                tr(
                    lang,
                    format!("当前订阅：{list}"),
                    format!("Subscribed to: {list}"),
                )
            };
            let how = if on {
                tr(
                    lang,
                    "\n订阅某项任务：/subscribe 14；订阅全部：/subscribe all",
                    "\nSubscribe to a task: /subscribe 14; to all: /subscribe all",
                )
            } else {
                tr(
                    lang,
                    "\n取消：/unsubscribe 14 或 /unsubscribe all",
                    "\nStop: /unsubscribe 14 or /unsubscribe all",
                )
            };
            return one(format!("{current}{how}"));
        }
        let task = if all {
            None
        } else {
            let command = if on { "subscribe" } else { "unsubscribe" };
            match self.find_task(self.knowledge(), args, lang, command) {
                Ok(t) => Some(t.number),
                Err(reply) => return Ok(vec![reply]),
            }
        };
        let what = match task {
            None => tr(lang, "全部任务", "all tasks"),
            Some(n) => tr(lang, format!("第{n}项"), format!("task {n}")),
        };
        if on {
            self.store
                .subscribe(channel, &msg.chat_id, task, lang)
                .await?;
            one(tr(
                lang,
                format!("已订阅{what}的进度更新。取消请发送 /unsubscribe。"),
                format!("Subscribed to {what}. Send /unsubscribe to stop."),
            ))
        } else if self.store.unsubscribe(channel, &msg.chat_id, task).await? {
            one(tr(
                lang,
                format!("已取消订阅{what}。"),
                format!("Unsubscribed from {what}."),
            ))
        } else {
            one(tr(
                lang,
                format!("您没有订阅{what}。"),
                format!("You were not subscribed to {what}."),
            ))
        }
    }
}

// ---- wording helpers ------------------------------------------------------------------------

/// Whether a message (a command or not) is `/privacy` or `/forget`.
pub(super) fn is_privacy_command(text: &str) -> bool {
    split_command(text).is_some_and(|(name, _)| {
        matches!(
            name.as_str(),
            "privacy" | "隐私" | "forget" | "删除我的信息"
        )
    })
}

/// Whether a message is `/forget`.
pub(super) fn is_forget_command(text: &str) -> bool {
    split_command(text).is_some_and(|(name, _)| matches!(name.as_str(), "forget" | "删除我的信息"))
}

/// The task a deep-link payload names: `task14`, `t14`, `14` (Telegram allows only
/// `A-Z a-z 0-9 _ -` there, so nothing else is read).
fn deep_link_task(payload: &str) -> Option<u32> {
    let p = payload.trim();
    if p.is_empty()
        || p.len() > 64
        || !p
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    let lower = p.to_ascii_lowercase();
    let digits = lower
        .strip_prefix("task")
        .or_else(|| lower.strip_prefix('t'))
        .unwrap_or(&lower)
        .trim_start_matches(['_', '-']);
    if digits.is_empty() || digits.len() > 2 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Words that ask for a person rather than the bot.
const HUMAN_WORDS: &[&str] = &[
    "转人工",
    "人工客服",
    "人工服务",
    "人工",
    "真人",
    "human",
    "agent",
    "talk to a person",
    "talk to a human",
    "real person",
];

/// Whether the whole message asks for a person (`转人工`, `人工客服`, `human`).
pub fn asks_for_a_person(text: &str) -> bool {
    let t: String = text
        .trim()
        .trim_end_matches(['!', '！', '。', '.', '?', '？'])
        .to_lowercase();
    HUMAN_WORDS.contains(&t.as_str())
}

/// A refusal that changed nothing: the reason, then how to write it.
fn refused(lang: Lang, reason: String, usage: &str) -> String {
    tr(
        lang,
        format!("{reason}本次没有改动。\n{usage}"),
        format!("{reason} Nothing was changed.\n{usage}"),
    )
}

/// The refusal of a note holding personal information; nothing of the note is repeated.
fn personal_note(lang: Lang, kind: crate::privacy::Kind) -> String {
    tr(
        lang,
        format!(
            "备注里不能包含个人信息：{}。备注会公开显示在进度、通知和导出中，请删去后重新发送。本次没有改动。",
            kind.name(lang)
        ),
        format!(
            "A note cannot contain personal information: {}. Notes are published in status, notifications and exports; remove it and send again. Nothing was changed.",
            kind.name(lang)
        ),
    )
}

/// `editor` in `/grant ID editor` and `/revoke ID editor`.
fn is_editor_word(word: &str) -> bool {
    matches!(word.to_lowercase().as_str(), "editor" | "编辑")
}

/// Longest department name kept from `/grant`.
const MAX_DEPARTMENT_CHARS: usize = 40;

fn channel_name(channel: &str, lang: Lang) -> &str {
    match (channel, lang) {
        ("wechat", Lang::Zh) => "微信",
        ("wechat", Lang::En) => "WeChat",
        ("telegram", _) => "Telegram",
        ("console", Lang::Zh) => "控制台",
        ("console", Lang::En) => "console",
        (other, _) => other,
    }
}

fn task_label(t: &Task, lang: Lang) -> String {
    tr(
        lang,
        format!("第{}项 {}", t.number, t.title.zh),
        format!("Task {}: {}", t.number, t.title.en),
    )
}

fn unknown_task(lang: Lang, what: &str) -> String {
    tr(
        lang,
        format!(
            "没有找到任务“{}”。任务编号为1到20，发送 /tasks 查看全部。",
            clip(what, 40)
        ),
        format!(
            "I can't find task \"{}\". Tasks are numbered 1 to 20; send /tasks to see them all.",
            clip(what, 40)
        ),
    )
}

fn not_officer(lang: Lang, user_id: &str) -> String {
    tr(
        lang,
        format!(
            "只有经授权的工作人员可以更新进度，本次没有改动。您的用户ID是 {user_id}，如需授权请联系管理员。"
        ),
        format!(
            "Only authorised officers can update progress; nothing was changed. Your user id is {user_id}: give it to an admin to be granted rights."
        ),
    )
}

fn admins_only(lang: Lang) -> String {
    tr(
        lang,
        "只有管理员可以使用这个命令。",
        "Only admins can use this command.",
    )
}

fn stale_button(lang: Lang) -> String {
    tr(
        lang,
        "这个按钮已失效，请重新提问。",
        "That button is no longer valid; please ask again.",
    )
}

/// `14.1 老旧供水管网改造长度：0 → 12.5 / 20公里（62.5%）` plus the note.
fn change_line(task: &Task, e: &AuditEntry, lang: Lang) -> String {
    let n = e.number.unwrap_or(0);
    let Some(it) = item(task, n) else {
        return format!("{}.{n}", task.number);
    };
    let colon = match lang {
        Lang::Zh => "：",
        Lang::En => ": ",
    };
    let mut line = format!("{}.{n} {}{colon}", task.number, it.name(lang));
    match it {
        progress::Item::Metric(m) if e.new_value.is_some() || e.old_value.is_some() => {
            let old = e
                .old_value
                .map_or("—".to_string(), |v| progress::number_in(v, m.unit, lang));
            match e.new_value {
                Some(new) => line.push_str(&format!(
                    "{old} → {}",
                    progress::reading(m, new, model::status_of_value(m, new), lang)
                )),
                None => line.push_str(&format!("{old} → —")),
            }
        }
        progress::Item::Milestone(g) => {
            let stage =
                |s: Option<Stage>| s.map_or("—", |s| progress::goal_stage(g.kind, s, lang));
            line.push_str(&format!("{} → {}", stage(e.old_stage), stage(e.new_stage)));
        }
        _ => {
            let old = e.old_stage.map_or("—", |s| stage_name(s, lang)).to_string();
            let new = e.new_stage.map_or("—", |s| stage_name(s, lang)).to_string();
            line.push_str(&format!("{old} → {new}"));
        }
    }
    if let Some(note) = e.note.as_deref().filter(|n| !n.is_empty()) {
        line.push_str(&format!("\n“{note}”"));
    }
    line
}

/// A catalogue change as stored (`target 20 → 25; unit 公里 → 米`), with its field names in
/// the reader's language.
fn catalogue_note(note: &str, lang: Lang) -> String {
    if lang == Lang::En {
        return note.to_string();
    }
    const FIELDS: [(&str, &str); 4] = [
        ("target ", "目标 "),
        ("unit ", "单位 "),
        ("name_zh ", "中文名称 "),
        ("name_en ", "英文名称 "),
    ];
    note.split("; ")
        .map(|part| {
            FIELDS
                .iter()
                .find_map(|(en, zh)| part.strip_prefix(en).map(|rest| format!("{zh}{rest}")))
                .unwrap_or_else(|| part.to_string())
        })
        .collect::<Vec<_>>()
        .join("；")
}

/// One line of `/history`; with `full`, the actor's channel and id after the name.
fn audit_line(task: &Task, e: &AuditEntry, lang: Lang, full: bool) -> String {
    if e.kind == AuditKind::Catalogue {
        // A faq/ edit: the note holds what changed (old → new); the user is the revision.
        return format!(
            "· {} {} {}.{} {}",
            fmt_time(e.at),
            tr(
                lang,
                format!("目录变更（faq/ {}）", e.actor.user_id),
                format!("catalogue change (faq/ {})", e.actor.user_id)
            ),
            task.number,
            e.number.unwrap_or(0),
            catalogue_note(e.note.as_deref().unwrap_or(""), lang)
        );
    }
    let kind = match (e.kind.clone(), lang) {
        (AuditKind::Undo, Lang::Zh) => "撤销 ",
        (AuditKind::Undo, Lang::En) => "undo ",
        _ => "",
    };
    let who = if full {
        format!(
            "{} ({}:{})",
            progress::updater_name(&e.actor.name, lang),
            e.actor.channel,
            e.actor.user_id
        )
    } else {
        progress::updater_name(&e.actor.name, lang).to_string()
    };
    format!(
        "· {} {who} {kind}{}",
        fmt_time(e.at),
        change_line(task, e, lang).replace('\n', " ")
    )
}

fn notification(task: &Task, plan: &UpdatePlan, lang: Lang) -> String {
    let mut text = tr(
        lang,
        format!("🔔 进度更新：第{}项 {}\n", task.number, task.title.zh),
        format!("🔔 Progress: task {}, {}\n", task.number, task.title.en),
    );
    if let Some(it) = item(task, plan.item) {
        text.push_str(&format!(
            "{}.{} {}: ",
            task.number,
            plan.item,
            it.name(lang)
        ));
        match (it, plan.value, plan.stage) {
            (progress::Item::Metric(m), Some(v), _) => {
                text.push_str(&progress::reading(m, v, model::status_of_value(m, v), lang))
            }
            (progress::Item::Milestone(g), _, Some(s)) => {
                text.push_str(progress::goal_stage(g.kind, s, lang));
            }
            (_, _, stage) => text.push_str(stage.map_or("", |s| stage_name(s, lang))),
        }
    }
    if let Some(note) = &plan.note {
        text.push_str(&format!("\n“{note}”"));
    }
    text.push_str(&format!("\n/status {}", task.number));
    text
}

fn undo_notification(task: &Task, reverted: &AuditEntry, lang: Lang) -> String {
    let n = reverted.number.unwrap_or(0);
    let name = item(task, n).map_or("", |i| i.name(lang));
    let back = match (reverted.old_value, reverted.old_stage) {
        (Some(v), _) => fmt_num(v),
        (None, Some(s)) => stage_name(s, lang).to_string(),
        (None, None) => tr(lang, "未更新", "no update"),
    };
    tr(
        lang,
        format!(
            "🔔 进度更正：第{}项 {}.{} {} 已撤回上次更新，恢复为 {back}\n/status {}",
            task.number, task.number, n, name, task.number
        ),
        format!(
            "🔔 Correction: task {}, {}.{} {}: the last update was withdrawn; back to {back}\n/status {}",
            task.number, task.number, n, name, task.number
        ),
    )
}
