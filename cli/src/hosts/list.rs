//! `sysmon hosts list`: every host of every region, optionally narrowed to a region and to
//! statuses, then a line per unreachable region.
//!
//! The filters go to the aggregator as `/api/hosts?region=R&status=S,...` and are applied here
//! again, so that the list is right against an aggregator that ignores them.

use anyhow::{Context as _, bail};
use serde_json::Value;

use super::regions::{Regions, unreachable_line};
use super::{ago, get_json, get_json_if_served, now_ms, number, percent_encode, print, text};
use crate::cli::{HostStatus, ListArgs, Output};
use crate::table::render;

pub(crate) async fn run(args: ListArgs) -> anyhow::Result<()> {
    let filter = Filter { region: args.region, statuses: args.status };
    let server = &args.server;
    let hosts_path = filter.hosts_path();
    let (hosts, regions) = tokio::join!(get_json(server, &hosts_path), get_json_if_served(server, "/api/regions"));
    let hosts = hosts?;
    let rows = hosts["hosts"].as_array().context("/api/hosts answered something other than {\"hosts\": [...]}")?;
    let regions = match regions.and_then(|body| body.map(Regions::from_json).transpose()) {
        Ok(Some(regions)) => regions,
        Ok(None) => Regions::from_hosts(rows),
        Err(err) => {
            // The host rows are what was asked for: a broken region list must not hide them.
            warn(&format!("{err:#}; regions are taken from the host rows"));
            Regions::from_hosts(rows)
        }
    };
    let shown = filter.apply(rows);
    check_region(&filter, &shown, &regions, &server.server)?;
    match server.output {
        Output::Json => print(&format!("{:#}", Value::Array(shown))),
        Output::Table => print(&listing(&shown, &regions, &filter, now_ms())),
    }
    Ok(())
}

/// `--region` and `--status`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub(crate) region: Option<String>,
    /// Empty: every status.
    pub(crate) statuses: Vec<HostStatus>,
}

impl Filter {
    /// `/api/hosts` with the filters as query parameters.
    fn hosts_path(&self) -> String {
        let mut params = Vec::new();
        if let Some(region) = &self.region {
            params.push(format!("region={}", percent_encode(region)));
        }
        if !self.statuses.is_empty() {
            let names: Vec<&str> = self.statuses.iter().map(|s| s.name()).collect();
            params.push(format!("status={}", names.join(",")));
        }
        if params.is_empty() { "/api/hosts".to_string() } else { format!("/api/hosts?{}", params.join("&")) }
    }

    fn matches(&self, host: &Value) -> bool {
        let region_ok = self.region.as_deref().is_none_or(|r| host["region"].as_str() == Some(r));
        let status = host["status"].as_str();
        let status_ok = self.statuses.is_empty() || self.statuses.iter().any(|s| Some(s.name()) == status);
        region_ok && status_ok
    }

    /// The rows that pass, in their order.
    fn apply(&self, rows: &[Value]) -> Vec<Value> {
        rows.iter().filter(|h| self.matches(h)).cloned().collect()
    }

    fn is_empty(&self) -> bool {
        self.region.is_none() && self.statuses.is_empty()
    }

    /// What is printed when no host passes: `no hosts in region "eu-9" with status down or unknown`.
    fn no_match_line(&self) -> String {
        let mut line = "no hosts".to_string();
        if let Some(region) = &self.region {
            line.push_str(&format!(" in region {region:?}"));
        }
        if let Some((last, rest)) = self.statuses.split_last() {
            let names: Vec<&str> = rest.iter().map(|s| s.name()).collect();
            let statuses = if names.is_empty() {
                last.name().to_string()
            } else {
                format!("{} or {}", names.join(", "), last.name())
            };
            line.push_str(&format!(" with status {statuses}"));
        }
        line
    }
}

/// An error when `--region` names a region the aggregator does not know (and no host row
/// names it either).
fn check_region(filter: &Filter, shown: &[Value], regions: &Regions, server: &str) -> anyhow::Result<()> {
    let Some(region) = &filter.region else { return Ok(()) };
    if !shown.is_empty() || regions.knows(region) {
        return Ok(());
    }
    let known = regions.names();
    if known.is_empty() {
        bail!("no region {region:?} on {server} (it knows no regions yet)");
    }
    bail!("no region {region:?} on {server} (known regions: {})", known.join(", "));
}

/// The table (or the line saying why there is none), then a line per unreachable region in
/// the filter's scope.
fn listing(shown: &[Value], regions: &Regions, filter: &Filter, now_ms: i64) -> String {
    let mut out = if !shown.is_empty() {
        hosts_table(shown, now_ms)
    } else if filter.is_empty() {
        "no hosts yet: start an agent with `sysmon agent --config agent.toml`\n".to_string()
    } else {
        format!("{}\n", filter.no_match_line())
    };
    let lines: Vec<String> =
        regions.unreachable(filter.region.as_deref()).map(|r| unreachable_line(r, now_ms)).collect();
    if !lines.is_empty() {
        out.push('\n');
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

fn hosts_table(hosts: &[Value], now_ms: i64) -> String {
    let rows: Vec<Vec<String>> = hosts
        .iter()
        .map(|h| {
            let fs = match (h["fullest_filesystem_percent"].as_f64(), h["fullest_filesystem_mountpoint"].as_str()) {
                (Some(p), Some(m)) => format!("{p:.1} {m}"),
                _ => "-".into(),
            };
            vec![
                text(&h["host"]),
                text(&h["region"]),
                text(&h["status"]),
                h["last_seen_ms"].as_i64().map_or("-".into(), |t| ago(now_ms - t)),
                number(&h["cpu_percent"], 1),
                number(&h["memory_percent"], 1),
                fs,
                number(&h["load1"], 2),
            ]
        })
        .collect();
    render(&["HOST", "REGION", "STATUS", "LAST SEEN", "CPU%", "MEM%", "FULLEST FS%", "LOAD1"], &rows, &[4, 5, 7])
}

#[allow(clippy::print_stderr)]
fn warn(message: &str) {
    eprintln!("warning: {message}");
}

#[cfg(test)]
mod tests;
