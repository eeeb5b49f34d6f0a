//! Compiles the P4Runtime subset in `proto/` with protox (pure Rust, no
//! system protoc), then generates the prost messages and the tonic service
//! from the descriptors. The descriptors are also kept, encoded, for the
//! text-format P4Info loader (prost-reflect).

use prost::Message;
use std::path::PathBuf;

const PROTOS: &[&str] =
    &["p4/v1/p4runtime.proto", "p4/v1/p4data.proto", "p4/config/v1/p4info.proto", "google/rpc/status.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("p4runtime_descriptors.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
