//! `netcraq ctl` and the controller against real nodes: `netcraq node
//! --p4runtime` processes with their packet sockets in network namespaces
//! and their P4Runtime servers on 127.0.0.1 of the test's own namespace,
//! configured only over P4Runtime. Needs root; without it each test prints
//! SKIP and passes.

mod support;

use async_trait::async_trait;
use netcraq_client::{Client, ClientOptions};
use netcraq_controller::stats::read_counters;
use netcraq_controller::{
    block_on_runtime, load_deployment, target_for, Capabilities, Controller, Deployment, ForwardingChanges, NodeError,
    NodeTables, PipelineOutcome, Target,
};
use netcraq_core::control::{CounterId, RegisterId};
use netcraq_core::{NodeConfig, Outcome, Route};
use netcraq_topology::{Running, Topology};
use netcraq_wire::NETCRAQ_UDP_PORT;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use support::{line_topology, running_as_root};

/// How long a node may take to start listening for P4Runtime.
const START_WAIT: Duration = Duration::from_secs(10);
/// How long counters may take to show traffic that was answered.
const COUNTER_WAIT: Duration = Duration::from_secs(5);
/// Bounds every `netcraq ctl` run.
const CTL_TIMEOUT_MS: &str = "3000";

/// A line of `netcraq node --p4runtime` processes built by the topology
/// runner (namespaces, veth links, hosts), whose nodes start unconfigured.
struct P4Chain {
    running: Running,
    topology_text: String,
    /// Node name to its P4Runtime address.
    addresses: HashMap<String, String>,
}

impl P4Chain {
    fn up(nodes: usize) -> P4Chain {
        let topology_text = line_topology(nodes, "craq", "");
        let topology = Topology::parse(&topology_text).expect("test topology is valid");
        let plan = topology.plan().expect("test topology plans");
        let ports: HashMap<String, Vec<u16>> =
            plan.nodes.iter().map(|n| (n.name.clone(), n.ports.iter().map(|p| p.number).collect())).collect();
        let running = topology.up(|node_file| p4runtime_node(node_file, &ports)).expect("topology comes up");
        let mut addresses = HashMap::new();
        for node in ports.keys() {
            let port_file = port_file(&running.node_file(node).expect("node exists"));
            let namespace = format!("{}-{node}", running.prefix());
            assert_eq!(
                namespace_of(&running.node_file(node).unwrap()),
                namespace,
                "the node command derives the namespace from the run directory, as the runner names it"
            );
            addresses.insert(node.clone(), format!("127.0.0.1:{}", wait_for_port(&running, node, &port_file)));
        }
        P4Chain { running, topology_text, addresses }
    }

    /// The deployment of this chain: the topology file plus every node's
    /// P4Runtime address, and `extra` lines for the nodes that have them.
    fn deployment_text(&self, address_of: impl Fn(&str) -> String, extra: &[(&str, &str)]) -> String {
        let mut text = format!("timeout_ms = {CTL_TIMEOUT_MS}\n\n{}", self.topology_text);
        for node in self.addresses.keys() {
            let kind_line = format!("name = \"{node}\"\nkind = \"software\"\n");
            let mut lines = format!("{kind_line}p4runtime = \"{}\"\n", address_of(node));
            for (_, line) in extra.iter().filter(|(n, _)| n == node) {
                lines += &format!("{line}\n");
            }
            text = text.replace(&kind_line, &lines);
        }
        text
    }

    fn write_deployment(&self, file: &str, text: &str) -> PathBuf {
        let path = self.dir().join(file);
        std::fs::write(&path, text).expect("writing the deployment file");
        path
    }

    fn deployment(&self) -> PathBuf {
        let text = self.deployment_text(|node| self.addresses[node].clone(), &[]);
        self.write_deployment("deployment.toml", &text)
    }

    fn dir(&self) -> PathBuf {
        self.running.node_file("n1").unwrap().parent().unwrap().to_path_buf()
    }

    /// Runs `f` on a thread inside `endpoint`'s namespace.
    fn inside<T: Send>(&self, endpoint: &str, f: impl FnOnce() -> T + Send) -> T {
        self.running.namespace(endpoint).expect("endpoint exists").run(f).expect("entering the namespace")
    }

