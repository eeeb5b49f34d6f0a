//! Leadership and state in a real etcd (`docs/controller.md`, "High
//! availability: leadership in etcd"): one leader at a time, a leader that
//! cannot renew stops before its lease can expire, a standby takes over
//! within the TTL plus a second, writes by a former leader are refused, TLS.
//! Each test starts its own etcd and prints SKIP without one.

use netcraq_controller::election::{connect, EtcdOptions, EtcdTls, LossReason, DEFAULT_LEASE_TTL};
use netcraq_controller::{Leadership, StateStore, StoreError};
use netcraq_etcd_cluster::{etcd_installed, ClientTls, EtcdCluster, SERVING_TIMEOUT};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const TTL: Duration = DEFAULT_LEASE_TTL;
const MARGIN: Duration = netcraq_controller::election::DEFAULT_SAFETY_MARGIN;
/// How late a task may see a deadline on a loaded two-core machine.
const SCHEDULING_SLACK: Duration = Duration::from_millis(150);
/// The bound on a standby's takeover after the leader's last keep-alive.
const TAKEOVER_BOUND: Duration = Duration::from_secs(TTL.as_secs() + 1);

/// The timing assertions hold only with one etcd test at a time on two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// An etcd of the test's own; its members stopped and its directory removed when dropped.
struct TestEtcd {
    cluster: Option<EtcdCluster>,
    dir: PathBuf,
}

impl TestEtcd {
    /// A one-member etcd, or `None` (SKIP printed) where etcd is not installed.
    fn start(test: &str) -> Option<TestEtcd> {
        TestEtcd::start_with(test, |_| None)
    }

    /// As [`TestEtcd::start`], serving over TLS if `tls` makes files for it in the test's directory.
    fn start_with(test: &str, tls: impl FnOnce(&Path) -> Option<ClientTls>) -> Option<TestEtcd> {
        if !etcd_installed(Path::new("etcd")) {
            eprintln!("SKIP: etcd is not installed (apt-get install -y etcd-server)");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("netcraq-leadership-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cluster = match tls(&dir) {
            None => EtcdCluster::start(Path::new("etcd"), 1, &dir),
            Some(files) => EtcdCluster::start_with_tls(Path::new("etcd"), 1, &dir, &files),
        }
        .unwrap();
        cluster.wait_serving(SERVING_TIMEOUT).unwrap();
        Some(TestEtcd { cluster: Some(cluster), dir })
    }

    fn cluster(&self) -> &EtcdCluster {
        self.cluster.as_ref().expect("running")
    }

    fn options(&self) -> EtcdOptions {
        EtcdOptions::new(self.cluster().client_urls.clone())
    }
}

impl Drop for TestEtcd {
    fn drop(&mut self) {
        drop(self.cluster.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP relay to etcd that black-holes on `cut`, like a network partition:
/// it forwards nothing more either way and holds every connection open.
struct Partition {
    url: String,
    cut: watch::Sender<bool>,
    relay: JoinHandle<()>,
}

impl Partition {
    async fn start(upstream: &str) -> Partition {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_string();
        let (cut, seen) = watch::channel(false);
        let relay = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let (mut seen, upstream) = (seen.clone(), upstream.clone());
                connections.spawn(async move {
                    if *seen.borrow() {
                        return std::future::pending::<()>().await;
                    }
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = async { drop(seen.wait_for(|cut| *cut).await) } => std::future::pending::<()>().await,
                    }
                });
            }
        });
        Partition { url, cut, relay }
    }

    fn cut(&self) {
        self.cut.send_replace(true);
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        self.relay.abort();
    }
}

fn elected(leadership: &Leadership) -> &netcraq_controller::Leader {
    match leadership {
        Leadership::Elected(leader) => leader,
        Leadership::Sole { .. } => panic!("an etcd store elects"),
    }
}

