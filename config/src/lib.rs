//! Configuration loading shared by the agent and the aggregator.
//!
//! Loading has three steps (STYLE.md, "Config"): the TOML file, then environment overrides
//! `SYSMON_<SECTION>_<KEY>`, then the caller's own `validate()`. This crate does the first
//! two and turns every problem into a [`ConfigError`] that names the file, the line when it
//! is known, the key and the reason. Validation stays with each config type, which knows
//! what its values mean.
#![warn(missing_docs, unreachable_pub)]

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// One problem in a configuration: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file, when the problem comes from one.
    pub file: Option<PathBuf>,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong, starting with the key: `aggregator.interval: must be ...`.
    pub message: String,
}

impl ConfigError {
    /// A problem with a key, found after parsing (no line known).
    pub fn key(key: &str, reason: impl fmt::Display) -> Self {
        Self { file: None, line: None, message: format!("{key}: {reason}") }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: {}", file.display(), self.message),
            (Some(file), None) => write!(f, "{}: {}", file.display(), self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// Reads `path` as TOML into `T`, after applying `SYSMON_<SECTION>_<KEY>` overrides from `env`.
///
/// `env` is passed in (normally `std::env::vars()`) so that tests can give their own.
///
/// # Errors
/// The file cannot be read, is not TOML, or does not fit `T` (unknown key, wrong type):
/// one [`ConfigError`] naming the file and, where toml knows it, the line.
pub fn load<T: DeserializeOwned>(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: Some(path.to_path_buf()),
        line: None,
        message: format!("cannot read the file: {e}"),
    })?;
    parse(&text, env).map_err(|mut e| {
        e.file = Some(path.to_path_buf());
        e
    })
}

/// Like [`load`], from a string; the errors carry no file.
///
/// # Errors
/// As [`load`].
pub fn parse<T: DeserializeOwned>(
    text: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let located = |e: toml::de::Error| ConfigError {
        file: None,
        line: e.span().map(|span| line_of(text, span.start)),
        message: e.message().trim().to_string(),
    };
    let mut table: toml::Table = toml::from_str(text).map_err(located)?;
    let overridden = apply_env(&mut table, env)?;
    if overridden.is_empty() {
        // Deserializing from the text keeps spans, so errors can name their line.
        return toml::from_str(text).map_err(located);
    }
    T::deserialize(table).map_err(|e| ConfigError {
        file: None,
        line: None,
        message: format!("{} (after environment overrides {})", e.message().trim(), overridden.join(", ")),
    })
}

/// Applies every `SYSMON_<SECTION>_<KEY>=value` whose section is a table of `table`.
/// The value is read as a TOML value when it parses as one (`10`, `true`, `["a"]`) and as a
/// string otherwise. Returns the names of the variables applied.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<String>, ConfigError> {
    let mut applied = Vec::new();
    let mut vars: Vec<_> = env.into_iter().filter(|(k, _)| k.starts_with("SYSMON_")).collect();
    vars.sort();
    for (var, raw) in vars {
        let rest = var["SYSMON_".len()..].to_ascii_lowercase();
        let Some((section, key)) = rest.split_once('_') else { continue };
        let value = parse_env_value(&raw);
        let entry = table.entry(section.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(section_table) = entry.as_table_mut() else {
            return Err(ConfigError::key(section, format!("is not a table, so {var} cannot override it")));
        };
        section_table.insert(key.to_string(), value);
        applied.push(var);
    }
    Ok(applied)
}

fn parse_env_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn line_of(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        server: Server,
    }
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Server {
        name: String,
        #[serde(default)]
        port: u16,
        #[serde(default)]
        data_dir: String,
    }

    #[test]
    fn unknown_key_names_its_line() {
        let err = parse::<Doc>("[server]\nname = \"a\"\nprot = 1\n", []).unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.starts_with("unknown field `prot`"), "{}", err.message);
    }

    #[test]
    fn env_overrides_file_and_keeps_types() {
        let env = [
            ("SYSMON_SERVER_PORT".to_string(), "9801".to_string()),
            ("SYSMON_SERVER_DATA_DIR".to_string(), "/var/lib/sysmon".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ];
        let doc: Doc = parse("[server]\nname = \"a\"\nport = 1\n", env).unwrap();
        assert_eq!(doc.server, Server { name: "a".into(), port: 9801, data_dir: "/var/lib/sysmon".into() });
    }

    #[test]
    fn env_override_of_wrong_type_names_the_variable() {
        let env = [("SYSMON_SERVER_PORT".to_string(), "many".to_string())];
        let err = parse::<Doc>("[server]\nname = \"a\"\n", env).unwrap_err();
        assert!(err.message.contains("SYSMON_SERVER_PORT"), "{}", err.message);
    }

    #[test]
    fn display_has_file_and_line() {
        let e = ConfigError { file: Some("a.toml".into()), line: Some(4), message: "x: bad".into() };
        assert_eq!(e.to_string(), "a.toml:4: x: bad");
    }
}
