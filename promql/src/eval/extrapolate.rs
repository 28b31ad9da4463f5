//! The extrapolation of `rate`, `increase` and `delta`: a window's change stretched to the
//! window's edges, as Prometheus does, window after window with what the sample times alone
//! decide worked out once per shape of window.

/// What `rate`, `increase` and `delta` need of a window of at least two samples.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowEdges {
    /// The first sample's time and value.
    pub(crate) first_t: i64,
    pub(crate) first_v: f64,
    /// The last sample's time.
    pub(crate) last_t: i64,
    /// How many samples.
    pub(crate) count: usize,
    /// The last value minus the first, plus (for counters) the value before each reset,
    /// added in time order.
    pub(crate) change: f64,
}

/// The window's `change` extrapolated towards its edges `[range_start, range_end]` unless
/// the gap there is more than 1.1 average intervals, never below zero for counters; per
/// second of the range for `rate`.
pub(crate) fn extrapolate(e: &WindowEdges, range_start: i64, range_end: i64, is_counter: bool, is_rate: bool) -> f64 {
    Extrapolation::new(is_counter, is_rate).value(e, range_start, range_end)
}

/// [`extrapolate`] for one window after another. Most of the arithmetic depends only on
/// where the samples lie in the window and how many there are, and windows of regular
/// samples at regular steps all look the same: the last window's shape is kept, and a
/// window of the same shape costs one multiplication, unless its counter could reach zero
/// before its start.
pub(crate) struct Extrapolation {
    is_counter: bool,
    is_rate: bool,
    last: Option<Shape>,
}

/// What the sample times of a window decide: everything but the zero point of a counter.
#[derive(Clone, Copy)]
struct Shape {
    /// From the first sample to the window start, from the last sample to the window end,
    /// from the first sample to the last (all ms), the sample count, and the range (ms).
    key: [i64; 5],
    sampled_interval: f64,
    duration_to_start: f64,
    duration_to_end: f64,
    average_between_samples: f64,
    threshold: f64,
    /// The divisor of the extrapolated change.
    interval: f64,
    /// `extrapolate_to / interval` with no zero point.
    factor: f64,
    /// A duration is within rounding of the threshold: Prometheus's exact arithmetic decides.
    exact: bool,
}

/// Whether `a` and `b` are within a rounding step of each other, relative to their size.
fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

impl Shape {
    // Prometheus divides by 1000 and by the sample count; multiplying by reciprocals is
    // within a rounding step of that, which only matters where a comparison is that close
    // to its boundary: those few windows take Prometheus's exact path.
    fn of(key: [i64; 5], is_rate: bool) -> Shape {
        let [to_start_ms, to_end_ms, sampled_ms, count, range_ms] = key;
        let sampled_interval = sampled_ms as f64 * 0.001;
        let duration_to_start = to_start_ms as f64 * 0.001;
        let duration_to_end = to_end_ms as f64 * 0.001;
        let average_between_samples = sampled_interval * (1.0 / (count - 1) as f64);
        let threshold = average_between_samples * 1.1;
        let exact = near(duration_to_start, threshold) || near(duration_to_end, threshold);
        let interval = if is_rate { sampled_interval * (range_ms as f64 * 0.001) } else { sampled_interval };
        let mut shape = Shape {
            key,
            sampled_interval,
            duration_to_start,
            duration_to_end,
            average_between_samples,
            threshold,
            interval,
            factor: 0.0,
            exact,
        };
        shape.factor = shape.extrapolate_to(duration_to_start) / interval;
        shape
    }

    /// Whether a window with this key has this shape. Compares without branches (and without
    /// the call to `memcmp` that `==` on arrays compiles to).
    fn fits(&self, key: &[i64; 5]) -> bool {
        self.key.iter().zip(key).fold(0, |differ, (a, b)| differ | (a ^ b)) == 0
    }

    /// The sampled interval stretched towards both edges, from `duration_to_start` (the
    /// shape's, or a counter's zero point when that is nearer).
    fn extrapolate_to(&self, duration_to_start: f64) -> f64 {
        let half = self.average_between_samples / 2.0;
        let mut extrapolate_to = self.sampled_interval;
        extrapolate_to += if duration_to_start < self.threshold { duration_to_start } else { half };
        extrapolate_to += if self.duration_to_end < self.threshold { self.duration_to_end } else { half };
        extrapolate_to
    }
}

