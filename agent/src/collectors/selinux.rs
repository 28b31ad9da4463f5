//! SELinux state from selinuxfs, as node_exporter's `selinux` collector.

use std::path::{Path, PathBuf};

use super::{Collector, SystemPaths, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// Emits `node_selinux_enabled`, and when SELinux is enabled `node_selinux_current_mode` and
/// `node_selinux_config_mode` (1 enforcing, 0 permissive, -1 disabled).
///
/// SELinux counts as enabled when selinuxfs is mounted (its `enforce` file exists); the
/// configured mode is `SELINUX=` in `<rootfs>/etc/selinux/config`.
pub(crate) struct SelinuxCollector {
    enforce: PathBuf,
    config: PathBuf,
    buf: String,
}

impl SelinuxCollector {
    pub(crate) fn new(paths: &SystemPaths, rootfs: &Path) -> Self {
        Self { enforce: paths.sys("fs/selinux/enforce"), config: rootfs.join("etc/selinux/config"), buf: String::new() }
    }
}

impl Collector for SelinuxCollector {
    fn name(&self) -> &'static str {
        "selinux"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        if read_into(&self.enforce, &mut self.buf).is_err() {
            out.push(Sample::new("node_selinux_enabled", 0.0));
            return Ok(());
        }
        let current = if self.buf.trim() == "1" { 1.0 } else { 0.0 };
        out.push(Sample::new("node_selinux_enabled", 1.0));
        // Without a readable config the mode booted with is the best guess, as libselinux does.
        let config = match read_into(&self.config, &mut self.buf) {
            Ok(()) => {
                self.buf.lines().find_map(|l| l.trim().strip_prefix("SELINUX=")).map_or(current, |mode| {
                    match mode.trim() {
                        "enforcing" => 1.0,
                        "permissive" => 0.0,
                        _ => -1.0,
                    }
                })
            }
            Err(_) => current,
        };
        out.push(Sample::new("node_selinux_config_mode", config));
        out.push(Sample::new("node_selinux_current_mode", current));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, plain, write};

    #[test]
    fn disabled_without_selinuxfs() {
        let (dir, paths) = fixture();
        assert_eq!(plain(&collect(&mut SelinuxCollector::new(&paths, dir.path()))), [("node_selinux_enabled", 0.0)]);
    }

    #[test]
    fn modes_when_enabled() {
        let (dir, paths) = fixture();
        write(&paths.sys, "fs/selinux/enforce", "0");
        write(dir.path(), "etc/selinux/config", "# x\nSELINUX=enforcing\nSELINUXTYPE=targeted\n");
        assert_eq!(
            plain(&collect(&mut SelinuxCollector::new(&paths, dir.path()))),
            [("node_selinux_enabled", 1.0), ("node_selinux_config_mode", 1.0), ("node_selinux_current_mode", 0.0)]
        );
    }
}
