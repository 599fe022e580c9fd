#!/usr/bin/env bash
# Runs the shared peers harness's four workloads for plain UDP, lentil, renet
# and laminar, RUNS times each (default 3), one JSON line per run, then the
# harness's table of medians. Every library runs its default configuration.
#
#   benches/peers/compare.sh          # 3 runs of everything (about 5 minutes)
#   benches/peers/compare.sh 1        # 1 run each
#   LIBS="raw lentil" WORKLOADS="stream pingpong" benches/peers/compare.sh
#
# The harness is built into PEERS_TARGET (default /tmp/lentil-peers-target), so
# its folder may be read-only. Lines are also kept in $PEERS_TARGET/results.
set -euo pipefail
cd "$(dirname "$0")"
RUNS=${1:-3}
LIBS=${LIBS:-"raw lentil renet laminar"}
WORKLOADS=${WORKLOADS:-"stream pingpong lossy fanin"}
HARNESS=${HARNESS:-../../../shared/bench/peers}
PEERS_TARGET=${PEERS_TARGET:-/tmp/lentil-peers-target}

(cd "$HARNESS" && CARGO_TARGET_DIR="$PEERS_TARGET" cargo build --release --quiet)
cargo build --release --quiet
mkdir -p "$PEERS_TARGET/results"
OUT="$PEERS_TARGET/results/$(date +%Y%m%d-%H%M%S).jsonl"
echo "# writing $OUT; $(nproc) cores; $(uname -sr)" >&2

binary() {
    if [ "$1" = lentil ]; then echo ./target/release/lentil; else echo "$PEERS_TARGET/release/$1"; fi
}

for i in $(seq 1 "$RUNS"); do
    for w in $WORKLOADS; do
        for lib in $LIBS; do
            line=$(timeout -k 5 75 "$(binary "$lib")" --workload "$w" --seed "$i" | grep '^{' | tail -n 1 || true)
            if [ -z "$line" ]; then
                line="{\"lib\":\"$lib\",\"workload\":\"$w\",\"ok\":false,\"fail_kinds\":[\"no_output\"],\"fail_reason\":\"no result line\"}"
            fi
            echo "$line" | tee -a "$OUT"
        done
    done
done

echo
"$PEERS_TARGET/release/summarize" "$OUT"
