//! The console channel: the same core on stdin/stdout, so anyone can try the bot without a
//! Telegram token. Interactive in a terminal; one reply block per line when piped.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use crate::Lang;
use crate::core::{Button, Core, Input, Message, Sender};
use crate::text::for_terminal;

pub const CHANNEL: &str = "console";

/// Who is typing; there is no login on a console, the id is whatever the operator says.
#[derive(Debug, Clone)]
pub struct ConsoleUser {
    pub id: String,
    pub name: String,
    pub lang: Option<Lang>,
}

/// Reads lines until EOF, answering each; everything printed goes through [`for_terminal`]. A line that is just the number of a button shown
/// under the previous reply presses that button. With `prompt`, shows `> ` before each line.
pub async fn run<R, W>(
    core: &Core,
    user: &ConsoleUser,
    input: R,
    mut out: W,
    prompt: bool,
) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let sender = Sender {
        channel: CHANNEL,
        user_id: user.id.clone(),
        name: user.name.clone(),
        lang: user.lang,
    };
    if prompt {
        let lang = user.lang.unwrap_or(Lang::Zh);
        out.write_all(format!("{}\n\n> ", core.welcome(lang).text).as_bytes())
            .await?;
        out.flush().await?;
    }
    let mut buttons: Vec<Button> = Vec::new();
    let mut input = input;
    let mut raw = Vec::new();
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw).await? == 0 {
            break;
        }
        // A line that is not UTF-8 (a Latin-1 file, a binary piped by mistake) is answered
        // and skipped: the lines after it are still someone's questions.
        let Ok(line) = std::str::from_utf8(&raw) else {
            let lang = user.lang.unwrap_or(Lang::Zh);
            let mut block = not_utf8(lang).to_string();
            block.push_str("\n\n");
            if prompt {
                block.push_str("> ");
            }
            out.write_all(block.as_bytes()).await?;
            out.flush().await?;
            continue;
        };
        let line = line.trim();
        if line.is_empty() {
            if prompt {
                out.write_all(b"> ").await?;
                out.flush().await?;
            }
            continue;
        }
        let pressed = line
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| buttons.get(i));
        let input = match pressed {
            Some(b) => Input::Button(b.data.clone()),
            None => Input::Text(line.to_string()),
        };
        let msg = Message {
            sender: sender.clone(),
            chat_id: user.id.clone(),
            input,
        };
        let replies = core.handle(&msg).await;
        let mut block = String::new();
        buttons.clear();
        for reply in replies {
            block.push_str(&reply.text);
            block.push('\n');
            if let Some(doc) = &reply.document {
                block.push_str(&save_document(doc).await);
                block.push('\n');
            }
            for b in reply.buttons {
                // Feedback buttons are for chat apps; a console user can just type.
                if b.data.starts_with("fb:") {
                    continue;
                }
                buttons.push(b);
                block.push_str(&format!(
                    "  [{}] {}\n",
                    buttons.len(),
                    buttons[buttons.len() - 1].label
                ));
            }
        }
        block.push_str(&notifications(core, &user.id).await);
        block.push('\n');
        if prompt {
            block.push_str("> ");
        }
        out.write_all(for_terminal(&block).as_bytes()).await?;
        out.flush().await?;
    }
    Ok(())
}

/// Writes a reply's file (`/export`) to the current directory and says where, or why not.
async fn save_document(doc: &crate::core::Document) -> String {
    // The name is the core's, but keep it a plain file name here whatever it says.
    let name: String = doc
        .file_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let name = if name.is_empty() || name.starts_with('.') {
        "minsheng-export.xlsx".to_string()
    } else {
        name
    };
    let path = std::env::current_dir().unwrap_or_default().join(&name);
    match tokio::fs::write(&path, &doc.bytes).await {
        Ok(()) => format!("→ {}", path.display()),
        Err(e) => format!("✗ {}: {e}", path.display()),
    }
}

fn not_utf8(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "这一行不是 UTF-8 文本，无法读取，已跳过。请用 UTF-8 编码输入。",
        Lang::En => "That line is not UTF-8 text, so I skipped it. Please type or pipe UTF-8.",
    }
}

/// Delivers this console user's queued notifications (their subscriptions) as text.
async fn notifications(core: &Core, chat_id: &str) -> String {
    let store = core.store();
    let mut text = String::new();
    // One claim yields one notification per chat (in order): claim until ours are all out.
    for _ in 0..100 {
        let items = match store.claim_outbox(CHANNEL, 100, 30_000).await {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(error = %e, "reading the console outbox failed");
                return text;
            }
        };
        if !items.iter().any(|i| i.chat_id == chat_id) {
            break;
        }
        deliver(store, chat_id, items, &mut text).await;
    }
    text
}

async fn deliver(
    store: &crate::store::Store,
    chat_id: &str,
    items: Vec<crate::store::OutboxItem>,
    text: &mut String,
) {
    for item in items {
        let done = if item.chat_id == chat_id {
            text.push_str(&format!("{}\n", item.text));
            store.complete_outbox(item.id).await
        } else {
            // Another console user's: leave it for their session.
            store.retry_outbox(item.id, 0).await
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, "updating the console outbox failed");
        }
    }
}
