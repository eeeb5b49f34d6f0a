//! The running controller (`netcraq_controller::service`, docs/controller.md)
//! on a thread of this process, for `netcraq up` and `netcraq demo
//! --kill-node`: its state in memory, its notes on a channel, stopped (and
//! joined) by [`InProcessController::stop`] or on drop.

use netcraq_controller::running_topology::{deployment_with_spares, TopologyPlanner};
use netcraq_controller::service::{self, InMemory, Note, NoteKind, ServiceSettings};
use netcraq_controller::supervisor::Change;
use netcraq_controller::{Controller, PipelineFiles};
use netcraq_topology::{NodeFile, Topology};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Above `netcraq ctl apply`'s default, so the running controller keeps the
/// primary role on every node.
const ELECTION_ID: u128 = 2;
/// Bound on each P4Runtime call of a reconfiguration (`netcraq controller`'s default).
const CALL_TIMEOUT: Duration = Duration::from_secs(1);
const STOP_POLL: Duration = Duration::from_millis(20);

/// What `netcraq up` and the demo print about the controller, once.
pub const DESCRIPTION: &str = "controller: running in this process, state in memory only (lost when this process \
     ends); it probes every node, takes a failed member out of its chain in a new epoch and brings a spare in";

pub struct InProcessController {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), String>>>,
    notes: mpsc::Receiver<Note>,
}

impl InProcessController {
    /// Starts the controller over every node of `nodes` (spares included),
    /// each at its P4Runtime address in `addresses`.
    pub fn start(
        topology: &Topology,
        nodes: &[NodeFile],
        addresses: &[(String, String)],
        bmv2: &PipelineFiles,
    ) -> Result<InProcessController, String> {
        let mut deployment = deployment_with_spares(topology, nodes, addresses, bmv2)?;
        deployment.election_id = ELECTION_ID;
        deployment.options.timeout = CALL_TIMEOUT;
        let controller = Controller::new(&deployment).map_err(|e| e.to_string())?;
        let settings = ServiceSettings::default();
        let state = service::initial_state(topology, &settings).map_err(|e| e.to_string())?;
        let planner = TopologyPlanner::new(topology);
        let stop = Arc::new(AtomicBool::new(false));
        let (notes_tx, notes) = mpsc::channel();
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("controller".into())
            .spawn(move || {
                let runtime = service::runtime().map_err(|e| format!("starting the controller's runtime: {e}"))?;
                let (service_notes, mut received) = tokio::sync::mpsc::unbounded_channel::<Note>();
                runtime.spawn(async move {
                    while let Some(note) = received.recv().await {
                        if !note.what.is_probe() {
                            let _ = notes_tx.send(note);
                        }
                    }
                });
                let shutdown = async move {
                    while !stopped.load(Ordering::Relaxed) {
                        tokio::time::sleep(STOP_POLL).await;
                    }
                };
                let mut sink = InMemory::default();
                runtime.block_on(service::run(controller, planner, state, &mut sink, settings, service_notes, shutdown))
            })
            .map_err(|e| format!("starting the controller's thread: {e}"))?;
        Ok(InProcessController { stop, thread: Some(thread), notes })
    }

    /// The next note, if one comes within `limit`.
    pub fn next_note(&self, limit: Duration) -> Option<Note> {
        self.notes.recv_timeout(limit).ok()
    }

    /// Waits up to `limit` for every chain of `topology` to be restarted
    /// (configured in this controller's first epoch); returns the notes seen.
    pub fn wait_restarted(&mut self, topology: &Topology, limit: Duration) -> Result<Vec<Note>, String> {
        let deadline = Instant::now() + limit;
        let mut waiting: Vec<&str> = topology.chains().iter().map(|c| c.name.as_str()).collect();
        let mut seen = Vec::new();
        while !waiting.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.is_running() {
                let notes: Vec<String> = seen.iter().map(|n: &Note| n.what.to_string()).collect();
                return Err(format!(
                    "the controller did not configure chain(s) {} within {limit:?}; it said: {}",
                    waiting.join(", "),
                    notes.join("; ")
                ));
            }
            let Some(note) = self.next_note(left.min(STOP_POLL)) else { continue };
            if let NoteKind::Reconfigured { chain, change: Change::Restart, .. } = &note.what {
                waiting.retain(|name| name != chain);
            }
            seen.push(note);
        }
        Ok(seen)
    }

    /// Whether the controller still runs (it ends only when stopped, or on an error).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|thread| !thread.is_finished())
    }

    /// Stops the controller and returns how it ended.
    pub fn stop(mut self) -> Result<(), String> {
        self.join()
    }

    fn join(&mut self) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(result)) => result.map_err(|e| format!("the controller stopped: {e}")),
            Some(Err(_)) => Err("the controller's thread panicked".into()),
        }
    }
}

impl Drop for InProcessController {
    fn drop(&mut self) {
        let _ = self.join();
    }
}
