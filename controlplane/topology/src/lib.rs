//! NetCRAQ topologies: the topology file (also the deployment file, with
//! P4Runtime addresses), the node file each node process reads, the plan
//! from one to the other (`netcraq_plan::network`), and the runner that brings a
//! topology up on network namespaces and veth links (see `README.md`).
//!
//! `netcraq up --topology FILE` is [`Topology::load`], [`catch_interrupts`],
//! [`Topology::up`], [`Running::wait`], [`Running::down`];
//! `netcraq node --config FILE` is [`NodeFile::load`], then
//! its `config`, [`NodeFile::routes`] and its `ports`.

#![deny(unsafe_code)]

#[allow(unsafe_code)] // fcntl on a pipe
mod command;
mod faults;
#[allow(unsafe_code)] // sigaction
mod interrupts;
#[allow(unsafe_code)] // setns(2) and the ethtool ioctl
mod netns;
mod node_file;
mod plan;
#[allow(unsafe_code)] // waitid, kill, geteuid, setsid
mod process;
mod runner;
pub mod spawned;
mod topology;
mod validate;

pub use command::{command_line, run_command, CommandError, CommandFailure, IP_COMMAND_TIMEOUT};
pub use faults::DEFAULT_FAULT_SEED;
pub use interrupts::{catch_interrupts, interrupted, take_interrupt};
pub use netcraq_core::faults::PortFaults;
pub use netns::{set_tx_checksum_offload, tx_checksum_offload, Namespace, NETNS_DIR};
pub use node_file::{
    node_command, stats_path, NodeFile, NodeFileError, Port, Prefix, RouteEntry, MAX_INTERFACE_NAME_LEN,
};
pub use plan::{interface_name, HostPlan, LinkEnd, LinkPlan, Plan};
pub use process::{on_path, running_as_root, send_signal, start_in_new_session, Exit};
pub use runner::{Event, Placement, RunError, Running, TeardownError, STOP_GRACE};
pub use topology::{
    Chain, ControllerSettings, Host, Link, LinkKind, Node, NodeKind, P4RuntimeServer, TlsSettings, Topology,
    TopologyError, BMV2_CPU_PORT, BMV2_SWITCH,
};
pub use validate::{derived_mac, MAX_PORTS_PER_NODE};
