//! The aggregator's configuration (`aggregator.toml`): raw TOML structs, then
//! [`AggregatorConfig::validate`] into checked [`Settings`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sysmon_config::ConfigError;
use sysmon_federation::{DiscoveryConfig, DiscoverySettings, Role};

use crate::alerting_config::{AlertingSection, AlertingSettings};
use crate::federation_config::{FederationSection, FederationSettings};
use crate::recording_config::{RecordingSection, RecordingSettings};

/// `aggregator.toml` as written. Every key is documented in `deploy/aggregator.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregatorConfig {
    /// `[aggregator]`: identity, listeners, storage.
    #[serde(default)]
    pub aggregator: AggregatorSection,
    /// `[tls]`: the fleet CA and this aggregator's certificate.
    pub tls: TlsSection,
    /// `[limits]`: what a batch may hold.
    #[serde(default)]
    pub limits: LimitsSection,
    /// `[storage]`: retention per tier.
    #[serde(default)]
    pub storage: StorageSection,
    /// `[query]`: what one PromQL query may cost.
    #[serde(default)]
    pub query: QuerySection,
    /// `[discovery]`: how this aggregator finds its master, and how it makes itself findable.
    #[serde(default)]
    pub discovery: DiscoveryConfig,
    /// `[federation]`: replication to the master, and the regions below a master.
    #[serde(default)]
    pub federation: FederationSection,
    /// `[alerting]`: alerting rules and how often they are evaluated.
    #[serde(default)]
    pub alerting: AlertingSection,
    /// `[recording]`: recording rules and how often they are evaluated.
    #[serde(default)]
    pub recording: RecordingSection,
}

/// `[storage]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// How long raw samples are kept. Default "15d".
    #[serde(default = "default_raw_retention")]
    pub raw_retention: String,
    /// How old a 2-hour time partition must be before its 1-minute and 1-hour rollups are
    /// written from its raw samples (by the background retention pass); until then queries
    /// read raw samples there. Default: `raw_retention` (rollups are written just before the
    /// raw samples expire); set it lower (e.g. "2h", at most `raw_retention`) for fast
    /// long-range queries within the raw retention, at the cost of storing both.
    #[serde(default)]
    pub rollup_after: Option<String>,
    /// How long 1-minute rollups are kept. Default "90d"; "0s" disables the tier (nothing is
    /// rolled up into it and queries read raw samples instead).
    #[serde(default = "default_minute_retention")]
    pub minute_retention: String,
    /// How long 1-hour rollups are kept. Default "730d"; "0s" disables the tier.
    #[serde(default = "default_hour_retention")]
    pub hour_retention: String,
}

/// `[query]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuerySection {
    /// Most samples one query may hold in memory. Default 50000000.
    #[serde(default = "default_max_samples")]
    pub max_samples: usize,
    /// Most series one selector may match. Default 100000.
    #[serde(default = "default_max_series_per_selector")]
    pub max_series_per_selector: usize,
    /// Longest a query may run. Default "2m".
    #[serde(default = "default_query_timeout")]
    pub timeout: String,
    /// Queries evaluated at once; more wait for a slot (up to `timeout`). Default 20.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
}

/// `[aggregator]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregatorSection {
    /// "regional": agents report to it, and it replicates to a master when `[discovery]`
    /// names one; "master": regionals (and masters below it) report to it, agents do not.
    /// Default "regional".
    #[serde(default = "default_role")]
    pub role: String,
    /// The region this aggregator serves; stamped on every series as `region`. Default "default".
    #[serde(default = "default_region")]
    pub region: String,
    /// Where the store (`sysmon.redb`) lives. Default "/var/lib/sysmon".
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// gRPC listener for agents (mutual TLS). Default "127.0.0.1:9801".
    #[serde(default = "default_grpc_listen")]
    pub grpc_listen: String,
    /// HTTP listener: dashboard, JSON API, health. Default "127.0.0.1:9800".
    #[serde(default = "default_http_listen")]
    pub http_listen: String,
    /// Most batches written in one group commit. Default 512.
    #[serde(default = "default_max_group_batches")]
    pub max_group_batches: usize,
}

