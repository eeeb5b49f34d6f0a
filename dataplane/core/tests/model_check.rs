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
//! Every client operation is recorded in a linearizability tester per key;
//! an `ERROR OUTCOME_UNKNOWN` leaves the operation in flight for ever (it may
//! or may not have taken effect) and stops the client.
//!
//! Run with `cargo test --release -p netcraq-core --test model_check -- --nocapture`
//! to see the state counts and the negative test's trace; the larger
//! configurations are `#[ignore]`d (add `--ignored`).

use netcraq_core::{is_newer, FabricPort, KeySlot, Mode, Node, NodeConfig, Outcome, Role, Route};
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
// Topology: node i (0 HEAD, 1 REPLICA, 2 TAIL) is 10.0.0.(i+1), client c is
// 10.0.1.(c+1). Each node reaches node j on port j+1 and client c on port
// 101+c: one port per peer, every peer directly.

const HEAD: usize = 0;
const REPLICA: usize = 1;
const TAIL: usize = 2;
const ROLES: [Role; 3] = [Role::Head, Role::Replica, Role::Tail];
/// Key register capacity of every node (and `key_hi`).
const KEY_CAPACITY: usize = 2;
const CLIENT_PORT_BASE: u16 = 101;
const CLIENT_UDP_PORT_BASE: u16 = 40001;
/// The epoch of the chain's configuration (§9.2), which forgeries carry too.
const EPOCH: u32 = 1;
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
}

impl Endpoint {
    /// The port on which a node reaches this endpoint.
    fn port(self) -> u16 {
        match self {
            Endpoint::Node(n) => u16::from(n) + 1,
            Endpoint::Client(c) => CLIENT_PORT_BASE + u16::from(c),
        }
    }

    fn at_port(port: u16) -> Endpoint {
        match port {
            1..=3 => Endpoint::Node(port as u8 - 1),
            p if p >= CLIENT_PORT_BASE => Endpoint::Client((p - CLIENT_PORT_BASE) as u8),
            p => panic!("no peer behind port {p}"),
        }
    }

