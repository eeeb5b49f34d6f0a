//! [`NodeUnderTest`] for the Rust core.

use crate::{Counters, InitialState, KeyRegisters, NodeUnderTest, Output};
use netcraq_core::{KeySlot, Lease, Node, Route, Writer};
use netcraq_wire::{MacAddr, CHAIN_FRAME_LEN};

/// The core node keeps its register capacity across resets.
impl NodeUnderTest for Node {
    fn reset(&mut self, state: &InitialState<'_>) -> Result<(), String> {
        *self = Node::new(Node::registers(self).capacity());
        if let Some(config) = state.config {
            self.set_config(*config).map_err(|e| format!("node_config refused: {e}"))?;
        }
        for group in state.key_groups {
            let prefix = format!("{}/{}", group.key, group.prefix_len);
            self.insert_key_group(*group).map_err(|e| format!("key_group {prefix} refused: {e}"))?;
        }
        for route in state.routes {
            let entry =
                Route { prefix: route.prefix, prefix_len: route.prefix_len, port: route.port, mac: MacAddr(route.mac) };
            self.routes_mut()
                .insert(entry)
                .map_err(|e| format!("route {}/{} refused: {e}", route.prefix, route.prefix_len))?;
        }
        for entry in state.fabric_ports {
            self.fabric_ports_mut().insert(*entry).map_err(|e| format!("fabric port {} refused: {e}", entry.port))?;
        }
        for entry in state.registers {
            let capacity = Node::registers(self).capacity();
            let slot = self
                .registers_mut()
                .get_mut(entry.key)
                .ok_or_else(|| format!("key {} is beyond the node's {capacity} registers", entry.key))?;
            *slot = KeySlot {
                value: entry.value,
                version: entry.version,
                acked: entry.acked,
                writer: Writer { ip: entry.writer_ip, port: entry.writer_port, id: entry.writer_id },
                received: entry.received,
            };
        }
        self.set_lease(state.lease);
        Ok(())
    }

    fn receive(&mut self, ingress_port: u16, clock_ticks: u32, frame: &[u8]) -> Result<Vec<Output>, String> {
        self.set_clock(clock_ticks);
        let mut buffer = frame.to_vec();
        let mut scratch = [0u8; CHAIN_FRAME_LEN];
        let verdict = self.process(ingress_port, &mut buffer, &mut scratch);
        let mut sent = Vec::new();
        if let Some(egress) = verdict.primary {
            let bytes = buffer.get(..egress.len).ok_or("primary output longer than the frame buffer")?;
            sent.push(Output { port: egress.port, frame: bytes.to_vec() });
        }
        if let Some(egress) = verdict.secondary {
            let bytes = scratch.get(..egress.len).ok_or("secondary output longer than the scratch buffer")?;
            sent.push(Output { port: egress.port, frame: bytes.to_vec() });
        }
        Ok(sent)
    }

    fn registers(&mut self) -> Result<Vec<KeyRegisters>, String> {
        Ok(Node::registers(self)
            .non_zero()
            .map(|(key, slot)| KeyRegisters {
                key,
                value: slot.value,
                version: slot.version,
                acked: slot.acked,
                writer_ip: slot.writer.ip,
                writer_port: slot.writer.port,
                writer_id: slot.writer.id,
                received: slot.received,
            })
            .collect())
    }

    fn lease(&mut self) -> Result<Lease, String> {
        Ok(Node::lease(self))
    }

    fn counters(&mut self) -> Result<Counters, String> {
        let mut outcomes = std::collections::BTreeMap::new();
        for outcome in netcraq_core::Outcome::ALL {
            let count = self.outcome_count(outcome);
            if count != 0 {
                outcomes.insert(outcome.name().to_string(), count);
            }
        }
        let non_zero = |counts: &[u64]| {
            counts.iter().enumerate().filter(|(_, n)| **n != 0).map(|(key, n)| (key as u16, *n)).collect()
        };
        Ok(Counters { outcomes, key_reads: non_zero(self.key_reads()), key_writes: non_zero(self.key_writes()) })
    }
}
