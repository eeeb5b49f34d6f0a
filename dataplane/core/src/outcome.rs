/// What a node did with a frame: the index into its `outcomes` counter
/// (`docs/protocol.md` §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Outcome {
    ReadLocal = 0,
    ReadToTail,
    WriteToHead,
    WriteStamped,
    WriteRetransmit,
    WriteWindowFull,
    WriteUnknown,
    ChainWriteApplied,
    ChainWriteStale,
    CommitApplied,
    CommitDuplicate,
    AckForwarded,
    AckConsumed,
    KeyOutOfRange,
    Transit,
    DropUnconfigured,
    DropTruncated,
    DropWrongMac,
    DropNotIpv4,
    DropIpv4Malformed,
    DropIpv4Checksum,
    DropTtlExpired,
    DropFragment,
    DropNotUdp,
    DropBadLength,
    DropWrongPort,
    DropUnknownOp,
    DropUnexpectedOp,
    DropKeyOutOfRange,
    NoRoute,
    DropNotFromChain,
    DropWrongEpoch,
    ReadNotServing,
    KeyReceived,
    SyncApplied,
    SyncStale,
    SweepResent,
    SweepCopied,
    SweepCommitted,
    SweepClean,
    LeaseRenewed,
    RenewClockOnly,
    RenewLate,
}

impl Outcome {
    pub const COUNT: usize = 43;

    pub const ALL: [Outcome; Outcome::COUNT] = [
        Outcome::ReadLocal,
        Outcome::ReadToTail,
        Outcome::WriteToHead,
        Outcome::WriteStamped,
        Outcome::WriteRetransmit,
        Outcome::WriteWindowFull,
        Outcome::WriteUnknown,
        Outcome::ChainWriteApplied,
        Outcome::ChainWriteStale,
        Outcome::CommitApplied,
        Outcome::CommitDuplicate,
        Outcome::AckForwarded,
        Outcome::AckConsumed,
        Outcome::KeyOutOfRange,
        Outcome::Transit,
        Outcome::DropUnconfigured,
        Outcome::DropTruncated,
        Outcome::DropWrongMac,
        Outcome::DropNotIpv4,
        Outcome::DropIpv4Malformed,
        Outcome::DropIpv4Checksum,
        Outcome::DropTtlExpired,
        Outcome::DropFragment,
        Outcome::DropNotUdp,
        Outcome::DropBadLength,
        Outcome::DropWrongPort,
        Outcome::DropUnknownOp,
        Outcome::DropUnexpectedOp,
        Outcome::DropKeyOutOfRange,
        Outcome::NoRoute,
        Outcome::DropNotFromChain,
        Outcome::DropWrongEpoch,
        Outcome::ReadNotServing,
        Outcome::KeyReceived,
        Outcome::SyncApplied,
        Outcome::SyncStale,
        Outcome::SweepResent,
        Outcome::SweepCopied,
        Outcome::SweepCommitted,
        Outcome::SweepClean,
        Outcome::LeaseRenewed,
        Outcome::RenewClockOnly,
        Outcome::RenewLate,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The name the spec, the vectors and the P4Info use.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::ReadLocal => "READ_LOCAL",
            Outcome::ReadToTail => "READ_TO_TAIL",
            Outcome::WriteToHead => "WRITE_TO_HEAD",
            Outcome::WriteStamped => "WRITE_STAMPED",
            Outcome::WriteRetransmit => "WRITE_RETRANSMIT",
            Outcome::WriteWindowFull => "WRITE_WINDOW_FULL",
            Outcome::WriteUnknown => "WRITE_UNKNOWN",
            Outcome::ChainWriteApplied => "CHAIN_WRITE_APPLIED",
            Outcome::ChainWriteStale => "CHAIN_WRITE_STALE",
            Outcome::CommitApplied => "COMMIT_APPLIED",
            Outcome::CommitDuplicate => "COMMIT_DUPLICATE",
            Outcome::AckForwarded => "ACK_FORWARDED",
            Outcome::AckConsumed => "ACK_CONSUMED",
            Outcome::KeyOutOfRange => "KEY_OUT_OF_RANGE",
            Outcome::Transit => "TRANSIT",
            Outcome::DropUnconfigured => "DROP_UNCONFIGURED",
            Outcome::DropTruncated => "DROP_TRUNCATED",
            Outcome::DropWrongMac => "DROP_WRONG_MAC",
            Outcome::DropNotIpv4 => "DROP_NOT_IPV4",
            Outcome::DropIpv4Malformed => "DROP_IPV4_MALFORMED",
            Outcome::DropIpv4Checksum => "DROP_IPV4_CHECKSUM",
            Outcome::DropTtlExpired => "DROP_TTL_EXPIRED",
            Outcome::DropFragment => "DROP_FRAGMENT",
            Outcome::DropNotUdp => "DROP_NOT_UDP",
            Outcome::DropBadLength => "DROP_BAD_LENGTH",
            Outcome::DropWrongPort => "DROP_WRONG_PORT",
            Outcome::DropUnknownOp => "DROP_UNKNOWN_OP",
            Outcome::DropUnexpectedOp => "DROP_UNEXPECTED_OP",
            Outcome::DropKeyOutOfRange => "DROP_KEY_OUT_OF_RANGE",
            Outcome::NoRoute => "NO_ROUTE",
            Outcome::DropNotFromChain => "DROP_NOT_FROM_CHAIN",
            Outcome::DropWrongEpoch => "DROP_WRONG_EPOCH",
            Outcome::ReadNotServing => "READ_NOT_SERVING",
            Outcome::KeyReceived => "KEY_RECEIVED",
            Outcome::SyncApplied => "SYNC_APPLIED",
            Outcome::SyncStale => "SYNC_STALE",
            Outcome::SweepResent => "SWEEP_RESENT",
            Outcome::SweepCopied => "SWEEP_COPIED",
            Outcome::SweepCommitted => "SWEEP_COMMITTED",
            Outcome::SweepClean => "SWEEP_CLEAN",
            Outcome::LeaseRenewed => "LEASE_RENEWED",
            Outcome::RenewClockOnly => "RENEW_CLOCK_ONLY",
            Outcome::RenewLate => "RENEW_LATE",
        }
    }

    pub fn from_name(name: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.name() == name)
    }

    /// Whether the frame was dropped as malformed or unexpected.
    pub fn is_drop(self) -> bool {
        (Outcome::DropUnconfigured.index()..=Outcome::DropWrongEpoch.index()).contains(&self.index())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_follow_the_spec_table() {
        for (index, outcome) in Outcome::ALL.iter().enumerate() {
            assert_eq!(outcome.index(), index);
            assert_eq!(Outcome::from_name(outcome.name()), Some(*outcome));
        }
        assert_eq!(Outcome::NoRoute.index(), 29);
        assert_eq!(Outcome::DropWrongEpoch.index(), 31);
        assert_eq!(Outcome::LeaseRenewed.index(), 40);
        assert_eq!(Outcome::RenewLate.index(), 42);
        assert!(Outcome::DropWrongEpoch.is_drop() && !Outcome::KeyReceived.is_drop());
    }
}
