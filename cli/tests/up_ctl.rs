//! `netcraq up` end to end: it starts the nodes unconfigured, configures the
//! chain with the controller over P4Runtime, and `put`, `get` and
//! `ctl top --topology` work against it; a killed node is failed over by
//! the controller running inside `up`, and a spare joins; Ctrl-C tears it
//! all down. With the `dpdk` feature the middle node is a DPDK node. Needs
//! root (namespaces); otherwise it says SKIP.

mod support;

use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::running_as_root;

const UP_WAIT: Duration = Duration::from_secs(60);
const STOP_WAIT: Duration = Duration::from_secs(20);
/// How long the controller may take to fail over and bring the spare in.
const FAILOVER_WAIT: Duration = Duration::from_secs(30);

fn middle_node() -> &'static str {
    if cfg!(feature = "dpdk") {
        "kind = \"dpdk\"\neal = \"--no-huge -m 256 --no-telemetry --log-level=warning\""
    } else {
        "kind = \"software\""
    }
}

fn topology_text() -> String {
    chain_text("")
}

/// The chain n1, n2, n3 with `extra` after its nodes' and links' sections.
fn chain_text(extra: &str) -> String {
    format!(
        r#"
[[node]]
name = "n1"
kind = "software"
ip = "10.0.0.1"

[[node]]
name = "n2"
{}
ip = "10.0.0.2"

[[node]]
name = "n3"
kind = "software"
ip = "10.0.0.3"

[[host]]
name = "h1"
ip = "10.0.1.1"

[[link]]
a = "h1"
b = "n1"

[[link]]
a = "n1"
b = "n2"

[[link]]
a = "n2"
b = "n3"

{}
[[chain]]
name = "kv"
nodes = ["n1", "n2", "n3"]
mode = "craq"
keys = [0, 1024]
"#,
        middle_node(),
        extra
    )
}

/// As [`topology_text`], with n1 linked to n3 (so n2 can leave) and a spare
/// n4 after n3.
fn topology_with_spare() -> String {
    let extra = "[[node]]\nname = \"n4\"\nkind = \"software\"\nip = \"10.0.0.4\"\n\n\
                 [[link]]\na = \"n1\"\nb = \"n3\"\n\n[[link]]\na = \"n3\"\nb = \"n4\"\n";
    chain_text(extra).replace("mode = \"craq\"", "spares = [\"n4\"]\nmode = \"craq\"")
}

