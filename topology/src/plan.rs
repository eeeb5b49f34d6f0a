//! From a topology to what each machine needs: every node's file (ports,
//! `node_config`, routes), every host's addressing, and both ends of every
//! link. Pure, so it is tested without root.

use crate::node_file::{NodeFile, Port};
use crate::topology::Topology;
use netcraq_controlplane::plan::{chain_tables, ChainSpec, Endpoint, PlanError, Reachability};
use netcraq_core::Route;
use netcraq_wire::{Ipv4Addr, MacAddr};
use std::collections::{HashMap, VecDeque};

/// Everything `up` builds, computed before it builds anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// In topology file order.
    pub nodes: Vec<NodeFile>,
    pub hosts: Vec<HostPlan>,
    pub links: Vec<LinkPlan>,
}

/// A host's single interface and the routes that send every node address to
/// the node it is attached to (which forwards to the others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPlan {
    pub name: String,
    pub ip: Ipv4Addr,
    pub mac: MacAddr,
    pub interface: String,
    /// The attached node's MAC: the destination of everything the host sends.
    pub gateway_mac: MacAddr,
    pub node_ips: Vec<Ipv4Addr>,
}

/// A veth pair: one end per endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPlan {
    pub ends: [LinkEnd; 2],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEnd {
    pub endpoint: String,
    pub port: u16,
    pub interface: String,
    /// The endpoint's MAC, on every one of its interfaces.
    pub mac: MacAddr,
}

/// The interface that carries `port` in the endpoint's namespace.
pub fn interface_name(port: u16) -> String {
    format!("eth{port}")
}

struct EndpointInfo {
    name: String,
    ip: Ipv4Addr,
    mac: MacAddr,
    forwards: bool,
}

/// The link graph: endpoints (nodes first, then hosts) and, per endpoint,
/// its ports in link order as (port, neighbour index).
struct Graph {
    endpoints: Vec<EndpointInfo>,
    ports: Vec<Vec<(u16, usize)>>,
}

impl Graph {
    fn new(topology: &Topology) -> Graph {
        let nodes =
            topology.nodes.iter().map(|n| EndpointInfo { name: n.name.clone(), ip: n.ip, mac: n.mac, forwards: true });
        let hosts =
            topology.hosts.iter().map(|h| EndpointInfo { name: h.name.clone(), ip: h.ip, mac: h.mac, forwards: false });
        let endpoints: Vec<EndpointInfo> = nodes.chain(hosts).collect();
        let index: HashMap<&str, usize> = endpoints.iter().enumerate().map(|(i, e)| (e.name.as_str(), i)).collect();
        let mut ports: Vec<Vec<(u16, usize)>> = endpoints.iter().map(|_| Vec::new()).collect();
        for link in &topology.links {
            let (a, b) = (index[link.a.as_str()], index[link.b.as_str()]);
            add_port(&mut ports[a], b);
            add_port(&mut ports[b], a);
        }
        Graph { endpoints, ports }
    }

    fn index_of(&self, name: &str) -> usize {
        self.endpoints.iter().position(|e| e.name == name).expect("validated topology names its endpoints")
    }

    /// Breadth-first from `from`: for each reachable address, the port of the
    /// first hop of a shortest path and that first hop's MAC. Only nodes
    /// forward, so paths never cross a host. Visits each endpoint once.
    fn first_hops(&self, from: usize) -> HashMap<Ipv4Addr, (u16, MacAddr)> {
        let mut hops = HashMap::new();
        let mut visited = vec![false; self.endpoints.len()];
        visited[from] = true;
        let mut queue: VecDeque<(usize, (u16, MacAddr))> =
            self.ports[from].iter().map(|&(port, next)| (next, (port, self.endpoints[next].mac))).collect();
        while let Some((at, hop)) = queue.pop_front() {
            if std::mem::replace(&mut visited[at], true) {
                continue;
            }
            hops.insert(self.endpoints[at].ip, hop);
            if self.endpoints[at].forwards {
                queue.extend(self.ports[at].iter().filter(|(_, next)| !visited[*next]).map(|&(_, next)| (next, hop)));
            }
        }
        hops
    }
}

/// Ports count from 1 on every endpoint; validation bounds their number.
fn add_port(ports: &mut Vec<(u16, usize)>, peer: usize) {
    let number = u16::try_from(ports.len() + 1).expect("validation bounds the ports per endpoint");
    ports.push((number, peer));
}

