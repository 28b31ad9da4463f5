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
    success_with(data.len(), warnings, |out| out.push_str(data))
}

/// A success envelope around a query's value, encoded straight into the response body.
pub(crate) fn query_success(value: &Value, warnings: &[String]) -> Response {
    success_with(query_data_len(value), warnings, |out| push_query_data(out, value))
}

/// The head of every success envelope; `data` follows it.
const SUCCESS_HEAD: &str = "{\"status\":\"success\",\"data\":";

/// A success envelope whose `data` `write_data` writes in place, in a body sized for about
/// `data_len` bytes of it, so that a large `data` is neither copied nor grown many times.
fn success_with(data_len: usize, warnings: &[String], write_data: impl FnOnce(&mut String)) -> Response {
    let warnings_len: usize = warnings.iter().map(|w| w.len() + 3).sum();
    let mut body = String::with_capacity(SUCCESS_HEAD.len() + data_len + warnings_len + 16);
    body.push_str(SUCCESS_HEAD);
    write_data(&mut body);
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
fn push_query_data(out: &mut String, value: &Value) {
    match value {
        Value::Scalar(t, v) => {
            out.push_str("{\"resultType\":\"scalar\",\"result\":");
            push_point(out, &mut TimeText::default(), *t, *v);
        }
        Value::String(t, s) => {
            out.push_str("{\"resultType\":\"string\",\"result\":[");
            push_time(out, *t);
            out.push(',');
            push_str(out, s);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push_str("{\"resultType\":\"vector\",\"result\":[");
            for (i, sample) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_instant(out, sample);
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push_str("{\"resultType\":\"matrix\",\"result\":[");
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_range(out, s);
            }
            out.push(']');
        }
    }
    out.push('}');
}

fn push_instant(out: &mut String, sample: &InstantSample) {
    out.push_str("{\"metric\":");
    push_labels(out, &sample.labels);
    out.push_str(",\"value\":");
    push_point(out, &mut TimeText::default(), sample.timestamp_ms, sample.value);
    out.push('}');
}

fn push_range(out: &mut String, series: &RangeSeries) {
    out.push_str("{\"metric\":");
    push_labels(out, &series.labels);
    out.push_str(",\"values\":[");
    let mut times = TimeText::default();
    for (i, (t, v)) in series.points.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_point(out, &mut times, *t, *v);
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
fn push_point(out: &mut String, times: &mut TimeText, t: i64, v: f64) {
    out.push('[');
    times.push(out, t);
    out.push_str(",\"");
    push_float(out, v);
    out.push_str("\"]");
}

/// Unix seconds with up to three decimals, as Prometheus prints them.
fn push_time(out: &mut String, ms: i64) {
    TimeText::default().push(out, ms);
}

/// Writes the times of a series' points, which share all but their last few digits: the
/// seconds above the last four are formatted once per 10,000 s, not once per point.
#[derive(Default)]
struct TimeText {
    /// Unix seconds / 10,000 of the last time written, and their text.
    high: Option<(u64, String)>,
}

impl TimeText {
    /// Writes `ms` as unix seconds with up to three decimals, as Prometheus prints them.
    fn push(&mut self, out: &mut String, ms: i64) {
        if ms < 0 {
            out.push('-');
        }
        let (seconds, millis) = (ms.unsigned_abs() / 1000, ms.unsigned_abs() % 1000);
        let (high, low) = (seconds / 10_000, seconds % 10_000);
        if high == 0 {
            out.push_str(itoa::Buffer::new().format(low));
        } else {
            let text = match &mut self.high {
                Some((cached, text)) if *cached == high => text,
                slot => &mut slot.insert((high, itoa::Buffer::new().format(high).to_string())).1,
            };
            out.push_str(text);
            push_digits(out, &[low / 1000, low / 100 % 10, low / 10 % 10, low % 10]);
        }
        if millis != 0 {
            let digits = [millis / 100, millis / 10 % 10, millis % 10];
            let len = if digits[2] != 0 {
                3
            } else if digits[1] != 0 {
                2
            } else {
                1
            };
            out.push('.');
            push_digits(out, &digits[..len]);
        }
    }
}

/// Writes decimal digits, each 0 to 9.
fn push_digits(out: &mut String, digits: &[u64]) {
    digits.iter().for_each(|&d| out.push(char::from(b'0' + d as u8)));
}

/// The shortest text that reads back as `v`, without exponent: Go's `FormatFloat(v, 'f', -1, 64)`.
pub(crate) fn push_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else if v.fract() == 0.0 && v.abs() < MAX_EXACT_INTEGER && !(v == 0.0 && v.is_sign_negative()) {
        // Every integer below 2^53 is a float of its own, so its digits are the shortest
        // text that reads back as it; itoa writes them faster than zmij.
        out.push_str(itoa::Buffer::new().format(v as i64));
    } else {
        push_fixed(out, zmij::Buffer::new().format_finite(v));
    }
}

