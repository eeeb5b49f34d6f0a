//! Backends that move frames between the NetCRAQ core and the world. The
//! protocol is the core's alone; a backend only moves frames.
//!
//! - [`afpacket`]: the software node, the core over AF_PACKET sockets on
//!   kernel interfaces, with seeded [`faults`] injected on transmit when asked.
//! - [`sim`]: the in-memory network, a deterministic discrete-event
//!   simulation in which real [`netcraq_core::Node`]s exchange real frames
//!   over simulated links, driven by simulated clients.

pub mod afpacket;
pub mod faults;
pub mod sim;
