//! The `Federation.Select` client: one mutual-TLS channel per endpoint, made once and kept.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use sysmon_proto::federation_client::FederationClient;
use sysmon_proto::v1;
use sysmon_tsdb::{Labels, Matcher, SeriesData};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::wire::{encode_matchers, series_labels};

/// The TLS files a master presents to the aggregators below it (its own aggregator
/// certificate, which the fleet CA issued for both serving and connecting).
#[derive(Debug, Clone)]
pub struct FanoutTls {
    /// The fleet CA certificate.
    pub ca_cert: PathBuf,
    /// This aggregator's certificate.
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
}

/// Asks aggregators for raw samples.
pub struct SelectClient {
    tls: ClientTlsConfig,
    channels: Mutex<HashMap<String, Channel>>,
    timeout: Duration,
}

impl SelectClient {
    /// A client with `tls`; every request may take up to `timeout`.
    ///
    /// # Errors
    /// A TLS file cannot be read (the message names it).
    pub fn new(tls: &FanoutTls, timeout: Duration) -> Result<SelectClient, String> {
        let read = |path: &PathBuf| std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
        let config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&tls.ca_cert)?))
            .identity(Identity::from_pem(read(&tls.cert)?, read(&tls.key)?));
        Ok(SelectClient { tls: config, channels: Mutex::default(), timeout })
    }

    fn channel(&self, endpoint: &str) -> Result<Channel, String> {
        let mut channels = self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(channel) = channels.get(endpoint) {
            return Ok(channel.clone());
        }
        let channel = Endpoint::from_shared(endpoint.to_string())
            .and_then(|e| e.tls_config(self.tls.clone()))
            .map_err(|e| format!("bad endpoint {endpoint}: {e}"))?
            .connect_timeout(self.timeout)
            .tcp_nodelay(true)
            .connect_lazy();
        channels.insert(endpoint.to_string(), channel.clone());
        Ok(channel)
    }

    /// Every series matching `matchers` with its samples in `start_ms..=end_ms`, from
    /// `endpoint`, and the warnings it passed on (regions below it that did not answer).
    ///
    /// # Errors
    /// The endpoint could not be reached, refused, timed out or sent something malformed.
    pub async fn select(
        &self,
        endpoint: &str,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<(Vec<SeriesData>, Vec<String>), String> {
        let mut client =
            FederationClient::new(self.channel(endpoint)?).max_decoding_message_size(sysmon_proto::MAX_MESSAGE_BYTES);
        let request = v1::SelectRequest { matchers: encode_matchers(matchers), start_ms, end_ms };
        let work = async {
            let mut stream = client.select(request).await.map_err(describe)?.into_inner();
            let (mut series, mut warnings) = (Vec::new(), Vec::new());
            while let Some(part) = stream.message().await.map_err(describe)? {
                warnings.extend(part.warnings.iter().cloned());
                decode_part(part, &mut series)?;
            }
            Ok::<_, String>((series, warnings))
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| format!("no answer within {} s", self.timeout.as_secs()))?
    }
}

fn describe(status: tonic::Status) -> String {
    let mut text = format!("{}: {}", status.code(), status.message());
    let mut source = std::error::Error::source(&status);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Appends a part's series and their samples to `out`.
fn decode_part(part: v1::SelectResponse, out: &mut Vec<SeriesData>) -> Result<(), String> {
    let labels: Vec<Labels> = series_labels(&part.strings, &part.series)?;
    let samples = part.samples.unwrap_or_default();
    let n = samples.series.len();
    if samples.timestamps_ms.len() != n || samples.values.len() != n {
        return Err("a part's sample columns differ in length".to_string());
    }
    let first = out.len();
    out.extend(labels.into_iter().map(|labels| SeriesData { labels, samples: Vec::new() }));
    for i in 0..n {
        let s = samples.series[i] as usize;
        let series = out.get_mut(first + s).ok_or_else(|| format!("a sample refers to series {s} of {n}"))?;
        series.samples.push((samples.timestamps_ms[i], samples.values[i]));
    }
    Ok(())
}

/// The parts of an answer: series and their samples, a part at most `max_samples` samples
/// (a series is never split).
pub fn encode_parts(series: Vec<SeriesData>, max_samples: usize) -> Vec<v1::SelectResponse> {
    let mut parts = Vec::new();
    let mut table = crate::wire::SeriesTable::default();
    let mut samples = v1::Samples::default();
    for s in series {
        if !samples.series.is_empty() && samples.series.len() + s.samples.len() > max_samples {
            let (strings, list) = std::mem::take(&mut table).finish();
            parts.push(v1::SelectResponse {
                strings,
                series: list,
                samples: Some(std::mem::take(&mut samples)),
                warnings: Vec::new(),
            });
        }
        let index = table.series(&s.labels);
        for (t, v) in s.samples {
            samples.series.push(index);
            samples.timestamps_ms.push(t);
            samples.values.push(v);
        }
    }
    if !table.is_empty() {
        let (strings, list) = table.finish();
        parts.push(v1::SelectResponse { strings, series: list, samples: Some(samples), warnings: Vec::new() });
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_split_into_parts_and_join_again() {
        let series: Vec<SeriesData> = (0..5)
            .map(|i| SeriesData {
                labels: Labels::new([("__name__".to_string(), "m".to_string()), ("i".to_string(), i.to_string())]),
                samples: (0..100).map(|t| (t * 1000, (i * t) as f64)).collect(),
            })
            .collect();
        let parts = encode_parts(series.clone(), 250);
        assert_eq!(parts.len(), 3, "two series per part");
        let mut back = Vec::new();
        for part in parts {
            decode_part(part, &mut back).unwrap();
        }
        assert_eq!(back, series);
        assert!(encode_parts(Vec::new(), 10).is_empty());
    }
}
