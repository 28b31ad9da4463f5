//! The users collector against fixture /proc trees and a fake clock.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use super::collector::UsersCollector;
use super::config::{ProcessesSection, UsersSection, validate};
use super::procfs::tests::write_process;
use crate::collectors::test_util::{fixture, value, write};
use crate::collectors::{Collector, SystemPaths};
use crate::event::AgentEvent;
use crate::sample::{STALE_MARKER_BITS, Sample};

const T0: i64 = 1_790_000_000_000;
const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n\
                      bob:x:1001:1001::/home/bob:/bin/sh\nnobody:x:65534:65534::/:/usr/sbin/nologin\n";

fn hz() -> u64 {
    rustix::param::clock_ticks_per_second()
}
fn page() -> f64 {
    rustix::param::page_size() as f64
}

/// A fake machine: 2 CPUs, 1 GiB of memory, processes written as tests go.
struct Machine {
    _dir: tempfile::TempDir,
    paths: SystemPaths,
    passwd: PathBuf,
    state_file: PathBuf,
    clock: Arc<AtomicI64>,
}

impl Machine {
    fn new() -> Self {
        let (dir, paths) = fixture();
        write(&paths.proc, "stat", "cpu  1 2 3 4\ncpu0 1 1 1 1\ncpu1 1 1 1 1\nintr 5\n");
        write(&paths.proc, "meminfo", "MemTotal:        1048576 kB\nMemFree:          524288 kB\n");
        write(&paths.proc, "uptime", "1000.00 1500.00\n");
        let passwd = dir.path().join("etc/passwd");
        write(dir.path(), "etc/passwd", PASSWD);
        let state_file = dir.path().join("state/users.json");
        Self { paths, passwd, state_file, clock: Arc::new(AtomicI64::new(T0)), _dir: dir }
    }

    /// A process with `cpu_secs` of CPU time, started `start_secs` after boot.
    fn process(&self, pid: u32, command: &str, uid: u32, cpu_secs: u64, start_secs: u64, rss_bytes: u64) {
        write_process(
            &self.paths.proc,
            pid,
            command,
            uid,
            (cpu_secs * hz(), 0),
            start_secs * hz(),
            rss_bytes / page() as u64,
        );
    }

    fn exit(&self, pid: u32) {
        std::fs::remove_dir_all(self.paths.proc.join(pid.to_string())).unwrap();
    }

    fn collector(&self, users: &str, processes: &str) -> UsersCollector {
        let mut users: UsersSection = toml::from_str(users).unwrap();
        users.state_file = self.state_file.clone();
        let processes: ProcessesSection = toml::from_str(processes).unwrap();
        let settings = validate(users, processes).unwrap();
        let clock = self.clock.clone();
        UsersCollector::new(&self.paths, &self.passwd, settings, Box::new(move || clock.load(Ordering::SeqCst)))
    }

    fn at(&self, secs: i64) {
        self.clock.store(T0 + secs * 1000, Ordering::SeqCst);
    }
}

fn collect(collector: &mut UsersCollector) -> (Vec<Sample>, Vec<AgentEvent>) {
    let mut out = Vec::new();
    collector.collect(&mut out).unwrap();
    let mut events = Vec::new();
    collector.take_events(&mut events);
    (out, events)
}

fn users_of(samples: &[Sample], name: &str) -> Vec<String> {
    let mut users: Vec<String> = samples
        .iter()
        .filter(|s| s.name == name && !is_stale(s))
        .map(|s| s.labels.iter().find(|(k, _)| k == "user").unwrap().1.clone())
        .collect();
    users.sort();
    users
}

fn is_stale(s: &Sample) -> bool {
    s.value.to_bits() == STALE_MARKER_BITS
}

