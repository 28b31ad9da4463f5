//! The `[discovery]` section: defaults, and the exact message of every bad value.

use std::time::Duration;

use serde::Deserialize;
use sysmon_federation::{DiscoveryConfig, DiscoveryMode};

/// A config file with a `[discovery]` section, as the agent's and aggregator's have.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    discovery: DiscoveryConfig,
}

fn errors(text: &str) -> Vec<String> {
    let file: File = sysmon_config::parse(text, []).unwrap();
    file.discovery.validate().unwrap_err().iter().map(ToString::to_string).collect()
}

#[test]
fn an_absent_section_is_static_with_documented_defaults() {
    let file: File = sysmon_config::parse("", []).unwrap();
    let config = &file.discovery;
    assert_eq!(config.mode, DiscoveryMode::Static);
    assert!(config.static_endpoints.is_empty());
    assert_eq!(config.refresh_interval, "30s");
    assert!(config.mdns.interfaces.is_empty());
    assert_eq!(config.mdns.service, "_sysmon._tcp.local.");
    assert_eq!(config.consul.address, "http://127.0.0.1:8500");
    assert_eq!(config.consul.service, "sysmon");
    assert_eq!(config.consul.token, None);
    assert_eq!(config.consul.datacenter, None);
    assert_eq!(config.dns_srv.name, "_grpc._tcp.sysmon.monitoring.svc.cluster.local");
    assert_eq!(config.dns_srv.resolver, None);
    let settings = config.validate().unwrap();
    assert_eq!(settings.mode(), DiscoveryMode::Static);
    assert_eq!(settings.refresh_interval(), Duration::from_secs(30));
}

#[test]
fn every_mode_with_good_values_validates() {
    for (text, mode) in [
        (
            "mode = \"static\"\nstatic_endpoints = [\"https://agg-1:9801\", \"https://[fd00::1]:9801\"]",
            DiscoveryMode::Static,
        ),
        ("mode = \"mdns\"\n[discovery.mdns]\ninterfaces = [\"veth0\"]", DiscoveryMode::Mdns),
        (
            "mode = \"consul\"\n[discovery.consul]\naddress = \"http://consul.local:8500/\"\ntoken = \"s3cr3t\"\ndatacenter = \"eu-west_1\"",
            DiscoveryMode::Consul,
        ),
        (
            "mode = \"dns_srv\"\nrefresh_interval = \"5s\"\n[discovery.dns_srv]\nresolver = \"127.0.0.1:5353\"",
            DiscoveryMode::DnsSrv,
        ),
    ] {
        let file: File = sysmon_config::parse(&format!("[discovery]\n{text}\n"), []).unwrap();
        assert_eq!(file.discovery.validate().unwrap().mode(), mode, "{text}");
    }
}

#[test]
fn mdns_without_interfaces_says_why_it_refuses() {
    assert_eq!(
        errors("[discovery]\nmode = \"mdns\"\n"),
        [
            "discovery.mdns.interfaces: must name at least one interface when mode = \"mdns\": mDNS never announces on an interface nobody chose"
        ]
    );
}

#[test]
fn every_bad_value_is_reported_with_its_key() {
    let text = r#"
[discovery]
mode = "mdns"
refresh_interval = "0s"
static_endpoints = ["http://agg:9801", "https://agg"]
[discovery.mdns]
interfaces = ["", "a-very-long-interface-name"]
service = "_sysmon._udp.local."
[discovery.consul]
address = "https://consul:8500"
service = "sys mon"
token = ""
datacenter = "eu/west"
[discovery.dns_srv]
name = "bad..name"
resolver = "localhost:53"
"#;
    assert_eq!(
        errors(text),
        [
            "discovery.refresh_interval: must be between 1s and 1h, got 0s",
            "discovery.static_endpoints: \"http://agg:9801\" must start with https:// (aggregators only speak mutual TLS)",
            "discovery.static_endpoints: \"https://agg\" must name a port, like https://aggregator.example.com:9801",
            "discovery.static_endpoints: is only used when mode = \"static\" (mode is \"mdns\"); remove it",
            "discovery.mdns.interfaces: \"\" is not an interface name (1 to 15 bytes, no \"/\" or whitespace)",
            "discovery.mdns.interfaces: \"a-very-long-interface-name\" is not an interface name (1 to 15 bytes, no \"/\" or whitespace)",
            "discovery.mdns.service: must be a DNS-SD service type like \"_sysmon._tcp.local.\", got \"_sysmon._udp.local.\"",
            "discovery.consul.address: must be the http:// URL of the local Consul agent, like \"http://127.0.0.1:8500\", got \"https://consul:8500\"",
            "discovery.consul.service: must be a Consul service name (letters, digits and \"-\"), got \"sys mon\"",
            "discovery.consul.token: must be a non-empty token of printable characters; leave the key out for none",
            "discovery.consul.datacenter: must be a datacenter name (letters, digits, \"-\" and \"_\"), got \"eu/west\"",
            "discovery.dns_srv.name: must be a DNS name like \"_grpc._tcp.sysmon.monitoring.svc.cluster.local\", got \"bad..name\"",
            "discovery.dns_srv.resolver: must be a nameserver's ip:port, like \"127.0.0.1:5353\", got \"localhost:53\"",
        ]
    );
}

#[test]
fn a_duration_that_does_not_parse_names_the_form() {
    assert_eq!(
        errors("[discovery]\nrefresh_interval = \"soon\"\n"),
        ["discovery.refresh_interval: must be a duration like \"30s\", got \"soon\" (expected number at 0)"]
    );
    assert_eq!(
        errors("[discovery]\nrefresh_interval = \"2h\"\n"),
        ["discovery.refresh_interval: must be between 1s and 1h, got 2h"]
    );
}

#[test]
fn parse_errors_name_their_line() {
    let err = sysmon_config::parse::<File>("[discovery]\nmode = \"mdsn\"\n", []).unwrap_err();
    assert_eq!(err.line, Some(2));
    assert!(err.message.starts_with("unknown variant `mdsn`, expected one of"), "{}", err.message);
    let err = sysmon_config::parse::<File>("[discovery.mdns]\ninterface = [\"eth0\"]\n", []).unwrap_err();
    assert_eq!(err.line, Some(2));
    assert!(err.message.starts_with("unknown field `interface`"), "{}", err.message);
    let err = sysmon_config::parse::<File>("[discovery.consul]\ntokn = \"x\"\n", []).unwrap_err();
    assert_eq!(err.line, Some(2));
}

#[test]
fn environment_overrides_apply() {
    let env = [
        ("SYSMON_DISCOVERY_MODE".to_string(), "dns_srv".to_string()),
        ("SYSMON_DISCOVERY_REFRESH_INTERVAL".to_string(), "10s".to_string()),
    ];
    let file: File = sysmon_config::parse("[discovery]\n", env).unwrap();
    let settings = file.discovery.validate().unwrap();
    assert_eq!(settings.mode(), DiscoveryMode::DnsSrv);
    assert_eq!(settings.refresh_interval(), Duration::from_secs(10));
}

#[test]
fn the_consul_token_stays_out_of_debug_output() {
    let file: File = sysmon_config::parse("[discovery.consul]\ntoken = \"s3cr3t\"\n", []).unwrap();
    assert!(!format!("{:?}", file.discovery).contains("s3cr3t"));
    assert!(!format!("{:?}", file.discovery.validate().unwrap()).contains("s3cr3t"));
}
