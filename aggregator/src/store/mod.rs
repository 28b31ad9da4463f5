//! The aggregator's storage: one redb file holding the time-series engine
//! ([`sysmon_tsdb`]: series index, WAL, chunks, rollups) and the host registry.
//!
//! Batches go to the engine's group-commit writer and are answered once durable; a batch
//! whose seq the agent already had committed is a replay and is not stored again. Host
//! records are written when an agent says Hello; last-seen times are kept in memory and
//! written every few seconds. Agent events are kept beside them (see `event_tables`).

mod catalog;
mod event_tables;
mod registry_tables;
mod tsdb_metrics;

pub(crate) use catalog::TsdbCatalog;
pub(crate) use event_tables::{EventQuery, MAX_EVENTS_PER_QUERY, StoredEvent, expire_events_periodically};
pub(crate) use tsdb_metrics::TsdbCollector;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sysmon_tsdb::{CommitOutcome, KeyedBatch, Labels, Matcher, SeriesData, SeriesKey, Tsdb, TsdbConfig, WriteBatch};
use tokio::sync::oneshot;
use tracing::{info, warn};

use crate::error::{DisplayChain, Error, Result};
use crate::registry::{HostRecord, now_ms};

/// How often a stream waiting for room in the engine's queues looks again.
const ROOM_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(5);

/// A batch that passed validation, ready to store.
#[derive(Debug)]
pub(crate) struct AcceptedBatch {
    /// The agent (= host) that sent it.
    pub(crate) agent_id: String,
    /// Its seq.
    pub(crate) seq: u64,
    /// Its series, each with `host` and `region` set.
    pub(crate) series: Vec<SeriesKey>,
    /// (index into `series`, timestamp ms, value).
    pub(crate) samples: Vec<(u32, i64, f64)>,
}

/// A shared handle on the store: cheap to clone.
#[derive(Clone)]
pub(crate) struct Store {
    db: Arc<redb::Database>,
    tsdb: Arc<Tsdb>,
    /// Host -> unix ms of its newest committed batch, not yet written to the file.
    last_seen: Arc<Mutex<HashMap<String, i64>>>,
}

