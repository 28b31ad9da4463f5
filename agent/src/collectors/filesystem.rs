//! Space and inode figures of mounted filesystems, from the mount table and `statvfs`, as
//! node_exporter's `filesystem` collector.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::time::Duration;

use super::filter::Filter;
use super::statvfs::{StatOutcome, StatRunner};
use super::{Collector, SystemPaths, malformed, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// Emits, per mounted filesystem that passes the filters, `node_filesystem_device_error` and
/// `node_filesystem_readonly`, and when `statvfs` answered, `node_filesystem_size_bytes`,
/// `_free_bytes`, `_avail_bytes`, `_files` and `_files_free`, labelled `device`, `fstype`,
/// `mountpoint`.
///
/// The mount table is PID 1's (/proc/1/mounts), as node_exporter reads it, so a sysmon running
/// in its own mount namespace (systemd's `ProtectSystem=`, a container) still reports the
/// host's mounts; /proc/self/mounts is the fallback when PID 1 is hidden (`hidepid=`).
pub(crate) struct FilesystemCollector {
    mounts: PathBuf,
    fallback_mounts: PathBuf,
    buf: String,
    mount_points: Filter,
    fs_types: Filter,
    stat: StatRunner,
}

impl FilesystemCollector {
    /// Reports the mounts both filters allow, giving each `statvfs` at most `mount_timeout`.
    /// The `statvfs` thread starts on the first collection.
    pub(crate) fn new(paths: &SystemPaths, mount_points: Filter, fs_types: Filter, mount_timeout: Duration) -> Self {
        Self::with_runner(paths, mount_points, fs_types, StatRunner::new(mount_timeout))
    }

    fn with_runner(paths: &SystemPaths, mount_points: Filter, fs_types: Filter, stat: StatRunner) -> Self {
        Self {
            mounts: paths.proc("1/mounts"),
            fallback_mounts: paths.proc("self/mounts"),
            buf: String::new(),
            mount_points,
            fs_types,
            stat,
        }
    }
}

/// One line of the mount table that passed the filters.
struct Mount<'a> {
    device: &'a str,
    fstype: &'a str,
    /// The mount point with octal escapes undone, for the label.
    mountpoint: String,
    readonly: bool,
}

impl Collector for FilesystemCollector {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        let mut path = &self.mounts;
        if read_into(path, &mut self.buf).is_err() {
            path = &self.fallback_mounts;
            read_into(path, &mut self.buf)?;
        }
        let mut mounts = Vec::new();
        let mut targets = Vec::new();
        let mut seen = HashSet::new();
        for line in self.buf.lines() {
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            let [device, mountpoint, fstype, options, ..] = fields[..] else {
                return Err(malformed(path, format!("fewer than 4 fields in {line:?}")));
            };
            let target = unescape_octal(mountpoint);
            let mountpoint = String::from_utf8_lossy(&target).into_owned();
            if !self.mount_points.allows(&mountpoint) || !self.fs_types.allows(fstype) {
                continue;
            }
            // A mount point mounted over twice is listed twice; the series must be unique.
            if !seen.insert((device, mountpoint.clone(), fstype)) {
                continue;
            }
            let readonly = options.split(',').any(|o| o == "ro");
            // Mount points need not be UTF-8; statvfs gets the exact bytes.
            targets.push(PathBuf::from(OsString::from_vec(target.into_owned())));
            mounts.push(Mount { device, fstype, mountpoint, readonly });
        }

        let outcomes = self.stat.stat_all(&targets)?;
        for (mount, outcome) in mounts.iter().zip(outcomes) {
            let sample = |name: &str, value: f64| {
                Sample::new(name, value)
                    .label("device", mount.device)
                    .label("fstype", mount.fstype)
                    .label("mountpoint", mount.mountpoint.as_str())
            };
            let stats = match outcome {
                StatOutcome::Done(stats) => Some(stats),
                StatOutcome::Failed(error) => {
                    tracing::debug!(mountpoint = %mount.mountpoint, %error, "statvfs failed");
                    None
                }
                StatOutcome::TimedOut | StatOutcome::Stuck => None,
            };
            out.push(sample("node_filesystem_device_error", if stats.is_some() { 0.0 } else { 1.0 }));
            out.push(sample("node_filesystem_readonly", if mount.readonly { 1.0 } else { 0.0 }));
            if let Some(stats) = stats {
                out.push(sample("node_filesystem_size_bytes", stats.size_bytes));
                out.push(sample("node_filesystem_free_bytes", stats.free_bytes));
                out.push(sample("node_filesystem_avail_bytes", stats.avail_bytes));
                out.push(sample("node_filesystem_files", stats.files));
                out.push(sample("node_filesystem_files_free", stats.files_free));
            }
        }
        Ok(())
    }
}

