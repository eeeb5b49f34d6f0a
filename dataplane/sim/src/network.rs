//! The discrete-event engine: moves frames between devices in virtual time.
//!
//! Nothing here reads a frame beyond the destination MAC a switch forwards
//! on: all protocol behaviour comes from the [`Node`]s and the host agents.

use super::event::{Event, EventQueue};
use super::link::{LinkCounters, LinkId};
use super::wiring::{Device, HostId, NodeId, NodeSettings, PortRef, SwitchId, Wiring, WiringError};
use netcraq_core::Node;
use netcraq_wire::{MacAddr, CHAIN_FRAME_LEN};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::collections::VecDeque;

/// Frames one host agent may send from one call; the rest are dropped and counted.
pub const OUTBOX_CAPACITY_FRAMES: usize = 4096;

/// A client endpoint's behaviour. The simulator calls it when a frame
/// arrives and when the time it asked for comes; it answers by putting
/// frames in the [`Outbox`]. Agents see no simulator internals, so the same
/// agent can later be driven by a real backend.
pub trait HostAgent {
    /// A frame arrived on `port`.
    fn on_frame(&mut self, now_ns: u64, port: u16, frame: &[u8], outbox: &mut Outbox);
    /// The time returned by [`HostAgent::next_wakeup_ns`] has come.
    fn on_wakeup(&mut self, now_ns: u64, outbox: &mut Outbox);
    /// When the agent next needs [`HostAgent::on_wakeup`]; a time already
    /// past means now, `None` means never (until a frame arrives).
    fn next_wakeup_ns(&self) -> Option<u64>;
}

/// Frames a host agent sends, each on one of its ports.
#[derive(Debug, Default)]
pub struct Outbox {
    frames: Vec<(u16, Vec<u8>)>,
    overflowed: u64,
}

impl Outbox {
    pub fn send(&mut self, port: u16, frame: Vec<u8>) {
        if self.frames.len() < OUTBOX_CAPACITY_FRAMES {
            self.frames.push((port, frame));
        } else {
            self.overflowed += 1;
        }
    }
}

/// The simulation's seed and its bound on work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimConfig {
    /// Seeds the link faults; the same seed and inputs give the same run.
    pub seed: u64,
    /// Events the simulation may process over its whole life: a bound on
    /// every run, whatever the agents do.
    pub event_budget: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig { seed: 0, event_budget: 1_000_000_000 }
    }
}

/// Why [`Simulation::run_until`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStop {
    /// Virtual time reached the deadline; events after it are still pending.
    Deadline,
    /// Nothing is left to happen.
    Idle,
    /// The event budget of [`SimConfig`] is spent; the simulation is stuck.
    EventBudgetExhausted,
}

/// One node's frame accounting, beside the core's own outcome counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeCounters {
    /// Frames the node processed (each cost it one service time).
    pub frames_served: u64,
    /// Frames dropped on arrival because its queue was full.
    pub queue_overflows: u64,
    pub queue_depth_max: usize,
}

/// Everything the network itself dropped or duplicated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkCounters {
    /// All links together.
    pub links: LinkCounters,
    /// All nodes together.
    pub node_queue_overflows: u64,
    /// Frames sent on a port with no link.
    pub unconnected_port_drops: u64,
    /// Frames a switch had no port for (or too short to carry a MAC).
    pub unknown_destination_drops: u64,
    /// Frames beyond [`OUTBOX_CAPACITY_FRAMES`] in one agent call.
    pub outbox_overflows: u64,
}

struct SimNode {
    node: Node,
    settings: NodeSettings,
    /// Frames waiting, the one in service first.
    queue: VecDeque<(u16, Vec<u8>)>,
    busy: bool,
    counters: NodeCounters,
}

struct SimHost<A> {
    agent: A,
    /// The earliest pending `Wakeup` event; later ones are stale and ignored.
    wakeup_at_ns: Option<u64>,
}

struct SimSwitch {
    mac_table: Vec<(MacAddr, u16)>,
}

#[derive(Default)]
struct LinkState {
    in_flight: [usize; 2],
    counters: LinkCounters,
}

/// The in-memory network: a wiring of real nodes, host agents, switches
/// and faulty links, run in virtual nanoseconds.
pub struct Simulation<A> {
    wiring: Wiring,
    nodes: Vec<SimNode>,
    hosts: Vec<SimHost<A>>,
    switches: Vec<SimSwitch>,
    links: Vec<LinkState>,
    events: EventQueue,
    rng: SmallRng,
    now_ns: u64,
    events_processed: u64,
    event_budget: u64,
    outbox: Outbox,
    scratch: [u8; CHAIN_FRAME_LEN],
    drops: NetworkCounters,
}

