//! Chains on the in-memory network, end to end: real nodes, real frames,
//! simulated clients. Each test is bounded in simulated time and operations.

use netcraq_core::faults::PortFaults;
use netcraq_core::{Mode, Outcome, Role};
use netcraq_linearizability::{check, save_history_if_requested, CheckResult, History, Operation as LinOp};
use netcraq_sim::{
    build_chain, ChainNetwork, ChainNetworkSpec, HistoryEntry, Layout, LinkConfig, NodeChoice, OpResult, Operation,
    PlannedOp, RunStop, SimClient, SimClientConfig, SimConfig, SimWorkload, Value, WorkloadSpec,
};
use std::collections::BTreeMap;

/// Simulated time during which clients issue operations.
const ISSUE_NS: u64 = 2_000_000;
/// Far beyond any operation's last retransmission: a run that is not idle by then is stuck.
const DRAIN_LIMIT_NS: u64 = 1_000_000_000;

fn faulty_link() -> LinkConfig {
    let faults = PortFaults { loss_percent: 2.0, duplicate_percent: 2.0, reorder_percent: 0.0 };
    LinkConfig { jitter_ns: 4_000, faults, ..LinkConfig::default() }
}

fn client_config(workers: u16) -> SimClientConfig {
    SimClientConfig { workers, timeout_ns: 200_000, max_retransmissions: 10, ..SimClientConfig::default() }
}

fn random(read_fraction: f64, key_count: u32) -> SimWorkload {
    let spec = WorkloadSpec { read_fraction, key_count, ..WorkloadSpec::default() };
    SimWorkload::Random { spec, issue_until_ns: ISSUE_NS }
}

fn spec(nodes: usize, mode: Mode, seed: u64) -> ChainNetworkSpec {
    ChainNetworkSpec { nodes, clients: 2, mode, sim: SimConfig { seed, ..SimConfig::default() }, ..Default::default() }
}

fn start(spec: &ChainNetworkSpec, config: SimClientConfig, workload: SimWorkload) -> ChainNetwork<SimClient> {
    let seed = spec.sim.seed;
    build_chain(spec, |placement| SimClient::new(placement, config, workload.clone(), seed).unwrap()).unwrap()
}

/// Runs until clients have nothing left to do and the network is quiet.
fn run_to_idle(network: &mut ChainNetwork<SimClient>) {
    let limit_ns = network.sim.now_ns() + DRAIN_LIMIT_NS;
    assert_eq!(network.sim.run_until(limit_ns), RunStop::Idle);
    assert!(network.clients.iter().all(|host| network.sim.host(*host).is_idle()));
}

fn history(network: &ChainNetwork<SimClient>) -> Vec<HistoryEntry> {
    network.clients.iter().flat_map(|host| network.sim.host(*host).history().iter().copied()).collect()
}

fn count(network: &ChainNetwork<SimClient>, position: usize, outcome: Outcome) -> u64 {
    network.sim.node(network.chain[position]).outcome_count(outcome)
}

fn written_values(history: &[HistoryEntry]) -> BTreeMap<u16, Vec<Value>> {
    let mut values: BTreeMap<u16, Vec<Value>> = BTreeMap::new();
    for entry in history {
        if let Operation::Write { key, value } = entry.op {
            values.entry(key).or_default().push(value);
        }
    }
    values
}

/// The simulated history in the checker's terms: failed reads and refused
/// writes had no effect; writes without a reply may take effect at any time.
fn checked_history(history: &[HistoryEntry]) -> History {
    let operation = |e: &HistoryEntry| match (e.op, e.result) {
        (Operation::Read { key }, OpResult::Ok { value, .. }) => {
            Some(LinOp::read(e.process(), key, e.invoke_ns, e.return_ns, value))
        }
        (Operation::Write { key, value }, OpResult::Ok { .. }) => {
            Some(LinOp::write(e.process(), key, e.invoke_ns, e.return_ns, value))
        }
        (Operation::Write { key, value }, OpResult::OutcomeUnknown | OpResult::TimedOut) => {
            Some(LinOp::indeterminate_write(e.process(), key, e.invoke_ns, e.return_ns, value))
        }
        _ => None,
    };
    history.iter().filter_map(operation).collect()
}

fn is_ok(entry: &HistoryEntry) -> bool {
    matches!(entry.result, OpResult::Ok { .. })
}

/// Also saves the history under the test's name when NETCRAQ_HISTORY_DIR
/// asks (docs/linearizability.md).
fn assert_linearizable(history: &[HistoryEntry]) {
    let history = checked_history(history);
    let name = std::thread::current().name().unwrap_or("chain_sim").to_string();
    save_history_if_requested(&history, &name).expect("saves the history");
    match check(&history) {
        CheckResult::Linearizable => {}
        other => panic!("the history is not shown linearizable: {other:?}"),
    }
}

#[test]
fn the_same_seed_gives_the_same_run_and_another_seed_another() {
    let outcome_of = |seed| {
        let mut network = start(
            &ChainNetworkSpec { chain_links: faulty_link(), ..spec(3, Mode::Craq, seed) },
            client_config(4),
            random(0.6, 16),
        );
        run_to_idle(&mut network);
        let counts: Vec<_> = network.chain.iter().map(|id| *network.sim.node(*id).outcome_counts()).collect();
        (history(&network), counts, network.sim.counters(), network.sim.now_ns())
    };
    let first = outcome_of(7);
    assert!(first.0.len() > 100, "the run did some work: {} operations", first.0.len());
    assert_eq!(first, outcome_of(7));
    assert_ne!(first.0, outcome_of(8).0);
}

