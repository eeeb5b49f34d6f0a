//! Latency histograms in nanoseconds, reported in microseconds.

use netcraq_client::Latencies;

/// The longest latency recorded as it is; longer ones count as this.
const MAX_LATENCY_NS: u64 = 10_000_000_000;

/// Round-trip times of answered requests.
#[derive(Debug, Clone)]
pub struct LatencyRecorder {
    histogram: Latencies,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        // 3 significant digits from 1 ns to 10 s: fixed bounds, never resized.
        LatencyRecorder { histogram: Latencies::new(MAX_LATENCY_NS) }
    }
}

impl LatencyRecorder {
    pub fn record_ns(&mut self, latency_ns: u64) {
        self.histogram.record(latency_ns);
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The latency at `quantile` (0..=1) in microseconds; 0 when nothing was recorded.
    pub fn quantile_us(&self, quantile: f64) -> f64 {
        match self.histogram.len() {
            0 => 0.0,
            _ => self.histogram.value_at_quantile(quantile) as f64 / 1000.0,
        }
    }

    pub fn max_us(&self) -> f64 {
        self.histogram.max() as f64 / 1000.0
    }

    /// Adds the latencies of another recorder (one per queue).
    pub fn absorb(&mut self, other: &LatencyRecorder) {
        self.histogram.absorb(&other.histogram);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_in_microseconds() {
        let mut latency = LatencyRecorder::default();
        assert_eq!(latency.quantile_us(0.5), 0.0);
        for ns in 1..=1000u64 {
            latency.record_ns(ns * 1000);
        }
        assert_eq!(latency.count(), 1000);
        assert!((latency.quantile_us(0.5) - 500.0).abs() < 1.0, "{}", latency.quantile_us(0.5));
        assert!((latency.quantile_us(0.99) - 990.0).abs() < 1.0, "{}", latency.quantile_us(0.99));
        assert!((latency.max_us() - 1000.0).abs() < 1.0);
    }

    #[test]
    fn out_of_range_latencies_are_clamped_and_recorders_merge() {
        let mut a = LatencyRecorder::default();
        a.record_ns(0);
        a.record_ns(u64::MAX);
        let mut b = LatencyRecorder::default();
        b.record_ns(2000);
        b.absorb(&a);
        assert_eq!(b.count(), 3);
        assert!(b.max_us() >= 9_000_000.0);
    }
}
