#!/usr/bin/env python3
"""Runs the conformance vectors (tests/vectors/*.json) against netcraq.p4 on BMv2.

    sudo p4/run-vectors.py [--json p4/build/bmv2/netcraq.json] [--vectors DIR] [files or case names ...]

Needs root (veth pairs and raw sockets), `ip`, `simple_switch` and
`simple_switch_CLI` (BMv2 with its Thrift CLI); without them it prints SKIP
and exits 0. Each vector port P is a veth pair: BMv2 port P on `ns<pid>pP`,
the test's end `nt<pid>pP` (IPv6 off, so the kernel sends nothing on them);
the names, the Thrift port (a free one) and the device id are this run's own,
so that runs in parallel do not meet. For each
case: reset the switch state, install the clone session of the second output
(session 100 -> port 510, p4/README.md), node_config, routes, fabric ports
and registers;
feed every step's frame on its ingress port, capture what comes out of every
port, and compare the frames (in order per port: no order is required across
ports), the step's outcome counter increments, and at the end the registers
of keys 0..15, the lease registers and every non-zero counter.

The vectors' control-plane port (marked `from_controller`) is a veth like
the others: a PacketOut's payload enters ingress on simple_switch_grpc's
CPU port the same way (p4/README.md). BMv2's lease clock is its uptime and
cannot be set, so a case's lease is placed on it instead: before a READ
that reads a held lease, `lease_end` is written so that it ends as many
ticks after BMv2's `now` as the vector's lease ends after the step's
`clock`; a RENEW's carried lease_end (value bytes 0..4) is moved to BMv2's
clock as the frame is sent, and lease_end and lease_clock are compared back
in the vector's time (see LeaseClock). A case whose READ finds its lease
closer than LEASE_MARGIN ticks to an end of the held range (§2.1b), or whose
RENEW would be decided otherwise by a delay of up to RENEW_TOLERANCE ticks,
depends on the exact clock, which BMv2 cannot place: it is skipped with the
reason.

Standard library only.
"""

import argparse
import glob
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VECTORS = os.path.join(ROOT, "tests", "vectors")

OUTCOMES = [
    "READ_LOCAL", "READ_TO_TAIL", "WRITE_TO_HEAD", "WRITE_STAMPED", "WRITE_RETRANSMIT",
    "WRITE_WINDOW_FULL", "WRITE_UNKNOWN", "CHAIN_WRITE_APPLIED", "CHAIN_WRITE_STALE",
    "COMMIT_APPLIED", "COMMIT_DUPLICATE", "ACK_FORWARDED", "ACK_CONSUMED", "KEY_OUT_OF_RANGE",
    "TRANSIT", "DROP_UNCONFIGURED", "DROP_TRUNCATED", "DROP_WRONG_MAC", "DROP_NOT_IPV4",
    "DROP_IPV4_MALFORMED", "DROP_IPV4_CHECKSUM", "DROP_TTL_EXPIRED", "DROP_FRAGMENT",
    "DROP_NOT_UDP", "DROP_BAD_LENGTH", "DROP_WRONG_PORT", "DROP_UNKNOWN_OP",
    "DROP_UNEXPECTED_OP", "DROP_KEY_OUT_OF_RANGE", "NO_ROUTE", "DROP_NOT_FROM_CHAIN",
    "DROP_WRONG_EPOCH", "READ_NOT_SERVING", "KEY_RECEIVED", "SYNC_APPLIED", "SYNC_STALE",
    "SWEEP_RESENT", "SWEEP_COPIED", "SWEEP_COMMITTED", "SWEEP_CLEAN", "LEASE_RENEWED",
    "RENEW_CLOCK_ONLY", "RENEW_LATE",
]
ROLES = {"HEAD": 1, "REPLICA": 2, "TAIL": 3, "SOLO": 4}
MODES = {"CRAQ": 0, "CR": 1}
REGISTERS = [("value", "kv_value"), ("version", "kv_version"), ("acked", "kv_acked"),
             ("writer_ip", "kv_writer_ip"), ("writer_port", "kv_writer_port"),
             ("writer_id", "kv_writer_id"), ("received", "kv_received")]
