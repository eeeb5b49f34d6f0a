use crate::{
    is_newer, KeySlot, Lease, NodeConfig, Outcome, Registers, Role, RouteTable, Writer, MAX_UNCOMMITTED_VERSIONS,
};
use crate::{ConfigError, FabricPorts, KeyGroup, KeyGroupError, KeyGroups, Mode};
use netcraq_wire::{
    ChainExtension, ErrorCode, EthernetFrame, Ipv4Addr, Ipv4Packet, NetcraqFrame, NetcraqHeader, NetcraqRepr, Op,
    UdpDatagram, WireError, CHAIN_FRAME_LEN, ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, IPV4_HEADER_LEN, IP_PROTOCOL_UDP,
    NETCRAQ_FRAME_LEN, NETCRAQ_HEADER_LEN, NETCRAQ_HEADER_OFFSET, NETCRAQ_UDP_PORT, UDP_HEADER_LEN,
};

const MIN_UDP_TOTAL_LEN: u16 = (IPV4_HEADER_LEN + UDP_HEADER_LEN) as u16;

/// A frame to send: on which port, and how many bytes of its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Egress {
    pub port: u16,
    pub len: usize,
}

/// What [`Node::process`] did with one frame: its outcome and the frames to
/// send, in order: first `primary` (the received buffer, rewritten in place),
/// then `secondary` (written into the scratch buffer). An output longer than
/// the received buffer (a chain frame made from a client's request) is
/// written into the scratch buffer, as the `secondary` of a frame with no
/// `primary`: no row of §5.1 emits a second output then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub primary: Option<Egress>,
    pub secondary: Option<Egress>,
    /// Outputs not sent for lack of a route, each counted `NO_ROUTE`.
    pub unrouted: u8,
}

impl Verdict {
    fn silent(outcome: Outcome) -> Self {
        Verdict { outcome, primary: None, secondary: None, unrouted: 0 }
    }
}

/// One frame the behaviour table asks for (§4.3, §4.4).
#[derive(Clone, Copy)]
enum Output {
    Reply(NetcraqRepr),
    Forward(Ipv4Addr, NetcraqRepr),
    /// The key's stored version as `op`, addressed as its writer's request
    /// (§4.4): a re-send, a sweep's copy or a sweep's commit ACK.
    Stored {
        op: Op,
        to: Ipv4Addr,
        key: u16,
    },
}

/// What the behaviour table (§5.1) decides for one request: its outcome and
/// up to two frames, sent in this order.
enum Action {
    Silent(Outcome),
    One(Outcome, Output),
    Two(Outcome, Output, Output),
}

enum Received {
    /// Step 8: not for this node; `chain_frame` when it looks like a chain frame.
    Transit {
        chain_frame: bool,
    },
    Request(NetcraqFrame),
}

/// One NetCRAQ node: its tables, registers and counters, and the per-frame
/// behaviour of `docs/protocol.md`.
#[derive(Debug, Clone)]
pub struct Node {
    config: Option<NodeConfig>,
    key_groups: KeyGroups,
    routes: RouteTable,
    fabric_ports: FabricPorts,
    registers: Registers,
    lease: Lease,
    /// The lease clock `now` (§2.4), set by the backend.
    clock_ticks: u32,
    outcomes: [u64; Outcome::COUNT],
    key_reads: Vec<u64>,
    key_writes: Vec<u64>,
}

impl Node {
    /// An unconfigured node with `key_capacity` key registers, all zero.
    pub fn new(key_capacity: usize) -> Self {
        assert!(key_capacity > 0 && key_capacity <= 1 << 16, "key capacity must be 1..=65536");
        Node {
            config: None,
            key_groups: KeyGroups::default(),
            routes: RouteTable::default(),
            fabric_ports: FabricPorts::default(),
            registers: Registers::new(key_capacity),
            lease: Lease::default(),
            clock_ticks: 0,
            outcomes: [0; Outcome::COUNT],
            key_reads: vec![0; key_capacity],
            key_writes: vec![0; key_capacity],
        }
    }

