//! `netcraq controller`: the running controller (docs/controller.md, "The
//! running controller") over a deployment file's nodes, until Ctrl-C; with
//! `--etcd`, one of several, elected in etcd ("High availability").

use clap::Args;
use netcraq_controller::election::{self, EtcdOptions, EtcdTls};
use netcraq_controller::membership::{self, MembershipBook, Publication};
use netcraq_controller::metrics::ControllerMetrics;
use netcraq_controller::running_topology::TopologyPlanner;
use netcraq_controller::service::{self, InMemory, ServiceSettings};
use netcraq_controller::supervisor::SupervisorSettings;
use netcraq_controller::{load_with_spares, Controller, StateStore};
use netcraq_metrics::MetricsServer;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// Deployment file: a topology file giving every node's P4Runtime
    /// address; `spares = [...]` in a [[chain]] names nodes that wait,
    /// unconfigured, to replace a failed member
    #[arg(long)]
    deployment: PathBuf,
    /// Election id on every node (above any other controller's); with
    /// --etcd it comes from etcd instead
    #[arg(long, default_value_t = 2, conflicts_with = "etcd")]
    election_id: u64,
    /// etcd client URLs (comma-separated): campaign for leadership of the
    /// deployment (named by the file's stem) and keep its state there; only
    /// the leader writes to the nodes, a standby takes over when it fails
    #[arg(long, value_delimiter = ',')]
    etcd: Vec<String>,
    /// The deployment's name in etcd: its leader key and state live under
    /// <prefix>/NAME/ (by default the deployment file's stem); controllers
    /// of one deployment must give the same name
    #[arg(long, requires = "etcd")]
    name: Option<String>,
    /// TTL of the leadership lease in etcd, whole seconds (at least 2): a
    /// failed leader is replaced within about this plus a second
    #[arg(long, default_value_t = election::DEFAULT_LEASE_TTL.as_secs(), requires = "etcd")]
    etcd_ttl_s: u64,
    /// CA certificate (PEM) that signed etcd's: talk to etcd over TLS (https:// URLs)
    #[arg(long, requires = "etcd")]
    etcd_ca: Option<PathBuf>,
    /// Client certificate (PEM) for an etcd that requires one (--client-cert-auth)
    #[arg(long, requires_all = ["etcd_ca", "etcd_key"])]
    etcd_cert: Option<PathBuf>,
    /// The client certificate's key (PEM)
    #[arg(long, requires = "etcd_cert")]
    etcd_key: Option<PathBuf>,
    /// Time between two probes of a node, and two lease renewals
    #[arg(long, default_value_t = 50)]
    probe_interval_ms: u64,
    /// A probe not answered within this is missed
    #[arg(long, default_value_t = 150)]
    probe_timeout_ms: u64,
    /// Probes missed in a row before a member is taken out of its chain
    #[arg(long, default_value_t = SupervisorSettings::default().miss_limit)]
    miss_limit: u32,
    /// Probes answered in a row before a node that was down may join again
    #[arg(long, default_value_t = SupervisorSettings::default().rejoin_after)]
    rejoin_after: u32,
    /// How long a lease renewal lets a member serve reads; a failed
    /// member is waited for this long (plus a margin) before its chain goes on
    #[arg(long, default_value_t = 500)]
    lease_ms: u64,
    /// Bound on each P4Runtime call of a reconfiguration
    #[arg(long, default_value_t = 1000)]
    call_timeout_ms: u64,
    /// Serve each chain's members over HTTP here (GET /membership), for
    /// `netcraq get/put --controller` to follow reconfigurations
    #[arg(long, value_name = "ADDR")]
    membership_listen: Option<SocketAddr>,
    /// Serve the controller's metrics to Prometheus at http://ADDR/metrics:
    /// probes sent and missed, reconfigurations, each chain's epoch, failure
    /// detection latency (docs/metrics.md)
    #[arg(long, value_name = "HOST:PORT")]
    metrics_listen: Option<SocketAddr>,
}

