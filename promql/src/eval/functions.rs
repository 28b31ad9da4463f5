//! Function calls: dispatch by name, and the functions over instant vectors and scalars.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use promql_parser::parser::{Call, Expr, MatrixSelector};
use sysmon_tsdb::Labels;

use crate::error::{Error, Result};
use crate::eval::evaluator::{Evaluator, unwrap_parens};
use crate::eval::labels::without_metric_name;
use crate::eval::range_functions::{RangeFunction, SlideBuffers, eval_points, eval_range_function, result_series};
use crate::eval::selectors::{self, absent_labels, eval_vector_selector, window_bounds};
use crate::eval::series_set::merge_same_labels;
use crate::eval::types::{Evaluated, RangeInput, Series, Steps};
use crate::eval::{date, histogram, label_functions, rollup};
use crate::storage::{SampleColumns, is_stale_marker};

/// Evaluates a function call at every step.
pub(crate) fn eval_call(ev: &mut Evaluator<'_>, call: &Call, steps: Steps) -> Result<Evaluated> {
    let name = call.func.name;
    let args: Vec<&Expr> = call.args.args.iter().map(|a| a.as_ref()).collect();
    if let Some(func) = RangeFunction::from_name(name) {
        return eval_range_call(ev, func, &args, steps).map(Evaluated::Vector);
    }
    let n = steps.len();
    let series = match name {
        "time" => return Ok(Evaluated::Scalar(steps.times().map(|t| t as f64 / 1000.0).collect())),
        "pi" => return Ok(Evaluated::Scalar(vec![std::f64::consts::PI; n])),
        "scalar" => {
            // Series by series (cache-friendly): how many have a value at each step.
            let input = ev.eval_vector(arg(&args, 0)?, steps)?;
            let mut count = vec![0u32; n];
            let mut value = vec![f64::NAN; n];
            for s in &input {
                for ((c, out), v) in count.iter_mut().zip(value.iter_mut()).zip(&s.values) {
                    if let Some(v) = v {
                        *c += 1;
                        *out = *v;
                    }
                }
            }
            let values = count.into_iter().zip(value).map(|(c, v)| if c == 1 { v } else { f64::NAN }).collect();
            return Ok(Evaluated::Scalar(values));
        }
        "vector" => {
            let values = ev.eval_scalar(arg(&args, 0)?, steps)?;
            vec![Series { labels: Labels::default(), values: values.into_iter().map(Some).collect() }]
        }
        "absent_over_time" => absent_over_time(ev, arg(&args, 0)?, steps)?,
        "absent" => {
            let expr = arg(&args, 0)?;
            let input = ev.eval_vector(expr, steps)?;
            let labels = match unwrap_parens(expr) {
                Expr::VectorSelector(vs) => absent_labels(vs),
                _ => Labels::default(),
            };
            let mut present = vec![false; n];
            for s in &input {
                for (p, v) in present.iter_mut().zip(&s.values) {
                    *p |= v.is_some();
                }
            }
            let values = present.into_iter().map(|p| (!p).then_some(1.0)).collect();
            vec![Series { labels, values }]
        }
        "timestamp" => {
            let expr = arg(&args, 0)?;
            let input = match unwrap_parens(expr) {
                Expr::VectorSelector(vs) => eval_vector_selector(ev, vs, steps, true)?,
                _ => {
                    let mut input = ev.eval_vector(expr, steps)?;
                    for s in &mut input {
                        for (i, v) in s.values.iter_mut().enumerate() {
                            if v.is_some() {
                                *v = Some(steps.time(i) as f64 / 1000.0);
                            }
                        }
                    }
                    input
                }
            };
            map_values(input, |_, v| Some(v))?
        }
        // In a range query the order is the labels'; the engine orders an instant query's
        // result by value when the outermost call is one of these.
        "sort" | "sort_desc" => ev.eval_vector(arg(&args, 0)?, steps)?,
        "label_replace" => {
            label_functions::label_replace(ev.eval_vector(arg(&args, 0)?, steps)?, &string_args(&args)?)?
        }
        "label_join" => label_functions::label_join(ev.eval_vector(arg(&args, 0)?, steps)?, &string_args(&args)?)?,
        "histogram_quantile" => {
            let q = ev.eval_scalar(arg(&args, 0)?, steps)?;
            let input = ev.eval_vector(arg(&args, 1)?, steps)?;
            histogram::histogram_quantile(&q, input)?
        }
        // Native-histogram functions: sysmon stores only floats, which they ignore.
        "histogram_count" | "histogram_sum" | "histogram_fraction" => Vec::new(),
        "clamp" => {
            let input = ev.eval_vector(arg(&args, 0)?, steps)?;
            let min = ev.eval_scalar(arg(&args, 1)?, steps)?;
            let max = ev.eval_scalar(arg(&args, 2)?, steps)?;
            // Written as Prometheus does: a NaN bound does not drop the point.
            map_values(input, |i, v| {
                (max[i].partial_cmp(&min[i]) != Some(std::cmp::Ordering::Less))
                    .then(|| go_max(min[i], go_min(max[i], v)))
            })?
        }
        "clamp_max" => {
            let input = ev.eval_vector(arg(&args, 0)?, steps)?;
            let max = ev.eval_scalar(arg(&args, 1)?, steps)?;
            map_values(input, |i, v| Some(go_min(max[i], v)))?
        }
        "clamp_min" => {
            let input = ev.eval_vector(arg(&args, 0)?, steps)?;
            let min = ev.eval_scalar(arg(&args, 1)?, steps)?;
            map_values(input, |i, v| Some(go_max(min[i], v)))?
        }
        "round" => {
            let input = ev.eval_vector(arg(&args, 0)?, steps)?;
            let to_nearest = match args.get(1) {
                Some(expr) => ev.eval_scalar(expr, steps)?,
                None => vec![1.0; n],
            };
            map_values(input, |i, v| {
                // Prometheus divides by the inverse: it causes fewer rounding surprises.
                let inverse = 1.0 / to_nearest[i];
                Some((v * inverse + 0.5).floor() / inverse)
            })?
        }
        _ => {
            if let Some(func) = date::DateFunction::from_name(name) {
                return date_call(ev, func, &args, steps).map(Evaluated::Vector);
            }
            let Some(f) = simple_function(name) else {
                return Err(Error::BadQuery(format!("unknown function with name {name:?}")));
            };
            let input = ev.eval_vector(arg(&args, 0)?, steps)?;
            map_values(input, |_, v| Some(f(v)))?
        }
    };
    Ok(Evaluated::Vector(series))
}

