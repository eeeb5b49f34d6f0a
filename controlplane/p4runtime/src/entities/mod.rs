//! How NetCRAQ's tables, counters and registers look as P4Runtime entities:
//! ids resolved by name from a P4Info ([`NetcraqIds`]), bitstrings, and the
//! translation both ways between entities and the node's
//! [`ControlRequest`](netcraq_core::control::ControlRequest)s, with the
//! spec's error codes for every refusal.
//!
//! | P4Runtime entity | node |
//! |---|---|
//! | `node_config` default entry: `set_config(...)` / `unconfigured` / unset action | `SetConfig` / `ClearConfig` |
//! | `ipv4_route` entry: LPM on `dst_ip`, `set_next_hop(port, mac)` | `InsertRoute` / `ModifyRoute` / `DeleteRoute` |
//! | `key_group` entry: LPM on `key`, `set_group(role, head_ip, tail_ip, successor_ip, predecessor_ip, epoch, sync_epoch)` | `InsertKeyGroup` / `ModifyKeyGroup` / `DeleteKeyGroup` |
//! | `CounterEntry` of `outcomes`, `key_reads`, `key_writes` | `ReadCounter` |
//! | `RegisterEntry` of `kv_*` | `ReadRegister` / `WriteRegister` |
//!
//! - [`ids`]: the program's names and their ids in a P4Info.
//! - [`bits`]: bitstrings and the values they carry.
//! - [`encode`]: entities from node state.
//! - [`decode`]: node state and reads from entities.
//! - [`update`]: one update of a Write as a node request.

pub mod bits;
pub mod decode;
pub mod encode;
pub mod ids;
pub mod update;

pub use bits::{decode_bits, encode_bits};
pub use decode::{decode_action, TableRead};
pub use encode::array_entry;
pub use ids::*;
pub use update::not_served;

use tonic::Code;

/// A refusal with its gRPC code, for one update or a whole RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P4Error {
    pub code: Code,
    pub message: String,
}

impl P4Error {
    pub fn new(code: Code, message: impl Into<String>) -> P4Error {
        P4Error { code, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> P4Error {
        P4Error::new(Code::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> P4Error {
        P4Error::new(Code::NotFound, message)
    }

    pub fn unimplemented(message: impl Into<String>) -> P4Error {
        P4Error::new(Code::Unimplemented, message)
    }
}

impl std::fmt::Display for P4Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for P4Error {}

impl From<P4Error> for tonic::Status {
    fn from(error: P4Error) -> tonic::Status {
        tonic::Status::new(error.code, error.message)
    }
}
