//! The request mix every NetCRAQ client draws from: the share of reads, the
//! keys and how often each is chosen. The UDP load generator, the
//! simulator's clients and the DPDK load generator validate and describe
//! their load with it, so one rule decides what a valid load is.

use std::fmt::{self, Display, Formatter};

use netcraq_linearizability::Value;
use rand::rngs::SmallRng;
use rand::Rng;

use crate::error::RequestKind;

/// The largest key space a node serves (`key_hi` is at most 65536).
pub const MAX_KEYS: u32 = 1 << 16;

/// How often each key is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDistribution {
    Uniform,
    /// Zipf-like skew: the key of rank `r` (the first key has rank 1) is
    /// chosen with weight `1 / r^exponent`. Around 1 a few keys take most of
    /// the traffic, which keeps their writes in flight and so exercises
    /// reads of dirty keys.
    Zipf {
        exponent: f64,
    },
}

/// What a load asks for: a share of READs (the rest WRITEs) over
/// `key_count` keys from `first_key`, drawn by `distribution`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestMix {
    pub read_fraction: f64,
    pub first_key: u16,
    pub key_count: u32,
    pub distribution: KeyDistribution,
}

/// Why a mix cannot be drawn from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MixError {
    ReadFraction(f64),
    KeyCount(u32),
    /// The keys run past 65535.
    KeysPastLast {
        first_key: u16,
        key_count: u32,
    },
    /// Not finite, or not above 0 (an exponent of 0 is the uniform
    /// distribution: ask for that).
    ZipfExponent(f64),
}

impl MixError {
    /// The rule broken, without the values.
    pub fn reason(&self) -> &'static str {
        match self {
            MixError::ReadFraction(_) => "read fraction must be within 0..=1",
            MixError::KeyCount(_) => "key count must be 1..=65536",
            MixError::KeysPastLast { .. } => "the keys run past key 65535",
            MixError::ZipfExponent(_) => "a Zipf exponent must be finite and above 0",
        }
    }
}

impl Display for MixError {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MixError::ReadFraction(fraction) => write!(f, "read fraction {fraction} is outside 0..=1"),
            MixError::KeyCount(count) => write!(f, "{count} keys: give 1 to {MAX_KEYS}"),
            MixError::KeysPastLast { first_key, key_count } => {
                write!(f, "{key_count} keys from key {first_key} run past key 65535")
            }
            MixError::ZipfExponent(exponent) => {
                write!(f, "Zipf exponent {exponent}: give a finite number above 0 (0 is uniform)")
            }
        }
    }
}

impl std::error::Error for MixError {}

impl RequestMix {
    /// Uniform keys `0..key_count`.
    pub fn uniform(read_fraction: f64, key_count: u32) -> Self {
        RequestMix { read_fraction, first_key: 0, key_count, distribution: KeyDistribution::Uniform }
    }

    pub fn validate(&self) -> Result<(), MixError> {
        if !(0.0..=1.0).contains(&self.read_fraction) {
            return Err(MixError::ReadFraction(self.read_fraction));
        }
        if !(1..=MAX_KEYS).contains(&self.key_count) {
            return Err(MixError::KeyCount(self.key_count));
        }
        if u32::from(self.first_key) + self.key_count > MAX_KEYS {
            return Err(MixError::KeysPastLast { first_key: self.first_key, key_count: self.key_count });
        }
        match self.distribution {
            KeyDistribution::Zipf { exponent } if !(exponent.is_finite() && exponent > 0.0) => {
                Err(MixError::ZipfExponent(exponent))
            }
            _ => Ok(()),
        }
    }
}

impl Display for RequestMix {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let reads_percent = self.read_fraction * 100.0;
        let (first, end) = (self.first_key, u32::from(self.first_key) + self.key_count);
        write!(f, "{reads_percent:.0}% READ / {:.0}% WRITE, keys ", 100.0 - reads_percent)?;
        match self.distribution {
            KeyDistribution::Uniform => write!(f, "uniform over {first}..{end}"),
            KeyDistribution::Zipf { exponent } => write!(f, "Zipf ({exponent}) over {first}..{end}"),
        }
    }
}

/// A valid mix ready to draw from: built once, shared by the draws.
#[derive(Debug, Clone)]
pub struct MixSampler {
    read_fraction: f64,
    first_key: u16,
    keys: KeySampler,
}

#[derive(Debug, Clone)]
enum KeySampler {
    Uniform(u32),
    /// Running sums of the weights, one per key.
    Cumulative(Vec<f64>),
}

impl MixSampler {
    pub fn new(mix: &RequestMix) -> Result<Self, MixError> {
        mix.validate()?;
        let keys = match mix.distribution {
            KeyDistribution::Uniform => KeySampler::Uniform(mix.key_count),
            KeyDistribution::Zipf { exponent } => {
                let weights = (1..=mix.key_count).map(|rank| f64::from(rank).powf(-exponent));
                let cumulative = weights
                    .scan(0.0, |total, weight| {
                        *total += weight;
                        Some(*total)
                    })
                    .collect();
                KeySampler::Cumulative(cumulative)
            }
        };
        Ok(MixSampler { read_fraction: mix.read_fraction, first_key: mix.first_key, keys })
    }

