//! The checks that turn a parsed file into a [`Topology`]. Each error names
//! the entry at fault, so a user can find it in a file of many entries.

use crate::plan::Graph;
use crate::topology::TopologyFile;
use crate::topology::{
    Chain, ChainEntry, ControllerSettings, Host, HostEntry, Link, LinkEntry, LinkKind, Node, NodeEntry, NodeKind,
    P4RuntimeServer, TlsSettings, Topology, TopologyError,
};
use netcraq_core::ROUTE_TABLE_CAPACITY;
use netcraq_wire::{Ipv4Addr, MacAddr};
use std::collections::HashMap;

/// Port numbers a node may use: bmv2 ports are 9 bits, 511 means drop and
/// 510 is its CPU port (`BMV2_CPU_PORT`), and ports count from 1.
pub const MAX_PORTS_PER_NODE: usize = 509;

/// Keeps namespace and file names derived from endpoint names short.
const MAX_NAME_LEN: usize = 32;

/// One past the largest key.
const KEY_SPACE: u32 = 1 << 16;

pub(crate) fn topology(file: TopologyFile) -> Result<Topology, TopologyError> {
    let nodes = file.nodes.iter().map(node).collect::<Result<Vec<_>, _>>()?;
    let hosts = file.hosts.iter().map(host).collect::<Result<Vec<_>, _>>()?;
    if nodes.is_empty() {
        return Err(error("topology", "has no [[node]]: a topology needs at least one node"));
    }
    unique_endpoints(&nodes, &hosts)?;
    let mut links: Vec<Link> = file.links.iter().map(|entry| entry.link([0, 0])).collect();
    for (index, link) in links.iter().enumerate() {
        check_link(index, link, &nodes, &hosts)?;
    }
    check_port_counts(&nodes, &hosts, &links)?;
    number_ports(&file.links, &mut links)?;
    let chains = chains(&file.chains, &nodes, &hosts)?;
    every_node_in_a_chain(&nodes, &chains)?;
    nodes_connected(&nodes, &hosts, &links)?;
    routes_fit(&nodes, &hosts)?;
    if file.timeout_ms == Some(0) {
        return Err(error("topology", "timeout_ms is 0: give the milliseconds one call to a node may take"));
    }
    if let Some(tls) = &file.tls {
        check_tls(tls)?;
    }
    let controller = ControllerSettings {
        election_id: file.election_id,
        timeout_ms: file.timeout_ms,
        reinstall_pipeline: file.reinstall_pipeline,
        tls: file.tls,
    };
    Ok(Topology { nodes, hosts, links, chains, fault_seed: file.fault_seed, controller })
}

/// The MAC an endpoint gets when the file gives none: locally administered,
/// unicast, and unique as long as the IPs are.
pub fn derived_mac(ip: Ipv4Addr) -> MacAddr {
    let [a, b, c, d] = ip.octets();
    MacAddr([0x02, 0x00, a, b, c, d])
}

fn check_tls(tls: &TlsSettings) -> Result<(), TopologyError> {
    if tls.cert.is_some() != tls.key.is_some() {
        return Err(error("tls", "cert and key go together: give both (mutual TLS) or neither"));
    }
    if tls.server_name.as_deref() == Some("") {
        return Err(error("tls", "server_name is empty: give the name the nodes' certificates hold, or leave it out"));
    }
    Ok(())
}

fn error(entry: impl Into<String>, problem: impl Into<String>) -> TopologyError {
    TopologyError { entry: entry.into(), problem: problem.into() }
}

fn node(entry: &NodeEntry) -> Result<Node, TopologyError> {
    check_name("node", &entry.name)?;
    let at = format!("node {}", entry.name);
    let kind = NodeKind::from_name(&entry.kind).ok_or_else(|| {
        let kinds: Vec<String> = NodeKind::ALL.iter().map(|kind| format!("`{kind}`")).collect();
        let unknown = &entry.kind;
        error(&at, format!("kind {unknown:?}: unknown variant `{unknown}`, expected one of {}", kinds.join(", ")))
    })?;
    let eal = match (kind, &entry.eal) {
        (NodeKind::Dpdk, eal) => Some(eal.clone().unwrap_or_default()),
        (_, Some(_)) => return Err(error(at, "eal is for kind \"dpdk\" nodes only")),
        (_, None) => None,
    };
    let (ip, mac) = addresses(&at, &entry.ip, entry.mac.as_deref())?;
    let p4runtime = p4runtime_server(&at, entry)?;
    Ok(Node { name: entry.name.clone(), kind, ip, mac, eal, p4runtime })
}