KEYS_CHECKED = 16
# The Thrift API of BMv2 carries register values as 64-bit integers, so the
# 128-bit kv_value is written and read through the data plane instead: a
# client WRITE at a SOLO node stores it (a client frame, so no fabric port or
# epoch is involved), a READ at a TAIL returns it.
HARNESS_MAC, HARNESS_IP = "02:fe:00:00:00:fe", "10.254.0.254"
HARNESS_SOLO = f"NetcraqIngress.set_config {HARNESS_MAC} {HARNESS_IP} 4 0 0.0.0.0 0.0.0.0 0.0.0.0 0.0.0.0 0 65536 0 0 0"
HARNESS_TAIL = f"NetcraqIngress.set_config {HARNESS_MAC} {HARNESS_IP} 3 0 10.254.0.2 10.254.0.2 10.254.0.2 10.254.0.2 0 65536 0 0 0"
CLONE_SESSION, CLONE_PORT = 100, 510


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# This run's own: veth names (at most 15 characters), Thrift port, device id.
RUN = os.getpid()
THRIFT_PORT = free_tcp_port()


def switch_end(port):
    return f"ns{RUN}p{port}"


def test_end(port):
    return f"nt{RUN}p{port}"

SETTLE = 0.15  # seconds to wait for outputs after the last expected one
OP_READ, OP_RENEW = 1, 10
# A lease this far (in 1.024 ms ticks) from the ends of the held range can
# be placed on BMv2's clock (a Thrift call's delay is far less); a READ that
# finds it closer depends on the exact clock.
LEASE_MARGIN = 500
# lease_clock, read back in the vector's time, is late by the frame's way
# from the harness's send to BMv2's ingress (4 to 5 ticks); so is BMv2's
# `now` when it decides a RENEW.
RENEW_TOLERANCE = 20
READ_OUTCOMES = {"READ_LOCAL", "READ_TO_TAIL", "READ_NOT_SERVING"}
RENEW_OUTCOMES = {"LEASE_RENEWED", "RENEW_CLOCK_ONLY", "RENEW_LATE"}


def frame(dst_mac, dst_ip, op, version, key, value, src_ip="10.254.0.1", sport=40000, ident=0):
    """A NetCRAQ request frame (§1) from the harness, with a valid IPv4 checksum."""
    def mac(text):
        return bytes(int(x, 16) for x in text.split(":"))
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 48, ident, 0x4000, 64, 17, 0,
                               socket.inet_aton(src_ip), socket.inet_aton(dst_ip)))
    total = sum(struct.unpack("!10H", bytes(ip)))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    ip[10:12] = struct.pack("!H", 0xFFFF ^ total)
    return (mac(dst_mac) + mac("02:fe:00:00:00:01") + b"\x08\x00" + bytes(ip)
            + struct.pack("!HHHH", sport, 20035, 28, 0) + struct.pack("!BBH", op, version, key) + value)


def ip_to_int(text):
    return int.from_bytes(socket.inet_aton(text), "big")


def int_to_ip(value):
    return socket.inet_ntoa(value.to_bytes(4, "big"))


def reg_value(field, raw):
    """A register's value in the vectors' notation."""
    if field == "value":
        return raw.to_bytes(16, "big").hex()
    if field == "writer_ip":
        return int_to_ip(raw)
    return raw


def cli(commands):
    out = subprocess.run(["simple_switch_CLI", "--thrift-port", str(THRIFT_PORT)],
                         input="\n".join(commands) + "\n", capture_output=True, text=True,
                         timeout=60)
    return out.stdout + out.stderr


def read_counters(name, indices):
    text = cli([f"counter_read NetcraqIngress.{name} {i}" for i in indices])
    found = {}
    for m in re.finditer(r"NetcraqIngress\.%s\[(\d+)\]= \((\d+) bytes, (\d+) packets\)" % name, text):
        found[int(m.group(1))] = int(m.group(3))
    missing = set(indices) - set(found)
    if missing:
        raise RuntimeError(f"counter_read {name} {sorted(missing)}: {text[-500:]}")
    return found


def read_lease():
    names = ("lease_end", "lease_held", "lease_clock")
    text = cli([f"register_read NetcraqIngress.{name} 0" for name in names])
    found = dict((m.group(1), int(m.group(2)))
                 for m in re.finditer(r"NetcraqIngress\.(lease_\w+)\[0\]=\s*(\d+)", text))
    if len(found) != len(names):
        raise RuntimeError(f"register_read {'/'.join(names)}: {text[-500:]}")
    return {"end": found["lease_end"], "held": found["lease_held"] == 1, "clock": found["lease_clock"]}


def carried_end(step):
    """The lease_end a RENEW step's frame carries (value bytes 0..4, §9.3)."""
    return int.from_bytes(bytes.fromhex(step["frame"])[46:50], "big")


