//! Hot reads through two proxies in one process, over slots in memory (a
//! linearizable register per slot, as NetCRAQ is) and a real etcd:
//! kube-apiserver's GET of a placed key is served from the cache once the
//! slots say it is the newest, writes through either proxy (Put, the
//! compare-and-swap Txn, DeleteRange) are seen by the other at once, and
//! keys with a lease, absent keys and lists are never served from the cache;
//! and a key promoted and demoted at runtime is served from the cache only
//! while placed, its slot marked unknown once demoted.

mod support;

use etcd_client::{Client, Compare, CompareOp, PutOptions, Txn, TxnOp};
use netcraq_proxy::coherence::{key_tag, Record};
use netcraq_proxy::{Counters, HotReads, Limits, ProxySeat, Slots, Upstream};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use support::{etcd_binary, installed, BOUND};

const KEY: &str = "/registry/pods/default/hot";

#[derive(Default)]
struct MemorySlots(Mutex<HashMap<u16, [u8; 16]>>);

#[netcraq_proxy::async_trait]
impl Slots for MemorySlots {
    async fn read(&self, slots: &[u16]) -> Result<Vec<[u8; 16]>, String> {
        let held = self.0.lock().unwrap();
        Ok(slots.iter().map(|slot| held.get(slot).copied().unwrap_or_default()).collect())
    }

    async fn write(&self, slot: u16, value: [u8; 16]) -> Result<(), String> {
        self.0.lock().unwrap().insert(slot, value);
        Ok(())
    }
}

/// Starts proxy `index` of two on `slots`, with `KEY` placed, and runs its restart.
async fn hot_proxy(index: u16, etcd: &str, slots: Arc<MemorySlots>) -> (String, Arc<Counters>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = Upstream::new(&[etcd.to_string()], Limits::default()).unwrap();
    let counters = upstream.counters();
    let hot = Arc::new(HotReads::new(slots, ProxySeat { index, proxies: 2 }).unwrap());
    hot.place(KEY.as_bytes(), 10).unwrap();
    tokio::time::timeout(BOUND, hot.restart(&upstream)).await.expect("the restart completes");
    tokio::spawn(netcraq_proxy::run_with_hot_reads(listener, upstream, Some(hot), std::future::pending()));
    (url, counters)
}

/// One etcd member in a directory of its own (`name`), and a runtime for the proxies.
fn one_etcd(name: &str) -> (netcraq_etcd_cluster::EtcdCluster, std::path::PathBuf, tokio::runtime::Runtime) {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let mut cluster = netcraq_etcd_cluster::EtcdCluster::start(&etcd_binary(), 1, &dir).unwrap();
    cluster.wait_serving(netcraq_etcd_cluster::SERVING_TIMEOUT).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    (cluster, dir, runtime)
}

async fn value(client: &mut Client, key: &str) -> Option<Vec<u8>> {
    client.get(key, None).await.unwrap().kvs().first().map(|kv| kv.value().to_vec())
}