    pub fn config(&self) -> Option<&NodeConfig> {
        self.config.as_ref()
    }

    /// Sets the `node_config` entry after validating it.
    pub fn set_config(&mut self, config: NodeConfig) -> Result<(), ConfigError> {
        config.validate(self.registers.capacity())?;
        self.config = Some(config);
        Ok(())
    }

    pub fn clear_config(&mut self) {
        self.config = None;
    }

    pub fn key_groups(&self) -> &KeyGroups {
        &self.key_groups
    }

    /// Adds a `key_group` entry after validating it (§2.3).
    pub fn insert_key_group(&mut self, group: KeyGroup) -> Result<(), KeyGroupError> {
        self.key_groups.insert(group, self.registers.capacity())
    }

    /// Replaces the `key_group` entry of `group`'s prefix after validating it.
    pub fn modify_key_group(&mut self, group: KeyGroup) -> Result<(), KeyGroupError> {
        self.key_groups.modify(group, self.registers.capacity())
    }

    pub fn remove_key_group(&mut self, key: u16, prefix_len: u8) -> Result<KeyGroup, KeyGroupError> {
        self.key_groups.remove(key, prefix_len)
    }

    pub fn routes(&self) -> &RouteTable {
        &self.routes
    }

    pub fn routes_mut(&mut self) -> &mut RouteTable {
        &mut self.routes
    }

    pub fn fabric_ports(&self) -> &FabricPorts {
        &self.fabric_ports
    }

    pub fn fabric_ports_mut(&mut self) -> &mut FabricPorts {
        &mut self.fabric_ports
    }

    pub fn registers(&self) -> &Registers {
        &self.registers
    }

    pub fn registers_mut(&mut self) -> &mut Registers {
        &mut self.registers
    }

    pub fn lease(&self) -> Lease {
        self.lease
    }

    pub fn set_lease(&mut self, lease: Lease) {
        self.lease = lease;
    }

    /// Sets the lease clock `now` (§2.4) for the frames processed next.
    pub fn set_clock(&mut self, now_ticks: u32) {
        self.clock_ticks = now_ticks;
    }

