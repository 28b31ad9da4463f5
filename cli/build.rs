//! Links the agent's steady-state code together (see `src/code_pages.rs`).
//!
//! `agent-hot-code.txt` lists the functions the agent runs after start-up, as
//! `benches/agent_footprint.sh` found them with `LAYOUT_OUT=cli/agent-hot-code.txt`. lld, the
//! linker Rust uses on x86_64 Linux, places them first in the binary, so the agent's resident
//! code is a few contiguous megabytes instead of pages scattered over 13 MiB. A name the
//! binary lacks (the code changed since the list was made) is skipped: the order is an
//! optimisation only, and the footprint bench says how much of the list still matches.

use std::env;
use std::path::Path;

fn main() {
    let list = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("agent-hot-code.txt");
    println!("cargo::rerun-if-changed={}", list.display());
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    if linker_is_lld() {
        println!("cargo::rustc-link-arg-bin=sysmon=-Wl,--symbol-ordering-file={}", list.display());
        println!("cargo::rustc-link-arg-bin=sysmon=-Wl,--no-warn-symbol-ordering");
    }
}

/// Rust links x86_64-unknown-linux-gnu with its own lld unless told otherwise; GNU ld has no
/// `--symbol-ordering-file`.
fn linker_is_lld() -> bool {
    let target = env::var("TARGET").unwrap_or_default();
    let rustflags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    target == "x86_64-unknown-linux-gnu" && !rustflags.contains("linker")
}
