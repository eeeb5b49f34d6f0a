//! Reconfiguring a chain while it serves (`docs/protocol.md` §10): a node
//! removed, or a node added at the tail. Planning is pure: [`plan_removal`]
//! and [`plan_addition`] turn a [`ChainLayout`] into the new layout and the
//! [`Step`]s that reach it; [`Controller::reconfigure`] carries the steps
//! out over the [`Target`] interface, whatever kind of node each is.

use crate::deploy::Controller;
use crate::target::{NodeError, Target};
use netcraq_core::control::CounterId;
use netcraq_core::{Mode, NodeConfig, Outcome};
use netcraq_plan::plan::NodeTables;
use netcraq_wire::{FrameBytes, Ipv4Addr, MacAddr, NetcraqFrame, NetcraqRepr, Op, NETCRAQ_UDP_PORT};
use std::time::{Duration, Instant};

/// Rounds of SWEEPs a sweep or a sync sends at most before it gives up.
pub const MAX_SWEEP_ROUNDS: u32 = 4;
/// How long a round waits for the node to count every SWEEP (or the joining
/// node every key) before the next round.
pub const SWEEP_ROUND_WAIT: Duration = Duration::from_secs(3);
/// Counters are read again after 1 ms, then ever less often, up to every
/// 20 ms: a group's few keys are counted at once, 65,536 take a while.
const FIRST_COUNTER_POLL: Duration = Duration::from_millis(1);
const COUNTER_POLL: Duration = Duration::from_millis(20);
/// The source MAC of the frames the controller sends through PacketOut:
/// locally administered, and never a node's.
const CONTROLLER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0]);

/// A chain as the controller configures it: its members head to tail and
/// what every member's `node_config` shares.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChainLayout {
    pub members: Vec<String>,
    pub mode: Mode,
    pub key_lo: u16,
    pub key_hi: u32,
    pub epoch: u32,
    pub lease_ticks: u32,
    /// The layout is one group of a chain in groups (`docs/protocol.md`
    /// §11): its members serve its keys through a `key_group` entry, and
    /// their `node_config` serves no key.
    #[serde(default)]
    pub grouped: bool,
}

impl ChainLayout {
    fn tail(&self) -> Result<&str, String> {
        self.members.last().map(String::as_str).ok_or_else(|| "the chain has no node".to_string())
    }
}

/// Computes every member's tables for a layout (routes and fabric ports
/// over the network that links the nodes).
pub trait LayoutPlanner {
    fn tables(&self, layout: &ChainLayout) -> Result<Vec<(String, NodeTables)>, String>;
}

/// One step of a reconfiguration, carried out in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Waits until a removed node's lease has surely lapsed (§9.3), so that
    /// it serves nothing once the chain goes on without it.
    WaitForLeases(Duration),
    /// Writes a member's forwarding state and `key_group` entries, then its
    /// `node_config`; `chain` is the member's chain in the layout (§2.3).
    Configure { node: String, tables: NodeTables, chain: NodeConfig },
    /// Sweeps a node's keys of `chain`, its chain in the layout: one SWEEP
    /// per key, until it has counted every one (§10.1).
    Sweep { node: String, chain: NodeConfig },
    /// Sweeps `from`'s keys of `chain`, its chain in the layout, until
    /// `joining`, a syncing tail, has received every one (§10.4).
    Sync { from: String, chain: NodeConfig, joining: String },
}

/// The layout without `removed`, in the next epoch, and the steps to it:
/// wait out the removed node's lease, configure the others tail first,
/// then sweep them tail first (§10.2, §10.3).
pub fn plan_removal(
    layout: &ChainLayout,
    removed: &str,
    next_epoch: u32,
    lease_wait: Duration,
    planner: &impl LayoutPlanner,
) -> Result<(ChainLayout, Vec<Step>), String> {
    if !layout.members.iter().any(|m| m == removed) {
        return Err(format!("{removed} is not a member of the chain {:?}", layout.members));
    }
    check_epoch(layout, next_epoch)?;
    let members: Vec<String> = layout.members.iter().filter(|m| *m != removed).cloned().collect();
    if members.is_empty() {
        return Err(format!("{removed} is the chain's last node: a chain needs one"));
    }
    let next = ChainLayout { members, epoch: next_epoch, ..layout.clone() };
    let mut steps = Vec::new();
    if layout.lease_ticks != 0 {
        steps.push(Step::WaitForLeases(lease_wait));
    }
    let planned = planner.tables(&next)?;
    steps.extend(configure_tail_first(&planned, &next));
    steps.extend(sweep_tail_first(&planned, &next));
    Ok((next, steps))
}

