use netcraq_wire::{Ipv4Addr, VALUE_LEN};

use crate::Outcome;

/// The head stamps a new version only while fewer than this many of the
/// key's versions are uncommitted (`docs/protocol.md` §3.3).
pub const MAX_UNCOMMITTED_VERSIONS: u8 = 127;

/// RFC 1982 serial-number order on 8 bits: `a` is newer than `b` when it is
/// 1 to 127 steps ahead. At exactly 128 the order is undefined: not newer.
pub fn is_newer(a: u8, b: u8) -> bool {
    (1..=127).contains(&a.wrapping_sub(b))
}

/// The client request that wrote a key's stored version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Writer {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub id: u16,
}

impl Writer {
    /// Same IPv4 source and UDP source port: the identification is not
    /// compared, because a plain UDP socket cannot choose it (§3.4).
    pub fn same_socket(&self, other: &Writer) -> bool {
        self.ip == other.ip && self.port == other.port
    }
}

impl Default for Writer {
    fn default() -> Self {
        Writer { ip: Ipv4Addr::UNSPECIFIED, port: 0, id: 0 }
    }
}

/// One key's registers: `kv_value`, `kv_version`, `kv_acked`, the
/// `kv_writer_*` registers and `kv_received` at that index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KeySlot {
    pub value: [u8; VALUE_LEN],
    pub version: u8,
    pub acked: u8,
    pub writer: Writer,
    /// The `sync_epoch` in force when the key was last stored (§10.4).
    pub received: u32,
}

impl KeySlot {
    /// Dirty: a version is stored that this node does not know to be committed.
    pub fn is_dirty(&self) -> bool {
        self.version != self.acked
    }

    pub fn is_zero(&self) -> bool {
        *self == KeySlot::default()
    }

    /// Versions stamped but not known to be committed.
    pub fn uncommitted(&self) -> u8 {
        self.version.wrapping_sub(self.acked)
    }

    /// Applies an ACK for `version` (§5.1): advances `acked` if the version
    /// is newer than it and not newer than the stored one.
    pub fn acknowledge(&mut self, version: u8) {
        if is_newer(version, self.acked) && !is_newer(version, self.version) {
            self.acked = version;
        }
    }
}

/// The lease registers `lease_end`, `lease_held` and `lease_clock` (§2.1b).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Lease {
    /// The lease clock's reading at which the lease ends.
    pub end_ticks: u32,
    pub held: bool,
    /// `lease_clock`: the lease clock's reading at the last `RENEW`, which
    /// the control plane reads to estimate this node's clock (§9.3).
    pub clock_ticks: u32,
}

impl Lease {
    /// Held at `now_ticks`: `end_ticks` is 1 to 2^31 − 1 ticks later (§2.1b).
    pub fn is_held_at(&self, now_ticks: u32) -> bool {
        self.held && (1..1 << 31).contains(&self.end_ticks.wrapping_sub(now_ticks))
    }

    /// §5.1 `RENEW` at `now_ticks` carrying `carried_end_ticks`, on a node
    /// configured with `lease_ticks` (§9.3): records the clock, then grants
    /// the carried end only if it lies 1 to `lease_ticks` ticks ahead.
    pub fn renew(&mut self, now_ticks: u32, carried_end_ticks: u32, lease_ticks: u32) -> Outcome {
        self.clock_ticks = now_ticks;
        if carried_end_ticks == 0 {
            return Outcome::RenewClockOnly;
        }
        if !(1..=lease_ticks).contains(&carried_end_ticks.wrapping_sub(now_ticks)) {
            return Outcome::RenewLate;
        }
        self.end_ticks = carried_end_ticks;
        self.held = true;
        Outcome::LeaseRenewed
    }
}

/// The per-key register arrays, one slot per key up to the capacity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Registers {
    slots: Vec<KeySlot>,
}

impl Registers {
    pub fn new(capacity: usize) -> Self {
        Registers { slots: vec![KeySlot::default(); capacity] }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub fn get(&self, key: u16) -> Option<&KeySlot> {
        self.slots.get(usize::from(key))
    }

    pub fn get_mut(&mut self, key: u16) -> Option<&mut KeySlot> {
        self.slots.get_mut(usize::from(key))
    }

    /// Keys whose registers are not all zero, with their slots.
    pub fn non_zero(&self) -> impl Iterator<Item = (u16, &KeySlot)> {
        self.slots.iter().enumerate().filter(|(_, s)| !s.is_zero()).map(|(k, s)| (k as u16, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_order_wraps_and_is_undefined_at_128() {
        assert!(is_newer(1, 0));
        assert!(is_newer(0, 255));
        assert!(is_newer(127, 0));
        assert!(!is_newer(128, 0));
        assert!(!is_newer(0, 128));
        assert!(!is_newer(5, 5));
        assert!(!is_newer(4, 5));
    }

    #[test]
    fn a_lease_is_held_until_its_end_across_the_clock_wrap() {
        let lease = Lease { end_ticks: 5, held: true, clock_ticks: 0 };
        assert!(lease.is_held_at(u32::MAX - 2), "8 ticks before the end, across the wrap");
        assert!(lease.is_held_at(4));
        assert!(!lease.is_held_at(5), "the end itself is past");
        assert!(!lease.is_held_at(6));
        assert!(!Lease { held: false, ..lease }.is_held_at(4));
        assert!(!Lease::default().is_held_at(0), "never renewed");
    }

    #[test]
    fn a_renew_grants_only_an_end_within_one_lease_and_always_records_the_clock() {
        let start = Lease { end_ticks: 50, held: false, clock_ticks: 7 };
        let renewed = |now, carried| {
            let mut lease = start;
            let outcome = lease.renew(now, carried, 100);
            (outcome, lease)
        };
        let clock_read = Lease { clock_ticks: 1000, ..start };
        assert_eq!(renewed(1000, 0), (Outcome::RenewClockOnly, clock_read));
        let granted = |end| Lease { end_ticks: end, held: true, clock_ticks: 1000 };
        assert_eq!(renewed(1000, 1001), (Outcome::LeaseRenewed, granted(1001)));
        assert_eq!(renewed(1000, 1100), (Outcome::LeaseRenewed, granted(1100)));
        for late in [1000, 999, 1101, 1000 + (1 << 31)] {
            assert_eq!(renewed(1000, late), (Outcome::RenewLate, clock_read), "carried {late}");
        }
        let across_the_wrap = Lease { end_ticks: 20, held: true, clock_ticks: u32::MAX - 9 };
        assert_eq!(renewed(u32::MAX - 9, 20), (Outcome::LeaseRenewed, across_the_wrap));
    }

    #[test]
    fn ack_advances_only_within_stored_version() {
        let mut slot = KeySlot { version: 7, acked: 3, ..KeySlot::default() };
        slot.acknowledge(9);
        assert_eq!(slot.acked, 3, "an ACK newer than the stored version is ignored");
        slot.acknowledge(5);
        assert_eq!(slot.acked, 5);
        slot.acknowledge(4);
        assert_eq!(slot.acked, 5, "acked never moves back");
        slot.acknowledge(7);
        assert!(!slot.is_dirty());
    }
}
