//! Per-device I/O counters from /proc/diskstats and device identity from udev's database, as
//! node_exporter's `diskstats` collector.

use std::path::PathBuf;

use super::filter::Filter;
use super::{Collector, SystemPaths, parse_field, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// Sectors in /proc/diskstats are always 512 bytes, whatever the device's block size.
const SECTOR_BYTES: f64 = 512.0;

/// How each counter column becomes a sample.
#[derive(Clone, Copy)]
enum Unit {
    /// The value as it is.
    Count,
    /// Sectors, reported as bytes.
    SectorsAsBytes,
    /// Milliseconds, reported as seconds.
    MillisAsSeconds,
}

/// The counter columns after major, minor and name, in kernel order. The first 11 are in every
/// kernel since 2.6; discards came in 4.18 (15 columns), flushes in 5.5 (17 columns).
const COLUMNS: [(&str, Unit); 17] = [
    ("node_disk_reads_completed_total", Unit::Count),
    ("node_disk_reads_merged_total", Unit::Count),
    ("node_disk_read_bytes_total", Unit::SectorsAsBytes),
    ("node_disk_read_time_seconds_total", Unit::MillisAsSeconds),
    ("node_disk_writes_completed_total", Unit::Count),
    ("node_disk_writes_merged_total", Unit::Count),
    ("node_disk_written_bytes_total", Unit::SectorsAsBytes),
    ("node_disk_write_time_seconds_total", Unit::MillisAsSeconds),
    ("node_disk_io_now", Unit::Count),
    ("node_disk_io_time_seconds_total", Unit::MillisAsSeconds),
    ("node_disk_io_time_weighted_seconds_total", Unit::MillisAsSeconds),
    ("node_disk_discards_completed_total", Unit::Count),
    ("node_disk_discards_merged_total", Unit::Count),
    // node_exporter reports discarded sectors as sectors, not bytes.
    ("node_disk_discarded_sectors_total", Unit::Count),
    ("node_disk_discard_time_seconds_total", Unit::MillisAsSeconds),
    ("node_disk_flush_requests_total", Unit::Count),
    ("node_disk_flush_requests_time_seconds_total", Unit::MillisAsSeconds),
];

/// Columns every kernel since 2.6 prints for whole disks.
const BASE_COLUMNS: usize = 11;

/// Emits node_exporter's `node_disk_*{device}` counters for every device the filter allows
/// (the discard and flush series only when the kernel has them), and per device
/// `node_disk_info{device,major,minor,path,wwn,model,serial,revision}`, whose identity labels
/// come from udev's database and are empty where udev has nothing (containers, no udev).
/// When udev knows them, also `node_disk_filesystem_info`, `node_disk_device_mapper_info` and
/// the `node_disk_ata_*` figures.
pub(crate) struct DiskstatsCollector {
    path: PathBuf,
    udev: PathBuf,
    buf: String,
    udev_buf: String,
    devices: Filter,
}

impl DiskstatsCollector {
    /// `udev` is udev's database directory, normally /run/udev/data.
    pub(crate) fn new(paths: &SystemPaths, devices: Filter, udev: PathBuf) -> Self {
        Self { path: paths.proc("diskstats"), udev, buf: String::new(), udev_buf: String::new(), devices }
    }
}

impl Collector for DiskstatsCollector {
    fn name(&self) -> &'static str {
        "diskstats"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        read_into(&self.path, &mut self.buf)?;
        for line in self.buf.lines() {
            let mut fields = line.split_ascii_whitespace();
            let (Some(major), Some(minor), Some(device)) = (fields.next(), fields.next(), fields.next()) else {
                continue;
            };
            if !self.devices.allows(device) {
                continue;
            }
            let mut values = [0.0; COLUMNS.len()];
            let mut count = 0;
            for (value, (field, (name, unit))) in values.iter_mut().zip(fields.zip(COLUMNS)) {
                let raw = parse_field::<u64>(field, &self.path, name)? as f64;
                *value = match unit {
                    Unit::Count => raw,
                    Unit::SectorsAsBytes => raw * SECTOR_BYTES,
                    Unit::MillisAsSeconds => raw / 1000.0,
                };
                count += 1;
            }
            // 2.6 kernels printed 4 columns for partitions; node_exporter skips those too.
            if count < BASE_COLUMNS {
                continue;
            }
            let present = match count {
                17.. => 17,
                15.. => 15,
                _ => BASE_COLUMNS,
            };
            out.extend(
                COLUMNS[..present]
                    .iter()
                    .zip(values)
                    .map(|((name, _), value)| Sample::new(*name, value).label("device", device)),
            );
            // A device udev does not know (or no udev at all) still gets its info series.
            self.udev_buf.clear();
            let udev_file = self.udev.join(format!("b{major}:{minor}"));
            if read_into(&udev_file, &mut self.udev_buf).is_err() {
                self.udev_buf.clear();
            }
            push_udev_series(out, device, major, minor, &self.udev_buf);
        }
        Ok(())
    }
}

