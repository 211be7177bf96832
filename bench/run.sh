#!/usr/bin/env bash
# Runs stateplane's benchmarks: builds release binaries, starts a real Flink 2.3 cluster on a free port,
# measures P1–P7 (each against a baseline from the same run), prints one line per measure and writes a
# results table.
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

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# P7 runs twenty jobs at once, one slot each.
export FLINK_REST_PORT=$PORT FLINK_SLOTS=24
export FLINK_WORK_DIR=$(mktemp -d -t stateplane-bench-flink.XXXXXX)
trap 'scripts/flink-local.sh stop >/dev/null 2>&1 || true; rm -rf "$FLINK_WORK_DIR"' EXIT
log "starting Flink on port $PORT"
FLINK_URL=$(scripts/flink-local.sh start)
JAR=$(scripts/flink-local.sh example-jar)

"$ROOT/target/release/stateplane-bench" "${QUICK[@]}" "${ONLY[@]}" \
  --flink-url "$FLINK_URL" --jar "$JAR" --stateplane "$ROOT/target/release/stateplane" --out "$OUT"