    fn with_mac(mac: MacAddr) -> Endpoint {
        match mac.0 {
            [2, 0, 0, 0, 0, n @ 1..=3] => Endpoint::Node(n - 1),
            [2, 0, 0, 0, 1, c @ 1..=255] => Endpoint::Client(c - 1),
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
            Endpoint::Node(n) => f.write_str(ROLES[usize::from(*n)].name()),
            Endpoint::Client(c) => write!(f, "C{}", c + 1),
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

/// A configured node of the chain, every peer routed on its own port, the
/// ports of the other nodes fabric ports and the clients' edge ports.
fn chain_node(node: usize, clients: usize) -> Node {
    let mut n = Node::new(KEY_CAPACITY);
    n.set_config(NodeConfig {
        own_mac: node_mac(node),
        own_ip: node_ip(node),
        role: ROLES[node],
        mode: Mode::Craq,
        head_ip: if node == HEAD { Ipv4Addr::UNSPECIFIED } else { node_ip(HEAD) },
        tail_ip: if node == TAIL { Ipv4Addr::UNSPECIFIED } else { node_ip(TAIL) },
        successor_ip: if node < TAIL { node_ip(node + 1) } else { Ipv4Addr::UNSPECIFIED },
        predecessor_ip: if node > HEAD { node_ip(node - 1) } else { Ipv4Addr::UNSPECIFIED },
        key_lo: 0,
        key_hi: KEY_CAPACITY as u32,
        epoch: EPOCH,
        lease_ticks: 0,
        sync_epoch: 0,
    })
    .expect("valid node_config");
    for peer in (0..3).filter(|peer| *peer != node) {
        let port = Endpoint::Node(peer as u8).port();
        let fabric = FabricPort {
            port,
            from_predecessor: peer + 1 == node,
            from_successor: peer == node + 1,
            from_controller: false,
        };
        n.fabric_ports_mut().insert(fabric).expect("fabric port");
    }
    for peer in 0..3 {
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
        write!(f, " [{} #{}]", client_at(client), frame.ident)
    }
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
}

// ---------------------------------------------------------------------------
// State.

/// A node whose identity in the state space is its configuration and
/// registers: the packet counters do not make states distinct.
#[derive(Clone)]
struct ChainNode(Node);

impl ChainNode {
    fn slot(&self, key: u16) -> KeySlot {
        *self.0.registers().get(key).expect("key within capacity")
    }
}

impl Hash for ChainNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.config().hash(state);
        self.0.registers().hash(state);
    }
}

impl PartialEq for ChainNode {
    fn eq(&self, other: &Self) -> bool {
        self.0.config() == other.0.config() && self.0.registers() == other.0.registers()
    }
}

impl fmt::Debug for ChainNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (key, slot) in self.0.registers().non_zero() {
            list.entry(&format_args!(
                "key {key}: value={} version={} acked={} writer={}#{}",
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
}

#[derive(Clone, Debug, PartialEq, Hash)]
struct State {
    nodes: [ChainNode; 3],
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
    /// CHAIN_WRITE, ACK, and READs forwarded by a node to the tail.
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
                Op::ChainWrite | Op::Ack => true,
                Op::Read => matches!(packet.from(), Endpoint::Node(_)),
                _ => false,
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
}

/// What one step did, for traces.
struct Effect {
    sent: Vec<Packet>,
    note: Option<String>,
}

impl ChainModel {
    fn step_of(&self, client: usize, pc: u8) -> Step {
        self.scripts[client][usize::from(pc)]
    }

    fn done(&self, client: usize, c: &Client) -> bool {
        c.phase == Phase::Ready && usize::from(c.pc) == self.scripts[client].len()
    }

    fn request(&self, client: usize, pc: u8, retransmission: bool) -> Packet {
        let step = self.step_of(client, pc);
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
                effect.sent.push(self.request(*c, client.pc, false));
            }
            Action::Retransmit(c) => {
                next.used.retransmissions += 1;
                effect.sent.push(self.request(*c, next.clients[*c].pc, true));
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
                }
            }
        }
        for packet in &effect.sent {
            next.send(packet.clone());
        }
        // A reply its client cannot match (it waits for another operation,
        // or for none) stays unmatchable: delivering it would only remove it.
        // Removing it at once keeps such frames from multiplying the states.
        let clients = &next.clients;
        next.network.retain(|p| match p.to {
            Endpoint::Node(_) => true,
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
        let mut scratch = [0u8; CHAIN_FRAME_LEN];
        let registers = next.nodes[n].0.registers().clone();
        let verdict = next.nodes[n].0.process(p.from().port(), &mut frame, &mut scratch);
        effect.note = Some(verdict.outcome.name().to_string());
        if p.is_forged() {
            let changed = next.nodes[n].0.registers() != &registers;
            next.forgery_accepted |= changed || !verdict.outcome.is_drop();
            return;
        }
        // Every other frame of the model is well-formed and expected by its receiver.
        assert!(!verdict.outcome.is_drop(), "{p:?} dropped by the node: {}", verdict.outcome.name());
        assert_eq!(verdict.unrouted, 0, "{p:?}: an output had no route");
        for (egress, bytes) in [(verdict.primary, &frame[..]), (verdict.secondary, &scratch[..])] {
            if let Some(egress) = egress {
                let bytes = FrameBytes::copy_from(&bytes[..egress.len]).expect("at most a chain frame");
                effect.sent.push(Packet::new(Endpoint::at_port(egress.port), bytes));
            }
        }
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
            };
            out += &format!("{:>3}. {what}", i + 1);
            if let Some(note) = effect.note {
                out += &format!("  => {note}");
            }
            out += "\n";
            for p in effect.sent.iter().filter(|_| !matches!(action, Action::Duplicate(_))) {
                let dead = next.network.binary_search(p).is_err();
                let dead = if dead { "  (unmatchable: its client is not waiting for it, discarded)" } else { "" };
                out += &format!("       sends {p:?}{dead}\n");
            }
        }
        if let Some(last) = last {
            for (key, history) in last.histories.iter().enumerate() {
                out += &format!("key {key} history: {history:?}\n");
            }
            for (n, node) in last.nodes.iter().enumerate() {
                out += &format!("{}: {:?}\n", ROLES[n].name(), node);
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
        let nodes = [chain_node(HEAD, clients), chain_node(REPLICA, clients), chain_node(TAIL, clients)];
        vec![State {
            nodes: nodes.map(ChainNode),
            network: Vec::new(),
            clients: vec![Client { pc: 0, phase: Phase::Ready, read_written: false, bad_reply: false }; clients],
            histories: vec![History::new(Register(0)); usize::from(self.keys)],
            linearizable: true,
            used: Used::default(),
            forgery_accepted: false,
        }]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        for (c, client) in state.clients.iter().enumerate() {
            match client.phase {
                Phase::Ready if usize::from(client.pc) < self.scripts[c].len() => actions.push(Action::Invoke(c)),
                Phase::Waiting if state.used.retransmissions < self.max_retransmissions => {
                    actions.push(Action::Retransmit(c))
                }
                _ => {}
            }
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
            Property::always("the tail is clean", |m: &Self, s: &State| {
                (0..m.keys).all(|k| !s.nodes[TAIL].slot(k).is_dirty())
            }),
            Property::always("versions never grow down the chain", |m: &Self, s: &State| {
                (0..m.keys).all(|k| {
                    let [h, r, t] = [HEAD, REPLICA, TAIL].map(|n| s.nodes[n].slot(k).version);
                    !is_newer(r, h) && !is_newer(t, r)
                })
            }),
            Property::always("only committed versions are acked", |m: &Self, s: &State| {
                slots(m, s).all(|(_, k, slot)| !is_newer(slot.acked, s.nodes[TAIL].slot(k).version))
            }),
            Property::always("a clean node holds the tail's version and value", |m: &Self, s: &State| {
                slots(m, s).all(|(_, k, slot)| {
                    let tail = s.nodes[TAIL].slot(k);
                    slot.is_dirty() || (slot.version, slot.value) == (tail.version, tail.value)
                })
            }),
            Property::always("a version has one value", one_value_per_version),
            Property::always("quiescent runs without loss converge", converged_when_quiet),
            Property::sometimes("a write completes", |m: &Self, s: &State| {
                s.clients.iter().enumerate().any(|(c, client)| {
                    m.scripts[c][..usize::from(client.pc)].iter().any(|step| matches!(step.call, Call::Write(_)))
                })
            }),
            Property::sometimes("a read returns a written value", |_, s: &State| {
                s.clients.iter().any(|c| c.read_written)
            }),
            Property::sometimes("a read of a dirty key is forwarded to the tail", |_, s: &State| {
                s.network
                    .iter()
                    .any(|p| p.to.is_node(TAIL) && matches!(p.from(), Endpoint::Node(_)) && p.op() == Op::Read)
            }),
            // The next three are reached in a state where the event is
            // enabled (a frame in flight whose delivery causes it), not by
            // reading the nodes' counters: counters do not make states
            // distinct, so a state first reached along a path without the
            // event would hide it, depending on the exploration order.
            Property::sometimes("the tail gets a duplicate commit", |_, s: &State| {
                stale_chain_write_in_flight(s, TAIL)
            }),
            Property::sometimes("the replica gets a stale CHAIN_WRITE", |_, s: &State| {
                stale_chain_write_in_flight(s, REPLICA)
            }),
        ];
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
                    Endpoint::Client(_) => false,
                })
            }));
        }
        if self.max_losses > 0 {
            properties.push(Property::sometimes(
                "every client completes its script despite a loss",
                |m: &Self, s: &State| {
                    s.used.losses > 0 && s.clients.iter().enumerate().all(|(c, client)| m.done(c, client))
                },
            ));
        }
        properties
    }
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
        .filter(|p| !p.is_forged() && matches!(p.op(), Op::ChainWrite | Op::Ack | Op::WriteReply | Op::ReadReply))
        .map(|p| (p.key(), p.version(), p.value()));
    for (key, version, value) in from_nodes.chain(from_network) {
        seen.insert((key, version, value));
    }
    let versions: BTreeSet<_> = seen.iter().map(|(k, v, _)| (*k, *v)).collect();
    versions.len() == seen.len()
}

