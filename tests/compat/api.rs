//! A client of the Prometheus HTTP query API (`/api/v1/query`, `/api/v1/query_range`), and the
//! parsed form of its answers.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::util::{http_get, http_post};

/// How a query is sent: both must work, so the harness alternates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Parameters in the URL's query string.
    Get,
    /// Parameters in an `application/x-www-form-urlencoded` body.
    Post,
}

/// One store's query API.
#[derive(Clone, Debug)]
pub struct PromApi {
    /// Short name for reports (`prometheus`, `sysmon`).
    pub name: String,
    /// `http://host:port`, without a trailing slash.
    pub base: String,
}

impl PromApi {
    pub fn new(name: &str, base: &str) -> PromApi {
        PromApi { name: name.to_string(), base: base.trim_end_matches('/').to_string() }
    }

    /// `/api/v1/query` with `query` and `time`.
    pub fn instant(&self, expr: &str, time: &str, method: Method) -> Outcome {
        self.call("/api/v1/query", &[("query", expr), ("time", time)], method)
    }

    /// `/api/v1/query_range` with `query`, `start`, `end` and `step`.
    pub fn range(&self, expr: &str, start: &str, end: &str, step: &str, method: Method) -> Outcome {
        self.call("/api/v1/query_range", &[("query", expr), ("start", start), ("end", end), ("step", step)], method)
    }

    fn call(&self, path: &str, params: &[(&str, &str)], method: Method) -> Outcome {
        let form: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", url_encode(v))).collect();
        let form = form.join("&");
        let response = match method {
            Method::Get => http_get(&format!("{}{path}?{form}", self.base)),
            Method::Post => {
                http_post(&format!("{}{path}", self.base), "application/x-www-form-urlencoded", form.as_bytes())
            }
        };
        match response {
            Ok((status, body)) => Outcome::parse(status, &body),
            Err(e) => Outcome::Broken(format!("{method:?} {path}: {e}")),
        }
    }
}

/// Seconds with millisecond precision, as the API takes and gives times.
pub fn seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    format!("{sign}{}.{:03}", ms.abs() / 1000, ms.abs() % 1000)
}

/// RFC 3339 in UTC with milliseconds (`2026-11-23T11:15:37.718Z`), the API's other time form.
pub fn rfc3339(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A label set, sorted by name (`__name__` sorts first).
pub type Labels = BTreeMap<String, String>;

/// One sample: time in milliseconds and value.
#[derive(Clone, Copy, Debug)]
pub struct Point {
    pub t_ms: i64,
    pub v: f64,
}

/// A successful query's `data`.
#[derive(Clone, Debug)]
pub enum Data {
    Scalar(Point),
    String(i64, String),
    Vector(Vec<(Labels, Point)>),
    Matrix(Vec<(Labels, Vec<Point>)>),
}

impl Data {
    pub fn result_type(&self) -> &'static str {
        match self {
            Data::Scalar(_) => "scalar",
            Data::String(..) => "string",
            Data::Vector(_) => "vector",
            Data::Matrix(_) => "matrix",
        }
    }

    /// Number of samples in the result.
    pub fn sample_count(&self) -> usize {
        match self {
            Data::Scalar(_) | Data::String(..) => 1,
            Data::Vector(v) => v.len(),
            Data::Matrix(m) => m.iter().map(|(_, points)| points.len()).sum(),
        }
    }
}

/// What a query API answered.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// `"status": "success"`.
    Success(Data),
    /// `"status": "error"` with its `errorType` and `error`.
    Error { error_type: String, error: String },
    /// Not an API answer at all: connection failure, not JSON, unexpected shape.
    Broken(String),
}

impl Outcome {
    fn parse(status: u16, body: &str) -> Outcome {
        let json: Value = match serde_json::from_str(body) {
            Ok(json) => json,
            Err(e) => return Outcome::Broken(format!("HTTP {status}, not JSON ({e}): {}", excerpt(body))),
        };
        match json["status"].as_str() {
            Some("success") => match parse_data(&json["data"]) {
                Ok(data) => Outcome::Success(data),
                Err(e) => Outcome::Broken(format!("HTTP {status}, bad data ({e}): {}", excerpt(body))),
            },
            Some("error") => Outcome::Error {
                error_type: json["errorType"].as_str().unwrap_or("<no errorType>").to_string(),
                error: json["error"].as_str().unwrap_or("<no error>").to_string(),
            },
            _ => Outcome::Broken(format!("HTTP {status}, no status field: {}", excerpt(body))),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Success(data) => {
                write!(f, "success, {} with {} samples", data.result_type(), data.sample_count())
            }
            Outcome::Error { error_type, error } => write!(f, "error {error_type}: {error}"),
            Outcome::Broken(what) => write!(f, "broken answer: {what}"),
        }
    }
}

fn excerpt(body: &str) -> String {
    let mut s: String = body.chars().take(300).collect();
    if s.len() < body.len() {
        s.push_str("...");
    }
    s
}

fn parse_data(data: &Value) -> Result<Data, String> {
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("scalar") => Ok(Data::Scalar(parse_point(result)?)),
        Some("string") => {
            let t = result[0].as_f64().ok_or("string without time")?;
            let s = result[1].as_str().ok_or("string without value")?;
            Ok(Data::String(to_ms(t), s.to_string()))
        }
        Some("vector") => {
            let items = result.as_array().ok_or("vector result is not an array")?;
            items
                .iter()
                .map(|item| Ok((parse_labels(&item["metric"])?, parse_point(&item["value"])?)))
                .collect::<Result<_, String>>()
                .map(Data::Vector)
        }
        Some("matrix") => {
            let items = result.as_array().ok_or("matrix result is not an array")?;
            items
                .iter()
                .map(|item| {
                    let values = item["values"].as_array().ok_or("series without values")?;
                    Ok((parse_labels(&item["metric"])?, values.iter().map(parse_point).collect::<Result<_, _>>()?))
                })
                .collect::<Result<_, String>>()
                .map(Data::Matrix)
        }
        other => Err(format!("unknown resultType {other:?}")),
    }
}

fn parse_labels(metric: &Value) -> Result<Labels, String> {
    let object = metric.as_object().ok_or("metric is not an object")?;
    object
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.as_str().ok_or_else(|| format!("label {k} is not a string"))?.to_string())))
        .collect()
}

fn parse_point(pair: &Value) -> Result<Point, String> {
    let t = pair[0].as_f64().ok_or_else(|| format!("point without numeric time: {pair}"))?;
    let v = pair[1].as_str().ok_or_else(|| format!("point value is not a string: {pair}"))?;
    // Rust reads `NaN`, `+Inf` and `-Inf` as Prometheus writes them.
    let v: f64 = v.parse().map_err(|_| format!("point value is not a float: {pair}"))?;
    Ok(Point { t_ms: to_ms(t), v })
}

fn to_ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// `name{a="b", ...}` as Prometheus prints a series.
pub fn show_labels(labels: &Labels) -> String {
    let name = labels.get("__name__").map(String::as_str).unwrap_or("");
    let rest: Vec<String> =
        labels.iter().filter(|(k, _)| *k != "__name__").map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", rest.join(", "))
}

/// A value as Prometheus prints it.
pub fn show_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}
