//! The kernel's entropy pool from /proc/sys/kernel/random, as node_exporter's `entropy` collector.

use std::path::PathBuf;

use super::{Collector, SystemPaths, parse_field, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// Emits `node_entropy_available_bits` and `node_entropy_pool_size_bits`.
pub(crate) struct EntropyCollector {
    dir: PathBuf,
    buf: String,
}

impl EntropyCollector {
    pub(crate) fn new(paths: &SystemPaths) -> Self {
        Self { dir: paths.proc("sys/kernel/random"), buf: String::new() }
    }
}

impl Collector for EntropyCollector {
    fn name(&self) -> &'static str {
        "entropy"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        for (file, name) in
            [("entropy_avail", "node_entropy_available_bits"), ("poolsize", "node_entropy_pool_size_bits")]
        {
            let path = self.dir.join(file);
            read_into(&path, &mut self.buf)?;
            out.push(Sample::new(name, parse_field::<u64>(self.buf.trim(), &path, file)? as f64));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, plain, write};

    #[test]
    fn reads_available_and_pool_size() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "sys/kernel/random/entropy_avail", "256\n");
        write(&paths.proc, "sys/kernel/random/poolsize", "4096\n");
        assert_eq!(
            plain(&collect(&mut EntropyCollector::new(&paths))),
            [("node_entropy_available_bits", 256.0), ("node_entropy_pool_size_bits", 4096.0)]
        );
    }
}
