//! The nodes' counters over P4Runtime, and what `netcraq ctl top` makes of
//! them: the hottest keys and each node's share of reads it answered itself.

use crate::deploy::Controller;
use crate::target::NodeError;
use netcraq_core::control::CounterId;
use netcraq_core::Outcome;

/// One node's counters (`docs/protocol.md` §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCounters {
    pub node: String,
    /// Indexed by outcome code (§6).
    pub outcomes: Vec<u64>,
    /// Indexed by key.
    pub key_reads: Vec<u64>,
    pub key_writes: Vec<u64>,
}

impl NodeCounters {
    pub fn outcome(&self, outcome: Outcome) -> u64 {
        self.outcomes.get(outcome as usize).copied().unwrap_or(0)
    }
}

/// Requests for one key, summed over the nodes that received them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyLoad {
    pub key: u16,
    pub reads: u64,
    pub writes: u64,
}

impl KeyLoad {
    pub fn total(&self) -> u64 {
        self.reads.saturating_add(self.writes)
    }
}

/// How many reads a node answered itself and how many it sent to the tail.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadShare {
    pub node: String,
    /// `READ_LOCAL`: answered here (a tail answers every read it receives,
    /// including those other nodes forwarded to it).
    pub local: u64,
    /// `READ_TO_TAIL`: forwarded to the tail (CR mode, or a dirty key).
    pub to_tail: u64,
}

impl ReadShare {
    /// The fraction answered locally, `None` without reads.
    pub fn local_fraction(&self) -> Option<f64> {
        let all = self.local + self.to_tail;
        (all > 0).then(|| self.local as f64 / all as f64)
    }
}

/// Every node's counters, in deployment order. Needs no primary role.
pub async fn read_counters(controller: &mut Controller) -> Result<Vec<NodeCounters>, NodeError> {
    controller.connect().await?;
    let mut all = Vec::new();
    for target in controller.targets() {
        all.push(NodeCounters {
            node: target.name().to_string(),
            outcomes: target.read_counter(CounterId::Outcomes).await?,
            key_reads: target.read_counter(CounterId::KeyReads).await?,
            key_writes: target.read_counter(CounterId::KeyWrites).await?,
        });
    }
    Ok(all)
}

/// The `limit` keys with the most requests, reads and writes summed over
/// all nodes, busiest first (ties: lower key first). A request that a node
/// forwards (a read to the tail, a write to the head) is counted again by
/// the node that receives it: these are requests as the nodes saw them.
pub fn hottest_keys(nodes: &[NodeCounters], limit: usize) -> Vec<KeyLoad> {
    let keys = nodes.iter().map(|n| n.key_reads.len().max(n.key_writes.len())).max().unwrap_or(0);
    let sum = |per_node: fn(&NodeCounters) -> &Vec<u64>, key: usize| {
        nodes.iter().map(|n| per_node(n).get(key).copied().unwrap_or(0)).fold(0u64, u64::saturating_add)
    };
    let mut loads: Vec<KeyLoad> = (0..keys.min(1 << 16))
        .map(|key| KeyLoad { key: key as u16, reads: sum(|n| &n.key_reads, key), writes: sum(|n| &n.key_writes, key) })
        .filter(|load| load.total() > 0)
        .collect();
    loads.sort_by(|a, b| b.total().cmp(&a.total()).then(a.key.cmp(&b.key)));
    loads.truncate(limit);
    loads
}

/// Each node's reads answered locally versus forwarded to the tail.
pub fn read_shares(nodes: &[NodeCounters]) -> Vec<ReadShare> {
    nodes
        .iter()
        .map(|n| ReadShare {
            node: n.node.clone(),
            local: n.outcome(Outcome::ReadLocal),
            to_tail: n.outcome(Outcome::ReadToTail),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, reads: &[(usize, u64)], writes: &[(usize, u64)], local: u64, to_tail: u64) -> NodeCounters {
        let mut counters = NodeCounters {
            node: name.to_string(),
            outcomes: vec![0; Outcome::COUNT],
            key_reads: vec![0; 16],
            key_writes: vec![0; 16],
        };
        for (key, count) in reads {
            counters.key_reads[*key] = *count;
        }
        for (key, count) in writes {
            counters.key_writes[*key] = *count;
        }
        counters.outcomes[Outcome::ReadLocal as usize] = local;
        counters.outcomes[Outcome::ReadToTail as usize] = to_tail;
        counters
    }

    #[test]
    fn hottest_keys_sum_over_nodes_busiest_first() {
        let nodes = [node("n1", &[(3, 5), (7, 1)], &[(7, 2)], 6, 0), node("n2", &[(7, 4)], &[(9, 1)], 3, 1)];
        let hot = hottest_keys(&nodes, 2);
        assert_eq!(
            hot,
            [KeyLoad { key: 7, reads: 5, writes: 2 }, KeyLoad { key: 3, reads: 5, writes: 0 }],
            "key 7: 7 requests, key 3: 5, key 9: 1 (cut by the limit)"
        );
        assert!(hottest_keys(&[], 10).is_empty());
        let shares = read_shares(&nodes);
        assert_eq!(shares[1].local_fraction(), Some(0.75));
        assert_eq!(read_shares(&[node("idle", &[], &[], 0, 0)])[0].local_fraction(), None);
    }
}
