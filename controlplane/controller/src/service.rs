//! The running controller (`docs/controller.md`, "The running controller"):
//! it probes every node and renews the members' leases on one task per
//! node, feeds what it sees to the [`Supervisor`], and carries out its
//! decisions: state persisted first, then reconfigurations over the
//! [`Controller`], one at a time.
//!
//! Probing and renewing run concurrently with a reconfiguration (a sweep
//! of 65,536 keys takes seconds), over a second handle on each node's
//! connection that shares the primary role ([`Target::share`]).

use crate::deploy::Controller;
use crate::lease_clock::NodeClockEstimate;
use crate::reconfigure::{plan_addition, plan_removal, plan_restart, renew_frame, ChainLayout, LayoutPlanner, Step};
use crate::supervisor::{Change, Decision, Event, Supervisor, SupervisorSettings, SupervisorState};
use crate::target::{NodeError, Target};
use async_trait::async_trait;
use netcraq_core::control::RegisterId;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// How the running controller probes, and how long leases last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceSettings {
    /// Time between two probes of a node (and two RENEWs of a member).
    pub probe_interval: Duration,
    /// A probe not answered within this is missed.
    pub probe_timeout: Duration,
    pub supervisor: SupervisorSettings,
    /// How long a RENEW lets a member serve reads (`lease_ticks`, §9.3).
    pub lease: Duration,
    /// Added to a removed node's lease before the chain goes on without it:
    /// the RENEW's delivery and the drift between the clocks.
    pub lease_margin: Duration,
    /// Pause before a reconfiguration that follows a failed one.
    pub retry_pause: Duration,
}

impl Default for ServiceSettings {
    fn default() -> ServiceSettings {
        ServiceSettings {
            probe_interval: Duration::from_millis(50),
            probe_timeout: Duration::from_millis(150),
            supervisor: SupervisorSettings::default(),
            lease: Duration::from_millis(500),
            lease_margin: Duration::from_millis(100),
            retry_pause: Duration::from_millis(200),
        }
    }
}

/// One lease-clock tick (§2.4): 1024 µs on software, DPDK and BMv2 nodes.
const LEASE_TICK: Duration = Duration::from_micros(1024);

impl ServiceSettings {
    /// `lease` in lease-clock ticks, for `node_config.lease_ticks`.
    pub fn lease_ticks(&self) -> u32 {
        u32::try_from(self.lease.as_micros() / LEASE_TICK.as_micros()).unwrap_or(u32::MAX).max(1)
    }

    /// Refuses settings under which the controller would remove live nodes
    /// or let leases lapse between two RENEWs.
    pub fn check(&self) -> Result<(), String> {
        if self.probe_interval.is_zero() || self.probe_timeout.is_zero() {
            return Err("the probe interval and timeout must be above 0".into());
        }
        if self.supervisor.miss_limit == 0 || self.supervisor.rejoin_after == 0 {
            return Err("the miss limit and the answers before a rejoin must be at least 1".into());
        }
        if self.lease < 3 * self.probe_interval {
            return Err(format!(
                "a lease of {:?} would lapse between RENEWs every {:?}: give at least three probe intervals",
                self.lease, self.probe_interval
            ));
        }
        Ok(())
    }
}

/// Where the running controller keeps its state: in memory (`netcraq up`,
/// the demo) or in etcd (`netcraq controller --etcd`).
#[async_trait]
pub trait StateSink: Send {
    /// Stores `state`; an error stops the controller (it may no longer lead).
    async fn save(&mut self, state: &SupervisorState) -> Result<(), String>;
}

/// State kept in this process only, lost with it.
#[derive(Debug, Default)]
pub struct InMemory {
    pub last: Option<SupervisorState>,
}

#[async_trait]
impl StateSink for InMemory {
    async fn save(&mut self, state: &SupervisorState) -> Result<(), String> {
        self.last = Some(state.clone());
        Ok(())
    }
}

