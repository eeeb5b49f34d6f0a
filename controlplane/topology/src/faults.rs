//! Fault injection settings: what a link asks for, what each node port
//! applies on transmit, and the seeds that make a faulty run reproducible.

/// The topology file's `fault_seed` when it gives none.
pub const DEFAULT_FAULT_SEED: u64 = 1;

/// Probabilities in percent that a node applies, independently to every
/// frame it sends on a port: drop it, send it twice, or hold it back and
/// send it after the next frame on that port (or when the node goes idle).
/// One draw per frame picks at most one of them, so they add up to at most
/// 100.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PortFaults {
    pub loss_percent: f64,
    pub duplicate_percent: f64,
    pub reorder_percent: f64,
}

impl PortFaults {
    /// True when every frame is sent once, in order.
    pub fn is_none(&self) -> bool {
        self.loss_percent == 0.0 && self.duplicate_percent == 0.0 && self.reorder_percent == 0.0
    }

    /// Each probability within 0 to 100 and their sum at most 100.
    pub(crate) fn check(&self) -> Result<(), String> {
        let named = [
            ("loss_percent", self.loss_percent),
            ("duplicate_percent", self.duplicate_percent),
            ("reorder_percent", self.reorder_percent),
        ];
        if let Some((name, value)) = named.iter().find(|(_, value)| !(0.0..=100.0).contains(value)) {
            return Err(format!("{name} {value} is outside 0 to 100"));
        }
        let sum: f64 = named.iter().map(|(_, value)| value).sum();
        // The slack admits sums like 33.4 + 33.3 + 33.3 that are 100 but for
        // rounding; a sum a hair above 100 only means no frame is sent as is.
        if sum > 100.0 + 1e-9 {
            return Err(format!(
                "loss_percent, duplicate_percent and reorder_percent add up to {sum}, more than 100 \
                 (one draw per frame picks at most one of them)"
            ));
        }
        Ok(())
    }
}

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
