//! `sysmon`: the agent, the aggregator and the fleet CLI in one binary.
//!
//! This crate only parses arguments, builds the runtime and wires the library crates
//! together; it is the one place that prints and decides exit codes.

mod certs;
mod cli;
mod events;
mod hosts;
mod logging;
mod query;
mod roles;
mod table;
mod up;

use std::process::ExitCode;

use clap::Parser as _;

/// mimalloc: the aggregator's ingest path spent a fifth of its CPU in glibc's malloc and free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {err:#}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(args: cli::Cli) -> anyhow::Result<()> {
    match args.command {
        cli::Command::Certs(command) => certs::run(command),
        cli::Command::Events(command) => runtime()?.block_on(events::run(command)),
        cli::Command::Hosts(command) => runtime()?.block_on(hosts::run(command)),
        cli::Command::Query(command) => runtime()?.block_on(query::run(command)),
        cli::Command::Up(command) => {
            logging::init();
            runtime()?.block_on(up::run(command))
        }
        cli::Command::Agent(command) if command.once => {
            logging::init();
            roles::agent_once(command)
        }
        cli::Command::Agent(command) => {
            logging::init();
            runtime()?.block_on(roles::run_agent(command))
        }
        cli::Command::Aggregator(command) => {
            logging::init();
            runtime()?.block_on(roles::run_aggregator(command))
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("sysmon").build()?)
}
