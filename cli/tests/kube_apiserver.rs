//! The Go-built peers (tests/peers/README.md): etcd answers with its version,
//! kube-apiserver on that etcd reaches /readyz and creates, reads and deletes a
//! ConfigMap that etcd holds meanwhile (tests/peers/smoke.sh); and
//! kube-apiserver on `netcraq proxy` in front of a 3-member etcd serves
//! ConfigMap CRUD and a watch while leader-election Leases churn
//! (docs/kubernetes.md); and, with a NetCRAQ chain on namespaces (root),
//! kube-apiserver's GETs of a ConfigMap whose key the proxy places at
//! runtime are served from the proxy's cache. Without the binaries of
//! tests/peers/build.sh, curl, or root for the chain, each says SKIP.

mod support;

use netcraq_etcd_cluster::{EtcdCluster, SERVING_TIMEOUT};
use netcraq_metrics::{parse, scrape, Samples};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use support::{line_topology, running_as_root, Chain};

/// Far above what each test takes here: the smoke 15–40 s (etcd and kube-apiserver
/// start, four requests), the proxy test about a minute.
const RUN_LIMIT: Duration = Duration::from_secs(300);

fn peers_dir() -> PathBuf {
    std::env::var_os("NETCRAQ_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/peers"))
}

/// True when build.sh left both peers in `peers`.
fn peers_built(peers: &Path) -> bool {
    peer_binary(peers, "etcd-", "etcdctl").is_some()
        && peer_binary(peers, "kube-apiserver-", "kube-apiserver").is_some()
}

#[test]
fn kube_apiserver_on_go_built_etcd_serves_configmap_crud() {
    let peers = peers_dir();
    if !peers_built(&peers) {
        let why = format!("no etcd and kube-apiserver in {} (tests/peers/build.sh)", peers.display());
        return skip("kube_apiserver_on_go_built_etcd_serves_configmap_crud", &why);
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

/// The newest peer directory named `prefix*` holding `bin/binary`.
fn peer_binary(peers: &Path, prefix: &str, binary: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(peers)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(prefix))
        .map(|entry| entry.path().join("bin").join(binary))
        .filter(|path| path.is_file())
        .collect();
    found.sort();
    found.pop()
}

fn skip(test: &str, why: &str) {
    // Past the harness's capture, so the skip is visible in any run.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIP: {test}: {why}");
}

/// `netcraq proxy` in front of the given etcd members, stopped by SIGTERM (then its PID killed) when dropped.
struct ProxyProcess {
    child: Child,
    /// Where it serves, `127.0.0.1:PORT`.
    address: String,
    /// Its stdout's lines after the first.
    lines: mpsc::Receiver<String>,
}

impl ProxyProcess {
    fn start(etcd_urls: &[String]) -> ProxyProcess {
        ProxyProcess::start_with(etcd_urls, &[])
    }

    fn start_with(etcd_urls: &[String], extra: &[String]) -> ProxyProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_netcraq"))
            .args(["proxy", "--listen", "127.0.0.1:0", "--etcd", &etcd_urls.join(",")])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting netcraq proxy");
        // Its stdout is read to the end, so that what it prints later finds a reader.
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let first = lines.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
        let address = first
            .strip_prefix("netcraq proxy: serving etcd's v3 API on ")
            .and_then(|rest| rest.split(',').next())
            .map(str::to_string);
        let proxy = ProxyProcess { child, address: address.unwrap_or_default(), lines };
        assert!(!proxy.address.is_empty(), "unexpected first line of netcraq proxy: {first:?}");
        proxy
    }

    /// The text after `prefix` in the first line that starts with it.
    fn printed_after(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| panic!("the proxy never printed {prefix:?}"));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_string();
            }
        }
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a PID fits pid_t");
        // SAFETY: kill(2) on the PID of a child this test started and has not reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A kube-apiserver started by tests/peers/kube-apiserver.sh, stopped by it (by PID) when dropped.
