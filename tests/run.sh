#!/usr/bin/env bash
# The test command: installs what the test suite needs on a fresh Debian
# machine, then runs every test of the workspace (release mode, so the model
# checker finishes quickly), with the DPDK node and the etcd client built in
# (dataplane/dpdk/README.md: DPDK runs without hugepages, NIC or root in the
# tests; perf/README.md: etcd). Tests with real packets
# need root for network namespaces; without it they print SKIP.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v python3 >/dev/null || missing+=(python3)
command -v ip >/dev/null || missing+=(iproute2)
# kube-apiserver's REST API, in its test through the proxy.
command -v curl >/dev/null || missing+=(curl)
command -v cargo >/dev/null || { echo "tests/run.sh: cargo not found: install Rust (https://rustup.rs) first" >&2; exit 1; }
# DPDK 22.11 (Debian 12) and what its bindings are generated with; protoc for
# the etcd client crates (controller, proxy, `bench etcd`), etcd and etcdctl for their tests.
for package in dpdk-dev libdpdk-dev pkg-config libclang-dev clang protobuf-compiler etcd-server etcd-client; do
    [[ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" == "install ok installed" ]] || missing+=("$package")
done
# The figures' plot test renders PNG text with DejaVu Sans.
[[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || missing+=(fonts-dejavu-core)
# python3 -m venv needs ensurepip, which Debian ships in python3-venv.
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
if ((${#missing[@]})); then
    echo "tests/run.sh: installing ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
# p4runtime-shell (PyPI), the P4Runtime peer of the interop test, in a venv under target/.
shell_venv=target/p4runtime-shell-venv
if ! "$shell_venv/bin/python" -c 'import p4runtime_sh.shell' 2>/dev/null; then
    echo "tests/run.sh: installing p4runtime-shell into $shell_venv" >&2
    python3 -m venv "$shell_venv" && "$shell_venv/bin/python" -m pip install --quiet p4runtime-shell ||
        echo "tests/run.sh: could not install p4runtime-shell: the interop test will fail and say why" >&2
fi

# etcd and kube-apiserver built from their Go modules, for the tests that run
# against them (tests/peers/README.md).
echo "tests/run.sh: building the Go peers (tests/peers/build.sh): this may take minutes the first time" >&2
tests/peers/build.sh

cargo test --workspace --release --locked --features netcraq-dpdk/dpdk,netcraq-node/dpdk,netcraq/dpdk,netcraq-perf/dpdk,netcraq-perf/etcd
