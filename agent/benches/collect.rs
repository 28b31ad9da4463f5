//! What one collection costs on the machine that runs the bench: all collectors together (the
//! agent's figure per interval), each collector alone, and printing one collection as
//! Prometheus text (`sysmon agent --once`).
//!
//! `cargo bench -p sysmon-agent --bench collect`; the numbers depend on the machine (devices,
//! mounts, CPUs) and its load, so quote them with both.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sysmon_agent::{COLLECTOR_NAMES, CollectorSet, CollectorsSection, SystemPaths, prometheus_text};

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

criterion_group!(benches, collect);
criterion_main!(benches);
