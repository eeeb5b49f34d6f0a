//! The one interface through which the controller talks to every node,
//! whatever it is: [`Target`], implemented for every kind of node by
//! [`P4RuntimeTarget`]. Everything that differs between kinds is how the
//! node gets its pipeline ([`Pipeline`]), chosen in [`target_for`], the only
//! place that looks at a node's [`NodeKind`]:
//!
//! | | [`Pipeline::Fixed`] (software, DPDK) | [`Pipeline::Installed`] (BMv2, Tofino) |
//! |---|---|---|
//! | pipeline | the node runs NetCRAQ already: its P4Info must equal ours | SetForwardingPipelineConfig with the device config and P4Info files, unless the switch already runs that P4Info |
//! | packet replication | none (the node sends its second output itself) | clone session 100 for the second output (`p4/README.md`) |
//! | key capacity | from the P4Info | from the P4Info file |
//!
//! Tables, counters and registers are the same P4Runtime entities on every
//! kind (the P4Info contract): [`Connection`] speaks them.

use async_trait::async_trait;
use netcraq_core::control::{CounterId, RegisterId};
use netcraq_core::{FabricPort, KeyGroup, NodeConfig, Outcome, Route, CONTROLLER_PORT};
use netcraq_p4runtime::entities::{
    array_entry, decode_bits, RegisterArrays, CONTROL_PREFIX, NO_ROUTE_COUNTER, REGISTER_WORD_BITS,
};
use netcraq_p4runtime::p4info::{first_difference, load_p4info_file, netcraq_p4info};
use netcraq_p4runtime::proto::p4::config::v1::P4Info;
use netcraq_p4runtime::proto::p4::v1 as p4;
use netcraq_p4runtime::{NetcraqIds, P4InfoIndex};
use netcraq_p4runtime_client::{entity, update, ClientError, ClientTls, ClientTlsFiles, P4RuntimeClient, Standing};
use netcraq_plan::plan::NodeTables;
use netcraq_topology::{NodeKind, BMV2_CPU_PORT};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::Code;

/// Updates sent in one Write at most: well under every server's limit
/// (the software node's is 4096), so a full route table takes one or two.
const UPDATES_PER_WRITE: usize = 1024;

/// The register whose size is the node's key capacity K (every `kv_*`
/// register has K entries; on Tofino the value is split, the version not).
const KEY_CAPACITY_REGISTER: &str = "kv_version";

/// The clone session of the second output (`NETCRAQ_SECOND_OUTPUT_SESSION`
/// in `p4/include/headers.p4`).
pub const SECOND_OUTPUT_SESSION: u32 = 100;
/// BMv2: the clone's egress port. Egress recirculates every copy, so it is
/// never sent; 510 stays clear of real ports and of the drop port 511.
pub const BMV2_SECOND_OUTPUT_PORT: u32 = 510;
/// Tofino: the recirculation port the mirror copy loops through
/// (`NETCRAQ_RECIRC_PORT`, default 68: Tofino 1, pipe 0).
pub const TOFINO_SECOND_OUTPUT_PORT: u32 = 68;
/// Tofino: the port PacketOut frames enter by, the CPU PCIe port of a 4-pipe
/// Tofino 1 (192). Other Tofino models and pipe counts have another.
pub const TOFINO_PACKET_OUT_PORT: u16 = 192;

/// The pipeline files of a node. Switches need both; a software or DPDK
/// node takes at most `p4info`: the P4Info it must run (default: the one
/// this controller was built with, `p4/netcraq.p4info.txtpb`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineFiles {
    /// Text-format P4Info (`*.p4info.txtpb`).
    pub p4info: Option<PathBuf>,
    /// The target's device config: BMv2 JSON, Tofino binary.
    pub device_config: Option<PathBuf>,
}

/// Where a node is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    pub name: String,
    pub kind: NodeKind,
    /// P4Runtime server, `host:port`.
    pub address: String,
    pub device_id: u64,
    pub pipeline: PipelineFiles,
}

/// How the controller treats every target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetOptions {
    /// Bounds the connection and every call.
    pub timeout: Duration,
    /// Switches: install the pipeline even when the switch already runs the
    /// same P4Info (which wipes its registers). Without it a switch keeps
    /// its program and state, so a changed device config with an unchanged
    /// P4Info is not loaded.
    pub reinstall_pipeline: bool,
    /// P4Runtime over TLS (mutual TLS when it has a certificate); `None`: plaintext.
    pub tls: Option<ClientTlsFiles>,
}

impl Default for TargetOptions {
    fn default() -> Self {
        TargetOptions { timeout: Duration::from_secs(5), reinstall_pipeline: false, tls: None }
    }
}

/// What a node can do, known before connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub kind: NodeKind,
    /// K: registers per array (`key_hi <= K`), from the P4Info's `kv_version`.
    pub key_capacity: usize,
    /// Entries `ipv4_route` holds, from the P4Info.
    pub route_capacity: usize,
    /// Whether the node needs packet-replication entries before `node_config`.
    pub needs_replication_entries: bool,
    /// Whether the controller installs the pipeline (else it checks the node's).
    pub installs_pipeline: bool,
    /// The ingress port of the frames [`Target::packet_out`] sends, which
    /// `fabric_port` marks `from_controller` (`docs/protocol.md` §2.3):
    /// per kind of target, see [`packet_out_port`].
    pub packet_out_port: u16,
}

/// What preparing the pipeline did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipelineOutcome {
    /// The node runs exactly the P4Info the controller expects.
    Checked,
    /// The switch already ran this P4Info: left as it was (registers kept).
    AlreadyInstalled,
    /// SetForwardingPipelineConfig: the switch starts empty and unconfigured.
    Installed,
}

