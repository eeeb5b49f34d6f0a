//! What `bench failover` and `bench soak` share: a chain of three `netcraq
//! node` processes and a spare on network namespaces, kept serving by the
//! running controller (`netcraq_controller::service::run`, in this process
//! on a thread of its own), with a client host on each member, and the
//! controller's notes as they come.

use netcraq_client::{Client, ClientError, ClientOptions, ReadReply};
use netcraq_controller::running_topology::{deployment, deployment_with_spares, wait_for_listeners, TopologyPlanner};
use netcraq_controller::service::{self, InMemory, Note, NoteKind, ServiceSettings};
use netcraq_controller::supervisor::Change;
use netcraq_controller::{apply_blocking, Controller, PipelineFiles};
use netcraq_linearizability::{History, Operation};
use netcraq_topology::{NodeKind, Placement, Running, Topology};
use netcraq_wire::NETCRAQ_UDP_PORT;
use std::net::SocketAddrV4;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The chain's members, head first; [`SPARE`] waits to join.
pub const MEMBERS: [&str; 3] = ["n1", "n2", "n3"];
pub const SPARE: &str = "n4";
/// The controller's election id (the nodes were first configured with 1).
const ELECTION_ID: u128 = 2;
/// Bounds each P4Runtime call of the controller.
const CALL_TIMEOUT: Duration = Duration::from_secs(1);

/// The chain to start.
#[derive(Debug, Clone)]
pub struct ChainSpec {
    pub kind: NodeKind,
    /// The chain serves keys `0..keys` (at most 65,536).
    pub keys: u32,
    /// EAL arguments of DPDK nodes.
    pub eal: String,
}

/// Nodes n1..n4, each linked to every other; host h<i> on member n<i>. The
/// chain is n1, n2, n3, with n4 as its spare. With `p4runtime` (each
/// node's name and P4Runtime address), a deployment file.
fn topology_text(spec: &ChainSpec, p4runtime: &[(String, String)]) -> String {
    let kind = spec.kind.name();
    let eal = match spec.kind {
        NodeKind::Dpdk => format!("eal = \"{}\"\n", spec.eal),
        _ => String::new(),
    };
    let mut text = String::new();
    for i in 1..=4 {
        text += &format!("[[node]]\nname = \"n{i}\"\nkind = \"{kind}\"\n{eal}ip = \"10.0.0.{i}\"\n");
        if let Some((_, address)) = p4runtime.iter().find(|(name, _)| *name == format!("n{i}")) {
            text += &format!("p4runtime = \"{address}\"\n");
        }
        text += "\n";
    }
    for i in 1..=MEMBERS.len() {
        text += &format!("[[host]]\nname = \"h{i}\"\nip = \"10.0.1.{i}\"\n\n[[link]]\na = \"h{i}\"\nb = \"n{i}\"\n\n");
    }
    for a in 1..=4 {
        for b in a + 1..=4 {
            text += &format!("[[link]]\na = \"n{a}\"\nb = \"n{b}\"\n\n");
        }
    }
    text + &format!(
        "[[chain]]\nname = \"kv\"\nnodes = [\"n1\", \"n2\", \"n3\"]\nspares = [\"{SPARE}\"]\nmode = \"craq\"\nkeys = [0, {}]\n",
        spec.keys
    )
}

/// The client host on member `node` (`n2` → `h2`).
pub fn host_of(node: &str) -> String {
    format!("h{}", node.trim_start_matches('n'))
}

/// A managed chain, up; torn down by [`ManagedChain::stop`] or on drop.
pub struct ManagedChain {
    pub topology: Topology,
    running: Running,
    addresses: Vec<(String, String)>,
    spec: ChainSpec,
}

