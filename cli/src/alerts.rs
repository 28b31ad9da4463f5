//! `sysmon alerts list / history`: alerts from any aggregator's HTTP API (`/api/v1/alerts`,
//! `/api/alerts/history`), through the client the hosts commands use.
//!
//! `--region` and `--state` are applied here: `/api/v1/alerts` has Prometheus's shape, which
//! takes no filters.

use anyhow::Context as _;
use serde_json::Value;

use crate::cli::{AlertStateArg, AlertsCommand, AlertsListArgs, Output};
use crate::hosts::{ago, get_json, now_ms, print, text};
use crate::table::render;

/// The annotation a master puts on the alerts of a region it no longer hears from.
const UNREACHABLE_ANNOTATION: &str = "region_unreachable";

pub(crate) async fn run(command: AlertsCommand) -> anyhow::Result<()> {
    match command {
        AlertsCommand::List(args) => list(args).await,
        AlertsCommand::History { server } => {
            let body = get_json(&server, "/api/alerts/history").await?;
            let resolved = body["resolved"].as_array().context("/api/alerts/history answered no \"resolved\" list")?;
            match server.output {
                Output::Json => print(&format!("{:#}", Value::Array(resolved.clone()))),
                Output::Table => print(&history_table(resolved, now_ms())),
            }
            Ok(())
        }
    }
}

async fn list(args: AlertsListArgs) -> anyhow::Result<()> {
    let body = get_json(&args.server, "/api/v1/alerts").await?;
    let alerts = body["data"]["alerts"]
        .as_array()
        .context("/api/v1/alerts answered something other than {\"data\": {\"alerts\": [...]}}")?;
    let shown: Vec<Value> = alerts.iter().filter(|a| matches(&args, a)).cloned().collect();
    match args.server.output {
        Output::Json => print(&format!("{:#}", Value::Array(shown))),
        Output::Table => print(&alerts_table(&shown, now_ms())),
    }
    Ok(())
}

fn matches(args: &AlertsListArgs, alert: &Value) -> bool {
    let region_ok = args.region.as_deref().is_none_or(|r| alert["labels"]["region"].as_str() == Some(r));
    let state = alert["state"].as_str();
    let state_ok = match args.state {
        None => true,
        Some(AlertStateArg::Pending) => state == Some("pending"),
        Some(AlertStateArg::Firing) => state == Some("firing"),
    };
    region_ok && state_ok
}

fn alerts_table(alerts: &[Value], now_ms: i64) -> String {
    if alerts.is_empty() {
        return "no active alerts\n".into();
    }
    let rows: Vec<Vec<String>> = alerts
        .iter()
        .map(|a| {
            let mut region = label(a, "region");
            if a["annotations"][UNREACHABLE_ANNOTATION].is_string() {
                region.push_str(" (unreachable)");
            }
            vec![
                label(a, "alertname"),
                text(&a["state"]),
                label(a, "severity"),
                region,
                since(&a["activeAt"], now_ms),
                value(&a["value"]),
                other_labels(&a["labels"]),
            ]
        })
        .collect();
    render(&["ALERT", "STATE", "SEVERITY", "REGION", "ACTIVE", "VALUE", "LABELS"], &rows, &[5])
}

fn history_table(resolved: &[Value], now_ms: i64) -> String {
    if resolved.is_empty() {
        return "no alerts resolved lately\n".into();
    }
    let rows: Vec<Vec<String>> = resolved
        .iter()
        .map(|a| {
            vec![
                label(a, "alertname"),
                label(a, "severity"),
                since(&a["activeAt"], now_ms),
                since(&a["resolvedAt"], now_ms),
                other_labels(&a["labels"]),
            ]
        })
        .collect();
    render(&["ALERT", "SEVERITY", "ACTIVE", "RESOLVED", "LABELS"], &rows, &[])
}

fn label(alert: &Value, name: &str) -> String {
    alert["labels"][name].as_str().unwrap_or("-").to_string()
}

/// The labels other than those the table has columns for, as `a="b",...`.
fn other_labels(labels: &Value) -> String {
    let Some(map) = labels.as_object() else { return "-".into() };
    let rest: Vec<String> = map
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "alertname" | "severity" | "region"))
        .map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap_or("")))
        .collect();
    if rest.is_empty() { "-".into() } else { rest.join(",") }
}

/// An RFC 3339 time as "5m ago".
fn since(time: &Value, now_ms: i64) -> String {
    let parsed = time.as_str().and_then(|t| humantime::parse_rfc3339_weak(t).ok());
    let ms = parsed.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_millis() as i64);
    ms.map_or_else(|| text(time), |ms| ago(now_ms - ms))
}

/// Prometheus's value text (`4.25e+02`) as a plain number where it reads as one.
fn value(v: &Value) -> String {
    match v.as_str().and_then(|t| t.parse::<f64>().ok()) {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => text(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(name: &str, state: &str, region: &str, unreachable: bool) -> Value {
        let mut annotations = serde_json::json!({ "summary": "s" });
        if unreachable {
            annotations[UNREACHABLE_ANNOTATION] = "no word".into();
        }
        serde_json::json!({
            "labels": { "alertname": name, "severity": "warning", "region": region, "host": "web-1" },
            "annotations": annotations,
            "state": state,
            "activeAt": "2023-11-14T22:13:20.000Z",
            "value": "4.25e+02",
        })
    }

    #[test]
    fn a_table_row_per_alert_with_its_region_marked_when_unreachable() {
        let now = 1_700_000_000_000 + 120_000;
        let table =
            alerts_table(&[alert("HighLoad", "firing", "eu", false), alert("Down", "pending", "us", true)], now);
        assert_eq!(
            table,
            "ALERT     STATE    SEVERITY  REGION            ACTIVE  VALUE  LABELS\n\
             HighLoad  firing   warning   eu                2m ago    425  host=\"web-1\"\n\
             Down      pending  warning   us (unreachable)  2m ago    425  host=\"web-1\"\n"
        );
        assert_eq!(alerts_table(&[], now), "no active alerts\n");
    }

    #[test]
    fn region_and_state_filter_the_list() {
        let server = crate::cli::ServerArgs { server: String::new(), output: Output::Table };
        let args = AlertsListArgs { region: Some("eu".into()), state: Some(AlertStateArg::Firing), server };
        assert!(matches(&args, &alert("A", "firing", "eu", false)));
        assert!(!matches(&args, &alert("A", "pending", "eu", false)));
        assert!(!matches(&args, &alert("A", "firing", "us", false)));
    }
}
