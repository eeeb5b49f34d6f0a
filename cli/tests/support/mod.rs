//! Real chains for tests: a topology on network namespaces whose nodes are
//! `netcraq node` processes, with helpers to talk to it and read counters.
//! Every test that uses it needs root; without root it prints a visible SKIP.

#![allow(dead_code)] // each test binary uses a different part

use netcraq_client::{run_workload, Client, ClientOptions, KeyDistribution, Stop, Workload};
use netcraq_controller::running_topology::{
    bmv2_command, deployment, deployment_with_spares, kind_of, p4runtime_port_file, wait_for_listeners,
};
use netcraq_controller::{apply_blocking, block_on_runtime, Controller, Deployment, PipelineFiles};
use netcraq_core::control::{CounterId, RegisterId};
use netcraq_linearizability::{check, save_history_if_requested, CheckResult, History, Operation};
use netcraq_topology::{NodeKind, Placement, Running, Topology};
use netcraq_wire::{Endpoint, Ipv4Addr, MacAddr, NetcraqFrame, NetcraqRepr, Op, NETCRAQ_UDP_PORT};
use serde_json::Value;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Stats files are rewritten this often by the nodes.
const STATS_INTERVAL_MS: &str = "20";
const STATS_WAIT: Duration = Duration::from_secs(5);

/// True when running as root; otherwise says the test is skipped.
pub fn running_as_root(test: &str) -> bool {
    let root = netcraq_topology::running_as_root();
    if !root {
        // Past the harness's capture, so the skip is visible in any run.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIP: {test} needs root (network namespaces)");
    }
    root
}

/// True when BMv2 can run here; otherwise says the test is skipped and why.
/// It needs `simple_switch_grpc` on PATH and the program compiled into
/// p4/build (by p4/compile.sh, run here when p4c is on PATH).
pub fn bmv2_available(test: &str) -> bool {
    let on_path = netcraq_topology::on_path;
    let p4 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../p4");
    let compiled = || p4.join("build/bmv2/netcraq.json").is_file();
    if on_path(netcraq_topology::BMV2_SWITCH) && !compiled() && on_path("p4c") {
        let status = Command::new("bash").arg(p4.join("compile.sh")).status();
        assert!(status.is_ok_and(|status| status.success()), "p4/compile.sh compiles the program");
    }
    let missing = match (on_path(netcraq_topology::BMV2_SWITCH), compiled()) {
        (false, _) => "simple_switch_grpc is not on PATH",
        (true, false) => "p4/build/bmv2/netcraq.json is missing and p4c is not on PATH",
        (true, true) => return true,
    };
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIP: {test}: {missing}");
    false
}

/// A line of nodes `n1 … nN` with host `h1` on `n1` and `h2` on `nN`, one
/// chain over all of them. `link_extra` is appended to every node–node link.
pub fn line_topology(nodes: usize, mode: &str, link_extra: &str) -> String {
    let mut text = String::new();
    for i in 1..=nodes {
        text += &format!("[[node]]\nname = \"n{i}\"\nkind = \"software\"\nip = \"10.0.0.{i}\"\n\n");
    }
    text += "[[host]]\nname = \"h1\"\nip = \"10.0.1.1\"\n\n[[host]]\nname = \"h2\"\nip = \"10.0.1.2\"\n\n";
    text += "[[link]]\na = \"h1\"\nb = \"n1\"\n\n";
    for i in 1..nodes {
        text += &format!("[[link]]\na = \"n{i}\"\nb = \"n{}\"\n{link_extra}\n", i + 1);
    }
    text += &format!("[[link]]\na = \"n{nodes}\"\nb = \"h2\"\n\n");
    let names: Vec<String> = (1..=nodes).map(|i| format!("\"n{i}\"")).collect();
    text += &format!("[[chain]]\nname = \"kv\"\nnodes = [{}]\nmode = \"{mode}\"\nkeys = [0, 1024]\n", names.join(", "));
    text
}

/// A topology that is up, torn down on drop.
pub struct Chain {
    pub running: Running,
    /// What the controller applied, for chains up with [`Chain::up_managed`].
    deployment: Option<Deployment>,
    /// Every node's P4Runtime address, spares included ([`Chain::up_managed`]).
    addresses: Vec<(String, String)>,
}

