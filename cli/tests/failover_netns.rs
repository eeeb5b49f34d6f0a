//! The running controller keeps a chain serving through node failures, with
//! real packets: `netcraq node` processes on network namespaces, a
//! concurrent mixed workload, and the controller service
//! (`netcraq_controller::service`) detecting each `kill -9`, failing over
//! and bringing a spare in. Every history is checked for linearizability,
//! with a final read of every key. Needs root (CI runs as root); otherwise
//! it says SKIP.

mod support;

use netcraq_client::{run_workload, ClientOptions, KeyDistribution, Stop, Workload, WriteTarget};
use netcraq_controller::running_topology::TopologyPlanner;
use netcraq_controller::service::{self, InMemory, Note, NoteKind, ServiceSettings};
use netcraq_controller::supervisor::{ChainRecord, Change, SupervisorState};
use netcraq_controller::Controller;
use netcraq_linearizability::{check, save_history_if_requested, CheckResult, History};
use netcraq_topology::Topology;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddrV4;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::{outcome, running_as_root, Chain};
use tokio::sync::mpsc;

/// Keys the workload writes and reads; the chain serves them all.
const KEYS: u16 = 16;
/// Keys of a chain whose spare takes long enough to sync that a node can be killed meanwhile.
const MANY_KEYS: u32 = 8192;
/// How long the workload runs: through both failures and the spare's join.
const WORKLOAD: Duration = Duration::from_secs(10);
/// How long any one expected note may take to come.
const NOTE_WAIT: Duration = Duration::from_secs(60);
/// Between two failures the chain serves undisturbed this long.
const CALM: Duration = Duration::from_millis(1500);
/// Groups of the grouped chain, over its keys `0..GROUPED_KEYS` (4 a group).
const GROUPS: usize = 256;
const GROUPED_KEYS: u32 = 1024;
/// Consecutive groups the workload of the grouped chain runs on.
const WORKLOAD_GROUPS: usize = 4;

/// Four software nodes, each linked to every other; the client host hangs
/// off `host_on`. The chain is n1, n2, n3 with n4 as its spare, and serves
/// keys `0..chain_keys`.
fn topology(host_on: &str, chain_keys: u32) -> String {
    let mut text = String::new();
    for i in 1..=4 {
        text += &format!("[[node]]\nname = \"n{i}\"\nkind = \"software\"\nip = \"10.0.0.{i}\"\n\n");
    }
    text += &format!("[[host]]\nname = \"h1\"\nip = \"10.0.1.1\"\n\n[[link]]\na = \"h1\"\nb = \"{host_on}\"\n\n");
    for a in 1..=4 {
        for b in a + 1..=4 {
            text += &format!("[[link]]\na = \"n{a}\"\nb = \"n{b}\"\n\n");
        }
    }
    text + &format!(
        "[[chain]]\nname = \"kv\"\nnodes = [\"n1\", \"n2\", \"n3\"]\nspares = [\"n4\"]\nmode = \"craq\"\nkeys = [0, {chain_keys}]\n"
    )
}

/// The controller's notes as they come, with a wait for a given one.
struct Notes {
    receiver: mpsc::UnboundedReceiver<Note>,
    seen: Vec<Note>,
}

impl Notes {
    /// Waits for the first note (since the last one waited for) that
    /// `wanted` accepts; fails naming every note seen.
    fn wait(&mut self, what: &str, wanted: impl Fn(&NoteKind) -> bool) -> Note {
        let deadline = Instant::now() + NOTE_WAIT;
        loop {
            match self.receiver.try_recv() {
                Ok(note) if note.what.is_probe() => {}
                Ok(note) => {
                    println!("controller: {}", note.what);
                    self.seen.push(note.clone());
                    if wanted(&note.what) {
                        return note;
                    }
                }
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => {
                    let seen: Vec<String> = self.seen.iter().map(|n| n.what.to_string()).collect();
                    panic!("no note that {what} within {NOTE_WAIT:?}; seen:\n{}", seen.join("\n"))
                }
            }
        }
    }
}

