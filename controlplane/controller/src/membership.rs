//! Publishing which nodes serve each chain, for clients to follow through
//! reconfigurations (`docs/controller.md`, "Membership for clients"). The
//! format is the client's ([`netcraq_client::membership`]); this module
//! keeps it current from the running controller's notes and publishes it:
//!
//! - over HTTP ([`MembershipEndpoint`], `netcraq controller --membership-listen`):
//!   `GET /membership` answers the JSON, `503` while there is none;
//! - in etcd ([`EtcdMembership`]) under `<prefix>/<deployment>/membership`,
//!   next to the state, written only by the leader, in the same fenced
//!   transaction as the state.

use crate::election::{EtcdOptions, Leader};
use crate::service::{Note, NoteKind};
use crate::state_store::{bounded, deployment_key, StoreError};
use crate::supervisor::SupervisorState;
use async_trait::async_trait;
use etcd_client::{Client, Compare, CompareOp, Txn, TxnOp};
use netcraq_topology::Topology;
use netcraq_wire::Ipv4Addr;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

pub use netcraq_client::membership::{ChainMembers, Member, Membership};
pub use netcraq_client::MEMBERSHIP_PATH;

/// The last segment of the etcd key holding a deployment's membership.
pub const MEMBERSHIP_LEAF: &str = "membership";

/// The chains' membership, kept current from the running controller's notes.
#[derive(Debug, Clone)]
pub struct MembershipBook {
    addresses: BTreeMap<String, Ipv4Addr>,
    membership: Membership,
}

impl MembershipBook {
    /// The membership of `state`'s chains (the store's, or the deployment's
    /// at a first start), each member's address from `topology`.
    pub fn new(topology: &Topology, state: &SupervisorState) -> MembershipBook {
        let addresses = topology.nodes().iter().map(|node| (node.name.clone(), node.ip)).collect();
        let mut book = MembershipBook { addresses, membership: Membership::default() };
        book.membership.chains = state
            .chains
            .iter()
            .map(|chain| ChainMembers {
                name: chain.name.clone(),
                epoch: chain.layout.epoch,
                key_lo: chain.layout.key_lo,
                key_hi: chain.layout.key_hi,
                members: book.members(&chain.layout.members),
            })
            .collect();
        book
    }

    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// Takes in a note; true when it changed the membership: a
    /// reconfiguration done, after which the chain's members serve in the
    /// new epoch.
    pub fn observe(&mut self, note: &NoteKind) -> bool {
        let NoteKind::Reconfigured { chain, members, epoch, .. } = note else { return false };
        let members = self.members(members);
        let Some(known) = self.membership.chains.iter_mut().find(|known| known.name == *chain) else { return false };
        let changed = known.members != members || known.epoch != *epoch;
        (known.members, known.epoch) = (members, *epoch);
        changed
    }

    /// Members with their addresses; a name the topology does not know (it
    /// cannot happen: the controller plans from the same topology) is left
    /// out rather than published without an address.
    fn members(&self, names: &[String]) -> Vec<Member> {
        names
            .iter()
            .filter_map(|name| self.addresses.get(name).map(|ip| Member { name: name.clone(), ip: *ip }))
            .collect()
    }
}

/// Somewhere clients learn the membership from.
#[async_trait]
pub trait PublishMembership: Send {
    /// Where, for messages.
    fn name(&self) -> String;
    async fn publish(&mut self, membership: &Membership) -> Result<(), String>;
}

/// Serves the membership on `listen` if given (returning the address it
/// listens on) and [`relay`]s the notes to it and to `publishers`.
pub async fn publish(
    listen: Option<SocketAddr>,
    mut publishers: Vec<Box<dyn PublishMembership>>,
    book: MembershipBook,
    notes: mpsc::UnboundedReceiver<Note>,
) -> std::io::Result<(Option<SocketAddr>, mpsc::UnboundedReceiver<Note>)> {
    let mut listening = None;
    if let Some(address) = listen {
        let endpoint = MembershipEndpoint::serve(address).await?;
        listening = Some(endpoint.address());
        publishers.push(Box::new(endpoint));
    }
    Ok((listening, relay(book, publishers, notes)))
}

