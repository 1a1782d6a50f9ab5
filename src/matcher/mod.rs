//! The question matcher: a resident's message → answer one entry, suggest a few, or none.
//!
//! Each entry contributes *phrasings* (its title, alternate questions, keywords, and the
//! sentences of its official text). A message is normalised to tokens (see [`normalize`]), the
//! phrasings sharing features with it are found through an inverted index (never a scan of the
//! whole base), and each is scored by two weighted coverages:
//! how much of the message the phrasing explains (query coverage) and how much of the phrasing
//! the message asks about (phrasing coverage). Unknown words weigh the most, so a question about
//! something the base does not cover ("老旧小区的物业费") stays unanswered even when it shares
//! words with an entry. Paired topics (what is X vs how far is X) are settled by intent cues.

pub mod normalize;
pub mod ordinal;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::Lang;
use crate::knowledge::{EntryKind, Knowledge, Lexicon};
use normalize::{
    RawToken, Role, Stemmer, Token, TokenKind, bigram, loose_bigram, sound_bigram, tokenize,
};

/// Score at or above which the best entry may be answered outright.
const ANSWER_MIN: f32 = 0.70;
/// The same for a policy/task pair whose side a clear intent picked: both sides hold the topic.
const PAIR_ANSWER_MIN: f32 = 0.64;
/// How far the answered entry must lead the next unrelated one.
const ANSWER_MARGIN: f32 = 0.12;
/// Score at or above which an entry is worth offering as "did you mean".
const SUGGEST_MIN: f32 = 0.40;
/// A message whose words the base never uses make up this share of it or more is about
/// something else: shared words earn no "did you mean" ("renew my passport" is not "urban renewal").
const UNKNOWN_MAX_SHARE: f32 = 0.5;
/// Within this distance, a policy/task pair is told apart by intent as well as by score.
const PAIR_WINDOW: f32 = 0.25;
/// How much a clear intent cue adds to the side of a policy/task pair it favours.
const INTENT_BONUS: f32 = 0.2;
/// Credits for how a token is matched.
const CREDIT_BIGRAM: f32 = 1.0;
const CREDIT_SOUND: f32 = 0.85;
const CREDIT_LOOSE: f32 = 0.6;
const CREDIT_FUZZY_WORD: f32 = 0.85;
const CREDIT_LONE_HAN: f32 = 0.45;
/// Weight factor of a character in a word the base never uses (see `Matcher::query`).
const NOVEL_WEIGHT: f32 = 1.3;
/// Sentences of an official text explain a question less surely than an authored phrasing.
const BODY_FACTOR: f32 = 0.85;
/// A body sentence must explain at least this much weight to count fully.
const BODY_MIN_WEIGHT: f32 = 6.0;
/// A message must carry at least this much topical weight to be answered at all.
const QUERY_MIN_WEIGHT: f32 = 2.0;
/// How much more a Latin word weighs than one Chinese character.
const WORD_WEIGHT: f32 = 1.6;
/// Postings longer than this are too common to help find candidates (they still count in
/// phrasing coverage); in a large base they would dominate the cost. Lone characters are weak
/// evidence and get a shorter leash.
const MAX_POSTINGS: usize = 512;
const MAX_LONE_HAN_POSTINGS: usize = 64;
/// Phrasings scored in full per message.
const TOP_PHRASINGS: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Answer,
    Suggest,
    None,
}

/// What the message asks, beyond its topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Intent {
    /// What is it, why, how does it work.
    Definition,
    /// Target, how far along.
    Progress,
    /// Asks for a number, with no stronger cue.
    Quantity,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub id: String,
    pub score: f32,
}

/// The matcher's verdict on one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub kind: Kind,
    /// The answered entry, when `kind` is `Answer`.
    pub id: Option<String>,
    pub lang: Lang,
    pub intent: Intent,
    /// The message asks how to apply, sign up, where or when (never answered outright).
    #[serde(skip)]
    pub procedure: bool,
    /// The message asks about the list as a whole: `id` is the entry introducing it, to be
    /// followed by every task's progress.
    pub list: bool,
    /// Best entries first: the suggestions when `kind` is `Suggest`.
    pub candidates: Vec<Candidate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Authored,
    Body,
}

/// What retrieval reads for every posting, kept small and apart from the tokens so that long
/// posting lists stay cache-friendly.
#[derive(Clone, Copy)]
struct Phrasing {
    entry: u32,
    field: Field,
    total: f32,
}

/// A phrasing's token with what phrasing coverage looks up, computed once at load.
struct PhrasingToken {
    weight: f32,
    han: bool,
    /// Bigrams with the left and right neighbours by glyph, then by sound (0 = none), then the
    /// token's own key.
    keys: [u64; 5],
    /// Each key's bit in a [`FeatureSet`] filter.
    bits: [u16; 5],
}

/// Indices into [`PhrasingToken::keys`].
const EXACT_LEFT: usize = 0;
const EXACT_RIGHT: usize = 1;
const SOUND_LEFT: usize = 2;
const SOUND_RIGHT: usize = 3;
const OWN: usize = 4;

struct EntryMeta {
    id: String,
    kind: EntryKind,
    related: Option<u32>,
    /// The task's number, for a task entry.
    task: Option<u32>,
}

/// A phrase rewritten or tagged wherever it occurs: synonyms, fillers, intent cues.
struct PhraseTable {
    by_first: FxHashMap<u64, Vec<(Vec<u64>, Action)>>,
}

#[derive(Clone)]
enum Action {
    Replace(Vec<Token>),
    Mark(Role),
}

