//! Text from people and networks, made safe to store and to show.
//!
//! Everything a user types (a question, an officer's note) and every name a channel reports
//! passes [`clean`] once, at the core's door, so no control character ever reaches the store,
//! an audit line, a notification or a terminal: a NUL that PostgreSQL refuses (and SQLite
//! keeps), an escape sequence that repaints an officer's terminal, or a bidirectional override
//! that makes "12 km" read as "mk 21". Adapters that print to a terminal also pass their
//! output through [`for_terminal`], for whatever was stored before this rule existed.

use std::borrow::Cow;

/// Characters that are never kept: C0 and C1 controls other than tab and newline, DEL, the
/// bidirectional embeddings, overrides, isolates and marks, and the byte-order mark. Zero-width
/// joiners (emoji sequences) and variation selectors are ordinary text and stay.
pub fn is_forbidden(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{200e}' | '\u{200f}' | '\u{061c}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        | '\u{feff}')
}

/// `text` without forbidden characters; line breaks of any convention (`\r\n`, `\r`, U+2028,
/// U+2029) become `\n`, so a pasted note reads the same on every channel. Borrowed when
/// nothing had to change, which is almost always.
pub fn clean(text: &str) -> Cow<'_, str> {
    let needs_work = text
        .chars()
        .any(|c| is_forbidden(c) || matches!(c, '\r' | '\u{2028}' | '\u{2029}'));
    if !needs_work {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\u{2028}' | '\u{2029}' => out.push('\n'),
            c if is_forbidden(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`clean`] on one line of text: also folds line breaks and tabs into spaces and cuts it to
/// `max` characters. For names that channels report (a Telegram profile name can hold
/// anything its owner likes).
pub fn clean_line(text: &str, max: usize) -> String {
    clean(text)
        .chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .take(max)
        .collect::<String>()
        .trim()
        .to_string()
}

/// At most `max` characters of `text`, with `…` when something was cut: for echoing what
/// someone typed back in a reply without letting a pasted paragraph fill it.
pub fn clip(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

/// `text` made harmless for a terminal: any forbidden character left (in data stored before
/// [`clean`] existed) is shown as a visible escape such as `\u{1b}` instead of being obeyed.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| is_forbidden(c) || c == '\r') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if is_forbidden(c) || c == '\r' {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_removed() {
        assert_eq!(clean("12.5km 西永\u{0}片区"), "12.5km 西永片区");
        assert_eq!(clean("a\u{7}b\u{1b}[31mc"), "ab[31mc");
        assert_eq!(clean("\u{202e}mk 21\u{202c}"), "mk 21");
        assert_eq!(clean("x\u{2066}y\u{2069}\u{200f}"), "xy");
        assert_eq!(clean("\u{feff}/tasks"), "/tasks");
        assert_eq!(clean("\u{85}\u{9b}z"), "z");
    }

    #[test]
    fn line_breaks_are_unified_and_text_is_kept() {
        assert_eq!(clean("a\r\nb\rc\u{2028}d"), "a\nb\nc\nd");
        assert_eq!(clean("tab\there"), "tab\there");
        // Emoji sequences keep their joiners and variation selectors.
        let family = "👨\u{200d}👩\u{200d}👧 ❤\u{fe0f}";
        assert!(matches!(clean(family), Cow::Borrowed(_)));
        assert_eq!(clean(family), family);
    }

    #[test]
    fn names_are_one_short_line() {
        assert_eq!(clean_line(" 张\n三\t\u{202e}局 ", 10), "张 三 局");
        assert_eq!(clean_line("abcdef", 3), "abc");
    }

    #[test]
    fn terminals_see_escapes_not_commands() {
        assert_eq!(for_terminal("ok"), "ok");
        assert_eq!(for_terminal("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(for_terminal("a\rb"), "a\\u{d}b");
        assert!(!for_terminal("\u{202e}x").contains('\u{202e}'));
    }
}
