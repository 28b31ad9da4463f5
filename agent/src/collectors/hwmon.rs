//! Hardware sensors from /sys/class/hwmon (temperatures, fans, voltages, power), as
//! node_exporter's `hwmon` collector, with its metric names, units and chip labels.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::{Collector, SystemPaths};
use crate::error::{Error, Result};
use crate::sample::Sample;

/// Sensor file prefixes node_exporter reads (`temp1_input`, `fan2_min`, `in0_label`, ...).
const SENSOR_TYPES: [&str; 13] = [
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
];

/// Emits, per chip and sensor (`chip`, `sensor` labels), node_exporter's `node_hwmon_*` series:
/// `node_hwmon_temp_celsius` (and `_max_celsius`, `_crit_celsius`, ...), `node_hwmon_fan_rpm`,
/// `node_hwmon_in_volts`, `node_hwmon_power_average_watt`, `node_hwmon_curr_amps`, alarms and
/// the rest, plus `node_hwmon_chip_names{chip,chip_name}` and `node_hwmon_sensor_label{chip,
/// sensor,label}`.
///
/// The `chip` label is stable across reboots: it comes from the device the monitor belongs to
/// (`platform_coretemp_0`, `pci0000:00_0000:00:18_3`), not from the `hwmonN` number, which
/// depends on driver load order. A machine without sensors (most VMs) has no /sys/class/hwmon
/// and reports nothing, which is not an error.
pub(crate) struct HwmonCollector {
    dir: PathBuf,
}

impl HwmonCollector {
    pub(crate) fn new(paths: &SystemPaths) -> Self {
        Self { dir: paths.sys("class/hwmon") }
    }
}

impl Collector for HwmonCollector {
    fn name(&self) -> &'static str {
        "hwmon"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(Error::ReadSource { path: self.dir.clone(), source }),
        };
        let mut monitors: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).filter(|p| p.is_dir()).collect();
        monitors.sort_unstable();
        for monitor in monitors {
            collect_monitor(&monitor, out);
        }
        Ok(())
    }
}

/// A sensor's files: property (`""` for a bare `vrm`, `"input"`, `"max"`, ...) to raw text.
type SensorData = BTreeMap<String, String>;

fn collect_monitor(dir: &Path, out: &mut Vec<Sample>) {
    let Some(chip) = chip_name(dir) else { return };
    let mut sensors: BTreeMap<String, SensorData> = BTreeMap::new();
    read_sensors(dir, &mut sensors);
    let device = dir.join("device");
    if device.exists() {
        read_sensors(&device, &mut sensors);
    }
    if let Some(name) = read_small(&dir.join("name")).map(|n| clean(&n)).filter(|n| !n.is_empty()) {
        out.push(Sample::new("node_hwmon_chip_names", 1.0).label("chip", chip.as_str()).label("chip_name", name));
    }
    for (sensor, data) in &sensors {
        let Some((kind, _, _)) = split_sensor_file(sensor) else { continue };
        let sample = |name: String, value: f64| {
            Sample::new(name, value).label("chip", chip.as_str()).label("sensor", sensor.as_str())
        };
        if let Some(label) = data.get("label").map(|l| clean(l)).filter(|l| !l.is_empty()) {
            out.push(
                Sample::new("node_hwmon_sensor_label", 1.0)
                    .label("chip", chip.as_str())
                    .label("sensor", sensor.as_str())
                    .label("label", label),
            );
        }
        let bare = || data.get("").and_then(|v| v.parse::<f64>().ok());
        match kind {
            "beep_enable" => {
                let on = data.get("").is_some_and(|v| v == "1");
                out.push(sample("node_hwmon_beep_enabled".into(), if on { 1.0 } else { 0.0 }));
                continue;
            }
            "vrm" => {
                if let Some(v) = bare() {
                    out.push(sample("node_hwmon_voltage_regulator_version".into(), v));
                }
                continue;
            }
            "update_interval" => {
                if let Some(v) = bare() {
                    out.push(sample("node_hwmon_update_interval_seconds".into(), v * 0.001));
                }
                continue;
            }
            _ => {}
        }
        for (element, raw) in data {
            if element == "label" {
                continue;
            }
            let Ok(value) = raw.parse::<f64>() else { continue };
            let mut name = format!("node_hwmon_{kind}");
            // `tempN_input` is the reading itself, unless a bare `tempN` file is that.
            if element == "input" {
                if data.contains_key("") {
                    name.push_str("_input");
                }
            } else if !element.is_empty() {
                name.push('_');
                name.push_str(&clean(element));
            }
            let (name, value) = match (kind, element.as_str()) {
                (_, "fault" | "alarm") => (name, value),
                (_, "beep") => (name + "_enabled", value),
                ("in" | "cpu", _) => (name + "_volts", value * 0.001),
                ("temp", e) if e != "type" => (name + "_celsius", value * 0.001),
                ("curr", _) => (name + "_amps", value * 0.001),
                ("energy", _) => (name + "_joule_total", value / 1e6),
                ("power", "accuracy") => (name, value / 1e6),
                ("power", "average_interval" | "average_interval_min" | "average_interval_max") => {
                    (name + "_seconds", value * 0.001)
                }
                ("power", _) => (name + "_watt", value / 1e6),
                ("humidity", _) => (name, value / 1e6),
                ("fan", "input" | "min" | "max" | "target") => (name + "_rpm", value),
                _ => (name, value),
            };
            out.push(sample(name, value));
        }
    }
}

