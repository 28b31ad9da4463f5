//! What the simulated agents measured: acks, ack latency, errors by kind. One [`Stats`] is
//! shared by every agent; its lock is held only to add a number, never across an await.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Ack latencies are recorded in microseconds, from 1 µs to 1 h, with 3 significant digits.
const LATENCY_MAX_US: u64 = 3_600_000_000;

/// The phases of a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub(crate) start: Instant,
    /// End of the warmup: acks from here on count.
    pub(crate) measure_from: Instant,
    /// End of the streaming: acks after this (the drain) do not count.
    pub(crate) measure_until: Instant,
}

impl Clock {
    pub(crate) fn new(start: Instant, warmup: Duration, duration: Duration) -> Self {
        Self { start, measure_from: start + warmup, measure_until: start + duration }
    }
}

/// Acked batches and their samples.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    pub(crate) batches: u64,
    pub(crate) samples: u64,
}

impl Tally {
    fn add(&mut self, samples: usize) {
        self.batches += 1;
        self.samples += samples as u64;
    }
}

/// Errors of one kind: how many, and the first one's text.
#[derive(Debug, Clone)]
pub(crate) struct ErrorTally {
    pub(crate) count: u64,
    pub(crate) example: String,
}

/// Figures of the last progress interval.
#[derive(Debug)]
pub(crate) struct Progress {
    pub(crate) elapsed: Duration,
    pub(crate) warming_up: bool,
    pub(crate) interval: Duration,
    pub(crate) acked: Tally,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) in_flight: u64,
    pub(crate) live_streams: usize,
    pub(crate) errors: u64,
}

/// Everything at the end of a run.
#[derive(Debug)]
pub(crate) struct Summary {
    /// Acked within the measured period.
    pub(crate) measured: Tally,
    /// Acked at any time, warmup and drain included.
    pub(crate) total: Tally,
    pub(crate) measured_period: Duration,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
    pub(crate) agents_connected: usize,
    pub(crate) agents_caught_up: usize,
    pub(crate) batches_unacked: u64,
    pub(crate) errors: BTreeMap<&'static str, ErrorTally>,
}

impl Summary {
    pub(crate) fn error_count(&self) -> u64 {
        self.errors.values().map(|e| e.count).sum()
    }
}

/// The shared recorder.
pub(crate) struct Stats {
    clock: Clock,
    inner: Mutex<Inner>,
}

struct Inner {
    measured: Tally,
    total: Tally,
    interval: Tally,
    latency_measured: Histogram<u64>,
    latency_interval: Histogram<u64>,
    last_progress: Instant,
    /// Set when streaming stopped early (Ctrl-C).
    stopped_at: Option<Instant>,
    in_flight: u64,
    live_streams: usize,
    agents_connected: usize,
    agents_caught_up: usize,
    batches_unacked: u64,
    errors: BTreeMap<&'static str, ErrorTally>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).expect("1 µs .. 1 h with 3 significant digits are valid bounds")
}

fn percentile_ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1000.0 }
}

