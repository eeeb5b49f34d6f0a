//! How NetCRAQ's tables, counters and registers look as P4Runtime entities:
//! ids resolved by name from a P4Info ([`NetcraqIds`]), bitstrings, and the
//! translation both ways between entities and the node's
//! [`ControlRequest`]s, with the spec's error codes for every refusal.
//!
//! | P4Runtime entity | node |
//! |---|---|
//! | `node_config` default entry: `set_config(...)` / `unconfigured` / unset action | `SetConfig` / `ClearConfig` |
//! | `ipv4_route` entry: LPM on `dst_ip`, `set_next_hop(port, mac)` | `InsertRoute` / `ModifyRoute` / `DeleteRoute` |
//! | `CounterEntry` of `outcomes`, `key_reads`, `key_writes` | `ReadCounter` |
//! | `RegisterEntry` of `kv_*` | `ReadRegister` / `WriteRegister` |

use crate::p4info::{name_of, register_bitwidth, P4InfoIndex};
use crate::proto::p4::config::v1 as info;
use crate::proto::p4::v1 as p4;
use netcraq_core::{Mode, NodeConfig, Role, Route};
use netcraq_core::control::{ControlRequest, CounterId, RegisterId};
use netcraq_wire::{Ipv4Addr, MacAddr};
use tonic::Code;

pub const NODE_CONFIG_TABLE: &str = "NetcraqIngress.node_config";
pub const IPV4_ROUTE_TABLE: &str = "NetcraqIngress.ipv4_route";
pub const DST_IP_FIELD: &str = "dst_ip";
pub const SET_CONFIG_ACTION: &str = "NetcraqIngress.set_config";
pub const UNCONFIGURED_ACTION: &str = "NetcraqIngress.unconfigured";
pub const SET_NEXT_HOP_ACTION: &str = "NetcraqIngress.set_next_hop";
pub const NO_ROUTE_ACTION: &str = "NetcraqIngress.no_route";
/// Objects of the P4 program live in this control.
pub const CONTROL_PREFIX: &str = "NetcraqIngress.";
/// Tofino's counter of NO_ROUTE outcomes (p4/README.md, "Tofino").
pub const NO_ROUTE_COUNTER: &str = "no_route_count";

/// `set_config`'s parameters, in this order in [`NetcraqIds::set_config_params`], with their widths.
pub const SET_CONFIG_PARAMS: [(&str, u32); 10] = [
    ("own_mac", 48),
    ("own_ip", 32),
    ("role", 8),
    ("mode", 8),
    ("head_ip", 32),
    ("tail_ip", 32),
    ("successor_ip", 32),
    ("predecessor_ip", 32),
    ("key_lo", 16),
    ("key_hi", 17),
];

/// A refusal with its gRPC code, for one update or a whole RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P4Error {
    pub code: Code,
    pub message: String,
}

