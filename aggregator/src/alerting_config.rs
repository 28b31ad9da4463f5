//! The `[alerting]` section of `aggregator.toml`: how often alerting rules are evaluated, and
//! the rules (`[[alerting.rules]]`), each a PromQL expression parsed at start-up.

use std::collections::BTreeMap;
use std::time::Duration;

use promql_parser::parser::value::ValueType;
use serde::Deserialize;
use sysmon_config::ConfigError;

use crate::config::bounded_duration;
use crate::ingest::is_label_name;

/// `[alerting]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingSection {
    /// How often every rule is evaluated, 1s to 1h. Default "30s".
    #[serde(default = "default_interval")]
    pub interval: String,
    /// `[[alerting.rules]]`: the alerting rules. Default: none.
    #[serde(default)]
    pub rules: Vec<AlertRuleSection>,
}

/// One `[[alerting.rules]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleSection {
    /// The alert's name, its `alertname` label: a non-empty label value. Required.
    pub alert: String,
    /// A PromQL expression (an instant vector or a scalar): every series it returns is an
    /// alert. Required.
    pub expr: String,
    /// How long a series must keep being returned (pending) before its alert fires.
    /// Default "0s": it fires at the first evaluation that returns it.
    #[serde(default = "default_for", rename = "for")]
    pub hold: String,
    /// The alert's `severity` label. Default "warning".
    #[serde(default = "default_severity")]
    pub severity: String,
    /// More labels of every alert of the rule (they replace the series' labels of the same
    /// name). Default: none.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations (e.g. `summary`): text where `{{ $labels.NAME }}` becomes the alert's
    /// label NAME and `{{ $value }}` the expression's value. Default: none.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

fn default_interval() -> String {
    "30s".into()
}
fn default_for() -> String {
    "0s".into()
}
fn default_severity() -> String {
    "warning".into()
}

impl Default for AlertingSection {
    fn default() -> Self {
        Self { interval: default_interval(), rules: Vec::new() }
    }
}

/// The checked `[alerting]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertingSettings {
    /// See [`AlertingSection::interval`].
    pub interval: Duration,
    /// The rules, in the file's order.
    pub rules: Vec<AlertRule>,
}

impl Default for AlertingSettings {
    fn default() -> Self {
        AlertingSection::default().validate(&mut Vec::new()).expect("the defaults are valid")
    }
}

/// A checked alerting rule: its expression parses and gives an instant vector or a scalar.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// See [`AlertRuleSection::alert`].
    pub name: String,
    /// See [`AlertRuleSection::expr`].
    pub expr: String,
    /// See [`AlertRuleSection::hold`].
    pub hold: Duration,
    /// See [`AlertRuleSection::severity`].
    pub severity: String,
    /// See [`AlertRuleSection::labels`].
    pub labels: BTreeMap<String, String>,
    /// See [`AlertRuleSection::annotations`].
    pub annotations: BTreeMap<String, String>,
}

impl AlertingSection {
    /// Checks every key of every rule, pushing one error per bad one.
    pub(crate) fn validate(self, errors: &mut Vec<ConfigError>) -> Option<AlertingSettings> {
        let before = errors.len();
        let bounds = (Duration::from_secs(1), Duration::from_secs(3600));
        let interval = bounded_duration("alerting.interval", &self.interval, "30s", bounds, errors);
        let rules: Vec<AlertRule> =
            self.rules.into_iter().enumerate().filter_map(|(i, rule)| rule.validate(i, errors)).collect();
        if errors.len() > before {
            return None;
        }
        Some(AlertingSettings { interval: interval?, rules })
    }
}

impl AlertRuleSection {
    fn validate(self, index: usize, errors: &mut Vec<ConfigError>) -> Option<AlertRule> {
        let before = errors.len();
        let key = |field: &str| format!("alerting.rules[{index}].{field}");
        if self.alert.is_empty() || self.alert.contains('\0') {
            errors.push(ConfigError::key(&key("alert"), "must be a non-empty label value"));
        }
        let rule = &self.alert;
        if let Err(reason) = check_rule_expr(&self.expr) {
            errors.push(ConfigError::key(&key("expr"), format!("rule {rule:?}: {reason}")));
        }
        let hold = match humantime::parse_duration(&self.hold) {
            Ok(d) => Some(d),
            Err(e) => {
                let reason = format!("rule {rule:?}: must be a duration like \"5m\", got {:?} ({e})", self.hold);
                errors.push(ConfigError::key(&key("for"), reason));
                None
            }
        };
        if self.severity.is_empty() || self.severity.contains('\0') {
            errors.push(ConfigError::key(&key("severity"), format!("rule {rule:?}: must be a non-empty label value")));
        }
        for (field, map) in [("labels", &self.labels), ("annotations", &self.annotations)] {
            for (name, value) in map {
                if let Some(problem) = rule_label_problem(rule, name, value) {
                    errors.push(ConfigError::key(&key(field), problem));
                } else if field == "labels" && name == "alertname" {
                    errors.push(ConfigError::key(
                        &key(field),
                        format!("rule {rule:?}: label {name:?} may not be set here (alertname is the rule's name)"),
                    ));
                }
            }
        }
        if errors.len() > before {
            return None;
        }
        Some(AlertRule {
            name: self.alert,
            expr: self.expr,
            hold: hold?,
            severity: self.severity,
            labels: self.labels,
            annotations: self.annotations,
        })
    }
}

