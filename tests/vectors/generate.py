#!/usr/bin/env python3
"""Writes the NetCRAQ conformance vectors, tests/vectors/*.json, from docs/protocol.md.

This generator does not depend on any implementation. Frames are built byte by byte
with struct, and the IPv4 header checksum is computed here (RFC 1071). Every case
states its expected outputs, registers and counters by hand and cites the spec row it
checks. Nothing here models a node. The helpers reply(), forward(), resend() and
transit() only assemble the frame that §4.2 to §4.4 describe from the fields the case
passes in: the case decides which output happens, its op, version, value and next hop.

    python3 tests/vectors/generate.py          # rewrite the JSON files
    python3 tests/vectors/generate.py --check  # exit 1 if the checked-in files differ

Standard library only; the output is deterministic.
"""

import argparse
import dataclasses
import difflib
import json
import pathlib
import struct
import sys
from collections import Counter

HERE = pathlib.Path(__file__).resolve().parent

# §1: UDP port of requests and chain traffic, 0x4E43 "NC".
NC_PORT = 20035

# §1.2 operation codes.
READ, WRITE, READ_REPLY, WRITE_REPLY, ACK, ERROR, CHAIN_WRITE = 1, 2, 3, 4, 5, 6, 7
SYNC, SWEEP, RENEW = 8, 9, 10
# §1.2: sent only by chain nodes and the control plane, as chain frames (§1.4).
CHAIN_OPS = (CHAIN_WRITE, ACK, SYNC, SWEEP, RENEW)
OP_NAMES = {READ: "READ", WRITE: "WRITE", READ_REPLY: "READ_REPLY", WRITE_REPLY: "WRITE_REPLY", ACK: "ACK",
            ERROR: "ERROR", CHAIN_WRITE: "CHAIN_WRITE", SYNC: "SYNC", SWEEP: "SWEEP", RENEW: "RENEW"}
UNKNOWN_OP, OTHER_UNKNOWN_OP = 11, 12  # the first codes §1.2 does not name
# §1.3 error codes (carried in `version` of an ERROR reply).
KEY_OUT_OF_RANGE_CODE, OUTCOME_UNKNOWN_CODE, WINDOW_FULL_CODE, NOT_SERVING_CODE = 1, 2, 3, 4

# §6, in code order.
OUTCOMES = [
    "READ_LOCAL", "READ_TO_TAIL", "WRITE_TO_HEAD", "WRITE_STAMPED", "WRITE_RETRANSMIT",
    "WRITE_WINDOW_FULL", "WRITE_UNKNOWN", "CHAIN_WRITE_APPLIED", "CHAIN_WRITE_STALE",
    "COMMIT_APPLIED", "COMMIT_DUPLICATE", "ACK_FORWARDED", "ACK_CONSUMED", "KEY_OUT_OF_RANGE",
    "TRANSIT", "DROP_UNCONFIGURED", "DROP_TRUNCATED", "DROP_WRONG_MAC", "DROP_NOT_IPV4",
    "DROP_IPV4_MALFORMED", "DROP_IPV4_CHECKSUM", "DROP_TTL_EXPIRED", "DROP_FRAGMENT",
    "DROP_NOT_UDP", "DROP_BAD_LENGTH", "DROP_WRONG_PORT", "DROP_UNKNOWN_OP",
    "DROP_UNEXPECTED_OP", "DROP_KEY_OUT_OF_RANGE", "NO_ROUTE", "DROP_NOT_FROM_CHAIN", "DROP_WRONG_EPOCH",
    "READ_NOT_SERVING", "KEY_RECEIVED", "SYNC_APPLIED", "SYNC_STALE", "SWEEP_RESENT", "SWEEP_COPIED",
    "SWEEP_COMMITTED", "SWEEP_CLEAN", "LEASE_RENEWED", "RENEW_CLOCK_ONLY", "RENEW_LATE",
]

# §2.3 node_config.epoch of every case's node: neither 0 nor 1, so that a forgotten epoch shows.
EPOCH = 7


def extension(epoch):
    """§1.4: the 4-byte chain extension carrying `epoch`."""
    return struct.pack("!I", epoch)


# --------------------------------------------------------------------------- bytes


def mac_bytes(text):
    parts = text.split(":")
    assert len(parts) == 6, text
    return bytes(int(p, 16) for p in parts)


def ip_bytes(text):
    parts = [int(p) for p in text.split(".")]
    assert len(parts) == 4 and all(0 <= p <= 255 for p in parts), text
    return bytes(parts)


def ones_complement_sum(data):
    """RFC 1071: 16-bit one's-complement sum with end-around carry."""
    assert len(data) % 2 == 0
    total = 0
    for (word,) in struct.iter_unpack("!H", data):
        total += word
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


@dataclasses.dataclass(frozen=True)
class Frame:
    """One Ethernet II / IPv4 / UDP / NetCRAQ frame, field by field (§1).

    `checksum=None` means "the correct IPv4 header checksum"; `options` are IPv4
    option bytes (for malformed-IHL cases); `ext` is the chain extension after the
    NetCRAQ header (§1.4, chain frames); `pad` is appended after everything
    (Ethernet padding); `cut` truncates the final bytes to that length. The IPv4
    total length and UDP length each default to what the headers and `ext` add up to."""

    eth_dst: str
    eth_src: str
    ip_src: str
    ip_dst: str
    sport: int
    dport: int
    op: int
    version: int
    key: int
    value: bytes
    ethertype: int = 0x0800
    ver_ihl: int = 0x45
    tos: int = 0
    total_len: object = None  # None: 20 + len(options) + 8 + 20 + len(ext)
    ident: int = 0
    flags: int = 0x4000  # flags and fragment offset, as on the wire (DF set, as Linux sends)
    ttl: int = 64
    proto: int = 17
    checksum: object = None
    options: bytes = b""
    udp_len: object = None  # None: 8 + 20 + len(ext)
    udp_csum: int = 0
    ext: bytes = b""
    pad: bytes = b""
    cut: object = None

    def but(self, **changes):
        return dataclasses.replace(self, **changes)

    def udp_length(self):
        return self.udp_len if self.udp_len is not None else 8 + 20 + len(self.ext)

    def ip_header(self, checksum):
        total = self.total_len if self.total_len is not None else 20 + len(self.options) + 28 + len(self.ext)
        return struct.pack(
            "!BBHHHBBH4s4s", self.ver_ihl, self.tos, total, self.ident, self.flags, self.ttl, self.proto,
            checksum, ip_bytes(self.ip_src), ip_bytes(self.ip_dst),
        ) + self.options

    def correct_checksum(self):
        return 0xFFFF ^ ones_complement_sum(self.ip_header(0))

    def bytes(self):
        assert len(self.value) == 16
        checksum = self.correct_checksum() if self.checksum is None else self.checksum
        data = (
            mac_bytes(self.eth_dst) + mac_bytes(self.eth_src) + struct.pack("!H", self.ethertype)
            + self.ip_header(checksum)
            + struct.pack("!HHHH", self.sport, self.dport, self.udp_length(), self.udp_csum)
            + struct.pack("!BBH", self.op, self.version, self.key) + self.value
            + self.ext + self.pad
        )
        return data if self.cut is None else data[: self.cut]


def bad_checksum(frame):
    """The frame with a header checksum that does not verify."""
    wrong = frame.correct_checksum() ^ 0x0100
    out = frame.but(checksum=wrong)
    assert ones_complement_sum(out.ip_header(wrong)) != 0xFFFF
    return out


# --------------------------------------------------------------------------- topology

@dataclasses.dataclass(frozen=True)
class Node:
    name: str
    ip: str
    mac: str
    port: int  # the port the other nodes' standard routes use to reach it


@dataclasses.dataclass(frozen=True)
class Ident:
    """A client request's identity: IPv4 source, UDP source port, IPv4 identification (§3.4, §2.1)."""

    ip: str
    port: int
    id: int
    mac: str = "02:00:00:00:01:99"  # Ethernet source of its frames (not the route's next hop)


@dataclasses.dataclass(frozen=True)
class Hop:
    """An ipv4_route action set_next_hop(port, mac)."""

    port: int
    mac: str


N1 = Node("N1", "10.0.0.1", "02:00:00:00:00:01", 1)
N2 = Node("N2", "10.0.0.2", "02:00:00:00:00:02", 2)
N3 = Node("N3", "10.0.0.3", "02:00:00:00:00:03", 3)
N4 = Node("N4", "10.0.0.4", "02:00:00:00:00:04", 4)  # the SOLO node
NODES = (N1, N2, N3, N4)

CLIENT_GW = Hop(4, "02:00:00:00:01:fe")  # route 10.0.1.0/24: the clients' gateway
FAR_GW = Hop(5, "02:00:00:00:02:fe")  # route 10.0.2.0/24: somewhere else


def hop(node):
    return Hop(node.port, node.mac)


C1 = Ident("10.0.1.1", 40000, 7, "02:00:00:00:01:01")
C2 = Ident("10.0.1.2", 40001, 9, "02:00:00:00:01:02")
C3 = Ident("10.0.1.3", 40002, 0x0102, "02:00:00:00:01:03")

ZERO = bytes(16)
VA = bytes.fromhex("00112233445566778899aabbccddeeff")
VB = bytes.fromhex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")
VC = b"NetCRAQ-value-C!"
VD = bytes(range(0xF0, 0x100))
assert all(len(v) == 16 for v in (VA, VB, VC, VD))


def route(prefix, port, mac):
    return {"prefix": prefix, "port": port, "mac": mac}


def std_routes(node):
    """Every node's standard table: /32 routes to the other chain nodes on ports 1-3,
    the clients' /24 on port 4, another network's /24 on port 5."""
    routes = [route(f"{n.ip}/32", n.port, n.mac) for n in (N1, N2, N3) if n != node]
    routes.append(route("10.0.1.0/24", CLIENT_GW.port, CLIENT_GW.mac))
    routes.append(route("10.0.2.0/24", FAR_GW.port, FAR_GW.mac))
    return routes


@dataclasses.dataclass(frozen=True)
class Cfg:
    node: Node
    role: str
    mode: str
    head: str
    tail: str
    succ: str
    pred: str
    key_lo: int
    key_hi: int
    epoch: int = EPOCH
    lease_ticks: int = 0
    sync_epoch: int = 0

    def but(self, **changes):
        return dataclasses.replace(self, **changes)

    def json(self):
        config = {
            "own_mac": self.node.mac, "own_ip": self.node.ip, "role": self.role, "mode": self.mode,
            "head_ip": self.head, "tail_ip": self.tail, "successor_ip": self.succ,
            "predecessor_ip": self.pred, "key_lo": self.key_lo, "key_hi": self.key_hi, "epoch": self.epoch,
        }
        # Absent means 0 (leases off, a full member): stated only where a case sets them.
        config.update({k: v for k, v in (("lease_ticks", self.lease_ticks), ("sync_epoch", self.sync_epoch)) if v})
        return config


NONE_IP = "0.0.0.0"  # §2.3: addresses the role does not use are 0


def head(mode="CRAQ", lo=0, hi=16):
    return Cfg(N1, "HEAD", mode, NONE_IP, N3.ip, N2.ip, NONE_IP, lo, hi)


def replica(mode="CRAQ", lo=0, hi=16):
    return Cfg(N2, "REPLICA", mode, N1.ip, N3.ip, N3.ip, N1.ip, lo, hi)


def tail(mode="CRAQ", lo=0, hi=16):
    return Cfg(N3, "TAIL", mode, N1.ip, NONE_IP, NONE_IP, N2.ip, lo, hi)


def solo(mode="CRAQ", lo=0, hi=16):
    return Cfg(N4, "SOLO", mode, NONE_IP, NONE_IP, NONE_IP, NONE_IP, lo, hi)


ROLES = {"HEAD": head, "REPLICA": replica, "TAIL": tail, "SOLO": solo}


def fabric_port(port, from_predecessor=False, from_successor=False, from_controller=False):
    return {"port": port, "from_predecessor": from_predecessor, "from_successor": from_successor,
            "from_controller": from_controller}


def std_fabric(cfg):
    """Every node's standard fabric_port table (§2.3): the ports to the other chain nodes, 1-3, are fabric
    ports, marked for the node's predecessor and successor; the clients' port 4 and port 5 are edge ports."""
    return [fabric_port(n.port, n.ip == cfg.pred, n.ip == cfg.succ) for n in (N1, N2, N3) if n != cfg.node]


# --------------------------------------------------------------------------- received frames

def request(to, op, key, by, value=ZERO, version=0, **fields):
    """A client's request (§4.1) to node `to`, from client identity `by`."""
    fields.setdefault("ident", by.id)
    return Frame(
        eth_dst=to.mac, eth_src=by.mac, ip_src=by.ip, ip_dst=to.ip, sport=by.port, dport=NC_PORT,
        op=op, version=version, key=key, value=value, **fields,
    )


def chain(frm, to, op, key, version, value, by, epoch=EPOCH, **fields):
    """Chain traffic (CHAIN_WRITE or ACK) from node `frm` to node `to`, carrying the
    writer identity `by` (§4.3 forward, §5.1 details): a 66-byte chain frame whose
    extension carries `epoch` (§1.4)."""
    fields.setdefault("ttl", 63)
    fields.setdefault("ext", extension(epoch))
    return Frame(
        eth_dst=to.mac, eth_src=frm.mac, ip_src=by.ip, ip_dst=to.ip, sport=by.port, dport=NC_PORT,
        ident=by.id, op=op, version=version, key=key, value=value, **fields,
    )


# --------------------------------------------------------------------------- expected outputs

def out(port, frame):
    data = frame if isinstance(frame, (bytes, bytearray)) else frame.bytes()
    return {"port": port, "frame": data.hex()}


def reply(node, received, op, version, value, via=CLIENT_GW):
    """§4.3 reply: IPv4 own_ip -> received source, UDP 20035 -> received source port.
    §4.2: TTL - 1; identification, TOS and flags copied; checksum recomputed; UDP
    checksum 0; Ethernet own_mac -> the route's MAC. The header is (op, version,
    received key, value) as the case states it. A new 62-byte frame: no padding and,
    whatever was received, no chain extension (§1.4: replies never carry one)."""
    return out(via.port, Frame(
        eth_dst=via.mac, eth_src=node.mac, ip_src=node.ip, ip_dst=received.ip_src, sport=NC_PORT,
        dport=received.sport, tos=received.tos, ident=received.ident, flags=received.flags,
        ttl=received.ttl - 1, op=op, version=version, key=received.key, value=value,
    ))


def output_extension(op, epoch):
    """§4.2 length: an output of a chain op is a 66-byte chain frame whose extension carries the node's
    epoch; any other is 62 bytes. Whatever the received frame carried after its header is not kept."""
    return extension(epoch) if op in CHAIN_OPS else b""


def forward(node, received, to, op=None, version=None, via=None, epoch=EPOCH):
    """§4.3 forward to `to`: IPv4 source and UDP source port of the received frame,
    destination `to`, UDP 20035; §4.2 as for reply(), and a chain op carries `epoch`,
    the node's. The header keeps op, version, key and value unless the case states
    another op or version (§5.1 details)."""
    via = hop(to) if via is None else via
    op = received.op if op is None else op
    return out(via.port, Frame(
        eth_dst=via.mac, eth_src=node.mac, ip_src=received.ip_src, ip_dst=to.ip, sport=received.sport,
        dport=NC_PORT, tos=received.tos, ident=received.ident, flags=received.flags,
        ttl=received.ttl - 1, op=op, version=received.version if version is None else version,
        key=received.key, value=received.value, ext=output_extension(op, epoch),
    ))


def resend(node, received, to, version, value, writer, via=None, epoch=EPOCH, op=CHAIN_WRITE):
    """§4.4 re-send of the stored version: a CHAIN_WRITE (or, for a sweep, the `op` it
    sends) forwarded to `to` whose version and value are kv_version and kv_value, and
    whose IPv4 source, UDP source port and identification are kv_writer_ip,
    kv_writer_port and kv_writer_id (`writer` None: never written, all zero). TTL, TOS
    and flags come from the received frame (§4.2); a chain frame with the node's `epoch`."""
    via = hop(to) if via is None else via
    writer = writer or Ident(NONE_IP, 0, 0)
    return out(via.port, Frame(
        eth_dst=via.mac, eth_src=node.mac, ip_src=writer.ip, ip_dst=to.ip, sport=writer.port,
        dport=NC_PORT, tos=received.tos, ident=writer.id, flags=received.flags, ttl=received.ttl - 1,
        op=op, version=version, key=received.key, value=value, ext=output_extension(op, epoch),
    ))


def transit(node, received, via):
    """§5 step 8 / §4.3 transit: the received frame unchanged (padding included) but
    for TTL - 1, a recomputed checksum, and the MACs."""
    assert received.checksum is None, "a transit case needs a valid received checksum"
    return out(via.port, received.but(eth_src=node.mac, eth_dst=via.mac, ttl=received.ttl - 1))


def reg(key, value, version, acked, writer=None, received=0):
    """One key's registers (§2.1); `writer` is the Ident whose request wrote them, `received`
    kv_received (stated only when not 0)."""
    entry = {
        "key": key, "value": value.hex(), "version": version, "acked": acked,
        "writer_ip": writer.ip if writer else NONE_IP,
        "writer_port": writer.port if writer else 0,
        "writer_id": writer.id if writer else 0,
    }
    if received:
        entry["received"] = received
    assert not (value == ZERO and version == 0 and acked == 0 and writer is None and not received), \
        "all-zero register entry"
    return entry


def step(frame, expect, outcomes, ingress=None, clock=None):
    """One received frame and what the node MUST do with it. It arrives, unless the case
    says otherwise, on the topology's port of its Ethernet source: a chain node's (1-3,
    fabric ports) or the clients' port 4 (an edge port)."""
    if ingress is None:
        src = frame.eth_src if isinstance(frame, Frame) else None
        ingress = next((n.port for n in NODES if n.mac == src), CLIENT_GW.port)
    data = frame if isinstance(frame, (bytes, bytearray)) else frame.bytes()
    for o in outcomes:
        assert o in OUTCOMES, o
    result = {"ingress_port": ingress, "frame": bytes(data).hex(), "expect": list(expect), "outcomes": list(outcomes)}
    if clock is not None:
        result["clock"] = clock  # §2.4 the lease clock while the frame is handled
    return result


SAME = object()


def case(name, description, cfg, steps, registers=(), final=SAME, routes=None, key_reads=None, key_writes=None,
         fabric=None, lease=None, final_lease=SAME, key_groups=()):
    """A case. `final` is the list of non-zero registers after the last step (SAME: the
    initial ones, unchanged). The final outcome counters are the sum of the steps'
    outcome lists; `key_reads` / `key_writes` are stated by the case. `routes` and
    `fabric` default to the node's standard tables (an unconfigured node has none)."""
    if routes is None:
        routes = std_routes(cfg.node)
    if fabric is None:
        fabric = std_fabric(cfg) if cfg is not None else []
    final = list(registers) if final is SAME else list(final)
    totals = Counter(o for s in steps for o in s["outcomes"])
    result = {"name": name, "description": description}
    if cfg is not None:
        result["config"] = cfg.json()
    if key_groups:
        result["key_groups"] = list(key_groups)
    result.update({
        "routes": routes,
        "fabric_ports": fabric,
        "registers": sorted(registers, key=lambda r: r["key"]),
    })
    final_lease = lease if final_lease is SAME else final_lease
    if lease is not None:
        result["lease"] = lease
    result.update({
        "steps": steps,
        "final_registers": sorted(final, key=lambda r: r["key"]),
        "final_counters": {
            "outcomes": {o: totals[o] for o in OUTCOMES if totals[o]},
            "key_reads": {str(k): v for k, v in sorted((key_reads or {}).items())},
            "key_writes": {str(k): v for k, v in sorted((key_writes or {}).items())},
        },
    })
    if final_lease is not None:
        result["final_lease"] = final_lease
    return result


def drop(name, description, cfg, frame, outcome, registers=(), routes=None, ingress=None, fabric=None):
    """A case whose single frame is dropped: nothing sent, no register changed (§5)."""
    return case(name, description, cfg, [step(frame, [], [outcome], ingress)], registers, routes=routes,
                fabric=fabric)


GROUPS = {}


def group(stem, description):
    def register(fn):
        GROUPS[stem] = (description, fn)
        return fn
    return register


# =========================================================================== §5 steps 1-13

@group("parse", "§5 steps 1-13: unconfigured node, truncation at each layer, MAC, EtherType, IPv4 "
       "version/IHL/total length, checksum, TTL, fragments, protocol, UDP port and lengths; the order of "
       "the checks; a dropped frame sends nothing and changes no register")
