//! `netcraq proxy`: etcd's v3 gRPC API in front of a real etcd
//! (docs/kubernetes.md), until Ctrl-C or SIGTERM.

use clap::Args;
use netcraq_client::{Client, ClientOptions};
use netcraq_controller::placement::PublishedPlacement;
use netcraq_metrics::MetricsServer;
use netcraq_proxy::{HotReads, Limits, ProxySeat, Slots, Upstream};
use netcraq_topology::Namespace;
use netcraq_wire::NETCRAQ_UDP_PORT;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub const PROXY_LONG_ABOUT: &str = "\
Serve etcd's v3 gRPC API (KV, Watch, Lease, Cluster, Maintenance and gRPC
health) in front of a real etcd, the store of record: every call is forwarded
with its own message and metadata, and etcd's answers and errors come back
unchanged. Point etcdctl (--endpoints=HOST:PORT) or kube-apiserver
(--etcd-servers=http://HOST:PORT) at --listen.

An etcd that does not answer at start is reported, and the proxy serves
anyway: calls fail with UNAVAILABLE until etcd answers (docs/kubernetes.md).

With --place (or --placement-from) and --netcraq-node, single-key reads of
the placed keys are answered from the proxy's cache when one NetCRAQ read
says no proxy has a write of the key in flight (hot reads,
docs/kubernetes.md). Every writer of a placed key must then go through a
proxy of the same --proxies, each with its own --proxy-index and the same
--place or --placement-from.";

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
    /// A placed key and the first of its NetCRAQ slots (one per proxy:
    /// SLOT..SLOT+proxies-1); repeat for more keys. Needs --netcraq-node
    #[arg(long, value_name = "SLOT=KEY", value_parser = parse_placement, requires = "netcraq_node")]
    place: Vec<(u16, String)>,
    /// Follow the placement published at this URL (the controller's `GET
    /// /placement`, JSON), promoting and demoting keys as it changes, instead
    /// of --place. Needs --netcraq-node
    #[arg(long, value_name = "URL", conflicts_with = "place", requires = "netcraq_node")]
    placement_from: Option<String>,
    /// Time between two fetches of --placement-from
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    placement_interval_ms: u64,
    /// NetCRAQ slots --placement-from may use (0..N); at start the proxy
    /// marks its own of them unknown, forgetting an earlier incarnation's records
    #[arg(long, value_name = "N", default_value_t = 1024)]
    placement_slots: u16,
    /// The NetCRAQ node to read and write slots at (IPv4 address)
    #[arg(long, value_name = "IPV4")]
    netcraq_node: Option<Ipv4Addr>,
    /// The network namespace to reach NetCRAQ from (a host's namespace of a
    /// topology on namespaces); default: the proxy's own
    #[arg(long, value_name = "NAME")]
    netcraq_netns: Option<String>,
    /// Time to wait for a NetCRAQ reply before retransmitting
    #[arg(long, value_name = "MS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    netcraq_timeout_ms: u64,
    /// NetCRAQ retransmissions before a read falls back to etcd or a write
    /// of a placed key is refused
    #[arg(long, value_name = "COUNT", default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=100))]
    netcraq_retries: u32,
    /// This proxy's index among the proxies that write placed keys (kept across restarts)
    #[arg(long, value_name = "INDEX", default_value_t = 0)]
    proxy_index: u16,
    /// How many proxies write placed keys
    #[arg(long, value_name = "COUNT", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    proxies: u16,
    /// Serve the proxy's metrics to Prometheus at http://ADDR/metrics: calls
    /// forwarded by method and their latency, Ranges, cache candidates,
    /// upstream failures, the hottest keys (docs/metrics.md)
    #[arg(long, value_name = "HOST:PORT")]
    metrics_listen: Option<SocketAddr>,
}

