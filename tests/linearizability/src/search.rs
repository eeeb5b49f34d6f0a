//! The search for a linearization of one key's operations.
//!
//! This is Wing & Gong's depth-first search as refined by Lowe: the history
//! is a doubly linked list of invocation and return events in time order. An
//! operation may be linearized next when its invocation comes before the
//! first remaining return; linearizing it removes both its events from the
//! list. Reaching a return means the operation that returns there was not
//! linearized in time, so the search backtracks. A memo of (linearized set,
//! register value) prunes configurations already explored, which makes the
//! search polynomial on the histories real systems produce.
//!
//! Indeterminate writes are not in the list and are never linearized on
//! their own. A write whose effect nobody reads can as well never have
//! happened, so it only matters when a read returns its value, and it is then
//! linearized just before that read. This keeps unobserved timed-out writes,
//! which never return, from piling up at the head of the list and from
//! multiplying the search.

use std::collections::{HashMap, HashSet};

use crate::bitset::{Bitset, CompactSet};
use crate::history::{Action, InitialValue, Operation, Value};

/// The register's content; `None` while an unknown initial value is unread.
type Register = Option<Value>;

/// How many operations of the deepest failed attempt an explanation shows.
const RECENT_OPERATIONS: usize = 4;

pub(crate) enum KeyVerdict {
    Linearizable,
    Violation(DeepestAttempt),
    Inconclusive,
}

/// The longest linearizable prefix found before a failure, for explanations.
/// Operation indices refer to the slice given to [`check_key`].
#[derive(Debug, Clone)]
pub(crate) struct DeepestAttempt {
    pub(crate) linearized_count: usize,
    /// The operation that could not be linearized before it returned.
    pub(crate) blocked: usize,
    /// The last operations of the prefix, oldest first.
    pub(crate) recent: Vec<usize>,
    pub(crate) register: Register,
}

/// Checks one key's operations, taking at most `max_steps` search steps.
pub(crate) fn check_key(operations: &[&Operation], initial: InitialValue, max_steps: u64) -> KeyVerdict {
    let register = match initial {
        InitialValue::Zeros => Some(Value::default()),
        InitialValue::Unknown => None,
    };
    Search::new(operations, register).run(max_steps)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Invoke,
    Return,
    /// The sentinels at both ends of the list.
    End,
}

/// Invocation and return events of the determinate operations in time order,
/// as a doubly linked list over fixed arrays so that removing and restoring
/// an operation is O(1).
struct EventList {
    /// Each event with its operation's index. Entry 0 is the head sentinel,
    /// the last entry the tail sentinel.
    events: Vec<(Event, usize)>,
    next: Vec<usize>,
    prev: Vec<usize>,
    invoke_entry: Vec<usize>,
    return_entry: Vec<usize>,
}

impl EventList {
    const HEAD: usize = 0;

    fn new(operations: &[&Operation]) -> Self {
        let mut timed: Vec<(u64, Event, usize)> = Vec::with_capacity(2 * operations.len());
        for (index, operation) in operations.iter().enumerate().filter(|(_, operation)| operation.is_determinate()) {
            timed.push((operation.invoke_ns, Event::Invoke, index));
            timed.push((operation.return_ns, Event::Return, index));
        }
        // Invocations sort before returns at equal times: operations that
        // touch at one instant count as concurrent.
        timed.sort_by_key(|&(time, event, _)| (time, event != Event::Invoke));
        let sentinel = (Event::End, usize::MAX);
        let mut events = vec![sentinel];
        events.extend(timed.iter().map(|&(_, event, index)| (event, index)));
        events.push(sentinel);
        let mut invoke_entry = vec![0; operations.len()];
        let mut return_entry = vec![0; operations.len()];
        for (entry, &(event, index)) in events.iter().enumerate() {
            match event {
                Event::Invoke => invoke_entry[index] = entry,
                Event::Return => return_entry[index] = entry,
                Event::End => {}
            }
        }
        let len = events.len();
        EventList {
            events,
            next: (1..=len).collect(),
            // The sentinels' outer links are never followed.
            prev: (0..len).map(|entry| entry.wrapping_sub(1)).collect(),
            invoke_entry,
            return_entry,
        }
    }

    fn first(&self) -> usize {
        self.next[Self::HEAD]
    }

    /// The first event that is not an invocation: a return, or the end.
    fn first_non_invoke(&self) -> (Event, usize) {
        let mut entry = self.first();
        // Bounded by the list's length: the tail sentinel is not an Invoke.
        while self.events[entry].0 == Event::Invoke {
            entry = self.next[entry];
        }
        self.events[entry]
    }

    fn unlink(&mut self, entry: usize) {
        let (prev, next) = (self.prev[entry], self.next[entry]);
        self.next[prev] = next;
        self.prev[next] = prev;
    }

    /// Undoes `unlink`; undos must come in the reverse order of the unlinks.
    fn relink(&mut self, entry: usize) {
        let (prev, next) = (self.prev[entry], self.next[entry]);
        self.next[prev] = entry;
        self.prev[next] = entry;
    }

    fn lift(&mut self, operation: usize) {
        self.unlink(self.invoke_entry[operation]);
        self.unlink(self.return_entry[operation]);
    }

    fn unlift(&mut self, operation: usize) {
        self.relink(self.return_entry[operation]);
        self.relink(self.invoke_entry[operation]);
    }
}

