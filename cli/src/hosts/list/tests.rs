//! The list's filtering, messages and layout, against a master's answers (two unreachable
//! regions, hosts with status unknown) and an older aggregator's (no `/api/regions`).

use super::*;

/// The fixtures' "now": eu-1 was last heard 250 s before it.
const NOW_MS: i64 = 1_700_000_000_000;
const SERVER: &str = "http://127.0.0.1:9800";

fn hosts() -> Vec<Value> {
    let body: Value = serde_json::from_str(include_str!("../testdata/master_hosts.json")).unwrap();
    body["hosts"].as_array().unwrap().clone()
}

fn regions() -> Regions {
    Regions::from_json(serde_json::from_str(include_str!("../testdata/master_regions.json")).unwrap()).unwrap()
}

fn filter(region: Option<&str>, statuses: &[HostStatus]) -> Filter {
    Filter { region: region.map(str::to_string), statuses: statuses.to_vec() }
}

fn names(rows: &[Value]) -> Vec<&str> {
    rows.iter().map(|h| h["host"].as_str().unwrap()).collect()
}

#[test]
fn query_parameters() {
    assert_eq!(filter(None, &[]).hosts_path(), "/api/hosts");
    assert_eq!(filter(Some("eu-1"), &[]).hosts_path(), "/api/hosts?region=eu-1");
    assert_eq!(
        filter(Some("lab 2/b"), &[HostStatus::Down, HostStatus::Unknown]).hosts_path(),
        "/api/hosts?region=lab%202%2Fb&status=down,unknown"
    );
    assert_eq!(filter(None, &[HostStatus::Stale]).hosts_path(), "/api/hosts?status=stale");
}

#[test]
fn filters_by_region_and_status() {
    let rows = hosts();
    assert_eq!(names(&filter(None, &[]).apply(&rows)), ["db-01", "web-01", "web-02", "web-03", "web-04"]);
    assert_eq!(names(&filter(Some("eu-1"), &[]).apply(&rows)), ["web-01", "web-02"]);
    assert_eq!(names(&filter(None, &[HostStatus::Unknown]).apply(&rows)), ["web-01", "web-02"]);
    assert_eq!(
        names(&filter(None, &[HostStatus::Down, HostStatus::Unknown]).apply(&rows)),
        ["web-01", "web-02", "web-03"]
    );
    assert_eq!(names(&filter(Some("us-1"), &[HostStatus::Up, HostStatus::Stale]).apply(&rows)), ["db-01", "web-04"]);
    assert!(filter(Some("eu-1"), &[HostStatus::Down]).apply(&rows).is_empty());
    // Region names match exactly: eu-1 is not eu-10, nor EU-1.
    assert!(filter(Some("eu"), &[]).apply(&rows).is_empty());
    assert!(filter(Some("EU-1"), &[]).apply(&rows).is_empty());
}

#[test]
fn no_match_lines() {
    assert_eq!(filter(Some("eu-9"), &[]).no_match_line(), "no hosts in region \"eu-9\"");
    assert_eq!(filter(None, &[HostStatus::Down]).no_match_line(), "no hosts with status down");
    assert_eq!(
        filter(None, &[HostStatus::Up, HostStatus::Stale, HostStatus::Down]).no_match_line(),
        "no hosts with status up, stale or down"
    );
    assert_eq!(
        filter(Some("eu-1"), &[HostStatus::Down, HostStatus::Stale]).no_match_line(),
        "no hosts in region \"eu-1\" with status down or stale"
    );
}

#[test]
fn a_region_nobody_knows_is_an_error_naming_the_known_ones() {
    let regions = regions();
    let rows = hosts();
    let eu9 = filter(Some("eu-9"), &[]);
    let err = check_region(&eu9, &eu9.apply(&rows), &regions, SERVER).unwrap_err();
    assert_eq!(err.to_string(), "no region \"eu-9\" on http://127.0.0.1:9800 (known regions: eu-1, us-1, us-2)");
    // A known region without hosts is no error: the listing says it has none.
    let us2 = filter(Some("us-2"), &[]);
    assert!(check_region(&us2, &us2.apply(&rows), &regions, SERVER).is_ok());
    let none = Regions::from_hosts(&[]);
    let err = check_region(&eu9, &[], &none, SERVER).unwrap_err();
    assert_eq!(err.to_string(), "no region \"eu-9\" on http://127.0.0.1:9800 (it knows no regions yet)");
    assert!(check_region(&filter(None, &[]), &[], &none, SERVER).is_ok());
}