fn reconfigured(change: Change) -> impl Fn(&NoteKind) -> bool {
    move |note| matches!(note, NoteKind::Reconfigured { change: done, .. } if *done == change)
}

/// Accepts the end of `change`, done or failed.
fn ended(change: Change) -> impl Fn(&NoteKind) -> bool {
    move |note| match note {
        NoteKind::Reconfigured { change: done, .. } | NoteKind::ReconfigureFailed { change: done, .. } => {
            *done == change
        }
        _ => false,
    }
}

/// Sets its flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// What happens after the chain serves, in order.
enum Fault {
    /// `kill -9` of a member; the controller must remove it.
    Kill(&'static str),
    /// The controller must bring the spare in.
    SpareJoins(&'static str),
    /// SIGSTOP of a member, for longer than its lease: the controller must remove it.
    Stop(&'static str),
    /// SIGCONT of a stopped node: it must serve nothing stale, and be retired.
    Resume(&'static str),
    /// `kill -9` of `victim` once `joining` has received its first keys
    /// and before it has them all: the join must fail, and the chain go on.
    KillWhileJoining { joining: &'static str, victim: &'static str },
}

/// Brings the chain up, starts the running controller and a workload from
/// h1 (on `host_on`: reads to any of `read_at`, writes to `write_to`),
/// then injects `faults` with calm in between; the chain (of keys
/// `0..chain_keys`) must end as `members`, every history linearizable,
/// every key read back at every member.
fn fail_over(host_on: &str, read_at: &[&str], write_to: &str, faults: &[Fault], members: &[&str], chain_keys: u32) {
    let (topology, chain, controller, state) = started(&topology(host_on, chain_keys));
    let settings = ServiceSettings::default();
    let (notes_tx, receiver) = mpsc::unbounded_channel();
    let mut notes = Notes { receiver, seen: Vec::new() };
    let stop = AtomicBool::new(false);

    std::thread::scope(|scope| {
        // Stops the controller however this scope ends (a failed assertion too),
        // so that the scope's join of its thread returns.
        let _stop_controller = StopOnDrop(&stop);
        let service = scope.spawn(|| run_service(controller, &topology, state, settings, notes_tx, &stop));
        notes.wait("the chain restarted", reconfigured(Change::Restart));

        let workload = scope.spawn(|| {
            let targets: Vec<_> = read_at.iter().map(|node| chain.address(node)).collect();
            chain.inside("h1", || run_workload(&targets, &workload(0..KEYS, chain.address(write_to)), |_| {}))
        });

        for fault in faults {
            // A join is caught while it runs, not after a calm.
            if !matches!(fault, Fault::KillWhileJoining { .. }) {
                std::thread::sleep(CALM);
            }
            match fault {
                Fault::Kill(node) => {
                    let killed = Instant::now();
                    chain.kill(node);
                    let down = notes.wait("it is down", |n| *n == NoteKind::NodeDown(node.to_string()));
                    let removed = notes.wait("it was removed", reconfigured(Change::Remove { node: node.to_string() }));
                    println!(
                        "{node} killed: detected after {:?}, chain without it after {:?}",
                        down.at - killed,
                        removed.at - killed
                    );
                }
                Fault::SpareJoins(node) => {
                    notes.wait("the spare joined", reconfigured(Change::Add { node: node.to_string() }));
                }
                Fault::Stop(node) => {
                    chain.signal(node, libc::SIGSTOP);
                    notes.wait("it is down", |n| *n == NoteKind::NodeDown(node.to_string()));
                    notes.wait("it was removed", reconfigured(Change::Remove { node: node.to_string() }));
                }
                Fault::Resume(node) => {
                    chain.signal(node, libc::SIGCONT);
                    notes.wait("it answers again", |n| *n == NoteKind::NodeUp(node.to_string()));
                    notes.wait("it was retired", |n| *n == NoteKind::Retired(node.to_string()));
                }
                Fault::KillWhileJoining { joining, victim } => {
                    let join = Change::Add { node: joining.to_string() };
                    notes.wait(
                        "the spare starts joining",
                        |n| matches!(n, NoteKind::ReconfigureStarted { change, .. } if *change == join),
                    );
                    chain.wait_stats(joining, |stats| outcome(stats, "KEY_RECEIVED") > 0);
                    chain.kill(victim);
                    println!("{victim} killed while {joining} syncs");
                    let end = notes.wait("the join ended", ended(join.clone()));
                    assert!(
                        matches!(end.what, NoteKind::ReconfigureFailed { .. }),
                        "the join ended before the kill, so the kill tested nothing: {}",
                        end.what
                    );
                    // Seen down before the join failed, or after.
                    let down = NoteKind::NodeDown(victim.to_string());
                    if !notes.seen.iter().any(|note| note.what == down) {
                        notes.wait("it is down", |n| *n == down);
                    }
                    notes.wait("it was removed", reconfigured(Change::Remove { node: victim.to_string() }));
                }
            }
        }
        let last = notes.seen.iter().rev().find_map(|note| match &note.what {
            NoteKind::Reconfigured { members, .. } => Some(members.clone()),
            _ => None,
        });
        assert_eq!(last.as_deref(), Some(members.iter().map(|m| m.to_string()).collect::<Vec<_>>().as_slice()));

        std::thread::sleep(CALM);
        let report = stop_workload(workload.join().expect("the workload thread").expect("the workload runs"));
        let mut history = report.history.expect("history recorded");
        assert!(!report.history_truncated);
        // While the controller still renews the members' leases.
        chain.append_final_reads(&mut history, "h1", members, 0..KEYS);
        stop.store(true, Ordering::Relaxed);
        service.join().expect("the service thread").expect("the controller ran until stopped");
        check_history(&history, &format!("failover-{}", members.join("-")));
    });
}

/// The topology of `text` up on namespaces, unconfigured, a controller of
/// every node, and the supervisor's first state at the default settings.
fn started(text: &str) -> (Topology, Chain, Controller, SupervisorState) {
    let topology = Topology::parse(text).expect("the test topology is valid");
    let chain = Chain::up_managed(text);
    let mut deployment = chain.deployment_with_spares(&topology, 2);
    deployment.options.timeout = Duration::from_secs(1);
    let controller = Controller::new(&deployment).expect("a controller of every node");
    let state =
        service::initial_state(&topology, &ServiceSettings::default()).expect("the groups of a checked topology");
    (topology, chain, controller, state)
}

/// Runs the controller service until `stop` is set.
fn run_service(
    controller: Controller,
    topology: &Topology,
    state: SupervisorState,
    settings: ServiceSettings,
    notes: mpsc::UnboundedSender<Note>,
    stop: &AtomicBool,
) -> Result<(), String> {
    let runtime = service::runtime().expect("a runtime");
    let planner = TopologyPlanner::new(topology);
    let mut sink = InMemory::default();
    let stopped = async {
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    runtime.block_on(service::run(controller, planner, state, &mut sink, settings, notes, stopped))
}

/// Half reads, half writes on `keys` for [`WORKLOAD`]; writes go to `write_to`.
fn workload(keys: Range<u16>, write_to: SocketAddrV4) -> Workload {
    Workload {
        read_fraction: 0.5,
        keys,
        key_distribution: KeyDistribution::Uniform,
        concurrency: 8,
        stop: Stop::AfterDuration(WORKLOAD),
        seed: 14,
        // A write entering at a replica or the tail is forwarded to the head.
        write_target: WriteTarget::Node(write_to),
        client: ClientOptions { timeout: Duration::from_millis(250), retries: 40, ..ClientOptions::default() },
        history_capacity_ops: 2_000_000,
        progress_interval: Duration::from_millis(100),
    }
}

fn check_history(history: &History, name: &str) {
    save_history_if_requested(history, name).expect("saves the history");
    match check(history) {
        CheckResult::Linearizable => {}
        other => panic!("not linearizable through the failovers: {other:?}"),
    }
}

/// Groups (§11): 256 groups of three over the four nodes, so that each node
/// heads, relays and tails some. `kill -9` of n2 under a workload on groups
/// it shares with n1 removes it from its groups only, each in an epoch of
/// its own, and in each the node left out joins at the tail; no other group
/// changes, and every history is linearizable.
#[test]
fn a_node_killed_in_256_groups_leaves_only_its_groups_and_the_node_left_out_joins_each() {
    if !running_as_root("a_node_killed_in_256_groups_leaves_only_its_groups_and_the_node_left_out_joins_each") {
        return;
    }
    let (topology, chain, controller, state) =
        started(&(topology("n1", GROUPED_KEYS) + &format!("groups = {GROUPS}\n")));
    let settings = ServiceSettings::default();
    let groups = &state.chains;
    assert_eq!(groups.len(), GROUPS);
    let has = |g: &ChainRecord, node: &str| g.layout.members.iter().any(|m| m == node);
    // Consecutive groups (one key range) all with n1, which clients enter by, and some with n2.
    let first = (0..GROUPS - WORKLOAD_GROUPS)
        .find(|&g| {
            let run = &groups[g..g + WORKLOAD_GROUPS];
            run.iter().all(|c| has(c, "n1")) && run.iter().filter(|c| has(c, "n2")).count() >= 2
        })
        .expect("the ring places n1 in a run of groups");
    let group_keys = (GROUPED_KEYS / GROUPS as u32) as u16;
    let keys = first as u16 * group_keys..(first + WORKLOAD_GROUPS) as u16 * group_keys;
    let expected: BTreeMap<String, Vec<String>> = groups
        .iter()
        .map(|g| {
            let mut members: Vec<String> = g.layout.members.iter().filter(|m| *m != "n2").cloned().collect();
            if has(g, "n2") {
                members.push(g.spares[0].clone());
            }
            (g.name.clone(), members)
        })
        .collect();
    let moved = groups.iter().filter(|g| has(g, "n2")).count();
    let workload_groups: Vec<ChainRecord> = groups[first..first + WORKLOAD_GROUPS].to_vec();
    let (notes_tx, receiver) = mpsc::unbounded_channel();
    let mut notes = Notes { receiver, seen: Vec::new() };
    let stop = AtomicBool::new(false);

    std::thread::scope(|scope| {
        let _stop_controller = StopOnDrop(&stop);
        let service = scope.spawn(|| run_service(controller, &topology, state, settings, notes_tx, &stop));
        let started = Instant::now();
        for _ in 0..GROUPS {
            notes.wait("every group restarted", reconfigured(Change::Restart));
        }
        println!("{GROUPS} groups restarted in {:?}", started.elapsed());
        let workload = scope.spawn(|| {
            let targets = [chain.address("n1")];
            chain.inside("h1", || run_workload(&targets, &workload(keys.clone(), chain.address("n1")), |_| {}))
        });
        std::thread::sleep(CALM);
        chain.kill("n2");
        let killed = Instant::now();
        notes.wait("it is down", |n| *n == NoteKind::NodeDown("n2".to_string()));
        let mut finished: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for _ in 0..2 * moved {
            let note = notes.wait("each of its groups moved", |n| {
                matches!(n, NoteKind::Reconfigured { change: Change::Remove { .. } | Change::Add { .. }, .. })
            });
            let NoteKind::Reconfigured { chain, members, .. } = note.what else { unreachable!("matched") };
            finished.insert(chain, members);
        }
        println!("n2's {moved} groups left and joined again {:?} after the kill", killed.elapsed());
        assert_eq!(finished.len(), moved, "only the groups of n2 changed, each removed and joined: {finished:?}");
        for (group, members) in &finished {
            assert_eq!(members, &expected[group], "{group}");
        }
        let epochs: BTreeSet<u32> = notes
            .seen
            .iter()
            .filter_map(|n| match &n.what {
                NoteKind::Reconfigured { epoch, .. } => Some(*epoch),
                _ => None,
            })
            .collect();
        assert_eq!(epochs.len(), GROUPS + 2 * moved, "one counter: no epoch given twice");

        let report = stop_workload(workload.join().expect("the workload thread").expect("the workload runs"));
        let mut history = report.history.expect("history recorded");
        assert!(!report.history_truncated);
        for group in &workload_groups {
            let members: Vec<&str> = expected[&group.name].iter().map(String::as_str).collect();
            let lo = group.layout.key_lo;
            chain.append_final_reads(&mut history, "h1", &members, lo..lo + group_keys);
        }
        stop.store(true, Ordering::Relaxed);
        service.join().expect("the service thread").expect("the controller ran until stopped");
        check_history(&history, "failover-groups");
    });
}

#[test]
fn the_controller_fails_over_a_middle_node_then_a_tail_and_brings_in_a_spare_under_load() {
    if !running_as_root("the_controller_fails_over_a_middle_node_then_a_tail_and_brings_in_a_spare_under_load") {
        return;
    }
    let faults = [Fault::Kill("n2"), Fault::SpareJoins("n4"), Fault::Kill("n3")];
    fail_over("n1", &["n1"], "n1", &faults, &["n1", "n4"], u32::from(KEYS));
}

#[test]
fn the_controller_fails_over_the_head_and_clients_retransmit_through_the_new_one() {
    if !running_as_root("the_controller_fails_over_the_head_and_clients_retransmit_through_the_new_one") {
        return;
    }
    let faults = [Fault::Kill("n1"), Fault::SpareJoins("n4")];
    fail_over("n3", &["n3"], "n3", &faults, &["n2", "n3", "n4"], u32::from(KEYS));
}

/// The stopped tail's P4Runtime socket holds RENEWs sent before it was
/// seen down; once it resumes they arrive late and grant nothing (§9.3),
/// so the reads the workload sends it are refused, never answered stale.
#[test]
fn a_stopped_tail_is_removed_and_serves_nothing_stale_when_it_resumes() {
    if !running_as_root("a_stopped_tail_is_removed_and_serves_nothing_stale_when_it_resumes") {
        return;
    }
    let faults = [Fault::Stop("n3"), Fault::SpareJoins("n4"), Fault::Resume("n3")];
    fail_over("n1", &["n1", "n3"], "n1", &faults, &["n1", "n2", "n4"], u32::from(KEYS));
}

/// The old tail feeds the joining spare every key (§10.4); killed
/// mid-sync, the join fails, the chain goes on without it, and the spare
/// joins again from the head, the one member left.
#[test]
fn a_predecessor_killed_while_the_spare_syncs_is_removed_and_the_spare_joins_again() {
    if !running_as_root("a_predecessor_killed_while_the_spare_syncs_is_removed_and_the_spare_joins_again") {
        return;
    }
    let faults = [Fault::Kill("n2"), Fault::KillWhileJoining { joining: "n4", victim: "n3" }, Fault::SpareJoins("n4")];
    fail_over("n1", &["n1"], "n1", &faults, &["n1", "n4"], MANY_KEYS);
}

/// The spare itself dies mid-sync: the join fails, and the chain must go on
/// with the members it had, serving every key consistently.
#[test]
fn a_spare_killed_while_it_syncs_leaves_the_chain_serving_without_it() {
    if !running_as_root("a_spare_killed_while_it_syncs_leaves_the_chain_serving_without_it") {
        return;
    }
    let faults = [Fault::Kill("n2"), Fault::KillWhileJoining { joining: "n4", victim: "n4" }];
    fail_over("n1", &["n1", "n3"], "n1", &faults, &["n1", "n3"], MANY_KEYS);
}

fn stop_workload(report: netcraq_client::WorkloadReport) -> netcraq_client::WorkloadReport {
    println!(
        "{} reads, {} writes, {} retransmissions, errors {:?}",
        report.reads, report.writes, report.retransmissions, report.errors
    );
    assert!(report.reads + report.writes > 1000, "the chain served through the failures");
    report
}
