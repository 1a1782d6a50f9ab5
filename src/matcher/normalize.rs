//! Text → tokens, the same way for the knowledge base and for a resident's message.
//!
//! NFKC folds full-width letters and punctuation; traditional characters become simplified;
//! each Chinese character is a token carrying its (fuzzy) pinyin, so homophone slips of pinyin
//! input (共想 for 共享) still meet; Latin words are stemmed; everything else separates tokens.

use std::hash::{Hash, Hasher};

use pinyin::ToPinyin;
use rustc_hash::{FxHashMap, FxHasher};
use unicode_normalization::UnicodeNormalization;

/// The kind tag lives in the key's top bits, so keys of different kinds never collide.
const TAG_SHIFT: u32 = 60;
const LOW: u64 = (1 << TAG_SHIFT) - 1;
const TAG_HAN: u64 = 1;
const TAG_SOUND: u64 = 2;
const TAG_WORD: u64 = 3;
const TAG_NUM: u64 = 4;
const TAG_BIGRAM: u64 = 5;
const TAG_SOUND_BIGRAM: u64 = 6;
const TAG_RIME: u64 = 7;
const TAG_LOOSE_BIGRAM: u64 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Han,
    Word,
    Number,
}

/// What a token does in a question: carries its topic, or only tells what is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Content,
    Filler,
    Definition,
    Progress,
    /// Asks for a number ("多少", "how many"): progress, unless a definition cue says otherwise.
    Quantity,
    /// Asks how to apply, sign up, where or when open: nothing the official texts say.
    Procedure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub key: u64,
    /// Pinyin key for Chinese characters; equal to `key` otherwise.
    pub sound: u64,
    /// The pinyin without its initial (wang → ang): a slip of one key still rhymes.
    pub rime: u64,
    pub kind: TokenKind,
    pub role: Role,
    /// Spelling-corrected: matches earn a little less than the word as typed.
    pub fuzzy: bool,
}

/// A token before stemming, with the text that fuzzy spelling correction needs.
#[derive(Debug, Clone, PartialEq)]
pub struct RawToken {
    pub token: Token,
    /// The lower-cased word as typed (Latin words only).
    pub word: Option<String>,
}

fn hash_str(tag: u64, s: &str) -> u64 {
    let mut h = FxHasher::default();
    s.hash(&mut h);
    (tag << TAG_SHIFT) | (h.finish() & LOW)
}

pub fn word_key(stem: &str) -> u64 {
    hash_str(TAG_WORD, stem)
}

pub fn bigram(a: u64, b: u64) -> u64 {
    let mut h = FxHasher::default();
    (a, b).hash(&mut h);
    (TAG_BIGRAM << TAG_SHIFT) | (h.finish() & LOW)
}

/// One character by sound, its neighbour by rime only.
pub fn loose_bigram(a: u64, b: u64) -> u64 {
    let mut h = FxHasher::default();
    (a, b).hash(&mut h);
    (TAG_LOOSE_BIGRAM << TAG_SHIFT) | (h.finish() & LOW)
}

pub fn sound_bigram(a: u64, b: u64) -> u64 {
    let mut h = FxHasher::default();
    (a, b).hash(&mut h);
    (TAG_SOUND_BIGRAM << TAG_SHIFT) | (h.finish() & LOW)
}

/// Chinese characters as the matcher sees them: the CJK ideograph blocks.
pub fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2EBEF | 0xF900..=0xFAFF | 0x30000..=0x3134F)
}

/// Pinyin without tone split into initial and final, folded for the slips pinyin typists and
/// south-western speakers make: zh/ch/sh ↔ z/c/s, n ↔ l, f ↔ h, -ng ↔ -n. Slices of static
/// tables: no allocation on the hot path.
fn fuzzy_pinyin(c: char) -> Option<(&'static str, &'static str)> {
    let plain = c.to_pinyin()?.plain();
    let split = plain
        .find(['a', 'e', 'i', 'o', 'u', 'ü', 'v'])
        .unwrap_or(plain.len());
    let (initial, fin) = plain.split_at(split);
    let initial = match initial {
        "zh" => "z",
        "ch" => "c",
        "sh" => "s",
        "n" => "l",
        "f" => "h",
        other => other,
    };
    let fin = fin
        .strip_suffix('g')
        .filter(|f| f.ends_with('n'))
        .unwrap_or(fin);
    Some((initial, fin))
}

