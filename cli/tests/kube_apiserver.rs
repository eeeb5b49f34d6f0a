//! The Go-built peers (tests/peers/README.md): etcd answers with its version,
//! kube-apiserver on that etcd reaches /readyz and creates, reads and deletes a
//! ConfigMap that etcd holds meanwhile (tests/peers/smoke.sh). Without the
//! binaries of tests/peers/build.sh it says SKIP.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Far above the ~15–40 s the smoke takes here: etcd and kube-apiserver start, four requests.
const RUN_LIMIT: Duration = Duration::from_secs(300);

fn peers_dir() -> PathBuf {
    std::env::var_os("NETCRAQ_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/peers"))
}

/// True when build.sh left both peers in `peers`.
fn peers_built(peers: &Path) -> bool {
    let built = |prefix: &str, binary: &str| {
        std::fs::read_dir(peers).into_iter().flatten().flatten().any(|entry| {
            entry.file_name().to_string_lossy().starts_with(prefix) && entry.path().join("bin").join(binary).is_file()
        })
    };
    built("etcd-", "etcdctl") && built("kube-apiserver-", "kube-apiserver")
}

#[test]
fn kube_apiserver_on_go_built_etcd_serves_configmap_crud() {
    let peers = peers_dir();
    if !peers_built(&peers) {
        // Past the harness's capture, so the skip is visible in any run.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIP: kube_apiserver_on_go_built_etcd_serves_configmap_crud: no etcd and kube-apiserver in {} \
             (tests/peers/build.sh)",
            peers.display()
        );
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/smoke.sh");
    let mut child = Command::new("bash").arg(script).env("NETCRAQ_PEERS_DIR", &peers).spawn().expect("bash runs");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for smoke.sh") {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            // SIGTERM: the script's exit trap stops its etcd and kube-apiserver by PID.
            let pid = libc::pid_t::try_from(child.id()).expect("a PID fits pid_t");
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let _ = child.wait();
            panic!("tests/peers/smoke.sh took over {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "tests/peers/smoke.sh failed ({status}): its stderr says why");
}
