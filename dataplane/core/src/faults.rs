//! What faults a port injects into the frames it sends: the probabilities a
//! topology's link asks for, a node file carries and the node applies,
//! checked in one place, and the decision one draw makes for one frame. The
//! draws themselves (a seeded generator per port) belong to whoever sends:
//! the node's I/O shell, the simulator's links.
//!
//! Duplication spares WRITE requests: `docs/protocol.md` §3.4 assumes the
//! network never delivers a WRITE to the head twice with another write
//! stamped in between, and no data plane can tolerate that without per-client
//! state (`docs/model-checking.md` shows the violation). Everything else,
//! stamped CHAIN_WRITEs included, may be duplicated.

use netcraq_wire::{NetcraqFrame, Op};

/// What to do with one frame about to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultDecision {
    Send,
    Drop,
    SendTwice,
    HoldBack,
}

/// Probabilities in percent that a node applies, independently to every
/// frame it sends on a port: drop it, send it twice, or hold it back and
/// send it after the next frame on that port (or when the node goes idle).
/// One draw per frame picks at most one of them, so they add up to at most
/// 100.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PortFaults {
    pub loss_percent: f64,
    pub duplicate_percent: f64,
    pub reorder_percent: f64,
}

impl PortFaults {
    /// True when every frame is sent once, in order.
    pub fn is_none(&self) -> bool {
        self.loss_percent == 0.0 && self.duplicate_percent == 0.0 && self.reorder_percent == 0.0
    }

    /// Each probability within 0 to 100 and their sum at most 100.
    pub fn validate(&self) -> Result<(), String> {
        let named = [
            ("loss_percent", self.loss_percent),
            ("duplicate_percent", self.duplicate_percent),
            ("reorder_percent", self.reorder_percent),
        ];
        if let Some((name, value)) = named.iter().find(|(_, value)| !(0.0..=100.0).contains(value)) {
            return Err(format!("{name} {value} is outside 0 to 100"));
        }
        let sum: f64 = named.iter().map(|(_, value)| value).sum();
        // The slack admits sums like 33.4 + 33.3 + 33.3 that are 100 but for
        // rounding; a sum a hair above 100 only means no frame is sent as is.
        if sum > 100.0 + 1e-9 {
            return Err(format!(
                "loss_percent, duplicate_percent and reorder_percent add up to {sum}, more than 100 \
                 (one draw per frame picks at most one of them)"
            ));
        }
        Ok(())
    }

    /// The fate of `frame` for a draw uniform in `0.0..100.0`: the bands
    /// loss, duplicate and reorder follow each other from 0, so one draw
    /// picks at most one fault.
    pub fn decide(&self, draw_percent: f64, frame: &[u8]) -> FaultDecision {
        let duplicate_from = self.loss_percent;
        let reorder_from = duplicate_from + self.duplicate_percent;
        if draw_percent < duplicate_from {
            FaultDecision::Drop
        } else if draw_percent < reorder_from {
            match is_unstamped_write(frame) {
                true => FaultDecision::Send,
                false => FaultDecision::SendTwice,
            }
        } else if draw_percent < reorder_from + self.reorder_percent {
            FaultDecision::HoldBack
        } else {
            FaultDecision::Send
        }
    }
}

/// A client WRITE on its way to the head, which must not be duplicated (§3.4).
pub fn is_unstamped_write(frame: &[u8]) -> bool {
    NetcraqFrame::parse(frame).is_ok_and(|f| f.header.op == Op::Write)
}

/// The faults of one port and the seed of its draws, so a faulty run can be
/// repeated exactly.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaultSettings {
    pub faults: PortFaults,
    pub seed: u64,
}

impl FaultSettings {
    pub fn is_active(&self) -> bool {
        !self.faults.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_stay_within_0_to_100_and_add_up_to_at_most_100() {
        let faults = |loss_percent, duplicate_percent, reorder_percent| PortFaults {
            loss_percent,
            duplicate_percent,
            reorder_percent,
        };
        assert_eq!(faults(33.4, 33.3, 33.3).validate(), Ok(()));
        assert!(faults(101.0, 0.0, 0.0).validate().unwrap_err().contains("loss_percent 101 is outside 0 to 100"));
        assert!(faults(0.0, -1.0, 0.0).validate().unwrap_err().contains("duplicate_percent"));
        assert!(faults(50.0, 30.0, 30.0).validate().unwrap_err().contains("add up to 110"));
    }
}
