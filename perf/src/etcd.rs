//! etcd on the same box: what Kubernetes stores its state in today, measured
//! under NetCRAQ's request mix through etcd's own gRPC API.
//!
//! [`measure_etcd`] starts each cluster it measures (Debian's `etcd` 3.4, one
//! member or several, on 127.0.0.1 with free ports and data directories in
//! a scratch directory of its own), preloads every key, and drives it with a
//! closed loop: `concurrency` requests outstanding on a tokio runtime, each
//! a linearizable read (etcd's default Range, no serializable flag) or a
//! write of a 16-byte value (NetCRAQ's slot size), keys drawn uniformly
//! ([`measure_closed_loop`] takes any [`RequestMix`], and other endpoints
//! than the members': `netcraq bench kubernetes` uses it). Every
//! read is checked: its value must be one written to that key, and no
//! older than any write to the key acknowledged before the read was sent
//! (by etcd's revisions). Members are stopped by PID and the scratch
//! directory removed when the cluster is dropped, after errors and Ctrl-C
//! too.

use crate::latency::LatencyRecorder;
use crate::results::lower_median_by;
use crate::system::ScratchDir;
use netcraq_client::mix::RequestMix;
pub use netcraq_etcd_cluster::EtcdCluster;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Bytes per value: NetCRAQ's `kv_value` slot (docs/protocol.md §2.1).
pub const VALUE_BYTES: usize = 16;
/// Cluster sizes accepted.
pub const MAX_MEMBERS: u32 = 7;
/// How long a cluster may take to answer a linearizable read after its start.
pub const HEALTH_LIMIT: Duration = Duration::from_secs(30);
/// A request unanswered this long counts as an error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// What a build without the `etcd` feature says.
pub const WITHOUT_ETCD: &str = "this netcraq was built without the etcd client: install protoc (`apt-get install -y \
                                protobuf-compiler`) and build with `cargo build --release -p netcraq --features \
                                etcd` (perf/README.md)";

/// The closed loop's flags, shared by `bench etcd` and `bench kubernetes`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClosedLoopArgs {
    /// Requests outstanding at any time (the closed loop)
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub concurrency: u32,
    /// gRPC connections the requests are spread over
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub connections: u32,
    /// Seconds of load before measuring, per measurement
    #[arg(long, value_name = "S", default_value_t = 2.0)]
    pub warmup_s: f64,
    /// Seconds measured, per measurement
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub duration_s: f64,
    /// Measure everything this many times, in turn, and report each
    /// measurement's median round (by ops/s): steadier figures on a noisy machine
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub rounds: u32,
    /// Seed of the request draw
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// The etcd server program (Debian's `etcd-server`, or tests/peers' etcd 3.7)
    #[arg(long, value_name = "PATH", default_value = "etcd")]
    pub etcd: PathBuf,
}

impl ClosedLoopArgs {
    /// These flags' settings for clusters of `members`, each measured at
    /// every one of `read_fractions` over `keys`.
    pub fn settings(&self, members: Vec<u32>, read_fractions: Vec<f64>, keys: u32) -> EtcdSettings {
        EtcdSettings {
            etcd: self.etcd.clone(),
            members,
            read_fractions,
            keys,
            concurrency: self.concurrency,
            connections: self.connections,
            warmup_s: self.warmup_s,
            duration_s: self.duration_s,
            rounds: self.rounds,
            seed: self.seed,
        }
    }
}

/// What to measure: every cluster size with every read fraction.
#[derive(Debug, Clone, PartialEq)]
pub struct EtcdSettings {
    /// The etcd server program.
    pub etcd: PathBuf,
    /// Cluster sizes, each measured with a cluster of its own.
    pub members: Vec<u32>,
    /// Shares of reads, each measured on every cluster.
    pub read_fractions: Vec<f64>,
    /// Keys drawn uniformly from 0..keys, all preloaded.
    pub keys: u32,
    /// Requests outstanding (the closed loop's window).
    pub concurrency: u32,
    /// gRPC connections the requests are spread over.
    pub connections: u32,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// Each configuration is measured this many times, in turn; the run of
    /// median ops/s is reported.
    pub rounds: u32,
    pub seed: u64,
}

