//! Per-CPU time from the `cpuN` lines of /proc/stat, as node_exporter's `cpu` collector.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::{Collector, SystemPaths, malformed, parse_field, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// Ticks per second of /proc/stat's times. The kernel always reports in USER_HZ, which is 100
/// on every Linux architecture node_exporter supports; node_exporter hard-codes it too.
const USER_HZ: f64 = 100.0;

/// /proc/stat's columns in order: user nice system idle iowait irq softirq steal guest guest_nice.
const FIELDS: usize = 10;

/// The modes of `node_cpu_seconds_total`, in /proc/stat's column order.
const MODES: [&str; 8] = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];

/// Column of `idle`, which decides whether a CPU was hot-plugged.
const IDLE: usize = 3;

/// When a CPU's idle time drops by at least this much, it was taken offline and back and its
/// counters restarted; smaller drops are kernel accounting noise (iowait is known to go back).
/// node_exporter uses the same threshold.
const JUMP_BACK_SECONDS: f64 = 3.0;

/// Emits `node_cpu_seconds_total{cpu,mode}` and `node_cpu_guest_seconds_total{cpu,mode}`, and on
/// x86 machines with thermal throttle counters `node_cpu_package_throttles_total{package}` and
/// `node_cpu_core_throttles_total{package,core}`.
///
/// Like node_exporter, counters never go backwards: a value below the previous one is replaced
/// by the previous one, unless idle jumped back by [`JUMP_BACK_SECONDS`] (a hot-plug), which
/// resets that CPU.
pub(crate) struct CpuCollector {
    path: PathBuf,
    /// /sys/devices/system/cpu, for the thermal throttle counters.
    cpu_dir: PathBuf,
    buf: String,
    /// Last emitted seconds per CPU id.
    last: HashMap<u32, [f64; FIELDS]>,
}

impl CpuCollector {
    pub(crate) fn new(paths: &SystemPaths) -> Self {
        Self {
            path: paths.proc("stat"),
            cpu_dir: paths.sys("devices/system/cpu"),
            buf: String::new(),
            last: HashMap::new(),
        }
    }

    /// Clamps `now` against the last values of `cpu` and remembers the result.
    fn monotonic(&mut self, cpu: u32, now: [f64; FIELDS]) -> [f64; FIELDS] {
        let last = self.last.entry(cpu).or_insert([0.0; FIELDS]);
        if last[IDLE] - now[IDLE] >= JUMP_BACK_SECONDS {
            *last = [0.0; FIELDS];
        }
        for (kept, new) in last.iter_mut().zip(now) {
            if new >= *kept {
                *kept = new;
            }
        }
        *last
    }
}

impl Collector for CpuCollector {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        let result = read_into(&self.path, &mut buf).and_then(|()| self.parse(&buf, out));
        if result.is_ok() {
            push_throttles(&self.cpu_dir, &mut buf, out);
        }
        self.buf = buf;
        result
    }
}

impl CpuCollector {
    fn parse(&mut self, text: &str, out: &mut Vec<Sample>) -> Result<()> {
        let mut online = Vec::new();
        for line in text.lines() {
            // `cpu ` is the all-CPU total, which node_exporter does not export.
            let Some(rest) = line.strip_prefix("cpu").filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
            else {
                continue;
            };
            let mut fields = rest.split_ascii_whitespace();
            let id = fields.next().unwrap_or_default();
            let cpu: u32 = parse_field(id, &self.path, "cpu id")?;
            let mut seconds = [0.0; FIELDS];
            let mut count = 0;
            // Older kernels lack the later columns (steal, guest, guest_nice); they read as 0.
            for (slot, field) in seconds.iter_mut().zip(fields) {
                *slot = parse_field::<u64>(field, &self.path, "cpu time")? as f64 / USER_HZ;
                count += 1;
            }
            if count <= IDLE {
                return Err(malformed(&self.path, format!("cpu{cpu} has {count} columns, expected at least 4")));
            }
            let seconds = self.monotonic(cpu, seconds);
            online.push(cpu);
            let label = cpu.to_string();
            for (mode, value) in MODES.iter().zip(seconds) {
                out.push(Sample::new("node_cpu_seconds_total", value).label("cpu", label.clone()).label("mode", *mode));
            }
            // Guest time is also counted in user and nice; node_exporter exposes it separately.
            for (mode, value) in ["user", "nice"].into_iter().zip(&seconds[8..]) {
                out.push(
                    Sample::new("node_cpu_guest_seconds_total", *value).label("cpu", label.clone()).label("mode", mode),
                );
            }
        }
        if online.is_empty() {
            return Err(malformed(&self.path, "no cpuN lines"));
        }
        // Forget CPUs that went offline, so one coming back starts from its new counters.
        if self.last.len() != online.len() {
            self.last.retain(|cpu, _| online.contains(cpu));
        }
        Ok(())
    }
}