/// The layout with `joining` after the tail, in the next epoch, and the
/// steps to it (§10.4): `joining` as a syncing tail, the others tail first,
/// the old tail swept until `joining` holds every key, `joining` a full
/// member, then every node swept tail first.
pub fn plan_addition(
    layout: &ChainLayout,
    joining: &str,
    next_epoch: u32,
    planner: &impl LayoutPlanner,
) -> Result<(ChainLayout, Vec<Step>), String> {
    if layout.members.iter().any(|m| m == joining) {
        return Err(format!("{joining} is already a member of the chain"));
    }
    check_epoch(layout, next_epoch)?;
    let old_tail = layout.tail()?.to_string();
    let mut members = layout.members.clone();
    members.push(joining.to_string());
    let next = ChainLayout { members, epoch: next_epoch, ..layout.clone() };
    let mut planned = planner.tables(&next)?;
    let sweeps: Vec<Step> = sweep_tail_first(&planned, &next).collect();
    let at = planned.iter().position(|(name, _)| name == joining).ok_or("the planner left out the new node")?;
    let (_, member) = planned.remove(at);
    let mut syncing = member.clone();
    syncing.set_sync_epoch(next.key_lo, next.key_hi, next_epoch);
    let mut steps = vec![configure(joining, syncing, &next)];
    steps.extend(configure_tail_first(&planned, &next));
    let (_, old_tail_tables) =
        planned.iter().find(|(name, _)| *name == old_tail).ok_or("the planner left out the tail")?;
    let chain = old_tail_tables.chain_of(next.key_lo, next.key_hi);
    steps.push(Step::Sync { from: old_tail, chain, joining: joining.to_string() });
    steps.push(configure(joining, member, &next));
    steps.extend(sweeps);
    Ok((next, steps))
}

/// The same members in the next epoch, when nothing is known of what the
/// nodes hold (a controller starting, or taking over from another): every
/// member configured tail first, then swept tail first, which repairs
/// whatever a reconfiguration cut short left dirty (§10.1).
pub fn plan_restart(
    layout: &ChainLayout,
    next_epoch: u32,
    planner: &impl LayoutPlanner,
) -> Result<(ChainLayout, Vec<Step>), String> {
    check_epoch(layout, next_epoch)?;
    let next = ChainLayout { epoch: next_epoch, ..layout.clone() };
    let planned = planner.tables(&next)?;
    let mut steps: Vec<Step> = configure_tail_first(&planned, &next).collect();
    steps.extend(sweep_tail_first(&planned, &next));
    Ok((next, steps))
}

/// Epochs only grow, so that no node is ever given one twice (§9.2, §10.4).
fn check_epoch(layout: &ChainLayout, next_epoch: u32) -> Result<(), String> {
    match next_epoch > layout.epoch {
        true => Ok(()),
        false => Err(format!("the next epoch {next_epoch} must be above the chain's {}", layout.epoch)),
    }
}

fn configure(node: &str, tables: NodeTables, layout: &ChainLayout) -> Step {
    let chain = tables.chain_of(layout.key_lo, layout.key_hi);
    Step::Configure { node: node.to_string(), tables, chain }
}

fn configure_tail_first<'a>(
    planned: &'a [(String, NodeTables)],
    layout: &'a ChainLayout,
) -> impl Iterator<Item = Step> + 'a {
    planned.iter().rev().map(move |(node, tables)| configure(node, tables.clone(), layout))
}

/// Planned in member order, as every planner gives them.
fn sweep_tail_first<'a>(
    planned: &'a [(String, NodeTables)],
    layout: &'a ChainLayout,
) -> impl Iterator<Item = Step> + 'a {
    let chain = |tables: &NodeTables| tables.chain_of(layout.key_lo, layout.key_hi);
    planned.iter().rev().map(move |(node, tables)| Step::Sweep { node: node.clone(), chain: chain(tables) })
}

/// A SWEEP of `key` to the node configured `config` (§10.1).
pub fn sweep_frame(config: &NodeConfig, key: u16) -> FrameBytes {
    control_frame(config, NetcraqRepr { op: Op::Sweep, version: 0, key, value: [0; 16] })
}

/// A RENEW to the node configured `config` carrying `lease_end_ticks`, a
/// reading of the node's lease clock; 0 only reads the clock (§9.3).
pub fn renew_frame(config: &NodeConfig, lease_end_ticks: u32) -> FrameBytes {
    let value = NetcraqRepr::renew_value(lease_end_ticks);
    control_frame(config, NetcraqRepr { op: Op::Renew, version: 0, key: 0, value })
}

