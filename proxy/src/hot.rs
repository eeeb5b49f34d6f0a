//! Hot reads: single-key latest Ranges of placed keys answered from the
//! proxy's cache when NetCRAQ says no proxy has a write of the key in
//! flight and the cached value is the newest (the protocol: `coherence`;
//! docs/kubernetes.md "Hot reads"), and writes of placed keys that keep
//! every proxy's slot truthful.

use crate::coherence::{self, Cached, Miss, Record, Verdict};
use crate::counters::Counters;
use crate::upstream::Upstream;
use etcd_client::proto::{
    PbCompare, PbCompareTarget, PbKeyValue, PbPutRequest, PbRangeRequest, PbRangeResponse, PbResponseHeader,
    PbTargetUnion, PbTxnOpRequest, PbTxnOpResponse, PbTxnRequest, PbTxnRequestOp, PbTxnResponse,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tonic::{Request, Status};
use tracing::{info, warn};

/// NetCRAQ as the proxy uses it: READs and blind WRITEs of 16-byte slots.
#[tonic::async_trait]
pub trait Slots: Send + Sync + 'static {
    /// Reads every slot, at once (one round trip), in the order given.
    async fn read(&self, slots: &[u16]) -> Result<Vec<[u8; 16]>, String>;
    async fn write(&self, slot: u16, value: [u8; 16]) -> Result<(), String>;
}

/// Which proxy this is among those that write the same placed keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxySeat {
    /// 0-based; each proxy has its own, and keeps it across restarts.
    pub index: u16,
    /// How many proxies write placed keys: each key has that many slots.
    pub proxies: u16,
}

/// A placed key: its first slot, its tag, and this proxy's write lock,
/// which holds what the proxy last wrote to its own slot.
struct Placed {
    first_slot: u16,
    tag: u32,
    own: Arc<tokio::sync::Mutex<Record>>,
}

/// The hot-read state of one proxy.
pub struct HotReads {
    slots: Arc<dyn Slots>,
    seat: ProxySeat,
    placed: Mutex<BTreeMap<Vec<u8>, Placed>>,
    cache: Mutex<HashMap<Vec<u8>, PbKeyValue>>,
    /// The fence key's mod revision once this incarnation put it.
    fence: Mutex<Option<i64>>,
    /// The newest response header seen from etcd: cached answers carry it,
    /// with a revision no older than the value's (`answer`).
    newest_header: Mutex<Option<PbResponseHeader>>,
    /// Shared by every write from before it looks at the placement until
    /// etcd answered; exclusive for a placement change, which so sees no
    /// write of this proxy in flight.
    writes: tokio::sync::RwLock<()>,
    /// Set when etcd did not answer a marked write, whose Txn may then
    /// still commit: the fence moves before any slot of this proxy is
    /// marked clean again (`settle_doubt`).
    in_doubt: AtomicBool,
}

/// What a placement change did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlacementChange {
    pub promoted: usize,
    pub demoted: usize,
}

/// A placed key a write holds this proxy's lock of, with its own slot.
type HeldKey = (Vec<u8>, u16, tokio::sync::OwnedMutexGuard<Record>);

