//! What the proxy exports at `/metrics` (docs/metrics.md): its
//! [`Counters`], the calls it forwarded by method with their latency, the
//! hottest keys of single-key Ranges, and the placed keys' slots.

use crate::counters::Counters;
use crate::hot_keys::{HotKey, HotKeys};
use netcraq_metrics::{bytes_label, Counter, Exposition, Histogram, Kind, LATENCY_BUCKETS_SECONDS};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The proxy's counters as exported: name, help, field. Adding a counter
/// to [`Counters`] and one line here exports it.
const EXPORTED_COUNTERS: &[(&str, &str, fn(&Counters) -> &AtomicU64)] = &[
    ("netcraq_proxy_ranges_forwarded_total", "Range calls sent to etcd.", |c| &c.ranges_forwarded),
    (
        "netcraq_proxy_cache_candidates_total",
        "Ranges a hot-key cache could answer (single key, latest revision, linearizable).",
        |c| &c.cache_candidates,
    ),
    (
        "netcraq_proxy_upstream_failures_total",
        "Calls and streams without etcd's answer: no connection, the proxy's timeout, or UNAVAILABLE, DEADLINE_EXCEEDED, UNKNOWN.",
        |c| &c.upstream_failures,
    ),
    ("netcraq_proxy_streams_refused_total", "Streams refused because --max-streams were open.", |c| &c.streams_refused),
    (
        "netcraq_proxy_cache_hits_total",
        "Hot reads: candidate Ranges of placed keys answered from the cache after one NetCRAQ read.",
        |c| &c.hot_hits,
    ),
    (
        "netcraq_proxy_cache_misses_total",
        "Candidate Ranges of placed keys that fell back to etcd: a slot dirty or unknown, the value not cached or not the newest, or NetCRAQ failed.",
        |c| &c.hot_misses,
    ),
    (
        "netcraq_proxy_netcraq_failures_total",
        "NetCRAQ reads or writes of slots that failed (each also a miss, a refused write, a key left dirty, or a placement change retried).",
        |c| &c.hot_netcraq_failures,
    ),
    ("netcraq_proxy_placed_writes_total", "Writes of placed keys, sent through the write steps.", |c| &c.placed_writes),
    (
        "netcraq_proxy_fenced_writes_total",
        "Writes refused by etcd because this proxy's fence moved.",
        |c| &c.fenced_writes,
    ),
    ("netcraq_proxy_promotions_total", "Keys placed at runtime.", |c| &c.promotions),
    ("netcraq_proxy_demotions_total", "Keys removed from placement at runtime.", |c| &c.demotions),
    (
        "netcraq_proxy_placement_failures_total",
        "Placements not applied: the source did not answer or sent bad data, or the change failed.",
        |c| &c.placement_failures,
    ),
];

/// Every method the proxy forwards, as gRPC names it.
const METHODS: [&str; 24] = [
    "/etcdserverpb.KV/Range",
    "/etcdserverpb.KV/Put",
    "/etcdserverpb.KV/DeleteRange",
    "/etcdserverpb.KV/Txn",
    "/etcdserverpb.KV/Compact",
    "/etcdserverpb.Watch/Watch",
    "/etcdserverpb.Lease/LeaseGrant",
    "/etcdserverpb.Lease/LeaseRevoke",
    "/etcdserverpb.Lease/LeaseKeepAlive",
    "/etcdserverpb.Lease/LeaseTimeToLive",
    "/etcdserverpb.Lease/LeaseLeases",
    "/etcdserverpb.Cluster/MemberAdd",
    "/etcdserverpb.Cluster/MemberRemove",
    "/etcdserverpb.Cluster/MemberUpdate",
    "/etcdserverpb.Cluster/MemberList",
    "/etcdserverpb.Cluster/MemberPromote",
    "/etcdserverpb.Maintenance/Alarm",
    "/etcdserverpb.Maintenance/Status",
    "/etcdserverpb.Maintenance/Defragment",
    "/etcdserverpb.Maintenance/Hash",
    "/etcdserverpb.Maintenance/HashKV",
    "/etcdserverpb.Maintenance/Snapshot",
    "/etcdserverpb.Maintenance/MoveLeader",
    "/etcdserverpb.Maintenance/Downgrade",
];

