//! etcd's KV, Watch, Lease, Cluster and Maintenance services, each call
//! forwarded to the upstream etcd with its own message and metadata.

use crate::hot::HotReads;
use crate::range::cache_candidate;
use crate::upstream::{ForwardedStream, Upstream};
use etcd_client::proto::*;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

/// The proxy's services; clones share the upstream and its counters.
#[derive(Clone)]
pub(crate) struct Proxy {
    pub(crate) upstream: Upstream,
    pub(crate) hot: Option<Arc<HotReads>>,
}

type Answer<T> = Result<Response<T>, Status>;

impl Proxy {
    /// Forwards a client's request stream until it ends or fails: a failed
    /// client stream ends etcd's side as a half-close would.
    async fn stream_of<Req, Resp>(
        &self,
        method: &'static str,
        request: Request<Streaming<Req>>,
    ) -> Answer<ForwardedStream<Resp>>
    where
        Req: prost::Message + Default + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        self.upstream.stream(method, request.map(|requests| requests.map_while(Result::ok))).await
    }

    /// Forwards a Put, DeleteRange or Txn; with hot reads, through
    /// [`HotReads::write`], as the op `wrap` makes of it.
    async fn write<Req, Resp>(
        &self,
        method: &'static str,
        request: Request<Req>,
        wrap: fn(Req) -> PbTxnOpRequest,
        unwrap: fn(PbTxnOpResponse) -> Option<Resp>,
    ) -> Answer<Resp>
    where
        Req: prost::Message + Clone + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let Some(hot) = &self.hot else {
            let response: Response<Resp> = self.upstream.unary(method, request).await?;
            return Ok(response);
        };
        let response = hot.write(&self.upstream, request.map(wrap)).await?;
        let (metadata, answer, extensions) = response.into_parts();
        let answer = unwrap(answer).ok_or_else(|| Status::internal("netcraq proxy: etcd answered another op"))?;
        Ok(Response::from_parts(metadata, answer, extensions))
    }
}

#[tonic::async_trait]
impl PbKvService for Proxy {
    /// A candidate Range of a placed key is answered from the cache when
    /// NetCRAQ says the cached value is the newest; every other goes to etcd.
    async fn range(&self, request: Request<PbRangeRequest>) -> Answer<PbRangeResponse> {
        let counters = &self.upstream.counters;
        let range = request.get_ref();
        if range.range_end.is_empty() && !range.key.is_empty() {
            self.upstream.observed.read_key(&range.key);
        }
        let candidate = cache_candidate(range).map(<[u8]>::to_vec);
        if candidate.is_some() {
            counters.cache_candidates.fetch_add(1, Relaxed);
        }
        let hot = self.hot.as_ref();
        if let (Some(hot), Some(key)) = (hot, &candidate) {
            if hot.is_placed(key) {
                match hot.read(key, counters).await {
                    Ok(answer) => {
                        counters.hot_hits.fetch_add(1, Relaxed);
                        return Ok(Response::new(answer));
                    }
                    Err(_) => counters.hot_misses.fetch_add(1, Relaxed),
                };
            }
        }
        counters.ranges_forwarded.fetch_add(1, Relaxed);
        let response: Response<PbRangeResponse> = self.upstream.unary("/etcdserverpb.KV/Range", request).await?;
        match (hot, &candidate) {
            (Some(hot), Some(key)) => hot.observe(key, response.get_ref()),
            (Some(hot), None) => hot.observe_header(response.get_ref().header.as_ref()),
            _ => {}
        }
        Ok(response)
    }

    type RangeStreamStream = ForwardedStream<PbRangeStreamResponse>;

    /// kube-apiserver falls back to Range on UNIMPLEMENTED, as older etcds answer.
    async fn range_stream(&self, _request: Request<PbRangeRequest>) -> Answer<Self::RangeStreamStream> {
        Err(Status::unimplemented("netcraq proxy: RangeStream is not served; use Range"))
    }

    async fn put(&self, request: Request<PbPutRequest>) -> Answer<PbPutResponse> {
        self.write("/etcdserverpb.KV/Put", request, PbTxnOpRequest::RequestPut, |answer| match answer {
            PbTxnOpResponse::ResponsePut(put) => Some(put),
            _ => None,
        })
        .await
    }

    async fn delete_range(&self, request: Request<PbDeleteRequest>) -> Answer<PbDeleteResponse> {
        let method = "/etcdserverpb.KV/DeleteRange";
        self.write(method, request, PbTxnOpRequest::RequestDeleteRange, |answer| match answer {
            PbTxnOpResponse::ResponseDeleteRange(delete) => Some(delete),
            _ => None,
        })
        .await
    }

    async fn txn(&self, request: Request<PbTxnRequest>) -> Answer<PbTxnResponse> {
        self.write("/etcdserverpb.KV/Txn", request, PbTxnOpRequest::RequestTxn, |answer| match answer {
            PbTxnOpResponse::ResponseTxn(txn) => Some(txn),
            _ => None,
        })
        .await
    }

    async fn compact(&self, request: Request<PbCompactionRequest>) -> Answer<PbCompactionResponse> {
        self.upstream.unary("/etcdserverpb.KV/Compact", request).await
    }
}

