//! From a chain description to each node's table entries (`docs/protocol.md`
//! §2.3). Pure: no I/O, so the topology runner, the in-memory network and the
//! P4Runtime controller all install the same entries.

use netcraq_core::{FabricPort, KeyGroup, Mode, NodeConfig, Role, Route};
use netcraq_wire::{Ipv4Addr, MacAddr};

use netcraq_wire::Endpoint;

/// A chain: its nodes from head to tail, its mode, its key range and the
/// number of this configuration (`docs/protocol.md` §9.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSpec {
    pub nodes: Vec<Endpoint>,
    pub mode: Mode,
    pub key_lo: u16,
    pub key_hi: u32,
    pub epoch: u32,
    /// `node_config.lease_ticks` (§9.3): 0 for a chain no controller renews.
    pub lease_ticks: u32,
}

/// The epoch of a chain's first configuration (`docs/protocol.md` §9.2).
pub const FIRST_EPOCH: u32 = 1;

/// Where a node reaches a destination: the egress port and next-hop MAC.
pub trait Reachability {
    /// The port on which `from` (index into the chain) reaches `to`, or
    /// `None` when it cannot.
    fn port(&self, from: usize, to: Ipv4Addr) -> Option<(u16, MacAddr)>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    EmptyChain,
    DuplicateNode(Ipv4Addr),
    Unreachable {
        from: Ipv4Addr,
        to: Ipv4Addr,
    },
    /// A chain names a station of the network that is not a node.
    NotANode(usize),
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::EmptyChain => f.write_str("a chain needs at least one node"),
            PlanError::DuplicateNode(ip) => write!(f, "node {ip} appears twice in the chain"),
            PlanError::Unreachable { from, to } => write!(f, "node {from} has no path to {to}: check the links"),
            PlanError::NotANode(station) => write!(f, "station {station} of a chain is not a node of the network"),
        }
    }
}

impl std::error::Error for PlanError {}

/// One node's table entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTables {
    pub config: NodeConfig,
    pub routes: Vec<Route>,
    /// In port order.
    pub fabric_ports: Vec<FabricPort>,
    /// The node's `key_group` entries: one per group it is in when its
    /// keys are in groups (§11), none otherwise.
    pub key_groups: Vec<KeyGroup>,
}

impl NodeTables {
    /// The chain the node serves keys `key_lo..key_hi` by (§2.3, "The
    /// key's chain"): its `key_group` entry of exactly those keys, else
    /// `node_config`.
    pub fn chain_of(&self, key_lo: u16, key_hi: u32) -> NodeConfig {
        match self.key_groups.iter().find(|g| g.key == key_lo && g.key_end() == key_hi) {
            Some(group) => group.chain_of(&self.config),
            None => self.config,
        }
    }

    /// Sets `sync_epoch` (§10.4) of the chain of keys `key_lo..key_hi`.
    pub fn set_sync_epoch(&mut self, key_lo: u16, key_hi: u32, sync_epoch: u32) {
        match self.key_groups.iter_mut().find(|g| g.key == key_lo && g.key_end() == key_hi) {
            Some(group) => group.sync_epoch = sync_epoch,
            None => self.config.sync_epoch = sync_epoch,
        }
    }

    /// Adds the routes, fabric ports and `key_group` entries of `other`,
    /// the same node's tables in another group (§2.3: a port is marked for
    /// a neighbour of any of the node's chains).
    pub fn merge(&mut self, other: &NodeTables) {
        for route in &other.routes {
            if !self.routes.iter().any(|r| r.prefix == route.prefix && r.prefix_len == route.prefix_len) {
                self.routes.push(*route);
            }
        }
        for port in &other.fabric_ports {
            self.add_fabric_port(port.port, port.from_predecessor, port.from_successor);
            if port.from_controller {
                self.add_controller_port(port.port);
            }
        }
        for group in &other.key_groups {
            if !self.key_groups.iter().any(|g| g.key == group.key && g.prefix_len == group.prefix_len) {
                self.key_groups.push(*group);
            }
        }
    }

    /// Marks `port` as a fabric port, adding the neighbour flags given.
    pub fn add_fabric_port(&mut self, port: u16, from_predecessor: bool, from_successor: bool) {
        let entry = self.fabric_port_mut(port);
        entry.from_predecessor |= from_predecessor;
        entry.from_successor |= from_successor;
    }

    /// Marks `port` as the one the control plane's PacketOut frames enter
    /// by (`docs/protocol.md` §2.3): the node's kind says which it is.
    pub fn add_controller_port(&mut self, port: u16) {
        self.fabric_port_mut(port).from_controller = true;
    }

    fn fabric_port_mut(&mut self, port: u16) -> &mut FabricPort {
        let at = match self.fabric_ports.binary_search_by_key(&port, |f| f.port) {
            Ok(at) => at,
            Err(at) => {
                let edge = FabricPort { port, from_predecessor: false, from_successor: false, from_controller: false };
                self.fabric_ports.insert(at, edge);
                at
            }
        };
        &mut self.fabric_ports[at]
    }
}

