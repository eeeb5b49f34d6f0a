//! A thin P4Runtime client for the controller: connect, become primary,
//! set or get the pipeline config, write updates in a batch, read
//! entities and send frames (PacketOut), each bounded in time, with errors that name the node and say
//! what to do. It speaks to any P4Runtime server (NetCRAQ nodes, BMv2's
//! simple_switch_grpc, Tofino's), not only NetCRAQ's, in plaintext or over
//! TLS ([`ClientTlsFiles`], mutual TLS optional).

#![forbid(unsafe_code)]

use netcraq_p4runtime::proto::p4::config::v1::P4Info;
use netcraq_p4runtime::proto::p4::v1 as p4;
pub use netcraq_p4runtime::tls::IdentityFiles;
use netcraq_p4runtime::write_status::write_errors;
use p4::p4_runtime_client::P4RuntimeClient as Grpc;
use std::time::Duration;
use tls::{refused_by_node, tls_failure};
pub use tls::{ClientTls, ClientTlsFiles};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

mod tls;

/// Stream messages (arbitration, PacketOut) queued toward the server at most.
const STREAM_QUEUE_LEN: usize = 64;
/// The server's StreamErrors kept until the next PacketOut reports one; more are dropped.
const STREAM_ERRORS_KEPT: usize = 16;

/// Why a call to a P4Runtime server failed. Every variant names the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    Connect {
        address: String,
        detail: String,
    },
    /// The TLS handshake failed: `detail` says which check, on which side.
    Tls {
        address: String,
        detail: String,
    },
    TimedOut {
        address: String,
        what: &'static str,
        after: Duration,
    },
    /// Another controller holds a higher election id (or held it: the spec
    /// keeps the highest id seen, so claim at least as high).
    NotPrimary {
        address: String,
        election_id: u128,
        highest: Option<u128>,
        detail: String,
    },
    Rpc {
        address: String,
        rpc: &'static str,
        code: Code,
        message: String,
    },
    /// A Write in which some updates failed: `(update index, code, message)`.
    Write {
        address: String,
        failures: Vec<(usize, Code, String)>,
        message: String,
    },
}

