//! The agent's configuration (`agent.toml`): raw TOML structs, then
//! [`AgentConfig::validate`] into checked [`AgentSettings`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sysmon_config::ConfigError;
use sysmon_federation::{DiscoveryConfig, DiscoveryMode, DiscoverySettings};

use crate::collectors::{CollectorSettings, CollectorsSection, ProcessesSection, SystemPaths, UsersSection};
pub use crate::spool_config::{SpoolSection, SpoolSettings};

/// `agent.toml` as written. Every key is documented in `deploy/agent.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// `[agent]`: identity and collection.
    #[serde(default)]
    pub agent: AgentSection,
    /// `[aggregator]`: where to send.
    pub aggregator: AggregatorSection,
    /// `[tls]`: the fleet CA and this agent's certificate.
    pub tls: TlsSection,
    /// `[collectors]`: which collectors run and what they report.
    #[serde(default)]
    pub collectors: CollectorsSection,
    /// `[spool]`: the disk spool of batches not yet acknowledged.
    #[serde(default)]
    pub spool: SpoolSection,
    /// `[users]`: which users are reported and when one is heavy.
    #[serde(default)]
    pub users: UsersSection,
    /// `[processes]`: which processes are listed.
    #[serde(default)]
    pub processes: ProcessesSection,
    /// `[discovery]`: find regional aggregators by mDNS, Consul or DNS SRV instead of
    /// `aggregator.endpoints`.
    #[serde(default)]
    pub discovery: DiscoveryConfig,
}

/// `[agent]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    /// The agent id, also the `host` label of every series. Must equal the common name of
    /// the agent's certificate. Default: the machine's hostname.
    #[serde(default)]
    pub id: Option<String>,
    /// Time between collections, 1s to 1h. Default "10s".
    #[serde(default = "default_interval")]
    pub interval: String,
    /// Removed: the disk spool is bounded in bytes by `spool.max_bytes`. Still parsed, so
    /// that a config that sets it gets an error naming its replacement.
    #[serde(default)]
    pub max_pending_batches: Option<usize>,
    /// Where procfs is mounted. Default "/proc".
    #[serde(default = "default_procfs")]
    pub procfs: PathBuf,
    /// Where sysfs is mounted. Default "/sys".
    #[serde(default = "default_sysfs")]
    pub sysfs: PathBuf,
}

/// `[aggregator]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregatorSection {
    /// Aggregator gRPC endpoints, preferred first, like "https://aggregator.example.com:9801".
    /// Required unless `[discovery]` finds them (then they are ignored). Default [].
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// With `[discovery]`: the region whose aggregators are tried first; the others are the
    /// fallbacks. Default: none (every region alike).
    #[serde(default)]
    pub region: Option<String>,
    /// The name the aggregator's certificate must carry. Default: each endpoint's host.
    #[serde(default)]
    pub server_name: Option<String>,
    /// While connected to an endpoint other than the first, how often to try the more
    /// preferred ones; the agent moves back as soon as one answers. Default "1m".
    #[serde(default = "default_failback_interval")]
    pub failback_interval: String,
}

/// `[tls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// The fleet CA certificate (PEM).
    pub ca_cert: PathBuf,
    /// This agent's certificate (PEM), from `sysmon certs issue --agent ID`.
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

fn default_interval() -> String {
    "10s".into()
}
fn default_failback_interval() -> String {
    "1m".into()
}
fn default_procfs() -> PathBuf {
    PathBuf::from("/proc")
}
fn default_sysfs() -> PathBuf {
    PathBuf::from("/sys")
}

impl Default for AgentSection {
    fn default() -> Self {
        Self {
            id: None,
            interval: default_interval(),
            max_pending_batches: None,
            procfs: default_procfs(),
            sysfs: default_sysfs(),
        }
    }
}