impl Store {
    /// Opens (or creates) `<data_dir>/sysmon.redb`, replays the engine's WAL and starts its
    /// writer. Blocking.
    pub(crate) fn open(data_dir: &Path, config: TsdbConfig) -> Result<Store> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| Error::CreateDataDir { path: data_dir.to_path_buf(), source })?;
        let path: PathBuf = data_dir.join("sysmon.redb");
        let db =
            redb::Database::create(&path).map_err(|e| Error::OpenStore { path: path.clone(), source: e.into() })?;
        let db = Arc::new(db);
        registry_tables::create(&db)?;
        event_tables::create(&db)?;
        let tsdb =
            Tsdb::open(db.clone(), config).map_err(|source| Error::OpenEngine { path, source: Box::new(source) })?;
        Ok(Store { db, tsdb: Arc::new(tsdb), last_seen: Arc::default() })
    }

    /// The engine, for queries.
    pub(crate) fn tsdb(&self) -> &Arc<Tsdb> {
        &self.tsdb
    }

    /// Records a host's inventory (from its Hello) and returns the agent's durable seq.
    pub(crate) async fn register_host(&self, record: HostRecord) -> Result<u64> {
        let (db, tsdb) = (self.db.clone(), self.tsdb.clone());
        let host = record.host.clone();
        let now = now_ms();
        self.last_seen.lock().expect("last-seen map lock poisoned").insert(host.clone(), now);
        tokio::task::spawn_blocking(move || {
            registry_tables::put_host(&db, record, now)?;
            tsdb.producer_seq(&host).map_err(|e| Error::StoreBatch(Box::new(e)))
        })
        .await
        .map_err(|_| Error::WriterStopped)?
    }

    /// Queues a batch for the next group commit. The receiver answers once the batch is
    /// durable (or was a replay, or was refused), in the order batches were queued.
    pub(crate) fn commit_batch(&self, batch: AcceptedBatch) -> oneshot::Receiver<sysmon_tsdb::Result<CommitOutcome>> {
        self.tsdb.submit_keyed(KeyedBatch {
            producer: Some((batch.agent_id, batch.seq)),
            series: batch.series,
            samples: batch.samples,
        })
    }

    /// Waits until the engine would take a batch of `samples` samples now (see
    /// [`Tsdb::has_room_for`]), so that an ingest stream holds back, and gRPC flow control
    /// holds back its agent, instead of the batch being refused. Returns whether it waited.
    pub(crate) async fn wait_for_room(&self, samples: usize) -> bool {
        let mut waited = false;
        while !self.tsdb.has_room_for(samples) {
            waited = true;
            tokio::time::sleep(ROOM_POLL_INTERVAL).await;
        }
        waited
    }

    /// Stores samples that carry no producer seq (remote_write); answers once durable.
    pub(crate) fn write_samples(
        &self,
        series: Vec<Labels>,
        samples: Vec<(u32, i64, f64)>,
    ) -> oneshot::Receiver<sysmon_tsdb::Result<CommitOutcome>> {
        self.tsdb.submit(WriteBatch { producer: None, series, samples })
    }

    /// Records hosts another aggregator owns, as its federation stream describes them: a
    /// host without an inventory keeps the one stored. Blocking.
    pub(crate) fn put_federated_hosts(&self, hosts: &[sysmon_proto::v1::HostState]) -> Result<()> {
        if hosts.is_empty() {
            return Ok(());
        }
        let known: HashMap<String, HostRecord> =
            registry_tables::hosts(&self.db)?.into_iter().map(|(r, _)| (r.host.clone(), r)).collect();
        let mut records = Vec::with_capacity(hosts.len());
        for h in hosts {
            let previous = known.get(&h.host);
            let inventory = match (&h.inventory, previous) {
                (Some(inventory), _) => inventory.clone().into(),
                (None, Some(previous)) => previous.inventory.clone(),
                (None, None) => Default::default(),
            };
            let record = HostRecord {
                host: h.host.clone(),
                region: h.region.clone(),
                agent_version: h.agent_version.clone(),
                interval_ms: h.interval_ms,
                inventory,
                first_seen_ms: previous.map_or(h.first_seen_ms, |p| p.first_seen_ms.min(h.first_seen_ms)),
            };
            if previous != Some(&record) {
                records.push(record);
            }
        }
        registry_tables::put_hosts(&self.db, &records)?;
        let mut last_seen = self.last_seen.lock().expect("last-seen map lock poisoned");
        for h in hosts {
            let seen = last_seen.entry(h.host.clone()).or_insert(h.last_seen_ms);
            *seen = (*seen).max(h.last_seen_ms);
        }
        Ok(())
    }

    /// The raw database, for the federation tables kept beside the others.
    pub(crate) fn db(&self) -> &Arc<redb::Database> {
        &self.db
    }

    /// Notes that a batch of `host` was just committed.
    pub(crate) fn touch(&self, host: &str) {
        self.last_seen.lock().expect("last-seen map lock poisoned").insert(host.to_string(), now_ms());
    }

    /// Writes the last-seen times noted since the previous call. Blocking.
    pub(crate) fn persist_last_seen(&self) -> Result<()> {
        let pending: Vec<(String, i64)> = self.last_seen.lock().expect("last-seen map lock poisoned").drain().collect();
        if pending.is_empty() {
            return Ok(());
        }
        let result = registry_tables::put_last_seen(&self.db, &pending);
        if result.is_err() {
            // Keep them for the next try, unless newer times arrived meanwhile.
            let mut map = self.last_seen.lock().expect("last-seen map lock poisoned");
            for (host, ms) in pending {
                map.entry(host).or_insert(ms);
            }
        }
        result
    }

    /// Every registered host with when it was last seen (unix ms). Blocking.
    pub(crate) fn hosts(&self) -> Result<Vec<(HostRecord, i64)>> {
        let mut hosts = registry_tables::hosts(&self.db)?;
        let pending = self.last_seen.lock().expect("last-seen map lock poisoned");
        for (record, seen) in &mut hosts {
            if let Some(&newer) = pending.get(&record.host) {
                *seen = (*seen).max(newer);
            }
        }
        Ok(hosts)
    }

    /// One host with when it was last seen, if registered. Blocking.
    pub(crate) fn host(&self, host: &str) -> Result<Option<(HostRecord, i64)>> {
        Ok(self.hosts()?.into_iter().find(|(record, _)| record.host == host))
    }

    /// The series of `host` (only metric `metric` when given) with samples in
    /// `start_ms..=end_ms`. Blocking.
    pub(crate) fn host_series(
        &self,
        host: &str,
        metric: Option<&str>,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<SeriesData>> {
        let mut matchers = vec![Matcher::equal("host", host)];
        if let Some(metric) = metric {
            matchers.push(Matcher::equal(sysmon_tsdb::METRIC_NAME, metric));
        }
        self.tsdb.select(&matchers, start_ms, end_ms).map_err(|e| Error::ReadSeries(Box::new(e)))
    }

    /// The series of `host` in the 1-minute tier with buckets in `start_ms..=end_ms`, each
    /// bucket's last sample standing for it: a master's view of another aggregator's host,
    /// which it holds as rollups only. Blocking.
    pub(crate) fn host_rollup_series(&self, host: &str, start_ms: i64, end_ms: i64) -> Result<Vec<SeriesData>> {
        let matchers = [Matcher::equal("host", host)];
        let series = self
            .tsdb
            .select_rollup(sysmon_tsdb::Tier::Minute, &matchers, start_ms, end_ms)
            .map_err(|e| Error::ReadSeries(Box::new(e)))?;
        Ok(series
            .into_iter()
            .map(|s| SeriesData { labels: s.labels, samples: s.points.iter().map(|p| (p.last_ts, p.last_v)).collect() })
            .collect())
    }

    /// Runs a blocking read on a blocking thread.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store)).await.map_err(|_| Error::WriterStopped)?
    }

    /// Writes pending last-seen times and closes the engine (sealing its heads) if this is
    /// the last handle; otherwise the engine stops when the last handle goes. Then compacts
    /// the file (see [`compact_at_stop`]). Blocking.
    pub(crate) fn close(self) {
        if let Err(err) = self.persist_last_seen() {
            warn!(error = %DisplayChain(&err), "cannot write last-seen times at shutdown");
        }
        let Store { tsdb, db, .. } = self;
        match Arc::try_unwrap(tsdb) {
            Ok(tsdb) => {
                if let Err(err) = tsdb.close() {
                    warn!(error = %DisplayChain(&err), "the engine did not close cleanly; its WAL replays at the next start");
                }
            }
            Err(_) => warn!("the engine is still in use at shutdown; its WAL replays at the next start"),
        }
        if let Ok(db) = Arc::try_unwrap(db) {
            compact_at_stop(db);
        }
    }
}

