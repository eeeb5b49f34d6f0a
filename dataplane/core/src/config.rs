use netcraq_wire::{Ipv4Addr, MacAddr};

/// A node's place in its chain (`node_config.role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Role {
    Head = 1,
    Replica = 2,
    Tail = 3,
    /// A chain of one: head and tail at once.
    Solo = 4,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Head, Role::Replica, Role::Tail, Role::Solo];

    pub fn from_code(code: u8) -> Option<Role> {
        Role::ALL.into_iter().find(|r| *r as u8 == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Head => "HEAD",
            Role::Replica => "REPLICA",
            Role::Tail => "TAIL",
            Role::Solo => "SOLO",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Answers reads itself whatever the key state: it holds only committed values.
    pub fn is_tail_like(self) -> bool {
        matches!(self, Role::Tail | Role::Solo)
    }

    /// Stamps versions on client writes.
    pub fn is_head_like(self) -> bool {
        matches!(self, Role::Head | Role::Solo)
    }
}

/// Whether clean keys are read anywhere (CRAQ) or every read goes to the
/// tail (CR, the NetChain-style baseline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Mode {
    Craq = 0,
    Cr = 1,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Craq, Mode::Cr];

    pub fn from_code(code: u8) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| *m as u8 == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Craq => "CRAQ",
            Mode::Cr => "CR",
        }
    }

    pub fn from_name(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Serde for the spec's enums by name (`"HEAD"`, `"CRAQ"`), through their
/// `name` and `from_name`.
#[cfg(feature = "serde")]
macro_rules! serde_by_name {
    ($($ty:ident),+) => {$(
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = String::deserialize(deserializer)?;
                $ty::from_name(&name).ok_or_else(|| {
                    let names = $ty::ALL.map($ty::name);
                    serde::de::Error::custom(format!("unknown {name:?}: expected {}", one_of(&names)))
                })
            }
        }
    )+};
}

#[cfg(feature = "serde")]
serde_by_name!(Role, Mode);

