//! Persistent heavy-user detection: a user whose share of a resource stays above its
//! threshold at every collection for `persistent_time` is heavy until a collection finds it
//! at or below the threshold.
//!
//! An episode begins at the first collection above the threshold. When it has lasted
//! `persistent_time` it is reported: `heavy_user_start`, and `sysmon_user_heavy` turns 1.
//! When it ends, a reported episode sends `heavy_user_end` with its start, end, peak and
//! time-weighted average share; an episode that ends sooner was a burst and is not
//! reported. Episodes are kept in the state file, so an agent restart shorter than
//! [`max_restart_gap`] continues them with their start, peak and average.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::Resource;
use crate::event::AgentEvent;

/// Why an episode ended (the `reason` attribute of `heavy_user_end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndReason {
    /// A collection found the user at or below the threshold.
    BelowThreshold,
    /// The user has no processes left.
    NoProcesses,
    /// The threshold was switched off.
    DetectionOff,
    /// The agent was down too long to say whether the episode went on; it ends at the last
    /// collection that saw it.
    AgentDown,
}

impl EndReason {
    fn as_str(self) -> &'static str {
        match self {
            EndReason::BelowThreshold => "below_threshold",
            EndReason::NoProcesses => "no_processes",
            EndReason::DetectionOff => "detection_off",
            EndReason::AgentDown => "agent_down",
        }
    }
}

/// One user above one threshold, as the state file keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Episode {
    pub(crate) user: String,
    pub(crate) resource: Resource,
    /// The first collection above the threshold, unix ms.
    pub(crate) start_ms: i64,
    /// The latest collection above the threshold, unix ms.
    pub(crate) last_ms: i64,
    /// The highest share seen.
    pub(crate) peak: f64,
    /// Sum of share x milliseconds it covered, and the milliseconds: the average's parts.
    pub(crate) weighted_sum: f64,
    pub(crate) weight_ms: f64,
    /// The threshold at the latest collection.
    pub(crate) threshold: f64,
    /// Whether `heavy_user_start` was sent (the episode lasted `persistent_time`).
    pub(crate) reported: bool,
}

impl Episode {
    fn average(&self) -> f64 {
        if self.weight_ms > 0.0 { self.weighted_sum / self.weight_ms } else { self.peak }
    }
}

/// The longest agent downtime across which an episode continues: `persistent_time`, but at
/// least a minute, so that a quick restart never ends one.
pub(crate) fn max_restart_gap(persistent_time: Duration) -> i64 {
    persistent_time.max(Duration::from_secs(60)).as_millis() as i64
}

/// Every user's episodes.
#[derive(Debug)]
pub(crate) struct HeavyTracker {
    persistent_ms: i64,
    episodes: BTreeMap<(String, Resource), Episode>,
}

impl HeavyTracker {
    pub(crate) fn new(persistent_time: Duration) -> Self {
        Self { persistent_ms: persistent_time.as_millis() as i64, episodes: BTreeMap::new() }
    }

    /// Takes the episodes a previous agent saved at `saved_ms`. If the agent was down longer
    /// than [`max_restart_gap`], reported episodes end (at their last collection) and
    /// unreported ones are dropped; otherwise they all go on.
    pub(crate) fn restore(
        &mut self,
        episodes: Vec<Episode>,
        saved_ms: i64,
        now_ms: i64,
        max_gap_ms: i64,
        events: &mut Vec<AgentEvent>,
    ) {
        let continues = (0..=max_gap_ms).contains(&(now_ms - saved_ms));
        for episode in episodes {
            if continues {
                self.episodes.insert((episode.user.clone(), episode.resource), episode);
            } else if episode.reported {
                events.push(end_event(&episode, episode.last_ms, EndReason::AgentDown));
            }
        }
    }

    /// Takes one collection's `share` of `resource` for `user`, which covers the `dt_ms`
    /// before `now_ms`. `share` is `None` when it is not known this time (CPU in the first
    /// collection after a start), which neither extends nor ends an episode. Returns whether
    /// the user is now reported heavy.
    #[allow(clippy::too_many_arguments, reason = "one reading with its context; a struct would only rename them")]
    pub(crate) fn observe(
        &mut self,
        now_ms: i64,
        dt_ms: i64,
        user: &str,
        resource: Resource,
        share: Option<f64>,
        threshold: Option<f64>,
        events: &mut Vec<AgentEvent>,
    ) -> bool {
        let key = (user.to_string(), resource);
        let Some(threshold) = threshold else {
            self.end(&key, now_ms, EndReason::DetectionOff, events);
            return false;
        };
        let Some(share) = share else {
            return self.episodes.get(&key).is_some_and(|e| e.reported);
        };
        if share <= threshold {
            self.end(&key, now_ms, EndReason::BelowThreshold, events);
            return false;
        }
        let weight = dt_ms.max(1) as f64;
        let episode = self.episodes.entry(key).or_insert_with(|| Episode {
            user: user.to_string(),
            resource,
            start_ms: now_ms,
            last_ms: now_ms,
            peak: share,
            weighted_sum: 0.0,
            weight_ms: 0.0,
            threshold,
            reported: false,
        });
        episode.last_ms = now_ms;
        episode.peak = episode.peak.max(share);
        episode.weighted_sum += share * weight;
        episode.weight_ms += weight;
        episode.threshold = threshold;
        if !episode.reported && now_ms - episode.start_ms >= self.persistent_ms {
            episode.reported = true;
            events.push(start_event(episode, now_ms));
        }
        episode.reported
    }

