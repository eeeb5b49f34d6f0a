//! The event loop behind [`run_workload`](super::run_workload).

use std::io;
use std::net::{SocketAddrV4, UdpSocket};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use netcraq_linearizability::{History, InitialValue, Operation, Value};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::keys::KeyChooser;
use super::report::{Progress, WorkloadReport};
use super::{Stop, Workload, WriteTarget};
use crate::client::RECEIVE_BUFFER_LEN;
use crate::error::{ClientError, RequestKind};
use crate::linger::Lingering;
use crate::poll::Readiness;
use crate::request::{Reply, Request};

/// Datagrams read from one socket per wake-up, so that a flooded socket
/// cannot starve the others.
const DATAGRAMS_PER_WAKEUP: usize = 8;

/// One outstanding operation.
struct InFlight {
    /// Opened for this operation only: see [`Client`](crate::Client).
    socket: UdpSocket,
    request: Request,
    target: SocketAddrV4,
    transmissions: u32,
    invoked: Instant,
    /// When to retransmit, or give up.
    deadline: Instant,
    recorded_in_history: bool,
}

pub(super) struct Engine<'a> {
    workload: &'a Workload,
    targets: &'a [SocketAddrV4],
    rng: SmallRng,
    keys: KeyChooser,
    /// One per unit of concurrency; `None` while the slot is between operations.
    slots: Vec<Option<InFlight>>,
    readiness: Readiness,
    /// The slot of each socket in `readiness`, in order.
    polled_slots: Vec<usize>,
    started: Instant,
    next_progress: Instant,
    issued: u64,
    /// Distinguishes this run's written values from every other run's.
    run_number: u64,
    writes_issued: u64,
    history_room: usize,
    report: WorkloadReport,
    lingering: Lingering,
}

impl<'a> Engine<'a> {
    pub(super) fn new(targets: &'a [SocketAddrV4], workload: &'a Workload) -> Self {
        let started = Instant::now();
        let record_history = workload.history_capacity_ops > 0;
        // The store may hold values from earlier runs.
        let history = record_history.then(|| History::with_initial_value(InitialValue::Unknown));
        Engine {
            workload,
            targets,
            rng: SmallRng::seed_from_u64(workload.seed),
            keys: KeyChooser::new(workload.keys.clone(), workload.key_distribution),
            slots: (0..workload.concurrency).map(|_| None).collect(),
            readiness: Readiness::with_capacity(workload.concurrency),
            polled_slots: Vec::with_capacity(workload.concurrency),
            started,
            next_progress: started + workload.progress_interval,
            issued: 0,
            run_number: SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64,
            writes_issued: 0,
            history_room: workload.history_capacity_ops,
            report: WorkloadReport::empty(history),
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
            if self.slots.iter().all(Option::is_none) {
                break;
            }
            self.wait_for_replies()?;
            self.receive_ready();
            self.handle_deadlines();
            self.report_progress(&mut observer);
        }
        self.report.duration = self.started.elapsed();
        Ok(self.report)
    }

    fn may_issue(&self) -> bool {
        match self.workload.stop {
            Stop::AfterDuration(duration) => self.started.elapsed() < duration,
            Stop::AfterOperations(count) => self.issued < count,
        }
    }

    fn issue_to_idle_slots(&mut self) -> io::Result<()> {
        for slot in 0..self.slots.len() {
            if self.slots[slot].is_none() && self.may_issue() {
                self.issue(slot)?;
            }
        }
        Ok(())
    }

    fn issue(&mut self, slot: usize) -> io::Result<()> {
        let request = self.next_request();
        let target = self.target_for(request.kind);
        let socket = UdpSocket::bind((self.workload.client.local_ip, 0))?;
        socket.set_nonblocking(true)?;
        let recorded_in_history = self.history_room > 0;
        self.history_room = self.history_room.saturating_sub(1);
        self.report.history_truncated |= self.report.history.is_some() && !recorded_in_history;
        let now = Instant::now();
        let in_flight =
            InFlight { socket, request, target, transmissions: 0, invoked: now, deadline: now, recorded_in_history };
        self.slots[slot] = Some(in_flight);
        self.issued += 1;
        self.transmit(slot);
        Ok(())
    }

    fn next_request(&mut self) -> Request {
        let key = self.keys.choose(&mut self.rng);
        if self.rng.gen_bool(self.workload.read_fraction) {
            return Request::read(key);
        }
        self.writes_issued += 1;
        let mut value = Value::default();
        value[..8].copy_from_slice(&self.run_number.to_be_bytes());
        value[8..].copy_from_slice(&self.writes_issued.to_be_bytes());
        Request::write(key, value)
    }

