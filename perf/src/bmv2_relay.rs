//! BMv2 switches capped as the Rust nodes are. `netcraq node
//! --service-rate-fps` caps the frames a node serves, whichever port they
//! come on. BMv2 itself can cap only each egress queue (`set_queue_rate` over
//! its Thrift runtime, packets/s per port), and shaping the links into a
//! switch caps each link: neither caps a switch as a whole, and with a cap
//! per port CR's tail, which answers each host through a port of its own,
//! would serve n times the cap. So each switch runs with `--packet-in` (its
//! ports are a nanomsg PAIR socket instead of interfaces) and a relay on
//! threads of this process takes the frames off the switch's interfaces as
//! they come into one queue, hands them to the switch at the cap (the token
//! bucket and arrival queue of `netcraq_node::service_rate`), and sends what
//! the switch outputs out of the interface of its egress port
//! (perf/README.md, "Figures").

use netcraq_node::afpacket::{poll, PacketSocket};
use netcraq_node::service_rate::{Arrivals, ServiceRate};
use netcraq_topology::{Namespace, NodeFile};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// nanomsg's SP header for a PAIR socket (protocol 16).
const SP_HEADER_PAIR: [u8; 8] = [0, b'S', b'P', 0, 0, 0x10, 0, 0];
/// nanomsg's IPC transport: a message is this byte, its length (u64, big endian), its bytes.
const IPC_MESSAGE: u8 = 1;
/// BMv2's packet-in messages (`dev_mgr_packet_in.cpp`): type, port, length (i32 each, host order), the frame.
const PACKET_IN: i32 = 3;
const PACKET_OUT: i32 = 4;
const PACKET_HEADER_LEN: usize = 12;
/// Largest frame relayed whole.
const MAX_FRAME_LEN: usize = 9216;
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How long a switch may take to open its packet socket.
const CONNECT_WAIT: Duration = Duration::from_secs(20);

/// Where a switch started for a relay takes its packets: next to its node file.
pub fn packets_socket(node_file: &Path) -> PathBuf {
    node_file.with_extension("packets")
}

/// One switch's relay; [`Relay::stop`] ends its threads.
pub struct Relay {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    stream: UnixStream,
    threads: Vec<JoinHandle<()>>,
}

/// A switch port: its number and its interface's socket.
type Ports = Arc<Vec<(u16, PacketSocket)>>;

impl Relay {
    /// Opens the switch's interfaces (in `namespace`), connects to its packet
    /// socket and relays at most `rate_fps` frames per second into it.
    pub fn start(file: &NodeFile, node_file: &Path, namespace: &Namespace, rate_fps: u32) -> Result<Relay, String> {
        let mut ports = Vec::with_capacity(file.ports.len());
        for port in &file.ports {
            let socket = namespace
                .run(|| PacketSocket::open(&port.interface))
                .and_then(|opened| opened)
                .map_err(|e| format!("{}: port {} ({}): {e}", file.name, port.number, port.interface))?;
            ports.push((port.number, socket));
        }
        let ports: Ports = Arc::new(ports);
        let stream = connect(&packets_socket(node_file)).map_err(|e| format!("{}: {e}", file.name))?;
        let rate = ServiceRate::new(rate_fps, Instant::now())?;
        let (stop, served) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let clone = || stream.try_clone().map_err(|e| format!("{}: cloning its packet socket: {e}", file.name));
        let (into_switch, out_of_switch) = (clone()?, clone()?);
        let threads = vec![
            spawn(&file.name, "in", {
                let (ports, stop, served) = (Arc::clone(&ports), Arc::clone(&stop), Arc::clone(&served));
                move || relay_in(&ports, into_switch, rate, &stop, &served)
            })?,
            spawn(&file.name, "out", move || relay_out(&ports, out_of_switch))?,
        ];
        Ok(Relay { stop, served, stream, threads })
    }

    /// Frames handed to the switch so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.threads.into_iter().for_each(|thread| {
            let _ = thread.join();
        });
    }
}

fn spawn(node: &str, direction: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name(format!("relay-{node}-{direction}"))
        .spawn(f)
        .map_err(|e| format!("{node}: starting its relay: {e}"))
}

/// Connects to the switch's PAIR socket once it listens, and exchanges SP headers.
fn connect(path: &Path) -> Result<UnixStream, String> {
    let deadline = Instant::now() + CONNECT_WAIT;
    let mut stream = loop {
        match UnixStream::connect(path) {
            Ok(stream) => break stream,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("no packet socket at {} after {CONNECT_WAIT:?}: {e}", path.display())),
        }
    };
    let mut peer = [0u8; 8];
    stream
        .write_all(&SP_HEADER_PAIR)
        .and_then(|()| stream.read_exact(&mut peer))
        .map_err(|e| format!("{}: SP handshake: {e}", path.display()))?;
    if peer != SP_HEADER_PAIR {
        return Err(format!("{}: not a nanomsg PAIR socket (header {peer:?})", path.display()));
    }
    Ok(stream)
}

