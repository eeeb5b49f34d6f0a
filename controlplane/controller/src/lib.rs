//! The NetCRAQ controller (`docs/controller.md`): pushes every node's
//! tables over P4Runtime and reads their counters and registers.
//!
//! - [`target`]: the one interface to every node ([`Target`]), with its
//!   one implementation over P4Runtime for every kind of node.
//! - [`deploy`]: a [`Deployment`] and [`apply`]: tables tail to head,
//!   rolled back on failure.
//! - [`deployment_file`]: deployment files, topology files with every
//!   node's P4Runtime address.
//! - [`stats`]: counters from every node, hottest keys, local read shares.
//! - [`running_topology`]: the deployment of a topology that `netcraq up` runs.
//! - [`reconfigure`]: a node removed from a chain or added at its tail
//!   while it serves (`docs/protocol.md` §10).
//! - [`supervisor`]: the running controller's decisions, a pure state
//!   machine; [`service`]: the running controller that carries them out.
//! - [`groups`]: a chain's keys over many virtual groups (§11), each a
//!   chain of the supervisor's.
//! - [`election`]: controllers campaign in etcd; only the leader writes.
//! - [`state_store`]: the controller's state, in memory or in etcd.
//! - [`membership`]: each chain's members as clients follow them, kept
//!   from the service's notes and published over HTTP and in etcd.
//! - [`metrics`]: the running controller's Prometheus metrics, from its notes.
//! - [`placement`]: which hot keys NetCRAQ slots should hold, a pure decision.
//! - [`lease_clock`]: the estimate of a node's lease clock that renewals
//!   and the wait for a removed node's lease rest on (§9.3).

#![forbid(unsafe_code)]

pub mod deploy;
pub mod deployment_file;
pub mod election;
pub mod groups;
pub mod lease_clock;
pub mod membership;
pub mod metrics;
pub mod placement;
pub mod reconfigure;
pub mod running_topology;
pub mod service;
pub mod state_store;
pub mod stats;
pub mod supervisor;
pub mod target;

pub use deploy::{
    apply, apply_blocking, block_on_runtime, ApplyError, ApplyReport, Controller, Deployment, NodeReport, NodeTarget,
    DEFAULT_ELECTION_ID, DEFAULT_TIMEOUT,
};
pub use deployment_file::{deployment_of, load_deployment, load_with_spares, parse_deployment, DeploymentFileError};
pub use election::{campaign, connect, EtcdOptions, EtcdTls, Leader, Leadership, LossReason};
/// The tables each [`NodeTarget`] gets (`netcraq_plan::plan`).
pub use netcraq_plan::plan::NodeTables;
pub use state_store::{StateStore, StoreError};
pub use target::{
    target_for, Capabilities, ForwardingChanges, NodeError, P4RuntimeTarget, PipelineFiles, PipelineOutcome, Target,
    TargetOptions, TargetSpec,
};

#[cfg(test)]
mod tests;
