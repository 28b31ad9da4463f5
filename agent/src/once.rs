//! One collection without an aggregator, for `sysmon agent --once`: what the agent would send,
//! printed instead of shipped.

use std::path::Path;

use serde::Deserialize;
use sysmon_config::ConfigError;

use crate::collectors::{
    CollectorFailure, CollectorSet, CollectorSettings, CollectorsSection, ProcessesSection, SystemPaths, UsersSection,
};
use crate::config::{AgentSection, AggregatorSection, TlsSection, hostname};
use crate::exposition::prometheus_text;
use crate::sample::Sample;

/// agent.toml as one collection reads it: every section the agent knows is accepted and
/// checked for unknown keys, but `[aggregator]` and `[tls]` may be left out, and their files
/// need not exist.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CollectionConfig {
    #[serde(default)]
    agent: AgentSection,
    #[serde(default)]
    collectors: CollectorsSection,
    #[serde(default)]
    users: UsersSection,
    #[serde(default)]
    processes: ProcessesSection,
    #[serde(default)]
    #[allow(dead_code, reason = "parsed so that mistakes in it are reported; one collection does not send")]
    aggregator: Option<AggregatorSection>,
    #[serde(default)]
    #[allow(dead_code, reason = "parsed so that mistakes in it are reported; one collection does not send")]
    tls: Option<TlsSection>,
    /// The disk spool's section (#4), which one collection does not use; `sysmon agent`
    /// itself checks its keys.
    #[serde(default)]
    #[allow(dead_code, reason = "one collection writes no spool")]
    spool: Option<serde::de::IgnoredAny>,
    /// How aggregators are found, which one collection does not need; `sysmon agent` checks it.
    #[serde(default)]
    #[allow(dead_code, reason = "one collection sends nothing")]
    discovery: Option<serde::de::IgnoredAny>,
}

/// What one collection needs: the host label, where /proc and /sys are, and the collectors.
#[derive(Debug, Clone)]
pub struct CollectionSettings {
    /// The agent id, the `host` label of every series.
    pub id: String,
    /// procfs and sysfs roots.
    pub paths: SystemPaths,
    /// The collectors that run, with their filters.
    pub collectors: CollectorSettings,
}

impl CollectionSettings {
    /// Built-in defaults with `SYSMON_<SECTION>_<KEY>` overrides from `env`, as with no file.
    ///
    /// # Errors
    /// An override names an unknown key or has a bad value.
    pub fn from_env(env: impl IntoIterator<Item = (String, String)>) -> Result<Self, Vec<ConfigError>> {
        let config: CollectionConfig = sysmon_config::parse("", env).map_err(|e| vec![e])?;
        config.validate()
    }

    /// Loads `path` (with `SYSMON_*` overrides from the process environment).
    ///
    /// # Errors
    /// Every problem found, each naming its key (and line, when known).
    pub fn load(path: &Path) -> Result<Self, Vec<ConfigError>> {
        let config: CollectionConfig = sysmon_config::load(path, std::env::vars()).map_err(|e| vec![e])?;
        config
            .validate()
            .map_err(|errors| errors.into_iter().map(|e| ConfigError { file: Some(path.to_path_buf()), ..e }).collect())
    }
}

impl CollectionConfig {
    fn validate(self) -> Result<CollectionSettings, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let id = self.agent.id.unwrap_or_else(hostname);
        if id.is_empty() || id.len() > 253 || id.contains('\0') {
            errors.push(ConfigError::key("agent.id", format!("must be 1 to 253 bytes without NUL, got {id:?}")));
        }
        let collectors = self.collectors.validate().map_err(|e| errors.extend(e)).ok();
        // One collection keeps nothing for a next one: no state file.
        let users = crate::collectors::users::config::validate(self.users, self.processes)
            .map_err(|e| errors.extend(e))
            .ok()
            .map(|u| u.without_state_file());
        let collectors = collectors.zip(users).map(|(c, u)| c.with_users(u));
        match collectors {
            Some(collectors) if errors.is_empty() => Ok(CollectionSettings {
                id,
                paths: SystemPaths { proc: self.agent.procfs, sys: self.agent.sysfs },
                collectors,
            }),
            _ => Err(errors),
        }
    }
}

/// Runs every enabled collector once and returns the samples (the self-metrics included) and
/// the collectors that failed.
pub fn collect_once(settings: &CollectionSettings) -> (Vec<Sample>, Vec<CollectorFailure>) {
    let mut set = CollectorSet::new(&settings.paths, &settings.collectors);
    let mut samples = Vec::with_capacity(1024);
    let failures = set.collect(&mut samples);
    (samples, failures)
}

/// One collection in the Prometheus text format, every series labelled `host`.
pub fn collect_once_prometheus(settings: &CollectionSettings) -> (String, Vec<CollectorFailure>) {
    let (samples, failures) = collect_once(settings);
    (prometheus_text(&samples, &settings.id), failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file_and_env_overrides_apply() {
        let settings = CollectionSettings::from_env([]).unwrap();
        assert_eq!(settings.collectors.enabled().len(), crate::collectors::COLLECTOR_NAMES.len());
        let env = [
            ("SYSMON_COLLECTORS_HWMON".to_string(), "false".to_string()),
            ("SYSMON_AGENT_ID".to_string(), "probe".to_string()),
        ];
        let settings = CollectionSettings::from_env(env).unwrap();
        assert!(!settings.collectors.enabled().contains(&"hwmon"));
        assert_eq!(settings.id, "probe");
    }

    #[test]
    fn a_file_without_aggregator_or_tls_is_fine_but_typos_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, "[agent]\nid = \"x\"\n[collectors]\nnetdev_device_exclude = \"^lo$\"\n").unwrap();
        let settings = CollectionSettings::load(&path).unwrap();
        assert_eq!(settings.id, "x");
        assert!(!settings.collectors.netdev_devices.allows("lo"));

        std::fs::write(&path, "[collectors]\nhwmon = false\nvmstat_fields = \"(\"\n[tls]\nca_certs = \"x\"\n").unwrap();
        let errors = CollectionSettings::load(&path).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains(":5: unknown field `ca_certs`"), "{}", errors[0]);
        std::fs::write(&path, "[collectors]\nvmstat_fields = \"(\"\n").unwrap();
        let errors: Vec<String> =
            CollectionSettings::load(&path).unwrap_err().iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [format!("{}: collectors.vmstat_fields: invalid regular expression \"(\": unclosed group", path.display())]
        );
    }

    #[test]
    fn the_documented_example_parses_for_one_collection() {
        let example = include_str!("../../deploy/agent.toml");
        let config: CollectionConfig = sysmon_config::parse(example, []).unwrap();
        config.validate().unwrap();
    }

    #[test]
    fn one_collection_prints_prometheus_text() {
        let settings = CollectionSettings::from_env([]).unwrap();
        let (text, failures) = collect_once_prometheus(&settings);
        assert!(failures.is_empty(), "{failures:?}");
        assert!(text.contains("# TYPE node_cpu_seconds_total counter\n"));
        assert!(text.contains("sysmon_agent_collector_duration_seconds{collector=\"cpu\""));
    }
}