/// Words of the knowledge base by their one-letter deletions, to correct English misspellings
/// without comparing against every word.
#[derive(Default)]
struct Spelling {
    /// Every Latin word of the base and its word lists, as typed: never "corrected".
    known: rustc_hash::FxHashSet<String>,
    /// Candidates for correction (four letters or more) with their token keys.
    words: Vec<(String, u64)>,
    deletes: FxHashMap<String, Vec<u32>>,
}

pub struct Matcher {
    entries: Vec<EntryMeta>,
    phrasings: Vec<Phrasing>,
    /// Per phrasing, parallel to `phrasings`: read only for the few phrasings scored in full.
    phrasing_tokens: Vec<Box<[PhrasingToken]>>,
    postings: FxHashMap<u64, Vec<u32>>,
    idf: FxHashMap<u64, f32>,
    idf_unknown: f32,
    synonyms: PhraseTable,
    roles: PhraseTable,
    spelling: Spelling,
    stemmer: Stemmer,
    list: WholeList,
}

/// What a question about the list as a whole is made of (see [`crate::knowledge::ListCue`]).
#[derive(Default)]
struct WholeList {
    entry: Option<u32>,
    /// Each word as token keys, and whether it is a topic word; longest first.
    phrases: Vec<(Vec<u64>, bool)>,
}

impl WholeList {
    /// Whether a message (its non-filler tokens: key, and whether it is content) is made only
    /// of the list's words, with at least one topic word. Words are matched whole: a
    /// character of one (目 of 项目) is not the word.
    fn covers(&self, seq: &[(u64, bool)]) -> bool {
        let mut topic = false;
        let mut i = 0;
        while i < seq.len() {
            let hit = self.phrases.iter().find(|(p, _)| {
                p.len() <= seq.len() - i && p.iter().zip(&seq[i..]).all(|(k, t)| *k == t.0)
            });
            match hit {
                Some((p, is_topic)) => {
                    topic |= *is_topic;
                    i += p.len();
                }
                // A cue outside the list's words (进度, 是什么) says what is asked; content
                // outside them is another topic.
                None if seq[i].1 => return false,
                None => i += 1,
            }
        }
        topic
    }
}

/// A message's tokens with their weights, ready to score.
struct Query {
    content: Vec<(Token, f32, f32)>,
    /// Asks how to apply, sign up, where or when open: never answered outright.
    procedure: bool,
    total: f32,
    intent: Intent,
    /// Cues of more than one intent (what is the target…): the intent is not clear-cut.
    mixed: bool,
    /// The message's tokens but fillers, in order: key, and whether it is content (a cue such
    /// as 任务 in "一共有几项任务" may name the list as well).
    seq: Vec<(u64, bool)>,
    /// Weight of the English words no phrasing of the base uses.
    unknown: f32,
    lang: Lang,
    features: FeatureSet,
}

/// The query's features, asked about for every token of every phrasing scored: a bit filter
/// answers most of those "no"s before the binary search.
struct FeatureSet {
    sorted: Vec<u64>,
    filter: [u64; 16],
}

impl FeatureSet {
    fn new(mut features: Vec<u64>) -> FeatureSet {
        features.sort_unstable();
        features.dedup();
        let mut filter = [0; 16];
        for &k in &features {
            let b = usize::from(Self::bit(k));
            filter[b / 64] |= 1 << (b % 64);
        }
        FeatureSet {
            sorted: features,
            filter,
        }
    }

    /// One of 1024 bits; han keys are code points, so mix before taking the top bits.
    fn bit(k: u64) -> u16 {
        ((k ^ (k >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as u16
    }

    /// Whether `k`, whose bit is `bit`, is a feature (0 never is).
    fn contains(&self, k: u64, bit: u16) -> bool {
        let b = usize::from(bit);
        k != 0
            && self.filter[b / 64] & (1 << (b % 64)) != 0
            && self.sorted.binary_search(&k).is_ok()
    }
}

impl Matcher {
    pub fn new(knowledge: &Knowledge) -> Matcher {
        let stemmer = Stemmer::new(&knowledge.lexicon.unstemmed);
        let synonyms = PhraseTable::synonyms(&knowledge.lexicon, &stemmer);
        let roles = PhraseTable::roles(&knowledge.lexicon, &stemmer);
        let index_of: FxHashMap<&str, u32> = knowledge
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.as_str(), i as u32))
            .collect();
        let entries: Vec<EntryMeta> = knowledge
            .entries
            .iter()
            .map(|e| EntryMeta {
                id: e.id.clone(),
                kind: e.kind,
                task: e.task,
                related: e.related.as_deref().and_then(|r| index_of.get(r).copied()),
            })
            .collect();

        let mut m = Matcher {
            entries,
            phrasings: Vec::new(),
            phrasing_tokens: Vec::new(),
            postings: FxHashMap::default(),
            idf: FxHashMap::default(),
            idf_unknown: 0.0,
            synonyms,
            roles,
            spelling: Spelling::default(),
            stemmer,
            list: WholeList::default(),
        };
        let cue = &knowledge.lexicon.list;
        m.list.entry = cue
            .entry
            .as_deref()
            .and_then(|id| index_of.get(id).copied());
        for (texts, is_topic) in [(&cue.topic, true), (&cue.words, false)] {
            for text in texts {
                // A topic word may also be a cue (任务, 几项): every token but fillers counts.
                let keys: Vec<u64> = m
                    .analyse(text)
                    .into_iter()
                    .filter(|t| t.token.role != Role::Filler)
                    .map(|t| t.token.key)
                    .collect();
                if !keys.is_empty() {
                    m.list.phrases.push((keys, is_topic));
                }
            }
        }
        m.list
            .phrases
            .sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));

