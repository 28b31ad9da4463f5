//! HELP and TYPE of every metric the collectors emit, for the Prometheus text format.

/// A Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    /// What node_exporter declares for raw kernel fields whose kind it does not know.
    Untyped,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Untyped => "untyped",
        }
    }
}

use Kind::{Counter, Gauge, Untyped};

/// Metrics with fixed names, sorted by name.
const FIXED: &[(&str, Kind, &str)] = &[
    ("node_arp_entries", Gauge, "ARP entries by device"),
    ("node_boot_time_seconds", Gauge, "Node boot time, in unixtime."),
    ("node_context_switches_total", Counter, "Total number of context switches."),
    ("node_cooling_device_cur_state", Gauge, "Current throttle state of the cooling device"),
    ("node_cooling_device_max_state", Gauge, "Maximum throttle state of the cooling device"),
    ("node_cpu_core_throttles_total", Counter, "Number of times this CPU core has been throttled."),
    ("node_cpu_guest_seconds_total", Counter, "Seconds the CPUs spent in guests (VMs) for each mode."),
    ("node_cpu_package_throttles_total", Counter, "Number of times this CPU package has been throttled."),
    ("node_cpu_seconds_total", Counter, "Seconds the CPUs spent in each mode."),
    ("node_disk_ata_rotation_rate_rpm", Gauge, "ATA disk rotation rate in RPMs (0 for SSDs)."),
    ("node_disk_ata_write_cache", Gauge, "ATA disk has a write cache."),
    ("node_disk_ata_write_cache_enabled", Gauge, "ATA disk has its write cache enabled."),
    ("node_disk_device_mapper_info", Gauge, "Info about disk device mapper."),
    ("node_disk_discard_time_seconds_total", Counter, "This is the total number of seconds spent by all discards."),
    ("node_disk_discarded_sectors_total", Counter, "The total number of sectors discarded successfully."),
    ("node_disk_discards_completed_total", Counter, "The total number of discards completed successfully."),
    ("node_disk_discards_merged_total", Counter, "The total number of discards merged."),
    ("node_disk_filesystem_info", Gauge, "Info about disk filesystem."),
    (
        "node_disk_flush_requests_time_seconds_total",
        Counter,
        "This is the total number of seconds spent by all flush requests.",
    ),
    ("node_disk_flush_requests_total", Counter, "The total number of flush requests completed successfully"),
    ("node_disk_info", Gauge, "Info of /sys/block/<block_device>."),
    ("node_disk_io_now", Gauge, "The number of I/Os currently in progress."),
    ("node_disk_io_time_seconds_total", Counter, "Total seconds spent doing I/Os."),
    ("node_disk_io_time_weighted_seconds_total", Counter, "The weighted # of seconds spent doing I/Os."),
    ("node_disk_read_bytes_total", Counter, "The total number of bytes read successfully."),
    ("node_disk_read_time_seconds_total", Counter, "The total number of seconds spent by all reads."),
    ("node_disk_reads_completed_total", Counter, "The total number of reads completed successfully."),
    ("node_disk_reads_merged_total", Counter, "The total number of reads merged."),
    ("node_disk_write_time_seconds_total", Counter, "This is the total number of seconds spent by all writes."),
    ("node_disk_writes_completed_total", Counter, "The total number of writes completed successfully."),
    ("node_disk_writes_merged_total", Counter, "The number of writes merged."),
    ("node_disk_written_bytes_total", Counter, "The total number of bytes written successfully."),
    ("node_edac_correctable_errors_total", Counter, "Total correctable memory errors."),
    ("node_edac_csrow_correctable_errors_total", Counter, "Total correctable memory errors for this csrow."),
    ("node_edac_csrow_uncorrectable_errors_total", Counter, "Total uncorrectable memory errors for this csrow."),
    ("node_edac_uncorrectable_errors_total", Counter, "Total uncorrectable memory errors."),
    ("node_entropy_available_bits", Gauge, "Bits of available entropy."),
    ("node_entropy_pool_size_bits", Gauge, "Bits of entropy pool."),
    ("node_filefd_allocated", Gauge, "File descriptor statistics: allocated."),
    ("node_filefd_maximum", Gauge, "File descriptor statistics: maximum."),
    ("node_filesystem_avail_bytes", Gauge, "Filesystem space available to non-root users in bytes."),
    ("node_filesystem_device_error", Gauge, "Whether an error occurred while getting statistics for the given device."),
    ("node_filesystem_files", Gauge, "Filesystem total file nodes."),
    ("node_filesystem_files_free", Gauge, "Filesystem total free file nodes."),
    ("node_filesystem_free_bytes", Gauge, "Filesystem free space in bytes."),
    ("node_filesystem_readonly", Gauge, "Filesystem read-only status."),
    ("node_filesystem_size_bytes", Gauge, "Filesystem size in bytes."),
    ("node_forks_total", Counter, "Total number of forks."),
    ("node_hwmon_chip_names", Gauge, "Annotation metric for human-readable chip names"),
    ("node_hwmon_sensor_label", Gauge, "Label for given chip and sensor"),
    ("node_intr_total", Counter, "Total number of interrupts serviced."),
    ("node_load1", Gauge, "1m load average."),
    ("node_load15", Gauge, "15m load average."),
    ("node_load5", Gauge, "5m load average."),
    ("node_network_info", Gauge, "Non-numeric data from /sys/class/net/<iface>, value is always 1."),
    ("node_network_speed_bytes", Gauge, "Network device property: speed_bytes"),
    ("node_network_up", Gauge, "Value is 1 if operstate is 'up', 0 otherwise."),
    ("node_nf_conntrack_entries", Gauge, "Number of currently allocated flow entries for connection tracking."),
    ("node_nf_conntrack_entries_limit", Gauge, "Maximum size of connection tracking table."),
    (
        "node_os_info",
        Gauge,
        "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
    ),
    ("node_os_version", Gauge, "Metric containing the major.minor part of the OS version."),
    (
        "node_pressure_cpu_waiting_seconds_total",
        Counter,
        "Total time in seconds that processes have waited for CPU time",
    ),
    (
        "node_pressure_io_stalled_seconds_total",
        Counter,
        "Total time in seconds no process could make progress due to IO congestion",
    ),
    (
        "node_pressure_io_waiting_seconds_total",
        Counter,
        "Total time in seconds that processes have waited due to IO congestion",
    ),
    (
        "node_pressure_memory_stalled_seconds_total",
        Counter,
        "Total time in seconds no process could make progress due to memory congestion",
    ),
    (
        "node_pressure_memory_waiting_seconds_total",
        Counter,
        "Total time in seconds that processes have waited for memory",
    ),
    ("node_procs_blocked", Gauge, "Number of processes blocked waiting for I/O to complete."),
    ("node_procs_running", Gauge, "Number of processes in runnable state."),
    ("node_selinux_config_mode", Gauge, "Configured SELinux enforcement mode"),
    ("node_selinux_current_mode", Gauge, "Current SELinux enforcement mode"),
    ("node_selinux_enabled", Gauge, "SELinux is enabled, 1 is true, 0 is false"),
    ("node_softnet_dropped_total", Counter, "Number of dropped packets"),
    ("node_softnet_processed_total", Counter, "Number of processed packets"),
    ("node_softnet_times_squeezed_total", Counter, "Number of times processing packets ran out of quota"),
    ("node_thermal_zone_temp", Gauge, "Zone temperature in Celsius"),
    (
        "node_time_clocksource_available_info",
        Gauge,
        "Available clocksources read from '/sys/devices/system/clocksource'.",
    ),
    ("node_time_clocksource_current_info", Gauge, "Current clocksource read from '/sys/devices/system/clocksource'."),
    ("node_time_seconds", Gauge, "System time in seconds since epoch (1970)."),
    ("node_time_zone_offset_seconds", Gauge, "System time zone offset in seconds."),
    ("node_timex_estimated_error_seconds", Gauge, "Estimated error in seconds."),
    ("node_timex_frequency_adjustment_ratio", Gauge, "Local clock frequency adjustment."),
    ("node_timex_loop_time_constant", Gauge, "Phase-locked loop time constant."),
    ("node_timex_maxerror_seconds", Gauge, "Maximum error in seconds."),
    ("node_timex_offset_seconds", Gauge, "Time offset in between local system and reference clock."),
    ("node_timex_pps_calibration_total", Counter, "Pulse per second count of calibration intervals."),
    ("node_timex_pps_error_total", Counter, "Pulse per second count of calibration errors."),
    ("node_timex_pps_frequency_hertz", Gauge, "Pulse per second frequency."),
    ("node_timex_pps_jitter_seconds", Gauge, "Pulse per second jitter."),
    ("node_timex_pps_jitter_total", Counter, "Pulse per second count of jitter limit exceeded events."),
    ("node_timex_pps_shift_seconds", Gauge, "Pulse per second interval duration."),
    ("node_timex_pps_stability_exceeded_total", Counter, "Pulse per second count of stability limit exceeded events."),
    ("node_timex_pps_stability_hertz", Gauge, "Pulse per second stability, average of recent frequency changes."),
    ("node_timex_status", Gauge, "Value of the status array bits."),
    ("node_timex_sync_status", Gauge, "Is clock synchronized to a reliable server (1 = yes, 0 = no)."),
    ("node_timex_tai_offset_seconds", Gauge, "International Atomic Time (TAI) offset."),
    ("node_timex_tick_seconds", Gauge, "Seconds between clock ticks."),
    ("node_udp_queues", Gauge, "Number of allocated memory in the kernel for UDP datagrams in bytes."),
    ("node_uname_info", Gauge, "Labeled system information as provided by the uname system call."),
    ("sysmon_agent_collector_duration_seconds", Gauge, "How long a collector took in the last collection."),
    (
        "sysmon_agent_collector_errors_total",
        Counter,
        "Collections in which a collector failed, since the agent started.",
    ),
    (
        "sysmon_agent_users_state_errors_total",
        Counter,
        "Collections whose users state file could not be written, since the agent started.",
    ),
    (
        "sysmon_process_cpu_ratio",
        Gauge,
        "Share of the machine's CPU time a top process used over the last interval (1 = every CPU).",
    ),
    ("sysmon_process_cpu_seconds_total", Counter, "CPU time (user + system) a top process has used."),
    ("sysmon_process_memory_bytes", Gauge, "Resident memory of a top process."),
    ("sysmon_uptime_seconds", Gauge, "Seconds since the host booted, from /proc/uptime."),
    (
        "sysmon_user_cpu_seconds_total",
        Counter,
        "CPU time (user + system) used by a user's processes, exited ones included.",
    ),
    ("sysmon_user_heavy", Gauge, "1 while a user has been above its threshold for the resource for persistent_time."),
    ("sysmon_user_memory_bytes", Gauge, "Resident memory of a user's processes (shared pages counted in each)."),
    ("sysmon_user_other_users", Gauge, "Users past users.max_users, summed into user=\"other\"."),
    ("sysmon_user_processes", Gauge, "Processes a user owns."),
];

