//! `/feed.atom`: the latest updates, for people who follow without a bot, and the audit
//! chain's head at the end of each recent day, so anyone can keep a copy and later check that
//! the record was not rewritten (`minsheng verify-audit` walks the same chain).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde::Serialize;

use super::{App, FEED_ENTRIES, FEED_HEADS, PageError, cached, day_of, negotiate, view};
use crate::Lang;
use crate::progress::{Item, goal_stage, item, stage_name, with_unit};
use crate::report::rfc3339;
use crate::store::AuditKind;

#[derive(Serialize)]
struct Entry {
    id: String,
    title: String,
    updated: String,
    path: String,
    content: String,
}

/// Where links point: `PUBLIC_URL`, else the host the request named (if it looks like one),
/// else relative links.
fn base(app: &App, headers: &HeaderMap) -> String {
    if let Some(url) = app.core.public_url() {
        return url.to_string();
    }
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .map_or_else(String::new, |h| format!("http://{h}"))
}

pub(super) async fn feed(
    State(app): State<App>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let lang = negotiate(query.as_deref(), &headers);
    let core = &app.core;
    let knowledge = core.knowledge();
    let updates = core.store().latest_updates(FEED_ENTRIES).await?;
    let heads = core.store().audit_day_heads(FEED_HEADS, day_of).await?;
    let en = lang == Lang::En;
    let suffix = if en { "?lang=en" } else { "" };
    let mut entries: Vec<(i64, Entry)> = Vec::new();
    for e in &updates {
        let Some(task) = knowledge.task(e.task) else {
            continue;
        };
        let it = e.number.and_then(|n| item(task, n));
        let value = match (it, e.new_value, e.new_stage) {
            (Some(Item::Metric(m)), Some(v), _) => with_unit(v, m.unit, lang),
            (Some(Item::Milestone(g)), _, Some(s)) => goal_stage(g.kind, s, lang).to_string(),
            (_, _, Some(s)) => stage_name(s, lang).to_string(),
            _ => "—".to_string(),
        };
        let name = it.map_or("", |i| i.name(lang));
        let at = format!("{}.{}", e.task, e.number.unwrap_or(0));
        let undo = e.kind == AuditKind::Undo;
        let title = match lang {
            Lang::Zh => format!(
                "第{}项 {}：{at} {name} {}{value}",
                task.number,
                task.title.zh,
                if undo { "撤销为 " } else { "" }
            ),
            Lang::En => format!(
                "Task {}: {}: {at} {name} {}{value}",
                task.number,
                task.title.en,
                if undo { "reverted to " } else { "now " }
            ),
        };
        let mut content = title.clone();
        if let Some(note) = e.note.as_deref().filter(|n| !n.trim().is_empty()) {
            content.push_str(&format!("\n“{note}”"));
        }
        content.push_str(&format!(
            "\n{} {}",
            view::tr(lang, "更新人：", "By"),
            crate::progress::updater_name(&e.actor.name, lang)
        ));
        entries.push((
            e.at,
            Entry {
                id: format!("tag:minsheng,{}:audit/{}", knowledge.period.year, e.id),
                title,
                updated: rfc3339(e.at),
                path: format!(
                    "/tasks/{}{suffix}#item-{}",
                    task.number,
                    e.number.unwrap_or(0)
                ),
                content,
            },
        ));
    }
    for (day, at, hash) in &heads {
        let title = match lang {
            Lang::Zh => format!("审计记录链 {day} 日终哈希：{hash}"),
            Lang::En => format!("Audit chain head at the end of {day}: {hash}"),
        };
        entries.push((
            *at,
            Entry {
                id: format!("tag:minsheng,{}:audit-head/{day}", knowledge.period.year),
                content: format!(
                    "{title}\n{}",
                    view::tr(
                        lang,
                        "保存这个哈希值，日后可用它核对记录是否被改动（minsheng verify-audit）。",
                        "Keep this hash: it lets anyone check later that the record was not rewritten (minsheng verify-audit).",
                    )
                ),
                title,
                updated: rfc3339(*at),
                path: format!("/{suffix}"),
            },
        ));
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    let updated = entries.first().map_or_else(
        || rfc3339(core.now().timestamp_millis()),
        |(_, e)| e.updated.clone(),
    );
    let frame = view::frame(knowledge, lang, "", "/", None);
    let ctx = minijinja::context! {
        lang => if en { "en" } else { "zh-Hans" },
        year => knowledge.period.year,
        title => frame.site,
        subtitle => view::tr(lang, "进度更新与审计记录链", "Progress updates and the audit chain"),
        author => view::tr(lang, "重庆高新区民生实事助手", "minsheng, Chongqing High-tech Zone"),
        updated => updated,
        base => base(&app, &headers),
        query => suffix,
        entries => minijinja::value::Serde(entries.into_iter().map(|(_, e)| e).collect::<Vec<_>>()),
    };
    let xml = app.env.get_template("feed.xml")?.render(ctx)?;
    Ok(cached(
        &headers,
        "application/atom+xml; charset=utf-8",
        xml.into_bytes(),
    ))
}