impl std::fmt::Display for PipelineOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PipelineOutcome::Checked => "P4Info checked",
            PipelineOutcome::AlreadyInstalled => "pipeline already installed (kept)",
            PipelineOutcome::Installed => "pipeline installed",
        })
    }
}

/// What writing a node's forwarding state changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForwardingChanges {
    pub routes_inserted: usize,
    pub routes_modified: usize,
    pub routes_deleted: usize,
    pub routes_unchanged: usize,
    pub fabric_ports_changed: usize,
    pub key_groups_changed: usize,
    pub replication_entries: usize,
}

impl std::fmt::Display for ForwardingChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "routes {} inserted, {} modified, {} deleted, {} unchanged",
            self.routes_inserted, self.routes_modified, self.routes_deleted, self.routes_unchanged
        )?;
        if self.fabric_ports_changed > 0 {
            write!(f, "; {} fabric port(s) written", self.fabric_ports_changed)?;
        }
        if self.key_groups_changed > 0 {
            write!(f, "; {} key_group entries written", self.key_groups_changed)?;
        }
        if self.replication_entries > 0 {
            write!(f, "; {} clone session(s)", self.replication_entries)?;
        }
        Ok(())
    }
}

/// A failure about one node. `Display` names the node and its address and
/// says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeError {
    pub node: String,
    pub address: String,
    pub message: String,
    /// The P4Runtime failure beneath, if any (boxed: errors travel far, and rarely).
    pub cause: Option<Box<ClientError>>,
}

impl NodeError {
    pub fn new(node: &str, address: &str, message: impl Into<String>) -> NodeError {
        NodeError { node: node.to_string(), address: address.to_string(), message: message.into(), cause: None }
    }

    /// Whether another controller holds (or took) the primary role.
    pub fn is_not_primary(&self) -> bool {
        self.cause.as_ref().is_some_and(|cause| cause.code() == Code::PermissionDenied)
    }

    /// Whether the node could not be reached at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(self.cause.as_deref(), Some(ClientError::Connect { .. }))
    }
}

impl std::fmt::Display for NodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node {} ({}): {}", self.node, self.address, self.message)
    }
}

impl std::error::Error for NodeError {}

/// One node, as the controller sees it. Every method is bounded in time
/// (by [`TargetOptions::timeout`] per call). Writes need the primary role.
#[async_trait]
pub trait Target: Send {
    fn name(&self) -> &str;
    /// The P4Runtime address.
    fn address(&self) -> &str;
    fn capabilities(&self) -> Capabilities;
    /// Opens the connection (no arbitration yet: reads need none).
    async fn connect(&mut self) -> Result<(), NodeError>;
    /// Claims the primary role with `election_id`; it lasts while this target lives.
    async fn become_primary(&mut self, election_id: u128) -> Result<(), NodeError>;
    /// Makes the node run the NetCRAQ pipeline this controller expects, or
    /// fails naming the first difference.
    async fn prepare_pipeline(&mut self) -> Result<PipelineOutcome, NodeError>;
    /// Everything the node needs to forward, but not `node_config`: its
    /// packet-replication entries, if it needs any, and exactly the tables'
    /// routes in `ipv4_route` and fabric ports in `fabric_port` (other
    /// entries are deleted).
    async fn write_forwarding(&mut self, tables: &NodeTables) -> Result<ForwardingChanges, NodeError>;
    /// Sets the `node_config` default entry: the node starts serving.
    async fn set_config(&mut self, config: &NodeConfig) -> Result<(), NodeError>;
    /// Resets `node_config` to `unconfigured`: the node drops every frame
    /// and counts `DROP_UNCONFIGURED`.
    async fn clear_config(&mut self) -> Result<(), NodeError>;
    async fn read_config(&mut self) -> Result<Option<NodeConfig>, NodeError>;
    async fn read_routes(&mut self) -> Result<Vec<Route>, NodeError>;
    /// Every entry of `counter`: element `i` is entry `i`'s packet count.
    async fn read_counter(&mut self, counter: CounterId) -> Result<Vec<u64>, NodeError>;
    /// `register` at `key`, or every key (`None`), as `(key, value)`.
    async fn read_register(&mut self, register: RegisterId, key: Option<u16>) -> Result<Vec<(u32, u128)>, NodeError>;
    /// Sends `frame` to the node by P4Runtime PacketOut: it enters the
    /// node's pipeline by [`Capabilities::packet_out_port`]. P4Runtime
    /// acknowledges no PacketOut: its outcome shows in the node's counters,
    /// and a refusal by the node is reported by the next call.
    async fn packet_out(&mut self, frame: &[u8]) -> Result<(), NodeError>;
    /// A second target over this one's connection and role, whose calls run
    /// concurrently with this one's (the running controller renews leases
    /// while it reconfigures); `None` before [`Target::connect`], or when
    /// the kind of target cannot share.
    fn share(&self) -> Option<Box<dyn Target>> {
        None
    }
}

/// The port PacketOut frames enter a node of `kind` by.
pub fn packet_out_port(kind: NodeKind) -> u16 {
    match kind {
        NodeKind::Software | NodeKind::Dpdk => CONTROLLER_PORT,
        // `simple_switch_grpc --cpu-port`, as the node is launched. The second
        // output's clone port has the same number, harmlessly: egress
        // recirculates every clone, so none reaches the controller.
        NodeKind::Bmv2 => BMV2_CPU_PORT,
        NodeKind::Tofino => TOFINO_PACKET_OUT_PORT,
    }
}