    /// A client (to be used from a host) of `node`.
    fn client(&self, node: &str) -> Client {
        let plan = self.running.plan();
        let ip = plan.nodes.iter().find(|n| n.name == node).expect("node exists").config.own_ip;
        // Generous timeouts: a retransmission would count twice in key_reads.
        let options = ClientOptions { timeout: Duration::from_millis(500), retries: 4, ..ClientOptions::default() };
        Client::new(SocketAddrV4::new(ip, NETCRAQ_UDP_PORT), options)
    }
}

/// `netcraq node --p4runtime` for the runner: the runner starts it inside
/// the node's namespace; nsenter takes it back to the test's namespace, so
/// the P4Runtime listener is on the test's 127.0.0.1, and `--netns` puts
/// the packet sockets in the node's namespace (a switch's management port).
fn p4runtime_node(node_file: &Path, ports: &HashMap<String, Vec<u16>>) -> Command {
    let name = node_file.file_stem().unwrap().to_str().unwrap();
    let mut command = Command::new("nsenter");
    command.arg(format!("--net=/proc/{}/ns/net", std::process::id())).arg("--");
    command.arg(env!("CARGO_BIN_EXE_netcraq")).args(["node", "--p4runtime", "127.0.0.1:0", "--name", name]);
    command.arg("--p4runtime-port-file").arg(port_file(node_file));
    command.args(["--netns", &namespace_of(node_file)]);
    for port in &ports[name] {
        command.arg("--port").arg(format!("{port}=eth{port}"));
    }
    command.env("NETCRAQ_LOG", "warn");
    command
}

/// The runner's run directory is named after its prefix, and every
/// namespace of the run is `<prefix>-<endpoint>` (checked in `P4Chain::up`).
fn namespace_of(node_file: &Path) -> String {
    let prefix = node_file.parent().unwrap().file_name().unwrap().to_str().unwrap();
    format!("{prefix}-{}", node_file.file_stem().unwrap().to_str().unwrap())
}

fn port_file(node_file: &Path) -> PathBuf {
    node_file.with_extension("p4runtime-port")
}

