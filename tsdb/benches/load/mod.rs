//! Loads node-like series into a [`Tsdb`] the way agents send them: one batch per host per
//! `scrapes` scrapes, with its producer seq, every host's batch of a round in flight at once
//! (so the writer group-commits them), the engine's clock following the data.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use sysmon_tsdb::{Clock, CommitOutcome, Labels, Tsdb, TsdbConfig};

use crate::node_like::NodeSeries;

/// One host: its series' labels and where their samples are in the parsed set.
struct Host {
    name: String,
    labels: Vec<Labels>,
    series: Vec<usize>,
    seq: u64,
}

fn hosts(series: &[NodeSeries]) -> Vec<Host> {
    let mut hosts: Vec<Host> = Vec::new();
    for (i, s) in series.iter().enumerate() {
        let name = s.labels.iter().find(|(n, _)| n == "host").map(|(_, v)| v.clone()).expect("a host label");
        let at = match hosts.iter().position(|h| h.name == name) {
            Some(at) => at,
            None => {
                hosts.push(Host { name, labels: Vec::new(), series: Vec::new(), seq: 0 });
                hosts.len() - 1
            }
        };
        hosts[at].labels.push(Labels::new(s.labels.iter().cloned()));
        hosts[at].series.push(i);
    }
    hosts
}

/// A clock the loader moves along the data; give [`DataClock::clock`] to the config.
pub struct DataClock(Arc<AtomicI64>);

impl DataClock {
    /// A clock at the data's first timestamp.
    pub fn new(series: &[NodeSeries]) -> DataClock {
        DataClock(Arc::new(AtomicI64::new(series.first().and_then(|s| s.ts.first().copied()).unwrap_or(0))))
    }

    /// Moves the clock `ms` ahead.
    #[allow(dead_code)] // not every bench that shares this module moves it
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::Relaxed);
    }

    /// Sets `config.clock` to this clock.
    pub fn install(&self, config: &mut TsdbConfig) {
        let now = self.0.clone();
        config.clock = Clock::from_fn(move || now.load(Ordering::Relaxed));
    }
}

/// Submits every sample of `series`; `after_round` runs after each round is committed.
pub fn load(tsdb: &Tsdb, series: &[NodeSeries], scrapes: usize, clock: &DataClock, mut after_round: impl FnMut()) {
    let mut hosts = hosts(series);
    let steps = series.iter().map(|s| s.ts.len()).max().unwrap_or(0);
    let mut step = 0;
    while step < steps {
        let end = (step + scrapes).min(steps);
        let last_ts = series.iter().filter_map(|s| s.ts.get(end - 1)).max().copied().unwrap_or(0);
        clock.0.store(last_ts, Ordering::Relaxed);
        let mut replies = Vec::with_capacity(hosts.len());
        for host in &mut hosts {
            host.seq += 1;
            let mut samples = Vec::with_capacity((end - step) * host.series.len());
            for k in step..end {
                for (r, &s) in host.series.iter().enumerate() {
                    if let (Some(&t), Some(&v)) = (series[s].ts.get(k), series[s].values.get(k)) {
                        samples.push((r as u32, t, v));
                    }
                }
            }
            replies.push(tsdb.submit(sysmon_tsdb::WriteBatch {
                producer: Some((host.name.clone(), host.seq)),
                series: host.labels.clone(),
                samples,
            }));
        }
        for rx in replies {
            match rx.blocking_recv().expect("writer answers").expect("batch commits") {
                CommitOutcome::Stored { out_of_order: 0, duplicates: 0, .. } => {}
                other => panic!("batch not stored whole: {other:?}"),
            }
        }
        after_round();
        step = end;
    }
}
