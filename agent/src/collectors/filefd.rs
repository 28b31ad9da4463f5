//! System-wide file handles from /proc/sys/fs/file-nr, as node_exporter's `filefd` collector.

use std::path::PathBuf;

use super::{Collector, SystemPaths, malformed, parse_field, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// Emits `node_filefd_allocated` and `node_filefd_maximum`.
pub(crate) struct FilefdCollector {
    path: PathBuf,
    buf: String,
}

impl FilefdCollector {
    pub(crate) fn new(paths: &SystemPaths) -> Self {
        Self { path: paths.proc("sys/fs/file-nr"), buf: String::new() }
    }
}

impl Collector for FilefdCollector {
    fn name(&self) -> &'static str {
        "filefd"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        read_into(&self.path, &mut self.buf)?;
        // "<allocated> <allocated but unused, always 0 since 2.6> <maximum>"
        let fields: Vec<&str> = self.buf.split_ascii_whitespace().collect();
        let [allocated, _, maximum] = fields[..] else {
            return Err(malformed(&self.path, format!("expected 3 numbers, got {:?}", self.buf.trim())));
        };
        out.push(Sample::new("node_filefd_allocated", parse_field::<u64>(allocated, &self.path, "allocated")? as f64));
        out.push(Sample::new("node_filefd_maximum", parse_field::<u64>(maximum, &self.path, "maximum")? as f64));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, plain, write};

    #[test]
    fn parses_allocated_and_maximum() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "sys/fs/file-nr", "525\t0\t2466174\n");
        assert_eq!(
            plain(&collect(&mut FilefdCollector::new(&paths))),
            [("node_filefd_allocated", 525.0), ("node_filefd_maximum", 2466174.0)]
        );
        write(&paths.proc, "sys/fs/file-nr", "525\t0\n");
        let err = FilefdCollector::new(&paths).collect(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().ends_with("file-nr: expected 3 numbers, got \"525\\t0\""), "{err}");
    }
}
