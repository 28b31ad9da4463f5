//! The agent's own health figures, sent like any other series in every batch (with the
//! `host` label the batch adds), under the `sysmon_agent_` prefix:
//!
//! | series | kind | meaning |
//! | --- | --- | --- |
//! | `sysmon_agent_spool_bytes` | gauge | bytes the spool's files take |
//! | `sysmon_agent_spool_max_bytes` | gauge | the spool's limit (`spool.max_bytes`) |
//! | `sysmon_agent_spool_batches` | gauge | batches spooled and not yet acknowledged |
//! | `sysmon_agent_spool_dropped_batches_total{reason}` | counter | batches dropped unsent: `full`, `corrupt`, or `write_error` (never spooled: the spool could not be written) |
//! | `sysmon_agent_spool_dropped_bytes_total{reason}` | counter | their bytes |
//! | `sysmon_agent_sent_batches_total` | counter | batches sent (resends included) |
//! | `sysmon_agent_send_latency_seconds` | histogram | from sending a batch to its durable ack |
//! | `sysmon_agent_reconnects_total` | counter | streams opened after the first |
//! | `sysmon_agent_aggregator_connected` | gauge | 1 while a stream is open |
//! | `sysmon_agent_aggregator_endpoint_index` | gauge | the endpoint in use, 0 = preferred, -1 = none |
//!
//! Counters start at 0 when the agent starts, as Prometheus counters do.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use sysmon_spool::DropReason;

use crate::sample::Sample;

/// Upper bounds of the send latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The figures; shared by the outbox, the shipper and the collection loop.
#[derive(Debug)]
pub(crate) struct AgentMetrics {
    spool_bytes: AtomicU64,
    spool_max_bytes: AtomicU64,
    spool_batches: AtomicU64,
    dropped_full: (AtomicU64, AtomicU64),
    dropped_corrupt: (AtomicU64, AtomicU64),
    dropped_write_error: (AtomicU64, AtomicU64),
    sent_batches: AtomicU64,
    reconnects: AtomicU64,
    connected: AtomicU64,
    endpoint_index: AtomicI64,
    latency: Mutex<Histogram>,
}

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Default for AgentMetrics {
    fn default() -> Self {
        Self {
            spool_bytes: AtomicU64::new(0),
            spool_max_bytes: AtomicU64::new(0),
            spool_batches: AtomicU64::new(0),
            dropped_full: (AtomicU64::new(0), AtomicU64::new(0)),
            dropped_corrupt: (AtomicU64::new(0), AtomicU64::new(0)),
            dropped_write_error: (AtomicU64::new(0), AtomicU64::new(0)),
            sent_batches: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            connected: AtomicU64::new(0),
            endpoint_index: AtomicI64::new(-1),
            latency: Mutex::new(Histogram::default()),
        }
    }
}

impl AgentMetrics {
    pub(crate) fn set_spool(&self, bytes: u64, batches: u64, max_bytes: u64) {
        self.spool_bytes.store(bytes, Ordering::Relaxed);
        self.spool_batches.store(batches, Ordering::Relaxed);
        self.spool_max_bytes.store(max_bytes, Ordering::Relaxed);
    }

