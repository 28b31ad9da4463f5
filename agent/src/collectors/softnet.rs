//! Per-CPU network packet processing from /proc/net/softnet_stat, as node_exporter's
//! `softnet` collector.

use std::path::PathBuf;

use super::{Collector, SystemPaths, malformed, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// The first three columns, in order.
const NAMES: [&str; 3] =
    ["node_softnet_processed_total", "node_softnet_dropped_total", "node_softnet_times_squeezed_total"];

/// Emits `node_softnet_processed_total{cpu}`, `_dropped_total` and `_times_squeezed_total`.
/// As in node_exporter 1.5, `cpu` is the line's position in the file.
pub(crate) struct SoftnetCollector {
    path: PathBuf,
    buf: String,
}

impl SoftnetCollector {
    pub(crate) fn new(paths: &SystemPaths) -> Self {
        Self { path: paths.proc("net/softnet_stat"), buf: String::new() }
    }
}

impl Collector for SoftnetCollector {
    fn name(&self) -> &'static str {
        "softnet"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        read_into(&self.path, &mut self.buf)?;
        for (cpu, line) in self.buf.lines().enumerate() {
            let mut fields = line.split_ascii_whitespace();
            let cpu = cpu.to_string();
            for name in NAMES {
                let hex = fields.next().ok_or_else(|| malformed(&self.path, format!("line {cpu} is short")))?;
                let value =
                    u64::from_str_radix(hex, 16).map_err(|_| malformed(&self.path, format!("{name}: {hex:?}")))?;
                out.push(Sample::new(name, value as f64).label("cpu", cpu.as_str()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, value, write};

    #[test]
    fn parses_hex_columns_per_line() {
        let (_dir, paths) = fixture();
        write(
            &paths.proc,
            "net/softnet_stat",
            "001a981a 00000000 00000010 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n0010cd31 00000002 00000006 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001\n",
        );
        let samples = collect(&mut SoftnetCollector::new(&paths));
        assert_eq!(samples.len(), 6);
        assert_eq!(value(&samples, "node_softnet_processed_total", &[("cpu", "0")]), Some(1742874.0));
        assert_eq!(value(&samples, "node_softnet_dropped_total", &[("cpu", "1")]), Some(2.0));
        assert_eq!(value(&samples, "node_softnet_times_squeezed_total", &[("cpu", "0")]), Some(16.0));
        write(&paths.proc, "net/softnet_stat", "zz 0 0\n");
        assert!(SoftnetCollector::new(&paths).collect(&mut Vec::new()).is_err());
    }
}