/// What the running controller did and when, for logs, the demo's
/// timeline and the failover benchmark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub at: Instant,
    pub what: NoteKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteKind {
    /// One probe of a node, answered or missed (for metrics; not printed).
    Probed {
        node: String,
        answered: bool,
    },
    /// A node missed its probes: the supervisor holds it down.
    NodeDown(String),
    /// A node that was down answers again.
    NodeUp(String),
    ReconfigureStarted {
        chain: String,
        change: Change,
        epoch: u32,
    },
    Reconfigured {
        chain: String,
        change: Change,
        members: Vec<String>,
        epoch: u32,
    },
    ReconfigureFailed {
        chain: String,
        change: Change,
        error: String,
    },
    /// A node that left its chain had its `node_config` cleared.
    Retired(String),
    /// It could not be: it keeps its last configuration, whose lease has
    /// ended, so it answers no read (§9.3).
    RetireFailed {
        node: String,
        error: String,
    },
    /// A node could not be reached or claimed at the start.
    Unreachable {
        node: String,
        error: String,
    },
}

impl std::fmt::Display for NoteKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoteKind::Probed { node, answered } => {
                write!(f, "{node} {}", if *answered { "answered its probe" } else { "missed its probe" })
            }
            NoteKind::NodeDown(node) => write!(f, "{node} is down (missed its probes)"),
            NoteKind::NodeUp(node) => write!(f, "{node} answers again"),
            NoteKind::ReconfigureStarted { chain, change, epoch } => {
                write!(f, "chain {chain}: {} (epoch {epoch})", change_text(change))
            }
            NoteKind::Reconfigured { chain, change, members, epoch } => {
                write!(f, "chain {chain}: {} done: {} (epoch {epoch})", change_text(change), members.join(" -> "))
            }
            NoteKind::ReconfigureFailed { chain, change, error } => {
                write!(f, "chain {chain}: {} failed: {error}", change_text(change))
            }
            NoteKind::Retired(node) => write!(f, "{node} retired (node_config cleared)"),
            NoteKind::RetireFailed { node, error } => write!(f, "{node} could not be retired: {error}"),
            NoteKind::Unreachable { node, error } => write!(f, "{node} unreachable at start: {error}"),
        }
    }
}

fn change_text(change: &Change) -> String {
    match change {
        Change::Restart => "restart".into(),
        Change::Remove { node } => format!("remove {node}"),
        Change::Add { node } => format!("add {node}"),
    }
}

/// A multi-threaded runtime for the service: probes keep their pace while
/// a sweep sends frames.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
}

