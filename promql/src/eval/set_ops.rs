//! The set operators `and`, `or` and `unless`, step by step over precomputed signatures.

use std::collections::HashMap;

use promql_parser::parser::token::{T_LAND, T_LOR};

use crate::error::Result;
use crate::eval::binary::Matching;
use crate::eval::series_set::merge_same_labels;
use crate::eval::types::Series;

/// `lhs and/or/unless rhs`: series keep their labels, metric name included. Prometheus's
/// step-by-step rules come down to: `and` keeps a left value where some right series with
/// its signature has a value at that step, `unless` where none has, and `or` adds right
/// values where no left series with their signature has one.
pub(crate) fn eval_set_op(op: u16, lhs: Vec<Series>, rhs: Vec<Series>, matching: &Matching) -> Result<Vec<Series>> {
    let n = lhs.first().or(rhs.first()).map_or(0, |s| s.values.len());
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut intern = |s: &Series| {
        let next = ids.len();
        *ids.entry(matching.signature(&s.labels)).or_insert(next)
    };
    let lhs_sig: Vec<usize> = lhs.iter().map(&mut intern).collect();
    let rhs_sig: Vec<usize> = rhs.iter().map(&mut intern).collect();
    let sigs = ids.len();
    let (filter, filter_sig, keep_where_present) = match op {
        T_LAND => (&rhs, &rhs_sig, true),
        T_LOR => (&lhs, &lhs_sig, false),
        _ => (&rhs, &rhs_sig, false),
    };
    let present = presence(filter, filter_sig, sigs, n);
    let keep = |sig: usize, step: usize| present[sig].as_ref().is_some_and(|p| p[step]) == keep_where_present;
    let mut out: Vec<Series> = Vec::with_capacity(lhs.len() + rhs.len());
    if op == T_LOR {
        out.extend(lhs);
        for (s, sig) in rhs.into_iter().zip(rhs_sig) {
            let values = s.values.iter().enumerate().map(|(step, v)| v.filter(|_| keep(sig, step))).collect();
            out.push(Series { labels: s.labels, values });
        }
    } else {
        for (s, sig) in lhs.into_iter().zip(lhs_sig) {
            let values = s.values.iter().enumerate().map(|(step, v)| v.filter(|_| keep(sig, step))).collect();
            out.push(Series { labels: s.labels, values });
        }
    }
    merge_same_labels(out)
}

/// Per signature, at which steps some series with it has a value (`None`: no series has it).
fn presence(series: &[Series], sigs: &[usize], count: usize, n: usize) -> Vec<Option<Vec<bool>>> {
    let mut present: Vec<Option<Vec<bool>>> = vec![None; count];
    for (s, &sig) in series.iter().zip(sigs) {
        let p = present[sig].get_or_insert_with(|| vec![false; n]);
        for (p, v) in p.iter_mut().zip(&s.values) {
            *p |= v.is_some();
        }
    }
    present
}
