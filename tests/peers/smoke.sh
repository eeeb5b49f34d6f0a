#!/usr/bin/env bash
# Smoke test of the Go-built peers (tests/peers/build.sh): etcd on free loopback
# ports answers `etcdctl endpoint status` with its version; kube-apiserver stored
# in that etcd reaches /readyz and creates, reads and deletes a ConfigMap over
# its REST API, and the ConfigMap is in etcd under /registry while it exists.
# Everything runs in a temp dir, stopped by PID on exit. Prints PASS or exits non-zero.
#
# Usage: tests/peers/smoke.sh   (NETCRAQ_PEERS_DIR as for build.sh)
set -euo pipefail
peers_src=$(cd "$(dirname "$0")" && pwd)
peers=${NETCRAQ_PEERS_DIR:-$peers_src/../../target/peers}

fail() { echo "tests/peers/smoke.sh: FAIL: $*" >&2; exit 1; }

etcd_bin=$(ls -d "$peers"/etcd-*/bin 2>/dev/null | sort -V | tail -1)
[[ -x "$etcd_bin/etcd" && -x "$etcd_bin/etcdctl" ]] || fail "no etcd under $peers: run tests/peers/build.sh"
etcd_version=$(basename "$(dirname "$etcd_bin")")
etcd_version=${etcd_version#etcd-v}

work=$(mktemp -d -t netcraq-peers-smoke.XXXXXX)
etcd_pid=
cleanup() {
    "$peers_src/kube-apiserver.sh" stop "$work/kube" 2>/dev/null || true
    [[ -n "$etcd_pid" ]] && { kill "$etcd_pid" 2>/dev/null; wait "$etcd_pid" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT # so that the exit trap runs then too

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
client_port=$(free_port)
peer_port=$(free_port)
etcd_url=http://127.0.0.1:$client_port
"$etcd_bin/etcd" --name smoke --data-dir "$work/etcd" \
    --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "smoke=http://127.0.0.1:$peer_port" --log-level warn >"$work/etcd.log" 2>&1 &
etcd_pid=$!

etcdctl() { "$etcd_bin/etcdctl" --endpoints "$etcd_url" --command-timeout 5s "$@"; }
for _ in $(seq 60); do
    status=$(etcdctl endpoint status -w json 2>/dev/null) && break
    kill -0 "$etcd_pid" 2>/dev/null || fail "etcd exited: $(tail -5 "$work/etcd.log")"
    sleep 0.5
done
[[ "${status:-}" == *"\"version\":\"$etcd_version\""* ]] || fail "etcdctl endpoint status does not say $etcd_version: ${status:-no answer}"
echo "tests/peers/smoke.sh: etcd $etcd_version answers at $etcd_url"

start_seconds=$SECONDS
started=$("$peers_src/kube-apiserver.sh" start "$etcd_url" "$work/kube")
eval "$started"
echo "tests/peers/smoke.sh: kube-apiserver ready at $KUBE_APISERVER_URL in $((SECONDS - start_seconds)) s"

api() { # method path [body]
    curl -sS --max-time 10 --cacert "$KUBE_APISERVER_CA" -H "Authorization: Bearer $(cat "$KUBE_APISERVER_TOKEN_FILE")" \
        -H 'Content-Type: application/json' -X "$1" ${3:+--data "$3"} -w '\n%{http_code}' "$KUBE_APISERVER_URL$2"
}
expect() { # status response what
    [[ "${2##*$'\n'}" == "$1" ]] || fail "$3: expected HTTP $1, got: $2"
}
configmaps=/api/v1/namespaces/default/configmaps
response=$(api POST "$configmaps" '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"netcraq-smoke"},"data":{"chain":"craq"}}')
expect 201 "$response" "create ConfigMap"
response=$(api GET "$configmaps/netcraq-smoke")
expect 200 "$response" "get ConfigMap"
[[ "${response//[[:space:]]/}" == *'"chain":"craq"'* ]] || fail "get ConfigMap: data missing: $response"
stored=$(etcdctl get --keys-only /registry/configmaps/default/netcraq-smoke)
[[ "$stored" == /registry/configmaps/default/netcraq-smoke* ]] ||
    fail "the ConfigMap is not in etcd under /registry/configmaps/default/netcraq-smoke: '$stored'"
response=$(api DELETE "$configmaps/netcraq-smoke")
expect 200 "$response" "delete ConfigMap"
response=$(api GET "$configmaps/netcraq-smoke")
expect 404 "$response" "get deleted ConfigMap"
echo "tests/peers/smoke.sh: ConfigMap created, read (also in etcd), deleted"
echo "tests/peers/smoke.sh: PASS"