fn host(entry: &HostEntry) -> Result<Host, TopologyError> {
    check_name("host", &entry.name)?;
    let (ip, mac) = addresses(&format!("host {}", entry.name), &entry.ip, entry.mac.as_deref())?;
    Ok(Host { name: entry.name.clone(), ip, mac })
}

/// An endpoint's IP and its MAC, derived from the IP when left out.
fn addresses(at: &str, ip: &str, mac: Option<&str>) -> Result<(Ipv4Addr, MacAddr), TopologyError> {
    let ip = unicast_ip(at, ip)?;
    let mac = match mac {
        Some(text) => unicast_mac(at, text)?,
        None => derived_mac(ip),
    };
    Ok((ip, mac))
}

fn p4runtime_server(at: &str, entry: &NodeEntry) -> Result<Option<P4RuntimeServer>, TopologyError> {
    let Some(address) = &entry.p4runtime else {
        if entry.device_id.is_some() || entry.p4info.is_some() || entry.device_config.is_some() {
            return Err(error(
                at,
                "device_id, p4info and device_config go with p4runtime, the node's P4Runtime address",
            ));
        }
        return Ok(None);
    };
    if address.trim().is_empty() {
        return Err(error(at, "p4runtime is empty: give the node's P4Runtime address, host:port"));
    }
    Ok(Some(P4RuntimeServer {
        address: address.clone(),
        device_id: entry.device_id,
        p4info: entry.p4info.clone(),
        device_config: entry.device_config.clone(),
    }))
}

/// Names become parts of namespace and file names, so they stay plain.
fn check_name(kind: &str, name: &str) -> Result<(), TopologyError> {
    let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if name.is_empty() || name.len() > MAX_NAME_LEN || !plain {
        return Err(error(
            format!("{kind} {name:?}"),
            format!("a name is 1 to {MAX_NAME_LEN} characters among letters, digits, '-' and '_'"),
        ));
    }
    Ok(())
}

fn unicast_ip(at: &str, text: &str) -> Result<Ipv4Addr, TopologyError> {
    let ip: Ipv4Addr = text.parse().map_err(|_| error(at, format!("ip {text:?} is not an IPv4 address")))?;
    if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback() {
        return Err(error(at, format!("ip {ip} is not a unicast address outside 127.0.0.0/8")));
    }
    Ok(ip)
}

fn unicast_mac(at: &str, text: &str) -> Result<MacAddr, TopologyError> {
    let mac: MacAddr = text.parse().map_err(|problem: String| error(at, problem))?;
    if mac.0[0] & 1 == 1 || mac == MacAddr::default() {
        return Err(error(
            at,
            format!("mac {mac} is not a unicast address (all zero, or lowest bit of the first byte set)"),
        ));
    }
    Ok(mac)
}

/// Names, IPs and MACs are unique across nodes and hosts together.
fn unique_endpoints(nodes: &[Node], hosts: &[Host]) -> Result<(), TopologyError> {
    let endpoints = nodes
        .iter()
        .map(|n| ("node", &n.name, n.ip, n.mac))
        .chain(hosts.iter().map(|h| ("host", &h.name, h.ip, h.mac)));
    let (mut names, mut ips, mut macs) = (HashMap::new(), HashMap::new(), HashMap::new());
    for (kind, name, ip, mac) in endpoints {
        let at = format!("{kind} {name}");
        if let Some(first) = names.insert(name.as_str(), at.clone()) {
            return Err(error(at, format!("name is already used by {first}")));
        }
        if let Some(first) = ips.insert(ip, at.clone()) {
            return Err(error(at, format!("ip {ip} is already used by {first}")));
        }
        if let Some(first) = macs.insert(mac, at.clone()) {
            return Err(error(at, format!("mac {mac} is already used by {first} (a MAC left out is 02:00 + the ip)")));
        }
    }
    Ok(())
}