impl P4Error {
    pub fn new(code: Code, message: impl Into<String>) -> P4Error {
        P4Error { code, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> P4Error {
        P4Error::new(Code::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> P4Error {
        P4Error::new(Code::NotFound, message)
    }

    pub fn unimplemented(message: impl Into<String>) -> P4Error {
        P4Error::new(Code::Unimplemented, message)
    }
}

impl std::fmt::Display for P4Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for P4Error {}

impl From<P4Error> for tonic::Status {
    fn from(error: P4Error) -> tonic::Status {
        tonic::Status::new(error.code, error.message)
    }
}

/// A P4Runtime bitstring as an unsigned value of at most `bitwidth` bits.
/// Leading zero bytes are accepted (the spec asks servers to); an empty
/// string or a value wider than the field is OUT_OF_RANGE.
pub fn decode_bits(bytes: &[u8], bitwidth: u32, what: &str) -> Result<u128, P4Error> {
    if bytes.is_empty() {
        return Err(P4Error::new(Code::OutOfRange, format!("{what}: empty bitstring (zero is \"\\x00\")")));
    }
    let significant = &bytes[bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len())..];
    let too_wide =
        || P4Error::new(Code::OutOfRange, format!("{what}: value 0x{} does not fit {bitwidth} bits", hex(bytes)));
    if significant.len() > 16 {
        return Err(too_wide());
    }
    let value = significant.iter().fold(0u128, |value, byte| (value << 8) | u128::from(*byte));
    match 128 - value.leading_zeros() <= bitwidth {
        true => Ok(value),
        false => Err(too_wide()),
    }
}

/// An entry of register array `array_id`: to read (`value: None`), to
/// write, or as read.
pub fn array_entry(array_id: u32, index: Option<u32>, value: Option<u128>) -> p4::RegisterEntry {
    p4::RegisterEntry {
        register_id: array_id,
        index: index.map(|i| p4::Index { index: i64::from(i) }),
        data: value.map(|v| p4::P4Data { data: Some(p4::p4_data::Data::Bitstring(encode_bits(v))) }),
    }
}

/// The canonical bitstring of `value`: big-endian, no leading zero bytes,
/// at least one byte (what servers must send and clients should).
pub fn encode_bits(value: u128) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(15);
    bytes[first..].to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mac_value(mac: MacAddr) -> u128 {
    mac.0.iter().fold(0u128, |value, byte| (value << 8) | u128::from(*byte))
}

fn mac_from(value: u128) -> MacAddr {
    let bytes = value.to_be_bytes();
    MacAddr(bytes[10..16].try_into().expect("6 bytes"))
}

fn ip_value(ip: Ipv4Addr) -> u128 {
    u128::from(u32::from(ip))
}

/// Every id NetCRAQ needs, resolved by name from a P4Info and checked
/// against the widths the node needs, so that a P4Info with other ids (a
/// recompiled program) still works and a wrong one fails at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetcraqIds {
    pub node_config: u32,
    pub ipv4_route: u32,
    pub dst_ip_field: u32,
    pub set_config: u32,
    /// In [`SET_CONFIG_PARAMS`] order.
    pub set_config_params: [u32; 10],
    pub unconfigured: u32,
    pub set_next_hop: u32,
    pub port_param: u32,
    pub mac_param: u32,
    pub no_route: u32,
    pub counters: [(CounterId, u32); 3],
    /// Tofino's one-entry `no_route_count`, where its NO_ROUTE outcomes are
    /// counted instead of `outcomes[NO_ROUTE]` (p4/README.md, "Tofino").
    pub no_route_counter: Option<u32>,
    pub registers: [(RegisterId, RegisterArrays); 6],
}

/// The register arrays that hold one register's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterArrays {
    /// One array of the register's width (v1model, the servers).
    Whole(u32),
    /// Four `bit<32>` arrays, most significant word first: Tofino's
    /// `kv_value_0` .. `kv_value_3`, since its registers hold at most 32 bits.
    Words([u32; 4]),
}

/// The width of one of [`RegisterArrays::Words`].
pub const REGISTER_WORD_BITS: u32 = 32;

impl NetcraqIds {
    pub fn resolve(index: &P4InfoIndex) -> Result<NetcraqIds, String> {
        let table = |name: &str| index.table_by_name(name).ok_or(format!("the P4Info has no table {name}"));
        let node_config = table(NODE_CONFIG_TABLE)?;
        let ipv4_route = table(IPV4_ROUTE_TABLE)?;
        if !node_config.match_fields.is_empty() {
            return Err(format!("{NODE_CONFIG_TABLE} must be keyless"));
        }
        let dst_ip = match ipv4_route.match_fields.as_slice() {
            [field] if field.name == DST_IP_FIELD && field.bitwidth == 32 && is_lpm(field) => field.id,
            _ => return Err(format!("{IPV4_ROUTE_TABLE} must match exactly {DST_IP_FIELD}: LPM, 32 bits")),
        };
        let action = |name: &str, params: &[(&str, u32)]| -> Result<(u32, Vec<u32>), String> {
            let action = index.action_by_name(name).ok_or(format!("the P4Info has no action {name}"))?;
            let ids = params
                .iter()
                .map(|(param, bitwidth)| {
                    let found = action.params.iter().find(|p| p.name == *param);
                    match found {
                        Some(p) if p.bitwidth == *bitwidth as i32 => Ok(p.id),
                        _ => Err(format!("action {name} must have parameter {param} of {bitwidth} bits")),
                    }
                })
                .collect::<Result<Vec<u32>, String>>()?;
            if action.params.len() != params.len() {
                return Err(format!("action {name} must have exactly {} parameters", params.len()));
            }
            Ok((crate::p4info::id_of(action.preamble.as_ref()), ids))
        };
        let (set_config, config_params) = action(SET_CONFIG_ACTION, &SET_CONFIG_PARAMS)?;
        let (unconfigured, _) = action(UNCONFIGURED_ACTION, &[])?;
        let (set_next_hop, hop_params) = action(SET_NEXT_HOP_ACTION, &[("port", 16), ("mac", 48)])?;
        let (no_route, _) = action(NO_ROUTE_ACTION, &[])?;
        let counter = |counter: CounterId| -> Result<(CounterId, u32), String> {
            let name = format!("{CONTROL_PREFIX}{}", counter.name());
            let found = index.counter_by_name(&name).ok_or(format!("the P4Info has no counter {name}"))?;
            Ok((counter, crate::p4info::id_of(found.preamble.as_ref())))
        };
        let array = |name: &str, bitwidth: u32| -> Result<Option<u32>, String> {
            let Some(found) = index.register_by_name(name) else { return Ok(None) };
            if register_bitwidth(found) != Some(bitwidth) {
                return Err(format!("register {name} must be a bit<{bitwidth}>"));
            }
            Ok(Some(crate::p4info::id_of(found.preamble.as_ref())))
        };
        let register = |register: RegisterId| -> Result<(RegisterId, RegisterArrays), String> {
            let name = format!("{CONTROL_PREFIX}{}", register.name());
            if let Some(id) = array(&name, register.bitwidth())? {
                return Ok((register, RegisterArrays::Whole(id)));
            }
            let words: Option<Vec<u32>> = (0..4)
                .map(|word| array(&format!("{name}_{word}"), REGISTER_WORD_BITS))
                .collect::<Result<_, String>>()?;
            match words {
                Some(ids) if register.bitwidth() == 4 * REGISTER_WORD_BITS => {
                    Ok((register, RegisterArrays::Words(ids.try_into().expect("four words"))))
                }
                _ => Err(format!("the P4Info has no register {name}")),
            }
        };
        Ok(NetcraqIds {
            node_config: crate::p4info::id_of(node_config.preamble.as_ref()),
            ipv4_route: crate::p4info::id_of(ipv4_route.preamble.as_ref()),
            dst_ip_field: dst_ip,
            set_config,
            set_config_params: config_params.try_into().expect("10 parameters"),
            unconfigured,
            set_next_hop,
            port_param: hop_params[0],
            mac_param: hop_params[1],
            no_route,
            counters: [counter(CounterId::Outcomes)?, counter(CounterId::KeyReads)?, counter(CounterId::KeyWrites)?],
            no_route_counter: index
                .counter_by_name(&format!("{CONTROL_PREFIX}{NO_ROUTE_COUNTER}"))
                .map(|found| crate::p4info::id_of(found.preamble.as_ref())),
            registers: [
                register(RegisterId::KvValue)?,
                register(RegisterId::KvVersion)?,
                register(RegisterId::KvAcked)?,
                register(RegisterId::KvWriterIp)?,
                register(RegisterId::KvWriterPort)?,
                register(RegisterId::KvWriterId)?,
            ],
        })
    }

