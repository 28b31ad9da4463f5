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
fn a_bad_alerting_rule_stops_the_aggregator_naming_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("alerts.toml");
    fs::write(
        &bad,
        "[tls]\nca_cert = \"/no/ca.pem\"\ncert = \"/no/c.pem\"\nkey = \"/no/k.pem\"\n\
         [[alerting.rules]]\nalert = \"HighLoad\"\nexpr = \"node_load1 >\"\nfor = \"2 fortnights\"\n",
    )
    .unwrap();
    let out = run(&["aggregator", "--config", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "alerts.toml: alerting.rules[0].expr: rule \"HighLoad\": ",
        "alerting.rules[0].for: rule \"HighLoad\": must be a duration like \"5m\", got \"2 fortnights\"",
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

#[test]
fn bad_collector_keys_and_patterns_stop_the_agent_and_once() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("agent.toml");
    fs::write(
        &bad,
        "[aggregator]\nendpoints = [\"https://127.0.0.1:1\"]\n[tls]\nca_cert = \"/no/ca.pem\"\ncert = \"/no/c.pem\"\nkey = \"/no/k.pem\"\n[collectors]\ndiskstats_device_exclude = \"^(loop\"\n",
    )
    .unwrap();
    for args in [vec!["agent", "--config"], vec!["agent", "--once", "--config"]] {
        let mut args = args.clone();
        args.push(bad.to_str().unwrap());
        let out = run(&args);
        assert!(!out.status.success(), "{}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr
                .contains("collectors.diskstats_device_exclude: invalid regular expression \"^(loop\": unclosed group"),
            "{}",
            describe(&out)
        );
    }
    fs::write(&bad, "[collectors]\nhwmom = false\n").unwrap();
    let out = run(&["agent", "--once", "--config", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(":2: unknown field `hwmom`"), "{}", describe(&out));
}

#[test]
fn once_needs_no_config_and_honours_one() {
    // No file at all: built-in defaults (unless this machine has /etc/sysmon/agent.toml).
    let out = util::sysmon().args(["agent", "--once"]).env_remove("SYSMON_AGENT_CONFIG").output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("# TYPE node_cpu_seconds_total counter"), "{}", describe(&out));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.toml");
    fs::write(&file, "[agent]\nid = \"probe-1\"\n[collectors]\ncpu = false\n").unwrap();
    let out = run(&["agent", "--once", "--format", "prometheus", "--config", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("node_cpu_seconds_total"), "cpu = false");
    assert!(text.contains("node_load1{host=\"probe-1\"}"), "{text}");
    assert!(text.contains("sysmon_agent_collector_errors_total{collector=\"meminfo\",host=\"probe-1\"} 0"), "{text}");
}

#[test]
fn bad_users_and_processes_settings_stop_the_agent_and_once() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("agent.toml");
    fs::write(
        &bad,
        "[aggregator]\nendpoints = [\"https://127.0.0.1:1\"]\n[tls]\nca_cert = \"/no/ca.pem\"\ncert = \"/no/c.pem\"\n\
         key = \"/no/k.pem\"\n[users]\nheavy_cpu_share = 1.5\npersistent_time = \"25h\"\n[processes]\ntop_n = 101\n",
    )
    .unwrap();
    for args in
        [&["agent", "--config", bad.to_str().unwrap()][..], &["agent", "--once", "--config", bad.to_str().unwrap()]]
    {
        let out = run(args);
        assert!(!out.status.success(), "{}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        for expected in [
            "users.heavy_cpu_share: must be a share between 0 and 1, got 1.5",
            "users.persistent_time: must be between 0s and 24h, got 1day 1h",
            "processes.top_n: must be at most 100 (each listed process is a series), got 101",
        ] {
            assert!(stderr.contains(expected), "missing {expected:?}\n{}", describe(&out));
        }
    }
    let typo = dir.path().join("typo.toml");
    fs::write(&typo, "[processes]\ntop_n = 5\nmin_cpu = 0.1\n").unwrap();
    let out = run(&["agent", "--once", "--config", typo.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("typo.toml:3: unknown field `min_cpu`"),
        "{}",
        describe(&out)
    );
}