        // Phrasings, unweighted first: weights need document frequencies over all of them.
        let mut raw: Vec<(u32, Field, Vec<Token>)> = Vec::new();
        for (i, e) in knowledge.entries.iter().enumerate() {
            let i = i as u32;
            let authored = std::iter::once(&e.title.zh)
                .chain(std::iter::once(&e.title.en))
                .chain(&e.questions_zh)
                .chain(&e.questions_en)
                .chain(&e.keywords_zh)
                .chain(&e.keywords_en);
            for text in authored {
                raw.push((i, Field::Authored, m.content_tokens(text)));
            }
            for text in [&e.answer.zh, &e.answer.en] {
                for sentence in sentences(text) {
                    raw.push((i, Field::Body, m.content_tokens(sentence)));
                }
            }
            if let Some(task) = e.task.and_then(|n| knowledge.task(n)) {
                for name in task
                    .metrics
                    .iter()
                    .map(|x| &x.name)
                    .chain(task.milestones.iter().map(|x| &x.name))
                {
                    // Metric names are short and distinctive: as good as authored keywords.
                    raw.push((i, Field::Authored, m.content_tokens(&name.zh)));
                    raw.push((i, Field::Authored, m.content_tokens(&name.en)));
                }
            }
        }
        raw.retain(|(_, _, t)| !t.is_empty());

        // Document frequency per entry, not per phrasing: a word repeated across one entry's
        // phrasings is still that entry's word.
        let n = m.entries.len().max(1) as f32;
        let mut df: FxHashMap<u64, (u32, u32)> = FxHashMap::default();
        for (entry, _, tokens) in &raw {
            for t in tokens {
                let slot = df.entry(t.key).or_insert((0, u32::MAX));
                if slot.1 != *entry {
                    slot.0 += 1;
                    slot.1 = *entry;
                }
            }
        }
        m.idf = df
            .into_iter()
            .map(|(k, (d, _))| (k, ((n + 1.0) / (d as f32 + 0.5)).ln().max(0.05)))
            .collect();
        m.idf_unknown = ((n + 1.0) / 0.5).ln();

        for (entry, field, tokens) in raw {
            let mut weighted: Vec<PhrasingToken> = tokens
                .iter()
                .enumerate()
                .map(|(j, t)| {
                    let han = t.kind == TokenKind::Han;
                    let pair = |a: Option<&Token>, b: Option<&Token>| match (a, b) {
                        (Some(a), Some(b)) if han && a.kind == b.kind => {
                            (bigram(a.key, b.key), sound_bigram(a.sound, b.sound))
                        }
                        _ => (0, 0),
                    };
                    let left = pair(j.checked_sub(1).and_then(|k| tokens.get(k)), Some(t));
                    let right = pair(Some(t), tokens.get(j + 1));
                    let keys = [left.0, right.0, left.1, right.1, t.key];
                    PhrasingToken {
                        weight: m.weight(t),
                        han,
                        keys,
                        bits: keys.map(FeatureSet::bit),
                    }
                })
                .collect();
            let total = weighted.iter().map(|t| t.weight).sum();
            // Only authored phrasings are scored token by token.
            if field == Field::Body {
                weighted.clear();
            }
            let id = m.phrasings.len() as u32;
            let mut feats = features(&tokens);
            feats.sort_unstable();
            feats.dedup();
            for f in feats {
                m.postings.entry(f).or_default().push(id);
            }
            m.phrasings.push(Phrasing {
                entry,
                field,
                total,
            });
            m.phrasing_tokens.push(weighted.into_boxed_slice());
        }

