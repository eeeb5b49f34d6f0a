//! `netcraq bench failover`: what a crashed node costs a chain that the
//! running controller keeps serving. A chain of three nodes and a spare
//! ([`harness`]) serves a steady load from a client host on each member
//! that survives; one member (head, middle or tail in turn) is killed with
//! SIGKILL, and the benchmark measures how long the controller takes to see
//! it, how long writes stall, what share of the time clean reads at the
//! survivors are answered meanwhile, how long the spare takes to receive
//! every key and become a full member, and the throughput while it does.
//! perf/README.md, "Failover". `bench soak` ([`soak`]) injects random
//! faults and checks every history.

pub mod harness;
pub mod measures;
pub mod soak;
pub mod takeover;

use crate::results::{load_average, machine_json, shown, source_path, utc_now, write_json};
use clap::{Args, ValueEnum};
use harness::{down, host_of, reconfigured, started, ChainSpec, ManagedChain, MEMBERS, SPARE};
use measures::{answered_share, rate, write_unavailability, ReadAttempt};
use netcraq_client::{run_workload, Client, ClientOptions, KeyDistribution, Stop, Workload, WriteTarget};
use netcraq_controller::service::ServiceSettings;
use netcraq_controller::supervisor::Change;
use netcraq_linearizability::Action;
use netcraq_topology::NodeKind;
use serde_json::{json, Value};
use std::net::SocketAddrV4;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The targets of issue #14.
const DETECTION_TARGET: Duration = Duration::from_millis(300);
const WRITE_UNAVAILABLE_TARGET: Duration = Duration::from_secs(1);
const RECOVERY_TARGET: Duration = Duration::from_secs(5);
const RECOVERY_THROUGHPUT_TARGET: f64 = 0.8;
/// Keys the load reads and writes, at most; the clean-read probes read as many others.
const LOAD_KEYS: u32 = 1024;
/// How long the first restart (every member swept) may take.
const RESTART_WAIT: Duration = Duration::from_secs(120);
/// How long any other expected note may take.
const NOTE_WAIT: Duration = Duration::from_secs(60);
/// The load's clients: a write stalled by the failover is retransmitted for 10 s.
const LOAD_CLIENT: ClientOptions =
    ClientOptions { timeout: Duration::from_millis(100), retries: 100, local_ip: std::net::Ipv4Addr::UNSPECIFIED };
/// A clean-read probe gives up on a read after this (no retransmission) and pauses between reads.
const PROBE_TIMEOUT: Duration = Duration::from_millis(20);
const PROBE_PAUSE: Duration = Duration::from_millis(1);
/// Throughput "before" is measured over this much time before the kill.
const BEFORE_WINDOW: Duration = Duration::from_secs(2);
/// Why BMv2 is not measured.
const BMV2_NOT_APPLICABLE: &str = "BMv2 serves no register reads over P4Runtime, so the running controller cannot \
                                   read its lease_clock to probe it and renew its leases (docs/controller.md)";
/// A kind of node the failover is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// `netcraq node` on AF_PACKET sockets
    Software,
    /// `netcraq node --dpdk` (net_af_packet over veth, `--dpdk-eal`)
    Dpdk,
    /// BMv2's simple_switch_grpc: not applicable, reported with the reason
    Bmv2,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Software => "software",
            Kind::Dpdk => "dpdk",
            Kind::Bmv2 => "bmv2",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct BenchFailoverArgs {
    /// Kinds of node, comma-separated
    #[arg(long, value_delimiter = ',', default_value = "software,dpdk,bmv2")]
    kinds: Vec<Kind>,
    /// Kills of each member (head, middle, tail) per kind, each on a fresh chain; the figures are medians
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    rounds: u32,
    /// Keys the chain serves: the spare receives every one of them when it joins
    #[arg(long, default_value_t = 65_536, value_parser = clap::value_parser!(u32).range(2..=65_536))]
    keys: u32,
    /// Seconds of load per kill; the kill comes --before-s into it
    #[arg(long, default_value_t = 15)]
    load_s: u64,
    /// Seconds of steady load before the kill
    #[arg(long, default_value_t = 3)]
    before_s: u64,
    /// Requests each client host keeps outstanding
    #[arg(long, default_value_t = 16)]
    outstanding: usize,
    /// The load's share of reads
    #[arg(long, default_value_t = 0.9)]
    read_fraction: f64,
    /// Seed of the load (each kill adds its number)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// EAL arguments of the DPDK nodes
    #[arg(long, default_value = "--no-huge -m 256", allow_hyphen_values = true)]
    dpdk_eal: String,
    /// Where to write the results [default: perf/results/failover-latest.json in the source tree]
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
}

