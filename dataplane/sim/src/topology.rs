//! What is connected to what: devices, their ports and the links between them.
//!
//! A [`Topology`] is a plain description, with no state and no clock, so the
//! in-memory network and a runner that builds real interfaces can share it,
//! and the control plane can route over it ([`Topology::first_hop`]).

use super::link::{LinkConfig, LinkId};
use netcraq_plan::plan::Endpoint;
use netcraq_wire::{Ipv4Addr, MacAddr};
use std::collections::{HashSet, VecDeque};

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
pub enum TopologyError {
    BadLink(&'static str),
    UnknownDevice(Device),
    TooManyPorts(Device),
    HostCount { hosts: usize, agents: usize },
    BadNodeSettings(&'static str),
}

impl std::fmt::Display for TopologyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TopologyError::BadLink(problem) => write!(f, "bad link configuration: {problem}"),
            TopologyError::UnknownDevice(device) => write!(f, "{device:?} is not in the topology"),
            TopologyError::TooManyPorts(device) => write!(f, "{device:?} has no port numbers left"),
            TopologyError::HostCount { hosts, agents } => {
                write!(f, "the topology has {hosts} hosts but {agents} host agents were given")
            }
            TopologyError::BadNodeSettings(problem) => write!(f, "bad node settings: {problem}"),
        }
    }
}

impl std::error::Error for TopologyError {}

/// Devices, their addresses, and the links between their ports. Ports are
/// numbered from 0 on each device in the order its links were added.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    nodes: Vec<(Endpoint, NodeSettings)>,
    hosts: Vec<Endpoint>,
    links: Vec<LinkSpec>,
    node_ports: Vec<Vec<LinkEnd>>,
    host_ports: Vec<Vec<LinkEnd>>,
    switch_ports: Vec<Vec<LinkEnd>>,
}

impl Topology {
    pub fn add_node(&mut self, address: Endpoint, settings: NodeSettings) -> Result<NodeId, TopologyError> {
        if settings.queue_capacity_frames == 0 {
            return Err(TopologyError::BadNodeSettings("a node queue needs room for at least one frame"));
        }
        if settings.key_capacity == 0 || settings.key_capacity > netcraq_core::DEFAULT_KEY_CAPACITY {
            return Err(TopologyError::BadNodeSettings("key capacity must be 1..=65536"));
        }
        self.nodes.push((address, settings));
        self.node_ports.push(Vec::new());
        Ok(NodeId(self.nodes.len() - 1))
    }

    pub fn add_host(&mut self, address: Endpoint) -> HostId {
        self.hosts.push(address);
        self.host_ports.push(Vec::new());
        HostId(self.hosts.len() - 1)
    }

    pub fn add_switch(&mut self) -> SwitchId {
        self.switch_ports.push(Vec::new());
        SwitchId(self.switch_ports.len() - 1)
    }

