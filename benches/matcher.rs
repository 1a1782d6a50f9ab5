//! Median time per question: on the real knowledge base, and on a generated one of 10,000
//! entries (same lexicon, text drawn from the real base's characters and words).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use minsheng::knowledge::{Bilingual, Entry, EntryKind, Knowledge};
use minsheng::matcher::Matcher;

fn questions() -> Vec<String> {
    let mut qs = Vec::new();
    for file in ["tests/data/dev.tsv", "tests/data/heldout.tsv"] {
        let text = std::fs::read_to_string(file).expect("question set");
        let cases = minsheng::eval::parse(&text).expect("well-formed");
        qs.extend(cases.into_iter().map(|c| c.question));
    }
    qs
}

/// A deterministic generator: no dependency, same base on every run.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

fn generated(real: &Knowledge, n: usize) -> Knowledge {
    let mut han: Vec<char> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    for e in &real.entries {
        han.extend(
            e.answer
                .zh
                .chars()
                .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)),
        );
        words.extend(e.answer.en.split_whitespace().map(|w| w.to_lowercase()));
    }
    let mut rng = Lcg(42);
    let zh = |len: usize, rng: &mut Lcg| {
        (0..len)
            .map(|_| han[rng.next(han.len())])
            .collect::<String>()
    };
    let en = |len: usize, rng: &mut Lcg| {
        (0..len)
            .map(|_| words[rng.next(words.len())].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut entries = real.entries.clone();
    for i in 0..n {
        entries.push(Entry {
            id: format!("gen{i}"),
            kind: EntryKind::Info,
            title: Bilingual {
                zh: zh(10, &mut rng),
                en: en(6, &mut rng),
            },
            answer: Bilingual {
                zh: zh(120, &mut rng),
                en: en(60, &mut rng),
            },
            related: None,
            questions_zh: (0..4).map(|_| zh(12, &mut rng)).collect(),
            questions_en: (0..3).map(|_| en(7, &mut rng)).collect(),
            keywords_zh: (0..4).map(|_| zh(4, &mut rng)).collect(),
            keywords_en: (0..3).map(|_| en(2, &mut rng)).collect(),
            task: None,
        });
    }
    Knowledge {
        entries,
        tasks: real.tasks.clone(),
        lexicon: real.lexicon.clone(),
        period: real.period,
        contacts: real.contacts.clone(),
    }
}

fn bench(c: &mut Criterion) {
    let real = Knowledge::load_dir(Path::new("faq")).expect("faq/ loads");
    let qs = questions();
    let mut group = c.benchmark_group("matcher");
    // Baseline for ratios on a noisy machine: the naive matcher — normalised Levenshtein of the
    // question against every entry's titles, best wins (what a rapidfuzz script does).
    let titles: Vec<(String, String)> = real
        .entries
        .iter()
        .map(|e| (e.title.zh.clone(), e.title.en.to_lowercase()))
        .collect();
    let mut j = 0;
    group.bench_function("baseline_strsim_titles/per_question", |b| {
        b.iter(|| {
            j = (j + 1) % qs.len();
            let q = black_box(&qs[j]).to_lowercase();
            titles
                .iter()
                .map(|(zh, en)| {
                    strsim::normalized_levenshtein(&q, zh)
                        .max(strsim::normalized_levenshtein(&q, en))
                })
                .fold(0.0_f64, f64::max)
        })
    });
    for (name, knowledge) in [
        ("real", real.clone()),
        ("generated_10k", generated(&real, 10_000)),
    ] {
        let m = Matcher::new(&knowledge);
        let mut i = 0;
        group.bench_function(format!("{name}/per_question"), |b| {
            b.iter(|| {
                i = (i + 1) % qs.len();
                black_box(m.decide(black_box(&qs[i])))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
