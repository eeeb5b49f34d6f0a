use crate::config::check_chain;
use crate::{ConfigError, NodeConfig, Role};
use netcraq_wire::Ipv4Addr;

/// Entries the software and DPDK nodes' `key_group` table holds at most.
pub const KEY_GROUP_CAPACITY: usize = 1024;

/// One `key_group` entry (`docs/protocol.md` §2.3, §11): the keys of a
/// prefix and the `set_group` action, the chain those keys follow at this
/// node.
///
/// With the `serde` feature it reads and writes the fields under these
/// names, in the notation of [`NodeConfig`]; the addresses a role does not
/// use and `sync_epoch` may be left out (0.0.0.0 and 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(deny_unknown_fields))]
pub struct KeyGroup {
    /// The group's first key; the bits beyond `prefix_len` are 0.
    pub key: u16,
    /// 0 to 16: the group holds `2^(16 - prefix_len)` keys.
    pub prefix_len: u8,
    pub role: Role,
    #[cfg_attr(feature = "serde", serde(default = "unspecified"))]
    pub head_ip: Ipv4Addr,
    #[cfg_attr(feature = "serde", serde(default = "unspecified"))]
    pub tail_ip: Ipv4Addr,
    #[cfg_attr(feature = "serde", serde(default = "unspecified"))]
    pub successor_ip: Ipv4Addr,
    #[cfg_attr(feature = "serde", serde(default = "unspecified"))]
    pub predecessor_ip: Ipv4Addr,
    pub epoch: u32,
    #[cfg_attr(feature = "serde", serde(default))]
    pub sync_epoch: u32,
}

#[cfg(feature = "serde")]
fn unspecified() -> Ipv4Addr {
    Ipv4Addr::UNSPECIFIED
}

impl KeyGroup {
    /// One past the group's last key (up to 65536).
    pub fn key_end(&self) -> u32 {
        u32::from(self.key) + (1 << (16 - u32::from(self.prefix_len.min(16))))
    }

    fn mask(&self) -> u16 {
        u16::MAX.checked_shl(16 - u32::from(self.prefix_len)).unwrap_or(0)
    }

    fn matches(&self, key: u16) -> bool {
        (key ^ self.key) & self.mask() == 0
    }

    /// The key's chain (§2.3): `config` with this group's chain parameters
    /// and its keys as the key range.
    pub fn chain_of(&self, config: &NodeConfig) -> NodeConfig {
        NodeConfig {
            role: self.role,
            head_ip: self.head_ip,
            tail_ip: self.tail_ip,
            successor_ip: self.successor_ip,
            predecessor_ip: self.predecessor_ip,
            key_lo: self.key,
            key_hi: self.key_end(),
            epoch: self.epoch,
            sync_epoch: self.sync_epoch,
            ..*config
        }
    }
}

/// Why a `key_group` entry was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyGroupError {
    Full,
    Duplicate,
    BadPrefix,
    BeyondCapacity { key_end: u32, capacity: usize },
    Chain(ConfigError),
    NotFound,
}

impl std::fmt::Display for KeyGroupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyGroupError::Full => write!(f, "key_group is full ({KEY_GROUP_CAPACITY} entries)"),
            KeyGroupError::Duplicate => f.write_str("key_group already has an entry for this prefix"),
            KeyGroupError::BadPrefix => f.write_str("prefix length above 16, or key bits set beyond the prefix length"),
            KeyGroupError::BeyondCapacity { key_end, capacity } => {
                write!(f, "the group's keys reach {key_end}, beyond the node's {capacity} key registers")
            }
            KeyGroupError::Chain(error) => write!(f, "the group's chain: {error}"),
            KeyGroupError::NotFound => f.write_str("key_group has no entry for this prefix"),
        }
    }
}

impl std::error::Error for KeyGroupError {}

/// The `key_group` table: longest-prefix match on the key, bounded in size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct KeyGroups {
    /// Sorted by prefix length, longest first, so the first match is the longest.
    entries: Vec<KeyGroup>,
}

impl KeyGroups {
    /// Adds `group`, checked against the node's `key_capacity` (§2.3).
    pub fn insert(&mut self, group: KeyGroup, key_capacity: usize) -> Result<(), KeyGroupError> {
        Self::validate(&group, key_capacity)?;
        if self.position(group.key, group.prefix_len).is_some() {
            return Err(KeyGroupError::Duplicate);
        }
        if self.entries.len() >= KEY_GROUP_CAPACITY {
            return Err(KeyGroupError::Full);
        }
        let at = self.entries.partition_point(|e| e.prefix_len >= group.prefix_len);
        self.entries.insert(at, group);
        Ok(())
    }

    /// Replaces the entry of `group`'s prefix: a reconfiguration of the group.
    pub fn modify(&mut self, group: KeyGroup, key_capacity: usize) -> Result<(), KeyGroupError> {
        Self::validate(&group, key_capacity)?;
        let at = self.position(group.key, group.prefix_len).ok_or(KeyGroupError::NotFound)?;
        self.entries[at] = group;
        Ok(())
    }

