//! Whether two query answers agree, and if not, every way in which they differ.
//!
//! Agreement: the same outcome kind (success, or an error of the same `errorType`), the same
//! `resultType`, the same label sets (order-insensitive unless asked), the same timestamps, and
//! values equal within [`REL_TOLERANCE`] (or [`ABS_TOLERANCE`] near zero), NaN equal to NaN
//! and infinities equal to infinities of the same sign.

use std::collections::{BTreeMap, BTreeSet};

use super::api::{Data, Labels, Outcome, Point, seconds, show_labels, show_value};

/// Relative tolerance on values: summation order may differ between engines.
pub const REL_TOLERANCE: f64 = 1e-9;
/// Absolute tolerance, for values near zero where relative error means nothing.
pub const ABS_TOLERANCE: f64 = 1e-9;
/// Differing points printed per series of a matrix before the rest are only counted.
const MAX_POINTS_SHOWN: usize = 8;

/// Whether two values agree under the tolerances above.
pub fn same_value(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    let diff = (a - b).abs();
    diff <= ABS_TOLERANCE || diff <= REL_TOLERANCE * a.abs().max(b.abs())
}

/// Options of one comparison.
#[derive(Clone, Copy, Debug, Default)]
pub struct Compare {
    /// Also compare the order of an instant vector's values (for `sort`, `sort_desc`).
    pub ordered: bool,
}

impl Compare {
    /// Every difference between the reference's answer `a` (named `na`) and `b` (named `nb`);
    /// empty when they agree.
    pub fn diff(&self, na: &str, a: &Outcome, nb: &str, b: &Outcome) -> Vec<String> {
        match (a, b) {
            (Outcome::Success(da), Outcome::Success(db)) => self.diff_data(na, da, nb, db),
            (Outcome::Error { error_type: ta, .. }, Outcome::Error { error_type: tb, .. }) if ta == tb => Vec::new(),
            _ => vec![format!("{na}: {a}"), format!("{nb}: {b}")],
        }
    }

    fn diff_data(&self, na: &str, a: &Data, nb: &str, b: &Data) -> Vec<String> {
        match (a, b) {
            (Data::Scalar(pa), Data::Scalar(pb)) => diff_point("scalar", na, pa, nb, pb).into_iter().collect(),
            (Data::String(ta, sa), Data::String(tb, sb)) => {
                if ta == tb && sa == sb {
                    Vec::new()
                } else {
                    vec![format!("string: {na} = {sa:?} at {}, {nb} = {sb:?} at {}", seconds(*ta), seconds(*tb))]
                }
            }
            (Data::Vector(va), Data::Vector(vb)) => self.diff_vector(na, va, nb, vb),
            (Data::Matrix(ma), Data::Matrix(mb)) => diff_matrix(na, ma, nb, mb),
            _ => vec![format!(
                "resultType: {na} = {} ({} samples), {nb} = {} ({} samples)",
                a.result_type(),
                a.sample_count(),
                b.result_type(),
                b.sample_count()
            )],
        }
    }

    fn diff_vector(&self, na: &str, va: &[(Labels, Point)], nb: &str, vb: &[(Labels, Point)]) -> Vec<String> {
        let mut out = Vec::new();
        let ma = index(na, va, &mut out);
        let mb = index(nb, vb, &mut out);
        for (labels, pa) in &ma {
            match mb.get(labels) {
                Some(pb) => out.extend(diff_point(&show_labels(labels), na, pa, nb, pb)),
                None => out.push(format!("only in {na}: {} = {}", show_labels(labels), show_value(pa.v))),
            }
        }
        for (labels, pb) in &mb {
            if !ma.contains_key(labels) {
                out.push(format!("only in {nb}: {} = {}", show_labels(labels), show_value(pb.v)));
            }
        }
        if self.ordered && out.is_empty() {
            let order_a: Vec<f64> = va.iter().map(|(_, p)| p.v).collect();
            let order_b: Vec<f64> = vb.iter().map(|(_, p)| p.v).collect();
            if order_a.iter().zip(&order_b).any(|(x, y)| !same_value(*x, *y)) {
                let show = |vs: &[f64]| vs.iter().map(|v| show_value(*v)).collect::<Vec<_>>().join(", ");
                out.push(format!("order of values: {na} = [{}], {nb} = [{}]", show(&order_a), show(&order_b)));
            }
        }
        out
    }
}