/// With nothing in flight and nothing lost, no client waits and every key is
/// clean and identical (value, version, acked, writer) at every node.
fn converged_when_quiet(m: &ChainModel, s: &State) -> bool {
    if !s.network.is_empty() || s.used.losses > 0 {
        return true;
    }
    let no_waiting = s.clients.iter().all(|c| c.phase != Phase::Waiting);
    let same = (0..m.keys).all(|k| {
        let tail = s.nodes[TAIL].slot(k);
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
    }
}

const NO_FAULT: (Scope, u8) = (Scope::Nothing, 0);

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

/// (d+) Three clients on two keys; reordering and one duplicate of a
/// chain-internal frame.
#[test]
#[ignore = "about 18 million states: see docs/model-checking.md"]
fn two_keys_three_clients_with_duplication() {
    verify("(d+) two keys, duplication 1", model(two_key_scripts(), NO_FAULT, (Scope::ChainInternal, 1), 0));
}

/// Without §3.4's assumption the chain is not linearizable: a WRITE that
/// reaches the head again after another write was stamped is stamped again.
#[test]
fn late_duplicate_writes_break_linearizability() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let start = Instant::now();
    // One thread: breadth-first order, so the trace found is a shortest one.
    let checker = model(scripts(), NO_FAULT, (Scope::WritesToHead, 1), 0)
        .checker()
        .finish_when(HasDiscoveries::AnyOf(BTreeSet::from(["linearizable"])))
        .spawn_bfs()
        .join();
    let path = checker.discovery("linearizable").expect("late duplicates must break linearizability");
    println!(
        "(c) late duplicates: counterexample after {} unique states, {:.1} s, {} steps:\n{}",
        checker.unique_state_count(),
        start.elapsed().as_secs_f64(),
        path.clone().into_actions().len(),
        checker.model().explain(&path)
    );
    let last = path.last_state();
    assert!(last.histories.iter().any(|h| h.serialized_history().is_none()));
    // The duplicate was stamped as a second version of the same write.
    assert!(last.nodes[HEAD].0.outcome_count(Outcome::WriteStamped) > 2);
}
