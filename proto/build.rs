//! Generates the Rust code for `proto/sysmon/v1/*.proto` and the remote_write subset in
//! `proto/prometheus/remote.proto` with protox (a pure-Rust
//! protobuf compiler), so building sysmon needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/sysmon/v1/ingest.proto", "proto/prometheus/remote.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure().build_server(true).build_client(true).compile_fds(descriptors)?;
    Ok(())
}