/// `header` to the node configured `config`, as PacketOut carries it: a
/// chain frame of the node's epoch (§1.4).
fn control_frame(config: &NodeConfig, header: NetcraqRepr) -> FrameBytes {
    NetcraqFrame {
        eth_src: CONTROLLER_MAC,
        eth_dst: config.own_mac,
        ip_src: Ipv4Addr::UNSPECIFIED,
        ip_dst: config.own_ip,
        ttl: 64,
        tos: 0,
        ident: 0,
        flags_fragment: 0,
        udp_src: NETCRAQ_UDP_PORT,
        udp_dst: NETCRAQ_UDP_PORT,
        header,
        epoch: config.epoch,
    }
    .to_bytes()
}

/// What [`Controller::reconfigure`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconfigureReport {
    /// One line per step, in order.
    pub done: Vec<String>,
    /// SWEEPs sent, over every sweep and sync.
    pub sweeps_sent: u64,
}

impl Controller {
    /// Carries out `steps` (from [`plan_removal`] or [`plan_addition`]) on
    /// this controller's nodes, which must include every node they name and
    /// whose primary role this controller holds. Stops at the first
    /// failure, saying which step it was.
    pub async fn reconfigure(&mut self, steps: &[Step]) -> Result<ReconfigureReport, NodeError> {
        let mut report = ReconfigureReport::default();
        // Each joining node's KEY_RECEIVED count before it became a syncing tail.
        let mut received_before: Vec<(String, u64)> = Vec::new();
        for step in steps {
            let line = match step {
                Step::WaitForLeases(wait) => {
                    tokio::time::sleep(*wait).await;
                    format!("waited {wait:?} for the removed node's lease to lapse")
                }
                Step::Configure { node, tables, chain } => {
                    if chain.is_syncing() {
                        let count = outcome_count(self.member(node)?, Outcome::KeyReceived).await?;
                        received_before.push((node.clone(), count));
                    }
                    self.configure(node, tables, chain).await?
                }
                Step::Sweep { node, chain } => {
                    let target = self.member(node)?;
                    let (sent, rounds) = sweep(target, chain, &SWEPT).await?;
                    report.sweeps_sent += sent;
                    format!("{node}: swept ({sent} SWEEPs in {rounds} round(s))")
                }
                Step::Sync { from, chain, joining } => {
                    let before = received_before.iter().find(|(node, _)| node == joining).map(|(_, count)| *count);
                    let before = before.ok_or_else(|| {
                        NodeError::new(joining, "", "is synced without being configured as a syncing tail first")
                    })?;
                    let (sent, rounds) = self.sync(from, chain, joining, before).await?;
                    report.sweeps_sent += sent;
                    format!("{joining}: received every key from {from} ({sent} SWEEPs in {rounds} round(s))")
                }
            };
            report.done.push(line);
        }
        Ok(report)
    }

    async fn configure(&mut self, node: &str, tables: &NodeTables, chain: &NodeConfig) -> Result<String, NodeError> {
        let target = self.member(node)?;
        let mut tables = tables.clone();
        tables.add_controller_port(target.capabilities().packet_out_port);
        let changes = target.write_forwarding(&tables).await?;
        target.set_config(&tables.config).await?;
        self.set_tables(node, tables);
        let syncing = if chain.is_syncing() { ", syncing" } else { "" };
        let keys = format!("keys {}..{}", chain.key_lo, chain.key_hi);
        Ok(format!("{node}: {changes}; {keys} as {}, epoch {}{syncing}", chain.role.name(), chain.epoch))
    }

    /// Sweeps `from`'s keys of `chain` until `joining` has counted
    /// `KEY_RECEIVED` for every one since it became a syncing tail (when it
    /// counted `received_before`): the only count that tells that it holds
    /// every key (§10.4), whether a write or the sweep brought it.
    async fn sync(
        &mut self,
        from: &str,
        chain: &NodeConfig,
        joining: &str,
        received_before: u64,
    ) -> Result<(u64, u32), NodeError> {
        let keys = key_count(chain);
        let mut sent = 0;
        for round in 1..=MAX_SWEEP_ROUNDS {
            sent += send_sweeps(self.member(from)?, chain).await?;
            let deadline = Instant::now() + SWEEP_ROUND_WAIT;
            let mut poll = FIRST_COUNTER_POLL;
            loop {
                // Saturating: a node that restarted counts from 0 again, and must not look synced.
                let received =
                    outcome_count(self.member(joining)?, Outcome::KeyReceived).await?.saturating_sub(received_before);
                if received >= keys {
                    return Ok((sent, round));
                }
                if Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(poll).await;
                poll = (poll * 2).min(COUNTER_POLL);
            }
        }
        let target = self.member(joining)?;
        Err(NodeError::new(
            target.name(),
            target.address(),
            format!("did not receive all {keys} keys from {from} after {MAX_SWEEP_ROUNDS} sweeps: it stays syncing"),
        ))
    }

