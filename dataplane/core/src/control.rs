//! The control vocabulary of a node (`docs/protocol.md` §2): the tables,
//! counters and registers a control plane may read and write, the frames it
//! may inject (PacketOut), the requests that do so, and [`apply`], which
//! carries one out on a [`Node`]. Pure: the P4Runtime server, the controller
//! and every backend share it, and the channel that carries requests to a
//! poll loop lives with the backends (`netcraq-node`).

use crate::{
    ConfigError, FabricPort, FabricPortError, KeyGroup, KeyGroupError, Lease, Node, NodeConfig, Outcome, Route,
    RouteError, CONTROLLER_PORT,
};
use netcraq_wire::{Ipv4Addr, CHAIN_FRAME_LEN};
use std::time::Duration;

/// Requests waiting for the poll loop at most; more are refused as busy.
pub const CONTROL_QUEUE_CAPACITY: usize = 64;
/// Requests one poll round applies at most, so control traffic cannot
/// starve the data path. A batch counts as one request: its size is
/// bounded by whoever builds it (the P4Runtime server caps updates per Write).
pub const MAX_REQUESTS_PER_ROUND: usize = 4;
/// Requests a [`ControlRequest::Batch`] holds at most.
pub const MAX_BATCH_LEN: usize = 4096;
/// Bytes a [`ControlRequest::PacketOut`] frame holds at most: room for any
/// NetCRAQ frame (66 bytes) with Ethernet padding or tags, and no more.
pub const MAX_PACKET_OUT_LEN: usize = 256;

/// The node's indirect counters (`docs/protocol.md` §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterId {
    Outcomes,
    KeyReads,
    KeyWrites,
}

impl CounterId {
    pub const ALL: [CounterId; 3] = [CounterId::Outcomes, CounterId::KeyReads, CounterId::KeyWrites];

    /// The spec's name, as in the P4 program (without the control's prefix).
    pub fn name(self) -> &'static str {
        match self {
            CounterId::Outcomes => "outcomes",
            CounterId::KeyReads => "key_reads",
            CounterId::KeyWrites => "key_writes",
        }
    }

    fn values(self, node: &Node) -> &[u64] {
        match self {
            CounterId::Outcomes => node.outcome_counts(),
            CounterId::KeyReads => node.key_reads(),
            CounterId::KeyWrites => node.key_writes(),
        }
    }

    /// How many indices the counter has on `node`.
    pub fn size(self, node: &Node) -> usize {
        match self {
            CounterId::Outcomes => Outcome::COUNT,
            _ => self.values(node).len(),
        }
    }
}

/// The node's registers that a control plane reads: the per-key registers
/// (`docs/protocol.md` §2.1) and the one-entry `lease_clock` (§2.1b), from
/// which it estimates the node's lease clock (§9.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegisterId {
    KvValue,
    KvVersion,
    KvAcked,
    KvWriterIp,
    KvWriterPort,
    KvWriterId,
    KvReceived,
    LeaseClock,
}

