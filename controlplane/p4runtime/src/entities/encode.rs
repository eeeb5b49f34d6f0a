//! Entities from node state: what a node answers to a read, and what the
//! controller writes.

use super::bits::{encode_bits, ip_value, mac_value};
use super::NetcraqIds;
use crate::proto::p4::v1 as p4;
use netcraq_core::control::{CounterId, RegisterId};
use netcraq_core::{FabricPort, KeyGroup, NodeConfig, Route};
use netcraq_wire::{Ipv4Addr, MacAddr};

/// An entry of register array `array_id`: to read (`value: None`), to
/// write, or as read.
pub fn array_entry(array_id: u32, index: Option<u32>, value: Option<u128>) -> p4::RegisterEntry {
    p4::RegisterEntry {
        register_id: array_id,
        index: index.map(|i| p4::Index { index: i64::from(i) }),
        data: value.map(|v| p4::P4Data { data: Some(p4::p4_data::Data::Bitstring(encode_bits(v))) }),
    }
}

impl NetcraqIds {
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
                    u128::from(c.epoch),
                    u128::from(c.lease_ticks),
                    u128::from(c.sync_epoch),
                ];
                let params = self.set_config_params.iter().zip(values).map(|(id, value)| param(*id, value)).collect();
                action(self.set_config, params)
            }
        };
        default_entry(self.node_config, action)
    }

    /// The `fabric_port` entry of `fabric`.
    pub fn fabric_port_entry(&self, fabric: &FabricPort) -> p4::TableEntry {
        let [predecessor, successor, controller] = self.fabric_port_params;
        let params = vec![
            param(predecessor, u128::from(fabric.from_predecessor)),
            param(successor, u128::from(fabric.from_successor)),
            param(controller, u128::from(fabric.from_controller)),
        ];
        p4::TableEntry { action: Some(action(self.set_fabric_port, params)), ..self.fabric_port_key(fabric.port) }
    }

    /// The `fabric_port` entry that identifies `port` (for DELETE or a read filter).
    pub fn fabric_port_key(&self, port: u16) -> p4::TableEntry {
        let field = p4::FieldMatch {
            field_id: self.ingress_port_field,
            field_match_type: Some(p4::field_match::FieldMatchType::Exact(p4::field_match::Exact {
                value: encode_bits(u128::from(port)),
            })),
        };
        p4::TableEntry { table_id: self.fabric_port, r#match: vec![field], ..Default::default() }
    }

    /// The default entry of `fabric_port`: `edge_port`, which a node does
    /// not let change (no match means an edge port, §2.3).
    pub fn fabric_port_default_entry(&self) -> p4::TableEntry {
        default_entry(self.fabric_port, action(self.edge_port, vec![]))
    }

    /// The `key_group` entry of `group`.
    pub fn key_group_entry(&self, group: &KeyGroup) -> p4::TableEntry {
        let values = [
            u128::from(group.role as u8),
            ip_value(group.head_ip),
            ip_value(group.tail_ip),
            ip_value(group.successor_ip),
            ip_value(group.predecessor_ip),
            u128::from(group.epoch),
            u128::from(group.sync_epoch),
        ];
        let params = self.set_group_params.iter().zip(values).map(|(id, value)| param(*id, value)).collect();
        p4::TableEntry {
            action: Some(action(self.set_group, params)),
            ..self.key_group_key(group.key, group.prefix_len)
        }
    }

    /// The `key_group` entry that identifies `key/prefix_len` (for DELETE or a read filter).
    pub fn key_group_key(&self, key: u16, prefix_len: u8) -> p4::TableEntry {
        // A /0 group matches every key: "don't care", so no match field.
        let field = p4::FieldMatch {
            field_id: self.key_field,
            field_match_type: Some(p4::field_match::FieldMatchType::Lpm(p4::field_match::Lpm {
                value: encode_bits(u128::from(key)),
                prefix_len: i32::from(prefix_len),
            })),
        };
        let r#match = if prefix_len == 0 { vec![] } else { vec![field] };
        p4::TableEntry { table_id: self.key_group, r#match, ..Default::default() }
    }

    /// The default entry of `key_group`: its constant `no_group`.
    pub fn key_group_default_entry(&self) -> p4::TableEntry {
        default_entry(self.key_group, action(self.no_group, vec![]))
    }

    /// The default entry of `ipv4_route`: its constant `no_route`.
    pub fn route_default_entry(&self) -> p4::TableEntry {
        default_entry(self.ipv4_route, action(self.no_route, vec![]))
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
}

fn param(param_id: u32, value: u128) -> p4::action::Param {
    p4::action::Param { param_id, value: encode_bits(value) }
}

/// The default entry of table `table_id`, taking `action`.
fn default_entry(table_id: u32, action: p4::TableAction) -> p4::TableEntry {
    p4::TableEntry { table_id, is_default_action: true, action: Some(action), ..Default::default() }
}

fn action(action_id: u32, params: Vec<p4::action::Param>) -> p4::TableAction {
    p4::TableAction { r#type: Some(p4::table_action::Type::Action(p4::Action { action_id, params })) }
}
