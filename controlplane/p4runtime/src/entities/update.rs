//! One update of a Write as the node request it asks for, validated
//! against the P4Info.

use super::bits::decode_bits;
use super::decode::register_index;
use super::{NetcraqIds, P4Error};
use super::{FABRIC_PORT_TABLE, KEY_GROUP_TABLE};
use crate::p4info::{name_of, P4InfoIndex};
use crate::proto::p4::v1 as p4;
use netcraq_core::control::ControlRequest;
use netcraq_core::Route;
use tonic::Code;

impl NetcraqIds {
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
        if entry.table_id == self.fabric_port {
            return self.fabric_port_update(index, kind, entry);
        }
        if entry.table_id == self.key_group {
            return self.key_group_update(index, kind, entry);
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
}

impl NetcraqIds {
    fn fabric_port_update(
        &self,
        index: &P4InfoIndex,
        kind: p4::update::Type,
        entry: &p4::TableEntry,
    ) -> Result<ControlRequest, P4Error> {
        use p4::update::Type;
        // Its default entry is const (edge_port): refused above as PERMISSION_DENIED.
        if entry.priority != 0 {
            return Err(P4Error::invalid(format!("{FABRIC_PORT_TABLE} has no ternary or range field: priority 0")));
        }
        if kind == Type::Delete {
            return Ok(ControlRequest::DeleteFabricPort(self.fabric_port_match(entry)?));
        }
        let fabric = self.parse_fabric_port_entry(index, entry)?;
        Ok(match kind {
            Type::Insert => ControlRequest::InsertFabricPort(fabric),
            _ => ControlRequest::ModifyFabricPort(fabric),
        })
    }
}

impl NetcraqIds {
    fn key_group_update(
        &self,
        index: &P4InfoIndex,
        kind: p4::update::Type,
        entry: &p4::TableEntry,
    ) -> Result<ControlRequest, P4Error> {
        use p4::update::Type;
        // Its default entry is const (no_group): refused above as PERMISSION_DENIED.
        if entry.priority != 0 {
            return Err(P4Error::invalid(format!("{KEY_GROUP_TABLE} has no ternary or range field: priority 0")));
        }
        if kind == Type::Delete {
            let (key, prefix_len) = self.key_group_match(entry)?;
            return Ok(ControlRequest::DeleteKeyGroup { key, prefix_len });
        }
        let group = self.parse_key_group_entry(index, entry)?;
        Ok(match kind {
            Type::Insert => ControlRequest::InsertKeyGroup(group),
            _ => ControlRequest::ModifyKeyGroup(group),
        })
    }
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
