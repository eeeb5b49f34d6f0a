//! kube-apiserver's calls through the proxy, made with the etcd-client crate:
//! create and update as compare-and-swap Txns, a watch with previous values
//! and a progress request, compaction, etcd's errors passed through, and the
//! proxy's own limits and counters.

mod support;

use etcd_client::{
    Client, Compare, CompareOp, Error, EventType, GetOptions, Txn, TxnOp, TxnOpResponse, WatchOptions, WatchResponse,
    WatchStream,
};
use netcraq_proxy::Limits;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use support::{Fixture, Proxy, BOUND};
use tonic::Code;

async fn connect(url: &str) -> Client {
    tokio::time::timeout(BOUND, Client::connect([url], None)).await.expect("connect in time").expect("connect")
}

fn status_of(error: Error) -> (Code, String) {
    match error {
        Error::GRpcStatus(status) => (status.code(), status.message().to_string()),
        other => panic!("not a gRPC status: {other}"),
    }
}

/// kube-apiserver's create: put only if the key has never been written (mod revision 0).
fn create(key: &str, value: &str) -> Txn {
    Txn::new().when([Compare::mod_revision(key, CompareOp::Equal, 0)]).and_then([TxnOp::put(key, value, None)])
}

/// kube-apiserver's update and delete: write if the key is still at
/// `revision`, else read what it is now.
fn update(key: &str, revision: i64, write: TxnOp) -> Txn {
    Txn::new()
        .when([Compare::mod_revision(key, CompareOp::Equal, revision)])
        .and_then([write])
        .or_else([TxnOp::get(key, None)])
}

#[test]
fn kubernetes_compare_and_swap_through_the_proxy() {
    let Some(fixture) = Fixture::start("client-txn") else { return };
    fixture.proxy.runtime.block_on(async {
        let mut client = connect(&fixture.proxy.url).await;
        let key = "/registry/configmaps/default/settings";
        let created = client.txn(create(key, "v1")).await.unwrap();
        assert!(created.succeeded());
        let revision = created.header().unwrap().revision();
        assert!(!client.txn(create(key, "again")).await.unwrap().succeeded(), "a second create fails");

        let stale = client.txn(update(key, revision - 1, TxnOp::put(key, "stale", None))).await.unwrap();
        assert!(!stale.succeeded());
        let Some(TxnOpResponse::Get(current)) = stale.op_responses().into_iter().next() else {
            panic!("a failed update answers with the current object")
        };
        assert_eq!(current.kvs()[0].value(), b"v1");
        assert_eq!(current.kvs()[0].mod_revision(), revision);

        let updated = client.txn(update(key, revision, TxnOp::put(key, "v2", None))).await.unwrap();
        assert!(updated.succeeded());
        let updated_revision = updated.header().unwrap().revision();
        let deleted = client.txn(update(key, updated_revision, TxnOp::delete(key, None))).await.unwrap();
        assert!(deleted.succeeded());
        assert!(client.get(key, None).await.unwrap().kvs().is_empty());

        // Compaction, then a read below it: etcd's error comes back with its code and message.
        client.compact(updated_revision, None).await.unwrap();
        let (code, message) =
            status_of(client.get(key, Some(GetOptions::new().with_revision(revision))).await.unwrap_err());
        assert_eq!(code, Code::OutOfRange, "{message}");
        assert!(message.contains("compacted"), "{message}");
        let (code, message) = status_of(client.put("big", vec![0u8; 1_700_000], None).await.unwrap_err());
        assert_eq!(code, Code::InvalidArgument, "{message}");
        assert!(message.contains("too large"), "{message}");

        // One GET (a cache candidate) and one LIST were forwarded, besides the gets above.
        let counters = &fixture.proxy.counters;
        let (ranges, candidates) = (counters.ranges_forwarded.load(Relaxed), counters.cache_candidates.load(Relaxed));
        client.get(key, None).await.unwrap();
        client.get("/registry/", Some(GetOptions::new().with_prefix())).await.unwrap();
        assert_eq!(counters.ranges_forwarded.load(Relaxed), ranges + 2);
        assert_eq!(counters.cache_candidates.load(Relaxed), candidates + 1);
        assert_eq!(counters.upstream_failures.load(Relaxed), 0);

        let status = client.status().await.unwrap();
        assert!(status.version().starts_with("3."), "Maintenance.Status gives etcd's version: {}", status.version());
        assert_eq!(client.member_list().await.unwrap().members().len(), 1);
    });
}

async fn next(watch: &mut WatchStream) -> WatchResponse {
    let message = tokio::time::timeout(BOUND, watch.message()).await.expect("a watch response in time");
    message.unwrap().expect("the stream stays open")
}

