//! Federation end to end: real regional and master aggregators on loopback, each with its
//! own certificate and ports, real agents, real mutual-TLS streams between them.
//!
//! Replication runs every 2 s here (60 s by default) and a region is unreachable after 6 s
//! of silence, so the tests see several minutes of rollups arrive in a few minutes.

mod util;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use util::{Aggregator, Fleet, Process, free_addr, http_post, url_encode, wait_until};

/// Replication settings for tests: fast passes, a short silence threshold.
const FEDERATION: &str = "[federation]\ninterval = \"2s\"\ndelay = \"1s\"\nbackfill = \"30m\"\nregion_timeout = \"6s\"\nquery_timeout = \"5s\"\n";

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn master(fleet: &Fleet, name: &str, grpc: SocketAddr, http: SocketAddr, upstream: Option<SocketAddr>) -> Aggregator {
    let discovery = match upstream {
        Some(addr) => format!("[discovery]\nstatic_endpoints = [\"https://{addr}\"]\n"),
        None => String::new(),
    };
    let keys = format!("role = \"master\"\nregion = \"{name}\"");
    fleet.start_aggregator_as(name, grpc, http, &keys, name, &format!("{discovery}{FEDERATION}"))
}

fn regional(
    fleet: &Fleet,
    name: &str,
    region: &str,
    grpc: SocketAddr,
    http: SocketAddr,
    master: SocketAddr,
) -> Aggregator {
    let keys = format!("role = \"regional\"\nregion = \"{region}\"");
    let extra = format!("[discovery]\nstatic_endpoints = [\"https://{master}\"]\n{FEDERATION}");
    fleet.start_aggregator_as(name, grpc, http, &keys, name, &extra)
}

fn agent(fleet: &Fleet, id: &str, regional: &Aggregator) -> Process {
    fleet.issue_agent(id);
    fleet.start_agent(id, id, regional.grpc, "1s")
}

/// Series labels (as text) -> (time s, value) points.
type Matrix = BTreeMap<String, Vec<(i64, f64)>>;

