//! Point-to-point links: their delays, their faults and what they counted.

use rand::rngs::SmallRng;
use rand::Rng;

/// Index of a link in its [`Wiring`](super::Wiring).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub usize);

/// One link's delays and faults, the same in both directions.
///
/// The default is a clean link: 2 µs latency (a few metres of cable plus NIC
/// and switch port), no jitter, no loss, no duplication, and at most 256
/// frames in flight per direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// Delay every frame sees.
    pub latency_ns: u64,
    /// Extra delay drawn per frame, uniformly in `0..=jitter_ns`; frames
    /// closer together than this overtake each other.
    pub jitter_ns: u64,
    /// Chance that a frame is lost.
    pub loss_probability: f64,
    /// Chance that a frame arrives twice (each copy with its own delay).
    pub duplicate_probability: f64,
    /// Frames in flight per direction; a frame sent beyond it is dropped and counted.
    pub queue_capacity_frames: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency_ns: 2_000,
            jitter_ns: 0,
            loss_probability: 0.0,
            duplicate_probability: 0.0,
            queue_capacity_frames: 256,
        }
    }
}

impl LinkConfig {
    /// Why this configuration cannot be used, if it cannot.
    pub fn problem(&self) -> Option<&'static str> {
        let probability = 0.0..=1.0;
        if !probability.contains(&self.loss_probability) {
            Some("loss probability must be within 0..=1")
        } else if !probability.contains(&self.duplicate_probability) {
            Some("duplicate probability must be within 0..=1")
        } else if self.queue_capacity_frames == 0 {
            Some("a link queue needs room for at least one frame")
        } else {
            None
        }
    }

    /// How many copies of one frame reach the far end: 0 (lost), 1, or 2
    /// (duplicated; never a WRITE request, as with [`netcraq_node::faults`]).
    pub(crate) fn copies(&self, rng: &mut SmallRng, frame: &[u8]) -> usize {
        if self.loss_probability > 0.0 && rng.gen_bool(self.loss_probability) {
            0
        } else if self.duplicate_probability > 0.0
            && rng.gen_bool(self.duplicate_probability)
            && !netcraq_node::faults::is_unstamped_write(frame)
        {
            2
        } else {
            1
        }
    }

    pub(crate) fn delay_ns(&self, rng: &mut SmallRng) -> u64 {
        match self.jitter_ns {
            0 => self.latency_ns,
            jitter_ns => self.latency_ns + rng.gen_range(0..=jitter_ns),
        }
    }
}

/// What happened to the frames sent on one link (both directions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Frames handed to the link.
    pub sent: u64,
    /// Copies that reached the far end.
    pub delivered: u64,
    pub lost: u64,
    /// Frames that were sent twice.
    pub duplicated: u64,
    /// Copies dropped because the direction's queue was full.
    pub overflowed: u64,
}

impl LinkCounters {
    pub fn add(&mut self, other: &LinkCounters) {
        self.sent += other.sent;
        self.delivered += other.delivered;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.overflowed += other.overflowed;
    }
}