/// The target for `spec`: the only place where the kind of node decides
/// anything. Reads the pipeline files; talks to nobody yet.
pub fn target_for(spec: &TargetSpec, options: &TargetOptions) -> Result<Box<dyn Target>, NodeError> {
    let (p4info, pipeline) = match spec.kind {
        NodeKind::Software | NodeKind::Dpdk => (fixed_p4info(spec)?, Pipeline::Fixed),
        NodeKind::Bmv2 => installed_pipeline(spec, options, BMV2_SECOND_OUTPUT_PORT)?,
        NodeKind::Tofino => installed_pipeline(spec, options, TOFINO_SECOND_OUTPUT_PORT)?,
    };
    let connection = Connection::new(spec, options, p4info.clone())?;
    Ok(Box::new(P4RuntimeTarget { connection, kind: spec.kind, p4info, pipeline }))
}

/// How a node gets its pipeline: all that differs between kinds of node.
#[derive(Clone)]
enum Pipeline {
    /// A software or DPDK node: it runs the NetCRAQ pipeline from its start
    /// and serves P4Runtime itself; the controller checks its P4Info.
    Fixed,
    /// A P4 switch (BMv2, Tofino): the controller installs its pipeline and
    /// the clone session of the second output.
    Installed { device_config_path: PathBuf, reinstall: bool, second_output_port: u32 },
}

/// Any node, over P4Runtime.
pub struct P4RuntimeTarget {
    connection: Connection,
    kind: NodeKind,
    /// The P4Info the node must run: checked ([`Pipeline::Fixed`]) or installed.
    p4info: P4Info,
    pipeline: Pipeline,
}

/// The P4Info a software or DPDK node must run (default: the one this
/// controller was built with).
fn fixed_p4info(spec: &TargetSpec) -> Result<P4Info, NodeError> {
    if let Some(path) = &spec.pipeline.device_config {
        return Err(NodeError::new(
            &spec.name,
            &spec.address,
            format!(
                "a {} node takes no device config ({}): it runs the NetCRAQ pipeline already; remove it",
                spec.kind,
                path.display()
            ),
        ));
    }
    match &spec.pipeline.p4info {
        Some(path) => load_p4info(&spec.name, &spec.address, path),
        None => Ok(netcraq_p4info()),
    }
}

/// A switch's pipeline files, checked before any node is touched.
fn installed_pipeline(
    spec: &TargetSpec,
    options: &TargetOptions,
    second_output_port: u32,
) -> Result<(P4Info, Pipeline), NodeError> {
    let fail = |message: String| NodeError::new(&spec.name, &spec.address, message);
    let (Some(p4info_path), Some(device_config_path)) = (&spec.pipeline.p4info, &spec.pipeline.device_config) else {
        return Err(fail(format!(
            "a {} switch needs its pipeline files: give p4info (p4/build/netcraq.p4info.txtpb) and \
             device_config ({}) (p4/compile.sh builds them)",
            spec.kind,
            match spec.kind {
                NodeKind::Tofino => "the compiler's binary",
                _ => "p4/build/bmv2/netcraq.json",
            }
        )));
    };
    let p4info = load_p4info(&spec.name, &spec.address, p4info_path)?;
    // Read now, so a missing file fails before any node is touched.
    std::fs::metadata(device_config_path)
        .map_err(|e| fail(format!("device config {}: {e}", device_config_path.display())))?;
    let pipeline = Pipeline::Installed {
        device_config_path: device_config_path.clone(),
        reinstall: options.reinstall_pipeline,
        second_output_port,
    };
    Ok((p4info, pipeline))
}

/// The clone session the P4 program's second output needs (`p4/README.md`).
fn clone_session(second_output_port: u32) -> p4::entity::Entity {
    let replica = p4::Replica { port_kind: Some(p4::replica::PortKind::EgressPort(second_output_port)), instance: 0 };
    let session = p4::CloneSessionEntry {
        session_id: SECOND_OUTPUT_SESSION,
        replicas: vec![replica],
        class_of_service: 0,
        packet_length_bytes: 0,
    };
    p4::entity::Entity::PacketReplicationEngineEntry(p4::PacketReplicationEngineEntry {
        r#type: Some(p4::packet_replication_engine_entry::Type::CloneSessionEntry(session)),
    })
}

fn load_p4info(node: &str, address: &str, path: &Path) -> Result<P4Info, NodeError> {
    load_p4info_file(path).map_err(|e| NodeError::new(node, address, format!("P4Info: {e}")))
}

impl P4RuntimeTarget {
    /// Checks that the node runs exactly the P4Info this controller expects.
    async fn check_pipeline(&mut self) -> Result<PipelineOutcome, NodeError> {
        let running = self.connection.running_p4info().await?;
        match running.as_ref().map(|running| first_difference(running, &self.p4info)) {
            Some(None) => Ok(PipelineOutcome::Checked),
            Some(Some(difference)) => Err(self.connection.error(format!(
                "the node runs another P4Info than this controller expects ({difference}): build the node and \
                 the controller from the same p4/netcraq.p4info.txtpb, or give the node's P4Info in the deployment"
            ))),
            None => Err(self
                .connection
                .error("the node serves no pipeline: is this a NetCRAQ node? (a switch needs kind bmv2 or tofino)")),
        }
    }

