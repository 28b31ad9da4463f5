//! The `[collectors]` section of agent.toml: which collectors run and what they report.
//!
//! Keys follow node_exporter's flags so that a node_exporter command line translates one to
//! one: `--no-collector.hwmon` is `hwmon = false`, and `--collector.diskstats.device-exclude=RE`
//! is `diskstats_device_exclude = "RE"`. The section is flat (no sub-tables) so that every key
//! can be overridden as `SYSMON_COLLECTORS_<KEY>`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sysmon_config::ConfigError;

use super::filter::Filter;
use super::users::UsersSettings;

/// node_exporter 1.5's default `--collector.filesystem.mount-points-exclude`. (Debian's package
/// changes it to also hide `/run`, `/mnt` and `/media`; sysmon keeps upstream's.)
pub(crate) const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";

/// node_exporter 1.5's default `--collector.filesystem.fs-types-exclude`: pseudo and
/// read-only image filesystems.
pub(crate) const DEFAULT_FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";

/// node_exporter 1.5's default `--collector.diskstats.device-exclude`: RAM disks, loop devices,
/// floppies and partitions of sd/vd/hd/xvd and NVMe disks.
pub(crate) const DEFAULT_DISKSTATS_DEVICE_EXCLUDE: &str = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

/// node_exporter 1.5's default `--collector.netstat.fields`.
pub(crate) const DEFAULT_NETSTAT_FIELDS: &str = "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

/// node_exporter 1.5's default `--collector.vmstat.fields`.
pub(crate) const DEFAULT_VMSTAT_FIELDS: &str = "^(oom_kill|pgpg|pswp|pg.*fault).*";

/// node_exporter 1.5's default `--collector.filesystem.mount-timeout`.
const DEFAULT_MOUNT_TIMEOUT: &str = "5s";

/// Every collector, by node_exporter's name, in the order they run.
pub const COLLECTOR_NAMES: [&str; 27] = [
    "arp",
    "conntrack",
    "cpu",
    "diskstats",
    "edac",
    "entropy",
    "filefd",
    "filesystem",
    "hwmon",
    "loadavg",
    "meminfo",
    "netclass",
    "netdev",
    "netstat",
    "os",
    "pressure",
    "selinux",
    "sockstat",
    "softnet",
    "stat",
    "thermal_zone",
    "time",
    "timex",
    "udp_queues",
    "uname",
    "users",
    "vmstat",
];

const fn enabled() -> bool {
    true
}
fn default_rootfs() -> PathBuf {
    PathBuf::from("/")
}
fn default_mount_points_exclude() -> String {
    DEFAULT_MOUNT_POINTS_EXCLUDE.into()
}
fn default_fs_types_exclude() -> String {
    DEFAULT_FS_TYPES_EXCLUDE.into()
}
fn default_diskstats_device_exclude() -> String {
    DEFAULT_DISKSTATS_DEVICE_EXCLUDE.into()
}
fn default_netstat_fields() -> String {
    DEFAULT_NETSTAT_FIELDS.into()
}
fn default_vmstat_fields() -> String {
    DEFAULT_VMSTAT_FIELDS.into()
}
fn default_mount_timeout() -> String {
    DEFAULT_MOUNT_TIMEOUT.into()
}

/// `[collectors]` as written. Every key is documented, with its default, in deploy/agent.toml.
///
/// A pattern is a regular expression matched anywhere in the name (anchor it with `^...$`);
/// an empty string means no pattern. A name is reported when it matches the `_include`
/// pattern (if set) and does not match the `_exclude` pattern (if set).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields)]
pub struct CollectorsSection {
    /// Where the host's root filesystem is mounted; /etc/os-release and udev's /run/udev/data
    /// are read under it. Default "/".
    #[serde(default = "default_rootfs")]
    pub rootfs: PathBuf,

