//! A chain of three BMv2 switches running `p4/netcraq.p4`, configured by the
//! controller over P4Runtime as `netcraq up` does, passes the read/write and
//! linearizability tests the software chain passes: the head stamps, the
//! replica forwards, the tail replies and sends its ACK upstream through the
//! clone-and-recirculate second output. Needs root, `simple_switch_grpc` on
//! PATH and p4c (or a compiled p4/build); otherwise it says SKIP.

mod support;

use netcraq_core::control::CounterId;
use netcraq_core::Outcome;
use support::{bmv2_available, line_topology, running_as_root, Chain};

fn value(text: &str) -> [u8; 16] {
    netcraq_client::parse_value(text).expect("test value fits")
}

#[test]
fn a_chain_of_bmv2_switches_replicates_and_is_linearizable() {
    let test = "a_chain_of_bmv2_switches_replicates_and_is_linearizable";
    if !running_as_root(test) || !bmv2_available(test) {
        return;
    }
    let chain = Chain::up_managed(&line_topology(3, "craq", "").replace("kind = \"software\"", "kind = \"bmv2\""));
    chain.inside("h1", || {
        let first = chain.client("n1").write(9, value("first")).expect("write at the head");
        let second = chain.client("n3").write(9, value("second")).expect("write at the tail");
        assert_eq!(second.version, first.version.wrapping_add(1));
    });
    // The tail's ACKs reach the head through the tail's second output (BMv2
    // serves counter reads over P4Runtime, not register reads).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while chain.counter("n1", CounterId::Outcomes)[Outcome::AckConsumed.index()] < 2 {
        assert!(std::time::Instant::now() < deadline, "the head never saw the ACKs of its writes");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let tail = chain.counter("n3", CounterId::Outcomes);
    assert_eq!(tail[Outcome::CommitApplied.index()], 2, "the tail committed both writes");
    chain.inside("h1", || {
        for node in ["n1", "n2", "n3"] {
            assert_eq!(chain.client(node).read(9).expect("read").value, value("second"), "read at {node}");
        }
    });
    chain.assert_linearizable(2000, 9, "three BMv2 switches");
}
