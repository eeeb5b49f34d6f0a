//! A network as a graph: stations (chain nodes, client hosts, plain
//! switches) joined by links between numbered ports; the shortest-path next
//! hops over it, and every node's tables for the chains it carries. Pure,
//! so the topology runner, the controller and the in-memory network route
//! alike.

use crate::plan::{chain_tables, ChainSpec, NodeTables, PlanError, Reachability};
use netcraq_core::{Mode, Route};
use netcraq_wire::{Endpoint, Ipv4Addr, MacAddr};
use std::collections::{HashMap, VecDeque};

/// Anything with ports. Nodes forward and have an address; hosts have an
/// address and do not forward; switches forward and are transparent (a
/// frame through one is addressed to the next station that has an address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Station {
    Node(Endpoint),
    Host(Endpoint),
    Switch,
}

impl Station {
    pub fn address(&self) -> Option<&Endpoint> {
        match self {
            Station::Node(address) | Station::Host(address) => Some(address),
            Station::Switch => None,
        }
    }

    fn forwards(&self) -> bool {
        !matches!(self, Station::Host(_))
    }
}

/// A port of a station and what is behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkPort {
    pub number: u16,
    /// The station at the far end, as an index into the network's stations.
    pub peer: usize,
    /// The link that carries it, counted from 0 in the order links were added.
    pub link: usize,
}

/// Why a link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    UnknownStation(usize),
    PortTaken { station: usize, port: u16 },
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::UnknownStation(station) => write!(f, "station {station} is not in the network"),
            LinkError::PortTaken { station, port } => write!(f, "port {port} of station {station} is already linked"),
        }
    }
}

impl std::error::Error for LinkError {}

/// Stations and, per station, its ports in the order its links were added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    stations: Vec<Station>,
    ports: Vec<Vec<NetworkPort>>,
    links: usize,
}

/// Where one station reaches each address: the egress port and the MAC of
/// the next station with an address.
pub type FirstHops = HashMap<Ipv4Addr, (u16, MacAddr)>;

impl Network {
    /// Adds a station; its index is its id in every other call.
    pub fn add(&mut self, station: Station) -> usize {
        self.stations.push(station);
        self.ports.push(Vec::new());
        self.stations.len() - 1
    }

    pub fn stations(&self) -> &[Station] {
        &self.stations
    }

    pub fn ports(&self, station: usize) -> &[NetworkPort] {
        self.ports.get(station).map_or(&[], Vec::as_slice)
    }

    /// Links port `a.1` of station `a.0` to port `b.1` of station `b.0`;
    /// returns the link's index.
    pub fn link(&mut self, a: (usize, u16), b: (usize, u16)) -> Result<usize, LinkError> {
        for (station, port) in [a, b] {
            if station >= self.stations.len() {
                return Err(LinkError::UnknownStation(station));
            }
            if a == b || self.ports[station].iter().any(|p| p.number == port) {
                return Err(LinkError::PortTaken { station, port });
            }
        }
        let link = self.links;
        self.ports[a.0].push(NetworkPort { number: a.1, peer: b.0, link });
        self.ports[b.0].push(NetworkPort { number: b.1, peer: a.0, link });
        self.links += 1;
        Ok(link)
    }

    /// Every address `from` reaches on a shortest path through stations
    /// that forward, with its first hop.
    pub fn first_hops(&self, from: usize) -> FirstHops {
        let mut hops = FirstHops::new();
        self.search(from, Station::forwards, |address, hop| {
            hops.entry(address.ip).or_insert(hop);
            false
        });
        hops
    }

    /// How `from` sends an IPv4 packet to `to` on a shortest path.
    pub fn first_hop(&self, from: usize, to: Ipv4Addr) -> Option<(u16, MacAddr)> {
        let mut found = None;
        self.search(from, Station::forwards, |address, hop| {
            found = (address.ip == to).then_some(hop);
            found.is_some()
        });
        found
    }

    /// The port on which `switch` reaches the station with MAC `mac` through switches only.
    pub fn switch_port(&self, switch: usize, mac: MacAddr) -> Option<u16> {
        let mut found = None;
        self.search(
            switch,
            |station| *station == Station::Switch,
            |address, (port, _)| {
                found = (address.mac == mac).then_some(port);
                found.is_some()
            },
        );
        found
    }