fn stale(samples: &[Sample]) -> Vec<(String, Vec<(String, String)>)> {
    samples.iter().filter(|s| is_stale(s)).map(|s| (s.name.clone(), s.labels.clone())).collect()
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn users_are_filtered_named_and_summed() {
    let m = Machine::new();
    m.process(1, "systemd", 0, 50, 0, 10 << 20);
    m.process(100, "burn", 1000, 30, 100, 100 << 20);
    m.process(101, "vim", 1000, 5, 200, 20 << 20);
    m.process(200, "sh", 1001, 1, 300, 4 << 20);
    m.process(300, "nobodyd", 65534, 9, 10, 4 << 20);
    m.process(400, "job", 1500, 2, 400, 8 << 20);
    m.process(500, "cron", 1, 2, 5, 8 << 20);
    let mut c = m.collector("", "");
    let (out, events) = collect(&mut c);
    assert!(events.is_empty());
    assert_eq!(users_of(&out, "sysmon_user_cpu_seconds_total"), ["1500", "alice", "bob"]);
    assert_eq!(value(&out, "sysmon_user_cpu_seconds_total", &[("user", "alice")]), Some(35.0));
    assert_eq!(value(&out, "sysmon_user_memory_bytes", &[("user", "alice")]), Some((120 << 20) as f64));
    assert_eq!(value(&out, "sysmon_user_processes", &[("user", "alice")]), Some(2.0));
    assert_eq!(value(&out, "sysmon_user_heavy", &[("user", "alice"), ("resource", "cpu")]), Some(0.0));
    assert_eq!(value(&out, "sysmon_user_heavy", &[("user", "alice"), ("resource", "memory")]), Some(0.0));
    assert_eq!(value(&out, "sysmon_agent_users_state_errors_total", &[]), Some(0.0));

    let mut c = m.collector("include_root = true\nexclude = [\"bob\", \"1500\", \"nobody\"]", "");
    let (out, _) = collect(&mut c);
    assert_eq!(users_of(&out, "sysmon_user_processes"), ["alice", "root"]);
}

#[test]
fn cpu_counters_stay_monotonic_and_users_without_processes_end() {
    let m = Machine::new();
    m.process(100, "burn", 1000, 30, 100, 1 << 20);
    m.process(101, "make", 1000, 10, 200, 1 << 20);
    m.process(200, "sh", 1001, 1, 300, 1 << 20);
    let mut c = m.collector("", "");
    let (out, _) = collect(&mut c);
    assert_eq!(value(&out, "sysmon_user_cpu_seconds_total", &[("user", "alice")]), Some(40.0));

    m.at(10);
    m.exit(101);
    m.process(100, "burn", 1000, 32, 100, 1 << 20);
    m.exit(200);
    let (out, _) = collect(&mut c);
    assert_eq!(value(&out, "sysmon_user_cpu_seconds_total", &[("user", "alice")]), Some(42.0), "make's 10 s kept");
    assert_eq!(value(&out, "sysmon_user_processes", &[("user", "alice")]), Some(1.0));
    // bob has no processes: every bob series ends with a stale marker.
    let mut ended: Vec<String> =
        stale(&out).into_iter().filter(|(_, l)| l.contains(&("user".into(), "bob".into()))).map(|(n, _)| n).collect();
    ended.sort();
    assert_eq!(
        ended,
        [
            "sysmon_user_cpu_seconds_total",
            "sysmon_user_heavy",
            "sysmon_user_heavy",
            "sysmon_user_memory_bytes",
            "sysmon_user_processes"
        ]
    );
}

#[test]
fn top_processes_are_bounded_and_leavers_get_stale_markers() {
    let m = Machine::new();
    // Uptime 1000 s, 2 CPUs: a process started at 0 s with 600 s of CPU averaged 30 %.
    m.process(100, "hog", 1000, 600, 0, 300 << 20);
    m.process(101, "busy", 1000, 200, 0, 5 << 20);
    m.process(102, "idle", 1000, 1, 0, 1 << 20);
    m.process(200, "other", 1001, 100, 0, 200 << 20);
    let mut c = m.collector("", "top_n = 2\nmin_cpu_share = 0.01\nmin_memory_share = 0.01");
    let (out, _) = collect(&mut c);
    let cpu_top = |out: &[Sample]| -> Vec<(String, f64)> {
        out.iter()
            .filter(|s| s.name == "sysmon_process_cpu_ratio" && !is_stale(s))
            .map(|s| (s.labels[1].1.clone(), (s.value * 1000.0).round() / 1000.0))
            .collect()
    };
    assert_eq!(
        cpu_top(&out),
        [("hog".to_string(), 0.3), ("busy".to_string(), 0.1)],
        "first collection: lifetime averages"
    );
    assert_eq!(
        value(&out, "sysmon_process_cpu_seconds_total", &[("pid", "100"), ("command", "hog"), ("user", "alice")]),
        Some(600.0)
    );
    let memory: Vec<&str> =
        out.iter().filter(|s| s.name == "sysmon_process_memory_bytes").map(|s| s.labels[1].1.as_str()).collect();
    assert_eq!(memory, ["hog", "other"], "idle (1 MiB of 1 GiB) is under min_memory_share");

    // 10 s later: idle burnt 8 s of CPU (40 % of 2 CPUs), hog 1 s, busy nothing.
    m.at(10);
    m.process(100, "hog", 1000, 601, 0, 300 << 20);
    m.process(102, "idle", 1000, 9, 0, 1 << 20);
    let (out, _) = collect(&mut c);
    assert_eq!(cpu_top(&out), [("idle".to_string(), 0.4), ("hog".to_string(), 0.05)]);
    // busy left the CPU top 2: its two CPU series end. (hog and other stay in the memory top.)
    let mut ended = stale(&out);
    ended.sort();
    let busy = labels(&[("pid", "101"), ("command", "busy"), ("user", "alice")]);
    assert_eq!(
        ended,
        [
            ("sysmon_process_cpu_ratio".to_string(), busy.clone()),
            ("sysmon_process_cpu_seconds_total".to_string(), busy)
        ]
    );

    // top_n = 0 lists no process.
    let mut c = m.collector("", "top_n = 0");
    let (out, _) = collect(&mut c);
    assert!(out.iter().all(|s| !s.name.starts_with("sysmon_process_")));
}

#[test]
fn a_heavy_user_is_reported_after_persistent_time_and_ends() {
    let m = Machine::new();
    m.process(100, "burn", 1000, 0, 990, 1 << 20);
    let mut c = m.collector("persistent_time = \"30s\"\nheavy_cpu_share = 0.5", "");
    let mut all_events = Vec::new();
    let mut heavy = Vec::new();
    // 1.5 CPUs of 2 busy for 60 s, sampled every 10 s, then idle.
    for step in 0..=8 {
        m.at(step * 10);
        let cpu = if step <= 6 { step as u64 * 15 } else { 90 };
        m.process(100, "burn", 1000, cpu, 990, 1 << 20);
        let (out, events) = collect(&mut c);
        heavy.push(value(&out, "sysmon_user_heavy", &[("user", "alice"), ("resource", "cpu")]).unwrap());
        all_events.extend(events);
    }
    // Above from 10 s; reported at 40 s (30 s later); ends at 70 s, the first idle reading.
    assert_eq!(heavy, [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
    let kinds: Vec<&str> = all_events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["heavy_user_start", "heavy_user_end"]);
    let (start, end) = (&all_events[0], &all_events[1]);
    assert_eq!(start.time_ms, T0 + 40_000);
    assert_eq!(start.attribute_value("start_ms"), Some((T0 + 10_000).to_string().as_str()));
    assert_eq!(start.attribute_value("user"), Some("alice"));
    assert_eq!(start.attribute_value("resource"), Some("cpu"));
    assert_eq!(start.attribute_value("threshold"), Some("0.5000"));
    assert_eq!(end.time_ms, T0 + 70_000);
    assert_eq!(end.attribute_value("peak"), Some("0.7500"));
    assert_eq!(end.attribute_value("average"), Some("0.7500"));
    assert_eq!(end.attribute_value("duration_secs"), Some("60"));
}

#[test]
fn a_restart_keeps_counters_and_the_episode() {
    let m = Machine::new();
    m.process(100, "burn", 1000, 0, 990, 1 << 20);
    m.process(101, "helper", 1000, 100, 10, 1 << 20);
    let users = "persistent_time = \"30s\"\nheavy_cpu_share = 0.5";
    let mut before = m.collector(users, "");
    for step in 0..=2 {
        m.at(step * 10);
        m.process(100, "burn", 1000, step as u64 * 15, 990, 1 << 20);
        let (_, events) = collect(&mut before);
        assert!(events.is_empty());
    }
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(&m.state_file).unwrap()).unwrap();
    assert_eq!(state["episodes"][0]["start_ms"], T0 + 10_000);
    drop(before);

    // Down for 15 s, during which helper exited: the counter must not drop below the
    // 130 s it last reported.
    m.exit(101);
    m.at(35);
    m.process(100, "burn", 1000, 52, 990, 1 << 20);
    let mut after = m.collector(users, "");
    let (out, events) = collect(&mut after);
    assert!(events.is_empty());
    assert_eq!(value(&out, "sysmon_user_cpu_seconds_total", &[("user", "alice")]), Some(130.0));
    assert_eq!(value(&out, "sysmon_user_heavy", &[("user", "alice"), ("resource", "cpu")]), Some(0.0));
    m.at(45);
    m.process(100, "burn", 1000, 67, 990, 1 << 20);
    let (out, events) = collect(&mut after);
    assert_eq!(value(&out, "sysmon_user_cpu_seconds_total", &[("user", "alice")]), Some(145.0));
    assert_eq!(value(&out, "sysmon_user_heavy", &[("user", "alice"), ("resource", "cpu")]), Some(1.0));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "heavy_user_start");
    assert_eq!(events[0].attribute_value("start_ms"), Some((T0 + 10_000).to_string().as_str()), "original start");
    assert_eq!(events[0].attribute_value("peak"), Some("0.7500"));

    // The start event is kept as pending until the next collection's state replaces it: an
    // agent killed now sends it again after its restart.
    drop(after);
    let mut again = m.collector(users, "");
    m.at(50);
    let (_, events) = collect(&mut again);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "heavy_user_start");
    assert_eq!(events[0].time_ms, T0 + 45_000);
}

