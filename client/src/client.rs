//! The blocking client: one operation at a time, driving the
//! [`ClientMachine`] with a UDP socket and the system clock.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use netcraq_linearizability::Value;

use crate::error::ClientError;
use crate::linger::Lingering;
use crate::machine::{ClientMachine, Expiry, Finished, Received, RetryPolicy};
use crate::request::{header_bytes, parse_header, Operation, ReadReply, WriteReply};

/// Bytes received per datagram: more than a header, so that a longer
/// datagram shows as the wrong length instead of being cut to fit.
pub(crate) const RECEIVE_BUFFER_LEN: usize = 64;

/// How requests are sent and retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// How long to wait for a reply before retransmitting. Default 20 ms,
    /// many chain round trips even for software nodes, yet short enough that
    /// a lost packet costs little.
    pub timeout: Duration,
    /// How many times to retransmit after the first transmission before
    /// giving up. Default 5, so an operation fails after 6 × `timeout`.
    pub retries: u32,
    /// The address requests are sent from. Default `0.0.0.0`: the kernel
    /// picks one by route.
    pub local_ip: Ipv4Addr,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions { timeout: Duration::from_millis(20), retries: 5, local_ip: Ipv4Addr::UNSPECIFIED }
    }
}

impl ClientOptions {
    pub(crate) fn attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }

    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        let timeout_ns = u64::try_from(self.timeout.as_nanos()).unwrap_or(u64::MAX);
        RetryPolicy { timeout_ns, attempts: self.attempts() }
    }
}

/// Counters over a client's lifetime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Retransmissions, not counting first transmissions.
    pub retransmissions: u64,
    /// Datagrams that arrived on a request's socket but were not a reply to
    /// it (wrong op, key or value), and were ignored.
    pub ignored_replies: u64,
}

/// A client of one NetCRAQ node, running one operation at a time.
///
/// Each operation gets its own UDP socket, so its own source port, reused
/// for its retransmissions: the head recognises a retransmission by source
/// address, port and value (docs/protocol.md §3.4). A finished operation's
/// socket stays open for as long as it could have been retransmitting (up to
/// a bound), so the kernel cannot hand its port to a later operation that
/// would take a late reply for its own. The socket is not connected, because
/// the reply may come from another node than the one asked (the tail answers
/// writes, and reads of dirty keys).
#[derive(Debug)]
pub struct Client {
    node: SocketAddrV4,
    options: ClientOptions,
    stats: ClientStats,
    lingering: Lingering,
    /// The machine's clock counts nanoseconds from here.
    started: Instant,
}

impl Client {
    pub fn new(node: SocketAddrV4, options: ClientOptions) -> Self {
        let lingering = Lingering::new(options.timeout * options.attempts());
        Client { node, options, stats: ClientStats::default(), lingering, started: Instant::now() }
    }

    pub fn node(&self) -> SocketAddrV4 {
        self.node
    }

    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// Reads `key`, retransmitting on each timeout.
    pub fn read(&mut self, key: u16) -> Result<ReadReply, ClientError> {
        let (version, value) = self.exchange(Operation::Read { key })?;
        Ok(ReadReply { version, value })
    }

    /// Writes `value` to `key`, retransmitting on each timeout with `version`
    /// 1 so that the head applies it at most once. On an error, see
    /// [`ClientError::write_may_have_applied`].
    pub fn write(&mut self, key: u16, value: Value) -> Result<WriteReply, ClientError> {
        let (version, _) = self.exchange(Operation::Write { key, value })?;
        Ok(WriteReply { version })
    }

    /// Sends `operation` until a reply matches it or the attempts run out.
    fn exchange(&mut self, operation: Operation) -> Result<(u8, Value), ClientError> {
        let node = self.node;
        let socket = UdpSocket::bind((self.options.local_ip, 0)).map_err(|source| ClientError::Io { node, source })?;
        let outcome = self.exchange_on(&socket, operation);
        self.lingering.keep(socket);
        outcome
    }

    fn exchange_on(&mut self, socket: &UdpSocket, operation: Operation) -> Result<(u8, Value), ClientError> {
        let node = self.node;
        let io_error = |source| ClientError::Io { node, source };
        let mut machine = ClientMachine::new(1, self.options.retry_policy());
        let first = machine.issue(0, operation, (), self.now_ns()).expect("the only slot is free");
        socket.send_to(&header_bytes(&first.header), node).map_err(io_error)?;
        loop {
            if let Some(finished) = self.await_reply(socket, &mut machine).map_err(io_error)? {
                return ClientError::result_of(&finished, node);
            }
            match machine.expire(0, self.now_ns()) {
                Some(Expiry::Retransmit(again)) => {
                    socket.send_to(&header_bytes(&again.header), node).map_err(io_error)?;
                    self.stats.retransmissions += 1;
                }
                Some(Expiry::GaveUp(finished)) => return ClientError::result_of(&finished, node),
                // Woken a little before the deadline: wait out the rest.
                None => {}
            }
        }
    }

    /// Receives until a datagram answers the operation in flight or its
    /// deadline passes. The loop ends by the deadline however many stray
    /// datagrams arrive.
    fn await_reply(&mut self, socket: &UdpSocket, machine: &mut ClientMachine<()>) -> io::Result<Option<Finished<()>>> {
        let deadline_ns = machine.next_deadline_ns().unwrap_or_default();
        let deadline = self.started + Duration::from_nanos(deadline_ns);
        let mut buffer = [0; RECEIVE_BUFFER_LEN];
        while let Some(len) = receive_until(socket, deadline, &mut buffer)? {
            let received = parse_header(&buffer[..len]).map(|reply| machine.receive(0, None, &reply, self.now_ns()));
            match received {
                Some(Received::Finished(finished)) => return Ok(Some(finished)),
                _ => self.stats.ignored_replies += 1,
            }
        }
        Ok(None)
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Reads and writes one at a time: a [`Client`] of one node, or a
/// [`crate::ChainClient`] that follows a chain's members.
pub trait KeyValue {
    fn read(&mut self, key: u16) -> Result<ReadReply, ClientError>;
    fn write(&mut self, key: u16, value: Value) -> Result<WriteReply, ClientError>;
}

impl KeyValue for Client {
    fn read(&mut self, key: u16) -> Result<ReadReply, ClientError> {
        Client::read(self, key)
    }

    fn write(&mut self, key: u16, value: Value) -> Result<WriteReply, ClientError> {
        Client::write(self, key, value)
    }
}

/// The next datagram on `socket`, its length in `buffer`, or `None` once
/// `deadline` passes.
pub(crate) fn receive_until(socket: &UdpSocket, deadline: Instant, buffer: &mut [u8]) -> io::Result<Option<usize>> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Ok(None);
    }
    socket.set_read_timeout(Some(remaining))?;
    match socket.recv(buffer) {
        Ok(len) => Ok(Some(len)),
        Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(None),
        Err(error) => Err(error),
    }
}