def parse_cases():
    cfg = replica()
    regs = [reg(5, VA, 3, 3, C1)]
    # The base frame: a valid READ of a clean key at a CRAQ replica (answered locally).
    r = request(N2, READ, 5, C2)
    raw = r.bytes()
    assert len(raw) == 62

    def d(name, description, frame, outcome, **kw):
        return drop(name, description, cfg, frame, outcome, regs, **kw)

    cases = [
        case("parse-baseline-read", "The unmodified base frame of this file: a READ of a clean key at a CRAQ "
             "replica is answered locally (§5.1 row 2). Every other case here changes one thing in it.",
             cfg, [step(r, [reply(N2, r, READ_REPLY, 3, VA)], ["READ_LOCAL"])], regs, key_reads={5: 1}),
        # step 1
        case("unconfigured-drops-valid-read", "§2.3/§5 step 1: until node_config is set the node drops every "
             "frame, even a valid READ, and counts DROP_UNCONFIGURED; routes and registers are installed.",
             None, [step(r, [], ["DROP_UNCONFIGURED"])], regs, routes=std_routes(N2)),
        case("unconfigured-drops-empty-frame", "§5 step 1 comes before step 2: an empty frame at an "
             "unconfigured node counts DROP_UNCONFIGURED, not DROP_TRUNCATED.",
             None, [step(b"", [], ["DROP_UNCONFIGURED"])], routes=std_routes(N2)),
        case("unconfigured-drops-chain-write", "§5 step 1: a CHAIN_WRITE from the predecessor's fabric port at an "
             "unconfigured node is dropped and stores nothing (the registers keep version 3).",
             None, [step(chain(N1, N2, CHAIN_WRITE, 5, 4, VB, C2), [], ["DROP_UNCONFIGURED"])], regs,
             routes=std_routes(N2), fabric=std_fabric(cfg)),
        case("unconfigured-drops-every-frame", "§5 step 1: three frames of different kinds (WRITE, "
             "garbage, wrong MAC) each count DROP_UNCONFIGURED once.",
             None, [step(request(N2, WRITE, 5, C2, VB), [], ["DROP_UNCONFIGURED"]),
                    step(b"\x00" * 3, [], ["DROP_UNCONFIGURED"]),
                    step(r.but(eth_dst=N3.mac), [], ["DROP_UNCONFIGURED"])], regs, routes=std_routes(N2)),
        # step 2
        d("truncated-empty-frame", "§5 step 2: an empty frame has no Ethernet header: DROP_TRUNCATED.",
          b"", "DROP_TRUNCATED"),
        d("truncated-ethernet-13-bytes", "§5 step 2: 13 bytes, one short of the Ethernet header: "
          "DROP_TRUNCATED.", raw[:13], "DROP_TRUNCATED"),
        # step 3
        d("wrong-mac-other-node", "§5 step 3: destination MAC of another node: DROP_WRONG_MAC.",
          r.but(eth_dst=N3.mac), "DROP_WRONG_MAC"),
        d("wrong-mac-broadcast", "§5 step 3: the broadcast MAC is not own_mac: DROP_WRONG_MAC.",
          r.but(eth_dst="ff:ff:ff:ff:ff:ff"), "DROP_WRONG_MAC"),
        d("wrong-mac-one-bit", "§5 step 3: own_mac with the last bit flipped: DROP_WRONG_MAC.",
          r.but(eth_dst="02:00:00:00:00:03"), "DROP_WRONG_MAC"),
        d("wrong-mac-before-truncation", "§5 step 3 comes before step 5: a 14-byte frame to another MAC "
          "counts DROP_WRONG_MAC.", r.but(eth_dst=N1.mac).bytes()[:14], "DROP_WRONG_MAC"),
        # step 4
        d("not-ipv4-ipv6-ethertype", "§5 step 4: EtherType 0x86dd: DROP_NOT_IPV4.",
          r.but(ethertype=0x86DD), "DROP_NOT_IPV4"),
        d("not-ipv4-arp", "§5 step 4: a 42-byte ARP request to own_mac (EtherType 0x0806): DROP_NOT_IPV4.",
          mac_bytes(N2.mac) + mac_bytes(C2.mac) + bytes.fromhex("0806")
          + bytes.fromhex("0001080006040001") + mac_bytes(C2.mac) + ip_bytes(C2.ip) + bytes(6) + ip_bytes(N2.ip),
          "DROP_NOT_IPV4"),
        d("not-ipv4-vlan-tagged", "§1: no VLAN tag. An 802.1Q-tagged copy of the base frame has EtherType "
          "0x8100 at offset 12: DROP_NOT_IPV4.", raw[:12] + bytes.fromhex("81000005") + raw[12:], "DROP_NOT_IPV4"),
        d("not-ipv4-byte-swapped-ethertype", "§1 network byte order: EtherType 0x0008 is not 0x0800: "
          "DROP_NOT_IPV4.", r.but(ethertype=0x0008), "DROP_NOT_IPV4"),
        d("not-ipv4-before-truncation", "§5 step 4 comes before step 5: a 20-byte frame with EtherType "
          "0x86dd counts DROP_NOT_IPV4.", r.but(ethertype=0x86DD).bytes()[:20], "DROP_NOT_IPV4"),
        # step 5
        d("truncated-ethernet-only", "§5 step 5: 14 bytes, a whole Ethernet header and no IPv4 header: "
          "DROP_TRUNCATED.", raw[:14], "DROP_TRUNCATED"),
        d("truncated-ipv4-33-bytes", "§5 step 5: 33 bytes, one short of the IPv4 header: DROP_TRUNCATED.",
          raw[:33], "DROP_TRUNCATED"),
        d("truncated-short-beats-malformed", "§5 step 5: 'DROP_TRUNCATED if short, else DROP_IPV4_MALFORMED': "
          "33 bytes with IPv4 version 6 count DROP_TRUNCATED.", r.but(ver_ihl=0x65).bytes()[:33], "DROP_TRUNCATED"),
        d("ipv4-version-6", "§5 step 5: version nibble 6 under EtherType 0x0800 (checksum valid): "
          "DROP_IPV4_MALFORMED.", r.but(ver_ihl=0x65), "DROP_IPV4_MALFORMED"),
        d("ipv4-version-0", "§5 step 5: version nibble 0: DROP_IPV4_MALFORMED.", r.but(ver_ihl=0x05),
          "DROP_IPV4_MALFORMED"),
        d("ipv4-ihl-4", "§5 step 5: IHL 4 (a 16-byte header): DROP_IPV4_MALFORMED.", r.but(ver_ihl=0x44),
          "DROP_IPV4_MALFORMED"),
        d("ipv4-ihl-6-with-option", "§1/§5 step 5: IPv4 with options is not accepted: a well-formed "
          "IHL 6 header (NOP NOP NOP EOL, total length 52, valid checksum over 24 bytes): DROP_IPV4_MALFORMED.",
          r.but(ver_ihl=0x46, options=bytes.fromhex("01010100")), "DROP_IPV4_MALFORMED"),
        d("ipv4-ihl-15", "§5 step 5: IHL 15: DROP_IPV4_MALFORMED.", r.but(ver_ihl=0x4F), "DROP_IPV4_MALFORMED"),
        d("ipv4-total-length-19", "§5 step 5: total length 19 < 20: DROP_IPV4_MALFORMED.", r.but(total_len=19),
          "DROP_IPV4_MALFORMED"),
        d("ipv4-total-length-0", "§5 step 5: total length 0: DROP_IPV4_MALFORMED.", r.but(total_len=0),
          "DROP_IPV4_MALFORMED"),
        d("ipv4-malformed-beats-checksum", "§5 step 5 comes before step 6: version 6 and a bad checksum count "
          "DROP_IPV4_MALFORMED.", bad_checksum(r.but(ver_ihl=0x65)), "DROP_IPV4_MALFORMED"),
        # step 5b
        d("truncated-ipv4-header-only", "§5 step 5b: 34 bytes (the whole IPv4 header) but total length 48: "
          "DROP_TRUNCATED.", raw[:34], "DROP_TRUNCATED"),
        d("truncated-61-bytes", "§5 step 5b: the base frame less its last value byte (14 + 48 > 61): "
          "DROP_TRUNCATED.", raw[:61], "DROP_TRUNCATED"),
        d("truncated-total-length-49", "§5 step 5b: 62 bytes but total length 49: DROP_TRUNCATED.",
          r.but(total_len=49), "DROP_TRUNCATED"),
        d("truncated-total-length-1500", "§5 step 5b: 62 bytes but total length 1500: DROP_TRUNCATED.",
          r.but(total_len=1500), "DROP_TRUNCATED"),
        d("truncated-beats-checksum", "§5 step 5b comes before step 6: 61 bytes with a bad checksum count "
          "DROP_TRUNCATED.", bad_checksum(r).bytes()[:61], "DROP_TRUNCATED"),
        # step 6
        d("bad-checksum", "§5 step 6: header checksum off by 0x0100: DROP_IPV4_CHECKSUM.", bad_checksum(r),
          "DROP_IPV4_CHECKSUM"),
        d("bad-checksum-zero", "§5 step 6: header checksum 0 (not computed): DROP_IPV4_CHECKSUM.",
          r.but(checksum=0), "DROP_IPV4_CHECKSUM"),
        d("bad-checksum-covers-addresses", "§5 step 6: the checksum of the base frame over a header whose "
          "source address was changed afterwards: DROP_IPV4_CHECKSUM.",
          r.but(ip_src="10.0.1.9", checksum=r.correct_checksum()), "DROP_IPV4_CHECKSUM"),
        d("checksum-beats-ttl", "§5 step 6 comes before step 7: TTL 0 and a bad checksum count "
          "DROP_IPV4_CHECKSUM.", bad_checksum(r.but(ttl=0)), "DROP_IPV4_CHECKSUM"),
        # step 7
        d("ttl-1", "§5 step 7: TTL 1 < 2: DROP_TTL_EXPIRED.", r.but(ttl=1), "DROP_TTL_EXPIRED"),
        d("ttl-0", "§5 step 7: TTL 0: DROP_TTL_EXPIRED.", r.but(ttl=0), "DROP_TTL_EXPIRED"),
        d("ttl-beats-fragment", "§5 step 7 comes before step 9: TTL 1 on a fragment counts DROP_TTL_EXPIRED.",
          r.but(ttl=1, flags=0x2000), "DROP_TTL_EXPIRED"),
        # step 9
        d("fragment-more-fragments", "§5 step 9: MF flag set, offset 0 (a first fragment): DROP_FRAGMENT.",
          r.but(flags=0x2000), "DROP_FRAGMENT"),
        d("fragment-more-fragments-and-df", "§5 step 9: flags 0x6000 (DF and MF): DROP_FRAGMENT.",
          r.but(flags=0x6000), "DROP_FRAGMENT"),
        d("fragment-offset-1", "§5 step 9: fragment offset 1 (8 bytes), MF clear: DROP_FRAGMENT.",
          r.but(flags=0x0001), "DROP_FRAGMENT"),
        d("fragment-last", "§5 step 9: the last fragment of a datagram (offset 185, MF clear): DROP_FRAGMENT.",
          r.but(flags=0x00B9), "DROP_FRAGMENT"),
        d("fragment-offset-high-bit", "§5 step 9: fragment offset 0x1000 (the offset's top bit): DROP_FRAGMENT.",
          r.but(flags=0x1000), "DROP_FRAGMENT"),
        d("fragment-beats-not-udp", "§5 step 9 comes before step 10: a TCP fragment counts DROP_FRAGMENT.",
          r.but(flags=0x2000, proto=6), "DROP_FRAGMENT"),
        # step 10
        d("not-udp-tcp", "§5 step 10: protocol 6: DROP_NOT_UDP.", r.but(proto=6), "DROP_NOT_UDP"),
        d("not-udp-icmp", "§5 step 10: protocol 1: DROP_NOT_UDP.", r.but(proto=1), "DROP_NOT_UDP"),
        d("not-udp-udplite", "§5 step 10: protocol 136 (UDP-Lite): DROP_NOT_UDP.", r.but(proto=136),
          "DROP_NOT_UDP"),
        d("not-udp-beats-length", "§5 step 10 comes before step 11: protocol 6 with total length 20 counts "
          "DROP_NOT_UDP.", r.but(proto=6, total_len=20, cut=34), "DROP_NOT_UDP"),
        # step 11
        d("bad-length-ipv4-header-only", "§5 step 11: a 34-byte frame, UDP, total length 20 (no room for a "
          "UDP header): DROP_BAD_LENGTH.", r.but(total_len=20, cut=34), "DROP_BAD_LENGTH"),
        d("bad-length-total-27", "§5 step 11: total length 27 (frame 41 bytes): DROP_BAD_LENGTH.",
          r.but(total_len=27, cut=41), "DROP_BAD_LENGTH"),
        d("bad-length-total-20-rest-is-padding", "§5 steps 5b and 11: total length 20 in a 62-byte frame: the "
          "42 bytes after it are padding, not a UDP header: DROP_BAD_LENGTH (not a reply).",
          r.but(total_len=20), "DROP_BAD_LENGTH"),
        # step 12
        d("wrong-port-20036", "§5 step 12: UDP destination port 20036: DROP_WRONG_PORT.", r.but(dport=20036),
          "DROP_WRONG_PORT"),
        d("wrong-port-byte-swapped", "§5 step 12: UDP destination port 0x434e (20035 byte-swapped): "
          "DROP_WRONG_PORT.", r.but(dport=0x434E), "DROP_WRONG_PORT"),
        d("wrong-port-reply-direction", "§5 step 12: a frame from port 20035 to port 40000 (the direction of a "
          "reply): DROP_WRONG_PORT.", r.but(sport=NC_PORT, dport=40000), "DROP_WRONG_PORT"),
        d("wrong-port-beats-length", "§5 step 12 comes before step 13: total length 28 (UDP header only, frame "
          "42 bytes) to port 53 counts DROP_WRONG_PORT.", r.but(total_len=28, udp_len=8, dport=53, cut=42),
          "DROP_WRONG_PORT"),
        # step 13
        d("bad-length-udp-header-only", "§5 step 13: total length 28, UDP length 8 (no NetCRAQ header), frame "
          "42 bytes: DROP_BAD_LENGTH.", r.but(total_len=28, udp_len=8, cut=42), "DROP_BAD_LENGTH"),
        d("bad-length-total-28-rest-is-padding", "§5 step 13: total length 28 in a 62-byte frame (the NetCRAQ "
          "header lies in the padding): DROP_BAD_LENGTH.", r.but(total_len=28, udp_len=8), "DROP_BAD_LENGTH"),
        d("bad-length-total-47", "§5 step 13: total length 47 in a 62-byte frame: DROP_BAD_LENGTH.",
          r.but(total_len=47), "DROP_BAD_LENGTH"),
        d("bad-length-total-52-udp-28", "§5 step 13: total length 52 (a chain frame's) but UDP length 28 (a "
          "62-byte frame's), frame 66 bytes: DROP_BAD_LENGTH.", r.but(total_len=52, pad=bytes(4)), "DROP_BAD_LENGTH"),
        d("bad-length-total-48-udp-32", "§5 step 13: total length 48 but UDP length 32: DROP_BAD_LENGTH.",
          r.but(udp_len=32), "DROP_BAD_LENGTH"),
        d("bad-length-chain-write-total-52-udp-28", "§5 step 13: a CHAIN_WRITE from the predecessor's fabric port "
          "with total length 52 and UDP length 28: DROP_BAD_LENGTH; nothing stored.",
          chain(N1, N2, CHAIN_WRITE, 5, 4, VB, C2, total_len=52, udp_len=28), "DROP_BAD_LENGTH"),
        d("bad-length-udp-27", "§5 step 13: total length 48, UDP length 27: DROP_BAD_LENGTH.", r.but(udp_len=27),
          "DROP_BAD_LENGTH"),
        d("bad-length-udp-29", "§5 step 13: total length 48, UDP length 29: DROP_BAD_LENGTH.", r.but(udp_len=29),
          "DROP_BAD_LENGTH"),
        d("bad-length-udp-0", "§5 step 13: total length 48, UDP length 0: DROP_BAD_LENGTH.", r.but(udp_len=0),
          "DROP_BAD_LENGTH"),
    ]
    return cases


# =========================================================================== §5 steps 14-16

@group("dispatch", "§5 steps 14-16: unknown op codes, ops a role does not handle (§5.1 drop rows, per role), "
       "and the key range: ERROR KEY_OUT_OF_RANGE for READ/WRITE, DROP_KEY_OUT_OF_RANGE for CHAIN_WRITE/ACK")
def dispatch_cases():
    regs = [reg(5, VA, 3, 2, C1)]  # dirty: an ACK or CHAIN_WRITE processed by mistake would change it
    cases = []
    # step 14
    for code, cfg in ((0, replica()), (UNKNOWN_OP, replica()), (0xFF, replica()), (OTHER_UNKNOWN_OP, head()),
                      (0x80, tail()), (0, solo())):
        node = cfg.node
        frame = request(node, code, 5, C2, VB, version=4)
        cases.append(drop(f"unknown-op-{code}-at-{cfg.role.lower()}", f"§1.2/§5 step 14: op code {code} is not "
                          f"a known operation: DROP_UNKNOWN_OP at a {cfg.role}.", cfg, frame, "DROP_UNKNOWN_OP", regs))
    cases.append(drop("unknown-op-beats-key-range", f"§5 step 14 comes before step 16: op {UNKNOWN_OP} with key "
                      "0x8000 (outside [0, 16)) counts DROP_UNKNOWN_OP, not KEY_OUT_OF_RANGE.", replica(),
                      request(N2, UNKNOWN_OP, 0x8000, C2, VB), "DROP_UNKNOWN_OP", regs))
    # step 14b: the lengths are the op's, 52/32 for a chain op (a 66-byte chain frame), 48/28 for any other.
    row = "§5 step 14b: the lengths must be the op's (52 and 32 for a chain op, 48 and 28 for any other)"
    chain_62 = chain(N1, N2, CHAIN_WRITE, 5, 4, VB, C2, ext=b"")
    as_chain_frame = {"total_len": 52, "udp_len": 32, "pad": extension(EPOCH)}  # 4 bytes where an epoch would be
    edge = CLIENT_GW.port
    for name, cfg, frame, what, outcome, ingress in (
        ("bad-length-chain-write-62-bytes", replica(), chain_62, "a CHAIN_WRITE from the predecessor's port in a "
         "62-byte frame (48 and 28, no chain extension)", "DROP_BAD_LENGTH", None),
        ("bad-length-ack-62-bytes", head(), chain(N2, N1, ACK, 5, 4, VB, C2, ext=b""), "an ACK from the "
         "successor's port in a 62-byte frame", "DROP_BAD_LENGTH", None),
        ("bad-length-chain-write-62-bytes-padded", replica(), chain_62.but(pad=extension(EPOCH)), "a CHAIN_WRITE "
         "of lengths 48 and 28 in a 66-byte frame whose 4 padding bytes hold the epoch: padding is not a chain "
         "extension", "DROP_BAD_LENGTH", None),
        ("bad-length-read-66-bytes", replica(), request(N2, READ, 5, C2, **as_chain_frame), "a READ of lengths 52 "
         "and 32 (66 bytes, 4 bytes after the NetCRAQ header)", "DROP_BAD_LENGTH", None),
        ("bad-length-write-66-bytes", head(), request(N1, WRITE, 5, C2, VB, **as_chain_frame), "a WRITE of lengths "
         "52 and 32 at the HEAD: nothing is stamped", "DROP_BAD_LENGTH", None),
        ("unknown-op-beats-bad-length", replica(), request(N2, UNKNOWN_OP, 5, C2, VB, **as_chain_frame), "step 14 "
         f"comes before step 14b: op {UNKNOWN_OP} in a 66-byte frame counts DROP_UNKNOWN_OP", "DROP_UNKNOWN_OP",
         None),
        ("bad-length-beats-unexpected-chain-write", head(), chain(N2, N1, CHAIN_WRITE, 5, 4, VB, C2, ext=b""),
         "step 14b comes before step 15: a 62-byte CHAIN_WRITE at the HEAD counts DROP_BAD_LENGTH",
         "DROP_BAD_LENGTH", None),
        ("bad-length-beats-unexpected-reply", tail(), request(N3, READ_REPLY, 5, C2, VB, **as_chain_frame),
         "step 14b comes before step 15: a 66-byte READ_REPLY at the TAIL counts DROP_BAD_LENGTH",
         "DROP_BAD_LENGTH", None),
        ("bad-length-beats-not-from-chain", replica(), chain_62, f"step 14b comes before step 15b: a 62-byte "
         f"CHAIN_WRITE on the edge port {edge} counts DROP_BAD_LENGTH", "DROP_BAD_LENGTH", edge),
    ):
        cases.append(drop(name, f"{row}: {what}: {outcome}; registers (dirty: version 3, acked 2) "
                          "unchanged.", cfg, frame, outcome, regs, ingress=ingress))
    # step 15: every (role, op) pair the table's drop rows name.
    unexpected = {
        "HEAD": (CHAIN_WRITE, SYNC, READ_REPLY, WRITE_REPLY, ERROR),
        "REPLICA": (READ_REPLY, WRITE_REPLY, ERROR),
        "TAIL": (ACK, READ_REPLY, WRITE_REPLY, ERROR),
        "SOLO": (CHAIN_WRITE, SYNC, ACK, READ_REPLY, WRITE_REPLY, ERROR),
    }
    names = {CHAIN_WRITE: "chain-write", SYNC: "sync", ACK: "ack", READ_REPLY: "read-reply",
             WRITE_REPLY: "write-reply", ERROR: "error"}
    for role, ops in unexpected.items():
        cfg = ROLES[role]()
        node = cfg.node
        for op in ops:
            if op in (CHAIN_WRITE, SYNC):
                frame = chain(N2 if node == N1 else N1, node, op, 5, 4, VB, C2)
                row = "'HEAD, SOLO | CHAIN_WRITE, SYNC | drop'"
            elif op == ACK:
                frame, row = chain(N2, node, ACK, 5, 3, VA, C1), "'TAIL, SOLO | ACK | drop'"
            else:
                frame = request(node, op, 5, C2, VB, version=3)
                row = "'any | READ_REPLY, WRITE_REPLY, ERROR | drop (nodes never receive replies)'"
            cases.append(drop(f"unexpected-{names[op]}-at-{role.lower()}", f"§5 step 15, §5.1 row {row}: op {op} "
                              f"at a {role} is dropped, DROP_UNEXPECTED_OP; registers (dirty: version 3, acked 2) "
                              "unchanged.", cfg, frame, "DROP_UNEXPECTED_OP", regs))
    cases.append(drop("unexpected-beats-key-range-head", "§5 step 15 comes before step 16: a CHAIN_WRITE at the "
                      "HEAD for key 100 (outside [0, 16)) counts DROP_UNEXPECTED_OP.", head(),
                      chain(N2, N1, CHAIN_WRITE, 100, 1, VB, C2), "DROP_UNEXPECTED_OP"))
    cases.append(drop("unexpected-beats-key-range-solo", "§5 step 15 comes before step 16: an ACK at a SOLO "
                      "node for key 100 counts DROP_UNEXPECTED_OP.", solo(), chain(N2, N4, ACK, 100, 1, VB, C2),
                      "DROP_UNEXPECTED_OP"))
    cases.append(drop("unexpected-reply-beats-key-range", "§5 step 15 comes before step 16: a READ_REPLY at a "
                      "TAIL for key 0xffff counts DROP_UNEXPECTED_OP, not KEY_OUT_OF_RANGE.", tail(),
                      request(N3, READ_REPLY, 0xFFFF, C2), "DROP_UNEXPECTED_OP"))

    # step 16, nodes serving keys [4, 12).
    lo, hi = 4, 12
    stored = [reg(12, VA, 3, 3, C1), reg(3, VB, 2, 2, C1)]  # data outside the range is not served
    for role, key, op, extra in (
        ("REPLICA", 12, READ, "key = key_hi"),
        ("TAIL", 3, READ, "key = key_lo - 1"),
        ("HEAD", 0xFFFF, READ, "key 0xffff"),
        ("SOLO", 0, READ, "key 0"),
        ("HEAD", 12, WRITE, "key = key_hi; nothing is stamped"),
        ("REPLICA", 3, WRITE, "key = key_lo - 1; not forwarded to the head"),
        ("TAIL", 200, WRITE, "key 200; not forwarded to the head"),
        ("SOLO", 12, WRITE, "key = key_hi; nothing is stamped"),
    ):
        cfg = ROLES[role](lo=lo, hi=hi)
        node = cfg.node
        r = request(node, op, key, C2, VC)
        cases.append(case(
            f"key-out-of-range-{'read' if op == READ else 'write'}-at-{role.lower()}-{key}",
            f"§5 step 16: a {'READ' if op == READ else 'WRITE'} outside [{lo}, {hi}) ({extra}) gets a reply ERROR "
            "with version = KEY_OUT_OF_RANGE (1) echoing the request's key and value (§1.3); counts "
            "KEY_OUT_OF_RANGE and no key counter; the registers (also those at keys 3 and 12) are unchanged.",
            cfg, [step(r, [reply(node, r, ERROR, KEY_OUT_OF_RANGE_CODE, VC)], ["KEY_OUT_OF_RANGE"])], stored))
    r = request(N1, WRITE, 12, C2, VC, version=5)
    cases.append(case(
        "key-out-of-range-beats-outcome-unknown", "§5 step 16 comes before §5.1: an unmatched retransmitted WRITE "
        "(version 5) outside the range at the HEAD gets ERROR KEY_OUT_OF_RANGE, not OUTCOME_UNKNOWN.",
        head(lo=lo, hi=hi), [step(r, [reply(N1, r, ERROR, KEY_OUT_OF_RANGE_CODE, VC)], ["KEY_OUT_OF_RANGE"])],
        stored))
    for role, key, op, frm in (("REPLICA", 12, CHAIN_WRITE, N1), ("TAIL", 3, CHAIN_WRITE, N2),
                               ("REPLICA", 3, ACK, N3), ("HEAD", 12, ACK, N2)):
        cfg = ROLES[role](lo=lo, hi=hi)
        name = "chain-write" if op == CHAIN_WRITE else "ack"
        frame = chain(frm, cfg.node, op, key, 4 if op == CHAIN_WRITE else 3, VC, C2)
        cases.append(drop(f"key-out-of-range-{name}-at-{role.lower()}-{key}", f"§5 step 16: a {name.upper()} "
                          f"outside [{lo}, {hi}) (key {key}) is dropped, DROP_KEY_OUT_OF_RANGE; no reply, registers "
                          "unchanged.", cfg, frame, "DROP_KEY_OUT_OF_RANGE", stored))
    cfg = replica(lo=lo, hi=hi)
    r4, r11 = request(N2, READ, 4, C2), request(N2, READ, 11, C2)
    cases.append(case(
        "key-range-bounds-are-served", "§5 step 16: key_lo (4) and key_hi - 1 (11) are in range: both READs of "
        "never-written (clean) keys are answered locally at a CRAQ replica with version 0 and a zero value "
        "(§5.1 row 2, §2: registers start at zero), and each counts key_reads.",
        cfg, [step(r4, [reply(N2, r4, READ_REPLY, 0, ZERO)], ["READ_LOCAL"]),
              step(r11, [reply(N2, r11, READ_REPLY, 0, ZERO)], ["READ_LOCAL"])],
        stored, key_reads={4: 1, 11: 1}))
    return cases


