//! What the simulated clients ask for: operations, keys and target nodes.

use netcraq_client::mix::{MixError, MixSampler, RequestMix, WriteValues};
use netcraq_client::RequestKind;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

pub use netcraq_client::{KeyDistribution, Operation, Value};

/// An operation and the chain node (index 0 is the head) it is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedOp {
    pub op: Operation,
    pub node: usize,
}

/// Which chain node a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeChoice {
    /// Any node, uniformly: spreads the load over the chain.
    AnyNode,
    Head,
    Tail,
    /// The node with the client's own index (modulo the chain's length):
    /// with one client per node, each client's own node.
    OwnNode,
}

/// A random mix of reads and writes.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSpec {
    /// Chance that an operation is a read; the rest are writes.
    pub read_fraction: f64,
    /// Keys are drawn from `0..key_count` (at most 65536).
    pub key_count: u32,
    /// How keys are drawn: Zipf ranks them from key 0.
    pub keys: KeyDistribution,
    pub read_target: NodeChoice,
    pub write_target: NodeChoice,
}

impl Default for WorkloadSpec {
    /// Two reads per write (the Kubernetes pod-scaling mix) over 1000
    /// uniform keys, reads and writes sent to any node.
    fn default() -> Self {
        WorkloadSpec {
            read_fraction: 2.0 / 3.0,
            key_count: 1000,
            keys: KeyDistribution::Uniform,
            read_target: NodeChoice::AnyNode,
            write_target: NodeChoice::AnyNode,
        }
    }
}

impl WorkloadSpec {
    /// Why this workload cannot be generated, if it cannot.
    pub fn problem(&self) -> Option<&'static str> {
        self.mix().validate().err().as_ref().map(MixError::reason)
    }

    /// The reads and keys, as every client draws them.
    pub fn mix(&self) -> RequestMix {
        RequestMix { distribution: self.keys, ..RequestMix::uniform(self.read_fraction, self.key_count) }
    }
}

/// A workload ready to draw from: the spec and its key sampler, built once
/// per client and shared by its workers.
#[derive(Debug)]
pub(crate) struct CompiledWorkload {
    spec: WorkloadSpec,
    mix: MixSampler,
}

impl CompiledWorkload {
    pub(crate) fn new(spec: WorkloadSpec) -> Result<Self, MixError> {
        Ok(CompiledWorkload { mix: MixSampler::new(&spec.mix())?, spec })
    }
}

/// One worker's stream of random operations. Each worker has its own random
/// stream, so the operations it issues depend only on the seed and its
/// identity, never on timing: two runs that differ only in the chain's mode
/// offer the same workload.
#[derive(Debug)]
pub(crate) struct OpGenerator {
    workload: Arc<CompiledWorkload>,
    node_count: usize,
    client: u16,
    rng: SmallRng,
    /// Numbered by client and worker, so that values are unique.
    values: WriteValues,
}

impl OpGenerator {
    pub(crate) fn new(workload: Arc<CompiledWorkload>, node_count: usize, seed: u64, client: u16, worker: u16) -> Self {
        let stream = (u64::from(client) << 16) | u64::from(worker);
        let rng = SmallRng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        OpGenerator { workload, node_count, client, rng, values: WriteValues::new(stream) }
    }

    pub(crate) fn next_op(&mut self) -> PlannedOp {
        let (spec, rng) = (&self.workload.spec, &mut self.rng);
        let (kind, key) = self.workload.mix.draw(rng);
        let own_node = usize::from(self.client) % self.node_count;
        if kind == RequestKind::Read {
            let node = choose(spec.read_target, self.node_count, own_node, rng);
            return PlannedOp { op: Operation::Read { key }, node };
        }
        let node = choose(spec.write_target, self.node_count, own_node, rng);
        PlannedOp { op: Operation::Write { key, value: self.values.next_value() }, node }
    }
}

fn choose(choice: NodeChoice, node_count: usize, own_node: usize, rng: &mut SmallRng) -> usize {
    match choice {
        NodeChoice::AnyNode => rng.gen_range(0..node_count),
        NodeChoice::Head => 0,
        NodeChoice::Tail => node_count - 1,
        NodeChoice::OwnNode => own_node,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generator(spec: WorkloadSpec, worker: u16) -> OpGenerator {
        OpGenerator::new(Arc::new(CompiledWorkload::new(spec).unwrap()), 3, 42, 1, worker)
    }

    #[test]
    fn zipf_keys_favour_the_first_keys() {
        let spec = WorkloadSpec { key_count: 100, keys: KeyDistribution::Zipf { exponent: 1.0 }, ..Default::default() };
        let mut ops = generator(spec, 0);
        let mut hits = [0u32; 100];
        for _ in 0..10_000 {
            hits[usize::from(ops.next_op().op.key())] += 1;
        }
        assert!(hits[0] > 5 * hits[9] && hits[9] > hits[99], "{hits:?}");
    }

    #[test]
    fn every_write_carries_its_own_value_and_streams_depend_only_on_the_worker() {
        let spec = WorkloadSpec { read_fraction: 0.0, key_count: 1, ..Default::default() };
        let values: std::collections::HashSet<Value> = (0..2)
            .flat_map(|worker| {
                let mut ops = generator(spec.clone(), worker);
                (0..100).map(move |_| match ops.next_op().op {
                    Operation::Write { value, .. } => value,
                    Operation::Read { .. } => panic!("read fraction 0 issues only writes"),
                })
            })
            .collect();
        assert_eq!(values.len(), 200);
        let plan = |worker| {
            let mut ops = generator(WorkloadSpec::default(), worker);
            (0..50).map(|_| ops.next_op()).collect::<Vec<_>>()
        };
        assert_eq!(plan(3), plan(3));
        assert_ne!(plan(3), plan(4));
    }

    #[test]
    fn a_client_reads_through_its_own_node_and_writes_to_the_head() {
        let spec = WorkloadSpec {
            read_fraction: 0.5,
            read_target: NodeChoice::OwnNode,
            write_target: NodeChoice::Head,
            ..Default::default()
        };
        let mut ops = generator(spec, 0);
        let ops: Vec<PlannedOp> = (0..100).map(|_| ops.next_op()).collect();
        let nodes_of = |read: bool| -> Vec<usize> {
            ops.iter().filter(|o| matches!(o.op, Operation::Read { .. }) == read).map(|o| o.node).collect()
        };
        let (reads, writes) = (nodes_of(true), nodes_of(false));
        assert!(reads.len() > 10 && reads.iter().all(|node| *node == 1), "client 1 reads through node 1");
        assert!(writes.len() > 10 && writes.iter().all(|node| *node == 0), "writes go to the head");
    }
}
