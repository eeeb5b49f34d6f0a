//! The closed-loop DPDK load generator (`netcraq bench loadgen`, started by
//! `netcraq bench node`): one process, one EAL, one generator per lcore
//! (pinned by the EAL's `--lcores`), each polling a port of its own (its own
//! link to the device under test) with its own mempool and its own client
//! address (generator g's MAC and IP end in the first one's plus g), so
//! that a node routes each generator's replies back out of its link.
//!
//! Each queue of a port keeps at most `window` requests outstanding; a
//! reply (or an echo) frees its slot and the slot's next request goes out in
//! the next burst, in the reply's own mbuf, so steady state allocates
//! nothing. Key `k` goes on queue `k % queues`. Times are taken once per
//! burst: a request's latency runs from the transmit burst it left in to the
//! receive burst its reply arrived in. Once every generator has had a first
//! reply, all of them warm up and then measure the same interval on one
//! clock: replies are counted and their latency recorded; then each stops
//! sending and drains what is outstanding. The process prints one line,
//! `loadgen-result {JSON}`, on stdout: the generators' counters summed and
//! their histograms merged, and each generator's own; then it stops the
//! ports (with `--linger`, once its stdin closes).

use crate::frames::Responder;
use crate::latency::LatencyRecorder;
use clap::Args;
use netcraq_client::mix::RequestMix;
use netcraq_dpdk::EalExtras;
use netcraq_wire::{Endpoint, Ipv4Addr, MacAddr};
use serde::{Deserialize, Serialize};

/// The prefix of the result line on stdout.
pub const RESULT_PREFIX: &str = "loadgen-result ";
/// The largest burst, as on the node.
pub const MAX_BURST: usize = 64;
/// The longest `--linger` keeps the links up after the result.
const LINGER_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);
/// The most generators (lcores, ports) one load generator runs.
pub const MAX_GENERATORS: usize = 16;

#[derive(Debug, Clone, Args)]
pub struct LoadgenArgs {
    /// A DPDK device to load (e.g. net_memif0,role=client,socket=/run/x.sock);
    /// once per generator, each polled by the generator on the EAL's lcore of the same rank
    #[arg(long = "device", value_name = "DEVARGS", required = true)]
    pub devices: Vec<String>,
    /// EAL arguments, one string, with one lcore per device (pin with --lcores 0@CPU,1@CPU...);
    /// --no-pci and --in-memory are added unless given
    #[arg(long, value_name = "EAL_ARGS", default_value = "", allow_hyphen_values = true)]
    pub eal: String,
    /// What answers: `node` (replies) or `echo` (io forwarding returns the request)
    #[arg(long, value_name = "node|echo", default_value = "node", value_parser = Responder::parse)]
    pub responder: Responder,
    /// Queue pairs on the port; key k travels on queue k % queues
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub queues: u16,
    #[command(flatten)]
    pub load: LoadSettings,
    /// Give up on a request after this long (its slot is reused; a late reply is stale)
    #[arg(long, value_name = "MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub timeout_ms: u64,
    /// After printing the result, keep the links up and idle until stdin
    /// closes (at most 30 s), so that the device under test can stop first
    /// and still count what went over them (a memif server forgets its port
    /// counters when its client goes)
    #[arg(long)]
    pub linger: bool,
    /// Fail when no reply comes within this long of starting
    #[arg(long, value_name = "S", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub connect_timeout_s: u64,
    /// The first generator's MAC; generator g's last byte is this one's plus g
    #[arg(long, value_name = "MAC", default_value = "02:00:00:00:01:01")]
    pub client_mac: MacAddr,
    /// The first generator's IP; generator g's last byte is this one's plus g
    #[arg(long, value_name = "IP", default_value = "10.0.1.1")]
    pub client_ip: Ipv4Addr,
    #[arg(long, value_name = "MAC", default_value = "02:00:00:00:00:01")]
    pub node_mac: MacAddr,
    #[arg(long, value_name = "IP", default_value = "10.0.0.1")]
    pub node_ip: Ipv4Addr,
}

/// The load: the same in every configuration of `netcraq bench node`.
#[derive(Debug, Clone, Copy, Args, PartialEq)]
pub struct LoadSettings {
    /// Share of READ requests; the rest are WRITEs
    #[arg(long, value_name = "F", default_value_t = 0.9)]
    pub read_fraction: f64,
    /// Keys drawn uniformly from 0..KEYS
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub keys: u32,
    /// Requests outstanding per queue (the closed loop's window)
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub window: usize,
    /// Frames per transmit and receive burst (1 to 64)
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub burst: usize,
    /// Seconds of load before measuring
    #[arg(long, value_name = "S", default_value_t = 2.0)]
    pub warmup_s: f64,
    /// Seconds measured
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub duration_s: f64,
    /// Seed of the request draw
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
}

