//! Model checking of the NetCRAQ chain with `stateright` (`docs/protocol.md`
//! §8; bounds, state counts and the traces are in `docs/model-checking.md`).
//!
//! The model drives the real [`netcraq_core::Node`] on real frames:
//! three nodes (HEAD, REPLICA, TAIL, CRAQ mode) whose every output is put in
//! flight toward the peer its egress port leads to, and a few clients, each
//! running a short fixed script of reads and writes. Only the network and the
//! clients are modelled: the network may deliver any frame in flight (so it
//! reorders freely), and, within per-run budgets and only for the frames a
//! configuration allows, lose or duplicate one; a client may time out and
//! retransmit its current request (`docs/protocol.md` §3.4). A forging
//! client host may send chain ops (`CHAIN_WRITE`, `ACK`) of the current epoch
//! to any node, directly or through another node, with its own address or a
//! neighbour's and a version that would do harm (§9.1): no register may
//! change because of one.
//!
//! A reconfiguration during traffic (§9.2, §9.3, §10) adds the control
//! plane as an actor: a node crashes or is removed alive once its lease
//! has lapsed, or a fresh node joins as a syncing tail; the control plane
//! configures the nodes of the new epoch one step at a time and sweeps them
//! with `SWEEP` frames in flight like any other, while clients go on.
//!
//! Every client operation is recorded in a linearizability tester per key;
//! an `ERROR OUTCOME_UNKNOWN` leaves the operation in flight for ever (it may
//! or may not have taken effect) and stops the client; an `ERROR
//! NOT_SERVING` leaves a read in flight, asked again of the head.
//!
//! Run with `cargo test --release -p netcraq-core --test model_check -- --nocapture`
//! to see the state counts and the negative tests' traces; the larger
//! configurations are `#[ignore]`d (add `--ignored`).

use netcraq_core::{is_newer, FabricPort, KeyGroup, KeySlot, Lease, Mode, Node, NodeConfig, Outcome, Role, Route};
use netcraq_wire::{
    ErrorCode, FrameBytes, Ipv4Addr, MacAddr, NetcraqFrame, NetcraqRepr, Op, CHAIN_FRAME_LEN, NETCRAQ_UDP_PORT,
};
use stateright::semantics::register::{Register, RegisterOp, RegisterRet};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};
use stateright::{Checker, Expectation, HasDiscoveries, Model, Path, Property};
use std::collections::BTreeSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Instant;

// ---------------------------------------------------------------------------
// Topology: node i is 10.0.0.(i+1), client c is 10.0.1.(c+1). Each node
// reaches node j on port j+1 and client c on port 101+c: one port per peer,
// every peer directly. The control plane's frames enter every node on port
// 0xFFFF (§2.3). Nodes are named by their place in the full chain HEAD,
// REPLICA, TAIL, whatever role a reconfiguration gives them.

const HEAD: usize = 0;
const REPLICA: usize = 1;
const TAIL: usize = 2;
const NODES: usize = 3;
const NODE_NAMES: [&str; NODES] = ["HEAD", "REPLICA", "TAIL"];
/// The full chain, in order.
const FULL_CHAIN: [usize; NODES] = [HEAD, REPLICA, TAIL];
/// The chain of key 1 when keys are in groups (§11): the full chain
/// reversed, so that the HEAD node is the tail of key 1 and the TAIL node
/// its head.
const REVERSED_CHAIN: [usize; NODES] = [TAIL, REPLICA, HEAD];
/// The epochs of the groups of keys 0 and 1: every chain has its own (§9.2).
const GROUP_EPOCHS: [u32; 2] = [11, 12];
/// Key register capacity of every node (and `key_hi`).
const KEY_CAPACITY: usize = 2;
const CLIENT_PORT_BASE: u16 = 101;
const CLIENT_UDP_PORT_BASE: u16 = 40001;
/// The port by which the control plane's PacketOut frames enter (§2.3).
const CONTROLLER_PORT: u16 = 0xffff;
const CONTROLLER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 2, 1]);
const CONTROLLER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);
/// The epoch of the chain's configuration (§9.2), which forgeries carry too.
const EPOCH: u32 = 1;
/// The epoch of the configuration a reconfiguration installs, and the
/// `sync_epoch` of a node that joins in it (§10.4).
const NEW_EPOCH: u32 = 2;
/// The value forged frames carry: no client writes it.
const FORGED_VALUE: u8 = 0xee;

fn node_ip(node: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, node as u8 + 1)
}

fn node_mac(node: usize) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, node as u8 + 1])
}

fn client_ip(client: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 1, client as u8 + 1)
}

fn client_mac(client: usize) -> MacAddr {
    MacAddr([2, 0, 0, 0, 1, client as u8 + 1])
}

fn client_udp_port(client: usize) -> u16 {
    CLIENT_UDP_PORT_BASE + client as u16
}

/// The IPv4 identification of a client's `step`-th operation, unique per
/// client and readable in traces (client 1's operations are 11, 12, ...).
fn ident(client: usize, step: usize) -> u16 {
    10 * (client as u16 + 1) + step as u16 + 1
}

/// A value of the model: byte `v` repeated over the 16 value bytes; 0 is
/// the initial value of every key.
fn value_bytes(value: u8) -> [u8; 16] {
    [value; 16]
}

fn value_of(bytes: [u8; 16]) -> u8 {
    assert!(bytes.iter().all(|b| *b == bytes[0]), "a value the model never wrote: {bytes:02x?}");
    bytes[0]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Endpoint {
    Node(u8),
    Client(u8),
    /// The control plane, which sends SWEEPs and receives nothing.
    Controller,
}

impl Endpoint {
    /// The port on which a node reaches this endpoint, or by which the
    /// control plane's frames enter it.
    fn port(self) -> u16 {
        match self {
            Endpoint::Node(n) => u16::from(n) + 1,
            Endpoint::Client(c) => CLIENT_PORT_BASE + u16::from(c),
            Endpoint::Controller => CONTROLLER_PORT,
        }
    }

    fn at_port(port: u16) -> Endpoint {
        match port {
            1..=3 => Endpoint::Node(port as u8 - 1),
            CONTROLLER_PORT => panic!("no node sends to the control plane"),
            p if p >= CLIENT_PORT_BASE => Endpoint::Client((p - CLIENT_PORT_BASE) as u8),
            p => panic!("no peer behind port {p}"),
        }
    }

    fn with_mac(mac: MacAddr) -> Endpoint {
        match mac.0 {
            [2, 0, 0, 0, 0, n @ 1..=3] => Endpoint::Node(n - 1),
            [2, 0, 0, 0, 1, c @ 1..=255] => Endpoint::Client(c - 1),
            _ if mac == CONTROLLER_MAC => Endpoint::Controller,
            _ => panic!("no endpoint has MAC {mac}"),
        }
    }

    fn is_node(self, node: usize) -> bool {
        self == Endpoint::Node(node as u8)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Node(n) => f.write_str(NODE_NAMES[usize::from(*n)]),
            Endpoint::Client(c) => write!(f, "C{}", c + 1),
            Endpoint::Controller => f.write_str("CONTROLLER"),
        }
    }
}

fn client_at(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    match o {
        [10, 0, 1, c] => format!("C{c}"),
        _ => ip.to_string(),
    }
}

/// `node`'s `node_config` in the chain `order` (head first), CRAQ mode, key
/// range `[0, KEY_CAPACITY)`.
fn node_config(node: usize, order: &[usize], epoch: u32, lease_ticks: u32, sync_epoch: u32) -> NodeConfig {
    let at = order.iter().position(|n| *n == node).expect("the node is in the chain");
    let last = order.len() - 1;
    let role = match at {
        0 => Role::Head,
        _ if at == last => Role::Tail,
        _ => Role::Replica,
    };
    let unless_self = |peer: usize| if peer == node { Ipv4Addr::UNSPECIFIED } else { node_ip(peer) };
    NodeConfig {
        own_mac: node_mac(node),
        own_ip: node_ip(node),
        role,
        mode: Mode::Craq,
        head_ip: unless_self(order[0]),
        tail_ip: unless_self(order[last]),
        successor_ip: order.get(at + 1).map_or(Ipv4Addr::UNSPECIFIED, |n| node_ip(*n)),
        predecessor_ip: at.checked_sub(1).map_or(Ipv4Addr::UNSPECIFIED, |i| node_ip(order[i])),
        key_lo: 0,
        key_hi: KEY_CAPACITY as u32,
        epoch,
        lease_ticks,
        sync_epoch,
    }
}

/// `node`'s `fabric_port` entries in the chain `order`: every other node's
/// port is a fabric port, marked for the predecessor and the successor as
/// the planner marks them; the control plane's port is marked
/// `from_controller`. A node outside the chain has its ports unmarked.
fn fabric_ports(node: usize, order: &[usize]) -> Vec<FabricPort> {
    let at = order.iter().position(|n| *n == node);
    let neighbour = |offset: isize| at.and_then(|i| i.checked_add_signed(offset)).and_then(|i| order.get(i)).copied();
    let mut entries: Vec<FabricPort> = (0..NODES)
        .filter(|peer| *peer != node)
        .map(|peer| FabricPort {
            port: Endpoint::Node(peer as u8).port(),
            from_predecessor: neighbour(-1) == Some(peer),
            from_successor: neighbour(1) == Some(peer),
            from_controller: false,
        })
        .collect();
    entries.push(FabricPort {
        port: CONTROLLER_PORT,
        from_predecessor: false,
        from_successor: false,
        from_controller: true,
    });
    entries
}

