//! One aggregator, three agents with their own ids and certificates: the fleet CLI lists
//! all three as up with sane figures.

mod util;

use std::time::Duration;

use serde_json::Value;
use util::{Fleet, mem_total_bytes, run_ok, wait_until};

#[test]
fn three_agents_are_listed_up_with_their_figures() {
    let fleet = Fleet::new();
    let aggregator = fleet.start_aggregator("aggregator");
    let ids = ["web-01", "web-02", "db-01"];
    let _agents: Vec<_> = ids
        .iter()
        .map(|id| {
            fleet.issue_agent(id);
            fleet.start_agent(id, id, aggregator.grpc, "1s")
        })
        .collect();

    let server = aggregator.url();
    let list = || -> Vec<Value> {
        let out = run_ok(&["hosts", "list", "--server", &server, "--output", "json"]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("hosts list is not JSON ({e}): {out}"))
    };
    // CPU % needs two collections; wait until every host has one.
    wait_until(Duration::from_secs(30), "three hosts up with CPU figures", || {
        let hosts = list();
        hosts.len() == 3 && hosts.iter().all(|h| h["status"] == "up" && h["cpu_percent"].is_number())
    });

    let hosts = list();
    let mut names: Vec<&str> = hosts.iter().map(|h| h["host"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["db-01", "web-01", "web-02"]);
    for host in &hosts {
        let cpu = host["cpu_percent"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&cpu), "{host}");
        assert_eq!(host["memory_total_bytes"].as_f64(), Some(mem_total_bytes()), "{host}");
        let memory = host["memory_percent"].as_f64().unwrap();
        assert!(memory > 0.0 && memory < 100.0, "{host}");
        assert!(host["load1"].as_f64().unwrap() >= 0.0, "{host}");
        assert_eq!(host["region"], "test");
    }

    // The table form names every host too.
    let table = run_ok(&["hosts", "list", "--server", &server]);
    assert!(table.starts_with("HOST"), "{table}");
    for id in ids {
        assert!(table.contains(id), "{table}");
    }

    // And one host's page: inventory and latest values.
    let show = run_ok(&["hosts", "show", "web-01", "--server", &server, "--output", "json"]);
    let show: Value = serde_json::from_str(&show).unwrap();
    assert_eq!(show["inventory"]["memory_bytes"].as_f64(), Some(mem_total_bytes()));
    assert!(show["inventory"]["cpu_cores"].as_u64().unwrap() >= 1);
    assert!(show["latest"].as_array().unwrap().iter().any(|v| v["labels"]["__name__"] == "node_load1"));
    let text = run_ok(&["hosts", "show", "web-01", "--server", &server]);
    assert!(text.contains("node_memory_MemTotal_bytes"), "{text}");

    let missing = util::run(&["hosts", "show", "nope", "--server", &server]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no host named \"nope\""),
        "{}",
        util::describe(&missing)
    );
}