    pub fn counter_id(&self, counter: CounterId) -> u32 {
        self.counters.iter().find(|(c, _)| *c == counter).map_or(0, |(_, id)| *id)
    }

    pub fn counter(&self, id: u32) -> Option<CounterId> {
        self.counters.iter().find(|(_, i)| *i == id).map(|(c, _)| *c)
    }

    pub fn register_arrays(&self, register: RegisterId) -> RegisterArrays {
        self.registers.iter().find(|(r, _)| *r == register).map(|(_, arrays)| *arrays).expect("every register resolved")
    }

    /// The ids a node serves: a node holds every register whole, so it
    /// refuses a P4Info that splits one (Tofino's, which the controller reads).
    pub fn resolve_for_node(index: &P4InfoIndex) -> Result<NetcraqIds, String> {
        let ids = NetcraqIds::resolve(index)?;
        match ids.registers.iter().find(|(_, arrays)| matches!(arrays, RegisterArrays::Words(_))) {
            Some((register, _)) => {
                Err(format!("register {} is split in words; a node serves it whole", register.name()))
            }
            None => Ok(ids),
        }
    }

    /// The id of the one array that holds `register`, in a P4Info that keeps
    /// it whole ([`NetcraqIds::resolve_for_node`]; 0 would mean every register).
    pub fn register_id(&self, register: RegisterId) -> u32 {
        match self.register_arrays(register) {
            RegisterArrays::Whole(id) => id,
            RegisterArrays::Words(_) => panic!("{} is split in words: read its arrays", register.name()),
        }
    }

    /// The register whole array `id` is.
    pub fn register(&self, id: u32) -> Option<RegisterId> {
        self.registers.iter().find(|(_, arrays)| *arrays == RegisterArrays::Whole(id)).map(|(r, _)| *r)
    }

    // ------------------------------------------------------------ entities from node state

    /// The `ipv4_route` entry of `route`.
    pub fn route_entry(&self, route: &Route) -> p4::TableEntry {
        // A /0 route matches everything: "don't care", so no match field.
        let field = p4::FieldMatch {
            field_id: self.dst_ip_field,
            field_match_type: Some(p4::field_match::FieldMatchType::Lpm(p4::field_match::Lpm {
                value: encode_bits(ip_value(route.prefix)),
                prefix_len: i32::from(route.prefix_len),
            })),
        };
        let params = vec![param(self.port_param, u128::from(route.port)), param(self.mac_param, mac_value(route.mac))];
        p4::TableEntry {
            table_id: self.ipv4_route,
            r#match: if route.prefix_len == 0 { vec![] } else { vec![field] },
            action: Some(action(self.set_next_hop, params)),
            ..Default::default()
        }
    }

    /// The `ipv4_route` entry that identifies `prefix/prefix_len` (for DELETE or a read filter).
    pub fn route_key(&self, prefix: Ipv4Addr, prefix_len: u8) -> p4::TableEntry {
        let route = Route { prefix, prefix_len, port: 0, mac: MacAddr([0; 6]) };
        p4::TableEntry { action: None, ..self.route_entry(&route) }
    }