fn link_entry(index: usize, link: &Link) -> String {
    format!("link {} ({} <-> {})", index + 1, link.a, link.b)
}

fn check_link(index: usize, link: &Link, nodes: &[Node], hosts: &[Host]) -> Result<(), TopologyError> {
    let at = link_entry(index, link);
    let is_node = |name: &str| nodes.iter().any(|n| n.name == name);
    let is_host = |name: &str| hosts.iter().any(|h| h.name == name);
    for end in [&link.a, &link.b] {
        if !is_node(end) && !is_host(end) {
            return Err(error(at, format!("{end:?} is neither a node nor a host")));
        }
    }
    if link.a == link.b {
        return Err(error(at, format!("connects {} to itself", link.a)));
    }
    if is_host(&link.a) && is_host(&link.b) {
        return Err(error(at, "connects two hosts: hosts do not forward, so a link needs a node at one end"));
    }
    let is_dpdk = |name: &str| nodes.iter().any(|n| n.name == name && n.kind == NodeKind::Dpdk);
    if link.kind == LinkKind::Memif && !(is_dpdk(&link.a) && is_dpdk(&link.b)) {
        return Err(error(at, "kind \"memif\" links two kind \"dpdk\" nodes; use a veth link (the default)"));
    }
    link.faults.validate().map_err(|problem| error(at, problem))
}

/// Gives each link end its port: the number the file gives, or else one
/// more than the endpoint's links so far. Numbers are 1 to
/// [`MAX_PORTS_PER_NODE`] and unique per endpoint.
fn number_ports(entries: &[LinkEntry], links: &mut [Link]) -> Result<(), TopologyError> {
    let mut taken: HashMap<String, Vec<u16>> = HashMap::new();
    for (index, (entry, link)) in entries.iter().zip(links.iter_mut()).enumerate() {
        for (side, (end, given)) in [(&entry.a, entry.a_port), (&entry.b, entry.b_port)].into_iter().enumerate() {
            let ports = taken.entry(end.clone()).or_default();
            let number = given.unwrap_or(u16::try_from(ports.len() + 1).unwrap_or(u16::MAX));
            let problem = if !(1..=MAX_PORTS_PER_NODE).contains(&usize::from(number)) {
                format!("port {number} of {end} is outside 1 to {MAX_PORTS_PER_NODE}")
            } else if ports.contains(&number) {
                format!("port {number} of {end} is used twice: number every port of an endpoint uniquely (from 1)")
            } else {
                ports.push(number);
                link.ports[side] = number;
                continue;
            };
            return Err(error(link_entry(index, link), problem));
        }
    }
    Ok(())
}

fn check_port_counts(nodes: &[Node], hosts: &[Host], links: &[Link]) -> Result<(), TopologyError> {
    let count = |name: &str| links.iter().filter(|l| l.a == name || l.b == name).count();
    for node in nodes {
        let ports = count(&node.name);
        if ports > MAX_PORTS_PER_NODE {
            let problem = format!("has {ports} links; a node has at most {MAX_PORTS_PER_NODE} ports");
            return Err(error(format!("node {}", node.name), problem));
        }
    }
    for host in hosts {
        match count(&host.name) {
            1 => {}
            0 => return Err(error(format!("host {}", host.name), "has no link")),
            n => {
                let problem = format!("has {n} links; a host attaches to exactly one node for now");
                return Err(error(format!("host {}", host.name), problem));
            }
        }
    }
    Ok(())
}