/// The first hops of each chain node, in chain order.
struct ChainReach(Vec<HashMap<Ipv4Addr, (u16, MacAddr)>>);

impl Reachability for ChainReach {
    fn port(&self, from: usize, to: Ipv4Addr) -> Option<(u16, MacAddr)> {
        self.0.get(from)?.get(&to).copied()
    }
}

impl Topology {
    /// Computes the plan: ports per endpoint in link order, chain tables from
    /// `chain_tables` over shortest paths, plus /32 routes to the nodes of
    /// other chains so every node can transit traffic for them.
    pub fn plan(&self) -> Result<Plan, PlanError> {
        let graph = Graph::new(self);
        let host_ips: Vec<Ipv4Addr> = self.hosts.iter().map(|h| h.ip).collect();
        let mut node_files: HashMap<&str, NodeFile> = HashMap::new();
        for chain in &self.chains {
            let members: Vec<usize> = chain.nodes.iter().map(|name| graph.index_of(name)).collect();
            let endpoints =
                members.iter().map(|&i| Endpoint { ip: graph.endpoints[i].ip, mac: graph.endpoints[i].mac }).collect();
            let spec = ChainSpec { nodes: endpoints, mode: chain.mode, key_lo: chain.key_lo, key_hi: chain.key_hi };
            let reach = ChainReach(members.iter().map(|&i| graph.first_hops(i)).collect());
            let tables = chain_tables(&spec, &host_ips, &reach)?;
            for ((&member, tables), hops) in members.iter().zip(tables).zip(&reach.0) {
                let mut routes = tables.routes;
                routes.extend(self.transit_routes(&graph.endpoints[member], hops, &routes));
                let node = &graph.endpoints[member].name;
                node_files.insert(node, NodeFile::new(node, &tables.config, ports_of(&graph, member), &routes));
            }
        }
        let nodes = self.nodes.iter().filter_map(|n| node_files.remove(n.name.as_str())).collect();
        Ok(Plan { nodes, hosts: self.host_plans(&graph), links: link_plans(&graph, self) })
    }

    /// Routes to the nodes `chain_tables` left out (other chains' nodes).
    fn transit_routes(
        &self,
        node: &EndpointInfo,
        hops: &HashMap<Ipv4Addr, (u16, MacAddr)>,
        existing: &[Route],
    ) -> Vec<Route> {
        let missing =
            self.nodes.iter().map(|n| n.ip).filter(|ip| *ip != node.ip && !existing.iter().any(|r| r.prefix == *ip));
        missing
            .filter_map(|ip| hops.get(&ip).map(|&(port, mac)| Route { prefix: ip, prefix_len: 32, port, mac }))
            .collect()
    }

    fn host_plans(&self, graph: &Graph) -> Vec<HostPlan> {
        let node_ips: Vec<Ipv4Addr> = self.nodes.iter().map(|n| n.ip).collect();
        self.hosts
            .iter()
            .map(|host| {
                let (port, gateway) = graph.ports[graph.index_of(&host.name)][0];
                HostPlan {
                    name: host.name.clone(),
                    ip: host.ip,
                    mac: host.mac,
                    interface: interface_name(port),
                    gateway_mac: graph.endpoints[gateway].mac,
                    node_ips: node_ips.clone(),
                }
            })
            .collect()
    }
}

fn ports_of(graph: &Graph, endpoint: usize) -> Vec<Port> {
    graph.ports[endpoint].iter().map(|&(number, _)| Port { number, interface: interface_name(number) }).collect()
}

/// Both ends of each link; the n-th link of an endpoint is its port n.
fn link_plans(graph: &Graph, topology: &Topology) -> Vec<LinkPlan> {
    let mut used = vec![0usize; graph.endpoints.len()];
    let mut end = |name: &str| {
        let at = graph.index_of(name);
        let (port, _) = graph.ports[at][used[at]];
        used[at] += 1;
        let endpoint = &graph.endpoints[at];
        LinkEnd { endpoint: endpoint.name.clone(), port, interface: interface_name(port), mac: endpoint.mac }
    };
    topology.links.iter().map(|link| LinkPlan { ends: [end(&link.a), end(&link.b)] }).collect()
}
