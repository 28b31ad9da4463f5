//! What a host is made of (OS, kernel, CPU, memory, disks, network interfaces), read from
//! /proc, /sys and os-release for the agent's `Hello` (DESIGN.md, data path step 3).

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use crate::collectors::{SystemPaths, boot_time_secs, mem_total_bytes, read_to_string};

/// Where os-release(5) says to look, in order.
const OS_RELEASE_FILES: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// `ARPHRD_LOOPBACK` in /sys/class/net/X/type.
const ARPHRD_LOOPBACK: &str = "772";

/// A host's hardware and software, as far as the agent could read it.
///
/// Every field is best effort: what could not be read is left empty (or 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// The kernel's host name (/proc/sys/kernel/hostname).
    pub hostname: String,
    /// `PRETTY_NAME` from os-release, e.g. `Debian GNU/Linux 12 (bookworm)`; `NAME` if that is missing.
    pub os_name: String,
    /// The kernel release, as `uname -r` prints it (/proc/sys/kernel/osrelease).
    pub kernel_release: String,
    /// The architecture this agent was built for, e.g. `x86_64`, `aarch64`.
    pub architecture: String,
    /// The CPU model from /proc/cpuinfo, e.g. `AMD EPYC 7B13`; empty where the kernel does not
    /// name it (most arm64 kernels).
    pub cpu_model: String,
    /// Logical CPUs.
    pub cpu_cores: u32,
    /// Physical memory the kernel manages (`MemTotal`).
    pub memory_bytes: u64,
    /// Physical disks, sorted by device name.
    pub disks: Vec<Disk>,
    /// Network interfaces other than loopback, sorted by name.
    pub interfaces: Vec<NetworkInterface>,
    /// Boot time, unix milliseconds (whole seconds, as the kernel reports it).
    pub boot_time_ms: i64,
}

/// A block device backed by hardware (or a hypervisor's virtual disk): entries of /sys/block
/// that have a `device` link, so not loop, ram, zram, dm or md devices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disk {
    /// Kernel name, e.g. `sda`, `nvme0n1`, `vda`.
    pub device: String,
    /// Capacity in bytes.
    pub size_bytes: u64,
    /// The model the device reports; empty when it reports none (virtio disks).
    pub model: String,
    /// Whether the kernel considers it a spinning disk.
    pub rotational: bool,
}

/// A network interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkInterface {
    /// Kernel name, e.g. `eth0`, `enp3s0`.
    pub name: String,
    /// Hardware address, e.g. `02:fc:00:00:00:01`; empty for interfaces without one.
    pub mac_address: String,
    /// IPv4 then IPv6 addresses, without prefix length, e.g. `192.0.2.7`, `fe80::1`.
    pub addresses: Vec<String>,
    /// Link speed in bits per second; 0 when unknown (virtual interfaces, link down).
    pub speed_bps: u64,
    /// MTU in bytes.
    pub mtu: u32,
}

/// Reads the inventory of this host. Never fails: what cannot be read is left empty.
///
/// Files come from `paths` and os-release from /etc (or /usr/lib); IPv4 addresses come from
/// getifaddrs(3), so always from the agent's own network namespace.
pub fn read_inventory(paths: &SystemPaths) -> Inventory {
    let os_release: Vec<PathBuf> = OS_RELEASE_FILES.iter().map(PathBuf::from).collect();
    read_inventory_from(paths, &os_release, &ipv4_addresses())
}

