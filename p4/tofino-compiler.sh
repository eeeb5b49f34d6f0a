# Sourced by compile.sh and check-programs.sh. Sets `tofino_cc` to a
# Tofino-capable compiler on PATH (p4c's tofino backend `p4c-barefoot`, the
# SDE's `bf-p4c`, or a `p4c` driver that knows the tofino target), or to ""
# when there is none, and `tofino_flags` to the flags NetCRAQ compiles
# netcraq_tna.p4 with. --p4runtime-force-std-externs makes its counters and
# registers standard P4Runtime ones (as on every other NetCRAQ node) instead
# of Tofino-specific externs.
tofino_cc=""
if command -v p4c-barefoot >/dev/null 2>&1; then
    tofino_cc="p4c-barefoot"
elif command -v bf-p4c >/dev/null 2>&1; then
    tofino_cc="bf-p4c"
elif command -v p4c >/dev/null 2>&1 && p4c --target-help 2>/dev/null | grep -qi tofino; then
    tofino_cc="p4c"
fi
tofino_flags=(--target tofino --arch tna --p4runtime-force-std-externs)

# Stages per pipe, ingress and egress each, on Tofino 1.
TOFINO1_STAGES=12

# tofino_ingress_stages OUT: the ingress stages of the program compiled into
# OUT, from table placement's result (one "stage N ingress" section each).
tofino_ingress_stages() {
    grep -c '^stage [0-9]* ingress' "$1"/pipe/netcraq_tna.bfa
}
