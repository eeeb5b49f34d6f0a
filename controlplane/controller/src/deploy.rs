//! A deployment (nodes, their P4Runtime addresses and their tables) and
//! [`Controller::apply`], which pushes it through the [`Target`] interface
//! without looking at what kind of node it talks to (`docs/controller.md`).
//!
//! Order: connect to every node, become primary on every node, prepare
//! every pipeline, write every node's forwarding state (clone sessions,
//! routes, fabric ports and the port PacketOut frames enter by), then
//! `node_config` from tail to head, so that no node serves before the nodes
//! it forwards to are configured. If a step fails after
//! `node_config` was written somewhere, the nodes this apply configured are
//! cleared again (they drop and count `DROP_UNCONFIGURED` rather than serve
//! half a chain), and the error says what was applied and rolled back.

use crate::target::{target_for, Capabilities, ForwardingChanges, NodeError, PipelineOutcome, Target, TargetOptions};
pub use crate::target::{PipelineFiles, TargetSpec};
use netcraq_core::{NodeConfig, Role, Route};
use netcraq_plan::plan::NodeTables;
use netcraq_topology::NodeKind;
use netcraq_wire::Ipv4Addr;
use std::time::Duration;

/// The election id when none is given (P4Runtime ids start at 1).
pub const DEFAULT_ELECTION_ID: u128 = 1;
/// How long one call to one node may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// One node of a deployment: where it is and what it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTarget {
    pub spec: TargetSpec,
    pub tables: NodeTables,
}

impl NodeTarget {
    /// A node with no pipeline files: right for software and DPDK nodes.
    pub fn new(name: &str, kind: NodeKind, address: &str, device_id: u64, tables: NodeTables) -> NodeTarget {
        let spec = TargetSpec {
            name: name.to_string(),
            kind,
            address: address.to_string(),
            device_id,
            pipeline: PipelineFiles::default(),
        };
        NodeTarget { spec, tables }
    }
}

/// Everything `apply` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub nodes: Vec<NodeTarget>,
    /// This controller's election id on every node.
    pub election_id: u128,
    pub options: TargetOptions,
}

impl Deployment {
    pub fn new(nodes: Vec<NodeTarget>) -> Deployment {
        Deployment {
            nodes,
            election_id: DEFAULT_ELECTION_ID,
            options: TargetOptions { timeout: DEFAULT_TIMEOUT, reinstall_pipeline: false, tls: None },
        }
    }
}

/// What `apply` did on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    pub name: String,
    pub address: String,
    pub capabilities: Capabilities,
    pub pipeline: PipelineOutcome,
    pub forwarding: ForwardingChanges,
    pub role: Role,
}

/// What a successful `apply` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    /// In deployment order.
    pub nodes: Vec<NodeReport>,
    /// The order `node_config` was written in: tails first, heads last.
    pub config_order: Vec<String>,
}

impl std::fmt::Display for ApplyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for node in &self.nodes {
            writeln!(
                f,
                "{} ({}, {}): {}; {}; node_config set ({})",
                node.name,
                node.capabilities.kind,
                node.address,
                node.pipeline,
                node.forwarding,
                node.role.name()
            )?;
        }
        write!(f, "node_config written tail to head: {}", self.config_order.join(", "))
    }
}

/// Why `apply` failed, what it had done by then and what it undid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyError {
    /// Boxed: the error is built rarely and kept small for the `Result`s it travels in.
    pub failure: Box<NodeError>,
    /// What this apply had changed before the failure, step by step.
    pub applied: Vec<String>,
    /// Nodes whose `node_config` this apply had written and then cleared.
    pub rolled_back: Vec<String>,
    /// Nodes whose `node_config` could not be cleared: they may still serve.
    pub rollback_failures: Vec<NodeError>,
}

