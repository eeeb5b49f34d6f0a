//! The node file that `netcraq node --config FILE` reads: the node's
//! `node_config` entry, its `ipv4_route` entries and which interface is which
//! port. TOML, with the names and notations of `docs/protocol.md` and the
//! conformance vectors (`"REPLICA"`, `"CRAQ"`, `"10.0.0.3/32"`), plus the
//! faults each port injects into what it sends.

use crate::faults::port_fault_seed;
use netcraq_core::faults::{FaultSettings, PortFaults};
use netcraq_core::{FabricPort, FabricPortError, FabricPorts, NodeConfig, Route, RouteTable, DEFAULT_KEY_CAPACITY};
use netcraq_plan::plan::NodeTables;
use netcraq_wire::{Ipv4Addr, MacAddr};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Linux limit on interface names (IFNAMSIZ less the terminating zero).
pub const MAX_INTERFACE_NAME_LEN: usize = 15;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    /// The node's name in the topology, for logs.
    pub name: String,
    /// The `node_config` entry, written as top-level fields (`own_mac`,
    /// `role = "REPLICA"`, ...) in the serde form the conformance vectors use.
    #[serde(flatten)]
    pub config: NodeConfig,
    /// What the seed of each port's fault injection is derived from (see
    /// [`NodeFile::port_fault_seed`]); 0 when the file leaves it out.
    #[serde(default)]
    pub fault_seed: u64,
    /// EAL arguments: the node runs over DPDK (as `netcraq node --dpdk`
    /// with them) when given, over AF_PACKET sockets when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpdk: Option<String>,
    #[serde(rename = "port")]
    pub ports: Vec<Port>,
    #[serde(rename = "route")]
    pub routes: Vec<RouteEntry>,
    /// The `fabric_port` entries (`docs/protocol.md` §9.1); every port not
    /// listed is an edge port, so a chain's files must list them.
    #[serde(rename = "fabric_port", default)]
    pub fabric_ports: Vec<FabricPort>,
}

/// A port of the node, the interface that carries it, and the faults the
/// node injects into the frames it sends there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "PortEntry", into = "PortEntry")]
pub struct Port {
    pub number: u16,
    pub interface: String,
    pub faults: PortFaults,
    /// The DPDK device of the port on a DPDK node (device arguments, e.g.
    /// `net_memif1,role=server,...`); left out, the node uses DPDK's
    /// af_packet driver on `interface`.
    pub device: Option<String>,
}

/// A port as written: the fault probabilities are flat fields, left out
/// when 0, so a port without faults reads as before there were any.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PortEntry {
    number: u16,
    interface: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    loss_percent: f64,
    #[serde(default, skip_serializing_if = "is_zero")]
    duplicate_percent: f64,
    #[serde(default, skip_serializing_if = "is_zero")]
    reorder_percent: f64,
}

fn is_zero(percent: &f64) -> bool {
    *percent == 0.0
}

impl From<PortEntry> for Port {
    fn from(entry: PortEntry) -> Port {
        let faults = PortFaults {
            loss_percent: entry.loss_percent,
            duplicate_percent: entry.duplicate_percent,
            reorder_percent: entry.reorder_percent,
        };
        Port { number: entry.number, interface: entry.interface, faults, device: entry.device }
    }
}

impl From<Port> for PortEntry {
    fn from(port: Port) -> PortEntry {
        PortEntry {
            number: port.number,
            interface: port.interface,
            device: port.device,
            loss_percent: port.faults.loss_percent,
            duplicate_percent: port.faults.duplicate_percent,
            reorder_percent: port.faults.reorder_percent,
        }
    }
}

/// An `ipv4_route` entry as written: `prefix = "10.0.0.3/32"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteEntry {
    #[serde(with = "as_text")]
    pub prefix: Prefix,
    pub port: u16,
    pub mac: MacAddr,
}

/// An IPv4 prefix written `a.b.c.d/len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub addr: Ipv4Addr,
    pub len: u8,
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl std::str::FromStr for Prefix {
    type Err = String;

    fn from_str(text: &str) -> Result<Prefix, String> {
        let invalid = || format!("invalid prefix {text:?}: expected a.b.c.d/len with len at most 32");
        let (addr, len) = text.split_once('/').ok_or_else(invalid)?;
        let addr = addr.parse().map_err(|_| invalid())?;
        let len = len.parse().ok().filter(|len| *len <= 32).ok_or_else(invalid)?;
        Ok(Prefix { addr, len })
    }
}

/// Why a node file cannot configure a node.
#[derive(Debug)]
pub enum NodeFileError {
    Io { path: String, error: std::io::Error },
    Format { path: String, problem: String },
    Invalid(String),
}

impl std::fmt::Display for NodeFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeFileError::Io { path, error } => write!(f, "node file {path}: {error}"),
            NodeFileError::Format { path, problem } => write!(f, "node file {path}: {problem}"),
            NodeFileError::Invalid(problem) => write!(f, "node file: {problem}"),
        }
    }
}

impl std::error::Error for NodeFileError {}

impl NodeFile {
    /// Reads and checks a node file, so a node never starts half-configured.
    pub fn load(path: &Path) -> Result<NodeFile, NodeFileError> {
        let io_error = |error| NodeFileError::Io { path: path.display().to_string(), error };
        let text = std::fs::read_to_string(path).map_err(io_error)?;
        let file: NodeFile = toml::from_str(&text)
            .map_err(|error| NodeFileError::Format { path: path.display().to_string(), problem: error.to_string() })?;
        file.validate()?;
        Ok(file)
    }

