//! The cost of invalidation: resolving a mutation's entries, and matching
//! one entry against many watchers (through the index, and, for scale, by
//! scanning every watcher as an unindexed implementation would).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mizan_bench::{user_params, user_registry};
use mizan_channels::WatchIndex;
use mizan_protocol::{Params, Payload};
use std::hint::black_box;

fn resolve(c: &mut Criterion) {
    let registry = user_registry();
    let args: Params = serde_json::from_str(r#"{"user_id":5,"name":"Ann"}"#).unwrap();
    let output = Payload::from_json(r#"{"user_id":5,"name":"Ann"}"#).unwrap();
    let mut group = c.benchmark_group("resolve");
    for function in ["update_profile", "clear_all", "rename_user"] {
        let effects = registry.effects(function).unwrap();
        group.bench_function(function, |b| {
            b.iter(|| black_box(effects.entries(black_box(&args), &output, Some("5"))));
        });
    }
    group.finish();
}

fn matching(c: &mut Criterion) {
    let mut group = c.benchmark_group("match");
    for watchers in [10_000_i64, 100_000] {
        let mut index = WatchIndex::default();
        let mut flat: Vec<(Params, i64)> = Vec::new();
        for id in 0..watchers {
            index.insert(id, user_params(id), id);
            flat.push((user_params(id), id));
        }
        let scoped = user_params(watchers / 2);
        group.bench_with_input(BenchmarkId::new("scoped_indexed", watchers), &scoped, |b, scope| {
            b.iter(|| index.for_each_match(Some(black_box(scope)), |w| _ = black_box(w)));
        });
        group.bench_with_input(BenchmarkId::new("scoped_scan_all", watchers), &scoped, |b, scope| {
            b.iter(|| {
                flat.iter()
                    .filter(|(p, _)| scope.iter().all(|(k, v)| p.get(k) == Some(v)))
                    .inspect(|(_, w)| _ = black_box(w))
                    .count()
            });
        });
        group.bench_with_input(BenchmarkId::new("broad", watchers), &(), |b, ()| {
            b.iter(|| index.for_each_match(None, |w| _ = black_box(w)));
        });
    }
    group.finish();
}

criterion_group!(benches, resolve, matching);
criterion_main!(benches);
