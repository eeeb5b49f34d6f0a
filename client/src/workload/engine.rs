//! The event loop behind [`run_workload`](super::run_workload): drives the
//! [`ClientMachine`] with one non-blocking socket per slot, `poll(2)` and
//! the system clock.

use std::io;
use std::net::{SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netcraq_linearizability::Value;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::report::{Progress, WorkloadReport};
use super::{Stop, Workload, WriteTarget};
use crate::client::RECEIVE_BUFFER_LEN;
use crate::error::{ClientError, RequestKind};
use crate::linger::Lingering;
use crate::machine::{ClientMachine, Expiry, Finished, Received, Transmission};
use crate::mix::{MixSampler, WriteValues};
use crate::poll::Readiness;
use crate::request::{header_bytes, parse_header, Operation};

/// Datagrams read from one socket per wake-up, so that a flooded socket
/// cannot starve the others.
const DATAGRAMS_PER_WAKEUP: usize = 8;

/// Distinguishes this run's written values from every other run's.
fn run_number() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64
}

pub(super) struct Engine<'a> {
    workload: &'a Workload,
    targets: &'a [SocketAddrV4],
    rng: SmallRng,
    mix: MixSampler,
    /// One slot per unit of concurrency, each a sequential client.
    machine: ClientMachine<SocketAddrV4>,
    /// Each slot's socket while it has an operation in flight, opened for
    /// that operation only: see [`Client`](crate::Client).
    sockets: Vec<Option<UdpSocket>>,
    readiness: Readiness,
    /// The slot of each socket in `readiness`, in order.
    polled_slots: Vec<usize>,
    /// The machine's clock counts nanoseconds from here.
    started: Instant,
    next_progress: Instant,
    issued: u64,
    /// Numbered by the clock, so that runs never write the same values.
    values: WriteValues,
    report: WorkloadReport,
    lingering: Lingering,
}

impl<'a> Engine<'a> {
    pub(super) fn new(targets: &'a [SocketAddrV4], workload: &'a Workload, mix: MixSampler) -> Self {
        let started = Instant::now();
        let mut machine = ClientMachine::new(workload.concurrency, workload.client.retry_policy());
        if workload.history_capacity_ops > 0 {
            machine = machine.with_history(workload.history_capacity_ops);
        }
        Engine {
            workload,
            targets,
            rng: SmallRng::seed_from_u64(workload.seed),
            mix,
            machine,
            sockets: (0..workload.concurrency).map(|_| None).collect(),
            readiness: Readiness::with_capacity(workload.concurrency),
            polled_slots: Vec::with_capacity(workload.concurrency),
            started,
            next_progress: started + workload.progress_interval,
            issued: 0,
            values: WriteValues::new(run_number()),
            report: WorkloadReport::empty(None),
            lingering: Lingering::new(workload.client.timeout * workload.client.attempts()),
        }
    }

    /// Runs until issuing has stopped and no operation is in flight, which
    /// is bounded: issuing stops by the workload's duration or count, and
    /// each operation ends within `attempts × timeout`. When every send fails
    /// at once nothing is in flight, and the run ends early instead of
    /// spinning.
    pub(super) fn run(mut self, mut observer: impl FnMut(&Progress)) -> Result<WorkloadReport, super::WorkloadError> {
        loop {
            self.issue_to_idle_slots()?;
            if self.machine.outstanding() == 0 {
                break;
            }
            self.wait_for_replies()?;
            self.receive_ready();
            self.handle_deadlines();
            self.report_progress(&mut observer);
        }
        self.report.duration = self.started.elapsed();
        if let Some((history, truncated)) = self.machine.into_history() {
            (self.report.history, self.report.history_truncated) = (Some(history), truncated);
        }
        Ok(self.report)
    }

    fn may_issue(&self) -> bool {
        match self.workload.stop {
            Stop::AfterDuration(duration) => self.started.elapsed() < duration,
            Stop::AfterOperations(count) => self.issued < count,
        }
    }

    fn issue_to_idle_slots(&mut self) -> io::Result<()> {
        for slot in 0..self.sockets.len() {
            if self.sockets[slot].is_none() && self.may_issue() {
                self.issue(slot)?;
            }
        }
        Ok(())
    }

    fn issue(&mut self, slot: usize) -> io::Result<()> {
        let operation = self.next_operation();
        let target = self.target_for(operation.kind());
        let socket = UdpSocket::bind((self.workload.client.local_ip, 0))?;
        socket.set_nonblocking(true)?;
        let Some(first) = self.machine.issue(slot, operation, target, self.now_ns()) else { return Ok(()) };
        self.sockets[slot] = Some(socket);
        self.issued += 1;
        self.transmit(first);
        Ok(())
    }