/// What one kill measured.
#[derive(Debug, Clone)]
struct KillResult {
    node: &'static str,
    position: &'static str,
    round: u32,
    /// Kill to the controller's decision that the node is down.
    detection: Duration,
    /// Kill to the chain reconfigured without it.
    removed: Duration,
    /// Kill to the first write acknowledged after the outage.
    write_unavailable: Option<Duration>,
    /// Share of the time from the kill to the removal that each survivor answered clean reads.
    clean_reads: Vec<(&'static str, Option<f64>)>,
    /// The spare's join, start to full member.
    recovery: Duration,
    ops_per_s_before: Option<f64>,
    ops_per_s_recovery: Option<f64>,
    /// The load ended before the join did: the recovery throughput covers its start only.
    recovery_outlasted_load: bool,
}

impl KillResult {
    fn clean_read_share(&self) -> Option<f64> {
        let shares: Vec<f64> = self.clean_reads.iter().filter_map(|(_, share)| *share).collect();
        (!shares.is_empty()).then(|| shares.iter().sum::<f64>() / shares.len() as f64)
    }

    fn recovery_throughput(&self) -> Option<f64> {
        Some(self.ops_per_s_recovery? / self.ops_per_s_before.filter(|before| *before > 0.0)?)
    }

    fn line(&self) -> String {
        format!(
            "kill -9 {} ({}), round {}: down after {} ms, chain without it after {} ms, writes back after {}, clean \
             reads answered {}, spare joined in {:.2} s at {} of the throughput before{}",
            self.node,
            self.position,
            self.round,
            self.detection.as_millis(),
            self.removed.as_millis(),
            self.write_unavailable.map_or("n/a".into(), |d| format!("{} ms", d.as_millis())),
            percent(self.clean_read_share()),
            self.recovery.as_secs_f64(),
            percent(self.recovery_throughput()),
            if self.recovery_outlasted_load { " (the join outlasted the load)" } else { "" },
        )
    }

    fn to_json(&self) -> Value {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        json!({
            "node": self.node, "position": self.position, "round": self.round,
            "detection_ms": ms(self.detection), "removed_ms": ms(self.removed),
            "write_unavailable_ms": self.write_unavailable.map(ms),
            "clean_reads_answered": self.clean_read_share(),
            "clean_reads_answered_per_node": self.clean_reads.iter().map(|(n, s)| (n.to_string(), json!(s))).collect::<serde_json::Map<_, _>>(),
            "recovery_ms": ms(self.recovery), "ops_per_s_before": self.ops_per_s_before,
            "ops_per_s_recovery": self.ops_per_s_recovery, "recovery_throughput": self.recovery_throughput(),
            "recovery_outlasted_load": self.recovery_outlasted_load,
        })
    }
}

/// The medians over a kind's kills.
#[derive(Debug, Clone, Copy, Default)]
struct Medians {
    detection_ms: Option<f64>,
    write_unavailable_ms: Option<f64>,
    clean_reads_answered: Option<f64>,
    recovery_s: Option<f64>,
    recovery_throughput: Option<f64>,
}

impl Medians {
    fn of(kills: &[&KillResult]) -> Medians {
        let median = |value: &dyn Fn(&KillResult) -> Option<f64>| {
            let values: Vec<f64> = kills.iter().filter_map(|k| value(k)).collect();
            crate::results::lower_median_by(&values, |v| *v).copied()
        };
        Medians {
            detection_ms: median(&|k| Some(k.detection.as_secs_f64() * 1e3)),
            write_unavailable_ms: median(&|k| k.write_unavailable.map(|d| d.as_secs_f64() * 1e3)),
            clean_reads_answered: median(&|k| k.clean_read_share()),
            recovery_s: median(&|k| Some(k.recovery.as_secs_f64())),
            recovery_throughput: median(&|k| k.recovery_throughput()),
        }
    }