/// [`read_inventory`] with os-release candidates and IPv4 addresses per interface supplied.
fn read_inventory_from(paths: &SystemPaths, os_release: &[PathBuf], ipv4: &HashMap<String, Vec<String>>) -> Inventory {
    let cpuinfo = read(&paths.proc("cpuinfo")).unwrap_or_default();
    let stat = read(&paths.proc("stat")).unwrap_or_default();
    let (cpu_model, mut cpu_cores) = parse_cpuinfo(&cpuinfo);
    if cpu_cores == 0 {
        cpu_cores =
            stat.lines().filter(|l| l.starts_with("cpu") && l[3..].starts_with(|c: char| c.is_ascii_digit())).count();
    }
    Inventory {
        hostname: read_trimmed(&paths.proc("sys/kernel/hostname")),
        os_name: os_release.iter().find_map(|p| read(p)).map(|text| os_name(&text)).unwrap_or_default(),
        kernel_release: read_trimmed(&paths.proc("sys/kernel/osrelease")),
        architecture: std::env::consts::ARCH.to_string(),
        cpu_model,
        cpu_cores: u32::try_from(cpu_cores).unwrap_or(u32::MAX),
        memory_bytes: read(&paths.proc("meminfo")).and_then(|m| mem_total_bytes(&m)).unwrap_or(0),
        disks: read_disks(paths),
        interfaces: read_interfaces(paths, ipv4),
        boot_time_ms: boot_time_secs(&stat).map_or(0, |secs| secs.saturating_mul(1000)),
    }
}

fn read(path: &Path) -> Option<String> {
    read_to_string(path).ok()
}

fn read_trimmed(path: &Path) -> String {
    read(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

/// Entries of a sysfs directory, sorted.
fn sorted_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    names.sort_unstable();
    names
}

/// The CPU model and the number of `processor` entries.
fn parse_cpuinfo(cpuinfo: &str) -> (String, usize) {
    let mut model = None;
    let mut fallback = None;
    let mut processors = 0;
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match key.trim() {
            "processor" => processors += 1,
            "model name" => {
                model.get_or_insert(value);
            }
            // 32-bit ARM, MIPS and POWER name the CPU under these keys.
            "Processor" | "cpu model" | "cpu" => {
                fallback.get_or_insert(value);
            }
            _ => {}
        }
    }
    (model.or(fallback).unwrap_or_default().to_string(), processors)
}

/// `PRETTY_NAME` (else `NAME`) from os-release text, unquoted.
fn os_name(text: &str) -> String {
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(key)?.strip_prefix('='))
            .map(unquote)
            .filter(|v| !v.is_empty())
    };
    value("PRETTY_NAME").or_else(|| value("NAME")).unwrap_or_default()
}

/// Undoes os-release's shell-style quoting: `"a \"b\""` -> `a "b"`, `'x'` -> `x`.
fn unquote(raw: &str) -> String {
    let raw = raw.trim();
    if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return inner.to_string();
    }
    let inner = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(raw);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some(next @ ('"' | '\\' | '$' | '`'))) => {
                out.push(next);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

fn read_disks(paths: &SystemPaths) -> Vec<Disk> {
    let block = paths.sys("block");
    sorted_entries(&block)
        .into_iter()
        .filter(|name| block.join(name).join("device").exists())
        .map(|name| {
            let dir = block.join(&name);
            Disk {
                // /sys/block/X/size is in 512-byte sectors whatever the device's block size.
                size_bytes: read_trimmed(&dir.join("size"))
                    .parse::<u64>()
                    .map_or(0, |sectors| sectors.saturating_mul(512)),
                model: read_trimmed(&dir.join("device/model")),
                rotational: read_trimmed(&dir.join("queue/rotational")) == "1",
                device: name,
            }
        })
        .collect()
}

fn read_interfaces(paths: &SystemPaths, ipv4: &HashMap<String, Vec<String>>) -> Vec<NetworkInterface> {
    let net = paths.sys("class/net");
    let ipv6 = ipv6_addresses(&read(&paths.proc("net/if_inet6")).unwrap_or_default());
    sorted_entries(&net)
        .into_iter()
        .filter(|name| read_trimmed(&net.join(name).join("type")) != ARPHRD_LOOPBACK)
        .map(|name| {
            let dir = net.join(&name);
            let mut addresses = ipv4.get(&name).cloned().unwrap_or_default();
            addresses.extend(ipv6.get(&name).into_iter().flatten().cloned());
            // "speed" is Mb/s; reading it fails (EINVAL) or gives -1 when the link has no speed.
            let speed_mbps = read_trimmed(&dir.join("speed")).parse::<i64>().unwrap_or(0);
            NetworkInterface {
                mac_address: read_trimmed(&dir.join("address")),
                addresses,
                speed_bps: u64::try_from(speed_mbps).map_or(0, |mbps| mbps.saturating_mul(1_000_000)),
                mtu: read_trimmed(&dir.join("mtu")).parse().unwrap_or(0),
                name,
            }
        })
        .collect()
}

/// IPv6 addresses per interface from /proc/net/if_inet6 lines:
/// `fe8000000000000000fc00fffe000001 04 40 20 80     eth0`.
fn ipv6_addresses(if_inet6: &str) -> HashMap<String, Vec<String>> {
    let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
    for line in if_inet6.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let [hex, _index, _prefix, _scope, _flags, name] = fields[..] else { continue };
        let Ok(bits) = u128::from_str_radix(hex, 16) else { continue };
        by_name.entry(name.to_string()).or_default().push(Ipv6Addr::from(bits).to_string());
    }
    by_name
}