        // Spelling correction vocabulary: every Latin word the base and its word lists use.
        let lex = &knowledge.lexicon;
        let mut texts: Vec<&String> = Vec::new();
        for e in &knowledge.entries {
            texts.extend([&e.title.en, &e.answer.en]);
            texts.extend(e.questions_en.iter().chain(&e.keywords_en));
            texts.extend(e.questions_zh.iter().chain(&e.keywords_zh));
        }
        for t in &knowledge.tasks {
            for m in &t.metrics {
                texts.extend(std::iter::once(&m.name.en).chain(&m.keywords));
            }
            for m in &t.milestones {
                texts.extend(std::iter::once(&m.name.en).chain(&m.keywords));
            }
        }
        texts.extend(lex.synonyms.iter().flat_map(|g| &g.terms));
        texts.extend(lex.concepts.iter().flat_map(|c| &c.names));
        texts.extend(lex.fillers_en.iter().chain(&lex.intent_definition));
        texts.extend(lex.intent_progress.iter().chain(&lex.intent_quantity));
        for text in texts {
            for rt in tokenize(text, &m.stemmer) {
                if let Some(w) = rt.word {
                    m.spelling.add(w, rt.token.key);
                }
            }
        }
        for word in &m.spelling.known {
            m.stemmer.remember(word);
        }
        m
    }

    /// Decides how to reply to `message`.
    pub fn decide(&self, message: &str) -> Decision {
        let q = self.query(message);
        // A task named by its number is the one meant, whatever its words resemble
        // (第十四项 reads like the 十四五 plan).
        if let Some((n, asks_what)) = ordinal::mentioned_task(message)
            && let Some(e) = self.entries.iter().find(|e| e.task == Some(n))
        {
            return Decision {
                kind: Kind::Answer,
                id: Some(e.id.clone()),
                lang: q.lang,
                intent: if asks_what {
                    Intent::Definition
                } else {
                    Intent::Progress
                },
                procedure: q.procedure,
                list: false,
                candidates: vec![Candidate {
                    id: e.id.clone(),
                    score: 1.0,
                }],
            };
        }
        // The list as a whole: every word of the question names the list or counts it.
        if let Some(e) = self.list.entry
            && self.list.covers(&q.seq)
            && !q.procedure
        {
            let id = self.entries[e as usize].id.clone();
            return Decision {
                kind: Kind::Answer,
                id: Some(id.clone()),
                lang: q.lang,
                intent: q.intent,
                procedure: false,
                list: true,
                candidates: vec![Candidate { id, score: 1.0 }],
            };
        }
        let mut scores = self.score(&q);
        scores.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));

        let candidates = |scores: &[(u32, f32)], n: usize| -> Vec<Candidate> {
            scores
                .iter()
                .take(n)
                .map(|&(e, s)| Candidate {
                    id: self.entries[e as usize].id.clone(),
                    score: (s * 1000.0).round() / 1000.0,
                })
                .collect()
        };

        let Some(&(mut best, mut best_score)) = scores.first() else {
            return Decision {
                kind: Kind::None,
                id: None,
                lang: q.lang,
                intent: q.intent,
                procedure: q.procedure,
                list: false,
                candidates: Vec::new(),
            };
        };

        // A policy/task pair close in score: the question's intent tips the balance, and the
        // other side of the pair then no longer counts against the answer's margin.
        let mut pair_settled = false;
        let mut pair_top = best_score;
        let mut by_intent = false;
        if let Some(&(second, second_score)) = scores.get(1)
            && self.entries[best as usize].related == Some(second)
            && best_score - second_score < PAIR_WINDOW
        {
            // With no cue either way, a bare topic most likely asks what it is; the policy
            // answer points on to the task's live status.
            let (favoured, bonus) = match q.intent {
                Intent::Progress => (EntryKind::Task, INTENT_BONUS),
                Intent::Definition => (EntryKind::Policy, INTENT_BONUS),
                Intent::Quantity => (EntryKind::Task, INTENT_BONUS / 3.0),
                Intent::Unknown => (EntryKind::Policy, INTENT_BONUS / 6.0),
            };
            let tipped = |e: u32, s: f32| {
                if self.entries[e as usize].kind == favoured {
                    s + bonus
                } else {
                    s
                }
            };
            if tipped(second, second_score) > tipped(best, best_score) {
                scores.swap(0, 1);
                best = second;
                best_score = second_score;
            }
            pair_settled = true;
            // Only a single clear cue picks a side on its own, and only a side nearly as
            // strong as the other: the cue tips a balance, it does not overturn the evidence.
            if q.intent != Intent::Unknown
                && !q.mixed
                && self.entries[best as usize].kind == favoured
                && pair_top.max(second_score) - best_score <= INTENT_BONUS / 2.0
            {
                pair_top = pair_top.max(second_score);
                by_intent = true;
            }
        }
        // Both sides of a pair hold the topic: with a clear intent (what is / why → the policy
        // answer; how far / how many → the task) the side it picks is answered on the pair's
        // strength, and the other side is not offered beside it.
        let best_score = if by_intent { pair_top } else { best_score };
        let related = self.entries[best as usize].related;
        let runner_up = scores
            .iter()
            .skip(1)
            .find(|(e, _)| !(pair_settled && related == Some(*e)))
            .map_or(0.0, |s| s.1);
        let clear = best_score - runner_up >= ANSWER_MARGIN - f32::EPSILON;

        let answer_min = if by_intent {
            PAIR_ANSWER_MIN
        } else {
            ANSWER_MIN
        };
        if best_score >= answer_min && clear && q.total >= QUERY_MIN_WEIGHT && !q.procedure {
            Decision {
                kind: Kind::Answer,
                id: Some(self.entries[best as usize].id.clone()),
                lang: q.lang,
                intent: q.intent,
                procedure: q.procedure,
                list: false,
                candidates: candidates(&scores, 3),
            }
        } else if best_score >= SUGGEST_MIN
            && q.total >= QUERY_MIN_WEIGHT
            && q.unknown < UNKNOWN_MAX_SHARE * q.total
        {
            let keep: Vec<(u32, f32)> = scores
                .iter()
                .copied()
                .filter(|&(e, _)| !(by_intent && related == Some(e)))
                .take(3)
                .filter(|&(_, s)| s >= SUGGEST_MIN.min(best_score * 0.75))
                .collect();
            Decision {
                kind: Kind::Suggest,
                id: None,
                lang: q.lang,
                intent: q.intent,
                procedure: q.procedure,
                list: false,
                candidates: candidates(&keep, 3),
            }
        } else {
            Decision {
                kind: Kind::None,
                id: None,
                lang: q.lang,
                intent: q.intent,
                procedure: q.procedure,
                list: false,
                candidates: candidates(&scores, 3),
            }
        }
    }

    /// Tokens of a text after synonyms and roles, keeping only what carries its topic.
    fn content_tokens(&self, text: &str) -> Vec<Token> {
        self.analyse(text)
            .into_iter()
            .filter(|t| t.token.role == Role::Content)
            .map(|t| t.token)
            .collect()
    }

    fn analyse(&self, text: &str) -> Vec<RawToken> {
        self.apply_lexicon(tokenize(text, &self.stemmer))
    }

    /// Synonyms to their canonical form, then fillers and intent cues tagged.
    fn apply_lexicon(&self, raw: Vec<RawToken>) -> Vec<RawToken> {
        self.roles.apply(self.synonyms.apply(raw))
    }

    /// Like [`Matcher::analyse`], correcting misspelt English words first, so that synonyms
    /// and cues still apply to them ("shared parkng" is "shared parking").
    fn analyse_query(&self, text: &str) -> (Vec<RawToken>, Lang) {
        let mut raw = tokenize(text, &self.stemmer);
        // The language as typed, before synonyms map English terms onto Chinese ones.
        let han = raw
            .iter()
            .filter(|t| t.token.kind == TokenKind::Han)
            .count();
        let words = raw
            .iter()
            .filter(|t| t.token.kind == TokenKind::Word)
            .count();
        let lang = if words > 0 && han < words * 2 {
            Lang::En
        } else {
            Lang::Zh
        };
        for rt in &mut raw {
            if let Some(word) = &rt.word
                && let Some(key) = self.spelling.correct(word)
            {
                rt.token.key = key;
                rt.token.sound = key;
                rt.token.fuzzy = true;
            }
        }
        (self.apply_lexicon(raw), lang)
    }

    fn weight(&self, t: &Token) -> f32 {
        let idf = self.idf.get(&t.key).copied().unwrap_or(self.idf_unknown);
        match t.kind {
            TokenKind::Word => idf * WORD_WEIGHT,
            _ => idf,
        }
    }

    fn query(&self, message: &str) -> Query {
        let (analysed, lang) = self.analyse_query(message);
        let mut definition = false;
        let mut progress = false;
        let mut quantity = false;
        let mut procedure = false;
        for t in &analysed {
            match t.token.role {
                Role::Definition => definition = true,
                Role::Progress => progress = true,
                Role::Quantity => quantity = true,
                Role::Procedure => procedure = true,
                _ => {}
            }
        }
        // "What is the target of X" asks for the target: progress cues outrank definition
        // cues, which outrank a bare "how many".
        let intent = if progress {
            Intent::Progress
        } else if definition {
            Intent::Definition
        } else if quantity {
            Intent::Quantity
        } else {
            Intent::Unknown
        };

        let seq: Vec<(u64, bool)> = analysed
            .iter()
            .filter(|t| t.token.role != Role::Filler)
            .map(|t| (t.token.key, t.token.role == Role::Content))
            .collect();
        let mut content = Vec::with_capacity(analysed.len());
        for rt in analysed {
            if rt.token.role != Role::Content {
                continue;
            }
            let token = rt.token;
            let cap = if token.fuzzy { CREDIT_FUZZY_WORD } else { 1.0 };
            content.push((token, self.weight(&token), cap));
        }
        // A Chinese character whose pairings with its neighbours occur nowhere in the base, by
        // glyph or by sound, belongs to a word the base never uses (开门 in "口袋公园几点开门"):
        // the question asks about something else. Such a character weighs more, and finding
        // it alone somewhere in an entry is no evidence: its lone credit is cancelled (the
        // cap of a Chinese token is otherwise unused, so it carries the lone credit).
        let novel: Vec<bool> = (0..content.len())
            .map(|i| {
                let t = content[i].0;
                if t.kind != TokenKind::Han {
                    return false;
                }
                let neighbours = [i.checked_sub(1), (i + 1 < content.len()).then_some(i + 1)];
                let mut paired = false;
                for j in neighbours.into_iter().flatten() {
                    let o = content[j].0;
                    if o.kind != TokenKind::Han {
                        continue;
                    }
                    paired = true;
                    let (a, b) = if j < i { (o, t) } else { (t, o) };
                    if self.postings.contains_key(&bigram(a.key, b.key))
                        || self.postings.contains_key(&sound_bigram(a.sound, b.sound))
                    {
                        return false;
                    }
                }
                paired
            })
            .collect();
        for (c, novel) in content.iter_mut().zip(novel) {
            c.2 = if novel {
                c.1 *= NOVEL_WEIGHT;
                0.0
            } else if c.0.kind == TokenKind::Han {
                CREDIT_LONE_HAN
            } else {
                c.2
            };
        }
        let tokens: Vec<Token> = content.iter().map(|c| c.0).collect();
        let features = FeatureSet::new(features(&tokens));
        Query {
            total: content.iter().map(|c| c.1).sum(),
            mixed: definition && (progress || quantity),
            seq,
            unknown: content
                .iter()
                // A Chinese character the base never uses is more likely a slip (see
                // `score_with`); an English word after spelling correction is not.
                .filter(|c| c.0.kind == TokenKind::Word && !self.idf.contains_key(&c.0.key))
                .map(|c| c.1)
                .sum(),
            procedure,
            content,
            intent,
            lang,
            features,
        }
    }

    /// Best score per entry, over the phrasings that share anything with the query.
    ///
    /// Query coverage is taken per entry, over all its phrasings together (a question naming a
    /// river and one of its figures is explained by the entry's keyword and a sentence of its
    /// text jointly); phrasing coverage comes from the entry's best authored phrasing.
    fn score(&self, q: &Query) -> Vec<(u32, f32)> {
        let n = q.content.len();
        if n == 0 || q.total <= 0.0 {
            return Vec::new();
        }
        SCRATCH.with_borrow_mut(|scratch| {
            scratch.prepare(self.phrasings.len(), self.entries.len());
            let result = self.score_with(q, scratch);
            scratch.reset();
            result
        })
    }

    fn score_with(&self, q: &Query, scratch: &mut Scratch) -> Vec<(u32, f32)> {
        let n = q.content.len();
        let c = &q.content;

        // The posting lists to visit, each with its query token and credit (five per Chinese
        // character: both neighbours by glyph and by sound, and its own; more for a slip).
        // Gathered once and walked twice: for every phrasing's matched weight, then for the
        // per-token coverage of only the entries whose phrasings rank.
        let mut lists: Vec<(&[u32], u32, f32)> = Vec::with_capacity(n * 5);
        let mut add = |postings, i: usize, credit| admit(&mut lists, postings, i, credit);
        for (i, &(t, _, cap)) in c.iter().enumerate() {
            match t.kind {
                TokenKind::Han => {
                    let neighbours = [i.checked_sub(1), (i + 1 < n).then_some(i + 1)];
                    for j in neighbours.into_iter().flatten() {
                        let o = c[j].0;
                        if o.kind != TokenKind::Han {
                            continue;
                        }
                        let (a, b) = if j < i { (o, t) } else { (t, o) };
                        let exact = self.postings.get(&bigram(a.key, b.key));
                        add(exact, i, CREDIT_BIGRAM);
                        // Every phrasing with the bigram also has its sound: an equally long
                        // list is the same list, and would add nothing.
                        let sound = self.postings.get(&sound_bigram(a.sound, b.sound));
                        if sound.map(Vec::len) != exact.map(Vec::len) {
                            add(sound, i, CREDIT_SOUND);
                        }
                        // A character the base never uses is likely a slip: it still counts a
                        // little where its neighbour is right and it rhymes.
                        if !self.idf.contains_key(&t.key) {
                            let loose = loose_bigram(o.sound, t.rime);
                            add(self.postings.get(&loose), i, CREDIT_LOOSE);
                        }
                    }
                    if cap > 0.0 {
                        add(self.postings.get(&t.key), i, cap);
                    }
                }
                _ => add(self.postings.get(&t.key), i, cap),
            }
        }

        for &(list, i, credit) in &lists {
            let w = c[i as usize].1;
            for &p in list {
                scratch.credit(p, i, w, credit);
            }
        }

        // The best phrasings by matched weight, then the shorter, then the first, as one
        // integer key (a total order, so the selection is deterministic). Kept sorted while
        // scanning: nearly every touched phrasing falls short of the current last.
        let mut ranked: Vec<(u128, u32, f32)> = Vec::with_capacity(TOP_PHRASINGS + 1);
        for &p in &scratch.touched {
            let sum = scratch.acc[p as usize].sum;
            let full = ranked.len() == TOP_PHRASINGS;
            if full && ranked.last().is_some_and(|l| sum < l.2) {
                continue;
            }
            let total = self.phrasings[p as usize].total;
            let key = (u128::from(ordered(sum)) << 64)
                | (u128::from(!ordered(total)) << 32)
                | u128::from(!p);
            if full && ranked.last().is_some_and(|l| key < l.0) {
                continue;
            }
            let at = ranked.partition_point(|r| r.0 > key);
            ranked.insert(at, (key, p, sum));
            ranked.truncate(TOP_PHRASINGS);
        }

        for &(_, p, _) in &ranked {
            scratch.add_entry(self.phrasings[p as usize].entry, n);
        }
        for &(list, i, credit) in &lists {
            for &p in list {
                let ph = self.phrasings[p as usize];
                let credit = if ph.field == Field::Body {
                    credit * BODY_FACTOR
                } else {
                    credit
                };
                scratch.cover(ph.entry, i, n, credit);
            }
        }

        let entry_qc = |e: u32| -> (f32, f32) {
            let slots = scratch.cover_of(e, n);
            let matched: f32 = slots.iter().zip(c).map(|(s, t)| s * t.1).sum();
            ((matched / q.total).min(1.0), matched)
        };
        // At most TOP_PHRASINGS entries: a list beats a hash map.
        let mut best: Vec<(u32, f32)> = Vec::with_capacity(TOP_PHRASINGS);
        for (_, p, phrasing_matched) in ranked {
            let ph = &self.phrasings[p as usize];
            let (qc, matched) = entry_qc(ph.entry);
            let s = match ph.field {
                // The entry's joint coverage counts most; a single phrasing explaining the whole
                // question (a task's exact title) breaks ties between neighbouring entries.
                Field::Authored => {
                    let own = (phrasing_matched / q.total).min(1.0);
                    combine(0.75 * qc + 0.25 * own, self.phrasing_coverage(p, q))
                }
                Field::Body => qc * (matched / BODY_MIN_WEIGHT).min(1.0) * BODY_FACTOR,
            };
            match best.iter_mut().find(|(e, _)| *e == ph.entry) {
                Some((_, slot)) => *slot = slot.max(s),
                None => best.push((ph.entry, s)),
            }
        }
        best
    }

    /// How much of the phrasing's weight the query asks about.
    fn phrasing_coverage(&self, p: u32, q: &Query) -> f32 {
        let total = self.phrasings[p as usize].total;
        if total <= 0.0 {
            return 0.0;
        }
        let mut matched = 0.0;
        for t in &self.phrasing_tokens[p as usize] {
            let has = |j: usize| q.features.contains(t.keys[j], t.bits[j]);
            let credit = if !t.han {
                if has(OWN) { 1.0 } else { 0.0 }
            } else if has(EXACT_LEFT) || has(EXACT_RIGHT) {
                CREDIT_BIGRAM
            } else if has(SOUND_LEFT) || has(SOUND_RIGHT) {
                CREDIT_SOUND
            } else if has(OWN) {
                CREDIT_LONE_HAN
            } else {
                0.0
            };
            matched += t.weight * credit;
        }
        matched / total
    }

    /// A human-readable trace of how a message was read and scored, for tuning `faq/`.
    pub fn explain(&self, message: &str) -> String {
        let q = self.query(message);
        let mut out = format!(
            "lang {:?}, intent {:?}, weight {:.2}\n",
            q.lang, q.intent, q.total
        );
        for rt in self.analyse_query(message).0 {
            let t = rt.token;
            out.push_str(&format!(
                "  {:?} {:?}{} w={:.2}\n",
                t.kind,
                t.role,
                if t.fuzzy { " (corrected)" } else { "" },
                self.weight(&t)
            ));
        }
        let mut scores = self.score(&q);
        scores.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (e, s) in scores.iter().take(5) {
            out.push_str(&format!("  {} {:.3}\n", self.entries[*e as usize].id, s));
        }
        out
    }
}

