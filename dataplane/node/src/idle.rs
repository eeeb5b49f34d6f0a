//! What a polling node does when idle. Outside the `dpdk` feature so the
//! command parses `--dpdk-idle` the same whether or not DPDK is built in.

use std::fmt;
use std::str::FromStr;
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

/// `spin`, `yield`, `sleep` (50 µs) or `sleep:US` (1 to 1000000), as
/// [`Idle`]'s `Display` writes it.
impl FromStr for Idle {
    type Err = String;

    fn from_str(text: &str) -> Result<Idle, String> {
        match text.split_once(':') {
            None if text == "spin" => Ok(Idle::Spin),
            None if text == "yield" => Ok(Idle::Yield),
            None if text == "sleep" => Ok(Idle::Sleep(Duration::from_micros(50))),
            Some(("sleep", us)) => match us.parse::<u64>() {
                Ok(us @ 1..=1_000_000) => Ok(Idle::Sleep(Duration::from_micros(us))),
                _ => Err(format!("sleep:{us}: give 1 to 1000000 microseconds")),
            },
            _ => Err(format!("{text:?} is not spin, yield or sleep[:US]")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_modes_parse() {
        assert_eq!("spin".parse(), Ok(Idle::Spin));
        assert_eq!("sleep".parse(), Ok(Idle::Sleep(Duration::from_micros(50))));
        assert_eq!("sleep:200".parse(), Ok(Idle::Sleep(Duration::from_micros(200))));
        assert!("sleep:0".parse::<Idle>().is_err());
        assert!("nap".parse::<Idle>().is_err());
    }
}
