//! A configured `Node` fed a sequence of frames must not panic, every frame
//! it emits (other than a transit frame) must parse as a NetCRAQ frame with
//! the TTL one below the received one, and its counters must add up.
//!
//! Input layout:
//! - byte 0: bits 0-1 the role (HEAD, REPLICA, TAIL, SOLO), bit 2 the mode
//!   (CRAQ, CR), bits 3-7 which of five routes are *not* installed;
//! - then frames, each as `[control][length][length bytes]` (the last one
//!   may be shorter), arriving in turn on port 0 (a fabric port of both
//!   neighbours) and port 1 (an edge port). Control bits ask for fix-ups that
//!   random bytes rarely get right, so that the fuzzer reaches the behaviour
//!   table (§5.1) and not only the parser's checks:
//!   - bit 6: op := op mod 7 + 1 (a known op; applied first);
//!   - bit 4: NetCRAQ skeleton: pad to the op's length, EtherType 0x0800,
//!     IPv4 version 4 / IHL 5, protocol 17, the op's IPv4 and UDP lengths
//!     (48 and 28, or 52 and 32 with the node's epoch for a chain op);
//!   - bit 5: key := key mod 48 (the node serves keys 2..40);
//!   - bit 7: TTL at least 2, flags 0x4000 (not a fragment);
//!   - bit 0: destination MAC := own MAC; bit 1: destination IP := own IP;
//!   - bit 2: UDP destination port := 20035;
//!   - bit 3: IPv4 header checksum recomputed (applied last).

#![no_main]

use libfuzzer_sys::fuzz_target;
use netcraq_core::{FabricPort, Mode, Node, NodeConfig, Outcome, Role, Route};
use netcraq_wire::{Ipv4Addr, MacAddr, NetcraqFrame, Op, CHAIN_FRAME_LEN, NETCRAQ_FRAME_LEN, NETCRAQ_UDP_PORT};

const CAPACITY: usize = 64;
const IP: usize = 14;
const TTL: usize = IP + 8;

fn chain_ip(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, i)
}

fn config(role: Role, mode: Mode) -> NodeConfig {
    let none = Ipv4Addr::UNSPECIFIED;
    let (at, head_ip, tail_ip, successor_ip, predecessor_ip) = match role {
        Role::Head => (1, none, chain_ip(3), chain_ip(2), none),
        Role::Replica => (2, chain_ip(1), chain_ip(3), chain_ip(3), chain_ip(1)),
        Role::Tail => (3, chain_ip(1), none, none, chain_ip(2)),
        Role::Solo => (1, none, none, none, none),
    };
    NodeConfig {
        own_mac: MacAddr([2, 0, 0, 0, 0, at]),
        own_ip: chain_ip(at),
        role,
        mode,
        head_ip,
        tail_ip,
        successor_ip,
        predecessor_ip,
        key_lo: 2,
        key_hi: 40,
        epoch: 9,
        // CRAQ nodes hold leases and a CR tail is syncing, so that the
        // reconfiguration rows (§5.1) are reached too.
        lease_ticks: if mode == Mode::Craq { 1000 } else { 0 },
        sync_epoch: if mode == Mode::Cr && role == Role::Tail { 5 } else { 0 },
    }
}

const ROUTES: [([u8; 4], u8, u16); 5] =
    [([10, 0, 0, 1], 32, 1), ([10, 0, 0, 2], 32, 2), ([10, 0, 0, 3], 32, 3), ([10, 0, 0, 0], 8, 4), ([0; 4], 0, 5)];

fn build(selector: u8) -> Node {
    let role = [Role::Head, Role::Replica, Role::Tail, Role::Solo][usize::from(selector & 3)];
    let mode = if selector & 4 == 0 { Mode::Craq } else { Mode::Cr };
    let mut node = Node::new(CAPACITY);
    node.set_config(config(role, mode)).expect("valid config");
    let fabric = FabricPort { port: 0, from_predecessor: true, from_successor: true, from_controller: true };
    node.fabric_ports_mut().insert(fabric).expect("one entry fits");
    for (i, (prefix, prefix_len, port)) in ROUTES.into_iter().enumerate() {
        if selector >> 3 & (1 << i) == 0 {
            let mac = MacAddr([2, 0, 0, 0, 0xee, port as u8]);
            node.routes_mut().insert(Route { prefix: prefix.into(), prefix_len, port, mac }).unwrap();
        }
    }
    node
}

