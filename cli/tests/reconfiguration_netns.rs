//! A chain reconfigured while it serves (`docs/protocol.md` §10), with real
//! packets: `netcraq node` processes on network namespaces, a concurrent
//! mixed workload from a host, and the controller library removing a
//! crashed middle node, then a crashed tail, then adding a fresh node at the
//! tail. Needs root (CI runs as root); otherwise it says SKIP.

mod support;

use netcraq_client::{run_workload, ClientOptions, KeyDistribution, Stop, Workload, WriteTarget};
use netcraq_controller::reconfigure::{plan_addition, plan_removal, ChainLayout, Step};
use netcraq_controller::running_topology::TopologyPlanner;
use netcraq_controller::{block_on_runtime, Controller};
use netcraq_core::control::CounterId;
use netcraq_core::{Outcome, Role};
use netcraq_linearizability::{check, save_history_if_requested, CheckResult};
use netcraq_topology::Topology;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use support::{running_as_root, Chain};

/// Keys the workload writes and reads; the chain serves them all.
const KEYS: u16 = 16;
/// How long the workload runs: through all three reconfigurations.
const WORKLOAD: Duration = Duration::from_secs(12);
/// Between two reconfigurations the chain serves undisturbed this long.
const CALM: Duration = Duration::from_millis(1500);

/// Four software nodes, each linked to every other, so that the chain's
/// nodes reach one another directly whichever node has crashed; the client
/// host hangs off n1, the head, which stays up. n4 starts as the chain of
/// one of a spare key range (every node of a topology is in a chain).
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
    text +=
        &format!("[[chain]]\nname = \"kv\"\nnodes = [\"n1\", \"n2\", \"n3\"]\nmode = \"craq\"\nkeys = [0, {KEYS}]\n\n");
    text + "[[chain]]\nname = \"spare\"\nnodes = [\"n4\"]\nmode = \"craq\"\nkeys = [0, 1]\n"
}

#[test]
fn a_chain_loses_its_middle_then_its_tail_then_gains_a_node_under_load() {
    if !running_as_root("a_chain_loses_its_middle_then_its_tail_then_gains_a_node_under_load") {
        return;
    }
    let text = topology();
    let topology = Topology::parse(&text).expect("the test topology is valid");
    let chain = Chain::up_managed(&text);
    let runtime = block_on_runtime().expect("a runtime");
    let mut controller = chain.controller(&runtime);
    let planner = TopologyPlanner::new(&topology);
    let layout = TopologyPlanner::layout(&topology, "kv").expect("the chain kv");
    // Successful operations when each node was killed or added.
    let done_at_phase = [(); 3].map(|_| AtomicU64::new(0));
    let phase = AtomicU64::new(0);
    let done_now = AtomicU64::new(0);

    let (report, layout) = std::thread::scope(|scope| {
        let workload = scope.spawn(|| {
            let workload = Workload {
                read_fraction: 0.5,
                keys: 0..KEYS,
                key_distribution: KeyDistribution::Uniform,
                concurrency: 8,
                stop: Stop::AfterDuration(WORKLOAD),
                seed: 13,
                // Writes through the head; reads at the head too, which
                // sends those of dirty keys to whichever node is the tail.
                write_target: WriteTarget::AnyTarget,
                client: ClientOptions { timeout: Duration::from_millis(250), retries: 12, ..ClientOptions::default() },
                history_capacity_ops: 1_000_000,
                progress_interval: Duration::from_millis(50),
            };
            let targets = [chain.address("n1")];
            chain.inside("h1", || {
                run_workload(&targets, &workload, |progress| {
                    done_now.store(progress.ops - progress.errors, Ordering::Relaxed);
                })
            })
        });
        let mut layout = layout;
        let started = std::time::Instant::now();
        while done_now.load(Ordering::Relaxed) == 0 && started.elapsed() < WORKLOAD {
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut step = |layout: &ChainLayout, name: &str, next: (ChainLayout, Vec<Step>)| {
            let at = phase.fetch_add(1, Ordering::Relaxed) as usize;
            done_at_phase[at].store(done_now.load(Ordering::Relaxed), Ordering::Relaxed);
            let (next_layout, steps) = next;
            let result = runtime.block_on(controller.reconfigure(&steps));
            let report = result.unwrap_or_else(|e| {
                let counts: Vec<String> = ["n1", "n4"].iter().map(|n| outcomes(&runtime, &mut controller, n)).collect();
                panic!("{name} (from {:?}): {e}\n{}", layout.members, counts.join("\n"))
            });
            println!("{name}: {:#?}", report.done);
            next_layout
        };
        std::thread::sleep(CALM);
        chain.kill("n2");
        let next = plan_removal(&layout, "n2", 2, Duration::ZERO, &planner).expect("plans the removal of n2");
        layout = step(&layout, "middle removed", next);
        std::thread::sleep(CALM);
        chain.kill("n3");
        let next = plan_removal(&layout, "n3", 3, Duration::ZERO, &planner).expect("plans the removal of n3");
        layout = step(&layout, "tail removed", next);
        std::thread::sleep(CALM);
        let next = plan_addition(&layout, "n4", 4, &planner).expect("plans the addition of n4");
        layout = step(&layout, "node added", next);
        let report = workload.join().expect("the workload thread").expect("the workload runs");
        (report, layout)
    });
    let total = report.reads + report.writes;
    let mut done: Vec<u64> = done_at_phase.iter().map(|d| d.load(Ordering::Relaxed)).collect();
    done.push(total);
    println!(
        "{} reads, {} writes, {} retransmissions, errors {:?}; successful operations when each node was \
         killed or added, then at the end: {done:?}",
        report.reads, report.writes, report.retransmissions, report.errors
    );

    assert_eq!(layout.members, ["n1", "n4"]);
    let configs: Vec<_> = ["n1", "n4"].map(|n| controller.tables_of(n).expect("a member").config).into_iter().collect();
    assert_eq!(
        configs.iter().map(|c| (c.role, c.epoch, c.sync_epoch)).collect::<Vec<_>>(),
        [(Role::Head, 4, 0), (Role::Tail, 4, 0)]
    );
    let n4 = controller.target("n4").expect("n4");
    let counts = runtime.block_on(n4.read_counter(CounterId::Outcomes)).expect("n4's counters");
    assert_eq!(counts[Outcome::KeyReceived.index()], u64::from(KEYS), "n4 received every key exactly once");
    assert!(done.windows(2).all(|w| w[1] > w[0]), "operations succeed between reconfigurations and after: {done:?}");

    let mut history = report.history.expect("history recorded");
    assert!(!report.history_truncated);
    chain.append_final_reads(&mut history, "h1", &["n1", "n4"], 0..KEYS);
    save_history_if_requested(&history, "reconfiguration").expect("saves the history");
    match check(&history) {
        CheckResult::Linearizable => {}
        other => panic!("not linearizable through the reconfigurations: {other:?}"),
    }
}

/// The node's non-zero outcome counters, by name.
fn outcomes(runtime: &tokio::runtime::Runtime, controller: &mut Controller, node: &str) -> String {
    let target = controller.target(node).expect("a node of the deployment");
    let counts = runtime.block_on(target.read_counter(CounterId::Outcomes)).expect("reads the counters");
    let named =
        Outcome::ALL.iter().filter(|o| counts[o.index()] != 0).map(|o| format!("{} {}", o.name(), counts[o.index()]));
    format!("{node}: {}", named.collect::<Vec<_>>().join(", "))
}