#[test]
fn under_loss_duplication_and_jitter_acknowledged_writes_stay_readable_at_every_node() {
    let spec = ChainNetworkSpec { chain_links: faulty_link(), ..spec(3, Mode::Craq, 11) };
    let mut network = start(&spec, client_config(8), random(0.5, 24));
    run_to_idle(&mut network);
    let run = history(&network);
    assert_linearizable(&run);
    let faults = network.sim.counters().links;
    assert!(faults.lost > 0 && faults.duplicated > 0, "faults were injected: {faults:?}");
    for position in 0..3 {
        assert!(count(&network, position, Outcome::ReadLocal) > 0, "node {position} answered reads itself");
    }

    let keys: Vec<u16> = written_values(&run).into_keys().collect();
    let script = keys.iter().flat_map(|key| (0..3).map(|node| PlannedOp { op: Operation::Read { key: *key }, node }));
    let client = network.clients[0];
    let before = network.sim.host(client).history().len();
    network.sim.update_host(client, |c| c.set_workload(SimWorkload::Script(script.collect())).unwrap());
    run_to_idle(&mut network);

    let checks = &network.sim.host(client).history()[before..];
    assert_eq!(checks.len(), keys.len() * 3);
    for key in keys {
        let results: Vec<OpResult> = checks.iter().filter(|e| e.op.key() == key).map(|e| e.result).collect();
        assert!(matches!(results[0], OpResult::Ok { .. }), "key {key}: a check read failed: {results:?}");
        assert!(results.iter().all(|r| *r == results[0]), "key {key}: the nodes disagree: {results:?}");
    }
    // The final reads at every node, with everything before them.
    assert_linearizable(&history(&network));
}

#[test]
fn craq_forwards_dirty_reads_to_the_tail_under_a_write_heavy_load() {
    let mut network = start(&spec(3, Mode::Craq, 3), client_config(8), random(0.3, 4));
    run_to_idle(&mut network);
    for position in 0..2 {
        assert!(count(&network, position, Outcome::ReadToTail) > 0, "node {position} forwarded dirty reads");
        assert!(count(&network, position, Outcome::ReadLocal) > 0, "node {position} answered clean reads");
    }
    assert_eq!(count(&network, 2, Outcome::ReadToTail), 0, "the tail answers every read it gets");
}

#[test]
fn in_cr_mode_only_the_tail_answers_reads() {
    let mut network = start(&spec(3, Mode::Cr, 5), client_config(8), random(0.7, 64));
    run_to_idle(&mut network);
    let reads_ok = history(&network).iter().filter(|e| e.op.is_read() && is_ok(e)).count();
    for position in 0..2 {
        assert_eq!(count(&network, position, Outcome::ReadLocal), 0);
        assert!(count(&network, position, Outcome::ReadToTail) > 0);
    }
    assert_eq!(count(&network, 2, Outcome::ReadLocal), reads_ok as u64, "a clean network: one answer per read");
}

#[test]
fn a_chain_of_one_answers_everything_itself() {
    let mut network = start(&spec(1, Mode::Craq, 9), client_config(4), random(0.5, 8));
    run_to_idle(&mut network);
    let run = history(&network);
    assert!(run.iter().all(is_ok), "a clean network completes everything");
    assert_linearizable(&run);
    let writes = run.iter().filter(|e| !e.op.is_read()).count() as u64;
    assert_eq!(network.sim.node(network.chain[0]).config().unwrap().role, Role::Solo);
    assert_eq!(count(&network, 0, Outcome::WriteStamped), writes);
    assert_eq!(count(&network, 0, Outcome::ReadLocal), (run.len() as u64) - writes);
}

#[test]
fn retransmissions_complete_operations_despite_loss() {
    let lossy =
        LinkConfig { faults: PortFaults { loss_percent: 5.0, ..PortFaults::default() }, ..LinkConfig::default() };
    let spec = ChainNetworkSpec { chain_links: lossy, client_links: lossy, ..spec(3, Mode::Craq, 13) };
    let mut network = start(&spec, client_config(8), random(0.6, 256));
    run_to_idle(&mut network);
    let run = history(&network);
    assert!(run.iter().all(|e| e.result != OpResult::TimedOut), "ten retransmissions always get through");
    let recovered = |read| run.iter().filter(move |e| e.op.is_read() == read && e.retransmissions > 0 && is_ok(e));
    assert!(recovered(true).count() > 0, "some reads completed after a retransmission");
    assert!(recovered(false).count() > 0, "some writes completed after a retransmission");
    assert!(count(&network, 0, Outcome::WriteRetransmit) > 0, "the head re-sent stored versions");
    let unknown: Vec<_> = run.iter().filter(|e| e.result == OpResult::OutcomeUnknown).collect();
    assert!(unknown.iter().all(|e| !e.op.is_read() && e.retransmissions > 0), "only retransmitted writes: {unknown:?}");
    assert_linearizable(&run);
}

#[test]
fn a_line_layout_reaches_far_nodes_through_the_near_ones() {
    let spec = ChainNetworkSpec { layout: Layout::Line, clients: 3, ..spec(3, Mode::Craq, 17) };
    let workload =
        WorkloadSpec { read_fraction: 0.5, key_count: 16, write_target: NodeChoice::Tail, ..Default::default() };
    let mut network = start(&spec, client_config(4), SimWorkload::Random { spec: workload, issue_until_ns: ISSUE_NS });
    run_to_idle(&mut network);
    let run = history(&network);
    assert!(run.iter().all(is_ok));
    assert!(count(&network, 1, Outcome::Transit) > 0, "the replica carries frames between head and tail");
    assert!(run.iter().all(|e| e.op.is_read() || e.node == 2), "writes all went to the tail");
    assert!(count(&network, 2, Outcome::WriteToHead) > 0);
}
