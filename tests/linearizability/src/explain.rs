//! Human-readable descriptions of values, operations and violations.

use std::fmt::{self, Display, Formatter, Write};

use crate::history::{Action, Operation, Value};
use crate::search::DeepestAttempt;

/// How many concurrent operations an explanation lists at most.
const CONCURRENT_SHOWN: usize = 6;

/// Shows a value as text when it is printable ASCII padded with zeros (and
/// does not itself look like hex), else as `0x` and 32 hex digits.
pub fn format_value(value: &Value) -> String {
    let text_len = value.iter().rposition(|&byte| byte != 0).map_or(0, |last| last + 1);
    let text = &value[..text_len];
    let printable = text.iter().all(|byte| (b' '..=b'~').contains(byte));
    let looks_like_hex = text.starts_with(b"0x") || text.starts_with(b"0X");
    if text_len > 0 && printable && !looks_like_hex {
        return String::from_utf8_lossy(text).into_owned();
    }
    value.iter().fold(String::from("0x"), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

impl Display for Operation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "client {}: ", self.client)?;
        match self.action {
            Action::Read { value } => write!(f, "read -> {}", format_value(&value))?,
            Action::Write { value } => write!(f, "write {} (acknowledged)", format_value(&value))?,
            Action::IndeterminateWrite { value } => write!(f, "write {} (outcome unknown)", format_value(&value))?,
        }
        match self.action {
            Action::IndeterminateWrite { .. } => {
                write!(f, ", invoked {} ns, gave up {} ns", self.invoke_ns, self.return_ns)
            }
            _ => write!(f, ", invoked {} ns, returned {} ns", self.invoke_ns, self.return_ns),
        }
    }
}

/// Explains why one key's operations have no linearization, from the deepest
/// point the search reached.
pub(crate) fn explain_violation(operations: &[&Operation], deepest: &DeepestAttempt) -> String {
    let blocked = operations[deepest.blocked];
    let register =
        deepest.register.map_or_else(|| "its unknown initial value".to_string(), |value| format_value(&value));
    let mut text = format!(
        "key {}: no linearization exists. The longest valid order found places {} of {} operations, \
         leaving the register at {register}; after it, this operation cannot take effect before it returns:\n  {blocked}\n",
        blocked.key,
        deepest.linearized_count,
        operations.len(),
    );
    text.push_str("last operations of that order, oldest first:\n");
    append_lines(&mut text, deepest.recent.iter().map(|&index| operations[index]));
    text.push_str("other operations concurrent with the blocked one:\n");
    let concurrent = operations.iter().enumerate().filter(|&(index, operation)| {
        index != deepest.blocked && !deepest.recent.contains(&index) && overlaps(operation, blocked)
    });
    append_lines(&mut text, concurrent.map(|(_, operation)| *operation).take(CONCURRENT_SHOWN));
    text
}

fn append_lines<'a>(text: &mut String, operations: impl Iterator<Item = &'a Operation>) {
    let before = text.len();
    operations.for_each(|operation| {
        let _ = writeln!(text, "  {operation}");
    });
    if text.len() == before {
        text.push_str("  (none)\n");
    }
}

/// Whether the two operations' intervals intersect (an indeterminate write's
/// extends forever).
fn overlaps(a: &Operation, b: &Operation) -> bool {
    let end = |operation: &Operation| if operation.is_determinate() { operation.return_ns } else { u64::MAX };
    a.invoke_ns <= end(b) && b.invoke_ns <= end(a)
}