fn wait_for_port(running: &Running, node: &str, path: &Path) -> u16 {
    let deadline = Instant::now() + START_WAIT;
    loop {
        if let Some(port) = std::fs::read_to_string(path).ok().and_then(|t| t.trim().parse().ok()) {
            return port;
        }
        assert!(Instant::now() < deadline, "node {node} did not write {} within {START_WAIT:?}", path.display());
        assert!(running.node_pid(node).is_some(), "node {node} is gone");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netcraq")).arg("ctl").args(args).output().expect("running netcraq ctl")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ctl_ok(args: &[&str]) -> String {
    let output = ctl(args);
    assert!(output.status.success(), "netcraq ctl {args:?} failed:\n{}", text(&output.stderr));
    text(&output.stdout)
}

fn ctl_fails(args: &[&str]) -> String {
    let output = ctl(args);
    assert!(!output.status.success(), "netcraq ctl {args:?} should fail:\n{}", text(&output.stdout));
    text(&output.stderr)
}

/// Every node's (node_config, routes) as the nodes answer them over P4Runtime.
fn read_tables(deployment: &Deployment) -> HashMap<String, (Option<NodeConfig>, Vec<Route>)> {
    let runtime = block_on_runtime().unwrap();
    let tables = runtime.block_on(async { Controller::reader(deployment).unwrap().read_tables().await });
    tables
        .expect("reading the tables back")
        .into_iter()
        .map(|(name, config, routes)| (name, (config, routes)))
        .collect()
}

fn sorted(mut routes: Vec<Route>) -> Vec<Route> {
    routes.sort_by_key(|r| (r.prefix, r.prefix_len));
    routes
}

fn only(deployment: &Deployment, names: &[&str]) -> Deployment {
    let mut subset = deployment.clone();
    subset.nodes.retain(|n| names.contains(&n.spec.name.as_str()));
    subset
}

/// Waits until `node`'s outcome counter reaches `count`, over P4Runtime.
fn wait_outcome(deployment: &Deployment, node: &str, outcome: Outcome, count: u64) {
    let runtime = block_on_runtime().unwrap();
    let mut reader = Controller::reader(&only(deployment, &[node])).unwrap();
    let deadline = Instant::now() + COUNTER_WAIT;
    loop {
        let counters = runtime.block_on(read_counters(&mut reader)).expect("reading counters");
        let seen = counters[0].outcome(outcome);
        if seen == count {
            return;
        }
        assert!(Instant::now() < deadline, "{node}: {} is {seen}, expected {count}", outcome.name());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn apply_configures_a_chain_that_serves_and_top_finds_the_hot_key() {
    if !running_as_root("apply_configures_a_chain_that_serves_and_top_finds_the_hot_key") {
        return;
    }
    let chain = P4Chain::up(3);
    let path = chain.deployment();
    let path_arg = path.to_str().unwrap();
    let deployment = load_deployment(&path).unwrap();
    // The deployment file computes the tables `netcraq up` would give the same topology.
    for node in &chain.running.plan().nodes {
        let planned = deployment.nodes.iter().find(|n| n.spec.name == node.name).unwrap();
        assert_eq!(planned.tables.config, node.config, "{}", node.name);
        assert_eq!(sorted(planned.tables.routes.clone()), sorted(node.routes()), "{}", node.name);
    }
    assert!(read_tables(&deployment).values().all(|(config, _)| config.is_none()), "nodes start unconfigured");

    let applied = ctl_ok(&["apply", "--deployment", path_arg]);
    assert!(applied.contains("node_config written tail to head: n3, n2, n1"), "{applied}");
    let tables = read_tables(&deployment);
    for node in &deployment.nodes {
        let (config, routes) = &tables[&node.spec.name];
        assert_eq!(config.as_ref(), Some(&node.tables.config), "{}: node_config read back", node.spec.name);
        assert_eq!(sorted(routes.clone()), sorted(node.tables.routes.clone()), "{}: routes read back", node.spec.name);
    }

    // Traffic through the chain: writes enter at the head from h1, reads at both ends.
    let (hot_key, cold_key, writes, head_reads) = (7u16, 3u16, 5u64, 20u64);
    let value = *b"hot-key-value-16";
    let retransmissions = chain.inside("h1", || {
        let mut client = chain.client("n1");
        for _ in 0..writes {
            client.write(hot_key, value).expect("a write through the chain");
        }
        client.stats().retransmissions
    });
    assert_eq!(retransmissions, 0, "counts below assume no retransmission");
    // The tail answers the writer before its ACK reaches the head; until then the key is dirty upstream.
    wait_outcome(&deployment, "n1", Outcome::AckConsumed, writes);
    let retransmissions = chain.inside("h1", || {
        let mut client = chain.client("n1");
        for _ in 0..head_reads {
            assert_eq!(client.read(hot_key).expect("a read at the head").value, value);
        }
        for _ in 0..2 {
            client.read(cold_key).expect("a read of a key never written");
        }
        client.stats().retransmissions
    });
    assert_eq!(retransmissions, 0);
    let tail_read = chain.inside("h2", || chain.client("n3").read(hot_key).expect("a read at the tail"));
    assert_eq!((tail_read.value, tail_read.version), (value, writes as u8));

    let top: Value =
        serde_json::from_str(&ctl_ok(&["top", "--deployment", path_arg, "--limit", "2", "--json"])).unwrap();
    let keys = top["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{top}");
    assert_eq!(
        (&keys[0]["key"], &keys[0]["reads"], &keys[0]["writes"]),
        (&Value::from(hot_key), &Value::from(head_reads + 1), &Value::from(writes)),
        "{top}"
    );
    assert_eq!((&keys[1]["key"], &keys[1]["reads"]), (&Value::from(cold_key), &Value::from(2)), "{top}");
    let node = |name: &str| top["nodes"].as_array().unwrap().iter().find(|n| n["node"] == name).unwrap().clone();
    assert_eq!((&node("n1")["local"], &node("n1")["to_tail"]), (&Value::from(head_reads + 2), &Value::from(0)));
    assert_eq!(node("n1")["local_share"], Value::from(1.0));
    assert_eq!(node("n2")["local_share"], Value::Null, "n2 saw no reads");
    let text_top = ctl_ok(&["top", "--deployment", path_arg]);
    assert!(text_top.contains("hottest keys") && text_top.contains("100.0 %"), "{text_top}");

    let counters: Value =
        serde_json::from_str(&ctl_ok(&["counters", "--deployment", path_arg, "--node", "n1", "--json"])).unwrap();
    let n1 = &counters["nodes"][0];
    assert_eq!(counters["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(
        (&n1["key_writes"]["7"], &n1["outcomes"]["WRITE_STAMPED"]),
        (&Value::from(writes), &Value::from(writes))
    );
    let unknown = ctl_fails(&["counters", "--deployment", path_arg, "--node", "n9"]);
    assert!(unknown.contains("--node n9: the deployment has no node of that name"), "{unknown}");

    // Applying again changes nothing and keeps the data.
    let again = ctl_ok(&["apply", "--deployment", path_arg]);
    assert_eq!(again.matches("0 inserted, 0 modified, 0 deleted").count(), 3, "{again}");
    let reread = chain.inside("h1", || chain.client("n1").read(hot_key).expect("a read after re-applying"));
    assert_eq!(reread.value, value);
    let runtime = block_on_runtime().unwrap();
    let registers = runtime.block_on(async {
        let mut reader = Controller::reader(&deployment).unwrap();
        reader.connect().await.unwrap();
        reader.target("n2").unwrap().read_register(RegisterId::KvVersion, Some(hot_key)).await
    });
    assert_eq!(registers.unwrap(), [(u32::from(hot_key), u128::from(writes))], "kv_version at the replica");
}

#[test]
fn an_unreachable_node_is_named_and_no_node_is_configured() {
    if !running_as_root("an_unreachable_node_is_named_and_no_node_is_configured") {
        return;
    }
    let chain = P4Chain::up(3);
    // Port 1 on loopback: nothing listens there.
    let text = chain.deployment_text(
        |node| if node == "n3" { "127.0.0.1:1".to_string() } else { chain.addresses[node].clone() },
        &[],
    );
    let path = chain.write_deployment("unreachable.toml", &text);
    let error = ctl_fails(&["apply", "--deployment", path.to_str().unwrap()]);
    assert!(error.contains("node n3 (127.0.0.1:1): cannot connect"), "{error}");
    assert!(
        error.contains("is `netcraq node --p4runtime 127.0.0.1:1` (or simple_switch_grpc) running there"),
        "{error}"
    );
    assert!(error.contains("nothing was changed on any node"), "{error}");
    let deployment = load_deployment(&path).unwrap();
    let tables = read_tables(&only(&deployment, &["n1", "n2"]));
    assert!(tables.values().all(|(config, routes)| config.is_none() && routes.is_empty()), "{tables:?}");
}

/// A real target that kills its node just before writing its node_config:
/// a failure in the middle of an apply, after other nodes were configured.
struct DiesBeforeConfig {
    inner: Box<dyn Target>,
    pid: u32,
}

#[async_trait]
impl Target for DiesBeforeConfig {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn address(&self) -> &str {
        self.inner.address()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn connect(&mut self) -> Result<(), NodeError> {
        self.inner.connect().await
    }
    async fn become_primary(&mut self, election_id: u128) -> Result<(), NodeError> {
        self.inner.become_primary(election_id).await
    }
    async fn prepare_pipeline(&mut self) -> Result<PipelineOutcome, NodeError> {
        self.inner.prepare_pipeline().await
    }
    async fn write_forwarding(&mut self, tables: &NodeTables) -> Result<ForwardingChanges, NodeError> {
        self.inner.write_forwarding(tables).await
    }
    async fn set_config(&mut self, config: &NodeConfig) -> Result<(), NodeError> {
        // Kill(2) on the node's PID, a child of this test's runner that is not yet reaped.
        netcraq_topology::send_signal(self.pid as libc::pid_t, libc::SIGKILL);
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.inner.set_config(config).await
    }
    async fn clear_config(&mut self) -> Result<(), NodeError> {
        self.inner.clear_config().await
    }
    async fn read_config(&mut self) -> Result<Option<NodeConfig>, NodeError> {
        self.inner.read_config().await
    }
    async fn read_routes(&mut self) -> Result<Vec<Route>, NodeError> {
        self.inner.read_routes().await
    }
    async fn read_counter(&mut self, counter: CounterId) -> Result<Vec<u64>, NodeError> {
        self.inner.read_counter(counter).await
    }
    async fn read_register(&mut self, register: RegisterId, key: Option<u16>) -> Result<Vec<(u32, u128)>, NodeError> {
        self.inner.read_register(register, key).await
    }
    async fn packet_out(&mut self, frame: &[u8]) -> Result<(), NodeError> {
        self.inner.packet_out(frame).await
    }
}

#[test]
fn a_failure_mid_apply_clears_node_config_where_this_apply_set_it() {
    if !running_as_root("a_failure_mid_apply_clears_node_config_where_this_apply_set_it") {
        return;
    }
    let chain = P4Chain::up(3);
    let deployment = load_deployment(&chain.deployment()).unwrap();
    let targets = deployment
        .nodes
        .iter()
        .map(|node| {
            let target = target_for(&node.spec, &deployment.options).unwrap();
            let target: Box<dyn Target> = match node.spec.name.as_str() {
                "n1" => Box::new(DiesBeforeConfig { inner: target, pid: chain.running.node_pid("n1").unwrap() }),
                _ => target,
            };
            (target, node.tables.clone())
        })
        .collect();
    let runtime = block_on_runtime().unwrap();
    let error = runtime.block_on(async { Controller::with_targets(targets, 1).unwrap().apply().await }).unwrap_err();
    assert_eq!(error.failure.node, "n1", "{error}");
    assert_eq!(error.rolled_back, ["n2", "n3"], "{error}");
    assert_eq!(error.rollback_failures.len(), 1, "the dead head cannot be cleared: {error}");
    let text = error.to_string();
    assert!(text.contains("n3: node_config set (TAIL)") && text.contains("n2: node_config set (REPLICA)"), "{text}");
    assert!(text.contains("rolled back: node_config cleared on n2, n3"), "{text}");
    assert!(text.contains("NOT rolled back: node n1"), "{text}");
    let survivors = only(&deployment, &["n2", "n3"]);
    let tables = read_tables(&survivors);
    assert!(tables.values().all(|(config, _)| config.is_none()), "{tables:?}");
    // The tail, unconfigured again, drops a read and counts it.
    chain.inside("h2", || {
        let options = ClientOptions { timeout: Duration::from_millis(50), retries: 0, ..ClientOptions::default() };
        let ip = deployment.nodes[2].tables.config.own_ip;
        let read = Client::new(SocketAddrV4::new(ip, NETCRAQ_UDP_PORT), options).read(1);
        assert!(read.is_err(), "an unconfigured tail answered: {read:?}");
    });
    let counters = runtime.block_on(async { read_counters(&mut Controller::reader(&survivors).unwrap()).await });
    assert!(counters.unwrap()[1].outcome(Outcome::DropUnconfigured) >= 1);
}

#[test]
fn a_p4info_mismatch_and_a_lower_election_id_are_refused_naming_the_node() {
    if !running_as_root("a_p4info_mismatch_and_a_lower_election_id_are_refused_naming_the_node") {
        return;
    }
    let chain = P4Chain::up(3);
    // The P4Info of a node built from another program: a bigger route table.
    let other = netcraq_p4runtime::NETCRAQ_P4INFO_TEXT.replacen("size: 1024", "size: 2048", 1);
    std::fs::write(chain.dir().join("other.p4info.txtpb"), other).unwrap();
    let text =
        chain.deployment_text(|node| chain.addresses[node].clone(), &[("n2", "p4info = \"other.p4info.txtpb\"")]);
    let mismatch = chain.write_deployment("mismatch.toml", &text);
    let error = ctl_fails(&["apply", "--deployment", mismatch.to_str().unwrap()]);
    let n2 = &chain.addresses["n2"];
    assert!(
        error.contains(&format!("node n2 ({n2}): the node runs another P4Info than this controller expects")),
        "{error}"
    );
    assert!(error.contains("nothing was changed on any node"), "{error}");

    let path = chain.deployment();
    let deployment = load_deployment(&path).unwrap();
    let runtime = block_on_runtime().unwrap();
    runtime.block_on(async {
        let mut first = Controller::new(&Deployment { election_id: 10, ..deployment.clone() }).unwrap();
        first.apply().await.expect("the first controller applies");
        let mut second = Controller::new(&Deployment { election_id: 5, ..deployment.clone() }).unwrap();
        let refused = second.apply().await.unwrap_err();
        assert!(refused.failure.is_not_primary(), "{refused}");
        assert_eq!(refused.failure.node, "n1", "{refused}");
        assert!(refused.to_string().contains("use an election id above 10 (--election-id 11)"), "{refused}");
        assert!(refused.applied.is_empty(), "{refused}");
        drop(second);
        // The same from the command line, while the first controller still holds the role (6: the
        // node may not have seen the second controller leave, and an id in use is another refusal).
        let cli = ctl_fails(&["apply", "--deployment", path.to_str().unwrap(), "--election-id", "6"]);
        assert!(cli.contains(&format!("node n1 ({}): claiming the primary role", chain.addresses["n1"])), "{cli}");
        assert!(cli.contains("election id above 10"), "{cli}");
        first.apply().await.expect("the first controller is still primary");
    });
}
