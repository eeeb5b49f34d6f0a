//! Latencies of finished operations, in whatever unit the caller records.

use hdrhistogram::Histogram;

/// An HDR histogram with fixed bounds and 3 significant digits: recording
/// never allocates and never fails; a value above the bound counts as the
/// bound, one below 1 as 1.
#[derive(Debug, Clone)]
pub struct Latencies {
    histogram: Histogram<u64>,
}

impl Latencies {
    /// Values from 1 to `max` (at least 2).
    pub fn new(max: u64) -> Self {
        let histogram = Histogram::new_with_bounds(1, max.max(2), 3).expect("bounds of at least 1 and 2 are valid");
        Latencies { histogram }
    }

    pub fn record(&mut self, value: u64) {
        self.histogram.saturating_record(value.max(1));
    }

    /// Adds the latencies of another histogram with the same bounds (another
    /// client, queue or run).
    pub fn absorb(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// The latency at `quantile` (0..=1); 0 when nothing was recorded.
    pub fn value_at_quantile(&self, quantile: f64) -> u64 {
        self.histogram.value_at_quantile(quantile)
    }

    pub fn max(&self) -> u64 {
        self.histogram.max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_held_within_the_bounds_and_histograms_add() {
        let mut latencies = Latencies::new(1000);
        assert!(latencies.is_empty() && latencies.value_at_quantile(0.5) == 0);
        latencies.record(0);
        latencies.record(5000);
        assert_eq!(latencies.len(), 2);
        assert!(latencies.max() >= 1000 && latencies.max() < 1010, "{}", latencies.max());
        let mut total = Latencies::new(1000);
        total.absorb(&latencies);
        total.absorb(&latencies);
        assert_eq!(total.len(), 4);
        assert_eq!(total.value_at_quantile(0.0), 1);
    }
}
