//! A bad config stops start-up with every problem named by key (and line, when known).

mod util;

use std::fs;

use util::{describe, run};

#[test]
fn aggregator_config_errors_name_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo.toml");
    fs::write(&typo, "[aggregator]\nregion = \"eu\"\ngrpc_lisen = \"127.0.0.1:1\"\n").unwrap();
    let out = run(&["aggregator", "--config", typo.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("typo.toml:3: unknown field `grpc_lisen`"), "{}", describe(&out));

    let bad = dir.path().join("bad.toml");
    fs::write(
        &bad,
        "[aggregator]\ngrpc_listen = \"nowhere\"\n[tls]\nca_cert = \"/no/ca.pem\"\ncert = \"/no/c.pem\"\nkey = \"/no/k.pem\"\n",
    )
    .unwrap();
    let out = run(&["aggregator", "--config", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "aggregator.grpc_listen: must be an IP address and port like 127.0.0.1:9801, got \"nowhere\"",
        "tls.ca_cert: no such file: /no/ca.pem",
        "tls.key: no such file: /no/k.pem",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?}\n{}", describe(&out));
    }
}

#[test]
fn agent_config_errors_name_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("agent.toml");
    fs::write(
        &bad,
        "[agent]\ninterval = \"2h\"\n[aggregator]\nendpoints = []\n[tls]\nca_cert = \"/no/ca.pem\"\ncert = \"/no/c.pem\"\nkey = \"/no/k.pem\"\n",
    )
    .unwrap();
    let out = run(&["agent", "--config", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("agent.interval: must be between 1s and 1h, got 2h"), "{}", describe(&out));
    assert!(stderr.contains("aggregator.endpoints: must list at least one endpoint"), "{}", describe(&out));
}

#[test]
fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.toml");
    fs::write(
        &file,
        "[agent]\ninterval = \"10s\"\n[aggregator]\nendpoints = [\"https://127.0.0.1:1\"]\n[tls]\nca_cert = \"/no/ca.pem\"\ncert = \"/no/c.pem\"\nkey = \"/no/k.pem\"\n",
    )
    .unwrap();
    let out = util::sysmon()
        .args(["agent", "--config", file.to_str().unwrap()])
        .env("SYSMON_AGENT_INTERVAL", "0s")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("agent.interval: must be between 1s and 1h, got 0s"),
        "{}",
        describe(&out)
    );
}
