//! A real `netcraq node` (the software node) configured entirely over
//! P4Runtime: started with no node file, its P4Runtime listener in the root
//! namespace and its data port in a namespace of its own (`--netns`), set up
//! by a controller in the root namespace, then serving a client host through
//! a veth link. Needs root; otherwise it says SKIP.

mod support;

use netcraq_client::{Client, ClientOptions};
use netcraq_core::control::{CounterId, RegisterId};
use netcraq_core::{NodeConfig, Outcome, Route};
use netcraq_p4runtime::entities::encode_bits;
use netcraq_p4runtime::proto::p4::v1 as p4;
use netcraq_p4runtime::proto::p4::v1::entity::Entity;
use netcraq_p4runtime::proto::p4::v1::update::Type::{Insert, Modify};
use netcraq_p4runtime::{NetcraqIds, P4InfoIndex};
use netcraq_p4runtime_client::{entity, update, P4RuntimeClient};
use netcraq_topology::{run_command, Namespace};
use netcraq_wire::{Ipv4Addr, MacAddr, NETCRAQ_UDP_PORT};
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use support::running_as_root;

const NODE_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const NODE_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const HOST_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 1]);
const COMMAND_LIMIT: Duration = Duration::from_secs(10);
const TEST_LIMIT: Duration = Duration::from_secs(60);

/// Two namespaces joined by a veth pair and the node process, all removed on drop.
struct Lab {
    node_ns: String,
    host_ns: String,
    node_if: String,
    host_if: String,
    dir: PathBuf,
    node: Option<Child>,
}

