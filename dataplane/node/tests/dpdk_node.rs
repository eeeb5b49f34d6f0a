//! The DPDK node on real DPDK ports (`net_ring`, in this process): every
//! conformance vector replayed through it, then its fault injection and its
//! poll loop. DPDK allows one EAL per process, so this file is one test that
//! runs its parts in order (cargo runs each test file in its own process).
//!
//! Needs the `dpdk` feature (and so DPDK installed); no hugepages, no NIC,
//! no root: the EAL runs on ordinary memory without PCI.

#![cfg(feature = "dpdk")]

use netcraq_conformance::{
    load_dir, run_files, vectors_dir, Counters, InitialState, KeyRegisters, Lease, NodeUnderTest, Output, VectorFile,
};
use netcraq_core::control::{ControlRequest, ControlResponse};
use netcraq_core::faults::{FaultSettings, PortFaults};
use netcraq_core::{FabricPort, Node, NodeConfig, Outcome, Role, Route, CONTROLLER_PORT, DEFAULT_KEY_CAPACITY};
use netcraq_dpdk::{Eal, Mbuf, MbufRing, Mempool, Port, DEFAULT_DATA_ROOM};
use netcraq_node::control::control_channel;
use netcraq_node::dpdk_node::{DpdkNode, DpdkPortSpec, DpdkSettings};
use netcraq_node::idle::Idle;
use netcraq_wire::{Endpoint, Ipv4Addr, MacAddr, NetcraqFrame, NetcraqRepr, Op};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const EAL_ARGS: &[&str] =
    &["--no-pci", "--no-huge", "-m", "256", "--no-shconf", "--no-telemetry", "--log-level=warning"];
const RING_SIZE: u32 = 256;

/// A DPDK node whose every port is a `net_ring` port: frames for port N are
/// put into N's receive ring, and all ports transmit into one capture ring,
/// so the test sees every frame sent, in the order sent, each tagged with the
/// id of the port it left by.
struct RingHarness {
    node: DpdkNode,
    pool: Mempool,
    inject: BTreeMap<u16, MbufRing>,
    capture: MbufRing,
    numbers: BTreeMap<u16, u16>,
}

impl RingHarness {
    fn new(eal: &Eal, tag: &str, pool: Mempool, ports: &[(u16, FaultSettings)]) -> RingHarness {
        let capture = MbufRing::new(eal, &format!("{tag}_out"), RING_SIZE).expect("capture ring");
        let mut specs = Vec::new();
        let mut inject = BTreeMap::new();
        for (number, faults) in ports {
            let ring = MbufRing::new(eal, &format!("{tag}_in{number}"), RING_SIZE).expect("receive ring");
            let port = Port::from_rings(eal, &format!("{tag}{number}"), &ring, &capture).expect("ring port");
            inject.insert(*number, ring);
            specs.push(DpdkPortSpec { number: *number, port, faults: *faults });
        }
        let settings = DpdkSettings { idle: Idle::Sleep(Duration::from_millis(1)), ..DpdkSettings::default() };
        let node = DpdkNode::start(Node::new(DEFAULT_KEY_CAPACITY), pool, specs, settings).expect("node starts");
        let numbers = node.ports().map(|(number, port)| (port.id(), number)).collect();
        RingHarness { node, pool, inject, capture, numbers }
    }

    fn inject(&self, ingress_port: u16, frame: &[u8]) -> Result<(), String> {
        let ring = self.inject.get(&ingress_port).ok_or(format!("the node has no port {ingress_port}"))?;
        let mbuf = Mbuf::from_bytes(&self.pool, frame).ok_or("no mbuf for the frame")?;
        ring.enqueue(mbuf).map_err(|_| "receive ring full".to_string())
    }

    /// Every frame the node has sent since the last call, in order.
    fn sent(&self) -> Result<Vec<Output>, String> {
        let mut sent = Vec::new();
        while let Some(mbuf) = self.capture.dequeue() {
            let port =
                self.numbers.get(&mbuf.port()).ok_or(format!("a frame left by unknown port id {}", mbuf.port()))?;
            sent.push(Output { port: *port, frame: mbuf.data().to_vec() });
        }
        Ok(sent)
    }
}

/// The control plane's part (node_config, ipv4_route and fabric_port
/// entries, registers, counters) goes to the core directly; every frame goes
/// through DPDK, which hands the core the port number it arrived on: the
/// number `fabric_port` matches (§2.3), not the DPDK port id.
impl NodeUnderTest for RingHarness {
    fn reset(&mut self, state: &InitialState<'_>) -> Result<(), String> {
        NodeUnderTest::reset(self.node.node_mut(), state)
    }

    fn receive(&mut self, ingress_port: u16, clock_ticks: u32, frame: &[u8]) -> Result<Vec<Output>, String> {
        self.node.node_mut().set_clock(clock_ticks);
        self.inject(ingress_port, frame)?;
        match self.node.poll_once() {
            1 => self.sent(),
            n => Err(format!("the node received {n} frames, not 1")),
        }
    }

    fn registers(&mut self) -> Result<Vec<KeyRegisters>, String> {
        NodeUnderTest::registers(self.node.node_mut())
    }

