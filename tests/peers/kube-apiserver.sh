#!/usr/bin/env bash
# Starts and stops a local kube-apiserver (built by tests/peers/build.sh) for
# tests: one API server on a free loopback port, storing in the given etcd,
# everything it writes in one work dir (tests/peers/README.md says why each flag).
#
#   tests/peers/kube-apiserver.sh start ETCD_URL WORK_DIR
#       starts it in the background, waits for /readyz, prints KEY=VALUE lines:
#       KUBE_APISERVER_URL, KUBE_APISERVER_CA (the serving cert's CA), KUBE_APISERVER_TOKEN_FILE
#       (a bearer token with every right), KUBECONFIG, KUBE_APISERVER_PID (also in WORK_DIR/pid).
#   tests/peers/kube-apiserver.sh stop WORK_DIR
#       stops the process whose PID is in WORK_DIR/pid.
# Environment: KUBE_APISERVER (the binary; default: the newest under target/peers or
# NETCRAQ_PEERS_DIR), KUBE_APISERVER_READY_SECONDS (default 120).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)

die() { echo "tests/peers/kube-apiserver.sh: $*" >&2; exit 1; }

find_binary() {
    if [[ -n "${KUBE_APISERVER:-}" ]]; then echo "$KUBE_APISERVER"; return; fi
    local peers=${NETCRAQ_PEERS_DIR:-$repo/target/peers} found
    found=$(ls -d "$peers"/kube-apiserver-*/bin/kube-apiserver 2>/dev/null | sort -V | tail -1)
    [[ -n "$found" ]] || die "no kube-apiserver under $peers: run tests/peers/build.sh kube-apiserver"
    echo "$found"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The files the server reads: a service-account signing key, a static token file.
write_credentials() { # work_dir
    openssl genrsa -out "$1/service-account.key" 2048 2>/dev/null || die "openssl genrsa failed"
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1/token"
    echo "$(cat "$1/token"),netcraq-test,netcraq-test,system:masters" >"$1/tokens.csv"
}

write_kubeconfig() { # work_dir url
    cat >"$1/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "$2", certificate-authority: "$1/certs/apiserver.crt"}
users:
- name: netcraq-test
  user: {tokenFile: "$1/token"}
contexts:
- name: local
  context: {cluster: local, user: netcraq-test}
current-context: local
EOF
}

start() { # etcd_url work_dir
    local etcd_url=$1 work
    mkdir -p "$2"
    work=$(cd "$2" && pwd)
    local binary port url
    binary=$(find_binary)
    [[ -x "$binary" ]] || die "$binary is not an executable"
    command -v curl >/dev/null || die "curl not found"
    write_credentials "$work"
    port=$(free_port)
    url=https://127.0.0.1:$port
    # --cert-dir: with no --tls-cert-file the server makes a self-signed CA and
    # serving cert there (apiserver.crt holds both); clients trust that file.
    "$binary" \
        --etcd-servers="$etcd_url" \
        --etcd-prefix=/registry \
        --bind-address=127.0.0.1 \
        --advertise-address=127.0.0.1 \
        --endpoint-reconciler-type=none \
        --secure-port="$port" \
        --cert-dir="$work/certs" \
        --service-cluster-ip-range=10.96.0.0/24 \
        --service-account-issuer=https://kubernetes.default.svc \
        --service-account-key-file="$work/service-account.key" \
        --service-account-signing-key-file="$work/service-account.key" \
        --token-auth-file="$work/tokens.csv" \
        --anonymous-auth=false \
        --authorization-mode=AlwaysAllow \
        >"$work/kube-apiserver.log" 2>&1 &
    local pid=$!
    echo "$pid" >"$work/pid"
    local deadline=$((SECONDS + ${KUBE_APISERVER_READY_SECONDS:-120}))
    until curl -sf --cacert "$work/certs/apiserver.crt" -H "Authorization: Bearer $(cat "$work/token")" \
        "$url/readyz" >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -20 "$work/kube-apiserver.log" >&2
            die "kube-apiserver exited before it was ready (log: $work/kube-apiserver.log)"
        fi
        if ((SECONDS >= deadline)); then
            stop "$work"
            die "kube-apiserver not ready in ${KUBE_APISERVER_READY_SECONDS:-120} s (log: $work/kube-apiserver.log)"
        fi
        sleep 0.5
    done
    write_kubeconfig "$work" "$url"
    echo "KUBE_APISERVER_URL=$url"
    echo "KUBE_APISERVER_CA=$work/certs/apiserver.crt"
    echo "KUBE_APISERVER_TOKEN_FILE=$work/token"
    echo "KUBECONFIG=$work/kubeconfig"
    echo "KUBE_APISERVER_PID=$pid"
}

stop() { # work_dir
    [[ -f "$1/pid" ]] || die "no $1/pid: nothing to stop"
    local pid
    pid=$(cat "$1/pid")
    kill "$pid" 2>/dev/null || return 0
    # It shuts down gracefully in a few seconds; after 15 s it is killed.
    for _ in $(seq 30); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$1/pid"; return 0; }
        sleep 0.5
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$1/pid"
}

case ${1:-} in
start) (($# == 3)) || die "usage: $0 start ETCD_URL WORK_DIR"; start "$2" "$3" ;;
stop) (($# == 2)) || die "usage: $0 stop WORK_DIR"; stop "$2" ;;
*) die "usage: $0 start ETCD_URL WORK_DIR | stop WORK_DIR" ;;
esac
