//! Backends that move frames between the NetCRAQ core and the world. The
//! protocol is the core's alone; a backend only moves frames.
//!
//! - [`afpacket`]: the software node, the core over AF_PACKET sockets on
//!   kernel interfaces, with seeded [`faults`] injected on transmit when asked.
//! - `dpdk_node` (feature `dpdk`): the kernel-bypass node, the core over
//!   DPDK ports in a poll loop, with the same fault injection.
//! - [`control`]: the requests a control plane (the P4Runtime server) makes
//!   of a running node, carried to its poll loop over a bounded channel.
//! - [`sim`]: the in-memory network, a deterministic discrete-event
//!   simulation in which real [`netcraq_core::Node`]s exchange real frames
//!   over simulated links, driven by simulated clients.

pub mod afpacket;
pub mod control;
#[cfg(feature = "dpdk")]
pub mod dpdk_node;
pub mod faults;
pub mod lcore_control;
pub mod sim;
