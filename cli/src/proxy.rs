//! `netcraq proxy`: etcd's v3 gRPC API in front of a real etcd
//! (docs/kubernetes.md), until Ctrl-C or SIGTERM.

use clap::Args;
use netcraq_metrics::MetricsServer;
use netcraq_proxy::{Limits, Upstream};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub const PROXY_LONG_ABOUT: &str = "\
Serve etcd's v3 gRPC API (KV, Watch, Lease, Cluster, Maintenance and gRPC
health) in front of a real etcd, the store of record: every call is forwarded
with its own message and metadata, and etcd's answers and errors come back
unchanged. Point etcdctl (--endpoints=HOST:PORT) or kube-apiserver
(--etcd-servers=http://HOST:PORT) at --listen.

An etcd that does not answer at start is reported, and the proxy serves
anyway: calls fail with UNAVAILABLE until etcd answers (docs/kubernetes.md).";

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Address to serve etcd's API on (port 0: any free port, printed)
    #[arg(long, value_name = "HOST:PORT")]
    listen: SocketAddr,
    /// etcd's client URLs, comma-separated; calls are balanced over them
    #[arg(long, value_name = "URL[,URL...]", value_delimiter = ',', required = true)]
    etcd: Vec<String>,
    /// Longest wait for etcd's answer to a unary call (watches and lease
    /// keep-alives are not bounded in time)
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    call_timeout: u64,
    /// Most Watch, LeaseKeepAlive and Snapshot streams open at once; more are
    /// refused with RESOURCE_EXHAUSTED
    #[arg(long, value_name = "COUNT", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_streams: u64,
    /// Serve the proxy's metrics to Prometheus at http://ADDR/metrics: calls
    /// forwarded by method and their latency, Ranges, cache candidates,
    /// upstream failures, the hottest keys (docs/metrics.md)
    #[arg(long, value_name = "HOST:PORT")]
    metrics_listen: Option<SocketAddr>,
}

pub fn run(args: &ProxyArgs) -> Result<(), String> {
    netcraq_topology::catch_interrupts().map_err(|e| format!("installing signal handlers: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the proxy's runtime: {e}"))?;
    runtime.block_on(serve(args))
}

async fn serve(args: &ProxyArgs) -> Result<(), String> {
    let limits = Limits {
        call_timeout: Duration::from_secs(args.call_timeout),
        max_streams: args.max_streams as usize,
        ..Limits::default()
    };
    let upstream = Upstream::new(&args.etcd, limits)?;
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.map_err(|e| format!("listening on {}: {e}", args.listen))?;
    let listening = listener.local_addr().map_err(|e| e.to_string())?;
    println!("netcraq proxy: serving etcd's v3 API on {listening}, forwarding to {}", args.etcd.join(","));
    let _metrics = match args.metrics_listen {
        Some(address) => {
            let exported = upstream.clone();
            let server = MetricsServer::start(address, Arc::new(move || exported.render_metrics()))
                .map_err(|e| format!("--metrics-listen {address}: {e}"))?;
            println!("netcraq proxy: metrics at http://{}/metrics", server.address());
            Some(server)
        }
        None => None,
    };
    match netcraq_proxy::etcd_version(&upstream).await {
        Ok(version) => println!("netcraq proxy: etcd {version} answers"),
        Err(status) => eprintln!(
            "netcraq proxy: etcd does not answer yet ({}); serving anyway, calls fail with UNAVAILABLE until it does",
            status.message()
        ),
    }
    netcraq_proxy::run(listener, upstream, interrupted()).await.map_err(|e| format!("serving on {listening}: {e}"))?;
    println!("netcraq proxy: stopped");
    Ok(())
}

/// Completes once SIGINT, SIGTERM or SIGHUP arrives.
async fn interrupted() {
    while !netcraq_topology::interrupted() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