    /// ARP table entries per device (`node_arp_entries`). Default true.
    #[serde(default = "enabled")]
    pub arp: bool,
    /// Connection tracking table (`node_nf_conntrack_*`). Default true.
    #[serde(default = "enabled")]
    pub conntrack: bool,
    /// CPU time per CPU and mode (`node_cpu_seconds_total`). Default true.
    #[serde(default = "enabled")]
    pub cpu: bool,
    /// Disk I/O (`node_disk_*`). Default true.
    #[serde(default = "enabled")]
    pub diskstats: bool,
    /// Memory controller error counts, ECC RAM (`node_edac_*`). Default true.
    #[serde(default = "enabled")]
    pub edac: bool,
    /// Kernel entropy pool (`node_entropy_*`). Default true.
    #[serde(default = "enabled")]
    pub entropy: bool,
    /// Open file handles (`node_filefd_*`). Default true.
    #[serde(default = "enabled")]
    pub filefd: bool,
    /// Filesystem space, inodes and state (`node_filesystem_*`). Default true.
    #[serde(default = "enabled")]
    pub filesystem: bool,
    /// Hardware sensors: temperatures, fans, voltages (`node_hwmon_*`). Default true.
    #[serde(default = "enabled")]
    pub hwmon: bool,
    /// Load averages (`node_load1`, `5`, `15`). Default true.
    #[serde(default = "enabled")]
    pub loadavg: bool,
    /// Memory and swap (`node_memory_*`). Default true.
    #[serde(default = "enabled")]
    pub meminfo: bool,
    /// Network interface state: up, carrier, speed, MTU (`node_network_*` from sysfs). Default true.
    #[serde(default = "enabled")]
    pub netclass: bool,
    /// Network interface traffic (`node_network_{receive,transmit}_*`). Default true.
    #[serde(default = "enabled")]
    pub netdev: bool,
    /// Protocol counters from /proc/net/{netstat,snmp,snmp6} (`node_netstat_*`). Default true.
    #[serde(default = "enabled")]
    pub netstat: bool,
    /// Operating system release (`node_os_info`, `node_os_version`). Default true.
    #[serde(default = "enabled")]
    pub os: bool,
    /// Pressure stall information (`node_pressure_*`). Default true.
    #[serde(default = "enabled")]
    pub pressure: bool,
    /// SELinux state (`node_selinux_*`). Default true.
    #[serde(default = "enabled")]
    pub selinux: bool,
    /// Sockets in use per protocol (`node_sockstat_*`). Default true.
    #[serde(default = "enabled")]
    pub sockstat: bool,
    /// Per-CPU packet processing (`node_softnet_*`). Default true.
    #[serde(default = "enabled")]
    pub softnet: bool,
    /// Kernel counters: boot time, context switches, forks, interrupts, runnable and blocked
    /// processes. Default true.
    #[serde(default = "enabled")]
    pub stat: bool,
    /// Thermal zones and cooling devices (`node_thermal_zone_temp`, `node_cooling_device_*`).
    /// Default true.
    #[serde(default = "enabled")]
    pub thermal_zone: bool,
    /// Wall clock, time zone and clock source (`node_time_*`). Default true.
    #[serde(default = "enabled")]
    pub time: bool,
    /// Kernel clock discipline, as NTP sees it (`node_timex_*`). Default true.
    #[serde(default = "enabled")]
    pub timex: bool,
    /// UDP socket queues (`node_udp_queues`). Default true.
    #[serde(default = "enabled")]
    pub udp_queues: bool,
    /// Kernel name and version (`node_uname_info`). Default true.
    #[serde(default = "enabled")]
    pub uname: bool,
    /// Per-user CPU, memory and processes, the top processes and heavy-user detection
    /// (`sysmon_user_*`, `sysmon_process_*`; `[users]` and `[processes]` configure it). Default true.
    #[serde(default = "enabled")]
    pub users: bool,
    /// Paging, swapping and OOM kills from /proc/vmstat (`node_vmstat_*`). Default true.
    #[serde(default = "enabled")]
    pub vmstat: bool,

