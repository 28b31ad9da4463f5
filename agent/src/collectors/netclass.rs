//! Network interface properties from /sys/class/net, as node_exporter's `netclass` collector.

use std::path::PathBuf;

use super::filter::Filter;
use super::{Collector, SystemPaths, read_into};
use crate::error::{Error, Result};
use crate::sample::Sample;

/// Numeric attribute files and the metric each becomes, in node_exporter's order.
const NUMERIC: [(&str, &str); 16] = [
    ("addr_assign_type", "node_network_address_assign_type"),
    ("carrier", "node_network_carrier"),
    ("carrier_changes", "node_network_carrier_changes_total"),
    ("carrier_up_count", "node_network_carrier_up_changes_total"),
    ("carrier_down_count", "node_network_carrier_down_changes_total"),
    ("dev_id", "node_network_device_id"),
    ("dormant", "node_network_dormant"),
    ("flags", "node_network_flags"),
    ("ifindex", "node_network_iface_id"),
    ("iflink", "node_network_iface_link"),
    ("link_mode", "node_network_iface_link_mode"),
    ("mtu", "node_network_mtu_bytes"),
    ("name_assign_type", "node_network_name_assign_type"),
    ("netdev_group", "node_network_net_dev_group"),
    ("tx_queue_len", "node_network_transmit_queue_length"),
    ("type", "node_network_protocol_type"),
];

/// Text attributes that label `node_network_info`.
const INFO: [&str; 5] = ["address", "broadcast", "duplex", "ifalias", "operstate"];

/// Emits per interface `node_network_up` (1 when operstate is "up"), `node_network_info{address,
/// broadcast,duplex,ifalias,operstate}`, `node_network_speed_bytes` (link speed in bytes per
/// second; -125000 when the driver says -1, unknown, as node_exporter 1.5 reports it) and the
/// numeric attributes in [`NUMERIC`].
///
/// The kernel refuses to read some attributes in some states (`carrier` of an interface that is
/// down, `speed` of a virtual one); like node_exporter, such a series is left out.
pub(crate) struct NetclassCollector {
    dir: PathBuf,
    buf: String,
    devices: Filter,
}

impl NetclassCollector {
    pub(crate) fn new(paths: &SystemPaths, devices: Filter) -> Self {
        Self { dir: paths.sys("class/net"), buf: String::new(), devices }
    }

    /// The trimmed contents of `<device>/<file>`, or `None` if the kernel refuses.
    fn attribute(&mut self, device: &str, file: &str) -> Option<&str> {
        read_into(&self.dir.join(device).join(file), &mut self.buf).ok()?;
        Some(self.buf.trim())
    }
}

impl Collector for NetclassCollector {
    fn name(&self) -> &'static str {
        "netclass"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        let entries =
            std::fs::read_dir(&self.dir).map_err(|source| Error::ReadSource { path: self.dir.clone(), source })?;
        let mut devices: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| self.devices.allows(name))
            // `bonding_masters` and the like are files, not interfaces.
            .filter(|name| self.dir.join(name).is_dir())
            .collect();
        devices.sort_unstable();
        for device in &devices {
            let info = INFO.map(|file| self.attribute(device, file).unwrap_or_default().to_string());
            let up = if info[4] == "up" { 1.0 } else { 0.0 };
            out.push(Sample::new("node_network_up", up).label("device", device.as_str()));
            let mut sample = Sample::new("node_network_info", 1.0).label("device", device.as_str());
            for (label, value) in INFO.iter().zip(info) {
                sample = sample.label(*label, value);
            }
            out.push(sample);
            for (file, name) in NUMERIC {
                if let Some(value) = self.attribute(device, file).and_then(parse_int) {
                    out.push(Sample::new(name, value as f64).label("device", device.as_str()));
                }
            }
            if let Some(mbps) = self.attribute(device, "speed").and_then(parse_int) {
                // Mbit/s to bytes/s.
                let bytes = mbps.saturating_mul(1_000_000) / 8;
                out.push(Sample::new("node_network_speed_bytes", bytes as f64).label("device", device.as_str()));
            }
        }
        Ok(())
    }
}

