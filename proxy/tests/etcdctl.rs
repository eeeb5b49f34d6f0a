//! etcdctl through the proxy gives what it gives against etcd directly: the
//! same script runs against one fresh etcd directly and against another
//! fresh etcd through the proxy, so revisions match step for step, and the
//! outputs are compared with what differs by nature (endpoints, member,
//! cluster and lease ids) named instead of valued.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use support::{etcdctl_binary, installed, run_bounded, Fixture, BOUND};

/// Where a script's etcdctl calls go, and how its outputs are made comparable.
struct Target {
    name: &'static str,
    /// What etcdctl is pointed at: etcd itself, or the proxy, as HOST:PORT
    /// (etcdctl 3.4's `endpoint status` sends an `http://` endpoint as the
    /// HTTP/2 authority, which the proxy's HTTP/2 layer refuses as malformed).
    endpoint: String,
    /// etcd itself, where the watch's second event is written around the proxy.
    etcd: String,
    /// Values that differ between two etcds, and their names.
    names: Vec<(String, &'static str)>,
}

fn etcdctl(endpoint: &str, args: &[&str], stdin: &str) -> String {
    let mut command = Command::new(etcdctl_binary());
    command.env("ETCDCTL_API", "3").arg(format!("--endpoints={endpoint}")).arg("--command-timeout=5s").args(args);
    match run_bounded(&mut command, stdin, BOUND) {
        Ok((true, stdout, _)) => stdout,
        Ok((false, stdout, stderr)) => format!("{stdout}FAILED: {stderr}"),
        Err(error) => panic!("{error}"),
    }
}

impl Target {
    fn new(name: &'static str, endpoint: String, etcd: String) -> Target {
        let status = etcdctl(&etcd, &["endpoint", "status", "-w", "json"], "");
        let status: serde_json::Value = serde_json::from_str(&status).unwrap_or_else(|e| panic!("{e}: {status}"));
        let header = &status[0]["Status"]["header"];
        let endpoint = endpoint.trim_start_matches("http://").to_string();
        let mut target = Target { name, endpoint, etcd, names: Vec::new() };
        target.name_id(header["member_id"].as_u64().unwrap(), "MEMBER");
        target.name_id(header["cluster_id"].as_u64().unwrap(), "CLUSTER");
        target.names.push((target.endpoint.clone(), "ENDPOINT"));
        target
    }

    /// etcdctl prints ids in hex, sometimes zero-padded, and in JSON in decimal.
    fn name_id(&mut self, id: u64, name: &'static str) {
        self.names.push((format!("{id:016x}"), name));
        self.names.push((format!("{id:x}"), name));
        self.names.push((id.to_string(), name));
    }

    fn run(&self, args: &[&str], stdin: &str) -> String {
        self.named(etcdctl(&self.endpoint, args, stdin))
    }

