#!/usr/bin/env bash
# Checks that the checked-in P4Infos are exactly what the compilers emit:
#   p4/netcraq.p4info.txtpb      for p4/netcraq.p4     (p4c, bmv2/v1model);
#   p4/netcraq_tna.p4info.txtpb  for p4/netcraq_tna.p4 (a Tofino-capable p4c;
#                                 this also runs the Tofino backend whole),
# and that netcraq_tna.p4 fits Tofino 1's ingress stages.
# One line per check: OK, or SKIP when its compiler is not on PATH (source
# the toolchain's env.sh first to put it there). Exit 1 on a difference, a
# program that does not fit, or a compile error.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# same CHECKED_IN FRESH COMPILER: fails the script on a difference.
same() {
    if ! diff -u "$1" "$2"; then
        echo "FAIL: ${1#"$here/"} differs from $3's output (diff above)"
        exit 1
    fi
    echo "OK: ${1#"$here/"} matches $3"
}

if command -v p4c >/dev/null 2>&1; then
    p4c --target bmv2 --arch v1model \
        --p4runtime-files "$tmp/netcraq.p4info.txtpb" \
        -o "$tmp/bmv2" "$here/netcraq.p4"
    same "$here/netcraq.p4info.txtpb" "$tmp/netcraq.p4info.txtpb" "p4c $(p4c --version 2>/dev/null | tail -n 1)"
else
    echo "SKIP: netcraq.p4info.txtpb: p4c not on PATH"
fi

# shellcheck source=tofino-compiler.sh
. "$here/tofino-compiler.sh"
if [ -n "$tofino_cc" ]; then
    "$tofino_cc" "${tofino_flags[@]}" \
        --p4runtime-files "$tmp/netcraq_tna.p4info.txtpb" \
        -o "$tmp/tofino" "$here/netcraq_tna.p4"
    same "$here/netcraq_tna.p4info.txtpb" "$tmp/netcraq_tna.p4info.txtpb" "$tofino_cc"
    stages="$(tofino_ingress_stages "$tmp/tofino")"
    if [ "$stages" -gt "$TOFINO1_STAGES" ]; then
        echo "FAIL: netcraq_tna.p4 needs $stages ingress stages; Tofino 1 has $TOFINO1_STAGES"
        exit 1
    fi
    echo "OK: netcraq_tna.p4 fits Tofino 1: $stages of $TOFINO1_STAGES ingress stages"
else
    echo "SKIP: netcraq_tna.p4info.txtpb: no Tofino-capable p4c (p4c-barefoot, bf-p4c) on PATH"
    echo "SKIP: netcraq_tna.p4 stages: no Tofino-capable p4c on PATH"
fi
