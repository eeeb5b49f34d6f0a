//! What is connected to what: devices, their ports and the links between them.
//!
//! A [`Wiring`] is a plain description, with no state and no clock. Its
//! devices and ports are a [`Network`] of the control plane's planner, which
//! routes over it ([`Wiring::first_hop`]).

use super::link::{LinkConfig, LinkId};
use netcraq_plan::network::{LinkError, Network, Station};
use netcraq_wire::{Endpoint, Ipv4Addr, MacAddr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostId(pub usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SwitchId(pub usize);

/// Anything with ports: a NetCRAQ node, a host (a client endpoint), or a
/// plain Ethernet switch that forwards by destination MAC in zero time (it
/// stands for the fabric; only NetCRAQ nodes cost time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Device {
    Node(NodeId),
    Host(HostId),
    Switch(SwitchId),
}

/// One port of one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRef {
    pub device: Device,
    pub port: u16,
}

/// How a node serves frames: one at a time, in arrival order.
///
/// The default, 1 µs per frame, is a software node's order of magnitude
/// (about a million frames per second per core); 1024 queued frames; one
/// key register per 16-bit key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSettings {
    /// Virtual time to process one frame: the node's whole cost model.
    pub service_ns: u64,
    /// Frames waiting or in service; a frame arriving beyond it is dropped and counted.
    pub queue_capacity_frames: usize,
    pub key_capacity: usize,
}

impl Default for NodeSettings {
    fn default() -> Self {
        NodeSettings {
            service_ns: 1_000,
            queue_capacity_frames: 1024,
            key_capacity: netcraq_core::DEFAULT_KEY_CAPACITY,
        }
    }
}

/// A link between two ports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkSpec {
    pub ends: [PortRef; 2],
    pub config: LinkConfig,
}

/// The link and the end of it (0 or 1) behind a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkEnd {
    pub link: LinkId,
    pub side: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WiringError {
    BadLink(String),
    UnknownDevice(Device),
    TooManyPorts(Device),
    HostCount { hosts: usize, agents: usize },
    BadNodeSettings(&'static str),
}

impl std::fmt::Display for WiringError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WiringError::BadLink(problem) => write!(f, "bad link configuration: {problem}"),
            WiringError::UnknownDevice(device) => write!(f, "{device:?} is not in the wiring"),
            WiringError::TooManyPorts(device) => write!(f, "{device:?} has no port numbers left"),
            WiringError::HostCount { hosts, agents } => {
                write!(f, "the wiring has {hosts} hosts but {agents} host agents were given")
            }
            WiringError::BadNodeSettings(problem) => write!(f, "bad node settings: {problem}"),
        }
    }
}

impl std::error::Error for WiringError {}

/// Devices, their addresses, and the links between their ports. Ports are
/// numbered from 0 on each device in the order its links were added.
#[derive(Debug, Clone, Default)]
pub struct Wiring {
    network: Network,
    /// Each node's station in `network`, and its settings.
    nodes: Vec<(usize, NodeSettings)>,
    hosts: Vec<usize>,
    switches: Vec<usize>,
    links: Vec<LinkSpec>,
}

impl Wiring {
    pub fn add_node(&mut self, address: Endpoint, settings: NodeSettings) -> Result<NodeId, WiringError> {
        if settings.queue_capacity_frames == 0 {
            return Err(WiringError::BadNodeSettings("a node queue needs room for at least one frame"));
        }
        if settings.key_capacity == 0 || settings.key_capacity > netcraq_core::DEFAULT_KEY_CAPACITY {
            return Err(WiringError::BadNodeSettings("key capacity must be 1..=65536"));
        }
        self.nodes.push((self.network.add(Station::Node(address)), settings));
        Ok(NodeId(self.nodes.len() - 1))
    }

    pub fn add_host(&mut self, address: Endpoint) -> HostId {
        self.hosts.push(self.network.add(Station::Host(address)));
        HostId(self.hosts.len() - 1)
    }

