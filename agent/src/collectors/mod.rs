//! Collectors: each reads one part of /proc or /sys and turns it into [`Sample`]s named as
//! node_exporter names them. [`CollectorSet`] runs the enabled ones, times them and counts
//! their errors.

mod arp;
pub(crate) mod config;
mod conntrack;
mod cpu;
mod diskstats;
mod edac;
mod entropy;
mod filefd;
mod filesystem;
mod filter;
mod hwmon;
mod loadavg;
mod meminfo;
mod netclass;
mod netdev;
mod netstat;
mod os;
mod pressure;
mod selinux;
mod set;
mod sockstat;
mod softnet;
mod stat;
mod statvfs;
mod thermal_zone;
mod time;
mod timex;
mod udp_queues;
mod uname;
pub(crate) mod users;
mod vmstat;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::event::AgentEvent;
use crate::sample::Sample;

pub use config::{COLLECTOR_NAMES, CollectorSettings, CollectorsSection};
pub(crate) use meminfo::mem_total_bytes;
pub(crate) use set::error_chain;
pub use set::{CollectorFailure, CollectorSet};
pub(crate) use stat::boot_time_secs;
pub use users::{ProcessesSection, UserOverride, UsersSection, UsersSettings};

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
    /// Moves the events produced since the last call to `out`. Most collectors have none.
    fn take_events(&mut self, _out: &mut Vec<AgentEvent>) {}
}

/// Builds the collector called `name` (one of [`COLLECTOR_NAMES`]).
fn build(name: &str, paths: &SystemPaths, settings: &CollectorSettings) -> Box<dyn Collector> {
    match name {
        "arp" => Box::new(arp::ArpCollector::new(paths, settings.arp_devices.clone())),
        "conntrack" => Box::new(conntrack::ConntrackCollector::new(paths)),
        "cpu" => Box::new(cpu::CpuCollector::new(paths)),
        "diskstats" => Box::new(diskstats::DiskstatsCollector::new(
            paths,
            settings.disks.clone(),
            settings.rootfs.join("run/udev/data"),
        )),
        "edac" => Box::new(edac::EdacCollector::new(paths)),
        "entropy" => Box::new(entropy::EntropyCollector::new(paths)),
        "filefd" => Box::new(filefd::FilefdCollector::new(paths)),
        "filesystem" => Box::new(filesystem::FilesystemCollector::new(
            paths,
            settings.mount_points.clone(),
            settings.fs_types.clone(),
            settings.mount_timeout,
        )),
        "hwmon" => Box::new(hwmon::HwmonCollector::new(paths)),
        "loadavg" => Box::new(loadavg::LoadavgCollector::new(paths)),
        "meminfo" => Box::new(meminfo::MeminfoCollector::new(paths)),
        "netclass" => Box::new(netclass::NetclassCollector::new(paths, settings.netclass_devices.clone())),
        "netdev" => Box::new(netdev::NetdevCollector::new(paths, settings.netdev_devices.clone())),
        "netstat" => Box::new(netstat::NetstatCollector::new(paths, settings.netstat_fields.clone())),
        "os" => Box::new(os::OsCollector::new(&settings.rootfs)),
        "pressure" => Box::new(pressure::PressureCollector::new(paths)),
        "selinux" => Box::new(selinux::SelinuxCollector::new(paths, &settings.rootfs)),
        "sockstat" => Box::new(sockstat::SockstatCollector::new(paths)),
        "softnet" => Box::new(softnet::SoftnetCollector::new(paths)),
        "stat" => Box::new(stat::StatCollector::new(paths)),
        "thermal_zone" => Box::new(thermal_zone::ThermalZoneCollector::new(paths)),
        "time" => Box::new(time::TimeCollector::new(paths)),
        "timex" => Box::new(timex::TimexCollector::new()),
        "udp_queues" => Box::new(udp_queues::UdpQueuesCollector::new(paths)),
        "uname" => Box::new(uname::UnameCollector),
        "users" => Box::new(users::UsersCollector::new(
            paths,
            &settings.rootfs.join("etc/passwd"),
            settings.users.clone(),
            users::system_clock(),
        )),
        "vmstat" => Box::new(vmstat::VmstatCollector::new(paths, settings.vmstat_fields.clone())),
        other => unreachable!("{other} is not in COLLECTOR_NAMES; settings only hold names from it"),
    }
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

/// Like [`read_into`], but a missing file gives `Ok(false)`: the kernel lacks the feature
/// (no PSI, conntrack not loaded, no IPv6), which is not an error.
pub(crate) fn read_if_exists(path: &Path, buf: &mut String) -> Result<bool> {
    match read_into(path, buf) {
        Ok(()) => Ok(true),
        Err(Error::ReadSource { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
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

    #[test]
    fn every_name_builds_its_collector() {
        let settings = CollectorSettings::default();
        for name in COLLECTOR_NAMES {
            assert_eq!(build(name, &SystemPaths::default(), &settings).name(), name);
        }
    }

    #[test]
    fn read_if_exists_tells_missing_from_broken() {
        let dir = tempfile::tempdir().unwrap();
        let mut buf = String::new();
        assert!(!read_if_exists(&dir.path().join("nothing"), &mut buf).unwrap());
        // Reading a directory fails with something other than NotFound.
        assert!(read_if_exists(dir.path(), &mut buf).is_err());
    }
}
