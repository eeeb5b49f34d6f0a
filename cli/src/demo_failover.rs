//! `netcraq demo --kill-node`: a CRAQ chain with a spare, brought up as
//! `netcraq up` does, with the running controller in this process and a
//! workload from one client host. Mid-run one member is killed (`kill -9`);
//! the demo records throughput and latency over time, when the controller
//! saw the failure, failed over and brought the spare in, and then checks
//! that nothing acknowledged was lost.

use crate::demo_netns::Settings;
use crate::failover_report::{FailoverReport, FailoverSetup, Mark, MarkKind, Verification};
use crate::in_process_controller::InProcessController;
use crate::up::{self, NodeLog};
use indicatif::ProgressBar;
use netcraq_client::{
    run_workload, Client, ClientOptions, KeyDistribution, Stop, Workload, WorkloadReport, WriteTarget,
};
use netcraq_controller::service::{Note, NoteKind};
use netcraq_controller::supervisor::Change;
use netcraq_controller::PipelineFiles;
use netcraq_linearizability::{check, save_history_if_requested, History, Operation, Value};
use netcraq_topology::{Running, Topology};
use netcraq_wire::NETCRAQ_UDP_PORT;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Requests the client host keeps outstanding.
const CONCURRENCY: usize = 16;
/// Long enough that a loaded machine does not turn replies into
/// retransmissions; enough retries to wait out a failover.
const CLIENT: ClientOptions =
    ClientOptions { timeout: Duration::from_millis(250), retries: 40, local_ip: Ipv4Addr::UNSPECIFIED };
const HISTORY_CAPACITY_OPS: usize = 2_000_000;
/// How long the controller may take to configure the chain at start, and
/// to bring the spare in after the run.
const CONTROLLER_WAIT: Duration = Duration::from_secs(60);
const NOTE_POLL: Duration = Duration::from_millis(20);
/// The failure comes this far into the run.
const KILL_SHARE: f64 = 1.0 / 3.0;
pub const SECONDS_DEFAULT: f64 = 6.0;
pub const SECONDS_MIN: f64 = 2.0;
/// The chain's nodes and its spare are linked each to each.
pub const MAX_NODES: u8 = 8;

/// Which member `--kill-node` kills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Victim {
    Head,
    Middle,
    Tail,
    /// `nK`: the K-th node, counted from the head at 1.
    Position(u8),
}

impl FromStr for Victim {
    type Err = String;

    fn from_str(text: &str) -> Result<Victim, String> {
        match text {
            "head" => Ok(Victim::Head),
            "middle" => Ok(Victim::Middle),
            "tail" => Ok(Victim::Tail),
            _ => text
                .strip_prefix('n')
                .and_then(|k| k.parse::<u8>().ok())
                .filter(|k| *k >= 1)
                .map(Victim::Position)
                .ok_or_else(|| format!("{text:?}: give head, middle, tail or a node n1, n2, …")),
        }
    }
}

impl Victim {
    /// The victim's index in a chain of `nodes`, head 0.
    fn index(&self, nodes: u8) -> Result<usize, String> {
        let index = match self {
            Victim::Head => 0,
            Victim::Middle if nodes < 3 => return Err(format!("a chain of {nodes} nodes has no middle node")),
            Victim::Middle => usize::from(nodes / 2),
            Victim::Tail => usize::from(nodes) - 1,
            Victim::Position(k) if *k > nodes => return Err(format!("the chain has no node n{k}: n1 to n{nodes}")),
            Victim::Position(k) => usize::from(*k) - 1,
        };
        Ok(index)
    }
}