impl ManagedChain {
    /// Starts every node unconfigured (as `netcraq up` does) with the
    /// `netcraq` executable `exe`, and configures the members over P4Runtime.
    pub fn up(spec: &ChainSpec, exe: &Path) -> Result<ManagedChain, String> {
        netcraq_topology::catch_interrupts().map_err(|e| format!("installing signal handlers: {e}"))?;
        let topology = Topology::parse(&topology_text(spec, &[])).map_err(|e| e.to_string())?;
        let running = topology
            .up_placed(Placement::Here, |node_file, namespace| {
                let mut command = netcraq_topology::node_command(exe, node_file);
                command.arg("--await-controller").args(["--p4runtime", "127.0.0.1:0"]);
                command
                    .arg("--p4runtime-port-file")
                    .arg(netcraq_controller::running_topology::p4runtime_port_file(node_file));
                command.args(["--netns", namespace.name()]).env("NETCRAQ_LOG", "warn");
                command
            })
            .map_err(|e| e.to_string())?;
        let addresses = wait_for_listeners(&topology, &running)?;
        let members = deployment(&topology, &running.plan().nodes, &addresses, &PipelineFiles::default())?;
        apply_blocking(&members).map_err(|e| format!("configuring the chain: {e}"))?;
        Ok(ManagedChain { topology, running, addresses, spec: spec.clone() })
    }

    /// The chain as a deployment file (`docs/controller.md`), for `netcraq controller`.
    pub fn deployment_text(&self) -> String {
        topology_text(&self.spec, &self.addresses)
    }

    /// Starts the running controller over every node, spares included.
    pub fn start_controller(&self, settings: ServiceSettings) -> Result<RunningController, String> {
        let pipeline = PipelineFiles::default();
        let mut deployment =
            deployment_with_spares(&self.topology, &self.running.plan().nodes, &self.addresses, &pipeline)?;
        deployment.election_id = ELECTION_ID;
        deployment.options.timeout = CALL_TIMEOUT;
        let controller = Controller::new(&deployment).map_err(|e| e.to_string())?;
        let planner = TopologyPlanner::new(&self.topology);
        let state = service::initial_state(&self.topology, &settings);
        let (notes_tx, receiver) = mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let runtime = service::runtime().map_err(|e| format!("a runtime for the controller: {e}"))?;
            let shutdown = async move {
                while !stopped.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            };
            let mut sink = InMemory::default();
            runtime.block_on(service::run(controller, planner, state, &mut sink, settings, notes_tx, shutdown))
        });
        Ok(RunningController { stop, thread: Some(thread), notes: Notes { receiver, seen: Vec::new() } })
    }

    pub fn address(&self, node: &str) -> Result<SocketAddrV4, String> {
        let plan = self.running.plan();
        let file = plan.nodes.iter().find(|n| n.name == node).ok_or_else(|| format!("no node {node}"))?;
        Ok(SocketAddrV4::new(file.config.own_ip, NETCRAQ_UDP_PORT))
    }

    /// Runs `f` on a thread inside `endpoint`'s namespace.
    pub fn inside<T: Send>(&self, endpoint: &str, f: impl FnOnce() -> T + Send) -> Result<T, String> {
        let namespace = self.running.namespace(endpoint).ok_or_else(|| format!("no endpoint {endpoint}"))?;
        namespace.run(f).map_err(|e| format!("entering {endpoint}: {e}"))
    }

    /// Sends `signal` to node `node`'s process, by its PID.
    pub fn signal(&self, node: &str, signal: libc::c_int) -> Result<(), String> {
        let pid = self.running.node_pid(node).ok_or_else(|| format!("node {node} does not run"))?;
        netcraq_topology::send_signal(pid as libc::pid_t, signal);
        Ok(())
    }

    /// Reads keys `0..keys` at each of `nodes` from their own hosts and
    /// appends the reads to `history` after everything in it. The spare has
    /// no host: it is read over the mesh from the host of the first of
    /// `nodes` that has one (a removed member may no longer route).
    pub fn append_final_reads(&self, history: &mut History, nodes: &[String], keys: u16) -> Result<(), String> {
        let mut at_ns = history.operations().iter().map(|op| op.return_ns).max().unwrap_or(0) + 1;
        let first_with_host = nodes.iter().find(|node| MEMBERS.contains(&node.as_str()));
        let spare_host = host_of(first_with_host.ok_or("no member with a host is left to read from")?);
        for (client, node) in (1000u32..).zip(nodes) {
            let host = if MEMBERS.contains(&node.as_str()) { host_of(node) } else { spare_host.clone() };
            let address = self.address(node)?;
            let reads = self.inside(&host, || {
                let options =
                    ClientOptions { timeout: Duration::from_millis(250), retries: 8, ..ClientOptions::default() };
                let mut reader = Client::new(address, options);
                (0..keys)
                    .map(|key| {
                        read_patiently(&mut reader, key).map_err(|e| format!("final read of {key} at {node}: {e}"))
                    })
                    .collect::<Result<Vec<_>, String>>()
            })??;
            for (key, read) in (0..keys).zip(reads) {
                history.push(Operation::read(client, key, at_ns, at_ns + 1, read.value));
                at_ns += 2;
            }
        }
        Ok(())
    }

    pub fn stop(mut self) -> Result<(), String> {
        self.running.down().map_err(|e| e.to_string())
    }
}