struct KubeApiserver {
    /// No request is sent past it: the test is bounded even if the server stalls.
    deadline: Instant,
    script: PathBuf,
    work: PathBuf,
    url: String,
    ca: String,
    token: String,
}

impl KubeApiserver {
    /// Starts it on `etcd_url` and returns once it answers /readyz (the script waits, bounded).
    fn start(peers: &Path, etcd_url: &str, work: &Path) -> KubeApiserver {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/kube-apiserver.sh");
        let output = Command::new("bash")
            .arg(&script)
            .args(["start", etcd_url])
            .arg(work)
            .env("NETCRAQ_PEERS_DIR", peers)
            .stderr(Stdio::inherit())
            .output()
            .expect("bash runs");
        let mut server = KubeApiserver {
            deadline: Instant::now() + RUN_LIMIT,
            script,
            work: work.to_path_buf(),
            url: String::new(),
            ca: String::new(),
            token: String::new(),
        };
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "kube-apiserver.sh start failed ({}): {printed}", output.status);
        for line in printed.lines() {
            match line.split_once('=') {
                Some(("KUBE_APISERVER_URL", url)) => server.url = url.to_string(),
                Some(("KUBE_APISERVER_CA", ca)) => server.ca = ca.to_string(),
                Some(("KUBE_APISERVER_TOKEN_FILE", file)) => {
                    server.token = std::fs::read_to_string(file).expect("the token file").trim().to_string()
                }
                _ => {}
            }
        }
        assert!(!server.url.is_empty() && !server.token.is_empty(), "kube-apiserver.sh start printed: {printed}");
        server
    }

    /// One REST request through curl: the HTTP status and the body (JSON, or the text as a JSON string).
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        assert!(Instant::now() < self.deadline, "{method} {path}: past the test's {RUN_LIMIT:?}");
        let mut command = Command::new("curl");
        command.args(["-sS", "--max-time", "20", "--cacert", &self.ca, "-X", method, "-w", "\n%{http_code}"]).args([
            "-H",
            &format!("Authorization: Bearer {}", self.token),
            "-H",
            "Content-Type: application/json",
        ]);
        if let Some(body) = body {
            command.args(["--data-binary", &body.to_string()]);
        }
        let output = command.arg(format!("{}{path}", self.url)).output().expect("curl runs");
        let text = String::from_utf8_lossy(&output.stdout);
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        let status = status.trim().parse().unwrap_or_else(|_| {
            panic!("{method} {path}: no HTTP status from curl: {text} {}", String::from_utf8_lossy(&output.stderr))
        });
        (status, serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string())))
    }

    /// A request that must answer `expected`; its body.
    fn expect(&self, expected: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, answer) = self.request(method, path, body);
        assert_eq!(status, expected, "{method} {path}: {answer}");
        answer
    }
}

impl Drop for KubeApiserver {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(&self.script).arg("stop").arg(&self.work).status();
    }
}

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";
/// How often each elector renews its Lease: far oftener than leader election's 2 s, to churn.
const RENEW_EVERY: Duration = Duration::from_millis(100);
/// An elector hands its Lease to the next holder after this many renewals: a leader transition.
const RENEWALS_PER_TERM: u32 = 5;

/// What one Lease's elector did.
#[derive(Debug, Default)]
struct Churn {
    renewals: u32,
    transitions: u32,
    holder: String,
    errors: Vec<String>,
}

fn micro_time() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let second = netcraq_perf::report::utc_timestamp(now.as_secs());
    format!("{}.{:06}Z", second.trim_end_matches('Z'), now.subsec_micros())
}

