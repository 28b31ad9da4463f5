//! Starting federation by role: the uplink to the master (when `[discovery]` names one),
//! the replicator (a regional) or the forwarding of what arrives from below (a master), the
//! region directory and the fan-out (a master), and the announcement of this aggregator
//! (with mDNS or Consul).

use std::sync::Arc;

use sysmon_federation::fanout::{Fanout, FanoutTls, SelectClient};
use sysmon_federation::replicate::{Replicator, ReplicatorConfig};
use sysmon_federation::{Announcer, Discovery, DiscoveryMode, Instance, Role};
use sysmon_uplink::{EndpointSource, HelloInfo, SpoolSettings, StaticEndpoints, Uplink, UplinkMetrics, UplinkSettings};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::ReplicationFilter;
use super::catalog::MasterCatalogs;
use super::region_alerts::RegionAlerts;
use super::regions::RegionDirectory;
use super::select::{SelectService, SelectSource};
use super::source::StoreSource;
use crate::alerting::AlertBook;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::federation_config::federation_dir;
use crate::http::prometheus::{CatalogSource, SharedCatalog};
use crate::store::{Store, TsdbCatalog};

/// What the ingest service needs to know of federation.
pub(crate) struct FederationContext {
    pub(crate) role: Role,
    pub(crate) region: String,
    /// A master's regions.
    pub(crate) regions: Option<Arc<RegionDirectory>>,
    /// A master's copy of its regions' active alerts.
    pub(crate) region_alerts: Option<Arc<RegionAlerts>>,
    /// A master's uplink to its own master: what arrives from below goes on up.
    pub(crate) forward: Option<Uplink>,
    /// A regional's replicator: late samples are noted before they are acknowledged.
    pub(crate) replicator: Option<Arc<Replicator>>,
    pub(crate) cancel: CancellationToken,
}

/// Federation, started.
pub(crate) struct Started {
    pub(crate) context: Arc<FederationContext>,
    /// The query catalogs: the store, or (a master) the store and the regions.
    pub(crate) catalogs: Arc<dyn CatalogSource>,
    pub(crate) select: SelectService,
    /// The uplink's figures, when there is an uplink.
    pub(crate) uplink_metrics: Option<Arc<UplinkMetrics>>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
}

/// The masters a regional's discovery finds, same region first.
struct DiscoveredMasters {
    discovery: Discovery,
    region: String,
}

impl EndpointSource for DiscoveredMasters {
    fn endpoints(&self) -> Vec<String> {
        self.discovery.endpoints(Role::Master, Some(&self.region))
    }
}

