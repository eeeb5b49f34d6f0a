//! Bringing topologies up and down for real: namespaces, veths, addresses,
//! routes, neighbours and processes, then nothing left. Needs root (CI runs
//! as root); otherwise each test prints "SKIP: needs root" and passes.
//!
//! The node program does not exist yet, so a stand-in sleeps after checking
//! that its node file is readable inside its namespace.

use netcraq_topology::{
    catch_interrupts, tx_checksum_offload, Event, Exit, Namespace, NodeFile, PortFaults, Running, Topology, NETNS_DIR,
    STOP_GRACE,
};
use netcraq_wire::{Ipv4Addr, MacAddr, NetcraqFrame, NetcraqRepr, Op, NETCRAQ_UDP_PORT};
use std::collections::BTreeSet;
use std::io::{self, Write};
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Root tests run one at a time, so each can compare the namespaces of this
/// process before and after without seeing another test's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn root_guard() -> Option<MutexGuard<'static, ()>> {
    if !netcraq_topology::running_as_root() {
        // Written to the real stderr, past the test harness's capture.
        let _ = writeln!(io::stderr(), "SKIP: needs root (network namespaces)");
        return None;
    }
    Some(ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

fn chain3() -> Topology {
    Topology::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/chain3.toml")).unwrap()
}

/// Stands in for `netcraq node --config FILE`: exits 1 if the file is not
/// readable from inside the namespace, else sleeps.
fn stand_in_node(node_file: &Path) -> Command {
    let mut command = Command::new("sh");
    command.args(["-c", r#"test -r "$1" && exec sleep 30"#, "stand-in-node"]).arg(node_file);
    command
}

/// Namespaces and temporary directories named after this process's runs.
fn leftovers() -> BTreeSet<String> {
    let ours = format!("ncq{}-", std::process::id());
    let names = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir).map_or(Vec::new(), |entries| {
            entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.starts_with(&ours)).collect()
        })
    };
    names(Path::new(NETNS_DIR))
        .into_iter()
        .chain(names(&std::env::temp_dir()).into_iter().map(|n| format!("tmp/{n}")))
        .collect()
}

fn ns<'a>(running: &'a Running, endpoint: &str) -> &'a Namespace {
    running.namespace(endpoint).unwrap_or_else(|| panic!("no namespace for {endpoint}"))
}

fn ip(running: &Running, endpoint: &str, args: &[&str]) -> String {
    ns(running, endpoint).ip(args).unwrap_or_else(|e| panic!("{e}"))
}

fn assert_contains(text: &str, expected: &str) {
    assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
}

/// True once `pid` is no child of ours any more: reaped, not just dead.
fn reaped(pid: u32) -> bool {
    // SAFETY: waitpid with WNOHANG only queries.
    let result = unsafe { libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), libc::WNOHANG) };
    result == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)
}

#[test]
fn chain3_comes_up_complete_and_leaves_nothing_after_a_node_crash() {
    let Some(_guard) = root_guard() else { return };
    let before = leftovers();
    let mut running = chain3().up(stand_in_node).unwrap_or_else(|e| panic!("{e}"));
    assert!(running.prefix().starts_with(&format!("ncq{}-", std::process::id())));
    let names = ["n1", "n2", "n3", "h1", "h2"].map(|e| format!("{}-{e}", running.prefix()));
    let run_dir_entry = format!("tmp/{}", running.prefix());
    let made: BTreeSet<String> = names.iter().cloned().chain([run_dir_entry]).collect();
    assert_eq!(leftovers().difference(&before).cloned().collect::<BTreeSet<_>>(), made);
    for (endpoint, name) in ["n1", "n2", "n3", "h1", "h2"].iter().zip(&names) {
        assert_eq!(ns(&running, endpoint).name(), name);
        assert_contains(&ip(&running, endpoint, &["-br", "link", "show", "lo"]), ",UP,");
    }
    check_links(&running);
    check_node_kernels_stay_out(&running);
    check_hosts(&running);
    check_node_processes(&running);

    assert_eq!(running.wait(Duration::from_millis(300)), Event::TimedOut, "every stand-in found its node file");
    let pids = ["n1", "n2", "n3"].map(|n| running.node_pid(n).unwrap());
    // SAFETY: kill has no memory effects; pids[1] is our unreaped child.
    assert_eq!(unsafe { libc::kill(pids[1] as libc::pid_t, libc::SIGKILL) }, 0);
    let crash = running.wait(Duration::from_secs(5));
    assert_eq!(crash, Event::NodeExited { node: "n2".into(), exit: Exit::Signal(libc::SIGKILL) });

    let run_dir = running.node_file("n1").unwrap().parent().unwrap().to_owned();
    running.down().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(leftovers(), before, "no namespace or directory of the run is left");
    assert!(!run_dir.exists());
    assert!(pids.iter().all(|pid| reaped(*pid)), "every node process was reaped");
    assert_eq!(running.node_pid("n1"), None);
    running.down().expect("a second teardown has nothing to do");
}

