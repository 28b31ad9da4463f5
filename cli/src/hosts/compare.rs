//! `sysmon hosts compare A B ...`: hosts side by side, avg, p95 and max of each metric over a
//! range. Built only on what every aggregator serves, regional or master: `/api/hosts` to
//! check the hosts and name their regions, and the Prometheus query API (`/api/v1/query`,
//! one instant query per row, all at the same evaluation time) for the figures.

mod render;
mod rows;
mod suggest;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;
use tokio::task::JoinSet;

use self::render::{Comparison, HostColumn};
use self::rows::{Resolution, Row, plan};
use super::{get_json, now_ms, print};
use crate::cli::{CompareArgs, Output};

/// Row queries in flight at once: a handful, so that a comparison neither waits on one query at
/// a time nor takes a large share of the aggregator's `query.max_concurrent` slots.
const QUERIES_IN_FLIGHT: usize = 4;

/// Longest one row's query may take, a little over the aggregator's default query timeout (2m),
/// so that the aggregator's own timeout error is the one shown.
const QUERY_TIMEOUT: Duration = Duration::from_secs(150);

pub(crate) async fn run(args: CompareArgs) -> anyhow::Result<()> {
    if let Some(host) = first_repeated(&args.hosts) {
        bail!("host {host:?} is given twice");
    }
    let known = get_json(&args.server, "/api/hosts").await?;
    let hosts = columns(&args.hosts, &known, &args.server.server)?;
    let resolution = Resolution::for_range(args.range.seconds);
    let end_ms = args.end.unwrap_or_else(now_ms);
    let rows = plan(&args.metric, &args.hosts, resolution);
    let values = query_rows(&args.server.server, &rows, end_ms).await?;
    let comparison = Comparison { range: args.range.text, resolution, end_ms, hosts, rows, values };
    match args.server.output {
        Output::Json => print(&render::json(&comparison)),
        Output::Table => print(&render::table(&comparison)),
    }
    Ok(())
}

fn first_repeated(hosts: &[String]) -> Option<&str> {
    hosts.iter().enumerate().find(|(i, h)| hosts[..*i].contains(h)).map(|(_, h)| h.as_str())
}

/// The asked-for hosts with their regions, from `/api/hosts`; every unknown one is an error
/// that names it and the closest known names.
fn columns(asked: &[String], known: &Value, server: &str) -> anyhow::Result<Vec<HostColumn>> {
    let known: Vec<(&str, Option<&str>)> = known["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| Some((h["host"].as_str()?, h["region"].as_str().filter(|r| !r.is_empty()))))
        .collect();
    let mut columns = Vec::new();
    let mut unknown = Vec::new();
    for host in asked {
        match known.iter().find(|(name, _)| name == host) {
            Some((_, region)) => columns.push(HostColumn { host: host.clone(), region: region.map(str::to_string) }),
            None => unknown.push(unknown_host(host, known.iter().map(|(name, _)| *name), server)),
        }
    }
    if !unknown.is_empty() {
        bail!("{}", unknown.join("; "));
    }
    Ok(columns)
}

fn unknown_host<'a>(host: &str, known: impl Iterator<Item = &'a str>, server: &str) -> String {
    let closest = suggest::closest(host, known);
    let mut message = format!("no host named {host:?} on {server}");
    if let Some((last, rest)) = closest.split_last() {
        let names = if rest.is_empty() { last.to_string() } else { format!("{} or {last}", rest.join(", ")) };
        message.push_str(&format!(" (did you mean {names}?)"));
    }
    message
}

