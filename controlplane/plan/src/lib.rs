//! The NetCRAQ control plane.
//!
//! Today: [`plan`] computes every node's `node_config` entry and
//! `ipv4_route` entries for a chain. Later issues push them over P4Runtime.

pub mod plan;
