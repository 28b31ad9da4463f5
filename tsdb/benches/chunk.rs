//! Chunk codec benches: encode and decode speed, and the bytes per sample of node-like data.
//!
//! `cargo bench -p sysmon-tsdb --bench chunk`; the size figures print before the timings.

#![allow(missing_docs, clippy::print_stdout)] // a bench reports on stdout

mod node_like;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sysmon_tsdb::bench_support::{ChunkEncoder, decode_chunk};

fn sizes(series: &[node_like::NodeSeries], chunk_samples: usize) -> (usize, usize) {
    let (mut bytes, mut samples) = (0, 0);
    let mut encoder = ChunkEncoder::default();
    for s in series {
        for (ts, values) in s.ts.chunks(chunk_samples).zip(s.values.chunks(chunk_samples)) {
            bytes += encoder.encode(ts, values).len();
            samples += ts.len();
        }
    }
    (bytes, samples)
}

fn bench(c: &mut Criterion) {
    let series = node_like::node_like(10, 6);
    for chunk_samples in [240, 720] {
        let (bytes, samples) = sizes(&series, chunk_samples);
        println!(
            "node-like 10 hosts x 6 h, 10 s step, {} series, {chunk_samples}-sample chunks: {samples} samples in {bytes} bytes = {:.3} bytes/sample",
            series.len(),
            bytes as f64 / samples as f64
        );
    }

    // The 240-sample chunks of every series of one host, encoded and decoded as a group.
    let host: Vec<(&[i64], &[f64])> = series
        .iter()
        .filter(|s| s.labels.iter().any(|(n, v)| n == "host" && v == "host-00000"))
        .map(|s| (&s.ts[..240], &s.values[..240]))
        .collect();
    let host_samples = (host.len() * 240) as u64;
    let mut encoder = ChunkEncoder::default();
    let encoded: Vec<Vec<u8>> = host.iter().map(|(t, v)| encoder.encode(t, v)).collect();

    let mut group = c.benchmark_group("chunk");
    group.throughput(Throughput::Elements(host_samples));
    group.bench_function("encode 240 samples x 1 host's series, node-like 10s", |b| {
        b.iter(|| {
            for (t, v) in &host {
                black_box(encoder.encode(t, v));
            }
        })
    });
    group.bench_function("decode 240 samples x 1 host's series, node-like 10s", |b| {
        let (mut ts, mut values) = (Vec::with_capacity(240), Vec::with_capacity(240));
        b.iter(|| {
            for chunk in &encoded {
                ts.clear();
                values.clear();
                decode_chunk(chunk, &mut ts, &mut values).expect("chunk decodes");
                black_box((&ts, &values));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
