//! From a topology to what each machine needs: every node's file (ports,
//! `node_config`, routes), every host's addressing, and both ends of every
//! link. Pure, so it is tested without root.

use crate::faults::node_fault_seed;
use crate::node_file::{NodeFile, Port};
use crate::topology::{LinkKind, Topology};
use netcraq_plan::plan::{chain_tables, ChainSpec, Endpoint, PlanError, Reachability};
use netcraq_core::Route;
use netcraq_wire::{Ipv4Addr, MacAddr};
use std::collections::{HashMap, VecDeque};

/// Everything `up` builds, computed before it builds anything.
#[derive(Debug, Clone, PartialEq)]
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

/// A link: a veth pair with one end per endpoint, or a memif between two
/// DPDK nodes (no kernel interface: the nodes' files name the device).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPlan {
    pub ends: [LinkEnd; 2],
    pub kind: LinkKind,
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

/// The memif socket of a link, relative to the run directory:
/// [`Plan::place_memif_sockets`] makes it absolute.
fn memif_socket(link: usize) -> String {
    format!("memif-{}.sock", link + 1)
}

/// The DPDK device of one end of a memif link. The socket is a file, not an
/// abstract socket: those belong to a network namespace, and the two ends
/// of a link are in two.
fn memif_device(link: usize, role: &str) -> String {
    format!("net_memif{},role={role},id=0,socket-abstract=no,socket={}", link + 1, memif_socket(link))
}

impl Plan {
    /// Puts the memif sockets of the plan's DPDK ports in `dir`.
    pub fn place_memif_sockets(&mut self, dir: &std::path::Path) {
        let ports = self.nodes.iter_mut().flat_map(|node| node.ports.iter_mut());
        for device in ports.filter_map(|port| port.device.as_mut()) {
            if let Some((before, socket)) = device.split_once(",socket=") {
                *device = format!("{before},socket={}", dir.join(socket).display());
            }
        }
    }
}

struct EndpointInfo {
    name: String,
    ip: Ipv4Addr,
    mac: MacAddr,
    forwards: bool,
}

/// A port of an endpoint in the link graph.
#[derive(Clone, Copy)]
struct GraphPort {
    number: u16,
    /// The endpoint at the far end.
    peer: usize,
    /// The link that carries it, as an index into the topology's links.
    link: usize,
}

/// The link graph: endpoints (nodes first, then hosts) and, per endpoint,
/// its ports in link order.
struct Graph {
    endpoints: Vec<EndpointInfo>,
    ports: Vec<Vec<GraphPort>>,
}

impl Graph {
    fn new(topology: &Topology) -> Graph {
        let nodes =
            topology.nodes.iter().map(|n| EndpointInfo { name: n.name.clone(), ip: n.ip, mac: n.mac, forwards: true });
        let hosts =
            topology.hosts.iter().map(|h| EndpointInfo { name: h.name.clone(), ip: h.ip, mac: h.mac, forwards: false });
        let endpoints: Vec<EndpointInfo> = nodes.chain(hosts).collect();
        let index: HashMap<&str, usize> = endpoints.iter().enumerate().map(|(i, e)| (e.name.as_str(), i)).collect();
        let mut ports: Vec<Vec<GraphPort>> = endpoints.iter().map(|_| Vec::new()).collect();
        for (link, ends) in topology.links.iter().enumerate() {
            let (a, b) = (index[ends.a.as_str()], index[ends.b.as_str()]);
            add_port(&mut ports[a], b, link);
            add_port(&mut ports[b], a, link);
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
            self.ports[from].iter().map(|port| (port.peer, (port.number, self.endpoints[port.peer].mac))).collect();
        while let Some((at, hop)) = queue.pop_front() {
            if std::mem::replace(&mut visited[at], true) {
                continue;
            }
            hops.insert(self.endpoints[at].ip, hop);
            if self.endpoints[at].forwards {
                queue.extend(self.ports[at].iter().filter(|port| !visited[port.peer]).map(|port| (port.peer, hop)));
            }
        }
        hops
    }
}

/// Ports count from 1 on every endpoint; validation bounds their number.
fn add_port(ports: &mut Vec<GraphPort>, peer: usize, link: usize) {
    let number = u16::try_from(ports.len() + 1).expect("validation bounds the ports per endpoint");
    ports.push(GraphPort { number, peer, link });
}

/// The first hops of each chain node, in chain order.
struct ChainReach(Vec<HashMap<Ipv4Addr, (u16, MacAddr)>>);

impl Reachability for ChainReach {
    fn port(&self, from: usize, to: Ipv4Addr) -> Option<(u16, MacAddr)> {
        self.0.get(from)?.get(&to).copied()
    }
}

impl Topology {
    /// Computes the plan: ports per endpoint in link order with their links'
    /// faults, chain tables from `chain_tables` over shortest paths, plus /32
    /// routes to the nodes of other chains so every node can transit traffic
    /// for them, and each node's fault seed.
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
                let ports = self.node_ports(&graph, member);
                let fault_seed = node_fault_seed(self.fault_seed, node);
                let mut file = NodeFile::new(node, &tables.config, ports, &routes, fault_seed);
                file.dpdk = self.nodes.iter().find(|n| n.name == *node).and_then(|n| n.eal.clone());
                node_files.insert(node, file);
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
                let port = graph.ports[graph.index_of(&host.name)][0];
                HostPlan {
                    name: host.name.clone(),
                    ip: host.ip,
                    mac: host.mac,
                    interface: interface_name(port.number),
                    gateway_mac: graph.endpoints[port.peer].mac,
                    node_ips: node_ips.clone(),
                }
            })
            .collect()
    }

    /// A node's ports, each injecting its link's faults into what the node
    /// sends on it. Only nodes get them: a host is an unmodified kernel
    /// stack, so a host–node link is faulty in the node-to-host direction only.
    fn node_ports(&self, graph: &Graph, node: usize) -> Vec<Port> {
        graph.ports[node]
            .iter()
            .map(|port| {
                let link = &self.links[port.link];
                let device = (link.kind == LinkKind::Memif).then(|| {
                    let role = if link.a == graph.endpoints[node].name { "server" } else { "client" };
                    memif_device(port.link, role)
                });
                Port { number: port.number, interface: interface_name(port.number), faults: link.faults, device }
            })
            .collect()
    }
}

/// Both ends of each link, at the port of each endpoint that the link carries.
fn link_plans(graph: &Graph, topology: &Topology) -> Vec<LinkPlan> {
    let end = |name: &str, link: usize| {
        let at = graph.index_of(name);
        let port = graph.ports[at].iter().find(|port| port.link == link).expect("every link has a port at each end");
        let endpoint = &graph.endpoints[at];
        LinkEnd {
            endpoint: endpoint.name.clone(),
            port: port.number,
            interface: interface_name(port.number),
            mac: endpoint.mac,
        }
    };
    let plans = topology.links.iter().enumerate();
    plans.map(|(index, link)| LinkPlan { ends: [end(&link.a, index), end(&link.b, index)], kind: link.kind }).collect()
}