# =========================================================================== §5.1 READ

ROW_READ_TAIL = "§5.1 row 'any | READ | role is TAIL or SOLO | reply READ_REPLY with s and kv_value | READ_LOCAL'"
ROW_READ_CLEAN = "§5.1 row 'HEAD, REPLICA | READ | mode CRAQ and clean | reply READ_REPLY with s and kv_value'"
ROW_READ_FWD = "§5.1 row 'HEAD, REPLICA | READ | mode CR, or dirty | forward to tail_ip unchanged | READ_TO_TAIL'"


@group("read", "§5.1 READ rows for every role, in CRAQ and CR mode, clean and dirty keys")
def read_cases():
    cases = []

    def local(name, description, cfg, regs, version, value, req_value=ZERO, req_version=0):
        node = cfg.node
        r = request(node, READ, 5, C2, req_value, version=req_version)
        return case(name, description, cfg, [step(r, [reply(node, r, READ_REPLY, version, value)], ["READ_LOCAL"])],
                    regs, key_reads={5: 1})

    def to_tail(name, description, cfg, regs, req_value=ZERO, req_version=0):
        node = cfg.node
        r = request(node, READ, 5, C2, req_value, version=req_version)
        return case(name, description, cfg, [step(r, [forward(node, r, N3)], ["READ_TO_TAIL"])], regs,
                    key_reads={5: 1})

    clean, dirty = [reg(5, VA, 3, 3, C1)], [reg(5, VA, 4, 3, C1)]
    for mode in ("CRAQ", "CR"):
        m = mode.lower()
        cases += [
            local(f"read-tail-{m}-clean", f"{ROW_READ_TAIL}, mode {mode}: the reply carries s = 3 and kv_value, "
                  "not the request's value or version.", tail(mode), clean, 3, VA, req_value=VD),
            local(f"read-tail-{m}-dirty-registers", f"{ROW_READ_TAIL}, mode {mode}: a TAIL answers whatever the "
                  "key state, even with kv_version 4 != kv_acked 3.", tail(mode), dirty, 4, VA),
            local(f"read-solo-{m}-clean", f"{ROW_READ_TAIL}, mode {mode}, at a SOLO node.", solo(mode), clean, 3, VA),
            local(f"read-solo-{m}-dirty-registers", f"{ROW_READ_TAIL}, mode {mode}: a SOLO node answers even a "
                  "dirty key (version 4, acked 3, e.g. inherited from when it was a head).", solo(mode), dirty, 4, VA),
        ]
    cases += [
        local("read-tail-never-written", f"{ROW_READ_TAIL}: a never-written key is answered with version 0 and "
              "a zero value (§2: registers start at zero); the registers stay all zero.", tail(), [], 0, ZERO),
        local("read-head-craq-clean", f"{ROW_READ_CLEAN}: version 3 = acked 3 at the HEAD.", head(), clean, 3, VA),
        local("read-replica-craq-clean", f"{ROW_READ_CLEAN}: version 3 = acked 3 at a REPLICA.", replica(), clean,
              3, VA),
        local("read-replica-craq-never-written", f"{ROW_READ_CLEAN}: a never-written key is clean (0 = 0).",
              replica(), [], 0, ZERO),
        local("read-head-craq-clean-version-0", f"{ROW_READ_CLEAN}: version 0 = acked 0 with a stored value "
              "(after a wrap-around) is clean: version 0 and the value.", head(), [reg(5, VA, 0, 0, C1)], 0, VA),
        local("read-replica-local-replaces-request-fields", f"{ROW_READ_CLEAN}: a READ carrying version 9 and "
              "a value gets a READ_REPLY whose version is s (3) and whose value is kv_value.", replica(), clean, 3,
              VA, req_value=VD, req_version=9),
        to_tail("read-head-cr-clean", f"{ROW_READ_FWD}: mode CR at the HEAD, clean key: forwarded to tail_ip "
                "with the request's header and the client's address and port (§4.3 forward).", head("CR"), clean),
        to_tail("read-replica-cr-clean", f"{ROW_READ_FWD}: mode CR at a REPLICA, clean key.", replica("CR"), clean),
        to_tail("read-replica-cr-never-written", f"{ROW_READ_FWD}: mode CR, never-written key.", replica("CR"), []),
        to_tail("read-head-craq-dirty", f"{ROW_READ_FWD}: mode CRAQ at the HEAD, version 4 != acked 3.", head(),
                dirty),
        to_tail("read-replica-craq-dirty", f"{ROW_READ_FWD}: mode CRAQ at a REPLICA, version 4 != acked 3.",
                replica(), dirty),
        to_tail("read-head-cr-dirty", f"{ROW_READ_FWD}: mode CR, dirty key, at the HEAD.", head("CR"), dirty),
        to_tail("read-replica-cr-dirty", f"{ROW_READ_FWD}: mode CR, dirty key, at a REPLICA.", replica("CR"), dirty),
        to_tail("read-replica-craq-dirty-acked-ahead", f"{ROW_READ_FWD}: dirty means kv_version != kv_acked "
                "(§2.1), so version 3 with acked 4 is dirty too.", replica(), [reg(5, VA, 3, 4, C1)]),
        to_tail("read-replica-forward-keeps-header", f"{ROW_READ_FWD}, §5.1 details ('a forwarded request keeps "
                "op, version, key and value'): a READ carrying version 9 and a value is forwarded with both.",
                replica(), dirty, req_value=VD, req_version=9),
    ]
    return cases


# =========================================================================== §5.1 WRITE

ROW_W_FWD = "§5.1 row 'REPLICA, TAIL | WRITE | forward to head_ip unchanged | WRITE_TO_HEAD'"
ROW_W_MATCH = "§5.1 row 'HEAD, SOLO | WRITE | matches the writer (§3.4) | WRITE_RETRANSMIT'"
ROW_W_UNKNOWN = "§5.1 row 'HEAD, SOLO | WRITE | no match, v != 0 | reply ERROR OUTCOME_UNKNOWN | WRITE_UNKNOWN'"
ROW_W_FULL = ("§5.1 row 'HEAD | WRITE | no match, v = 0, s - a >= 127 (mod 256) | reply ERROR WINDOW_FULL, then "
              "re-send stored version; store nothing | WRITE_WINDOW_FULL'")
ROW_W_STAMP = "§5.1 row 'HEAD | WRITE | no match, v = 0, window open | store s + 1; CHAIN_WRITE to successor_ip'"
ROW_W_SOLO = "§5.1 row 'SOLO | WRITE | no match, v = 0 | store s + 1, a = s + 1; reply WRITE_REPLY s + 1'"

OTHER_IP = Ident("10.0.1.9", C1.port, C1.id, "02:00:00:00:01:09")  # C1's port and id, another address
OTHER_PORT = dataclasses.replace(C1, port=40005)  # C1's address and id, another port
OTHER_ID = dataclasses.replace(C1, id=0x0999)  # C1's socket (address and port), another identification


@group("write", "§5.1 WRITE rows: forwarding to the head, stamping, the window, retransmission matching (§3.4) "
       "and OUTCOME_UNKNOWN, at HEAD, REPLICA, TAIL and SOLO")
def write_cases():
    cases = []
    kw = {5: 1}

    def one(name, description, cfg, regs, r, expect, outcome, final=SAME):
        return case(name, description, cfg, [step(r, expect, [outcome])], regs, final, key_writes=kw)

    # REPLICA, TAIL: forward to the head.
    regs = [reg(5, VA, 3, 3, C1)]
    forwarders = ((replica(), "replica"), (replica("CR"), "replica-cr"), (tail(), "tail"), (tail("CR"), "tail-cr"))
    for cfg, label in forwarders:
        node = cfg.node
        r = request(node, WRITE, 5, C2, VB)
        cases.append(one(f"write-{label}-forwards-to-head", f"{ROW_W_FWD}: mode {cfg.mode}, a first transmission "
                         "(version 0) goes to head_ip with the client's address, port and identification (§4.3 "
                         "forward); nothing is stored; key_writes counts it.", cfg, regs, r, [forward(node, r, N1)],
                         "WRITE_TO_HEAD"))
    r = request(N2, WRITE, 5, C2, VB, version=2)
    cases.append(one("write-replica-forwards-retransmission", f"{ROW_W_FWD}: a retransmission keeps its version 2 "
                     "(§5.1 details: a forwarded request keeps op, version, key and value).", replica(), regs, r,
                     [forward(N2, r, N1)], "WRITE_TO_HEAD"))
    r = request(N3, WRITE, 5, C1, VA, version=1)
    cases.append(one("write-tail-forwards-matching-retransmission", f"{ROW_W_FWD}: the TAIL forwards even a WRITE "
                     "that matches its writer registers: only HEAD and SOLO match retransmissions.", tail(),
                     [reg(5, VA, 3, 3, C1)], r, [forward(N3, r, N1)], "WRITE_TO_HEAD"))

    # HEAD: stamp.
    r = request(N1, WRITE, 5, C2, VB)
    cases.append(one("write-head-stamps-first-version", f"{ROW_W_STAMP}: never-written key (s = 0): stores VB with "
                     "version 1 and C2 as writer, acked stays 0; the CHAIN_WRITE has op 7, version 1 and the WRITE's "
                     "key, value, address, port and identification.", head(), [], r,
                     [forward(N1, r, N2, op=CHAIN_WRITE, version=1)], "WRITE_STAMPED", [reg(5, VB, 1, 0, C2)]))
    for cfg, label in ((head(), "craq"), (head("CR"), "cr")):
        cases.append(one(f"write-head-{label}-stamps-next-version", f"{ROW_W_STAMP}, mode {cfg.mode}: s = a = 3 "
                         "-> version 4.", cfg, [reg(5, VA, 3, 3, C1)], r,
                         [forward(N1, r, N2, op=CHAIN_WRITE, version=4)], "WRITE_STAMPED", [reg(5, VB, 4, 3, C2)]))
    cases.append(one("write-head-stamps-while-dirty", f"{ROW_W_STAMP}: s = 10, a = 5 (5 uncommitted) -> version 11, "
                     "acked stays 5.", head(), [reg(5, VA, 10, 5, C1)], r,
                     [forward(N1, r, N2, op=CHAIN_WRITE, version=11)], "WRITE_STAMPED", [reg(5, VB, 11, 5, C2)]))
    cases.append(one("write-head-stamps-at-126-uncommitted", f"{ROW_W_STAMP}, §3.3: s - a = 126 < 127: the window "
                     "is open; version 127 is stamped.", head(), [reg(5, VA, 126, 0, C1)], r,
                     [forward(N1, r, N2, op=CHAIN_WRITE, version=127)], "WRITE_STAMPED", [reg(5, VB, 127, 0, C2)]))
    c1b = dataclasses.replace(C1, id=8)
    r = request(N1, WRITE, 5, c1b, VB)
    cases.append(one("write-head-stamps-same-socket-other-value", f"{ROW_W_STAMP}, §3.4 'no match, version = 0': "
                     "same address and port as the stored writer but another value is a new write: version 5, and "
                     "the writer registers take this request's identification (8).", head(), [reg(5, VA, 4, 3, C1)],
                     r, [forward(N1, r, N2, op=CHAIN_WRITE, version=5)], "WRITE_STAMPED", [reg(5, VB, 5, 3, c1b)]))
    r = request(N1, WRITE, 5, C2, VA)
    cases.append(one("write-head-stamps-same-value-other-socket", f"{ROW_W_STAMP}: the stored value from another "
                     "client (other address and port) does not match: version 5 is stamped.", head(),
                     [reg(5, VA, 4, 3, C1)], r, [forward(N1, r, N2, op=CHAIN_WRITE, version=5)], "WRITE_STAMPED",
                     [reg(5, VA, 5, 3, C2)]))
    r = request(N1, WRITE, 5, OTHER_IP, VA)
    cases.append(one("write-head-stamps-same-port-other-address", f"{ROW_W_STAMP}: the stored value, port and "
                     "identification but another IPv4 source does not match (§3.4): version 5 is stamped.", head(),
                     [reg(5, VA, 4, 3, C1)], r, [forward(N1, r, N2, op=CHAIN_WRITE, version=5)], "WRITE_STAMPED",
                     [reg(5, VA, 5, 3, OTHER_IP)]))

    # HEAD: window full.
    r = request(N1, WRITE, 5, C2, VB)
    for s, a, why in ((127, 0, "s - a = 127"), (128, 0, "s - a = 128"),
                      (4, 5, "s - a = (4 - 5) mod 256 = 255, since §3.3 takes the difference mod 256")):
        cases.append(one(f"write-head-window-full-{s}-{a}", f"{ROW_W_FULL}, §3.3: {why} >= 127: the WRITE is "
                         "refused with ERROR WINDOW_FULL (3) echoing key and value, then the stored version is "
                         "re-sent (§4.4): CHAIN_WRITE with version s, kv_value and the stored writer C1's address, "
                         "port and identification; nothing changes.", head(), [reg(5, VA, s, a, C1)], r,
                         [reply(N1, r, ERROR, WINDOW_FULL_CODE, VB), resend(N1, r, N2, s, VA, C1)],
                         "WRITE_WINDOW_FULL"))

    # HEAD: retransmission matches.
    regs = [reg(5, VA, 4, 3, C1)]
    for v in (1, 0):
        r = request(N1, WRITE, 5, C1, VA, version=v)
        cases.append(one(f"write-head-retransmit-version-{v}", f"{ROW_W_MATCH}: same address, port and value as the "
                         f"stored writer, version {v} (the match does not look at the version): the stored version 4 "
                         "is re-sent (§4.4), nothing is stamped.", head(), regs, r, [resend(N1, r, N2, 4, VA, C1)],
                         "WRITE_RETRANSMIT"))
    r = request(N1, WRITE, 5, C1, VA, version=1)
    cases.append(one("write-head-retransmit-committed", f"{ROW_W_MATCH}: the stored version is already committed "
                     "(s = a = 4); it is re-sent all the same.", head(), [reg(5, VA, 4, 4, C1)], r,
                     [resend(N1, r, N2, 4, VA, C1)], "WRITE_RETRANSMIT"))
    r = request(N1, WRITE, 5, OTHER_ID, VA, version=1)
    cases.append(one("write-head-retransmit-other-identification", f"{ROW_W_MATCH}, §3.4 'the IPv4 identification "
                     "is not part of the match': same socket and value, identification 0x0999 instead of 7: a match. "
                     "The re-sent CHAIN_WRITE carries kv_writer_id 7 (§4.4), not the request's.", head(), regs, r,
                     [resend(N1, r, N2, 4, VA, C1)], "WRITE_RETRANSMIT"))
    r = request(N1, WRITE, 5, C1, VA, version=1)
    cases.append(one("write-head-retransmit-beats-window-full", f"{ROW_W_MATCH} comes before the window rows: a "
                     "matching retransmission with s - a = 127 counts WRITE_RETRANSMIT; the output is the re-sent "
                     "version 127.", head(), [reg(5, VA, 127, 0, C1)], r, [resend(N1, r, N2, 127, VA, C1)],
                     "WRITE_RETRANSMIT"))
    r = request(N1, WRITE, 5, C1, VA, version=3, tos=0x28, flags=0x0000, ttl=9)
    cases.append(one("write-head-resend-copies-received-ttl-tos-flags", f"{ROW_W_MATCH}, §4.2/§4.4: the re-sent "
                     "CHAIN_WRITE takes TTL - 1 (8), TOS 0x28 and flags 0 from the received WRITE.", head(), regs, r,
                     [resend(N1, r, N2, 4, VA, C1)], "WRITE_RETRANSMIT"))

    # HEAD: no match, v != 0.
    for label, by, value, regs_, why in (
        ("same-socket-other-value", C1, VB, [reg(5, VA, 4, 3, C1)], "the stored writer's address, port and "
         "identification but another value"),
        ("other-port", OTHER_PORT, VA, [reg(5, VA, 4, 3, C1)], "the stored value from another UDP port"),
        ("other-address", OTHER_IP, VA, [reg(5, VA, 4, 3, C1)], "the stored value from another IPv4 source"),
        ("never-written", C1, VA, [], "a never-written key"),
        ("beats-window-full", C2, VB, [reg(5, VA, 127, 0, C1)], "a full window (s - a = 127): the unknown row "
         "applies, not the window row"),
    ):
        r = request(N1, WRITE, 5, by, value, version=2)
        cases.append(one(f"write-head-unknown-{label}", f"{ROW_W_UNKNOWN}: version 2 with {why}: reply ERROR with "
                         "version = OUTCOME_UNKNOWN (2) echoing key and value (§1.3); nothing is stamped or sent down "
                         "the chain.", head(), regs_, r, [reply(N1, r, ERROR, OUTCOME_UNKNOWN_CODE, value)],
                         "WRITE_UNKNOWN"))

    # SOLO.
    r = request(N4, WRITE, 5, C2, VB)
    cases.append(one("write-solo-stamps-first-version", f"{ROW_W_SOLO}: s = 0 -> stores VB with version 1 and acked 1, "
                     "replies WRITE_REPLY version 1 with the WRITE's key and value.", solo(), [], r,
                     [reply(N4, r, WRITE_REPLY, 1, VB)], "WRITE_STAMPED", [reg(5, VB, 1, 1, C2)]))
    for cfg, label in ((solo(), "craq"), (solo("CR"), "cr")):
        cases.append(one(f"write-solo-{label}-stamps-next-version", f"{ROW_W_SOLO}, mode {cfg.mode}: s = a = 7 -> 8.",
                         cfg, [reg(5, VA, 7, 7, C1)], r, [reply(N4, r, WRITE_REPLY, 8, VB)], "WRITE_STAMPED",
                         [reg(5, VB, 8, 8, C2)]))
    cases.append(one("write-solo-stamps-over-dirty-key", f"{ROW_W_SOLO}: inherited s = 5, a = 3 -> version 6, "
                     "acked 6.", solo(), [reg(5, VA, 5, 3, C1)], r, [reply(N4, r, WRITE_REPLY, 6, VB)],
                     "WRITE_STAMPED", [reg(5, VB, 6, 6, C2)]))
    cases.append(one("write-solo-has-no-window", f"{ROW_W_SOLO}: the window row names HEAD only, and the SOLO row "
                     "has no window condition: with inherited s = 127, a = 0 a SOLO node stamps 128, sets acked 128 "
                     "and replies WRITE_REPLY 128 (it has no successor to re-send to).", solo(),
                     [reg(5, VA, 127, 0, C1)], r, [reply(N4, r, WRITE_REPLY, 128, VB)], "WRITE_STAMPED",
                     [reg(5, VB, 128, 128, C2)]))
    regs = [reg(5, VA, 8, 8, C1)]
    for v in (3, 0):
        r = request(N4, WRITE, 5, C1, VA, version=v)
        cases.append(one(f"write-solo-retransmit-version-{v}", f"{ROW_W_MATCH}, SOLO: same socket and value, "
                         f"version {v}: reply WRITE_REPLY with s = 8 and kv_value; nothing stamped.", solo(), regs, r,
                         [reply(N4, r, WRITE_REPLY, 8, VA)], "WRITE_RETRANSMIT"))
    r = request(N4, WRITE, 5, OTHER_ID, VA, version=1)
    cases.append(one("write-solo-retransmit-other-identification", f"{ROW_W_MATCH}, SOLO, §3.4: identification "
                     "0x0999 instead of 7 still matches; the WRITE_REPLY is a reply to the received frame (§4.2: "
                     "identification copied, so 0x0999).", solo(), regs, r, [reply(N4, r, WRITE_REPLY, 8, VA)],
                     "WRITE_RETRANSMIT"))
    for label, by, value in (("other-client", C2, VB), ("same-socket-other-value", C1, VB)):
        r = request(N4, WRITE, 5, by, value, version=1)
        cases.append(one(f"write-solo-unknown-{label}", f"{ROW_W_UNKNOWN}, SOLO: version 1, no match ({label}): "
                         "reply ERROR OUTCOME_UNKNOWN (2) echoing key and value.", solo(), regs, r,
                         [reply(N4, r, ERROR, OUTCOME_UNKNOWN_CODE, value)], "WRITE_UNKNOWN"))
    return cases


# =========================================================================== §5.1 CHAIN_WRITE and ACK

ROW_CW_APPLIED = "§5.1 row 'REPLICA | CHAIN_WRITE | v newer than s | store; forward to successor_ip'"
ROW_CW_STALE = "§5.1 row 'REPLICA | CHAIN_WRITE | v not newer | forward to successor_ip unchanged, store nothing'"
ROW_COMMIT = "§5.1 row 'TAIL | CHAIN_WRITE | v newer than s | store and set a = v; reply WRITE_REPLY; send ACK'"
ROW_DUP = "§5.1 row 'TAIL | CHAIN_WRITE | v not newer | reply WRITE_REPLY; send ACK; store nothing'"
ROW_ACK_R = "§5.1 row 'REPLICA | ACK | if v newer than a and not newer than s: a = v. Forward to predecessor_ip'"
ROW_ACK_H = "§5.1 row 'HEAD | ACK | if v newer than a and not newer than s: a = v. Nothing is sent'"
TAIL_OUTPUTS = ("the WRITE_REPLY is a reply (§4.3) to the writer carrying the packet's version, key and value, and "
                "is emitted first; the ACK is a forward to predecessor_ip of the same header with op 5, keeping "
                "the writer's address, port and identification (§5.1 details)")


def tail_outputs(cw, version, value):
    """The TAIL's two outputs for CHAIN_WRITE `cw`, as the case states them."""
    return [reply(N3, cw, WRITE_REPLY, version, value), forward(N3, cw, N2, op=ACK)]


