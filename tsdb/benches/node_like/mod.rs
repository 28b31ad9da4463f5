//! Node-like samples for the benches: the output of `gen_node_like.py` (node_exporter shapes:
//! 2-decimal cpu counters, page-aligned memory gauges, constants, 10 s step), parsed.
//!
//! The generator is run as `python3 $NODE_LIKE_GEN HOSTS HOURS 10 promtext`, with
//! `NODE_LIKE_GEN` defaulting to `/work/shared/bench/gen_node_like.py`; or set
//! `NODE_LIKE_PROMTEXT` to a file it produced.

use std::collections::BTreeMap;
use std::process::Command;

/// One series' samples.
pub struct NodeSeries {
    pub labels: Vec<(String, String)>,
    pub ts: Vec<i64>,
    pub values: Vec<f64>,
}

/// Generates and parses `hosts` hosts over `hours` hours.
pub fn node_like(hosts: u32, hours: u32) -> Vec<NodeSeries> {
    let text = match std::env::var("NODE_LIKE_PROMTEXT") {
        Ok(path) => std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}")),
        Err(_) => {
            let script =
                std::env::var("NODE_LIKE_GEN").unwrap_or_else(|_| "/work/shared/bench/gen_node_like.py".to_string());
            let out = Command::new("python3")
                .args([script.as_str(), &hosts.to_string(), &hours.to_string(), "10", "promtext"])
                .output()
                .unwrap_or_else(|e| panic!("running python3 {script}: {e}"));
            assert!(out.status.success(), "python3 {script} failed: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).expect("generator output is UTF-8")
        }
    };
    parse_promtext(&text)
}

fn parse_promtext(text: &str) -> Vec<NodeSeries> {
    let mut by_series: BTreeMap<&str, NodeSeries> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let close = line.rfind('}').expect("a series with labels");
        let series = &line[..=close];
        let mut rest = line[close + 1..].split_whitespace();
        let value: f64 = rest.next().and_then(|v| v.parse().ok()).expect("a value");
        let ts: i64 = rest.next().and_then(|v| v.parse().ok()).expect("a timestamp");
        let entry = by_series.entry(series).or_insert_with(|| NodeSeries {
            labels: parse_labels(series),
            ts: Vec::new(),
            values: Vec::new(),
        });
        entry.ts.push(ts);
        entry.values.push(value);
    }
    by_series.into_values().collect()
}

fn parse_labels(series: &str) -> Vec<(String, String)> {
    let open = series.find('{').expect("labels open");
    let mut labels = vec![("__name__".to_string(), series[..open].to_string())];
    for pair in series[open + 1..series.len() - 1].split("\",") {
        let (name, value) = pair.split_once("=\"").expect("name=\"value\"");
        labels.push((name.to_string(), value.trim_end_matches('"').to_string()));
    }
    labels
}