impl EtcdSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.members.is_empty() || self.members.iter().any(|m| !(1..=MAX_MEMBERS).contains(m)) {
            return Err(format!("members {:?}: give cluster sizes of 1 to {MAX_MEMBERS}", self.members));
        }
        if self.read_fractions.is_empty() {
            return Err("no read fraction to measure".to_string());
        }
        for read_fraction in &self.read_fractions {
            RequestMix::uniform(*read_fraction, self.keys).validate().map_err(|e| e.to_string())?;
        }
        if !(1..=4096).contains(&self.concurrency) {
            return Err(format!("concurrency {}: give 1 to 4096", self.concurrency));
        }
        if !(1..=self.concurrency.min(64)).contains(&self.connections) {
            return Err(format!("connections {}: give 1 to min(64, concurrency)", self.connections));
        }
        if !(0.0..=600.0).contains(&self.warmup_s) {
            return Err(format!("warm-up {} s: give 0 to 600", self.warmup_s));
        }
        if !(0.1..=3600.0).contains(&self.duration_s) {
            return Err(format!("duration {} s: give 0.1 to 3600", self.duration_s));
        }
        if !(1..=20).contains(&self.rounds) {
            return Err(format!("{} rounds: give 1 to 20", self.rounds));
        }
        Ok(())
    }
}

/// One cluster under one mix, over the measured interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EtcdRun {
    pub members: u32,
    pub read_fraction: f64,
    pub measured_s: f64,
    pub reads: u64,
    pub writes: u64,
    pub ops_per_s: f64,
    /// Every read is linearizable.
    pub linearizable_reads_per_s: f64,
    pub writes_per_s: f64,
    pub latency_us_p50: f64,
    pub latency_us_p99: f64,
    pub latency_us_max: f64,
    pub read_latency_us_p50: f64,
    pub read_latency_us_p99: f64,
    pub write_latency_us_p50: f64,
    pub write_latency_us_p99: f64,
    /// Every round's ops/s, in order (the figures above are the median round's).
    pub ops_per_s_per_round: Vec<f64>,
    /// Requests that failed or timed out ([`REQUEST_TIMEOUT`]), over every round.
    pub errors: u64,
    pub first_error: Option<String>,
    /// Reads whose value was not one written to the key, over every round.
    pub wrong_values: u64,
    /// Reads older than a write to the key acknowledged before they were
    /// sent, over every round.
    pub stale_reads: u64,
}

impl EtcdRun {
    /// The round of median ops/s (the lower middle one of an even count),
    /// with every round's ops/s and the errors and suspicious reads of all.
    pub fn median(rounds: Vec<EtcdRun>) -> Option<EtcdRun> {
        let ops_per_s_per_round = rounds.iter().map(|r| r.ops_per_s).collect();
        let sum = |count: fn(&EtcdRun) -> u64| rounds.iter().map(count).sum::<u64>();
        let (errors, wrong_values, stale_reads) = (sum(|r| r.errors), sum(|r| r.wrong_values), sum(|r| r.stale_reads));
        let first_error = rounds.iter().find_map(|r| r.first_error.clone());
        let median = lower_median_by(&rounds, |r| r.ops_per_s)?.clone();
        Some(EtcdRun { ops_per_s_per_round, errors, first_error, wrong_values, stale_reads, ..median })
    }

    /// "etcd, 3 members"
    pub fn label(&self) -> String {
        format!("etcd, {} member{}", self.members, if self.members == 1 { "" } else { "s" })
    }
}

/// Counts and latencies of one closed-loop worker (or all of them).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub reads: u64,
    pub writes: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub wrong_values: u64,
    pub stale_reads: u64,
    pub reads_latency: LatencyRecorder,
    pub writes_latency: LatencyRecorder,
}

impl Tally {
    pub fn absorb(&mut self, other: Tally) {
        self.reads += other.reads;
        self.writes += other.writes;
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.wrong_values += other.wrong_values;
        self.stale_reads += other.stale_reads;
        self.reads_latency.absorb(&other.reads_latency);
        self.writes_latency.absorb(&other.writes_latency);
    }