/// A node of the chain `order` (configured, in epoch 1) or outside it (a
/// fresh, unconfigured node that may join later), every peer routed on its
/// own port, the clients' ports edge ports. `lease_ticks != 0` gives it a
/// lease that a `RENEW` at clock 0 would give (the clock starts at 0).
fn chain_node(node: usize, order: &[usize], clients: usize, lease_ticks: u32) -> Node {
    let mut n = Node::new(KEY_CAPACITY);
    if order.contains(&node) {
        n.set_config(node_config(node, order, EPOCH, lease_ticks, 0)).expect("valid node_config");
        n.set_lease(Lease { end_ticks: lease_ticks, held: lease_ticks != 0, clock_ticks: 0 });
    }
    for entry in fabric_ports(node, order) {
        n.fabric_ports_mut().insert(entry).expect("fabric port");
    }
    for peer in 0..NODES {
        let route = Route {
            prefix: node_ip(peer),
            prefix_len: 32,
            port: Endpoint::Node(peer as u8).port(),
            mac: node_mac(peer),
        };
        n.routes_mut().insert(route).expect("route");
    }
    for c in 0..clients {
        let port = Endpoint::Client(c as u8).port();
        let route = Route { prefix: client_ip(c), prefix_len: 32, port, mac: client_mac(c) };
        n.routes_mut().insert(route).expect("route");
    }
    n
}

/// `chain_node` with its keys in groups (§11): `node_config` serves no key
/// of its own (`key_lo = key_hi`); key 0 is a group on the full chain, key 1
/// a group on the reversed one, and each fabric port is marked for the
/// node's neighbours in either chain.
fn grouped_node(node: usize, clients: usize) -> Node {
    let mut n = chain_node(node, &FULL_CHAIN, clients, 0);
    let own = NodeConfig { key_lo: 0, key_hi: 0, ..node_config(node, &FULL_CHAIN, EPOCH, 0, 0) };
    n.set_config(own).expect("valid node_config");
    for (key, order) in [(0u16, FULL_CHAIN), (1, REVERSED_CHAIN)] {
        let chain = node_config(node, &order, GROUP_EPOCHS[usize::from(key)], 0, 0);
        let one_key = NodeConfig { key_lo: key, key_hi: u32::from(key) + 1, ..chain };
        let group = KeyGroup::of_chain(&one_key).expect("one key is a group");
        n.insert_key_group(group).expect("valid key_group");
    }
    for (full, reversed) in fabric_ports(node, &FULL_CHAIN).into_iter().zip(fabric_ports(node, &REVERSED_CHAIN)) {
        let either = FabricPort {
            from_predecessor: full.from_predecessor || reversed.from_predecessor,
            from_successor: full.from_successor || reversed.from_successor,
            ..full
        };
        n.fabric_ports_mut().modify(either).expect("fabric port");
    }
    n
}

// ---------------------------------------------------------------------------
// Frames in flight.

/// A frame on its way to `to`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Packet {
    to: Endpoint,
    bytes: FrameBytes,
}

impl Packet {
    /// A frame emitted toward `to`; it must parse as a NetCRAQ frame.
    fn new(to: Endpoint, bytes: FrameBytes) -> Packet {
        let packet = Packet { to, bytes };
        let frame = packet.frame();
        let h = frame.header;
        // The accessors below read fields at their offsets (§1) to keep the
        // checker fast; they must agree with the parser.
        assert_eq!(
            (packet.op(), packet.version(), packet.key(), packet.value(), packet.ident()),
            (h.op, h.version, h.key, h.value, frame.ident)
        );
        assert_eq!(packet.from(), Endpoint::with_mac(frame.eth_src));
        packet
    }

    fn frame(&self) -> NetcraqFrame {
        NetcraqFrame::parse(&self.bytes).expect("every frame in flight parses")
    }

    fn from(&self) -> Endpoint {
        Endpoint::with_mac(MacAddr(self.bytes[6..12].try_into().unwrap()))
    }

    /// A chain op a client host sent (§9.1).
    fn is_forged(&self) -> bool {
        matches!(self.from(), Endpoint::Client(_)) && self.op().is_chain()
    }

    /// IPv4 identification: bytes 4-5 of the IPv4 header at offset 14.
    fn ident(&self) -> u16 {
        u16::from_be_bytes([self.bytes[18], self.bytes[19]])
    }

    /// The NetCRAQ header is at offset 42: op, version, key, value.
    fn op(&self) -> Op {
        Op::from_code(self.bytes[42]).expect("known op")
    }

    fn version(&self) -> u8 {
        self.bytes[43]
    }

    fn key(&self) -> u16 {
        u16::from_be_bytes([self.bytes[44], self.bytes[45]])
    }

    fn value(&self) -> [u8; 16] {
        self.bytes[46..62].try_into().unwrap()
    }

    /// A chain frame's epoch (§1.4), at offset 62.
    fn epoch(&self) -> Option<u32> {
        self.op().is_chain().then(|| u32::from_be_bytes(self.bytes[62..66].try_into().unwrap()))
    }
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frame = self.frame();
        let h = frame.header;
        let op = h.op.name();
        match h.op {
            Op::Error => {
                let code = ErrorCode::from_code(h.version).map_or("?", ErrorCode::name);
                write!(f, "{}->{} {op} {code} key={}", self.from(), self.to, h.key)?
            }
            Op::Read if h.version == 0 => write!(f, "{}->{} {op} key={}", self.from(), self.to, h.key)?,
            Op::Sweep => return write!(f, "{}->{} {op} key={} epoch={}", self.from(), self.to, h.key, frame.epoch),
            Op::Renew => {
                let end = h.lease_end_ticks();
                return write!(f, "{}->{} {op} lease_end={end} epoch={}", self.from(), self.to, frame.epoch);
            }
            _ => write!(
                f,
                "{}->{} {op} key={} version={} value={}",
                self.from(),
                self.to,
                h.key,
                h.version,
                value_of(h.value)
            )?,
        }
        let client = match h.op {
            Op::ReadReply | Op::WriteReply | Op::Error => frame.ip_dst,
            _ => frame.ip_src,
        };
        write!(f, " [{} #{}]", client_at(client), frame.ident)?;
        match self.epoch() {
            Some(epoch) if epoch != EPOCH => write!(f, " epoch={epoch}"),
            _ => Ok(()),
        }
    }
}

/// A frame of the control plane to `node` in `epoch`, entering by the
/// node's PacketOut port (§10.1, §9.3).
fn control_frame(node: usize, header: NetcraqRepr, epoch: u32) -> Packet {
    let frame = NetcraqFrame {
        eth_src: CONTROLLER_MAC,
        eth_dst: node_mac(node),
        ip_src: CONTROLLER_IP,
        ip_dst: node_ip(node),
        ttl: 64,
        tos: 0,
        ident: 0,
        flags_fragment: 0x4000,
        udp_src: NETCRAQ_UDP_PORT,
        udp_dst: NETCRAQ_UDP_PORT,
        header,
        epoch,
    };
    Packet::new(Endpoint::Node(node as u8), frame.to_bytes())
}

/// The control plane's last `RENEW` to `node`, in epoch 1, carrying the end
/// of the lease the node starts with.
fn renew(node: usize) -> Packet {
    control_frame(
        node,
        NetcraqRepr { op: Op::Renew, version: 0, key: 0, value: NetcraqRepr::renew_value(LEASE_TICKS) },
        EPOCH,
    )
}

// ---------------------------------------------------------------------------
// Clients.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Read,
    Write(u8),
}

/// One operation of a client's script: `call` on `key`, sent to node `to`.
#[derive(Clone, Copy, Debug)]
struct Step {
    call: Call,
    key: u16,
    to: usize,
}

fn read(key: u16, to: usize) -> Step {
    Step { call: Call::Read, key, to }
}

fn write(key: u16, value: u8, to: usize) -> Step {
    Step { call: Call::Write(value), key, to }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Phase {
    /// May invoke its next operation (if any is left).
    Ready,
    /// Waiting for the reply to its current operation.
    Waiting,
    /// Got `ERROR OUTCOME_UNKNOWN`: the operation stays in flight and the client stops.
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Client {
    /// Index of the current operation in the script.
    pc: u8,
    phase: Phase,
    /// A read of this client returned a value some client wrote (non-vacuity).
    read_written: bool,
    /// A reply matched by (identification, key) had the wrong op or value.
    bad_reply: bool,
    /// The current operation was refused `NOT_SERVING` and goes to the head
    /// from then on.
    redirected: bool,
}

// ---------------------------------------------------------------------------
// State.

/// A node whose identity in the state space is its configuration, its
/// registers (lease registers included) and the one counter the control
/// plane reads (`KEY_RECEIVED`, §10.4): the other packet counters do not
/// make states distinct.
#[derive(Clone)]
struct ChainNode(Node);

impl ChainNode {
    fn slot(&self, key: u16) -> KeySlot {
        *self.0.registers().get(key).expect("key within capacity")
    }

    fn keys_received(&self) -> u64 {
        self.0.outcome_count(Outcome::KeyReceived)
    }

    fn role(&self) -> Option<Role> {
        self.0.config().map(|c| c.role)
    }

    fn epoch(&self) -> Option<u32> {
        self.0.config().map(|c| c.epoch)
    }

    fn is_syncing(&self) -> bool {
        self.0.config().is_some_and(NodeConfig::is_syncing)
    }

    /// A syncing tail that has not received `key` since its join (§10.4).
    fn lacks(&self, key: u16) -> bool {
        self.0.config().is_some_and(|c| c.is_syncing() && self.slot(key).received != c.sync_epoch)
    }
}

impl Hash for ChainNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.config().hash(state);
        self.0.registers().hash(state);
        self.0.lease().hash(state);
        self.keys_received().hash(state);
    }
}

impl PartialEq for ChainNode {
    fn eq(&self, other: &Self) -> bool {
        self.0.config() == other.0.config()
            && self.0.registers() == other.0.registers()
            && self.0.lease() == other.0.lease()
            && self.keys_received() == other.keys_received()
    }
}

impl fmt::Debug for ChainNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(config) = self.0.config().filter(|c| c.epoch != EPOCH) {
            write!(f, "{} epoch {}", config.role.name(), config.epoch)?;
            if config.is_syncing() {
                write!(f, " syncing {}", config.sync_epoch)?;
            }
            f.write_str(" ")?;
        }
        let mut list = f.debug_list();
        for (key, slot) in self.0.registers().non_zero() {
            let received = if slot.received != 0 { format!(" received={}", slot.received) } else { String::new() };
            list.entry(&format_args!(
                "key {key}: value={} version={} acked={} writer={}#{}{received}",
                value_of(slot.value),
                slot.version,
                slot.acked,
                client_at(slot.writer.ip),
                slot.writer.id
            ));
        }
        list.finish()
    }
}

