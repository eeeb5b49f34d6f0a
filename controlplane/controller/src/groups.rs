//! A chain's keys over many virtual groups (`docs/protocol.md` §11): each
//! group is a chain of its own for the supervisor, a [`ChainRecord`] whose
//! epochs come from the one counter of every chain (§9.2), placed by the
//! planner's consistent hashing (`netcraq_plan::groups`). A node's failure then reconfigures only the
//! groups it is in, and the replacement of each is the next node on the
//! ring, which joins at the tail.

use crate::reconfigure::{ChainLayout, LayoutPlanner};
use crate::supervisor::ChainRecord;
use netcraq_core::{KeyGroup, NodeConfig};
use netcraq_plan::groups::place_groups;
use netcraq_plan::plan::NodeTables;
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

/// `chain` (as the topology's checks passed it) split into its `groups`
/// groups of equal key ranges, each a record in `epoch` whose members are
/// the chain's length of its nodes and spares (`nodes` and `spares`
/// together) in ring order, and whose spares are the rest in ring order:
/// the first spare that is up replaces a member.
pub fn group_records(chain: &Chain, epoch: u32, lease_ticks: u32) -> Result<Vec<ChainRecord>, GroupLayoutError> {
    let refuse = |problem: String| GroupLayoutError(format!("chain {}: {problem}", chain.name));
    let (groups, keys) = (chain.groups, chain.key_hi - u32::from(chain.key_lo));
    if chain.key_lo != 0 || !keys.is_power_of_two() || !groups.is_power_of_two() || groups > keys {
        return Err(refuse(format!("{groups} groups of keys {}..{}", chain.key_lo, chain.key_hi)));
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
            let key_hi = u32::from(key_lo) + size;
            let layout = ChainLayout { members, mode: chain.mode, key_lo, key_hi, epoch, lease_ticks, grouped: true };
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

/// Plans a group's layout over `inner`, which plans any layout as a chain
/// of its own (§11): every member's `node_config` serves no key, and its
/// tables hold every group it is in, this one as planned and the others
/// as `layouts` last reached them. Other layouts pass through unchanged.
pub struct GroupPlanner<'a, P> {
    pub inner: &'a P,
    /// Every chain's layout (those of other groups among them).
    pub layouts: &'a [ChainLayout],
}

impl<P: LayoutPlanner> LayoutPlanner for GroupPlanner<'_, P> {
    fn tables(&self, layout: &ChainLayout) -> Result<Vec<(String, NodeTables)>, String> {
        let mut planned = self.inner.tables(layout)?;
        if !layout.grouped {
            return Ok(planned);
        }
        let is_other =
            |other: &&ChainLayout| other.grouped && (other.key_lo, other.key_hi) != (layout.key_lo, layout.key_hi);
        let mut others = Vec::new();
        for other in self.layouts.iter().filter(is_other) {
            for (node, tables) in self.inner.tables(other)? {
                if planned.iter().any(|(member, _)| *member == node) {
                    others.push((node, as_group(&tables)?));
                }
            }
        }
        for (node, tables) in &mut planned {
            *tables = as_group(tables)?;
            others.iter().filter(|(other, _)| other == node).for_each(|(_, other)| tables.merge(other));
        }
        Ok(planned)
    }
}

/// A node's tables of a chain of its own as those of a group: the chain in
/// a `key_group` entry, and a `node_config` that serves no key (§11).
fn as_group(chain: &NodeTables) -> Result<NodeTables, String> {
    let config = &chain.config;
    let group = KeyGroup::of_chain(config).ok_or_else(|| {
        format!("keys {}..{} are no group: not a power of two aligned on its size", config.key_lo, config.key_hi)
    })?;
    let serves_none = NodeConfig { key_lo: 0, key_hi: 0, sync_epoch: 0, ..*config };
    Ok(NodeTables { config: serves_none, key_groups: vec![group], ..chain.clone() })
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
            groups: 256,
        }
    }

    const CHAIN_ENTRY: &str = r#"
