//! What the proxy counts.

use std::sync::atomic::AtomicU64;

/// The proxy's counters, shared by every call.
#[derive(Debug, Default)]
pub struct Counters {
    /// Range calls sent to etcd.
    pub ranges_forwarded: AtomicU64,
    /// Of those, the Ranges a hot-key cache could answer ([`crate::cache_candidate`]).
    pub cache_candidates: AtomicU64,
    /// Calls and streams that did not get etcd's answer: no connection, the
    /// proxy's timeout, or etcd's UNAVAILABLE/DEADLINE_EXCEEDED/UNKNOWN.
    pub upstream_failures: AtomicU64,
    /// Streams refused because `max_streams` were open.
    pub streams_refused: AtomicU64,
    /// Hot reads (docs/kubernetes.md): candidate Ranges of placed keys
    /// answered from the cache after one NetCRAQ read.
    pub hot_hits: AtomicU64,
    /// Candidate Ranges of placed keys sent to etcd: a slot dirty or
    /// unknown, the value not cached or not the newest, or NetCRAQ failed.
    pub hot_misses: AtomicU64,
    /// NetCRAQ READs or WRITEs of slots that failed (each also a miss, a
    /// refused write, or a key left dirty, and logged).
    pub hot_netcraq_failures: AtomicU64,
    /// Writes of placed keys, sent to etcd through the write steps.
    pub placed_writes: AtomicU64,
    /// Writes refused by etcd because this proxy's fence moved: another
    /// process took its index, or the write had timed out before a
    /// placement change.
    pub fenced_writes: AtomicU64,
    /// Keys placed and removed at runtime (`HotReads::set_placement`).
    pub promotions: AtomicU64,
    pub demotions: AtomicU64,
    /// Placements not applied: the source did not answer, sent something
    /// that is not a placement, or the change failed (each logged).
    pub placement_failures: AtomicU64,
}
