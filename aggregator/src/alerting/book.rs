//! What alerting knows, in one shared place: every rule's state (written by the evaluator,
//! read by the HTTP API and by replication to the master) and the alerts resolved lately.

use std::collections::VecDeque;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use sysmon_tsdb::Labels;

use super::rules::{Alert, ResolvedAlert, RuleState};
use crate::alerting_config::AlertingSettings;

/// How many resolved alerts are kept (in memory only: a restart forgets them).
const RESOLVED_KEPT: usize = 200;

/// The rules' states and the recent resolutions. Cheap to share behind an `Arc`.
pub(crate) struct AlertBook {
    interval: Duration,
    rules: RwLock<Vec<RuleState>>,
    /// Newest last.
    resolved: Mutex<VecDeque<ResolvedAlert>>,
}

impl AlertBook {
    pub(crate) fn new(settings: &AlertingSettings) -> AlertBook {
        AlertBook {
            interval: settings.interval,
            rules: RwLock::new(settings.rules.iter().cloned().map(RuleState::new).collect()),
            resolved: Mutex::default(),
        }
    }

    /// How often the rules are evaluated.
    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }

    /// Each rule's expression, in the configuration's order.
    pub(crate) fn exprs(&self) -> Vec<String> {
        self.rules.read().iter().map(|r| r.rule.expr.clone()).collect()
    }

    /// Every rule's state, as of now.
    pub(crate) fn rules(&self) -> Vec<RuleState> {
        self.rules.read().clone()
    }

    /// Every active alert (pending or firing), rule by rule.
    pub(crate) fn active(&self) -> Vec<Alert> {
        self.rules.read().iter().flat_map(|r| r.alerts().cloned()).collect()
    }

    /// The alerts resolved lately, newest first.
    pub(crate) fn resolved(&self) -> Vec<ResolvedAlert> {
        self.resolved.lock().iter().rev().cloned().collect()
    }

    /// Records the evaluation of rule `index` at `now_ms` (see [`RuleState::apply`]).
    pub(crate) fn record(
        &self,
        index: usize,
        outcome: Result<Vec<(Labels, f64)>, String>,
        now_ms: i64,
        took_secs: f64,
    ) {
        let resolved = match self.rules.write().get_mut(index) {
            Some(rule) => rule.apply(outcome, now_ms, took_secs),
            None => return,
        };
        if resolved.is_empty() {
            return;
        }
        let mut kept = self.resolved.lock();
        kept.extend(resolved);
        while kept.len() > RESOLVED_KEPT {
            kept.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting_config::AlertRule;

    #[test]
    fn resolved_alerts_are_kept_newest_first_up_to_the_bound() {
        let rule = AlertRule {
            name: "A".into(),
            expr: "up".into(),
            hold: Duration::ZERO,
            severity: "warning".into(),
            labels: Default::default(),
            annotations: Default::default(),
        };
        let book = AlertBook::new(&AlertingSettings { interval: Duration::from_secs(1), rules: vec![rule] });
        let series = |i: usize| Labels::new([("host".to_string(), format!("h{i}"))]);
        for i in 0..RESOLVED_KEPT + 5 {
            book.record(0, Ok(vec![(series(i), 1.0)]), i as i64 * 2, 0.0);
            assert_eq!(book.active().len(), 1);
            book.record(0, Ok(Vec::new()), i as i64 * 2 + 1, 0.0);
        }
        let resolved = book.resolved();
        assert_eq!(resolved.len(), RESOLVED_KEPT);
        let newest = RESOLVED_KEPT + 4;
        assert_eq!(resolved[0].alert.labels["host"], format!("h{newest}"));
        assert_eq!(resolved[0].resolved_at_ms, newest as i64 * 2 + 1);
        assert!(book.active().is_empty());
        // An evaluation of a rule that does not exist changes nothing.
        book.record(7, Ok(vec![(series(0), 1.0)]), 0, 0.0);
        assert!(book.active().is_empty());
    }
}
