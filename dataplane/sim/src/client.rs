//! The simulated client: closed-loop workers that each keep one request
//! outstanding, retransmit on timeout, and record every operation.

use super::chain::{ClientPlacement, TargetNode};
use super::network::{HostAgent, Outbox};
use super::workload::{CompiledWorkload, OpGenerator, Operation, PlannedOp, WorkloadSpec};
use netcraq_client::{ClientMachine, Expiry, Finished, Latencies, Received, RetryPolicy, Transmission};
use netcraq_wire::Endpoint;
use netcraq_wire::{NetcraqFrame, NETCRAQ_UDP_PORT};
use std::collections::VecDeque;
use std::sync::Arc;

pub use netcraq_client::OpResult;

/// Largest latency the histograms hold exactly; longer ones are recorded as this.
const LATENCY_NS_MAX: u64 = 60_000_000_000;

/// How a client behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimClientConfig {
    /// Requests outstanding at once, one per worker.
    pub workers: u16,
    /// Worker `w` sends from UDP port `first_udp_port + w`.
    pub first_udp_port: u16,
    /// Time without a reply after which a request is sent again.
    pub timeout_ns: u64,
    /// Sends after the first; then the operation ends [`OpResult::TimedOut`].
    pub max_retransmissions: u8,
    /// Operations returning earlier are left out of [`SimClientStats`] (warm-up),
    /// though not out of the history.
    pub measure_from_ns: u64,
    /// History entries kept; later operations are only counted.
    pub history_capacity: usize,
}

impl Default for SimClientConfig {
    /// 16 workers, a 1 ms timeout (well above the simulated round trips),
    /// 4 retransmissions, a history of up to a million operations.
    fn default() -> Self {
        SimClientConfig {
            workers: 16,
            first_udp_port: 40_000,
            timeout_ns: 1_000_000,
            max_retransmissions: 4,
            measure_from_ns: 0,
            history_capacity: 1 << 20,
        }
    }
}

impl SimClientConfig {
    /// Why this configuration cannot be used, if it cannot.
    pub fn problem(&self) -> Option<&'static str> {
        if self.workers == 0 {
            Some("a client needs at least one worker")
        } else if self.first_udp_port.checked_add(self.workers - 1).is_none() {
            Some("the workers' UDP ports run past 65535")
        } else if self.timeout_ns == 0 {
            Some("the retransmission timeout must be above 0")
        } else {
            None
        }
    }
}

/// Where a client's operations come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SimWorkload {
    /// Random operations, issued until `issue_until_ns`; workers then finish
    /// what they have outstanding and stop.
    Random { spec: WorkloadSpec, issue_until_ns: u64 },
    /// These operations, in order, taken by whichever worker is free.
    Script(VecDeque<PlannedOp>),
}

/// One operation as a linearizability checker needs it. Each worker is one
/// sequential process: `(client, worker)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryEntry {
    pub client: u16,
    pub worker: u16,
    pub op: Operation,
    /// The chain node the request was sent to (0 is the head).
    pub node: usize,
    pub invoke_ns: u64,
    pub return_ns: u64,
    pub retransmissions: u8,
    pub result: OpResult,
}

impl HistoryEntry {
    /// A number that names the worker, the sequential process that issued
    /// the operation, among all clients' workers.
    pub fn process(&self) -> u32 {
        (u32::from(self.client) << 16) | u32::from(self.worker)
    }
}

/// What a client counted over its measured operations.
#[derive(Debug, Clone)]
pub struct SimClientStats {
    pub reads_ok: u64,
    pub writes_ok: u64,
    pub outcome_unknown: u64,
    pub timed_out: u64,
    pub key_out_of_range: u64,
    pub window_full: u64,
    /// Reads answered `ERROR NOT_SERVING` (lease lapsed, or a syncing tail).
    pub not_serving: u64,
    pub retransmissions: u64,
    /// Replies for a request no longer outstanding (late or duplicated).
    pub stale_replies: u64,
    /// Replies matching an outstanding request by port and identification
    /// but not by key, operation or written value: a protocol error.
    pub mismatched_replies: u64,
    /// Frames that are not NetCRAQ frames for this host.
    pub foreign_frames: u64,
    /// Operations left out of the history once it was full.
    pub history_dropped: u64,
    pub read_latency_ns: Latencies,
    pub write_latency_ns: Latencies,
}

impl SimClientStats {
    fn new() -> Self {
        let histogram = || Latencies::new(LATENCY_NS_MAX);
        SimClientStats {
            reads_ok: 0,
            writes_ok: 0,
            outcome_unknown: 0,
            timed_out: 0,
            key_out_of_range: 0,
            window_full: 0,
            not_serving: 0,
            retransmissions: 0,
            stale_replies: 0,
            mismatched_replies: 0,
            foreign_frames: 0,
            history_dropped: 0,
            read_latency_ns: histogram(),
            write_latency_ns: histogram(),
        }
    }