    /// Installs the switch's pipeline from the device config at `path`,
    /// unless it runs this P4Info already and `reinstall` is not asked for.
    async fn install_pipeline(&mut self, path: &Path, reinstall: bool) -> Result<PipelineOutcome, NodeError> {
        let running = self.connection.running_p4info().await?;
        if running.as_ref() == Some(&self.p4info) && !reinstall {
            return Ok(PipelineOutcome::AlreadyInstalled);
        }
        let device_config =
            std::fs::read(path).map_err(|e| self.connection.error(format!("device config {}: {e}", path.display())))?;
        let client = self.connection.client()?;
        let installed = client.set_pipeline_config(self.p4info.clone(), device_config).await;
        installed.map_err(|e| self.connection.client_error("SetForwardingPipelineConfig", e))?;
        Ok(PipelineOutcome::Installed)
    }

    /// Inserts (or modifies) the clone session of the second output.
    async fn write_clone_session(&mut self, second_output_port: u32) -> Result<(), NodeError> {
        let session = clone_session(second_output_port);
        let inserted = self.connection.client()?.write(vec![update(p4::update::Type::Insert, session.clone())]).await;
        match inserted {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Code::AlreadyExists => {
                let modified = self.connection.client()?.write(vec![update(p4::update::Type::Modify, session)]).await;
                modified.map_err(|e| self.connection.client_error("writing the clone session", e))
            }
            Err(e) => Err(self.connection.client_error("writing the clone session", e)),
        }
    }
}

#[async_trait]
impl Target for P4RuntimeTarget {
    fn name(&self) -> &str {
        &self.connection.node
    }

    fn address(&self) -> &str {
        &self.connection.address
    }

    fn capabilities(&self) -> Capabilities {
        let installed = matches!(self.pipeline, Pipeline::Installed { .. });
        Capabilities {
            kind: self.kind,
            key_capacity: self.connection.key_capacity,
            route_capacity: self.connection.route_capacity,
            needs_replication_entries: installed,
            installs_pipeline: installed,
            packet_out_port: packet_out_port(self.kind),
        }
    }

    async fn connect(&mut self) -> Result<(), NodeError> {
        self.connection.connect().await
    }

    async fn become_primary(&mut self, election_id: u128) -> Result<(), NodeError> {
        self.connection.become_primary(election_id).await
    }

    async fn prepare_pipeline(&mut self) -> Result<PipelineOutcome, NodeError> {
        match &self.pipeline {
            Pipeline::Fixed => self.check_pipeline().await,
            Pipeline::Installed { device_config_path, reinstall, .. } => {
                let (path, reinstall) = (device_config_path.clone(), *reinstall);
                self.install_pipeline(&path, reinstall).await
            }
        }
    }

    async fn write_forwarding(&mut self, tables: &NodeTables) -> Result<ForwardingChanges, NodeError> {
        let replication_entries = match self.pipeline {
            Pipeline::Fixed => 0,
            Pipeline::Installed { second_output_port, .. } => {
                // The clone session first: without it the second output is silently
                // not made, and node_config (written later) turns the node on.
                self.write_clone_session(second_output_port).await?;
                1
            }
        };
        let changes = self.connection.write_routes(&tables.routes).await?;
        let fabric_ports_changed = self.connection.write_fabric_ports(&tables.fabric_ports).await?;
        let key_groups_changed = self.connection.write_key_groups(&tables.key_groups).await?;
        Ok(ForwardingChanges { replication_entries, fabric_ports_changed, key_groups_changed, ..changes })
    }

    async fn set_config(&mut self, config: &NodeConfig) -> Result<(), NodeError> {
        self.connection.write_config(Some(config)).await
    }

    async fn clear_config(&mut self) -> Result<(), NodeError> {
        self.connection.write_config(None).await
    }

    async fn read_config(&mut self) -> Result<Option<NodeConfig>, NodeError> {
        self.connection.read_config().await
    }

    async fn read_routes(&mut self) -> Result<Vec<Route>, NodeError> {
        self.connection.read_routes().await
    }

    async fn read_counter(&mut self, counter: CounterId) -> Result<Vec<u64>, NodeError> {
        self.connection.read_counter(counter).await
    }

    async fn read_register(&mut self, register: RegisterId, key: Option<u16>) -> Result<Vec<(u32, u128)>, NodeError> {
        self.connection.read_register(register, key).await
    }

    async fn packet_out(&mut self, frame: &[u8]) -> Result<(), NodeError> {
        self.connection.packet_out(frame).await
    }

    fn share(&self) -> Option<Box<dyn Target>> {
        let connection = self.connection.share()?;
        Some(Box::new(P4RuntimeTarget {
            connection,
            kind: self.kind,
            p4info: self.p4info.clone(),
            pipeline: self.pipeline.clone(),
        }))
    }
}

/// A P4Runtime connection to one node with the ids of its P4Info: the
/// entities every kind shares.
struct Connection {
    node: String,
    address: String,
    device_id: u64,
    timeout: Duration,
    client: Option<P4RuntimeClient>,
    /// The election id this connection is primary with, once it is.
    claimed: Option<u128>,
    tls: Option<ClientTls>,
    index: P4InfoIndex,
    ids: NetcraqIds,
    key_capacity: usize,
    route_capacity: usize,
}

