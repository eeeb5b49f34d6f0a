//! The topology file (TOML): nodes, hosts, links and chains, checked as a
//! whole so that a topology that parses can be planned and brought up. A
//! deployment file is a topology file that gives every node its P4Runtime
//! address (`docs/controller.md`).

use crate::faults::DEFAULT_FAULT_SEED;
use crate::validate;
use netcraq_core::faults::PortFaults;
use netcraq_core::Mode;
use netcraq_wire::{Ipv4Addr, MacAddr};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The file as written; [`Topology::parse`] turns it into a [`Topology`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TopologyFile {
    #[serde(default = "default_fault_seed")]
    pub fault_seed: u64,
    pub election_id: Option<u64>,
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub reinstall_pipeline: bool,
    pub tls: Option<TlsSettings>,
    #[serde(default, rename = "node")]
    pub nodes: Vec<NodeEntry>,
    #[serde(default, rename = "host")]
    pub hosts: Vec<HostEntry>,
    #[serde(default, rename = "link")]
    pub links: Vec<LinkEntry>,
    #[serde(default, rename = "chain")]
    pub chains: Vec<ChainEntry>,
}

/// Addresses stay text until validation, so that a bad one is reported with
/// the name of the node it belongs to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeEntry {
    pub name: String,
    /// Text until validation too, so that a wrong kind names its node.
    pub kind: String,
    pub ip: String,
    pub mac: Option<String>,
    /// EAL arguments of a `dpdk` node.
    pub eal: Option<String>,
    pub p4runtime: Option<String>,
    pub device_id: Option<u64>,
    pub p4info: Option<PathBuf>,
    pub device_config: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostEntry {
    pub name: String,
    pub ip: String,
    pub mac: Option<String>,
}

/// Fault probabilities left out are 0.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkEntry {
    pub a: String,
    pub b: String,
    /// Port numbers; an end left out takes the next number of its endpoint.
    pub a_port: Option<u16>,
    pub b_port: Option<u16>,
    #[serde(default)]
    pub loss_percent: f64,
    #[serde(default)]
    pub duplicate_percent: f64,
    #[serde(default)]
    pub reorder_percent: f64,
    #[serde(default)]
    pub kind: LinkKind,
}

impl LinkEntry {
    /// The link, at the port numbers that validation resolved.
    pub(crate) fn link(&self, ports: [u16; 2]) -> Link {
        let faults = PortFaults {
            loss_percent: self.loss_percent,
            duplicate_percent: self.duplicate_percent,
            reorder_percent: self.reorder_percent,
        };
        Link { a: self.a.clone(), b: self.b.clone(), ports, faults, kind: self.kind }
    }
}

/// What carries a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// A veth pair between the two namespaces (any endpoints).
    #[default]
    Veth,
    /// A DPDK memif (shared memory over a unix socket) between two `dpdk`
    /// nodes: no kernel interface; `a` is the memif server, `b` the client.
    Memif,
}

fn default_fault_seed() -> u64 {
    DEFAULT_FAULT_SEED
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChainEntry {
    pub name: String,
    pub nodes: Vec<String>,
    pub mode: ModeName,
    /// `[lo, hi)`: `hi` is one past the last key, up to 65536.
    pub keys: [u32; 2],
    /// Nodes that wait, unconfigured, to join this chain when a member fails.
    #[serde(default)]
    pub spares: Vec<String>,
    /// Virtual groups the running controller splits the keys into (§11).
    #[serde(default = "one_group")]
    pub groups: u32,
}

fn one_group() -> u32 {
    1
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum ModeName {
    Craq,
    Cr,
}

impl<'de> Deserialize<'de> for ModeName {
    /// In any case: deployment files took `"CRAQ"` before the formats merged.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        match name.to_ascii_lowercase().as_str() {
            "craq" => Ok(ModeName::Craq),
            "cr" => Ok(ModeName::Cr),
            _ => Err(serde::de::Error::unknown_variant(&name, &["craq", "cr"])),
        }
    }
}

impl From<ModeName> for Mode {
    fn from(name: ModeName) -> Mode {
        match name {
            ModeName::Craq => Mode::Craq,
            ModeName::Cr => Mode::Cr,
        }
    }
}

/// The BMv2 program that serves P4Runtime: what a `bmv2` node runs.
pub const BMV2_SWITCH: &str = "simple_switch_grpc";
/// The CPU port of a `bmv2` node (`--cpu-port`): P4Runtime PacketOut
/// frames enter its ingress on this port, unchanged (no controller header),
/// so it is the port `fabric_port` marks `from_controller` (docs/protocol.md
/// §2.3). 511 is BMv2's drop port; 510 is also the second output's clone
/// port, whose copies egress recirculates before they could reach it.
pub const BMV2_CPU_PORT: u16 = 510;

/// What runs a node: `software` (the Rust core on AF_PACKET sockets),
/// `dpdk` (the same core over DPDK ports), `bmv2` (BMv2's
/// simple_switch_grpc running `p4/netcraq.p4`, configured by the controller)
/// or `tofino` (a hardware switch: deployments only, `up` cannot start one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// The Rust core over AF_PACKET sockets (`netcraq node`).
    Software,
    /// The Rust core over DPDK (`netcraq node --dpdk`).
    Dpdk,
    /// BMv2's `simple_switch_grpc` running `p4/netcraq.p4`.
    Bmv2,
    /// A Tofino switch running `p4/netcraq_tna.p4`.
    Tofino,
}