impl ApplyError {
    fn before_any_change(failure: NodeError) -> ApplyError {
        ApplyError {
            failure: Box::new(failure),
            applied: Vec::new(),
            rolled_back: Vec::new(),
            rollback_failures: Vec::new(),
        }
    }
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "apply failed: {}", self.failure)?;
        if self.applied.is_empty() {
            return write!(f, "\nnothing was changed on any node");
        }
        write!(f, "\napplied before the failure:")?;
        for step in &self.applied {
            write!(f, "\n  {step}")?;
        }
        match self.rolled_back.is_empty() {
            true if self.rollback_failures.is_empty() => write!(
                f,
                "\nthis apply wrote no node_config, so it configured no node into a partial chain (a node \
                     configured by an earlier apply keeps that configuration, with the routes written above)"
            )?,
            true => {}
            false => write!(
                f,
                "\nrolled back: node_config cleared on {} (they drop every frame, counting DROP_UNCONFIGURED, \
                 until the next apply)",
                self.rolled_back.join(", ")
            )?,
        }
        for failure in &self.rollback_failures {
            write!(
                f,
                "\nNOT rolled back: {failure}\n  that node may still serve with the new node_config: apply again, \
                 or clear its node_config by hand"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ApplyError {}

/// A node under control: its target and the tables it should hold.
struct Managed {
    target: Box<dyn Target>,
    tables: NodeTables,
}

/// Talks to the nodes of a deployment. The primary role it claims on each
/// node lasts as long as the controller lives.
pub struct Controller {
    nodes: Vec<Managed>,
    election_id: u128,
    connected: bool,
}

impl Controller {
    /// A controller for `deployment`: builds every node's target (reading
    /// pipeline files) and checks the tables against what each node can
    /// hold. Talks to no node yet.
    pub fn new(deployment: &Deployment) -> Result<Controller, ApplyError> {
        let mut nodes = Vec::with_capacity(deployment.nodes.len());
        for node in &deployment.nodes {
            let target = target_for(&node.spec, &deployment.options).map_err(ApplyError::before_any_change)?;
            nodes.push((target, node.tables.clone()));
        }
        Controller::with_targets(nodes, deployment.election_id)
    }

    /// A controller that only reads (tables, counters, registers): no
    /// checks that the deployment's chains are whole, so any subset of
    /// nodes will do. [`Controller::apply`] still checks before it writes.
    pub fn reader(deployment: &Deployment) -> Result<Controller, NodeError> {
        let mut nodes = Vec::with_capacity(deployment.nodes.len());
        for node in &deployment.nodes {
            let target = target_for(&node.spec, &deployment.options)?;
            nodes.push(Managed { target, tables: node.tables.clone() });
        }
        Ok(Controller { nodes, election_id: deployment.election_id, connected: false })
    }

    /// A controller over targets made elsewhere (other transports, tests).
    pub fn with_targets(
        targets: Vec<(Box<dyn Target>, NodeTables)>,
        election_id: u128,
    ) -> Result<Controller, ApplyError> {
        let nodes: Vec<Managed> = targets.into_iter().map(|(target, tables)| Managed { target, tables }).collect();
        check_tables(&nodes).map_err(ApplyError::before_any_change)?;
        Ok(Controller { nodes, election_id, connected: false })
    }

    /// The election id this controller claims the primary role with.
    pub fn election_id(&self) -> u128 {
        self.election_id
    }

    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.target.name().to_string()).collect()
    }

    /// Connects to every node (no arbitration: enough for reads).
    pub async fn connect(&mut self) -> Result<(), NodeError> {
        if !self.connected {
            for node in &mut self.nodes {
                node.target.connect().await?;
            }
            self.connected = true;
        }
        Ok(())
    }

    /// Pushes the deployment to its nodes (see the module's documentation).
    pub async fn apply(&mut self) -> Result<ApplyReport, ApplyError> {
        check_tables(&self.nodes).map_err(ApplyError::before_any_change)?;
        self.connect().await.map_err(ApplyError::before_any_change)?;
        for node in &mut self.nodes {
            node.target.become_primary(self.election_id).await.map_err(ApplyError::before_any_change)?;
        }
        let order = config_order(&self.nodes).map_err(ApplyError::before_any_change)?;
        let mut progress = Progress::default();
        match self.push(&order, &mut progress).await {
            Ok(()) => Ok(progress.report(&self.nodes, &order)),
            Err(failure) => Err(self.roll_back(failure, progress).await),
        }
    }

    /// Pipelines, then forwarding state, then node_config tail to head.
    async fn push(&mut self, order: &[usize], progress: &mut Progress) -> Result<(), NodeError> {
        for node in &mut self.nodes {
            let outcome = node.target.prepare_pipeline().await?;
            progress.pipelines.push(outcome);
            if outcome != PipelineOutcome::Checked {
                progress.applied.push(format!("{}: {outcome}", node.target.name()));
            }
        }
        for node in &mut self.nodes {
            // SWEEP and RENEW enter by the node's PacketOut port (§2.3, §10).
            node.tables.add_controller_port(node.target.capabilities().packet_out_port);
            let changes = node.target.write_forwarding(&node.tables).await?;
            progress.forwarding.push(changes);
            progress.applied.push(format!("{}: {changes}", node.target.name()));
        }
        for &index in order {
            let node = &mut self.nodes[index];
            // Counted before the write: one that timed out may still have taken effect.
            progress.configured.push(index);
            node.target.set_config(&node.tables.config).await?;
            progress.applied.push(format!(
                "{}: node_config set ({})",
                node.target.name(),
                node.tables.config.role.name()
            ));
        }
        Ok(())
    }

    /// Clears node_config where this apply wrote it, heads first (the
    /// reverse of writing), so the chain stops taking writes before its
    /// tail stops answering.
    async fn roll_back(&mut self, failure: NodeError, progress: Progress) -> ApplyError {
        let mut rolled_back = Vec::new();
        let mut rollback_failures = Vec::new();
        for &index in progress.configured.iter().rev() {
            let target = &mut self.nodes[index].target;
            match target.clear_config().await {
                Ok(()) => rolled_back.push(target.name().to_string()),
                Err(e) => rollback_failures.push(e),
            }
        }
        ApplyError { failure: Box::new(failure), applied: progress.applied, rolled_back, rollback_failures }
    }

    /// Every node's `node_config` and routes, as the nodes answer them.
    pub async fn read_tables(&mut self) -> Result<Vec<(String, Option<NodeConfig>, Vec<Route>)>, NodeError> {
        self.connect().await?;
        let mut tables = Vec::with_capacity(self.nodes.len());
        for node in &mut self.nodes {
            let config = node.target.read_config().await?;
            let routes = node.target.read_routes().await?;
            tables.push((node.target.name().to_string(), config, routes));
        }
        Ok(tables)
    }

    /// The target of node `name`, for reads the controller does not wrap.
    pub fn target(&mut self, name: &str) -> Option<&mut (dyn Target + 'static)> {
        self.nodes.iter_mut().find(|n| n.target.name() == name).map(|n| n.target.as_mut())
    }

    /// Every node's target, in deployment order.
    pub fn targets(&mut self) -> impl Iterator<Item = &mut (dyn Target + 'static)> {
        self.nodes.iter_mut().map(|n| n.target.as_mut())
    }

    /// The tables this controller last wrote (or will write) to node `name`.
    pub fn tables_of(&self, name: &str) -> Option<&NodeTables> {
        self.nodes.iter().find(|n| n.target.name() == name).map(|n| &n.tables)
    }

    /// Records the tables a reconfiguration wrote to node `name`.
    pub(crate) fn set_tables(&mut self, name: &str, tables: NodeTables) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.target.name() == name) {
            node.tables = tables;
        }
    }
}