/// The chain `n1 … nN` with spare `nN+1`, every node linked to every other
/// (any member may be removed, the spare joins after any tail), and host
/// `h1` on `host_on`.
fn topology_text(nodes: u8, keys: u32, host_on: &str) -> String {
    let all = u16::from(nodes) + 1;
    let mut text = String::new();
    for i in 1..=all {
        text += &format!("[[node]]\nname = \"n{i}\"\nkind = \"software\"\nip = \"10.0.0.{i}\"\n\n");
    }
    text += &format!("[[host]]\nname = \"h1\"\nip = \"10.0.1.1\"\n\n[[link]]\na = \"h1\"\nb = \"{host_on}\"\n\n");
    for a in 1..=all {
        for b in a + 1..=all {
            text += &format!("[[link]]\na = \"n{a}\"\nb = \"n{b}\"\n\n");
        }
    }
    let members: Vec<String> = (1..=nodes).map(|i| format!("\"n{i}\"")).collect();
    text + &format!(
        "[[chain]]\nname = \"kv\"\nnodes = [{}]\nspares = [\"n{all}\"]\nmode = \"craq\"\nkeys = [0, {keys}]\n",
        members.join(", ")
    )
}

/// Runs the namespace demo's chain with `settings`, killing `victim` mid-run.
pub fn run(settings: &Settings, victim: Victim, progress: &ProgressBar) -> Result<FailoverReport, String> {
    if settings.nodes < 2 {
        return Err("--kill-node needs a chain of at least 2 nodes: a chain of one waits for its node".into());
    }
    let victim_index = victim.index(settings.nodes)?;
    let members: Vec<String> = (1..=settings.nodes).map(|i| format!("n{i}")).collect();
    let victim = members[victim_index].clone();
    // The client host hangs off a node that survives: the head, or the tail when the head dies.
    let host_on = if victim_index == 0 { members.last() } else { members.first() }.expect("two members").clone();
    let topology =
        Topology::parse(&topology_text(settings.nodes, settings.keys, &host_on)).map_err(|e| e.to_string())?;
    let setup = FailoverSetup {
        members: members.clone(),
        spare: format!("n{}", settings.nodes + 1),
        victim: victim.clone(),
        host_on: host_on.clone(),
        reads_at: members.iter().filter(|m| **m != victim).cloned().collect(),
        outstanding_requests: CONCURRENCY,
        seconds: settings.seconds,
        kill_at_seconds: settings.seconds * KILL_SHARE,
        read_fraction: settings.read_fraction,
        keys: settings.keys,
        seed: settings.seed,
    };

    progress.set_message("starting the chain");
    let exe = std::env::current_exe().map_err(|e| format!("finding the netcraq executable: {e}"))?;
    let (mut running, addresses) = up::start(&topology, &exe, Path::new(up::DEFAULT_P4_BUILD), NodeLog::Warnings)?;
    let mut controller =
        InProcessController::start(&topology, &running.plan().nodes, &addresses, &PipelineFiles::default())?;
    let outcome = controller
        .wait_restarted(&topology, CONTROLLER_WAIT)
        .and_then(|_| fail_over(&running, &controller, &setup, progress));
    let stopped = controller.stop();
    let teardown = running.down().map_err(|e| e.to_string());
    let (history, marks, verification) = outcome?;
    stopped.and(teardown)?;
    Ok(FailoverReport::new(setup, &history, marks, verification))
}

