//! Model check of the hot-read coherence protocol (proxy/src/coherence.rs,
//! docs/kubernetes.md "Hot reads", docs/model-checking.md §8) with
//! stateright: two proxies in front of one etcd and one NetCRAQ chain, each
//! serving clients that write and read one placed key, concurrently, and a
//! proxy that may crash after any step and restart, or the key promoted at
//! one proxy and demoted at the other at runtime while writes of it go
//! unmarked, and give up waiting for etcd. Every interleaving is explored
//! and each client's history checked for linearizability.
//!
//! What is real code: the records, their encoding, the read decision and
//! the clean records (`netcraq_proxy::coherence`). What is modelled: etcd
//! (one key, revisions, a fence key per proxy; each request applies
//! atomically, and a Txn sent by a proxy that crashed may still apply any
//! time later), NetCRAQ (one linearizable register per slot: a READ or
//! WRITE is one atomic step, checked by the chain's own model), and the
//! proxy's steps.

use netcraq_proxy::coherence::{
    clean_after_restart, clean_after_write, judge_read, Cached, Miss, Record, RestartStep, Verdict, WriteStep,
};
use stateright::semantics::register::{Register, RegisterOp, RegisterRet};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};
use stateright::{Checker, Expectation, HasDiscoveries, Model, Path, Property};
use std::collections::BTreeSet;
use std::time::Instant;

const PROXIES: usize = 2;
const TAG: u32 = 0x5eed;
/// The proxy that may crash: P0, whose clients write and read; P1's
/// writer and readers go on meanwhile.
const CRASHING: usize = 0;

type History = LinearizabilityTester<usize, Register<u8>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Op {
    Write(u8),
    Read,
}