/// Reads every sensor file of `dir` into `sensors`, keyed `<type><number>`.
fn read_sensors(dir: &Path, sensors: &mut BTreeMap<String, SensorData>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let Ok(file) = entry.file_name().into_string() else { continue };
        let Some((kind, number, property)) = split_sensor_file(&file) else { continue };
        if !SENSOR_TYPES.contains(&kind) {
            continue;
        }
        // Directories (`device/power`) and files the driver refuses to read are skipped.
        let Some(value) = read_small(&entry.path()) else { continue };
        sensors.entry(format!("{kind}{number}")).or_default().insert(property.to_string(), value);
    }
}

/// Splits `temp1_crit_alarm` into (`temp`, 1, `crit_alarm`) as node_exporter's
/// `^(?P<type>[^0-9]+)(?P<id>[0-9]*)?(_(?P<property>.+))?$` does; a missing number is 0.
fn split_sensor_file(file: &str) -> Option<(&str, u32, &str)> {
    let digits_at = file.find(|c: char| c.is_ascii_digit()).unwrap_or(file.len());
    if digits_at == 0 {
        return None;
    }
    let (kind, rest) = file.split_at(digits_at);
    let digits_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let (digits, rest) = rest.split_at(digits_end);
    let number = if digits.is_empty() { 0 } else { digits.parse().ok()? };
    let property = match rest {
        "" => "",
        _ => rest.strip_prefix('_').filter(|p| !p.is_empty())?,
    };
    Some((kind, number, property))
}

/// node_exporter's chip name: `<bus>_<device>` of the resolved `device` link, else the `name`
/// file, else the resolved `hwmonN` directory name; all lower-cased with other characters
/// than `[a-z0-9:_]` replaced by `_`.
fn chip_name(dir: &Path) -> Option<String> {
    if let Ok(device) = std::fs::canonicalize(dir.join("device")) {
        let name = device.file_name().map(|n| clean(&n.to_string_lossy())).unwrap_or_default();
        let bus = device.parent().and_then(Path::file_name).map(|n| clean(&n.to_string_lossy())).unwrap_or_default();
        match (bus.is_empty(), name.is_empty()) {
            (false, false) => return Some(format!("{bus}_{name}")),
            (true, false) => return Some(name),
            _ => {}
        }
    }
    if let Some(name) = read_small(&dir.join("name")).map(|n| clean(&n)).filter(|n| !n.is_empty()) {
        return Some(name);
    }
    let real = std::fs::canonicalize(dir).ok()?;
    Some(clean(&real.file_name()?.to_string_lossy())).filter(|n| !n.is_empty())
}

/// Lower-cases, replaces characters outside `[a-z0-9:_]` by `_` and trims `_` at both ends.
fn clean(text: &str) -> String {
    let replaced: String = text
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '_' { c } else { '_' })
        .collect();
    replaced.trim_matches('_').to_string()
}

