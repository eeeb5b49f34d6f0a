//! The client as a pure state machine. Operations run in numbered slots,
//! each slot a sequential process with at most one operation in flight. A
//! driver (UDP sockets, the simulator) hands it the replies that arrived and
//! the time; it answers what to transmit and which operations ended, and
//! records them in a [`History`]. It reads no clock, opens no socket and
//! allocates nothing per operation but the history's own entries.

use netcraq_linearizability::{History, InitialValue, Operation as HistoryOperation};
use netcraq_wire::{Endpoint, NetcraqFrame, NetcraqRepr};

use crate::request::{OpResult, Operation};

/// One operation in flight, sent to a `T` (an address, a node's index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight<T> {
    pub operation: Operation,
    pub target: T,
    /// Names this operation among its slot's: the IPv4 identification of
    /// its frames where the driver can set it.
    pub ident: u16,
    pub invoke_ns: u64,
    /// When to retransmit, or give up.
    pub deadline_ns: u64,
    /// Transmissions so far, the first included.
    pub transmissions: u32,
    recorded_in_history: bool,
}

/// A request to put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmission<T> {
    pub slot: usize,
    pub target: T,
    pub ident: u16,
    pub header: NetcraqRepr,
}

impl<T> Transmission<T> {
    /// The request as a whole frame, from `client`'s UDP port `client_port`.
    pub fn frame(&self, client: Endpoint, client_port: u16, node: Endpoint) -> NetcraqFrame {
        NetcraqFrame::request(client, client_port, node, self.ident, self.header)
    }
}

/// An operation that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished<T> {
    pub slot: usize,
    pub operation: Operation,
    pub target: T,
    pub invoke_ns: u64,
    pub return_ns: u64,
    pub transmissions: u32,
    pub result: OpResult,
}

impl<T> Finished<T> {
    pub fn retransmissions(&self) -> u32 {
        self.transmissions.saturating_sub(1)
    }
}

/// What a reply turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received<T> {
    /// It answered the slot's operation, which ended.
    Finished(Finished<T>),
    /// For a slot with nothing in flight, or for an earlier operation of it
    /// (late or duplicated): ignored.
    Stale,
    /// Addressed to the operation in flight but not answering it (another
    /// key, op or value): ignored.
    Mismatched,
}

/// What a passed deadline means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry<T> {
    Retransmit(Transmission<T>),
    GaveUp(Finished<T>),
}

/// How long to wait for a reply, and how often to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub timeout_ns: u64,
    /// Transmissions at most, the first included (at least 1).
    pub attempts: u32,
}

#[derive(Debug, Clone, Copy)]
struct Slot<T> {
    next_ident: u16,
    in_flight: Option<InFlight<T>>,
}

/// Recorded operations, up to a capacity fixed at the start.
#[derive(Debug)]
struct Recorder {
    history: History,
    room: usize,
    truncated: bool,
}

/// The slots, their operations in flight and the history.
#[derive(Debug)]
pub struct ClientMachine<T> {
    slots: Vec<Slot<T>>,
    policy: RetryPolicy,
    recorder: Option<Recorder>,
}

impl<T: Copy> ClientMachine<T> {
    pub fn new(slots: usize, policy: RetryPolicy) -> Self {
        let slot = Slot { next_ident: 1, in_flight: None };
        ClientMachine { slots: vec![slot; slots], policy, recorder: None }
    }

    /// Records the first `capacity_ops` operations issued; those invoked
    /// later are left out, which keeps the history checkable. The store may
    /// hold values from before, so the initial value is unknown.
    pub fn with_history(mut self, capacity_ops: usize) -> Self {
        let history = History::with_initial_value(InitialValue::Unknown);
        self.recorder = Some(Recorder { history, room: capacity_ops, truncated: false });
        self
    }

    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    pub fn in_flight(&self, slot: usize) -> Option<&InFlight<T>> {
        self.slots.get(slot)?.in_flight.as_ref()
    }

