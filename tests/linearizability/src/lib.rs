//! Linearizability checking of recorded key-value histories.
//!
//! A [`History`] holds reads and writes of 16-byte registers, one register per
//! key. Linearizability is local (Herlihy & Wing): a history is linearizable
//! exactly when each key's sub-history is, so [`check`] splits the history by
//! key and searches each key for a linearization (see `search.rs`). The search
//! is bounded by a step budget per key; a key that exhausts it is reported as
//! [`CheckResult::Inconclusive`] rather than guessed.
//!
//! Histories are also written and read as JSON in Porcupine's conventions
//! ([`History::to_porcupine_json`], docs/linearizability.md), so that a
//! checker nobody here wrote can verify them (`tests/porcupine`).

#![forbid(unsafe_code)]

mod bitset;
mod explain;
mod history;
mod history_json;
mod search;

use std::collections::{BTreeMap, HashSet};
use std::fmt::{self, Display, Formatter};

pub use explain::format_value;
pub use history::{Action, ClientId, History, InitialValue, Key, Operation, Value, VALUE_LEN};
pub use history_json::{save_history_if_requested, HistoryJsonError, HISTORY_DIR_VAR, HISTORY_FORMAT};

use search::KeyVerdict;

/// Limits on the search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOptions {
    /// Search steps allowed per key before giving up on it. A step costs
    /// well under a microsecond and at most one memo entry (about 100
    /// bytes); histories from real runs need a few steps per operation.
    pub max_steps_per_key: u64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions { max_steps_per_key: 2_000_000 }
    }
}

/// The verdict on a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    Linearizable,
    /// No linearization exists for this key's operations.
    Violation {
        key: Key,
        explanation: String,
    },
    /// The step budget ran out on this key before a verdict.
    Inconclusive {
        key: Key,
    },
}

impl CheckResult {
    pub fn is_linearizable(&self) -> bool {
        *self == CheckResult::Linearizable
    }
}

impl Display for CheckResult {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            CheckResult::Linearizable => f.write_str("linearizable"),
            CheckResult::Violation { explanation, .. } => write!(f, "not linearizable: {explanation}"),
            CheckResult::Inconclusive { key } => write!(f, "inconclusive: the search budget ran out on key {key}"),
        }
    }
}

/// Checks `history` with the default [`CheckOptions`].
pub fn check(history: &History) -> CheckResult {
    check_with_options(history, &CheckOptions::default())
}

/// Checks every key; a violation on any key wins over a budget exhausted on
/// another, since it is the more useful answer.
pub fn check_with_options(history: &History, options: &CheckOptions) -> CheckResult {
    let mut inconclusive = None;
    for (key, operations) in operations_by_key(history) {
        match search::check_key(&operations, history.initial_value(), options.max_steps_per_key) {
            KeyVerdict::Linearizable => {}
            KeyVerdict::Violation(deepest) => {
                let explanation = explain::explain_violation(&operations, &deepest);
                return CheckResult::Violation { key, explanation };
            }
            KeyVerdict::Inconclusive => {
                inconclusive.get_or_insert(CheckResult::Inconclusive { key });
            }
        }
    }
    inconclusive.unwrap_or(CheckResult::Linearizable)
}

/// Each key's operations in invocation order, which the memo's compact sets
/// rely on. Indeterminate writes of a value no read of the key returned are
/// left out: they may as well never have taken effect, and leaving them in
/// would keep holes in the linearized sets that defeat their compact form.
fn operations_by_key(history: &History) -> BTreeMap<Key, Vec<&Operation>> {
    let mut by_key: BTreeMap<Key, Vec<&Operation>> = BTreeMap::new();
    for operation in history.operations() {
        by_key.entry(operation.key).or_default().push(operation);
    }
    for operations in by_key.values_mut() {
        let read_values: HashSet<Value> = operations.iter().filter_map(|operation| read_value(operation)).collect();
        operations.retain(|operation| match operation.action {
            Action::IndeterminateWrite { value } => read_values.contains(&value),
            _ => true,
        });
        operations.sort_by_key(|operation| operation.invoke_ns);
    }
    by_key
}

fn read_value(operation: &Operation) -> Option<Value> {
    match operation.action {
        Action::Read { value } => Some(value),
        _ => None,
    }
}
