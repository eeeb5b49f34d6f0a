//! The running controller (`docs/controller.md`, "The running controller"):
//! it probes every node and renews the members' leases on one task per
//! node, feeds what it sees to the [`Supervisor`], and carries out its
//! decisions: state persisted first, then reconfigurations over the
//! [`Controller`], one at a time.
//!
//! Probing and renewing run concurrently with a reconfiguration (a sweep
//! of 65,536 keys takes seconds), over a second handle on each node's
//! connection that shares the primary role ([`Target::share`]).

use crate::deploy::{Controller, Deployment};
use crate::election::{Leadership, LossReason};
use crate::groups::{group_records, GroupLayoutError, GroupPlanner};
use crate::lease_clock::NodeClockEstimate;
use crate::reconfigure::{plan_addition, plan_removal, plan_restart, renew_frame, ChainLayout, LayoutPlanner, Step};
use crate::state_store::{StateStore, StoreError};
use crate::supervisor::{Change, Decision, Event, Supervisor, SupervisorSettings, SupervisorState};
use crate::target::{NodeError, Target};
use async_trait::async_trait;
use netcraq_core::control::RegisterId;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

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

/// State in a [`StateStore`] (etcd), written only while `leadership` leads:
/// each save is a transaction that checks the leader key is still the one
/// it won with ([`StateStore::save`]).
pub struct Stored<'a> {
    pub store: &'a StateStore,
    pub leadership: &'a Leadership,
}

#[async_trait]
impl StateSink for Stored<'_> {
    async fn save(&mut self, state: &SupervisorState) -> Result<(), String> {
        let bytes = serde_json::to_vec(state).map_err(|e| format!("encoding the state: {e}"))?;
        self.store.save(self.leadership, &bytes).await.map_err(|e| e.to_string())
    }
}

/// The state last saved for `deployment`, if any.
pub async fn load_state(store: &StateStore, deployment: &str) -> Result<Option<SupervisorState>, String> {
    let Some(bytes) = store.load(deployment).await.map_err(|e| e.to_string())? else { return Ok(None) };
    let state = serde_json::from_slice(&bytes)
        .map_err(|e| format!("the stored state of deployment {deployment} is not a controller's state: {e}"))?;
    Ok(Some(state))
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
    /// [`run_elected`]: this controller campaigns for the deployment.
    Campaigning {
        deployment: String,
        candidate: String,
    },
    /// It leads: it claims every node with `election_id`.
    Leading {
        deployment: String,
        election_id: u64,
        /// Whether it goes on from a predecessor's stored state.
        stored_state: bool,
    },
    /// It stopped leading, and writing, and campaigns again.
    StoppedLeading {
        why: String,
    },
}

impl NoteKind {
    /// One per node per probe interval: for metrics, not for people or
    /// for a timeline kept in memory.
    pub fn is_probe(&self) -> bool {
        matches!(self, NoteKind::Probed { .. })
    }
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
            NoteKind::Campaigning { deployment, candidate } => {
                write!(f, "campaigning in etcd for deployment {deployment} as {candidate}")
            }
            NoteKind::Leading { deployment, election_id, stored_state } => {
                let from = if *stored_state { "the stored state" } else { "the deployment file (no stored state)" };
                write!(f, "leading deployment {deployment} with election id {election_id}, from {from}")
            }
            NoteKind::StoppedLeading { why } => write!(f, "stopped leading, nodes no longer written: {why}"),
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
/// `state` is the store's, or [`initial_state`]'s at a first start. Every
/// task it started (probes, a reconfiguration under way) ends with it, and
/// with them its P4Runtime connections: it writes nothing after it returns.
pub async fn run(
    controller: Controller,
    planner: impl LayoutPlanner + Send + Sync + 'static,
    state: SupervisorState,
    sink: &mut dyn StateSink,
    settings: ServiceSettings,
    notes: mpsc::UnboundedSender<Note>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    settings.check()?;
    let mut service = Service::start(controller, planner, state, settings, notes).await;
    tokio::pin!(shutdown);
    loop {
        service.carry_out(sink).await?;
        let retry_in = service.retry_in();
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            Some(event) = service.events.recv() => service.probed(event),
            Some(finished) = service.reconfiguring.join_next() => {
                service.finished(finished.map_err(|e| format!("a reconfiguration task ended: {e}"))?);
            }
            _ = tokio::time::sleep(retry_in), if !service.pending.is_empty() => {}
        }
    }
}

