//! P4Runtime for NetCRAQ (`docs/p4runtime.md`): the protocol's messages and
//! service, generated from our own subset of the spec's `.proto` files
//! (`proto/`, compiled without a system protoc); the P4Info the software and
//! DPDK nodes serve; the server that serves such a node through its
//! [`ControlHandle`](netcraq_node::control::ControlHandle); and a client
//! for the controller.
//!
//! - [`p4info`]: text-format P4Info files and an index by id and by name.
//! - [`entities`]: NetCRAQ's tables, counters and registers as P4Runtime
//!   entities, both ways, with the spec's error codes.
//! - [`server`]: the P4Runtime service of one node, and a thread to run it.
//! - [`client`]: connect, arbitrate, set/get the pipeline, write, read.

pub mod client;
pub mod entities;
pub mod p4info;
pub mod server;

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

pub use client::{ClientError, P4RuntimeClient, Standing};
pub use entities::{NetcraqIds, P4Error};
pub use p4info::{netcraq_p4info, parse_p4info_text, P4InfoError, P4InfoIndex, NETCRAQ_P4INFO_TEXT};
pub use server::{bind, serve_on_thread, NodeService, RunningServer, ServerCounters, ServerSettings};
