//! The wall clock, time zone and clock sources (as node_exporter's `time` collector) and the
//! time since boot from /proc/uptime (`sysmon_uptime_seconds`; node_exporter has no uptime
//! metric).

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Collector, SystemPaths, malformed, parse_field, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// Emits `node_time_seconds` (seconds since the epoch, fractional), `sysmon_uptime_seconds`,
/// `node_time_zone_offset_seconds{time_zone}` (the local zone's offset from UTC now, labelled
/// with its abbreviation, e.g. `CET`), and per clock source device
/// `node_time_clocksource_available_info{clocksource,device}` and
/// `node_time_clocksource_current_info{clocksource,device}`.
pub(crate) struct TimeCollector {
    path: PathBuf,
    clocksources: PathBuf,
    buf: String,
    /// The wall clock; tests replace it.
    clock: fn() -> SystemTime,
}

impl TimeCollector {
    pub(crate) fn new(paths: &SystemPaths) -> Self {
        Self {
            path: paths.proc("uptime"),
            clocksources: paths.sys("devices/system/clocksource"),
            buf: String::new(),
            clock: SystemTime::now,
        }
    }

    /// `clocksourceN` directories: their number and the two files node_exporter reads.
    fn push_clocksources(&mut self, out: &mut Vec<Sample>) {
        // No clocksource directory (some containers): nothing to report, not an error.
        let Ok(entries) = std::fs::read_dir(&self.clocksources) else { return };
        let mut devices: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|name| name.strip_prefix("clocksource").map(str::to_string))
            .filter(|n| n.parse::<u32>().is_ok())
            .collect();
        devices.sort_by_key(|n| n.parse::<u32>().unwrap_or(u32::MAX));
        for device in devices {
            let dir = self.clocksources.join(format!("clocksource{device}"));
            for (file, name) in [
                ("available_clocksource", "node_time_clocksource_available_info"),
                ("current_clocksource", "node_time_clocksource_current_info"),
            ] {
                if read_into(&dir.join(file), &mut self.buf).is_err() {
                    continue;
                }
                for source in self.buf.split_ascii_whitespace() {
                    out.push(Sample::new(name, 1.0).label("clocksource", source).label("device", device.as_str()));
                }
            }
        }
    }
}

impl Collector for TimeCollector {
    fn name(&self) -> &'static str {
        "time"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        read_into(&self.path, &mut self.buf)?;
        // "<seconds since boot> <idle seconds summed over CPUs>"
        let uptime = self.buf.split_ascii_whitespace().next().ok_or_else(|| malformed(&self.path, "empty"))?;
        let uptime: f64 = parse_field(uptime, &self.path, "uptime")?;
        let now_time = (self.clock)();
        // A clock before 1970 is reported as negative seconds, as node_exporter would.
        let now = match now_time.duration_since(UNIX_EPOCH) {
            Ok(since) => since.as_secs_f64(),
            Err(before) => -before.duration().as_secs_f64(),
        };
        out.push(Sample::new("node_time_seconds", now));
        out.push(Sample::new("sysmon_uptime_seconds", uptime));
        if let Some((offset_secs, abbreviation)) = zone_offset(now_time) {
            out.push(Sample::new("node_time_zone_offset_seconds", offset_secs).label("time_zone", abbreviation));
        }
        self.push_clocksources(out);
        Ok(())
    }
}

/// The local time zone's offset from UTC at `at`, in seconds, and its abbreviation, from `TZ`
/// or /etc/localtime (as the C library would). `None` only for a clock outside jiff's range.
fn zone_offset(at: SystemTime) -> Option<(f64, String)> {
    let timestamp = jiff::Timestamp::try_from(at).ok()?;
    let zone = jiff::tz::TimeZone::system();
    let info = zone.to_offset_info(timestamp);
    Some((f64::from(info.offset().seconds()), info.abbreviation().to_string()))
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
        let mut collector = TimeCollector::new(&paths);
        collector.clock = || UNIX_EPOCH + Duration::from_millis(1_795_425_565_250);
        let samples = collect(&mut collector);
        assert_eq!(plain(&samples[..2]), [("node_time_seconds", 1_795_425_565.25), ("sysmon_uptime_seconds", 7879.44)]);
    }

    #[test]
    fn reports_clock_sources() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "uptime", "7879.44 15476.03\n");
        write(&paths.sys, "devices/system/clocksource/clocksource0/available_clocksource", "tsc kvm-clock \n");
        write(&paths.sys, "devices/system/clocksource/clocksource0/current_clocksource", "tsc\n");
        write(&paths.sys, "devices/system/clocksource/uevent", "");
        let samples = collect(&mut TimeCollector::new(&paths));
        let sources: Vec<(&str, &str, &str)> = samples
            .iter()
            .filter(|s| s.name.starts_with("node_time_clocksource"))
            .map(|s| (s.name.as_str(), s.labels[0].1.as_str(), s.labels[1].1.as_str()))
            .collect();
        assert_eq!(
            sources,
            [
                ("node_time_clocksource_available_info", "tsc", "0"),
                ("node_time_clocksource_available_info", "kvm-clock", "0"),
                ("node_time_clocksource_current_info", "tsc", "0"),
            ]
        );
    }

    #[test]
    fn garbled_uptime_is_an_error() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "uptime", "\n");
        assert!(TimeCollector::new(&paths).collect(&mut Vec::new()).is_err());
        write(&paths.proc, "uptime", "soon 1.0\n");
        assert!(TimeCollector::new(&paths).collect(&mut Vec::new()).is_err());
    }

    #[test]
    fn real_proc_uptime_is_positive_and_clock_is_now() {
        let samples = collect(&mut TimeCollector::new(&SystemPaths::default()));
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        assert_eq!(samples[0].name, "node_time_seconds");
        assert!((samples[0].value - now).abs() < 60.0);
        assert_eq!(samples[1].name, "sysmon_uptime_seconds");
        assert!(samples[1].value > 0.0);
        let zone = samples.iter().find(|s| s.name == "node_time_zone_offset_seconds").unwrap();
        assert!(zone.value.abs() <= 14.0 * 3600.0 && !zone.labels[0].1.is_empty(), "{zone:?}");
    }
}
