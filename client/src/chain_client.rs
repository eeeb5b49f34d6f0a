//! The blocking client that follows a chain through reconfigurations:
//! drives a [`Follower`] per operation with a UDP socket, the system clock
//! and the controller's membership endpoint.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use netcraq_linearizability::Value;
use netcraq_wire::NETCRAQ_UDP_PORT;

use crate::client::{receive_until, KeyValue};
use crate::error::ClientError;
use crate::follow::{FollowPolicy, FollowStep, Follower};
use crate::linger::Lingering;
use crate::membership::Membership;
use crate::membership_source::{fetch_membership, ControllerUrl};
use crate::request::{header_bytes, parse_header, Operation, ReadReply, WriteReply};

/// How a [`ChainClient`] tries, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainClientOptions {
    /// The first try's wait for a reply; each later try waits twice as
    /// long, up to `max_try_timeout`. Default 20 ms, up to 200 ms.
    pub try_timeout: Duration,
    pub max_try_timeout: Duration,
    /// Transmissions at most per operation. Default 50.
    pub tries: u32,
    /// Each operation ends within this, fetches included. Default 5 s: a
    /// failover takes about a second (`docs/controller.md`).
    pub total: Duration,
    /// Check that the head answers before a write's first transmission
    /// (`follow`'s text): one round trip more per write, so that a write
    /// sent while a dead head is not yet replaced is never in doubt. Default on.
    pub check_head: bool,
    /// Bound on one fetch of the membership. Default 1 s.
    pub fetch_timeout: Duration,
    /// The address requests are sent from. Default `0.0.0.0`.
    pub local_ip: Ipv4Addr,
}

impl Default for ChainClientOptions {
    fn default() -> Self {
        ChainClientOptions {
            try_timeout: Duration::from_millis(20),
            max_try_timeout: Duration::from_millis(200),
            tries: 50,
            total: Duration::from_secs(5),
            check_head: true,
            fetch_timeout: Duration::from_secs(1),
            local_ip: Ipv4Addr::UNSPECIFIED,
        }
    }
}

impl ChainClientOptions {
    fn policy(&self) -> FollowPolicy {
        FollowPolicy {
            try_timeout_ns: nanos(self.try_timeout),
            max_try_timeout_ns: nanos(self.max_try_timeout),
            tries: self.tries.max(1),
            total_ns: nanos(self.total),
            check_head: self.check_head,
        }
    }
}

/// Counters over a chain client's lifetime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChainClientStats {
    /// Transmissions, head checks included.
    pub transmissions: u64,
    /// Fetches of the membership, and those that failed.
    pub fetches: u64,
    pub failed_fetches: u64,
    /// Datagrams on an operation's socket that did not answer it.
    pub ignored_replies: u64,
}

/// A client of a chain whose members it learns from the running
/// controller, one operation at a time. Like [`crate::Client`], each
/// operation has a socket of its own, used for all its transmissions
/// (whichever member they go to: the head matches a retransmission by its
/// source port) and kept open a while after.
#[derive(Debug)]
pub struct ChainClient {
    controllers: Vec<ControllerUrl>,
    options: ChainClientOptions,
    membership: Option<Membership>,
    stats: ChainClientStats,
    lingering: Lingering,
    /// The member the next read starts at, counted from the head: reads
    /// spread over the chain.
    next_read_offset: usize,
    /// The follower's clock counts nanoseconds from here.
    started: Instant,
}

impl ChainClient {
    /// A client that asks `controllers` in turn for the membership, first
    /// at its first operation and again after every failed try.
    pub fn new(controllers: Vec<ControllerUrl>, options: ChainClientOptions) -> ChainClient {
        ChainClient {
            controllers,
            options,
            membership: None,
            stats: ChainClientStats::default(),
            lingering: Lingering::new(options.total),
            next_read_offset: 0,
            started: Instant::now(),
        }
    }

    /// The membership last learnt.
    pub fn membership(&self) -> Option<&Membership> {
        self.membership.as_ref()
    }

    pub fn stats(&self) -> ChainClientStats {
        self.stats
    }

    /// Reads `key` at a member, moving to others as they fail.
    pub fn read(&mut self, key: u16) -> Result<ReadReply, ClientError> {
        let (version, value) = self.run(Operation::Read { key })?;
        Ok(ReadReply { version, value })
    }

    /// Writes `value` to `key` at the head, following it if it moves. On
    /// an error, see [`ClientError::write_may_have_applied`].
    pub fn write(&mut self, key: u16, value: Value) -> Result<WriteReply, ClientError> {
        let (version, _) = self.run(Operation::Write { key, value })?;
        Ok(WriteReply { version })
    }

    fn run(&mut self, operation: Operation) -> Result<(u8, Value), ClientError> {
        let local = SocketAddrV4::new(self.options.local_ip, 0);
        let socket = UdpSocket::bind(local).map_err(|source| ClientError::Io { node: local, source })?;
        let outcome = self.run_on(&socket, operation);
        self.lingering.keep(socket);
        outcome
    }

