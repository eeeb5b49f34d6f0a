//! One operation that follows its chain through reconfigurations, as a pure
//! state machine: given the membership the controller publishes, it says
//! which member each try goes to, and after a silent or refusing member it
//! asks for the membership again and moves on, within a bound on tries and
//! on time. The driver ([`crate::ChainClient`]) sends, receives, fetches and
//! reads the clock.
//!
//! - A READ goes to the members in turn, from an offset the driver picks.
//!   No reply, `NOT_SERVING` (a lapsed lease, a syncing tail) or
//!   `KEY_OUT_OF_RANGE` (a node of another configuration) moves it to the
//!   next member of the membership as learnt again.
//! - A WRITE goes to the head. Every transmission after the first is a
//!   retransmission (`docs/protocol.md` §3.4), wherever it goes, so a write
//!   that reached the old head is matched by the new one and never applied
//!   twice. Before its first transmission the head is checked with a READ
//!   of the key (when [`FollowPolicy::check_head`]): a head that died
//!   before the controller noticed then never got the write, whose outcome
//!   stays known.
//! - Each try waits twice as long as the one before, up to a cap; a refusal
//!   is waited out for as long before the next try.

use std::fmt::{self, Display, Formatter};
use std::net::Ipv4Addr;

use netcraq_linearizability::Value;
use netcraq_wire::NetcraqRepr;

use crate::error::{ClientError, RequestKind};
use crate::membership::{ChainMembers, Membership, MembershipError};
use crate::request::{OpResult, Operation};

/// Bounds on one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowPolicy {
    /// How long the first try waits for a reply; each later one waits twice
    /// as long as the one before, up to `max_try_timeout_ns`.
    pub try_timeout_ns: u64,
    pub max_try_timeout_ns: u64,
    /// Transmissions at most, head checks included (at least 1).
    pub tries: u32,
    /// The whole operation, membership fetches and waits included.
    pub total_ns: u64,
    /// Check with a READ that the head answers before a write's first transmission.
    pub check_head: bool,
}

/// What the driver does next.
#[derive(Debug)]
pub enum FollowStep {
    /// Send `header` to `node` (UDP port 20035) from the operation's socket,
    /// then hand every reply to [`Follower::reply`] until `until_ns`, and
    /// call [`Follower::timed_out`] then.
    Send { node: Ipv4Addr, header: NetcraqRepr, until_ns: u64 },
    /// Wait until `after_ns`, learn the membership (giving up at
    /// `until_ns`), and hand the outcome to [`Follower::learned`].
    Refresh { after_ns: u64, until_ns: u64 },
    /// The operation ended: the version and value, or why not.
    Done(Result<(u8, Value), ClientError>),
}

/// How one try went, for the error that lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Try {
    pub node: Ipv4Addr,
    pub outcome: TryOutcome,
    /// The READ that checks a head before a write.
    pub head_check: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryOutcome {
    NoReply,
    NotServing,
    KeyOutOfRange,
}

impl Display for Try {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let outcome = match self.outcome {
            TryOutcome::NoReply => "no reply",
            TryOutcome::NotServing => "NOT_SERVING",
            TryOutcome::KeyOutOfRange => "KEY_OUT_OF_RANGE",
        };
        let check = if self.head_check { " to the head check" } else { "" };
        write!(f, "{} ({outcome}{check})", self.node)
    }
}

/// What the operation waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    Membership,
    HeadCheck(Ipv4Addr),
    Reply(Ipv4Addr),
    /// Not started.
    Nothing,
    Finished,
}

/// One operation following its chain.
#[derive(Debug)]
pub struct Follower {
    operation: Operation,
    policy: FollowPolicy,
    started_ns: u64,
    chain: Option<ChainMembers>,
    /// The member the first READ goes to, counted from the head.
    read_offset: usize,
    /// The member the last try went to.
    last_node: Option<Ipv4Addr>,
    failed: Vec<Try>,
    /// Transmissions of the operation itself (head checks are not).
    sent: u32,
    /// Every transmission, head checks included.
    transmissions: u32,
    waiting: Waiting,
    refresh_error: Option<MembershipError>,
}

impl Follower {
    pub fn new(operation: Operation, policy: FollowPolicy, read_offset: usize, now_ns: u64) -> Follower {
        Follower {
            operation,
            policy,
            started_ns: now_ns,
            chain: None,
            read_offset,
            last_node: None,
            failed: Vec::new(),
            sent: 0,
            transmissions: 0,
            waiting: Waiting::Nothing,
            refresh_error: None,
        }
    }

