//! Alerts end to end: a regional aggregator's rule fires on its agent's samples, its alert
//! reaches a master and the master above it through real mutual-TLS federation streams,
//! `/api/v1/alerts` and `sysmon alerts list` show it with its region, and a master that no
//! longer hears from the region still lists it, marked, across its own restart.
//!
//! Rules run every second and replication every 2 s here (30 s and 60 s by default), and a
//! region is unreachable after 6 s of silence.

mod util;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use util::{Aggregator, Fleet, free_addr, wait_for};

const FEDERATION: &str = "[federation]\ninterval = \"2s\"\ndelay = \"1s\"\nbackfill = \"5m\"\nregion_timeout = \"6s\"\nquery_timeout = \"5s\"\n";

const RULES: &str = r#"
[alerting]
interval = "1s"
[[alerting.rules]]
alert = "LoadReported"
expr = "node_load1 >= 0"
severity = "info"
labels = { team = "sre" }
annotations = { summary = "load on {{ $labels.host }} is {{ $value }}" }
[[alerting.rules]]
alert = "NeverTrue"
expr = "node_load1 < -1"
for = "1m"
"#;

fn master(fleet: &Fleet, name: &str, grpc: SocketAddr, http: SocketAddr, upstream: Option<SocketAddr>) -> Aggregator {
    let discovery =
        upstream.map_or_else(String::new, |a| format!("[discovery]\nstatic_endpoints = [\"https://{a}\"]\n"));
    let keys = format!("role = \"master\"\nregion = \"{name}\"");
    fleet.start_aggregator_as(name, grpc, http, &keys, name, &format!("{discovery}{FEDERATION}"))
}

/// The alerts `aggregator` lists, from `/api/v1/alerts`.
fn alerts(aggregator: &Aggregator) -> Vec<Value> {
    let body = aggregator.get_json("/api/v1/alerts");
    assert_eq!(body["status"], "success", "{body}");
    body["data"]["alerts"].as_array().unwrap().clone()
}

/// The one alert `aggregator` lists, once it lists exactly one named `name`.
fn wait_for_alert(aggregator: &Aggregator, name: &str, what: &str) -> Value {
    wait_for(Duration::from_secs(30), what, || {
        let listed = alerts(aggregator);
        match listed.iter().filter(|a| a["labels"]["alertname"] == name).collect::<Vec<_>>()[..] {
            [one] => Ok(one.clone()),
            _ => Err(format!("{listed:?}")),
        }
    })
}

