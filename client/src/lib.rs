//! NetCRAQ client library over plain UDP sockets.
//!
//! - [`Client`]: blocking reads and writes, one at a time, with a timeout
//!   and bounded retransmissions.
//! - [`run_workload`]: a closed-loop load generator that keeps many requests
//!   outstanding from one thread, measures latency and can record a
//!   [`History`] for the linearizability checker.
//! - [`parse_value`] and [`format_value`]: values as people type and read
//!   them.
//!
//! A plain UDP socket can neither set nor read the IPv4 identification, so
//! each operation has a socket (a source port) of its own, reused for its
//! retransmissions, and a reply is matched by that socket, its op and its key
//! (docs/protocol.md §3.4 and §4.1). Finished sockets linger (bounded), so a
//! port is not reused while a late reply to its last operation may arrive. Finished sockets linger (bounded), so a
//! port is not reused while a late reply to its last operation may arrive.

mod client;
mod error;
mod linger;
mod poll;
mod request;
mod value;
mod workload;

pub use client::{Client, ClientOptions, ClientStats};
pub use error::{ClientError, RequestKind};
pub use netcraq_linearizability::{History, Value};
pub use request::{ReadReply, WriteReply};
pub use value::{format_value, parse_value, ValueError};
pub use workload::{
    run_workload, ErrorCounts, KeyDistribution, Progress, Stop, Workload, WorkloadError, WorkloadReport, WriteTarget,
    MAX_CONCURRENCY,
};