impl RegisterId {
    pub const ALL: [RegisterId; 8] = [
        RegisterId::KvValue,
        RegisterId::KvVersion,
        RegisterId::KvAcked,
        RegisterId::KvWriterIp,
        RegisterId::KvWriterPort,
        RegisterId::KvWriterId,
        RegisterId::KvReceived,
        RegisterId::LeaseClock,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RegisterId::KvValue => "kv_value",
            RegisterId::KvVersion => "kv_version",
            RegisterId::KvAcked => "kv_acked",
            RegisterId::KvWriterIp => "kv_writer_ip",
            RegisterId::KvWriterPort => "kv_writer_port",
            RegisterId::KvWriterId => "kv_writer_id",
            RegisterId::KvReceived => "kv_received",
            RegisterId::LeaseClock => "lease_clock",
        }
    }

    pub fn bitwidth(self) -> u32 {
        match self {
            RegisterId::KvValue => 128,
            RegisterId::KvVersion | RegisterId::KvAcked => 8,
            RegisterId::KvWriterIp | RegisterId::KvReceived | RegisterId::LeaseClock => 32,
            RegisterId::KvWriterPort | RegisterId::KvWriterId => 16,
        }
    }

    /// The largest value the register holds.
    pub fn max_value(self) -> u128 {
        u128::MAX >> (128 - self.bitwidth())
    }

    /// How many entries the register has: one per key, or one.
    fn size(self, node: &Node) -> usize {
        match self {
            RegisterId::LeaseClock => 1,
            _ => node.registers().capacity(),
        }
    }

    fn read(self, node: &Node, key: u16) -> u128 {
        let slot = node.registers().get(key).copied().unwrap_or_default();
        match self {
            RegisterId::KvValue => u128::from_be_bytes(slot.value),
            RegisterId::KvVersion => u128::from(slot.version),
            RegisterId::KvAcked => u128::from(slot.acked),
            RegisterId::KvWriterIp => u128::from(u32::from(slot.writer.ip)),
            RegisterId::KvWriterPort => u128::from(slot.writer.port),
            RegisterId::KvWriterId => u128::from(slot.writer.id),
            RegisterId::KvReceived => u128::from(slot.received),
            RegisterId::LeaseClock => u128::from(node.lease().clock_ticks),
        }
    }

    /// Stores `value`, already checked to fit [`RegisterId::bitwidth`].
    fn write(self, node: &mut Node, key: u16, value: u128) {
        if self == RegisterId::LeaseClock {
            return node.set_lease(Lease { clock_ticks: value as u32, ..node.lease() });
        }
        let Some(slot) = node.registers_mut().get_mut(key) else { return };
        match self {
            RegisterId::KvValue => slot.value = value.to_be_bytes(),
            RegisterId::KvVersion => slot.version = value as u8,
            RegisterId::KvAcked => slot.acked = value as u8,
            RegisterId::KvWriterIp => slot.writer.ip = Ipv4Addr::from(value as u32),
            RegisterId::KvWriterPort => slot.writer.port = value as u16,
            RegisterId::KvWriterId => slot.writer.id = value as u16,
            RegisterId::KvReceived => slot.received = value as u32,
            RegisterId::LeaseClock => {} // not a key's: written above
        }
    }
}

/// What a control plane may ask of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlRequest {
    /// Sets the `node_config` entry (validated as [`Node::set_config`] does).
    SetConfig(NodeConfig),
    /// Back to unconfigured: the node drops every frame (`DROP_UNCONFIGURED`).
    ClearConfig,
    ReadConfig,
    InsertRoute(Route),
    /// Replaces the action of the entry with the same prefix and length.
    ModifyRoute(Route),
    DeleteRoute {
        prefix: Ipv4Addr,
        prefix_len: u8,
    },
    ReadRoutes,
    InsertFabricPort(FabricPort),
    /// Replaces the action of the entry of the same port.
    ModifyFabricPort(FabricPort),
    DeleteFabricPort(u16),
    ReadFabricPorts,
    /// Adds a `key_group` entry (validated as [`Node::insert_key_group`] does).
    InsertKeyGroup(KeyGroup),
    /// Replaces the action of the entry with the same prefix and length.
    ModifyKeyGroup(KeyGroup),
    DeleteKeyGroup {
        key: u16,
        prefix_len: u8,
    },
    ReadKeyGroups,
    /// One index of a counter, or all of them (`index: None`).
    ReadCounter {
        counter: CounterId,
        index: Option<u32>,
    },
    /// One index of a register, or all of them.
    ReadRegister {
        register: RegisterId,
        index: Option<u32>,
    },
    /// Sets one index of a register, or all of them, to `value`.
    WriteRegister {
        register: RegisterId,
        index: Option<u32>,
        value: u128,
    },
    /// A frame from the control plane (P4Runtime PacketOut), processed as
    /// received on [`CONTROLLER_PORT`]; its outputs are sent, and its outcome
    /// shows in the counters. At most [`MAX_PACKET_OUT_LEN`] bytes.
    PacketOut(Vec<u8>),
    /// Several requests applied in order in the same round, each with its own
    /// result (no rollback): no frame is processed between them.
    Batch(Vec<ControlRequest>),
}

/// The answer to a [`ControlRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlResponse {
    Done,
    Config(Option<NodeConfig>),
    /// In lookup order: longest prefix first.
    Routes(Vec<Route>),
    /// In port order.
    FabricPorts(Vec<FabricPort>),
    /// In lookup order: longest prefix first.
    KeyGroups(Vec<KeyGroup>),
    /// Packet counts of indices `first_index..first_index + packets.len()`.
    Counter {
        first_index: u32,
        packets: Vec<u64>,
    },
    /// Values of indices `first_index..first_index + values.len()`.
    Register {
        first_index: u32,
        values: Vec<u128>,
    },
    /// One result per request of the batch, in order.
    Batch(Vec<Result<ControlResponse, ControlError>>),
}

