//! Collectors: each reads one part of /proc or /sys and turns it into [`Sample`]s named as
//! node_exporter names them.

mod cpu;
mod diskstats;
mod filesystem;
mod filter;
mod loadavg;
mod meminfo;
mod netdev;
mod stat;
mod statvfs;
mod uptime;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::sample::Sample;

pub(crate) use cpu::CpuCollector;
pub(crate) use diskstats::DiskstatsCollector;
pub(crate) use filesystem::FilesystemCollector;
pub(crate) use loadavg::LoadavgCollector;
pub(crate) use meminfo::{MeminfoCollector, mem_total_bytes};
pub(crate) use netdev::NetdevCollector;
pub(crate) use stat::{StatCollector, boot_time_secs};
pub(crate) use uptime::UptimeCollector;

/// Where the kernel's pseudo-filesystems are mounted; tests point these at fixture trees.
#[derive(Debug, Clone)]
pub struct SystemPaths {
    /// procfs root, normally `/proc`.
    pub proc: PathBuf,
    /// sysfs root, normally `/sys`.
    pub sys: PathBuf,
}

impl Default for SystemPaths {
    fn default() -> Self {
        Self { proc: PathBuf::from("/proc"), sys: PathBuf::from("/sys") }
    }
}

impl SystemPaths {
    /// `/proc/<rel>`.
    pub fn proc(&self, rel: &str) -> PathBuf {
        self.proc.join(rel)
    }
    /// `/sys/<rel>`.
    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sys.join(rel)
    }
}

/// One source of samples.
pub trait Collector: Send {
    /// Short name used in logs and self-metrics, e.g. `"cpu"`.
    fn name(&self) -> &'static str;
    /// Appends this collector's current samples to `out`.
    ///
    /// # Errors
    /// The source could not be read or parsed; other collectors still run.
    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()>;
}

/// Every collector the agent runs by default, reading from `paths`, with node_exporter's
/// default device and mount filters: cpu, stat, meminfo, loadavg, netdev, diskstats, uptime
/// and filesystem.
pub fn default_collectors(paths: &SystemPaths) -> Vec<Box<dyn Collector>> {
    vec![
        Box::new(CpuCollector::new(paths)),
        Box::new(StatCollector::new(paths)),
        Box::new(MeminfoCollector::new(paths)),
        Box::new(LoadavgCollector::new(paths)),
        Box::new(NetdevCollector::new(paths)),
        Box::new(DiskstatsCollector::new(paths)),
        Box::new(UptimeCollector::new(paths)),
        Box::new(FilesystemCollector::new(paths)),
    ]
}

/// Runs every collector once, appending their samples to `out`, and returns the collectors
/// that failed with their errors.
///
/// One collector failing does not stop the others. A failed collector contributes no samples
/// at all: whatever it appended before failing is removed, so a series is never half-updated.
///
/// This blocks: it reads files and, for the filesystem collector, waits on `statvfs` (at most
/// 5 s per unresponsive mount, and only once: the mount is then skipped and reported with
/// `node_filesystem_device_error 1` until it answers). Async callers run it on a blocking
/// thread.
pub fn collect_all(collectors: &mut [Box<dyn Collector>], out: &mut Vec<Sample>) -> Vec<(&'static str, Error)> {
    let mut failures = Vec::new();
    for collector in collectors.iter_mut() {
        let before = out.len();
        if let Err(error) = collector.collect(out) {
            out.truncate(before);
            failures.push((collector.name(), error));
        }
    }
    failures
}

/// Reads a whole pseudo-file into a string.
pub(crate) fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::ReadSource { path: path.to_path_buf(), source })
}

/// Reads a whole pseudo-file into `buf`, replacing its contents and reusing its allocation.
pub(crate) fn read_into(path: &Path, buf: &mut String) -> Result<()> {
    buf.clear();
    std::fs::File::open(path)
        .and_then(|mut file| file.read_to_string(buf))
        .map(drop)
        .map_err(|source| Error::ReadSource { path: path.to_path_buf(), source })
}

