//! Per-interface traffic counters from /proc/net/dev, as node_exporter's `netdev` collector.

use std::path::PathBuf;

use super::filter::Filter;
use super::{Collector, SystemPaths, malformed, parse_field, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// /proc/net/dev's sixteen columns, in order, as node_exporter names them.
const NAMES: [&str; 16] = [
    "node_network_receive_bytes_total",
    "node_network_receive_packets_total",
    "node_network_receive_errs_total",
    "node_network_receive_drop_total",
    "node_network_receive_fifo_total",
    "node_network_receive_frame_total",
    "node_network_receive_compressed_total",
    "node_network_receive_multicast_total",
    "node_network_transmit_bytes_total",
    "node_network_transmit_packets_total",
    "node_network_transmit_errs_total",
    "node_network_transmit_drop_total",
    "node_network_transmit_fifo_total",
    "node_network_transmit_colls_total",
    "node_network_transmit_carrier_total",
    "node_network_transmit_compressed_total",
];

/// Emits `node_network_{receive,transmit}_*_total{device}` for every interface the filter
/// allows (by default all, `lo` included, as upstream node_exporter; Debian's package excludes
/// `lo`), plus `node_network_receive_nohandler_total` from sysfs where the kernel has it.
///
/// node_exporter 1.5 reads the same kernel counters over netlink, which adds `rx_nohandler`;
/// /proc/net/dev sums the same fields the same way but lacks that one, so it comes from
/// /sys/class/net/<device>/statistics/rx_nohandler.
pub(crate) struct NetdevCollector {
    path: PathBuf,
    sys_class_net: PathBuf,
    buf: String,
    small: String,
    devices: Filter,
}

impl NetdevCollector {
    pub(crate) fn new(paths: &SystemPaths, devices: Filter) -> Self {
        Self {
            path: paths.proc("net/dev"),
            sys_class_net: paths.sys("class/net"),
            buf: String::new(),
            small: String::new(),
            devices,
        }
    }
}

impl Collector for NetdevCollector {
    fn name(&self) -> &'static str {
        "netdev"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        read_into(&self.path, &mut self.buf)?;
        // Two header lines, then "  eth0: <16 numbers>". Old kernels print no space after the
        // colon when the byte count is wide ("eth0:1234567890"), so split on the colon.
        for line in self.buf.lines().skip(2) {
            let Some((device, counters)) = line.rsplit_once(':') else {
                return Err(malformed(&self.path, format!("no ':' in {line:?}")));
            };
            let device = device.trim();
            if !self.devices.allows(device) {
                continue;
            }
            let mut values = [0.0; NAMES.len()];
            let mut fields = counters.split_ascii_whitespace();
            for (value, name) in values.iter_mut().zip(NAMES) {
                let field =
                    fields.next().ok_or_else(|| malformed(&self.path, format!("{device}: fewer than 16 counters")))?;
                *value = parse_field::<u64>(field, &self.path, name)? as f64;
            }
            out.extend(NAMES.iter().zip(values).map(|(name, value)| Sample::new(*name, value).label("device", device)));
            let nohandler = self.sys_class_net.join(device).join("statistics/rx_nohandler");
            if read_into(&nohandler, &mut self.small).is_ok()
                && let Ok(value) = self.small.trim().parse::<u64>()
            {
                out.push(Sample::new("node_network_receive_nohandler_total", value as f64).label("device", device));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, value, write};

    const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0
  eth0: 133254776    8246    1    2    3     4          5         6   587768    6571    7    8    9    10      11         12
 wlan0:1234567890123 1 0 0 0 0 0 0 2 0 0 0 0 0 0 0
";

    #[test]
    fn parses_every_counter_of_every_device() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "net/dev", NET_DEV);
        write(&paths.sys, "class/net/eth0/statistics/rx_nohandler", "17\n");
        let samples = collect(&mut NetdevCollector::new(&paths, Filter::default()));
        assert_eq!(samples.len(), 3 * 16 + 1);
        assert_eq!(value(&samples, "node_network_receive_nohandler_total", &[("device", "eth0")]), Some(17.0));
        let eth0: Vec<(&str, f64)> = samples
            .iter()
            .filter(|s| s.labels == [("device".to_string(), "eth0".to_string())])
            .map(|s| (s.name.as_str(), s.value))
            .collect();
        assert_eq!(
            eth0,
            [
                ("node_network_receive_bytes_total", 133254776.0),
                ("node_network_receive_packets_total", 8246.0),
                ("node_network_receive_errs_total", 1.0),
                ("node_network_receive_drop_total", 2.0),
                ("node_network_receive_fifo_total", 3.0),
                ("node_network_receive_frame_total", 4.0),
                ("node_network_receive_compressed_total", 5.0),
                ("node_network_receive_multicast_total", 6.0),
                ("node_network_transmit_bytes_total", 587768.0),
                ("node_network_transmit_packets_total", 6571.0),
                ("node_network_transmit_errs_total", 7.0),
                ("node_network_transmit_drop_total", 8.0),
                ("node_network_transmit_fifo_total", 9.0),
                ("node_network_transmit_colls_total", 10.0),
                ("node_network_transmit_carrier_total", 11.0),
                ("node_network_transmit_compressed_total", 12.0),
                ("node_network_receive_nohandler_total", 17.0),
            ]
        );
        assert_eq!(value(&samples, "node_network_receive_bytes_total", &[("device", "lo")]), Some(3193.0));
        assert_eq!(value(&samples, "node_network_receive_bytes_total", &[("device", "wlan0")]), Some(1234567890123.0));
        assert_eq!(value(&samples, "node_network_transmit_packets_total", &[("device", "wlan0")]), Some(0.0));
    }

    #[test]
    fn filter_drops_devices() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "net/dev", NET_DEV);
        let filter = Filter::new(None, Some("^lo$")).unwrap();
        let samples = collect(&mut NetdevCollector::new(&paths, filter));
        assert_eq!(samples.len(), 2 * 16);
        assert!(samples.iter().all(|s| s.labels[0].1 != "lo"));
    }

    #[test]
    fn truncated_line_is_an_error() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "net/dev", "h1\nh2\n  eth0: 1 2 3\n");
        let err = NetdevCollector::new(&paths, Filter::default()).collect(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().ends_with("net/dev: eth0: fewer than 16 counters"), "{err}");
    }

    #[test]
    fn real_proc_has_loopback() {
        let samples = collect(&mut NetdevCollector::new(&SystemPaths::default(), Filter::default()));
        assert!(value(&samples, "node_network_receive_bytes_total", &[("device", "lo")]).is_some());
        let per_device = samples.iter().filter(|s| s.name == "node_network_receive_bytes_total").count();
        assert!(samples.len() >= per_device * 16);
    }
}