/// Per-thread buffers for scoring, sized to the base and reset after each message, so a
/// message costs only the postings it touches (no allocation per phrasing).
#[derive(Default)]
struct Scratch {
    acc: Vec<Acc>,
    touched: Vec<u32>,
    /// Entry → its row in `cover`, or `u32::MAX`.
    entry_row: Vec<u32>,
    entries_touched: Vec<u32>,
    /// Best credit per query token, one row of `n` per entry among the ranked phrasings'.
    cover: Vec<f32>,
}

#[derive(Clone, Copy)]
struct Acc {
    /// Matched query weight.
    sum: f32,
    /// The query token last credited, and its credit (a token counts once, at its best).
    last: u32,
    best: f32,
}

const UNTOUCHED: Acc = Acc {
    sum: 0.0,
    last: u32::MAX,
    best: 0.0,
};

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

impl Scratch {
    fn prepare(&mut self, phrasings: usize, entries: usize) {
        if self.acc.len() < phrasings {
            self.acc.resize(phrasings, UNTOUCHED);
        }
        if self.entry_row.len() < entries {
            self.entry_row.resize(entries, u32::MAX);
        }
    }

    /// Credits phrasing `p` with query token `i`; a token counts once, at its best credit.
    fn credit(&mut self, p: u32, i: u32, w: f32, credit: f32) {
        let a = &mut self.acc[p as usize];
        if a.last == u32::MAX {
            self.touched.push(p);
            *a = Acc {
                sum: w * credit,
                last: i,
                best: credit,
            };
        } else if a.last == i {
            if credit > a.best {
                a.sum += w * (credit - a.best);
                a.best = credit;
            }
        } else {
            a.sum += w * credit;
            a.last = i;
            a.best = credit;
        }
    }

