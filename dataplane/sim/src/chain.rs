//! Builds a whole chain on the in-memory network: the wiring of a layout,
//! the tables the control plane's planner computes for it, and one agent
//! per client.

use super::link::LinkConfig;
use super::network::{HostAgent, SimConfig, Simulation};
use super::wiring::{Device, HostId, NodeId, NodeSettings, Wiring, WiringError};
use netcraq_core::{ConfigError, FabricPortError, Mode, RouteError};
use netcraq_plan::network::{network_tables, NetworkChain};
use netcraq_plan::plan::{PlanError, FIRST_EPOCH};
use netcraq_wire::{Endpoint, Ipv4Addr, MacAddr};

/// Chain nodes and client hosts each take one address byte.
pub const MAX_CHAIN_NODES: usize = 250;
pub const MAX_CLIENT_HOSTS: usize = 250;

/// How nodes and client hosts are wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Every node and every client host on its own link to one switch: any
    /// device is two links from any other, as on a rack's top-of-rack switch.
    Star,
    /// Nodes linked in chain order, head to tail; client host `c` linked to
    /// node `c mod N`. Frames for farther nodes transit the nodes between.
    Line,
}

/// A chain of `nodes` nodes and `clients` client hosts on the in-memory network.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainNetworkSpec {
    pub nodes: usize,
    pub clients: usize,
    pub mode: Mode,
    pub layout: Layout,
    /// Links that carry chain traffic: node to switch (star), node to node (line).
    pub chain_links: LinkConfig,
    /// Links from the client hosts: host to switch (star), host to node (line).
    pub client_links: LinkConfig,
    pub node: NodeSettings,
    pub sim: SimConfig,
}

impl Default for ChainNetworkSpec {
    /// Three CRAQ nodes and one client on a star of clean default links.
    fn default() -> Self {
        ChainNetworkSpec {
            nodes: 3,
            clients: 1,
            mode: Mode::Craq,
            layout: Layout::Star,
            chain_links: LinkConfig::default(),
            client_links: LinkConfig::default(),
            node: NodeSettings::default(),
            sim: SimConfig::default(),
        }
    }
}

/// How a client host reaches one chain node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetNode {
    pub ip: Ipv4Addr,
    /// The host's port toward the node.
    pub port: u16,
    /// Destination MAC of frames for the node: the node's own, or that of
    /// the first node on the way.
    pub next_hop_mac: MacAddr,
}

/// What a client host's agent needs to know: who it is and how it reaches
/// each chain node (index 0 is the head).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPlacement {
    pub index: u16,
    pub address: Endpoint,
    pub targets: Vec<TargetNode>,
}

/// A built chain: the simulation and the ids of its nodes (head first) and client hosts.
pub struct ChainNetwork<A> {
    pub sim: Simulation<A>,
    pub chain: Vec<NodeId>,
    pub clients: Vec<HostId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    NodeCount(usize),
    ClientCount(usize),
    Wiring(WiringError),
    Plan(PlanError),
    Config(ConfigError),
    Route(RouteError),
    FabricPort(FabricPortError),
    ClientCannotReach { client: Ipv4Addr, node: Ipv4Addr },
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::NodeCount(n) => write!(f, "a chain needs 1..={MAX_CHAIN_NODES} nodes, not {n}"),
            BuildError::ClientCount(n) => write!(f, "a chain network takes 0..={MAX_CLIENT_HOSTS} clients, not {n}"),
            BuildError::Wiring(error) => error.fmt(f),
            BuildError::Plan(error) => error.fmt(f),
            BuildError::Config(error) => write!(f, "node_config refused: {error}"),
            BuildError::Route(error) => write!(f, "ipv4_route refused: {error}"),
            BuildError::FabricPort(error) => write!(f, "fabric_port refused: {error}"),
            BuildError::ClientCannotReach { client, node } => write!(f, "client {client} has no path to node {node}"),
        }
    }
}

impl std::error::Error for BuildError {}

impl From<WiringError> for BuildError {
    fn from(error: WiringError) -> Self {
        BuildError::Wiring(error)
    }
}

/// Node `index` of a chain (0 is the head): 10.0.0.(index+1), 02:00:00:00:00:(index+1).
pub fn node_address(index: u8) -> Endpoint {
    Endpoint { ip: Ipv4Addr::new(10, 0, 0, index + 1), mac: MacAddr([2, 0, 0, 0, 0, index + 1]) }
}

/// Client host `index`: 10.0.1.(index+1), 02:00:00:00:01:(index+1).
pub fn client_address(index: u8) -> Endpoint {
    Endpoint { ip: Ipv4Addr::new(10, 0, 1, index + 1), mac: MacAddr([2, 0, 0, 0, 1, index + 1]) }
}

