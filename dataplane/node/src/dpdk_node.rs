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
//! Several lcores ([`DpdkNode::start_lcores`], [`run_lcores`]): each lcore
//! runs one `DpdkNode` over its own queue pair of every port, and owns the
//! keys `k` with `k % lcores == its index`. A frame that arrives on another
//! lcore's queue is handed to its key's owner through the owner's hand-off
//! ring (a lock-free DPDK ring, bounded; a full ring drops the frame and
//! counts it, as a full NIC queue would). So each key's registers and its
//! frames' processing belong to one lcore: no lock, no atomic and no shared
//! cache line on the read path, and each key sees one sequence of frames,
//! as on a single-core node. docs/dpdk.md argues why the order in which an
//! owner takes frames from its queue and its ring is harmless.
//!
//! This module has no `unsafe`: all of it is in the `netcraq-dpdk` crate.

use crate::control::ControlPort;
use crate::idle::Idle;
use crate::lcore_control::key_owner;
use crate::lease_clock::LeaseClock;
use crate::service_rate::{Arrivals, ServiceRate};
use crate::shell::{port_index, with_fault_counts, IoCounters, PortShell, Transmit};
use netcraq_core::faults::FaultSettings;
use netcraq_core::Node;
use netcraq_dpdk::{Eal, Mbuf, MbufRing, Mempool, Port, PortQueue, PortSettings};
use netcraq_wire::CHAIN_FRAME_LEN;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
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
/// Frames each lcore's hand-off ring holds (a power of two; it holds one less).
pub const HANDOFF_RING_SIZE: u32 = 1024;
/// How long a memif port waits for the node at its other end.
const MEMIF_PEER_WAIT: Duration = Duration::from_secs(20);
/// How often it looks again.
const MEMIF_RETRY: Duration = Duration::from_millis(20);
/// The most lcores a node polls on.
pub const MAX_LCORES: usize = 64;
/// Frames a busy spell processes between two readings of the lease clock:
/// see [`DpdkNode::run`].
const FRAMES_PER_CLOCK_READING: usize = 256;

/// How the node polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpdkSettings {
    /// Frames taken from a port per round and sent per transmit call, 1..=[`MAX_BURST`].
    pub burst: usize,
    pub idle: Idle,
    /// Descriptors of each port's queues.
    pub port: PortSettings,
    /// The cap on frames the node takes per second, shared evenly by its lcores.
    pub service_rate_fps: Option<u32>,
}

impl Default for DpdkSettings {
    fn default() -> Self {
        DpdkSettings { burst: 32, idle: Idle::Spin, port: PortSettings::default(), service_rate_fps: None }
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

/// Where frames of keys another lcore owns go: `rings[i]` is lcore i's inbound ring.
struct Handoff {
    lcore: usize,
    rings: Arc<[MbufRing]>,
}

impl Handoff {
    /// The lcore owning the key of `frame`. Frames too short to hold a key
    /// stay where they are: the core drops them, and any lcore may count that.
    fn owner(&self, frame: &[u8]) -> usize {
        key_owner(frame, self.rings.len()).unwrap_or(self.lcore)
    }
}

/// Frames waiting to be sent, all to one port.
struct TxBatch {
    slots: [Option<Mbuf>; MAX_BURST],
    len: usize,
    port: usize,
}

impl TxBatch {
    /// Adds a frame for `queues[index]`, first sending the batch if it is
    /// full or for another port.
    fn push(&mut self, queues: &mut [PortQueue], index: usize, mut mbuf: Mbuf, burst: usize, io: &mut IoCounters) {
        if self.len > 0 && (self.port != index || self.len >= burst) {
            self.flush(queues, io);
        }
        mbuf.set_port(queues[index].port().id());
        self.port = index;
        match self.slots.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(mbuf);
                self.len += 1;
            }
            None => io.tx_errors += 1,
        }
    }

    /// Sends the batch; what the driver does not take is dropped and counted.
    fn flush(&mut self, queues: &mut [PortQueue], io: &mut IoCounters) {
        let len = self.len;
        if len == 0 {
            return;
        }
        self.len = 0;
        let slots = &mut self.slots[..len];
        let batch_bytes = frame_bytes(slots);
        let sent = queues[self.port].tx_burst(slots);
        io.tx_frames += sent as u64;
        // What the driver did not take stays in the slots.
        io.tx_bytes += batch_bytes - frame_bytes(slots);
        if sent < len {
            io.tx_errors += (len - sent) as u64;
            slots.iter_mut().for_each(|slot| *slot = None);
        }
    }
}