/// Leader election's write pattern on Lease `name` until `stop`: create it,
/// then read it and write it back with a new renewTime (the resourceVersion
/// read guards the write), and every RENEWALS_PER_TERM renewals a new holder.
fn churn_lease(api: &KubeApiserver, name: &str, stop: &AtomicBool) -> Churn {
    let mut churn = Churn { holder: format!("{name}-holder-0"), ..Churn::default() };
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
        "spec": {"holderIdentity": churn.holder, "leaseDurationSeconds": 15, "acquireTime": micro_time(),
                 "renewTime": micro_time(), "leaseTransitions": 0},
    });
    let (status, answer) = api.request("POST", LEASES, Some(&lease));
    if status != 201 {
        churn.errors.push(format!("create {name}: HTTP {status}: {answer}"));
        return churn;
    }
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(RENEW_EVERY);
        let (status, mut lease) = api.request("GET", &format!("{LEASES}/{name}"), None);
        if status != 200 {
            churn.errors.push(format!("get {name}: HTTP {status}: {lease}"));
            continue;
        }
        if lease["spec"]["holderIdentity"] != churn.holder.as_str() {
            churn
                .errors
                .push(format!("get {name}: held by {}, written by {}", lease["spec"]["holderIdentity"], churn.holder));
        }
        lease["spec"]["renewTime"] = json!(micro_time());
        let new_term = (churn.renewals + 1) % RENEWALS_PER_TERM == 0;
        let holder = if new_term { format!("{name}-holder-{}", churn.transitions + 1) } else { churn.holder.clone() };
        if new_term {
            lease["spec"]["holderIdentity"] = json!(holder);
            lease["spec"]["acquireTime"] = json!(micro_time());
            lease["spec"]["leaseTransitions"] = json!(churn.transitions + 1);
        }
        match api.request("PUT", &format!("{LEASES}/{name}"), Some(&lease)) {
            (200, _) => {
                churn.renewals += 1;
                churn.transitions += u32::from(new_term);
                churn.holder = holder;
            }
            (status, answer) => churn.errors.push(format!("renew {name}: HTTP {status}: {answer}")),
        }
    }
    churn
}

fn configmap(name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "labels": {"netcraq-test": "crud"}}, "data": {"value": value}})
}

/// Creates, reads (each once, one of them many times: a hot key), lists,
/// updates and deletes ConfigMaps; then a watch from before the first create
/// replays every change in order (kube-apiserver's watch of etcd, through the proxy).
fn configmap_crud(api: &KubeApiserver) {
    const COUNT: usize = 10;
    const HOT_READS: usize = 50;
    let names: Vec<String> = (0..COUNT).map(|i| format!("netcraq-{i}")).collect();
    let before = api.expect(200, "GET", CONFIGMAPS, None)["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    for name in &names {
        api.expect(201, "POST", CONFIGMAPS, Some(&configmap(name, "created")));
    }
    for name in &names {
        let read = api.expect(200, "GET", &format!("{CONFIGMAPS}/{name}"), None);
        assert_eq!(read["data"]["value"], "created", "{read}");
    }
    let listed = api.expect(200, "GET", &format!("{CONFIGMAPS}?labelSelector=netcraq-test%3Dcrud"), None);
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(COUNT), "{listed}");
    for name in &names {
        let mut read = api.expect(200, "GET", &format!("{CONFIGMAPS}/{name}"), None);
        read["data"]["value"] = json!("updated");
        let written = api.expect(200, "PUT", &format!("{CONFIGMAPS}/{name}"), Some(&read));
        // A write guarded by a resourceVersion that is no longer current is refused.
        let (status, answer) = api.request("PUT", &format!("{CONFIGMAPS}/{name}"), Some(&read));
        assert_eq!(status, 409, "a stale update of {name}: {answer}");
        assert_ne!(written["metadata"]["resourceVersion"], read["metadata"]["resourceVersion"]);
    }
    for _ in 0..HOT_READS {
        let read = api.expect(200, "GET", &format!("{CONFIGMAPS}/{}", names[0]), None);
        assert_eq!(read["data"]["value"], "updated", "{read}");
    }
    for name in &names {
        api.expect(200, "DELETE", &format!("{CONFIGMAPS}/{name}"), None);
        api.expect(404, "GET", &format!("{CONFIGMAPS}/{name}"), None);
    }
    let watched =
        format!("{CONFIGMAPS}?watch=1&labelSelector=netcraq-test%3Dcrud&resourceVersion={before}&timeoutSeconds=3");
    let (status, events) = api.request("GET", &watched, None);
    assert_eq!(status, 200, "{events}");
    let events = events.as_str().map(str::to_string).unwrap_or_else(|| events.to_string());
    let mut seen: Vec<(String, String)> = Vec::new();
    for line in events.lines().filter(|line| !line.trim().is_empty()) {
        let event: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("a watch event {line}: {e}"));
        seen.push((
            event["type"].as_str().unwrap_or("").into(),
            event["object"]["metadata"]["name"].as_str().unwrap_or("").into(),
        ));
    }
    for name in &names {
        let types: Vec<&str> = seen.iter().filter(|(_, n)| n == name).map(|(t, _)| t.as_str()).collect();
        assert_eq!(types, ["ADDED", "MODIFIED", "DELETED"], "the watch's events of {name}: {events}");
    }
}