/// Keys the sketch tracks; those read more than 1/this of all single-key
/// Ranges are surely among them.
pub const HOT_KEY_CAPACITY: usize = 256;
/// The sketch's estimates halve this often.
pub const HOT_KEY_HALF_LIFE: Duration = Duration::from_secs(60);
/// Hot keys exported per scrape.
pub const HOT_KEYS_EXPORTED: usize = 64;

/// One forwarded method's calls.
#[derive(Debug)]
struct MethodCalls {
    forwarded: Counter,
    /// Unary calls only: a stream lasts as long as its client wants.
    latency: Histogram,
}

/// The calls forwarded by method, and the hot-key sketch.
#[derive(Debug)]
pub struct Observed {
    /// `methods[i]` counts `METHODS[i]`.
    methods: Vec<MethodCalls>,
    hot_keys: Mutex<HotKeys>,
}

impl Default for Observed {
    fn default() -> Observed {
        let calls = || MethodCalls { forwarded: Counter::new(), latency: Histogram::new(LATENCY_BUCKETS_SECONDS) };
        Observed {
            methods: METHODS.iter().map(|_| calls()).collect(),
            hot_keys: Mutex::new(HotKeys::new(HOT_KEY_CAPACITY, HOT_KEY_HALF_LIFE, Instant::now())),
        }
    }
}

impl Observed {
    /// Counts a call forwarded to etcd; a unary call's round trip took `latency`.
    pub(crate) fn forwarded(&self, method: &str, latency: Option<Duration>) {
        let Some(calls) = METHODS.iter().position(|m| *m == method).map(|i| &self.methods[i]) else {
            debug_assert!(false, "{method} is not in METHODS");
            return;
        };
        calls.forwarded.inc();
        if let Some(latency) = latency {
            calls.latency.observe(latency.as_secs_f64());
        }
    }

    /// Counts one read of `key` in the hot-key sketch.
    pub(crate) fn read_key(&self, key: &[u8]) {
        self.sketch().record(key, Instant::now());
    }

    /// The `limit` hottest keys of single-key Ranges, hottest first.
    pub fn hot_keys(&self, limit: usize) -> Vec<HotKey> {
        self.sketch().top(limit)
    }