    pub(crate) fn count_drop(&self, reason: DropReason, batches: u64, bytes: u64) {
        let (b, n) = match reason {
            DropReason::Full => &self.dropped_full,
            DropReason::Corrupt => &self.dropped_corrupt,
        };
        b.fetch_add(batches, Ordering::Relaxed);
        n.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A batch of `bytes` that could not be written to the spool, so was never spooled.
    pub(crate) fn count_write_error(&self, bytes: u64) {
        self.dropped_write_error.0.fetch_add(1, Ordering::Relaxed);
        self.dropped_write_error.1.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn count_sent(&self) {
        self.sent_batches.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn observe_latency(&self, latency: Duration) {
        let seconds = latency.as_secs_f64();
        let mut h = self.latency.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(i) = LATENCY_BUCKETS.iter().position(|&le| seconds <= le) {
            h.counts[i] += 1;
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// A stream to the endpoint at `index` is open (`None`: no stream). `reconnect` is
    /// true for every stream after the first.
    pub(crate) fn set_connected(&self, index: Option<usize>, reconnect: bool) {
        self.connected.store(u64::from(index.is_some()), Ordering::Relaxed);
        self.endpoint_index.store(index.map_or(-1, |i| i as i64), Ordering::Relaxed);
        if reconnect {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Batches sent so far.
    pub(crate) fn sent_batches(&self) -> u64 {
        self.sent_batches.load(Ordering::Relaxed)
    }

    /// Dropped batches so far, all reasons.
    pub(crate) fn dropped_batches(&self) -> u64 {
        [&self.dropped_full, &self.dropped_corrupt, &self.dropped_write_error]
            .iter()
            .map(|(batches, _)| batches.load(Ordering::Relaxed))
            .sum()
    }

    /// Appends the current figures to `out` as samples.
    pub(crate) fn append_samples(&self, out: &mut Vec<Sample>) {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        out.push(Sample::new("sysmon_agent_spool_bytes", get(&self.spool_bytes)));
        out.push(Sample::new("sysmon_agent_spool_max_bytes", get(&self.spool_max_bytes)));
        out.push(Sample::new("sysmon_agent_spool_batches", get(&self.spool_batches)));
        for (reason, (batches, bytes)) in [
            ("full", &self.dropped_full),
            ("corrupt", &self.dropped_corrupt),
            ("write_error", &self.dropped_write_error),
        ] {
            out.push(Sample::new("sysmon_agent_spool_dropped_batches_total", get(batches)).label("reason", reason));
            out.push(Sample::new("sysmon_agent_spool_dropped_bytes_total", get(bytes)).label("reason", reason));
        }
        out.push(Sample::new("sysmon_agent_sent_batches_total", get(&self.sent_batches)));
        out.push(Sample::new("sysmon_agent_reconnects_total", get(&self.reconnects)));
        out.push(Sample::new("sysmon_agent_aggregator_connected", get(&self.connected)));
        out.push(Sample::new(
            "sysmon_agent_aggregator_endpoint_index",
            self.endpoint_index.load(Ordering::Relaxed) as f64,
        ));
        let h = self.latency.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut cumulative = 0;
        for (le, n) in LATENCY_BUCKETS.iter().zip(h.counts) {
            cumulative += n;
            out.push(
                Sample::new("sysmon_agent_send_latency_seconds_bucket", cumulative as f64).label("le", le.to_string()),
            );
        }
        out.push(Sample::new("sysmon_agent_send_latency_seconds_bucket", h.count as f64).label("le", "+Inf"));
        out.push(Sample::new("sysmon_agent_send_latency_seconds_sum", h.sum));
        out.push(Sample::new("sysmon_agent_send_latency_seconds_count", h.count as f64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(samples: &[Sample], name: &str, label: Option<(&str, &str)>) -> f64 {
        samples
            .iter()
            .find(|s| s.name == name && label.is_none_or(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v)))
            .unwrap_or_else(|| panic!("no {name}"))
            .value
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = AgentMetrics::default();
        m.observe_latency(Duration::from_millis(3));
        m.observe_latency(Duration::from_millis(30));
        m.observe_latency(Duration::from_secs(60));
        m.count_drop(DropReason::Full, 3, 300);
        m.count_write_error(70);
        let mut samples = Vec::new();
        m.append_samples(&mut samples);
        let bucket = |le| value(&samples, "sysmon_agent_send_latency_seconds_bucket", Some(("le", le)));
        assert_eq!((bucket("0.005"), bucket("0.05"), bucket("10"), bucket("+Inf")), (1.0, 2.0, 2.0, 3.0));
        assert_eq!(value(&samples, "sysmon_agent_send_latency_seconds_count", None), 3.0);
        assert_eq!(value(&samples, "sysmon_agent_spool_dropped_batches_total", Some(("reason", "full"))), 3.0);
        assert_eq!(value(&samples, "sysmon_agent_spool_dropped_bytes_total", Some(("reason", "write_error"))), 70.0);
        assert_eq!(m.dropped_batches(), 4);
        assert_eq!(value(&samples, "sysmon_agent_aggregator_endpoint_index", None), -1.0);
    }
}