impl LoadSettings {
    pub fn mix(&self) -> RequestMix {
        RequestMix::uniform(self.read_fraction, self.keys)
    }

    pub fn validate(&self) -> Result<(), String> {
        self.mix().validate().map_err(|error| error.to_string())?;
        crate::window::Window::new(self.window)?;
        if !(1..=MAX_BURST).contains(&self.burst) {
            return Err(format!("burst {}: give 1 to {MAX_BURST}", self.burst));
        }
        if !(0.0..=600.0).contains(&self.warmup_s) {
            return Err(format!("warm-up {} s: give 0 to 600", self.warmup_s));
        }
        if !(0.1..=3600.0).contains(&self.duration_s) {
            return Err(format!("duration {} s: give 0.1 to 3600", self.duration_s));
        }
        Ok(())
    }
}

/// What one run of the load generator measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadgenReport {
    pub responder: String,
    pub driver: String,
    /// Generators (lcores, each with a port of its own) summed here.
    pub generators: usize,
    /// Queue pairs per generator's port.
    pub queues: u16,
    pub window_per_queue: usize,
    pub burst: usize,
    pub measured_s: f64,
    /// From the first reply of any generator to the end of the last one's
    /// drain: how long the device under test had traffic.
    pub loaded_s: f64,
    /// Requests answered within the measured interval.
    pub answered: u64,
    /// Answered requests per second, in millions (one frame each way).
    pub mpps: f64,
    pub latency_us_p50: f64,
    pub latency_us_p99: f64,
    pub latency_us_p999: f64,
    pub latency_us_max: f64,
    /// Over the whole run, warm-up and drain included.
    pub sent_total: u64,
    pub answered_total: u64,
    /// Answers that were `ERROR` replies (measured interval).
    pub error_replies: u64,
    /// Requests given up after the timeout, in the measured interval.
    pub timed_out: u64,
    /// The same over the whole run: a memif link loses what was sent while
    /// it came up, which shows here and not in the measured interval.
    pub timed_out_total: u64,
    /// Frames for a slot that had moved on.
    pub stale: u64,
    /// Frames that answer no request.
    pub unmatched: u64,
    /// Share of receive polls that found nothing during the measured
    /// interval: near 0 means the load generator itself was the bottleneck.
    pub empty_poll_fraction: f64,
    /// Share of the measured interval the load generator spent in poll
    /// rounds that sent or received something: near 1 means it, not the
    /// device under test, set the pace.
    pub busy_fraction: f64,
    /// Frames per receive poll that found any, over the burst size (measured
    /// interval): near 1, replies waited in the load generator's receive
    /// queue, so it set the pace; low, it waited for the device under test.
    pub rx_burst_fill: f64,
    /// Stopped early by a signal.
    pub interrupted: bool,
    /// Each generator's own figures, in lcore order (empty in those figures themselves).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_generator: Vec<LoadgenReport>,
}

impl LoadgenReport {
    /// The line the load generator prints.
    pub fn to_line(&self) -> String {
        format!("{RESULT_PREFIX}{}", serde_json::to_string(self).unwrap_or_default())
    }

    /// Finds the result line in the load generator's stdout.
    pub fn from_output(stdout: &str) -> Result<LoadgenReport, String> {
        let line = stdout
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix(RESULT_PREFIX))
            .ok_or_else(|| "the load generator printed no result".to_string())?;
        serde_json::from_str(line).map_err(|e| format!("the load generator's result is unreadable: {e}"))
    }
}

/// The load generator's EAL arguments ([`netcraq_dpdk::eal_arguments`]):
/// no PCI devices, private memory, quiet logs and no telemetry unless the
/// user's arguments say otherwise.
pub fn loadgen_eal_arguments(user: &str) -> Vec<String> {
    netcraq_dpdk::eal_arguments(user, &[], EalExtras { float_main_lcore: false, quiet: true })
}

impl LoadgenArgs {
    pub fn validate(&self) -> Result<(), String> {
        self.load.validate()?;
        if !(1..=MAX_GENERATORS).contains(&self.devices.len()) {
            return Err(format!("{} devices: give 1 to {MAX_GENERATORS} (one per generator)", self.devices.len()));
        }
        self.client(self.devices.len() - 1).map(|_| ())
    }

