//! `up`: namespaces, veth links, host addressing and node processes for a
//! topology; `down` (also run on drop): all of it removed again.

use crate::command::CommandError;
use crate::interrupts::take_interrupt;
use crate::netns::{quiet_kernel, set_tx_checksum_offload, Namespace};
use crate::node_file::NodeFileError;
use crate::plan::{LinkEnd, Plan};
use crate::process::{send_signal, Exit, NodeProcess};
use crate::topology::{LinkKind, NodeKind, Topology};
use netcraq_plan::plan::PlanError;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long nodes get to exit after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// How long a SIGKILLed process may take to be reaped.
const REAP_LIMIT: Duration = Duration::from_secs(2);

/// How often `wait` and `down` look at the node processes.
const WATCH_INTERVAL: Duration = Duration::from_millis(20);

/// Runs of this process so far: with the PID, makes each run's prefix unique.
static RUNS: AtomicU32 = AtomicU32::new(0);

#[derive(Debug)]
pub enum RunError {
    Command(CommandError),
    Io {
        action: String,
        error: std::io::Error,
    },
    Plan(PlanError),
    NodeFile(NodeFileError),
    /// A node `up` cannot start: a hardware switch.
    Hardware(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Command(error) => error.fmt(f),
            RunError::Io { action, error } => write!(f, "{action}: {error}"),
            RunError::Plan(error) => error.fmt(f),
            RunError::NodeFile(error) => error.fmt(f),
            RunError::Hardware(node) => write!(
                f,
                "node {node}: kind \"tofino\" is a hardware switch that netcraq up cannot start; \
                 give its p4runtime address and configure it with netcraq ctl --deployment"
            ),
        }
    }
}

impl std::error::Error for RunError {}

impl From<CommandError> for RunError {
    fn from(error: CommandError) -> RunError {
        RunError::Command(error)
    }
}

impl From<PlanError> for RunError {
    fn from(error: PlanError) -> RunError {
        RunError::Plan(error)
    }
}

impl From<NodeFileError> for RunError {
    fn from(error: NodeFileError) -> RunError {
        RunError::NodeFile(error)
    }
}

/// What a teardown could not remove, one line each.
#[derive(Debug)]
pub struct TeardownError {
    pub failures: Vec<String>,
}

impl std::fmt::Display for TeardownError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "teardown left things behind: {}", self.failures.join("; "))
    }
}

impl std::error::Error for TeardownError {}

/// Why [`Running::wait`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A signal caught after [`crate::catch_interrupts`].
    Interrupted(i32),
    /// A node process ended (it stays reported until `down`).
    NodeExited {
        node: String,
        exit: Exit,
    },
    TimedOut,
}

/// A topology that is up. Dropping it tears it down, as [`Running::down`] does.
#[derive(Debug)]
pub struct Running {
    prefix: String,
    plan: Plan,
    /// Endpoint name and its namespace, in creation order.
    namespaces: Vec<(String, Namespace)>,
    nodes: Vec<NodeProcess>,
    /// Holds the node files; `None` once removed.
    run_dir: Option<PathBuf>,
}

/// Where the runner starts node processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Inside the node's namespace (`ip netns exec`).
    InNamespace,
    /// In the runner's own namespace: the command enters the node's
    /// namespace itself (`netcraq node --netns NAME`), after binding what must
    /// stay reachable from here, such as its P4Runtime listener.
    Here,
}

impl Topology {
    /// Builds the topology: one namespace per node and host, one veth pair
    /// per link, host addresses, routes and neighbours, a node file per node,
    /// and one process per node from `node_command(node file)`, run inside
    /// the node's namespace. On error, everything made so far is removed.
    pub fn up(&self, node_command: impl Fn(&Path) -> Command) -> Result<Running, RunError> {
        self.up_placed(Placement::InNamespace, |node_file, _| node_command(node_file))
    }

