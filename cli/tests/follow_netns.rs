//! Clients follow reconfigurations, with real processes: `netcraq node`s on
//! network namespaces, a `netcraq controller --membership-listen` process,
//! and `netcraq get`/`put --controller` run from a host's namespace. After
//! a `kill -9` of the head, a put goes through at the new head within its
//! bounds; with the controller gone, get fails with a clear error. Needs
//! root (CI runs as root); otherwise it says SKIP.

mod support;

use netcraq_client::{ControllerUrl, Membership};
use netcraq_controller::running_topology::p4runtime_port_file;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{running_as_root, Chain};

/// How long the controller may take to restart the chain, or to remove a node.
const RECONFIGURE_WAIT: Duration = Duration::from_secs(30);
/// Bound on one `netcraq get`/`put` process.
const CLI_WAIT: Duration = Duration::from_secs(60);

/// Three software nodes linked to each other, the client host on n3 (so it
/// reaches the chain when n1 dies); the chain n1, n2, n3.
const TOPOLOGY: &str = r#"
[[node]]
name = "n1"
kind = "software"
ip = "10.0.0.1"

[[node]]
name = "n2"
kind = "software"
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
b = "n3"

[[link]]
a = "n1"
b = "n2"

[[link]]
a = "n1"
b = "n3"

[[link]]
a = "n2"
b = "n3"

[[chain]]
name = "kv"
nodes = ["n1", "n2", "n3"]
mode = "craq"
keys = [0, 16]
"#;

/// A veth pair from the root namespace (the controller's) into a host's:
/// the management network the host reaches the controller over. Removed
/// on drop (deleting one end deletes both).
struct ManagementLink {
    root_end: String,
    root_ip: Ipv4Addr,
}

impl ManagementLink {
    fn new(chain: &Chain, host: &str) -> ManagementLink {
        let namespace = chain.running.namespace(host).expect("the host exists").name().to_string();
        let id = std::process::id();
        let (root_end, host_end) = (format!("nqf{}r", id % 100_000), format!("nqf{}h", id % 100_000));
        let subnet = (id % 250) as u8 + 1;
        let (root_ip, host_ip) = (Ipv4Addr::new(169, 254, subnet, 1), Ipv4Addr::new(169, 254, subnet, 2));
        let link = ManagementLink { root_end: root_end.clone(), root_ip };
        ip(&["link", "add", &root_end, "type", "veth", "peer", "name", &host_end, "netns", &namespace]);
        ip(&["addr", "add", &format!("{root_ip}/30"), "dev", &root_end]);
        ip(&["link", "set", &root_end, "up"]);
        ip(&["-n", &namespace, "addr", "add", &format!("{host_ip}/30"), "dev", &host_end]);
        ip(&["-n", &namespace, "link", "set", &host_end, "up"]);
        link
    }
}

impl Drop for ManagementLink {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.root_end]).status();
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("ip runs");
    assert!(status.success(), "ip {}", args.join(" "));
}

/// A process this test started, killed (SIGKILL, by its PID) and reaped on drop.
struct Process(Child);

