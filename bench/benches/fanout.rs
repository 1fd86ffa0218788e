//! The cost of a fan-out on one node: finding a topic among many, and
//! handing one encoded frame to each of its subscribers (a reference-count
//! clone into each socket's queue, then each writer taking its queue).
//! No JSON and no allocation per recipient.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mizan_server::bench_support::fanout;
use std::hint::black_box;

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("topic_lookup");
    for topics in [1_000, 100_000] {
        let mut publish = fanout(topics, 0, "t7");
        group.bench_function(BenchmarkId::from_parameter(topics), |b| b.iter(|| black_box(publish())));
    }
    group.finish();
}

fn deliver(c: &mut Criterion) {
    let mut group = c.benchmark_group("deliver");
    for members in [1_000, 10_000] {
        let mut publish = fanout(100, members, "big");
        group.throughput(Throughput::Elements(members as u64));
        group.bench_function(BenchmarkId::from_parameter(members), |b| {
            b.iter(|| black_box(publish()));
        });
    }
    group.finish();
}

criterion_group!(benches, lookup, deliver);
criterion_main!(benches);