impl Connection {
    fn new(spec: &TargetSpec, options: &TargetOptions, p4info: P4Info) -> Result<Connection, NodeError> {
        let fail = |message: String| NodeError::new(&spec.name, &spec.address, message);
        let index = P4InfoIndex::new(p4info).map_err(|e| fail(format!("P4Info: {e}")))?;
        let ids = NetcraqIds::resolve(&index)
            .map_err(|e| fail(format!("the P4Info does not fit NetCRAQ's P4Info contract: {e}")))?;
        let key_register = format!("{CONTROL_PREFIX}{KEY_CAPACITY_REGISTER}");
        let key_capacity = index
            .register_by_name(&key_register)
            .and_then(|register| usize::try_from(register.size).ok())
            .filter(|size| *size > 0)
            .ok_or_else(|| fail(format!("the P4Info gives no size for {key_register}")))?;
        let route_capacity = index
            .table(ids.ipv4_route)
            .and_then(|table| usize::try_from(table.size).ok())
            .filter(|size| *size > 0)
            .ok_or_else(|| fail("the P4Info gives no size for ipv4_route".to_string()))?;
        let tls = options.tls.as_ref().map(ClientTlsFiles::load).transpose().map_err(|e| fail(format!("TLS: {e}")))?;
        Ok(Connection {
            node: spec.name.clone(),
            address: spec.address.clone(),
            device_id: spec.device_id,
            timeout: options.timeout,
            client: None,
            claimed: None,
            tls,
            index,
            ids,
            key_capacity,
            route_capacity,
        })
    }

    fn error(&self, message: impl Into<String>) -> NodeError {
        NodeError::new(&self.node, &self.address, message)
    }

    /// This connection again, sharing its client and role; `None` before it connects.
    fn share(&self) -> Option<Connection> {
        Some(Connection {
            node: self.node.clone(),
            address: self.address.clone(),
            device_id: self.device_id,
            timeout: self.timeout,
            client: Some(self.client.as_ref()?.share()),
            claimed: self.claimed,
            index: self.index.clone(),
            ids: self.ids.clone(),
            key_capacity: self.key_capacity,
            route_capacity: self.route_capacity,
            tls: self.tls.clone(),
        })
    }

    fn client(&mut self) -> Result<&mut P4RuntimeClient, NodeError> {
        let error = self.error("not connected (the controller connects every node before using it)");
        self.client.as_mut().ok_or(error)
    }

    /// A P4Runtime failure while `doing` something, told so as to say what to do.
    fn client_error(&self, doing: &str, error: ClientError) -> NodeError {
        let address = &self.address;
        let message = match &error {
            ClientError::Connect { detail, .. } => format!(
                "cannot connect to its P4Runtime server ({detail}): is `netcraq node --p4runtime {address}` \
                 (or simple_switch_grpc) running there, and is the address reachable from here?"
            ),
            ClientError::Tls { detail, .. } => format!("{doing}: TLS: {detail}"),
            ClientError::TimedOut { what, after, .. } => format!(
                "{doing}: {what} got no answer within {} ms: is the node overloaded or stuck?",
                after.as_millis()
            ),
            ClientError::NotPrimary { election_id, highest: Some(highest), .. } if highest >= election_id => format!(
                "{doing}: another controller is or was primary with election id {highest} (a node keeps the \
                 highest id it has seen), and this controller's election id {election_id} is lower or taken: stop \
                 the other controller, or use an election id above {highest} (--election-id {})",
                highest.saturating_add(1)
            ),
            ClientError::NotPrimary { election_id, detail, .. } => format!(
                "{doing}: election id {election_id} did not make this controller primary ({detail}): stop the \
                 other controller or use a higher election id; check the device id ({})",
                self.device_id
            ),
            _ if error.code() == Code::PermissionDenied => format!(
                "{doing}: this controller is not primary (any more): another controller with a higher election id \
                 took over ({}); let it finish, then apply again with a higher election id",
                detail_of(&error)
            ),
            _ => format!("{doing}: {}", detail_of(&error)),
        };
        NodeError { node: self.node.clone(), address: self.address.clone(), message, cause: Some(Box::new(error)) }
    }

    async fn connect(&mut self) -> Result<(), NodeError> {
        match P4RuntimeClient::connect_secured(&self.address, self.device_id, self.timeout, self.tls.as_ref()).await {
            Ok(client) => {
                self.client = Some(client);
                self.claimed = None;
                Ok(())
            }
            Err(e) => Err(self.client_error("connecting", e)),
        }
    }

    async fn become_primary(&mut self, election_id: u128) -> Result<(), NodeError> {
        // Claiming again on a new stream would collide with our own id on
        // the open one: a controller that is primary with this id stays so.
        if self.claimed == Some(election_id) {
            return self.check_still_primary("claiming the primary role");
        }
        let claimed = self.client()?.become_primary(election_id).await;
        claimed.map_err(|e| self.client_error("claiming the primary role", e))?;
        self.claimed = Some(election_id);
        Ok(())
    }

    /// Fails early, with a clear message, when another controller took the
    /// primary role since: the write would fail anyway, less clearly.
    fn check_still_primary(&mut self, doing: &str) -> Result<(), NodeError> {
        match self.client()?.standing() {
            Standing::Backup { highest } => {
                let highest = highest.map_or("unknown".to_string(), |h| h.to_string());
                Err(self.error(format!(
                    "{doing}: lost the primary role to another controller (election id {highest}): let it finish, \
                     then apply again with a higher election id"
                )))
            }
            Standing::Primary | Standing::Unknown => Ok(()),
        }
    }

    /// The P4Info the node runs, `None` when it has no pipeline yet.
    async fn running_p4info(&mut self) -> Result<Option<P4Info>, NodeError> {
        match self.client()?.get_p4info().await {
            Ok(p4info) => Ok(Some(p4info)),
            Err(e) if matches!(e.code(), Code::FailedPrecondition | Code::NotFound) => Ok(None),
            Err(e) => Err(self.client_error("reading its pipeline (GetForwardingPipelineConfig)", e)),
        }
    }

