//! Two network namespaces joined by a veth pair, made by a test and deleted when dropped
//! (on failure too), so that multicast (mDNS) and every listener stay off the machine's
//! own interfaces. Creating them needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN), as CI has.
//!
//! ```text
//!  ns A                               ns B
//!  lo 127.0.0.1   smd-a 10.91.N.1/24 <----> smd-b 10.91.N.2/24   lo 127.0.0.1
//! ```

use std::fs;
use std::net::Ipv4Addr;
use std::os::fd::AsFd as _;
use std::process::Command;

use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("iproute2's `ip` must be installed");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// The pair of namespaces; both are deleted on drop, which deletes the veth pair too.
pub struct NetnsPair {
    pub a: String,
    pub b: String,
    /// The veth end in A, and its address.
    pub dev_a: &'static str,
    pub addr_a: Ipv4Addr,
    /// The veth end in B, and its address.
    pub dev_b: &'static str,
    pub addr_b: Ipv4Addr,
}

impl NetnsPair {
    /// Creates `sysmon-e2e-<pid>-<tag>-{a,b}`; `tag` tells apart the pairs of tests that
    /// run at the same time.
    pub fn create(tag: &str) -> NetnsPair {
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap().split_whitespace().next().unwrap();
        assert_eq!(uid, "0", "this test creates network namespaces and must run as root");
        let pid = std::process::id();
        let net = (pid % 250 + 1) as u8;
        let pair = NetnsPair {
            a: format!("sysmon-e2e-{pid}-{tag}-a"),
            b: format!("sysmon-e2e-{pid}-{tag}-b"),
            dev_a: "smd-a",
            addr_a: Ipv4Addr::new(10, 91, net, 1),
            dev_b: "smd-b",
            addr_b: Ipv4Addr::new(10, 91, net, 2),
        };
        for ns in [&pair.a, &pair.b] {
            // A namespace left by a killed run of the same pid and tag.
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            ip(&["netns", "add", ns]);
        }
        // Made straight inside the namespaces: the veths never exist in the machine's own.
        ip(&[
            "link", "add", pair.dev_a, "netns", &pair.a, "type", "veth", "peer", "name", pair.dev_b, "netns", &pair.b,
        ]);
        for (ns, dev, addr) in [(&pair.a, pair.dev_a, pair.addr_a), (&pair.b, pair.dev_b, pair.addr_b)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "multicast", "on", "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            // Link-local multicast needs no route, but one keeps a socket without
            // IP_MULTICAST_IF from failing outright.
            ip(&["-n", ns, "route", "add", "224.0.0.0/4", "dev", dev]);
        }
        pair
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Runs `f` on a thread of its own moved into network namespace `ns` (setns(2)): sockets it
/// opens live there. The rest of the test process stays where it was.
pub fn run_in<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        let thread = scope.spawn(|| {
            let handle = fs::File::open(format!("/run/netns/{ns}")).unwrap_or_else(|e| panic!("netns {ns}: {e}"));
            move_into_link_name_space(handle.as_fd(), Some(LinkNameSpaceType::Network))
                .unwrap_or_else(|e| panic!("setns into {ns}: {e}"));
            f()
        });
        thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The network namespace of process `pid`, as the kernel names it (`net:[INODE]`).
pub fn of_process(pid: u32) -> String {
    fs::read_link(format!("/proc/{pid}/ns/net")).map(|p| p.display().to_string()).unwrap_or_default()
}

/// The network namespace called `ns`, named as [`of_process`] names them.
pub fn named(ns: &str) -> String {
    run_in(ns, of_process_thread)
}

/// This thread's network namespace.
fn of_process_thread() -> String {
    fs::read_link("/proc/thread-self/ns/net").map(|p| p.display().to_string()).unwrap_or_default()
}