type History = LinearizabilityTester<usize, Register<u8>>;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Used {
    losses: u8,
    duplicates: u8,
    retransmissions: u8,
    forgeries: u8,
    /// Sweeps the control plane repeated while a joining node lacked a key.
    resweeps: u8,
}

#[derive(Clone, Debug, PartialEq, Hash)]
struct State {
    nodes: [ChainNode; NODES],
    /// The multiset of frames in flight, sorted.
    network: Vec<Packet>,
    clients: Vec<Client>,
    /// One history per key.
    histories: Vec<History>,
    /// Whether every history is linearizable: derived from `histories`,
    /// recomputed when an operation returns (only a return can break it).
    linearizable: bool,
    used: Used,
    /// A node acted on a forged frame: counted it other than as dropped, or
    /// changed a register.
    forgery_accepted: bool,
    /// How many steps of the reconfiguration procedure the control plane
    /// has taken.
    control: u8,
    /// The lease clock `now` of every node (§2.4): one clock for all, which
    /// only the lease of the node being removed reads.
    now: u32,
    /// A node left out of the new configuration answered a READ from its
    /// registers once a node was in the new configuration.
    removed_node_served: bool,
    /// A syncing tail answered a READ of a key it had not received.
    unreceived_key_served: bool,
}

impl State {
    fn send(&mut self, packet: Packet) {
        let at = self.network.partition_point(|p| *p < packet);
        self.network.insert(at, packet);
    }

    fn take(&mut self, packet: &Packet) {
        let at = self.network.binary_search(packet).expect("the frame is in flight");
        self.network.remove(at);
    }
}

// ---------------------------------------------------------------------------
// The model.

/// Which frames a fault may hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    Nothing,
    /// The chain ops (CHAIN_WRITE, ACK, SYNC, SWEEP), and READs forwarded
    /// by a node to the tail.
    ChainInternal,
    AnyFrame,
    /// WRITEs on their way to the head, from a client or forwarded by a
    /// non-head: the late duplicates §3.4 assumes away.
    WritesToHead,
}

impl Scope {
    fn covers(self, packet: &Packet) -> bool {
        let op = packet.op();
        match self {
            Scope::Nothing => false,
            Scope::ChainInternal => match op {
                Op::Read => matches!(packet.from(), Endpoint::Node(_)),
                _ => op.is_chain(),
            },
            Scope::AnyFrame => true,
            Scope::WritesToHead => op == Op::Write && packet.to.is_node(HEAD),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Action {
    /// The client sends its next operation's request.
    Invoke(usize),
    /// The client times out and sends its current request again.
    Retransmit(usize),
    Deliver(Packet),
    Lose(Packet),
    Duplicate(Packet),
    /// A client host sends a forged chain frame.
    Forge(Forgery),
    /// The control plane takes the next step of its procedure.
    Control,
    /// The control plane sweeps the node it waits on again (§10.4 step 3).
    Resweep,
    /// The lease clock advances one tick.
    Tick,
}

/// How the node that a reconfiguration removes leaves the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Departure {
    /// It stops: every frame to it is lost from then on.
    Crash,
    /// It stays up, holding its registers and its old configuration, but
    /// is no longer renewed: the control plane waits until its lease has
    /// surely lapsed (§9.3) before the chain goes on without it.
    LeaseLapse,
}

/// One step of the control plane's procedure (§10), each its own model step.
#[derive(Clone, Debug)]
enum ControlStep {
    /// The node fails (not the control plane's doing: the failure it repairs).
    Crash(usize),
    /// Waits until the node's lease has lapsed (§9.3).
    AwaitLeaseLapse(usize),
    /// Installs the node's `node_config` of the new configuration and its
    /// `fabric_port` flags.
    Configure(usize, NodeConfig),
    /// Sends the node a `SWEEP` of one key (through PacketOut, §10.1).
    Sweep(usize, u16),
    /// Waits until the joining node's `KEY_RECEIVED` count reaches the key
    /// count, sweeping `swept` again whenever nothing is in flight (§10.4
    /// step 3: a frame was lost).
    AwaitReceived { joiner: usize, swept: usize },
}

/// A reconfiguration of the chain during traffic: the chains before and
/// after, and the control plane's procedure from one to the other.
struct Reconfiguration {
    /// The chain in epoch 1, head first; a node outside it is fresh and
    /// unconfigured.
    before: Vec<usize>,
    /// The chain in the new epoch.
    after: Vec<usize>,
    /// The node left out, if any.
    removed: Option<usize>,
    /// The node configured with `lease_ticks = LEASE_TICKS`, whose lease
    /// the procedure waits for; every other node has leases off.
    leased: Option<usize>,
    /// Whether the last `RENEW` to the leased node is still in flight.
    late_renew: LateRenew,
    procedure: Vec<ControlStep>,
}

/// The control plane's last `RENEW` to the leased node, sent at clock 0
/// carrying `lease_end = LEASE_TICKS` (the lease the node starts with):
/// whether it is still in flight when the run starts, to be delivered at
/// any moment, however late (a stopped node process resuming, §9.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LateRenew {
    /// Delivered before the run starts.
    Delivered,
    /// In flight; the node grants at most the end it carries (§5.1).
    InFlight,
    /// In flight, to a node that grants `lease_ticks` from the `RENEW`'s
    /// arrival, as nodes did before a `RENEW` carried its end: the model
    /// makes the real core do so by rewriting the carried end to
    /// `now + lease_ticks` on delivery (negative test (n)).
    InFlightRenewingFromArrival,
}

/// The lease of the node being removed, in ticks of the lease clock: a
/// `RENEW` at clock 0 carrying `lease_end = 1` holds it until the clock
/// reads 1.
const LEASE_TICKS: u32 = 1;

impl Reconfiguration {
    /// The node crashed by the first `control` steps, if any.
    fn crashed(&self, control: u8) -> Option<usize> {
        self.procedure[..usize::from(control)].iter().find_map(|step| match step {
            ControlStep::Crash(n) => Some(*n),
            _ => None,
        })
    }

    fn is_done(&self, control: u8) -> bool {
        usize::from(control) == self.procedure.len()
    }

    /// A node joins: the procedure waits until it has received every key.
    fn joins(&self) -> bool {
        self.procedure.iter().any(|step| matches!(step, ControlStep::AwaitReceived { .. }))
    }
}

/// A forged chain op on key 0 for node `target`, sent to node `via` (the
/// target itself, or a node that must not pass it on), from the client's
/// address or from the address of the target's neighbour that sends `op`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Forgery {
    op: Op,
    target: usize,
    via: usize,
    as_neighbour: bool,
}

struct ChainModel {
    scripts: Vec<Vec<Step>>,
    keys: u16,
    loss: Scope,
    max_losses: u8,
    duplication: Scope,
    max_duplicates: u8,
    max_retransmissions: u8,
    max_forgeries: u8,
    reconfiguration: Option<Reconfiguration>,
    /// Keys 0 and 1 in groups whose chains run in opposite directions (§11).
    groups: bool,
}

/// What one step did, for traces.
struct Effect {
    sent: Vec<Packet>,
    note: Option<String>,
}

impl ChainModel {
    /// The chain of `key`, head first.
    fn chain_of(&self, key: u16) -> [usize; NODES] {
        match self.groups && key == 1 {
            true => REVERSED_CHAIN,
            false => FULL_CHAIN,
        }
    }

    fn step_of(&self, client: usize, pc: u8) -> Step {
        self.scripts[client][usize::from(pc)]
    }

    fn done(&self, client: usize, c: &Client) -> bool {
        c.phase == Phase::Ready && usize::from(c.pc) == self.scripts[client].len()
    }

    fn all_done(&self, s: &State) -> bool {
        s.clients.iter().enumerate().all(|(c, client)| self.done(c, client))
    }

    /// The control plane has taken every step of its procedure.
    fn reconfigured(&self, s: &State) -> bool {
        self.reconfiguration.as_ref().is_some_and(|r| r.is_done(s.control))
    }

    /// The node a client sends its current operation to: the script's, or
    /// the head once that node has crashed or refused the operation
    /// `NOT_SERVING` (the head is never removed).
    fn target(&self, state: &State, client: usize) -> usize {
        let c = &state.clients[client];
        let to = self.step_of(client, c.pc).to;
        let crashed = self.reconfiguration.as_ref().and_then(|r| r.crashed(state.control));
        if c.redirected || crashed == Some(to) {
            HEAD
        } else {
            to
        }
    }

    /// A client's timeout: within the retransmission budget at any moment
    /// (spurious ones included), and, during a reconfiguration, whenever
    /// nothing at all is in flight (a frame was lost at a crashed node or
    /// at an epoch change, so nothing will ever answer).
    fn may_time_out(&self, state: &State) -> bool {
        self.times_out_when_quiet(state) || state.used.retransmissions < self.max_retransmissions
    }

    fn times_out_when_quiet(&self, state: &State) -> bool {
        self.reconfiguration.is_some() && state.network.is_empty()
    }

    fn request(&self, client: usize, pc: u8, retransmission: bool, to: usize) -> Packet {
        let step = Step { to, ..self.step_of(client, pc) };
        let (op, value, version) = match step.call {
            Call::Read => (Op::Read, 0, 0),
            // §3.4: a retransmitted WRITE has a non-zero version.
            Call::Write(v) => (Op::Write, v, u8::from(retransmission)),
        };
        let frame = NetcraqFrame {
            eth_src: client_mac(client),
            eth_dst: node_mac(step.to),
            ip_src: client_ip(client),
            ip_dst: node_ip(step.to),
            ttl: 64,
            tos: 0,
            ident: ident(client, usize::from(pc)),
            flags_fragment: 0x4000,
            udp_src: client_udp_port(client),
            udp_dst: NETCRAQ_UDP_PORT,
            header: NetcraqRepr { op, version, key: step.key, value: value_bytes(value) },
            epoch: 0,
        };
        Packet::new(Endpoint::Node(step.to as u8), frame.to_bytes())
    }

