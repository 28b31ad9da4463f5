//! `sysmon hosts compare` against a real aggregator and two agents at 1 s: a column per host,
//! avg, p95 and max rows for every metric, each value what the aggregator itself answers to
//! the row's PromQL at the same time (so rows wired to the wrong query, host or stat fail),
//! within sane bounds; the table shows the same figures; and the exact errors for an unknown
//! host, a repeated host, a bad --range and a single host. web-02 runs without the filesystem,
//! diskstats and netdev collectors, so that its column differs from web-01's (both agents read
//! the same machine) and a value in the wrong column shows.

mod util;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use util::{Aggregator, Fleet, instant_query, run, run_ok, stored, wait_until};

const HOSTS: [&str; 2] = ["web-01", "web-02"];

/// Every quantity in row order: metric, name, unit, table label and its PromQL as documented
/// in `sysmon hosts compare --help`, for a 5m range (rates over 1m), with `HOSTS` standing for
/// the host matcher.
const QUANTITIES: [(&str, &str, &str, &str, &str); 8] = [
    (
        "cpu",
        "cpu_busy",
        "percent",
        "cpu busy %",
        r#"100 * (1 - sum by (host) (rate(node_cpu_seconds_total{mode="idle",HOSTS}[1m])) / sum by (host) (rate(node_cpu_seconds_total{HOSTS}[1m])))"#,
    ),
    (
        "memory",
        "memory_used",
        "percent",
        "memory used %",
        "100 * (1 - sum by (host) (node_memory_MemAvailable_bytes{HOSTS}) / sum by (host) (node_memory_MemTotal_bytes{HOSTS}))",
    ),
    (
        "disk",
        "fullest_filesystem_used",
        "percent",
        "fullest fs used %",
        "max by (host) (100 * (node_filesystem_size_bytes{HOSTS} - node_filesystem_free_bytes{HOSTS}) / (node_filesystem_size_bytes{HOSTS} - node_filesystem_free_bytes{HOSTS} + node_filesystem_avail_bytes{HOSTS}) >= 0)",
    ),
    (
        "disk",
        "disk_io",
        "bytes_per_second",
        "disk I/O",
        r#"sum by (host) (rate(node_disk_read_bytes_total{device!~"dm-[0-9]+|md[0-9]+|drbd[0-9]+|zram[0-9]+",HOSTS}[1m])) + sum by (host) (rate(node_disk_written_bytes_total{device!~"dm-[0-9]+|md[0-9]+|drbd[0-9]+|zram[0-9]+",HOSTS}[1m]))"#,
    ),
    (
        "network",
        "network_receive",
        "bytes_per_second",
        "net receive",
        r#"sum by (host) (rate(node_network_receive_bytes_total{device!~"lo|veth.+|docker[0-9]+|br-.+|virbr[0-9]+|cni[0-9]+|flannel[.].+|cali.+|ifb[0-9]+",HOSTS}[1m]))"#,
    ),
    (
        "network",
        "network_transmit",
        "bytes_per_second",
        "net transmit",
        r#"sum by (host) (rate(node_network_transmit_bytes_total{device!~"lo|veth.+|docker[0-9]+|br-.+|virbr[0-9]+|cni[0-9]+|flannel[.].+|cali.+|ifb[0-9]+",HOSTS}[1m]))"#,
    ),
    ("load", "load1", "none", "load1", "max by (host) (node_load1{HOSTS})"),
    (
        "load",
        "load1_per_core",
        "none",
        "load1 per core",
        r#"max by (host) (node_load1{HOSTS}) / count by (host) (node_cpu_seconds_total{mode="idle",HOSTS})"#,
    ),
];

/// Rows web-01 has data for once it has sent a few collections (disk I/O and network need a
/// disk and an interface that this machine may lack).
const WEB_01_ROWS: [&str; 5] = ["cpu_busy", "memory_used", "fullest_filesystem_used", "load1", "load1_per_core"];

/// web-02 runs without the filesystem, diskstats and netdev collectors: it has these rows only,
/// and the others are null, so that a value put in the wrong host's column shows.
const WEB_02_ROWS: [&str; 4] = ["cpu_busy", "memory_used", "load1", "load1_per_core"];
const WEB_02_COLLECTORS: &str = "[collectors]\nfilesystem = false\ndiskstats = false\nnetdev = false\n";

/// Whether `row` should have a value for `host`, and must have one (else it may have none).
fn must_have(host: &str, name: &str) -> bool {
    if host == "web-01" { WEB_01_ROWS.contains(&name) } else { WEB_02_ROWS.contains(&name) }
}

fn may_have(host: &str, name: &str) -> bool {
    host == "web-01" || WEB_02_ROWS.contains(&name)
}

