//! Virtual memory counters from /proc/vmstat, as node_exporter's `vmstat` collector.

use std::path::PathBuf;

use super::filter::Filter;
use super::{Collector, SystemPaths, malformed, parse_field, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// Emits `node_vmstat_<field>` for every /proc/vmstat field the filter allows; by default, as
/// node_exporter, page faults, paging and swapping (`pgfault`, `pgmajfault`, `pgpgin`,
/// `pgpgout`, `pswpin`, `pswpout`) and `oom_kill`.
pub(crate) struct VmstatCollector {
    path: PathBuf,
    buf: String,
    fields: Filter,
}

impl VmstatCollector {
    pub(crate) fn new(paths: &SystemPaths, fields: Filter) -> Self {
        Self { path: paths.proc("vmstat"), buf: String::new(), fields }
    }
}

impl Collector for VmstatCollector {
    fn name(&self) -> &'static str {
        "vmstat"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        read_into(&self.path, &mut self.buf)?;
        for line in self.buf.lines() {
            let mut parts = line.split_ascii_whitespace();
            let (Some(field), Some(value)) = (parts.next(), parts.next()) else {
                return Err(malformed(&self.path, format!("expected \"name value\", got {line:?}")));
            };
            if self.fields.allows(field) {
                // Some fields (nr_*) are signed on some kernels; read as i64 then f64.
                let value: i64 = parse_field(value, &self.path, field)?;
                out.push(Sample::new(format!("node_vmstat_{field}"), value as f64));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::config::DEFAULT_VMSTAT_FIELDS;
    use crate::collectors::test_util::{collect, fixture, plain, write};

    #[test]
    fn default_fields_are_node_exporters() {
        let (_dir, paths) = fixture();
        write(
            &paths.proc,
            "vmstat",
            "nr_free_pages 2462044\npgpgin 1543780\npgpgout 2134964\npswpin 3\npswpout 4\npgalloc_normal 99\npgfault 15011213\npgmajfault 6789\noom_kill 2\nnr_foo -5\n",
        );
        let filter = Filter::new(Some(DEFAULT_VMSTAT_FIELDS), None).unwrap();
        assert_eq!(
            plain(&collect(&mut VmstatCollector::new(&paths, filter))),
            [
                ("node_vmstat_pgpgin", 1543780.0),
                ("node_vmstat_pgpgout", 2134964.0),
                ("node_vmstat_pswpin", 3.0),
                ("node_vmstat_pswpout", 4.0),
                ("node_vmstat_pgfault", 15011213.0),
                ("node_vmstat_pgmajfault", 6789.0),
                ("node_vmstat_oom_kill", 2.0),
            ]
        );
        let everything = collect(&mut VmstatCollector::new(&paths, Filter::default()));
        assert_eq!(everything.len(), 10);
        assert_eq!(everything[9].value, -5.0);
    }

    #[test]
    fn garbled_line_is_an_error() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "vmstat", "pgfault\n");
        assert!(VmstatCollector::new(&paths, Filter::default()).collect(&mut Vec::new()).is_err());
    }
}