    pub fn outcome_count(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome.index()]
    }

    pub fn outcome_counts(&self) -> &[u64; Outcome::COUNT] {
        &self.outcomes
    }

    pub fn key_reads(&self) -> &[u64] {
        &self.key_reads
    }

    pub fn key_writes(&self) -> &[u64] {
        &self.key_writes
    }

    /// Processes one frame received on `ingress_port` (§5). The first output
    /// is written over `frame` itself, the second into `scratch`; see
    /// [`Verdict`].
    pub fn process(&mut self, ingress_port: u16, frame: &mut [u8], scratch: &mut [u8; CHAIN_FRAME_LEN]) -> Verdict {
        let verdict = self.handle(ingress_port, frame, scratch);
        // Counters wrap, as P4 counters do (§2.2).
        let outcome = &mut self.outcomes[verdict.outcome.index()];
        *outcome = outcome.wrapping_add(1);
        let no_route = &mut self.outcomes[Outcome::NoRoute.index()];
        *no_route = no_route.wrapping_add(u64::from(verdict.unrouted));
        verdict
    }

    fn handle(&mut self, ingress_port: u16, frame: &mut [u8], scratch: &mut [u8; CHAIN_FRAME_LEN]) -> Verdict {
        let Some(config) = self.config else {
            return Verdict::silent(Outcome::DropUnconfigured);
        };
        match receive(&config, frame) {
            Err(outcome) => Verdict::silent(outcome),
            // §5 step 8, §9.1: a chain frame from an edge port must not reach the fabric.
            Ok(Received::Transit { chain_frame: true }) if self.fabric_ports.lookup(ingress_port).is_none() => {
                Verdict::silent(Outcome::DropNotFromChain)
            }
            Ok(Received::Transit { .. }) => self.transit(&config, frame),
            Ok(Received::Request(request)) => {
                let chain = self.chain_of(&config, &request);
                self.serve(&chain, ingress_port, &request, frame, scratch)
            }
        }
    }

    /// The key's chain (§2.3): its `key_group` entry's over `node_config`;
    /// a `RENEW` names no key and uses `node_config`'s.
    fn chain_of(&self, config: &NodeConfig, request: &NetcraqFrame) -> NodeConfig {
        match (request.header.op, self.key_groups.lookup(request.header.key)) {
            (Op::Renew, _) | (_, None) => *config,
            (_, Some(group)) => group.chain_of(config),
        }
    }

    /// Steps 15 and 16 of §5 and the behaviour table, by the key's chain.
    fn serve(
        &mut self,
        config: &NodeConfig,
        ingress_port: u16,
        request: &NetcraqFrame,
        frame: &mut [u8],
        scratch: &mut [u8; CHAIN_FRAME_LEN],
    ) -> Verdict {
        match self.admit(config, ingress_port, request) {
            Err(outcome) => Verdict::silent(outcome),
            Ok(()) => {
                let action = self.decide(config, request);
                self.emit(config, request, action, frame, scratch)
            }
        }
    }

    /// Steps 15, 15b and 15c of §5: the role handles the op, and a chain op
    /// comes from the neighbour or control plane that sends it, in this
    /// configuration.
    fn admit(&self, config: &NodeConfig, ingress_port: u16, request: &NetcraqFrame) -> Result<(), Outcome> {
        let role = config.role;
        let port = || self.fabric_ports.lookup(ingress_port);
        let (handled, from_neighbour) = match request.header.op {
            Op::Read | Op::Write => return Ok(()),
            Op::ChainWrite => (matches!(role, Role::Replica | Role::Tail), port().is_some_and(|p| p.from_predecessor)),
            Op::Ack => (matches!(role, Role::Head | Role::Replica), port().is_some_and(|p| p.from_successor)),
            Op::Sync => (matches!(role, Role::Replica | Role::Tail), port().is_some_and(|p| p.from_predecessor)),
            Op::Sweep | Op::Renew => (true, port().is_some_and(|p| p.from_controller)),
            Op::ReadReply | Op::WriteReply | Op::Error => (false, false),
        };
        if !handled {
            return Err(Outcome::DropUnexpectedOp);
        }
        if !from_neighbour {
            return Err(Outcome::DropNotFromChain);
        }
        if request.epoch != config.epoch {
            return Err(Outcome::DropWrongEpoch);
        }
        Ok(())
    }

    fn transit(&self, config: &NodeConfig, frame: &mut [u8]) -> Verdict {
        let mut eth = EthernetFrame::new_unchecked(&mut *frame);
        let mut ip = Ipv4Packet::new_unchecked(eth.payload_mut());
        let Some(route) = self.routes.lookup(ip.dst_addr()) else {
            return Verdict { unrouted: 1, ..Verdict::silent(Outcome::Transit) };
        };
        ip.set_ttl(ip.ttl() - 1);
        ip.fill_checksum();
        eth.set_src_addr(config.own_mac);
        eth.set_dst_addr(route.mac);
        let primary = Some(Egress { port: route.port, len: frame.len() });
        Verdict { primary, ..Verdict::silent(Outcome::Transit) }
    }

    /// Step 16 of §5, the key counters, then the behaviour table.
    fn decide(&mut self, config: &NodeConfig, request: &NetcraqFrame) -> Action {
        let header = request.header;
        let in_range = (u32::from(config.key_lo)..config.key_hi).contains(&u32::from(header.key));
        match (header.op, in_range) {
            (Op::Renew, _) => self.on_renew(config, &header),
            (Op::Read | Op::Write, false) => {
                Action::One(Outcome::KeyOutOfRange, Output::Reply(error_reply(header, ErrorCode::KeyOutOfRange)))
            }
            (_, false) => Action::Silent(Outcome::DropKeyOutOfRange),
            (Op::Read, true) => {
                self.key_reads[usize::from(header.key)] = self.key_reads[usize::from(header.key)].wrapping_add(1);
                self.on_read(config, header)
            }
            (Op::Write, true) => {
                self.key_writes[usize::from(header.key)] = self.key_writes[usize::from(header.key)].wrapping_add(1);
                self.on_write(config, request)
            }
            (Op::ChainWrite, true) => self.on_chain_write(config, request),
            (Op::Sync, true) => self.on_sync(config, request),
            (Op::Sweep, true) => self.on_sweep(config, header.key),
            (_, true) => self.on_ack(config, header),
        }
    }

    fn on_read(&mut self, config: &NodeConfig, header: NetcraqRepr) -> Action {
        if !self.serves(config, header.key) {
            let refusal = Output::Reply(error_reply(header, ErrorCode::NotServing));
            return Action::One(Outcome::ReadNotServing, refusal);
        }
        let slot = self.slot(header.key);
        let local = config.role.is_tail_like() || (config.mode == Mode::Craq && !slot.is_dirty());
        match local {
            true => Action::One(Outcome::ReadLocal, Output::Reply(stored_header(Op::ReadReply, header.key, slot))),
            false => Action::One(Outcome::ReadToTail, Output::Forward(config.tail_ip, header)),
        }
    }

    fn on_write(&mut self, config: &NodeConfig, request: &NetcraqFrame) -> Action {
        let header = request.header;
        if !config.role.is_head_like() {
            return Action::One(Outcome::WriteToHead, Output::Forward(config.head_ip, header));
        }
        let writer = writer_of(request);
        let solo = config.role == Role::Solo;
        let slot = self.slot_mut(header.key);
        if slot.writer.same_socket(&writer) && slot.value == header.value {
            let resend = match solo {
                true => Output::Reply(stored_header(Op::WriteReply, header.key, slot)),
                false => Output::Stored { op: Op::ChainWrite, to: config.successor_ip, key: header.key },
            };
            return Action::One(Outcome::WriteRetransmit, resend);
        }
        if header.version != 0 {
            return Action::One(Outcome::WriteUnknown, Output::Reply(error_reply(header, ErrorCode::OutcomeUnknown)));
        }
        if !solo && slot.uncommitted() >= MAX_UNCOMMITTED_VERSIONS {
            let refusal = Output::Reply(error_reply(header, ErrorCode::WindowFull));
            return Action::Two(
                Outcome::WriteWindowFull,
                refusal,
                Output::Stored { op: Op::ChainWrite, to: config.successor_ip, key: header.key },
            );
        }
        let version = slot.version.wrapping_add(1);
        let acked = if solo { version } else { slot.acked };
        *slot = KeySlot { value: header.value, version, acked, writer, received: config.sync_epoch };
        match solo {
            true => {
                Action::One(Outcome::WriteStamped, Output::Reply(NetcraqRepr { op: Op::WriteReply, version, ..header }))
            }
            false => {
                let chain_write = NetcraqRepr { op: Op::ChainWrite, version, ..header };
                Action::One(Outcome::WriteStamped, Output::Forward(config.successor_ip, chain_write))
            }
        }
    }

    fn on_chain_write(&mut self, config: &NodeConfig, request: &NetcraqFrame) -> Action {
        let header = request.header;
        let tail = config.role == Role::Tail;
        let received = self.has_received(config, header.key);
        let newer = !received || is_newer(header.version, self.slot(header.key).version);
        if newer {
            let acked = if tail { header.version } else { self.slot(header.key).acked };
            self.store(config, request, acked);
        }
        if !tail {
            let outcome = if newer { Outcome::ChainWriteApplied } else { Outcome::ChainWriteStale };
            return Action::One(outcome, Output::Forward(config.successor_ip, header));
        }
        let outcome = match (received, newer) {
            (false, _) => Outcome::KeyReceived,
            (true, true) => Outcome::CommitApplied,
            (true, false) => Outcome::CommitDuplicate,
        };
        let write_reply = Output::Reply(NetcraqRepr { op: Op::WriteReply, ..header });
        let ack = Output::Forward(config.predecessor_ip, NetcraqRepr { op: Op::Ack, ..header });
        Action::Two(outcome, write_reply, ack)
    }

    /// §5.1 `SYNC`: a committed version copied from the predecessor (§10).
    fn on_sync(&mut self, config: &NodeConfig, request: &NetcraqFrame) -> Action {
        let header = request.header;
        let received = self.has_received(config, header.key);
        if received && !is_newer(header.version, self.slot(header.key).version) {
            return Action::Silent(Outcome::SyncStale);
        }
        self.store(config, request, header.version);
        Action::Silent(if received { Outcome::SyncApplied } else { Outcome::KeyReceived })
    }

    /// §5.1 `SWEEP`: push one key one step toward the tail (§10.1).
    fn on_sweep(&mut self, config: &NodeConfig, key: u16) -> Action {
        let received = self.has_received(config, key);
        let slot = self.slot_mut(key);
        let dirty = slot.is_dirty();
        match config.role {
            Role::Head | Role::Replica if dirty => {
                Action::One(Outcome::SweepResent, Output::Stored { op: Op::ChainWrite, to: config.successor_ip, key })
            }
            Role::Head | Role::Replica => {
                Action::One(Outcome::SweepCopied, Output::Stored { op: Op::Sync, to: config.successor_ip, key })
            }
            Role::Tail if dirty && received => {
                slot.acked = slot.version;
                Action::One(Outcome::SweepCommitted, Output::Stored { op: Op::Ack, to: config.predecessor_ip, key })
            }
            Role::Solo if dirty => {
                slot.acked = slot.version;
                Action::Silent(Outcome::SweepCommitted)
            }
            Role::Tail | Role::Solo => Action::Silent(Outcome::SweepClean),
        }
    }

    /// §5.1 `RENEW` (§9.3).
    fn on_renew(&mut self, config: &NodeConfig, header: &NetcraqRepr) -> Action {
        Action::Silent(self.lease.renew(self.clock_ticks, header.lease_end_ticks(), config.lease_ticks))
    }

    /// Whether a READ of `key` may be answered (§5.1's first READ row):
    /// the lease is held, and a syncing tail has received the key. A lease
    /// read as lapsed stays lapsed until the next `RENEW` (§2.1b).
    fn serves(&mut self, config: &NodeConfig, key: u16) -> bool {
        if config.lease_ticks != 0 && !self.lease.is_held_at(self.clock_ticks) {
            self.lease.held = false;
            return false;
        }
        self.has_received(config, key)
    }

    /// A full member has received every key; a syncing tail, those stored
    /// since its join (§10.4).
    fn has_received(&self, config: &NodeConfig, key: u16) -> bool {
        !config.is_syncing() || self.slot(key).received == config.sync_epoch
    }

    /// "Store" of §5.1: the packet's value, version and writer, with `acked`.
    fn store(&mut self, config: &NodeConfig, request: &NetcraqFrame, acked: u8) {
        let header = request.header;
        *self.slot_mut(header.key) = KeySlot {
            value: header.value,
            version: header.version,
            acked,
            writer: writer_of(request),
            received: config.sync_epoch,
        };
    }

    fn on_ack(&mut self, config: &NodeConfig, header: NetcraqRepr) -> Action {
        self.slot_mut(header.key).acknowledge(header.version);
        match config.role {
            Role::Replica => Action::One(Outcome::AckForwarded, Output::Forward(config.predecessor_ip, header)),
            _ => Action::Silent(Outcome::AckConsumed),
        }
    }

    fn emit(
        &self,
        config: &NodeConfig,
        request: &NetcraqFrame,
        action: Action,
        frame: &mut [u8],
        scratch: &mut [u8; CHAIN_FRAME_LEN],
    ) -> Verdict {
        let (outcome, first, second) = match action {
            Action::Silent(outcome) => return Verdict::silent(outcome),
            Action::One(outcome, first) => (outcome, first, None),
            Action::Two(outcome, first, second) => (outcome, first, Some(second)),
        };
        let first = self.build(config, request, first);
        if first.header.op.is_chain() && first.frame_len() > frame.len() {
            // A chain frame from a 62-byte request (§5.1: a head's stamped
            // write or re-send, never with a second output) goes to scratch.
            debug_assert!(second.is_none(), "a grown first output has no second");
            let secondary = self.route_and_write(config, first, scratch, NetcraqFrame::emit);
            return Verdict { outcome, primary: None, secondary, unrouted: u8::from(secondary.is_none()) };
        }
        // The first output goes over the request's own bytes, so only the
        // fields that differ are written; the second is written whole.
        let primary = self.route_and_write(config, first, frame, NetcraqFrame::rewrite);
        let secondary = second.and_then(|out| {
            self.route_and_write(config, self.build(config, request, out), scratch, NetcraqFrame::emit)
        });
        let unrouted = u8::from(primary.is_none()) + u8::from(second.is_some() && secondary.is_none());
        Verdict { outcome, primary, secondary, unrouted }
    }

    /// The output's frame; a chain frame carries this node's epoch (§4.2).
    fn build(&self, config: &NodeConfig, request: &NetcraqFrame, output: Output) -> NetcraqFrame {
        let mut out = match output {
            Output::Reply(header) => reply(config, request, header),
            Output::Forward(to, header) => forward(request, to, header),
            Output::Stored { op, to, key } => self.stored(request, op, to, key),
        };
        out.epoch = if out.header.op.is_chain() { config.epoch } else { 0 };
        out
    }

    /// §4.4: the stored version as `op`, addressed as its writer's request, to `to`.
    fn stored(&self, request: &NetcraqFrame, op: Op, to: Ipv4Addr, key: u16) -> NetcraqFrame {
        let slot = self.slot(key);
        let writer = slot.writer;
        NetcraqFrame {
            ip_src: writer.ip,
            udp_src: writer.port,
            ident: writer.id,
            ..forward(request, to, stored_header(op, key, slot))
        }
    }

    fn route_and_write(
        &self,
        config: &NodeConfig,
        mut out: NetcraqFrame,
        buffer: &mut [u8],
        write: fn(&NetcraqFrame, &mut [u8]) -> netcraq_wire::Result<usize>,
    ) -> Option<Egress> {
        let route = self.routes.lookup(out.ip_dst)?;
        out.eth_src = config.own_mac;
        out.eth_dst = route.mac;
        // Every buffer reaching here holds the whole output: `emit` checked
        // the received one's length, and scratch holds the longest frame.
        let len = write(&out, buffer).ok()?;
        Some(Egress { port: route.port, len })
    }

    fn slot(&self, key: u16) -> &KeySlot {
        self.registers.get(key).expect("key_hi <= capacity, checked by set_config")
    }

    fn slot_mut(&mut self, key: u16) -> &mut KeySlot {
        self.registers.get_mut(key).expect("key_hi <= capacity, checked by set_config")
    }
}

