#!/usr/bin/env bash
# The failover soak (perf/README.md, "Soak"): randomized node faults on
# managed chains, every history checked. Not run by CI. As root:
#   bash perf/soak.sh              # 200 runs, resuming any recorded in perf/results/soak-runs.jsonl
#   bash perf/soak.sh 5            # a short one
#   bash perf/soak.sh 200 --keep-going --max-minutes 60
# Extra arguments go to `netcraq bench soak` (see its --help).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-200}"
shift || true
cargo build --release -p netcraq
exec "${CARGO_TARGET_DIR:-target}/release/netcraq" bench soak --runs "$runs" "$@"