    /// The figures of a measured interval of `measured_s`.
    pub fn into_run(self, members: u32, read_fraction: f64, measured_s: f64) -> EtcdRun {
        let mut all = self.reads_latency.clone();
        all.absorb(&self.writes_latency);
        let per_s = |count: u64| count as f64 / measured_s;
        EtcdRun {
            members,
            read_fraction,
            measured_s,
            reads: self.reads,
            writes: self.writes,
            ops_per_s: per_s(self.reads + self.writes),
            linearizable_reads_per_s: per_s(self.reads),
            writes_per_s: per_s(self.writes),
            latency_us_p50: all.quantile_us(0.5),
            latency_us_p99: all.quantile_us(0.99),
            latency_us_max: all.max_us(),
            read_latency_us_p50: self.reads_latency.quantile_us(0.5),
            read_latency_us_p99: self.reads_latency.quantile_us(0.99),
            write_latency_us_p50: self.writes_latency.quantile_us(0.5),
            write_latency_us_p99: self.writes_latency.quantile_us(0.99),
            ops_per_s_per_round: vec![per_s(self.reads + self.writes)],
            errors: self.errors,
            first_error: self.first_error,
            wrong_values: self.wrong_values,
            stale_reads: self.stale_reads,
        }
    }
}

/// Everything [`measure_etcd`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct EtcdReport {
    /// `etcd --version`'s first line.
    pub etcd_version: String,
    /// The file system of the members' data directories (etcd fsyncs every write there).
    pub data_dir_filesystem: String,
    pub runs: Vec<EtcdRun>,
}

impl EtcdReport {
    /// The highest linearizable read rate of any run.
    pub fn best_linearizable_reads_per_s(&self) -> Option<f64> {
        self.runs.iter().map(|r| r.linearizable_reads_per_s).filter(|r| *r > 0.0).max_by(f64::total_cmp)
    }
}

/// The etcd key of NetCRAQ key `key`.
pub fn etcd_key(key: u16) -> Vec<u8> {
    format!("netcraq/{key:05}").into_bytes()
}

/// The value a writer stores: the key, the writer and its sequence number,
/// so a read can tell whether what it got was written to that key.
pub fn encode_value(key: u16, writer: u32, sequence: u64) -> [u8; VALUE_BYTES] {
    let mut value = [0; VALUE_BYTES];
    value[0..4].copy_from_slice(&u32::from(key).to_be_bytes());
    value[4..8].copy_from_slice(&writer.to_be_bytes());
    value[8..16].copy_from_slice(&sequence.to_be_bytes());
    value
}

/// Whether `value` is one [`encode_value`] made for `key`.
pub fn is_value_of(value: &[u8], key: u16) -> bool {
    value.len() == VALUE_BYTES && value[0..4] == u32::from(key).to_be_bytes()
}

/// Measures every cluster size of `settings` under each of its read
/// fractions, one cluster at a time, on this machine.
pub fn measure_etcd(settings: &EtcdSettings) -> Result<EtcdReport, String> {
    settings.validate()?;
    if !cfg!(feature = "etcd") {
        return Err(WITHOUT_ETCD.to_string());
    }
    let etcd_version = etcd_version(&settings.etcd)?;
    let scratch = ScratchDir::new("netcraq-etcd")?;
    let data_dir_filesystem = filesystem_of(&scratch.path);
    let mut runs = Vec::new();
    for &members in &settings.members {
        eprintln!("bench: starting {members}-member etcd cluster ({etcd_version}, data on {data_dir_filesystem})");
        let mut cluster =
            EtcdCluster::start(&settings.etcd, members, &scratch.path.join(format!("{members}-members")))?;
        let mut rounds: Vec<Vec<EtcdRun>> = vec![Vec::new(); settings.read_fractions.len()];
        for round in 1..=settings.rounds {
            for (index, &read_fraction) in settings.read_fractions.iter().enumerate() {
                if netcraq_topology::interrupted() {
                    return Err("interrupted".to_string());
                }
                let endpoints = cluster.client_urls.clone();
                let mix = RequestMix::uniform(read_fraction, settings.keys);
                let run = measure_closed_loop(&mut cluster, &endpoints, settings, mix)?;
                eprintln!(
                    "bench:   {}, {:.0} % reads, round {round}/{}: {:.0} ops/s ({:.0} linearizable reads/s, {:.0} \
                     writes/s), p50 {:.0} µs, p99 {:.0} µs",
                    run.label(),
                    read_fraction * 100.0,
                    settings.rounds,
                    run.ops_per_s,
                    run.linearizable_reads_per_s,
                    run.writes_per_s,
                    run.latency_us_p50,
                    run.latency_us_p99
                );
                rounds[index].push(run);
            }
        }
        runs.extend(rounds.into_iter().filter_map(EtcdRun::median));
    }
    Ok(EtcdReport { etcd_version, data_dir_filesystem, runs })
}