/// A client: its proxy, its script, and whether it starts only once its
/// proxy restarted (a crash stops the clients it was serving for good).
#[derive(Clone, Debug)]
struct Script {
    proxy: usize,
    ops: Vec<Op>,
    after_restart: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Doing {
    Ready,
    /// A write at `step`; `before` is the proxy's record before its dirty mark.
    Writing {
        value: u8,
        step: WriteStep,
        before: Record,
        /// Whether the key was placed at its proxy when the write began: a
        /// write of an unplaced key skips the dirty and clean marks.
        marked: bool,
    },
    /// The write's Txn is in etcd; `Some(revision)` once it committed.
    Committed {
        value: u8,
        revision: i64,
        before: Record,
        marked: bool,
    },
    /// A read, with the records read so far (slot by slot, in any order).
    Reading {
        records: [Option<Record>; PROXIES],
    },
    /// A read that goes to etcd.
    Fallback,
    /// Stopped by its proxy's crash, its operation in flight for ever.
    Stopped,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Client {
    pc: usize,
    doing: Doing,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Proxy {
    up: bool,
    incarnation: u8,
    /// Where its restart is; `None` once it serves.
    restarting: Option<RestartStep>,
    /// The fence key's mod revision its Txns compare.
    fence: i64,
    /// What it last wrote to its own slot.
    own: Record,
    /// The value it caches: (mod revision, value).
    cache: Option<(i64, u8)>,
    /// The client holding the key's write lock (`PROMOTER`: its promotion).
    lock: Option<usize>,
    crashed: bool,
    /// Whether it places the key.
    placed: bool,
    /// Writes begun and not answered (the proxy's `writes` lock, shared).
    in_flight: u8,
    /// Where a promotion is, after its fence: observe, then mark clean.
    promoting: Option<RestartStep>,
    /// Whether its one placement change (promotion or demotion) was made.
    moved: bool,
    /// Whether a marked write was given up on since the fence last moved:
    /// no write begins and no promotion observes until it moves.
    in_doubt: bool,
}

/// The promotion's hold of the key's write lock.
const PROMOTER: usize = usize::MAX;

/// A Txn sent to etcd and not yet applied.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Pending {
    proxy: usize,
    incarnation: u8,
    client: usize,
    value: u8,
    fence: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Etcd {
    revision: i64,
    key_mod: i64,
    value: u8,
    fences: [i64; PROXIES],
}

#[derive(Clone, Debug, PartialEq, Hash)]
struct State {
    etcd: Etcd,
    pending: Vec<Pending>,
    slots: [Record; PROXIES],
    proxies: [Proxy; PROXIES],
    clients: Vec<Client>,
    history: History,
    linearizable: bool,
    crashes: u8,
    /// Events the `sometimes` properties look for.
    hit: bool,
    dirty_miss: bool,
    fenced: bool,
    restarted_and_hit: bool,
    promoted_and_hit: bool,
    settled: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Action {
    Invoke(usize),
    /// The client's next write step (lock, dirty mark, send the Txn, clean mark and answer).
    Write(usize),
    ReadSlot(usize, usize),
    Decide(usize),
    Fallback(usize),
    /// etcd applies a pending Txn.
    Apply(Pending),
    Crash(usize),
    Restart(usize),
    RestartStep(usize),
    /// The client stops waiting for etcd's answer to its write (the
    /// proxy's call timeout); the Txn may still apply.
    GiveUp(usize),
    /// While none of its writes is in flight: the proxy moves its fence and
    /// places the key, or marks its slot unknown and forgets the key.
    Promote(usize),
    PromoteStep(usize),
    Demote(usize),
    /// While none of its writes is in flight, after a marked write was
    /// given up on: the proxy moves its fence.
    Settle(usize),
}

/// What a negative configuration leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Omit {
    Nothing,
    DirtyMark,
    Fence,
    PromotionFence,
    DemotionMark,
    /// The fence after a marked write given up on.
    DoubtFence,
}

/// Placement changes at runtime: the proxy that starts without the key and
/// may promote it, and the one that may demote it.
#[derive(Clone, Copy, Debug)]
struct Moves {
    promote: usize,
    demote: usize,
}

struct CoherenceModel {
    scripts: Vec<Script>,
    max_crashes: u8,
    omit: Omit,
    moves: Option<Moves>,
}

impl CoherenceModel {
    fn proxy_of(&self, c: usize) -> usize {
        self.scripts[c].proxy
    }

    fn serving(&self, state: &State, p: usize) -> bool {
        state.proxies[p].up && state.proxies[p].restarting.is_none()
    }

    fn apply(&self, state: &State, action: &Action) -> State {
        let mut next = state.clone();
        match *action {
            Action::Invoke(c) => {
                let op = self.scripts[c].ops[next.clients[c].pc];
                let p = self.proxy_of(c);
                let (register_op, doing) = match op {
                    Op::Write(value) => {
                        let before = next.proxies[p].own;
                        let writing = Doing::Writing { value, step: WriteStep::Lock, before, marked: false };
                        (RegisterOp::Write(value), writing)
                    }
                    Op::Read if !next.proxies[p].placed => (RegisterOp::Read, Doing::Fallback),
                    Op::Read => (RegisterOp::Read, Doing::Reading { records: [None; PROXIES] }),
                };
                next.history.on_invoke(c, register_op).expect("one operation per client at a time");
                next.clients[c].doing = doing;
            }
            Action::Write(c) => self.write_step(&mut next, c),
            Action::ReadSlot(c, slot) => {
                if let Doing::Reading { records } = &mut next.clients[c].doing {
                    records[slot] = Some(next.slots[slot]);
                }
            }
            Action::Decide(c) => {
                let Doing::Reading { records } = &next.clients[c].doing else { unreachable!("a read") };
                let records: Vec<Record> = records.iter().map(|r| r.expect("every slot read")).collect();
                let proxy = &next.proxies[self.proxy_of(c)];
                let cached = proxy.cache.map(|(mod_revision, _)| Cached { mod_revision, lease: 0 });
                match judge_read(TAG, &records, cached) {
                    Verdict::Hit => {
                        let value = proxy.cache.expect("a hit is cached").1;
                        next.hit = true;
                        next.restarted_and_hit |= proxy.crashed;
                        next.promoted_and_hit |= proxy.moved && proxy.placed;
                        self.finish(&mut next, c, RegisterRet::ReadOk(value));
                    }
                    Verdict::Miss(miss) => {
                        next.dirty_miss |= miss == Miss::Dirty;
                        next.clients[c].doing = Doing::Fallback;
                    }
                }
            }
            Action::Fallback(c) => {
                let (key_mod, value) = (next.etcd.key_mod, next.etcd.value);
                fill(&mut next.proxies[self.proxy_of(c)], key_mod, value);
                self.finish(&mut next, c, RegisterRet::ReadOk(value));
            }
            Action::Apply(ref pending) => {
                next.pending.retain(|p| p != pending);
                let etcd = &mut next.etcd;
                if pending.fence != etcd.fences[pending.proxy] {
                    next.fenced = true;
                    return next;
                }
                etcd.revision += 1;
                etcd.key_mod = etcd.revision;
                etcd.value = pending.value;
                let revision = etcd.revision;
                let proxy = &next.proxies[pending.proxy];
                if proxy.up && proxy.incarnation == pending.incarnation {
                    let client = &mut next.clients[pending.client];
                    if let Doing::Writing { value, before, marked, .. } = client.doing {
                        client.doing = Doing::Committed { value, revision, before, marked };
                    }
                }
            }
            Action::Crash(p) => {
                let proxy = &mut next.proxies[p];
                proxy.up = false;
                proxy.crashed = true;
                proxy.lock = None;
                proxy.cache = None;
                proxy.own = Record::Unknown;
                proxy.in_flight = 0;
                next.crashes += 1;
                for (c, script) in self.scripts.iter().enumerate() {
                    if script.proxy == p && !script.after_restart {
                        next.clients[c].doing = Doing::Stopped;
                    }
                }
            }
            Action::Restart(p) => {
                let proxy = &mut next.proxies[p];
                proxy.up = true;
                proxy.incarnation += 1;
                proxy.restarting = Some(RestartStep::Fence);
            }
            Action::RestartStep(p) => self.restart_step(&mut next, p),
            Action::GiveUp(c) => {
                let proxy = &mut next.proxies[self.proxy_of(c)];
                let marked = matches!(next.clients[c].doing, Doing::Writing { marked: true, .. });
                proxy.in_doubt |= marked && self.omit != Omit::DoubtFence;
                proxy.in_flight -= 1;
                if proxy.lock == Some(c) {
                    proxy.lock = None;
                }
                next.clients[c].doing = Doing::Stopped;
            }
            Action::Promote(p) => {
                if self.omit != Omit::PromotionFence {
                    move_fence(&mut next, p);
                }
                let proxy = &mut next.proxies[p];
                proxy.placed = true;
                proxy.own = Record::Unknown;
                proxy.promoting = Some(RestartStep::Observe);
                proxy.moved = true;
            }
            Action::PromoteStep(p) => self.promote_step(&mut next, p),
            Action::Demote(p) => {
                let proxy = &mut next.proxies[p];
                if self.omit != Omit::DemotionMark {
                    proxy.own = Record::Unknown;
                    next.slots[p] = Record::Unknown;
                }
                proxy.placed = false;
                proxy.cache = None;
                proxy.moved = true;
            }
            Action::Settle(p) => {
                move_fence(&mut next, p);
                next.settled = true;
            }
        }
        next
    }

    /// After the fence: observe the key and mark the slot clean, holding
    /// the key's write lock, unless a write of the key cleaned it first.
    fn promote_step(&self, next: &mut State, p: usize) {
        let proxy = &mut next.proxies[p];
        match proxy.promoting.expect("promoting") {
            RestartStep::Observe if matches!(proxy.own, Record::Clean { .. }) => proxy.promoting = None,
            RestartStep::Observe => {
                proxy.lock = Some(PROMOTER);
                fill(proxy, next.etcd.key_mod, next.etcd.value);
                proxy.promoting = Some(RestartStep::MarkClean);
            }
            RestartStep::MarkClean => {
                let clean = clean_after_restart(TAG, Some(proxy.cache.expect("observed").0), next.etcd.revision);
                proxy.own = clean;
                next.slots[p] = clean;
                proxy.lock = None;
                proxy.promoting = None;
            }
            RestartStep::Fence => unreachable!("the fence moved with the promotion"),
        }
    }

    fn write_step(&self, next: &mut State, c: usize) {
        let p = self.proxy_of(c);
        match next.clients[c].doing.clone() {
            Doing::Writing { value, step, before, marked } => {
                let proxy = &mut next.proxies[p];
                let step = match step {
                    WriteStep::Lock => {
                        proxy.in_flight += 1;
                        let marked = proxy.placed;
                        if marked {
                            proxy.lock = Some(c);
                        }
                        // The lock holder's `before` is the record after earlier writes.
                        let before = proxy.own;
                        let step = if self.omit == Omit::DirtyMark || !marked {
                            WriteStep::Commit
                        } else {
                            WriteStep::MarkDirty
                        };
                        next.clients[c].doing = Doing::Writing { value, step, before, marked };
                        return;
                    }
                    WriteStep::MarkDirty => {
                        let dirty = Record::Dirty { tag: TAG, fence: proxy.fence };
                        proxy.own = dirty;
                        next.slots[p] = dirty;
                        WriteStep::Commit
                    }
                    WriteStep::Commit => {
                        let pending =
                            Pending { proxy: p, incarnation: proxy.incarnation, client: c, value, fence: proxy.fence };
                        next.pending.push(pending);
                        next.pending.sort();
                        WriteStep::MarkClean
                    }
                    WriteStep::MarkClean => unreachable!("a write marks clean once committed"),
                };
                next.clients[c].doing = Doing::Writing { value, step, before, marked };
            }
            Doing::Committed { revision, before, marked, .. } => {
                let proxy = &mut next.proxies[p];
                proxy.in_flight -= 1;
                if marked {
                    let clean = clean_after_write(TAG, revision, true, before);
                    proxy.own = clean;
                    proxy.lock = None;
                    next.slots[p] = clean;
                }
                self.finish(next, c, RegisterRet::WriteOk);
            }
            other => unreachable!("not writing: {other:?}"),
        }
    }

    fn restart_step(&self, next: &mut State, p: usize) {
        let restarting = match next.proxies[p].restarting.expect("restarting") {
            RestartStep::Fence => {
                if self.omit != Omit::Fence {
                    move_fence(next, p);
                }
                Some(RestartStep::Observe)
            }
            RestartStep::Observe => {
                fill(&mut next.proxies[p], next.etcd.key_mod, next.etcd.value);
                Some(RestartStep::MarkClean)
            }
            RestartStep::MarkClean => {
                let observed = next.proxies[p].cache.expect("observed").0;
                let clean = clean_after_restart(TAG, Some(observed), next.etcd.revision);
                next.proxies[p].own = clean;
                next.slots[p] = clean;
                None
            }
        };
        next.proxies[p].restarting = restarting;
    }

    fn finish(&self, next: &mut State, c: usize, ret: RegisterRet<u8>) {
        next.history.on_return(c, ret).expect("the operation is in flight");
        next.linearizable = next.history.serialized_history().is_some();
        next.clients[c].pc += 1;
        next.clients[c].doing = Doing::Ready;
    }

    fn explain(&self, path: &Path<State, Action>) -> String {
        let mut out = String::new();
        let steps = path.clone().into_vec();
        for (i, (state, action)) in steps.iter().filter_map(|(s, a)| Some((s, a.as_ref()?))).enumerate() {
            let what = match action {
                Action::Invoke(c) => format!("C{c} invokes {:?}", self.scripts[*c].ops[state.clients[*c].pc]),
                Action::Write(c) => format!("C{c} takes its write's next step"),
                Action::ReadSlot(c, slot) => format!("C{c} reads slot of P{slot}"),
                Action::Decide(c) => format!("C{c} decides its read"),
                Action::Fallback(c) => format!("C{c} reads etcd"),
                Action::Apply(pending) => format!("etcd applies {pending:?}"),
                Action::Crash(p) => format!("P{p} crashes"),
                Action::Restart(p) => format!("P{p} restarts"),
                Action::RestartStep(p) => format!("P{p} takes its restart's next step"),
                Action::GiveUp(c) => format!("C{c} gives up waiting for its write"),
                Action::Promote(p) => format!("P{p} promotes the key"),
                Action::PromoteStep(p) => format!("P{p} takes its promotion's next step"),
                Action::Demote(p) => format!("P{p} demotes the key"),
                Action::Settle(p) => format!("P{p} moves its fence after a write given up on"),
            };
            out += &format!("{:3}. {what}\n", i + 1);
        }
        let last = path.last_state();
        out += &format!("history: {:?}\netcd: {:?}\nslots: {:?}", last.history, last.etcd, last.slots);
        out
    }
}

/// The proxy puts its fence key (with none of its writes in flight, so no
/// write's outcome is in doubt after it).
fn move_fence(state: &mut State, p: usize) {
    state.etcd.revision += 1;
    state.etcd.fences[p] = state.etcd.revision;
    state.proxies[p].fence = state.etcd.revision;
    state.proxies[p].in_doubt = false;
}

/// A value read from etcd replaces an older cached one.
fn fill(proxy: &mut Proxy, mod_revision: i64, value: u8) {
    if proxy.cache.is_none_or(|(cached, _)| cached < mod_revision) {
        proxy.cache = Some((mod_revision, value));
    }
}

impl Model for CoherenceModel {
    type State = State;
    type Action = Action;

    /// The key holds 0 at revision 1, each proxy's fence key was put at 2
    /// and 3; both proxies have restarted before (their slots are clean at
    /// 1) and P0 caches the key. With placement moves, the promoting proxy
    /// starts without the key (its slot unknown) and no proxy caches it.
    fn init_states(&self) -> Vec<State> {
        let placed = |p: usize| self.moves.is_none_or(|m| m.promote != p);
        let record = |p: usize| if placed(p) { Record::Clean { tag: TAG, revision: 1 } } else { Record::Unknown };
        let proxy = |p: usize| Proxy {
            up: true,
            incarnation: 0,
            restarting: None,
            fence: 2 + p as i64,
            own: record(p),
            cache: (p == 0 && self.moves.is_none()).then_some((1, 0)),
            lock: None,
            crashed: false,
            placed: placed(p),
            in_flight: 0,
            promoting: None,
            moved: false,
            in_doubt: false,
        };
        vec![State {
            etcd: Etcd { revision: 3, key_mod: 1, value: 0, fences: [2, 3] },
            pending: Vec::new(),
            slots: [record(0), record(1)],
            proxies: [proxy(0), proxy(1)],
            clients: vec![Client { pc: 0, doing: Doing::Ready }; self.scripts.len()],
            history: History::new(Register(0)),
            linearizable: true,
            crashes: 0,
            hit: false,
            dirty_miss: false,
            fenced: false,
            restarted_and_hit: false,
            promoted_and_hit: false,
            settled: false,
        }]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        for (c, client) in state.clients.iter().enumerate() {
            let p = self.proxy_of(c);
            if !self.serving(state, p) {
                continue;
            }
            let script = &self.scripts[c];
            match &client.doing {
                Doing::Ready if client.pc < script.ops.len() && (!script.after_restart || state.proxies[p].crashed) => {
                    actions.push(Action::Invoke(c))
                }
                Doing::Writing { step: WriteStep::Lock, .. }
                    if !state.proxies[p].in_doubt && (state.proxies[p].lock.is_none() || !state.proxies[p].placed) =>
                {
                    actions.push(Action::Write(c))
                }
                Doing::Writing { step: WriteStep::MarkClean, .. } if self.moves.is_some() => {
                    actions.push(Action::GiveUp(c))
                }
                Doing::Writing { step: WriteStep::MarkDirty | WriteStep::Commit, .. } | Doing::Committed { .. } => {
                    actions.push(Action::Write(c))
                }
                Doing::Reading { records } => {
                    let unread: Vec<usize> = (0..PROXIES).filter(|s| records[*s].is_none()).collect();
                    if unread.is_empty() {
                        actions.push(Action::Decide(c));
                    }
                    actions.extend(unread.into_iter().map(|slot| Action::ReadSlot(c, slot)));
                }
                Doing::Fallback => actions.push(Action::Fallback(c)),
                _ => {}
            }
        }
        actions.extend(state.pending.iter().cloned().map(Action::Apply));
        for p in 0..PROXIES {
            let proxy = &state.proxies[p];
            if proxy.up && state.crashes < self.max_crashes && p == CRASHING {
                actions.push(Action::Crash(p));
            }
            if !proxy.up {
                actions.push(Action::Restart(p));
            }
            if proxy.up && proxy.restarting.is_some() {
                actions.push(Action::RestartStep(p));
            }
            let Some(moves) = self.moves else { continue };
            let quiet = proxy.in_flight == 0 && !proxy.moved;
            if quiet && p == moves.promote && !proxy.placed {
                actions.push(Action::Promote(p));
            }
            if quiet && p == moves.demote && proxy.placed && proxy.lock.is_none() {
                actions.push(Action::Demote(p));
            }
            let unlocked_or_observing = proxy.lock.is_none() || proxy.lock == Some(PROMOTER);
            if proxy.promoting.is_some() && unlocked_or_observing && !proxy.in_doubt {
                actions.push(Action::PromoteStep(p));
            }
            if proxy.in_doubt && proxy.in_flight == 0 {
                actions.push(Action::Settle(p));
            }
        }
    }

    fn next_state(&self, state: &State, action: Action) -> Option<State> {
        Some(self.apply(state, &action))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut properties = vec![
            Property::always("linearizable", |_, s: &State| s.linearizable),
            Property::sometimes("a read is served from the cache", |_, s: &State| s.hit),
            Property::sometimes("a read falls back to etcd because a slot is dirty", |_, s: &State| s.dirty_miss),
            Property::sometimes("every client completes its script", |m: &Self, s: &State| {
                let done = |(c, script): (&Client, &Script)| {
                    let never_started = script.after_restart && !s.proxies[script.proxy].crashed;
                    c.pc == script.ops.len() || c.doing == Doing::Stopped || never_started
                };
                s.clients.iter().zip(&m.scripts).all(done) && s.clients.iter().any(|c| c.pc > 0)
            }),
        ];
        if self.moves.is_some() {
            properties
                .push(Property::sometimes("a key promoted at runtime is served from the cache", |_, s: &State| {
                    s.promoted_and_hit
                }));
            properties.push(Property::sometimes("a write sent before a promotion is fenced", |_, s: &State| s.fenced));
            if self.omit == Omit::Nothing {
                properties
                    .push(Property::sometimes("the fence moves after a write given up on", |_, s: &State| s.settled));
            }
        }
        if self.max_crashes > 0 {
            properties.push(Property::sometimes("a dead incarnation's write is fenced", |_, s: &State| s.fenced));
            properties.push(Property::sometimes("a restarted proxy serves from its cache", |_, s: &State| {
                s.restarted_and_hit
            }));
        }
        properties
    }
}

fn scripts() -> Vec<Script> {
    let script = |proxy, ops: &[Op], after_restart| Script { proxy, ops: ops.to_vec(), after_restart };
    vec![
        script(0, &[Op::Write(1), Op::Read], false),
        script(1, &[Op::Read, Op::Write(2), Op::Read], false),
        script(0, &[Op::Read], false),
        script(CRASHING, &[Op::Read], true),
    ]
}

fn model(max_crashes: u8, omit: Omit) -> CoherenceModel {
    CoherenceModel { scripts: scripts(), max_crashes, omit, moves: None }
}

/// P1 starts without the key and promotes it, P0 demotes it, once each, at
/// any point; each proxy's write may be sent marked or unmarked and given
/// up on. One read before P0's write and one after P1's (P1's reader reads
/// once) keep the checker within a minute: a stale value needs one read
/// that sees the latest and one, at the other proxy, that misses it.
fn placement_model(omit: Omit) -> CoherenceModel {
    let script = |proxy, ops: &[Op]| Script { proxy, ops: ops.to_vec(), after_restart: false };
    let scripts =
        vec![script(0, &[Op::Read, Op::Write(1)]), script(1, &[Op::Write(2), Op::Read]), script(1, &[Op::Read])];
    CoherenceModel { scripts, max_crashes: 0, omit, moves: Some(Moves { promote: 1, demote: 0 }) }
}

fn verify(name: &str, model: CoherenceModel) {
    let start = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let checker = model.checker().threads(threads).spawn_dfs().join();
    println!(
        "{name}: {} unique states ({} generated), max depth {}, {:.1} s",
        checker.unique_state_count(),
        checker.state_count(),
        checker.max_depth(),
        start.elapsed().as_secs_f64()
    );
    assert!(checker.is_done());
    let model = checker.model();
    let mut failures = Vec::new();
    for property in model.properties() {
        match (property.expectation, checker.discovery(property.name)) {
            (Expectation::Sometimes, None) => failures.push(format!("never reached: \"{}\"", property.name)),
            (Expectation::Sometimes, Some(_)) | (_, None) => {}
            (_, Some(path)) => {
                failures.push(format!("counterexample to \"{}\":\n{}", property.name, model.explain(&path)))
            }
        }
    }
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
}

fn counterexample(label: &str, model: CoherenceModel) -> Path<State, Action> {
    let start = Instant::now();
    let property = "linearizable";
    let checker = model.checker().finish_when(HasDiscoveries::AnyOf(BTreeSet::from([property]))).spawn_bfs().join();
    let path = checker.discovery(property).unwrap_or_else(|| panic!("{label}: no counterexample"));
    println!(
        "{label}: counterexample after {} unique states, {:.1} s, {} steps:\n{}",
        checker.unique_state_count(),
        start.elapsed().as_secs_f64(),
        path.clone().into_actions().len(),
        checker.model().explain(&path)
    );
    path
}

/// (p1) Two proxies, concurrent writers and readers through both, no crash.
#[test]
fn two_proxies_concurrent_writers() {
    verify("(p1) two proxies", model(0, Omit::Nothing));
}

/// (p2) The same with one proxy crashing after any step, and restarting.
#[test]
fn two_proxies_one_crashes_at_any_step() {
    verify("(p2) two proxies, one crash", model(1, Omit::Nothing));
}

/// (p3) Without the dirty mark before the Txn: a reader trusts a clean slot
/// while the write it does not see has committed.
#[test]
fn without_the_dirty_mark_a_stale_value_is_served() {
    let path = counterexample("(p3) no dirty mark", model(0, Omit::DirtyMark));
    assert!(path.last_state().hit, "the stale answer is a cache hit");
}

/// (p4) A restart without its fence: the dead incarnation's Txn commits
/// after the restarted proxy observed the key and marked its slot clean.
#[test]
fn a_restart_without_its_fence_serves_a_stale_value() {
    let path = counterexample("(p4) no fence", model(1, Omit::Fence));
    assert!(path.last_state().proxies.iter().any(|p| p.crashed));
}

/// (p5) The key promoted at one proxy and demoted at the other at runtime,
/// with writes of it sent unmarked before and after, some given up on.
#[test]
fn placement_changes_at_runtime() {
    verify("(p5) promotion and demotion", placement_model(Omit::Nothing));
}

/// (p6) A promotion without moving the fence: a write sent unmarked before
/// it, given up on, commits after the promoted slot was marked clean.
#[test]
fn a_promotion_without_its_fence_serves_a_stale_value() {
    let path = counterexample("(p6) promotion without fence", placement_model(Omit::PromotionFence));
    assert!(path.last_state().hit);
}

/// (p7) A demotion that leaves its clean record: the demoted proxy's
/// unmarked write is not seen by the other's reads.
#[test]
fn a_demotion_without_its_unknown_mark_serves_a_stale_value() {
    let path = counterexample("(p7) demotion without unknown mark", placement_model(Omit::DemotionMark));
    assert!(path.last_state().hit);
}

/// (p8) No fence after a marked write given up on: its Txn commits after
/// the promotion observed the key and marked its slot clean.
#[test]
fn without_a_fence_after_a_write_given_up_on_a_stale_value_is_served() {
    let path = counterexample("(p8) no fence after a write given up on", placement_model(Omit::DoubtFence));
    assert!(path.last_state().hit);
}
