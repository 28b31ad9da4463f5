//! UDP socket queue lengths from /proc/net/udp and udp6, as node_exporter's `udp_queues`
//! collector.

use std::path::{Path, PathBuf};

use super::{Collector, SystemPaths, malformed, read_if_exists, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// Emits `node_udp_queues{ip="v4"|"v6",queue="tx"|"rx"}`: bytes queued in all UDP sockets.
pub(crate) struct UdpQueuesCollector {
    v4: PathBuf,
    v6: PathBuf,
    buf: String,
}

impl UdpQueuesCollector {
    pub(crate) fn new(paths: &SystemPaths) -> Self {
        Self { v4: paths.proc("net/udp"), v6: paths.proc("net/udp6"), buf: String::new() }
    }
}

impl Collector for UdpQueuesCollector {
    fn name(&self) -> &'static str {
        "udp_queues"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        read_into(&self.v4, &mut self.buf)?;
        push(out, "v4", sum_queues(&self.buf, &self.v4)?);
        // A kernel without IPv6 has no udp6.
        if read_if_exists(&self.v6, &mut self.buf)? {
            push(out, "v6", sum_queues(&self.buf, &self.v6)?);
        }
        Ok(())
    }
}

fn push(out: &mut Vec<Sample>, ip: &str, (tx, rx): (u64, u64)) {
    out.push(Sample::new("node_udp_queues", tx as f64).label("ip", ip).label("queue", "tx"));
    out.push(Sample::new("node_udp_queues", rx as f64).label("ip", ip).label("queue", "rx"));
}

/// Sums the `tx_queue:rx_queue` column (hex) over all sockets.
fn sum_queues(text: &str, path: &Path) -> Result<(u64, u64)> {
    let (mut tx, mut rx) = (0u64, 0u64);
    for line in text.lines().skip(1) {
        let queues =
            line.split_ascii_whitespace().nth(4).ok_or_else(|| malformed(path, format!("short line {line:?}")))?;
        let parsed = queues
            .split_once(':')
            .and_then(|(t, r)| Some((u64::from_str_radix(t, 16).ok()?, u64::from_str_radix(r, 16).ok()?)));
        let (t, r) = parsed.ok_or_else(|| malformed(path, format!("tx_queue:rx_queue: {queues:?}")))?;
        tx = tx.saturating_add(t);
        rx = rx.saturating_add(r);
    }
    Ok((tx, rx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, value, write};

    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  139: 00000000:0044 00000000:0000 07 00000010:00000200 00:00000000 00000000     0        0 16411 2 0000000000000000 0
  140: 0100007F:0045 00000000:0000 07 00000001:00000000 00:00000000 00000000     0        0 16412 2 0000000000000000 0
";

    #[test]
    fn sums_queues_per_family() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "net/udp", UDP);
        write(&paths.proc, "net/udp6", UDP.lines().next().unwrap());
        let samples = collect(&mut UdpQueuesCollector::new(&paths));
        assert_eq!(value(&samples, "node_udp_queues", &[("ip", "v4"), ("queue", "tx")]), Some(17.0));
        assert_eq!(value(&samples, "node_udp_queues", &[("ip", "v4"), ("queue", "rx")]), Some(512.0));
        assert_eq!(value(&samples, "node_udp_queues", &[("ip", "v6"), ("queue", "rx")]), Some(0.0));
        assert_eq!(samples.len(), 4);
    }
}
