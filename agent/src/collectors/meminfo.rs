//! Memory figures from /proc/meminfo, as node_exporter's `meminfo` collector.

use std::path::PathBuf;

use super::{Collector, SystemPaths, malformed, parse_field, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// Emits `node_memory_<Key>_bytes` for every /proc/meminfo key that has a unit (kB, so the value
/// is multiplied by 1024) and `node_memory_<Key>` for those without (`HugePages_Total`).
///
/// Keys with parentheses are renamed as node_exporter renames them: `Active(anon)` becomes
/// `Active_anon`.
pub(crate) struct MeminfoCollector {
    path: PathBuf,
    buf: String,
}

impl MeminfoCollector {
    pub(crate) fn new(paths: &SystemPaths) -> Self {
        Self { path: paths.proc("meminfo"), buf: String::new() }
    }
}

impl Collector for MeminfoCollector {
    fn name(&self) -> &'static str {
        "meminfo"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        read_into(&self.path, &mut self.buf)?;
        for line in self.buf.lines() {
            let mut fields = line.split_ascii_whitespace();
            // Some CentOS 6 kernels print empty lines; node_exporter skips them too.
            let Some(key) = fields.next() else { continue };
            let key = key.strip_suffix(':').unwrap_or(key);
            let value = fields.next().ok_or_else(|| malformed(&self.path, format!("{key} has no value")))?;
            let mut value: f64 = parse_field(value, &self.path, key)?;
            let mut name = metric_name(key);
            match (fields.next(), fields.next()) {
                (None, _) => {}
                // Every unit the kernel prints here is kB; node_exporter assumes the same.
                (Some(_unit), None) => {
                    value *= 1024.0;
                    name.push_str("_bytes");
                }
                (Some(_), Some(_)) => return Err(malformed(&self.path, format!("unexpected line {line:?}"))),
            }
            out.push(Sample::new(name, value));
        }
        Ok(())
    }
}

/// `node_memory_` plus the key, with `(x)` replaced by `_x` as node_exporter's `\((.*)\)` -> `_$1`.
fn metric_name(key: &str) -> String {
    let mut name = String::with_capacity(key.len() + 20);
    name.push_str("node_memory_");
    match (key.find('('), key.rfind(')')) {
        (Some(open), Some(close)) if open < close => {
            name.push_str(&key[..open]);
            name.push('_');
            name.push_str(&key[open + 1..close]);
            name.push_str(&key[close + 1..]);
        }
        _ => name.push_str(key),
    }
    name
}

/// `MemTotal` in bytes, from the text of /proc/meminfo.
pub(crate) fn mem_total_bytes(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find_map(|line| line.strip_prefix("MemTotal:"))?;
    let kib: u64 = line.split_ascii_whitespace().next()?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, plain, write};

    const MEMINFO: &str = "MemTotal:       24683656 kB
MemFree:        23408128 kB
MemAvailable:   24276376 kB
Active(anon):       1528 kB
Inactive(file):   616180 kB
SwapTotal:             0 kB
VmallocTotal:   34359738367 kB
HugePages_Total:       0
HugePages_Free:        3
Hugepagesize:       2048 kB

";

    #[test]
    fn parses_every_key_with_node_exporter_names() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "meminfo", MEMINFO);
        let samples = collect(&mut MeminfoCollector::new(&paths));
        assert_eq!(
            plain(&samples),
            [
                ("node_memory_MemTotal_bytes", 24683656.0 * 1024.0),
                ("node_memory_MemFree_bytes", 23408128.0 * 1024.0),
                ("node_memory_MemAvailable_bytes", 24276376.0 * 1024.0),
                ("node_memory_Active_anon_bytes", 1528.0 * 1024.0),
                ("node_memory_Inactive_file_bytes", 616180.0 * 1024.0),
                ("node_memory_SwapTotal_bytes", 0.0),
                ("node_memory_VmallocTotal_bytes", 35184372087808.0),
                ("node_memory_HugePages_Total", 0.0),
                ("node_memory_HugePages_Free", 3.0),
                ("node_memory_Hugepagesize_bytes", 2097152.0),
            ]
        );
        assert!(samples.iter().all(|s| s.labels.is_empty()));
    }

    #[test]
    fn names_follow_node_exporter() {
        assert_eq!(metric_name("Active(anon)"), "node_memory_Active_anon");
        assert_eq!(metric_name("Committed_AS"), "node_memory_Committed_AS");
        assert_eq!(metric_name("Odd(x)y"), "node_memory_Odd_xy");
    }

    #[test]
    fn malformed_lines_are_errors() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "meminfo", "MemTotal: lots kB\n");
        let err = MeminfoCollector::new(&paths).collect(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().ends_with("meminfo: MemTotal: \"lots\""), "{err}");
        write(&paths.proc, "meminfo", "MemTotal: 1 kB extra\n");
        assert!(MeminfoCollector::new(&paths).collect(&mut Vec::new()).is_err());
    }

    #[test]
    fn mem_total_in_bytes() {
        assert_eq!(mem_total_bytes(MEMINFO), Some(24683656 * 1024));
        assert_eq!(mem_total_bytes("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn real_proc_mem_total_is_positive() {
        let samples = collect(&mut MeminfoCollector::new(&SystemPaths::default()));
        let total = samples.iter().find(|s| s.name == "node_memory_MemTotal_bytes").unwrap().value;
        let available = samples.iter().find(|s| s.name == "node_memory_MemAvailable_bytes").unwrap().value;
        assert!(total > 0.0 && available > 0.0 && available <= total);
        assert!(samples.iter().any(|s| s.name == "node_memory_Active_anon_bytes"));
    }
}
