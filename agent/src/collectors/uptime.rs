//! The wall clock (`node_time_seconds`, as node_exporter's `time` collector) and the time since
//! boot from /proc/uptime (`sysmon_uptime_seconds`; node_exporter has no uptime metric).

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Collector, SystemPaths, malformed, parse_field, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// Emits `node_time_seconds` (seconds since the epoch, fractional) and `sysmon_uptime_seconds`.
pub(crate) struct UptimeCollector {
    path: PathBuf,
    buf: String,
    /// The wall clock; tests replace it.
    clock: fn() -> SystemTime,
}

impl UptimeCollector {
    pub(crate) fn new(paths: &SystemPaths) -> Self {
        Self { path: paths.proc("uptime"), buf: String::new(), clock: SystemTime::now }
    }
}

impl Collector for UptimeCollector {
    fn name(&self) -> &'static str {
        "uptime"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        read_into(&self.path, &mut self.buf)?;
        // "<seconds since boot> <idle seconds summed over CPUs>"
        let uptime = self.buf.split_ascii_whitespace().next().ok_or_else(|| malformed(&self.path, "empty"))?;
        let uptime: f64 = parse_field(uptime, &self.path, "uptime")?;
        // A clock before 1970 is reported as negative seconds, as node_exporter would.
        let now = match (self.clock)().duration_since(UNIX_EPOCH) {
            Ok(since) => since.as_secs_f64(),
            Err(before) => -before.duration().as_secs_f64(),
        };
        out.push(Sample::new("node_time_seconds", now));
        out.push(Sample::new("sysmon_uptime_seconds", uptime));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::collectors::test_util::{collect, fixture, plain, write};

    #[test]
    fn reports_clock_and_uptime() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "uptime", "7879.44 15476.03\n");
        let mut collector = UptimeCollector::new(&paths);
        collector.clock = || UNIX_EPOCH + Duration::from_millis(1_795_425_565_250);
        let samples = collect(&mut collector);
        assert_eq!(plain(&samples), [("node_time_seconds", 1_795_425_565.25), ("sysmon_uptime_seconds", 7879.44)]);
    }

    #[test]
    fn garbled_uptime_is_an_error() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "uptime", "\n");
        assert!(UptimeCollector::new(&paths).collect(&mut Vec::new()).is_err());
        write(&paths.proc, "uptime", "soon 1.0\n");
        assert!(UptimeCollector::new(&paths).collect(&mut Vec::new()).is_err());
    }

    #[test]
    fn real_proc_uptime_is_positive_and_clock_is_now() {
        let samples = collect(&mut UptimeCollector::new(&SystemPaths::default()));
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        assert_eq!(samples[0].name, "node_time_seconds");
        assert!((samples[0].value - now).abs() < 60.0);
        assert_eq!(samples[1].name, "sysmon_uptime_seconds");
        assert!(samples[1].value > 0.0);
    }
}
