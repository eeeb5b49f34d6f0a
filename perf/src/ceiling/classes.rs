//! The operation classes the ceiling measures: for each, the node's role,
//! the state of its keys and the frame that sends the node down that path
//! (`docs/protocol.md` §5), so every frame of a class hits one outcome.

use netcraq_core::{FabricPort, KeySlot, Mode, Node, NodeConfig, Outcome, Role, Route, Writer};
use netcraq_wire::{Endpoint, FrameBytes, Ipv4Addr, MacAddr, NetcraqFrame, NetcraqRepr, Op};

/// The number of the node's one port: every frame arrives and leaves by it.
pub const PORT: u16 = 1;
/// The node under test, in the middle of a chain of three.
const NODE: Endpoint = Endpoint { ip: Ipv4Addr::new(10, 0, 0, 2), mac: MacAddr([2, 0, 0, 0, 0, 2]) };
const PREDECESSOR: Endpoint = Endpoint { ip: Ipv4Addr::new(10, 0, 0, 1), mac: MacAddr([2, 0, 0, 0, 0, 1]) };
const SUCCESSOR: Endpoint = Endpoint { ip: Ipv4Addr::new(10, 0, 0, 3), mac: MacAddr([2, 0, 0, 0, 0, 3]) };
const CLIENT: Endpoint = Endpoint { ip: Ipv4Addr::new(10, 0, 1, 1), mac: MacAddr([2, 0, 0, 0, 1, 1]) };
const CLIENT_UDP_PORT: u16 = 40_000;
/// The epoch of the configuration the node runs under, and its chain frames carry.
const EPOCH: u32 = 1;
/// The value every write carries and every stored key holds.
const VALUE: [u8; 16] = [0xab; 16];
/// Byte offset of the IPv4 header checksum in a frame (Ethernet 14 + 10).
const IPV4_CHECKSUM_OFFSET: usize = 24;

/// What one received frame makes the node do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpClass {
    /// A READ of a clean key at a CRAQ replica: answered locally.
    CleanRead,
    /// A READ of a dirty key at a CRAQ replica: forwarded to the tail.
    ReadToTail,
    /// A WRITE at the head: stamped and sent down the chain as a CHAIN_WRITE.
    HeadWrite,
    /// A CHAIN_WRITE at a replica: applied and forwarded to the successor.
    ChainWrite,
    /// A CHAIN_WRITE at the tail: committed, a WRITE_REPLY to the client and an ACK upstream.
    TailCommit,
    /// A READ whose IPv4 checksum is wrong: dropped.
    MalformedDrop,
}

impl OpClass {
    pub const ALL: [OpClass; 6] = [
        OpClass::CleanRead,
        OpClass::ReadToTail,
        OpClass::HeadWrite,
        OpClass::ChainWrite,
        OpClass::TailCommit,
        OpClass::MalformedDrop,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OpClass::CleanRead => "clean_read",
            OpClass::ReadToTail => "read_to_tail",
            OpClass::HeadWrite => "head_write",
            OpClass::ChainWrite => "chain_write",
            OpClass::TailCommit => "tail_commit",
            OpClass::MalformedDrop => "malformed_drop",
        }
    }

    /// The class in words, for tables.
    pub fn label(self) -> &'static str {
        match self {
            OpClass::CleanRead => "clean read",
            OpClass::ReadToTail => "read forwarded to the tail",
            OpClass::HeadWrite => "head write",
            OpClass::ChainWrite => "replica chain write",
            OpClass::TailCommit => "tail commit + ACK",
            OpClass::MalformedDrop => "malformed drop",
        }
    }

    pub fn from_name(name: &str) -> Option<OpClass> {
        OpClass::ALL.into_iter().find(|class| class.name() == name)
    }

    /// The outcome counter every frame of the class increments.
    pub fn outcome(self) -> Outcome {
        match self {
            OpClass::CleanRead => Outcome::ReadLocal,
            OpClass::ReadToTail => Outcome::ReadToTail,
            OpClass::HeadWrite => Outcome::WriteStamped,
            OpClass::ChainWrite => Outcome::ChainWriteApplied,
            OpClass::TailCommit => Outcome::CommitApplied,
            OpClass::MalformedDrop => Outcome::DropIpv4Checksum,
        }
    }

    /// Frames the node sends per frame of the class.
    pub fn frames_out(self) -> usize {
        match self {
            OpClass::TailCommit => 2,
            OpClass::MalformedDrop => 0,
            _ => 1,
        }
    }

    fn role(self) -> Role {
        match self {
            OpClass::HeadWrite => Role::Head,
            OpClass::TailCommit => Role::Tail,
            _ => Role::Replica,
        }
    }

    /// The node's `node_config` for the class, serving keys `0..keys`.
    pub fn config(self, keys: u32) -> NodeConfig {
        let role = self.role();
        let (head, tail) = (PREDECESSOR.ip, SUCCESSOR.ip);
        NodeConfig {
            own_mac: NODE.mac,
            own_ip: NODE.ip,
            role,
            mode: Mode::Craq,
            head_ip: if role == Role::Head { NODE.ip } else { head },
            tail_ip: if role == Role::Tail { NODE.ip } else { tail },
            successor_ip: if role == Role::Tail { Ipv4Addr::UNSPECIFIED } else { SUCCESSOR.ip },
            predecessor_ip: if role == Role::Head { Ipv4Addr::UNSPECIFIED } else { PREDECESSOR.ip },
            key_lo: 0,
            key_hi: keys,
            epoch: EPOCH,
            lease_ticks: 0,
            sync_epoch: 0,
        }
    }

    /// Every key's registers before a batch: clean for a local read, dirty
    /// for a forwarded one, empty for writes (so each write is new).
    pub fn key_state(self) -> KeySlot {
        let writer = Writer { ip: CLIENT.ip, port: CLIENT_UDP_PORT, id: 1 };
        let stored = |version, acked| KeySlot { value: VALUE, version, acked, writer, received: 0 };
        match self {
            OpClass::CleanRead => stored(1, 1),
            OpClass::ReadToTail => stored(2, 1),
            _ => KeySlot::default(),
        }
    }

    /// The frame of the class for `key`, as it arrives at the node.
    pub fn request(self, key: u16) -> FrameBytes {
        let (op, version, from) = match self {
            OpClass::CleanRead | OpClass::ReadToTail | OpClass::MalformedDrop => (Op::Read, 0, CLIENT),
            OpClass::HeadWrite => (Op::Write, 0, CLIENT),
            // A CHAIN_WRITE keeps its client's addressing, from the predecessor's port.
            OpClass::ChainWrite | OpClass::TailCommit => (Op::ChainWrite, 1, CLIENT),
        };
        let value = if op == Op::Read { [0; 16] } else { VALUE };
        let header = NetcraqRepr { op, version, key, value };
        let mut frame = NetcraqFrame::request(from, CLIENT_UDP_PORT, NODE, key, header);
        if op == Op::ChainWrite {
            frame.eth_src = PREDECESSOR.mac;
            frame.epoch = EPOCH;
        }
        let mut bytes = frame.to_bytes();
        if self == OpClass::MalformedDrop {
            bytes[IPV4_CHECKSUM_OFFSET] ^= 0xff;
        }
        bytes
    }

    /// Configures `node` for the class over keys `0..keys` and sets their registers.
    pub fn install(self, node: &mut Node, keys: u32) -> Result<(), String> {
        node.set_config(self.config(keys)).map_err(|e| format!("{}: {e}", self.name()))?;
        self.reset_keys(node, keys);
        Ok(())
    }

    /// Puts keys `0..keys` back in the class's state (after a batch wrote them).
    pub fn reset_keys(self, node: &mut Node, keys: u32) {
        let state = self.key_state();
        for key in 0..keys {
            if let Some(slot) = u16::try_from(key).ok().and_then(|key| node.registers_mut().get_mut(key)) {
                *slot = state;
            }
        }
    }
}

