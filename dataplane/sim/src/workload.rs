//! What the simulated clients ask for: operations, keys and target nodes.

use netcraq_wire::VALUE_LEN;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

/// A value: 16 opaque bytes.
pub type Value = [u8; VALUE_LEN];

/// A client operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Read { key: u16 },
    Write { key: u16, value: Value },
}

impl Operation {
    pub fn key(&self) -> u16 {
        match self {
            Operation::Read { key } | Operation::Write { key, .. } => *key,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, Operation::Read { .. })
    }
}

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
}

/// How keys are drawn from `0..key_count`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDistribution {
    Uniform,
    /// Key `k` is drawn with weight `1 / (k + 1)^exponent`: a few hot keys.
    Zipf {
        exponent: f64,
    },
}

/// A random mix of reads and writes.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSpec {
    /// Chance that an operation is a read; the rest are writes.
    pub read_fraction: f64,
    /// Keys are drawn from `0..key_count` (at most 65536).
    pub key_count: u32,
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
        if !(0.0..=1.0).contains(&self.read_fraction) {
            Some("read fraction must be within 0..=1")
        } else if !(1..=1 << 16).contains(&self.key_count) {
            Some("key count must be 1..=65536")
        } else if matches!(self.keys, KeyDistribution::Zipf { exponent } if !(exponent.is_finite() && exponent > 0.0)) {
            Some("a Zipf exponent must be finite and above 0")
        } else {
            None
        }
    }
}

/// A workload ready to draw from: the spec and its key sampler, built once
/// per client and shared by its workers.
#[derive(Debug)]
pub(crate) struct CompiledWorkload {
    spec: WorkloadSpec,
    keys: KeySampler,
}

impl CompiledWorkload {
    pub(crate) fn new(spec: WorkloadSpec) -> Self {
        CompiledWorkload { keys: KeySampler::new(&spec), spec }
    }
}

#[derive(Debug)]
enum KeySampler {
    Uniform(u32),
    /// Cumulative weights of keys `0..len`.
    Cumulative(Vec<f64>),
}

impl KeySampler {
    fn new(spec: &WorkloadSpec) -> Self {
        match spec.keys {
            KeyDistribution::Uniform => KeySampler::Uniform(spec.key_count),
            KeyDistribution::Zipf { exponent } => {
                let weights = (1..=spec.key_count).map(|rank| f64::from(rank).powf(-exponent));
                let cumulative = weights
                    .scan(0.0, |total, weight| {
                        *total += weight;
                        Some(*total)
                    })
                    .collect();
                KeySampler::Cumulative(cumulative)
            }
        }
    }

    fn sample(&self, rng: &mut SmallRng) -> u16 {
        let index = match self {
            KeySampler::Uniform(count) => rng.gen_range(0..*count) as usize,
            KeySampler::Cumulative(cumulative) => {
                let total = cumulative.last().copied().unwrap_or(0.0);
                let point = rng.gen::<f64>() * total;
                cumulative.partition_point(|c| *c <= point).min(cumulative.len() - 1)
            }
        };
        u16::try_from(index).unwrap_or(u16::MAX)
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
    rng: SmallRng,
    /// Client and worker, written into every value so that values are unique.
    writer_tag: [u8; 4],
    writes_issued: u64,
}

impl OpGenerator {
    pub(crate) fn new(workload: Arc<CompiledWorkload>, node_count: usize, seed: u64, client: u16, worker: u16) -> Self {
        let stream = (u64::from(client) << 16) | u64::from(worker);
        let rng = SmallRng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let [c0, c1] = client.to_be_bytes();
        let [w0, w1] = worker.to_be_bytes();
        OpGenerator { workload, node_count, rng, writer_tag: [c0, c1, w0, w1], writes_issued: 0 }
    }

    pub(crate) fn next_op(&mut self) -> PlannedOp {
        let (spec, rng) = (&self.workload.spec, &mut self.rng);
        let key = self.workload.keys.sample(rng);
        if rng.gen_bool(spec.read_fraction) {
            return PlannedOp { op: Operation::Read { key }, node: choose(spec.read_target, self.node_count, rng) };
        }
        let node = choose(spec.write_target, self.node_count, rng);
        self.writes_issued += 1;
        PlannedOp { op: Operation::Write { key, value: unique_value(self.writer_tag, self.writes_issued) }, node }
    }
}

fn choose(choice: NodeChoice, node_count: usize, rng: &mut SmallRng) -> usize {
    match choice {
        NodeChoice::AnyNode => rng.gen_range(0..node_count),
        NodeChoice::Head => 0,
        NodeChoice::Tail => node_count - 1,
    }
}

/// A value no other write carries: the writer's tag, its write count and a
/// marker, never all zero (the registers' initial value).
fn unique_value(writer_tag: [u8; 4], sequence: u64) -> Value {
    let mut value = [0u8; VALUE_LEN];
    value[..4].copy_from_slice(&writer_tag);
    value[4..12].copy_from_slice(&sequence.to_be_bytes());
    value[12..].copy_from_slice(b"NCRQ");
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generator(spec: WorkloadSpec, worker: u16) -> OpGenerator {
        OpGenerator::new(Arc::new(CompiledWorkload::new(spec)), 3, 42, 1, worker)
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
}
