//! Finds out whether an aggregator refuses this sender's certificate.
//!
//! In TLS 1.3 the client finishes its side of the handshake before the server has checked
//! the client certificate, so when the aggregator refuses it, the refusal (a TLS alert)
//! races with the HTTP/2 bytes the gRPC client has already written; often the client only
//! sees "connection closed" or "broken pipe". When a stream fails before the aggregator
//! ever answered, the shipper asks this module to repeat the handshake on a quiet
//! connection, where nothing is written after it and the alert is always read.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::settings::UplinkSettings;

/// How long the probe may take in all.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The TLS alert the aggregator sends when it refuses this sender's certificate, e.g.
/// "received fatal alert: UnknownCA"; `None` when it accepts the certificate or cannot be
/// reached at all (then the original error says more).
pub(crate) async fn certificate_refusal(settings: &UplinkSettings, endpoint: &str) -> Option<String> {
    tokio::time::timeout(PROBE_TIMEOUT, probe(settings, endpoint)).await.ok().flatten()
}

async fn probe(settings: &UplinkSettings, endpoint: &str) -> Option<String> {
    let uri: tonic::transport::Uri = endpoint.parse().ok()?;
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(443);
    let name = settings.server_name.clone().unwrap_or_else(|| host.clone());
    let server_name = ServerName::try_from(name).ok()?;
    let config = sysmon_tls::client_config(&settings.ca_cert, &settings.cert, &settings.key).ok()?;

    let tcp = TcpStream::connect((host.as_str(), port)).await.ok()?;
    let mut tls = match TlsConnector::from(Arc::new(config)).connect(server_name, tcp).await {
        Ok(tls) => tls,
        Err(e) => return alert(&e),
    };
    // An accepted client hears the server's HTTP/2 settings; a refused one hears the alert.
    let mut byte = [0u8; 1];
    match tls.read(&mut byte).await {
        Ok(_) => None,
        Err(e) => alert(&e),
    }
}

fn alert(error: &std::io::Error) -> Option<String> {
    match error.get_ref()?.downcast_ref::<rustls::Error>()? {
        e @ rustls::Error::AlertReceived(_) => Some(e.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sysmon_tls::FleetCa;
    use tokio::io::AsyncWriteExt as _;
    use tokio::net::TcpListener;
    use tokio_rustls::TlsAcceptor;

    use super::*;
    use crate::settings::SpoolSettings;

    /// A fleet CA in `dir` with a server certificate for 127.0.0.1 and an agent "a1".
    fn fleet(dir: &Path) {
        let ca = FleetCa::create("probe test CA").unwrap();
        ca.write(dir).unwrap();
        ca.issue_server("localhost", &["127.0.0.1".to_string()], 1).unwrap().write(dir, "server").unwrap();
        ca.issue_agent("a1", 1).unwrap().write(dir, "a1").unwrap();
    }

    /// An aggregator stand-in: requires a fleet client certificate, then writes a greeting
    /// as an HTTP/2 server would.
    async fn server(dir: &Path) -> String {
        let config =
            sysmon_tls::server_config(&dir.join("ca.pem"), &dir.join("server.pem"), &dir.join("server-key.pem"))
                .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let _ = tls.write_all(b"hello").await;
                    let _ = tls.flush().await;
                }
            }
        });
        format!("https://{address}")
    }

    fn settings(certs: &Path, ca_dir: &Path) -> UplinkSettings {
        UplinkSettings {
            spool: SpoolSettings::in_dir(certs.join("spool")),
            server_name: Some("localhost".to_string()),
            failback_interval: Duration::from_secs(60),
            ca_cert: ca_dir.join("ca.pem"),
            cert: certs.join("a1.pem"),
            key: certs.join("a1-key.pem"),
        }
    }

    #[tokio::test]
    async fn reports_the_alert_when_the_certificate_comes_from_another_ca() {
        let (fleet_dir, other_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fleet(fleet_dir.path());
        fleet(other_dir.path());
        let endpoint = server(fleet_dir.path()).await;

        let refusal = certificate_refusal(&settings(other_dir.path(), fleet_dir.path()), &endpoint).await;
        let refusal = refusal.expect("the refusal is detected");
        assert!(refusal.starts_with("received fatal alert"), "{refusal}");

        let accepted = certificate_refusal(&settings(fleet_dir.path(), fleet_dir.path()), &endpoint).await;
        assert_eq!(accepted, None);
    }

    #[tokio::test]
    async fn says_nothing_when_no_aggregator_listens() {
        let dir = tempfile::tempdir().unwrap();
        fleet(dir.path());
        let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let refusal =
            certificate_refusal(&settings(dir.path(), dir.path()), &format!("https://127.0.0.1:{port}")).await;
        assert_eq!(refusal, None);
    }
}