    /// The `node_config` default entry: `set_config(...)` for `Some`, `unconfigured` for `None`.
    pub fn config_entry(&self, config: Option<&NodeConfig>) -> p4::TableEntry {
        let action = match config {
            None => action(self.unconfigured, vec![]),
            Some(c) => {
                let values = [
                    mac_value(c.own_mac),
                    ip_value(c.own_ip),
                    u128::from(c.role as u8),
                    u128::from(c.mode as u8),
                    ip_value(c.head_ip),
                    ip_value(c.tail_ip),
                    ip_value(c.successor_ip),
                    ip_value(c.predecessor_ip),
                    u128::from(c.key_lo),
                    u128::from(c.key_hi),
                ];
                let params = self.set_config_params.iter().zip(values).map(|(id, value)| param(*id, value)).collect();
                action(self.set_config, params)
            }
        };
        p4::TableEntry {
            table_id: self.node_config,
            is_default_action: true,
            action: Some(action),
            ..Default::default()
        }
    }

    /// The default entry of `ipv4_route`: its constant `no_route`.
    pub fn route_default_entry(&self) -> p4::TableEntry {
        p4::TableEntry {
            table_id: self.ipv4_route,
            is_default_action: true,
            action: Some(action(self.no_route, vec![])),
            ..Default::default()
        }
    }

    /// A counter entry: to read (`packets: None`) or as read.
    pub fn counter_entry(&self, counter: CounterId, index: Option<u32>, packets: Option<u64>) -> p4::CounterEntry {
        p4::CounterEntry {
            counter_id: self.counter_id(counter),
            index: index.map(|i| p4::Index { index: i64::from(i) }),
            // Counters are 64-bit and wrap (§2.2); the message's field is signed.
            data: packets.map(|p| p4::CounterData { byte_count: 0, packet_count: p as i64 }),
        }
    }

    /// A register entry: to read (`value: None`), to write, or as read.
    pub fn register_entry(&self, register: RegisterId, index: Option<u32>, value: Option<u128>) -> p4::RegisterEntry {
        array_entry(self.register_id(register), index, value)
    }

    // ------------------------------------------------------------ node state from entities

    /// Reads back a `node_config` default entry (as a read answers it).
    pub fn parse_config_entry(
        &self,
        index: &P4InfoIndex,
        entry: &p4::TableEntry,
    ) -> Result<Option<NodeConfig>, P4Error> {
        let table = index.table(self.node_config).ok_or_else(|| P4Error::not_found("no node_config table"))?;
        match entry.action.as_ref() {
            None => Ok(None),
            Some(action) => self.config_action(index, table, action),
        }
    }

    /// Reads back an `ipv4_route` entry (as a read answers it).
    pub fn parse_route_entry(&self, index: &P4InfoIndex, entry: &p4::TableEntry) -> Result<Route, P4Error> {
        let table = index.table(self.ipv4_route).ok_or_else(|| P4Error::not_found("no ipv4_route table"))?;
        let (prefix, prefix_len) = self.route_match(table, entry)?;
        let action = entry.action.as_ref().ok_or_else(|| P4Error::invalid("the entry has no action"))?;
        let (port, mac) = self.next_hop(index, table, action)?;
        Ok(Route { prefix, prefix_len, port, mac })
    }

    /// The node request for one update of a Write (validated against the P4Info).
    pub fn update_request(
        &self,
        index: &P4InfoIndex,
        kind: p4::update::Type,
        entity: &p4::Entity,
    ) -> Result<ControlRequest, P4Error> {
        use p4::entity::Entity;
        use p4::update::Type;
        if kind == Type::Unspecified {
            return Err(P4Error::invalid("update type is UNSPECIFIED: give INSERT, MODIFY or DELETE"));
        }
        match entity.entity.as_ref() {
            None => Err(P4Error::invalid("the update has no entity")),
            Some(Entity::TableEntry(entry)) => self.table_update(index, kind, entry),
            Some(Entity::CounterEntry(entry)) => {
                self.known_counter(index, entry.counter_id)?;
                match kind {
                    Type::Modify => Err(P4Error::unimplemented(
                        "counters are read-only on the software and DPDK nodes (they count, the controller reads)",
                    )),
                    _ => Err(P4Error::invalid("counters take MODIFY only (spec §9.5)")),
                }
            }
            Some(Entity::RegisterEntry(entry)) => {
                let register = self.known_register(index, entry.register_id)?;
                if kind != Type::Modify {
                    return Err(P4Error::invalid("registers take MODIFY only"));
                }
                let index = register_index(entry.index.as_ref())?;
                let bits = match entry.data.as_ref().and_then(|d| d.data.as_ref()) {
                    Some(p4::p4_data::Data::Bitstring(bits)) => bits,
                    Some(_) => {
                        return Err(P4Error::invalid(format!("{} is a bit<W>: send a bitstring", register.name())))
                    }
                    None => return Err(P4Error::invalid("the register entry has no data to write")),
                };
                let value = decode_bits(bits, register.bitwidth(), register.name())?;
                Ok(ControlRequest::WriteRegister { register, index, value })
            }
            Some(other) => Err(not_served(other)),
        }
    }

