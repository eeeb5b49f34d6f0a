//! One measured run of a chain under a random workload: what `netcraq demo`
//! runs once per mode.

use super::chain::{build_chain, BuildError, ChainNetwork, ChainNetworkSpec};
use super::client::{SimClient, SimClientConfig, SimClientError, SimClientStats, SimWorkload};
use super::network::{NetworkCounters, NodeCounters, RunStop};
use super::wiring::Device;
use super::workload::WorkloadSpec;
use netcraq_core::{Mode, Outcome, Role};
use netcraq_wire::Ipv4Addr;

/// Progress reports over one run, at most.
const PROGRESS_STEPS: u64 = 100;

/// A chain, its clients and a workload, measured after a warm-up.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentSpec {
    pub network: ChainNetworkSpec,
    /// The same for every client host.
    pub client: SimClientConfig,
    pub workload: WorkloadSpec,
    /// Simulated time before measuring starts: queues fill up to their steady state.
    pub warmup_ns: u64,
    /// Simulated time measured.
    pub measure_ns: u64,
}

/// One node over the measured time.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeReport {
    pub ip: Ipv4Addr,
    pub role: Option<Role>,
    /// Increments of the node's `outcomes` counters.
    pub outcomes: [u64; Outcome::COUNT],
    pub frames_served: u64,
    /// Share of the time the node was serving frames: 1.0 is saturated.
    pub busy_fraction: f64,
    pub queue_overflows: u64,
}

impl NodeReport {
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome.index()]
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct ExperimentReport {
    pub mode: Mode,
    pub measured_ns: u64,
    /// All clients together, over the measured time.
    pub clients: SimClientStats,
    /// Each client host alone, in host order.
    pub hosts: Vec<SimClientStats>,
    /// The chain's nodes, head first.
    pub nodes: Vec<NodeReport>,
    /// Over the whole run, warm-up included.
    pub network: NetworkCounters,
}

impl ExperimentReport {
    pub fn reads_per_s(&self) -> f64 {
        self.per_second(self.clients.reads_ok)
    }

    pub fn writes_per_s(&self) -> f64 {
        self.per_second(self.clients.writes_ok)
    }

    /// Completed reads and writes per second.
    pub fn ops_per_s(&self) -> f64 {
        self.per_second(self.clients.reads_ok + self.clients.writes_ok)
    }

    /// Latency of completed reads and writes at `quantile` (0.5 is the median), in µs.
    pub fn latency_us(&self, quantile: f64) -> f64 {
        self.clients.latency_ns().value_at_quantile(quantile) as f64 / 1_000.0
    }

    /// Reads per second completed by client host `host` alone.
    pub fn host_reads_per_s(&self, host: usize) -> f64 {
        self.hosts.get(host).map_or(0.0, |stats| self.per_second(stats.reads_ok))
    }

    fn per_second(&self, count: u64) -> f64 {
        count as f64 * 1e9 / self.measured_ns.max(1) as f64
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExperimentError {
    Build(BuildError),
    Client(SimClientError),
    /// The simulation spent its event budget before the end of the run.
    EventBudgetExhausted,
}

impl std::fmt::Display for ExperimentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExperimentError::Build(error) => error.fmt(f),
            ExperimentError::Client(error) => error.fmt(f),
            ExperimentError::EventBudgetExhausted => {
                f.write_str("the simulation spent its event budget before the end of the run")
            }
        }
    }
}

impl std::error::Error for ExperimentError {}

/// Runs the experiment, calling `progress(done_ns, total_ns)` as simulated
/// time advances.
pub fn run_experiment(
    spec: &ExperimentSpec,
    mut progress: impl FnMut(u64, u64),
) -> Result<ExperimentReport, ExperimentError> {
    let total_ns = spec.warmup_ns + spec.measure_ns;
    let mut network = build(spec, total_ns)?;
    advance(&mut network, spec.warmup_ns, total_ns, &mut progress)?;
    let at_warmup = snapshot(&network);
    advance(&mut network, total_ns, total_ns, &mut progress)?;
    let hosts: Vec<SimClientStats> =
        network.clients.iter().map(|host| network.sim.host(*host).stats().clone()).collect();
    let mut clients = hosts[0].clone();
    for host in &hosts[1..] {
        clients.merge(host);
    }
    let nodes = network
        .chain
        .iter()
        .zip(at_warmup)
        .map(|(id, (outcomes_before, counters_before))| {
            let node = network.sim.node(*id);
            let counters = network.sim.node_counters(*id);
            let frames_served = counters.frames_served - counters_before.frames_served;
            let busy_ns = frames_served * network.sim.node_settings(*id).service_ns;
            NodeReport {
                ip: network.sim.wiring().address(Device::Node(*id)).map_or(Ipv4Addr::UNSPECIFIED, |a| a.ip),
                role: node.config().map(|c| c.role),
                outcomes: std::array::from_fn(|i| node.outcome_counts()[i] - outcomes_before[i]),
                frames_served,
                busy_fraction: busy_ns as f64 / spec.measure_ns.max(1) as f64,
                queue_overflows: counters.queue_overflows - counters_before.queue_overflows,
            }
        })
        .collect();
    let network_counters = network.sim.counters();
    Ok(ExperimentReport {
        mode: spec.network.mode,
        measured_ns: spec.measure_ns,
        clients,
        hosts,
        nodes,
        network: network_counters,
    })
}

fn build(spec: &ExperimentSpec, total_ns: u64) -> Result<ChainNetwork<SimClient>, ExperimentError> {
    let config = SimClientConfig { measure_from_ns: spec.warmup_ns, ..spec.client };
    if let Some(problem) = config.problem() {
        return Err(ExperimentError::Client(SimClientError::Config(problem)));
    }
    if let Some(problem) = spec.workload.problem() {
        return Err(ExperimentError::Client(SimClientError::Workload(problem)));
    }
    if spec.network.clients == 0 {
        return Err(ExperimentError::Build(BuildError::ClientCount(0)));
    }
    let workload = SimWorkload::Random { spec: spec.workload.clone(), issue_until_ns: total_ns };
    let seed = spec.network.sim.seed;
    build_chain(&spec.network, |placement| {
        SimClient::new(placement, config, workload.clone(), seed)
            .expect("configuration and workload checked above, and every placement reaches the chain")
    })
    .map_err(ExperimentError::Build)
}

/// Runs to `until_ns` in steps, reporting progress after each.
fn advance(
    network: &mut ChainNetwork<SimClient>,
    until_ns: u64,
    total_ns: u64,
    progress: &mut impl FnMut(u64, u64),
) -> Result<(), ExperimentError> {
    let step_ns = (total_ns / PROGRESS_STEPS).max(1);
    while network.sim.now_ns() < until_ns {
        let next_ns = (network.sim.now_ns() + step_ns).min(until_ns);
        match network.sim.run_until(next_ns) {
            RunStop::EventBudgetExhausted => return Err(ExperimentError::EventBudgetExhausted),
            RunStop::Idle => break,
            RunStop::Deadline => progress(next_ns, total_ns),
        }
    }
    Ok(())
}

fn snapshot(network: &ChainNetwork<SimClient>) -> Vec<([u64; Outcome::COUNT], NodeCounters)> {
    network.chain.iter().map(|id| (*network.sim.node(*id).outcome_counts(), network.sim.node_counters(*id))).collect()
}