pub fn run(args: &ControllerArgs) -> Result<(), String> {
    let (topology, mut deployment) = load_with_spares(&args.deployment).map_err(|e| e.to_string())?;
    deployment.election_id = u128::from(args.election_id);
    deployment.options.timeout = Duration::from_millis(args.call_timeout_ms);
    let settings = ServiceSettings {
        probe_interval: Duration::from_millis(args.probe_interval_ms),
        probe_timeout: Duration::from_millis(args.probe_timeout_ms),
        supervisor: SupervisorSettings { miss_limit: args.miss_limit, rejoin_after: args.rejoin_after },
        lease: Duration::from_millis(args.lease_ms),
        ..ServiceSettings::default()
    };
    settings.check()?;
    let etcd = etcd_options(args)?;
    let state = service::initial_state(&topology, &settings);
    let kept = if etcd.is_some() {
        "in etcd, while this process leads"
    } else {
        "in memory only (lost when this process ends)"
    };
    eprintln!(
        "netcraq controller: {} nodes, {} chain(s); state kept {kept}; Ctrl-C stops",
        deployment.nodes.len(),
        state.chains.len()
    );
    netcraq_topology::catch_interrupts().map_err(|e| format!("catching Ctrl-C: {e}"))?;
    let runtime = service::runtime().map_err(|e| format!("starting the runtime: {e}"))?;
    let (notes_tx, notes) = tokio::sync::mpsc::unbounded_channel::<service::Note>();
    let metrics = Arc::new(ControllerMetrics::new(&state));
    let _server = args.metrics_listen.map(|address| serve_metrics(address, &metrics)).transpose()?;
    let book = MembershipBook::new(&topology, &state);
    let publication = match etcd {
        None => Publication::leading_from_start(book),
        Some(_) => Publication::elected(book),
    };
    let (listening, mut notes) = runtime
        .block_on(membership::publish(args.membership_listen, Vec::new(), publication, notes))
        .map_err(|e| format!("--membership-listen: {e}"))?;
    if let Some(address) = listening {
        eprintln!("netcraq controller: membership at http://{address}{}", membership::MEMBERSHIP_PATH);
    }
    let started = Instant::now();
    let printer = runtime.spawn(async move {
        while let Some(note) = notes.recv().await {
            metrics.observe(&note);
            if !note.what.is_probe() {
                println!("{:>9.3} s  {}", note.at.duration_since(started).as_secs_f64(), note.what);
            }
        }
    });
    let interrupted = async {
        while !netcraq_topology::interrupted() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let planner = || TopologyPlanner::new(&topology);
    let result = match etcd {
        None => {
            let controller = Controller::new(&deployment).map_err(|e| e.to_string())?;
            let mut sink = InMemory::default();
            runtime.block_on(service::run(controller, planner(), state, &mut sink, settings, notes_tx, interrupted))
        }
        Some(options) => runtime.block_on(async {
            let store = StateStore::etcd(options).await.map_err(|e| e.to_string())?;
            let name = deployment_name(args.name.as_deref(), &args.deployment)?;
            let candidate = format!("{} pid {}", hostname(), std::process::id());
            let candidacy = service::Candidacy { store: &store, deployment: &name, candidate: &candidate };
            service::run_elected(candidacy, &deployment, planner, &state, settings, notes_tx, interrupted).await
        }),
    };
    runtime.block_on(printer).map_err(|e| e.to_string())?;
    result
}

/// The etcd options the flags give, if --etcd does.
fn etcd_options(args: &ControllerArgs) -> Result<Option<EtcdOptions>, String> {
    if args.etcd.is_empty() {
        return Ok(None);
    }
    let mut options = EtcdOptions::new(args.etcd.clone());
    options.lease_ttl = Duration::from_secs(args.etcd_ttl_s);
    options.tls = args
        .etcd_ca
        .clone()
        .map(|ca| EtcdTls { ca, client_cert_and_key: args.etcd_cert.clone().zip(args.etcd_key.clone()) });
    options.validate().map_err(|e| e.to_string())?;
    Ok(Some(options))
}

/// The deployment's name in etcd: the file's stem (`chain.toml`: `chain`).
fn deployment_name(given: Option<&str>, file: &Path) -> Result<String, String> {
    if let Some(name) = given {
        return Ok(name.to_string());
    }
    let stem = file.file_stem().and_then(|stem| stem.to_str());
    stem.map(str::to_string).ok_or_else(|| format!("{}: no file name to name the deployment by", file.display()))
}

/// This machine's name, for the leader key's value (who leads).
fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    if name.trim().is_empty() {
        "localhost".to_string()
    } else {
        name.trim().to_string()
    }
}

fn serve_metrics(address: SocketAddr, metrics: &Arc<ControllerMetrics>) -> Result<MetricsServer, String> {
    let exported = metrics.clone();
    let server = MetricsServer::start(address, Arc::new(move || exported.render()))
        .map_err(|e| format!("--metrics-listen {address}: {e}"))?;
    eprintln!("netcraq controller: metrics at http://{}/metrics", server.address());
    Ok(server)
}
