//! Personal information in what people type: found ([`find_personal`]) so that an officer's
//! note carrying it is refused before it reaches the store, the audit trail or a notification,
//! and masked ([`mask`]) before a resident's question is stored.
//!
//! Channel-agnostic and pure. What counts as personal information here:
//! - mainland mobile numbers (`1[3-9]` and nine more digits, optionally after `+86`/`86`);
//! - landline numbers (`023-68681234`, `(023)68681234`, `0755 12345678`, `02368681234`);
//! - 18-character resident ID numbers whose GB 11643 check character (0–9 or X) is right;
//! - bank card numbers (16 to 19 digits) that pass the Luhn check;
//! - e-mail addresses.
//!
//! Full-width digits and punctuation (`１３８`, `（０２３）`, `＠`) are read as their ASCII forms.
//! Digits are read in runs; a run may be split by single spaces or hyphens into groups of three
//! or more digits (`138 1234 5678`, `6222 0212 3456 7890`), so `2024-03-15`, `12.5km`, `19.9`,
//! `1300个` or `3 处` never join into a long number. A run next to a decimal point is a
//! measurement, not a number to dial.

use unicode_normalization::UnicodeNormalization;

use crate::Lang;

/// A kind of personal information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Mobile,
    Landline,
    IdCard,
    BankCard,
    Email,
}

impl Kind {
    /// What it is called, for a refusal: `手机号`, `phone number`.
    pub fn name(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Kind::Mobile, Lang::Zh) => "手机号",
            (Kind::Mobile, Lang::En) => "a mobile phone number",
            (Kind::Landline, Lang::Zh) => "电话号码",
            (Kind::Landline, Lang::En) => "a telephone number",
            (Kind::IdCard, Lang::Zh) => "身份证号",
            (Kind::IdCard, Lang::En) => "an ID card number",
            (Kind::BankCard, Lang::Zh) => "银行卡号",
            (Kind::BankCard, Lang::En) => "a bank card number",
            (Kind::Email, Lang::Zh) => "电子邮箱",
            (Kind::Email, Lang::En) => "an e-mail address",
        }
    }
}

/// One character of the text, folded for reading, with where it came from.
#[derive(Clone, Copy)]
struct Ch {
    c: char,
    start: usize,
    end: usize,
}

/// The text char by char, full-width forms folded to ASCII (NFKC where it gives one char).
fn fold(text: &str) -> Vec<Ch> {
    text.char_indices()
        .map(|(start, c)| {
            let end = start + c.len_utf8();
            let folded = if c.is_ascii() {
                c
            } else {
                let mut n = std::iter::once(c).nfkc();
                match (n.next(), n.next()) {
                    (Some(f), None) => f,
                    _ => c,
                }
            };
            Ch {
                c: folded,
                start,
                end,
            }
        })
        .collect()
}

/// A piece of personal information: its kind and its byte range in the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    kind: Kind,
    start: usize,
    end: usize,
    /// The digits (or the address) as read, for masking.
    value: String,
}

/// The first kind of personal information in `text`, if any.
pub fn find_personal(text: &str) -> Option<Kind> {
    scan(text).into_iter().next().map(|f| f.kind)
}

/// `text` with every piece of personal information masked: digits keep their first three and
/// last four (`138****5678`), an e-mail address its first character and domain
/// (`z***@example.com`). Text without any comes back unchanged.
pub fn mask(text: &str) -> String {
    let found = scan(text);
    if found.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in &found {
        out.push_str(&text[at..f.start]);
        out.push_str(&masked(f));
        at = f.end;
    }
    out.push_str(&text[at..]);
    out
}

fn masked(f: &Found) -> String {
    if f.kind == Kind::Email {
        let (local, domain) = f.value.split_once('@').unwrap_or(("", &f.value));
        let first: String = local.chars().take(1).collect();
        return format!("{first}***@{domain}");
    }
    let chars: Vec<char> = f.value.chars().collect();
    let n = chars.len();
    if n <= 7 {
        return "*".repeat(n);
    }
    let mut s: String = chars[..3].iter().collect();
    s.push_str(&"*".repeat(n - 7));
    s.extend(&chars[n - 4..]);
    s
}

/// Every piece found, in order, not overlapping.
fn scan(text: &str) -> Vec<Found> {
    let chars = fold(text);
    let mut found = emails(&chars);
    for f in numbers(&chars) {
        if !found.iter().any(|e| f.start < e.end && e.start < f.end) {
            found.push(f);
        }
    }
    found.sort_by_key(|f| f.start);
    found
}

/// A run of digit groups joined by single separators, as indexes into the folded text.
struct Run {
    /// Index of the first char (a `(` or `+` when one opens the run) and one past the last.
    first: usize,
    last: usize,
    digits: String,
    /// The run ends with an `X` (only meaningful for an ID number).
    x: bool,
    /// Whether the first group was written in parentheses: `(023)`.
    parenthesised: bool,
}

fn numbers(chars: &[Ch]) -> Vec<Found> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].c.is_ascii_digit() {
            i += 1;
            continue;
        }
        let run = read_run(chars, i);
        let next = run.last.max(i + 1);
        if let Some(kind) = classify(&run) {
            let mut value = run.digits.clone();
            if run.x {
                value.push('X');
            }
            out.push(Found {
                kind,
                start: chars[run.first].start,
                end: chars[run.last - 1].end,
                value,
            });
        }
        i = next;
    }
    out
}

