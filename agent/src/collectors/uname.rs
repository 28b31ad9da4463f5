//! Kernel identity from uname(2), as node_exporter's `uname` collector.

use super::Collector;
use crate::error::Result;
use crate::sample::Sample;

/// Emits `node_uname_info{sysname,release,version,machine,nodename,domainname} 1`.
pub(crate) struct UnameCollector;

impl Collector for UnameCollector {
    fn name(&self) -> &'static str {
        "uname"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        // uname(2) cannot fail on Linux; rustix wraps it without unsafe code of ours.
        let uts = rustix::system::uname();
        let text = |s: &std::ffi::CStr| s.to_string_lossy().into_owned();
        out.push(
            Sample::new("node_uname_info", 1.0)
                .label("sysname", text(uts.sysname()))
                .label("release", text(uts.release()))
                .label("version", text(uts.version()))
                .label("machine", text(uts.machine()))
                .label("nodename", text(uts.nodename()))
                .label("domainname", text(uts.domainname())),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::collect;

    #[test]
    fn real_uname_is_linux() {
        let samples = collect(&mut UnameCollector);
        assert_eq!(samples.len(), 1);
        let label = |k: &str| samples[0].labels.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(label("sysname"), "Linux");
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert_eq!(label("release"), release.trim());
    }
}
