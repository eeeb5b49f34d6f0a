//! The in-memory network: a deterministic discrete-event simulation in
//! virtual nanoseconds.
//!
//! - [`Wiring`] describes devices (NetCRAQ [`netcraq_core::Node`]s, client
//!   hosts, plain switches) and the links between their numbered ports, each
//!   link with its own latency, jitter, loss, duplication and bounded queue
//!   ([`LinkConfig`]). Its devices and ports are a
//!   [`Network`](netcraq_plan::network::Network) of the control plane's
//!   planner, which finds the shortest-path next hops.
//! - [`Simulation`] moves frames over that wiring in virtual time, seeded,
//!   so the same seed and inputs give the same run. Each node is a single
//!   server with a per-frame service time and a bounded queue
//!   ([`NodeSettings`]): a hot node saturates, which is what makes CR's tail
//!   the bottleneck. The simulator only moves frames: every protocol
//!   decision is the core's. Hosts are [`HostAgent`]s.
//! - [`build_chain`] wires a chain of N nodes and C client hosts in a
//!   [`Layout`] and installs the tables from
//!   [`network_tables`](netcraq_plan::network::network_tables).
//! - [`SimClient`] is a host agent with closed-loop workers, retransmissions and
//!   a history of every operation; [`run_experiment`] measures a chain under
//!   a random [`WorkloadSpec`].

#![forbid(unsafe_code)]

mod chain;
mod client;
mod event;
mod experiment;
mod link;
mod network;
mod wiring;
mod workload;

pub use chain::{
    build_chain, client_address, node_address, BuildError, ChainNetwork, ChainNetworkSpec, ClientPlacement, Layout,
    TargetNode, MAX_CHAIN_NODES, MAX_CLIENT_HOSTS,
};
pub use client::{HistoryEntry, OpResult, SimClient, SimClientConfig, SimClientError, SimClientStats, SimWorkload};
pub use experiment::{run_experiment, ExperimentError, ExperimentReport, ExperimentSpec, NodeReport};
pub use link::{LinkConfig, LinkCounters, LinkId};
pub use network::{
    HostAgent, NetworkCounters, NodeCounters, Outbox, RunStop, SimConfig, Simulation, OUTBOX_CAPACITY_FRAMES,
};
pub use wiring::{Device, HostId, LinkEnd, LinkSpec, NodeId, NodeSettings, PortRef, SwitchId, Wiring, WiringError};
pub use workload::{KeyDistribution, NodeChoice, Operation, PlannedOp, Value, WorkloadSpec};