    fn table_update(
        &self,
        index: &P4InfoIndex,
        kind: p4::update::Type,
        entry: &p4::TableEntry,
    ) -> Result<ControlRequest, P4Error> {
        use p4::update::Type;
        let table = index
            .table(entry.table_id)
            .ok_or_else(|| P4Error::not_found(format!("no table with id {:#010x} in the P4Info", entry.table_id)))?;
        let name = name_of(table.preamble.as_ref()).to_string();
        if entry.idle_timeout_ns != 0 || entry.meter_config.is_some() || entry.counter_data.is_some() {
            return Err(P4Error::invalid(format!("{name} has no idle timeout, meters or direct counters")));
        }
        if entry.meter_counter_data.is_some() {
            return Err(P4Error::invalid(format!("{name} has no direct meters")));
        }
        if !entry.metadata.is_empty() {
            return Err(P4Error::unimplemented("this node does not store entry metadata: leave it empty"));
        }
        if entry.is_default_action {
            if !entry.r#match.is_empty() || entry.priority != 0 {
                return Err(P4Error::invalid("a default entry has no match fields and priority 0"));
            }
            if kind != Type::Modify {
                return Err(P4Error::invalid(format!("the default entry of {name} can only be MODIFIED")));
            }
            if table.const_default_action_id != 0 {
                return Err(P4Error::new(Code::PermissionDenied, format!("the default action of {name} is const")));
            }
        }
        if entry.table_id == self.node_config {
            if !entry.is_default_action {
                return Err(P4Error::invalid(format!(
                    "{name} is keyless: set it through its default entry (is_default_action, MODIFY)"
                )));
            }
            // An unset action resets the default entry to the program's: unconfigured.
            return match entry.action.as_ref() {
                None => Ok(ControlRequest::ClearConfig),
                Some(action) => match self.config_action(index, table, action)? {
                    Some(config) => Ok(ControlRequest::SetConfig(config)),
                    None => Ok(ControlRequest::ClearConfig),
                },
            };
        }
        if entry.table_id != self.ipv4_route {
            return Err(P4Error::unimplemented(format!("this node does not serve table {name}")));
        }
        if entry.priority != 0 {
            return Err(P4Error::invalid(format!("{name} has no ternary or range field: priority must be 0")));
        }
        let (prefix, prefix_len) = self.route_match(table, entry)?;
        if kind == Type::Delete {
            return Ok(ControlRequest::DeleteRoute { prefix, prefix_len });
        }
        let action =
            entry.action.as_ref().ok_or_else(|| P4Error::invalid(format!("{kind:?} of {name} needs an action")))?;
        let (port, mac) = self.next_hop(index, table, action)?;
        let route = Route { prefix, prefix_len, port, mac };
        Ok(match kind {
            Type::Insert => ControlRequest::InsertRoute(route),
            _ => ControlRequest::ModifyRoute(route),
        })
    }

