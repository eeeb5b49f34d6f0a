//! Chains with DPDK nodes: `netcraq node --dpdk` processes on network
//! namespaces, without hugepages: on veth links through DPDK's AF_PACKET
//! driver (the default mapping of a node-file port), on memif links between
//! DPDK nodes, mixed with software nodes, and on two lcores per node. All
//! but the first are configured as `netcraq up` does it, by the controller
//! over P4Runtime. Needs root and the `dpdk` feature; otherwise it says SKIP
//! or is not built.

#![cfg(feature = "dpdk")]

mod support;

use netcraq_core::control::RegisterId;
use support::{bmv2_available, line_topology, outcome, running_as_root, Chain};

/// EAL arguments of every test node: ordinary memory, quiet.
const EAL: &str = "--no-huge -m 256 --no-telemetry --log-level=warning";

fn value(text: &str) -> [u8; 16] {
    netcraq_client::parse_value(text).expect("test value fits")
}

/// `netcraq up`'s node command with `--dpdk`: every node process has its
/// own EAL on ordinary memory, and sleeps when idle (3 pollers, 2 cores).
fn dpdk_chain(nodes: usize) -> Chain {
    let dpdk = ["--dpdk", "--no-huge -m 128 --no-telemetry --log-level=warning", "--dpdk-idle", "sleep:100"];
    Chain::up_with(&line_topology(nodes, "craq", ""), &dpdk)
}

#[test]
fn a_chain_of_dpdk_nodes_replicates_and_answers() {
    if !running_as_root("a_chain_of_dpdk_nodes_replicates_and_answers") {
        return;
    }
    let chain = dpdk_chain(3);
    chain.inside("h1", || {
        let first = chain.client("n1").write(5, value("dpdk")).expect("write at the head");
        chain.wait_acked_at_head(1);
        for node in ["n1", "n2", "n3"] {
            let read = chain.client(node).read(5).expect("read");
            assert_eq!((read.value, read.version), (value("dpdk"), first.version), "read at {node}");
        }
        let second = chain.client("n3").write(5, value("again")).expect("write at the tail");
        assert_eq!(second.version, first.version.wrapping_add(1));
        chain.wait_acked_at_head(2);
        assert_eq!(chain.client("n2").read(5).expect("read").value, value("again"));
    });
    chain.expect_outcomes("n1", &[("READ_LOCAL", 1), ("WRITE_STAMPED", 2), ("ACK_CONSUMED", 2)]);
    chain.expect_outcomes("n2", &[("READ_LOCAL", 2), ("CHAIN_WRITE_APPLIED", 2), ("ACK_FORWARDED", 2)]);
    chain.expect_outcomes("n3", &[("READ_LOCAL", 1), ("WRITE_TO_HEAD", 1), ("COMMIT_APPLIED", 2)]);
    let stats = chain.wait_stats("n2", |s| s["io"]["tx_frames"].as_u64() > Some(0));
    assert_eq!(outcome(&stats, "NO_ROUTE"), 0, "{stats}");
    assert_eq!((&stats["io"]["tx_errors"], &stats["io"]["tx_no_port"]), (&0.into(), &0.into()), "{stats}");
}

/// A line `h1 - n1 - n2 - n3 - h2` whose nodes are of `kinds` with EAL
/// arguments `eal` (for the DPDK ones), and whose node–node links are of
/// `chain_link` ("veth" or "memif").
fn topology(kinds: [&str; 3], eal: &str, chain_link: &str) -> String {
    let mut text = String::new();
    for (i, kind) in kinds.iter().enumerate() {
        let eal = if *kind == "dpdk" { format!("eal = \"{eal}\"\n") } else { String::new() };
        text += &format!("[[node]]\nname = \"n{n}\"\nkind = \"{kind}\"\nip = \"10.0.0.{n}\"\n{eal}\n", n = i + 1);
    }
    text += "[[host]]\nname = \"h1\"\nip = \"10.0.1.1\"\n\n[[host]]\nname = \"h2\"\nip = \"10.0.1.2\"\n\n";
    text += "[[link]]\na = \"h1\"\nb = \"n1\"\n\n";
    for (a, b) in [("n1", "n2"), ("n2", "n3")] {
        text += &format!("[[link]]\na = \"{a}\"\nb = \"{b}\"\nkind = \"{chain_link}\"\n\n");
    }
    text += "[[link]]\na = \"n3\"\nb = \"h2\"\n\n";
    text + "[[chain]]\nname = \"kv\"\nnodes = [\"n1\", \"n2\", \"n3\"]\nmode = \"craq\"\nkeys = [0, 1024]\n"
}