    /// Adds another client's counts, to total a run.
    pub fn merge(&mut self, other: &SimClientStats) {
        self.reads_ok += other.reads_ok;
        self.writes_ok += other.writes_ok;
        self.outcome_unknown += other.outcome_unknown;
        self.timed_out += other.timed_out;
        self.key_out_of_range += other.key_out_of_range;
        self.window_full += other.window_full;
        self.not_serving += other.not_serving;
        self.retransmissions += other.retransmissions;
        self.stale_replies += other.stale_replies;
        self.mismatched_replies += other.mismatched_replies;
        self.foreign_frames += other.foreign_frames;
        self.history_dropped += other.history_dropped;
        self.read_latency_ns.absorb(&other.read_latency_ns);
        self.write_latency_ns.absorb(&other.write_latency_ns);
    }

    /// Reads and writes together.
    pub fn latency_ns(&self) -> Latencies {
        let mut all = self.read_latency_ns.clone();
        all.absorb(&self.write_latency_ns);
        all
    }
}

#[derive(Debug)]
enum OpSource {
    Random { generators: Vec<OpGenerator>, issue_until_ns: u64 },
    Script(VecDeque<PlannedOp>),
}

impl OpSource {
    fn next(&mut self, worker: usize, now_ns: u64) -> Option<PlannedOp> {
        match self {
            OpSource::Random { generators, issue_until_ns } => {
                (now_ns < *issue_until_ns).then(|| generators[worker].next_op())
            }
            OpSource::Script(ops) => ops.pop_front(),
        }
    }