    /// The prefix of an `ipv4_route` entry; no match field means /0.
    fn route_match(&self, table: &info::Table, entry: &p4::TableEntry) -> Result<(Ipv4Addr, u8), P4Error> {
        use p4::field_match::FieldMatchType;
        let (field, rest) = match entry.r#match.as_slice() {
            [] => return Ok((Ipv4Addr::UNSPECIFIED, 0)),
            [field, rest @ ..] => (field, rest),
        };
        if !rest.is_empty() {
            return Err(P4Error::invalid(format!(
                "{} matches one field; {} given",
                IPV4_ROUTE_TABLE,
                entry.r#match.len()
            )));
        }
        if !table.match_fields.iter().any(|f| f.id == field.field_id) {
            return Err(P4Error::invalid(format!("{IPV4_ROUTE_TABLE} has no match field {}", field.field_id)));
        }
        let lpm = match field.field_match_type.as_ref() {
            Some(FieldMatchType::Lpm(lpm)) => lpm,
            _ => return Err(P4Error::invalid(format!("{DST_IP_FIELD} is an LPM field: send an LPM match"))),
        };
        let value = decode_bits(&lpm.value, 32, DST_IP_FIELD)? as u32;
        if !(1..=32).contains(&lpm.prefix_len) {
            return Err(P4Error::invalid(format!(
                "prefix length {} of {DST_IP_FIELD}: give 1 to 32, or leave the field out for a /0 match",
                lpm.prefix_len
            )));
        }
        let host_bits = u32::MAX.checked_shr(lpm.prefix_len as u32).unwrap_or(0);
        if value & host_bits != 0 {
            return Err(P4Error::invalid(format!(
                "{}/{}: bits are set beyond the prefix length",
                Ipv4Addr::from(value),
                lpm.prefix_len
            )));
        }
        Ok((Ipv4Addr::from(value), lpm.prefix_len as u8))
    }

    fn next_hop(
        &self,
        index: &P4InfoIndex,
        table: &info::Table,
        action: &p4::TableAction,
    ) -> Result<(u16, MacAddr), P4Error> {
        let (action_id, values) = decode_action(index, table, action, false)?;
        if action_id == self.no_route {
            return Err(P4Error::unimplemented(format!(
                "entries with {NO_ROUTE_ACTION} are not served: no match already means no_route; delete the entry"
            )));
        }
        let value = |id: u32| values.iter().find(|(p, _)| *p == id).map_or(0, |(_, v)| *v);
        Ok((value(self.port_param) as u16, mac_from(value(self.mac_param))))
    }

    fn config_action(
        &self,
        index: &P4InfoIndex,
        table: &info::Table,
        action: &p4::TableAction,
    ) -> Result<Option<NodeConfig>, P4Error> {
        let (action_id, values) = decode_action(index, table, action, true)?;
        if action_id == self.unconfigured {
            return Ok(None);
        }
        let value = |position: usize| {
            let id = self.set_config_params[position];
            values.iter().find(|(p, _)| *p == id).map_or(0, |(_, v)| *v)
        };
        let ip = |position: usize| Ipv4Addr::from(value(position) as u32);
        let role = Role::from_code(value(2) as u8)
            .ok_or_else(|| P4Error::invalid(format!("role {}: give 1 HEAD, 2 REPLICA, 3 TAIL or 4 SOLO", value(2))))?;
        let mode = Mode::from_code(value(3) as u8)
            .ok_or_else(|| P4Error::invalid(format!("mode {}: give 0 CRAQ or 1 CR", value(3))))?;
        Ok(Some(NodeConfig {
            own_mac: mac_from(value(0)),
            own_ip: ip(1),
            role,
            mode,
            head_ip: ip(4),
            tail_ip: ip(5),
            successor_ip: ip(6),
            predecessor_ip: ip(7),
            key_lo: value(8) as u16,
            key_hi: value(9) as u32,
        }))
    }

    fn known_counter(&self, index: &P4InfoIndex, id: u32) -> Result<CounterId, P4Error> {
        let counter = index
            .counter(id)
            .ok_or_else(|| P4Error::not_found(format!("no counter with id {id:#010x} in the P4Info")))?;
        self.counter(id).ok_or_else(|| {
            P4Error::unimplemented(format!("this node does not serve counter {}", name_of(counter.preamble.as_ref())))
        })
    }

    fn known_register(&self, index: &P4InfoIndex, id: u32) -> Result<RegisterId, P4Error> {
        let register = index
            .register(id)
            .ok_or_else(|| P4Error::not_found(format!("no register with id {id:#010x} in the P4Info")))?;
        self.register(id).ok_or_else(|| {
            P4Error::unimplemented(format!("this node does not serve register {}", name_of(register.preamble.as_ref())))
        })
    }

    /// The counters a read of `entry` asks for (id 0: all of them), with the index.
    pub fn counter_reads(
        &self,
        index: &P4InfoIndex,
        entry: &p4::CounterEntry,
    ) -> Result<Vec<(CounterId, Option<u32>)>, P4Error> {
        let at = register_index(entry.index.as_ref())?;
        match entry.counter_id {
            0 => Ok(CounterId::ALL.iter().map(|c| (*c, at)).collect()),
            id => Ok(vec![(self.known_counter(index, id)?, at)]),
        }
    }

    /// The registers a read of `entry` asks for (id 0: all of them), with the index.
    pub fn register_reads(
        &self,
        index: &P4InfoIndex,
        entry: &p4::RegisterEntry,
    ) -> Result<Vec<(RegisterId, Option<u32>)>, P4Error> {
        let at = register_index(entry.index.as_ref())?;
        match entry.register_id {
            0 => Ok(RegisterId::ALL.iter().map(|r| (*r, at)).collect()),
            id => Ok(vec![(self.known_register(index, id)?, at)]),
        }
    }

    /// What a read of `entry` asks of the tables: which table ids, and the
    /// route to filter on when it gives a match.
    pub fn table_read(&self, index: &P4InfoIndex, entry: &p4::TableEntry) -> Result<TableRead, P4Error> {
        let tables = match entry.table_id {
            0 => vec![self.node_config, self.ipv4_route],
            id => {
                let table = index
                    .table(id)
                    .ok_or_else(|| P4Error::not_found(format!("no table with id {id:#010x} in the P4Info")))?;
                if id != self.node_config && id != self.ipv4_route {
                    let name = name_of(table.preamble.as_ref());
                    return Err(P4Error::unimplemented(format!("this node does not serve table {name}")));
                }
                vec![id]
            }
        };
        let route_filter = match (entry.table_id == self.ipv4_route, entry.r#match.is_empty()) {
            (true, false) => {
                let table = index.table(self.ipv4_route).ok_or_else(|| P4Error::not_found("no ipv4_route"))?;
                Some(self.route_match(table, entry)?)
            }
            (false, false) => return Err(P4Error::invalid("a match filter needs the table id")),
            _ => None,
        };
        Ok(TableRead { tables, default_entries: entry.is_default_action, route_filter })
    }
}

