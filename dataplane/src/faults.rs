//! Seeded fault injection on a node's transmit path: loss, duplication and
//! reordering, so tests can stress a real chain reproducibly without netem.
//! Backend-agnostic: the AF_PACKET and DPDK ports both run frames through it.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Probabilities in percent, applied independently to every frame sent.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaultSettings {
    pub loss_percent: f64,
    pub duplicate_percent: f64,
    /// A reordered frame is held back and sent after the next frame on the
    /// same port (or when the port next falls idle).
    pub reorder_percent: f64,
    pub seed: u64,
}

impl FaultSettings {
    pub fn is_active(&self) -> bool {
        self.loss_percent > 0.0 || self.duplicate_percent > 0.0 || self.reorder_percent > 0.0
    }

    /// Checks every probability is within 0..=100.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in
            [("loss", self.loss_percent), ("duplicate", self.duplicate_percent), ("reorder", self.reorder_percent)]
        {
            if !(0.0..=100.0).contains(&value) {
                return Err(format!("{name} percentage {value} is outside 0..=100"));
            }
        }
        Ok(())
    }
}

/// What to do with one frame about to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultDecision {
    Send,
    Drop,
    SendTwice,
    HoldBack,
}

/// Counts of the faults injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultCounters {
    pub dropped: u64,
    pub duplicated: u64,
    pub reordered: u64,
}

/// Draws a decision per frame from a seeded generator.
#[derive(Debug, Clone)]
pub struct FaultInjector {
    settings: FaultSettings,
    rng: SmallRng,
    pub counters: FaultCounters,
}

impl FaultInjector {
    pub fn new(settings: FaultSettings) -> Self {
        FaultInjector { settings, rng: SmallRng::seed_from_u64(settings.seed), counters: FaultCounters::default() }
    }

    pub fn decide(&mut self) -> FaultDecision {
        if !self.settings.is_active() {
            return FaultDecision::Send;
        }
        let draw: f64 = self.rng.gen_range(0.0..100.0);
        let s = &self.settings;
        if draw < s.loss_percent {
            self.counters.dropped += 1;
            FaultDecision::Drop
        } else if draw < s.loss_percent + s.duplicate_percent {
            self.counters.duplicated += 1;
            FaultDecision::SendTwice
        } else if draw < s.loss_percent + s.duplicate_percent + s.reorder_percent {
            self.counters.reordered += 1;
            FaultDecision::HoldBack
        } else {
            FaultDecision::Send
        }
    }
}
