//! `Node::process` on hostile input: configured nodes of every role and mode
//! are fed sequences of arbitrary byte strings and of valid NetCRAQ frames
//! with random fields, random byte flips and random lengths. Whatever comes
//! in, the node must not panic, everything it emits must be well formed
//! (`docs/protocol.md` §4.2, §4.3), and its counters must add up (§2.2, §6).

use netcraq_core::{FabricPort, Mode, Node, NodeConfig, Outcome, Role, Route, Writer, MAX_UNCOMMITTED_VERSIONS};
use netcraq_wire::{
    Ipv4Addr, MacAddr, NetcraqFrame, NetcraqRepr, Op, CHAIN_FRAME_LEN, ETHERNET_HEADER_LEN, IPV4_HEADER_LEN,
    NETCRAQ_UDP_PORT,
};
use proptest::prelude::*;

/// Key registers of the nodes under test: small, so that state is cheap to
/// copy and keys collide often. Keys `KEY_LO..KEY_HI` are served.
const CAPACITY: usize = 48;
const KEY_LO: u16 = 4;
const KEY_HI: u32 = 40;
/// The epoch of the nodes' configuration (§9.2).
const EPOCH: u32 = 5;

/// Ingress ports: a fabric port of both neighbours, one of the predecessor
/// only, and an edge port (no `fabric_port` entry), where raw bytes arrive.
const FABRIC_PORT: u16 = 1;
const PREDECESSOR_PORT: u16 = 2;
const EDGE_PORT: u16 = 3;

const IP: usize = ETHERNET_HEADER_LEN;
const IP_TTL: usize = IP + 8;
const IP_CHECKSUM: usize = IP + 10;

const ROLES: [Role; 4] = [Role::Head, Role::Replica, Role::Tail, Role::Solo];
const MODES: [Mode; 2] = [Mode::Craq, Mode::Cr];

fn chain_ip(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, i)
}

fn chain_mac(i: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, i])
}

/// Clients live in 10.0.1.0/24; a few other hosts in 192.0.2.0/24.
fn client_ip(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 1, i)
}

/// The chain is .1 (head), .2 (replica), .3 (tail); a SOLO node is .1.
fn position(role: Role) -> u8 {
    match role {
        Role::Head | Role::Solo => 1,
        Role::Replica => 2,
        Role::Tail => 3,
    }
}

fn config(role: Role, mode: Mode) -> NodeConfig {
    let none = Ipv4Addr::UNSPECIFIED;
    let at = position(role);
    let (head_ip, tail_ip, successor_ip, predecessor_ip) = match role {
        Role::Head => (none, chain_ip(3), chain_ip(2), none),
        Role::Replica => (chain_ip(1), chain_ip(3), chain_ip(3), chain_ip(1)),
        Role::Tail => (chain_ip(1), none, none, chain_ip(2)),
        Role::Solo => (none, none, none, none),
    };
    NodeConfig {
        own_mac: chain_mac(at),
        own_ip: chain_ip(at),
        role,
        mode,
        head_ip,
        tail_ip,
        successor_ip,
        predecessor_ip,
        key_lo: KEY_LO,
        key_hi: KEY_HI,
        epoch: EPOCH,
        // CRAQ nodes hold leases (never renewed until a RENEW arrives, clock 0);
        // a CR tail is syncing, so that every row of §5.1 is reachable.
        lease_ticks: if mode == Mode::Craq { LEASE_TICKS } else { 0 },
        sync_epoch: if mode == Mode::Cr && role == Role::Tail { SYNC_EPOCH } else { 0 },
    }
}

const LEASE_TICKS: u32 = 1000;
const SYNC_EPOCH: u32 = 5;

/// Routes a node may hold; bit `i` of a mask installs `ROUTES[i]`.
const ROUTES: [([u8; 4], u8, u16); 6] = [
    ([10, 0, 0, 1], 32, 1),
    ([10, 0, 0, 2], 32, 2),
    ([10, 0, 0, 3], 32, 3),
    ([10, 0, 1, 0], 24, 4),
    ([10, 0, 0, 0], 8, 5),
    ([0, 0, 0, 0], 0, 6),
];