    fn run_on(&mut self, socket: &UdpSocket, operation: Operation) -> Result<(u8, Value), ClientError> {
        if operation.is_read() {
            self.next_read_offset = self.next_read_offset.wrapping_add(1);
        }
        let mut follower = Follower::new(operation, self.options.policy(), self.next_read_offset, self.now_ns());
        let mut step = follower.start(self.membership.as_ref(), self.now_ns());
        loop {
            step = match step {
                FollowStep::Done(result) => return result,
                FollowStep::Send { node, header, until_ns } => {
                    let to = SocketAddrV4::new(node, NETCRAQ_UDP_PORT);
                    let io_error = |source| ClientError::Io { node: to, source };
                    socket.send_to(&header_bytes(&header), to).map_err(io_error)?;
                    self.stats.transmissions += 1;
                    self.await_reply(socket, &mut follower, until_ns).map_err(io_error)?
                }
                FollowStep::Refresh { after_ns, until_ns } => {
                    std::thread::sleep(Duration::from_nanos(after_ns.saturating_sub(self.now_ns())));
                    let limit =
                        Duration::from_nanos(until_ns.saturating_sub(self.now_ns())).min(self.options.fetch_timeout);
                    self.stats.fetches += 1;
                    match fetch_membership(&self.controllers, limit) {
                        Ok(membership) => {
                            let step = follower.learned(Ok(&membership), self.now_ns());
                            self.membership = Some(membership);
                            step
                        }
                        Err(error) => {
                            self.stats.failed_fetches += 1;
                            follower.learned(Err(&error), self.now_ns())
                        }
                    }
                }
            }
        }
    }

    /// Hands every datagram to `follower` until one moves it on or `until_ns` passes.
    fn await_reply(&mut self, socket: &UdpSocket, follower: &mut Follower, until_ns: u64) -> io::Result<FollowStep> {
        let deadline = self.started + Duration::from_nanos(until_ns);
        let mut buffer = [0; crate::client::RECEIVE_BUFFER_LEN];
        while let Some(len) = receive_until(socket, deadline, &mut buffer)? {
            match parse_header(&buffer[..len]).and_then(|reply| follower.reply(&reply, self.now_ns())) {
                Some(step) => return Ok(step),
                None => self.stats.ignored_replies += 1,
            }
        }
        Ok(follower.timed_out(self.now_ns()))
    }

    fn now_ns(&self) -> u64 {
        nanos(self.started.elapsed())
    }
}

impl KeyValue for ChainClient {
    fn read(&mut self, key: u16) -> Result<ReadReply, ClientError> {
        ChainClient::read(self, key)
    }

    fn write(&mut self, key: u16, value: Value) -> Result<WriteReply, ClientError> {
        ChainClient::write(self, key, value)
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use netcraq_wire::{NetcraqRepr, Op};

    use super::*;
    use crate::membership::{ChainMembers, Member};

    /// Serves `membership` to every GET until the test ends.
    fn controller(membership: Membership) -> ControllerUrl {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap()).parse().unwrap();
        std::thread::spawn(move || {
            let body = membership.to_json();
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let _ = stream.read(&mut [0; 1024]);
                let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            }
        });
        url
    }

    #[test]
    fn a_read_moves_past_a_silent_member_to_one_that_answers() {
        let (silent, answering) = (Ipv4Addr::new(127, 0, 0, 61), Ipv4Addr::new(127, 0, 0, 62));
        let Ok(node) = UdpSocket::bind((answering, NETCRAQ_UDP_PORT)) else {
            eprintln!("SKIP: {answering}:{NETCRAQ_UDP_PORT} is taken");
            return;
        };
        let members =
            [("silent", silent), ("answering", answering)].map(|(name, ip)| Member { name: name.into(), ip }).to_vec();
        let chain = ChainMembers { name: "kv".into(), epoch: 2, key_lo: 0, key_hi: 16, members };
        let url = controller(Membership { chains: vec![chain] });
        let responder = std::thread::spawn(move || {
            let mut request = [0; 64];
            let (len, from) = node.recv_from(&mut request).unwrap();
            let asked = parse_header(&request[..len]).unwrap();
            let answer = NetcraqRepr { op: Op::ReadReply, version: 9, key: asked.key, value: [4; 16] };
            node.send_to(&header_bytes(&answer), from).unwrap();
        });
        let mut client = ChainClient::new(vec![url], ChainClientOptions::default());
        client.next_read_offset = usize::MAX; // the first read starts at the head: the silent one
        let read = client.read(5).unwrap();
        assert_eq!((read.version, read.value), (9, [4; 16]));
        responder.join().unwrap();
        let stats = client.stats();
        assert_eq!((stats.transmissions, stats.fetches, stats.failed_fetches), (2, 2, 0), "{stats:?}");
        assert_eq!(client.membership().map(|m| m.chains[0].epoch), Some(2));
    }

    #[test]
    fn without_a_controller_an_operation_fails_at_once_and_clearly() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url: ControllerUrl = format!("http://127.0.0.1:{port}").parse().unwrap();
        let mut client = ChainClient::new(vec![url], ChainClientOptions::default());
        let error = client.write(1, [1; 16]).unwrap_err();
        assert!(matches!(error, ClientError::NoMembership(_)), "{error}");
        assert!(!error.write_may_have_applied());
        assert!(error
            .to_string()
            .starts_with("could not learn the chain's members: no controller gave the membership"));
        assert_eq!(client.stats().transmissions, 0);
    }
}
