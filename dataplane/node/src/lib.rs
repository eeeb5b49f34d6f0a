//! Backends that move frames between the NetCRAQ core and the world. The
//! protocol is the core's alone; a backend only moves frames.
//!
//! - [`afpacket`]: the software node, the core over AF_PACKET sockets on
//!   kernel interfaces, with seeded [`faults`] injected on transmit when asked.
//! - `dpdk_node` (feature `dpdk`): the kernel-bypass node, the core over
//!   DPDK ports in a poll loop, with the same fault injection;
//!   `dpdk_launch` runs it as a process (EAL, mempool, ports, lcores).
//! - [`shell`]: what every backend shares: a port's transmit path through
//!   its [`faults`] (with the frame held back for reordering) and the I/O
//!   counters.
//! - [`service_rate`]: the optional cap on frames a node takes per second.
//! - [`control`]: the bounded channel that carries a control plane's
//!   requests (the P4Runtime server's) to the poll loop that owns the node.
//! - [`lease_clock`]: the clock the poll loops give the core for its leases.

// All unsafe code is in `sys`, the system calls.
#![deny(unsafe_code)]

pub mod afpacket;
pub mod control;
#[cfg(feature = "dpdk")]
pub mod dpdk_launch;
#[cfg(feature = "dpdk")]
pub mod dpdk_node;
pub mod faults;
pub mod idle;
pub mod lcore_control;
pub mod lease_clock;
pub mod service_rate;
pub mod shell;
#[allow(unsafe_code)]
mod sys;