    /// The first step: a try with `membership` if the driver knows one, else a fetch.
    pub fn start(&mut self, membership: Option<&Membership>, now_ns: u64) -> FollowStep {
        match membership {
            Some(membership) => self.learned(Ok(membership), now_ns),
            None => self.refresh(now_ns, now_ns),
        }
    }

    /// The membership learnt (or why not): the next try.
    pub fn learned(&mut self, membership: Result<&Membership, &MembershipError>, now_ns: u64) -> FollowStep {
        match membership {
            Ok(membership) => match membership.chain_for(self.operation.key()) {
                Some(chain) => {
                    self.chain = Some(chain.clone());
                    self.refresh_error = None;
                }
                None => return self.done(Err(no_chain_for(self.operation.key(), membership))),
            },
            // Without a membership to go on, there is nobody to ask.
            Err(error) if self.chain.is_none() => return self.done(Err(ClientError::NoMembership(error.clone()))),
            // Else the last one known is the best guess.
            Err(error) => self.refresh_error = Some(error.clone()),
        }
        self.next_try(now_ns)
    }

    /// A reply on the operation's socket: the next step, or `None` when it
    /// does not answer the operation (keep waiting).
    pub fn reply(&mut self, reply: &NetcraqRepr, now_ns: u64) -> Option<FollowStep> {
        match self.waiting {
            Waiting::HeadCheck(head) => match (Operation::Read { key: self.operation.key() }).judge(reply)? {
                OpResult::Ok { .. } => Some(self.send(head, false, now_ns)),
                refused => Some(self.refused(head, refused, true, now_ns)),
            },
            Waiting::Reply(node) => match self.operation.judge(reply)? {
                OpResult::Ok { version, value } => Some(self.done(Ok((version, value)))),
                refused @ (OpResult::NotServing | OpResult::KeyOutOfRange) => {
                    Some(self.refused(node, refused, false, now_ns))
                }
                OpResult::OutcomeUnknown => Some(self.done(Err(ClientError::OutcomeUnknown { key: reply.key }))),
                OpResult::WindowFull => Some(self.done(Err(ClientError::WindowFull { key: reply.key }))),
                OpResult::TimedOut => None,
            },
            Waiting::Membership | Waiting::Nothing | Waiting::Finished => None,
        }
    }

    /// The try in flight got no reply in time: learn the membership again.
    pub fn timed_out(&mut self, now_ns: u64) -> FollowStep {
        let (node, head_check) = match self.waiting {
            Waiting::HeadCheck(node) => (node, true),
            Waiting::Reply(node) => (node, false),
            Waiting::Membership | Waiting::Nothing => return self.next_try(now_ns),
            Waiting::Finished => return self.give_up(now_ns),
        };
        self.failed.push(Try { node, outcome: TryOutcome::NoReply, head_check });
        self.refresh(now_ns, now_ns)
    }

    /// The tries that failed so far.
    pub fn failed(&self) -> &[Try] {
        &self.failed
    }

    fn refused(&mut self, node: Ipv4Addr, result: OpResult, head_check: bool, now_ns: u64) -> FollowStep {
        let outcome = match result {
            OpResult::NotServing => TryOutcome::NotServing,
            _ => TryOutcome::KeyOutOfRange,
        };
        // An answer came at once: wait as long as the try would have before asking again.
        let pause = self.try_timeout_ns();
        self.failed.push(Try { node, outcome, head_check });
        self.refresh(now_ns.saturating_add(pause), now_ns)
    }

    fn refresh(&mut self, after_ns: u64, now_ns: u64) -> FollowStep {
        if self.out_of_bounds(after_ns.max(now_ns)) {
            return self.give_up(now_ns);
        }
        self.waiting = Waiting::Membership;
        FollowStep::Refresh { after_ns, until_ns: self.deadline_ns() }
    }

