//! `netcraq ctl`: the controller (`docs/controller.md`). Applies a
//! deployment file's tables to its nodes over P4Runtime and reads their
//! counters back.

use crate::ctl_top::{scrape_samples, Sources, View};
use crate::state::RunState;
use clap::{Args, Subcommand};
use netcraq_controller::placement::PlacementSettings;
use netcraq_controller::stats::{hottest_keys, read_counters, read_shares, NodeCounters};
use netcraq_controller::{block_on_runtime, load_deployment, Controller, Deployment};
use netcraq_core::Outcome;
use netcraq_p4runtime_client::{ClientTlsFiles, IdentityFiles};
use netcraq_topology::Topology;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Args)]
pub struct CtlArgs {
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Debug, Subcommand)]
enum CtlCommand {
    /// Push every node's tables: connect, become primary, check or install
    /// pipelines, write routes everywhere, then node_config from tail to
    /// head. On failure, node_config is cleared again where this apply set it.
    Apply(ApplyArgs),
    /// Read every node's counters (outcomes, key_reads, key_writes)
    Counters(CountersArgs),
    /// The hottest keys over all nodes, and each node's share of reads it
    /// answered itself (READ_LOCAL) rather than sent to the tail (READ_TO_TAIL);
    /// with --proxy-metrics/--etcd-metrics, placement: placed keys, hit
    /// rates, candidates and the moves placement would make
    Top(TopArgs),
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false, args = ["deployment", "topology"])]
struct DeploymentArgs {
    /// The deployment file (TOML: nodes with their P4Runtime addresses,
    /// hosts, links, chains; see docs/controller.md)
    #[arg(long, value_name = "FILE")]
    deployment: Option<PathBuf>,
    /// Or: the topology file of a running `netcraq up` (its nodes and their
    /// P4Runtime addresses come from the run state)
    #[arg(long, value_name = "FILE")]
    topology: Option<PathBuf>,
    /// How long one call to one node may take (default: the file's timeout_ms, else 5000)
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=600_000))]
    timeout_ms: Option<u64>,
    #[command(flatten)]
    tls: TlsArgs,
}

/// The controller's TLS toward the nodes: flattened apart, as clap's group
/// of [`DeploymentArgs`] refused `--tls-ca` next to `--deployment`.
#[derive(Debug, Args)]
struct TlsArgs {
    /// Reach the nodes over TLS, verifying their certificates with this CA
    /// (PEM); replaces the file's [tls]
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// With --tls-ca: this controller's certificate (PEM), for nodes that
    /// require mutual TLS; needs --tls-key
    #[arg(long, value_name = "FILE", requires_all = ["tls_ca", "tls_key"])]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// With --tls-ca: the name the nodes' certificates hold, if not the host
    /// of their address
    #[arg(long, value_name = "NAME", requires = "tls_ca")]
    tls_server_name: Option<String>,
}

#[derive(Debug, Args)]
struct ApplyArgs {
    #[command(flatten)]
    deployment: DeploymentArgs,
    /// This controller's election id (default: the file's election_id, else
    /// 1); must exceed any other controller's
    #[arg(long, value_name = "N")]
    election_id: Option<u128>,
    /// Switches: install the pipeline even if the switch runs the same
    /// P4Info already (wipes its registers)
    #[arg(long)]
    reinstall_pipeline: bool,
}

