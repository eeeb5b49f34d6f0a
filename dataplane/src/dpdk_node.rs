//! The kernel-bypass backend: the core driven over DPDK ethdev ports by a
//! poll loop, the same core and the same fault injection as the software node
//! of [`crate::afpacket`].
//!
//! Each poll round takes a bounded burst from every port in turn. Each frame
//! is processed in place in its mbuf: the core's primary output is that mbuf,
//! cut to the output's length and sent on its egress port; the secondary
//! output (the tail's ACK) is copied from the scratch buffer into a freshly
//! allocated mbuf. Nothing else is allocated per frame, and the data path
//! does not panic: what cannot be sent is counted in [`IoCounters`].
//!
//! Transmission is batched per egress port, and a batch is sent as soon as a
//! frame for another port comes next: frames leave in exactly the order the
//! core produced them, across ports too, as from the software node.
//!
//! Every mbuf sent carries its egress port id in the mbuf's `port` field (as
//! DPDK's event Tx adapter uses it), which drivers ignore on transmit and a
//! capture on a ring can read.
//!
//! This module has no `unsafe`: all of it is in the `netcraq-dpdk` crate.

use crate::afpacket::IoCounters;
use crate::faults::{FaultDecision, FaultInjector, FaultSettings};
use netcraq_core::Node;
use netcraq_dpdk::{Mbuf, Mempool, Port, PortSettings};
use netcraq_wire::NETCRAQ_FRAME_LEN;
use std::fmt;
use std::time::{Duration, Instant};

/// The largest burst: frames taken from one port per round, and frames sent
/// in one transmit call.
pub const MAX_BURST: usize = 64;
/// How long a frame held back for reordering waits for the next frame on its
/// port once the node falls idle (as on the software node).
const HOLD_LIMIT: Duration = Duration::from_millis(20);
/// Empty poll rounds in a row before the node counts as idle and backs off.
const IDLE_AFTER_ROUNDS: u32 = 64;
/// Busy poll rounds between two looks at the clock (for reports).
const CLOCK_EVERY_ROUNDS: u32 = 1024;

/// What the poll loop does once it has found nothing to receive for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Keep polling at full speed: lowest latency, one CPU at 100 %.
    Spin,
    /// Yield the CPU between rounds.
    Yield,
    /// Sleep this long between rounds: correctness tests can run more
    /// pollers than there are cores. Adds up to that much latency to the
    /// first frame after a quiet spell.
    Sleep(Duration),
}

impl Idle {
    fn wait(self) {
        match self {
            Idle::Spin => std::hint::spin_loop(),
            Idle::Yield => std::thread::yield_now(),
            Idle::Sleep(duration) => std::thread::sleep(duration),
        }
    }
}

impl fmt::Display for Idle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Idle::Spin => write!(f, "spin"),
            Idle::Yield => write!(f, "yield"),
            Idle::Sleep(duration) => write!(f, "sleep:{}", duration.as_micros()),
        }
    }
}

/// How the node polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpdkSettings {
    /// Frames taken from a port per round and sent per transmit call, 1..=[`MAX_BURST`].
    pub burst: usize,
    pub idle: Idle,
    /// Descriptors of each port's queues.
    pub port: PortSettings,
}

impl Default for DpdkSettings {
    fn default() -> Self {
        DpdkSettings { burst: 32, idle: Idle::Spin, port: PortSettings::default() }
    }
}

/// A port to drive: its number in the tables, the DPDK port (not yet
/// started) and the faults to inject on what it sends.
#[derive(Debug)]
pub struct DpdkPortSpec {
    pub number: u16,
    pub port: Port,
    pub faults: FaultSettings,
}

/// One node port: its number in the tables, the DPDK port, its faults and
/// the frame it holds back for reordering.
struct NodePort {
    number: u16,
    port: Port,
    faults: FaultInjector,
    held: Option<Mbuf>,
}

/// Frames waiting to be sent, all to one port.
struct TxBatch {
    slots: [Option<Mbuf>; MAX_BURST],
    len: usize,
    port: usize,
}