/// Preset registers, to start from states a short sequence cannot reach
/// (full windows, wrapped versions, dirty keys, stored writers).
#[derive(Debug, Clone)]
struct Preset {
    key: u16,
    version: u8,
    acked: u8,
    value: u8,
    client: u8,
}

fn node(role: Role, mode: Mode, route_mask: u8, presets: &[Preset]) -> Node {
    let mut node = Node::new(CAPACITY);
    node.set_config(config(role, mode)).expect("test configs are valid");
    for (port, from_successor) in [(FABRIC_PORT, true), (PREDECESSOR_PORT, false)] {
        let fabric = FabricPort { port, from_predecessor: true, from_successor, from_controller: from_successor };
        node.fabric_ports_mut().insert(fabric).expect("two entries fit");
    }
    for (i, (prefix, prefix_len, port)) in ROUTES.iter().enumerate() {
        if route_mask & (1 << i) != 0 {
            let mac = MacAddr([2, 0, 0, 0, 0xee, *port as u8]);
            node.routes_mut()
                .insert(Route { prefix: (*prefix).into(), prefix_len: *prefix_len, port: *port, mac })
                .unwrap();
        }
    }
    for preset in presets {
        let slot = node.registers_mut().get_mut(preset.key).expect("presets are below CAPACITY");
        slot.version = preset.version;
        slot.acked = preset.acked;
        slot.value = [preset.value; 16];
        slot.writer = Writer { ip: client_ip(preset.client), port: 40000 + u16::from(preset.client), id: 7 };
    }
    node
}

// ---------------------------------------------------------------- strategies

fn preset() -> impl Strategy<Value = Preset> {
    // Windows of uncommitted versions around the bound of §3.3, or anything.
    let window = prop_oneof![0u8..3, 125u8..=130, any::<u8>()];
    (key(), any::<u8>(), window, 0u8..3, 0u8..3).prop_map(|(key, version, window, value, client)| Preset {
        key,
        version,
        acked: version.wrapping_sub(window),
        value,
        client,
    })
}

/// Keys below, in and above the served range, mostly a few in range so that
/// frames and presets meet.
/// The lease ends a RENEW carries (§9.3), at the nodes' clock 0: a clock
/// read, a lease the node grants, one longer than it grants.
const RENEW_ENDS: [u32; 3] = [0, LEASE_TICKS, LEASE_TICKS + 1];

/// Value `n` of a frame of `op`: `n` repeated, or for a RENEW the `n`-th of
/// [`RENEW_ENDS`].
fn value_of(op: Op, n: u8) -> [u8; 16] {
    match op {
        Op::Renew => NetcraqRepr::renew_value(RENEW_ENDS[usize::from(n)]),
        _ => [n; 16],
    }
}

fn key() -> impl Strategy<Value = u16> {
    prop_oneof![3 => KEY_LO..KEY_LO + 6, 1 => 0..CAPACITY as u16]
}

