//! The control plane of a node that polls on several lcores: each lcore has
//! its own copy of the core (docs/dpdk.md), and one [`ControlRequest`] from
//! the P4Runtime server becomes requests to the lcores that hold what it
//! asks about, with one answer as from a single core:
//!
//! - table entries (`node_config`, `ipv4_route`) go to every lcore, so all
//!   copies stay the same; reads of them ask every lcore too, and copies
//!   that differ (an lcore that missed a change) are an error, never hidden;
//! - a key's registers live on the lcore owning the key (`key % lcores`);
//!   a read of every index gathers each index from its owner;
//! - counters are summed over the lcores, index by index;
//! - a PacketOut frame goes to the lcore owning its key, as a received frame
//!   would, except a `RENEW`, which goes to every lcore: each copy of the
//!   core holds its own lease (so each counts `LEASE_RENEWED`, and the
//!   node's summed counter grows by the number of lcores per `RENEW`).
//!
//! A batch of table requests goes whole to every lcore (one round trip
//! each, applied between two frames there, as on one core). A batch that
//! also touches registers or counters is split into its requests, each
//! routed as above: they stay in order, but frames may pass between them.

use crate::control::{control_channel, ControlHandle, ControlPort};
use netcraq_core::control::{ControlError, ControlRequest, ControlResponse};
use netcraq_wire::{Op, NETCRAQ_HEADER_OFFSET};
use std::time::Duration;

/// How long the fan-out waits for one lcore's answer.
pub const LCORE_CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the fan-out thread sleeps waiting for a request before it
/// looks at its stop flag again.
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// Answers `request` for a node on `lcores` lcores, asking lcore `i` with
/// `call(i, request)`.
pub fn route(
    request: ControlRequest,
    lcores: usize,
    call: &mut impl FnMut(usize, ControlRequest) -> Result<ControlResponse, ControlError>,
) -> Result<ControlResponse, ControlError> {
    assert!(lcores > 0, "a node polls on at least one lcore");
    match request {
        ControlRequest::ReadCounter { .. } => merge_reads(request, lcores, call),
        ControlRequest::ReadRegister { index: Some(index), .. }
        | ControlRequest::WriteRegister { index: Some(index), .. } => call(index as usize % lcores, request),
        ControlRequest::WriteRegister { index: None, .. } => to_every_lcore(request, lcores, call),
        ControlRequest::ReadRegister { index: None, .. } => merge_reads(request, lcores, call),
        ControlRequest::PacketOut(ref frame) if frame.get(NETCRAQ_HEADER_OFFSET) == Some(&(Op::Renew as u8)) => {
            to_each_lcore(request, lcores, call)
        }
        ControlRequest::PacketOut(ref frame) => call(key_owner(frame, lcores).unwrap_or(0), request),
        ControlRequest::Batch(requests) if requests.iter().all(is_table_request) => {
            to_every_lcore(ControlRequest::Batch(requests), lcores, call)
        }
        ControlRequest::Batch(requests) => {
            let results = requests.into_iter().map(|request| route_in_batch(request, lcores, call)).collect();
            Ok(ControlResponse::Batch(results))
        }
        table_request => {
            assert!(is_table_request(&table_request), "every other request is routed above");
            to_every_lcore(table_request, lcores, call)
        }
    }
}

/// The lcore owning the key of `frame` on a node of `lcores` lcores; `None`
/// for a frame too short to hold a key, which any lcore may drop.
pub fn key_owner(frame: &[u8], lcores: usize) -> Option<usize> {
    let key = frame.get(NETCRAQ_HEADER_OFFSET + 2..NETCRAQ_HEADER_OFFSET + 4)?;
    Some(usize::from(u16::from_be_bytes([key[0], key[1]])) % lcores)
}

/// Requests about the tables, which every lcore holds a copy of.
fn is_table_request(request: &ControlRequest) -> bool {
    matches!(
        request,
        ControlRequest::SetConfig(_)
            | ControlRequest::ClearConfig
            | ControlRequest::ReadConfig
            | ControlRequest::InsertRoute(_)
            | ControlRequest::ModifyRoute(_)
            | ControlRequest::DeleteRoute { .. }
            | ControlRequest::ReadRoutes
            | ControlRequest::InsertFabricPort(_)
            | ControlRequest::ModifyFabricPort(_)
            | ControlRequest::DeleteFabricPort(_)
            | ControlRequest::ReadFabricPorts
            | ControlRequest::InsertKeyGroup(_)
            | ControlRequest::ModifyKeyGroup(_)
            | ControlRequest::DeleteKeyGroup { .. }
            | ControlRequest::ReadKeyGroups
    )
}

