"""Drives a NetCRAQ node's P4Runtime server with p4runtime-shell (PyPI), the
way an operator would, and prints what it saw as one JSON line for the Rust
test (p4runtime-server/tests/p4runtime_shell.rs) to check.

Usage: python p4runtime_shell_session.py HOST:PORT
"""

import json
import sys

import p4runtime_sh.shell as sh
from p4runtime_sh.p4runtime import P4RuntimeWriteException

DROP_UNCONFIGURED = 15  # index in the outcomes counter (docs/protocol.md section 6)


def main():
    address = sys.argv[1]
    report = {}
    sh.setup(device_id=1, grpc_addr=address, election_id=(0, 1), verbose=False)
    try:
        # The P4Info the shell fetched from the node (GetForwardingPipelineConfig).
        p4info = sh.context.p4info
        report["tables"] = sorted(t.preamble.name for t in p4info.tables)
        report["counters"] = sorted(c.preamble.name for c in p4info.counters)

        entry = sh.TableEntry("NetcraqIngress.ipv4_route")(action="NetcraqIngress.set_next_hop")
        entry.match["dst_ip"] = "10.9.0.0/16"
        entry.action["port"] = "3"
        entry.action["mac"] = "02:00:00:00:09:03"
        entry.insert()

        try:
            entry.insert()
            report["duplicate_insert"] = "accepted"
        except P4RuntimeWriteException as error:
            report["duplicate_insert"] = str(error)

        read_back = []
        query = sh.TableEntry("NetcraqIngress.ipv4_route")
        for found in query.read():
            message = found.msg()
            lpm = message.match[0].lpm
            action = message.action.action
            read_back.append(
                {
                    "dst_ip": lpm.value.hex(),
                    "prefix_len": lpm.prefix_len,
                    "action_id": action.action_id,
                    "params": {str(p.param_id): p.value.hex() for p in action.params},
                }
            )
        report["routes_read_by_shell"] = read_back

        counter = sh.CounterEntry("NetcraqIngress.outcomes")
        counter.index = DROP_UNCONFIGURED
        report["drop_unconfigured"] = [c.data.packet_count for c in counter.read()]
        whole = sh.CounterEntry("NetcraqIngress.outcomes")
        report["outcome_indices"] = len(list(whole.read()))
    finally:
        sh.teardown()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