    fn to_json(self) -> Value {
        json!({
            "detection_ms": self.detection_ms, "write_unavailable_ms": self.write_unavailable_ms,
            "clean_reads_answered": self.clean_reads_answered, "recovery_s": self.recovery_s,
            "recovery_throughput": self.recovery_throughput,
        })
    }

    /// This kind's part of the summary line, each figure with its target.
    fn summary(self, kind: &str) -> String {
        let verdict = |met: Option<bool>| match met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "n/a",
        };
        let figure = |value: Option<f64>, digits: usize| value.map_or("n/a".into(), |v| format!("{v:.digits$}"));
        let at_most = |value: Option<f64>, target: f64| verdict(value.map(|v| v <= target));
        let recovery_met = match (self.recovery_s, self.recovery_throughput) {
            (Some(s), Some(share)) => Some(s <= RECOVERY_TARGET.as_secs_f64() && share >= RECOVERY_THROUGHPUT_TARGET),
            _ => None,
        };
        format!(
            "{kind} detection_ms={} (<=300 {}) write_unavailable_ms={} (<=1000 {}) clean_reads_answered={} \
             recovery_s={} at throughput={} (<=5 s at >=0.8 {})",
            figure(self.detection_ms, 0),
            at_most(self.detection_ms, DETECTION_TARGET.as_secs_f64() * 1e3),
            figure(self.write_unavailable_ms, 0),
            at_most(self.write_unavailable_ms, WRITE_UNAVAILABLE_TARGET.as_secs_f64() * 1e3),
            figure(self.clean_reads_answered, 3),
            figure(self.recovery_s, 2),
            figure(self.recovery_throughput, 2),
            verdict(recovery_met),
        )
    }
}

fn percent(share: Option<f64>) -> String {
    share.map_or("n/a".into(), |s| format!("{:.1} %", s * 100.0))
}

