//! `netcraq proxy`: etcd's v3 gRPC API (KV, Watch, Lease, Cluster,
//! Maintenance and grpc.health.v1) served in front of a real etcd, the store
//! of record (docs/kubernetes.md). Every call is forwarded with its own
//! message and metadata, and etcd's answer, errors included, comes back
//! unchanged; RangeStream and Auth answer UNIMPLEMENTED.
//!
//! With [`HotReads`], single-key latest Ranges of placed keys
//! ([`cache_candidate`]) are answered from the proxy's cache when NetCRAQ
//! says it holds the newest value ([`coherence`]), and writes of placed
//! keys keep NetCRAQ truthful.

pub mod coherence;
mod counters;
mod hot;
pub mod hot_keys;
pub mod metrics;
mod range;
mod services;
mod upstream;

pub use counters::Counters;
pub use hot::{fence_key, HotReads, PlacementChange, ProxySeat, Slots};
pub use range::cache_candidate;
/// For implementations of [`Slots`].
pub use tonic::async_trait;
pub use upstream::{Limits, Upstream};

use etcd_client::proto::{
    PbClusterServer, PbKvServer, PbLeaseServer, PbMaintenanceServer, PbStatusRequest, PbStatusResponse, PbWatchServer,
};
use services::Proxy;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic_health::ServingStatus;

/// How long open calls and streams may go on once shutdown is asked; then
/// the proxy stops regardless (an open Watch never ends by itself).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The largest request accepted from a client; etcd's own limit is lower
/// (1.5 MiB by default) and its error comes back as it says it.
const MAX_REQUEST_BYTES: usize = 64 << 20;

/// Serves the proxy on `listener`, forwarding to `upstream`, until
/// `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    upstream: Upstream,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    run_with_hot_reads(listener, upstream, None, shutdown).await
}

/// [`run`], answering hot reads of `hot`'s placed keys once the caller
/// has run [`HotReads::restart`] (until then reads go to etcd and writes
/// of placed keys are refused).
pub async fn run_with_hot_reads(
    listener: TcpListener,
    upstream: Upstream,
    hot: Option<Arc<HotReads>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let proxy = Proxy { upstream, hot };
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("", ServingStatus::Serving).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = Server::builder()
        .add_service(health_service)
        .add_service(PbKvServer::new(proxy.clone()).max_decoding_message_size(MAX_REQUEST_BYTES))
        .add_service(PbWatchServer::new(proxy.clone()).max_decoding_message_size(MAX_REQUEST_BYTES))
        .add_service(PbLeaseServer::new(proxy.clone()))
        .add_service(PbClusterServer::new(proxy.clone()))
        .add_service(PbMaintenanceServer::new(proxy))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), async {
            stopped.await.ok();
        });
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result,
        () = shutdown => {}
    }
    let _ = stop.send(());
    tokio::time::timeout(SHUTDOWN_GRACE, server).await.unwrap_or(Ok(()))
}

/// The version an etcd member reports through Maintenance.Status: whether
/// the upstream answers, and what it is.
pub async fn etcd_version(upstream: &Upstream) -> Result<String, tonic::Status> {
    let status: tonic::Response<PbStatusResponse> =
        upstream.unary("/etcdserverpb.Maintenance/Status", tonic::Request::new(PbStatusRequest {})).await?;
    Ok(status.into_inner().version)
}
