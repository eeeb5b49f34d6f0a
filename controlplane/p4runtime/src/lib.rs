//! P4Runtime for NetCRAQ (`docs/p4runtime.md`), the part the node-side
//! server (`netcraq-p4runtime-server`) and the controller-side client
//! (`netcraq-p4runtime-client`) share: the protocol's messages and service,
//! generated from our own subset of the spec's `.proto` files (`proto/`,
//! compiled without a system protoc); the P4Info the software and DPDK nodes
//! serve; and NetCRAQ's objects as P4Runtime entities. It links no packet
//! backend.
//!
//! - [`p4info`]: text-format P4Info files and an index by id and by name.
//! - [`entities`]: NetCRAQ's tables, counters and registers as P4Runtime
//!   entities, both ways, with the spec's error codes.
//! - [`write_status`]: the per-update errors of a failed Write, both ways.
//! - [`tls`]: the server's and the client's TLS files, read and checked.

#![forbid(unsafe_code)]

pub mod entities;
pub mod p4info;
pub mod tls;
pub mod write_status;

/// The generated messages and services, under the spec's package names.
pub mod proto {
    pub mod p4 {
        pub mod v1 {
            tonic::include_proto!("p4.v1");
        }
        pub mod config {
            pub mod v1 {
                tonic::include_proto!("p4.config.v1");
            }
        }
    }
    pub mod google {
        pub mod rpc {
            tonic::include_proto!("google.rpc");
        }
    }
    /// The encoded descriptors of every message, for text-format parsing.
    pub const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/p4runtime_descriptors.bin"));
}

pub use entities::{NetcraqIds, P4Error};
pub use p4info::{netcraq_p4info, parse_p4info_text, P4InfoError, P4InfoIndex, NETCRAQ_P4INFO_TEXT};