/// The `E:KEY=VALUE` properties of a udev database file.
fn udev_property<'a>(udev: &'a str, key: &str) -> Option<&'a str> {
    udev.lines().find_map(|line| line.strip_prefix("E:")?.strip_prefix(key)?.strip_prefix('='))
}

fn push_udev_series(out: &mut Vec<Sample>, device: &str, major: &str, minor: &str, udev: &str) {
    let prop = |key| udev_property(udev, key).unwrap_or_default();
    let serial = udev_property(udev, "ID_SERIAL_SHORT").or_else(|| udev_property(udev, "SCSI_IDENT_SERIAL"));
    out.push(
        Sample::new("node_disk_info", 1.0)
            .label("device", device)
            .label("major", major)
            .label("minor", minor)
            .label("path", prop("ID_PATH"))
            .label("wwn", prop("ID_WWN"))
            .label("model", prop("ID_MODEL"))
            .label("serial", serial.unwrap_or_default())
            .label("revision", prop("ID_REVISION")),
    );
    if udev_property(udev, "ID_FS_TYPE").is_some() {
        out.push(
            Sample::new("node_disk_filesystem_info", 1.0)
                .label("device", device)
                .label("type", prop("ID_FS_TYPE"))
                .label("usage", prop("ID_FS_USAGE"))
                .label("uuid", prop("ID_FS_UUID"))
                .label("version", prop("ID_FS_VERSION")),
        );
    }
    if udev_property(udev, "DM_NAME").is_some() {
        out.push(
            Sample::new("node_disk_device_mapper_info", 1.0)
                .label("device", device)
                .label("name", prop("DM_NAME"))
                .label("uuid", prop("DM_UUID"))
                .label("vg_name", prop("DM_VG_NAME"))
                .label("lv_name", prop("DM_LV_NAME"))
                .label("lv_layer", prop("DM_LV_LAYER")),
        );
    }
    for (key, name) in [
        ("ID_ATA_ROTATION_RATE_RPM", "node_disk_ata_rotation_rate_rpm"),
        ("ID_ATA_WRITE_CACHE", "node_disk_ata_write_cache"),
        ("ID_ATA_WRITE_CACHE_ENABLED", "node_disk_ata_write_cache_enabled"),
    ] {
        if let Some(value) = udev_property(udev, key).and_then(|v| v.parse::<f64>().ok()) {
            out.push(Sample::new(name, value).label("device", device));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::config::DEFAULT_DISKSTATS_DEVICE_EXCLUDE;
    use crate::collectors::test_util::{collect, fixture, value, write};

    fn default_filter() -> Filter {
        Filter::new(None, Some(DEFAULT_DISKSTATS_DEVICE_EXCLUDE)).unwrap()
    }

    fn collector(paths: &SystemPaths) -> DiskstatsCollector {
        DiskstatsCollector::new(paths, default_filter(), paths.sys.join("udev"))
    }

    fn counters(samples: Vec<Sample>) -> Vec<Sample> {
        samples.into_iter().filter(|s| !s.name.ends_with("_info")).collect()
    }

    const DISKSTATS: &str = "   7       0 loop0 10 0 20 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 12444 4366 2911034 18090 2996 18364 2585688 22132 2 6320 42134 4348 86 181136 1422 36 489
 254       1 vda1 1 0 8 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 253       0 zram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 259       0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
 259       1 nvme0n1p1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
   8       0 sda 1 2 3 4 5 6 7 8 9 10 11
   8       1 sda1 1 2 3 4
 253       1 dm-0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17
";

    #[test]
    fn parses_all_columns_with_units() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "diskstats", DISKSTATS);
        let samples = counters(collect(&mut collector(&paths)));
        let vda: Vec<(&str, f64)> = samples
            .iter()
            .filter(|s| s.labels == [("device".to_string(), "vda".to_string())])
            .map(|s| (s.name.as_str(), s.value))
            .collect();
        assert_eq!(
            vda,
            [
                ("node_disk_reads_completed_total", 12444.0),
                ("node_disk_reads_merged_total", 4366.0),
                ("node_disk_read_bytes_total", 2911034.0 * 512.0),
                ("node_disk_read_time_seconds_total", 18.09),
                ("node_disk_writes_completed_total", 2996.0),
                ("node_disk_writes_merged_total", 18364.0),
                ("node_disk_written_bytes_total", 2585688.0 * 512.0),
                ("node_disk_write_time_seconds_total", 22.132),
                ("node_disk_io_now", 2.0),
                ("node_disk_io_time_seconds_total", 6.32),
                ("node_disk_io_time_weighted_seconds_total", 42.134),
                ("node_disk_discards_completed_total", 4348.0),
                ("node_disk_discards_merged_total", 86.0),
                ("node_disk_discarded_sectors_total", 181136.0),
                ("node_disk_discard_time_seconds_total", 1.422),
                ("node_disk_flush_requests_total", 36.0),
                ("node_disk_flush_requests_time_seconds_total", 0.489),
            ]
        );
    }

    #[test]
    fn applies_default_excludes_and_optional_columns() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "diskstats", DISKSTATS);
        let samples = counters(collect(&mut collector(&paths)));
        let count = |device: &str| samples.iter().filter(|s| s.labels[0].1 == device).count();
        for excluded in ["loop0", "vda1", "nvme0n1p1", "sda1"] {
            assert_eq!(count(excluded), 0, "{excluded}");
        }
        // zram is not in node_exporter's default exclude, and device-mapper devices are kept.
        assert_eq!(count("zram0"), 17);
        assert_eq!(count("dm-0"), 17);
        assert_eq!(count("nvme0n1"), 15, "a 4.18 kernel: discards but no flushes");
        assert_eq!(count("sda"), 11, "an old kernel: no discards");
        assert_eq!(value(&samples, "node_disk_discard_time_seconds_total", &[("device", "nvme0n1")]), Some(0.015));
        assert_eq!(value(&samples, "node_disk_flush_requests_total", &[("device", "nvme0n1")]), None);
    }

    #[test]
    fn default_exclude_matches_node_exporter() {
        let filter = default_filter();
        for kept in ["sda", "vda", "xvda", "nvme0n1", "zram0", "dm-0", "md0", "mmcblk0", "mmcblk0p1", "sr0"] {
            assert!(filter.allows(kept), "{kept}");
        }
        for dropped in ["ram0", "loop12", "fd0", "sda1", "hdb2", "vda15", "xvda1", "nvme0n1p3"] {
            assert!(!filter.allows(dropped), "{dropped}");
        }
    }

    #[test]
    fn garbled_counter_is_an_error() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "diskstats", " 8 0 sda 1 2 x 4 5 6 7 8 9 10 11\n");
        let err = collector(&paths).collect(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().ends_with("diskstats: node_disk_read_bytes_total: \"x\""), "{err}");
    }

    #[test]
    fn real_proc_devices_are_whole_disks() {
        let stats = std::fs::read_to_string("/proc/diskstats").unwrap();
        let samples =
            collect(&mut DiskstatsCollector::new(&SystemPaths::default(), default_filter(), "/run/udev/data".into()));
        for sample in &samples {
            let device = &sample.labels[0].1;
            assert!(!device.starts_with("loop"), "{device}");
            assert!(stats.contains(&format!(" {device} ")), "{device}");
        }
        assert!(samples.iter().all(|s| s.value >= 0.0));
    }

    #[test]
    fn info_series_carry_udev_properties() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "diskstats", DISKSTATS);
        write(
            &paths.sys,
            "udev/b8:0",
            "S:disk/by-id/ata-X\nE:ID_MODEL=Samsung_SSD\nE:ID_PATH=pci-0000:00:1f.2-ata-1\nE:ID_SERIAL_SHORT=S3Z\nE:ID_WWN=0x5002\nE:ID_REVISION=2B6Q\nE:ID_FS_TYPE=ext4\nE:ID_FS_USAGE=filesystem\nE:ID_FS_UUID=abc\nE:ID_FS_VERSION=1.0\nE:ID_ATA_ROTATION_RATE_RPM=0\n",
        );
        let samples = collect(&mut collector(&paths));
        let info = |device: &str| {
            samples
                .iter()
                .find(|s| s.name == "node_disk_info" && s.labels[0].1 == device)
                .map(|s| s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
        };
        assert_eq!(
            info("sda").unwrap(),
            "device=sda,major=8,minor=0,path=pci-0000:00:1f.2-ata-1,wwn=0x5002,model=Samsung_SSD,serial=S3Z,revision=2B6Q"
        );
        assert_eq!(info("vda").unwrap(), "device=vda,major=254,minor=0,path=,wwn=,model=,serial=,revision=");
        assert_eq!(info("vda1"), None);
        assert_eq!(
            value(&samples, "node_disk_filesystem_info", &[("device", "sda"), ("type", "ext4"), ("uuid", "abc")]),
            Some(1.0)
        );
        assert_eq!(value(&samples, "node_disk_ata_rotation_rate_rpm", &[("device", "sda")]), Some(0.0));
        assert_eq!(value(&samples, "node_disk_filesystem_info", &[("device", "vda")]), None);
    }
}