/// One `read` of at most 128 bytes, without trailing newlines. Some broken hwmon drivers answer
/// EAGAIN forever; a single read gives up at once instead of retrying.
fn read_small(path: &Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = [0u8; 128];
    let n = file.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).trim_end_matches('\n').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, value, write};

    /// A coretemp chip (sensors in the hwmon dir, `device` pointing at the platform device)
    /// and a chip without `device` whose name is taken from its `name` file.
    fn sensors(paths: &SystemPaths) {
        let platform = paths.sys.join("devices/platform/coretemp.0");
        let hwmon1 = platform.join("hwmon/hwmon1");
        std::fs::create_dir_all(&hwmon1).unwrap();
        std::fs::create_dir_all(paths.sys.join("class/hwmon")).unwrap();
        std::os::unix::fs::symlink(&hwmon1, paths.sys.join("class/hwmon/hwmon1")).unwrap();
        std::os::unix::fs::symlink(&platform, hwmon1.join("device")).unwrap();
        for (file, contents) in [
            ("name", "coretemp\n"),
            ("temp1_input", "45000\n"),
            ("temp1_crit", "100000\n"),
            ("temp1_crit_alarm", "0\n"),
            ("temp1_max", "84000\n"),
            ("temp1_label", "Package id 0\n"),
            ("temp2_input", "43500\n"),
            ("temp2_alarm", "1\n"),
            ("uevent", "x\n"),
        ] {
            write(&hwmon1, file, contents);
        }
        let hwmon0 = paths.sys.join("class/hwmon/hwmon0");
        for (file, contents) in [
            ("name", "nct6775\n"),
            ("fan1_input", "1200\n"),
            ("fan1_min", "300\n"),
            ("in0_input", "1104\n"),
            ("power1_average", "12500000\n"),
            ("curr1_input", "1500\n"),
            ("vrm", "13\n"),
            ("beep_enable", "1\n"),
            ("pwm1", "128\n"),
        ] {
            write(&hwmon0, file, contents);
        }
    }

    #[test]
    fn reports_node_exporter_names_units_and_labels() {
        let (_dir, paths) = fixture();
        sensors(&paths);
        let samples = collect(&mut HwmonCollector::new(&paths));
        let chip = "platform_coretemp_0";
        let at = |name: &str, sensor: &str| value(&samples, name, &[("chip", chip), ("sensor", sensor)]);
        assert_eq!(at("node_hwmon_temp_celsius", "temp1"), Some(45.0));
        assert_eq!(at("node_hwmon_temp_crit_celsius", "temp1"), Some(100.0));
        assert_eq!(at("node_hwmon_temp_max_celsius", "temp1"), Some(84.0));
        assert_eq!(at("node_hwmon_temp_crit_alarm_celsius", "temp1"), Some(0.0));
        assert_eq!(at("node_hwmon_temp_alarm", "temp2"), Some(1.0));
        assert_eq!(at("node_hwmon_temp_celsius", "temp2"), Some(43.5));
        assert_eq!(
            value(
                &samples,
                "node_hwmon_sensor_label",
                &[("chip", chip), ("sensor", "temp1"), ("label", "package_id_0")]
            ),
            Some(1.0)
        );
        assert_eq!(value(&samples, "node_hwmon_chip_names", &[("chip", chip), ("chip_name", "coretemp")]), Some(1.0));

        let other = |name: &str, sensor: &str| value(&samples, name, &[("chip", "nct6775"), ("sensor", sensor)]);
        assert_eq!(other("node_hwmon_fan_rpm", "fan1"), Some(1200.0));
        assert_eq!(other("node_hwmon_fan_min_rpm", "fan1"), Some(300.0));
        assert_eq!(other("node_hwmon_in_volts", "in0"), Some(1.104));
        assert_eq!(other("node_hwmon_power_average_watt", "power1"), Some(12.5));
        assert_eq!(other("node_hwmon_curr_amps", "curr1"), Some(1.5));
        assert_eq!(other("node_hwmon_voltage_regulator_version", "vrm0"), Some(13.0));
        assert_eq!(other("node_hwmon_beep_enabled", "beep_enable0"), Some(1.0));
        assert_eq!(other("node_hwmon_pwm", "pwm1"), Some(128.0));
        assert!(samples.iter().all(|s| !s.name.contains("uevent") && !s.name.contains("name_")));
    }

    #[test]
    fn no_hwmon_is_no_data() {
        let (_dir, paths) = fixture();
        assert!(collect(&mut HwmonCollector::new(&paths)).is_empty());
    }

    #[test]
    fn sensor_file_names() {
        assert_eq!(split_sensor_file("temp1_crit_alarm"), Some(("temp", 1, "crit_alarm")));
        assert_eq!(split_sensor_file("in0_input"), Some(("in", 0, "input")));
        assert_eq!(split_sensor_file("beep_enable"), Some(("beep_enable", 0, "")));
        assert_eq!(split_sensor_file("pwm1"), Some(("pwm", 1, "")));
        assert_eq!(split_sensor_file("temp1a"), None);
        assert_eq!(split_sensor_file("temp1_"), None);
        assert_eq!(split_sensor_file("1temp"), None);
        assert_eq!(clean("Package id 0"), "package_id_0");
        assert_eq!(clean("_Core-0_"), "core_0");
    }
}