    /// As [`Topology::up`], with node processes started where `placement`
    /// says, from `node_command(node file, node's namespace)`.
    pub fn up_placed(
        &self,
        placement: Placement,
        node_command: impl Fn(&Path, &Namespace) -> Command,
    ) -> Result<Running, RunError> {
        if let Some(switch) = self.nodes.iter().find(|node| node.kind == NodeKind::Tofino) {
            return Err(RunError::Hardware(switch.name.clone()));
        }
        let plan = self.plan()?;
        let prefix = format!("ncq{}-{}", std::process::id(), RUNS.fetch_add(1, Ordering::SeqCst));
        let run_dir = std::env::temp_dir().join(&prefix);
        std::fs::create_dir(&run_dir)
            .map_err(|error| RunError::Io { action: format!("create {}", run_dir.display()), error })?;
        let mut plan = plan;
        plan.place_memif_sockets(&run_dir);
        let mut running = Running { prefix, plan, namespaces: Vec::new(), nodes: Vec::new(), run_dir: Some(run_dir) };
        running.add_namespaces()?;
        running.add_links()?;
        running.address_hosts()?;
        running.start_nodes(placement, node_command)?;
        Ok(running)
    }
}

impl Running {
    /// `ncq<pid>-<run>`: every namespace of this run is `<prefix>-<endpoint>`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The namespace of a node or host.
    pub fn namespace(&self, endpoint: &str) -> Option<&Namespace> {
        self.namespaces.iter().find(|(name, _)| name == endpoint).map(|(_, namespace)| namespace)
    }

    /// Where the node's file is, while the topology is up.
    pub fn node_file(&self, node: &str) -> Option<PathBuf> {
        let known = self.plan.nodes.iter().any(|n| n.name == node);
        self.run_dir.as_ref().filter(|_| known).map(|dir| dir.join(format!("{node}.toml")))
    }

    /// How the node's process ended, if it has.
    pub fn node_exit(&self, node: &str) -> Option<Exit> {
        self.nodes.iter().find(|p| p.node == node).and_then(NodeProcess::exit)
    }

    /// The PID of the node's process, until `down` reaps it.
    pub fn node_pid(&self, node: &str) -> Option<u32> {
        self.nodes.iter().find(|p| p.node == node).map(NodeProcess::pid)
    }

