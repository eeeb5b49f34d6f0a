//! The P4Runtime server of the software and DPDK nodes: serves one node's
//! tables, counters and registers (through a [`ControlHandle`]) under the
//! node's fixed P4Info, with the spec's arbitration between controllers.
//!
//! It runs on its own thread with its own tokio runtime ([`serve_on_thread`]);
//! the node's poll loop never waits for it.

use crate::entities::{NetcraqIds, P4Error};
use crate::p4info::{first_difference, P4InfoIndex};
use crate::proto::google::rpc;
use crate::proto::p4::v1 as p4;
use netcraq_core::RouteError;
use netcraq_core::control::{ControlError, ControlRequest, ControlResponse};
use netcraq_node::control::ControlHandle;
use p4::p4_runtime_server::{P4Runtime, P4RuntimeServer};
use prost::Message;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status, Streaming};

/// The P4Runtime version this subset follows.
pub const P4RUNTIME_API_VERSION: &str = "1.4.0";
/// Updates one Write may carry; more is refused as a whole (RESOURCE_EXHAUSTED).
pub const MAX_UPDATES_PER_WRITE: usize = 4096;
/// Entities per ReadResponse message: a read of a whole 65536-entry register
/// arrives in several messages, each well below gRPC's 4 MiB default limit.
pub const READ_CHUNK_ENTITIES: usize = 2048;
/// Controllers (open StreamChannels) at once; more are refused (RESOURCE_EXHAUSTED).
pub const MAX_CONTROLLERS: usize = 16;
/// Messages waiting to be sent on one StreamChannel or Read stream.
const STREAM_QUEUE_LEN: usize = 16;
const TYPE_URL_P4_ERROR: &str = "type.googleapis.com/p4.v1.Error";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSettings {
    /// The device id controllers must use (P4Runtime's default is 1).
    pub device_id: u64,
    /// How long an RPC waits for the node's poll loop to answer.
    pub control_timeout: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings { device_id: 1, control_timeout: Duration::from_secs(2) }
    }
}

/// What the server did, for the node's stats: failures are also logged.
#[derive(Debug, Default)]
pub struct ServerCounters {
    pub rpcs: AtomicU64,
    /// RPCs answered with an error status (a Write with some failed updates counts once).
    pub rpcs_failed: AtomicU64,
    pub updates_applied: AtomicU64,
    pub updates_failed: AtomicU64,
    /// Writes and pipeline configs refused because the sender is not the primary.
    pub not_primary: AtomicU64,
    /// StreamChannels terminated by an arbitration error.
    pub arbitrations_refused: AtomicU64,
    /// Arbitration notices not sent because the controller's stream was full.
    pub notices_dropped: AtomicU64,
}

/// A copy of [`ServerCounters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerCountersSnapshot {
    pub rpcs: u64,
    pub rpcs_failed: u64,
    pub updates_applied: u64,
    pub updates_failed: u64,
    pub not_primary: u64,
    pub arbitrations_refused: u64,
    pub notices_dropped: u64,
}