/// One closed loop of `settings` (keys, concurrency, connections, warm-up,
/// duration, seed) drawing from `mix`, through `endpoints`: `cluster`'s
/// members, or something in front of them. Every key of `settings.keys` is
/// written first, through the same endpoints.
pub fn measure_closed_loop(
    cluster: &mut EtcdCluster,
    endpoints: &[String],
    settings: &EtcdSettings,
    mix: RequestMix,
) -> Result<EtcdRun, String> {
    mix.validate().map_err(|e| e.to_string())?;
    if u32::from(mix.first_key) + mix.key_count > settings.keys {
        return Err(format!("{mix}: past the {} keys written", settings.keys));
    }
    client::measure(cluster, endpoints, settings, mix)
}

pub fn etcd_version(etcd: &Path) -> Result<String, String> {
    let output = Command::new(etcd).arg("--version").output().map_err(|e| {
        format!("running `{} --version`: {e} (Debian: `apt-get install -y etcd-server`)", etcd.display())
    })?;
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text.lines().next().unwrap_or("etcd, unknown version").trim().to_string())
}

/// The type of the file system `path` is on, from /proc/mounts (longest mount point that holds it).
fn filesystem_of(path: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    mounts
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Some((*fields.get(1)?, *fields.get(2)?))
        })
        .filter(|(mount_point, _)| path.starts_with(mount_point))
        .max_by_key(|(mount_point, _)| mount_point.len())
        .map_or("unknown".to_string(), |(mount_point, kind)| format!("{kind} ({mount_point})"))
}

#[cfg(feature = "etcd")]
mod client {
    //! The closed loop over etcd-client, on a tokio runtime.

    use super::*;
    use etcd_client::{Client, ConnectOptions, KvClient};
    use netcraq_client::mix::MixSampler;
    use netcraq_client::RequestKind;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    /// Writer number of the preloaded values.
    const PRELOAD_WRITER: u32 = u32::MAX;
    /// How often the driver looks at interrupts and members, and prints progress.
    const TICK: Duration = Duration::from_millis(100);
    const PROGRESS_EVERY: Duration = Duration::from_secs(5);

    /// What the workers share: when to stop, and per key the revision of
    /// the latest acknowledged write, the floor of any later read.
    struct Shared {
        stop: AtomicBool,
        acked_revision: Vec<AtomicI64>,
    }

    /// When a worker counts what it finishes.
    #[derive(Clone, Copy)]
    struct Window {
        measure_from: Instant,
        end: Instant,
    }

