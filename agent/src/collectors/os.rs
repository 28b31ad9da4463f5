//! The operating system release from os-release(5), as node_exporter's `os` collector.

use std::path::{Path, PathBuf};

use super::{Collector, read_into};
use crate::error::{Error, Result};
use crate::sample::Sample;

/// os-release keys and the `node_os_info` label each becomes.
const INFO_KEYS: [(&str, &str); 12] = [
    ("BUILD_ID", "build_id"),
    ("ID", "id"),
    ("ID_LIKE", "id_like"),
    ("IMAGE_ID", "image_id"),
    ("IMAGE_VERSION", "image_version"),
    ("NAME", "name"),
    ("PRETTY_NAME", "pretty_name"),
    ("VARIANT", "variant"),
    ("VARIANT_ID", "variant_id"),
    ("VERSION", "version"),
    ("VERSION_CODENAME", "version_codename"),
    ("VERSION_ID", "version_id"),
];

/// Emits `node_os_info{build_id,id,id_like,...,version_id} 1` and `node_os_version{id,id_like,name}`,
/// the leading number of `VERSION_ID` (`22.04`, `12`), when it has one.
///
/// Reads `<rootfs>/etc/os-release`, else `<rootfs>/usr/lib/os-release`, as systemd does.
pub(crate) struct OsCollector {
    files: [PathBuf; 2],
    buf: String,
}

impl OsCollector {
    pub(crate) fn new(rootfs: &Path) -> Self {
        Self { files: [rootfs.join("etc/os-release"), rootfs.join("usr/lib/os-release")], buf: String::new() }
    }
}

impl Collector for OsCollector {
    fn name(&self) -> &'static str {
        "os"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        if read_into(&self.files[0], &mut self.buf).is_err() {
            read_into(&self.files[1], &mut self.buf).map_err(|e| match e {
                Error::ReadSource { source, .. } => Error::ReadSource { path: self.files[0].clone(), source },
                other => other,
            })?;
        }
        let fields = parse_os_release(&self.buf);
        let get = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or_default();
        let mut info = Sample::new("node_os_info", 1.0);
        for (key, label) in INFO_KEYS {
            info = info.label(label, get(key));
        }
        out.push(info);
        if let Some(version) = leading_number(get("VERSION_ID")) {
            out.push(
                Sample::new("node_os_version", version)
                    .label("id", get("ID"))
                    .label("id_like", get("ID_LIKE"))
                    .label("name", get("NAME")),
            );
        }
        Ok(())
    }
}

/// `KEY=value` lines with shell-style quoting; comments and blank lines are skipped.
fn parse_os_release(text: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        fields.push((key.trim().to_string(), unquote(value.trim())));
    }
    fields
}

/// Removes one level of `"..."` or `'...'` quoting and undoes `\"`, `\\`, `` \` `` and `\$`
/// inside double quotes.
fn unquote(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return inner.to_string();
    }
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(next @ ('"' | '\\' | '`' | '$')) => out.push(next),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The leading `^[0-9]+\.?[0-9]*` of a version, as a number.
fn leading_number(version: &str) -> Option<f64> {
    let digits = version.find(|c: char| !c.is_ascii_digit()).unwrap_or(version.len());
    if digits == 0 {
        return None;
    }
    let mut end = digits;
    if version[end..].starts_with('.') {
        end += 1;
        end += version[end..].find(|c: char| !c.is_ascii_digit()).unwrap_or(version.len() - end);
    }
    version[..end].trim_end_matches('.').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, fixture, value, write};

    #[test]
    fn info_and_version_from_os_release() {
        let (dir, _paths) = fixture();
        write(
            dir.path(),
            "usr/lib/os-release",
            "PRETTY_NAME=\"Ubuntu 22.04.3 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nVERSION=\"22.04.3 LTS (Jammy Jellyfish)\"\nID=ubuntu\nID_LIKE=debian\n# comment\n\nVARIANT='Server \\\\ edition'\n",
        );
        let samples = collect(&mut OsCollector::new(dir.path()));
        let info = &samples[0];
        assert_eq!(info.name, "node_os_info");
        assert_eq!(info.labels.len(), 12);
        let label = |k: &str| info.labels.iter().find(|(n, _)| n == k).unwrap().1.as_str();
        assert_eq!(label("pretty_name"), "Ubuntu 22.04.3 LTS");
        assert_eq!(label("id_like"), "debian");
        assert_eq!(label("variant"), "Server \\\\ edition");
        assert_eq!(label("build_id"), "");
        assert_eq!(value(&samples, "node_os_version", &[("id", "ubuntu"), ("name", "Ubuntu")]), Some(22.04));
    }

    #[test]
    fn etc_wins_and_missing_is_an_error() {
        let (dir, _paths) = fixture();
        let mut collector = OsCollector::new(dir.path());
        let err = collector.collect(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().ends_with("etc/os-release"), "{err}");
        write(dir.path(), "etc/os-release", "ID=debian\nVERSION_ID=12\nNAME=\"Debian GNU/Linux\"\n");
        write(dir.path(), "usr/lib/os-release", "ID=other\n");
        let samples = collect(&mut collector);
        assert_eq!(value(&samples, "node_os_version", &[("id", "debian")]), Some(12.0));
    }

    #[test]
    fn versions() {
        assert_eq!(leading_number("22.04"), Some(22.04));
        assert_eq!(leading_number("12"), Some(12.0));
        assert_eq!(leading_number("2023.1.20230825"), Some(2023.1));
        assert_eq!(leading_number("8."), Some(8.0));
        assert_eq!(leading_number("rolling"), None);
        assert_eq!(leading_number(""), None);
        assert_eq!(unquote("\"a \\\"b\\\" \\$c\""), "a \"b\" $c");
    }
}
