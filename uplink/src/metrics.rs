//! An uplink's figures: its spool, what it sent, how long acks took, which endpoint it is
//! connected to. The owner publishes them under its own prefix ([`UplinkMetrics::visit`]):
//! the agent as `sysmon_agent_*` series in its batches, an aggregator as
//! `sysmon_federation_*` at `/metrics`.
//!
//! | name (after the prefix) | kind | meaning |
//! | --- | --- | --- |
//! | `spool_bytes` | gauge | bytes the spool's files take |
//! | `spool_max_bytes` | gauge | the spool's limit |
//! | `spool_batches` | gauge | batches spooled and not yet acknowledged |
//! | `spool_dropped_batches_total{reason}` | counter | batches dropped unsent: `full`, `corrupt`, or `write_error` (never spooled: the spool could not be written) |
//! | `spool_dropped_bytes_total{reason}` | counter | their bytes |
//! | `sent_batches_total` | counter | batches sent (resends included) |
//! | `send_latency_seconds` | histogram | from sending a batch to its durable ack |
//! | `reconnects_total` | counter | streams opened after the first |
//! | `aggregator_connected` | gauge | 1 while a stream is open |
//! | `aggregator_endpoint_index` | gauge | the endpoint in use, 0 = preferred, -1 = none |
//!
//! Counters start at 0 when the process starts, as Prometheus counters do.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use sysmon_spool::DropReason;

/// Upper bounds of the send latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The figures; shared by the outbox, the shipper and the owner.
#[derive(Debug)]
pub struct UplinkMetrics {
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

impl Default for UplinkMetrics {
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

impl UplinkMetrics {
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
    pub fn sent_batches(&self) -> u64 {
        self.sent_batches.load(Ordering::Relaxed)
    }

    /// Batches spooled and not yet acknowledged.
    pub fn spool_batches(&self) -> u64 {
        self.spool_batches.load(Ordering::Relaxed)
    }

    /// Whether a stream is open.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed) == 1
    }

    /// Dropped batches so far, all reasons.
    pub fn dropped_batches(&self) -> u64 {
        [&self.dropped_full, &self.dropped_corrupt, &self.dropped_write_error]
            .iter()
            .map(|(batches, _)| batches.load(Ordering::Relaxed))
            .sum()
    }

    /// Calls `f(name, label, value)` for every figure, names as in the module's table (the
    /// histogram as its `_bucket`, `_sum` and `_count` series), at most one label each.
    pub fn visit(&self, f: &mut dyn FnMut(&'static str, Option<(&'static str, String)>, f64)) {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        f("spool_bytes", None, get(&self.spool_bytes));
        f("spool_max_bytes", None, get(&self.spool_max_bytes));
        f("spool_batches", None, get(&self.spool_batches));
        for (reason, (batches, bytes)) in [
            ("full", &self.dropped_full),
            ("corrupt", &self.dropped_corrupt),
            ("write_error", &self.dropped_write_error),
        ] {
            f("spool_dropped_batches_total", Some(("reason", reason.to_string())), get(batches));
            f("spool_dropped_bytes_total", Some(("reason", reason.to_string())), get(bytes));
        }
        f("sent_batches_total", None, get(&self.sent_batches));
        f("reconnects_total", None, get(&self.reconnects));
        f("aggregator_connected", None, get(&self.connected));
        f("aggregator_endpoint_index", None, self.endpoint_index.load(Ordering::Relaxed) as f64);
        let h = self.latency.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut cumulative = 0;
        for (le, n) in LATENCY_BUCKETS.iter().zip(h.counts) {
            cumulative += n;
            f("send_latency_seconds_bucket", Some(("le", le.to_string())), cumulative as f64);
        }
        f("send_latency_seconds_bucket", Some(("le", "+Inf".to_string())), h.count as f64);
        f("send_latency_seconds_sum", None, h.sum);
        f("send_latency_seconds_count", None, h.count as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A figure: name, label, value.
    type Figure = (String, Option<(&'static str, String)>, f64);

    fn figures(m: &UplinkMetrics) -> Vec<Figure> {
        let mut out = Vec::new();
        m.visit(&mut |name, label, value| out.push((name.to_string(), label, value)));
        out
    }

    fn value(figures: &[Figure], name: &str, label: Option<&str>) -> f64 {
        figures
            .iter()
            .find(|(n, l, _)| n == name && label.is_none_or(|want| l.as_ref().is_some_and(|(_, v)| v == want)))
            .unwrap_or_else(|| panic!("no {name}"))
            .2
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = UplinkMetrics::default();
        m.observe_latency(Duration::from_millis(3));
        m.observe_latency(Duration::from_millis(30));
        m.observe_latency(Duration::from_secs(60));
        m.count_drop(DropReason::Full, 3, 300);
        m.count_write_error(70);
        let f = figures(&m);
        let bucket = |le| value(&f, "send_latency_seconds_bucket", Some(le));
        assert_eq!((bucket("0.005"), bucket("0.05"), bucket("10"), bucket("+Inf")), (1.0, 2.0, 2.0, 3.0));
        assert_eq!(value(&f, "send_latency_seconds_count", None), 3.0);
        assert_eq!(value(&f, "spool_dropped_batches_total", Some("full")), 3.0);
        assert_eq!(value(&f, "spool_dropped_bytes_total", Some("write_error")), 70.0);
        assert_eq!(m.dropped_batches(), 4);
        assert_eq!(value(&f, "aggregator_endpoint_index", None), -1.0);
    }
}