    pub fn measure(
        cluster: &mut EtcdCluster,
        endpoints: &[String],
        settings: &EtcdSettings,
        mix: RequestMix,
    ) -> Result<EtcdRun, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("starting the tokio runtime: {e}"))?;
        runtime.block_on(async {
            let clients = connect(cluster, endpoints, settings.connections).await?;
            let shared = Arc::new(Shared {
                stop: AtomicBool::new(false),
                acked_revision: (0..settings.keys).map(|_| AtomicI64::new(0)).collect(),
            });
            preload(&clients, settings, &shared).await?;
            let start = Instant::now();
            let measure_from = start + Duration::from_secs_f64(settings.warmup_s);
            let window = Window { measure_from, end: measure_from + Duration::from_secs_f64(settings.duration_s) };
            let sampler = Arc::new(MixSampler::new(&mix).map_err(|e| e.to_string())?);
            let mut workers = Vec::new();
            for worker in 0..settings.concurrency {
                let rng = SmallRng::seed_from_u64(settings.seed ^ (u64::from(worker) << 32));
                let kv = clients[worker as usize % clients.len()].kv_client();
                let draw = Draw { sampler: sampler.clone(), rng };
                workers.push(tokio::spawn(run_worker(kv, worker, draw, window, shared.clone())));
            }
            let driven = drive(cluster, window, &shared, start).await;
            let mut tally = Tally::default();
            for worker in workers {
                tally.absorb(worker.await.map_err(|e| format!("a closed-loop worker failed: {e}"))?);
            }
            driven?;
            if tally.reads + tally.writes == 0 {
                let why = tally.first_error.unwrap_or_else(|| "no request was answered".to_string());
                return Err(format!("etcd answered nothing in the measured interval: {why}"));
            }
            Ok(tally.into_run(cluster.members(), mix.read_fraction, settings.duration_s))
        })
    }

    /// A worker's draw of operations and keys.
    struct Draw {
        sampler: Arc<MixSampler>,
        rng: SmallRng,
    }

    /// Connects `connections` clients to every endpoint, once a linearizable
    /// read succeeds (the cluster has a leader), within [`HEALTH_LIMIT`].
    async fn connect(cluster: &mut EtcdCluster, endpoints: &[String], connections: u32) -> Result<Vec<Client>, String> {
        let urls = endpoints.to_vec();
        let options = ConnectOptions::new().with_connect_timeout(REQUEST_TIMEOUT).with_timeout(REQUEST_TIMEOUT);
        let deadline = Instant::now() + HEALTH_LIMIT;
        let mut last_error = String::new();
        while Instant::now() < deadline && !netcraq_topology::interrupted() {
            cluster.check_running()?;
            match Client::connect(&urls, Some(options.clone())).await {
                Ok(mut client) => match client.get(etcd_key(0), None).await {
                    Ok(_) => {
                        let mut clients = vec![client];
                        for _ in 1..connections {
                            let client = Client::connect(&urls, Some(options.clone())).await;
                            clients.push(client.map_err(|e| format!("connecting to etcd at {urls:?}: {e}"))?);
                        }
                        return Ok(clients);
                    }
                    Err(error) => last_error = error.to_string(),
                },
                Err(error) => last_error = error.to_string(),
            }
            tokio::time::sleep(TICK).await;
        }
        Err(format!("etcd at {urls:?} did not answer a linearizable read within {HEALTH_LIMIT:?}: {last_error}"))
    }

    /// Writes every key once (`concurrency` writers at a time).
    async fn preload(clients: &[Client], settings: &EtcdSettings, shared: &Arc<Shared>) -> Result<(), String> {
        let writers = settings.concurrency.min(settings.keys);
        let mut tasks = Vec::new();
        for writer in 0..writers {
            let mut kv = clients[writer as usize % clients.len()].kv_client();
            let shared = shared.clone();
            let keys = settings.keys;
            tasks.push(tokio::spawn(async move {
                for key in (writer..keys).step_by(writers as usize) {
                    let key = key as u16;
                    let revision = put(&mut kv, key, encode_value(key, PRELOAD_WRITER, 0)).await?;
                    shared.acked_revision[usize::from(key)].fetch_max(revision, Ordering::AcqRel);
                }
                Ok::<(), String>(())
            }));
        }
        for task in tasks {
            task.await.map_err(|e| format!("a preload writer failed: {e}"))?.map_err(|e| format!("preloading: {e}"))?;
        }
        Ok(())
    }

    async fn put(kv: &mut KvClient, key: u16, value: [u8; VALUE_BYTES]) -> Result<i64, String> {
        let response = tokio::time::timeout(REQUEST_TIMEOUT, kv.put(etcd_key(key), value.to_vec(), None)).await;
        let response = response.map_err(|_| format!("put timed out after {REQUEST_TIMEOUT:?}"))?;
        let response = response.map_err(|e| format!("put: {e}"))?;
        response.header().map(|h| h.revision()).ok_or_else(|| "put: a reply without a header".to_string())
    }

    /// Waits for the end of the window, printing progress; stops the
    /// workers early when interrupted or when a member ends.
    async fn drive(cluster: &mut EtcdCluster, window: Window, shared: &Shared, start: Instant) -> Result<(), String> {
        let mut next_progress = start + PROGRESS_EVERY;
        let mut outcome = Ok(());
        while Instant::now() < window.end && outcome.is_ok() {
            outcome = cluster.check_running();
            if netcraq_topology::interrupted() {
                outcome = Err("interrupted".to_string());
            }
            if Instant::now() >= next_progress {
                eprintln!("bench:   ... {} s", start.elapsed().as_secs());
                next_progress += PROGRESS_EVERY;
            }
            tokio::time::sleep(TICK).await;
        }
        shared.stop.store(true, Ordering::Release);
        outcome
    }

    /// One outstanding request at a time, until the window ends.
    async fn run_worker(mut kv: KvClient, worker: u32, mut draw: Draw, window: Window, shared: Arc<Shared>) -> Tally {
        let mut tally = Tally::default();
        let mut sequence = 0u64;
        while !shared.stop.load(Ordering::Acquire) && Instant::now() < window.end {
            let (kind, key) = draw.sampler.draw(&mut draw.rng);
            let sent = Instant::now();
            let outcome = match kind {
                RequestKind::Read => read(&mut kv, key, &shared).await,
                _ => {
                    sequence += 1;
                    put(&mut kv, key, encode_value(key, worker, sequence)).await.map(|revision| {
                        shared.acked_revision[usize::from(key)].fetch_max(revision, Ordering::AcqRel);
                        ReadCheck::Good
                    })
                }
            };
            let answered = Instant::now();
            if answered < window.measure_from || answered >= window.end {
                continue;
            }
            let latency_ns = answered.duration_since(sent).as_nanos() as u64;
            match outcome {
                Err(error) => {
                    tally.errors += 1;
                    tally.first_error.get_or_insert(error);
                    continue;
                }
                Ok(ReadCheck::WrongValue) => tally.wrong_values += 1,
                Ok(ReadCheck::Stale) => tally.stale_reads += 1,
                Ok(ReadCheck::Good) => {}
            }
            if kind == RequestKind::Read {
                tally.reads += 1;
                tally.reads_latency.record_ns(latency_ns);
            } else {
                tally.writes += 1;
                tally.writes_latency.record_ns(latency_ns);
            }
        }
        tally
    }

    enum ReadCheck {
        Good,
        WrongValue,
        Stale,
    }

    /// A linearizable read of `key`, checked against what was written and acknowledged.
    async fn read(kv: &mut KvClient, key: u16, shared: &Shared) -> Result<ReadCheck, String> {
        let floor = shared.acked_revision[usize::from(key)].load(Ordering::Acquire);
        let response = tokio::time::timeout(REQUEST_TIMEOUT, kv.get(etcd_key(key), None)).await;
        let response = response.map_err(|_| format!("get timed out after {REQUEST_TIMEOUT:?}"))?;
        let response = response.map_err(|e| format!("get: {e}"))?;
        Ok(match response.kvs().first() {
            Some(found) if is_value_of(found.value(), key) && found.mod_revision() >= floor => ReadCheck::Good,
            Some(found) if is_value_of(found.value(), key) => ReadCheck::Stale,
            _ => ReadCheck::WrongValue,
        })
    }
}