impl ServerCounters {
    pub fn snapshot(&self) -> ServerCountersSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ServerCountersSnapshot {
            rpcs: get(&self.rpcs),
            rpcs_failed: get(&self.rpcs_failed),
            updates_applied: get(&self.updates_applied),
            updates_failed: get(&self.updates_failed),
            not_primary: get(&self.not_primary),
            arbitrations_refused: get(&self.arbitrations_refused),
            notices_dropped: get(&self.notices_dropped),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// One controller: its StreamChannel and the election id it claimed.
struct Controller {
    election_id: u128,
    notices: mpsc::Sender<Result<p4::StreamMessageResponse, Status>>,
}

/// Arbitration of the default role (spec §5): the controller with the
/// highest election id ever seen is primary; when it leaves, there is no
/// primary until a controller claims an id at least as high.
#[derive(Default)]
struct Arbitration {
    controllers: HashMap<u64, Controller>,
    primary: Option<u64>,
    highest_seen: Option<u128>,
}

impl Arbitration {
    fn primary_election_id(&self) -> Option<u128> {
        self.primary.and_then(|stream| self.controllers.get(&stream)).map(|c| c.election_id)
    }

    /// The notice for controller `stream`: the highest id seen, and OK to the
    /// primary, ALREADY_EXISTS to backups, NOT_FOUND to all when no primary.
    fn notice(&self, device_id: u64, stream: u64) -> p4::StreamMessageResponse {
        let (code, message) = match self.primary {
            Some(primary) if primary == stream => (Code::Ok, "primary"),
            Some(_) => (Code::AlreadyExists, "backup: another controller is primary"),
            None => (Code::NotFound, "backup: no controller is primary"),
        };
        let update = p4::MasterArbitrationUpdate {
            device_id,
            role: None,
            election_id: self.highest_seen.map(uint128),
            status: Some(rpc::Status { code: code as i32, message: message.to_string(), details: vec![] }),
        };
        p4::StreamMessageResponse { update: Some(p4::stream_message_response::Update::Arbitration(update)) }
    }

    fn notify(&self, device_id: u64, streams: impl IntoIterator<Item = u64>, counters: &ServerCounters) {
        for stream in streams {
            if let Some(controller) = self.controllers.get(&stream) {
                if controller.notices.try_send(Ok(self.notice(device_id, stream))).is_err() {
                    bump(&counters.notices_dropped);
                }
            }
        }
    }

    fn all(&self) -> Vec<u64> {
        self.controllers.keys().copied().collect()
    }

    /// Applies one MasterArbitrationUpdate from `stream`; an error terminates the stream.
    fn update(
        &mut self,
        device_id: u64,
        stream: u64,
        election_id: u128,
        notices: &mpsc::Sender<Result<p4::StreamMessageResponse, Status>>,
        counters: &ServerCounters,
    ) -> Result<(), Status> {
        if self.controllers.iter().any(|(other, c)| *other != stream && c.election_id == election_id) {
            return Err(Status::invalid_argument(format!(
                "election id {election_id} is already used by another controller: pick another"
            )));
        }
        if !self.controllers.contains_key(&stream) && self.controllers.len() >= MAX_CONTROLLERS {
            return Err(Status::resource_exhausted(format!("{MAX_CONTROLLERS} controllers are connected already")));
        }
        let was_primary = self.primary == Some(stream);
        self.controllers.insert(stream, Controller { election_id, notices: notices.clone() });
        if self.highest_seen.is_none_or(|highest| election_id >= highest) {
            self.highest_seen = Some(election_id);
            self.primary = Some(stream);
            // Everyone learns of the (possibly new) primary: the old primary
            // that it is a backup now, the others who is primary.
            self.notify(device_id, self.all(), counters);
        } else if was_primary {
            // The primary lowered its id below the highest seen: it steps down.
            self.primary = None;
            self.notify(device_id, self.all(), counters);
        } else {
            self.notify(device_id, [stream], counters);
        }
        Ok(())
    }

    fn disconnect(&mut self, device_id: u64, stream: u64, counters: &ServerCounters) {
        if self.controllers.remove(&stream).is_some() && self.primary == Some(stream) {
            self.primary = None;
            self.notify(device_id, self.all(), counters);
        }
    }
}

fn uint128(value: u128) -> p4::Uint128 {
    p4::Uint128 { high: (value >> 64) as u64, low: value as u64 }
}

fn from_uint128(value: Option<&p4::Uint128>) -> Option<u128> {
    value.map(|v| (u128::from(v.high) << 64) | u128::from(v.low))
}

struct Shared {
    index: P4InfoIndex,
    ids: NetcraqIds,
    node: ControlHandle,
    settings: ServerSettings,
    arbitration: Mutex<Arbitration>,
    cookie: Mutex<Option<u64>>,
    counters: Arc<ServerCounters>,
    next_stream: AtomicU64,
}

/// The P4Runtime service of one node.
#[derive(Clone)]
pub struct NodeService {
    shared: Arc<Shared>,
}

impl NodeService {
    /// A service for the node behind `node`, under the P4Info of `index`
    /// (which must hold NetCRAQ's tables, counters and registers).
    pub fn new(index: P4InfoIndex, node: ControlHandle, settings: ServerSettings) -> Result<NodeService, String> {
        let ids =
            NetcraqIds::resolve_for_node(&index).map_err(|e| format!("the P4Info does not fit a NetCRAQ node: {e}"))?;
        let shared = Shared {
            index,
            ids,
            node,
            settings,
            arbitration: Mutex::new(Arbitration::default()),
            cookie: Mutex::new(None),
            counters: Arc::new(ServerCounters::default()),
            next_stream: AtomicU64::new(1),
        };
        Ok(NodeService { shared: Arc::new(shared) })
    }

    pub fn counters(&self) -> Arc<ServerCounters> {
        self.shared.counters.clone()
    }

    /// The tonic service, with message limits large enough for a whole P4Info.
    pub fn into_server(self) -> P4RuntimeServer<NodeService> {
        P4RuntimeServer::new(self).max_decoding_message_size(16 << 20).max_encoding_message_size(16 << 20)
    }
}

impl Shared {
    fn arbitration(&self) -> std::sync::MutexGuard<'_, Arbitration> {
        // The arbitration state is consistent after every statement, so a
        // panic elsewhere while holding the lock leaves nothing half-done.
        self.arbitration.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn check_device(&self, device_id: u64) -> Result<(), Status> {
        match device_id == self.settings.device_id {
            true => Ok(()),
            false => Err(Status::not_found(format!(
                "device id {device_id}: this node is device {}",
                self.settings.device_id
            ))),
        }
    }

    fn check_role(&self, role: &str) -> Result<(), Status> {
        match role.is_empty() {
            true => Ok(()),
            false => Err(Status::unimplemented(format!("role {role:?}: this node serves only the default role"))),
        }
    }

    fn check_primary(&self, election_id: Option<&p4::Uint128>) -> Result<(), Status> {
        let given = from_uint128(election_id);
        let primary = self.arbitration().primary_election_id();
        match (given, primary) {
            (Some(given), Some(primary)) if given == primary => Ok(()),
            (_, None) => {
                bump(&self.counters.not_primary);
                Err(Status::permission_denied(
                    "no controller is primary: open a StreamChannel and send a MasterArbitrationUpdate first",
                ))
            }
            (given, Some(primary)) => {
                bump(&self.counters.not_primary);
                let given = given.map_or("none".to_string(), |g| g.to_string());
                Err(Status::permission_denied(format!(
                    "election id {given} is not the primary's ({primary}): only the primary may write"
                )))
            }
        }
    }

    /// Sends one request to the node's poll loop, off the async threads.
    async fn call(&self, request: ControlRequest) -> Result<ControlResponse, ControlError> {
        let node = self.node.clone();
        let timeout = self.settings.control_timeout;
        match tokio::task::spawn_blocking(move || node.call(request, timeout)).await {
            Ok(result) => result,
            // The blocking task panicked or the runtime is shutting down.
            Err(_) => Err(ControlError::NodeStopped),
        }
    }

    fn finish<T>(&self, rpc: &str, result: Result<T, Status>) -> Result<T, Status> {
        bump(&self.counters.rpcs);
        if let Err(status) = &result {
            bump(&self.counters.rpcs_failed);
            tracing::info!(rpc, code = ?status.code(), message = status.message(), "P4Runtime RPC failed");
        }
        result
    }

    async fn write(&self, request: p4::WriteRequest) -> Result<p4::WriteResponse, Status> {
        self.check_device(request.device_id)?;
        self.check_role(&request.role)?;
        self.check_primary(request.election_id.as_ref())?;
        if request.atomicity != p4::write_request::Atomicity::ContinueOnError as i32 {
            return Err(Status::unimplemented("only CONTINUE_ON_ERROR atomicity is served"));
        }
        if request.updates.len() > MAX_UPDATES_PER_WRITE {
            return Err(Status::resource_exhausted(format!(
                "{} updates in one Write: send at most {MAX_UPDATES_PER_WRITE} per batch",
                request.updates.len()
            )));
        }
        let mut outcomes: Vec<Result<(), P4Error>> = Vec::with_capacity(request.updates.len());
        let mut batch = Vec::new();
        for update in &request.updates {
            let kind = p4::update::Type::try_from(update.r#type).unwrap_or(p4::update::Type::Unspecified);
            let decoded = match update.entity.as_ref() {
                Some(entity) => self.ids.update_request(&self.index, kind, entity),
                None => Err(P4Error::invalid("the update has no entity")),
            };
            match decoded {
                Ok(request) => {
                    batch.push(request);
                    outcomes.push(Ok(()));
                }
                Err(error) => outcomes.push(Err(error)),
            }
        }
        if !batch.is_empty() {
            let results = match self.call(ControlRequest::Batch(batch)).await {
                Ok(ControlResponse::Batch(results)) => results,
                Ok(other) => return Err(Status::internal(format!("the node answered a batch with {other:?}"))),
                Err(error) => return Err(node_unavailable(error)),
            };
            let mut results = results.into_iter();
            for outcome in outcomes.iter_mut().filter(|o| o.is_ok()) {
                match results.next() {
                    Some(Ok(_)) => {}
                    Some(Err(error)) => *outcome = Err(control_error(error)),
                    // The node must answer every request of the batch.
                    None => *outcome = Err(P4Error::new(Code::Internal, "the node gave no answer for this update")),
                }
            }
        }
        let failed = outcomes.iter().filter(|o| o.is_err()).count() as u64;
        self.counters.updates_failed.fetch_add(failed, Ordering::Relaxed);
        self.counters.updates_applied.fetch_add(outcomes.len() as u64 - failed, Ordering::Relaxed);
        match failed {
            0 => Ok(p4::WriteResponse {}),
            _ => Err(write_failure(&outcomes)),
        }
    }

    fn set_pipeline(&self, request: p4::SetForwardingPipelineConfigRequest) -> Result<(), Status> {
        use p4::set_forwarding_pipeline_config_request::Action;
        self.check_device(request.device_id)?;
        self.check_role(&request.role)?;
        self.check_primary(request.election_id.as_ref())?;
        let action = Action::try_from(request.action).unwrap_or(Action::Unspecified);
        let config = match (action, request.config) {
            (Action::Unspecified, _) => {
                return Err(Status::invalid_argument("action is UNSPECIFIED: use VERIFY_AND_COMMIT"))
            }
            // The node's pipeline is always saved and committed: COMMIT alone has nothing to do.
            (Action::Commit, None) => return Ok(()),
            (_, None) => return Err(Status::invalid_argument("no config given")),
            (_, Some(config)) => config,
        };
        let ours = self.index.p4info();
        let theirs = config
            .p4info
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("P4Info mismatch: the config has no P4Info"))?;
        if let Some(difference) = first_difference(ours, theirs) {
            return Err(Status::invalid_argument(format!(
                "P4Info mismatch: {difference}. This node runs a fixed pipeline: send p4/netcraq.p4info.txtpb \
                 (or read it with GetForwardingPipelineConfig)"
            )));
        }
        if action != Action::Verify {
            *self.cookie.lock().unwrap_or_else(|p| p.into_inner()) = config.cookie.map(|c| c.cookie);
        }
        Ok(())
    }

    fn get_pipeline(
        &self,
        request: p4::GetForwardingPipelineConfigRequest,
    ) -> Result<p4::ForwardingPipelineConfig, Status> {
        use p4::get_forwarding_pipeline_config_request::ResponseType;
        self.check_device(request.device_id)?;
        let cookie = self
            .cookie
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|cookie| p4::forwarding_pipeline_config::Cookie { cookie });
        let p4info = match ResponseType::try_from(request.response_type).unwrap_or(ResponseType::All) {
            ResponseType::All | ResponseType::P4infoAndCookie => Some(self.index.p4info().clone()),
            ResponseType::CookieOnly | ResponseType::DeviceConfigAndCookie => None,
        };
        Ok(p4::ForwardingPipelineConfig { p4info, p4_device_config: vec![], cookie })
    }

    /// Answers the entities of one Read, in order, in chunks.
    async fn read(
        &self,
        entities: Vec<p4::Entity>,
        out: mpsc::Sender<Result<p4::ReadResponse, Status>>,
    ) -> Result<(), Status> {
        let mut chunk = Vec::with_capacity(READ_CHUNK_ENTITIES);
        for entity in &entities {
            for found in self.read_entity(entity).await? {
                chunk.push(found);
                if chunk.len() == READ_CHUNK_ENTITIES {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(READ_CHUNK_ENTITIES));
                    if out.send(Ok(p4::ReadResponse { entities: full })).await.is_err() {
                        return Ok(()); // The reader went away.
                    }
                }
            }
        }
        let _ = out.send(Ok(p4::ReadResponse { entities: chunk })).await;
        Ok(())
    }

