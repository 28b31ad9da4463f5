//! Node-like samples for the benches: the output of `gen_node_like.py` (node_exporter shapes:
//! 2-decimal cpu counters, page-aligned memory gauges, constants, 10 s step), parsed.
//!
//! The generator is run as `python3 $NODE_LIKE_GEN HOSTS HOURS 10 promtext`, with
//! `NODE_LIKE_GEN` defaulting to `/work/shared/bench/gen_node_like.py`; or set
//! `NODE_LIKE_PROMTEXT` to a file it produced.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// One series' samples.
pub struct NodeSeries {
    pub labels: Vec<(String, String)>,
    pub ts: Vec<i64>,
    pub values: Vec<f64>,
}

/// Generates and parses `hosts` hosts over `hours` hours. The text is read as a stream, line
/// by line: the 100-host, 6-hour set is 2.1 GB of text for 25 M samples.
pub fn node_like(hosts: u32, hours: u32) -> Vec<NodeSeries> {
    match std::env::var("NODE_LIKE_PROMTEXT") {
        Ok(path) => {
            let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
            parse_promtext(BufReader::with_capacity(1 << 20, file))
        }
        Err(_) => {
            let script =
                std::env::var("NODE_LIKE_GEN").unwrap_or_else(|_| "/work/shared/bench/gen_node_like.py".to_string());
            let mut child = Command::new("python3")
                .args([script.as_str(), &hosts.to_string(), &hours.to_string(), "10", "promtext"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("running python3 {script}: {e}"));
            let stdout = child.stdout.take().expect("piped stdout");
            let series = parse_promtext(BufReader::with_capacity(1 << 20, stdout));
            let status = child.wait().expect("waiting for the generator");
            assert!(status.success(), "python3 {script} failed: {status}");
            series
        }
    }
}

/// Parses Prometheus text lines with timestamps; series keep their first appearance order.
fn parse_promtext(mut text: impl BufRead) -> Vec<NodeSeries> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<NodeSeries> = Vec::new();
    let mut line = String::new();
    // The generator writes each series' samples together: most lines name the series before.
    let mut last: Option<(String, usize)> = None;
    loop {
        line.clear();
        if text.read_line(&mut line).expect("reading the node-like text") == 0 {
            break;
        }
        let line = line.trim_end();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let close = line.rfind('}').expect("a series with labels");
        let series = &line[..=close];
        let mut rest = line[close + 1..].split_whitespace();
        let value: f64 = rest.next().and_then(|v| v.parse().ok()).expect("a value");
        let ts: i64 = rest.next().and_then(|v| v.parse().ok()).expect("a timestamp");
        let at = match &last {
            Some((name, at)) if name == series => *at,
            _ => {
                let at = *index.entry(series.to_string()).or_insert_with(|| {
                    out.push(NodeSeries { labels: parse_labels(series), ts: Vec::new(), values: Vec::new() });
                    out.len() - 1
                });
                last = Some((series.to_string(), at));
                at
            }
        };
        out[at].ts.push(ts);
        out[at].values.push(value);
    }
    out
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
