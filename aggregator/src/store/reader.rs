//! Reads: hosts, a host's series, and samples over a time range. Each [`Reader`] is one
//! redb read transaction, so everything it returns comes from one consistent snapshot.

use redb::{ReadTransaction, ReadableDatabase as _, ReadableTable as _};

use super::schema::{HOST_LAST_SEEN, HOST_SERIES, HOSTS, Labels, SAMPLES, SERIES};
use crate::error::{Error, Result};
use crate::registry::HostRecord;

/// A consistent read-only view of the store.
pub(crate) struct Reader {
    txn: ReadTransaction,
}

/// One series of a host.
#[derive(Debug, Clone)]
pub(crate) struct HostSeries {
    pub(crate) id: u64,
    pub(crate) labels: Labels,
}

/// A series and its points over a range.
#[derive(Debug, Clone)]
pub(crate) struct SeriesPoints {
    pub(crate) labels: Labels,
    pub(crate) points: Vec<(i64, f64)>,
}

fn open_err(e: redb::TableError) -> Error {
    Error::store("open table")(e.into())
}

fn read_err(e: redb::StorageError) -> Error {
    Error::store("read")(e.into())
}

impl Reader {
    pub(super) fn begin(db: &redb::Database) -> Result<Reader> {
        let txn = db.begin_read().map_err(|e| Error::store("begin read")(e.into()))?;
        Ok(Reader { txn })
    }

    /// Every registered host with when it was last seen (unix ms).
    pub(crate) fn hosts(&self) -> Result<Vec<(HostRecord, i64)>> {
        let hosts = self.txn.open_table(HOSTS).map_err(open_err)?;
        let last_seen = self.txn.open_table(HOST_LAST_SEEN).map_err(open_err)?;
        let mut out = Vec::new();
        for entry in hosts.iter().map_err(read_err)? {
            let (host, json) = entry.map_err(read_err)?;
            let record = decode_host(json.value())?;
            let seen = last_seen.get(host.value()).map_err(read_err)?.map(|v| v.value()).unwrap_or_default();
            out.push((record, seen));
        }
        Ok(out)
    }

    /// One host with when it was last seen, if it is registered.
    pub(crate) fn host(&self, host: &str) -> Result<Option<(HostRecord, i64)>> {
        let hosts = self.txn.open_table(HOSTS).map_err(open_err)?;
        let Some(json) = hosts.get(host).map_err(read_err)? else { return Ok(None) };
        let record = decode_host(json.value())?;
        let last_seen = self.txn.open_table(HOST_LAST_SEEN).map_err(open_err)?;
        let seen = last_seen.get(host).map_err(read_err)?.map(|v| v.value()).unwrap_or_default();
        Ok(Some((record, seen)))
    }

    /// The series of `host`, only those of metric `metric` when given.
    pub(crate) fn host_series(&self, host: &str, metric: Option<&str>) -> Result<Vec<HostSeries>> {
        let host_series = self.txn.open_table(HOST_SERIES).map_err(open_err)?;
        let series = self.txn.open_table(SERIES).map_err(open_err)?;
        let mut out = Vec::new();
        for entry in host_series.range((host, 0)..=(host, u64::MAX)).map_err(read_err)? {
            let (key, name) = entry.map_err(read_err)?;
            if metric.is_some_and(|m| m != name.value()) {
                continue;
            }
            let id = key.value().1;
            let Some(labels) = series.get(id).map_err(read_err)? else {
                return Err(Error::CorruptRecord { what: "host series", reason: format!("series {id} has no labels") });
            };
            out.push(HostSeries { id, labels: Labels::from_key(labels.value())? });
        }
        Ok(out)
    }

    /// The newest `n` samples of series `id`, newest first.
    pub(crate) fn last_samples(&self, id: u64, n: usize) -> Result<Vec<(i64, f64)>> {
        let samples = self.txn.open_table(SAMPLES).map_err(open_err)?;
        let mut out = Vec::with_capacity(n);
        for entry in samples.range((id, i64::MIN)..=(id, i64::MAX)).map_err(read_err)?.rev().take(n) {
            let (key, value) = entry.map_err(read_err)?;
            out.push((key.value().1, value.value()));
        }
        Ok(out)
    }

    /// The samples of series `id` with `start <= t <= end`, oldest first. With a step, only
    /// the last sample of each step-aligned bucket is kept.
    pub(crate) fn points(&self, id: u64, start: i64, end: i64, step_ms: Option<i64>) -> Result<Vec<(i64, f64)>> {
        let samples = self.txn.open_table(SAMPLES).map_err(open_err)?;
        let mut out: Vec<(i64, f64)> = Vec::new();
        let bucket = |t: i64| step_ms.map(|s| t.div_euclid(s));
        for entry in samples.range((id, start)..=(id, end)).map_err(read_err)? {
            let (key, value) = entry.map_err(read_err)?;
            let point = (key.value().1, value.value());
            match out.last_mut() {
                Some(last) if step_ms.is_some() && bucket(last.0) == bucket(point.0) => *last = point,
                _ => out.push(point),
            }
        }
        Ok(out)
    }
}

fn decode_host(json: &[u8]) -> Result<HostRecord> {
    serde_json::from_slice(json).map_err(|e| Error::CorruptRecord { what: "host record", reason: e.to_string() })
}
