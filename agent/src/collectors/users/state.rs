//! The users collector's state file: what must survive an agent restart. Written after every
//! collection that changed it, atomically (a temp file, then a rename over the old one), so a
//! crash leaves either the old file or the new one. When heavy-user episodes or events
//! changed, the temp file and the directory are also fsynced, so that the episodes survive a
//! power loss too; counters alone are not worth an fsync every collection (they cost about a
//! millisecond of CPU each): after a power loss the machine has rebooted, every process is new,
//! and a counter that starts again from an older floor is a counter reset, which PromQL handles.
//!
//! It holds each reported user's CPU counter (in clock ticks), so that after a restart the
//! counter continues from where it was instead of dropping, which Prometheus's `rate` would
//! take for a reset and count as a burst of all the user's CPU time; the open heavy-user
//! episodes; and the events of the latest collection, which are sent again if the agent
//! stopped before their batch reached the spool (so an event may arrive twice; the aggregator
//! stores it once).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::heavy::Episode;
use crate::event::AgentEvent;

/// The file's format version; a file of another version is ignored (with a warning).
const VERSION: u32 = 1;

/// What the file holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct UsersState {
    pub(crate) version: u32,
    /// When it was written, unix ms.
    pub(crate) saved_ms: i64,
    /// uid -> the CPU counter last reported, in clock ticks.
    pub(crate) cpu_ticks: BTreeMap<u32, u64>,
    pub(crate) episodes: Vec<Episode>,
    /// Events of the latest collection.
    pub(crate) pending_events: Vec<AgentEvent>,
}

/// Why the state file could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StateError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a users state file", path.display())]
    Decode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} has format version {found}; this agent writes {VERSION}", path.display())]
    Version { path: PathBuf, found: u32 },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl UsersState {
    /// Reads `path`; `Ok(None)` when there is no file yet.
    pub(crate) fn load(path: &Path) -> Result<Option<UsersState>, StateError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Read { path: path.to_path_buf(), source }),
        };
        let state: UsersState =
            serde_json::from_slice(&bytes).map_err(|source| StateError::Decode { path: path.to_path_buf(), source })?;
        if state.version != VERSION {
            return Err(StateError::Version { path: path.to_path_buf(), found: state.version });
        }
        Ok(Some(state))
    }

    /// The file's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut state = self.clone();
        state.version = VERSION;
        serde_json::to_vec(&state).expect("the users state always serializes to JSON")
    }
}

/// Replaces `path` with `bytes` atomically, creating its directory if needed: a crash leaves
/// the old file or the new one. With `durable`, the new one also survives a power loss (the
/// file and its directory are fsynced); without, a power loss may bring back the old one.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], durable: bool) -> Result<(), StateError> {
    let err = |source| StateError::Write { path: path.to_path_buf(), source };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let mut tmp_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let mut file = std::fs::File::create(&tmp).map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    if durable {
        file.sync_all().map_err(err)?;
    }
    drop(file);
    std::fs::rename(&tmp, path).map_err(err)?;
    if durable {
        // The rename is durable once the directory is.
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::users::config::Resource;

    #[test]
    fn round_trips_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/users.json");
        assert_eq!(UsersState::load(&path).unwrap(), None);
        let state = UsersState {
            version: VERSION,
            saved_ms: 5,
            cpu_ticks: BTreeMap::from([(1000, 12345)]),
            episodes: vec![Episode {
                user: "alice".into(),
                resource: Resource::Cpu,
                start_ms: 1,
                last_ms: 2,
                peak: 0.9,
                weighted_sum: 3.0,
                weight_ms: 4.0,
                threshold: 0.5,
                reported: true,
            }],
            pending_events: vec![AgentEvent::new(7, "heavy_user_start", "m".into()).attribute("user", "alice")],
        };
        write_atomically(&path, &state.encode(), true).unwrap();
        assert_eq!(UsersState::load(&path).unwrap(), Some(state.clone()));
        let mut newer = state;
        newer.saved_ms = 6;
        write_atomically(&path, &newer.encode(), false).unwrap();
        assert_eq!(UsersState::load(&path).unwrap().unwrap().saved_ms, 6);
        let names: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["users.json"], "no temp file left behind");
    }

    #[test]
    fn damaged_or_foreign_files_name_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        std::fs::write(&path, "{\"version\":1,").unwrap();
        let err = UsersState::load(&path).unwrap_err();
        assert_eq!(err.to_string(), format!("{} is not a users state file", path.display()));
        std::fs::write(&path, "{\"version\":9,\"saved_ms\":0,\"cpu_ticks\":{},\"episodes\":[],\"pending_events\":[]}")
            .unwrap();
        let err = UsersState::load(&path).unwrap_err();
        assert_eq!(err.to_string(), format!("{} has format version 9; this agent writes 1", path.display()));
    }
}
