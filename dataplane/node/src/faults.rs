//! Seeded fault injection on a node's transmit path: loss, duplication and
//! reordering, so tests can stress a real chain reproducibly without netem.
//! Backend-agnostic: the AF_PACKET and DPDK ports both run frames through it
//! (`crate::shell`); what each draw decides is [`PortFaults::decide`].

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use netcraq_core::faults::{FaultDecision, FaultSettings};

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

    /// The fate of `frame`, about to be sent.
    pub fn decide(&mut self, frame: &[u8]) -> FaultDecision {
        if !self.settings.is_active() {
            return FaultDecision::Send;
        }
        let decision = self.settings.faults.decide(self.rng.gen_range(0.0..100.0), frame);
        match decision {
            FaultDecision::Drop => self.counters.dropped += 1,
            FaultDecision::SendTwice => self.counters.duplicated += 1,
            FaultDecision::HoldBack => self.counters.reordered += 1,
            FaultDecision::Send => {}
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcraq_core::faults::PortFaults;
    use netcraq_wire::{Endpoint, Ipv4Addr, MacAddr, NetcraqFrame, NetcraqRepr, Op};

    fn frame(op: Op) -> Vec<u8> {
        let client = Endpoint { ip: Ipv4Addr::new(10, 0, 1, 1), mac: MacAddr([2, 0, 0, 0, 0, 1]) };
        let node = Endpoint { ip: Ipv4Addr::new(10, 0, 0, 1), mac: MacAddr([2, 0, 0, 0, 0, 2]) };
        let header = NetcraqRepr { op, version: 0, key: 1, value: [7; 16] };
        NetcraqFrame::request(client, 40000, node, 1, header).to_bytes().to_vec()
    }

    fn settings(loss_percent: f64, duplicate_percent: f64, reorder_percent: f64, seed: u64) -> FaultSettings {
        FaultSettings { faults: PortFaults { loss_percent, duplicate_percent, reorder_percent }, seed }
    }

    #[test]
    fn duplication_spares_write_requests_only() {
        let always_duplicate = settings(0.0, 100.0, 0.0, 0);
        let mut injector = FaultInjector::new(always_duplicate);
        assert_eq!(injector.decide(&frame(Op::Write)), FaultDecision::Send);
        for op in [Op::ChainWrite, Op::Ack, Op::Read, Op::ReadReply, Op::WriteReply] {
            assert_eq!(injector.decide(&frame(op)), FaultDecision::SendTwice, "{op:?}");
        }
        assert_eq!(injector.decide(b"not a NetCRAQ frame"), FaultDecision::SendTwice);
        assert_eq!(injector.counters.duplicated, 6);
    }

    #[test]
    fn decisions_follow_the_seed_and_the_percentages() {
        let settings = settings(20.0, 20.0, 20.0, 3);
        let run = |settings| {
            let mut injector = FaultInjector::new(settings);
            (0..1000).map(|_| injector.decide(&frame(Op::Ack))).collect::<Vec<_>>()
        };
        let decisions = run(settings);
        assert_eq!(decisions, run(settings), "same seed, same decisions");
        for kind in [FaultDecision::Drop, FaultDecision::SendTwice, FaultDecision::HoldBack, FaultDecision::Send] {
            let share = decisions.iter().filter(|d| **d == kind).count();
            assert!((100..300).contains(&share) || (kind == FaultDecision::Send && (300..500).contains(&share)));
        }
        assert_eq!(FaultInjector::new(FaultSettings::default()).decide(&frame(Op::Ack)), FaultDecision::Send);
    }
}
