//! The `[recording]` section of `aggregator.toml`: recording rules (`[[recording.rules]]`),
//! PromQL expressions whose answers are stored as new series each interval, as
//! Prometheus's recording rules are. A regional records host-level summaries this way and
//! sends only those upward (`federation.replicate`), so a master keeps a large fleet's
//! history in little room.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use sysmon_config::ConfigError;

use crate::alerting_config::{check_rule_expr, rule_label_problem};
use crate::config::bounded_duration;
use crate::ingest::is_metric_name;

/// `[recording]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingSection {
    /// How often every rule is evaluated and its answer stored, 1s to 1h. Default "60s".
    #[serde(default = "default_interval")]
    pub interval: String,
    /// `[[recording.rules]]`: the recording rules. Default: none.
    #[serde(default)]
    pub rules: Vec<RecordingRuleSection>,
}

/// One `[[recording.rules]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingRuleSection {
    /// The metric name of the series stored, e.g. "host:cpu_busy:ratio". Required.
    pub record: String,
    /// A PromQL expression (an instant vector or a scalar): each series it returns is stored
    /// under `record` with its labels. Required.
    pub expr: String,
    /// More labels of every series stored (they replace the answer's labels of the same
    /// name). Default: none.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_interval() -> String {
    "60s".into()
}

impl Default for RecordingSection {
    fn default() -> Self {
        Self { interval: default_interval(), rules: Vec::new() }
    }
}

/// The checked `[recording]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingSettings {
    /// See [`RecordingSection::interval`].
    pub interval: Duration,
    /// The rules, in the file's order.
    pub rules: Vec<RecordingRule>,
}

impl Default for RecordingSettings {
    fn default() -> Self {
        RecordingSection::default().validate(&mut Vec::new()).expect("the defaults are valid")
    }
}

/// A checked recording rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingRule {
    /// See [`RecordingRuleSection::record`].
    pub record: String,
    /// See [`RecordingRuleSection::expr`].
    pub expr: String,
    /// See [`RecordingRuleSection::labels`].
    pub labels: BTreeMap<String, String>,
}

impl RecordingSection {
    /// Checks every key of every rule, pushing one error per bad one.
    pub(crate) fn validate(self, errors: &mut Vec<ConfigError>) -> Option<RecordingSettings> {
        let before = errors.len();
        let bounds = (Duration::from_secs(1), Duration::from_secs(3600));
        let interval = bounded_duration("recording.interval", &self.interval, "60s", bounds, errors);
        let mut rules = Vec::with_capacity(self.rules.len());
        for (i, rule) in self.rules.into_iter().enumerate() {
            let key = |field: &str| format!("recording.rules[{i}].{field}");
            let name = &rule.record;
            let problems = errors.len();
            if !is_metric_name(name) {
                errors.push(ConfigError::key(
                    &key("record"),
                    format!("{name:?} is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"),
                ));
            }
            if let Err(reason) = check_rule_expr(&rule.expr) {
                errors.push(ConfigError::key(&key("expr"), format!("rule {name:?}: {reason}")));
            }
            for problem in rule.labels.iter().filter_map(|(label, value)| rule_label_problem(name, label, value)) {
                errors.push(ConfigError::key(&key("labels"), problem));
            }
            if errors.len() == problems {
                rules.push(RecordingRule { record: rule.record, expr: rule.expr, labels: rule.labels });
            }
        }
        if errors.len() > before {
            return None;
        }
        Some(RecordingSettings { interval: interval?, rules })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[serde(default)]
        recording: RecordingSection,
    }

    fn check(text: &str) -> Result<RecordingSettings, Vec<String>> {
        let doc: Doc = sysmon_config::parse(text, []).unwrap();
        let mut errors = Vec::new();
        doc.recording.validate(&mut errors).ok_or_else(|| errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn rules_are_read_with_their_defaults() {
        assert_eq!(check("").unwrap(), RecordingSettings { interval: Duration::from_secs(60), rules: Vec::new() });
        let settings = check(
            "[recording]\ninterval = \"30s\"\n[[recording.rules]]\nrecord = \"host:load1:max\"\nexpr = \"max by (host) (node_load1)\"\nlabels = { tier = \"summary\" }\n",
        )
        .unwrap();
        assert_eq!(settings.interval, Duration::from_secs(30));
        assert_eq!(settings.rules[0].record, "host:load1:max");
        assert_eq!(settings.rules[0].labels["tier"], "summary");
    }

    #[test]
    fn every_bad_value_names_its_key_and_its_rule() {
        let errors = check(
            "[recording]\ninterval = \"0s\"\n[[recording.rules]]\nrecord = \"host load\"\nexpr = \"node_load1[5m]\"\nlabels = { __x = \"y\" }\n",
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "recording.interval: must be between 1s and 1h, got 0s",
                "recording.rules[0].record: \"host load\" is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)",
                "recording.rules[0].expr: rule \"host load\": must give an instant vector or a scalar, not a matrix",
                "recording.rules[0].labels: rule \"host load\": \"__x\" is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not __*)",
            ]
        );
        let nul = check("[[recording.rules]]\nrecord = \"a\"\nexpr = \"1\"\nlabels = { tier = \"x\\u0000\" }\n");
        assert_eq!(
            nul.unwrap_err(),
            ["recording.rules[0].labels: rule \"a\": the value of \"tier\" holds a NUL character"]
        );
        let unknown: Result<Doc, _> =
            sysmon_config::parse("[[recording.rules]]\nrecord = \"a\"\nexpr = \"1\"\nfor = \"1m\"\n", []);
        assert!(unknown.unwrap_err().to_string().contains("for"));
    }
}