/// Runs the controller over `controller`'s nodes (members and spares,
/// unconnected) until `shutdown` resolves or `sink` refuses a write.
/// `state` is the store's, or [`initial_state`]'s at a first start.
pub async fn run(
    mut controller: Controller,
    planner: impl LayoutPlanner + Send + Sync + 'static,
    state: SupervisorState,
    sink: &mut dyn StateSink,
    settings: ServiceSettings,
    notes: mpsc::UnboundedSender<Note>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    settings.check()?;
    let note = |what: NoteKind| {
        let _ = notes.send(Note { at: Instant::now(), what });
    };
    let mut supervisor = Supervisor::new(state, settings.supervisor);
    let (events_tx, mut events) = mpsc::channel::<Event>(1024);
    let (renew_tx, renew_set) = watch::channel(renewed_members(supervisor.state(), &[]));
    let lease_ends: LeaseEnds = Arc::default();
    for node in supervisor.nodes() {
        let Some(target) = claim(&mut controller, &node)
            .await
            .map_err(|e| note(NoteKind::Unreachable { node: node.clone(), error: e.to_string() }))
            .ok()
        else {
            // Never answers: the supervisor holds it down after its misses.
            spawn_silent(node, events_tx.clone(), settings);
            continue;
        };
        let prober = Prober { node, target, renew_set: renew_set.clone(), lease_ends: lease_ends.clone(), settings };
        tokio::spawn(prober.run(events_tx.clone()));
    }
    let planner = Arc::new(planner);
    let mut pending: VecDeque<Decision> = supervisor.start().into();
    let mut in_flight: Vec<ChainLayout> = Vec::new();
    let (done_tx, mut done) = mpsc::channel::<(Controller, String, Change, Result<ChainLayout, String>)>(16);
    let mut idle = Some(controller);
    let mut pause_until = Instant::now();
    tokio::pin!(shutdown);
    loop {
        while let Some(decision) = pending.front() {
            let needs_controller = !matches!(decision, Decision::Persist(_));
            if needs_controller && (idle.is_none() || Instant::now() < pause_until) {
                break;
            }
            match pending.pop_front().expect("looked at") {
                Decision::Persist(state) => sink.save(&state).await.map_err(|e| format!("saving the state: {e}"))?,
                Decision::Retire { node } => {
                    let controller = idle.as_mut().expect("checked");
                    match retire(controller, &node).await {
                        Ok(()) => note(NoteKind::Retired(node)),
                        Err(error) => note(NoteKind::RetireFailed { node, error: error.to_string() }),
                    }
                }
                Decision::Reconfigure { chain, change, from, next_epoch } => {
                    let wait = |node: &str| lease_wait(&lease_ends, node, &settings);
                    let planned = plan(&change, &from, next_epoch, wait, planner.as_ref());
                    let (next, steps) = match planned {
                        Ok(planned) => planned,
                        Err(error) => {
                            let finished = Event::Finished { chain: chain.clone(), outcome: Err(error.clone()) };
                            // The retry plans the same change: not in a tight loop.
                            pause_until = Instant::now() + settings.retry_pause;
                            note(NoteKind::ReconfigureFailed { chain, change, error });
                            pending.extend(supervisor.handle(finished));
                            continue;
                        }
                    };
                    note(NoteKind::ReconfigureStarted {
                        chain: chain.clone(),
                        change: change.clone(),
                        epoch: next_epoch,
                    });
                    in_flight.push(next.clone());
                    let _ = renew_tx.send(renewed_members(supervisor.state(), &in_flight));
                    let mut controller = idle.take().expect("checked");
                    let done_tx = done_tx.clone();
                    tokio::spawn(async move {
                        let result = controller.reconfigure(&steps).await.map(|_| next).map_err(|e| e.to_string());
                        let _ = done_tx.send((controller, chain, change, result)).await;
                    });
                }
            }
        }
        let retry_in = pause_until.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            Some(event) = events.recv() => {
                let Event::Probed { node, answered } = &event else { unreachable!("probers send probes") };
                note(NoteKind::Probed { node: node.clone(), answered: *answered });
                let was_down = supervisor.is_down(node);
                let node = node.clone();
                pending.extend(supervisor.handle(event));
                match (was_down, supervisor.is_down(&node)) {
                    (false, true) => note(NoteKind::NodeDown(node)),
                    (true, false) => note(NoteKind::NodeUp(node)),
                    _ => {}
                }
            }
            Some((controller, chain, change, result)) = done.recv() => {
                idle = Some(controller);
                in_flight.retain(|layout| !matches!(&result, Ok(next) if next == layout));
                match &result {
                    Ok(next) => note(NoteKind::Reconfigured {
                        chain: chain.clone(), change: change.clone(), members: next.members.clone(), epoch: next.epoch,
                    }),
                    Err(error) => {
                        in_flight.clear();
                        pause_until = Instant::now() + settings.retry_pause;
                        note(NoteKind::ReconfigureFailed { chain: chain.clone(), change: change.clone(), error: error.clone() });
                    }
                }
                pending.extend(supervisor.handle(Event::Finished { chain, outcome: result }));
                let _ = renew_tx.send(renewed_members(supervisor.state(), &in_flight));
            }
            _ = tokio::time::sleep(retry_in), if !pending.is_empty() => {}
        }
    }
}

