//! The control plane's estimate of a node's lease clock (`docs/protocol.md`
//! §9.3): the arithmetic only, no I/O.
//!
//! The controller sends a `RENEW` at its instant `s` (a clock read, or a
//! renewal) and reads the node's `lease_clock = c` in a response at its
//! instant `r`. The node's clock read `c` at some instant between `s` and
//! `r`, so at a later instant `t` it reads at least `c + ticks(t − r)` and at
//! most `c + ticks(t − s)`, plus the drift between the two clocks since.
//!
//! **Drift.** The estimate ignores drift in [`NodeClockEstimate::lower_at`]
//! and [`NodeClockEstimate::upper_at`]; where safety depends on it, in
//! [`NodeClockEstimate::surely_ended_at`], the span is stretched by the
//! estimate's drift margin ([`NodeClockEstimate::with_drift_margin`], in
//! parts per million: the bound the deployment assumes on how much faster
//! the controller's clock may run than the node's), plus one tick for a
//! node's `now` that lags its clock by up to a tick (the DPDK node reads the
//! clock once per burst). A renewal from the lower estimate is granted as
//! long as the node's clock has not drifted below it; when it has, the node
//! answers `RENEW_LATE`, and the controller takes a new estimate.
//!
//! Readings are 32-bit tick counts that wrap (§2.4): every sum and
//! difference of readings is taken mod 2^32.

use std::time::{Duration, Instant};

/// A tick of the lease clock of the software, DPDK and BMv2 nodes (§2.4):
/// the microsecond timestamp shifted right by 10.
pub const TICK: Duration = Duration::from_micros(1024);

/// A tick of Tofino's lease clock (§2.4): the nanosecond timestamp's bits
/// 47 to 16.
pub const TOFINO_TICK: Duration = Duration::from_nanos(65_536);

/// What one `lease_clock` read says of a node's lease clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeClockEstimate {
    /// `lease_clock` as read.
    clock_ticks: u32,
    /// When the `RENEW` that set it was sent.
    sent: Instant,
    /// When `lease_clock` was read back.
    read: Instant,
    tick: Duration,
    drift_ppm: u32,
}

impl NodeClockEstimate {
    /// The estimate from `lease_clock = clock_ticks`, set by a `RENEW` sent at
    /// `sent` and read back at `read`, for a node whose tick is [`TICK`],
    /// with no drift margin.
    pub fn from_read(clock_ticks: u32, sent: Instant, read: Instant) -> NodeClockEstimate {
        NodeClockEstimate { clock_ticks, sent, read, tick: TICK, drift_ppm: 0 }
    }

    /// The same for a node whose tick is `tick` ([`TOFINO_TICK`] on Tofino).
    pub fn with_tick(self, tick: Duration) -> NodeClockEstimate {
        NodeClockEstimate { tick, ..self }
    }

    /// The same, with a drift margin of `drift_ppm` parts per million.
    pub fn with_drift_margin(self, drift_ppm: u32) -> NodeClockEstimate {
        NodeClockEstimate { drift_ppm, ..self }
    }

    /// The least the node's clock reads at `t` (drift aside).
    pub fn lower_at(&self, t: Instant) -> u32 {
        self.clock_ticks.wrapping_add(self.ticks(t.saturating_duration_since(self.read)))
    }

    /// The most the node's clock reads at `t` (drift aside).
    pub fn upper_at(&self, t: Instant) -> u32 {
        self.clock_ticks.wrapping_add(self.ticks_rounded_up(t.saturating_duration_since(self.sent)))
    }

    /// The `lease_end` a `RENEW` sent at `t_send` carries: `lease_ticks`
    /// after the lower estimate, so that on arrival it lies at most
    /// `lease_ticks` ahead of the node's clock (§9.3). Never 0, which would
    /// only read the clock: one tick less instead.
    pub fn renew_lease_end(&self, t_send: Instant, lease_ticks: u32) -> u32 {
        match self.lower_at(t_send).wrapping_add(lease_ticks) {
            0 => u32::MAX,
            end => end,
        }
    }