/// Why a request failed: refused by the node, or never answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlError {
    Config(ConfigError),
    Route(RouteError),
    FabricPort(FabricPortError),
    KeyGroup(KeyGroupError),
    IndexOutOfRange {
        what: &'static str,
        index: u32,
        size: usize,
    },
    ValueTooWide {
        register: RegisterId,
        value: u128,
    },
    /// A batch inside a batch, or a batch over [`MAX_BATCH_LEN`].
    BadBatch(String),
    /// A PacketOut frame over [`MAX_PACKET_OUT_LEN`] bytes: not processed.
    PacketOutTooLong(usize),
    /// The queue to the poll loop is full: the loop is behind.
    Busy,
    /// The poll loop did not answer in time. A request it had not started by
    /// then is discarded, never applied late.
    TimedOut(Duration),
    /// The poll loop is gone (the node is stopping).
    NodeStopped,
    /// The lcores of a node answered one change differently: their copies
    /// of the tables differ, which only a bug can cause.
    LcoresDiffer(String),
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlError::Config(e) => write!(f, "node_config refused: {e}"),
            ControlError::Route(e) => write!(f, "{e}"),
            ControlError::FabricPort(e) => write!(f, "{e}"),
            ControlError::KeyGroup(e) => write!(f, "{e}"),
            ControlError::IndexOutOfRange { what, index, size } => {
                write!(f, "index {index} of {what} is out of range: it has {size} indices")
            }
            ControlError::ValueTooWide { register, value } => {
                write!(f, "value {value:#x} does not fit {} ({} bits)", register.name(), register.bitwidth())
            }
            ControlError::BadBatch(why) => write!(f, "bad batch: {why}"),
            ControlError::PacketOutTooLong(len) => write!(
                f,
                "a PacketOut of {len} bytes is refused: at most {MAX_PACKET_OUT_LEN} (a NetCRAQ chain frame is \
                 {CHAIN_FRAME_LEN})"
            ),
            ControlError::Busy => {
                write!(f, "the node's control queue is full ({CONTROL_QUEUE_CAPACITY} requests waiting): retry shortly")
            }
            ControlError::TimedOut(after) => write!(
                f,
                "the node's poll loop did not answer within {} ms (the request was not applied unless it was \
                 already under way): is the node overloaded or stuck?",
                after.as_millis()
            ),
            ControlError::NodeStopped => f.write_str("the node's poll loop has stopped"),
            ControlError::LcoresDiffer(why) => write!(f, "the node's lcores disagree ({why}): restart the node"),
        }
    }
}

impl std::error::Error for ControlError {}

