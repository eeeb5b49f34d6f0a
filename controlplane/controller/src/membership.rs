//! Publishing which nodes serve each chain, for clients to follow through
//! reconfigurations (`docs/controller.md`, "Membership for clients"). The
//! format is the client's ([`netcraq_client::membership`]); this module
//! keeps it current from the running controller's notes and serves it over
//! HTTP ([`MembershipEndpoint`], `netcraq controller --membership-listen`):
//! `GET /membership` answers the JSON, `503` while this controller does not
//! lead, so a client given every controller's URL finds the leader's.

use crate::service::{Note, NoteKind};
use crate::supervisor::SupervisorState;
use async_trait::async_trait;
use netcraq_topology::Topology;
use netcraq_wire::Ipv4Addr;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

pub use netcraq_client::membership::{ChainMembers, Member, Membership};
pub use netcraq_client::MEMBERSHIP_PATH;

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
    /// Stops publishing: this controller no longer leads.
    fn withdraw(&mut self);
}

/// Serves the membership on `listen` if given (returning the address it
/// listens on) and [`relay`]s the notes to it and to `publishers`.
pub async fn publish(
    listen: Option<SocketAddr>,
    mut publishers: Vec<Box<dyn PublishMembership>>,
    publication: Publication,
    notes: mpsc::UnboundedReceiver<Note>,
) -> std::io::Result<(Option<SocketAddr>, mpsc::UnboundedReceiver<Note>)> {
    let mut listening = None;
    if let Some(address) = listen {
        let endpoint = MembershipEndpoint::serve(address).await?;
        listening = Some(endpoint.address());
        publishers.push(Box::new(endpoint));
    }
    Ok((listening, relay(publication, publishers, notes)))
}

/// When the membership may be published. A controller that leads from its
/// start (in memory) publishes the book at once and after every change. An
/// elected one publishes nothing until it leads and has reconfigured every
/// chain under its leadership (until then the book holds the deployment
/// file's layout, not the stored state's), and withdraws it when it stops
/// leading.
#[derive(Debug)]
pub struct Publication {
    book: MembershipBook,
    leading: bool,
    /// Chains not reconfigured since this controller began to lead.
    unconfirmed: BTreeSet<String>,
}

/// What a note asks of the publishers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    Now,
    Withdraw,
    Nothing,
}

impl Publication {
    pub fn leading_from_start(book: MembershipBook) -> Publication {
        Publication { book, leading: true, unconfirmed: BTreeSet::new() }
    }

    pub fn elected(book: MembershipBook) -> Publication {
        Publication { book, leading: false, unconfirmed: BTreeSet::new() }
    }

    fn membership(&self) -> &Membership {
        self.book.membership()
    }

    /// Whether the membership is current enough to publish.
    fn current(&self) -> bool {
        self.leading && self.unconfirmed.is_empty()
    }

    pub fn observe(&mut self, note: &NoteKind) -> Publish {
        match note {
            NoteKind::Leading { .. } => {
                self.leading = true;
                self.unconfirmed = self.book.membership().chains.iter().map(|chain| chain.name.clone()).collect();
                Publish::Nothing
            }
            NoteKind::StoppedLeading { .. } => {
                self.leading = false;
                Publish::Withdraw
            }
            _ => {
                let changed = self.book.observe(note);
                let confirmed = matches!(note, NoteKind::Reconfigured { chain, .. } if self.unconfirmed.remove(chain));
                match self.current() && (changed || confirmed) {
                    true => Publish::Now,
                    false => Publish::Nothing,
                }
            }
        }
    }
}

/// Publishes the membership whenever [`Publication`] says so (at once for a
/// controller that leads from its start), withdraws it when this controller
/// stops leading, and passes every note on (to the printer, a test). A
/// publication that fails is said on stderr and retried with the next change.
pub fn relay(
    mut publication: Publication,
    mut publishers: Vec<Box<dyn PublishMembership>>,
    mut notes: mpsc::UnboundedReceiver<Note>,
) -> mpsc::UnboundedReceiver<Note> {
    let (passed, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        if publication.current() {
            publish_all(&mut publishers, publication.membership()).await;
        }
        while let Some(note) = notes.recv().await {
            match publication.observe(&note.what) {
                Publish::Now => publish_all(&mut publishers, publication.membership()).await,
                Publish::Withdraw => publishers.iter_mut().for_each(|publisher| publisher.withdraw()),
                Publish::Nothing => {}
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

    /// Serves `503` again.
    fn withdraw(&mut self) {
        self.current.send_replace(None);
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

    /// What a publisher was asked: `Some(epoch)` published, `None` withdrawn.
    #[derive(Clone, Default)]
    struct Seen(Arc<std::sync::Mutex<Vec<Option<u32>>>>);

    #[async_trait]
    impl PublishMembership for Seen {
        fn name(&self) -> String {
            "a test".into()
        }
        async fn publish(&mut self, membership: &Membership) -> Result<(), String> {
            self.0.lock().unwrap().push(Some(membership.chains[0].epoch));
            Ok(())
        }
        fn withdraw(&mut self) {
            self.0.lock().unwrap().push(None);
        }
    }

    /// Relays `notes` through `publication`; what the publisher saw.
    async fn relayed(publication: Publication, notes: Vec<NoteKind>) -> Vec<Option<u32>> {
        let seen = Seen::default();
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut passed = relay(publication, vec![Box::new(seen.clone())], receiver);
        for what in notes {
            sender.send(Note { at: Instant::now(), what: what.clone() }).unwrap();
            assert_eq!(passed.recv().await.unwrap().what, what, "every note is passed on");
        }
        let seen = seen.0.lock().unwrap().clone();
        seen
    }

    #[tokio::test]
    async fn leading_from_the_start_it_publishes_at_once_and_after_each_reconfiguration() {
        let notes = vec![NoteKind::NodeDown("n1".into()), reconfigured(&["n2"], 3), reconfigured(&["n2", "n3"], 4)];
        let seen = relayed(Publication::leading_from_start(book()), notes).await;
        assert_eq!(seen, [Some(1), Some(3), Some(4)], "the first start's epoch, then each reconfiguration's");
    }

    #[tokio::test]
    async fn elected_it_publishes_only_what_it_reconfigured_while_leading_and_withdraws_when_it_stops() {
        let leading = NoteKind::Leading { deployment: "d".into(), election_id: 9, stored_state: true };
        let stopped = NoteKind::StoppedLeading { why: "its lease ended".into() };
        let notes = vec![
            reconfigured(&["n2"], 3), // another leader's, seen while a standby
            leading.clone(),
            reconfigured(&["n2"], 5), // its restart of the stored layout
            reconfigured(&["n2", "n3"], 6),
            stopped,
            reconfigured(&["n3"], 7), // stale: written by nobody now
            leading,
            reconfigured(&["n3"], 8),
        ];
        let seen = relayed(Publication::elected(book()), notes).await;
        assert_eq!(seen, [Some(5), Some(6), None, Some(8)]);
    }
}
