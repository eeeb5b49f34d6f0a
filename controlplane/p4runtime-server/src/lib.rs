//! The P4Runtime server of the software and DPDK nodes
//! (`docs/p4runtime.md`): serves one node's tables, counters and registers
//! under the node's fixed P4Info, with the spec's arbitration between
//! controllers. It reaches the node through a call ([`NodeCall`], e.g. a
//! `netcraq_node::control::ControlHandle`), so it links no packet backend.
//!
//! - [`arbitration`]: who is primary, as a pure state machine.
//! - [`service`]: the service of one node ([`NodeService`]) and its checks.
//! - [`handlers`]: the RPCs, through `netcraq_p4runtime::entities`.
//! - [`errors`]: a node's refusals as P4Runtime error codes.
//! - [`counters`]: what the server did, for the node's stats.
//! - [`thread`]: the server on its own thread and tokio runtime.
//! - [`tls`]: the server's TLS files, mutual TLS optional.

#![forbid(unsafe_code)]

pub mod arbitration;
pub mod counters;
pub mod errors;
mod handlers;
pub mod service;
pub mod thread;
pub mod tls;

pub use arbitration::MAX_CONTROLLERS;
pub use counters::{ServerCounters, ServerCountersSnapshot};
pub use service::{
    NodeCall, NodeService, ServerSettings, MAX_UPDATES_PER_WRITE, P4RUNTIME_API_VERSION, READ_CHUNK_ENTITIES,
};
pub use thread::{bind, serve_on_thread, RunningServer};
pub use tls::ServerTlsFiles;