/// The core over DPDK ports.
pub struct DpdkNode {
    node: Node,
    pool: Mempool,
    ports: Vec<NodePort>,
    settings: DpdkSettings,
    io: IoCounters,
    rx: [Option<Mbuf>; MAX_BURST],
    tx: TxBatch,
    scratch: [u8; NETCRAQ_FRAME_LEN],
}

impl DpdkNode {
    /// Starts every port (one receive queue filled from `pool`, one transmit
    /// queue) and returns the node, ready to poll.
    pub fn start(node: Node, pool: Mempool, ports: Vec<DpdkPortSpec>, settings: DpdkSettings) -> Result<Self, String> {
        if !(1..=MAX_BURST).contains(&settings.burst) {
            return Err(format!("burst {} is outside 1..={MAX_BURST}", settings.burst));
        }
        let mut started = Vec::with_capacity(ports.len());
        for spec in ports {
            let label = format!("port {} ({})", spec.number, spec.port.name());
            if started.iter().any(|p: &NodePort| p.number == spec.number) {
                return Err(format!("{label}: the node already has a port {}", spec.number));
            }
            spec.faults.validate().map_err(|e| format!("{label}: {e}"))?;
            let mut port = spec.port;
            port.start(&pool, &settings.port).map_err(|e| format!("{label}: {e}"))?;
            started.push(NodePort { number: spec.number, port, faults: FaultInjector::new(spec.faults), held: None });
        }
        Ok(DpdkNode {
            node,
            pool,
            ports: started,
            settings,
            io: IoCounters::default(),
            rx: std::array::from_fn(|_| None),
            tx: TxBatch { slots: std::array::from_fn(|_| None), len: 0, port: 0 },
            scratch: [0; NETCRAQ_FRAME_LEN],
        })
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The core, to install or inspect tables and registers between polls.
    pub fn node_mut(&mut self) -> &mut Node {
        &mut self.node
    }

    pub fn pool(&self) -> &Mempool {
        &self.pool
    }

    pub fn settings(&self) -> &DpdkSettings {
        &self.settings
    }

    /// The node's ports: each port number with its DPDK port.
    pub fn ports(&self) -> impl Iterator<Item = (u16, &Port)> {
        self.ports.iter().map(|p| (p.number, &p.port))
    }

    /// The I/O counters, fault counters summed over the ports.
    pub fn io_counters(&self) -> IoCounters {
        let mut io = self.io;
        for port in &self.ports {
            io.fault_dropped += port.faults.counters.dropped;
            io.fault_duplicated += port.faults.counters.duplicated;
            io.fault_reordered += port.faults.counters.reordered;
        }
        io
    }

    /// Runs until `should_stop` says so (asked every poll round), calling
    /// `report` about every `report_every` and once at the end. Idle rounds
    /// back off as [`DpdkSettings::idle`] says.
    pub fn run(
        &mut self,
        mut should_stop: impl FnMut() -> bool,
        report_every: Duration,
        mut report: impl FnMut(&Self),
    ) {
        let mut last_report = Instant::now();
        let mut idle_since: Option<Instant> = None;
        let (mut empty_rounds, mut busy_rounds) = (0u32, 0u32);
        while !should_stop() {
            if self.poll_once() > 0 {
                (empty_rounds, idle_since) = (0, None);
                busy_rounds = busy_rounds.wrapping_add(1);
                if busy_rounds % CLOCK_EVERY_ROUNDS == 0 && last_report.elapsed() >= report_every {
                    report(self);
                    last_report = Instant::now();
                }
                continue;
            }
            empty_rounds = empty_rounds.saturating_add(1);
            if empty_rounds < IDLE_AFTER_ROUNDS {
                continue;
            }
            let now = Instant::now();
            let since = *idle_since.get_or_insert(now);
            if now.duration_since(since) >= HOLD_LIMIT {
                self.flush_held();
            }
            if now.duration_since(last_report) >= report_every {
                report(self);
                last_report = now;
            }
            self.settings.idle.wait();
        }
        self.flush_held();
        report(self);
    }

    /// One poll round: a burst from each port in turn, each frame through the
    /// core and its outputs sent. Returns the frames received.
    pub fn poll_once(&mut self) -> usize {
        let burst = self.settings.burst;
        let mut received = 0;
        for index in 0..self.ports.len() {
            let count = self.ports[index].port.rx_burst(&mut self.rx[..burst]);
            received += count;
            for slot in 0..count {
                if let Some(mbuf) = self.rx[slot].take() {
                    self.handle(index, mbuf);
                }
            }
        }
        self.io.rx_frames += received as u64;
        self.flush_tx();
        received
    }

    /// Sends the frames held back for reordering, so none is lost.
    pub fn flush_held(&mut self) {
        for index in 0..self.ports.len() {
            if let Some(mbuf) = self.ports[index].held.take() {
                self.queue(index, mbuf);
            }
        }
        self.flush_tx();
    }

    fn handle(&mut self, ingress: usize, mut mbuf: Mbuf) {
        if mbuf.segments() != 1 {
            // Longer than one mbuf holds: no NetCRAQ frame is, and the
            // core needs the frame in one piece.
            self.io.rx_errors += 1;
            return;
        }
        let verdict = self.node.process(self.ports[ingress].number, mbuf.data_mut(), &mut self.scratch);
        match verdict.primary {
            Some(egress) => match mbuf.set_len(egress.len) {
                Ok(()) => self.send(egress.port, mbuf),
                Err(_) => self.io.tx_errors += 1,
            },
            None => drop(mbuf),
        }
        if let Some(egress) = verdict.secondary {
            let copy = self.scratch.get(..egress.len).and_then(|bytes| Mbuf::from_bytes(&self.pool, bytes));
            match copy {
                Some(mbuf) => self.send(egress.port, mbuf),
                None => self.io.tx_errors += 1,
            }
        }
    }

    /// Sends one frame on the port numbered `number`, through its fault injection.
    fn send(&mut self, number: u16, mbuf: Mbuf) {
        let Some(index) = self.ports.iter().position(|p| p.number == number) else {
            self.io.tx_no_port += 1;
            return;
        };
        let decision = self.ports[index].faults.decide(mbuf.data());
        match decision {
            FaultDecision::Drop => return,
            FaultDecision::Send => self.queue(index, mbuf),
            FaultDecision::SendTwice => {
                let copy = Mbuf::from_bytes(&self.pool, mbuf.data());
                self.queue(index, mbuf);
                match copy {
                    Some(copy) => self.queue(index, copy),
                    None => self.io.tx_errors += 1,
                }
            }
            FaultDecision::HoldBack if self.ports[index].held.is_none() => {
                self.ports[index].held = Some(mbuf);
                return;
            }
            FaultDecision::HoldBack => self.queue(index, mbuf),
        }
        if let Some(held) = self.ports[index].held.take() {
            self.queue(index, held);
        }
    }

    /// Adds a frame to the transmit batch, first sending the batch if it is
    /// full or for another port.
    fn queue(&mut self, index: usize, mut mbuf: Mbuf) {
        if self.tx.len > 0 && (self.tx.port != index || self.tx.len >= self.settings.burst) {
            self.flush_tx();
        }
        mbuf.set_port(self.ports[index].port.id());
        self.tx.port = index;
        match self.tx.slots.get_mut(self.tx.len) {
            Some(slot) => {
                *slot = Some(mbuf);
                self.tx.len += 1;
            }
            None => self.io.tx_errors += 1,
        }
    }

    /// Sends the transmit batch; what the driver does not take is dropped and counted.
    fn flush_tx(&mut self) {
        let len = self.tx.len;
        if len == 0 {
            return;
        }
        self.tx.len = 0;
        let slots = &mut self.tx.slots[..len];
        let sent = self.ports[self.tx.port].port.tx_burst(slots);
        self.io.tx_frames += sent as u64;
        if sent < len {
            self.io.tx_errors += (len - sent) as u64;
            slots.iter_mut().for_each(|slot| *slot = None);
        }
    }
}
