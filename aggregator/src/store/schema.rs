//! The redb tables and how series labels are encoded in them.

use redb::TableDefinition;

use crate::error::{Error, Result};

/// Canonical label key -> series id.
pub(super) const SERIES_BY_KEY: TableDefinition<&str, u64> = TableDefinition::new("series_by_key");
/// Series id -> canonical label key.
pub(super) const SERIES: TableDefinition<u64, &str> = TableDefinition::new("series");
/// (host, series id) -> metric name: a host's series, for the hosts API.
pub(super) const HOST_SERIES: TableDefinition<(&str, u64), &str> = TableDefinition::new("host_series");
/// (series id, timestamp ms) -> value.
pub(super) const SAMPLES: TableDefinition<(u64, i64), f64> = TableDefinition::new("samples");
/// Agent id -> highest seq committed (everything at or below it is durable).
pub(super) const AGENT_SEQ: TableDefinition<&str, u64> = TableDefinition::new("agent_seq");
/// Host -> its record (JSON of [`crate::registry::HostRecord`]).
pub(super) const HOSTS: TableDefinition<&str, &[u8]> = TableDefinition::new("hosts");
/// Host -> when a batch of it was last committed (unix ms).
pub(super) const HOST_LAST_SEEN: TableDefinition<&str, i64> = TableDefinition::new("host_last_seen");

/// Creates every table, so that readers never meet a missing one.
pub(super) fn create_tables(db: &redb::Database) -> Result<()> {
    let txn = db.begin_write().map_err(|e| Error::store("begin write")(e.into()))?;
    {
        let open = |e: redb::TableError| Error::store("create tables")(e.into());
        txn.open_table(SERIES_BY_KEY).map_err(open)?;
        txn.open_table(SERIES).map_err(open)?;
        txn.open_table(HOST_SERIES).map_err(open)?;
        txn.open_table(SAMPLES).map_err(open)?;
        txn.open_table(AGENT_SEQ).map_err(open)?;
        txn.open_table(HOSTS).map_err(open)?;
        txn.open_table(HOST_LAST_SEEN).map_err(open)?;
    }
    txn.commit().map_err(|e| Error::store("commit")(e.into()))
}

/// A series' labels, sorted by name, `__name__` included.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Labels(pub(crate) Vec<(String, String)>);

/// Separates names and values in a canonical key; label names and values never contain it
/// (the ingest path refuses them).
const SEPARATOR: char = '\0';

impl Labels {
    /// The canonical key: `name\0value\0name\0value`, in name order.
    pub(crate) fn key(&self) -> String {
        let mut key = String::with_capacity(self.0.iter().map(|(n, v)| n.len() + v.len() + 2).sum());
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                key.push(SEPARATOR);
            }
            key.push_str(name);
            key.push(SEPARATOR);
            key.push_str(value);
        }
        key
    }

    /// Parses a canonical key back into labels.
    pub(crate) fn from_key(key: &str) -> Result<Labels> {
        let parts: Vec<&str> = key.split(SEPARATOR).collect();
        if !parts.len().is_multiple_of(2) {
            return Err(Error::CorruptRecord { what: "series key", reason: format!("odd number of parts in {key:?}") });
        }
        Ok(Labels(parts.chunks(2).map(|p| (p[0].to_string(), p[1].to_string())).collect()))
    }

    /// The value of label `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trips() {
        let labels = Labels(vec![
            ("__name__".into(), "node_cpu_seconds_total".into()),
            ("cpu".into(), "0".into()),
            ("mode".into(), "".into()),
        ]);
        assert_eq!(labels.key(), "__name__\0node_cpu_seconds_total\0cpu\x000\0mode\0");
        assert_eq!(Labels::from_key(&labels.key()).unwrap(), labels);
    }
}