def renew_grants(left, lease_ticks):
    """§5.1 RENEW: the carried end `left` ticks after now is granted."""
    return 1 <= left % 2**32 <= lease_ticks


def with_carried_end(data, end):
    """The RENEW frame `data` carrying `end` instead (the IPv4 checksum does
    not cover it, and the UDP checksum is 0)."""
    return data[:46] + end.to_bytes(4, "big") + data[50:]


def read_registers(ports, value_keys):
    commands = [f"register_read NetcraqIngress.{reg} {k}" for f, reg in REGISTERS if f != "value"
                for k in range(KEYS_CHECKED)]
    text = cli(commands)
    values = {}
    for m in re.finditer(r"NetcraqIngress\.(kv_\w+)\[(\d+)\]=\s*(\d+)", text):
        values[(m.group(1), int(m.group(2)))] = int(m.group(3))
    port = ports.ports[0]
    # The harness reads as node_config's TAIL: no group may give a key another chain.
    cli(["table_clear NetcraqIngress.key_group",
         "table_set_default NetcraqIngress.node_config " + HARNESS_TAIL,
         f"table_add NetcraqIngress.ipv4_route NetcraqIngress.set_next_hop 10.254.0.1/32 => {port} 02:fe:00:00:00:01"])
    for k in value_keys:
        ports.drain()
        ports.send(port, frame(HARNESS_MAC, HARNESS_IP, 1, 0, k, bytes(16)))
        replies = [f for f in ports.collect(1)[port] if len(f) >= 62 and f[42] == 3]
        if not replies:
            raise RuntimeError(f"no READ_REPLY for key {k} from the harness read")
        values[("kv_value", k)] = int.from_bytes(replies[0][46:62], "big")
    slots = {}
    for k in range(KEYS_CHECKED):
        slot = {}
        for field, reg in REGISTERS:
            if field == "value" and (reg, k) not in values:
                values[(reg, k)] = 0
            if (reg, k) not in values:
                raise RuntimeError(f"register_read {reg} {k}: {text[-500:]}")
            slot[field] = reg_value(field, values[(reg, k)])
        slots[k] = slot
    return slots


def is_zero(slot):
    return all(v in (0, "0.0.0.0", "00" * 16) for v in slot.values())


class Skip(Exception):
    """A case this harness cannot run (not a failure of the program)."""


def op_of(step):
    """The NetCRAQ op of a step's frame (0 when it carries none)."""
    data = bytes.fromhex(step["frame"])
    if len(data) < 43 or data[12:14] != b"\x08\x00" or data[36:38] != b"\x4e\x43":
        return 0
    return data[42]


def lease_placements(case):
    """For each step, how many ticks after `now` the lease must end on BMv2
    while the frame is handled (None: the step does not read a held lease).
    Follows the lease (§2.1b, §9.3) through the steps by their expected
    outcomes; raises Skip where a READ would depend on the exact clock."""
    lease_ticks = (case.get("config") or {}).get("lease_ticks", 0)
    lease = case.get("lease", {"end": 0, "held": False})
    end, held = lease["end"], lease["held"]
    placements = []
    for n, step in enumerate(case["steps"]):
        clock, left = step.get("clock", 0), None
        if op_of(step) == OP_RENEW and RENEW_OUTCOMES & set(step["outcomes"]) and carried_end(step):
            ahead = carried_end(step) - clock
            if any(renew_grants(ahead - late, lease_ticks) != renew_grants(ahead, lease_ticks)
                   for late in range(RENEW_TOLERANCE + 1)):
                raise Skip(f"BMv2's clock cannot be set: step {n}'s RENEW at clock {clock} carries "
                           f"{carried_end(step)}, decided otherwise if it arrives up to {RENEW_TOLERANCE} ticks late")
        if op_of(step) == OP_RENEW and "LEASE_RENEWED" in step["outcomes"]:
            end, held = carried_end(step), True
        elif lease_ticks and held and READ_OUTCOMES & set(step["outcomes"]):
            left = (end - clock) % 2**32
            if min(abs(left), abs(left - 2**31), 2**32 - left) < LEASE_MARGIN:
                raise Skip(f"BMv2's clock cannot be set: step {n} READs at clock {clock} a lease ending at {end}, "
                           f"{LEASE_MARGIN} ticks or less from an end of the held range")
            held = 1 <= left < 2**31
        placements.append(left)
    return placements