pub fn run(args: &BenchFailoverArgs) -> Result<(), String> {
    if !(0.0..=1.0).contains(&args.read_fraction) || args.outstanding == 0 || args.before_s >= args.load_s {
        return Err("--read-fraction is 0 to 1, --outstanding at least 1, --before-s below --load-s".into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("finding the netcraq executable: {e}"))?;
    let json_path = args.json.clone().unwrap_or_else(|| source_path("results/failover-latest.json"));
    let load_average = load_average();
    let mut kinds = serde_json::Map::new();
    let mut summaries = Vec::new();
    for kind in dedup(&args.kinds) {
        let (status, summary) = match why_not(kind) {
            Some((status, reason)) => {
                eprintln!("{} {}: {reason}", status.to_uppercase(), kind.name());
                (json!({ "status": status, "reason": reason }), format!("{} {status}", kind.name()))
            }
            None => match measure_kind(args, kind, &exe) {
                Ok((kills, takeovers)) => {
                    let all: Vec<&KillResult> = kills.iter().collect();
                    let medians = Medians::of(&all);
                    print_table(kind, &kills);
                    let by_position: serde_json::Map<String, Value> = MEMBERS
                        .iter()
                        .map(|node| {
                            let of_node: Vec<&KillResult> = kills.iter().filter(|k| k.node == *node).collect();
                            (position(node).to_string(), Medians::of(&of_node).to_json())
                        })
                        .collect();
                    let kills: Vec<Value> = kills.iter().map(KillResult::to_json).collect();
                    let takeover = takeover_json(&takeovers);
                    let status = json!({ "status": "measured", "medians": medians.to_json(), "by_position": by_position, "kills": kills, "controller_takeover": takeover });
                    (status, format!("{} {}", medians.summary(kind.name()), takeover_summary(&takeovers)))
                }
                Err(error) if netcraq_topology::interrupted() => return Err(error),
                Err(error) => {
                    eprintln!("SKIP {}: {error}", kind.name());
                    (json!({ "status": "skipped", "reason": error }), format!("{} skipped", kind.name()))
                }
            },
        };
        kinds.insert(kind.name().to_string(), status);
        summaries.push(summary);
    }
    let summary = format!("summary: {}", summaries.join(" | "));
    let json = json!({
        "benchmark": "failover",
        "timestamp": utc_now(),
        "machine": machine_json(&crate::system::allowed_cpus(), load_average),
        "settings": settings_json(args),
        "targets": {
            "detection_ms_at_most": DETECTION_TARGET.as_millis() as u64, "write_unavailable_ms_at_most": WRITE_UNAVAILABLE_TARGET.as_millis() as u64,
            "recovery_s_at_most": RECOVERY_TARGET.as_secs(), "recovery_throughput_at_least": RECOVERY_THROUGHPUT_TARGET,
            "takeover_ms_at_most": takeover_target().as_millis() as u64,
        },
        "kinds": kinds,
        "summary": summary,
    });
    write_json(&json_path, &json)?;
    println!("results: {}", shown(&json_path));
    println!("{summary}");
    Ok(())
}

fn dedup(kinds: &[Kind]) -> Vec<Kind> {
    let mut unique = Vec::new();
    for kind in kinds {
        if !unique.contains(kind) {
            unique.push(*kind);
        }
    }
    unique
}

/// Why `kind` cannot be measured here, if it cannot: ("skipped" or "not applicable", the reason).
fn why_not(kind: Kind) -> Option<(&'static str, String)> {
    match kind {
        Kind::Bmv2 => Some(("not applicable", BMV2_NOT_APPLICABLE.into())),
        _ if !netcraq_topology::running_as_root() => Some(("skipped", "network namespaces need root".into())),
        Kind::Dpdk if !cfg!(feature = "dpdk") => Some(("skipped", crate::WITHOUT_DPDK.into())),
        _ => None,
    }
}

fn position(node: &str) -> &'static str {
    match MEMBERS.iter().position(|m| *m == node) {
        Some(0) => "head",
        Some(2) => "tail",
        _ => "middle",
    }
}

fn settings_json(args: &BenchFailoverArgs) -> Value {
    let settings = ServiceSettings::default();
    json!({
        "rounds": args.rounds, "keys": args.keys, "load_s": args.load_s, "before_s": args.before_s,
        "outstanding_per_host": args.outstanding, "read_fraction": args.read_fraction, "seed": args.seed,
        "dpdk_eal": args.dpdk_eal, "load_keys": load_keys(args.keys), "probe_keys": probe_keys(args.keys).len(),
        "controller": {
            "probe_interval_ms": settings.probe_interval.as_millis() as u64, "probe_timeout_ms": settings.probe_timeout.as_millis() as u64,
            "miss_limit": settings.supervisor.miss_limit, "lease_ms": settings.lease.as_millis() as u64,
            "lease_margin_ms": settings.lease_margin.as_millis() as u64,
        },
        "chain": "n1 -> n2 -> n3, spare n4, every node linked to every other; a client host on each member",
    })
}

/// The keys the load uses: the first half of the chain's, at most [`LOAD_KEYS`].
fn load_keys(keys: u32) -> Range<u16> {
    0..(keys / 2).min(LOAD_KEYS) as u16
}

