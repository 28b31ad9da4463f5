//! Binary operators: arithmetic and comparisons between scalars and vectors, with
//! Prometheus's one-to-one and many-to-one vector matching.
//!
//! Match signatures and result label sets are computed once per series (pair); each step
//! then only looks at which series have values.

use std::collections::HashMap;

use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD, T_MUL, T_NEQ, T_POW,
    T_SUB,
};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use sysmon_tsdb::{Labels, METRIC_NAME};

use crate::error::{Error, Result};
use crate::eval::evaluator::Evaluator;
use crate::eval::labels::{drop_metric_name, format_labels, keep_only, signature, with_label, without};
use crate::eval::series_set::merge_same_labels;
use crate::eval::set_ops;
use crate::eval::types::{Evaluated, Series, Steps};

/// How two vectors' series are paired: on (or ignoring) which labels.
pub(crate) struct Matching {
    pub(crate) on: bool,
    pub(crate) labels: Vec<String>,
}

impl Matching {
    fn of(expr: &BinaryExpr) -> Matching {
        match expr.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
            Some(LabelModifier::Include(l)) => Matching { on: true, labels: l.labels.clone() },
            Some(LabelModifier::Exclude(l)) => Matching { on: false, labels: l.labels.clone() },
            None => Matching { on: false, labels: Vec::new() },
        }
    }

    pub(crate) fn signature(&self, labels: &Labels) -> String {
        signature(labels, self.on, &self.labels)
    }
}

/// Evaluates a binary expression at every step.
pub(crate) fn eval_binary(ev: &mut Evaluator<'_>, expr: &BinaryExpr, steps: Steps) -> Result<Evaluated> {
    let op = expr.op.id();
    let modifier = expr.modifier.as_ref();
    if modifier.is_some_and(|m| m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some()) {
        return Err(Error::BadQuery("fill modifiers are not supported by Prometheus 2.42".into()));
    }
    let return_bool = modifier.is_some_and(|m| m.return_bool);
    let lhs = ev.eval(&expr.lhs, steps)?;
    let rhs = ev.eval(&expr.rhs, steps)?;
    ev.check_deadline("evaluating a binary operator")?;
    match (lhs, rhs) {
        (Evaluated::Scalar(l), Evaluated::Scalar(r)) => {
            Ok(Evaluated::Scalar(l.into_iter().zip(r).map(|(l, r)| scalar_binop(op, l, r)).collect()))
        }
        (Evaluated::Vector(v), Evaluated::Scalar(s)) => {
            vector_scalar(op, v, &s, false, return_bool).map(Evaluated::Vector)
        }
        (Evaluated::Scalar(s), Evaluated::Vector(v)) => {
            vector_scalar(op, v, &s, true, return_bool).map(Evaluated::Vector)
        }
        (Evaluated::Vector(l), Evaluated::Vector(r)) => {
            let matching = Matching::of(expr);
            let series = match op {
                T_LAND | T_LOR | T_LUNLESS => set_ops::eval_set_op(op, l, r, &matching)?,
                _ => {
                    let card = modifier.map(|m| m.card.clone()).unwrap_or(VectorMatchCardinality::OneToOne);
                    vector_vector(op, l, r, &matching, &card, return_bool)?
                }
            };
            Ok(Evaluated::Vector(series))
        }
        (l, r) => Err(Error::BadQuery(format!(
            "binary expression must contain only scalar and instant vector types, got {} and {}",
            l.type_name(),
            r.type_name()
        ))),
    }
}

fn is_comparison(op: u16) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Arithmetic drops the metric name; comparisons that filter keep it (so does `atan2`, as
/// in Prometheus 2.42).
fn drops_metric_name(op: u16) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD)
}

fn arithmetic(op: u16, l: f64, r: f64) -> f64 {
    match op {
        T_ADD => l + r,
        T_SUB => l - r,
        T_MUL => l * r,
        T_DIV => l / r,
        T_POW => l.powf(r),
        T_MOD => l % r,
        T_ATAN2 => l.atan2(r),
        _ => f64::NAN,
    }
}

fn compare(op: u16, l: f64, r: f64) -> bool {
    match op {
        T_EQLC => l == r,
        T_NEQ => l != r,
        T_GTR => l > r,
        T_LSS => l < r,
        T_GTE => l >= r,
        T_LTE => l <= r,
        _ => false,
    }
}