/// Computes every node's tables: its role from its position, its neighbours,
/// a /32 route to each chain node it talks to and to each client, and as
/// fabric ports those its routes to the other chain nodes leave by (routes
/// are symmetric, so the neighbours' chain frames arrive there).
pub fn chain_tables(
    chain: &ChainSpec,
    clients: &[Ipv4Addr],
    reach: &impl Reachability,
) -> Result<Vec<NodeTables>, PlanError> {
    let nodes = &chain.nodes;
    let (Some(head), Some(tail)) = (nodes.first(), nodes.last()) else {
        return Err(PlanError::EmptyChain);
    };
    for (i, node) in nodes.iter().enumerate() {
        if nodes[..i].iter().any(|other| other.ip == node.ip) {
            return Err(PlanError::DuplicateNode(node.ip));
        }
    }
    (0..nodes.len())
        .map(|i| {
            let config = NodeConfig {
                own_mac: nodes[i].mac,
                own_ip: nodes[i].ip,
                role: role_at(i, nodes.len()),
                mode: chain.mode,
                head_ip: head.ip,
                tail_ip: tail.ip,
                successor_ip: nodes.get(i + 1).map_or(Ipv4Addr::UNSPECIFIED, |n| n.ip),
                predecessor_ip: i.checked_sub(1).map_or(Ipv4Addr::UNSPECIFIED, |p| nodes[p].ip),
                key_lo: chain.key_lo,
                key_hi: chain.key_hi,
                epoch: chain.epoch,
                lease_ticks: chain.lease_ticks,
                sync_epoch: 0,
            };
            let peers = nodes.iter().map(|n| n.ip).filter(|ip| *ip != nodes[i].ip);
            let route = |to: Ipv4Addr| {
                let (port, mac) = reach.port(i, to).ok_or(PlanError::Unreachable { from: nodes[i].ip, to })?;
                Ok(Route { prefix: to, prefix_len: 32, port, mac })
            };
            let routes = peers.clone().chain(clients.iter().copied()).map(route).collect::<Result<Vec<_>, _>>()?;
            let mut tables = NodeTables { config, routes, fabric_ports: Vec::new(), key_groups: Vec::new() };
            for peer in peers {
                let port = route(peer)?.port;
                let (predecessor, successor) = (config.predecessor_ip == peer, config.successor_ip == peer);
                tables.add_fabric_port(port, predecessor, successor);
            }
            Ok(tables)
        })
        .collect()
}

fn role_at(index: usize, len: usize) -> Role {
    match (index, len) {
        (_, 1) => Role::Solo,
        (0, _) => Role::Head,
        (i, n) if i + 1 == n => Role::Tail,
        _ => Role::Replica,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct PortPerPeer;

    impl Reachability for PortPerPeer {
        fn port(&self, _from: usize, to: Ipv4Addr) -> Option<(u16, MacAddr)> {
            let last = to.octets()[3];
            (last != 99).then_some((u16::from(last), MacAddr([2, 0, 0, 0, 0, last])))
        }
    }

    fn chain(len: u8) -> ChainSpec {
        let nodes =
            (1..=len).map(|i| Endpoint { ip: Ipv4Addr::new(10, 0, 0, i), mac: MacAddr([2, 0, 0, 0, 0, i]) }).collect();
        ChainSpec { nodes, mode: Mode::Craq, key_lo: 0, key_hi: 1024, epoch: 3, lease_ticks: 0 }
    }

    #[test]
    fn roles_and_neighbours_follow_chain_order() {
        let tables = chain_tables(&chain(3), &[Ipv4Addr::new(10, 0, 0, 50)], &PortPerPeer).unwrap();
        let roles: Vec<_> = tables.iter().map(|t| t.config.role).collect();
        assert_eq!(roles, [Role::Head, Role::Replica, Role::Tail]);
        let middle = &tables[1].config;
        assert_eq!(
            (middle.predecessor_ip, middle.successor_ip),
            (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 3))
        );
        assert_eq!(tables[0].config.predecessor_ip, Ipv4Addr::UNSPECIFIED);
        assert_eq!(tables[2].routes.len(), 3, "two peers and one client");
        let fabric = |port, from_predecessor, from_successor| FabricPort {
            port,
            from_predecessor,
            from_successor,
            from_controller: false,
        };
        assert_eq!(tables[1].fabric_ports, [fabric(1, true, false), fabric(3, false, true)]);
        assert_eq!(
            tables[0].fabric_ports,
            [fabric(2, false, true), fabric(3, false, false)],
            "toward the tail: no neighbour"
        );
        assert!(tables.iter().all(|t| t.config.epoch == 3));
        for t in &tables {
            t.config.validate(netcraq_core::DEFAULT_KEY_CAPACITY).unwrap();
        }
    }

    #[test]
    fn a_chain_of_one_is_solo_and_errors_are_named() {
        let tables = chain_tables(&chain(1), &[], &PortPerPeer).unwrap();
        assert_eq!(tables[0].config.role, Role::Solo);
        assert_eq!(tables[0].fabric_ports, [], "no peers, no fabric");
        assert_eq!(
            chain_tables(&ChainSpec { nodes: vec![], ..chain(1) }, &[], &PortPerPeer),
            Err(PlanError::EmptyChain)
        );
        let unreachable = chain_tables(&chain(2), &[Ipv4Addr::new(10, 0, 0, 99)], &PortPerPeer).unwrap_err();
        assert_eq!(unreachable.to_string(), "node 10.0.0.1 has no path to 10.0.0.99: check the links");
        let mut twice = chain(2);
        twice.nodes.push(twice.nodes[0]);
        assert_eq!(chain_tables(&twice, &[], &PortPerPeer), Err(PlanError::DuplicateNode(Ipv4Addr::new(10, 0, 0, 1))));
    }
}
