//! `label_replace` and `label_join`: new label sets, computed once per series.

use regex::Regex;

use crate::error::{Error, Result};
use crate::eval::labels::{is_valid_label_name, with_label};
use crate::eval::series_set::merge_same_labels;
use crate::eval::types::Series;

/// `label_replace(v, dst, replacement, src, regex)`: where `regex` matches all of `src`'s
/// value, sets `dst` to `replacement` with `$1`-style references expanded.
pub(crate) fn label_replace(input: Vec<Series>, strings: &[String]) -> Result<Vec<Series>> {
    let [dst, replacement, src, pattern] = strings else {
        return Err(Error::BadQuery("label_replace takes a vector and four strings".into()));
    };
    let regex = Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|_| Error::Execution(format!("invalid regular expression in label_replace(): {pattern}")))?;
    if !is_valid_label_name(dst) {
        return Err(Error::Execution(format!("invalid destination label name in label_replace(): {dst}")));
    }
    let out = input
        .into_iter()
        .map(|s| {
            let value = s.labels.get(src).unwrap_or("");
            let labels = match regex.captures(value) {
                None => s.labels,
                Some(captures) => {
                    let mut expanded = String::new();
                    captures.expand(replacement, &mut expanded);
                    with_label(&s.labels, dst, &expanded)
                }
            };
            Series { labels, values: s.values }
        })
        .collect();
    merge_same_labels(out)
}

/// `label_join(v, dst, separator, src...)`: sets `dst` to the `src` values joined.
pub(crate) fn label_join(input: Vec<Series>, strings: &[String]) -> Result<Vec<Series>> {
    let [dst, separator, sources @ ..] = strings else {
        return Err(Error::BadQuery("label_join takes a vector, a destination and a separator".into()));
    };
    if let Some(bad) = sources.iter().find(|s| !is_valid_label_name(s)) {
        return Err(Error::Execution(format!("invalid source label name in label_join(): {bad}")));
    }
    if !is_valid_label_name(dst) {
        return Err(Error::Execution(format!("invalid destination label name in label_join(): {dst}")));
    }
    let out = input
        .into_iter()
        .map(|s| {
            let joined = sources.iter().map(|src| s.labels.get(src).unwrap_or("")).collect::<Vec<_>>().join(separator);
            Series { labels: with_label(&s.labels, dst, &joined), values: s.values }
        })
        .collect();
    merge_same_labels(out)
}