impl Lab {
    fn new() -> Lab {
        let id = std::process::id();
        let dir = std::env::temp_dir().join(format!("netcraq-p4runtime-netns-{id}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let lab = Lab {
            node_ns: format!("ncq-p4r-node-{id}"),
            host_ns: format!("ncq-p4r-host-{id}"),
            node_if: format!("ncqpn{}", id % 10_000_000),
            host_if: format!("ncqph{}", id % 10_000_000),
            dir,
            node: None,
        };
        let ip = |args: &[&str]| {
            run_command(Command::new("ip").args(args), COMMAND_LIMIT).unwrap_or_else(|e| panic!("{e}"));
        };
        ip(&["netns", "add", &lab.node_ns]);
        ip(&["netns", "add", &lab.host_ns]);
        ip(&[
            "link",
            "add",
            "name",
            &lab.node_if,
            "netns",
            &lab.node_ns,
            "address",
            &NODE_MAC.to_string(),
            "type",
            "veth",
            "peer",
            "name",
            &lab.host_if,
            "netns",
            &lab.host_ns,
            "address",
            &HOST_MAC.to_string(),
        ]);
        ip(&["-n", &lab.node_ns, "link", "set", &lab.node_if, "up"]);
        ip(&["-n", &lab.host_ns, "link", "set", &lab.host_if, "up"]);
        ip(&["-n", &lab.host_ns, "link", "set", "lo", "up"]);
        ip(&["-n", &lab.host_ns, "addr", "add", &format!("{HOST_IP}/24"), "dev", &lab.host_if]);
        ip(&["-n", &lab.host_ns, "route", "add", &format!("{NODE_IP}/32"), "dev", &lab.host_if]);
        ip(&[
            "-n",
            &lab.host_ns,
            "neigh",
            "add",
            &NODE_IP.to_string(),
            "lladdr",
            &NODE_MAC.to_string(),
            "dev",
            &lab.host_if,
        ]);
        // The node reads frames with AF_PACKET: checksums must be complete, not left to offload.
        let host_if = lab.host_if.clone();
        Namespace::named(&lab.host_ns)
            .run(move || netcraq_topology::set_tx_checksum_offload(&host_if, false))
            .expect("entering the host namespace")
            .expect("tx checksum offload off");
        lab
    }

    fn port_file(&self) -> PathBuf {
        self.dir.join("p4runtime.port")
    }

    fn stats_file(&self) -> PathBuf {
        self.dir.join("stats.json")
    }

    /// Starts the node in the root namespace; it moves itself into `node_ns`.
    fn start_node(&mut self) -> u16 {
        let child = Command::new(env!("CARGO_BIN_EXE_netcraq"))
            .args(["node", "--p4runtime", "127.0.0.1:0", "--p4runtime-port-file"])
            .arg(self.port_file())
            .args(["--netns", &self.node_ns, "--port", &format!("1={}", self.node_if), "--name", "p4n"])
            .arg("--stats")
            .arg(self.stats_file())
            .args(["--stats-interval-ms", "20"])
            .env("NETCRAQ_LOG", "warn")
            .spawn()
            .expect("netcraq node starts");
        self.node = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(port) = std::fs::read_to_string(self.port_file()).ok().and_then(|t| t.trim().parse().ok()) {
                return port;
            }
            if let Some(status) = self.node.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("netcraq node exited early: {status}");
            }
            assert!(Instant::now() < deadline, "the node wrote no P4Runtime port within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut child) = self.node.take() {
            // Ours, by its PID: SIGTERM first so it exits cleanly, then SIGKILL.
            // Kill(2) on the PID of a child we have not reaped.
            netcraq_topology::send_signal(child.id() as libc::pid_t, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(3);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.node_ns, &self.host_ns] {
            let _ = run_command(Command::new("ip").args(["netns", "delete", ns]), COMMAND_LIMIT);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn solo() -> NodeConfig {
    // Head and tail left unspecified, as a SOLO entry may have them.
    let unspecified = Ipv4Addr::UNSPECIFIED;
    NodeConfig { head_ip: unspecified, tail_ip: unspecified, ..NodeConfig::solo(NODE_MAC, NODE_IP, 0, 1024) }
}

async fn read_one(client: &mut P4RuntimeClient, query: Entity) -> Entity {
    let found = client.read(vec![entity(query)]).await.expect("read");
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().and_then(|e| e.entity).expect("an entity")
}

async fn packets(client: &mut P4RuntimeClient, ids: &NetcraqIds, counter: CounterId, index: u32) -> i64 {
    match read_one(client, Entity::CounterEntry(ids.counter_entry(counter, Some(index), None))).await {
        Entity::CounterEntry(entry) => entry.data.expect("data").packet_count,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_node_configured_only_over_p4runtime_serves_a_client_from_its_own_namespace() {
    if !running_as_root("a_node_configured_only_over_p4runtime_serves_a_client_from_its_own_namespace") {
        return;
    }
    let mut lab = Lab::new();
    let address = format!("127.0.0.1:{}", lab.start_node());
    let index = P4InfoIndex::netcraq();
    let ids = NetcraqIds::resolve(&index).expect("ids");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let value = netcraq_client::parse_value("over p4runtime").expect("value");

    // The controller, in the root namespace, reaches the node's management address.
    let mut controller = runtime.block_on(async {
        let mut controller = P4RuntimeClient::connect(&address, 1, Duration::from_secs(5)).await.expect("connect");
        controller.become_primary(1).await.expect("primary");
        let p4info = controller.get_p4info().await.expect("P4Info");
        assert_eq!(&p4info, index.p4info());
        controller.set_pipeline_config(p4info, vec![]).await.expect("its own pipeline");
        let back_to_host = Route { prefix: HOST_IP, prefix_len: 32, port: 1, mac: HOST_MAC };
        controller
            .write(vec![
                update(Modify, Entity::TableEntry(ids.config_entry(Some(&solo())))),
                update(Insert, Entity::TableEntry(ids.route_entry(&back_to_host))),
            ])
            .await
            .expect("configure");
        let query = p4::TableEntry { table_id: ids.node_config, is_default_action: true, ..Default::default() };
        let Entity::TableEntry(entry) = read_one(&mut controller, Entity::TableEntry(query)).await else { panic!() };
        assert_eq!(ids.parse_config_entry(&index, &entry), Ok(Some(solo())));
        controller
    });

    // A client in the host namespace writes and reads through the node.
    let started = Instant::now();
    let (write, read) = Namespace::named(&lab.host_ns)
        .run(move || {
            let options =
                ClientOptions { timeout: Duration::from_millis(100), retries: 20, ..ClientOptions::default() };
            let mut client = Client::new(SocketAddrV4::new(NODE_IP, NETCRAQ_UDP_PORT), options);
            let write = client.write(7, value).expect("write through the node");
            (write, client.read(7).expect("read through the node"))
        })
        .expect("entering the host namespace");
    assert!(started.elapsed() < TEST_LIMIT);
    assert_eq!((read.value, read.version), (value, write.version));

    // What the node counted and stored, read over P4Runtime.
    runtime.block_on(async {
        let outcome = |o: Outcome| o.index() as u32;
        assert_eq!(packets(&mut controller, &ids, CounterId::Outcomes, outcome(Outcome::WriteStamped)).await, 1);
        assert_eq!(packets(&mut controller, &ids, CounterId::Outcomes, outcome(Outcome::ReadLocal)).await, 1);
        assert_eq!(packets(&mut controller, &ids, CounterId::KeyWrites, 7).await, 1);
        assert_eq!(packets(&mut controller, &ids, CounterId::KeyReads, 7).await, 1);
        let stored =
            read_one(&mut controller, Entity::RegisterEntry(ids.register_entry(RegisterId::KvValue, Some(7), None)))
                .await;
        let Entity::RegisterEntry(stored) = stored else { panic!() };
        let bits = stored.data.and_then(|d| d.data);
        assert_eq!(bits, Some(p4::p4_data::Data::Bitstring(encode_bits(u128::from_be_bytes(value)))));
        let writer =
            read_one(&mut controller, Entity::RegisterEntry(ids.register_entry(RegisterId::KvWriterIp, Some(7), None)))
                .await;
        let Entity::RegisterEntry(writer) = writer else { panic!() };
        assert_eq!(writer.data.and_then(|d| d.data), Some(p4::p4_data::Data::Bitstring(HOST_IP.octets().to_vec())));
    });

    // The stats file shows the P4Runtime server's work.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats: Option<serde_json::Value> =
            std::fs::read_to_string(lab.stats_file()).ok().and_then(|t| serde_json::from_str(&t).ok());
        let rpcs = stats.as_ref().and_then(|s| s["p4runtime"]["rpcs"].as_u64()).unwrap_or(0);
        if rpcs >= 8 {
            assert_eq!(stats.as_ref().and_then(|s| s["p4runtime"]["rpcs_failed"].as_u64()), Some(0), "{stats:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no P4Runtime counters in the stats file: {stats:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(controller);
    drop(lab);
}