    async fn read_entity(&self, entity: &p4::Entity) -> Result<Vec<p4::Entity>, Status> {
        use p4::entity::Entity;
        let ids = &self.ids;
        let mut found = Vec::new();
        match entity.entity.as_ref() {
            None => return Err(Status::invalid_argument("an entity to read is empty: set one of its kinds")),
            Some(Entity::TableEntry(entry)) => {
                let read = ids.table_read(&self.index, entry)?;
                for table in read.tables {
                    match (table == ids.node_config, read.default_entries) {
                        (true, true) => {
                            let config = match self.call(ControlRequest::ReadConfig).await {
                                Ok(ControlResponse::Config(config)) => config,
                                other => return Err(unexpected(other)),
                            };
                            found.push(Entity::TableEntry(ids.config_entry(config.as_ref())));
                        }
                        (true, false) => {} // Keyless: only its default entry exists.
                        (false, true) => found.push(Entity::TableEntry(ids.route_default_entry())),
                        (false, false) => {
                            let routes = match self.call(ControlRequest::ReadRoutes).await {
                                Ok(ControlResponse::Routes(routes)) => routes,
                                other => return Err(unexpected(other)),
                            };
                            let wanted = |r: &&netcraq_core::Route| {
                                read.route_filter.is_none_or(|(prefix, len)| r.prefix == prefix && r.prefix_len == len)
                            };
                            found.extend(routes.iter().filter(wanted).map(|r| Entity::TableEntry(ids.route_entry(r))));
                        }
                    }
                }
            }
            Some(Entity::CounterEntry(entry)) => {
                for (counter, index) in ids.counter_reads(&self.index, entry)? {
                    let (first, packets) = match self.call(ControlRequest::ReadCounter { counter, index }).await {
                        Ok(ControlResponse::Counter { first_index, packets }) => (first_index, packets),
                        other => return Err(unexpected(other)),
                    };
                    found.extend(packets.iter().enumerate().map(|(offset, packets)| {
                        Entity::CounterEntry(ids.counter_entry(counter, Some(first + offset as u32), Some(*packets)))
                    }));
                }
            }
            Some(Entity::RegisterEntry(entry)) => {
                for (register, index) in ids.register_reads(&self.index, entry)? {
                    let (first, values) = match self.call(ControlRequest::ReadRegister { register, index }).await {
                        Ok(ControlResponse::Register { first_index, values }) => (first_index, values),
                        other => return Err(unexpected(other)),
                    };
                    found.extend(values.iter().enumerate().map(|(offset, value)| {
                        Entity::RegisterEntry(ids.register_entry(register, Some(first + offset as u32), Some(*value)))
                    }));
                }
            }
            Some(other) => return Err(crate::entities::not_served(other).into()),
        }
        Ok(found.into_iter().map(|entity| p4::Entity { entity: Some(entity) }).collect())
    }