/// A NetCRAQ frame with fields drawn from small sets, so that writers,
/// values and versions repeat, where it goes: 0 for the node under test
/// (filled in by `Input::bytes_for`), else the last byte of another 10.0.0.x
/// address, which makes it a transit frame unless that is the node's own;
/// and the port it arrives on.
fn netcraq_frame() -> impl Strategy<Value = (NetcraqFrame, u8, u16)> {
    (
        (prop::sample::select(Op::ALL.to_vec()), key(), prop_oneof![0u8..4, any::<u8>()], 0u8..3),
        (0u8..3, prop_oneof![8 => 2u8..=255, 1 => 0u8..2], prop::sample::select(vec![0u16, 0x4000, 0x2000, 0x0001])),
        (prop_oneof![8 => Just(None), 1 => (0u32..4).prop_map(Some)], prop_oneof![8 => Just(true), 1 => Just(false)]),
        any::<u8>(),
        (
            prop_oneof![8 => Just(EPOCH), 1 => Just(EPOCH + 1)],
            prop_oneof![6 => Just(FABRIC_PORT), 1 => Just(PREDECESSOR_PORT), 1 => Just(EDGE_PORT)],
        ),
    )
        .prop_map(
            |(
                (op, key, version, value),
                (client, ttl, flags_fragment),
                (elsewhere, own_mac),
                salt,
                (epoch, ingress),
            )| {
                let dst = match elsewhere {
                    None => 0,
                    Some(0) => 200, // 10.0.0.200: routed by the /8 and default routes only
                    Some(1) => 2,   // another chain node (or this one)
                    Some(2) => 3,
                    Some(_) => 1,
                };
                let frame = NetcraqFrame {
                    eth_src: MacAddr([2, 0, 0, 0, 1, client]),
                    eth_dst: if own_mac { MacAddr::default() } else { MacAddr([salt | 1, 0, 0, 0, 0, 0]) },
                    ip_src: client_ip(client),
                    ip_dst: chain_ip(dst),
                    ttl,
                    tos: salt,
                    ident: 7 + u16::from(salt % 2),
                    flags_fragment: if salt % 8 == 0 { flags_fragment } else { 0x4000 },
                    udp_src: 40000 + u16::from(client),
                    udp_dst: if salt % 16 == 1 { 53 } else { NETCRAQ_UDP_PORT },
                    header: NetcraqRepr { op, version, key, value: value_of(op, value) },
                    epoch: if op.is_chain() { epoch } else { 0 },
                };
                (frame, dst, ingress)
            },
        )
}

/// How an input is turned into bytes for a given node.
#[derive(Debug, Clone)]
enum Input {
    /// Arbitrary bytes (their destination MAC is set to the node's now and then).
    Raw { bytes: Vec<u8>, aim: bool },
    /// A NetCRAQ frame, then byte flips, an optional checksum refresh, and a
    /// change of length; it arrives on port `ingress`.
    Crafted {
        frame: NetcraqFrame,
        dst: u8,
        flips: Vec<(usize, u8)>,
        refresh: bool,
        resize: Option<usize>,
        ingress: u16,
    },
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        1 => (prop::collection::vec(any::<u8>(), 0..100), any::<bool>())
            .prop_map(|(bytes, aim)| Input::Raw { bytes, aim }),
        4 => (
            netcraq_frame(),
            prop::collection::vec((0usize..70, 1u8..), 0..3),
            prop_oneof![3 => Just(true), 1 => Just(false)],
            prop_oneof![6 => Just(None), 1 => (0usize..80).prop_map(Some)],
        )
            .prop_map(|((frame, dst, ingress), flips, refresh, resize)| {
                Input::Crafted { frame, dst, flips, refresh, resize, ingress }
            }),
    ]
}

