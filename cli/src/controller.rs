//! `netcraq controller`: the running controller (docs/controller.md, "The
//! running controller") over a deployment file's nodes, until Ctrl-C.

use clap::Args;
use netcraq_controller::metrics::ControllerMetrics;
use netcraq_controller::running_topology::TopologyPlanner;
use netcraq_controller::service::{self, InMemory, ServiceSettings};
use netcraq_controller::supervisor::SupervisorSettings;
use netcraq_controller::{load_with_spares, Controller};
use netcraq_metrics::MetricsServer;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// Deployment file: a topology file giving every node's P4Runtime
    /// address; `spares = [...]` in a [[chain]] names nodes that wait,
    /// unconfigured, to replace a failed member
    #[arg(long)]
    deployment: PathBuf,
    /// Election id on every node (above any other controller's)
    #[arg(long, default_value_t = 2)]
    election_id: u64,
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
    /// Serve the controller's metrics to Prometheus at http://ADDR/metrics:
    /// probes sent and missed, reconfigurations, each chain's epoch, failure
    /// detection latency (docs/metrics.md)
    #[arg(long, value_name = "HOST:PORT")]
    metrics_listen: Option<std::net::SocketAddr>,
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
    let controller = Controller::new(&deployment).map_err(|e| e.to_string())?;
    let state = service::initial_state(&topology, &settings);
    eprintln!(
        "netcraq controller: {} nodes, {} chain(s); state kept in memory only (lost when this process ends); \
         Ctrl-C stops",
        deployment.nodes.len(),
        state.chains.len()
    );
    netcraq_topology::catch_interrupts().map_err(|e| format!("catching Ctrl-C: {e}"))?;
    let runtime = service::runtime().map_err(|e| format!("starting the runtime: {e}"))?;
    let (notes_tx, mut notes) = tokio::sync::mpsc::unbounded_channel::<service::Note>();
    let metrics = Arc::new(ControllerMetrics::new(&state));
    let _server = args.metrics_listen.map(|address| serve_metrics(address, &metrics)).transpose()?;
    let started = Instant::now();
    let printer = runtime.spawn(async move {
        while let Some(note) = notes.recv().await {
            metrics.observe(&note);
            if !matches!(note.what, service::NoteKind::Probed { .. }) {
                println!("{:>9.3} s  {}", note.at.duration_since(started).as_secs_f64(), note.what);
            }
        }
    });
    let interrupted = async {
        while !netcraq_topology::interrupted() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let planner = TopologyPlanner::new(&topology);
    let mut sink = InMemory::default();
    let result = runtime.block_on(service::run(controller, planner, state, &mut sink, settings, notes_tx, interrupted));
    runtime.block_on(printer).map_err(|e| e.to_string())?;
    result
}

fn serve_metrics(address: std::net::SocketAddr, metrics: &Arc<ControllerMetrics>) -> Result<MetricsServer, String> {
    let exported = metrics.clone();
    let server = MetricsServer::start(address, Arc::new(move || exported.render()))
        .map_err(|e| format!("--metrics-listen {address}: {e}"))?;
    eprintln!("netcraq controller: metrics at http://{}/metrics", server.address());
    Ok(server)
}
