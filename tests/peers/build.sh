#!/usr/bin/env bash
# Builds the Go peers that tests run against: etcd + etcdctl and kube-apiserver,
# from their published Go modules (tests/peers/README.md). Their own go.mod files
# `replace` sibling modules with local paths, so `go install pkg@version` refuses
# them; each peer here is a tiny module of ours (tests/peers/<peer>/go.mod) whose
# `tool` lines name the upstream main packages and whose go.sum locks every
# dependency. A binary already built at the pinned version is kept.
#
# Usage: tests/peers/build.sh [etcd] [kube-apiserver]   (no argument: both)
# Environment:
#   NETCRAQ_PEERS_DIR  where <peer>-<version>/bin/ go (default: target/peers)
#   NETCRAQ_PEERS_JOBS parallel Go compile jobs (default: 2)
#   GO                 the go command (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail
peers_src=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$peers_src/../.." && pwd)
out_root=${NETCRAQ_PEERS_DIR:-$repo/target/peers}
jobs=${NETCRAQ_PEERS_JOBS:-2}
go_minimum=1.26 # the `go` line of k8s.io/kubernetes v1.37's go.mod

die() { echo "tests/peers/build.sh: $*" >&2; exit 1; }

find_go() {
    GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
    [[ -x "$GO" ]] || command -v "$GO" >/dev/null ||
        die "Go not found (set GO= or install Go >= $go_minimum from https://go.dev/dl)"
    local have
    have=$("$GO" env GOVERSION) || die "'$GO env GOVERSION' failed"
    have=${have#go}
    [[ "$(printf '%s\n%s\n' "$go_minimum" "$have" | sort -V | head -1)" == "$go_minimum" ]] ||
        die "Go $have is too old: the peers need Go >= $go_minimum ($GO)"
    echo "tests/peers/build.sh: using Go $have ($GO)"
}

# The version our module pins for an upstream module (its go.mod).
pinned_version() { # module_dir upstream_module
    (cd "$1" && GOFLAGS=-mod=readonly GOTOOLCHAIN=local "$GO" list -m -f '{{.Version}}' "$2") ||
        die "cannot read the version of $2 from $1/go.mod"
}

# Builds the main package `package` of module dir `module` into `binary`,
# unless `binary version_arg` already names `version`.
build_one() { # module_dir package binary version version_arg [ldflags]
    local module=$1 package=$2 binary=$3 version=$4 version_arg=$5 ldflags=${6:-}
    local name
    name=$(basename "$binary")
    if [[ -x "$binary" ]] && "$binary" "$version_arg" 2>/dev/null | grep -qF "${version#v}"; then
        echo "tests/peers/build.sh: $name $version already built: $binary"
        return
    fi
    echo "tests/peers/build.sh: building $name $version (a cold Go cache takes minutes)"
    mkdir -p "$(dirname "$binary")"
    local start=$SECONDS
    # -mod=readonly: go.sum is the lock file; a missing or changed sum is an error.
    (cd "$module" && GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local GOMAXPROCS=$jobs \
        nice -n 15 "$GO" build -p "$jobs" -trimpath -ldflags "-s -w $ldflags" -o "$binary.partial" "$package") ||
        die "building $name $version failed"
    mv "$binary.partial" "$binary"
    echo "tests/peers/build.sh: built $name $version in $((SECONDS - start)) s: $binary"
}

build_etcd() {
    local module=$peers_src/etcd version
    version=$(pinned_version "$module" go.etcd.io/etcd/server/v3)
    local bin=$out_root/etcd-$version/bin
    build_one "$module" go.etcd.io/etcd/server/v3 "$bin/etcd" "$version" --version
    build_one "$module" go.etcd.io/etcd/etcdctl/v3 "$bin/etcdctl" "$version" version
}

build_kube_apiserver() {
    local module=$peers_src/kube-apiserver version
    version=$(pinned_version "$module" k8s.io/kubernetes)
    local minor=${version#v1.}
    minor=${minor%%.*}
    # What the release build stamps; without it the binary calls itself v0.0.0-master.
    local stamp=k8s.io/component-base/version
    local ldflags="-X $stamp.gitVersion=$version -X $stamp.gitMajor=1 -X $stamp.gitMinor=$minor -X $stamp.gitTreeState=clean"
    build_one "$module" k8s.io/kubernetes/cmd/kube-apiserver \
        "$out_root/kube-apiserver-$version/bin/kube-apiserver" "$version" --version "$ldflags"
}

peers=("$@")
((${#peers[@]})) || peers=(etcd kube-apiserver)
find_go
for peer in "${peers[@]}"; do
    case $peer in
    etcd) build_etcd ;;
    kube-apiserver) build_kube_apiserver ;;
    *) die "unknown peer '$peer' (etcd, kube-apiserver)" ;;
    esac
done