/// IPv4 addresses per interface, from getifaddrs(3). Alias labels (`eth0:1`) count for their
/// interface.
fn ipv4_addresses() -> HashMap<String, Vec<String>> {
    let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
    match nix::ifaddrs::getifaddrs() {
        Ok(addrs) => {
            for ifa in addrs {
                let Some(v4) = ifa.address.as_ref().and_then(|a| a.as_sockaddr_in()) else { continue };
                let name = ifa.interface_name.split(':').next().unwrap_or_default();
                by_name.entry(name.to_string()).or_default().push(v4.ip().to_string());
            }
        }
        Err(errno) => tracing::debug!(error = %errno, "getifaddrs failed; inventory has no IPv4 addresses"),
    }
    by_name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{fixture, write};

    const CPUINFO: &str = "processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13 64-Core Processor
flags\t\t: fpu vme de

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13 64-Core Processor
";

    fn write_host(paths: &SystemPaths) {
        write(&paths.proc, "cpuinfo", CPUINFO);
        write(&paths.proc, "meminfo", "MemTotal:       24683656 kB\nMemFree:  1 kB\n");
        write(&paths.proc, "stat", "cpu  1 2 3 4\ncpu0 1 2 3 4\nbtime 1795417575\n");
        write(&paths.proc, "sys/kernel/hostname", "web-01\n");
        write(&paths.proc, "sys/kernel/osrelease", "6.1.0-18-amd64\n");
        write(
            &paths.proc,
            "net/if_inet6",
            "00000000000000000000000000000001 01 80 10 80       lo
fe8000000000000000fc00fffe000001 02 40 20 80     eth0
20010db8000000000000000000000002 02 40 00 00     eth0
",
        );
        for (disk, size, model, rotational, real) in [
            ("sda", "3907029168", "ST2000DM008-2FR1 ", "1", true),
            ("nvme0n1", "1000215216", "Samsung SSD 980 PRO 1TB", "0", true),
            ("vda", "536870912", "", "1", true),
            ("loop0", "0", "", "0", false),
            ("zram0", "8388608", "", "0", false),
        ] {
            write(&paths.sys, &format!("block/{disk}/size"), &format!("{size}\n"));
            write(&paths.sys, &format!("block/{disk}/queue/rotational"), &format!("{rotational}\n"));
            if real {
                std::fs::create_dir_all(paths.sys(&format!("block/{disk}/device"))).unwrap();
            }
            if !model.is_empty() {
                write(&paths.sys, &format!("block/{disk}/device/model"), &format!("{model}\n"));
            }
        }
        for (name, address, mtu, kind, speed) in [
            ("eth0", "02:fc:00:00:00:01", "1500", "1", Some("10000")),
            ("lo", "00:00:00:00:00:00", "65536", "772", None),
            ("wg0", "", "1420", "65534", Some("-1")),
        ] {
            write(&paths.sys, &format!("class/net/{name}/address"), &format!("{address}\n"));
            write(&paths.sys, &format!("class/net/{name}/mtu"), &format!("{mtu}\n"));
            write(&paths.sys, &format!("class/net/{name}/type"), &format!("{kind}\n"));
            if let Some(speed) = speed {
                write(&paths.sys, &format!("class/net/{name}/speed"), &format!("{speed}\n"));
            }
        }
    }

    #[test]
    fn reads_a_whole_host() {
        let (dir, paths) = fixture();
        write_host(&paths);
        write(dir.path(), "os-release", "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n");
        let os_release = [dir.path().join("missing"), dir.path().join("os-release")];
        let ipv4 = HashMap::from([("eth0".to_string(), vec!["192.0.2.7".to_string()])]);
        let inventory = read_inventory_from(&paths, &os_release, &ipv4);
        let expected = Inventory {
            hostname: "web-01".into(),
            os_name: "Debian GNU/Linux 12 (bookworm)".into(),
            kernel_release: "6.1.0-18-amd64".into(),
            architecture: std::env::consts::ARCH.into(),
            cpu_model: "AMD EPYC 7B13 64-Core Processor".into(),
            cpu_cores: 2,
            memory_bytes: 24683656 * 1024,
            disks: vec![
                Disk {
                    device: "nvme0n1".into(),
                    size_bytes: 1000215216 * 512,
                    model: "Samsung SSD 980 PRO 1TB".into(),
                    rotational: false,
                },
                Disk {
                    device: "sda".into(),
                    size_bytes: 3907029168 * 512,
                    model: "ST2000DM008-2FR1".into(),
                    rotational: true,
                },
                Disk { device: "vda".into(), size_bytes: 536870912 * 512, model: String::new(), rotational: true },
            ],
            interfaces: vec![
                NetworkInterface {
                    name: "eth0".into(),
                    mac_address: "02:fc:00:00:00:01".into(),
                    addresses: vec!["192.0.2.7".into(), "fe80::fc:ff:fe00:1".into(), "2001:db8::2".into()],
                    speed_bps: 10_000_000_000,
                    mtu: 1500,
                },
                NetworkInterface {
                    name: "wg0".into(),
                    mac_address: String::new(),
                    addresses: vec![],
                    speed_bps: 0,
                    mtu: 1420,
                },
            ],
            boot_time_ms: 1_795_417_575_000,
        };
        assert_eq!(inventory, expected);
    }

    #[test]
    fn empty_system_gives_empty_inventory() {
        let (dir, paths) = fixture();
        let inventory = read_inventory_from(&paths, &[dir.path().join("none")], &HashMap::new());
        assert_eq!(inventory, Inventory { architecture: std::env::consts::ARCH.into(), ..Inventory::default() });
    }

    #[test]
    fn cpuinfo_fallbacks() {
        assert_eq!(
            parse_cpuinfo("processor : 0\nProcessor : ARMv7 Processor rev 4 (v7l)\n"),
            ("ARMv7 Processor rev 4 (v7l)".into(), 1)
        );
        assert_eq!(parse_cpuinfo("processor : 0\nBogoMIPS : 50.00\nCPU part : 0xd0c\n"), (String::new(), 1));
    }

    #[test]
    fn os_release_quoting() {
        assert_eq!(os_name("PRETTY_NAME='Arch Linux'\n"), "Arch Linux");
        assert_eq!(os_name("NAME=Fedora\n"), "Fedora");
        assert_eq!(os_name("PRETTY_NAME=\"My \\\"Special\\\" \\$OS\"\n"), "My \"Special\" $OS");
        assert_eq!(os_name("PRETTY_NAME=\"\"\nNAME=Gentoo\n"), "Gentoo");
        assert_eq!(os_name("ID=x\n"), "");
    }

    #[test]
    fn real_host_inventory_is_filled_in() {
        let inventory = read_inventory(&SystemPaths::default());
        assert!(!inventory.hostname.is_empty());
        assert!(!inventory.kernel_release.is_empty());
        assert!(inventory.cpu_cores >= 1);
        assert!(inventory.memory_bytes > 0);
        assert!(inventory.boot_time_ms > 1_000_000_000_000);
        assert!(inventory.interfaces.iter().all(|i| i.name != "lo"));
        let cpus =
            std::fs::read_to_string("/proc/cpuinfo").unwrap().lines().filter(|l| l.starts_with("processor")).count();
        assert_eq!(inventory.cpu_cores as usize, cpus);
    }
}
