//! Node state and reads from entities, checked against the P4Info, with
//! the spec's error codes for every refusal.

use super::bits::{decode_bits, mac_from};
use super::{
    NetcraqIds, P4Error, DST_IP_FIELD, FABRIC_PORT_TABLE, INGRESS_PORT_FIELD, IPV4_ROUTE_TABLE, KEY_FIELD,
    KEY_GROUP_TABLE, NO_GROUP_ACTION, NO_ROUTE_ACTION,
};
use crate::p4info::{name_of, P4InfoIndex};
use crate::proto::p4::config::v1 as info;
use crate::proto::p4::v1 as p4;
use netcraq_core::control::{CounterId, RegisterId};
use netcraq_core::{FabricPort, KeyGroup, Mode, NodeConfig, Role, Route};
use netcraq_wire::{Ipv4Addr, MacAddr};
use tonic::Code;

impl NetcraqIds {
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

    /// Reads back a `fabric_port` entry (as a read answers it).
    pub fn parse_fabric_port_entry(&self, index: &P4InfoIndex, entry: &p4::TableEntry) -> Result<FabricPort, P4Error> {
        let table = index.table(self.fabric_port).ok_or_else(|| P4Error::not_found("no fabric_port table"))?;
        let port = self.fabric_port_match(entry)?;
        let action = entry.action.as_ref().ok_or_else(|| P4Error::invalid("the entry has no action"))?;
        let (action_id, values) = decode_action(index, table, action, false)?;
        if action_id != self.set_fabric_port {
            return Err(P4Error::invalid(format!("{FABRIC_PORT_TABLE} entries take set_fabric_port")));
        }
        let flag = |id: u32| values.iter().any(|(p, v)| *p == id && *v == 1);
        let [predecessor, successor, controller] = self.fabric_port_params;
        Ok(FabricPort {
            port,
            from_predecessor: flag(predecessor),
            from_successor: flag(successor),
            from_controller: flag(controller),
        })
    }

    /// Reads back a `key_group` entry (as a read answers it, or as an INSERT or MODIFY gives it).
    pub fn parse_key_group_entry(&self, index: &P4InfoIndex, entry: &p4::TableEntry) -> Result<KeyGroup, P4Error> {
        let table = index.table(self.key_group).ok_or_else(|| P4Error::not_found("no key_group table"))?;
        let (key, prefix_len) = self.key_group_match(entry)?;
        let action = entry.action.as_ref().ok_or_else(|| P4Error::invalid("the entry has no action"))?;
        let (action_id, values) = decode_action(index, table, action, false)?;
        if action_id != self.set_group {
            return Err(P4Error::unimplemented(format!(
                "entries with {NO_GROUP_ACTION} are not served: no match already means no_group; delete the entry"
            )));
        }
        let value = |position: usize| {
            let id = self.set_group_params[position];
            values.iter().find(|(p, _)| *p == id).map_or(0, |(_, v)| *v)
        };
        let ip = |position: usize| Ipv4Addr::from(value(position) as u32);
        Ok(KeyGroup {
            key,
            prefix_len,
            role: role_of(value(0))?,
            head_ip: ip(1),
            tail_ip: ip(2),
            successor_ip: ip(3),
            predecessor_ip: ip(4),
            epoch: value(5) as u32,
            sync_epoch: value(6) as u32,
        })
    }

