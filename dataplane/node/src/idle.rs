//! What a polling node does when idle. Outside the `dpdk` feature so the
//! command parses `--dpdk-idle` the same whether or not DPDK is built in.

use std::fmt;
use std::time::Duration;

/// What the poll loop does once it has found nothing to receive for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Keep polling at full speed: lowest latency, one CPU at 100 %.
    Spin,
    /// Yield the CPU between rounds.
    Yield,
    /// Sleep this long between rounds: correctness tests can run more
    /// pollers than there are cores. Adds up to that much latency to the
    /// first frame after a quiet spell.
    Sleep(Duration),
}

impl Idle {
    pub fn wait(self) {
        match self {
            Idle::Spin => std::hint::spin_loop(),
            Idle::Yield => std::thread::yield_now(),
            Idle::Sleep(duration) => std::thread::sleep(duration),
        }
    }
}

impl fmt::Display for Idle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Idle::Spin => write!(f, "spin"),
            Idle::Yield => write!(f, "yield"),
            Idle::Sleep(duration) => write!(f, "sleep:{}", duration.as_micros()),
        }
    }
}
