//! Agent events in the store's redb file: written before the batch that carries them is
//! acknowledged, read newest first by time, host and kind, and removed with raw retention.
//!
//! An event's key is (time, host, fingerprint of its kind, message and attributes), so the
//! same event written twice is stored once: when the agent resends a batch it had no ack for,
//! and when an agent sends again, after a restart, an event whose batch may have reached the
//! aggregator before it stopped. Two tables hold it: by time (for fleet-wide listing and
//! retention) and by host (for one host's recent events).

use std::time::Duration;

use redb::{ReadableDatabase as _, ReadableTable as _, TableDefinition};
use serde::{Deserialize, Serialize};
use sysmon_proto::v1;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::Store;
use crate::error::{DisplayChain, Error, Result};
use crate::registry::now_ms;

/// (time ms, host, fingerprint) -> the event (JSON of [`StoredEvent`]).
const EVENTS: TableDefinition<(i64, &str, u64), &[u8]> = TableDefinition::new("agent_events");
/// (host, time ms, fingerprint) -> nothing: the per-host index of `agent_events`.
const EVENTS_BY_HOST: TableDefinition<(&str, i64, u64), ()> = TableDefinition::new("agent_events_by_host");

/// Most events one listing returns.
pub(crate) const MAX_EVENTS_PER_QUERY: usize = 1000;
/// Most expired events removed in one write transaction, so retention never holds the
/// writer long.
const MAX_EXPIRED_PER_TXN: usize = 10_000;

/// One event as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredEvent {
    /// The agent (= host) that sent it.
    pub(crate) host: String,
    /// When it happened on the agent, unix ms.
    pub(crate) time_ms: i64,
    pub(crate) kind: String,
    pub(crate) message: String,
    /// In the agent's order.
    pub(crate) attributes: Vec<(String, String)>,
    /// The seq of the first batch that brought it.
    pub(crate) seq: u64,
    /// When the aggregator stored it, unix ms.
    pub(crate) received_ms: i64,
}

impl StoredEvent {
    /// FNV-1a over what the agent said: equal events have equal fingerprints, whatever batch
    /// carried them.
    fn fingerprint(&self) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for &b in bytes.iter().chain(&[0xff]) {
                hash ^= u64::from(b);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        feed(self.kind.as_bytes());
        feed(self.message.as_bytes());
        for (name, value) in &self.attributes {
            feed(name.as_bytes());
            feed(value.as_bytes());
        }
        hash
    }
}

/// Which events a listing wants; newest first.
#[derive(Debug, Clone)]
pub(crate) struct EventQuery {
    pub(crate) host: Option<String>,
    pub(crate) kind: Option<String>,
    /// Events at or after this time, unix ms.
    pub(crate) since_ms: i64,
    /// Events at or before this time, unix ms.
    pub(crate) until_ms: i64,
    pub(crate) limit: usize,
}

fn store_err(op: &'static str) -> impl FnOnce(redb::Error) -> Error {
    Error::store(op)
}

/// Creates the tables, so that readers never meet a missing one.
pub(super) fn create(db: &redb::Database) -> Result<()> {
    let txn = db.begin_write().map_err(|e| store_err("begin write")(e.into()))?;
    {
        let open = |e: redb::TableError| store_err("create event tables")(e.into());
        txn.open_table(EVENTS).map_err(open)?;
        txn.open_table(EVENTS_BY_HOST).map_err(open)?;
    }
    txn.commit().map_err(|e| store_err("commit")(e.into()))
}