    async fn write(&mut self, doing: &str, updates: Vec<p4::Update>) -> Result<(), NodeError> {
        self.check_still_primary(doing)?;
        let mut updates = updates.into_iter().peekable();
        while updates.peek().is_some() {
            let batch: Vec<p4::Update> = updates.by_ref().take(UPDATES_PER_WRITE).collect();
            let written = self.client()?.write(batch).await;
            written.map_err(|e| self.client_error(doing, e))?;
        }
        Ok(())
    }

    async fn packet_out(&mut self, frame: &[u8]) -> Result<(), NodeError> {
        let doing = "sending a frame (PacketOut)";
        self.check_still_primary(doing)?;
        let sent = self.client()?.packet_out(frame.to_vec()).await;
        sent.map_err(|e| self.client_error(doing, e))
    }

    async fn read(&mut self, doing: &str, entities: Vec<p4::Entity>) -> Result<Vec<p4::Entity>, NodeError> {
        let found = self.client()?.read(entities).await;
        found.map_err(|e| self.client_error(doing, e))
    }

    async fn write_config(&mut self, config: Option<&NodeConfig>) -> Result<(), NodeError> {
        let doing = if config.is_some() { "setting node_config" } else { "clearing node_config" };
        let entry = p4::entity::Entity::TableEntry(self.ids.config_entry(config));
        self.write(doing, vec![update(p4::update::Type::Modify, entry)]).await
    }

    async fn read_config(&mut self) -> Result<Option<NodeConfig>, NodeError> {
        let wanted = p4::TableEntry { table_id: self.ids.node_config, is_default_action: true, ..Default::default() };
        let found = self.read("reading node_config", vec![entity(p4::entity::Entity::TableEntry(wanted))]).await?;
        let entry = found.iter().find_map(|e| match &e.entity {
            Some(p4::entity::Entity::TableEntry(entry)) if entry.table_id == self.ids.node_config => Some(entry),
            _ => None,
        });
        let entry = entry.ok_or_else(|| self.error("reading node_config: the node answered no default entry"))?;
        self.ids
            .parse_config_entry(&self.index, entry)
            .map_err(|e| self.error(format!("reading node_config: the node answered an entry that is not one: {e}")))
    }

    async fn read_routes(&mut self) -> Result<Vec<Route>, NodeError> {
        let wanted = p4::TableEntry { table_id: self.ids.ipv4_route, ..Default::default() };
        let found = self.read("reading ipv4_route", vec![entity(p4::entity::Entity::TableEntry(wanted))]).await?;
        let mut routes = Vec::with_capacity(found.len());
        for entry in found.iter().filter_map(|e| match &e.entity {
            Some(p4::entity::Entity::TableEntry(entry)) if entry.table_id == self.ids.ipv4_route => Some(entry),
            _ => None,
        }) {
            let route = self.ids.parse_route_entry(&self.index, entry);
            routes.push(route.map_err(|e| self.error(format!("reading ipv4_route: an entry is not a route: {e}")))?);
        }
        Ok(routes)
    }

    async fn read_fabric_ports(&mut self) -> Result<Vec<FabricPort>, NodeError> {
        let wanted = p4::TableEntry { table_id: self.ids.fabric_port, ..Default::default() };
        let found = self.read("reading fabric_port", vec![entity(p4::entity::Entity::TableEntry(wanted))]).await?;
        let entries = found.iter().filter_map(|e| match &e.entity {
            Some(p4::entity::Entity::TableEntry(entry)) if entry.table_id == self.ids.fabric_port => Some(entry),
            _ => None,
        });
        entries
            .map(|entry| {
                let fabric = self.ids.parse_fabric_port_entry(&self.index, entry);
                fabric.map_err(|e| self.error(format!("reading fabric_port: an entry is not a fabric port: {e}")))
            })
            .collect()
    }

    /// Makes `fabric_port` hold exactly `fabric_ports`, as
    /// [`Connection::write_routes`] does for routes; returns how many
    /// entries changed.
    async fn write_fabric_ports(&mut self, fabric_ports: &[FabricPort]) -> Result<usize, NodeError> {
        let current = self.read_fabric_ports().await?;
        let ids = &self.ids;
        let updates = exact_updates(
            &current,
            fabric_ports,
            |a, b| a.port == b.port,
            |f| ids.fabric_port_key(f.port),
            |f| ids.fabric_port_entry(f),
        );
        let count = updates.len();
        self.write("writing fabric_port", updates).await?;
        Ok(count)
    }

    async fn read_key_groups(&mut self) -> Result<Vec<KeyGroup>, NodeError> {
        let wanted = p4::TableEntry { table_id: self.ids.key_group, ..Default::default() };
        let found = self.read("reading key_group", vec![entity(p4::entity::Entity::TableEntry(wanted))]).await?;
        let entries = found.iter().filter_map(|e| match &e.entity {
            Some(p4::entity::Entity::TableEntry(entry))
                if entry.table_id == self.ids.key_group && !entry.is_default_action =>
            {
                Some(entry)
            }
            _ => None,
        });
        entries
            .map(|entry| {
                let group = self.ids.parse_key_group_entry(&self.index, entry);
                group.map_err(|e| self.error(format!("reading key_group: an entry is not a group: {e}")))
            })
            .collect()
    }

