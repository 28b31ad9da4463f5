//! The failover policy: which endpoint to try next, and when.
//!
//! - A round tries the endpoints in preference order, from the first, each right after the
//!   one before fails; the list is asked for again at the start of every round.
//! - When a whole round fails, the next round waits a jittered exponential backoff
//!   (0.5 s, 1 s, 2 s, ... up to 30 s, each 50-100 %) so a fleet does not reconnect in step.
//! - When an established stream breaks, the next round starts from the preferred endpoint
//!   after a short backoff: a sender never stays on a fallback just because it was there.
//! - While connected, the shipper checks every `aggregator.failback_interval` (default 1 m)
//!   whether the list, as it is now, has endpoints before the current one, and moves to the
//!   first of them that accepts a connection, after the batches in flight are acked: back
//!   from a fallback, or (with discovery, where the list changes) to a preferred endpoint
//!   that appeared after the stream began. Resuming is always from the aggregator's own
//!   durable seq (its answer to Hello).

use std::sync::Arc;
use std::time::Duration;

use crate::endpoints::EndpointSource;

const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// One connection attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attempt {
    /// The endpoint's place in the list (0 = preferred).
    pub(crate) index: usize,
    pub(crate) endpoint: String,
    /// How long to wait before trying.
    pub(crate) delay: Duration,
}

/// The policy's state.
pub(crate) struct Failover {
    source: Arc<dyn EndpointSource>,
    round: Vec<String>,
    next: usize,
    failed_rounds: u32,
    delay: Duration,
}

impl Failover {
    pub(crate) fn new(source: Arc<dyn EndpointSource>) -> Self {
        Self { source, round: Vec::new(), next: 0, failed_rounds: 0, delay: Duration::ZERO }
    }

    /// The next endpoint to try, or, when no endpoint is known, how long to wait before
    /// asking again.
    pub(crate) fn next_attempt(&mut self) -> Result<Attempt, Duration> {
        if self.next >= self.round.len() {
            self.round = self.source.endpoints();
            self.next = 0;
            if self.round.is_empty() {
                self.failed_rounds += 1;
                return Err(std::mem::take(&mut self.delay).max(backoff(self.failed_rounds)));
            }
        }
        let index = self.next;
        self.next += 1;
        Ok(Attempt { index, endpoint: self.round[index].clone(), delay: std::mem::take(&mut self.delay) })
    }

    /// The last attempt failed before the aggregator answered.
    pub(crate) fn attempt_failed(&mut self) {
        if self.next >= self.round.len() {
            self.failed_rounds += 1;
            self.delay = backoff(self.failed_rounds);
        }
    }

    /// A stream to the endpoint at `index` of the current list is established.
    pub(crate) fn connected(&mut self, index: usize) {
        self.failed_rounds = 0;
        self.delay = Duration::ZERO;
        self.next = index + 1;
    }

    /// A stream to `endpoint` was established out of turn (failback): the list is read
    /// again and the round goes on after it.
    pub(crate) fn switched_to(&mut self, endpoint: &str) {
        self.round = self.source.endpoints();
        let index = self.round.iter().position(|e| e == endpoint).unwrap_or(0);
        self.connected(index);
    }

    /// An established stream ended: start over from the preferred endpoint, shortly.
    pub(crate) fn link_lost(&mut self) {
        self.failed_rounds = 0;
        self.next = usize::MAX;
        self.delay = backoff(1);
    }

    /// The endpoints more preferred than `current`, best first (all of them if `current`
    /// is no longer listed).
    pub(crate) fn more_preferred(&self, current: &str) -> Vec<(usize, String)> {
        let list = self.source.endpoints();
        let end = list.iter().position(|e| e == current).unwrap_or(list.len());
        list.into_iter().take(end).enumerate().collect()
    }
}

/// Jittered exponential backoff: 0.5 s, 1 s, 2 s, ... up to 30 s, each scaled by a random
/// 50-100 % so that a fleet reconnecting after an aggregator restart spreads out.
pub(crate) fn backoff(failures: u32) -> Duration {
    let exp = BACKOFF_MIN.saturating_mul(1u32 << failures.saturating_sub(1).min(16)).min(BACKOFF_MAX);
    exp.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::StaticEndpoints;

    fn failover(list: &[&str]) -> Failover {
        Failover::new(Arc::new(StaticEndpoints(list.iter().map(|s| s.to_string()).collect())))
    }

    fn attempt(f: &mut Failover) -> (usize, bool) {
        let a = f.next_attempt().unwrap();
        (a.index, a.delay > Duration::ZERO)
    }

    #[test]
    fn a_round_tries_each_endpoint_at_once_then_backs_off() {
        let mut f = failover(&["a", "b", "c"]);
        assert_eq!(attempt(&mut f), (0, false));
        f.attempt_failed();
        assert_eq!(attempt(&mut f), (1, false));
        f.attempt_failed();
        assert_eq!(attempt(&mut f), (2, false));
        f.attempt_failed();
        // The whole round failed: the next starts from the preferred one, after a backoff.
        assert_eq!(attempt(&mut f), (0, true));
    }

    #[test]
    fn a_lost_link_starts_over_from_the_preferred_endpoint() {
        let mut f = failover(&["a", "b"]);
        assert_eq!(attempt(&mut f), (0, false));
        f.attempt_failed();
        assert_eq!(attempt(&mut f), (1, false));
        f.connected(1);
        f.link_lost();
        assert_eq!(attempt(&mut f), (0, true));
        f.attempt_failed();
        assert_eq!(attempt(&mut f), (1, false));
    }

    #[test]
    fn more_preferred_lists_the_endpoints_before_the_current_one() {
        let f = failover(&["a", "b", "c"]);
        assert_eq!(f.more_preferred("c"), [(0, "a".to_string()), (1, "b".to_string())]);
        assert!(f.more_preferred("a").is_empty());
        assert_eq!(f.more_preferred("gone").len(), 3);
    }

    /// A list that changes, as discovery's does.
    struct Changing(std::sync::Mutex<Vec<String>>);

    impl EndpointSource for Changing {
        fn endpoints(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    #[test]
    fn more_preferred_follows_a_changing_list() {
        let source = Arc::new(Changing(std::sync::Mutex::new(vec!["us".to_string()])));
        let mut f = Failover::new(source.clone());
        assert_eq!(attempt(&mut f), (0, false));
        f.connected(0);
        assert!(f.more_preferred("us").is_empty());
        // The sender's own region's aggregator appears ahead of the one it is on.
        *source.0.lock().unwrap() = vec!["eu".to_string(), "us".to_string()];
        assert_eq!(f.more_preferred("us"), [(0, "eu".to_string())]);
    }

    #[test]
    fn no_endpoint_known_waits() {
        let mut f = failover(&[]);
        assert!(f.next_attempt().is_err());
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for failures in 1..40 {
            let d = backoff(failures);
            assert!(d >= BACKOFF_MIN / 2 && d <= BACKOFF_MAX, "{failures}: {d:?}");
        }
        assert!(backoff(20) >= BACKOFF_MAX / 2);
    }
}