#[test]
fn the_whole_fleet_then_the_unreachable_regions() {
    let out = listing(&hosts(), &regions(), &filter(None, &[]), NOW_MS);
    assert_eq!(
        out,
        "\
HOST    REGION  STATUS   LAST SEEN  CPU%  MEM%  FULLEST FS%  LOAD1
db-01   us-1    up       2s ago     12.5  40.0  71.2 /var     0.50
web-01  eu-1    unknown  4m ago      3.0  55.5  20.0 /        0.12
web-02  eu-1    unknown  4m ago        -     -  -                -
web-03  us-1    down     10m ago    90.0  80.0  95.0 /        4.00
web-04  us-1    stale    30s ago     1.0  10.0  5.0 /         0.00

region eu-1 unreachable: last heard 4m 10s ago; its 2 hosts show as unknown
region us-2 unreachable: never heard from; it has no hosts
"
    );
}

#[test]
fn a_region_filter_keeps_only_its_own_unreachable_line() {
    let regions = regions();
    let eu1 = filter(Some("eu-1"), &[]);
    let out = listing(&eu1.apply(&hosts()), &regions, &eu1, NOW_MS);
    assert!(out.starts_with("HOST    REGION  STATUS "), "{out}");
    assert!(
        out.ends_with("\n\nregion eu-1 unreachable: last heard 4m 10s ago; its 2 hosts show as unknown\n"),
        "{out}"
    );
    assert!(!out.contains("us-2"), "{out}");

    let us1 = filter(Some("us-1"), &[]);
    let out = listing(&us1.apply(&hosts()), &regions, &us1, NOW_MS);
    assert!(!out.contains("unreachable"), "{out}");
}

#[test]
fn no_match_still_names_the_unreachable_regions() {
    // Hosts of an unreachable region may be down without anyone knowing: say so beside "none".
    let down_eu1 = filter(Some("eu-1"), &[HostStatus::Down]);
    let out = listing(&down_eu1.apply(&hosts()), &regions(), &down_eu1, NOW_MS);
    assert_eq!(
        out,
        "no hosts in region \"eu-1\" with status down\n\n\
         region eu-1 unreachable: last heard 4m 10s ago; its 2 hosts show as unknown\n"
    );
    let us2 = filter(Some("us-2"), &[]);
    let out = listing(&us2.apply(&hosts()), &regions(), &us2, NOW_MS);
    assert_eq!(out, "no hosts in region \"us-2\"\n\nregion us-2 unreachable: never heard from; it has no hosts\n");
}

#[test]
fn an_older_aggregator_lists_without_region_lines() {
    // No /api/regions: the regions come from the rows, all local, so no line follows the table,
    // and a filter it ignored is applied here.
    let rows: Vec<Value> = hosts().into_iter().filter(|h| h["region"] == "us-1").collect();
    let regions = Regions::from_hosts(&rows);
    let down = filter(None, &[HostStatus::Down]);
    let out = listing(&down.apply(&rows), &regions, &down, NOW_MS);
    assert!(out.ends_with("web-03  us-1    down    10m ago    90.0  80.0  95.0 /        4.00\n"), "{out}");
    assert_eq!(out.lines().count(), 2, "{out}");
    let unknown = filter(None, &[HostStatus::Unknown]);
    assert_eq!(listing(&unknown.apply(&rows), &regions, &unknown, NOW_MS), "no hosts with status unknown\n");
    let err = check_region(&filter(Some("eu-1"), &[]), &[], &regions, SERVER).unwrap_err();
    assert_eq!(err.to_string(), "no region \"eu-1\" on http://127.0.0.1:9800 (known regions: us-1)");
}

#[test]
fn an_empty_fleet_says_how_to_start() {
    let out = listing(&[], &Regions::from_hosts(&[]), &filter(None, &[]), NOW_MS);
    assert_eq!(out, "no hosts yet: start an agent with `sysmon agent --config agent.toml`\n");
}