/// Undoes the kernel's `\ooo` escapes in a mount table field (`\040` space, `\011` tab, `\012`
/// newline, `\134` backslash). node_exporter 1.5 undoes only `\040` and `\011`; the others are
/// needed for `statvfs` to find such mount points at all.
fn unescape_octal(field: &str) -> Cow<'_, [u8]> {
    let bytes = field.as_bytes();
    if !bytes.contains(&b'\\') {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let [b'\\', a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7', ..] = bytes[i..] {
            out.push((a - b'0') << 6 | (b - b'0') << 3 | (c - b'0'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::collectors::config::{DEFAULT_FS_TYPES_EXCLUDE, DEFAULT_MOUNT_POINTS_EXCLUDE};
    use crate::collectors::statvfs::FsStats;

    fn mount_points() -> Filter {
        Filter::new(None, Some(DEFAULT_MOUNT_POINTS_EXCLUDE)).unwrap()
    }

    fn fs_types() -> Filter {
        Filter::new(None, Some(DEFAULT_FS_TYPES_EXCLUDE)).unwrap()
    }

    fn with_fake(paths: &SystemPaths) -> FilesystemCollector {
        FilesystemCollector::with_runner(paths, mount_points(), fs_types(), fake_runner())
    }
    use crate::collectors::test_util::{collect, fixture, value, write};

    const MOUNTS: &str = "proc /proc proc rw,relatime 0 0
sysfs /sys sysfs rw,relatime 0 0
devtmpfs /dev devtmpfs rw,relatime,size=12334432k,mode=755 0 0
tmpfs /dev/shm tmpfs rw,relatime 0 0
/dev/vda1 / ext4 rw,relatime,discard 0 0
/dev/vda15 /boot/efi vfat ro,relatime,fmask=0077 0 0
tmpfs /run tmpfs rw,nosuid,nodev,size=2468368k,mode=755 0 0
tmpfs /run/credentials/systemd-sysctl.service tmpfs ro,nosuid 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0
overlay /var/lib/docker/overlay2/abc/merged overlay rw,relatime 0 0
/dev/loop0 /snap/core/1 squashfs ro,nodev 0 0
server:/export /mnt/my\\040share nfs4 rw,relatime 0 0
/dev/vda1 / ext4 rw,relatime,discard 0 0
";

    /// Fixed figures per mount point, and ENOENT for /boot/efi.
    fn fake_runner() -> StatRunner {
        StatRunner::with_stat(
            Arc::new(|path: &Path| {
                if path == Path::new("/boot/efi") {
                    return Err(io::Error::from(io::ErrorKind::NotFound));
                }
                let base = path.as_os_str().len() as f64;
                Ok(FsStats {
                    size_bytes: base * 4096.0,
                    free_bytes: base * 2048.0,
                    avail_bytes: base * 1024.0,
                    files: base * 10.0,
                    files_free: base * 5.0,
                })
            }),
            Duration::from_secs(5),
        )
    }

    fn labels(device: &str, fstype: &str, mountpoint: &str) -> Vec<(String, String)> {
        [("device", device), ("fstype", fstype), ("mountpoint", mountpoint)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reports_real_filesystems_with_node_exporter_labels() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "1/mounts", MOUNTS);
        let samples = collect(&mut with_fake(&paths));
        let mut series: Vec<_> = samples.iter().map(|s| s.labels[2].1.as_str()).collect();
        series.dedup();
        assert_eq!(series, ["/", "/boot/efi", "/run", "/mnt/my share"]);

        let root: Vec<(&str, f64)> = samples
            .iter()
            .filter(|s| s.labels == labels("/dev/vda1", "ext4", "/"))
            .map(|s| (s.name.as_str(), s.value))
            .collect();
        assert_eq!(
            root,
            [
                ("node_filesystem_device_error", 0.0),
                ("node_filesystem_readonly", 0.0),
                ("node_filesystem_size_bytes", 4096.0),
                ("node_filesystem_free_bytes", 2048.0),
                ("node_filesystem_avail_bytes", 1024.0),
                ("node_filesystem_files", 10.0),
                ("node_filesystem_files_free", 5.0),
            ]
        );
        let share = [("mountpoint", "/mnt/my share"), ("device", "server:/export"), ("fstype", "nfs4")];
        assert_eq!(value(&samples, "node_filesystem_size_bytes", &share), Some(13.0 * 4096.0));
    }

    #[test]
    fn failed_statvfs_reports_device_error_and_readonly_only() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "1/mounts", MOUNTS);
        let samples = collect(&mut with_fake(&paths));
        let efi: Vec<(&str, f64)> = samples
            .iter()
            .filter(|s| s.labels == labels("/dev/vda15", "vfat", "/boot/efi"))
            .map(|s| (s.name.as_str(), s.value))
            .collect();
        assert_eq!(efi, [("node_filesystem_device_error", 1.0), ("node_filesystem_readonly", 1.0)]);
    }

    #[test]
    fn falls_back_to_self_mounts() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "self/mounts", "/dev/sda1 / xfs rw 0 0\n");
        let samples = collect(&mut with_fake(&paths));
        assert_eq!(value(&samples, "node_filesystem_files", &[("device", "/dev/sda1"), ("fstype", "xfs")]), Some(10.0));
    }

    #[test]
    fn short_mount_line_is_an_error() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "1/mounts", "/dev/sda1 / xfs\n");
        let err = with_fake(&paths).collect(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().ends_with("1/mounts: fewer than 4 fields in \"/dev/sda1 / xfs\""), "{err}");
    }

    #[test]
    fn unescapes_octal_sequences() {
        assert_eq!(&*unescape_octal("/plain"), b"/plain");
        assert_eq!(&*unescape_octal(r"/a\040b\011c\012d\134e"), b"/a b\tc\nd\\e");
        assert_eq!(&*unescape_octal(r"/not\48\0"), br"/not\48\0");
    }

    #[test]
    fn default_excludes_match_node_exporter() {
        let points = mount_points();
        for kept in ["/", "/home", "/run", "/run/user/1000", "/var/lib/docker", "/devices", "/system"] {
            assert!(points.allows(kept), "{kept}");
        }
        for dropped in
            ["/dev", "/dev/shm", "/proc", "/sys/fs/cgroup", "/run/credentials/x.service", "/var/lib/docker/a"]
        {
            assert!(!points.allows(dropped), "{dropped}");
        }
        let types = fs_types();
        for kept in ["ext4", "xfs", "btrfs", "tmpfs", "nfs4", "vfat", "zfs", "fuse.sshfs"] {
            assert!(types.allows(kept), "{kept}");
        }
        for dropped in ["cgroup", "cgroup2", "overlay", "squashfs", "proc", "sysfs", "tracefs", "autofs"] {
            assert!(!types.allows(dropped), "{dropped}");
        }
    }

    #[test]
    fn real_mounts_are_filtered_and_answered() {
        let samples = collect(&mut FilesystemCollector::new(
            &SystemPaths::default(),
            mount_points(),
            fs_types(),
            Duration::from_secs(5),
        ));
        let types = fs_types();
        for s in &samples {
            assert_eq!(
                s.labels.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
                ["device", "fstype", "mountpoint"]
            );
            assert!(types.allows(&s.labels[1].1) && !s.labels[2].1.starts_with("/proc"), "{s:?}");
        }
        // Where statvfs answered, the figures are consistent.
        for size in samples.iter().filter(|s| s.name == "node_filesystem_size_bytes") {
            let avail = samples.iter().find(|s| s.name == "node_filesystem_avail_bytes" && s.labels == size.labels);
            assert!(avail.is_some_and(|a| a.value <= size.value), "{size:?}");
        }
    }
}
