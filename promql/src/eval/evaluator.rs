//! The evaluator: walks the parsed expression and evaluates each node at every step at once.

use std::time::{Instant, SystemTime};

use promql_parser::parser::{AtModifier, Expr, Offset};

use crate::engine::QueryLimits;
use crate::error::{Error, Result};
use crate::eval::types::{Evaluated, Series, Steps};
use crate::eval::{aggregate, binary, functions, labels, selectors, series_set, subquery};
use crate::storage::Storage;

/// What one query's evaluation needs: the store, the limits and the query's own times.
pub(crate) struct Evaluator<'a> {
    storage: &'a dyn Storage,
    limits: &'a QueryLimits,
    lookback_ms: i64,
    subquery_step_ms: i64,
    query_start_ms: i64,
    query_end_ms: i64,
    started: Instant,
    samples: usize,
    threads: usize,
}

/// When a query must stop; cheap to copy into worker threads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    started: Instant,
    limit: std::time::Duration,
}

impl Deadline {
    /// Fails once the query has run past its time limit.
    pub(crate) fn check(&self, phase: &'static str) -> Result<()> {
        if self.started.elapsed() > self.limit {
            return Err(Error::Timeout { phase, limit_ms: u64::try_from(self.limit.as_millis()).unwrap_or(u64::MAX) });
        }
        Ok(())
    }
}

/// Settings of an evaluation that come from the engine and the request.
pub(crate) struct EvalSettings<'a> {
    pub(crate) storage: &'a dyn Storage,
    pub(crate) limits: &'a QueryLimits,
    pub(crate) lookback_ms: i64,
    pub(crate) subquery_step_ms: i64,
    pub(crate) query_start_ms: i64,
    pub(crate) query_end_ms: i64,
    /// Threads a large range-function evaluation may use.
    pub(crate) threads: usize,
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(settings: EvalSettings<'a>) -> Evaluator<'a> {
        Evaluator {
            storage: settings.storage,
            limits: settings.limits,
            lookback_ms: settings.lookback_ms,
            subquery_step_ms: settings.subquery_step_ms,
            query_start_ms: settings.query_start_ms,
            query_end_ms: settings.query_end_ms,
            started: Instant::now(),
            samples: 0,
            threads: settings.threads.max(1),
        }
    }

    pub(crate) fn storage(&self) -> &'a dyn Storage {
        self.storage
    }

    pub(crate) fn limits(&self) -> &QueryLimits {
        self.limits
    }

    pub(crate) fn lookback_ms(&self) -> i64 {
        self.lookback_ms
    }

    pub(crate) fn subquery_step_ms(&self) -> i64 {
        self.subquery_step_ms
    }

    /// The query's deadline.
    pub(crate) fn deadline(&self) -> Deadline {
        Deadline { started: self.started, limit: self.limits.timeout }
    }

    /// Fails once the query has run past its time limit.
    pub(crate) fn check_deadline(&self, phase: &'static str) -> Result<()> {
        self.deadline().check(phase)
    }

    /// Threads a large range-function evaluation may use.
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// How many more samples the query's budget allows.
    pub(crate) fn samples_left(&self) -> usize {
        self.limits.max_samples.saturating_sub(self.samples)
    }

    /// Counts `count` more samples against the query's budget.
    pub(crate) fn add_samples(&mut self, count: usize) -> Result<()> {
        self.samples = self.samples.saturating_add(count);
        if self.samples > self.limits.max_samples {
            return Err(Error::TooManySamples { limit: self.limits.max_samples });
        }
        Ok(())
    }

    /// The time an `@` modifier pins evaluation to, if any.
    pub(crate) fn at_ms(&self, at: &Option<AtModifier>) -> Result<Option<i64>> {
        Ok(match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start_ms),
            Some(AtModifier::End) => Some(self.query_end_ms),
            Some(AtModifier::At(time)) => Some(system_time_ms(*time)),
        })
    }

    /// Evaluates `expr` at every one of `steps`.
    pub(crate) fn eval(&mut self, expr: &Expr, steps: Steps) -> Result<Evaluated> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Evaluated::Scalar(vec![n.val; steps.len()])),
            Expr::StringLiteral(s) => Ok(Evaluated::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, steps),
            Expr::Unary(u) => match self.eval(&u.expr, steps)? {
                Evaluated::Scalar(values) => Ok(Evaluated::Scalar(values.into_iter().map(|v| -v).collect())),
                Evaluated::Vector(series) => {
                    let negated = series
                        .into_iter()
                        .map(|s| Series {
                            labels: labels::drop_metric_name(&s.labels),
                            values: s.values.into_iter().map(|v| v.map(|v| -v)).collect(),
                        })
                        .collect();
                    Ok(Evaluated::Vector(series_set::ensure_distinct_labels(negated)?))
                }
                other => Err(Error::BadQuery(format!(
                    "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                    other.type_name()
                ))),
            },
            Expr::VectorSelector(vs) => Ok(Evaluated::Vector(selectors::eval_vector_selector(self, vs, steps, false)?)),
            Expr::MatrixSelector(ms) => Ok(Evaluated::Range(selectors::eval_matrix_selector(self, ms, steps)?)),
            Expr::Subquery(sq) => Ok(Evaluated::Range(subquery::eval_subquery(self, sq, steps)?)),
            Expr::Call(call) => functions::eval_call(self, call, steps),
            Expr::Aggregate(agg) => Ok(Evaluated::Vector(aggregate::eval_aggregate(self, agg, steps)?)),
            Expr::Binary(bin) => binary::eval_binary(self, bin, steps),
            Expr::Extension(_) => Err(Error::BadQuery("extension expressions are not supported".into())),
        }
    }

    /// Evaluates an expression that must be an instant vector.
    pub(crate) fn eval_vector(&mut self, expr: &Expr, steps: Steps) -> Result<Vec<Series>> {
        match self.eval(expr, steps)? {
            Evaluated::Vector(series) => Ok(series),
            other => Err(Error::BadQuery(format!("expected instant vector, got {}", other.type_name()))),
        }
    }

    /// Evaluates an expression that must be a scalar: one number per step.
    pub(crate) fn eval_scalar(&mut self, expr: &Expr, steps: Steps) -> Result<Vec<f64>> {
        match self.eval(expr, steps)? {
            Evaluated::Scalar(values) => Ok(values),
            other => Err(Error::BadQuery(format!("expected scalar, got {}", other.type_name()))),
        }
    }
}

/// The signed length of an `offset` modifier in ms (positive looks back in time).
pub(crate) fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Some(Offset::Neg(d)) => -i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
    }
}

/// Unix ms of a time that may lie before 1970.
fn system_time_ms(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// Strips any parentheses around `expr`.
pub(crate) fn unwrap_parens(mut expr: &Expr) -> &Expr {
    while let Expr::Paren(p) = expr {
        expr = &p.expr;
    }
    expr
}
