//! Which nodes serve each chain now: what the running controller publishes
//! (`docs/controller.md`, "Membership for clients") and clients follow
//! through reconfigurations. The format is defined here once; the
//! controller serialises it, clients parse and check it.

use std::fmt::{self, Display, Formatter};
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Every chain of a deployment as last configured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    pub chains: Vec<ChainMembers>,
}

/// One chain: its members head first, under one epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainMembers {
    pub name: String,
    /// The configuration's number (`docs/protocol.md` §9.2); grows with every reconfiguration.
    pub epoch: u32,
    /// The keys the chain serves: `[key_lo, key_hi)`.
    pub key_lo: u16,
    pub key_hi: u32,
    /// Head first, tail last.
    pub members: Vec<Member>,
}

/// A member: its name and the address its requests go to (UDP port 20035).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub name: String,
    pub ip: Ipv4Addr,
}

/// Why a membership cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipError(pub String);

impl Display for MembershipError {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MembershipError {}

impl Membership {
    /// Parses and checks a published membership.
    pub fn from_json(text: &[u8]) -> Result<Membership, MembershipError> {
        let membership: Membership =
            serde_json::from_slice(text).map_err(|e| MembershipError(format!("not a membership: {e}")))?;
        membership.check()?;
        Ok(membership)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a membership serialises")
    }

    /// The chain that serves `key`.
    pub fn chain_for(&self, key: u16) -> Option<&ChainMembers> {
        self.chains.iter().find(|chain| chain.serves(key))
    }

    /// Refuses what a client could not follow: a chain without members or
    /// with a member twice, an empty key range, chains whose ranges overlap.
    pub fn check(&self) -> Result<(), MembershipError> {
        for (index, chain) in self.chains.iter().enumerate() {
            let refuse = |problem: String| Err(MembershipError(format!("chain {:?}: {problem}", chain.name)));
            if chain.members.is_empty() {
                return refuse("has no members".into());
            }
            if let Some(twice) =
                chain.members.iter().find(|m| chain.members.iter().filter(|o| o.ip == m.ip).count() > 1)
            {
                return refuse(format!("lists {} twice", twice.ip));
            }
            if u32::from(chain.key_lo) >= chain.key_hi || chain.key_hi > 1 << 16 {
                return refuse(format!("key range [{}, {}) is empty or past 65536", chain.key_lo, chain.key_hi));
            }
            let overlapping = self.chains[..index]
                .iter()
                .find(|other| u32::from(chain.key_lo) < other.key_hi && u32::from(other.key_lo) < chain.key_hi);
            if let Some(other) = overlapping {
                return refuse(format!("its keys overlap chain {:?}'s", other.name));
            }
        }
        Ok(())
    }
}

impl ChainMembers {
    pub fn serves(&self, key: u16) -> bool {
        self.key_lo <= key && u32::from(key) < self.key_hi
    }

    pub fn head(&self) -> Option<&Member> {
        self.members.first()
    }
}

/// A chain of members `10.0.0.i` named `ni`, for tests.
#[cfg(test)]
pub(crate) fn chain(name: &str, epoch: u32, keys: (u16, u32), ips: &[u8]) -> ChainMembers {
    let members = ips.iter().map(|i| Member { name: format!("n{i}"), ip: Ipv4Addr::new(10, 0, 0, *i) }).collect();
    ChainMembers { name: name.into(), epoch, key_lo: keys.0, key_hi: keys.1, members }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_membership_round_trips_through_its_json() {
        let membership = Membership { chains: vec![chain("kv", 3, (0, 16), &[2, 3])] };
        let text = membership.to_json();
        assert_eq!(
            text,
            r#"{"chains":[{"name":"kv","epoch":3,"key_lo":0,"key_hi":16,"members":[{"name":"n2","ip":"10.0.0.2"},{"name":"n3","ip":"10.0.0.3"}]}]}"#
        );
        assert_eq!(Membership::from_json(text.as_bytes()).unwrap(), membership);
        assert_eq!(membership.chain_for(15).map(|c| c.name.as_str()), Some("kv"));
        assert_eq!(membership.chain_for(16), None);
        assert_eq!(membership.chains[0].head().map(|m| m.ip), Some(Ipv4Addr::new(10, 0, 0, 2)));
    }

    #[test]
    fn memberships_a_client_cannot_follow_are_refused() {
        let refused = |chains: Vec<ChainMembers>| Membership { chains }.check().unwrap_err().0;
        assert!(refused(vec![chain("kv", 1, (0, 16), &[])]).contains("has no members"));
        assert!(refused(vec![chain("kv", 1, (0, 16), &[2, 2])]).contains("lists 10.0.0.2 twice"));
        assert!(refused(vec![chain("kv", 1, (16, 16), &[1])]).contains("empty"));
        assert!(refused(vec![chain("kv", 1, (0, 65537), &[1])]).contains("past 65536"));
        assert!(refused(vec![chain("a", 1, (0, 16), &[1]), chain("b", 1, (15, 20), &[2])]).contains("overlap"));
        assert!(Membership::from_json(b"{\"chains\":[],\"extra\":1}").unwrap_err().0.contains("not a membership"));
        assert!(Membership::from_json(b"not json").is_err());
    }
}