/// A reconfiguration that ended, with the controller it used.
struct Finished {
    controller: Controller,
    chain: String,
    change: Change,
    result: Result<ChainLayout, String>,
}

/// The running controller's state between two events. Dropping it ends
/// its tasks.
struct Service<P> {
    supervisor: Supervisor,
    planner: P,
    settings: ServiceSettings,
    notes: mpsc::UnboundedSender<Note>,
    events: mpsc::Receiver<Event>,
    /// The nodes whose leases the probers renew.
    renew_set: watch::Sender<BTreeSet<String>>,
    lease_ends: LeaseEnds,
    pending: VecDeque<Decision>,
    /// Layouts being reached: their members are renewed too.
    in_flight: Vec<ChainLayout>,
    /// The controller, when no reconfiguration holds it.
    idle: Option<Controller>,
    reconfiguring: JoinSet<Finished>,
    probers: JoinSet<()>,
    /// No reconfiguration starts before this (after a failed one).
    pause_until: Instant,
}

impl<P: LayoutPlanner + Send + Sync + 'static> Service<P> {
    /// Claims every node, starts its prober and takes the supervisor's first decisions.
    async fn start(
        mut controller: Controller,
        planner: P,
        state: SupervisorState,
        settings: ServiceSettings,
        notes: mpsc::UnboundedSender<Note>,
    ) -> Service<P> {
        let supervisor = Supervisor::new(state, settings.supervisor);
        let (events_tx, events) = mpsc::channel::<Event>(1024);
        let (renew_set, _) = watch::channel(renewed_members(&supervisor, &[]));
        let mut service = Service {
            supervisor,
            planner,
            settings,
            notes,
            events,
            renew_set,
            lease_ends: Arc::default(),
            pending: VecDeque::new(),
            in_flight: Vec::new(),
            idle: None,
            reconfiguring: JoinSet::new(),
            probers: JoinSet::new(),
            pause_until: Instant::now(),
        };
        let mut configured = BTreeMap::new();
        for node in service.supervisor.nodes() {
            if let Some(epoch) = service.start_prober(&mut controller, node.clone(), &events_tx).await {
                configured.insert(node, epoch);
            }
        }
        service.supervisor.reconcile(&configured);
        service.idle = Some(controller);
        service.pending = service.supervisor.start().into();
        service
    }

    fn note(&self, what: NoteKind) {
        let _ = self.notes.send(Note { at: Instant::now(), what });
    }

    /// Claims `node` and probes it from now on; one that cannot be claimed
    /// misses every probe, so the supervisor holds it down. Returns the
    /// epoch the node is configured with, if it is.
    ///
    /// A predecessor (a controller that crashed or lost its leadership) may
    /// have renewed the node's lease up to `lease` before it stopped: the
    /// node's lease is taken to last that long from now, so that no chain
    /// goes on without the node before it has surely stopped serving (§9.3).
    async fn start_prober(
        &mut self,
        controller: &mut Controller,
        node: String,
        events: &mpsc::Sender<Event>,
    ) -> Option<u32> {
        if let Ok(mut ends) = self.lease_ends.lock() {
            ends.insert(node.clone(), Instant::now() + self.settings.lease);
        }
        match claim(controller, &node).await {
            Ok(mut target) => {
                let epoch = target.read_config().await.ok().flatten().map(|config| config.epoch);
                let prober = Prober {
                    node,
                    target,
                    renew_set: self.renew_set.subscribe(),
                    lease_ends: self.lease_ends.clone(),
                    settings: self.settings,
                };
                self.probers.spawn(prober.run(events.clone()));
                epoch
            }
            Err(error) => {
                self.note(NoteKind::Unreachable { node: node.clone(), error: error.to_string() });
                self.probers.spawn(silent(node, events.clone(), self.settings));
                None
            }
        }
    }

    /// Carries out the pending decisions in order, up to the first that
    /// needs the controller while it is busy or pausing.
    async fn carry_out(&mut self, sink: &mut dyn StateSink) -> Result<(), String> {
        while let Some(decision) = self.pending.front() {
            let needs_controller = !matches!(decision, Decision::Persist(_));
            if needs_controller && (self.idle.is_none() || Instant::now() < self.pause_until) {
                break;
            }
            match self.pending.pop_front().expect("looked at") {
                Decision::Persist(state) => sink.save(&state).await.map_err(|e| format!("saving the state: {e}"))?,
                Decision::Retire { node } => self.retire(node).await,
                Decision::Reconfigure { chain, change, from, next_epoch } => {
                    self.reconfigure(chain, change, &from, next_epoch);
                }
            }
        }
        Ok(())
    }

    async fn retire(&mut self, node: String) {
        let controller = self.idle.as_mut().expect("checked");
        match retire(controller, &node).await {
            Ok(()) => self.note(NoteKind::Retired(node)),
            Err(error) => self.note(NoteKind::RetireFailed { node, error: error.to_string() }),
        }
    }

    /// Plans `change` and starts it on a task of its own; a change that
    /// cannot be planned fails at once, and is retried after the pause.
    fn reconfigure(&mut self, chain: String, change: Change, from: &ChainLayout, next_epoch: u32) {
        let wait = |node: &str| lease_wait(&self.lease_ends, node, &self.settings);
        let layouts: Vec<ChainLayout> = self.supervisor.state().chains.iter().map(|c| c.layout.clone()).collect();
        let planner = GroupPlanner { inner: &self.planner, layouts: &layouts };
        let (next, steps) = match plan(&change, from, next_epoch, wait, &planner) {
            Ok(planned) => planned,
            Err(error) => {
                let finished = Event::Finished { chain: chain.clone(), outcome: Err(error.clone()) };
                // The retry plans the same change: not in a tight loop.
                self.pause_until = Instant::now() + self.settings.retry_pause;
                self.note(NoteKind::ReconfigureFailed { chain, change, error });
                let decisions = self.supervisor.handle(finished);
                self.pending.extend(decisions);
                return;
            }
        };
        self.note(NoteKind::ReconfigureStarted { chain: chain.clone(), change: change.clone(), epoch: next_epoch });
        self.in_flight.push(next.clone());
        self.update_renew_set();
        let mut controller = self.idle.take().expect("checked");
        self.reconfiguring.spawn(async move {
            let result = controller.reconfigure(&steps).await.map(|_| next).map_err(|e| e.to_string());
            Finished { controller, chain, change, result }
        });
    }

    fn probed(&mut self, event: Event) {
        let Event::Probed { node, answered } = &event else { unreachable!("probers send probes") };
        self.note(NoteKind::Probed { node: node.clone(), answered: *answered });
        let was_down = self.supervisor.is_down(node);
        let node = node.clone();
        let decisions = self.supervisor.handle(event);
        self.pending.extend(decisions);
        self.update_renew_set();
        match (was_down, self.supervisor.is_down(&node)) {
            (false, true) => self.note(NoteKind::NodeDown(node)),
            (true, false) => self.note(NoteKind::NodeUp(node)),
            _ => {}
        }
    }

    fn finished(&mut self, Finished { controller, chain, change, result }: Finished) {
        self.idle = Some(controller);
        self.in_flight.retain(|layout| !matches!(&result, Ok(next) if next == layout));
        match &result {
            Ok(next) => self.note(NoteKind::Reconfigured {
                chain: chain.clone(),
                change: change.clone(),
                members: next.members.clone(),
                epoch: next.epoch,
            }),
            Err(error) => {
                self.in_flight.clear();
                self.pause_until = Instant::now() + self.settings.retry_pause;
                self.note(NoteKind::ReconfigureFailed { chain: chain.clone(), change, error: error.clone() });
            }
        }
        let reached = result.is_ok();
        let decisions = self.supervisor.handle(Event::Finished { chain, outcome: result });
        if reached && !decisions.iter().any(|d| matches!(d, Decision::Persist(_))) {
            // The layout reached is stored too: a successor goes on from it.
            self.pending.push_back(Decision::Persist(self.supervisor.state().clone()));
        }
        self.pending.extend(decisions);
        self.update_renew_set();
    }

    fn update_renew_set(&self) {
        let renewed = renewed_members(&self.supervisor, &self.in_flight);
        self.renew_set.send_if_modified(|set| match *set == renewed {
            true => false,
            false => {
                *set = renewed;
                true
            }
        });
    }

    /// How long until a paused reconfiguration may start.
    fn retry_in(&self) -> Duration {
        self.pause_until.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))
    }
}