/// The bytes of the frames in `slots`.
fn frame_bytes(slots: &[Option<Mbuf>]) -> u64 {
    slots.iter().flatten().map(|mbuf| mbuf.data().len() as u64).sum()
}

/// How the shell's frames leave by `queues[index]`: into the transmit
/// batch, a duplicate copied into a fresh mbuf.
struct Sender<'n> {
    queues: &'n mut [PortQueue],
    batch: &'n mut TxBatch,
    pool: Mempool,
    burst: usize,
    index: usize,
}

impl Transmit for Sender<'_> {
    type Frame<'f> = Mbuf;
    type Held = Mbuf;

    fn bytes(frame: &Mbuf) -> &[u8] {
        frame.data()
    }

    fn send(&mut self, frame: Mbuf, io: &mut IoCounters) {
        self.batch.push(self.queues, self.index, frame, self.burst, io);
    }

    fn send_twice(&mut self, frame: Mbuf, io: &mut IoCounters) {
        let copy = Mbuf::from_bytes(&self.pool, frame.data());
        self.send(frame, io);
        match copy {
            Some(copy) => self.send(copy, io),
            None => io.tx_errors += 1,
        }
    }

    fn hold(&mut self, frame: Mbuf) -> Mbuf {
        frame
    }

    fn send_held(&mut self, held: Mbuf, io: &mut IoCounters) {
        self.send(held, io);
    }
}

/// The core over DPDK ports, polled by one lcore: over every port, or over
/// one queue of every port and the keys that lcore owns.
pub struct DpdkNode {
    node: Node,
    pool: Mempool,
    /// This lcore's queue of each port; `queues[i]` carries the port of `shells[i]`.
    queues: Vec<PortQueue>,
    shells: Vec<PortShell<Mbuf>>,
    handoff: Handoff,
    /// Requests from the control plane, applied between poll rounds.
    control: Option<ControlPort>,
    settings: DpdkSettings,
    service_rate: Option<ServiceRate>,
    /// Frames taken and not yet served, when capped (`service_rate`).
    arrivals: Arrivals<Mbuf>,
    lease_clock: LeaseClock,
    io: IoCounters,
    rx: [Option<Mbuf>; MAX_BURST],
    tx: TxBatch,
    scratch: [u8; CHAIN_FRAME_LEN],
}

impl DpdkNode {
    /// Starts every port (one queue pair, receive buffers from `pool`) and
    /// returns the node, ready to poll on one lcore.
    pub fn start(node: Node, pool: Mempool, ports: Vec<DpdkPortSpec>, settings: DpdkSettings) -> Result<Self, String> {
        let mut lcores = Self::start_lcores(None, node, pool, ports, settings, 1)?;
        lcores.pop().ok_or_else(|| "no lcore to poll on".to_string())
    }