fn refresh_checksum(bytes: &mut [u8]) {
    if bytes.len() < IP + IPV4_HEADER_LEN {
        return;
    }
    bytes[IP_CHECKSUM..IP_CHECKSUM + 2].fill(0);
    let mut sum: u32 = bytes[IP..IP + IPV4_HEADER_LEN].chunks(2).map(|w| u32::from(w[0]) << 8 | u32::from(w[1])).sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    bytes[IP_CHECKSUM..IP_CHECKSUM + 2].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

impl Input {
    fn ingress_port(&self) -> u16 {
        match self {
            Input::Raw { .. } => EDGE_PORT,
            Input::Crafted { ingress, .. } => *ingress,
        }
    }

    fn bytes_for(&self, config: &NodeConfig) -> Vec<u8> {
        match self {
            Input::Raw { bytes, aim } => {
                let mut bytes = bytes.clone();
                if *aim && bytes.len() >= 6 {
                    bytes[..6].copy_from_slice(&config.own_mac.0);
                }
                bytes
            }
            Input::Crafted { frame, dst, flips, refresh, resize, .. } => {
                let mut frame = *frame;
                if frame.eth_dst == MacAddr::default() {
                    frame.eth_dst = config.own_mac;
                }
                if *dst == 0 {
                    frame.ip_dst = config.own_ip;
                }
                let mut bytes = frame.to_bytes().to_vec();
                if let Some(len) = resize {
                    bytes.resize(*len, 0);
                }
                for (at, mask) in flips {
                    if let Some(byte) = bytes.get_mut(*at) {
                        *byte ^= mask;
                    }
                }
                if *refresh {
                    refresh_checksum(&mut bytes);
                }
                bytes
            }
        }
    }
}

// ------------------------------------------------------------------ checking

/// Outputs each non-drop outcome of `op` at `role` makes (routed or not), by §5.1.
fn outputs_of(outcome: Outcome, role: Role, op: Option<Op>) -> u8 {
    match outcome {
        Outcome::CommitApplied | Outcome::CommitDuplicate | Outcome::WriteWindowFull => 2,
        Outcome::KeyReceived if op == Some(Op::ChainWrite) => 2,
        Outcome::SweepCommitted if role == Role::Tail => 1,
        Outcome::AckConsumed | Outcome::KeyReceived | Outcome::SweepCommitted => 0,
        Outcome::SyncApplied | Outcome::SyncStale | Outcome::SweepClean => 0,
        Outcome::LeaseRenewed | Outcome::RenewClockOnly | Outcome::RenewLate => 0,
        outcome if outcome.is_drop() => 0,
        _ => 1,
    }
}

fn ttl(bytes: &[u8]) -> u8 {
    bytes[IP_TTL]
}

/// What an emitted frame is (§4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Transit,
    Reply,
    /// Forwarded with the client's addressing kept.
    Forward,
    /// The stored version re-sent with its writer's addressing (§4.4).
    Resend,
}

/// The kind of an outcome's first output, by §5.1.
fn primary_kind(outcome: Outcome, role: Role) -> Kind {
    match outcome {
        Outcome::Transit => Kind::Transit,
        Outcome::ReadLocal | Outcome::ReadNotServing | Outcome::WriteUnknown | Outcome::KeyOutOfRange => Kind::Reply,
        Outcome::CommitApplied | Outcome::CommitDuplicate | Outcome::KeyReceived | Outcome::WriteWindowFull => {
            Kind::Reply
        }
        Outcome::WriteStamped | Outcome::WriteRetransmit if role == Role::Solo => Kind::Reply,
        Outcome::WriteRetransmit | Outcome::SweepResent | Outcome::SweepCopied | Outcome::SweepCommitted => {
            Kind::Resend
        }
        _ => Kind::Forward,
    }
}

/// The kind and op of an outcome's second output, if it has one: the tail's
/// ACK, or the head's re-send after refusing a WRITE on a full window.
fn secondary_kind(outcome: Outcome) -> Option<(Kind, Op)> {
    match outcome {
        Outcome::CommitApplied | Outcome::CommitDuplicate | Outcome::KeyReceived => Some((Kind::Forward, Op::Ack)),
        Outcome::WriteWindowFull => Some((Kind::Resend, Op::ChainWrite)),
        _ => None,
    }
}

