//! Real chains with real packets: `netcraq node` processes on network
//! namespaces and veth links, driven by the client library from a host
//! namespace. Needs root (CI runs as root); otherwise each test says SKIP.

mod support;

use netcraq_client::{run_workload, Stop, Workload, WriteTarget};
use netcraq_core::control::RegisterId;
use netcraq_wire::{ErrorCode, NetcraqHeader, NetcraqRepr, Op};
use std::net::UdpSocket;
use std::time::Duration;
use support::{chain_frame, line_topology, outcome, request_frame, running_as_root, Chain};

/// Rounds of racing writes and reads before a test gives up seeing a dirty read.
const RACE_ROUNDS: u64 = 5;

fn value(text: &str) -> [u8; 16] {
    netcraq_client::parse_value(text).expect("test value fits")
}

#[test]
fn three_node_chain_reads_everywhere_and_forwards_dirty_reads_to_the_tail() {
    if !running_as_root("three_node_chain_reads_everywhere_and_forwards_dirty_reads_to_the_tail") {
        return;
    }
    let chain = Chain::up(&line_topology(3, "craq", ""));
    chain.inside("h1", || {
        let first = chain.client("n1").write(5, value("first")).expect("write at the head");
        chain.wait_acked_at_head(1);
        for node in ["n1", "n2", "n3"] {
            let read = chain.client(node).read(5).expect("read");
            assert_eq!((read.value, read.version), (value("first"), first.version), "read at {node}");
        }
        let second = chain.client("n3").write(5, value("second")).expect("write at the tail");
        assert_eq!(second.version, first.version.wrapping_add(1), "the head stamped the next version");
        chain.wait_acked_at_head(2);
        for node in ["n1", "n2", "n3"] {
            assert_eq!(chain.client(node).read(5).expect("read").value, value("second"), "overwrite seen at {node}");
        }
    });
    // Each node answered both reads of the clean key itself.
    chain.expect_outcomes("n1", &[("READ_LOCAL", 2), ("READ_TO_TAIL", 0), ("WRITE_STAMPED", 2)]);
    chain.expect_outcomes("n2", &[("READ_LOCAL", 2), ("READ_TO_TAIL", 0), ("CHAIN_WRITE_APPLIED", 2)]);
    chain.expect_outcomes("n3", &[("READ_LOCAL", 2), ("WRITE_TO_HEAD", 1), ("COMMIT_APPLIED", 2)]);

    // Writes and reads racing on one key at the head: some reads find it
    // dirty. A race is likely, not certain, so a busy machine gets more rounds.
    let racing = Workload {
        read_fraction: 0.5,
        keys: 7..8,
        concurrency: 16,
        stop: Stop::AfterOperations(2000),
        write_target: WriteTarget::Node(chain.address("n1")),
        ..Workload::default()
    };
    let dirty_reads_seen = (0..RACE_ROUNDS).any(|round| {
        let workload = Workload { seed: round, ..racing.clone() };
        let report = chain.inside("h1", || run_workload(&[chain.address("n1")], &workload, |_| {})).expect("runs");
        assert!(report.reads > 0 && report.writes > 0);
        std::thread::sleep(Duration::from_millis(100)); // two stats intervals
        outcome(&chain.wait_stats("n1", |_| true), "READ_TO_TAIL") > 0
    });
    let head = chain.wait_stats("n1", |_| true);
    assert!(dirty_reads_seen, "in {RACE_ROUNDS} rounds no read at the head found the key dirty: {head}");
    assert!(outcome(&head, "READ_LOCAL") > 2, "clean reads are still answered at the head: {head}");
}

#[test]
fn cr_mode_sends_every_read_to_the_tail() {
    if !running_as_root("cr_mode_sends_every_read_to_the_tail") {
        return;
    }
    let chain = Chain::up(&line_topology(3, "cr", ""));
    chain.inside("h1", || {
        chain.client("n1").write(3, value("cr")).expect("write");
        for node in ["n1", "n2", "n3"] {
            assert_eq!(chain.client(node).read(3).expect("read").value, value("cr"));
        }
    });
    chain.expect_outcomes("n1", &[("READ_LOCAL", 0), ("READ_TO_TAIL", 1)]);
    chain.expect_outcomes("n2", &[("READ_LOCAL", 0), ("READ_TO_TAIL", 1)]);
    chain.expect_outcomes("n3", &[("READ_LOCAL", 3)]);
}

#[test]
fn a_chain_of_one_answers_everything_itself() {
    if !running_as_root("a_chain_of_one_answers_everything_itself") {
        return;
    }
    let chain = Chain::up(&line_topology(1, "craq", ""));
    let (write, read) = chain.inside("h2", || {
        let write = chain.client("n1").write(9, value("solo")).expect("write");
        (write, chain.client("n1").read(9).expect("read"))
    });
    assert_eq!((read.value, read.version), (value("solo"), write.version));
    chain.expect_outcomes("n1", &[("WRITE_STAMPED", 1), ("READ_LOCAL", 1)]);
}

