//! PromQL series selectors (`up{job="node"}`, `{__name__=~"node_.*"}`) as the store's
//! matchers: the Prometheus API's `match[]` and `federation.replicate` read them alike.

use sysmon_tsdb::Matcher;

/// A series selector into matchers. The message says what is wrong with `text`.
pub(crate) fn parse_selector(text: &str) -> Result<Vec<Matcher>, String> {
    let expr = promql_parser::parser::parse(text)?;
    let promql_parser::parser::Expr::VectorSelector(selector) = expr else {
        return Err(format!("{text:?} is not a series selector"));
    };
    if !selector.matchers.or_matchers.is_empty() {
        return Err("selectors with `or` are not supported".into());
    }
    let mut matchers = Vec::with_capacity(selector.matchers.matchers.len() + 1);
    if let Some(name) = &selector.name {
        matchers.push(Matcher::equal(sysmon_tsdb::METRIC_NAME, name.clone()));
    }
    for m in &selector.matchers.matchers {
        use promql_parser::label::MatchOp;
        let matcher = match &m.op {
            MatchOp::Equal => Matcher::equal(&m.name, &m.value),
            MatchOp::NotEqual => Matcher::not_equal(&m.name, &m.value),
            MatchOp::Re(_) => Matcher::regex(&m.name, &m.value).map_err(|e| e.to_string())?,
            MatchOp::NotRe(_) => Matcher::not_regex(&m.name, &m.value).map_err(|e| e.to_string())?,
        };
        matchers.push(matcher);
    }
    if matchers.iter().all(|m| m.matches_empty()) {
        return Err(format!("{text:?} must contain at least one non-empty matcher"));
    }
    Ok(matchers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_must_select_something() {
        assert!(parse_selector("{job=~\".*\"}").unwrap_err().contains("at least one non-empty matcher"));
        assert!(parse_selector("rate(up[5m])").unwrap_err().contains("not a series selector"));
        assert_eq!(parse_selector("{__name__=~\"node_.+\"}").unwrap().len(), 1);
        assert_eq!(parse_selector("node_load1{host!=\"a\"}").unwrap().len(), 2);
    }
}
