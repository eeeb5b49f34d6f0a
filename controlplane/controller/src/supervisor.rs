//! What the running controller decides (`docs/controller.md`, "The running
//! controller"), as a pure state machine: probe answers and finished
//! reconfigurations come in, decisions come out. The service
//! ([`crate::service`]) feeds it real P4Runtime answers; tests feed it
//! scripted ones.
//!
//! Rules, per chain, one reconfiguration at a time:
//! - a member that misses `miss_limit` probes in a row is *down*: the chain
//!   goes on without it (`plan_removal`), and it joins the chain's spares;
//! - a chain shorter than its configured length takes a spare that is up
//!   (`plan_addition`), after any removal it needs;
//! - a spare that has answered `rejoin_after` probes in a row is up again;
//!   one that was a member is first *retired* (its `node_config` cleared),
//!   so that it drops every frame until it joins again, once it is a member
//!   of no chain;
//! - a node joins one chain at a time: its `KEY_RECEIVED` counter tells one
//!   sync from another only then (§11, joins), so a node's failure brings
//!   the groups it was in back one at a time on each replacement;
//! - every attempt takes a new epoch, recorded (persisted) before any node
//!   sees it, so that no epoch is ever given out twice, even by a new leader
//!   after a crash (§9.2).

use crate::reconfigure::ChainLayout;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What decides when a node is down or up again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupervisorSettings {
    /// Consecutive missed probes after which a member is down.
    pub miss_limit: u32,
    /// Consecutive answered probes after which a spare may join.
    pub rejoin_after: u32,
}

impl Default for SupervisorSettings {
    fn default() -> SupervisorSettings {
        SupervisorSettings { miss_limit: 4, rejoin_after: 4 }
    }
}

/// A chain as the running controller keeps it (persisted as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainRecord {
    pub name: String,
    /// The layout every member was last configured with.
    pub layout: ChainLayout,
    /// The number of members the chain is to have.
    pub length: usize,
    /// Nodes that may join it, unconfigured while they wait.
    pub spares: Vec<String>,
    /// The highest epoch ever given out for this chain, by any attempt.
    pub epoch_used: u32,
    /// A spare whose join failed: the members may still send to it, and it
    /// may serve what it received while its lease lasts, so it is removed
    /// (its lease waited out) before the chain changes otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joining: Option<String>,
}

impl ChainRecord {
    /// The layout a change starts from: the members, and a failed joiner
    /// as their tail.
    pub fn layout_to_change(&self) -> ChainLayout {
        let mut layout = self.layout.clone();
        layout.members.extend(self.joining.iter().cloned());
        layout
    }
}

/// Everything the running controller persists: enough for a new leader to
/// go on where the last one stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorState {
    pub chains: Vec<ChainRecord>,
}

/// A reconfiguration the service is to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Every member again, in a new epoch: how a controller starts.
    Restart,
    /// The chain goes on without `node` (down, or retired by hand).
    Remove { node: String },
    /// `node`, a spare, joins at the tail.
    Add { node: String },
}

