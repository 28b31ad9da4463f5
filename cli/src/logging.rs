//! Log output: human-readable lines on stderr, filtered by `SYSMON_LOG` (default `info`).

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Installs the process's tracing subscriber. `SYSMON_LOG` takes `tracing` filter
/// directives, e.g. `SYSMON_LOG=debug` or `SYSMON_LOG=info,sysmon_agent=debug`.
pub(crate) fn init() {
    let filter = EnvFilter::try_from_env("SYSMON_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