#[test]
fn a_watch_through_the_proxy_sees_writes_and_answers_progress_requests() {
    let Some(fixture) = Fixture::start("client-watch") else { return };
    fixture.proxy.runtime.block_on(async {
        let mut client = connect(&fixture.proxy.url).await;
        let mut direct = connect(&fixture.etcd_url).await;
        let options = WatchOptions::new().with_prefix().with_prev_key().with_progress_notify();
        let mut watch = client.watch("/registry/pods/", Some(options)).await.unwrap();
        let created = next(&mut watch).await;
        assert!(created.created());

        direct.put("/registry/pods/a", "1", None).await.unwrap();
        let written = direct.put("/registry/pods/a", "2", None).await.unwrap().header().unwrap().revision();
        let mut events = Vec::new();
        while events.len() < 2 {
            let response = next(&mut watch).await;
            assert_eq!(response.watch_id(), created.watch_id());
            events.extend(response.events().to_vec());
        }
        assert_eq!(events[1].event_type(), EventType::Put);
        assert_eq!(events[1].kv().unwrap().value(), b"2");
        assert_eq!(events[1].prev_kv().unwrap().value(), b"1", "prev_kv comes through");

        watch.request_progress().await.unwrap();
        let progress = next(&mut watch).await;
        assert!(progress.events().is_empty() && !progress.created() && !progress.canceled());
        assert_eq!(progress.header().unwrap().revision(), written, "progress at etcd's current revision");

        watch.cancel(created.watch_id()).await.unwrap();
        assert!(next(&mut watch).await.canceled());
    });
}

#[test]
fn leases_through_the_proxy() {
    let Some(fixture) = Fixture::start("client-lease") else { return };
    fixture.proxy.runtime.block_on(async {
        let mut client = connect(&fixture.proxy.url).await;
        let lease = client.lease_grant(30, None).await.unwrap();
        let (mut keeper, mut responses) = client.lease_keep_alive(lease.id()).await.unwrap();
        keeper.keep_alive().await.unwrap();
        let kept = tokio::time::timeout(BOUND, responses.message()).await.unwrap().unwrap().unwrap();
        assert_eq!((kept.id(), kept.ttl()), (lease.id(), 30));
        assert_eq!(client.leases().await.unwrap().leases().len(), 1);
        client.lease_revoke(lease.id()).await.unwrap();
        assert_eq!(client.lease_time_to_live(lease.id(), None).await.unwrap().ttl(), -1);
    });
}

/// Streams over the limit are refused with RESOURCE_EXHAUSTED and counted;
/// RangeStream answers UNIMPLEMENTED; the health service says SERVING.
#[test]
fn stream_limit_range_stream_and_health() {
    let limits = Limits { max_streams: 1, ..Limits::default() };
    let Some(fixture) = Fixture::start_with("client-limits", limits) else { return };
    fixture.proxy.runtime.block_on(async {
        let mut client = connect(&fixture.proxy.url).await;
        let _open = client.watch("a", None).await.unwrap();
        let (code, message) = status_of(client.watch("b", None).await.unwrap_err());
        assert_eq!(code, Code::ResourceExhausted, "{message}");
        assert_eq!(fixture.proxy.counters.streams_refused.load(Relaxed), 1);

        let channel =
            tonic::transport::Endpoint::from_shared(fixture.proxy.url.clone()).unwrap().connect().await.unwrap();
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.unwrap();
        let path = tonic::codegen::http::uri::PathAndQuery::from_static("/etcdserverpb.KV/RangeStream");
        let request = etcd_client::proto::PbRangeRequest { key: b"a".to_vec(), ..Default::default() };
        let codec = tonic_prost::ProstCodec::<_, etcd_client::proto::PbRangeStreamResponse>::default();
        let status = grpc.server_streaming(tonic::Request::new(request), path, codec).await.unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented, "{status:?}");

        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        let serving = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
        assert_eq!(serving.get_ref().status(), tonic_health::pb::health_check_response::ServingStatus::Serving);
    });
}

/// With etcd unreachable, calls fail with UNAVAILABLE within the bounds, are
/// counted, and the proxy still stops when asked.
#[test]
fn an_unreachable_etcd_is_unavailable_and_counted() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let limits = Limits {
        connect_timeout: Duration::from_millis(500),
        call_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let proxy = Proxy::start(&[url], limits);
    proxy.runtime.block_on(async {
        let mut client = connect(&proxy.url).await;
        let started = std::time::Instant::now();
        let (code, message) = status_of(client.get("k", None).await.unwrap_err());
        assert_eq!(code, Code::Unavailable, "{message}");
        assert!(started.elapsed() < Duration::from_secs(3), "answered in {:?}", started.elapsed());
        assert!(client.watch("k", None).await.is_err());
    });
    assert_eq!(proxy.counters.upstream_failures.load(Relaxed), 2);
}
