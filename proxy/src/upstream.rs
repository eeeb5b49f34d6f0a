//! The real etcd behind the proxy: one tonic channel over its client URLs,
//! and the calls that forward a request's own message and metadata to it.

use crate::counters::Counters;
use crate::metrics::Observed;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_stream::{Stream, StreamExt};
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};
use tonic::{Extensions, Request, Response, Status};
use tonic_prost::ProstCodec;
use tracing::warn;

/// What the proxy allows itself.
#[derive(Clone, Debug)]
pub struct Limits {
    /// A unary call's whole round trip to etcd.
    pub call_timeout: Duration,
    /// Waiting for a connection to etcd, before a call or a stream starts.
    pub connect_timeout: Duration,
    /// Watch, LeaseKeepAlive and Snapshot streams open at once, over all clients.
    pub max_streams: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { call_timeout: Duration::from_secs(30), connect_timeout: Duration::from_secs(5), max_streams: 10_000 }
    }
}

/// etcd's own client accepts responses up to 2 GiB (a large List); so does the proxy.
const MAX_RESPONSE_BYTES: usize = i32::MAX as usize;

/// Headers that describe one hop's encoding, not the call: the proxy's two
/// hops negotiate their own (a client's gzip must not reach etcd as a claim).
const HOP_HEADERS: [&str; 5] = ["te", "content-type", "content-length", "grpc-encoding", "grpc-accept-encoding"];

/// A response stream forwarded from etcd; it holds its stream permit while open.
pub type ForwardedStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The etcd members the proxy forwards to, with its limits and counters.
#[derive(Clone)]
pub struct Upstream {
    channel: Channel,
    urls: Vec<String>,
    limits: Limits,
    streams: Arc<Semaphore>,
    pub(crate) counters: Arc<Counters>,
    /// Calls by method, their latency, and the hot-key sketch.
    pub(crate) observed: Arc<Observed>,
}

impl Upstream {
    /// Balances over etcd's client URLs (`http://HOST:PORT`); connects
    /// lazily, so etcd may start after the proxy. Must run in a tokio runtime.
    pub fn new(urls: &[String], limits: Limits) -> Result<Upstream, String> {
        if urls.is_empty() {
            return Err("no etcd URL given".into());
        }
        let endpoints: Vec<Endpoint> = urls
            .iter()
            .map(|url| {
                Endpoint::from_shared(url.clone())
                    .map(|endpoint| endpoint.connect_timeout(limits.connect_timeout).tcp_nodelay(true))
                    .map_err(|e| format!("etcd URL {url:?}: {e} (expected http://HOST:PORT)"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Upstream {
            channel: Channel::balance_list(endpoints.into_iter()),
            urls: urls.to_vec(),
            streams: Arc::new(Semaphore::new(limits.max_streams)),
            limits,
            counters: Arc::new(Counters::default()),
            observed: Arc::new(Observed::default()),
        })
    }

    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// Calls by method, their latency, and the hottest keys.
    pub fn observed(&self) -> Arc<Observed> {
        self.observed.clone()
    }

    /// Everything the proxy exports at `/metrics`, in the text format,
    /// with the `placed` keys (key, first slot).
    pub fn render_metrics(&self, placed: &[(Vec<u8>, u16)]) -> String {
        self.observed.render(&self.counters, placed)
    }

    /// Forwards one unary call, bounded by the call timeout.
    pub(crate) async fn unary<Req, Resp>(
        &self,
        method: &'static str,
        request: Request<Req>,
    ) -> Result<Response<Resp>, Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let started = Instant::now();
        let call = async {
            let mut grpc = self.ready(method).await?;
            grpc.unary(forwarded(request), PathAndQuery::from_static(method), ProstCodec::default()).await
        };
        let result = tokio::time::timeout(self.limits.call_timeout, call).await.unwrap_or_else(|_| {
            Err(Status::deadline_exceeded(format!(
                "netcraq proxy: etcd did not answer {method} within {:?}",
                self.limits.call_timeout
            )))
        });
        self.observed.forwarded(method, Some(started.elapsed()));
        self.observe(method, result).map(returned)
    }

    /// Opens a stream to etcd carrying `requests` (a client's stream, or one
    /// message for a server-streaming call); it is not bounded in time, but
    /// takes one of the `max_streams` permits while it lasts.
    pub(crate) async fn stream<Req, Resp>(
        &self,
        method: &'static str,
        requests: Request<impl Stream<Item = Req> + Send + 'static>,
    ) -> Result<Response<ForwardedStream<Resp>>, Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let permit = self.streams.clone().try_acquire_owned().map_err(|_| {
            self.counters.streams_refused.fetch_add(1, Relaxed);
            warn!(method, max = self.limits.max_streams, "stream refused: the proxy's streams are all in use");
            Status::resource_exhausted(format!(
                "netcraq proxy: {} streams are open, the most it allows",
                self.limits.max_streams
            ))
        })?;
        self.observed.forwarded(method, None);
        let result = match self.ready(method).await {
            Ok(mut grpc) => {
                grpc.streaming(forwarded(requests), PathAndQuery::from_static(method), ProstCodec::default()).await
            }
            Err(status) => Err(status),
        };
        let response = returned(self.observe(method, result)?);
        Ok(response.map(|responses| holding(responses, permit)))
    }

    /// A client for one call, once the channel has a connection to etcd.
    async fn ready(&self, method: &str) -> Result<Grpc<Channel>, Status> {
        let mut grpc = Grpc::new(self.channel.clone()).max_decoding_message_size(MAX_RESPONSE_BYTES);
        match tokio::time::timeout(self.limits.connect_timeout, grpc.ready()).await {
            Ok(Ok(())) => Ok(grpc),
            Ok(Err(error)) => {
                Err(Status::unavailable(format!("netcraq proxy: etcd unreachable for {method}: {error}")))
            }
            Err(_) => Err(Status::unavailable(format!(
                "netcraq proxy: no connection to etcd ({}) within {:?} for {method}",
                self.urls.join(","),
                self.limits.connect_timeout
            ))),
        }
    }

    /// Counts and logs the calls that did not get etcd's answer; every
    /// status, etcd's own included, goes back to the client unchanged.
    fn observe<T>(&self, method: &str, result: Result<T, Status>) -> Result<T, Status> {
        if let Err(status) = &result {
            if matches!(status.code(), tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Unknown)
            {
                self.counters.upstream_failures.fetch_add(1, Relaxed);
                warn!(method, code = ?status.code(), message = status.message(), "upstream etcd failure");
            }
        }
        result
    }
}

/// The client's message and metadata, without this hop's encoding headers
/// or the server's extensions.
fn forwarded<T>(request: Request<T>) -> Request<T> {
    let (metadata, _, message) = request.into_parts();
    Request::from_parts(without_hop_headers(metadata), Extensions::default(), message)
}

/// etcd's message and metadata, without its hop's encoding headers.
fn returned<T>(response: Response<T>) -> Response<T> {
    let (metadata, message, extensions) = response.into_parts();
    Response::from_parts(without_hop_headers(metadata), message, extensions)
}

fn without_hop_headers(mut metadata: MetadataMap) -> MetadataMap {
    for name in HOP_HEADERS {
        metadata.remove(name);
    }
    metadata
}

/// `responses`, keeping `permit` taken until the stream is dropped.
fn holding<T: Send + 'static>(
    responses: impl Stream<Item = Result<T, Status>> + Send + 'static,
    permit: OwnedSemaphorePermit,
) -> ForwardedStream<T> {
    Box::pin(responses.map(move |item| {
        let _open = &permit;
        item
    }))
}