    /// Starts every port with `lcores` queue pairs and returns one node per
    /// lcore, each over its own queue of every port and owning its share of
    /// the keys, all configured as `node`; run them with [`run_lcores`].
    /// More than one lcore needs the EAL, to make the hand-off rings.
    pub fn start_lcores(
        eal: Option<&Eal>,
        node: Node,
        pool: Mempool,
        ports: Vec<DpdkPortSpec>,
        settings: DpdkSettings,
        lcores: usize,
    ) -> Result<Vec<Self>, String> {
        if !(1..=MAX_BURST).contains(&settings.burst) {
            return Err(format!("burst {} is outside 1..={MAX_BURST}", settings.burst));
        }
        if !(1..=MAX_LCORES).contains(&lcores) {
            return Err(format!("{lcores} lcores: a node polls on 1 to {MAX_LCORES}"));
        }
        let port_settings = PortSettings { queues: lcores as u16, ..settings.port };
        let mut queues_by_port = Vec::with_capacity(ports.len());
        let mut started: Vec<(String, u16, FaultSettings, Port)> = Vec::with_capacity(ports.len());
        for spec in ports {
            let label = format!("port {} ({})", spec.number, spec.port.name());
            if started.iter().any(|(_, number, _, _)| *number == spec.number) {
                return Err(format!("{label}: the node already has a port {}", spec.number));
            }
            spec.faults.faults.validate().map_err(|e| format!("{label}: {e}"))?;
            let mut port = spec.port;
            start_port(&mut port, &pool, &port_settings).map_err(|e| format!("{label}: {e}"))?;
            started.push((label, spec.number, spec.faults, port));
        }
        // Every port first, then the links: two nodes joined by memif links
        // both ways each wait for the other's ports.
        for (label, number, faults, port) in started {
            wait_for_memif_peer(&port).map_err(|e| format!("{label}: {e}"))?;
            let queues = port.into_queues().map_err(|e| format!("{label}: {e}"))?;
            queues_by_port.push((number, faults, queues.into_iter()));
        }
        let rings = handoff_rings(eal, lcores)?;
        let lcore_rate_fps = settings.service_rate_fps.map(|fps| (fps / lcores as u32).max(1));
        let service_rate = lcore_rate_fps.map(|fps| ServiceRate::new(fps, Instant::now())).transpose()?;
        let lease_clock = LeaseClock::start();
        let mut nodes = Vec::with_capacity(lcores);
        for lcore in 0..lcores {
            let mut queues = Vec::with_capacity(queues_by_port.len());
            let mut shells = Vec::with_capacity(queues_by_port.len());
            for (number, faults, port_queues) in &mut queues_by_port {
                queues.push(port_queues.next().ok_or_else(|| format!("port {number}: fewer queues than lcores"))?);
                // Each lcore its own fault sequence, reproducible from the seed.
                let faults = FaultSettings { seed: faults.seed.wrapping_add(lcore as u64), ..*faults };
                shells.push(PortShell::new(*number, faults).map_err(|e| format!("port {number}: {e}"))?);
            }
            nodes.push(DpdkNode {
                node: node.clone(),
                pool,
                queues,
                shells,
                handoff: Handoff { lcore, rings: Arc::clone(&rings) },
                control: None,
                settings,
                service_rate,
                arrivals: Arrivals::default(),
                lease_clock,
                io: IoCounters::default(),
                rx: std::array::from_fn(|_| None),
                tx: TxBatch { slots: std::array::from_fn(|_| None), len: 0, port: 0 },
                scratch: [0; CHAIN_FRAME_LEN],
            });
        }
        Ok(nodes)
    }

    /// Serves control requests from `port` between poll rounds (one
    /// `try_recv` per round when none waits).
    pub fn attach_control(&mut self, port: ControlPort) {
        self.control = Some(port);
    }

    /// Which lcore of the node this is (0 on a one-lcore node).
    pub fn lcore(&self) -> usize {
        self.handoff.lcore
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
        self.shells.iter().zip(&self.queues).map(|(shell, queue)| (shell.number(), queue.port()))
    }

    /// The I/O counters, fault counters summed over the ports.
    pub fn io_counters(&self) -> IoCounters {
        with_fault_counts(self.io, &self.shells)
    }