/// A read of table entries, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRead {
    pub tables: Vec<u32>,
    /// Only the default entries (else only the keyed entries, as the spec says).
    pub default_entries: bool,
    pub route_filter: Option<(Ipv4Addr, u8)>,
}

fn is_lpm(field: &info::MatchField) -> bool {
    field.r#match == Some(info::match_field::Match::MatchType(info::match_field::MatchType::Lpm as i32))
}

fn param(param_id: u32, value: u128) -> p4::action::Param {
    p4::action::Param { param_id, value: encode_bits(value) }
}

fn action(action_id: u32, params: Vec<p4::action::Param>) -> p4::TableAction {
    p4::TableAction { r#type: Some(p4::table_action::Type::Action(p4::Action { action_id, params })) }
}

/// An index of a counter or register entry: unset means all; negative is
/// INVALID_ARGUMENT, beyond 32 bits OUT_OF_RANGE (the node checks its size).
fn register_index(index: Option<&p4::Index>) -> Result<Option<u32>, P4Error> {
    match index {
        None => Ok(None),
        Some(p4::Index { index }) if *index < 0 => Err(P4Error::invalid(format!("index {index} is negative"))),
        Some(p4::Index { index }) => u32::try_from(*index)
            .map(Some)
            .map_err(|_| P4Error::new(Code::OutOfRange, format!("index {index} is out of range"))),
    }
}

/// A direct action of `table`, checked against the P4Info: the action exists
/// (NOT_FOUND), belongs to the table in this scope, and has every parameter
/// exactly once at its width. Returns its id and `(param id, value)` pairs.
pub fn decode_action(
    index: &P4InfoIndex,
    table: &info::Table,
    action: &p4::TableAction,
    default_entry: bool,
) -> Result<(u32, Vec<(u32, u128)>), P4Error> {
    use info::action_ref::Scope;
    let table_name = name_of(table.preamble.as_ref());
    let action = match action.r#type.as_ref() {
        Some(p4::table_action::Type::Action(action)) => action,
        Some(_) => return Err(P4Error::invalid(format!("{table_name} has no action profile: give a direct action"))),
        None => return Err(P4Error::invalid("the table action is empty")),
    };
    let info_action = index
        .action(action.action_id)
        .ok_or_else(|| P4Error::not_found(format!("no action with id {:#010x} in the P4Info", action.action_id)))?;
    let action_name = name_of(info_action.preamble.as_ref());
    let reference = table.action_refs.iter().find(|r| r.id == action.action_id);
    let allowed = match reference {
        None => false,
        Some(r) if default_entry => r.scope != Scope::TableOnly as i32,
        Some(r) => r.scope != Scope::DefaultOnly as i32,
    };
    if !allowed {
        let place = if default_entry { "default entry" } else { "entries" };
        return Err(P4Error::invalid(format!("action {action_name} is not allowed in the {place} of {table_name}")));
    }
    let mut values = Vec::with_capacity(info_action.params.len());
    for given in &action.params {
        let declared = info_action.params.iter().find(|p| p.id == given.param_id).ok_or_else(|| {
            P4Error::invalid(format!("action {action_name} has no parameter with id {}", given.param_id))
        })?;
        if values.iter().any(|(id, _)| *id == given.param_id) {
            return Err(P4Error::invalid(format!("parameter {} of {action_name} is given twice", declared.name)));
        }
        let what = format!("parameter {} of {action_name}", declared.name);
        values.push((given.param_id, decode_bits(&given.value, declared.bitwidth.max(0) as u32, &what)?));
    }
    if let Some(missing) = info_action.params.iter().find(|p| !values.iter().any(|(id, _)| *id == p.id)) {
        return Err(P4Error::invalid(format!("parameter {} of {action_name} is missing", missing.name)));
    }
    Ok((action.action_id, values))
}