/// `node_cpu_package_throttles_total{package}` and `node_cpu_core_throttles_total{package,core}`
/// from the x86 thermal throttle counters of /sys/devices/system/cpu/cpuN. Each package and
/// core is read once, from its first CPU (hyper-threads share the counters). Machines without
/// them (VMs, other architectures) report nothing.
fn push_throttles(cpu_dir: &Path, buf: &mut String, out: &mut Vec<Sample>) {
    let Ok(entries) = std::fs::read_dir(cpu_dir) else { return };
    let mut cpus: Vec<u32> =
        entries.filter_map(|e| e.ok()?.file_name().into_string().ok()?.strip_prefix("cpu")?.parse().ok()).collect();
    cpus.sort_unstable();
    let mut read = |path: &Path| -> Option<u64> {
        read_into(path, buf).ok()?;
        buf.trim().parse().ok()
    };
    let mut packages: BTreeMap<u64, Option<u64>> = BTreeMap::new();
    let mut cores: BTreeMap<(u64, u64), Option<u64>> = BTreeMap::new();
    for cpu in cpus {
        let dir = cpu_dir.join(format!("cpu{cpu}"));
        let throttle = dir.join("thermal_throttle");
        if !throttle.is_dir() {
            continue;
        }
        let (Some(package), Some(core)) =
            (read(&dir.join("topology/physical_package_id")), read(&dir.join("topology/core_id")))
        else {
            continue;
        };
        if let std::collections::btree_map::Entry::Vacant(slot) = cores.entry((package, core)) {
            slot.insert(read(&throttle.join("core_throttle_count")));
        }
        if let std::collections::btree_map::Entry::Vacant(slot) = packages.entry(package) {
            slot.insert(read(&throttle.join("package_throttle_count")));
        }
    }
    for (package, count) in packages {
        if let Some(count) = count {
            out.push(
                Sample::new("node_cpu_package_throttles_total", count as f64).label("package", package.to_string()),
            );
        }
    }
    for ((package, core), count) in cores {
        if let Some(count) = count {
            out.push(
                Sample::new("node_cpu_core_throttles_total", count as f64)
                    .label("package", package.to_string())
                    .label("core", core.to_string()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, value, write};

    const STAT: &str = "cpu  20200 0 4703 1547046 453 0 102 418 0 0
cpu0 9614 0 2169 774205 82 0 37 220 0 0
cpu1 10586 3 2534 772840 371 5 64 198 17 2
intr 304113 0 0 0
ctxt 345725
btime 1795417575
processes 5313
procs_running 2
procs_blocked 0
";

    fn cpu_values(samples: &[Sample], cpu: &str) -> Vec<(String, String, f64)> {
        samples
            .iter()
            .filter(|s| s.labels[0].1 == cpu)
            .map(|s| {
                assert_eq!(s.labels.len(), 2);
                assert_eq!((s.labels[0].0.as_str(), s.labels[1].0.as_str()), ("cpu", "mode"));
                (s.name.clone(), s.labels[1].1.clone(), s.value)
            })
            .collect()
    }

    #[test]
    fn parses_per_cpu_times_in_seconds() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "stat", STAT);
        let samples = collect(&mut CpuCollector::new(&paths));
        assert_eq!(samples.len(), 2 * 10);
        let expected = [
            ("node_cpu_seconds_total", "user", 105.86),
            ("node_cpu_seconds_total", "nice", 0.03),
            ("node_cpu_seconds_total", "system", 25.34),
            ("node_cpu_seconds_total", "idle", 7728.4),
            ("node_cpu_seconds_total", "iowait", 3.71),
            ("node_cpu_seconds_total", "irq", 0.05),
            ("node_cpu_seconds_total", "softirq", 0.64),
            ("node_cpu_seconds_total", "steal", 1.98),
            ("node_cpu_guest_seconds_total", "user", 0.17),
            ("node_cpu_guest_seconds_total", "nice", 0.02),
        ];
        let expected: Vec<_> = expected.iter().map(|(n, m, v)| (n.to_string(), m.to_string(), *v)).collect();
        assert_eq!(cpu_values(&samples, "1"), expected);
        assert_eq!(value(&samples, "node_cpu_seconds_total", &[("cpu", "0"), ("mode", "idle")]), Some(7742.05));
    }

    #[test]
    fn thermal_throttles_per_package_and_core() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "stat", STAT);
        // Two packages; cpu0 and cpu2 are hyper-threads of one core.
        for (cpu, package, core, core_count, package_count) in
            [(0, 0, 0, 5, 9), (1, 0, 1, 0, 9), (2, 0, 0, 5, 9), (3, 1, 0, 2, 4)]
        {
            let dir = format!("devices/system/cpu/cpu{cpu}");
            write(&paths.sys, &format!("{dir}/topology/physical_package_id"), &format!("{package}\n"));
            write(&paths.sys, &format!("{dir}/topology/core_id"), &format!("{core}\n"));
            write(&paths.sys, &format!("{dir}/thermal_throttle/core_throttle_count"), &format!("{core_count}\n"));
            write(&paths.sys, &format!("{dir}/thermal_throttle/package_throttle_count"), &format!("{package_count}\n"));
        }
        write(&paths.sys, "devices/system/cpu/cpu4/topology/core_id", "0\n");
        write(&paths.sys, "devices/system/cpu/cpufreq/x", "");
        let samples = collect(&mut CpuCollector::new(&paths));
        let throttles: Vec<String> = samples
            .iter()
            .filter(|s| s.name.contains("throttles"))
            .map(|s| {
                let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{}{{{}}} {}", s.name, labels.join(","), s.value)
            })
            .collect();
        assert_eq!(
            throttles,
            [
                "node_cpu_package_throttles_total{package=0} 9",
                "node_cpu_package_throttles_total{package=1} 4",
                "node_cpu_core_throttles_total{package=0,core=0} 5",
                "node_cpu_core_throttles_total{package=0,core=1} 0",
                "node_cpu_core_throttles_total{package=1,core=0} 2",
            ]
        );
    }

    #[test]
    fn old_kernel_without_steal_and_guest_reads_zero() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "stat", "cpu 1 2 3 4\ncpu0 1 2 3 4 5 6 7\n");
        let samples = collect(&mut CpuCollector::new(&paths));
        assert_eq!(value(&samples, "node_cpu_seconds_total", &[("mode", "softirq")]), Some(0.07));
        assert_eq!(value(&samples, "node_cpu_seconds_total", &[("mode", "steal")]), Some(0.0));
        assert_eq!(value(&samples, "node_cpu_guest_seconds_total", &[("mode", "nice")]), Some(0.0));
    }

    #[test]
    fn counters_do_not_go_backwards_unless_hotplugged() {
        let (_dir, paths) = fixture();
        let mut collector = CpuCollector::new(&paths);
        write(&paths.proc, "stat", "cpu0 100 0 100 100000 500 0 0 0 0 0\n");
        collect(&mut collector);
        // iowait goes back a little: keep the old value.
        write(&paths.proc, "stat", "cpu0 200 0 200 100100 400 0 0 0 0 0\n");
        let samples = collect(&mut collector);
        assert_eq!(value(&samples, "node_cpu_seconds_total", &[("mode", "iowait")]), Some(5.0));
        assert_eq!(value(&samples, "node_cpu_seconds_total", &[("mode", "user")]), Some(2.0));
        // Idle drops by far more than 3 s: the CPU was re-plugged, so take the new values.
        write(&paths.proc, "stat", "cpu0 1 0 1 50 2 0 0 0 0 0\n");
        let samples = collect(&mut collector);
        assert_eq!(value(&samples, "node_cpu_seconds_total", &[("mode", "idle")]), Some(0.5));
        assert_eq!(value(&samples, "node_cpu_seconds_total", &[("mode", "iowait")]), Some(0.02));
    }

    #[test]
    fn offline_cpus_are_forgotten() {
        let (_dir, paths) = fixture();
        let mut collector = CpuCollector::new(&paths);
        write(&paths.proc, "stat", "cpu0 1 0 1 500 0 0 0 0 0 0\ncpu1 1 0 1 500 0 0 0 0 0 0\n");
        collect(&mut collector);
        write(&paths.proc, "stat", "cpu0 1 0 1 501 0 0 0 0 0 0\n");
        assert_eq!(collect(&mut collector).len(), 10);
        assert_eq!(collector.last.len(), 1);
    }

    #[test]
    fn malformed_stat_is_a_parse_error() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "stat", "cpu0 1 x 3 4\n");
        let err = CpuCollector::new(&paths).collect(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().ends_with("stat: cpu time: \"x\""), "{err}");
        write(&paths.proc, "stat", "intr 1\n");
        let err = CpuCollector::new(&paths).collect(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().ends_with("stat: no cpuN lines"), "{err}");
    }

    #[test]
    fn real_proc_has_one_idle_series_per_cpu() {
        let stat = std::fs::read_to_string("/proc/stat").unwrap();
        let cpus = stat.lines().filter(|l| l.starts_with("cpu") && !l.starts_with("cpu ")).count();
        let samples = collect(&mut CpuCollector::new(&SystemPaths::default()));
        let idle: Vec<_> =
            samples.iter().filter(|s| s.name == "node_cpu_seconds_total" && s.labels[1].1 == "idle").collect();
        assert_eq!(idle.len(), cpus);
        assert!(idle.iter().all(|s| s.value > 0.0));
    }
}