    /// The forged frame: a version that would do harm if applied (newer than
    /// the target's for a CHAIN_WRITE, its own stored one for an ACK, which
    /// would mark it clean), the current epoch, from client C1's host.
    fn forged(&self, state: &State, forgery: Forgery) -> Packet {
        let slot = state.nodes[forgery.target].slot(0);
        let (version, sender) = match forgery.op {
            Op::ChainWrite => (slot.version.wrapping_add(1), forgery.target.wrapping_sub(1)),
            _ => (slot.version, forgery.target + 1),
        };
        let ip_src = if forgery.as_neighbour && sender < 3 { node_ip(sender) } else { client_ip(0) };
        let frame = NetcraqFrame {
            eth_src: client_mac(0),
            eth_dst: node_mac(forgery.via),
            ip_src,
            ip_dst: node_ip(forgery.target),
            ttl: 64,
            tos: 0,
            ident: 999,
            flags_fragment: 0x4000,
            udp_src: client_udp_port(0),
            udp_dst: NETCRAQ_UDP_PORT,
            header: NetcraqRepr { op: forgery.op, version, key: 0, value: value_bytes(FORGED_VALUE) },
            epoch: EPOCH,
        };
        Packet::new(Endpoint::Node(forgery.via as u8), frame.to_bytes())
    }

    fn forgeries(&self) -> Vec<Forgery> {
        let mut all = Vec::new();
        for (op, target) in [Op::ChainWrite, Op::Ack].into_iter().flat_map(|op| (0..3).map(move |t| (op, t))) {
            for (via, as_neighbour) in [(target, false), (target, true), ((target + 1) % 3, false)] {
                all.push(Forgery { op, target, via, as_neighbour });
            }
        }
        all
    }

    fn next_control_step(&self, state: &State) -> Option<&ControlStep> {
        self.reconfiguration.as_ref().and_then(|r| r.procedure.get(usize::from(state.control)))
    }

    /// Whether the control plane may take its next step now: a wait is over.
    fn control_enabled(&self, state: &State) -> bool {
        match self.next_control_step(state) {
            None => false,
            // The control plane knows the end it granted, not the node's
            // registers (§9.3): it waits until the clock has passed it.
            Some(ControlStep::AwaitLeaseLapse(_)) => state.now >= LEASE_TICKS,
            Some(ControlStep::AwaitReceived { joiner, .. }) => self.has_every_key(state, *joiner),
            Some(_) => true,
        }
    }

    /// The joining node's `KEY_RECEIVED` count has reached the key count
    /// (§10.4 step 3), as the control plane reads it.
    fn has_every_key(&self, state: &State, joiner: usize) -> bool {
        state.nodes[joiner].keys_received() >= u64::from(self.keys)
    }

    /// The control plane's timeout while it waits for a joining node: like
    /// a client's, it fires when nothing is in flight, so nothing is still
    /// on its way to the joining node. It re-sweeps at most once per frame
    /// the network may lose, so that a procedure that cannot complete ends
    /// in a terminal state, where `the reconfiguration completes` sees it.
    fn resweep_enabled(&self, state: &State) -> bool {
        match self.next_control_step(state) {
            Some(ControlStep::AwaitReceived { joiner, .. }) => {
                state.network.is_empty() && !self.has_every_key(state, *joiner) && state.used.resweeps < self.max_losses
            }
            _ => false,
        }
    }

    fn control(&self, next: &mut State, effect: &mut Effect) {
        let reconfiguration = self.reconfiguration.as_ref().expect("a reconfiguration");
        let step = &reconfiguration.procedure[usize::from(next.control)];
        next.control += 1;
        match step {
            ControlStep::Crash(n) => next.network.retain(|p| !p.to.is_node(*n)),
            ControlStep::AwaitLeaseLapse(_) | ControlStep::AwaitReceived { .. } => {}
            ControlStep::Configure(n, config) => {
                let node = &mut next.nodes[*n].0;
                node.set_config(*config).expect("valid node_config");
                for entry in fabric_ports(*n, &reconfiguration.after) {
                    node.fabric_ports_mut().modify(entry).expect("fabric port");
                }
            }
            ControlStep::Sweep(n, key) => effect.sent.push(self.sweep(*n, *key)),
        }
    }

    fn late_renew(&self) -> LateRenew {
        self.reconfiguration.as_ref().map_or(LateRenew::Delivered, |r| r.late_renew)
    }

    /// The control plane's `SWEEP` of `key` to `node`, in the new epoch.
    fn sweep(&self, node: usize, key: u16) -> Packet {
        control_frame(node, NetcraqRepr { op: Op::Sweep, version: 0, key, value: value_bytes(0) }, NEW_EPOCH)
    }

    fn apply(&self, state: &State, action: &Action) -> (State, Effect) {
        let mut next = state.clone();
        let mut effect = Effect { sent: Vec::new(), note: None };
        match action {
            Action::Invoke(c) => {
                let client = &mut next.clients[*c];
                let step = self.step_of(*c, client.pc);
                let op = match step.call {
                    Call::Read => RegisterOp::Read,
                    Call::Write(v) => RegisterOp::Write(v),
                };
                next.histories[usize::from(step.key)].on_invoke(*c, op).expect("one operation per client at a time");
                client.phase = Phase::Waiting;
                let to = self.target(state, *c);
                effect.sent.push(self.request(*c, client.pc, false, to));
            }
            Action::Retransmit(c) => {
                if !self.times_out_when_quiet(state) {
                    next.used.retransmissions += 1;
                }
                effect.sent.push(self.request(*c, next.clients[*c].pc, true, self.target(state, *c)));
            }
            Action::Control => self.control(&mut next, &mut effect),
            Action::Resweep => {
                next.used.resweeps += 1;
                if let Some(ControlStep::AwaitReceived { swept, .. }) = self.next_control_step(state) {
                    effect.sent.extend((0..self.keys).map(|key| self.sweep(*swept, key)));
                }
            }
            Action::Tick => {
                next.now += 1;
                for node in &mut next.nodes {
                    node.0.set_clock(next.now);
                }
            }
            Action::Lose(p) => {
                next.used.losses += 1;
                next.take(p);
            }
            Action::Duplicate(p) => {
                next.used.duplicates += 1;
                effect.sent.push(p.clone());
            }
            Action::Forge(forgery) => {
                next.used.forgeries += 1;
                effect.sent.push(self.forged(state, *forgery));
            }
            Action::Deliver(p) => {
                next.take(p);
                match p.to {
                    Endpoint::Node(n) => self.deliver_to_node(&mut next, usize::from(n), p, &mut effect),
                    Endpoint::Client(c) => self.deliver_to_client(&mut next, usize::from(c), p, &mut effect),
                    Endpoint::Controller => unreachable!("no frame goes to the control plane"),
                }
            }
        }
        let crashed = self.reconfiguration.as_ref().and_then(|r| r.crashed(next.control));
        for packet in &effect.sent {
            if crashed.is_some_and(|n| packet.to.is_node(n)) {
                continue;
            }
            next.send(packet.clone());
        }
        // A reply its client cannot match (it waits for another operation,
        // or for none) stays unmatchable: delivering it would only remove it.
        // Removing it at once keeps such frames from multiplying the states.
        let clients = &next.clients;
        next.network.retain(|p| match p.to {
            Endpoint::Node(_) | Endpoint::Controller => true,
            Endpoint::Client(c) => {
                let client = &clients[usize::from(c)];
                client.phase == Phase::Waiting
                    && p.ident() == ident(usize::from(c), usize::from(client.pc))
                    && p.key() == self.step_of(usize::from(c), client.pc).key
            }
        });
        (next, effect)
    }

    fn deliver_to_node(&self, next: &mut State, n: usize, p: &Packet, effect: &mut Effect) {
        let mut frame = p.bytes;
        if p.op() == Op::Renew && self.late_renew() == LateRenew::InFlightRenewingFromArrival {
            let from_arrival = NetcraqRepr::renew_value(next.now + LEASE_TICKS);
            frame[46..62].copy_from_slice(&from_arrival);
        }
        let mut scratch = [0u8; CHAIN_FRAME_LEN];
        let registers = next.nodes[n].0.registers().clone();
        let epoch = next.nodes[n].epoch();
        let unreceived = p.op() == Op::Read && next.nodes[n].lacks(p.key());
        let verdict = next.nodes[n].0.process(p.from().port(), &mut frame, &mut scratch);
        effect.note = Some(verdict.outcome.name().to_string());
        if p.is_forged() {
            let changed = next.nodes[n].0.registers() != &registers;
            next.forgery_accepted |= changed || !verdict.outcome.is_drop();
            return;
        }
        // Every other frame of the model is well-formed and expected by its
        // receiver, but for a chain frame of another configuration than the
        // receiver's (§9.2).
        let other_epoch = self.reconfiguration.is_some() && p.epoch().is_some() && p.epoch() != epoch;
        assert!(!verdict.outcome.is_drop() || other_epoch, "{p:?} dropped by the node: {}", verdict.outcome.name());
        assert_eq!(verdict.unrouted, 0, "{p:?}: an output had no route");
        if verdict.outcome == Outcome::ReadLocal {
            next.unreceived_key_served |= unreceived;
            next.removed_node_served |= self.is_removed(n) && next.nodes.iter().any(|m| m.epoch() == Some(NEW_EPOCH));
        }
        for (egress, bytes) in [(verdict.primary, &frame[..]), (verdict.secondary, &scratch[..])] {
            if let Some(egress) = egress {
                let bytes = FrameBytes::copy_from(&bytes[..egress.len]).expect("at most a chain frame");
                effect.sent.push(Packet::new(Endpoint::at_port(egress.port), bytes));
            }
        }
    }

    fn is_removed(&self, node: usize) -> bool {
        self.reconfiguration.as_ref().is_some_and(|r| r.removed == Some(node))
    }