#[test]
fn a_regional_alert_reaches_the_masters_above_it_with_its_region() {
    let fleet = Fleet::new();
    for name in ["top", "mid", "regional-eu"] {
        fleet.issue_server(name);
    }
    let (top_grpc, mid_grpc, mid_http) = (free_addr(), free_addr(), free_addr());
    let top = master(&fleet, "top", top_grpc, free_addr(), None);
    let mid = master(&fleet, "mid", mid_grpc, mid_http, Some(top_grpc));
    let keys = "role = \"regional\"\nregion = \"eu\"";
    let extra = format!("[discovery]\nstatic_endpoints = [\"https://{mid_grpc}\"]\n{FEDERATION}{RULES}");
    let mut eu = fleet.start_aggregator_as("regional-eu", free_addr(), free_addr(), keys, "regional-eu", &extra);
    fleet.issue_agent("eu-1");
    let _agent = fleet.start_agent("eu-1", "eu-1", eu.grpc, "1s");

    // At the regional: the rule fires at its first evaluation (no `for`), with the series'
    // labels (no __name__), the rule's and its expanded annotation.
    let local = wait_for_alert(&eu, "LoadReported", "the regional's rule to fire");
    assert_eq!(local["state"], "firing", "{local}");
    let labels = local["labels"].as_object().unwrap();
    let names: Vec<&str> = labels.keys().map(String::as_str).collect();
    assert_eq!(names, ["alertname", "host", "region", "severity", "team"], "{local}");
    assert_eq!((labels["host"].as_str(), labels["severity"].as_str()), (Some("eu-1"), Some("info")));
    // The value as Go's 'e' format writes it, e.g. "2.5e-01".
    let value = local["value"].as_str().unwrap();
    assert!(value.contains("e+") || value.contains("e-"), "{local}");
    assert!(value.parse::<f64>().unwrap() >= 0.0, "{local}");
    assert!(local["annotations"]["summary"].as_str().unwrap().starts_with("load on eu-1 is "), "{local}");
    humantime::parse_rfc3339(local["activeAt"].as_str().unwrap()).unwrap();

    // Counted at the end of each round of evaluations.
    wait_for(Duration::from_secs(10), "the regional's /metrics to count the firing alert", || {
        let (_, metrics) = util::http_get(&format!("{}/metrics", eu.url())).map_err(|e| e.to_string())?;
        if metrics.contains("sysmon_alerting_active_alerts{state=\"firing\"} 1\n") { Ok(()) } else { Err(metrics) }
    });

    // /api/v1/rules: both rules, in Prometheus's shape.
    let rules = eu.get_json("/api/v1/rules");
    let group = &rules["data"]["groups"][0];
    assert_eq!(group["interval"], 1.0, "{rules}");
    let states: Vec<(&str, &str, &str)> = group["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["state"].as_str().unwrap(), r["type"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("LoadReported", "firing", "alerting"), ("NeverTrue", "inactive", "alerting")]);
    assert_eq!(group["rules"][0]["health"], "ok");
    assert_eq!(group["rules"][1]["duration"], 60.0);

    // Both masters list it with the regional's region; the top one through the middle one.
    for (master, what) in [(&mid, "the middle master"), (&top, "the top master")] {
        let listed = wait_for_alert(master, "LoadReported", &format!("{what} to list the regional's alert"));
        assert_eq!(listed["labels"]["region"], "eu", "{listed}");
        assert_eq!(listed["labels"]["host"], "eu-1", "{listed}");
        assert_eq!(listed["state"], "firing", "{listed}");
        assert_eq!(listed["activeAt"], local["activeAt"], "{listed}");
    }
    let table = util::run_ok(&["alerts", "list", "--server", &top.url(), "--state", "firing"]);
    assert!(table.starts_with("ALERT "), "{table}");
    let row = table.lines().find(|l| l.starts_with("LoadReported")).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains(" firing ") && row.contains(" eu ") && row.contains("host=\"eu-1\""), "{table}");
    let json = util::run_ok(&["alerts", "list", "--server", &top.url(), "--region", "eu", "--output", "json"]);
    let json: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(json.len(), 1, "{json:?}");
    let none = util::run_ok(&["alerts", "list", "--server", &top.url(), "--state", "pending"]);
    assert_eq!(none, "no active alerts\n");

    // The region goes silent: its alert stays listed, marked; and a restarted master still
    // has it (from its store) before any region speaks again.
    eu.process.terminate();
    let marked = |master: &Aggregator| {
        let listed = alerts(master);
        let [alert] = &listed[..] else { return Err(format!("{listed:?}")) };
        match alert["annotations"]["region_unreachable"].as_str() {
            Some(note) if note.starts_with("no word from region eu since ") => Ok(()),
            _ => Err(format!("{alert}")),
        }
    };
    wait_for(Duration::from_secs(20), "the middle master to mark the silent region's alert", || marked(&mid));
    let mut mid = mid;
    mid.process.terminate();
    let mid = master(&fleet, "mid", mid_grpc, mid_http, Some(top_grpc));
    marked(&mid).unwrap();
    let table = util::run_ok(&["alerts", "list", "--server", &mid.url()]);
    assert!(table.contains(" eu (unreachable) "), "{table}");
}