/// Publishes the book's membership at once and after every reconfiguration
/// the service notes, and passes every note on (to the printer, a test).
/// A publication that fails is said on stderr and retried with the next change.
pub fn relay(
    mut book: MembershipBook,
    mut publishers: Vec<Box<dyn PublishMembership>>,
    mut notes: mpsc::UnboundedReceiver<Note>,
) -> mpsc::UnboundedReceiver<Note> {
    let (passed, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        publish_all(&mut publishers, book.membership()).await;
        while let Some(note) = notes.recv().await {
            if book.observe(&note.what) {
                publish_all(&mut publishers, book.membership()).await;
            }
            if passed.send(note).is_err() {
                return;
            }
        }
    });
    receiver
}

async fn publish_all(publishers: &mut [Box<dyn PublishMembership>], membership: &Membership) {
    for publisher in publishers {
        if let Err(error) = publisher.publish(membership).await {
            eprintln!("netcraq controller: membership not published to {}: {error}", publisher.name());
        }
    }
}

/// Requests the endpoint answered, and those it refused (malformed, another
/// path or method, or too slow).
#[derive(Debug, Default)]
pub struct EndpointStats {
    pub answered: AtomicU64,
    pub refused: AtomicU64,
}

/// The membership served over HTTP/1.1 (one request per connection):
/// `GET /membership` answers `200` with the JSON, or `503` while nothing
/// is published (a controller that does not lead).
pub struct MembershipEndpoint {
    address: SocketAddr,
    current: watch::Sender<Option<Arc<str>>>,
    stats: Arc<EndpointStats>,
}

/// A request head larger than this is refused.
const MAX_REQUEST_BYTES: usize = 8192;
/// A client that has not sent its request within this is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

impl MembershipEndpoint {
    /// Listens on `address` (port 0: any) and serves until dropped.
    pub async fn serve(address: SocketAddr) -> std::io::Result<MembershipEndpoint> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let (current, watched) = watch::channel(None);
        let stats = Arc::new(EndpointStats::default());
        let counted = stats.clone();
        let accepting = async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (membership, stats) = (watched.borrow().clone(), counted.clone());
                tokio::spawn(async move {
                    let answered = tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, membership)).await;
                    let counter = if matches!(answered, Ok(true)) { &stats.answered } else { &stats.refused };
                    counter.fetch_add(1, Ordering::Relaxed);
                });
            }
        };
        // Ends when the endpoint (the sender) is dropped.
        let mut closed = current.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                _ = accepting => {}
                _ = async { while closed.changed().await.is_ok() {} } => {}
            }
        });
        Ok(MembershipEndpoint { address, current, stats })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// Stops serving a membership (`503`), as when this controller stops leading.
    pub fn withdraw(&self) {
        self.current.send_replace(None);
    }
}

#[async_trait]
impl PublishMembership for MembershipEndpoint {
    fn name(&self) -> String {
        format!("http://{}{MEMBERSHIP_PATH}", self.address)
    }

    async fn publish(&mut self, membership: &Membership) -> Result<(), String> {
        self.current.send_replace(Some(membership.to_json().into()));
        Ok(())
    }
}

/// Reads one request from `stream` and answers it; true if it was a GET of the membership.
async fn answer(mut stream: TcpStream, membership: Option<Arc<str>>) -> bool {
    let mut head = Vec::with_capacity(512);
    let mut buffer = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() <= MAX_REQUEST_BYTES {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(len) => head.extend_from_slice(&buffer[..len]),
        }
    }
    let (response, served) = respond(&head, membership.as_deref());
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
    served
}

