//! Per-user CPU counters that only go up, like a process accounting ledger: a user's counter
//! is the CPU time of its live processes plus what its processes had used when they were
//! last seen before they exited.
//!
//! What the counter misses: CPU a process uses between the last scan and its exit, and
//! processes that start and exit between two scans. (cgroup v2's per-slice `cpu.stat`
//! would catch both, but it is not in /proc and not every host puts users in slices.)
//!
//! A process whose owner changes (a daemon dropping root, `su`) keeps what it used so far in
//! the old owner's ledger and counts only its later CPU for the new owner, so neither counter
//! goes down. A pid seen with a new start time is a new process; the old one exited.

use std::collections::HashMap;

use super::procfs::ProcessReading;

/// What the ledger knows of one live process.
#[derive(Debug)]
struct Tracked {
    uid: u32,
    start_ticks: u64,
    /// Its CPU ticks when it began to count for `uid` (0 unless its owner changed).
    base_ticks: u64,
    /// Its CPU ticks at the latest scan.
    last_ticks: u64,
    /// Ticks since the previous scan; `None` in the scan that first saw it.
    delta_ticks: Option<u64>,
    /// The scan that last saw it.
    seen: u64,
}

/// Per-user CPU ticks, monotonic while the ledger lives.
#[derive(Debug, Default)]
pub(crate) struct CpuLedger {
    processes: HashMap<u32, Tracked>,
    /// uid -> ticks of processes no longer counted in `processes` for that uid.
    exited_ticks: HashMap<u32, u64>,
    scan: u64,
}

impl CpuLedger {
    /// Takes one scan of every process.
    pub(crate) fn update(&mut self, readings: &[ProcessReading]) {
        self.scan += 1;
        let scan = self.scan;
        for r in readings {
            match self.processes.get_mut(&r.pid) {
                Some(t) if t.start_ticks == r.start_ticks => {
                    // The kernel's counts do not go back; if a reading ever did, hold the old one.
                    let ticks = r.cpu_ticks.max(t.last_ticks);
                    t.delta_ticks = Some(ticks - t.last_ticks);
                    if t.uid != r.uid {
                        *self.exited_ticks.entry(t.uid).or_default() += t.last_ticks - t.base_ticks;
                        t.uid = r.uid;
                        t.base_ticks = t.last_ticks;
                    }
                    t.last_ticks = ticks;
                    t.seen = scan;
                }
                slot => {
                    if let Some(old) = slot {
                        // The pid was reused: the process it named exited.
                        *self.exited_ticks.entry(old.uid).or_default() += old.last_ticks - old.base_ticks;
                    }
                    self.processes.insert(
                        r.pid,
                        Tracked {
                            uid: r.uid,
                            start_ticks: r.start_ticks,
                            base_ticks: 0,
                            last_ticks: r.cpu_ticks,
                            delta_ticks: None,
                            seen: scan,
                        },
                    );
                }
            }
        }
        let exited = &mut self.exited_ticks;
        self.processes.retain(|_, t| {
            if t.seen != scan {
                *exited.entry(t.uid).or_default() += t.last_ticks - t.base_ticks;
            }
            t.seen == scan
        });
    }

    /// Every uid with a counter: live processes, or exited ones not yet forgotten.
    pub(crate) fn user_ticks(&self) -> HashMap<u32, u64> {
        let mut ticks = self.exited_ticks.clone();
        for t in self.processes.values() {
            *ticks.entry(t.uid).or_default() += t.last_ticks - t.base_ticks;
        }
        ticks
    }

    /// The CPU ticks process `pid` used since the previous scan; `None` if this scan is the
    /// first to see it.
    pub(crate) fn delta_ticks(&self, pid: u32) -> Option<u64> {
        self.processes.get(&pid).and_then(|t| t.delta_ticks)
    }

    /// Forgets what exited processes of `uid` used: its counter starts again from its live
    /// processes. For users that have none left, whose series end.
    pub(crate) fn forget(&mut self, uid: u32) {
        self.exited_ticks.remove(&uid);
    }

    /// Raises `uid`'s counter to at least `ticks`: after a restart, a counter continues from
    /// the value the previous agent last reported, even though the processes that exited
    /// while no agent watched are not in this ledger.
    pub(crate) fn raise_to(&mut self, uid: u32, ticks: u64) {
        let now = self.user_ticks().get(&uid).copied().unwrap_or(0);
        if ticks > now {
            *self.exited_ticks.entry(uid).or_default() += ticks - now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: u32, uid: u32, start: u64, cpu: u64) -> ProcessReading {
        ProcessReading { pid, start_ticks: start, command: "x".into(), uid, cpu_ticks: cpu, rss_pages: 0 }
    }

    #[test]
    fn exited_processes_stay_counted() {
        let mut ledger = CpuLedger::default();
        ledger.update(&[p(10, 1000, 5, 100), p(11, 1000, 6, 50), p(12, 1001, 7, 10)]);
        assert_eq!(ledger.user_ticks()[&1000], 150);
        assert_eq!(ledger.delta_ticks(10), None);
        ledger.update(&[p(10, 1000, 5, 130), p(12, 1001, 7, 12)]);
        assert_eq!(ledger.user_ticks()[&1000], 180, "11 exited at 50 ticks; 10 went on");
        assert_eq!(ledger.delta_ticks(10), Some(30));
        ledger.update(&[p(12, 1001, 7, 12)]);
        assert_eq!(ledger.user_ticks()[&1000], 180);
        ledger.forget(1000);
        assert_eq!(ledger.user_ticks().get(&1000), None);
    }

    #[test]
    fn a_reused_pid_is_a_new_process() {
        let mut ledger = CpuLedger::default();
        ledger.update(&[p(10, 1000, 5, 100)]);
        ledger.update(&[p(10, 1000, 900, 3)]);
        assert_eq!(ledger.user_ticks()[&1000], 103);
        assert_eq!(ledger.delta_ticks(10), None);
    }

    #[test]
    fn an_owner_change_keeps_both_counters_monotonic() {
        let mut ledger = CpuLedger::default();
        ledger.update(&[p(10, 0, 5, 100)]);
        ledger.update(&[p(10, 1000, 5, 120)]);
        let ticks = ledger.user_ticks();
        assert_eq!((ticks[&0], ticks[&1000]), (100, 20), "the 20 ticks since the change are the new owner's");
        ledger.update(&[p(10, 1000, 5, 150)]);
        assert_eq!(ledger.user_ticks()[&1000], 50);
    }

    #[test]
    fn raise_to_continues_a_counter_after_a_restart() {
        let mut ledger = CpuLedger::default();
        ledger.update(&[p(10, 1000, 5, 100)]);
        ledger.raise_to(1000, 400);
        assert_eq!(ledger.user_ticks()[&1000], 400);
        ledger.raise_to(1000, 300);
        assert_eq!(ledger.user_ticks()[&1000], 400, "never lowered");
        ledger.update(&[p(10, 1000, 5, 110)]);
        assert_eq!(ledger.user_ticks()[&1000], 410);
    }
}
