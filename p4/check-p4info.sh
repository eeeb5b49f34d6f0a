#!/usr/bin/env bash
# Checks that p4/netcraq.p4info.txtpb is exactly what p4c emits for
# p4/netcraq.p4. Exit 1 on a difference; exit 0 with "SKIP" when p4c is not
# on PATH (source the toolchain's env.sh first to put it there).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! command -v p4c >/dev/null 2>&1; then
    echo "SKIP: p4c not on PATH"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

p4c --target bmv2 --arch v1model \
    --p4runtime-files "$tmp/netcraq.p4info.txtpb" \
    -o "$tmp" "$here/netcraq.p4"

if ! diff -u "$here/netcraq.p4info.txtpb" "$tmp/netcraq.p4info.txtpb"; then
    echo "FAIL: p4/netcraq.p4info.txtpb differs from p4c's output (diff above)"
    exit 1
fi
echo "OK: p4/netcraq.p4info.txtpb matches p4c $(p4c --version 2>/dev/null | tail -n 1)"
