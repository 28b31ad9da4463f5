//! The `users` collector: one scan of /proc per collection gives the per-user series, the
//! top processes and the heavy-user episodes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use super::config::{Resource, UsersSettings};
use super::heavy::{HeavyTracker, max_restart_gap};
use super::ledger::CpuLedger;
use super::passwd::UserNames;
use super::procfs::{ProcScanner, ProcessReading};
use super::series::SeriesTracker;
use super::state::{UsersState, write_atomically};
use crate::collectors::{Collector, SystemPaths, malformed, mem_total_bytes, parse_field, read_into};
use crate::error::Result;
use crate::event::AgentEvent;
use crate::sample::Sample;

/// The most events held for the caller to take.
const MAX_HELD_EVENTS: usize = 1024;

/// The wall clock, unix ms; tests give a fake one.
pub(crate) type Clock = Box<dyn Fn() -> i64 + Send>;

/// The system clock.
pub(crate) fn system_clock() -> Clock {
    Box::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
    })
}

/// One user's processes in one scan.
#[derive(Debug, Default)]
struct Usage {
    processes: u64,
    rss_pages: u64,
}

/// The `user` label value of the users past `users.max_users`, summed.
pub(crate) const OTHER_USER: &str = "other";

/// One reported user's figures in one collection.
#[derive(Debug)]
struct UserFigures {
    uid: u32,
    /// Its CPU counter, in clock ticks.
    ticks: u64,
    memory_bytes: f64,
    processes: u64,
    /// Share of the machine's CPU over the last interval; `None` in the first collection.
    cpu_share: Option<f64>,
    /// Per resource, in [`Resource::ALL`]'s order: whether it is heavy; `None` where
    /// detection is off.
    heavy: [Option<bool>; Resource::ALL.len()],
}

/// What the users past the cap add up to.
#[derive(Debug, Default)]
struct Other {
    users: u64,
    memory_bytes: f64,
    processes: u64,
}

/// What the previous collection measured, for rates.
struct Previous {
    ms: i64,
    /// uid -> CPU counter ticks, for reported users.
    user_ticks: HashMap<u32, u64>,
}

/// Emits, for every reported user, `sysmon_user_cpu_seconds_total`, `sysmon_user_memory_bytes`,
/// `sysmon_user_processes` and `sysmon_user_heavy{resource}`; for the top processes,
/// `sysmon_process_cpu_ratio` and `sysmon_process_cpu_seconds_total` (top N by CPU) and
/// `sysmon_process_memory_bytes` (top N by memory), labelled `pid`, `command` and `user`; and
/// heavy-user events. A series that is no longer reported ends with a stale marker.
pub(crate) struct UsersCollector {
    settings: UsersSettings,
    stat_path: PathBuf,
    meminfo_path: PathBuf,
    uptime_path: PathBuf,
    scanner: ProcScanner,
    names: UserNames,
    ledger: CpuLedger,
    heavy: HeavyTracker,
    series: SeriesTracker,
    clock: Clock,
    ticks_per_sec: f64,
    page_size: f64,
    readings: Vec<ProcessReading>,
    buf: String,
    /// The `user="other"` CPU counter, in clock ticks: the CPU time the users summed into it
    /// used while they were in it, so it only goes up whoever comes and goes.
    other_ticks: u64,
    /// `None` until the first collection, which loads the state file.
    previous: Option<Previous>,
    started: bool,
    /// Counters from the state file, applied after the first scan.
    restored_ticks: BTreeMap<u32, u64>,
    /// Events not yet taken by the caller.
    events: Vec<AgentEvent>,
    /// The state last written (with `saved_ms` 0), to skip writing an unchanged one.
    last_written: Option<UsersState>,
    state_errors_total: u64,
    state_failing: bool,
}

impl UsersCollector {
    /// Reads processes under `paths.proc` and user names from `passwd`.
    pub(crate) fn new(paths: &SystemPaths, passwd: &Path, settings: UsersSettings, clock: Clock) -> Self {
        Self {
            heavy: HeavyTracker::new(settings.persistent_time),
            settings,
            stat_path: paths.proc("stat"),
            meminfo_path: paths.proc("meminfo"),
            uptime_path: paths.proc("uptime"),
            scanner: ProcScanner::new(&paths.proc),
            names: UserNames::new(passwd),
            ledger: CpuLedger::default(),
            series: SeriesTracker::default(),
            clock,
            // /proc/PID/stat counts in USER_HZ and rss in pages; both fixed while the system runs.
            ticks_per_sec: rustix::param::clock_ticks_per_second() as f64,
            page_size: rustix::param::page_size() as f64,
            readings: Vec::new(),
            buf: String::new(),
            other_ticks: 0,
            previous: None,
            started: false,
            restored_ticks: BTreeMap::new(),
            events: Vec::new(),
            last_written: None,
            state_errors_total: 0,
            state_failing: false,
        }
    }