    pub fn outstanding(&self) -> usize {
        self.slots.iter().filter(|slot| slot.in_flight.is_some()).count()
    }

    /// The earliest deadline of the operations in flight.
    pub fn next_deadline_ns(&self) -> Option<u64> {
        self.slots.iter().filter_map(|slot| slot.in_flight.map(|op| op.deadline_ns)).min()
    }

    /// Starts `operation` in `slot`, which must be free (else `None`), and
    /// returns its first transmission.
    pub fn issue(&mut self, slot: usize, operation: Operation, target: T, now_ns: u64) -> Option<Transmission<T>> {
        let state = self.slots.get_mut(slot).filter(|state| state.in_flight.is_none())?;
        let recorded_in_history = self.recorder.as_mut().is_some_and(Recorder::take_room);
        let ident = state.next_ident;
        state.next_ident = ident.wrapping_add(1);
        let deadline_ns = now_ns.saturating_add(self.policy.timeout_ns);
        let in_flight = InFlight {
            operation,
            target,
            ident,
            invoke_ns: now_ns,
            deadline_ns,
            transmissions: 1,
            recorded_in_history,
        };
        state.in_flight = Some(in_flight);
        Some(Transmission { slot, target, ident, header: operation.request(0) })
    }

    /// Matches a reply that reached `slot`; `ident` is its IPv4
    /// identification where the driver can tell operations apart by it.
    pub fn receive(&mut self, slot: usize, ident: Option<u16>, reply: &NetcraqRepr, now_ns: u64) -> Received<T> {
        let Some(in_flight) = self.in_flight(slot).copied() else { return Received::Stale };
        if ident.is_some_and(|ident| ident != in_flight.ident) {
            return Received::Stale;
        }
        match in_flight.operation.judge(reply) {
            Some(result) => self.finish(slot, result, now_ns).map_or(Received::Stale, Received::Finished),
            None => Received::Mismatched,
        }
    }

    /// Retransmits `slot`'s operation if its deadline has passed, or gives
    /// up on it after the last attempt.
    pub fn expire(&mut self, slot: usize, now_ns: u64) -> Option<Expiry<T>> {
        let attempts = self.policy.attempts;
        let timeout_ns = self.policy.timeout_ns;
        let in_flight = self.slots.get_mut(slot)?.in_flight.as_mut().filter(|op| op.deadline_ns <= now_ns)?;
        if in_flight.transmissions >= attempts {
            return self.finish(slot, OpResult::TimedOut, now_ns).map(Expiry::GaveUp);
        }
        let header = in_flight.operation.request(in_flight.transmissions);
        in_flight.transmissions += 1;
        in_flight.deadline_ns = now_ns.saturating_add(timeout_ns);
        Some(Expiry::Retransmit(Transmission { slot, target: in_flight.target, ident: in_flight.ident, header }))
    }

    /// Ends `slot`'s operation without a reply, as when its request could
    /// not be sent: a write may still have left, so its outcome is unknown.
    pub fn abandon(&mut self, slot: usize, now_ns: u64) -> Option<Finished<T>> {
        self.finish(slot, OpResult::TimedOut, now_ns)
    }

    /// The history, if one was asked for, and whether operations were left
    /// out of it because it was full.
    pub fn into_history(self) -> Option<(History, bool)> {
        self.recorder.map(|recorder| (recorder.history, recorder.truncated))
    }

    fn finish(&mut self, slot: usize, result: OpResult, now_ns: u64) -> Option<Finished<T>> {
        let in_flight = self.slots.get_mut(slot)?.in_flight.take()?;
        let finished = Finished {
            slot,
            operation: in_flight.operation,
            target: in_flight.target,
            invoke_ns: in_flight.invoke_ns,
            return_ns: now_ns,
            transmissions: in_flight.transmissions,
            result,
        };
        if let Some(recorder) = self.recorder.as_mut().filter(|_| in_flight.recorded_in_history) {
            recorder.record(&finished);
        }
        Some(finished)
    }
}

