//! `sysmon events`: agent events (heavy users, spool drops, ...) from any aggregator, newest
//! first.

use serde_json::Value;

use crate::cli::{EventsArgs, Output};
use crate::hosts::{ago, get_json, now_ms, percent_encode, print};
use crate::table::render;

pub(crate) async fn run(args: EventsArgs) -> anyhow::Result<()> {
    let mut query = vec![format!("limit={}", args.limit)];
    if let Some(host) = &args.host {
        query.push(format!("host={}", percent_encode(host)));
    }
    if let Some(kind) = &args.kind {
        query.push(format!("kind={}", percent_encode(kind)));
    }
    if let Some(since) = args.since {
        query.push(format!("since={}", now_ms().saturating_sub(since.as_millis() as i64)));
    }
    let body = get_json(&args.server, &format!("/api/events?{}", query.join("&"))).await?;
    match args.server.output {
        Output::Json => print(&format!("{:#}", body["events"])),
        Output::Table => print(&events_table(&body["events"], true)),
    }
    Ok(())
}

/// Events as a table: when, host (if `with_host`), kind and message.
pub(crate) fn events_table(events: &Value, with_host: bool) -> String {
    let empty = Vec::new();
    let events = events.as_array().unwrap_or(&empty);
    if events.is_empty() {
        return "no events\n".into();
    }
    let now = now_ms();
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let time = e["time_ms"].as_i64().map_or("-".into(), |t| format!("{} ({})", rfc3339(t), ago(now - t)));
            let mut row = vec![time];
            if with_host {
                row.push(e["host"].as_str().unwrap_or("-").to_string());
            }
            row.push(e["kind"].as_str().unwrap_or("-").to_string());
            row.push(e["message"].as_str().unwrap_or("").to_string());
            row
        })
        .collect();
    let header: &[&str] = if with_host { &["TIME", "HOST", "KIND", "MESSAGE"] } else { &["TIME", "KIND", "MESSAGE"] };
    render(header, &rows, &[])
}

fn rfc3339(ms: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_events_with_or_without_host() {
        let events = serde_json::json!([
            {"host": "web-01", "time_ms": 1_790_000_000_000_i64, "kind": "heavy_user_start", "message": "user alice above"},
        ]);
        let table = events_table(&events, true);
        assert!(table.starts_with("TIME"), "{table}");
        assert!(table.contains("2026-09-21T14:13:20Z ("), "{table}");
        assert!(table.contains("web-01  heavy_user_start  user alice above"), "{table}");
        assert!(!events_table(&events, false).contains("web-01"));
        assert_eq!(events_table(&serde_json::json!([]), true), "no events\n");
        assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
    }
}
