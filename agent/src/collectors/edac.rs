//! Memory controller error counts from /sys/devices/system/edac, as node_exporter's `edac`
//! collector: the first warning of failing RAM on bare metal.

use std::path::{Path, PathBuf};

use super::{Collector, SystemPaths, parse_field, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// Emits per memory controller (`controller` label, the N of `mcN`)
/// `node_edac_correctable_errors_total` and `node_edac_uncorrectable_errors_total`, and per
/// chip-select row (`csrow`, or `"unknown"` for errors the controller could not place)
/// `node_edac_csrow_correctable_errors_total` and `node_edac_csrow_uncorrectable_errors_total`.
/// Machines without EDAC (VMs, most desktops) report nothing, which is not an error.
pub(crate) struct EdacCollector {
    dir: PathBuf,
    buf: String,
}

impl EdacCollector {
    pub(crate) fn new(paths: &SystemPaths) -> Self {
        Self { dir: paths.sys("devices/system/edac/mc"), buf: String::new() }
    }

    fn count(&mut self, path: &Path) -> Result<f64> {
        read_into(path, &mut self.buf)?;
        Ok(parse_field::<u64>(self.buf.trim(), path, "count")? as f64)
    }
}

/// The numbers N of the `<prefix>N` entries of `dir`, sorted.
fn numbered(dir: &Path, prefix: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut numbers: Vec<u32> =
        entries.filter_map(|e| e.ok()?.file_name().into_string().ok()?.strip_prefix(prefix)?.parse().ok()).collect();
    numbers.sort_unstable();
    numbers
}

impl Collector for EdacCollector {
    fn name(&self) -> &'static str {
        "edac"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        for controller in numbered(&self.dir, "mc") {
            let mc = self.dir.join(format!("mc{controller}"));
            let label = controller.to_string();
            let ce = self.count(&mc.join("ce_count"))?;
            let ue = self.count(&mc.join("ue_count"))?;
            out.push(Sample::new("node_edac_correctable_errors_total", ce).label("controller", label.as_str()));
            out.push(Sample::new("node_edac_uncorrectable_errors_total", ue).label("controller", label.as_str()));
            let ce_unknown = self.count(&mc.join("ce_noinfo_count"))?;
            let ue_unknown = self.count(&mc.join("ue_noinfo_count"))?;
            let mut rows = vec![("unknown".to_string(), ce_unknown, ue_unknown)];
            for csrow in numbered(&mc, "csrow") {
                let row = mc.join(format!("csrow{csrow}"));
                let ce = self.count(&row.join("ce_count"))?;
                let ue = self.count(&row.join("ue_count"))?;
                rows.push((csrow.to_string(), ce, ue));
            }
            for (csrow, ce, ue) in rows {
                out.push(
                    Sample::new("node_edac_csrow_correctable_errors_total", ce)
                        .label("controller", label.as_str())
                        .label("csrow", csrow.as_str()),
                );
                out.push(
                    Sample::new("node_edac_csrow_uncorrectable_errors_total", ue)
                        .label("controller", label.as_str())
                        .label("csrow", csrow),
                );
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
    fn controllers_and_rows() {
        let (_dir, paths) = fixture();
        for (file, n) in [
            ("mc0/ce_count", 3),
            ("mc0/ue_count", 1),
            ("mc0/ce_noinfo_count", 2),
            ("mc0/ue_noinfo_count", 0),
            ("mc0/csrow0/ce_count", 1),
            ("mc0/csrow0/ue_count", 1),
            ("mc0/csrow1/ce_count", 0),
            ("mc0/csrow1/ue_count", 0),
        ] {
            write(&paths.sys, &format!("devices/system/edac/mc/{file}"), &format!("{n}\n"));
        }
        write(&paths.sys, "devices/system/edac/mc/power/x", "");
        let samples = collect(&mut EdacCollector::new(&paths));
        assert_eq!(samples.len(), 2 + 3 * 2);
        assert_eq!(value(&samples, "node_edac_correctable_errors_total", &[("controller", "0")]), Some(3.0));
        assert_eq!(value(&samples, "node_edac_uncorrectable_errors_total", &[("controller", "0")]), Some(1.0));
        let row = |name: &str, csrow: &str| value(&samples, name, &[("controller", "0"), ("csrow", csrow)]);
        assert_eq!(row("node_edac_csrow_correctable_errors_total", "unknown"), Some(2.0));
        assert_eq!(row("node_edac_csrow_uncorrectable_errors_total", "0"), Some(1.0));
        assert_eq!(row("node_edac_csrow_correctable_errors_total", "1"), Some(0.0));
    }

    #[test]
    fn no_edac_is_no_data_but_a_broken_count_is_an_error() {
        let (_dir, paths) = fixture();
        assert!(collect(&mut EdacCollector::new(&paths)).is_empty());
        write(&paths.sys, "devices/system/edac/mc/mc0/ce_count", "many\n");
        assert!(EdacCollector::new(&paths).collect(&mut Vec::new()).is_err());
    }
}
