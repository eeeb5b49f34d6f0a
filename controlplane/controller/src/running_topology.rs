//! A topology whose nodes the controller configures (`netcraq up`): every
//! node starts unconfigured with a P4Runtime server its controller reaches
//! from the runner's namespace, while its data ports are in its own: the
//! software and DPDK nodes listen on loopback (`netcraq node --netns`), a
//! BMv2 switch on a unix socket next to its node file.
//! [`bmv2_command`] starts a switch, [`wait_for_listeners`] finds the
//! servers and [`deployment`] gives each node its planned tables.

use crate::deployment_file::planned_target;
use crate::reconfigure::{ChainLayout, LayoutPlanner};
use crate::{Deployment, NodeTables, PipelineFiles};
use netcraq_plan::network::{network_tables, Network, NetworkChain};
use netcraq_plan::plan::FIRST_EPOCH;
use netcraq_topology::{Namespace, NodeFile, NodeKind, Running, Topology, BMV2_CPU_PORT, BMV2_SWITCH};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long to wait for a node's P4Runtime server to listen: longer than a
/// DPDK node waits for its memif peers.
const LISTEN_WAIT: Duration = Duration::from_secs(30);
const LISTEN_POLL: Duration = Duration::from_millis(20);
/// Where a node started for the controller writes its P4Runtime port
/// (`netcraq node --p4runtime-port-file`): next to its node file.
pub fn p4runtime_port_file(node_file: &Path) -> PathBuf {
    node_file.with_extension("p4runtime-port")
}

/// The unix socket a BMv2 switch serves P4Runtime on: next to its node file.
pub fn bmv2_socket(node_file: &Path) -> PathBuf {
    node_file.with_extension("grpc")
}

/// The kind of the topology's node named `node`.
pub fn kind_of(topology: &Topology, node: &str) -> Option<NodeKind> {
    Some(topology.nodes().iter().find(|n| n.name == node)?.kind)
}

/// The process of a BMv2 node: `simple_switch_grpc` in the node's namespace,
/// BMv2 port N on the interface of node port N, no program until the
/// controller installs one, P4Runtime on [`bmv2_socket`], PacketOut frames
/// entering on [`BMV2_CPU_PORT`].
pub fn bmv2_command(file: &NodeFile, node_file: &Path, namespace: &Namespace) -> Command {
    let mut command = namespace.command(BMV2_SWITCH);
    command.args(["--device-id", "1", "--no-p4"]);
    for port in &file.ports {
        command.arg("-i").arg(format!("{}@{}", port.number, port.interface));
    }
    command.arg("--").arg("--grpc-server-addr").arg(format!("unix:{}", bmv2_socket(node_file).display()));
    command.arg("--cpu-port").arg(BMV2_CPU_PORT.to_string());
    command
}

/// Each node's P4Runtime address, once every node listens.
pub fn wait_for_listeners(topology: &Topology, running: &Running) -> Result<Vec<(String, String)>, String> {
    let mut addresses = Vec::new();
    for file in &running.plan().nodes {
        let node_file = running.node_file(&file.name).ok_or("the run directory is gone")?;
        let deadline = Instant::now() + LISTEN_WAIT;
        let address = loop {
            if let Some(address) = listening_address(kind_of(topology, &file.name), &node_file) {
                break address;
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
        addresses.push((file.name.clone(), address));
    }
    Ok(addresses)
}

fn listening_address(kind: Option<NodeKind>, node_file: &Path) -> Option<String> {
    if kind == Some(NodeKind::Bmv2) {
        let socket = bmv2_socket(node_file);
        return socket.exists().then(|| format!("unix:{}", socket.display()));
    }
    let port = std::fs::read_to_string(p4runtime_port_file(node_file)).ok()?.trim().parse::<u16>().ok()?;
    Some(format!("127.0.0.1:{port}"))
}

/// The deployment of a topology's plan for `apply`: each node's planned
/// tables, at its address; BMv2 nodes get the pipeline `bmv2` (P4Info and
/// BMv2 JSON). Spares are left out: they stay unconfigured until the
/// running controller adds one to its chain.
pub fn deployment(
    topology: &Topology,
    nodes: &[NodeFile],
    addresses: &[(String, String)],
    bmv2: &PipelineFiles,
) -> Result<Deployment, String> {
    let is_spare = |name: &str| topology.chains().iter().any(|c| c.spares.iter().any(|s| s == name));
    let members: Vec<NodeFile> = nodes.iter().filter(|file| !is_spare(&file.name)).cloned().collect();
    deployment_with_spares(topology, &members, addresses, bmv2)
}

/// As [`deployment`], spares included: the running controller's nodes.
pub fn deployment_with_spares(
    topology: &Topology,
    nodes: &[NodeFile],
    addresses: &[(String, String)],
    bmv2: &PipelineFiles,
) -> Result<Deployment, String> {
    let mut targets = Vec::with_capacity(nodes.len());
    for file in nodes {
        let address = addresses
            .iter()
            .find(|(name, _)| *name == file.name)
            .map(|(_, address)| address.as_str())
            .ok_or_else(|| format!("node {}: no P4Runtime address", file.name))?;
        let node = topology.nodes().iter().find(|n| n.name == file.name);
        let node = node.ok_or_else(|| format!("node {}: not in the topology", file.name))?;
        let mut target = planned_target(node, file, address);
        if target.spec.kind == NodeKind::Bmv2 {
            target.spec.pipeline = bmv2.clone();
        }
        targets.push(target);
    }
    Ok(Deployment::new(targets))
}

/// Plans chain layouts over a topology's network: its nodes, hosts and
/// links, whatever chains the topology file names.
pub struct TopologyPlanner {
    network: Network,
    /// Node names by station index (the nodes come first, in file order).
    nodes: Vec<String>,
}

impl TopologyPlanner {
    pub fn new(topology: &Topology) -> TopologyPlanner {
        TopologyPlanner {
            network: topology.network(),
            nodes: topology.nodes().iter().map(|n| n.name.clone()).collect(),
        }
    }

    /// The layout of the topology's chain `name` as `netcraq up` configures
    /// it: the first epoch, leases off.
    pub fn layout(topology: &Topology, name: &str) -> Option<ChainLayout> {
        let chain = topology.chains().iter().find(|c| c.name == name)?;
        Some(ChainLayout {
            members: chain.nodes.clone(),
            mode: chain.mode,
            key_lo: chain.key_lo,
            key_hi: chain.key_hi,
            epoch: FIRST_EPOCH,
            lease_ticks: 0,
            grouped: false,
        })
    }
}

impl LayoutPlanner for TopologyPlanner {
    fn tables(&self, layout: &ChainLayout) -> Result<Vec<(String, NodeTables)>, String> {
        let index = |member: &String| {
            self.nodes.iter().position(|n| n == member).ok_or(format!("{member} is no node of the topology"))
        };
        let indices = layout.members.iter().map(index).collect::<Result<Vec<usize>, String>>()?;
        let (mode, key_lo, key_hi, epoch) = (layout.mode, layout.key_lo, layout.key_hi, layout.epoch);
        let chain = NetworkChain { nodes: indices.clone(), mode, key_lo, key_hi, epoch };
        let mut tables_of = network_tables(&self.network, &[chain]).map_err(|e| e.to_string())?;
        let mut planned = Vec::with_capacity(indices.len());
        for (member, index) in layout.members.iter().zip(indices) {
            let mut tables = tables_of.remove(&index).ok_or(format!("{member} got no tables"))?;
            tables.config.lease_ticks = layout.lease_ticks;
            planned.push((member.clone(), tables));
        }
        Ok(planned)
    }
}