/// Applies one request to the node, handing each frame it sends (a
/// PacketOut's outputs) to `emit` with its egress port. Pure: no I/O, no
/// clock.
pub fn apply(
    node: &mut Node,
    request: ControlRequest,
    emit: &mut dyn FnMut(u16, &[u8]),
) -> Result<ControlResponse, ControlError> {
    match request {
        ControlRequest::SetConfig(config) => {
            node.set_config(config).map_err(ControlError::Config)?;
            Ok(ControlResponse::Done)
        }
        ControlRequest::ClearConfig => {
            node.clear_config();
            Ok(ControlResponse::Done)
        }
        ControlRequest::ReadConfig => Ok(ControlResponse::Config(node.config().copied())),
        ControlRequest::InsertRoute(route) => {
            node.routes_mut().insert(route).map_err(ControlError::Route)?;
            Ok(ControlResponse::Done)
        }
        ControlRequest::ModifyRoute(route) => {
            let routes = node.routes_mut();
            let old = routes.remove(route.prefix, route.prefix_len).map_err(ControlError::Route)?;
            if let Err(error) = routes.insert(route) {
                // Only a bad prefix can fail here (a slot was just freed):
                // put the old entry back so a refused MODIFY changes nothing.
                let _ = routes.insert(old);
                return Err(ControlError::Route(error));
            }
            Ok(ControlResponse::Done)
        }
        ControlRequest::DeleteRoute { prefix, prefix_len } => {
            node.routes_mut().remove(prefix, prefix_len).map_err(ControlError::Route)?;
            Ok(ControlResponse::Done)
        }
        ControlRequest::ReadRoutes => Ok(ControlResponse::Routes(node.routes().entries().to_vec())),
        ControlRequest::InsertFabricPort(entry) => {
            node.fabric_ports_mut().insert(entry).map_err(ControlError::FabricPort)?;
            Ok(ControlResponse::Done)
        }
        ControlRequest::ModifyFabricPort(entry) => {
            node.fabric_ports_mut().modify(entry).map_err(ControlError::FabricPort)?;
            Ok(ControlResponse::Done)
        }
        ControlRequest::DeleteFabricPort(port) => {
            node.fabric_ports_mut().remove(port).map_err(ControlError::FabricPort)?;
            Ok(ControlResponse::Done)
        }
        ControlRequest::ReadFabricPorts => Ok(ControlResponse::FabricPorts(node.fabric_ports().entries().to_vec())),
        ControlRequest::InsertKeyGroup(group) => {
            node.insert_key_group(group).map_err(ControlError::KeyGroup)?;
            Ok(ControlResponse::Done)
        }
        ControlRequest::ModifyKeyGroup(group) => {
            node.modify_key_group(group).map_err(ControlError::KeyGroup)?;
            Ok(ControlResponse::Done)
        }
        ControlRequest::DeleteKeyGroup { key, prefix_len } => {
            node.remove_key_group(key, prefix_len).map_err(ControlError::KeyGroup)?;
            Ok(ControlResponse::Done)
        }
        ControlRequest::ReadKeyGroups => Ok(ControlResponse::KeyGroups(node.key_groups().entries().to_vec())),
        ControlRequest::ReadCounter { counter, index } => {
            let values = counter.values(node);
            let (first_index, packets) = match index {
                None => (0, values.to_vec()),
                Some(index) => (index, vec![*in_range(values, index, counter.name())?]),
            };
            Ok(ControlResponse::Counter { first_index, packets })
        }
        ControlRequest::ReadRegister { register, index } => {
            let capacity = register.size(node);
            let (first_index, values) = match index {
                None => (0, (0..capacity).map(|key| register.read(node, key as u16)).collect()),
                Some(index) => {
                    check_index(index, capacity, register.name())?;
                    (index, vec![register.read(node, index as u16)])
                }
            };
            Ok(ControlResponse::Register { first_index, values })
        }
        ControlRequest::WriteRegister { register, index, value } => {
            if value > register.max_value() {
                return Err(ControlError::ValueTooWide { register, value });
            }
            let capacity = register.size(node);
            let keys = match index {
                None => 0..capacity,
                Some(index) => {
                    check_index(index, capacity, register.name())?;
                    index as usize..index as usize + 1
                }
            };
            for key in keys {
                register.write(node, key as u16, value);
            }
            Ok(ControlResponse::Done)
        }
        ControlRequest::Batch(requests) => {
            if requests.len() > MAX_BATCH_LEN {
                return Err(ControlError::BadBatch(format!("{} requests, at most {MAX_BATCH_LEN}", requests.len())));
            }
            if requests.iter().any(|r| matches!(r, ControlRequest::Batch(_))) {
                return Err(ControlError::BadBatch("a batch inside a batch".to_string()));
            }
            Ok(ControlResponse::Batch(requests.into_iter().map(|r| apply(node, r, emit)).collect()))
        }
        ControlRequest::PacketOut(frame) => packet_out(node, frame, emit),
    }
}

/// Processes a control plane's frame as received on [`CONTROLLER_PORT`] and
/// hands its outputs to `emit`, in order.
fn packet_out(
    node: &mut Node,
    mut frame: Vec<u8>,
    emit: &mut dyn FnMut(u16, &[u8]),
) -> Result<ControlResponse, ControlError> {
    if frame.len() > MAX_PACKET_OUT_LEN {
        return Err(ControlError::PacketOutTooLong(frame.len()));
    }
    let mut scratch = [0u8; CHAIN_FRAME_LEN];
    let verdict = node.process(CONTROLLER_PORT, &mut frame, &mut scratch);
    if let Some(egress) = verdict.primary {
        emit(egress.port, &frame[..egress.len]);
    }
    if let Some(egress) = verdict.secondary {
        emit(egress.port, &scratch[..egress.len]);
    }
    Ok(ControlResponse::Done)
}