impl Chain {
    pub fn up(topology_text: &str) -> Chain {
        Chain::up_with(topology_text, &[])
    }

    /// Like [`Chain::up`], but as `netcraq up` does it: every node starts
    /// unconfigured with a P4Runtime server on loopback, and the controller
    /// pushes the planned tables to it over P4Runtime.
    pub fn up_managed(topology_text: &str) -> Chain {
        let topology = Topology::parse(topology_text).expect("test topology is valid");
        let plan = topology.plan().expect("test topology plans");
        let running = topology
            .up_placed(Placement::Here, |node_file, namespace| {
                let name = node_file.file_stem().expect("node file name").to_string_lossy().into_owned();
                if kind_of(&topology, &name) == Some(NodeKind::Bmv2) {
                    let file = plan.nodes.iter().find(|n| n.name == name).expect("planned node");
                    return bmv2_command(file, node_file, namespace);
                }
                let mut command = Command::new(env!("CARGO_BIN_EXE_netcraq"));
                command.arg("node").arg("--config").arg(node_file).arg("--await-controller");
                command.args(["--p4runtime", "127.0.0.1:0", "--netns", namespace.name()]);
                command.arg("--p4runtime-port-file").arg(p4runtime_port_file(node_file));
                command.arg("--stats").arg(stats_path(node_file)).args(["--stats-interval-ms", STATS_INTERVAL_MS]);
                command.env("NETCRAQ_LOG", "warn");
                command
            })
            .expect("topology comes up");
        let addresses = wait_for_listeners(&topology, &running).expect("every node serves P4Runtime");
        let build = Path::new(env!("CARGO_MANIFEST_DIR")).join("../p4/build");
        let pipeline = PipelineFiles {
            p4info: Some(build.join("netcraq.p4info.txtpb")),
            device_config: Some(build.join("bmv2").join("netcraq.json")),
        };
        let deployment =
            deployment(&topology, &running.plan().nodes, &addresses, &pipeline).expect("deployment of the plan");
        apply_blocking(&deployment).unwrap_or_else(|e| panic!("the controller configures the chain: {e}"));
        let chain = Chain { running, deployment: Some(deployment), addresses };
        for node in chain.node_names() {
            if kind_of(&topology, &node) != Some(NodeKind::Bmv2) {
                chain.wait_stats(&node, |_| true);
            }
        }
        chain
    }

    /// Like [`Chain::up`], with `node_args` added to every `netcraq node`.
    pub fn up_with(topology_text: &str, node_args: &[&str]) -> Chain {
        let topology = Topology::parse(topology_text).expect("test topology is valid");
        let running = topology
            .up(|node_file| {
                let mut command = Command::new(env!("CARGO_BIN_EXE_netcraq"));
                command.arg("node").arg("--config").arg(node_file);
                command.arg("--stats").arg(stats_path(node_file)).args(["--stats-interval-ms", STATS_INTERVAL_MS]);
                command.args(node_args).env("NETCRAQ_LOG", "warn");
                command
            })
            .expect("topology comes up");
        let chain = Chain { running, deployment: None, addresses: Vec::new() };
        for node in chain.node_names() {
            chain.wait_stats(&node, |_| true);
        }
        chain
    }

    pub fn node_names(&self) -> Vec<String> {
        self.running.plan().nodes.iter().map(|n| n.name.clone()).collect()
    }

    pub fn node_ip(&self, node: &str) -> Ipv4Addr {
        self.running.plan().nodes.iter().find(|n| n.name == node).expect("node exists").config.own_ip
    }

    /// The epoch the chain runs under: the chain frames its nodes accept carry it.
    pub fn epoch(&self) -> u32 {
        self.running.plan().nodes[0].config.epoch
    }

    pub fn node_mac(&self, node: &str) -> MacAddr {
        self.running.plan().nodes.iter().find(|n| n.name == node).expect("node exists").config.own_mac
    }

    pub fn address(&self, node: &str) -> SocketAddrV4 {
        SocketAddrV4::new(self.node_ip(node), NETCRAQ_UDP_PORT)
    }

    /// Runs `f` on a thread inside `endpoint`'s namespace.
    pub fn inside<T: Send>(&self, endpoint: &str, f: impl FnOnce() -> T + Send) -> T {
        self.running.namespace(endpoint).expect("endpoint exists").run(f).expect("entering the namespace")
    }