@group("chain", "§5.1 CHAIN_WRITE and ACK rows at REPLICA, TAIL and HEAD, in CRAQ and CR mode")
def chain_cases():
    cases = []
    # REPLICA CHAIN_WRITE.
    for label, cfg, s, a, v in (("applies", replica(), 3, 3, 4), ("cr-applies", replica("CR"), 3, 3, 4),
                                ("applies-while-dirty", replica(), 4, 3, 5), ("applies-with-gap", replica(), 3, 3, 6)):
        cw = chain(N1, N2, CHAIN_WRITE, 5, v, VB, C2)
        cases.append(case(f"chain-write-replica-{label}", f"{ROW_CW_APPLIED}: s = {s}, a = {a}, v = {v}: stores VB, "
                          f"version {v} and the writer (the packet's IPv4 source, UDP source port, identification); "
                          f"acked stays {a}; forwarded unchanged to successor_ip (§4.3 forward).", cfg,
                          [step(cw, [forward(N2, cw, N3)], ["CHAIN_WRITE_APPLIED"])], [reg(5, VA, s, a, C1)],
                          [reg(5, VB, v, a, C2)]))
    cw = chain(N1, N2, CHAIN_WRITE, 5, 1, VB, C2)
    cases.append(case("chain-write-replica-applies-first", f"{ROW_CW_APPLIED}: a never-written key (s = 0) takes "
                      "version 1.", replica(), [step(cw, [forward(N2, cw, N3)], ["CHAIN_WRITE_APPLIED"])], [],
                      [reg(5, VB, 1, 0, C2)]))
    for label, s, v in (("equal", 4, 4), ("older", 6, 4)):
        cw = chain(N1, N2, CHAIN_WRITE, 5, v, VB, C2)
        cases.append(case(f"chain-write-replica-stale-{label}", f"{ROW_CW_STALE}: s = {s}, v = {v} is not newer: "
                          "forwarded unchanged, nothing stored (the registers keep VA and writer C1).", replica(),
                          [step(cw, [forward(N2, cw, N3)], ["CHAIN_WRITE_STALE"])], [reg(5, VA, s, 3, C1)]))

    # TAIL CHAIN_WRITE.
    for label, cfg, s, v in (("applies", tail(), 3, 4), ("cr-applies", tail("CR"), 3, 4),
                             ("applies-with-gap", tail(), 3, 7)):
        cw = chain(N2, N3, CHAIN_WRITE, 5, v, VB, C2)
        cases.append(case(f"commit-tail-{label}", f"{ROW_COMMIT}: s = {s}, v = {v}: stores VB, version {v}, acked "
                          f"{v} and writer C2; {TAIL_OUTPUTS}.", cfg,
                          [step(cw, tail_outputs(cw, v, VB), ["COMMIT_APPLIED"])], [reg(5, VA, s, s, C1)],
                          [reg(5, VB, v, v, C2)]))
    cw = chain(N2, N3, CHAIN_WRITE, 5, 1, VB, C2)
    cases.append(case("commit-tail-applies-first", f"{ROW_COMMIT}: never-written key, version 1.", tail(),
                      [step(cw, tail_outputs(cw, 1, VB), ["COMMIT_APPLIED"])], [], [reg(5, VB, 1, 1, C2)]))
    cw = chain(N2, N3, CHAIN_WRITE, 5, 4, VB, C2)
    cases.append(case("commit-tail-duplicate-equal", f"{ROW_DUP}: v = s = 4 (a re-sent version): reply WRITE_REPLY "
                      f"and ACK as for a commit, nothing stored; {TAIL_OUTPUTS}.", tail(),
                      [step(cw, tail_outputs(cw, 4, VB), ["COMMIT_DUPLICATE"])], [reg(5, VB, 4, 4, C2)]))
    cw = chain(N2, N3, CHAIN_WRITE, 5, 4, VB, C2)
    cases.append(case("commit-tail-duplicate-older", f"{ROW_DUP}, §5.1 details ('a stale CHAIN_WRITE is still "
                      "answered by the tail'): s = 6 holds VC from C3; the stale version 4 of C2 gets WRITE_REPLY "
                      "version 4 with value VB to C2 and an ACK for version 4; the registers keep version 6.", tail(),
                      [step(cw, tail_outputs(cw, 4, VB), ["COMMIT_DUPLICATE"])], [reg(5, VC, 6, 6, C3)]))

    # REPLICA ACK.
    for label, cfg, s, a, v, after in (
        ("advances-to-stored", replica(), 5, 3, 5, 5),
        ("cr-advances-to-stored", replica("CR"), 5, 3, 5, 5),
        ("advances-partially", replica(), 5, 3, 4, 4),
        ("older-than-acked", replica(), 5, 4, 3, 4),
        ("equal-to-acked", replica(), 5, 4, 4, 4),
        ("newer-than-stored", replica(), 5, 3, 6, 3),
    ):
        ack = chain(N3, N2, ACK, 5, v, VB, C2)
        cases.append(case(f"ack-replica-{label}", f"{ROW_ACK_R}: s = {s}, a = {a}, v = {v}: acked becomes {after}; "
                          "the ACK is forwarded unchanged to predecessor_ip either way (§5.1 details: ACKs travel to "
                          "the head even where they change nothing).", cfg,
                          [step(ack, [forward(N2, ack, N1)], ["ACK_FORWARDED"])], [reg(5, VB, s, a, C2)],
                          [reg(5, VB, s, after, C2)]))
    # HEAD ACK.
    for label, cfg, s, a, v, after in (
        ("advances-to-stored", head(), 5, 4, 5, 5),
        ("cr-advances-to-stored", head("CR"), 5, 4, 5, 5),
        ("advances-partially", head(), 5, 3, 4, 4),
        ("older-than-acked", head(), 5, 4, 3, 4),
        ("newer-than-stored", head(), 5, 4, 7, 4),
    ):
        ack = chain(N2, N1, ACK, 5, v, VB, C2)
        cases.append(case(f"ack-head-{label}", f"{ROW_ACK_H}: s = {s}, a = {a}, v = {v}: acked becomes {after}; "
                          "nothing is sent.", cfg, [step(ack, [], ["ACK_CONSUMED"])], [reg(5, VB, s, a, C2)],
                          [reg(5, VB, s, after, C2)]))
    ack = chain(N2, N1, ACK, 5, 5, VD, C3)
    cases.append(case("ack-head-sets-only-acked", f"{ROW_ACK_H}: an ACK for version 5 carrying another value and "
                      "writer than stored changes kv_acked only: value and writer registers stay.", head(),
                      [step(ack, [], ["ACK_CONSUMED"])], [reg(5, VB, 5, 4, C2)], [reg(5, VB, 5, 5, C2)]))
    ack = chain(N2, N1, ACK, 5, 1, VB, C2)
    cases.append(case("ack-head-never-written", f"{ROW_ACK_H}: an ACK for version 1 of a never-written key (s = 0) "
                      "is newer than s: nothing changes, the registers stay zero.", head(),
                      [step(ack, [], ["ACK_CONSUMED"])]))
    return cases


# =========================================================================== §3.1, §3.3 serial arithmetic

@group("versions", "§3.1 8-bit serial arithmetic and §3.3 window at the wrap-around: 255 -> 0 at the head and at "
       "SOLO, replicas and tails applying 0 over 255, and distance 128 (undefined, treated as not newer)")
def version_cases():
    cases = []
    r = request(N1, WRITE, 5, C2, VB)
    cases.append(case("version-head-stamps-0-after-255", f"{ROW_W_STAMP}, §3.1: s = a = 255: s + 1 wraps to 0; the "
                      "CHAIN_WRITE carries version 0; acked stays 255.", head(),
                      [step(r, [forward(N1, r, N2, op=CHAIN_WRITE, version=0)], ["WRITE_STAMPED"])],
                      [reg(5, VA, 255, 255, C1)], [reg(5, VB, 0, 255, C2)], key_writes={5: 1}))
    cases.append(case("version-head-window-open-across-wrap", f"{ROW_W_STAMP}, §3.3: s = 20, a = 200: "
                      "(20 - 200) mod 256 = 76 < 127: version 21 is stamped.", head(),
                      [step(r, [forward(N1, r, N2, op=CHAIN_WRITE, version=21)], ["WRITE_STAMPED"])],
                      [reg(5, VA, 20, 200, C1)], [reg(5, VB, 21, 200, C2)], key_writes={5: 1}))
    cases.append(case("version-head-window-full-across-wrap", f"{ROW_W_FULL}, §3.3: s = 10, a = 139: "
                      "(10 - 139) mod 256 = 127: full; ERROR WINDOW_FULL, then the stored version 10 is re-sent "
                      "with writer C1.", head(),
                      [step(r, [reply(N1, r, ERROR, WINDOW_FULL_CODE, VB), resend(N1, r, N2, 10, VA, C1)],
                            ["WRITE_WINDOW_FULL"])],
                      [reg(5, VA, 10, 139, C1)], key_writes={5: 1}))
    r = request(N4, WRITE, 5, C2, VB)
    cases.append(case("version-solo-stamps-0-after-255", f"{ROW_W_SOLO}, §3.1: s = 255 -> version 0, acked 0; "
                      "the value and writer registers are not zero.", solo(),
                      [step(r, [reply(N4, r, WRITE_REPLY, 0, VB)], ["WRITE_STAMPED"])],
                      [reg(5, VA, 255, 255, C1)], [reg(5, VB, 0, 0, C2)], key_writes={5: 1}))

    for label, s, v, applied, why in (
        ("applies-0-over-255", 255, 0, True, "(0 - 255) mod 256 = 1: newer"),
        ("applies-127-ahead", 0, 127, True, "(127 - 0) = 127: newer"),
        ("applies-across-wrap", 250, 2, True, "(2 - 250) mod 256 = 8: newer"),
        ("stale-at-distance-128", 0, 128, False, "(128 - 0) = 128: undefined, not newer"),
        ("stale-at-distance-128-wrapped", 200, 72, False, "(72 - 200) mod 256 = 128: undefined, not newer"),
        ("stale-older-across-wrap", 2, 250, False, "(250 - 2) mod 256 = 248: older"),
    ):
        cw = chain(N1, N2, CHAIN_WRITE, 5, v, VB, C2)
        row = ROW_CW_APPLIED if applied else ROW_CW_STALE
        cases.append(case(f"version-replica-{label}", f"{row}, §3.1: s = {s}, v = {v}, {why}.", replica(),
                          [step(cw, [forward(N2, cw, N3)],
                                ["CHAIN_WRITE_APPLIED" if applied else "CHAIN_WRITE_STALE"])],
                          [reg(5, VA, s, s, C1)], [reg(5, VB, v, s, C2)] if applied else SAME))
    for label, s, v, applied, why in (
        ("commits-0-over-255", 255, 0, True, "(0 - 255) mod 256 = 1: newer"),
        ("duplicate-at-distance-128", 0, 128, False, "(128 - 0) = 128: undefined, not newer"),
    ):
        cw = chain(N2, N3, CHAIN_WRITE, 5, v, VB, C2)
        row = ROW_COMMIT if applied else ROW_DUP
        cases.append(case(f"version-tail-{label}", f"{row}, §3.1: s = {s}, v = {v}, {why}; WRITE_REPLY and ACK carry "
                          f"version {v}.", tail(),
                          [step(cw, tail_outputs(cw, v, VB), ["COMMIT_APPLIED" if applied else "COMMIT_DUPLICATE"])],
                          [reg(5, VA, s, s, C1)], [reg(5, VB, v, v, C2)] if applied else SAME))
    ack = chain(N3, N2, ACK, 5, 0, VB, C2)
    cases.append(case("version-ack-replica-0-after-255", f"{ROW_ACK_R}, §3.1: s = 1, a = 255, v = 0: 0 is newer "
                      "than 255 and not newer than 1: acked becomes 0.", replica(),
                      [step(ack, [forward(N2, ack, N1)], ["ACK_FORWARDED"])],
                      [reg(5, VB, 1, 255, C2)], [reg(5, VB, 1, 0, C2)]))
    ack = chain(N3, N2, ACK, 5, 1, VB, C2)
    cases.append(case("version-ack-replica-newer-than-stored-across-wrap", f"{ROW_ACK_R}, §3.1: s = 0, a = 250, "
                      "v = 1: newer than a but also newer than s: acked stays 250.", replica(),
                      [step(ack, [forward(N2, ack, N1)], ["ACK_FORWARDED"])], [reg(5, VB, 0, 250, C2)]))
    a128, a127 = chain(N2, N1, ACK, 5, 128, VB, C2), chain(N2, N1, ACK, 5, 127, VB, C2)
    cases.append(case("version-ack-head-undefined-at-128", f"{ROW_ACK_H}, §3.1: s = 128, a = 0. Step 1: ACK 128 is "
                      "at distance 128 from a: not newer, acked stays 0. Step 2: ACK 127 is newer than 0 and not "
                      "newer than 128: acked becomes 127.", head(),
                      [step(a128, [], ["ACK_CONSUMED"]), step(a127, [], ["ACK_CONSUMED"])],
                      [reg(5, VB, 128, 0, C2)], [reg(5, VB, 128, 127, C2)]))
    return cases


# =========================================================================== §5 step 8 transit

ROW_TRANSIT = ("§5 step 8: destination IP is not own_ip: transit, the frame routed unchanged but for TTL - 1, the "
               "recomputed header checksum and the MACs (source own_mac, destination from ipv4_route), counted "
               "TRANSIT")

# Identification that makes the recomputed checksum of far() at TTL 63 exactly 0x0000.
CHECKSUM_ZERO_IDENT = 0x24B6


def far(**fields):
    """A UDP datagram from C1 to a host on another network, sent to N2's MAC."""
    values = dict(eth_dst=N2.mac, eth_src=C1.mac, ip_src=C1.ip, ip_dst="10.0.2.7", sport=5000, dport=53, op=1,
                  version=0, key=5, value=VA)
    values.update(fields)
    return Frame(**values)


@group("transit", "§5 step 8 and §4.3 transit: what is rewritten (TTL, checksum, MACs) and what is not (padding, "
       "UDP checksum, TOS, identification, flags); transit happens before the checks of steps 9-16 and after "
       "steps 1-7")
def transit_cases():
    cfg = replica()
    regs = [reg(5, VA, 3, 3, C1)]
    cases = []

    def t(name, description, frame, via, cfg=cfg):
        node = cfg.node
        return case(name, f"{ROW_TRANSIT}. {description}", cfg,
                    [step(frame, [transit(node, frame, via)], ["TRANSIT"])], regs)

    cw = chain(N1, N2, CHAIN_WRITE, 5, 4, VB, C2).but(ip_dst=N3.ip)
    cases.append(t("transit-chain-write-to-other-node", "A CHAIN_WRITE for key 5 addressed to 10.0.0.3 but sent to "
                   "N2's MAC, arriving on the fabric port 1, is routed to port 3 and not applied: the registers keep "
                   "version 3 (from an edge port it would be dropped: trust.json).", cw, hop(N3)))
    r = request(N2, READ, 5, C2).but(ip_dst=N1.ip)
    cases.append(t("transit-read-to-other-node", "A client READ addressed to 10.0.0.1 is routed to port 1; it is "
                   "not answered and not counted in key_reads.", r, hop(N1)))
    cases += [
        t("transit-udp-other-network", "A DNS-like datagram (port 53) to 10.0.2.7 leaves on port 5.", far(), FAR_GW),
        t("transit-not-udp", "TCP (protocol 6, total length 40, 54-byte frame): transit comes before step 10.",
          far(proto=6, total_len=40, cut=54), FAR_GW),
        t("transit-fragment", "A first fragment (MF set): transit comes before step 9.", far(flags=0x2000), FAR_GW),
        t("transit-ipv4-header-only", "Total length 20 (34-byte frame): transit comes before step 11.",
          far(total_len=20, cut=34), FAR_GW),
        t("transit-netcraq-unknown-op-out-of-range", f"A NetCRAQ frame to 10.0.2.7 with op {UNKNOWN_OP} and key "
          "0xffff: transit comes before steps 12-16.", far(dport=NC_PORT, sport=NC_PORT, op=UNKNOWN_OP, key=0xFFFF),
          FAR_GW),
        t("transit-ttl-2", "TTL 2 passes step 7 and leaves with TTL 1.", far(ttl=2), FAR_GW),
        t("transit-keeps-padding", "A 64-byte frame (total length 48, then padding aa 55) leaves with its padding: "
          "only TTL, checksum and MACs change.", far(pad=b"\xaa\x55"), FAR_GW),
        t("transit-keeps-other-fields", "UDP checksum 0x1234, TOS 0x2e, identification 0xabcd, flags 0 and both "
          "UDP ports are left as they are (§4.3 transit row: unchanged).",
          far(udp_csum=0x1234, tos=0x2E, ident=0xABCD, flags=0), FAR_GW),
        t("transit-checksum-recomputed-to-zero", "The identification is chosen so that the header checksum of the "
          "output, recomputed (RFC 1071 one's complement of the one's-complement sum), is 0x0000.",
          far(ident=CHECKSUM_ZERO_IDENT), FAR_GW),
        t("transit-at-tail", "Transit does not depend on the role: at a TAIL.", far(eth_dst=N3.mac), FAR_GW, tail()),
        t("transit-at-solo", "Transit does not depend on the role: at a SOLO node.", far(eth_dst=N4.mac), FAR_GW,
          solo()),
    ]
    assert far(ident=CHECKSUM_ZERO_IDENT, ttl=63).correct_checksum() == 0
    f = far(ip_dst="192.0.2.1")
    cases.append(case("transit-no-route", "§2.3 ipv4_route, §6: transit to 192.0.2.1, which no route matches: "
                      "nothing is sent; the frame counts TRANSIT and the missing route NO_ROUTE.", cfg,
                      [step(f, [], ["TRANSIT", "NO_ROUTE"])], regs))
    for ttl in (1, 0):
        cases.append(drop(f"transit-ttl-{ttl}-expires", f"§5 step 7 comes before step 8: a frame in transit with "
                          f"TTL {ttl} is dropped, DROP_TTL_EXPIRED.", cfg, far(ttl=ttl), "DROP_TTL_EXPIRED", regs))
    cases.append(drop("transit-bad-checksum", "§5 step 6 comes before step 8: a frame in transit with a bad header "
                      "checksum is dropped, DROP_IPV4_CHECKSUM.", cfg, bad_checksum(far()), "DROP_IPV4_CHECKSUM", regs))
    cases.append(drop("transit-wrong-mac", "§5 step 3 comes before step 8: a frame for another host sent to "
                      "another MAC is not routed: DROP_WRONG_MAC.", cfg, far(eth_dst=FAR_GW.mac), "DROP_WRONG_MAC",
                      regs))
    cases.append(drop("transit-truncated", "§5 step 5b comes before step 8: a frame in transit shorter than its "
                      "total length: DROP_TRUNCATED.", cfg, far(cut=60), "DROP_TRUNCATED", regs))
    return cases


# =========================================================================== §9 trust: §5 steps 8, 15b, 15c

ROW_NOT_FROM_CHAIN = ("§5 step 15b: a chain op acts only when it arrived on a fabric port marked for the neighbour "
                      "that sends it (CHAIN_WRITE: from_predecessor, ACK: from_successor); otherwise drop, "
                      "DROP_NOT_FROM_CHAIN")
ROW_WRONG_EPOCH = "§5 step 15c: a chain op's epoch must equal node_config.epoch; otherwise drop, DROP_WRONG_EPOCH"
ROW_STEP8_CHAIN = ("§5 step 8 ('a chain frame from outside the chain is dropped, DROP_NOT_FROM_CHAIN'), §9.1: a "
                   "frame for another node that arrived on an edge port and looks like a chain frame (at least 62 "
                   "bytes, protocol 17, fragment offset 0, UDP destination port 20035, a chain op at offset 42)")

EDGE = CLIENT_GW.port  # the clients' port: no fabric_port entry (§2.3)
# A neighbour's addresses as a forger would use them: the node's MAC and IPv4 address, UDP port 20035.
AS_N1, AS_N2, AS_N3 = (Ident(n.ip, NC_PORT, 0x0100 + n.port, n.mac) for n in (N1, N2, N3))


def forged(to, op, key, version, value, by, **fields):
    """A chain op addressed to node `to` with the identity `by` (a client's or a node's), as a
    66-byte chain frame carrying the chain's epoch: everything right but where it arrives."""
    fields.setdefault("ttl", 63)
    return Frame(
        eth_dst=to.mac, eth_src=by.mac, ip_src=by.ip, ip_dst=to.ip, sport=by.port, dport=NC_PORT,
        ident=by.id, op=op, version=version, key=key, value=value, ext=extension(EPOCH), **fields,
    )


@group("trust", "§9 trust and §5 steps 8, 15b and 15c: chain ops (CHAIN_WRITE, ACK) act only when they arrive on "
       "a fabric port marked for the neighbour that sends them and carry the node's epoch; a chain frame for "
       "another node from an edge port is dropped, not passed on; what does not look like a chain frame transits")
