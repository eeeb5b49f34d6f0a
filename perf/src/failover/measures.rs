//! The failover benchmark's figures from what the clients saw, as plain
//! functions over instants.

use std::time::{Duration, Instant};

/// One read of a clean key: when it was sent, and whether it was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadAttempt {
    pub at: Instant,
    pub answered: bool,
}

/// How long after `killed` writes were acknowledged again: the end of the
/// longest gap between consecutive acknowledgements (`acks`, sorted) from
/// the last one before the kill to `until`. Replies already on their way
/// at the kill arrive just after it; the outage is the gap after them.
/// `None` when no write was acknowledged after the kill.
pub fn write_unavailability(acks: &[Instant], killed: Instant, until: Instant) -> Option<Duration> {
    let first_after = acks.partition_point(|at| *at <= killed);
    let mut previous = first_after.checked_sub(1).map_or(killed, |last_before| acks[last_before]);
    let mut outage: Option<(Duration, Instant)> = None;
    for &at in acks[first_after..].iter().take_while(|at| **at <= until) {
        let gap = at - previous;
        if outage.is_none_or(|(longest, _)| gap > longest) {
            outage = Some((gap, at));
        }
        previous = at;
    }
    outage.map(|(_, back)| back - killed)
}

/// The share of `[from, to)` during which reads were answered: each
/// attempt stands for the time until the next one (the last, until `to`).
/// `None` for an empty window or no attempt in it.
pub fn answered_share(attempts: &[ReadAttempt], from: Instant, to: Instant) -> Option<f64> {
    let (mut answered, mut covered) = (Duration::ZERO, Duration::ZERO);
    for (index, attempt) in attempts.iter().enumerate() {
        let until = attempts.get(index + 1).map_or(to, |next| next.at);
        let span = until.min(to).saturating_duration_since(attempt.at.max(from));
        covered += span;
        if attempt.answered {
            answered += span;
        }
    }
    (!covered.is_zero()).then(|| answered.as_secs_f64() / covered.as_secs_f64())
}

/// Operations per second that ended in `[from, to)` (`ends` sorted).
pub fn rate(ends: &[Instant], from: Instant, to: Instant) -> Option<f64> {
    let length = to.checked_duration_since(from).filter(|length| !length.is_zero())?;
    let count = ends.partition_point(|at| *at < to) - ends.partition_point(|at| *at < from);
    Some(count as f64 / length.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(origin: Instant, ms: u64) -> Instant {
        origin + Duration::from_millis(ms)
    }

    #[test]
    fn writes_are_back_at_the_end_of_the_longest_gap_after_the_kill() {
        let o = Instant::now();
        let killed = ms(o, 1000);
        // Steady acks, one reply in flight at the kill, then nothing until 1800.
        let acks = [ms(o, 998), ms(o, 999), ms(o, 1000), ms(o, 1001), ms(o, 1800), ms(o, 1801), ms(o, 1803)];
        assert_eq!(write_unavailability(&acks, killed, ms(o, 5000)), Some(Duration::from_millis(800)));
        assert_eq!(write_unavailability(&acks[..4], killed, ms(o, 5000)), Some(Duration::from_millis(1)));
        assert_eq!(write_unavailability(&acks[..3], killed, ms(o, 5000)), None, "nothing after the kill");
        assert_eq!(write_unavailability(&acks[4..], killed, ms(o, 5000)), Some(Duration::from_millis(800)));
        assert_eq!(write_unavailability(&acks, killed, ms(o, 1500)), Some(Duration::from_millis(1)), "bounded");
    }

    #[test]
    fn the_answered_share_weighs_each_attempt_by_the_time_until_the_next() {
        let o = Instant::now();
        let attempt = |at, answered| ReadAttempt { at: ms(o, at), answered };
        let attempts = [attempt(0, true), attempt(100, false), attempt(300, true), attempt(400, true)];
        // Window 50..450: answered 50..100, 300..450 (200 ms) of 400 ms.
        assert_eq!(answered_share(&attempts, ms(o, 50), ms(o, 450)), Some(0.5));
        assert_eq!(answered_share(&attempts, ms(o, 100), ms(o, 300)), Some(0.0));
        assert_eq!(answered_share(&attempts, ms(o, 300), ms(o, 300)), None);
        assert_eq!(answered_share(&[], ms(o, 0), ms(o, 10)), None);
    }

    #[test]
    fn rates_count_the_operations_that_ended_in_the_window() {
        let o = Instant::now();
        let ends: Vec<Instant> = (0..100).map(|i| ms(o, i * 10)).collect();
        assert_eq!(rate(&ends, ms(o, 0), ms(o, 500)), Some(100.0));
        assert_eq!(rate(&ends, ms(o, 500), ms(o, 500)), None);
        assert_eq!(rate(&ends, ms(o, 2000), ms(o, 3000)), Some(0.0));
    }
}
