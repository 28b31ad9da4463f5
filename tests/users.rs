//! Per-user usage and heavy-user detection end to end: a real agent on this machine, a
//! CPU-burning process owned by a user of its own, and what the aggregator ends up holding:
//! the user's CPU counter rising, the burner among the top processes (and gone at once, by
//! stale marker, when it exits), and the `heavy_user_start` / `heavy_user_end` events at
//! `/api/events` and in `sysmon events`.

mod util;

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use util::{Aggregator, Fleet, run_ok, wait_until};

/// A busy loop owned by `uid` (when the test runs as root) or by the test's own user.
struct Burner {
    child: Child,
}

impl Burner {
    fn start(uid: Option<u32>) -> Burner {
        let mut command = Command::new("yes");
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        if let Some(uid) = uid {
            command.uid(uid).gid(uid);
        }
        Burner { child: command.spawn().expect("yes(1) starts") }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.pid().to_string()).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for Burner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The name /etc/passwd gives `uid`, or the uid, as the agent labels it.
fn passwd_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.len() > 2 && fields[2] == uid.to_string())
        .map_or_else(|| uid.to_string(), |fields| fields[0].to_string())
}

/// `query` percent-encoded for a URL.
fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// The instant vector of `query` now: (labels, value) per series.
fn instant(aggregator: &Aggregator, query: &str) -> Vec<(Value, f64)> {
    let body = aggregator.get_json(&format!("/api/v1/query?query={}", encode(query)));
    assert_eq!(body["status"], "success", "{body}");
    body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["metric"].clone(), r["value"][1].as_str().unwrap().parse().unwrap()))
        .collect()
}

fn events(aggregator: &Aggregator, query: &str) -> Vec<Value> {
    aggregator.get_json(&format!("/api/events?{query}"))["events"].as_array().unwrap().clone()
}

#[test]
fn a_cpu_burner_shows_in_user_and_process_series_and_as_a_heavy_user_episode() {
    let fleet = Fleet::new();
    fleet.issue_agent("burny");
    let aggregator = fleet.start_aggregator("agg");

    // As root, the burner runs as a uid of its own that /etc/passwd does not name, so its
    // label is the number and nothing else on this busy machine counts for it. Otherwise it
    // is the test's own user, which min_uid is lowered to include.
    let me = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
    let (burner_uid, user) = if me == 0 {
        let uid = 2_000_000_000 + std::process::id() % 1_000_000;
        (Some(uid), uid.to_string())
    } else {
        (None, passwd_name(me))
    };
    let extra = format!(
        r#"
[users]
min_uid = {min_uid}
heavy_cpu_share = 0.01
heavy_memory_share = 0
persistent_time = "3s"

[processes]
top_n = 3
min_cpu_share = 0.005
"#,
        min_uid = burner_uid.unwrap_or(me).min(1000),
    );
    let burner = Burner::start(burner_uid);
    let pid = burner.pid().to_string();
    let _agent = fleet.start_agent_with("burny", aggregator.grpc, "1s", &extra);
    let user_selector = |metric: &str| format!("{metric}{{user=\"{user}\"}}");

    // The user's CPU counter rises.
    let cpu = user_selector("sysmon_user_cpu_seconds_total");
    let mut first = None;
    wait_until(Duration::from_secs(30), &format!("{cpu} rising"), || {
        let now = instant(&aggregator, &cpu).first().map(|(_, v)| *v);
        match (first, now) {
            (None, Some(v)) => {
                first = Some(v);
                false
            }
            (Some(a), Some(b)) => b > a,
            _ => false,
        }
    });

    // The burner is among the top processes by CPU, with its pid, command and user.
    let top = format!("sysmon_process_cpu_ratio{{pid=\"{pid}\"}}");
    wait_until(Duration::from_secs(15), &format!("{top} present"), || !instant(&aggregator, &top).is_empty());
    let (labels, ratio) = instant(&aggregator, &top).remove(0);
    assert_eq!(labels["command"], "yes", "{labels}");
    assert_eq!(labels["host"], "burny", "{labels}");
    assert_eq!(labels["user"], user.as_str(), "{labels}");
    assert!(ratio > 0.0 && ratio <= 1.0, "{ratio}");

    // Above 1 % of the machine for 3 s: heavy.
    let host_events = |kind: &str| events(&aggregator, &format!("host=burny&kind={kind}"));
    wait_until(Duration::from_secs(20), "a heavy_user_start event", || !host_events("heavy_user_start").is_empty());
    let start = host_events("heavy_user_start").remove(0);
    let attributes = &start["attributes"];
    assert_eq!(attributes["resource"], "cpu", "{start}");
    assert_eq!(attributes["threshold"], "0.0100", "{start}");
    let start_ms: i64 = attributes["start_ms"].as_str().unwrap().parse().unwrap();
    assert!(start["time_ms"].as_i64().unwrap() - start_ms >= 3000, "reported after persistent_time: {start}");
    let heavy = user_selector("sysmon_user_heavy");
    assert!(instant(&aggregator, &format!("{heavy} == 1")).iter().any(|(l, _)| l["resource"] == "cpu"));

    // Stopped, it uses no CPU: the episode ends.
    burner.signal("STOP");
    wait_until(Duration::from_secs(20), "a heavy_user_end event", || !host_events("heavy_user_end").is_empty());
    let end = host_events("heavy_user_end").remove(0);
    assert_eq!(end["attributes"]["start_ms"], start["attributes"]["start_ms"], "{end}");
    assert_eq!(end["attributes"]["reason"], "below_threshold", "{end}");
    let peak: f64 = end["attributes"]["peak"].as_str().unwrap().parse().unwrap();
    let average: f64 = end["attributes"]["average"].as_str().unwrap().parse().unwrap();
    assert!(peak >= average && average > 0.01, "{end}");

    // Killed, it leaves the top processes: its series ends at once (a stale marker), not
    // five minutes later.
    drop(burner);
    wait_until(Duration::from_secs(15), &format!("{top} gone"), || instant(&aggregator, &top).is_empty());

    // The CLI lists both events, newest first.
    let server = aggregator.url();
    let json = run_ok(&["events", "--server", &server, "--host", "burny", "--since", "10m", "--output", "json"]);
    let listed: Value = serde_json::from_str(&json).unwrap();
    let kinds: Vec<&str> = listed.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["heavy_user_end", "heavy_user_start"], "{json}");
    let table = run_ok(&["hosts", "show", "burny", "--server", &server]);
    assert!(table.contains("heavy_user_start"), "{table}");
}
