#!/usr/bin/env bash
# The test command: installs what the test suite needs on a fresh Debian
# machine, then runs every test of the workspace (release mode, so the model
# checker finishes quickly), with the DPDK node built in (dpdk/README.md: DPDK
# runs without hugepages, NIC or root in the tests). Tests with real packets
# need root for network namespaces; without it they print SKIP.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v python3 >/dev/null || missing+=(python3)
command -v ip >/dev/null || missing+=(iproute2)
command -v cargo >/dev/null || { echo "tests/run.sh: cargo not found: install Rust (https://rustup.rs) first" >&2; exit 1; }
# DPDK 22.11 (Debian 12) and what its bindings are generated with.
for package in dpdk-dev libdpdk-dev pkg-config libclang-dev clang; do
    [[ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" == "install ok installed" ]] || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "tests/run.sh: installing ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

cargo test --workspace --release --locked --features netcraq-dpdk/dpdk,netcraq-dataplane/dpdk,netcraq/dpdk
