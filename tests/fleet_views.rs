//! `sysmon hosts list` narrowed by region and status, and the unreachable regions of a master:
//! against a real aggregator with two agents, and against a stand-in master that answers
//! `/api/hosts` and `/api/regions` as the API contract says (hosts of an unreachable region
//! with status unknown), until a real master of several regions can be started here.

mod util;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use util::{Fleet, describe, run, run_ok, wait_until};

fn json_hosts(server: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["hosts", "list", "--server", server, "--output", "json"];
    args.extend_from_slice(extra);
    let out = run_ok(&args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("hosts list is not JSON ({e}): {out}"))
}

fn names(hosts: &[Value]) -> Vec<&str> {
    hosts.iter().map(|h| h["host"].as_str().unwrap()).collect()
}

#[test]
fn region_and_status_filters_on_a_regional_aggregator() {
    let fleet = Fleet::new();
    let aggregator = fleet.start_aggregator("aggregator");
    let _agents: Vec<_> = ["web-01", "web-02"]
        .iter()
        .map(|id| {
            fleet.issue_agent(id);
            fleet.start_agent(id, id, aggregator.grpc, "1s")
        })
        .collect();
    let server = aggregator.url();
    wait_until(Duration::from_secs(30), "both hosts up", || {
        let hosts = json_hosts(&server, &[]);
        hosts.len() == 2 && hosts.iter().all(|h| h["status"] == "up")
    });

    // The region the harness configures lists both hosts, under a REGION column; a regional
    // aggregator has no unreachable region, so nothing follows the table.
    let table = run_ok(&["hosts", "list", "--server", &server, "--region", "test"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(&header[..4], ["HOST", "REGION", "STATUS", "LAST"], "{table}");
    for (line, host) in lines[1..].iter().zip(["web-01", "web-02"]) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[0], host, "{table}");
        assert_eq!(cells[1], "test", "{table}");
        assert!(["up", "stale"].contains(&cells[2]), "{table}");
    }
    let hosts = json_hosts(&server, &["--region", "test"]);
    assert_eq!(names(&hosts), ["web-01", "web-02"]);
    // up or stale: on a busy machine a 1 s agent may be late now and then, never down.
    assert_eq!(names(&json_hosts(&server, &["--status", "up,stale"])), ["web-01", "web-02"]);
    assert_eq!(names(&json_hosts(&server, &["--status", "up", "--status", "stale"])), ["web-01", "web-02"]);

    // A region it does not know is an error naming the ones it does.
    let nowhere = run(&["hosts", "list", "--server", &server, "--region", "nowhere"]);
    assert_eq!(nowhere.status.code(), Some(1), "{}", describe(&nowhere));
    assert_eq!(
        String::from_utf8_lossy(&nowhere.stderr),
        format!("error: no region \"nowhere\" on {server} (known regions: test)\n"),
        "{}",
        describe(&nowhere)
    );
    assert!(nowhere.stdout.is_empty(), "{}", describe(&nowhere));

    // A filter nothing passes says so, in a line, and is no error.
    assert_eq!(run_ok(&["hosts", "list", "--server", &server, "--status", "down"]), "no hosts with status down\n");
    assert_eq!(
        run_ok(&["hosts", "list", "--server", &server, "--status", "down,unknown"]),
        "no hosts with status down or unknown\n"
    );
    assert_eq!(
        run_ok(&["hosts", "list", "--server", &server, "--region", "test", "--status", "down"]),
        "no hosts in region \"test\" with status down\n"
    );
    assert!(json_hosts(&server, &["--status", "down"]).is_empty());
    assert!(json_hosts(&server, &["--status", "unknown"]).is_empty());
}

#[test]
fn a_bad_status_is_refused_before_any_request() {
    // A listener that counts on being left alone: the CLI must not connect to it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    for status in ["bogus", "up,bogus", "Down"] {
        let output = run(&["hosts", "list", "--server", &server, "--status", status]);
        assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
        let bad = status.rsplit(',').next().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with(&format!(
                "error: invalid value '{bad}' for '--status <STATUS>': status must be up, stale, down or unknown, got \"{bad}\"\n"
            )),
            "{}",
            describe(&output)
        );
    }
    assert!(listener.accept().is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock), "the CLI connected");
}

/// A stand-in master on loopback: answers every GET with `respond(path)` and records the paths.
struct FakeApi {
    url: String,
    paths: Arc<Mutex<Vec<String>>>,
}

impl FakeApi {
    fn start(respond: impl Fn(&str) -> (u16, String) + Send + 'static) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let paths = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&paths);
        // Detached: it ends with the test process, blocked in accept.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if let Some(path) = answer(stream, &respond) {
                    seen.lock().unwrap().push(path);
                }
            }
        });
        FakeApi { url, paths }
    }

    /// The paths asked for so far, and forgets them.
    fn take_paths(&self) -> Vec<String> {
        let mut paths = std::mem::take(&mut *self.paths.lock().unwrap());
        paths.sort();
        paths
    }
}

