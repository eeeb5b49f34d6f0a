//! A node served over 127.0.0.1 for the tests: the core polled by a thread
//! as a node's poll loop would, behind the real P4Runtime server.

#![allow(dead_code)] // each test binary uses a different part

pub mod pki;

use netcraq_core::{Node, NodeConfig, Route, DEFAULT_KEY_CAPACITY};
use netcraq_node::control::control_channel;
use netcraq_p4runtime::entities::NetcraqIds;
use netcraq_p4runtime::proto::p4::v1::p4_runtime_client::P4RuntimeClient as RawClient;
use netcraq_p4runtime::P4InfoIndex;
use netcraq_p4runtime_client::P4RuntimeClient;
use netcraq_p4runtime_server::{bind, serve_on_thread, NodeService, RunningServer, ServerSettings};
use netcraq_wire::{Endpoint, Ipv4Addr, MacAddr, NetcraqFrame, NetcraqRepr, Op, CHAIN_FRAME_LEN};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

pub const TEST_TIME_LIMIT: Duration = Duration::from_secs(60);
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
pub const NODE_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
pub const HOST_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 1]);

/// A node polled by its own thread, served over 127.0.0.1:0. Frames sent
/// into `frames` are processed by the node between control requests; the
/// frames a PacketOut makes the node send arrive in `emitted`.
pub struct Fixture {
    pub server: RunningServer,
    frames: mpsc::Sender<Vec<u8>>,
    emitted: mpsc::Receiver<(u16, Vec<u8>)>,
    stop: Arc<AtomicBool>,
    poller: Option<std::thread::JoinHandle<()>>,
    pub ids: NetcraqIds,
    pub index: P4InfoIndex,
}

impl Fixture {
    pub fn start() -> Fixture {
        Fixture::start_with(None)
    }

    /// A node served over TLS when `tls` is given.
    pub fn start_with(tls: Option<tonic::transport::ServerTlsConfig>) -> Fixture {
        let (handle, mut port) = control_channel().expect("eventfd");
        let (frames, incoming) = mpsc::channel::<Vec<u8>>();
        let (sent, emitted) = mpsc::channel::<(u16, Vec<u8>)>();
        let stop = Arc::new(AtomicBool::new(false));
        let poller = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut node = Node::new(DEFAULT_KEY_CAPACITY);
                let mut scratch = [0u8; CHAIN_FRAME_LEN];
                while !stop.load(Ordering::Relaxed) {
                    port.wait(Duration::from_millis(5));
                    while let Ok(mut frame) = incoming.try_recv() {
                        node.process(1, &mut frame, &mut scratch);
                    }
                    port.poll(&mut node, &mut |egress, frame| {
                        let _ = sent.send((egress, frame.to_vec()));
                    });
                }
            })
        };
        let index = P4InfoIndex::netcraq();
        let node = move |request, timeout| handle.call(request, timeout);
        let service = NodeService::new(index.clone(), node, ServerSettings::default()).expect("service");
        let server = serve_on_thread(bind("127.0.0.1:0").expect("bind"), service, tls).expect("server thread");
        let ids = NetcraqIds::resolve(&index).expect("ids");
        Fixture { server, frames, emitted, stop, poller: Some(poller), ids, index }
    }

    pub fn address(&self) -> String {
        self.server.local_addr().to_string()
    }

    pub async fn client(&self) -> P4RuntimeClient {
        P4RuntimeClient::connect(&self.address(), 1, CALL_TIMEOUT).await.expect("connects")
    }

    pub async fn primary(&self, election_id: u128) -> P4RuntimeClient {
        let mut client = self.client().await;
        client.become_primary(election_id).await.expect("becomes primary");
        client
    }

    pub async fn raw(&self) -> RawClient<tonic::transport::Channel> {
        RawClient::connect(format!("http://{}", self.address())).await.expect("raw connect")
    }

    /// Queues a frame for the node; the poll thread processes it within a round.
    pub fn inject(&self, frame: Vec<u8>) {
        self.frames.send(frame).expect("poller alive");
    }

    /// The next frame the node sent for a PacketOut, with its egress port,
    /// if one comes within `timeout`.
    pub fn next_emitted(&self, timeout: Duration) -> Option<(u16, Vec<u8>)> {
        self.emitted.recv_timeout(timeout).ok()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(poller) = self.poller.take() {
            let _ = poller.join();
        }
    }
}

pub fn bounded<F: std::future::Future<Output = ()>>(test: F) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        tokio::time::timeout(TEST_TIME_LIMIT, test).await.expect("test finished within its time limit");
    });
}

pub fn solo_config() -> NodeConfig {
    // Head and tail left unspecified, as a SOLO entry may have them.
    let unspecified = Ipv4Addr::UNSPECIFIED;
    NodeConfig { head_ip: unspecified, tail_ip: unspecified, ..NodeConfig::solo(NODE_MAC, NODE_IP, 0, 1024) }
}

pub fn route(prefix: [u8; 4], prefix_len: u8, port: u16) -> Route {
    Route { prefix: prefix.into(), prefix_len, port, mac: MacAddr([2, 0, 0, 0, 9, port as u8]) }
}

pub fn read_frame(key: u16) -> Vec<u8> {
    let header = NetcraqRepr { op: Op::Read, version: 0, key, value: [0; 16] };
    let from = Endpoint { ip: HOST_IP, mac: HOST_MAC };
    let to = Endpoint { ip: NODE_IP, mac: NODE_MAC };
    NetcraqFrame::request(from, 40000, to, 7, header).to_bytes().to_vec()
}

/// The control plane's chain frame of `op` for `key` in `epoch`, addressed
/// to the node: what a controller sends by PacketOut.
pub fn controller_frame(op: Op, key: u16, epoch: u32) -> Vec<u8> {
    controller_header_frame(NetcraqRepr { op, version: 0, key, value: [0; 16] }, epoch)
}

/// The control plane's RENEW carrying `lease_end_ticks` in `epoch` (§9.3).
pub fn renew_frame(lease_end_ticks: u32, epoch: u32) -> Vec<u8> {
    let value = NetcraqRepr::renew_value(lease_end_ticks);
    controller_header_frame(NetcraqRepr { op: Op::Renew, version: 0, key: 0, value }, epoch)
}

fn controller_header_frame(header: NetcraqRepr, epoch: u32) -> Vec<u8> {
    let from = Endpoint { ip: HOST_IP, mac: HOST_MAC };
    let to = Endpoint { ip: NODE_IP, mac: NODE_MAC };
    NetcraqFrame { epoch, ..NetcraqFrame::request(from, 40000, to, 7, header) }.to_bytes().to_vec()
}