/// A checked agent configuration.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// The agent id (= `host` label = certificate common name).
    pub id: String,
    /// Time between collections.
    pub interval: Duration,
    /// The disk spool.
    pub spool: SpoolSettings,
    /// procfs and sysfs roots.
    pub paths: SystemPaths,
    /// Aggregator endpoints, preferred first (when `discovery` is static).
    pub endpoints: Vec<String>,
    /// How aggregators are found: static (`endpoints`), or discovered.
    pub discovery: DiscoverySettings,
    /// See [`AggregatorSection::region`].
    pub region: Option<String>,
    /// See [`AggregatorSection::server_name`].
    pub server_name: Option<String>,
    /// See [`AggregatorSection::failback_interval`].
    pub failback_interval: Duration,
    /// The fleet CA certificate.
    pub ca_cert: PathBuf,
    /// This agent's certificate.
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
    /// The collectors that run, with their filters.
    pub collectors: CollectorSettings,
}

impl AgentSettings {
    /// What the agent's uplink to its aggregator needs.
    pub fn uplink(&self) -> sysmon_uplink::UplinkSettings {
        sysmon_uplink::UplinkSettings {
            ca_cert: self.ca_cert.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            server_name: self.server_name.clone(),
            failback_interval: self.failback_interval,
            spool: self.spool.clone(),
        }
    }
}

impl AgentConfig {
    /// Loads `path` with `SYSMON_*` overrides from the process environment, then validates it.
    ///
    /// # Errors
    /// Every problem found, each naming its key (and line, when known).
    pub fn load(path: &Path) -> Result<AgentSettings, Vec<ConfigError>> {
        let config: AgentConfig = sysmon_config::load(path, std::env::vars()).map_err(|e| vec![e])?;
        config
            .validate()
            .map_err(|errors| errors.into_iter().map(|e| ConfigError { file: Some(path.to_path_buf()), ..e }).collect())
    }

    /// Checks every value and returns the settings, or every problem at once.
    ///
    /// # Errors
    /// One [`ConfigError`] per bad key.
    pub fn validate(self) -> Result<AgentSettings, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let id = match self.agent.id {
            Some(id) => id,
            None => hostname(),
        };
        if id.is_empty() || id.len() > 253 || id.contains('\0') {
            errors.push(ConfigError::key("agent.id", format!("must be 1 to 253 bytes without NUL, got {id:?}")));
        }
        let interval = match humantime::parse_duration(&self.agent.interval) {
            Ok(d) if d >= Duration::from_secs(1) && d <= Duration::from_secs(3600) => Some(d),
            Ok(d) => {
                errors.push(ConfigError::key(
                    "agent.interval",
                    format!("must be between 1s and 1h, got {}", humantime::format_duration(d)),
                ));
                None
            }
            Err(e) => {
                errors.push(ConfigError::key(
                    "agent.interval",
                    format!("must be a duration like \"10s\", got {:?} ({e})", self.agent.interval),
                ));
                None
            }
        };
        if self.agent.max_pending_batches.is_some() {
            errors.push(ConfigError::key(
                "agent.max_pending_batches",
                "was removed: batches now wait in the disk spool, bounded by spool.max_bytes (default \"256MiB\"); delete this key",
            ));
        }
        let failback_interval = match humantime::parse_duration(&self.aggregator.failback_interval) {
            Ok(d) if d >= Duration::from_secs(1) => Some(d),
            Ok(_) => {
                errors.push(ConfigError::key("aggregator.failback_interval", "must be at least 1s"));
                None
            }
            Err(e) => {
                errors.push(ConfigError::key(
                    "aggregator.failback_interval",
                    format!("must be a duration like \"1m\", got {:?} ({e})", self.aggregator.failback_interval),
                ));
                None
            }
        };
        let spool = self.spool.validate(&mut errors);
        if !self.discovery.static_endpoints.is_empty() {
            errors.push(ConfigError::key(
                "discovery.static_endpoints",
                "an agent lists its static endpoints in aggregator.endpoints; delete this key",
            ));
        }
        let discovery = match self.discovery.validate() {
            Ok(settings) => Some(settings),
            Err(discovery_errors) => {
                errors.extend(discovery_errors);
                None
            }
        };
        let discovered = self.discovery.mode != DiscoveryMode::Static;
        if self.aggregator.endpoints.is_empty() && !discovered {
            errors.push(ConfigError::key(
                "aggregator.endpoints",
                "must list at least one endpoint (or set [discovery] mode to find them)",
            ));
        }
        for endpoint in &self.aggregator.endpoints {
            if let Err(reason) = check_endpoint(endpoint) {
                errors.push(ConfigError::key("aggregator.endpoints", reason));
            }
        }
        for (key, path) in
            [("tls.ca_cert", &self.tls.ca_cert), ("tls.cert", &self.tls.cert), ("tls.key", &self.tls.key)]
        {
            if !path.is_file() {
                errors.push(ConfigError::key(key, format!("no such file: {}", path.display())));
            }
        }
        let collectors = self.collectors.validate().map_err(|e| errors.extend(e)).ok();
        let users =
            crate::collectors::users::config::validate(self.users, self.processes).map_err(|e| errors.extend(e)).ok();
        let collectors = collectors.zip(users).map(|(c, u)| c.with_users(u));
        match (interval, collectors, failback_interval, spool, discovery) {
            (Some(interval), Some(collectors), Some(failback_interval), Some(spool), Some(discovery))
                if errors.is_empty() =>
            {
                Ok(AgentSettings {
                    id,
                    interval,
                    spool,
                    paths: SystemPaths { proc: self.agent.procfs, sys: self.agent.sysfs },
                    endpoints: self.aggregator.endpoints,
                    discovery,
                    region: self.aggregator.region.filter(|r| !r.is_empty()),
                    server_name: self.aggregator.server_name.filter(|s| !s.is_empty()),
                    failback_interval,
                    ca_cert: self.tls.ca_cert,
                    cert: self.tls.cert,
                    key: self.tls.key,
                    collectors,
                })
            }
            _ => Err(errors),
        }
    }
}

fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let rest = endpoint
        .strip_prefix("https://")
        .ok_or_else(|| format!("{endpoint:?} must start with https:// (agents only speak mutual TLS)"))?;
    let has_port = rest.trim_end_matches('/').rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok());
    if !has_port {
        return Err(format!("{endpoint:?} must name a port, like https://aggregator.example.com:9801"));
    }
    Ok(())
}

/// The machine's hostname, from the kernel.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_value_is_reported_with_its_key() {
        let text = r#"
[agent]
interval = "0s"
[aggregator]
endpoints = ["http://agg:9801", "https://agg"]
[tls]
ca_cert = "/nonexistent/ca.pem"
cert = "/nonexistent/agent.pem"
key = "/nonexistent/agent-key.pem"
"#;
        let config: AgentConfig = sysmon_config::parse(text, []).unwrap();
        let errors: Vec<String> = config.validate().unwrap_err().iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "agent.interval: must be between 1s and 1h, got 0s",
                "aggregator.endpoints: \"http://agg:9801\" must start with https:// (agents only speak mutual TLS)",
                "aggregator.endpoints: \"https://agg\" must name a port, like https://aggregator.example.com:9801",
                "tls.ca_cert: no such file: /nonexistent/ca.pem",
                "tls.cert: no such file: /nonexistent/agent.pem",
                "tls.key: no such file: /nonexistent/agent-key.pem",
            ]
        );
    }

    #[test]
    fn bad_collector_settings_stop_start_up() {
        let text = r#"
[aggregator]
endpoints = ["https://agg:9801"]
[tls]
ca_cert = "/nonexistent/ca.pem"
cert = "/nonexistent/agent.pem"
key = "/nonexistent/agent-key.pem"
[collectors]
filesystem_mount_points_exclude = "^/(proc"
filesystem_mount_timeout = "0s"
"#;
        let config: AgentConfig = sysmon_config::parse(text, []).unwrap();
        let errors: Vec<String> = config.validate().unwrap_err().iter().map(ToString::to_string).collect();
        assert_eq!(
            errors[3..],
            [
                "collectors.filesystem_mount_points_exclude: invalid regular expression \"^/(proc\": unclosed group",
                "collectors.filesystem_mount_timeout: must be between 100ms and 1m, got 0s",
            ]
        );
        let err = sysmon_config::parse::<AgentConfig>("[collectors]\nhwmon = \"no\"\n", []).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.starts_with("invalid type: string \"no\", expected a boolean"), "{}", err.message);
        let err = sysmon_config::parse::<AgentConfig>("[collectors]\nhwmonn = false\n", []).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.starts_with("unknown field `hwmonn`"), "{}", err.message);
    }

    #[test]
    fn removed_and_new_keys_name_themselves() {
        let text = r#"
[agent]
max_pending_batches = 100
[aggregator]
endpoints = ["https://agg:9801"]
failback_interval = "soon"
[tls]
ca_cert = "/nonexistent/ca.pem"
cert = "/nonexistent/agent.pem"
key = "/nonexistent/agent-key.pem"
[spool]
when_full = "wait"
"#;
        let config: AgentConfig = sysmon_config::parse(text, []).unwrap();
        let errors: Vec<String> = config.validate().unwrap_err().iter().map(ToString::to_string).collect();
        assert_eq!(
            errors[..3],
            [
                "agent.max_pending_batches: was removed: batches now wait in the disk spool, bounded by spool.max_bytes (default \"256MiB\"); delete this key",
                "aggregator.failback_interval: must be a duration like \"1m\", got \"soon\" (expected number at 0)",
                "spool.when_full: must be \"drop_oldest\" or \"block\", got \"wait\"",
            ]
        );
    }

    #[test]
    fn bad_users_and_processes_settings_stop_start_up() {
        let text = r#"
[aggregator]
endpoints = ["https://agg:9801"]
[tls]
ca_cert = "/nonexistent/ca.pem"
cert = "/nonexistent/agent.pem"
key = "/nonexistent/agent-key.pem"
[users]
heavy_memory_share = 50
persistent_time = "forever"
[users.overrides.alice]
heavy_cpu_share = 2.0
[processes]
top_n = 500
"#;
        let config: AgentConfig = sysmon_config::parse(text, []).unwrap();
        let errors: Vec<String> = config.validate().unwrap_err().iter().map(ToString::to_string).collect();
        assert_eq!(errors[..3].len(), 3, "the three missing TLS files");
        let mut users_errors = errors[3..].to_vec();
        users_errors[2].truncate("users.persistent_time: must be a duration like \"5m\", got \"forever\"".len());
        assert_eq!(
            users_errors,
            [
                "users.heavy_memory_share: must be a share between 0 and 1, got 50",
                "users.overrides.alice.heavy_cpu_share: must be a share between 0 and 1, got 2",
                "users.persistent_time: must be a duration like \"5m\", got \"forever\"",
                "processes.top_n: must be at most 100 (each listed process is a series), got 500",
            ]
        );
        for (text, line, unknown) in [
            ("[users]\nmin_uid = 1000\nmax_uid = 5\n", 3, "max_uid"),
            ("[processes]\ntopn = 5\n", 2, "topn"),
            ("[users.overrides.bob]\nheavy_cpu = 0.5\n", 2, "heavy_cpu"),
        ] {
            let err = sysmon_config::parse::<AgentConfig>(text, []).unwrap_err();
            assert_eq!(err.line, Some(line), "{text}");
            assert!(err.message.starts_with(&format!("unknown field `{unknown}`")), "{}", err.message);
        }
        let err = sysmon_config::parse::<AgentConfig>("[users]\nmin_uid = -1\n", []).unwrap_err();
        assert_eq!(err.line, Some(2));
        let env = [("SYSMON_PROCESSES_TOP_N".to_string(), "many".to_string())];
        let minimal = "[aggregator]\nendpoints = []\n[tls]\nca_cert = \"a\"\ncert = \"b\"\nkey = \"c\"\n";
        let err = sysmon_config::parse::<AgentConfig>(minimal, env).unwrap_err();
        assert!(err.message.starts_with("invalid type: string \"many\""), "{}", err.message);
        assert!(err.message.ends_with("(after environment overrides SYSMON_PROCESSES_TOP_N)"), "{}", err.message);
    }

    #[test]
    fn a_typo_names_its_line() {
        let err = sysmon_config::parse::<AgentConfig>("[agent]\nintreval = \"5s\"\n", []).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.starts_with("unknown field `intreval`"), "{}", err.message);
    }

    #[test]
    fn the_documented_example_parses() {
        let example = include_str!("../../deploy/agent.toml");
        sysmon_config::parse::<AgentConfig>(example, []).unwrap();
    }
}
