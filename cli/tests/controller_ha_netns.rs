//! Several `netcraq controller --etcd` processes for one deployment
//! (`docs/controller.md`, "High availability"): real etcd, real `netcraq
//! node` processes on network namespaces, a concurrent workload. A standby
//! takes over from a leader killed while a chain node dies, within the
//! lease TTL and about a second, and every history stays linearizable; two
//! controllers started at once never both write. Needs root and etcd;
//! otherwise it says SKIP.

mod support;

use netcraq_client::{run_workload, ClientOptions, ControllerUrl, KeyDistribution, Stop, Workload, WriteTarget};
use netcraq_controller::{block_on_runtime, Controller, Deployment};
use netcraq_etcd_cluster::{etcd_installed, EtcdCluster, SERVING_TIMEOUT};
use netcraq_linearizability::{check, save_history_if_requested, CheckResult};
use netcraq_topology::Topology;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{running_as_root, Chain};

/// Keys the workload writes and reads; the chain serves them all.
const KEYS: u16 = 16;
/// The leadership lease in etcd: its shortest.
const TTL_S: u64 = 2;
/// How long any one expected line of a controller may take to come.
const LINE_WAIT: Duration = Duration::from_secs(30);
/// The chain serves undisturbed this long before and after a fault.
const CALM: Duration = Duration::from_millis(1500);

