//! Kernel-wide counters from /proc/stat (boot time, context switches, forks, interrupts,
//! runnable and blocked processes), as node_exporter's `stat` collector.

use std::path::PathBuf;

use super::{Collector, SystemPaths, malformed, parse_field, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// /proc/stat keys and the metric each becomes, in node_exporter's order.
const KEYS: [(&str, &str); 6] = [
    ("intr", "node_intr_total"),
    ("ctxt", "node_context_switches_total"),
    ("processes", "node_forks_total"),
    ("btime", "node_boot_time_seconds"),
    ("procs_running", "node_procs_running"),
    ("procs_blocked", "node_procs_blocked"),
];

/// Emits `node_intr_total`, `node_context_switches_total`, `node_forks_total`,
/// `node_boot_time_seconds`, `node_procs_running` and `node_procs_blocked`.
///
/// node_exporter's optional `node_softirqs_total` (off by default there) is not emitted.
pub(crate) struct StatCollector {
    path: PathBuf,
    buf: String,
}

impl StatCollector {
    pub(crate) fn new(paths: &SystemPaths) -> Self {
        Self { path: paths.proc("stat"), buf: String::new() }
    }
}

impl Collector for StatCollector {
    fn name(&self) -> &'static str {
        "stat"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        read_into(&self.path, &mut self.buf)?;
        let mut values = [None; KEYS.len()];
        for line in self.buf.lines() {
            let mut fields = line.split_ascii_whitespace();
            let Some(key) = fields.next() else { continue };
            let Some(slot) = KEYS.iter().position(|(k, _)| *k == key) else { continue };
            // For `intr` the first number is the total; per-IRQ counts follow.
            let value = fields.next().ok_or_else(|| malformed(&self.path, format!("{key} has no value")))?;
            values[slot] = Some(parse_field::<u64>(value, &self.path, key)? as f64);
        }
        if values.iter().all(Option::is_none) {
            return Err(malformed(&self.path, "none of intr, ctxt, processes, btime, procs_running, procs_blocked"));
        }
        // A key an old or unusual kernel lacks is skipped rather than reported as 0.
        for ((_, name), value) in KEYS.iter().zip(values) {
            if let Some(value) = value {
                out.push(Sample::new(*name, value));
            }
        }
        Ok(())
    }
}

/// The boot time in whole seconds since the epoch, from /proc/stat's `btime`.
pub(crate) fn boot_time_secs(stat: &str) -> Option<i64> {
    stat.lines().find_map(|line| line.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, plain, write};

    #[test]
    fn parses_kernel_counters() {
        let (_dir, paths) = fixture();
        write(
            &paths.proc,
            "stat",
            "cpu  20200 0 4703 1547046 453 0 102 418 0 0
cpu0 9614 0 2169 774205 82 0 37 220 0 0
intr 304113 0 0 0 0 12 0
ctxt 345725
btime 1795417575
processes 5313
procs_running 2
procs_blocked 1
softirq 258686 0 71867 6 11499 9844 0 312 136104 0 29054
",
        );
        let samples = collect(&mut StatCollector::new(&paths));
        assert_eq!(
            plain(&samples),
            [
                ("node_intr_total", 304113.0),
                ("node_context_switches_total", 345725.0),
                ("node_forks_total", 5313.0),
                ("node_boot_time_seconds", 1795417575.0),
                ("node_procs_running", 2.0),
                ("node_procs_blocked", 1.0),
            ]
        );
        assert!(samples.iter().all(|s| s.labels.is_empty()));
    }

    #[test]
    fn missing_keys_are_skipped_and_none_is_an_error() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "stat", "cpu0 1 2 3 4\nbtime 17\n");
        assert_eq!(plain(&collect(&mut StatCollector::new(&paths))), [("node_boot_time_seconds", 17.0)]);
        write(&paths.proc, "stat", "cpu0 1 2 3 4\n");
        assert!(StatCollector::new(&paths).collect(&mut Vec::new()).is_err());
        write(&paths.proc, "stat", "ctxt\n");
        let err = StatCollector::new(&paths).collect(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().ends_with("stat: ctxt has no value"), "{err}");
    }

    #[test]
    fn boot_time_from_btime() {
        assert_eq!(boot_time_secs("cpu 1\nbtime 1795417575\n"), Some(1795417575));
        assert_eq!(boot_time_secs("cpu 1\n"), None);
    }

    #[test]
    fn real_proc_counters_are_sane() {
        let samples = collect(&mut StatCollector::new(&SystemPaths::default()));
        let names: Vec<_> = samples.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, KEYS.map(|(_, name)| name));
        let get = |name: &str| samples.iter().find(|s| s.name == name).unwrap().value;
        assert!(get("node_boot_time_seconds") > 1.0e9);
        assert!(get("node_procs_running") >= 1.0, "this test itself is running");
        assert!(get("node_context_switches_total") > 0.0);
    }
}
