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
use netcraq_controller::supervisor::Change;
use netcraq_controller::Controller;
use netcraq_linearizability::{check, save_history_if_requested, CheckResult};
use netcraq_topology::Topology;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::{running_as_root, Chain};
use tokio::sync::mpsc;

/// Keys the workload writes and reads; the chain serves them all.
const KEYS: u16 = 16;
/// How long the workload runs: through both failures and the spare's join.
const WORKLOAD: Duration = Duration::from_secs(10);
/// How long any one expected note may take to come.
const NOTE_WAIT: Duration = Duration::from_secs(20);
/// Between two failures the chain serves undisturbed this long.
const CALM: Duration = Duration::from_millis(1500);

/// Four software nodes, each linked to every other; the client host hangs
/// off n1, the head. The chain is n1, n2, n3 with n4 as its spare.
fn topology() -> String {
    let mut text = String::new();
    for i in 1..=4 {
        text += &format!("[[node]]\nname = \"n{i}\"\nkind = \"software\"\nip = \"10.0.0.{i}\"\n\n");
    }
    text += "[[host]]\nname = \"h1\"\nip = \"10.0.1.1\"\n\n[[link]]\na = \"h1\"\nb = \"n1\"\n\n";
    for a in 1..=4 {
        for b in a + 1..=4 {
            text += &format!("[[link]]\na = \"n{a}\"\nb = \"n{b}\"\n\n");
        }
    }
    text + &format!(
        "[[chain]]\nname = \"kv\"\nnodes = [\"n1\", \"n2\", \"n3\"]\nspares = [\"n4\"]\nmode = \"craq\"\nkeys = [0, {KEYS}]\n"
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

#[test]
fn the_controller_fails_over_a_middle_node_then_a_tail_and_brings_in_a_spare_under_load() {
    if !running_as_root("the_controller_fails_over_a_middle_node_then_a_tail_and_brings_in_a_spare_under_load") {
        return;
    }
    let text = topology();
    let topology = Topology::parse(&text).expect("the test topology is valid");
    let chain = Chain::up_managed(&text);
    let mut deployment = chain.deployment_with_spares(&topology, 2);
    deployment.options.timeout = Duration::from_secs(1);
    let controller = Controller::new(&deployment).expect("a controller of every node");
    let settings = ServiceSettings::default();
    let state = service::initial_state(&topology, &settings);
    let (notes_tx, receiver) = mpsc::unbounded_channel();
    let mut notes = Notes { receiver, seen: Vec::new() };
    let stop = AtomicBool::new(false);

    std::thread::scope(|scope| {
        let service = scope.spawn(|| {
            let runtime = service::runtime().expect("a runtime");
            let planner = TopologyPlanner::new(&topology);
            let mut sink = InMemory::default();
            let stopped = async {
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            };
            runtime.block_on(service::run(controller, planner, state, &mut sink, settings, notes_tx, stopped))
        });
        notes.wait("the chain restarted", reconfigured(Change::Restart));

        let workload = scope.spawn(|| {
            let workload = Workload {
                read_fraction: 0.5,
                keys: 0..KEYS,
                key_distribution: KeyDistribution::Uniform,
                concurrency: 8,
                stop: Stop::AfterDuration(WORKLOAD),
                seed: 14,
                write_target: WriteTarget::AnyTarget,
                client: ClientOptions { timeout: Duration::from_millis(250), retries: 40, ..ClientOptions::default() },
                history_capacity_ops: 2_000_000,
                progress_interval: Duration::from_millis(100),
            };
            let targets = [chain.address("n1")];
            chain.inside("h1", || run_workload(&targets, &workload, |_| {}))
        });

        std::thread::sleep(CALM);
        let killed = Instant::now();
        chain.kill("n2");
        let down = notes.wait("n2 is down", |n| *n == NoteKind::NodeDown("n2".into()));
        let removed = notes.wait("n2 was removed", reconfigured(Change::Remove { node: "n2".into() }));
        notes.wait("the spare n4 joined", reconfigured(Change::Add { node: "n4".into() }));
        println!(
            "middle killed: detected after {:?}, chain without it after {:?}",
            down.at - killed,
            removed.at - killed
        );

        std::thread::sleep(CALM);
        let killed = Instant::now();
        chain.kill("n3");
        let down = notes.wait("n3 is down", |n| *n == NoteKind::NodeDown("n3".into()));
        let removed = notes.wait("n3 was removed", reconfigured(Change::Remove { node: "n3".into() }));
        println!("tail killed: detected after {:?}, chain without it after {:?}", down.at - killed, removed.at - killed);
        let NoteKind::Reconfigured { members, .. } = &removed.what else { unreachable!() };
        assert_eq!(members, &["n1", "n4"], "the spare took the place of the tail's predecessor line");

        std::thread::sleep(CALM);
        let report = stop_workload(workload.join().expect("the workload thread").expect("the workload runs"));
        stop.store(true, Ordering::Relaxed);
        service.join().expect("the service thread").expect("the controller ran until stopped");

        let mut history = report.history.expect("history recorded");
        assert!(!report.history_truncated);
        chain.append_final_reads(&mut history, "h1", &["n1", "n4"], KEYS);
        save_history_if_requested(&history, "failover").expect("saves the history");
        match check(&history) {
            CheckResult::Linearizable => {}
            other => panic!("not linearizable through the failovers: {other:?}"),
        }
    });
}

fn stop_workload(report: netcraq_client::WorkloadReport) -> netcraq_client::WorkloadReport {
    println!(
        "{} reads, {} writes, {} retransmissions, errors {:?}",
        report.reads, report.writes, report.retransmissions, report.errors
    );
    assert!(report.reads + report.writes > 1000, "the chain served through the failures");
    report
}