/// Starts what `settings.role` and `[discovery]` call for.
///
/// # Errors
/// The certificate names nobody, the spool or the replication state cannot be opened, a
/// discovery source or the announcement cannot start, or `federation.advertise` is needed
/// and unknown.
pub(crate) async fn start(
    settings: &Settings,
    store: &Store,
    alerts: &Arc<AlertBook>,
    cancel: &CancellationToken,
) -> Result<Started> {
    let local = Arc::new(TsdbCatalog(store.tsdb().clone()));
    let mode = settings.discovery.mode();
    let mut tasks = Vec::new();
    // Upward: a static list of masters (either role), or, for a regional, the masters that
    // discovery finds. A master with discovery only announces itself: it is the top.
    let upstream: Option<Arc<dyn EndpointSource>> = match settings.discovery.static_endpoints() {
        Some([]) => None,
        Some(list) => Some(Arc::new(StaticEndpoints(list.to_vec()))),
        None if settings.role == Role::Regional => {
            let discovery =
                Discovery::start(settings.discovery.clone(), cancel.clone()).map_err(Error::StartFederation)?;
            Some(Arc::new(DiscoveredMasters { discovery, region: settings.region.clone() }))
        }
        None => None,
    };
    let advertise = settings.federation.advertise.clone();
    if (upstream.is_some() || mode != DiscoveryMode::Static) && advertise.is_none() {
        return Err(Error::Federation(
            "federation.advertise must be set: aggregator.grpc_listen is a wildcard address, so the aggregators above this one (and agents that discover it) cannot know where to reach it".into(),
        ));
    }

    let mut uplink = None;
    let mut uplink_metrics = None;
    if let Some(endpoints) = upstream {
        let identity = sysmon_tls::certificate_identity(&settings.cert).map_err(Error::Tls)?;
        let metrics = Arc::new(UplinkMetrics::default());
        let uplink_settings = UplinkSettings {
            ca_cert: settings.ca_cert.clone(),
            cert: settings.cert.clone(),
            key: settings.key.clone(),
            server_name: settings.federation.server_name.clone(),
            failback_interval: settings.federation.failback_interval,
            spool: SpoolSettings {
                dir: federation_dir(&settings.data_dir).join("spool"),
                max_bytes: settings.federation.spool_max_bytes,
                // Never drop: what waits here is still in this aggregator's store.
                when_full: sysmon_spool::WhenFull::Block,
            },
        };
        let opened = {
            let metrics = metrics.clone();
            tokio::task::spawn_blocking(move || Uplink::open(uplink_settings, metrics))
                .await
                .map_err(|_| Error::WriterStopped)?
                .map_err(Error::OpenUplink)?
        };
        let hello = HelloInfo {
            sender_id: identity.clone(),
            role: settings.role.as_str().to_string(),
            region: settings.region.clone(),
            query_endpoint: advertise.clone().unwrap_or_default(),
            inventory: None,
            interval_ms: settings.federation.interval.as_millis() as u64,
        };
        tasks.push(opened.ship(hello, endpoints, cancel.clone()));
        info!(sender = %identity, role = %settings.role, "reporting to a master");
        uplink = Some(opened);
        uplink_metrics = Some(metrics);
    }

    let mut replicator = None;
    if settings.role == Role::Regional
        && let Some(uplink) = &uplink
    {
        let config = ReplicatorConfig {
            region: settings.region.clone(),
            interval: settings.federation.interval,
            delay: settings.federation.delay,
            backfill: settings.federation.backfill,
            state_path: federation_dir(&settings.data_dir).join("replication.json"),
            replicate: settings.federation.replicate.clone(),
        };
        let filter = ReplicationFilter::parse(&settings.federation.replicate)
            .map_err(|(i, reason)| Error::Federation(format!("federation.replicate[{i}]: {reason}")))?;
        if !filter.is_everything() {
            info!(selectors = ?settings.federation.replicate, "replicating only the series these select");
        }
        let source = Arc::new(StoreSource {
            store: store.clone(),
            filter,
            alerts: alerts.clone(),
            region: settings.region.clone(),
        });
        let uplink = uplink.clone();
        let opened = tokio::task::spawn_blocking(move || Replicator::open(config, source, uplink))
            .await
            .map_err(|_| Error::WriterStopped)?
            .map_err(Error::StartFederation)?;
        tasks.push(tokio::spawn(opened.clone().run(cancel.clone())));
        replicator = Some(opened);
    }

    let (regions, region_alerts, catalogs, select_source): (_, _, Arc<dyn CatalogSource>, _) = if settings.role
        == Role::Master
    {
        let db = store.db().clone();
        let timeout = settings.federation.region_timeout;
        let (regions, region_alerts) = tokio::task::spawn_blocking(move || {
            Ok::<_, Error>((RegionDirectory::open(db.clone(), timeout)?, RegionAlerts::open(db)?))
        })
        .await
        .map_err(|_| Error::WriterStopped)??;
        let (regions, region_alerts) = (Arc::new(regions), Arc::new(region_alerts));
        let tls =
            FanoutTls { ca_cert: settings.ca_cert.clone(), cert: settings.cert.clone(), key: settings.key.clone() };
        let client = Arc::new(SelectClient::new(&tls, settings.federation.query_timeout).map_err(Error::Federation)?);
        let fanout = Arc::new(Fanout::new(client, regions.clone(), tokio::runtime::Handle::current()));
        let catalogs = Arc::new(MasterCatalogs { local: local.clone(), fanout, regions: regions.clone() });
        (
            Some(regions),
            Some(region_alerts),
            catalogs.clone() as Arc<dyn CatalogSource>,
            SelectSource::Regions(catalogs),
        )
    } else {
        (None, None, Arc::new(SharedCatalog(local.clone())) as Arc<dyn CatalogSource>, SelectSource::Local(local))
    };

    if mode != DiscoveryMode::Static
        && let Some(endpoint) = advertise
    {
        let me = Instance {
            endpoint,
            role: Some(settings.role),
            region: Some(settings.region.clone()),
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
            http_url: None,
        };
        let announcer =
            Announcer::start(settings.discovery.clone(), me, cancel.clone()).map_err(Error::StartFederation)?;
        tasks.push(tokio::spawn(announcer.join()));
    }

    let forward = if settings.role == Role::Master { uplink } else { None };
    let context = Arc::new(FederationContext {
        role: settings.role,
        region: settings.region.clone(),
        regions,
        region_alerts,
        forward,
        replicator,
        cancel: cancel.clone(),
    });
    let select = SelectService { source: select_source, limits: settings.query.clone() };
    Ok(Started { context, catalogs, select, uplink_metrics, tasks })
}