    /// Loads the state file of a previous agent, if there is one.
    fn restore(&mut self, now_ms: i64) {
        let Some(path) = self.settings.state_file.clone() else { return };
        match UsersState::load(&path) {
            Ok(None) => {}
            Ok(Some(state)) => {
                info!(
                    path = %path.display(),
                    users = state.cpu_ticks.len(),
                    episodes = state.episodes.len(),
                    age_ms = now_ms - state.saved_ms,
                    "users state restored"
                );
                self.restored_ticks = state.cpu_ticks;
                // The previous agent may have stopped before the batch with these reached
                // its spool: send them again (the aggregator stores an event once).
                self.events.extend(state.pending_events);
                let max_gap = max_restart_gap(self.settings.persistent_time);
                self.heavy.restore(state.episodes, state.saved_ms, now_ms, max_gap, &mut self.events);
            }
            Err(error) => warn!(
                error = %crate::collectors::error_chain(&error),
                "users state not restored; per-user CPU counters and heavy-user episodes start afresh"
            ),
        }
    }

    /// The number of CPUs, from the `cpuN` lines of /proc/stat.
    fn cpus(&mut self) -> Result<f64> {
        read_into(&self.stat_path, &mut self.buf)?;
        let cpus = self
            .buf
            .lines()
            .filter(|l| l.strip_prefix("cpu").is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit())))
            .count();
        if cpus == 0 {
            return Err(malformed(&self.stat_path, "no cpuN lines"));
        }
        Ok(cpus as f64)
    }

    fn mem_total(&mut self) -> Result<f64> {
        read_into(&self.meminfo_path, &mut self.buf)?;
        mem_total_bytes(&self.buf).map(|b| b as f64).ok_or_else(|| malformed(&self.meminfo_path, "no MemTotal"))
    }

    /// Seconds since boot, for the first collection's lifetime CPU averages.
    fn uptime_secs(&mut self) -> Result<f64> {
        read_into(&self.uptime_path, &mut self.buf)?;
        let first = self.buf.split_ascii_whitespace().next().ok_or_else(|| malformed(&self.uptime_path, "empty"))?;
        parse_field(first, &self.uptime_path, "uptime")
    }

    /// Keeps in `figures` the `users.max_users` users that matter most (in uid order) and
    /// sums the rest: heavy users first, then by CPU over the last interval (the CPU counter
    /// in the first collection), then by memory. The CPU the summed users used since the
    /// previous collection goes into `other_ticks`. A user whose name is "other" is always
    /// among the summed, so that no two series share the label.
    fn fold_beyond_cap(&mut self, figures: &mut Vec<UserFigures>, names: &HashMap<u32, String>) -> Other {
        let mut other = Other::default();
        if figures.len() <= self.settings.max_users {
            return other;
        }
        let rank = |f: &UserFigures| {
            let nameable = names[&f.uid] != OTHER_USER;
            let heavy = f.heavy.contains(&Some(true));
            (nameable, heavy, f.cpu_share.unwrap_or(f.ticks as f64), f.memory_bytes)
        };
        figures.sort_by(|a, b| {
            let (ra, rb) = (rank(a), rank(b));
            (rb.0, rb.1)
                .cmp(&(ra.0, ra.1))
                .then(rb.2.total_cmp(&ra.2))
                .then(rb.3.total_cmp(&ra.3))
                .then(a.uid.cmp(&b.uid))
        });
        for f in figures.drain(self.settings.max_users..) {
            let before = self.previous.as_ref().and_then(|p| p.user_ticks.get(&f.uid)).copied().unwrap_or(0);
            self.other_ticks += f.ticks.saturating_sub(before);
            other.users += 1;
            other.memory_bytes += f.memory_bytes;
            other.processes += f.processes;
        }
        figures.sort_by_key(|f| f.uid);
        other
    }

    /// Writes the state file if it changed; a failure is logged once per outage and counted.
    fn save(&mut self, now_ms: i64, user_ticks: &HashMap<u32, u64>, events_from: usize) {
        let Some(path) = &self.settings.state_file else { return };
        let state = UsersState {
            version: 0,
            saved_ms: 0,
            cpu_ticks: user_ticks.iter().map(|(&uid, &ticks)| (uid, ticks)).collect(),
            episodes: self.heavy.episodes().cloned().collect(),
            pending_events: self.events[events_from..].to_vec(),
        };
        if self.last_written.as_ref() == Some(&state) {
            return;
        }
        let durable = self
            .last_written
            .as_ref()
            .is_none_or(|last| last.episodes != state.episodes || last.pending_events != state.pending_events);
        let bytes = UsersState { saved_ms: now_ms, ..state.clone() }.encode();
        match write_atomically(path, &bytes, durable) {
            Ok(()) => {
                self.last_written = Some(state);
                if self.state_failing {
                    info!(path = %path.display(), "users state written again");
                    self.state_failing = false;
                }
            }
            Err(error) => {
                self.state_errors_total += 1;
                if !self.state_failing {
                    warn!(
                        error = %crate::collectors::error_chain(&error),
                        "cannot write the users state; a restart now would restart per-user CPU counters and heavy-user episodes"
                    );
                    self.state_failing = true;
                }
            }
        }
    }
}