#[test]
fn malformed_frames_on_the_links_are_dropped_counted_and_the_chain_keeps_serving() {
    if !running_as_root("malformed_frames_on_the_links_are_dropped_counted_and_the_chain_keeps_serving") {
        return;
    }
    let chain = Chain::up(&line_topology(3, "craq", ""));
    let host = chain.running.plan().hosts.iter().find(|h| h.name == "h1").expect("h1").clone();
    let n1 = (chain.node_ip("n1"), chain.node_mac("n1"));

    // From h1 to n1: each malformation once, and a READ of a key outside [0, 1024).
    let error_reply = chain.inside("h1", || {
        let replies = UdpSocket::bind((host.ip, 0)).expect("bind in h1");
        replies.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
        let port = replies.local_addr().expect("local address").port();
        let base = request_frame((host.ip, host.mac, port), n1, Op::Read, 3);
        let socket = netcraq_node::afpacket::PacketSocket::open(&host.interface).expect("packet socket in h1");
        for frame in malformed_frames(&base) {
            socket.send(&frame).expect("inject");
        }
        socket.send(&request_frame((host.ip, host.mac, port), n1, Op::Read, 2000)).expect("inject");
        let mut reply = [0u8; 64];
        let len = replies.recv(&mut reply).expect("ERROR reply for the key out of range");
        reply[..len].to_vec()
    });
    let header = NetcraqHeader::new_checked(&error_reply[..]).expect("a NetCRAQ header");
    assert_eq!(
        (header.op_code(), header.version(), header.key()),
        (Op::Error as u8, ErrorCode::KeyOutOfRange as u8, 2000)
    );
    let stats = chain.wait_stats("n1", |s| outcome(s, "KEY_OUT_OF_RANGE") == 1);
    for name in ["DROP_TRUNCATED", "DROP_IPV4_CHECKSUM", "DROP_UNKNOWN_OP", "DROP_WRONG_PORT", "DROP_WRONG_MAC"] {
        assert_eq!(outcome(&stats, name), 1, "{name} at n1: {stats}");
    }

    // On the n1–n2 link, from n1's side: a bad checksum and an internal op out of range.
    let n1_to_n2 = chain
        .running
        .plan()
        .links
        .iter()
        .flat_map(|l| l.ends.iter())
        .find(|end| end.endpoint == "n1" && end.port == 2)
        .expect("n1's port toward n2")
        .interface
        .clone();
    chain.inside("n1", || {
        let socket = netcraq_node::afpacket::PacketSocket::open(&n1_to_n2).expect("packet socket in n1");
        let n2 = (chain.node_ip("n2"), chain.node_mac("n2"));
        let header = NetcraqRepr { op: Op::ChainWrite, version: 1, key: 1500, value: value("out of range") };
        let base = chain_frame((n1.0, n1.1, 20035), n2, header, chain.epoch());
        socket.send(&base).expect("inject");
        socket.send(&with_bad_checksum(&base)).expect("inject");
    });
    let stats = chain.wait_stats("n2", |s| outcome(s, "DROP_KEY_OUT_OF_RANGE") == 1);
    assert_eq!(outcome(&stats, "DROP_IPV4_CHECKSUM"), 1, "{stats}");

    let read = chain.inside("h1", || {
        chain.client("n1").write(4, value("still serving")).expect("write after the garbage");
        chain.client("n2").read(4).expect("read after the garbage")
    });
    assert_eq!(read.value, value("still serving"));
}

