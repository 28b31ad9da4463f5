//! What a replicator remembers across restarts, in one small JSON file written atomically:
//! up to when every bucket was spooled for the master, and the hosts whose late samples
//! (older than that) still have to be spooled again.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The replication cursor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ReplicationState {
    /// Every 1-minute bucket starting before this (unix ms) has been spooled; `None` before
    /// the first pass.
    pub(crate) shipped_until: Option<i64>,
    /// Host -> its oldest sample committed after its bucket was spooled: the buckets from
    /// there to `shipped_until` are spooled again.
    pub(crate) late: BTreeMap<String, i64>,
}

impl ReplicationState {
    /// Reads the state file; a missing file is a fresh start.
    pub(crate) fn load(path: &Path) -> Result<ReplicationState> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::CorruptState { path: path.to_path_buf(), reason: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ReplicationState::default()),
            Err(source) => Err(Error::ReadState { path: path.to_path_buf(), source }),
        }
    }

    /// Writes the state file: a temporary file, synced, renamed over the old one, and the
    /// directory synced, so a crash leaves the old state or the new one.
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        let err = |source| Error::WriteState { path: path.to_path_buf(), source };
        let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        std::fs::create_dir_all(&dir).map_err(err)?;
        let tmp = path.with_extension("json.tmp");
        let json = serde_json::to_vec(self).expect("the replication state always serializes");
        let mut file = std::fs::File::create(&tmp).map_err(err)?;
        file.write_all(&json).map_err(err)?;
        file.sync_all().map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)?;
        std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_survives_a_save_and_a_missing_file_is_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replication.json");
        assert_eq!(ReplicationState::load(&path).unwrap(), ReplicationState::default());
        let state = ReplicationState { shipped_until: Some(60_000), late: [("h".to_string(), 5)].into() };
        state.save(&path).unwrap();
        assert_eq!(ReplicationState::load(&path).unwrap(), state);
        std::fs::write(&path, b"{oops").unwrap();
        let err = ReplicationState::load(&path).unwrap_err().to_string();
        assert!(err.contains("replication.json"), "{err}");
    }
}