[[chain]]
name = "kv"
nodes = ["n1", "n2", "n3"]
spares = ["n4"]
mode = "craq"
keys = [0, 65536]
groups = 256
"#;

    /// Four software nodes in a line, and `chain_entry`.
    fn topology(chain_entry: &str) -> Result<Topology, netcraq_topology::TopologyError> {
        let mut text = String::new();
        for i in 1..=4 {
            text += &format!("[[node]]\nname = \"n{i}\"\nkind = \"software\"\nip = \"10.0.0.{i}\"\n\n");
        }
        for i in 1..4 {
            text += &format!("[[link]]\na = \"n{i}\"\nb = \"n{}\"\n\n", i + 1);
        }
        Topology::parse(&(text + chain_entry))
    }

    const SETTINGS: SupervisorSettings = SupervisorSettings { miss_limit: 2, rejoin_after: 2 };

    /// A supervisor of 256 groups of 3 over 6 nodes, every group restarted.
    fn started() -> Supervisor {
        let records = group_records(&chain(3, 3), 1, 100).unwrap();
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

    /// n2 misses its probes and every removal it leads to finishes at
    /// once; returns the joins they lead to, decided together.
    fn n2_removed_from_every_group(s: &mut Supervisor) -> Vec<(String, Change, u32)> {
        let decisions: Vec<Decision> =
            (0..2).flat_map(|_| s.handle(Event::Probed { node: "n2".into(), answered: false })).collect();
        let mut joins = Vec::new();
        for (group, change, epoch) in reconfigurations(&decisions) {
            let record = s.state().chains.iter().find(|c| c.name == group).unwrap();
            let mut reached = record.layout.clone();
            reached.members.retain(|m| Change::Remove { node: m.clone() } != change);
            reached.epoch = epoch;
            joins.extend(reconfigurations(&s.handle(Event::Finished { chain: group, outcome: Ok(reached) })));
        }
        joins
    }

    fn members(supervisor: &Supervisor) -> BTreeMap<String, Vec<String>> {
        supervisor.state().chains.iter().map(|c| (c.name.clone(), c.layout.members.clone())).collect()
    }

    #[test]
    fn groups_split_the_key_range_and_place_every_node() {
        let records = group_records(&chain(3, 3), 1, 100).unwrap();
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
        let topology = topology(CHAIN_ENTRY).unwrap();
        let chains = group_records(&topology.chains()[0], 1, 100).unwrap();
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
    fn a_groups_members_get_every_group_they_are_in_and_serve_no_key_through_node_config() {
        let topology = topology(CHAIN_ENTRY).unwrap();
        let layouts: Vec<ChainLayout> =
            group_records(&topology.chains()[0], 1, 100).unwrap().into_iter().map(|r| r.layout).collect();
        let inner = crate::running_topology::TopologyPlanner::new(&topology);
        let planner = GroupPlanner { inner: &inner, layouts: &layouts };
        let group = &layouts[7];
        let alone = inner.tables(group).unwrap();
        for ((node, tables), (_, chain)) in planner.tables(group).unwrap().iter().zip(&alone) {
            assert_eq!((tables.config.key_lo, tables.config.key_hi), (0, 0), "{node}");
            assert_eq!(tables.chain_of(group.key_lo, group.key_hi), chain.config, "{node}: the group's chain");
            let groups_of_node = layouts.iter().filter(|l| l.members.contains(node)).count();
            assert_eq!(tables.key_groups.len(), groups_of_node, "{node}: an entry per group it is in");
            for port in &chain.fabric_ports {
                let merged = tables.fabric_ports.iter().find(|p| p.port == port.port).expect("kept");
                assert!(
                    merged.from_predecessor >= port.from_predecessor && merged.from_successor >= port.from_successor
                );
            }
        }
        let whole = ChainLayout { grouped: false, ..group.clone() };
        assert_eq!(planner.tables(&whole).unwrap(), inner.tables(&whole).unwrap(), "a chain of its own passes through");
    }

    #[test]
    fn the_topology_refuses_groups_that_cannot_split_the_keys() {
        for (keys, groups, problem) in [
            ("[0, 1000]", 4, "keys are [0, 1000]"),
            ("[0, 16]", 3, "a power of two"),
            ("[0, 16]", 32, "keys are [0, 16]"),
        ] {
            let entry = CHAIN_ENTRY.replace("[0, 65536]", keys).replace("256", &groups.to_string());
            let refused = topology(&entry).expect_err(&entry).to_string();
            assert!(refused.contains(problem), "{refused}");
        }
        assert!(topology(&CHAIN_ENTRY.replace("256", "2048")).unwrap_err().to_string().contains("at most 1024"));
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
        assert!(removals.iter().all(|(_, change, _)| *change == Change::Remove { node: "n2".into() }));
        let mut epochs: Vec<u32> = removals.iter().map(|(_, _, epoch)| *epoch).collect();
        epochs.dedup();
        assert_eq!(epochs.len(), removals.len(), "one counter: every group its own epoch");
        assert!(epochs.iter().all(|epoch| *epoch > 257), "above the restarts' epochs 2 to 257");

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

    /// A node whose join of one group failed is taken out of that group,
    /// and then of every other group it serves (its one lease would still
    /// let it serve the first group's keys), unrenewed meanwhile; once in no
    /// group it is retired, and may join again.
    #[test]
    fn a_node_removed_from_one_group_leaves_every_group_before_it_joins_again() {
        let mut s = started();
        let joins = n2_removed_from_every_group(&mut s);
        let (failed_group, Change::Add { node: joiner }, _) = joins[0].clone() else { panic!("a join: {joins:?}") };
        assert!(!s.lease_withheld(&joiner));
        let served = members(&s).values().filter(|m| m.contains(&joiner)).count();
        let decisions = s.handle(Event::Finished { chain: failed_group.clone(), outcome: Err("synced no key".into()) });
        assert!(s.lease_withheld(&joiner), "a failed joiner is not renewed");
        let removal = reconfigurations(&decisions);
        let leaves = Change::Remove { node: joiner.clone() };
        assert_eq!(
            removal.iter().map(|(g, c, _)| (g.clone(), c.clone())).collect::<Vec<_>>(),
            [(failed_group, leaves.clone())]
        );
        // The other joins under way finish too, as they would; each removal,
        // retirement and join they lead to is carried out as decided.
        let other_joins: Vec<Decision> = joins[1..]
            .iter()
            .map(|(chain, change, next_epoch)| {
                let from = s.state().chains.iter().find(|c| c.name == *chain).unwrap().layout.clone();
                Decision::Reconfigure { chain: chain.clone(), change: change.clone(), from, next_epoch: *next_epoch }
            })
            .collect();
        let mut done = finish_all(&mut s, &decisions);
        done.extend(finish_all(&mut s, &other_joins));
        let removals: Vec<usize> = (0..done.len()).filter(|&i| done[i].1 == leaves).collect();
        assert_eq!(removals.len(), served + 1, "out of every group it served, and the one it failed to join");
        let rejoined = done.iter().position(|(_, c, _)| *c == Change::Add { node: joiner.clone() });
        assert!(rejoined.is_some_and(|at| at > *removals.last().unwrap()), "joins again only once out of every group");
        assert!(!s.lease_withheld(&joiner), "retired, and renewed again once it serves");
    }

    #[test]
    fn a_node_syncs_one_group_at_a_time() {
        let mut s = started();
        let joins = n2_removed_from_every_group(&mut s);
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