fn arg<'e>(args: &[&'e Expr], index: usize) -> Result<&'e Expr> {
    args.get(index).copied().ok_or_else(|| Error::BadQuery(format!("missing argument {}", index + 1)))
}

/// The string literals among `args`, in order (the first argument is not one).
fn string_args(args: &[&Expr]) -> Result<Vec<String>> {
    args.iter()
        .skip(1)
        .map(|a| match unwrap_parens(a) {
            Expr::StringLiteral(s) => Ok(s.val.clone()),
            _ => Err(Error::BadQuery("expected a string literal argument".into())),
        })
        .collect()
}

/// Applies `f(step, value)` to every value, dropping the metric name; a `None` result
/// removes the point.
fn map_values(input: Vec<Series>, f: impl Fn(usize, f64) -> Option<f64>) -> Result<Vec<Series>> {
    let out = input
        .into_iter()
        .map(|s| Series {
            labels: without_metric_name(s.labels),
            values: s.values.into_iter().enumerate().map(|(i, v)| v.and_then(|v| f(i, v))).collect(),
        })
        .collect();
    merge_same_labels(out)
}

/// A range-vector function: from a rollup tier where one answers it exactly; otherwise
/// evaluates its scalar arguments and the range, then slides.
fn eval_range_call(ev: &mut Evaluator<'_>, func: RangeFunction, args: &[&Expr], steps: Steps) -> Result<Vec<Series>> {
    if let Some(series) = rollup::eval_from_tier(ev, func, args, steps)? {
        return Ok(series);
    }
    let range_index = func.range_arg_index();
    if let Some(Expr::MatrixSelector(ms)) = args.get(range_index).map(|a| unwrap_parens(a)) {
        let mut scalars = Vec::new();
        for (i, expr) in args.iter().enumerate() {
            if i != range_index {
                scalars.push(ev.eval_scalar(expr, steps)?);
            }
        }
        return eval_range_over_selector(ev, func, ms, &scalars, steps);
    }
    let mut scalars = Vec::new();
    let mut range = None;
    for (i, expr) in args.iter().enumerate() {
        if i == range_index {
            range = Some(eval_range(ev, expr, steps)?);
        } else {
            scalars.push(ev.eval_scalar(expr, steps)?);
        }
    }
    let mut range = range.ok_or_else(|| Error::BadQuery("missing range vector argument".into()))?;
    // The result's values at every step, counted before they are allocated.
    ev.add_samples(range.series.len().saturating_mul(steps.len()))?;
    if func == RangeFunction::PredictLinear && range.at_ms.is_some() {
        // Prometheus evaluates this call at each step (its result depends on the step
        // time), reading the `@` window shifted by the step's distance from the start.
        range.drift_start_ms = Some(steps.start_ms);
    }
    eval_range_function(func, &range, steps, &scalars, ev.deadline(), ev.threads())
}