impl Extrapolation {
    /// For counters (`rate`, `increase`) or not (`delta`); per second (`rate`) or not.
    pub(crate) fn new(is_counter: bool, is_rate: bool) -> Extrapolation {
        Extrapolation { is_counter, is_rate, last: None }
    }

    /// Whether counter resets count (`rate`, `increase`).
    pub(crate) fn is_counter(&self) -> bool {
        self.is_counter
    }

    /// [`extrapolate`] of this window.
    #[inline]
    pub(crate) fn value(&mut self, e: &WindowEdges, range_start: i64, range_end: i64) -> f64 {
        let key = [
            e.first_t - range_start,
            range_end - e.last_t,
            e.last_t - e.first_t,
            e.count as i64,
            range_end - range_start,
        ];
        let shape = match self.last {
            Some(shape) if shape.fits(&key) => shape,
            _ => *self.last.insert(Shape::of(key, self.is_rate)),
        };
        if shape.exact {
            return extrapolate_exact(e, range_start, range_end, self.is_counter, self.is_rate);
        }
        // Zero point: only when it could come before the window start. The product test is a
        // margin-wide shortcut past the division; the decision itself is Prometheus's.
        let (result, first_v) = (e.change, e.first_v);
        if self.is_counter
            && result > 0.0
            && first_v >= 0.0
            && shape.sampled_interval * first_v < 2.0 * shape.duration_to_start * result
        {
            let duration_to_zero = shape.sampled_interval * (first_v / result);
            if near(duration_to_zero, shape.duration_to_start) || near(duration_to_zero, shape.threshold) {
                return extrapolate_exact(e, range_start, range_end, self.is_counter, self.is_rate);
            }
            if duration_to_zero < shape.duration_to_start {
                return result * (shape.extrapolate_to(duration_to_zero) / shape.interval);
            }
        }
        result * shape.factor
    }
}

/// [`extrapolate`] with Prometheus's own arithmetic, step by step.
#[cold]
#[inline(never)]
fn extrapolate_exact(e: &WindowEdges, range_start: i64, range_end: i64, is_counter: bool, is_rate: bool) -> f64 {
    let result = e.change;
    let mut duration_to_start = (e.first_t - range_start) as f64 / 1000.0;
    let duration_to_end = (range_end - e.last_t) as f64 / 1000.0;
    let sampled_interval = (e.last_t - e.first_t) as f64 / 1000.0;
    let average_between_samples = sampled_interval / (e.count - 1) as f64;
    if is_counter && result > 0.0 && e.first_v >= 0.0 {
        let duration_to_zero = sampled_interval * (e.first_v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    let threshold = average_between_samples * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if duration_to_start < threshold { duration_to_start } else { average_between_samples / 2.0 };
    extrapolate_to += if duration_to_end < threshold { duration_to_end } else { average_between_samples / 2.0 };
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= (range_end - range_start) as f64 / 1000.0;
    }
    result * factor
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Windows of a few shapes in a row, some counters near their zero point, some with a
    /// gap at an edge: each value must have the bits of a window computed on its own.
    #[test]
    fn a_kept_shape_gives_the_bits_of_a_fresh_one() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for (is_counter, is_rate) in [(true, true), (true, false), (false, false)] {
            let mut kept = Extrapolation::new(is_counter, is_rate);
            for step in 0..5_000i64 {
                let range_end = 1_700_000_000_000 + step * 60_000;
                let range_start = range_end - 300_000;
                // Three shapes, so that the kept one both fits and does not.
                let shape = next(3) as i64;
                let first_t = range_start + shape * 4_000;
                let count = 25 + shape as usize;
                let last_t = first_t + 10_000 * (count as i64 - 1) - shape * 1_000;
                let first_v = if next(4) == 0 { next(50) as f64 * 0.5 } else { 1e5 + next(1_000_000) as f64 / 100.0 };
                let change = next(40_000) as f64 / 100.0 - if is_counter { 0.0 } else { 200.0 };
                let e = WindowEdges { first_t, first_v, last_t, count, change };
                let fresh = extrapolate(&e, range_start, range_end, is_counter, is_rate);
                assert_eq!(kept.value(&e, range_start, range_end).to_bits(), fresh.to_bits(), "{e:?}");
                let exact = extrapolate_exact(&e, range_start, range_end, is_counter, is_rate);
                assert!((fresh - exact).abs() <= 1e-12 * exact.abs(), "{e:?}: {fresh} against {exact}");
            }
        }
    }
}