    /// The prefix of a `key_group` entry: one LPM match on `key`; no match field means /0.
    pub(super) fn key_group_match(&self, entry: &p4::TableEntry) -> Result<(u16, u8), P4Error> {
        use p4::field_match::FieldMatchType;
        let field = match entry.r#match.as_slice() {
            [] => return Ok((0, 0)),
            [field] if field.field_id == self.key_field => field,
            _ => return Err(P4Error::invalid(format!("{KEY_GROUP_TABLE} matches exactly {KEY_FIELD}"))),
        };
        let lpm = match field.field_match_type.as_ref() {
            Some(FieldMatchType::Lpm(lpm)) => lpm,
            _ => return Err(P4Error::invalid(format!("{KEY_FIELD} is an LPM field: send an LPM match"))),
        };
        let key = decode_bits(&lpm.value, 16, KEY_FIELD)? as u16;
        if !(1..=16).contains(&lpm.prefix_len) {
            return Err(P4Error::invalid(format!(
                "prefix length {} of {KEY_FIELD}: give 1 to 16, or leave the field out for a /0 match",
                lpm.prefix_len
            )));
        }
        if key & (u16::MAX >> lpm.prefix_len) != 0 {
            return Err(P4Error::invalid(format!("{key}/{}: bits are set beyond the prefix length", lpm.prefix_len)));
        }
        Ok((key, lpm.prefix_len as u8))
    }

    /// The port of a `fabric_port` entry: one exact match on `ingress_port`.
    pub(super) fn fabric_port_match(&self, entry: &p4::TableEntry) -> Result<u16, P4Error> {
        use p4::field_match::FieldMatchType;
        let field = match entry.r#match.as_slice() {
            [field] if field.field_id == self.ingress_port_field => field,
            _ => return Err(P4Error::invalid(format!("{FABRIC_PORT_TABLE} matches exactly {INGRESS_PORT_FIELD}"))),
        };
        match field.field_match_type.as_ref() {
            Some(FieldMatchType::Exact(exact)) => Ok(decode_bits(&exact.value, 16, INGRESS_PORT_FIELD)? as u16),
            _ => Err(P4Error::invalid(format!("{INGRESS_PORT_FIELD} is an exact field: send an exact match"))),
        }
    }

    /// The prefix of an `ipv4_route` entry; no match field means /0.
    pub(super) fn route_match(&self, table: &info::Table, entry: &p4::TableEntry) -> Result<(Ipv4Addr, u8), P4Error> {
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

    pub(super) fn next_hop(
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

    pub(super) fn config_action(
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
        let role = role_of(value(2))?;
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
            epoch: value(10) as u32,
            lease_ticks: value(11) as u32,
            sync_epoch: value(12) as u32,
        }))
    }

    pub(super) fn known_counter(&self, index: &P4InfoIndex, id: u32) -> Result<CounterId, P4Error> {
        let counter = index
            .counter(id)
            .ok_or_else(|| P4Error::not_found(format!("no counter with id {id:#010x} in the P4Info")))?;
        self.counter(id).ok_or_else(|| {
            P4Error::unimplemented(format!("this node does not serve counter {}", name_of(counter.preamble.as_ref())))
        })
    }

    pub(super) fn known_register(&self, index: &P4InfoIndex, id: u32) -> Result<RegisterId, P4Error> {
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
        one_or_all(&CounterId::ALL, entry.counter_id, at, |id| self.known_counter(index, id))
    }

    /// The registers a read of `entry` asks for (id 0: all of them), with the index.
    pub fn register_reads(
        &self,
        index: &P4InfoIndex,
        entry: &p4::RegisterEntry,
    ) -> Result<Vec<(RegisterId, Option<u32>)>, P4Error> {
        let at = register_index(entry.index.as_ref())?;
        one_or_all(&RegisterId::ALL, entry.register_id, at, |id| self.known_register(index, id))
    }

    /// What a read of `entry` asks of the tables: which table ids, and the
    /// route to filter on when it gives a match.
    pub fn table_read(&self, index: &P4InfoIndex, entry: &p4::TableEntry) -> Result<TableRead, P4Error> {
        let tables = match entry.table_id {
            0 => vec![self.node_config, self.ipv4_route, self.fabric_port, self.key_group],
            id => {
                let table = index
                    .table(id)
                    .ok_or_else(|| P4Error::not_found(format!("no table with id {id:#010x} in the P4Info")))?;
                if ![self.node_config, self.ipv4_route, self.fabric_port, self.key_group].contains(&id) {
                    let name = name_of(table.preamble.as_ref());
                    return Err(P4Error::unimplemented(format!("this node does not serve table {name}")));
                }
                vec![id]
            }
        };
        let (mut route_filter, mut fabric_port_filter, mut key_group_filter) = (None, None, None);
        match (entry.table_id, entry.r#match.is_empty()) {
            (_, true) => {}
            (id, false) if id == self.ipv4_route => {
                let table = index.table(self.ipv4_route).ok_or_else(|| P4Error::not_found("no ipv4_route"))?;
                route_filter = Some(self.route_match(table, entry)?);
            }
            (id, false) if id == self.fabric_port => fabric_port_filter = Some(self.fabric_port_match(entry)?),
            (id, false) if id == self.key_group => key_group_filter = Some(self.key_group_match(entry)?),
            _ => return Err(P4Error::invalid("a match filter needs the id of a table with match fields")),
        }
        let default_entries = entry.is_default_action;
        Ok(TableRead { tables, default_entries, route_filter, fabric_port_filter, key_group_filter })
    }
}