    /// Gives `entry` a row of per-token coverage.
    fn add_entry(&mut self, entry: u32, n: usize) {
        let row = &mut self.entry_row[entry as usize];
        if *row == u32::MAX {
            *row = self.entries_touched.len() as u32;
            self.entries_touched.push(entry);
            self.cover.resize(self.cover.len() + n, 0.0);
        }
    }

    /// Records that `entry` matches query token `i` at `credit`, if the entry has a row.
    fn cover(&mut self, entry: u32, i: u32, n: usize, credit: f32) {
        let row = self.entry_row[entry as usize];
        if row != u32::MAX {
            // Compare before storing: a list's phrasings mostly share an entry, and a store per
            // posting would chain each through the last.
            let slot = &mut self.cover[row as usize * n + i as usize];
            if credit > *slot {
                *slot = credit;
            }
        }
    }

    fn cover_of(&self, entry: u32, n: usize) -> &[f32] {
        match self.entry_row.get(entry as usize) {
            Some(&row) if row != u32::MAX => &self.cover[row as usize * n..(row as usize + 1) * n],
            _ => &[],
        }
    }

    fn reset(&mut self) {
        for &p in &self.touched {
            self.acc[p as usize] = UNTOUCHED;
        }
        for &e in &self.entries_touched {
            self.entry_row[e as usize] = u32::MAX;
        }
        self.touched.clear();
        self.entries_touched.clear();
        self.cover.clear();
    }
}