/// What `push` has done so far.
#[derive(Default)]
struct Progress {
    pipelines: Vec<PipelineOutcome>,
    forwarding: Vec<ForwardingChanges>,
    /// Indices of nodes whose node_config this apply wrote (or tried to).
    configured: Vec<usize>,
    applied: Vec<String>,
}

impl Progress {
    fn report(self, nodes: &[Managed], order: &[usize]) -> ApplyReport {
        let reports = nodes
            .iter()
            .zip(self.pipelines)
            .zip(self.forwarding)
            .map(|((node, pipeline), forwarding)| NodeReport {
                name: node.target.name().to_string(),
                address: node.target.address().to_string(),
                capabilities: node.target.capabilities(),
                pipeline,
                forwarding,
                role: node.tables.config.role,
            })
            .collect();
        let config_order = order.iter().map(|&i| nodes[i].target.name().to_string()).collect();
        ApplyReport { nodes: reports, config_order }
    }
}

/// Refuses, before any node is touched, what a node would refuse or what
/// would make a broken chain: a P4 table cannot refuse an entry, so the
/// controller makes the refusals of `docs/protocol.md` §2.3 itself.
fn check_tables(nodes: &[Managed]) -> Result<(), NodeError> {
    for (i, node) in nodes.iter().enumerate() {
        let (name, address) = (node.target.name(), node.target.address());
        let fail = |message: String| NodeError::new(name, address, message);
        if nodes[..i].iter().any(|other| other.target.name() == name) {
            return Err(fail("the deployment names this node twice: give every node its own name".to_string()));
        }
        let own_ip = node.tables.config.own_ip;
        if let Some(other) = nodes[..i].iter().find(|other| other.tables.config.own_ip == own_ip) {
            return Err(fail(format!(
                "own_ip {own_ip} is also node {}'s: every node needs its own",
                other.target.name()
            )));
        }
        let capabilities = node.target.capabilities();
        node.tables.config.validate(capabilities.key_capacity).map_err(|e| {
            fail(format!(
                "its node_config would be refused: {e} (a {} node holds {} keys)",
                capabilities.kind, capabilities.key_capacity
            ))
        })?;
        let routes = &node.tables.routes;
        if routes.len() > capabilities.route_capacity {
            return Err(fail(format!(
                "{} routes do not fit its ipv4_route table ({} entries)",
                routes.len(),
                capabilities.route_capacity
            )));
        }
        for (j, route) in routes.iter().enumerate() {
            let host_bits = u32::MAX.checked_shr(u32::from(route.prefix_len)).unwrap_or(0);
            if route.prefix_len > 32 || u32::from(route.prefix) & host_bits != 0 {
                return Err(fail(format!(
                    "route {}/{}: bits are set beyond the prefix length",
                    route.prefix, route.prefix_len
                )));
            }
            if routes[..j].iter().any(|r| r.prefix == route.prefix && r.prefix_len == route.prefix_len) {
                return Err(fail(format!("route {}/{} is given twice", route.prefix, route.prefix_len)));
            }
        }
    }
    config_order(nodes).map(|_| ())
}

