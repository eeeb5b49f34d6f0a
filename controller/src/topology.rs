//! A topology whose nodes the controller configures (`netcraq up`): every
//! node starts unconfigured with a P4Runtime server on loopback and its
//! packet sockets in its own namespace; [`wait_for_listeners`] finds the
//! servers and [`deployment`] gives each node its planned tables.

use crate::{Deployment, NodeKind, NodeTables, NodeTarget};
use netcraq_topology::{NodeFile, NodeKind as TopologyKind, Running, Topology};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long to wait for a node's P4Runtime server to listen.
const LISTEN_WAIT: Duration = Duration::from_secs(15);
const LISTEN_POLL: Duration = Duration::from_millis(20);

/// Where a node started for the controller writes its P4Runtime port
/// (`netcraq node --p4runtime-port-file`): next to its node file.
pub fn p4runtime_port_file(node_file: &Path) -> PathBuf {
    node_file.with_extension("p4runtime-port")
}

/// Each node's P4Runtime address, once every node listens.
pub fn wait_for_listeners(running: &Running) -> Result<Vec<(String, String)>, String> {
    let mut addresses = Vec::new();
    for file in &running.plan().nodes {
        let path = p4runtime_port_file(&running.node_file(&file.name).ok_or("the run directory is gone")?);
        let deadline = Instant::now() + LISTEN_WAIT;
        let port = loop {
            if let Some(port) = std::fs::read_to_string(&path).ok().and_then(|text| text.trim().parse::<u16>().ok()) {
                break port;
            }
            if running.node_exit(&file.name).is_some() {
                return Err(format!(
                    "node {} exited before its P4Runtime server listened (its messages are above)",
                    file.name
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!("node {}: no P4Runtime server listening after {LISTEN_WAIT:?}", file.name));
            }
            std::thread::sleep(LISTEN_POLL);
        };
        addresses.push((file.name.clone(), format!("127.0.0.1:{port}")));
    }
    Ok(addresses)
}

/// The deployment of a topology's plan: each node's planned tables, at its address.
pub fn deployment(
    topology: &Topology,
    nodes: &[NodeFile],
    addresses: &[(String, String)],
) -> Result<Deployment, String> {
    let mut targets = Vec::with_capacity(nodes.len());
    for file in nodes {
        let address = addresses
            .iter()
            .find(|(name, _)| *name == file.name)
            .map(|(_, address)| address.as_str())
            .ok_or_else(|| format!("node {}: no P4Runtime address", file.name))?;
        let kind = match topology.nodes().iter().find(|n| n.name == file.name).map(|n| n.kind) {
            Some(TopologyKind::Dpdk) => NodeKind::Dpdk,
            Some(TopologyKind::Software) => NodeKind::Software,
            Some(TopologyKind::Bmv2) => NodeKind::Bmv2,
            None => return Err(format!("node {}: not in the topology", file.name)),
        };
        let tables = NodeTables { config: file.config, routes: file.routes() };
        targets.push(NodeTarget::new(&file.name, kind, address, 1, tables));
    }
    Ok(Deployment::new(targets))
}
