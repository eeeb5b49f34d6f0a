//! The P4Runtime service of one node: its state, the checks every RPC
//! makes, and the tonic service whose RPCs [`crate::handlers`] answer.

use crate::arbitration::{from_uint128, Arbitration};
use crate::counters::{bump, ServerCounters};
use netcraq_core::control::{ControlError, ControlRequest, ControlResponse};
use netcraq_p4runtime::proto::p4::v1 as p4;
use netcraq_p4runtime::{NetcraqIds, P4InfoIndex};
use p4::p4_runtime_server::{P4Runtime, P4RuntimeServer};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// The P4Runtime version this subset follows.
pub const P4RUNTIME_API_VERSION: &str = "1.4.0";
/// Updates one Write may carry; more is refused as a whole (RESOURCE_EXHAUSTED).
pub const MAX_UPDATES_PER_WRITE: usize = 4096;
/// Entities per ReadResponse message: a read of a whole 65536-entry register
/// arrives in several messages, each well below gRPC's 4 MiB default limit.
pub const READ_CHUNK_ENTITIES: usize = 2048;
/// Messages waiting to be sent on one StreamChannel or Read stream.
const STREAM_QUEUE_LEN: usize = 16;
/// PacketOut frames one call to the poll loop carries at most: a controller
/// that writes many without waiting (a sweep, `docs/protocol.md` §10.1) pays
/// one hand-off to the poll loop per this many frames instead of one per
/// frame, while the loop spends at most a few hundred microseconds on them
/// between two bursts of data frames.
pub const MAX_PACKETS_PER_CALL: usize = 256;

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

/// How the server reaches its node: sends one request to the node's poll
/// loop and waits up to the timeout for its answer (blocking, e.g.
/// `netcraq_node::control::ControlHandle::call`), so that the server links
/// no packet backend.
pub type NodeCall = dyn Fn(ControlRequest, Duration) -> Result<ControlResponse, ControlError> + Send + Sync;

/// Where a controller's StreamChannel notices go.
pub(crate) type Notices = mpsc::Sender<Result<p4::StreamMessageResponse, Status>>;

pub(crate) struct Shared {
    pub(crate) index: P4InfoIndex,
    pub(crate) ids: NetcraqIds,
    node: Arc<NodeCall>,
    pub(crate) settings: ServerSettings,
    arbitration: Mutex<Arbitration<Notices>>,
    pub(crate) cookie: Mutex<Option<u64>>,
    pub(crate) counters: Arc<ServerCounters>,
    next_stream: AtomicU64,
}

/// The P4Runtime service of one node.
#[derive(Clone)]
pub struct NodeService {
    shared: Arc<Shared>,
}