fn parse_placement(text: &str) -> Result<(u16, String), String> {
    let (slot, key) = text.split_once('=').ok_or("expected SLOT=KEY")?;
    let slot = slot.parse().map_err(|_| format!("slot {slot:?}: not a number from 0 to 65535"))?;
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    Ok((slot, key.to_string()))
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
    let hot = hot_reads(args)?;
    let _metrics = match args.metrics_listen {
        Some(address) => {
            let (exported, hot) = (upstream.clone(), hot.clone());
            let render = move || exported.render_metrics(&hot.as_ref().map(|h| h.placed_slots()).unwrap_or_default());
            let server = MetricsServer::start(address, Arc::new(render))
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
    if let Some(hot) = &hot {
        let (hot, upstream) = (hot.clone(), upstream.clone());
        let follow = args.placement_from.clone().map(|url| Follow {
            url,
            interval: Duration::from_millis(args.placement_interval_ms),
            slots: args.placement_slots,
            proxies: args.proxies,
        });
        tokio::spawn(async move {
            if let Some(follow) = &follow {
                forget_slots(&hot, follow.slots).await;
            }
            hot.restart(&upstream).await;
            println!("netcraq proxy: hot reads of {} placed keys ready", hot.placed_keys().len());
            if let Some(follow) = follow {
                follow.run(&hot, &upstream).await;
            }
        });
    }
    let counters = upstream.counters();
    netcraq_proxy::run_with_hot_reads(listener, upstream, hot, interrupted())
        .await
        .map_err(|e| format!("serving on {listening}: {e}"))?;
    let count = |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "netcraq proxy: stopped; hot reads: {} hits, {} misses, {} NetCRAQ failures, {} placed writes, {} fenced",
        count(&counters.hot_hits),
        count(&counters.hot_misses),
        count(&counters.hot_netcraq_failures),
        count(&counters.placed_writes),
        count(&counters.fenced_writes)
    );
    Ok(())
}

/// The hot-read state of `--place`, over NetCRAQ at `--netcraq-node`.
fn hot_reads(args: &ProxyArgs) -> Result<Option<Arc<HotReads>>, String> {
    let Some(node) = args.netcraq_node else { return Ok(None) };
    let options = ClientOptions {
        timeout: Duration::from_millis(args.netcraq_timeout_ms),
        retries: args.netcraq_retries,
        ..ClientOptions::default()
    };
    let slots = NetcraqSlots::start(SocketAddrV4::new(node, NETCRAQ_UDP_PORT), options, args.netcraq_netns.as_deref())?;
    let seat = ProxySeat { index: args.proxy_index, proxies: args.proxies };
    let hot = HotReads::new(Arc::new(slots), seat)?;
    for (slot, key) in &args.place {
        hot.place(key.as_bytes(), *slot).map_err(|e| format!("--place {slot}={key}: {e}"))?;
    }
    println!(
        "netcraq proxy: hot reads of {} keys over NetCRAQ at {node}, proxy {} of {}",
        args.place.len(),
        args.proxy_index,
        args.proxies
    );
    Ok(Some(Arc::new(hot)))
}

/// Marks the proxy's slots unknown before its restart, retrying until NetCRAQ answers.
async fn forget_slots(hot: &HotReads, slots: u16) {
    while let Err(error) = hot.forget_slots(slots).await {
        eprintln!("netcraq proxy: marking its slots unknown failed ({error}); retrying in 1 s");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `--placement-from`: the placement is fetched every `interval` and applied.
struct Follow {
    url: String,
    interval: Duration,
    slots: u16,
    proxies: u16,
}

/// Longest wait for the placement source's answer.
const PLACEMENT_FETCH_TIMEOUT: Duration = Duration::from_secs(2);

impl Follow {
    async fn run(self, hot: &HotReads, upstream: &Upstream) {
        let counters = upstream.counters();
        let mut last_error = None;
        loop {
            let outcome = match self.fetch().await {
                Ok(placement) => hot.set_placement(upstream, &placement.keys).await,
                Err(error) => Err(error),
            };
            match outcome {
                Ok(change) => {
                    if change.promoted + change.demoted > 0 {
                        println!(
                            "netcraq proxy: placement from {}: {} keys promoted, {} demoted, {} placed",
                            self.url,
                            change.promoted,
                            change.demoted,
                            hot.placed_keys().len()
                        );
                    }
                    last_error = None;
                }
                Err(error) => {
                    counters.placement_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // Logged once per distinct error, not at every fetch.
                    if last_error.as_ref() != Some(&error) {
                        eprintln!("netcraq proxy: placement from {} not applied: {error}", self.url);
                    }
                    last_error = Some(error);
                }
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    async fn fetch(&self) -> Result<PublishedPlacement, String> {
        let url = self.url.clone();
        let text = tokio::task::spawn_blocking(move || netcraq_metrics::scrape(&url, PLACEMENT_FETCH_TIMEOUT))
            .await
            .map_err(|e| e.to_string())??;
        PublishedPlacement::from_json(&text, self.proxies, self.slots)
    }
}

/// Slots read and written by NetCRAQ clients on worker threads (the
/// client is blocking), in `--netcraq-netns` when given.
struct NetcraqSlots {
    jobs: Mutex<mpsc::Sender<Job>>,
    /// Reads asked for and not yet sent, by slot. A read of a slot asked for
    /// while another waits joins it: the one READ, sent after both were
    /// asked for, answers both (hot keys are read by many at once).
    unsent_reads: Arc<Mutex<HashMap<u16, Vec<Done>>>>,
}

type Done = tokio::sync::oneshot::Sender<Result<[u8; 16], String>>;

enum SlotOp {
    Read(u16),
    Write(u16, [u8; 16]),
}

/// A write with its requester, or a read whose requesters wait in `unsent_reads`.
struct Job {
    op: SlotOp,
    done: Option<Done>,
}

/// Slot operations in flight at once: a hot read of N proxies' slots takes N.
const SLOT_WORKERS: usize = 8;

impl NetcraqSlots {
    fn start(node: SocketAddrV4, options: ClientOptions, netns: Option<&str>) -> Result<NetcraqSlots, String> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let unsent_reads: Arc<Mutex<HashMap<u16, Vec<Done>>>> = Arc::default();
        let (ready, started) = mpsc::channel();
        for _ in 0..SLOT_WORKERS {
            let (queue, ready, netns) = (queue.clone(), ready.clone(), netns.map(str::to_string));
            let unsent_reads = unsent_reads.clone();
            std::thread::spawn(move || {
                if let Some(name) = &netns {
                    if let Err(e) = Namespace::named(name).enter() {
                        let _ = ready.send(Err(format!("--netcraq-netns {name}: {e}")));
                        return;
                    }
                }
                let _ = ready.send(Ok(()));
                let mut client = Client::new(node, options);
                loop {
                    let job = locked(&queue).recv();
                    let Ok(job) = job else { return };
                    let (result, requesters) = match job.op {
                        SlotOp::Read(slot) => {
                            // Taken before the READ is sent: a read asked for from now on waits for the next.
                            let requesters = locked(&unsent_reads).remove(&slot).unwrap_or_default();
                            (client.read(slot).map(|reply| reply.value), requesters)
                        }
                        SlotOp::Write(slot, value) => (client.write(slot, value).map(|_| value), Vec::new()),
                    };
                    let result = result.map_err(|e| e.to_string());
                    for done in job.done.into_iter().chain(requesters) {
                        let _ = done.send(result.clone());
                    }
                }
            });
        }
        for _ in 0..SLOT_WORKERS {
            started.recv().map_err(|_| "a NetCRAQ worker did not start")??;
        }
        Ok(NetcraqSlots { jobs: Mutex::new(jobs), unsent_reads })
    }

    /// Hands `op` to a worker, or joins an unsent read of the same slot;
    /// the receiver gets its result.
    fn submit(&self, op: SlotOp) -> Result<tokio::sync::oneshot::Receiver<Result<[u8; 16], String>>, String> {
        let (done, result) = tokio::sync::oneshot::channel();
        let done = match op {
            SlotOp::Read(slot) => {
                let mut unsent_reads = locked(&self.unsent_reads);
                let waiting = unsent_reads.entry(slot).or_default();
                waiting.push(done);
                if waiting.len() > 1 {
                    return Ok(result);
                }
                None
            }
            SlotOp::Write(..) => Some(done),
        };
        locked(&self.jobs).send(Job { op, done }).map_err(|_| "the NetCRAQ workers are gone")?;
        Ok(result)
    }
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

async fn outcome(result: tokio::sync::oneshot::Receiver<Result<[u8; 16], String>>) -> Result<[u8; 16], String> {
    result.await.map_err(|_| "a NetCRAQ worker dropped a request".to_string())?
}

#[netcraq_proxy::async_trait]
impl Slots for NetcraqSlots {
    /// Every read is handed out before the first is awaited: one round trip.
    async fn read(&self, slots: &[u16]) -> Result<Vec<[u8; 16]>, String> {
        let results = slots.iter().map(|slot| self.submit(SlotOp::Read(*slot))).collect::<Result<Vec<_>, _>>()?;
        let mut values = Vec::with_capacity(results.len());
        for result in results {
            values.push(outcome(result).await?);
        }
        Ok(values)
    }

    async fn write(&self, slot: u16, value: [u8; 16]) -> Result<(), String> {
        outcome(self.submit(SlotOp::Write(slot, value))?).await.map(|_| ())
    }
}

/// Completes once SIGINT, SIGTERM or SIGHUP arrives.
async fn interrupted() {
    while !netcraq_topology::interrupted() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
