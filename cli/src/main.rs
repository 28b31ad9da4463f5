//! `sysmon`: the agent, the aggregator and the fleet CLI in one binary.
//!
//! This crate only parses arguments, builds the runtime and wires the library crates
//! together; it is the one place that prints and decides exit codes.

mod alerts;
mod certs;
mod cli;
mod code_pages;
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
    // Before the first allocation that could fault in a huge page: see `huge_pages_for`.
    set_huge_pages(false);
    let args = cli::Cli::parse();
    huge_pages_for(&args.command);
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
        cli::Command::Alerts(command) => runtime()?.block_on(alerts::run(command)),
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
            agent_runtime()?.block_on(roles::run_agent(command))
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

/// The agent's runtime: one thread. Its async work is one gRPC stream and a timer; reading
/// /proc and writing the spool run on tokio's blocking threads, at most two (a collection and
/// a spool call at once: neither waits behind the other). Each thread has its own allocator
/// pages; a worker per CPU and a blocking thread per concurrent call held 0.6 MiB more (of
/// 4.6 MiB anonymous memory; `benches/agent_footprint.sh`).
fn agent_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("sysmon")
        .max_blocking_threads(2)
        .build()?)
}

/// Transparent huge pages stay off for the agent (and the one-shot CLI commands): with THP,
/// mimalloc's arena was backed by 2 MiB pages, which tripled the agent's resident memory
/// (50 MiB instead of 17) for a heap of about 2 MiB (`benches/agent_footprint.sh`). mimalloc
/// is built not to ask for them (`no_thp`), which covers hosts where THP is "madvise" (Debian's
/// and Ubuntu's default); on hosts where it is "always" (RHEL's), the process switches them off
/// first thing in `main`, and back on for the long-running roles with big heaps (aggregator,
/// `up`).
fn huge_pages_for(command: &cli::Command) {
    if matches!(command, cli::Command::Aggregator(_) | cli::Command::Up(_)) {
        set_huge_pages(true);
    }
}

/// prctl(PR_SET_THP_DISABLE): applies to every later page fault of the process. Failing
/// (a kernel without it) changes only memory use, so it is ignored.
fn set_huge_pages(on: bool) {
    let _ = rustix::thread::disable_transparent_huge_pages(!on);
}