    /// Ends the episodes of users for which `present` is false: they have no processes.
    pub(crate) fn end_absent(&mut self, now_ms: i64, present: impl Fn(&str) -> bool, events: &mut Vec<AgentEvent>) {
        let gone: Vec<_> = self.episodes.keys().filter(|(user, _)| !present(user)).cloned().collect();
        for key in gone {
            self.end(&key, now_ms, EndReason::NoProcesses, events);
        }
    }

    fn end(&mut self, key: &(String, Resource), now_ms: i64, reason: EndReason, events: &mut Vec<AgentEvent>) {
        if let Some(episode) = self.episodes.remove(key)
            && episode.reported
        {
            events.push(end_event(&episode, now_ms, reason));
        }
    }

    /// Every open episode, reported or not, in (user, resource) order.
    pub(crate) fn episodes(&self) -> impl Iterator<Item = &Episode> {
        self.episodes.values()
    }
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_else(|_| format!("{ms} ms"))
}

fn duration_text(ms: i64) -> String {
    humantime::format_duration(Duration::from_secs((ms.max(0) / 1000) as u64)).to_string()
}

fn start_event(e: &Episode, now_ms: i64) -> AgentEvent {
    let message = format!(
        "user {} above the {} {} threshold since {} ({}): peak {}, average {}",
        e.user,
        percent(e.threshold),
        e.resource.as_str(),
        rfc3339(e.start_ms),
        duration_text(now_ms - e.start_ms),
        percent(e.peak),
        percent(e.average()),
    );
    AgentEvent::new(now_ms, "heavy_user_start", message)
        .attribute("user", &e.user)
        .attribute("resource", e.resource.as_str())
        .attribute("start_ms", e.start_ms)
        .attribute("threshold", format!("{:.4}", e.threshold))
        .attribute("peak", format!("{:.4}", e.peak))
        .attribute("average", format!("{:.4}", e.average()))
}

