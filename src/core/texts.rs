//! The bot's fixed wording in both languages: greetings, help and apologies.

use crate::Lang;

pub fn sorry(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "抱歉，系统暂时出了点问题，您的操作没有生效。请稍后再试。",
        Lang::En => {
            "Sorry, something went wrong on our side and nothing was changed. Please try again in a moment."
        }
    }
}

pub fn too_long(lang: Lang, max: usize) -> String {
    match lang {
        Lang::Zh => format!("消息太长了（超过{max}字），没有处理。请简短一些再发。"),
        Lang::En => format!(
            "That message is too long (over {max} characters), so nothing was done. Please send a shorter one."
        ),
    }
}

pub fn welcome(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => {
            "您好！我是重庆高新区民生实事助手，可以解答2024年20件重点民生实事的政策问题，并报告每项任务的最新进度。\n\n可以这样问我：\n· 什么是错时共享停车？\n· 老旧供水管网改造完成多少了？\n· 每千人口托位数怎么算？\n\n常用命令：\n/tasks 全部20项任务进度\n/status 14 查看第14项任务\n/subscribe 14 订阅进度更新\n/help 帮助"
        }
        Lang::En => {
            "Hello! I'm the assistant for Chongqing High-tech Zone's 2024 key livelihood projects. I answer questions about the 20 tasks and the policies behind them, and report each task's latest progress.\n\nTry asking:\n· What is staggered-time shared parking?\n· How far along is the old water pipe renovation?\n· How are childcare places per 1,000 people counted?\n\nCommands:\n/tasks progress of all 20 tasks\n/status 14 one task in detail\n/subscribe 14 get progress updates\n/help help"
        }
    }
}

pub fn help(lang: Lang, officer: bool, admin: bool) -> String {
    let mut text = match lang {
        Lang::Zh => "直接用中文或英文提问即可，例如“什么是错时共享停车？”“托位数完成了吗？”。\n\n命令：\n/tasks — 全部20项任务的进度\n/status <任务> — 某项任务的详细进度，如 /status 14、/status 第十四项、/status 供水\n/subscribe <任务|all> — 订阅进度更新；/unsubscribe 取消\n/privacy — 我们保存什么；/forget — 删除有关您的信息\n/whoami — 查看您的用户ID（申请更新权限时使用）".to_string(),
        Lang::En => "Just ask in English or Chinese, e.g. \"What is staggered-time shared parking?\" or \"How far is the Huxi River restoration?\".\n\nCommands:\n/tasks — progress of all 20 tasks\n/status <task> — one task in detail, e.g. /status 14 or /status water\n/subscribe <task|all> — progress notifications; /unsubscribe to stop\n/privacy — what we keep; /forget — delete what we keep about you\n/whoami — your user id (officers need it to be granted rights)".to_string(),
    };
    if officer || admin {
        text.push_str(match lang {
            Lang::Zh => "\n\n工作人员命令：\n/update <任务>[.<指标>] [指标名] <数值><单位> [备注] — 更新当前值（不是增量），如 /update 14 12.5km 西永片区完工、/update 19 缓冲带 3.2km、/update 19.9 3.2km\n/update <任务>[.<序号>] <未开始|进行中|已完成> [备注] — 更新阶段性任务\n/undo — 撤销您最近一次更新\n/pending — 等待您更新的指标\n/history <任务> — 更新记录\n/unanswered — 未能回答的常见问题",
            Lang::En => "\n\nOfficer commands:\n/update <task>[.<metric>] [metric words] <value><unit> [note] — set the current value (not an increment), e.g. /update 14 12.5km, /update 19 buffer 3.2km, /update 19.9 3.2km\n/update <task>[.<item>] <not started|in progress|done> [note] — for milestones\n/undo — revert your last update\n/pending — figures waiting for your update\n/history <task> — the audit trail\n/unanswered — frequent questions the bot could not answer",
        });
    }
    if admin {
        text.push_str(match lang {
            Lang::Zh => "\n\n管理员命令：\n/grant <用户ID> [任务编号…] — 授权更新（不写编号即全部任务）\n/grant <用户ID> editor — 授权为编辑（可教机器人新问法）\n/revoke <用户ID> [editor] — 收回授权（写 editor 只收回编辑权限）\n/officers — 已授权人员和编辑\n/export — 导出全部数据（Excel）",
            Lang::En => "\n\nAdmin commands:\n/grant <user id> [task numbers…] — allow updates (all tasks when none given)\n/grant <user id> editor — make an editor (may teach the bot phrasings)\n/revoke <user id> [editor] — withdraw (with editor: the editor grant only)\n/officers — who may update or teach\n/export — everything as an Excel workbook",
        });
    }
    text
}