#[derive(Debug, Args)]
struct CountersArgs {
    #[command(flatten)]
    deployment: DeploymentArgs,
    /// Only this node
    #[arg(long, value_name = "NAME")]
    node: Option<String>,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct TopArgs {
    #[command(flatten)]
    deployment: DeploymentArgs,
    /// How many keys to list
    #[arg(long, value_name = "N", default_value_t = 10)]
    limit: usize,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
    /// The proxy's metrics (http://HOST:PORT[/metrics] of `netcraq proxy
    /// --metrics-listen`): its hottest keys, placed keys and cache hit rate
    #[arg(long, value_name = "URL")]
    proxy_metrics: Option<String>,
    /// etcd's metrics (http://HOST:PORT/metrics, its client URL): calls per
    /// second by method, over --interval-ms
    #[arg(long, value_name = "URL")]
    etcd_metrics: Option<String>,
    /// With --proxy-metrics or --etcd-metrics: rates are measured over this long
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    interval_ms: u64,
    /// Slots placement may fill (NetCRAQ keys 0..N)
    #[arg(long, value_name = "N", default_value_t = PlacementSettings::default().capacity)]
    slots: u16,
    /// Reads per second for which a key is worth a slot
    #[arg(long, value_name = "RATE", default_value_t = PlacementSettings::default().min_rate)]
    min_rate: f64,
}

pub fn run(args: &CtlArgs) -> Result<(), String> {
    match &args.command {
        CtlCommand::Apply(args) => apply(args),
        CtlCommand::Counters(args) => counters(args),
        CtlCommand::Top(args) => top(args),
    }
}

fn load(args: &DeploymentArgs) -> Result<Deployment, String> {
    let mut deployment = match (&args.deployment, &args.topology) {
        (Some(file), _) => load_deployment(file).map_err(|e| e.to_string())?,
        (None, Some(topology)) => running_topology(topology)?,
        (None, None) => return Err("give --deployment FILE or --topology FILE".to_string()),
    };
    if let Some(ms) = args.timeout_ms {
        deployment.options.timeout = Duration::from_millis(ms);
    }
    let tls = &args.tls;
    if let Some(ca) = &tls.tls_ca {
        let identity = tls.tls_cert.clone().zip(tls.tls_key.clone()).map(|(cert, key)| IdentityFiles { cert, key });
        let server_name = tls.tls_server_name.clone();
        deployment.options.tls = Some(ClientTlsFiles { ca: ca.clone(), identity, server_name });
    }
    Ok(deployment)
}

/// The deployment of a topology that `netcraq up` runs: its plan, at the
/// P4Runtime addresses of the run state.
fn running_topology(file: &Path) -> Result<Deployment, String> {
    let state = RunState::load(file)?;
    let topology = Topology::load(file).map_err(|e| e.to_string())?;
    let plan = topology.plan().map_err(|e| e.to_string())?;
    let addresses: Vec<(String, String)> =
        state.nodes.iter().filter_map(|n| Some((n.name.clone(), n.p4runtime.clone()?))).collect();
    crate::up::running_deployment(&topology, &plan.nodes, &addresses, Path::new(crate::up::DEFAULT_P4_BUILD))
}

fn apply(args: &ApplyArgs) -> Result<(), String> {
    let mut deployment = load(&args.deployment)?;
    if let Some(election_id) = args.election_id {
        deployment.election_id = election_id;
    }
    deployment.options.reinstall_pipeline |= args.reinstall_pipeline;
    let runtime = block_on_runtime().map_err(|e| format!("starting the async runtime: {e}"))?;
    let report = runtime.block_on(async {
        let mut controller = Controller::new(&deployment)?;
        controller.apply().await
    });
    let report = report.map_err(|e| e.to_string())?;
    println!("{report}");
    Ok(())
}

/// Every node's counters (or only `node`'s), read over P4Runtime.
fn read_all(deployment: &Deployment, node: Option<&str>) -> Result<Vec<NodeCounters>, String> {
    let mut deployment = deployment.clone();
    if let Some(node) = node {
        deployment.nodes.retain(|n| n.spec.name == node);
        if deployment.nodes.is_empty() {
            return Err(format!("--node {node}: the deployment has no node of that name"));
        }
    }
    let runtime = block_on_runtime().map_err(|e| format!("starting the async runtime: {e}"))?;
    runtime.block_on(async {
        let mut controller = Controller::reader(&deployment).map_err(|e| e.to_string())?;
        read_counters(&mut controller).await.map_err(|e| e.to_string())
    })
}

fn counters(args: &CountersArgs) -> Result<(), String> {
    let deployment = load(&args.deployment)?;
    let all = read_all(&deployment, args.node.as_deref())?;
    if args.json {
        let nodes: Vec<Value> = all.iter().map(counters_json).collect();
        println!("{}", json!({ "nodes": nodes }));
        return Ok(());
    }
    for node in &all {
        let address = deployment.nodes.iter().find(|n| n.spec.name == node.node).map_or("", |n| &n.spec.address);
        println!("{} ({address})", node.node);
        let outcomes: Vec<String> = Outcome::ALL
            .iter()
            .filter(|o| node.outcome(**o) > 0)
            .map(|o| format!("{} {}", o.name(), node.outcome(*o)))
            .collect();
        println!("  outcomes: {}", if outcomes.is_empty() { "none".to_string() } else { outcomes.join(", ") });
        for (name, counts) in [("key_reads", &node.key_reads), ("key_writes", &node.key_writes)] {
            let keys = counts.iter().filter(|c| **c > 0).count();
            let total = counts.iter().fold(0u64, |sum, c| sum.saturating_add(*c));
            println!("  {name}: {total} over {keys} keys");
        }
    }
    Ok(())
}

fn counters_json(node: &NodeCounters) -> Value {
    let outcomes: Map<String, Value> =
        Outcome::ALL.iter().map(|o| (o.name().to_string(), json!(node.outcome(*o)))).collect();
    let per_key = |counts: &[u64]| -> Map<String, Value> {
        counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(key, c)| (key.to_string(), json!(c))).collect()
    };
    json!({
        "node": node.node,
        "outcomes": outcomes,
        "key_reads": per_key(&node.key_reads),
        "key_writes": per_key(&node.key_writes),
    })
}