/// Keys no one writes: always clean, read by the probes.
fn probe_keys(keys: u32) -> Range<u16> {
    let load = load_keys(keys).end;
    load..(u32::from(load) * 2).min(keys) as u16
}

/// Every member killed in turn, `--rounds` times, each on a fresh chain;
/// then as many controller takeovers (or why there are none).
fn measure_kind(
    args: &BenchFailoverArgs,
    kind: Kind,
    exe: &Path,
) -> Result<(Vec<KillResult>, Result<Vec<takeover::Takeover>, String>), String> {
    let node_kind = if kind == Kind::Dpdk { NodeKind::Dpdk } else { NodeKind::Software };
    let spec = ChainSpec { kind: node_kind, keys: args.keys, eal: args.dpdk_eal.clone() };
    let mut kills = Vec::new();
    for round in 1..=args.rounds {
        for (index, node) in MEMBERS.iter().enumerate() {
            let seed = args.seed.wrapping_add(u64::from(round) * 10 + index as u64);
            eprintln!("bench: {} round {round}/{}: kill -9 {node} ({})", kind.name(), args.rounds, position(node));
            let kill = measure_kill(args, &spec, exe, node, round, seed)?;
            eprintln!("bench:   {}", kill.line());
            kills.push(kill);
        }
    }
    let takeovers = (1..=args.rounds)
        .map(|round| {
            eprintln!("bench: {} round {round}/{}: kill -9 the controller leader", kind.name(), args.rounds);
            let measured = takeover::measure(&spec, exe, args.seed.wrapping_add(u64::from(round)), args);
            if let Ok(takeover) = &measured {
                eprintln!("bench:   {}", takeover.line());
            }
            measured
        })
        .collect::<Result<Vec<_>, String>>();
    if let Err(error) = &takeovers {
        eprintln!("SKIP {} controller takeover: {error}", kind.name());
    }
    Ok((kills, takeovers))
}

/// A standby leads within the lease TTL and about a second (issue #14).
fn takeover_target() -> Duration {
    takeover::TTL + Duration::from_secs(1)
}

fn takeover_json(takeovers: &Result<Vec<takeover::Takeover>, String>) -> Value {
    let takeovers = match takeovers {
        Ok(takeovers) => takeovers,
        Err(reason) => return json!({ "status": "skipped", "reason": reason }),
    };
    let median = |value: &dyn Fn(&takeover::Takeover) -> Option<Duration>| {
        let values: Vec<f64> = takeovers.iter().filter_map(|t| value(t)).map(|d| d.as_secs_f64() * 1e3).collect();
        crate::results::lower_median_by(&values, |v| *v).copied()
    };
    json!({
        "status": "measured", "etcd_lease_ttl_s": takeover::TTL.as_secs(),
        "medians": { "leads_ms": median(&|t| Some(t.leads)), "restarted_ms": median(&|t| Some(t.restarted)),
                     "first_write_after_restart_ms": median(&|t| t.first_write) },
        "rounds": takeovers.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
    })
}

/// The takeover's part of a kind's summary: the standby's lead against TTL + 1 s.
fn takeover_summary(takeovers: &Result<Vec<takeover::Takeover>, String>) -> String {
    let Ok(takeovers) = takeovers else { return "takeover=skipped".into() };
    let leads: Vec<Duration> = takeovers.iter().map(|t| t.leads).collect();
    let writes: Vec<Duration> = takeovers.iter().filter_map(|t| t.first_write).collect();
    let median = |values: &[Duration]| crate::results::lower_median_by(values, |d| d.as_secs_f64()).copied();
    let target = takeover_target();
    match median(&leads) {
        Some(leads) => format!(
            "takeover_ms={} (<={} {}) first_write_after_restart_ms={}",
            leads.as_millis(),
            target.as_millis(),
            if leads <= target { "met" } else { "MISSED" },
            median(&writes).map_or("n/a".into(), |d| d.as_millis().to_string())
        ),
        None => "takeover=n/a".into(),
    }
}