/// The commands of editors (admins and `/grant ID editor`).
pub fn editor_help(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => {
            "\n\n编辑命令：\n/unanswered — 未能回答、只给了“您是不是想问”或被点 👎 的问题，带编号和最接近的条目\n/teach <编号> <条目> — 把第几个问题教给某个条目，如 /teach 3 qa3（也可以直接点问题下的按钮）\n/unteach <编号|问法> — 撤销教过的问法（记录保留）\n/taught — 正在使用的已教问法"
        }
        Lang::En => {
            "\n\nEditor commands:\n/unanswered — questions the bot could not answer, only guessed at, or got a 👎, numbered, with the nearest entries\n/teach <number> <entry> — teach question N as another way to ask an entry, e.g. /teach 3 qa3 (or press its button)\n/unteach <number|phrasing> — take a taught phrasing out of use (the record is kept)\n/taught — the taught phrasings in use"
        }
    }
}

/// The menu a channel advertises (Telegram's `setMyCommands`).
pub fn command_menu(lang: Lang) -> Vec<(&'static str, &'static str)> {
    match lang {
        Lang::Zh => vec![
            ("start", "开始使用"),
            ("tasks", "全部20项任务进度"),
            ("status", "某项任务的进度，如 /status 14"),
            ("subscribe", "订阅进度更新，如 /subscribe 14 或 all"),
            ("unsubscribe", "取消订阅"),
            ("help", "帮助"),
            ("privacy", "隐私说明"),
            ("forget", "删除有关我的信息"),
            ("whoami", "我的用户ID"),
            ("update", "工作人员：更新进度"),
            ("undo", "工作人员：撤销上次更新"),
            ("history", "工作人员：更新记录"),
        ],
        Lang::En => vec![
            ("start", "Start"),
            ("tasks", "Progress of all 20 tasks"),
            ("status", "One task's progress, e.g. /status 14"),
            (
                "subscribe",
                "Progress notifications, e.g. /subscribe 14 or all",
            ),
            ("unsubscribe", "Stop notifications"),
            ("help", "Help"),
            ("privacy", "What is kept about me"),
            ("forget", "Delete what is kept about me"),
            ("whoami", "My user id"),
            ("update", "Officers: post progress"),
            ("undo", "Officers: revert my last update"),
            ("history", "Officers: audit trail"),
        ],
    }
}

/// What is kept, for how long, and how to delete it, in two sentences.
pub fn privacy(lang: Lang, days: i64) -> String {
    match lang {
        Lang::Zh => format!(
            "隐私说明：我们只保存未能回答或您点了 👎 的提问（手机号、身份证号等已打码）和您对回答的评价，连同您的用户ID，{days}天后自动删除，订阅保存到您取消为止。发送 /forget 可随时删除我们保存的有关您的全部信息（工作人员的更新记录作为公开履职记录保留）。"
        ),
        Lang::En => format!(
            "Privacy: we keep only questions we could not answer or whose answer you marked 👎 (phone, ID and card numbers masked) and your ratings of answers, with your user id, for {days} days, and subscriptions until you cancel them. Send /forget at any time to delete everything we keep about you (officers' update records stay as the public record)."
        ),
    }
}

/// Where to turn when the bot cannot help: the national government service hotline.
pub fn hotline(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "如需人工帮助，请拨打12345政务服务便民热线。",
        Lang::En => "For help from a person, call the 12345 government service hotline.",
    }
}
