//! Runs the JavaScript unit tests in `tests/js/` (the pages' number formatting and series maths) with
//! `node --test`. Node.js is already needed to build this crate: `build.rs` fetches uPlot with npm.

use std::path::Path;
use std::process::Command;

#[test]
fn javascript_unit_tests_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("js");
    let output = Command::new("node")
        .arg("--test")
        .arg(&dir)
        .output()
        .unwrap_or_else(|err| panic!("cannot run `node --test {}` (install Node.js): {err}", dir.display()));
    assert!(
        output.status.success(),
        "`node --test {}` failed ({}):\n{}{}",
        dir.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}
