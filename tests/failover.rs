//! Failover across aggregators: the preferred one is killed, the agent moves to the next
//! and, when the preferred one is back, returns to it; every batch is stored somewhere, and
//! none twice in the same aggregator.

mod util;

use std::collections::BTreeSet;
use std::time::Duration;

use util::{Fleet, stamps, stored, wait_until};

#[test]
fn the_agent_fails_over_and_back_without_losing_a_batch() {
    let fleet = Fleet::new();
    fleet.issue_agent("web-01");
    let mut preferred = fleet.start_aggregator("preferred");
    let fallback = fleet.start_aggregator("fallback");
    let endpoints = [format!("https://{}", preferred.grpc), format!("https://{}", fallback.grpc)];
    let agent = fleet.start_agent_config(
        "web-01",
        "web-01",
        &fleet.certs(),
        &[endpoints[0].as_str(), endpoints[1].as_str()],
        "1s",
        // Faster than the default minute, so that the test sees the return.
        "failback_interval = \"2s\"",
        "",
    );
    wait_until(Duration::from_secs(30), "3 batches acked by the preferred aggregator", || {
        stamps(&agent.log(), "batch acked").len() >= 3
    });
    preferred.process.kill9();
    wait_until(Duration::from_secs(30), "the agent on the fallback aggregator", || {
        agent.log().contains("a fallback; the preferred endpoints are down")
    });
    let acked_at_failover = stamps(&agent.log(), "batch acked").len();
    wait_until(Duration::from_secs(30), "3 batches acked by the fallback", || {
        stamps(&agent.log(), "batch acked").len() >= acked_at_failover + 3
    });

    let (grpc, http) = (preferred.grpc, preferred.http);
    let preferred = fleet.start_aggregator_on("preferred", grpc, http);
    wait_until(Duration::from_secs(30), "the agent back on the preferred aggregator", || {
        agent.log().contains("moving back to a preferred aggregator")
    });
    let acked_at_return = stamps(&agent.log(), "batch acked").len();
    wait_until(Duration::from_secs(30), "2 batches acked after the return", || {
        stamps(&agent.log(), "batch acked").len() >= acked_at_return + 2
    });

    let spooled = stamps(&agent.log(), "batch spooled");
    let acked = stamps(&agent.log(), "batch acked");
    let (on_preferred, on_fallback) = (stored(&preferred, "web-01"), stored(&fallback, "web-01"));
    for (name, points) in [("preferred", &on_preferred), ("fallback", &on_fallback)] {
        let unique: BTreeSet<i64> = points.iter().copied().collect();
        assert_eq!(unique.len(), points.len(), "{name} stored a batch twice: {points:?}");
    }
    assert!(!on_fallback.is_empty(), "nothing reached the fallback");
    let everywhere: BTreeSet<i64> = on_preferred.iter().chain(&on_fallback).copied().collect();
    let missing: Vec<_> = acked.difference(&everywhere).collect();
    assert!(missing.is_empty(), "acked but stored nowhere: {missing:?}\n{}", agent.log());
    // Every batch spooled before the last acked one was acked (none skipped).
    let last_acked = *acked.iter().next_back().unwrap();
    let skipped: Vec<_> = spooled.iter().filter(|&&t| t <= last_acked && !everywhere.contains(&t)).collect();
    assert!(skipped.is_empty(), "spooled but stored nowhere: {skipped:?}\n{}", agent.log());
}