fn top(args: &TopArgs) -> Result<(), String> {
    let deployment = load(&args.deployment)?;
    let sources = Sources { proxy: args.proxy_metrics.as_deref(), etcd: args.etcd_metrics.as_deref() };
    let (all, view) = match (sources.proxy, sources.etcd) {
        (None, None) => (read_all(&deployment, None)?, None),
        _ => {
            let (all, view) = placement_view(args, &deployment, &sources)?;
            (all, Some(view))
        }
    };
    let keys = hottest_keys(&all, args.limit);
    let shares = read_shares(&all);
    if args.json {
        let keys: Vec<Value> = keys
            .iter()
            .map(|k| json!({ "key": k.key, "reads": k.reads, "writes": k.writes, "total": k.total() }))
            .collect();
        let nodes: Vec<Value> = shares
            .iter()
            .map(|s| json!({ "node": s.node, "local": s.local, "to_tail": s.to_tail, "local_share": s.local_fraction() }))
            .collect();
        let placement = view.map(|view| view.json(args.limit));
        println!("{}", json!({ "keys": keys, "nodes": nodes, "placement": placement }));
        return Ok(());
    }
    println!("hottest keys: requests the {} nodes received (a forwarded request counts at each node)", all.len());
    println!("{:>7} {:>12} {:>12} {:>12}", "key", "reads", "writes", "total");
    for key in &keys {
        println!("{:>7} {:>12} {:>12} {:>12}", key.key, key.reads, key.writes, key.total());
    }
    if keys.is_empty() {
        println!("{:>7}", "(none)");
    }
    println!();
    println!("reads answered locally (READ_LOCAL) or sent to the tail (READ_TO_TAIL):");
    println!("{:<12} {:>12} {:>12} {:>12}", "node", "local", "to tail", "local share");
    for share in &shares {
        let fraction = share.local_fraction().map_or("-".to_string(), |f| format!("{:.1} %", f * 100.0));
        println!("{:<12} {:>12} {:>12} {:>12}", share.node, share.local, share.to_tail, fraction);
    }
    if let Some(view) = view {
        view.print(&sources, args.limit);
    }
    Ok(())
}

/// The nodes' counters and etcd's scrape before and after the interval, the
/// proxy's scrape after it: the counters at the end, and the placement view.
fn placement_view(
    args: &TopArgs,
    deployment: &Deployment,
    sources: &Sources,
) -> Result<(Vec<NodeCounters>, View), String> {
    let etcd_before = sources.etcd.map(scrape_samples).transpose()?;
    let before = read_all(deployment, None)?;
    std::thread::sleep(Duration::from_millis(args.interval_ms));
    let after = read_all(deployment, None)?;
    let etcd = match (etcd_before, sources.etcd) {
        (Some(before), Some(url)) => Some((before, scrape_samples(url)?)),
        _ => None,
    };
    let proxy = sources.proxy.map(scrape_samples).transpose()?.unwrap_or_default();
    let settings = PlacementSettings { capacity: args.slots, min_rate: args.min_rate, ..PlacementSettings::default() };
    let view = View::new(etcd, proxy, (&before, &after), args.interval_ms as f64 / 1000.0, settings);
    Ok((after, view))
}