fn fix_up(control: u8, frame: &mut Vec<u8>, config: &NodeConfig) {
    const UDP: usize = IP + 20;
    const NC: usize = UDP + 8;
    if control & 0x40 != 0 && frame.len() > NC {
        frame[NC] = frame[NC] % 10 + 1;
    }
    if control & 0x10 != 0 {
        let chain = frame.get(NC).and_then(|code| Op::from_code(*code)).is_some_and(Op::is_chain);
        let len = if chain { CHAIN_FRAME_LEN } else { NETCRAQ_FRAME_LEN };
        if frame.len() < len {
            frame.resize(len, 0);
        }
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        frame[IP] = 0x45;
        frame[IP + 2..IP + 4].copy_from_slice(&((len - IP) as u16).to_be_bytes());
        frame[IP + 9] = 17;
        frame[UDP + 4..UDP + 6].copy_from_slice(&((len - UDP) as u16).to_be_bytes());
        if chain {
            frame[NETCRAQ_FRAME_LEN..CHAIN_FRAME_LEN].copy_from_slice(&config.epoch.to_be_bytes());
        }
    }
    if control & 0x20 != 0 && frame.len() >= NC + 4 {
        let key = u16::from_be_bytes([frame[NC + 2], frame[NC + 3]]) % 48;
        frame[NC + 2..NC + 4].copy_from_slice(&key.to_be_bytes());
    }
    if control & 0x80 != 0 && frame.len() >= UDP {
        frame[TTL] = frame[TTL].max(2);
        frame[IP + 6..IP + 8].copy_from_slice(&0x4000u16.to_be_bytes());
    }
    if control & 1 != 0 && frame.len() >= 6 {
        frame[..6].copy_from_slice(&config.own_mac.0);
    }
    if control & 2 != 0 && frame.len() >= UDP {
        frame[IP + 16..IP + 20].copy_from_slice(&config.own_ip.octets());
    }
    if control & 4 != 0 && frame.len() >= UDP + 4 {
        frame[UDP + 2..UDP + 4].copy_from_slice(&NETCRAQ_UDP_PORT.to_be_bytes());
    }
    if control & 8 != 0 && frame.len() >= UDP {
        let header = &mut frame[IP..UDP];
        header[10..12].fill(0);
        let mut sum: u32 = header.chunks(2).map(|w| u32::from(w[0]) << 8 | u32::from(w[1])).sum();
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        header[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    }
}

fn check_output(node: &Node, received: &[u8], port: u16, sent: &[u8], transit: bool) {
    let config = node.config().unwrap();
    if transit {
        assert_eq!(sent.len(), received.len());
        assert_eq!(sent[TTL], received[TTL] - 1, "transit TTL");
        assert_eq!(&sent[12..TTL], &received[12..TTL], "transit changed the IPv4 header");
        assert_eq!(sent[TTL + 1], received[TTL + 1], "transit changed the protocol");
        assert_eq!(&sent[IP + 12..], &received[IP + 12..], "transit changed more than TTL, checksum and MACs");
        let dst = Ipv4Addr::new(sent[IP + 16], sent[IP + 17], sent[IP + 18], sent[IP + 19]);
        assert_eq!(node.routes().lookup(dst).map(|r| (r.port, r.mac.0)), Some((port, sent[..6].try_into().unwrap())));
        return;
    }
    let out = NetcraqFrame::parse(sent).unwrap_or_else(|e| panic!("emitted frame does not parse ({e}): {sent:02x?}"));
    let request = NetcraqFrame::parse(received).expect("an answered request parses");
    assert_eq!(out.ttl, request.ttl - 1, "TTL must drop by exactly one");
    assert_eq!(out.eth_src, config.own_mac);
    let route = node.routes().lookup(out.ip_dst).expect("output sent without a route");
    assert_eq!((port, out.eth_dst), (route.port, route.mac));
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else { return };
    let mut node = build(selector);
    let config = *node.config().unwrap();
    let mut scratch = [0u8; CHAIN_FRAME_LEN];
    let (mut frames, mut unrouted) = (0u64, 0u64);
    while let [control, length, tail @ ..] = rest {
        let (bytes, next) = tail.split_at(usize::from(*length).min(tail.len()));
        rest = next;
        let mut received = bytes.to_vec();
        fix_up(*control, &mut received, &config);
        let mut frame = received.clone();
        let before = *node.outcome_counts();
        let verdict = node.process((frames % 2) as u16, &mut frame, &mut scratch);
        frames += 1;
        unrouted += u64::from(verdict.unrouted);

        let mut expected = before;
        expected[verdict.outcome.index()] += 1;
        expected[Outcome::NoRoute.index()] += u64::from(verdict.unrouted);
        assert_eq!(node.outcome_counts(), &expected, "counters after {:?}", verdict);
        if verdict.outcome.is_drop() {
            assert!(verdict.primary.is_none() && verdict.secondary.is_none() && verdict.unrouted == 0);
        }
        let transit = verdict.outcome == Outcome::Transit;
        if let Some(egress) = verdict.primary {
            check_output(&node, &received, egress.port, &frame[..egress.len], transit);
        }
        if let Some(egress) = verdict.secondary {
            check_output(&node, &received, egress.port, &scratch[..egress.len], false);
        }
    }
    let counts = node.outcome_counts();
    assert_eq!(counts[Outcome::NoRoute.index()], unrouted);
    assert_eq!(counts.iter().sum::<u64>(), frames + unrouted);
});
