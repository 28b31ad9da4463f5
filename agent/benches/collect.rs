//! What one collection costs on the machine that runs the bench: all collectors together (the
//! agent's figure per interval), each collector alone, and printing one collection as
//! Prometheus text (`sysmon agent --once`).
//!
//! The users collector (per-user usage, top processes, heavy users) is measured on its own
//! too, with and without its state file, in wall time and in CPU time of the collecting
//! thread; so is the whole collection.
//!
//! `cargo bench -p sysmon-agent --bench collect`; the numbers depend on the machine (devices,
//! mounts, CPUs, processes) and its load, so quote them with both.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, criterion_group, criterion_main};
use sysmon_agent::{
    COLLECTOR_NAMES, CollectorSet, CollectorsSection, ProcessesSection, SystemPaths, UsersSection, prometheus_text,
};

/// A section with only `name` switched on.
fn only(name: &str) -> CollectorsSection {
    let mut section: CollectorsSection = CollectorsSection::default();
    let switches: [(&str, &mut bool); 27] = [
        ("arp", &mut section.arp),
        ("conntrack", &mut section.conntrack),
        ("cpu", &mut section.cpu),
        ("diskstats", &mut section.diskstats),
        ("edac", &mut section.edac),
        ("entropy", &mut section.entropy),
        ("filefd", &mut section.filefd),
        ("filesystem", &mut section.filesystem),
        ("hwmon", &mut section.hwmon),
        ("loadavg", &mut section.loadavg),
        ("meminfo", &mut section.meminfo),
        ("netclass", &mut section.netclass),
        ("netdev", &mut section.netdev),
        ("netstat", &mut section.netstat),
        ("os", &mut section.os),
        ("pressure", &mut section.pressure),
        ("selinux", &mut section.selinux),
        ("sockstat", &mut section.sockstat),
        ("softnet", &mut section.softnet),
        ("stat", &mut section.stat),
        ("thermal_zone", &mut section.thermal_zone),
        ("time", &mut section.time),
        ("timex", &mut section.timex),
        ("udp_queues", &mut section.udp_queues),
        ("uname", &mut section.uname),
        ("users", &mut section.users),
        ("vmstat", &mut section.vmstat),
    ];
    for (n, on) in switches {
        *on = n == name;
    }
    section
}

fn collect(c: &mut Criterion) {
    let paths = SystemPaths::default();
    let settings = CollectorsSection::default().validate().expect("defaults are valid");
    let mut set = CollectorSet::new(&paths, &settings);
    let mut samples = Vec::with_capacity(2048);
    set.collect(&mut samples);
    let series = samples.len();
    c.bench_function(
        &format!("collect all {} collectors once, {series} series, this machine", COLLECTOR_NAMES.len()),
        |b| {
            b.iter(|| {
                samples.clear();
                black_box(set.collect(&mut samples));
            })
        },
    );
    c.bench_function(&format!("prometheus text of one collection, {series} series"), |b| {
        b.iter(|| black_box(prometheus_text(&samples, "bench-host")))
    });

    let mut group = c.benchmark_group("collector alone");
    group.sample_size(20).measurement_time(Duration::from_secs(1)).warm_up_time(Duration::from_millis(300));
    for name in COLLECTOR_NAMES {
        let settings = only(name).validate().expect("valid");
        let mut set = CollectorSet::new(&paths, &settings);
        group.bench_function(name, |b| {
            b.iter(|| {
                samples.clear();
                black_box(set.collect(&mut samples));
            })
        });
    }
    group.finish();
}

/// The users collector as the agent runs it, its state file written (atomically, with fsync)
/// after every collection that changed it, and without one; run with both measurements.
/// Every user is reported (root and system users included), the worst case.
fn users<M: Measurement + 'static>(c: &mut Criterion<M>, what: &str) {
    let paths = SystemPaths::default();
    let state_dir = tempfile::tempdir().expect("a temp dir for the users state file");
    let processes = std::fs::read_dir("/proc")
        .map(|d| d.filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())).count())
        .unwrap_or(0);
    let mut group = c.benchmark_group(format!("users collector, {what}"));
    group.sample_size(30).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    // The bench itself keeps one CPU busy as root, so with root reported and a threshold of
    // half the machine, root is heavy: its open episode is written with fsync every time.
    let variants = [
        ("no state file", false, 0.0),
        ("state file, counters changed", true, 0.0),
        ("state file, a heavy episode open (fsync)", true, 0.1),
    ];
    for (what, with_state, heavy_cpu_share) in variants {
        // Every user reported and every process a candidate for the top: the most work (a
        // bench machine's processes are mostly root's).
        let users = UsersSection {
            state_file: state_dir.path().join("users.json"),
            min_uid: 0,
            include_root: true,
            exclude: Vec::new(),
            heavy_cpu_share,
            heavy_memory_share: 0.0,
            persistent_time: "0s".into(),
            ..UsersSection::default()
        };
        let processes_section = ProcessesSection { all_users: true, ..ProcessesSection::default() };
        let mut users = users.validate(processes_section).expect("valid");
        if !with_state {
            users = users.without_state_file();
        }
        let settings = only("users").validate().expect("valid").with_users(users);
        let mut set = CollectorSet::new(&paths, &settings);
        let mut samples = Vec::with_capacity(256);
        group.bench_function(format!("{processes} processes, {what}"), |b| {
            b.iter(|| {
                samples.clear();
                black_box(set.collect(&mut samples));
            })
        });
    }
    group.finish();
}

fn users_wall(c: &mut Criterion) {
    users(c, "wall time");
}

/// CPU time of the collecting thread (user + system), which is what a collection costs the
/// host whatever else runs on it; wall time on a loaded machine includes waiting for a CPU.
fn cpu_time(c: &mut Criterion<ThreadCpuTime>) {
    users(c, "thread CPU time");
    let paths = SystemPaths::default();
    let settings = CollectorsSection::default().validate().expect("defaults are valid");
    let mut set = CollectorSet::new(&paths, &settings);
    let mut samples = Vec::with_capacity(2048);
    set.collect(&mut samples);
    let series = samples.len();
    let mut group = c.benchmark_group("thread CPU time");
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    group.bench_function(
        format!("collect all {} collectors once, {series} series, this machine", COLLECTOR_NAMES.len()),
        |b| {
            b.iter(|| {
                samples.clear();
                black_box(set.collect(&mut samples));
            })
        },
    );
    group.finish();
}

/// Criterion measurement: CPU time of the benchmarking thread, from
/// `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`, in nanoseconds. (The filesystem collector's
/// statvfs helper thread is not counted.)
struct ThreadCpuTime {
    wall: WallTime,
}

impl Default for ThreadCpuTime {
    fn default() -> Self {
        Self { wall: WallTime }
    }
}

fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(thread_cpu_ns().saturating_sub(start))
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, shown as times like wall time is.
        self.wall.formatter()
    }
}

criterion_group!(benches, collect, users_wall);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpuTime::default());
    targets = cpu_time
}
criterion_main!(benches, cpu);