/// Scalar op scalar; comparisons give 1 or 0.
fn scalar_binop(op: u16, l: f64, r: f64) -> f64 {
    if is_comparison(op) { f64::from(u8::from(compare(op, l, r))) } else { arithmetic(op, l, r) }
}

/// One element pair: the value and whether the element is kept (comparisons filter,
/// keeping the left value).
fn element_binop(op: u16, l: f64, r: f64) -> (f64, bool) {
    if is_comparison(op) { (l, compare(op, l, r)) } else { (arithmetic(op, l, r), true) }
}

/// Vector op scalar, or scalar op vector when `swapped`.
fn vector_scalar(op: u16, input: Vec<Series>, scalar: &[f64], swapped: bool, return_bool: bool) -> Result<Vec<Series>> {
    let drop_name = drops_metric_name(op) || return_bool;
    let out = input
        .into_iter()
        .map(|s| {
            let values = s
                .values
                .into_iter()
                .zip(scalar)
                .map(|(v, &sv)| {
                    let v = v?;
                    let (l, r) = if swapped { (sv, v) } else { (v, sv) };
                    let (mut value, keep) = element_binop(op, l, r);
                    // A comparison's result is always the vector's value, whichever side it is on.
                    if is_comparison(op) && swapped {
                        value = r;
                    }
                    if return_bool {
                        return Some(f64::from(u8::from(keep)));
                    }
                    keep.then_some(value)
                })
                .collect();
            Series { labels: if drop_name { drop_metric_name(&s.labels) } else { s.labels }, values }
        })
        .collect();
    merge_same_labels(out)
}

/// The labels of a matched pair's result, built from the "many" side.
fn result_labels(
    many: &Labels,
    one: &Labels,
    op: u16,
    matching: &Matching,
    card: &VectorMatchCardinality,
    return_bool: bool,
) -> Labels {
    let mut labels = if drops_metric_name(op) { drop_metric_name(many) } else { many.clone() };
    match card {
        VectorMatchCardinality::ManyToOne(include) | VectorMatchCardinality::OneToMany(include) => {
            for name in &include.labels {
                labels = with_label(&labels, name, one.get(name).unwrap_or(""));
            }
        }
        _ => {
            labels = if matching.on {
                keep_only(&labels, &matching.labels)
            } else {
                without(&labels, &matching.labels, false)
            };
        }
    }
    if return_bool { drop_metric_name(&labels) } else { labels }
}

/// Vector op vector for arithmetic and comparisons.
fn vector_vector(
    op: u16,
    lhs: Vec<Series>,
    rhs: Vec<Series>,
    matching: &Matching,
    card: &VectorMatchCardinality,
    return_bool: bool,
) -> Result<Vec<Series>> {
    if matches!(card, VectorMatchCardinality::ManyToMany) {
        return Err(Error::BadQuery("many-to-many matching is only allowed for set operators".into()));
    }
    let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);
    // For group_right the right side is the "many" one: swap, and swap values back below.
    let swapped = matches!(card, VectorMatchCardinality::OneToMany(_));
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let n = many.first().or(one.first()).map_or(0, |s| s.values.len());

    // Group the "one" side by signature; point each "many" series at its group.
    let mut group_index: HashMap<String, usize> = HashMap::new();
    let mut one_group = Vec::with_capacity(one.len());
    for s in &one {
        let next = group_index.len();
        one_group.push(*group_index.entry(matching.signature(&s.labels)).or_insert(next));
    }
    let groups = group_index.len();
    let many_group: Vec<Option<usize>> =
        many.iter().map(|s| group_index.get(&matching.signature(&s.labels)).copied()).collect();

    let pairing = Pairing { many: &many, one: &one, one_group: &one_group, many_group: &many_group, groups };
    if let Some(out) = fixed_pairs(op, &pairing, matching, card, swapped, return_bool) {
        return merge_same_labels(out);
    }

    let mut out: Vec<Series> = Vec::new();
    let mut pair_index: HashMap<(usize, usize), usize> = HashMap::new();
    let mut last_pair: Vec<Option<(usize, usize)>> = vec![None; many.len()];
    let mut present_one: Vec<Option<usize>> = vec![None; groups];
    let mut matched: Vec<Vec<usize>> = vec![Vec::new(); groups];
    for step in 0..n {
        let any_many = many.iter().any(|s| s.values[step].is_some());
        let any_one = one.iter().any(|s| s.values[step].is_some());
        if !any_many || !any_one {
            continue;
        }
        present_one.iter_mut().for_each(|p| *p = None);
        for (i, s) in one.iter().enumerate() {
            if s.values[step].is_none() {
                continue;
            }
            let g = one_group[i];
            if let Some(first) = present_one[g] {
                return Err(duplicate_match_error(&one[i].labels, &one[first].labels, matching, swapped));
            }
            present_one[g] = Some(i);
        }
        matched.iter_mut().for_each(Vec::clear);
        for (m, s) in many.iter().enumerate() {
            let (Some(v), Some(g)) = (s.values[step], many_group[m]) else { continue };
            let Some(r) = present_one[g] else { continue };
            let rv = one[r].values[step].unwrap_or(f64::NAN);
            let (l, rr) = if swapped { (rv, v) } else { (v, rv) };
            let (mut value, keep) = element_binop(op, l, rr);
            if return_bool {
                value = f64::from(u8::from(keep));
            } else if !keep {
                continue;
            }
            // A series usually meets the same partner at every step: skip the hash then.
            let at = match last_pair[m] {
                Some((partner, at)) if partner == r => at,
                _ => {
                    let at = *pair_index.entry((m, r)).or_insert_with(|| {
                        let labels = result_labels(&s.labels, &one[r].labels, op, matching, card, return_bool);
                        out.push(Series::empty(labels, n));
                        out.len() - 1
                    });
                    last_pair[m] = Some((r, at));
                    at
                }
            };
            if one_to_one {
                if !matched[g].is_empty() {
                    return Err(Error::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                            .into(),
                    ));
                }
            } else if matched[g].iter().any(|&o| out[o].labels == out[at].labels) {
                return Err(Error::Execution(
                    "multiple matches for labels: grouping labels must ensure unique results".into(),
                ));
            }
            matched[g].push(at);
            out[at].values[step] = Some(value);
        }
    }
    merge_same_labels(out)
}