/// A range query's result and its warnings.
fn range(aggregator: &Aggregator, query: &str, start_s: i64, end_s: i64, step_s: i64) -> (Matrix, Vec<String>) {
    let url = format!("{}/api/v1/query_range", aggregator.url());
    let form = format!("query={}&start={start_s}&end={end_s}&step={step_s}", url_encode(query));
    let (status, body) = http_post(&url, "application/x-www-form-urlencoded", form.as_bytes()).unwrap();
    let body: Value = serde_json::from_str(&body).unwrap();
    assert!(status == 200 && body["status"] == "success", "{query}: {status} {body}");
    let mut out = BTreeMap::new();
    for series in body["data"]["result"].as_array().unwrap() {
        let points = series["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_f64().unwrap() as i64, p[1].as_str().unwrap().parse::<f64>().unwrap()))
            .collect();
        out.insert(series["metric"].to_string(), points);
    }
    let warnings = body["warnings"]
        .as_array()
        .map(|w| w.iter().map(|w| w.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    (out, warnings)
}

/// One series' points of a range query (the query must aggregate to one series).
fn points(aggregator: &Aggregator, query: &str, start_s: i64, end_s: i64, step_s: i64) -> Vec<(i64, f64)> {
    let (series, _) = range(aggregator, query, start_s, end_s, step_s);
    assert!(series.len() <= 1, "{query}: {series:?}");
    series.into_values().next().unwrap_or_default()
}

/// The master's replication frontier (ms): every region's rollups are complete before it.
fn frontier(master: &Aggregator) -> i64 {
    let regions = master.get_json("/api/regions");
    regions["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["complete_before_ms"].as_i64().unwrap_or(i64::MIN))
        .min()
        .unwrap_or(i64::MIN)
}

fn region_status(master: &Aggregator, region: &str) -> Option<String> {
    let regions = master.get_json("/api/regions");
    regions["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == region)
        .map(|r| r["status"].as_str().unwrap().to_string())
}

/// The host rows of an aggregator: host -> (region, status).
fn hosts(aggregator: &Aggregator) -> BTreeMap<String, (String, String)> {
    let list = aggregator.get_json("/api/hosts");
    list["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["host"].as_str().unwrap().to_string(),
                (h["region"].as_str().unwrap().to_string(), h["status"].as_str().unwrap().to_string()),
            )
        })
        .collect()
}

/// The whole minutes from `start_ms` to the master's frontier, once it is `minutes` past it.
fn complete_minutes(master: &Aggregator, start_ms: i64, minutes: i64) -> (i64, i64) {
    let first = start_ms.div_euclid(60_000) * 60 + 60;
    let deadline = Duration::from_secs(60 * minutes as u64 + 120);
    wait_until(deadline, "the master's rollups to cover the minutes wanted", || {
        frontier(master) >= (first + 60 * minutes) * 1000
    });
    (first, first + 60 * (minutes - 1))
}

/// Samples per minute of a few hundred series per host, summed: at the master from its
/// 1-minute tier, at a regional from raw samples. Equal counts mean no bucket is missing or
/// counted twice. (One count over every metric at once would be refused, as Prometheus
/// refuses it: `count_over_time` drops the names, and series would collide.)
const COUNT_PER_MINUTE: &str = "sum(count_over_time(node_cpu_seconds_total[1m])) + sum(count_over_time(node_load1[1m])) + sum(count_over_time(node_network_receive_bytes_total[1m]))";

/// The master's answer equals the sum of the regionals'. A sample that reached its regional
/// after its minute was replicated (a batch later than `federation.delay`) is replicated
/// again with the next pass, so the answers are compared until they agree, for up to 20 s
/// (ten passes); then the last mismatch is shown.
fn assert_sums_match(master: &Aggregator, regionals: &[&Aggregator], query: &str, start_s: i64, end_s: i64) {
    util::wait_for(Duration::from_secs(20), "the master's answer to equal the regionals'", || {
        sums_match(master, regionals, query, start_s, end_s)
    });
}

fn sums_match(
    master: &Aggregator,
    regionals: &[&Aggregator],
    query: &str,
    start_s: i64,
    end_s: i64,
) -> Result<(), String> {
    let at_master = points(master, query, start_s, end_s, 60);
    let mut summed: BTreeMap<i64, f64> = BTreeMap::new();
    for r in regionals {
        for (t, v) in points(r, query, start_s, end_s, 60) {
            *summed.entry(t).or_default() += v;
        }
    }
    let summed: Vec<(i64, f64)> = summed.into_iter().collect();
    if at_master.is_empty() {
        return Err(format!("{query}: the master has nothing from {start_s} to {end_s}\n{}", master.process.log()));
    }
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
    let same = at_master.len() == summed.len()
        && at_master.iter().zip(&summed).all(|((t, a), (u, b))| t == u && close(*a, *b));
    if same { Ok(()) } else { Err(format!("{query}: master {at_master:?}\nregionals {summed:?}")) }
}

#[test]
fn two_regions_report_to_one_master_which_answers_for_the_fleet() {
    let fleet = Fleet::new();
    for name in ["master", "regional-eu", "regional-us"] {
        fleet.issue_server(name);
    }
    let (master_grpc, master_http) = (free_addr(), free_addr());
    let master = master(&fleet, "master", master_grpc, master_http, None);
    let eu = regional(&fleet, "regional-eu", "eu", free_addr(), free_addr(), master_grpc);
    let us = regional(&fleet, "regional-us", "us", free_addr(), free_addr(), master_grpc);
    let started = now_ms();
    let _agents: Vec<Process> = ["eu-1", "eu-2", "eu-3"]
        .iter()
        .map(|id| agent(&fleet, id, &eu))
        .chain(["us-1", "us-2", "us-3"].iter().map(|id| agent(&fleet, id, &us)))
        .collect();

    // Every host of every region, with its region.
    wait_until(Duration::from_secs(60), "the master to list six hosts", || hosts(&master).len() == 6);
    let listed = hosts(&master);
    for (host, (region, _)) in &listed {
        assert_eq!(region, &host[..2], "{listed:?}");
    }
    wait_until(Duration::from_secs(30), "every host up at the master", || {
        hosts(&master).values().all(|(_, s)| s == "up")
    });
    let cli = util::run_ok(&["hosts", "list", "--server", &master.url()]);
    for host in listed.keys() {
        assert!(cli.contains(host.as_str()), "{cli}");
    }
    assert_eq!(region_status(&master, "eu").as_deref(), Some("reachable"));

    // Fleet-wide queries at 1 m step: the master's answer (from its 1-minute tier) is the
    // sum of the regionals' (from their raw samples).
    let (start, end) = complete_minutes(&master, started, 2);
    assert_sums_match(&master, &[&eu, &us], COUNT_PER_MINUTE, start, end);
    assert_sums_match(&master, &[&eu, &us], "sum(rate(node_cpu_seconds_total[1m]))", start, end);
    assert_sums_match(&master, &[&eu, &us], "sum(max_over_time(node_memory_MemAvailable_bytes[1m]))", start, end);

    // A query that needs raw resolution (10 s step, newer than the frontier) is read from
    // the regionals that own the hosts, and answers as they do.
    let now_s = now_ms() / 1000 - 5;
    let (drill, warnings) = range(&master, "node_load1{host=\"us-2\"}", now_s - 30, now_s, 10);
    assert!(warnings.is_empty(), "{warnings:?}");
    let (direct, _) = range(&us, "node_load1{host=\"us-2\"}", now_s - 30, now_s, 10);
    assert_eq!(drill, direct);
    assert_eq!(drill.len(), 1, "{drill:?}");

    // `sysmon hosts compare` works across regions at the master.
    let compared = util::run_ok(&[
        "hosts",
        "compare",
        "eu-1",
        "us-3",
        "--range",
        "2m",
        "--server",
        &master.url(),
        "--output",
        "json",
    ]);
    let compared: Value = serde_json::from_str(&compared).unwrap();
    let memory =
        compared["rows"].as_array().unwrap().iter().find(|r| r["metric"] == "memory" && r["stat"] == "max").unwrap();
    assert!(memory["values"]["eu-1"].as_f64().is_some() && memory["values"]["us-3"].as_f64().is_some(), "{compared}");
}

#[test]
fn a_master_down_for_three_minutes_misses_no_rollup_and_stores_none_twice() {
    let fleet = Fleet::new();
    for name in ["master", "regional-eu"] {
        fleet.issue_server(name);
    }
    let (master_grpc, master_http) = (free_addr(), free_addr());
    let mut master_process = master(&fleet, "master", master_grpc, master_http, None);
    let eu = regional(&fleet, "regional-eu", "eu", free_addr(), free_addr(), master_grpc);
    let started = now_ms();
    let _agent = agent(&fleet, "eu-1", &eu);
    wait_until(Duration::from_secs(60), "the master to list the host", || hosts(&master_process).len() == 1);

    master_process.process.kill9();
    let down_since = now_ms();
    // Three minutes down, while the regional spools its rollups.
    wait_until(Duration::from_secs(200), "three minutes to pass", || now_ms() - down_since >= 180_000);
    let master = master(&fleet, "master", master_grpc, master_http, None);
    let (start, end) = complete_minutes(&master, started, 4);
    assert!(end * 1000 > down_since + 120_000, "the range covers the outage");
    assert_sums_match(&master, &[&eu], COUNT_PER_MINUTE, start, end);
    assert_sums_match(&master, &[&eu], "sum(increase(node_cpu_seconds_total[1m]))", start, end);
}

#[test]
fn a_silent_region_is_unreachable_its_reads_are_partial_and_its_gap_is_filled_when_it_returns() {
    let fleet = Fleet::new();
    for name in ["master", "regional-eu", "regional-us"] {
        fleet.issue_server(name);
    }
    let (master_grpc, master_http) = (free_addr(), free_addr());
    let master = master(&fleet, "master", master_grpc, master_http, None);
    let eu = regional(&fleet, "regional-eu", "eu", free_addr(), free_addr(), master_grpc);
    let (us_grpc, us_http) = (free_addr(), free_addr());
    let mut us = regional(&fleet, "regional-us", "us", us_grpc, us_http, master_grpc);
    let started = now_ms();
    let _eu_agent = agent(&fleet, "eu-1", &eu);
    let _us_agent = agent(&fleet, "us-1", &us);
    wait_until(Duration::from_secs(60), "the master to list both hosts up", || {
        let h = hosts(&master);
        h.len() == 2 && h.values().all(|(_, s)| s == "up")
    });

    us.process.kill9();
    wait_until(Duration::from_secs(30), "region us to be unreachable", || {
        region_status(&master, "us").as_deref() == Some("unreachable")
    });
    let listed = hosts(&master);
    assert_eq!(listed["us-1"].1, "unknown", "{listed:?}");
    assert_eq!(listed["eu-1"].1, "up", "{listed:?}");
    let unknown = master.get_json("/api/hosts?status=unknown");
    assert_eq!(unknown["hosts"].as_array().unwrap().len(), 1, "{unknown}");

    // A drill-down into the region goes without it, and says so.
    let now_s = now_ms() / 1000;
    let (series, warnings) = range(&master, "node_load1", now_s - 20, now_s, 10);
    assert!(warnings.iter().any(|w| w.contains("\"us\"") && w.contains("partial")), "{warnings:?}");
    assert!(series.keys().all(|k| k.contains("eu-1")) && !series.is_empty(), "{series:?}");

    // Back after a minute: its agent's spooled batches arrive late, and the master's
    // buckets for the outage are filled.
    let down_since = now_ms();
    wait_until(Duration::from_secs(90), "a minute to pass", || now_ms() - down_since >= 60_000);
    let us = regional(&fleet, "regional-us", "us", us_grpc, us_http, master_grpc);
    wait_until(Duration::from_secs(60), "region us to be reachable again", || {
        region_status(&master, "us").as_deref() == Some("reachable")
    });
    // From the first whole minute to the one after the outage, every minute's buckets.
    let first = started.div_euclid(60_000) * 60 + 60;
    let end = (down_since + 60_000).div_euclid(60_000) * 60 + 60;
    wait_until(Duration::from_secs(240), "the master to hold the minutes after the outage", || {
        frontier(&master) > (end + 60) * 1000
    });
    assert_sums_match(&master, &[&eu, &us], COUNT_PER_MINUTE, first, end);
}

#[test]
fn three_levels_report_upward_and_the_top_drills_down_through_the_middle() {
    let fleet = Fleet::new();
    for name in ["top", "middle", "regional-eu"] {
        fleet.issue_server(name);
    }
    let (top_grpc, top_http) = (free_addr(), free_addr());
    let top = master(&fleet, "top", top_grpc, top_http, None);
    let (middle_grpc, middle_http) = (free_addr(), free_addr());
    let middle = master(&fleet, "middle", middle_grpc, middle_http, Some(top_grpc));
    let eu = regional(&fleet, "regional-eu", "eu", free_addr(), free_addr(), middle_grpc);
    let started = now_ms();
    let _agent = agent(&fleet, "eu-1", &eu);

    wait_until(Duration::from_secs(60), "the top to list the host", || hosts(&top).len() == 1);
    assert_eq!(hosts(&top)["eu-1"].0, "eu");
    let regions = top.get_json("/api/regions");
    assert_eq!(regions["regions"][0]["via"], "middle", "{regions}");
    let (start, end) = complete_minutes(&top, started, 2);
    assert_sums_match(&top, &[&eu], COUNT_PER_MINUTE, start, end);
    assert_sums_match(&middle, &[&eu], COUNT_PER_MINUTE, start, end);

    let now_s = now_ms() / 1000 - 5;
    let (drill, warnings) = range(&top, "node_load1{region=\"eu\"}", now_s - 30, now_s, 10);
    let (direct, _) = range(&eu, "node_load1", now_s - 30, now_s, 10);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(drill, direct);
}

#[test]
fn a_region_replicates_only_the_series_it_selects_and_the_master_reads_the_others_from_it() {
    let fleet = Fleet::new();
    for name in ["master", "regional-eu"] {
        fleet.issue_server(name);
    }
    let (master_grpc, master_http) = (free_addr(), free_addr());
    let master = master(&fleet, "master", master_grpc, master_http, None);
    let keys = "role = \"regional\"\nregion = \"eu\"";
    let extra = format!(
        "[discovery]\nstatic_endpoints = [\"https://{master_grpc}\"]\n{FEDERATION}replicate = ['node_load1', '{{__name__=~\"node_memory_.+\"}}']\n"
    );
    let eu = fleet.start_aggregator_as("regional-eu", free_addr(), free_addr(), keys, "regional-eu", &extra);
    let started = now_ms();
    let _agent = agent(&fleet, "eu-1", &eu);
    let (start, end) = complete_minutes(&master, started, 1);

    // The master stores the selected series only.
    let names = master.get_json("/api/v1/label/__name__/values");
    let names: Vec<&str> = names["data"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(names.contains(&"node_load1") && names.contains(&"node_memory_MemAvailable_bytes"), "{names:?}");
    assert!(names.iter().all(|n| *n == "node_load1" || n.starts_with("node_memory_")), "{names:?}");
    let regions = master.get_json("/api/regions");
    assert_eq!(regions["regions"][0]["replicate"][0], "node_load1", "{regions}");

    // Selected series answer from the master's tiers; the others from the region's raw
    // samples, as the region answers them.
    assert_sums_match(&master, &[&eu], "sum(count_over_time(node_load1[1m]))", start, end);
    assert_sums_match(&master, &[&eu], "sum(max_over_time(node_memory_MemAvailable_bytes[1m]))", start, end);
    let (cpu, warnings) = range(&master, "sum(rate(node_cpu_seconds_total[1m]))", start, end, 60);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(!cpu.is_empty());
    assert_eq!(cpu, range(&eu, "sum(rate(node_cpu_seconds_total[1m]))", start, end, 60).0);
}

#[test]
fn agents_are_refused_by_a_master_and_aggregators_need_aggregator_certificates() {
    let fleet = Fleet::new();
    fleet.issue_server("master");
    let (grpc, http) = (free_addr(), free_addr());
    let master = master(&fleet, "master", grpc, http, None);
    fleet.issue_agent("web-1");
    let agent = fleet.start_agent("web-1", "web-1", master.grpc, "1s");
    wait_until(Duration::from_secs(30), "the agent to be refused", || {
        agent.log().contains("agents report to a regional aggregator")
    });
    assert!(hosts(&master).is_empty());
}
