//! Sockets in use per protocol from /proc/net/sockstat and sockstat6, as node_exporter's
//! `sockstat` collector.

use std::path::{Path, PathBuf};

use super::{Collector, SystemPaths, malformed, parse_field, read_if_exists, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// Emits `node_sockstat_sockets_used` and `node_sockstat_<PROTOCOL>_<field>` for every
/// protocol line (`TCP_inuse`, `TCP_tw`, `UDP6_inuse`, `FRAG_memory`, ...). A `mem` field is
/// counted in pages; like node_exporter it is also reported in bytes as `<PROTOCOL>_mem_bytes`.
pub(crate) struct SockstatCollector {
    v4: PathBuf,
    v6: PathBuf,
    buf: String,
    page_bytes: f64,
}

impl SockstatCollector {
    pub(crate) fn new(paths: &SystemPaths) -> Self {
        Self {
            v4: paths.proc("net/sockstat"),
            v6: paths.proc("net/sockstat6"),
            buf: String::new(),
            page_bytes: rustix::param::page_size() as f64,
        }
    }
}

impl Collector for SockstatCollector {
    fn name(&self) -> &'static str {
        "sockstat"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        read_into(&self.v4, &mut self.buf)?;
        parse(&self.buf, &self.v4, self.page_bytes, out)?;
        // A kernel without IPv6 has no sockstat6.
        if read_if_exists(&self.v6, &mut self.buf)? {
            parse(&self.buf, &self.v6, self.page_bytes, out)?;
        }
        Ok(())
    }
}

/// Lines like `TCP: inuse 2 orphan 0 tw 0 alloc 2 mem 15`: a protocol, then name-value pairs.
fn parse(text: &str, path: &Path, page_bytes: f64, out: &mut Vec<Sample>) -> Result<()> {
    for line in text.lines() {
        let Some((protocol, pairs)) = line.split_once(':') else { continue };
        // The first line is `sockets: used N`, which node_exporter names `sockets_used`.
        let protocol = if protocol == "sockets" { "sockets" } else { protocol.trim() };
        let mut fields = pairs.split_ascii_whitespace();
        while let Some(field) = fields.next() {
            let value = fields.next().ok_or_else(|| malformed(path, format!("{protocol}: {field} has no value")))?;
            let value = parse_field::<u64>(value, path, field)? as f64;
            out.push(Sample::new(format!("node_sockstat_{protocol}_{field}"), value));
            if field == "mem" {
                out.push(Sample::new(format!("node_sockstat_{protocol}_mem_bytes"), value * page_bytes));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, plain, write};

    #[test]
    fn parses_v4_and_v6_with_mem_in_bytes() {
        let (_dir, paths) = fixture();
        write(
            &paths.proc,
            "net/sockstat",
            "sockets: used 20\nTCP: inuse 2 orphan 0 tw 1 alloc 3 mem 15\nUDP: inuse 0 mem 0\nFRAG: inuse 0 memory 0\n",
        );
        write(&paths.proc, "net/sockstat6", "TCP6: inuse 4\nUDP6: inuse 0\n");
        let mut collector = SockstatCollector::new(&paths);
        collector.page_bytes = 4096.0;
        assert_eq!(
            plain(&collect(&mut collector)),
            [
                ("node_sockstat_sockets_used", 20.0),
                ("node_sockstat_TCP_inuse", 2.0),
                ("node_sockstat_TCP_orphan", 0.0),
                ("node_sockstat_TCP_tw", 1.0),
                ("node_sockstat_TCP_alloc", 3.0),
                ("node_sockstat_TCP_mem", 15.0),
                ("node_sockstat_TCP_mem_bytes", 61440.0),
                ("node_sockstat_UDP_inuse", 0.0),
                ("node_sockstat_UDP_mem", 0.0),
                ("node_sockstat_UDP_mem_bytes", 0.0),
                ("node_sockstat_FRAG_inuse", 0.0),
                ("node_sockstat_FRAG_memory", 0.0),
                ("node_sockstat_TCP6_inuse", 4.0),
                ("node_sockstat_UDP6_inuse", 0.0),
            ]
        );
    }

    #[test]
    fn odd_pairs_are_an_error_and_v6_is_optional() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "net/sockstat", "TCP: inuse\n");
        let err = SockstatCollector::new(&paths).collect(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().ends_with("sockstat: TCP: inuse has no value"), "{err}");
        write(&paths.proc, "net/sockstat", "sockets: used 1\n");
        assert_eq!(collect(&mut SockstatCollector::new(&paths)).len(), 1);
    }
}