impl NodeService {
    /// A service for the node that `node` calls, under the P4Info of `index`
    /// (which must hold NetCRAQ's tables, counters and registers).
    pub fn new(
        index: P4InfoIndex,
        node: impl Fn(ControlRequest, Duration) -> Result<ControlResponse, ControlError> + Send + Sync + 'static,
        settings: ServerSettings,
    ) -> Result<NodeService, String> {
        let ids =
            NetcraqIds::resolve_for_node(&index).map_err(|e| format!("the P4Info does not fit a NetCRAQ node: {e}"))?;
        let shared = Shared {
            index,
            ids,
            node: Arc::new(node),
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
    pub(crate) fn arbitration(&self) -> std::sync::MutexGuard<'_, Arbitration<Notices>> {
        // The arbitration state is consistent after every statement, so a
        // panic elsewhere while holding the lock leaves nothing half-done.
        self.arbitration.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn check_device(&self, device_id: u64) -> Result<(), Status> {
        match device_id == self.settings.device_id {
            true => Ok(()),
            false => Err(Status::not_found(format!(
                "device id {device_id}: this node is device {}",
                self.settings.device_id
            ))),
        }
    }

    pub(crate) fn check_role(&self, role: &str) -> Result<(), Status> {
        match role.is_empty() {
            true => Ok(()),
            false => Err(Status::unimplemented(format!("role {role:?}: this node serves only the default role"))),
        }
    }

    pub(crate) fn check_primary(&self, election_id: Option<&p4::Uint128>) -> Result<(), Status> {
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
    pub(crate) async fn call(&self, request: ControlRequest) -> Result<ControlResponse, ControlError> {
        let node = self.node.clone();
        let timeout = self.settings.control_timeout;
        match tokio::task::spawn_blocking(move || node(request, timeout)).await {
            Ok(result) => result,
            // The blocking task panicked or the runtime is shutting down.
            Err(_) => Err(ControlError::NodeStopped),
        }
    }

    /// Sends controllers `streams` their notice, holding the arbitration's
    /// lock so that notices go out in the order of the changes.
    pub(crate) fn notify(&self, arbitration: &Arbitration<Notices>, streams: Vec<u64>) {
        for stream in streams {
            if let Some(notices) = arbitration.notices(stream) {
                if notices.try_send(Ok(arbitration.notice(self.settings.device_id, stream))).is_err() {
                    bump(&self.counters.notices_dropped);
                }
            }
        }
    }

    pub(crate) fn finish<T>(&self, rpc: &str, result: Result<T, Status>) -> Result<T, Status> {
        bump(&self.counters.rpcs);
        if let Err(status) = &result {
            bump(&self.counters.rpcs_failed);
            tracing::info!(rpc, code = ?status.code(), message = status.message(), "P4Runtime RPC failed");
        }
        result
    }
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
            // A message read while gathering PacketOuts, handled next.
            let mut read_ahead = None;
            // Until the controller closes its side or the connection breaks.
            loop {
                let next = match read_ahead.take() {
                    Some(next) => next,
                    None => inbound.message().await,
                };
                let Ok(Some(message)) = next else { break };
                let handled = match message.update {
                    Some(p4::stream_message_request::Update::Packet(packet)) => {
                        let (frames, next) = packets_ready(&mut inbound, packet.payload).await;
                        read_ahead = next;
                        shared.packets_out(stream, frames, &notices).await;
                        Ok(())
                    }
                    update => shared.on_stream_message(stream, p4::StreamMessageRequest { update }, &notices).await,
                };
                if let Err(status) = handled {
                    bump(&shared.counters.arbitrations_refused);
                    bump(&shared.counters.rpcs_failed);
                    tracing::info!(code = ?status.code(), message = status.message(), "StreamChannel refused");
                    let _ = notices.send(Err(status)).await;
                    break;
                }
            }
            let mut arbitration = shared.arbitration();
            let streams = arbitration.disconnect(stream);
            shared.notify(&arbitration, streams);
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

type StreamRead = Result<Option<p4::StreamMessageRequest>, Status>;

/// `first` and the PacketOut frames already received after it, up to
/// [`MAX_PACKETS_PER_CALL`], without waiting for more; and the first other
/// read, if one ended the run (a message of another kind, or the stream's
/// end), to be handled after these frames.
async fn packets_ready(
    inbound: &mut Streaming<p4::StreamMessageRequest>,
    first: Vec<u8>,
) -> (Vec<Vec<u8>>, Option<StreamRead>) {
    let mut frames = vec![first];
    while frames.len() < MAX_PACKETS_PER_CALL {
        // `message` keeps what it has read in `inbound`: dropping it when
        // nothing is ready loses nothing.
        let ready = tokio::select! {
            biased;
            read = inbound.message() => read,
            () = std::future::ready(()) => break,
        };
        match ready {
            Ok(Some(p4::StreamMessageRequest { update: Some(p4::stream_message_request::Update::Packet(packet)) })) => {
                frames.push(packet.payload);
            }
            other => return (frames, Some(other)),
        }
    }
    (frames, None)
}
