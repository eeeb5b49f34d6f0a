//! A closed-loop load generator: a fixed number of requests outstanding, each
//! replaced by a new one as soon as it ends, all driven by one thread.

mod engine;
mod report;

use std::fmt::{self, Display, Formatter};
use std::io;
use std::net::SocketAddrV4;
use std::ops::Range;
use std::time::Duration;

pub use report::{ErrorCounts, Progress, WorkloadReport};

use crate::client::ClientOptions;
use crate::mix::{KeyDistribution, MixSampler, RequestMix};

/// Requests outstanding at most: each holds a socket (a file descriptor),
/// and the usual limit on those is 1024.
pub const MAX_CONCURRENCY: usize = 512;

/// When to stop issuing operations; those in flight then still finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    AfterDuration(Duration),
    AfterOperations(u64),
}

/// Where writes go. Reads go to a target chosen at random for each read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteTarget {
    /// A target chosen at random for each write.
    AnyTarget,
    /// Always this node (which need not be among the targets).
    Node(SocketAddrV4),
}

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// The fraction of operations that are reads, from 0 to 1.
    pub read_fraction: f64,
    /// The keys to operate on; must not be empty.
    pub keys: Range<u16>,
    pub key_distribution: KeyDistribution,
    /// Requests outstanding at once, 1 to [`MAX_CONCURRENCY`]. Each slot is a
    /// sequential client, whose id in the history is the slot's index.
    pub concurrency: usize,
    pub stop: Stop,
    /// Seeds the choice of operations, keys and targets. Written values also
    /// include a per-run number, so that runs never write the same values.
    pub seed: u64,
    pub write_target: WriteTarget,
    /// Timeout and retries of each operation, and the local address.
    pub client: ClientOptions,
    /// Record a history of at most this many operations for the
    /// linearizability checker (0: record none). Once full, operations
    /// invoked later are left out, which keeps the history checkable.
    pub history_capacity_ops: usize,
    /// How often the progress callback runs.
    pub progress_interval: Duration,
}

impl Workload {
    /// The reads, keys and key distribution, as every client draws them.
    pub fn mix(&self) -> RequestMix {
        RequestMix {
            read_fraction: self.read_fraction,
            first_key: self.keys.start,
            key_count: self.keys.len() as u32,
            distribution: self.key_distribution,
        }
    }
}

impl Default for Workload {
    /// One second of 90 % reads over 16 uniform keys, 8 requests outstanding.
    fn default() -> Self {
        Workload {
            read_fraction: 0.9,
            keys: 0..16,
            key_distribution: KeyDistribution::Uniform,
            concurrency: 8,
            stop: Stop::AfterDuration(Duration::from_secs(1)),
            seed: 0,
            write_target: WriteTarget::AnyTarget,
            client: ClientOptions::default(),
            history_capacity_ops: 0,
            progress_interval: Duration::from_secs(1),
        }
    }
}

#[derive(Debug)]
pub enum WorkloadError {
    /// The workload or targets make no sense; the text says why.
    Invalid(String),
    /// A socket could not be opened or waited on.
    Io(io::Error),
}

impl Display for WorkloadError {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            WorkloadError::Invalid(reason) => write!(f, "invalid workload: {reason}"),
            WorkloadError::Io(error) => write!(f, "workload socket error: {error}"),
        }
    }
}

impl std::error::Error for WorkloadError {}

impl From<io::Error> for WorkloadError {
    fn from(error: io::Error) -> Self {
        WorkloadError::Io(error)
    }
}

/// Runs `workload` against `targets`, calling `observer` every
/// `progress_interval`, and returns what it measured. Operations that fail
/// are counted, not returned as errors; an error means the run could not go
/// on (or start).
pub fn run_workload(
    targets: &[SocketAddrV4],
    workload: &Workload,
    observer: impl FnMut(&Progress),
) -> Result<WorkloadReport, WorkloadError> {
    validate(targets, workload).map_err(WorkloadError::Invalid)?;
    let mix = MixSampler::new(&workload.mix()).map_err(|error| WorkloadError::Invalid(error.to_string()))?;
    engine::Engine::new(targets, workload, mix).run(observer)
}

/// What the shared mix does not check: the targets, concurrency and timing.
fn validate(targets: &[SocketAddrV4], workload: &Workload) -> Result<(), String> {
    if targets.is_empty() {
        return Err("no target nodes".into());
    }
    if !(1..=MAX_CONCURRENCY).contains(&workload.concurrency) {
        return Err(format!("concurrency {}: give 1 to {MAX_CONCURRENCY}", workload.concurrency));
    }
    if workload.client.timeout.is_zero() {
        return Err("the timeout must not be zero".into());
    }
    if workload.progress_interval.is_zero() {
        return Err("the progress interval must not be zero".into());
    }
    Ok(())
}