/// A range-vector function over a range selector: each series' samples are reduced to
/// the function's values as the store reads them ([`crate::Storage::select_with`]), never all
/// held at once. Limits as [`selectors::fetch`] and [`eval_range_call`] count them.
fn eval_range_over_selector(
    ev: &mut Evaluator<'_>,
    func: RangeFunction,
    ms: &MatrixSelector,
    scalars: &[Vec<f64>],
    steps: Steps,
) -> Result<Vec<Series>> {
    ev.check_deadline("selecting series")?;
    let (mut input, (start_ms, end_ms)) = selectors::matrix_windows(ev, ms, steps)?;
    if func == RangeFunction::PredictLinear && input.at_ms.is_some() {
        // As in `eval_range_call`.
        input.drift_start_ms = Some(steps.start_ms);
    }
    let matchers = selectors::matchers(&ms.vs)?;
    let deadline = ev.deadline();
    let samples = AtomicUsize::new(0);
    let failure = Mutex::new(None);
    let per_series = |_: &Labels, points: SampleColumns<'_>| {
        samples.fetch_add(points.len(), Ordering::Relaxed);
        let values = deadline
            .check("evaluating a range function")
            .and_then(|()| eval_points(func, points, &input, steps, scalars, &mut SlideBuffers::new(scalars)));
        match values {
            Ok(values) => Some(values),
            Err(error) => {
                if let Ok(mut failure) = failure.lock() {
                    failure.get_or_insert(error);
                }
                None
            }
        }
    };
    let reduced = ev.storage().select_with(&matchers, start_ms, end_ms, &per_series).map_err(Error::Storage)?;
    if let Some(error) =
        failure.into_inner().map_err(|_| Error::Execution("a range-function worker panicked".into()))?
    {
        return Err(error);
    }
    let limit = ev.limits().max_series_per_selector;
    if reduced.len() > limit {
        return Err(Error::TooManySeries { selector: ms.vs.to_string(), found: reduced.len(), limit });
    }
    ev.add_samples(samples.into_inner())?;
    ev.add_samples(reduced.len().saturating_mul(steps.len()))?;
    let series = reduced.into_iter().map(|(labels, values)| Series { labels, values }).collect();
    result_series(func, series)
}

fn eval_range(ev: &mut Evaluator<'_>, expr: &Expr, steps: Steps) -> Result<RangeInput> {
    match ev.eval(expr, steps)? {
        Evaluated::Range(range) => Ok(range),
        other => Err(Error::BadQuery(format!("expected range vector, got {}", other.type_name()))),
    }
}

/// `absent_over_time`: 1 at the steps where no series has a sample in the window.
fn absent_over_time(ev: &mut Evaluator<'_>, expr: &Expr, steps: Steps) -> Result<Vec<Series>> {
    let range = eval_range(ev, expr, steps)?;
    let values = steps
        .times()
        .map(|ts| {
            let end = range.window_end(ts);
            let present = range.series.iter().any(|s| {
                let (lo, hi) = window_bounds(&s.points, end - range.range_ms, end);
                s.points[lo..hi].iter().any(|&(_, v)| !is_stale_marker(v))
            });
            (!present).then_some(1.0)
        })
        .collect();
    Ok(vec![Series { labels: range.absent_labels, values }])
}

/// A date function: of the argument's values, or of the step times when there is none.
fn date_call(ev: &mut Evaluator<'_>, func: date::DateFunction, args: &[&Expr], steps: Steps) -> Result<Vec<Series>> {
    match args.first() {
        None => {
            let values = steps.times().map(|t| Some(func.apply(t.div_euclid(1000)))).collect();
            Ok(vec![Series { labels: Labels::default(), values }])
        }
        Some(expr) => {
            let input = ev.eval_vector(expr, steps)?;
            map_values(input, |_, v| Some(func.apply(date::go_float_to_int(v))))
        }
    }
}

/// Go's `math.Max`: +Inf wins, then NaN, and +0 beats -0.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a == f64::INFINITY || b == f64::INFINITY {
        f64::INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_positive() { a } else { b }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: -Inf wins, then NaN, and -0 beats +0.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY || b == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() { a } else { b }
    } else if a < b {
        a
    } else {
        b
    }
}

/// The functions that map each value on its own.
fn simple_function(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "sgn" => |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}