/// What the controller did after a kill, and when.
struct Timeline {
    killed: Instant,
    down: Instant,
    removed: Instant,
    join_started: Instant,
    joined: Instant,
}

/// One chain up, its controller, the load and the probes; `victim` killed
/// `--before-s` into the load; everything measured; the chain down.
fn measure_kill(
    args: &BenchFailoverArgs,
    spec: &ChainSpec,
    exe: &Path,
    victim: &'static str,
    round: u32,
    seed: u64,
) -> Result<KillResult, String> {
    let chain = ManagedChain::up(spec, exe)?;
    let measured = (|| -> Result<KillResult, String> {
        let mut controller = chain.start_controller(ServiceSettings::default())?;
        controller.notes.wait("the chain restarted", RESTART_WAIT, reconfigured(Change::Restart))?;
        let survivors: Vec<&'static str> = MEMBERS.iter().copied().filter(|m| *m != victim).collect();
        let probing = AtomicBool::new(true);
        let (timeline, loads, probes) = std::thread::scope(|scope| {
            let (chain, probing) = (&chain, &probing);
            let loads: Vec<_> =
                survivors.iter().map(|node| scope.spawn(move || load(chain, node, args, seed))).collect();
            let probes: Vec<_> = survivors
                .iter()
                .map(|node| scope.spawn(move || probe_reads(chain, node, probe_keys(args.keys), probing)))
                .collect();
            let timeline = (|| {
                std::thread::sleep(Duration::from_secs(args.before_s));
                let killed = Instant::now();
                chain.signal(victim, libc::SIGKILL)?;
                let notes = &mut controller.notes;
                let seen_down = notes.wait("it is down", NOTE_WAIT, down(victim))?.at;
                let removed =
                    notes.wait("it was removed", NOTE_WAIT, reconfigured(Change::Remove { node: victim.into() }))?.at;
                let join_started =
                    notes.wait("the spare joins", NOTE_WAIT, started(Change::Add { node: SPARE.into() }))?.at;
                let joined =
                    notes.wait("the spare joined", NOTE_WAIT, reconfigured(Change::Add { node: SPARE.into() }))?.at;
                Ok::<_, String>(Timeline { killed, down: seen_down, removed, join_started, joined })
            })();
            probing.store(false, Ordering::Relaxed);
            let loads: Result<Vec<_>, String> = loads.into_iter().map(joined).collect();
            let probes: Result<Vec<_>, String> = probes.into_iter().map(joined).collect();
            (timeline, loads, probes)
        });
        let result = summarize(victim, round, timeline?, &loads?, &survivors, &probes?);
        controller.stop()?;
        Ok(result)
    })();
    let stopped = chain.stop();
    let result = measured?;
    stopped.map(|()| result)
}

/// What a client thread returned.
fn joined<T>(thread: std::thread::ScopedJoinHandle<'_, Result<T, String>>) -> Result<T, String> {
    thread.join().unwrap_or_else(|_| Err("a client thread panicked".into()))
}

/// A steady closed-loop load from `node`'s host: reads at `node`, writes through it.
fn load(
    chain: &ManagedChain,
    node: &str,
    args: &BenchFailoverArgs,
    seed: u64,
) -> Result<(Instant, netcraq_client::WorkloadReport), String> {
    let address = chain.address(node)?;
    let workload = Workload {
        read_fraction: args.read_fraction,
        keys: load_keys(args.keys),
        key_distribution: KeyDistribution::Uniform,
        concurrency: args.outstanding,
        stop: Stop::AfterDuration(Duration::from_secs(args.load_s)),
        seed: seed.wrapping_add(u64::from(address.ip().octets()[3])),
        write_target: WriteTarget::Node(address),
        client: LOAD_CLIENT,
        history_capacity_ops: 8_000_000,
        progress_interval: Duration::from_millis(100),
    };
    let report = chain.inside(&host_of(node), || {
        let started = Instant::now();
        run_workload(&[address], &workload, |_| {}).map(|report| (started, report))
    })?;
    report.map_err(|e| format!("the load at {node}: {e}"))
}

