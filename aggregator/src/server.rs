//! Starting and stopping an aggregator: store, gRPC ingest listener, HTTP listener, alerting.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt as _;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::alerting::{AlertBook, Evaluator};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::federation::Started;
use crate::http::prometheus::PromApi;
use crate::http::{AppState, router};
use crate::ingest::{IngestService, accept_loop};
use crate::metrics::{AlertingMetrics, IngestMetrics};
use crate::recording::Recorder;
use crate::store::{Store, TsdbCollector, expire_events_periodically};

/// How long open agent streams get to finish when the aggregator stops.
const STREAM_DRAIN: Duration = Duration::from_secs(3);

/// A running aggregator. Stop it with [`RunningAggregator::shutdown`].
pub struct RunningAggregator {
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
    store: Store,
}

/// How often last-seen times are written to the file.
const LAST_SEEN_PERSIST_INTERVAL: Duration = Duration::from_secs(5);

/// Opens the store and starts serving gRPC ingest and HTTP; `extra_routes` (the dashboard)
/// are served on the HTTP port beside the API.
///
/// # Errors
/// The store cannot be opened, the TLS files cannot be used, or a port cannot be bound.
pub async fn start(settings: Settings, extra_routes: axum::Router) -> Result<RunningAggregator> {
    let tls = sysmon_tls::server_config(&settings.ca_cert, &settings.cert, &settings.key).map_err(Error::Tls)?;
    let data_dir = settings.data_dir.clone();
    let tsdb_config = sysmon_tsdb::TsdbConfig {
        raw_retention: settings.retention.raw,
        rollup_after: settings.retention.rollup_after,
        minute_retention: settings.retention.minute,
        hour_retention: settings.retention.hour,
        max_group_batches: settings.max_group_batches,
        retention_interval: retention_check_interval(&settings.retention),
        ..sysmon_tsdb::TsdbConfig::default()
    };
    let store = tokio::task::spawn_blocking(move || Store::open(&data_dir, tsdb_config))
        .await
        .map_err(|_| Error::WriterStopped)??;

    let grpc = TcpListener::bind(settings.grpc_listen)
        .await
        .map_err(|source| Error::BindListener { addr: settings.grpc_listen, source })?;
    let http = TcpListener::bind(settings.http_listen)
        .await
        .map_err(|source| Error::BindListener { addr: settings.http_listen, source })?;
    let grpc_addr = grpc.local_addr().map_err(|source| Error::BindListener { addr: settings.grpc_listen, source })?;
    let http_addr = http.local_addr().map_err(|source| Error::BindListener { addr: settings.http_listen, source })?;

    let metrics = Arc::new(IngestMetrics::default());
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    registry.register_collector(Box::new(TsdbCollector(store.tsdb().clone())));

    let cancel = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let alerts = Arc::new(AlertBook::new(&settings.alerting));
    let alerting_metrics = Arc::new(AlertingMetrics::default());
    alerting_metrics.register(&mut registry);
    let Started { context, catalogs, select, uplink_metrics, tasks: federation_tasks } =
        crate::federation::start(&settings, &store, &alerts, &cancel).await?;
    for task in federation_tasks {
        tasks.spawn(async move {
            let _ = task.await;
        });
    }
    if let Some(uplink_metrics) = uplink_metrics {
        registry.register_collector(Box::new(crate::metrics::UplinkCollector(uplink_metrics)));
    }

    let (conns_tx, conns_rx) = mpsc::channel(64);
    tasks.spawn(accept_loop(grpc, Arc::new(tls), conns_tx, cancel.clone()));
    let service = IngestService {
        store: store.clone(),
        region: settings.region.clone(),
        limits: Arc::new(settings.limits.clone()),
        metrics: metrics.clone(),
        federation: context.clone(),
    };
    let grpc_server = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .add_service(
            sysmon_proto::ingest_server::IngestServer::new(service)
                .max_decoding_message_size(sysmon_proto::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(sysmon_proto::MAX_MESSAGE_BYTES),
        )
        .add_service(
            sysmon_proto::federation_server::FederationServer::new(select)
                .max_encoding_message_size(sysmon_proto::MAX_MESSAGE_BYTES),
        );
    let grpc_cancel = cancel.clone();
    tasks.spawn(async move {
        let incoming = ReceiverStream::new(conns_rx);
        if let Err(error) = grpc_server.serve_with_incoming_shutdown(incoming, grpc_cancel.cancelled()).await {
            warn!(%error, "gRPC server stopped with an error");
        }
    });

    let limits = Arc::new(settings.limits.clone());
    let prometheus_api = PromApi {
        catalogs,
        engine: sysmon_promql::Engine::new(settings.query.clone()),
        query_permits: Arc::new(tokio::sync::Semaphore::new(settings.max_concurrent_queries)),
        max_concurrent_queries: settings.max_concurrent_queries,
    };
    let evaluator = Evaluator {
        book: alerts.clone(),
        engine: prometheus_api.engine.clone(),
        catalogs: prometheus_api.catalogs.clone(),
        query_permits: prometheus_api.query_permits.clone(),
        metrics: alerting_metrics,
    };
    tasks.spawn(evaluator.run(cancel.clone()));
    let recorder = Recorder {
        settings: settings.recording.clone(),
        engine: prometheus_api.engine.clone(),
        catalogs: prometheus_api.catalogs.clone(),
        query_permits: prometheus_api.query_permits.clone(),
        store: store.clone(),
    };
    tasks.spawn(recorder.run(cancel.clone()));
    let state = AppState {
        store: store.clone(),
        registry: Arc::new(registry),
        limits,
        ingest_metrics: metrics.clone(),
        federation: context,
        alerts,
    };
    let app = router(state, prometheus_api).merge(extra_routes);
    let persist_store = store.clone();
    let persist_cancel = cancel.clone();
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(LAST_SEEN_PERSIST_INTERVAL);
        loop {
            tokio::select! {
                _ = persist_cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let store = persist_store.clone();
            let result = tokio::task::spawn_blocking(move || store.persist_last_seen()).await;
            if let Ok(Err(err)) = result {
                warn!(error = %crate::error::DisplayChain(&err), "cannot write last-seen times; retrying");
            }
        }
    });
    // Agent events are kept as long as raw samples.
    tasks.spawn(expire_events_periodically(
        store.clone(),
        settings.retention.raw,
        retention_check_interval(&settings.retention),
        cancel.clone(),
    ));
    let http_cancel = cancel.clone();
    tasks.spawn(async move {
        // `into_make_service` readies the routes once; serving the `Router` itself would copy
        // every route for each connection (axum's `Router::with_state` on a shared router).
        // Without TCP_NODELAY, the tail of a response larger than one segment waits for the
        // client's ACK of the segments before it (Nagle); Go's listeners, and so Prometheus's
        // and VictoriaMetrics's, set it on every connection.
        let http = http.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                debug!(%error, "cannot set TCP_NODELAY on an HTTP connection");
            }
        });
        let serve = axum::serve(http, app.into_make_service())
            .with_graceful_shutdown(async move { http_cancel.cancelled().await });
        if let Err(error) = serve.await {
            warn!(%error, "HTTP server stopped with an error");
        }
    });

    info!(grpc = %grpc_addr, http = %http_addr, role = %settings.role, region = %settings.region, data_dir = %settings.data_dir.display(), "aggregator started");
    Ok(RunningAggregator { grpc_addr, http_addr, cancel, tasks, store })
}

/// How often expired data is looked for and old partitions rolled up: a tenth of the
/// shortest retention (or `rollup_after`), from 1 s to 5 minutes (short retentions are for
/// tests and demos, and should act promptly).
fn retention_check_interval(retention: &crate::config::Retention) -> Duration {
    let after = retention.rollup_after.unwrap_or(retention.raw);
    let shortest = retention.raw.min(retention.minute).min(retention.hour).min(after);
    (shortest / 10).clamp(Duration::from_secs(1), Duration::from_secs(300))
}

impl RunningAggregator {
    /// The bound gRPC address (useful with port 0).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The bound HTTP address (useful with port 0).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Stops accepting, gives open streams a moment, lets the engine commit what it holds
    /// and seal its heads, and returns once the store is closed.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        let drained =
            tokio::time::timeout(STREAM_DRAIN, async { while self.tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
        }
        // Every other Store handle lived in the tasks; with them gone the engine can close.
        let store = self.store;
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
        info!("aggregator stopped");
    }
}
