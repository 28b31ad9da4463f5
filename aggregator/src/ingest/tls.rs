//! The mutual-TLS listener: accepts TCP connections, runs the TLS handshake (which checks
//! the client certificate against the fleet CA), and hands tonic connections that carry
//! their peer's verified identity. A failed handshake is logged with its peer and reason.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::Connected;
use tracing::{debug, warn};

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Who is on the other end of a connection, as its certificate proves.
#[derive(Debug, Clone)]
pub(crate) struct PeerIdentity {
    /// The certificate's common name (an agent's id, or an aggregator's name).
    pub(crate) name: String,
    /// Whether the certificate is an aggregator's (it may federate), not an agent's.
    pub(crate) aggregator: bool,
    /// The peer's address.
    pub(crate) addr: SocketAddr,
}

/// A TLS connection whose client certificate was verified.
pub(crate) struct AuthenticatedConn {
    stream: TlsStream<TcpStream>,
    peer: PeerIdentity,
}

impl Connected for AuthenticatedConn {
    type ConnectInfo = PeerIdentity;

    fn connect_info(&self) -> PeerIdentity {
        self.peer.clone()
    }
}

impl AsyncRead for AuthenticatedConn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for AuthenticatedConn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Accepts connections on `listener` until `cancel`, and sends each authenticated one to
/// `conns`. Handshakes run concurrently, so a slow client does not hold up others.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    conns: mpsc::Sender<std::io::Result<AuthenticatedConn>>,
    cancel: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let (tcp, addr) = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    warn!(%error, "accepting a gRPC connection failed");
                    // Out of file descriptors and the like: give the system a moment.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let conns = conns.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => match identity_of(&stream) {
                    Some((name, aggregator)) => {
                        debug!(peer = %addr, identity = %name, aggregator, "TLS client authenticated");
                        let peer = PeerIdentity { name, aggregator, addr };
                        let _ = conns.send(Ok(AuthenticatedConn { stream, peer })).await;
                    }
                    None => warn!(peer = %addr, "TLS client certificate has no common name; connection refused"),
                },
                Ok(Err(error)) => warn!(peer = %addr, %error, "TLS handshake failed; connection refused"),
                Err(_) => warn!(peer = %addr, timeout_secs = HANDSHAKE_TIMEOUT.as_secs(), "TLS handshake timed out"),
            }
        });
    }
}

/// The peer certificate's common name, and whether it is an aggregator's.
fn identity_of(stream: &TlsStream<TcpStream>) -> Option<(String, bool)> {
    let (_, conn) = stream.get_ref();
    let cert = conn.peer_certificates()?.first()?;
    Some((sysmon_tls::peer_identity(cert).ok()?, sysmon_tls::is_aggregator_certificate(cert)))
}
