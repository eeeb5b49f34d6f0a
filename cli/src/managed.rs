//! `netcraq up`'s nodes wait for the controller: the node file gives their
//! ports, the controller their tables (`netcraq_controller::topology`).

use netcraq_controller::topology::p4runtime_port_file;
use netcraq_topology::Namespace;
use std::path::Path;
use std::process::Command;

/// The command of a node that waits for its controller: the node file gives
/// its ports (and faults, DPDK settings), P4Runtime listens on a free port of
/// 127.0.0.1 (written next to the node file), and the packet sockets open in
/// the node's namespace.
pub fn node_command(exe: &Path, node_file: &Path, namespace: &Namespace) -> Command {
    let mut command = crate::node::node_command(exe, node_file);
    command.arg("--await-controller").args(["--p4runtime", "127.0.0.1:0"]);
    command.arg("--p4runtime-port-file").arg(p4runtime_port_file(node_file)).args(["--netns", namespace.name()]);
    command
}