/// `A, B or C`.
#[cfg(feature = "serde")]
fn one_of(names: &[&str]) -> String {
    match names {
        [rest @ .., last] if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// The single entry of the `node_config` table (`docs/protocol.md` §2.3).
///
/// With the `serde` feature it reads and writes the fields under these names,
/// in the notation of the conformance vectors and node files: `own_mac` as
/// `"02:00:00:00:00:01"`, addresses as `"10.0.0.1"`, `role` and `mode` by
/// name (`"HEAD"`, `"CRAQ"`); unknown fields are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(deny_unknown_fields))]
pub struct NodeConfig {
    pub own_mac: MacAddr,
    pub own_ip: Ipv4Addr,
    pub role: Role,
    pub mode: Mode,
    pub head_ip: Ipv4Addr,
    pub tail_ip: Ipv4Addr,
    pub successor_ip: Ipv4Addr,
    pub predecessor_ip: Ipv4Addr,
    pub key_lo: u16,
    /// One past the last key served (up to 65536, hence wider than a key).
    pub key_hi: u32,
    /// The number of the chain's configuration (§9.2); 0 when a file leaves
    /// it out, the same on every node of a chain configured by hand.
    #[cfg_attr(feature = "serde", serde(default))]
    pub epoch: u32,
    /// How long a `RENEW` lets the node serve reads, in lease-clock ticks
    /// (§2.4, §9.3); 0: leases off.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "is_zero"))]
    pub lease_ticks: u32,
    /// 0 for a full member; otherwise the node is a syncing tail and this
    /// is the number of its join (§10.4).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "is_zero"))]
    pub sync_epoch: u32,
}

/// Leaves out of a written entry the fields whose 0 means "off".
#[cfg(feature = "serde")]
fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// Why a `node_config` entry was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    KeyRange { key_lo: u16, key_hi: u32, capacity: usize },
    MissingAddress { role: Role, field: &'static str },
    OwnAddress,
    SyncingNotTail { role: Role },
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::KeyRange { key_lo, key_hi, capacity } => write!(
                f,
                "key range [{key_lo}, {key_hi}) is reversed or exceeds the node's {capacity} key registers: need key_lo <= key_hi <= {capacity}"
            ),
            ConfigError::MissingAddress { role, field } => {
                write!(f, "a {} node needs {field} (it is 0.0.0.0)", role.name())
            }
            ConfigError::OwnAddress => f.write_str("own_ip must not be 0.0.0.0 and own_mac must be a unicast address"),
            ConfigError::SyncingNotTail { role } => {
                write!(f, "only a TAIL can be syncing: a {} node needs sync_epoch 0", role.name())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl NodeConfig {
    /// A SOLO node's entry: the whole chain in one node, which answers every
    /// READ and WRITE of keys `key_lo..key_hi` itself (it is its own head
    /// and tail, and has no neighbours).
    pub fn solo(own_mac: MacAddr, own_ip: Ipv4Addr, key_lo: u16, key_hi: u32) -> NodeConfig {
        NodeConfig {
            own_mac,
            own_ip,
            role: Role::Solo,
            mode: Mode::Craq,
            head_ip: own_ip,
            tail_ip: own_ip,
            successor_ip: Ipv4Addr::UNSPECIFIED,
            predecessor_ip: Ipv4Addr::UNSPECIFIED,
            key_lo,
            key_hi,
            epoch: 0,
            lease_ticks: 0,
            sync_epoch: 0,
        }
    }

    /// Checks the entry against the node's register capacity and its role.
    pub fn validate(&self, key_capacity: usize) -> Result<(), ConfigError> {
        let hi = usize::try_from(self.key_hi).unwrap_or(usize::MAX);
        if usize::from(self.key_lo) > hi || hi > key_capacity {
            return Err(ConfigError::KeyRange { key_lo: self.key_lo, key_hi: self.key_hi, capacity: key_capacity });
        }
        if self.own_ip.is_unspecified() || self.own_mac.0[0] & 1 == 1 {
            return Err(ConfigError::OwnAddress);
        }
        check_chain(self.role, [self.head_ip, self.tail_ip, self.successor_ip, self.predecessor_ip], self.sync_epoch)
    }

    /// A syncing tail (§10.4): it serves only the keys received since its join.
    pub fn is_syncing(&self) -> bool {
        self.sync_epoch != 0
    }
}

/// The rules a chain's parameters follow, in `node_config` and in a
/// `key_group` entry (§2.3): the addresses its role uses (`head_ip`,
/// `tail_ip`, `successor_ip`, `predecessor_ip`, in this order) are set, and
/// only a `TAIL` is syncing.
pub(crate) fn check_chain(role: Role, addresses: [Ipv4Addr; 4], sync_epoch: u32) -> Result<(), ConfigError> {
    const FIELDS: [&str; 4] = ["head_ip", "tail_ip", "successor_ip", "predecessor_ip"];
    let uses = match role {
        Role::Head => [false, true, true, false],
        Role::Replica => [true; 4],
        Role::Tail => [true, false, false, true],
        Role::Solo => [false; 4],
    };
    for ((field, addr), used) in FIELDS.into_iter().zip(addresses).zip(uses) {
        if used && addr.is_unspecified() {
            return Err(ConfigError::MissingAddress { role, field });
        }
    }
    if sync_epoch != 0 && role != Role::Tail {
        return Err(ConfigError::SyncingNotTail { role });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_tail_may_be_syncing() {
        let ip = |last| Ipv4Addr::new(10, 0, 0, last);
        let tail = NodeConfig {
            role: Role::Tail,
            head_ip: ip(1),
            predecessor_ip: ip(2),
            sync_epoch: 9,
            ..NodeConfig::solo(MacAddr([2, 0, 0, 0, 0, 3]), ip(3), 0, 16)
        };
        assert_eq!(tail.validate(16), Ok(()));
        let replica = NodeConfig { role: Role::Replica, tail_ip: ip(4), successor_ip: ip(4), ..tail };
        assert_eq!(replica.validate(16), Err(ConfigError::SyncingNotTail { role: Role::Replica }));
        assert_eq!(NodeConfig { sync_epoch: 0, ..replica }.validate(16), Ok(()));
    }

    #[test]
    fn an_empty_key_range_serves_only_groups_and_a_reversed_one_is_refused() {
        let solo = NodeConfig::solo(MacAddr([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(10, 0, 0, 1), 0, 0);
        assert_eq!(solo.validate(16), Ok(()));
        let reversed = NodeConfig { key_lo: 5, key_hi: 4, ..solo };
        assert_eq!(reversed.validate(16), Err(ConfigError::KeyRange { key_lo: 5, key_hi: 4, capacity: 16 }));
    }
}
