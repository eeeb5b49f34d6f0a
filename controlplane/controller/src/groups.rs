//! A chain's keys over many virtual groups (`docs/protocol.md` §11): each
//! group is a chain of its own for the supervisor, a [`ChainRecord`] with
//! its own epoch counter (§9.2), placed by the planner's consistent hashing
//! (`netcraq_plan::groups`). A node's failure then reconfigures only the
//! groups it is in, and the replacement of each is the next node on the
//! ring, which joins at the tail.

use crate::reconfigure::ChainLayout;
use crate::supervisor::ChainRecord;
use netcraq_plan::groups::place_groups;
use netcraq_topology::Chain;

/// The separator of a group's record name: `"<chain>/<group>"`.
pub const GROUP_SEPARATOR: char = '/';

/// Why a chain could not be split into groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupLayoutError(pub String);

impl std::fmt::Display for GroupLayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for GroupLayoutError {}

/// The name of group `group` of `chain`.
pub fn group_name(chain: &str, group: u32) -> String {
    format!("{chain}{GROUP_SEPARATOR}{group}")
}

/// `chain` split into `groups` groups of equal key ranges, each a record
/// in `epoch` whose members are the chain's length of its nodes and spares
/// (`nodes` and `spares` together) in ring order, and whose spares are the
/// rest in ring order: the first spare that is up replaces a member.
/// `groups` and the chain's key range (from 0) are powers of two, and
/// every group holds at least one key.
pub fn group_records(
    chain: &Chain,
    groups: u32,
    epoch: u32,
    lease_ticks: u32,
) -> Result<Vec<ChainRecord>, GroupLayoutError> {
    let refuse = |problem: String| GroupLayoutError(format!("chain {}: {problem}", chain.name));
    let keys = chain.key_hi.checked_sub(u32::from(chain.key_lo)).unwrap_or(0);
    if chain.key_lo != 0 || !keys.is_power_of_two() {
        return Err(refuse(format!(
            "groups split keys 0 to a power of two; the chain's keys are {} to {}",
            chain.key_lo, chain.key_hi
        )));
    }
    if !groups.is_power_of_two() || groups > keys {
        return Err(refuse(format!("{groups} groups: a power of two, at most the chain's {keys} keys")));
    }
    let everyone: Vec<String> = chain.nodes.iter().chain(&chain.spares).cloned().collect();
    let ring =
        place_groups(&everyone, groups.trailing_zeros() as u8, everyone.len()).map_err(|e| refuse(e.to_string()))?;
    let size = keys / groups;
    Ok(ring
        .into_iter()
        .zip(0u32..)
        .map(|(placed, group)| {
            let mut members = placed.nodes;
            let spares = members.split_off(chain.nodes.len());
            let key_lo = (group * size) as u16; // below keys <= 2^16
            let layout =
                ChainLayout { members, mode: chain.mode, key_lo, key_hi: u32::from(key_lo) + size, epoch, lease_ticks };
            ChainRecord {
                name: group_name(&chain.name, group),
                length: chain.nodes.len(),
                spares,
                epoch_used: epoch,
                layout,
                joining: None,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::MembershipBook;
    use crate::supervisor::{Change, Decision, Event, Supervisor, SupervisorSettings, SupervisorState};
    use netcraq_core::Mode;
    use netcraq_topology::Topology;
    use std::collections::BTreeMap;

    fn chain(nodes: usize, spares: usize) -> Chain {
        let name = |i: usize| format!("n{i}");
        Chain {
            name: "kv".into(),
            nodes: (1..=nodes).map(name).collect(),
            mode: Mode::Craq,
            key_lo: 0,
            key_hi: 1 << 16,
            spares: (nodes + 1..=nodes + spares).map(name).collect(),
        }
    }

    const CHAIN_ENTRY: &str = r#"
[[chain]]
name = "kv"
nodes = ["n1", "n2", "n3"]
spares = ["n4"]
mode = "craq"
keys = [0, 65536]
"#;

    const SETTINGS: SupervisorSettings = SupervisorSettings { miss_limit: 2, rejoin_after: 2 };

    /// A supervisor of 256 groups of 3 over 6 nodes, every group restarted.
    fn started() -> Supervisor {
        let records = group_records(&chain(3, 3), 256, 1, 100).unwrap();
        let mut supervisor = Supervisor::new(SupervisorState { chains: records }, SETTINGS);
        let restarts = supervisor.start();
        assert_eq!(reconfigurations(&restarts).len(), 256, "every group restarted");
        finish_all(&mut supervisor, &restarts);
        supervisor
    }

    /// Every reconfiguration in `decisions`: group, change, epoch.
    fn reconfigurations(decisions: &[Decision]) -> Vec<(String, Change, u32)> {
        decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Reconfigure { chain, change, next_epoch, .. } => {
                    Some((chain.clone(), change.clone(), *next_epoch))
                }
                _ => None,
            })
            .collect()
    }

    /// Finishes every reconfiguration of `decisions` as planned, and those
    /// it leads to, one at a time; returns them all.
    fn finish_all(supervisor: &mut Supervisor, decisions: &[Decision]) -> Vec<(String, Change, u32)> {
        let mut pending: Vec<Decision> = decisions.to_vec();
        let mut done = Vec::new();
        while let Some(decision) = pending.pop() {
            let Decision::Reconfigure { chain, change, from, next_epoch } = decision else { continue };
            let mut members = from.members.clone();
            match &change {
                Change::Restart => {}
                Change::Remove { node } => members.retain(|m| m != node),
                Change::Add { node } => members.push(node.clone()),
            }
            let reached = ChainLayout { members, epoch: next_epoch, ..from };
            done.push((chain.clone(), change, next_epoch));
            pending.extend(supervisor.handle(Event::Finished { chain, outcome: Ok(reached) }));
        }
        done
    }

    fn members(supervisor: &Supervisor) -> BTreeMap<String, Vec<String>> {
        supervisor.state().chains.iter().map(|c| (c.name.clone(), c.layout.members.clone())).collect()
    }

    #[test]
    fn groups_split_the_key_range_and_place_every_node() {
        let records = group_records(&chain(3, 3), 256, 1, 100).unwrap();
        assert_eq!(records.len(), 256);
        for (g, record) in records.iter().enumerate() {
            assert_eq!(record.name, format!("kv/{g}"));
            assert_eq!((u32::from(record.layout.key_lo), record.layout.key_hi), (g as u32 * 256, g as u32 * 256 + 256));
            assert_eq!((record.layout.members.len(), record.spares.len(), record.length), (3, 3, 3));
            let mut all: Vec<&String> = record.layout.members.iter().chain(&record.spares).collect();
            all.sort();
            assert_eq!(all, ["n1", "n2", "n3", "n4", "n5", "n6"]);
        }
        for node in ["n1", "n2", "n3", "n4", "n5", "n6"] {
            let heads = records.iter().filter(|r| r.layout.members[0] == node).count();
            assert!((16..=80).contains(&heads), "{node} heads {heads} of 256 groups");
        }
    }

    #[test]
    fn clients_find_a_keys_group_in_the_published_membership() {
        let mut text = String::new();
        for i in 1..=4 {
            text += &format!("[[node]]\nname = \"n{i}\"\nkind = \"software\"\nip = \"10.0.0.{i}\"\n\n");
        }
        for i in 1..4 {
            text += &format!("[[link]]\na = \"n{i}\"\nb = \"n{}\"\n\n", i + 1);
        }
        text += CHAIN_ENTRY;
        let topology = Topology::parse(&text).unwrap();
        let chains = group_records(&topology.chains()[0], 256, 1, 100).unwrap();
        let book = MembershipBook::new(&topology, &SupervisorState { chains: chains.clone() });
        let membership = book.membership();
        membership.check().unwrap();
        for key in [0u16, 255, 256, 40_000, 65_535] {
            let group = &chains[usize::from(key / 256)];
            let found = membership.chain_for(key).unwrap();
            assert_eq!(found.name, group.name);
            let names: Vec<&String> = found.members.iter().map(|m| &m.name).collect();
            assert_eq!(names, group.layout.members.iter().collect::<Vec<_>>(), "key {key}");
        }
    }

    #[test]
    fn refuses_what_cannot_be_split() {
        let mut odd = chain(3, 0);
        odd.key_hi = 1000;
        assert!(group_records(&odd, 4, 1, 0).unwrap_err().0.contains("power of two"));
        assert!(group_records(&chain(3, 0), 3, 1, 0).unwrap_err().0.contains("3 groups"));
        let mut small = chain(3, 0);
        small.key_hi = 16;
        assert!(group_records(&small, 32, 1, 0).unwrap_err().0.contains("at most the chain's 16 keys"));
    }

    #[test]
    fn a_failure_reconfigures_only_its_groups_each_in_its_own_epoch() {
        let mut s = started();
        let before = members(&s);
        let with_n2: Vec<String> =
            before.iter().filter(|(_, m)| m.contains(&"n2".to_string())).map(|(g, _)| g.clone()).collect();
        assert!(!with_n2.is_empty() && with_n2.len() < 256);

        let decisions: Vec<Decision> =
            (0..2).flat_map(|_| s.handle(Event::Probed { node: "n2".into(), answered: false })).collect();
        let removals = reconfigurations(&decisions);
        let mut removed: Vec<String> = removals.iter().map(|(g, _, _)| g.clone()).collect();
        removed.sort(); // as `with_n2`, by name
        assert_eq!(removed, with_n2, "only the groups with n2");
        let persists = decisions.iter().filter(|d| matches!(d, Decision::Persist(_))).count();
        assert_eq!(persists, 1, "every new epoch persisted at once");
        assert!(removals
            .iter()
            .all(|(_, change, epoch)| *change == Change::Remove { node: "n2".into() } && *epoch == 3));

        let done = finish_all(&mut s, &decisions);
        let after = members(&s);
        for (group, old) in &before {
            let new = &after[group];
            if !old.contains(&"n2".to_string()) {
                assert_eq!(old, new, "{group} did not move");
                continue;
            }
            let kept: Vec<&String> = old.iter().filter(|m| *m != "n2").collect();
            assert_eq!(new[..2].iter().collect::<Vec<_>>(), kept, "{group}: the others keep their order");
            assert!(new.len() == 3 && !old.contains(&new[2]) && new[2] != "n2", "{group}: a spare joined at the tail");
        }
        let joins = done.iter().filter(|(_, change, _)| matches!(change, Change::Add { .. })).count();
        assert_eq!(joins, with_n2.len(), "every group of n2 back to three nodes");
    }

    #[test]
    fn a_node_syncs_one_group_at_a_time() {
        let mut s = started();
        let decisions: Vec<Decision> =
            (0..2).flat_map(|_| s.handle(Event::Probed { node: "n2".into(), answered: false })).collect();
        // Every removal finished at once: the joins they lead to are decided together.
        let mut joins = Vec::new();
        for (group, change, epoch) in reconfigurations(&decisions) {
            let record = s.state().chains.iter().find(|c| c.name == group).unwrap();
            let mut reached = record.layout.clone();
            reached.members.retain(|m| Change::Remove { node: m.clone() } != change);
            reached.epoch = epoch;
            joins.extend(reconfigurations(&s.handle(Event::Finished { chain: group, outcome: Ok(reached) })));
        }
        let mut joining: Vec<&str> = joins
            .iter()
            .map(|(_, change, _)| match change {
                Change::Add { node } => node.as_str(),
                other => panic!("only joins, not {other:?}"),
            })
            .collect();
        let count = joining.len();
        joining.sort_unstable();
        joining.dedup();
        assert_eq!(joining.len(), count, "at most one group joining per node: {joins:?}");
    }
}
