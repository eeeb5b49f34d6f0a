//! The topology file (TOML): nodes, hosts, links and chains, checked as a
//! whole so that a topology that parses can be planned and brought up.

use crate::validate;
use netcraq_core::Mode;
use netcraq_wire::{Ipv4Addr, MacAddr};
use serde::Deserialize;
use std::path::Path;

/// The file as written; [`Topology::parse`] turns it into a [`Topology`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TopologyFile {
    #[serde(default, rename = "node")]
    pub nodes: Vec<NodeEntry>,
    #[serde(default, rename = "host")]
    pub hosts: Vec<HostEntry>,
    #[serde(default, rename = "link")]
    pub links: Vec<Link>,
    #[serde(default, rename = "chain")]
    pub chains: Vec<ChainEntry>,
}

/// Addresses stay text until validation, so that a bad one is reported with
/// the name of the node it belongs to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeEntry {
    pub name: String,
    pub kind: NodeKind,
    pub ip: String,
    pub mac: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostEntry {
    pub name: String,
    pub ip: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChainEntry {
    pub name: String,
    pub nodes: Vec<String>,
    pub mode: ModeName,
    /// `[lo, hi)`: `hi` is one past the last key, up to 65536.
    pub keys: [u32; 2],
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ModeName {
    Craq,
    Cr,
}

impl From<ModeName> for Mode {
    fn from(name: ModeName) -> Mode {
        match name {
            ModeName::Craq => Mode::Craq,
            ModeName::Cr => Mode::Cr,
        }
    }
}

/// What runs a node. Only `software` (the Rust core on AF_PACKET) can be
/// brought up today; the others are reserved so files can name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    Software,
    Dpdk,
    Bmv2,
}

/// A chain node. `mac` is derived from `ip` when the file leaves it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    pub ip: Ipv4Addr,
    pub mac: MacAddr,
}

/// A client machine, attached to exactly one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub ip: Ipv4Addr,
    /// Always derived from `ip`.
    pub mac: MacAddr,
}

/// A cable between two endpoints, with fault settings for later: they are
/// checked, but `up` refuses links that set them until it can apply them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub a: String,
    pub b: String,
    pub loss_percent: Option<f64>,
    pub delay_ms: Option<u32>,
    /// Needs `delay_ms`: jitter varies the delay.
    pub jitter_ms: Option<u32>,
    pub rate_mbit: Option<f64>,
}

impl Link {
    pub fn has_faults(&self) -> bool {
        self.loss_percent.is_some() || self.delay_ms.is_some() || self.jitter_ms.is_some() || self.rate_mbit.is_some()
    }
}

/// A chain: node names from head to tail, its mode and key range `[key_lo, key_hi)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    pub nodes: Vec<String>,
    pub mode: Mode,
    pub key_lo: u16,
    pub key_hi: u32,
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
}

impl Topology {
    pub fn parse(text: &str) -> Result<Topology, TopologyError> {
        let file: TopologyFile = toml::from_str(text)
            .map_err(|error| TopologyError { entry: "topology file".into(), problem: error.to_string() })?;
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
}
