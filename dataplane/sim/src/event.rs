//! The pending events of the simulation, ordered by virtual time.

use super::link::LinkId;
use super::wiring::{HostId, NodeId};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Something that happens at one instant of virtual time.
#[derive(Debug)]
pub(crate) enum Event {
    /// A frame reaches the end `toward_side` (0 or 1) of a link.
    Arrive { link: LinkId, toward_side: usize, frame: Vec<u8> },
    /// A node finishes serving the frame at the front of its queue.
    ServiceDone(NodeId),
    /// A host asked to be woken up now.
    Wakeup(HostId),
}

#[derive(Debug)]
struct Scheduled {
    at_ns: u64,
    /// Insertion order: breaks ties between equal times, so runs are deterministic.
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ns, self.seq) == (other.at_ns, other.seq)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    /// Reversed, so that the max-heap pops the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at_ns, other.seq).cmp(&(self.at_ns, self.seq))
    }
}

/// A min-heap of events. Its size is bounded by construction: frames in
/// flight are bounded by the link queues, each node has at most one
/// `ServiceDone` pending, and a host's `Wakeup`s are only added when its
/// wake-up time moves earlier.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    heap: BinaryHeap<Scheduled>,
    next_seq: u64,
}

impl EventQueue {
    pub(crate) fn push(&mut self, at_ns: u64, event: Event) {
        self.heap.push(Scheduled { at_ns, seq: self.next_seq, event });
        self.next_seq += 1;
    }

    pub(crate) fn next_time_ns(&self) -> Option<u64> {
        self.heap.peek().map(|s| s.at_ns)
    }

    pub(crate) fn pop(&mut self) -> Option<(u64, Event)> {
        self.heap.pop().map(|s| (s.at_ns, s.event))
    }
}