    /// ARP devices to report. Default "" (all).
    #[serde(default)]
    pub arp_device_include: String,
    /// ARP devices not to report. Default "" (none).
    #[serde(default)]
    pub arp_device_exclude: String,
    /// Disks to report. Default "" (all).
    #[serde(default)]
    pub diskstats_device_include: String,
    /// Disks not to report. Default: node_exporter's (RAM disks, loop devices, partitions).
    #[serde(default = "default_diskstats_device_exclude")]
    pub diskstats_device_exclude: String,
    /// Mount points to report. Default "" (all).
    #[serde(default)]
    pub filesystem_mount_points_include: String,
    /// Mount points not to report. Default: node_exporter's (/dev, /proc, /sys, container
    /// storage).
    #[serde(default = "default_mount_points_exclude")]
    pub filesystem_mount_points_exclude: String,
    /// Filesystem types to report. Default "" (all).
    #[serde(default)]
    pub filesystem_fs_types_include: String,
    /// Filesystem types not to report. Default: node_exporter's (pseudo filesystems).
    #[serde(default = "default_fs_types_exclude")]
    pub filesystem_fs_types_exclude: String,
    /// How long `statvfs` on one mount may take before the mount is reported with
    /// `node_filesystem_device_error 1` and skipped until it answers, 100ms to 1m. Default "5s".
    #[serde(default = "default_mount_timeout")]
    pub filesystem_mount_timeout: String,
    /// Network devices the netclass collector reports. Default "" (all).
    #[serde(default)]
    pub netclass_device_include: String,
    /// Network devices the netclass collector does not report. Default "" (none).
    #[serde(default)]
    pub netclass_device_exclude: String,
    /// Network devices the netdev collector reports. Default "" (all).
    #[serde(default)]
    pub netdev_device_include: String,
    /// Network devices the netdev collector does not report. Default "" (none; Debian's
    /// node_exporter package excludes "^lo$").
    #[serde(default)]
    pub netdev_device_exclude: String,
    /// `Protocol_Field` names of /proc/net/{netstat,snmp,snmp6} to report. Default: node_exporter's.
    #[serde(default = "default_netstat_fields")]
    pub netstat_fields: String,
    /// /proc/vmstat fields to report. Default: node_exporter's (page faults, paging, swapping,
    /// OOM kills).
    #[serde(default = "default_vmstat_fields")]
    pub vmstat_fields: String,
}

impl Default for CollectorsSection {
    fn default() -> Self {
        // The serde defaults are the single source of truth: an empty table gets them all.
        let empty =
            serde::de::value::MapDeserializer::<_, serde::de::value::Error>::new(std::iter::empty::<(&str, &str)>());
        Self::deserialize(empty).expect("every [collectors] key has a default")
    }
}

/// The checked `[collectors]` section: which collectors run, with compiled filters.
#[derive(Debug, Clone)]
pub struct CollectorSettings {
    pub(crate) enabled: Vec<&'static str>,
    pub(crate) rootfs: PathBuf,
    pub(crate) arp_devices: Filter,
    pub(crate) disks: Filter,
    pub(crate) mount_points: Filter,
    pub(crate) fs_types: Filter,
    pub(crate) mount_timeout: Duration,
    pub(crate) netclass_devices: Filter,
    pub(crate) netdev_devices: Filter,
    pub(crate) netstat_fields: Filter,
    pub(crate) vmstat_fields: Filter,
    /// `[users]` and `[processes]`, set by the agent's config once it has checked them; the
    /// defaults, without a state file, until then.
    pub(crate) users: UsersSettings,
}

impl Default for CollectorSettings {
    fn default() -> Self {
        CollectorsSection::default().validate().expect("the default [collectors] section is valid; a test checks it")
    }
}

impl CollectorSettings {
    /// The names of the collectors that run, in order.
    pub fn enabled(&self) -> &[&'static str] {
        &self.enabled
    }