#[test]
fn placed_keys_are_served_from_the_cache_and_writes_through_either_proxy_are_seen() {
    if !installed(&etcd_binary(), &["--version"], "hot") {
        return;
    }
    let (cluster, dir, runtime) = one_etcd("netcraq-proxy-hot");
    let etcd = cluster.client_urls[0].clone();
    runtime.block_on(async {
        let slots = Arc::new(MemorySlots::default());
        let (first_url, first) = hot_proxy(0, &etcd, slots.clone()).await;
        let (second_url, second) = hot_proxy(1, &etcd, slots).await;
        let mut a = Client::connect([first_url], None).await.unwrap();
        let mut b = Client::connect([second_url], None).await.unwrap();

        // Absent: never cached.
        assert_eq!(value(&mut b, KEY).await, None);
        assert_eq!(value(&mut b, KEY).await, None);
        assert_eq!(second.hot_hits.load(Relaxed), 0);

        // A create through the first proxy; the second misses once, then hits.
        let create =
            Txn::new().when([Compare::mod_revision(KEY, CompareOp::Equal, 0)]).and_then([TxnOp::put(KEY, "v1", None)]);
        let created = a.txn(create).await.unwrap();
        assert!(created.succeeded());
        let revision = created.header().unwrap().revision();
        assert_eq!(value(&mut b, KEY).await.as_deref(), Some(&b"v1"[..]));
        let hit = b.get(KEY, None).await.unwrap();
        assert_eq!(second.hot_hits.load(Relaxed), 1);
        assert_eq!(hit.kvs()[0].mod_revision(), revision);
        assert!(hit.header().unwrap().revision() >= revision, "the header is no older than the value");

        // An update through the second proxy is read through the first at once.
        let update = || {
            Txn::new()
                .when([Compare::mod_revision(KEY, CompareOp::Equal, revision)])
                .and_then([TxnOp::put(KEY, "v2", None)])
                .or_else([TxnOp::get(KEY, None)])
        };
        assert!(b.txn(update()).await.unwrap().succeeded());
        assert_eq!(value(&mut a, KEY).await.as_deref(), Some(&b"v2"[..]));
        assert_eq!(value(&mut a, KEY).await.as_deref(), Some(&b"v2"[..]));
        assert_eq!(first.hot_hits.load(Relaxed), 1);
        // A failed compare changes nothing: the cached value stays servable.
        assert!(!b.txn(update()).await.unwrap().succeeded());
        assert_eq!(value(&mut b, KEY).await.as_deref(), Some(&b"v2"[..]));
        assert_eq!(value(&mut b, KEY).await.as_deref(), Some(&b"v2"[..]));
        assert_eq!(second.hot_hits.load(Relaxed), 2);

        // With a lease: never served from the cache.
        let lease = a.lease_grant(60, None).await.unwrap().id();
        a.put(KEY, "leased", Some(PutOptions::new().with_lease(lease))).await.unwrap();
        for _ in 0..2 {
            assert_eq!(value(&mut b, KEY).await.as_deref(), Some(&b"leased"[..]));
        }
        assert_eq!(second.hot_hits.load(Relaxed), 2);

        // A delete of a range covering the key, through the second proxy.
        a.put(KEY, "v3", None).await.unwrap();
        assert_eq!(value(&mut b, KEY).await.as_deref(), Some(&b"v3"[..]));
        b.delete("/registry/pods/", Some(etcd_client::DeleteOptions::new().with_prefix())).await.unwrap();
        assert_eq!(value(&mut a, KEY).await, None);
        assert_eq!(value(&mut b, KEY).await, None);
        assert_eq!(first.placed_writes.load(Relaxed) + second.placed_writes.load(Relaxed), 6);
        assert_eq!(first.fenced_writes.load(Relaxed) + second.fenced_writes.load(Relaxed), 0);
    });
    drop(runtime);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_key_promoted_and_demoted_at_runtime_is_served_from_the_cache_only_while_placed() {
    if !installed(&etcd_binary(), &["--version"], "hot") {
        return;
    }
    let (cluster, dir, runtime) = one_etcd("netcraq-proxy-placement");
    let etcd = cluster.client_urls[0].clone();
    runtime.block_on(async {
        let slots = Arc::new(MemorySlots::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = Upstream::new(&[etcd.to_string()], Limits::default()).unwrap();
        let counters = upstream.counters();
        let hot = Arc::new(HotReads::new(slots.clone(), ProxySeat { index: 0, proxies: 1 }).unwrap());
        tokio::time::timeout(BOUND, hot.restart(&upstream)).await.expect("the restart completes");
        let served = tokio::spawn(netcraq_proxy::run_with_hot_reads(
            listener,
            upstream.clone(),
            Some(hot.clone()),
            std::future::pending(),
        ));
        let mut client = Client::connect([url], None).await.unwrap();
        let slot =
            |slots: &MemorySlots| Record::from_bytes(slots.0.lock().unwrap().get(&4).copied().unwrap_or_default());

        // Not placed: written (fenced, unmarked) and read through etcd.
        let written = client.put(KEY, "v1", None).await.unwrap().header().unwrap().revision();
        assert_eq!(value(&mut client, KEY).await.as_deref(), Some(&b"v1"[..]));
        assert_eq!(counters.hot_hits.load(Relaxed), 0);

        // Promoted: observed and marked clean at its mod revision, then served from the cache.
        let placed = BTreeMap::from([(KEY.as_bytes().to_vec(), 4)]);
        let change = hot.set_placement(&upstream, &placed).await.unwrap();
        assert_eq!((change.promoted, change.demoted), (1, 0));
        assert_eq!(slot(&slots), Record::Clean { tag: key_tag(KEY.as_bytes()), revision: written });
        assert_eq!(value(&mut client, KEY).await.as_deref(), Some(&b"v1"[..]));
        assert_eq!(counters.hot_hits.load(Relaxed), 1);
        assert_eq!(hot.set_placement(&upstream, &placed).await.unwrap(), Default::default(), "nothing to change");

        // Written through the steps, read back at once.
        client.put(KEY, "v2", None).await.unwrap();
        assert_eq!(value(&mut client, KEY).await.as_deref(), Some(&b"v2"[..]));
        assert_eq!(value(&mut client, KEY).await.as_deref(), Some(&b"v2"[..]));
        assert_eq!((counters.placed_writes.load(Relaxed), counters.hot_hits.load(Relaxed)), (1, 2));

        // Demoted: its slot unknown, its writes unmarked, its reads from etcd.
        let change = hot.set_placement(&upstream, &BTreeMap::new()).await.unwrap();
        assert_eq!((change.promoted, change.demoted), (0, 1));
        assert_eq!(slot(&slots), Record::Unknown);
        client.put(KEY, "v3", None).await.unwrap();
        assert_eq!(value(&mut client, KEY).await.as_deref(), Some(&b"v3"[..]));
        assert_eq!(value(&mut client, KEY).await.as_deref(), Some(&b"v3"[..]));
        assert_eq!((counters.placed_writes.load(Relaxed), counters.hot_hits.load(Relaxed)), (1, 2));
        assert_eq!((counters.promotions.load(Relaxed), counters.demotions.load(Relaxed)), (1, 1));
        assert_eq!(counters.fenced_writes.load(Relaxed), 0, "the moved fence stopped none of the answered writes");
        served.abort();
    });
    drop(runtime);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}
