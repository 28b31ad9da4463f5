//! Wire cost of one agent batch: protobuf encode and decode of a node-like batch, as the
//! agent sends it and the aggregator receives it (DESIGN.md, data path step 3).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message as _;
use sysmon_benches::NodeLikeHost;
use sysmon_proto::v1;

fn wire(c: &mut Criterion) {
    let mut host = NodeLikeHost::new("loadgen-0001", 1, 1_700_000_000_000, 10_000);
    let batch = host.next_batch(10);
    let samples = batch.samples.as_ref().map_or(0, |s| s.values.len()) as u64;
    let encoded = batch.encode_to_vec();

    let mut group = c.benchmark_group("wire");
    group.throughput(Throughput::Elements(samples));
    group.bench_function("build node-like batch, 116 series x 10 samples", |b| {
        b.iter(|| black_box(host.next_batch(10)))
    });
    group.bench_function("encode node-like batch, 116 series x 10 samples", |b| {
        b.iter(|| black_box(&batch).encode_to_vec())
    });
    group.bench_function("decode node-like batch, 116 series x 10 samples", |b| {
        b.iter(|| v1::Batch::decode(black_box(encoded.as_slice())))
    });
    group.finish();
}

criterion_group!(benches, wire);
criterion_main!(benches);