    /// Links the next free port of `a` to the next free port of `b`.
    pub fn connect(&mut self, a: Device, b: Device, config: LinkConfig) -> Result<LinkId, TopologyError> {
        if let Some(problem) = config.problem() {
            return Err(TopologyError::BadLink(problem));
        }
        if let Some(unknown) = [a, b].into_iter().find(|device| !self.contains(*device)) {
            return Err(TopologyError::UnknownDevice(unknown));
        }
        let link = LinkId(self.links.len());
        let port_a = self.next_port(a)?;
        let port_b = self.next_port(b)?;
        self.ports_mut(a).push(LinkEnd { link, side: 0 });
        self.ports_mut(b).push(LinkEnd { link, side: 1 });
        let ends = [PortRef { device: a, port: port_a }, PortRef { device: b, port: port_b }];
        self.links.push(LinkSpec { ends, config });
        Ok(link)
    }

    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &Endpoint, &NodeSettings)> {
        self.nodes.iter().enumerate().map(|(i, (address, settings))| (NodeId(i), address, settings))
    }

    pub fn hosts(&self) -> impl Iterator<Item = (HostId, &Endpoint)> {
        self.hosts.iter().enumerate().map(|(i, address)| (HostId(i), address))
    }

    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    pub fn switch_count(&self) -> usize {
        self.switch_ports.len()
    }

    pub fn links(&self) -> &[LinkSpec] {
        &self.links
    }

    pub fn link(&self, link: LinkId) -> &LinkSpec {
        &self.links[link.0]
    }

    /// The link behind a port, if the port is connected.
    pub fn port_link(&self, port: PortRef) -> Option<LinkEnd> {
        self.ports(port.device).get(usize::from(port.port)).copied()
    }

    /// The IPv4 and MAC address of a node or host; switches have none.
    pub fn address(&self, device: Device) -> Option<&Endpoint> {
        match device {
            Device::Node(id) => self.nodes.get(id.0).map(|(address, _)| address),
            Device::Host(id) => self.hosts.get(id.0),
            Device::Switch(_) => None,
        }
    }

    /// How `from` sends an IPv4 packet to `to` on a shortest path: the egress
    /// port and the MAC of the next device that routes or receives it
    /// (switches on the way are transparent). Nodes and switches forward;
    /// hosts do not.
    pub fn first_hop(&self, from: Device, to: Ipv4Addr) -> Option<(u16, MacAddr)> {
        self.search(from, |device| !matches!(device, Device::Host(_)), |address| address.ip == to)
    }

    /// The port on which `switch` reaches the device with MAC `mac` through switches only.
    pub fn switch_port(&self, switch: SwitchId, mac: MacAddr) -> Option<u16> {
        let search = self.search(
            Device::Switch(switch),
            |device| matches!(device, Device::Switch(_)),
            |address| address.mac == mac,
        );
        search.map(|(port, _)| port)
    }

    /// Breadth-first search from `from` through devices that `forwards`, for
    /// the first device whose address is `wanted`. Visits each device once.
    fn search(
        &self,
        from: Device,
        forwards: impl Fn(Device) -> bool,
        wanted: impl Fn(&Endpoint) -> bool,
    ) -> Option<(u16, MacAddr)> {
        let mut visited = HashSet::from([from]);
        let mut frontier: VecDeque<(Device, u16, Option<MacAddr>)> = VecDeque::new();
        for (port, _) in self.ports(from).iter().enumerate() {
            let port = u16::try_from(port).ok()?;
            frontier.push_back((self.neighbour(PortRef { device: from, port })?, port, None));
        }
        while let Some((device, first_port, mut next_hop_mac)) = frontier.pop_front() {
            if !visited.insert(device) {
                continue;
            }
            if let Some(address) = self.address(device) {
                next_hop_mac = next_hop_mac.or(Some(address.mac));
                if wanted(address) {
                    return next_hop_mac.map(|mac| (first_port, mac));
                }
            }
            if forwards(device) {
                for port in 0..self.ports(device).len() {
                    let port = PortRef { device, port: u16::try_from(port).ok()? };
                    frontier.push_back((self.neighbour(port)?, first_port, next_hop_mac));
                }
            }
        }
        None
    }

    fn contains(&self, device: Device) -> bool {
        match device {
            Device::Node(id) => id.0 < self.nodes.len(),
            Device::Host(id) => id.0 < self.hosts.len(),
            Device::Switch(id) => id.0 < self.switch_ports.len(),
        }
    }

    fn neighbour(&self, port: PortRef) -> Option<Device> {
        let end = self.port_link(port)?;
        Some(self.links[end.link.0].ends[1 - end.side].device)
    }

    fn next_port(&self, device: Device) -> Result<u16, TopologyError> {
        u16::try_from(self.ports(device).len()).map_err(|_| TopologyError::TooManyPorts(device))
    }

    fn ports(&self, device: Device) -> &[LinkEnd] {
        let table = match device {
            Device::Node(id) => self.node_ports.get(id.0),
            Device::Host(id) => self.host_ports.get(id.0),
            Device::Switch(id) => self.switch_ports.get(id.0),
        };
        table.map_or(&[], Vec::as_slice)
    }

    fn ports_mut(&mut self, device: Device) -> &mut Vec<LinkEnd> {
        match device {
            Device::Node(id) => &mut self.node_ports[id.0],
            Device::Host(id) => &mut self.host_ports[id.0],
            Device::Switch(id) => &mut self.switch_ports[id.0],
        }
    }
}