class LeaseClock:
    """BMv2's lease clock (§2.4: its microsecond timestamp >> 10), which
    counts from the switch's start: read through the wall clock, which
    simple_switch's timestamps share."""

    def __init__(self):
        started = time.time()
        text = cli(["get_time_elapsed", "get_time_since_epoch"])
        self.cli_seconds = time.time() - started
        elapsed, since_epoch = (int(x) for x in re.findall(r"^RuntimeCmd: (\d+)$", text, re.M))
        self.start_us = since_epoch - elapsed

    def ticks(self, at):
        return (int(at * 1e6) - self.start_us) >> 10 & 0xFFFFFFFF

    def shift(self, clock, at):
        """From the vector's `clock` to BMv2's, for a frame sent `at`."""
        return (self.ticks(at) - clock) % 2**32

    def place(self, left, clock):
        """Writes lease_end so that the frame sent next finds it `left`
        ticks ahead; returns the shift from the vector's clock to BMv2's."""
        shift = self.shift(clock, time.time() + self.cli_seconds)
        cli([f"register_write NetcraqIngress.lease_end 0 {(clock + left + shift) % 2**32}"])
        return shift


class Ports:
    def __init__(self, ports):
        self.ports = sorted(ports)
        self.socks = {}
        for p in self.ports:
            subprocess.run(["ip", "link", "add", switch_end(p), "type", "veth", "peer", "name", test_end(p)],
                           check=True)
            for end in (switch_end(p), test_end(p)):
                with open(f"/proc/sys/net/ipv6/conf/{end}/disable_ipv6", "w") as f:
                    f.write("1")
                subprocess.run(["ip", "link", "set", end, "up"], check=True)
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
            s.bind((test_end(p), 0))
            s.setblocking(False)
            self.socks[p] = s

    def drain(self):
        for s in self.socks.values():
            while True:
                try:
                    s.recv(65535)
                except BlockingIOError:
                    break

    def send(self, port, frame):
        if len(frame) < 14:
            raise Skip(f"a {len(frame)}-byte frame: the kernel sends nothing shorter than an Ethernet header")
        self.socks[port].send(frame)

    def collect(self, expected):
        got = {p: [] for p in self.ports}
        deadline = time.time() + 2.0
        settle_until = None
        while True:
            now = time.time()
            count = sum(len(v) for v in got.values())
            if count >= expected and settle_until is None:
                settle_until = now + SETTLE
            end = settle_until if settle_until is not None else deadline
            if now >= end:
                return got
            ready, _, _ = select.select(list(self.socks.values()), [], [], end - now)
            for p, s in self.socks.items():
                if s in ready:
                    while True:
                        try:
                            got[p].append(s.recv(65535))
                        except BlockingIOError:
                            break

    def close(self):
        for p, s in self.socks.items():
            s.close()
            subprocess.run(["ip", "link", "del", switch_end(p)], capture_output=True)