    /// Breadth-first from `from` through stations that are `through`,
    /// calling `visit` once per station with an address, with the first hop
    /// toward it, until `visit` returns true. Visits each station once.
    fn search(
        &self,
        from: usize,
        through: impl Fn(&Station) -> bool,
        mut visit: impl FnMut(&Endpoint, (u16, MacAddr)) -> bool,
    ) {
        let mut visited = vec![false; self.stations.len()];
        let Some(start) = visited.get_mut(from) else { return };
        *start = true;
        let mut queue: VecDeque<(usize, u16, Option<MacAddr>)> =
            self.ports[from].iter().map(|port| (port.peer, port.number, None)).collect();
        while let Some((at, first_port, mut next_hop_mac)) = queue.pop_front() {
            if std::mem::replace(&mut visited[at], true) {
                continue;
            }
            let station = &self.stations[at];
            if let Some(address) = station.address() {
                let mac = *next_hop_mac.get_or_insert(address.mac);
                if visit(address, (first_port, mac)) {
                    return;
                }
            }
            if through(station) {
                let unvisited = self.ports[at].iter().filter(|port| !visited[port.peer]);
                queue.extend(unvisited.map(|port| (port.peer, first_port, next_hop_mac)));
            }
        }
    }
}

/// A chain over a network: its nodes as station indices, head first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkChain {
    pub nodes: Vec<usize>,
    pub mode: Mode,
    pub key_lo: u16,
    pub key_hi: u32,
    pub epoch: u32,
}

/// The first hops of each chain node, in chain order.
struct ChainReach(Vec<FirstHops>);

impl Reachability for ChainReach {
    fn port(&self, from: usize, to: Ipv4Addr) -> Option<(u16, MacAddr)> {
        self.0.get(from)?.get(&to).copied()
    }
}