/// The node's `ipv4_route` entries: its neighbours and the clients' subnet,
/// all by [`PORT`], which is also the fabric port of both neighbours.
pub fn install_tables(node: &mut Node) -> Result<(), String> {
    let fabric = FabricPort { port: PORT, from_predecessor: true, from_successor: true, from_controller: false };
    node.fabric_ports_mut().insert(fabric).map_err(|e| format!("fabric port {PORT}: {e}"))?;
    let routes = [(PREDECESSOR, 32), (SUCCESSOR, 32), (Endpoint { ip: Ipv4Addr::new(10, 0, 1, 0), ..CLIENT }, 24)];
    for (next_hop, prefix_len) in routes {
        let route = Route { prefix: next_hop.ip, prefix_len, port: PORT, mac: next_hop.mac };
        node.routes_mut().insert(route).map_err(|e| format!("route to {}/{prefix_len}: {e}", next_hop.ip))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcraq_core::DEFAULT_KEY_CAPACITY;
    use netcraq_wire::CHAIN_FRAME_LEN;

    /// Two batches over the keys, the registers reset between them as the
    /// harness does: every frame hits the class's outcome with its outputs.
    #[test]
    fn every_frame_of_a_class_hits_its_outcome_batch_after_batch() {
        const KEYS: u32 = 64;
        for class in OpClass::ALL {
            let mut node = Node::new(DEFAULT_KEY_CAPACITY);
            install_tables(&mut node).unwrap();
            class.install(&mut node, KEYS).unwrap();
            for _batch in 0..2 {
                for key in 0..KEYS as u16 {
                    let mut frame = class.request(key).to_vec();
                    let mut scratch = [0; CHAIN_FRAME_LEN];
                    let verdict = node.process(PORT, &mut frame, &mut scratch);
                    let outputs = usize::from(verdict.primary.is_some()) + usize::from(verdict.secondary.is_some());
                    assert_eq!(verdict.outcome, class.outcome(), "{} key {key}", class.name());
                    assert_eq!(outputs, class.frames_out(), "{} key {key}", class.name());
                    assert!(verdict.primary.iter().chain(&verdict.secondary).all(|egress| egress.port == PORT));
                }
                class.reset_keys(&mut node, KEYS);
            }
            assert_eq!(node.outcome_count(class.outcome()), 2 * u64::from(KEYS), "{}", class.name());
            assert_eq!(node.outcome_count(Outcome::NoRoute), 0);
        }
    }

    #[test]
    fn class_names_round_trip() {
        for class in OpClass::ALL {
            assert_eq!(OpClass::from_name(class.name()), Some(class));
        }
        assert_eq!(OpClass::from_name("read"), None);
    }
}