/// Each veth end is up in its endpoint's namespace, with the endpoint's MAC,
/// IPv6 off and transmit checksums computed by the kernel.
fn check_links(running: &Running) {
    for end in running.plan().links.iter().flat_map(|l| &l.ends) {
        let shown = ip(running, &end.endpoint, &["-br", "link", "show", "dev", &end.interface]);
        assert_contains(&shown, &end.mac.to_string());
        assert_contains(&shown, ",UP,");
        let interface = end.interface.clone();
        let (offload, ipv6) = ns(running, &end.endpoint)
            .run(move || {
                let ipv6 = std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{interface}/disable_ipv6"));
                (tx_checksum_offload(&interface).unwrap(), ipv6)
            })
            .unwrap();
        assert!(!offload, "{}:{} still offloads tx checksums", end.endpoint, end.interface);
        if let Ok(disabled) = ipv6 {
            assert_eq!(disabled.trim(), "1", "{}:{} has IPv6 on", end.endpoint, end.interface);
        }
    }
}

/// The kernel of a node namespace must not answer for the node or forward
/// its traffic: no IPv4 or IPv6 address on any of its veths, no forwarding.
fn check_node_kernels_stay_out(running: &Running) {
    for node in ["n1", "n2", "n3"] {
        let forwarding = ns(running, node).run(|| std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")).unwrap();
        assert_eq!(forwarding.unwrap().trim(), "0", "{node} forwards IPv4");
        for interface in ["eth1", "eth2"] {
            assert_eq!(ip(running, node, &["-o", "addr", "show", "dev", interface]), "", "{node}:{interface}");
        }
    }
}

/// A host has its address, a route to every node through its interface, and
/// a permanent neighbour entry sending each node address to its own node.
fn check_hosts(running: &Running) {
    for (host, host_ip, node_mac) in [("h1", "10.0.1.1", "02:00:0a:00:00:01"), ("h2", "10.0.1.2", "02:00:0a:00:00:03")]
    {
        assert_contains(&ip(running, host, &["-4", "-o", "addr", "show", "dev", "eth1"]), &format!("{host_ip}/32"));
        let neighbours = ip(running, host, &["neigh", "show", "dev", "eth1"]);
        for node_ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            let route = ip(running, host, &["route", "get", node_ip]);
            assert_contains(&route, &format!("{node_ip} dev eth1 src {host_ip}"));
            assert_contains(&neighbours, &format!("{node_ip} lladdr {node_mac} PERMANENT"));
        }
    }
}

/// Each node runs in its own namespace, started with its own node file.
fn check_node_processes(running: &Running) {
    for node in ["n1", "n2", "n3"] {
        let pid = running.node_pid(node).unwrap();
        let process_netns = std::fs::metadata(format!("/proc/{pid}/ns/net")).unwrap().ino();
        assert_eq!(process_netns, std::fs::metadata(ns(running, node).path()).unwrap().ino(), "{node} netns");
        let file = running.node_file(node).unwrap();
        assert_eq!(NodeFile::load(&file).unwrap().name, node);
    }
}

#[test]
fn drop_tears_down_like_down_and_ends_processes_left_in_the_namespaces() {
    let Some(_guard) = root_guard() else { return };
    let before = leftovers();
    let running = solo().up(stand_in_node).unwrap_or_else(|e| panic!("{e}"));
    let pid = running.node_pid("n1").unwrap();
    let mut client = ns(&running, "h1").command("sleep").arg("30").spawn().unwrap();
    assert_ne!(leftovers(), before);
    drop(running);
    assert_eq!(leftovers(), before);
    assert!(reaped(pid));
    let client_exit = wait_for_exit(&mut client, Duration::from_secs(2)).expect("the client was ended");
    assert_eq!(client_exit.signal(), Some(libc::SIGKILL));
}