/// Where a proxy keeps its fence: one key per proxy index.
pub fn fence_key(index: u16) -> Vec<u8> {
    format!("/netcraq/proxy/{index}/fence").into_bytes()
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl HotReads {
    pub fn new(slots: Arc<dyn Slots>, seat: ProxySeat) -> Result<HotReads, String> {
        if seat.proxies == 0 || seat.index >= seat.proxies {
            return Err(format!("proxy index {} is not below the number of proxies {}", seat.index, seat.proxies));
        }
        Ok(HotReads {
            slots,
            seat,
            placed: Mutex::default(),
            cache: Mutex::default(),
            fence: Mutex::default(),
            newest_header: Mutex::default(),
            writes: tokio::sync::RwLock::default(),
            in_doubt: AtomicBool::new(false),
        })
    }

    /// Places `key` on slots `first_slot ..= first_slot + proxies - 1`,
    /// which no other placed key may share, before [`HotReads::restart`]
    /// (which marks its slot clean); once the proxy serves, placement
    /// changes go through [`HotReads::set_placement`].
    pub fn place(&self, key: &[u8], first_slot: u16) -> Result<(), String> {
        let last = first_slot.checked_add(self.seat.proxies - 1).ok_or("the slots run past 65535")?;
        let mut placed = locked(&self.placed);
        for (other, p) in placed.iter() {
            if other.as_slice() != key && first_slot <= p.first_slot + (self.seat.proxies - 1) && p.first_slot <= last {
                return Err(format!("slots {first_slot}..={last} overlap those of {}", String::from_utf8_lossy(other)));
            }
        }
        let own = Arc::new(tokio::sync::Mutex::new(Record::Unknown));
        placed.insert(key.to_vec(), Placed { first_slot, tag: coherence::key_tag(key), own });
        Ok(())
    }

    /// Brings the placed keys to `wanted` (key: first slot) while no write
    /// of this proxy is in flight (docs/kubernetes.md, "Placement at
    /// runtime"). A demoted key's slot is marked unknown before the key is
    /// forgotten (its writes then go unmarked, and no proxy serves it). For
    /// promoted keys the fence moves first, so that no write sent before
    /// (unmarked) can commit after their observation; then they are
    /// observed and marked clean as at a restart. A demotion NetCRAQ does
    /// not take, or a fence etcd does not take, leaves that part for the
    /// next call.
    pub async fn set_placement(
        &self,
        upstream: &Upstream,
        wanted: &BTreeMap<Vec<u8>, u16>,
    ) -> Result<PlacementChange, String> {
        let mut change = PlacementChange::default();
        let current: BTreeMap<Vec<u8>, u16> = self.placed_slots().into_iter().collect();
        if current != *wanted {
            self.change_placement(upstream, wanted, &mut change).await?;
        }
        // Also retries the observation of keys a failed call left unknown.
        self.try_restart(upstream).await?;
        Ok(change)
    }

    /// [`HotReads::set_placement`]'s demotions and promotions, with no write in flight.
    async fn change_placement(
        &self,
        upstream: &Upstream,
        wanted: &BTreeMap<Vec<u8>, u16>,
        change: &mut PlacementChange,
    ) -> Result<(), String> {
        let _no_writes = self.writes.write().await;
        for (key, first_slot) in self.placed_slots().into_iter().filter(|(k, s)| wanted.get(k) != Some(s)) {
            if let Err(error) = self.slots.write(first_slot + self.seat.index, Record::Unknown.to_bytes()).await {
                upstream.counters.hot_netcraq_failures.fetch_add(1, Relaxed);
                return Err(format!("NetCRAQ did not take the unknown mark of a demoted key: {error}"));
            }
            locked(&self.placed).remove(&key);
            locked(&self.cache).remove(&key);
            upstream.counters.demotions.fetch_add(1, Relaxed);
            change.demoted += 1;
        }
        let promoted: Vec<(&Vec<u8>, u16)> =
            wanted.iter().filter(|(key, _)| !self.is_placed(key)).map(|(k, s)| (k, *s)).collect();
        if !promoted.is_empty() {
            self.put_fence(upstream).await?;
            for (key, first_slot) in promoted {
                self.place(key, first_slot)?;
                upstream.counters.promotions.fetch_add(1, Relaxed);
                change.promoted += 1;
            }
        }
        Ok(())
    }

    /// Marks unknown this proxy's slot of every group of `slots` (slots
    /// `0..slots` in groups of `proxies`): records an earlier incarnation
    /// left for keys this one does not place, which others would trust.
    pub async fn forget_slots(&self, slots: u16) -> Result<(), String> {
        let _no_writes = self.writes.write().await;
        let placed: Vec<u16> = locked(&self.placed).values().map(|p| p.first_slot).collect();
        let step = usize::from(self.seat.proxies);
        for first_slot in (0..slots).step_by(step).filter(|s| !placed.contains(s)) {
            if let Some(own) = first_slot.checked_add(self.seat.index).filter(|own| *own < slots) {
                self.slots.write(own, Record::Unknown.to_bytes()).await?;
            }
        }
        Ok(())
    }

    pub fn placed_keys(&self) -> Vec<Vec<u8>> {
        locked(&self.placed).keys().cloned().collect()
    }

    /// Each placed key with its first slot.
    pub fn placed_slots(&self) -> Vec<(Vec<u8>, u16)> {
        locked(&self.placed).iter().map(|(key, p)| (key.clone(), p.first_slot)).collect()
    }

    pub fn is_placed(&self, key: &[u8]) -> bool {
        locked(&self.placed).contains_key(key)
    }

    fn own_slot(&self, key: &[u8]) -> Option<(u16, Arc<tokio::sync::Mutex<Record>>)> {
        let placed = locked(&self.placed);
        let p = placed.get(key)?;
        Some((p.first_slot + self.seat.index, p.own.clone()))
    }

    /// Puts this incarnation's fence, then observes every placed key and
    /// marks its slot clean (`RestartStep`), retrying until etcd and
    /// NetCRAQ answer.
    pub async fn restart(&self, upstream: &Upstream) {
        loop {
            match self.try_restart(upstream).await {
                Ok(()) => return info!(index = self.seat.index, "hot reads: fence in place, placed keys clean"),
                Err(error) => {
                    warn!(%error, "hot reads: restart failed; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn try_restart(&self, upstream: &Upstream) -> Result<(), String> {
        if locked(&self.fence).is_none() {
            self.put_fence(upstream).await?;
        }
        self.settle_doubt(upstream).await?;
        for key in self.placed_keys() {
            let Some((slot, own)) = self.own_slot(&key) else { continue };
            let mut own = own.lock().await;
            if matches!(*own, Record::Clean { .. }) {
                continue;
            }
            if self.in_doubt.load(Acquire) {
                return Err("a write of a placed key got no answer from etcd meanwhile".into());
            }
            let range = PbRangeRequest { key: key.clone(), ..Default::default() };
            let response =
                upstream.unary("/etcdserverpb.KV/Range", Request::new(range)).await.map_err(|s| s.to_string())?;
            let response: PbRangeResponse = response.into_inner();
            self.observe(&key, &response);
            let revision = response.header.as_ref().map_or(0, |h| h.revision);
            let clean = coherence::clean_after_restart(
                coherence::key_tag(&key),
                response.kvs.first().map(|kv| kv.mod_revision),
                revision,
            );
            self.slots.write(slot, clean.to_bytes()).await?;
            *own = clean;
        }
        Ok(())
    }

    /// Puts this proxy's fence key: every write sent before with the
    /// previous fence now fails its compare, if it did not commit already.
    /// Called with no write in flight, so no outcome is in doubt after it.
    async fn put_fence(&self, upstream: &Upstream) -> Result<(), String> {
        let put =
            PbPutRequest { key: fence_key(self.seat.index), value: b"netcraq proxy".to_vec(), ..Default::default() };
        let response: tonic::Response<etcd_client::proto::PbPutResponse> =
            upstream.unary("/etcdserverpb.KV/Put", Request::new(put)).await.map_err(|s| s.to_string())?;
        let revision = response.into_inner().header.ok_or("etcd's Put answer has no header")?.revision;
        *locked(&self.fence) = Some(revision);
        self.in_doubt.store(false, Release);
        Ok(())
    }

    /// Moves the fence, with no write in flight, if a write's outcome is in doubt.
    async fn settle_doubt(&self, upstream: &Upstream) -> Result<(), String> {
        if self.in_doubt.load(Acquire) {
            let _no_writes = self.writes.write().await;
            if self.in_doubt.load(Acquire) {
                self.put_fence(upstream).await?;
            }
        }
        Ok(())
    }

    /// Answers a candidate Range of a placed key from the cache, or says why not.
    pub async fn read(&self, key: &[u8], counters: &Counters) -> Result<PbRangeResponse, Miss> {
        let Some((first_slot, tag)) = locked(&self.placed).get(key).map(|p| (p.first_slot, p.tag)) else {
            return Err(Miss::NotCached);
        };
        let header = *locked(&self.newest_header);
        let slots: Vec<u16> = (first_slot..first_slot + self.seat.proxies).collect();
        let records = match self.slots.read(&slots).await {
            Ok(values) => values.into_iter().map(Record::from_bytes).collect::<Vec<_>>(),
            Err(error) => {
                counters.hot_netcraq_failures.fetch_add(1, Relaxed);
                warn!(%error, "hot reads: NetCRAQ read failed; reading etcd");
                return Err(Miss::Unknown);
            }
        };
        let kv = locked(&self.cache).get(key).cloned();
        let cached = kv.as_ref().map(|kv| Cached { mod_revision: kv.mod_revision, lease: kv.lease });
        match (coherence::judge_read(tag, &records, cached), kv, header) {
            (Verdict::Hit, Some(kv), Some(mut header)) => {
                // A revision at which the value is current: the newest seen
                // before the slots were read, or the value's own if newer.
                header.revision = header.revision.max(kv.mod_revision);
                Ok(PbRangeResponse { header: Some(header), kvs: vec![kv], more: false, count: 1 })
            }
            (Verdict::Hit, ..) => Err(Miss::NotCached),
            (Verdict::Miss(miss), ..) => Err(miss),
        }
    }

    /// Keeps what a Range of one key returned: its header, and the value
    /// if it may be cached and is newer than the one held.
    pub fn observe(&self, key: &[u8], response: &PbRangeResponse) {
        self.observe_header(response.header.as_ref());
        if !self.is_placed(key) {
            return;
        }
        if let [kv] = response.kvs.as_slice() {
            if kv.key == key && coherence::cacheable(kv.lease) {
                let mut cache = locked(&self.cache);
                let newer = cache.get(key).is_none_or(|held| held.mod_revision < kv.mod_revision);
                if newer {
                    cache.insert(key.to_vec(), kv.clone());
                }
            }
        }
    }

    pub fn observe_header(&self, header: Option<&PbResponseHeader>) {
        let Some(header) = header else { return };
        let mut newest = locked(&self.newest_header);
        if newest.is_none_or(|held| held.revision <= header.revision) {
            *newest = Some(*header);
        }
    }

    /// Waits until a write of `op` may be sent: no earlier write's outcome
    /// in doubt, and this proxy's locks of the placed keys `op` may change
    /// held. Returns the shared hold of `writes`, the fence, and each of
    /// those keys with its slot and lock.
    async fn lock_for_write(
        &self,
        upstream: &Upstream,
        op: &PbTxnOpRequest,
    ) -> Result<(tokio::sync::RwLockReadGuard<'_, ()>, i64, Vec<HeldKey>), Status> {
        loop {
            self.settle_doubt(upstream).await.map_err(|error| {
                Status::unavailable(format!(
                    "netcraq proxy: an earlier write got no answer from etcd and the fence did not move ({error}); write not applied"
                ))
            })?;
            let in_flight = self.writes.read().await;
            let fence = (*locked(&self.fence)).ok_or_else(|| {
                Status::unavailable("netcraq proxy: hot reads are starting (fence not yet in etcd); write not applied")
            })?;
            let mut held = Vec::new();
            for key in self.touched(op) {
                let Some((slot, own)) = self.own_slot(&key) else { continue };
                held.push((key, slot, own.lock_owned().await));
            }
            // A write that failed while this one waited for a lock: settle that first.
            if !self.in_doubt.load(Acquire) {
                return Ok((in_flight, fence, held));
            }
        }
    }

    /// The placed keys a write request may change, in slot-lock order.
    fn touched(&self, op: &PbTxnOpRequest) -> Vec<Vec<u8>> {
        let placed = locked(&self.placed);
        placed.keys().filter(|key| may_change(op, key)).cloned().collect()
    }

    /// Sends `op` (a Put, DeleteRange or Txn) to etcd inside a Txn that
    /// compares the fence, so that a later fence stops it if it is still in
    /// flight; one that may change placed keys goes through the write steps
    /// (`WriteStep`): lock, mark dirty, commit, mark clean. Returns etcd's
    /// answer to `op` with the outer Txn's header.
    pub async fn write(
        &self,
        upstream: &Upstream,
        request: Request<PbTxnOpRequest>,
    ) -> Result<tonic::Response<PbTxnOpResponse>, Status> {
        let (_in_flight, fence, mut held) = self.lock_for_write(upstream, request.get_ref()).await?;
        if !held.is_empty() {
            upstream.counters.placed_writes.fetch_add(1, Relaxed);
        }
        let befores: Vec<Record> = held.iter().map(|(_, _, own)| **own).collect();
        for (key, slot, own) in &mut held {
            let dirty = Record::Dirty { tag: coherence::key_tag(key), fence };
            // Until NetCRAQ answers, the slot may hold either record.
            **own = Record::Unknown;
            self.slots.write(*slot, dirty.to_bytes()).await.map_err(|error| {
                upstream.counters.hot_netcraq_failures.fetch_add(1, Relaxed);
                Status::unavailable(format!(
                    "netcraq proxy: NetCRAQ did not take the dirty mark ({error}); write not applied"
                ))
            })?;
            **own = dirty;
        }
        let (metadata, extensions, op) = request.into_parts();
        let fenced = PbTxnRequest {
            compare: vec![PbCompare {
                target: PbCompareTarget::Mod as i32,
                key: fence_key(self.seat.index),
                target_union: Some(PbTargetUnion::ModRevision(fence)),
                ..Default::default()
            }],
            success: vec![PbTxnRequestOp { request: Some(op.clone()) }],
            failure: Vec::new(),
        };
        let sent = upstream.unary("/etcdserverpb.KV/Txn", Request::from_parts(metadata, extensions, fenced)).await;
        let response: tonic::Response<PbTxnResponse> = sent.inspect_err(|_| {
            if !held.is_empty() {
                // The Txn may still commit: the fence moves before a clean mark.
                self.in_doubt.store(true, Release);
            }
        })?;
        let (metadata, outer, extensions) = response.into_parts();
        if !outer.succeeded {
            upstream.counters.fenced_writes.fetch_add(1, Relaxed);
            return Err(Status::unavailable(
                "netcraq proxy: another process holds this proxy's index (its fence moved); write not applied",
            ));
        }
        self.observe_header(outer.header.as_ref());
        let header = outer.header.unwrap_or_default();
        let mut answer = outer
            .responses
            .into_iter()
            .next()
            .and_then(|r| r.response)
            .ok_or_else(|| Status::internal("netcraq proxy: etcd's Txn answer holds no response to the request"))?;
        for ((key, slot, mut own), before) in held.into_iter().zip(befores) {
            let changed = may_have_changed(&op, &answer, &key);
            let clean = coherence::clean_after_write(coherence::key_tag(&key), header.revision, changed, before);
            match self.slots.write(slot, clean.to_bytes()).await {
                Ok(()) => *own = clean,
                Err(error) => {
                    upstream.counters.hot_netcraq_failures.fetch_add(1, Relaxed);
                    warn!(%error, "hot reads: NetCRAQ did not take the clean mark; the key stays dirty (read from etcd) until its next write");
                }
            }
        }
        set_header(&mut answer, header);
        Ok(tonic::Response::from_parts(metadata, answer, extensions))
    }
}

/// Whether `op` may change `key`, in either branch of a Txn.
fn may_change(op: &PbTxnOpRequest, key: &[u8]) -> bool {
    match op {
        PbTxnOpRequest::RequestRange(_) => false,
        PbTxnOpRequest::RequestPut(put) => put.key == key,
        PbTxnOpRequest::RequestDeleteRange(delete) => covers(&delete.key, &delete.range_end, key),
        PbTxnOpRequest::RequestTxn(txn) => {
            txn.success.iter().chain(&txn.failure).filter_map(|op| op.request.as_ref()).any(|op| may_change(op, key))
        }
    }
}

/// Whether `op`, as etcd answered it, may have changed `key`: for a Txn,
/// only the branch that ran counts (a nested Txn's either branch).
fn may_have_changed(op: &PbTxnOpRequest, answer: &PbTxnOpResponse, key: &[u8]) -> bool {
    match (op, answer) {
        (PbTxnOpRequest::RequestTxn(txn), PbTxnOpResponse::ResponseTxn(response)) => {
            let branch = if response.succeeded { &txn.success } else { &txn.failure };
            branch.iter().filter_map(|op| op.request.as_ref()).any(|op| may_change(op, key))
        }
        _ => may_change(op, key),
    }
}

/// etcd's range semantics: no end, one key; end `\0`, every key from
/// `start`; otherwise `[start, end)`.
fn covers(start: &[u8], end: &[u8], key: &[u8]) -> bool {
    match end {
        [] => start == key,
        [0] => key >= start,
        _ => start <= key && key < end,
    }
}

fn set_header(answer: &mut PbTxnOpResponse, header: PbResponseHeader) {
    let slot = match answer {
        PbTxnOpResponse::ResponseRange(r) => &mut r.header,
        PbTxnOpResponse::ResponsePut(r) => &mut r.header,
        PbTxnOpResponse::ResponseDeleteRange(r) => &mut r.header,
        PbTxnOpResponse::ResponseTxn(r) => &mut r.header,
    };
    *slot = Some(header);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_as_etcd_says() {
        assert!(covers(b"/a", b"", b"/a"));
        assert!(!covers(b"/a", b"", b"/ab"));
        assert!(covers(b"/a", b"\0", b"/z"));
        assert!(covers(b"/a/", b"/a0", b"/a/x"));
        assert!(!covers(b"/a/", b"/a0", b"/a0"));
    }

    #[test]
    fn a_txn_changes_only_what_its_branches_write() {
        let put = |key: &str| PbTxnRequestOp {
            request: Some(PbTxnOpRequest::RequestPut(PbPutRequest { key: key.into(), ..Default::default() })),
        };
        let txn = PbTxnOpRequest::RequestTxn(PbTxnRequest {
            compare: vec![],
            success: vec![put("/a")],
            failure: vec![put("/b")],
        });
        assert!(may_change(&txn, b"/a") && may_change(&txn, b"/b") && !may_change(&txn, b"/c"));
        let failed = PbTxnOpResponse::ResponseTxn(PbTxnResponse { succeeded: false, ..Default::default() });
        assert!(!may_have_changed(&txn, &failed, b"/a"));
        assert!(may_have_changed(&txn, &failed, b"/b"));
    }
}
