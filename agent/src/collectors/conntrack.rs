//! The netfilter connection tracking table, as node_exporter's `conntrack` collector.

use std::path::PathBuf;

use super::{Collector, SystemPaths, malformed, parse_field, read_if_exists, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// /proc/net/stat/nf_conntrack columns summed over CPUs, in node_exporter's order.
const STATS: [&str; 8] =
    ["found", "invalid", "ignore", "insert", "insert_failed", "drop", "early_drop", "search_restart"];

/// Emits `node_nf_conntrack_entries`, `node_nf_conntrack_entries_limit` and, from the per-CPU
/// statistics, `node_nf_conntrack_stat_<column>`. Without the conntrack module loaded there
/// is nothing to report, which is not an error.
pub(crate) struct ConntrackCollector {
    count: PathBuf,
    max: PathBuf,
    stat: PathBuf,
    buf: String,
}

impl ConntrackCollector {
    pub(crate) fn new(paths: &SystemPaths) -> Self {
        Self {
            count: paths.proc("sys/net/netfilter/nf_conntrack_count"),
            max: paths.proc("sys/net/netfilter/nf_conntrack_max"),
            stat: paths.proc("net/stat/nf_conntrack"),
            buf: String::new(),
        }
    }
}

impl Collector for ConntrackCollector {
    fn name(&self) -> &'static str {
        "conntrack"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        if !read_if_exists(&self.count, &mut self.buf)? {
            return Ok(());
        }
        out.push(Sample::new(
            "node_nf_conntrack_entries",
            parse_field::<u64>(self.buf.trim(), &self.count, "count")? as f64,
        ));
        read_into(&self.max, &mut self.buf)?;
        out.push(Sample::new(
            "node_nf_conntrack_entries_limit",
            parse_field::<u64>(self.buf.trim(), &self.max, "max")? as f64,
        ));
        if !read_if_exists(&self.stat, &mut self.buf)? {
            return Ok(());
        }
        let mut lines = self.buf.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split_ascii_whitespace().collect();
        let columns = STATS.map(|name| header.iter().position(|h| *h == name));
        let mut sums = [0u64; STATS.len()];
        for line in lines {
            let values: Vec<&str> = line.split_ascii_whitespace().collect();
            for (sum, column) in sums.iter_mut().zip(columns) {
                let Some(column) = column else { continue };
                let hex = values.get(column).ok_or_else(|| malformed(&self.stat, format!("short line {line:?}")))?;
                let value = u64::from_str_radix(hex, 16)
                    .map_err(|_| malformed(&self.stat, format!("{}: {hex:?}", header[column])))?;
                *sum = sum.saturating_add(value);
            }
        }
        for ((name, column), sum) in STATS.iter().zip(columns).zip(sums) {
            // A column an older kernel lacks (search_restart came in 4.6) is left out.
            if column.is_some() {
                out.push(Sample::new(format!("node_nf_conntrack_stat_{name}"), sum as f64));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, plain, write};

    #[test]
    fn entries_limit_and_summed_stats() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "sys/net/netfilter/nf_conntrack_count", "12\n");
        write(&paths.proc, "sys/net/netfilter/nf_conntrack_max", "262144\n");
        write(
            &paths.proc,
            "net/stat/nf_conntrack",
            "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
0000000c  00000000 00000001 00000000 00000002 0000000a 00000000 00000000 00000003 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000010
0000000c  00000000 00000001 00000000 00000000 00000001 00000000 00000000 00000004 00000001 00000002 00000003 00000000  00000000 00000000 00000000 00000001
",
        );
        assert_eq!(
            plain(&collect(&mut ConntrackCollector::new(&paths))),
            [
                ("node_nf_conntrack_entries", 12.0),
                ("node_nf_conntrack_entries_limit", 262144.0),
                ("node_nf_conntrack_stat_found", 2.0),
                ("node_nf_conntrack_stat_invalid", 2.0),
                ("node_nf_conntrack_stat_ignore", 11.0),
                ("node_nf_conntrack_stat_insert", 7.0),
                ("node_nf_conntrack_stat_insert_failed", 1.0),
                ("node_nf_conntrack_stat_drop", 2.0),
                ("node_nf_conntrack_stat_early_drop", 3.0),
                ("node_nf_conntrack_stat_search_restart", 17.0),
            ]
        );
    }

    #[test]
    fn module_not_loaded_is_no_data() {
        let (_dir, paths) = fixture();
        assert!(collect(&mut ConntrackCollector::new(&paths)).is_empty());
    }
}
