//! What an uplink needs: the TLS files it connects with, how it fails back, and its spool.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sysmon_spool::WhenFull;

/// A checked uplink configuration.
#[derive(Debug, Clone)]
pub struct UplinkSettings {
    /// The fleet CA certificate (PEM) the upstream aggregator's certificate must chain to.
    pub ca_cert: PathBuf,
    /// This sender's certificate (PEM): an agent's, or an aggregator's for federation.
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The name to check the aggregator's certificate against, instead of the endpoint's host.
    pub server_name: Option<String>,
    /// While on a fallback endpoint, how often the more preferred ones are tried again.
    pub failback_interval: Duration,
    /// The disk spool.
    pub spool: SpoolSettings,
}

/// A checked disk spool configuration.
#[derive(Debug, Clone)]
pub struct SpoolSettings {
    /// The spool directory; created if missing, one sender per directory.
    pub dir: PathBuf,
    /// The most bytes the spool's files may take.
    pub max_bytes: u64,
    /// What happens to the next batch when the spool is full.
    pub when_full: WhenFull,
}

impl SpoolSettings {
    /// The defaults (256 MiB, drop the oldest), with the spool in `dir`.
    pub fn in_dir(dir: PathBuf) -> Self {
        Self { dir, max_bytes: sysmon_spool::DEFAULT_MAX_BYTES, when_full: WhenFull::DropOldest }
    }
}

/// A size in bytes, written in a config file as a number or as a string with a unit.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ByteSize {
    /// A number of bytes.
    Bytes(u64),
    /// A size with a unit, like "256MiB".
    Text(String),
}

impl ByteSize {
    /// The number of bytes: "256MiB", "1GiB", "500MB", "64KiB", "1048576" or "1048576B".
    ///
    /// # Errors
    /// The text is not a size; the message says what a size looks like.
    pub fn bytes(&self) -> Result<u64, String> {
        let text = match self {
            ByteSize::Bytes(n) => return Ok(*n),
            ByteSize::Text(text) => text,
        };
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<u64, String> {
        ByteSize::Text(text.to_string()).bytes()
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse("256MiB"), Ok(256 << 20));
        assert_eq!(parse("500MB"), Ok(500_000_000));
        assert_eq!(parse("64KiB"), Ok(65536));
        assert_eq!(parse("1048576"), Ok(1 << 20));
        assert_eq!(parse("2 GiB"), Ok(2 << 30));
        assert_eq!(ByteSize::Bytes(7).bytes(), Ok(7));
        assert!(parse("lots").is_err());
        assert!(parse("5 MiBs").is_err());
    }
}