/// Writes at the head and the tail, reads at every node, with the outcome
/// counts of a 3-node CRAQ chain.
fn replicates_and_answers(chain: &Chain) {
    chain.inside("h1", || {
        let first = chain.client("n1").write(9, value("first")).expect("write at the head");
        chain.wait_acked_at_head(1);
        for node in ["n1", "n2", "n3"] {
            let read = chain.client(node).read(9).expect("read");
            assert_eq!((read.value, read.version), (value("first"), first.version), "read at {node}");
        }
        let second = chain.client("n3").write(9, value("second")).expect("write at the tail");
        assert_eq!(second.version, first.version.wrapping_add(1));
        chain.wait_acked_at_head(2);
        assert_eq!(chain.client("n2").read(9).expect("read").value, value("second"));
    });
    chain.expect_outcomes("n1", &[("READ_LOCAL", 1), ("WRITE_STAMPED", 2), ("ACK_CONSUMED", 2)]);
    chain.expect_outcomes("n2", &[("READ_LOCAL", 2), ("CHAIN_WRITE_APPLIED", 2), ("ACK_FORWARDED", 2)]);
    chain.expect_outcomes("n3", &[("READ_LOCAL", 1), ("WRITE_TO_HEAD", 1), ("COMMIT_APPLIED", 2)]);
}

#[test]
fn a_chain_of_dpdk_nodes_on_memif_links_replicates_and_is_linearizable() {
    if !running_as_root("a_chain_of_dpdk_nodes_on_memif_links_replicates_and_is_linearizable") {
        return;
    }
    let chain = Chain::up_managed(&topology(["dpdk", "dpdk", "dpdk"], EAL, "memif"));
    replicates_and_answers(&chain);
    chain.assert_linearizable(2000, 5, "memif chain");
    let n2 = chain.wait_stats("n2", |s| s["io"]["tx_frames"].as_u64() > Some(0));
    assert_eq!(outcome(&n2, "NO_ROUTE"), 0, "{n2}");
    assert_eq!((&n2["io"]["tx_errors"], &n2["io"]["rx_errors"]), (&0.into(), &0.into()), "{n2}");
}

#[test]
fn a_chain_mixing_dpdk_and_software_nodes_replicates_and_is_linearizable() {
    if !running_as_root("a_chain_mixing_dpdk_and_software_nodes_replicates_and_is_linearizable") {
        return;
    }
    let chain = Chain::up_managed(&topology(["dpdk", "software", "dpdk"], EAL, "veth"));
    replicates_and_answers(&chain);
    chain.assert_linearizable(2000, 5, "mixed chain");
}

#[test]
fn dpdk_nodes_on_two_lcores_hand_frames_to_the_key_owner_and_stay_linearizable() {
    if !running_as_root("dpdk_nodes_on_two_lcores_hand_frames_to_the_key_owner_and_stay_linearizable") {
        return;
    }
    // Two lcores that float over the first two CPUs (CI has two cores);
    // af_packet gets two queue pairs, one per lcore.
    let eal = format!("{EAL} --lcores=(0-1)@(0-1)");
    let chain = Chain::up_managed(&topology(["dpdk", "dpdk", "dpdk"], &eal, "veth"));
    replicates_and_answers(&chain);
    chain.assert_linearizable(2000, 5, "two lcores per node");
    for node in ["n1", "n2", "n3"] {
        let stats = chain.wait_stats(node, |s| s["io"]["handed_over"].as_u64() > Some(0));
        assert_eq!(stats["io"]["handoff_full"], 0, "{node}: {stats}");
    }
    // Each key's registers live on its owner lcore, which the register read
    // over P4Runtime asks: had another lcore applied a write of the key, the
    // tail's version would not be found there.
    let versions: Vec<u8> = chain
        .inside("h1", || (0..4).map(|key| chain.client("n3").read(key).expect("read at the tail").version).collect());
    for (key, version) in (0..4u16).zip(versions) {
        for node in ["n1", "n2", "n3"] {
            let stored = chain.register(node, RegisterId::KvVersion, key);
            assert_eq!(stored, u128::from(version), "{node}: kv_version of key {key}");
        }
    }
}

#[test]
fn a_chain_mixing_dpdk_bmv2_and_software_nodes_replicates_and_is_linearizable() {
    let test = "a_chain_mixing_dpdk_bmv2_and_software_nodes_replicates_and_is_linearizable";
    if !running_as_root(test) {
        return;
    }
    if !bmv2_available(test) {
        return;
    }
    let chain = Chain::up_managed(&topology(["dpdk", "bmv2", "software"], EAL, "veth"));
    chain.inside("h1", || {
        let first = chain.client("n1").write(9, value("first")).expect("write at the head");
        let second = chain.client("n3").write(9, value("second")).expect("write at the tail");
        assert_eq!(second.version, first.version.wrapping_add(1));
        // The switch in the middle answers reads itself once the ACK has passed it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while chain.client("n2").read(9).expect("read at the switch").value != value("second") {
            assert!(std::time::Instant::now() < deadline, "the switch never served the committed value");
        }
    });
    chain.assert_linearizable(2000, 5, "dpdk, bmv2 and software");
}