    /// Makes `key_group` hold exactly `groups` (§11), as
    /// [`Connection::write_routes`] does for routes, deletes first: a group
    /// the node leaves stops being served before any other changes.
    /// Returns how many entries changed.
    async fn write_key_groups(&mut self, groups: &[KeyGroup]) -> Result<usize, NodeError> {
        let current = self.read_key_groups().await?;
        let ids = &self.ids;
        let updates = exact_updates(
            &current,
            groups,
            |a, b| (a.key, a.prefix_len) == (b.key, b.prefix_len),
            |g| ids.key_group_key(g.key, g.prefix_len),
            |g| ids.key_group_entry(g),
        );
        let count = updates.len();
        self.write("writing key_group", updates).await?;
        Ok(count)
    }

    /// Makes `ipv4_route` hold exactly `routes`: deletes first (room for the
    /// new ones), then modifies, then inserts. Re-applying changes nothing.
    async fn write_routes(&mut self, routes: &[Route]) -> Result<ForwardingChanges, NodeError> {
        let current = self.read_routes().await?;
        let same_prefix = |a: &Route, b: &Route| a.prefix == b.prefix && a.prefix_len == b.prefix_len;
        let deleted: Vec<&Route> = current.iter().filter(|c| !routes.iter().any(|r| same_prefix(c, r))).collect();
        let modified: Vec<&Route> =
            routes.iter().filter(|r| current.iter().any(|c| same_prefix(c, r) && c != *r)).collect();
        let inserted: Vec<&Route> = routes.iter().filter(|r| !current.iter().any(|c| same_prefix(c, r))).collect();
        let table_entry = p4::entity::Entity::TableEntry;
        let updates = deleted
            .iter()
            .map(|r| update(p4::update::Type::Delete, table_entry(self.ids.route_key(r.prefix, r.prefix_len))))
            .chain(modified.iter().map(|r| update(p4::update::Type::Modify, table_entry(self.ids.route_entry(r)))))
            .chain(inserted.iter().map(|r| update(p4::update::Type::Insert, table_entry(self.ids.route_entry(r)))))
            .collect();
        self.write("writing ipv4_route", updates).await?;
        Ok(ForwardingChanges {
            routes_inserted: inserted.len(),
            routes_modified: modified.len(),
            routes_deleted: deleted.len(),
            routes_unchanged: routes.len() - inserted.len() - modified.len(),
            ..ForwardingChanges::default()
        })
    }

    async fn read_counter(&mut self, counter: CounterId) -> Result<Vec<u64>, NodeError> {
        let mut packets = self.read_counter_array(self.ids.counter_id(counter), counter.name()).await?;
        if let (CounterId::Outcomes, Some(no_route)) = (counter, self.ids.no_route_counter) {
            // Tofino counts NO_ROUTE apart: report it where every other node does.
            let count = self.read_counter_array(no_route, NO_ROUTE_COUNTER).await?.first().copied().unwrap_or(0);
            let slot = Outcome::NoRoute.index();
            packets.resize(packets.len().max(slot + 1), 0);
            packets[slot] = packets[slot].wrapping_add(count);
        }
        Ok(packets)
    }

    async fn read_counter_array(&mut self, counter_id: u32, name: &str) -> Result<Vec<u64>, NodeError> {
        let wanted = p4::CounterEntry { counter_id, ..Default::default() };
        let doing = format!("reading counter {name}");
        let found = self.read(&doing, vec![entity(p4::entity::Entity::CounterEntry(wanted))]).await?;
        let mut packets = Vec::new();
        for entry in found.iter().filter_map(|e| match &e.entity {
            Some(p4::entity::Entity::CounterEntry(entry)) if entry.counter_id == counter_id => Some(entry),
            _ => None,
        }) {
            let index = entry.index.as_ref().and_then(|i| usize::try_from(i.index).ok());
            let Some(index) = index.filter(|i| *i < self.key_capacity.max(Outcome::COUNT)) else {
                return Err(self.error(format!("{doing}: the node answered an entry without a valid index")));
            };
            if packets.len() <= index {
                packets.resize(index + 1, 0);
            }
            // Counters are 64-bit and wrap (§2.2); the message's field is signed.
            packets[index] = entry.data.as_ref().map_or(0, |d| d.packet_count as u64);
        }
        Ok(packets)
    }

    async fn read_register(&mut self, register: RegisterId, key: Option<u16>) -> Result<Vec<(u32, u128)>, NodeError> {
        let key = key.map(u32::from);
        match self.ids.register_arrays(register) {
            RegisterArrays::Whole(id) => self.read_register_array(id, register.bitwidth(), register.name(), key).await,
            RegisterArrays::Words(ids) => {
                let mut words = Vec::with_capacity(ids.len());
                for (word, id) in ids.into_iter().enumerate() {
                    let name = format!("{}_{word}", register.name());
                    words.push(self.read_register_array(id, REGISTER_WORD_BITS, &name, key).await?);
                }
                join_words(&words).map_err(|e| self.error(format!("reading register {}: {e}", register.name())))
            }
        }
    }

    async fn read_register_array(
        &mut self,
        array_id: u32,
        bitwidth: u32,
        name: &str,
        key: Option<u32>,
    ) -> Result<Vec<(u32, u128)>, NodeError> {
        let doing = format!("reading register {name}");
        let wanted = entity(p4::entity::Entity::RegisterEntry(array_entry(array_id, key, None)));
        let found = self.read(&doing, vec![wanted]).await?;
        let mut values = Vec::with_capacity(found.len());
        for entry in found.iter().filter_map(|e| match &e.entity {
            Some(p4::entity::Entity::RegisterEntry(entry)) if entry.register_id == array_id => Some(entry),
            _ => None,
        }) {
            let index = entry.index.as_ref().and_then(|i| u32::try_from(i.index).ok());
            let bits = match entry.data.as_ref().and_then(|d| d.data.as_ref()) {
                Some(p4::p4_data::Data::Bitstring(bits)) => Some(bits),
                _ => None,
            };
            let (Some(index), Some(bits)) = (index, bits) else {
                return Err(self.error(format!("{doing}: the node answered an entry without index or bitstring")));
            };
            let value = decode_bits(bits, bitwidth, name);
            values.push((index, value.map_err(|e| self.error(format!("{doing}: {e}")))?));
        }
        values.sort_unstable_by_key(|(index, _)| *index);
        Ok(values)
    }
}

