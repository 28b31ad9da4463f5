//! Prometheus's response envelope and value encoding, byte for byte in shape:
//! `{"status":"success","data":...,"warnings":[...]}` or
//! `{"status":"error","errorType":"bad_data","error":"..."}`; sample values as strings
//! (`"NaN"`, `"+Inf"`), times as unix seconds.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sysmon_promql::{InstantSample, RangeSeries, Value};
use sysmon_tsdb::Labels;

/// An API error in Prometheus's shape.
#[derive(Debug)]
pub(crate) struct ApiError {
    /// Prometheus's `errorType`: bad_data, execution, timeout, internal, unavailable...
    pub(crate) error_type: &'static str,
    /// The `error` text.
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn bad_data(message: impl Into<String>) -> ApiError {
        ApiError { error_type: "bad_data", message: message.into() }
    }

    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError { error_type: "internal", message: message.into() }
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError { error_type: "unavailable", message: message.into() }
    }

    /// The HTTP status Prometheus answers this error type with.
    fn status(&self) -> StatusCode {
        match self.error_type {
            "bad_data" => StatusCode::BAD_REQUEST,
            "execution" => StatusCode::UNPROCESSABLE_ENTITY,
            "canceled" => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            "timeout" | "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "not_found" => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<sysmon_promql::Error> for ApiError {
    fn from(error: sysmon_promql::Error) -> Self {
        ApiError { error_type: error.error_type(), message: error.to_string() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = String::from("{\"status\":\"error\",\"errorType\":");
        push_str(&mut body, self.error_type);
        body.push_str(",\"error\":");
        push_str(&mut body, &self.message);
        body.push('}');
        json(self.status(), body)
    }
}

/// A success envelope around `data` (already JSON), with `warnings` when there are any.
pub(crate) fn success(data: &str, warnings: &[String]) -> Response {
    let mut body = String::with_capacity(data.len() + 64);
    body.push_str("{\"status\":\"success\",\"data\":");
    body.push_str(data);
    if !warnings.is_empty() {
        body.push_str(",\"warnings\":[");
        for (i, w) in warnings.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            push_str(&mut body, w);
        }
        body.push(']');
    }
    body.push('}');
    json(StatusCode::OK, body)
}

fn json(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `{"resultType":...,"result":...}` for a query's value.
pub(crate) fn query_data(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Scalar(t, v) => {
            out.push_str("{\"resultType\":\"scalar\",\"result\":");
            push_point(&mut out, *t, *v);
        }
        Value::String(t, s) => {
            out.push_str("{\"resultType\":\"string\",\"result\":[");
            push_time(&mut out, *t);
            out.push(',');
            push_str(&mut out, s);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push_str("{\"resultType\":\"vector\",\"result\":[");
            for (i, sample) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_instant(&mut out, sample);
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push_str("{\"resultType\":\"matrix\",\"result\":[");
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_range(&mut out, s);
            }
            out.push(']');
        }
    }
    out.push('}');
    out
}

fn push_instant(out: &mut String, sample: &InstantSample) {
    out.push_str("{\"metric\":");
    push_labels(out, &sample.labels);
    out.push_str(",\"value\":");
    push_point(out, sample.timestamp_ms, sample.value);
    out.push('}');
}

fn push_range(out: &mut String, series: &RangeSeries) {
    out.push_str("{\"metric\":");
    push_labels(out, &series.labels);
    out.push_str(",\"values\":[");
    for (i, (t, v)) in series.points.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_point(out, *t, *v);
    }
    out.push_str("]}");
}

/// `{"name":"value",...}` in label order.
pub(crate) fn push_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, (name, value)) in labels.pairs().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, name);
        out.push(':');
        push_str(out, value);
    }
    out.push('}');
}

/// `[1700000000.123,"42"]`.
fn push_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    push_time(out, t);
    out.push_str(",\"");
    push_float(out, v);
    out.push_str("\"]");
}

/// Unix seconds with up to three decimals, as Prometheus prints them.
fn push_time(out: &mut String, ms: i64) {
    if ms < 0 {
        out.push('-');
    }
    let (seconds, millis) = (ms.unsigned_abs() / 1000, ms.unsigned_abs() % 1000);
    let _ = write!(out, "{seconds}");
    if millis != 0 {
        let frac = format!("{millis:03}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
}

/// The shortest text that reads back as `v`, without exponent: Go's `FormatFloat(v, 'f', -1, 64)`.
pub(crate) fn push_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

/// A JSON string literal.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `["a","b"]`.
pub(crate) fn string_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(&mut out, item);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())))
    }

    #[test]
    fn vectors_read_as_prometheus_writes_them() {
        let value = Value::Vector(vec![InstantSample {
            labels: labels(&[("__name__", "up"), ("job", "node \"1\"")]),
            timestamp_ms: 1_700_000_000_120,
            value: 0.1,
        }]);
        assert_eq!(
            query_data(&value),
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"node \"1\""},"value":[1700000000.12,"0.1"]}]}"#
        );
    }

    #[test]
    fn special_values_and_whole_seconds() {
        let value = Value::Matrix(vec![RangeSeries {
            labels: labels(&[]),
            points: vec![
                (1000, f64::NAN),
                (2000, f64::INFINITY),
                (3000, f64::NEG_INFINITY),
                (4000, 1e21),
                (5000, -0.0),
            ],
        }]);
        assert_eq!(
            query_data(&value),
            r#"{"resultType":"matrix","result":[{"metric":{},"values":[[1,"NaN"],[2,"+Inf"],[3,"-Inf"],[4,"1000000000000000000000"],[5,"-0"]]}]}"#
        );
        assert_eq!(query_data(&Value::Scalar(-1500, 2.5)), r#"{"resultType":"scalar","result":[-1.5,"2.5"]}"#);
        assert_eq!(query_data(&Value::String(0, "a\nb".into())), r#"{"resultType":"string","result":[0,"a\nb"]}"#);
    }
}
