//! The `[spool]` section of `agent.toml`: where the disk spool lives, how big it may grow,
//! and what happens when it is full.

use std::path::PathBuf;

use serde::Deserialize;
use sysmon_config::ConfigError;
use sysmon_spool::WhenFull;

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

/// A size in bytes, written as a number or as a string with a unit.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ByteSize {
    /// A number of bytes.
    Bytes(u64),
    /// A size with a unit, like "256MiB".
    Text(String),
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

/// The checked `[spool]` section.
#[derive(Debug, Clone)]
pub struct SpoolSettings {
    /// See [`SpoolSection::dir`].
    pub dir: PathBuf,
    /// See [`SpoolSection::max_bytes`].
    pub max_bytes: u64,
    /// See [`SpoolSection::when_full`].
    pub when_full: WhenFull,
}

impl SpoolSettings {
    /// The defaults, with the spool in `dir`.
    pub fn in_dir(dir: PathBuf) -> Self {
        Self { dir, max_bytes: sysmon_spool::DEFAULT_MAX_BYTES, when_full: WhenFull::DropOldest }
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
        let max_bytes = match &self.max_bytes {
            ByteSize::Bytes(n) => Ok(*n),
            ByteSize::Text(text) => parse_size(text),
        };
        let max_bytes = match max_bytes {
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

/// Parses "256MiB", "1GiB", "500MB", "64KiB", "1048576" or "1048576B".
fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("must be a size like \"256MiB\", \"1GiB\" or a number of bytes, got {text:?}");
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let number: u64 = digits.parse().map_err(|_| bad())?;
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "KiB" => 1 << 10,
        "MB" => 1000 * 1000,
        "MiB" => 1 << 20,
        "GB" => 1000 * 1000 * 1000,
        "GiB" => 1 << 30,
        "TB" => 1000 * 1000 * 1000 * 1000,
        "TiB" => 1 << 40,
        _ => return Err(bad()),
    };
    number.checked_mul(multiplier).ok_or_else(bad)
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
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("2 GiB"), Ok(2 << 30));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 MiBs").is_err());
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