/// §9.1 with real packets: a client host on each node forges CHAIN_WRITE
/// and ACK of the chain's epoch, as itself and as a chain node, addressed
/// to the node it is on and through it to the others. Every node drops
/// each one and counts why; no register changes; the chain keeps serving,
/// configured by the controller over P4Runtime (which wrote `fabric_port`).
#[test]
fn forged_chain_frames_from_hosts_change_no_register() {
    if !running_as_root("forged_chain_frames_from_hosts_change_no_register") {
        return;
    }
    // h1 on the head, h3 on the replica, h2 on the tail.
    let topology = line_topology(3, "craq", "")
        + "\n[[host]]\nname = \"h3\"\nip = \"10.0.1.3\"\n\n[[link]]\na = \"n2\"\nb = \"h3\"\n";
    let chain = Chain::up_managed(&topology);
    let honest = value("honest");
    chain.inside("h1", || chain.client("n1").write(9, honest).expect("an honest write"));
    chain.wait_acked_at_head(1);
    let nodes = ["n1", "n2", "n3"].map(|n| (n, chain.node_ip(n), chain.node_mac(n)));
    for (host, on) in [("h1", "n1"), ("h3", "n2"), ("h2", "n3")] {
        let plan = chain.running.plan().hosts.iter().find(|h| h.name == host).expect("host").clone();
        let first_hop = chain.node_mac(on);
        let neighbour = if on == "n2" { chain.node_ip("n1") } else { chain.node_ip("n2") };
        chain.inside(host, || {
            let socket = netcraq_node::afpacket::PacketSocket::open(&plan.interface).expect("packet socket");
            for (_, target_ip, _) in nodes {
                for (op, version) in [(Op::ChainWrite, 5), (Op::Ack, 1), (Op::Sync, 5), (Op::Sweep, 0), (Op::Renew, 0)]
                {
                    for source in [plan.ip, neighbour] {
                        let header = NetcraqRepr { op, version, key: 9, value: value("forged") };
                        let frame =
                            chain_frame((source, plan.mac, 40_000), (target_ip, first_hop), header, chain.epoch());
                        socket.send(&frame).expect("inject");
                    }
                }
            }
        });
    }
    // The head takes no CHAIN_WRITE or SYNC, the tail no ACK (step 15);
    // everything else is not from the chain (steps 8 and 15b): per node, 20
    // frames its host sent through it to the others, and those addressed to
    // it that its role handles. The only frame in transit was the honest
    // write's reply, from the tail to h1. No RENEW or SWEEP was acted on.
    chain.expect_outcomes("n1", &[("DROP_NOT_FROM_CHAIN", 26), ("DROP_UNEXPECTED_OP", 4), ("TRANSIT", 1)]);
    chain.expect_outcomes("n2", &[("DROP_NOT_FROM_CHAIN", 30), ("DROP_UNEXPECTED_OP", 0), ("TRANSIT", 1)]);
    chain.expect_outcomes("n3", &[("DROP_NOT_FROM_CHAIN", 28), ("DROP_UNEXPECTED_OP", 2), ("TRANSIT", 0)]);
    for (node, _, _) in nodes {
        let untouched = [
            "LEASE_RENEWED",
            "RENEW_CLOCK_ONLY",
            "RENEW_LATE",
            "SWEEP_RESENT",
            "SWEEP_COPIED",
            "SWEEP_COMMITTED",
            "SWEEP_CLEAN",
        ];
        chain.expect_outcomes(node, &untouched.map(|name| (name, 0)));
    }
    for (node, _, _) in nodes {
        assert_eq!(chain.register(node, RegisterId::KvVersion, 9), 1, "{node}'s version");
        assert_eq!(chain.register(node, RegisterId::KvAcked, 9), 1, "{node}'s acked version");
        assert_eq!(chain.register(node, RegisterId::KvValue, 9), u128::from_be_bytes(honest), "{node}'s value");
    }
    let fixed = value("fixed");
    let written = chain.inside("h2", || chain.client("n3").write(9, fixed).expect("a write after the forgeries"));
    assert_eq!(written.version, 2, "the next write is the second version");
    chain.wait_acked_at_head(2);
    for (node, ip, _) in nodes {
        let read = chain.inside("h1", || chain.client(node).read(9).expect("read"));
        assert_eq!((read.value, read.version), (fixed, 2), "{node} ({ip}) serves the acknowledged write");
    }
}

/// Truncated, bad IPv4 checksum, unknown op, wrong UDP port, wrong MAC.
fn malformed_frames(base: &[u8]) -> Vec<Vec<u8>> {
    let mut unknown_op = base.to_vec();
    unknown_op[42] = 0x42;
    let mut wrong_port = base.to_vec();
    wrong_port[36..38].copy_from_slice(&9999u16.to_be_bytes());
    let mut wrong_mac = base.to_vec();
    wrong_mac[5] ^= 0x01;
    vec![base[..40].to_vec(), with_bad_checksum(base), unknown_op, wrong_port, wrong_mac]
}

fn with_bad_checksum(frame: &[u8]) -> Vec<u8> {
    let mut bad = frame.to_vec();
    bad[24] ^= 0xff;
    bad
}

#[test]
fn histories_from_concurrent_clients_are_linearizable_with_and_without_faults() {
    if !running_as_root("histories_from_concurrent_clients_are_linearizable_with_and_without_faults") {
        return;
    }
    let faults = "loss_percent = 3\nduplicate_percent = 3\nreorder_percent = 10\n";
    for (label, link_faults) in [("clean links", ""), ("loss, duplication and reordering", faults)] {
        let chain = Chain::up(&format!("fault_seed = 7\n\n{}", line_topology(3, "craq", link_faults)));
        chain.assert_linearizable(3000, 11, label);
        if !link_faults.is_empty() {
            let n2 = chain.wait_stats("n2", |_| true);
            let io = &n2["io"];
            for fault in ["fault_dropped", "fault_duplicated", "fault_reordered"] {
                assert!(io[fault].as_u64().unwrap_or(0) > 0, "{label}: n2 injected {fault}: {io}");
            }
        }
    }
}