def trust_cases():
    cases = []
    # Dirty (s = 4, a = 3): a forged CHAIN_WRITE 5 would be applied, a forged ACK 4 would make the key clean.
    regs = [reg(5, VA, 4, 3, C1)]
    unchanged = "nothing is sent and the registers (version 4, acked 3) are unchanged"

    # Step 15b at each role: a chain op from the edge port, with a client's or the neighbour's addresses.
    for role, op, neighbour, outcome, why in (
        ("REPLICA", CHAIN_WRITE, AS_N1, "DROP_NOT_FROM_CHAIN", ROW_NOT_FROM_CHAIN),
        ("REPLICA", ACK, AS_N3, "DROP_NOT_FROM_CHAIN", ROW_NOT_FROM_CHAIN),
        ("TAIL", CHAIN_WRITE, AS_N2, "DROP_NOT_FROM_CHAIN", ROW_NOT_FROM_CHAIN),
        ("HEAD", ACK, AS_N2, "DROP_NOT_FROM_CHAIN", ROW_NOT_FROM_CHAIN),
        ("TAIL", ACK, AS_N2, "DROP_UNEXPECTED_OP", "§5 step 15 comes before step 15b: a TAIL handles no ACK"),
        ("HEAD", CHAIN_WRITE, AS_N2, "DROP_UNEXPECTED_OP", "§5 step 15 comes before step 15b: a HEAD handles no "
         "CHAIN_WRITE"),
    ):
        cfg = ROLES[role]()
        name = "chain-write" if op == CHAIN_WRITE else "ack"
        version = 5 if op == CHAIN_WRITE else 4
        for label, by in (("client", C2), ("neighbour", neighbour)):
            frame = forged(cfg.node, op, 5, version, VB, by)
            cases.append(drop(
                f"trust-edge-{name}-at-{role.lower()}-as-{label}", f"{why}. {'A' if op == CHAIN_WRITE else 'An'} "
                f"{OP_NAMES[op]} (version {version}, "
                f"epoch {EPOCH}, all else well formed) with the {label}'s addresses ({by.ip}:{by.port}, MAC "
                f"{by.mac}) arrives on the edge port {EDGE}: {outcome}; {unchanged}.", cfg, frame, outcome, regs,
                ingress=EDGE))
    for label, frame, outcome, why in (
        ("wrong-epoch", forged(N2, CHAIN_WRITE, 5, 5, VB, C2).but(ext=extension(EPOCH + 1)), "DROP_NOT_FROM_CHAIN",
         "§5 step 15b comes before step 15c: with epoch 8 as well"),
        ("key-out-of-range", forged(N2, CHAIN_WRITE, 100, 5, VB, C2), "DROP_NOT_FROM_CHAIN",
         "§5 step 15b comes before step 16: for key 100, outside [0, 16)"),
        ("padded", forged(N2, CHAIN_WRITE, 5, 5, VB, C2, pad=bytes(10)), "DROP_NOT_FROM_CHAIN",
         f"{ROW_NOT_FROM_CHAIN}: padded to 76 bytes"),
    ):
        cases.append(drop(f"trust-edge-chain-write-at-replica-{label}", f"{why}: a CHAIN_WRITE on the edge port "
                          f"{EDGE} counts {outcome}; {unchanged}.", replica(), frame, outcome, regs, ingress=EDGE))
    cases.append(case("trust-edge-chain-ops-at-solo", "§5 step 15 comes before step 15b: a SOLO node handles no "
                      "chain op, so a CHAIN_WRITE and an ACK from the edge port count DROP_UNEXPECTED_OP.", solo(),
                      [step(forged(N4, CHAIN_WRITE, 5, 5, VB, C2), [], ["DROP_UNEXPECTED_OP"], EDGE),
                       step(forged(N4, ACK, 5, 4, VB, C2), [], ["DROP_UNEXPECTED_OP"], EDGE)], regs))
    cw = chain(N1, N2, CHAIN_WRITE, 5, 5, VB, C2)
    cases.append(case("trust-same-chain-write-edge-then-fabric", f"{ROW_NOT_FROM_CHAIN}, {ROW_CW_APPLIED}: the same "
                      f"CHAIN_WRITE 5 is dropped on the edge port {EDGE} (DROP_NOT_FROM_CHAIN, nothing stored), then "
                      "applied and forwarded when it arrives on port 1, the predecessor's.", replica(),
                      [step(cw, [], ["DROP_NOT_FROM_CHAIN"], EDGE),
                       step(cw, [forward(N2, cw, N3)], ["CHAIN_WRITE_APPLIED"], N1.port)],
                      regs, [reg(5, VB, 5, 3, C2)]))

    # Step 15b: a fabric port marked for the other neighbour, or for neither.
    for name, cfg, frame, port, marks in (
        ("chain-write-at-replica-from-successor-port", replica(), chain(N3, N2, CHAIN_WRITE, 5, 5, VB, C2), N3.port,
         "marked from_successor only"),
        ("ack-at-replica-from-predecessor-port", replica(), chain(N1, N2, ACK, 5, 4, VB, C2), N1.port,
         "marked from_predecessor only"),
        ("chain-write-at-tail-from-unmarked-port", tail(), chain(N1, N3, CHAIN_WRITE, 5, 5, VB, C2), N1.port,
         "a fabric port marked for neither neighbour"),
        ("ack-at-head-from-unmarked-port", head(), chain(N3, N1, ACK, 5, 4, VB, C2), N3.port,
         "a fabric port marked for neither neighbour"),
    ):
        cases.append(drop(f"trust-{name}", f"{ROW_NOT_FROM_CHAIN}: it arrives on port {port}, {marks}: "
                          f"DROP_NOT_FROM_CHAIN; {unchanged}.", cfg, frame, "DROP_NOT_FROM_CHAIN", regs, ingress=port))
    uplink = 9
    cw, ack = chain(N1, N2, CHAIN_WRITE, 5, 5, VB, C2), chain(N3, N2, ACK, 5, 5, VB, C2)
    cases.append(case("trust-one-uplink-for-both-neighbours", f"§2.3 fabric_port, {ROW_NOT_FROM_CHAIN}: a REPLICA "
                      f"whose only fabric port is {uplink}, marked from_predecessor and from_successor (both "
                      f"neighbours behind one switch). 1: CHAIN_WRITE 5 on port {uplink} is applied "
                      f"({ROW_CW_APPLIED}). 2: ACK 5 on port {uplink} makes the key clean ({ROW_ACK_R}). 3: the same "
                      "CHAIN_WRITE on port 1, now an edge port, is dropped: DROP_NOT_FROM_CHAIN.", replica(),
                      [step(cw, [forward(N2, cw, N3)], ["CHAIN_WRITE_APPLIED"], uplink),
                       step(ack, [forward(N2, ack, N1)], ["ACK_FORWARDED"], uplink),
                       step(cw, [], ["DROP_NOT_FROM_CHAIN"], N1.port)],
                      regs, [reg(5, VB, 5, 5, C2)], fabric=[fabric_port(uplink, True, True)]))

    # Step 15c.
    for name, cfg, frame, epoch in (
        ("chain-write-at-replica-older", replica(), chain(N1, N2, CHAIN_WRITE, 5, 5, VB, C2, EPOCH - 1), EPOCH - 1),
        ("ack-at-replica-newer", replica(), chain(N3, N2, ACK, 5, 4, VB, C2, EPOCH + 1), EPOCH + 1),
        ("chain-write-at-tail-zero", tail(), chain(N2, N3, CHAIN_WRITE, 5, 5, VB, C2, 0), 0),
        ("ack-at-head-all-ones", head(), chain(N2, N1, ACK, 5, 4, VB, C2, 0xFFFFFFFF), 0xFFFFFFFF),
        ("high-bits", replica(), chain(N1, N2, CHAIN_WRITE, 5, 5, VB, C2, 0x10000 + EPOCH), 0x10000 + EPOCH),
        ("byte-swapped", replica(), chain(N1, N2, CHAIN_WRITE, 5, 5, VB, C2, EPOCH << 24), EPOCH << 24),
    ):
        cases.append(drop(f"trust-wrong-epoch-{name}", f"{ROW_WRONG_EPOCH}. From the right neighbour's fabric port, "
                          f"with epoch {epoch:#x} (all 32 bits compare, in network byte order) at a node of epoch "
                          f"{EPOCH}: DROP_WRONG_EPOCH; {unchanged}.", cfg, frame, "DROP_WRONG_EPOCH", regs))
    cases.append(drop("trust-wrong-epoch-beats-key-range", f"§5 step 15c comes before step 16: a CHAIN_WRITE of "
                      "epoch 8 for key 100 (outside [0, 16)) counts DROP_WRONG_EPOCH.", replica(),
                      chain(N1, N2, CHAIN_WRITE, 100, 5, VB, C2, EPOCH + 1), "DROP_WRONG_EPOCH", regs))
    cases.append(drop("trust-unexpected-beats-wrong-epoch", "§5 step 15 comes before step 15c: a CHAIN_WRITE of "
                      "epoch 8 at the HEAD counts DROP_UNEXPECTED_OP.", head(),
                      chain(N2, N1, CHAIN_WRITE, 5, 5, VB, C2, EPOCH + 1), "DROP_UNEXPECTED_OP", regs))
    new = EPOCH + 1
    rd, w = request(N2, READ, 6, C3), request(N2, WRITE, 6, C3, VC)
    cw_old, cw_new = chain(N1, N2, CHAIN_WRITE, 5, 5, VB, C2), chain(N1, N2, CHAIN_WRITE, 5, 5, VB, C2, new)
    cases.append(case("trust-reconfigured-replica", f"§9.2: a REPLICA reconfigured to epoch {new} while its "
                      f"neighbours still send epoch {EPOCH}. 1: their CHAIN_WRITE is dropped, DROP_WRONG_EPOCH. "
                      f"2: a client's READ of clean key 6 carries no epoch and is answered ({ROW_READ_CLEAN}). 3: a "
                      f"client's WRITE is forwarded to the head ({ROW_W_FWD}). 4: the CHAIN_WRITE of epoch {new} is "
                      f"applied and forwarded with epoch {new}.", replica().but(epoch=new),
                      [step(cw_old, [], ["DROP_WRONG_EPOCH"]),
                       step(rd, [reply(N2, rd, READ_REPLY, 2, VD)], ["READ_LOCAL"]),
                       step(w, [forward(N2, w, N1)], ["WRITE_TO_HEAD"]),
                       step(cw_new, [forward(N2, cw_new, N3, epoch=new)], ["CHAIN_WRITE_APPLIED"])],
                      regs + [reg(6, VD, 2, 2, C1)], [reg(5, VB, 5, 3, C2), reg(6, VD, 2, 2, C1)],
                      key_reads={6: 1}, key_writes={6: 1}))

    # Step 8: chain frames for another node.
    base = regs
    to_n3 = chain(N1, N2, CHAIN_WRITE, 5, 5, VB, C2).but(ip_dst=N3.ip)
    to_n1 = chain(N3, N2, ACK, 5, 4, VB, C2).but(ip_dst=N1.ip)
    edge_n3 = to_n3.but(eth_src=C2.mac)  # as the client sends it
    for name, frame, what in (
        ("chain-write-as-client", edge_n3, "a CHAIN_WRITE to the TAIL with the client's addresses"),
        ("chain-write-as-neighbour", forged(N2, CHAIN_WRITE, 5, 5, VB, AS_N1).but(ip_dst=N3.ip),
         "a CHAIN_WRITE to the TAIL with the predecessor's addresses"),
        ("ack", to_n1.but(eth_src=C2.mac), "an ACK to the HEAD"),
        ("chain-write-other-network", edge_n3.but(ip_dst="10.0.2.7"), "a CHAIN_WRITE to a host on another network"),
        ("62-byte-chain-write", edge_n3.but(ext=b""), "a 62-byte CHAIN_WRITE without the chain extension (the "
         "lengths are not part of the test)"),
        ("first-fragment", edge_n3.but(flags=0x2000), "a CHAIN_WRITE with MF set and fragment offset 0 (a first "
         "fragment)"),
        ("wrong-epoch", edge_n3.but(ext=extension(0)), "a CHAIN_WRITE of epoch 0 (a transit node does not check "
         "the epoch)"),
        ("chain-op-in-padding", edge_n3.but(total_len=20), "a 66-byte frame of IPv4 total length 20 whose bytes "
         "after the IPv4 header, Ethernet padding, hold UDP port 20035 and a CHAIN_WRITE (the test reads the "
         "frame's bytes, nothing else)"),
    ):
        cases.append(drop(f"trust-transit-from-edge-{name}", f"{ROW_STEP8_CHAIN}: {what}, received by the REPLICA "
                          f"on the edge port {EDGE}, is dropped, DROP_NOT_FROM_CHAIN: it must not reach the fabric.",
                          replica(), frame, "DROP_NOT_FROM_CHAIN", base, ingress=EDGE))
    other_epoch = to_n1.but(ext=extension(EPOCH + 1))
    cases.append(case("trust-transit-from-fabric", f"{ROW_TRANSIT}. Chain frames for other nodes that arrive on "
                      "fabric ports transit whatever the ports' marks and the frames' epochs: 1: a CHAIN_WRITE to the "
                      "TAIL on port 1 (from_predecessor). 2: an ACK to the HEAD on port 3 (from_successor). 3: an "
                      f"ACK of epoch {EPOCH + 1} to the HEAD on port 3; it leaves with its epoch unchanged. "
                      "The registers are untouched.", replica(),
                      [step(to_n3, [transit(N2, to_n3, hop(N3))], ["TRANSIT"], N1.port),
                       step(to_n1, [transit(N2, to_n1, hop(N1))], ["TRANSIT"], N3.port),
                       step(other_epoch, [transit(N2, other_epoch, hop(N1))], ["TRANSIT"], N3.port)], base))
    rd, w = request(N2, READ, 5, C2).but(ip_dst=N1.ip), request(N2, WRITE, 5, C2, VB).but(ip_dst=N1.ip)
    cases.append(case("trust-transit-client-ops-from-edge", f"{ROW_TRANSIT}. Only chain ops are held back at the "
                      f"edge: a READ and a WRITE addressed to the HEAD, received on the edge port {EDGE}, transit.",
                      replica(), [step(rd, [transit(N2, rd, hop(N1))], ["TRANSIT"], EDGE),
                                  step(w, [transit(N2, w, hop(N1))], ["TRANSIT"], EDGE)], base))
    # The boundaries of step 8's test: each of these fails one of its conditions, so it transits.
    for name, frame, via, what in (
        ("61-bytes", edge_n3.but(total_len=47, udp_len=27, cut=61), hop(N3), "a length of 61 bytes (IPv4 total "
         "length 47)"),
        ("non-first-fragment", edge_n3.but(flags=0x0001), hop(N3), "fragment offset 1 (not the first fragment)"),
        ("other-udp-port", edge_n3.but(dport=NC_PORT + 1), hop(N3), "UDP destination port 20036"),
        ("not-udp", edge_n3.but(proto=6), hop(N3), "IPv4 protocol 6"),
    ):
        cases.append(case(f"trust-transit-from-edge-{name}", f"{ROW_TRANSIT}. {ROW_STEP8_CHAIN}: a CHAIN_WRITE frame "
                          f"to the TAIL with {what} does not look like a chain frame: from the edge port {EDGE} it "
                          "transits.", replica(), [step(frame, [transit(N2, frame, via)], ["TRANSIT"], EDGE)], base))
    ops = (READ, WRITE, READ_REPLY, WRITE_REPLY, ERROR, 0, UNKNOWN_OP, 0xFF)
    frames = [edge_n3.but(op=op) for op in ops]
    cases.append(case("trust-transit-from-edge-non-chain-ops", f"{ROW_TRANSIT}. {ROW_STEP8_CHAIN}: frames like a "
                      "CHAIN_WRITE to the TAIL (66 bytes, with the extension) but with op "
                      f"{', '.join(str(op) for op in ops)} (no chain op) transit from the edge port {EDGE}.", replica(),
                      [step(f, [transit(N2, f, hop(N3))], ["TRANSIT"], EDGE) for f in frames], base))
    return cases


# =========================================================================== §9.3, §10 reconfiguration

CTRL_PORT = 6  # the port marked from_controller (§2.3): where PacketOut frames enter
CONTROLLER = Ident("10.0.9.1", NC_PORT, 0x0900, "02:00:00:00:09:01")  # the addresses of its frames
LEASE = 1000  # lease_ticks of the cases with leases on
JOIN = 9  # sync_epoch of the syncing tails
EARLIER_JOIN = 3  # a join whose marks a node still holds

ROW_NOT_SERVING = ("§5.1 row 'any | READ | the node does not hold its lease, or it is a syncing tail and the key "
                   "is not received | reply ERROR NOT_SERVING | READ_NOT_SERVING'")
ROW_RENEW_CLOCK = ("§5.1 row 'any | RENEW | the carried lease_end is 0 | lease_clock = now | "
                   "RENEW_CLOCK_ONLY'")
ROW_RENEW = ("§5.1 row 'any | RENEW | 1 <= (carried lease_end - now) mod 2^32 <= lease_ticks | lease_clock = now, "
             "lease_end = the carried end, lease_held = 1 | LEASE_RENEWED'")
ROW_RENEW_LATE = "§5.1 row 'any | RENEW | otherwise (late) | lease_clock = now | RENEW_LATE'"
ROW_SWEEP_RESENT = "§5.1 row 'HEAD, REPLICA | SWEEP | dirty | re-send stored version (§4.4) | SWEEP_RESENT'"
ROW_SWEEP_COPIED = "§5.1 row 'HEAD, REPLICA | SWEEP | clean | SYNC of the stored version, built as a re-send'"
ROW_SWEEP_COMMITTED = ("§5.1 row 'TAIL | SWEEP | dirty, and not (syncing and not received) | set a = s; ACK of "
                       "the stored version to predecessor_ip | SWEEP_COMMITTED'")
ROW_SYNC_APPLIED = "§5.1 row 'REPLICA, TAIL | SYNC | v newer than s | store and set a = v | SYNC_APPLIED'"
ROW_SYNC_STALE = "§5.1 row 'REPLICA, TAIL | SYNC | v not newer | nothing | SYNC_STALE'"
ROW_RECEIVED = "§5.1 rows 'TAIL | CHAIN_WRITE, SYNC | syncing and the key not received | ... | KEY_RECEIVED'"


def ctrl_fabric(cfg):
    """The standard fabric ports and the controller's port CTRL_PORT (§2.3 from_controller)."""
    return std_fabric(cfg) + [fabric_port(CTRL_PORT, from_controller=True)]


def control(to, op, key, epoch=EPOCH, value=ZERO, **fields):
    """A SWEEP or RENEW from the control plane to node `to` (§10.1, §9.3), as PacketOut sends it."""
    fields.setdefault("ttl", 64)
    return Frame(
        eth_dst=to.mac, eth_src=CONTROLLER.mac, ip_src=CONTROLLER.ip, ip_dst=to.ip, sport=CONTROLLER.port,
        dport=NC_PORT, ident=CONTROLLER.id, op=op, version=0, key=key, value=value, ext=extension(epoch), **fields,
    )


def renew(lease_end, key=0, epoch=EPOCH, rest=bytes(12)):
    """A RENEW to N2 carrying `lease_end` in value bytes 0..4, big-endian (§1.2, §9.3); `rest`, the
    other 12 bytes, is ignored."""
    return control(N2, RENEW, key, epoch, value=lease_end.to_bytes(4, "big") + rest)


def lease(end, held=True, clock=0):
    """The lease registers (§2.1b); `clock` is lease_clock, left out when 0."""
    return {"end": end, "held": held, **({"clock": clock} if clock else {})}


def reconf(name, description, cfg, steps, registers=(), final=SAME, **kw):
    kw.setdefault("fabric", ctrl_fabric(cfg))
    return case(name, description, cfg, steps, registers, final, **kw)


@group("reconfiguration", "§9.3 leases and §10 reconfiguration: RENEW, READ with a lease held, lapsed or off; "
       "SWEEP at every role, dirty and clean; SYNC; a syncing tail's received keys (KEY_RECEIVED, NOT_SERVING); "
       "where control-plane frames may come from")
def reconfiguration_cases():
    return lease_cases() + sweep_cases() + sync_cases()


def lease_cases():
    return renew_cases() + read_lease_cases()


def renew_cases():
    cases = []
    leased = replica().but(lease_ticks=LEASE)
    lapsed = lease(4000, False)
    granted = (
        ("sets-lease", 5000, 6000, leased, f"at clock 5000 a RENEW carrying 6000, lease_ticks {LEASE} ahead (the "
                                           "longest it grants): the lease ends at 6000 and is held"),
        ("one-tick-ahead", 5000, 5001, leased, "the carried end 5001 is one tick after the clock 5000 (the shortest "
                                               "lease it grants): granted"),
        ("wraps-the-clock", 0xFFFFFF00, 0x100, leased.but(lease_ticks=0x200), "clock 0xffffff00, carried 0x100: "
                                                                              "(0x100 - now) mod 2^32 = 0x200 = "
                                                                              "lease_ticks: granted across the wrap"),
    )
    for name, clock, end, cfg, why in granted:
        cases.append(reconf(f"renew-{name}", f"{ROW_RENEW}: {why}; lease_clock = {clock}; nothing is sent, no "
                            "register changes.", cfg, [step(renew(end), [], ["LEASE_RENEWED"], CTRL_PORT, clock=clock)],
                            lease=lapsed, final_lease=lease(end, clock=clock)))
    cases.append(reconf("renew-names-no-key", f"{ROW_RENEW}; §5 step 16 is not checked for RENEW: key 0x8000 "
                        "(outside [0, 16)) renews all the same.", leased,
                        [step(renew(1010, key=0x8000), [], ["LEASE_RENEWED"], CTRL_PORT, clock=10)],
                        final_lease=lease(1010, clock=10)))
    cases.append(reconf("renew-ignores-the-rest-of-the-value", f"{ROW_RENEW}: only value bytes 0..4 carry the lease "
                        "end (§1.2); bytes 4..16 set to ff change nothing.", leased,
                        [step(renew(6000, rest=b"\xff" * 12), [], ["LEASE_RENEWED"], CTRL_PORT, clock=5000)],
                        final_lease=lease(6000, clock=5000)))
    for name, start, why in (("held", lease(5500), "a held lease ending at 5500 is neither granted nor ended"),
                             ("lapsed", lapsed, "a lapsed lease stays lapsed")):
        cases.append(reconf(f"renew-clock-read-{name}", f"{ROW_RENEW_CLOCK}: a RENEW carrying 0 at clock 5000 only "
                            f"sets lease_clock = 5000 (the control plane reads the node's clock, §9.3); {why}.", leased,
                            [step(renew(0), [], ["RENEW_CLOCK_ONLY"], CTRL_PORT, clock=5000)],
                            lease=start, final_lease={**start, "clock": 5000}))
    late = (
        ("ending-now", 5000, 5000, "the carried end 5000 is the clock: the lease it grants has already ended"),
        ("ending-before-now", 5000, 4999, "the carried end 4999 is one tick before the clock 5000: (end - now) mod "
                                          "2^32 = 2^32 - 1"),
        ("too-long", 5000, 6001, f"the carried end 6001 is {LEASE + 1} ticks ahead, one more than lease_ticks"),
        ("half-the-clock-ahead", 5000, 5000 + 2**31, "the carried end is 2^31 ticks ahead"),
        ("ending-before-now-across-the-wrap", 0x10, 0xFFFFFFF0, "clock 0x10, carried 0xfffffff0: 0x20 ticks in the "
                                                                "past across the wrap"),
        ("too-long-across-the-wrap", 0xFFFFFFF0, 0x3D9, f"clock 0xfffffff0, carried 0x3d9: {LEASE + 1} ticks ahead "
                                                        "across the wrap"),
    )
    for name, clock, end, why in late:
        cases.append(reconf(f"renew-late-{name}", f"{ROW_RENEW_LATE}: {why}; the lapsed lease (end 4000) stays as it "
                            f"was, lease_clock = {clock}.", leased,
                            [step(renew(end), [], ["RENEW_LATE"], CTRL_PORT, clock=clock)],
                            lease=lapsed, final_lease={**lapsed, "clock": clock}))
    cases.append(reconf("renew-late-keeps-a-held-lease", f"{ROW_RENEW_LATE}: a late RENEW (carried 4000 at clock "
                        "5000) neither shortens nor ends a held lease ending at 5500; lease_clock = 5000.", leased,
                        [step(renew(4000), [], ["RENEW_LATE"], CTRL_PORT, clock=5000)],
                        lease=lease(5500), final_lease=lease(5500, clock=5000)))
    cases.append(reconf("renew-with-leases-off", f"{ROW_RENEW_LATE}: with lease_ticks 0 no end lies 1 to lease_ticks "
                        "ticks ahead, so every RENEW that carries an end is late; lease_clock = 77, and reads do not "
                        "look at the lease (leases off).", replica(),
                        [step(renew(78), [], ["RENEW_LATE"], CTRL_PORT, clock=77)], final_lease=lease(0, False, 77)))
    for name, ingress, why in (("edge", CLIENT_GW.port, f"the edge port {CLIENT_GW.port}"),
                               ("predecessor-port", N1.port, "the predecessor's fabric port, not marked "
                                                             "from_controller")):
        cases.append(reconf(f"renew-from-{name}", f"§5 step 15b, §9.1: a RENEW from {why} is dropped, "
                            "DROP_NOT_FROM_CHAIN; the lapsed lease stays lapsed and lease_clock is not written.", leased,
                            [step(renew(5500), [], ["DROP_NOT_FROM_CHAIN"], ingress, clock=5000)], lease=lapsed))
    cases.append(reconf("renew-wrong-epoch", "§5 step 15c, §9.3: a RENEW of another epoch (a controller of an older "
                        "configuration) is dropped, DROP_WRONG_EPOCH, and lease_clock is not written: a node left out "
                        "of a configuration is never renewed again.", leased,
                        [step(renew(5500, epoch=EPOCH - 1), [], ["DROP_WRONG_EPOCH"], CTRL_PORT,
                              clock=5000)], lease=lapsed))
    return cases