fn route_in_batch(
    request: ControlRequest,
    lcores: usize,
    call: &mut impl FnMut(usize, ControlRequest) -> Result<ControlResponse, ControlError>,
) -> Result<ControlResponse, ControlError> {
    match request {
        ControlRequest::Batch(_) => Err(ControlError::BadBatch("a batch inside a batch".to_string())),
        request => route(request, lcores, call),
    }
}

/// The same request on every lcore. The copies hold the same tables, so
/// they answer alike, and that answer is the node's. Every lcore is asked
/// even after one answers differently (one that timed out missed the
/// change): the error then names them, and reads keep saying so until the
/// node restarts.
fn to_every_lcore(
    request: ControlRequest,
    lcores: usize,
    call: &mut impl FnMut(usize, ControlRequest) -> Result<ControlResponse, ControlError>,
) -> Result<ControlResponse, ControlError> {
    let first = call(0, request.clone());
    let differing: Vec<usize> = (1..lcores).filter(|&lcore| call(lcore, request.clone()) != first).collect();
    match differing.is_empty() {
        true => first,
        false => Err(ControlError::LcoresDiffer(format!(
            "lcore(s) {differing:?} answered otherwise than lcore 0 ({first:?}): their tables differ"
        ))),
    }
}

/// The same request on every lcore, each acting on its own state (not a
/// copy of the tables): done when every lcore did it, else the first
/// failure, after every lcore was asked.
fn to_each_lcore(
    request: ControlRequest,
    lcores: usize,
    call: &mut impl FnMut(usize, ControlRequest) -> Result<ControlResponse, ControlError>,
) -> Result<ControlResponse, ControlError> {
    let results: Vec<_> = (0..lcores).map(|lcore| call(lcore, request.clone())).collect();
    results.into_iter().find(Result::is_err).unwrap_or(Ok(ControlResponse::Done))
}

/// A read of every index from every lcore, merged into the node's answer:
/// counters summed index by index, each register index taken from the lcore
/// owning that key.
fn merge_reads(
    request: ControlRequest,
    lcores: usize,
    call: &mut impl FnMut(usize, ControlRequest) -> Result<ControlResponse, ControlError>,
) -> Result<ControlResponse, ControlError> {
    let mut merged = call(0, request.clone())?;
    for lcore in 1..lcores {
        match (&mut merged, call(lcore, request.clone())?) {
            (ControlResponse::Counter { packets: sum, .. }, ControlResponse::Counter { packets, .. }) => {
                sum.iter_mut().zip(packets).for_each(|(sum, count)| *sum = sum.wrapping_add(count));
            }
            (ControlResponse::Register { values: all, .. }, ControlResponse::Register { values, .. }) => {
                for (key, value) in values.into_iter().enumerate().skip(lcore).step_by(lcores) {
                    if let Some(slot) = all.get_mut(key) {
                        *slot = value;
                    }
                }
            }
            _ => return Err(ControlError::LcoresDiffer(format!("lcore {lcore} answered a read with another kind"))),
        }
    }
    Ok(merged)
}

/// The fan-out of a node on several lcores: a thread that takes the
/// server's requests from `server_port` and asks each lcore's control port.
pub struct LcoreControl {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LcoreControl {
    /// Starts the fan-out for `lcores` lcores; returns it and the control
    /// port each lcore's poll loop polls, in lcore order.
    pub fn start(mut server_port: ControlPort, lcores: usize) -> std::io::Result<(LcoreControl, Vec<ControlPort>)> {
        let mut handles: Vec<ControlHandle> = Vec::with_capacity(lcores);
        let mut ports = Vec::with_capacity(lcores);
        for _ in 0..lcores {
            let (handle, port) = control_channel()?;
            handles.push(handle);
            ports.push(port);
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new().name("netcraq-lcore-control".into()).spawn(move || {
            let mut call = |lcore: usize, request| handles[lcore].call(request, LCORE_CALL_TIMEOUT);
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                server_port.wait(IDLE_WAIT);
                server_port.serve_with(|request| route(request, lcores, &mut call));
            }
        })?;
        Ok((LcoreControl { stop, thread: Some(thread) }, ports))
    }
}

impl Drop for LcoreControl {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcraq_core::control::{apply, CounterId, RegisterId};
    use netcraq_core::{FabricPort, Node, NodeConfig, Outcome, Route, CONTROLLER_PORT};
    use netcraq_wire::{Endpoint, Ipv4Addr, MacAddr, NetcraqFrame, NetcraqRepr};

