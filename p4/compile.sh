#!/usr/bin/env bash
# Builds the P4 programs into p4/build (or $1):
#   netcraq.p4     with p4c (bmv2 / v1model): BMv2 JSON and P4Info;
#   netcraq_tna.p4 with a Tofino-capable p4c (--target tofino --arch tna).
# A program whose compiler is missing is skipped, visibly; a compile error
# fails the script.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/build}"
mkdir -p "$out"
status=0

if command -v p4c >/dev/null 2>&1; then
    echo "== netcraq.p4 (bmv2, v1model)"
    p4c --target bmv2 --arch v1model \
        --p4runtime-files "$out/netcraq.p4info.txtpb" \
        -o "$out/bmv2" "$here/netcraq.p4"
    echo "   $out/bmv2/netcraq.json, $out/netcraq.p4info.txtpb"
else
    echo "SKIP: netcraq.p4: p4c not on PATH"
fi

# shellcheck source=tofino-compiler.sh
. "$here/tofino-compiler.sh"

if [ -n "$tofino_cc" ]; then
    echo "== netcraq_tna.p4 (tofino, tna) with $tofino_cc"
    "$tofino_cc" "${tofino_flags[@]}" \
        --p4runtime-files "$out/netcraq_tna.p4info.txtpb" \
        -o "$out/tofino" "$here/netcraq_tna.p4" || status=1
    if [ "$status" = 0 ]; then
        stages="$(tofino_ingress_stages "$out/tofino" || true)"
        echo "   $out/tofino (ingress stages: ${stages:-unknown}; Tofino 1 has $TOFINO1_STAGES, Tofino 2 has 20)"
    fi
elif command -v p4test >/dev/null 2>&1 && [ -f "${TNA_P4INCLUDE:-/nonexistent}/tna.p4" ]; then
    # No Tofino backend: at least the P4 front and mid ends (types, externs
    # of tna.p4), which catch everything but Tofino's resource rules.
    echo "== netcraq_tna.p4: no Tofino-capable p4c; p4test type check against $TNA_P4INCLUDE/tna.p4"
    p4test -D__TARGET_TOFINO__=1 -I "$TNA_P4INCLUDE" "$here/netcraq_tna.p4" || status=1
else
    echo "SKIP: netcraq_tna.p4: no Tofino-capable p4c (p4c-barefoot, bf-p4c) on PATH" \
         "(set TNA_P4INCLUDE to a directory with tna.p4 to type-check it with p4test)"
fi

exit "$status"
