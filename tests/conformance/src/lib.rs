//! Conformance vectors (`tests/vectors/*.json`, format in `docs/protocol.md`,
//! "Conformance vectors"): loading, validation and replay against any NetCRAQ
//! node implementation.
//!
//! - [`load_dir`] / [`load_file`] read and validate vector files into [`VectorFile`]s;
//!   every error names the file, the case and the path of the bad field.
//! - [`NodeUnderTest`] is what an implementation provides: reset to a case's
//!   starting state (config, routes, fabric ports, registers, lease),
//!   receive one frame at a clock reading, read back registers, lease and
//!   counters. It uses only the types of this
//!   crate and the core's [`NodeConfig`] (read through its `serde` feature)
//!   and [`FabricPort`], both re-exported here, so the software node, the
//!   DPDK node and the BMv2 switch can all implement it.
//!   [`netcraq_core::Node`] implements it.
//! - [`run_files`] / [`run_case`] replay the cases and return a [`Report`] of
//!   every [`Mismatch`], each naming the case, the step and, for frames, the
//!   first differing byte and the header field it falls in.

#![forbid(unsafe_code)]

mod core_node;
pub mod frame;
mod runner;
mod vectors;

pub use netcraq_core::{FabricPort, KeyGroup, Lease, Mode, NodeConfig, Role};
pub use runner::{run_case, run_files, Difference, InitialState, Mismatch, NodeUnderTest, Report};
pub use vectors::{load_dir, load_file, Case, Counters, KeyRegisters, LoadError, Output, Route, Step, VectorFile};

/// The outcome codes of `docs/protocol.md` §6, in code order: `OUTCOMES[code]`
/// is the name the vectors use.
pub const OUTCOMES: [&str; 43] = [
    "READ_LOCAL",
    "READ_TO_TAIL",
    "WRITE_TO_HEAD",
    "WRITE_STAMPED",
    "WRITE_RETRANSMIT",
    "WRITE_WINDOW_FULL",
    "WRITE_UNKNOWN",
    "CHAIN_WRITE_APPLIED",
    "CHAIN_WRITE_STALE",
    "COMMIT_APPLIED",
    "COMMIT_DUPLICATE",
    "ACK_FORWARDED",
    "ACK_CONSUMED",
    "KEY_OUT_OF_RANGE",
    "TRANSIT",
    "DROP_UNCONFIGURED",
    "DROP_TRUNCATED",
    "DROP_WRONG_MAC",
    "DROP_NOT_IPV4",
    "DROP_IPV4_MALFORMED",
    "DROP_IPV4_CHECKSUM",
    "DROP_TTL_EXPIRED",
    "DROP_FRAGMENT",
    "DROP_NOT_UDP",
    "DROP_BAD_LENGTH",
    "DROP_WRONG_PORT",
    "DROP_UNKNOWN_OP",
    "DROP_UNEXPECTED_OP",
    "DROP_KEY_OUT_OF_RANGE",
    "NO_ROUTE",
    "DROP_NOT_FROM_CHAIN",
    "DROP_WRONG_EPOCH",
    "READ_NOT_SERVING",
    "KEY_RECEIVED",
    "SYNC_APPLIED",
    "SYNC_STALE",
    "SWEEP_RESENT",
    "SWEEP_COPIED",
    "SWEEP_COMMITTED",
    "SWEEP_CLEAN",
    "LEASE_RENEWED",
    "RENEW_CLOCK_ONLY",
    "RENEW_LATE",
];

/// The code of an outcome name, if it is one of §6.
pub fn outcome_code(name: &str) -> Option<usize> {
    OUTCOMES.iter().position(|o| *o == name)
}

/// The checked-in vector directory, `tests/vectors/` of this workspace.
pub fn vectors_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("vectors")
}
