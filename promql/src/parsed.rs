//! Parsed queries kept by their text: a dashboard sends the same few queries on every
//! refresh, and parsing one (lexer and LR parser, allocating each token) costs about as
//! much as answering a small query of one series.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use promql_parser::parser::Expr;

/// Most queries kept; when full, every one is dropped and the cache fills again.
const MAX_QUERIES: usize = 512;

/// Longest query text kept: longer ones (generated, seldom repeated) are parsed each time.
const MAX_QUERY_BYTES: usize = 4096;

/// Query text -> its parsed expression, shared by an engine's clones.
#[derive(Default)]
pub(crate) struct ParseCache {
    queries: Mutex<HashMap<String, Arc<Expr>>>,
}

impl ParseCache {
    /// `query` parsed, from the cache when it was parsed before. Errors are not kept.
    pub(crate) fn parse(&self, query: &str) -> Result<Arc<Expr>, String> {
        if let Some(expr) = self.lock().get(query) {
            return Ok(Arc::clone(expr));
        }
        let expr = Arc::new(promql_parser::parser::parse(query)?);
        if query.len() <= MAX_QUERY_BYTES {
            let mut queries = self.lock();
            if queries.len() >= MAX_QUERIES {
                queries.clear();
            }
            queries.insert(query.to_string(), Arc::clone(&expr));
        }
        Ok(expr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Expr>>> {
        // A panic while the map was held cannot leave it half-changed: insert and clear
        // are whole operations.
        self.queries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for ParseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParseCache").field("queries", &self.lock().len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_parsed_again_is_the_same_expression() {
        let cache = ParseCache::default();
        let first = cache.parse("rate(x[5m])").unwrap();
        assert!(Arc::ptr_eq(&first, &cache.parse("rate(x[5m])").unwrap()));
        assert_eq!(*first, promql_parser::parser::parse("rate(x[5m])").unwrap());
        assert!(cache.parse("rate(x[5m]").is_err());
        assert!(cache.parse("rate(x[5m]").is_err());
        assert_eq!(cache.lock().len(), 1);
    }

    #[test]
    fn a_full_cache_starts_over_and_long_queries_are_not_kept() {
        let cache = ParseCache::default();
        for i in 0..MAX_QUERIES {
            cache.parse(&format!("x{i}")).unwrap();
        }
        assert_eq!(cache.lock().len(), MAX_QUERIES);
        cache.parse("y").unwrap();
        assert_eq!(cache.lock().len(), 1);
        let long = format!("x{}", "0".repeat(MAX_QUERY_BYTES));
        cache.parse(&long).unwrap();
        assert_eq!(cache.lock().len(), 1);
    }
}