/// One linearization step: an operation, and the indeterminate write placed
/// just before it when it is a read of that write's value.
#[derive(Debug, Clone, Copy)]
struct Step {
    operation: usize,
    revealed_write: Option<usize>,
    register_before: Register,
}

struct Search<'a> {
    operations: &'a [&'a Operation],
    events: EventList,
    /// Indeterminate writes by value, each list in invocation order.
    indeterminate_writes: HashMap<Value, Vec<usize>>,
    linearized: Bitset,
    explored: HashSet<(CompactSet, Register)>,
    steps: Vec<Step>,
    register: Register,
    linearized_count: usize,
    deepest: Option<DeepestAttempt>,
}

impl<'a> Search<'a> {
    fn new(operations: &'a [&'a Operation], register: Register) -> Self {
        Search {
            operations,
            events: EventList::new(operations),
            indeterminate_writes: indeterminate_writes_by_value(operations),
            linearized: Bitset::with_capacity(operations.len()),
            explored: HashSet::new(),
            steps: Vec::with_capacity(operations.len()),
            register,
            linearized_count: 0,
            deepest: None,
        }
    }

    fn run(mut self, max_steps: u64) -> KeyVerdict {
        let mut entry = self.events.first();
        let mut steps_taken = 0;
        while steps_taken < max_steps {
            steps_taken += 1;
            let (event, operation) = self.events.events[entry];
            entry = match event {
                // Indeterminate writes left out never took effect.
                Event::End => return KeyVerdict::Linearizable,
                Event::Invoke if self.try_linearize(operation) => self.events.first(),
                Event::Invoke => self.events.next[entry],
                Event::Return => match self.backtrack(operation) {
                    Some(resume_at) => resume_at,
                    None => return KeyVerdict::Violation(self.deepest.expect("set by backtrack")),
                },
            };
        }
        KeyVerdict::Inconclusive
    }

    /// Linearizes `operation` now if the register allows it and the resulting
    /// configuration is new.
    fn try_linearize(&mut self, operation: usize) -> bool {
        let Some((register_after, revealed_write)) = self.effect(operation) else {
            return false;
        };
        self.linearized.insert(operation);
        revealed_write.iter().for_each(|&write| self.linearized.insert(write));
        if !self.explored.insert((self.linearized.compact(), register_after)) {
            self.linearized.remove(operation);
            revealed_write.iter().for_each(|&write| self.linearized.remove(write));
            return false;
        }
        self.steps.push(Step { operation, revealed_write, register_before: self.register });
        self.linearized_count += 1 + usize::from(revealed_write.is_some());
        self.register = register_after;
        self.events.lift(operation);
        true
    }

    /// The register after `operation`, and the indeterminate write it needs
    /// first, or `None` when it cannot be linearized now.
    fn effect(&self, operation: usize) -> Option<(Register, Option<usize>)> {
        match self.operations[operation].action {
            Action::Write { value } => Some((Some(value), None)),
            Action::IndeterminateWrite { .. } => None,
            Action::Read { value } if self.register.unwrap_or(value) == value => Some((Some(value), None)),
            Action::Read { value } => self.pending_indeterminate_write(value).map(|write| (Some(value), Some(write))),
        }
    }

    /// An indeterminate write of `value` that may be linearized now: one not
    /// linearized yet and invoked before the first remaining return. All such
    /// writes stay eligible from here on, so taking the first is as good as
    /// taking any.
    fn pending_indeterminate_write(&self, value: Value) -> Option<usize> {
        let deadline_ns = match self.events.first_non_invoke() {
            (Event::Return, operation) => self.operations[operation].return_ns,
            _ => u64::MAX,
        };
        let candidates = self.indeterminate_writes.get(&value)?;
        let invoked_in_time = candidates.iter().take_while(|&&write| self.operations[write].invoke_ns <= deadline_ns);
        invoked_in_time.copied().find(|&write| !self.linearized.contains(write))
    }

    /// Undoes the last step because `returning` reached its return without
    /// being linearized; returns where to continue, or `None` when no step is
    /// left to undo (no linearization exists).
    fn backtrack(&mut self, returning: usize) -> Option<usize> {
        self.remember_if_deepest(returning);
        let step = self.steps.pop()?;
        if let Some(write) = step.revealed_write {
            self.linearized.remove(write);
            self.linearized_count -= 1;
        }
        self.linearized_count -= 1;
        self.events.unlift(step.operation);
        self.linearized.remove(step.operation);
        self.register = step.register_before;
        Some(self.events.next[self.events.invoke_entry[step.operation]])
    }

    fn remember_if_deepest(&mut self, blocked: usize) {
        let linearized_count = self.linearized_count;
        if self.deepest.as_ref().is_some_and(|deepest| deepest.linearized_count >= linearized_count) {
            return;
        }
        // Copying only the last few steps keeps this O(1) however deep it is.
        let recent_steps = &self.steps[self.steps.len().saturating_sub(RECENT_OPERATIONS)..];
        let recent = recent_steps.iter().flat_map(|step| step.revealed_write.into_iter().chain([step.operation]));
        let recent = recent.collect();
        self.deepest = Some(DeepestAttempt { linearized_count, blocked, recent, register: self.register });
    }
}

fn indeterminate_writes_by_value(operations: &[&Operation]) -> HashMap<Value, Vec<usize>> {
    let mut by_value: HashMap<Value, Vec<usize>> = HashMap::new();
    for (index, operation) in operations.iter().enumerate() {
        if let Action::IndeterminateWrite { value } = operation.action {
            by_value.entry(value).or_default().push(index);
        }
    }
    by_value
}