/// Both sides of a vector match, grouped by signature.
struct Pairing<'a> {
    many: &'a [Series],
    one: &'a [Series],
    one_group: &'a [usize],
    many_group: &'a [Option<usize>],
    groups: usize,
}

/// The common case, computed series by series (cache-friendly): every signature has one
/// series on the "one" side, and no two pairs of a group can collide, so no step can
/// raise a matching error. `None` when that does not hold.
fn fixed_pairs(
    op: u16,
    p: &Pairing<'_>,
    matching: &Matching,
    card: &VectorMatchCardinality,
    swapped: bool,
    return_bool: bool,
) -> Option<Vec<Series>> {
    let mut one_member: Vec<Option<usize>> = vec![None; p.groups];
    for (i, &g) in p.one_group.iter().enumerate() {
        if one_member[g].replace(i).is_some() {
            return None;
        }
    }
    let mut seen: std::collections::HashSet<(usize, Labels)> = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(p.many.len());
    for (m, s) in p.many.iter().enumerate() {
        let Some(g) = p.many_group[m] else { continue };
        let Some(r) = one_member[g] else { continue };
        let labels = result_labels(&s.labels, &p.one[r].labels, op, matching, card, return_bool);
        // One-to-one: a second series in the group is an error; many-to-one: equal result labels are.
        let key = if matches!(card, VectorMatchCardinality::OneToOne) { Labels::default() } else { labels.clone() };
        if !seen.insert((g, key)) {
            return None;
        }
        let values = s
            .values
            .iter()
            .zip(&p.one[r].values)
            .map(|(v, rv)| {
                let (v, rv) = (*v.as_ref()?, *rv.as_ref()?);
                let (l, r) = if swapped { (rv, v) } else { (v, rv) };
                let (value, keep) = element_binop(op, l, r);
                if return_bool { Some(f64::from(u8::from(keep))) } else { keep.then_some(value) }
            })
            .collect();
        out.push(Series { labels, values });
    }
    Some(out)
}

/// Two series on the "one" side of a match share a signature at the same step.
fn duplicate_match_error(second: &Labels, first: &Labels, matching: &Matching, swapped: bool) -> Error {
    let group = if matching.on {
        keep_only(second, &matching.labels)
    } else {
        let mut names = matching.labels.clone();
        names.push(METRIC_NAME.to_string());
        without(second, &names, false)
    };
    let side = if swapped { "left" } else { "right" };
    Error::Execution(format!(
        "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];\
         many-to-many matching not allowed: matching labels must be unique on one side",
        format_labels(&group),
        format_labels(second),
        format_labels(first),
    ))
}
