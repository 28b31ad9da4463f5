//! One alerting rule's state, with Prometheus's semantics: each evaluation's output series
//! is an alert, keyed by its label set (the series' labels without `__name__`, plus
//! `alertname`, `severity` and the rule's labels). A new one is pending from that
//! evaluation (`activeAt`), fires once it has been returned for the rule's `for`, and is
//! resolved (leaves the active set) at the first evaluation that no longer returns it. An
//! evaluation that fails changes no alert: the rule keeps its alerts and records the error.

use std::collections::BTreeMap;

use sysmon_tsdb::Labels;

use super::template::expand;
use crate::alerting_config::AlertRule;

/// Whether an alert waits out its rule's `for` or fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AlertState {
    /// Returned, for less than the rule's `for`.
    Pending,
    /// Returned for at least the rule's `for`.
    Firing,
}

impl AlertState {
    /// The name Prometheus's API gives the state.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }

    /// The state named `name` (as in the API).
    pub(crate) fn from_name(name: &str) -> Option<AlertState> {
        match name {
            "pending" => Some(AlertState::Pending),
            "firing" => Some(AlertState::Firing),
            _ => None,
        }
    }
}

/// One active alert.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Alert {
    pub(crate) labels: BTreeMap<String, String>,
    /// The rule's annotations, expanded with this alert's labels and latest value.
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) state: AlertState,
    /// The evaluation that first returned it (unix ms).
    pub(crate) active_at_ms: i64,
    /// The expression's value at the latest evaluation.
    pub(crate) value: f64,
}

/// An alert that fired and then stopped being returned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResolvedAlert {
    pub(crate) alert: Alert,
    pub(crate) resolved_at_ms: i64,
}

/// What the last evaluation of a rule said of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Health {
    /// Not evaluated yet.
    Unknown,
    Ok,
    /// The last evaluation failed (see [`RuleState::last_error`]).
    Err,
}

impl Health {
    /// The name Prometheus's `/api/v1/rules` gives it.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// A rule and its alerts.
#[derive(Debug, Clone)]
pub(crate) struct RuleState {
    pub(crate) rule: AlertRule,
    active: BTreeMap<BTreeMap<String, String>, Alert>,
    pub(crate) health: Health,
    /// The last failed evaluation's error; empty after a good one.
    pub(crate) last_error: String,
    /// When it was last evaluated (unix ms).
    pub(crate) last_evaluation_ms: Option<i64>,
    /// How long that took, in seconds.
    pub(crate) evaluation_secs: f64,
}

impl RuleState {
    pub(crate) fn new(rule: AlertRule) -> RuleState {
        RuleState {
            rule,
            active: BTreeMap::new(),
            health: Health::Unknown,
            last_error: String::new(),
            last_evaluation_ms: None,
            evaluation_secs: 0.0,
        }
    }

    /// The active alerts, by label set.
    pub(crate) fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    /// Firing when an alert fires, else pending when one is pending; `None`: inactive.
    pub(crate) fn state(&self) -> Option<AlertState> {
        self.active.values().map(|a| a.state).max_by_key(|s| *s == AlertState::Firing)
    }

    /// Applies the evaluation at `now_ms` (which took `took_secs`): its output series with
    /// their values, or why it failed. Returns the alerts it resolved.
    pub(crate) fn apply(
        &mut self,
        outcome: Result<Vec<(Labels, f64)>, String>,
        now_ms: i64,
        took_secs: f64,
    ) -> Vec<ResolvedAlert> {
        self.last_evaluation_ms = Some(now_ms);
        self.evaluation_secs = took_secs;
        let returned = match outcome.and_then(|series| self.alert_labels(series)) {
            Ok(returned) => returned,
            Err(error) => {
                self.health = Health::Err;
                self.last_error = error;
                return Vec::new();
            }
        };
        self.health = Health::Ok;
        self.last_error.clear();
        let hold_ms = i64::try_from(self.rule.hold.as_millis()).unwrap_or(i64::MAX);
        let mut resolved = Vec::new();
        let previous = std::mem::take(&mut self.active);
        for (labels, alert) in previous {
            if !returned.contains_key(&labels) {
                if alert.state == AlertState::Firing {
                    resolved.push(ResolvedAlert { alert, resolved_at_ms: now_ms });
                }
                continue;
            }
            self.active.insert(labels, alert);
        }
        for (labels, value) in returned {
            let annotations =
                self.rule.annotations.iter().map(|(k, text)| (k.clone(), expand(text, &labels, value))).collect();
            let alert = self.active.entry(labels.clone()).or_insert_with(|| Alert {
                labels,
                annotations: BTreeMap::new(),
                state: AlertState::Pending,
                active_at_ms: now_ms,
                value,
            });
            alert.value = value;
            alert.annotations = annotations;
            if alert.state == AlertState::Pending && now_ms.saturating_sub(alert.active_at_ms) >= hold_ms {
                alert.state = AlertState::Firing;
            }
        }
        resolved
    }