    /// A client in host `host` talking to `node`.
    pub fn client(&self, node: &str) -> Client {
        // Long enough that a loaded machine does not turn replies into retransmissions,
        // which would change the exact outcome counts the tests expect.
        let options = ClientOptions { timeout: Duration::from_millis(250), retries: 8, ..ClientOptions::default() };
        Client::new(self.address(node), options)
    }

    /// The node's counters, once `ready` holds for them (or panics after 5 s).
    pub fn wait_stats(&self, node: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let path = stats_path(&self.running.node_file(node).expect("node exists"));
        let deadline = Instant::now() + STATS_WAIT;
        loop {
            let stats = std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok());
            match stats {
                Some(stats) if ready(&stats) => return stats,
                last if Instant::now() >= deadline => panic!("stats of {node} not as expected within 5 s: {last:?}"),
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    /// Runs 12 concurrent clients from host `h1` at every node of `n1..n3`
    /// over keys 0..4 (60 % reads) for `operations` operations, and asserts
    /// that most were recorded and the history is linearizable (saved as
    /// `label` when NETCRAQ_HISTORY_DIR asks, docs/linearizability.md).
    pub fn assert_linearizable(&self, operations: usize, seed: u64, label: &str) {
        let targets: Vec<_> = ["n1", "n2", "n3"].iter().map(|n| self.address(n)).collect();
        let workload = Workload {
            read_fraction: 0.6,
            keys: 0..4,
            key_distribution: KeyDistribution::Uniform,
            concurrency: 12,
            stop: Stop::AfterOperations(operations as u64),
            seed,
            history_capacity_ops: operations,
            ..Workload::default()
        };
        let report = self.inside("h1", || run_workload(&targets, &workload, |_| {})).expect("workload runs");
        let history = report.history.as_ref().expect("history recorded");
        assert!(history.len() > operations * 2 / 3, "{label}: most operations recorded ({})", history.len());
        save_history_if_requested(history, label).expect("saves the history");
        match check(history) {
            CheckResult::Linearizable => {}
            other => panic!("{label}: {other:?}"),
        }
    }

    /// The value of `register` at `key` on `node`, read over P4Runtime
    /// (chains up with [`Chain::up_managed`]).
    pub fn register(&self, node: &str, register: RegisterId, key: u16) -> u128 {
        let deployment = self.deployment.as_ref().expect("a chain configured by the controller");
        let mut controller = Controller::reader(deployment).expect("a reader of the deployment");
        let runtime = block_on_runtime().expect("a runtime");
        let values = runtime.block_on(async {
            controller.connect().await.expect("connects to every node");
            let target = controller.target(node).expect("the node is in the deployment");
            target.read_register(register, Some(key)).await.expect("reads the register")
        });
        match values.as_slice() {
            [(index, value)] if *index == u32::from(key) => *value,
            other => panic!("{node}: one value for key {key} expected, got {other:?}"),
        }
    }

    /// A controller that holds the primary role on every node of a chain
    /// up with [`Chain::up_managed`] (it applies the plan again, which
    /// changes nothing), to reconfigure the chain with.
    pub fn controller(&self, runtime: &tokio::runtime::Runtime) -> Controller {
        let deployment = self.deployment.as_ref().expect("a chain configured by the controller");
        let mut controller = Controller::new(deployment).expect("a controller of the deployment");
        runtime.block_on(controller.apply()).unwrap_or_else(|e| panic!("the controller takes the chain over: {e}"));
        controller
    }

    /// The running controller's deployment: every node, spares included
    /// (chains up with [`Chain::up_managed`]), claimed with `election_id`.
    pub fn deployment_with_spares(&self, topology: &Topology, election_id: u128) -> Deployment {
        let pipeline = PipelineFiles::default();
        let mut deployment = deployment_with_spares(topology, &self.running.plan().nodes, &self.addresses, &pipeline)
            .expect("a deployment of every node");
        deployment.election_id = election_id;
        deployment
    }

    /// Sends `signal` to node `node`'s process (by its PID).
    pub fn signal(&self, node: &str, signal: libc::c_int) {
        let pid = self.running.node_pid(node).expect("the node runs");
        // SAFETY: kill(2) on a PID this test started and has not reaped.
        let sent = unsafe { libc::kill(pid as i32, signal) };
        assert_eq!(sent, 0, "signal {signal} to {node} (pid {pid})");
    }

    /// Reads `keys` at each of `nodes` from `host` after a workload,
    /// and appends the reads to its history after everything in it: each
    /// must return the last acknowledged write of its key (or a later one
    /// whose outcome was unknown).
    pub fn append_final_reads(&self, history: &mut History, host: &str, nodes: &[&str], keys: std::ops::Range<u16>) {
        let mut at_ns = history.operations().iter().map(|op| op.return_ns).max().unwrap_or(0) + 1;
        for (client, node) in (1000u32..).zip(nodes) {
            let reads: Vec<_> = self.inside(host, || {
                let mut reader = self.client(node);
                keys.clone()
                    .map(|key| reader.read(key).unwrap_or_else(|e| panic!("read {key} at {node}: {e}")))
                    .collect()
            });
            for (key, read) in keys.clone().zip(reads) {
                history.push(Operation::read(client, key, at_ns, at_ns + 1, read.value));
                at_ns += 2;
            }
        }
    }

    /// Kills node `node`'s process at once (SIGKILL, by its PID), as a crash would.
    pub fn kill(&self, node: &str) {
        let pid = self.running.node_pid(node).expect("the node runs");
        // SAFETY: kill(2) on a PID this test started and has not reaped.
        let killed = unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        assert_eq!(killed, 0, "killing {node} (pid {pid})");
    }

    /// Every index of `counter` on `node`, read over P4Runtime (chains up
    /// with [`Chain::up_managed`]; BMv2 serves counter reads, not register reads).
    pub fn counter(&self, node: &str, counter: CounterId) -> Vec<u64> {
        let deployment = self.deployment.as_ref().expect("a chain configured by the controller");
        let mut controller = Controller::reader(deployment).expect("a reader of the deployment");
        block_on_runtime().expect("a runtime").block_on(async {
            controller.connect().await.expect("connects to every node");
            let target = controller.target(node).expect("the node is in the deployment");
            target.read_counter(counter).await.expect("reads the counter")
        })
    }

    /// Waits until the head `n1` has consumed `acks` ACKs. A client hears
    /// WRITE_REPLY from the tail before the ACK reaches the head, and until
    /// then the key is dirty upstream (reads there go to the tail).
    pub fn wait_acked_at_head(&self, acks: u64) {
        self.wait_stats("n1", |stats| outcome(stats, "ACK_CONSUMED") == acks);
    }

    /// Waits until one snapshot of the node's counters shows every
    /// `(outcome, count)` (stats lag the traffic by up to one interval), or
    /// panics with the last snapshot.
    pub fn expect_outcomes(&self, node: &str, expected: &[(&str, u64)]) {
        self.wait_stats(node, |stats| expected.iter().all(|(name, count)| outcome(stats, name) == *count));
    }
}

pub fn outcome(stats: &Value, name: &str) -> u64 {
    stats["outcomes"][name].as_u64().unwrap_or_else(|| panic!("no outcome {name} in {stats}"))
}

fn stats_path(node_file: &std::path::Path) -> PathBuf {
    node_file.with_extension("stats.json")
}

/// A NetCRAQ request frame from a host to a node, ready to mutate.
pub fn request_frame(from: (Ipv4Addr, MacAddr, u16), to: (Ipv4Addr, MacAddr), op: Op, key: u16) -> Vec<u8> {
    chain_frame(from, to, NetcraqRepr { op, version: 0, key, value: *b"injected-value!!" }, 0)
}

/// A frame with `header` from `from` to `to`, carrying `epoch` if its op is
/// a chain op: what a chain node sends, or a host forges.
pub fn chain_frame(
    from: (Ipv4Addr, MacAddr, u16),
    to: (Ipv4Addr, MacAddr),
    header: NetcraqRepr,
    epoch: u32,
) -> Vec<u8> {
    let (source, destination) = (Endpoint { ip: from.0, mac: from.1 }, Endpoint { ip: to.0, mac: to.1 });
    let mut frame = NetcraqFrame::request(source, from.2, destination, 0x1234, header);
    frame.epoch = if header.op.is_chain() { epoch } else { 0 };
    frame.to_bytes().to_vec()
}