/// kube-apiserver on `netcraq proxy` in front of a 3-member etcd: /readyz,
/// ConfigMap create/read/list/update/delete and a watch, with leader-election
/// Lease churn running meanwhile, all without an error; then the Leases are
/// in etcd as last written.
#[test]
fn kube_apiserver_on_the_proxy_serves_crud_with_lease_churn() {
    const TEST: &str = "kube_apiserver_on_the_proxy_serves_crud_with_lease_churn";
    const LEASE_COUNT: usize = 3;
    /// Churn goes on at least this long, and past the CRUD if it takes longer.
    const MIN_CHURN: Duration = Duration::from_secs(15);
    let peers = peers_dir();
    let (Some(etcd), Some(etcdctl)) = (peer_binary(&peers, "etcd-", "etcd"), peer_binary(&peers, "etcd-", "etcdctl"))
    else {
        return skip(TEST, &format!("no etcd in {} (tests/peers/build.sh)", peers.display()));
    };
    if !peers_built(&peers) {
        return skip(TEST, &format!("no kube-apiserver in {} (tests/peers/build.sh)", peers.display()));
    }
    if !Command::new("curl").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return skip(TEST, "curl does not run (apt-get install -y curl)");
    }
    let started = Instant::now();
    let work = std::env::temp_dir().join(format!("netcraq-kube-proxy-{}", std::process::id()));
    let mut cluster = EtcdCluster::start(&etcd, 3, &work.join("etcd")).unwrap();
    cluster.wait_serving(SERVING_TIMEOUT).unwrap();
    let proxy = ProxyProcess::start(&cluster.client_urls);
    let api = KubeApiserver::start(&peers, &format!("http://{}", proxy.address), &work.join("kube"));
    eprintln!("{TEST}: kube-apiserver ready on the proxy after {:?}", started.elapsed());

    let stop = AtomicBool::new(false);
    let churns: Vec<Churn> = std::thread::scope(|scope| {
        let electors: Vec<_> = (0..LEASE_COUNT)
            .map(|i| {
                let (api, stop) = (&api, &stop);
                scope.spawn(move || churn_lease(api, &format!("netcraq-elector-{i}"), stop))
            })
            .collect();
        let churn_start = Instant::now();
        let crud = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| configmap_crud(&api)));
        std::thread::sleep(MIN_CHURN.saturating_sub(churn_start.elapsed()));
        stop.store(true, Ordering::Release);
        let churns = electors.into_iter().map(|elector| elector.join().expect("an elector panicked")).collect();
        if let Err(panic) = crud {
            std::panic::resume_unwind(panic);
        }
        churns
    });
    for (i, churn) in churns.iter().enumerate() {
        eprintln!("{TEST}: Lease {i}: {} renewals, {} transitions", churn.renewals, churn.transitions);
        assert!(churn.errors.is_empty(), "Lease {i}'s churn: {:?}", churn.errors);
        // Even at one renewal a second (a loaded machine), 15 s of churn renews often.
        assert!(churn.renewals >= 10 && churn.transitions >= 2, "Lease {i}: {churn:?}");
        let lease = api.expect(200, "GET", &format!("{LEASES}/netcraq-elector-{i}"), None);
        assert_eq!(lease["spec"]["holderIdentity"], churn.holder.as_str(), "{lease}");
        assert_eq!(lease["spec"]["leaseTransitions"], churn.transitions, "{lease}");
    }
    // The Leases are etcd's, read around the proxy.
    let stored = Command::new(&etcdctl)
        .args(["--endpoints", &cluster.client_urls[2], "--command-timeout", "5s", "get", "--keys-only", "--prefix"])
        .arg("/registry/leases/default/netcraq-elector-")
        .output()
        .expect("etcdctl runs");
    let stored = String::from_utf8_lossy(&stored.stdout);
    for i in 0..LEASE_COUNT {
        assert!(stored.contains(&format!("/registry/leases/default/netcraq-elector-{i}")), "etcd holds: {stored}");
    }
    eprintln!("{TEST}: passed in {:?}", started.elapsed());
    drop(api);
    drop(proxy);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&work);
}