impl<A: HostAgent> Simulation<A> {
    /// A network at time 0 with unconfigured nodes (install their tables
    /// through [`Simulation::node_mut`]) and one agent per host of the wiring,
    /// each woken when it first asks to be.
    pub fn new(wiring: Wiring, agents: Vec<A>, config: SimConfig) -> Result<Self, WiringError> {
        if agents.len() != wiring.host_count() {
            return Err(WiringError::HostCount { hosts: wiring.host_count(), agents: agents.len() });
        }
        let nodes = wiring
            .nodes()
            .map(|(_, _, settings)| SimNode {
                node: Node::new(settings.key_capacity),
                settings: *settings,
                queue: VecDeque::new(),
                busy: false,
                counters: NodeCounters::default(),
            })
            .collect();
        let switches = (0..wiring.switch_count()).map(|s| SimSwitch { mac_table: mac_table(&wiring, SwitchId(s)) });
        let mut simulation = Simulation {
            nodes,
            hosts: agents.into_iter().map(|agent| SimHost { agent, wakeup_at_ns: None }).collect(),
            switches: switches.collect(),
            links: wiring.links().iter().map(|_| LinkState::default()).collect(),
            wiring,
            events: EventQueue::default(),
            rng: SmallRng::seed_from_u64(config.seed),
            now_ns: 0,
            events_processed: 0,
            event_budget: config.event_budget,
            outbox: Outbox::default(),
            scratch: [0; CHAIN_FRAME_LEN],
            drops: NetworkCounters::default(),
        };
        for host in 0..simulation.hosts.len() {
            simulation.schedule_wakeup(HostId(host));
        }
        Ok(simulation)
    }

    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    pub fn wiring(&self) -> &Wiring {
        &self.wiring
    }