    fn member(&mut self, node: &str) -> Result<&mut (dyn Target + 'static), NodeError> {
        self.target(node).ok_or_else(|| NodeError::new(node, "", "is not a node of this controller's deployment"))
    }
}

/// The outcomes that count a SWEEP at the swept node: one per key.
const SWEPT: [Outcome; 4] = [Outcome::SweepResent, Outcome::SweepCopied, Outcome::SweepCommitted, Outcome::SweepClean];

/// Sweeps `target`'s keys of `chain` until one round's SWEEPs are all
/// counted by its `counted` outcomes, one per key: then every key was swept
/// (a round with a lost SWEEP is simply repeated, as every SWEEP is
/// harmless, §10.1). Returns the SWEEPs sent and the rounds it took.
async fn sweep(target: &mut dyn Target, chain: &NodeConfig, counted: &[Outcome]) -> Result<(u64, u32), NodeError> {
    let keys = key_count(chain);
    let mut sent = 0;
    for round in 1..=MAX_SWEEP_ROUNDS {
        let before = outcome_sum(target, counted).await?;
        sent += send_sweeps(target, chain).await?;
        let deadline = Instant::now() + SWEEP_ROUND_WAIT;
        let mut poll = FIRST_COUNTER_POLL;
        while Instant::now() < deadline {
            if outcome_sum(target, counted).await?.saturating_sub(before) >= keys {
                return Ok((sent, round));
            }
            tokio::time::sleep(poll).await;
            poll = (poll * 2).min(COUNTER_POLL);
        }
    }
    Err(NodeError::new(
        target.name(),
        target.address(),
        format!("did not count a SWEEP for each of its {keys} keys in any of {MAX_SWEEP_ROUNDS} rounds"),
    ))
}

fn key_count(config: &NodeConfig) -> u64 {
    u64::from(config.key_hi) - u64::from(config.key_lo)
}

/// One SWEEP per key of `chain`, in its epoch, through PacketOut.
async fn send_sweeps(target: &mut dyn Target, chain: &NodeConfig) -> Result<u64, NodeError> {
    let mut sent = 0;
    for key in u32::from(chain.key_lo)..chain.key_hi {
        let key = u16::try_from(key).expect("key_hi <= 65536");
        target.packet_out(&sweep_frame(chain, key)).await?;
        sent += 1;
    }
    Ok(sent)
}

async fn outcome_count(target: &mut dyn Target, outcome: Outcome) -> Result<u64, NodeError> {
    outcome_sum(target, &[outcome]).await
}

