//! The lease clock of the software and DPDK nodes (`docs/protocol.md` §2.4):
//! the monotonic clock in microseconds since the node started, shifted right
//! by 10 (a tick is 1.024 ms), as 32 bits that wrap. The core reads no
//! clock: the poll loop reads this one and hands it to
//! [`netcraq_core::Node::set_clock`].

use std::time::{Duration, Instant};

/// Microseconds are shifted right by this much: a tick is 1024 µs.
const TICK_SHIFT: u32 = 10;

/// A node's lease clock: where it counts from. Every lcore of a node shares
/// one, though each compares only its own readings.
#[derive(Debug, Clone, Copy)]
pub struct LeaseClock {
    origin: Instant,
}

impl LeaseClock {
    /// A clock that reads 0 now.
    pub fn start() -> LeaseClock {
        LeaseClock { origin: Instant::now() }
    }

    /// `now` in ticks: wraps after 2^32 ticks (about 50 days).
    pub fn now_ticks(&self) -> u32 {
        ticks(self.origin.elapsed())
    }
}

fn ticks(elapsed: Duration) -> u32 {
    // Truncating to 32 bits is the wrap of §2.4.
    (elapsed.as_micros() >> TICK_SHIFT) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_is_1024_microseconds_and_the_clock_wraps_at_32_bits() {
        assert_eq!(ticks(Duration::from_micros(5 * 1024 + 1023)), 5);
        assert_eq!(ticks(Duration::from_micros(6 * 1024)), 6);
        assert_eq!(ticks(Duration::from_micros((1 << 42) + 3 * 1024)), 3);
        let clock = LeaseClock::start();
        assert!(clock.now_ticks() < 1000, "a new clock reads about 0");
    }
}