    pub fn save(&self, path: &Path) -> Result<(), NodeFileError> {
        let format_error = |error: toml::ser::Error| NodeFileError::Format {
            path: path.display().to_string(),
            problem: error.to_string(),
        };
        let text = toml::to_string(self).map_err(format_error)?;
        std::fs::write(path, text).map_err(|error| NodeFileError::Io { path: path.display().to_string(), error })
    }

    /// Checks what a node needs before it starts: a valid `node_config`,
    /// distinct ports on interfaces Linux can name with faults a node can
    /// inject, and routes that fit the table and leave on one of those ports.
    pub fn validate(&self) -> Result<(), NodeFileError> {
        let invalid = |problem: String| NodeFileError::Invalid(format!("node {}: {problem}", self.name));
        self.config.validate(DEFAULT_KEY_CAPACITY).map_err(|e| invalid(e.to_string()))?;
        for (index, port) in self.ports.iter().enumerate() {
            let earlier = &self.ports[..index];
            if earlier.iter().any(|p| p.number == port.number || p.interface == port.interface) {
                return Err(invalid(format!(
                    "port {} ({}) repeats a number or interface",
                    port.number, port.interface
                )));
            }
            if port.interface.is_empty() || port.interface.len() > MAX_INTERFACE_NAME_LEN {
                return Err(invalid(format!("interface name {:?} is not 1 to 15 bytes", port.interface)));
            }
            port.faults
                .validate()
                .map_err(|problem| invalid(format!("port {} ({}): {problem}", port.number, port.interface)))?;
        }
        if let Some(route) = self.routes.iter().find(|r| !self.ports.iter().any(|p| p.number == r.port)) {
            return Err(invalid(format!("route {} leaves on port {}, which is not listed", route.prefix, route.port)));
        }
        if let Some(fabric) = self.fabric_ports.iter().find(|f| !self.ports.iter().any(|p| p.number == f.port)) {
            return Err(invalid(format!("fabric port {} is not listed as a port", fabric.port)));
        }
        self.fabric_port_table().map_err(|(port, e)| invalid(format!("fabric port {port}: {e}")))?;
        self.route_table().map(|_| ()).map_err(|(prefix, e)| invalid(format!("route {prefix}: {e}")))
    }

    /// The fabric ports installed into a table, or the first port refused.
    pub fn fabric_port_table(&self) -> Result<FabricPorts, (u16, FabricPortError)> {
        let mut table = FabricPorts::default();
        for entry in &self.fabric_ports {
            table.insert(*entry).map_err(|e| (entry.port, e))?;
        }
        Ok(table)
    }

    /// The `node_config` entry to install: [`NodeFile::config`].
    /// The routes in file order, which is the order to install them in.
    pub fn routes(&self) -> Vec<Route> {
        self.routes
            .iter()
            .map(|r| Route { prefix: r.prefix.addr, prefix_len: r.prefix.len, port: r.port, mac: r.mac })
            .collect()
    }

    /// The routes installed into a table, or the first prefix refused.
    pub fn route_table(&self) -> Result<RouteTable, (Prefix, netcraq_core::RouteError)> {
        let mut table = RouteTable::default();
        for (entry, route) in self.routes.iter().zip(self.routes()) {
            table.insert(route).map_err(|e| (entry.prefix, e))?;
        }
        Ok(table)
    }

    /// The seed for the fault injection of `port`: derived from
    /// `fault_seed` and the port number, so each port draws its own sequence
    /// and a rerun with the same node file draws the same ones.
    pub fn port_fault_seed(&self, port: u16) -> u64 {
        port_fault_seed(self.fault_seed, port)
    }

    /// What `port` injects into the frames it sends, with its seed.
    pub fn fault_settings(&self, port: &Port) -> FaultSettings {
        FaultSettings { faults: port.faults, seed: self.port_fault_seed(port.number) }
    }

    /// The file for a node with this config, ports, routes and fault seed.
    pub fn new(name: &str, tables: &NodeTables, ports: Vec<Port>, fault_seed: u64) -> NodeFile {
        let routes = tables
            .routes
            .iter()
            .map(|r| RouteEntry { prefix: Prefix { addr: r.prefix, len: r.prefix_len }, port: r.port, mac: r.mac })
            .collect();
        let (config, fabric_ports) = (tables.config, tables.fabric_ports.clone());
        NodeFile { name: name.to_owned(), config, fault_seed, dpdk: None, ports, routes, fabric_ports }
    }

    /// The node's tables as the planner computes them.
    pub fn tables(&self) -> NodeTables {
        NodeTables {
            config: self.config,
            routes: self.routes(),
            fabric_ports: self.fabric_ports.clone(),
            key_groups: Vec::new(),
        }
    }
}

/// Serde through `Display` and `FromStr`, for [`Prefix`].
mod as_text {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use std::{fmt::Display, str::FromStr};

    pub fn serialize<T: Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        String::deserialize(deserializer)?.parse().map_err(D::Error::custom)
    }
}

/// Where a node process writes its counters, next to its node file.
pub fn stats_path(node_file: &Path) -> PathBuf {
    node_file.with_extension("stats.json")
}

/// The command that runs the node of `node_file` with the netcraq
/// executable `exe`, writing its counters next to the node file.
pub fn node_command(exe: &Path, node_file: &Path) -> Command {
    let mut command = Command::new(exe);
    command.arg("node").arg("--config").arg(node_file).arg("--stats").arg(stats_path(node_file));
    command
}