#[tonic::async_trait]
impl PbWatchService for Proxy {
    type WatchStream = ForwardedStream<PbWatchResponse>;

    /// One etcd watch stream per client watch stream: watch ids, progress
    /// requests, fragments and headers are etcd's own.
    async fn watch(&self, request: Request<Streaming<PbWatchRequest>>) -> Answer<Self::WatchStream> {
        self.stream_of("/etcdserverpb.Watch/Watch", request).await
    }
}

#[tonic::async_trait]
impl PbLeaseService for Proxy {
    async fn lease_grant(&self, request: Request<PbLeaseGrantRequest>) -> Answer<PbLeaseGrantResponse> {
        self.upstream.unary("/etcdserverpb.Lease/LeaseGrant", request).await
    }

    async fn lease_revoke(&self, request: Request<PbLeaseRevokeRequest>) -> Answer<PbLeaseRevokeResponse> {
        self.upstream.unary("/etcdserverpb.Lease/LeaseRevoke", request).await
    }

    type LeaseKeepAliveStream = ForwardedStream<PbLeaseKeepAliveResponse>;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<PbLeaseKeepAliveRequest>>,
    ) -> Answer<Self::LeaseKeepAliveStream> {
        self.stream_of("/etcdserverpb.Lease/LeaseKeepAlive", request).await
    }

    async fn lease_time_to_live(
        &self,
        request: Request<PbLeaseTimeToLiveRequest>,
    ) -> Answer<PbLeaseTimeToLiveResponse> {
        self.upstream.unary("/etcdserverpb.Lease/LeaseTimeToLive", request).await
    }

    async fn lease_leases(&self, request: Request<PbLeaseLeasesRequest>) -> Answer<PbLeaseLeasesResponse> {
        self.upstream.unary("/etcdserverpb.Lease/LeaseLeases", request).await
    }
}

#[tonic::async_trait]
impl PbClusterService for Proxy {
    async fn member_add(&self, request: Request<PbMemberAddRequest>) -> Answer<PbMemberAddResponse> {
        self.upstream.unary("/etcdserverpb.Cluster/MemberAdd", request).await
    }

    async fn member_remove(&self, request: Request<PbMemberRemoveRequest>) -> Answer<PbMemberRemoveResponse> {
        self.upstream.unary("/etcdserverpb.Cluster/MemberRemove", request).await
    }

    async fn member_update(&self, request: Request<PbMemberUpdateRequest>) -> Answer<PbMemberUpdateResponse> {
        self.upstream.unary("/etcdserverpb.Cluster/MemberUpdate", request).await
    }

    /// etcd's members, not the proxy: clients that sync endpoints from this
    /// list (etcdctl --discovery, clientv3 AutoSyncInterval) then bypass the proxy.
    async fn member_list(&self, request: Request<PbMemberListRequest>) -> Answer<PbMemberListResponse> {
        self.upstream.unary("/etcdserverpb.Cluster/MemberList", request).await
    }

    async fn member_promote(&self, request: Request<PbMemberPromoteRequest>) -> Answer<PbMemberPromoteResponse> {
        self.upstream.unary("/etcdserverpb.Cluster/MemberPromote", request).await
    }
}

#[tonic::async_trait]
impl PbMaintenanceService for Proxy {
    async fn alarm(&self, request: Request<PbAlarmRequest>) -> Answer<PbAlarmResponse> {
        self.upstream.unary("/etcdserverpb.Maintenance/Alarm", request).await
    }

    /// The answering etcd member's status: kube-apiserver learns etcd's version here.
    async fn status(&self, request: Request<PbStatusRequest>) -> Answer<PbStatusResponse> {
        self.upstream.unary("/etcdserverpb.Maintenance/Status", request).await
    }

    async fn defragment(&self, request: Request<PbDefragmentRequest>) -> Answer<PbDefragmentResponse> {
        self.upstream.unary("/etcdserverpb.Maintenance/Defragment", request).await
    }

    async fn hash(&self, request: Request<PbHashRequest>) -> Answer<PbHashResponse> {
        self.upstream.unary("/etcdserverpb.Maintenance/Hash", request).await
    }

    async fn hash_kv(&self, request: Request<PbHashKvRequest>) -> Answer<PbHashKvResponse> {
        self.upstream.unary("/etcdserverpb.Maintenance/HashKV", request).await
    }

    type SnapshotStream = ForwardedStream<PbSnapshotResponse>;

    async fn snapshot(&self, request: Request<PbSnapshotRequest>) -> Answer<Self::SnapshotStream> {
        self.upstream.stream("/etcdserverpb.Maintenance/Snapshot", request.map(tokio_stream::once)).await
    }

    async fn move_leader(&self, request: Request<PbMoveLeaderRequest>) -> Answer<PbMoveLeaderResponse> {
        self.upstream.unary("/etcdserverpb.Maintenance/MoveLeader", request).await
    }

    async fn downgrade(&self, request: Request<PbDowngradeRequest>) -> Answer<PbDowngradeResponse> {
        self.upstream.unary("/etcdserverpb.Maintenance/Downgrade", request).await
    }
}
