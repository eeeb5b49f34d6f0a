//! `netcraq node --p4runtime-tls-*` and `netcraq ctl` over (mutual) TLS on
//! 127.0.0.1, with throwaway CAs: the controller reads a node's counters,
//! and each mismatch names the node, its address and what did not match.

#[path = "../../controlplane/p4runtime-server/tests/support/pki.rs"]
mod pki;

use pki::Pki;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const START_WAIT: Duration = Duration::from_secs(20);

/// A `netcraq node --p4runtime 127.0.0.1:0` without ports; killed on drop.
struct Node {
    child: Child,
    address: String,
}

impl Node {
    fn start(dir: &Path, tls_args: &[&Path]) -> Node {
        let port_file = dir.join("n1.port");
        let mut command = Command::new(env!("CARGO_BIN_EXE_netcraq"));
        command.args(["node", "--name", "n1", "--p4runtime", "127.0.0.1:0", "--p4runtime-port-file"]).arg(&port_file);
        for (flag, file) in
            ["--p4runtime-tls-cert", "--p4runtime-tls-key", "--p4runtime-tls-client-ca"].iter().zip(tls_args)
        {
            command.arg(flag).arg(file);
        }
        let mut child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("starts netcraq node");
        let deadline = Instant::now() + START_WAIT;
        let port = loop {
            if let Some(port) = std::fs::read_to_string(&port_file).ok().and_then(|t| t.trim().parse::<u16>().ok()) {
                break port;
            }
            let exited = child.try_wait().expect("polls the node");
            assert!(exited.is_none() && Instant::now() < deadline, "the node did not start: {exited:?}");
            std::thread::sleep(Duration::from_millis(20));
        };
        Node { child, address: format!("127.0.0.1:{port}") }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A deployment of the one node `n1` at `address`, with `tls` (a `[tls]` section or nothing).
fn deployment(dir: &Path, name: &str, address: &str, tls: &str) -> PathBuf {
    let text = format!(
        "[[node]]\nname = \"n1\"\nkind = \"software\"\np4runtime = \"{address}\"\nip = \"10.0.0.1\"\n\n\
         [[host]]\nname = \"h1\"\nip = \"10.0.1.1\"\n\n[[link]]\na = \"h1\"\nb = \"n1\"\n\n\
         [[chain]]\nname = \"kv\"\nnodes = [\"n1\"]\nmode = \"craq\"\nkeys = [0, 65536]\n\n{tls}"
    );
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writes the deployment");
    path
}

/// Runs `netcraq` with `args`; it must end within the time it is given.
fn netcraq(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netcraq"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs netcraq");
    let deadline = Instant::now() + START_WAIT;
    while child.try_wait().expect("polls netcraq").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("netcraq {args:?} did not finish within {START_WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("netcraq's output")
}

fn fails_saying(args: &[&str], words: &[&str]) {
    let output = netcraq(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "netcraq {args:?} should fail");
    for word in words {
        assert!(stderr.contains(word), "netcraq {args:?}: {stderr:?} should say {word:?}");
    }
}

#[test]
fn the_controller_reads_a_mutual_tls_node_and_names_each_mismatch() {
    let pki = Pki::new("ctl");
    let ca = pki.ca("ca");
    let other = pki.ca("other-ca");
    let node_cert = pki.issue(&ca, "node", &["127.0.0.1"]);
    let controller = pki.issue(&ca, "controller", &["controller"]);
    let node = Node::start(pki.dir(), &[&node_cert.cert, &node_cert.key, &ca.cert]);
    let at = format!("node n1 ({})", node.address);
    // Paths relative to the deployment file, which is in the same directory.
    let name = |path: &Path| path.file_name().unwrap().to_str().unwrap().to_string();
    let mutual = format!(
        "[tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        name(&ca.cert),
        name(&controller.cert),
        name(&controller.key)
    );
    let tls_file = deployment(pki.dir(), "tls.toml", &node.address, &mutual);
    let plain_file = deployment(pki.dir(), "plain.toml", &node.address, "");
    let (tls_file, plain_file) = (tls_file.to_str().unwrap(), plain_file.to_str().unwrap());

    let output = netcraq(&["ctl", "counters", "--deployment", tls_file]);
    assert!(output.status.success(), "counters over mutual TLS: {}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains(&format!("n1 ({})", node.address)));

    fails_saying(&["ctl", "counters", "--deployment", plain_file], &[&at, "serve TLS"]);
    let other_ca = other.cert.to_str().unwrap();
    fails_saying(
        &["ctl", "counters", "--deployment", plain_file, "--tls-ca", other_ca],
        &[&at, "TLS: the node's certificate is not signed by the CA in", other_ca],
    );
    let ca_path = ca.cert.to_str().unwrap();
    fails_saying(
        &["ctl", "counters", "--deployment", plain_file, "--tls-ca", ca_path],
        &[&at, "requires a client certificate"],
    );
    fails_saying(
        &["ctl", "counters", "--deployment", tls_file, "--tls-ca", ca_path, "--tls-server-name", "n9.example"],
        &[&at, "not valid for the name \"n9.example\""],
    );
}

#[test]
fn a_node_with_a_wrong_tls_file_stops_naming_it() {
    let pki = Pki::new("node-files");
    let ca = pki.ca("ca");
    let node = pki.issue(&ca, "node", &["127.0.0.1"]);
    let key = node.key.to_str().unwrap();
    let missing = pki.dir().join("missing.pem");
    let missing = missing.to_str().unwrap();
    let serve = ["node", "--name", "n1", "--p4runtime", "127.0.0.1:0", "--p4runtime-tls-cert"];
    fails_saying(
        &[&serve[..], &[key, "--p4runtime-tls-key", key]].concat(),
        &["node n1: P4Runtime: TLS: certificate", key, "holds a private key, not a certificate"],
    );
    let cert = node.cert.to_str().unwrap();
    fails_saying(
        &[&serve[..], &[cert, "--p4runtime-tls-key", missing]].concat(),
        &["private key", missing, "cannot read it"],
    );
}
