//! The host inventory in its wire form, for the stream's Hello.

use sysmon_proto::v1;

use crate::inventory::Inventory;

impl From<Inventory> for v1::HostInventory {
    fn from(inv: Inventory) -> Self {
        v1::HostInventory {
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
