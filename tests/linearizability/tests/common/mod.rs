//! Shared by the integration tests: a seeded generator of histories from a
//! sequential execution, and a brute-force checker to compare against.

#![allow(dead_code)] // each test binary uses a different part

use netcraq_linearizability::{Action, History, InitialValue, Key, Operation, Value};

/// A value holding `text`, zero padded.
pub fn value(text: &str) -> Value {
    let mut value = Value::default();
    value[..text.len()].copy_from_slice(text.as_bytes());
    value
}

/// splitmix64: a tiny seeded generator, so the tests need no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    /// Uniform in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Shape of a generated history.
pub struct Shape {
    pub clients: u32,
    pub operations: usize,
    pub keys: Key,
    pub read_percent: u64,
    pub indeterminate_percent: u64,
    /// Writes pick values from this many distinct ones (0: every value unique).
    pub distinct_values: u64,
    pub max_duration_ns: u64,
}

struct Planned {
    operation: Operation,
    /// When it takes effect; `None` for an indeterminate write that never does.
    effect_ns: Option<u64>,
}

/// A linearizable history: clients run operations back to back with random
/// durations, each takes effect at a random instant of its interval (an
/// indeterminate write at a random instant after its invocation, or never),
/// and reads return what a sequential register holds at that instant.
pub fn generate(rng: &mut Rng, shape: &Shape) -> History {
    let mut planned = plan(rng, shape);
    planned.sort_by_key(|plan| plan.effect_ns);
    let mut registers = vec![Value::default(); usize::from(shape.keys)];
    for plan in planned.iter_mut().filter(|plan| plan.effect_ns.is_some()) {
        let register = &mut registers[usize::from(plan.operation.key)];
        match &mut plan.operation.action {
            Action::Read { value } => *value = *register,
            Action::Write { value } | Action::IndeterminateWrite { value } => *register = *value,
        }
    }
    planned.into_iter().map(|plan| plan.operation).collect()
}

fn plan(rng: &mut Rng, shape: &Shape) -> Vec<Planned> {
    let mut clock_ns = vec![0u64; shape.clients as usize];
    (0..shape.operations)
        .map(|sequence| {
            let client = rng.below(u64::from(shape.clients)) as u32;
            let invoke_ns = clock_ns[client as usize] + rng.below(shape.max_duration_ns);
            let return_ns = invoke_ns + rng.below(shape.max_duration_ns);
            clock_ns[client as usize] = return_ns + 1;
            let key = rng.below(u64::from(shape.keys)) as Key;
            let effect_ns = invoke_ns + rng.below(return_ns - invoke_ns + 1);
            if rng.chance(shape.read_percent) {
                let operation = Operation::read(client, key, invoke_ns, return_ns, Value::default());
                return Planned { operation, effect_ns: Some(effect_ns) };
            }
            let written = write_value(rng, shape, sequence);
            if rng.chance(shape.indeterminate_percent) {
                let late_effect_ns = invoke_ns + rng.below(4 * shape.max_duration_ns);
                let operation = Operation::indeterminate_write(client, key, invoke_ns, return_ns, written);
                return Planned { operation, effect_ns: rng.chance(50).then_some(late_effect_ns) };
            }
            Planned {
                operation: Operation::write(client, key, invoke_ns, return_ns, written),
                effect_ns: Some(effect_ns),
            }
        })
        .collect()
}

fn write_value(rng: &mut Rng, shape: &Shape, sequence: usize) -> Value {
    let number = match shape.distinct_values {
        0 => sequence as u64 + 1,
        distinct => rng.below(distinct) + 1,
    };
    let mut value = Value::default();
    value[..8].copy_from_slice(&number.to_be_bytes());
    value
}

/// `history` with read number `read_index` returning `replacement` instead.
pub fn with_read_value(history: &History, read_index: usize, replacement: Value) -> History {
    let mut reads_seen = 0;
    let mutate = |operation: &Operation| {
        let mut operation = *operation;
        if let Action::Read { value } = &mut operation.action {
            if reads_seen == read_index {
                *value = replacement;
            }
            reads_seen += 1;
        }
        operation
    };
    let mut mutated = History::with_initial_value(history.initial_value());
    history.operations().iter().map(mutate).for_each(|operation| mutated.push(operation));
    mutated
}

pub fn read_count(history: &History) -> usize {
    history.operations().iter().filter(|operation| matches!(operation.action, Action::Read { .. })).count()
}

/// `history` with registers that start unknown: still linearizable if it was.
pub fn starting_unknown(history: &History) -> History {
    let mut unknown = History::with_initial_value(InitialValue::Unknown);
    history.operations().iter().for_each(|operation| unknown.push(*operation));
    unknown
}

/// The values a history's writes write, plus the initial zeros.
pub fn written_values(history: &History) -> Vec<Value> {
    let writes = history.operations().iter().filter_map(|operation| match operation.action {
        Action::Write { value } | Action::IndeterminateWrite { value } => Some(value),
        Action::Read { .. } => None,
    });
    std::iter::once(Value::default()).chain(writes).collect()
}

/// Linearizability by trying every order (and every subset of indeterminate
/// writes), for histories of a few operations on one key with zero initial
/// value. Independent of the checker's algorithm on purpose.
pub fn brute_force_linearizable(history: &History) -> bool {
    let operations = history.operations();
    assert!(operations.len() <= 10, "brute force is for tiny histories");
    assert!(operations.iter().all(|operation| operation.key == operations[0].key));
    extend_order(operations, 0, Value::default())
}

fn extend_order(operations: &[Operation], placed: u32, register: Value) -> bool {
    let is_placed = |index: usize| placed & (1 << index) != 0;
    let unplaced_determinate = || (0..operations.len()).filter(|&i| !is_placed(i) && operations[i].is_determinate());
    if unplaced_determinate().next().is_none() {
        return true;
    }
    (0..operations.len()).filter(|&index| !is_placed(index)).any(|index| {
        let candidate = &operations[index];
        let must_come_first = unplaced_determinate().any(|other| operations[other].return_ns < candidate.invoke_ns);
        let register_after = match candidate.action {
            Action::Read { value } if value != register => return false,
            Action::Read { .. } => register,
            Action::Write { value } | Action::IndeterminateWrite { value } => value,
        };
        !must_come_first && extend_order(operations, placed | (1 << index), register_after)
    })
}