def read_lease_cases():
    cases = []
    leased = replica().but(lease_ticks=LEASE)
    clean = [reg(5, VA, 3, 3, C1)]
    r = request(N2, READ, 5, C2)
    served = [reply(N2, r, READ_REPLY, 3, VA)]
    refused = [reply(N2, r, ERROR, NOT_SERVING_CODE, ZERO)]
    for name, clock, held_after, why in (
        ("held", 5999, True, "clock 5999, one tick before the end 6000: held, the clean key is read locally"),
        ("held-across-the-wrap", 0xFFFFFFF0, True, "clock 0xfffffff0 with the end 6000: (6000 - now) mod 2^32 = "
                                                   "6016, held"),
    ):
        cases.append(reconf(f"read-lease-{name}", f"§2.1b, §5.1 READ rows: {why}.", leased,
                            [step(r, served, ["READ_LOCAL"], clock=clock)], clean, key_reads={5: 1},
                            lease=lease(6000), final_lease=lease(6000, held_after)))
    for name, clock, start, why in (
        ("at-its-end", 6000, lease(6000), "clock 6000 = the end: lapsed"),
        ("after-its-end", 6001, lease(6000), "clock 6001: lapsed"),
        ("half-the-clock-later", 6000 + 2**31, lease(6000), "clock 2^31 after the end: (end - now) mod 2^32 = 2^31, "
                                                            "lapsed"),
        ("never-renewed", 0, lease(0, False), "never renewed (lease registers zero), clock 0"),
        ("not-held", 10, lease(6000, False), "lease_held 0 with an end still ahead (clock 10): lapsed, as a lease "
                                             "once read lapsed stays lapsed"),
    ):
        cases.append(reconf(f"read-lease-lapsed-{name}", f"{ROW_NOT_SERVING}: {why}; the clean key is not served, "
                            "the reply echoes key and value, key_reads counts, lease_held becomes 0 (§2.1b).", leased,
                            [step(r, refused, ["READ_NOT_SERVING"], clock=clock)], clean, key_reads={5: 1},
                            lease=start, final_lease=lease(start["end"], False)))
    cases.append(reconf("read-lease-lapsed-stays-lapsed", f"{ROW_NOT_SERVING}, §2.1b: read lapsed at clock 7000, the "
                        "lease stays lapsed when the clock wraps round to 5000 (before the end 6000 again); a RENEW at "
                        "5100 restores it: the next READ is served.", leased,
                        [step(r, refused, ["READ_NOT_SERVING"], clock=7000),
                         step(r, refused, ["READ_NOT_SERVING"], clock=5000),
                         step(renew(6100), [], ["LEASE_RENEWED"], CTRL_PORT, clock=5100),
                         step(r, served, ["READ_LOCAL"], clock=5200)], clean, key_reads={5: 3},
                        lease=lease(6000), final_lease=lease(6100, clock=5100)))
    cases.append(reconf("read-after-a-renew-delivered-late", f"{ROW_RENEW_LATE}, {ROW_NOT_SERVING}, §9.3: the "
                        "control plane sent a RENEW carrying 5500 while the lease (end 5000) was held; the node, "
                        "stopped meanwhile, handles it at clock 9000, when the lease it grants has ended: it grants "
                        "nothing, and the READ at 9001 is refused. This is what lets the control plane know when a "
                        "removed node's lease has surely ended.", leased,
                        [step(renew(5500), [], ["RENEW_LATE"], CTRL_PORT, clock=9000),
                         step(r, refused, ["READ_NOT_SERVING"], clock=9001)], clean, key_reads={5: 1},
                        lease=lease(5000), final_lease=lease(5000, False, 9000)))
    dirty = [reg(5, VA, 3, 2, C1)]
    cases.append(reconf("read-lease-lapsed-dirty-not-forwarded", f"{ROW_NOT_SERVING}: a dirty key at a REPLICA whose "
                        "lease lapsed: refused, not forwarded to the tail.", leased,
                        [step(r, refused, ["READ_NOT_SERVING"], clock=7000)], dirty, key_reads={5: 1},
                        lease=lease(6000), final_lease=lease(6000, False)))
    rt = request(N3, READ, 5, C2)
    cases.append(reconf("read-lease-lapsed-at-tail", f"{ROW_NOT_SERVING}: a TAIL whose lease lapsed does not answer "
                        "either.", tail().but(lease_ticks=LEASE),
                        [step(rt, [reply(N3, rt, ERROR, NOT_SERVING_CODE, ZERO)], ["READ_NOT_SERVING"], clock=7000)],
                        clean, key_reads={5: 1}, lease=lease(6000), final_lease=lease(6000, False)))
    w = request(N1, WRITE, 5, C2, VB)
    cases.append(reconf("write-ignores-the-lease", f"{ROW_W_STAMP}; §5.1 details: WRITE does not read the lease: a "
                        "HEAD whose lease lapsed still stamps (a removed head's writes never commit: the epoch stops "
                        "them).", head().but(lease_ticks=LEASE),
                        [step(w, [forward(N1, w, N2, op=CHAIN_WRITE, version=4)], ["WRITE_STAMPED"],
                              clock=7000)],
                        clean, [reg(5, VB, 4, 3, C2)], key_writes={5: 1}, lease=lease(6000)))
    r99 = request(N2, READ, 99, C2)
    cases.append(reconf("read-key-out-of-range-before-the-lease", "§5 step 16 comes before §5.1: a READ of key 99 at "
                        "a node whose lease lapsed gets ERROR KEY_OUT_OF_RANGE and leaves the lease as it was.", leased,
                        [step(r99, [reply(N2, r99, ERROR, KEY_OUT_OF_RANGE_CODE, ZERO)], ["KEY_OUT_OF_RANGE"],
                              clock=7000)], clean, lease=lease(6000)))
    return cases


def sweep_cases():
    cases = []
    for role, node, succ, name in (("REPLICA", N2, N3, "replica"), ("HEAD", N1, N2, "head")):
        cfg = ROLES[role]()
        sw = control(node, SWEEP, 5)
        cases.append(reconf(f"sweep-{name}-dirty-resends", f"{ROW_SWEEP_RESENT}: version 3 acked 2: a CHAIN_WRITE of "
                            f"version 3 and its value to the successor, addressed as its writer C1's request, TTL, "
                            "TOS and flags from the SWEEP, the node's epoch.", cfg,
                            [step(sw, [resend(node, sw, succ, 3, VA, C1)], ["SWEEP_RESENT"], CTRL_PORT)],
                            [reg(5, VA, 3, 2, C1)]))
        cases.append(reconf(f"sweep-{name}-clean-copies", f"{ROW_SWEEP_COPIED}: version 3 acked 3: a SYNC of version 3 "
                            "to the successor, addressed as C1's request.", cfg,
                            [step(sw, [resend(node, sw, succ, 3, VA, C1, op=SYNC)], ["SWEEP_COPIED"], CTRL_PORT)],
                            [reg(5, VA, 3, 3, C1)]))
    sw = control(N1, SWEEP, 9)
    cases.append(reconf("sweep-head-copies-a-never-written-key", f"{ROW_SWEEP_COPIED}: key 9 was never written "
                        "(clean at version 0): a SYNC of version 0, a zero value and zero writer addresses, so that a "
                        "syncing tail receives every key.", head(),
                        [step(sw, [resend(N1, sw, N2, 0, ZERO, None, op=SYNC)], ["SWEEP_COPIED"], CTRL_PORT)]))
    sw = control(N3, SWEEP, 5)
    cases.append(reconf("sweep-tail-dirty-commits", f"{ROW_SWEEP_COMMITTED}: a new TAIL holding version 3 acked 2 "
                        "commits it (acked 3) and sends its ACK to the predecessor, addressed as C1's request; no "
                        "WRITE_REPLY (the writer asks again).", tail(),
                        [step(sw, [resend(N3, sw, N2, 3, VA, C1, op=ACK)], ["SWEEP_COMMITTED"], CTRL_PORT)],
                        [reg(5, VA, 3, 2, C1)], [reg(5, VA, 3, 3, C1)]))
    cases.append(reconf("sweep-tail-clean", "§5.1 row 'TAIL, SOLO | SWEEP | otherwise | nothing | SWEEP_CLEAN': a "
                        "clean key at the TAIL.", tail(), [step(sw, [], ["SWEEP_CLEAN"], CTRL_PORT)],
                        [reg(5, VA, 3, 3, C1)]))
    sw4 = control(N4, SWEEP, 5)
    cases.append(reconf("sweep-solo-dirty-commits", "§5.1 row 'SOLO | SWEEP | dirty | set a = s | SWEEP_COMMITTED': "
                        "the head of a chain whose other nodes were removed commits in place; nothing is sent.",
                        solo(), [step(sw4, [], ["SWEEP_COMMITTED"], CTRL_PORT)],
                        [reg(5, VA, 3, 2, C1)], [reg(5, VA, 3, 3, C1)]))
    cases.append(reconf("sweep-solo-clean", "§5.1 row 'TAIL, SOLO | SWEEP | otherwise | nothing | SWEEP_CLEAN'.",
                        solo(), [step(sw4, [], ["SWEEP_CLEAN"], CTRL_PORT)], [reg(5, VA, 3, 3, C1)]))
    syncing = tail().but(sync_epoch=JOIN)
    cases.append(reconf("sweep-syncing-tail-not-received", "§5.1 row 'TAIL, SOLO | SWEEP | otherwise | nothing': a "
                        "syncing TAIL does not commit a key it has not received (a leftover of an earlier join: "
                        f"received {EARLIER_JOIN}, sync_epoch {JOIN}).", syncing,
                        [step(sw, [], ["SWEEP_CLEAN"], CTRL_PORT)], [reg(5, VA, 3, 2, C1, EARLIER_JOIN)]))
    cases.append(reconf("sweep-syncing-tail-received-commits", f"{ROW_SWEEP_COMMITTED}: a syncing TAIL commits a key it "
                        "has received.", syncing,
                        [step(sw, [resend(N3, sw, N2, 3, VA, C1, op=ACK)], ["SWEEP_COMMITTED"], CTRL_PORT)],
                        [reg(5, VA, 3, 2, C1, JOIN)], [reg(5, VA, 3, 3, C1, JOIN)]))
    sw2 = control(N2, SWEEP, 5)
    regs = [reg(5, VA, 3, 2, C1)]
    for name, frame, ingress, outcome, why in (
        ("from-edge", sw2, CLIENT_GW.port, "DROP_NOT_FROM_CHAIN", f"§5 step 15b: from the edge port {CLIENT_GW.port}"),
        ("from-predecessor-port", sw2, N1.port, "DROP_NOT_FROM_CHAIN", "§5 step 15b: from the predecessor's port, "
                                                                       "not marked from_controller"),
        ("wrong-epoch", control(N2, SWEEP, 5, epoch=EPOCH + 1), CTRL_PORT, "DROP_WRONG_EPOCH", "§5 step 15c: "
                                                                                              "epoch 8"),
        ("key-out-of-range", control(N2, SWEEP, 16), CTRL_PORT, "DROP_KEY_OUT_OF_RANGE", "§5 step 16: key 16 = "
                                                                                          "key_hi"),
    ):
        cases.append(reconf(f"sweep-{name}", f"{why}: dropped, {outcome}; nothing is re-sent.", replica(),
                            [step(frame, [], [outcome], ingress)], regs))
    return cases


def sync_cases():
    cases = []
    sy = chain(N1, N2, SYNC, 5, 5, VB, C2)
    cases.append(reconf("sync-replica-applies-newer", f"{ROW_SYNC_APPLIED}: version 5 over version 3 acked 2: stored, "
                        "clean at 5, writer C2; nothing is sent.", replica(),
                        [step(sy, [], ["SYNC_APPLIED"])], [reg(5, VA, 3, 2, C1)], [reg(5, VB, 5, 5, C2)]))
    cases.append(reconf("sync-replica-ignores-not-newer", f"{ROW_SYNC_STALE}: version 3 over version 3.", replica(),
                        [step(sy.but(version=3), [], ["SYNC_STALE"])], [reg(5, VA, 3, 2, C1)]))
    sy3 = chain(N2, N3, SYNC, 5, 5, VB, C2)
    cases.append(reconf("sync-tail-applies-newer", f"{ROW_SYNC_APPLIED} at a TAIL: no WRITE_REPLY, no ACK.", tail(),
                        [step(sy3, [], ["SYNC_APPLIED"])], [reg(5, VA, 3, 3, C1)], [reg(5, VB, 5, 5, C2)]))
    syncing = tail().but(sync_epoch=JOIN)
    cases.append(reconf("sync-syncing-tail-receives", f"{ROW_RECEIVED}: a leftover version 10 (received "
                        f"{EARLIER_JOIN}) is replaced by version 200 although 200 is not newer than 10 (§3.1: "
                        f"190 > 127): stored, clean, received {JOIN}.", syncing,
                        [step(sy3.but(version=200), [], ["KEY_RECEIVED"])], [reg(5, VA, 10, 10, C1, EARLIER_JOIN)],
                        [reg(5, VB, 200, 200, C2, JOIN)]))
    cases.append(reconf("sync-syncing-tail-received-stale", f"{ROW_SYNC_STALE}: a received key (version 6, received "
                        f"{JOIN}) ignores a copy of version 5 that arrives after the newer write.", syncing,
                        [step(sy3, [], ["SYNC_STALE"])], [reg(5, VA, 6, 6, C1, JOIN)]))
    cw = chain(N2, N3, CHAIN_WRITE, 5, 200, VB, C2)
    cases.append(reconf("chain-write-syncing-tail-receives", f"{ROW_RECEIVED}: a CHAIN_WRITE of version 200 over a "
                        "leftover version 10: stored, committed, received; WRITE_REPLY and ACK as any commit.",
                        syncing, [step(cw, tail_outputs(cw, 200, VB), ["KEY_RECEIVED"])],
                        [reg(5, VA, 10, 10, C1, EARLIER_JOIN)], [reg(5, VB, 200, 200, C2, JOIN)]))
    cw7 = cw.but(version=7)
    cases.append(reconf("chain-write-syncing-tail-received-commits", f"{ROW_COMMIT}: a received key commits as at "
                        "any tail and stays received.", syncing,
                        [step(cw7, tail_outputs(cw7, 7, VB), ["COMMIT_APPLIED"])], [reg(5, VA, 6, 6, C1, JOIN)],
                        [reg(5, VB, 7, 7, C2, JOIN)]))
    cwr = chain(N1, N2, CHAIN_WRITE, 5, 4, VB, C2)
    cases.append(reconf("chain-write-replica-clears-received", f"{ROW_CW_APPLIED}; §2.1: store sets kv_received to "
                        f"the sync_epoch in force, 0 at a full member (received {EARLIER_JOIN} before).", replica(),
                        [step(cwr, [forward(N2, cwr, N3)], ["CHAIN_WRITE_APPLIED"])],
                        [reg(5, VA, 3, 3, C1, EARLIER_JOIN)], [reg(5, VB, 4, 3, C2)]))
    rt = request(N3, READ, 5, C2)
    cases.append(reconf("read-syncing-tail-not-received", f"{ROW_NOT_SERVING}: a syncing TAIL has not received key 5 "
                        f"(received {EARLIER_JOIN}, sync_epoch {JOIN}): ERROR NOT_SERVING, never the leftover.",
                        syncing, [step(rt, [reply(N3, rt, ERROR, NOT_SERVING_CODE, ZERO)], ["READ_NOT_SERVING"])],
                        [reg(5, VA, 10, 10, C1, EARLIER_JOIN)], key_reads={5: 1}))
    cases.append(reconf("read-syncing-tail-received", f"{ROW_READ_TAIL}: a received key is served.", syncing,
                        [step(rt, [reply(N3, rt, READ_REPLY, 6, VA)], ["READ_LOCAL"])], [reg(5, VA, 6, 6, C1, JOIN)],
                        key_reads={5: 1}))
    cases.append(reconf("read-full-member-ignores-received", f"{ROW_READ_TAIL}: at a full member (sync_epoch 0) "
                        "kv_received does not matter.", tail(),
                        [step(rt, [reply(N3, rt, READ_REPLY, 6, VA)], ["READ_LOCAL"])],
                        [reg(5, VA, 6, 6, C1, EARLIER_JOIN)], key_reads={5: 1}))
    for name, frame, ingress, outcome, why in (
        ("from-successor-port", chain(N3, N2, SYNC, 5, 5, VB, C2), N3.port, "DROP_NOT_FROM_CHAIN",
         "§5 step 15b: a SYNC from the successor's port (only from_predecessor ports carry SYNC)"),
        ("from-edge", sy, CLIENT_GW.port, "DROP_NOT_FROM_CHAIN", "§5 step 15b, §9.1: a forged SYNC from the edge"),
        ("from-controller-port", sy, CTRL_PORT, "DROP_NOT_FROM_CHAIN", "§5 step 15b: SYNC comes from the "
                                                                       "predecessor, not the control plane"),
        ("wrong-epoch", chain(N1, N2, SYNC, 5, 5, VB, C2, epoch=EPOCH - 1), None, "DROP_WRONG_EPOCH",
         "§5 step 15c: a SYNC of epoch 6"),
        ("key-out-of-range", chain(N1, N2, SYNC, 16, 5, VB, C2), None, "DROP_KEY_OUT_OF_RANGE",
         "§5 step 16: key 16"),
    ):
        cases.append(reconf(f"sync-{name}", f"{why}: dropped, {outcome}; registers unchanged.", replica(),
                            [step(frame, [], [outcome], ingress)], [reg(5, VA, 3, 2, C1)]))
    return cases


# =========================================================================== §4.2 emission, §1 padding

@group("emission", "§4.2 and §4.3: what every output copies (identification, TOS, flags), decrements (TTL) and "
       "resets (UDP checksum 0, no Ethernet padding), its length (66 bytes and the node's epoch for a chain op, 62 "
       "for any other), that the destination MAC comes from the route, and that a READ's handling does not depend "
       "on the ingress port")
def emission_cases():
    cases = []
    regs = [reg(5, VA, 3, 3, C1)]
    r = request(N3, READ, 5, C2, tos=0xB8, ident=0xBEEF, flags=0x0000, ttl=255)
    cases.append(case("emit-reply-copies-ident-tos-flags", f"{ROW_READ_TAIL}, §4.2: the reply copies identification "
                      "0xbeef, TOS 0xb8 and flags 0 (DF clear), and has TTL 254 and a recomputed checksum.", tail(),
                      [step(r, [reply(N3, r, READ_REPLY, 3, VA)], ["READ_LOCAL"])], regs, key_reads={5: 1}))
    r = request(N3, READ, 5, C2, ttl=2)
    cases.append(case("emit-reply-ttl-2", f"{ROW_READ_TAIL}, §4.2/§5 step 7: a request with TTL 2 is answered with "
                      "TTL 1.", tail(), [step(r, [reply(N3, r, READ_REPLY, 3, VA)], ["READ_LOCAL"])], regs,
                      key_reads={5: 1}))
    r = request(N2, READ, 5, C2, tos=0x10, ident=0x4242, flags=0x0000, ttl=33)
    cases.append(case("emit-forward-copies-ident-tos-flags", f"{ROW_READ_FWD}, §4.2: the forwarded READ copies "
                      "identification, TOS and flags, and has TTL 32.", replica(),
                      [step(r, [forward(N2, r, N3)], ["READ_TO_TAIL"])], [reg(5, VA, 4, 3, C1)], key_reads={5: 1}))
    r = request(N3, READ, 5, C2, udp_csum=0xABCD)
    cases.append(case("emit-reply-udp-checksum-zero", f"{ROW_READ_TAIL}, §4.2/§5: the request's UDP checksum 0xabcd "
                      "is not verified, and the reply's UDP checksum is 0.", tail(),
                      [step(r, [reply(N3, r, READ_REPLY, 3, VA)], ["READ_LOCAL"])], regs, key_reads={5: 1}))
    r = request(N2, WRITE, 5, C2, VB, udp_csum=0x0001)
    cases.append(case("emit-forward-udp-checksum-zero", f"{ROW_W_FWD}, §4.2: a forwarded WRITE's UDP checksum is 0 "
                      "(the received one was 0x0001).", replica(), [step(r, [forward(N2, r, N1)], ["WRITE_TO_HEAD"])],
                      regs, key_writes={5: 1}))
    r = request(N3, READ, 5, C2, pad=b"\x00\x00")
    cases.append(case("emit-padding-read", f"{ROW_READ_TAIL}, §5 step 5b ('Ethernet padding after it is ignored'), "
                      "§1 (a NetCRAQ frame is 62 bytes): a 64-byte READ (2 zero bytes of padding) is answered with a "
                      "62-byte reply.", tail(), [step(r, [reply(N3, r, READ_REPLY, 3, VA)], ["READ_LOCAL"])], regs,
                      key_reads={5: 1}))
    cw = chain(N1, N2, CHAIN_WRITE, 5, 4, VB, C2, pad=bytes(range(1, 19)))
    cases.append(case("emit-padding-chain-write", f"{ROW_CW_APPLIED}, §5 step 5b: an 84-byte CHAIN_WRITE (a chain "
                      "frame and 18 non-zero padding bytes) is applied and forwarded as a 66-byte frame (§4.2).",
                      replica(), [step(cw, [forward(N2, cw, N3)], ["CHAIN_WRITE_APPLIED"])], regs,
                      [reg(5, VB, 4, 3, C2)]))
    ack = chain(N3, N2, ACK, 5, 4, VB, C2, pad=b"\x5a" * 6)
    cases.append(case("emit-padding-ack", f"{ROW_ACK_R}, §5 step 5b: a 72-byte ACK (6 padding bytes) is forwarded "
                      "as a 66-byte frame.", replica(), [step(ack, [forward(N2, ack, N1)], ["ACK_FORWARDED"])],
                      [reg(5, VB, 4, 3, C2)], [reg(5, VB, 4, 4, C2)]))
    cw = chain(N2, N3, CHAIN_WRITE, 5, 4, VB, C2, pad=b"\xff\xff")
    cases.append(case("emit-padding-tail-two-outputs", f"{ROW_COMMIT}, §5 step 5b, §4.2: a 68-byte CHAIN_WRITE at "
                      "the TAIL gives a 62-byte WRITE_REPLY (no chain extension) and a 66-byte ACK carrying the "
                      f"node's epoch {EPOCH}.", tail(),
                      [step(cw, tail_outputs(cw, 4, VB), ["COMMIT_APPLIED"])], regs, [reg(5, VB, 4, 4, C2)]))
    r = request(N1, WRITE, 5, C1, VA, version=1, pad=bytes(4))
    cases.append(case("emit-padding-resend", f"{ROW_W_MATCH}, §5 step 5b, §4.2: a retransmission padded to 66 "
                      "bytes at the HEAD gets a 66-byte re-sent CHAIN_WRITE whose extension is the node's epoch, not "
                      "the zero padding.", head(), [step(r, [resend(N1, r, N2, 3, VA, C1)], ["WRITE_RETRANSMIT"])],
                      regs, key_writes={5: 1}))

    # §4.2 lengths: a chain op's output is a 66-byte chain frame with the node's epoch, any other 62 bytes.
    w = request(N1, WRITE, 5, C2, VB)
    cases.append(case("emit-head-chain-write-is-66-bytes", f"{ROW_W_STAMP}, §4.2: a 62-byte WRITE becomes a 66-byte "
                      f"CHAIN_WRITE: IPv4 total length 52, UDP length 32, and the chain extension carries epoch "
                      f"{EPOCH}, node_config.epoch.", head(),
                      [step(w, [forward(N1, w, N2, op=CHAIN_WRITE, version=4)], ["WRITE_STAMPED"])], regs,
                      [reg(5, VB, 4, 3, C2)], key_writes={5: 1}))
    w = request(N1, WRITE, 5, C2, VB, tos=0x10, ident=0x4242, flags=0x0000, ttl=33)
    cases.append(case("emit-head-chain-write-copies-ident-tos-flags", f"{ROW_W_STAMP}, §4.2: the 66-byte CHAIN_WRITE "
                      "made from a 62-byte WRITE copies its identification 0x4242, TOS 0x10 and flags 0, and has TTL "
                      "32.", head(), [step(w, [forward(N1, w, N2, op=CHAIN_WRITE, version=4)], ["WRITE_STAMPED"])],
                      regs, [reg(5, VB, 4, 3, dataclasses.replace(C2, id=0x4242))], key_writes={5: 1}))
    c2_beef = dataclasses.replace(C2, id=0xBEEF)
    cw = chain(N2, N3, CHAIN_WRITE, 5, 4, VB, c2_beef, tos=0xB8, flags=0x0000, ttl=200)
    cases.append(case("emit-tail-outputs-copy-ident-tos-flags", f"{ROW_COMMIT}, §4.2: the WRITE_REPLY and the ACK "
                      "both copy the CHAIN_WRITE's identification 0xbeef, TOS 0xb8 and flags 0, and have TTL 199.",
                      tail(), [step(cw, tail_outputs(cw, 4, VB), ["COMMIT_APPLIED"])], regs,
                      [reg(5, VB, 4, 4, c2_beef)]))
    w1, w2 = request(N1, WRITE, 5, C1, VB, pad=b"\xaa" * 4), request(N1, WRITE, 5, C2, VC, pad=b"\xee" * 8)
    w3 = request(N1, WRITE, 5, C3, VD, pad=b"\x11\x22")
    cases.append(case("emit-head-padded-writes-become-66-byte-chain-writes", f"{ROW_W_STAMP}, §4.2 ('whatever "
                      "Ethernet padding the received frame had'): WRITEs of 66 bytes (4 padding bytes aa), 70 bytes "
                      "(8 padding bytes ee) and 64 bytes (padding 1122) are stamped 4, 5 and 6, each forwarded as a "
                      f"66-byte CHAIN_WRITE whose last 4 bytes are epoch {EPOCH}, never the padding.", head(),
                      [step(w1, [forward(N1, w1, N2, op=CHAIN_WRITE, version=4)], ["WRITE_STAMPED"]),
                       step(w2, [forward(N1, w2, N2, op=CHAIN_WRITE, version=5)], ["WRITE_STAMPED"]),
                       step(w3, [forward(N1, w3, N2, op=CHAIN_WRITE, version=6)], ["WRITE_STAMPED"])],
                      regs, [reg(5, VD, 6, 3, C3)], key_writes={5: 3}))
    cw = chain(N2, N3, CHAIN_WRITE, 5, 4, VB, C2)
    cases.append(case("emit-tail-reply-62-ack-66", f"{ROW_COMMIT}, §4.2: from a 66-byte CHAIN_WRITE the TAIL emits "
                      "a 62-byte WRITE_REPLY (total length 48, UDP length 28, no extension: a reply to a client) and "
                      f"a 66-byte ACK (52, 32, epoch {EPOCH}).", tail(),
                      [step(cw, tail_outputs(cw, 4, VB), ["COMMIT_APPLIED"])], regs, [reg(5, VB, 4, 4, C2)]))
    w = request(N1, WRITE, 5, C2, VB, pad=b"\x00\x01")
    cases.append(case("emit-window-full-reply-62-resend-66", f"{ROW_W_FULL}, §4.2: from a 64-byte WRITE the HEAD "
                      f"emits a 62-byte ERROR WINDOW_FULL and a 66-byte re-sent CHAIN_WRITE with epoch {EPOCH}.",
                      head(),
                      [step(w, [reply(N1, w, ERROR, WINDOW_FULL_CODE, VB), resend(N1, w, N2, 127, VA, C1)],
                            ["WRITE_WINDOW_FULL"])], [reg(5, VA, 127, 0, C1)], key_writes={5: 1}))
    other = 0x01020304
    cw, ack = chain(N1, N2, CHAIN_WRITE, 5, 4, VB, C2, other), chain(N3, N2, ACK, 5, 4, VB, C2, other)
    cases.append(case("emit-replica-stamps-its-epoch", f"{ROW_CW_APPLIED}, {ROW_ACK_R}, §4.2 ('its chain extension "
                      "carries epoch = node_config.epoch'): a REPLICA configured with epoch 0x01020304 forwards a "
                      "CHAIN_WRITE and an ACK of that epoch with its own epoch, which step 15c makes equal to the "
                      "received one.", replica().but(epoch=other),
                      [step(cw, [forward(N2, cw, N3, epoch=other)], ["CHAIN_WRITE_APPLIED"]),
                       step(ack, [forward(N2, ack, N1, epoch=other)], ["ACK_FORWARDED"])],
                      [reg(5, VA, 3, 3, C1)], [reg(5, VB, 4, 4, C2)]))
    w, cw = request(N1, WRITE, 5, C2, VB), chain(N2, N3, CHAIN_WRITE, 5, 4, VB, C2, 0xFFFFFFFE)
    cases.append(case("emit-head-stamps-its-epoch", f"{ROW_W_STAMP}, §4.2: a HEAD configured with epoch 0xfffffffe "
                      "stamps that epoch into the CHAIN_WRITE it makes from a WRITE.", head().but(epoch=0xFFFFFFFE),
                      [step(w, [forward(N1, w, N2, op=CHAIN_WRITE, version=4, epoch=0xFFFFFFFE)], ["WRITE_STAMPED"])],
                      regs, [reg(5, VB, 4, 3, C2)], key_writes={5: 1}))
    cases.append(case("emit-tail-stamps-its-epoch", f"{ROW_COMMIT}, §4.2: a TAIL configured with epoch 0xfffffffe "
                      "sends its ACK with that epoch; its WRITE_REPLY has no extension.", tail().but(epoch=0xFFFFFFFE),
                      [step(cw, [reply(N3, cw, WRITE_REPLY, 4, VB), forward(N3, cw, N2, op=ACK, epoch=0xFFFFFFFE)],
                            ["COMMIT_APPLIED"])], regs, [reg(5, VB, 4, 4, C2)]))
    r = request(N3, READ, 5, C2)
    cases.append(case("emit-read-ingress-port-not-used", f"{ROW_READ_TAIL}, §5.1 details (the ingress port is used "
                      "only by the trust checks of chain ops): the same READ received on ports 0, 4 (an edge port), "
                      "2 (a fabric port) and 65535 is answered the same way, on the route's port 4.", tail(),
                      [step(r, [reply(N3, r, READ_REPLY, 3, VA)], ["READ_LOCAL"], ingress=p) for p in (0, 4, 2, 65535)],
                      regs, key_reads={5: 4}))
    return cases