    fn sketch(&self) -> MutexGuard<'_, HotKeys> {
        self.hot_keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Everything in the text format, with `counters` and the `placed`
    /// keys (key, first slot).
    pub fn render(&self, counters: &Counters, placed: &[(Vec<u8>, u16)]) -> String {
        let mut out = Exposition::new();
        for (name, help, field) in EXPORTED_COUNTERS {
            out.counter(name, help, field(counters).load(Relaxed));
        }
        let slot = "netcraq_proxy_placed_slot";
        out.family(slot, Kind::Gauge, "Each placed key's first NetCRAQ slot (one slot per proxy from there).");
        for (key, first_slot) in placed {
            out.sample(slot, &[("key", bytes_label(key).as_str())], f64::from(*first_slot));
        }
        let labels = |method: &'static str| {
            let (service, name) = method.trim_start_matches('/').split_once('/').unwrap_or(("", method));
            [("service", service), ("method", name)]
        };
        out.family("netcraq_proxy_forwarded_total", Kind::Counter, "Calls and streams forwarded to etcd, by method.");
        for (method, calls) in METHODS.iter().zip(&self.methods) {
            out.sample("netcraq_proxy_forwarded_total", &labels(method), calls.forwarded.get());
        }
        let latency = "netcraq_proxy_upstream_latency_seconds";
        out.family(latency, Kind::Histogram, "Round trip of unary calls to etcd (answer or error), by method.");
        for (method, calls) in METHODS.iter().zip(&self.methods).filter(|(_, c)| c.latency.count() > 0) {
            out.histogram(latency, &labels(method), &calls.latency);
        }
        self.render_hot_keys(&mut out);
        out.finish()
    }

    fn render_hot_keys(&self, out: &mut Exposition) {
        let sketch = self.sketch();
        out.gauge("netcraq_proxy_hot_keys_tracked", "Keys the hot-key sketch tracks now.", sketch.len() as f64);
        out.counter(
            "netcraq_proxy_hot_keys_untracked_total",
            "Single-key Ranges of keys too long to track.",
            sketch.untracked(),
        );
        let top = sketch.top(HOT_KEYS_EXPORTED);
        drop(sketch);
        let (reads, error) = ("netcraq_proxy_hot_key_reads", "netcraq_proxy_hot_key_error");
        out.family(reads, Kind::Gauge, "Estimated recent single-key Ranges of each hot key (halved every minute).");
        for hot in &top {
            out.sample(reads, &[("key", bytes_label(&hot.key).as_str())], hot.reads as f64);
        }
        out.family(error, Kind::Gauge, "How much each hot key's estimate may exceed its reads.");
        for hot in &top {
            out.sample(error, &[("key", bytes_label(&hot.key).as_str())], hot.error as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_method_and_hot_key_is_exported() {
        let (observed, counters) = (Observed::default(), Counters::default());
        counters.ranges_forwarded.fetch_add(2, Relaxed);
        observed.forwarded("/etcdserverpb.KV/Range", Some(Duration::from_millis(3)));
        observed.forwarded("/etcdserverpb.Watch/Watch", None);
        observed.read_key(b"/registry/pods/a");
        observed.read_key(b"/registry/pods/a");
        observed.read_key(&[0xff, 0x00]);
        counters.hot_hits.fetch_add(5, Relaxed);
        let placed = [(b"/registry/pods/a".to_vec(), 4)];
        let samples = netcraq_metrics::parse(&observed.render(&counters, &placed)).unwrap();
        assert_eq!(samples.sum("netcraq_proxy_ranges_forwarded_total", &[]), Some(2.0));
        assert_eq!(samples.sum("netcraq_proxy_cache_hits_total", &[]), Some(5.0));
        for (name, _, _) in EXPORTED_COUNTERS {
            assert!(samples.sum(name, &[]).is_some(), "{name}");
        }
        assert_eq!(samples.sum("netcraq_proxy_placed_slot", &[("key", "/registry/pods/a")]), Some(4.0));
        assert_eq!(samples.matching("netcraq_proxy_forwarded_total", &[]).count(), METHODS.len());
        let range = [("service", "etcdserverpb.KV"), ("method", "Range")];
        assert_eq!(samples.sum("netcraq_proxy_forwarded_total", &range), Some(1.0));
        assert_eq!(samples.sum("netcraq_proxy_upstream_latency_seconds_count", &range), Some(1.0));
        assert_eq!(samples.sum("netcraq_proxy_upstream_latency_seconds_bucket", &[("le", "0.0025")]), Some(0.0));
        assert_eq!(samples.sum("netcraq_proxy_upstream_latency_seconds_bucket", &[("le", "0.005")]), Some(1.0));
        assert_eq!(samples.sum("netcraq_proxy_forwarded_total", &[("method", "Watch")]), Some(1.0));
        assert_eq!(samples.sum("netcraq_proxy_hot_key_reads", &[("key", "/registry/pods/a")]), Some(2.0));
        assert_eq!(samples.sum("netcraq_proxy_hot_key_reads", &[("key", "0xff00")]), Some(1.0));
        assert_eq!(samples.sum("netcraq_proxy_hot_keys_tracked", &[]), Some(2.0));
    }
}
