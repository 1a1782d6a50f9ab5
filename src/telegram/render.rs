//! Core replies as Telegram messages: HTML with every dynamic piece escaped, split under
//! Telegram's length limit, buttons as inline keyboards.

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use teloxide::utils::html::escape;

use crate::core::Button;

/// Telegram's limit for one message, in UTF-16 code units after entity parsing. We measure the
/// markup itself, which is never shorter than what it renders to, so a part always fits.
pub const MAX_MESSAGE_UNITS: usize = 4096;

fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `text` (plain, unescaped) as HTML message parts, each at most [`MAX_MESSAGE_UNITS`] long.
/// The first line is bold. Parts break at line breaks; a single line too long for a message
/// breaks between characters of the plain text, so never inside an escape or a tag.
pub fn html_parts(text: &str) -> Vec<String> {
    html_parts_within(text, MAX_MESSAGE_UNITS)
}

/// [`html_parts`] with another limit (for tests of the splitting itself).
pub fn html_parts_within(text: &str, limit: usize) -> Vec<String> {
    const BOLD: (&str, &str) = ("<b>", "</b>");
    // A limit too small for the bold tags and one escaped character could never make progress.
    let limit = limit.max(units(BOLD.0) + units(BOLD.1) + 8);
    let text = text.trim_end();
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut current_units = 0;
    for (i, line) in text.split('\n').enumerate() {
        let bold = i == 0 && !line.trim().is_empty();
        let mut pieces = split_line(line, limit, bold);
        for (j, piece) in pieces.drain(..).enumerate() {
            let mut html = escape(&piece);
            if bold && j == 0 {
                html = format!("{}{html}{}", BOLD.0, BOLD.1);
            }
            let html_units = units(&html);
            // A continuation piece of a long line starts a new part; so does a line that
            // does not fit after the newline.
            let separator = usize::from(!current.is_empty());
            if !current.is_empty() && (j > 0 || current_units + separator + html_units > limit) {
                parts.push(std::mem::take(&mut current));
                current_units = 0;
            } else if !current.is_empty() {
                current.push('\n');
                current_units += 1;
            } else if i > 0 && j == 0 && line.is_empty() {
                // A blank line at the top of a new part would only add space.
                continue;
            }
            current.push_str(&html);
            current_units += html_units;
        }
    }
    if !current.trim().is_empty() || parts.is_empty() {
        parts.push(current);
    }
    parts
}

/// Cuts one line into pieces whose escaped form (plus the bold tags if `bold`) fits `limit`.
fn split_line(line: &str, limit: usize, bold: bool) -> Vec<String> {
    let tags = if bold { "<b></b>".len() } else { 0 };
    if units(&escape(line)) + tags <= limit {
        return vec![line.to_string()];
    }
    let mut pieces = Vec::new();
    let mut piece = String::new();
    let mut piece_units = if bold { tags } else { 0 };
    for c in line.chars() {
        let c_units = match c {
            '&' => 5,
            '<' | '>' => 4,
            c => c.len_utf16(),
        };
        if piece_units + c_units > limit {
            pieces.push(std::mem::take(&mut piece));
            piece_units = 0;
        }
        piece.push(c);
        piece_units += c_units;
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    pieces
}

/// The inline keyboard for a reply's buttons: 👍/👎 feedback side by side, everything else one
/// button per row. None when there are no buttons.
pub fn keyboard(buttons: &[Button]) -> Option<InlineKeyboardMarkup> {
    if buttons.is_empty() {
        return None;
    }
    let (feedback, others): (Vec<&Button>, Vec<&Button>) =
        buttons.iter().partition(|b| b.data.starts_with("fb:"));
    let mut rows: Vec<Vec<InlineKeyboardButton>> = others
        .into_iter()
        .map(|b| vec![InlineKeyboardButton::callback(&b.label, &b.data)])
        .collect();
    if !feedback.is_empty() {
        rows.push(
            feedback
                .into_iter()
                .map(|b| InlineKeyboardButton::callback(&b.label, &b.data))
                .collect(),
        );
    }
    Some(InlineKeyboardMarkup::new(rows))
}