/// Checks one emitted frame against the received one and the node's routes.
fn check_output(node: &Node, received: &[u8], port: u16, sent: &[u8], kind: Kind) -> Result<(), TestCaseError> {
    let config = node.config().unwrap();
    let route = |dst: Ipv4Addr| node.routes().lookup(dst).copied();
    if kind == Kind::Transit {
        // Unchanged but for MACs, TTL and checksum (§5 step 8).
        prop_assert_eq!(sent.len(), received.len());
        prop_assert_eq!(&sent[12..IP_TTL], &received[12..IP_TTL]);
        prop_assert_eq!(sent[IP_TTL + 1], received[IP_TTL + 1]);
        prop_assert_eq!(&sent[IP_CHECKSUM + 2..], &received[IP_CHECKSUM + 2..]);
        let dst = Ipv4Addr::new(sent[IP + 16], sent[IP + 17], sent[IP + 18], sent[IP + 19]);
        prop_assert_ne!(dst, config.own_ip);
        let route = route(dst).expect("a transit frame was sent without a route");
        prop_assert_eq!(port, route.port);
        prop_assert_eq!(&sent[..6], &route.mac.0);
        prop_assert_eq!(&sent[6..12], &config.own_mac.0);
        prop_assert_eq!(ttl(sent), ttl(received) - 1, "TTL must drop by exactly one");
        let mut fixed = sent.to_vec();
        refresh_checksum(&mut fixed);
        prop_assert_eq!(&fixed[IP_CHECKSUM..IP_CHECKSUM + 2], &sent[IP_CHECKSUM..IP_CHECKSUM + 2], "stale checksum");
        return Ok(());
    }
    let out = NetcraqFrame::parse(sent);
    prop_assert!(out.is_ok(), "emitted frame does not parse: {:?} {:02x?}", out, sent);
    let out = out.unwrap();
    prop_assert_eq!(sent.len(), out.frame_len());
    prop_assert_eq!(out.epoch, if out.header.op.is_chain() { config.epoch } else { 0 }, "§4.2: the node's epoch");
    let request = NetcraqFrame::parse(received).expect("a frame that produced a request's output must parse");
    prop_assert_eq!(out.ttl, request.ttl - 1, "TTL must drop by exactly one");
    prop_assert_eq!(out.eth_src, config.own_mac);
    let route = route(out.ip_dst).expect("an output was sent without a route");
    prop_assert_eq!(out.eth_dst, route.mac);
    prop_assert_eq!(port, route.port);
    prop_assert_eq!((out.tos, out.flags_fragment), (request.tos, request.flags_fragment));
    match kind {
        Kind::Reply => {
            prop_assert!(matches!(out.header.op, Op::ReadReply | Op::WriteReply | Op::Error), "{:?}", out.header);
            prop_assert_eq!((out.ip_src, out.udp_src), (config.own_ip, NETCRAQ_UDP_PORT));
            prop_assert_eq!((out.ip_dst, out.udp_dst, out.ident), (request.ip_src, request.udp_src, request.ident));
            prop_assert_eq!(out.header.key, request.header.key);
        }
        _ => {
            let forwarded = matches!(out.header.op, Op::Read | Op::Write | Op::ChainWrite | Op::Ack | Op::Sync);
            prop_assert!(forwarded, "{:?}", out.header);
            prop_assert_eq!(out.udp_dst, NETCRAQ_UDP_PORT);
            let chain = [config.head_ip, config.tail_ip, config.successor_ip, config.predecessor_ip];
            prop_assert!(chain.contains(&out.ip_dst) && !out.ip_dst.is_unspecified(), "forward to {}", out.ip_dst);
            prop_assert_eq!(out.header.key, request.header.key);
            if kind == Kind::Forward {
                prop_assert_eq!((out.ip_src, out.udp_src, out.ident), (request.ip_src, request.udp_src, request.ident));
            }
        }
    }
    Ok(())
}

fn context(error: TestCaseError, role: Role, mode: Mode, outcome: Outcome, received: &[u8]) -> TestCaseError {
    let received: String = received.iter().map(|b| format!("{b:02x}")).collect();
    TestCaseError::fail(format!(
        "{error} ({} {} node, outcome {}, received {received})",
        role.name(),
        mode.name(),
        outcome.name()
    ))
}