#[test]
fn a_node_that_ignores_sigterm_is_killed_with_what_it_started() {
    let Some(_guard) = root_guard() else { return };
    let before = leftovers();
    let stubborn = |_: &Path| {
        let mut command = Command::new("sh");
        command.args(["-c", r#"trap "" TERM; sleep 30 & sleep 30"#]);
        command
    };
    let mut running = solo().up(stubborn).unwrap_or_else(|e| panic!("{e}"));
    let namespace = ns(&running, "n1").clone();
    let started = std::time::Instant::now();
    let processes = wait_for_pids(&namespace, 3);
    running.down().unwrap_or_else(|e| panic!("{e}"));
    let took = started.elapsed();
    assert!(took >= STOP_GRACE && took < STOP_GRACE + Duration::from_secs(2), "took {took:?}");
    assert_eq!(leftovers(), before);
    for pid in processes {
        assert!(gone_or_zombie(pid), "process {pid} of the node survived");
    }
}

fn solo() -> Topology {
    Topology::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/solo.toml")).unwrap()
}

fn wait_for_exit(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// The PIDs in `namespace` once there are `count` of them (within 2 s).
fn wait_for_pids(namespace: &Namespace, count: usize) -> Vec<u32> {
    for _ in 0..200 {
        let pids = namespace.pids().unwrap();
        if pids.len() >= count {
            return pids;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{} never held {count} processes", namespace.name());
}

/// A process that ended but whose parent (init, after reparenting) has not
/// reaped it yet is a zombie: gone for every practical purpose.
fn gone_or_zombie(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

#[test]
fn a_failed_up_removes_what_it_made() {
    let Some(_guard) = root_guard() else { return };
    let before = leftovers();
    let unstartable = |path: &Path| {
        let mut command = stand_in_node(path);
        command.current_dir("/nonexistent-directory");
        command
    };
    let error = chain3().up(unstartable).unwrap_err().to_string();
    assert!(error.contains("could not start") && error.contains("ip netns exec ncq"), "{error}");
    assert_eq!(leftovers(), before);
}

#[test]
fn wait_reports_a_caught_interrupt() {
    let Some(_guard) = root_guard() else { return };
    let running = chain3().up(stand_in_node).unwrap_or_else(|e| panic!("{e}"));
    catch_interrupts().unwrap();
    // SAFETY: raise has no memory effects; the handler only records SIGHUP.
    assert_eq!(unsafe { libc::raise(libc::SIGHUP) }, 0);
    assert_eq!(running.wait(Duration::from_secs(2)), Event::Interrupted(libc::SIGHUP));
    assert_eq!(running.wait(Duration::from_millis(50)), Event::TimedOut, "an interrupt is reported once");
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: restores the default action, so Ctrl-C and kill end this test binary again.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
}

#[test]
fn links_with_faults_come_up_and_the_node_files_carry_the_faults() {
    let Some(_guard) = root_guard() else { return };
    let before = leftovers();
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/chain3.toml")).unwrap();
    let faulty = format!("fault_seed = 9\n{text}")
        .replace("a = \"h1\"\nb = \"n1\"\n", "a = \"h1\"\nb = \"n1\"\nduplicate_percent = 3\n")
        .replace("a = \"n2\"\nb = \"n3\"\n", "a = \"n2\"\nb = \"n3\"\nloss_percent = 1\nreorder_percent = 4\n");
    let topology = Topology::parse(&faulty).unwrap();
    let mut running = topology.up(stand_in_node).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(running.wait(Duration::from_millis(300)), Event::TimedOut, "every stand-in found its node file");
    let ports = |node: &str| {
        let file = NodeFile::load(&running.node_file(node).unwrap()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(file.fault_seed, node_of(&topology, node).fault_seed);
        file.ports.iter().map(|p| p.faults).collect::<Vec<_>>()
    };
    let (none, duplicate, lossy) = (
        PortFaults::default(),
        PortFaults { duplicate_percent: 3.0, ..PortFaults::default() },
        PortFaults { loss_percent: 1.0, reorder_percent: 4.0, ..PortFaults::default() },
    );
    assert_eq!(ports("n1"), [duplicate, none], "towards h1 only: h1 sends to n1 unharmed");
    assert_eq!(ports("n2"), [none, lossy]);
    assert_eq!(ports("n3"), [lossy, none]);
    running.down().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(leftovers(), before);
}

/// The node's file as planned, before `up` wrote it.
fn node_of(topology: &Topology, node: &str) -> NodeFile {
    topology.plan().unwrap().nodes.into_iter().find(|n| n.name == node).unwrap()
}

/// An AF_PACKET socket on one interface, as the real node will open one per port.
struct PacketSocket(OwnedFd);

impl PacketSocket {
    /// Call from inside the interface's namespace.
    fn open(interface: &str) -> io::Result<PacketSocket> {
        let all = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: socket() returns a fresh descriptor or -1.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, i32::from(all)) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is fresh and owned by nobody else.
        let socket = PacketSocket(unsafe { OwnedFd::from_raw_fd(fd) });
        let name = std::ffi::CString::new(interface).unwrap();
        // SAFETY: sockaddr_ll is plain data; zero is a valid start.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = all;
        // SAFETY: name is a valid C string.
        address.sll_ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) } as i32;
        let length = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: address is a sockaddr_ll of the stated length.
        if unsafe { libc::bind(fd, (&address as *const libc::sockaddr_ll).cast(), length) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(socket)
    }

    /// The next frame, or a `TimedOut` error if none comes within `limit`.
    fn receive(&self, limit: Duration) -> io::Result<Vec<u8>> {
        let mut ready = libc::pollfd { fd: self.0.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let limit_ms = libc::c_int::try_from(limit.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: poll reads and writes the one pollfd it is given.
        match unsafe { libc::poll(&mut ready, 1, limit_ms) } {
            0 => return Err(io::Error::new(io::ErrorKind::TimedOut, format!("no frame within {limit:?}"))),
            n if n < 0 => return Err(io::Error::last_os_error()),
            _ => {}
        }
        let mut buffer = vec![0u8; 2048];
        // SAFETY: recv writes at most buffer.len() bytes into buffer.
        let length =
            unsafe { libc::recv(self.0.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len(), libc::MSG_DONTWAIT) };
        if length < 0 {
            return Err(io::Error::last_os_error());
        }
        buffer.truncate(length as usize);
        Ok(buffer)
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: send reads frame.len() bytes from frame.
        let sent = unsafe { libc::send(self.0.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        match usize::try_from(sent) {
            Ok(n) if n == frame.len() => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }
}

/// Whether a UDP checksum over IPv4 verifies (0 means none, which verifies).
fn udp_checksum_verifies(frame: &[u8]) -> bool {
    let (ip, udp) = (&frame[14..34], &frame[34..]);
    if udp[6..8] == [0, 0] {
        return true;
    }
    let mut pseudo = Vec::from(&ip[12..20]);
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&(udp.len() as u16).to_be_bytes());
    pseudo.extend_from_slice(udp);
    pseudo.resize(pseudo.len().next_multiple_of(2), 0);
    let mut sum: u32 = pseudo.chunks(2).map(|pair| u32::from(u16::from_be_bytes([pair[0], pair[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

#[test]
fn a_request_from_h1_reaches_n1_whole_and_a_reply_from_n1_reaches_h1() {
    let Some(_guard) = root_guard() else { return };
    let running = chain3().up(stand_in_node).unwrap_or_else(|e| panic!("{e}"));
    let port = ns(&running, "n1").run(|| PacketSocket::open("eth1")).unwrap().unwrap();
    let client = ns(&running, "h1").run(|| UdpSocket::bind("10.0.1.1:0")).unwrap().unwrap();
    client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let read = NetcraqRepr { op: Op::Read, version: 0, key: 7, value: [0; 16] };
    let mut header = [0u8; 20];
    read.emit(&mut netcraq_wire::NetcraqHeader::new_unchecked(&mut header[..]));
    client.send_to(&header, "10.0.0.3:20035").unwrap();

    // The first frame on n1's port: IPv6 is off and neighbours are static,
    // so no IPv6 or ARP frame comes first.
    let frame = port.receive(Duration::from_secs(2)).unwrap();
    let request = NetcraqFrame::parse(&frame).unwrap_or_else(|e| panic!("{e:?}: {frame:02x?}"));
    let (n1_mac, h1_mac) = (MacAddr([2, 0, 10, 0, 0, 1]), MacAddr([2, 0, 10, 0, 1, 1]));
    assert_eq!((request.eth_dst, request.eth_src), (n1_mac, h1_mac));
    assert_eq!((request.ip_src, request.ip_dst), (Ipv4Addr::new(10, 0, 1, 1), Ipv4Addr::new(10, 0, 0, 3)));
    assert_eq!((request.udp_dst, request.header), (NETCRAQ_UDP_PORT, read));
    assert_ne!(frame[40..42], [0, 0], "the kernel filled in a UDP checksum");
    assert!(udp_checksum_verifies(&frame), "a complete UDP checksum, not a partial one: {frame:02x?}");
    let mut corrupted = frame.clone();
    corrupted[50] ^= 1;
    assert!(!udp_checksum_verifies(&corrupted), "the check notices a flipped bit");

    // What n3's reply looks like when n1 forwards it to h1.
    let reply_header = NetcraqRepr { op: Op::ReadReply, ..read };
    let reply = NetcraqFrame {
        eth_src: n1_mac,
        eth_dst: h1_mac,
        ip_src: request.ip_dst,
        ip_dst: request.ip_src,
        ttl: 62,
        udp_src: NETCRAQ_UDP_PORT,
        udp_dst: request.udp_src,
        header: reply_header,
        ..request
    };
    port.send(&reply.to_bytes()).unwrap();
    let mut received = [0u8; 64];
    let (length, from) = client.recv_from(&mut received).unwrap();
    assert_eq!(from.to_string(), "10.0.0.3:20035");
    assert_eq!((length, received[0], received[3]), (20, Op::ReadReply as u8, 7));
    // Neither kernel reacted to any of it (no ICMP, ARP or IPv6 on the link).
    let silence = port.receive(Duration::from_millis(300));
    assert!(silence.as_ref().is_err_and(|e| e.kind() == io::ErrorKind::TimedOut), "{silence:02x?}");
    drop(running);
}