/// Reads digit groups from `chars[i]` (a digit that starts a group).
fn read_run(chars: &[Ch], i: usize) -> Run {
    let digit = |k: usize| chars.get(k).is_some_and(|c| c.c.is_ascii_digit());
    let group_end = |k: usize| {
        let mut e = k;
        while digit(e) {
            e += 1;
        }
        e
    };
    let mut first = i;
    let mut parenthesised = false;
    let mut end = group_end(i);
    let mut digits: String = chars[i..end].iter().map(|c| c.c).collect();
    // `(023)6868 1234`: an area code in parentheses opens the run.
    if i > 0
        && chars[i - 1].c == '('
        && chars.get(end).is_some_and(|c| c.c == ')')
        && (3..=4).contains(&(end - i))
        && digits.starts_with('0')
        && digit(end + 1)
    {
        first = i - 1;
        parenthesised = true;
        let next_end = group_end(end + 1);
        digits.extend(chars[end + 1..next_end].iter().map(|c| c.c));
        end = next_end;
    } else if i > 0 && chars[i - 1].c == '+' {
        first = i - 1;
    }
    // A digit right after a decimal point, or a group glued to letters before it, is part of
    // something else (`19.9`, `v2`, `A1234`).
    let glued_before = first > 0 && {
        let p = chars[first - 1].c;
        p == '.' && first >= 2 && chars[first - 2].c.is_ascii_digit()
    };
    // The local part after a parenthesised area code counts as a full group.
    let mut last_group = if parenthesised { 8 } else { end - i };
    loop {
        let joinable = matches!(chars.get(end).map(|c| c.c), Some(' ' | '-'));
        if !joinable || !digit(end + 1) {
            break;
        }
        let next_end = group_end(end + 1);
        let len = next_end - (end + 1);
        // Groups of 3+ digits join; a group of 2 (`86 138…`) may only come first.
        if len < 3 || last_group < 2 {
            break;
        }
        digits.extend(chars[end + 1..next_end].iter().map(|c| c.c));
        last_group = len;
        end = next_end;
    }
    let x = chars.get(end).is_some_and(|c| c.c == 'X' || c.c == 'x')
        && digits.len() == 17
        && !chars
            .get(end + 1)
            .is_some_and(|c| c.c.is_ascii_alphanumeric());
    let last = if x { end + 1 } else { end };
    // A decimal point after the run makes it a measurement (`13812345678.5`).
    let glued_after = chars.get(last).is_some_and(|c| c.c == '.') && digit(last + 1) && !x;
    if glued_before || glued_after {
        return Run {
            first,
            last,
            digits: String::new(),
            x: false,
            parenthesised,
        };
    }
    Run {
        first,
        last,
        digits,
        x,
        parenthesised,
    }
}

fn classify(run: &Run) -> Option<Kind> {
    let d = run.digits.as_str();
    let n = d.len();
    let b = d.as_bytes();
    if run.x {
        return id_checksum_ok(d, 'X').then_some(Kind::IdCard);
    }
    if n == 0 {
        return None;
    }
    let mobile = |s: &[u8]| s.len() == 11 && s[0] == b'1' && (b'3'..=b'9').contains(&s[1]);
    if mobile(b) || (n == 13 && d.starts_with("86") && mobile(&b[2..])) {
        return Some(Kind::Mobile);
    }
    if n == 18 && id_checksum_ok(&d[..17], char::from(b[17])) {
        return Some(Kind::IdCard);
    }
    if (16..=19).contains(&n) && b[0] != b'0' && luhn_ok(d) {
        return Some(Kind::BankCard);
    }
    if b[0] == b'0' && b.get(1).is_some_and(|&c| c != b'0') && (10..=12).contains(&n) {
        return Some(Kind::Landline);
    }
    if run.parenthesised && (10..=12).contains(&n) {
        return Some(Kind::Landline);
    }
    None
}

/// GB 11643-1999: the check character of the first 17 digits.
fn id_checksum_ok(first17: &str, check: char) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    if first17.len() != 17 {
        return false;
    }
    let mut sum = 0;
    for (c, w) in first17.chars().zip(WEIGHTS) {
        let Some(v) = c.to_digit(10) else {
            return false;
        };
        sum += v * w;
    }
    CHECK[(sum % 11) as usize] == check.to_ascii_uppercase()
}

fn luhn_ok(digits: &str) -> bool {
    let mut sum = 0;
    for (i, c) in digits.chars().rev().enumerate() {
        let Some(mut v) = c.to_digit(10) else {
            return false;
        };
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

/// E-mail addresses: `local@domain.tld`, ASCII after folding.
fn emails(chars: &[Ch]) -> Vec<Found> {
    let local = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-');
    let domain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-');
    let mut out = Vec::new();
    for (at, ch) in chars.iter().enumerate() {
        if ch.c != '@' {
            continue;
        }
        let mut s = at;
        while s > 0 && local(chars[s - 1].c) {
            s -= 1;
        }
        let mut e = at + 1;
        while e < chars.len() && domain(chars[e].c) {
            e += 1;
        }
        // Trailing dots are punctuation, not part of the domain.
        while e > at + 1 && chars[e - 1].c == '.' {
            e -= 1;
        }
        if s == at || e == at + 1 {
            continue;
        }
        let dom: String = chars[at + 1..e].iter().map(|c| c.c).collect();
        let tld_ok = dom.rsplit_once('.').is_some_and(|(name, tld)| {
            !name.is_empty() && tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
        });
        if !tld_ok {
            continue;
        }
        let value: String = chars[s..e].iter().map(|c| c.c).collect();
        out.push(Found {
            kind: Kind::Email,
            start: chars[s].start,
            end: chars[e - 1].end,
            value,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums() {
        assert!(id_checksum_ok("11010519491231002", 'X'));
        assert!(!id_checksum_ok("11010519491231002", '1'));
        assert!(luhn_ok("4111111111111111"));
        assert!(!luhn_ok("4111111111111112"));
    }
}