    /// One message of a controller's StreamChannel.
    fn on_stream_message(
        &self,
        stream: u64,
        message: p4::StreamMessageRequest,
        notices: &mpsc::Sender<Result<p4::StreamMessageResponse, Status>>,
    ) -> Result<(), Status> {
        use p4::stream_message_request::Update;
        match message.update {
            Some(Update::Arbitration(update)) => {
                self.check_device(update.device_id)?;
                let role = update.role.as_ref().map_or("", |r| r.name.as_str());
                self.check_role(role)?;
                if update.role.as_ref().is_some_and(|r| r.config.is_some()) {
                    return Err(Status::invalid_argument("role config is not served: leave role.config unset"));
                }
                // An unset election id claims nothing: the lowest id, a backup
                // unless nobody ever claimed more.
                let election_id = from_uint128(update.election_id.as_ref()).unwrap_or(0);
                self.arbitration().update(self.settings.device_id, stream, election_id, notices, &self.counters)
            }
            Some(other) => {
                let what = match other {
                    Update::Packet(_) => "PacketOut (the node has no CPU port)",
                    Update::DigestAck(_) => "DigestListAck (the program has no digests)",
                    _ => "this stream message",
                };
                let error = p4::StreamError {
                    canonical_code: Code::Unimplemented as i32,
                    message: format!("this node does not serve {what}"),
                    ..Default::default()
                };
                let response =
                    p4::StreamMessageResponse { update: Some(p4::stream_message_response::Update::Error(error)) };
                if notices.try_send(Ok(response)).is_err() {
                    bump(&self.counters.notices_dropped);
                }
                Ok(())
            }
            None => Ok(()),
        }
    }
}