    /// Each output series' alert labels, with its value; an error when two series end up
    /// with the same labels (as Prometheus refuses them).
    fn alert_labels(&self, series: Vec<(Labels, f64)>) -> Result<BTreeMap<BTreeMap<String, String>, f64>, String> {
        let mut out = BTreeMap::new();
        for (labels, value) in series {
            let mut set: BTreeMap<String, String> =
                labels.into_pairs().into_iter().filter(|(name, _)| name != "__name__").collect();
            set.insert("severity".into(), self.rule.severity.clone());
            set.extend(self.rule.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
            set.insert("alertname".into(), self.rule.name.clone());
            if out.insert(set, value).is_some() {
                return Err("vector contains metrics with the same labelset after applying alert labels".into());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn rule(hold_secs: u64) -> RuleState {
        RuleState::new(AlertRule {
            name: "HighLoad".into(),
            expr: "node_load1 > 4".into(),
            hold: Duration::from_secs(hold_secs),
            severity: "warning".into(),
            labels: [("team".to_string(), "sre".to_string())].into(),
            annotations: [("summary".to_string(), "{{ $labels.host }} at {{ $value }}".to_string())].into(),
        })
    }

    fn series(host: &str, value: f64) -> (Labels, f64) {
        let labels = [("__name__", "node_load1"), ("host", host), ("region", "eu")];
        (Labels::new(labels.map(|(k, v)| (k.to_string(), v.to_string()))), value)
    }

    fn states(rule: &RuleState) -> Vec<(String, AlertState, i64)> {
        rule.alerts().map(|a| (a.labels["host"].clone(), a.state, a.active_at_ms)).collect()
    }

    #[test]
    fn an_alert_is_pending_then_fires_after_for_then_resolves() {
        let mut rule = rule(120);
        assert_eq!((rule.state(), rule.health), (None, Health::Unknown));
        assert!(rule.apply(Ok(vec![series("web-1", 5.0)]), 0, 0.01).is_empty());
        assert_eq!(states(&rule), [("web-1".to_string(), AlertState::Pending, 0)]);
        assert_eq!((rule.state(), rule.health), (Some(AlertState::Pending), Health::Ok));
        rule.apply(Ok(vec![series("web-1", 6.0)]), 60_000, 0.01);
        assert_eq!(rule.state(), Some(AlertState::Pending));
        rule.apply(Ok(vec![series("web-1", 7.0), series("web-2", 9.0)]), 120_000, 0.01);
        assert_eq!(
            states(&rule),
            [("web-1".to_string(), AlertState::Firing, 0), ("web-2".to_string(), AlertState::Pending, 120_000)]
        );
        assert_eq!(rule.state(), Some(AlertState::Firing));
        let web1 = rule.alerts().next().unwrap();
        assert_eq!((web1.value, web1.annotations["summary"].as_str()), (7.0, "web-1 at 7"));
        // web-1 stops: resolved, and out of the active set; web-2 stays pending.
        let resolved = rule.apply(Ok(vec![series("web-2", 9.0)]), 180_000, 0.01);
        assert_eq!(resolved.len(), 1);
        assert_eq!((resolved[0].alert.labels["host"].as_str(), resolved[0].resolved_at_ms), ("web-1", 180_000));
        assert_eq!(states(&rule), [("web-2".to_string(), AlertState::Pending, 120_000)]);
        // A pending alert that stops is dropped without a resolution.
        assert!(rule.apply(Ok(Vec::new()), 240_000, 0.01).is_empty());
        assert_eq!(rule.state(), None);
    }

    #[test]
    fn with_no_for_an_alert_fires_at_its_first_evaluation() {
        let mut rule = rule(0);
        rule.apply(Ok(vec![series("web-1", 5.0)]), 1_000, 0.0);
        assert_eq!(states(&rule), [("web-1".to_string(), AlertState::Firing, 1_000)]);
    }

    #[test]
    fn labels_are_the_series_without_its_name_plus_the_rule_s() {
        let mut rule = rule(0);
        rule.apply(Ok(vec![series("web-1", 5.0)]), 0, 0.0);
        let labels: Vec<(&str, &str)> =
            rule.alerts().next().unwrap().labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            labels,
            [("alertname", "HighLoad"), ("host", "web-1"), ("region", "eu"), ("severity", "warning"), ("team", "sre")]
        );
    }

    #[test]
    fn a_failing_evaluation_keeps_the_alerts_and_records_the_error() {
        let mut rule = rule(60);
        rule.apply(Ok(vec![series("web-1", 5.0)]), 0, 0.0);
        assert!(rule.apply(Err("storage error: disk on fire".into()), 30_000, 0.0).is_empty());
        assert_eq!((rule.health, rule.last_error.as_str()), (Health::Err, "storage error: disk on fire"));
        assert_eq!(states(&rule), [("web-1".to_string(), AlertState::Pending, 0)]);
        // The next good evaluation carries on from the kept state, and clears the error.
        rule.apply(Ok(vec![series("web-1", 5.0)]), 60_000, 0.0);
        assert_eq!(states(&rule), [("web-1".to_string(), AlertState::Firing, 0)]);
        assert_eq!((rule.health, rule.last_error.as_str()), (Health::Ok, ""));
    }

    #[test]
    fn series_that_collide_once_named_alike_are_an_error() {
        let mut rule = rule(0);
        let a = (Labels::new([("__name__".to_string(), "a".to_string())]), 1.0);
        let b = (Labels::new([("__name__".to_string(), "b".to_string())]), 2.0);
        rule.apply(Ok(vec![a, b]), 0, 0.0);
        assert_eq!(rule.health, Health::Err);
        assert!(rule.last_error.contains("same labelset"), "{}", rule.last_error);
        assert_eq!(rule.alerts().count(), 0);
    }
}