#[cfg(not(feature = "etcd"))]
mod client {
    use super::*;

    pub fn measure(_: &mut EtcdCluster, _: &[String], _: &EtcdSettings, _: RequestMix) -> Result<EtcdRun, String> {
        Err(WITHOUT_ETCD.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> EtcdSettings {
        EtcdSettings {
            etcd: "etcd".into(),
            members: vec![1],
            read_fractions: vec![2.0 / 3.0, 1.0],
            keys: 1000,
            concurrency: 64,
            connections: 4,
            warmup_s: 2.0,
            duration_s: 10.0,
            rounds: 1,
            seed: 1,
        }
    }

    #[test]
    fn settings_are_validated() {
        let good = settings();
        assert_eq!(good.validate(), Ok(()));
        let bad = [
            EtcdSettings { members: vec![], ..good.clone() },
            EtcdSettings { members: vec![1, 8], ..good.clone() },
            EtcdSettings { members: vec![0], ..good.clone() },
            EtcdSettings { read_fractions: vec![], ..good.clone() },
            EtcdSettings { read_fractions: vec![1.5], ..good.clone() },
            EtcdSettings { keys: 0, ..good.clone() },
            EtcdSettings { keys: 65_537, ..good.clone() },
            EtcdSettings { concurrency: 0, ..good.clone() },
            EtcdSettings { connections: 0, ..good.clone() },
            EtcdSettings { concurrency: 2, connections: 3, ..good.clone() },
            EtcdSettings { warmup_s: -1.0, ..good.clone() },
            EtcdSettings { duration_s: 0.0, ..good.clone() },
            EtcdSettings { rounds: 0, ..good.clone() },
        ];
        for settings in bad {
            assert!(settings.validate().is_err(), "{settings:?}");
        }
    }

    #[test]
    fn values_say_which_key_they_were_written_to() {
        let value = encode_value(7, 3, 99);
        assert_eq!(value.len(), VALUE_BYTES);
        assert!(is_value_of(&value, 7));
        assert!(!is_value_of(&value, 8));
        assert!(!is_value_of(&value[..15], 7));
        assert_ne!(encode_value(7, 3, 100), value);
        assert_eq!(etcd_key(42), b"netcraq/00042");
    }

    #[test]
    fn tallies_add_up_to_rates_and_latencies() {
        let mut a = Tally { reads: 300, errors: 1, first_error: Some("first".into()), ..Tally::default() };
        (1..=300u64).for_each(|i| a.reads_latency.record_ns(i * 1000));
        let mut b = Tally { writes: 100, stale_reads: 2, first_error: Some("second".into()), ..Tally::default() };
        (1..=100u64).for_each(|_| b.writes_latency.record_ns(5_000_000));
        a.absorb(b);
        let run = a.into_run(3, 0.75, 2.0);
        assert_eq!((run.reads, run.writes, run.errors, run.stale_reads), (300, 100, 1, 2));
        assert_eq!((run.ops_per_s, run.linearizable_reads_per_s, run.writes_per_s), (200.0, 150.0, 50.0));
        assert!((run.read_latency_us_p50 - 150.0).abs() < 1.0, "{}", run.read_latency_us_p50);
        assert!((run.write_latency_us_p50 - 5000.0).abs() < 5.0, "{}", run.write_latency_us_p50);
        assert!(run.latency_us_p99 > 4900.0, "a quarter of the operations were 5 ms writes");
        assert_eq!(run.first_error.as_deref(), Some("first"));
        assert_eq!(run.label(), "etcd, 3 members");
    }

    #[test]
    fn rounds_are_reduced_to_the_median_with_every_suspicious_read_kept() {
        let round = |ops_per_s: f64, stale_reads: u64| EtcdRun { ops_per_s, stale_reads, ..EtcdRun::default() };
        let median = EtcdRun::median(vec![round(300.0, 0), round(100.0, 2), round(200.0, 0), round(400.0, 1)]).unwrap();
        assert_eq!(median.ops_per_s, 200.0, "the lower middle of four");
        assert_eq!(median.ops_per_s_per_round, [300.0, 100.0, 200.0, 400.0]);
        assert_eq!(median.stale_reads, 3);
        assert_eq!(EtcdRun::median(Vec::new()), None);
    }

    #[test]
    fn filesystems_are_named() {
        assert!(!filesystem_of(Path::new("/")).starts_with("unknown"));
    }

    /// A one-member etcd on free ports, a second of load: every read got a
    /// value written to its key and no older than the writes acknowledged
    /// before it; the members and data directories are gone afterwards.
    #[cfg(feature = "etcd")]
    #[test]
    fn a_one_member_etcd_answers_the_closed_loop() {
        if Command::new("etcd").arg("--version").output().is_err() {
            eprintln!("SKIP: etcd is not installed (apt-get install -y etcd-server)");
            return;
        }
        let settings = EtcdSettings {
            read_fractions: vec![0.5],
            keys: 50,
            concurrency: 8,
            connections: 2,
            warmup_s: 0.2,
            duration_s: 1.0,
            ..settings()
        };
        let started = std::time::Instant::now();
        let report = measure_etcd(&settings).unwrap();
        assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
        let [run] = report.runs.as_slice() else { panic!("{:?}", report.runs) };
        // Thousands a second on a quiet machine, dozens on a loaded one
        // (46 once, under other builds): the bound asks only that both
        // kinds were answered and checked.
        assert!(run.reads >= 10 && run.writes >= 10, "{run:?}");
        assert_eq!((run.errors, run.wrong_values, run.stale_reads), (0, 0, 0), "{run:?}");
        assert!(run.latency_us_p50 > 0.0 && run.latency_us_p99 >= run.latency_us_p50);
        assert!(report.etcd_version.contains("3."), "{}", report.etcd_version);
        let scratch = std::env::temp_dir().join(format!("netcraq-etcd-{}", std::process::id()));
        assert!(!scratch.exists(), "{} was left behind", scratch.display());
    }
}