impl Collector for UsersCollector {
    fn name(&self) -> &'static str {
        "users"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        let now_ms = (self.clock)();
        let events_from = self.events.len();
        if !self.started {
            self.restore(now_ms);
            self.started = true;
        }
        let cpus = self.cpus()?;
        let mem_total = self.mem_total()?;
        let uptime_secs = if self.previous.is_none() { Some(self.uptime_secs()?) } else { None };
        let mut readings = std::mem::take(&mut self.readings);
        readings.clear();
        let scanned = self.scanner.scan(&mut readings);
        self.readings = readings;
        scanned?;
        self.names.refresh();
        self.ledger.update(&self.readings);
        for (uid, ticks) in std::mem::take(&mut self.restored_ticks) {
            self.ledger.raise_to(uid, ticks);
        }

        // Users and their processes.
        let mut usage: BTreeMap<u32, Usage> = BTreeMap::new();
        for r in &self.readings {
            let u = usage.entry(r.uid).or_default();
            u.processes += 1;
            u.rss_pages += r.rss_pages;
        }
        let all_ticks = self.ledger.user_ticks();
        for uid in all_ticks.keys().filter(|uid| !usage.contains_key(uid)) {
            // No processes left: the user's series end, and so does its counter.
            self.ledger.forget(*uid);
        }
        let names: HashMap<u32, String> = usage.keys().map(|&uid| (uid, self.names.name(uid))).collect();
        let reported: HashSet<u32> =
            usage.keys().copied().filter(|&uid| self.settings.reports(uid, &names[&uid])).collect();

        let from = out.len();
        let dt_ms = self.previous.as_ref().map(|p| now_ms - p.ms).filter(|&dt| dt > 0);
        let machine_secs = |dt_ms: i64| dt_ms as f64 / 1000.0 * cpus;
        let mut user_ticks = HashMap::with_capacity(reported.len());
        let mut figures = Vec::with_capacity(reported.len());
        for (uid, u) in &usage {
            if !reported.contains(uid) {
                continue;
            }
            let user = &names[uid];
            let ticks = all_ticks.get(uid).copied().unwrap_or(0);
            user_ticks.insert(*uid, ticks);
            let memory_bytes = u.rss_pages as f64 * self.page_size;
            let cpu_share = match (&self.previous, dt_ms) {
                (Some(previous), Some(dt_ms)) => {
                    let before = previous.user_ticks.get(uid).copied().unwrap_or(0);
                    Some(ticks.saturating_sub(before) as f64 / self.ticks_per_sec / machine_secs(dt_ms))
                }
                _ => None,
            };
            let thresholds = self.settings.thresholds(user);
            let mut heavy = [None; Resource::ALL.len()];
            for (slot, resource) in heavy.iter_mut().zip(Resource::ALL) {
                let share = match resource {
                    Resource::Cpu => cpu_share,
                    Resource::Memory => Some(memory_bytes / mem_total),
                };
                let threshold = thresholds.get(resource);
                let is_heavy =
                    self.heavy.observe(now_ms, dt_ms.unwrap_or(0), user, resource, share, threshold, &mut self.events);
                *slot = threshold.map(|_| is_heavy);
            }
            figures.push(UserFigures { uid: *uid, ticks, memory_bytes, processes: u.processes, cpu_share, heavy });
        }
        let other = self.fold_beyond_cap(&mut figures, &names);
        for f in &figures {
            let user = &names[&f.uid];
            out.push(
                Sample::new("sysmon_user_cpu_seconds_total", f.ticks as f64 / self.ticks_per_sec).label("user", user),
            );
            out.push(Sample::new("sysmon_user_memory_bytes", f.memory_bytes).label("user", user));
            out.push(Sample::new("sysmon_user_processes", f.processes as f64).label("user", user));
            for (heavy, resource) in f.heavy.iter().zip(Resource::ALL) {
                if let Some(heavy) = heavy {
                    out.push(
                        Sample::new("sysmon_user_heavy", if *heavy { 1.0 } else { 0.0 })
                            .label("user", user)
                            .label("resource", resource.as_str()),
                    );
                }
            }
        }
        if other.users > 0 {
            out.push(
                Sample::new("sysmon_user_cpu_seconds_total", self.other_ticks as f64 / self.ticks_per_sec)
                    .label("user", OTHER_USER),
            );
            out.push(Sample::new("sysmon_user_memory_bytes", other.memory_bytes).label("user", OTHER_USER));
            out.push(Sample::new("sysmon_user_processes", other.processes as f64).label("user", OTHER_USER));
        }
        out.push(Sample::new("sysmon_user_other_users", other.users as f64));
        let reported_names: HashSet<&str> = reported.iter().map(|uid| names[uid].as_str()).collect();
        self.heavy.end_absent(now_ms, |user| reported_names.contains(user), &mut self.events);