    /// Generator `generator`'s address: the first one's with `generator` added to the last byte of its MAC and IP.
    pub fn client(&self, generator: usize) -> Result<Endpoint, String> {
        generator_endpoint(Endpoint { mac: self.client_mac, ip: self.client_ip }, generator)
    }
}

/// `first` with `generator` added to the last byte of its MAC and of its IP;
/// an error when that would pass 255.
pub fn generator_endpoint(first: Endpoint, generator: usize) -> Result<Endpoint, String> {
    let last = |byte: u8| u8::try_from(usize::from(byte) + generator).ok();
    let (mut mac, mut ip) = (first.mac.0, first.ip.octets());
    match (last(mac[5]), last(ip[3])) {
        (Some(mac_last), Some(ip_last)) => {
            (mac[5], ip[3]) = (mac_last, ip_last);
            Ok(Endpoint { mac: MacAddr(mac), ip: Ipv4Addr::from(ip) })
        }
        _ => Err(format!(
            "generator {generator}: the client address {} / {} leaves no room for it in the last byte",
            first.mac, first.ip
        )),
    }
}

/// Runs the load generator and prints its result line.
pub fn run(args: &LoadgenArgs) -> Result<(), String> {
    args.validate()?;
    with_dpdk::run(args, |report| {
        println!("{}", report.to_line());
        let _ = std::io::Write::flush(&mut std::io::stdout());
        if args.linger {
            wait_for_stdin_to_close(LINGER_LIMIT);
        }
    })
}

/// Returns when stdin reaches its end or `limit` passes.
fn wait_for_stdin_to_close(limit: std::time::Duration) {
    let (closed, wait) = std::sync::mpsc::channel();
    // Left blocked in its read if the limit passes first; the process is about to end.
    std::thread::spawn(move || {
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
        let _ = closed.send(());
    });
    let _ = wait.recv_timeout(limit);
}

/// Latencies and counters of one queue.
#[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
#[derive(Debug, Default)]
struct QueueCounters {
    latency: LatencyRecorder,
    answered: u64,
    error_replies: u64,
    sent_total: u64,
    answered_total: u64,
    timed_out: u64,
    timed_out_total: u64,
    stale: u64,
    unmatched: u64,
    polls: u64,
    empty_polls: u64,
    /// Frames received while measuring.
    received: u64,
}

/// One generator's queues' counters, and its time in rounds that moved frames.
#[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
#[derive(Debug, Default)]
struct GeneratorTally {
    counters: Vec<QueueCounters>,
    busy_s: f64,
}

/// The generators' figures summed (latencies merged, the busy share averaged
/// over the generators), with each generator's own.
#[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
fn summarize_generators(
    args: &LoadgenArgs,
    drivers: &[String],
    generators: &[GeneratorTally],
    measured_s: f64,
) -> LoadgenReport {
    let per_generator: Vec<LoadgenReport> = generators
        .iter()
        .zip(drivers)
        .map(|(generator, driver)| {
            let counters: Vec<&QueueCounters> = generator.counters.iter().collect();
            summarize(args, driver.clone(), &counters, measured_s, generator.busy_s)
        })
        .collect();
    let all: Vec<&QueueCounters> = generators.iter().flat_map(|g| &g.counters).collect();
    let mean_busy_s = generators.iter().map(|g| g.busy_s).sum::<f64>() / generators.len().max(1) as f64;
    let mut drivers = drivers.to_vec();
    drivers.dedup();
    let mut report = summarize(args, drivers.join(","), &all, measured_s, mean_busy_s);
    report.generators = generators.len();
    report.per_generator = per_generator;
    report
}

#[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
fn summarize(
    args: &LoadgenArgs,
    driver: String,
    counters: &[&QueueCounters],
    measured_s: f64,
    busy_s: f64,
) -> LoadgenReport {
    let mut latency = LatencyRecorder::default();
    counters.iter().for_each(|c| latency.absorb(&c.latency));
    let sum = |f: fn(&QueueCounters) -> u64| counters.iter().map(|c| f(c)).sum::<u64>();
    let answered = sum(|c| c.answered);
    let polls = sum(|c| c.polls);
    LoadgenReport {
        responder: args.responder.name().to_string(),
        driver,
        generators: 1,
        queues: args.queues,
        window_per_queue: args.load.window,
        burst: args.load.burst,
        measured_s,
        // Known to the run as a whole, not to a generator's counters.
        loaded_s: 0.0,
        answered,
        mpps: if measured_s > 0.0 { answered as f64 / measured_s / 1e6 } else { 0.0 },
        latency_us_p50: latency.quantile_us(0.5),
        latency_us_p99: latency.quantile_us(0.99),
        latency_us_p999: latency.quantile_us(0.999),
        latency_us_max: latency.max_us(),
        sent_total: sum(|c| c.sent_total),
        answered_total: sum(|c| c.answered_total),
        error_replies: sum(|c| c.error_replies),
        timed_out: sum(|c| c.timed_out),
        timed_out_total: sum(|c| c.timed_out_total),
        stale: sum(|c| c.stale),
        unmatched: sum(|c| c.unmatched),
        empty_poll_fraction: if polls > 0 { sum(|c| c.empty_polls) as f64 / polls as f64 } else { 0.0 },
        busy_fraction: if measured_s > 0.0 { (busy_s / measured_s).min(1.0) } else { 0.0 },
        rx_burst_fill: match polls - sum(|c| c.empty_polls) {
            0 => 0.0,
            busy_polls => sum(|c| c.received) as f64 / busy_polls as f64 / args.load.burst as f64,
        },
        interrupted: false,
        per_generator: Vec::new(),
    }
}

