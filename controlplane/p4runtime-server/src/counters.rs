//! What the server did, counted for the node's stats.

use std::sync::atomic::{AtomicU64, Ordering};

/// What the server did, for the node's stats: failures are also logged.
#[derive(Debug, Default)]
pub struct ServerCounters {
    pub rpcs: AtomicU64,
    /// RPCs answered with an error status (a Write with some failed updates counts once).
    pub rpcs_failed: AtomicU64,
    pub updates_applied: AtomicU64,
    pub updates_failed: AtomicU64,
    /// Writes, pipeline configs and PacketOuts refused because the sender is not the primary.
    pub not_primary: AtomicU64,
    /// PacketOut frames the node processed.
    pub packets_out: AtomicU64,
    /// Calls to the poll loop that carried PacketOut frames (several each
    /// when they arrive back to back).
    pub packet_out_calls: AtomicU64,
    /// PacketOut frames refused (not primary, too long, the node busy or
    /// stopped), each answered with a StreamError.
    pub packets_out_refused: AtomicU64,
    /// StreamChannels terminated by an arbitration error.
    pub arbitrations_refused: AtomicU64,
    /// Arbitration notices not sent because the controller's stream was full.
    pub notices_dropped: AtomicU64,
}

/// A copy of [`ServerCounters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerCountersSnapshot {
    pub rpcs: u64,
    pub rpcs_failed: u64,
    pub updates_applied: u64,
    pub updates_failed: u64,
    pub not_primary: u64,
    pub packets_out: u64,
    pub packet_out_calls: u64,
    pub packets_out_refused: u64,
    pub arbitrations_refused: u64,
    pub notices_dropped: u64,
}

impl ServerCounters {
    pub fn snapshot(&self) -> ServerCountersSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ServerCountersSnapshot {
            rpcs: get(&self.rpcs),
            rpcs_failed: get(&self.rpcs_failed),
            updates_applied: get(&self.updates_applied),
            updates_failed: get(&self.updates_failed),
            not_primary: get(&self.not_primary),
            packets_out: get(&self.packets_out),
            packet_out_calls: get(&self.packet_out_calls),
            packets_out_refused: get(&self.packets_out_refused),
            arbitrations_refused: get(&self.arbitrations_refused),
            notices_dropped: get(&self.notices_dropped),
        }
    }
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