/// A controller of a deployment that several may run, elected in etcd.
pub struct Candidacy<'a> {
    pub store: &'a StateStore,
    /// The deployment's name in etcd (its keys' segment).
    pub deployment: &'a str,
    /// This controller's name, the value of its leader key.
    pub candidate: &'a str,
}

/// How long a controller that stopped leading, or could not campaign,
/// waits before it campaigns again.
const CAMPAIGN_PAUSE: Duration = Duration::from_secs(1);

/// Why [`lead`] returned.
enum Stopped {
    Shutdown,
    Lost(LossReason),
}

/// Runs the controller of `deployment` whenever it leads in etcd, until
/// `shutdown` resolves: it campaigns, and once it leads it claims every
/// node with its leader key's create revision as election id, goes on from
/// the stored state (or `first_state` if there is none), and persists
/// every change through a [`Stored`] sink. When it stops leading
/// ([`Leadership::lost`], a refused save, an etcd failure) the service
/// stops with every task and P4Runtime connection, it resigns, and
/// campaigns again as a standby.
pub async fn run_elected<P: LayoutPlanner + Send + Sync + 'static>(
    candidacy: Candidacy<'_>,
    deployment: &Deployment,
    planner: impl Fn() -> P,
    first_state: &SupervisorState,
    settings: ServiceSettings,
    notes: mpsc::UnboundedSender<Note>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    settings.check()?;
    let note = |what: NoteKind| {
        let _ = notes.send(Note { at: Instant::now(), what });
    };
    let Candidacy { store, deployment: name, candidate } = candidacy;
    tokio::pin!(shutdown);
    loop {
        note(NoteKind::Campaigning { deployment: name.to_string(), candidate: candidate.to_string() });
        let won = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            won = store.lead(name, candidate) => won,
        };
        let leadership = match won {
            Ok(leadership) => leadership,
            Err(error @ (StoreError::LeaseLost { .. } | StoreError::Etcd { .. })) => {
                note(NoteKind::StoppedLeading { why: format!("campaigning: {error}") });
                tokio::time::sleep(CAMPAIGN_PAUSE).await;
                continue;
            }
            Err(error) => return Err(error.to_string()),
        };
        let sink = Stored { store, leadership: &leadership };
        let stopped = lead(sink, deployment, planner(), first_state, settings, &notes, shutdown.as_mut());
        let why = match stopped.await {
            Ok(Stopped::Shutdown) => {
                let _ = leadership.resign().await;
                return Ok(());
            }
            Ok(Stopped::Lost(reason)) => format!("its leadership ended ({reason:?})"),
            Err(error) => error,
        };
        // Its lease may still live at etcd: a standby need not wait for it.
        let _ = leadership.resign().await;
        note(NoteKind::StoppedLeading { why });
        tokio::time::sleep(CAMPAIGN_PAUSE).await;
    }
}

