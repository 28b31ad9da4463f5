//! Request parameters as Prometheus's HTTP API reads them: from the query string of a GET
//! or the form body of a POST, repeated keys (`match[]`) kept; times as unix seconds or
//! RFC 3339; durations as seconds or PromQL durations (`5m`).

use sysmon_tsdb::Matcher;

use super::ApiError;

/// Every `key=value` of a request, query string and form body together, in order.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Parses a query string and, for a form POST, its body.
    pub(crate) fn parse(query: Option<&str>, form_body: &[u8]) -> Params {
        let mut pairs: Vec<(String, String)> =
            query.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
        pairs.extend(form_urlencoded::parse(form_body).into_owned());
        Params(pairs)
    }

    /// The first value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub(crate) fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// `key` as a time in unix ms, or `default` when absent.
    pub(crate) fn time_or(&self, key: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some(text) => {
                parse_time(text).map_err(|reason| ApiError::bad_data(format!("invalid parameter {key:?}: {reason}")))
            }
        }
    }

    /// `key` as a duration in ms; required.
    pub(crate) fn duration(&self, key: &str) -> Result<i64, ApiError> {
        let text = self.get(key).ok_or_else(|| ApiError::bad_data(format!("invalid parameter {key:?}: missing")))?;
        parse_duration(text).map_err(|reason| ApiError::bad_data(format!("invalid parameter {key:?}: {reason}")))
    }

    /// Every `match[]` selector, parsed.
    pub(crate) fn selectors(&self) -> Result<Vec<Vec<Matcher>>, ApiError> {
        self.all("match[]").into_iter().map(parse_selector).collect()
    }
}

/// Earliest and latest times the API accepts, as Prometheus's `minTime`/`maxTime` (unix ms).
pub(crate) const MIN_TIME_MS: i64 = i64::MIN / 2;
pub(crate) const MAX_TIME_MS: i64 = i64::MAX / 2;

/// Unix seconds (fractions allowed, rounded to the millisecond) or RFC 3339.
pub(crate) fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(seconds) = text.parse::<f64>() {
        if !seconds.is_finite() {
            return Err(format!("cannot parse {text:?} to a valid timestamp"));
        }
        let ms = (seconds * 1000.0).round();
        return Ok(ms.clamp(MIN_TIME_MS as f64, MAX_TIME_MS as f64) as i64);
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| {
            let ms = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
            i64::try_from(ms).ok()
        })
        .or_else(|| parse_rfc3339_offset(text))
        .ok_or_else(|| format!("cannot parse {text:?} to a valid timestamp"))
}

/// RFC 3339 with a numeric offset (`2026-11-23T10:00:00+02:00`), which humantime refuses.
fn parse_rfc3339_offset(text: &str) -> Option<i64> {
    let (base, sign, offset) = match text.rfind(['+', '-']) {
        Some(i) if i > 10 => (&text[..i], if &text[i..=i] == "+" { 1 } else { -1 }, &text[i + 1..]),
        _ => return None,
    };
    let (h, m) = offset.split_once(':')?;
    let offset_ms = (h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?) * 60_000;
    let utc = humantime::parse_rfc3339_weak(base).ok()?;
    let ms = i64::try_from(utc.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis()).ok()?;
    Some(ms - sign * offset_ms)
}

/// Seconds (fractions allowed) or a PromQL duration (`1h30m`), in ms.
pub(crate) fn parse_duration(text: &str) -> Result<i64, String> {
    if let Ok(seconds) = text.parse::<f64>() {
        if !seconds.is_finite() || seconds.abs() * 1000.0 > i64::MAX as f64 {
            return Err(format!("cannot parse {text:?} to a valid duration. It overflows int64"));
        }
        return Ok((seconds * 1000.0).round() as i64);
    }
    promql_parser::util::parse_duration(text)
        .map(|d| d.as_millis() as i64)
        .map_err(|_| format!("cannot parse {text:?} to a valid duration"))
}

/// A `match[]` series selector into matchers.
pub(crate) fn parse_selector(text: &str) -> Result<Vec<Matcher>, ApiError> {
    crate::selector::parse_selector(text)
        .map_err(|reason| ApiError::bad_data(format!("invalid parameter \"match[]\": {reason}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_prometheus_reads_them() {
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("1700000000.1234"), Ok(1_700_000_000_123));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20.5Z"), Ok(1_700_000_000_500));
        assert_eq!(parse_time("2023-11-15T00:13:20+02:00"), Ok(1_700_000_000_000));
        assert!(parse_time("yesterday").unwrap_err().contains("\"yesterday\""));
    }

    #[test]
    fn durations_as_prometheus_reads_them() {
        assert_eq!(parse_duration("15"), Ok(15_000));
        assert_eq!(parse_duration("0.5"), Ok(500));
        assert_eq!(parse_duration("1m30s"), Ok(90_000));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn params_keep_repeated_keys_from_query_and_body() {
        let p = Params::parse(Some("match[]=up&start=1"), b"match[]=node_load1%7Bhost%3D%22a%22%7D");
        assert_eq!(p.all("match[]"), ["up", "node_load1{host=\"a\"}"]);
        assert_eq!(p.get("start"), Some("1"));
        let selectors = p.selectors().unwrap();
        assert_eq!(selectors.len(), 2);
        assert_eq!(selectors[1].len(), 2);
    }
}