/// Files up to this size are compacted at a clean stop. redb grows a file below it by
/// doubling, so up to half of such a file can be free space at its end; above it, the file
/// grows a 4 GiB region at a time and compacting would take long for little.
const COMPACT_AT_STOP_MAX_BYTES: u64 = 4 << 30;

/// Compacts the stopped store: moves pages down into the free space that writing left (WAL
/// records deleted once sealed, copy-on-write) and cuts the free end off the file. The data
/// is intact whether or not it succeeds.
fn compact_at_stop(mut db: redb::Database) {
    let stats = match db.begin_write() {
        Ok(txn) => {
            let stats = txn.stats();
            let _ = txn.abort();
            stats.ok()
        }
        Err(_) => None,
    };
    let Some(stats) = stats else { return };
    let allocated = stats.allocated_pages() * stats.page_size() as u64;
    if allocated > COMPACT_AT_STOP_MAX_BYTES {
        return;
    }
    let started = std::time::Instant::now();
    match db.compact() {
        Ok(_) => {
            info!(allocated_bytes = allocated, elapsed_ms = started.elapsed().as_millis() as u64, "store compacted")
        }
        Err(err) => warn!(error = %err, "cannot compact the store at shutdown; it stays as it is"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_stream_waits_for_a_lagging_sealer_instead_of_being_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = TsdbConfig {
            chunk_max_samples: 1,
            max_pending_seal_chunks: 4,
            // The sealer works only when asked.
            seal_interval: Duration::from_secs(3600),
            head_max_age: Duration::from_secs(3600),
            ..TsdbConfig::default()
        };
        let store = Store::open(dir.path(), config).unwrap();
        let series = vec![SeriesKey::new(&Labels::new([("__name__".to_string(), "x".to_string())])).unwrap()];
        // A full chunk (of one sample here) is cut when the next sample comes: four samples
        // leave three chunks waiting.
        for ts in 1..=4 {
            let batch = AcceptedBatch {
                agent_id: "a".into(),
                seq: ts as u64,
                series: series.clone(),
                samples: vec![(0, ts, 1.0)],
            };
            assert!(!store.wait_for_room(1).await, "room before the sealer lags");
            store.commit_batch(batch).await.unwrap().unwrap();
        }
        let waiting = tokio::spawn({
            let store = store.clone();
            async move { store.wait_for_room(1).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "a batch would go in while three chunks wait for the sealer");
        let tsdb = store.tsdb().clone();
        tokio::task::spawn_blocking(move || tsdb.flush()).await.unwrap().unwrap();
        assert!(tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap(), "it waited");
    }

    #[test]
    fn a_clean_stop_leaves_a_compacted_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), TsdbConfig::default()).unwrap();
        let series: Vec<Labels> = (0..200)
            .map(|i| Labels::new([("__name__".to_string(), "m".to_string()), ("i".to_string(), i.to_string())]))
            .collect();
        // Many WAL records, deleted once sealed at the stop: free space in the file.
        for scrape in 0..100i64 {
            let samples = (0..200u32).map(|s| (s, 1_700_000_000_000 + scrape * 10_000, f64::from(s) * 1.5)).collect();
            store.write_samples(series.clone(), samples).blocking_recv().unwrap().unwrap();
        }
        store.close();
        let path = dir.path().join("sysmon.redb");
        let stopped = std::fs::metadata(&path).unwrap().len();
        let mut db = redb::Database::open(&path).unwrap();
        db.compact().unwrap();
        drop(db);
        let compacted = std::fs::metadata(&path).unwrap().len();
        assert!(stopped <= compacted + 64 * 1024, "{stopped} bytes at stop, {compacted} once compacted again");
    }
}