def setup_case(case, ports):
    slots = [slot for slot in case.get("registers", []) if int(slot["value"], 16)]
    if slots:
        cli(["reset_state", "table_set_default NetcraqIngress.node_config " + HARNESS_SOLO])
        for slot in slots:
            ports.send(ports.ports[0], frame(HARNESS_MAC, HARNESS_IP, 2, 0, slot["key"], bytes.fromhex(slot["value"])))
        time.sleep(0.2)
        check = cli([f"register_read NetcraqIngress.kv_version {slot['key']}" for slot in slots])
        if len(re.findall(r"kv_version\[\d+\]=\s*1\b", check)) != len(slots):
            raise RuntimeError("setup: the harness WRITE did not store the values")
        commands = ["table_reset_default NetcraqIngress.node_config",
                    "counter_reset NetcraqIngress.outcomes", "counter_reset NetcraqIngress.key_reads",
                    "counter_reset NetcraqIngress.key_writes"]
    else:
        commands = ["reset_state"]
    commands.append(f"mirroring_add {CLONE_SESSION} {CLONE_PORT}")
    config = case.get("config")
    if config:
        commands.append(
            "table_set_default NetcraqIngress.node_config NetcraqIngress.set_config "
            f"{config['own_mac']} {config['own_ip']} {ROLES[config['role']]} {MODES[config['mode']]} "
            f"{config['head_ip']} {config['tail_ip']} {config['successor_ip']} {config['predecessor_ip']} "
            f"{config['key_lo']} {config['key_hi']} {config['epoch']} "
            f"{config.get('lease_ticks', 0)} {config.get('sync_epoch', 0)}")
    for group in case.get("key_groups", []):
        commands.append(
            f"table_add NetcraqIngress.key_group NetcraqIngress.set_group {group['key']}/{group['prefix_len']} "
            f"=> {ROLES[group['role']]} {group.get('head_ip', '0.0.0.0')} {group.get('tail_ip', '0.0.0.0')} "
            f"{group.get('successor_ip', '0.0.0.0')} {group.get('predecessor_ip', '0.0.0.0')} "
            f"{group['epoch']} {group.get('sync_epoch', 0)}")
    for route in case.get("routes", []):
        commands.append(f"table_add NetcraqIngress.ipv4_route NetcraqIngress.set_next_hop {route['prefix']} "
                        f"=> {route['port']} {route['mac']}")
    for fabric in case.get("fabric_ports", []):
        commands.append(f"table_add NetcraqIngress.fabric_port NetcraqIngress.set_fabric_port "
                        f"{fabric['port']} => {int(fabric['from_predecessor'])} "
                        f"{int(fabric['from_successor'])} {int(fabric.get('from_controller', False))}")
    lease = case.get("lease", {"end": 0, "held": False})
    commands += [f"register_write NetcraqIngress.lease_end 0 {lease['end']}",
                 f"register_write NetcraqIngress.lease_held 0 {int(lease['held'])}",
                 f"register_write NetcraqIngress.lease_clock 0 {lease.get('clock', 0)}"]
    for slot in case.get("registers", []):
        k = slot["key"]
        commands += [
            f"register_write NetcraqIngress.kv_version {k} {slot['version']}",
            f"register_write NetcraqIngress.kv_acked {k} {slot['acked']}",
            f"register_write NetcraqIngress.kv_writer_ip {k} {ip_to_int(slot['writer_ip'])}",
            f"register_write NetcraqIngress.kv_writer_port {k} {slot['writer_port']}",
            f"register_write NetcraqIngress.kv_writer_id {k} {slot['writer_id']}",
            f"register_write NetcraqIngress.kv_received {k} {slot.get('received', 0)}",
        ]
    text = cli(commands)
    errors = [line for line in text.splitlines()
              if re.search(r"error|invalid|exception", line, re.I) and "mirroring" not in line.lower()]
    if errors:
        raise RuntimeError("setup: " + "; ".join(errors[:3]))


