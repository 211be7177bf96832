#!/usr/bin/env bash
# One command from a fresh machine to a running stateplane: builds the `stateplane` binary, starts a
# local Flink 2.3 session cluster (installing Java and Flink when missing), starts the server with a
# deployment target `default` pointing at that cluster, and creates two demo deployments: the example
# stateful job (a jar) and a SQL query counting clicks per user. Ctrl-C stops the server and the Flink cluster (KEEP_FLINK=1 keeps Flink running).
#
# Environment: STATEPLANE_LISTEN (127.0.0.1:8080), STATEPLANE_DATA_DIR (./stateplane-data),
# FLINK_REST_PORT (8081), NO_DEMO=1 to skip the demo deployments.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
LISTEN=${STATEPLANE_LISTEN:-127.0.0.1:8080}
DATA=${STATEPLANE_DATA_DIR:-$ROOT/stateplane-data}
export FLINK_REST_PORT=${FLINK_REST_PORT:-8081}
SERVER=http://$LISTEN
log() { echo "[quickstart] $*" >&2; }

if ! command -v cargo >/dev/null; then
  log "cargo is missing: install the Rust toolchain (rustup) first"; exit 1
fi
if ! command -v curl >/dev/null; then
  log "installing curl"; apt-get update -qq >/dev/null && apt-get install -y -qq curl >/dev/null
fi

log "building stateplane"
cargo build -q -p stateplane-cli
BIN=$ROOT/target/debug/stateplane

log "starting Flink on port $FLINK_REST_PORT (first run downloads Flink 2.3 from PyPI, ~330 MB)"
FLINK_URL=$(scripts/flink-local.sh start)
JAR=$(scripts/flink-local.sh example-jar)

cleanup() {
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  if [ "${KEEP_FLINK:-0}" != 1 ]; then scripts/flink-local.sh stop || true; fi
}
trap cleanup EXIT INT TERM

mkdir -p "$DATA"
log "starting stateplane on $SERVER (data in $DATA)"
"$BIN" server --listen "$LISTEN" --data-dir "$DATA" --flink-rest-url "$FLINK_URL" &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf "$SERVER/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$SERVER/healthz" >/dev/null || { log "the server did not come up"; exit 1; }

if [ "${NO_DEMO:-0}" != 1 ] && ! curl -sf "$SERVER/api/v1/namespaces/default/deployments/stateful-counter" >/dev/null; then
  log "creating the demo deployment 'stateful-counter'"
  curl -sf -X POST "$SERVER/api/v1/namespaces/default/deployments" -H 'Content-Type: application/yaml' --data-binary @- >/dev/null <<YAML
metadata:
  name: stateful-counter
spec:
  state: RUNNING
  deploymentTargetName: default
  upgradeStrategy: {kind: STATEFUL}
  restoreStrategy: {kind: LATEST_STATE}
  template:
    spec:
      artifact:
        kind: JAR
        jarUri: file://$JAR
        entryClass: io.stateplane.examples.StatefulCounter
        mainArgs: "10"
      parallelism: 1
      flinkConfiguration:
        execution.checkpointing.savepoint-dir: file://$DATA/savepoints
        execution.checkpointing.dir: file://$DATA/checkpoints
        execution.checkpointing.interval: 10s
        execution.checkpointing.externalized-checkpoint-retention: RETAIN_ON_CANCELLATION
YAML
fi

if [ "${NO_DEMO:-0}" != 1 ] && ! curl -sf "$SERVER/api/v1/namespaces/default/deployments/sql-counter" >/dev/null; then
  log "creating the SQL demo deployment 'sql-counter'"
  curl -sf -X POST "$SERVER/api/v1/namespaces/default/deployments" -H 'Content-Type: application/yaml' --data-binary @- >/dev/null <<YAML
metadata:
  name: sql-counter
spec:
  state: RUNNING
  deploymentTargetName: default
  upgradeStrategy: {kind: STATEFUL}
  restoreStrategy: {kind: LATEST_STATE}
  template:
    spec:
      artifact:
        kind: SQLSCRIPT
        sqlScript: |
          CREATE TEMPORARY TABLE clicks (user_id INT, url STRING) WITH (
            'connector' = 'datagen', 'rows-per-second' = '5',
            'fields.user_id.min' = '1', 'fields.user_id.max' = '5', 'fields.url.length' = '8');
          CREATE TEMPORARY TABLE clicks_per_user (user_id INT, clicks BIGINT) WITH ('connector' = 'print');
          INSERT INTO clicks_per_user SELECT user_id, COUNT(*) FROM clicks GROUP BY user_id;
      parallelism: 1
      flinkConfiguration:
        execution.checkpointing.savepoint-dir: file://$DATA/savepoints
        execution.checkpointing.dir: file://$DATA/checkpoints
        execution.checkpointing.interval: 10s
        execution.checkpointing.externalized-checkpoint-retention: RETAIN_ON_CANCELLATION
YAML
fi

cat >&2 <<EOF

stateplane is running.
  API        $SERVER/api/v1/namespaces/default/deployments
  Web UI     $SERVER/ui/
  Flink UI   $FLINK_URL
  Try        $BIN deployment list
             $BIN savepoint create --deployment stateful-counter --wait
Ctrl-C stops the server and the local Flink cluster.
EOF
wait "$SERVER_PID"