    /// A try at the member the operation goes to now.
    fn next_try(&mut self, now_ns: u64) -> FollowStep {
        let Some(chain) = &self.chain else { return self.refresh(now_ns, now_ns) };
        if self.out_of_bounds(now_ns) {
            return self.give_up(now_ns);
        }
        let members = &chain.members;
        if self.operation.is_read() {
            // The member after the last one tried, in the membership as it is now.
            let after_last = self.last_node.and_then(|last| members.iter().position(|m| m.ip == last)).map(|i| i + 1);
            let turn = after_last.unwrap_or(self.read_offset.wrapping_add(self.failed.len())) % members.len();
            return self.send(members[turn].ip, false, now_ns);
        }
        let head = members[0].ip;
        self.send(head, self.policy.check_head && self.sent == 0, now_ns)
    }

    fn send(&mut self, node: Ipv4Addr, head_check: bool, now_ns: u64) -> FollowStep {
        if self.out_of_bounds(now_ns) {
            return self.give_up(now_ns);
        }
        let until_ns = now_ns.saturating_add(self.try_timeout_ns()).min(self.deadline_ns());
        self.transmissions += 1;
        self.last_node = Some(node);
        let header = if head_check {
            self.waiting = Waiting::HeadCheck(node);
            Operation::Read { key: self.operation.key() }.request(0)
        } else {
            self.waiting = Waiting::Reply(node);
            self.sent += 1;
            self.operation.request(self.sent - 1)
        };
        FollowStep::Send { node, header, until_ns }
    }

    /// This try's wait: the first try's, doubled for each failed try, capped.
    fn try_timeout_ns(&self) -> u64 {
        let doublings = self.failed.len().min(63) as u32;
        self.policy.try_timeout_ns.saturating_mul(1 << doublings).min(self.policy.max_try_timeout_ns.max(1))
    }

    fn deadline_ns(&self) -> u64 {
        self.started_ns.saturating_add(self.policy.total_ns)
    }

    /// Whether another try would exceed the bounds.
    fn out_of_bounds(&self, at_ns: u64) -> bool {
        self.transmissions >= self.policy.tries || at_ns >= self.deadline_ns()
    }

    fn give_up(&mut self, now_ns: u64) -> FollowStep {
        let kind = self.operation.kind();
        let error = ClientError::NoMemberAnswered {
            kind,
            key: self.operation.key(),
            tries: self.transmissions,
            failed: self.failed.clone(),
            elapsed_ms: now_ns.saturating_sub(self.started_ns) / 1_000_000,
            refresh_error: self.refresh_error.clone(),
            // A transmission that got no answer may have reached the head.
            write_may_have_applied: kind == RequestKind::Write && self.sent > 0,
        };
        self.done(Err(error))
    }

    fn done(&mut self, result: Result<(u8, Value), ClientError>) -> FollowStep {
        self.waiting = Waiting::Finished;
        FollowStep::Done(result)
    }
}

fn no_chain_for(key: u16, membership: &Membership) -> ClientError {
    let chains = membership.chains.iter().map(|c| format!("{} [{}, {})", c.name, c.key_lo, c.key_hi)).collect();
    ClientError::NoChainForKey { key, chains }
}

#[cfg(test)]
mod tests {
    use netcraq_wire::{ErrorCode, Op};

    use super::*;
    use crate::membership::chain;

    const MS: u64 = 1_000_000;
    const POLICY: FollowPolicy = FollowPolicy {
        try_timeout_ns: 10 * MS,
        max_try_timeout_ns: 40 * MS,
        tries: 6,
        total_ns: 1000 * MS,
        check_head: true,
    };
    const WRITE: Operation = Operation::Write { key: 3, value: [7; 16] };
    const READ: Operation = Operation::Read { key: 3 };

    fn membership(epoch: u32, ips: &[u8]) -> Membership {
        Membership { chains: vec![chain("kv", epoch, (0, 16), ips)] }
    }

