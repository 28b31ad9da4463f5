//! Nothing connects without a certificate from the fleet CA, and an agent can write only
//! under its own id: both refusals say why, on both sides.

mod util;

use std::time::Duration;

use util::{Fleet, run_ok, wait_until};

#[test]
fn certificate_from_another_ca_is_refused() {
    let fleet = Fleet::new();
    let aggregator = fleet.start_aggregator("aggregator");

    // A second CA, unknown to the aggregator, issues "intruder".
    let other = fleet.path().join("other-ca");
    run_ok(&["certs", "init", "--dir", other.to_str().unwrap()]);
    run_ok(&["certs", "issue", "--agent", "intruder", "--dir", other.to_str().unwrap()]);
    let agent = fleet.start_agent_with_certs("intruder", "intruder", &other, aggregator.grpc, "1s");

    wait_until(Duration::from_secs(30), "the aggregator to log the refused handshake", || {
        aggregator.process.log().contains("TLS handshake failed")
    });
    wait_until(Duration::from_secs(30), "the agent to say its certificate was refused", || {
        agent.log().contains("did not accept this agent's certificate")
    });
    let hosts = aggregator.get_json("/api/hosts");
    assert_eq!(hosts["hosts"].as_array().unwrap().len(), 0, "{hosts}");
}

#[test]
fn agent_claiming_another_id_is_refused() {
    let fleet = Fleet::new();
    let aggregator = fleet.start_aggregator("aggregator");
    fleet.issue_agent("web-01");
    // Agent id "db-01", but the certificate says "web-01".
    let agent = fleet.start_agent("db-01", "web-01", aggregator.grpc, "1s");

    wait_until(Duration::from_secs(30), "the agent to report PERMISSION_DENIED", || {
        agent.log().contains("agent id \\\"db-01\\\" in Hello does not match the identity \\\"web-01\\\"")
            || agent.log().contains("agent id \"db-01\" in Hello does not match the identity \"web-01\"")
    });
    wait_until(Duration::from_secs(10), "the aggregator to log the refusal", || {
        aggregator.process.log().contains("agent id does not match its certificate")
    });
    let hosts = aggregator.get_json("/api/hosts");
    assert_eq!(hosts["hosts"].as_array().unwrap().len(), 0, "{hosts}");
    let metrics = util::http_get(&format!("{}/metrics", aggregator.url())).unwrap().1;
    assert!(metrics.contains("sysmon_ingest_refused_streams_total 1"), "{metrics}");
}