/// A read of table entries, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRead {
    pub tables: Vec<u32>,
    /// Only the default entries (else only the keyed entries, as the spec says).
    pub default_entries: bool,
    pub route_filter: Option<(Ipv4Addr, u8)>,
    pub fabric_port_filter: Option<u16>,
    /// `(key, prefix_len)` of the `key_group` entry asked for.
    pub key_group_filter: Option<(u16, u8)>,
}

/// A `role` parameter (`set_config`, `set_group`) as a [`Role`].
fn role_of(value: u128) -> Result<Role, P4Error> {
    u8::try_from(value)
        .ok()
        .and_then(Role::from_code)
        .ok_or_else(|| P4Error::invalid(format!("role {value}: give 1 HEAD, 2 REPLICA, 3 TAIL or 4 SOLO")))
}

/// An index of a counter or register entry: unset means all; negative is
/// INVALID_ARGUMENT, beyond 32 bits OUT_OF_RANGE (the node checks its size).
pub(super) fn register_index(index: Option<&p4::Index>) -> Result<Option<u32>, P4Error> {
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

/// The objects a read of object id `id` asks for: id 0 is P4Runtime's "all
/// of them", any other the one `known` resolves; each with the index `at`.
fn one_or_all<T: Copy>(
    all: &[T],
    id: u32,
    at: Option<u32>,
    known: impl FnOnce(u32) -> Result<T, P4Error>,
) -> Result<Vec<(T, Option<u32>)>, P4Error> {
    match id {
        0 => Ok(all.iter().map(|object| (*object, at)).collect()),
        id => Ok(vec![(known(id)?, at)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            epoch: 0xfeed_0001,
            lease_ticks: 977,
            sync_epoch: 0,
        };
        let fabric = FabricPort { port: 7, from_predecessor: false, from_successor: true, from_controller: true };
        assert_eq!(ids.parse_fabric_port_entry(&index, &ids.fabric_port_entry(&fabric)), Ok(fabric));
        assert_eq!(ids.parse_config_entry(&index, &ids.config_entry(Some(&config))), Ok(Some(config)));
        assert_eq!(ids.parse_config_entry(&index, &ids.config_entry(None)), Ok(None));
    }

    #[test]
    fn key_groups_round_trip_through_entries_and_bad_prefixes_are_refused() {
        let index = P4InfoIndex::netcraq();
        let ids = NetcraqIds::resolve(&index).unwrap();
        let group = KeyGroup {
            key: 0x8000,
            prefix_len: 6,
            role: Role::Tail,
            head_ip: [10, 0, 0, 1].into(),
            tail_ip: Ipv4Addr::UNSPECIFIED,
            successor_ip: Ipv4Addr::UNSPECIFIED,
            predecessor_ip: [10, 0, 0, 2].into(),
            epoch: 0xfeed_0002,
            sync_epoch: 0xfeed_0002,
        };
        for group in [group, KeyGroup { key: 0, prefix_len: 0, ..group }] {
            assert_eq!(ids.parse_key_group_entry(&index, &ids.key_group_entry(&group)), Ok(group));
        }
        let host_bits = ids.key_group_entry(&KeyGroup { key: 0x8001, ..group });
        let refused = ids.parse_key_group_entry(&index, &host_bits).unwrap_err();
        assert!(refused.message.contains("beyond the prefix length"), "{refused}");
        let request = ids.update_request(
            &index,
            p4::update::Type::Delete,
            &p4::Entity { entity: Some(p4::entity::Entity::TableEntry(ids.key_group_key(0x8000, 6))) },
        );
        let delete = netcraq_core::control::ControlRequest::DeleteKeyGroup { key: 0x8000, prefix_len: 6 };
        assert_eq!(request, Ok(delete));
    }
}