/// A decimal or `0x` hexadecimal integer (`flags` and `dev_id` are hex).
fn parse_int(text: &str) -> Option<i64> {
    match text.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, value, write};

    fn eth0(paths: &SystemPaths) {
        for (file, contents) in [
            ("addr_assign_type", "0"),
            ("address", "02:fc:00:00:00:01"),
            ("broadcast", "ff:ff:ff:ff:ff:ff"),
            ("carrier", "1"),
            ("carrier_changes", "2"),
            ("carrier_up_count", "1"),
            ("carrier_down_count", "1"),
            ("dev_id", "0x0"),
            ("dormant", "0"),
            ("duplex", "unknown"),
            ("flags", "0x1003"),
            ("ifalias", ""),
            ("ifindex", "4"),
            ("iflink", "4"),
            ("link_mode", "0"),
            ("mtu", "1400"),
            ("name_assign_type", "1"),
            ("netdev_group", "0"),
            ("operstate", "up"),
            ("speed", "-1"),
            ("tx_queue_len", "1000"),
            ("type", "1"),
        ] {
            write(&paths.sys, &format!("class/net/eth0/{file}"), &format!("{contents}\n"));
        }
    }

    #[test]
    fn reports_node_exporter_series() {
        let (_dir, paths) = fixture();
        eth0(&paths);
        // A down interface: its carrier, speed and the like cannot be read (no file here).
        write(&paths.sys, "class/net/ifb0/operstate", "down\n");
        write(&paths.sys, "class/net/ifb0/mtu", "1500\n");
        write(&paths.sys, "class/net/bonding_masters", "bond0\n");
        let samples = collect(&mut NetclassCollector::new(&paths, Filter::default()));
        let eth0 = [("device", "eth0")];
        assert_eq!(value(&samples, "node_network_up", &eth0), Some(1.0));
        assert_eq!(value(&samples, "node_network_flags", &eth0), Some(4099.0));
        assert_eq!(value(&samples, "node_network_speed_bytes", &eth0), Some(-125000.0));
        assert_eq!(value(&samples, "node_network_mtu_bytes", &eth0), Some(1400.0));
        assert_eq!(value(&samples, "node_network_carrier_changes_total", &eth0), Some(2.0));
        assert_eq!(
            value(
                &samples,
                "node_network_info",
                &[("device", "eth0"), ("duplex", "unknown"), ("ifalias", ""), ("address", "02:fc:00:00:00:01")]
            ),
            Some(1.0)
        );
        assert_eq!(samples.iter().filter(|s| s.labels[0].1 == "eth0").count(), 2 + 16 + 1);
        let ifb0: Vec<&str> = samples.iter().filter(|s| s.labels[0].1 == "ifb0").map(|s| s.name.as_str()).collect();
        assert_eq!(ifb0, ["node_network_up", "node_network_info", "node_network_mtu_bytes"]);
        assert_eq!(value(&samples, "node_network_up", &[("device", "ifb0")]), Some(0.0));
        assert!(samples.iter().all(|s| s.labels[0].1 != "bonding_masters"));
    }

    #[test]
    fn speed_in_bytes_and_filter() {
        let (_dir, paths) = fixture();
        write(&paths.sys, "class/net/eth1/speed", "10000\n");
        write(&paths.sys, "class/net/lo/mtu", "65536\n");
        let samples = collect(&mut NetclassCollector::new(&paths, Filter::new(None, Some("^lo$")).unwrap()));
        assert_eq!(value(&samples, "node_network_speed_bytes", &[("device", "eth1")]), Some(1.25e9));
        assert!(samples.iter().all(|s| s.labels[0].1 == "eth1"));
    }

    #[test]
    fn missing_class_dir_is_an_error() {
        let (_dir, paths) = fixture();
        assert!(NetclassCollector::new(&paths, Filter::default()).collect(&mut Vec::new()).is_err());
    }
}
