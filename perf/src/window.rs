//! The closed loop's window: a fixed number of request slots, each either
//! free or holding one outstanding request, so the load generator never has
//! more than the window in flight and every reply finds its request in O(1).

use crate::frames::{answers, Reply, Responder, GENERATION_MASK};
use netcraq_wire::Op;

/// The largest window: slots are numbered by the 16-bit IPv4 identification.
pub const MAX_WINDOW: usize = 1 << 16;

#[derive(Debug, Clone, Copy)]
struct Slot {
    outstanding: bool,
    generation: u16,
    op: Op,
    key: u16,
    sent_ns: u64,
}

/// What a frame that came back turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// The reply to an outstanding request, sent at `sent_ns`; its slot is free again.
    Answered { sent_ns: u64, op: Op, error: bool },
    /// For a slot that has moved on (the request timed out and the slot was
    /// reused) or is free: ignored.
    Stale,
    /// Names no slot, or does not answer its slot's request (wrong key or op).
    Unmatched,
}

/// The slots and the list of free ones.
#[derive(Debug, Clone)]
pub struct Window {
    slots: Vec<Slot>,
    free: Vec<u16>,
}

impl Window {
    /// A window of `size` slots, 1..=[`MAX_WINDOW`].
    pub fn new(size: usize) -> Result<Window, String> {
        if !(1..=MAX_WINDOW).contains(&size) {
            return Err(format!("window {size}: give 1 to {MAX_WINDOW} requests"));
        }
        let slot = Slot { outstanding: false, generation: 0, op: Op::Read, key: 0, sent_ns: 0 };
        // Popped from the end: slot 0 is used first.
        let free = (0..size).rev().map(|slot| slot as u16).collect();
        Ok(Window { slots: vec![slot; size], free })
    }

    pub fn size(&self) -> usize {
        self.slots.len()
    }

    pub fn outstanding(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Takes a free slot for a new request; returns it with its new generation.
    pub fn issue(&mut self, op: Op, key: u16, sent_ns: u64) -> Option<(u16, u16)> {
        let index = self.free.pop()?;
        let slot = &mut self.slots[usize::from(index)];
        slot.generation = slot.generation.wrapping_add(1) & GENERATION_MASK;
        *slot = Slot { outstanding: true, op, key, sent_ns, ..*slot };
        Some((index, slot.generation))
    }

    /// Frees a slot whose request was never sent (the driver refused it).
    pub fn unsend(&mut self, index: u16) {
        if let Some(slot) = self.slots.get_mut(usize::from(index)) {
            if slot.outstanding {
                slot.outstanding = false;
                self.free.push(index);
            }
        }
    }

    /// Matches a frame that came back with its slot and frees the slot.
    pub fn complete(&mut self, reply: &Reply, responder: Responder) -> Completion {
        let Some(slot) = self.slots.get_mut(usize::from(reply.slot)) else {
            return Completion::Unmatched;
        };
        if !slot.outstanding || crate::frames::client_port(slot.generation) != reply.client_port {
            return Completion::Stale;
        }
        if slot.key != reply.key || !answers(responder, slot.op, reply.op) {
            return Completion::Unmatched;
        }
        slot.outstanding = false;
        self.free.push(reply.slot);
        Completion::Answered { sent_ns: slot.sent_ns, op: slot.op, error: reply.op == Op::Error }
    }

    /// Gives up on requests sent before `deadline_ns`: frees their slots (a
    /// late reply is then stale) and returns how many.
    pub fn expire(&mut self, deadline_ns: u64) -> u64 {
        let mut expired = 0;
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if slot.outstanding && slot.sent_ns < deadline_ns {
                slot.outstanding = false;
                self.free.push(index as u16);
                expired += 1;
            }
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::client_port;

    fn reply(slot: u16, generation: u16, op: Op, key: u16) -> Reply {
        Reply { slot, client_port: client_port(generation), op, key }
    }

    #[test]
    fn the_window_bounds_what_is_outstanding() {
        let mut window = Window::new(2).unwrap();
        let (a, _) = window.issue(Op::Read, 1, 10).unwrap();
        let (b, _) = window.issue(Op::Read, 2, 10).unwrap();
        assert_ne!(a, b);
        assert_eq!(window.issue(Op::Read, 3, 10), None);
        assert_eq!(window.outstanding(), 2);
        window.unsend(b);
        window.unsend(b);
        assert_eq!(window.outstanding(), 1, "unsending twice frees once");
        assert!(Window::new(0).is_err() && Window::new(MAX_WINDOW + 1).is_err());
    }

    #[test]
    fn replies_find_their_request_once() {
        let mut window = Window::new(4).unwrap();
        let (slot, generation) = window.issue(Op::Write, 9, 100).unwrap();
        let answer = reply(slot, generation, Op::WriteReply, 9);
        assert_eq!(
            window.complete(&answer, Responder::Node),
            Completion::Answered { sent_ns: 100, op: Op::Write, error: false }
        );
        assert_eq!(window.complete(&answer, Responder::Node), Completion::Stale, "a duplicate is stale");
        assert_eq!(window.outstanding(), 0);
    }

    #[test]
    fn wrong_key_op_or_slot_do_not_match() {
        let mut window = Window::new(4).unwrap();
        let (slot, generation) = window.issue(Op::Read, 5, 0).unwrap();
        assert_eq!(window.complete(&reply(slot, generation, Op::ReadReply, 6), Responder::Node), Completion::Unmatched);
        assert_eq!(
            window.complete(&reply(slot, generation, Op::WriteReply, 5), Responder::Node),
            Completion::Unmatched
        );
        assert_eq!(window.complete(&reply(9, generation, Op::ReadReply, 5), Responder::Node), Completion::Unmatched);
        assert_eq!(
            window.complete(&reply(slot, generation, Op::Read, 5), Responder::Echo),
            Completion::Answered { sent_ns: 0, op: Op::Read, error: false }
        );
    }

    #[test]
    fn an_error_reply_answers_and_is_flagged() {
        let mut window = Window::new(1).unwrap();
        let (slot, generation) = window.issue(Op::Write, 5, 0).unwrap();
        let completion = window.complete(&reply(slot, generation, Op::Error, 5), Responder::Node);
        assert_eq!(completion, Completion::Answered { sent_ns: 0, op: Op::Write, error: true });
    }

    #[test]
    fn expired_requests_free_their_slot_and_late_replies_are_stale() {
        let mut window = Window::new(2).unwrap();
        let (old, old_generation) = window.issue(Op::Read, 1, 10).unwrap();
        window.issue(Op::Read, 2, 50).unwrap();
        assert_eq!(window.expire(20), 1);
        assert_eq!(window.outstanding(), 1);
        let (reused, generation) = window.issue(Op::Read, 3, 60).unwrap();
        assert_eq!(reused, old);
        assert_ne!(generation, old_generation);
        assert_eq!(window.complete(&reply(old, old_generation, Op::ReadReply, 1), Responder::Node), Completion::Stale);
        assert!(matches!(
            window.complete(&reply(reused, generation, Op::ReadReply, 3), Responder::Node),
            Completion::Answered { sent_ns: 60, .. }
        ));
    }

    #[test]
    fn generations_wrap_within_the_port_range() {
        let mut window = Window::new(1).unwrap();
        for _ in 0..(1 << 15) {
            let (slot, generation) = window.issue(Op::Read, 0, 0).unwrap();
            assert!(generation <= GENERATION_MASK);
            window.unsend(slot);
        }
    }
}
