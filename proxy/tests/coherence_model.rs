//! Model check of the hot-read coherence protocol (proxy/src/coherence.rs,
//! docs/kubernetes.md "Hot reads", docs/model-checking.md §8) with
//! stateright: two proxies in front of one etcd and one NetCRAQ chain, each
//! serving clients that write and read one placed key, concurrently, and a
//! proxy that may crash after any step and restart. Every interleaving is
//! explored and each client's history checked for linearizability.
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
    },
    /// The write's Txn is in etcd; `Some(revision)` once it committed.
    Committed {
        value: u8,
        revision: i64,
        before: Record,
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
    /// The client holding the key's write lock.
    lock: Option<usize>,
    crashed: bool,
}

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
}

/// What a negative configuration leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Omit {
    Nothing,
    DirtyMark,
    Fence,
}

struct CoherenceModel {
    scripts: Vec<Script>,
    max_crashes: u8,
    omit: Omit,
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
                        (RegisterOp::Write(value), Doing::Writing { value, step: WriteStep::Lock, before })
                    }
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
                    if let Doing::Writing { value, before, .. } = client.doing {
                        client.doing = Doing::Committed { value, revision, before };
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
        }
        next
    }

    fn write_step(&self, next: &mut State, c: usize) {
        let p = self.proxy_of(c);
        match next.clients[c].doing.clone() {
            Doing::Writing { value, step, before } => {
                let proxy = &mut next.proxies[p];
                let step = match step {
                    WriteStep::Lock => {
                        proxy.lock = Some(c);
                        // The lock holder's `before` is the record after earlier writes.
                        let before = proxy.own;
                        let step = if self.omit == Omit::DirtyMark { WriteStep::Commit } else { WriteStep::MarkDirty };
                        next.clients[c].doing = Doing::Writing { value, step, before };
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
                next.clients[c].doing = Doing::Writing { value, step, before };
            }
            Doing::Committed { revision, before, .. } => {
                let clean = clean_after_write(TAG, revision, true, before);
                let proxy = &mut next.proxies[p];
                proxy.own = clean;
                proxy.lock = None;
                next.slots[p] = clean;
                self.finish(next, c, RegisterRet::WriteOk);
            }
            other => unreachable!("not writing: {other:?}"),
        }
    }

    fn restart_step(&self, next: &mut State, p: usize) {
        let proxy = &mut next.proxies[p];
        proxy.restarting = match proxy.restarting.expect("restarting") {
            RestartStep::Fence => {
                if self.omit != Omit::Fence {
                    next.etcd.revision += 1;
                    next.etcd.fences[p] = next.etcd.revision;
                }
                proxy.fence = next.etcd.fences[p];
                Some(RestartStep::Observe)
            }
            RestartStep::Observe => {
                fill(proxy, next.etcd.key_mod, next.etcd.value);
                Some(RestartStep::MarkClean)
            }
            RestartStep::MarkClean => {
                let observed = proxy.cache.expect("observed").0;
                let clean = clean_after_restart(TAG, Some(observed), next.etcd.revision);
                proxy.own = clean;
                next.slots[p] = clean;
                None
            }
        };
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
            };
            out += &format!("{:3}. {what}\n", i + 1);
        }
        let last = path.last_state();
        out += &format!("history: {:?}\netcd: {:?}\nslots: {:?}", last.history, last.etcd, last.slots);
        out
    }
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
    /// 1) and P0 caches the key.
    fn init_states(&self) -> Vec<State> {
        let proxy = |p: usize| Proxy {
            up: true,
            incarnation: 0,
            restarting: None,
            fence: 2 + p as i64,
            own: Record::Clean { tag: TAG, revision: 1 },
            cache: (p == 0).then_some((1, 0)),
            lock: None,
            crashed: false,
        };
        vec![State {
            etcd: Etcd { revision: 3, key_mod: 1, value: 0, fences: [2, 3] },
            pending: Vec::new(),
            slots: [Record::Clean { tag: TAG, revision: 1 }; PROXIES],
            proxies: [proxy(0), proxy(1)],
            clients: vec![Client { pc: 0, doing: Doing::Ready }; self.scripts.len()],
            history: History::new(Register(0)),
            linearizable: true,
            crashes: 0,
            hit: false,
            dirty_miss: false,
            fenced: false,
            restarted_and_hit: false,
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
                Doing::Writing { step: WriteStep::Lock, .. } if state.proxies[p].lock.is_none() => {
                    actions.push(Action::Write(c))
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
    CoherenceModel { scripts: scripts(), max_crashes, omit }
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