    /// Processes events in time order up to and including `deadline_ns`.
    pub fn run_until(&mut self, deadline_ns: u64) -> RunStop {
        loop {
            match self.events.next_time_ns() {
                None => return RunStop::Idle,
                Some(at_ns) if at_ns > deadline_ns => {
                    self.now_ns = deadline_ns;
                    return RunStop::Deadline;
                }
                Some(_) if self.events_processed >= self.event_budget => return RunStop::EventBudgetExhausted,
                Some(_) => self.process_next_event(),
            }
        }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0].node
    }

    /// The node itself, to install tables or inspect registers.
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id.0].node
    }

    pub fn node_counters(&self, id: NodeId) -> NodeCounters {
        self.nodes[id.0].counters
    }

    pub fn node_settings(&self, id: NodeId) -> NodeSettings {
        self.nodes[id.0].settings
    }

    pub fn host(&self, id: HostId) -> &A {
        &self.hosts[id.0].agent
    }

    /// Changes a host agent from outside (say, gives it new work), then
    /// wakes it when it asks to be.
    pub fn update_host(&mut self, id: HostId, update: impl FnOnce(&mut A)) {
        update(&mut self.hosts[id.0].agent);
        self.schedule_wakeup(id);
    }

    pub fn link_counters(&self, link: LinkId) -> LinkCounters {
        self.links[link.0].counters
    }

    /// Totals of everything the network dropped or duplicated.
    pub fn counters(&self) -> NetworkCounters {
        let mut totals = self.drops;
        for link in &self.links {
            totals.links.add(&link.counters);
        }
        totals.node_queue_overflows = self.nodes.iter().map(|n| n.counters.queue_overflows).sum();
        totals.outbox_overflows += self.outbox.overflowed;
        totals
    }

    fn process_next_event(&mut self) {
        let Some((at_ns, event)) = self.events.pop() else { return };
        self.now_ns = at_ns;
        self.events_processed += 1;
        match event {
            Event::Arrive { link, toward_side, frame } => self.arrive(link, toward_side, frame),
            Event::ServiceDone(node) => self.finish_service(node),
            Event::Wakeup(host) => self.wake(host, at_ns),
        }
    }

    /// Puts a frame on the link behind `from`: it may be lost, duplicated,
    /// delayed, or dropped when the direction's queue is full.
    fn transmit(&mut self, from: PortRef, mut frame: Vec<u8>) {
        let Some(end) = self.wiring.port_link(from) else {
            self.drops.unconnected_port_drops += 1;
            return;
        };
        let config = self.wiring.link(end.link).config;
        let toward_side = 1 - end.side;
        let state = &mut self.links[end.link.0];
        state.counters.sent += 1;
        let copies = config.copies(&mut self.rng, &frame);
        match copies {
            0 => state.counters.lost += 1,
            2 => state.counters.duplicated += 1,
            _ => {}
        }
        for copy in 1..=copies {
            let frame = if copy < copies { frame.clone() } else { std::mem::take(&mut frame) };
            if state.in_flight[toward_side] >= config.queue_capacity_frames {
                state.counters.overflowed += 1;
                continue;
            }
            state.in_flight[toward_side] += 1;
            let at_ns = self.now_ns + config.delay_ns(&mut self.rng);
            self.events.push(at_ns, Event::Arrive { link: end.link, toward_side, frame });
        }
    }

    fn arrive(&mut self, link: LinkId, toward_side: usize, frame: Vec<u8>) {
        let state = &mut self.links[link.0];
        state.in_flight[toward_side] -= 1;
        state.counters.delivered += 1;
        let to = self.wiring.link(link).ends[toward_side];
        match to.device {
            Device::Node(node) => self.enqueue(node, to.port, frame),
            Device::Host(host) => self.deliver_to_host(host, to.port, &frame),
            Device::Switch(switch) => self.switch_forward(switch, frame),
        }
    }

    fn enqueue(&mut self, id: NodeId, port: u16, frame: Vec<u8>) {
        let node = &mut self.nodes[id.0];
        if node.queue.len() >= node.settings.queue_capacity_frames {
            node.counters.queue_overflows += 1;
            return;
        }
        node.queue.push_back((port, frame));
        node.counters.queue_depth_max = node.counters.queue_depth_max.max(node.queue.len());
        if !node.busy {
            node.busy = true;
            self.events.push(self.now_ns + node.settings.service_ns, Event::ServiceDone(id));
        }
    }

    /// The node processes the frame at the front of its queue and sends what
    /// the core decided, then starts on the next frame.
    fn finish_service(&mut self, id: NodeId) {
        let node = &mut self.nodes[id.0];
        let Some((ingress_port, mut frame)) = node.queue.pop_front() else {
            node.busy = false;
            return;
        };
        let verdict = node.node.process(ingress_port, &mut frame, &mut self.scratch);
        node.counters.frames_served += 1;
        node.busy = !node.queue.is_empty();
        if node.busy {
            self.events.push(self.now_ns + node.settings.service_ns, Event::ServiceDone(id));
        }
        if let Some(egress) = verdict.primary {
            frame.truncate(egress.len);
            self.transmit(PortRef { device: Device::Node(id), port: egress.port }, frame);
        }
        if let Some(egress) = verdict.secondary {
            let frame = self.scratch[..egress.len].to_vec();
            self.transmit(PortRef { device: Device::Node(id), port: egress.port }, frame);
        }
    }

    fn switch_forward(&mut self, id: SwitchId, frame: Vec<u8>) {
        let destination = frame.get(..6).and_then(|bytes| <[u8; 6]>::try_from(bytes).ok()).map(MacAddr);
        let port = destination.and_then(|mac| self.switches[id.0].mac_table.iter().find(|(m, _)| *m == mac));
        match port {
            Some(&(_, port)) => self.transmit(PortRef { device: Device::Switch(id), port }, frame),
            None => self.drops.unknown_destination_drops += 1,
        }
    }

    fn deliver_to_host(&mut self, id: HostId, port: u16, frame: &[u8]) {
        self.hosts[id.0].agent.on_frame(self.now_ns, port, frame, &mut self.outbox);
        self.send_outbox(id);
        self.schedule_wakeup(id);
    }

    fn wake(&mut self, id: HostId, at_ns: u64) {
        let host = &mut self.hosts[id.0];
        if host.wakeup_at_ns != Some(at_ns) {
            return; // superseded by an earlier wake-up, which already ran
        }
        host.wakeup_at_ns = None;
        host.agent.on_wakeup(self.now_ns, &mut self.outbox);
        self.send_outbox(id);
        self.schedule_wakeup(id);
    }

    fn send_outbox(&mut self, id: HostId) {
        let mut frames = std::mem::take(&mut self.outbox.frames);
        for (port, frame) in frames.drain(..) {
            self.transmit(PortRef { device: Device::Host(id), port }, frame);
        }
        self.outbox.frames = frames; // keeps its allocation for the next call
    }

    /// Adds a `Wakeup` event only when the agent wants one earlier than the
    /// one pending: the pending events of a host stay few.
    fn schedule_wakeup(&mut self, id: HostId) {
        let host = &mut self.hosts[id.0];
        let Some(wanted_ns) = host.agent.next_wakeup_ns() else { return };
        let at_ns = wanted_ns.max(self.now_ns);
        if host.wakeup_at_ns.is_some_and(|pending_ns| pending_ns <= at_ns) {
            return;
        }
        host.wakeup_at_ns = Some(at_ns);
        self.events.push(at_ns, Event::Wakeup(id));
    }
}

/// Where a switch sends each MAC of the wiring.
fn mac_table(wiring: &Wiring, switch: SwitchId) -> Vec<(MacAddr, u16)> {
    let macs = wiring.nodes().map(|(_, address, _)| address.mac).chain(wiring.hosts().map(|(_, a)| a.mac));
    macs.filter_map(|mac| wiring.switch_port(switch, mac).map(|port| (mac, port))).collect()
}