    /// These settings with the checked `[users]` and `[processes]` sections.
    pub fn with_users(mut self, users: UsersSettings) -> Self {
        self.users = users;
        self
    }
}

impl CollectorsSection {
    /// Checks every pattern and duration.
    ///
    /// # Errors
    /// One [`ConfigError`] per bad key, named `collectors.<key>`.
    pub fn validate(self) -> Result<CollectorSettings, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut filter = |include: (&str, &str), exclude: (&str, &str)| {
            let mut compile = |(key, pattern): (&str, &str)| {
                if pattern.is_empty() {
                    return None;
                }
                match regex::Regex::new(pattern) {
                    Ok(re) => Some(re),
                    Err(e) => {
                        errors.push(ConfigError::key(
                            &format!("collectors.{key}"),
                            format!("invalid regular expression {pattern:?}: {}", first_line(&e.to_string())),
                        ));
                        None
                    }
                }
            };
            Filter::from_regexes(compile(include), compile(exclude))
        };
        let arp_devices =
            filter(("arp_device_include", &self.arp_device_include), ("arp_device_exclude", &self.arp_device_exclude));
        let disks = filter(
            ("diskstats_device_include", &self.diskstats_device_include),
            ("diskstats_device_exclude", &self.diskstats_device_exclude),
        );
        let mount_points = filter(
            ("filesystem_mount_points_include", &self.filesystem_mount_points_include),
            ("filesystem_mount_points_exclude", &self.filesystem_mount_points_exclude),
        );
        let fs_types = filter(
            ("filesystem_fs_types_include", &self.filesystem_fs_types_include),
            ("filesystem_fs_types_exclude", &self.filesystem_fs_types_exclude),
        );
        let netclass_devices = filter(
            ("netclass_device_include", &self.netclass_device_include),
            ("netclass_device_exclude", &self.netclass_device_exclude),
        );
        let netdev_devices = filter(
            ("netdev_device_include", &self.netdev_device_include),
            ("netdev_device_exclude", &self.netdev_device_exclude),
        );
        let netstat_fields = filter(("netstat_fields", &self.netstat_fields), ("", ""));
        let vmstat_fields = filter(("vmstat_fields", &self.vmstat_fields), ("", ""));

        let mount_timeout = match humantime::parse_duration(&self.filesystem_mount_timeout) {
            Ok(d) if d >= Duration::from_millis(100) && d <= Duration::from_secs(60) => d,
            Ok(d) => {
                errors.push(ConfigError::key(
                    "collectors.filesystem_mount_timeout",
                    format!("must be between 100ms and 1m, got {}", humantime::format_duration(d)),
                ));
                Duration::ZERO
            }
            Err(e) => {
                errors.push(ConfigError::key(
                    "collectors.filesystem_mount_timeout",
                    format!("must be a duration like \"5s\", got {:?} ({e})", self.filesystem_mount_timeout),
                ));
                Duration::ZERO
            }
        };

        let switches = [
            self.arp,
            self.conntrack,
            self.cpu,
            self.diskstats,
            self.edac,
            self.entropy,
            self.filefd,
            self.filesystem,
            self.hwmon,
            self.loadavg,
            self.meminfo,
            self.netclass,
            self.netdev,
            self.netstat,
            self.os,
            self.pressure,
            self.selinux,
            self.sockstat,
            self.softnet,
            self.stat,
            self.thermal_zone,
            self.time,
            self.timex,
            self.udp_queues,
            self.uname,
            self.users,
            self.vmstat,
        ];
        let enabled = COLLECTOR_NAMES.iter().zip(switches).filter(|(_, on)| *on).map(|(name, _)| *name).collect();

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(CollectorSettings {
            enabled,
            rootfs: self.rootfs,
            arp_devices,
            disks,
            mount_points,
            fs_types,
            mount_timeout,
            netclass_devices,
            netdev_devices,
            netstat_fields,
            vmstat_fields,
            users: UsersSettings::default(),
        })
    }
}

