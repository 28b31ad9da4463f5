//! ARP table size per device from /proc/net/arp, as node_exporter's `arp` collector.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::filter::Filter;
use super::{Collector, SystemPaths, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// Emits `node_arp_entries{device}` for every device with at least one entry that the filter
/// allows.
pub(crate) struct ArpCollector {
    path: PathBuf,
    buf: String,
    devices: Filter,
}

impl ArpCollector {
    pub(crate) fn new(paths: &SystemPaths, devices: Filter) -> Self {
        Self { path: paths.proc("net/arp"), buf: String::new(), devices }
    }
}

impl Collector for ArpCollector {
    fn name(&self) -> &'static str {
        "arp"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        read_into(&self.path, &mut self.buf)?;
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        // "IP address  HW type  Flags  HW address  Mask  Device", then one line per entry.
        for line in self.buf.lines().skip(1) {
            if let Some(device) = line.split_ascii_whitespace().nth(5)
                && self.devices.allows(device)
            {
                *counts.entry(device).or_default() += 1;
            }
        }
        out.extend(
            counts.into_iter().map(|(device, n)| Sample::new("node_arp_entries", n as f64).label("device", device)),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, write};

    #[test]
    fn counts_entries_per_device() {
        let (_dir, paths) = fixture();
        write(
            &paths.proc,
            "net/arp",
            "IP address       HW type     Flags       HW address            Mask     Device
192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0
192.0.2.7        0x1         0x0         00:00:00:00:00:00     *        eth0
10.0.0.1         0x1         0x2         02:fc:00:00:00:06     *        eth1
",
        );
        let got: Vec<(String, f64)> = collect(&mut ArpCollector::new(&paths, Filter::default()))
            .iter()
            .map(|s| (s.labels[0].1.clone(), s.value))
            .collect();
        assert_eq!(got, [("eth0".to_string(), 2.0), ("eth1".to_string(), 1.0)]);
        let only_eth1 = Filter::new(Some("1$"), None).unwrap();
        assert_eq!(collect(&mut ArpCollector::new(&paths, only_eth1)).len(), 1);
    }
}