/// `[tls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// The fleet CA certificate (PEM); agents must present a certificate it signed.
    pub ca_cert: PathBuf,
    /// This aggregator's certificate (PEM), from `sysmon certs issue --server NAME`.
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Most samples in one batch. Default 100000.
    #[serde(default = "default_max_batch_samples")]
    pub max_batch_samples: usize,
    /// Most series in one batch. Default 50000.
    #[serde(default = "default_max_batch_series")]
    pub max_batch_series: usize,
    /// Most labels on one series, `__name__` included. Default 32.
    #[serde(default = "default_max_labels_per_series")]
    pub max_labels_per_series: usize,
    /// Longest label value in bytes. Default 4096.
    #[serde(default = "default_max_label_value_bytes")]
    pub max_label_value_bytes: usize,
    /// How far ahead of the aggregator's clock a sample may be. Default "10m".
    #[serde(default = "default_max_future_skew")]
    pub max_future_skew: String,
}

fn default_raw_retention() -> String {
    "15d".into()
}
fn default_minute_retention() -> String {
    "90d".into()
}
fn default_hour_retention() -> String {
    "730d".into()
}
const fn default_max_samples() -> usize {
    50_000_000
}
const fn default_max_series_per_selector() -> usize {
    100_000
}
fn default_query_timeout() -> String {
    "2m".into()
}
const fn default_max_concurrent() -> usize {
    20
}

impl Default for StorageSection {
    fn default() -> Self {
        Self {
            raw_retention: default_raw_retention(),
            rollup_after: None,
            minute_retention: default_minute_retention(),
            hour_retention: default_hour_retention(),
        }
    }
}

impl Default for QuerySection {
    fn default() -> Self {
        Self {
            max_samples: default_max_samples(),
            max_series_per_selector: default_max_series_per_selector(),
            timeout: default_query_timeout(),
            max_concurrent: default_max_concurrent(),
        }
    }
}

fn default_role() -> String {
    "regional".into()
}
fn default_region() -> String {
    "default".into()
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/sysmon")
}
fn default_grpc_listen() -> String {
    "127.0.0.1:9801".into()
}
fn default_http_listen() -> String {
    "127.0.0.1:9800".into()
}
const fn default_max_group_batches() -> usize {
    512
}
const fn default_max_batch_samples() -> usize {
    100_000
}
const fn default_max_batch_series() -> usize {
    50_000
}
const fn default_max_labels_per_series() -> usize {
    32
}
const fn default_max_label_value_bytes() -> usize {
    4096
}
fn default_max_future_skew() -> String {
    "10m".into()
}

impl Default for AggregatorSection {
    fn default() -> Self {
        Self {
            role: default_role(),
            region: default_region(),
            data_dir: default_data_dir(),
            grpc_listen: default_grpc_listen(),
            http_listen: default_http_listen(),
            max_group_batches: default_max_group_batches(),
        }
    }
}

impl Default for LimitsSection {
    fn default() -> Self {
        Self {
            max_batch_samples: default_max_batch_samples(),
            max_batch_series: default_max_batch_series(),
            max_labels_per_series: default_max_labels_per_series(),
            max_label_value_bytes: default_max_label_value_bytes(),
            max_future_skew: default_max_future_skew(),
        }
    }
}

/// A checked configuration: everything the aggregator needs, nothing optional.
#[derive(Debug, Clone)]
pub struct Settings {
    /// See [`AggregatorSection::role`].
    pub role: Role,
    /// See [`AggregatorSection::region`].
    pub region: String,
    /// See [`AggregatorSection::data_dir`].
    pub data_dir: PathBuf,
    /// gRPC listener (port 0 picks a free port).
    pub grpc_listen: SocketAddr,
    /// HTTP listener (port 0 picks a free port).
    pub http_listen: SocketAddr,
    /// See [`AggregatorSection::max_group_batches`].
    pub max_group_batches: usize,
    /// The fleet CA certificate.
    pub ca_cert: PathBuf,
    /// This aggregator's certificate.
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
    /// Batch limits.
    pub limits: Limits,
    /// Retention per tier.
    pub retention: Retention,
    /// What one query may cost.
    pub query: sysmon_promql::QueryLimits,
    /// See [`QuerySection::max_concurrent`].
    pub max_concurrent_queries: usize,
    /// Where the master is (static endpoints: none means no master), and how to announce.
    pub discovery: DiscoverySettings,
    /// Replication and region settings.
    pub federation: FederationSettings,
    /// Alerting rules.
    pub alerting: AlertingSettings,
    /// Recording rules.
    pub recording: RecordingSettings,
}