/// Campaigns in the background, on a store of its own.
fn campaign_in_background(store: &Arc<StateStore>, candidate: &'static str) -> JoinHandle<Leadership> {
    let store = store.clone();
    tokio::spawn(async move { store.lead("chain", candidate).await.unwrap() })
}

fn assert_refused(result: Result<(), StoreError>) {
    assert!(matches!(&result, Err(StoreError::NotLeader { deployment, .. }) if deployment == "chain"), "{result:?}");
}

/// Two candidates at once: exactly one leads, the other waits; when the
/// leader resigns, the other leads within a second, with a larger election id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_candidates_leads_and_the_other_follows_a_resignation() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(etcd) = TestEtcd::start("resign") else { return };
    let a = Arc::new(StateStore::etcd(etcd.options()).await.unwrap());
    let b = Arc::new(StateStore::etcd(etcd.options()).await.unwrap());
    let mut candidates = vec![campaign_in_background(&a, "a"), campaign_in_background(&b, "b")];
    let started = Instant::now();
    while !candidates.iter().any(JoinHandle::is_finished) {
        assert!(started.elapsed() < Duration::from_secs(10), "nobody won within 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let finished: Vec<bool> = candidates.iter().map(JoinHandle::is_finished).collect();
    assert_eq!(finished.iter().filter(|f| **f).count(), 1, "exactly one leads: {finished:?}");
    let winner = finished.iter().position(|f| *f).unwrap();
    let standby = candidates.remove(1 - winner);
    let leader = candidates.remove(0).await.unwrap();
    assert!(leader.is_leader());
    let first_id = leader.election_id();
    let resigned = Instant::now();
    leader.resign().await.unwrap();
    let follower = tokio::time::timeout(Duration::from_secs(3), standby).await.expect("the standby won").unwrap();
    let takeover = resigned.elapsed();
    eprintln!("takeover after a resignation: {takeover:?}");
    assert!(takeover < Duration::from_secs(1), "{takeover:?}");
    assert!(follower.is_leader());
    assert!(follower.election_id() > first_id, "{} after {first_id}", follower.election_id());
}

/// A leader cut off from etcd steps down before its lease can expire, then
/// cannot save; the standby takes over within the TTL plus a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_steps_down_before_its_lease_expires() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(etcd) = TestEtcd::start("partition") else { return };
    let partition = Partition::start(&etcd.cluster().client_urls[0]).await;
    let a = StateStore::etcd(EtcdOptions::new(vec![partition.url.clone()])).await.unwrap();
    let b = Arc::new(StateStore::etcd(etcd.options()).await.unwrap());
    let leader = a.lead("chain", "a").await.unwrap();
    let standby = campaign_in_background(&b, "b");
    tokio::time::sleep(TTL / 2).await; // a keep-alive or two
    assert!(leader.is_leader() && !standby.is_finished());
    let cut = Instant::now();
    let deadline = elected(&leader).leading_until().expect("leading");
    partition.cut();
    let reason = tokio::time::timeout(TTL, leader.lost()).await.expect("stepped down within the TTL");
    let stepped_down = Instant::now();
    assert_eq!(reason, LossReason::KeepAliveOverdue);
    assert!(!leader.is_leader());
    eprintln!("step-down after the partition: {:?} (TTL {TTL:?})", stepped_down - cut);
    assert!(stepped_down >= deadline && stepped_down < deadline + SCHEDULING_SLACK, "deadline {deadline:?}");
    // The last acknowledged keep-alive was sent before the cut, so its lease lives until cut + TTL at least.
    assert!(stepped_down + MARGIN < cut + TTL + SCHEDULING_SLACK, "{:?}", stepped_down - cut);
    assert_refused(a.save(&leader, b"stale").await);
    assert_eq!(a.refused_saves(), 1);
    let follower = tokio::time::timeout(TTL * 2, standby).await.expect("the standby won").unwrap();
    let takeover = cut.elapsed();
    eprintln!("takeover after the partition: {takeover:?}");
    assert!(takeover <= TAKEOVER_BOUND, "{takeover:?}");
    assert!(Instant::now() > stepped_down + MARGIN / 2, "the two led at once");
    assert!(follower.election_id() > leader.election_id());
    b.save(&follower, b"fresh").await.unwrap();
    assert_eq!(b.load("chain").await.unwrap().as_deref(), Some(&b"fresh"[..]));
}

