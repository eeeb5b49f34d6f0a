//! The load generator's draw from the shared request mix
//! ([`netcraq_client::mix`]): which operation and which key each request
//! carries, on the hot path, with a tiny generator and keys split by queue.

use netcraq_client::mix::{KeyDistribution, RequestMix};
use netcraq_wire::Op;

/// SplitMix64: small, fast and good enough to draw operations and keys.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (multiply-shift; the bias is below 2^-32), 0 for a bound of 0.
    pub fn below(&mut self, bound: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(bound)) >> 32) as u32
    }
}

/// Draws requests for one queue of a load generator with `queues` queues:
/// key `k` always travels on queue `k % queues`, the queue whose lcore owns
/// it on a multi-core node.
#[derive(Debug, Clone)]
pub struct RequestDraw {
    rng: SplitMix64,
    read_fraction: f64,
    queue: u32,
    queues: u32,
    /// Keys `k < keys` with `k % queues == queue`.
    keys_of_queue: u32,
}

impl RequestDraw {
    /// Fails when the mix is invalid or not uniform from key 0, `queue >=
    /// queues`, or the queue owns no key.
    pub fn new(mix: RequestMix, queue: u16, queues: u16, seed: u64) -> Result<Self, String> {
        mix.validate().map_err(|error| error.to_string())?;
        if mix.first_key != 0 || mix.distribution != KeyDistribution::Uniform {
            return Err(format!("{mix}: the load generator draws keys uniformly from key 0"));
        }
        let (queue, queues) = (u32::from(queue), u32::from(queues));
        if queue >= queues {
            return Err(format!("queue {queue} of {queues}"));
        }
        if mix.key_count <= queue {
            return Err(format!("{} keys leave queue {queue} of {queues} without a key", mix.key_count));
        }
        let keys_of_queue = (mix.key_count - queue).div_ceil(queues);
        let rng = SplitMix64::new(seed ^ (u64::from(queue) << 48));
        Ok(RequestDraw { rng, read_fraction: mix.read_fraction, queue, queues, keys_of_queue })
    }

    /// The next request's operation and key.
    pub fn draw(&mut self) -> (Op, u16) {
        // 53 random bits as a fraction in [0, 1).
        let unit = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let op = if unit < self.read_fraction { Op::Read } else { Op::Write };
        let key = self.rng.below(self.keys_of_queue) * self.queues + self.queue;
        (op, key as u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_on_their_queue_and_in_range() {
        let mix = RequestMix::uniform(0.5, 1001);
        for queue in 0..3 {
            let mut draw = RequestDraw::new(mix, queue, 3, 7).unwrap();
            for _ in 0..10_000 {
                let (_, key) = draw.draw();
                assert!(u32::from(key) < 1001 && key % 3 == queue, "key {key} on queue {queue}");
            }
        }
    }

    #[test]
    fn the_read_fraction_is_respected() {
        let mix = RequestMix::uniform(0.9, 1024);
        let mut draw = RequestDraw::new(mix, 0, 1, 1).unwrap();
        let reads = (0..100_000).filter(|_| draw.draw().0 == Op::Read).count();
        assert!((89_000..91_000).contains(&reads), "{reads} reads of 100000");
        let mut all_reads = RequestDraw::new(RequestMix::uniform(1.0, 1), 0, 1, 1).unwrap();
        assert!((0..1000).all(|_| all_reads.draw() == (Op::Read, 0)));
        let mut all_writes = RequestDraw::new(RequestMix::uniform(0.0, 4), 0, 1, 1).unwrap();
        assert!((0..1000).all(|_| all_writes.draw().0 == Op::Write));
    }

    #[test]
    fn every_key_of_the_queue_is_drawn() {
        let mut draw = RequestDraw::new(RequestMix::uniform(0.9, 16), 1, 2, 3).unwrap();
        let mut seen = [false; 16];
        (0..10_000).for_each(|_| seen[usize::from(draw.draw().1)] = true);
        assert_eq!(seen.iter().filter(|s| **s).count(), 8);
    }

    #[test]
    fn bad_mixes_are_refused() {
        assert!(RequestDraw::new(RequestMix::uniform(1.5, 10), 0, 1, 0).is_err());
        assert!(RequestDraw::new(RequestMix::uniform(0.5, 0), 0, 1, 0).is_err());
        assert!(RequestDraw::new(RequestMix::uniform(0.5, 65_537), 0, 1, 0).is_err());
        let zipf = RequestMix { distribution: KeyDistribution::Zipf { exponent: 1.0 }, ..RequestMix::uniform(0.5, 8) };
        assert!(RequestDraw::new(zipf, 0, 1, 0).is_err());
        assert!(RequestDraw::new(RequestMix::uniform(0.5, 1), 1, 2, 0).is_err());
        assert!(RequestDraw::new(RequestMix::uniform(0.9, 1024), 2, 2, 0).is_err());
    }
}