/// Checked retention per tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw samples.
    pub raw: Duration,
    /// See [`StorageSection::rollup_after`]; `None`: `raw`.
    pub rollup_after: Option<Duration>,
    /// 1-minute rollups.
    pub minute: Duration,
    /// 1-hour rollups.
    pub hour: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        let day = Duration::from_secs(86_400);
        Retention { raw: day * 15, rollup_after: None, minute: day * 90, hour: day * 730 }
    }
}

/// Checked batch limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// See [`LimitsSection::max_batch_samples`].
    pub max_batch_samples: usize,
    /// See [`LimitsSection::max_batch_series`].
    pub max_batch_series: usize,
    /// See [`LimitsSection::max_labels_per_series`].
    pub max_labels_per_series: usize,
    /// See [`LimitsSection::max_label_value_bytes`].
    pub max_label_value_bytes: usize,
    /// See [`LimitsSection::max_future_skew`], in milliseconds.
    pub max_future_skew_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_batch_samples: default_max_batch_samples(),
            max_batch_series: default_max_batch_series(),
            max_labels_per_series: default_max_labels_per_series(),
            max_label_value_bytes: default_max_label_value_bytes(),
            max_future_skew_ms: 600_000,
        }
    }
}

impl AggregatorConfig {
    /// Loads `path` with `SYSMON_*` overrides from the process environment, then validates it.
    ///
    /// # Errors
    /// Every problem found, each naming its key (and line, when known).
    pub fn load(path: &Path) -> Result<Settings, Vec<ConfigError>> {
        let config: AggregatorConfig = sysmon_config::load(path, std::env::vars()).map_err(|e| vec![e])?;
        config
            .validate()
            .map_err(|errors| errors.into_iter().map(|e| ConfigError { file: Some(path.to_path_buf()), ..e }).collect())
    }