impl Recorder {
    fn take_room(&mut self) -> bool {
        let room = self.room > 0;
        self.room = self.room.saturating_sub(1);
        self.truncated |= !room;
        room
    }

    /// A successful operation as it was; a write that may have been applied
    /// as an indeterminate write; a failed read or a write that certainly
    /// did nothing not at all.
    fn record<T>(&mut self, finished: &Finished<T>) {
        let (client, invoke_ns, return_ns) = (finished.slot as u32, finished.invoke_ns, finished.return_ns);
        let operation = match (finished.operation, finished.result) {
            (Operation::Read { key }, OpResult::Ok { value, .. }) => {
                HistoryOperation::read(client, key, invoke_ns, return_ns, value)
            }
            (Operation::Write { key, value }, OpResult::Ok { .. }) => {
                HistoryOperation::write(client, key, invoke_ns, return_ns, value)
            }
            (Operation::Write { key, value }, OpResult::OutcomeUnknown | OpResult::TimedOut) => {
                HistoryOperation::indeterminate_write(client, key, invoke_ns, return_ns, value)
            }
            _ => return,
        };
        self.history.push(operation);
    }
}

#[cfg(test)]
mod tests {
    use netcraq_wire::Op;

    use super::*;

    const POLICY: RetryPolicy = RetryPolicy { timeout_ns: 100, attempts: 3 };

    fn write_reply(key: u16, value: [u8; 16]) -> NetcraqRepr {
        NetcraqRepr { op: Op::WriteReply, version: 1, key, value }
    }

    #[test]
    fn a_reply_ends_its_operation_and_frees_the_slot() {
        let mut machine = ClientMachine::new(2, POLICY).with_history(10);
        let write = Operation::Write { key: 4, value: [9; 16] };
        let sent = machine.issue(1, write, 'n', 10).unwrap();
        assert_eq!((sent.slot, sent.target, sent.ident, sent.header.version), (1, 'n', 1, 0));
        assert!(machine.issue(1, write, 'n', 10).is_none(), "one operation per slot");
        assert_eq!(machine.receive(1, Some(2), &write_reply(4, [9; 16]), 20), Received::Stale);
        assert_eq!(machine.receive(1, Some(1), &write_reply(5, [9; 16]), 20), Received::Mismatched);
        let Received::Finished(finished) = machine.receive(1, Some(1), &write_reply(4, [9; 16]), 30) else {
            panic!("the reply answers the write")
        };
        assert_eq!((finished.invoke_ns, finished.return_ns, finished.retransmissions()), (10, 30, 0));
        assert_eq!(machine.outstanding(), 0);
        assert_eq!(machine.issue(1, write, 'n', 40).unwrap().ident, 2, "each operation its own identity");
        let (history, truncated) = machine.into_history().unwrap();
        assert_eq!((history.len(), truncated), (1, false));
    }

    #[test]
    fn deadlines_retransmit_then_give_up() {
        let mut machine = ClientMachine::new(1, POLICY).with_history(1);
        let write = Operation::Write { key: 4, value: [9; 16] };
        machine.issue(0, write, (), 0).unwrap();
        assert_eq!(machine.next_deadline_ns(), Some(100));
        assert_eq!(machine.expire(0, 99), None, "not yet");
        let Some(Expiry::Retransmit(again)) = machine.expire(0, 100) else { panic!("retransmits") };
        assert_eq!(again.header.version, 1, "a retransmitted write is marked");
        assert!(matches!(machine.expire(0, 200), Some(Expiry::Retransmit(_))));
        let Some(Expiry::GaveUp(finished)) = machine.expire(0, 300) else { panic!("gives up") };
        assert_eq!((finished.result, finished.transmissions), (OpResult::TimedOut, 3));
        machine.issue(0, Operation::Read { key: 1 }, (), 400).unwrap();
        let (history, truncated) = machine.into_history().unwrap();
        assert_eq!(history.len(), 1, "the timed-out write, indeterminate");
        assert!(!history.operations()[0].is_determinate());
        assert!(truncated, "the read found the history full");
    }
}