    fn deliver_to_client(&self, next: &mut State, c: usize, p: &Packet, effect: &mut Effect) {
        let frame = p.frame();
        let client = &mut next.clients[c];
        assert_eq!(frame.udp_dst, client_udp_port(c), "replies go to the request's source port");
        if client.phase != Phase::Waiting {
            effect.note = Some("ignored: no operation outstanding".into());
            return;
        }
        let step = self.step_of(c, client.pc);
        if frame.ident != ident(c, usize::from(client.pc)) || frame.header.key != step.key {
            effect.note = Some("ignored: reply to an earlier operation".into());
            return;
        }
        let history = &mut next.histories[usize::from(step.key)];
        let value = value_of(frame.header.value);
        let ret = match (step.call, frame.header.op) {
            (Call::Read, Op::ReadReply) => {
                client.read_written |= value != 0;
                RegisterRet::ReadOk(value)
            }
            (Call::Write(v), Op::WriteReply) => {
                client.bad_reply |= value != v;
                RegisterRet::WriteOk
            }
            (Call::Write(_), Op::Error) if frame.header.version == ErrorCode::OutcomeUnknown as u8 => {
                client.phase = Phase::Unknown;
                effect.note = Some("outcome unknown: the write stays in flight, the client stops".into());
                return;
            }
            // The read stays in flight in the history and is asked again of
            // the head, which always serves: it returns once, when answered.
            (Call::Read, Op::Error) if frame.header.version == ErrorCode::NotServing as u8 => {
                client.redirected = true;
                effect.note = Some("not serving: the client asks the head".into());
                effect.sent.push(self.request(c, client.pc, false, HEAD));
                return;
            }
            _ => {
                client.bad_reply = true;
                effect.note = Some("BAD REPLY".into());
                return;
            }
        };
        effect.note = Some(format!("returns {ret:?}"));
        history.on_return(c, ret).expect("the operation is in flight");
        next.linearizable &= history.serialized_history().is_some();
        client.pc += 1;
        client.phase = Phase::Ready;
        client.redirected = false;
    }

    fn describe(&self, state: &State, step: &ControlStep) -> String {
        match step {
            ControlStep::Crash(n) => format!("{} CRASHES", NODE_NAMES[*n]),
            ControlStep::AwaitLeaseLapse(n) => format!("CONTROLLER sees {}'s lease lapsed", NODE_NAMES[*n]),
            ControlStep::Configure(n, c) if state.nodes[*n].is_syncing() && !c.is_syncing() => {
                format!("CONTROLLER makes {} a full member (sync_epoch 0)", NODE_NAMES[*n])
            }
            ControlStep::Configure(n, c) => {
                let syncing = if c.is_syncing() { format!(" syncing {}", c.sync_epoch) } else { String::new() };
                format!("CONTROLLER configures {} as {} in epoch {}{syncing}", NODE_NAMES[*n], c.role.name(), c.epoch)
            }
            ControlStep::Sweep(n, key) => format!("CONTROLLER sweeps key {key} of {}", NODE_NAMES[*n]),
            ControlStep::AwaitReceived { joiner, .. } => {
                format!("CONTROLLER sees {} has received every key", NODE_NAMES[*joiner])
            }
        }
    }

    /// A readable account of a path: each action, what the receiving node did
    /// and the frames it put in flight, then the histories.
    fn explain(&self, path: &Path<State, Action>) -> String {
        let mut out = String::new();
        let steps = path.clone().into_vec();
        let mut last = None;
        for (i, (state, action)) in steps.iter().enumerate() {
            let Some(action) = action else {
                last = Some(state.clone());
                continue;
            };
            let (next, effect) = self.apply(state, action);
            let what = match action {
                Action::Invoke(c) => {
                    let step = self.step_of(*c, state.clients[*c].pc);
                    format!("C{} invokes {:?} on key {}", c + 1, step.call, step.key)
                }
                Action::Retransmit(c) => format!("C{} times out and retransmits", c + 1),
                Action::Deliver(p) => format!("deliver {p:?}"),
                Action::Lose(p) => format!("LOSE {p:?}"),
                Action::Duplicate(p) => format!("DUPLICATE {p:?}"),
                Action::Forge(forgery) => format!("FORGE {:?}", self.forged(state, *forgery)),
                Action::Control => self.describe(state, self.next_control_step(state).expect("a step left")),
                Action::Resweep => "CONTROLLER sweeps again".to_string(),
                Action::Tick => format!("the lease clock reads {}", state.now + 1),
            };
            out += &format!("{:>3}. {what}", i + 1);
            if let Some(note) = effect.note {
                out += &format!("  => {note}");
            }
            out += "\n";
            let crashed = self.reconfiguration.as_ref().and_then(|r| r.crashed(next.control));
            for p in effect.sent.iter().filter(|_| !matches!(action, Action::Duplicate(_))) {
                let dead = match p.to {
                    _ if next.network.binary_search(p).is_ok() => "",
                    Endpoint::Node(n) if crashed == Some(usize::from(n)) => "  (lost: its node has crashed)",
                    _ => "  (unmatchable: its client is not waiting for it, discarded)",
                };
                out += &format!("       sends {p:?}{dead}\n");
            }
        }
        if let Some(last) = last {
            for (key, history) in last.histories.iter().enumerate() {
                out += &format!("key {key} history: {history:?}\n");
            }
            for (n, node) in last.nodes.iter().enumerate() {
                out += &format!("{}: {:?}\n", NODE_NAMES[n], node);
            }
        }
        out
    }
}

impl Model for ChainModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        let clients = self.scripts.len();
        let chain = self.reconfiguration.as_ref().map_or(&FULL_CHAIN[..], |r| &r.before);
        let leased = self.reconfiguration.as_ref().and_then(|r| r.leased);
        let nodes = std::array::from_fn(|n| {
            let lease_ticks = if leased == Some(n) { LEASE_TICKS } else { 0 };
            ChainNode(match self.groups {
                true => grouped_node(n, clients),
                false => chain_node(n, chain, clients, lease_ticks),
            })
        });
        let client = Client { pc: 0, phase: Phase::Ready, read_written: false, bad_reply: false, redirected: false };
        let network = match (leased, self.late_renew()) {
            (Some(node), LateRenew::InFlight | LateRenew::InFlightRenewingFromArrival) => vec![renew(node)],
            _ => Vec::new(),
        };
        vec![State {
            nodes,
            network,
            clients: vec![client; clients],
            histories: vec![History::new(Register(0)); usize::from(self.keys)],
            linearizable: true,
            used: Used::default(),
            forgery_accepted: false,
            control: 0,
            now: 0,
            removed_node_served: false,
            unreceived_key_served: false,
        }]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        for (c, client) in state.clients.iter().enumerate() {
            match client.phase {
                Phase::Ready if usize::from(client.pc) < self.scripts[c].len() => actions.push(Action::Invoke(c)),
                Phase::Waiting if self.may_time_out(state) => actions.push(Action::Retransmit(c)),
                _ => {}
            }
        }
        if self.control_enabled(state) {
            actions.push(Action::Control);
        }
        if self.resweep_enabled(state) {
            actions.push(Action::Resweep);
        }
        let leased = self.reconfiguration.as_ref().and_then(|r| r.leased);
        if leased.is_some() && state.now < LEASE_TICKS {
            actions.push(Action::Tick);
        }
        if state.used.forgeries < self.max_forgeries {
            actions.extend(self.forgeries().into_iter().map(Action::Forge));
        }
        let can_lose = state.used.losses < self.max_losses;
        let can_duplicate = state.used.duplicates < self.max_duplicates;
        for (i, p) in state.network.iter().enumerate() {
            if i > 0 && state.network[i - 1] == *p {
                continue;
            }
            actions.push(Action::Deliver(p.clone()));
            if can_lose && self.loss.covers(p) {
                actions.push(Action::Lose(p.clone()));
            }
            if can_duplicate && self.duplication.covers(p) {
                actions.push(Action::Duplicate(p.clone()));
            }
        }
    }

    fn next_state(&self, state: &State, action: Action) -> Option<State> {
        Some(self.apply(state, &action).0)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut properties = vec![
            Property::always("linearizable", |_, s: &State| s.linearizable),
            Property::always("replies match their requests", |_, s: &State| s.clients.iter().all(|c| !c.bad_reply)),
            Property::always("acked is never newer than version", |m: &Self, s: &State| {
                slots(m, s).all(|(_, _, slot)| !is_newer(slot.acked, slot.version))
            }),
            Property::always("a version has one value", one_value_per_version),
            Property::sometimes("a write completes", |m: &Self, s: &State| {
                s.clients.iter().enumerate().any(|(c, client)| {
                    m.scripts[c][..usize::from(client.pc)].iter().any(|step| matches!(step.call, Call::Write(_)))
                })
            }),
            Property::sometimes("a read returns a written value", |_, s: &State| {
                s.clients.iter().any(|c| c.read_written)
            }),
        ];
        match &self.reconfiguration {
            None => properties.extend(fixed_chain_properties()),
            Some(reconfiguration) => properties.extend(reconfiguration_properties(reconfiguration)),
        }
        if self.max_retransmissions > 0 {
            properties.push(Property::sometimes("the head gets a retransmitted write it matches", |_, s: &State| {
                s.network.iter().filter(|p| p.to.is_node(HEAD) && p.op() == Op::Write && p.version() != 0).any(|p| {
                    let (f, slot) = (p.frame(), s.nodes[HEAD].slot(p.key()));
                    (f.ip_src, f.udp_src, f.header.value) == (slot.writer.ip, slot.writer.port, slot.value)
                })
            }));
            properties.push(Property::sometimes("a write's outcome is unknown", |_, s: &State| {
                s.clients.iter().any(|c| c.phase == Phase::Unknown)
            }));
        }
        if self.max_forgeries > 0 {
            properties.push(Property::always("no forged chain frame is acted on", |_, s: &State| !s.forgery_accepted));
            properties.push(Property::sometimes("a forged chain frame reaches a dirty key", |_, s: &State| {
                s.network.iter().any(|p| match p.to {
                    Endpoint::Node(n) => p.is_forged() && s.nodes[usize::from(n)].slot(p.key()).is_dirty(),
                    _ => false,
                })
            }));
        }
        if self.max_losses > 0 {
            properties.push(Property::sometimes(
                "every client completes its script despite a loss",
                |m: &Self, s: &State| s.used.losses > 0 && m.all_done(s),
            ));
            if self.reconfiguration.as_ref().is_some_and(Reconfiguration::joins) {
                properties.push(Property::sometimes("the control plane sweeps again", |m: &Self, s: &State| {
                    m.resweep_enabled(s)
                }));
            }
        }
        properties
    }
}

