//! The server's own thread and tokio runtime: the node's poll loop never
//! waits for it.

use crate::counters::ServerCounters;
use crate::service::NodeService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Server, ServerTlsConfig};

/// A server running on its own thread; stopped (and joined) on drop.
pub struct RunningServer {
    local_addr: SocketAddr,
    counters: Arc<ServerCounters>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn counters(&self) -> Arc<ServerCounters> {
        self.counters.clone()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Binds the P4Runtime listener (e.g. `127.0.0.1:9559`, port 0 for any free
/// one). Separate from [`serve_on_thread`] so a node can bind in one network
/// namespace and then move its packet sockets to another.
pub fn bind(address: &str) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(address)
        .map_err(|e| std::io::Error::new(e.kind(), format!("binding the P4Runtime listener on {address}: {e}")))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves `service` on `listener` from a new thread with its own tokio
/// runtime, over TLS when `tls` is given ([`crate::tls::ServerTlsFiles::load`]).
pub fn serve_on_thread(
    listener: std::net::TcpListener,
    service: NodeService,
    tls: Option<ServerTlsConfig>,
) -> std::io::Result<RunningServer> {
    let local_addr = listener.local_addr()?;
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls).map_err(|e| std::io::Error::other(format!("TLS: {e}")))?;
    }
    let counters = service.counters();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(8)
        .thread_name("p4runtime")
        .enable_all()
        .build()?;
    let listener = {
        let _entered = runtime.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    let (shutdown, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new().name("p4runtime-server".to_string()).spawn(move || {
        runtime.block_on(async move {
            // Without TCP_NODELAY each small answer waits for the
            // controller's delayed ACK: about 40 ms a call.
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            let serving = builder.add_service(service.into_server()).serve_with_incoming(incoming);
            // Not a graceful shutdown: an open StreamChannel would hold it forever.
            tokio::select! {
                served = serving => {
                    if let Err(error) = served {
                        tracing::error!(%error, "the P4Runtime server stopped");
                    }
                }
                _ = stopped => {}
            }
        });
        // Open streams would keep it alive: the node is stopping, drop them.
        runtime.shutdown_timeout(Duration::from_millis(100));
    })?;
    Ok(RunningServer { local_addr, counters, shutdown: Some(shutdown), thread: Some(thread) })
}
