//! Which keys are read most: a Space-Saving sketch (Metwally, Agrawal and
//! El Abbadi, 2005) of at most `capacity` keys, fed by every single-key
//! Range. Any key read more than `reads / capacity` times is in it; each
//! count over-estimates its key's reads by at most the entry's `error`.
//! Counts are halved every `half_life`, so the sketch follows recent heat.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Keys longer than this are not tracked (Kubernetes keys are far shorter);
/// they are counted in [`HotKeys::untracked`].
pub const MAX_TRACKED_KEY_BYTES: usize = 1024;

/// One tracked key: its estimated reads, over-estimated by at most `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotKey {
    pub key: Vec<u8>,
    pub reads: u64,
    pub error: u64,
}

#[derive(Debug, Clone, Copy)]
struct Estimate {
    reads: u64,
    error: u64,
}

/// The sketch: at most `capacity` keys, whatever the stream.
#[derive(Debug)]
pub struct HotKeys {
    capacity: usize,
    half_life: Duration,
    last_halved: Instant,
    tracked: HashMap<Box<[u8]>, Estimate>,
    untracked: u64,
}

impl HotKeys {
    /// A sketch of `capacity` keys (at least 1), halving every `half_life`.
    pub fn new(capacity: usize, half_life: Duration, now: Instant) -> HotKeys {
        let capacity = capacity.max(1);
        HotKeys { capacity, half_life, last_halved: now, tracked: HashMap::with_capacity(capacity), untracked: 0 }
    }

    /// Counts one read of `key`: its own entry, a free one, or the entry
    /// with the fewest reads, which it takes over (Space-Saving).
    pub fn record(&mut self, key: &[u8], now: Instant) {
        if now.duration_since(self.last_halved) >= self.half_life {
            self.halve();
            self.last_halved = now;
        }
        if key.len() > MAX_TRACKED_KEY_BYTES {
            self.untracked += 1;
            return;
        }
        if let Some(estimate) = self.tracked.get_mut(key) {
            estimate.reads += 1;
            return;
        }
        let mut estimate = Estimate { reads: 1, error: 0 };
        if self.tracked.len() >= self.capacity {
            let coldest = self.tracked.iter().min_by_key(|(_, e)| e.reads).map(|(k, e)| (k.clone(), *e));
            if let Some((coldest, min)) = coldest {
                self.tracked.remove(&coldest);
                estimate = Estimate { reads: min.reads + 1, error: min.reads };
            }
        }
        self.tracked.insert(key.into(), estimate);
    }

    /// The `limit` keys with the most estimated reads, most first (ties: by key).
    pub fn top(&self, limit: usize) -> Vec<HotKey> {
        let mut keys: Vec<HotKey> =
            self.tracked.iter().map(|(key, e)| HotKey { key: key.to_vec(), reads: e.reads, error: e.error }).collect();
        keys.sort_by(|a, b| b.reads.cmp(&a.reads).then_with(|| a.key.cmp(&b.key)));
        keys.truncate(limit);
        keys
    }

    /// Keys tracked now (at most the capacity).
    pub fn len(&self) -> usize {
        self.tracked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracked.is_empty()
    }

    /// Reads of keys too long to track.
    pub fn untracked(&self) -> u64 {
        self.untracked
    }

    /// Halves every estimate; entries left at 0 reads are dropped.
    fn halve(&mut self) {
        self.tracked.retain(|_, e| {
            *e = Estimate { reads: e.reads / 2, error: e.error / 2 };
            e.reads > 0
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn feed(sketch: &mut HotKeys, stream: &[(&[u8], u64)], now: Instant) {
        for (key, times) in stream {
            (0..*times).for_each(|_| sketch.record(key, now));
        }
    }

    #[test]
    fn counts_are_exact_while_every_key_fits() {
        let now = Instant::now();
        let mut sketch = HotKeys::new(4, HOUR, now);
        feed(&mut sketch, &[(b"a", 3), (b"b", 5), (b"c", 1)], now);
        let top = sketch.top(2);
        assert_eq!(
            top,
            [HotKey { key: b"b".to_vec(), reads: 5, error: 0 }, HotKey { key: b"a".to_vec(), reads: 3, error: 0 }]
        );
        assert_eq!(sketch.len(), 3);
    }

    #[test]
    fn a_heavy_hitter_is_found_among_many_cold_keys_within_its_error() {
        let now = Instant::now();
        let mut sketch = HotKeys::new(8, HOUR, now);
        // 1000 reads of distinct cold keys and, after every fourth, one of
        // the hot key: 250 of 1250 reads, above 1250 / 8.
        let mut hot_reads = 0;
        for i in 0..1000u32 {
            sketch.record(format!("cold{i}").as_bytes(), now);
            if i % 4 == 0 {
                sketch.record(b"hot", now);
                hot_reads += 1;
            }
        }
        assert_eq!(sketch.len(), 8, "bounded by its capacity");
        let top = sketch.top(1);
        assert_eq!(top[0].key, b"hot");
        assert!(top[0].reads - top[0].error <= hot_reads && hot_reads <= top[0].reads, "{:?} vs {hot_reads}", top[0]);
    }

    #[test]
    fn estimates_halve_every_half_life_and_long_keys_are_not_tracked() {
        let start = Instant::now();
        let mut sketch = HotKeys::new(4, Duration::from_secs(60), start);
        feed(&mut sketch, &[(b"a", 9), (b"b", 1)], start);
        sketch.record(b"a", start + Duration::from_secs(61));
        assert_eq!(sketch.top(4), [HotKey { key: b"a".to_vec(), reads: 5, error: 0 }], "9/2 + 1; b fell to 0");
        sketch.record(&[b'x'; MAX_TRACKED_KEY_BYTES + 1], start);
        assert_eq!((sketch.untracked(), sketch.len()), (1, 1));
    }
}