fn unexpected(answer: Result<ControlResponse, ControlError>) -> Status {
    match answer {
        Err(error) => node_unavailable(error),
        Ok(other) => Status::internal(format!("the node answered {other:?}")),
    }
}

/// The RPC-wide error for a node's refusal, or when its poll loop cannot take the request.
fn node_unavailable(error: ControlError) -> Status {
    let P4Error { code, message } = control_error(error);
    Status::new(code, message)
}

/// A node's refusal as a P4Runtime error code.
fn control_error(error: ControlError) -> P4Error {
    let code = match &error {
        ControlError::Config(_) => Code::InvalidArgument,
        ControlError::Route(RouteError::Duplicate) => Code::AlreadyExists,
        ControlError::Route(RouteError::NotFound) => Code::NotFound,
        ControlError::Route(RouteError::Full) => Code::ResourceExhausted,
        ControlError::Route(RouteError::BadPrefix) => Code::InvalidArgument,
        ControlError::IndexOutOfRange { .. } | ControlError::ValueTooWide { .. } => Code::OutOfRange,
        ControlError::BadBatch(_) | ControlError::LcoresDiffer(_) => Code::Internal,
        ControlError::Busy | ControlError::NodeStopped => Code::Unavailable,
        ControlError::TimedOut(_) => Code::DeadlineExceeded,
    };
    P4Error::new(code, error.to_string())
}

