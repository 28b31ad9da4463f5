//! `sysmon certs init / issue`.

use std::path::Path;

use anyhow::{Context as _, bail};
use sysmon_tls::FleetCa;

use crate::cli::CertsCommand;

pub(crate) fn run(command: CertsCommand) -> anyhow::Result<()> {
    match command {
        CertsCommand::Init { dir, name, force } => {
            if dir.join("ca.pem").exists() && !force {
                bail!(
                    "{} already holds a CA; pass --force to replace it (certificates it issued will stop being trusted)",
                    dir.display()
                );
            }
            let ca = FleetCa::create(&name)?;
            let files = ca.write(&dir)?;
            say(&format!("fleet CA written: {} (key {})", files.cert.display(), files.key.display()));
            say("keep the key offline; give ca.pem to every agent and aggregator");
            Ok(())
        }
        CertsCommand::Issue { agent, server, sans, dir, days } => {
            let ca = load_ca(&dir)?;
            let (issued, stem) = match (agent, server) {
                (Some(id), None) => (ca.issue_agent(&id, days)?, format!("agent-{id}")),
                (None, Some(name)) => (ca.issue_server(&name, &sans, days)?, format!("server-{name}")),
                _ => bail!("give exactly one of --agent ID or --server NAME"),
            };
            let files = issued.write(&dir, &stem)?;
            say(&format!("certificate written: {} (key {})", files.cert.display(), files.key.display()));
            Ok(())
        }
    }
}

/// Loads the CA in `dir`, saying how to create one when there is none.
pub(crate) fn load_ca(dir: &Path) -> anyhow::Result<FleetCa> {
    let cert = dir.join("ca.pem");
    if !cert.exists() {
        bail!("no CA in {}: create one with `sysmon certs init --dir {}`", dir.display(), dir.display());
    }
    FleetCa::load(&cert, &dir.join("ca-key.pem")).with_context(|| format!("loading the CA from {}", dir.display()))
}

#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}