    fn counters(&mut self) -> Result<Counters, String> {
        NodeUnderTest::counters(self.node.node_mut())
    }

    fn lease(&mut self) -> Result<Lease, String> {
        NodeUnderTest::lease(self.node.node_mut())
    }
}

/// Every port number a vector receives on, sends on, routes to or marks as a
/// fabric port.
fn port_numbers(files: &[VectorFile]) -> BTreeSet<u16> {
    let mut ports = BTreeSet::new();
    for case in files.iter().flat_map(|f| &f.cases) {
        ports.extend(case.routes.iter().map(|r| r.port));
        ports.extend(case.fabric_ports.iter().map(|p| p.port));
        for step in &case.steps {
            ports.insert(step.ingress_port);
            ports.extend(step.expect.iter().map(|o| o.port));
        }
    }
    ports
}

#[test]
fn the_dpdk_node_over_ring_ports() {
    let started = Instant::now();
    let eal = Eal::init(EAL_ARGS).expect("the EAL starts without hugepages or PCI");
    let pool = Mempool::new(&eal, "node_test_pool", 4095, 32, DEFAULT_DATA_ROOM).expect("mbuf pool");
    let full = pool.available();

    passes_every_conformance_vector(&eal, pool);
    assert_eq!(pool.available(), full, "every mbuf went back to the pool");
    injects_faults(&eal, pool);
    flushes_held_frames_and_reports_when_idle(&eal, pool);
    sends_what_a_packet_out_emits_on_the_lease_clock(&eal, pool);
    assert_eq!(pool.available(), full, "every mbuf went back to the pool");
    println!("DPDK node tests took {:?}", started.elapsed());
}

fn passes_every_conformance_vector(eal: &Eal, pool: Mempool) {
    let files = load_dir(&vectors_dir()).unwrap_or_else(|error| panic!("loading the vectors: {error}"));
    let ports: Vec<(u16, FaultSettings)> =
        port_numbers(&files).into_iter().map(|n| (n, FaultSettings::default())).collect();
    let mut harness = RingHarness::new(eal, "cv", pool, &ports);
    let replay = Instant::now();
    let report = run_files(&mut harness, &files);
    assert!(report.cases > 200, "only {} cases loaded", report.cases);
    if !report.passed() {
        panic!("the DPDK node disagrees with the conformance vectors:\n{report}");
    }
    let outputs: usize = files.iter().flat_map(|f| &f.cases).flat_map(|c| &c.steps).map(|s| s.expect.len()).sum();
    let io = harness.node.io_counters();
    assert_eq!(io.rx_frames, report.steps as u64);
    assert_eq!(io.tx_frames, outputs as u64);
    assert_eq!((io.rx_errors, io.tx_errors, io.tx_no_port), (0, 0, 0));
    println!(
        "through DPDK net_ring ports {:?}: {} files, {} cases, {} steps, {outputs} frames sent: all pass ({:?})",
        harness.numbers.values().collect::<Vec<_>>(),
        report.files,
        report.cases,
        report.steps,
        replay.elapsed()
    );
}

