//! Spool benches: appends (each one fdatasync'ed, as the agent does) and draining a
//! backlog (read in order, then ack), for entries the size of an agent's batch.
//!
//! `cargo bench -p sysmon-spool --bench spool`. The spool lives in a temp dir under
//! `$TMPDIR` (default /tmp): point it at the disk you care about, since a tmpfs makes
//! fdatasync free.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sysmon_spool::{Spool, SpoolConfig};

/// Bytes of one entry: about one compressed collection of a node_exporter-like host.
const SIZES: [usize; 2] = [4 * 1024, 32 * 1024];

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("spool");
    group.measurement_time(Duration::from_secs(5));
    for size in SIZES {
        let data = payload(size);
        group.sample_size(20);
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("append {} KiB entry + fdatasync", size / 1024), |b| {
            let dir = tempfile::tempdir().unwrap();
            let mut spool = Spool::open(SpoolConfig::new(dir.path())).unwrap();
            let mut seq = 0;
            b.iter(|| {
                seq += 1;
                let _ = spool.append(seq, &data).unwrap();
                if seq.is_multiple_of(256) {
                    spool.ack(seq).unwrap();
                }
            })
        });

        // Draining: a backlog of 2000 entries, read in order and acked in windows of 32,
        // as the shipper does. Timed per entry.
        let backlog = 2000u64;
        // Each sample refills the backlog with synced appends first (untimed but slow).
        group.sample_size(10);
        group.throughput(Throughput::Elements(backlog));
        group.bench_function(format!("drain 2000 x {} KiB entries, read + ack", size / 1024), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().unwrap();
                    let mut spool = Spool::open(SpoolConfig::new(dir.path())).unwrap();
                    for seq in 1..=backlog {
                        let _ = spool.append(seq, &data).unwrap();
                    }
                    let start = Instant::now();
                    let mut after = 0;
                    while let Some(entry) = spool.read_after(after).unwrap() {
                        after = entry.seq;
                        black_box(&entry.payload);
                        if after.is_multiple_of(32) {
                            spool.ack(after).unwrap();
                        }
                    }
                    spool.ack(after).unwrap();
                    total += start.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
