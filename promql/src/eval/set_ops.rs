//! The set operators `and`, `or` and `unless`, step by step over precomputed signatures.

use std::collections::HashMap;

use promql_parser::parser::token::{T_LAND, T_LOR};

use crate::error::Result;
use crate::eval::binary::Matching;
use crate::eval::series_set::merge_same_labels;
use crate::eval::types::Series;

/// `lhs and/or/unless rhs`: series keep their labels, metric name included.
pub(crate) fn eval_set_op(op: u16, lhs: Vec<Series>, rhs: Vec<Series>, matching: &Matching) -> Result<Vec<Series>> {
    let n = lhs.first().or(rhs.first()).map_or(0, |s| s.values.len());
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut intern = |s: &Series| {
        let next = ids.len();
        *ids.entry(matching.signature(&s.labels)).or_insert(next)
    };
    let lhs_sig: Vec<usize> = lhs.iter().map(&mut intern).collect();
    let rhs_sig: Vec<usize> = rhs.iter().map(&mut intern).collect();
    // seen[sig] == step + 1 when a series with that signature has a value at `step`.
    let mut seen = vec![0usize; ids.len()];
    let mut lhs_out: Vec<Series> = lhs.iter().map(|s| Series::empty(s.labels.clone(), n)).collect();
    let mut rhs_out: Vec<Series> =
        if op == T_LOR { rhs.iter().map(|s| Series::empty(s.labels.clone(), n)).collect() } else { Vec::new() };
    for step in 0..n {
        let stamp = step + 1;
        let lhs_any = lhs.iter().any(|s| s.values[step].is_some());
        let rhs_any = rhs.iter().any(|s| s.values[step].is_some());
        match op {
            T_LAND => {
                if !lhs_any || !rhs_any {
                    continue;
                }
                mark(&rhs, &rhs_sig, step, stamp, &mut seen);
                copy_where(&lhs, &lhs_sig, step, &mut lhs_out, |sig| seen[sig] == stamp);
            }
            T_LOR => {
                mark(&lhs, &lhs_sig, step, stamp, &mut seen);
                copy_where(&lhs, &lhs_sig, step, &mut lhs_out, |_| true);
                copy_where(&rhs, &rhs_sig, step, &mut rhs_out, |sig| seen[sig] != stamp);
            }
            _ => {
                if lhs_any && rhs_any {
                    mark(&rhs, &rhs_sig, step, stamp, &mut seen);
                }
                copy_where(&lhs, &lhs_sig, step, &mut lhs_out, |sig| seen[sig] != stamp);
            }
        }
    }
    lhs_out.extend(rhs_out);
    merge_same_labels(lhs_out)
}

fn mark(series: &[Series], sigs: &[usize], step: usize, stamp: usize, seen: &mut [usize]) {
    for (s, &sig) in series.iter().zip(sigs) {
        if s.values[step].is_some() {
            seen[sig] = stamp;
        }
    }
}

fn copy_where(series: &[Series], sigs: &[usize], step: usize, out: &mut [Series], keep: impl Fn(usize) -> bool) {
    for ((s, &sig), o) in series.iter().zip(sigs).zip(out.iter_mut()) {
        if let Some(v) = s.values[step]
            && keep(sig)
        {
            o.values[step] = Some(v);
        }
    }
}