    fn target_for(&mut self, kind: RequestKind) -> SocketAddrV4 {
        match (kind, self.workload.write_target) {
            (RequestKind::Write, WriteTarget::Node(node)) => node,
            _ => self.targets[self.rng.gen_range(0..self.targets.len())],
        }
    }

    /// Sends the slot's next transmission. A full socket buffer counts as a
    /// lost packet, for the retransmission timer to repair.
    fn transmit(&mut self, slot: usize) {
        let Some(in_flight) = self.slots[slot].as_mut() else { return };
        let header = in_flight.request.encode(in_flight.transmissions);
        let sent = in_flight.socket.send_to(&header, in_flight.target);
        self.report.retransmissions += u64::from(in_flight.transmissions > 0);
        in_flight.transmissions += 1;
        in_flight.deadline = Instant::now() + self.workload.client.timeout;
        match sent {
            Err(error) if error.kind() != io::ErrorKind::WouldBlock => {
                let node = in_flight.target;
                self.complete(slot, Err(ClientError::Io { node, source: error }));
            }
            _ => {}
        }
    }

    fn wait_for_replies(&mut self) -> io::Result<()> {
        self.readiness.clear();
        self.polled_slots.clear();
        let mut wake_at = self.next_progress;
        for (slot, in_flight) in self.slots.iter().enumerate() {
            if let Some(in_flight) = in_flight {
                self.readiness.add(&in_flight.socket);
                self.polled_slots.push(slot);
                wake_at = wake_at.min(in_flight.deadline);
            }
        }
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
            let Some(in_flight) = self.slots[slot].as_ref() else { return };
            let outcome = match in_flight.socket.recv(&mut buffer) {
                Ok(len) => in_flight.request.match_reply(&buffer[..len]),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) => Some(Err(ClientError::Io { node: in_flight.target, source: error })),
            };
            match outcome {
                Some(outcome) => return self.complete(slot, outcome),
                None => self.report.ignored_replies += 1,
            }
        }
    }

    fn handle_deadlines(&mut self) {
        let now = Instant::now();
        let attempts = self.workload.client.attempts();
        for slot in 0..self.slots.len() {
            let Some(in_flight) = self.slots[slot].as_ref().filter(|in_flight| in_flight.deadline <= now) else {
                continue;
            };
            if in_flight.transmissions < attempts {
                self.transmit(slot);
            } else {
                let Request { kind, key, .. } = in_flight.request;
                let node = in_flight.target;
                self.complete(slot, Err(ClientError::Timeout { kind, key, attempts, node }));
            }
        }
    }

    /// Ends the slot's operation, frees the slot and accounts for the outcome.
    fn complete(&mut self, slot: usize, outcome: Result<Reply, ClientError>) {
        let Some(in_flight) = self.slots[slot].take() else { return };
        let now = Instant::now();
        self.report.ops += 1;
        match &outcome {
            Ok(Reply::Read(_)) => self.report.reads += 1,
            Ok(Reply::Written(_)) => self.report.writes += 1,
            Err(error) => self.report.errors.count(error),
        }
        if outcome.is_ok() {
            self.report.record_latency(now - in_flight.invoked);
        }
        if in_flight.recorded_in_history {
            self.record_in_history(slot, &in_flight, &outcome, now);
        }
        self.lingering.keep(in_flight.socket);
    }

    fn record_in_history(
        &mut self,
        slot: usize,
        in_flight: &InFlight,
        outcome: &Result<Reply, ClientError>,
        now: Instant,
    ) {
        let since_start_ns = |instant: Instant| (instant - self.started).as_nanos() as u64;
        let (client, key) = (slot as u32, in_flight.request.key);
        let (invoke_ns, return_ns) = (since_start_ns(in_flight.invoked), since_start_ns(now));
        let written = in_flight.request.value;
        let operation = match outcome {
            Ok(Reply::Read(reply)) => Operation::read(client, key, invoke_ns, return_ns, reply.value),
            Ok(Reply::Written(_)) => Operation::write(client, key, invoke_ns, return_ns, written),
            Err(error) if in_flight.request.kind == RequestKind::Write && error.write_may_have_applied() => {
                Operation::indeterminate_write(client, key, invoke_ns, return_ns, written)
            }
            // A failed read, or a write that certainly did nothing.
            Err(_) => return,
        };
        if let Some(history) = self.report.history.as_mut() {
            history.push(operation);
        }
    }

    fn report_progress(&mut self, observer: &mut impl FnMut(&Progress)) {
        let now = Instant::now();
        if now < self.next_progress {
            return;
        }
        self.next_progress = now + self.workload.progress_interval;
        let in_flight = self.slots.iter().filter(|slot| slot.is_some()).count();
        let progress = Progress {
            elapsed: now - self.started,
            ops: self.report.ops,
            errors: self.report.errors.total(),
            in_flight,
        };
        observer(&progress);
    }
}
