//! A node's service-rate cap (`netcraq node --service-rate-fps`): at most so
//! many frames per second served, as a token bucket with a small burst. A
//! capped node takes frames off its ports as they come into one queue,
//! [`Arrivals`], and serves that queue in arrival order at the cap: a single
//! server with one first-come-first-served queue, the model of the in-memory
//! network and of the figures' bound. (Serving the ports in turn instead let
//! the ports whose traffic the clients' windows pace take the turns while the
//! ACKs, which no window paces, overflowed their socket: saturated nodes then
//! dropped ACK work and measured above the bound.) It lets many nodes share
//! few cores and still behave like equal, saturated nodes (`perf/README.md`,
//! "Figures").

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The most frames the bucket holds: a node idle for a while serves at most
/// this many frames back to back.
pub const BURST_FRAMES: u64 = 8;
/// The highest cap: above it a frame's interval would round to nothing.
pub const MAX_RATE_FPS: u32 = 100_000_000;
/// The most frames a capped node holds taken but not served; beyond, frames
/// wait in the ports' own receive queues and overflow there.
pub const ARRIVALS_LIMIT: usize = 512;

/// Tokens as time credit: each frame costs one interval, and the credit
/// never exceeds [`BURST_FRAMES`] intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceRate {
    interval_ns: u64,
    credit_ns: u64,
    refilled_at: Instant,
    /// The port served first in the next round: the ports take turns, so
    /// that a busy port cannot take every token.
    next_first_port: usize,
}

impl ServiceRate {
    /// A bucket of `rate_fps` frames per second, full at `now`.
    pub fn new(rate_fps: u32, now: Instant) -> Result<ServiceRate, String> {
        if !(1..=MAX_RATE_FPS).contains(&rate_fps) {
            return Err(format!("a service rate of {rate_fps} frames/s is outside 1..={MAX_RATE_FPS}"));
        }
        let interval_ns = 1_000_000_000 / u64::from(rate_fps);
        Ok(ServiceRate { interval_ns, credit_ns: BURST_FRAMES * interval_ns, refilled_at: now, next_first_port: 0 })
    }

    /// Frames that may be taken now.
    pub fn available(&mut self, now: Instant) -> u64 {
        let elapsed_ns = u64::try_from(now.saturating_duration_since(self.refilled_at).as_nanos()).unwrap_or(u64::MAX);
        self.credit_ns = self.credit_ns.saturating_add(elapsed_ns).min(BURST_FRAMES * self.interval_ns);
        self.refilled_at = self.refilled_at.max(now);
        self.credit_ns / self.interval_ns
    }

    /// Spends the tokens of `frames` frames taken (at most what was available).
    pub fn take(&mut self, frames: u64) {
        self.credit_ns = self.credit_ns.saturating_sub(frames.saturating_mul(self.interval_ns));
    }

    /// The port (of `ports`) to serve first this round; each round the next one.
    pub fn first_port(&mut self, ports: usize) -> usize {
        let first = self.next_first_port % ports.max(1);
        self.next_first_port = first + 1;
        first
    }

    /// How long from the last refill until one frame may be taken.
    pub fn until_next(&self) -> Duration {
        Duration::from_nanos(self.interval_ns.saturating_sub(self.credit_ns))
    }
}

/// Frames taken off the ports and not yet served, each with the index of
/// its port, in arrival order across the ports.
#[derive(Debug)]
pub struct Arrivals<F> {
    frames: VecDeque<(usize, F)>,
}

impl<F> Default for Arrivals<F> {
    fn default() -> Self {
        Arrivals { frames: VecDeque::with_capacity(ARRIVALS_LIMIT) }
    }
}

impl<F> Arrivals<F> {
    /// Frames that may still be taken off the ports.
    pub fn room(&self) -> usize {
        ARRIVALS_LIMIT.saturating_sub(self.frames.len())
    }

    /// Queues a frame taken off port `index` (the caller keeps to [`Arrivals::room`]).
    pub fn push(&mut self, index: usize, frame: F) {
        self.frames.push_back((index, frame));
    }

    /// The oldest frame and its port's index.
    pub fn pop(&mut self) -> Option<(usize, F)> {
        self.frames.pop_front()
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_gives_its_burst_then_one_frame_per_interval() {
        let start = Instant::now();
        let mut rate = ServiceRate::new(1_000, start).unwrap();
        assert_eq!(rate.available(start), BURST_FRAMES);
        rate.take(BURST_FRAMES);
        assert_eq!(rate.available(start), 0);
        assert_eq!(rate.until_next(), Duration::from_millis(1));
        assert_eq!(rate.available(start + Duration::from_micros(999)), 0);
        assert_eq!(rate.until_next(), Duration::from_micros(1));
        assert_eq!(rate.available(start + Duration::from_millis(1)), 1);
        assert_eq!(rate.available(start + Duration::from_millis(3)), 3);
    }

    #[test]
    fn the_rate_holds_over_a_second_and_idle_time_buys_no_more_than_the_burst() {
        let start = Instant::now();
        let mut rate = ServiceRate::new(5_000, start).unwrap();
        let mut taken = 0;
        for step_us in 1..=1_000_000u64 / 37 {
            let frames = rate.available(start + Duration::from_micros(step_us * 37));
            rate.take(frames);
            taken += frames;
        }
        assert!((5_000..=5_000 + BURST_FRAMES).contains(&taken), "{taken} frames in a second");
        assert_eq!(rate.available(start + Duration::from_secs(60)), BURST_FRAMES);
    }

    #[test]
    fn the_ports_take_turns_at_being_served_first() {
        let mut rate = ServiceRate::new(10, Instant::now()).unwrap();
        let firsts: Vec<usize> = (0..5).map(|_| rate.first_port(3)).collect();
        assert_eq!(firsts, vec![0, 1, 2, 0, 1]);
        assert_eq!(rate.first_port(0), 0, "no ports is no division by zero");
    }

    #[test]
    fn arrivals_are_served_in_order_across_ports_up_to_the_limit() {
        let mut arrivals = Arrivals::default();
        arrivals.push(2, "ack");
        arrivals.push(0, "read");
        assert_eq!((arrivals.pop(), arrivals.pop(), arrivals.pop()), (Some((2, "ack")), Some((0, "read")), None));
        (0..ARRIVALS_LIMIT).for_each(|i| arrivals.push(i % 3, "frame"));
        assert_eq!((arrivals.room(), arrivals.len()), (0, ARRIVALS_LIMIT));
    }

    #[test]
    fn a_clock_going_back_adds_nothing_and_bad_rates_are_refused() {
        let start = Instant::now() + Duration::from_secs(1);
        let mut rate = ServiceRate::new(10, start).unwrap();
        rate.take(BURST_FRAMES);
        assert_eq!(rate.available(start - Duration::from_secs(1)), 0);
        assert!(ServiceRate::new(0, start).is_err());
        assert!(ServiceRate::new(MAX_RATE_FPS + 1, start).is_err());
    }
}
