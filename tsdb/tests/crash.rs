//! Crash safety: a child process (this test binary, re-run with an environment variable)
//! writes batches while its sealer seals; it is killed with SIGKILL at different moments.
//! Every reopen must hold every acknowledged sample exactly once, and nothing that was not
//! committed.

mod util;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};

use sysmon_tsdb::{CommitOutcome, Labels, Tier, TsdbConfig, WriteBatch};
use util::{labels, open, small_config};

const CHILD_ENV: &str = "SYSMON_TSDB_CRASH_CHILD";
const PRODUCER: &str = "crash-agent";
const SERIES: usize = 40;

fn series() -> Vec<Labels> {
    (0..SERIES).map(|i| labels(&[("__name__", "crash_test"), ("i", &i.to_string())])).collect()
}

fn value(seq: u64, series: usize, k: i64) -> f64 {
    ((seq * 7 + series as u64 * 13 + k as u64) % 1000) as f64 / 100.0
}

/// Batch `seq`: two samples per series, at `seq * 10 s` and 5 s later.
fn batch(seq: u64) -> WriteBatch {
    let mut samples = Vec::with_capacity(SERIES * 2);
    for k in 0..2i64 {
        for s in 0..SERIES {
            samples.push((s as u32, seq as i64 * 10_000 + k * 5_000, value(seq, s, k)));
        }
    }
    WriteBatch { producer: Some((PRODUCER.to_string(), seq)), series: series(), samples }
}

fn config() -> TsdbConfig {
    TsdbConfig { chunk_max_samples: 6, ..small_config() }
}

/// The child: resumes after the last committed seq and writes until killed, printing
/// `ACK <seq>` once a batch is durable.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let tsdb = open(Path::new(&dir), config());
    let mut seq = tsdb.producer_seq(PRODUCER).unwrap();
    let mut out = std::io::stdout().lock();
    loop {
        // Several batches in flight, so that group commits hold more than one.
        let pending: Vec<_> = (1..=4).map(|k| (seq + k, tsdb.submit(batch(seq + k)))).collect();
        seq += 4;
        for (s, rx) in pending {
            let outcome = rx.blocking_recv().unwrap().unwrap();
            assert!(matches!(outcome, CommitOutcome::Stored { out_of_order: 0, duplicates: 0, .. }), "{outcome:?}");
            writeln!(out, "ACK {s}").unwrap();
            out.flush().unwrap();
        }
    }
}

/// Checks that the store holds batches `1..=committed` exactly.
fn verify(dir: &Path, acked: u64, close: bool) -> u64 {
    let tsdb = open(dir, config());
    let committed = tsdb.producer_seq(PRODUCER).unwrap();
    assert!(committed >= acked, "acknowledged seq {acked} lost: store has {committed}");
    let data = tsdb.select(&[], i64::MIN, i64::MAX).unwrap();
    assert_eq!(data.len(), if committed == 0 { 0 } else { SERIES });
    for d in &data {
        let s: usize = d.labels.get("i").unwrap().parse().unwrap();
        let want: Vec<(i64, f64)> = (1..=committed)
            .flat_map(|seq| (0..2i64).map(move |k| (seq as i64 * 10_000 + k * 5_000, value(seq, s, k))))
            .collect();
        assert_eq!(d.samples.len(), want.len(), "series {s}: samples missing or stored twice");
        assert_eq!(d.samples, want, "series {s}");
    }
    // Rollups hold every sealed sample exactly once too: once everything is sealed, each
    // minute bucket agrees with the raw samples.
    tsdb.flush().unwrap();
    let rollups = tsdb.select_rollup(Tier::Minute, &[], i64::MIN, i64::MAX).unwrap();
    for (raw, rolled) in data.iter().zip(&rollups) {
        assert_eq!(raw.labels, rolled.labels);
        let mut want: Vec<(i64, u64, f64, i64)> = Vec::new();
        for &(t, v) in &raw.samples {
            let start = Tier::Minute.bucket_start(t);
            match want.last_mut() {
                Some(last) if last.0 == start => {
                    last.1 += 1;
                    last.2 += v;
                    last.3 = t;
                }
                _ => want.push((start, 1, v, t)),
            }
        }
        let got: Vec<(i64, u64, f64, i64)> =
            rolled.points.iter().map(|p| (p.start_ms, p.count, p.sum, p.last_ts)).collect();
        assert_eq!(got, want, "minute rollups of {}", raw.labels);
    }
    if close {
        tsdb.close().unwrap();
    }
    committed
}

#[test]
fn acknowledged_samples_survive_sigkill_at_any_moment() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut committed = 0;
    for (round, acks_before_kill) in [1usize, 37, 4, 150, 9, 64, 2, 101].into_iter().enumerate() {
        let stderr = std::fs::File::create(dir.path().join(format!("child-{round}.stderr"))).unwrap();
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut acked, mut seen) = (committed, 0);
        while seen < acks_before_kill {
            let Some(Ok(line)) = lines.next() else {
                let log = std::fs::read_to_string(dir.path().join(format!("child-{round}.stderr"))).unwrap_or_default();
                panic!("child of round {round} stopped after {seen} acks; stderr:\n{log}");
            };
            if let Some(seq) = line.strip_prefix("ACK ").and_then(|s| s.parse::<u64>().ok()) {
                acked = acked.max(seq);
                seen += 1;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Acks the child wrote before it died are still in the pipe.
        for line in lines.map_while(Result::ok) {
            if let Some(seq) = line.strip_prefix("ACK ").and_then(|s| s.parse::<u64>().ok()) {
                acked = acked.max(seq);
            }
        }
        committed = verify(dir.path(), acked, round % 3 == 2);
        assert!(committed >= acked);
    }
    assert!(committed > 300, "the children committed only {committed} batches");
}