/// The spec's Write failure: UNKNOWN, with one p4.v1.Error per update (OK
/// for those that succeeded) in a google.rpc.Status in the status details.
fn write_failure(outcomes: &[Result<(), P4Error>]) -> Status {
    let failed: Vec<(usize, &P4Error)> =
        outcomes.iter().enumerate().filter_map(|(i, o)| o.as_ref().err().map(|e| (i, e))).collect();
    let (first_index, first) = failed[0];
    let message = format!(
        "Write failure: {} of {} updates failed; update {first_index}: {:?}: {}",
        failed.len(),
        outcomes.len(),
        first.code,
        first.message
    );
    let details = outcomes
        .iter()
        .map(|outcome| {
            let error = match outcome {
                Ok(()) => p4::Error { canonical_code: Code::Ok as i32, ..Default::default() },
                Err(e) => p4::Error { canonical_code: e.code as i32, message: e.message.clone(), ..Default::default() },
            };
            prost_types::Any { type_url: TYPE_URL_P4_ERROR.to_string(), value: error.encode_to_vec() }
        })
        .collect();
    let status = rpc::Status { code: Code::Unknown as i32, message: message.clone(), details };
    Status::with_details(Code::Unknown, message, status.encode_to_vec().into())
}

/// The per-update errors of a failed Write, decoded from its status details:
/// `(update index, code, message)` of each failed update.
pub fn write_errors(status: &Status) -> Vec<(usize, Code, String)> {
    let Ok(details) = rpc::Status::decode(status.details()) else { return vec![] };
    details
        .details
        .iter()
        .enumerate()
        .filter(|(_, any)| any.type_url.ends_with("p4.v1.Error"))
        .filter_map(|(index, any)| p4::Error::decode(any.value.as_slice()).ok().map(|e| (index, e)))
        .filter(|(_, error)| error.canonical_code != Code::Ok as i32)
        .map(|(index, error)| (index, Code::from(error.canonical_code), error.message))
        .collect()
}

#[tonic::async_trait]
impl P4Runtime for NodeService {
    async fn write(&self, request: Request<p4::WriteRequest>) -> Result<Response<p4::WriteResponse>, Status> {
        let result = self.shared.write(request.into_inner()).await;
        self.shared.finish("Write", result).map(Response::new)
    }

    type ReadStream = ReceiverStream<Result<p4::ReadResponse, Status>>;

