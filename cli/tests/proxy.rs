//! `netcraq proxy` as a process: it says where it serves and forwards,
//! etcdctl works through it, SIGTERM stops it cleanly, and bad input or an
//! absent etcd is said clearly. Needs etcd and etcdctl (NETCRAQ_ETCD,
//! NETCRAQ_ETCDCTL, by default Debian's); without them it prints SKIP.

use netcraq_etcd_cluster::{EtcdCluster, SERVING_TIMEOUT};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(10);

fn binary(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

fn netcraq_proxy(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_netcraq"))
        .arg("proxy")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting netcraq proxy")
}

/// The child's stdout lines, as they come.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    receiver
}

/// Waits for the child's exit, killing it by PID past `BOUND`.
fn finish(mut child: Child) -> Output {
    let deadline = Instant::now() + BOUND;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("netcraq proxy did not end within {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn etcdctl(endpoint: &str, args: &[&str]) -> String {
    let output = Command::new(binary("NETCRAQ_ETCDCTL", "/usr/bin/etcdctl"))
        .env("ETCDCTL_API", "3")
        .args([&format!("--endpoints={endpoint}"), "--command-timeout=5s"])
        .args(args)
        .output()
        .expect("running etcdctl");
    assert!(output.status.success(), "etcdctl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_proxy_serves_etcdctl_and_stops_on_sigterm() {
    let etcd = binary("NETCRAQ_ETCD", "/usr/bin/etcd");
    let etcdctl_runs = Command::new(binary("NETCRAQ_ETCDCTL", "/usr/bin/etcdctl"))
        .env("ETCDCTL_API", "3")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !netcraq_etcd_cluster::etcd_installed(&etcd) || !etcdctl_runs {
        eprintln!("SKIP: etcd or etcdctl does not run (apt-get install -y etcd-server etcd-client)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("netcraq-cli-proxy-{}", std::process::id()));
    let mut cluster = EtcdCluster::start(&etcd, 1, &dir).unwrap();
    cluster.wait_serving(SERVING_TIMEOUT).unwrap();
    let mut proxy = netcraq_proxy(&["--listen", "127.0.0.1:0", "--etcd", &cluster.client_urls[0]]);
    let printed = lines(&mut proxy);
    let serving = printed.recv_timeout(BOUND).expect("the proxy says where it serves");
    let address = serving
        .strip_prefix("netcraq proxy: serving etcd's v3 API on ")
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("unexpected first line: {serving}"))
        .to_string();
    assert!(serving.ends_with(&format!("forwarding to {}", cluster.client_urls[0])), "{serving}");
    let answers = printed.recv_timeout(BOUND).unwrap();
    assert!(answers.starts_with("netcraq proxy: etcd 3."), "{answers}");

    assert_eq!(etcdctl(&address, &["put", "/registry/a", "1"]), "OK\n");
    assert_eq!(etcdctl(&cluster.client_urls[0], &["get", "/registry/a"]), "/registry/a\n1\n");
    assert_eq!(etcdctl(&address, &["get", "/registry/a"]), "/registry/a\n1\n");

    // SAFETY: kill(2) on the PID of a child this test started and has not reaped.
    unsafe { libc::kill(proxy.id() as libc::pid_t, libc::SIGTERM) };
    let output = finish(proxy);
    assert!(output.status.success(), "{output:?}");
    let stopped = "netcraq proxy: stopped; hot reads: 0 hits, 0 misses, 0 NetCRAQ failures, 0 placed writes, 0 fenced";
    assert_eq!(printed.recv_timeout(BOUND).unwrap(), stopped, "no key placed, so no hot read");
    drop(cluster);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_and_an_absent_etcd_are_said_clearly() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_address = taken.local_addr().unwrap().to_string();
    let output = finish(netcraq_proxy(&["--listen", &taken_address, "--etcd", "http://127.0.0.1:1"]));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("listening on {taken_address}")), "{stderr}");

    let output = finish(netcraq_proxy(&["--listen", "nowhere", "--etcd", "http://127.0.0.1:1"]));
    assert_eq!(output.status.code(), Some(2), "clap's usage error");

    drop(taken);
    let absent = format!("http://{taken_address}"); // closed now
    let mut proxy = netcraq_proxy(&["--listen", "127.0.0.1:0", "--etcd", &absent]);
    let printed = lines(&mut proxy);
    assert!(printed.recv_timeout(BOUND).unwrap().starts_with("netcraq proxy: serving"));
    // The signal is caught at once and acted on once the proxy serves, after its check of etcd.
    // SAFETY: as above.
    unsafe { libc::kill(proxy.id() as libc::pid_t, libc::SIGTERM) };
    let output = finish(proxy);
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("etcd does not answer yet") && stderr.contains("serving anyway"), "{stderr}");
}