/// The timings hold only with one such test at a time on two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Four software nodes, each linked to every other; the client host on n1.
/// The chain is n1, n2, n3 with n4 as its spare. With `p4runtime`, every
/// node's P4Runtime address: a deployment file.
fn topology(p4runtime: Option<&Deployment>) -> String {
    let mut text = String::new();
    for i in 1..=4 {
        text += &format!("[[node]]\nname = \"n{i}\"\nkind = \"software\"\nip = \"10.0.0.{i}\"\n");
        if let Some(deployment) = p4runtime {
            let node = deployment.nodes.iter().find(|n| n.spec.name == format!("n{i}")).expect("every node");
            text += &format!("p4runtime = \"{}\"\n", node.spec.address);
        }
        text += "\n";
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

/// The etcd to run: the Go-built one in NETCRAQ_PEERS_DIR, else Debian's.
fn etcd_binary() -> Option<PathBuf> {
    let peers = std::env::var_os("NETCRAQ_PEERS_DIR").map(|dir| Path::new(&dir).join("etcd-v3.7.4/bin/etcd"));
    let found = peers.into_iter().chain([PathBuf::from("etcd")]).find(|etcd| etcd_installed(etcd));
    if found.is_none() {
        eprintln!("SKIP: etcd is not installed (apt-get install -y etcd-server, or NETCRAQ_PEERS_DIR)");
    }
    found
}

/// The test's directory, etcd, chain and deployment file; torn down in reverse when dropped.
struct Setup {
    chain: Chain,
    deployment: Deployment,
    file: PathBuf,
    etcd: Option<EtcdCluster>,
    dir: PathBuf,
}

impl Setup {
    fn start(test: &str) -> Option<Setup> {
        let etcd = etcd_binary()?;
        let dir = std::env::temp_dir().join(format!("netcraq-ha-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the test's directory");
        let mut cluster = EtcdCluster::start(&etcd, 1, &dir.join("etcd")).expect("etcd starts");
        cluster.wait_serving(SERVING_TIMEOUT).expect("etcd serves");
        let text = topology(None);
        let chain = Chain::up_managed(&text);
        let deployment = chain.deployment_with_spares(&Topology::parse(&text).expect("valid"), 1);
        let file = dir.join("kv.toml");
        std::fs::write(&file, topology(Some(&deployment))).expect("writes the deployment file");
        Some(Setup { chain, deployment, file, etcd: Some(cluster), dir })
    }

    /// Starts `netcraq controller --etcd` over the deployment, with `extra` arguments.
    fn controller(&self, name: &'static str, extra: &[&str]) -> ControllerProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_netcraq"));
        command.arg("controller").arg("--deployment").arg(&self.file);
        command.args(["--etcd", &self.etcd_urls(), "--etcd-ttl-s", &TTL_S.to_string(), "--call-timeout-ms", "1000"]);
        command.args(extra);
        ControllerProcess::start(name, command)
    }

    fn etcd_urls(&self) -> String {
        self.etcd.as_ref().expect("running").client_urls.join(",")
    }

    /// Revokes the lease of the deployment's leader key (the lowest create
    /// revision under its election prefix), as etcd does when a leader's
    /// keep-alives stop reaching it for its TTL.
    fn revoke_leader_lease(&self) {
        let etcdctl = |args: &[&str]| {
            let output = Command::new("etcdctl")
                .env("ETCDCTL_API", "3")
                .args(["--endpoints", &self.etcd_urls()])
                .args(args)
                .output()
                .expect("etcdctl runs (apt-get install -y etcd-client)");
            assert!(output.status.success(), "etcdctl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
            String::from_utf8(output.stdout).expect("UTF-8")
        };
        let leader =
            etcdctl(&["get", "--prefix", "/netcraq/kv/leader", "--sort-by=CREATE", "--limit=1", "-w", "fields"]);
        let lease: u64 = leader
            .lines()
            .find_map(|line| line.strip_prefix("\"Lease\" : "))
            .and_then(|id| id.trim().parse().ok())
            .unwrap_or_else(|| panic!("no leader key with a lease in {leader:?}"));
        etcdctl(&["lease", "revoke", &format!("{lease:x}")]);
    }

    /// Whether a controller claiming `election_id` is refused on `node`
    /// (the arbitration of a node prefers the highest id it has seen).
    fn refused(&self, node: &str, election_id: u64) -> bool {
        let mut deployment = self.deployment.clone();
        deployment.election_id = u128::from(election_id);
        let mut controller = Controller::new(&deployment).expect("a controller of the deployment");
        block_on_runtime().expect("a runtime").block_on(async {
            let target = controller.target(node).expect("in the deployment");
            target.connect().await.expect("connects");
            target.become_primary(u128::from(election_id)).await.is_err()
        })
    }

    /// The epoch each of `nodes` is configured with (`None`: unconfigured).
    fn epochs(&self, nodes: &[&str]) -> Vec<Option<u32>> {
        let mut reader = Controller::reader(&self.deployment).expect("a reader");
        block_on_runtime().expect("a runtime").block_on(async {
            let mut epochs = Vec::new();
            for node in nodes {
                let target = reader.target(node).expect("in the deployment");
                target.connect().await.expect("connects");
                epochs.push(target.read_config().await.expect("reads node_config").map(|c| c.epoch));
            }
            epochs
        })
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        drop(self.etcd.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `netcraq controller` process; its stdout lines, stamped as they come.
/// Killed by its PID when dropped.
struct ControllerProcess {
    name: &'static str,
    child: Child,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl ControllerProcess {
    fn start(name: &'static str, mut command: Command) -> ControllerProcess {
        let mut child = command.stdout(Stdio::piped()).spawn().expect("netcraq controller starts");
        let stdout = child.stdout.take().expect("piped");
        let lines: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        let seen = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("controller {name}: {line}");
                seen.lock().unwrap().push((Instant::now(), line));
            }
        });
        ControllerProcess { name, child, lines }
    }

    /// When the first line containing `text` came, waiting for it.
    fn wait_for(&mut self, text: &str) -> Instant {
        self.wait_for_after(text, None)
    }

    /// Waits for a line with `text` said after `after`, if given.
    fn wait_for_after(&mut self, text: &str, after: Option<Instant>) -> Instant {
        let deadline = Instant::now() + LINE_WAIT;
        loop {
            let lines = self.lines.lock().unwrap();
            let found = lines.iter().find(|(at, line)| line.contains(text) && after.is_none_or(|after| *at > after));
            if let Some((at, _)) = found {
                return *at;
            }
            drop(lines);
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("controller {} ended ({status}) before saying {text:?}", self.name);
            }
            assert!(Instant::now() < deadline, "controller {} did not say {text:?} within {LINE_WAIT:?}", self.name);
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn first(&self, text: &str) -> Option<Instant> {
        self.lines.lock().unwrap().iter().find(|(_, line)| line.contains(text)).map(|(at, _)| *at)
    }

    fn said(&self, text: &str) -> Vec<String> {
        self.lines.lock().unwrap().iter().filter(|(_, line)| line.contains(text)).map(|(_, l)| l.clone()).collect()
    }

    /// The election id it leads with.
    fn election_id(&self) -> u64 {
        let line = self.said("with election id").into_iter().next().expect("it leads");
        let id = line.split("with election id ").nth(1).and_then(|rest| rest.split(',').next());
        id.and_then(|id| id.parse().ok()).unwrap_or_else(|| panic!("no election id in {line:?}"))
    }

    /// `kill -9`, by its PID.
    fn kill(&mut self) {
        // SAFETY: kill(2) on a child this test started and has not reaped.
        let killed = unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
        assert_eq!(killed, 0, "killing controller {}", self.name);
        let _ = self.child.wait();
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: as in kill.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
            let _ = self.child.wait();
        }
    }
}

/// The leader fails a node over (n2: the spare n4 joins), then is killed
/// while another chain node (n3) dies: the standby takes over within the
/// TTL and about a second, goes on from the stored membership (n1, n3, n4,
/// not the file's n1, n2, n3) and takes n3 out; the workload's history and
/// a final read of every key at every member are linearizable.
#[test]
fn a_standby_takes_over_from_a_killed_leader_while_a_node_fails_under_load() {
    let test = "a_standby_takes_over_from_a_killed_leader_while_a_node_fails_under_load";
    if !running_as_root(test) {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(setup) = Setup::start("takeover") else { return };
    let mut leader = setup.controller("a", &[]);
    leader.wait_for("from the deployment file");
    leader.wait_for("chain kv: restart done");
    let mut standby = setup.controller("b", &[]);
    standby.wait_for("campaigning");
    let old_id = leader.election_id();

    let chain = &setup.chain;
    std::thread::scope(|scope| {
        let workload = scope.spawn(|| {
            let workload = Workload {
                read_fraction: 0.5,
                keys: 0..KEYS,
                key_distribution: KeyDistribution::Uniform,
                concurrency: 8,
                stop: Stop::AfterDuration(Duration::from_secs(16)),
                seed: 15,
                write_target: WriteTarget::Node(chain.address("n1")),
                // Retries span the takeover: a lease TTL and more.
                client: ClientOptions { timeout: Duration::from_millis(250), retries: 60, ..ClientOptions::default() },
                history_capacity_ops: 2_000_000,
                progress_interval: Duration::from_millis(100),
            };
            chain.inside("h1", || run_workload(&[chain.address("n1")], &workload, |_| {}))
        });
        std::thread::sleep(CALM);
        chain.kill("n2");
        leader.wait_for("done: n1 -> n3 -> n4");
        std::thread::sleep(CALM);
        let killed = Instant::now();
        leader.kill();
        chain.kill("n3");
        let took_over = standby.wait_for("leading deployment kv");
        let takeover = took_over - killed;
        let done = standby.wait_for("done: n1 -> n4");
        println!(
            "takeover: the standby led {takeover:?} after the leader's kill -9 (TTL {TTL_S} s); \
             chain n1 -> n4 after {:?}",
            done - killed
        );
        assert!(
            takeover < Duration::from_secs(TTL_S + 3),
            "the standby took over after {takeover:?}: the bound is the TTL and about a second (loaded: 3 s)"
        );
        assert!(!standby.said("from the stored state").is_empty(), "it went on from the stored state");
        let chain_lines = standby.said("chain kv");
        assert!(chain_lines.iter().all(|line| !line.contains("n2")), "n2 left before: {chain_lines:?}");
        let new_id = standby.election_id();
        assert!(new_id > old_id, "election ids only grow: {old_id} then {new_id}");
        for node in ["n1", "n4"] {
            assert!(setup.refused(node, old_id), "{node} refuses the dead leader's election id {old_id}");
        }

        let report = workload.join().expect("the workload thread").expect("the workload runs");
        println!("{} reads, {} writes, {} retransmissions", report.reads, report.writes, report.retransmissions);
        assert!(report.reads + report.writes > 1000, "the chain served through the takeover");
        let mut history = report.history.expect("history recorded");
        assert!(!report.history_truncated);
        chain.append_final_reads(&mut history, "h1", &["n1", "n4"], 0..KEYS);
        save_history_if_requested(&history, "controller-ha-takeover").expect("saves the history");
        match check(&history) {
            CheckResult::Linearizable => {}
            other => panic!("not linearizable through the takeover: {other:?}"),
        }
    });
}

/// Two controllers started at once: one leads, the other only campaigns;
/// every member holds the leader's epoch; a node refuses any election id
/// below the leader's.
#[test]
fn of_two_controllers_started_at_once_only_one_writes() {
    if !running_as_root("of_two_controllers_started_at_once_only_one_writes") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(setup) = Setup::start("two") else { return };
    let mut controllers = [setup.controller("a", &[]), setup.controller("b", &[])];
    let deadline = Instant::now() + LINE_WAIT;
    let leader = loop {
        if let Some(leader) = controllers.iter().position(|c| c.first("restart done").is_some()) {
            break leader;
        }
        assert!(Instant::now() < deadline, "no controller restarted the chain within {LINE_WAIT:?}");
        std::thread::sleep(Duration::from_millis(10));
    };
    // Both had time to campaign and, were it possible, to write.
    std::thread::sleep(CALM);
    let (leading, standing_by) = (&controllers[leader], &controllers[1 - leader]);
    assert_eq!(leading.said("leading deployment").len(), 1);
    assert!(standing_by.first("campaigning").is_some(), "the other campaigns");
    assert!(standing_by.said("leading").is_empty(), "the other never led: {:?}", standing_by.said(""));
    assert!(standing_by.said("chain kv").is_empty(), "the other reconfigured nothing");

    let epoch = restart_epoch(leading);
    assert_eq!(setup.epochs(&["n1", "n2", "n3", "n4"]), [Some(epoch), Some(epoch), Some(epoch), None]);
    let id = leading.election_id();
    for node in ["n1", "n2", "n3", "n4"] {
        assert!(setup.refused(node, id - 1), "{node} refuses election id {} below the leader's {id}", id - 1);
    }
    controllers.iter_mut().for_each(ControllerProcess::kill);
}

/// A local address free a moment ago, for a controller's membership endpoint.
fn free_local_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds a free port");
    listener.local_addr().expect("its address").to_string()
}

/// The membership a controller serves, or why not (`503` from a standby).
fn membership_at(address: &str) -> Result<netcraq_client::membership::Membership, String> {
    let url: ControllerUrl = format!("http://{address}").parse().expect("a controller URL");
    url.fetch(Duration::from_secs(2)).map_err(|e| e.to_string())
}

/// Waits until `address` serves a membership whose chain has `epoch`.
fn wait_for_membership(address: &str, epoch: u32) -> Vec<String> {
    let deadline = Instant::now() + LINE_WAIT;
    loop {
        let found = membership_at(address);
        if let Ok(chain) = found.as_ref().map(|m| m.chains[0].clone()) {
            if chain.epoch == epoch {
                return chain.members.into_iter().map(|m| m.name).collect();
            }
        }
        assert!(Instant::now() < deadline, "{address} did not publish epoch {epoch}: {found:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The epoch a "restart done" line gives.
fn restart_epoch(controller: &ControllerProcess) -> u32 {
    let line = controller.said("restart done").pop().expect("a restart");
    line.rsplit("(epoch ").next().and_then(|e| e.trim_end_matches(')').parse().ok()).expect("an epoch")
}

/// A leader whose lease etcd revokes while it runs (as after a partition
/// longer than its TTL) stops leading and writing, withdraws its membership
/// and campaigns again; the standby leads with a higher election id,
/// restarts the chain from the stored state and publishes its membership;
/// every node refuses the old leader's id.
#[test]
fn a_leader_that_loses_its_lease_while_alive_stops_writing_and_the_standby_leads() {
    if !running_as_root("a_leader_that_loses_its_lease_while_alive_stops_writing_and_the_standby_leads") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(setup) = Setup::start("revoked") else { return };
    let endpoints = [free_local_address(), free_local_address()];
    let mut leader = setup.controller("a", &["--membership-listen", &endpoints[0]]);
    leader.wait_for("chain kv: restart done");
    let mut standby = setup.controller("b", &["--membership-listen", &endpoints[1]]);
    standby.wait_for("campaigning");
    assert_eq!(wait_for_membership(&endpoints[0], restart_epoch(&leader)), ["n1", "n2", "n3"]);
    let refused = membership_at(&endpoints[1]).unwrap_err();
    assert!(refused.contains("503"), "a standby publishes nothing: {refused}");
    let old_id = leader.election_id();

    setup.revoke_leader_lease();
    let stopped = leader.wait_for("stopped leading");
    standby.wait_for("chain kv: restart done");
    let epoch = restart_epoch(&standby);
    assert_eq!(wait_for_membership(&endpoints[1], epoch), ["n1", "n2", "n3"]);
    let withdrawn = membership_at(&endpoints[0]).unwrap_err();
    assert!(withdrawn.contains("503"), "the old leader withdrew its membership: {withdrawn}");
    // It campaigns again after a pause, however quickly the standby led.
    leader.wait_for_after("campaigning", Some(stopped));
    let wrote_after = leader.lines.lock().unwrap().iter().any(|(at, line)| *at > stopped && line.contains("chain kv"));
    assert!(!wrote_after, "it reconfigured nothing after it stopped leading: {:?}", leader.said(""));
    let new_id = standby.election_id();
    assert!(new_id > old_id, "election ids only grow: {old_id} then {new_id}");
    for node in ["n1", "n2", "n3"] {
        assert!(setup.refused(node, old_id), "{node} refuses the old leader's election id {old_id}");
    }
    assert_eq!(setup.epochs(&["n1", "n2", "n3", "n4"]), [Some(epoch), Some(epoch), Some(epoch), None]);
    leader.kill();
    standby.kill();
}
