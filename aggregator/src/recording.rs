//! Recording rules (`[recording]`): every interval each rule runs as an instant query
//! through the same engine, catalog and query slots as `/api/v1/query`, and its answer is
//! stored in this aggregator's store as series named by the rule, stamped with the
//! evaluation's time, as Prometheus's recording rules are. A series that was in a rule's
//! last answer and is not in this one gets a stale marker, as in Prometheus, so that it
//! ends there rather than 5 minutes (the lookback) later. A rule that fails, or whose
//! answer has two series with the same labels once named, stores nothing that interval
//! (nor stale markers) and is logged when its error is new.

use std::collections::BTreeSet;
use std::sync::Arc;

use sysmon_promql::Engine;
use sysmon_tsdb::{Labels, METRIC_NAME, STALE_MARKER_BITS};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::alerting::evaluate_rule;
use crate::error::DisplayChain;
use crate::http::prometheus::CatalogSource;
use crate::recording_config::{RecordingRule, RecordingSettings};
use crate::registry::now_ms;
use crate::store::Store;

/// What evaluating and storing recording rules takes.
pub(crate) struct Recorder {
    pub(crate) settings: RecordingSettings,
    pub(crate) engine: Engine,
    pub(crate) catalogs: Arc<dyn CatalogSource>,
    /// The HTTP API's query slots: rules wait their turn like any query.
    pub(crate) query_permits: Arc<Semaphore>,
    pub(crate) store: Store,
}

impl Recorder {
    /// Evaluates and stores every rule each interval until `cancel`.
    pub(crate) async fn run(self, cancel: CancellationToken) {
        let rules = &self.settings.rules;
        if rules.is_empty() {
            return;
        }
        info!(rules = rules.len(), interval_ms = self.settings.interval.as_millis() as u64, "recording rules started");
        let mut last_errors = vec![None; rules.len()];
        let mut last_answers = vec![BTreeSet::new(); rules.len()];
        let mut tick = tokio::time::interval(self.settings.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = now_ms();
            let (mut series, mut samples) = (Vec::new(), Vec::new());
            for (index, rule) in rules.iter().enumerate() {
                let answer = tokio::select! {
                    _ = cancel.cancelled() => return,
                    answer = evaluate_rule(&self.engine, self.catalogs.as_ref(), &self.query_permits, rule.expr.clone(), now) => answer,
                };
                match answer.and_then(|values| recorded(rule, values)) {
                    Ok(recorded) => {
                        if last_errors[index].take().is_some() {
                            info!(record = %rule.record, "recording rule evaluates again");
                        }
                        for labels in gone_since(&mut last_answers[index], &recorded) {
                            samples.push((series.len() as u32, now, f64::from_bits(STALE_MARKER_BITS)));
                            series.push(labels);
                        }
                        for (labels, value) in recorded {
                            samples.push((series.len() as u32, now, value));
                            series.push(labels);
                        }
                    }
                    Err(error) => {
                        if last_errors[index].as_ref() != Some(&error) {
                            warn!(record = %rule.record, expr = %rule.expr, %error, "recording rule failed; nothing stored for it this interval");
                            last_errors[index] = Some(error);
                        }
                    }
                }
            }
            if series.is_empty() {
                continue;
            }
            let stored = series.len();
            match self.store.write_samples(series, samples).await {
                Ok(Ok(_)) => debug!(series = stored, "recording rules stored"),
                Ok(Err(error)) => warn!(error = %DisplayChain(&error), "recording rules' samples not stored"),
                Err(_) => return,
            }
        }
    }
}

/// The series a rule stores from its answer: each answer's labels without its name, the
/// rule's labels over them, named `record`. Two that end up alike are an error, as in
/// Prometheus.
fn recorded(rule: &RecordingRule, values: Vec<(Labels, f64)>) -> Result<Vec<(Labels, f64)>, String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(values.len());
    for (labels, value) in values {
        let pairs = labels
            .into_pairs()
            .into_iter()
            .filter(|(name, _)| name != METRIC_NAME && !rule.labels.contains_key(name))
            .chain(rule.labels.iter().map(|(n, v)| (n.clone(), v.clone())))
            .chain([(METRIC_NAME.to_string(), rule.record.clone())]);
        let labels = Labels::new(pairs);
        if !seen.insert(labels.clone()) {
            return Err(format!("the answer has two series that are both {labels} once named"));
        }
        out.push((labels, value));
    }
    Ok(out)
}

/// The series of a rule's last answer (`last`) that are not in `now`'s; `last` becomes
/// `now`'s.
fn gone_since(last: &mut BTreeSet<Labels>, now: &[(Labels, f64)]) -> Vec<Labels> {
    let now: BTreeSet<Labels> = now.iter().map(|(labels, _)| labels.clone()).collect();
    let gone = last.difference(&now).cloned().collect();
    *last = now;
    gone
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())))
    }

    fn rule(labels: &[(&str, &str)]) -> RecordingRule {
        RecordingRule {
            record: "host:load1:max".into(),
            expr: "max by (host) (node_load1)".into(),
            labels: labels.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn answers_are_named_by_the_rule_and_take_its_labels() {
        let answer = vec![(labels(&[("__name__", "node_load1"), ("host", "a"), ("tier", "x")]), 1.5)];
        let got = recorded(&rule(&[("tier", "summary")]), answer).unwrap();
        assert_eq!(got, [(labels(&[("__name__", "host:load1:max"), ("host", "a"), ("tier", "summary")]), 1.5)]);
    }

    #[test]
    fn series_that_leave_the_answer_are_the_ones_marked_stale() {
        let (a, b, c) = (labels(&[("host", "a")]), labels(&[("host", "b")]), labels(&[("host", "c")]));
        let mut last = BTreeSet::new();
        assert!(gone_since(&mut last, &[(a.clone(), 1.0), (b.clone(), 1.0)]).is_empty());
        assert_eq!(gone_since(&mut last, &[(b.clone(), 2.0), (c.clone(), 2.0)]), std::slice::from_ref(&a));
        assert_eq!(gone_since(&mut last, &[]), [b, c]);
        assert!(gone_since(&mut last, &[(a, 3.0)]).is_empty());
    }

    #[test]
    fn answers_alike_once_named_are_an_error() {
        let answer = vec![
            (labels(&[("__name__", "a"), ("host", "h")]), 1.0),
            (labels(&[("__name__", "b"), ("host", "h")]), 2.0),
        ];
        let err = recorded(&rule(&[]), answer).unwrap_err();
        assert!(err.contains("two series"), "{err}");
    }
}
