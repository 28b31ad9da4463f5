//! A master's tables of one JSON record per region (`fed_regions`, `fed_alerts`): created
//! and read whole when the master opens, and written a few records at a time as batches
//! change them.

use redb::{ReadableDatabase as _, ReadableTable as _, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// A table of region -> JSON record, with the words its errors use.
pub(super) struct RegionTable {
    pub(super) table: TableDefinition<'static, &'static str, &'static [u8]>,
    /// A record, in errors ("region record").
    pub(super) record: &'static str,
    /// The operations, in errors ("read regions", "write regions").
    pub(super) read: &'static str,
    pub(super) write: &'static str,
}

impl RegionTable {
    /// Creates the table if it is missing, and returns every record in it, by region. Blocking.
    pub(super) fn load<T: DeserializeOwned>(&self, db: &redb::Database) -> Result<Vec<(String, T)>> {
        let txn = db.begin_write().map_err(|e| Error::store("begin write")(e.into()))?;
        txn.open_table(self.table).map_err(|e| Error::store("create tables")(e.into()))?;
        txn.commit().map_err(|e| Error::store("commit")(e.into()))?;
        let read = |e: redb::StorageError| Error::store(self.read)(e.into());
        let txn = db.begin_read().map_err(|e| Error::store("begin read")(e.into()))?;
        let table = txn.open_table(self.table).map_err(|e| Error::store("open table")(e.into()))?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(read)? {
            let (region, json) = entry.map_err(read)?;
            let record = serde_json::from_slice(json.value())
                .map_err(|e| Error::CorruptRecord { what: self.record, reason: e.to_string() })?;
            out.push((region.value().to_string(), record));
        }
        Ok(out)
    }

    /// Stores `records` (region, record), replacing what the regions had, in one
    /// transaction. Blocking.
    pub(super) fn store<T: Serialize>(
        &self,
        db: &redb::Database,
        records: impl IntoIterator<Item = (String, T)>,
    ) -> Result<()> {
        let write = |e: redb::StorageError| Error::store(self.write)(e.into());
        let txn = db.begin_write().map_err(|e| Error::store("begin write")(e.into()))?;
        {
            let mut table = txn.open_table(self.table).map_err(|e| Error::store("open table")(e.into()))?;
            for (region, record) in records {
                let json =
                    serde_json::to_vec(&record).unwrap_or_else(|e| panic!("a {} always serializes: {e}", self.record));
                table.insert(region.as_str(), json.as_slice()).map_err(write)?;
            }
        }
        txn.commit().map_err(|e| Error::store("commit")(e.into()))
    }
}