/// The state of a first start: every chain of the topology as its file
/// gives it, with this controller's leases.
pub fn initial_state(topology: &netcraq_topology::Topology, settings: &ServiceSettings) -> SupervisorState {
    let chains = topology
        .chains()
        .iter()
        .map(|chain| {
            let layout = ChainLayout {
                members: chain.nodes.clone(),
                mode: chain.mode,
                key_lo: chain.key_lo,
                key_hi: chain.key_hi,
                epoch: netcraq_plan::plan::FIRST_EPOCH,
                lease_ticks: settings.lease_ticks(),
            };
            crate::supervisor::ChainRecord {
                name: chain.name.clone(),
                length: chain.nodes.len(),
                spares: chain.spares.clone(),
                epoch_used: layout.epoch,
                layout,
            }
        })
        .collect();
    SupervisorState { chains }
}

/// The steps of `change`: a removal first waits out the removed node's lease.
fn plan(
    change: &Change,
    from: &ChainLayout,
    next_epoch: u32,
    lease_wait: impl Fn(&str) -> Duration,
    planner: &impl LayoutPlanner,
) -> Result<(ChainLayout, Vec<Step>), String> {
    match change {
        Change::Restart => plan_restart(from, next_epoch, planner),
        Change::Remove { node } => plan_removal(from, node, next_epoch, lease_wait(node), planner),
        Change::Add { node } => plan_addition(from, node, next_epoch, planner),
    }
}

/// When the last lease granted to each node has surely ended (§9.3).
type LeaseEnds = Arc<Mutex<HashMap<String, Instant>>>;

/// How much longer the lease of `node` may last: until the end its last
/// RENEW carried has surely passed on its clock, plus the margin (§9.3).
fn lease_wait(lease_ends: &LeaseEnds, node: &str, settings: &ServiceSettings) -> Duration {
    let end = lease_ends.lock().map(|ends| ends.get(node).copied()).unwrap_or(None);
    end.map_or(Duration::ZERO, |end| (end + settings.lease_margin).saturating_duration_since(Instant::now()))
}

/// The members of every chain and of every layout under way: the nodes
/// whose leases are renewed.
fn renewed_members(state: &SupervisorState, in_flight: &[ChainLayout]) -> BTreeSet<String> {
    let layouts = state.chains.iter().map(|c| &c.layout).chain(in_flight);
    layouts.flat_map(|layout| layout.members.iter().cloned()).collect()
}

/// Connects to `node`, claims the primary role and prepares its pipeline;
/// returns a second handle for probing.
async fn claim(controller: &mut Controller, node: &str) -> Result<Box<dyn Target>, NodeError> {
    let election_id = controller.election_id();
    let target = controller.target(node).ok_or_else(|| NodeError::new(node, "", "is not in the deployment"))?;
    target.connect().await?;
    target.become_primary(election_id).await?;
    target.prepare_pipeline().await?;
    target.share().ok_or_else(|| NodeError::new(node, target.address(), "its connection cannot be shared"))
}

/// Clears `node`'s `node_config` over a new connection: the node was down,
/// and its server may have dropped the stream that held the primary role.
async fn retire(controller: &mut Controller, node: &str) -> Result<(), NodeError> {
    let election_id = controller.election_id();
    let target = controller.target(node).ok_or_else(|| NodeError::new(node, "", "is not in the deployment"))?;
    target.connect().await?;
    target.become_primary(election_id).await?;
    target.clear_config().await
}

/// A node that could not be reached at the start: it misses every probe.
fn spawn_silent(node: String, events: mpsc::Sender<Event>, settings: ServiceSettings) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(settings.probe_interval);
        loop {
            ticks.tick().await;
            if events.send(Event::Probed { node: node.clone(), answered: false }).await.is_err() {
                return;
            }
        }
    });
}

/// Probes one node every interval and renews its lease while it is a
/// member whose last probe was answered.
struct Prober {
    node: String,
    target: Box<dyn Target>,
    renew_set: watch::Receiver<BTreeSet<String>>,
    lease_ends: LeaseEnds,
    settings: ServiceSettings,
}

