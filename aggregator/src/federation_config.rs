//! The `[federation]` section of `aggregator.toml`: how a regional replicates to its master
//! and how a master treats the regions below it. Where the master is comes from
//! `[discovery]` (a static list, mDNS, Consul or DNS SRV).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use sysmon_config::ConfigError;
use sysmon_federation::Role;
use sysmon_uplink::ByteSize;

use crate::config::bounded_duration;
use crate::federation::ReplicationFilter;

/// `[federation]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationSection {
    /// This aggregator's gRPC endpoint as the aggregators above it (and agents, when it is
    /// announced) reach it, like "https://agg-eu1.example.com:9801": its master reads raw
    /// samples from it here for drill-down queries. Default: `https://` + `grpc_listen`,
    /// which must then not be a wildcard address.
    #[serde(default)]
    pub advertise: Option<String>,
    /// The name the master's certificate is checked against, instead of the endpoint's host.
    /// Default: the host.
    #[serde(default)]
    pub server_name: Option<String>,
    /// How often a regional spools its new 1-minute rollups for its master, 1s to 1h.
    /// Default "60s".
    #[serde(default = "default_interval")]
    pub interval: String,
    /// How long after a minute ends it is first spooled, so that batches collected in it
    /// have arrived (a later sample for it is spooled again with its minute). Default "15s".
    #[serde(default = "default_delay")]
    pub delay: String,
    /// How far back a regional's first replication starts. Default "1h".
    #[serde(default = "default_backfill")]
    pub backfill: String,
    /// On a master: a region not heard from for this long is unreachable, and its hosts'
    /// status unknown. At least twice `interval`. Default "3m".
    #[serde(default = "default_region_timeout")]
    pub region_timeout: String,
    /// On a master: how long a drill-down read of one region may take before the answer
    /// goes without it (partial, with a warning). Default "30s".
    #[serde(default = "default_query_timeout")]
    pub query_timeout: String,
    /// The most bytes the spool of rollups not yet acknowledged by the master may take
    /// (in `<data_dir>/federation/spool`): when it is full, replication waits, it never drops
    /// (the raw samples stay in this aggregator's store). Default "1GiB".
    #[serde(default = "default_spool_max_bytes")]
    pub spool_max_bytes: ByteSize,
    /// While on a fallback master endpoint, how often the preferred ones are tried again.
    /// Default "1m".
    #[serde(default = "default_failback_interval")]
    pub failback_interval: String,
    /// On a regional: which series go upward, as PromQL series selectors (like Prometheus's
    /// `/federate?match[]=`); a series is replicated when any selector matches it, e.g.
    /// `['{__name__=~"node_(load1|memory_.+|filesystem_.+)"}', 'node_cpu_seconds_total{mode="idle"}']`.
    /// The master answers a query from its own tiers only when these selectors cover it, and
    /// otherwise reads the regions' raw samples. Default: every series.
    #[serde(default)]
    pub replicate: Vec<String>,
}

fn default_interval() -> String {
    "60s".into()
}
fn default_delay() -> String {
    "15s".into()
}
fn default_backfill() -> String {
    "1h".into()
}
fn default_region_timeout() -> String {
    "3m".into()
}
fn default_query_timeout() -> String {
    "30s".into()
}
fn default_spool_max_bytes() -> ByteSize {
    ByteSize::Text("1GiB".into())
}
fn default_failback_interval() -> String {
    "1m".into()
}

impl Default for FederationSection {
    fn default() -> Self {
        Self {
            advertise: None,
            server_name: None,
            interval: default_interval(),
            delay: default_delay(),
            backfill: default_backfill(),
            region_timeout: default_region_timeout(),
            query_timeout: default_query_timeout(),
            spool_max_bytes: default_spool_max_bytes(),
            failback_interval: default_failback_interval(),
            replicate: Vec::new(),
        }
    }
}

/// The checked `[federation]` section.
#[derive(Debug, Clone)]
pub struct FederationSettings {
    /// See [`FederationSection::advertise`] (derived from `grpc_listen` when not set; `None`
    /// when that is a wildcard address).
    pub advertise: Option<String>,
    /// See [`FederationSection::server_name`].
    pub server_name: Option<String>,
    /// See [`FederationSection::interval`].
    pub interval: Duration,
    /// See [`FederationSection::delay`].
    pub delay: Duration,
    /// See [`FederationSection::backfill`].
    pub backfill: Duration,
    /// See [`FederationSection::region_timeout`].
    pub region_timeout: Duration,
    /// See [`FederationSection::query_timeout`].
    pub query_timeout: Duration,
    /// See [`FederationSection::spool_max_bytes`].
    pub spool_max_bytes: u64,
    /// See [`FederationSection::failback_interval`].
    pub failback_interval: Duration,
    /// See [`FederationSection::replicate`] (checked: each a valid series selector).
    pub replicate: Vec<String>,
}

impl Default for FederationSettings {
    fn default() -> Self {
        FederationSection::default().validate(None, None, &mut Vec::new()).expect("the defaults are valid")
    }
}

