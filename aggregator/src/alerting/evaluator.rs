//! The evaluator: every `alerting.interval`, each rule is run as an instant query at that
//! moment, through the same engine, catalog and query slots as `/api/v1/query` (at a
//! master, the fleet-wide catalog), on a blocking thread; the answer goes to the rule's
//! state in the [`AlertBook`]. A failed evaluation is counted
//! (`sysmon_alerting_failed_evaluations_total`) and logged when its error is new.

use std::sync::Arc;
use std::time::Instant;

use sysmon_promql::{Engine, Value};
use sysmon_tsdb::Labels;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::book::AlertBook;
use super::rules::AlertState;
use crate::http::prometheus::CatalogSource;
use crate::metrics::AlertingMetrics;
use crate::registry::now_ms;

/// What evaluating rules takes.
pub(crate) struct Evaluator {
    pub(crate) book: Arc<AlertBook>,
    pub(crate) engine: Engine,
    pub(crate) catalogs: Arc<dyn CatalogSource>,
    /// The HTTP API's query slots: rules wait their turn like any query.
    pub(crate) query_permits: Arc<Semaphore>,
    pub(crate) metrics: Arc<AlertingMetrics>,
}

impl Evaluator {
    /// Evaluates every rule each interval until `cancel`.
    pub(crate) async fn run(self, cancel: CancellationToken) {
        let exprs = self.book.exprs();
        if exprs.is_empty() {
            return;
        }
        info!(rules = exprs.len(), interval_ms = self.book.interval().as_millis() as u64, "alerting started");
        let mut last_errors = vec![None; exprs.len()];
        let mut tick = tokio::time::interval(self.book.interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            for (index, expr) in exprs.iter().enumerate() {
                let now = now_ms();
                let started = Instant::now();
                let outcome = tokio::select! {
                    _ = cancel.cancelled() => return,
                    outcome = evaluate_rule(&self.engine, self.catalogs.as_ref(), &self.query_permits, expr.clone(), now) => outcome,
                };
                self.note(&mut last_errors[index], index, expr, &outcome);
                self.book.record(index, outcome, now, started.elapsed().as_secs_f64());
            }
            let active = self.book.active();
            for state in [AlertState::Pending, AlertState::Firing] {
                let n = active.iter().filter(|a| a.state == state).count();
                self.metrics.active_alerts.get_or_create(&[("state", state.name())]).set(n as i64);
            }
            debug!(active = active.len(), "alerting rules evaluated");
        }
    }

    /// Counts a failed evaluation, and logs it when the rule's error is new (a rule that
    /// keeps failing the same way is logged once, and again when it recovers).
    fn note(
        &self,
        last_error: &mut Option<String>,
        index: usize,
        expr: &str,
        outcome: &Result<Vec<(Labels, f64)>, String>,
    ) {
        match outcome {
            Err(error) => {
                self.metrics.failed_evaluations.inc();
                if last_error.as_ref() != Some(error) {
                    warn!(rule = index, %expr, %error, "alerting rule evaluation failed; its alerts are kept");
                    *last_error = Some(error.clone());
                }
            }
            Ok(_) => {
                if last_error.take().is_some() {
                    info!(rule = index, %expr, "alerting rule evaluates again");
                }
            }
        }
    }
}

/// The series a rule's `expr` returns at `time_ms`, with their values: an instant query in
/// one of the HTTP API's query slots (rules wait their turn like any query).
pub(crate) async fn evaluate_rule(
    engine: &Engine,
    catalogs: &dyn CatalogSource,
    query_permits: &Arc<Semaphore>,
    expr: String,
    time_ms: i64,
) -> Result<Vec<(Labels, f64)>, String> {
    let timeout = engine.limits().timeout;
    let permit = tokio::time::timeout(timeout, query_permits.clone().acquire_owned())
        .await
        .map_err(|_| "no query slot free within the query timeout".to_string())?
        .map_err(|_| "the aggregator is shutting down".to_string())?;
    let (engine, catalog) = (engine.clone(), catalogs.catalog());
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        engine.instant(catalog.as_ref(), &expr, time_ms)
    })
    .await
    .map_err(|e| format!("evaluation failed: {e}"))?
    .map_err(|e| e.to_string())?;
    match result.value {
        Value::Vector(samples) => Ok(samples.into_iter().map(|s| (s.labels, s.value)).collect()),
        Value::Scalar(_, v) => Ok(vec![(Labels::new([]), v)]),
        Value::Matrix(_) | Value::String(..) => Err("rule result is not a vector or scalar".into()),
    }
}