fn answer(mut stream: TcpStream, respond: &impl Fn(&str) -> (u16, String)) -> Option<String> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let path = head.split_whitespace().nth(1)?.to_string();
    let (status, body) = respond(&path);
    let reason = if status == 200 { "OK" } else { "Error" };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).ok()?;
    Some(path)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn host(name: &str, region: &str, status: &str, seen_ago_ms: i64) -> Value {
    json!({
        "host": name, "region": region, "status": status, "last_seen_ms": now_ms() - seen_ago_ms,
        "agent_version": "0.1.0", "cpu_percent": 5.0, "memory_percent": 50.0, "memory_total_bytes": 4294967296u64,
        "fullest_filesystem_percent": 20.0, "fullest_filesystem_mountpoint": "/", "load1": 0.25
    })
}

/// A master of two regions, eu-1 unreachable for 250.5 s (so that the CLI, a few milliseconds
/// later, shows 4m 10s), us-1 reachable. Like an older aggregator, it ignores the filters.
fn master(path: &str, regions_status: u16) -> (u16, String) {
    if path.starts_with("/api/hosts") {
        let hosts = [
            host("db-01", "us-1", "up", 1_000),
            host("web-01", "eu-1", "unknown", 250_500),
            host("web-02", "eu-1", "unknown", 251_000),
        ];
        return (200, json!({ "hosts": hosts }).to_string());
    }
    if path == "/api/regions" && regions_status == 200 {
        let regions = json!({"role": "master", "regions": [
            {"region": "eu-1", "status": "unreachable", "last_heard_ms": now_ms() - 250_500,
             "complete_before_ms": now_ms() - 260_000, "hosts": 2, "via": "agg-eu1"},
            {"region": "us-1", "status": "reachable", "last_heard_ms": now_ms() - 1_000,
             "complete_before_ms": now_ms() - 10_000, "hosts": 1, "via": "agg-us1"},
        ]});
        return (200, regions.to_string());
    }
    if path == "/api/regions" {
        return (regions_status, json!({"error": "region registry unavailable"}).to_string());
    }
    (404, String::new())
}

#[test]
fn a_masters_unreachable_region_and_its_unknown_hosts() {
    let api = FakeApi::start(|path| master(path, 200));
    let server = api.url.clone();

    let table = run_ok(&["hosts", "list", "--server", &server]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 6, "{table}");
    assert!(lines[0].starts_with("HOST    REGION  STATUS   LAST SEEN"), "{table}");
    assert!(lines[1].starts_with("db-01   us-1    up       1s ago"), "{table}");
    assert!(lines[2].starts_with("web-01  eu-1    unknown  4m ago"), "{table}");
    assert!(lines[3].starts_with("web-02  eu-1    unknown  4m ago"), "{table}");
    assert_eq!(lines[4], "", "{table}");
    assert_eq!(lines[5], "region eu-1 unreachable: last heard 4m 10s ago; its 2 hosts show as unknown", "{table}");
    assert_eq!(api.take_paths(), ["/api/hosts", "/api/regions"]);

    // The filters go to the server as query parameters, and are applied again by the CLI.
    let table = run_ok(&["hosts", "list", "--server", &server, "--region", "eu-1", "--status", "down,unknown"]);
    assert_eq!(api.take_paths(), ["/api/hosts?region=eu-1&status=down,unknown", "/api/regions"]);
    let hosts: Vec<&str> = table.lines().skip(1).take_while(|l| !l.is_empty()).collect();
    assert_eq!(hosts.len(), 2, "{table}");
    assert!(hosts.iter().all(|l| l.contains(" eu-1 ") && l.contains(" unknown ")), "{table}");
    assert!(table.ends_with("\n\nregion eu-1 unreachable: last heard 4m 10s ago; its 2 hosts show as unknown\n"));

    // Another region's listing does not mention eu-1; a status none has says so, and still
    // names the unreachable region (its hosts may be down without anyone knowing).
    let us1 = run_ok(&["hosts", "list", "--server", &server, "--region", "us-1"]);
    assert_eq!(us1.lines().count(), 2, "{us1}");
    assert!(!us1.contains("eu-1"), "{us1}");
    assert_eq!(
        run_ok(&["hosts", "list", "--server", &server, "--status", "down"]),
        "no hosts with status down\n\nregion eu-1 unreachable: last heard 4m 10s ago; its 2 hosts show as unknown\n"
    );

    let unknown = json_hosts(&server, &["--status", "unknown"]);
    assert_eq!(names(&unknown), ["web-01", "web-02"]);
    assert!(unknown.iter().all(|h| h["status"] == "unknown" && h["region"] == "eu-1"));

    let eu9 = run(&["hosts", "list", "--server", &server, "--region", "eu-9"]);
    assert_eq!(
        String::from_utf8_lossy(&eu9.stderr),
        format!("error: no region \"eu-9\" on {server} (known regions: eu-1, us-1)\n"),
        "{}",
        describe(&eu9)
    );
}

#[test]
fn a_failing_region_list_does_not_hide_the_hosts() {
    let api = FakeApi::start(|path| master(path, 503));
    let output = run(&["hosts", "list", "--server", &api.url]);
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), 4, "{}", describe(&output));
    assert!(stdout.contains("web-01  eu-1    unknown"), "{}", describe(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "warning: {}/api/regions: 503 Service Unavailable: region registry unavailable; regions are taken from \
             the host rows\n",
            api.url
        )
    );
}