impl Stats {
    pub(crate) fn new(clock: Clock) -> Arc<Self> {
        Arc::new(Self {
            clock,
            inner: Mutex::new(Inner {
                measured: Tally::default(),
                total: Tally::default(),
                interval: Tally::default(),
                latency_measured: histogram(),
                latency_interval: histogram(),
                last_progress: clock.start,
                stopped_at: None,
                in_flight: 0,
                live_streams: 0,
                agents_connected: 0,
                agents_caught_up: 0,
                batches_unacked: 0,
                errors: BTreeMap::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every method leaves the figures consistent between statements, so a poisoned lock
        // (a panic elsewhere while holding it) still holds usable numbers.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A batch went out for the first time.
    pub(crate) fn sent(&self) {
        self.lock().in_flight += 1;
    }

    /// An ack covered a batch of `samples` samples at `at`; `latency` is the time from sending
    /// it, when known (not for batches acked by the durable seq of a reconnect).
    pub(crate) fn acked(&self, samples: usize, latency: Option<Duration>, at: Instant) {
        let mut inner = self.lock();
        inner.in_flight = inner.in_flight.saturating_sub(1);
        inner.total.add(samples);
        let until = inner.stopped_at.unwrap_or(self.clock.measure_until).min(self.clock.measure_until);
        let measured = at >= self.clock.measure_from && at <= until;
        if measured {
            inner.measured.add(samples);
        }
        if at <= until {
            inner.interval.add(samples);
        }
        if let Some(latency) = latency {
            let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1);
            inner.latency_interval.saturating_record(us);
            if measured {
                inner.latency_measured.saturating_record(us);
            }
        }
    }

    /// A batch was answered with BatchRejected: it is handled, and counted as an error.
    pub(crate) fn rejected(&self, detail: String) -> u64 {
        let mut inner = self.lock();
        inner.in_flight = inner.in_flight.saturating_sub(1);
        drop(inner);
        self.error("batch rejected", detail)
    }

    /// Batches that were sent and never acked before the agent gave up.
    pub(crate) fn unacked(&self, batches: usize) {
        let mut inner = self.lock();
        inner.in_flight = inner.in_flight.saturating_sub(batches as u64);
        inner.batches_unacked += batches as u64;
    }

    /// Counts an error of `kind`; returns how many of that kind there now are.
    pub(crate) fn error(&self, kind: &'static str, detail: String) -> u64 {
        let mut inner = self.lock();
        let entry = inner.errors.entry(kind).or_insert_with(|| ErrorTally { count: 0, example: detail });
        entry.count += 1;
        entry.count
    }

    /// An agent's stream got its first Ack; the returned guard marks the end of the stream.
    pub(crate) fn stream_opened(self: &Arc<Self>, first_time: bool) -> LiveStream {
        let mut inner = self.lock();
        inner.live_streams += 1;
        if first_time {
            inner.agents_connected += 1;
        }
        LiveStream(self.clone())
    }

    /// An agent reached the wall clock with its simulated time.
    pub(crate) fn caught_up(&self) {
        self.lock().agents_caught_up += 1;
    }

    /// Streaming stopped (at the planned end or earlier, on Ctrl-C); acks from now on are drained.
    pub(crate) fn stop_measuring(&self, at: Instant) {
        let mut inner = self.lock();
        inner.stopped_at = Some(at.min(self.clock.measure_until));
    }

    /// The figures since the previous call, for the progress line.
    pub(crate) fn progress(&self, now: Instant) -> Progress {
        let mut inner = self.lock();
        let interval = now.saturating_duration_since(inner.last_progress);
        let progress = Progress {
            elapsed: now.saturating_duration_since(self.clock.start),
            warming_up: now < self.clock.measure_from,
            interval,
            acked: inner.interval,
            p50_ms: percentile_ms(&inner.latency_interval, 0.5),
            p99_ms: percentile_ms(&inner.latency_interval, 0.99),
            in_flight: inner.in_flight,
            live_streams: inner.live_streams,
            errors: inner.errors.values().map(|e| e.count).sum(),
        };
        inner.last_progress = now;
        inner.interval = Tally::default();
        inner.latency_interval.reset();
        progress
    }

    pub(crate) fn summary(&self) -> Summary {
        let inner = self.lock();
        let until = inner.stopped_at.unwrap_or(self.clock.measure_until).min(self.clock.measure_until);
        let h = &inner.latency_measured;
        Summary {
            measured: inner.measured,
            total: inner.total,
            measured_period: until.saturating_duration_since(self.clock.measure_from),
            p50_ms: percentile_ms(h, 0.5),
            p99_ms: percentile_ms(h, 0.99),
            max_ms: if h.is_empty() { 0.0 } else { h.max() as f64 / 1000.0 },
            agents_connected: inner.agents_connected,
            agents_caught_up: inner.agents_caught_up,
            batches_unacked: inner.batches_unacked,
            errors: inner.errors.clone(),
        }
    }
}

/// An open stream; counted as live until dropped.
pub(crate) struct LiveStream(Arc<Stats>);

impl Drop for LiveStream {
    fn drop(&mut self) {
        let mut inner = self.0.lock();
        inner.live_streams = inner.live_streams.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_acks_after_the_warmup_and_before_the_end_count() {
        let start = Instant::now();
        let stats = Stats::new(Clock::new(start, Duration::from_secs(3), Duration::from_secs(30)));
        let ms = Duration::from_millis;
        stats.sent();
        stats.acked(100, Some(ms(5)), start + Duration::from_secs(1));
        stats.acked(200, Some(ms(7)), start + Duration::from_secs(10));
        stats.acked(400, Some(ms(9)), start + Duration::from_secs(31));
        let summary = stats.summary();
        assert_eq!((summary.measured.batches, summary.measured.samples), (1, 200));
        assert_eq!((summary.total.batches, summary.total.samples), (3, 700));
        assert_eq!(summary.measured_period, Duration::from_secs(27));
        assert!((summary.p50_ms - 7.0).abs() < 0.01, "{}", summary.p50_ms);
    }

    #[test]
    fn an_early_stop_shortens_the_measured_period() {
        let start = Instant::now();
        let stats = Stats::new(Clock::new(start, Duration::from_secs(3), Duration::from_secs(30)));
        stats.stop_measuring(start + Duration::from_secs(13));
        stats.acked(10, None, start + Duration::from_secs(14));
        let summary = stats.summary();
        assert_eq!(summary.measured_period, Duration::from_secs(10));
        assert_eq!(summary.measured.samples, 0);
        assert_eq!(summary.total.samples, 10);
    }

    #[test]
    fn errors_keep_their_first_example() {
        let stats = Stats::new(Clock::new(Instant::now(), Duration::ZERO, Duration::from_secs(1)));
        assert_eq!(stats.error("connection refused", "first".into()), 1);
        assert_eq!(stats.error("connection refused", "second".into()), 2);
        let summary = stats.summary();
        assert_eq!(summary.errors["connection refused"].example, "first");
        assert_eq!(summary.error_count(), 2);
    }
}