/// What one probe saw: the node's `lease_clock`, and whether a RENEW was
/// sent before it was read.
struct Probed {
    clock_ticks: u32,
    sent: Option<Instant>,
    read: Instant,
}

impl Prober {
    async fn run(mut self, events: mpsc::Sender<Event>) {
        let mut ticks = tokio::time::interval(self.settings.probe_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut estimate: Option<NodeClockEstimate> = None;
        // `lease_clock` as last read, and whether a RENEW was sent since.
        let mut last_clock: Option<u32> = None;
        let mut renew_sent = false;
        let mut answered = true;
        loop {
            ticks.tick().await;
            let renew = answered && self.renew_set.borrow().contains(&self.node);
            let probe = tokio::time::timeout(self.settings.probe_timeout, self.probe(renew, estimate));
            answered = match probe.await {
                Ok(Ok(probed)) => {
                    // A RENEW sent in an earlier round must have set `lease_clock` by now.
                    let alive = !renew_sent || last_clock.is_none_or(|before| probed.clock_ticks != before);
                    if let (true, Some(sent)) = (alive, probed.sent) {
                        estimate = Some(NodeClockEstimate::from_read(probed.clock_ticks, sent, probed.read));
                    }
                    last_clock = Some(probed.clock_ticks);
                    renew_sent = probed.sent.is_some();
                    alive
                }
                _ => {
                    renew_sent = false;
                    false
                }
            };
            if events.send(Event::Probed { node: self.node.clone(), answered }).await.is_err() {
                return;
            }
        }
    }

    /// Renews the lease if asked (and the node is configured with leases):
    /// up to the end `estimate` allows, or a clock read when there is none
    /// yet; then reads `lease_clock`.
    async fn probe(&mut self, renew: bool, estimate: Option<NodeClockEstimate>) -> Result<Probed, NodeError> {
        let mut sent = None;
        if renew {
            if let Some(config) = self.target.read_config().await?.filter(|c| c.lease_ticks != 0) {
                let at = Instant::now();
                let lease_end = estimate.map_or(0, |e| e.renew_lease_end(at, config.lease_ticks));
                self.target.packet_out(&renew_frame(&config, lease_end)).await?;
                if let (Some(estimate), Ok(mut ends)) = (estimate.filter(|_| lease_end != 0), self.lease_ends.lock()) {
                    ends.insert(self.node.clone(), estimate.surely_ended_at(lease_end));
                }
                sent = Some(at);
            }
        }
        let clock = self.target.read_register(RegisterId::LeaseClock, Some(0)).await?;
        let read = Instant::now();
        let clock_ticks = clock.first().map_or(0, |(_, value)| *value as u32);
        Ok(Probed { clock_ticks, sent, read })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_leases_counted_in_ticks() {
        let settings = ServiceSettings::default();
        settings.check().unwrap();
        assert_eq!(settings.lease_ticks(), 488, "500 ms of 1024 µs ticks");
        let short = ServiceSettings { lease: Duration::from_millis(100), ..settings };
        assert!(short.check().unwrap_err().contains("three probe intervals"));
        let blind = ServiceSettings { supervisor: SupervisorSettings { miss_limit: 0, rejoin_after: 1 }, ..settings };
        assert!(blind.check().is_err());
    }

    #[test]
    fn a_removed_node_is_waited_for_until_its_last_lease_surely_ended() {
        let settings = ServiceSettings::default();
        let ends: LeaseEnds = Arc::default();
        assert_eq!(lease_wait(&ends, "n2", &settings), Duration::ZERO, "never renewed: no lease to wait for");
        ends.lock().unwrap().insert("n2".into(), Instant::now() + settings.lease);
        let wait = lease_wait(&ends, "n2", &settings);
        assert!(wait > Duration::from_millis(500) && wait <= Duration::from_millis(600), "{wait:?}");
    }
}
