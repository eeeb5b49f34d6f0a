//! A chain on the in-memory network (`netcraq-sim`), measured in simulated
//! time: what `netcraq demo --simulated` runs and the `sim` kind of
//! `netcraq bench figures`.

use netcraq_core::Mode;
use netcraq_sim::{
    run_experiment, ChainNetworkSpec, ExperimentReport, ExperimentSpec, Layout, NodeChoice, NodeSettings,
    SimClientConfig, SimConfig, WorkloadSpec,
};

/// A chain on a star (no transit) and the load of its client hosts.
#[derive(Debug, Clone, PartialEq)]
pub struct SimLoad {
    pub nodes: u8,
    pub clients: usize,
    /// Requests each client host keeps outstanding.
    pub workers_per_client: u16,
    pub mode: Mode,
    pub read_fraction: f64,
    pub keys: u32,
    pub read_target: NodeChoice,
    pub write_target: NodeChoice,
    /// Each node's service time per frame: 10^9 / its frames per second.
    pub service_ns: u64,
    /// The clients' retransmission timeout.
    pub timeout_ns: u64,
    pub warmup_ns: u64,
    pub measure_ns: u64,
    pub seed: u64,
}

impl SimLoad {
    pub fn experiment(&self) -> ExperimentSpec {
        ExperimentSpec {
            network: ChainNetworkSpec {
                nodes: usize::from(self.nodes),
                clients: self.clients,
                mode: self.mode,
                layout: Layout::Star,
                node: NodeSettings { service_ns: self.service_ns, ..NodeSettings::default() },
                sim: SimConfig { seed: self.seed, ..SimConfig::default() },
                ..ChainNetworkSpec::default()
            },
            client: SimClientConfig {
                workers: self.workers_per_client,
                timeout_ns: self.timeout_ns,
                history_capacity: 0, // rates are measured, not histories
                ..SimClientConfig::default()
            },
            workload: WorkloadSpec {
                read_fraction: self.read_fraction,
                key_count: self.keys,
                read_target: self.read_target,
                write_target: self.write_target,
                ..WorkloadSpec::default()
            },
            warmup_ns: self.warmup_ns,
            measure_ns: self.measure_ns,
        }
    }

    /// Runs it, calling `progress(done_ns)` as simulated time advances.
    pub fn run(&self, mut progress: impl FnMut(u64)) -> Result<ExperimentReport, String> {
        run_experiment(&self.experiment(), |done_ns, _| progress(done_ns))
            .map_err(|error| format!("the simulated {} run failed: {error}", self.mode.name()))
    }
}
