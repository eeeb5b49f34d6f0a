//! A 3-node chain wired port to port in memory, driven by hand: the smallest
//! end-to-end check of the behaviour table. (The conformance vectors check
//! each row exactly; the model checker checks all interleavings.)

use netcraq_core::{FabricPort, Mode, Node, NodeConfig, Outcome, Role, Route};
use netcraq_wire::{Endpoint, Ipv4Addr, MacAddr, NetcraqFrame, NetcraqRepr, Op, CHAIN_FRAME_LEN};
use std::collections::VecDeque;

const CLIENT_PORT: u16 = 0;

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, last)
}

fn mac(last: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, last])
}

/// Node i (1..=3) has ip/mac .i; port j reaches node j and is a fabric port,
/// port 0 the client (.100) and is an edge port.
fn chain(mode: Mode) -> Vec<Node> {
    (1..=3u8)
        .map(|i| {
            let role = [Role::Head, Role::Replica, Role::Tail][usize::from(i - 1)];
            let mut node = Node::new(16);
            node.set_config(NodeConfig {
                own_mac: mac(i),
                own_ip: ip(i),
                role,
                mode,
                head_ip: ip(1),
                tail_ip: ip(3),
                successor_ip: if i < 3 { ip(i + 1) } else { Ipv4Addr::UNSPECIFIED },
                predecessor_ip: if i > 1 { ip(i - 1) } else { Ipv4Addr::UNSPECIFIED },
                key_lo: 0,
                key_hi: 16,
                epoch: 1,
                lease_ticks: 0,
                sync_epoch: 0,
            })
            .unwrap();
            for j in 1..=3u8 {
                let route = Route { prefix: ip(j), prefix_len: 32, port: u16::from(j), mac: mac(j) };
                node.routes_mut().insert(route).unwrap();
                let fabric = FabricPort {
                    port: u16::from(j),
                    from_predecessor: j + 1 == i,
                    from_successor: j == i + 1,
                    from_controller: false,
                };
                node.fabric_ports_mut().insert(fabric).unwrap();
            }
            let client = Route { prefix: ip(100), prefix_len: 32, port: CLIENT_PORT, mac: mac(100) };
            node.routes_mut().insert(client).unwrap();
            node
        })
        .collect()
}

fn request(to: u8, op: Op, key: u16, value: u8, ident: u16) -> Vec<u8> {
    let (client, node) = (Endpoint { ip: ip(100), mac: mac(100) }, Endpoint { ip: ip(to), mac: mac(to) });
    let header = NetcraqRepr { op, version: 0, key, value: [value; 16] };
    let frame = NetcraqFrame::request(client, 40000, node, ident, header);
    frame.to_bytes().to_vec()
}

/// Delivers frames until the chain is quiet, the first from the client;
/// returns what reached the client. `hold` frames from node to node instead
/// are kept back and returned.
fn run(
    nodes: &mut [Node],
    first: (u8, Vec<u8>),
    hold: impl Fn(&NetcraqFrame) -> bool,
) -> (Vec<NetcraqFrame>, Vec<(u8, Vec<u8>)>) {
    // (to node, on its port, frame): node i's port j faces node j, port 0 the client.
    let mut queue = VecDeque::from([(first.0, CLIENT_PORT, first.1)]);
    let (mut to_client, mut held) = (Vec::new(), Vec::new());
    let mut scratch = [0u8; CHAIN_FRAME_LEN];
    for _ in 0..100 {
        let Some((at, ingress, mut frame)) = queue.pop_front() else { return (to_client, held) };
        let verdict = nodes[usize::from(at - 1)].process(ingress, &mut frame, &mut scratch);
        let outputs = [verdict.primary.map(|e| (e, frame.clone())), verdict.secondary.map(|e| (e, scratch.to_vec()))];
        for (egress, mut bytes) in outputs.into_iter().flatten() {
            bytes.truncate(egress.len);
            let parsed = NetcraqFrame::parse(&bytes).unwrap();
            match egress.port {
                CLIENT_PORT => to_client.push(parsed),
                port if hold(&parsed) => held.push((port as u8, bytes)),
                port => queue.push_back((port as u8, u16::from(at), bytes)),
            }
        }
    }
    panic!("chain did not go quiet within 100 deliveries");
}