    /// Waits up to `limit` for an interrupt (see [`crate::catch_interrupts`])
    /// or for a node process to end, whichever comes first.
    pub fn wait(&self, limit: Duration) -> Event {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(signal) = take_interrupt() {
                return Event::Interrupted(signal);
            }
            if let Some((process, exit)) = self.nodes.iter().find_map(|p| p.exit().map(|exit| (p, exit))) {
                return Event::NodeExited { node: process.node.clone(), exit };
            }
            let now = Instant::now();
            if now >= deadline {
                return Event::TimedOut;
            }
            std::thread::sleep(WATCH_INTERVAL.min(deadline - now));
        }
    }

    /// Stops the nodes (SIGTERM, then SIGKILL after [`STOP_GRACE`]), kills
    /// any other process left inside the run's namespaces, deletes the
    /// namespaces (which deletes their veths) and the node files. Goes on
    /// past failures, keeps what it could not remove for another try, and
    /// does nothing the second time.
    pub fn down(&mut self) -> Result<(), TeardownError> {
        let mut failures = self.stop_nodes();
        for (_, namespace) in &self.namespaces {
            failures.extend(kill_stragglers(namespace).err());
        }
        self.namespaces.retain(|(_, namespace)| match namespace.delete() {
            Ok(()) => false,
            Err(error) => {
                failures.push(error.to_string());
                true
            }
        });
        if let Some(dir) = self.run_dir.take() {
            match std::fs::remove_dir_all(&dir) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    failures.push(format!("remove {}: {error}", dir.display()));
                    self.run_dir = Some(dir);
                }
                _ => {}
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(TeardownError { failures })
        }
    }

    fn add_namespaces(&mut self) -> Result<(), RunError> {
        let endpoints: Vec<String> = self
            .plan
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .chain(self.plan.hosts.iter().map(|h| h.name.clone()))
            .collect();
        for endpoint in endpoints {
            let namespace = Namespace::add(format!("{}-{endpoint}", self.prefix))?;
            self.namespaces.push((endpoint, namespace.clone()));
            in_namespace(&namespace, "turn IPv6 and IPv4 forwarding off", quiet_kernel)?;
            namespace.ip(&["link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// Each veth end is created directly in its endpoint's namespace, with
    /// the endpoint's MAC, so no name ever appears in the caller's namespace.
    fn add_links(&self) -> Result<(), RunError> {
        for link in self.plan.links.iter().filter(|link| link.kind == LinkKind::Veth) {
            let [a, b] = &link.ends;
            let (ns_a, ns_b) = (self.namespace_of(a), self.namespace_of(b));
            let (mac_a, mac_b) = (a.mac.to_string(), b.mac.to_string());
            let mut add = Command::new("ip");
            add.args(["link", "add", "name", &a.interface, "netns", ns_a.name(), "address", &mac_a, "type", "veth"]);
            add.args(["peer", "name", &b.interface, "netns", ns_b.name(), "address", &mac_b]);
            crate::run_command(&mut add, crate::command::IP_COMMAND_TIMEOUT)?;
            for (end, namespace) in [(a, ns_a), (b, ns_b)] {
                let interface = end.interface.as_str();
                in_namespace(namespace, "turn tx checksum offload off", || set_tx_checksum_offload(interface, false))?;
                namespace.ip(&["link", "set", interface, "up"])?;
            }
        }
        Ok(())
    }

    /// Hosts send every node address to their node's MAC: nodes answer no
    /// ARP, so the neighbour entries are static.
    fn address_hosts(&self) -> Result<(), RunError> {
        for host in &self.plan.hosts {
            let namespace = self.namespace(&host.name).expect("every host has a namespace");
            let interface = host.interface.as_str();
            namespace.ip(&["addr", "add", &format!("{}/32", host.ip), "dev", interface])?;
            let gateway_mac = host.gateway_mac.to_string();
            for node_ip in &host.node_ips {
                let node_ip = node_ip.to_string();
                namespace.ip(&[
                    "neigh",
                    "add",
                    &node_ip,
                    "lladdr",
                    &gateway_mac,
                    "dev",
                    interface,
                    "nud",
                    "permanent",
                ])?;
                namespace.ip(&["route", "add", &format!("{node_ip}/32"), "dev", interface])?;
            }
        }
        Ok(())
    }

    fn start_nodes(
        &mut self,
        placement: Placement,
        node_command: impl Fn(&Path, &Namespace) -> Command,
    ) -> Result<(), RunError> {
        for file in self.plan.nodes.clone() {
            let path = self.node_file(&file.name).expect("the run directory exists during up");
            file.save(&path)?;
            let namespace = self.namespace(&file.name).expect("every node has a namespace");
            let command = node_command(&path, namespace);
            let inside = (placement == Placement::InNamespace).then_some(namespace);
            let process = NodeProcess::start(&file.name, inside, &command)?;
            self.nodes.push(process);
        }
        Ok(())
    }

    fn namespace_of(&self, end: &LinkEnd) -> &Namespace {
        self.namespace(&end.endpoint).expect("every link end has a namespace")
    }

    /// SIGTERM to every node still running, one shared grace period, then
    /// SIGKILL and reap each. Returns what could not be reaped.
    fn stop_nodes(&mut self) -> Vec<String> {
        for process in self.nodes.iter().filter(|p| p.exit().is_none()) {
            process.signal(libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline && self.nodes.iter().any(|p| p.exit().is_none()) {
            std::thread::sleep(WATCH_INTERVAL);
        }
        let mut failures = Vec::new();
        self.nodes.retain_mut(|process| match process.kill_and_reap(REAP_LIMIT) {
            Ok(()) => false,
            Err(failure) => {
                failures.push(failure);
                true
            }
        });
        failures
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Err(error) = self.down() {
            eprintln!("netcraq: run {}: {error}", self.prefix);
        }
    }
}

fn in_namespace(
    namespace: &Namespace,
    action: &str,
    f: impl FnOnce() -> std::io::Result<()> + Send,
) -> Result<(), RunError> {
    let io_error = |error| RunError::Io { action: format!("{action} in namespace {}", namespace.name()), error };
    namespace.run(f).map_err(io_error)?.map_err(io_error)
}

/// Processes the nodes did not start but that live in the run's namespace
/// (a client started with [`Namespace::command`] and left running) would
/// keep the namespace and its links alive after it loses its name.
fn kill_stragglers(namespace: &Namespace) -> Result<(), String> {
    let own = std::process::id();
    for pid in namespace.pids().map_err(|e| e.to_string())?.into_iter().filter(|pid| *pid != own) {
        send_signal(pid as libc::pid_t, libc::SIGKILL);
    }
    Ok(())
}