/// The workload, the kill and the controller's notes, then the checks.
fn fail_over(
    running: &Running,
    controller: &InProcessController,
    setup: &FailoverSetup,
    progress: &ProgressBar,
) -> Result<(History, Vec<Mark>, Verification), String> {
    let address = |node: &str| -> Result<SocketAddrV4, String> {
        let plan = running.plan().nodes.iter().find(|n| n.name == node);
        plan.map(|n| SocketAddrV4::new(n.config.own_ip, NETCRAQ_UDP_PORT)).ok_or(format!("no node {node}"))
    };
    let workload = Workload {
        read_fraction: setup.read_fraction,
        keys: 0..key_end(setup.keys),
        key_distribution: KeyDistribution::Uniform,
        concurrency: CONCURRENCY,
        stop: Stop::AfterDuration(Duration::from_secs_f64(setup.seconds)),
        seed: setup.seed,
        // A write entering at a replica or the tail is forwarded to the head.
        write_target: WriteTarget::Node(address(&setup.host_on)?),
        client: CLIENT,
        history_capacity_ops: HISTORY_CAPACITY_OPS,
        progress_interval: Duration::from_millis(100),
    };
    let targets = setup.reads_at.iter().map(|n| address(n)).collect::<Result<Vec<_>, String>>()?;
    let host = running.namespace("h1").ok_or("no host h1")?;
    let victim_pid = running.node_pid(&setup.victim).ok_or("the victim does not run")?;
    let mut notes: Vec<Note> = Vec::new();
    progress.set_length((setup.seconds * 1000.0) as u64);
    progress.set_message(format!("running; kill -9 of {} at {:.1} s", setup.victim, setup.kill_at_seconds));
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (started, killed, report) = std::thread::scope(|scope| {
        let running_workload = scope.spawn(|| {
            host.run(|| {
                let _ = started_tx.send(Instant::now());
                run_workload(&targets, &workload, |p| progress.set_position(p.elapsed.as_millis() as u64))
            })
        });
        let started = started_rx.recv().map_err(|_| "the workload did not start".to_string())?;
        let kill_at = started + Duration::from_secs_f64(setup.kill_at_seconds);
        let mut killed = None;
        while !running_workload.is_finished() {
            if killed.is_none() && Instant::now() >= kill_at {
                netcraq_topology::send_signal(victim_pid as libc::pid_t, libc::SIGKILL);
                killed = Some(Instant::now());
            }
            notes.extend(controller.next_note(NOTE_POLL));
        }
        let report = running_workload.join().map_err(|_| "the workload panicked".to_string())?;
        let report = report.map_err(|e| format!("entering h1's namespace: {e}"))?.map_err(|e| e.to_string())?;
        let killed = killed.ok_or("the run ended before the kill")?;
        Ok::<_, String>((started, killed, report))
    })?;
    progress.set_message("waiting for the spare to join");
    wait_for_recovery(controller, &mut notes)?;
    let marks = marks(started, killed, &setup.victim, &notes);
    let members = marks.iter().rev().find_map(|m| m.members.clone()).unwrap_or_else(|| setup.members.clone());
    progress.set_message("reading every key back, checking the history");
    let verification = verify(running, &report, &members, setup.keys)?;
    Ok((report.history.ok_or("no history recorded")?, marks, verification))
}

/// The keys the workload uses: `0..keys`, within the 16-bit key space.
fn key_end(keys: u32) -> u16 {
    u16::try_from(keys).unwrap_or(u16::MAX)
}

/// Waits until the controller reports the spare in (it may come after the run).
fn wait_for_recovery(controller: &InProcessController, notes: &mut Vec<Note>) -> Result<(), String> {
    let joined = |note: &Note| matches!(note.what, NoteKind::Reconfigured { change: Change::Add { .. }, .. });
    let deadline = Instant::now() + CONTROLLER_WAIT;
    while !notes.iter().any(joined) {
        if Instant::now() >= deadline {
            let said: Vec<String> = notes.iter().map(|n| n.what.to_string()).collect();
            return Err(format!(
                "no spare joined within {CONTROLLER_WAIT:?}; the controller said: {}",
                said.join("; ")
            ));
        }
        notes.extend(controller.next_note(NOTE_POLL));
    }
    Ok(())
}

/// The kill and what the controller did about it, in seconds since the run started.
fn marks(started: Instant, killed: Instant, victim: &str, notes: &[Note]) -> Vec<Mark> {
    let at = |instant: Instant| instant.saturating_duration_since(started).as_secs_f64();
    let mut marks = vec![Mark::new(at(killed), MarkKind::Killed, format!("{victim} killed (kill -9)"), None)];
    for note in notes {
        let (kind, members) = match &note.what {
            NoteKind::NodeDown(node) if node == victim => (MarkKind::Detected, None),
            NoteKind::Reconfigured { change: Change::Remove { node }, members, .. } if node == victim => {
                (MarkKind::FailedOver, Some(members.clone()))
            }
            NoteKind::Reconfigured { change: Change::Add { .. }, members, .. } => {
                (MarkKind::Recovered, Some(members.clone()))
            }
            NoteKind::ReconfigureFailed { .. } => (MarkKind::Retried, None),
            _ => continue,
        };
        marks.push(Mark::new(at(note.at), kind, note.what.to_string(), members));
    }
    marks.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    marks
}