impl FederationSection {
    /// Checks every key, pushing one error per bad one.
    pub(crate) fn validate(
        self,
        grpc_listen: Option<SocketAddr>,
        role: Option<Role>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<FederationSettings> {
        let before = errors.len();
        let mut duration = |key: &str, value: &str, min: Duration, max: Duration| {
            bounded_duration(key, value, "60s", (min, max), errors)
        };
        let (second, hour, year) =
            (Duration::from_secs(1), Duration::from_secs(3600), Duration::from_secs(365 * 86_400));
        let interval = duration("federation.interval", &self.interval, second, hour);
        let delay = duration("federation.delay", &self.delay, Duration::ZERO, hour);
        let backfill = duration("federation.backfill", &self.backfill, Duration::ZERO, year);
        let region_timeout = duration("federation.region_timeout", &self.region_timeout, second, 24 * hour);
        let query_timeout = duration("federation.query_timeout", &self.query_timeout, second, hour);
        let failback_interval = duration("federation.failback_interval", &self.failback_interval, second, 24 * hour);
        if let (Some(interval), Some(timeout)) = (interval, region_timeout)
            && timeout < interval * 2
        {
            errors.push(ConfigError::key(
                "federation.region_timeout",
                format!(
                    "must be at least twice federation.interval ({}), got {}",
                    humantime::format_duration(interval),
                    humantime::format_duration(timeout)
                ),
            ));
        }
        let spool_max_bytes = match self.spool_max_bytes.bytes() {
            Ok(n) if n >= 1 << 20 => Some(n),
            Ok(n) => {
                errors.push(ConfigError::key(
                    "federation.spool_max_bytes",
                    format!("must be at least 1MiB, got {n} bytes"),
                ));
                None
            }
            Err(reason) => {
                errors.push(ConfigError::key("federation.spool_max_bytes", reason));
                None
            }
        };
        let advertise = match self.advertise {
            Some(url) => match check_endpoint(&url) {
                Ok(()) => Some(url),
                Err(reason) => {
                    errors.push(ConfigError::key("federation.advertise", reason));
                    None
                }
            },
            None => grpc_listen.filter(|a| !a.ip().is_unspecified()).map(|a| format!("https://{a}")),
        };
        if let Err((i, reason)) = ReplicationFilter::parse(&self.replicate) {
            errors.push(ConfigError::key(&format!("federation.replicate[{i}]"), reason));
        } else if role == Some(Role::Master) && !self.replicate.is_empty() {
            errors.push(ConfigError::key(
                "federation.replicate",
                "applies to a regional; a master sends upward everything its regions send it",
            ));
        }
        if errors.len() > before {
            return None;
        }
        Some(FederationSettings {
            advertise,
            server_name: self.server_name,
            interval: interval?,
            delay: delay?,
            backfill: backfill?,
            region_timeout: region_timeout?,
            query_timeout: query_timeout?,
            spool_max_bytes: spool_max_bytes?,
            failback_interval: failback_interval?,
            replicate: self.replicate,
        })
    }
}

/// Whether `url` is an `https://host:port` endpoint.
fn check_endpoint(url: &str) -> Result<(), String> {
    let rest = url.strip_prefix("https://").ok_or_else(|| {
        format!("must be an https:// endpoint like \"https://agg-eu1.example.com:9801\", got {url:?}")
    })?;
    let port = rest.rsplit_once(':').map(|(_, p)| p);
    if port.is_none_or(|p| p.parse::<u16>().is_err()) {
        return Err(format!("must name a port, like \"https://agg-eu1.example.com:9801\", got {url:?}"));
    }
    Ok(())
}

/// Where a federating aggregator keeps its spool and replication cursor.
pub(crate) fn federation_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("federation")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, grpc: &str) -> Result<FederationSettings, Vec<String>> {
        let section: FederationSection = sysmon_config::parse(text, []).unwrap();
        let mut errors = Vec::new();
        section
            .validate(Some(grpc.parse().unwrap()), Some(Role::Regional), &mut errors)
            .ok_or_else(|| errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn defaults_and_a_derived_advertise_endpoint() {
        let s = check("", "127.0.0.1:9801").unwrap();
        assert_eq!(s.advertise.as_deref(), Some("https://127.0.0.1:9801"));
        assert_eq!(
            (s.interval, s.delay, s.spool_max_bytes),
            (Duration::from_secs(60), Duration::from_secs(15), 1 << 30)
        );
        assert_eq!(check("", "0.0.0.0:9801").unwrap().advertise, None);
    }

    #[test]
    fn every_bad_value_names_its_key() {
        assert_eq!(
            check(
                "interval = \"0s\"\nregion_timeout = \"90s\"\nadvertise = \"agg:9801\"\nspool_max_bytes = \"1KiB\"\nbackfill = \"soon\"",
                "127.0.0.1:9801"
            )
            .unwrap_err(),
            [
                "federation.interval: must be between 1s and 1h, got 0s",
                "federation.backfill: must be a duration like \"60s\", got \"soon\" (expected number at 0)",
                "federation.spool_max_bytes: must be at least 1MiB, got 1024 bytes",
                "federation.advertise: must be an https:// endpoint like \"https://agg-eu1.example.com:9801\", got \"agg:9801\"",
            ]
        );
        assert_eq!(
            check("interval = \"60s\"\nregion_timeout = \"90s\"", "127.0.0.1:9801").unwrap_err(),
            ["federation.region_timeout: must be at least twice federation.interval (1m), got 1m 30s"]
        );
        assert_eq!(
            check("replicate = ['node_load1', 'sum(x)']", "127.0.0.1:9801").unwrap_err(),
            ["federation.replicate[1]: \"sum(x)\" is not a series selector"]
        );
        assert_eq!(check("replicate = ['node_load1']", "127.0.0.1:9801").unwrap().replicate, ["node_load1"]);
        let section: FederationSection = sysmon_config::parse("replicate = ['node_load1']", []).unwrap();
        let mut errors = Vec::new();
        assert!(section.validate(None, Some(Role::Master), &mut errors).is_none());
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["federation.replicate: applies to a regional; a master sends upward everything its regions send it"]
        );
    }
}