/// The tail of `key`'s chain.
fn tail_of(m: &ChainModel, s: &State, key: u16) -> KeySlot {
    s.nodes[m.chain_of(key)[NODES - 1]].slot(key)
}

/// The properties of a fixed chain per key (§7's argument): HEAD, REPLICA,
/// TAIL, or the reversed chain for key 1 in groups.
fn fixed_chain_properties() -> Vec<Property<ChainModel>> {
    vec![
        Property::always("the tail is clean", |m: &ChainModel, s: &State| {
            (0..m.keys).all(|k| !tail_of(m, s, k).is_dirty())
        }),
        Property::always("versions never grow down the chain", |m: &ChainModel, s: &State| {
            (0..m.keys).all(|k| {
                let [h, r, t] = m.chain_of(k).map(|n| s.nodes[n].slot(k).version);
                !is_newer(r, h) && !is_newer(t, r)
            })
        }),
        Property::always("only committed versions are acked", |m: &ChainModel, s: &State| {
            slots(m, s).all(|(_, k, slot)| !is_newer(slot.acked, tail_of(m, s, k).version))
        }),
        Property::always("a clean node holds the tail's version and value", |m: &ChainModel, s: &State| {
            slots(m, s).all(|(_, k, slot)| {
                let tail = tail_of(m, s, k);
                slot.is_dirty() || (slot.version, slot.value) == (tail.version, tail.value)
            })
        }),
        Property::always("quiescent runs without loss converge", converged_when_quiet),
        Property::sometimes("a read of a dirty key is forwarded to the tail", |_, s: &State| {
            s.network.iter().any(|p| p.to.is_node(TAIL) && matches!(p.from(), Endpoint::Node(_)) && p.op() == Op::Read)
        }),
        // The next three are reached in a state where the event is
        // enabled (a frame in flight whose delivery causes it), not by
        // reading the nodes' counters: counters do not make states
        // distinct, so a state first reached along a path without the
        // event would hide it, depending on the exploration order.
        Property::sometimes("the tail gets a duplicate commit", |_, s: &State| stale_chain_write_in_flight(s, TAIL)),
        Property::sometimes("the replica gets a stale CHAIN_WRITE", |_, s: &State| {
            stale_chain_write_in_flight(s, REPLICA)
        }),
    ]
}

/// The properties of a reconfiguration during traffic (§9.2, §9.3, §10).
/// The `sometimes` ones are reached, as above, where the event is enabled.
fn reconfiguration_properties(reconfiguration: &Reconfiguration) -> Vec<Property<ChainModel>> {
    let mut properties = vec![
        Property::always("no node holds a version newer than the head's", |m: &ChainModel, s: &State| {
            slots(m, s).all(|(_, k, slot)| !is_newer(slot.version, s.nodes[HEAD].slot(k).version))
        }),
        Property::always("a removed node answers no READ once the new configuration is in effect", |_, s: &State| {
            !s.removed_node_served
        }),
        Property::always("a syncing tail answers no READ of a key it has not received", |_, s: &State| {
            !s.unreceived_key_served
        }),
        Property::always("the chain converges when quiet", converged_after_reconfiguration),
        Property::always("no acknowledged write is lost", no_acknowledged_write_lost),
        Property::eventually("the reconfiguration completes", |m: &ChainModel, s: &State| m.reconfigured(s)),
        Property::sometimes("every client completes its script after the reconfiguration", |m: &ChainModel, s| {
            m.reconfigured(s) && m.all_done(s)
        }),
        Property::sometimes("a chain frame crosses epochs", |_, s: &State| {
            s.network.iter().any(|p| match p.to {
                Endpoint::Node(n) => p.epoch().is_some_and(|e| s.nodes[usize::from(n)].epoch() != Some(e)),
                _ => false,
            })
        }),
        Property::sometimes("a dirty key is re-sent by the sweep", |_, s: &State| {
            sweep_in_flight(s, |node, key| {
                matches!(node.role(), Some(Role::Head | Role::Replica)) && node.slot(key).is_dirty()
            })
        }),
    ];
    let new_tail = *reconfiguration.after.last().expect("a chain");
    if new_tail != *reconfiguration.before.last().expect("a chain") && reconfiguration.before.contains(&new_tail) {
        properties.push(Property::sometimes("a write is committed by the sweep at a new tail", |_, s: &State| {
            sweep_in_flight(s, |node, key| node.role() == Some(Role::Tail) && node.slot(key).is_dirty())
        }));
    }
    if reconfiguration.leased.is_some() || reconfiguration.joins() {
        properties.push(Property::sometimes("a READ is refused NOT_SERVING", |_, s: &State| {
            s.network.iter().any(|p| p.op() == Op::Error && p.version() == ErrorCode::NotServing as u8)
        }));
    }
    if reconfiguration.joins() {
        properties
            .push(Property::sometimes("a key is received by SYNC", |_, s: &State| received_in_flight(s, Op::Sync)));
        properties.push(Property::sometimes("a key is received by CHAIN_WRITE during sync", |_, s: &State| {
            received_in_flight(s, Op::ChainWrite)
        }));
    }
    properties
}

/// A `SWEEP` in flight to a node of its epoch, for which `finds(node, key)` holds.
fn sweep_in_flight(s: &State, finds: impl Fn(&ChainNode, u16) -> bool) -> bool {
    s.network.iter().any(|p| match p.to {
        Endpoint::Node(n) => {
            let node = &s.nodes[usize::from(n)];
            p.op() == Op::Sweep && node.epoch() == p.epoch() && finds(node, p.key())
        }
        _ => false,
    })
}

/// An `op` of the receiver's epoch in flight to a syncing tail that lacks its key.
fn received_in_flight(s: &State, op: Op) -> bool {
    s.network.iter().any(|p| match p.to {
        Endpoint::Node(n) => {
            let node = &s.nodes[usize::from(n)];
            p.op() == op && node.epoch() == p.epoch() && node.lacks(p.key())
        }
        _ => false,
    })
}

/// Every (node, key, slot) of the keys the scripts use.
fn slots<'a>(m: &ChainModel, s: &'a State) -> impl Iterator<Item = (usize, u16, KeySlot)> + 'a {
    let keys = m.keys;
    (0..3).flat_map(move |n| (0..keys).map(move |k| (n, k, s.nodes[n].slot(k))))
}

/// A `CHAIN_WRITE` in flight to `node` whose version is not newer than the
/// node's: delivered, it is `CHAIN_WRITE_STALE` at the replica and
/// `COMMIT_DUPLICATE` at the tail.
fn stale_chain_write_in_flight(s: &State, node: usize) -> bool {
    s.network.iter().any(|p| {
        p.to.is_node(node) && p.op() == Op::ChainWrite && !is_newer(p.version(), s.nodes[node].slot(p.key()).version)
    })
}

/// Versions are stamped once (§7.5): across every node's registers and every
/// frame in flight that carries a version, a key's version names one value.
fn one_value_per_version(m: &ChainModel, s: &State) -> bool {
    let mut seen = BTreeSet::new();
    let from_nodes = slots(m, s).map(|(_, k, slot)| (k, slot.version, slot.value));
    let from_network = s
        .network
        .iter()
        .filter(|p| {
            !p.is_forged() && matches!(p.op(), Op::ChainWrite | Op::Ack | Op::Sync | Op::WriteReply | Op::ReadReply)
        })
        .map(|p| (p.key(), p.version(), p.value()));
    for (key, version, value) in from_nodes.chain(from_network) {
        seen.insert((key, version, value));
    }
    let versions: BTreeSet<_> = seen.iter().map(|(k, v, _)| (*k, *v)).collect();
    versions.len() == seen.len()
}

/// Quiet after a reconfiguration: the control plane is done, nothing is in
/// flight, nothing was lost and no client waits.
fn quiet_after_reconfiguration(m: &ChainModel, s: &State) -> bool {
    m.reconfigured(s)
        && s.network.is_empty()
        && s.used.losses == 0
        && s.clients.iter().all(|c| c.phase != Phase::Waiting)
}

/// Quiet after a reconfiguration, every member of the new chain is a full
/// member and holds every key clean and identical (value, version, acked,
/// writer; `kv_received` differs by design).
fn converged_after_reconfiguration(m: &ChainModel, s: &State) -> bool {
    if !quiet_after_reconfiguration(m, s) {
        return true;
    }
    let members = &m.reconfiguration.as_ref().expect("a reconfiguration").after;
    let tail = &s.nodes[*members.last().expect("a chain")];
    members.iter().all(|n| !s.nodes[*n].is_syncing())
        && (0..m.keys).all(|k| {
            let committed = KeySlot { received: 0, ..tail.slot(k) };
            !committed.is_dirty() && members.iter().all(|n| KeySlot { received: 0, ..s.nodes[*n].slot(k) } == committed)
        })
}

/// Quiet after a reconfiguration, what the tail holds is what a read would
/// return: each key's history stays linearizable with a read of the tail's
/// value after every operation, so no acknowledged write was lost behind it.
fn no_acknowledged_write_lost(m: &ChainModel, s: &State) -> bool {
    if !quiet_after_reconfiguration(m, s) {
        return true;
    }
    let members = &m.reconfiguration.as_ref().expect("a reconfiguration").after;
    let tail = &s.nodes[*members.last().expect("a chain")];
    let reader = s.clients.len();
    s.histories.iter().enumerate().all(|(k, history)| {
        let mut history = history.clone();
        let value = value_of(tail.slot(k as u16).value);
        history.on_invoke(reader, RegisterOp::Read).expect("a new reader");
        history.on_return(reader, RegisterRet::ReadOk(value)).expect("its read");
        history.serialized_history().is_some()
    })
}

