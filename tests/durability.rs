//! No acknowledged sample is ever lost and none is stored twice: kill -9 the aggregator
//! while agents stream, restart it, and read every acked sample back exactly once.

mod util;

use std::collections::BTreeSet;
use std::time::Duration;

use util::{Fleet, wait_until};

/// The collection timestamps of every batch the agent saw acknowledged (its debug log).
fn acked_timestamps(log: &str) -> BTreeSet<i64> {
    log.lines()
        .filter(|l| l.contains("batch acked"))
        .filter_map(|l| {
            let rest = &l[l.find("collected_at_ms=")? + "collected_at_ms=".len()..];
            rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        })
        .collect()
}

fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

#[test]
fn acked_samples_survive_kill_9_exactly_once() {
    let fleet = Fleet::new();
    let mut aggregator = fleet.start_aggregator("aggregator");
    let ids = ["web-01", "web-02"];
    let agents: Vec<_> = ids
        .iter()
        .map(|id| {
            fleet.issue_agent(id);
            fleet.start_agent(id, id, aggregator.grpc, "1s")
        })
        .collect();

    wait_until(Duration::from_secs(30), "each agent to have 4 batches acked", || {
        agents.iter().all(|a| acked_timestamps(&a.log()).len() >= 4)
    });
    aggregator.process.kill9();
    // Everything the agents logged as acked happened before the kill.
    let acked_before: Vec<BTreeSet<i64>> = agents.iter().map(|a| acked_timestamps(&a.log())).collect();

    let (grpc, http) = (aggregator.grpc, aggregator.http);
    let aggregator = fleet.start_aggregator_on("aggregator", grpc, http);
    wait_until(Duration::from_secs(60), "both agents to reconnect on their own and ship new batches", || {
        agents.iter().zip(&acked_before).all(|(a, before)| {
            let log = a.log();
            count(&log, "connected to aggregator") >= 2 && acked_timestamps(&log).len() >= before.len() + 2
        })
    });

    for ((id, before), agent) in ids.iter().zip(&acked_before).zip(&agents) {
        let body = aggregator.get_json(&format!("/api/hosts/{id}/series?metric=node_load1&start=0&end=9999999999999"));
        let series = body["series"].as_array().unwrap();
        assert_eq!(series.len(), 1, "{body}");
        let stamps: Vec<i64> = series[0]["points"].as_array().unwrap().iter().map(|p| p[0].as_i64().unwrap()).collect();
        let stored: BTreeSet<i64> = stamps.iter().copied().collect();
        assert_eq!(stored.len(), stamps.len(), "{id}: a timestamp is stored twice: {stamps:?}");
        let missing: Vec<_> = before.difference(&stored).collect();
        assert!(
            missing.is_empty(),
            "{id}: acked before the kill but missing after restart: {missing:?}\n{}",
            agent.log()
        );
        // And everything acked since the restart is there too.
        let acked_now = acked_timestamps(&agent.log());
        let stored_now: BTreeSet<i64> = aggregator
            .get_json(&format!("/api/hosts/{id}/series?metric=node_load1&start=0&end=9999999999999"))["series"][0]
            ["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[0].as_i64().unwrap())
            .collect();
        assert!(acked_now.is_subset(&stored_now), "{id}: acked after restart but missing");
    }
    let metrics = util::http_get(&format!("{}/metrics", aggregator.url())).unwrap().1;
    assert!(metrics.contains("sysmon_ingest_stored_samples_total"), "{metrics}");
}
