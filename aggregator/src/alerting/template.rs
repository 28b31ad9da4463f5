//! Annotation templates, kept minimal: `{{ $labels.NAME }}` becomes the alert's label NAME
//! (empty when it has none) and `{{ $value }}` the expression's value; any other `{{ ... }}`
//! is left as written.

use std::collections::BTreeMap;

/// `text` with its placeholders replaced.
pub(crate) fn expand(text: &str, labels: &BTreeMap<String, String>, value: f64) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}").map(|c| open + c) else { break };
        out.push_str(&rest[..open]);
        let inner = rest[open + 2..close].trim();
        if inner == "$value" {
            out.push_str(&value.to_string());
        } else if let Some(name) = inner.strip_prefix("$labels.") {
            out.push_str(labels.get(name).map_or("", String::as_str));
        } else {
            out.push_str(&rest[open..close + 2]);
        }
        rest = &rest[close + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_value_are_replaced_and_the_rest_kept() {
        let labels: BTreeMap<String, String> = [("host".to_string(), "web-1".to_string())].into();
        assert_eq!(expand("load on {{ $labels.host }} is {{$value}}", &labels, 4.5), "load on web-1 is 4.5");
        assert_eq!(
            expand("{{ $labels.nope }}|{{ humanize $value }}|{{ open", &labels, 1.0),
            "|{{ humanize $value }}|{{ open"
        );
    }
}
