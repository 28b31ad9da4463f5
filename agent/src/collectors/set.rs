//! Running the enabled collectors: one failing collector never stops the others, its failure
//! is logged once (not every interval), and every collector's time and errors are reported as
//! ordinary series.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::{Collector, CollectorSettings, SystemPaths, build};
use crate::error::Error;
use crate::event::AgentEvent;
use crate::sample::Sample;

/// The collectors the settings enable, with what they did in the last rounds.
///
/// Each round appends, besides the collectors' own samples, per collector
/// `sysmon_agent_collector_duration_seconds{collector}` (how long it took this round, like
/// node_exporter's `node_scrape_collector_duration_seconds`) and
/// `sysmon_agent_collector_errors_total{collector}` (failed rounds since the agent started).
pub struct CollectorSet {
    entries: Vec<Entry>,
}

struct Entry {
    collector: Box<dyn Collector>,
    errors_total: u64,
    /// Whether the last round failed; a failure is logged at `warn` only when this flips.
    failing: bool,
}

/// A collector that failed in a round, and why.
#[derive(Debug)]
pub struct CollectorFailure {
    /// The collector's name.
    pub collector: &'static str,
    /// What went wrong.
    pub error: Error,
}

impl CollectorSet {
    /// The enabled collectors, reading from `paths`.
    pub fn new(paths: &SystemPaths, settings: &CollectorSettings) -> Self {
        let entries = settings
            .enabled()
            .iter()
            .map(|name| Entry { collector: build(name, paths, settings), errors_total: 0, failing: false })
            .collect();
        Self { entries }
    }

    /// A set of the given collectors, for tests.
    #[cfg(test)]
    pub(crate) fn from_collectors(collectors: Vec<Box<dyn Collector>>) -> Self {
        Self {
            entries: collectors
                .into_iter()
                .map(|collector| Entry { collector, errors_total: 0, failing: false })
                .collect(),
        }
    }

    /// The names of the collectors, in the order they run.
    pub fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|e| e.collector.name()).collect()
    }

    /// Runs every collector once and appends their samples, then the self-metrics, to `out`.
    /// Returns the collectors that failed this round.
    ///
    /// A failed collector contributes no samples at all: whatever it appended before failing
    /// is removed, so a series is never half-updated. A collector that panics counts as
    /// failed, like one that returns an error.
    ///
    /// This blocks: it reads files and, for the filesystem collector, waits on `statvfs` (at
    /// most the mount timeout per unresponsive mount, and only once: the mount is then skipped
    /// and reported with `node_filesystem_device_error 1` until it answers). Async callers run
    /// it on a blocking thread.
    pub fn collect(&mut self, out: &mut Vec<Sample>) -> Vec<CollectorFailure> {
        let mut failures = Vec::new();
        let mut durations = Vec::with_capacity(self.entries.len());
        for entry in &mut self.entries {
            let name = entry.collector.name();
            let before = out.len();
            let start = Instant::now();
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| entry.collector.collect(out)))
                .unwrap_or(Err(Error::CollectorPanicked { collector: name }));
            durations.push(start.elapsed());
            match result {
                Ok(()) => {
                    if entry.failing {
                        info!(collector = name, "collector recovered");
                        entry.failing = false;
                    }
                }
                Err(error) => {
                    out.truncate(before);
                    entry.errors_total += 1;
                    if entry.failing {
                        debug!(collector = name, error = %error_chain(&error), "collector failed again");
                    } else {
                        warn!(
                            collector = name,
                            error = %error_chain(&error),
                            "collector failed; the others go on, and this is logged again only after it recovers"
                        );
                        entry.failing = true;
                    }
                    failures.push(CollectorFailure { collector: name, error });
                }
            }
        }
        self.push_self_metrics(&durations, out);
        failures
    }

    /// Moves the events the collectors produced since the last call to `out`.
    pub fn take_events(&mut self, out: &mut Vec<AgentEvent>) {
        for entry in &mut self.entries {
            entry.collector.take_events(out);
        }
    }

    fn push_self_metrics(&self, durations: &[Duration], out: &mut Vec<Sample>) {
        for (entry, duration) in self.entries.iter().zip(durations) {
            let name = entry.collector.name();
            out.push(
                Sample::new("sysmon_agent_collector_duration_seconds", duration.as_secs_f64()).label("collector", name),
            );
        }
        for entry in &self.entries {
            let name = entry.collector.name();
            out.push(
                Sample::new("sysmon_agent_collector_errors_total", entry.errors_total as f64).label("collector", name),
            );
        }
    }
}