#[test]
fn recording_rules_store_their_answers_as_series_named_by_the_rule() {
    let fleet = Fleet::new();
    let rules = r#"
[recording]
interval = "1s"
[[recording.rules]]
record = "host:load1:max"
expr = "max by (host) (node_load1)"
labels = { tier = "summary" }
[[recording.rules]]
record = "host:load:collide"
expr = '{__name__=~"node_load1|node_load5"}'
[[recording.rules]]
record = "host:load1:blinking"
expr = 'max by (host) (node_load1) and on() (vector(time() % 4) < 2)'
"#;
    let aggregator = fleet.start_aggregator_with("agg", free_addr(), free_addr(), rules);
    fleet.issue_agent("web-1");
    let _agent = fleet.start_agent("web-1", "web-1", aggregator.grpc, "1s");

    // Stored as a series of its own, with the rule's labels, a sample per evaluation.
    let recorded = wait_for(Duration::from_secs(30), "three recorded samples", || {
        let body = aggregator.get_json("/api/v1/query?query=host:load1:max%5B1m%5D");
        let result = body["data"]["result"].as_array().unwrap().clone();
        match &result[..] {
            [one] if one["values"].as_array().unwrap().len() >= 3 => Ok(one.clone()),
            _ => Err(format!("{body}")),
        }
    });
    assert_eq!(
        recorded["metric"],
        serde_json::json!({"__name__": "host:load1:max", "host": "web-1", "tier": "summary"})
    );
    // Each recorded value is the host's node_load1 as it was (max over its one series).
    let loads = aggregator.get_json("/api/v1/query?query=node_load1%7Bhost%3D%22web-1%22%7D%5B5m%5D");
    let loads: Vec<&str> =
        loads["data"]["result"][0]["values"].as_array().unwrap().iter().map(|p| p[1].as_str().unwrap()).collect();
    for point in recorded["values"].as_array().unwrap() {
        assert!(loads.contains(&point[1].as_str().unwrap()), "{point} not among {loads:?}");
    }
    // A rule whose answer collides once named stores nothing, and says why.
    let collide = aggregator.get_json("/api/v1/query?query=count(%7B__name__%3D%22host:load:collide%22%7D)");
    assert_eq!(collide["data"]["result"], serde_json::json!([]), "{collide}");
    wait_for(Duration::from_secs(10), "the collision logged", || {
        let log = aggregator.process.log();
        if log.contains("recording rule failed") && log.contains("host:load:collide") { Ok(()) } else { Err(log) }
    });
    // A series that leaves a rule's answer (two seconds in, two out) gets a stale marker:
    // an instant query stops finding it at once, not 5 minutes (the lookback) later.
    let blinking = |present: bool| {
        wait_for(
            Duration::from_secs(20),
            if present { "the blinking series" } else { "the blinking series gone" },
            || {
                let body = aggregator.get_json("/api/v1/query?query=host:load1:blinking");
                let found = !body["data"]["result"].as_array().unwrap().is_empty();
                if found == present { Ok(()) } else { Err(format!("{body}")) }
            },
        )
    };
    blinking(true);
    blinking(false);
    blinking(true);
}

#[test]
fn the_documented_host_summaries_record_one_rounded_series_each_per_host() {
    // deploy/host-summaries.toml as a regional appends it, evaluated every second here.
    let documented = include_str!("../deploy/host-summaries.toml");
    let summaries = documented.replace("interval = \"60s\"", "interval = \"1s\"");
    assert_ne!(summaries, documented, "the recording interval is set in the file");
    let fleet = Fleet::new();
    let aggregator = fleet.start_aggregator_with("agg", free_addr(), free_addr(), &summaries);
    fleet.issue_agent("web-1");
    let _agent = fleet.start_agent("web-1", "web-1", aggregator.grpc, "1s");

    let names = [
        "host:cpu_busy:percent",
        "host:memory_used:percent",
        "host:filesystem_used:max_percent",
        "host:disk_bytes:rate",
        "host:network_receive_bytes:rate",
        "host:network_transmit_bytes:rate",
        "host:load1",
    ];
    let recorded = wait_for(Duration::from_secs(60), "the seven summaries", || {
        let body = aggregator.get_json("/api/v1/query?query=%7B__name__%3D~%22host%3A.%2B%22%7D");
        let result = body["data"]["result"].as_array().unwrap().clone();
        if result.len() == names.len() { Ok(result) } else { Err(format!("{body}")) }
    });
    for name in names {
        let series = recorded.iter().find(|s| s["metric"]["__name__"] == name).unwrap_or_else(|| panic!("{name}"));
        // One series per host, with no label but the host's.
        assert_eq!(series["metric"], serde_json::json!({"__name__": name, "host": "web-1"}), "{name}");
        let text = series["value"][1].as_str().unwrap();
        let value: f64 = text.parse().unwrap();
        assert!(value.is_finite() && value >= 0.0, "{name} = {text}");
        if name.ends_with("percent") {
            // Rounded to 0.01, as recorded.
            assert!(value <= 100.0 && text.split('.').nth(1).is_none_or(|d| d.len() <= 2), "{name} = {text}");
        }
        if name.ends_with(":rate") {
            assert!(!text.contains('.'), "{name} = {text} is not rounded to 1");
        }
    }
}