/// With nothing in flight and nothing lost, no client waits and every key is
/// clean and identical (value, version, acked, writer) at every node.
fn converged_when_quiet(m: &ChainModel, s: &State) -> bool {
    if !s.network.is_empty() || s.used.losses > 0 {
        return true;
    }
    let no_waiting = s.clients.iter().all(|c| c.phase != Phase::Waiting);
    let same = (0..m.keys).all(|k| {
        let tail = tail_of(m, s, k);
        !tail.is_dirty() && s.nodes.iter().all(|n| n.slot(k) == tail)
    });
    no_waiting && same
}

// ---------------------------------------------------------------------------
// Configurations.

/// One key. Writes at the head and at the tail (which forwards it to the
/// head); reads sent to the replica, the tail and the head. C1 reads at the
/// replica and then at the tail while C2's write may be uncommitted: a dirty
/// value returned by the first read and an older one by the second is a
/// linearizability violation the checker must be able to see.
fn scripts() -> Vec<Vec<Step>> {
    vec![
        // C1
        vec![write(0, 1, HEAD), read(0, REPLICA), read(0, TAIL)],
        // C2
        vec![write(0, 2, TAIL), read(0, HEAD)],
    ]
}

/// Three clients, two keys: adds a write at the replica, a client on the
/// second key, and a client whose operations span both keys.
fn two_key_scripts() -> Vec<Vec<Step>> {
    vec![
        vec![write(0, 1, HEAD), read(0, REPLICA)],
        vec![write(0, 2, TAIL), read(1, HEAD)],
        vec![write(1, 3, REPLICA), read(0, TAIL), read(1, REPLICA)],
    ]
}

fn model(scripts: Vec<Vec<Step>>, loss: (Scope, u8), duplication: (Scope, u8), retransmissions: u8) -> ChainModel {
    forging_model(scripts, loss, duplication, retransmissions, 0)
}

fn forging_model(
    scripts: Vec<Vec<Step>>,
    loss: (Scope, u8),
    duplication: (Scope, u8),
    retransmissions: u8,
    forgeries: u8,
) -> ChainModel {
    let keys = scripts.iter().flatten().map(|s| s.key + 1).max().unwrap_or(1);
    ChainModel {
        scripts,
        keys,
        loss: loss.0,
        max_losses: loss.1,
        duplication: duplication.0,
        max_duplicates: duplication.1,
        max_retransmissions: retransmissions,
        max_forgeries: forgeries,
        reconfiguration: None,
        groups: false,
    }
}

const NO_FAULT: (Scope, u8) = (Scope::Nothing, 0);

/// One key, two clients, for a reconfiguration: each client writes, then
/// reads at the TAIL or at the REPLICA, the nodes a removal takes away, so
/// that requests reach a removed node after the new configuration is in
/// effect (clients learn of it late).
fn reconfiguration_scripts() -> Vec<Vec<Step>> {
    vec![vec![write(0, 1, HEAD), read(0, TAIL)], vec![write(0, 2, REPLICA), read(0, REPLICA)]]
}

/// One key, two clients, for a TAIL joining the chain HEAD, REPLICA: reads
/// of a dirty key at the head and the replica go to the tail, which may be
/// the joining one.
fn join_scripts() -> Vec<Vec<Step>> {
    vec![vec![write(0, 1, HEAD), read(0, HEAD)], vec![write(0, 2, REPLICA)]]
}

/// A model of `scripts` during the reconfiguration `build(keys)` makes, with
/// no fault besides the reconfiguration's own and the timeouts it causes.
fn reconfiguring(scripts: Vec<Vec<Step>>, build: impl FnOnce(u16) -> Reconfiguration) -> ChainModel {
    faulty_reconfiguring(scripts, NO_FAULT, NO_FAULT, 0, build)
}

/// As [`reconfiguring`], with faults.
fn faulty_reconfiguring(
    scripts: Vec<Vec<Step>>,
    loss: (Scope, u8),
    duplication: (Scope, u8),
    retransmissions: u8,
    build: impl FnOnce(u16) -> Reconfiguration,
) -> ChainModel {
    let mut model = model(scripts, loss, duplication, retransmissions);
    model.reconfiguration = Some(build(model.keys));
    model
}

/// §10.2, §10.3: `removed` leaves the chain HEAD, REPLICA, TAIL by
/// `departure`; the control plane configures every remaining node in the
/// new epoch, the new tail first, one node per step, then sweeps every key
/// of the new tail, then of the others.
fn removal(removed: usize, departure: Departure, keys: u16) -> Reconfiguration {
    let before = FULL_CHAIN.to_vec();
    let after: Vec<usize> = FULL_CHAIN.into_iter().filter(|n| *n != removed).collect();
    let mut procedure = vec![match departure {
        Departure::Crash => ControlStep::Crash(removed),
        Departure::LeaseLapse => ControlStep::AwaitLeaseLapse(removed),
    }];
    let tail_first: Vec<usize> = after.iter().rev().copied().collect();
    procedure.extend(tail_first.iter().map(|n| ControlStep::Configure(*n, node_config(*n, &after, NEW_EPOCH, 0, 0))));
    procedure.extend(sweeps(&tail_first, keys));
    let leased = (departure == Departure::LeaseLapse).then_some(removed);
    Reconfiguration { before, after, removed: Some(removed), leased, late_renew: LateRenew::Delivered, procedure }
}

/// How much of the chain a join sweeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JoinSweep {
    /// The old tail only, as §10.4 step 2 says.
    OldTail,
    /// The old tail, then every node before it, as §10.3 ends: "in every
    /// case the control plane sweeps every node".
    EveryNode,
}

/// §10.4: a fresh TAIL joins the chain HEAD, REPLICA as a syncing tail;
/// then the REPLICA (the old tail) and the HEAD are configured, the old
/// tail is swept (and the head, with `JoinSweep::EveryNode`), the old tail
/// again until the new one has received every key, and the new tail becomes
/// a full member.
fn join(keys: u16, swept: JoinSweep) -> Reconfiguration {
    let after = FULL_CHAIN.to_vec();
    let configure = |n: usize, sync_epoch| ControlStep::Configure(n, node_config(n, &after, NEW_EPOCH, 0, sync_epoch));
    let mut procedure = vec![configure(TAIL, NEW_EPOCH), configure(REPLICA, 0), configure(HEAD, 0)];
    procedure.extend(sweeps(if swept == JoinSweep::EveryNode { &[REPLICA, HEAD] } else { &[REPLICA] }, keys));
    procedure.push(ControlStep::AwaitReceived { joiner: TAIL, swept: REPLICA });
    procedure.push(configure(TAIL, 0));
    let late_renew = LateRenew::Delivered;
    Reconfiguration { before: vec![HEAD, REPLICA], after, removed: None, leased: None, late_renew, procedure }
}

/// A `SWEEP` of every key of each node, in order.
fn sweeps(nodes: &[usize], keys: u16) -> Vec<ControlStep> {
    nodes.iter().flat_map(|n| (0..keys).map(move |key| ControlStep::Sweep(*n, key))).collect()
}

// ---------------------------------------------------------------------------
// Running the checker.

/// Checkers run one at a time, each on every core, so that the times printed
/// are those of one checker.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Checks a configuration exhaustively: no counterexample to any `always`
/// property, an example of every `sometimes` property.
fn verify(name: &str, model: ChainModel) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let start = Instant::now();
    let checker = model.checker().threads(threads()).spawn_dfs().join();
    let elapsed = start.elapsed();
    println!(
        "{name}: {} unique states ({} generated), max depth {}, {:.1} s",
        checker.unique_state_count(),
        checker.state_count(),
        checker.max_depth(),
        elapsed.as_secs_f64()
    );
    assert!(checker.is_done(), "{name}: the checker stopped before exploring every state");
    let model = checker.model();
    let mut failures = Vec::new();
    for property in model.properties() {
        let found = checker.discovery(property.name);
        match (property.expectation, found) {
            (Expectation::Sometimes, None) => failures.push(format!("never reached: \"{}\"", property.name)),
            (Expectation::Sometimes, Some(_)) => {}
            (_, Some(path)) => {
                failures.push(format!("counterexample to \"{}\":\n{}", property.name, model.explain(&path)))
            }
            (_, None) => {}
        }
    }
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
}

/// (a) Reordering, one duplicate of a chain-internal frame, one client
/// retransmission; no loss.
#[test]
fn duplicated_chain_frames_with_retries() {
    verify("(a) duplication 1, retransmissions 1", model(scripts(), NO_FAULT, (Scope::ChainInternal, 1), 1));
}

/// (a2) Reordering and two duplicates of chain-internal frames.
#[test]
fn twice_duplicated_chain_frames() {
    verify("(a2) duplication 2", model(scripts(), NO_FAULT, (Scope::ChainInternal, 2), 0));
}

/// (b) Reordering, up to two lost frames of any kind, one client retransmission.
#[test]
fn lost_frames_with_retries() {
    verify("(b) loss 2, retransmissions 1", model(scripts(), (Scope::AnyFrame, 2), NO_FAULT, 1));
}

/// (e) A forging client host: one forged chain frame, at any moment, to any
/// node, directly or through another, as itself or as a neighbour.
#[test]
fn forged_chain_frames_change_nothing() {
    verify("(e) forgeries 1", forging_model(scripts(), NO_FAULT, NO_FAULT, 0, 1));
}

/// (a+) Larger bounds than (a).
#[test]
#[ignore = "about 7 million states: see docs/model-checking.md"]
fn duplicated_chain_frames_with_retries_larger() {
    verify("(a+) duplication 2, retransmissions 1", model(scripts(), NO_FAULT, (Scope::ChainInternal, 2), 1));
}

