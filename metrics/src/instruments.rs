//! The instruments: plain atomics, updated with relaxed ordering (a scrape
//! needs no ordering between two metrics).

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

/// A count that only grows (it wraps at 2^64, as the nodes' counters do).
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }

    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub const fn new() -> Gauge {
        Gauge(AtomicU64::new(0))
    }

    #[inline]
    pub fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Relaxed);
    }

    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Relaxed))
    }
}

/// Latency buckets in seconds, 100 µs to 10 s: a proxied etcd call, a
/// failure detection.
pub const LATENCY_BUCKETS_SECONDS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Observations counted into fixed buckets (upper bounds, ascending; the
/// `+Inf` bucket is implicit), with their sum and count.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// `counts[i]`: observations in bucket i alone (not cumulative); the
    /// last one is `+Inf`'s.
    counts: Box<[AtomicU64]>,
    sum_bits: AtomicU64,
}

impl Histogram {
    /// A histogram over `bounds`, which must ascend.
    pub fn new(bounds: &'static [f64]) -> Histogram {
        assert!(bounds.windows(2).all(|w| w[0] < w[1]), "histogram bounds must ascend");
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }
    }

    #[inline]
    pub fn observe(&self, value: f64) {
        let bucket = self.bounds.iter().position(|bound| value <= *bound).unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(1, Relaxed);
        let _ = self.sum_bits.fetch_update(Relaxed, Relaxed, |bits| Some((f64::from_bits(bits) + value).to_bits()));
    }

    pub fn bounds(&self) -> &'static [f64] {
        self.bounds
    }

    /// The cumulative count of each bound's bucket, then of `+Inf` (the total).
    pub fn cumulative_counts(&self) -> Vec<u64> {
        let mut total = 0u64;
        self.counts
            .iter()
            .map(|count| {
                total = total.wrapping_add(count.load(Relaxed));
                total
            })
            .collect()
    }

    pub fn count(&self) -> u64 {
        self.cumulative_counts().last().copied().unwrap_or(0)
    }

    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum_bits.load(Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_into_its_buckets_cumulatively() {
        let histogram = Histogram::new(&[0.1, 1.0]);
        for value in [0.05, 0.1, 0.5, 3.0] {
            histogram.observe(value);
        }
        assert_eq!(histogram.cumulative_counts(), [2, 3, 4], "≤0.1: 2; ≤1: 3; +Inf: 4");
        assert_eq!(histogram.count(), 4);
        assert!((histogram.sum() - 3.65).abs() < 1e-9);
    }

    #[test]
    fn counters_and_gauges_hold_their_values() {
        let counter = Counter::new();
        counter.inc();
        counter.add(41);
        assert_eq!(counter.get(), 42);
        let gauge = Gauge::new();
        gauge.set(-2.5);
        assert_eq!(gauge.get(), -2.5);
    }
}