/// Values per index from word arrays read most significant word first (all
/// read at the same indexes, sorted).
fn join_words(words: &[Vec<(u32, u128)>]) -> Result<Vec<(u32, u128)>, String> {
    let Some(first) = words.first() else { return Ok(Vec::new()) };
    let mut values: Vec<(u32, u128)> = first.iter().map(|(index, _)| (*index, 0)).collect();
    for (word, read) in words.iter().enumerate() {
        let same_indexes = read.len() == values.len() && read.iter().zip(&values).all(|(a, b)| a.0 == b.0);
        if !same_indexes {
            return Err(format!("word {word} was answered at other indexes than word 0"));
        }
        for ((_, part), (_, value)) in read.iter().zip(values.iter_mut()) {
            *value = (*value << REGISTER_WORD_BITS) | part;
        }
    }
    Ok(values)
}

/// A client error's own words, without the address the caller already names.
fn detail_of(error: &ClientError) -> String {
    match error {
        ClientError::Connect { detail, .. } => detail.clone(),
        ClientError::Tls { detail, .. } => format!("TLS: {detail}"),
        ClientError::TimedOut { what, after, .. } => format!("{what} timed out after {} ms", after.as_millis()),
        ClientError::NotPrimary { detail, .. } => detail.clone(),
        ClientError::Rpc { rpc, code, message, .. } => format!("{rpc} failed: {code:?}: {message}"),
        ClientError::Write { failures, message, .. } => {
            let mut text = format!("Write failed: {message}");
            for (index, code, message) in failures.iter().take(4) {
                text += &format!("; update {index}: {code:?}: {message}");
            }
            if failures.len() > 4 {
                text += &format!("; and {} more", failures.len() - 4);
            }
            text
        }
    }
}

/// The updates that make a table holding `current` hold exactly `wanted`,
/// deletes first, then modifies and inserts; `same_match` tells two entries
/// of the same match key, `match_key` is an entry's key alone (for DELETE).
fn exact_updates<T: PartialEq>(
    current: &[T],
    wanted: &[T],
    same_match: impl Fn(&T, &T) -> bool,
    match_key: impl Fn(&T) -> p4::TableEntry,
    entry: impl Fn(&T) -> p4::TableEntry,
) -> Vec<p4::Update> {
    let deleted = current
        .iter()
        .filter(|c| !wanted.iter().any(|w| same_match(c, w)))
        .map(|c| (p4::update::Type::Delete, match_key(c)));
    let changed = wanted.iter().filter(|w| !current.contains(w)).map(|w| {
        let kind = match current.iter().any(|c| same_match(c, w)) {
            true => p4::update::Type::Modify,
            false => p4::update::Type::Insert,
        };
        (kind, entry(w))
    });
    deleted.chain(changed).map(|(kind, entry)| update(kind, p4::entity::Entity::TableEntry(entry))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tofino_target_takes_the_tofino_programs_p4info() {
        let p4 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../p4");
        let device_config = std::env::temp_dir().join(format!("netcraq-tofino-{}.bin", std::process::id()));
        std::fs::write(&device_config, b"read only when installed").unwrap();
        let spec = TargetSpec {
            name: "t1".to_string(),
            kind: NodeKind::Tofino,
            address: "127.0.0.1:9559".to_string(),
            device_id: 1,
            pipeline: PipelineFiles {
                p4info: Some(p4.join("netcraq_tna.p4info.txtpb")),
                device_config: Some(device_config.clone()),
            },
        };
        let target = target_for(&spec, &TargetOptions::default());
        std::fs::remove_file(&device_config).unwrap();
        let capabilities = target.expect("the Tofino P4Info fits the contract").capabilities();
        assert_eq!((capabilities.key_capacity, capabilities.route_capacity), (65536, 1024));
        assert!(capabilities.needs_replication_entries && capabilities.installs_pipeline);
        assert_eq!(capabilities.packet_out_port, TOFINO_PACKET_OUT_PORT);
    }

    #[test]
    fn word_arrays_join_per_index_most_significant_word_first() {
        let words = [
            vec![(3, 0x0011_2233), (9, 0xffff_ffff)],
            vec![(3, 0x4455_6677), (9, 0)],
            vec![(3, 0x8899_aabb), (9, 1)],
            vec![(3, 0xccdd_eeff), (9, 0x8000_0000)],
        ];
        assert_eq!(
            join_words(&words),
            Ok(vec![(3, 0x0011_2233_4455_6677_8899_aabb_ccdd_eeff), (9, 0xffff_ffff_0000_0000_0000_0001_8000_0000)])
        );
        assert_eq!(join_words(&[]), Ok(vec![]));
    }

    #[test]
    fn word_arrays_answered_at_different_indexes_are_an_error() {
        let missing = [vec![(3, 1), (9, 2)], vec![(3, 1)]];
        assert_eq!(join_words(&missing), Err("word 1 was answered at other indexes than word 0".to_string()));
        let other = [vec![(3, 1)], vec![(4, 1)]];
        assert!(join_words(&other).is_err());
    }
}
