//! The measurement itself: one DPDK node on one `net_ring` port in this
//! process, fed batch by batch. Between two timed stretches the feeder
//! takes back the frames the node sent, rewrites them into the class's
//! requests, tops them up from the pool, puts them into the port's receive
//! ring and resets the keys; only the node's poll rounds are timed.

use super::classes::{install_tables, OpClass, PORT};
use netcraq_core::{Node, DEFAULT_KEY_CAPACITY};
use netcraq_dpdk::{Eal, EalExtras, Mbuf, MbufRing, Mempool, Port, DEFAULT_DATA_ROOM};
use netcraq_node::dpdk_node::{DpdkNode, DpdkPortSpec, DpdkSettings};
use netcraq_wire::FrameBytes;
use std::time::Instant;

/// Mbufs the pool keeps per lcore.
const POOL_CACHE: u32 = 256;

/// What was measured of one class: the polling time per frame of each timed batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub batch_ns_per_frame: Vec<f64>,
}

impl Timing {
    /// The median batch: a batch takes tens of microseconds, so one that
    /// the scheduler preempted or an interrupt delayed is an outlier that
    /// the median leaves out, on a shared machine too.
    pub fn ns_per_frame(&self) -> f64 {
        super::median(&self.batch_ns_per_frame)
    }
}

/// The node, its port's two rings and the feeder's spare mbufs.
pub struct Harness {
    node: DpdkNode,
    pool: Mempool,
    /// What the port receives (the feeder fills it) and what it sends.
    rx: MbufRing,
    tx: MbufRing,
    spare: Vec<Mbuf>,
    keys: u32,
    burst: usize,
    /// Frames put through `poll_once`, warm-up included (for per-frame instruction counts).
    pub frames_polled: u64,
}

impl Harness {
    /// Starts the EAL with `eal_args` and a node on one ring port: a
    /// batch is `keys` frames, polled `burst` at a time.
    pub fn start(eal_args: &str, keys: u32, burst: usize) -> Result<Harness, String> {
        let args = netcraq_dpdk::eal_arguments(eal_args, &[], EalExtras { float_main_lcore: true, quiet: true });
        let eal = Eal::init(&args).map_err(|e| e.to_string())?;
        let batch = keys as usize;
        // The receive ring holds a batch, the transmit ring every output of one.
        let rx = MbufRing::new(&eal, "ceiling_rx", ring_size(batch)).map_err(|e| e.to_string())?;
        let tx = MbufRing::new(&eal, "ceiling_tx", ring_size(2 * batch)).map_err(|e| e.to_string())?;
        let mbufs = (4 * batch as u32 + 2 * POOL_CACHE).next_power_of_two() - 1;
        let pool =
            Mempool::new(&eal, "ceiling_pool", mbufs, POOL_CACHE, DEFAULT_DATA_ROOM).map_err(|e| e.to_string())?;
        let port = Port::from_rings(&eal, "ceiling", &rx, &tx).map_err(|e| e.to_string())?;
        let mut core = Node::new(DEFAULT_KEY_CAPACITY);
        install_tables(&mut core)?;
        let spec = DpdkPortSpec { number: PORT, port, faults: Default::default() };
        let settings = DpdkSettings { burst, ..DpdkSettings::default() };
        let node = DpdkNode::start(core, pool, vec![spec], settings)?;
        Ok(Harness { node, pool, rx, tx, spare: Vec::with_capacity(2 * batch), keys, burst, frames_polled: 0 })
    }

    /// Measures `batches` batches of `class` (after `warmup_batches` untimed ones).
    pub fn measure(&mut self, class: OpClass, warmup_batches: u32, batches: u32) -> Result<Timing, String> {
        class.install(self.node.node_mut(), self.keys)?;
        let requests: Vec<FrameBytes> = (0..self.keys).map(|key| class.request(key as u16)).collect();
        let mut timing = Timing { batch_ns_per_frame: Vec::with_capacity(batches as usize) };
        for batch in 0..warmup_batches + batches {
            self.feed(class, &requests)?;
            let poll_ns = self.poll_batch(class)?;
            if batch >= warmup_batches {
                timing.batch_ns_per_frame.push(poll_ns as f64 / f64::from(self.keys));
            }
        }
        Ok(timing)
    }

    /// Refills the receive ring with one batch of `requests` and resets the keys.
    fn feed(&mut self, class: OpClass, requests: &[FrameBytes]) -> Result<(), String> {
        while let Some(mbuf) = self.tx.dequeue() {
            self.spare.push(mbuf);
        }
        class.reset_keys(self.node.node_mut(), self.keys);
        for request in requests {
            let mbuf = match self.spare.pop() {
                Some(mut mbuf) => {
                    mbuf.set_len(request.len()).map_err(|e| e.to_string())?;
                    mbuf.data_mut().copy_from_slice(request);
                    Some(mbuf)
                }
                None => Mbuf::from_bytes(&self.pool, request),
            };
            let mbuf = mbuf.ok_or("the mbuf pool ran dry")?;
            self.rx.enqueue(mbuf).map_err(|_| "the receive ring is full".to_string())?;
        }
        // The tail's ACKs came from the pool: back they go.
        self.spare.clear();
        Ok(())
    }

    /// Polls one batch, timed, and checks that the node did what the class
    /// says with every frame of it.
    fn poll_batch(&mut self, class: OpClass) -> Result<u64, String> {
        let outcome_before = self.node.node().outcome_count(class.outcome());
        let rounds = self.keys as usize / self.burst;
        let mut received = 0;
        let started = Instant::now();
        for _ in 0..rounds {
            received += self.node.poll_once();
        }
        let poll_ns = started.elapsed().as_nanos() as u64;
        self.frames_polled += received as u64;
        let hits = self.node.node().outcome_count(class.outcome()) - outcome_before;
        let sent = self.tx.len();
        let expected = self.keys as usize;
        if received != expected || hits != expected as u64 || sent != expected * class.frames_out() {
            return Err(format!(
                "{}: of {expected} frames the node received {received}, counted {hits} as {} and sent {sent} \
                 frames (expected {}); I/O counters {:?}",
                class.name(),
                class.outcome().name(),
                expected * class.frames_out(),
                self.node.io_counters()
            ));
        }
        Ok(poll_ns)
    }
}

/// The smallest ring (a power of two, holding one less) for `mbufs`.
fn ring_size(mbufs: usize) -> u32 {
    (mbufs as u32 + 1).next_power_of_two()
}