impl ClientError {
    /// The gRPC code of the failure (of the first failed update for a Write).
    pub fn code(&self) -> Code {
        match self {
            ClientError::Connect { .. } | ClientError::Tls { .. } => Code::Unavailable,
            ClientError::TimedOut { .. } => Code::DeadlineExceeded,
            ClientError::NotPrimary { .. } => Code::PermissionDenied,
            ClientError::Rpc { code, .. } => *code,
            ClientError::Write { failures, .. } => failures.first().map_or(Code::Unknown, |(_, code, _)| *code),
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Connect { address, detail } => write!(
                f,
                "P4Runtime server {address}: cannot connect ({detail}): is the node running with \
                 `--p4runtime {address}`, and is that address reachable from this network namespace?"
            ),
            ClientError::Tls { address, detail } => write!(f, "P4Runtime server {address}: TLS: {detail}"),
            ClientError::TimedOut { address, what, after } => write!(
                f,
                "P4Runtime server {address}: {what} got no answer within {} ms: is the node overloaded or stuck?",
                after.as_millis()
            ),
            ClientError::NotPrimary { address, election_id, highest, detail } => {
                let highest = highest.map_or("none".to_string(), |h| h.to_string());
                write!(
                    f,
                    "P4Runtime server {address}: election id {election_id} did not make this controller primary \
                     (highest id seen: {highest}; {detail}): stop the other controller or use a higher election id"
                )
            }
            ClientError::Rpc { address, rpc, code, message } => {
                write!(f, "P4Runtime server {address}: {rpc} failed: {code:?}: {message}")
            }
            ClientError::Write { address, failures, message } => {
                write!(f, "P4Runtime server {address}: Write failed: {message}")?;
                for (index, code, message) in failures.iter().take(8) {
                    write!(f, "\n  update {index}: {code:?}: {message}")?;
                }
                if failures.len() > 8 {
                    write!(f, "\n  ... and {} more", failures.len() - 8)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// Where this controller stands in the server's arbitration, as last told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// No answer yet (or the stream is closed).
    Unknown,
    Primary,
    Backup {
        highest: Option<u128>,
    },
}

/// A connection to one P4Runtime server (one device).
pub struct P4RuntimeClient {
    address: String,
    device_id: u64,
    timeout: Duration,
    grpc: Grpc<Channel>,
    /// The TLS this connection uses, to tell a failed handshake in words.
    tls: Option<ClientTls>,
    election_id: Option<u128>,
    /// Kept open while primary: closing it gives up the role.
    stream: Option<mpsc::Sender<p4::StreamMessageRequest>>,
    standing: Option<watch::Receiver<Standing>>,
    /// What the server refused on the stream (a PacketOut), not yet reported.
    stream_errors: Option<mpsc::Receiver<p4::StreamError>>,
}

impl P4RuntimeClient {
    /// Connects to `address` (`host:port`, e.g. `127.0.0.1:9559`, or
    /// `unix:PATH` for a server on a unix socket, as BMv2 in a network
    /// namespace listens) for device `device_id`, in plaintext; `timeout`
    /// bounds the connection and every later call.
    pub async fn connect(address: &str, device_id: u64, timeout: Duration) -> Result<P4RuntimeClient, ClientError> {
        P4RuntimeClient::connect_secured(address, device_id, timeout, None).await
    }

    /// [`P4RuntimeClient::connect`], over TLS when `tls` is given (`host:port` addresses only).
    pub async fn connect_secured(
        address: &str,
        device_id: u64,
        timeout: Duration,
        tls: Option<&ClientTls>,
    ) -> Result<P4RuntimeClient, ClientError> {
        let connect_error = |detail: String| ClientError::Connect { address: address.to_string(), detail };
        let failed = |error: &(dyn std::error::Error + 'static)| match tls_failure(error, tls) {
            Some(detail) => ClientError::Tls { address: address.to_string(), detail },
            None => connect_error(error_chain(error)),
        };
        let connecting = async {
            match (address.strip_prefix("unix:"), tls) {
                (Some(_), Some(_)) => {
                    Err(connect_error("TLS is for host:port addresses; a unix socket is plaintext".into()))
                }
                (Some(path), None) => connect_unix(path, timeout).await.map_err(connect_error),
                (None, _) => {
                    let scheme = if tls.is_some() { "https" } else { "http" };
                    let uri =
                        if address.contains("://") { address.to_string() } else { format!("{scheme}://{address}") };
                    let mut endpoint =
                        Endpoint::from_shared(uri).map_err(|e| connect_error(format!("bad address: {e}")))?;
                    if let Some(tls) = tls {
                        endpoint = endpoint.tls_config(tls.config.clone()).map_err(|e| failed(&e))?;
                    }
                    endpoint.connect_timeout(timeout).tcp_nodelay(true).connect().await.map_err(|e| failed(&e))
                }
            }
        };
        let channel = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| connect_error(format!("no connection within {} ms", timeout.as_millis())))??;
        let grpc = Grpc::new(channel).max_decoding_message_size(64 << 20).max_encoding_message_size(16 << 20);
        let mut client = P4RuntimeClient {
            address: address.to_string(),
            device_id,
            timeout,
            grpc,
            tls: tls.cloned(),
            election_id: None,
            stream: None,
            standing: None,
            stream_errors: None,
        };
        if let Some(tls) = tls {
            client.check_taken(tls).await?;
        }
        Ok(client)
    }

    /// A TLS 1.3 server judges the client's certificate after the
    /// handshake: a first call hears its verdict. Any answer, even an
    /// error, means the server took this client; a broken connection means
    /// it did not.
    async fn check_taken(&mut self, tls: &ClientTls) -> Result<(), ClientError> {
        let request = p4::CapabilitiesRequest { device_id: self.device_id };
        let answer = tokio::time::timeout(self.timeout, self.grpc.clone().capabilities(request)).await;
        let Ok(Err(status)) = answer else { return Ok(()) };
        match tls_failure(&status, Some(tls)) {
            Some(detail) => Err(ClientError::Tls { address: self.address.clone(), detail }),
            None if broke(&status) => {
                Err(ClientError::Tls { address: self.address.clone(), detail: refused_by_node(None, &tls.files) })
            }
            None => Ok(()),
        }
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// A second client over the same connection, sharing this one's role:
    /// its calls (a PacketOut too, once primary) run concurrently with this
    /// one's. Refusals of earlier PacketOuts are reported to this client only.
    pub fn share(&self) -> P4RuntimeClient {
        P4RuntimeClient {
            address: self.address.clone(),
            device_id: self.device_id,
            timeout: self.timeout,
            grpc: self.grpc.clone(),
            election_id: self.election_id,
            stream: self.stream.clone(),
            standing: self.standing.clone(),
            stream_errors: None,
            tls: self.tls.clone(),
        }
    }

    /// Opens the StreamChannel and claims the primary role with
    /// `election_id`; fails with [`ClientError::NotPrimary`] when the server
    /// makes this controller a backup. The role lasts while this client lives;
    /// call it once per client (a second call with the same id is refused,
    /// the id being in use by the first stream).
    pub async fn become_primary(&mut self, election_id: u128) -> Result<(), ClientError> {
        let (requests, outbound) = mpsc::channel(STREAM_QUEUE_LEN);
        let arbitration = p4::StreamMessageRequest {
            update: Some(p4::stream_message_request::Update::Arbitration(p4::MasterArbitrationUpdate {
                device_id: self.device_id,
                role: None,
                election_id: Some(p4::Uint128 { high: (election_id >> 64) as u64, low: election_id as u64 }),
                status: None,
            })),
        };
        requests.try_send(arbitration).expect("a new channel has room");
        let mut grpc = self.grpc.clone();
        let call = grpc.stream_channel(ReceiverStream::new(outbound));
        let mut inbound = self.timed("StreamChannel", call).await?.into_inner();
        let (standing_tx, mut standing) = watch::channel(Standing::Unknown);
        let (errors_tx, stream_errors) = mpsc::channel(STREAM_ERRORS_KEPT);
        tokio::spawn(async move {
            while let Ok(Some(message)) = inbound.message().await {
                match message.update {
                    Some(p4::stream_message_response::Update::Arbitration(update)) => {
                        let _ = standing_tx.send(standing_of(&update));
                    }
                    Some(p4::stream_message_response::Update::Error(error)) => {
                        let _ = errors_tx.try_send(error);
                    }
                    _ => {}
                }
            }
            let _ = standing_tx.send(Standing::Unknown);
        });
        let answered = tokio::time::timeout(self.timeout, standing.wait_for(|s| *s != Standing::Unknown))
            .await
            .map(|seen| seen.map(|current| *current));
        let current = match answered {
            Ok(Ok(current)) => current,
            Ok(Err(_)) => Standing::Unknown,
            Err(_) => {
                return Err(ClientError::TimedOut {
                    address: self.address.clone(),
                    what: "arbitration",
                    after: self.timeout,
                })
            }
        };
        match current {
            Standing::Primary => {
                self.election_id = Some(election_id);
                self.stream = Some(requests);
                self.standing = Some(standing);
                self.stream_errors = Some(stream_errors);
                Ok(())
            }
            Standing::Backup { highest } => Err(ClientError::NotPrimary {
                address: self.address.clone(),
                election_id,
                highest,
                detail: "another controller is or was primary".to_string(),
            }),
            Standing::Unknown => Err(ClientError::NotPrimary {
                address: self.address.clone(),
                election_id,
                highest: None,
                detail: "the server closed the stream (wrong device id or election id in use?)".to_string(),
            }),
        }
    }

    /// What the server last said about this controller's role.
    pub fn standing(&self) -> Standing {
        self.standing.as_ref().map_or(Standing::Unknown, |s| *s.borrow())
    }

    pub async fn capabilities(&mut self) -> Result<String, ClientError> {
        let request = p4::CapabilitiesRequest { device_id: self.device_id };
        let mut grpc = self.grpc.clone();
        let response = self.timed("Capabilities", grpc.capabilities(request)).await?;
        Ok(response.into_inner().p4runtime_api_version)
    }

    /// The P4Info the server runs.
    pub async fn get_p4info(&mut self) -> Result<P4Info, ClientError> {
        use p4::get_forwarding_pipeline_config_request::ResponseType;
        let request = p4::GetForwardingPipelineConfigRequest {
            device_id: self.device_id,
            response_type: ResponseType::P4infoAndCookie as i32,
        };
        let mut grpc = self.grpc.clone();
        let response = self.timed("GetForwardingPipelineConfig", grpc.get_forwarding_pipeline_config(request)).await?;
        response.into_inner().config.and_then(|c| c.p4info).ok_or_else(|| ClientError::Rpc {
            address: self.address.clone(),
            rpc: "GetForwardingPipelineConfig",
            code: Code::FailedPrecondition,
            message: "the server has no pipeline config yet: set one first".to_string(),
        })
    }

    /// Installs (VERIFY_AND_COMMIT) a pipeline: `p4info` and the target's
    /// `device_config` (BMv2 JSON, Tofino binary; empty for NetCRAQ's
    /// software and DPDK nodes, which accept only their own P4Info). Needs
    /// the primary role.
    pub async fn set_pipeline_config(&mut self, p4info: P4Info, device_config: Vec<u8>) -> Result<(), ClientError> {
        use p4::set_forwarding_pipeline_config_request::Action;
        let request = p4::SetForwardingPipelineConfigRequest {
            device_id: self.device_id,
            role: String::new(),
            election_id: self.election_id_message(),
            action: Action::VerifyAndCommit as i32,
            config: Some(p4::ForwardingPipelineConfig {
                p4info: Some(p4info),
                p4_device_config: device_config,
                cookie: None,
            }),
        };
        let mut grpc = self.grpc.clone();
        self.timed("SetForwardingPipelineConfig", grpc.set_forwarding_pipeline_config(request)).await?;
        Ok(())
    }

    /// Writes `updates` as one batch (CONTINUE_ON_ERROR): every update is
    /// tried; [`ClientError::Write`] lists those that failed. Needs the primary role.
    pub async fn write(&mut self, updates: Vec<p4::Update>) -> Result<(), ClientError> {
        if updates.is_empty() {
            return Ok(());
        }
        let request = p4::WriteRequest {
            device_id: self.device_id,
            role: String::new(),
            election_id: self.election_id_message(),
            updates,
            atomicity: p4::write_request::Atomicity::ContinueOnError as i32,
        };
        let mut grpc = self.grpc.clone();
        match tokio::time::timeout(self.timeout, grpc.write(request)).await {
            Err(_) => Err(ClientError::TimedOut { address: self.address.clone(), what: "Write", after: self.timeout }),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(status)) => {
                let failures = write_errors(&status);
                match failures.is_empty() {
                    true => Err(self.rpc_error("Write", status)),
                    false => Err(ClientError::Write {
                        address: self.address.clone(),
                        failures,
                        message: status.message().to_string(),
                    }),
                }
            }
        }
    }

    /// Reads `entities` (wildcards allowed: id 0, unset index, no match);
    /// all the answers, in order.
    pub async fn read(&mut self, entities: Vec<p4::Entity>) -> Result<Vec<p4::Entity>, ClientError> {
        let request = p4::ReadRequest { device_id: self.device_id, role: String::new(), entities };
        let mut grpc = self.grpc.clone();
        let address = self.address.clone();
        let collect = async move {
            let mut stream = grpc.read(request).await?.into_inner();
            let mut found = Vec::new();
            while let Some(response) = stream.message().await? {
                found.extend(response.entities);
            }
            Ok::<_, tonic::Status>(found)
        };
        match tokio::time::timeout(self.timeout, collect).await {
            Err(_) => Err(ClientError::TimedOut { address, what: "Read", after: self.timeout }),
            Ok(Ok(found)) => Ok(found),
            Ok(Err(status)) => Err(self.rpc_error("Read", status)),
        }
    }

    /// Sends `payload` as a PacketOut on the primary's StreamChannel: the
    /// node takes it as a frame arriving by its controller port. Needs the
    /// primary role. P4Runtime acknowledges no PacketOut, so a server's
    /// refusal (a StreamError) arrives after its call returned: the next call
    /// reports it instead of sending its own frame, and the caller sends
    /// that frame again.
    pub async fn packet_out(&mut self, payload: Vec<u8>) -> Result<(), ClientError> {
        let refused = |code: Code, message: String| ClientError::Rpc {
            address: self.address.clone(),
            rpc: "PacketOut",
            code,
            message,
        };
        if let Standing::Backup { highest } = self.standing() {
            let highest = highest.map_or("unknown".to_string(), |h| h.to_string());
            let message = format!("another controller took the primary role (election id {highest})");
            return Err(refused(Code::PermissionDenied, message));
        }
        let Some(stream) = &self.stream else {
            return Err(refused(Code::PermissionDenied, "not primary: call become_primary first".to_string()));
        };
        if let Some(Ok(error)) = self.stream_errors.as_mut().map(mpsc::Receiver::try_recv) {
            let message = format!("the server refused an earlier PacketOut: {}", error.message);
            return Err(refused(Code::from(error.canonical_code), message));
        }
        let message = p4::StreamMessageRequest {
            update: Some(p4::stream_message_request::Update::Packet(p4::PacketOut { payload })),
        };
        match tokio::time::timeout(self.timeout, stream.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => {
                Err(refused(Code::Unavailable, "the StreamChannel is closed (is the node still running?)".to_string()))
            }
            Err(_) => {
                Err(ClientError::TimedOut { address: self.address.clone(), what: "PacketOut", after: self.timeout })
            }
        }
    }

    fn election_id_message(&self) -> Option<p4::Uint128> {
        self.election_id.map(|id| p4::Uint128 { high: (id >> 64) as u64, low: id as u64 })
    }

    async fn timed<T>(
        &self,
        rpc: &'static str,
        call: impl std::future::Future<Output = Result<T, tonic::Status>>,
    ) -> Result<T, ClientError> {
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(ClientError::TimedOut { address: self.address.clone(), what: rpc, after: self.timeout }),
            Ok(result) => result.map_err(|status| self.rpc_error(rpc, status)),
        }
    }

    fn rpc_error(&self, rpc: &'static str, status: tonic::Status) -> ClientError {
        if let Some(detail) = tls_failure(&status, self.tls.as_ref()) {
            return ClientError::Tls { address: self.address.clone(), detail };
        }
        let message = match status.code() {
            Code::PermissionDenied => {
                format!("{} (call become_primary first, with the highest election id)", status.message())
            }
            Code::Unavailable => format!("{} (is the node still running?)", status.message()),
            // A TLS server drops a plaintext client, often before its alert is read.
            _ if self.tls.is_none() && broke(&status) => format!(
                "{}: the connection broke (is the node still running? Does it serve TLS? Then give the controller \
                 the CA that signed its certificate: [tls] ca, --tls-ca)",
                status.message()
            ),
            _ => status.message().to_string(),
        };
        ClientError::Rpc { address: self.address.clone(), rpc, code: status.code(), message }
    }
}

fn standing_of(update: &p4::MasterArbitrationUpdate) -> Standing {
    let highest = update.election_id.as_ref().map(|v| (u128::from(v.high) << 64) | u128::from(v.low));
    match update.status.as_ref().map(|s| s.code) {
        Some(0) => Standing::Primary,
        _ => Standing::Backup { highest },
    }
}

/// Whether a call failed because the connection broke, not by the server's answer.
fn broke(status: &tonic::Status) -> bool {
    std::error::Error::source(status).is_some_and(|source| source.is::<tonic::transport::Error>())
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text += &format!(": {cause}");
        source = cause.source();
    }
    text
}

/// A channel to a server on the unix socket `path`.
async fn connect_unix(path: &str, timeout: Duration) -> Result<Channel, String> {
    let path = path.to_string();
    // The URI is required but unused: the connector ignores it.
    let endpoint = Endpoint::from_static("http://localhost").connect_timeout(timeout);
    let connector = tower::service_fn(move |_: tonic::transport::Uri| {
        let path = path.clone();
        async move { Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tokio::net::UnixStream::connect(path).await?)) }
    });
    endpoint.connect_with_connector(connector).await.map_err(|e| error_chain(&e))
}

/// An update of `kind` (INSERT, MODIFY, DELETE) for `entity`.
pub fn update(kind: p4::update::Type, entity: p4::entity::Entity) -> p4::Update {
    p4::Update { r#type: kind as i32, entity: Some(p4::Entity { entity: Some(entity) }) }
}

/// The entity `entity`, for a read.
pub fn entity(entity: p4::entity::Entity) -> p4::Entity {
    p4::Entity { entity: Some(entity) }
}