fn chains(entries: &[ChainEntry], nodes: &[Node], hosts: &[Host]) -> Result<Vec<Chain>, TopologyError> {
    let mut chain_of_node: HashMap<&str, &str> = HashMap::new();
    let mut chains: Vec<Chain> = Vec::with_capacity(entries.len());
    for entry in entries {
        check_name("chain", &entry.name)?;
        let at = format!("chain {}", entry.name);
        if chains.iter().any(|c| c.name == entry.name) {
            return Err(error(at, "name is used by another chain"));
        }
        if entry.nodes.is_empty() {
            return Err(error(at, "lists no nodes"));
        }
        for member in entry.nodes.iter().chain(&entry.spares) {
            check_member(&at, member, nodes, hosts)?;
            if let Some(other) = chain_of_node.insert(member, &entry.name) {
                let problem = if other == entry.name {
                    format!("lists {member} twice")
                } else {
                    format!("{member} is already in chain {other}: one chain per node for now")
                };
                return Err(error(at, problem));
            }
        }
        let (key_lo, key_hi) = key_range(&at, entry.keys)?;
        check_groups(&at, entry, key_lo, key_hi)?;
        chains.push(Chain {
            name: entry.name.clone(),
            nodes: entry.nodes.clone(),
            mode: entry.mode.into(),
            key_lo,
            key_hi,
            spares: entry.spares.clone(),
            groups: entry.groups,
        });
    }
    Ok(chains)
}

/// Groups split keys `0..2^k` into a power of two of equal ranges, each
/// a `key_group` entry of every node it is on (at most
/// [`netcraq_core::KEY_GROUP_CAPACITY`] of them).
fn check_groups(at: &str, entry: &ChainEntry, key_lo: u16, key_hi: u32) -> Result<(), TopologyError> {
    let groups = entry.groups;
    if groups == 1 {
        return Ok(());
    }
    if !groups.is_power_of_two() || groups as usize > netcraq_core::KEY_GROUP_CAPACITY {
        let most = netcraq_core::KEY_GROUP_CAPACITY;
        return Err(error(at, format!("groups = {groups}: a power of two, at most {most}")));
    }
    if key_lo != 0 || !key_hi.is_power_of_two() || groups > key_hi {
        let problem =
            format!("groups split keys [0, 2^k) with at least one key a group; keys are [{key_lo}, {key_hi}]");
        return Err(error(at, problem));
    }
    Ok(())
}

fn check_member(at: &str, member: &str, nodes: &[Node], hosts: &[Host]) -> Result<(), TopologyError> {
    if nodes.iter().any(|n| n.name == member) {
        Ok(())
    } else if hosts.iter().any(|h| h.name == member) {
        Err(error(at, format!("{member:?} is a host, not a node")))
    } else {
        Err(error(at, format!("{member:?} is not a node")))
    }
}

fn key_range(at: &str, [lo, hi]: [u32; 2]) -> Result<(u16, u32), TopologyError> {
    match u16::try_from(lo) {
        Ok(key_lo) if lo < hi && hi <= KEY_SPACE => Ok((key_lo, hi)),
        _ => Err(error(at, format!("keys [{lo}, {hi}] is not a range [lo, hi) with lo < hi <= {KEY_SPACE}"))),
    }
}

fn every_node_in_a_chain(nodes: &[Node], chains: &[Chain]) -> Result<(), TopologyError> {
    let in_a_chain = |name: &String| chains.iter().any(|c| c.nodes.contains(name) || c.spares.contains(name));
    match nodes.iter().find(|n| !in_a_chain(&n.name)) {
        Some(idle) => Err(error(
            format!("node {}", idle.name),
            "belongs to no chain, as a member or a spare; a node without a chain is unconfigured and drops every frame",
        )),
        None => Ok(()),
    }
}

/// Hosts do not forward and each hangs off one node, so every host reaches
/// every node exactly when the first node reaches every other.
fn nodes_connected(nodes: &[Node], hosts: &[Host], links: &[Link]) -> Result<(), TopologyError> {
    let reached = Graph::of(nodes, hosts, links).network.first_hops(0);
    let first = &nodes[0];
    match nodes[1..].iter().find(|n| !reached.contains_key(&n.ip)) {
        Some(cut_off) => Err(error(
            format!("node {}", cut_off.name),
            format!("has no path to node {} through links between nodes (hosts do not forward)", first.name),
        )),
        None => Ok(()),
    }
}

/// Every node holds a /32 route to every other node and to every host.
fn routes_fit(nodes: &[Node], hosts: &[Host]) -> Result<(), TopologyError> {
    let routes = nodes.len() - 1 + hosts.len();
    if routes > ROUTE_TABLE_CAPACITY {
        return Err(error(
            "topology",
            format!("needs {routes} routes per node, more than the {ROUTE_TABLE_CAPACITY} a node holds"),
        ));
    }
    Ok(())
}