fn in_range<'a>(values: &'a [u64], index: u32, what: &'static str) -> Result<&'a u64, ControlError> {
    values.get(index as usize).ok_or(ControlError::IndexOutOfRange { what, index, size: values.len() })
}

fn check_index(index: u32, size: usize, what: &'static str) -> Result<(), ControlError> {
    match (index as usize) < size {
        true => Ok(()),
        false => Err(ControlError::IndexOutOfRange { what, index, size }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::Role;
    use netcraq_wire::{Endpoint, MacAddr, NetcraqFrame, NetcraqRepr, Op};

    fn config() -> NodeConfig {
        NodeConfig::solo(MacAddr([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(10, 0, 0, 1), 0, 16)
    }

    /// Applies a request that sends no frame.
    fn apply_quietly(node: &mut Node, request: ControlRequest) -> Result<ControlResponse, ControlError> {
        apply(node, request, &mut |port, _| panic!("a frame sent on port {port}"))
    }

    /// The control plane's `op` frame for `key`, addressed to the node of `config()`.
    fn controller_frame(op: Op, key: u16, epoch: u32) -> Vec<u8> {
        framed(NetcraqRepr { op, version: 0, key, value: [0; 16] }, epoch)
    }

    /// The control plane's `RENEW` carrying `lease_end_ticks` (§9.3).
    fn renew_frame(lease_end_ticks: u32, epoch: u32) -> Vec<u8> {
        framed(
            NetcraqRepr { op: Op::Renew, version: 0, key: 0, value: NetcraqRepr::renew_value(lease_end_ticks) },
            epoch,
        )
    }

    fn framed(header: NetcraqRepr, epoch: u32) -> Vec<u8> {
        let from = Endpoint { ip: Ipv4Addr::new(10, 0, 9, 9), mac: MacAddr([2, 0, 0, 0, 9, 9]) };
        let to = Endpoint { ip: config().own_ip, mac: config().own_mac };
        let frame = NetcraqFrame { epoch, ..NetcraqFrame::request(from, 40000, to, 1, header) };
        frame.to_bytes().to_vec()
    }

    fn route(prefix: [u8; 4], prefix_len: u8, port: u16) -> Route {
        Route { prefix: prefix.into(), prefix_len, port, mac: MacAddr([2, 0, 0, 0, 0, 9]) }
    }

    #[test]
    fn config_routes_and_registers_round_trip() {
        let mut node = Node::new(16);
        assert_eq!(apply_quietly(&mut node, ControlRequest::ReadConfig), Ok(ControlResponse::Config(None)));
        apply_quietly(&mut node, ControlRequest::SetConfig(config())).unwrap();
        assert_eq!(apply_quietly(&mut node, ControlRequest::ReadConfig), Ok(ControlResponse::Config(Some(config()))));
        let bad = NodeConfig { key_hi: 17, ..config() };
        assert!(matches!(apply_quietly(&mut node, ControlRequest::SetConfig(bad)), Err(ControlError::Config(_))));

        apply_quietly(&mut node, ControlRequest::InsertRoute(route([10, 0, 0, 0], 8, 1))).unwrap();
        let duplicate = apply_quietly(&mut node, ControlRequest::InsertRoute(route([10, 0, 0, 0], 8, 2)));
        assert_eq!(duplicate, Err(ControlError::Route(RouteError::Duplicate)));
        apply_quietly(&mut node, ControlRequest::ModifyRoute(route([10, 0, 0, 0], 8, 3))).unwrap();
        assert_eq!(
            apply_quietly(&mut node, ControlRequest::ReadRoutes),
            Ok(ControlResponse::Routes(vec![route([10, 0, 0, 0], 8, 3)]))
        );
        let missing = apply_quietly(&mut node, ControlRequest::ModifyRoute(route([11, 0, 0, 0], 8, 3)));
        assert_eq!(missing, Err(ControlError::Route(RouteError::NotFound)));
        let delete = ControlRequest::DeleteRoute { prefix: [10, 0, 0, 0].into(), prefix_len: 8 };
        apply_quietly(&mut node, delete.clone()).unwrap();
        assert_eq!(apply_quietly(&mut node, delete), Err(ControlError::Route(RouteError::NotFound)));

        let write =
            ControlRequest::WriteRegister { register: RegisterId::KvWriterIp, index: Some(3), value: 0x0a000002 };
        apply_quietly(&mut node, write).unwrap();
        assert_eq!(node.registers().get(3).unwrap().writer.ip, Ipv4Addr::new(10, 0, 0, 2));
        let read = ControlRequest::ReadRegister { register: RegisterId::KvWriterIp, index: None };
        let Ok(ControlResponse::Register { first_index: 0, values }) = apply_quietly(&mut node, read) else { panic!() };
        assert_eq!((values.len(), values[3]), (16, 0x0a000002));
        let wide = ControlRequest::WriteRegister { register: RegisterId::KvVersion, index: Some(0), value: 256 };
        assert!(matches!(apply_quietly(&mut node, wide), Err(ControlError::ValueTooWide { .. })));
        node.set_lease(Lease { clock_ticks: 4321, ..node.lease() });
        let clock = ControlRequest::ReadRegister { register: RegisterId::LeaseClock, index: None };
        let clock_read = Ok(ControlResponse::Register { first_index: 0, values: vec![4321] });
        assert_eq!(apply_quietly(&mut node, clock), clock_read, "lease_clock has one entry");
        let outside = ControlRequest::ReadRegister { register: RegisterId::LeaseClock, index: Some(1) };
        assert!(matches!(apply_quietly(&mut node, outside), Err(ControlError::IndexOutOfRange { size: 1, .. })));
        let outside = ControlRequest::ReadRegister { register: RegisterId::KvValue, index: Some(16) };
        assert!(matches!(apply_quietly(&mut node, outside), Err(ControlError::IndexOutOfRange { size: 16, .. })));
        let counter = ControlRequest::ReadCounter { counter: CounterId::Outcomes, index: Some(43) };
        assert!(matches!(apply_quietly(&mut node, counter), Err(ControlError::IndexOutOfRange { size: 43, .. })));
    }

    #[test]
    fn key_groups_round_trip() {
        let mut node = Node::new(16);
        let group = KeyGroup {
            key: 0,
            prefix_len: 13,
            role: crate::Role::Head,
            head_ip: Ipv4Addr::UNSPECIFIED,
            tail_ip: Ipv4Addr::new(10, 0, 0, 3),
            successor_ip: Ipv4Addr::new(10, 0, 0, 2),
            predecessor_ip: Ipv4Addr::UNSPECIFIED,
            epoch: 21,
            sync_epoch: 0,
        };
        apply_quietly(&mut node, ControlRequest::InsertKeyGroup(group)).unwrap();
        let twice = apply_quietly(&mut node, ControlRequest::InsertKeyGroup(group));
        assert_eq!(twice, Err(ControlError::KeyGroup(KeyGroupError::Duplicate)));
        let beyond = KeyGroup { key: 16, ..group };
        let refused = apply_quietly(&mut node, ControlRequest::InsertKeyGroup(beyond));
        assert_eq!(refused, Err(ControlError::KeyGroup(KeyGroupError::BeyondCapacity { key_end: 24, capacity: 16 })));
        let reconfigured = KeyGroup { epoch: 22, ..group };
        apply_quietly(&mut node, ControlRequest::ModifyKeyGroup(reconfigured)).unwrap();
        assert_eq!(
            apply_quietly(&mut node, ControlRequest::ReadKeyGroups),
            Ok(ControlResponse::KeyGroups(vec![reconfigured]))
        );
        let delete = ControlRequest::DeleteKeyGroup { key: 0, prefix_len: 13 };
        apply_quietly(&mut node, delete.clone()).unwrap();
        assert_eq!(apply_quietly(&mut node, delete), Err(ControlError::KeyGroup(KeyGroupError::NotFound)));
    }

    #[test]
    fn fabric_ports_round_trip() {
        let mut node = Node::new(16);
        let entry = FabricPort { port: 2, from_predecessor: true, from_successor: false, from_controller: false };
        apply_quietly(&mut node, ControlRequest::InsertFabricPort(entry)).unwrap();
        let twice = apply_quietly(&mut node, ControlRequest::InsertFabricPort(entry));
        assert_eq!(twice, Err(ControlError::FabricPort(FabricPortError::Duplicate)));
        let both = FabricPort { from_successor: true, ..entry };
        apply_quietly(&mut node, ControlRequest::ModifyFabricPort(both)).unwrap();
        assert_eq!(
            apply_quietly(&mut node, ControlRequest::ReadFabricPorts),
            Ok(ControlResponse::FabricPorts(vec![both]))
        );
        apply_quietly(&mut node, ControlRequest::DeleteFabricPort(2)).unwrap();
        let gone = apply_quietly(&mut node, ControlRequest::DeleteFabricPort(2));
        assert_eq!(gone, Err(ControlError::FabricPort(FabricPortError::NotFound)));
    }

    #[test]
    fn a_batch_answers_each_request_and_refuses_nesting() {
        let mut node = Node::new(16);
        let batch = ControlRequest::Batch(vec![
            ControlRequest::InsertRoute(route([10, 0, 0, 0], 8, 1)),
            ControlRequest::InsertRoute(route([10, 0, 0, 0], 8, 1)),
            ControlRequest::ReadRoutes,
        ]);
        let Ok(ControlResponse::Batch(results)) = apply_quietly(&mut node, batch) else { panic!() };
        assert_eq!(results[0], Ok(ControlResponse::Done));
        assert_eq!(results[1], Err(ControlError::Route(RouteError::Duplicate)));
        assert!(matches!(&results[2], Ok(ControlResponse::Routes(r)) if r.len() == 1));
        let nested = ControlRequest::Batch(vec![ControlRequest::Batch(vec![])]);
        assert!(matches!(apply_quietly(&mut node, nested), Err(ControlError::BadBatch(_))));
    }

    #[test]
    fn a_packet_out_enters_by_the_controller_port_and_its_outputs_are_emitted() {
        let mut node = Node::new(16);
        let controller =
            FabricPort { port: CONTROLLER_PORT, from_predecessor: false, from_successor: false, from_controller: true };
        let head = NodeConfig {
            role: Role::Head,
            successor_ip: Ipv4Addr::new(10, 0, 0, 2),
            tail_ip: Ipv4Addr::new(10, 0, 0, 3),
            epoch: 7,
            lease_ticks: 100,
            ..config()
        };
        for request in [
            ControlRequest::SetConfig(head),
            ControlRequest::InsertFabricPort(controller),
            ControlRequest::InsertRoute(route([10, 0, 0, 0], 24, 2)),
        ] {
            apply_quietly(&mut node, request).unwrap();
        }
        node.set_clock(1000);
        let renew = ControlRequest::PacketOut(renew_frame(1100, 7));
        assert_eq!(apply_quietly(&mut node, renew), Ok(ControlResponse::Done));
        assert_eq!(node.outcome_count(Outcome::LeaseRenewed), 1);
        assert_eq!(node.lease(), Lease { end_ticks: 1100, held: true, clock_ticks: 1000 });

        let mut sent = Vec::new();
        let sweep = ControlRequest::PacketOut(controller_frame(Op::Sweep, 5, 7));
        assert_eq!(
            apply(&mut node, sweep, &mut |port, frame| sent.push((port, frame.to_vec()))),
            Ok(ControlResponse::Done)
        );
        assert_eq!(node.outcome_count(Outcome::SweepCopied), 1);
        let [(port, frame)] = sent.as_slice() else { panic!("one frame sent: {sent:?}") };
        let sync = NetcraqFrame::parse(frame).expect("a NetCRAQ frame");
        assert_eq!((*port, sync.header.op, sync.header.key, sync.ip_dst), (2, Op::Sync, 5, head.successor_ip));

        let old_epoch = ControlRequest::PacketOut(renew_frame(1100, 6));
        assert_eq!(apply_quietly(&mut node, old_epoch), Ok(ControlResponse::Done), "the outcome is in the counters");
        assert_eq!(node.outcome_count(Outcome::DropWrongEpoch), 1);
        let long = ControlRequest::PacketOut(vec![0; MAX_PACKET_OUT_LEN + 1]);
        assert_eq!(apply_quietly(&mut node, long), Err(ControlError::PacketOutTooLong(MAX_PACKET_OUT_LEN + 1)));
        assert_eq!(node.outcome_counts().iter().sum::<u64>(), 3, "a refused frame is not processed");
    }
}
