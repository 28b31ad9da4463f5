//! Load averages from /proc/loadavg, as node_exporter's `loadavg` collector.

use std::path::PathBuf;

use super::{Collector, SystemPaths, malformed, parse_field, read_into};
use crate::error::Result;
use crate::sample::Sample;

const NAMES: [&str; 3] = ["node_load1", "node_load5", "node_load15"];

/// Emits `node_load1`, `node_load5` and `node_load15`.
pub(crate) struct LoadavgCollector {
    path: PathBuf,
    buf: String,
}

impl LoadavgCollector {
    pub(crate) fn new(paths: &SystemPaths) -> Self {
        Self { path: paths.proc("loadavg"), buf: String::new() }
    }
}

impl Collector for LoadavgCollector {
    fn name(&self) -> &'static str {
        "loadavg"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        read_into(&self.path, &mut self.buf)?;
        let mut fields = self.buf.split_ascii_whitespace();
        let mut loads = [0.0; 3];
        for (load, name) in loads.iter_mut().zip(NAMES) {
            let field = fields.next().ok_or_else(|| malformed(&self.path, "fewer than 3 load averages"))?;
            *load = parse_field(field, &self.path, name)?;
        }
        out.extend(NAMES.iter().zip(loads).map(|(name, load)| Sample::new(*name, load)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, plain, write};

    #[test]
    fn parses_three_load_averages() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "loadavg", "0.28 0.42 0.20 2/99 5374\n");
        let samples = collect(&mut LoadavgCollector::new(&paths));
        assert_eq!(plain(&samples), [("node_load1", 0.28), ("node_load5", 0.42), ("node_load15", 0.2)]);
    }

    #[test]
    fn short_or_garbled_file_is_an_error() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "loadavg", "0.28 0.42\n");
        let err = LoadavgCollector::new(&paths).collect(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().ends_with("loadavg: fewer than 3 load averages"), "{err}");
        write(&paths.proc, "loadavg", "0.28 high 0.20 2/99 5374\n");
        let err = LoadavgCollector::new(&paths).collect(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().ends_with("loadavg: node_load5: \"high\""), "{err}");
    }

    #[test]
    fn real_proc_loads_are_non_negative() {
        let samples = collect(&mut LoadavgCollector::new(&SystemPaths::default()));
        assert_eq!(samples.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), NAMES);
        assert!(samples.iter().all(|s| s.value >= 0.0));
    }
}