impl Store {
    /// Stores `events` durably; those already stored are left as they are. Blocking.
    pub(crate) fn put_events(&self, events: &[StoredEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let write = |e: redb::StorageError| store_err("write events")(e.into());
        let txn = self.db.begin_write().map_err(|e| store_err("begin write")(e.into()))?;
        {
            let open = |e: redb::TableError| store_err("open event tables")(e.into());
            let mut by_time = txn.open_table(EVENTS).map_err(open)?;
            let mut by_host = txn.open_table(EVENTS_BY_HOST).map_err(open)?;
            for event in events {
                let fingerprint = event.fingerprint();
                let key = (event.time_ms, event.host.as_str(), fingerprint);
                if by_time.get(key).map_err(write)?.is_some() {
                    continue;
                }
                let json = serde_json::to_vec(event).expect("an event always serializes to JSON");
                by_time.insert(key, json.as_slice()).map_err(write)?;
                by_host.insert((event.host.as_str(), event.time_ms, fingerprint), ()).map_err(write)?;
            }
        }
        txn.commit().map_err(|e| store_err("commit events")(e.into()))
    }

    /// Stores the events of batch `seq` of agent `host` on a blocking thread; answers once
    /// they are durable. No events, no write.
    pub(crate) async fn put_agent_events(&self, host: &str, seq: u64, events: &[v1::Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let received_ms = now_ms();
        let events: Vec<StoredEvent> = events
            .iter()
            .map(|e| StoredEvent {
                host: host.to_string(),
                time_ms: e.time_ms,
                kind: e.kind.clone(),
                message: e.message.clone(),
                attributes: e.attributes.iter().map(|a| (a.name.clone(), a.value.clone())).collect(),
                seq,
                received_ms,
            })
            .collect();
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.put_events(&events)).await.map_err(|_| Error::WriterStopped)?
    }

    /// The events `query` asks for, newest first. Blocking.
    pub(crate) fn events(&self, query: &EventQuery) -> Result<Vec<StoredEvent>> {
        let read = |e: redb::StorageError| store_err("read events")(e.into());
        let txn = self.db.begin_read().map_err(|e| store_err("begin read")(e.into()))?;
        let open = |e: redb::TableError| store_err("open event tables")(e.into());
        let by_time = txn.open_table(EVENTS).map_err(open)?;
        let decode = |json: &[u8]| {
            serde_json::from_slice::<StoredEvent>(json)
                .map_err(|e| Error::CorruptRecord { what: "agent event", reason: e.to_string() })
        };
        let wanted = |event: &StoredEvent| query.kind.as_ref().is_none_or(|k| *k == event.kind);
        let limit = query.limit.min(MAX_EVENTS_PER_QUERY);
        let mut out = Vec::new();
        if query.since_ms > query.until_ms || limit == 0 {
            return Ok(out);
        }
        match &query.host {
            Some(host) => {
                let by_host = txn.open_table(EVENTS_BY_HOST).map_err(open)?;
                let range = (host.as_str(), query.since_ms, 0)..=(host.as_str(), query.until_ms, u64::MAX);
                for entry in by_host.range(range).map_err(read)?.rev() {
                    let (key, _) = entry.map_err(read)?;
                    let (host, time_ms, fingerprint) = key.value();
                    let Some(json) = by_time.get((time_ms, host, fingerprint)).map_err(read)? else { continue };
                    let event = decode(json.value())?;
                    if wanted(&event) {
                        out.push(event);
                        if out.len() == limit {
                            break;
                        }
                    }
                }
            }
            None => {
                // Keys at until_ms + 1 with the empty host are the first after until_ms.
                let range = (query.since_ms, "", 0)..(query.until_ms.saturating_add(1), "", 0);
                for entry in by_time.range(range).map_err(read)?.rev() {
                    let (_, json) = entry.map_err(read)?;
                    let event = decode(json.value())?;
                    if wanted(&event) {
                        out.push(event);
                        if out.len() == limit {
                            break;
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Removes events older than `cutoff_ms`, at most [`MAX_EXPIRED_PER_TXN`] at a time;
    /// returns how many. Blocking.
    pub(crate) fn expire_events(&self, cutoff_ms: i64) -> Result<usize> {
        let io = |e: redb::StorageError| store_err("expire events")(e.into());
        let txn = self.db.begin_write().map_err(|e| store_err("begin write")(e.into()))?;
        let removed;
        {
            let open = |e: redb::TableError| store_err("open event tables")(e.into());
            let mut by_time = txn.open_table(EVENTS).map_err(open)?;
            let mut by_host = txn.open_table(EVENTS_BY_HOST).map_err(open)?;
            let mut expired: Vec<(i64, String, u64)> = Vec::new();
            for entry in by_time.range(..(cutoff_ms, "", 0)).map_err(io)?.take(MAX_EXPIRED_PER_TXN) {
                let (key, _) = entry.map_err(io)?;
                let (time_ms, host, fingerprint) = key.value();
                expired.push((time_ms, host.to_string(), fingerprint));
            }
            for (time_ms, host, fingerprint) in &expired {
                by_time.remove((*time_ms, host.as_str(), *fingerprint)).map_err(io)?;
                by_host.remove((host.as_str(), *time_ms, *fingerprint)).map_err(io)?;
            }
            removed = expired.len();
        }
        txn.commit().map_err(|e| store_err("commit")(e.into()))?;
        Ok(removed)
    }
}

/// Removes events older than `retention` (raw samples' retention) every `every`, until
/// `cancel`. A failed pass is logged and tried again at the next.
pub(crate) async fn expire_events_periodically(
    store: Store,
    retention: Duration,
    every: Duration,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let cutoff_ms = now_ms().saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
        let store = store.clone();
        let removed = tokio::task::spawn_blocking(move || {
            let mut total = 0;
            loop {
                let removed = store.expire_events(cutoff_ms)?;
                total += removed;
                if removed < MAX_EXPIRED_PER_TXN {
                    return Ok::<_, Error>(total);
                }
            }
        })
        .await;
        match removed {
            Ok(Ok(0)) => {}
            Ok(Ok(removed)) => debug!(removed, cutoff_ms, "expired agent events removed"),
            Ok(Err(err)) => warn!(error = %DisplayChain(&err), "cannot remove expired agent events; retrying"),
            Err(_) => warn!("removing expired agent events panicked; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(host: &str, time_ms: i64, kind: &str, user: &str) -> StoredEvent {
        StoredEvent {
            host: host.into(),
            time_ms,
            kind: kind.into(),
            message: format!("{kind} {user}"),
            attributes: vec![("user".into(), user.into())],
            seq: 1,
            received_ms: time_ms + 5,
        }
    }

    fn query(host: Option<&str>, kind: Option<&str>, since_ms: i64, limit: usize) -> EventQuery {
        EventQuery { host: host.map(Into::into), kind: kind.map(Into::into), since_ms, until_ms: i64::MAX, limit }
    }

    fn summary(events: &[StoredEvent]) -> Vec<(String, i64, String)> {
        events.iter().map(|e| (e.host.clone(), e.time_ms, e.kind.clone())).collect()
    }

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), sysmon_tsdb::TsdbConfig::default()).unwrap();
        (dir, store)
    }

    #[test]
    fn listed_newest_first_by_host_and_kind() {
        let (_dir, store) = open();
        store
            .put_events(&[
                event("web-01", 1000, "heavy_user_start", "alice"),
                event("web-02", 2000, "heavy_user_start", "bob"),
                event("web-01", 3000, "heavy_user_end", "alice"),
                event("web-01", 3000, "heavy_user_start", "carol"),
            ])
            .unwrap();
        let all = store.events(&query(None, None, 0, 100)).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[3], event("web-01", 1000, "heavy_user_start", "alice"));
        assert!(all.windows(2).all(|w| w[0].time_ms >= w[1].time_ms));
        assert_eq!(
            summary(&store.events(&query(Some("web-01"), Some("heavy_user_start"), 0, 100)).unwrap()),
            [("web-01".into(), 3000, "heavy_user_start".into()), ("web-01".into(), 1000, "heavy_user_start".into())]
        );
        assert_eq!(summary(&store.events(&query(None, None, 2000, 100)).unwrap()).len(), 3, "since is inclusive");
        let mut until = query(Some("web-01"), None, 0, 100);
        until.until_ms = 2999;
        assert_eq!(summary(&store.events(&until).unwrap()), [("web-01".into(), 1000, "heavy_user_start".into())]);
        assert_eq!(store.events(&query(None, None, 0, 2)).unwrap().len(), 2);
        assert!(store.events(&query(Some("web-03"), None, 0, 100)).unwrap().is_empty());
    }

    #[test]
    fn the_same_event_is_stored_once() {
        let (_dir, store) = open();
        let e = event("web-01", 1000, "heavy_user_start", "alice");
        store.put_events(std::slice::from_ref(&e)).unwrap();
        // Resent in a later batch, received later: still one event, as first stored.
        let again = StoredEvent { seq: 7, received_ms: 99_999, ..e.clone() };
        store.put_events(&[again]).unwrap();
        assert_eq!(store.events(&query(None, None, 0, 100)).unwrap(), [e]);
    }

    #[test]
    fn retention_removes_old_events_from_both_tables() {
        let (_dir, store) = open();
        store
            .put_events(&[
                event("web-01", 1000, "a", "x"),
                event("web-02", 1500, "a", "x"),
                event("web-01", 5000, "a", "x"),
            ])
            .unwrap();
        assert_eq!(store.expire_events(2000).unwrap(), 2);
        assert_eq!(summary(&store.events(&query(None, None, 0, 100)).unwrap()), [("web-01".into(), 5000, "a".into())]);
        assert_eq!(store.events(&query(Some("web-01"), None, 0, 100)).unwrap().len(), 1);
        assert_eq!(store.expire_events(2000).unwrap(), 0);
    }

    #[test]
    fn events_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), sysmon_tsdb::TsdbConfig::default()).unwrap();
            store.put_events(&[event("web-01", 1000, "a", "x")]).unwrap();
            store.close();
        }
        let store = Store::open(dir.path(), sysmon_tsdb::TsdbConfig::default()).unwrap();
        assert_eq!(store.events(&query(None, None, 0, 100)).unwrap().len(), 1);
    }
}
