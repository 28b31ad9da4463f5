//! The Prometheus text exposition format, version 0.0.4.

use std::fmt::Write as _;

use super::metadata::describe;
use crate::sample::{STALE_MARKER_BITS, Sample};

/// One collection as Prometheus text: per metric family a `# HELP` and a `# TYPE` line, then
/// its series, each with `host` added to its labels. Families are sorted by name and series by
/// labels, as node_exporter prints them, so two runs diff cleanly.
pub fn prometheus_text(samples: &[Sample], host: &str) -> String {
    let mut order: Vec<(&Sample, Vec<(&str, &str)>)> = samples
        .iter()
        // The text format has no stale markers: a series that ended is simply absent.
        .filter(|s| s.value.to_bits() != STALE_MARKER_BITS)
        .map(|s| {
            let mut labels: Vec<(&str, &str)> = s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            labels.push(("host", host));
            labels.sort_unstable();
            (s, labels)
        })
        .collect();
    order.sort_by(|(a, la), (b, lb)| a.name.cmp(&b.name).then_with(|| la.cmp(lb)));

    let mut out = String::with_capacity(samples.len() * 80);
    let mut family: Option<&str> = None;
    for (sample, labels) in &order {
        if family != Some(sample.name.as_str()) {
            let (kind, help) = describe(&sample.name);
            let _ = writeln!(out, "# HELP {} {}", sample.name, escape_help(&help));
            let _ = writeln!(out, "# TYPE {} {}", sample.name, kind.as_str());
            family = Some(&sample.name);
        }
        out.push_str(&sample.name);
        out.push('{');
        for (i, (name, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{name}=\"{}\"", escape_label(value));
        }
        out.push_str("} ");
        push_value(&mut out, sample.value);
        out.push('\n');
    }
    out
}

/// `\` and newline escaped, as HELP text needs.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// `\`, `"` and newline escaped, as label values need.
fn escape_label(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Go-like float text: integers without a fraction, very large or small numbers with an
/// exponent, and `NaN`, `+Inf`, `-Inf`.
fn push_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else if value == 0.0 || (1e-4..1e21).contains(&value.abs()) {
        let _ = write!(out, "{value}");
    } else {
        let _ = write!(out, "{value:e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_grouped_sorted_and_labelled() {
        let samples = vec![
            Sample::new("node_load1", 0.5),
            Sample::new("node_cpu_seconds_total", 2.5).label("mode", "user").label("cpu", "1"),
            Sample::new("node_network_info", 1.0).label("device", "eth0").label("ifalias", "a \"b\"\\c\nd"),
            Sample::new("node_cpu_seconds_total", 7742.05).label("cpu", "0").label("mode", "idle"),
        ];
        assert_eq!(
            prometheus_text(&samples, "web-1"),
            "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu=\"0\",host=\"web-1\",mode=\"idle\"} 7742.05
node_cpu_seconds_total{cpu=\"1\",host=\"web-1\",mode=\"user\"} 2.5
# HELP node_load1 1m load average.
# TYPE node_load1 gauge
node_load1{host=\"web-1\"} 0.5
# HELP node_network_info Non-numeric data from /sys/class/net/<iface>, value is always 1.
# TYPE node_network_info gauge
node_network_info{device=\"eth0\",host=\"web-1\",ifalias=\"a \\\"b\\\"\\\\c\\nd\"} 1
"
        );
    }

    #[test]
    fn values() {
        let text = |v: f64| {
            let mut s = String::new();
            push_value(&mut s, v);
            s
        };
        assert_eq!(text(0.0), "0");
        assert_eq!(text(-125000.0), "-125000");
        assert_eq!(text(270553174016.0), "270553174016");
        assert_eq!(text(1.7954402116981194e9), "1795440211.6981194");
        assert_eq!(text(5e-6), "5e-6");
        assert_eq!(text(1e300), "1e300");
        assert_eq!(text(f64::NAN), "NaN");
        assert_eq!(text(f64::NEG_INFINITY), "-Inf");
        // Every form reads back as the same number.
        for v in [5e-6, 1e300, 1795440211.6981194, -3.25] {
            assert_eq!(text(v).parse::<f64>().unwrap(), v);
        }
    }
}
