//! Point-to-point links: their delays, their faults and what they counted.

use netcraq_core::faults::{FaultDecision, PortFaults};
use rand::rngs::SmallRng;
use rand::Rng;

/// Index of a link in its [`Wiring`](super::Wiring).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub usize);

/// One link's delays and faults, the same in both directions.
///
/// The default is a clean link: 2 µs latency (a few metres of cable plus NIC
/// and switch port), no jitter, no faults, and at most 256 frames in flight
/// per direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// Delay every frame sees.
    pub latency_ns: u64,
    /// Extra delay drawn per frame, uniformly in `0..=jitter_ns`; frames
    /// closer together than this overtake each other.
    pub jitter_ns: u64,
    /// Loss and duplication (each copy with its own delay), decided as a
    /// node port decides them. A link reorders through `jitter_ns`, so its
    /// `reorder_percent` stays 0.
    pub faults: PortFaults,
    /// Frames in flight per direction; a frame sent beyond it is dropped and counted.
    pub queue_capacity_frames: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig { latency_ns: 2_000, jitter_ns: 0, faults: PortFaults::default(), queue_capacity_frames: 256 }
    }
}

impl LinkConfig {
    /// Why this configuration cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if let Err(problem) = self.faults.validate() {
            Some(problem)
        } else if self.faults.reorder_percent != 0.0 {
            Some("a link reorders through jitter_ns: its reorder_percent must be 0".to_string())
        } else if self.queue_capacity_frames == 0 {
            Some("a link queue needs room for at least one frame".to_string())
        } else {
            None
        }
    }

    /// How many copies of one frame reach the far end: 0 (lost), 1, or 2.
    pub(crate) fn copies(&self, rng: &mut SmallRng, frame: &[u8]) -> usize {
        if self.faults.is_none() {
            return 1;
        }
        match self.faults.decide(rng.gen_range(0.0..100.0), frame) {
            FaultDecision::Drop => 0,
            FaultDecision::SendTwice => 2,
            FaultDecision::Send | FaultDecision::HoldBack => 1,
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
