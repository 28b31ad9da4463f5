//! Pressure stall information from /proc/pressure, as node_exporter's `pressure` collector.

use std::path::{Path, PathBuf};

use super::{Collector, SystemPaths, malformed, parse_field, read_if_exists, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// Resources, the file each is read from, and the metric of its `some` and `full` lines.
/// node_exporter 1.5 exports no `full` line for the CPU (the kernel prints one only since 5.13
/// and it is always zero at the system level).
const RESOURCES: [(&str, &str, Option<&str>); 3] = [
    ("cpu", "node_pressure_cpu_waiting_seconds_total", None),
    ("io", "node_pressure_io_waiting_seconds_total", Some("node_pressure_io_stalled_seconds_total")),
    ("memory", "node_pressure_memory_waiting_seconds_total", Some("node_pressure_memory_stalled_seconds_total")),
];

/// Emits `node_pressure_{cpu,io,memory}_waiting_seconds_total` (time some task was stalled)
/// and `node_pressure_{io,memory}_stalled_seconds_total` (time all non-idle tasks were).
///
/// A kernel without PSI (before 4.20, or booted with `psi=0`) has no /proc/pressure: the
/// collector then reports nothing, which is not an error.
pub(crate) struct PressureCollector {
    dir: PathBuf,
    buf: String,
}

impl PressureCollector {
    pub(crate) fn new(paths: &SystemPaths) -> Self {
        Self { dir: paths.proc("pressure"), buf: String::new() }
    }
}

impl Collector for PressureCollector {
    fn name(&self) -> &'static str {
        "pressure"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        for (resource, some_name, full_name) in RESOURCES {
            let path = self.dir.join(resource);
            if resource == "cpu" {
                // Without the CPU file the kernel has no PSI at all.
                if !read_if_exists(&path, &mut self.buf)? {
                    return Ok(());
                }
            } else {
                read_into(&path, &mut self.buf)?;
            }
            out.push(Sample::new(some_name, total_seconds(&self.buf, "some", &path)?));
            if let Some(full_name) = full_name {
                out.push(Sample::new(full_name, total_seconds(&self.buf, "full", &path)?));
            }
        }
        Ok(())
    }
}

/// The `total=` microseconds of the line starting with `kind`, in seconds.
fn total_seconds(text: &str, kind: &str, path: &Path) -> Result<f64> {
    let line = text
        .lines()
        .find(|l| l.split_ascii_whitespace().next() == Some(kind))
        .ok_or_else(|| malformed(path, format!("no {kind:?} line")))?;
    let total = line
        .split_ascii_whitespace()
        .find_map(|f| f.strip_prefix("total="))
        .ok_or_else(|| malformed(path, format!("{kind:?} line has no total")))?;
    Ok(parse_field::<u64>(total, path, "total")? as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, plain, write};

    #[test]
    fn parses_some_and_full_totals() {
        let (_dir, paths) = fixture();
        write(
            &paths.proc,
            "pressure/cpu",
            "some avg10=86.37 avg60=56.27 avg300=24.80 total=7176266645\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
        );
        write(
            &paths.proc,
            "pressure/io",
            "some avg10=0.22 avg60=0.29 avg300=1.42 total=399762359\nfull avg10=0.00 avg60=0.06 avg300=1.08 total=112544267\n",
        );
        write(
            &paths.proc,
            "pressure/memory",
            "some avg10=0 avg60=0 avg300=0 total=5\nfull avg10=0 avg60=0 avg300=0 total=0\n",
        );
        assert_eq!(
            plain(&collect(&mut PressureCollector::new(&paths))),
            [
                ("node_pressure_cpu_waiting_seconds_total", 7176.266645),
                ("node_pressure_io_waiting_seconds_total", 399.762359),
                ("node_pressure_io_stalled_seconds_total", 112.544267),
                ("node_pressure_memory_waiting_seconds_total", 0.000005),
                ("node_pressure_memory_stalled_seconds_total", 0.0),
            ]
        );
    }

    #[test]
    fn no_psi_is_no_data_but_a_broken_file_is_an_error() {
        let (_dir, paths) = fixture();
        assert!(collect(&mut PressureCollector::new(&paths)).is_empty());
        write(&paths.proc, "pressure/cpu", "some avg10=1 total=x\n");
        let err = PressureCollector::new(&paths).collect(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().ends_with("pressure/cpu: total: \"x\""), "{err}");
    }
}