/// Reads every key back at every member (while the controller still renews
/// their leases), appends the reads to the history after everything in it,
/// and checks it: each read must return the last acknowledged write of its
/// key, or a later write whose outcome was unknown.
fn verify(running: &Running, report: &WorkloadReport, members: &[String], keys: u32) -> Result<Verification, String> {
    let mut history = report.history.clone().ok_or("no history recorded")?;
    let recorded = history.len();
    let writes_outcome_unknown = history.operations().iter().filter(|op| !op.is_determinate()).count();
    let host = running.namespace("h1").ok_or("no host h1")?;
    let mut values_of: Vec<Vec<Value>> = Vec::new();
    for node in members {
        let ip = running.plan().nodes.iter().find(|n| n.name == *node).ok_or(format!("no node {node}"))?.config.own_ip;
        let reads = host.run(|| {
            let mut client = Client::new(SocketAddrV4::new(ip, NETCRAQ_UDP_PORT), CLIENT);
            (0..key_end(keys)).map(|key| client.read(key).map(|r| r.value)).collect::<Result<Vec<_>, _>>()
        });
        let reads = reads.map_err(|e| format!("entering h1's namespace: {e}"))?;
        values_of.push(reads.map_err(|e| format!("reading every key back at {node}: {e}"))?);
    }
    append_reads(&mut history, &values_of);
    let disagreeing = (0..usize::from(key_end(keys)))
        .filter(|&key| values_of.iter().any(|values| values[key] != values_of[0][key]))
        .count();
    let checking = Instant::now();
    let verdict = check(&history);
    let check_seconds = checking.elapsed().as_secs_f64();
    let label = format!("demo-failover-{}", members.join("-"));
    if let Err(error) = save_history_if_requested(&history, &label) {
        eprintln!("netcraq: the history could not be saved: {error}");
    }
    Ok(Verification {
        acknowledged_writes: report.writes,
        reads: report.reads,
        writes_outcome_unknown,
        failed_operations: report.errors.total(),
        history_truncated: report.history_truncated,
        operations_recorded: recorded,
        members_read_back: members.to_vec(),
        keys_read_back: u32::from(key_end(keys)),
        keys_members_disagree_on: disagreeing,
        linearizable: verdict.is_linearizable(),
        verdict: verdict.to_string(),
        check_seconds,
    })
}

/// The final reads, one client per member, after every recorded operation.
fn append_reads(history: &mut History, values_of: &[Vec<Value>]) {
    let mut at_ns = history.operations().iter().map(|op| op.return_ns).max().unwrap_or(0) + 1;
    for (client, values) in (1000u32..).zip(values_of) {
        for (key, value) in (0u16..).zip(values) {
            history.push(Operation::read(client, key, at_ns, at_ns + 1, *value));
            at_ns += 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn victims_are_named_by_role_or_position() {
        assert_eq!("middle".parse::<Victim>().unwrap().index(3), Ok(1));
        assert_eq!("middle".parse::<Victim>().unwrap().index(5), Ok(2));
        assert_eq!("tail".parse::<Victim>().unwrap().index(4), Ok(3));
        assert_eq!("n2".parse::<Victim>().unwrap().index(3), Ok(1));
        assert!("n4".parse::<Victim>().unwrap().index(3).is_err());
        assert!("middle".parse::<Victim>().unwrap().index(2).is_err());
        assert!("n0".parse::<Victim>().is_err() && "second".parse::<Victim>().is_err());
    }

    #[test]
    fn the_topology_links_every_node_and_names_the_spare() {
        let topology = Topology::parse(&topology_text(3, 100, "n1")).unwrap();
        assert_eq!(topology.chains()[0].nodes, ["n1", "n2", "n3"]);
        assert_eq!(topology.chains()[0].spares, ["n4"]);
    }
}