    async fn read(&self, request: Request<p4::ReadRequest>) -> Result<Response<Self::ReadStream>, Status> {
        let request = request.into_inner();
        let checked = self.shared.check_device(request.device_id).and_then(|()| self.shared.check_role(&request.role));
        self.shared.finish("Read", checked)?;
        let (out, stream) = mpsc::channel(STREAM_QUEUE_LEN);
        let shared = self.shared.clone();
        tokio::spawn(async move {
            if let Err(status) = shared.read(request.entities, out.clone()).await {
                bump(&shared.counters.rpcs_failed);
                tracing::info!(code = ?status.code(), message = status.message(), "P4Runtime Read failed");
                let _ = out.send(Err(status)).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(stream)))
    }

    async fn set_forwarding_pipeline_config(
        &self,
        request: Request<p4::SetForwardingPipelineConfigRequest>,
    ) -> Result<Response<p4::SetForwardingPipelineConfigResponse>, Status> {
        let result = self.shared.set_pipeline(request.into_inner());
        self.shared.finish("SetForwardingPipelineConfig", result)?;
        Ok(Response::new(p4::SetForwardingPipelineConfigResponse {}))
    }

    async fn get_forwarding_pipeline_config(
        &self,
        request: Request<p4::GetForwardingPipelineConfigRequest>,
    ) -> Result<Response<p4::GetForwardingPipelineConfigResponse>, Status> {
        let result = self.shared.get_pipeline(request.into_inner());
        let config = self.shared.finish("GetForwardingPipelineConfig", result)?;
        Ok(Response::new(p4::GetForwardingPipelineConfigResponse { config: Some(config) }))
    }

    type StreamChannelStream = ReceiverStream<Result<p4::StreamMessageResponse, Status>>;

    async fn stream_channel(
        &self,
        request: Request<Streaming<p4::StreamMessageRequest>>,
    ) -> Result<Response<Self::StreamChannelStream>, Status> {
        bump(&self.shared.counters.rpcs);
        let mut inbound = request.into_inner();
        let (notices, outbound) = mpsc::channel(STREAM_QUEUE_LEN);
        let shared = self.shared.clone();
        let stream = shared.next_stream.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            // Until the controller closes its side or the connection breaks.
            while let Ok(Some(message)) = inbound.message().await {
                if let Err(status) = shared.on_stream_message(stream, message, &notices) {
                    bump(&shared.counters.arbitrations_refused);
                    bump(&shared.counters.rpcs_failed);
                    tracing::info!(code = ?status.code(), message = status.message(), "StreamChannel refused");
                    let _ = notices.send(Err(status)).await;
                    break;
                }
            }
            shared.arbitration().disconnect(shared.settings.device_id, stream, &shared.counters);
        });
        Ok(Response::new(ReceiverStream::new(outbound)))
    }

    async fn capabilities(
        &self,
        _request: Request<p4::CapabilitiesRequest>,
    ) -> Result<Response<p4::CapabilitiesResponse>, Status> {
        bump(&self.shared.counters.rpcs);
        Ok(Response::new(p4::CapabilitiesResponse { p4runtime_api_version: P4RUNTIME_API_VERSION.to_string() }))
    }
}

/// A server running on its own thread; stopped (and joined) on drop.
pub struct RunningServer {
    local_addr: SocketAddr,
    counters: Arc<ServerCounters>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn counters(&self) -> Arc<ServerCounters> {
        self.counters.clone()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Binds the P4Runtime listener (e.g. `127.0.0.1:9559`, port 0 for any free
/// one). Separate from [`serve_on_thread`] so a node can bind in one network
/// namespace and then move its packet sockets to another.
pub fn bind(address: &str) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(address)
        .map_err(|e| std::io::Error::new(e.kind(), format!("binding the P4Runtime listener on {address}: {e}")))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves `service` on `listener` from a new thread with its own tokio runtime.
pub fn serve_on_thread(listener: std::net::TcpListener, service: NodeService) -> std::io::Result<RunningServer> {
    let local_addr = listener.local_addr()?;
    let counters = service.counters();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(8)
        .thread_name("p4runtime")
        .enable_all()
        .build()?;
    let listener = {
        let _entered = runtime.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    let (shutdown, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new().name("p4runtime-server".to_string()).spawn(move || {
        runtime.block_on(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let serving =
                tonic::transport::Server::builder().add_service(service.into_server()).serve_with_incoming(incoming);
            // Not a graceful shutdown: an open StreamChannel would hold it forever.
            tokio::select! {
                served = serving => {
                    if let Err(error) = served {
                        tracing::error!(%error, "the P4Runtime server stopped");
                    }
                }
                _ = stopped => {}
            }
        });
        // Open streams would keep it alive: the node is stopping, drop them.
        runtime.shutdown_timeout(Duration::from_millis(100));
    })?;
    Ok(RunningServer { local_addr, counters, shutdown: Some(shutdown), thread: Some(thread) })
}