#[cfg(feature = "dpdk")]
mod with_dpdk {
    use super::{
        loadgen_eal_arguments, summarize_generators, GeneratorTally, LoadgenArgs, LoadgenReport, QueueCounters,
        MAX_BURST,
    };
    use crate::frames::{read_reply, Request, RequestTemplates};
    use crate::mix::RequestDraw;
    use crate::window::{Completion, Window};
    use netcraq_dpdk::{Eal, Mbuf, Mempool, Port, PortQueue, PortSettings, DEFAULT_DATA_ROOM};
    use netcraq_wire::{Endpoint, NETCRAQ_FRAME_LEN};
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// How often timeouts and signals are looked at.
    const CHECK_EVERY_NS: u64 = 1_000_000;
    /// How long the drain waits for outstanding replies at the end.
    const DRAIN_LIMIT: Duration = Duration::from_millis(200);
    /// Not yet known.
    const UNSET_NS: u64 = u64::MAX;

    /// Where a generator's run is.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Phase {
        /// No reply yet (a memif peer may not be connected).
        Connecting,
        /// Replied to; measuring starts once every generator has been.
        WarmingUp,
        Measuring,
        /// Sending stopped; waiting for what is outstanding.
        Draining,
    }

    /// One queue's share of the load.
    struct QueueLoad {
        queue: PortQueue,
        window: Window,
        draw: RequestDraw,
        counters: QueueCounters,
        tx: [Option<Mbuf>; MAX_BURST],
        tx_slots: [u16; MAX_BURST],
        rx: [Option<Mbuf>; MAX_BURST],
        /// Received mbufs kept to carry the next requests (bounded).
        spare: Vec<Mbuf>,
        sequence: u64,
    }

    /// One lcore's generator: its port's queues, its mempool, its address.
    struct Generator {
        index: usize,
        device: String,
        // Dropped after the queues (field order): their mbufs go back to it.
        loads: Vec<QueueLoad>,
        pool: Mempool,
        templates: RequestTemplates,
        busy_ns: u64,
    }

    /// What the generators share: one clock, and the one interval they measure.
    struct Shared {
        clock: Instant,
        generators: usize,
        /// Generators that have had a first reply.
        connected: AtomicUsize,
        /// Set by the last generator to connect: its connection plus the warm-up.
        measure_start_ns: AtomicU64,
        /// Set by a signal: measuring ends there at the latest.
        stop_ns: AtomicU64,
        /// The first reply of any generator, and the end of the last one's run.
        first_reply_ns: AtomicU64,
        last_end_ns: AtomicU64,
        /// Set when a generator fails: the others stop too.
        failed: AtomicBool,
        failure: Mutex<Option<String>>,
    }

    impl Shared {
        fn now_ns(&self) -> u64 {
            self.clock.elapsed().as_nanos() as u64
        }

        /// A generator had its first reply at `now`; the last one starts the warm-up of all.
        fn connect(&self, now: u64, warmup_ns: u64) {
            self.first_reply_ns.fetch_min(now, Ordering::AcqRel);
            if self.connected.fetch_add(1, Ordering::AcqRel) + 1 == self.generators {
                self.measure_start_ns.store(now + warmup_ns, Ordering::Release);
            }
        }

        /// The measured interval: [`UNSET_NS`] as its start until every generator is connected.
        fn interval(&self, duration_ns: u64) -> (u64, u64) {
            let start = self.measure_start_ns.load(Ordering::Acquire);
            (start, start.saturating_add(duration_ns).min(self.stop_ns.load(Ordering::Acquire)))
        }

        fn fail(&self, error: String) {
            self.failed.store(true, Ordering::Release);
            let mut failure = self.failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            failure.get_or_insert(error);
        }
    }

    /// Runs the generators and hands their report to `publish` while the ports are still up.
    pub fn run(args: &LoadgenArgs, publish: impl FnOnce(&LoadgenReport)) -> Result<(), String> {
        let eal_args = loadgen_eal_arguments(&args.eal);
        let eal = Eal::init(&eal_args).map_err(|e| format!("loadgen: {e}"))?;
        netcraq_topology::catch_interrupts().map_err(|e| format!("loadgen: installing signal handlers: {e}"))?;
        let lcores = eal.lcores().len();
        if lcores != args.devices.len() {
            return Err(format!(
                "loadgen: {} device(s) but {lcores} lcore(s): give the EAL one lcore per device (--lcores)",
                args.devices.len()
            ));
        }
        let mut drivers = Vec::with_capacity(lcores);
        let mut generators = Vec::with_capacity(lcores);
        for (index, device) in args.devices.iter().enumerate() {
            let (generator, driver) = start_generator(args, &eal, index, device)?;
            drivers.push(driver);
            generators.push(Mutex::new(generator));
        }
        let shared = Shared {
            clock: Instant::now(),
            generators: lcores,
            connected: AtomicUsize::new(0),
            measure_start_ns: AtomicU64::new(UNSET_NS),
            stop_ns: AtomicU64::new(UNSET_NS),
            first_reply_ns: AtomicU64::new(UNSET_NS),
            last_end_ns: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
        };
        let launched = eal.run_on_lcores(|index| {
            // Each lcore locks its own generator once, for the whole run.
            let mut generator = generators[index].lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Err(error) = drive(args, &shared, &mut generator) {
                shared.fail(error);
            }
        });
        let tallies: Vec<GeneratorTally> = generators
            .iter_mut()
            .map(|generator| {
                let generator = generator.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
                let counters = generator.loads.iter_mut().map(|load| std::mem::take(&mut load.counters)).collect();
                GeneratorTally { counters, busy_s: generator.busy_ns as f64 / 1e9 }
            })
            .collect();
        launched.map_err(|e| format!("loadgen: {e}"))?;
        let duration_ns = (args.load.duration_s * 1e9) as u64;
        let (start, end) = shared.interval(duration_ns);
        if let Some(error) = shared.failure.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()) {
            return Err(error);
        }
        let measured_s = end.saturating_sub(start).min(duration_ns) as f64 / 1e9;
        let mut report = summarize_generators(args, &drivers, &tallies, measured_s);
        let loaded_ns = shared.last_end_ns.load(Ordering::Acquire).saturating_sub(shared.first_reply_ns.into_inner());
        report.loaded_s = loaded_ns as f64 / 1e9;
        report.interrupted = shared.stop_ns.load(Ordering::Acquire) != UNSET_NS;
        publish(&report);
        // The queues (and with each generator's last one its port) stop here,
        // before the process exits: the peer sees the link go down with no traffic.
        drop(generators);
        Ok(())
    }

    /// Starts generator `index`'s port on `device` with a mempool of its own; returns it and the port's driver.
    fn start_generator(
        args: &LoadgenArgs,
        eal: &Eal,
        index: usize,
        device: &str,
    ) -> Result<(Generator, String), String> {
        let queues = args.queues;
        let burst = args.load.burst as u32;
        // Every queue's window in flight, the rings full both ways, the spares and the caches.
        let mbufs =
            (u32::from(queues) * (args.load.window as u32 + 2 * 1024 + 2 * burst) + 2048).next_power_of_two() - 1;
        let pool = Mempool::new(eal, &format!("netcraq_loadgen{index}"), mbufs, 256, DEFAULT_DATA_ROOM)
            .map_err(|e| format!("loadgen: {e}"))?;
        let mut port = Port::from_devargs(eal, device).map_err(|e| format!("loadgen: {device}: {e}"))?;
        let driver = port.driver();
        port.start(&pool, &PortSettings { queues, ..PortSettings::default() })
            .map_err(|e| format!("loadgen: {device}: {e}"))?;
        let mut loads = Vec::with_capacity(usize::from(queues));
        for queue in port.into_queues().map_err(|e| format!("loadgen: {e}"))? {
            let queue_index = queue.queue();
            loads.push(QueueLoad {
                queue,
                window: Window::new(args.load.window)?,
                draw: RequestDraw::new(
                    args.load.mix(),
                    queue_index,
                    queues,
                    args.load.seed.wrapping_add(index as u64),
                )?,
                counters: QueueCounters::default(),
                tx: std::array::from_fn(|_| None),
                tx_slots: [0; MAX_BURST],
                rx: std::array::from_fn(|_| None),
                spare: Vec::with_capacity(2 * MAX_BURST),
                sequence: 0,
            });
        }
        let node = Endpoint { mac: args.node_mac, ip: args.node_ip };
        let templates = RequestTemplates::new(args.client(index)?, node);
        let generator = Generator { index, device: device.to_string(), loads, pool, templates, busy_ns: 0 };
        Ok((generator, driver))
    }

    /// Runs one generator's phases on the calling lcore.
    fn drive(args: &LoadgenArgs, shared: &Shared, generator: &mut Generator) -> Result<(), String> {
        let timeout_ns = args.timeout_ms * 1_000_000;
        let warmup_ns = (args.load.warmup_s * 1e9) as u64;
        let duration_ns = (args.load.duration_s * 1e9) as u64;
        let connect_limit_ns = args.connect_timeout_s * 1_000_000_000;
        let burst = args.load.burst;
        let Generator { loads, pool, templates, .. } = generator;
        let mut phase = Phase::Connecting;
        let mut drain_end_ns = UNSET_NS;
        let mut next_check_ns = CHECK_EVERY_NS;
        // The previous round: when it started, and whether it moved frames while measuring.
        let (mut round_start_ns, mut round_busy) = (0u64, false);
        let mut busy_ns = 0u64;
        loop {
            let now = shared.now_ns();
            if round_busy {
                busy_ns += now - round_start_ns;
            }
            round_start_ns = now;
            let (measure_start_ns, measure_end_ns) = shared.interval(duration_ns);
            match phase {
                Phase::WarmingUp if now >= measure_start_ns => phase = Phase::Measuring,
                Phase::Measuring if now >= measure_end_ns => {
                    (phase, drain_end_ns) = (Phase::Draining, now + DRAIN_LIMIT.as_nanos() as u64);
                }
                Phase::Draining if now >= drain_end_ns || loads.iter().all(|l| l.window.outstanding() == 0) => break,
                _ => {}
            }
            let measuring = phase == Phase::Measuring;
            let mut moved = 0;
            for load in loads.iter_mut() {
                if phase != Phase::Draining {
                    moved += load.send(pool, templates, burst, now);
                }
                let (received, answered) = load.receive(burst, measuring, args, &shared.clock);
                moved += received;
                if answered > 0 && phase == Phase::Connecting {
                    phase = Phase::WarmingUp;
                    shared.connect(shared.now_ns(), warmup_ns);
                }
            }
            round_busy = measuring && moved > 0;
            // After receiving, so a load generator that was descheduled for a
            // while takes what arrived meanwhile before it gives up on anything.
            if now >= next_check_ns {
                next_check_ns = now + CHECK_EVERY_NS;
                for load in loads.iter_mut() {
                    let expired = load.window.expire(now.saturating_sub(timeout_ns));
                    load.counters.timed_out_total += expired;
                    if phase == Phase::Measuring {
                        load.counters.timed_out += expired;
                    }
                }
                if shared.failed.load(Ordering::Acquire) {
                    break;
                }
                if phase != Phase::Draining && netcraq_topology::interrupted() {
                    shared.stop_ns.fetch_min(now, Ordering::AcqRel);
                    (phase, drain_end_ns) = (Phase::Draining, now + DRAIN_LIMIT.as_nanos() as u64);
                }
                if phase == Phase::Connecting && now > connect_limit_ns {
                    return Err(format!(
                        "loadgen: generator {}: no reply within {} s on {} (is the peer up?)",
                        generator.index, args.connect_timeout_s, generator.device
                    ));
                }
            }
        }
        generator.busy_ns = busy_ns;
        shared.last_end_ns.fetch_max(shared.now_ns(), Ordering::AcqRel);
        Ok(())
    }

    impl QueueLoad {
        /// Fills the free slots of the window, up to a burst, and transmits;
        /// returns the frames sent.
        fn send(&mut self, pool: &Mempool, templates: &RequestTemplates, burst: usize, now_ns: u64) -> usize {
            let mut ready = 0;
            while ready < burst {
                let Some(mut mbuf) = self.spare.pop().or_else(|| Mbuf::alloc(pool)) else { break };
                let (op, key) = self.draw.draw();
                let Some((slot, generation)) = self.window.issue(op, key, now_ns) else {
                    self.keep_spare(mbuf);
                    break;
                };
                self.sequence = self.sequence.wrapping_add(1);
                let request = Request { op, key, slot, generation, sequence: self.sequence };
                // A reply's mbuf has the length already: no need to set it.
                let sized = mbuf.len() == NETCRAQ_FRAME_LEN || mbuf.set_len(NETCRAQ_FRAME_LEN).is_ok();
                let written = sized && templates.write(mbuf.data_mut(), &request).is_ok();
                if !written {
                    // Cannot happen with the pool's 2 KiB buffers; give the slot back.
                    self.window.unsend(slot);
                    break;
                }
                self.tx[ready] = Some(mbuf);
                self.tx_slots[ready] = slot;
                ready += 1;
            }
            if ready == 0 {
                return 0;
            }
            let sent = self.queue.tx_burst(&mut self.tx[..ready]);
            self.counters.sent_total += sent as u64;
            // What the driver did not take moved to the front, in order.
            for index in sent..ready {
                self.window.unsend(self.tx_slots[index]);
                if let Some(mbuf) = self.tx[index - sent].take() {
                    self.keep_spare(mbuf);
                }
            }
            sent
        }

        /// Receives a burst and matches every frame; returns the frames
        /// received and the requests they answered.
        fn receive(&mut self, burst: usize, measuring: bool, args: &LoadgenArgs, clock: &Instant) -> (usize, usize) {
            let count = self.queue.rx_burst(&mut self.rx[..burst]);
            if measuring {
                self.counters.polls += 1;
                self.counters.empty_polls += u64::from(count == 0);
                self.counters.received += count as u64;
            }
            if count == 0 {
                return (0, 0);
            }
            let received_ns = clock.elapsed().as_nanos() as u64;
            let mut answered = 0;
            for index in 0..count {
                let Some(mbuf) = self.rx[index].take() else { continue };
                let completion = match read_reply(mbuf.data(), args.responder) {
                    Some(reply) => self.window.complete(&reply, args.responder),
                    None => Completion::Unmatched,
                };
                match completion {
                    Completion::Answered { sent_ns, error, .. } => {
                        answered += 1;
                        self.counters.answered_total += 1;
                        if measuring {
                            self.counters.answered += 1;
                            self.counters.error_replies += u64::from(error);
                            self.counters.latency.record_ns(received_ns.saturating_sub(sent_ns));
                        }
                    }
                    Completion::Stale => self.counters.stale += 1,
                    Completion::Unmatched => self.counters.unmatched += 1,
                }
                if mbuf.segments() == 1 {
                    self.keep_spare(mbuf);
                }
            }
            (count, answered)
        }

        /// Keeps an mbuf for the next request, or frees it when enough are kept.
        fn keep_spare(&mut self, mbuf: Mbuf) {
            if self.spare.len() < self.spare.capacity() {
                self.spare.push(mbuf);
            }
        }
    }
}