/// Label set -> item, noting label sets that occur twice (never valid in an answer).
fn index<'a, T>(name: &str, items: &'a [(Labels, T)], out: &mut Vec<String>) -> BTreeMap<&'a Labels, &'a T> {
    let mut map = BTreeMap::new();
    for (labels, item) in items {
        if map.insert(labels, item).is_some() {
            out.push(format!("{name} returned {} more than once", show_labels(labels)));
        }
    }
    map
}

fn diff_point(what: &str, na: &str, pa: &Point, nb: &str, pb: &Point) -> Option<String> {
    if pa.t_ms != pb.t_ms {
        return Some(format!(
            "{what}: timestamps differ: {na} = {} @ {}, {nb} = {} @ {}",
            show_value(pa.v),
            seconds(pa.t_ms),
            show_value(pb.v),
            seconds(pb.t_ms)
        ));
    }
    if !same_value(pa.v, pb.v) {
        return Some(format!("{what}: {na} = {}, {nb} = {}", show_value(pa.v), show_value(pb.v)));
    }
    None
}

fn diff_matrix(na: &str, ma: &[(Labels, Vec<Point>)], nb: &str, mb: &[(Labels, Vec<Point>)]) -> Vec<String> {
    let mut out = Vec::new();
    let ia = index(na, ma, &mut out);
    let ib = index(nb, mb, &mut out);
    for (labels, pa) in &ia {
        match ib.get(labels) {
            Some(pb) => out.extend(diff_series(&show_labels(labels), na, pa, nb, pb)),
            None => out.push(format!("only in {na}: {} ({} points)", show_labels(labels), pa.len())),
        }
    }
    for (labels, pb) in &ib {
        if !ia.contains_key(labels) {
            out.push(format!("only in {nb}: {} ({} points)", show_labels(labels), pb.len()));
        }
    }
    out
}