#[test]
fn write_then_read_at_every_node() {
    let mut nodes = chain(Mode::Craq);
    let (replies, _) = run(&mut nodes, (2, request(2, Op::Write, 5, 0xaa, 1)), |_| false);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].header.op, Op::WriteReply);
    assert_eq!((replies[0].ident, replies[0].header.version, replies[0].ip_src), (1, 1, ip(3)));
    for at in 1..=3u8 {
        let (replies, _) = run(&mut nodes, (at, request(at, Op::Read, 5, 0, 10 + u16::from(at))), |_| false);
        assert_eq!(replies[0].header, NetcraqRepr { op: Op::ReadReply, version: 1, key: 5, value: [0xaa; 16] });
        assert_eq!(replies[0].ip_src, ip(at), "clean key answered by the node asked");
        assert_eq!(nodes[usize::from(at - 1)].outcome_count(Outcome::ReadLocal), 1);
    }
}

#[test]
fn dirty_read_goes_to_tail_and_cr_reads_always_do() {
    let mut nodes = chain(Mode::Craq);
    // Hold the ACK: head and replica stay dirty.
    let (_, held) = run(&mut nodes, (1, request(1, Op::Write, 3, 0x11, 1)), |f| f.header.op == Op::Ack);
    assert_eq!(held.len(), 1);
    let (replies, _) = run(&mut nodes, (1, request(1, Op::Read, 3, 0, 2)), |_| false);
    assert_eq!((replies[0].ip_src, replies[0].header.value), (ip(3), [0x11; 16]));
    assert_eq!(nodes[0].outcome_count(Outcome::ReadToTail), 1);

    let mut cr = chain(Mode::Cr);
    run(&mut cr, (1, request(1, Op::Write, 3, 0x22, 1)), |_| false);
    let (replies, _) = run(&mut cr, (2, request(2, Op::Read, 3, 0, 2)), |_| false);
    assert_eq!(replies[0].ip_src, ip(3), "CR mode: the tail answers every read");
}

#[test]
fn a_client_cannot_forge_chain_frames() {
    // §9.1: after an honest write, a CHAIN_WRITE and an ACK from the client's
    // port, with the client's and with the neighbours' addresses, change no
    // register; the chain keeps serving the honest value.
    let mut nodes = chain(Mode::Craq);
    run(&mut nodes, (1, request(1, Op::Write, 9, 0x01, 1)), |_| false);
    let registers: Vec<_> = nodes.iter().map(|n| n.registers().clone()).collect();
    for at in 1..=3u8 {
        for (op, version) in [(Op::ChainWrite, 5), (Op::Ack, 1)] {
            for from in [ip(100), ip(at.saturating_sub(1).max(1)), ip((at + 1).min(3))] {
                let client = Endpoint { ip: from, mac: mac(100) };
                let header = NetcraqRepr { op, version, key: 9, value: [0xee; 16] };
                let mut frame = NetcraqFrame::request(client, 40000, Endpoint { ip: ip(at), mac: mac(at) }, 2, header);
                frame.epoch = 1;
                let (replies, held) = run(&mut nodes, (at, frame.to_bytes().to_vec()), |_| false);
                assert!(replies.is_empty() && held.is_empty(), "a forged {op:?} at node {at} made outputs");
            }
        }
    }
    for (node, before) in nodes.iter().zip(&registers) {
        assert!(node.registers() == before, "a forged frame changed a register");
        let refused = node.outcome_count(Outcome::DropNotFromChain) + node.outcome_count(Outcome::DropUnexpectedOp);
        assert_eq!(refused, 6, "every forged frame counted");
    }
    for at in 1..=3u8 {
        let (replies, _) = run(&mut nodes, (at, request(at, Op::Read, 9, 0, 3)), |_| false);
        assert_eq!(replies[0].header.value, [0x01; 16], "node {at} serves the honest value");
    }
}

#[test]
fn a_chain_frame_of_another_epoch_is_dropped() {
    let mut nodes = chain(Mode::Craq);
    let (_, held) = run(&mut nodes, (1, request(1, Op::Write, 4, 0x22, 1)), |f| f.header.op == Op::ChainWrite);
    let (port, bytes) = held.into_iter().next().expect("the head's CHAIN_WRITE");
    let mut stale = NetcraqFrame::parse(&bytes).unwrap();
    stale.epoch = 2;
    let mut frame = stale.to_bytes().to_vec();
    let verdict = nodes[usize::from(port - 1)].process(1, &mut frame, &mut [0u8; CHAIN_FRAME_LEN]);
    assert_eq!(verdict.outcome, Outcome::DropWrongEpoch);
    assert_eq!(nodes[1].registers().get(4).unwrap().version, 0);
}
