//! Alerts over HTTP, in Prometheus's JSON shapes (Grafana reads them): `/api/v1/alerts`
//! (this aggregator's active alerts and, at a master, every region's) and `/api/v1/rules`
//! (this aggregator's rules); and `/api/alerts/history`, the alerts resolved lately.
//!
//! A region's alerts carry its `region` label. Those of a region the master no longer hears
//! from are its last known ones, listed with the annotation `region_unreachable` (an extra
//! annotation is what Grafana and other Prometheus clients pass over).

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Query, State};
use serde_json::{Value, json};

use super::AppState;
use crate::alerting::{Alert, AlertState, Health, RuleState};
use crate::federation::Reachability;
use crate::registry::now_ms;

/// The annotation on the alerts of an unreachable region.
pub(crate) const UNREACHABLE_ANNOTATION: &str = "region_unreachable";

/// `/api/v1/alerts`.
pub(crate) async fn list_alerts(State(state): State<AppState>) -> Json<Value> {
    let now = now_ms();
    let mut alerts: Vec<Value> = state.alerts.active().iter().map(alert_json).collect();
    if let Some(sets) = &state.federation.region_alerts {
        for wire in sets.all() {
            let mut alert = from_wire(&wire);
            alert.labels.entry("region".into()).or_insert_with(|| wire.region.clone());
            let heard = state.federation.regions.as_ref().and_then(|r| r.region(&wire.region, now));
            if let Some((region, Reachability::Unreachable)) = heard {
                alert.annotations.insert(
                    UNREACHABLE_ANNOTATION.into(),
                    format!(
                        "no word from region {} since {}; this is its last known alert state",
                        wire.region,
                        rfc3339(region.last_heard_ms)
                    ),
                );
            }
            alerts.push(alert_json(&alert));
        }
    }
    Json(json!({ "status": "success", "data": { "alerts": alerts } }))
}

/// `/api/v1/rules` parameters: `type` ("alert" or "record"; default both).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct RulesParams {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `/api/v1/rules`: one group, `aggregator.toml`'s `[alerting]` rules. sysmon has no
/// recording rules, so `type=record` gives no group.
pub(crate) async fn list_rules(State(state): State<AppState>, Query(params): Query<RulesParams>) -> Json<Value> {
    let rules = state.alerts.rules();
    if rules.is_empty() || params.kind.as_deref() == Some("record") {
        return Json(json!({ "status": "success", "data": { "groups": [] } }));
    }
    let evaluation_secs: f64 = rules.iter().map(|r| r.evaluation_secs).sum();
    let last = rules.iter().filter_map(|r| r.last_evaluation_ms).max();
    let group = json!({
        "name": "sysmon",
        "file": "aggregator.toml",
        "rules": rules.iter().map(rule_json).collect::<Vec<_>>(),
        "interval": state.alerts.interval().as_secs_f64(),
        "limit": 0,
        "evaluationTime": evaluation_secs,
        "lastEvaluation": last.map_or_else(|| GO_ZERO_TIME.to_string(), rfc3339),
    });
    Json(json!({ "status": "success", "data": { "groups": [group] } }))
}

/// `/api/alerts/history`: the alerts this aggregator resolved lately (in memory), newest first.
pub(crate) async fn alert_history(State(state): State<AppState>) -> Json<Value> {
    let resolved: Vec<Value> = state
        .alerts
        .resolved()
        .iter()
        .map(|r| {
            let mut alert = alert_json(&r.alert);
            alert["resolvedAt"] = json!(rfc3339(r.resolved_at_ms));
            alert
        })
        .collect();
    Json(json!({ "resolved": resolved }))
}

/// How Go writes its zero time: what Prometheus gives a rule never evaluated.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn rule_json(rule: &RuleState) -> Value {
    let mut labels = rule.rule.labels.clone();
    labels.insert("severity".into(), rule.rule.severity.clone());
    let mut out = json!({
        "state": rule.state().map_or("inactive", AlertState::name),
        "name": rule.rule.name,
        "query": rule.rule.expr,
        "duration": rule.rule.hold.as_secs_f64(),
        "keepFiringFor": 0,
        "labels": labels,
        "annotations": rule.rule.annotations,
        "alerts": rule.alerts().map(alert_json).collect::<Vec<_>>(),
        "health": rule.health.name(),
        "evaluationTime": rule.evaluation_secs,
        "lastEvaluation": rule.last_evaluation_ms.map_or_else(|| GO_ZERO_TIME.to_string(), rfc3339),
        "type": "alerting",
    });
    if rule.health == Health::Err {
        out["lastError"] = json!(rule.last_error);
    }
    out
}

fn alert_json(alert: &Alert) -> Value {
    json!({
        "labels": alert.labels,
        "annotations": alert.annotations,
        "state": alert.state.name(),
        "activeAt": rfc3339(alert.active_at_ms),
        "value": go_exponent(alert.value),
    })
}

/// A region's alert, as the batch carried it (its state checked at ingest).
fn from_wire(wire: &sysmon_proto::v1::AlertState) -> Alert {
    let map = |labels: &[sysmon_proto::v1::Label]| -> BTreeMap<String, String> {
        labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect()
    };
    Alert {
        labels: map(&wire.labels),
        annotations: map(&wire.annotations),
        state: AlertState::from_name(&wire.state).unwrap_or(AlertState::Pending),
        active_at_ms: wire.active_at_ms,
        value: wire.value,
    }
}

/// Unix ms as RFC 3339 in UTC, with milliseconds.
fn rfc3339(ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(time).to_string()
}

/// `v` as Go's `strconv.FormatFloat(v, 'e', -1, 64)` writes it, as Prometheus gives an
/// alert's value: the shortest digits, an exponent of at least two digits with its sign
/// (`1e+00`, `4.25e+02`, `1.5e-07`), and `NaN`, `+Inf`, `-Inf`.
pub(crate) fn go_exponent(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let text = format!("{v:e}");
    let (mantissa, exponent) = text.split_once('e').expect("Rust's {:e} always writes an exponent");
    let (sign, digits) = match exponent.strip_prefix('-') {
        Some(digits) => ('-', digits),
        None => ('+', exponent),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_as_go_writes_them_in_e_format() {
        let cases = [
            (1.0, "1e+00"),
            (0.0, "0e+00"),
            (425.0, "4.25e+02"),
            (-0.5, "-5e-01"),
            (1.5e-7, "1.5e-07"),
            (1e100, "1e+100"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (v, text) in cases {
            assert_eq!(go_exponent(v), text, "{v}");
        }
    }

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
