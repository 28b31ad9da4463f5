//! A master's copy of the active alerts of each region below it: every federation batch
//! that speaks for a region (carries its `RegionStatus`) carries the region's whole alert
//! set, which replaces the one held. Kept in memory and in the `fed_alerts` table, so that
//! a restarted master lists them before the regions speak again.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use redb::TableDefinition;
use serde::{Deserialize, Serialize};
use sysmon_proto::v1;

use super::region_table::RegionTable;
use crate::alerting::AlertState;
use crate::config::Limits;
use crate::error::Result;
use crate::ingest::check_label;

/// Region -> its alerts (JSON, a list of [`StoredAlert`]).
const ALERTS: RegionTable = RegionTable {
    table: TableDefinition::new("fed_alerts"),
    record: "region alerts record",
    read: "read region alerts",
    write: "write region alerts",
};

/// The most alerts one batch may carry.
pub(crate) const MAX_BATCH_ALERTS: usize = 10_000;

/// An alert as the table holds it. The value is text (`NaN` and `inf` included), which JSON
/// numbers cannot all be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredAlert {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    state: String,
    active_at_ms: i64,
    value: String,
    region: String,
}

/// The regions' alert sets. Cheap to share.
pub(crate) struct RegionAlerts {
    db: Arc<redb::Database>,
    sets: RwLock<BTreeMap<String, Vec<v1::AlertState>>>,
}

impl RegionAlerts {
    /// Loads the sets from the store. Blocking.
    pub(crate) fn open(db: Arc<redb::Database>) -> Result<RegionAlerts> {
        let sets = ALERTS
            .load::<Vec<StoredAlert>>(&db)?
            .into_iter()
            .map(|(region, stored)| (region, stored.into_iter().map(StoredAlert::into_wire).collect()))
            .collect();
        Ok(RegionAlerts { db, sets: RwLock::new(sets) })
    }

    /// Replaces the set of each region in `statuses` with its alerts among `alerts`. Blocking.
    pub(crate) fn replace(&self, statuses: &[v1::RegionStatus], alerts: &[v1::AlertState]) -> Result<()> {
        let mut changed = Vec::new();
        {
            let mut sets = self.sets.write();
            for status in statuses {
                let set: Vec<v1::AlertState> = alerts.iter().filter(|a| a.region == status.region).cloned().collect();
                if sets.get(&status.region) != Some(&set) {
                    changed.push((status.region.clone(), set.clone()));
                    sets.insert(status.region.clone(), set);
                }
            }
        }
        if changed.is_empty() {
            return Ok(());
        }
        let records = changed.into_iter().map(|(region, set)| {
            let stored: Vec<StoredAlert> = set.iter().map(StoredAlert::from_wire).collect();
            (region, stored)
        });
        ALERTS.store(&self.db, records)
    }

    /// Every region's alerts, by region.
    pub(crate) fn all(&self) -> Vec<v1::AlertState> {
        self.sets.read().values().flatten().cloned().collect()
    }
}

impl StoredAlert {
    fn from_wire(a: &v1::AlertState) -> StoredAlert {
        let map = |labels: &[v1::Label]| labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
        StoredAlert {
            labels: map(&a.labels),
            annotations: map(&a.annotations),
            state: a.state.clone(),
            active_at_ms: a.active_at_ms,
            value: a.value.to_string(),
            region: a.region.clone(),
        }
    }

    fn into_wire(self) -> v1::AlertState {
        let pairs =
            |map: BTreeMap<String, String>| map.into_iter().map(|(name, value)| v1::Label { name, value }).collect();
        v1::AlertState {
            labels: pairs(self.labels),
            annotations: pairs(self.annotations),
            state: self.state,
            active_at_ms: self.active_at_ms,
            value: self.value.parse().unwrap_or(f64::NAN),
            region: self.region,
        }
    }
}