/// `f32::total_cmp` order as an unsigned integer.
fn ordered(x: f32) -> u32 {
    let bits = x.to_bits();
    if bits >> 31 == 1 {
        !bits
    } else {
        bits | 1 << 31
    }
}

/// Queues a posting list for visiting, unless it is too common to help (see [`MAX_POSTINGS`]).
fn admit<'a>(
    lists: &mut Vec<(&'a [u32], u32, f32)>,
    postings: Option<&'a Vec<u32>>,
    i: usize,
    credit: f32,
) {
    let Some(list) = postings else { return };
    let cap = if credit == CREDIT_LONE_HAN {
        MAX_LONE_HAN_POSTINGS
    } else {
        MAX_POSTINGS
    };
    if list.len() <= cap {
        lists.push((list, i as u32, credit));
    }
}

/// Query coverage matters more than phrasing coverage: a message fully explained by a short
/// keyword is a good match; a phrasing merely containing one word of the message is not.
fn combine(qc: f32, pc: f32) -> f32 {
    if qc <= 0.0 || pc <= 0.0 {
        return 0.0;
    }
    const ALPHA: f32 = 0.65;
    1.0 / (ALPHA / qc + (1.0 - ALPHA) / pc)
}

/// Index features of a token sequence: every token's key, and for adjacent Chinese characters
/// their bigram by character and by sound.
fn features(tokens: &[Token]) -> Vec<u64> {
    let mut out = Vec::with_capacity(tokens.len() * 5);
    for (i, t) in tokens.iter().enumerate() {
        out.push(t.key);
        if let Some(n) = tokens.get(i + 1)
            && t.kind == TokenKind::Han
            && n.kind == TokenKind::Han
        {
            out.push(bigram(t.key, n.key));
            out.push(sound_bigram(t.sound, n.sound));
            out.push(loose_bigram(t.sound, n.rime));
            out.push(loose_bigram(n.sound, t.rime));
        }
    }
    out
}

/// Sentences (and for long ones, clauses) of an official text.
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    text.split(['。', '！', '？', '；', '\n', '!', '?', ';'])
        .flat_map(|s| {
            if s.chars().count() > 60 {
                s.split(['，', ',', '：', ':']).collect::<Vec<_>>()
            } else {
                vec![s]
            }
        })
        .flat_map(|s| s.split(". "))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

impl PhraseTable {
    fn new() -> Self {
        PhraseTable {
            by_first: FxHashMap::default(),
        }
    }

    fn insert(&mut self, pattern: Vec<u64>, action: Action) {
        let Some(&first) = pattern.first() else {
            return;
        };
        let list = self.by_first.entry(first).or_default();
        if list.iter().any(|(p, _)| *p == pattern) {
            return;
        }
        list.push((pattern, action));
        list.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    }