#[cfg(not(feature = "dpdk"))]
mod with_dpdk {
    use super::{LoadgenArgs, LoadgenReport};

    pub fn run(_: &LoadgenArgs, _: impl FnOnce(&LoadgenReport)) -> Result<(), String> {
        Err(crate::WITHOUT_DPDK.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_line_round_trips() {
        let report =
            LoadgenReport { mpps: 12.5, latency_us_p99: 7.25, driver: "net_memif".into(), ..Default::default() };
        let stdout = format!("EAL: noise\n{}\n", report.to_line());
        assert_eq!(LoadgenReport::from_output(&stdout), Ok(report));
        assert!(LoadgenReport::from_output("nothing here").is_err());
    }

    #[test]
    fn eal_arguments_get_private_memory_and_no_pci_unless_given() {
        let args = loadgen_eal_arguments("-l 0");
        assert_eq!(args, ["-l", "0", "--no-pci", "--in-memory", "--no-telemetry", "--log-level=warning"]);
        let given = loadgen_eal_arguments("-l 1 --no-huge -m 256 --no-shconf --log-level=debug -a 0000:01:00.0");
        assert_eq!(given.iter().filter(|a| a.starts_with("--in-memory") || *a == "--no-pci").count(), 0);
    }

    #[test]
    fn load_settings_are_checked() {
        let good = LoadSettings {
            read_fraction: 0.9,
            keys: 1024,
            window: 128,
            burst: 32,
            warmup_s: 1.0,
            duration_s: 5.0,
            seed: 1,
        };
        assert_eq!(good.validate(), Ok(()));
        assert!(LoadSettings { burst: 65, ..good }.validate().is_err());
        assert!(LoadSettings { window: 0, ..good }.validate().is_err());
        assert!(LoadSettings { duration_s: 0.0, ..good }.validate().is_err());
        assert!(LoadSettings { read_fraction: -0.1, ..good }.validate().is_err());
    }

    fn two_queue_args() -> LoadgenArgs {
        LoadgenArgs {
            devices: vec!["net_ring0".into()],
            eal: String::new(),
            responder: Responder::Node,
            queues: 2,
            load: LoadSettings {
                read_fraction: 0.9,
                keys: 8,
                window: 4,
                burst: 4,
                warmup_s: 0.0,
                duration_s: 1.0,
                seed: 1,
            },
            timeout_ms: 100,
            linger: false,
            connect_timeout_s: 1,
            client_mac: MacAddr([2, 0, 0, 0, 1, 1]),
            client_ip: Ipv4Addr::new(10, 0, 1, 1),
            node_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            node_ip: Ipv4Addr::new(10, 0, 0, 1),
        }
    }

    /// Two queues' counters: `answered` million and `scale` µs latency on the first, twice that on the second.
    fn two_queues(answered: u64, scale: u64) -> Vec<QueueCounters> {
        let mut queues = vec![QueueCounters::default(), QueueCounters::default()];
        for (queue, counters) in queues.iter_mut().enumerate() {
            counters.answered = answered * 1_000_000 * (queue as u64 + 1);
            counters.polls = 10;
            counters.empty_polls = 1;
            counters.received = 18;
            counters.latency.record_ns(scale * 1000 * (queue as u64 + 1));
        }
        queues
    }

    #[test]
    fn counters_sum_over_queues() {
        let args = two_queue_args();
        let queues = two_queues(1, 2);
        let report = summarize(&args, "net_memif".into(), &queues.iter().collect::<Vec<_>>(), 0.5, 0.25);
        assert!((report.busy_fraction - 0.5).abs() < 1e-9);
        assert!((report.rx_burst_fill - 0.5).abs() < 1e-9, "36 frames in 18 polls of bursts of 4");
        assert_eq!(report.answered, 3_000_000);
        assert!((report.mpps - 6.0).abs() < 1e-9);
        assert!((report.empty_poll_fraction - 0.1).abs() < 1e-9);
        assert!((report.latency_us_max - 4.0).abs() < 0.01);
    }

    #[test]
    fn generators_are_summed_and_their_histograms_merged() {
        let args = LoadgenArgs { devices: vec!["net_ring0".into(), "net_ring1".into()], ..two_queue_args() };
        let generators = [
            GeneratorTally { counters: two_queues(1, 2), busy_s: 0.5 },
            GeneratorTally { counters: two_queues(2, 10), busy_s: 0.25 },
        ];
        let drivers = ["net_memif".to_string(), "net_memif".to_string()];
        let report = summarize_generators(&args, &drivers, &generators, 0.5);
        assert_eq!((report.generators, report.per_generator.len()), (2, 2));
        assert_eq!(report.driver, "net_memif");
        assert!((report.per_generator[0].mpps - 6.0).abs() < 1e-9);
        assert!((report.per_generator[1].mpps - 12.0).abs() < 1e-9);
        assert!((report.mpps - 18.0).abs() < 1e-9, "the generators' Mpps add up");
        assert!((report.busy_fraction - 0.75).abs() < 1e-9, "busy 100 % and 50 %: 75 % on average");
        assert!((report.per_generator[1].busy_fraction - 0.5).abs() < 1e-9);
        assert!((report.latency_us_max - 20.0).abs() < 0.05, "{}", report.latency_us_max);
        assert!((report.latency_us_p50 - 4.0).abs() < 0.01, "2, 4, 10 and 20 µs merged: {}", report.latency_us_p50);
        assert!(report.per_generator[0].per_generator.is_empty());
    }

    #[test]
    fn each_generator_has_its_own_address() {
        let first = Endpoint { mac: MacAddr([2, 0, 0, 0, 1, 1]), ip: Ipv4Addr::new(10, 0, 1, 1) };
        let third = generator_endpoint(first, 2).unwrap();
        assert_eq!((third.mac, third.ip), (MacAddr([2, 0, 0, 0, 1, 3]), Ipv4Addr::new(10, 0, 1, 3)));
        assert_eq!(generator_endpoint(first, 0), Ok(first));
        let high = Endpoint { mac: MacAddr([2, 0, 0, 0, 1, 250]), ip: Ipv4Addr::new(10, 0, 1, 1) };
        assert!(generator_endpoint(high, 6).is_err());
        let args = LoadgenArgs { devices: vec!["net_ring0".into(); MAX_GENERATORS + 1], ..two_queue_args() };
        assert!(args.validate().unwrap_err().contains("devices"));
        assert!(LoadgenArgs { devices: Vec::new(), ..two_queue_args() }.validate().is_err());
    }
}
