//! NetCRAQ clients, one state machine under every driver.
//!
//! - [`ClientMachine`]: the client as a pure state machine: request
//!   identity, matching replies, retransmissions, timeouts and the
//!   [`History`]. The UDP drivers below and the simulator's clients drive it.
//! - [`mix`]: the request mix every client draws from (reads, keys, Zipf),
//!   and its validation; [`Latencies`]: their latency histograms.
//! - [`Client`]: blocking reads and writes over UDP, one at a time, with a
//!   timeout and bounded retransmissions.
//! - [`Membership`]: which nodes serve each chain now, as the running
//!   controller publishes it; [`Follower`]: one operation following its
//!   chain through reconfigurations, a pure state machine; [`ChainClient`]:
//!   blocking reads and writes that follow the chain, learning its members
//!   from the controller ([`ControllerUrl`]).
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
//! port is not reused while a late reply to its last operation may arrive.

// Only `poll(2)` needs unsafe code, in one place (poll.rs).
#![deny(unsafe_code)]

mod chain_client;
mod client;
mod error;
mod follow;
mod latency;
mod linger;
mod machine;
pub mod membership;
mod membership_source;
pub mod mix;
mod poll;
mod request;
mod value;
mod workload;

pub use chain_client::{ChainClient, ChainClientOptions, ChainClientStats};
pub use client::{Client, ClientOptions, ClientStats, KeyValue};
pub use error::{ClientError, RequestKind};
pub use follow::{FollowPolicy, FollowStep, Follower, Try, TryOutcome};
pub use latency::Latencies;
pub use machine::{ClientMachine, Expiry, Finished, InFlight, Received, RetryPolicy, Transmission};
pub use membership::{ChainMembers, Member, Membership, MembershipError};
pub use membership_source::{fetch_membership, ControllerUrl, MEMBERSHIP_PATH};
pub use mix::KeyDistribution;
pub use netcraq_linearizability::{History, Value};
pub use request::{OpResult, Operation, ReadReply, WriteReply};
pub use value::{format_value, parse_value, ValueError};
pub use workload::{
    run_workload, ErrorCounts, Progress, Stop, Workload, WorkloadError, WorkloadReport, WriteTarget, MAX_CONCURRENCY,
};
