//! `netcraq node --dpdk`: the DPDK node as a process, on DPDK's pcap driver
//! (frames read from one file and written to another), so it needs neither
//! root nor hugepages nor a NIC. Each test starts its own `netcraq` process,
//! and so its own EAL.

use netcraq_controller::NodeTables;
use netcraq_core::{NodeConfig, Route};
use netcraq_topology::{NodeFile, Port, PortFaults};
use netcraq_wire::{Ipv4Addr, MacAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

const NODE: (MacAddr, Ipv4Addr) = (MacAddr([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(10, 0, 0, 1));
const CLIENT: (MacAddr, Ipv4Addr) = (MacAddr([2, 0, 0, 0, 1, 1]), Ipv4Addr::new(10, 0, 1, 1));

/// A directory of its own for one test, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("netcraq-dpdk-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config() -> NodeConfig {
    NodeConfig::solo(NODE.0, NODE.1, 0, 16)
}

fn routes() -> Vec<Route> {
    vec![Route { prefix: CLIENT.1, prefix_len: 32, port: 1, mac: CLIENT.0 }]
}

/// A SOLO node with port 1 towards the client.
fn write_node_file(dir: &Path) -> PathBuf {
    let port = Port { number: 1, interface: "eth1".into(), faults: PortFaults::default(), device: None };
    let tables = NodeTables { config: config(), routes: routes(), fabric_ports: vec![], key_groups: vec![] };
    let file = NodeFile::new("solo", &tables, vec![port], 0);
    let path = dir.join("solo.toml");
    file.save(&path).unwrap();
    path
}

#[cfg(feature = "dpdk")]
mod with_dpdk {
    use super::*;
    use netcraq_core::{Node, DEFAULT_KEY_CAPACITY};
    use netcraq_wire::{Endpoint, NetcraqFrame, NetcraqRepr, Op, CHAIN_FRAME_LEN};
    use std::process::{Child, Output, Stdio};
    use std::time::{Duration, Instant};

    fn request(op: Op, key: u16, value: &[u8; 16], ident: u16) -> Vec<u8> {
        let (client, node) = (Endpoint { mac: CLIENT.0, ip: CLIENT.1 }, Endpoint { mac: NODE.0, ip: NODE.1 });
        let header = NetcraqRepr { op, version: 0, key, value: *value };
        let frame = NetcraqFrame::request(client, 40_000, node, ident, header);
        frame.to_bytes().to_vec()
    }

    /// What the core sends for `frames`, received in order on port 1.
    fn core_outputs(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut node = Node::new(DEFAULT_KEY_CAPACITY);
        node.set_config(config()).unwrap();
        for route in routes() {
            node.routes_mut().insert(route).unwrap();
        }
        let mut sent = Vec::new();
        for frame in frames {
            let (mut buffer, mut scratch) = (frame.clone(), [0u8; CHAIN_FRAME_LEN]);
            let verdict = node.process(1, &mut buffer, &mut scratch);
            sent.extend(verdict.primary.map(|e| buffer[..e.len].to_vec()));
            sent.extend(verdict.secondary.map(|e| scratch[..e.len].to_vec()));
        }
        sent
    }

    fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
        let mut bytes = Vec::new();
        for word in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65_535, 1] {
            bytes.extend(word.to_le_bytes());
        }
        for (i, frame) in frames.iter().enumerate() {
            for word in [i as u32, 0, frame.len() as u32, frame.len() as u32] {
                bytes.extend(word.to_le_bytes());
            }
            bytes.extend(frame);
        }
        std::fs::write(path, bytes).unwrap();
    }

    /// The frames of a little-endian pcap file, microsecond or nanosecond.
    fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        assert!(matches!(word(0), 0xa1b2_c3d4 | 0xa1b2_3c4d), "not a little-endian pcap file");
        let (mut frames, mut at) = (Vec::new(), 24);
        while at + 16 <= bytes.len() {
            let len = word(at + 8) as usize;
            frames.push(bytes[at + 16..at + 16 + len].to_vec());
            at += 16 + len;
        }
        frames
    }

    fn stats(path: &Path) -> Option<serde_json::Value> {
        std::fs::read_to_string(path).ok().and_then(|text| serde_json::from_str(&text).ok())
    }

    /// Stops the node with SIGINT and returns its output; kills it after 10 s.
    fn interrupt(mut child: Child) -> Output {
        // Kill(2) on the pid of our own child, which has not been reaped.
        netcraq_topology::send_signal(child.id() as libc::pid_t, libc::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child.wait_with_output().unwrap()
    }

    #[test]
    fn a_dpdk_node_answers_frames_from_a_pcap_file() {
        let dir = TempDir::new("pcap");
        let node_file = write_node_file(&dir.0);
        let value = *b"through-dpdk!!!!";
        let requests = vec![
            request(Op::Write, 3, &value, 1),
            request(Op::Read, 3, &[0; 16], 2),
            request(Op::Read, 99, &[0; 16], 3),
        ];
        let (input, output, stats_file) = (dir.0.join("in.pcap"), dir.0.join("out.pcap"), dir.0.join("stats.json"));
        write_pcap(&input, &requests);
        let device = format!("1=net_pcap0,rx_pcap={},tx_pcap={}", input.display(), output.display());
        let child = Command::new(env!("CARGO_BIN_EXE_netcraq"))
            .args(["node", "--config"])
            .arg(&node_file)
            .arg("--stats")
            .arg(&stats_file)
            .args(["--stats-interval-ms", "20", "--dpdk", "--no-huge -m 128 --no-telemetry --log-level=warning"])
            .args(["--dpdk-port", &device, "--dpdk-idle", "sleep:1000"])
            .env("NETCRAQ_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("netcraq starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        let last = loop {
            let last = stats(&stats_file);
            let done = last.as_ref().is_some_and(|s| s["io"]["rx_frames"] == 3 && s["io"]["tx_frames"] == 3);
            if done || Instant::now() > deadline {
                break last;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let result = interrupt(child);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(result.status.success(), "netcraq node --dpdk failed: {}\n{stderr}", result.status);
        let last = last.unwrap_or_else(|| panic!("no stats written\n{stderr}"));
        assert_eq!(last["io"]["tx_frames"], 3, "{last}\n{stderr}");
        assert_eq!(last["outcomes"]["WRITE_STAMPED"], 1, "{last}");
        assert_eq!(last["outcomes"]["READ_LOCAL"], 1, "{last}");
        assert_eq!(last["outcomes"]["KEY_OUT_OF_RANGE"], 1, "{last}");
        assert!(stderr.contains("--no-pci") && stderr.contains("--no-shconf"), "EAL arguments logged: {stderr}");
        assert!(stderr.contains("net_pcap"), "the driver is logged: {stderr}");
        let sent = read_pcap(&output);
        assert_eq!(sent, core_outputs(&requests), "the DPDK node sends what the core does");
        let reply = NetcraqFrame::parse(&sent[1]).unwrap();
        assert_eq!((reply.header.op, reply.header.value), (Op::ReadReply, value));
    }

    #[test]
    fn missing_hugepages_are_explained() {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let free = meminfo.lines().find_map(|l| l.strip_prefix("HugePages_Free:")).map(|n| n.trim().to_string());
        if free.as_deref() != Some("0") {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIP: missing_hugepages_are_explained needs a machine without free hugepages"
            );
            return;
        }
        let dir = TempDir::new("hugepages");
        let node_file = write_node_file(&dir.0);
        let result = Command::new(env!("CARGO_BIN_EXE_netcraq"))
            .args(["node", "--config"])
            .arg(&node_file)
            .args(["--dpdk", "", "--dpdk-port", "1=net_ring0"])
            .output()
            .expect("netcraq runs");
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(!result.status.success(), "{stderr}");
        for advice in [
            "none are free",
            "echo 512 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
            "mount -t hugetlbfs",
            "--no-huge -m 256",
        ] {
            assert!(stderr.contains(advice), "no {advice:?} in: {stderr}");
        }
        assert!(!stderr.contains("EAL:"), "said before DPDK starts: {stderr}");
    }
}

#[cfg(not(feature = "dpdk"))]
#[test]
fn without_the_dpdk_feature_the_node_says_how_to_get_it() {
    let dir = TempDir::new("nofeature");
    let node_file = write_node_file(&dir.0);
    let result = Command::new(env!("CARGO_BIN_EXE_netcraq"))
        .args(["node", "--config"])
        .arg(&node_file)
        .args(["--dpdk", "--no-huge -m 256"])
        .output()
        .expect("netcraq runs");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    assert!(stderr.contains("built without DPDK") && stderr.contains("--features dpdk"), "{stderr}");
}