/// Parses one field of a pseudo-file, naming the file and the field when it is malformed.
pub(crate) fn parse_field<T: FromStr>(value: &str, path: &Path, field: &str) -> Result<T> {
    value.parse().map_err(|_| Error::ParseSource { path: path.to_path_buf(), reason: format!("{field}: {value:?}") })
}

/// A format error in `path`.
pub(crate) fn malformed(path: &Path, reason: impl Into<String>) -> Error {
    Error::ParseSource { path: path.to_path_buf(), reason: reason.into() }
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Fixture helpers shared by the collectors' tests.

    use std::path::Path;

    use super::{Collector, SystemPaths};
    use crate::sample::Sample;

    /// A temp dir with `proc/` and `sys/` subdirectories, and [`SystemPaths`] pointing at them.
    pub(crate) fn fixture() -> (tempfile::TempDir, SystemPaths) {
        let dir = tempfile::tempdir().unwrap();
        let paths = SystemPaths { proc: dir.path().join("proc"), sys: dir.path().join("sys") };
        std::fs::create_dir_all(&paths.proc).unwrap();
        std::fs::create_dir_all(&paths.sys).unwrap();
        (dir, paths)
    }

    /// Writes `contents` to `root/rel`, creating parent directories.
    pub(crate) fn write(root: &Path, rel: &str, contents: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    /// Runs `collector` once and returns its samples.
    pub(crate) fn collect(collector: &mut dyn Collector) -> Vec<Sample> {
        let mut out = Vec::new();
        collector.collect(&mut out).unwrap();
        out
    }

    /// The value of the sample named `name` whose labels include all of `labels`.
    pub(crate) fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        samples
            .iter()
            .find(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v)))
            .map(|s| s.value)
    }

    /// `(name, value)` pairs of label-less samples, for compact assertions.
    pub(crate) fn plain(samples: &[Sample]) -> Vec<(&str, f64)> {
        samples.iter().map(|s| (s.name.as_str(), s.value)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failing;
    impl Collector for Failing {
        fn name(&self) -> &'static str {
            "failing"
        }
        fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
            out.push(Sample::new("half_written", 1.0));
            Err(malformed(Path::new("/proc/nothing"), "broken on purpose"))
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

    #[test]
    fn collect_all_reports_failures_and_keeps_going() {
        let mut collectors: Vec<Box<dyn Collector>> = vec![Box::new(Failing), Box::new(Constant)];
        let mut out = Vec::new();
        let failures = collect_all(&mut collectors, &mut out);
        assert_eq!(out, [Sample::new("constant", 2.0)]);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].0, "failing");
        assert_eq!(failures[0].1.to_string(), "cannot parse /proc/nothing: broken on purpose");
    }

    #[test]
    fn missing_source_is_a_read_error() {
        let (_dir, paths) = test_util::fixture();
        let mut collectors = default_collectors(&paths);
        let mut out = Vec::new();
        let failures = collect_all(&mut collectors, &mut out);
        let mut failed: Vec<&str> = failures.iter().map(|(name, _)| *name).collect();
        failed.sort_unstable();
        assert_eq!(failed, ["cpu", "diskstats", "filesystem", "loadavg", "meminfo", "netdev", "stat", "uptime"]);
        assert!(failures.iter().all(|(_, e)| matches!(e, Error::ReadSource { .. })));
        // The uptime collector fails as a whole: node_time_seconds is not sent without uptime.
        assert!(out.is_empty());
    }

    #[test]
    fn real_proc_all_collectors_succeed_repeatedly() {
        // Speed is measured by benches, not here; this checks that rounds keep succeeding
        // (state carried between rounds, the statvfs worker thread).
        let mut collectors = default_collectors(&SystemPaths::default());
        let mut out = Vec::new();
        for _ in 0..5 {
            out.clear();
            let failures = collect_all(&mut collectors, &mut out);
            assert!(failures.is_empty(), "{failures:?}");
        }
        assert!(out.len() > 50, "only {} samples", out.len());
    }
}
