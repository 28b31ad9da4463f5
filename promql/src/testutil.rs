//! Test helpers: an in-memory store loaded from Prometheus-test-like notation, and
//! compact renderings of results to compare against.
//!
//! ```text
//! load 1m
//!   http_requests{job="api", instance="0"} 0+10x10
//!   gauge 1 _ 3 stale 5 NaN Inf -Inf
//! ```
//! `a+bxN` is N+1 samples a, a+b, ..., `a-bxN` counts down, `_` skips a slot, `stale`
//! writes a stale marker. Samples are at 0, interval, 2*interval, ... (unix ms).

use promql_parser::label::MatchOp;
use promql_parser::parser::Expr;
use sysmon_tsdb::{Labels, Matcher};

use crate::storage::{STALE_MARKER_BITS, SeriesSamples, Storage};
use crate::value::Value;
use crate::{Engine, QueryLimits};

/// A store that holds every series in memory.
#[derive(Debug, Default, Clone)]
pub(crate) struct MemStorage {
    pub(crate) series: Vec<SeriesSamples>,
}

impl Storage for MemStorage {
    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<SeriesSamples>, String> {
        Ok(self
            .series
            .iter()
            .filter(|s| matchers.iter().all(|m| m.matches(&s.labels)))
            .filter_map(|s| {
                let samples: Vec<(i64, f64)> =
                    s.samples.iter().copied().filter(|&(t, _)| t >= start_ms && t <= end_ms).collect();
                (!samples.is_empty()).then(|| SeriesSamples { labels: s.labels.clone(), samples })
            })
            .collect())
    }
}

/// Parses `load <interval>` blocks into a store.
pub(crate) fn load(text: &str) -> MemStorage {
    let mut storage = MemStorage::default();
    let mut interval_ms = 60_000;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(interval) = line.strip_prefix("load ") {
            interval_ms = parse_duration_ms(interval.trim());
            continue;
        }
        let (selector, values) = split_series_line(line);
        let labels = parse_labels(selector);
        let mut samples = Vec::new();
        let mut slot = 0i64;
        for token in values.split_whitespace() {
            for value in expand(token) {
                if let Some(v) = value {
                    samples.push((slot * interval_ms, v));
                }
                slot += 1;
            }
        }
        match storage.series.iter_mut().find(|s| s.labels == labels) {
            Some(existing) => existing.samples.extend(samples),
            None => storage.series.push(SeriesSamples { labels, samples }),
        }
    }
    storage
}

fn parse_duration_ms(s: &str) -> i64 {
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = number.parse().unwrap();
    n * match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        other => panic!("unknown unit {other}"),
    }
}

fn split_series_line(line: &str) -> (&str, &str) {
    let end = match line.find('}') {
        Some(i) => i + 1,
        None => line.find(char::is_whitespace).unwrap_or(line.len()),
    };
    (&line[..end], &line[end..])
}

fn parse_labels(selector: &str) -> Labels {
    let Ok(Expr::VectorSelector(vs)) = promql_parser::parser::parse(selector) else {
        panic!("bad series {selector}");
    };
    let mut pairs = Vec::new();
    if let Some(name) = vs.name {
        pairs.push(("__name__".to_string(), name));
    }
    for m in vs.matchers.matchers {
        assert!(matches!(m.op, MatchOp::Equal), "only = in series notation");
        pairs.push((m.name, m.value));
    }
    Labels::new(pairs)
}

fn parse_value(s: &str) -> f64 {
    match s {
        "stale" => f64::from_bits(STALE_MARKER_BITS),
        "Inf" | "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        _ => s.parse().unwrap_or_else(|_| panic!("bad value {s}")),
    }
}

/// One token of a series line: its values, `None` for a skipped slot.
fn expand(token: &str) -> Vec<Option<f64>> {
    if token == "_" {
        return vec![None];
    }
    if let Some((body, times)) = token.split_once('x') {
        let times: usize = times.parse().unwrap();
        let (start, step) = match body.rfind(['+', '-']).filter(|&i| i > 0) {
            Some(i) => {
                let step = parse_value(&body[i + 1..]);
                (parse_value(&body[..i]), if &body[i..=i] == "-" { -step } else { step })
            }
            None => (parse_value(body), 0.0),
        };
        return (0..=times).map(|i| Some(start + step * i as f64)).collect();
    }
    vec![Some(parse_value(token))]
}

/// An engine with default limits.
pub(crate) fn engine() -> Engine {
    Engine::new(QueryLimits::default())
}

/// Renders a value for comparison: one line per sample or point, sorted as returned.
pub(crate) fn render(value: &Value) -> Vec<String> {
    match value {
        Value::Scalar(_, v) => vec![format!("scalar {}", num(*v))],
        Value::String(_, s) => vec![format!("string {s}")],
        Value::Vector(samples) => samples.iter().map(|s| format!("{} {}", s.labels, num(s.value))).collect(),
        Value::Matrix(series) => series
            .iter()
            .map(|s| {
                let points: Vec<String> = s.points.iter().map(|(t, v)| format!("{}@{}", num(*v), t / 1000)).collect();
                format!("{} {}", s.labels, points.join(" "))
            })
            .collect(),
    }
}

/// A number rendered compactly (rounded to 12 significant digits to absorb rounding).
pub(crate) fn num(v: f64) -> String {
    if v.is_nan() || v.is_infinite() || v == 0.0 {
        return format!("{v}");
    }
    let rounded: f64 = format!("{v:.11e}").parse().unwrap_or(v);
    format!("{rounded}")
}

/// Evaluates an instant query at `time_s` seconds and renders it.
pub(crate) fn instant(storage: &MemStorage, query: &str, time_s: i64) -> Vec<String> {
    let result = engine().instant(storage, query, time_s * 1000).unwrap_or_else(|e| panic!("{query}: {e}"));
    render(&result.value)
}

/// Evaluates a range query over `start_s..=end_s` seconds and renders it.
pub(crate) fn range(storage: &MemStorage, query: &str, start_s: i64, end_s: i64, step_s: i64) -> Vec<String> {
    let result = engine()
        .range(storage, query, start_s * 1000, end_s * 1000, step_s * 1000)
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    render(&result.value)
}

/// The error an instant query at `time_s` gives.
pub(crate) fn instant_error(storage: &MemStorage, query: &str, time_s: i64) -> crate::Error {
    match engine().instant(storage, query, time_s * 1000) {
        Ok(r) => panic!("{query}: expected an error, got {:?}", render(&r.value)),
        Err(e) => e,
    }
}