/// Indices of `nodes` in the order their node_config is written: by
/// distance to their chain's tail along `successor_ip`, tails first. Fails
/// when a successor is not in the deployment (its predecessor would forward
/// into a node nobody configures) or the successors loop.
fn config_order(nodes: &[Managed]) -> Result<Vec<usize>, NodeError> {
    let by_ip = |ip: Ipv4Addr| nodes.iter().position(|n| n.tables.config.own_ip == ip);
    let forwards_down = |config: &NodeConfig| matches!(config.role, Role::Head | Role::Replica);
    for node in nodes.iter().filter(|n| forwards_down(&n.tables.config)) {
        let successor = node.tables.config.successor_ip;
        if by_ip(successor).is_none() {
            return Err(NodeError::new(
                node.target.name(),
                node.target.address(),
                format!(
                    "its chain continues at {successor}, which is no node of the deployment: add that node (a \
                     chain is configured whole)"
                ),
            ));
        }
    }
    let mut distances = Vec::with_capacity(nodes.len());
    for node in nodes {
        let mut distance = 0;
        let mut at = &node.tables.config;
        while forwards_down(at) {
            distance += 1;
            if distance > nodes.len() {
                let message = "its chain's successors form a loop: check the chain";
                return Err(NodeError::new(node.target.name(), node.target.address(), message));
            }
            at = &nodes[by_ip(at.successor_ip).expect("checked above")].tables.config;
        }
        distances.push(distance);
    }
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by_key(|&i| distances[i]);
    Ok(order)
}

/// Applies `deployment`: connects, claims the primary role, and pushes
/// every node's pipeline and tables (see the module's documentation). The
/// primary role ends when this returns; the tables stay.
pub async fn apply(deployment: &Deployment) -> Result<ApplyReport, ApplyError> {
    Controller::new(deployment)?.apply().await
}

/// [`apply`] for callers without an async runtime (`netcraq up`): runs it
/// on a runtime of its own. Must not be called from inside a Tokio runtime.
pub fn apply_blocking(deployment: &Deployment) -> Result<ApplyReport, ApplyError> {
    let first = deployment.nodes.first();
    let runtime = block_on_runtime().map_err(|e| {
        let (name, address) = first.map_or(("-", "-"), |n| (n.spec.name.as_str(), n.spec.address.as_str()));
        ApplyError::before_any_change(NodeError::new(name, address, format!("cannot start the async runtime: {e}")))
    })?;
    runtime.block_on(apply(deployment))
}

/// A runtime for one blocking call: current-thread, so it lives and dies
/// with the call and its connections.
pub fn block_on_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}
