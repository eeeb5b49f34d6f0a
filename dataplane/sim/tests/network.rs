//! The simulator's own mechanics, seen from a probe host that sends a burst
//! of reads to one node: bounded queues, duplication, reordering.

use netcraq_core::faults::PortFaults;
use netcraq_core::{Node, NodeConfig, Outcome, Route};
use netcraq_sim::{
    client_address, node_address, Device, HostAgent, LinkConfig, NodeSettings, Outbox, RunStop, SimConfig, Simulation,
    Wiring,
};
use netcraq_wire::{NetcraqFrame, NetcraqRepr, Op};

const BURST: u16 = 40;

/// Sends `BURST` reads at time 0, numbered by IPv4 identification, and
/// records the identification of every reply in arrival order.
struct Probe {
    sent: bool,
    replies: Vec<u16>,
}

impl HostAgent for Probe {
    fn on_frame(&mut self, _now_ns: u64, _port: u16, frame: &[u8], _outbox: &mut Outbox) {
        self.replies.push(NetcraqFrame::parse(frame).unwrap().ident);
    }

    fn on_wakeup(&mut self, _now_ns: u64, outbox: &mut Outbox) {
        self.sent = true;
        for ident in 1..=BURST {
            outbox.send(0, read(ident));
        }
    }

    fn next_wakeup_ns(&self) -> Option<u64> {
        (!self.sent).then_some(0)
    }
}

fn read(ident: u16) -> Vec<u8> {
    let (client, node) = (client_address(0), node_address(0));
    let header = NetcraqRepr { op: Op::Read, version: 0, key: 1, value: [0; 16] };
    let frame = NetcraqFrame::request(client, 40_000, node, ident, header);
    frame.to_bytes().to_vec()
}

/// One SOLO node linked to the probe host; the node's tables set by hand.
fn probe_network(link: LinkConfig, node: NodeSettings) -> Simulation<Probe> {
    let mut wiring = Wiring::default();
    let node_id = wiring.add_node(node_address(0), node).unwrap();
    let host = wiring.add_host(client_address(0));
    wiring.connect(Device::Host(host), Device::Node(node_id), link).unwrap();
    let probe = Probe { sent: false, replies: Vec::new() };
    let mut sim = Simulation::new(wiring, vec![probe], SimConfig { seed: 3, ..SimConfig::default() }).unwrap();
    configure_solo(sim.node_mut(node_id));
    sim
}

fn configure_solo(node: &mut Node) {
    let (own, client) = (node_address(0), client_address(0));
    node.set_config(NodeConfig::solo(own.mac, own.ip, 0, 16)).unwrap();
    node.routes_mut().insert(Route { prefix: client.ip, prefix_len: 32, port: 0, mac: client.mac }).unwrap();
}

fn small_node() -> NodeSettings {
    NodeSettings { key_capacity: 16, ..NodeSettings::default() }
}

#[test]
fn full_link_and_node_queues_drop_and_count() {
    let link = LinkConfig { queue_capacity_frames: 8, ..LinkConfig::default() };
    let mut sim = probe_network(link, NodeSettings { queue_capacity_frames: 5, ..small_node() });
    assert_eq!(sim.run_until(1_000_000), RunStop::Idle);
    let counters = sim.counters();
    assert_eq!(counters.links.overflowed, u64::from(BURST) - 8, "8 frames fit on the link");
    assert_eq!(counters.node_queue_overflows, 3, "the 8 that arrive together find room for 5");
    assert_eq!(sim.host(netcraq_sim::HostId(0)).replies, [1, 2, 3, 4, 5]);
    assert_eq!(sim.node_counters(netcraq_sim::NodeId(0)).queue_depth_max, 5);
}

#[test]
fn duplication_delivers_twice_and_jitter_reorders() {
    let link = LinkConfig {
        faults: PortFaults { duplicate_percent: 100.0, ..PortFaults::default() },
        jitter_ns: 10_000,
        ..LinkConfig::default()
    };
    let mut sim = probe_network(link, small_node());
    assert_eq!(sim.run_until(1_000_000), RunStop::Idle);
    let node = sim.node(netcraq_sim::NodeId(0));
    assert_eq!(node.outcome_count(Outcome::ReadLocal), 2 * u64::from(BURST), "each request arrived twice");
    let replies = &sim.host(netcraq_sim::HostId(0)).replies;
    assert_eq!(replies.len(), 4 * usize::from(BURST), "each reply to each copy arrived twice");
    assert!(replies.windows(2).any(|pair| pair[0] > pair[1]), "jitter reordered the replies");
    assert_eq!(sim.counters().links.duplicated, 3 * u64::from(BURST));
}

#[test]
fn a_frame_for_an_unlinked_port_is_dropped_and_counted() {
    let mut sim = probe_network(LinkConfig::default(), small_node());
    let node = sim.node_mut(netcraq_sim::NodeId(0));
    let client = client_address(0);
    node.routes_mut().remove(client.ip, 32).unwrap();
    node.routes_mut().insert(Route { prefix: client.ip, prefix_len: 32, port: 7, mac: client.mac }).unwrap();
    assert_eq!(sim.run_until(1_000_000), RunStop::Idle);
    assert_eq!(sim.counters().unconnected_port_drops, u64::from(BURST));
}