/// Feeds `inputs` to a node of this role and mode and checks every step.
fn run(role: Role, mode: Mode, route_mask: u8, presets: &[Preset], inputs: &[Input]) -> Result<Counts, TestCaseError> {
    let mut node = node(role, mode, route_mask, presets);
    let config = *node.config().unwrap();
    let mut scratch = [0u8; CHAIN_FRAME_LEN];
    let mut unrouted_total = 0u64;
    for input in inputs {
        let received = input.bytes_for(&config);
        let mut frame = received.clone();
        let before = *node.outcome_counts();
        let registers_before = node.registers().clone();
        let (reads_before, writes_before) = (node.key_reads().to_vec(), node.key_writes().to_vec());

        let ingress = input.ingress_port();
        let verdict = node.process(ingress, &mut frame, &mut scratch);

        // Counters: one for the outcome, one NO_ROUTE per unrouted output.
        let outcome = verdict.outcome;
        prop_assert_ne!(outcome, Outcome::NoRoute);
        prop_assert_ne!(outcome, Outcome::DropUnconfigured);
        let mut expected = before;
        expected[outcome.index()] += 1;
        expected[Outcome::NoRoute.index()] += u64::from(verdict.unrouted);
        prop_assert_eq!(node.outcome_counts(), &expected);
        unrouted_total += u64::from(verdict.unrouted);

        let sent = u8::from(verdict.primary.is_some()) + u8::from(verdict.secondary.is_some());
        let op = NetcraqFrame::parse(&received).ok().map(|f| f.header.op);
        let outputs = outputs_of(outcome, role, op);
        prop_assert_eq!(sent + verdict.unrouted, outputs, "outputs of {:?}: {:?}", outcome, verdict);
        if outcome.is_drop() {
            prop_assert!(node.registers() == &registers_before, "dropped frame changed a register");
            prop_assert_eq!(node.key_reads(), &reads_before[..]);
            prop_assert_eq!(node.key_writes(), &writes_before[..]);
        }

        // Core's receive checks and wire's parse agree on what a request is.
        let parsed = NetcraqFrame::parse(&received);
        let addressed = parsed.is_ok_and(|f| {
            f.eth_dst == config.own_mac && f.ip_dst == config.own_ip && f.udp_dst == NETCRAQ_UDP_PORT && f.ttl >= 2
        });
        let request_outcome = !outcome.is_drop() && outcome != Outcome::Transit;
        let refused_request =
            matches!(outcome, Outcome::DropUnexpectedOp | Outcome::DropKeyOutOfRange | Outcome::DropWrongEpoch);
        if outcome == Outcome::DropNotFromChain {
            // §9.1: a chain op from where its sender is not, or in transit from an edge port.
            let op = NetcraqFrame::parse(&received).map(|f| f.header.op);
            prop_assert!(addressed || ingress == EDGE_PORT, "{:?} from port {}", op, ingress);
            prop_assert!(ingress != FABRIC_PORT, "both neighbours send over port {}", FABRIC_PORT);
        } else {
            prop_assert_eq!(
                addressed,
                request_outcome || refused_request,
                "wire parse {:?} vs core outcome {:?}",
                parsed,
                outcome
            );
        }
        // RENEW names no key (§5 step 16).
        let renew = matches!(outcome, Outcome::LeaseRenewed | Outcome::RenewClockOnly | Outcome::RenewLate);
        if let (Ok(request), true) = (parsed, request_outcome && !renew) {
            let in_range = (u32::from(KEY_LO)..KEY_HI).contains(&u32::from(request.header.key));
            prop_assert_eq!(outcome == Outcome::KeyOutOfRange, !in_range);
        }

        if let Some(egress) = verdict.primary {
            prop_assert!(egress.len <= frame.len());
            check_output(&node, &received, egress.port, &frame[..egress.len], primary_kind(outcome, role))
                .map_err(|e| context(e, role, mode, outcome, &received))?;
        }
        if let Some(egress) = verdict.secondary {
            let sent_op = NetcraqFrame::parse(&scratch[..egress.len]).map(|f| f.header.op);
            let kind = match secondary_kind(outcome) {
                Some((kind, op)) => {
                    prop_assert_eq!(sent_op, Ok(op));
                    kind
                }
                None => {
                    // The first output, grown past the received frame (§5.1: a chain frame).
                    prop_assert!(verdict.primary.is_none() && egress.len > frame.len());
                    prop_assert!(sent_op.is_ok_and(Op::is_chain), "{:?}", sent_op);
                    primary_kind(outcome, role)
                }
            };
            check_output(&node, &received, egress.port, &scratch[..egress.len], kind)
                .map_err(|e| context(e, role, mode, outcome, &received))?;
        }
    }
    // §2.2: one outcome per frame, plus one NO_ROUTE per unrouted output.
    let counts = node.outcome_counts();
    let no_route = counts[Outcome::NoRoute.index()];
    prop_assert_eq!(no_route, unrouted_total);
    prop_assert_eq!(counts.iter().sum::<u64>(), inputs.len() as u64 + no_route);
    Ok(*counts)
}