/// The answer to a request head: the membership for `GET /membership`,
/// an error status for anything else; and whether it was served.
fn respond(head: &[u8], membership: Option<&str>) -> (Vec<u8>, bool) {
    let complete = head.windows(4).any(|w| w == b"\r\n\r\n");
    let line = String::from_utf8_lossy(head.split(|b| *b == b'\r').next().unwrap_or_default()).into_owned();
    let parts: Vec<&str> = line.split(' ').collect();
    let path = parts.get(1).map(|target| target.split('?').next().unwrap_or_default());
    match (complete, parts.as_slice(), path) {
        (false, ..) => (response("400 Bad Request", "an HTTP/1.1 request head of at most 8 KiB\n"), false),
        (true, [_, _, version], _) if !version.starts_with("HTTP/1.") => {
            (response("400 Bad Request", "an HTTP/1.x request\n"), false)
        }
        (true, [method, _, _], _) if *method != "GET" => (response("405 Method Not Allowed", "GET only\n"), false),
        (true, [_, _, _], Some(MEMBERSHIP_PATH)) => match membership {
            Some(json) => (response("200 OK", json), true),
            None => {
                (response("503 Service Unavailable", "no membership published: this controller does not lead\n"), false)
            }
        },
        (true, [_, _, _], _) => (response("404 Not Found", "the membership is at /membership\n"), false),
        (true, ..) => (response("400 Bad Request", "a request line: GET /membership HTTP/1.1\n"), false),
    }
}