/// Runs every row's query at `end_ms`, [`QUERIES_IN_FLIGHT`] at a time; each row's values by
/// host, in row order. Warnings the aggregator sends (a partial answer, say) go to stderr.
async fn query_rows(server: &str, rows: &[Row], end_ms: i64) -> anyhow::Result<Vec<BTreeMap<String, f64>>> {
    let url = format!("{}/api/v1/query", server.trim_end_matches('/'));
    let client = reqwest::Client::builder().timeout(QUERY_TIMEOUT).build()?;
    let time = format!("{}.{:03}", end_ms.div_euclid(1000), end_ms.rem_euclid(1000));
    let mut values = vec![BTreeMap::new(); rows.len()];
    let mut warnings: Vec<String> = Vec::new();
    let mut pending = rows.iter().enumerate();
    let mut in_flight = JoinSet::new();
    loop {
        while in_flight.len() < QUERIES_IN_FLIGHT {
            let Some((i, row)) = pending.next() else { break };
            let (client, url, time, query) = (client.clone(), url.clone(), time.clone(), row.query.clone());
            in_flight.spawn(async move { (i, instant_query(&client, &url, &query, &time).await) });
        }
        let Some(done) = in_flight.join_next().await else { break };
        let (i, answer) = done.context("a row's query task failed")?;
        let row = &rows[i];
        let answer =
            answer.with_context(|| format!("{} {} (PromQL: {})", row.quantity.label, row.stat.name(), row.query))?;
        values[i] = answer.values;
        for warning in answer.warnings {
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
        }
    }
    for warning in warnings {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("warning: {warning}");
        }
    }
    Ok(values)
}

/// One instant query's answer: a value per host (finite values only) and any warnings.
struct Answer {
    values: BTreeMap<String, f64>,
    warnings: Vec<String>,
}

async fn instant_query(client: &reqwest::Client, url: &str, query: &str, time: &str) -> anyhow::Result<Answer> {
    let response = client
        .post(url)
        .form(&[("query", query), ("time", time)])
        .send()
        .await
        .with_context(|| format!("cannot reach the aggregator at {url} (is it running? see --server)"))?;
    let status = response.status();
    let body: Value = response.json().await.with_context(|| format!("{url} did not answer with JSON"))?;
    if body["status"] != "success" {
        let kind = body["errorType"].as_str().unwrap_or("error");
        let message = body["error"].as_str().unwrap_or("no error message");
        bail!("{kind}: {message} ({status})");
    }
    parse_vector(&body)
}

/// The host and value of each series of a `vector` answer.
fn parse_vector(body: &Value) -> anyhow::Result<Answer> {
    let data = &body["data"];
    if data["resultType"] != "vector" {
        bail!("expected a vector, got {}", data["resultType"]);
    }
    let mut values = BTreeMap::new();
    for series in data["result"].as_array().into_iter().flatten() {
        let Some(host) = series["metric"]["host"].as_str() else { continue };
        let value = series["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).filter(|v| v.is_finite());
        if let Some(value) = value {
            values.insert(host.to_string(), value);
        }
    }
    let warnings =
        body["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str).map(String::from).collect();
    Ok(Answer { values, warnings })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_hosts_are_named_with_the_closest_known_ones() {
        let known = json!({"hosts": [
            {"host": "web-01", "region": "eu"}, {"host": "web-02", "region": "eu"}, {"host": "db-01", "region": ""}
        ]});
        let asked = ["web-01".to_string(), "db-01".to_string()];
        let found = columns(&asked, &known, "http://agg:9800").unwrap();
        assert_eq!(found[0].region.as_deref(), Some("eu"));
        assert_eq!(found[1].region, None);

        let asked = ["web-03".to_string(), "nope".to_string(), "db-1".to_string()];
        let err = columns(&asked, &known, "http://agg:9800").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no host named \"web-03\" on http://agg:9800 (did you mean web-01 or web-02?); \
             no host named \"nope\" on http://agg:9800; \
             no host named \"db-1\" on http://agg:9800 (did you mean db-01?)"
        );
    }

    #[test]
    fn repeated_hosts_are_found() {
        let hosts = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(first_repeated(&hosts(&["a", "b", "c"])), None);
        assert_eq!(first_repeated(&hosts(&["a", "b", "a"])), Some("a"));
    }

    #[test]
    fn vectors_by_host() {
        let body = json!({"status": "success", "warnings": ["partial"], "data": {"resultType": "vector", "result": [
            {"metric": {"host": "a"}, "value": [1, "12.5"]},
            {"metric": {"host": "b"}, "value": [1, "NaN"]},
            {"metric": {}, "value": [1, "3"]}
        ]}});
        let answer = parse_vector(&body).unwrap();
        assert_eq!(answer.values, BTreeMap::from([("a".to_string(), 12.5)]));
        assert_eq!(answer.warnings, ["partial"]);
        let scalar = json!({"status": "success", "data": {"resultType": "scalar", "result": [1, "2"]}});
        assert_eq!(parse_vector(&scalar).err().unwrap().to_string(), "expected a vector, got \"scalar\"");
    }
}