type Counts = [u64; Outcome::COUNT];

/// Runs the inputs through a node of every role and mode; returns the sum of their counters.
fn run_all(route_mask: u8, presets: &[Preset], inputs: &[Input]) -> Result<Counts, TestCaseError> {
    let mut total = [0; Outcome::COUNT];
    for role in ROLES {
        for mode in MODES {
            let counts = run(role, mode, route_mask, presets, inputs)?;
            total.iter_mut().zip(counts).for_each(|(sum, count)| *sum += count);
        }
    }
    Ok(total)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn nodes_never_panic_and_emit_valid_frames(
        route_mask in prop_oneof![3 => Just(0x3fu8), 2 => Just(0x1fu8), 2 => any::<u8>()],
        presets in prop::collection::vec(preset(), 0..6),
        inputs in prop::collection::vec(input(), 1..24),
    ) {
        run_all(route_mask, &presets, &inputs)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        route_mask in any::<u8>(),
        frames in prop::collection::vec((prop::collection::vec(any::<u8>(), 0..140), any::<bool>()), 1..16),
    ) {
        let inputs: Vec<Input> = frames.into_iter().map(|(bytes, aim)| Input::Raw { bytes, aim }).collect();
        run_all(route_mask, &[], &inputs)?;
    }
}

#[test]
fn generators_reach_every_outcome() {
    // Guards the property tests above against vacuity: the same generators,
    // from a fixed seed, must drive the nodes into every outcome a
    // configured node has (all but DROP_UNCONFIGURED).
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let case = (
        prop_oneof![3 => Just(0x3fu8), 1 => any::<u8>()],
        prop::collection::vec(preset(), 0..6),
        prop::collection::vec(input(), 16..24),
    );
    let mut total = [0u64; Outcome::COUNT];
    for _ in 0..200 {
        let (route_mask, presets, inputs) = case.new_tree(&mut runner).unwrap().current();
        let counts = run_all(route_mask, &presets, &inputs).unwrap();
        total.iter_mut().zip(counts).for_each(|(sum, count)| *sum += count);
    }
    let missed: Vec<&str> = Outcome::ALL
        .into_iter()
        .filter(|o| *o != Outcome::DropUnconfigured && total[o.index()] == 0)
        .map(Outcome::name)
        .collect();
    assert!(missed.is_empty(), "outcomes never reached: {missed:?}");
}

#[test]
fn unconfigured_node_drops_everything() {
    let mut node = Node::new(CAPACITY);
    let mut scratch = [0u8; CHAIN_FRAME_LEN];
    let valid = NetcraqFrame {
        eth_src: chain_mac(9),
        eth_dst: chain_mac(1),
        ip_src: client_ip(1),
        ip_dst: chain_ip(1),
        ttl: 64,
        tos: 0,
        ident: 1,
        flags_fragment: 0,
        udp_src: 40000,
        udp_dst: NETCRAQ_UDP_PORT,
        header: NetcraqRepr { op: Op::Write, version: 0, key: 5, value: [1; 16] },
        epoch: 0,
    };
    let inputs = [Vec::new(), vec![0xff; 13], valid.to_bytes().to_vec(), vec![0; 200]];
    for bytes in &inputs {
        let mut frame = bytes.clone();
        let verdict = node.process(0, &mut frame, &mut scratch);
        assert_eq!(verdict.outcome, Outcome::DropUnconfigured);
        assert_eq!((verdict.primary, verdict.secondary, verdict.unrouted), (None, None, 0));
        assert_eq!(&frame, bytes);
    }
    assert_eq!(node.outcome_count(Outcome::DropUnconfigured), inputs.len() as u64);
    assert_eq!(node.outcome_counts().iter().sum::<u64>(), inputs.len() as u64);
    assert!(node.registers().non_zero().next().is_none());
}

