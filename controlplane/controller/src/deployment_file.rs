//! Deployment files (TOML, `docs/controller.md`): the nodes with their
//! P4Runtime addresses, the hosts (clients), the links between them and
//! the chains. The layout is a topology file's (`controlplane/topology/README.md`) plus
//! `p4runtime` per node, so a topology's links and chains carry over; ports
//! may be given per link end, since real switches have fixed port numbers.
//!
//! Each node's tables come from `netcraq_plan::plan::chain_tables`
//! over shortest paths in the link graph (only nodes forward), plus /32
//! routes to the nodes of other chains so that every node can transit.

use crate::deploy::{Deployment, NodeTarget, DEFAULT_ELECTION_ID, DEFAULT_TIMEOUT};
use crate::target::{PipelineFiles, TargetKind, TargetOptions, TargetSpec};
use netcraq_plan::plan::{chain_tables, ChainSpec, Endpoint, Reachability};
use netcraq_core::{Mode, Route};
use netcraq_topology::derived_mac;
use netcraq_wire::{Ipv4Addr, MacAddr};
use serde::Deserialize;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The device id when a node gives none: `netcraq node`'s default.
pub const DEFAULT_DEVICE_ID: u64 = 1;

/// Why a deployment file was refused; names the file and the entry at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentFileError(pub String);