impl Process {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The test topology as a deployment file: every node's P4Runtime address added.
fn deployment_file(chain: &Chain, dir: &Path) -> PathBuf {
    let mut text = String::new();
    for line in TOPOLOGY.lines() {
        text += line;
        text += "\n";
        if let Some(node) = line.strip_prefix("ip = \"10.0.0.").and_then(|rest| rest.strip_suffix('"')) {
            let node_file = chain.running.node_file(&format!("n{node}")).expect("the node runs");
            let port = std::fs::read_to_string(p4runtime_port_file(&node_file)).expect("the port file");
            text += &format!("p4runtime = \"127.0.0.1:{}\"\n", port.trim());
        }
    }
    let path = dir.join("follow.toml");
    std::fs::write(&path, text).expect("writes the deployment file");
    path
}

/// Waits until the published membership satisfies `wanted`; fails with the log.
fn wait_membership(url: &ControllerUrl, log: &Path, what: &str, wanted: impl Fn(&Membership) -> bool) -> Membership {
    let deadline = Instant::now() + RECONFIGURE_WAIT;
    loop {
        match url.fetch(Duration::from_secs(1)) {
            Ok(membership) if wanted(&membership) => return membership,
            last if Instant::now() >= deadline => panic!(
                "no membership where {what} within {RECONFIGURE_WAIT:?}; last: {last:?}\ncontroller:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            ),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn members(membership: &Membership) -> Vec<&str> {
    membership.chains[0].members.iter().map(|m| m.name.as_str()).collect()
}

/// Runs `netcraq ARGS` inside host h1's namespace, killed after [`CLI_WAIT`].
fn netcraq_in_h1(chain: &Chain, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let child = chain.inside("h1", || {
        Command::new(env!("CARGO_BIN_EXE_netcraq"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("netcraq starts")
    });
    let pid = child.id();
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    match done.recv_timeout(CLI_WAIT) {
        Ok(output) => (output.expect("netcraq ran"), started.elapsed()),
        Err(_) => {
            // SAFETY: kill(2) on the PID of a child this test started and has not reaped.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("netcraq {} did not end within {CLI_WAIT:?}", args.join(" "));
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The command succeeded and printed `expected`.
fn assert_prints(chain: &Chain, args: &[&str], expected: &str) -> Duration {
    let (output, took) = netcraq_in_h1(chain, args);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success() && stdout.starts_with(expected), "netcraq {args:?}: {stdout}{stderr}");
    took
}

#[test]
fn get_and_put_follow_the_chain_to_its_new_head_and_fail_clearly_without_a_controller() {
    if !running_as_root("get_and_put_follow_the_chain_to_its_new_head_and_fail_clearly_without_a_controller") {
        return;
    }
    let chain = Chain::up_managed(TOPOLOGY);
    let link = ManagementLink::new(&chain, "h1");
    let dir = std::env::temp_dir().join(format!("netcraq-follow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory for the test's files");
    let deployment = deployment_file(&chain, &dir);
    let port = TcpListener::bind((link.root_ip, 0)).and_then(|l| l.local_addr()).expect("a free port").port();
    let listen = format!("{}:{port}", link.root_ip);
    let log = dir.join("controller.log");
    let log_file = std::fs::File::create(&log).expect("the controller's log");
    let mut controller = Process(
        Command::new(env!("CARGO_BIN_EXE_netcraq"))
            .args(["controller", "--deployment"])
            .arg(&deployment)
            .args(["--membership-listen", &listen])
            .stdout(log_file.try_clone().expect("the log"))
            .stderr(log_file)
            .spawn()
            .expect("netcraq controller starts"),
    );
    let url_text = format!("http://{listen}");
    let url: ControllerUrl = url_text.parse().expect("a controller URL");
    let first = wait_membership(&url, &log, "the chain restarted", |m| m.chains[0].epoch > 1);
    assert_eq!(members(&first), ["n1", "n2", "n3"]);

    // Bounded by time: a loaded machine may take seconds to fail over.
    let follow = ["--controller", url_text.as_str(), "--total-ms", "30000", "--retries", "1000"];
    assert_prints(&chain, &[&["put", "3", "before"][..], &follow].concat(), "3 = before (version");
    assert_prints(&chain, &[&["get", "3"][..], &follow].concat(), "3 = before (version");

    chain.kill("n1");
    let took = assert_prints(&chain, &[&["put", "3", "after"][..], &follow].concat(), "3 = after (version");
    println!("put after the head's kill -9 went through in {took:?}");
    let now = wait_membership(&url, &log, "n1 is gone", |m| !members(m).contains(&"n1"));
    assert_eq!(members(&now), ["n2", "n3"]);
    assert!(now.chains[0].epoch > first.chains[0].epoch);
    for _ in 0..3 {
        // Reads go to every member in turn.
        assert_prints(&chain, &[&["get", "3"][..], &follow].concat(), "3 = after (version");
    }

    controller.kill();
    let (output, took) = netcraq_in_h1(&chain, &[&["get", "3"][..], &follow].concat());
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "no controller, no members: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("could not learn the chain's members") && stderr.contains(&url_text), "{stderr}");
    assert!(took < Duration::from_secs(10), "a refused connection fails at once: {took:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