    /// The controller instant after which the node's clock has surely
    /// reached `lease_end`, so a lease ending there has ended: the node's
    /// clock read at least `clock_ticks` at `read`, so it gets there within
    /// `(lease_end − clock_ticks) mod 2^32` ticks of it, stretched by the
    /// drift margin, plus one tick of lag of the node's `now`.
    pub fn surely_ended_at(&self, lease_end: u32) -> Instant {
        let ticks = u64::from(lease_end.wrapping_sub(self.clock_ticks)) + 1;
        let span = self.tick.as_nanos() * u128::from(ticks);
        let stretched = span + span * u128::from(self.drift_ppm) / 1_000_000;
        self.read + Duration::from_nanos(u64::try_from(stretched).unwrap_or(u64::MAX))
    }

    /// Whole ticks in `span`, mod 2^32.
    fn ticks(&self, span: Duration) -> u32 {
        (span.as_nanos() / self.tick.as_nanos()) as u32
    }

    fn ticks_rounded_up(&self, span: Duration) -> u32 {
        span.as_nanos().div_ceil(self.tick.as_nanos()) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_node_clock_lies_between_the_estimates() {
        let s = Instant::now();
        let r = s + 10 * TICK;
        let estimate = NodeClockEstimate::from_read(5000, s, r);
        assert_eq!((estimate.lower_at(r), estimate.upper_at(r)), (5000, 5010), "read somewhere between s and r");
        let t = r + 100 * TICK + TICK / 2;
        assert_eq!((estimate.lower_at(t), estimate.upper_at(t)), (5100, 5111));
        assert_eq!(estimate.lower_at(s), 5000, "before the read: what was read");
    }

    #[test]
    fn readings_wrap() {
        let s = Instant::now();
        let estimate = NodeClockEstimate::from_read(u32::MAX - 1, s, s);
        assert_eq!(estimate.lower_at(s + 3 * TICK), 1);
        assert_eq!(estimate.renew_lease_end(s + 3 * TICK, 1000), 1001);
    }

    #[test]
    fn a_renewal_carries_the_lower_estimate_plus_the_lease_and_never_0() {
        let s = Instant::now();
        let estimate = NodeClockEstimate::from_read(5000, s, s + 4 * MS);
        let t_send = s + 4 * MS + 50 * TICK;
        assert_eq!(estimate.renew_lease_end(t_send, 1000), 6050);
        let at_zero = NodeClockEstimate::from_read(u32::MAX - 999, s, s);
        assert_eq!(at_zero.renew_lease_end(s, 1000), u32::MAX, "0 only reads the clock: one tick less");
    }

    #[test]
    fn a_lease_has_surely_ended_once_the_node_clock_surely_passed_its_end() {
        let s = Instant::now();
        let r = s + 3 * MS;
        let estimate = NodeClockEstimate::from_read(5000, s, r);
        assert_eq!(estimate.surely_ended_at(6000), r + 1001 * TICK, "1000 ticks from the read, one of lag");
        let drifting = estimate.with_drift_margin(100);
        let span = 1001 * TICK;
        assert_eq!(drifting.surely_ended_at(6000), r + span + span / 10_000, "100 ppm more");
        let across_the_wrap = NodeClockEstimate::from_read(u32::MAX - 9, s, r);
        assert_eq!(across_the_wrap.surely_ended_at(10), r + 21 * TICK);
    }

    #[test]
    fn a_tofino_tick_is_65536_nanoseconds() {
        let s = Instant::now();
        let estimate = NodeClockEstimate::from_read(0, s, s).with_tick(TOFINO_TICK);
        assert_eq!(estimate.lower_at(s + MS), 15, "1 ms is 15.26 Tofino ticks");
        assert_eq!(estimate.surely_ended_at(15), s + 16 * TOFINO_TICK);
    }
}
