//! Prometheus's response envelope and value encoding, byte for byte in shape:
//! `{"status":"success","data":...,"warnings":[...]}` or
//! `{"status":"error","errorType":"bad_data","error":"..."}`; sample values as strings
//! (`"NaN"`, `"+Inf"`), times as unix seconds (see `numbers.rs`). Bodies are bytes, written
//! in place: every piece is ASCII or copied from a `str`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sysmon_promql::{InstantSample, RangeSeries, Value};
use sysmon_tsdb::Labels;

use super::numbers::{push_points, push_time};

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
        let mut body = b"{\"status\":\"error\",\"errorType\":".to_vec();
        push_str(&mut body, self.error_type);
        body.extend_from_slice(b",\"error\":");
        push_str(&mut body, &self.message);
        body.push(b'}');
        json(self.status(), body)
    }
}

/// A success envelope around `data` (already JSON), with `warnings` when there are any.
pub(crate) fn success(data: &[u8], warnings: &[String]) -> Response {
    success_with(data.len(), warnings, |out| out.extend_from_slice(data))
}

/// A success envelope around a query's value, encoded straight into the response body.
pub(crate) fn query_success(value: &Value, warnings: &[String]) -> Response {
    success_with(query_data_len(value), warnings, |out| push_query_data(out, value))
}

/// The head of every success envelope; `data` follows it.
const SUCCESS_HEAD: &[u8] = b"{\"status\":\"success\",\"data\":";

/// A success envelope whose `data` `write_data` writes in place, in a body sized for about
/// `data_len` bytes of it, so that a large `data` is neither copied nor grown many times.
fn success_with(data_len: usize, warnings: &[String], write_data: impl FnOnce(&mut Vec<u8>)) -> Response {
    let warnings_len: usize = warnings.iter().map(|w| w.len() + 3).sum();
    let mut body = Vec::with_capacity(SUCCESS_HEAD.len() + data_len + warnings_len + 16);
    body.extend_from_slice(SUCCESS_HEAD);
    write_data(&mut body);
    if !warnings.is_empty() {
        body.extend_from_slice(b",\"warnings\":[");
        for (i, w) in warnings.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            push_str(&mut body, w);
        }
        body.push(b']');
    }
    body.push(b'}');
    json(StatusCode::OK, body)
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// About how many bytes [`push_query_data`] writes for `value`: enough for most values, so
/// the body seldom grows while it is written. A point (`[1700000000,"5828014080"],`) takes
/// about 26 bytes.
fn query_data_len(value: &Value) -> usize {
    const POINT_LEN: usize = 32;
    const LABEL_LEN: usize = 48;
    let series_len = |labels: &Labels, points: usize| 32 + labels.pairs().len() * LABEL_LEN + points * POINT_LEN;
    64 + match value {
        Value::Scalar(..) | Value::String(..) => 64,
        Value::Vector(samples) => samples.iter().map(|s| series_len(&s.labels, 1)).sum(),
        Value::Matrix(series) => series.iter().map(|s| series_len(&s.labels, s.points.len())).sum(),
    }
}

/// `{"resultType":...,"result":...}` for a query's value.
fn push_query_data(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Scalar(t, v) => {
            out.extend_from_slice(b"{\"resultType\":\"scalar\",\"result\":");
            push_points(out, &[(*t, *v)]);
        }
        Value::String(t, s) => {
            out.extend_from_slice(b"{\"resultType\":\"string\",\"result\":[");
            push_time(out, *t);
            out.push(b',');
            push_str(out, s);
            out.push(b']');
        }
        Value::Vector(samples) => {
            out.extend_from_slice(b"{\"resultType\":\"vector\",\"result\":[");
            for (i, sample) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_instant(out, sample);
            }
            out.push(b']');
        }
        Value::Matrix(series) => {
            out.extend_from_slice(b"{\"resultType\":\"matrix\",\"result\":[");
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_range(out, s);
            }
            out.push(b']');
        }
    }
    out.push(b'}');
}

fn push_instant(out: &mut Vec<u8>, sample: &InstantSample) {
    out.extend_from_slice(b"{\"metric\":");
    push_labels(out, &sample.labels);
    out.extend_from_slice(b",\"value\":");
    push_points(out, &[(sample.timestamp_ms, sample.value)]);
    out.push(b'}');
}

fn push_range(out: &mut Vec<u8>, series: &RangeSeries) {
    out.extend_from_slice(b"{\"metric\":");
    push_labels(out, &series.labels);
    out.extend_from_slice(b",\"values\":[");
    push_points(out, &series.points);
    out.extend_from_slice(b"]}");
}

/// `{"name":"value",...}` in label order.
pub(crate) fn push_labels(out: &mut Vec<u8>, labels: &Labels) {
    out.push(b'{');
    for (i, (name, value)) in labels.pairs().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_str(out, name);
        out.push(b':');
        push_str(out, value);
    }
    out.push(b'}');
}

/// A JSON string literal. Only ASCII is escaped, so copying the other bytes of `s` as they
/// are keeps its UTF-8 whole.
pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut plain = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..0x20 => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[plain..i]);
        if short.is_empty() {
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            out.extend_from_slice(short);
        }
        plain = i + 1;
    }
    out.extend_from_slice(&bytes[plain..]);
    out.push(b'"');
}

/// `["a","b"]`.
pub(crate) fn string_list<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut out = vec![b'['];
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_str(&mut out, item);
    }
    out.push(b']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())))
    }

    fn query_data(value: &Value) -> String {
        let mut out = Vec::new();
        push_query_data(&mut out, value);
        String::from_utf8(out).unwrap()
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
