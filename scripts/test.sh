#!/usr/bin/env bash
# Runs every test of stateplane on a fresh machine: installs what is missing (Java 17 for the local
# Flink cluster, unzip, PostgreSQL), caches Flink 2.3 from PyPI, then runs the Rust test suite against
# real Flink clusters, real SQLite files and a real PostgreSQL. Usage: scripts/test.sh [extra cargo test args]
#
# PostgreSQL: the tests start a throwaway server of their own from Debian's `postgresql` package
# (installed below when missing). To use an existing server instead, set
#   STATEPLANE_TEST_DATABASE_URL=postgres://user:password@host:5432/postgres
# (the user must be allowed to CREATE DATABASE; each test creates and drops a `stateplane_test_*` one
# with psql); then only the client is installed when psql is missing. The PostgreSQL tests never skip.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[test.sh] $*" >&2; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

need=()
command -v java >/dev/null && command -v javac >/dev/null && command -v jar >/dev/null || need+=(openjdk-17-jdk-headless)
command -v unzip >/dev/null || need+=(unzip)
command -v curl >/dev/null || need+=(curl)
# the web UI test drives a real headless Chromium through chromedriver
command -v chromium >/dev/null && command -v chromedriver >/dev/null || need+=(chromium chromium-driver)
if [ -z "${STATEPLANE_TEST_DATABASE_URL:-}" ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
else
  command -v psql >/dev/null || need+=(postgresql-client)
fi
if [ ${#need[@]} -gt 0 ]; then apt_install "${need[@]}"; fi

# moto's S3-compatible server (PyPI) lets the blob crate's tests exercise s3:// on loopback.
if ! python3 -c 'import moto.server' 2>/dev/null; then
  log "installing moto[server] from PyPI"
  python3 -m pip install -q 'moto[server]==5.2.1' 2>&1 | grep -v "Running pip as the 'root' user" >&2 || true
  if command -v pyenv >/dev/null; then pyenv rehash; fi
fi

# schemathesis (PyPI) fuzzes the API from its own OpenAPI document (crates/cli/tests/api_fuzz.rs).
if ! command -v schemathesis >/dev/null; then
  log "installing schemathesis from PyPI"
  python3 -m pip install -q 'schemathesis==4.32.5' 2>&1 | grep -v "Running pip as the 'root' user" >&2 || true
  if command -v pyenv >/dev/null; then pyenv rehash; fi
  hash -r
  command -v schemathesis >/dev/null || { log "schemathesis did not install"; exit 1; }
fi

# Download and unpack Flink once (cached under $STATEPLANE_CACHE), and build the example job, so that
# test binaries starting clusters in parallel never race on the first install.
log "preparing Flink and the example job"
scripts/flink-local.sh example-jar >/dev/null
FLINK_VERSION=1.20.5 scripts/flink-local.sh example-jar >/dev/null

# A fresh checkout gains nothing from incremental compilation; without it the build writes ~1 GB less.
export CARGO_INCREMENTAL=0
avail_kb=$(df -Pk . | awk 'NR==2 {print $4}')
log "free disk space: $((avail_kb / 1024)) MB (the test build needs about 4 GB)"
if [ "$avail_kb" -lt $((4 * 1024 * 1024)) ]; then
  log "warning: less than 4 GB free; the build may fail with 'No space left on device'"
fi

scripts/flink-local.sh sql-runner-jar --check >/dev/null  # the committed SQL runner jar is its source's build
log "cargo test --workspace"
cargo test --workspace --no-fail-fast "$@" 2>&1