/// How long a final read is asked again while its node answers
/// NOT_SERVING: on a loaded machine a lease renewal may come late.
const NOT_SERVING_WAIT: Duration = Duration::from_secs(5);

/// A read of `key`, asked again while the node says it may not serve now
/// (no value was read, so asking again changes no history), within
/// [`NOT_SERVING_WAIT`].
fn read_patiently(reader: &mut Client, key: u16) -> Result<ReadReply, ClientError> {
    let deadline = Instant::now() + NOT_SERVING_WAIT;
    loop {
        match reader.read(key) {
            Err(ClientError::NotServing { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            answer => return answer,
        }
    }
}

/// The running controller on its thread; stopped on [`RunningController::stop`] or drop.
pub struct RunningController {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), String>>>,
    pub notes: Notes,
}

impl RunningController {
    /// Stops the controller and says whether it ran until stopped.
    pub fn stop(mut self) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.take().expect("joined once");
        thread.join().map_err(|_| "the controller's thread panicked".to_string())?
    }
}

impl Drop for RunningController {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The controller's notes as they come.
pub struct Notes {
    receiver: mpsc::UnboundedReceiver<Note>,
    pub seen: Vec<Note>,
}

impl Notes {
    /// Waits up to `limit` for the first note (since the last one waited
    /// for) that `wanted` accepts; the error names every note seen.
    pub fn wait(&mut self, what: &str, limit: Duration, wanted: impl Fn(&NoteKind) -> bool) -> Result<Note, String> {
        let deadline = Instant::now() + limit;
        loop {
            match self.receiver.try_recv() {
                Ok(note) if note.what.is_probe() => {}
                Ok(note) => {
                    self.seen.push(note.clone());
                    if wanted(&note.what) {
                        return Ok(note);
                    }
                }
                Err(_) if netcraq_topology::interrupted() => return Err("interrupted".into()),
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
                Err(_) => {
                    let seen: Vec<String> = self.seen.iter().map(|n| n.what.to_string()).collect();
                    return Err(format!("no note that {what} within {limit:?}; seen: {}", seen.join("; ")));
                }
            }
        }
    }

    /// The members of the last reconfiguration done, if any.
    pub fn last_members(&mut self) -> Option<Vec<String>> {
        while let Ok(note) = self.receiver.try_recv() {
            if !note.what.is_probe() {
                self.seen.push(note);
            }
        }
        self.seen.iter().rev().find_map(|note| match &note.what {
            NoteKind::Reconfigured { members, .. } => Some(members.clone()),
            _ => None,
        })
    }
}

/// Accepts the note of `change` done.
pub fn reconfigured(change: Change) -> impl Fn(&NoteKind) -> bool {
    move |note| matches!(note, NoteKind::Reconfigured { change: done, .. } if *done == change)
}

/// Accepts the note of `change` started.
pub fn started(change: Change) -> impl Fn(&NoteKind) -> bool {
    move |note| matches!(note, NoteKind::ReconfigureStarted { change: begun, .. } if *begun == change)
}

/// Accepts the note that `node` is down.
pub fn down(node: &str) -> impl Fn(&NoteKind) -> bool + '_ {
    move |note| *note == NoteKind::NodeDown(node.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_topology_has_three_members_a_spare_and_a_host_on_each_member() {
        let spec = ChainSpec { kind: NodeKind::Software, keys: 65_536, eal: String::new() };
        let topology = Topology::parse(&topology_text(&spec, &[])).unwrap();
        assert_eq!(topology.nodes().len(), 4);
        assert_eq!(topology.hosts().len(), 3);
        assert_eq!(topology.links().len(), 3 + 6);
        let chain = &topology.chains()[0];
        assert_eq!(
            (chain.nodes.clone(), chain.spares.clone()),
            (vec!["n1".into(), "n2".into(), "n3".into()], vec!["n4".into()])
        );
        assert_eq!(host_of("n3"), "h3");
    }
}