#[test]
fn an_unwritable_state_file_is_counted_not_fatal() {
    let m = Machine::new();
    m.process(100, "burn", 1000, 1, 990, 1 << 20);
    // The state file's directory is a file.
    std::fs::create_dir_all(m.state_file.parent().unwrap().parent().unwrap()).unwrap();
    std::fs::write(m.state_file.parent().unwrap(), "not a directory").unwrap();
    let mut c = m.collector("", "");
    let (out, _) = collect(&mut c);
    assert_eq!(value(&out, "sysmon_agent_users_state_errors_total", &[]), Some(1.0));
    assert_eq!(value(&out, "sysmon_user_processes", &[("user", "alice")]), Some(1.0));
}

#[test]
fn a_missing_passwd_shows_uids() {
    let m = Machine::new();
    m.process(100, "burn", 1000, 1, 990, 1 << 20);
    std::fs::remove_file(&m.passwd).unwrap();
    let mut c = m.collector("", "");
    let (out, _) = collect(&mut c);
    assert_eq!(users_of(&out, "sysmon_user_processes"), ["1000"]);
}

#[test]
fn the_real_system_reports_this_user() {
    // This test's own process belongs to the user running it, whoever that is.
    let dir = tempfile::tempdir().unwrap();
    let mut users: UsersSection = toml::from_str("min_uid = 0\ninclude_root = true\nexclude = []").unwrap();
    users.state_file = dir.path().join("users.json");
    let settings = validate(users, toml::from_str("all_users = true").unwrap()).unwrap();
    let mut c = UsersCollector::new(&SystemPaths::default(), Path::new("/etc/passwd"), settings, super::system_clock());
    let (out, _) = collect(&mut c);
    let processes: f64 = out.iter().filter(|s| s.name == "sysmon_user_processes").map(|s| s.value).sum();
    assert!(processes >= 1.0, "{out:?}");
}