async fn outcome_sum(target: &mut dyn Target, outcomes: &[Outcome]) -> Result<u64, NodeError> {
    let counts = target.read_counter(CounterId::Outcomes).await?;
    Ok(outcomes.iter().map(|o| counts.get(o.index()).copied().unwrap_or(0)).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tables with nothing but a node_config as the planner would make it.
    struct Planner;

    impl LayoutPlanner for Planner {
        fn tables(&self, layout: &ChainLayout) -> Result<Vec<(String, NodeTables)>, String> {
            let ip = |name: &str| Ipv4Addr::new(10, 0, 0, name[1..].parse().unwrap());
            let spec = netcraq_plan::plan::ChainSpec {
                nodes: layout
                    .members
                    .iter()
                    .map(|m| netcraq_wire::Endpoint { ip: ip(m), mac: MacAddr([2, 0, 0, 0, 0, ip(m).octets()[3]]) })
                    .collect(),
                mode: layout.mode,
                key_lo: layout.key_lo,
                key_hi: layout.key_hi,
                epoch: layout.epoch,
                lease_ticks: layout.lease_ticks,
            };
            let tables = netcraq_plan::plan::chain_tables(&spec, &[], &OnePort).map_err(|e| e.to_string())?;
            Ok(layout.members.iter().cloned().zip(tables).collect())
        }
    }

    struct OnePort;

    impl netcraq_plan::plan::Reachability for OnePort {
        fn port(&self, _: usize, to: Ipv4Addr) -> Option<(u16, MacAddr)> {
            Some((u16::from(to.octets()[3]), MacAddr([2, 0, 0, 0, 0, to.octets()[3]])))
        }
    }

    fn layout(members: &[&str], lease_ticks: u32) -> ChainLayout {
        ChainLayout {
            members: members.iter().map(|m| m.to_string()).collect(),
            mode: Mode::Craq,
            key_lo: 0,
            key_hi: 64,
            epoch: 1,
            lease_ticks,
            grouped: false,
        }
    }

    fn names(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|step| match step {
                Step::WaitForLeases(_) => "wait".to_string(),
                Step::Configure { node, chain, .. } if chain.is_syncing() => format!("configure {node} syncing"),
                Step::Configure { node, chain, .. } => format!("configure {node} {}", chain.role.name()),
                Step::Sweep { node, .. } => format!("sweep {node}"),
                Step::Sync { from, joining, .. } => format!("sync {joining} from {from}"),
            })
            .collect()
    }

    #[test]
    fn a_removal_waits_for_the_lease_configures_then_sweeps_tail_first() {
        let (next, steps) =
            plan_removal(&layout(&["n1", "n2", "n3"], 100), "n3", 2, Duration::from_secs(1), &Planner).expect("plans");
        assert_eq!((next.members.as_slice(), next.epoch), (&["n1".to_string(), "n2".to_string()][..], 2));
        let expected = ["wait", "configure n2 TAIL", "configure n1 HEAD", "sweep n2", "sweep n1"];
        assert_eq!(names(&steps), expected);
        let (_, steps) =
            plan_removal(&layout(&["n1", "n2", "n3"], 0), "n2", 2, Duration::from_secs(1), &Planner).unwrap();
        assert_eq!(names(&steps)[0], "configure n3 TAIL", "no lease to wait for");
        let Step::Configure { tables, .. } = &steps[1] else { panic!() };
        assert_eq!((tables.config.successor_ip, tables.config.epoch), (Ipv4Addr::new(10, 0, 0, 3), 2));
    }

    #[test]
    fn an_addition_syncs_the_new_tail_before_it_serves_every_key() {
        let (next, steps) = plan_addition(&layout(&["n1", "n3"], 0), "n4", 5, &Planner).expect("plans");
        assert_eq!(next.members, ["n1", "n3", "n4"]);
        let expected = [
            "configure n4 syncing",
            "configure n3 REPLICA",
            "configure n1 HEAD",
            "sync n4 from n3",
            "configure n4 TAIL",
            "sweep n4",
            "sweep n3",
            "sweep n1",
        ];
        assert_eq!(names(&steps), expected);
        let Step::Configure { tables, .. } = &steps[0] else { panic!() };
        assert_eq!((tables.config.sync_epoch, tables.config.epoch), (5, 5), "the join's number is its epoch");
    }

    #[test]
    fn refuses_what_cannot_be_done() {
        let chain = layout(&["n1", "n2"], 0);
        let wait = Duration::ZERO;
        assert!(plan_removal(&chain, "n9", 2, wait, &Planner).unwrap_err().contains("not a member"));
        assert!(plan_removal(&chain, "n1", 1, wait, &Planner).unwrap_err().contains("must be above"));
        assert!(plan_removal(&layout(&["n1"], 0), "n1", 2, wait, &Planner).unwrap_err().contains("last node"));
        assert!(plan_addition(&chain, "n2", 2, &Planner).unwrap_err().contains("already a member"));
    }

    #[test]
    fn control_frames_are_chain_frames_of_the_nodes_epoch() {
        let (_, steps) = plan_addition(&layout(&["n1"], 0), "n2", 3, &Planner).unwrap();
        let Step::Configure { tables, .. } = &steps[0] else { panic!() };
        let frame = NetcraqFrame::parse(&sweep_frame(&tables.config, 7)).expect("parses");
        assert_eq!((frame.header.op, frame.header.key, frame.epoch), (Op::Sweep, 7, 3));
        assert_eq!((frame.ip_dst, frame.eth_dst), (tables.config.own_ip, tables.config.own_mac));
        let renew = NetcraqFrame::parse(&renew_frame(&tables.config, 0x0102_0304)).expect("parses");
        assert_eq!((renew.header.op, renew.header.lease_end_ticks(), renew.epoch), (Op::Renew, 0x0102_0304, 3));
        assert_eq!(renew.header.value, [1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "bytes 4..16 are 0");
    }
}