fn response(status: &str, body: &str) -> Vec<u8> {
    let kind = if status.starts_with("200") { "application/json" } else { "text/plain; charset=utf-8" };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The membership in etcd, `<prefix>/<deployment>/membership`, written by
/// the leader it was made for while its leader key is the one it won with
/// (the state's fence, `docs/controller.md`).
pub struct EtcdMembership {
    client: Client,
    key: String,
    leader_key: Vec<u8>,
    create_revision: i64,
    request_timeout: Duration,
}

impl EtcdMembership {
    /// A publisher for `leader`'s deployment over `client`.
    pub fn new(client: &Client, options: &EtcdOptions, leader: &Leader) -> Result<EtcdMembership, StoreError> {
        Ok(EtcdMembership {
            client: client.clone(),
            key: deployment_key(&options.prefix, leader.deployment(), MEMBERSHIP_LEAF)?,
            leader_key: leader.key().to_vec(),
            create_revision: leader.create_revision(),
            request_timeout: options.request_timeout,
        })
    }
}

#[async_trait]
impl PublishMembership for EtcdMembership {
    fn name(&self) -> String {
        format!("etcd key {}", self.key)
    }

    async fn publish(&mut self, membership: &Membership) -> Result<(), String> {
        let ours = Compare::create_revision(self.leader_key.clone(), CompareOp::Equal, self.create_revision);
        let put = TxnOp::put(self.key.clone(), membership.to_json(), None);
        let txn = Txn::new().when([ours]).and_then([put]);
        let answer = bounded("txn (membership)", self.request_timeout, self.client.clone().txn(txn))
            .await
            .map_err(|e| e.to_string())?;
        match answer.succeeded() {
            true => Ok(()),
            false => Err("not written: this controller's leader key is no longer in etcd".into()),
        }
    }
}

/// The membership last published for `deployment` in etcd, if any; anyone may read it.
pub async fn load_membership(
    client: &Client,
    options: &EtcdOptions,
    deployment: &str,
) -> Result<Option<Membership>, StoreError> {
    let key = deployment_key(&options.prefix, deployment, MEMBERSHIP_LEAF)?;
    let answer = bounded("get (membership)", options.request_timeout, client.clone().get(key, None)).await?;
    let Some(kv) = answer.kvs().first() else { return Ok(None) };
    let membership = Membership::from_json(kv.value())
        .map_err(|e| StoreError::Etcd { operation: "get (membership)", detail: e.to_string() })?;
    Ok(Some(membership))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{initial_state, ServiceSettings};
    use crate::supervisor::Change;
    use std::time::Instant;

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

[[link]]
a = "n1"
b = "n2"

[[link]]
a = "n2"
b = "n3"

[[chain]]
name = "kv"
nodes = ["n1", "n2"]
spares = ["n3"]
mode = "craq"
keys = [0, 16]
"#;

    fn book() -> MembershipBook {
        let topology = Topology::parse(TOPOLOGY).unwrap();
        MembershipBook::new(&topology, &initial_state(&topology, &ServiceSettings::default()))
    }

    fn reconfigured(members: &[&str], epoch: u32) -> NoteKind {
        let members = members.iter().map(|m| m.to_string()).collect();
        NoteKind::Reconfigured { chain: "kv".into(), change: Change::Restart, members, epoch }
    }

    fn ips(membership: &Membership) -> Vec<Ipv4Addr> {
        membership.chains[0].members.iter().map(|m| m.ip).collect()
    }

    #[test]
    fn the_book_follows_reconfigurations_with_the_members_addresses() {
        let mut book = book();
        let chain = &book.membership().chains[0];
        assert_eq!((chain.name.as_str(), chain.key_lo, chain.key_hi), ("kv", 0, 16));
        assert_eq!(ips(book.membership()), [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)]);
        assert!(!book.observe(&NoteKind::NodeDown("n1".into())), "only a reconfiguration done changes it");
        assert!(book.observe(&reconfigured(&["n2", "n3"], 7)));
        assert_eq!(ips(book.membership()), [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)]);
        assert_eq!(book.membership().chains[0].epoch, 7);
        assert!(!book.observe(&reconfigured(&["n2", "n3"], 7)), "the same again");
        let other =
            NoteKind::Reconfigured { chain: "other".into(), change: Change::Restart, members: vec![], epoch: 9 };
        assert!(!book.observe(&other), "a chain it does not know");
        book.membership().check().unwrap();
    }

    #[test]
    fn requests_are_answered_by_path_and_method() {
        let status = |head: &[u8], membership: Option<&str>| {
            let (answer, served) = respond(head, membership);
            let text = String::from_utf8(answer).unwrap();
            (text.lines().next().unwrap().to_string(), served, text)
        };
        let (line, served, text) = status(b"GET /membership HTTP/1.1\r\nHost: x\r\n\r\n", Some("{}"));
        assert_eq!((line.as_str(), served), ("HTTP/1.1 200 OK", true));
        assert!(text.ends_with("\r\n\r\n{}") && text.contains("Content-Length: 2\r\n"), "{text}");
        assert_eq!(status(b"GET /membership?x=1 HTTP/1.0\r\n\r\n", Some("{}")).0, "HTTP/1.1 200 OK");
        assert_eq!(status(b"GET /membership HTTP/1.1\r\n\r\n", None).0, "HTTP/1.1 503 Service Unavailable");
        assert_eq!(status(b"POST /membership HTTP/1.1\r\n\r\n", Some("{}")).0, "HTTP/1.1 405 Method Not Allowed");
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n", Some("{}")).0, "HTTP/1.1 404 Not Found");
        for bad in
            [&b"GET /membership HTTP/1.1\r\n"[..], b"GET /membership SPDY\r\n\r\n", b"\r\n\r\n", b"hello there\r\n\r\n"]
        {
            let (line, served, _) = status(bad, Some("{}"));
            assert_eq!(
                (line.as_str(), served),
                ("HTTP/1.1 400 Bad Request", false),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[tokio::test]
    async fn the_endpoint_serves_what_was_published_last_to_a_client() {
        let mut endpoint = MembershipEndpoint::serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let url: netcraq_client::ControllerUrl = format!("http://{}", endpoint.address()).parse().unwrap();
        let fetch = move || {
            let url = url.clone();
            tokio::task::spawn_blocking(move || url.fetch(Duration::from_secs(5)))
        };
        let error = fetch().await.unwrap().unwrap_err().to_string();
        assert!(error.contains("answered 503 Service Unavailable: no membership published"), "{error}");
        let mut book = book();
        endpoint.publish(book.membership()).await.unwrap();
        assert_eq!(fetch().await.unwrap().unwrap(), *book.membership());
        book.observe(&reconfigured(&["n2"], 4));
        endpoint.publish(book.membership()).await.unwrap();
        assert_eq!(ips(&fetch().await.unwrap().unwrap()), [Ipv4Addr::new(10, 0, 0, 2)]);
        let mut garbage = TcpStream::connect(endpoint.address()).await.unwrap();
        garbage.write_all(b"nonsense\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        garbage.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400 Bad Request"), "{answer}");
        endpoint.withdraw();
        assert!(fetch().await.unwrap().is_err(), "withdrawn: 503 again");
        let stats = endpoint.stats();
        assert_eq!((stats.answered.load(Ordering::Relaxed), stats.refused.load(Ordering::Relaxed)), (2, 3));
    }

    /// Needs etcd (Debian's etcd-server); otherwise it says SKIP.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_etcd_only_the_leader_publishes_and_anyone_reads() {
        use netcraq_etcd_cluster::{etcd_installed, EtcdCluster, SERVING_TIMEOUT};
        let etcd = std::path::Path::new("etcd");
        if !etcd_installed(etcd) {
            eprintln!("SKIP: etcd is not installed (apt-get install -y etcd-server)");
            return;
        }
        let dir = std::env::temp_dir().join(format!("netcraq-membership-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cluster = EtcdCluster::start(etcd, 1, &dir).unwrap();
        cluster.wait_serving(SERVING_TIMEOUT).unwrap();
        let options = EtcdOptions::new(cluster.client_urls.clone());
        let client = crate::election::connect(&options).await.unwrap();
        assert_eq!(load_membership(&client, &options, "chain3").await.unwrap(), None);
        let leader = crate::election::campaign(&client, &options, "chain3", "a").await.unwrap();
        let mut publisher = EtcdMembership::new(&client, &options, &leader).unwrap();
        assert_eq!(publisher.name(), "etcd key /netcraq/chain3/membership");
        let book = book();
        publisher.publish(book.membership()).await.unwrap();
        assert_eq!(load_membership(&client, &options, "chain3").await.unwrap().as_ref(), Some(book.membership()));
        leader.resign().await.unwrap();
        let refused = publisher.publish(&Membership::default()).await.unwrap_err();
        assert!(refused.contains("no longer in etcd"), "{refused}");
        assert_eq!(load_membership(&client, &options, "chain3").await.unwrap().as_ref(), Some(book.membership()));
        drop(cluster);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn the_relay_publishes_at_start_and_after_each_reconfiguration_and_passes_notes_on() {
        #[derive(Clone, Default)]
        struct Seen(Arc<std::sync::Mutex<Vec<u32>>>);
        #[async_trait]
        impl PublishMembership for Seen {
            fn name(&self) -> String {
                "a test".into()
            }
            async fn publish(&mut self, membership: &Membership) -> Result<(), String> {
                self.0.lock().unwrap().push(membership.chains[0].epoch);
                Ok(())
            }
        }
        let seen = Seen::default();
        let (notes, receiver) = mpsc::unbounded_channel();
        let mut passed = relay(book(), vec![Box::new(seen.clone())], receiver);
        for what in [NoteKind::NodeDown("n1".into()), reconfigured(&["n2"], 3), reconfigured(&["n2", "n3"], 4)] {
            notes.send(Note { at: Instant::now(), what: what.clone() }).unwrap();
            assert_eq!(passed.recv().await.unwrap().what, what);
        }
        assert_eq!(*seen.0.lock().unwrap(), [1, 3, 4], "the first start's epoch, then each reconfiguration's");
    }
}
