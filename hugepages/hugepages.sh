#!/usr/bin/env bash
# Hugepages for DPDK nodes: reserve, report, release.
#
#   hugepages/hugepages.sh status
#   hugepages/hugepages.sh reserve [PAGES] [--size 2M|1G]   (default: 512 pages of 2M = 1 GiB)
#   hugepages/hugepages.sh release
#
# `reserve` records what it changed in /run/netcraq/hugepages.state, and
# `release` restores exactly that: the previous page counts, and unmounts
# hugetlbfs only if `reserve` mounted it. Needs root for reserve and release.
set -euo pipefail

SYSFS=/sys/kernel/mm/hugepages
STATE_DIR=/run/netcraq
STATE=$STATE_DIR/hugepages.state
MOUNT_POINT=/dev/hugepages

die() { echo "hugepages.sh: $*" >&2; exit 1; }

size_dir() {
    case "$1" in
        2M) echo "$SYSFS/hugepages-2048kB" ;;
        1G) echo "$SYSFS/hugepages-1048576kB" ;;
        *) die "unknown page size '$1': use 2M or 1G" ;;
    esac
}

mounted() { awk '$3 == "hugetlbfs" { found = 1 } END { exit !found }' /proc/mounts; }

status() {
    [[ -d $SYSFS ]] || { echo "this kernel has no hugepage support ($SYSFS missing)"; return 0; }
    for dir in "$SYSFS"/hugepages-*; do
        local size=${dir##*hugepages-}
        printf '%-12s total %-6s free %-6s\n' "$size" "$(cat "$dir/nr_hugepages")" "$(cat "$dir/free_hugepages")"
    done
    if mounted; then
        awk '$3 == "hugetlbfs" { print "hugetlbfs mounted on " $2 }' /proc/mounts
    else
        echo "hugetlbfs not mounted"
    fi
    [[ -f $STATE ]] && echo "reserved by hugepages.sh (release with: hugepages/hugepages.sh release)"
    return 0
}

reserve() {
    local pages=512 size=2M
    while (($#)); do
        case "$1" in
            --size) size=${2:-}; shift 2 || die "--size needs 2M or 1G" ;;
            ''|*[!0-9]*) die "PAGES must be a whole number, not '$1'" ;;
            *) pages=$1; shift ;;
        esac
    done
    ((EUID == 0)) || die "reserving hugepages needs root"
    [[ -f $STATE ]] && die "already reserved (see 'status'); run 'release' first"
    local dir; dir=$(size_dir "$size")
    [[ -d $dir ]] || die "this machine offers no $size pages ($dir missing)"
    local before; before=$(cat "$dir/nr_hugepages")
    local wanted=$((before + pages))
    mkdir -p "$STATE_DIR"
    printf 'dir=%s\nbefore=%s\nmounted_by_us=0\n' "$dir" "$before" > "$STATE"
    echo "$wanted" > "$dir/nr_hugepages"
    local got; got=$(cat "$dir/nr_hugepages")
    if ((got < wanted)); then
        echo "$before" > "$dir/nr_hugepages"
        rm -f "$STATE"
        die "the kernel gave only $((got - before)) of $pages $size pages (memory too fragmented?): nothing changed"
    fi
    if ! mounted; then
        mkdir -p "$MOUNT_POINT"
        mount -t hugetlbfs nodev "$MOUNT_POINT"
        sed -i 's/^mounted_by_us=0$/mounted_by_us=1/' "$STATE"
    fi
    echo "reserved $pages pages of $size (now $got in total)"
    status
}

release() {
    ((EUID == 0)) || die "releasing hugepages needs root"
    [[ -f $STATE ]] || { echo "nothing reserved by hugepages.sh"; return 0; }
    local dir before mounted_by_us
    dir=$(sed -n 's/^dir=//p' "$STATE")
    before=$(sed -n 's/^before=//p' "$STATE")
    mounted_by_us=$(sed -n 's/^mounted_by_us=//p' "$STATE")
    if ((mounted_by_us == 1)) && mounted; then
        umount "$MOUNT_POINT"
    fi
    echo "$before" > "$dir/nr_hugepages"
    rm -f "$STATE"
    echo "released: $(basename "$dir") back to $before pages"
}

case "${1:-status}" in
    status) status ;;
    reserve) shift; reserve "$@" ;;
    release) release ;;
    -h|--help|help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$1': use status, reserve [PAGES] [--size 2M|1G], or release" ;;
esac
