//! From a topology to what each machine needs: every node's file (ports,
//! `node_config`, routes), every host's addressing, and both ends of every
//! link. Pure, so it is tested without root.

use crate::faults::node_fault_seed;
use crate::node_file::{NodeFile, Port};
use crate::topology::{Chain, Host, Link, LinkKind, Node, Topology};
use netcraq_plan::network::{network_tables, Network, NetworkChain, Station};
use netcraq_plan::plan::{PlanError, FIRST_EPOCH};
use netcraq_wire::{Endpoint, Ipv4Addr, MacAddr};

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

/// The topology as the planner's network: nodes first, then hosts, each
/// at its index in the topology; links in file order.
pub(crate) struct Graph {
    pub(crate) network: Network,
    names: Vec<String>,
}

impl Graph {
    fn new(topology: &Topology) -> Graph {
        Graph::of(&topology.nodes, &topology.hosts, &topology.links)
    }

    /// The graph of endpoints and links whose names and ports validation checked.
    pub(crate) fn of(nodes: &[Node], hosts: &[Host], links: &[Link]) -> Graph {
        let mut network = Network::default();
        let nodes = nodes.iter().map(|n| (&n.name, Station::Node(Endpoint { ip: n.ip, mac: n.mac })));
        let hosts = hosts.iter().map(|h| (&h.name, Station::Host(Endpoint { ip: h.ip, mac: h.mac })));
        let mut names = Vec::new();
        for (name, station) in nodes.chain(hosts) {
            network.add(station);
            names.push(name.clone());
        }
        let mut graph = Graph { network, names };
        for link in links {
            let (a, b) = (graph.index_of(&link.a), graph.index_of(&link.b));
            graph.network.link((a, link.ports[0]), (b, link.ports[1])).expect("validation numbers ports uniquely");
        }
        graph
    }

    fn index_of(&self, name: &str) -> usize {
        self.names.iter().position(|n| n == name).expect("validated topology names its endpoints")
    }

    fn mac(&self, station: usize) -> MacAddr {
        self.network.stations()[station].address().expect("nodes and hosts have addresses").mac
    }
}

impl Topology {
    /// The topology as the planner's network, the graph its routes are
    /// computed over: the nodes at their index in the file, then the hosts.
    pub fn network(&self) -> Network {
        Graph::new(self).network
    }

    /// Computes the plan: ports per endpoint with their links' faults,
    /// every node's tables from `network_tables` (chain tables over shortest
    /// paths, plus transit routes to the other chains' nodes), and each
    /// node's fault seed.
    pub fn plan(&self) -> Result<Plan, PlanError> {
        let graph = Graph::new(self);
        let network_chain = |chain: &Chain, nodes: &[String]| NetworkChain {
            nodes: nodes.iter().map(|name| graph.index_of(name)).collect(),
            mode: chain.mode,
            key_lo: chain.key_lo,
            key_hi: chain.key_hi,
            epoch: FIRST_EPOCH,
        };
        // A spare's file holds its ports and routes, planned as a chain of
        // its own; no controller writes that `node_config`: spares wait
        // unconfigured until one joins its chain.
        let spares =
            self.chains.iter().flat_map(|c| c.spares.iter().map(move |s| network_chain(c, std::slice::from_ref(s))));
        let chains: Vec<NetworkChain> =
            self.chains.iter().map(|chain| network_chain(chain, &chain.nodes)).chain(spares).collect();
        let mut tables_of = network_tables(&graph.network, &chains)?;
        let mut nodes = Vec::with_capacity(self.nodes.len());
        for (index, node) in self.nodes.iter().enumerate() {
            let Some(tables) = tables_of.remove(&index) else { continue };
            let fault_seed = node_fault_seed(self.fault_seed, &node.name);
            let ports = self.node_ports(&graph, index);
            let mut file = NodeFile::new(&node.name, &tables, ports, fault_seed);
            file.dpdk = node.eal.clone();
            nodes.push(file);
        }
        Ok(Plan { nodes, hosts: self.host_plans(&graph), links: link_plans(&graph, self) })
    }

    fn host_plans(&self, graph: &Graph) -> Vec<HostPlan> {
        let node_ips: Vec<Ipv4Addr> = self.nodes.iter().map(|n| n.ip).collect();
        self.hosts
            .iter()
            .map(|host| {
                let port = graph.network.ports(graph.index_of(&host.name))[0];
                HostPlan {
                    name: host.name.clone(),
                    ip: host.ip,
                    mac: host.mac,
                    interface: interface_name(port.number),
                    gateway_mac: graph.mac(port.peer),
                    node_ips: node_ips.clone(),
                }
            })
            .collect()
    }

    /// A node's ports, each injecting its link's faults into what the node
    /// sends on it. Only nodes get them: a host is an unmodified kernel
    /// stack, so a host–node link is faulty in the node-to-host direction only.
    fn node_ports(&self, graph: &Graph, node: usize) -> Vec<Port> {
        graph
            .network
            .ports(node)
            .iter()
            .map(|port| {
                let link = &self.links[port.link];
                let device = (link.kind == LinkKind::Memif).then(|| {
                    let role = if link.a == graph.names[node] { "server" } else { "client" };
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
        let port = graph.network.ports(at).iter().find(|port| port.link == link);
        let port = port.expect("every link has a port at each end");
        LinkEnd {
            endpoint: name.to_owned(),
            port: port.number,
            interface: interface_name(port.number),
            mac: graph.mac(at),
        }
    };
    let plans = topology.links.iter().enumerate();
    plans.map(|(index, link)| LinkPlan { ends: [end(&link.a, index), end(&link.b, index)], kind: link.kind }).collect()
}