impl NodeKind {
    pub const ALL: [NodeKind; 4] = [NodeKind::Software, NodeKind::Dpdk, NodeKind::Bmv2, NodeKind::Tofino];

    /// The kind topology files call `name`.
    pub fn from_name(name: &str) -> Option<NodeKind> {
        NodeKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The name topology files give it.
    pub fn name(self) -> &'static str {
        match self {
            NodeKind::Software => "software",
            NodeKind::Dpdk => "dpdk",
            NodeKind::Bmv2 => "bmv2",
            NodeKind::Tofino => "tofino",
        }
    }
}

impl std::fmt::Display for NodeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How the controller reaches a node: given in deployment files, found by
/// `up` otherwise. Pipeline paths are as written, relative to the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P4RuntimeServer {
    /// `host:port` (or `unix:PATH`).
    pub address: String,
    pub device_id: Option<u64>,
    pub p4info: Option<PathBuf>,
    pub device_config: Option<PathBuf>,
}

/// The controller's settings of a deployment file; all optional.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ControllerSettings {
    pub election_id: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub reinstall_pipeline: bool,
    /// P4Runtime over TLS to every node; `None`: plaintext.
    pub tls: Option<TlsSettings>,
}

/// `[tls]` of a deployment file: how the controller reaches nodes that
/// serve TLS (PEM files; paths as written, relative to the file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The CA that signed the nodes' certificates.
    pub ca: PathBuf,
    /// With `key`: the controller's certificate, for nodes that require mutual TLS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// The name the nodes' certificates hold, if not the host of their address.
    pub server_name: Option<String>,
}

/// A chain node. `mac` is derived from `ip` when the file leaves it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    pub ip: Ipv4Addr,
    pub mac: MacAddr,
    /// The EAL arguments of a `dpdk` node (empty: DPDK's defaults, hugepages).
    pub eal: Option<String>,
    /// Given in deployment files.
    pub p4runtime: Option<P4RuntimeServer>,
}

/// A client machine, attached to exactly one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub ip: Ipv4Addr,
    /// Derived from `ip` when the file leaves it out.
    pub mac: MacAddr,
}

/// A cable between two endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub a: String,
    pub b: String,
    /// The port of `a` and the port of `b` that the link joins.
    pub ports: [u16; 2],
    /// Applied by each node end to the frames it sends on the link. Hosts
    /// are unmodified kernel stacks, so a link to a host is faulty only from
    /// the node to the host.
    pub faults: PortFaults,
    pub kind: LinkKind,
}

/// A chain: node names from head to tail, its mode and key range `[key_lo,
/// key_hi)`, and its spares: nodes left unconfigured until the running
/// controller adds one at the tail in place of a failed member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    pub nodes: Vec<String>,
    pub mode: Mode,
    pub key_lo: u16,
    pub key_hi: u32,
    pub spares: Vec<String>,
    /// 1, or the number of virtual groups (a power of two) the running
    /// controller lays over `nodes` and `spares` together (`docs/protocol.md`
    /// §11), each a chain of `nodes.len()` of them.
    pub groups: u32,
}

/// Why a topology file was refused: the entry at fault and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyError {
    /// `node n1`, `host h1`, `link 2 (n1 <-> n2)`, `chain c1`, or the file.
    pub entry: String,
    pub problem: String,
}

impl std::fmt::Display for TopologyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.entry, self.problem)
    }
}

impl std::error::Error for TopologyError {}

/// A topology that passed every check of `validate`: names, addresses and
/// references are consistent and every host reaches every chain node.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    pub(crate) nodes: Vec<Node>,
    pub(crate) hosts: Vec<Host>,
    pub(crate) links: Vec<Link>,
    pub(crate) chains: Vec<Chain>,
    pub(crate) fault_seed: u64,
    pub(crate) controller: ControllerSettings,
}

/// Link fields that `tc netem` would have applied; nodes inject faults
/// themselves now and only drop, duplicate and reorder.
const RETIRED_LINK_FIELDS: [&str; 3] = ["delay_ms", "jitter_ms", "rate_mbit"];

impl Topology {
    pub fn parse(text: &str) -> Result<Topology, TopologyError> {
        let file: TopologyFile = toml::from_str(text).map_err(|error| {
            let mut problem = error.to_string();
            if RETIRED_LINK_FIELDS.iter().any(|field| error.message().starts_with(&format!("unknown field `{field}`")))
            {
                problem.push_str(
                    "delay_ms, jitter_ms and rate_mbit are no longer supported: nodes inject only loss, \
                     duplication and reordering (loss_percent, duplicate_percent, reorder_percent)",
                );
            }
            TopologyError { entry: "topology file".into(), problem }
        })?;
        validate::topology(file)
    }

    pub fn load(path: &Path) -> Result<Topology, TopologyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| TopologyError { entry: path.display().to_string(), problem: error.to_string() })?;
        Topology::parse(&text).map_err(|error| TopologyError {
            entry: format!("{}: {}", path.display(), error.entry),
            problem: error.problem,
        })
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    pub fn links(&self) -> &[Link] {
        &self.links
    }

    pub fn chains(&self) -> &[Chain] {
        &self.chains
    }

    /// What each node's fault seed is derived from (see [`crate::NodeFile::fault_seed`]).
    pub fn fault_seed(&self) -> u64 {
        self.fault_seed
    }

    /// The controller's settings from a deployment file.
    pub fn controller(&self) -> &ControllerSettings {
        &self.controller
    }
}
