//! The host registry's redb tables, beside the time-series engine's in the same file.

use redb::{ReadableDatabase as _, ReadableTable as _, TableDefinition};

use crate::error::{Error, Result};
use crate::registry::HostRecord;

/// Host -> its record (JSON of [`HostRecord`]).
const HOSTS: TableDefinition<&str, &[u8]> = TableDefinition::new("hosts");
/// Host -> when a batch of it was last committed (unix ms).
const HOST_LAST_SEEN: TableDefinition<&str, i64> = TableDefinition::new("host_last_seen");

fn store_err(op: &'static str) -> impl FnOnce(redb::Error) -> Error {
    Error::store(op)
}

/// Creates the tables, so that readers never meet a missing one.
pub(super) fn create(db: &redb::Database) -> Result<()> {
    let txn = db.begin_write().map_err(|e| store_err("begin write")(e.into()))?;
    {
        let open = |e: redb::TableError| store_err("create tables")(e.into());
        txn.open_table(HOSTS).map_err(open)?;
        txn.open_table(HOST_LAST_SEEN).map_err(open)?;
    }
    txn.commit().map_err(|e| store_err("commit")(e.into()))
}

/// Stores `record`, keeping the first-seen time of an earlier record of the same host.
pub(super) fn put_host(db: &redb::Database, mut record: HostRecord, now_ms: i64) -> Result<()> {
    let write = |e: redb::StorageError| store_err("write host")(e.into());
    let txn = db.begin_write().map_err(|e| store_err("begin write")(e.into()))?;
    {
        let open = |e: redb::TableError| store_err("open table")(e.into());
        let mut hosts = txn.open_table(HOSTS).map_err(open)?;
        if let Some(previous) = hosts.get(record.host.as_str()).map_err(write)?
            && let Ok(previous) = serde_json::from_slice::<HostRecord>(previous.value())
        {
            record.first_seen_ms = previous.first_seen_ms;
        }
        let json = serde_json::to_vec(&record).expect("a HostRecord always serializes to JSON");
        hosts.insert(record.host.as_str(), json.as_slice()).map_err(write)?;
        txn.open_table(HOST_LAST_SEEN).map_err(open)?.insert(record.host.as_str(), now_ms).map_err(write)?;
    }
    txn.commit().map_err(|e| store_err("commit")(e.into()))
}

/// Stores records as they are (another aggregator's hosts: their first-seen time is its).
pub(super) fn put_hosts(db: &redb::Database, records: &[HostRecord]) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let write = |e: redb::StorageError| store_err("write host")(e.into());
    let txn = db.begin_write().map_err(|e| store_err("begin write")(e.into()))?;
    {
        let mut hosts = txn.open_table(HOSTS).map_err(|e| store_err("open table")(e.into()))?;
        for record in records {
            let json = serde_json::to_vec(record).expect("a HostRecord always serializes to JSON");
            hosts.insert(record.host.as_str(), json.as_slice()).map_err(write)?;
        }
    }
    txn.commit().map_err(|e| store_err("commit")(e.into()))
}

/// Writes last-seen times.
pub(super) fn put_last_seen(db: &redb::Database, seen: &[(String, i64)]) -> Result<()> {
    let write = |e: redb::StorageError| store_err("write last seen")(e.into());
    let txn = db.begin_write().map_err(|e| store_err("begin write")(e.into()))?;
    {
        let mut table = txn.open_table(HOST_LAST_SEEN).map_err(|e| store_err("open table")(e.into()))?;
        for (host, ms) in seen {
            table.insert(host.as_str(), *ms).map_err(write)?;
        }
    }
    txn.commit().map_err(|e| store_err("commit")(e.into()))
}

/// Every registered host with when it was last seen (unix ms).
pub(super) fn hosts(db: &redb::Database) -> Result<Vec<(HostRecord, i64)>> {
    let read = |e: redb::StorageError| store_err("read hosts")(e.into());
    let txn = db.begin_read().map_err(|e| store_err("begin read")(e.into()))?;
    let open = |e: redb::TableError| store_err("open table")(e.into());
    let hosts = txn.open_table(HOSTS).map_err(open)?;
    let last_seen = txn.open_table(HOST_LAST_SEEN).map_err(open)?;
    let mut out = Vec::new();
    for entry in hosts.iter().map_err(read)? {
        let (host, json) = entry.map_err(read)?;
        let record: HostRecord = serde_json::from_slice(json.value())
            .map_err(|e| Error::CorruptRecord { what: "host record", reason: e.to_string() })?;
        let seen = last_seen.get(host.value()).map_err(read)?.map(|v| v.value()).unwrap_or_default();
        out.push((record, seen));
    }
    Ok(out)
}