/// Saves and loads round trip; a leader whose lease another controller
/// revoked can no longer save, and learns that it lost at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_round_trips_and_a_former_leader_cannot_save() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(etcd) = TestEtcd::start("state") else { return };
    let a = StateStore::etcd(etcd.options()).await.unwrap();
    let b = Arc::new(StateStore::etcd(etcd.options()).await.unwrap());
    assert_eq!(a.load("chain").await.unwrap(), None);
    let leader = a.lead("chain", "a").await.unwrap();
    a.save(&leader, b"{\"epoch\":1}").await.unwrap();
    assert_eq!(b.load("chain").await.unwrap().as_deref(), Some(&b"{\"epoch\":1}"[..]));
    let other = a.lead("backup", "a").await.unwrap();
    a.save(&other, b"{}").await.unwrap();
    assert_eq!(b.list_deployments().await.unwrap(), ["backup", "chain"]);
    assert_eq!(b.load("nothing").await.unwrap(), None);

    let standby = campaign_in_background(&b, "b");
    let mut operator = connect(&etcd.options()).await.unwrap();
    let revoked = Instant::now();
    operator.lease_revoke(elected(&leader).lease_id()).await.unwrap();
    assert_refused(a.save(&leader, b"stale").await);
    let reason = tokio::time::timeout(Duration::from_secs(1), leader.lost()).await.expect("lost within 1 s");
    eprintln!("a revoked leader knew after {:?}: {reason:?}", revoked.elapsed());
    assert!(matches!(reason, LossReason::KeyDeleted | LossReason::LeaseGone), "{reason:?}");
    let follower = tokio::time::timeout(Duration::from_secs(2), standby).await.expect("the standby won").unwrap();
    assert!(follower.election_id() > leader.election_id());
    assert_eq!(b.load("chain").await.unwrap().as_deref(), Some(&b"{\"epoch\":1}"[..]));
    b.save(&follower, b"{\"epoch\":2}").await.unwrap();
    assert_eq!(a.load("chain").await.unwrap().as_deref(), Some(&b"{\"epoch\":2}"[..]));
    assert!(other.is_leader(), "another deployment's leadership is its own");
}