    /// Checks every value and returns the settings, or every problem at once.
    ///
    /// # Errors
    /// One [`ConfigError`] per bad key.
    pub fn validate(self) -> Result<Settings, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let a = &self.aggregator;
        let role = match a.role.parse::<Role>() {
            Ok(role) => Some(role),
            Err(reason) => {
                errors.push(ConfigError::key("aggregator.role", reason.replace("role must", "must")));
                None
            }
        };
        if a.region.is_empty() || a.region.contains('\0') {
            errors.push(ConfigError::key("aggregator.region", "must be a non-empty name"));
        }
        let mut addr = |key: &str, value: &str| match value.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                errors.push(ConfigError::key(
                    key,
                    format!("must be an IP address and port like 127.0.0.1:9801, got {value:?}"),
                ));
                None
            }
        };
        let grpc_listen = addr("aggregator.grpc_listen", &a.grpc_listen);
        let http_listen = addr("aggregator.http_listen", &a.http_listen);
        if a.max_group_batches == 0 {
            errors.push(ConfigError::key("aggregator.max_group_batches", "must be at least 1"));
        }
        let l = &self.limits;
        for (key, value) in [
            ("limits.max_batch_samples", l.max_batch_samples),
            ("limits.max_batch_series", l.max_batch_series),
            ("limits.max_labels_per_series", l.max_labels_per_series),
            ("limits.max_label_value_bytes", l.max_label_value_bytes),
        ] {
            if value == 0 {
                errors.push(ConfigError::key(key, "must be at least 1"));
            }
        }
        let skew = match humantime::parse_duration(&l.max_future_skew) {
            Ok(d) => Some(d),
            Err(e) => {
                errors.push(ConfigError::key(
                    "limits.max_future_skew",
                    format!("must be a duration like \"10m\", got {:?} ({e})", l.max_future_skew),
                ));
                None
            }
        };
        let mut duration = |key: &str, value: &str| match humantime::parse_duration(value) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                errors.push(ConfigError::key(key, "must be longer than zero"));
                None
            }
            Err(e) => {
                errors.push(ConfigError::key(key, format!("must be a duration like \"15d\", got {value:?} ({e})")));
                None
            }
        };
        let st = &self.storage;
        let raw = duration("storage.raw_retention", &st.raw_retention);
        let q = &self.query;
        let timeout = duration("query.timeout", &q.timeout);
        // A tier's retention may be zero: the tier is disabled.
        let mut tier_duration = |key: &str, value: &str| match humantime::parse_duration(value) {
            Ok(d) => Some(d),
            Err(e) => {
                errors.push(ConfigError::key(key, format!("must be a duration like \"90d\", got {value:?} ({e})")));
                None
            }
        };
        let rollup_after = st.rollup_after.as_deref().and_then(|value| tier_duration("storage.rollup_after", value));
        let minute = tier_duration("storage.minute_retention", &st.minute_retention);
        let hour = tier_duration("storage.hour_retention", &st.hour_retention);
        if let (Some(raw), Some(after)) = (raw, rollup_after)
            && after > raw
        {
            errors.push(ConfigError::key(
                "storage.rollup_after",
                format!(
                    "must be at most raw_retention ({}), got {}",
                    humantime::format_duration(raw),
                    humantime::format_duration(after)
                ),
            ));
        }
        if let (Some(raw), Some(minute), Some(hour)) = (raw, minute, hour) {
            // Queries read a coarser tier where it answers exactly; it must reach at least as far
            // back. Disabled tiers are left out of the comparison.
            let kept: Vec<Duration> = [raw, minute, hour].into_iter().filter(|d| !d.is_zero()).collect();
            if kept.windows(2).any(|w| w[0] > w[1]) {
                errors.push(ConfigError::key(
                    "storage.minute_retention",
                    "retentions must not shrink with coarser tiers: raw_retention <= minute_retention <= hour_retention (0s disables a tier)",
                ));
            }
        }
        for (key, value) in [
            ("query.max_samples", q.max_samples),
            ("query.max_series_per_selector", q.max_series_per_selector),
            ("query.max_concurrent", q.max_concurrent),
        ] {
            if value == 0 {
                errors.push(ConfigError::key(key, "must be at least 1"));
            }
        }
        let discovery = match self.discovery.validate() {
            Ok(discovery) => Some(discovery),
            Err(discovery_errors) => {
                errors.extend(discovery_errors);
                None
            }
        };
        let federation = self.federation.validate(grpc_listen, role, &mut errors);
        let alerting = self.alerting.validate(&mut errors);
        let recording = self.recording.validate(&mut errors);
        for (key, path) in
            [("tls.ca_cert", &self.tls.ca_cert), ("tls.cert", &self.tls.cert), ("tls.key", &self.tls.key)]
        {
            if !path.is_file() {
                errors.push(ConfigError::key(key, format!("no such file: {}", path.display())));
            }
        }
        let rules = alerting.zip(recording);
        match (grpc_listen, http_listen, skew, raw, minute, hour, timeout, role, discovery, federation, rules) {
            (
                Some(grpc_listen),
                Some(http_listen),
                Some(skew),
                Some(raw),
                Some(minute),
                Some(hour),
                Some(timeout),
                Some(role),
                Some(discovery),
                Some(federation),
                Some((alerting, recording)),
            ) if errors.is_empty() => Ok(Settings {
                role,
                region: self.aggregator.region,
                data_dir: self.aggregator.data_dir,
                grpc_listen,
                http_listen,
                max_group_batches: self.aggregator.max_group_batches,
                ca_cert: self.tls.ca_cert,
                cert: self.tls.cert,
                key: self.tls.key,
                limits: Limits {
                    max_batch_samples: l.max_batch_samples,
                    max_batch_series: l.max_batch_series,
                    max_labels_per_series: l.max_labels_per_series,
                    max_label_value_bytes: l.max_label_value_bytes,
                    max_future_skew_ms: duration_ms(skew),
                },
                retention: Retention { raw, rollup_after, minute, hour },
                query: sysmon_promql::QueryLimits {
                    max_samples: q.max_samples,
                    max_series_per_selector: q.max_series_per_selector,
                    timeout,
                },
                max_concurrent_queries: q.max_concurrent,
                discovery,
                federation,
                alerting,
                recording,
            }),
            _ => Err(errors),
        }
    }
}