fn writer_of(request: &NetcraqFrame) -> Writer {
    Writer { ip: request.ip_src, port: request.udp_src, id: request.ident }
}

fn error_reply(request: NetcraqRepr, code: ErrorCode) -> NetcraqRepr {
    NetcraqRepr { op: Op::Error, version: code as u8, ..request }
}

fn stored_header(op: Op, key: u16, slot: &KeySlot) -> NetcraqRepr {
    NetcraqRepr { op, version: slot.version, key, value: slot.value }
}

/// §4.3: a reply from this node to the client.
fn reply(config: &NodeConfig, request: &NetcraqFrame, header: NetcraqRepr) -> NetcraqFrame {
    NetcraqFrame {
        ip_src: config.own_ip,
        ip_dst: request.ip_src,
        udp_src: NETCRAQ_UDP_PORT,
        udp_dst: request.udp_src,
        ttl: request.ttl - 1,
        header,
        ..*request
    }
}

/// §4.3: the request passed on to node `to`, keeping the client's addressing.
fn forward(request: &NetcraqFrame, to: Ipv4Addr, header: NetcraqRepr) -> NetcraqFrame {
    NetcraqFrame { ip_dst: to, udp_dst: NETCRAQ_UDP_PORT, ttl: request.ttl - 1, header, ..*request }
}

