//! What a query costs, bounded before it runs: from the number of series each selector
//! matches at most (the store's index answers without reading samples) and the time each
//! reads. A caller can then run a query that takes microseconds where it stands and hand one
//! that may take seconds to a thread of its own.

use promql_parser::parser::Expr;

use crate::eval::selectors::matchers;
use crate::storage::Storage;

/// What [`bound`] needs besides the expression.
pub(crate) struct CostInputs<'a> {
    pub(crate) storage: &'a dyn Storage,
    /// `end - start` of the evaluation.
    pub(crate) span_ms: i64,
    /// How many steps are evaluated.
    pub(crate) steps: i64,
    pub(crate) lookback_ms: i64,
}

/// At most how many series-milliseconds of samples evaluating `expr` reads or slides windows
/// over: for every selector, the series it matches at most times the span it reads (the
/// evaluation's plus its lookback or range), and for a range selector also its window at
/// every step (a function such as `quantile_over_time` visits every sample of every
/// window). `None` when a selector cannot be bounded, and for subqueries, whose inner
/// evaluation runs at steps of its own.
pub(crate) fn bound(expr: &Expr, inputs: &CostInputs<'_>) -> Option<u64> {
    match expr {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Some(0),
        Expr::Paren(p) => bound(&p.expr, inputs),
        Expr::Unary(u) => bound(&u.expr, inputs),
        Expr::Binary(b) => bound(&b.lhs, inputs)?.checked_add(bound(&b.rhs, inputs)?),
        Expr::Aggregate(a) => {
            let param = a.param.as_deref().map_or(Some(0), |p| bound(p, inputs))?;
            bound(&a.expr, inputs)?.checked_add(param)
        }
        Expr::Call(call) => call.args.args.iter().try_fold(0u64, |sum, arg| sum.checked_add(bound(arg, inputs)?)),
        Expr::VectorSelector(vs) => {
            let series = inputs.storage.series_bound(&matchers(vs).ok()?)?;
            series_ms(series, inputs.span_ms.checked_add(inputs.lookback_ms)?)
        }
        Expr::MatrixSelector(ms) => {
            let series = inputs.storage.series_bound(&matchers(&ms.vs).ok()?)?;
            let range_ms = i64::try_from(ms.range.as_millis()).ok()?;
            let read_ms = inputs.span_ms.checked_add(range_ms)?;
            series_ms(series, read_ms.checked_add(inputs.steps.checked_mul(range_ms)?)?)
        }
        Expr::Subquery(_) | Expr::Extension(_) => None,
    }
}

fn series_ms(series: usize, ms: i64) -> Option<u64> {
    u64::try_from(series).ok()?.checked_mul(u64::try_from(ms).ok()?)
}

#[cfg(test)]
mod tests {
    use sysmon_tsdb::Matcher;

    use crate::storage::SeriesSamples;
    use crate::testutil::{MemStorage, load};
    use crate::{Engine, QueryLimits, Storage};

    const HOUR: i64 = 3_600_000;
    const MINUTE: i64 = 60_000;

    /// A store whose index bounds `name="value"` selectors: by the series matching those alone.
    struct Indexed(MemStorage);

    impl Storage for Indexed {
        fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<SeriesSamples>, String> {
            self.0.select(matchers, start_ms, end_ms)
        }

        fn series_bound(&self, matchers: &[Matcher]) -> Option<usize> {
            let equal: Vec<&Matcher> =
                matchers.iter().filter(|m| matches!(m.kind, sysmon_tsdb::MatchKind::Equal(_))).collect();
            if equal.is_empty() {
                return None;
            }
            Some(self.0.series.iter().filter(|s| equal.iter().all(|m| m.matches(&s.labels))).count())
        }
    }

    fn store() -> Indexed {
        Indexed(load(
            r#"
            load 1m
              mem{host="a"} 1+1x10
              mem{host="b"} 1+1x10
              cpu{host="a", mode="user"} 1+1x10
            "#,
        ))
    }

    #[test]
    fn a_selector_costs_its_series_times_the_span_it_reads() {
        let (engine, store) = (Engine::new(QueryLimits::default()), store());
        let range = |q: &str| engine.range_cost(&store, q, 0, 6 * HOUR, 10_000);
        // The span plus the 5 m lookback, per series.
        assert_eq!(range(r#"mem{host="a"}"#), Some((6 * HOUR + 5 * MINUTE) as u64));
        assert_eq!(range("mem"), Some(2 * (6 * HOUR + 5 * MINUTE) as u64));
        assert_eq!(range(r#"mem{host=~"a|b"}"#), Some(2 * (6 * HOUR + 5 * MINUTE) as u64));
        assert_eq!(range("nothing"), Some(0));
        assert_eq!(range("1 + 2"), Some(0));
        assert_eq!(engine.instant_cost(&store, "mem", 0), Some(2 * (5 * MINUTE) as u64));
    }

    #[test]
    fn a_range_selector_also_costs_its_window_at_every_step() {
        let (engine, store) = (Engine::new(QueryLimits::default()), store());
        // 2,161 steps of 10 s over 6 h; the read reaches 5 m before the start.
        let steps = 6 * HOUR / 10_000 + 1;
        let per_series = (6 * HOUR + 5 * MINUTE + steps * 5 * MINUTE) as u64;
        let cost = engine.range_cost(&store, r#"sum(rate(cpu{host="a"}[5m])) / count(mem)"#, 0, 6 * HOUR, 10_000);
        assert_eq!(cost, Some(per_series + 2 * (6 * HOUR + 5 * MINUTE) as u64));
    }

    #[test]
    fn unknown_costs() {
        let (engine, store) = (Engine::new(QueryLimits::default()), store());
        let range = |q: &str| engine.range_cost(&store, q, 0, HOUR, 10_000);
        // The store cannot bound a selector without an equality matcher.
        assert_eq!(range(r#"{__name__=~"m.*"}"#), None);
        assert_eq!(range(r#"max_over_time(mem{host="a"}[5m:1m])"#), None);
        assert_eq!(range("mem{"), None);
        assert_eq!(engine.range_cost(&store, "mem", HOUR, 0, 10_000), None);
        assert_eq!(engine.range_cost(&store, "mem", 0, HOUR, 0), None);
        // A store without an index bounds nothing.
        assert_eq!(engine.range_cost(&store.0, "mem", 0, HOUR, 10_000), None);
    }
}
