//! A NetCRAQ chain of one (role SOLO, docs/protocol.md §5.1) on 127.0.0.1,
//! with faults to inject. On loopback a datagram's payload is exactly the
//! 20-byte header.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use netcraq_wire::{ErrorCode, NetcraqHeader, NetcraqRepr, Op, NETCRAQ_HEADER_LEN};

/// What the responder does besides answering correctly.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Keys served; others get `ERROR KEY_OUT_OF_RANGE`.
    pub key_range: Range<u16>,
    /// Ignore the first this many requests, as if lost on the way.
    pub drop_first_requests: usize,
    /// Handle but do not answer the first this many requests, as if the
    /// replies were lost.
    pub drop_first_replies: usize,
    /// Ignore every request whose sequence number (from 1) is a multiple.
    pub drop_every_nth_request: Option<usize>,
    /// Answer the first this many first transmissions of WRITEs with
    /// `ERROR WINDOW_FULL`, as a head with 127 uncommitted writes does.
    pub refuse_first_writes: usize,
    /// Send every reply twice.
    pub duplicate_replies: bool,
    /// Before each reply, send the same requester a READ_REPLY for another
    /// key and a WRITE_REPLY for the right key but a wrong value.
    pub send_wrong_replies_first: bool,
    /// Before handling a request, send the last READ_REPLY again to whoever
    /// it went to, as a late duplicate.
    pub resend_last_read_reply: bool,
    /// Wait this long before each reply (the responder is single-threaded,
    /// so this delays everything after it too).
    pub reply_delay: Duration,
    /// Answer reads with the value before the last write: a broken store.
    pub serve_stale_reads: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            key_range: 0..1024,
            drop_first_requests: 0,
            drop_first_replies: 0,
            drop_every_nth_request: None,
            refuse_first_writes: 0,
            duplicate_replies: false,
            send_wrong_replies_first: false,
            resend_last_read_reply: false,
            reply_delay: Duration::ZERO,
            serve_stale_reads: false,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Register {
    pub version: u8,
    pub value: [u8; 16],
    pub previous_value: [u8; 16],
    writer: Option<SocketAddr>,
}

#[derive(Debug, Default)]
pub struct Log {
    /// Every request received, dropped ones included, in order.
    pub requests: Vec<NetcraqRepr>,
    pub registers: HashMap<u16, Register>,
    pub late_duplicates_sent: usize,
    pub writes_refused: usize,
}

pub struct Responder {
    addr: SocketAddrV4,
    log: Arc<Mutex<Log>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    pub fn start(faults: Faults) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the responder");
        // Lets the thread notice `stop` within this long.
        socket.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
        let addr = match socket.local_addr().unwrap() {
            SocketAddr::V4(addr) => addr,
            SocketAddr::V6(_) => unreachable!("bound to an IPv4 address"),
        };
        let log = Arc::new(Mutex::new(Log::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let node = Node { socket, faults, log: log.clone(), last_read_reply: None };
        let stop_flag = stop.clone();
        let thread = thread::spawn(move || node.serve(&stop_flag));
        Responder { addr, log, stop, thread: Some(thread) }
    }

    pub fn addr(&self) -> SocketAddrV4 {
        self.addr
    }

    pub fn requests(&self) -> Vec<NetcraqRepr> {
        self.log.lock().unwrap().requests.clone()
    }

    pub fn register(&self, key: u16) -> Register {
        self.log.lock().unwrap().registers.get(&key).copied().unwrap_or_default()
    }

    pub fn late_duplicates_sent(&self) -> usize {
        self.log.lock().unwrap().late_duplicates_sent
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("responder thread panicked");
        }
    }
}

struct Node {
    socket: UdpSocket,
    faults: Faults,
    log: Arc<Mutex<Log>>,
    last_read_reply: Option<(NetcraqRepr, SocketAddr)>,
}