/// The alerts of a federation batch that may be kept, and why each other one is not (its
/// number past [`MAX_BATCH_ALERTS`], a bad label, state or region). A bad alert is dropped,
/// not its batch: the batch's rollups are good, and a refused batch is never sent again.
pub(crate) fn valid_alerts(alerts: Vec<v1::AlertState>, limits: &Limits) -> (Vec<v1::AlertState>, Vec<String>) {
    let (mut kept, mut dropped) = (Vec::new(), Vec::new());
    let total = alerts.len();
    for (i, alert) in alerts.into_iter().enumerate() {
        if i == MAX_BATCH_ALERTS {
            dropped.push(format!("{} alerts past the limit of {MAX_BATCH_ALERTS} per batch", total - i));
            break;
        }
        match check_alert(&alert, limits) {
            Ok(()) => kept.push(alert),
            Err(reason) => dropped.push(format!("alert {i}: {reason}")),
        }
    }
    (kept, dropped)
}

fn check_alert(alert: &v1::AlertState, limits: &Limits) -> Result<(), String> {
    if AlertState::from_name(&alert.state).is_none() {
        return Err(format!("state {:?}; \"pending\" or \"firing\"", alert.state));
    }
    if alert.region.is_empty() {
        return Err("no region".into());
    }
    check_label("region", &alert.region, limits)?;
    for label in alert.labels.iter().chain(&alert.annotations) {
        check_label(&label.name, &label.value, limits)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(region: &str, name: &str, value: f64) -> v1::AlertState {
        v1::AlertState {
            labels: vec![v1::Label { name: "alertname".into(), value: name.into() }],
            annotations: Vec::new(),
            state: "firing".into(),
            active_at_ms: 1_000,
            value,
            region: region.into(),
        }
    }

    fn status(region: &str) -> v1::RegionStatus {
        v1::RegionStatus { region: region.into(), complete_before_ms: 0, sent_at_ms: 0, replicate: Vec::new() }
    }

    #[test]
    fn a_batch_replaces_the_sets_of_the_regions_it_speaks_for_and_a_restart_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(redb::Database::create(dir.path().join("t.redb")).unwrap());
        let sets = RegionAlerts::open(db.clone()).unwrap();
        sets.replace(&[status("eu"), status("us")], &[alert("eu", "A", 1.0), alert("us", "B", f64::NAN)]).unwrap();
        // Only eu speaks: us keeps its set; an alert of a region the batch does not speak for is ignored.
        sets.replace(&[status("eu")], &[alert("eu", "C", 2.0), alert("asia", "D", 3.0)]).unwrap();
        let names = |sets: &RegionAlerts| -> Vec<String> {
            sets.all().iter().map(|a| format!("{}/{}", a.region, a.labels[0].value)).collect()
        };
        assert_eq!(names(&sets), ["eu/C", "us/B"]);
        drop(sets);
        let sets = RegionAlerts::open(db).unwrap();
        assert_eq!(names(&sets), ["eu/C", "us/B"]);
        assert!(sets.all()[1].value.is_nan());
        // A region that speaks with no alerts has none.
        sets.replace(&[status("us")], &[]).unwrap();
        assert_eq!(names(&sets), ["eu/C"]);
    }

    #[test]
    fn bad_alerts_are_dropped_and_named() {
        let mut burning = alert("eu", "A", 1.0);
        burning.state = "burning".into();
        let mut unlabelled = alert("eu", "B", 1.0);
        unlabelled.labels[0].name = "1x".into();
        let (kept, dropped) = valid_alerts(vec![alert("eu", "A", 1.0), burning, unlabelled], &Limits::default());
        assert_eq!(kept, [alert("eu", "A", 1.0)]);
        assert_eq!(
            dropped,
            [
                "alert 1: state \"burning\"; \"pending\" or \"firing\"",
                "alert 2: invalid label name \"1x\" (must match [a-zA-Z_][a-zA-Z0-9_]*)",
            ]
        );
    }
}
