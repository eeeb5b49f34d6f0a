//! Choosing the key of each operation.

use std::ops::Range;

use rand::rngs::SmallRng;
use rand::Rng;

/// How often each key is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDistribution {
    Uniform,
    /// Zipf-like skew: the key of rank `r` (the range's first key has rank 1)
    /// is chosen with weight `1 / r^exponent`. Exponent 0 is uniform; around
    /// 1 a few keys take most of the traffic, which keeps their writes in
    /// flight and so exercises reads of dirty keys.
    Zipf {
        exponent: f64,
    },
}

pub(crate) enum KeyChooser {
    Uniform {
        keys: Range<u16>,
    },
    /// Running sums of the weights, one per key of the range.
    Skewed {
        first_key: u16,
        cumulative_weights: Vec<f64>,
    },
}

impl KeyChooser {
    /// `keys` must not be empty.
    pub(crate) fn new(keys: Range<u16>, distribution: KeyDistribution) -> Self {
        match distribution {
            KeyDistribution::Uniform => KeyChooser::Uniform { keys },
            KeyDistribution::Zipf { exponent } => {
                let ranks = 1..=keys.len();
                let cumulative_weights = ranks
                    .scan(0.0, |sum, rank| {
                        *sum += (rank as f64).powf(-exponent);
                        Some(*sum)
                    })
                    .collect();
                KeyChooser::Skewed { first_key: keys.start, cumulative_weights }
            }
        }
    }

    pub(crate) fn choose(&self, rng: &mut SmallRng) -> u16 {
        match self {
            KeyChooser::Uniform { keys } => rng.gen_range(keys.clone()),
            KeyChooser::Skewed { first_key, cumulative_weights } => {
                let total = cumulative_weights.last().copied().unwrap_or_default();
                let point = rng.gen_range(0.0..total);
                let rank_index = cumulative_weights.partition_point(|&sum| sum <= point);
                // The index is below the range's length, which fits in a u16.
                first_key + rank_index.min(cumulative_weights.len() - 1) as u16
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn counts(chooser: &KeyChooser, keys: Range<u16>, draws: usize) -> Vec<usize> {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut counts = vec![0; keys.len()];
        for _ in 0..draws {
            let key = chooser.choose(&mut rng);
            assert!(keys.contains(&key), "{key} outside {keys:?}");
            counts[usize::from(key - keys.start)] += 1;
        }
        counts
    }

    #[test]
    fn uniform_keys_stay_in_range_and_are_all_used() {
        let chooser = KeyChooser::new(10..20, KeyDistribution::Uniform);
        let counts = counts(&chooser, 10..20, 10_000);
        assert!(counts.iter().all(|&count| (800..1200).contains(&count)), "{counts:?}");
    }

    #[test]
    fn zipf_keys_favour_the_first_ranks() {
        let chooser = KeyChooser::new(100..164, KeyDistribution::Zipf { exponent: 1.0 });
        let counts = counts(&chooser, 100..164, 20_000);
        // Rank 1 weighs twice rank 2 and 64 times rank 64.
        assert!(counts[0] > counts[1] * 3 / 2, "{counts:?}");
        assert!(counts[0] > counts[63] * 20, "{counts:?}");
        assert!(counts[63] > 0, "{counts:?}");
    }
}
