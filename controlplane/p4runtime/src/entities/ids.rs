//! The program's names (the P4Info contract) and their ids in one P4Info:
//! [`NetcraqIds`], resolved by name and checked against the widths the
//! node needs.

use crate::p4info::{id_of, register_bitwidth, P4InfoIndex};
use crate::proto::p4::config::v1 as info;
use info::match_field::MatchType;
use netcraq_core::control::{CounterId, RegisterId};

pub const NODE_CONFIG_TABLE: &str = "NetcraqIngress.node_config";
pub const IPV4_ROUTE_TABLE: &str = "NetcraqIngress.ipv4_route";
pub const FABRIC_PORT_TABLE: &str = "NetcraqIngress.fabric_port";
pub const INGRESS_PORT_FIELD: &str = "ingress_port";
pub const SET_FABRIC_PORT_ACTION: &str = "NetcraqIngress.set_fabric_port";
pub const EDGE_PORT_ACTION: &str = "NetcraqIngress.edge_port";
pub const DST_IP_FIELD: &str = "dst_ip";
pub const KEY_GROUP_TABLE: &str = "NetcraqIngress.key_group";
pub const KEY_FIELD: &str = "key";
pub const SET_GROUP_ACTION: &str = "NetcraqIngress.set_group";
pub const NO_GROUP_ACTION: &str = "NetcraqIngress.no_group";
pub const SET_CONFIG_ACTION: &str = "NetcraqIngress.set_config";
pub const UNCONFIGURED_ACTION: &str = "NetcraqIngress.unconfigured";
pub const SET_NEXT_HOP_ACTION: &str = "NetcraqIngress.set_next_hop";
pub const NO_ROUTE_ACTION: &str = "NetcraqIngress.no_route";
/// Objects of the P4 program live in this control.
pub const CONTROL_PREFIX: &str = "NetcraqIngress.";
/// Tofino's counter of NO_ROUTE outcomes (p4/README.md, "Tofino").
pub const NO_ROUTE_COUNTER: &str = "no_route_count";

/// `set_config`'s parameters, in this order in [`NetcraqIds::set_config_params`], with their widths.
pub const SET_CONFIG_PARAMS: [(&str, u32); 13] = [
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
    ("epoch", 32),
    ("lease_ticks", 32),
    ("sync_epoch", 32),
];

