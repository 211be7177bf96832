#!/usr/bin/env bash
# Runs stateplane's benchmarks: builds release binaries, starts real Flink 2.3 clusters on free ports
# (the second with the adaptive scheduler, for P8), measures P1–P9 (each against a baseline from the
# same run), prints one line per measure and writes a results table.
#
#   bench/run.sh            full run, writes bench/results.md
#   bench/run.sh --quick    quick run (< 10 min on 2 cores), writes bench/out/results-quick.md
#   bench/run.sh --only P1,P3 [--quick]   writes bench/out/results-only.md (a partial run never
#                                         replaces bench/results.md)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
QUICK=()
OUT=$ROOT/bench/results.md
ONLY=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=(--quick); OUT=$ROOT/bench/out/results-quick.md ;;
    --only) ONLY=(--only "$2"); OUT=$ROOT/bench/out/results-only.md; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$ROOT/bench/out"
log() { echo "[bench] $*" >&2; }

log "building release binaries"
cargo build --release -q -p stateplane-cli -p stateplane-bench

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
# P7 runs twenty jobs at once, one slot each.
export FLINK_SLOTS=24
FLINK_WORK=$(mktemp -d -t stateplane-bench-flink.XXXXXX)
# P8 needs a second cluster running Flink's adaptive scheduler (in-place rescaling).
ADAPTIVE_PORT=$(free_port)
ADAPTIVE_WORK=$(mktemp -d -t stateplane-bench-flink-adaptive.XXXXXX)
stop_clusters() {
  FLINK_REST_PORT=$PORT FLINK_WORK_DIR=$FLINK_WORK scripts/flink-local.sh stop >/dev/null 2>&1 || true
  FLINK_REST_PORT=$ADAPTIVE_PORT FLINK_WORK_DIR=$ADAPTIVE_WORK scripts/flink-local.sh stop >/dev/null 2>&1 || true
  rm -rf "$FLINK_WORK" "$ADAPTIVE_WORK"
}
trap stop_clusters EXIT
log "starting Flink on port $PORT"
FLINK_URL=$(FLINK_REST_PORT=$PORT FLINK_WORK_DIR=$FLINK_WORK scripts/flink-local.sh start)
JAR=$(scripts/flink-local.sh example-jar)
ADAPTIVE=()
wants_p8() { [ ${#ONLY[@]} -eq 0 ] || [[ ",${ONLY[1]^^}," == *,P8,* ]]; }
if wants_p8; then
  log "starting Flink with the adaptive scheduler on port $ADAPTIVE_PORT"
  ADAPTIVE_URL=$(FLINK_REST_PORT=$ADAPTIVE_PORT FLINK_WORK_DIR=$ADAPTIVE_WORK FLINK_SLOTS=4 \
    scripts/flink-local.sh start --adaptive)
  ADAPTIVE=(--adaptive-flink-url "$ADAPTIVE_URL" --adaptive-flink-stdout "$ADAPTIVE_WORK/log/taskmanager.out")
fi

"$ROOT/target/release/stateplane-bench" "${QUICK[@]}" "${ONLY[@]}" "${ADAPTIVE[@]}" \
  --flink-url "$FLINK_URL" --jar "$JAR" --stateplane "$ROOT/target/release/stateplane" --out "$OUT"
