//! The `[spool]` section of `agent.toml`: where the disk spool lives, how big it may grow,
//! and what happens when it is full.

use std::path::PathBuf;

use serde::Deserialize;
use sysmon_config::ConfigError;
use sysmon_spool::WhenFull;
pub use sysmon_uplink::{ByteSize, SpoolSettings};

/// The smallest `max_bytes` accepted: a few batches.
const MIN_MAX_BYTES: u64 = 64 * 1024;
/// The largest `max_bytes` accepted.
const MAX_MAX_BYTES: u64 = 1 << 40;

/// `[spool]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolSection {
    /// The spool directory; created if missing, one agent per directory. Default
    /// "/var/lib/sysmon-agent/spool" (systemd's `StateDirectory=sysmon-agent`).
    #[serde(default = "default_dir")]
    pub dir: PathBuf,
    /// The most bytes the spool's files may take, 64KiB to 1TiB: a size like "256MiB",
    /// "1GiB", "500MB" or a number of bytes. Default "256MiB".
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    /// When the next batch does not fit: "drop_oldest" drops the oldest batches (counted,
    /// logged and reported to the aggregator as a `spool_dropped` event), "block" pauses
    /// collection until the aggregator acknowledges batches. Default "drop_oldest".
    #[serde(default = "default_when_full")]
    pub when_full: String,
}

fn default_dir() -> PathBuf {
    PathBuf::from("/var/lib/sysmon-agent/spool")
}
fn default_max_bytes() -> ByteSize {
    ByteSize::Text("256MiB".into())
}
fn default_when_full() -> String {
    "drop_oldest".into()
}

impl Default for SpoolSection {
    fn default() -> Self {
        Self { dir: default_dir(), max_bytes: default_max_bytes(), when_full: default_when_full() }
    }
}

impl SpoolSection {
    /// Checks every key, pushing one error per bad one.
    pub(crate) fn validate(self, errors: &mut Vec<ConfigError>) -> Option<SpoolSettings> {
        let before = errors.len();
        if self.dir.as_os_str().is_empty() {
            errors.push(ConfigError::key("spool.dir", "must not be empty"));
        } else if self.dir.is_file() {
            errors.push(ConfigError::key("spool.dir", format!("{} is a file, not a directory", self.dir.display())));
        }
        let max_bytes = match self.max_bytes.bytes() {
            Ok(n) if (MIN_MAX_BYTES..=MAX_MAX_BYTES).contains(&n) => n,
            Ok(n) => {
                errors.push(ConfigError::key(
                    "spool.max_bytes",
                    format!("must be between 64KiB and 1TiB, got {n} bytes"),
                ));
                0
            }
            Err(reason) => {
                errors.push(ConfigError::key("spool.max_bytes", reason));
                0
            }
        };
        let when_full = match self.when_full.as_str() {
            "drop_oldest" => WhenFull::DropOldest,
            "block" => WhenFull::Block,
            other => {
                errors.push(ConfigError::key(
                    "spool.when_full",
                    format!("must be \"drop_oldest\" or \"block\", got {other:?}"),
                ));
                WhenFull::DropOldest
            }
        };
        (errors.len() == before).then_some(SpoolSettings { dir: self.dir, max_bytes, when_full })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<SpoolSettings, Vec<String>> {
        let section: SpoolSection = sysmon_config::parse(text, []).unwrap();
        let mut errors = Vec::new();
        section.validate(&mut errors).ok_or_else(|| errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn defaults_and_numbers() {
        let s = check("").unwrap();
        assert_eq!((s.max_bytes, s.when_full), (256 << 20, WhenFull::DropOldest));
        let s = check("max_bytes = 1048576\nwhen_full = \"block\"\ndir = \"/tmp/x\"").unwrap();
        assert_eq!((s.max_bytes, s.when_full, s.dir), (1 << 20, WhenFull::Block, PathBuf::from("/tmp/x")));
    }

    #[test]
    fn every_bad_value_names_its_key() {
        assert_eq!(
            check("max_bytes = \"lots\"\nwhen_full = \"panic\"").unwrap_err(),
            [
                "spool.max_bytes: must be a size like \"256MiB\", \"1GiB\" or a number of bytes, got \"lots\"",
                "spool.when_full: must be \"drop_oldest\" or \"block\", got \"panic\"",
            ]
        );
        assert_eq!(
            check("max_bytes = \"1KiB\"").unwrap_err(),
            ["spool.max_bytes: must be between 64KiB and 1TiB, got 1024 bytes"]
        );
    }
}