/// `set_group`'s parameters, in this order in [`NetcraqIds::set_group_params`], with their widths.
pub const SET_GROUP_PARAMS: [(&str, u32); 7] = [
    ("role", 8),
    ("head_ip", 32),
    ("tail_ip", 32),
    ("successor_ip", 32),
    ("predecessor_ip", 32),
    ("epoch", 32),
    ("sync_epoch", 32),
];

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
    pub set_config_params: [u32; 13],
    pub unconfigured: u32,
    pub set_next_hop: u32,
    pub port_param: u32,
    pub mac_param: u32,
    pub no_route: u32,
    pub fabric_port: u32,
    pub ingress_port_field: u32,
    pub set_fabric_port: u32,
    /// `from_predecessor`, `from_successor`, `from_controller`.
    pub fabric_port_params: [u32; 3],
    pub edge_port: u32,
    pub key_group: u32,
    pub key_field: u32,
    pub set_group: u32,
    /// In [`SET_GROUP_PARAMS`] order.
    pub set_group_params: [u32; 7],
    pub no_group: u32,
    pub counters: [(CounterId, u32); 3],
    /// Tofino's one-entry `no_route_count`, where its NO_ROUTE outcomes are
    /// counted instead of `outcomes[NO_ROUTE]` (p4/README.md, "Tofino").
    pub no_route_counter: Option<u32>,
    pub registers: [(RegisterId, RegisterArrays); 8],
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
            [field] if field.name == DST_IP_FIELD && field.bitwidth == 32 && is_match(field, MatchType::Lpm) => {
                field.id
            }
            _ => return Err(format!("{IPV4_ROUTE_TABLE} must match exactly {DST_IP_FIELD}: LPM, 32 bits")),
        };
        let fabric_port = table(FABRIC_PORT_TABLE)?;
        let ingress_port = match fabric_port.match_fields.as_slice() {
            [field]
                if field.name == INGRESS_PORT_FIELD && field.bitwidth == 16 && is_match(field, MatchType::Exact) =>
            {
                field.id
            }
            _ => return Err(format!("{FABRIC_PORT_TABLE} must match exactly {INGRESS_PORT_FIELD}: exact, 16 bits")),
        };
        let key_group = table(KEY_GROUP_TABLE)?;
        let key_field = match key_group.match_fields.as_slice() {
            [field] if field.name == KEY_FIELD && field.bitwidth == 16 && is_match(field, MatchType::Lpm) => field.id,
            _ => return Err(format!("{KEY_GROUP_TABLE} must match exactly {KEY_FIELD}: LPM, 16 bits")),
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
            Ok((id_of(action.preamble.as_ref()), ids))
        };
        let (set_config, config_params) = action(SET_CONFIG_ACTION, &SET_CONFIG_PARAMS)?;
        let (unconfigured, _) = action(UNCONFIGURED_ACTION, &[])?;
        let (set_next_hop, hop_params) = action(SET_NEXT_HOP_ACTION, &[("port", 16), ("mac", 48)])?;
        let (no_route, _) = action(NO_ROUTE_ACTION, &[])?;
        let fabric_params = [("from_predecessor", 1), ("from_successor", 1), ("from_controller", 1)];
        let (set_fabric_port, fabric_port_params) = action(SET_FABRIC_PORT_ACTION, &fabric_params)?;
        let (edge_port, _) = action(EDGE_PORT_ACTION, &[])?;
        let (set_group, group_params) = action(SET_GROUP_ACTION, &SET_GROUP_PARAMS)?;
        let (no_group, _) = action(NO_GROUP_ACTION, &[])?;
        let counter = |counter: CounterId| -> Result<(CounterId, u32), String> {
            let name = format!("{CONTROL_PREFIX}{}", counter.name());
            let found = index.counter_by_name(&name).ok_or(format!("the P4Info has no counter {name}"))?;
            Ok((counter, id_of(found.preamble.as_ref())))
        };
        let array = |name: &str, bitwidth: u32| -> Result<Option<u32>, String> {
            let Some(found) = index.register_by_name(name) else { return Ok(None) };
            if register_bitwidth(found) != Some(bitwidth) {
                return Err(format!("register {name} must be a bit<{bitwidth}>"));
            }
            Ok(Some(id_of(found.preamble.as_ref())))
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
            node_config: id_of(node_config.preamble.as_ref()),
            ipv4_route: id_of(ipv4_route.preamble.as_ref()),
            dst_ip_field: dst_ip,
            set_config,
            set_config_params: config_params.try_into().expect("13 parameters"),
            unconfigured,
            set_next_hop,
            port_param: hop_params[0],
            mac_param: hop_params[1],
            no_route,
            fabric_port: id_of(fabric_port.preamble.as_ref()),
            ingress_port_field: ingress_port,
            set_fabric_port,
            fabric_port_params: fabric_port_params.try_into().expect("3 parameters"),
            edge_port,
            key_group: id_of(key_group.preamble.as_ref()),
            key_field,
            set_group,
            set_group_params: group_params.try_into().expect("7 parameters"),
            no_group,
            counters: [counter(CounterId::Outcomes)?, counter(CounterId::KeyReads)?, counter(CounterId::KeyWrites)?],
            no_route_counter: index
                .counter_by_name(&format!("{CONTROL_PREFIX}{NO_ROUTE_COUNTER}"))
                .map(|found| id_of(found.preamble.as_ref())),
            registers: [
                register(RegisterId::KvValue)?,
                register(RegisterId::KvVersion)?,
                register(RegisterId::KvAcked)?,
                register(RegisterId::KvWriterIp)?,
                register(RegisterId::KvWriterPort)?,
                register(RegisterId::KvWriterId)?,
                register(RegisterId::KvReceived)?,
                register(RegisterId::LeaseClock)?,
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
}

fn is_match(field: &info::MatchField, kind: MatchType) -> bool {
    field.r#match == Some(info::match_field::Match::MatchType(kind as i32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p4info::parse_p4info_text;

    #[test]
    fn the_netcraq_p4info_resolves_to_the_contract_ids() {
        let index = P4InfoIndex::netcraq();
        let ids = NetcraqIds::resolve(&index).expect("the checked-in P4Info fits the node");
        assert_eq!((ids.node_config, ids.ipv4_route, ids.dst_ip_field), (0x02000001, 0x02000002, 1));
        assert_eq!(
            (ids.set_config, ids.set_next_hop, ids.unconfigured, ids.no_route),
            (0x01000001, 0x01000002, 0x01000003, 0x01000004)
        );
        assert_eq!(ids.set_config_params, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
        assert_eq!((ids.fabric_port, ids.ingress_port_field), (0x02000003, 1));
        assert_eq!((ids.set_fabric_port, ids.fabric_port_params, ids.edge_port), (0x01000005, [1, 2, 3], 0x01000006));
        assert_eq!((ids.port_param, ids.mac_param), (1, 2));
        assert_eq!(
            (ids.key_group, ids.key_field, ids.set_group, ids.no_group),
            (0x02000004, 1, 0x01000007, 0x01000008)
        );
        assert_eq!(ids.set_group_params, [1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(ids.counter_id(CounterId::Outcomes), 0x12000001);
        assert_eq!(ids.counter_id(CounterId::KeyWrites), 0x12000003);
        assert_eq!(ids.register_id(RegisterId::KvValue), 0x16000001);
        assert_eq!(ids.register_id(RegisterId::KvWriterId), 0x16000006);
        assert_eq!(ids.register_id(RegisterId::LeaseClock), 0x1600000a);
    }

    #[test]
    fn the_tofino_p4info_resolves_with_value_words_and_its_no_route_counter() {
        let text = include_str!("../../../../p4/netcraq_tna.p4info.txtpb");
        let index = P4InfoIndex::new(parse_p4info_text(text).unwrap()).unwrap();
        let ids = NetcraqIds::resolve(&index).expect("the Tofino program's P4Info fits the contract");
        let id = |name: &str| id_of(index.register_by_name(name).unwrap().preamble.as_ref());
        let words = ["kv_value_0", "kv_value_1", "kv_value_2", "kv_value_3"].map(id);
        assert_eq!(ids.register_arrays(RegisterId::KvValue), RegisterArrays::Words(words));
        assert_eq!(ids.register_arrays(RegisterId::KvVersion), RegisterArrays::Whole(id("kv_version")));
        let no_route = index.counter_by_name("NetcraqIngress.no_route_count").unwrap();
        assert_eq!(ids.no_route_counter, Some(id_of(no_route.preamble.as_ref())));
        assert_eq!(NetcraqIds::resolve(&P4InfoIndex::netcraq()).unwrap().no_route_counter, None);
        let refused = NetcraqIds::resolve_for_node(&index).unwrap_err();
        assert!(refused.contains("kv_value is split"), "{refused}");
        assert!(NetcraqIds::resolve_for_node(&P4InfoIndex::netcraq()).is_ok());
    }
}