/// A placement source as the controller serves it: `GET /placement`
/// answers the JSON it holds now (or whatever text a test puts there).
struct PlacementSource {
    url: String,
    document: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
}

impl PlacementSource {
    fn start() -> PlacementSource {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port for the placement");
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/placement", listener.local_addr().unwrap());
        let document = Arc::new(Mutex::new(r#"{"keys":[]}"#.to_string()));
        let stop = Arc::new(AtomicBool::new(false));
        let (served, stopped) = (document.clone(), stop.clone());
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            while !stopped.load(Ordering::Acquire) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut request = [0; 1024];
                let _ = stream.read(&mut request);
                let body = served.lock().unwrap().clone();
                let head = format!(
                    "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(format!("{head}{body}").as_bytes());
            }
        });
        PlacementSource { url, document, stop }
    }

    fn publish(&self, document: &str) {
        *self.document.lock().unwrap() = document.to_string();
    }
}

impl Drop for PlacementSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn proxy_samples(url: &str) -> Samples {
    parse(&scrape(url, Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}"))).unwrap_or_else(|e| panic!("{e}"))
}

fn counter(samples: &Samples, name: &str) -> f64 {
    samples.sum(name, &[]).unwrap_or_else(|| panic!("no {name}"))
}

/// Scrapes `url` until `ready` says yes, within a minute.
fn wait_for_metrics(url: &str, what: &str, ready: impl Fn(&Samples) -> bool) -> Samples {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let samples = proxy_samples(url);
        if ready(&samples) {
            return samples;
        }
        assert!(Instant::now() < deadline, "the proxy's metrics never showed {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// kube-apiserver on a proxy that follows a placement source, in front of
/// a 3-member etcd, with a chain of three `netcraq node`s: once the
/// ConfigMap's key is placed, its GETs (Range(key, limit 1), linearizable)
/// are answered from the proxy's cache (the hit counter rises by them), an
/// update through kube-apiserver is read back at once, and once the key is
/// demoted its GETs go to etcd again and still read the latest.
#[test]
fn kube_apiserver_gets_of_a_placed_key_are_served_from_netcraq() {
    const TEST: &str = "kube_apiserver_gets_of_a_placed_key_are_served_from_netcraq";
    const NAME: &str = "netcraq-hot";
    const HOT_GETS: usize = 40;
    let peers = peers_dir();
    let Some(etcd) = peer_binary(&peers, "etcd-", "etcd") else {
        return skip(TEST, &format!("no etcd in {} (tests/peers/build.sh)", peers.display()));
    };
    if !peers_built(&peers) {
        return skip(TEST, &format!("no kube-apiserver in {} (tests/peers/build.sh)", peers.display()));
    }
    if !Command::new("curl").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return skip(TEST, "curl does not run (apt-get install -y curl)");
    }
    if !running_as_root(TEST) {
        return;
    }
    let started = Instant::now();
    let chain = Chain::up(&line_topology(3, "CRAQ", ""));
    let netns = chain.running.namespace("h1").expect("host h1").name().to_string();
    let work = std::env::temp_dir().join(format!("netcraq-kube-hot-{}", std::process::id()));
    let mut cluster = EtcdCluster::start(&etcd, 3, &work.join("etcd")).unwrap();
    cluster.wait_serving(SERVING_TIMEOUT).unwrap();
    let source = PlacementSource::start();
    let flags = [
        "--netcraq-node",
        "10.0.0.1",
        "--netcraq-netns",
        netns.as_str(),
        "--netcraq-timeout-ms",
        "100",
        "--placement-from",
        source.url.as_str(),
        "--placement-interval-ms",
        "200",
        "--placement-slots",
        "16",
        "--metrics-listen",
        "127.0.0.1:0",
    ];
    let proxy = ProxyProcess::start_with(&cluster.client_urls, &flags.map(String::from));
    let metrics = proxy.printed_after("netcraq proxy: metrics at ");
    proxy.printed_after("netcraq proxy: hot reads of 0 placed keys ready");
    let api = KubeApiserver::start(&peers, &format!("http://{}", proxy.address), &work.join("kube"));
    eprintln!("{TEST}: kube-apiserver ready on the proxy after {:?}", started.elapsed());

    let path = format!("{CONFIGMAPS}/{NAME}");
    api.expect(201, "POST", CONFIGMAPS, Some(&configmap(NAME, "created")));
    let key = format!("/registry/configmaps/default/{NAME}");
    let placed = [("key", key.as_str())];
    source.publish(&format!(r#"{{"keys":[{{"key":"{key}","slot":0}}]}}"#));
    wait_for_metrics(&metrics, "the key placed", |s| s.sum("netcraq_proxy_placed_slot", &placed) == Some(0.0));

    let hot_gets = |expected: &str| {
        let before = counter(&proxy_samples(&metrics), "netcraq_proxy_cache_hits_total");
        for _ in 0..HOT_GETS {
            let read = api.expect(200, "GET", &path, None);
            assert_eq!(read["data"]["value"], expected, "{read}");
        }
        counter(&proxy_samples(&metrics), "netcraq_proxy_cache_hits_total") - before
    };
    // kube-apiserver may read the key for itself too: at least our GETs hit, bar the first.
    let hits = hot_gets("created");
    assert!(hits >= (HOT_GETS - 1) as f64, "{hits} of {HOT_GETS} GETs of the placed key hit the cache");

    let mut read = api.expect(200, "GET", &path, None);
    read["data"]["value"] = json!("updated");
    api.expect(200, "PUT", &path, Some(&read));
    let hits = hot_gets("updated");
    assert!(hits >= (HOT_GETS - 1) as f64, "after the update, {hits} of {HOT_GETS} GETs hit");
    let samples = proxy_samples(&metrics);
    assert!(counter(&samples, "netcraq_proxy_placed_writes_total") >= 1.0, "the update went through the write steps");
    assert_eq!(counter(&samples, "netcraq_proxy_promotions_total"), 1.0);

    // A source that sends something else is counted and changes nothing.
    source.publish("not json");
    wait_for_metrics(&metrics, "a placement failure", |s| {
        s.sum("netcraq_proxy_placement_failures_total", &[]).is_some_and(|n| n >= 1.0)
    });
    assert_eq!(proxy_samples(&metrics).sum("netcraq_proxy_placed_slot", &placed), Some(0.0));

    source.publish(r#"{"keys":[]}"#);
    wait_for_metrics(&metrics, "the key demoted", |s| s.sum("netcraq_proxy_demotions_total", &[]) == Some(1.0));
    read = api.expect(200, "GET", &path, None);
    read["data"]["value"] = json!("after demotion");
    api.expect(200, "PUT", &path, Some(&read));
    assert_eq!(hot_gets("after demotion"), 0.0, "a demoted key is read from etcd");
    api.expect(200, "DELETE", &path, None);
    eprintln!("{TEST}: passed in {:?}", started.elapsed());
    drop(api);
    drop(proxy);
    drop(source);
    drop(cluster);
    drop(chain);
    let _ = std::fs::remove_dir_all(&work);
}