/// UNIMPLEMENTED, naming the kind of entity.
pub fn not_served(entity: &p4::entity::Entity) -> P4Error {
    use p4::entity::Entity;
    let kind = match entity {
        Entity::ExternEntry(_) => "extern entries",
        Entity::TableEntry(_) => "table entries",
        Entity::ActionProfileMember(_) | Entity::ActionProfileGroup(_) => "action profiles (the program has none)",
        Entity::MeterEntry(_) | Entity::DirectMeterEntry(_) => "meters (the program has none)",
        Entity::CounterEntry(_) => "counter entries",
        Entity::DirectCounterEntry(_) => "direct counters (the program has none)",
        Entity::PacketReplicationEngineEntry(_) => {
            "packet replication (clone sessions, multicast groups): the software and DPDK nodes have no replication \
             engine; the tail sends its second output itself"
        }
        Entity::ValueSetEntry(_) => "value sets (the program has none)",
        Entity::RegisterEntry(_) => "register entries",
        Entity::DigestEntry(_) => "digests (the program has none)",
    };
    P4Error::unimplemented(format!("this node does not serve {kind}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitstrings_accept_padding_and_refuse_what_does_not_fit() {
        assert_eq!(decode_bits(&[0x63], 8, "x"), Ok(0x63));
        assert_eq!(decode_bits(&[0, 0x63], 16, "x"), Ok(0x63));
        assert_eq!(decode_bits(&[0, 0, 0x63], 12, "x"), Ok(0x63));
        assert_eq!(decode_bits(&[1, 0xff, 0xff], 17, "x"), Ok(0x1ffff));
        for (bytes, width) in [(&[1u8, 0x63][..], 8), (&[][..], 8), (&[0x10, 0x63][..], 12), (&[2, 0, 0][..], 17)] {
            assert_eq!(decode_bits(bytes, width, "x").unwrap_err().code, Code::OutOfRange, "{bytes:?}");
        }
        assert_eq!(decode_bits(&[0; 20], 128, "x"), Ok(0));
        assert_eq!(decode_bits(&[0xff; 16], 128, "x"), Ok(u128::MAX));
        assert_eq!(encode_bits(0), vec![0]);
        assert_eq!(encode_bits(0x0a000001), vec![0x0a, 0, 0, 1]);
        assert_eq!(encode_bits(u128::MAX), vec![0xff; 16]);
    }

    #[test]
    fn the_netcraq_p4info_resolves_to_the_contract_ids() {
        let index = P4InfoIndex::netcraq();
        let ids = NetcraqIds::resolve(&index).expect("the checked-in P4Info fits the node");
        assert_eq!((ids.node_config, ids.ipv4_route, ids.dst_ip_field), (0x02000001, 0x02000002, 1));
        assert_eq!(
            (ids.set_config, ids.set_next_hop, ids.unconfigured, ids.no_route),
            (0x01000001, 0x01000002, 0x01000003, 0x01000004)
        );
        assert_eq!(ids.set_config_params, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!((ids.port_param, ids.mac_param), (1, 2));
        assert_eq!(ids.counter_id(CounterId::Outcomes), 0x12000001);
        assert_eq!(ids.counter_id(CounterId::KeyWrites), 0x12000003);
        assert_eq!(ids.register_id(RegisterId::KvValue), 0x16000001);
        assert_eq!(ids.register_id(RegisterId::KvWriterId), 0x16000006);
    }

    #[test]
    fn the_tofino_p4info_resolves_with_value_words_and_its_no_route_counter() {
        let text = include_str!("../../../p4/netcraq_tna.p4info.txtpb");
        let index = P4InfoIndex::new(crate::p4info::parse_p4info_text(text).unwrap()).unwrap();
        let ids = NetcraqIds::resolve(&index).expect("the Tofino program's P4Info fits the contract");
        let id = |name: &str| crate::p4info::id_of(index.register_by_name(name).unwrap().preamble.as_ref());
        let words = ["kv_value_0", "kv_value_1", "kv_value_2", "kv_value_3"].map(id);
        assert_eq!(ids.register_arrays(RegisterId::KvValue), RegisterArrays::Words(words));
        assert_eq!(ids.register_arrays(RegisterId::KvVersion), RegisterArrays::Whole(id("kv_version")));
        let no_route = index.counter_by_name("NetcraqIngress.no_route_count").unwrap();
        assert_eq!(ids.no_route_counter, Some(crate::p4info::id_of(no_route.preamble.as_ref())));
        assert_eq!(NetcraqIds::resolve(&P4InfoIndex::netcraq()).unwrap().no_route_counter, None);
        let refused = NetcraqIds::resolve_for_node(&index).unwrap_err();
        assert!(refused.contains("kv_value is split"), "{refused}");
        assert!(NetcraqIds::resolve_for_node(&P4InfoIndex::netcraq()).is_ok());
    }

    #[test]
    fn routes_and_configs_round_trip_through_entries() {
        let index = P4InfoIndex::netcraq();
        let ids = NetcraqIds::resolve(&index).unwrap();
        for route in [
            Route { prefix: [10, 0, 1, 0].into(), prefix_len: 24, port: 3, mac: MacAddr([2, 0, 0, 0, 0, 7]) },
            Route { prefix: Ipv4Addr::UNSPECIFIED, prefix_len: 0, port: 1, mac: MacAddr([2, 0, 0, 0, 0, 8]) },
        ] {
            assert_eq!(ids.parse_route_entry(&index, &ids.route_entry(&route)), Ok(route));
        }
        let config = NodeConfig {
            own_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            own_ip: [10, 0, 0, 1].into(),
            role: Role::Head,
            mode: Mode::Cr,
            head_ip: [10, 0, 0, 1].into(),
            tail_ip: [10, 0, 0, 3].into(),
            successor_ip: [10, 0, 0, 2].into(),
            predecessor_ip: Ipv4Addr::UNSPECIFIED,
            key_lo: 0,
            key_hi: 65536,
        };
        assert_eq!(ids.parse_config_entry(&index, &ids.config_entry(Some(&config))), Ok(Some(config)));
        assert_eq!(ids.parse_config_entry(&index, &ids.config_entry(None)), Ok(None));
    }
}