/// 2^53: below it, floats hold every integer.
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// Writes zmij's shortest text for a float (`0.25`, `15.0`, `1.5e-7`, `1e+21`; the digits are
/// those Go picks) as Go's `'f'` format writes the same digits: no exponent, no `.0` tail.
fn push_fixed(out: &mut String, shortest: &str) {
    let unsigned = match shortest.strip_prefix('-') {
        Some(rest) => {
            out.push('-');
            rest
        }
        None => shortest,
    };
    let Some((mantissa, exponent)) = unsigned.split_once('e') else {
        out.push_str(unsigned.strip_suffix(".0").unwrap_or(unsigned));
        return;
    };
    let exponent: i64 = exponent.parse().expect("zmij writes the exponent as a decimal integer");
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = whole.len() + fraction.len();
    // Where the decimal point goes, counted in digits from the first one.
    let point = whole.len() as i64 + exponent;
    if point <= 0 {
        out.push_str("0.");
        (0..-point).for_each(|_| out.push('0'));
        out.push_str(whole);
        out.push_str(fraction);
    } else if point as usize >= digits {
        out.push_str(whole);
        out.push_str(fraction);
        (digits..point as usize).for_each(|_| out.push('0'));
    } else {
        for (i, digit) in whole.chars().chain(fraction.chars()).enumerate() {
            if i == point as usize {
                out.push('.');
            }
            out.push(digit);
        }
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

    fn query_data(value: &Value) -> String {
        let mut out = String::new();
        push_query_data(&mut out, value);
        out
    }

    fn float(v: f64) -> String {
        let mut out = String::new();
        push_float(&mut out, v);
        out
    }

    /// std's `Display` writes the shortest digits that read back, without exponent, as Go's
    /// `'f'` format with precision -1 does, except on an exact tie between two shortest
    /// texts, where Go (and so Prometheus) picks the even last digit and std rounds up.
    #[test]
    fn floats_read_as_go_writes_them() {
        let edges = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.3,
            1.5,
            15.0,
            100.0,
            1e15,
            1e16,
            1e17,
            1e21,
            1e22,
            1.5e300,
            1e-5,
            1e-6,
            1e-7,
            1.234e-7,
            5e-324,
            -5e-324,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            5828014080.0,
            123456.789,
            0.000123,
            9007199254740993.0,
            2f64.powi(60),
            2f64.powi(-60),
            1.0 / 3.0,
            2.0 / 3.0,
        ];
        for v in edges {
            assert_eq!(float(v), format!("{v}"), "{v:e}");
        }
        // Ties, with Go's text (strconv.FormatFloat(v, 'f', -1, 64)).
        for (v, go) in [
            (1658206780088562.0 + 0.25, "1658206780088562.2"),
            (f64::from_bits(0x4303_1a43_1020_67aa), "672112486649077.2"),
            (f64::from_bits(0x4318_b40c_fdc8_f519), "1738341832867142.2"),
            (-1658206780088562.0 - 0.25, "-1658206780088562.2"),
            (1658206780088562.0 + 0.75, "1658206780088562.8"),
        ] {
            assert_eq!(float(v), go, "{v:e}");
        }
        // A fixed-seed xorshift: every exponent, decimals of the sizes metrics have, and
        // quarters of large integers (many ties).
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..100_000 {
            let bits = f64::from_bits(next());
            let decimal = (next() % 10_000_000_000) as f64 / 10f64.powi((next() % 20) as i32);
            let quarter = (next() % (1 << 53)) as f64 / 4.0;
            let integer = (next() >> (next() % 64)) as i64 as f64;
            for v in [bits, decimal, quarter, integer, -integer] {
                if !v.is_finite() {
                    continue;
                }
                let (ours, std) = (float(v), format!("{v}"));
                assert_eq!(ours.parse::<f64>(), Ok(v), "{ours} reads back as {v:e}");
                if ours != std {
                    let (last, std_last) = (ours.as_bytes()[ours.len() - 1], std.as_bytes()[std.len() - 1]);
                    let tie = ours.len() == std.len() && last % 2 == 0 && std_last == last + 1;
                    assert!(tie && ours[..ours.len() - 1] == std[..std.len() - 1], "{v:e}: {ours} but std {std}");
                }
            }
        }
    }

    #[test]
    fn times_in_seconds_with_at_most_three_decimals() {
        let time = |ms: i64| {
            let mut out = String::new();
            push_time(&mut out, ms);
            out
        };
        for (ms, text) in [
            (0, "0"),
            (1, "0.001"),
            (10, "0.01"),
            (100, "0.1"),
            (120, "0.12"),
            (999, "0.999"),
            (1_000, "1"),
            (1_700_000_000_000, "1700000000"),
            (1_700_000_000_005, "1700000000.005"),
            (1_700_000_000_050, "1700000000.05"),
            (1_700_000_010_000, "1700000010"),
            (9_999_000, "9999"),
            (10_000_000, "10000"),
            (10_000_001, "10000.001"),
            (100_000_070_000, "100000070"),
            (-1_500, "-1.5"),
            (-1, "-0.001"),
            (i64::MIN, "-9223372036854775.808"),
        ] {
            assert_eq!(time(ms), text);
        }
        // One writer for a whole series keeps the text of the seconds' high digits.
        let (mut times, mut series, mut each) = (TimeText::default(), String::new(), String::new());
        for ms in (1_699_999_990_000..1_700_000_030_000).step_by(7_250).chain([-1_500, 5, 1_700_000_000_000]) {
            times.push(&mut series, ms);
            series.push(',');
            each.push_str(&time(ms));
            each.push(',');
        }
        assert_eq!(series, each);
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
