//! Consul: healthy instances from the local agent's health API, and this aggregator's
//! registration with a TTL check that the announcer keeps passing.
//!
//! The health check is a TTL check, not an HTTP check against `/healthz`: the aggregator's
//! HTTP port listens on 127.0.0.1 unless configured otherwise (DESIGN.md), where a Consul
//! agent on another host could not reach it, and a heartbeat from the running process says
//! just as well that it is alive. The TTL is three refresh intervals, so one late heartbeat
//! does not take an aggregator out; a crashed one stops being returned after the TTL and
//! Consul removes it after [`DEREGISTER_CRITICAL_AFTER`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::config::ConsulSettings;
use super::instance::{Instance, https_endpoint};
use crate::error::{Error, Result};

/// The longest any one request to Consul may take.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long Consul keeps a registration whose check is critical (an aggregator that died
/// without deregistering) before removing it.
pub(crate) const DEREGISTER_CRITICAL_AFTER: &str = "10m";
/// At most this much of an error answer's body goes into the error.
const ERROR_BODY_MAX: usize = 512;

/// A client of one Consul agent's HTTP API.
#[derive(Debug, Clone)]
pub(crate) struct ConsulClient {
    http: reqwest::Client,
    settings: ConsulSettings,
}

/// One aggregator's registration.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    /// The service ID, unique on the Consul agent.
    pub(crate) id: String,
    pub(crate) address: String,
    pub(crate) port: u16,
    /// `role`, `region`, `version` and `http`, those known.
    pub(crate) meta: BTreeMap<String, String>,
    /// The TTL of its check.
    pub(crate) ttl: Duration,
}

impl Registration {
    /// The ID of the registration's TTL check (Consul's own default for a service's check).
    pub(crate) fn check_id(&self) -> String {
        format!("service:{}", self.id)
    }
}

/// The fields used from one entry of `GET /v1/health/service/<name>`.
#[derive(Debug, Deserialize)]
struct HealthEntry {
    #[serde(rename = "Node")]
    node: HealthNode,
    #[serde(rename = "Service")]
    service: HealthService,
    #[serde(rename = "Checks", default)]
    checks: Vec<HealthCheck>,
}

#[derive(Debug, Deserialize)]
struct HealthNode {
    #[serde(rename = "Address", default)]
    address: String,
}

#[derive(Debug, Deserialize)]
struct HealthService {
    #[serde(rename = "Address", default)]
    address: String,
    #[serde(rename = "Port")]
    port: u16,
    #[serde(rename = "Meta", default)]
    meta: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
struct HealthCheck {
    #[serde(rename = "Status", default)]
    status: String,
}

impl ConsulClient {
    pub(crate) fn new(settings: ConsulSettings) -> Result<Self> {
        // The Consul agent is local: an HTTP(S)_PROXY meant for the outside must not apply.
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|source| Error::BuildConsulClient { source })?;
        Ok(Self { http, settings })
    }

    pub(crate) fn service(&self) -> &str {
        &self.settings.service
    }

    /// The instances of the service whose checks all pass, sorted by endpoint. Entries
    /// with a `role` meta that is neither "regional" nor "master" are left out.
    pub(crate) async fn healthy_instances(&self) -> Result<Vec<Instance>> {
        const WHAT: &str = "health/service";
        let mut url = self.url(&format!("/v1/health/service/{}", self.settings.service));
        url.query_pairs_mut().append_pair("passing", "true");
        if let Some(dc) = &self.settings.datacenter {
            url.query_pairs_mut().append_pair("dc", dc);
        }
        let response = self.send(WHAT, self.with_token(self.http.get(url.clone()))).await?;
        let entries: Vec<HealthEntry> = response.json().await.map_err(|source| Error::ConsulRequest {
            what: WHAT,
            url: url.to_string(),
            source,
        })?;
        let mut instances: Vec<Instance> = entries.into_iter().filter_map(instance_of).collect();
        instances.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        instances.dedup_by(|a, b| a.endpoint == b.endpoint);
        Ok(instances)
    }

    /// `PUT /v1/agent/service/register`, with a TTL check that starts passing.
    pub(crate) async fn register(&self, registration: &Registration) -> Result<()> {
        let body = serde_json::json!({
            "ID": registration.id,
            "Name": self.settings.service,
            "Address": registration.address,
            "Port": registration.port,
            "Tags": registration.meta.get("role").into_iter().collect::<Vec<_>>(),
            "Meta": registration.meta,
            "Check": {
                "CheckID": registration.check_id(),
                "Name": "sysmon aggregator heartbeat",
                "TTL": format!("{}s", registration.ttl.as_secs().max(1)),
                "Status": "passing",
                "DeregisterCriticalServiceAfter": DEREGISTER_CRITICAL_AFTER,
            },
        });
        let url = self.url("/v1/agent/service/register");
        self.send("service/register", self.with_token(self.http.put(url).json(&body))).await.map(drop)
    }