/// The documented PromQL of a quantity's stat over 5m at a 10s step.
fn expected_query(quantity: &str, stat: &str) -> String {
    let expr = quantity.replace("HOSTS", r#"host=~"web-01|web-02""#);
    match stat {
        "avg" => format!("avg_over_time(({expr})[5m:10s])"),
        "p95" => format!("quantile_over_time(0.95, ({expr})[5m:10s])"),
        "max" => format!("max_over_time(({expr})[5m:10s])"),
        other => panic!("no stat {other}"),
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn compare_json(server: &str, end: u64) -> Value {
    let end = end.to_string();
    let out = run_ok(&[
        "hosts", "compare", HOSTS[0], HOSTS[1], "--range", "5m", "--end", &end, "--server", server, "-o", "json",
    ]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("hosts compare is not JSON ({e}): {out}"))
}

/// A row's values by host, nulls left out.
fn row_values(row: &Value) -> BTreeMap<String, f64> {
    row["values"].as_object().unwrap().iter().filter_map(|(host, v)| Some((host.clone(), v.as_f64()?))).collect()
}

/// The aggregator's own answer to `query` at `end`: finite values by host.
fn direct(aggregator: &Aggregator, query: &str, end: u64) -> BTreeMap<String, f64> {
    let data = instant_query(aggregator, query, &end.to_string());
    assert_eq!(data["resultType"], "vector", "{query}: {data}");
    data["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| {
            let value: f64 = s["value"][1].as_str()?.parse().ok()?;
            value.is_finite().then(|| (s["metric"]["host"].as_str().unwrap().to_string(), value))
        })
        .collect()
}

/// A table cell as the CLI formats it: percent to 0.1, load to 0.01, rates in binary units.
fn cell(unit: &str, value: Option<f64>) -> String {
    let Some(value) = value else { return "-".into() };
    match unit {
        "percent" => format!("{value:.1}"),
        "none" => format!("{value:.2}"),
        "bytes_per_second" if value < 1024.0 => format!("{value:.0} B/s"),
        "bytes_per_second" => {
            let units = ["KiB/s", "MiB/s", "GiB/s", "TiB/s"];
            let (mut scaled, mut unit) = (value / 1024.0, 0);
            while scaled >= 1024.0 && unit + 1 < units.len() {
                scaled /= 1024.0;
                unit += 1;
            }
            format!("{scaled:.1} {}", units[unit])
        }
        other => panic!("no unit {other}"),
    }
}

#[test]
fn compares_hosts_with_the_aggregators_own_figures() {
    let fleet = Fleet::new();
    let aggregator = fleet.start_aggregator("aggregator");
    fleet.issue_agent("web-01");
    fleet.issue_agent("web-02");
    let _agents = [
        fleet.start_agent("web-01", "web-01", aggregator.grpc, "1s"),
        fleet.start_agent_with("web-02", aggregator.grpc, "1s", WEB_02_COLLECTORS),
    ];
    let server = aggregator.url();

    // Rates need two samples in their window, and distinct avg, p95 and max need a few steps
    // with data: wait until each host has its rows, and one row three different figures.
    wait_until(Duration::from_secs(45), "both hosts' figures, one row with distinct avg, p95 and max", || {
        let hosts = aggregator.get_json("/api/hosts");
        if hosts["hosts"].as_array().is_none_or(|h| h.len() < HOSTS.len()) {
            return false;
        }
        let json = compare_json(&server, now_secs() - 1);
        let rows = json["rows"].as_array().unwrap();
        let complete = rows.iter().all(|r| {
            let values = row_values(r);
            HOSTS.iter().all(|h| !must_have(h, r["name"].as_str().unwrap()) || values.contains_key(*h))
        });
        let distinct = rows.chunks(3).any(|stats| {
            let v: Vec<Option<f64>> = stats.iter().map(|r| r["values"]["web-01"].as_f64()).collect();
            v.iter().all(Option::is_some) && v[0] != v[1] && v[1] != v[2] && v[0] != v[2]
        });
        complete && distinct
    });

    // An end in the past that both hosts have sent samples beyond, so that the figures at `end`
    // no longer change while the test asks the aggregator for them again.
    let end = now_secs() - 1;
    wait_until(Duration::from_secs(20), "samples of both hosts after the end of the range", || {
        HOSTS.iter().all(|h| stored(&aggregator, h).last().is_some_and(|&t| t > end as i64 * 1000))
    });
    let json = compare_json(&server, end);
    assert_eq!(json["range"], "5m");
    assert_eq!(json["range_seconds"], 300);
    assert_eq!(json["step_seconds"], 10);
    assert_eq!(json["end"].as_f64(), Some(end as f64));
    assert_eq!(
        json["hosts"],
        serde_json::json!([{"host": "web-01", "region": "test"}, {"host": "web-02", "region": "test"}])
    );

    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), QUANTITIES.len() * 3, "{json:#}");
    let mut by_name: BTreeMap<(&str, &str), BTreeMap<String, f64>> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        let (metric, name, unit, _, expr) = QUANTITIES[i / 3];
        let stat = ["avg", "p95", "max"][i % 3];
        assert_eq!(
            (row["metric"].as_str(), row["name"].as_str(), row["stat"].as_str(), row["unit"].as_str()),
            (Some(metric), Some(name), Some(stat), Some(unit)),
            "row {i}"
        );
        let values = row_values(row);
        assert_eq!(row["values"].as_object().unwrap().len(), HOSTS.len(), "every host, null or not: {row}");
        let query = expected_query(expr, stat);
        assert_eq!(
            values,
            direct(&aggregator, &query, end),
            "{name} {stat}: the CLI's values are not those of {query}"
        );
        for host in HOSTS {
            assert!(!must_have(host, name) || values.contains_key(host), "{host} has no {name} {stat}: {row}");
            assert!(may_have(host, name) || !values.contains_key(host), "{host} has {name} {stat}: {row}");
        }
        for (host, &v) in &values {
            let sane = match name {
                "cpu_busy" | "fullest_filesystem_used" => (0.0..=100.0).contains(&v),
                "memory_used" => v > 0.0 && v < 100.0,
                _ => v >= 0.0,
            };
            assert!(sane, "{name} {stat} of {host} = {v}");
        }
        by_name.insert((name, stat), values);
    }
    // The maximum bounds the p95 and the average. (The average may exceed the p95: one spike
    // among many quiet steps lifts the average, not the p95.)
    for (_, name, ..) in QUANTITIES {
        for host in HOSTS {
            let stat = |s: &str| by_name[&(name, s)].get(host).copied();
            let (Some(avg), Some(p95), Some(max)) = (stat("avg"), stat("p95"), stat("max")) else {
                assert_eq!((stat("avg"), stat("p95"), stat("max")), (None, None, None), "{name} {host}");
                continue;
            };
            let slack = 1e-9 * max.abs().max(1.0);
            assert!(p95 <= max + slack && avg <= max + slack, "{name} {host}: avg {avg}, p95 {p95}, max {max}");
        }
    }

    // The table: a column per host, a region row, a row per quantity and stat, the same figures.
    let end_text = end.to_string();
    let args = ["hosts", "compare", HOSTS[0], HOSTS[1], "--range", "5m", "--end", &end_text, "--server", &server];
    let table = run_ok(&args);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["METRIC", "STAT", "web-01", "web-02"], "{table}");
    assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), ["region", "test", "test"], "{table}");
    for (i, row) in rows.iter().enumerate() {
        let (_, name, unit, label, _) = QUANTITIES[i / 3];
        let stat = row["stat"].as_str().unwrap();
        let line = lines[2 + i];
        let cells = line
            .strip_prefix(label)
            .and_then(|rest| rest.trim_start().strip_prefix(stat))
            .unwrap_or_else(|| panic!("line {} is not {label} {stat}:\n{table}", 2 + i));
        let values = &by_name[&(name, stat)];
        let expected: Vec<String> = HOSTS.iter().map(|h| cell(unit, values.get(*h).copied())).collect();
        assert_eq!(
            cells.split_whitespace().collect::<Vec<_>>().join(" "),
            expected.join(" "),
            "{label} {stat}:\n{table}"
        );
    }
    assert_eq!(lines[2 + rows.len()], "", "{table}");
    assert!(lines[3 + rows.len()].starts_with("over 5m to "), "{table}");

    // --metric picks rows.
    let picked =
        run_ok(&["hosts", "compare", "web-01", "web-02", "--metric", "load,cpu", "--server", &server, "-o", "json"]);
    let picked: Value = serde_json::from_str(&picked).unwrap();
    let names: Vec<&str> = picked["rows"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["cpu_busy"; 3].into_iter().chain(["load1"; 3]).chain(["load1_per_core"; 3]).collect::<Vec<_>>());

    // Errors name what is wrong.
    let stderr = |args: &[&str]| {
        let output = run(args);
        assert!(!output.status.success(), "{}", util::describe(&output));
        String::from_utf8(output.stderr).unwrap()
    };
    assert_eq!(
        stderr(&["hosts", "compare", "web-01", "web-03", "--server", &server]),
        format!("error: no host named \"web-03\" on {server} (did you mean web-01 or web-02?)\n")
    );
    assert_eq!(
        stderr(&["hosts", "compare", "web-01", "nope", "--server", &server]),
        format!("error: no host named \"nope\" on {server}\n")
    );
    assert_eq!(
        stderr(&["hosts", "compare", "web-01", "web-01", "--server", &server]),
        "error: host \"web-01\" is given twice\n"
    );
    let bad_range = stderr(&["hosts", "compare", "web-01", "web-02", "--range", "5x", "--server", &server]);
    assert_eq!(
        bad_range.lines().next(),
        Some("error: invalid value '5x' for '--range <RANGE>': expected a duration such as 30m, 24h or 7d"),
        "{bad_range}"
    );
    let short_range = stderr(&["hosts", "compare", "web-01", "web-02", "--range", "10s", "--server", &server]);
    assert_eq!(
        short_range.lines().next(),
        Some("error: invalid value '10s' for '--range <RANGE>': must be between 1m and 730d"),
        "{short_range}"
    );
    let one_host = stderr(&["hosts", "compare", "web-01", "--server", &server]);
    assert_eq!(
        one_host.lines().next(),
        Some("error: 2 values required by '<HOST> <HOST>...'; only 1 was provided"),
        "{one_host}"
    );
}