impl std::fmt::Display for DeploymentFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeploymentFileError {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileText {
    election_id: Option<u64>,
    timeout_ms: Option<u64>,
    #[serde(default)]
    reinstall_pipeline: bool,
    #[serde(default, rename = "node")]
    nodes: Vec<FileNode>,
    #[serde(default, rename = "host")]
    hosts: Vec<FileHost>,
    #[serde(default, rename = "link")]
    links: Vec<FileLink>,
    #[serde(default, rename = "chain")]
    chains: Vec<FileChain>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileNode {
    name: String,
    kind: String,
    p4runtime: String,
    device_id: Option<u64>,
    ip: Ipv4Addr,
    mac: Option<MacAddr>,
    p4info: Option<PathBuf>,
    device_config: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHost {
    name: String,
    ip: Ipv4Addr,
    mac: Option<MacAddr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLink {
    a: String,
    b: String,
    a_port: Option<u16>,
    b_port: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileChain {
    name: String,
    nodes: Vec<String>,
    mode: String,
    keys: [u32; 2],
}

/// Loads the deployment file at `path`; pipeline paths in it are relative
/// to the file's directory.
pub fn load_deployment(path: &Path) -> Result<Deployment, DeploymentFileError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| DeploymentFileError(format!("deployment file {}: {e}", path.display())))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse_deployment(&text, base).map_err(|e| DeploymentFileError(format!("deployment file {}: {e}", path.display())))
}

/// Parses a deployment file's text; relative pipeline paths are joined to `base`.
pub fn parse_deployment(text: &str, base: &Path) -> Result<Deployment, DeploymentFileError> {
    let file: FileText = toml::from_str(text).map_err(|e| DeploymentFileError(e.to_string()))?;
    let fail = |message: String| Err(DeploymentFileError(message));
    if file.nodes.is_empty() {
        return fail("no [[node]]: a deployment needs at least one node".to_string());
    }
    let graph = Graph::new(&file)?;
    let mut chain_of: HashMap<&str, &str> = HashMap::new();
    let mut tables_of = HashMap::new();
    let host_ips: Vec<Ipv4Addr> = file.hosts.iter().map(|h| h.ip).collect();
    for chain in &file.chains {
        let mode = match chain.mode.to_ascii_lowercase().as_str() {
            "craq" => Mode::Craq,
            "cr" => Mode::Cr,
            other => return fail(format!("chain {}: mode {other:?}: give \"craq\" or \"cr\"", chain.name)),
        };
        let [key_lo, key_hi] = chain.keys;
        if key_lo >= key_hi || key_hi > 1 << 16 {
            return fail(format!("chain {}: keys [{key_lo}, {key_hi}): need lo < hi <= 65536", chain.name));
        }
        let mut members = Vec::with_capacity(chain.nodes.len());
        for name in &chain.nodes {
            let Some(index) = graph.node_index(name) else {
                return fail(format!("chain {}: {name:?} is no [[node]]", chain.name));
            };
            if let Some(other) = chain_of.insert(name, &chain.name) {
                return fail(format!("chain {}: node {name} is already in chain {other}", chain.name));
            }
            members.push(index);
        }
        let nodes = members.iter().map(|&i| Endpoint { ip: graph.ends[i].ip, mac: graph.ends[i].mac }).collect();
        let spec = ChainSpec { nodes, mode, key_lo: key_lo as u16, key_hi };
        let reach = ChainReach(members.iter().map(|&i| graph.first_hops(i)).collect());
        let tables = chain_tables(&spec, &host_ips, &reach)
            .map_err(|e| DeploymentFileError(format!("chain {}: {e}", chain.name)))?;
        for ((&member, mut tables), hops) in members.iter().zip(tables).zip(&reach.0) {
            // Routes to the other chains' nodes, so this node can transit their traffic.
            for other in &file.nodes {
                let known = tables.routes.iter().any(|r| r.prefix == other.ip) || other.ip == graph.ends[member].ip;
                if let (false, Some(&(port, mac))) = (known, hops.get(&other.ip)) {
                    tables.routes.push(Route { prefix: other.ip, prefix_len: 32, port, mac });
                }
            }
            tables_of.insert(member, tables);
        }
    }
    let mut nodes = Vec::with_capacity(file.nodes.len());
    for (index, node) in file.nodes.iter().enumerate() {
        let kind = TargetKind::from_name(&node.kind).ok_or_else(|| {
            let kinds: Vec<&str> = TargetKind::ALL.iter().map(|k| k.name()).collect();
            DeploymentFileError(format!("node {}: kind {:?}: give one of {}", node.name, node.kind, kinds.join(", ")))
        })?;
        let Some(tables) = tables_of.remove(&index) else {
            return fail(format!(
                "node {} is in no [[chain]]: it would stay unconfigured and drop every frame; add it to a chain",
                node.name
            ));
        };
        if node.p4runtime.trim().is_empty() {
            return fail(format!(
                "node {}: p4runtime is empty: give the node's P4Runtime address, host:port",
                node.name
            ));
        }
        let pipeline = PipelineFiles {
            p4info: node.p4info.as_ref().map(|p| base.join(p)),
            device_config: node.device_config.as_ref().map(|p| base.join(p)),
        };
        let spec = TargetSpec {
            name: node.name.clone(),
            kind,
            address: node.p4runtime.clone(),
            device_id: node.device_id.unwrap_or(DEFAULT_DEVICE_ID),
            pipeline,
        };
        nodes.push(NodeTarget { spec, tables });
    }
    let timeout = file.timeout_ms.map_or(DEFAULT_TIMEOUT, Duration::from_millis);
    if timeout.is_zero() {
        return fail("timeout_ms is 0: give the milliseconds one call to a node may take".to_string());
    }
    Ok(Deployment {
        nodes,
        election_id: file.election_id.map_or(DEFAULT_ELECTION_ID, u128::from),
        options: TargetOptions { timeout, reinstall_pipeline: file.reinstall_pipeline },
    })
}

struct End {
    ip: Ipv4Addr,
    mac: MacAddr,
    forwards: bool,
}

/// Endpoints (nodes first, then hosts) and each one's ports: `(port, peer)`.
struct Graph {
    names: Vec<String>,
    ends: Vec<End>,
    ports: Vec<Vec<(u16, usize)>>,
    node_count: usize,
}

impl Graph {
    fn new(file: &FileText) -> Result<Graph, DeploymentFileError> {
        let fail = |message: String| Err(DeploymentFileError(message));
        let nodes = file.nodes.iter().map(|n| (&n.name, n.ip, n.mac, true));
        let hosts = file.hosts.iter().map(|h| (&h.name, h.ip, h.mac, false));
        let mut names: Vec<String> = Vec::new();
        let mut ends: Vec<End> = Vec::new();
        for (name, ip, mac, forwards) in nodes.chain(hosts) {
            let mac = mac.unwrap_or(derived_mac(ip));
            if name.is_empty() {
                return fail("an endpoint has an empty name".to_string());
            }
            if names.contains(name) {
                return fail(format!("{name}: the name is used twice (nodes and hosts share names)"));
            }
            if let Some(other) = ends.iter().position(|e| e.ip == ip) {
                return fail(format!("{name}: ip {ip} is also {}'s", names[other]));
            }
            if let Some(other) = ends.iter().position(|e| e.mac == mac) {
                return fail(format!("{name}: mac {mac} is also {}'s", names[other]));
            }
            names.push(name.clone());
            ends.push(End { ip, mac, forwards });
        }
        let mut ports: Vec<Vec<(u16, usize)>> = ends.iter().map(|_| Vec::new()).collect();
        for link in &file.links {
            let index = |name: &str| names.iter().position(|n| n == name);
            let (Some(a), Some(b)) = (index(&link.a), index(&link.b)) else {
                return fail(format!("link {} - {}: both ends must be a [[node]] or [[host]]", link.a, link.b));
            };
            if a == b || (!ends[a].forwards && !ends[b].forwards) {
                return fail(format!("link {} - {}: links join two endpoints, at least one a node", link.a, link.b));
            }
            for (at, peer, given) in [(a, b, link.a_port), (b, a, link.b_port)] {
                // Unnumbered ends count from 1 in link order, as in topology files.
                let number = match given {
                    Some(number) => number,
                    None => u16::try_from(ports[at].len() + 1).unwrap_or(u16::MAX),
                };
                if number == 0 || ports[at].iter().any(|(n, _)| *n == number) {
                    return fail(format!(
                        "link {} - {}: port {number} of {} is 0 or used twice: number every port of an endpoint \
                         uniquely (from 1)",
                        link.a, link.b, names[at]
                    ));
                }
                ports[at].push((number, peer));
            }
        }
        Ok(Graph { names, ends, ports, node_count: file.nodes.len() })
    }

    fn node_index(&self, name: &str) -> Option<usize> {
        self.names[..self.node_count].iter().position(|n| n == name)
    }

    /// Breadth-first from `from`: for each reachable address, the port of
    /// the first hop of a shortest path and that hop's MAC. Only nodes forward.
    fn first_hops(&self, from: usize) -> HashMap<Ipv4Addr, (u16, MacAddr)> {
        let mut hops = HashMap::new();
        let mut visited = vec![false; self.ends.len()];
        visited[from] = true;
        let mut queue: VecDeque<(usize, (u16, MacAddr))> =
            self.ports[from].iter().map(|&(port, peer)| (peer, (port, self.ends[peer].mac))).collect();
        while let Some((at, hop)) = queue.pop_front() {
            if std::mem::replace(&mut visited[at], true) {
                continue;
            }
            hops.insert(self.ends[at].ip, hop);
            if self.ends[at].forwards {
                queue.extend(self.ports[at].iter().filter(|(_, peer)| !visited[*peer]).map(|&(_, peer)| (peer, hop)));
            }
        }
        hops
    }
}

struct ChainReach(Vec<HashMap<Ipv4Addr, (u16, MacAddr)>>);

impl Reachability for ChainReach {
    fn port(&self, from: usize, to: Ipv4Addr) -> Option<(u16, MacAddr)> {
        self.0.get(from)?.get(&to).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcraq_core::Role;

    const CHAIN3: &str = r#"
election_id = 7

[[node]]
name = "n1"
kind = "software"
p4runtime = "127.0.0.1:9559"
ip = "10.0.0.1"

[[node]]
name = "n2"
kind = "dpdk"
p4runtime = "127.0.0.1:9560"
device_id = 3
ip = "10.0.0.2"

[[node]]
name = "s3"
kind = "bmv2"
p4runtime = "127.0.0.1:9561"
ip = "10.0.0.3"
p4info = "build/netcraq.p4info.txtpb"
device_config = "build/bmv2/netcraq.json"

[[host]]
name = "h1"
ip = "10.0.1.1"

[[link]]
a = "h1"
b = "n1"

[[link]]
a = "n1"
b = "n2"

[[link]]
a = "n2"
b = "s3"
b_port = 7

[[chain]]
name = "kv"
nodes = ["n1", "n2", "s3"]
mode = "craq"
keys = [0, 65536]
"#;

    #[test]
    fn a_deployment_file_gives_every_node_its_chain_tables() {
        let deployment = parse_deployment(CHAIN3, Path::new("/etc/netcraq")).unwrap();
        assert_eq!(deployment.election_id, 7);
        let [n1, n2, s3] = &deployment.nodes[..] else { panic!("three nodes") };
        assert_eq!((n1.spec.kind, n1.spec.device_id), (TargetKind::Software, DEFAULT_DEVICE_ID));
        assert_eq!((n2.spec.kind, n2.spec.device_id), (TargetKind::Dpdk, 3));
        assert_eq!(s3.spec.pipeline.device_config, Some(PathBuf::from("/etc/netcraq/build/bmv2/netcraq.json")));
        let roles: Vec<Role> = deployment.nodes.iter().map(|n| n.tables.config.role).collect();
        assert_eq!(roles, [Role::Head, Role::Replica, Role::Tail]);
        // s3 reaches n2 on its explicit port 7; n2 reaches s3 on its port 2 (second link of n2).
        let route = |node: &NodeTarget, ip: [u8; 4]| {
            *node.tables.routes.iter().find(|r| r.prefix == Ipv4Addr::from(ip)).unwrap()
        };
        assert_eq!(
            (route(s3, [10, 0, 0, 2]).port, route(s3, [10, 0, 0, 2]).mac),
            (7, derived_mac([10, 0, 0, 2].into()))
        );
        assert_eq!(route(n2, [10, 0, 0, 3]).port, 2);
        assert_eq!(route(s3, [10, 0, 1, 1]).port, 7, "the host is reached through n2");
        assert_eq!(n1.tables.routes.len(), 3, "two peers and one host");
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (CHAIN3.replace("kind = \"dpdk\"", "kind = \"fpga\""), "node n2: kind \"fpga\""),
            (
                CHAIN3.replace("nodes = [\"n1\", \"n2\", \"s3\"]", "nodes = [\"n1\", \"n2\"]"),
                "node s3 is in no [[chain]]",
            ),
            (CHAIN3.replace("b_port = 7", "b_port = 0"), "port 0 of s3"),
            (CHAIN3.replace("ip = \"10.0.0.2\"", "ip = \"10.0.0.1\""), "n2: ip 10.0.0.1 is also n1's"),
            (CHAIN3.replace("keys = [0, 65536]", "keys = [5, 5]"), "chain kv: keys [5, 5)"),
            (
                CHAIN3.replace("[[link]]\na = \"n1\"\nb = \"n2\"\n", ""),
                "chain kv: node 10.0.0.1 has no path to 10.0.0.2",
            ),
            (CHAIN3.replace("election_id = 7", "election_id = 7\ncolour = 1"), "unknown field `colour`"),
        ];
        for (text, expected) in cases {
            let error = parse_deployment(&text, Path::new(".")).unwrap_err().to_string();
            assert!(error.contains(expected), "{error:?} should contain {expected:?}");
        }
    }
}
