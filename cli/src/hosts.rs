//! `sysmon hosts list / show / compare`: the fleet from any aggregator's HTTP API.
//!
//! This file holds `show` and what the subcommands share (requests, cell formatting); `list`
//! and `compare` have their own modules.

mod compare;
mod list;
mod regions;

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::cli::{HostsCommand, Output, ServerArgs};
use crate::table::render;

pub(crate) async fn run(command: HostsCommand) -> anyhow::Result<()> {
    match command {
        HostsCommand::List(args) => list::run(args).await?,
        HostsCommand::Show { host, server } => {
            let body = get_json(&server, &format!("/api/hosts/{}", percent_encode(&host))).await?;
            match server.output {
                Output::Json => print(&format!("{body:#}")),
                Output::Table => print(&host_details(&body)),
            }
        }
        HostsCommand::Compare(args) => compare::run(args).await?,
    }
    Ok(())
}

/// GETs `path` from the aggregator and parses its JSON answer; an answer other than 2xx is an
/// error carrying the API's `error` message.
pub(crate) async fn get_json(server: &ServerArgs, path: &str) -> anyhow::Result<Value> {
    let (url, status, body) = get(server, path).await?;
    if !status.is_success() {
        let message = body.as_ref().and_then(|b| b["error"].as_str()).unwrap_or("no error message");
        bail!("{url}: {status}: {message}");
    }
    body.with_context(|| format!("{url} did not answer with JSON"))
}

/// Like [`get_json`], but `Ok(None)` when the aggregator answers 404: an aggregator older than
/// the route has no such path.
pub(crate) async fn get_json_if_served(server: &ServerArgs, path: &str) -> anyhow::Result<Option<Value>> {
    let (url, status, body) = get(server, path).await?;
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        let message = body.as_ref().and_then(|b| b["error"].as_str()).unwrap_or("no error message");
        bail!("{url}: {status}: {message}");
    }
    body.with_context(|| format!("{url} did not answer with JSON")).map(Some)
}

/// The url, status and JSON body (`None` if the body is not JSON) of a GET of `path`.
async fn get(server: &ServerArgs, path: &str) -> anyhow::Result<(String, reqwest::StatusCode, Option<Value>)> {
    let url = format!("{}{path}", server.server.trim_end_matches('/'));
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
    let response =
        client.get(&url).send().await.with_context(|| {
            format!("cannot reach the aggregator at {} (is it running? see --server)", server.server)
        })?;
    let status = response.status();
    let bytes = response.bytes().await.with_context(|| format!("reading the answer of {url}"))?;
    Ok((url, status, serde_json::from_slice(&bytes).ok()))
}

fn host_details(body: &Value) -> String {
    let s = &body["summary"];
    let inv = &body["inventory"];
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<14}{v}\n"));
    line("host", text(&s["host"]));
    line("region", text(&s["region"]));
    line(
        "status",
        format!(
            "{} (last seen {})",
            text(&s["status"]),
            s["last_seen_ms"].as_i64().map_or("-".into(), |t| ago(now_ms() - t))
        ),
    );
    line("agent", text(&s["agent_version"]));
    line("hostname", text(&inv["hostname"]));
    line("os", text(&inv["os_name"]));
    line("kernel", format!("{} ({})", text(&inv["kernel_release"]), text(&inv["architecture"])));
    line("cpu", format!("{} x {}", text(&inv["cpu_model"]), inv["cpu_cores"]));
    line("memory", inv["memory_bytes"].as_f64().map_or("-".into(), bytes));
    if let Some(boot) = inv["boot_time_ms"].as_i64().filter(|&b| b > 0) {
        line("up", ago(now_ms() - boot).trim_end_matches(" ago").to_string());
    }
    line("cpu %", number(&s["cpu_percent"], 1));
    line("memory %", number(&s["memory_percent"], 1));
    line("load1", number(&s["load1"], 2));
    for disk in inv["disks"].as_array().into_iter().flatten() {
        line(
            "disk",
            format!(
                "{} {} {}",
                text(&disk["device"]),
                disk["size_bytes"].as_f64().map_or("-".into(), bytes),
                text(&disk["model"])
            ),
        );
    }
    for nic in inv["interfaces"].as_array().into_iter().flatten() {
        let addrs: Vec<String> = nic["addresses"].as_array().into_iter().flatten().map(text).collect();
        line("interface", format!("{} {} {}", text(&nic["name"]), text(&nic["mac_address"]), addrs.join(" ")));
    }
    out.push_str("\nrecent events:\n");
    out.push_str(&crate::events::events_table(&body["events"], false));
    out.push_str("\nlatest values:\n");
    let rows: Vec<Vec<String>> = body["latest"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| vec![series_name(&v["labels"]), number(&v["value"], 6)])
        .collect();
    out.push_str(&render(&["SERIES", "VALUE"], &rows, &[1]));
    out
}

/// `name{a="b",...}` without the host and region labels every row shares.
fn series_name(labels: &Value) -> String {
    let Some(map) = labels.as_object() else { return "-".into() };
    let name = map.get("__name__").and_then(Value::as_str).unwrap_or("");
    let rest: Vec<String> = map
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "__name__" | "host" | "region"))
        .map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap_or("")))
        .collect();
    if rest.is_empty() { name.to_string() } else { format!("{name}{{{}}}", rest.join(",")) }
}

pub(crate) fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| if v.is_null() { "-".into() } else { v.to_string() }, str::to_string)
}

pub(crate) fn number(v: &Value, decimals: usize) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.decimals$}"))
}

fn bytes(n: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

pub(crate) fn ago(ms: i64) -> String {
    let s = (ms / 1000).max(0);
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        3600..86400 => format!("{}h{}m ago", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h ago", s / 86400, s % 86400 / 3600),
    }
}

/// `value` percent-encoded for a URL path segment or query value (RFC 3986 unreserved
/// characters kept).
pub(crate) fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

#[allow(clippy::print_stdout)]
pub(crate) fn print(text: &str) {
    if text.ends_with('\n') {
        print!("{text}");
    } else {
        println!("{text}");
    }
}
