//! Backends that move frames between the NetCRAQ core and the world.
//!
//! [`sim`] is the in-memory network: a deterministic discrete-event
//! simulation in which real [`netcraq_core::Node`]s exchange real frames over
//! simulated links, driven by simulated clients. Later backends (AF_PACKET,
//! DPDK) will move the same frames over real interfaces.

pub mod sim;