/// What is wrong with `name = value` as a label a rule sets (`rule` names the rule), if
/// anything.
pub(crate) fn rule_label_problem(rule: &str, name: &str, value: &str) -> Option<String> {
    if !is_label_name(name) || name.starts_with("__") {
        Some(format!("rule {rule:?}: {name:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not __*)"))
    } else if value.contains('\0') {
        Some(format!("rule {rule:?}: the value of {name:?} holds a NUL character"))
    } else {
        None
    }
}

/// Whether a rule's expression parses and gives an instant vector or a scalar (what a rule
/// evaluates to at each interval); the error says why not.
pub(crate) fn check_rule_expr(expr: &str) -> Result<(), String> {
    match promql_parser::parser::parse(expr) {
        Ok(expr) if matches!(expr.value_type(), ValueType::Vector | ValueType::Scalar) => Ok(()),
        Ok(expr) => Err(format!("must give an instant vector or a scalar, not a {}", expr.value_type())),
        Err(e) => Err(e.trim().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[serde(default)]
        alerting: AlertingSection,
    }

    fn check(text: &str) -> Result<AlertingSettings, Vec<String>> {
        let doc: Doc = sysmon_config::parse(text, []).unwrap();
        let mut errors = Vec::new();
        doc.alerting.validate(&mut errors).ok_or_else(|| errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_rule_with_defaults_and_one_with_everything() {
        assert_eq!(check("").unwrap(), AlertingSettings { interval: Duration::from_secs(30), rules: Vec::new() });
        let settings = check(
            r#"
[alerting]
interval = "10s"
[[alerting.rules]]
alert = "Up"
expr = "up == 0"
[[alerting.rules]]
alert = "HighLoad"
expr = "node_load1 > 4"
for = "2m"
severity = "critical"
labels = { team = "sre" }
annotations = { summary = "load on {{ $labels.host }} is {{ $value }}" }
"#,
        )
        .unwrap();
        assert_eq!(settings.interval, Duration::from_secs(10));
        let [up, load] = &settings.rules[..] else { panic!("{settings:?}") };
        assert_eq!((up.hold, up.severity.as_str()), (Duration::ZERO, "warning"));
        assert_eq!(
            (load.name.as_str(), load.hold, load.severity.as_str()),
            ("HighLoad", Duration::from_secs(120), "critical")
        );
        assert_eq!(load.labels["team"], "sre");
        assert_eq!(load.annotations["summary"], "load on {{ $labels.host }} is {{ $value }}");
    }

    #[test]
    fn every_bad_value_names_its_key_and_its_rule() {
        let errors = check(
            r#"
[alerting]
interval = "0s"
[[alerting.rules]]
alert = "Broken"
expr = "node_load1 >"
for = "soon"
labels = { "1x" = "a", alertname = "b" }
[[alerting.rules]]
alert = ""
expr = "node_load1[5m]"
severity = ""
"#,
        )
        .unwrap_err();
        assert_eq!(errors.len(), 8, "{errors:#?}");
        assert_eq!(errors[0], "alerting.interval: must be between 1s and 1h, got 0s");
        assert!(errors[1].starts_with("alerting.rules[0].expr: rule \"Broken\": "), "{}", errors[1]);
        assert_eq!(
            errors[2..],
            [
                "alerting.rules[0].for: rule \"Broken\": must be a duration like \"5m\", got \"soon\" (expected number at 0)",
                "alerting.rules[0].labels: rule \"Broken\": \"1x\" is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not __*)",
                "alerting.rules[0].labels: rule \"Broken\": label \"alertname\" may not be set here (alertname is the rule's name)",
                "alerting.rules[1].alert: must be a non-empty label value",
                "alerting.rules[1].expr: rule \"\": must give an instant vector or a scalar, not a matrix",
                "alerting.rules[1].severity: rule \"\": must be a non-empty label value",
            ]
        );
    }

    #[test]
    fn an_unknown_key_in_a_rule_names_its_line() {
        let err = sysmon_config::parse::<Doc>("[[alerting.rules]]\nalert = \"A\"\nexpr = \"up\"\nfro = \"1m\"\n", [])
            .unwrap_err();
        assert_eq!(err.line, Some(4));
        assert!(err.message.starts_with("unknown field `fro`"), "{}", err.message);
    }
}