#[test]
fn unrouted_outputs_are_counted_per_output() {
    // A tail with no routes at all: a CHAIN_WRITE makes two outputs (reply
    // and ACK), neither routed, so the one frame counts COMMIT_APPLIED once
    // and NO_ROUTE twice.
    let mut node = node(Role::Tail, Mode::Craq, 0, &[]);
    let request = NetcraqFrame {
        eth_src: chain_mac(2),
        eth_dst: chain_mac(3),
        ip_src: client_ip(1),
        ip_dst: chain_ip(3),
        ttl: 2,
        tos: 0,
        ident: 1,
        flags_fragment: 0,
        udp_src: 40000,
        udp_dst: NETCRAQ_UDP_PORT,
        header: NetcraqRepr { op: Op::ChainWrite, version: 1, key: 5, value: [1; 16] },
        epoch: EPOCH,
    };
    let mut frame = request.to_bytes().to_vec();
    let mut scratch = [0u8; CHAIN_FRAME_LEN];
    let verdict = node.process(FABRIC_PORT, &mut frame, &mut scratch);
    assert_eq!(verdict.outcome, Outcome::CommitApplied);
    assert_eq!((verdict.primary, verdict.secondary, verdict.unrouted), (None, None, 2));
    assert_eq!(node.outcome_count(Outcome::CommitApplied), 1);
    assert_eq!(node.outcome_count(Outcome::NoRoute), 2);
    assert_eq!(node.registers().get(5).unwrap().version, 1, "the register update stands without a route");
}

fn from_hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// Regression, found by `nodes_never_panic_and_emit_valid_frames`: a SOLO
/// node with 127 uncommitted versions of a key (a head that became SOLO when
/// its chain shrank, or registers the control plane installed) must still
/// stamp a new WRITE and reply WRITE_REPLY (§5.1, row `SOLO | WRITE | no
/// match, v = 0`). The core used to apply the HEAD's window, count
/// WRITE_WINDOW_FULL and send a CHAIN_WRITE to successor_ip 0.0.0.0.
#[test]
fn solo_write_ignores_the_window() {
    let mut node = node(Role::Solo, Mode::Craq, 0x3f, &[]);
    let slot = node.registers_mut().get_mut(9).unwrap();
    (slot.version, slot.acked) = (200, 200 - MAX_UNCOMMITTED_VERSIONS);
    // WRITE key 9, version 0, value 02.., from 10.0.1.1:40001 ident 0x0007,
    // to the SOLO node 10.0.0.1 (as generated by the failing case).
    let mut frame = from_hex(concat!(
        "020000000001020000000102",
        "0800",
        "4534003000074000cf1196800a0001010a000001",
        "9c414e43001c0000",
        "0200000902020202020202020202020202020227",
    ));
    let request = NetcraqFrame::parse(&frame).unwrap();
    let mut scratch = [0u8; CHAIN_FRAME_LEN];
    let verdict = node.process(0, &mut frame, &mut scratch);
    assert_eq!(verdict.outcome, Outcome::WriteStamped);
    let reply = NetcraqFrame::parse(&frame[..verdict.primary.expect("a routed reply").len]).unwrap();
    assert_eq!((reply.header.op, reply.header.version), (Op::WriteReply, 201));
    assert_eq!((reply.ip_dst, reply.udp_dst), (request.ip_src, request.udp_src));
    let slot = node.registers().get(9).unwrap();
    assert_eq!((slot.version, slot.acked, slot.value), (201, 201, request.header.value));
}