/// A duration key's value within `min..=max`; otherwise `None` and an error naming the key,
/// with `example` as the form a duration takes.
pub(crate) fn bounded_duration(
    key: &str,
    value: &str,
    example: &str,
    (min, max): (Duration, Duration),
    errors: &mut Vec<ConfigError>,
) -> Option<Duration> {
    match humantime::parse_duration(value) {
        Ok(d) if d >= min && d <= max => Some(d),
        Ok(d) => {
            errors.push(ConfigError::key(
                key,
                format!(
                    "must be between {} and {}, got {}",
                    humantime::format_duration(min),
                    humantime::format_duration(max),
                    humantime::format_duration(d)
                ),
            ));
            None
        }
        Err(e) => {
            errors.push(ConfigError::key(key, format!("must be a duration like {example:?}, got {value:?} ({e})")));
            None
        }
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_value_is_reported_with_its_key() {
        let text = r#"
[aggregator]
grpc_listen = "localhost"
max_group_batches = 0
[tls]
ca_cert = "/nonexistent/ca.pem"
cert = "/nonexistent/server.pem"
key = "/nonexistent/server-key.pem"
[limits]
max_future_skew = "soon"
[storage]
raw_retention = "0s"
[query]
max_concurrent = 0
"#;
        let config: AggregatorConfig = sysmon_config::parse(text, []).unwrap();
        let errors: Vec<String> = config.validate().unwrap_err().iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "aggregator.grpc_listen: must be an IP address and port like 127.0.0.1:9801, got \"localhost\"",
                "aggregator.max_group_batches: must be at least 1",
                "limits.max_future_skew: must be a duration like \"10m\", got \"soon\" (expected number at 0)",
                "storage.raw_retention: must be longer than zero",
                "query.max_concurrent: must be at least 1",
                "tls.ca_cert: no such file: /nonexistent/ca.pem",
                "tls.cert: no such file: /nonexistent/server.pem",
                "tls.key: no such file: /nonexistent/server-key.pem",
            ]
        );
    }

    #[test]
    fn a_typo_names_its_line() {
        let err = sysmon_config::parse::<AggregatorConfig>("[aggregator]\nregoin = \"eu\"\n", []).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.starts_with("unknown field `regoin`"), "{}", err.message);
    }

    #[test]
    fn a_zero_tier_retention_disables_the_tier_and_coarser_tiers_must_not_shrink() {
        let storage_errors = |storage: &str| -> Vec<String> {
            let tls = "[tls]\nca_cert = \"/nonexistent/ca.pem\"\ncert = \"/nonexistent/s.pem\"\nkey = \"/nonexistent/k.pem\"\n";
            let text = format!("{tls}[storage]\n{storage}\n");
            let config: AggregatorConfig = sysmon_config::parse(&text, []).unwrap();
            // The TLS files do not exist: only storage errors count.
            config
                .validate()
                .unwrap_err()
                .iter()
                .map(ToString::to_string)
                .filter(|e| e.starts_with("storage."))
                .collect()
        };
        assert!(storage_errors("minute_retention = \"0s\"\nhour_retention = \"0s\"").is_empty());
        assert!(storage_errors("raw_retention = \"30d\"\nminute_retention = \"0s\"").is_empty());
        assert_eq!(
            storage_errors("raw_retention = \"30d\"\nminute_retention = \"0s\"\nhour_retention = \"7d\""),
            [
                "storage.minute_retention: retentions must not shrink with coarser tiers: raw_retention <= minute_retention <= hour_retention (0s disables a tier)"
            ]
        );
        assert_eq!(
            storage_errors("hour_retention = \"forever\""),
            ["storage.hour_retention: must be a duration like \"90d\", got \"forever\" (expected number at 0)"]
        );
        assert!(storage_errors("rollup_after = \"2h\"").is_empty());
        assert_eq!(
            storage_errors("raw_retention = \"1d\"\nrollup_after = \"2d\""),
            ["storage.rollup_after: must be at most raw_retention (1day), got 2days"]
        );
    }

    #[test]
    fn rollup_after_defaults_to_the_raw_retention_and_the_environment_sets_it() {
        let text = "[tls]\nca_cert = \"/\"\ncert = \"/\"\nkey = \"/\"\n[storage]\n";
        let config: AggregatorConfig = sysmon_config::parse(text, []).unwrap();
        assert_eq!(config.storage.rollup_after, None);
        let env = [("SYSMON_STORAGE_ROLLUP_AFTER".to_string(), "2h".to_string())];
        let config: AggregatorConfig = sysmon_config::parse(text, env).unwrap();
        assert_eq!(config.storage.rollup_after.as_deref(), Some("2h"));
    }

    #[test]
    fn the_documented_example_parses() {
        let example = include_str!("../../deploy/aggregator.toml");
        sysmon_config::parse::<AggregatorConfig>(example, []).unwrap();
    }
}