    /// The next request's key, then whether it reads or writes.
    pub fn draw(&self, rng: &mut SmallRng) -> (RequestKind, u16) {
        let key = self.key(rng);
        let kind = if rng.gen_bool(self.read_fraction) { RequestKind::Read } else { RequestKind::Write };
        (kind, key)
    }

    fn key(&self, rng: &mut SmallRng) -> u16 {
        let index = match &self.keys {
            KeySampler::Uniform(count) => rng.gen_range(0..*count),
            KeySampler::Cumulative(cumulative) => {
                let total = cumulative.last().copied().unwrap_or(0.0);
                let point = rng.gen::<f64>() * total;
                // Below the key count, which validation bounds by 65536 - first_key.
                cumulative.partition_point(|sum| *sum <= point).min(cumulative.len() - 1) as u32
            }
        };
        (u32::from(self.first_key) + index) as u16
    }
}

/// The values one writer writes: its number, then its count of writes. No
/// other writer's write carries the same value, and none is all zeros (the
/// registers' initial value), so a read names the write it saw.
#[derive(Debug, Clone)]
pub struct WriteValues {
    writer: u64,
    written: u64,
}

impl WriteValues {
    pub fn new(writer: u64) -> Self {
        WriteValues { writer, written: 0 }
    }

    pub fn next_value(&mut self) -> Value {
        self.written += 1;
        let mut value = Value::default();
        value[..8].copy_from_slice(&self.writer.to_be_bytes());
        value[8..].copy_from_slice(&self.written.to_be_bytes());
        value
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn counts(mix: RequestMix, draws: usize) -> Vec<usize> {
        let sampler = MixSampler::new(&mix).unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let mut counts = vec![0; mix.key_count as usize];
        for _ in 0..draws {
            let (_, key) = sampler.draw(&mut rng);
            let index = usize::from(key).wrapping_sub(usize::from(mix.first_key));
            assert!(index < counts.len(), "{key} outside {mix:?}");
            counts[index] += 1;
        }
        counts
    }

    #[test]
    fn uniform_keys_stay_in_range_and_are_all_used() {
        let mix = RequestMix { first_key: 10, key_count: 10, ..RequestMix::uniform(0.5, 10) };
        let counts = counts(mix, 10_000);
        assert!(counts.iter().all(|&count| (800..1200).contains(&count)), "{counts:?}");
    }

    #[test]
    fn zipf_keys_favour_the_first_ranks() {
        let mix = RequestMix {
            first_key: 100,
            distribution: KeyDistribution::Zipf { exponent: 1.0 },
            ..RequestMix::uniform(0.5, 64)
        };
        let counts = counts(mix, 20_000);
        // Rank 1 weighs twice rank 2 and 64 times rank 64.
        assert!(counts[0] > counts[1] * 3 / 2, "{counts:?}");
        assert!(counts[0] > counts[63] * 20, "{counts:?}");
        assert!(counts[63] > 0, "{counts:?}");
    }

    #[test]
    fn the_whole_key_space_can_be_drawn_from() {
        let mix =
            RequestMix { distribution: KeyDistribution::Zipf { exponent: 0.5 }, ..RequestMix::uniform(1.0, 1 << 16) };
        assert_eq!(mix.validate(), Ok(()));
        let sampler = MixSampler::new(&mix).unwrap();
        let mut rng = SmallRng::seed_from_u64(2);
        assert!((0..1000).all(|_| sampler.draw(&mut rng).0 == RequestKind::Read));
    }

    #[test]
    fn bad_mixes_are_refused_with_the_rule_they_break() {
        let good = RequestMix::uniform(0.5, 10);
        assert_eq!(RequestMix { read_fraction: 1.5, ..good }.validate(), Err(MixError::ReadFraction(1.5)));
        assert!(RequestMix { read_fraction: f64::NAN, ..good }.validate().is_err());
        assert_eq!(RequestMix { key_count: 0, ..good }.validate(), Err(MixError::KeyCount(0)));
        assert_eq!(RequestMix { key_count: 65_537, ..good }.validate(), Err(MixError::KeyCount(65_537)));
        let past = RequestMix { first_key: 65_530, ..good };
        assert_eq!(past.validate(), Err(MixError::KeysPastLast { first_key: 65_530, key_count: 10 }));
        for exponent in [0.0, -1.0, f64::INFINITY] {
            let zipf = RequestMix { distribution: KeyDistribution::Zipf { exponent }, ..good };
            assert!(matches!(zipf.validate(), Err(MixError::ZipfExponent(_))), "{exponent}");
        }
        assert_eq!(MixError::KeyCount(0).to_string(), "0 keys: give 1 to 65536");
    }

    #[test]
    fn writers_never_repeat_a_value_nor_write_zeros() {
        let mut values = std::collections::HashSet::new();
        for writer in 0..3 {
            let mut writes = WriteValues::new(writer);
            assert!((0..100).all(|_| values.insert(writes.next_value())));
        }
        assert!(!values.contains(&Value::default()));
    }

    #[test]
    fn a_mix_reads_as_its_shares_and_keys() {
        assert_eq!(RequestMix::uniform(0.9, 1024).to_string(), "90% READ / 10% WRITE, keys uniform over 0..1024");
    }
}
