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
}
