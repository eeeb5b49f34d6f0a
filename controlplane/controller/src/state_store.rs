//! Where the controller service keeps its state (the lead's JSON bytes:
//! deployments, chains, membership, epochs, spare nodes), one value per
//! deployment (`docs/controller.md`, "High availability: leadership in etcd"):
//!
//! - in memory, for `netcraq up` and demos: no etcd, the one controller
//!   always leads ([`Leadership::Sole`], election id 1);
//! - in etcd, under `<prefix>/<deployment>/state`: read by anyone, written
//!   only by the deployment's leader, in a transaction that checks that the
//!   leader's key is still the one it won with.

use crate::election::{campaign, connect, EtcdOptions, Leadership};
use etcd_client::{Client, Compare, CompareOp, GetOptions, Txn, TxnOp};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Why a store, connection or leadership operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// [`EtcdOptions`] that cannot work (a lease TTL below etcd's minimum, ...).
    Options(String),
    /// A TLS file that cannot be read or holds no PEM of the expected kind.
    TlsFile { path: PathBuf, problem: String },
    /// No etcd endpoint answered.
    Unreachable { endpoints: Vec<String>, detail: String },
    /// A deployment name that cannot be part of an etcd key.
    InvalidDeployment(String),
    /// An etcd request failed or timed out.
    Etcd { operation: &'static str, detail: String },
    /// A campaign's lease ended before it won: campaign again.
    LeaseLost { deployment: String },
    /// A write by a controller that does not lead the deployment: refused.
    NotLeader { deployment: String, why: String },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Options(problem) => write!(f, "etcd options: {problem}"),
            StoreError::TlsFile { path, problem } => write!(f, "etcd TLS file {}: {problem}", path.display()),
            StoreError::Unreachable { endpoints, detail } => {
                write!(f, "etcd unreachable at {}: {detail}", endpoints.join(", "))
            }
            StoreError::InvalidDeployment(problem) => write!(f, "deployment name: {problem}"),
            StoreError::Etcd { operation, detail } => write!(f, "etcd {operation}: {detail}"),
            StoreError::LeaseLost { deployment } => {
                write!(f, "the lease of the campaign for {deployment} ended before it won: campaign again")
            }
            StoreError::NotLeader { deployment, why } => {
                write!(f, "not the leader of deployment {deployment} ({why}): nothing written")
            }
        }
    }
}

impl std::error::Error for StoreError {}

/// An etcd error with its sources, where TLS and transport errors keep
/// their cause; a gRPC status by its code and message (its own text
/// repeats its sources in debug form).
pub(crate) fn describe(error: &etcd_client::Error) -> String {
    match error {
        etcd_client::Error::GRpcStatus(status) => {
            with_sources(format!("{}: {}", status.code(), status.message()), std::error::Error::source(status))
        }
        other => with_sources(other.to_string(), std::error::Error::source(other)),
    }
}

fn with_sources(mut text: String, mut source: Option<&(dyn std::error::Error + 'static)>) -> String {
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// Runs one etcd request, bounded by `limit`.
pub(crate) async fn bounded<T>(
    operation: &'static str,
    limit: Duration,
    request: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, request).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(error)) => Err(StoreError::Etcd { operation, detail: describe(&error) }),
        Err(_) => Err(StoreError::Etcd { operation, detail: format!("no answer within {limit:?}") }),
    }
}

/// The etcd key `<prefix>/<deployment>/<leaf>`; the deployment name must be
/// one key segment.
pub(crate) fn deployment_key(prefix: &str, deployment: &str, leaf: &str) -> Result<String, StoreError> {
    let refuse = |problem: &str| Err(StoreError::InvalidDeployment(format!("{deployment:?} {problem}")));
    if deployment.is_empty() {
        return refuse("is empty");
    }
    if deployment.contains('/') {
        return refuse("contains '/'");
    }
    if deployment.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("contains whitespace or control characters");
    }
    Ok(format!("{prefix}/{deployment}/{leaf}"))
}

/// The last segment of every key holding a deployment's state.
const STATE_LEAF: &str = "state";

/// The deployment whose state `key` holds, if it is `<prefix>/<deployment>/state`.
fn deployment_of_state_key<'a>(prefix: &str, key: &'a str) -> Option<&'a str> {
    let rest = key.strip_prefix(prefix)?.strip_prefix('/')?;
    let deployment = rest.strip_suffix(STATE_LEAF)?.strip_suffix('/')?;
    (!deployment.is_empty() && !deployment.contains('/')).then_some(deployment)
}

/// The controller's state, in memory or in etcd (see the module's text).
pub struct StateStore {
    backend: Backend,
    refused_saves: AtomicU64,
}

enum Backend {
    Memory(Mutex<BTreeMap<String, Vec<u8>>>),
    /// The client boxed: it is kilobytes large.
    Etcd {
        client: Box<Client>,
        options: EtcdOptions,
    },
}

impl StateStore {
    /// A store in memory, for a controller that runs alone (`netcraq up`).
    pub fn in_memory() -> StateStore {
        StateStore::with(Backend::Memory(Mutex::new(BTreeMap::new())))
    }

    /// A store in etcd, connected with [`connect`].
    pub async fn etcd(options: EtcdOptions) -> Result<StateStore, StoreError> {
        let client = connect(&options).await?;
        Ok(StateStore::with(Backend::Etcd { client: Box::new(client), options }))
    }

    fn with(backend: Backend) -> StateStore {
        StateStore { backend, refused_saves: AtomicU64::new(0) }
    }