    /// `PUT /v1/agent/check/pass/<check>`: the heartbeat. A 404 means the agent no longer
    /// knows the check (it restarted without its state): register again.
    pub(crate) async fn pass_check(&self, check_id: &str) -> Result<()> {
        let url = self.url(&format!("/v1/agent/check/pass/{check_id}"));
        self.send("check/pass", self.with_token(self.http.put(url))).await.map(drop)
    }

    /// `PUT /v1/agent/service/deregister/<id>`.
    pub(crate) async fn deregister(&self, service_id: &str) -> Result<()> {
        let url = self.url(&format!("/v1/agent/service/deregister/{service_id}"));
        self.send("service/deregister", self.with_token(self.http.put(url))).await.map(drop)
    }

    fn url(&self, path: &str) -> url::Url {
        let text = format!("{}{path}", self.settings.address);
        // The address was checked to be an http:// URL and the path holds only a service
        // name and IDs made of URL-safe characters, so this parses.
        url::Url::parse(&text).expect("a checked Consul address joined with a URL-safe path is a URL")
    }

    fn with_token(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.settings.token {
            Some(token) => request.header("X-Consul-Token", token),
            None => request,
        }
    }

    async fn send(&self, what: &'static str, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let request = request.build().map_err(|source| Error::ConsulRequest { what, url: String::new(), source })?;
        let url = request.url().to_string();
        let response = self.http.execute(request).await.map_err(|source| Error::ConsulRequest {
            what,
            url: url.clone(),
            source,
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let mut body = response.text().await.unwrap_or_default();
        if body.len() > ERROR_BODY_MAX {
            let mut cut = ERROR_BODY_MAX;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
        }
        Err(Error::ConsulStatus { what, url, status: status.as_u16(), body: body.trim().to_string() })
    }
}

/// A Consul service ID for an aggregator at `host:port`: `<service>-<host>-<port>`, with
/// every character that is not a letter, digit, `.`, `-` or `_` replaced by `-`.
pub(crate) fn service_id(service: &str, host: &str, port: u16) -> String {
    let host: String =
        host.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '-' }).collect();
    format!("{service}-{host}-{port}")
}

fn instance_of(entry: HealthEntry) -> Option<Instance> {
    if entry.checks.iter().any(|check| check.status != "passing") {
        return None;
    }
    let host = if entry.service.address.is_empty() { entry.node.address } else { entry.service.address };
    if host.is_empty() || entry.service.port == 0 {
        return None;
    }
    let mut meta = entry.service.meta.unwrap_or_default();
    let role = match meta.remove("role") {
        None => None,
        Some(text) => match text.parse() {
            Ok(role) => Some(role),
            Err(reason) => {
                tracing::debug!(%host, port = entry.service.port, %reason, "Consul instance skipped");
                return None;
            }
        },
    };
    Some(Instance {
        endpoint: https_endpoint(&host, entry.service.port),
        role,
        region: meta.remove("region").filter(|r| !r.is_empty()),
        version: meta.remove("version").filter(|v| !v.is_empty()),
        http_url: meta.remove("http").filter(|h| !h.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::instance::Role;

    #[test]
    fn health_entries_become_instances() {
        let json = r#"[
          {"Node": {"Node": "n1", "Address": "10.0.0.1"},
           "Service": {"ID": "a", "Service": "sysmon", "Address": "", "Port": 9801,
                       "Meta": {"role": "regional", "region": "eu", "version": "0.1.0", "http": "http://10.0.0.1:9800"}},
           "Checks": [{"Status": "passing"}]},
          {"Node": {"Address": "10.0.0.2"},
           "Service": {"Address": "fd00::2", "Port": 9801, "Meta": null}},
          {"Node": {"Address": "10.0.0.3"},
           "Service": {"Address": "", "Port": 9801, "Meta": {"role": "boss"}}},
          {"Node": {"Address": "10.0.0.4"},
           "Service": {"Address": "", "Port": 9801}, "Checks": [{"Status": "critical"}]}
        ]"#;
        let entries: Vec<HealthEntry> = serde_json::from_str(json).unwrap();
        let instances: Vec<Instance> = entries.into_iter().filter_map(instance_of).collect();
        assert_eq!(
            instances,
            [
                Instance {
                    endpoint: "https://10.0.0.1:9801".into(),
                    role: Some(Role::Regional),
                    region: Some("eu".into()),
                    version: Some("0.1.0".into()),
                    http_url: Some("http://10.0.0.1:9800".into()),
                },
                Instance::bare("https://[fd00::2]:9801"),
            ]
        );
    }

    #[test]
    fn service_ids_are_url_safe() {
        assert_eq!(service_id("sysmon", "agg-1.example.com", 9801), "sysmon-agg-1.example.com-9801");
        assert_eq!(service_id("sysmon", "fd00::1", 9801), "sysmon-fd00--1-9801");
    }
}