/// An error with its causes, `outer: inner: innermost`, for a log field.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::collectors::{COLLECTOR_NAMES, malformed, test_util};
    use crate::error::Result;

    /// Fails in the rounds listed in `fail_in` (0-based), after pushing a sample.
    struct Flaky {
        round: usize,
        fail_in: &'static [usize],
    }
    impl Collector for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }
        fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
            let round = self.round;
            self.round += 1;
            out.push(Sample::new("half_written", 1.0));
            if self.fail_in.contains(&round) {
                return Err(malformed(Path::new("/proc/nothing"), "broken on purpose"));
            }
            Ok(())
        }
    }

    struct Constant;
    impl Collector for Constant {
        fn name(&self) -> &'static str {
            "constant"
        }
        fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
            out.push(Sample::new("constant", 2.0));
            Ok(())
        }
    }

    struct Panicking;
    impl Collector for Panicking {
        fn name(&self) -> &'static str {
            "panicking"
        }
        fn collect(&mut self, _: &mut Vec<Sample>) -> Result<()> {
            panic!("a bug in a collector");
        }
    }

    fn own(samples: &[Sample]) -> Vec<&str> {
        samples.iter().filter(|s| !s.name.starts_with("sysmon_agent_")).map(|s| s.name.as_str()).collect()
    }

    fn errors_total(samples: &[Sample], collector: &str) -> Option<f64> {
        test_util::value(samples, "sysmon_agent_collector_errors_total", &[("collector", collector)])
    }

    #[test]
    fn failures_are_counted_and_do_not_stop_the_others() {
        let mut set =
            CollectorSet::from_collectors(vec![Box::new(Flaky { round: 0, fail_in: &[0, 1, 3] }), Box::new(Constant)]);
        let mut out = Vec::new();
        let failures = set.collect(&mut out);
        assert_eq!(own(&out), ["constant"]);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].collector, "flaky");
        assert_eq!(failures[0].error.to_string(), "cannot parse /proc/nothing: broken on purpose");
        assert_eq!(errors_total(&out, "flaky"), Some(1.0));
        assert_eq!(errors_total(&out, "constant"), Some(0.0));
        assert!(set.entries[0].failing);

        for (round, (expected_errors, failing)) in [(2.0, true), (2.0, false), (3.0, true)].into_iter().enumerate() {
            out.clear();
            set.collect(&mut out);
            assert_eq!(errors_total(&out, "flaky"), Some(expected_errors), "round {}", round + 1);
            assert_eq!(set.entries[0].failing, failing, "round {}", round + 1);
        }
    }

    #[test]
    fn a_panicking_collector_is_a_failure() {
        let mut set = CollectorSet::from_collectors(vec![Box::new(Panicking), Box::new(Constant)]);
        let mut out = Vec::new();
        let failures = set.collect(&mut out);
        assert_eq!(own(&out), ["constant"]);
        assert_eq!(failures[0].error.to_string(), "collector panicking panicked");
    }

    #[test]
    fn self_metrics_name_every_collector() {
        let mut set = CollectorSet::from_collectors(vec![Box::new(Constant)]);
        let mut out = Vec::new();
        set.collect(&mut out);
        let duration = test_util::value(&out, "sysmon_agent_collector_duration_seconds", &[("collector", "constant")]);
        assert!(duration.is_some_and(|d| (0.0..1.0).contains(&d)), "{duration:?}");
    }

    #[test]
    fn missing_sources_fail_only_the_collectors_that_need_them() {
        let (_dir, paths) = test_util::fixture();
        let mut set = CollectorSet::new(&paths, &CollectorSettings::default());
        assert_eq!(set.names(), COLLECTOR_NAMES);
        let mut out = Vec::new();
        let failures = set.collect(&mut out);
        let mut failed: Vec<&str> = failures.iter().map(|f| f.collector).collect();
        failed.sort_unstable();
        // Collectors of optional kernel features (PSI, conntrack, hwmon, ...) report nothing
        // when their files are missing; uname and timex use system calls, and os reads the
        // rootfs (the real "/" here), not /proc or /sys.
        assert_eq!(
            failed,
            [
                "arp",
                "cpu",
                "diskstats",
                "entropy",
                "filefd",
                "filesystem",
                "loadavg",
                "meminfo",
                "netclass",
                "netdev",
                "netstat",
                "sockstat",
                "softnet",
                "stat",
                "time",
                "udp_queues",
                "users",
                "vmstat"
            ]
        );
        assert!(failures.iter().all(|f| matches!(f.error, Error::ReadSource { .. })), "{failures:?}");
    }

    #[test]
    fn real_system_all_collectors_succeed_repeatedly() {
        // Speed is measured by benches, not here; this checks that rounds keep succeeding
        // (state carried between rounds, the statvfs worker thread).
        let mut set = CollectorSet::new(&SystemPaths::default(), &CollectorSettings::default());
        let mut out = Vec::new();
        for _ in 0..3 {
            out.clear();
            let failures = set.collect(&mut out);
            assert!(failures.is_empty(), "{failures:?}");
        }
        assert!(out.len() > 200, "only {} samples", out.len());
    }
}