/// Every chain node's tables, by station index: [`chain_tables`] over
/// shortest paths with every host as a client, plus /32 routes to the nodes
/// of other chains, whose ports are fabric ports too, so that every node can
/// transit their traffic.
pub fn network_tables(network: &Network, chains: &[NetworkChain]) -> Result<HashMap<usize, NodeTables>, PlanError> {
    let stations = network.stations();
    let addresses = |pick: fn(&Station) -> Option<&Endpoint>| stations.iter().filter_map(pick).map(|a| a.ip);
    let host_ips: Vec<Ipv4Addr> = addresses(|s| if let Station::Host(a) = s { Some(a) } else { None }).collect();
    let node_ips: Vec<Ipv4Addr> = addresses(|s| if let Station::Node(a) = s { Some(a) } else { None }).collect();
    let mut tables_of = HashMap::new();
    for chain in chains {
        let nodes = chain.nodes.iter().map(|&i| match stations.get(i) {
            Some(Station::Node(address)) => Ok(*address),
            _ => Err(PlanError::NotANode(i)),
        });
        let nodes = nodes.collect::<Result<Vec<Endpoint>, _>>()?;
        // No controller renews the leases of a network's chains: leases off.
        let (mode, key_lo, key_hi, epoch) = (chain.mode, chain.key_lo, chain.key_hi, chain.epoch);
        let spec = ChainSpec { nodes, mode, key_lo, key_hi, epoch, lease_ticks: 0 };
        let reach = ChainReach(chain.nodes.iter().map(|&i| network.first_hops(i)).collect());
        let tables = chain_tables(&spec, &host_ips, &reach)?;
        for ((&member, mut tables), hops) in chain.nodes.iter().zip(tables).zip(&reach.0) {
            let own_ip = tables.config.own_ip;
            let routed = |ip: &Ipv4Addr| *ip == own_ip || tables.routes.iter().any(|r| r.prefix == *ip);
            let transit: Vec<Route> = node_ips
                .iter()
                .filter(|ip| !routed(ip))
                .filter_map(|&ip| hops.get(&ip).map(|&(port, mac)| Route { prefix: ip, prefix_len: 32, port, mac }))
                .collect();
            for route in &transit {
                tables.add_fabric_port(route.port, false, false);
            }
            tables.routes.extend(transit);
            tables_of.insert(member, tables);
        }
    }
    Ok(tables_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(net: u8, last: u8) -> Endpoint {
        Endpoint { ip: Ipv4Addr::new(10, 0, net, last), mac: MacAddr([2, 0, 0, 0, net, last]) }
    }

    /// h1 - n1 - n2 - n3 - h2, ports from 1 in link order.
    fn line() -> (Network, [usize; 5]) {
        let mut network = Network::default();
        let [n1, n2, n3] = [1, 2, 3].map(|i| network.add(Station::Node(address(0, i))));
        let [h1, h2] = [1, 2].map(|i| network.add(Station::Host(address(1, i))));
        for (a, b) in [(h1, n1), (n1, n2), (n2, n3), (n3, h2)] {
            let next = |network: &Network, s: usize| network.ports(s).len() as u16 + 1;
            let (pa, pb) = (next(&network, a), next(&network, b));
            network.link((a, pa), (b, pb)).unwrap();
        }
        (network, [n1, n2, n3, h1, h2])
    }

    #[test]
    fn first_hops_follow_shortest_paths_and_hosts_do_not_forward() {
        let (network, [n1, _, n3, h1, _]) = line();
        let hops = network.first_hops(n1);
        assert_eq!(hops[&address(0, 3).ip], (2, address(0, 2).mac));
        assert_eq!(hops[&address(1, 1).ip], (1, address(1, 1).mac));
        assert_eq!(network.first_hop(h1, address(0, 3).ip), Some((1, address(0, 1).mac)));
        assert_eq!(network.first_hop(n3, address(1, 1).ip), Some((1, address(0, 2).mac)));
        let mut cut = Network::default();
        let [a, b] = [1, 2].map(|i| cut.add(Station::Node(address(0, i))));
        let host = cut.add(Station::Host(address(1, 1)));
        cut.link((a, 1), (host, 1)).unwrap();
        cut.link((host, 2), (b, 1)).unwrap();
        assert_eq!(cut.first_hop(a, address(0, 2).ip), None, "a path through a host is no path");
    }

    #[test]
    fn switches_are_transparent() {
        let mut network = Network::default();
        let [n1, n2] = [1, 2].map(|i| network.add(Station::Node(address(0, i))));
        let switch = network.add(Station::Switch);
        network.link((n1, 0), (switch, 0)).unwrap();
        network.link((n2, 0), (switch, 1)).unwrap();
        assert_eq!(network.first_hop(n1, address(0, 2).ip), Some((0, address(0, 2).mac)));
        assert_eq!(network.switch_port(switch, address(0, 2).mac), Some(1));
        assert_eq!(network.switch_port(switch, address(0, 9).mac), None);
    }

    #[test]
    fn links_take_free_ports_of_known_stations() {
        let (mut network, [n1, n2, ..]) = line();
        assert_eq!(network.link((n1, 2), (n2, 9)), Err(LinkError::PortTaken { station: n1, port: 2 }));
        assert_eq!(network.link((n1, 9), (99, 1)), Err(LinkError::UnknownStation(99)));
        assert_eq!(network.link((n1, 9), (n1, 9)), Err(LinkError::PortTaken { station: n1, port: 9 }));
    }

    #[test]
    fn nodes_of_one_chain_route_to_the_other_chains_nodes() {
        let (network, [n1, n2, n3, h1, _]) = line();
        let chain = |nodes: Vec<usize>| NetworkChain { nodes, mode: Mode::Cr, key_lo: 0, key_hi: 16, epoch: 1 };
        let tables = network_tables(&network, &[chain(vec![n1, n3]), chain(vec![n2])]).unwrap();
        let prefixes = |node: usize| tables[&node].routes.iter().map(|r| r.prefix.octets()[3]).collect::<Vec<_>>();
        assert_eq!(prefixes(n1), [3, 1, 2, 2], "its peer, the hosts, then n2 in transit");
        assert_eq!(prefixes(n2), [1, 2, 1, 3], "the hosts, then n1 and n3 in transit");
        let fabric = |node: usize| tables[&node].fabric_ports.iter().map(|f| f.port).collect::<Vec<_>>();
        assert_eq!(fabric(n2), [1, 2], "toward n1 and n3, which n2 transits");
        assert_eq!(fabric(n1), [2], "not toward h1");
        assert_eq!(network_tables(&network, &[chain(vec![h1])]), Err(PlanError::NotANode(h1)));
    }
}