    fn named(&self, output: String) -> String {
        self.names.iter().fold(output, |text, (value, name)| text.replace(value, name))
    }
}

/// The lease's remaining seconds tick on their own.
fn without_remaining(text: &str) -> String {
    match (text.find("remaining("), text.find("s), attached")) {
        (Some(start), Some(end)) if start < end => format!("{}remaining(N{}", &text[..start], &text[end..]),
        _ => text.to_string(),
    }
}

/// Every step's command and its output, normalised.
fn script(target: &mut Target) -> Vec<(String, String)> {
    let mut outputs = Vec::new();
    let mut step = |target: &Target, args: &[&str], stdin: &str| {
        outputs.push((format!("{args:?} {stdin:?}"), target.run(args, stdin)));
    };
    // Revisions: a fresh etcd is at 1; each put or delete adds one.
    step(target, &["put", "k1", "v1"], ""); // 2
    for (key, value) in [("dir/a", "1"), ("dir/b", "2"), ("dir/c", "3")] {
        step(target, &["put", key, value], ""); // 3, 4, 5
    }
    step(target, &["put", "k1", "v2"], ""); // 6
    step(target, &["get", "k1"], "");
    step(target, &["get", "dir/", "--prefix"], "");
    step(target, &["get", "k1", "-w", "json"], "");
    step(target, &["get", "dir/", "--prefix", "-w", "json", "--limit", "2"], "");
    step(target, &["get", "k1", "--rev", "2"], "");
    step(target, &["get", "absent"], "");
    // kube-apiserver's update: compare the mod revision, then put, else get.
    step(target, &["txn"], "mod(\"k1\") = \"6\"\n\nput k1 v3\n\nget k1\n\n"); // 7
    step(target, &["txn"], "mod(\"k1\") = \"6\"\n\nput k1 v4\n\nget k1\n\n");
    // Its create: the key must not exist.
    step(target, &["txn", "-w", "json"], "mod(\"fresh\") = \"0\"\n\nput fresh x\n\n\n"); // 8
    outputs.push(("watch".into(), watch(target)));
    let grant = target.run(&["lease", "grant", "60"], "");
    let lease = grant.split_whitespace().nth(1).expect("lease grant prints the lease id").to_string();
    let lease_id = u64::from_str_radix(&lease, 16).expect("a hex lease id");
    target.name_id(lease_id, "LEASE");
    outputs.push(("lease grant 60".into(), target.named(grant)));
    let lease = lease.as_str();
    let mut step = |target: &Target, args: &[&str]| {
        outputs.push((format!("{args:?}"), without_remaining(&target.run(args, ""))));
    };
    step(target, &["put", "leased", "v", &format!("--lease={lease}")]);
    step(target, &["lease", "keep-alive", "--once", lease]);
    step(target, &["lease", "timetolive", lease, "--keys"]);
    step(target, &["lease", "revoke", lease]);
    step(target, &["get", "leased"]);
    step(target, &["lease", "timetolive", lease]);
    step(target, &["del", "k1"]);
    step(target, &["del", "dir/", "--prefix"]);
    step(target, &["del", "absent"]);
    step(target, &["get", "", "--from-key"]);
    step(target, &["endpoint", "status"]);
    outputs
}

/// A watch from revision 7 sees its past event, then one written to etcd
/// directly while it runs; both with their previous values.
fn watch(target: &Target) -> String {
    let mut child = Command::new(etcdctl_binary())
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", target.endpoint))
        .args(["watch", "k1", "--prev-kv", "--rev", "7"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting etcdctl watch");
    let (lines, received) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    // An event prints: PUT, the previous key and value, the key and value.
    let mut wait_for = |count: usize| {
        while seen.len() < count {
            match received.recv_timeout(BOUND) {
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
    };
    wait_for(5);
    assert_eq!(etcdctl(&target.etcd, &["put", "k1", "v5"], ""), "OK\n", "{}: put around the proxy", target.name);
    wait_for(10);
    let _ = child.kill();
    let _ = child.wait();
    seen.join("\n")
}

#[test]
fn etcdctl_through_the_proxy_answers_as_etcd_does() {
    if !installed(&etcdctl_binary(), &["version"], "etcdctl_through_the_proxy_answers_as_etcd_does") {
        return;
    }
    let (Some(direct), Some(proxied)) = (Fixture::start("etcdctl-direct"), Fixture::start("etcdctl-proxied")) else {
        return;
    };
    let mut direct_target = Target::new("direct", direct.etcd_url.clone(), direct.etcd_url.clone());
    let mut proxied_target = Target::new("proxied", proxied.proxy.url.clone(), proxied.etcd_url.clone());
    let expected = script(&mut direct_target);
    let seen = script(&mut proxied_target);
    for ((step, expected), (_, seen)) in expected.iter().zip(&seen) {
        eprintln!("{step}:\n{seen}");
        assert_eq!(seen, expected, "step {step}: through the proxy (left) and directly (right) differ");
    }
    assert_eq!(seen.len(), expected.len());
    let watch = &seen.iter().find(|(step, _)| step == "watch").unwrap().1;
    assert_eq!(watch.lines().count(), 10, "the watch saw both events:\n{watch}");
    assert!(watch.ends_with("PUT\nk1\nv3\nk1\nv5"), "the event written around the proxy:\n{watch}");
}

/// Read-only calls on one etcd answer the same through the proxy, headers
/// (cluster, member, revision, raft term) included.
#[test]
fn reads_of_one_etcd_match_through_the_proxy() {
    if !installed(&etcdctl_binary(), &["version"], "reads_of_one_etcd_match_through_the_proxy") {
        return;
    }
    let Some(fixture) = Fixture::start("etcdctl-same") else { return };
    assert_eq!(etcdctl(&fixture.etcd_url, &["put", "/registry/pods/a", "x"], ""), "OK\n");
    for args in [
        &["get", "/registry/pods/a", "-w", "json"][..],
        &["get", "/registry/", "--prefix", "-w", "json"],
        &["member", "list", "-w", "json"],
        &["endpoint", "status", "-w", "table"],
        &["lease", "list"],
    ] {
        let etcd_address = fixture.etcd_url.trim_start_matches("http://");
        let proxy_address = fixture.proxy.url.trim_start_matches("http://");
        let direct = etcdctl(etcd_address, args, "");
        let proxied = etcdctl(proxy_address, args, "");
        assert_eq!(proxied.replace(proxy_address, etcd_address), direct, "{args:?}");
        assert!(!direct.contains("FAILED"), "{args:?}: {direct}");
    }
    let status = etcdctl(fixture.proxy.url.trim_start_matches("http://"), &["endpoint", "status"], "");
    let version = Command::new(support::etcd_binary()).arg("--version").output().unwrap().stdout;
    let version = String::from_utf8_lossy(&version);
    let version = version.lines().next().unwrap().trim_start_matches("etcd Version: ");
    assert!(status.contains(version), "status through the proxy names etcd's version {version}: {status}");
}
