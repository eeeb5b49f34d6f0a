//! The one network planner: from a network and its chains to every node's
//! `node_config` and `ipv4_route` entries. Pure, no I/O, so the topology
//! runner, the controller and the in-memory network install the same tables.
//!
//! - [`network`]: the graph of nodes, hosts and switches, shortest-path next
//!   hops over it, and [`network::network_tables`] for every chain with
//!   transit routes.
//! - [`plan`]: [`plan::chain_tables`], one chain's tables over any
//!   [`plan::Reachability`].
//! - [`groups`]: many chains over the same nodes (§11): groups of keys
//!   placed by consistent hashing, and each node's `key_group` entries.

#![forbid(unsafe_code)]

pub mod groups;
pub mod network;
pub mod plan;