fn hash_parts(tag: u64, parts: &[&str]) -> u64 {
    let mut h = FxHasher::default();
    for p in parts {
        h.write(p.as_bytes());
    }
    h.write_u8(0xff);
    (tag << TAG_SHIFT) | (h.finish() & LOW)
}

/// The sound and rime keys of a Chinese character (its own key when it has no pinyin).
fn sound_keys(c: char) -> (u64, u64) {
    match fuzzy_pinyin(c) {
        Some((initial, fin)) => (
            hash_parts(TAG_SOUND, &[initial, fin]),
            hash_parts(TAG_RIME, &[fin]),
        ),
        None => {
            let key = (TAG_HAN << TAG_SHIFT) | c as u64;
            (key, key)
        }
    }
}

/// The CJK Unified Ideographs block, where nearly every character of a message falls.
const COMMON_HAN: std::ops::RangeInclusive<char> = '\u{4E00}'..='\u{9FFF}';

/// [`sound_keys`] of the common block, computed once: searching the pinyin tables and hashing
/// the syllable for every character of every message costs more than the lookup.
fn common_sound_keys() -> &'static [(u64, u64)] {
    static TABLE: std::sync::OnceLock<Box<[(u64, u64)]>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| COMMON_HAN.map(sound_keys).collect())
}

fn han_token(c: char) -> Token {
    let key = (TAG_HAN << TAG_SHIFT) | c as u64;
    let (sound, rime) = if COMMON_HAN.contains(&c) {
        common_sound_keys()
            .get(c as usize - 0x4E00)
            .copied()
            .unwrap_or_else(|| sound_keys(c))
    } else {
        sound_keys(c)
    };
    Token {
        key,
        sound,
        rime,
        kind: TokenKind::Han,
        role: Role::Content,
        fuzzy: false,
    }
}

fn number_token(digits: &str) -> Token {
    // 12.50 and 12.5 are one number.
    let canon = match digits.parse::<f64>() {
        Ok(v) if v.is_finite() => format!("{v}"),
        _ => digits.to_string(),
    };
    let key = hash_str(TAG_NUM, &canon);
    Token {
        key,
        sound: key,
        rime: key,
        kind: TokenKind::Number,
        role: Role::Content,
        fuzzy: false,
    }
}

/// Folds width, case and script: what every comparison starts from.
pub fn fold(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    // Most messages are common ideographs, ASCII and full-width punctuation: folded here
    // without the normalisation tables, to what NFKC and lowercasing would give.
    let mut common = String::with_capacity(text.len());
    let lower = match text
        .chars()
        .try_for_each(|c| fold_common(c).map(|f| common.push(f)))
    {
        Some(()) => common,
        None => match unicode_normalization::is_nfkc_quick(text.chars()) {
            unicode_normalization::IsNormalized::Yes => {
                text.chars().flat_map(char::to_lowercase).collect()
            }
            _ => text.nfkc().flat_map(char::to_lowercase).collect(),
        },
    };
    fast2s::convert(&lower)
}

/// NFKC and lowercase of one character that is ASCII, a full-width form of ASCII, the
/// ideographic space, or a common ideograph or CJK punctuation mark (none of which compose with
/// a neighbour); `None` for anything else.
fn fold_common(c: char) -> Option<char> {
    match c {
        _ if c.is_ascii() => Some(c.to_ascii_lowercase()),
        '\u{FF01}'..='\u{FF5E}' => {
            char::from_u32(c as u32 - 0xFEE0).map(|a| a.to_ascii_lowercase())
        }
        '\u{3000}' => Some(' '),
        '\u{3001}' | '\u{3002}' | '\u{300A}'..='\u{3011}' | '\u{4E00}'..='\u{9FFF}' => Some(c),
        _ => None,
    }
}

