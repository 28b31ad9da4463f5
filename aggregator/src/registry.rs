//! The host registry: what each host is (its inventory, from its Hello), when it was last
//! seen, and whether it is up, stale or down.

use serde::{Deserialize, Serialize};
use sysmon_proto::v1;

/// A host's registration, stored in the `hosts` table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct HostRecord {
    /// The host id (= agent id = certificate identity).
    pub(crate) host: String,
    /// The region of the aggregator that owns the host.
    pub(crate) region: String,
    pub(crate) agent_version: String,
    /// The agent's collection interval.
    pub(crate) interval_ms: u64,
    pub(crate) inventory: Inventory,
    /// When this aggregator first heard of the host (unix ms).
    pub(crate) first_seen_ms: i64,
}

/// What a host is made of; the JSON shape the hosts API serves.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Inventory {
    pub(crate) hostname: String,
    pub(crate) os_name: String,
    pub(crate) kernel_release: String,
    pub(crate) architecture: String,
    pub(crate) cpu_model: String,
    pub(crate) cpu_cores: u32,
    pub(crate) memory_bytes: u64,
    pub(crate) disks: Vec<Disk>,
    pub(crate) interfaces: Vec<NetworkInterface>,
    pub(crate) boot_time_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Disk {
    pub(crate) device: String,
    pub(crate) size_bytes: u64,
    pub(crate) model: String,
    pub(crate) rotational: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct NetworkInterface {
    pub(crate) name: String,
    pub(crate) mac_address: String,
    pub(crate) addresses: Vec<String>,
    pub(crate) speed_bps: u64,
    pub(crate) mtu: u32,
}

impl From<v1::HostInventory> for Inventory {
    fn from(inv: v1::HostInventory) -> Self {
        Self {
            hostname: inv.hostname,
            os_name: inv.os_name,
            kernel_release: inv.kernel_release,
            architecture: inv.architecture,
            cpu_model: inv.cpu_model,
            cpu_cores: inv.cpu_cores,
            memory_bytes: inv.memory_bytes,
            disks: inv
                .disks
                .into_iter()
                .map(|d| Disk { device: d.device, size_bytes: d.size_bytes, model: d.model, rotational: d.rotational })
                .collect(),
            interfaces: inv
                .interfaces
                .into_iter()
                .map(|i| NetworkInterface {
                    name: i.name,
                    mac_address: i.mac_address,
                    addresses: i.addresses,
                    speed_bps: i.speed_bps,
                    mtu: i.mtu,
                })
                .collect(),
            boot_time_ms: inv.boot_time_ms,
        }
    }
}

impl From<Inventory> for v1::HostInventory {
    fn from(inv: Inventory) -> Self {
        Self {
            hostname: inv.hostname,
            os_name: inv.os_name,
            kernel_release: inv.kernel_release,
            architecture: inv.architecture,
            cpu_model: inv.cpu_model,
            cpu_cores: inv.cpu_cores,
            memory_bytes: inv.memory_bytes,
            disks: inv
                .disks
                .into_iter()
                .map(|d| v1::Disk {
                    device: d.device,
                    size_bytes: d.size_bytes,
                    model: d.model,
                    rotational: d.rotational,
                })
                .collect(),
            interfaces: inv
                .interfaces
                .into_iter()
                .map(|i| v1::NetworkInterface {
                    name: i.name,
                    mac_address: i.mac_address,
                    addresses: i.addresses,
                    speed_bps: i.speed_bps,
                    mtu: i.mtu,
                })
                .collect(),
            boot_time_ms: inv.boot_time_ms,
        }
    }
}

/// Whether a host is reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum HostStatus {
    /// A batch arrived within three collection intervals (at least 5 s).
    Up,
    /// Late: no batch for three intervals, but for less than ten (at least 60 s).
    Stale,
    /// Silent for ten intervals (at least 60 s) or more.
    Down,
    /// Its region is unreachable from this master: nobody knows.
    Unknown,
}

impl HostStatus {
    /// The status of a host last seen at `last_seen_ms` that reports every `interval_ms`.
    pub(crate) fn of(last_seen_ms: i64, interval_ms: u64, now_ms: i64) -> HostStatus {
        let age = now_ms.saturating_sub(last_seen_ms).max(0) as u64;
        let interval = interval_ms.max(1);
        if age <= (3 * interval).max(5_000) {
            HostStatus::Up
        } else if age < (10 * interval).max(60_000) {
            HostStatus::Stale
        } else {
            HostStatus::Down
        }
    }
}

/// Wall-clock now, unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_interval() {
        let now = 1_000_000_000;
        assert_eq!(HostStatus::of(now - 4_000, 1_000, now), HostStatus::Up);
        assert_eq!(HostStatus::of(now - 6_000, 1_000, now), HostStatus::Stale);
        assert_eq!(HostStatus::of(now - 60_000, 1_000, now), HostStatus::Down);
        assert_eq!(HostStatus::of(now - 29_000, 10_000, now), HostStatus::Up);
        assert_eq!(HostStatus::of(now - 31_000, 10_000, now), HostStatus::Stale);
        assert_eq!(HostStatus::of(now - 100_000, 10_000, now), HostStatus::Down);
    }
}