    /// Runs until `should_stop` says so (asked every poll round), calling
    /// `report` about every `report_every` and once at the end. Idle rounds
    /// back off as [`DpdkSettings::idle`] says.
    ///
    /// The core's lease clock is set before the first round after an empty
    /// one, so no frame after an idle spell meets a clock from before it
    /// (an early clock makes a lapsed lease look held), and in a busy spell
    /// after every [`FRAMES_PER_CLOCK_READING`] frames. Reading the clock
    /// costs about 70 ns on a VM, a few percent of a short busy round if
    /// read every round, and under 0.3 ns per frame this way; those frames
    /// take well under a tick (1.024 ms), so the clock lags by less than its
    /// own resolution. Empty rounds are idle time, where a reading costs
    /// nothing that matters.
    pub fn run(
        &mut self,
        mut should_stop: impl FnMut() -> bool,
        report_every: Duration,
        mut report: impl FnMut(&Self),
    ) {
        let mut last_report = Instant::now();
        let mut idle_since: Option<Instant> = None;
        let (mut empty_rounds, mut busy_rounds) = (0u32, 0u32);
        let mut frames_since_clock = FRAMES_PER_CLOCK_READING;
        while !should_stop() {
            if empty_rounds > 0 || frames_since_clock >= FRAMES_PER_CLOCK_READING {
                self.node.set_clock(self.lease_clock.now_ticks());
                frames_since_clock = 0;
            }
            self.serve_control();
            let received = self.poll_once();
            if received > 0 {
                frames_since_clock += received;
                (empty_rounds, idle_since) = (0, None);
                busy_rounds = busy_rounds.wrapping_add(1);
                if busy_rounds % CLOCK_EVERY_ROUNDS == 0 && last_report.elapsed() >= report_every {
                    report(self);
                    last_report = Instant::now();
                }
                continue;
            }
            // Wraps after 2^32 empty rounds, which only restarts the count.
            empty_rounds = empty_rounds.wrapping_add(1);
            if empty_rounds < IDLE_AFTER_ROUNDS {
                continue;
            }
            // Spinning, the clock is read every IDLE_AFTER_ROUNDS empty rounds, not every one.
            if self.settings.idle == Idle::Spin && !empty_rounds.is_multiple_of(IDLE_AFTER_ROUNDS) {
                std::hint::spin_loop();
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

    /// Applies waiting control requests and sends the frames they emit (a
    /// PacketOut's outputs), each copied into an mbuf from the node's pool;
    /// a frame with no mbuf for it is counted as a transmit error.
    fn serve_control(&mut self) {
        let Some(control) = &mut self.control else { return };
        let pool = self.pool;
        // Allocates only when a request emits a frame.
        let mut emitted: Vec<(u16, Option<Mbuf>)> = Vec::new();
        control.poll(&mut self.node, &mut |port, frame| emitted.push((port, Mbuf::from_bytes(&pool, frame))));
        if emitted.is_empty() {
            return;
        }
        for (port, mbuf) in emitted {
            match mbuf {
                Some(mbuf) => self.send(port, mbuf),
                None => self.io.tx_errors += 1,
            }
        }
        self.tx.flush(&mut self.queues, &mut self.io);
    }

    /// One poll round: a burst from each port in turn, each frame through the
    /// core (or handed to the lcore owning its key) and its outputs sent,
    /// then a burst of the frames other lcores handed over. Returns the
    /// frames taken.
    pub fn poll_once(&mut self) -> usize {
        let mut received = match self.service_rate.is_some() {
            true => self.serve_arrivals(),
            false => (0..self.queues.len()).map(|index| self.receive_burst(index, self.settings.burst, true)).sum(),
        };
        received += self.take_handed_over();
        self.tx.flush(&mut self.queues, &mut self.io);
        received
    }

    /// Takes a burst of up to `burst` frames from port `index`: dispatched at
    /// once when `dispatch`, else queued in the arrivals. Returns how many.
    fn receive_burst(&mut self, index: usize, burst: usize, dispatch: bool) -> usize {
        let count = self.queues[index].rx_burst(&mut self.rx[..burst]);
        for slot in 0..count {
            let Some(mbuf) = self.rx[slot].take() else { continue };
            match dispatch {
                true => self.serve(index, mbuf),
                false => self.arrivals.push(index, mbuf),
            }
        }
        count
    }

    /// Takes every waiting frame off the ports (the ports in turn, while
    /// there is room), then serves the taken frames the service rate's
    /// tokens allow, oldest first. Returns the frames served.
    fn serve_arrivals(&mut self) -> usize {
        let ports = self.queues.len();
        let Some(rate) = &mut self.service_rate else { return 0 };
        let (first, budget) = (rate.first_port(ports), rate.available(Instant::now()) as usize);
        for index in (0..ports).map(|turn| (first + turn) % ports) {
            loop {
                let burst = self.settings.burst.min(self.arrivals.room());
                if burst == 0 || self.receive_burst(index, burst, false) < burst {
                    break;
                }
            }
        }
        let served = budget.min(self.arrivals.len());
        for _ in 0..served {
            let Some((index, mbuf)) = self.arrivals.pop() else { break };
            self.serve(index, mbuf);
        }
        if let Some(rate) = &mut self.service_rate {
            rate.take(served as u64);
        }
        served
    }

    /// Counts a frame taken from port `index` and dispatches it.
    fn serve(&mut self, index: usize, mbuf: Mbuf) {
        self.io.rx_frames += 1;
        self.io.rx_bytes += mbuf.data().len() as u64;
        self.dispatch(index, mbuf);
    }

    /// Processes a received frame here, or hands it to the lcore owning its key.
    fn dispatch(&mut self, ingress: usize, mbuf: Mbuf) {
        if self.handoff.rings.len() < 2 {
            return self.handle(ingress, mbuf);
        }
        let owner = self.handoff.owner(mbuf.data());
        if owner == self.handoff.lcore {
            return self.handle(ingress, mbuf);
        }
        // The owner learns the ingress port from the mbuf's `port` field
        // (which not every driver sets on receive).
        let mut mbuf = mbuf;
        mbuf.set_port(self.queues[ingress].port().id());
        match self.handoff.rings[owner].enqueue(mbuf) {
            Ok(()) => self.io.handed_over += 1,
            Err(dropped) => {
                self.io.handoff_full += 1;
                drop(dropped);
            }
        }
    }

    /// Processes up to a burst of the frames other lcores handed to this one.
    fn take_handed_over(&mut self) -> usize {
        let Some(ring) = self.handoff.rings.get(self.handoff.lcore).copied() else {
            return 0;
        };
        let mut taken = 0;
        while taken < self.settings.burst {
            let Some(mbuf) = ring.dequeue() else { break };
            taken += 1;
            match self.queues.iter().position(|queue| queue.port().id() == mbuf.port()) {
                Some(ingress) => self.handle(ingress, mbuf),
                None => self.io.rx_errors += 1,
            }
        }
        taken
    }

    /// Sends the frames held back for reordering, so none is lost.
    pub fn flush_held(&mut self) {
        for index in 0..self.shells.len() {
            self.through_shell(index, |shell, sender, io| shell.release_held(sender, io));
        }
        self.tx.flush(&mut self.queues, &mut self.io);
    }

    fn handle(&mut self, ingress: usize, mut mbuf: Mbuf) {
        if mbuf.segments() != 1 {
            // Longer than one mbuf holds: no NetCRAQ frame is, and the
            // core needs the frame in one piece.
            self.io.rx_errors += 1;
            return;
        }
        let verdict = self.node.process(self.shells[ingress].number(), mbuf.data_mut(), &mut self.scratch);
        // Without a first output the received mbuf is free: the second
        // (often the first, grown into a chain frame) is copied into it.
        let mut free = None;
        match verdict.primary {
            Some(egress) => match mbuf.set_len(egress.len) {
                Ok(()) => self.send(egress.port, mbuf),
                Err(_) => self.io.tx_errors += 1,
            },
            None => free = Some(mbuf),
        }
        if let Some(egress) = verdict.secondary {
            let copy = self.scratch.get(..egress.len).and_then(|bytes| match free.take() {
                Some(mut mbuf) => match mbuf.set_len(bytes.len()) {
                    Ok(()) => {
                        mbuf.data_mut().copy_from_slice(bytes);
                        Some(mbuf)
                    }
                    Err(_) => Mbuf::from_bytes(&self.pool, bytes),
                },
                None => Mbuf::from_bytes(&self.pool, bytes),
            });
            match copy {
                Some(mbuf) => self.send(egress.port, mbuf),
                None => self.io.tx_errors += 1,
            }
        }
    }

    /// Sends one frame on the port numbered `number`, through its fault injection.
    fn send(&mut self, number: u16, mbuf: Mbuf) {
        let Some(index) = port_index(&self.shells, number) else {
            self.io.tx_no_port += 1;
            return;
        };
        self.through_shell(index, |shell, sender, io| shell.transmit(sender, mbuf, io));
    }

    /// Runs `f` with the shell of port `index` and the way its frames leave.
    #[inline]
    fn through_shell(&mut self, index: usize, f: impl FnOnce(&mut PortShell<Mbuf>, &mut Sender<'_>, &mut IoCounters)) {
        let (queues, batch) = (&mut self.queues, &mut self.tx);
        let mut sender = Sender { queues, batch, pool: self.pool, burst: self.settings.burst, index };
        f(&mut self.shells[index], &mut sender, &mut self.io);
    }
}

/// Starts a port. A memif client cannot start before its server has made
/// the socket, and the nodes of a chain start in their own time: it tries
/// again for a while.
fn start_port(port: &mut Port, pool: &Mempool, settings: &PortSettings) -> Result<(), String> {
    let memif = port.driver() == "net_memif";
    let deadline = Instant::now() + MEMIF_PEER_WAIT;
    loop {
        match port.start(pool, settings) {
            Err(_) if memif && Instant::now() < deadline => std::thread::sleep(MEMIF_RETRY),
            result => return result.map_err(|e| e.to_string()),
        }
    }
}

/// Waits until a memif port's peer has connected: until then no frame
/// passes, and a node that serves before would lose the first requests.
fn wait_for_memif_peer(port: &Port) -> Result<(), String> {
    let connected = || Ok(port.driver() != "net_memif" || port.link_up().map_err(|e| e.to_string())?);
    wait_for_memif(connected, || {
        format!("the memif peer did not connect within {} s: is its node running?", MEMIF_PEER_WAIT.as_secs())
    })
}

/// A memif client attached before its server made the socket fails to
/// start, and DPDK 22.11's memif does not always recover from that: a node
/// waits for the server's socket file before it attaches the port.
pub fn wait_for_memif_server(devargs: &str) -> Result<(), String> {
    let client = devargs.starts_with("net_memif") && devargs.split(',').any(|arg| arg == "role=client");
    let socket = devargs.split(',').find_map(|arg| arg.strip_prefix("socket="));
    let (true, Some(socket)) = (client, socket) else { return Ok(()) };
    wait_for_memif(
        || Ok(std::path::Path::new(socket).exists()),
        || {
            format!(
                "no memif server made {socket} within {} s: is the node at the other end running?",
                MEMIF_PEER_WAIT.as_secs()
            )
        },
    )
}

/// Looks whether `done` every [`MEMIF_RETRY`], for [`MEMIF_PEER_WAIT`] at
/// most; then fails with `late`'s message.
fn wait_for_memif(mut done: impl FnMut() -> Result<bool, String>, late: impl FnOnce() -> String) -> Result<(), String> {
    let deadline = Instant::now() + MEMIF_PEER_WAIT;
    while !done()? {
        if Instant::now() >= deadline {
            return Err(late());
        }
        std::thread::sleep(MEMIF_RETRY);
    }
    Ok(())
}

/// One inbound hand-off ring per lcore; none for a node on one lcore.
fn handoff_rings(eal: Option<&Eal>, lcores: usize) -> Result<Arc<[MbufRing]>, String> {
    if lcores == 1 {
        return Ok(Arc::from(Vec::new()));
    }
    let eal = eal.ok_or("a node on several lcores needs the EAL for its hand-off rings")?;
    // Ring names are unique per process and rings live until it exits.
    static NODES: AtomicUsize = AtomicUsize::new(0);
    let node = NODES.fetch_add(1, Ordering::Relaxed);
    let rings: Result<Vec<MbufRing>, String> = (0..lcores)
        .map(|lcore| {
            MbufRing::new(eal, &format!("ncq_handoff_{node}_{lcore}"), HANDOFF_RING_SIZE).map_err(|e| e.to_string())
        })
        .collect();
    Ok(Arc::from(rings?))
}

/// Runs one node per lcore of the EAL (from [`DpdkNode::start_lcores`], in
/// lcore order: node i on the EAL's i-th lcore) until `should_stop` says so,
/// each calling `report` as [`DpdkNode::run`] does. Returns the nodes.
pub fn run_lcores(
    eal: &Eal,
    nodes: Vec<DpdkNode>,
    should_stop: impl Fn() -> bool + Sync,
    report_every: Duration,
    report: impl Fn(&DpdkNode) + Sync,
) -> Result<Vec<DpdkNode>, String> {
    let lcores = eal.lcores().len();
    if nodes.len() != lcores {
        return Err(format!("{} node lcores for the EAL's {lcores} lcores", nodes.len()));
    }
    let slots: Vec<std::sync::Mutex<DpdkNode>> = nodes.into_iter().map(std::sync::Mutex::new).collect();
    // An lcore that panics stops the others: a node missing an lcore would
    // drop every frame of that lcore's keys.
    let aborted = std::sync::atomic::AtomicBool::new(false);
    let stop = || should_stop() || aborted.load(Ordering::Relaxed);
    eal.run_on_lcores(|index| {
        // Each lcore locks its own node once, for the whole run.
        let mut node = slots[index].lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| node.run(&stop, report_every, &report)));
        if let Err(panic) = ran {
            aborted.store(true, Ordering::Relaxed);
            std::panic::resume_unwind(panic);
        }
    })
    .map_err(|e| e.to_string())?;
    Ok(slots.into_iter().map(|slot| slot.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())).collect())
}