/// Reads clean keys at `node` from its host, one at a time, until `probing` is cleared.
fn probe_reads(
    chain: &ManagedChain,
    node: &str,
    keys: Range<u16>,
    probing: &AtomicBool,
) -> Result<Vec<ReadAttempt>, String> {
    let address: SocketAddrV4 = chain.address(node)?;
    chain.inside(&host_of(node), || {
        let options = ClientOptions { timeout: PROBE_TIMEOUT, retries: 0, ..ClientOptions::default() };
        let mut client = Client::new(address, options);
        let mut attempts = Vec::new();
        for key in keys.clone().cycle() {
            if !probing.load(Ordering::Relaxed) {
                break;
            }
            let at = Instant::now();
            attempts.push(ReadAttempt { at, answered: client.read(key).is_ok() });
            std::thread::sleep(PROBE_PAUSE);
        }
        attempts
    })
}

fn summarize(
    victim: &'static str,
    round: u32,
    timeline: Timeline,
    loads: &[(Instant, netcraq_client::WorkloadReport)],
    survivors: &[&'static str],
    probes: &[Vec<ReadAttempt>],
) -> KillResult {
    let mut write_acks = Vec::new();
    let mut answered = Vec::new();
    let mut load_end = timeline.killed;
    for (started, report) in loads {
        load_end = load_end.max(*started + report.duration);
        let operations = report.history.as_ref().map_or(&[][..], |history| history.operations());
        for op in operations.iter().filter(|op| op.is_determinate()) {
            let at = *started + Duration::from_nanos(op.return_ns);
            answered.push(at);
            if matches!(op.action, Action::Write { .. }) {
                write_acks.push(at);
            }
        }
    }
    write_acks.sort_unstable();
    answered.sort_unstable();
    let killed = timeline.killed;
    let recovery_end = timeline.joined.min(load_end);
    KillResult {
        node: victim,
        position: position(victim),
        round,
        detection: timeline.down - killed,
        removed: timeline.removed - killed,
        write_unavailable: write_unavailability(&write_acks, killed, timeline.removed + WRITE_UNAVAILABLE_TARGET * 5),
        clean_reads: survivors
            .iter()
            .zip(probes)
            .map(|(node, attempts)| (*node, answered_share(attempts, killed, timeline.removed)))
            .collect(),
        recovery: timeline.joined - timeline.join_started,
        ops_per_s_before: rate(&answered, killed.checked_sub(BEFORE_WINDOW).unwrap_or(killed), killed),
        ops_per_s_recovery: rate(&answered, timeline.join_started, recovery_end),
        recovery_outlasted_load: timeline.joined > load_end,
    }
}

fn print_table(kind: Kind, kills: &[KillResult]) {
    println!("bench failover, {} nodes: kill -9 of a member under load, medians per position", kind.name());
    println!(
        "{:<8} {:>12} {:>16} {:>14} {:>12} {:>14}",
        "killed", "detected ms", "writes back ms", "clean reads", "recovery s", "throughput"
    );
    for node in MEMBERS {
        let of_node: Vec<&KillResult> = kills.iter().filter(|k| k.node == node).collect();
        let m = Medians::of(&of_node);
        let f = |v: Option<f64>, d: usize| v.map_or("n/a".into(), |v| format!("{v:.d$}"));
        println!(
            "{:<8} {:>12} {:>16} {:>14} {:>12} {:>14}",
            position(node),
            f(m.detection_ms, 0),
            f(m.write_unavailable_ms, 0),
            percent(m.clean_reads_answered),
            f(m.recovery_s, 2),
            percent(m.recovery_throughput)
        );
    }
}