/// The regex crate's errors span several lines (the pattern with a caret under the fault);
/// a config message keeps the one that says what is wrong.
fn first_line(message: &str) -> String {
    let line = message.lines().rev().find(|l| l.starts_with("error:")).unwrap_or(message);
    line.trim_start_matches("error:").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(section: CollectorsSection) -> Vec<String> {
        section.validate().unwrap_err().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_enable_everything_with_node_exporter_filters() {
        let settings = CollectorSettings::default();
        assert_eq!(settings.enabled(), COLLECTOR_NAMES);
        assert!(!settings.disks.allows("loop0"));
        assert!(settings.disks.allows("nvme0n1"));
        assert!(!settings.mount_points.allows("/proc/sys"));
        assert!(settings.fs_types.allows("tmpfs"));
        assert!(!settings.fs_types.allows("proc"));
        assert!(settings.netdev_devices.allows("lo"));
        assert!(settings.netstat_fields.allows("Tcp_CurrEstab"));
        assert!(!settings.netstat_fields.allows("Tcp_MaxConn"));
        assert!(settings.vmstat_fields.allows("pgmajfault"));
        assert!(!settings.vmstat_fields.allows("nr_free_pages"));
        assert_eq!(settings.mount_timeout, Duration::from_secs(5));
    }

    #[test]
    fn collectors_can_be_switched_off() {
        let section: CollectorsSection = toml::from_str("hwmon = false\ncpu = false\n").unwrap();
        let settings = section.validate().unwrap();
        assert!(!settings.enabled().contains(&"hwmon"));
        assert!(!settings.enabled().contains(&"cpu"));
        assert_eq!(settings.enabled().len(), COLLECTOR_NAMES.len() - 2);
    }

    #[test]
    fn empty_pattern_means_no_filter() {
        let section: CollectorsSection = toml::from_str("diskstats_device_exclude = \"\"\n").unwrap();
        assert!(section.validate().unwrap().disks.allows("loop0"));
    }

    #[test]
    fn bad_patterns_and_timeout_name_their_keys() {
        let section: CollectorsSection = toml::from_str(
            "netdev_device_exclude = \"^(eth\"\nvmstat_fields = \"[\"\nfilesystem_mount_timeout = \"1h\"\n",
        )
        .unwrap();
        assert_eq!(
            messages(section),
            [
                "collectors.netdev_device_exclude: invalid regular expression \"^(eth\": unclosed group",
                "collectors.vmstat_fields: invalid regular expression \"[\": unclosed character class",
                "collectors.filesystem_mount_timeout: must be between 100ms and 1m, got 1h",
            ]
        );
        let section: CollectorsSection = toml::from_str("filesystem_mount_timeout = \"soon\"\n").unwrap();
        let errors = messages(section);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("collectors.filesystem_mount_timeout: must be a duration like \"5s\", got \"soon\"")
        );
    }

    #[test]
    fn the_documented_defaults_are_the_defaults() {
        // deploy/agent.toml shows every [collectors] key with its default: parsing its section
        // must give exactly what an empty section gives.
        let example: toml::Table = toml::from_str(include_str!("../../../deploy/agent.toml")).unwrap();
        let documented = example["collectors"].as_table().unwrap().clone();
        let defaults = toml::Table::try_from(CollectorsSection::default()).unwrap();
        let documented_keys: Vec<&String> = documented.keys().collect();
        let default_keys: Vec<&String> = defaults.keys().collect();
        assert_eq!(documented_keys, default_keys, "every key documented, none unknown");
        for (key, value) in &defaults {
            assert_eq!(&documented[key], value, "collectors.{key}");
        }
    }

    #[test]
    fn unknown_key_is_refused() {
        let err = toml::from_str::<CollectorsSection>("hwmn = false\n").unwrap_err();
        assert!(err.message().starts_with("unknown field `hwmn`"), "{}", err.message());
    }
}