    fn ip(i: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, i)
    }

    fn reply(op: Op, version: u8, value: Value) -> NetcraqRepr {
        NetcraqRepr { op, version, key: 3, value }
    }

    fn error(code: ErrorCode, value: Value) -> NetcraqRepr {
        reply(Op::Error, code as u8, value)
    }

    /// The node, op and version of a send; panics on any other step.
    fn sent(step: &FollowStep) -> (Ipv4Addr, Op, u8, u64) {
        match step {
            FollowStep::Send { node, header, until_ns } => (*node, header.op, header.version, *until_ns),
            other => panic!("expected a send, got {other:?}"),
        }
    }

    fn refresh(step: &FollowStep) -> (u64, u64) {
        match step {
            FollowStep::Refresh { after_ns, until_ns } => (*after_ns, *until_ns),
            other => panic!("expected a refresh, got {other:?}"),
        }
    }

    fn error_of(step: FollowStep) -> ClientError {
        match step {
            FollowStep::Done(Err(error)) => error,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn without_a_membership_it_asks_for_one_and_an_unreachable_controller_ends_it() {
        let mut follower = Follower::new(READ, POLICY, 0, 0);
        assert_eq!(refresh(&follower.start(None, 0)), (0, 1000 * MS));
        let unreachable = MembershipError("http://127.0.0.1:1/membership: connecting: refused".into());
        let error = error_of(follower.learned(Err(&unreachable), MS));
        assert!(matches!(&error, ClientError::NoMembership(e) if *e == unreachable));
        assert_eq!(
            error.to_string(),
            "could not learn the chain's members: http://127.0.0.1:1/membership: connecting: refused"
        );
        assert!(!error.write_may_have_applied());
    }

    #[test]
    fn a_key_no_chain_serves_is_an_error_naming_the_chains() {
        let mut follower = Follower::new(Operation::Read { key: 99 }, POLICY, 0, 0);
        let error = error_of(follower.start(Some(&membership(1, &[1])), 0));
        assert_eq!(error.to_string(), "no chain serves key 99; the membership has: kv [0, 16)");
    }

    #[test]
    fn a_read_answered_at_once_ends_with_its_value() {
        let mut follower = Follower::new(READ, POLICY, 1, 0);
        let (node, op, version, until) = sent(&follower.start(Some(&membership(1, &[1, 2, 3])), 0));
        assert_eq!((node, op, version, until), (ip(2), Op::Read, 0, 10 * MS), "from the offset, the first try's wait");
        assert!(follower.reply(&reply(Op::WriteReply, 1, [0; 16]), MS).is_none(), "not an answer to a read");
        let done = follower.reply(&reply(Op::ReadReply, 4, [5; 16]), MS);
        assert!(matches!(done, Some(FollowStep::Done(Ok((4, value)))) if value == [5; 16]), "{done:?}");
    }

    #[test]
    fn a_read_moves_to_the_next_member_after_silence_or_a_refusal() {
        let mut follower = Follower::new(READ, POLICY, 0, 0);
        assert_eq!(sent(&follower.start(Some(&membership(1, &[1, 2, 3])), 0)).0, ip(1));
        // n1 is silent: the membership is learnt again at once.
        assert_eq!(refresh(&follower.timed_out(10 * MS)), (10 * MS, 1000 * MS));
        let (node, _, _, until) = sent(&follower.learned(Ok(&membership(1, &[1, 2, 3])), 11 * MS));
        assert_eq!((node, until), (ip(2), 31 * MS), "the next member, waited for twice as long");
        // n2's lease lapsed: it refuses; the next try waits out the try's time first.
        let step = follower.reply(&error(ErrorCode::NotServing, [0; 16]), 12 * MS).unwrap();
        assert_eq!(refresh(&step), (12 * MS + 20 * MS, 1000 * MS), "paused for as long as the try's wait");
        // The controller removed n1 meanwhile.
        let (node, ..) = sent(&follower.learned(Ok(&membership(2, &[2, 3])), 60 * MS));
        assert_eq!(node, ip(3), "the next turn in the new membership");
        assert_eq!(follower.failed().len(), 2);
        assert!(matches!(follower.reply(&reply(Op::ReadReply, 1, [1; 16]), 61 * MS), Some(FollowStep::Done(Ok(_)))));
    }

    #[test]
    fn a_write_checks_the_head_then_sends_its_first_transmission_there() {
        let mut follower = Follower::new(WRITE, POLICY, 2, 0);
        let (node, op, version, _) = sent(&follower.start(Some(&membership(1, &[1, 2])), 0));
        assert_eq!((node, op, version), (ip(1), Op::Read, 0), "the head check: a read of the key at the head");
        let (node, op, version, until) = sent(&follower.reply(&reply(Op::ReadReply, 1, [0; 16]), 2 * MS).unwrap());
        assert_eq!((node, op, version, until), (ip(1), Op::Write, 0, 12 * MS), "a first transmission");
        assert!(follower.reply(&reply(Op::ReadReply, 1, [0; 16]), 3 * MS).is_none(), "a late check reply is ignored");
        assert!(follower.reply(&reply(Op::WriteReply, 2, [8; 16]), 3 * MS).is_none(), "another write's reply");
        let done = follower.reply(&reply(Op::WriteReply, 2, [7; 16]), 4 * MS);
        assert!(matches!(done, Some(FollowStep::Done(Ok((2, value)))) if value == [7; 16]), "{done:?}");
    }

    #[test]
    fn a_dead_head_never_gets_the_write_and_the_new_head_gets_a_first_transmission() {
        let mut follower = Follower::new(WRITE, POLICY, 0, 0);
        assert_eq!(sent(&follower.start(Some(&membership(1, &[1, 2, 3])), 0)).1, Op::Read);
        refresh(&follower.timed_out(10 * MS));
        // The controller has not noticed yet: the head is checked again.
        let (node, op, ..) = sent(&follower.learned(Ok(&membership(1, &[1, 2, 3])), 10 * MS));
        assert_eq!((node, op), (ip(1), Op::Read));
        refresh(&follower.timed_out(30 * MS));
        let (node, op, ..) = sent(&follower.learned(Ok(&membership(2, &[2, 3])), 30 * MS));
        assert_eq!((node, op), (ip(2), Op::Read), "the new head is checked");
        let (node, op, version, _) = sent(&follower.reply(&reply(Op::ReadReply, 0, [0; 16]), 31 * MS).unwrap());
        assert_eq!(
            (node, op, version),
            (ip(2), Op::Write, 0),
            "nothing was sent to the dead head: a first transmission"
        );
    }

    #[test]
    fn after_a_silent_transmission_every_later_one_is_a_retransmission_wherever_it_goes() {
        let unchecked = FollowPolicy { check_head: false, ..POLICY };
        let mut follower = Follower::new(WRITE, unchecked, 0, 0);
        let (node, op, version, _) = sent(&follower.start(Some(&membership(1, &[1, 2])), 0));
        assert_eq!((node, op, version), (ip(1), Op::Write, 0), "unchecked: straight to the head");
        refresh(&follower.timed_out(10 * MS));
        let (node, op, version, _) = sent(&follower.learned(Ok(&membership(2, &[2])), 10 * MS));
        assert_eq!((node, op, version), (ip(2), Op::Write, 1), "the new head matches it if the old one stamped it");
        let error = error_of(follower.reply(&error(ErrorCode::OutcomeUnknown, [7; 16]), 11 * MS).unwrap());
        assert!(matches!(error, ClientError::OutcomeUnknown { key: 3 }));
        assert!(error.write_may_have_applied());
    }

    #[test]
    fn a_write_refused_for_a_full_window_ends_without_being_applied() {
        let mut follower = Follower::new(WRITE, FollowPolicy { check_head: false, ..POLICY }, 0, 0);
        sent(&follower.start(Some(&membership(1, &[1])), 0));
        assert!(follower.reply(&error(ErrorCode::NotServing, [7; 16]), MS).is_none(), "writes are never NOT_SERVING");
        let error = error_of(follower.reply(&error(ErrorCode::WindowFull, [7; 16]), MS).unwrap());
        assert!(matches!(error, ClientError::WindowFull { key: 3 }) && !error.write_may_have_applied());
    }

    #[test]
    fn a_wrong_node_is_left_for_the_membership_learnt_again() {
        let mut follower = Follower::new(WRITE, FollowPolicy { check_head: false, ..POLICY }, 0, 0);
        sent(&follower.start(Some(&membership(1, &[1, 2])), 0));
        let step = follower.reply(&error(ErrorCode::KeyOutOfRange, [7; 16]), MS).unwrap();
        assert_eq!(refresh(&step).0, 11 * MS);
        let (node, _, version, _) = sent(&follower.learned(Ok(&membership(2, &[2, 1])), 11 * MS));
        assert_eq!((node, version), (ip(2), 1), "the new head; still a retransmission");
        assert_eq!(follower.failed()[0].outcome, TryOutcome::KeyOutOfRange);
    }

    #[test]
    fn an_unreachable_controller_mid_operation_keeps_the_last_membership() {
        let mut follower = Follower::new(READ, POLICY, 0, 0);
        sent(&follower.start(Some(&membership(1, &[1, 2])), 0));
        refresh(&follower.timed_out(10 * MS));
        let gone = MembershipError("controller gone".into());
        assert_eq!(sent(&follower.learned(Err(&gone), 10 * MS)).0, ip(2), "the next member of the last membership");
        for at in [30, 70, 110, 150] {
            refresh(&follower.timed_out(at * MS));
            sent(&follower.learned(Err(&gone), at * MS));
        }
        let error = error_of(follower.timed_out(190 * MS));
        assert_eq!(
            error.to_string(),
            "no member answered READ of key 3 after 6 tries over 190 ms: tried 10.0.0.1 (no reply), \
             10.0.0.2 (no reply), 10.0.0.1 (no reply), 10.0.0.2 (no reply), 10.0.0.1 (no reply), \
             10.0.0.2 (no reply); the membership could not be learnt again: controller gone"
        );
        assert!(!error.write_may_have_applied());
    }

    #[test]
    fn tries_are_bounded_by_count_and_the_last_error_says_a_write_may_have_applied() {
        let mut follower = Follower::new(WRITE, FollowPolicy { tries: 3, ..POLICY }, 0, 0);
        let one = membership(1, &[1]);
        assert_eq!(sent(&follower.start(Some(&one), 0)).1, Op::Read);
        let (_, op, version, _) = sent(&follower.reply(&reply(Op::ReadReply, 0, [0; 16]), MS).unwrap());
        assert_eq!((op, version), (Op::Write, 0));
        refresh(&follower.timed_out(11 * MS));
        assert_eq!(sent(&follower.learned(Ok(&one), 11 * MS)).2, 1, "a retransmission, no check");
        let error = error_of(follower.timed_out(31 * MS));
        assert!(error.write_may_have_applied());
        let text = error.to_string();
        assert!(
            text.starts_with(
                "no member answered WRITE of key 3 after 3 tries over 31 ms: tried 10.0.0.1 (no reply) ×2;"
            ),
            "{text}"
        );
        assert!(text.contains("may or may not have been applied"), "{text}");
    }

    #[test]
    fn a_silent_head_check_leaves_the_write_unapplied() {
        let mut follower = Follower::new(WRITE, FollowPolicy { tries: 1, ..POLICY }, 0, 0);
        sent(&follower.start(Some(&membership(1, &[1])), 0));
        let error = error_of(follower.timed_out(10 * MS));
        assert!(!error.write_may_have_applied(), "only the check went out");
        assert!(error.to_string().contains("tried 10.0.0.1 (no reply to the head check); the write was not applied"));
    }

    #[test]
    fn time_is_bounded_including_the_waits_and_fetches() {
        let policy = FollowPolicy { total_ns: 25 * MS, tries: 100, ..POLICY };
        let mut follower = Follower::new(READ, policy, 0, 0);
        let (_, _, _, until) = sent(&follower.start(Some(&membership(1, &[1, 2])), 0));
        assert_eq!(until, 10 * MS);
        refresh(&follower.timed_out(10 * MS));
        let (_, _, _, until) = sent(&follower.learned(Ok(&membership(1, &[1, 2])), 12 * MS));
        assert_eq!(until, 25 * MS, "the try's wait is cut at the total");
        follower.reply(&error(ErrorCode::NotServing, [0; 16]), 13 * MS).unwrap();
        let (_, _, _, until) = sent(&follower.learned(Ok(&membership(1, &[1, 2])), 23 * MS));
        assert_eq!(until, 25 * MS);
        let step = follower.reply(&error(ErrorCode::NotServing, [0; 16]), 24 * MS).unwrap();
        assert!(matches!(error_of(step), ClientError::NoMemberAnswered { .. }), "the pause would pass the total");
    }

    #[test]
    fn steps_out_of_order_are_harmless() {
        let mut follower = Follower::new(READ, POLICY, 0, 0);
        assert!(follower.reply(&reply(Op::ReadReply, 1, [0; 16]), 0).is_none(), "nothing sent yet");
        assert_eq!(refresh(&follower.timed_out(0)).0, 0, "no try in flight: asks for a membership");
        sent(&follower.learned(Ok(&membership(1, &[1])), 0));
        assert!(matches!(follower.reply(&reply(Op::ReadReply, 1, [0; 16]), 1), Some(FollowStep::Done(Ok(_)))));
        assert!(follower.reply(&reply(Op::ReadReply, 1, [0; 16]), 2).is_none(), "done: nothing more");
        assert!(matches!(error_of(follower.timed_out(3)), ClientError::NoMemberAnswered { .. }), "nor another try");
    }
}