    fn config() -> NodeConfig {
        NodeConfig::solo(MacAddr([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(10, 0, 0, 1), 0, 8)
    }

    fn on(nodes: &mut [Node], request: ControlRequest) -> Result<ControlResponse, ControlError> {
        let lcores = nodes.len();
        route(request, lcores, &mut |lcore, request| apply(&mut nodes[lcore], request, &mut |_, _| {}))
    }

    #[test]
    fn tables_reach_every_lcore_and_registers_only_their_owner() {
        let mut nodes = vec![Node::new(8), Node::new(8), Node::new(8)];
        on(&mut nodes, ControlRequest::SetConfig(config())).unwrap();
        let route = Route { prefix: [10, 0, 0, 0].into(), prefix_len: 8, port: 1, mac: MacAddr([2, 0, 0, 0, 0, 9]) };
        on(&mut nodes, ControlRequest::InsertRoute(route)).unwrap();
        assert!(nodes.iter().all(|node| node.config() == Some(&config()) && node.routes().entries().len() == 1));
        let duplicate = on(&mut nodes, ControlRequest::InsertRoute(route));
        assert!(matches!(duplicate, Err(ControlError::Route(_))), "{duplicate:?}");

        for key in 0..8u32 {
            let write = ControlRequest::WriteRegister {
                register: RegisterId::KvVersion,
                index: Some(key),
                value: 10 + key as u128,
            };
            on(&mut nodes, write).unwrap();
        }
        for (lcore, node) in nodes.iter().enumerate() {
            for key in 0..8u16 {
                let expected = if usize::from(key) % 3 == lcore { 10 + key as u8 } else { 0 };
                assert_eq!(node.registers().get(key).unwrap().version, expected, "lcore {lcore} key {key}");
            }
        }
        let all = on(&mut nodes, ControlRequest::ReadRegister { register: RegisterId::KvVersion, index: None });
        let expected: Vec<u128> = (10..18).collect();
        assert_eq!(all, Ok(ControlResponse::Register { first_index: 0, values: expected }));
        let one = on(&mut nodes, ControlRequest::ReadRegister { register: RegisterId::KvVersion, index: Some(5) });
        assert_eq!(one, Ok(ControlResponse::Register { first_index: 5, values: vec![15] }));
    }

    #[test]
    fn counters_are_summed_and_batches_are_split() {
        let mut nodes = vec![Node::new(8), Node::new(8)];
        // Unconfigured nodes count every frame as DROP_UNCONFIGURED.
        let mut scratch = [0; netcraq_wire::CHAIN_FRAME_LEN];
        for (lcore, frames) in [(0, 2), (1, 3)] {
            for _ in 0..frames {
                nodes[lcore].process(1, &mut [0u8; 62], &mut scratch);
            }
        }
        let read = ControlRequest::ReadCounter { counter: CounterId::Outcomes, index: None };
        let Ok(ControlResponse::Counter { packets, .. }) = on(&mut nodes, read.clone()) else { panic!() };
        assert_eq!(packets.iter().sum::<u64>(), 5);
        let batch =
            ControlRequest::Batch(vec![ControlRequest::SetConfig(config()), read, ControlRequest::Batch(vec![])]);
        let Ok(ControlResponse::Batch(results)) = on(&mut nodes, batch) else { panic!() };
        assert_eq!(results[0], Ok(ControlResponse::Done));
        assert!(
            matches!(&results[1], Ok(ControlResponse::Counter { packets, .. }) if packets.iter().sum::<u64>() == 5)
        );
        assert!(matches!(results[2], Err(ControlError::BadBatch(_))));
        assert!(nodes.iter().all(|node| node.config() == Some(&config())));
    }

    #[test]
    fn an_lcore_that_missed_a_change_is_reported_not_hidden() {
        let mut nodes = vec![Node::new(8), Node::new(8)];
        let batch = ControlRequest::Batch(vec![ControlRequest::SetConfig(config()), ControlRequest::ReadConfig]);
        let Ok(ControlResponse::Batch(results)) = on(&mut nodes, batch) else { panic!("a table batch") };
        assert_eq!(results[1], Ok(ControlResponse::Config(Some(config()))));
        assert!(nodes.iter().all(|node| node.config() == Some(&config())), "the whole batch reached every lcore");

        // Lcore 1 does not answer in time: it misses the change.
        let mut missing_lcore_1 = |lcore: usize, request| match lcore {
            1 => Err(ControlError::TimedOut(LCORE_CALL_TIMEOUT)),
            _ => apply(&mut nodes[lcore], request, &mut |_, _| {}),
        };
        let clear = route(ControlRequest::ClearConfig, 2, &mut missing_lcore_1);
        assert!(matches!(&clear, Err(ControlError::LcoresDiffer(why)) if why.contains("[1]")), "{clear:?}");
        let read = on(&mut nodes, ControlRequest::ReadConfig);
        assert!(matches!(read, Err(ControlError::LcoresDiffer(_))), "reads keep saying so: {read:?}");
    }

    /// The control plane's `op` frame for `key`, addressed to the node of `config()`, in epoch 0.
    fn controller_frame(op: Op, key: u16) -> Vec<u8> {
        framed(NetcraqRepr { op, version: 0, key, value: [0; 16] })
    }

    /// The control plane's `RENEW` of `key` carrying `lease_end_ticks` (§9.3).
    fn renew_frame(key: u16, lease_end_ticks: u32) -> Vec<u8> {
        framed(NetcraqRepr { op: Op::Renew, version: 0, key, value: NetcraqRepr::renew_value(lease_end_ticks) })
    }

    fn framed(header: NetcraqRepr) -> Vec<u8> {
        let from = Endpoint { ip: Ipv4Addr::new(10, 0, 9, 9), mac: MacAddr([2, 0, 0, 0, 9, 9]) };
        let to = Endpoint { ip: config().own_ip, mac: config().own_mac };
        NetcraqFrame::request(from, 40000, to, 1, header).to_bytes().to_vec()
    }

    #[test]
    fn a_renew_reaches_every_lcore_and_any_other_packet_out_its_keys_owner() {
        let mut nodes = vec![Node::new(8), Node::new(8), Node::new(8)];
        let controller =
            FabricPort { port: CONTROLLER_PORT, from_predecessor: false, from_successor: false, from_controller: true };
        on(&mut nodes, ControlRequest::SetConfig(NodeConfig { lease_ticks: 50, ..config() })).unwrap();
        on(&mut nodes, ControlRequest::InsertFabricPort(controller)).unwrap();
        nodes.iter_mut().for_each(|node| node.set_clock(10));
        assert_eq!(on(&mut nodes, ControlRequest::PacketOut(renew_frame(4, 60))), Ok(ControlResponse::Done));
        for (lcore, node) in nodes.iter().enumerate() {
            assert_eq!((node.lease().end_ticks, node.lease().held), (60, true), "lcore {lcore}");
        }
        for key in [4, 5, 3] {
            on(&mut nodes, ControlRequest::PacketOut(controller_frame(Op::Sweep, key))).unwrap();
        }
        let swept: Vec<u64> = nodes.iter().map(|node| node.outcome_count(Outcome::SweepClean)).collect();
        assert_eq!(swept, vec![1, 1, 1], "keys 3, 4 and 5 belong to lcores 0, 1 and 2");
        // Too short to hold a key: lcore 0 drops it.
        on(&mut nodes, ControlRequest::PacketOut(controller_frame(Op::Sweep, 4)[..20].to_vec())).unwrap();
        assert_eq!(nodes[0].outcome_count(Outcome::DropTruncated), 1);

        // An lcore that fails is reported, and the others still renew.
        let mut missing_lcore_1 = |lcore: usize, request| match lcore {
            1 => Err(ControlError::TimedOut(LCORE_CALL_TIMEOUT)),
            _ => apply(&mut nodes[lcore], request, &mut |_, _| {}),
        };
        let renew = ControlRequest::PacketOut(renew_frame(0, 60));
        assert_eq!(route(renew, 3, &mut missing_lcore_1), Err(ControlError::TimedOut(LCORE_CALL_TIMEOUT)));
        assert_eq!(nodes[2].outcome_count(Outcome::LeaseRenewed), 2);
    }
}