fn end_event(e: &Episode, end_ms: i64, reason: EndReason) -> AgentEvent {
    let message = format!(
        "user {} no longer above the {} {} threshold ({}): heavy from {} to {} ({}), peak {}, average {}",
        e.user,
        percent(e.threshold),
        e.resource.as_str(),
        reason.as_str().replace('_', " "),
        rfc3339(e.start_ms),
        rfc3339(end_ms),
        duration_text(end_ms - e.start_ms),
        percent(e.peak),
        percent(e.average()),
    );
    AgentEvent::new(end_ms, "heavy_user_end", message)
        .attribute("user", &e.user)
        .attribute("resource", e.resource.as_str())
        .attribute("start_ms", e.start_ms)
        .attribute("end_ms", end_ms)
        .attribute("duration_secs", (end_ms - e.start_ms).max(0) / 1000)
        .attribute("threshold", format!("{:.4}", e.threshold))
        .attribute("peak", format!("{:.4}", e.peak))
        .attribute("average", format!("{:.4}", e.average()))
        .attribute("reason", reason.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const T0: i64 = 1_790_000_000_000;

    /// Feeds `shares` at 10 s steps from `start`, returning the heavy flags.
    fn feed(tracker: &mut HeavyTracker, start: i64, shares: &[f64], events: &mut Vec<AgentEvent>) -> Vec<bool> {
        shares
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                tracker.observe(start + i as i64 * 10_000, 10_000, "alice", Resource::Cpu, Some(s), Some(0.5), events)
            })
            .collect()
    }

    #[test]
    fn a_burst_shorter_than_persistent_time_is_not_reported() {
        let mut tracker = HeavyTracker::new(Duration::from_secs(60));
        let mut events = Vec::new();
        let heavy = feed(&mut tracker, T0, &[0.9, 0.9, 0.9, 0.2, 0.9], &mut events);
        assert_eq!(heavy, [false; 5]);
        assert!(events.is_empty());
        assert_eq!(tracker.episodes().next().unwrap().start_ms, T0 + 40_000, "a new episode after the dip");
    }

    #[test]
    fn held_for_persistent_time_starts_then_ends_with_peak_and_average() {
        let mut tracker = HeavyTracker::new(Duration::from_secs(60));
        let mut events = Vec::new();
        // 0.6 then 1.0 alternating, seven readings: 60 s after the first, it is reported.
        let shares = [0.6, 1.0, 0.6, 1.0, 0.6, 1.0, 0.6, 1.0, 0.4];
        let heavy = feed(&mut tracker, T0, &shares, &mut events);
        assert_eq!(heavy, [false, false, false, false, false, false, true, true, false]);
        assert_eq!(events.len(), 2);
        let start = &events[0];
        assert_eq!(start.kind, "heavy_user_start");
        assert_eq!(start.time_ms, T0 + MIN);
        assert_eq!(start.attribute_value("start_ms"), Some(T0.to_string().as_str()));
        assert_eq!(start.attribute_value("threshold"), Some("0.5000"));
        assert_eq!(start.attribute_value("peak"), Some("1.0000"));
        assert_eq!(start.attribute_value("average"), Some(format!("{:.4}", 5.4 / 7.0).as_str()));
        assert_eq!(
            start.message,
            "user alice above the 50.0% cpu threshold since 2026-09-21T14:13:20Z (1m): peak 100.0%, average 77.1%"
        );
        let end = &events[1];
        assert_eq!(end.kind, "heavy_user_end");
        assert_eq!(end.time_ms, T0 + 80_000);
        assert_eq!(end.attribute_value("end_ms"), Some((T0 + 80_000).to_string().as_str()));
        assert_eq!(end.attribute_value("duration_secs"), Some("80"));
        assert_eq!(end.attribute_value("average"), Some("0.8000"));
        assert_eq!(end.attribute_value("reason"), Some("below_threshold"));
        assert_eq!(tracker.episodes().count(), 0);
    }

    #[test]
    fn unknown_shares_neither_extend_nor_end() {
        let mut tracker = HeavyTracker::new(Duration::ZERO);
        let mut events = Vec::new();
        assert!(tracker.observe(T0, 10_000, "bob", Resource::Memory, Some(0.9), Some(0.5), &mut events));
        assert!(tracker.observe(T0 + 10_000, 10_000, "bob", Resource::Memory, None, Some(0.5), &mut events));
        assert_eq!(events.len(), 1, "persistent_time 0s reports at the first reading above");
        tracker.end_absent(T0 + 20_000, |user| user != "bob", &mut events);
        assert_eq!(events[1].attribute_value("reason"), Some("no_processes"));
        assert!(tracker.observe(T0, 10_000, "bob", Resource::Memory, Some(0.9), Some(0.5), &mut events));
        assert!(!tracker.observe(T0 + 1, 10_000, "bob", Resource::Memory, Some(0.9), None, &mut events));
        assert_eq!(events[3].attribute_value("reason"), Some("detection_off"));
    }

    #[test]
    fn a_restart_keeps_start_peak_and_average() {
        let persistent = Duration::from_secs(60);
        let mut before = HeavyTracker::new(persistent);
        let mut events = Vec::new();
        feed(&mut before, T0, &[0.9, 0.7, 0.9, 0.7], &mut events);
        let saved: Vec<Episode> = before.episodes().cloned().collect();
        let saved_ms = T0 + 30_000;

        // Back 20 s later: the episode goes on, and is reported 60 s after its first reading.
        let mut after = HeavyTracker::new(persistent);
        after.restore(saved.clone(), saved_ms, T0 + 50_000, max_restart_gap(persistent), &mut events);
        assert!(events.is_empty());
        assert!(!after.observe(T0 + 50_000, 20_000, "alice", Resource::Cpu, Some(0.8), Some(0.5), &mut events));
        assert!(after.observe(T0 + 60_000, 10_000, "alice", Resource::Cpu, Some(0.6), Some(0.5), &mut events));
        assert_eq!(events[0].attribute_value("start_ms"), Some(T0.to_string().as_str()));
        assert_eq!(events[0].attribute_value("peak"), Some("0.9000"));
        // (0.9 + 0.7 + 0.9 + 0.7) * 10 s + 0.8 * 20 s + 0.6 * 10 s over 70 s.
        assert_eq!(events[0].attribute_value("average"), Some(format!("{:.4}", (32.0 + 16.0 + 6.0) / 70.0).as_str()));
    }

    #[test]
    fn a_long_outage_ends_reported_episodes_at_their_last_reading() {
        let mut before = HeavyTracker::new(Duration::ZERO);
        let mut events = Vec::new();
        feed(&mut before, T0, &[0.9, 0.9], &mut events);
        before.observe(T0, 10_000, "bob", Resource::Memory, Some(0.1), Some(0.5), &mut events);
        let saved: Vec<Episode> = before.episodes().cloned().collect();
        events.clear();
        let mut after = HeavyTracker::new(Duration::ZERO);
        after.restore(saved, T0 + 10_000, T0 + 10 * MIN, MIN, &mut events);
        assert_eq!(after.episodes().count(), 0);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].time_ms, T0 + 10_000);
        assert_eq!(events[0].attribute_value("reason"), Some("agent_down"));
    }
}