/// Takes frames off the ports into the arrival queue and hands them to the switch at the cap.
fn relay_in(ports: &Ports, mut switch: UnixStream, mut rate: ServiceRate, stop: &AtomicBool, served: &AtomicU64) {
    let mut arrivals: Arrivals<Vec<u8>> = Arrivals::default();
    let mut frame = [0u8; MAX_FRAME_LEN];
    while !stop.load(Ordering::Relaxed) {
        if arrivals.is_empty() {
            wait_readable(ports);
        }
        if rate.available(Instant::now()) == 0 {
            std::thread::sleep(rate.until_next().min(POLL_INTERVAL));
        }
        let budget = usize::try_from(rate.available(Instant::now())).unwrap_or(usize::MAX);
        let first = rate.first_port(ports.len());
        for index in (0..ports.len()).map(|turn| (first + turn) % ports.len()) {
            while arrivals.room() > 0 {
                let Ok(Some(len)) = ports[index].1.recv(&mut frame) else { break };
                arrivals.push(index, frame[..len].to_vec());
            }
        }
        let count = budget.min(arrivals.len());
        for _ in 0..count {
            let Some((index, bytes)) = arrivals.pop() else { break };
            if switch.write_all(&packet_in(ports[index].0, &bytes)).is_err() {
                return;
            }
        }
        rate.take(count as u64);
        served.fetch_add(count as u64, Ordering::Relaxed);
    }
}

/// Sends each frame the switch outputs out of its egress port's interface, until the switch goes.
fn relay_out(ports: &Ports, mut switch: UnixStream) {
    loop {
        let mut header = [0u8; 9];
        if switch.read_exact(&mut header).is_err() {
            return;
        }
        let len = u64::from_be_bytes(header[1..].try_into().unwrap_or_default());
        let mut message = vec![0u8; usize::try_from(len).unwrap_or(0).min(PACKET_HEADER_LEN + MAX_FRAME_LEN)];
        if switch.read_exact(&mut message).is_err() {
            return;
        }
        let Some((port, frame)) = packet_out(&message) else { continue };
        if let Some((_, socket)) = ports.iter().find(|(number, _)| i32::from(*number) == port) {
            let _ = socket.send(frame);
        }
    }
}

fn wait_readable(ports: &Ports) {
    let mut fds: Vec<libc::pollfd> = ports
        .iter()
        .map(|(_, socket)| libc::pollfd { fd: socket.as_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 })
        .collect();
    let _ = poll(&mut fds, POLL_INTERVAL);
}

/// The IPC message that hands `frame` to the switch on `port`.
fn packet_in(port: u16, frame: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(9 + PACKET_HEADER_LEN + frame.len());
    message.push(IPC_MESSAGE);
    message.extend_from_slice(&((PACKET_HEADER_LEN + frame.len()) as u64).to_be_bytes());
    for field in [PACKET_IN, i32::from(port), frame.len() as i32] {
        message.extend_from_slice(&field.to_ne_bytes());
    }
    message.extend_from_slice(frame);
    message
}

/// The port and frame of a PACKET_OUT message's body; `None` for other messages.
fn packet_out(body: &[u8]) -> Option<(i32, &[u8])> {
    let field = |at: usize| Some(i32::from_ne_bytes(body.get(at..at + 4)?.try_into().ok()?));
    let (kind, port, len) = (field(0)?, field(4)?, usize::try_from(field(8)?).ok()?);
    let frame = body.get(PACKET_HEADER_LEN..PACKET_HEADER_LEN + len)?;
    (kind == PACKET_OUT).then_some((port, frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_in_message_is_framed_as_bmv2_reads_it_and_packet_outs_parse() {
        let message = packet_in(7, b"frame");
        assert_eq!(message[0], IPC_MESSAGE);
        assert_eq!(u64::from_be_bytes(message[1..9].try_into().unwrap()), 17);
        let body = &message[9..];
        assert_eq!(&body[..4], &PACKET_IN.to_ne_bytes());
        let mut out = body.to_vec();
        out[..4].copy_from_slice(&PACKET_OUT.to_ne_bytes());
        assert_eq!(packet_out(&out), Some((7, &b"frame"[..])));
        assert_eq!(packet_out(body), None, "a PACKET_IN is not relayed out");
        assert_eq!(packet_out(&out[..14]), None, "a short message is refused");
    }
}
