//! Retention and rollups: with a short raw retention, old raw samples disappear, the
//! 1-minute and 1-hour tiers remain and answer range queries whose steps line up with them
//! as the raw samples did (within 1e-9), counter resets included.

mod util;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message as _;
use serde_json::Value;
use sysmon_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use util::{Aggregator, Fleet, free_addr, http_get, http_post, wait_until};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn series(name: &str, samples: Vec<(i64, f64)>) -> TimeSeries {
    TimeSeries {
        labels: vec![
            Label { name: "__name__".into(), value: name.into() },
            Label { name: "job".into(), value: "backfill".into() },
        ],
        samples: samples.into_iter().map(|(timestamp, value)| Sample { value, timestamp }).collect(),
    }
}

/// Percent-encodes a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A successful query's `data.result`; panics with the answer otherwise.
fn result(aggregator: &Aggregator, path: &str) -> Vec<Value> {
    let url = format!("{}{path}", aggregator.url());
    let (status, body) = http_get(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(status, 200, "{url}: {body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    answer["data"]["result"].as_array().unwrap_or_else(|| panic!("{url}: {body}")).clone()
}

/// A range query's series: labels and (time s, value) per step.
type Matrix = Vec<(String, Vec<(f64, f64)>)>;

fn query_range(aggregator: &Aggregator, query: &str, start_ms: i64, end_ms: i64, step_ms: i64) -> Matrix {
    let path = format!(
        "/api/v1/query_range?query={}&start={}&end={}&step={}",
        encode(query),
        start_ms / 1000,
        end_ms / 1000,
        step_ms / 1000
    );
    result(aggregator, &path)
        .iter()
        .map(|s| {
            let points = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_f64().unwrap(), p[1].as_str().unwrap().parse().unwrap()))
                .collect();
            (s["metric"].to_string(), points)
        })
        .collect()
}

/// The same series and step times; values within 1e-9 relative (NaN equal to NaN).
fn assert_close(query: &str, got: &Matrix, want: &Matrix) {
    let labels = |m: &Matrix| m.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>();
    assert_eq!(labels(got), labels(want), "{query}: series");
    for ((labels, got), (_, want)) in got.iter().zip(want) {
        let times = |p: &[(f64, f64)]| p.iter().map(|p| p.0).collect::<Vec<_>>();
        assert_eq!(times(got), times(want), "{query} {labels}: step times");
        for (a, b) in got.iter().zip(want) {
            let close = a.1 == b.1 || (a.1 - b.1).abs() <= 1e-9 * a.1.abs().max(b.1.abs());
            assert!(close || (a.1.is_nan() && b.1.is_nan()), "{query} {labels} at {}: {} vs raw {}", a.0, a.1, b.1);
        }
    }
}

#[test]
fn rollups_answer_as_raw_samples_did_once_these_expire() {
    let fleet = Fleet::new();
    let (grpc, http) = (free_addr(), free_addr());
    let mut aggregator = fleet.start_aggregator_on("aggregator", grpc, http);

    // Three hours and ten minutes of backfilled samples every 10 s, ending at least 50
    // minutes ago: a counter that resets now and then and pauses for 7 minutes, and a gauge
    // with a NaN now and then.
    let t0 = now_ms() / HOUR * HOUR - 4 * HOUR;
    let t1 = t0 + 3 * HOUR + 10 * MINUTE;
    let (mut counter, mut gauge) = (Vec::new(), Vec::new());
    let mut value = 0.0;
    for (i, t) in (t0..=t1).step_by(10_000).enumerate() {
        value = if i % 137 == 100 { (i % 7) as f64 } else { value + (i % 13) as f64 * 0.25 };
        if !(t0 + 50 * MINUTE..t0 + 57 * MINUTE).contains(&t) {
            counter.push((t, value));
        }
        gauge.push((t, if i % 211 == 5 { f64::NAN } else { ((i * 37) % 101) as f64 - 20.0 }));
    }
    // Within the raw retention (15 days) no partition is rolled up yet: the queries below
    // read raw samples.
    let request = WriteRequest { timeseries: vec![series("x", counter), series("g", gauge)] };
    let body = snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).unwrap();
    let url = format!("{}/api/v1/write", aggregator.url());
    let (status, answer) = http_post(&url, "application/x-protobuf", &body).unwrap();
    assert_eq!(status, 204, "{answer}");

    let minute_queries = [
        "rate(x[5m])",
        "increase(x[10m])",
        "max_over_time(g[5m])",
        "resets(x[30m])",
        "changes(g[5m])",
        "avg_over_time(g[10m])",
        "delta(g[10m])",
        "count_over_time(x[5m])",
    ];
    // Minute steps up to the last whole minute; hour steps up to the last whole hour
    // before the data ends.
    let (start, end) = (t0 + 15 * MINUTE, t1 - MINUTE);
    let hour_queries = ["increase(x[1h])", "min_over_time(g[1h])"];
    let (hour_start, hour_end) = (t0 + HOUR, t0 + 2 * HOUR);
    let ask = |aggregator: &Aggregator| -> Vec<Matrix> {
        let minutes = minute_queries.iter().map(|q| query_range(aggregator, q, start, end, MINUTE));
        let hours = hour_queries.iter().map(|q| query_range(aggregator, q, hour_start, hour_end, HOUR));
        minutes.chain(hours).collect()
    };
    let raw = ask(&aggregator);
    let queries: Vec<&str> = minute_queries.iter().chain(&hour_queries).copied().collect();
    for (query, answer) in queries.iter().zip(&raw) {
        assert!(answer.len() == 1 && answer[0].1.len() > 1, "{query}: {answer:?}");
    }
    let mid = t0 + 100 * MINUTE;
    let raw_at_mid = format!("/api/v1/query?query=x&time={}", mid / 1000);
    assert_eq!(result(&aggregator, &raw_at_mid).len(), 1);

    // Restart (which seals every head) keeping raw samples one minute only: every 2-hour
    // partition that ended over a minute ago is rolled up, then its raw samples deleted; the
    // newest one may still be raw, and windows reaching into it fold its raw samples.
    aggregator.process.terminate();
    let aggregator = fleet.start_aggregator_with("aggregator", grpc, http, "\n[storage]\nraw_retention = \"1m\"\n");
    // An instant selector reads raw samples only.
    wait_until(Duration::from_secs(60), "the raw samples to expire", || result(&aggregator, &raw_at_mid).is_empty());

    for ((query, want), got) in queries.iter().zip(&raw).zip(ask(&aggregator)) {
        assert_close(query, &got, want);
    }
}