    pub fn add_switch(&mut self) -> SwitchId {
        self.switches.push(self.network.add(Station::Switch));
        SwitchId(self.switches.len() - 1)
    }

    /// Links the next free port of `a` to the next free port of `b`.
    pub fn connect(&mut self, a: Device, b: Device, config: LinkConfig) -> Result<LinkId, WiringError> {
        if let Some(problem) = config.problem() {
            return Err(WiringError::BadLink(problem));
        }
        let station = |device| self.station(device).ok_or(WiringError::UnknownDevice(device));
        let (station_a, station_b) = (station(a)?, station(b)?);
        if a == b {
            return Err(WiringError::BadLink("a link joins two devices, not one to itself".to_string()));
        }
        let next_port = |device, station| {
            u16::try_from(self.network.ports(station).len()).map_err(|_| WiringError::TooManyPorts(device))
        };
        let (port_a, port_b) = (next_port(a, station_a)?, next_port(b, station_b)?);
        let link = self.network.link((station_a, port_a), (station_b, port_b)).map_err(|error| match error {
            LinkError::UnknownStation(_) => WiringError::UnknownDevice(a),
            LinkError::PortTaken { .. } => WiringError::TooManyPorts(a),
        })?;
        let ends = [PortRef { device: a, port: port_a }, PortRef { device: b, port: port_b }];
        self.links.push(LinkSpec { ends, config });
        Ok(LinkId(link))
    }

    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &Endpoint, &NodeSettings)> {
        let nodes = self.nodes.iter().enumerate();
        nodes.filter_map(|(i, (station, settings))| Some((NodeId(i), self.station_address(*station)?, settings)))
    }

    pub fn hosts(&self) -> impl Iterator<Item = (HostId, &Endpoint)> {
        self.hosts.iter().enumerate().filter_map(|(i, station)| Some((HostId(i), self.station_address(*station)?)))
    }

    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    pub fn switch_count(&self) -> usize {
        self.switches.len()
    }

    pub fn links(&self) -> &[LinkSpec] {
        &self.links
    }

    pub fn link(&self, link: LinkId) -> &LinkSpec {
        &self.links[link.0]
    }

    /// The planner's view: stations and ports.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The station of `device` in [`Wiring::network`].
    pub fn station(&self, device: Device) -> Option<usize> {
        match device {
            Device::Node(id) => self.nodes.get(id.0).map(|(station, _)| *station),
            Device::Host(id) => self.hosts.get(id.0).copied(),
            Device::Switch(id) => self.switches.get(id.0).copied(),
        }
    }

    /// The link behind a port, if the port is connected.
    pub fn port_link(&self, port: PortRef) -> Option<LinkEnd> {
        // Ports are numbered by position, so the number is the index.
        let ports = self.network.ports(self.station(port.device)?);
        let link = ports.get(usize::from(port.port)).filter(|p| p.number == port.port)?.link;
        let side = usize::from(self.links[link].ends[0] != port);
        Some(LinkEnd { link: LinkId(link), side })
    }

    /// The IPv4 and MAC address of a node or host; switches have none.
    pub fn address(&self, device: Device) -> Option<&Endpoint> {
        self.station_address(self.station(device)?)
    }

    /// How `from` sends an IPv4 packet to `to` on a shortest path: the egress
    /// port and the MAC of the next device that routes or receives it
    /// (switches on the way are transparent). Nodes and switches forward;
    /// hosts do not.
    pub fn first_hop(&self, from: Device, to: Ipv4Addr) -> Option<(u16, MacAddr)> {
        self.network.first_hop(self.station(from)?, to)
    }

    /// The port on which `switch` reaches the device with MAC `mac` through switches only.
    pub fn switch_port(&self, switch: SwitchId, mac: MacAddr) -> Option<u16> {
        self.network.switch_port(self.station(Device::Switch(switch))?, mac)
    }

    fn station_address(&self, station: usize) -> Option<&Endpoint> {
        self.network.stations().get(station)?.address()
    }
}
