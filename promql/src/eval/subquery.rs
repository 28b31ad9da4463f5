//! Subqueries `expr[range:step]`: the inner expression is evaluated at steps aligned to
//! absolute multiples of the subquery step, then read as a range vector.

use promql_parser::parser::SubqueryExpr;
use sysmon_tsdb::Labels;

use crate::error::{Error, Result};
use crate::eval::evaluator::{Evaluator, offset_ms};
use crate::eval::types::{RangeInput, RangeSeriesInput, Steps};

/// Evaluates the subquery's inner expression over every window `steps` will read.
pub(crate) fn eval_subquery(ev: &mut Evaluator<'_>, sq: &SubqueryExpr, steps: Steps) -> Result<RangeInput> {
    let offset = offset_ms(&sq.offset);
    let at = ev.at_ms(&sq.at)?;
    let range_ms = i64::try_from(sq.range.as_millis()).unwrap_or(i64::MAX);
    let step_ms = match sq.step {
        Some(step) => i64::try_from(step.as_millis()).unwrap_or(i64::MAX),
        None => ev.subquery_step_ms(),
    };
    if step_ms <= 0 {
        return Err(Error::BadQuery("subquery step must be positive".into()));
    }
    let outer = match at {
        Some(t) => Steps::instant(t),
        None => steps,
    };
    // The first multiple of the step at or after the earliest window's start.
    let earliest = outer.start_ms - offset - range_ms;
    let mut start_ms = earliest.div_euclid(step_ms) * step_ms;
    if start_ms < earliest {
        start_ms += step_ms;
    }
    let inner = Steps { start_ms, end_ms: outer.end_ms - offset, step_ms };
    if inner.len() > ev.limits().max_samples {
        return Err(Error::TooManySamples { limit: ev.limits().max_samples });
    }
    let result = ev.eval_vector(&sq.expr, inner)?;
    let points: usize = result.iter().map(|s| s.point_count()).sum();
    ev.add_samples(points)?;
    let series = result
        .into_iter()
        .map(|s| RangeSeriesInput {
            points: s.values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (inner.time(i), v))).collect(),
            labels: s.labels,
        })
        .collect();
    Ok(RangeInput {
        series,
        range_ms,
        offset_ms: offset,
        at_ms: at,
        absent_labels: Labels::default(),
        drift_start_ms: None,
    })
}