    fn next_operation(&mut self) -> Operation {
        let (kind, key) = self.mix.draw(&mut self.rng);
        if kind == RequestKind::Read {
            return Operation::Read { key };
        }
        Operation::Write { key, value: self.values.next_value() }
    }

    fn target_for(&mut self, kind: RequestKind) -> SocketAddrV4 {
        match (kind, self.workload.write_target) {
            (RequestKind::Write, WriteTarget::Node(node)) => node,
            _ => self.targets[self.rng.gen_range(0..self.targets.len())],
        }
    }

    /// Sends a transmission. A full socket buffer counts as a lost packet,
    /// for the retransmission timer to repair.
    fn transmit(&mut self, transmission: Transmission<SocketAddrV4>) {
        let Some(socket) = self.sockets[transmission.slot].as_ref() else { return };
        match socket.send_to(&header_bytes(&transmission.header), transmission.target) {
            Err(error) if error.kind() != io::ErrorKind::WouldBlock => self.fail(transmission.slot, error),
            _ => {}
        }
    }

    fn wait_for_replies(&mut self) -> io::Result<()> {
        self.readiness.clear();
        self.polled_slots.clear();
        for (slot, socket) in self.sockets.iter().enumerate() {
            if let Some(socket) = socket {
                self.readiness.add(socket);
                self.polled_slots.push(slot);
            }
        }
        let deadline = self.machine.next_deadline_ns().map(|ns| self.started + Duration::from_nanos(ns));
        let wake_at = deadline.map_or(self.next_progress, |deadline| deadline.min(self.next_progress));
        self.readiness.wait(wake_at.saturating_duration_since(Instant::now()))
    }

    fn receive_ready(&mut self) {
        for index in 0..self.polled_slots.len() {
            if self.readiness.is_ready(index) {
                self.receive(self.polled_slots[index]);
            }
        }
    }

    fn receive(&mut self, slot: usize) {
        let mut buffer = [0; RECEIVE_BUFFER_LEN];
        for _ in 0..DATAGRAMS_PER_WAKEUP {
            let Some(socket) = self.sockets[slot].as_ref() else { return };
            let len = match socket.recv(&mut buffer) {
                Ok(len) => len,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) => return self.fail(slot, error),
            };
            let now_ns = self.now_ns();
            match parse_header(&buffer[..len]).map(|reply| self.machine.receive(slot, None, &reply, now_ns)) {
                Some(Received::Finished(finished)) => return self.complete(&finished),
                _ => self.report.ignored_replies += 1,
            }
        }
    }

    fn handle_deadlines(&mut self) {
        let now_ns = self.now_ns();
        for slot in 0..self.sockets.len() {
            match self.machine.expire(slot, now_ns) {
                Some(Expiry::Retransmit(again)) => {
                    self.report.retransmissions += 1;
                    self.transmit(again);
                }
                Some(Expiry::GaveUp(finished)) => self.complete(&finished),
                None => {}
            }
        }
    }

    /// Ends the slot's operation on a socket error.
    fn fail(&mut self, slot: usize, error: io::Error) {
        if let Some(finished) = self.machine.abandon(slot, self.now_ns()) {
            self.account(&finished, Err(ClientError::Io { node: finished.target, source: error }));
        }
    }

    fn complete(&mut self, finished: &Finished<SocketAddrV4>) {
        self.account(finished, ClientError::result_of(finished, finished.target));
    }

    /// Frees the slot's socket and counts the operation's outcome.
    fn account(&mut self, finished: &Finished<SocketAddrV4>, outcome: Result<(u8, Value), ClientError>) {
        self.report.ops += 1;
        match (&outcome, finished.operation.kind()) {
            (Ok(_), RequestKind::Read) => self.report.reads += 1,
            (Ok(_), RequestKind::Write) => self.report.writes += 1,
            (Err(error), _) => self.report.errors.count(error),
        }
        if outcome.is_ok() {
            self.report.record_latency(Duration::from_nanos(finished.return_ns - finished.invoke_ns));
        }
        if let Some(socket) = self.sockets[finished.slot].take() {
            self.lingering.keep(socket);
        }
    }

    fn report_progress(&mut self, observer: &mut impl FnMut(&Progress)) {
        let now = Instant::now();
        if now < self.next_progress {
            return;
        }
        self.next_progress = now + self.workload.progress_interval;
        let progress = Progress {
            elapsed: now - self.started,
            ops: self.report.ops,
            errors: self.report.errors.total(),
            in_flight: self.machine.outstanding(),
        };
        observer(&progress);
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}