# =========================================================================== §2.3 routes, NO_ROUTE

@group("routing", "§2.3 ipv4_route longest-prefix match and §6 NO_ROUTE: an output without a route is not sent "
       "and counts NO_ROUTE in addition to the frame's outcome, whose register updates stand")
def routing_cases():
    cases = []
    regs = [reg(5, VA, 3, 3, C1)]
    lpm = [route("10.0.0.0/8", 6, "02:00:00:00:06:06"), route("10.0.1.0/24", 4, CLIENT_GW.mac),
           route("10.0.1.7/32", 7, "02:00:00:00:01:07"), route("10.0.0.2/32", 2, N2.mac)]
    c7 = Ident("10.0.1.7", 40007, 77, "02:00:00:00:01:07")
    c_far = Ident("10.9.0.1", 40009, 99, "02:00:00:00:09:01")
    c_none = Ident("192.0.2.1", 40010, 100, "02:00:00:00:09:02")
    reads = [request(N3, READ, 5, c) for c in (c7, C1, c_far, c_none)]
    for label, table in (("", lpm), ("-reverse-order", list(reversed(lpm)))):
        cases.append(case(
            f"route-longest-prefix-match{label}", f"§2.3: longest-prefix match on the output's IPv4 destination, "
            "whatever the order the entries were installed in. READ_LOCAL replies to 10.0.1.7 (the /32, port 7), "
            "10.0.1.1 (the /24, port 4), 10.9.0.1 (the /8, port 6); 192.0.2.1 matches nothing: not sent, "
            "READ_LOCAL and NO_ROUTE.", tail(),
            [step(reads[0], [reply(N3, reads[0], READ_REPLY, 3, VA, Hop(7, "02:00:00:00:01:07"))], ["READ_LOCAL"]),
             step(reads[1], [reply(N3, reads[1], READ_REPLY, 3, VA, Hop(4, CLIENT_GW.mac))], ["READ_LOCAL"]),
             step(reads[2], [reply(N3, reads[2], READ_REPLY, 3, VA, Hop(6, "02:00:00:00:06:06"))], ["READ_LOCAL"]),
             step(reads[3], [], ["READ_LOCAL", "NO_ROUTE"])],
            regs, routes=table, key_reads={5: 4}))
    default = [route("0.0.0.0/0", 6, "02:00:00:00:06:06")]
    cw = chain(N2, N3, CHAIN_WRITE, 5, 4, VB, C2)
    gw = Hop(6, "02:00:00:00:06:06")
    cases.append(case("route-default", f"§2.3: a single 0.0.0.0/0 entry routes everything. {ROW_COMMIT}: both the "
                      "WRITE_REPLY and the ACK leave on port 6.", tail(),
                      [step(cw, [reply(N3, cw, WRITE_REPLY, 4, VB, gw), forward(N3, cw, N2, op=ACK, via=gw)],
                            ["COMMIT_APPLIED"])], regs, [reg(5, VB, 4, 4, C2)], routes=default))

    def without(node, *prefixes):
        return [r for r in std_routes(node) if r["prefix"] not in prefixes]

    no_clients = "10.0.1.0/24"
    r = request(N3, READ, 5, C2)
    cases.append(case("no-route-read-reply", f"{ROW_READ_TAIL}, §6: no route to the client: READ_LOCAL and NO_ROUTE, "
                      "key_reads counted, nothing sent.", tail(), [step(r, [], ["READ_LOCAL", "NO_ROUTE"])], regs,
                      routes=without(N3, no_clients), key_reads={5: 1}))
    r = request(N2, READ, 5, C2)
    cases.append(case("no-route-read-to-tail", f"{ROW_READ_FWD}, §6: no route to tail_ip.", replica(),
                      [step(r, [], ["READ_TO_TAIL", "NO_ROUTE"])], [reg(5, VA, 4, 3, C1)],
                      routes=without(N2, "10.0.0.3/32"), key_reads={5: 1}))
    r = request(N2, WRITE, 5, C2, VB)
    cases.append(case("no-route-write-to-head", f"{ROW_W_FWD}, §6: no route to head_ip.", replica(),
                      [step(r, [], ["WRITE_TO_HEAD", "NO_ROUTE"])], regs, routes=without(N2, "10.0.0.1/32"),
                      key_writes={5: 1}))
    r = request(N1, WRITE, 5, C2, VB)
    cases.append(case("no-route-head-stamp-stands", f"{ROW_W_STAMP}, §6 ('the frame's register updates stand'): no "
                      "route to successor_ip: nothing sent, but version 4 is stored.", head(),
                      [step(r, [], ["WRITE_STAMPED", "NO_ROUTE"])], regs, [reg(5, VB, 4, 3, C2)],
                      routes=without(N1, "10.0.0.2/32"), key_writes={5: 1}))
    cases.append(case("no-route-head-window-full", f"{ROW_W_FULL}, §6: the ERROR reply is sent; the re-sent version "
                      "has no route.", head(),
                      [step(r, [reply(N1, r, ERROR, WINDOW_FULL_CODE, VB)], ["WRITE_WINDOW_FULL", "NO_ROUTE"])],
                      [reg(5, VA, 127, 0, C1)],
                      routes=without(N1, "10.0.0.2/32"), key_writes={5: 1}))
    r = request(N1, WRITE, 5, C1, VA, version=1)
    cases.append(case("no-route-head-retransmit", f"{ROW_W_MATCH}, §6: the re-sent version has no route.", head(),
                      [step(r, [], ["WRITE_RETRANSMIT", "NO_ROUTE"])], regs, routes=without(N1, "10.0.0.2/32"),
                      key_writes={5: 1}))
    r = request(N1, WRITE, 5, C2, VB, version=1)
    cases.append(case("no-route-outcome-unknown", f"{ROW_W_UNKNOWN}, §6: the ERROR reply has no route.", head(),
                      [step(r, [], ["WRITE_UNKNOWN", "NO_ROUTE"])], regs, routes=without(N1, no_clients),
                      key_writes={5: 1}))
    r = request(N1, READ, 40, C2)
    cases.append(case("no-route-key-out-of-range", "§5 step 16, §6: the ERROR KEY_OUT_OF_RANGE reply has no route.",
                      head(), [step(r, [], ["KEY_OUT_OF_RANGE", "NO_ROUTE"])], regs, routes=without(N1, no_clients)))
    cw = chain(N1, N2, CHAIN_WRITE, 5, 4, VB, C2)
    cases.append(case("no-route-chain-write-applied-stands", f"{ROW_CW_APPLIED}, §6: no route to successor_ip; "
                      "version 4 is stored all the same.", replica(),
                      [step(cw, [], ["CHAIN_WRITE_APPLIED", "NO_ROUTE"])],
                      regs, [reg(5, VB, 4, 3, C2)], routes=without(N2, "10.0.0.3/32")))
    cw = chain(N2, N3, CHAIN_WRITE, 5, 4, VB, C2)
    cases.append(case("no-route-tail-ack-only", f"{ROW_COMMIT}, §6: the WRITE_REPLY has a route but the ACK (to "
                      "predecessor_ip) has none: only the reply is sent; COMMIT_APPLIED and one NO_ROUTE; the commit "
                      "stands.", tail(),
                      [step(cw, [reply(N3, cw, WRITE_REPLY, 4, VB)], ["COMMIT_APPLIED", "NO_ROUTE"])],
                      regs, [reg(5, VB, 4, 4, C2)], routes=without(N3, "10.0.0.2/32")))
    cases.append(case("no-route-tail-reply-only", f"{ROW_COMMIT}, §6: the ACK has a route but the WRITE_REPLY has "
                      "none: only the ACK is sent.", tail(),
                      [step(cw, [forward(N3, cw, N2, op=ACK)], ["COMMIT_APPLIED", "NO_ROUTE"])], regs,
                      [reg(5, VB, 4, 4, C2)], routes=without(N3, no_clients)))
    cases.append(case("no-route-tail-both", f"{ROW_COMMIT}, §6 ('NO_ROUTE is counted per output that had no "
                      "route'): neither output has a route: NO_ROUTE twice; the commit stands.", tail(),
                      [step(cw, [], ["COMMIT_APPLIED", "NO_ROUTE", "NO_ROUTE"])], regs, [reg(5, VB, 4, 4, C2)],
                      routes=[]))
    cases.append(case("no-route-tail-duplicate-ack-only", f"{ROW_DUP}, §6: the ACK has no route.", tail(),
                      [step(cw, [reply(N3, cw, WRITE_REPLY, 4, VB)], ["COMMIT_DUPLICATE", "NO_ROUTE"])],
                      [reg(5, VB, 4, 4, C2)], routes=without(N3, "10.0.0.2/32")))
    ack = chain(N3, N2, ACK, 5, 4, VB, C2)
    cases.append(case("no-route-ack-forwarded-stands", f"{ROW_ACK_R}, §6: no route to predecessor_ip; acked "
                      "becomes 4 all the same.", replica(), [step(ack, [], ["ACK_FORWARDED", "NO_ROUTE"])],
                      [reg(5, VB, 4, 3, C2)], [reg(5, VB, 4, 4, C2)], routes=without(N2, "10.0.0.1/32")))
    r = request(N4, WRITE, 5, C2, VB)
    cases.append(case("no-route-solo-stamp-stands", f"{ROW_W_SOLO}, §6: an empty route table: nothing sent, version "
                      "4 stored and acked.", solo(), [step(r, [], ["WRITE_STAMPED", "NO_ROUTE"])], regs,
                      [reg(5, VB, 4, 4, C2)], routes=[], key_writes={5: 1}))
    return cases


# =========================================================================== multi-step

@group("sequences", "Several frames at one node: a write, its ACK and reads turning from forwarded to local; "
       "writes in flight; retransmissions before and after another write; the window filling and reopening; "
       "duplicates and stale versions at the tail; a SOLO node's life; the wrap-around")
def sequence_cases():
    cases = []
    reader = C3
    # HEAD, CRAQ.
    rd = request(N1, READ, 5, reader)
    w = request(N1, WRITE, 5, C2, VB)
    ack4 = chain(N2, N1, ACK, 5, 4, VB, C2)
    cases.append(case(
        "seq-head-write-ack-read", "HEAD, CRAQ, key 5 at version 3 (clean). 1: READ answered locally, version 3 "
        f"({ROW_READ_CLEAN}). 2: WRITE stamped version 4 ({ROW_W_STAMP}). 3: the same READ is now forwarded to the "
        f"tail: the key is dirty ({ROW_READ_FWD}). 4: ACK 4 sets acked = 4 ({ROW_ACK_H}). 5: the READ is answered "
        "locally again, version 4 and the new value.", head(),
        [step(rd, [reply(N1, rd, READ_REPLY, 3, VA)], ["READ_LOCAL"]),
         step(w, [forward(N1, w, N2, op=CHAIN_WRITE, version=4)], ["WRITE_STAMPED"]),
         step(rd, [forward(N1, rd, N3)], ["READ_TO_TAIL"]),
         step(ack4, [], ["ACK_CONSUMED"]),
         step(rd, [reply(N1, rd, READ_REPLY, 4, VB)], ["READ_LOCAL"])],
        [reg(5, VA, 3, 3, C1)], [reg(5, VB, 4, 4, C2)], key_reads={5: 3}, key_writes={5: 1}))

    # REPLICA, CRAQ and CR.
    rd = request(N2, READ, 5, reader)
    cw4 = chain(N1, N2, CHAIN_WRITE, 5, 4, VB, C2)
    ack4 = chain(N3, N2, ACK, 5, 4, VB, C2)
    cases.append(case(
        "seq-replica-chain-write-ack-read", "REPLICA, CRAQ, key 5 at version 3 (clean). 1: READ local, version 3. "
        f"2: CHAIN_WRITE 4 applied and forwarded ({ROW_CW_APPLIED}). 3: READ forwarded to the tail (dirty). 4: ACK 4 "
        f"sets acked = 4 and is forwarded ({ROW_ACK_R}). 5: READ local, version 4.", replica(),
        [step(rd, [reply(N2, rd, READ_REPLY, 3, VA)], ["READ_LOCAL"]),
         step(cw4, [forward(N2, cw4, N3)], ["CHAIN_WRITE_APPLIED"]),
         step(rd, [forward(N2, rd, N3)], ["READ_TO_TAIL"]),
         step(ack4, [forward(N2, ack4, N1)], ["ACK_FORWARDED"]),
         step(rd, [reply(N2, rd, READ_REPLY, 4, VB)], ["READ_LOCAL"])],
        [reg(5, VA, 3, 3, C1)], [reg(5, VB, 4, 4, C2)], key_reads={5: 3}))
    cases.append(case(
        "seq-replica-cr-reads-go-to-tail", f"The same frames at a REPLICA in CR mode: every READ is forwarded to the "
        f"tail, clean or dirty ({ROW_READ_FWD}); the CHAIN_WRITE and ACK act as in CRAQ mode.", replica("CR"),
        [step(rd, [forward(N2, rd, N3)], ["READ_TO_TAIL"]),
         step(cw4, [forward(N2, cw4, N3)], ["CHAIN_WRITE_APPLIED"]),
         step(rd, [forward(N2, rd, N3)], ["READ_TO_TAIL"]),
         step(ack4, [forward(N2, ack4, N1)], ["ACK_FORWARDED"]),
         step(rd, [forward(N2, rd, N3)], ["READ_TO_TAIL"])],
        [reg(5, VA, 3, 3, C1)], [reg(5, VB, 4, 4, C2)], key_reads={5: 3}))

    # HEAD: two writes in flight, ACKs in and out of order.
    rd = request(N1, READ, 6, reader)
    wa, wb = request(N1, WRITE, 6, C1, VA), request(N1, WRITE, 6, C2, VB)
    ack1, ack2 = chain(N2, N1, ACK, 6, 1, VA, C1), chain(N2, N1, ACK, 6, 2, VB, C2)
    cases.append(case(
        "seq-head-two-writes-in-flight", "HEAD, key 6 never written. 1-2: two WRITEs stamped versions 1 and 2. "
        "3: ACK 1: acked = 1. 4: READ forwarded (2 != 1). 5: ACK 2: acked = 2. 6: READ local, version 2, value VB. "
        "7: a late ACK 1 changes nothing (1 is not newer than acked 2).", head(),
        [step(wa, [forward(N1, wa, N2, op=CHAIN_WRITE, version=1)], ["WRITE_STAMPED"]),
         step(wb, [forward(N1, wb, N2, op=CHAIN_WRITE, version=2)], ["WRITE_STAMPED"]),
         step(ack1, [], ["ACK_CONSUMED"]),
         step(rd, [forward(N1, rd, N3)], ["READ_TO_TAIL"]),
         step(ack2, [], ["ACK_CONSUMED"]),
         step(rd, [reply(N1, rd, READ_REPLY, 2, VB)], ["READ_LOCAL"]),
         step(ack1, [], ["ACK_CONSUMED"])],
        [], [reg(6, VB, 2, 2, C2)], key_reads={6: 2}, key_writes={6: 2}))

    # HEAD: retransmissions.
    w1 = request(N1, WRITE, 7, C1, VA)
    w1_retry = request(N1, WRITE, 7, C1, VA, version=1)
    w1_retry2 = request(N1, WRITE, 7, C1, VA, version=2)
    w2 = request(N1, WRITE, 7, C2, VB)
    ack1 = chain(N2, N1, ACK, 7, 1, VA, C1)
    cases.append(case(
        "seq-head-retransmissions", "HEAD, key 7 never written. 1: C1's WRITE stamped version 1. 2: its "
        f"retransmission (version 1) matches: version 1 re-sent ({ROW_W_MATCH}). 3: ACK 1. 4: another retransmission "
        "after the commit still matches and re-sends version 1. 5: C2's WRITE stamped version 2. 6: C1's next "
        "retransmission no longer matches (the writer is C2): ERROR OUTCOME_UNKNOWN "
        f"({ROW_W_UNKNOWN}).", head(),
        [step(w1, [forward(N1, w1, N2, op=CHAIN_WRITE, version=1)], ["WRITE_STAMPED"]),
         step(w1_retry, [resend(N1, w1_retry, N2, 1, VA, C1)], ["WRITE_RETRANSMIT"]),
         step(ack1, [], ["ACK_CONSUMED"]),
         step(w1_retry2, [resend(N1, w1_retry2, N2, 1, VA, C1)], ["WRITE_RETRANSMIT"]),
         step(w2, [forward(N1, w2, N2, op=CHAIN_WRITE, version=2)], ["WRITE_STAMPED"]),
         step(w1_retry2, [reply(N1, w1_retry2, ERROR, OUTCOME_UNKNOWN_CODE, VA)], ["WRITE_UNKNOWN"])],
        [], [reg(7, VB, 2, 1, C2)], key_writes={7: 5}))

    # HEAD: the window fills and reopens.
    w2 = request(N1, WRITE, 8, C2, VB)
    w3 = request(N1, WRITE, 8, C3, VC)
    ack127 = chain(N2, N1, ACK, 8, 127, VB, C2)
    cases.append(case(
        "seq-head-window-fills-and-reopens", "HEAD, key 8 at version 126, acked 0. 1: C2's WRITE stamped version 127 "
        f"(126 < 127). 2: C3's WRITE finds the window full (127): ERROR WINDOW_FULL to C3, then version 127 re-sent "
        f"with C2's identity ({ROW_W_FULL}). 3: ACK 127: acked = 127. 4: C3, told nothing was applied, sends the "
        "write again as a new write (version 0, §3.3): stamped version 128.", head(),
        [step(w2, [forward(N1, w2, N2, op=CHAIN_WRITE, version=127)], ["WRITE_STAMPED"]),
         step(w3, [reply(N1, w3, ERROR, WINDOW_FULL_CODE, VC), resend(N1, w3, N2, 127, VB, C2)],
              ["WRITE_WINDOW_FULL"]),
         step(ack127, [], ["ACK_CONSUMED"]),
         step(w3, [forward(N1, w3, N2, op=CHAIN_WRITE, version=128)], ["WRITE_STAMPED"])],
        [reg(8, VA, 126, 0, C1)], [reg(8, VC, 128, 127, C3)], key_writes={8: 3}))

    # TAIL: commit, duplicate, stale.
    rd = request(N3, READ, 9, reader)
    cw1 = chain(N2, N3, CHAIN_WRITE, 9, 1, VA, C1)
    cw3 = chain(N2, N3, CHAIN_WRITE, 9, 3, VC, C3)
    cw2 = chain(N2, N3, CHAIN_WRITE, 9, 2, VB, C2)
    cases.append(case(
        "seq-tail-commit-duplicate-stale", f"TAIL, key 9 never written. 1: CHAIN_WRITE 1 committed ({ROW_COMMIT}). "
        f"2: the same CHAIN_WRITE again (re-sent by the head): answered and ACKed, nothing stored ({ROW_DUP}). "
        "3: READ local, version 1. 4: CHAIN_WRITE 3 committed (version 2 is late). 5: the late CHAIN_WRITE 2 is "
        "stale: C2 still gets WRITE_REPLY version 2 and an ACK 2 goes up; the registers keep version 3. 6: READ "
        "local, version 3.", tail(),
        [step(cw1, tail_outputs(cw1, 1, VA), ["COMMIT_APPLIED"]),
         step(cw1, tail_outputs(cw1, 1, VA), ["COMMIT_DUPLICATE"]),
         step(rd, [reply(N3, rd, READ_REPLY, 1, VA)], ["READ_LOCAL"]),
         step(cw3, tail_outputs(cw3, 3, VC), ["COMMIT_APPLIED"]),
         step(cw2, tail_outputs(cw2, 2, VB), ["COMMIT_DUPLICATE"]),
         step(rd, [reply(N3, rd, READ_REPLY, 3, VC)], ["READ_LOCAL"])],
        [], [reg(9, VC, 3, 3, C3)], key_reads={9: 2}))

    # SOLO.
    rd = request(N4, READ, 10, reader)
    w1 = request(N4, WRITE, 10, C1, VA)
    w1_retry = request(N4, WRITE, 10, C1, VA, version=1)
    w2_retry = request(N4, WRITE, 10, C2, VB, version=4)
    c2b = dataclasses.replace(C2, port=40011)
    w2_new = request(N4, WRITE, 10, c2b, VB)
    cases.append(case(
        "seq-solo-write-retransmit-read", f"SOLO, key 10 never written. 1: WRITE stamped version 1, acked 1, "
        f"WRITE_REPLY 1 ({ROW_W_SOLO}). 2: its retransmission gets WRITE_REPLY 1 again ({ROW_W_MATCH}). 3: READ "
        "local, version 1. 4: an unmatched retransmission gets ERROR OUTCOME_UNKNOWN. 5: a new WRITE is stamped "
        "version 2. 6: READ local, version 2.", solo(),
        [step(w1, [reply(N4, w1, WRITE_REPLY, 1, VA)], ["WRITE_STAMPED"]),
         step(w1_retry, [reply(N4, w1_retry, WRITE_REPLY, 1, VA)], ["WRITE_RETRANSMIT"]),
         step(rd, [reply(N4, rd, READ_REPLY, 1, VA)], ["READ_LOCAL"]),
         step(w2_retry, [reply(N4, w2_retry, ERROR, OUTCOME_UNKNOWN_CODE, VB)], ["WRITE_UNKNOWN"]),
         step(w2_new, [reply(N4, w2_new, WRITE_REPLY, 2, VB)], ["WRITE_STAMPED"]),
         step(rd, [reply(N4, rd, READ_REPLY, 2, VB)], ["READ_LOCAL"])],
        [], [reg(10, VB, 2, 2, c2b)], key_reads={10: 2}, key_writes={10: 4}))

    # HEAD: the wrap-around.
    rd = request(N1, READ, 11, reader)
    w2, w3 = request(N1, WRITE, 11, C2, VB), request(N1, WRITE, 11, C3, VC)
    ack255, ack0 = chain(N2, N1, ACK, 11, 255, VB, C2), chain(N2, N1, ACK, 11, 0, VC, C3)
    cases.append(case(
        "seq-head-version-wraps", "HEAD, key 11 at version 254 (clean). 1: WRITE stamped 255. 2: ACK 255. 3: WRITE "
        "stamped 0 (§3.1: 255 + 1 wraps). 4: READ forwarded: 0 != acked 255. 5: ACK 0 is newer than 255 and not "
        "newer than 0: acked = 0. 6: READ local, version 0, value VC.", head(),
        [step(w2, [forward(N1, w2, N2, op=CHAIN_WRITE, version=255)], ["WRITE_STAMPED"]),
         step(ack255, [], ["ACK_CONSUMED"]),
         step(w3, [forward(N1, w3, N2, op=CHAIN_WRITE, version=0)], ["WRITE_STAMPED"]),
         step(rd, [forward(N1, rd, N3)], ["READ_TO_TAIL"]),
         step(ack0, [], ["ACK_CONSUMED"]),
         step(rd, [reply(N1, rd, READ_REPLY, 0, VC)], ["READ_LOCAL"])],
        [reg(11, VA, 254, 254, C1)], [reg(11, VC, 0, 0, C3)], key_reads={11: 2}, key_writes={11: 2}))

    # REPLICA: stale CHAIN_WRITE and partial ACKs.
    rd = request(N2, READ, 12, reader)
    cw5, cw4 = chain(N1, N2, CHAIN_WRITE, 12, 5, VC, C3), chain(N1, N2, CHAIN_WRITE, 12, 4, VB, C2)
    ack4, ack5 = chain(N3, N2, ACK, 12, 4, VB, C2), chain(N3, N2, ACK, 12, 5, VC, C3)
    cases.append(case(
        "seq-replica-stale-and-partial-acks", "REPLICA, key 12 at version 3 (clean). 1: CHAIN_WRITE 5 applied. 2: the "
        f"late CHAIN_WRITE 4 is stale: forwarded, not stored ({ROW_CW_STALE}). 3: ACK 4: acked = 4 (newer than 3, not "
        "newer than 5). 4: READ forwarded (5 != 4). 5: ACK 5: acked = 5. 6: READ local, version 5.", replica(),
        [step(cw5, [forward(N2, cw5, N3)], ["CHAIN_WRITE_APPLIED"]),
         step(cw4, [forward(N2, cw4, N3)], ["CHAIN_WRITE_STALE"]),
         step(ack4, [forward(N2, ack4, N1)], ["ACK_FORWARDED"]),
         step(rd, [forward(N2, rd, N3)], ["READ_TO_TAIL"]),
         step(ack5, [forward(N2, ack5, N1)], ["ACK_FORWARDED"]),
         step(rd, [reply(N2, rd, READ_REPLY, 5, VC)], ["READ_LOCAL"])],
        [reg(12, VA, 3, 3, C1)], [reg(12, VC, 5, 5, C3)], key_reads={12: 2}))

    # Several keys and drops interleaved: counters add up, keys are independent.
    ra, rb = request(N3, READ, 1, reader), request(N3, READ, 2, reader)
    wx = request(N3, WRITE, 2, C2, VB)
    cases.append(case(
        "seq-tail-keys-are-independent", "TAIL with keys 1 and 2 stored. READ 1, READ 2, a dropped frame (bad "
        "checksum), a WRITE forwarded to the head, READ 2 again: key_reads and key_writes count per key; the drop "
        "counts only its outcome.", tail(),
        [step(ra, [reply(N3, ra, READ_REPLY, 1, VA)], ["READ_LOCAL"]),
         step(rb, [reply(N3, rb, READ_REPLY, 9, VB)], ["READ_LOCAL"]),
         step(bad_checksum(ra), [], ["DROP_IPV4_CHECKSUM"]),
         step(wx, [forward(N3, wx, N1)], ["WRITE_TO_HEAD"]),
         step(rb, [reply(N3, rb, READ_REPLY, 9, VB)], ["READ_LOCAL"])],
        [reg(1, VA, 1, 1, C1), reg(2, VB, 9, 9, C2)], key_reads={1: 1, 2: 2}, key_writes={2: 1}))
    return cases