    pub fn remove(&mut self, key: u16, prefix_len: u8) -> Result<KeyGroup, KeyGroupError> {
        let at = self.position(key, prefix_len).ok_or(KeyGroupError::NotFound)?;
        Ok(self.entries.remove(at))
    }

    /// The group of `key`, longest prefix first; `None`: `node_config`'s chain.
    pub fn lookup(&self, key: u16) -> Option<&KeyGroup> {
        self.entries.iter().find(|e| e.matches(key))
    }

    pub fn entries(&self) -> &[KeyGroup] {
        &self.entries
    }

    fn validate(group: &KeyGroup, key_capacity: usize) -> Result<(), KeyGroupError> {
        if group.prefix_len > 16 || group.key & !group.mask() != 0 {
            return Err(KeyGroupError::BadPrefix);
        }
        let key_end = group.key_end();
        if usize::try_from(key_end).map_or(true, |end| end > key_capacity) {
            return Err(KeyGroupError::BeyondCapacity { key_end, capacity: key_capacity });
        }
        let addresses = [group.head_ip, group.tail_ip, group.successor_ip, group.predecessor_ip];
        check_chain(group.role, addresses, group.sync_epoch).map_err(KeyGroupError::Chain)
    }

    fn position(&self, key: u16, prefix_len: u8) -> Option<usize> {
        self.entries.iter().position(|e| e.key == key && e.prefix_len == prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: usize = 1 << 16;

    fn tail(key: u16, prefix_len: u8, epoch: u32) -> KeyGroup {
        KeyGroup {
            key,
            prefix_len,
            role: Role::Tail,
            head_ip: Ipv4Addr::new(10, 0, 0, 1),
            tail_ip: Ipv4Addr::UNSPECIFIED,
            successor_ip: Ipv4Addr::UNSPECIFIED,
            predecessor_ip: Ipv4Addr::new(10, 0, 0, 2),
            epoch,
            sync_epoch: 0,
        }
    }

    #[test]
    fn longest_prefix_wins_whatever_the_insertion_order() {
        let mut table = KeyGroups::default();
        table.insert(tail(0, 0, 1), K).unwrap();
        table.insert(tail(0x8000, 1, 2), K).unwrap();
        table.insert(tail(0x8100, 8, 3), K).unwrap();
        assert_eq!(table.lookup(0x81ff).unwrap().epoch, 3);
        assert_eq!(table.lookup(0x8200).unwrap().epoch, 2);
        assert_eq!(table.lookup(0x7fff).unwrap().epoch, 1);
        assert_eq!(table.remove(0, 0).unwrap().epoch, 1);
        assert!(table.lookup(0x7fff).is_none(), "no entry: node_config's chain");
    }

    #[test]
    fn the_keys_chain_is_the_groups_over_node_config() {
        let config = crate::NodeConfig::solo(netcraq_wire::MacAddr([2, 0, 0, 0, 0, 3]), [10, 0, 0, 3].into(), 0, 0);
        let chain = tail(16, 12, 21).chain_of(&config);
        assert_eq!((chain.role, chain.epoch, chain.key_lo, chain.key_hi), (Role::Tail, 21, 16, 32));
        assert_eq!((chain.own_ip, chain.own_mac), (config.own_ip, config.own_mac));
        assert_eq!(tail(0, 0, 1).key_end(), 1 << 16);
    }

    #[test]
    fn refuses_bad_prefixes_chains_duplicates_and_overflow() {
        let mut table = KeyGroups::default();
        assert_eq!(table.insert(tail(1, 15, 1), K), Err(KeyGroupError::BadPrefix));
        assert_eq!(table.insert(tail(0, 17, 1), K), Err(KeyGroupError::BadPrefix));
        assert_eq!(table.insert(tail(16, 12, 1), 16), Err(KeyGroupError::BeyondCapacity { key_end: 32, capacity: 16 }));
        let headless = KeyGroup { head_ip: Ipv4Addr::UNSPECIFIED, ..tail(0, 12, 1) };
        let missing = ConfigError::MissingAddress { role: Role::Tail, field: "head_ip" };
        assert_eq!(table.insert(headless, K), Err(KeyGroupError::Chain(missing)));
        let syncing_head = KeyGroup { role: Role::Head, sync_epoch: 9, ..tail(0, 12, 1) };
        let head =
            KeyGroup { tail_ip: Ipv4Addr::new(10, 0, 0, 4), successor_ip: Ipv4Addr::new(10, 0, 0, 2), ..syncing_head };
        assert_eq!(table.insert(head, K), Err(KeyGroupError::Chain(ConfigError::SyncingNotTail { role: Role::Head })));
        table.insert(tail(0, 12, 1), K).unwrap();
        assert_eq!(table.insert(tail(0, 12, 2), K), Err(KeyGroupError::Duplicate));
        table.modify(tail(0, 12, 2), K).unwrap();
        assert_eq!(table.lookup(3).unwrap().epoch, 2);
        assert_eq!(table.modify(tail(16, 12, 2), K), Err(KeyGroupError::NotFound));
        for group in 1..KEY_GROUP_CAPACITY as u16 {
            table.insert(tail(group << 4, 12, 1), K).unwrap();
        }
        assert_eq!(table.insert(tail(0xf000, 4, 1), K), Err(KeyGroupError::Full));
    }
}