fn diff_series(what: &str, na: &str, pa: &[Point], nb: &str, pb: &[Point]) -> Option<String> {
    let by_time = |points: &[Point]| points.iter().map(|p| (p.t_ms, p.v)).collect::<BTreeMap<i64, f64>>();
    let (a, b) = (by_time(pa), by_time(pb));
    let times: BTreeSet<i64> = a.keys().chain(b.keys()).copied().collect();
    let show = |v: Option<&f64>| v.map_or("(none)".to_string(), |v| show_value(*v));
    let differing: Vec<String> = times
        .iter()
        .filter(|t| match (a.get(t), b.get(t)) {
            (Some(x), Some(y)) => !same_value(*x, *y),
            _ => true,
        })
        .map(|t| format!("t={}: {na} = {}, {nb} = {}", seconds(*t), show(a.get(t)), show(b.get(t))))
        .collect();
    if differing.is_empty() {
        return None;
    }
    let mut text = format!("{what}: {} of {} points differ:", differing.len(), times.len());
    for line in differing.iter().take(MAX_POINTS_SHOWN) {
        text.push_str("\n        ");
        text.push_str(line);
    }
    if differing.len() > MAX_POINTS_SHOWN {
        text.push_str(&format!("\n        ... and {} more", differing.len() - MAX_POINTS_SHOWN));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerances() {
        assert!(same_value(f64::NAN, f64::NAN));
        assert!(!same_value(f64::NAN, 1.0));
        assert!(same_value(f64::INFINITY, f64::INFINITY));
        assert!(!same_value(f64::INFINITY, f64::NEG_INFINITY));
        assert!(!same_value(f64::INFINITY, f64::MAX));
        assert!(same_value(1e15, 1e15 + 0.5));
        assert!(!same_value(1.0, 1.0 + 1e-8));
        assert!(same_value(0.0, -0.0));
        assert!(same_value(0.0, 1e-12));
    }

    #[test]
    fn time_formats() {
        use super::super::api::rfc3339;
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_431_249_975), "2026-11-23T10:54:09.975Z");
        assert_eq!(rfc3339(951_782_400_001), "2000-02-29T00:00:00.001Z");
        assert_eq!(seconds(1_795_431_249_975), "1795431249.975");
        assert_eq!(seconds(-1500), "-1.500");
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn vector(items: &[(&str, f64)]) -> Outcome {
        Outcome::Success(Data::Vector(
            items.iter().map(|(dev, v)| (labels(&[("dev", dev)]), Point { t_ms: 1000, v: *v })).collect(),
        ))
    }

    fn diff(a: &Outcome, b: &Outcome) -> Vec<String> {
        Compare::default().diff("p", a, "s", b)
    }

    #[test]
    fn vectors_compare_by_label_set_in_any_order() {
        assert!(diff(&vector(&[("a", 1.0), ("b", f64::NAN)]), &vector(&[("b", f64::NAN), ("a", 1.0)])).is_empty());
        assert_eq!(diff(&vector(&[("a", 1.0)]), &vector(&[("a", 2.0)])), [r#"{dev="a"}: p = 1, s = 2"#]);
        assert_eq!(
            diff(&vector(&[("a", 1.0)]), &vector(&[("b", f64::INFINITY)])),
            [r#"only in p: {dev="a"} = 1"#, r#"only in s: {dev="b"} = +Inf"#]
        );
        assert_eq!(
            diff(&vector(&[("a", 1.0)]), &vector(&[("a", 1.0), ("a", 1.0)])),
            [r#"s returned {dev="a"} more than once"#]
        );
        let ordered = Compare { ordered: true };
        let (up, down) = (vector(&[("a", 1.0), ("b", 2.0)]), vector(&[("b", 2.0), ("a", 1.0)]));
        assert_eq!(ordered.diff("p", &up, "s", &down), ["order of values: p = [1, 2], s = [2, 1]"]);
    }

    #[test]
    fn errors_compare_by_type() {
        let error = |t: &str| Outcome::Error { error_type: t.into(), error: "whatever".into() };
        assert!(diff(&error("bad_data"), &error("bad_data")).is_empty());
        assert_eq!(diff(&error("bad_data"), &error("execution")).len(), 2);
        assert_eq!(
            diff(&error("bad_data"), &vector(&[])),
            ["p: error bad_data: whatever", "s: success, vector with 0 samples"]
        );
        assert_eq!(diff(&vector(&[]), &Outcome::Broken("HTTP 404".into())).len(), 2);
    }

    #[test]
    fn matrices_compare_point_by_point() {
        let series = |points: &[(i64, f64)]| {
            Outcome::Success(Data::Matrix(vec![(
                labels(&[("__name__", "m")]),
                points.iter().map(|(t, v)| Point { t_ms: *t, v: *v }).collect(),
            )]))
        };
        assert!(diff(&series(&[(1000, 1.0), (2000, f64::NAN)]), &series(&[(1000, 1.0), (2000, f64::NAN)])).is_empty());
        assert_eq!(
            diff(&series(&[(1000, 1.0), (2000, 2.0)]), &series(&[(1000, 1.5), (3000, 2.0)])),
            [
                "m{}: 3 of 3 points differ:\n        t=1.000: p = 1, s = 1.5\n        t=2.000: p = 2, s = (none)\n        \
              t=3.000: p = (none), s = 2"
            ]
        );
        let scalar = Outcome::Success(Data::Scalar(Point { t_ms: 1000, v: 1.0 }));
        assert_eq!(diff(&scalar, &vector(&[])), ["resultType: p = scalar (1 samples), s = vector (0 samples)"]);
    }
}