const NODE: (MacAddr, Ipv4Addr) = (MacAddr([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(10, 0, 0, 1));
const CLIENT: (MacAddr, Ipv4Addr) = (MacAddr([2, 0, 0, 0, 1, 1]), Ipv4Addr::new(10, 0, 1, 1));

/// A SOLO node answering on port 1 for keys 0..16.
fn configure_solo(node: &mut Node) {
    node.set_config(NodeConfig::solo(NODE.0, NODE.1, 0, 16)).unwrap();
    node.routes_mut().insert(Route { prefix: CLIENT.1, prefix_len: 32, port: 1, mac: CLIENT.0 }).unwrap();
}

fn read(ident: u16) -> Vec<u8> {
    let (client, node) = (Endpoint { mac: CLIENT.0, ip: CLIENT.1 }, Endpoint { mac: NODE.0, ip: NODE.1 });
    let header = NetcraqRepr { op: Op::Read, version: 0, key: 1, value: [0; 16] };
    let frame = NetcraqFrame::request(client, 40_000, node, ident, header);
    frame.to_bytes().to_vec()
}

fn idents(outputs: &[Output]) -> Vec<u16> {
    outputs.iter().map(|o| NetcraqFrame::parse(&o.frame).unwrap().ident).collect()
}

fn faults(loss: f64, duplicate: f64, reorder: f64) -> FaultSettings {
    let faults = PortFaults { loss_percent: loss, duplicate_percent: duplicate, reorder_percent: reorder };
    FaultSettings { faults, seed: 7 }
}

fn injects_faults(eal: &Eal, pool: Mempool) {
    for (tag, settings, expected) in [
        ("loss", faults(100.0, 0.0, 0.0), vec![]),
        ("dup", faults(0.0, 100.0, 0.0), vec![1, 1, 2, 2]),
        // The first reply is held back and follows the second.
        ("reorder", faults(0.0, 0.0, 100.0), vec![2, 1]),
    ] {
        let mut harness = RingHarness::new(eal, tag, pool, &[(1, settings)]);
        configure_solo(harness.node.node_mut());
        for ident in [1, 2] {
            harness.inject(1, &read(ident)).unwrap();
        }
        assert_eq!(harness.node.poll_once(), 2);
        assert_eq!(idents(&harness.sent().unwrap()), expected, "{tag}");
        assert_eq!(harness.node.node().outcome_count(Outcome::ReadLocal), 2, "{tag}");
        let io = harness.node.io_counters();
        let counted = [io.fault_dropped, io.fault_duplicated, io.fault_reordered];
        let expected_counts = match tag {
            "loss" => [2, 0, 0],
            "dup" => [0, 2, 0],
            _ => [0, 0, 2],
        };
        assert_eq!(counted, expected_counts, "{tag}");
        assert_eq!(io.tx_frames, expected.len() as u64, "{tag}");
    }
}

fn flushes_held_frames_and_reports_when_idle(eal: &Eal, pool: Mempool) {
    let mut harness = RingHarness::new(eal, "idle", pool, &[(1, faults(0.0, 0.0, 100.0))]);
    configure_solo(harness.node.node_mut());
    harness.inject(1, &read(9)).unwrap();
    let (capture, deadline) = (harness.capture, Instant::now() + Duration::from_secs(5));
    let mut reports = 0;
    harness.node.run(|| !capture.is_empty() || Instant::now() > deadline, Duration::from_millis(5), |_| reports += 1);
    assert!(Instant::now() < deadline, "the held frame was never sent");
    assert_eq!(idents(&harness.sent().unwrap()), [9], "the held frame went out once the node fell idle");
    assert!(reports >= 2, "reports while idle and at the end: {reports}");
    let io = harness.node.io_counters();
    assert_eq!((io.rx_frames, io.tx_frames, io.fault_reordered), (1, 1, 1));
}

/// A PacketOut through the node's control port while it runs: the frame
/// its SWEEP makes leaves in an mbuf, and its RENEW (a clock read) records
/// the lease clock the loop reads (not 0: the node started a while before).
fn sends_what_a_packet_out_emits_on_the_lease_clock(eal: &Eal, pool: Mempool) {
    let started = Instant::now();
    let mut harness = RingHarness::new(eal, "pout", pool, &[(2, FaultSettings::default())]);
    let epoch = 4;
    let head = NodeConfig {
        role: Role::Head,
        successor_ip: Ipv4Addr::new(10, 0, 0, 2),
        tail_ip: Ipv4Addr::new(10, 0, 0, 3),
        epoch,
        lease_ticks: 1000,
        ..NodeConfig::solo(NODE.0, NODE.1, 0, 16)
    };
    let node = harness.node.node_mut();
    node.set_config(head).unwrap();
    node.routes_mut().insert(Route { prefix: [10, 0, 0, 0].into(), prefix_len: 24, port: 2, mac: CLIENT.0 }).unwrap();
    let controller =
        FabricPort { port: CONTROLLER_PORT, from_predecessor: false, from_successor: false, from_controller: true };
    node.fabric_ports_mut().insert(controller).unwrap();
    let (handle, port) = control_channel().expect("eventfd");
    harness.node.attach_control(port);
    let frame = |op: Op, key: u16| {
        let (client, node) = (Endpoint { mac: CLIENT.0, ip: CLIENT.1 }, Endpoint { mac: NODE.0, ip: NODE.1 });
        let header = NetcraqRepr { op, version: 0, key, value: [0; 16] };
        NetcraqFrame { epoch, ..NetcraqFrame::request(client, 40_000, node, 1, header) }.to_bytes().to_vec()
    };
    let (sweep, renew) = (frame(Op::Sweep, 5), frame(Op::Renew, 0));
    std::thread::sleep(Duration::from_millis(100));
    let done = std::sync::atomic::AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(5);
    std::thread::scope(|scope| {
        let caller = scope.spawn(|| {
            let answers =
                [sweep, renew].map(|frame| handle.call(ControlRequest::PacketOut(frame), Duration::from_secs(2)));
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            answers
        });
        let stop = || done.load(std::sync::atomic::Ordering::Relaxed) || Instant::now() > deadline;
        harness.node.run(stop, Duration::from_secs(60), |_| {});
        assert_eq!(caller.join().unwrap(), [Ok(ControlResponse::Done), Ok(ControlResponse::Done)]);
    });
    let sent = harness.sent().unwrap();
    let [Output { port: 2, frame }] = sent.as_slice() else { panic!("one frame to port 2: {sent:?}") };
    let sync = NetcraqFrame::parse(frame).unwrap();
    assert_eq!((sync.header.op, sync.header.key, sync.epoch), (Op::Sync, 5, epoch));
    let node = harness.node.node();
    assert_eq!((node.outcome_count(Outcome::SweepCopied), node.outcome_count(Outcome::RenewClockOnly)), (1, 1));
    let lease = node.lease();
    // 100 ms is 97 ticks: the loop read the clock after them, and before now.
    let ticks_since_start = (started.elapsed().as_micros() >> 10) as u32;
    assert!(!lease.held && (97..=ticks_since_start).contains(&lease.clock_ticks), "{lease:?}");
}