    fn synonyms(lex: &Lexicon, stemmer: &Stemmer) -> Self {
        let mut table = PhraseTable::new();
        for group in &lex.synonyms {
            let Some(canonical) = group.terms.first() else {
                continue;
            };
            let replacement: Vec<Token> = tokenize(canonical, stemmer)
                .into_iter()
                .map(|t| t.token)
                .collect();
            // The canonical term maps to itself, so that a longer canonical containing a
            // shorter term (停车位 ⊃ 车位) is consumed whole instead of growing to 停停车位.
            for term in &group.terms {
                let pattern: Vec<u64> = tokenize(term, stemmer)
                    .into_iter()
                    .map(|t| t.token.key)
                    .collect();
                if pattern.is_empty() {
                    continue;
                }
                table.insert(pattern, Action::Replace(replacement.clone()));
            }
        }
        // Everyday names of an official term are read as the term, in its canonical form;
        // a synonym group's own reading of a word wins.
        for concept in &lex.concepts {
            let replacement: Vec<Token> = table
                .apply(tokenize(&concept.term, stemmer))
                .into_iter()
                .map(|t| t.token)
                .collect();
            for name in &concept.names {
                let pattern: Vec<u64> = tokenize(name, stemmer)
                    .into_iter()
                    .map(|t| t.token.key)
                    .collect();
                if !pattern.is_empty() {
                    table.insert(pattern, Action::Replace(replacement.clone()));
                }
            }
        }
        table
    }

    fn roles(lex: &Lexicon, stemmer: &Stemmer) -> Self {
        let mut table = PhraseTable::new();
        let lists = [
            (&lex.intent_definition, Role::Definition),
            (&lex.intent_progress, Role::Progress),
            (&lex.intent_quantity, Role::Quantity),
            (&lex.intent_procedure, Role::Procedure),
            (&lex.fillers_zh, Role::Filler),
            (&lex.fillers_en, Role::Filler),
        ];
        for (list, role) in lists {
            for phrase in list {
                let pattern: Vec<u64> = tokenize(phrase, stemmer)
                    .into_iter()
                    .map(|t| t.token.key)
                    .collect();
                table.insert(pattern, Action::Mark(role));
            }
        }
        table
    }

    /// Rewrites or tags every occurrence, longest phrase first, left to right.
    fn apply(&self, mut tokens: Vec<RawToken>) -> Vec<RawToken> {
        if self.by_first.is_empty() {
            return tokens;
        }
        let mut out = Vec::with_capacity(tokens.len());
        let mut i = 0;
        while i < tokens.len() {
            let hit = self.by_first.get(&tokens[i].token.key).and_then(|list| {
                list.iter().find(|(p, _)| {
                    p.len() <= tokens.len() - i
                        && p.iter()
                            .zip(&tokens[i..])
                            .all(|(k, t)| *k == t.token.key && t.token.role == Role::Content)
                })
            });
            match hit {
                Some((p, Action::Replace(with))) => {
                    out.extend(with.iter().map(|t| RawToken {
                        token: *t,
                        word: None,
                    }));
                    i += p.len();
                }
                Some((p, Action::Mark(role))) => {
                    for t in &mut tokens[i..i + p.len()] {
                        t.token.role = *role;
                        out.push(RawToken {
                            token: t.token,
                            word: t.word.take(),
                        });
                    }
                    i += p.len();
                }
                None => {
                    out.push(RawToken {
                        token: tokens[i].token,
                        word: tokens[i].word.take(),
                    });
                    i += 1;
                }
            }
        }
        out
    }
}

impl Spelling {
    fn add(&mut self, word: String, key: u64) {
        if !self.known.insert(word.clone()) {
            return;
        }
        if word.chars().count() < 4 || !word.is_ascii() {
            return;
        }
        let id = self.words.len() as u32;
        for d in deletions(&word) {
            self.deletes.entry(d).or_default().push(id);
        }
        self.deletes.entry(word.clone()).or_default().push(id);
        self.words.push((word, key));
    }

    /// The knowledge base's word nearest to a misspelled `word`, if one is close enough.
    fn correct(&self, word: &str) -> Option<u64> {
        let n = word.chars().count();
        if !(4..=30).contains(&n) || !word.is_ascii() || self.known.contains(word) {
            return None;
        }
        let limit = if n >= 8 { 2 } else { 1 };
        let mut best: Option<(usize, f64, u64)> = None;
        // The word, then each one-letter deletion of it, in one reused buffer (ASCII: a letter
        // is a byte).
        let mut probe = String::with_capacity(word.len());
        for skip in std::iter::once(None).chain((0..word.len()).map(Some)) {
            probe.clear();
            match skip.and_then(|i| Some((word.get(..i)?, word.get(i + 1..)?))) {
                Some((head, tail)) => {
                    probe.push_str(head);
                    probe.push_str(tail);
                }
                None => probe.push_str(word),
            }
            let Some(ids) = self.deletes.get(probe.as_str()) else {
                continue;
            };
            for &id in ids {
                let (cand, key) = &self.words[id as usize];
                let d = strsim::damerau_levenshtein(word, cand);
                if d == 0 || d > limit {
                    continue;
                }
                let jw = strsim::jaro_winkler(word, cand);
                if best.is_none_or(|(bd, bj, _)| d < bd || (d == bd && jw > bj)) {
                    best = Some((d, jw, *key));
                }
            }
        }
        best.map(|(_, _, k)| k)
    }
}

fn deletions(word: &str) -> impl Iterator<Item = String> + '_ {
    let chars: Vec<char> = word.chars().collect();
    (0..chars.len()).map(move |i| {
        chars
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, c)| c)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_keys_follow_total_cmp() {
        let xs = [-1.5_f32, -0.0, 0.0, 0.45, 1.0, 7.25, f32::INFINITY];
        for a in xs {
            for b in xs {
                assert_eq!(ordered(a).cmp(&ordered(b)), a.total_cmp(&b), "{a} {b}");
            }
        }
    }
}
