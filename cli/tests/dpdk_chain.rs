//! A chain of DPDK nodes: `netcraq node --dpdk` processes on network
//! namespaces and veth links, each port on DPDK's AF_PACKET driver (the
//! default mapping of a node-file port), without hugepages. Needs root and the
//! `dpdk` feature; otherwise it says SKIP or is not built.

#![cfg(feature = "dpdk")]

mod support;

use support::{line_topology, outcome, running_as_root, Chain};

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
