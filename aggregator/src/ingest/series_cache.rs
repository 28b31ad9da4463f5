//! One ingest stream's memory of its agent's series: the label pairs of a wire series, as
//! the agent spelled them, mapped to the checked [`SeriesKey`] they became. An agent sends the
//! same series in every batch, so after the first one a series costs a lookup instead of
//! label checks and a dozen allocations.

use std::collections::HashMap;

use sysmon_tsdb::SeriesKey;

/// Series remembered per stream; past it the cache starts over (an agent whose series churn
/// without end is checked batch by batch, as without a cache).
const MAX_SERIES: usize = 100_000;

/// Wire label pairs -> checked key.
#[derive(Debug, Default)]
pub(crate) struct SeriesCache {
    keys: HashMap<Vec<u8>, SeriesKey>,
    /// The buffer [`SeriesCache::wire_key`] lends out, kept to avoid an allocation per series.
    spare: Vec<u8>,
}

/// A wire series' label pairs in the agent's order, each string length-prefixed so that no
/// two different pair lists share an encoding.
#[derive(Debug)]
pub(crate) struct WireKey(Vec<u8>);

impl WireKey {
    /// Appends one label pair.
    pub(crate) fn push(&mut self, name: &str, value: &str) {
        for s in [name, value] {
            self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
            self.0.extend_from_slice(s.as_bytes());
        }
    }
}

impl SeriesCache {
    /// An empty key to fill with [`WireKey::push`].
    pub(crate) fn wire_key(&mut self) -> WireKey {
        let mut buf = std::mem::take(&mut self.spare);
        buf.clear();
        WireKey(buf)
    }

    /// The key of a series seen before (and the wire key's buffer back for the next
    /// lookup), or the wire key, to [`SeriesCache::insert`] once the series is checked.
    pub(crate) fn get(&mut self, wire: WireKey) -> Result<SeriesKey, WireKey> {
        match self.keys.get(&wire.0) {
            Some(key) => {
                let key = key.clone();
                self.spare = wire.0;
                Ok(key)
            }
            None => Err(wire),
        }
    }

    /// Remembers a checked series.
    pub(crate) fn insert(&mut self, wire: WireKey, key: SeriesKey) {
        if self.keys.len() >= MAX_SERIES {
            self.keys.clear();
        }
        self.keys.insert(wire.0, key);
    }

    /// Series remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}