/// Steps 2 to 14 of §5.
fn receive(config: &NodeConfig, frame: &[u8]) -> Result<Received, Outcome> {
    let eth = EthernetFrame::new_checked(frame).map_err(|_| Outcome::DropTruncated)?;
    if eth.dst_addr() != config.own_mac {
        return Err(Outcome::DropWrongMac);
    }
    if eth.ethertype() != ETHERTYPE_IPV4 {
        return Err(Outcome::DropNotIpv4);
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).map_err(|error| match error {
        WireError::Truncated => Outcome::DropTruncated,
        _ => Outcome::DropIpv4Malformed,
    })?;
    if !ip.verify_checksum() {
        return Err(Outcome::DropIpv4Checksum);
    }
    if ip.ttl() < 2 {
        return Err(Outcome::DropTtlExpired);
    }
    if ip.dst_addr() != config.own_ip {
        return Ok(Received::Transit { chain_frame: looks_like_chain_frame(frame, &ip) });
    }
    if ip.is_fragment() {
        return Err(Outcome::DropFragment);
    }
    if ip.protocol() != IP_PROTOCOL_UDP {
        return Err(Outcome::DropNotUdp);
    }
    if ip.total_len() < MIN_UDP_TOTAL_LEN {
        return Err(Outcome::DropBadLength);
    }
    let udp = UdpDatagram::new_unchecked(ip.payload());
    if udp.dst_port() != NETCRAQ_UDP_PORT {
        return Err(Outcome::DropWrongPort);
    }
    let frame_len = usize::from(ip.total_len()) + ETHERNET_HEADER_LEN;
    let udp_len_matches = usize::from(udp.len()) + IPV4_HEADER_LEN == usize::from(ip.total_len());
    if !matches!(frame_len, NETCRAQ_FRAME_LEN | CHAIN_FRAME_LEN) || !udp_len_matches {
        return Err(Outcome::DropBadLength);
    }
    let payload = udp.payload();
    let header = NetcraqRepr::parse(&NetcraqHeader::new_unchecked(payload)).map_err(|_| Outcome::DropUnknownOp)?;
    if frame_len != header.op.frame_len() {
        return Err(Outcome::DropBadLength);
    }
    let epoch = match header.op.is_chain() {
        true => ChainExtension::new_unchecked(&payload[NETCRAQ_HEADER_LEN..]).epoch(),
        false => 0,
    };
    Ok(Received::Request(NetcraqFrame {
        eth_src: eth.src_addr(),
        eth_dst: eth.dst_addr(),
        ip_src: ip.src_addr(),
        ip_dst: ip.dst_addr(),
        ttl: ip.ttl(),
        tos: ip.tos(),
        ident: ip.ident(),
        flags_fragment: ip.flags_fragment(),
        udp_src: udp.src_port(),
        udp_dst: udp.dst_port(),
        header,
        epoch,
    }))
}

/// Step 8's test (§5): at least 62 bytes, UDP, the first or only fragment,
/// to port 20035, with a chain op. `ip` has passed step 5, so its header is
/// 20 bytes.
fn looks_like_chain_frame(frame: &[u8], ip: &Ipv4Packet<&[u8]>) -> bool {
    if frame.len() < NETCRAQ_FRAME_LEN || ip.protocol() != IP_PROTOCOL_UDP || ip.fragment_offset() != 0 {
        return false;
    }
    let udp = UdpDatagram::new_unchecked(&frame[ETHERNET_HEADER_LEN + IPV4_HEADER_LEN..]);
    let header = NetcraqHeader::new_unchecked(&frame[NETCRAQ_HEADER_OFFSET..]);
    udp.dst_port() == NETCRAQ_UDP_PORT && Op::from_code(header.op_code()).is_some_and(Op::is_chain)
}