fn netcraq(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_netcraq")).args(args).output().expect("netcraq runs");
    assert!(output.status.success(), "netcraq {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// `netcraq up` running in the background, its stdout's lines on a
/// channel; interrupted and reaped on drop.
struct Up {
    child: Child,
    topology: PathBuf,
    lines: mpsc::Receiver<String>,
}

impl Up {
    fn start(topology: &Path) -> Up {
        let mut child = Command::new(env!("CARGO_BIN_EXE_netcraq"))
            .args(["up", "--duration", "120", "--topology"])
            .arg(topology)
            .env("NETCRAQ_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("netcraq up starts");
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout piped");
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("up: {line}");
                let _ = sender.send(line);
            }
        });
        Up { child, topology: topology.to_path_buf(), lines }
    }

    /// Waits for a line of `up`'s output that contains `text`.
    fn wait_line(&self, text: &str) -> String {
        let deadline = Instant::now() + FAILOVER_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => panic!("netcraq up printed no line with {text:?} within {FAILOVER_WAIT:?}"),
            }
        }
    }

    /// The PID of the process `up` started for `node` (its child whose
    /// command line names the node's file).
    fn node_pid(&self, node: &str) -> libc::pid_t {
        let file = format!("/{node}.toml");
        let parent = self.child.id().to_string();
        for entry in std::fs::read_dir("/proc").expect("/proc lists") {
            let path = entry.expect("a /proc entry").path();
            let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
            // The parent PID follows the command name in parentheses and the state.
            let ppid = stat.rsplit_once(") ").and_then(|(_, rest)| rest.split(' ').nth(1));
            let cmdline = std::fs::read(path.join("cmdline")).unwrap_or_default();
            if ppid == Some(parent.as_str()) && String::from_utf8_lossy(&cmdline).contains(&file) {
                return path.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse().ok()).expect("a PID");
            }
        }
        panic!("no process of node {node} under netcraq up ({parent})")
    }

    fn state_file(&self) -> PathBuf {
        let stem = self.topology.file_stem().expect("topology has a name").to_string_lossy().into_owned();
        Path::new("/run/netcraq").join(format!("{stem}.json"))
    }

    /// Waits until `up` has written its run state: the chain is configured.
    fn wait_ready(&mut self) -> Value {
        let deadline = Instant::now() + UP_WAIT;
        loop {
            if let Some(state) =
                std::fs::read_to_string(self.state_file()).ok().and_then(|t| serde_json::from_str(&t).ok())
            {
                return state;
            }
            if let Some(status) = self.child.try_wait().expect("waits") {
                panic!("netcraq up ended before the chain was up: {status}");
            }
            assert!(Instant::now() < deadline, "netcraq up not ready within {UP_WAIT:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Ctrl-C, then waits for the teardown; SIGKILL if it hangs.
    fn interrupt(&mut self) -> std::process::ExitStatus {
        // A signal to our own child, which is not reaped yet.
        netcraq_topology::send_signal(self.child.id() as libc::pid_t, libc::SIGINT);
        let deadline = Instant::now() + STOP_WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("waits") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("netcraq up did not tear down within {STOP_WAIT:?} of Ctrl-C");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.interrupt();
        }
    }
}

#[test]
fn up_configures_the_chain_over_p4runtime_and_ctl_reads_it_back() {
    if !running_as_root("up_configures_the_chain_over_p4runtime_and_ctl_reads_it_back") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("netcraq-up-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let topology = dir.join(format!("upctl{}.toml", std::process::id()));
    std::fs::write(&topology, topology_text()).expect("topology written");
    let file = topology.to_str().expect("utf-8 path");

    let mut up = Up::start(&topology);
    let state = up.wait_ready();
    let nodes = state["nodes"].as_array().expect("nodes in the state");
    assert!(nodes.iter().all(|n| n["p4runtime"].as_str().is_some_and(|a| a.starts_with("127.0.0.1:"))), "{state}");

    netcraq(&["put", "--topology", file, "--node", "n1", "7", "hello"]);
    for _ in 0..4 {
        let get = netcraq(&["get", "--topology", file, "--node", "n3", "7"]);
        assert!(String::from_utf8_lossy(&get.stdout).starts_with("7 = hello"), "{get:?}");
    }
    let top = netcraq(&["ctl", "top", "--topology", file, "--json"]);
    let top: Value = serde_json::from_slice(&top.stdout).expect("top --json is JSON");
    assert_eq!(top["keys"][0]["key"], 7, "{top}");
    assert_eq!(top["keys"][0]["writes"].as_u64().map(|w| w >= 1), Some(true), "{top}");
    assert_eq!(top["keys"][0]["reads"].as_u64().map(|r| r >= 4), Some(true), "{top}");

    tear_down(up, &dir);
}

/// Ctrl-C: `up` stops its controller and tears everything down.
fn tear_down(mut up: Up, dir: &Path) {
    let status = up.interrupt();
    assert!(status.success(), "netcraq up exits cleanly after Ctrl-C: {status}");
    assert!(!up.state_file().exists(), "the run state is removed");
    let prefix = format!("ncq{}-", up.child.id());
    let namespaces = Command::new("ip").args(["netns", "list"]).output().expect("ip runs");
    assert!(!String::from_utf8_lossy(&namespaces.stdout).contains(&prefix), "namespaces of the run remain");
    std::fs::remove_dir_all(dir).expect("temp dir removed");
}

#[test]
fn up_fails_a_killed_node_over_and_a_spare_joins() {
    if !running_as_root("up_fails_a_killed_node_over_and_a_spare_joins") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("netcraq-up-kill-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let topology = dir.join(format!("upkill{}.toml", std::process::id()));
    std::fs::write(&topology, topology_with_spare()).expect("topology written");
    let file = topology.to_str().expect("utf-8 path");

    let mut up = Up::start(&topology);
    up.wait_ready();
    up.wait_line("controller: running in this process, state in memory only");
    netcraq(&["put", "--topology", file, "7", "before"]);

    netcraq_topology::send_signal(up.node_pid("n2"), libc::SIGKILL);
    up.wait_line("n2 is down");
    up.wait_line("chain kv: remove n2 done: n1 -> n3");
    up.wait_line("chain kv: add n4 done: n1 -> n3 -> n4");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(up.state_file()).expect("state")).expect("state is JSON");
    assert_eq!(state["chains"][0], serde_json::json!(["n1", "n3", "n4"]), "the run state is saved before it is said");

    for node in ["n1", "n3", "n4"] {
        let get = netcraq(&["get", "--topology", file, "--node", node, "7", "--timeout-ms", "200"]);
        assert!(String::from_utf8_lossy(&get.stdout).starts_with("7 = before"), "{node}: {get:?}");
    }
    netcraq(&["put", "--topology", file, "7", "after"]);
    let get = netcraq(&["get", "--topology", file, "--node", "n4", "7", "--timeout-ms", "200"]);
    assert!(String::from_utf8_lossy(&get.stdout).starts_with("7 = after"), "{get:?}");
    tear_down(up, &dir);
}