/// (b+) Larger bounds than (b).
#[test]
#[ignore = "about 6 million states: see docs/model-checking.md"]
fn lost_frames_with_retries_larger() {
    verify("(b+) loss 2, retransmissions 2", model(scripts(), (Scope::AnyFrame, 2), NO_FAULT, 2));
}

/// (d) Three clients on two keys, one of them spanning both; reordering and
/// one lost frame of any kind.
#[test]
fn two_keys_three_clients_with_loss() {
    verify("(d) two keys, loss 1", model(two_key_scripts(), (Scope::AnyFrame, 1), NO_FAULT, 0));
}

/// (o) Keys in groups (§11): the scripts of (d), with key 0 on the chain
/// HEAD, REPLICA, TAIL and key 1 on the reversed chain over the same nodes,
/// so that one node is the head of one group and the tail of the other;
/// every node's `node_config` serves no key, and every fabric port is marked
/// for the neighbours of both chains.
#[test]
fn two_groups_in_opposite_directions_with_loss() {
    let mut model = model(two_key_scripts(), (Scope::AnyFrame, 1), NO_FAULT, 0);
    model.groups = true;
    verify("(o) two groups in opposite directions, loss 1", model);
}

/// (d+) Three clients on two keys; reordering and one duplicate of a
/// chain-internal frame.
#[test]
#[ignore = "about 18 million states: see docs/model-checking.md"]
fn two_keys_three_clients_with_duplication() {
    verify("(d+) two keys, duplication 1", model(two_key_scripts(), NO_FAULT, (Scope::ChainInternal, 1), 0));
}

/// (f) The TAIL crashes during traffic; the REPLICA becomes the tail.
#[test]
fn tail_crash_during_traffic() {
    verify("(f) tail crashes", reconfiguring(reconfiguration_scripts(), |keys| removal(TAIL, Departure::Crash, keys)));
}

/// (g) The TAIL is removed alive: the control plane waits for its lease.
#[test]
fn tail_removed_after_its_lease_lapses() {
    let model = reconfiguring(reconfiguration_scripts(), |keys| removal(TAIL, Departure::LeaseLapse, keys));
    verify("(g) tail removed, lease lapses", model);
}

/// (h) The REPLICA crashes during traffic; the HEAD's successor becomes the TAIL.
#[test]
fn replica_crash_during_traffic() {
    verify(
        "(h) replica crashes",
        reconfiguring(reconfiguration_scripts(), |keys| removal(REPLICA, Departure::Crash, keys)),
    );
}

/// (h2) The REPLICA is removed alive: the control plane waits for its lease.
#[test]
fn replica_removed_after_its_lease_lapses() {
    let model = reconfiguring(reconfiguration_scripts(), |keys| removal(REPLICA, Departure::LeaseLapse, keys));
    verify("(h2) replica removed, lease lapses", model);
}

/// A model of the TAIL's removal after its lease (as (g)) whose last
/// `RENEW` to the TAIL is still in flight, delivered `late_renew`.
fn tail_removed_with_a_late_renew(late_renew: LateRenew) -> ChainModel {
    reconfiguring(reconfiguration_scripts(), |keys| Reconfiguration {
        late_renew,
        ..removal(TAIL, Departure::LeaseLapse, keys)
    })
}

/// (m) The TAIL is removed alive while its last `RENEW` is still in flight
/// and may arrive at any moment, however late: it grants at most the end it
/// carries, which the control plane waited for (§9.3).
#[test]
fn tail_removed_with_a_late_renew_in_flight() {
    verify("(m) tail removed, a RENEW arrives late", tail_removed_with_a_late_renew(LateRenew::InFlight));
}

/// (i) A fresh TAIL joins the chain HEAD, REPLICA during traffic.
#[test]
fn tail_joins_during_traffic() {
    verify("(i) a tail joins", reconfiguring(join_scripts(), |keys| join(keys, JoinSweep::EveryNode)));
}

/// (i2) A TAIL joins and a chain-internal frame is lost (a SWEEP, a SYNC,
/// a CHAIN_WRITE...): the control plane sweeps the old tail again until the
/// new one has every key.
#[test]
fn tail_joins_despite_a_lost_frame() {
    let model = faulty_reconfiguring(join_scripts(), (Scope::ChainInternal, 1), NO_FAULT, 0, |keys| {
        join(keys, JoinSweep::EveryNode)
    });
    verify("(i2) a tail joins, loss 1", model);
}

/// (f+) The TAIL crashes; one chain-internal frame may be duplicated.
#[test]
#[ignore = "about 2.5 million states: see docs/model-checking.md"]
fn tail_crash_with_duplication() {
    let model = faulty_reconfiguring(reconfiguration_scripts(), NO_FAULT, (Scope::ChainInternal, 1), 0, |keys| {
        removal(TAIL, Departure::Crash, keys)
    });
    verify("(f+) tail crashes, duplication 1", model);
}

/// (f++) The TAIL crashes; one spurious client retransmission.
#[test]
#[ignore = "about 4.6 million states: see docs/model-checking.md"]
fn tail_crash_with_a_retransmission() {
    let model = faulty_reconfiguring(reconfiguration_scripts(), NO_FAULT, NO_FAULT, 1, |keys| {
        removal(TAIL, Departure::Crash, keys)
    });
    verify("(f++) tail crashes, retransmissions 1", model);
}

/// (h2+) The REPLICA is removed alive; one spurious client retransmission.
#[test]
#[ignore = "about 5.5 million states: see docs/model-checking.md"]
fn replica_removed_with_a_retransmission() {
    let model = faulty_reconfiguring(reconfiguration_scripts(), NO_FAULT, NO_FAULT, 1, |keys| {
        removal(REPLICA, Departure::LeaseLapse, keys)
    });
    verify("(h2+) replica removed, lease lapses, retransmissions 1", model);
}

/// (i+) A TAIL joins; both clients write and then read at the head and at
/// the old tail.
#[test]
#[ignore = "about 5.7 million states: see docs/model-checking.md"]
fn tail_joins_with_more_reads() {
    let mut scripts = join_scripts();
    scripts[1].push(read(0, REPLICA));
    verify("(i+) a tail joins, more reads", reconfiguring(scripts, |keys| join(keys, JoinSweep::EveryNode)));
}

/// Finds a shortest counterexample to `property` (one thread: breadth-first
/// order) and prints it.
fn counterexample(label: &str, model: ChainModel, property: &'static str) -> Path<State, Action> {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let start = Instant::now();
    let checker = model.checker().finish_when(HasDiscoveries::AnyOf(BTreeSet::from([property]))).spawn_bfs().join();
    let path = checker.discovery(property).unwrap_or_else(|| panic!("{label}: no counterexample to \"{property}\""));
    println!(
        "{label}: counterexample to \"{property}\" after {} unique states, {:.1} s, {} steps:\n{}",
        checker.unique_state_count(),
        start.elapsed().as_secs_f64(),
        path.clone().into_actions().len(),
        checker.model().explain(&path)
    );
    path
}

/// Without §3.4's assumption the chain is not linearizable: a WRITE that
/// reaches the head again after another write was stamped is stamped again.
#[test]
fn late_duplicate_writes_break_linearizability() {
    let model = model(scripts(), NO_FAULT, (Scope::WritesToHead, 1), 0);
    let path = counterexample("(c) late duplicates", model, "linearizable");
    let last = path.last_state();
    assert!(last.histories.iter().any(|h| h.serialized_history().is_none()));
    // The duplicate was stamped as a second version of the same write.
    assert!(last.nodes[HEAD].0.outcome_count(Outcome::WriteStamped) > 2);
}

/// (j) A control plane that does not wait for the removed TAIL's lease: the
/// old tail, still up and holding its lease, answers a read after a newer
/// write has committed at the new tail.
#[test]
fn removal_without_waiting_for_the_lease_serves_stale_reads() {
    let mut model = reconfiguring(reconfiguration_scripts(), |keys| removal(TAIL, Departure::LeaseLapse, keys));
    let reconfiguration = model.reconfiguration.as_mut().expect("a reconfiguration");
    reconfiguration.procedure.retain(|step| !matches!(step, ControlStep::AwaitLeaseLapse(_)));
    let path = counterexample("(j) no lease wait", model, "linearizable");
    assert!(path.last_state().removed_node_served, "the stale read is the removed node's");
}

/// (n) A node that renews its lease from a `RENEW`'s arrival, as before a
/// `RENEW` carried its end: the RENEW the removed TAIL gets late makes it
/// serve again after the control plane waited for its lease.
#[test]
fn a_late_renew_renewing_from_its_arrival_serves_stale_reads() {
    let model = tail_removed_with_a_late_renew(LateRenew::InFlightRenewingFromArrival);
    let property = "a removed node answers no READ once the new configuration is in effect";
    let path = counterexample("(n) a late RENEW renews from its arrival", model, property);
    assert_eq!(path.last_state().nodes[TAIL].0.lease().end_ticks, 2 * LEASE_TICKS, "renewed late");
}

/// (k) A control plane that does not sweep after removing the TAIL: a write
/// the old tail committed, whose ACK crossed the epoch change, stays dirty.
#[test]
fn removal_without_sweep_does_not_converge() {
    let mut model = reconfiguring(reconfiguration_scripts(), |keys| removal(TAIL, Departure::LeaseLapse, keys));
    let reconfiguration = model.reconfiguration.as_mut().expect("a reconfiguration");
    reconfiguration.procedure.retain(|step| !matches!(step, ControlStep::Sweep(..)));
    counterexample("(k) no sweep", model, "the chain converges when quiet");
}

/// (l) §10.4 as written sweeps only the old tail: the head stays dirty for
/// good when the old tail's ACK crosses the epoch change.
#[test]
fn join_sweeping_only_the_old_tail_leaves_the_head_dirty() {
    let model = reconfiguring(join_scripts(), |keys| join(keys, JoinSweep::OldTail));
    let path = counterexample("(l) join sweeps the old tail only", model, "the chain converges when quiet");
    assert!(path.last_state().nodes[HEAD].slot(0).is_dirty());
}
