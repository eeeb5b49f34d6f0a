//! Many chains over the same nodes (`docs/protocol.md` §11): the key space
//! split into `2^prefix_len` groups, each placed on `length` nodes by
//! consistent hashing, as NetChain places its virtual groups.
//!
//! Each node has [`RING_POINTS_PER_NODE`] points on a 64-bit ring; a group's
//! chain is the first `length` distinct nodes met clockwise from the group's
//! own point, head first. Removing a node from the ring therefore changes
//! only the chains it is in, and in each of them exactly as the protocol can
//! follow: the other nodes keep their order (§10.2, §10.3) and the next
//! distinct node on the ring joins at the tail (§10.4).

use netcraq_core::{KeyGroup, Role};
use netcraq_wire::Ipv4Addr;

/// Points per node on the ring: enough that 1024 groups over 8 nodes give
/// every node between half and one and a half times its share.
pub const RING_POINTS_PER_NODE: u32 = 64;

/// One group's keys and chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupChain {
    /// The group's first key; the group is `key/prefix_len` (§2.3 `key_group`).
    pub key: u16,
    pub prefix_len: u8,
    /// Head first.
    pub nodes: Vec<String>,
}

impl GroupChain {
    /// `node`'s `key_group` entry for this chain in configuration `epoch`,
    /// or `None` when the node is not in it; `ip_of` gives a node's address.
    pub fn key_group(&self, node: &str, epoch: u32, ip_of: impl Fn(&str) -> Ipv4Addr) -> Option<KeyGroup> {
        let at = self.nodes.iter().position(|n| n == node)?;
        let last = self.nodes.len() - 1;
        let role = match (at, last) {
            (_, 0) => Role::Solo,
            (0, _) => Role::Head,
            (at, last) if at == last => Role::Tail,
            _ => Role::Replica,
        };
        let neighbour =
            |i: Option<usize>| i.and_then(|i| self.nodes.get(i)).map_or(Ipv4Addr::UNSPECIFIED, |n| ip_of(n));
        let uses = |used: bool, addr: Ipv4Addr| if used { addr } else { Ipv4Addr::UNSPECIFIED };
        Some(KeyGroup {
            key: self.key,
            prefix_len: self.prefix_len,
            role,
            head_ip: uses(matches!(role, Role::Replica | Role::Tail), ip_of(&self.nodes[0])),
            tail_ip: uses(matches!(role, Role::Head | Role::Replica), ip_of(&self.nodes[last])),
            successor_ip: neighbour(Some(at + 1)),
            predecessor_ip: neighbour(at.checked_sub(1)),
            epoch,
            sync_epoch: 0,
        })
    }
}

/// Why groups could not be placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupError {
    /// A chain needs `length` distinct nodes; there are `nodes`.
    TooFewNodes {
        length: usize,
        nodes: usize,
    },
    /// `prefix_len` above 16: there are only 16 key bits.
    TooManyGroups {
        prefix_len: u8,
    },
    DuplicateNode(String),
}

impl std::fmt::Display for GroupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupError::TooFewNodes { length, nodes } => {
                write!(f, "chains of {length} nodes need at least {length} nodes and at least 1; there are {nodes}")
            }
            GroupError::TooManyGroups { prefix_len } => {
                write!(f, "2^{prefix_len} groups: a group is a prefix of the 16-bit key, so at most 2^16")
            }
            GroupError::DuplicateNode(name) => write!(f, "node {name} is listed twice"),
        }
    }
}

impl std::error::Error for GroupError {}

/// Places `2^prefix_len` groups on chains of `length` of `nodes` (in group
/// order, group `g` holding the keys `g << (16 - prefix_len)` onwards).
pub fn place_groups(nodes: &[String], prefix_len: u8, length: usize) -> Result<Vec<GroupChain>, GroupError> {
    if prefix_len > 16 {
        return Err(GroupError::TooManyGroups { prefix_len });
    }
    if length == 0 || nodes.len() < length {
        return Err(GroupError::TooFewNodes { length, nodes: nodes.len() });
    }
    for (i, node) in nodes.iter().enumerate() {
        if nodes[..i].contains(node) {
            return Err(GroupError::DuplicateNode(node.clone()));
        }
    }
    let mut ring: Vec<(u64, usize)> = nodes
        .iter()
        .enumerate()
        .flat_map(|(n, name)| {
            (0..RING_POINTS_PER_NODE).map(move |point| (hash(&[name.as_bytes(), &point.to_be_bytes()]), n))
        })
        .collect();
    ring.sort_unstable();
    let groups = 1u32 << prefix_len;
    Ok((0..groups)
        .map(|group| {
            let start = ring.partition_point(|(point, _)| *point < hash(&[b"group", &group.to_be_bytes()]));
            let mut chain: Vec<usize> = Vec::with_capacity(length);
            for (_, n) in ring[start..].iter().chain(&ring[..start]) {
                if !chain.contains(n) {
                    chain.push(*n);
                    if chain.len() == length {
                        break;
                    }
                }
            }
            let key = u16::try_from(u64::from(group) << (16 - u32::from(prefix_len))).unwrap_or(0);
            GroupChain { key, prefix_len, nodes: chain.into_iter().map(|n| nodes[n].clone()).collect() }
        })
        .collect())
}