/// The type and help text of `name`.
pub(crate) fn describe(name: &str) -> (Kind, String) {
    if let Ok(i) = FIXED.binary_search_by(|(n, _, _)| n.cmp(&name)) {
        let (_, kind, help) = FIXED[i];
        return (kind, help.to_string());
    }
    let by_suffix = if name.ends_with("_total") { Counter } else { Gauge };
    if let Some(field) = name.strip_prefix("node_memory_") {
        let field = field.strip_suffix("_bytes").unwrap_or(field);
        return (Gauge, format!("Memory information field {field}."));
    }
    if let Some(field) = name.strip_prefix("node_vmstat_") {
        return (Untyped, format!("/proc/vmstat information field {field}."));
    }
    if let Some(field) = name.strip_prefix("node_netstat_") {
        return (Untyped, format!("Statistic {}.", field.replace('_', "")));
    }
    if let Some(field) = name.strip_prefix("node_sockstat_") {
        return (Gauge, format!("Number of {} sockets in state {}.", field.split('_').next().unwrap_or(""), field));
    }
    if let Some(stat) = name.strip_prefix("node_nf_conntrack_stat_") {
        return (Gauge, format!("Connection tracking statistic {stat}, summed over CPUs."));
    }
    if let Some(property) = name.strip_prefix("node_network_") {
        let help = if name.ends_with("_total") && !name.contains("carrier_") {
            format!("Network device statistic {}.", property.trim_end_matches("_total"))
        } else {
            format!("Network device property: {property}")
        };
        return (by_suffix, help);
    }
    if name.starts_with("node_hwmon_") {
        return (by_suffix, format!("Hardware monitor {}.", name.trim_start_matches("node_hwmon_").replace('_', " ")));
    }
    (by_suffix, name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_table_is_sorted_and_unique() {
        assert!(FIXED.windows(2).all(|w| w[0].0 < w[1].0), "FIXED must be sorted for binary search");
    }

    #[test]
    fn families() {
        assert_eq!(describe("node_cpu_seconds_total").0, Counter);
        assert_eq!(describe("node_memory_MemTotal_bytes"), (Gauge, "Memory information field MemTotal.".to_string()));
        assert_eq!(describe("node_vmstat_pgfault").0, Untyped);
        assert_eq!(describe("node_netstat_Tcp_InSegs").1, "Statistic TcpInSegs.");
        assert_eq!(describe("node_network_receive_bytes_total").0, Counter);
        assert_eq!(describe("node_network_mtu_bytes").1, "Network device property: mtu_bytes");
        assert_eq!(describe("node_hwmon_temp_celsius").0, Gauge);
    }
}
