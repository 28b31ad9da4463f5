//! Collectors: each reads one part of /proc or /sys and turns it into [`Sample`]s named as
//! node_exporter names them.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::sample::Sample;

/// Where the kernel's pseudo-filesystems are mounted; tests point these at fixture trees.
#[derive(Debug, Clone)]
pub struct SystemPaths {
    /// procfs root, normally `/proc`.
    pub proc: PathBuf,
    /// sysfs root, normally `/sys`.
    pub sys: PathBuf,
}

impl Default for SystemPaths {
    fn default() -> Self {
        Self { proc: PathBuf::from("/proc"), sys: PathBuf::from("/sys") }
    }
}

impl SystemPaths {
    /// `/proc/<rel>`.
    pub fn proc(&self, rel: &str) -> PathBuf {
        self.proc.join(rel)
    }
    /// `/sys/<rel>`.
    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sys.join(rel)
    }
}

/// One source of samples.
pub trait Collector: Send {
    /// Short name used in logs and self-metrics, e.g. `"cpu"`.
    fn name(&self) -> &'static str;
    /// Appends this collector's current samples to `out`.
    ///
    /// # Errors
    /// The source could not be read or parsed; other collectors still run.
    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()>;
}

/// Reads a whole pseudo-file into a string.
pub(crate) fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| crate::error::Error::ReadSource { path: path.to_path_buf(), source })
}
