//! The per-user rate limiter's cost per message with 1,000 and with 100,000 distinct users
//! seen in the current window (numeric Telegram ids and WeChat-style OpenIDs): it should not
//! depend on how many users were seen.
//!
//! `cargo bench --bench limiter`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use minsheng::limit::{Limiter, RateLimit};

/// The start of a window, so a round never crosses into the next one.
const T: i64 = 1_800_000_000 / 60 * 60;

fn per_message(c: &mut Criterion) {
    let mut group = c.benchmark_group("limiter check");
    for users in [1_000u64, 100_000] {
        let limiter: Limiter<u64> = Limiter::new(RateLimit::default());
        for user in 0..users {
            limiter.check_at(user, T);
        }
        let mut next = 0u64;
        group.bench_with_input(BenchmarkId::from_parameter(users), &users, |b, &users| {
            b.iter(|| {
                next = (next + 7_919) % users;
                black_box(limiter.check_at(black_box(next), T + 1))
            })
        });
    }
    // String keys, as WeChat's OpenIDs are.
    for users in [1_000u64, 100_000] {
        let limiter: Limiter<String> = Limiter::new(RateLimit::default());
        let ids: Vec<String> = (0..users).map(|u| format!("oUser{u:022}")).collect();
        for id in &ids {
            limiter.check_at(id.clone(), T);
        }
        let mut next = 0usize;
        group.bench_with_input(BenchmarkId::new("openid", users), &users, |b, _| {
            b.iter(|| {
                next = (next + 7_919) % ids.len();
                black_box(limiter.check_at(ids[next].clone(), T + 1))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, per_message);
criterion_main!(benches);