    /// Waits until `candidate` leads `deployment`: at once in memory, by
    /// [`campaign`] in etcd.
    pub async fn lead(&self, deployment: &str, candidate: &str) -> Result<Leadership, StoreError> {
        match &self.backend {
            Backend::Memory(_) => {
                deployment_key("", deployment, STATE_LEAF)?;
                Ok(Leadership::Sole { deployment: deployment.to_string() })
            }
            Backend::Etcd { client, options } => {
                Ok(Leadership::Elected(campaign(client, options, deployment, candidate).await?))
            }
        }
    }

    /// The state last saved for `deployment`, if any; anyone may read it.
    pub async fn load(&self, deployment: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.backend {
            Backend::Memory(states) => {
                deployment_key("", deployment, STATE_LEAF)?;
                Ok(lock(states).get(deployment).cloned())
            }
            Backend::Etcd { client, options } => {
                let key = deployment_key(&options.prefix, deployment, STATE_LEAF)?;
                let answer = bounded("get", options.request_timeout, client.clone().get(key, None)).await?;
                Ok(answer.kvs().first().map(|kv| kv.value().to_vec()))
            }
        }
    }

    /// Saves `state` as the state of the deployment `leadership` leads;
    /// [`StoreError::NotLeader`] (and a count in [`StateStore::refused_saves`])
    /// unless it still leads: by its local deadline first, then in etcd by
    /// a transaction that puts only while the leader key is still the one
    /// it won with.
    pub async fn save(&self, leadership: &Leadership, state: &[u8]) -> Result<(), StoreError> {
        let deployment = leadership.deployment();
        let refuse = |why: &str| {
            self.refused_saves.fetch_add(1, Ordering::Relaxed);
            Err(StoreError::NotLeader { deployment: deployment.to_string(), why: why.to_string() })
        };
        if !leadership.is_leader() {
            return refuse("its leadership ended");
        }
        match (&self.backend, leadership) {
            (Backend::Memory(states), _) => {
                lock(states).insert(deployment.to_string(), state.to_vec());
                Ok(())
            }
            (Backend::Etcd { .. }, Leadership::Sole { .. }) => refuse("a leadership without etcd cannot write to etcd"),
            (Backend::Etcd { client, options }, Leadership::Elected(leader)) => {
                let key = deployment_key(&options.prefix, deployment, STATE_LEAF)?;
                let ours = Compare::create_revision(leader.key(), CompareOp::Equal, leader.create_revision());
                let txn = Txn::new().when([ours]).and_then([TxnOp::put(key, state, None)]);
                let answer = bounded("txn (save)", options.request_timeout, client.clone().txn(txn)).await?;
                if answer.succeeded() {
                    Ok(())
                } else {
                    refuse("its leader key is no longer in etcd")
                }
            }
        }
    }

    /// Every deployment with a saved state, sorted.
    pub async fn list_deployments(&self) -> Result<Vec<String>, StoreError> {
        match &self.backend {
            Backend::Memory(states) => Ok(lock(states).keys().cloned().collect()),
            Backend::Etcd { client, options } => {
                let scan = GetOptions::new().with_prefix().with_keys_only();
                let prefix = format!("{}/", options.prefix);
                let answer =
                    bounded("get (list)", options.request_timeout, client.clone().get(prefix, Some(scan))).await?;
                let keys = answer.kvs().iter().filter_map(|kv| kv.key_str().ok());
                let deployments: std::collections::BTreeSet<&str> =
                    keys.filter_map(|key| deployment_of_state_key(&options.prefix, key)).collect();
                Ok(deployments.into_iter().map(str::to_string).collect())
            }
        }
    }

    /// How many saves were refused because their controller did not lead.
    pub fn refused_saves(&self) -> u64 {
        self.refused_saves.load(Ordering::Relaxed)
    }
}

/// The memory store's map; a panic elsewhere cannot leave it half written.
fn lock(states: &Mutex<BTreeMap<String, Vec<u8>>>) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
    states.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_names_are_one_key_segment() {
        assert_eq!(deployment_key("/netcraq", "chain3", "state").unwrap(), "/netcraq/chain3/state");
        for bad in ["", "a/b", "a b", "a\nb"] {
            assert!(
                matches!(deployment_key("/netcraq", bad, "state"), Err(StoreError::InvalidDeployment(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn state_keys_name_their_deployment() {
        assert_eq!(deployment_of_state_key("/netcraq", "/netcraq/chain3/state"), Some("chain3"));
        for other in ["/netcraq/chain3/leader/694d", "/netcraq/chain3/leader", "/other/chain3/state", "/netcraq//state"]
        {
            assert_eq!(deployment_of_state_key("/netcraq", other), None, "{other}");
        }
    }

    #[tokio::test]
    async fn in_memory_the_one_controller_leads_and_saves() {
        let store = StateStore::in_memory();
        assert_eq!(store.load("chain3").await.unwrap(), None);
        let leadership = store.lead("chain3", "controller-a").await.unwrap();
        assert!(leadership.is_leader());
        assert_eq!(leadership.election_id(), 1);
        store.save(&leadership, b"{\"epoch\":1}").await.unwrap();
        assert_eq!(store.load("chain3").await.unwrap().as_deref(), Some(&b"{\"epoch\":1}"[..]));
        assert_eq!(store.list_deployments().await.unwrap(), vec!["chain3".to_string()]);
        assert!(matches!(store.lead("a/b", "controller-a").await, Err(StoreError::InvalidDeployment(_))));
        assert_eq!(store.refused_saves(), 0);
    }
}