/// What the service does next, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Write the state to the store before anything else happens.
    Persist(SupervisorState),
    /// Reconfigure `chain` from `from` to epoch `next_epoch`.
    Reconfigure { chain: String, change: Change, from: ChainLayout, next_epoch: u32 },
    /// Clear `node`'s `node_config`: it is no member of any chain.
    Retire { node: String },
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A probe of `node` was answered (the node's data plane processed the
    /// controller's frame, or for an unconfigured node its P4Runtime
    /// server answered) or missed.
    Probed { node: String, answered: bool },
    /// The reconfiguration of `chain` ended: the layout reached, or why not.
    Finished { chain: String, outcome: Result<ChainLayout, String> },
    /// `netcraq ctl add-node`: `node` becomes a spare of `chain`.
    SpareOffered { chain: String, node: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    /// Answering; `misses` in a row so far.
    Up { misses: u32 },
    /// Down; `answers` in a row since.
    Down { answers: u32 },
}

/// The running controller's decisions over its chains.
#[derive(Debug)]
pub struct Supervisor {
    state: SupervisorState,
    settings: SupervisorSettings,
    health: BTreeMap<String, Health>,
    /// Chains with a reconfiguration under way, and its change.
    busy: BTreeMap<String, Change>,
    /// Nodes that served in a chain and were removed: retired before they rejoin.
    to_retire: Vec<String>,
    /// Chains not yet reconfigured since this controller started.
    to_restart: Vec<String>,
}

impl Supervisor {
    /// Starts from `state` (the store's, or the deployment's at first
    /// start). Every node starts up, so nothing is removed before it missed
    /// probes; every chain is to be restarted ([`Supervisor::start`]).
    pub fn new(state: SupervisorState, settings: SupervisorSettings) -> Supervisor {
        let mut health = BTreeMap::new();
        for chain in &state.chains {
            for node in chain.layout.members.iter().chain(&chain.spares) {
                health.insert(node.clone(), Health::Up { misses: 0 });
            }
        }
        let to_restart = state.chains.iter().map(|c| c.name.clone()).collect();
        Supervisor { state, settings, health, busy: BTreeMap::new(), to_retire: Vec::new(), to_restart }
    }

    /// Takes in what the nodes hold at the start: `configured` gives the
    /// epoch of every node found configured. Each chain's next epoch then
    /// exceeds any its nodes hold, even if the state was lost or lags them.
    pub fn reconcile(&mut self, configured: &BTreeMap<String, u32>) {
        for chain in &mut self.state.chains {
            let nodes = chain.layout.members.iter().chain(&chain.spares);
            let highest = nodes.filter_map(|node| configured.get(node)).max();
            chain.epoch_used = chain.epoch_used.max(highest.copied().unwrap_or(0));
        }
    }

    /// The first decisions: every chain restarted in a new epoch, since
    /// nothing is known of what its nodes hold.
    pub fn start(&mut self) -> Vec<Decision> {
        self.decide()
    }

    pub fn state(&self) -> &SupervisorState {
        &self.state
    }

    /// Every node the controller probes: members and spares.
    pub fn nodes(&self) -> Vec<String> {
        self.health.keys().cloned().collect()
    }

    /// Whether `node` missed its last `miss_limit` probes and has not
    /// answered `rejoin_after` in a row since.
    pub fn is_down(&self, node: &str) -> bool {
        matches!(self.health.get(node), Some(Health::Down { .. }))
    }

    /// Whether `chain` is being reconfigured.
    pub fn is_busy(&self, chain: &str) -> bool {
        self.busy.contains_key(chain)
    }

    /// Takes in `event` and returns what to do about it.
    pub fn handle(&mut self, event: Event) -> Vec<Decision> {
        match event {
            Event::Probed { node, answered } => self.probed(&node, answered),
            Event::Finished { chain, outcome } => self.finished(&chain, outcome),
            Event::SpareOffered { chain, node } => self.offered(&chain, node),
        }
        self.decide()
    }

    fn probed(&mut self, node: &str, answered: bool) {
        let Some(health) = self.health.get_mut(node) else { return };
        let limits = self.settings;
        *health = match (*health, answered) {
            (Health::Up { .. }, true) => Health::Up { misses: 0 },
            (Health::Up { misses }, false) if misses + 1 >= limits.miss_limit => Health::Down { answers: 0 },
            (Health::Up { misses }, false) => Health::Up { misses: misses + 1 },
            (Health::Down { answers }, true) if answers + 1 >= limits.rejoin_after => Health::Up { misses: 0 },
            (Health::Down { answers }, true) => Health::Down { answers: answers + 1 },
            (Health::Down { .. }, false) => Health::Down { answers: 0 },
        };
    }

    fn finished(&mut self, name: &str, outcome: Result<ChainLayout, String>) {
        let Some(change) = self.busy.remove(name) else { return };
        let Some(chain) = self.state.chains.iter_mut().find(|c| c.name == name) else { return };
        if outcome.is_ok() {
            self.to_restart.retain(|chain| chain != name);
        }
        match (outcome, change) {
            (Ok(layout), Change::Restart) => chain.layout = layout,
            (Ok(layout), Change::Remove { node }) => {
                chain.layout = layout;
                chain.joining.take_if(|joining| *joining == node);
                chain.spares.push(node.clone());
                if !self.to_retire.contains(&node) {
                    self.to_retire.push(node);
                }
            }
            (Ok(layout), Change::Add { node }) => {
                chain.layout = layout;
                chain.spares.retain(|spare| *spare != node);
            }
            (Err(_), Change::Add { node }) => {
                chain.spares.retain(|spare| *spare != node);
                chain.joining = Some(node);
            }
            (Err(_), Change::Remove { .. } | Change::Restart) => {}
        }
    }

    fn offered(&mut self, name: &str, node: String) {
        let Some(chain) = self.state.chains.iter_mut().find(|c| c.name == name) else { return };
        if chain.layout.members.contains(&node) || chain.spares.contains(&node) {
            return;
        }
        chain.spares.push(node.clone());
        self.health.entry(node).or_insert(Health::Up { misses: 0 });
    }

    /// Retirements, then the state with every new epoch persisted once
    /// (hundreds of groups change together), then the reconfigurations.
    fn decide(&mut self) -> Vec<Decision> {
        let mut decisions = self.retirements();
        let mut reconfigurations = Vec::new();
        for index in 0..self.state.chains.len() {
            let chain = &self.state.chains[index];
            if self.busy.contains_key(&chain.name) {
                continue;
            }
            let Some(change) = self.change_for(chain) else { continue };
            let chain = &mut self.state.chains[index];
            chain.epoch_used = chain.epoch_used.max(chain.layout.epoch) + 1;
            let reconfigure = Decision::Reconfigure {
                chain: chain.name.clone(),
                change: change.clone(),
                from: chain.layout_to_change(),
                next_epoch: chain.epoch_used,
            };
            self.busy.insert(chain.name.clone(), change);
            reconfigurations.push(reconfigure);
        }
        if !reconfigurations.is_empty() {
            decisions.push(Decision::Persist(self.state.clone()));
        }
        decisions.extend(reconfigurations);
        decisions
    }

    /// Removed nodes that answer again and serve in no chain, retired once.
    fn retirements(&mut self) -> Vec<Decision> {
        let (back, waiting): (Vec<String>, Vec<String>) = std::mem::take(&mut self.to_retire)
            .into_iter()
            .partition(|node| !self.is_down(node) && !self.is_member(node));
        self.to_retire = waiting;
        back.into_iter().map(|node| Decision::Retire { node }).collect()
    }

    /// Whether `node` is a member, or a failed joiner, of any chain.
    fn is_member(&self, node: &str) -> bool {
        let named = |n: &String| n == node;
        self.state.chains.iter().any(|c| c.layout.members.iter().any(named) || c.joining.iter().any(named))
    }

    /// Whether `node` is joining a chain now.
    fn is_joining(&self, node: &str) -> bool {
        self.busy.values().any(|change| matches!(change, Change::Add { node: n } if n == node))
    }

    /// A down member to remove first (never the last: a chain of one
    /// whose node is down waits for it); else a restart not yet done; else
    /// a spare that is up, when the chain is short.
    fn change_for(&self, chain: &ChainRecord) -> Option<Change> {
        let members = &chain.layout.members;
        if let Some(down) = members.iter().find(|node| self.is_down(node)) {
            if members.len() > 1 {
                return Some(Change::Remove { node: down.clone() });
            }
        }
        if let Some(joining) = &chain.joining {
            return Some(Change::Remove { node: joining.clone() });
        }
        if self.to_restart.contains(&chain.name) {
            return Some(Change::Restart);
        }
        let spare = chain
            .spares
            .iter()
            .find(|node| !self.is_down(node) && !self.to_retire.contains(node) && !self.is_joining(node));
        match (members.len() < chain.length, spare) {
            (true, Some(node)) if members.iter().all(|m| !self.is_down(m)) => Some(Change::Add { node: node.clone() }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcraq_core::Mode;

    fn layout(members: &[&str], epoch: u32) -> ChainLayout {
        ChainLayout {
            members: members.iter().map(|m| m.to_string()).collect(),
            mode: Mode::Craq,
            key_lo: 0,
            key_hi: 16,
            epoch,
            lease_ticks: 100,
        }
    }

    fn supervisor(members: &[&str], spares: &[&str]) -> Supervisor {
        let chain = ChainRecord {
            name: "kv".into(),
            layout: layout(members, 1),
            length: members.len(),
            spares: spares.iter().map(|s| s.to_string()).collect(),
            epoch_used: 1,
            joining: None,
        };
        let mut supervisor = Supervisor::new(
            SupervisorState { chains: vec![chain] },
            SupervisorSettings { miss_limit: 3, rejoin_after: 2 },
        );
        let decisions = supervisor.start();
        assert_eq!(reconfigurations(&decisions), [(Change::Restart, 2)]);
        let restarted = layout(members, 2);
        assert!(supervisor.handle(Event::Finished { chain: "kv".into(), outcome: Ok(restarted) }).is_empty());
        supervisor
    }

    fn probe(supervisor: &mut Supervisor, node: &str, answered: bool, times: u32) -> Vec<Decision> {
        (0..times).flat_map(|_| supervisor.handle(Event::Probed { node: node.into(), answered })).collect()
    }

    fn reconfigurations(decisions: &[Decision]) -> Vec<(Change, u32)> {
        decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Reconfigure { change, next_epoch, .. } => Some((change.clone(), *next_epoch)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_member_is_removed_after_its_miss_limit_and_a_spare_joins_after() {
        let mut s = supervisor(&["n1", "n2", "n3"], &["n4"]);
        assert!(probe(&mut s, "n2", false, 2).is_empty(), "two misses are below the limit");
        assert!(probe(&mut s, "n2", true, 1).is_empty(), "an answer resets the count");
        assert!(probe(&mut s, "n2", false, 2).is_empty());
        let decisions = probe(&mut s, "n2", false, 1);
        assert!(matches!(&decisions[0], Decision::Persist(state) if state.chains[0].epoch_used == 3), "{decisions:?}");
        assert_eq!(reconfigurations(&decisions), [(Change::Remove { node: "n2".into() }, 3)]);
        assert!(probe(&mut s, "n3", false, 5).is_empty(), "one reconfiguration at a time");

        let decisions = s.handle(Event::Finished { chain: "kv".into(), outcome: Ok(layout(&["n1", "n3"], 3)) });
        // n3 went down meanwhile: it goes first; the spare waits.
        assert_eq!(reconfigurations(&decisions), [(Change::Remove { node: "n3".into() }, 4)]);
        let decisions = s.handle(Event::Finished { chain: "kv".into(), outcome: Ok(layout(&["n1"], 4)) });
        assert_eq!(reconfigurations(&decisions), [(Change::Add { node: "n4".into() }, 5)]);
        let decisions = s.handle(Event::Finished { chain: "kv".into(), outcome: Ok(layout(&["n1", "n4"], 5)) });
        assert!(decisions.is_empty(), "n2 and n3 are spares now, but down: {decisions:?}");
        assert_eq!(s.state().chains[0].spares, ["n2", "n3"]);
    }

    #[test]
    fn a_removed_node_that_answers_again_is_retired_then_joins() {
        let mut s = supervisor(&["n1", "n2"], &[]);
        let decisions = probe(&mut s, "n2", false, 3);
        assert_eq!(reconfigurations(&decisions), [(Change::Remove { node: "n2".into() }, 3)]);
        assert!(s.handle(Event::Finished { chain: "kv".into(), outcome: Ok(layout(&["n1"], 3)) }).is_empty());
        assert!(probe(&mut s, "n2", true, 1).is_empty(), "one answer is not enough");
        let decisions = probe(&mut s, "n2", true, 1);
        assert_eq!(decisions[0], Decision::Retire { node: "n2".into() });
        assert_eq!(reconfigurations(&decisions), [(Change::Add { node: "n2".into() }, 4)]);
    }

    #[test]
    fn a_failed_attempt_is_retried_with_a_new_epoch() {
        let mut s = supervisor(&["n1", "n2", "n3"], &[]);
        let decisions = probe(&mut s, "n3", false, 3);
        assert_eq!(reconfigurations(&decisions), [(Change::Remove { node: "n3".into() }, 3)]);
        let decisions = s.handle(Event::Finished { chain: "kv".into(), outcome: Err("n2 timed out".into()) });
        assert_eq!(reconfigurations(&decisions), [(Change::Remove { node: "n3".into() }, 4)]);
        assert_eq!(s.state().chains[0].layout.epoch, 2, "the layout stays the last one reached");
    }

    #[test]
    fn a_failed_join_removes_the_joiner_as_a_tail_before_it_joins_again() {
        let mut s = supervisor(&["n1", "n2"], &[]);
        let decisions = probe(&mut s, "n2", false, 3);
        assert_eq!(reconfigurations(&decisions), [(Change::Remove { node: "n2".into() }, 3)]);
        assert!(s.handle(Event::Finished { chain: "kv".into(), outcome: Ok(layout(&["n1"], 3)) }).is_empty());
        let decisions = probe(&mut s, "n2", true, 2);
        assert_eq!(reconfigurations(&decisions), [(Change::Add { node: "n2".into() }, 4)]);

        let decisions = s.handle(Event::Finished { chain: "kv".into(), outcome: Err("n2 timed out".into()) });
        let from = decisions.iter().find_map(|d| match d {
            Decision::Reconfigure { change: Change::Remove { node }, from, next_epoch: 5, .. } if node == "n2" => {
                Some(from.members.clone())
            }
            _ => None,
        });
        assert_eq!(from, Some(vec!["n1".to_string(), "n2".to_string()]), "{decisions:?}");
        assert!(matches!(&decisions[0], Decision::Persist(state) if state.chains[0].joining.as_deref() == Some("n2")));
        // n2 answers its probes: it is retired, then joins again.
        let decisions = s.handle(Event::Finished { chain: "kv".into(), outcome: Ok(layout(&["n1"], 5)) });
        assert_eq!(s.state().chains[0].joining, None);
        assert_eq!(decisions[0], Decision::Retire { node: "n2".into() });
        assert_eq!(reconfigurations(&decisions), [(Change::Add { node: "n2".into() }, 6)]);
    }

    #[test]
    fn a_chain_of_one_keeps_its_last_node() {
        let mut s = supervisor(&["n1"], &[]);
        assert!(probe(&mut s, "n1", false, 10).is_empty());
    }

    #[test]
    fn an_offered_spare_joins_a_short_chain_and_unknown_nodes_are_ignored() {
        let mut s = supervisor(&["n1", "n2"], &[]);
        s.state.chains[0].length = 3;
        assert!(probe(&mut s, "n9", false, 5).is_empty(), "not a node of any chain");
        let decisions = s.handle(Event::SpareOffered { chain: "kv".into(), node: "n5".into() });
        assert_eq!(reconfigurations(&decisions), [(Change::Add { node: "n5".into() }, 3)]);
        assert!(s.handle(Event::SpareOffered { chain: "kv".into(), node: "n5".into() }).is_empty());
    }

    #[test]
    fn a_start_takes_an_epoch_above_the_nodes_from_the_stored_members() {
        let chain = ChainRecord {
            name: "kv".into(),
            layout: layout(&["n1", "n3"], 5),
            length: 3,
            spares: vec!["n2".into(), "n4".into()],
            epoch_used: 6,
            joining: None,
        };
        let settings = SupervisorSettings { miss_limit: 3, rejoin_after: 2 };
        let mut s = Supervisor::new(SupervisorState { chains: vec![chain] }, settings);
        // n2 was removed in epoch 6 but still holds epoch 5; n3 holds an epoch the state lost.
        s.reconcile(&BTreeMap::from([("n1".into(), 6), ("n2".into(), 5), ("n3".into(), 9)]));
        let decisions = s.start();
        assert_eq!(reconfigurations(&decisions), [(Change::Restart, 10)]);
        let from = decisions.iter().find_map(|d| match d {
            Decision::Reconfigure { from, .. } => Some(from.members.clone()),
            _ => None,
        });
        assert_eq!(from.unwrap(), ["n1", "n3"], "the persisted members, not the file's");
    }

    #[test]
    fn the_state_round_trips_as_json() {
        let s = supervisor(&["n1", "n2"], &["n3"]);
        let text = serde_json::to_string(s.state()).unwrap();
        assert_eq!(serde_json::from_str::<SupervisorState>(&text).unwrap(), *s.state());
    }
}