/// FNV-1a, 64 bits: stable across runs and builds, unlike std's hasher.
fn hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|part| part.iter()) {
        h ^= u64::from(*byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // FNV's low bits mix poorly over short inputs: finish as splitmix64 does.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcraq_core::KeyGroups;

    fn names(count: usize) -> Vec<String> {
        (1..=count).map(|i| format!("s{i}")).collect()
    }

    fn ip_of(name: &str) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, name[1..].parse().unwrap())
    }

    #[test]
    fn groups_cover_the_key_space_on_distinct_nodes_and_spread_the_load() {
        let nodes = names(8);
        let chains = place_groups(&nodes, 10, 3).unwrap();
        assert_eq!(chains.len(), 1024);
        for (g, chain) in chains.iter().enumerate() {
            assert_eq!((chain.key, chain.prefix_len), ((g as u16) << 6, 10));
            assert_eq!(chain.nodes.len(), 3);
            assert!(
                chain.nodes[0] != chain.nodes[1]
                    && chain.nodes[1] != chain.nodes[2]
                    && chain.nodes[0] != chain.nodes[2]
            );
        }
        for node in &nodes {
            let heads = chains.iter().filter(|c| &c.nodes[0] == node).count();
            let tails = chains.iter().filter(|c| &c.nodes[2] == node).count();
            let member = chains.iter().filter(|c| c.nodes.contains(node)).count();
            assert!((64..=192).contains(&heads), "{node} heads {heads} of 1024 groups");
            assert!((64..=192).contains(&tails), "{node} tails {tails} of 1024 groups");
            assert!((192..=576).contains(&member), "{node} is in {member} of 1024 groups");
        }
    }

    #[test]
    fn a_failure_touches_only_its_groups_and_the_replacement_joins_at_the_tail() {
        let nodes = names(8);
        let before = place_groups(&nodes, 10, 3).unwrap();
        let survivors: Vec<String> = nodes.iter().filter(|n| *n != "s3").cloned().collect();
        let after = place_groups(&survivors, 10, 3).unwrap();
        let mut touched = 0;
        for (old, new) in before.iter().zip(&after) {
            if !old.nodes.iter().any(|n| n == "s3") {
                assert_eq!(old, new, "a group without the failed node does not move");
                continue;
            }
            touched += 1;
            let kept: Vec<&String> = old.nodes.iter().filter(|n| *n != "s3").collect();
            assert_eq!(new.nodes[..2].iter().collect::<Vec<_>>(), kept, "the others keep their order");
            assert!(!old.nodes.contains(&new.nodes[2]), "one new node, at the tail");
        }
        assert!((192..=576).contains(&touched), "{touched} of 1024 groups had the failed node");
    }

    #[test]
    fn every_nodes_entries_are_valid_key_group_entries() {
        let nodes = names(5);
        let chains = place_groups(&nodes, 8, 3).unwrap();
        for node in &nodes {
            let mut table = KeyGroups::default();
            for (g, chain) in chains.iter().enumerate() {
                if let Some(group) = chain.key_group(node, 100 + g as u32, ip_of) {
                    table.insert(group, 1 << 16).unwrap_or_else(|e| panic!("{node} group {g}: {e}"));
                }
            }
            let count = chains.iter().filter(|c| c.nodes.contains(node)).count();
            assert_eq!(table.entries().len(), count);
        }
        let head = chains[0].key_group(&chains[0].nodes[0], 7, ip_of).unwrap();
        assert_eq!(
            (head.role, head.successor_ip, head.tail_ip),
            (Role::Head, ip_of(&chains[0].nodes[1]), ip_of(&chains[0].nodes[2]))
        );
        let solo = place_groups(&nodes, 0, 1).unwrap();
        assert_eq!(solo[0].key_group(&solo[0].nodes[0], 7, ip_of).unwrap().role, Role::Solo);
    }

    #[test]
    fn refuses_impossible_layouts() {
        assert_eq!(place_groups(&names(2), 4, 3), Err(GroupError::TooFewNodes { length: 3, nodes: 2 }));
        assert_eq!(place_groups(&names(2), 4, 0), Err(GroupError::TooFewNodes { length: 0, nodes: 2 }));
        assert_eq!(place_groups(&names(3), 17, 3), Err(GroupError::TooManyGroups { prefix_len: 17 }));
        let twice = vec!["a".to_string(), "b".to_string(), "a".to_string()];
        assert_eq!(place_groups(&twice, 4, 2), Err(GroupError::DuplicateNode("a".into())));
    }
}