/// Runs the service while `leadership` leads; returns when it stopped leading or `shutdown` resolved.
async fn lead<P: LayoutPlanner + Send + Sync + 'static>(
    mut sink: Stored<'_>,
    deployment: &Deployment,
    planner: P,
    first_state: &SupervisorState,
    settings: ServiceSettings,
    notes: &mpsc::UnboundedSender<Note>,
    shutdown: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Result<Stopped, String> {
    let leadership = sink.leadership;
    let name = leadership.deployment();
    let stored = load_state(sink.store, name).await?;
    let _ = notes.send(Note {
        at: Instant::now(),
        what: NoteKind::Leading {
            deployment: name.to_string(),
            election_id: leadership.election_id(),
            stored_state: stored.is_some(),
        },
    });
    let mut deployment = deployment.clone();
    deployment.election_id = u128::from(leadership.election_id());
    let controller = Controller::new(&deployment).map_err(|e| e.to_string())?;
    let mut stopped = Stopped::Shutdown;
    let until_stopped = async {
        tokio::select! {
            reason = leadership.lost() => stopped = Stopped::Lost(reason),
            _ = shutdown => {}
        }
    };
    let state = stored.unwrap_or_else(|| first_state.clone());
    run(controller, planner, state, &mut sink, settings, notes.clone(), until_stopped).await?;
    Ok(stopped)
}

