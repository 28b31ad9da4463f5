//! Per-device I/O counters from /proc/diskstats, as node_exporter's `diskstats` collector.

use std::path::PathBuf;

use super::filter::Filter;
use super::{Collector, SystemPaths, parse_field, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// node_exporter 1.5's default `--collector.diskstats.device-exclude`: RAM disks, loop devices,
/// floppies and partitions of sd/vd/hd/xvd and NVMe disks.
pub(crate) const DEFAULT_DEVICE_EXCLUDE: &str = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

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

/// Emits node_exporter's `node_disk_*{device}` counters for every device not excluded by
/// [`DEFAULT_DEVICE_EXCLUDE`]; the discard and flush series only when the kernel has them.
pub(crate) struct DiskstatsCollector {
    path: PathBuf,
    buf: String,
    devices: Filter,
}

impl DiskstatsCollector {
    pub(crate) fn new(paths: &SystemPaths) -> Self {
        Self {
            path: paths.proc("diskstats"),
            buf: String::new(),
            devices: Filter::default_exclude(DEFAULT_DEVICE_EXCLUDE),
        }
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
            let (Some(_major), Some(_minor), Some(device)) = (fields.next(), fields.next(), fields.next()) else {
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
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, value, write};

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
        let samples = collect(&mut DiskstatsCollector::new(&paths));
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
        let samples = collect(&mut DiskstatsCollector::new(&paths));
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
        let filter = Filter::default_exclude(DEFAULT_DEVICE_EXCLUDE);
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
        let err = DiskstatsCollector::new(&paths).collect(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().ends_with("diskstats: node_disk_read_bytes_total: \"x\""), "{err}");
    }

    #[test]
    fn real_proc_devices_are_whole_disks() {
        let stats = std::fs::read_to_string("/proc/diskstats").unwrap();
        let samples = collect(&mut DiskstatsCollector::new(&SystemPaths::default()));
        for sample in &samples {
            let device = &sample.labels[0].1;
            assert!(!device.starts_with("loop"), "{device}");
            assert!(stats.contains(&format!(" {device} ")), "{device}");
        }
        assert!(samples.iter().all(|s| s.value >= 0.0));
    }
}