/// etcd stopped (SIGSTOP) for longer than the TTL: the leader steps down
/// before the TTL runs out; after SIGCONT a new campaign wins again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_steps_down_while_etcd_is_stopped_and_campaigns_again_after() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(etcd) = TestEtcd::start("sigstop") else { return };
    let store = StateStore::etcd(etcd.options()).await.unwrap();
    let leader = store.lead("chain", "a").await.unwrap();
    tokio::time::sleep(TTL / 2).await;
    let stopped = Instant::now();
    etcd.cluster().signal_member(0, libc::SIGSTOP);
    let reason = tokio::time::timeout(TTL, leader.lost()).await.expect("stepped down within the TTL");
    let stepped_down = stopped.elapsed();
    eprintln!("step-down with etcd stopped: {stepped_down:?} (TTL {TTL:?})");
    assert_eq!(reason, LossReason::KeepAliveOverdue);
    assert!(stepped_down + MARGIN < TTL + SCHEDULING_SLACK, "{stepped_down:?}");
    assert_refused(store.save(&leader, b"stale").await);
    tokio::time::sleep_until((stopped + TTL + Duration::from_secs(1)).into()).await;
    etcd.cluster().signal_member(0, libc::SIGCONT);
    let resumed = Instant::now();
    let give_up = resumed + Duration::from_secs(15);
    let again = loop {
        match tokio::time::timeout_at(give_up.into(), store.lead("chain", "a")).await {
            Ok(Ok(again)) => break again,
            Ok(Err(error)) if Instant::now() < give_up => {
                eprintln!("campaigning after SIGCONT: {error}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            failed => panic!("no leader 15 s after SIGCONT: {:?}", failed.map(|r| r.err())),
        }
    };
    eprintln!("leading again {:?} after SIGCONT", resumed.elapsed());
    assert!(again.election_id() > leader.election_id());
    store.save(&again, b"after").await.unwrap();
}

/// PEM files under a test's directory: a CA, a client certificate it
/// signed, a CA that signed nothing of etcd's.
struct Certificates {
    ca: PathBuf,
    client: (PathBuf, PathBuf),
    wrong_ca: PathBuf,
}

/// The controller's certificates, and etcd's: a server certificate for 127.0.0.1 the same CA signed.
fn make_certificates(dir: &Path) -> (Certificates, ClientTls) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    use ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let ca_params = |name: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params
    };
    let ca = CertifiedIssuer::self_signed(ca_params("netcraq test CA"), KeyPair::generate().unwrap()).unwrap();
    let wrong_ca = CertifiedIssuer::self_signed(ca_params("another CA"), KeyPair::generate().unwrap()).unwrap();
    let leaf = |name: &str, names: Vec<String>, usages: Vec<ExtendedKeyUsagePurpose>| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = usages;
        let cert = params.signed_by(&key, &ca).unwrap();
        (write(&format!("{name}.pem"), cert.pem()), write(&format!("{name}-key.pem"), key.serialize_pem()))
    };
    // etcd's gateway dials etcd itself with the server certificate: it needs ClientAuth too.
    let (cert, key) = leaf("server", vec!["127.0.0.1".into(), "localhost".into()], vec![ServerAuth, ClientAuth]);
    let client = leaf("client", vec!["controller".into()], vec![ClientAuth]);
    let ca = write("ca.pem", ca.pem());
    let server = ClientTls { cert, key, trusted_ca: ca.clone() };
    (Certificates { ca, client, wrong_ca: write("wrong-ca.pem", wrong_ca.pem()) }, server)
}

/// etcd with TLS and client certificates: the right CA and certificate
/// connect and lead; a wrong CA or no client certificate is a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_client_certificate_connects_and_a_wrong_ca_is_refused() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut certificates = None;
    let etcd = TestEtcd::start_with("tls", |dir| {
        let (controller, server) = make_certificates(dir);
        certificates = Some(controller);
        Some(server)
    });
    let (Some(etcd), Some(certificates)) = (etcd, certificates) else { return };
    let with_tls = |ca: &Path, client: Option<(PathBuf, PathBuf)>| {
        let mut options = etcd.options();
        options.tls = Some(EtcdTls { ca: ca.to_path_buf(), client_cert_and_key: client });
        options
    };
    let store = StateStore::etcd(with_tls(&certificates.ca, Some(certificates.client.clone()))).await.unwrap();
    let leader = store.lead("chain", "a").await.unwrap();
    store.save(&leader, b"over TLS").await.unwrap();
    assert_eq!(store.load("chain").await.unwrap().as_deref(), Some(&b"over TLS"[..]));

    let wrong = connect(&with_tls(&certificates.wrong_ca, Some(certificates.client.clone()))).await.err().unwrap();
    eprintln!("with a wrong CA: {wrong}");
    assert!(matches!(wrong, StoreError::Unreachable { .. }), "{wrong}");
    assert!(wrong.to_string().to_lowercase().contains("certificate"), "{wrong}");
    let anonymous = connect(&with_tls(&certificates.ca, None)).await.err().unwrap();
    eprintln!("without a client certificate: {anonymous}");
    assert!(matches!(anonymous, StoreError::Unreachable { .. }), "{anonymous}");
    let plain = etcd.cluster().client_urls[0].replace("https://", "http://");
    assert!(connect(&EtcdOptions::new(vec![plain])).await.is_err(), "plain HTTP to a TLS-only etcd must fail");
}
