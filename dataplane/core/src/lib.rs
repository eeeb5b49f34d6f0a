//! The NetCRAQ node as a pure state machine (`docs/protocol.md`).
//!
//! [`Node::process`] takes one received frame and rewrites it in place into
//! the node's first output, writing a second output (the tail's ACK) into a
//! scratch buffer. It holds exactly the tables, registers and counters the
//! P4 program holds, performs no I/O and never allocates, so any backend
//! (in-memory network, AF_PACKET, DPDK) can call it from a poll loop. It
//! reads no clock either: the backend sets the lease clock (§2.4) with
//! [`Node::set_clock`], as a switch's ingress timestamp would.

#![forbid(unsafe_code)]

mod config;
pub mod control;
mod fabric;
pub mod faults;
mod groups;
mod node;
mod outcome;
mod registers;
mod routes;

pub use config::{ConfigError, Mode, NodeConfig, Role};
pub use fabric::{FabricPort, FabricPortError, FabricPorts, FABRIC_PORT_CAPACITY};
pub use groups::{KeyGroup, KeyGroupError, KeyGroups, KEY_GROUP_CAPACITY};
pub use node::{Egress, Node, Verdict};
pub use outcome::Outcome;
pub use registers::{is_newer, KeySlot, Lease, Registers, Writer, MAX_UNCOMMITTED_VERSIONS};
pub use routes::{Route, RouteError, RouteTable, ROUTE_TABLE_CAPACITY};

/// Register capacity of the software and DPDK nodes: one slot per 16-bit key.
pub const DEFAULT_KEY_CAPACITY: usize = 1 << 16;
/// The port P4Runtime PacketOut frames enter a software or DPDK node by
/// (`docs/protocol.md` §2.3): the one `fabric_port` marks `from_controller`.
/// No interface has it, so no cable reaches it.
pub const CONTROLLER_PORT: u16 = 0xFFFF;
