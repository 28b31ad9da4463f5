//! `sysmon query`: one PromQL expression against an aggregator's Prometheus API, printed as
//! a table (a row per series, or per series and step for a range) or as the API's JSON.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::cli::{Output, QueryArgs};
use crate::table::render;

/// Range queries get about this many points per series when --step is not given.
const DEFAULT_POINTS: u32 = 250;

pub(crate) async fn run(args: QueryArgs) -> anyhow::Result<()> {
    let mut form: Vec<(&str, String)> = vec![("query", args.query.clone())];
    let path = match args.range {
        None => {
            if let Some(time) = &args.time {
                form.push(("time", time.clone()));
            }
            "/api/v1/query"
        }
        Some(range) => {
            let end = match &args.end {
                Some(end) => end.clone(),
                None => unix_seconds(SystemTime::now()),
            };
            let end_secs: f64 = match end.parse() {
                Ok(secs) => secs,
                Err(_) => humantime::parse_rfc3339_weak(&end)
                    .with_context(|| format!("--end {end:?} is neither RFC 3339 nor unix seconds"))?
                    .duration_since(UNIX_EPOCH)?
                    .as_secs_f64(),
            };
            let step = args.step.unwrap_or_else(|| (range / DEFAULT_POINTS).max(Duration::from_secs(1)));
            form.push(("start", format!("{:.3}", end_secs - range.as_secs_f64())));
            form.push(("end", format!("{end_secs:.3}")));
            form.push(("step", format!("{:.3}", step.as_secs_f64())));
            "/api/v1/query_range"
        }
    };
    let url = format!("{}{path}", args.server.server.trim_end_matches('/'));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(300)).build()?;
    let response = client.post(&url).form(&form).send().await.with_context(|| {
        format!("cannot reach the aggregator at {} (is it running? see --server)", args.server.server)
    })?;
    let status = response.status();
    let body: Value = response.json().await.with_context(|| format!("{url} did not answer with JSON"))?;
    if body["status"] != "success" {
        let kind = body["errorType"].as_str().unwrap_or("error");
        let message = body["error"].as_str().unwrap_or("no error message");
        bail!("{kind}: {message} ({status})");
    }
    for warning in body["warnings"].as_array().into_iter().flatten() {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("warning: {}", warning.as_str().unwrap_or_default());
        }
    }
    let text = match args.server.output {
        Output::Json => format!("{:#}\n", body["data"]),
        Output::Table => table(&body["data"]),
    };
    #[allow(clippy::print_stdout)]
    {
        print!("{text}");
    }
    Ok(())
}

/// The result as a table: instant vectors a row per series, matrices a row per point.
fn table(data: &Value) -> String {
    let result = &data["result"];
    let empty = Vec::new();
    match data["resultType"].as_str() {
        Some("scalar") | Some("string") => format!("{}\n", text(&result[1])),
        Some("vector") => {
            let rows: Vec<Vec<String>> = result
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .map(|s| vec![series_name(&s["metric"]), text(&s["value"][1])])
                .collect();
            if rows.is_empty() {
                return "no series\n".into();
            }
            render(&["SERIES", "VALUE"], &rows, &[1])
        }
        Some("matrix") => {
            let mut rows = Vec::new();
            for series in result.as_array().unwrap_or(&empty) {
                let name = series_name(&series["metric"]);
                for point in series["values"].as_array().unwrap_or(&empty) {
                    rows.push(vec![time_text(&point[0]), name.clone(), text(&point[1])]);
                }
            }
            if rows.is_empty() {
                return "no series\n".into();
            }
            render(&["TIME", "SERIES", "VALUE"], &rows, &[2])
        }
        _ => format!("{data}\n"),
    }
}

/// Prometheus's notation: `name{a="1", b="2"}`.
fn series_name(metric: &Value) -> String {
    let Some(map) = metric.as_object() else { return "{}".into() };
    let name = map.get("__name__").and_then(Value::as_str).unwrap_or("");
    let rest: Vec<String> = map
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap_or("")))
        .collect();
    format!("{name}{{{}}}", rest.join(", "))
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// Unix seconds from the API as RFC 3339 (UTC, milliseconds when not whole).
fn time_text(v: &Value) -> String {
    let Some(secs) = v.as_f64() else { return text(v) };
    let ms = (secs * 1000.0).round() as i64;
    let Some(time) = UNIX_EPOCH.checked_add(Duration::from_millis(ms.max(0) as u64)) else { return text(v) };
    if ms % 1000 == 0 {
        humantime::format_rfc3339_seconds(time).to_string()
    } else {
        humantime::format_rfc3339_millis(time).to_string()
    }
}

fn unix_seconds(time: SystemTime) -> String {
    format!("{:.3}", time.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn vectors_and_matrices_as_tables() {
        let vector = json!({"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "job": "node"}, "value": [1700000000, "1"]}
        ]});
        assert_eq!(table(&vector), "SERIES          VALUE\nup{job=\"node\"}      1\n");
        let matrix = json!({"resultType": "matrix", "result": [
            {"metric": {"host": "a"}, "values": [[1700000000, "0.5"], [1700000000.5, "NaN"]]}
        ]});
        assert_eq!(
            table(&matrix),
            "TIME                      SERIES      VALUE\n2023-11-14T22:13:20Z      {host=\"a\"}    0.5\n2023-11-14T22:13:20.500Z  {host=\"a\"}    NaN\n"
        );
        assert_eq!(table(&json!({"resultType": "scalar", "result": [1, "2"]})), "2\n");
    }
}