        // Top processes.
        if self.settings.top_n > 0 {
            let mut by_cpu = Vec::new();
            let mut by_memory = Vec::new();
            for (i, r) in self.readings.iter().enumerate() {
                if !self.settings.all_users && !reported.contains(&r.uid) {
                    continue;
                }
                let cpu_share = match (dt_ms, uptime_secs) {
                    // A process first seen now started after the previous scan: all its CPU
                    // time falls in this interval.
                    (Some(dt_ms), _) => {
                        let ticks = self.ledger.delta_ticks(r.pid).unwrap_or(r.cpu_ticks);
                        ticks as f64 / self.ticks_per_sec / machine_secs(dt_ms)
                    }
                    // The first collection: its average since it started.
                    (None, Some(uptime)) => {
                        let age = uptime - r.start_ticks as f64 / self.ticks_per_sec;
                        if age > 0.0 { r.cpu_ticks as f64 / self.ticks_per_sec / (age * cpus) } else { 0.0 }
                    }
                    (None, None) => 0.0,
                };
                if cpu_share >= self.settings.min_cpu_share && cpu_share > 0.0 {
                    by_cpu.push((cpu_share, i));
                }
                let memory_share = r.rss_pages as f64 * self.page_size / mem_total;
                if memory_share >= self.settings.min_memory_share && memory_share > 0.0 {
                    by_memory.push((memory_share, i));
                }
            }
            let top = |list: &mut Vec<(f64, usize)>, readings: &[ProcessReading]| {
                list.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(readings[a.1].pid.cmp(&readings[b.1].pid)));
                list.truncate(self.settings.top_n);
            };
            top(&mut by_cpu, &self.readings);
            top(&mut by_memory, &self.readings);
            let process_sample = |name: &str, value: f64, r: &ProcessReading| {
                let user = names.get(&r.uid).cloned().unwrap_or_else(|| r.uid.to_string());
                Sample::new(name, value)
                    .label("pid", r.pid.to_string())
                    .label("command", r.command.as_str())
                    .label("user", user)
            };
            for &(share, i) in &by_cpu {
                let r = &self.readings[i];
                out.push(process_sample("sysmon_process_cpu_ratio", share, r));
                out.push(process_sample(
                    "sysmon_process_cpu_seconds_total",
                    r.cpu_ticks as f64 / self.ticks_per_sec,
                    r,
                ));
            }
            for &(_, i) in &by_memory {
                let r = &self.readings[i];
                out.push(process_sample("sysmon_process_memory_bytes", r.rss_pages as f64 * self.page_size, r));
            }
        }
        self.series.end_vanished(out, from);

        self.save(now_ms, &user_ticks, events_from);
        if self.settings.state_file.is_some() {
            out.push(Sample::new("sysmon_agent_users_state_errors_total", self.state_errors_total as f64));
        }
        self.previous = Some(Previous { ms: now_ms, user_ticks });
        if self.events.len() > MAX_HELD_EVENTS {
            // Nobody takes them (a caller that only wants samples): keep the newest.
            let excess = self.events.len() - MAX_HELD_EVENTS;
            self.events.drain(..excess);
            warn!(dropped = excess, "heavy-user events not taken by the agent were dropped");
        }
        Ok(())
    }

    fn take_events(&mut self, out: &mut Vec<AgentEvent>) {
        out.append(&mut self.events);
    }
}
