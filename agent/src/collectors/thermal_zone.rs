//! Thermal zones and cooling devices from /sys/class/thermal, as node_exporter's
//! `thermal_zone` collector.

use std::path::{Path, PathBuf};

use super::{Collector, SystemPaths, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// Emits `node_thermal_zone_temp{type,zone}` (degrees Celsius) per thermal zone and
/// `node_cooling_device_cur_state{name,type}` and `node_cooling_device_max_state{name,type}` per
/// cooling device. A machine without thermal zones reports nothing, which is not an error; a
/// zone whose sensor cannot be read right now is left out.
pub(crate) struct ThermalZoneCollector {
    dir: PathBuf,
    buf: String,
}

impl ThermalZoneCollector {
    pub(crate) fn new(paths: &SystemPaths) -> Self {
        Self { dir: paths.sys("class/thermal"), buf: String::new() }
    }

    fn read(&mut self, path: &Path) -> Option<String> {
        read_into(path, &mut self.buf).ok()?;
        Some(self.buf.trim().to_string())
    }
}

impl Collector for ThermalZoneCollector {
    fn name(&self) -> &'static str {
        "thermal_zone"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Ok(()) };
        let mut names: Vec<String> = entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
        names.sort_unstable();
        for name in names {
            let dir = self.dir.join(&name);
            if let Some(zone) = name.strip_prefix("thermal_zone") {
                let (Some(kind), Some(temp)) = (self.read(&dir.join("type")), self.read(&dir.join("temp"))) else {
                    continue;
                };
                let Ok(millidegrees) = temp.parse::<i64>() else { continue };
                out.push(
                    Sample::new("node_thermal_zone_temp", millidegrees as f64 / 1000.0)
                        .label("type", kind)
                        .label("zone", zone),
                );
            } else if let Some(device) = name.strip_prefix("cooling_device") {
                let Some(kind) = self.read(&dir.join("type")) else { continue };
                for (file, metric) in
                    [("cur_state", "node_cooling_device_cur_state"), ("max_state", "node_cooling_device_max_state")]
                {
                    if let Some(state) = self.read(&dir.join(file)).and_then(|s| s.parse::<i64>().ok()) {
                        out.push(Sample::new(metric, state as f64).label("name", device).label("type", kind.as_str()));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, value, write};

    #[test]
    fn zones_and_cooling_devices() {
        let (_dir, paths) = fixture();
        write(&paths.sys, "class/thermal/thermal_zone0/type", "x86_pkg_temp\n");
        write(&paths.sys, "class/thermal/thermal_zone0/temp", "48500\n");
        write(&paths.sys, "class/thermal/thermal_zone1/type", "acpitz\n");
        write(&paths.sys, "class/thermal/cooling_device0/type", "Processor\n");
        write(&paths.sys, "class/thermal/cooling_device0/cur_state", "0\n");
        write(&paths.sys, "class/thermal/cooling_device0/max_state", "3\n");
        let samples = collect(&mut ThermalZoneCollector::new(&paths));
        assert_eq!(samples.len(), 3);
        assert_eq!(value(&samples, "node_thermal_zone_temp", &[("type", "x86_pkg_temp"), ("zone", "0")]), Some(48.5));
        assert_eq!(
            value(&samples, "node_cooling_device_max_state", &[("name", "0"), ("type", "Processor")]),
            Some(3.0)
        );
    }

    #[test]
    fn no_thermal_class_is_no_data() {
        let (_dir, paths) = fixture();
        assert!(collect(&mut ThermalZoneCollector::new(&paths)).is_empty());
    }
}
