//! What a workload run measured.

use std::time::Duration;

use netcraq_linearizability::History;

use crate::error::ClientError;
use crate::latency::Latencies;

/// Failed operations by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    /// No reply after every attempt (for writes: outcome unknown).
    pub timeouts: u64,
    /// Writes answered `ERROR OUTCOME_UNKNOWN`.
    pub outcome_unknown: u64,
    /// Writes answered `ERROR WINDOW_FULL` (not applied).
    pub window_full: u64,
    /// Operations answered `ERROR KEY_OUT_OF_RANGE`.
    pub key_out_of_range: u64,
    /// Reads answered `ERROR NOT_SERVING` (lease lapsed, or a syncing tail).
    pub not_serving: u64,
    /// Operations ended by a socket error.
    pub io: u64,
}

impl ErrorCounts {
    pub fn total(&self) -> u64 {
        self.timeouts + self.outcome_unknown + self.window_full + self.key_out_of_range + self.not_serving + self.io
    }

    fn absorb(&mut self, other: &ErrorCounts) {
        self.timeouts += other.timeouts;
        self.outcome_unknown += other.outcome_unknown;
        self.window_full += other.window_full;
        self.key_out_of_range += other.key_out_of_range;
        self.not_serving += other.not_serving;
        self.io += other.io;
    }

    pub(crate) fn count(&mut self, error: &ClientError) {
        let counter = match error {
            // A chain client's errors count with their nearest kin.
            ClientError::Timeout { .. } | ClientError::NoMemberAnswered { .. } => &mut self.timeouts,
            ClientError::OutcomeUnknown { .. } => &mut self.outcome_unknown,
            ClientError::WindowFull { .. } => &mut self.window_full,
            ClientError::KeyOutOfRange { .. } | ClientError::NoChainForKey { .. } => &mut self.key_out_of_range,
            ClientError::NotServing { .. } => &mut self.not_serving,
            ClientError::Io { .. } | ClientError::NoMembership(_) => &mut self.io,
        };
        *counter += 1;
    }
}

/// A snapshot handed to the progress callback while a workload runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub elapsed: Duration,
    /// Operations finished so far, failed ones included.
    pub ops: u64,
    pub errors: u64,
    pub in_flight: usize,
}

/// The result of [`run_workload`](crate::run_workload).
#[derive(Debug, Clone)]
pub struct WorkloadReport {
    /// Operations finished: `reads + writes + errors.total()`.
    pub ops: u64,
    /// Reads that returned a value.
    pub reads: u64,
    /// Writes that were acknowledged.
    pub writes: u64,
    pub errors: ErrorCounts,
    /// Retransmissions, not counting first transmissions.
    pub retransmissions: u64,
    /// Datagrams ignored because they answered no outstanding request.
    pub ignored_replies: u64,
    /// From the first request to the end of the last operation.
    pub duration: Duration,
    /// Latency of each successful operation, from its first transmission to
    /// its reply, in microseconds.
    pub latency_us: Latencies,
    /// The operations, when the workload asked for a history.
    pub history: Option<History>,
    /// Whether operations were left out of the history because it was full.
    pub history_truncated: bool,
}

/// Latencies above this many microseconds (a minute) are recorded as this.
const LATENCY_MAX_US: u64 = 60_000_000;

impl WorkloadReport {
    pub(crate) fn empty(record_history: Option<History>) -> Self {
        WorkloadReport {
            ops: 0,
            reads: 0,
            writes: 0,
            errors: ErrorCounts::default(),
            retransmissions: 0,
            ignored_replies: 0,
            duration: Duration::ZERO,
            latency_us: Latencies::new(LATENCY_MAX_US),
            history: record_history,
            history_truncated: false,
        }
    }

    /// Adds the counts and latencies of a workload run at the same time
    /// (another client host); the duration is the longer of the two.
    /// Histories are not merged: their client ids and clocks are per run.
    pub fn absorb(&mut self, other: &WorkloadReport) {
        self.ops += other.ops;
        self.reads += other.reads;
        self.writes += other.writes;
        self.errors.absorb(&other.errors);
        self.retransmissions += other.retransmissions;
        self.ignored_replies += other.ignored_replies;
        self.duration = self.duration.max(other.duration);
        self.latency_us.absorb(&other.latency_us);
    }

    pub(crate) fn record_latency(&mut self, latency: Duration) {
        let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.record(latency_us);
    }

    /// Finished operations per second, failed ones included.
    pub fn ops_per_sec(&self) -> f64 {
        match self.duration.as_secs_f64() {
            seconds if seconds > 0.0 => self.ops as f64 / seconds,
            _ => 0.0,
        }
    }

    pub fn latency_us_p50(&self) -> u64 {
        self.latency_us.value_at_quantile(0.5)
    }

    pub fn latency_us_p99(&self) -> u64 {
        self.latency_us.value_at_quantile(0.99)
    }

    pub fn latency_us_p999(&self) -> u64 {
        self.latency_us.value_at_quantile(0.999)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(ops: u64, latency_ms: u64, seconds: u64) -> WorkloadReport {
        let mut report = WorkloadReport::empty(None);
        (report.ops, report.reads, report.writes, report.errors.timeouts) = (ops, ops - 2, 1, 1);
        report.duration = Duration::from_secs(seconds);
        for _ in 0..ops - 1 {
            report.record_latency(Duration::from_millis(latency_ms));
        }
        report
    }

    #[test]
    fn absorbing_a_concurrent_run_adds_counts_and_latencies_and_keeps_the_longer_duration() {
        let mut total = report(10, 1, 2);
        total.absorb(&report(20, 5, 3));
        assert_eq!((total.ops, total.reads, total.writes, total.errors.total()), (30, 26, 2, 2));
        assert_eq!(total.duration, Duration::from_secs(3));
        assert_eq!(total.latency_us.len(), 28);
        assert!(total.latency_us_p50() >= 4_990, "most samples are the 5 ms ones: {}", total.latency_us_p50());
        assert_eq!(total.ops_per_sec(), 10.0);
    }
}