    fn has_more(&self, now_ns: u64) -> bool {
        match self {
            OpSource::Random { issue_until_ns, .. } => now_ns < *issue_until_ns,
            OpSource::Script(ops) => !ops.is_empty(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimClientError {
    Config(&'static str),
    /// The workload's mix breaks a rule ([`MixError::reason`](netcraq_client::mix::MixError::reason)).
    Workload(&'static str),
    NoTargets,
    /// A scripted operation names a node the client cannot reach.
    NoSuchNode(usize),
}

impl std::fmt::Display for SimClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimClientError::Config(problem) => write!(f, "bad client configuration: {problem}"),
            SimClientError::Workload(problem) => write!(f, "bad workload: {problem}"),
            SimClientError::NoTargets => f.write_str("a client needs at least one chain node to talk to"),
            SimClientError::NoSuchNode(node) => {
                write!(f, "a scripted operation goes to node {node}, which does not exist")
            }
        }
    }
}

impl std::error::Error for SimClientError {}

/// A client host: `workers` closed-loop workers, each with one request
/// outstanding, matched to replies by (UDP port, IPv4 identification). It
/// drives the [`ClientMachine`] in virtual time, one slot per worker, each
/// request sent to a chain node by its index.
#[derive(Debug)]
pub struct SimClient {
    index: u16,
    address: Endpoint,
    targets: Vec<TargetNode>,
    config: SimClientConfig,
    seed: u64,
    machine: ClientMachine<usize>,
    source: OpSource,
    now_ns: u64,
    stats: SimClientStats,
    history: Vec<HistoryEntry>,
}

impl SimClient {
    /// A client placed on the network, its workers drawing random streams
    /// from `seed`.
    pub fn new(
        placement: &ClientPlacement,
        config: SimClientConfig,
        workload: SimWorkload,
        seed: u64,
    ) -> Result<Self, SimClientError> {
        if let Some(problem) = config.problem() {
            return Err(SimClientError::Config(problem));
        }
        if placement.targets.is_empty() {
            return Err(SimClientError::NoTargets);
        }
        let policy = RetryPolicy { timeout_ns: config.timeout_ns, attempts: u32::from(config.max_retransmissions) + 1 };
        let mut client = SimClient {
            index: placement.index,
            address: placement.address,
            targets: placement.targets.clone(),
            config,
            seed,
            machine: ClientMachine::new(usize::from(config.workers), policy),
            source: OpSource::Script(VecDeque::new()),
            now_ns: 0,
            stats: SimClientStats::new(),
            history: Vec::new(),
        };
        client.set_workload(workload)?;
        Ok(client)
    }

    /// Replaces the client's work; what is outstanding carries on. Through
    /// [`Simulation::update_host`](super::Simulation::update_host), so that
    /// idle workers wake up.
    pub fn set_workload(&mut self, workload: SimWorkload) -> Result<(), SimClientError> {
        self.source = match workload {
            SimWorkload::Random { spec, issue_until_ns } => {
                let compiled = CompiledWorkload::new(spec).map_err(|error| SimClientError::Workload(error.reason()))?;
                let compiled = Arc::new(compiled);
                let generators = (0..self.config.workers)
                    .map(|w| OpGenerator::new(Arc::clone(&compiled), self.targets.len(), self.seed, self.index, w))
                    .collect();
                OpSource::Random { generators, issue_until_ns }
            }
            SimWorkload::Script(ops) => {
                if let Some(bad) = ops.iter().find(|planned| planned.node >= self.targets.len()) {
                    return Err(SimClientError::NoSuchNode(bad.node));
                }
                OpSource::Script(ops)
            }
        };
        Ok(())
    }

    pub fn stats(&self) -> &SimClientStats {
        &self.stats
    }

    pub fn history(&self) -> &[HistoryEntry] {
        &self.history
    }

    /// Nothing outstanding and nothing left to issue.
    pub fn is_idle(&self) -> bool {
        self.machine.outstanding() == 0 && !self.source.has_more(self.now_ns)
    }

    fn start_next(&mut self, worker: usize, outbox: &mut Outbox) {
        let Some(planned) = self.source.next(worker, self.now_ns) else { return };
        if let Some(first) = self.machine.issue(worker, planned.op, planned.node, self.now_ns) {
            self.send(&first, outbox);
        }
    }

    /// Puts a transmission on the wire from the worker's own UDP port.
    fn send(&self, transmission: &Transmission<usize>, outbox: &mut Outbox) {
        let target = self.targets[transmission.target];
        let to = Endpoint { ip: target.ip, mac: target.next_hop_mac };
        let port = self.config.first_udp_port + transmission.slot as u16;
        outbox.send(target.port, transmission.frame(self.address, port, to).to_bytes().to_vec());
    }

    /// Retransmits, or gives up after the last retransmission.
    fn expire(&mut self, worker: usize, outbox: &mut Outbox) {
        match self.machine.expire(worker, self.now_ns) {
            Some(Expiry::Retransmit(again)) => self.send(&again, outbox),
            Some(Expiry::GaveUp(finished)) => {
                self.complete(&finished);
                self.start_next(worker, outbox);
            }
            None => {}
        }
    }

    /// The worker a reply is addressed to.
    fn addressee(&self, reply: &NetcraqFrame) -> Option<usize> {
        if reply.ip_dst != self.address.ip || reply.udp_src != NETCRAQ_UDP_PORT {
            return None;
        }
        let worker = usize::from(reply.udp_dst.checked_sub(self.config.first_udp_port)?);
        (worker < self.machine.slots()).then_some(worker)
    }

    fn complete(&mut self, finished: &Finished<usize>) {
        let entry = HistoryEntry {
            client: self.index,
            worker: finished.slot as u16,
            op: finished.operation,
            node: finished.target,
            invoke_ns: finished.invoke_ns,
            return_ns: finished.return_ns,
            retransmissions: finished.retransmissions().try_into().unwrap_or(u8::MAX),
            result: finished.result,
        };
        if self.now_ns >= self.config.measure_from_ns {
            self.count(&entry);
        }
        if self.history.len() < self.config.history_capacity {
            self.history.push(entry);
        } else {
            self.stats.history_dropped += 1;
        }
    }

    fn count(&mut self, entry: &HistoryEntry) {
        let stats = &mut self.stats;
        stats.retransmissions += u64::from(entry.retransmissions);
        let latency_ns = entry.return_ns - entry.invoke_ns;
        match (entry.result, entry.op.is_read()) {
            (OpResult::Ok { .. }, true) => {
                stats.reads_ok += 1;
                stats.read_latency_ns.record(latency_ns);
            }
            (OpResult::Ok { .. }, false) => {
                stats.writes_ok += 1;
                stats.write_latency_ns.record(latency_ns);
            }
            (OpResult::OutcomeUnknown, _) => stats.outcome_unknown += 1,
            (OpResult::TimedOut, _) => stats.timed_out += 1,
            (OpResult::KeyOutOfRange, _) => stats.key_out_of_range += 1,
            (OpResult::WindowFull, _) => stats.window_full += 1,
            (OpResult::NotServing, _) => stats.not_serving += 1,
        }
    }
}

impl HostAgent for SimClient {
    fn on_frame(&mut self, now_ns: u64, _port: u16, frame: &[u8], outbox: &mut Outbox) {
        self.now_ns = now_ns;
        let Ok(reply) = NetcraqFrame::parse(frame) else {
            self.stats.foreign_frames += 1;
            return;
        };
        if reply.eth_dst != self.address.mac {
            self.stats.foreign_frames += 1;
            return;
        }
        let Some(worker) = self.addressee(&reply) else {
            self.stats.stale_replies += 1;
            return;
        };
        match self.machine.receive(worker, Some(reply.ident), &reply.header, now_ns) {
            Received::Finished(finished) => {
                self.complete(&finished);
                self.start_next(worker, outbox);
            }
            Received::Stale => self.stats.stale_replies += 1,
            Received::Mismatched => self.stats.mismatched_replies += 1,
        }
    }

    fn on_wakeup(&mut self, now_ns: u64, outbox: &mut Outbox) {
        self.now_ns = now_ns;
        for worker in 0..self.machine.slots() {
            match self.machine.in_flight(worker) {
                Some(request) if request.deadline_ns <= now_ns => self.expire(worker, outbox),
                Some(_) => {}
                None => self.start_next(worker, outbox),
            }
        }
    }

    fn next_wakeup_ns(&self) -> Option<u64> {
        let idle_worker = self.machine.outstanding() < self.machine.slots();
        if idle_worker && self.source.has_more(self.now_ns) {
            return Some(self.now_ns);
        }
        self.machine.next_deadline_ns()
    }
}
