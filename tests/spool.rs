//! The agent's disk spool, end to end: nothing collected while the aggregator is away is
//! lost, even across a kill -9 of the agent; a spool that fills up drops its oldest batches
//! and says so, to its own metrics and to the aggregator as an event.

mod util;

use std::collections::BTreeSet;
use std::time::Duration;

use util::{Fleet, Tmpfs, free_addr, http_get, stamps, stored, wait_until};

#[test]
fn an_outage_with_an_agent_crash_loses_nothing_and_stores_nothing_twice() {
    let fleet = Fleet::new();
    fleet.issue_agent("web-01");
    let (grpc, http) = (free_addr(), free_addr());
    // The aggregator is away: the agent collects every second into its spool.
    let mut agent = fleet.start_agent("web-01", "web-01", grpc, "1s");
    wait_until(Duration::from_secs(20), "4 batches spooled", || stamps(&agent.log(), "batch spooled").len() >= 4);
    agent.kill9();
    let before_kill = stamps(&agent.log(), "batch spooled");
    // As if the kill had torn a record: garbage after the last one, which the restarted
    // agent cuts off with a warning.
    let newest = std::fs::read_dir(fleet.agent_spool("web-01"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .max()
        .unwrap();
    let mut file = std::fs::OpenOptions::new().append(true).open(&newest).unwrap();
    std::io::Write::write_all(&mut file, b"\x07\x00\x00\x00torn record after a kill -9").unwrap();
    drop(file);

    let agent = fleet.start_agent("web-01", "web-01", grpc, "1s");
    wait_until(Duration::from_secs(20), "the restarted agent to spool 3 more", || {
        stamps(&agent.log(), "batch spooled").len() >= before_kill.len() + 3
    });
    assert!(agent.log().contains("spool holds batches not yet acknowledged"), "{}", agent.log());
    assert!(agent.log().contains("spool segment has a torn tail"), "{}", agent.log());

    let aggregator = fleet.start_aggregator_on("aggregator", grpc, http);
    let spooled = stamps(&agent.log(), "batch spooled");
    wait_until(Duration::from_secs(30), "every spooled batch acked", || {
        spooled.is_subset(&stamps(&agent.log(), "batch acked"))
            && spooled.is_subset(&stored(&aggregator, "web-01").into_iter().collect())
    });
    let points = stored(&aggregator, "web-01");
    let unique: BTreeSet<i64> = points.iter().copied().collect();
    assert_eq!(unique.len(), points.len(), "a batch was stored twice: {points:?}");
    assert!(points.windows(2).all(|w| w[0] < w[1]), "{points:?}");
    let missing: Vec<_> = spooled.difference(&unique).collect();
    assert!(missing.is_empty(), "spooled but never stored: {missing:?}\n{}", agent.log());
    // Stored but never logged as spooled: at most the batch the kill interrupted between
    // its append and its log line.
    let spooled_now = stamps(&agent.log(), "batch spooled");
    let unexpected: Vec<_> = unique.difference(&spooled_now).collect();
    assert!(unexpected.len() <= 1, "stored but not spooled: {unexpected:?}");
    // No batch missing in the middle: one sample a second, no gap longer than the kill.
    let gaps: Vec<i64> = points.windows(2).map(|w| w[1] - w[0]).filter(|&g| g > 1000).collect();
    assert!(gaps.iter().all(|&g| g <= 5000), "gaps {gaps:?} in {points:?}");
}

#[test]
fn a_full_spool_drops_the_oldest_counts_it_and_tells_the_aggregator() {
    let fleet = Fleet::new();
    fleet.issue_agent("tiny");
    let (grpc, http) = (free_addr(), free_addr());
    let spool = fleet.agent_spool("tiny");
    let endpoint = format!("https://{grpc}");
    let agent = fleet.start_agent_config(
        "tiny",
        "tiny",
        &fleet.certs(),
        &[endpoint.as_str()],
        "1s",
        "",
        &format!("\n[spool]\ndir = \"{}\"\nmax_bytes = \"64KiB\"\n", spool.display()),
    );
    wait_until(Duration::from_secs(40), "the tiny spool to drop its oldest batches", || {
        agent.log().contains("spool full; oldest batches dropped")
    });
    let aggregator = fleet.start_aggregator_on("aggregator", grpc, http);
    let metrics_url = format!("{}/metrics", aggregator.url());
    wait_until(Duration::from_secs(30), "the drop reported as an event at the aggregator", || {
        http_get(&metrics_url).is_ok_and(|(_, body)| body.contains("sysmon_agent_events_total{kind=\"spool_dropped\"}"))
    });
    let log = aggregator.process.log();
    assert!(log.contains("agent event") && log.contains("spool_dropped") && log.contains("spool full"), "{log}");

    // The agent counts its drops in its own series, like any other metric.
    let query = format!(
        "{}/api/v1/query?query=sysmon_agent_spool_dropped_batches_total%7Breason%3D%22full%22%2Chost%3D%22tiny%22%7D",
        aggregator.url()
    );
    wait_until(Duration::from_secs(20), "sysmon_agent_spool_dropped_batches_total > 0", || {
        let Ok((200, body)) = http_get(&query) else { return false };
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        value["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).is_some_and(|v| v > 0.0)
    });
    // The newest batches were kept: the last one spooled before the aggregator came back is stored.
    let spooled = stamps(&agent.log(), "batch spooled");
    let newest = *spooled.iter().next_back().unwrap();
    let oldest = *spooled.iter().next().unwrap();
    wait_until(Duration::from_secs(20), "the newest spooled batch stored", || {
        stored(&aggregator, "tiny").contains(&newest)
    });
    assert!(!stored(&aggregator, "tiny").contains(&oldest), "the oldest batch should have been dropped");
}

#[test]
fn a_spool_write_error_is_logged_counted_and_reported_to_the_aggregator() {
    let fleet = Fleet::new();
    fleet.issue_agent("diskfull");
    let aggregator = fleet.start_aggregator("aggregator");
    let tmpfs = Tmpfs::mount("1m");
    let spool = tmpfs.path().join("spool");
    let endpoint = format!("https://{}", aggregator.grpc);
    let agent = fleet.start_agent_config(
        "diskfull",
        "diskfull",
        &fleet.certs(),
        &[endpoint.as_str()],
        "1s",
        "",
        &format!("\n[spool]\ndir = \"{}\"\n", spool.display()),
    );
    wait_until(Duration::from_secs(20), "a batch acked", || agent.log().contains("batch acked"));

    // The spool's disk fills up: batches are lost, each one logged with the path and the OS error.
    let filler = tmpfs.fill();
    wait_until(Duration::from_secs(20), "a spool write error logged", || {
        agent.log().contains("cannot write the batch to the spool; it is lost")
    });
    let log = agent.log();
    let line = log.lines().find(|l| l.contains("cannot write the batch to the spool")).unwrap();
    assert!(line.contains(&spool.display().to_string()) && line.contains("No space left on device"), "{line}");

    // Room again: the next batch spooled tells the aggregator.
    std::fs::remove_file(filler).unwrap();
    wait_until(Duration::from_secs(30), "a spool_dropped event with reason write_error", || {
        let events = aggregator.get_json("/api/events?host=diskfull&kind=spool_dropped");
        events["events"].as_array().unwrap().iter().any(|e| e["attributes"]["reason"] == "write_error")
    });
    let events = aggregator.get_json("/api/events?host=diskfull&kind=spool_dropped");
    let event =
        events["events"].as_array().unwrap().iter().find(|e| e["attributes"]["reason"] == "write_error").unwrap();
    let lost: u64 = event["attributes"]["batches"].as_str().unwrap().parse().unwrap();
    assert!(lost >= 1, "{event}");
    assert!(event["attributes"]["error"].as_str().unwrap().contains("No space left on device"), "{event}");

    // And its own counter says so, like any other series.
    let query = format!(
        "{}/api/v1/query?query=sysmon_agent_spool_dropped_batches_total%7Breason%3D%22write_error%22%2Chost%3D%22diskfull%22%7D",
        aggregator.url()
    );
    wait_until(
        Duration::from_secs(20),
        "sysmon_agent_spool_dropped_batches_total{reason=\"write_error\"} >= lost",
        || {
            let Ok((200, body)) = http_get(&query) else { return false };
            let value: serde_json::Value = serde_json::from_str(&body).unwrap();
            value["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|v| v >= lost as f64)
        },
    );
    drop(agent);
}