/// Builds the chain: wires the layout, installs in every node the tables
/// that [`network_tables`] computes for it, and creates each client host's
/// agent with `make_client`.
pub fn build_chain<A: HostAgent>(
    spec: &ChainNetworkSpec,
    make_client: impl FnMut(&ClientPlacement) -> A,
) -> Result<ChainNetwork<A>, BuildError> {
    let (node_count, client_count) = counts(spec)?;
    let (wiring, chain, clients) = wire(spec, node_count, client_count)?;
    let node_addresses: Vec<Endpoint> = (0..node_count).map(node_address).collect();
    let key_hi = u32::try_from(spec.node.key_capacity).unwrap_or(u32::MAX);
    let stations = chain.iter().filter_map(|id| wiring.station(Device::Node(*id))).collect();
    let chain_spec = NetworkChain { nodes: stations, mode: spec.mode, key_lo: 0, key_hi, epoch: FIRST_EPOCH };
    let mut tables = network_tables(wiring.network(), std::slice::from_ref(&chain_spec)).map_err(BuildError::Plan)?;
    let placements = clients
        .iter()
        .zip(0..client_count)
        .map(|(host, index)| placement(&wiring, *host, index, &node_addresses))
        .collect::<Result<Vec<_>, _>>()?;
    let agents = placements.iter().map(make_client).collect();
    let mut sim = Simulation::new(wiring, agents, spec.sim)?;
    for (id, station) in chain.iter().zip(&chain_spec.nodes) {
        let node_tables = tables.remove(station).ok_or(BuildError::Plan(PlanError::NotANode(*station)))?;
        let node = sim.node_mut(*id);
        node.set_config(node_tables.config).map_err(BuildError::Config)?;
        for route in node_tables.routes {
            node.routes_mut().insert(route).map_err(BuildError::Route)?;
        }
        for fabric_port in node_tables.fabric_ports {
            node.fabric_ports_mut().insert(fabric_port).map_err(BuildError::FabricPort)?;
        }
    }
    Ok(ChainNetwork { sim, chain, clients })
}

fn counts(spec: &ChainNetworkSpec) -> Result<(u8, u8), BuildError> {
    let nodes = u8::try_from(spec.nodes).ok().filter(|n| (1..=MAX_CHAIN_NODES).contains(&usize::from(*n)));
    let clients = u8::try_from(spec.clients).ok().filter(|c| usize::from(*c) <= MAX_CLIENT_HOSTS);
    Ok((nodes.ok_or(BuildError::NodeCount(spec.nodes))?, clients.ok_or(BuildError::ClientCount(spec.clients))?))
}

/// The wiring of the layout, the chain's node ids head first, and the client host ids.
fn wire(spec: &ChainNetworkSpec, nodes: u8, clients: u8) -> Result<(Wiring, Vec<NodeId>, Vec<HostId>), BuildError> {
    let mut wiring = Wiring::default();
    let chain = (0..nodes).map(|i| wiring.add_node(node_address(i), spec.node)).collect::<Result<Vec<_>, _>>()?;
    let hosts: Vec<HostId> = (0..clients).map(|c| wiring.add_host(client_address(c))).collect();
    match spec.layout {
        Layout::Star => {
            let switch = Device::Switch(wiring.add_switch());
            for node in &chain {
                wiring.connect(Device::Node(*node), switch, spec.chain_links)?;
            }
            for host in &hosts {
                wiring.connect(Device::Host(*host), switch, spec.client_links)?;
            }
        }
        Layout::Line => {
            for pair in chain.windows(2) {
                wiring.connect(Device::Node(pair[0]), Device::Node(pair[1]), spec.chain_links)?;
            }
            for (index, host) in hosts.iter().enumerate() {
                wiring.connect(Device::Host(*host), Device::Node(chain[index % chain.len()]), spec.client_links)?;
            }
        }
    }
    Ok((wiring, chain, hosts))
}

fn placement(wiring: &Wiring, host: HostId, index: u8, nodes: &[Endpoint]) -> Result<ClientPlacement, BuildError> {
    let address = client_address(index);
    let targets = nodes
        .iter()
        .map(|node| {
            let (port, next_hop_mac) = wiring
                .first_hop(Device::Host(host), node.ip)
                .ok_or(BuildError::ClientCannotReach { client: address.ip, node: node.ip })?;
            Ok(TargetNode { ip: node.ip, port, next_hop_mac })
        })
        .collect::<Result<_, BuildError>>()?;
    Ok(ClientPlacement { index: u16::from(index), address, targets })
}