impl Node {
    /// Serves until `stop` is set; each wait lasts the socket's read timeout.
    fn serve(mut self, stop: &AtomicBool) {
        let mut buffer = [0; 64];
        while !stop.load(Ordering::Relaxed) {
            let Ok((len, from)) = self.socket.recv_from(&mut buffer) else { continue };
            assert_eq!(len, NETCRAQ_HEADER_LEN, "a request is exactly one header");
            let request = NetcraqRepr::parse(&NetcraqHeader::new_unchecked(&buffer[..len])).expect("a known op");
            self.handle(request, from);
        }
    }

    fn handle(&mut self, request: NetcraqRepr, from: SocketAddr) {
        let sequence = {
            let mut log = self.log.lock().unwrap();
            log.requests.push(request);
            log.requests.len()
        };
        if sequence <= self.faults.drop_first_requests
            || self.faults.drop_every_nth_request.is_some_and(|nth| sequence % nth == 0)
        {
            return;
        }
        if self.faults.resend_last_read_reply {
            self.resend_last_read_reply();
        }
        let Some(reply) = self.answer(request, from) else { return };
        if sequence <= self.faults.drop_first_requests + self.faults.drop_first_replies {
            return;
        }
        thread::sleep(self.faults.reply_delay);
        if self.faults.send_wrong_replies_first {
            let wrong_key = NetcraqRepr { op: Op::ReadReply, key: reply.key.wrapping_add(1), ..reply };
            let wrong_value = NetcraqRepr { op: Op::WriteReply, value: [0xee; 16], ..reply };
            self.send(wrong_key, from);
            self.send(wrong_value, from);
        }
        self.send(reply, from);
        if self.faults.duplicate_replies {
            self.send(reply, from);
        }
        if reply.op == Op::ReadReply {
            self.last_read_reply = Some((reply, from));
        }
    }

    fn resend_last_read_reply(&mut self) {
        if let Some((reply, to)) = self.last_read_reply {
            self.send(reply, to);
            self.log.lock().unwrap().late_duplicates_sent += 1;
        }
    }

    /// The SOLO rows of docs/protocol.md §5.1.
    fn answer(&mut self, request: NetcraqRepr, from: SocketAddr) -> Option<NetcraqRepr> {
        if !self.faults.key_range.contains(&request.key) {
            let is_request = matches!(request.op, Op::Read | Op::Write);
            return is_request.then_some(error_reply(request, ErrorCode::KeyOutOfRange));
        }
        let mut log = self.log.lock().unwrap();
        let Log { registers, writes_refused, .. } = &mut *log;
        let register = registers.entry(request.key).or_default();
        match request.op {
            Op::Read => {
                let value = if self.faults.serve_stale_reads { register.previous_value } else { register.value };
                Some(NetcraqRepr { op: Op::ReadReply, version: register.version, value, ..request })
            }
            Op::Write if register.writer == Some(from) && register.value == request.value => {
                Some(NetcraqRepr { op: Op::WriteReply, version: register.version, ..request })
            }
            Op::Write if request.version != 0 => Some(error_reply(request, ErrorCode::OutcomeUnknown)),
            Op::Write if *writes_refused < self.faults.refuse_first_writes => {
                *writes_refused += 1;
                Some(error_reply(request, ErrorCode::WindowFull))
            }
            Op::Write => {
                *register = Register {
                    version: register.version.wrapping_add(1),
                    value: request.value,
                    previous_value: register.value,
                    writer: Some(from),
                };
                Some(NetcraqRepr { op: Op::WriteReply, version: register.version, ..request })
            }
            _ => None,
        }
    }

    fn send(&self, reply: NetcraqRepr, to: SocketAddr) {
        let mut bytes = [0; NETCRAQ_HEADER_LEN];
        reply.emit(&mut NetcraqHeader::new_unchecked(&mut bytes));
        // A send to a socket the client has closed fails or vanishes; both are
        // what a real network does.
        let _ = self.socket.send_to(&bytes, to);
    }
}

/// An ERROR reply echoes the request's key and value (docs/protocol.md §1.3).
fn error_reply(request: NetcraqRepr, code: ErrorCode) -> NetcraqRepr {
    NetcraqRepr { op: Op::Error, version: code as u8, ..request }
}