#[test]
fn users_past_max_users_are_summed_into_other_whose_counter_never_drops() {
    let m = Machine::new();
    // alice (1000) and bob (1001) are named in /etc/passwd; 1500 and 1600 are not.
    m.process(100, "a", 1000, 10, 0, 10 << 20);
    m.process(200, "b", 1001, 20, 0, 20 << 20);
    m.process(300, "c", 1500, 30, 0, 30 << 20);
    m.process(301, "c2", 1500, 1, 0, 1 << 20);
    m.process(400, "d", 1600, 40, 0, 40 << 20);
    let mut c = m.collector("max_users = 2\nheavy_cpu_share = 0.6\nheavy_memory_share = 0", "");
    // First collection: ranked by CPU counter. 1600 (40 s) and 1500 (31 s) are named.
    let (out, _) = collect(&mut c);
    assert_eq!(users_of(&out, "sysmon_user_cpu_seconds_total"), ["1500", "1600", "other"]);
    assert_eq!(value(&out, "sysmon_user_cpu_seconds_total", &[("user", "other")]), Some(30.0));
    assert_eq!(value(&out, "sysmon_user_memory_bytes", &[("user", "other")]), Some((30 << 20) as f64));
    assert_eq!(value(&out, "sysmon_user_processes", &[("user", "other")]), Some(2.0));
    assert_eq!(value(&out, "sysmon_user_other_users", &[]), Some(2.0));
    assert_eq!(value(&out, "sysmon_user_heavy", &[("user", "other")]), None, "no heavy series for the sum");

    // 10 s later (20 CPU-seconds of machine time): alice used 4 s, bob 2 s, 1500 1 s,
    // 1600 nothing. By the last interval's CPU, alice and bob are named now.
    m.at(10);
    m.process(100, "a", 1000, 14, 0, 10 << 20);
    m.process(200, "b", 1001, 22, 0, 20 << 20);
    m.process(300, "c", 1500, 31, 0, 30 << 20);
    let (out, _) = collect(&mut c);
    assert_eq!(users_of(&out, "sysmon_user_cpu_seconds_total"), ["alice", "bob", "other"]);
    assert_eq!(value(&out, "sysmon_user_cpu_seconds_total", &[("user", "alice")]), Some(14.0));
    // other = 30 (alice and bob before) + 1 (1500's last interval) + 0 (1600's): it kept
    // rising though the users in it changed.
    assert_eq!(value(&out, "sysmon_user_cpu_seconds_total", &[("user", "other")]), Some(31.0));
    assert_eq!(value(&out, "sysmon_user_processes", &[("user", "other")]), Some(3.0));
    let mut ended: Vec<(String, Vec<(String, String)>)> = stale(&out);
    ended.sort();
    assert!(ended.contains(&("sysmon_user_cpu_seconds_total".into(), labels(&[("user", "1600")]))), "{ended:?}");
    assert!(ended.contains(&("sysmon_user_cpu_seconds_total".into(), labels(&[("user", "1500")]))), "{ended:?}");

    // A heavy user is named before users that use more CPU: 1600 holds 40 MiB of 1 GiB
    // (3.9 %, above 3.5 %) and no CPU; alice uses the most CPU.
    let mut c =
        m.collector("max_users = 1\nheavy_cpu_share = 0\nheavy_memory_share = 0.035\npersistent_time = \"0s\"", "");
    m.at(20);
    collect(&mut c);
    m.at(30);
    m.process(100, "a", 1000, 15, 0, 10 << 20);
    let (out, _) = collect(&mut c);
    assert_eq!(users_of(&out, "sysmon_user_cpu_seconds_total"), ["1600", "other"]);
    assert_eq!(value(&out, "sysmon_user_heavy", &[("user", "1600"), ("resource", "memory")]), Some(1.0));
    assert_eq!(value(&out, "sysmon_user_other_users", &[]), Some(3.0));
}

#[test]
fn under_the_cap_there_is_no_other() {
    let m = Machine::new();
    m.process(100, "a", 1000, 10, 0, 10 << 20);
    m.process(200, "b", 1001, 20, 0, 20 << 20);
    let mut c = m.collector("max_users = 2", "");
    let (out, _) = collect(&mut c);
    assert_eq!(users_of(&out, "sysmon_user_cpu_seconds_total"), ["alice", "bob"]);
    assert_eq!(value(&out, "sysmon_user_other_users", &[]), Some(0.0));
}