/// Splits folded text into tokens. Stemming is left to the caller (see [`Stemmer`]).
pub fn tokenize(text: &str, stemmer: &Stemmer) -> Vec<RawToken> {
    let folded = fold(text);
    // A token takes at least one byte, and a Chinese character three.
    let mut out = Vec::with_capacity(folded.len() / 2);
    let mut chars = folded.chars().peekable();
    while let Some(c) = chars.next() {
        if is_han(c) {
            out.push(RawToken {
                token: han_token(c),
                word: None,
            });
        } else if c.is_ascii_digit() {
            let mut num = String::with_capacity(16);
            num.push(c);
            while let Some(&n) = chars.peek() {
                if n.is_ascii_digit() || (n == '.' && !num.contains('.')) {
                    num.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            let num = num.trim_end_matches('.');
            out.push(RawToken {
                token: number_token(num),
                word: None,
            });
        } else if c.is_alphabetic() {
            let mut word = String::with_capacity(16);
            word.push(c);
            while let Some(&n) = chars.peek() {
                if n.is_alphabetic() {
                    word.push(n);
                    chars.next();
                } else if n == '\'' || n == '’' {
                    // Keep "what's" together so the stemmer can drop the possessive.
                    chars.next();
                    match chars.peek() {
                        Some(&a) if a.is_alphabetic() => word.push('\''),
                        _ => break,
                    }
                } else {
                    break;
                }
            }
            let key = stemmer.key(&word);
            out.push(RawToken {
                token: Token {
                    key,
                    sound: key,
                    rime: key,
                    kind: TokenKind::Word,
                    role: Role::Content,
                    fuzzy: false,
                },
                word: Some(word),
            });
        }
        // Anything else — punctuation, spaces, emoji, control characters — only separates.
    }
    out
}

/// English stemming (Snowball), shared by the knowledge base and queries, except for words
/// whose stem would merge two topics (parking → park, as in "pocket park").
pub struct Stemmer {
    snowball: rust_stemmers::Stemmer,
    keep: rustc_hash::FxHashSet<String>,
    /// Keys of words met before, as typed: a message's familiar words skip the stemmer.
    known: FxHashMap<String, u64>,
}

impl Default for Stemmer {
    fn default() -> Self {
        Stemmer::new(&[])
    }
}

impl Stemmer {
    pub fn new(unstemmed: &[String]) -> Stemmer {
        Stemmer {
            snowball: rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English),
            keep: unstemmed.iter().map(|w| w.to_lowercase()).collect(),
            known: FxHashMap::default(),
        }
    }

    /// Remembers the key of `word` (lower-cased, as [`tokenize`] sees it).
    pub fn remember(&mut self, word: &str) {
        if !self.known.contains_key(word) {
            let key = word_key(&self.stem(word));
            self.known.insert(word.to_string(), key);
        }
    }

    /// The token key of a lower-cased word: the key of its stem.
    pub fn key(&self, word: &str) -> u64 {
        match self.known.get(word) {
            Some(&key) => key,
            None => word_key(&self.stem(word)),
        }
    }

    pub fn stem(&self, word: &str) -> String {
        if !word.is_ascii() {
            return word.to_string();
        }
        let word = word.trim_end_matches("'s").trim_end_matches('\'');
        if self.keep.contains(word) {
            return word.to_string();
        }
        self.snowball.stem(word).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(s: &str) -> Vec<u64> {
        tokenize(s, &Stemmer::default())
            .into_iter()
            .map(|t| t.token.key)
            .collect()
    }

    #[test]
    fn full_width_and_traditional_fold_to_the_same_tokens() {
        assert_eq!(keys("錯時共享停車"), keys("错时共享停车"));
        assert_eq!(
            keys("ｗｈａｔ ｉｓ　ｐａｒｋｉｎｇ？"),
            keys("what is parking?")
        );
        assert_eq!(keys("托位 😀 数"), keys("托位数"));
    }

    #[test]
    fn the_common_fold_agrees_with_nfkc_and_lowercase() {
        for c in (0..=0xFFFF).filter_map(char::from_u32) {
            if let Some(folded) = fold_common(c) {
                let slow: String = c.to_string().nfkc().flat_map(char::to_lowercase).collect();
                assert_eq!(slow, folded.to_string(), "{c:?}");
            }
        }
    }

    #[test]
    fn the_sound_table_matches_the_pinyin_tables() {
        for c in ['共', '想', '享', '錯', '车', '\u{4E00}', '\u{9FFF}'] {
            let t = han_token(c);
            assert_eq!((t.sound, t.rime), sound_keys(c), "{c}");
        }
    }

    #[test]
    fn homophones_share_their_sound() {
        let a = tokenize("共享", &Stemmer::default());
        let b = tokenize("共想", &Stemmer::default());
        assert_eq!(a[1].token.sound, b[1].token.sound);
        assert_ne!(a[1].token.key, b[1].token.key);
    }

    #[test]
    fn words_are_stemmed_and_numbers_canonical() {
        assert_eq!(keys("parking spaces"), keys("park space"));
        assert_eq!(keys("12.50"), keys("12.5"));
        assert_eq!(keys("what's"), keys("what"));
    }
}