def run_case(case, ports, clock):
    """The case's failures, and what of it was compared only roughly (or None)."""
    failures = []
    placements = lease_placements(case)
    setup_case(case, ports)
    before = read_counters("outcomes", range(len(OUTCOMES)))
    # The shifts from the vector's clock to BMv2's with which lease_end and
    # lease_clock were last set; lease_clock's by a RENEW (BMv2's own
    # reading, so only close to the vector's).
    shift, clock_shift = 0, None
    for n, step in enumerate(case["steps"]):
        ports.drain()
        if placements[n] is not None:
            shift = clock.place(placements[n], step.get("clock", 0))
        data = bytes.fromhex(step["frame"])
        renew = op_of(step) == OP_RENEW and RENEW_OUTCOMES & set(step["outcomes"])
        if renew:
            clock_shift = clock.shift(step.get("clock", 0), time.time())
            if carried_end(step):
                data = with_carried_end(data, (carried_end(step) + clock_shift) % 2**32)
            if "LEASE_RENEWED" in step["outcomes"]:
                shift = clock_shift
        ports.send(step["ingress_port"], data)
        got = ports.collect(len(step["expect"]))
        want = {p: [] for p in ports.ports}
        for e in step["expect"]:
            want[e["port"]].append(e["frame"])
        for p in ports.ports:
            have = [f.hex() for f in got[p]]
            if have != want[p]:
                failures.append(f"step {n} port {p}: expected {want[p]}, got {have}")
        after = read_counters("outcomes", range(len(OUTCOMES)))
        delta = {OUTCOMES[i]: after[i] - before[i] for i in after if after[i] != before[i]}
        expected = {}
        for name in step["outcomes"]:
            expected[name] = expected.get(name, 0) + 1
        if delta != expected:
            failures.append(f"step {n} outcomes: expected {expected}, got {delta}")
        before = after
    counters = case.get("final_counters", {})
    got_outcomes = {OUTCOMES[i]: v for i, v in before.items() if v}
    if got_outcomes != counters.get("outcomes", {}):
        failures.append(f"final outcomes: expected {counters.get('outcomes')}, got {got_outcomes}")
    for name in ("key_reads", "key_writes"):
        values = read_counters(name, range(KEYS_CHECKED))
        have = {str(k): v for k, v in values.items() if v}
        want = {str(k): v for k, v in counters.get(name, {}).items()}
        if have != want:
            failures.append(f"final {name}: expected {want}, got {have}")
    value_keys = {s["key"] for s in case.get("registers", []) + case.get("final_registers", [])}
    value_keys |= {int.from_bytes(bytes.fromhex(st["frame"])[44:46], "big") for st in case["steps"]
                   if len(st["frame"]) >= 124}
    value_keys = sorted(k for k in value_keys if k < KEYS_CHECKED)
    slots = read_registers(ports, value_keys)
    want_regs = {s["key"]: {f: s.get(f, 0) for f, _ in REGISTERS} for s in case.get("final_registers", [])}
    for k, slot in slots.items():
        if k in want_regs:
            if slot != want_regs[k]:
                failures.append(f"register key {k}: expected {want_regs[k]}, got {slot}")
        elif not is_zero(slot):
            failures.append(f"register key {k}: expected zero, got {slot}")
    lease, want_lease = read_lease(), {"clock": 0, **case.get("final_lease", {"end": 0, "held": False})}
    lease["end"] = (lease["end"] - shift) % 2**32
    if clock_shift is not None:
        lease["clock"] = (lease["clock"] - clock_shift) % 2**32
        late = (lease["clock"] - want_lease["clock"]) % 2**32
        if late <= RENEW_TOLERANCE:
            lease["clock"] = want_lease["clock"]
    if lease != want_lease:
        failures.append(f"final lease (in the vector's clock): expected {want_lease}, got {lease}")
    rough = f"lease_clock within {RENEW_TOLERANCE} ticks: a RENEW set it from BMv2's clock"
    return failures, rough if clock_shift is not None else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", default=os.path.join(HERE, "build", "bmv2", "netcraq.json"))
    parser.add_argument("--log", default=os.path.join(HERE, "build", "simple_switch.log"))
    parser.add_argument("--vectors", default=VECTORS, help="directory of the vector files (default: tests/vectors)")
    parser.add_argument("select", nargs="*", help="vector files (x.json) or case names; default: all")
    args = parser.parse_args()

    missing = [tool for tool in ("ip", "simple_switch", "simple_switch_CLI") if shutil.which(tool) is None]
    if missing or os.geteuid() != 0:
        print(f"SKIP: needs root and {', '.join(missing) or 'nothing else'}")
        return 0
    if not os.path.exists(args.json):
        subprocess.run([os.path.join(HERE, "compile.sh")], check=True)

    files = [f for f in args.select if f.endswith(".json")]
    names = {n for n in args.select if not n.endswith(".json")}
    paths = ([os.path.join(args.vectors, os.path.basename(f)) for f in files]
             or sorted(glob.glob(os.path.join(args.vectors, "*.json"))))
    cases = []
    for path in paths:
        for case in json.load(open(path))["cases"]:
            if not names or case["name"] in names:
                cases.append((os.path.basename(path), case))

    used = set()
    for _, case in cases:
        used |= {s["ingress_port"] for s in case["steps"]}
        used |= {e["port"] for s in case["steps"] for e in s["expect"]}
        used |= {r["port"] for r in case.get("routes", [])}
    # A SIGTERM (a timeout) still removes this run's veths and stops BMv2.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ports = Ports(used)
    os.makedirs(os.path.dirname(args.log), exist_ok=True)
    log = open(args.log, "w")
    switch = subprocess.Popen(
        ["simple_switch", "--device-id", str(RUN), "--thrift-port", str(THRIFT_PORT)]
        + [a for p in sorted(used) for a in ("-i", f"{p}@{switch_end(p)}")] + [args.json],
        stdout=log, stderr=subprocess.STDOUT)
    passed = failed = skipped = 0
    try:
        for _ in range(50):
            if "RuntimeCmd" in cli(["show_ports"]) and switch.poll() is None:
                break
            time.sleep(0.2)
        clock = LeaseClock()
        for path, case in cases:
            note = None
            try:
                failures, note = run_case(case, ports, clock)
            except Skip as why:
                skipped += 1
                print(f"skip {path} {case['name']}: {why}")
                continue
            except Exception as error:  # a broken case must not hide the others
                failures = [f"error: {error}"]
            if failures:
                failed += 1
                print(f"FAIL {path} {case['name']}")
                for line in failures:
                    print(f"    {line}")
            else:
                passed += 1
                print(f"ok   {path} {case['name']}" + (f" ({note})" if note else ""))
    finally:
        switch.terminate()
        switch.wait(timeout=10)
        ports.close()
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
