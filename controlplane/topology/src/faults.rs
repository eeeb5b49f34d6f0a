//! The seeds that make a faulty run reproducible. What a link asks for is
//! [`netcraq_core::faults::PortFaults`], checked there.

/// The topology file's `fault_seed` when it gives none.
pub const DEFAULT_FAULT_SEED: u64 = 1;

/// The seed of a node's fault injection, from the topology's `fault_seed`
/// and the node's name: a rerun repeats every node's faults, and adding or
/// reordering nodes changes no other node's seed.
pub(crate) fn node_fault_seed(topology_seed: u64, node: &str) -> u64 {
    mix_seed(topology_seed, node.as_bytes())
}

/// The seed of one port's fault injection, from its node's `fault_seed`, so
/// the ports of a node draw unrelated sequences.
pub(crate) fn port_fault_seed(node_seed: u64, port: u16) -> u64 {
    mix_seed(node_seed, &port.to_be_bytes())
}

/// FNV-1a over `label` starting from `seed`, then SplitMix64's finaliser so
/// that nearby inputs give unrelated seeds. Written out rather than taken
/// from `std::hash`, whose algorithm may change between Rust releases: a
/// seed reported by a failing run must mean the same faults later. The top
/// bit is cleared because a node file stores the seed as a TOML integer,
/// which is a signed 64-bit number.
fn mix_seed(seed: u64, label: &[u8]) -> u64 {
    const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0100_0000_01b3;
    let hash =
        label.iter().fold(seed ^ FNV_OFFSET_BASIS, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME));
    let mixed = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (mixed ^ (mixed >> 31)) >> 1
}
