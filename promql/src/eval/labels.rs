//! Label-set helpers shared by functions, aggregations and vector matching.

use std::fmt::Write as _;

use sysmon_tsdb::{Labels, METRIC_NAME};

/// `labels` without `__name__`.
pub(crate) fn drop_metric_name(labels: &Labels) -> Labels {
    if labels.metric_name().is_none() {
        return labels.clone();
    }
    Labels::from_sorted(labels.pairs().iter().filter(|(n, _)| n != METRIC_NAME).cloned().collect())
}

/// [`drop_metric_name`] of labels the caller gives up: nothing is copied.
pub(crate) fn without_metric_name(labels: Labels) -> Labels {
    if labels.metric_name().is_none() {
        return labels;
    }
    let mut pairs = labels.into_pairs();
    pairs.retain(|(n, _)| n != METRIC_NAME);
    Labels::from_sorted(pairs)
}

/// Only the labels named in `names`.
pub(crate) fn keep_only(labels: &Labels, names: &[String]) -> Labels {
    Labels::from_sorted(labels.pairs().iter().filter(|(n, _)| names.contains(n)).cloned().collect())
}

/// `labels` without the ones named in `names`, and without `__name__` too when `drop_name`.
pub(crate) fn without(labels: &Labels, names: &[String], drop_name: bool) -> Labels {
    Labels::from_sorted(
        labels.pairs().iter().filter(|(n, _)| !(names.contains(n) || drop_name && n == METRIC_NAME)).cloned().collect(),
    )
}

/// `labels` with `name` set to `value`, or removed when `value` is empty.
pub(crate) fn with_label(labels: &Labels, name: &str, value: &str) -> Labels {
    let mut pairs: Vec<(String, String)> = labels.pairs().iter().filter(|(n, _)| n != name).cloned().collect();
    if !value.is_empty() {
        pairs.push((name.to_string(), value.to_string()));
    }
    Labels::new(pairs)
}

/// The key two series match on: with `on`, the values of the listed labels; otherwise
/// every label but the listed ones and `__name__`. Absent and empty labels are the same.
pub(crate) fn signature(labels: &Labels, on: bool, names: &[String]) -> String {
    let mut key = String::new();
    for (name, value) in labels.pairs() {
        let listed = names.contains(name);
        let included = if on { listed } else { !listed && name != METRIC_NAME };
        if included {
            key.push_str(name);
            key.push('\u{0}');
            key.push_str(value);
            key.push('\u{1}');
        }
    }
    key
}

/// Prometheus's rendering of a label set in error messages: `{__name__="up", job="node"}`.
pub(crate) fn format_labels(labels: &Labels) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in labels.pairs().iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{name}={value:?}");
    }
    out.push('}');
    out
}

/// Whether `name` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())))
    }

    #[test]
    fn signatures_ignore_the_name_unless_listed_with_on() {
        let a = labels(&[("__name__", "a"), ("x", "1"), ("y", "2")]);
        let b = labels(&[("__name__", "b"), ("x", "1"), ("y", "3")]);
        assert_ne!(signature(&a, false, &[]), signature(&b, false, &[]));
        assert_eq!(signature(&a, false, &["y".into()]), signature(&b, false, &["y".into()]));
        assert_eq!(signature(&a, true, &["x".into()]), signature(&b, true, &["x".into()]));
        assert_ne!(signature(&a, true, &["__name__".into()]), signature(&b, true, &["__name__".into()]));
    }

    #[test]
    fn formats_like_prometheus() {
        assert_eq!(format_labels(&labels(&[("__name__", "up"), ("job", "n")])), r#"{__name__="up", job="n"}"#);
        assert!(is_valid_label_name("_a1"));
        assert!(!is_valid_label_name("1a"));
        assert!(!is_valid_label_name(""));
    }
}