/// The state of a first start: every chain of the topology as its file
/// gives it, or its groups (`groups::group_records`), with this
/// controller's leases.
pub fn initial_state(
    topology: &netcraq_topology::Topology,
    settings: &ServiceSettings,
) -> Result<SupervisorState, GroupLayoutError> {
    let (epoch, lease_ticks) = (netcraq_plan::plan::FIRST_EPOCH, settings.lease_ticks());
    let mut chains = Vec::new();
    for chain in topology.chains() {
        if chain.groups > 1 {
            chains.extend(group_records(chain, epoch, lease_ticks)?);
            continue;
        }
        let layout = ChainLayout {
            members: chain.nodes.clone(),
            mode: chain.mode,
            key_lo: chain.key_lo,
            key_hi: chain.key_hi,
            epoch,
            lease_ticks,
            grouped: false,
        };
        chains.push(crate::supervisor::ChainRecord {
            name: chain.name.clone(),
            length: chain.nodes.len(),
            spares: chain.spares.clone(),
            epoch_used: layout.epoch,
            layout,
            joining: None,
        });
    }
    Ok(SupervisorState { chains })
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

/// The nodes whose leases are renewed: the members of every chain and of
/// every layout under way, but for those whose leases must lapse.
fn renewed_members(supervisor: &Supervisor, in_flight: &[ChainLayout]) -> BTreeSet<String> {
    let layouts = supervisor.state().chains.iter().map(|c| &c.layout).chain(in_flight);
    let mut members: BTreeSet<String> = layouts.flat_map(|layout| layout.members.iter().cloned()).collect();
    members.retain(|node| !supervisor.lease_withheld(node));
    members
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

/// Clears `node`'s `node_config`: over the connection the controller holds
/// when it still works (a node removed alive, such as a failed joiner,
/// would refuse a second claim with the same election id as in use), else
/// over a new one (a node that was down may have dropped the stream that
/// held the primary role).
async fn retire(controller: &mut Controller, node: &str) -> Result<(), NodeError> {
    let election_id = controller.election_id();
    let target = controller.target(node).ok_or_else(|| NodeError::new(node, "", "is not in the deployment"))?;
    if target.clear_config().await.is_ok() {
        return Ok(());
    }
    target.connect().await?;
    target.become_primary(election_id).await?;
    target.clear_config().await
}

/// A node that could not be reached at the start: it misses every probe.
async fn silent(node: String, events: mpsc::Sender<Event>, settings: ServiceSettings) {
    let mut ticks = tokio::time::interval(settings.probe_interval);
    loop {
        ticks.tick().await;
        if events.send(Event::Probed { node: node.clone(), answered: false }).await.is_err() {
            return;
        }
    }
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

    #[tokio::test]
    async fn a_stored_state_is_saved_only_by_its_leader_and_loads_back() {
        let store = StateStore::in_memory();
        assert_eq!(load_state(&store, "kv").await.unwrap(), None, "nothing stored: start from the file");
        let leadership = store.lead("kv", "a").await.unwrap();
        let mut state = SupervisorState::default();
        state.chains.push(crate::supervisor::ChainRecord {
            name: "kv".into(),
            layout: ChainLayout {
                members: vec!["n1".into(), "n3".into()],
                mode: netcraq_core::Mode::Craq,
                key_lo: 0,
                key_hi: 16,
                epoch: 4,
                lease_ticks: 488,
                grouped: false,
            },
            length: 3,
            spares: vec!["n2".into()],
            epoch_used: 5,
            joining: None,
        });
        Stored { store: &store, leadership: &leadership }.save(&state).await.unwrap();
        assert_eq!(load_state(&store, "kv").await.unwrap(), Some(state));
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