# =========================================================================== output

# =========================================================================== §2.3 key_group, §11 groups

G_TAIL, G_HEAD, G_REPLICA = 21, 22, 23  # the epochs of N2's groups: each chain has its own (§9.2)
ROW_KEYS_CHAIN = ("§2.3 'the key's chain': the key_group entry matching the key, longest prefix first, gives role, "
                  "neighbours, epoch and sync_epoch; node_config's apply to keys no entry matches")


def key_group(key, prefix_len, role, epoch, head=NONE_IP, tail=NONE_IP, succ=NONE_IP, pred=NONE_IP, sync_epoch=0):
    """A key_group entry (§2.3): keys key/prefix_len and the set_group action's chain parameters."""
    entry = {"key": key, "prefix_len": prefix_len, "role": role, "head_ip": head, "tail_ip": tail,
             "successor_ip": succ, "predecessor_ip": pred, "epoch": epoch}
    if sync_epoch:
        entry["sync_epoch"] = sync_epoch
    return entry


# N2 is the TAIL of keys 0-7 (chain N1 N3 N2), the HEAD of keys 8-11 (chain N2 N3 N1) and, through
# node_config, the REPLICA of keys 12-15 (chain N1 N2 N3, epoch 7).
TAIL_GROUP = key_group(0, 13, "TAIL", G_TAIL, head=N1.ip, pred=N3.ip)
HEAD_GROUP = key_group(8, 14, "HEAD", G_HEAD, tail=N1.ip, succ=N3.ip)
# Key 6 alone, inside the TAIL group: N2 is its REPLICA (chain N3 N2 N1).
REPLICA_KEY = key_group(6, 16, "REPLICA", G_REPLICA, head=N3.ip, tail=N1.ip, succ=N1.ip, pred=N3.ip)
N2_GROUPS = [TAIL_GROUP, HEAD_GROUP, REPLICA_KEY]


def groups_fabric():
    """N2's fabric ports over all its chains (§2.3 fabric_port): N1 is its predecessor (node_config) and successor
    (key 6); N3 its predecessor (keys 0-7, key 6) and successor (node_config, keys 8-11); port 6 the controller's."""
    return [fabric_port(N1.port, True, True), fabric_port(N3.port, True, True),
            fabric_port(CTRL_PORT, from_controller=True)]


def grouped(name, description, steps, registers=(), final=SAME, cfg=None, key_groups=None, **kw):
    kw.setdefault("fabric", groups_fabric())
    cfg = replica() if cfg is None else cfg
    return case(name, description, cfg, steps, registers, final,
                key_groups=N2_GROUPS if key_groups is None else key_groups, **kw)


@group("groups", "§2.3 key_group and §11: many chains over one node; a key follows the chain of the longest prefix "
       "that matches it, node_config's where none does; chain frames carry the key's chain's epoch; RENEW and the "
       "lease are the node's; a node serving only its groups")
def groups_cases():
    return group_request_cases() + group_chain_cases() + group_control_cases()


def group_request_cases():
    cases = []
    dirty = [reg(k, VA, 3, 2, C1) for k in (5, 6, 13)]
    r5, r6, r13 = (request(N2, READ, k, C2) for k in (5, 6, 13))
    cases.append(grouped("group-read-by-the-keys-role", f"{ROW_KEYS_CHAIN}: three dirty keys at N2. Key 5: N2 is the "
                         f"group's TAIL, the READ is answered locally ({ROW_READ_TAIL}). Key 6: the /16 entry makes N2 "
                         f"a REPLICA whose tail is N1 ({ROW_READ_FWD}). Key 13: no entry, node_config's REPLICA, whose "
                         "tail is N3.", [step(r5, [reply(N2, r5, READ_REPLY, 3, VA)], ["READ_LOCAL"]),
                                         step(r6, [forward(N2, r6, N1)], ["READ_TO_TAIL"]),
                                         step(r13, [forward(N2, r13, N3)], ["READ_TO_TAIL"])],
                         dirty, key_reads={5: 1, 6: 1, 13: 1}))
    w9, w6, w13 = request(N2, WRITE, 9, C2, VB), request(N2, WRITE, 6, C2, VB), request(N2, WRITE, 13, C2, VB)
    cases.append(grouped("group-write-by-the-keys-role", f"{ROW_KEYS_CHAIN}. Key 9: N2 is the group's HEAD: it stamps "
                         f"version 4 and sends the CHAIN_WRITE to the group's successor N3 with the group's epoch "
                         f"{G_HEAD} (§1.4, §4.2; {ROW_W_STAMP}). Key 6: forwarded to its group's head N3 ({ROW_W_FWD}). "
                         "Key 13: forwarded to node_config's head N1.",
                         [step(w9, [forward(N2, w9, N3, op=CHAIN_WRITE, version=4, epoch=G_HEAD)], ["WRITE_STAMPED"]),
                          step(w6, [forward(N2, w6, N3)], ["WRITE_TO_HEAD"]),
                          step(w13, [forward(N2, w13, N1)], ["WRITE_TO_HEAD"])],
                         [reg(9, VA, 3, 3, C1)], [reg(9, VB, 4, 3, C2)], key_writes={6: 1, 9: 1, 13: 1}))
    only_groups = Cfg(N2, "SOLO", "CRAQ", NONE_IP, NONE_IP, NONE_IP, NONE_IP, 0, 0)
    r12 = request(N2, READ, 12, C2, VC)
    sw12 = control(N2, SWEEP, 12)
    cases.append(grouped("group-only-node-serves-its-groups", "§2.3 key_hi, §11: node_config with key_lo = key_hi = 0 "
                         "serves no key of its own. Key 5 is in N2's TAIL group and is read locally; key 12 matches no "
                         "entry and is out of range (§5 step 16): the READ gets ERROR KEY_OUT_OF_RANGE, the SWEEP is "
                         "dropped, DROP_KEY_OUT_OF_RANGE.", [
                             step(r5, [reply(N2, r5, READ_REPLY, 3, VA)], ["READ_LOCAL"]),
                             step(r12, [reply(N2, r12, ERROR, KEY_OUT_OF_RANGE_CODE, VC)], ["KEY_OUT_OF_RANGE"]),
                             step(sw12, [], ["DROP_KEY_OUT_OF_RANGE"], CTRL_PORT)],
                         [reg(5, VA, 3, 2, C1), reg(12, VB, 3, 3, C2)], cfg=only_groups, key_reads={5: 1}))
    return cases


def group_chain_cases():
    cases = []
    cw5 = chain(N3, N2, CHAIN_WRITE, 5, 4, VB, C2, epoch=G_TAIL)
    commit = [reply(N2, cw5, WRITE_REPLY, 4, VB), forward(N2, cw5, N3, op=ACK, epoch=G_TAIL)]
    cases.append(grouped("group-commit-at-the-groups-tail", f"{ROW_KEYS_CHAIN}; {ROW_COMMIT}: key 5's group makes N2 "
                         f"its TAIL; the CHAIN_WRITE from the group's predecessor N3 carries the group's epoch "
                         f"{G_TAIL}; the ACK goes to N3 with epoch {G_TAIL}.",
                         [step(cw5, commit, ["COMMIT_APPLIED"])], [reg(5, VA, 3, 3, C1)], [reg(5, VB, 4, 4, C2)]))
    cases.append(grouped("group-chain-op-in-the-node-epoch", f"§5 step 15c: a CHAIN_WRITE of key 5 carrying "
                         f"node_config's epoch {EPOCH}, not its group's {G_TAIL}, is dropped, DROP_WRONG_EPOCH.",
                         [step(chain(N3, N2, CHAIN_WRITE, 5, 4, VB, C2), [], ["DROP_WRONG_EPOCH"])],
                         [reg(5, VA, 3, 3, C1)]))
    cases.append(grouped("group-chain-op-in-another-groups-epoch", f"§5 step 15c, §9.2: a CHAIN_WRITE of key 13 (no "
                         f"group: node_config's chain, epoch {EPOCH}) carrying the epoch {G_TAIL} of another group is "
                         "dropped, DROP_WRONG_EPOCH.",
                         [step(chain(N1, N2, CHAIN_WRITE, 13, 4, VB, C2, epoch=G_TAIL), [], ["DROP_WRONG_EPOCH"])],
                         [reg(13, VA, 3, 3, C1)]))
    cases.append(grouped("group-role-decides-the-op", f"§5 step 15 by the key's role: N2 is the HEAD of key 9's group, "
                         f"so a CHAIN_WRITE of key 9, which node_config's REPLICA would apply, is dropped, "
                         "DROP_UNEXPECTED_OP.",
                         [step(chain(N1, N2, CHAIN_WRITE, 9, 4, VB, C2, epoch=G_HEAD), [], ["DROP_UNEXPECTED_OP"])],
                         [reg(9, VA, 3, 3, C1)]))
    ack9 = chain(N3, N2, ACK, 9, 4, VB, C2, epoch=G_HEAD)
    ack6 = chain(N1, N2, ACK, 6, 4, VB, C2, epoch=G_REPLICA)
    cases.append(grouped("group-acks-by-the-keys-chain", f"{ROW_ACK_H} for key 9 (N2 the group's HEAD, epoch "
                         f"{G_HEAD}); {ROW_ACK_R} for key 6 (N2 a REPLICA by the /16 entry, epoch {G_REPLICA}: "
                         "forwarded to the group's predecessor N3 with that epoch).",
                         [step(ack9, [], ["ACK_CONSUMED"]),
                          step(ack6, [forward(N2, ack6, N3, epoch=G_REPLICA)], ["ACK_FORWARDED"])],
                         [reg(9, VB, 4, 3, C2), reg(6, VB, 4, 3, C2)], [reg(9, VB, 4, 4, C2), reg(6, VB, 4, 4, C2)]))
    return cases


def group_control_cases():
    cases = []
    sw5 = control(N2, SWEEP, 5, epoch=G_TAIL)
    sw9 = control(N2, SWEEP, 9, epoch=G_HEAD)
    cases.append(grouped("group-sweeps-in-the-groups-epoch", f"§10.1, §11: sweeps are per group. Key 5 at the group's "
                         f"TAIL, dirty: {ROW_SWEEP_COMMITTED}, the ACK to the group's predecessor N3 in epoch {G_TAIL}. "
                         f"Key 9 at the group's HEAD, clean: {ROW_SWEEP_COPIED}, to the group's successor N3 in epoch "
                         f"{G_HEAD}. A SWEEP of key 5 in node_config's epoch {EPOCH} is dropped, DROP_WRONG_EPOCH.",
                         [step(sw5, [resend(N2, sw5, N3, 3, VA, C1, op=ACK, epoch=G_TAIL)], ["SWEEP_COMMITTED"],
                               CTRL_PORT),
                          step(sw9, [resend(N2, sw9, N3, 3, VA, C1, op=SYNC, epoch=G_HEAD)], ["SWEEP_COPIED"],
                               CTRL_PORT),
                          step(control(N2, SWEEP, 5), [], ["DROP_WRONG_EPOCH"], CTRL_PORT)],
                         [reg(5, VA, 3, 2, C1), reg(9, VA, 3, 3, C1)], [reg(5, VA, 3, 3, C1), reg(9, VA, 3, 3, C1)]))
    leased = replica().but(lease_ticks=LEASE)
    r5 = request(N2, READ, 5, C2)
    cases.append(grouped("group-renew-is-the-nodes", f"§11: the lease is the node's. A RENEW naming key 5 in its "
                         f"group's epoch {G_TAIL} is dropped, DROP_WRONG_EPOCH (a RENEW uses node_config's chain, "
                         f"§2.3); in node_config's epoch {EPOCH} it renews ({ROW_RENEW}).",
                         [step(renew(6000, key=5, epoch=G_TAIL), [], ["DROP_WRONG_EPOCH"], CTRL_PORT, clock=5000),
                          step(renew(6000, key=5), [], ["LEASE_RENEWED"], CTRL_PORT, clock=5000)],
                         cfg=leased, lease=lease(4000, False), final_lease=lease(6000, clock=5000)))
    cases.append(grouped("group-lease-covers-every-group", f"§11: the node's lease covers every group: once it lapses, "
                         f"key 5 of the TAIL group is not served ({ROW_NOT_SERVING}).",
                         [step(r5, [reply(N2, r5, ERROR, NOT_SERVING_CODE, ZERO)], ["READ_NOT_SERVING"], clock=7000)],
                         [reg(5, VA, 3, 3, C1)], cfg=leased, key_reads={5: 1}, lease=lease(6000),
                         final_lease=lease(6000, False)))
    syncing = [key_group(0, 13, "TAIL", G_TAIL, head=N1.ip, pred=N3.ip, sync_epoch=G_TAIL), HEAD_GROUP]
    r9 = request(N2, READ, 9, C2)
    sy5 = chain(N3, N2, SYNC, 5, 5, VB, C2, epoch=G_TAIL)
    cases.append(grouped("group-joins-as-syncing-tail", f"§10.4, §11: N2 joins key 5's group as a syncing TAIL "
                         f"(sync_epoch {G_TAIL}, the group's new epoch). A READ of key 5, a leftover, gets NOT_SERVING "
                         f"({ROW_NOT_SERVING}); key 9 of the HEAD group, which is not syncing, is served. The SYNC of "
                         f"key 5 is received, received = {G_TAIL} ({ROW_RECEIVED}); then key 5 is served.",
                         [step(r5, [reply(N2, r5, ERROR, NOT_SERVING_CODE, ZERO)], ["READ_NOT_SERVING"]),
                          step(r9, [reply(N2, r9, READ_REPLY, 3, VA)], ["READ_LOCAL"]),
                          step(sy5, [], ["KEY_RECEIVED"]),
                          step(r5, [reply(N2, r5, READ_REPLY, 5, VB)], ["READ_LOCAL"])],
                         [reg(5, VA, 3, 3, C1), reg(9, VA, 3, 3, C1)],
                         [reg(5, VB, 5, 5, C2, G_TAIL), reg(9, VA, 3, 3, C1)], key_groups=syncing,
                         key_reads={5: 2, 9: 1}))
    return cases



def to_json(value, indent=0):
    """JSON text with one object per line where the object holds only scalars (configs, routes, registers,
    emitted frames, counters) and lists of scalars inline, so that a case reads top to bottom."""
    def scalar(v):
        return not isinstance(v, (dict, list))

    def leaf(v):
        if isinstance(v, dict):
            return all(scalar(x) or (isinstance(x, list) and all(map(scalar, x))) or (isinstance(x, dict) and leaf(x))
                       for x in v.values())
        return isinstance(v, list) and all(map(scalar, v))

    if scalar(value) or leaf(value) or (isinstance(value, (list, dict)) and not value):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(value, list):
        return "[\n" + ",\n".join(inner + to_json(v, indent + 2) for v in value) + "\n" + pad + "]"
    items = (inner + json.dumps(k, ensure_ascii=False) + ": " + to_json(v, indent + 2) for k, v in value.items())
    return "{\n" + ",\n".join(items) + "\n" + pad + "}"


def render():
    """{file name: JSON text} for every group, checking names and coverage."""
    files, names, used = {}, set(), set()
    for stem, (description, build) in GROUPS.items():
        cases = build()
        for c in cases:
            assert c["name"] not in names, f"duplicate case name {c['name']}"
            names.add(c["name"])
            for s in c["steps"]:
                used.update(s["outcomes"])
        text = to_json({"description": description, "cases": cases}) + "\n"
        files[f"{stem}.json"] = text
    missing = [o for o in OUTCOMES if o not in used]
    assert not missing, f"outcomes no case covers: {missing}"
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk instead of writing")
    args = parser.parse_args()
    files = render()
    if not args.check:
        for name, text in files.items():
            (HERE / name).write_text(text, encoding="utf-8")
        stale = sorted(p.name for p in HERE.glob("*.json") if p.name not in files)
        for name in stale:
            print(f"warning: {name} is not written by this generator", file=sys.stderr)
        total = 0
        for name, text in files.items():
            count = len(json.loads(text)["cases"])
            total += count
            print(f"{name}: {count} cases")
        print(f"total: {total} cases")
        return 0
    problems = []
    for name, text in files.items():
        path = HERE / name
        if not path.exists():
            problems.append(f"{name}: missing (run python3 tests/vectors/generate.py)")
            continue
        current = path.read_text(encoding="utf-8")
        if current != text:
            diff = difflib.unified_diff(current.splitlines(), text.splitlines(), f"{name} (checked in)",
                                        f"{name} (generated)", lineterm="", n=1)
            problems.append(f"{name}: differs from the generator's output:\n" + "\n".join(list(diff)[:40]))
    for path in sorted(HERE.glob("*.json")):
        if path.name not in files:
            problems.append(f"{path.name}: not produced by the generator")
    if problems:
        print("\n".join(problems))
        return 1
    print(f"{len(files)} vector files match the generator")
    return 0


if __name__ == "__main__":
    sys.exit(main())
